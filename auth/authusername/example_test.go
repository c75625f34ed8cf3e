package authusername_test

import (
	"context"
	"fmt"
	"os"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/auth/authusername"
)

func ExampleNew() {
	a, err := authusername.New(authusername.Config{Users: map[string]string{"admin": "public"}})
	if err != nil {
		panic(err)
	}
	b, _ := broker.New(broker.Options{})
	defer b.Close()
	b.RegisterAuth(a)
	b.RegisterCommand(a.Command())

	// emqctl users add alice s3cret
	b.Exec(context.Background(), os.Stdout, "users", "add", "alice", "s3cret")
	b.Exec(context.Background(), os.Stdout, "users", "list")

	d, _ := a.Authenticate(context.Background(), &broker.ClientInfo{ClientID: "c1", Username: "alice"}, []byte("s3cret"))
	fmt.Println(d)
	// Output:
	// ok
	// admin
	// alice
	// allow
}
