package broker_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/packets"
)

// A service embeds the broker, hooks into connections and messages, and
// serves MQTT on a TCP listener.
func ExampleNew() {
	b, err := broker.New(broker.Options{Node: "example@127.0.0.1", SysInterval: -1})
	if err != nil {
		panic(err)
	}
	connected := make(chan string, 1)
	b.Hook("client.connected", func(ctx context.Context, c *broker.ClientInfo, code packets.ReasonCode) {
		connected <- fmt.Sprintf("%s connected: %v", c.ClientID, code)
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go b.Serve(l)

	// Any MQTT client can now connect to l.Addr(); here, a raw CONNECT.
	nc, _ := net.Dial("tcp", l.Addr().String())
	pkt, _ := packets.Encode(&packets.Connect{ProtocolName: "MQTT", ProtocolVersion: 4, CleanStart: true, ClientID: "device-1"}, 4)
	nc.Write(pkt)
	fmt.Println(<-connected)
	nc.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	fmt.Println(b.Shutdown(ctx))
	// Output:
	// device-1 connected: success
	// <nil>
}

// On registers a hook whose type the compiler checks; message.publish may
// rewrite a message or drop it with Stop.
func ExampleOn() {
	b, _ := broker.New(broker.Options{SysInterval: -1})
	defer b.Close()
	broker.On(b, broker.MessagePublishHook, func(ctx context.Context, m broker.Message) (broker.Message, broker.Flow) {
		if m.Topic == "secret" {
			return m, broker.Stop // dropped
		}
		m.Topic = "rewritten/" + m.Topic
		return m, broker.Continue
	})
	got := make(chan broker.Message, 2)
	unsub, _ := b.Subscribe(context.Background(), "#", 0, func(ctx context.Context, m broker.Message) { got <- m })
	defer unsub()
	b.Publish(context.Background(), broker.Message{Topic: "secret", Payload: []byte("x")})
	b.Publish(context.Background(), broker.Message{Topic: "news", Payload: []byte("hello")})
	m := <-got
	fmt.Println(m.Topic, string(m.Payload))
	// Output: rewritten/news hello
}

// Access control modules answer Allow, Deny or Ignore; the first answer
// that is not Ignore wins.
func ExampleBroker_RegisterACL() {
	b, _ := broker.New(broker.Options{SysInterval: -1})
	defer b.Close()
	b.RegisterACL(broker.ACLFunc(func(ctx context.Context, c *broker.ClientInfo, a broker.Access, topic string) (broker.Decision, error) {
		if a == broker.AccessSubscribe && topic == "#" {
			return broker.Deny, nil
		}
		return broker.Ignore, nil
	}))
	s, _ := b.Connect(context.Background(), &broker.ClientInfo{ClientID: "gw-1", CleanStart: true}, nil)
	codes, _ := s.Subscribe(context.Background(), broker.Subscription{Filter: "#"}, broker.Subscription{Filter: "a/b", QoS: 1})
	fmt.Println(codes)
	// Output: [not authorized granted qos 1]
}

// Subscribe gives the host a full session; messages arrive in order on a
// broker goroutine.
func ExampleBroker_Subscribe() {
	b, _ := broker.New(broker.Options{SysInterval: -1})
	defer b.Close()
	got := make(chan string, 1)
	unsubscribe, err := b.Subscribe(context.Background(), "sensors/+/temp", 1, func(ctx context.Context, m broker.Message) {
		got <- m.Topic + " " + string(m.Payload)
	})
	if err != nil {
		panic(err)
	}
	defer unsubscribe()
	b.Publish(context.Background(), broker.Message{Topic: "sensors/kitchen/temp", Payload: []byte("21.5"), QoS: 1})
	fmt.Println(<-got)
	// Output: sensors/kitchen/temp 21.5
}
