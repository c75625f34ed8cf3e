package scram_test

import (
	"crypto/rand"
	"fmt"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/auth/scram"
)

// ExampleNew registers SCRAM-SHA-256 for one user.
func ExampleNew() {
	salt := make([]byte, 16)
	rand.Read(salt)
	creds, err := scram.NewCredentials("wonderland", salt, scram.MinIterations)
	if err != nil {
		panic(err)
	}
	b, err := broker.New(broker.Options{DenyAnonymous: true})
	if err != nil {
		panic(err)
	}
	defer b.Close()
	unregister := b.RegisterEnhancedAuth(scram.New(scram.Users(map[string]scram.Credentials{"alice": creds})))
	defer unregister()
	fmt.Println(scram.Method)
	// Output: SCRAM-SHA-256
}
