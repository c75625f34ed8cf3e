package broker_test

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/brokertest"
	"github.com/emqgo/broker/packets"
)

// This file tests sessions through MQTT connections: QoS flows in both
// directions, the inflight window, persistent sessions and their queues,
// expiry, takeover, redelivery and the incoming QoS 2 exactly-once state.

// protoLevels are the MQTT protocol levels every flow is tested with.
var protoLevels = []struct {
	name string
	v    byte
}{
	{"3.1", packets.Version31},
	{"3.1.1", packets.Version311},
	{"5.0", packets.Version5},
}

func u32p(v uint32) *uint32 { return &v }

// persistentOpts returns the client options of a session that outlives its
// connection: Clean Session 0 for 3.1/3.1.1, Clean Start 0 with a Session
// Expiry Interval for MQTT 5.
func persistentOpts(v byte) []brokertest.ClientOption {
	opts := []brokertest.ClientOption{brokertest.WithVersion(v), brokertest.WithCleanSession(false)}
	if v == packets.Version5 {
		opts = append(opts, brokertest.WithProperties(&packets.Properties{SessionExpiry: u32p(3600)}))
	}
	return opts
}

// pollUntil waits, polling, until cond holds; it fails the test after a
// few seconds.
func pollUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// waitOffline waits until the broker has detached clientID's connection
// from its session, so that what is published next is queued.
func waitOffline(t testing.TB, b *brokertest.Broker, clientID string) {
	t.Helper()
	pollUntil(t, clientID+" offline", func() bool {
		_, on := b.Client(clientID)
		return !on
	})
}

// hostPublish publishes from the host and fails the test on error.
func hostPublish(t testing.TB, b *brokertest.Broker, topic, payload string, qos byte) {
	t.Helper()
	if err := b.Publish(context.Background(), broker.Message{Topic: topic, Payload: []byte(payload), QoS: qos}); err != nil {
		t.Fatalf("Publish(%q): %v", topic, err)
	}
}

// expectMsg waits for the next PUBLISH and checks its topic, payload and QoS.
func expectMsg(t testing.TB, c *brokertest.Client, topic, payload string, qos byte) *packets.Publish {
	t.Helper()
	p := c.ExpectPacket(t)
	if p.Topic != topic || string(p.Payload) != payload || p.QoS != qos {
		t.Fatalf("client %q: got PUBLISH %q %q QoS %d, want %q %q QoS %d", c.ID, p.Topic, p.Payload, p.QoS, topic, payload, qos)
	}
	return p
}

// nextOf waits for the next packet and fails unless it is a T.
func nextOf[T packets.Packet](t testing.TB, c *brokertest.Client) T {
	t.Helper()
	p := c.Next(t)
	v, ok := p.(T)
	if !ok {
		var want T
		t.Fatalf("client %q: got %T, want %T", c.ID, p, want)
	}
	return v
}

// ackedHook returns a channel fed by message.acked.
func ackedHook(b *brokertest.Broker) <-chan broker.Message {
	ch := make(chan broker.Message, 64)
	broker.On(b.Broker, broker.MessageAckedHook, func(_ context.Context, _ *broker.ClientInfo, m broker.Message) {
		ch <- m
	})
	return ch
}

func recvMsg(t testing.TB, ch <-chan broker.Message, what string) broker.Message {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(brokertest.Timeout):
		t.Fatalf("timed out waiting for %s", what)
		return broker.Message{}
	}
}

// TestSessionQoSFlows runs QoS 0, 1 and 2 in both directions for every
// protocol level: client to broker (PUBACK; PUBREC, PUBREL, PUBCOMP) and
// broker to client, the subscriber acknowledging by hand.
func TestSessionQoSFlows(t *testing.T) {
	for _, pl := range protoLevels {
		t.Run(pl.name, func(t *testing.T) {
			b := brokertest.New(t, broker.Options{})
			acked := ackedHook(b)
			sub := b.Dial(t, "sub", brokertest.WithVersion(pl.v), brokertest.WithManualAcks())
			if got := sub.Subscribe(t, "q/#", 2); got != 2 {
				t.Fatalf("SUBACK granted %d, want 2", got)
			}
			pub := b.Dial(t, "pub", brokertest.WithVersion(pl.v))
			for qos := byte(0); qos <= 2; qos++ {
				topic := fmt.Sprintf("q/%d", qos)
				// Inbound: PublishPacket waits for PUBACK, or for PUBREC and
				// then PUBCOMP after its PUBREL.
				if rc := pub.PublishPacket(t, &packets.Publish{Topic: topic, Payload: []byte("hello"), QoS: qos}); rc != packets.Success {
					t.Fatalf("QoS %d publish: reason %v", qos, rc)
				}
				// Outbound, at the publish QoS (granted 2 is the maximum).
				p := expectMsg(t, sub, topic, "hello", qos)
				if p.Dup || p.Retain {
					t.Fatalf("QoS %d: DUP %v RETAIN %v, want both unset [MQTT-3.3.1-9]", qos, p.Dup, p.Retain)
				}
				switch qos {
				case 0:
					if p.PacketID != 0 {
						t.Fatalf("QoS 0 PUBLISH has packet id %d", p.PacketID)
					}
				case 1:
					if p.PacketID == 0 {
						t.Fatal("QoS 1 PUBLISH without a packet id [MQTT-2.3.1-1]")
					}
					sub.Send(t, &packets.Puback{PacketID: p.PacketID})
					if m := recvMsg(t, acked, "message.acked"); m.Topic != topic {
						t.Fatalf("acked %q, want %q", m.Topic, topic)
					}
				case 2:
					sub.Send(t, &packets.Pubrec{PacketID: p.PacketID})
					rel := nextOf[*packets.Pubrel](t, sub)
					if rel.PacketID != p.PacketID {
						t.Fatalf("PUBREL id %d, want %d [MQTT-4.3.3-3]", rel.PacketID, p.PacketID)
					}
					select {
					case m := <-acked:
						t.Fatalf("QoS 2 message %q acked before PUBCOMP", m.Topic)
					default:
					}
					sub.Send(t, &packets.Pubcomp{PacketID: p.PacketID})
					if m := recvMsg(t, acked, "message.acked"); m.Topic != topic {
						t.Fatalf("acked %q, want %q", m.Topic, topic)
					}
				}
			}
			sub.ExpectNone(t, 20*time.Millisecond)
			if n := b.Metrics()["messages/acked"]; n != 2 {
				t.Errorf("messages/acked = %d, want 2", n)
			}
		})
	}
}

// TestSessionQoSDowngrade checks that a message is delivered at the minimum
// of its QoS and the subscription's [MQTT-3.8.4-6] (v5: [MQTT-3.8.4-8]).
func TestSessionQoSDowngrade(t *testing.T) {
	for _, pl := range protoLevels {
		t.Run(pl.name, func(t *testing.T) {
			b := brokertest.New(t, broker.Options{})
			pub := b.Dial(t, "pub", brokertest.WithVersion(pl.v))
			for subQoS := byte(0); subQoS <= 2; subQoS++ {
				sub := b.Dial(t, fmt.Sprintf("sub%d", subQoS), brokertest.WithVersion(pl.v))
				filter := fmt.Sprintf("dg/%d/#", subQoS)
				if got := sub.Subscribe(t, filter, subQoS); got != subQoS {
					t.Fatalf("granted %d, want %d", got, subQoS)
				}
				for pubQoS := byte(0); pubQoS <= 2; pubQoS++ {
					topic := fmt.Sprintf("dg/%d/%d", subQoS, pubQoS)
					pub.Publish(t, topic, []byte("x"), pubQoS, false)
					expectMsg(t, sub, topic, "x", min(subQoS, pubQoS))
				}
				sub.ExpectNone(t, 10*time.Millisecond)
			}
		})
	}
}

// TestSessionOverlappingSubscriptions checks that a message matching
// several subscriptions of one session is delivered once, at the maximum
// QoS of the matching subscriptions [MQTT-3.3.5-1] (v5: [MQTT-3.3.4-2]),
// whatever order the subscriptions were made in.
func TestSessionOverlappingSubscriptions(t *testing.T) {
	filters := []string{"ov/#", "ov/+/c", "+/b/c"}
	perms := [][3]byte{{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}}
	for _, pl := range protoLevels {
		t.Run(pl.name, func(t *testing.T) {
			b := brokertest.New(t, broker.Options{})
			pub := b.Dial(t, "pub", brokertest.WithVersion(pl.v))
			for i, perm := range perms {
				sub := b.Dial(t, fmt.Sprintf("sub%d", i), brokertest.WithVersion(pl.v))
				for k, f := range filters {
					sub.Subscribe(t, f, perm[k])
				}
				pub.Publish(t, "ov/b/c", []byte("1"), 2, false)
				expectMsg(t, sub, "ov/b/c", "1", 2)
				pub.Publish(t, "ov/b/c", []byte("2"), 1, false)
				expectMsg(t, sub, "ov/b/c", "2", 1)
				pub.Publish(t, "ov/x", []byte("3"), 2, false) // only ov/#
				expectMsg(t, sub, "ov/x", "3", perm[0])
				sub.ExpectNone(t, 10*time.Millisecond)
				sub.Disconnect(t)
				waitOffline(t, b, sub.ID)
			}
		})
	}
}

// TestSessionInflightWindow checks that no more than MaxInflight QoS 1
// messages are unacknowledged at once, and that the rest follow in order as
// PUBACKs come in.
func TestSessionInflightWindow(t *testing.T) {
	for _, pl := range protoLevels {
		t.Run(pl.name, func(t *testing.T) {
			b := brokertest.New(t, broker.Options{Session: broker.SessionOptions{MaxInflight: 2}})
			sub := b.Dial(t, "sub", brokertest.WithVersion(pl.v), brokertest.WithManualAcks())
			sub.Subscribe(t, "w/#", 1)
			for i := range 5 {
				hostPublish(t, b, "w/m", fmt.Sprint(i), 1)
			}
			p0 := expectMsg(t, sub, "w/m", "0", 1)
			p1 := expectMsg(t, sub, "w/m", "1", 1)
			sub.ExpectNone(t, 50*time.Millisecond)
			if s := b.Sessions(); len(s) != 1 || s[0].Inflight != 2 || s[0].Queued != 3 {
				t.Fatalf("Sessions() = %+v, want 2 inflight and 3 queued", s)
			}
			sub.Send(t, &packets.Puback{PacketID: p0.PacketID})
			p2 := expectMsg(t, sub, "w/m", "2", 1)
			sub.ExpectNone(t, 50*time.Millisecond)
			sub.Send(t, &packets.Puback{PacketID: p1.PacketID})
			sub.Send(t, &packets.Puback{PacketID: p2.PacketID})
			p3 := expectMsg(t, sub, "w/m", "3", 1)
			p4 := expectMsg(t, sub, "w/m", "4", 1)
			sub.Send(t, &packets.Puback{PacketID: p3.PacketID})
			sub.Send(t, &packets.Puback{PacketID: p4.PacketID})
			pollUntil(t, "all acked", func() bool { return b.Metrics()["messages/acked"] == 5 })
			sub.ExpectNone(t, 10*time.Millisecond)
		})
	}
}

// TestSessionPersistent checks that a persistent session keeps its
// subscriptions and the QoS 0, 1 and 2 messages published while its client
// was away, reports Session Present [MQTT-3.2.2-2] and delivers the queue on
// resume in order.
func TestSessionPersistent(t *testing.T) {
	for _, pl := range protoLevels {
		t.Run(pl.name, func(t *testing.T) {
			b := brokertest.New(t, broker.Options{})
			c := b.Dial(t, "p1", persistentOpts(pl.v)...)
			if c.Connack.SessionPresent {
				t.Fatal("Session Present on a new session [MQTT-3.2.2-3]")
			}
			c.Subscribe(t, "ps/#", 2)
			c.Disconnect(t)
			waitOffline(t, b, "p1")

			pub := b.Dial(t, "pub", brokertest.WithVersion(pl.v))
			pub.Publish(t, "ps/0", []byte("zero"), 0, false)
			pub.Publish(t, "ps/1", []byte("one"), 1, false)
			pub.Publish(t, "ps/2", []byte("two"), 2, false)
			if s := b.Sessions(); len(s) != 2 || s[0].ClientID != "p1" || s[0].Connected || s[0].Queued != 3 {
				t.Fatalf("Sessions() = %+v, want p1 offline with 3 queued", s)
			}

			c = b.Dial(t, "p1", persistentOpts(pl.v)...)
			if pl.v != packets.Version31 && !c.Connack.SessionPresent {
				t.Fatal("Session Present unset on resume [MQTT-3.2.2-2]")
			}
			expectMsg(t, c, "ps/0", "zero", 0)
			expectMsg(t, c, "ps/1", "one", 1)
			expectMsg(t, c, "ps/2", "two", 2)
			c.ExpectNone(t, 20*time.Millisecond)
			// The subscription survived.
			if subs := b.Subscriptions("p1"); len(subs) != 1 || subs[0].Filter != "ps/#" || subs[0].QoS != 2 {
				t.Fatalf("Subscriptions = %+v", subs)
			}
			pub.Publish(t, "ps/live", []byte("live"), 1, false)
			expectMsg(t, c, "ps/live", "live", 1)

			// A clean start discards the session [MQTT-3.1.2-6] (v5: [MQTT-3.1.2-4]).
			c.Disconnect(t)
			waitOffline(t, b, "p1")
			c = b.Dial(t, "p1", brokertest.WithVersion(pl.v), brokertest.WithCleanSession(true))
			if c.Connack.SessionPresent {
				t.Fatal("Session Present after a clean start [MQTT-3.2.2-1]")
			}
			if subs := b.Subscriptions("p1"); len(subs) != 0 {
				t.Fatalf("clean session kept subscriptions %+v", subs)
			}
			pub.Publish(t, "ps/gone", []byte("x"), 1, false)
			c.ExpectNone(t, 20*time.Millisecond)
		})
	}
}

// TestSessionCleanEndsAtDisconnect checks that a clean session (3.1.1) or
// one with no Session Expiry Interval (MQTT 5) ends with its connection.
func TestSessionCleanEndsAtDisconnect(t *testing.T) {
	cases := []struct {
		name string
		opts []brokertest.ClientOption
	}{
		{"3.1.1 clean", []brokertest.ClientOption{brokertest.WithCleanSession(true)}},
		// [MQTT-3.1.2-23]: an absent Session Expiry Interval means 0.
		{"5.0 no expiry", []brokertest.ClientOption{brokertest.WithVersion(packets.Version5), brokertest.WithCleanSession(false)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := brokertest.New(t, broker.Options{})
			c := b.Dial(t, "c", tc.opts...)
			c.Subscribe(t, "a", 1)
			c.Disconnect(t)
			pollUntil(t, "session ended", func() bool { return len(b.Sessions()) == 0 })
			hostPublish(t, b, "a", "x", 1)
			c = b.Dial(t, "c", tc.opts...)
			if c.Connack.SessionPresent {
				t.Fatal("Session Present for an ended session")
			}
			c.ExpectNone(t, 20*time.Millisecond)
		})
	}
}

// TestSessionV5ExpiryOnDisconnect checks that an MQTT 5 client may set the
// Session Expiry Interval on DISCONNECT, turning a session persistent.
func TestSessionV5ExpiryOnDisconnect(t *testing.T) {
	b := brokertest.New(t, broker.Options{})
	c := b.Dial(t, "c", brokertest.WithVersion(packets.Version5), brokertest.WithCleanSession(false),
		brokertest.WithProperties(&packets.Properties{SessionExpiry: u32p(1)}))
	c.Subscribe(t, "a", 1)
	c.Send(t, &packets.Disconnect{Properties: &packets.Properties{SessionExpiry: u32p(600)}})
	c.ExpectClosed(t)
	waitOffline(t, b, "c")
	hostPublish(t, b, "a", "kept", 1)
	c = b.Dial(t, "c", brokertest.WithVersion(packets.Version5), brokertest.WithCleanSession(false))
	if !c.Connack.SessionPresent {
		t.Fatal("session lost")
	}
	expectMsg(t, c, "a", "kept", 1)
}

// TestSessionDropQoS0Offline checks that QoS 0 messages are queued for an
// offline client by default, and dropped and counted with DropQoS0.
func TestSessionDropQoS0Offline(t *testing.T) {
	for _, drop := range []bool{false, true} {
		t.Run(fmt.Sprintf("DropQoS0=%v", drop), func(t *testing.T) {
			b := brokertest.New(t, broker.Options{Session: broker.SessionOptions{DropQoS0: drop}})
			reasons := make(chan broker.DropReason, 8)
			broker.On(b.Broker, broker.DeliveryDroppedHook, func(_ context.Context, _ *broker.ClientInfo, _ broker.Message, r broker.DropReason) {
				reasons <- r
			})
			c := b.Dial(t, "c", brokertest.WithCleanSession(false))
			c.Subscribe(t, "a/#", 1)
			c.Disconnect(t)
			waitOffline(t, b, "c")
			hostPublish(t, b, "a/0", "q0", 0)
			hostPublish(t, b, "a/1", "q1", 1)
			c = b.Dial(t, "c", brokertest.WithCleanSession(false))
			if !drop {
				expectMsg(t, c, "a/0", "q0", 0)
			}
			expectMsg(t, c, "a/1", "q1", 1)
			c.ExpectNone(t, 20*time.Millisecond)
			want := uint64(0)
			if drop {
				want = 1
				if r := <-reasons; r != broker.DropQoS0Offline {
					t.Errorf("delivery.dropped reason %q, want %q", r, broker.DropQoS0Offline)
				}
			}
			if n := b.Metrics()["messages/delivery_dropped"]; n != want {
				t.Errorf("messages/delivery_dropped = %d, want %d", n, want)
			}
		})
	}
}

// TestSessionQueueOverflow checks that a full queue drops its oldest QoS 0
// message first, then its oldest message, and counts each drop.
func TestSessionQueueOverflow(t *testing.T) {
	b := brokertest.New(t, broker.Options{Session: broker.SessionOptions{MaxQueueLen: 3}})
	var dropped []string
	done := make(chan struct{}, 8)
	broker.On(b.Broker, broker.DeliveryDroppedHook, func(_ context.Context, c *broker.ClientInfo, m broker.Message, r broker.DropReason) {
		if c.ClientID != "c" || r != broker.DropQueueFull {
			t.Errorf("delivery.dropped(%q, %q)", c.ClientID, r)
		}
		dropped = append(dropped, string(m.Payload))
		done <- struct{}{}
	})
	c := b.Dial(t, "c", brokertest.WithCleanSession(false))
	c.Subscribe(t, "o/#", 2)
	c.Disconnect(t)
	waitOffline(t, b, "c")
	hostPublish(t, b, "o/t", "m1", 1)
	hostPublish(t, b, "o/t", "z1", 0)
	hostPublish(t, b, "o/t", "m2", 2)
	hostPublish(t, b, "o/t", "m3", 1) // full: drops z1, the oldest QoS 0
	hostPublish(t, b, "o/t", "m4", 1) // full: drops m1, the oldest
	<-done
	<-done
	if fmt.Sprint(dropped) != "[z1 m1]" {
		t.Fatalf("dropped %v, want [z1 m1]", dropped)
	}
	if n := b.Metrics()["messages/delivery_dropped"]; n != 2 {
		t.Fatalf("messages/delivery_dropped = %d, want 2", n)
	}
	c = b.Dial(t, "c", brokertest.WithCleanSession(false))
	expectMsg(t, c, "o/t", "m2", 2)
	expectMsg(t, c, "o/t", "m3", 1)
	expectMsg(t, c, "o/t", "m4", 1)
	c.ExpectNone(t, 20*time.Millisecond)
}

// TestSessionQueueDefaultBound checks that MaxQueueLen 0 means 1000.
func TestSessionQueueDefaultBound(t *testing.T) {
	b := brokertest.New(t, broker.Options{})
	c := b.Dial(t, "c", brokertest.WithCleanSession(false))
	c.Subscribe(t, "o", 1)
	c.Disconnect(t)
	waitOffline(t, b, "c")
	for i := range 1001 {
		hostPublish(t, b, "o", fmt.Sprint(i), 1)
	}
	if s := b.Sessions(); s[0].Queued != 1000 {
		t.Fatalf("%d queued, want 1000", s[0].Queued)
	}
	if n := b.Metrics()["messages/delivery_dropped"]; n != 1 {
		t.Fatalf("messages/delivery_dropped = %d, want 1", n)
	}
}

// TestSessionQueueOverflowOnline checks the same bound for a connected
// client whose inflight window is full.
func TestSessionQueueOverflowOnline(t *testing.T) {
	b := brokertest.New(t, broker.Options{Session: broker.SessionOptions{MaxInflight: 1, MaxQueueLen: 2}})
	c := b.Dial(t, "c", brokertest.WithManualAcks())
	c.Subscribe(t, "o", 1)
	for i := range 5 {
		hostPublish(t, b, "o", fmt.Sprint(i), 1)
	}
	p := expectMsg(t, c, "o", "0", 1)
	// 1 and 2 were dropped for 3 and 4.
	if n := b.Metrics()["messages/delivery_dropped"]; n != 2 {
		t.Fatalf("messages/delivery_dropped = %d, want 2", n)
	}
	c.Send(t, &packets.Puback{PacketID: p.PacketID})
	p = expectMsg(t, c, "o", "3", 1)
	c.Send(t, &packets.Puback{PacketID: p.PacketID})
	p = expectMsg(t, c, "o", "4", 1)
	c.Send(t, &packets.Puback{PacketID: p.PacketID})
	c.ExpectNone(t, 20*time.Millisecond)
}

// TestSessionExpiry checks that a persistent session is removed once its
// expiry passes with no client, in fake time: Session.Expiry for 3.1.1, the
// Session Expiry Interval for MQTT 5 [MQTT-3.1.2-23].
func TestSessionExpiry(t *testing.T) {
	cases := []struct {
		name   string
		expiry time.Duration
		opts   []brokertest.ClientOption
	}{
		{"3.1.1", time.Hour, []brokertest.ClientOption{brokertest.WithCleanSession(false)}},
		{"5.0", 30 * time.Second, []brokertest.ClientOption{brokertest.WithVersion(packets.Version5), brokertest.WithCleanSession(false),
			brokertest.WithProperties(&packets.Properties{SessionExpiry: u32p(30)})}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := brokertest.New(t, broker.Options{Session: broker.SessionOptions{Expiry: time.Hour}})
				terminated := make(chan string, 1)
				broker.On(b.Broker, broker.SessionTerminatedHook, func(_ context.Context, c *broker.ClientInfo, _ error) {
					terminated <- c.ClientID
				})
				c := b.Dial(t, "c", tc.opts...)
				c.Subscribe(t, "a", 1)
				c.Disconnect(t)
				synctest.Wait()

				// Just before expiry the session is still there.
				time.Sleep(tc.expiry - time.Second)
				synctest.Wait()
				if s := b.Sessions(); len(s) != 1 || s[0].Connected {
					t.Fatalf("before expiry: Sessions() = %+v", s)
				}
				hostPublish(t, b, "a", "queued", 1)

				time.Sleep(2 * time.Second)
				synctest.Wait()
				if s := b.Sessions(); len(s) != 0 {
					t.Fatalf("after expiry: Sessions() = %+v", s)
				}
				select {
				case id := <-terminated:
					if id != "c" {
						t.Fatalf("session.terminated for %q", id)
					}
				default:
					t.Fatal("no session.terminated")
				}
				c = b.Dial(t, "c", tc.opts...)
				if c.Connack.SessionPresent {
					t.Fatal("Session Present after expiry")
				}
				c.ExpectNone(t, time.Second)
			})
		})
	}
}

// TestSessionTakeover checks that a second connection with the same client
// id closes the first [MQTT-3.1.4-2] (v5: DISCONNECT 0x8E, [MQTT-3.1.4-3]),
// resumes a persistent session with its subscriptions and in-flight
// messages, and starts over on a clean start.
func TestSessionTakeover(t *testing.T) {
	for _, pl := range protoLevels {
		t.Run(pl.name+"/persistent", func(t *testing.T) {
			b := brokertest.New(t, broker.Options{})
			taken := make(chan string, 1)
			broker.On(b.Broker, broker.SessionTakenOverHook, func(_ context.Context, c *broker.ClientInfo) { taken <- c.ClientID })
			c1 := b.Dial(t, "dup", append(persistentOpts(pl.v), brokertest.WithManualAcks())...)
			c1.Subscribe(t, "to/#", 1)
			hostPublish(t, b, "to/a", "unacked", 1)
			p := expectMsg(t, c1, "to/a", "unacked", 1)

			c2 := b.Dial(t, "dup", persistentOpts(pl.v)...)
			d := c1.ExpectClosed(t)
			if pl.v == packets.Version5 {
				if d == nil || d.ReasonCode != packets.SessionTakenOver {
					t.Fatalf("old connection got %+v, want DISCONNECT 0x8E", d)
				}
			} else if d != nil {
				t.Fatalf("3.1.1 connection got a DISCONNECT %+v", d)
			}
			if pl.v != packets.Version31 && !c2.Connack.SessionPresent {
				t.Fatal("takeover did not resume the session")
			}
			// session.takenover runs before the new CONNACK is sent.
			select {
			case id := <-taken:
				if id != "dup" {
					t.Fatalf("session.takenover for %q", id)
				}
			default:
				t.Fatal("no session.takenover")
			}
			// The message in flight to c1 is resent to c2 with DUP [MQTT-4.4.0-1].
			p2 := expectMsg(t, c2, "to/a", "unacked", 1)
			if !p2.Dup || p2.PacketID != p.PacketID {
				t.Fatalf("resent PUBLISH DUP=%v id=%d, want DUP and id %d", p2.Dup, p2.PacketID, p.PacketID)
			}
			hostPublish(t, b, "to/b", "new", 1)
			expectMsg(t, c2, "to/b", "new", 1)
			if n := len(b.Sessions()); n != 1 {
				t.Fatalf("%d sessions, want 1", n)
			}
		})
		t.Run(pl.name+"/clean", func(t *testing.T) {
			b := brokertest.New(t, broker.Options{})
			c1 := b.Dial(t, "dup", persistentOpts(pl.v)...)
			c1.Subscribe(t, "to/#", 1)
			c2 := b.Dial(t, "dup", brokertest.WithVersion(pl.v), brokertest.WithCleanSession(true))
			c1.ExpectClosed(t)
			if c2.Connack.SessionPresent {
				t.Fatal("Session Present on a clean takeover")
			}
			if subs := b.Subscriptions("dup"); len(subs) != 0 {
				t.Fatalf("clean takeover kept %+v", subs)
			}
			hostPublish(t, b, "to/a", "x", 1)
			c2.ExpectNone(t, 20*time.Millisecond)
			// The old connection ending later must not end the new session.
			if _, on := b.Client("dup"); !on {
				t.Fatal("new connection not registered")
			}
		})
	}
}

// TestSessionRedeliveryOnResume checks that unacknowledged QoS 1 and 2
// messages are sent again with DUP when the session resumes
// [MQTT-4.4.0-1], and that a QoS 2 message whose PUBREC was received gets
// its PUBREL again instead.
func TestSessionRedeliveryOnResume(t *testing.T) {
	for _, pl := range protoLevels {
		t.Run(pl.name, func(t *testing.T) {
			b := brokertest.New(t, broker.Options{})
			acked := ackedHook(b)
			opts := append(persistentOpts(pl.v), brokertest.WithManualAcks())
			c := b.Dial(t, "r", opts...)
			c.Subscribe(t, "rd/#", 2)
			hostPublish(t, b, "rd/1", "one", 1)
			hostPublish(t, b, "rd/2", "two", 2)
			hostPublish(t, b, "rd/3", "three", 2)
			p1 := expectMsg(t, c, "rd/1", "one", 1)
			p2 := expectMsg(t, c, "rd/2", "two", 2)
			p3 := expectMsg(t, c, "rd/3", "three", 2)
			c.Send(t, &packets.Pubrec{PacketID: p2.PacketID})
			if rel := nextOf[*packets.Pubrel](t, c); rel.PacketID != p2.PacketID {
				t.Fatalf("PUBREL %d, want %d", rel.PacketID, p2.PacketID)
			}
			c.Drop()
			waitOffline(t, b, "r")

			c = b.Dial(t, "r", opts...)
			// In order: PUBLISH rd/1 (DUP), PUBREL for rd/2, PUBLISH rd/3 (DUP).
			r1 := nextOf[*packets.Publish](t, c)
			if r1.Topic != "rd/1" || !r1.Dup || r1.PacketID != p1.PacketID || r1.QoS != 1 {
				t.Fatalf("first resend %+v, want rd/1 DUP id %d", r1, p1.PacketID)
			}
			if rel := nextOf[*packets.Pubrel](t, c); rel.PacketID != p2.PacketID {
				t.Fatalf("PUBREL %d, want %d", rel.PacketID, p2.PacketID)
			}
			r3 := nextOf[*packets.Publish](t, c)
			if r3.Topic != "rd/3" || !r3.Dup || r3.PacketID != p3.PacketID || r3.QoS != 2 {
				t.Fatalf("third resend %+v, want rd/3 DUP id %d", r3, p3.PacketID)
			}
			c.Send(t, &packets.Puback{PacketID: p1.PacketID})
			c.Send(t, &packets.Pubcomp{PacketID: p2.PacketID})
			c.Send(t, &packets.Pubrec{PacketID: p3.PacketID})
			nextOf[*packets.Pubrel](t, c)
			c.Send(t, &packets.Pubcomp{PacketID: p3.PacketID})
			for range 3 {
				recvMsg(t, acked, "message.acked")
			}
			if s := b.Sessions(); len(s) != 1 || s[0].Inflight != 0 {
				t.Fatalf("Sessions() = %+v, want nothing in flight", s)
			}
			c.ExpectNone(t, 20*time.Millisecond)
		})
	}
}

// TestSessionRetryInterval checks that MQTT 3.1/3.1.1 clients get
// unacknowledged messages again after Session.RetryInterval, PUBLISH with
// DUP or PUBREL, and that MQTT 5 clients do not: MQTT 5 forbids resending
// except on reconnect [MQTT-4.4.0-1].
func TestSessionRetryInterval(t *testing.T) {
	for _, pl := range protoLevels {
		t.Run(pl.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const retry = 10 * time.Second
				b := brokertest.New(t, broker.Options{Session: broker.SessionOptions{RetryInterval: retry}})
				c := b.Dial(t, "r", brokertest.WithVersion(pl.v), brokertest.WithManualAcks())
				c.Subscribe(t, "rt/#", 2)
				hostPublish(t, b, "rt/1", "one", 1)
				hostPublish(t, b, "rt/2", "two", 2)
				p1 := expectMsg(t, c, "rt/1", "one", 1)
				p2 := expectMsg(t, c, "rt/2", "two", 2)
				c.Send(t, &packets.Pubrec{PacketID: p2.PacketID})
				nextOf[*packets.Pubrel](t, c)

				if pl.v == packets.Version5 {
					time.Sleep(5 * retry)
					synctest.Wait()
					c.ExpectNone(t, time.Millisecond)
					if n := b.Metrics()["messages/retried"]; n != 0 {
						t.Fatalf("messages/retried = %d for an MQTT 5 client", n)
					}
					return
				}
				time.Sleep(retry / 2)
				synctest.Wait()
				c.ExpectNone(t, time.Millisecond) // not yet
				time.Sleep(retry)
				synctest.Wait()
				r1 := nextOf[*packets.Publish](t, c)
				if !r1.Dup || r1.PacketID != p1.PacketID {
					t.Fatalf("retry %+v, want DUP id %d", r1, p1.PacketID)
				}
				if rel := nextOf[*packets.Pubrel](t, c); rel.PacketID != p2.PacketID {
					t.Fatalf("retried PUBREL %d, want %d", rel.PacketID, p2.PacketID)
				}
				c.Send(t, &packets.Puback{PacketID: p1.PacketID})
				c.Send(t, &packets.Pubcomp{PacketID: p2.PacketID})
				synctest.Wait()
				if n := b.Metrics()["messages/retried"]; n != 2 {
					t.Fatalf("messages/retried = %d, want 2", n)
				}
				time.Sleep(3 * retry)
				synctest.Wait()
				if c.ExpectNone(t, time.Millisecond); b.Metrics()["messages/retried"] != 2 {
					t.Fatal("acknowledged messages were retried")
				}
			})
		})
	}
}

// TestSessionInboundQoS2ExactlyOnce checks that a QoS 2 PUBLISH sent again
// with DUP before PUBREL is acknowledged with PUBREC but not routed again
// [MQTT-4.3.3-9] (v5: [MQTT-4.3.3-10]), and that PUBREL gets PUBCOMP
// [MQTT-4.3.3-11].
func TestSessionInboundQoS2ExactlyOnce(t *testing.T) {
	for _, pl := range protoLevels {
		t.Run(pl.name, func(t *testing.T) {
			b := brokertest.New(t, broker.Options{})
			sub := b.Dial(t, "sub")
			sub.Subscribe(t, "x/#", 2)
			pub := b.Dial(t, "pub", brokertest.WithVersion(pl.v), brokertest.WithManualAcks())
			p := &packets.Publish{Topic: "x/1", Payload: []byte("once"), QoS: 2, PacketID: 7}
			pub.Send(t, p)
			if rec := nextOf[*packets.Pubrec](t, pub); rec.PacketID != 7 || rec.ReasonCode != packets.Success {
				t.Fatalf("PUBREC %+v", rec)
			}
			expectMsg(t, sub, "x/1", "once", 2)
			for range 2 {
				dup := *p
				dup.Dup = true
				pub.Send(t, &dup)
				if rec := nextOf[*packets.Pubrec](t, pub); rec.PacketID != 7 {
					t.Fatalf("PUBREC for the DUP: %+v", rec)
				}
			}
			sub.ExpectNone(t, 30*time.Millisecond)
			pub.Send(t, &packets.Pubrel{PacketID: 7})
			if comp := nextOf[*packets.Pubcomp](t, pub); comp.PacketID != 7 || comp.ReasonCode != packets.Success {
				t.Fatalf("PUBCOMP %+v", comp)
			}
			// After PUBREL the identifier is free: the same id is a new message.
			p.Payload = []byte("again")
			pub.Send(t, p)
			nextOf[*packets.Pubrec](t, pub)
			expectMsg(t, sub, "x/1", "again", 2)
			pub.Send(t, &packets.Pubrel{PacketID: 7})
			nextOf[*packets.Pubcomp](t, pub)
			// A PUBREL for an unknown id still gets PUBCOMP (v5: 0x92).
			pub.Send(t, &packets.Pubrel{PacketID: 99})
			comp := nextOf[*packets.Pubcomp](t, pub)
			if comp.PacketID != 99 || (pl.v == packets.Version5 && comp.ReasonCode != packets.PacketIdentifierNotFound) {
				t.Fatalf("PUBCOMP for an unknown id: %+v", comp)
			}
			sub.ExpectNone(t, 10*time.Millisecond)
		})
	}
}

// TestSessionAwaitRelTimeout checks that an incoming QoS 2 identifier whose
// PUBREL never comes is released after Session.AwaitRelTimeout.
func TestSessionAwaitRelTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := brokertest.New(t, broker.Options{Session: broker.SessionOptions{AwaitRelTimeout: 5 * time.Second}})
		sub := b.Dial(t, "sub")
		sub.Subscribe(t, "x", 2)
		pub := b.Dial(t, "pub", brokertest.WithManualAcks())
		pub.Send(t, &packets.Publish{Topic: "x", Payload: []byte("1"), QoS: 2, PacketID: 9})
		nextOf[*packets.Pubrec](t, pub)
		expectMsg(t, sub, "x", "1", 2)
		synctest.Wait()
		if s := b.Sessions(); s[0].ClientID != "pub" || s[0].AwaitingRel != 1 {
			t.Fatalf("Sessions() = %+v, want pub awaiting 1 PUBREL", s)
		}
		time.Sleep(6 * time.Second)
		synctest.Wait()
		if s := b.Sessions(); s[0].AwaitingRel != 0 {
			t.Fatalf("Sessions() = %+v after the timeout", s)
		}
		if n := b.Metrics()["messages/awaiting_rel_expired"]; n != 1 {
			t.Fatalf("messages/awaiting_rel_expired = %d, want 1", n)
		}
		// The released identifier carries a new message.
		pub.Send(t, &packets.Publish{Topic: "x", Payload: []byte("2"), QoS: 2, PacketID: 9})
		nextOf[*packets.Pubrec](t, pub)
		expectMsg(t, sub, "x", "2", 2)
		pub.Send(t, &packets.Pubrel{PacketID: 9})
		nextOf[*packets.Pubcomp](t, pub)
	})
}

// TestSessionMaxAwaitingRel checks that QoS 2 publishes beyond
// MaxAwaitingRel are dropped (v5: PUBREC 0x97 quota exceeded).
func TestSessionMaxAwaitingRel(t *testing.T) {
	for _, pl := range protoLevels {
		t.Run(pl.name, func(t *testing.T) {
			b := brokertest.New(t, broker.Options{Session: broker.SessionOptions{MaxAwaitingRel: 2}})
			sub := b.Dial(t, "sub")
			sub.Subscribe(t, "x", 2)
			pub := b.Dial(t, "pub", brokertest.WithVersion(pl.v), brokertest.WithManualAcks())
			for id := uint16(1); id <= 3; id++ {
				pub.Send(t, &packets.Publish{Topic: "x", Payload: fmt.Appendf(nil, "%d", id), QoS: 2, PacketID: id})
				rec := nextOf[*packets.Pubrec](t, pub)
				want := packets.Success
				if id == 3 && pl.v == packets.Version5 {
					want = packets.QuotaExceeded
				}
				if rec.PacketID != id || rec.ReasonCode != want {
					t.Fatalf("PUBREC %+v, want id %d code %v", rec, id, want)
				}
			}
			expectMsg(t, sub, "x", "1", 2)
			expectMsg(t, sub, "x", "2", 2)
			sub.ExpectNone(t, 20*time.Millisecond)
			if n := b.Metrics()["messages/dropped"]; n != 1 {
				t.Fatalf("messages/dropped = %d, want 1", n)
			}
			// Releasing one makes room.
			pub.Send(t, &packets.Pubrel{PacketID: 1})
			nextOf[*packets.Pubcomp](t, pub)
			pub.Send(t, &packets.Publish{Topic: "x", Payload: []byte("4"), QoS: 2, PacketID: 4})
			if rec := nextOf[*packets.Pubrec](t, pub); rec.ReasonCode != packets.Success {
				t.Fatalf("PUBREC %+v after a release", rec)
			}
			expectMsg(t, sub, "x", "4", 2)
		})
	}
}

// TestSessionInflightWindowQoS2 checks that a QoS 2 message holds its place
// in the inflight window until PUBCOMP, not PUBREC.
func TestSessionInflightWindowQoS2(t *testing.T) {
	b := brokertest.New(t, broker.Options{Session: broker.SessionOptions{MaxInflight: 1}})
	c := b.Dial(t, "c", brokertest.WithManualAcks())
	c.Subscribe(t, "w", 2)
	hostPublish(t, b, "w", "a", 2)
	hostPublish(t, b, "w", "b", 2)
	p := expectMsg(t, c, "w", "a", 2)
	c.Send(t, &packets.Pubrec{PacketID: p.PacketID})
	nextOf[*packets.Pubrel](t, c)
	c.ExpectNone(t, 30*time.Millisecond)
	c.Send(t, &packets.Pubcomp{PacketID: p.PacketID})
	p = expectMsg(t, c, "w", "b", 2)
	c.Send(t, &packets.Pubrec{PacketID: p.PacketID})
	nextOf[*packets.Pubrel](t, c)
	c.Send(t, &packets.Pubcomp{PacketID: p.PacketID})
}

// TestSessionV5ReceiveMaximum checks that the broker never has more
// unacknowledged QoS 1 and 2 messages towards an MQTT 5 client than the
// client's Receive Maximum [MQTT-3.3.4-9], even when MaxInflight is larger.
func TestSessionV5ReceiveMaximum(t *testing.T) {
	b := brokertest.New(t, broker.Options{})
	rm := uint16(2)
	c := b.Dial(t, "c", brokertest.WithVersion(packets.Version5), brokertest.WithManualAcks(),
		brokertest.WithProperties(&packets.Properties{ReceiveMaximum: &rm}))
	c.Subscribe(t, "w", 2)
	for i := range 4 {
		hostPublish(t, b, "w", fmt.Sprint(i), 1)
	}
	p0 := expectMsg(t, c, "w", "0", 1)
	p1 := expectMsg(t, c, "w", "1", 1)
	c.ExpectNone(t, 30*time.Millisecond)
	c.Send(t, &packets.Puback{PacketID: p0.PacketID})
	p2 := expectMsg(t, c, "w", "2", 1)
	c.ExpectNone(t, 30*time.Millisecond)
	c.Send(t, &packets.Puback{PacketID: p1.PacketID})
	p3 := expectMsg(t, c, "w", "3", 1)
	c.Send(t, &packets.Puback{PacketID: p2.PacketID})
	c.Send(t, &packets.Puback{PacketID: p3.PacketID})
	c.ExpectNone(t, 10*time.Millisecond)
}

// TestSessionV5PubrecError checks that an MQTT 5 PUBREC with an error code
// ends the QoS 2 exchange: no PUBREL, the message is acknowledged and its
// place in the inflight window is freed.
func TestSessionV5PubrecError(t *testing.T) {
	b := brokertest.New(t, broker.Options{Session: broker.SessionOptions{MaxInflight: 1}})
	acked := ackedHook(b)
	c := b.Dial(t, "c", brokertest.WithVersion(packets.Version5), brokertest.WithManualAcks())
	c.Subscribe(t, "w", 2)
	hostPublish(t, b, "w", "a", 2)
	hostPublish(t, b, "w", "b", 2)
	p := expectMsg(t, c, "w", "a", 2)
	c.Send(t, &packets.Pubrec{PacketID: p.PacketID, ReasonCode: packets.UnspecifiedError})
	recvMsg(t, acked, "message.acked")
	// The next packet is the second message, not a PUBREL.
	p = nextOf[*packets.Publish](t, c)
	if string(p.Payload) != "b" {
		t.Fatalf("got %q, want b", p.Payload)
	}
}

// TestSessionV5NoMatchingSubscribers checks that an MQTT 5 publisher gets
// PUBACK/PUBREC 0x10 when nobody subscribes, and a 3.1.1 one a plain
// acknowledgement [MQTT-3.3.4-1].
func TestSessionV5NoMatchingSubscribers(t *testing.T) {
	b := brokertest.New(t, broker.Options{})
	c5 := b.Dial(t, "c5", brokertest.WithVersion(packets.Version5))
	c4 := b.Dial(t, "c4")
	for qos := byte(1); qos <= 2; qos++ {
		if rc := c5.PublishPacket(t, &packets.Publish{Topic: "nobody", QoS: qos}); rc != packets.NoMatchingSubscribers {
			t.Fatalf("v5 QoS %d: %v, want 0x10", qos, rc)
		}
		if rc := c4.PublishPacket(t, &packets.Publish{Topic: "nobody", QoS: qos}); rc != packets.Success {
			t.Fatalf("3.1.1 QoS %d: %v", qos, rc)
		}
	}
	if n := b.Metrics()["messages/dropped"]; n != 4 {
		t.Fatalf("messages/dropped = %d, want 4", n)
	}
}

// TestSessionInboundQoS2AcrossReconnect checks that the incoming QoS 2
// state is part of a persistent session: a PUBLISH resent with DUP after a
// reconnect is not routed twice [MQTT-4.3.3-9], and the PUBREL resent after
// the reconnect [MQTT-4.4.0-1] completes it.
func TestSessionInboundQoS2AcrossReconnect(t *testing.T) {
	for _, pl := range protoLevels {
		t.Run(pl.name, func(t *testing.T) {
			b := brokertest.New(t, broker.Options{})
			sub := b.Dial(t, "sub")
			sub.Subscribe(t, "x", 2)
			opts := append(persistentOpts(pl.v), brokertest.WithManualAcks())
			pub := b.Dial(t, "pub", opts...)
			p := &packets.Publish{Topic: "x", Payload: []byte("once"), QoS: 2, PacketID: 3}
			pub.Send(t, p)
			nextOf[*packets.Pubrec](t, pub)
			expectMsg(t, sub, "x", "once", 2)
			pub.Drop() // the PUBREC is lost, as far as the client knows
			waitOffline(t, b, "pub")

			pub = b.Dial(t, "pub", opts...)
			dup := *p
			dup.Dup = true
			pub.Send(t, &dup)
			nextOf[*packets.Pubrec](t, pub)
			pub.Send(t, &packets.Pubrel{PacketID: 3})
			if comp := nextOf[*packets.Pubcomp](t, pub); comp.ReasonCode != packets.Success {
				t.Fatalf("PUBCOMP %+v", comp)
			}
			sub.ExpectNone(t, 30*time.Millisecond)
		})
	}
}

// TestSessionReconnectStorm publishes a stream of QoS 1 messages while a
// persistent subscriber keeps dropping its connection and coming back, and
// checks that every message arrives at least once, in order apart from
// redeliveries.
func TestSessionReconnectStorm(t *testing.T) {
	for _, pl := range protoLevels {
		t.Run(pl.name, func(t *testing.T) {
			b := brokertest.New(t, broker.Options{})
			// Manual acks: a message is acknowledged only once the test has
			// seen it, so what a dropped connection had buffered comes again.
			opts := append(persistentOpts(pl.v), brokertest.WithManualAcks())
			c := b.Dial(t, "storm", opts...)
			c.Subscribe(t, "s", 1)
			const total = 300
			errc := make(chan error, 1)
			go func() {
				for i := range total {
					if err := b.Publish(context.Background(), broker.Message{Topic: "s", Payload: fmt.Append(nil, i), QoS: 1}); err != nil {
						errc <- err
						return
					}
				}
				errc <- nil
			}()
			seen := make(map[string]bool)
			next := 0 // the lowest message not yet seen
			for reconnects := 0; next < total; reconnects++ {
				for range 7 {
					if next >= total {
						break
					}
					p := c.ExpectPacket(t)
					if p.Topic != "s" || p.QoS != 1 {
						t.Fatalf("got %+v", p)
					}
					c.Send(t, &packets.Puback{PacketID: p.PacketID})
					if !seen[string(p.Payload)] {
						if string(p.Payload) != fmt.Sprint(next) && !p.Dup {
							t.Fatalf("got %q (DUP %v), want %d next", p.Payload, p.Dup, next)
						}
						seen[string(p.Payload)] = true
						for seen[fmt.Sprint(next)] {
							next++
						}
					}
				}
				if reconnects%2 == 0 {
					c.Drop()
				} else {
					c.Disconnect(t)
				}
				c = b.Dial(t, "storm", opts...)
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			if n := b.Metrics()["messages/delivery_dropped"]; n != 0 {
				t.Fatalf("messages/delivery_dropped = %d", n)
			}
		})
	}
}
