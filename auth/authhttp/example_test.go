package authhttp_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/auth/authhttp"
)

func ExampleNew() {
	// An HTTP auth server: alice/public may connect.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.FormValue("username") != "alice" || r.FormValue("password") != "public" {
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	defer srv.Close()

	a, err := authhttp.New(authhttp.Config{
		AuthReq: authhttp.Request{URL: srv.URL + "/mqtt/auth", Method: "post", Params: "clientid=%c,username=%u,password=%P"},
	})
	if err != nil {
		panic(err)
	}
	b, _ := broker.New(broker.Options{})
	defer b.Close()
	b.RegisterAuth(a)

	ctx := context.Background()
	for _, pw := range []string{"public", "guess"} {
		d, _ := a.Authenticate(ctx, &broker.ClientInfo{ClientID: "c1", Username: "alice"}, []byte(pw))
		fmt.Println(pw, d)
	}
	// Output:
	// public allow
	// guess deny
}
