package retainer_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/mods/retainer"
)

// Attach a retainer to a broker: retained publishes are stored and a later
// subscription receives them.
func Example() {
	b, err := broker.New(broker.Options{SysInterval: -1})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	r, err := retainer.New(retainer.DefaultConfig())
	if err != nil {
		log.Fatal(err)
	}
	detach, err := r.Attach(b)
	if err != nil {
		log.Fatal(err)
	}
	defer detach()

	ctx := context.Background()
	b.Publish(ctx, broker.Message{Topic: "home/kitchen/temp", Payload: []byte("21.5"), QoS: 1, Retain: true})
	fmt.Println("retained:", r.Len())

	got := make(chan broker.Message)
	unsub, _ := b.Subscribe(ctx, "home/+/temp", 1, func(_ context.Context, m broker.Message) { got <- m })
	defer unsub()
	m := <-got
	fmt.Printf("%s %s retain=%v\n", m.Topic, m.Payload, m.Retain)
	// Output:
	// retained: 1
	// home/kitchen/temp 21.5 retain=true
}

// Keep retained messages on disc, for a day at most.
func ExampleNew_disc() {
	cfg := retainer.DefaultConfig()
	cfg.StorageType = retainer.StorageDisc
	cfg.Dir = "data"
	cfg.ExpiredAfter = 24 * time.Hour
	if _, err := retainer.New(cfg); err != nil {
		log.Fatal(err)
	}
}
