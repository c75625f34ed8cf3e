package presence_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/mods/presence"
)

// Attach presence to a broker and watch clients come and go.
func Example() {
	b, err := broker.New(broker.Options{Node: "emqd@127.0.0.1", SysInterval: -1})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	p, err := presence.New(presence.Config{QoS: 1})
	if err != nil {
		log.Fatal(err)
	}
	detach := p.Attach(b)
	defer detach()

	ctx := context.Background()
	got := make(chan broker.Message, 2)
	unsub, err := b.Subscribe(ctx, "$SYS/brokers/+/clients/+/+", 1, func(_ context.Context, m broker.Message) { got <- m })
	if err != nil {
		log.Fatal(err)
	}
	defer unsub()

	s, err := b.Connect(ctx, &broker.ClientInfo{ClientID: "sensor-1", Username: "alice", CleanStart: true}, nil)
	if err != nil {
		log.Fatal(err)
	}
	s.Close(nil)
	for range 2 {
		m := <-got
		var fields map[string]any
		json.Unmarshal(m.Payload, &fields)
		delete(fields, "ts")
		fmt.Println(m.Topic, fields)
	}
	// Output:
	// $SYS/brokers/emqd@127.0.0.1/clients/sensor-1/connected map[clientid:sensor-1 connack:0 ipaddress:undefined protocol:5 session:false username:alice]
	// $SYS/brokers/emqd@127.0.0.1/clients/sensor-1/disconnected map[clientid:sensor-1 reason:normal]
}

// The payloads, as functions of a client's info.
func ExampleConnectedPayload() {
	c := &broker.ClientInfo{ClientID: "c1", ProtoVersion: 4, CleanStart: false}
	fmt.Printf("%s\n", presence.ConnectedPayload(c, 0, timeAt(1479551318)))
	fmt.Printf("%s\n", presence.DisconnectedPayload("c1", nil, timeAt(1479551320)))
	// Output:
	// {"clientid":"c1","username":"undefined","ipaddress":"undefined","session":true,"protocol":4,"connack":0,"ts":1479551318}
	// {"clientid":"c1","reason":"normal","ts":1479551320}
}
