package authclientid_test

import (
	"context"
	"fmt"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/auth/authclientid"
)

func ExampleNew() {
	a, err := authclientid.New(authclientid.Config{Clients: map[string]string{"dev:devid": "passwd2"}})
	if err != nil {
		panic(err)
	}
	b, _ := broker.New(broker.Options{})
	defer b.Close()
	b.RegisterAuth(a)

	for _, pw := range []string{"passwd2", "passwd"} {
		d, _ := a.Authenticate(context.Background(), &broker.ClientInfo{ClientID: "dev:devid"}, []byte(pw))
		fmt.Println(pw, d)
	}
	// Output:
	// passwd2 allow
	// passwd deny
}
