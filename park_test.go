package broker_test

import (
	"context"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/brokertest"
	"github.com/emqgo/broker/packets"
)

// This file tests parking: an idle TCP connection hands its socket to the
// broker's epoll watcher and holds no goroutine (park.go). Parking is
// Linux-only; elsewhere these tests check the same behaviour with the
// connection's reader goroutine kept.

// tcpBroker serves b on a loopback port and returns a dialer of test
// clients over real TCP connections.
func tcpBroker(t *testing.T, b *brokertest.Broker) func(id string, opts ...brokertest.ClientOption) *brokertest.Client {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go b.Serve(l)
	return func(id string, opts ...brokertest.ClientOption) *brokertest.Client {
		t.Helper()
		return brokertest.DialTCP(t, l.Addr().String(), id, opts...)
	}
}

// waitParked waits until n of b's connections are parked.
func waitParked(t *testing.T, b *brokertest.Broker, n int) {
	t.Helper()
	if runtime.GOOS != "linux" {
		return
	}
	deadline := time.Now().Add(5 * time.Second)
	for broker.ParkedConns(b.Broker) != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections parked, want %d", broker.ParkedConns(b.Broker), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestParkIdleConnections checks that connections park right after
// CONNECT and again after a second without input, and that a parked
// connection still receives messages and answers the packets that wake it.
func TestParkIdleConnections(t *testing.T) {
	b := brokertest.New(t, broker.Options{})
	dial := tcpBroker(t, b)
	sub := dial("sub")
	pub := dial("pub", brokertest.WithVersion(packets.Version5))
	waitParked(t, b, 2)

	sub.Subscribe(t, "park/#", 1) // wakes sub's reader
	waitParked(t, b, 1)
	waitParked(t, b, 2) // sub parks again after a second of silence

	// pub wakes to publish; sub, parked, gets the message from its writer.
	pub.Publish(t, "park/a", []byte("one"), 1, false)
	if m := sub.Expect(t, "park/a"); string(m.Payload) != "one" {
		t.Fatalf("payload %q", m.Payload)
	}
	waitParked(t, b, 2)
	pub.Publish(t, "park/b", []byte("two"), 0, false)
	sub.Expect(t, "park/b")
}

// TestParkKeepalive checks that a parked connection whose client stays
// silent past 1.5 times the keep alive is closed and its will published.
func TestParkKeepalive(t *testing.T) {
	b := brokertest.New(t, broker.Options{})
	dial := tcpBroker(t, b)
	w := dial("watcher")
	w.Subscribe(t, "will/#", 0)
	waitParked(t, b, 1)
	start := time.Now()
	silent := dial("silent", brokertest.WithKeepalive(time.Second),
		brokertest.WithWill("will/silent", []byte("gone"), 0, false))
	waitParked(t, b, 2)
	silent.ExpectClosed(t)
	if d := time.Since(start); d < 1400*time.Millisecond {
		t.Fatalf("closed after %v, before 1.5 times the keep alive", d)
	}
	if m := w.Expect(t, "will/silent"); string(m.Payload) != "gone" {
		t.Fatalf("will payload %q", m.Payload)
	}
}

// TestParkPingKeepsAlive checks that input wakes a parked connection and
// restarts its keep-alive deadline.
func TestParkPingKeepsAlive(t *testing.T) {
	b := brokertest.New(t, broker.Options{})
	dial := tcpBroker(t, b)
	// Deadline 3 s after each packet; parked 1 s after it, woken 1 s later.
	c := dial("pinger", brokertest.WithKeepalive(2*time.Second))
	for range 3 {
		waitParked(t, b, 1)
		time.Sleep(time.Second)
		c.Send(t, &packets.Pingreq{})
		if p := c.Next(t); p.Type() != packets.PINGRESP {
			t.Fatalf("got %v, want PINGRESP", p.Type())
		}
	}
}

// TestParkTakeover checks that a parked connection taken over by a new one
// with its client identifier gets DISCONNECT 0x8E and is closed, and that
// the disconnect hook runs for it.
func TestParkTakeover(t *testing.T) {
	b := brokertest.New(t, broker.Options{})
	gone := make(chan error, 2)
	broker.On(b.Broker, broker.ClientDisconnectedHook, func(_ context.Context, c *broker.ClientInfo, reason error) {
		gone <- reason
	})
	dial := tcpBroker(t, b)
	old := dial("same", brokertest.WithVersion(packets.Version5))
	waitParked(t, b, 1)
	dial("same", brokertest.WithVersion(packets.Version5))
	d := old.ExpectClosed(t)
	if d == nil || d.ReasonCode != packets.SessionTakenOver {
		t.Fatalf("DISCONNECT %+v, want 0x8E", d)
	}
	select {
	case <-gone:
	case <-time.After(5 * time.Second):
		t.Fatal("client.disconnected did not run for the parked connection")
	}
}

// TestParkPeerClose checks that a client closing its socket ends its
// parked connection at once.
func TestParkPeerClose(t *testing.T) {
	b := brokertest.New(t, broker.Options{})
	gone := make(chan error, 1)
	broker.On(b.Broker, broker.ClientDisconnectedHook, func(_ context.Context, c *broker.ClientInfo, reason error) {
		gone <- reason
	})
	dial := tcpBroker(t, b)
	c := dial("closer")
	waitParked(t, b, 1)
	c.Drop()
	select {
	case <-gone:
	case <-time.After(5 * time.Second):
		t.Fatal("client.disconnected did not run")
	}
	waitParked(t, b, 0)
}

// TestParkShutdown checks that Shutdown ends parked connections, MQTT 5
// ones with DISCONNECT 0x8B, and returns; TestMain checks that no
// goroutine is left.
func TestParkShutdown(t *testing.T) {
	b := brokertest.New(t, broker.Options{})
	dial := tcpBroker(t, b)
	var cs []*brokertest.Client
	for _, id := range []string{"a", "b", "c"} {
		cs = append(cs, dial(id, brokertest.WithVersion(packets.Version5)))
	}
	waitParked(t, b, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for _, c := range cs {
		if d := c.ExpectClosed(t); d == nil || d.ReasonCode != packets.ServerShuttingDown {
			t.Fatalf("%s: DISCONNECT %+v, want 0x8B", c.ID, d)
		}
	}
}
