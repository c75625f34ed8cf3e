package subscription_test

import (
	"context"
	"fmt"
	"log"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/mods/subscription"
)

// Subscribe every client to its own inbox when it connects.
func Example() {
	b, err := broker.New(broker.Options{SysInterval: -1})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	m, err := subscription.New(subscription.Config{Topics: []subscription.Topic{
		{Topic: "$client/%c", QoS: 1},
		{Topic: "users/%u/#", QoS: 2},
	}})
	if err != nil {
		log.Fatal(err)
	}
	detach := m.Attach(b)
	defer detach()

	ctx := context.Background()
	s, err := b.Connect(ctx, &broker.ClientInfo{ClientID: "dev-1", Username: "alice", CleanStart: true}, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close(nil)
	for _, sub := range b.Subscriptions("dev-1") {
		fmt.Println(sub.Filter, sub.QoS)
	}
	// Output:
	// $client/dev-1 1
	// users/alice/# 2
}

func ExampleExpand() {
	fmt.Println(subscription.Expand("$client/%c", "dev-1", ""))
	fmt.Println(subscription.Expand("users/%u/devices/%c", "dev-1", "alice"))
	// Output:
	// $client/dev-1
	// users/alice/devices/dev-1
}
