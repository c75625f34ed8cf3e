// Command embed is a Go service with an MQTT broker inside: devices
// connect to it over MQTT, and the service itself subscribes and publishes
// through the broker's host API, without a network client.
//
// The service receives telemetry from devices on devices/<id>/telemetry
// and answers each message on devices/<id>/ack. An ACL keeps every device
// to its own devices/<id>/... topics.
//
//	go run ./examples/embed -addr 127.0.0.1:1884
//	mosquitto_sub -p 1884 -i dev1 -t 'devices/dev1/#' -v &
//	mosquitto_pub -p 1884 -i dev1x -t devices/dev1x/telemetry -m 21.5   # denied: not its id
//	mosquitto_pub -p 1884 -i dev1 -t devices/dev1/telemetry -m 21.5     # acked on devices/dev1/ack
//
// The wiring is in setup, which main_test.go runs against an in-process
// broker from brokertest.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/packets"
)

func main() {
	// The default is not 1883, which is often taken by another broker.
	addr := flag.String("addr", ":1884", "the TCP `address` to serve MQTT on")
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	b, err := broker.New(broker.Options{
		Node:          "embed@127.0.0.1",
		Logger:        log,
		MaxPacketSize: 256 << 10,
		SysInterval:   -1, // no $SYS messages
	})
	if err != nil {
		log.Error("broker options", "err", err)
		os.Exit(1)
	}
	if err := setup(b); err != nil {
		log.Error("setup", "err", err)
		os.Exit(1)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Error("listen", "err", err)
		os.Exit(1)
	}
	errc := make(chan error, 1)
	go func() { errc <- b.Serve(l) }() // or b.ListenAndServe(*addr)
	log.Info("serving MQTT", "addr", l.Addr().String())
	select {
	case <-ctx.Done():
	case err := <-errc:
		log.Error("serve", "err", err)
		os.Exit(1)
	}

	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Shutdown(sctx); err != nil && !errors.Is(err, broker.ErrBrokerClosed) {
		log.Warn("shutdown", "err", err)
	}
}

// setup wires the service into b: two logging hooks, the devices' ACL and
// the telemetry handler.
func setup(b *broker.Broker) error {
	log := b.Logger()

	// A hook by name: the function's type is checked when it is registered.
	if _, err := b.Hook(broker.ClientConnected, func(ctx context.Context, c *broker.ClientInfo, code packets.ReasonCode) {
		if c.Protocol == "host" {
			return // the service's own subscription below
		}
		log.Info("client connected", "client", c.ClientID, "peer", c.Peer, "code", code)
	}); err != nil {
		return err
	}
	// A typed hook: the compiler checks the function's type. message.publish
	// is a fold: it may rewrite the message, or drop it with broker.Stop.
	broker.On(b, broker.MessagePublishHook, func(ctx context.Context, m broker.Message) (broker.Message, broker.Flow) {
		log.Info("message published", "topic", m.Topic, "from", m.From, "bytes", len(m.Payload), "qos", m.QoS)
		return m, broker.Continue
	})

	// Devices may only publish and subscribe under devices/<their id>/.
	// The service's own subscriptions are trusted and not checked.
	b.RegisterACL(broker.ACLFunc(func(ctx context.Context, c *broker.ClientInfo, access broker.Access, topic string) (broker.Decision, error) {
		if strings.HasPrefix(topic, "devices/"+c.ClientID+"/") {
			return broker.Allow, nil
		}
		log.Warn("denied", "client", c.ClientID, "access", access, "topic", topic)
		return broker.Deny, nil
	}))

	// The service's handler: every telemetry message is acknowledged to
	// the device that sent it.
	_, err := b.Subscribe(context.Background(), "devices/+/telemetry", 1, func(ctx context.Context, m broker.Message) {
		id := strings.Split(m.Topic, "/")[1]
		ack := broker.Message{
			Topic:   "devices/" + id + "/ack",
			Payload: fmt.Appendf(nil, "received %d bytes", len(m.Payload)),
			QoS:     1,
		}
		if err := b.Publish(ctx, ack); err != nil {
			log.Warn("ack", "device", id, "err", err)
		}
	})
	return err
}
