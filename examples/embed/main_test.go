package main

import (
	"testing"
	"time"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/brokertest"
)

// newService starts an in-process broker wired by setup.
func newService(t *testing.T) *brokertest.Broker {
	t.Helper()
	return brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
		if err := setup(b); err != nil {
			t.Fatalf("setup: %v", err)
		}
	})
}

func TestTelemetryIsAcknowledged(t *testing.T) {
	b := newService(t)
	dev := b.Dial(t, "dev1")
	if qos := dev.Subscribe(t, "devices/dev1/ack", 1); qos != 1 {
		t.Fatalf("SUBACK %#x, want QoS 1", qos)
	}
	dev.Publish(t, "devices/dev1/telemetry", []byte("21.5"), 1, false)
	m := dev.Expect(t, "devices/dev1/ack")
	if got := string(m.Payload); got != "received 4 bytes" {
		t.Errorf("ack payload %q", got)
	}
}

func TestDevicesKeepToTheirTopics(t *testing.T) {
	b := newService(t)
	dev1 := b.Dial(t, "dev1")
	dev2 := b.Dial(t, "dev2")
	dev2.Subscribe(t, "devices/dev2/#", 1)

	// dev1 may not subscribe to dev2's topics...
	if code := dev1.Subscribe(t, "devices/dev2/#", 1); code != broker.SubscribeRefused {
		t.Errorf("SUBACK %#x, want %#x", code, broker.SubscribeRefused)
	}
	// ...nor publish to them: the message is dropped.
	dev1.Publish(t, "devices/dev2/ack", []byte("spoofed"), 1, false)
	dev2.ExpectNone(t, 100*time.Millisecond)

	// dev2's own telemetry is acknowledged to dev2 alone.
	// Its own message comes back via devices/dev2/#, and the service's ack;
	// the two race, so either may arrive first.
	dev2.Publish(t, "devices/dev2/telemetry", []byte("x"), 1, false)
	got := map[string]bool{}
	for range 2 {
		got[dev2.Expect(t, "devices/dev2/#").Topic] = true
	}
	if !got["devices/dev2/telemetry"] || !got["devices/dev2/ack"] {
		t.Errorf("dev2 got %v, want its telemetry and an ack", got)
	}
	dev1.ExpectNone(t, 100*time.Millisecond)
}
