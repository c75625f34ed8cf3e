package broker_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/packets"
)

// tokenAuth is a one-step EnhancedAuthenticator: the CONNECT's
// Authentication Data must be a known token.
type tokenAuth map[string]string // token -> user name

func (tokenAuth) AuthMethod() string { return "TOKEN" }

func (t tokenAuth) Start(_ context.Context, c *broker.ClientInfo, data []byte) (broker.AuthStep, error) {
	user, ok := t[string(data)]
	if !ok {
		return broker.AuthStep{Result: broker.AuthFail}, nil
	}
	c.Username = user
	return broker.AuthStep{Result: broker.AuthSuccess}, nil
}

// ExampleBroker_RegisterEnhancedAuth accepts MQTT 5 clients that connect
// with Authentication Method "TOKEN" and a known token; see auth/scram for
// a challenge-response method.
func ExampleBroker_RegisterEnhancedAuth() {
	b, err := broker.New(broker.Options{DenyAnonymous: true})
	if err != nil {
		panic(err)
	}
	defer b.Close()
	b.RegisterEnhancedAuth(tokenAuth{"s3cr3t": "alice"})
	fmt.Println("registered")
	// Output: registered
}

// ExampleDisconnectError shows a client.disconnected hook that tells a
// normal DISCONNECT from the reason codes of other endings.
func ExampleDisconnectError() {
	b, err := broker.New(broker.Options{})
	if err != nil {
		panic(err)
	}
	defer b.Close()
	broker.On(b, broker.ClientDisconnectedHook, func(_ context.Context, c *broker.ClientInfo, reason error) {
		var de *broker.DisconnectError
		switch {
		case reason == nil:
			fmt.Println(c.ClientID, "left normally")
		case errors.As(reason, &de) && de.Code == packets.KeepAliveTimeout:
			fmt.Println(c.ClientID, "went silent")
		default:
			fmt.Println(c.ClientID, "gone:", reason)
		}
	})
	fmt.Println((&broker.DisconnectError{Code: packets.SessionTakenOver}).Error())
	// Output: disconnected: session taken over (0x8E)
}
