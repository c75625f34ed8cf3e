package broker_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/brokertest"
	"github.com/emqgo/broker/packets"
)

// This file tests MQTT connections: wills, keep alive, client identifiers,
// CONNACK and shutdown.

// TestConnWill checks that the will is published, with its QoS and RETAIN
// flag, when the connection ends without DISCONNECT [MQTT-3.1.2-8], and
// not after DISCONNECT [MQTT-3.1.2-10]; an MQTT 5 DISCONNECT with reason
// 0x04 asks for it.
func TestConnWill(t *testing.T) {
	type end int
	const (
		drop end = iota
		disconnect
		disconnectWithWill
		takeover
	)
	cases := []struct {
		name     string
		v        byte
		end      end
		wantWill bool
	}{
		{"3.1/drop", packets.Version31, drop, true},
		{"3.1.1/drop", packets.Version311, drop, true},
		{"5.0/drop", packets.Version5, drop, true},
		{"3.1/disconnect", packets.Version31, disconnect, false},
		{"3.1.1/disconnect", packets.Version311, disconnect, false},
		{"5.0/disconnect", packets.Version5, disconnect, false},
		{"5.0/disconnect-0x04", packets.Version5, disconnectWithWill, true},
		// MQTT 5 §3.1.4: the will of a taken-over connection is published.
		{"3.1.1/takeover", packets.Version311, takeover, true},
		{"5.0/takeover", packets.Version5, takeover, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := brokertest.New(t, broker.Options{})
			published := make(chan broker.Message, 4)
			broker.On(b.Broker, broker.MessagePublishHook, func(_ context.Context, m broker.Message) (broker.Message, broker.Flow) {
				published <- m
				return m, broker.Continue
			})
			// A v5 watcher with Retain As Published sees the RETAIN flag
			// [MQTT-3.3.1-12]; a 3.1.1 one gets it cleared [MQTT-3.3.1-9].
			w5 := b.Dial(t, "w5", brokertest.WithVersion(packets.Version5))
			w5.SubscribeOpts(t, nil, packets.Subscription{Filter: "will/#", QoS: 2, RetainAsPublished: true})
			w4 := b.Dial(t, "w4")
			w4.Subscribe(t, "will/#", 1)

			c := b.Dial(t, "dying", brokertest.WithVersion(tc.v), brokertest.WithWill("will/dying", []byte("gone"), 1, true))
			switch tc.end {
			case drop:
				c.Drop()
			case disconnect:
				c.Disconnect(t)
			case disconnectWithWill:
				c.Send(t, &packets.Disconnect{ReasonCode: packets.DisconnectWithWill})
				c.ExpectClosed(t)
			case takeover:
				b.Dial(t, "dying", brokertest.WithVersion(tc.v))
				c.ExpectClosed(t)
			}
			if !tc.wantWill {
				w5.ExpectNone(t, 50*time.Millisecond)
				w4.ExpectNone(t, time.Millisecond)
				select {
				case m := <-published:
					t.Fatalf("will published: %+v", m)
				default:
				}
				return
			}
			m := w5.Expect(t, "will/dying")
			if string(m.Payload) != "gone" || m.QoS != 1 || !m.Retain {
				t.Fatalf("v5 watcher got %q QoS %d retain %v, want \"gone\" QoS 1 retain", m.Payload, m.QoS, m.Retain)
			}
			m = w4.Expect(t, "will/dying")
			if m.QoS != 1 || m.Retain {
				t.Fatalf("3.1.1 watcher got QoS %d retain %v, want QoS 1, no retain", m.QoS, m.Retain)
			}
			pm := recvMsg(t, published, "message.publish")
			if pm.Topic != "will/dying" || !pm.Retain || pm.QoS != 1 || pm.From != "dying" {
				t.Fatalf("message.publish saw %+v", pm)
			}
			w5.ExpectNone(t, 20*time.Millisecond)
		})
	}
}

// TestConnKeepalive checks, in fake time, that a connection with no packet
// for 1.5 times the keep alive is closed [MQTT-3.1.2-24] (v5: DISCONNECT
// 0x8D), that PINGREQ keeps it open and gets PINGRESP [MQTT-3.12.4-1], and
// that the will is published.
func TestConnKeepalive(t *testing.T) {
	for _, pl := range protoLevels {
		t.Run(pl.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := brokertest.New(t, broker.Options{})
				w := b.Dial(t, "watcher")
				w.Subscribe(t, "will/#", 0)
				c := b.Dial(t, "ka", brokertest.WithVersion(pl.v), brokertest.WithKeepalive(10*time.Second),
					brokertest.WithWill("will/ka", []byte("timeout"), 0, false))
				if info, ok := b.Client("ka"); !ok || info.Keepalive != 10*time.Second {
					t.Fatalf("Client(ka) = %+v, %v", info, ok)
				}
				for range 3 {
					time.Sleep(14 * time.Second) // < 15s
					synctest.Wait()
					c.Send(t, &packets.Pingreq{})
					nextOf[*packets.Pingresp](t, c)
				}
				time.Sleep(14 * time.Second)
				synctest.Wait()
				if _, on := b.Client("ka"); !on {
					t.Fatal("closed before 1.5 x keep alive")
				}
				time.Sleep(2 * time.Second)
				synctest.Wait()
				d := c.ExpectClosed(t)
				if pl.v == packets.Version5 && (d == nil || d.ReasonCode != packets.KeepAliveTimeout) {
					t.Fatalf("got %+v, want DISCONNECT 0x8D", d)
				}
				expectMsg(t, w, "will/ka", "timeout", 0)
				// The watcher, which has no keep alive, is still there.
				if _, on := b.Client("watcher"); !on {
					t.Fatal("watcher closed")
				}
			})
		})
	}
}

// TestConnKeepaliveAnyPacket checks that any control packet, not only
// PINGREQ, resets the keep alive timer [MQTT-3.1.2-23].
func TestConnKeepaliveAnyPacket(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := brokertest.New(t, broker.Options{})
		c := b.Dial(t, "ka", brokertest.WithKeepalive(4*time.Second))
		for range 5 {
			time.Sleep(5 * time.Second)
			c.Publish(t, "a", nil, 1, false)
		}
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if _, on := b.Client("ka"); !on {
			t.Fatal("closed while publishing")
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		c.ExpectClosed(t)
	})
}

// TestConnClientID checks the client identifier rules: an empty id is
// assigned with a clean session (3.1.1, [MQTT-3.1.3-6]) and refused with
// return code 2 without one [MQTT-3.1.3-8]; MQTT 3.1 requires an id; MQTT 5
// returns the assigned id in CONNACK [MQTT-3.2.2-16]; too long an id is
// refused.
func TestConnClientID(t *testing.T) {
	cases := []struct {
		name     string
		id       string
		v        byte
		clean    bool
		want     packets.ReasonCode
		assigned bool
	}{
		{"3.1.1 empty clean", "", packets.Version311, true, packets.Success, true},
		{"3.1.1 empty persistent", "", packets.Version311, false, packets.ClientIdentifierNotValid, false},
		{"3.1 empty", "", packets.Version31, true, packets.ClientIdentifierNotValid, false},
		{"5.0 empty", "", packets.Version5, true, packets.Success, true},
		{"5.0 empty persistent", "", packets.Version5, false, packets.Success, true},
		{"3.1.1 max length", strings.Repeat("x", 32), packets.Version311, true, packets.Success, false},
		{"3.1.1 too long", strings.Repeat("x", 33), packets.Version311, true, packets.ClientIdentifierNotValid, false},
		{"5.0 too long", strings.Repeat("x", 33), packets.Version5, true, packets.ClientIdentifierNotValid, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := brokertest.New(t, broker.Options{MaxClientIDLen: 32})
			c, code := b.Connect(t, tc.id, brokertest.WithVersion(tc.v), brokertest.WithCleanSession(tc.clean))
			if code != tc.want {
				t.Fatalf("CONNACK %v, want %v", code, tc.want)
			}
			v5 := tc.v == packets.Version5
			if code != packets.Success {
				if c.Connack.SessionPresent {
					t.Fatal("Session Present on a refusal [MQTT-3.2.2-4]")
				}
				if !v5 && c.Connack.ReasonCode != packets.ReasonCode(packets.ConnRefusedIdentifierRejected) {
					t.Fatalf("3.1.1 return code %d, want 2", c.Connack.ReasonCode)
				}
				c.ExpectClosed(t) // [MQTT-3.2.2-5]
				if n := len(b.Sessions()); n != 0 {
					t.Fatalf("%d sessions after a refusal", n)
				}
				return
			}
			// The session is attached just after CONNACK is queued.
			var clients []*broker.ClientInfo
			pollUntil(t, "one client", func() bool {
				clients = clients[:0]
				for ci := range b.Clients() {
					clients = append(clients, ci)
				}
				return len(clients) == 1
			})
			id := clients[0].ClientID
			switch {
			case !tc.assigned && id != tc.id:
				t.Fatalf("client id %q, want %q", id, tc.id)
			case tc.assigned && !strings.HasPrefix(id, "emqgo-"):
				t.Fatalf("assigned id %q", id)
			case tc.assigned && v5 && (c.Connack.Properties == nil || c.Connack.Properties.AssignedClientID != id):
				t.Fatalf("CONNACK properties %+v, want Assigned Client Identifier %q [MQTT-3.2.2-16]", c.Connack.Properties, id)
			}
			// The client works.
			c.Subscribe(t, "a", 1)
			c.Publish(t, "a", []byte("x"), 1, false)
			c.Expect(t, "a")
		})
	}
}

// TestConnAssignedIDsDiffer checks that two clients with empty ids get
// different identifiers and do not take each other over.
func TestConnAssignedIDsDiffer(t *testing.T) {
	b := brokertest.New(t, broker.Options{})
	c1 := b.Dial(t, "", brokertest.WithVersion(packets.Version5))
	c2 := b.Dial(t, "", brokertest.WithVersion(packets.Version5))
	if c1.ID == c2.ID {
		t.Fatalf("both clients got %q", c1.ID)
	}
	if n := len(b.Sessions()); n != 2 {
		t.Fatalf("%d sessions, want 2", n)
	}
}

// TestConnConnackV5Properties checks that an MQTT 5 CONNACK announces the
// broker's Maximum Packet Size.
func TestConnConnackV5Properties(t *testing.T) {
	b := brokertest.New(t, broker.Options{MaxPacketSize: 4096})
	c := b.Dial(t, "c", brokertest.WithVersion(packets.Version5))
	p := c.Connack.Properties
	if p == nil || p.MaximumPacketSize == nil || *p.MaximumPacketSize != 4096 {
		t.Fatalf("CONNACK properties %+v, want Maximum Packet Size 4096", p)
	}
	if p.AssignedClientID != "" {
		t.Fatalf("Assigned Client Identifier %q for a client with an id", p.AssignedClientID)
	}
}

// TestConnShutdown checks Shutdown with MQTT 3.1.1 and 5 clients connected
// over TCP: MQTT 5 clients get DISCONNECT 0x8B, every connection closes,
// Shutdown returns nil promptly, Serve returns ErrBrokerClosed and
// InProcessConn fails afterwards.
func TestConnShutdown(t *testing.T) {
	b, err := broker.New(broker.Options{SysInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- b.Serve(l) }()

	dial := func(id string, v byte) *brokertest.Client {
		t.Helper()
		nc, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c := brokertest.NewClient(t, nc, id, brokertest.WithVersion(v), brokertest.WithCleanSession(false))
		if code := c.Connect(t); code != packets.Success {
			t.Fatalf("CONNECT %s: %v", id, code)
		}
		return c
	}
	c3 := dial("v3", packets.Version31)
	c4 := dial("v4", packets.Version311)
	c5 := dial("v5", packets.Version5)
	c5.Subscribe(t, "a", 1)
	hostSubGot := make(chan broker.Message, 1)
	if _, err := b.Subscribe(context.Background(), "a", 1, func(_ context.Context, m broker.Message) { hostSubGot <- m }); err != nil {
		t.Fatal(err)
	}
	inproc, err := b.InProcessConn()
	if err != nil {
		t.Fatal(err)
	}
	ci := brokertest.NewClient(t, inproc, "inproc")
	if code := ci.Connect(t); code != packets.Success {
		t.Fatal(code)
	}
	ci.Publish(t, "a", []byte("x"), 1, false)
	c5.Expect(t, "a")
	<-hostSubGot

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := b.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Shutdown took %v", d)
	}
	if d := c5.ExpectClosed(t); d == nil || d.ReasonCode != packets.ServerShuttingDown {
		t.Fatalf("v5 client got %+v, want DISCONNECT 0x8B", d)
	}
	for _, c := range []*brokertest.Client{c3, c4, ci} {
		if d := c.ExpectClosed(t); d != nil {
			t.Fatalf("client %q got DISCONNECT %+v", c.ID, d)
		}
	}
	select {
	case err := <-served:
		if !errors.Is(err, broker.ErrBrokerClosed) {
			t.Fatalf("Serve returned %v, want ErrBrokerClosed", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Serve did not return")
	}
	if _, err := b.InProcessConn(); !errors.Is(err, broker.ErrBrokerClosed) {
		t.Fatalf("InProcessConn after Shutdown: %v", err)
	}
	if err := b.Serve(l); !errors.Is(err, broker.ErrBrokerClosed) {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
	if err := b.Publish(context.Background(), broker.Message{Topic: "a"}); !errors.Is(err, broker.ErrBrokerClosed) {
		t.Fatalf("Publish after Shutdown: %v", err)
	}
	if n := len(b.Sessions()); n != 0 {
		t.Fatalf("%d sessions after Shutdown", n)
	}
	// Shutdown is idempotent.
	if err := b.Shutdown(ctx); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
}

// TestConnShutdownStuckClient checks that Shutdown with a context that
// ends returns the context's error and still closes a client that does not
// read.
func TestConnShutdownStuckClient(t *testing.T) {
	b, err := broker.New(broker.Options{SysInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := b.InProcessConn()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// CONNECT, then never read: the CONNACK write blocks on the pipe.
	buf, _ := (&packets.Connect{ProtocolVersion: packets.Version5, CleanStart: true, ClientID: "stuck"}).Append(nil, packets.Version5)
	if _, err := nc.Write(buf); err != nil {
		t.Fatal(err)
	}
	pollUntil(t, "stuck connected", func() bool { _, on := b.Client("stuck"); return on })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- b.Shutdown(ctx) }()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Shutdown: %v, want DeadlineExceeded", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown hung")
	}
}

// TestConnShutdownDuringConnect races Shutdown against CONNECT: the
// connection closes cleanly, and an MQTT 5 client never gets a DISCONNECT
// before its CONNACK [MQTT-3.14.0-1]. Run it with -race.
func TestConnShutdownDuringConnect(t *testing.T) {
	for i := range 100 {
		b, err := broker.New(broker.Options{SysInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		nc, err := b.InProcessConn()
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan []packets.Packet, 1)
		go func() {
			r := packets.NewReader(nc, 0)
			r.SetVersion(packets.Version5)
			var ps []packets.Packet
			for {
				p, err := r.ReadPacket()
				if err != nil {
					got <- ps
					return
				}
				ps = append(ps, p)
			}
		}()
		buf, _ := (&packets.Connect{ProtocolVersion: packets.Version5, CleanStart: true, ClientID: "c"}).Append(nil, packets.Version5)
		go nc.Write(buf)
		if i%2 == 1 {
			time.Sleep(time.Duration(i) * 10 * time.Microsecond)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := b.Shutdown(ctx); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		cancel()
		ps := <-got
		nc.Close()
		if len(ps) > 0 {
			if _, ok := ps[0].(*packets.Connack); !ok {
				t.Fatalf("first packet %T, want CONNACK", ps[0])
			}
		}
	}
}
