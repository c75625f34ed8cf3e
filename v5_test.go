package broker_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/brokertest"
	"github.com/emqgo/broker/packets"
)

// This file tests MQTT 5 features through MQTT connections: CONNECT and
// CONNACK properties, flow control, topic aliases, maximum packet sizes,
// message expiry, publish properties, will delay, reason codes, enhanced
// authentication and bad input. Comments cite the specification's
// normative statements as [MQTT-x.y.z-n] and its sections as §x.y.

func u16p(v uint16) *uint16 { return &v }
func bytep(v byte) *byte    { return &v }

// v5 is the client option of an MQTT 5 client.
var v5 = brokertest.WithVersion(packets.Version5)

// v5Props is an MQTT 5 client with CONNECT properties p.
func v5Props(p *packets.Properties) []brokertest.ClientOption {
	return []brokertest.ClientOption{v5, brokertest.WithProperties(p)}
}

// rawV5 is an MQTT 5 connection driven packet by packet, for checks on the
// exact packets the broker writes (brokertest.Client resolves topic
// aliases).
type rawV5 struct {
	nc net.Conn
	r  *packets.Reader
}

func dialRawV5(t *testing.T, b *brokertest.Broker, connect *packets.Connect) (*rawV5, *packets.Connack) {
	t.Helper()
	c := &rawV5{nc: b.Conn(t)}
	c.r = packets.NewReader(c.nc, 0)
	c.r.SetVersion(packets.Version5)
	connect.ProtocolName, connect.ProtocolVersion = "MQTT", packets.Version5
	c.send(t, connect)
	ack, ok := c.next(t).(*packets.Connack)
	if !ok {
		t.Fatal("first packet is not CONNACK")
	}
	return c, ack
}

func (c *rawV5) send(t *testing.T, p packets.Packet) {
	t.Helper()
	c.nc.SetWriteDeadline(time.Now().Add(brokertest.Timeout))
	if _, err := c.nc.Write(mustEncode(t, p, packets.Version5)); err != nil {
		t.Fatalf("write %v: %v", p.Type(), err)
	}
}

func (c *rawV5) next(t *testing.T) packets.Packet {
	t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(brokertest.Timeout))
	p, err := c.r.ReadPacket()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return p
}

// TestV5ConnackProperties checks what an MQTT 5 CONNACK announces: the
// broker's Receive Maximum, Topic Alias Maximum and Maximum Packet Size,
// that wildcard, shared subscriptions and subscription identifiers are
// available (§3.2.2.3), a Server Keep Alive when the client's keep alive
// is longer than Options.ServerKeepAlive [MQTT-3.2.2-21], the Session Expiry
// Interval when the broker shortens it (§3.2.2.3.2), and Response
// Information only when asked for (§3.1.2.11.6, §3.2.2.3.15).
func TestV5ConnackProperties(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		b := brokertest.New(t, broker.Options{})
		p := b.Dial(t, "c", v5).Connack.Properties
		switch {
		case p == nil:
			t.Fatal("no CONNACK properties")
		case p.ReceiveMaximum == nil || *p.ReceiveMaximum != 100:
			t.Errorf("Receive Maximum %v, want 100", p.ReceiveMaximum)
		case p.TopicAliasMaximum == nil || *p.TopicAliasMaximum != 100:
			t.Errorf("Topic Alias Maximum %v, want 100", p.TopicAliasMaximum)
		case p.MaximumPacketSize == nil || *p.MaximumPacketSize != 64<<10:
			t.Errorf("Maximum Packet Size %v, want 65536", p.MaximumPacketSize)
		case p.WildcardSubAvailable == nil || *p.WildcardSubAvailable != 1,
			p.SubIDAvailable == nil || *p.SubIDAvailable != 1,
			p.SharedSubAvailable == nil || *p.SharedSubAvailable != 1:
			t.Errorf("availability flags %v %v %v, want 1 1 1", p.WildcardSubAvailable, p.SubIDAvailable, p.SharedSubAvailable)
		case p.ServerKeepAlive != nil, p.SessionExpiry != nil, p.ResponseInfo != "":
			t.Errorf("unexpected CONNACK properties %+v", p)
		}
	})
	t.Run("limits", func(t *testing.T) {
		b := brokertest.New(t, broker.Options{ReceiveMaximum: 65535, TopicAliasMaximum: -1,
			ServerKeepAlive: time.Minute, ResponseInformation: "reply/%c/",
			Session: broker.SessionOptions{MaxExpiry: time.Hour}})
		cases := []struct {
			name       string
			keepalive  time.Duration
			expiry     uint32
			askResp    bool
			wantKA     *uint16
			wantExpiry *uint32
			wantResp   string
		}{
			{"keep alive above the limit", 120 * time.Second, 0, false, u16p(60), nil, ""},
			{"keep alive below the limit", 30 * time.Second, 0, false, nil, nil, ""},
			{"no keep alive", 0, 0, false, nil, nil, ""},
			{"expiry below the limit", 0, 600, false, nil, nil, ""},
			{"expiry above the limit", 0, 7200, false, nil, u32p(3600), ""},
			{"expiry never", 0, 0xFFFFFFFF, false, nil, u32p(3600), ""},
			{"response information", 0, 0, true, nil, nil, "reply/rc/"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				props := &packets.Properties{}
				if tc.expiry != 0 {
					props.SessionExpiry = u32p(tc.expiry)
				}
				if tc.askResp {
					props.RequestResponseInfo = bytep(1)
				}
				c := b.Dial(t, "rc", v5, brokertest.WithProperties(props), brokertest.WithKeepalive(tc.keepalive))
				p := c.Connack.Properties
				if p.ReceiveMaximum != nil || p.TopicAliasMaximum != nil {
					t.Errorf("Receive Maximum %v, Topic Alias Maximum %v: want both absent (65535, none)", p.ReceiveMaximum, p.TopicAliasMaximum)
				}
				if !equalPtr(p.ServerKeepAlive, tc.wantKA) || !equalPtr(p.SessionExpiry, tc.wantExpiry) || p.ResponseInfo != tc.wantResp {
					t.Errorf("Server Keep Alive %v, Session Expiry %v, Response Information %q; want %v, %v, %q",
						deref(p.ServerKeepAlive), deref(p.SessionExpiry), p.ResponseInfo, deref(tc.wantKA), deref(tc.wantExpiry), tc.wantResp)
				}
				if info, _ := b.Client("rc"); tc.wantKA != nil && info.Keepalive != time.Minute {
					t.Errorf("ClientInfo.Keepalive %v, want the granted 1m", info.Keepalive)
				}
				c.Disconnect(t)
			})
		}
	})
}

func equalPtr[T comparable](a, b *T) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

func deref[T any](p *T) any {
	if p == nil {
		return nil
	}
	return *p
}

// TestV5ServerKeepAliveEnforced checks that the broker holds the client to
// the Server Keep Alive it granted [MQTT-3.2.2-21]: silence for 1.5 times
// it closes the connection with 0x8D [MQTT-3.1.2-22].
func TestV5ServerKeepAliveEnforced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := brokertest.New(t, broker.Options{ServerKeepAlive: 10 * time.Second})
		c := b.Dial(t, "ka", v5, brokertest.WithKeepalive(100*time.Second))
		time.Sleep(14 * time.Second)
		synctest.Wait()
		if _, on := b.Client("ka"); !on {
			t.Fatal("closed before 1.5 x the Server Keep Alive")
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		d := c.ExpectClosed(t)
		if d == nil || d.ReasonCode != packets.KeepAliveTimeout {
			t.Fatalf("got DISCONNECT %+v, want 0x8D", d)
		}
	})
}

// TestV5RequestProblemInformation checks that a Reason String explains a
// refused PUBACK by default, and that none is sent to a client that set
// Request Problem Information to 0 [MQTT-3.1.2-29], while DISCONNECT may
// carry one either way.
func TestV5RequestProblemInformation(t *testing.T) {
	b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
		b.RegisterACL(denyPublishTo("secret"))
	})
	for _, tc := range []struct {
		name string
		rpi  *byte
		want bool
	}{{"default", nil, true}, {"asked", bytep(1), true}, {"refused", bytep(0), false}} {
		t.Run(tc.name, func(t *testing.T) {
			c := b.Dial(t, "rpi", v5Props(&packets.Properties{RequestProblemInfo: tc.rpi})...)
			c.Send(t, &packets.Publish{Topic: "secret", QoS: 1, PacketID: 1, Payload: []byte("x")})
			ack := nextOf[*packets.Puback](t, c)
			if ack.ReasonCode != packets.NotAuthorized {
				t.Fatalf("PUBACK %v, want 0x87", ack.ReasonCode)
			}
			if got := ack.Properties != nil && ack.Properties.ReasonString != ""; got != tc.want {
				t.Fatalf("PUBACK properties %+v, want a Reason String: %v", ack.Properties, tc.want)
			}
			c.Send(t, &packets.Subscribe{PacketID: 2, Subscriptions: []packets.Subscription{{Filter: "a", QoS: 1}}})
			nextOf[*packets.Suback](t, c)
			c.Send(t, &packets.Connect{ProtocolName: "MQTT", ProtocolVersion: packets.Version5, ClientID: "rpi"})
			d := c.ExpectClosed(t)
			if d == nil || d.ReasonCode != packets.ProtocolError || d.Properties == nil || d.Properties.ReasonString == "" {
				t.Fatalf("second CONNECT: got DISCONNECT %+v, want 0x82 with a Reason String", d)
			}
		})
	}
}

// TestV5SessionExpiryOnDisconnect checks that DISCONNECT may change the
// Session Expiry Interval (§3.14.2.2.2): to 0 ends the session at once, a
// longer one keeps it; but a non-zero interval after a CONNECT with 0 is a
// protocol error (0x82), after which the will is published since the
// client did not leave normally [MQTT-3.1.2-8].
func TestV5SessionExpiryOnDisconnect(t *testing.T) {
	b := brokertest.New(t, broker.Options{})
	terminated := make(chan string, 4)
	broker.On(b.Broker, broker.SessionTerminatedHook, func(_ context.Context, c *broker.ClientInfo, _ error) {
		terminated <- c.ClientID
	})
	watcher := b.Dial(t, "watcher", v5)
	watcher.Subscribe(t, "will/#", 1)

	t.Run("to zero", func(t *testing.T) {
		c := b.Dial(t, "s1", v5Props(&packets.Properties{SessionExpiry: u32p(600)})...)
		c.Subscribe(t, "x", 1)
		c.Send(t, &packets.Disconnect{Properties: &packets.Properties{SessionExpiry: u32p(0)}})
		c.ExpectClosed(t)
		if id := <-terminated; id != "s1" {
			t.Fatalf("session.terminated for %q", id)
		}
		if c := b.Dial(t, "s1", append(v5Props(&packets.Properties{SessionExpiry: u32p(600)}), brokertest.WithCleanSession(false))...); c.Connack.SessionPresent {
			t.Fatal("session present after DISCONNECT with Session Expiry Interval 0")
		}
	})
	t.Run("longer", func(t *testing.T) {
		c := b.Dial(t, "s2", v5Props(&packets.Properties{SessionExpiry: u32p(1)})...)
		c.Subscribe(t, "x", 1)
		c.Send(t, &packets.Disconnect{Properties: &packets.Properties{SessionExpiry: u32p(3600)}})
		c.ExpectClosed(t)
		time.Sleep(1500 * time.Millisecond)
		c = b.Dial(t, "s2", append(v5Props(&packets.Properties{SessionExpiry: u32p(1)}), brokertest.WithCleanSession(false))...)
		if !c.Connack.SessionPresent {
			t.Fatal("session gone although DISCONNECT extended its expiry")
		}
	})
	t.Run("after zero", func(t *testing.T) {
		c := b.Dial(t, "s3", v5, brokertest.WithWill("will/s3", []byte("bye"), 1, false))
		c.Send(t, &packets.Disconnect{Properties: &packets.Properties{SessionExpiry: u32p(60)}})
		if d := c.ExpectClosed(t); d == nil || d.ReasonCode != packets.ProtocolError {
			t.Fatalf("got DISCONNECT %+v, want 0x82", d)
		}
		expectMsg(t, watcher, "will/s3", "bye", 1)
		if id := <-terminated; id != "s3" {
			t.Fatalf("session.terminated for %q", id)
		}
	})
}

// TestV5ReceiveMaximumOutbound checks that the broker never has more
// unacknowledged QoS 1 and 2 messages to a client than its Receive Maximum
// [MQTT-3.3.4-9], and that Session.MaxInflight bounds it too.
func TestV5ReceiveMaximumOutbound(t *testing.T) {
	b := brokertest.New(t, broker.Options{Session: broker.SessionOptions{MaxInflight: 3}})
	for _, tc := range []struct {
		name string
		rm   *uint16
		want int
	}{{"client receive maximum", u16p(2), 2}, {"broker max inflight", u16p(50), 3}} {
		t.Run(tc.name, func(t *testing.T) {
			c := b.Dial(t, "rm", append(v5Props(&packets.Properties{ReceiveMaximum: tc.rm}), brokertest.WithManualAcks())...)
			c.Subscribe(t, "rm/#", 1)
			for i := range 6 {
				hostPublish(t, b, "rm/t", string(rune('a'+i)), 1)
			}
			var got []*packets.Publish
			for range tc.want {
				got = append(got, c.ExpectPacket(t))
			}
			c.ExpectNone(t, 20*time.Millisecond)
			c.Send(t, &packets.Puback{PacketID: got[0].PacketID})
			got = append(got, c.ExpectPacket(t))
			c.ExpectNone(t, 20*time.Millisecond)
			for _, p := range got[1:] {
				c.Send(t, &packets.Puback{PacketID: p.PacketID})
			}
			for range 6 - len(got) {
				p := c.ExpectPacket(t)
				c.Send(t, &packets.Puback{PacketID: p.PacketID})
			}
			c.Disconnect(t)
		})
	}
}

// TestV5ReceiveMaximumInbound checks the broker's side of flow control: a
// client may have Options.ReceiveMaximum QoS 1 and 2 publishes
// unacknowledged (QoS 2 ones until PUBREL); one more closes the connection
// with 0x93 [MQTT-3.3.4-7], and a completed flow frees its slot.
func TestV5ReceiveMaximumInbound(t *testing.T) {
	b := brokertest.New(t, broker.Options{ReceiveMaximum: 2})
	h := startHealthy(t, b)
	h.around(t, func() {
		c := b.Dial(t, "flood", v5)
		if rm := c.Connack.Properties.ReceiveMaximum; rm == nil || *rm != 2 {
			t.Fatalf("CONNACK Receive Maximum %v, want 2", rm)
		}
		for id := uint16(1); id <= 2; id++ {
			c.Send(t, &packets.Publish{Topic: "in", QoS: 2, PacketID: id})
			nextOf[*packets.Pubrec](t, c)
		}
		// A resent PUBLISH of a flow in progress takes no new slot.
		c.Send(t, &packets.Publish{Topic: "in", QoS: 2, PacketID: 2, Dup: true})
		nextOf[*packets.Pubrec](t, c)
		// PUBREL ends a flow, so one more fits.
		c.Send(t, &packets.Pubrel{PacketID: 1})
		nextOf[*packets.Pubcomp](t, c)
		c.Send(t, &packets.Publish{Topic: "in", QoS: 2, PacketID: 3})
		nextOf[*packets.Pubrec](t, c)
		// Two flows are open: a QoS 1 publish is one too many.
		c.Send(t, &packets.Publish{Topic: "in", QoS: 1, PacketID: 4})
		if d := c.ExpectClosed(t); d == nil || d.ReasonCode != packets.ReceiveMaximumExceeded {
			t.Fatalf("got DISCONNECT %+v, want 0x93", d)
		}
	})
}

// TestV5TopicAliasesInbound checks topic aliases from the client: the
// first PUBLISH with a topic name sets an alias, later ones may send an
// empty topic name with it, and each connection has its own aliases
// [MQTT-3.3.2-12]; aliases are routed under the topic name and never
// forwarded.
func TestV5TopicAliasesInbound(t *testing.T) {
	b := brokertest.New(t, broker.Options{TopicAliasMaximum: 4})
	sub := b.Dial(t, "sub", v5)
	sub.Subscribe(t, "alias/#", 1)
	pub := b.Dial(t, "pub", v5)
	if m := pub.Connack.Properties.TopicAliasMaximum; m == nil || *m != 4 {
		t.Fatalf("CONNACK Topic Alias Maximum %v, want 4", m)
	}
	pub.PublishPacket(t, &packets.Publish{Topic: "alias/one", QoS: 1, Payload: []byte("1"), Properties: &packets.Properties{TopicAlias: u16p(4)}})
	pub.PublishPacket(t, &packets.Publish{Topic: "", QoS: 1, Payload: []byte("2"), Properties: &packets.Properties{TopicAlias: u16p(4)}})
	// Remapping an alias is allowed.
	pub.PublishPacket(t, &packets.Publish{Topic: "alias/two", QoS: 0, Payload: []byte("3"), Properties: &packets.Properties{TopicAlias: u16p(4)}})
	pub.PublishPacket(t, &packets.Publish{Topic: "", QoS: 1, Payload: []byte("4"), Properties: &packets.Properties{TopicAlias: u16p(4)}})
	for _, want := range []struct{ topic, payload string }{{"alias/one", "1"}, {"alias/one", "2"}, {"alias/two", "3"}, {"alias/two", "4"}} {
		p := sub.ExpectPacket(t)
		if p.Topic != want.topic || string(p.Payload) != want.payload {
			t.Fatalf("got %q %q, want %q %q", p.Topic, p.Payload, want.topic, want.payload)
		}
		if p.Properties != nil && p.Properties.TopicAlias != nil {
			t.Fatalf("the publisher's Topic Alias was forwarded: %+v", p.Properties)
		}
	}
	// A new connection starts without aliases: using one is a protocol error.
	pub.Disconnect(t)
	pub = b.Dial(t, "pub", v5)
	pub.Send(t, &packets.Publish{Topic: "", QoS: 0, Properties: &packets.Properties{TopicAlias: u16p(4)}})
	if d := pub.ExpectClosed(t); d == nil || d.ReasonCode != packets.ProtocolError {
		t.Fatalf("got DISCONNECT %+v, want 0x82", d)
	}
}

// TestV5TopicAliasesOutbound checks the topic aliases the broker uses
// towards a client that announced a Topic Alias Maximum: a new alias goes
// with the topic name, later messages send an empty topic name with it, a
// topic beyond the client's maximum goes without alias, and a client that
// announced none gets none (§3.3.2.3.4, [MQTT-3.3.2-12]).
func TestV5TopicAliasesOutbound(t *testing.T) {
	b := brokertest.New(t, broker.Options{})
	c, _ := dialRawV5(t, b, &packets.Connect{ClientID: "ta", CleanStart: true, Properties: &packets.Properties{TopicAliasMaximum: u16p(2)}})
	c.send(t, &packets.Subscribe{PacketID: 1, Subscriptions: []packets.Subscription{{Filter: "ta/#", QoS: 0}}})
	if _, ok := c.next(t).(*packets.Suback); !ok {
		t.Fatal("no SUBACK")
	}
	plain := b.Dial(t, "plain", v5)
	plain.Subscribe(t, "ta/#", 0)
	topics := []string{"ta/a", "ta/b", "ta/c", "ta/a", "ta/b", "ta/c", "ta/a"}
	for _, tp := range topics {
		hostPublish(t, b, tp, "p-"+tp, 0)
	}
	type wire struct {
		topic string
		alias uint16
	}
	want := []wire{{"ta/a", 1}, {"ta/b", 2}, {"ta/c", 0}, {"", 1}, {"", 2}, {"ta/c", 0}, {"", 1}}
	for i, w := range want {
		p, ok := c.next(t).(*packets.Publish)
		if !ok {
			t.Fatalf("message %d is not a PUBLISH", i)
		}
		var alias uint16
		if p.Properties != nil && p.Properties.TopicAlias != nil {
			alias = *p.Properties.TopicAlias
		}
		if p.Topic != w.topic || alias != w.alias || string(p.Payload) != "p-"+topics[i] {
			t.Fatalf("message %d: topic %q alias %d payload %q, want %q %d %q", i, p.Topic, alias, p.Payload, w.topic, w.alias, "p-"+topics[i])
		}
	}
	for _, tp := range topics {
		p := plain.ExpectPacket(t)
		if p.Topic != tp || (p.Properties != nil && p.Properties.TopicAlias != nil) {
			t.Fatalf("client without Topic Alias Maximum got %q %+v", p.Topic, p.Properties)
		}
	}
}

// TestV5MaximumPacketSizeOutbound checks that the broker never sends a
// packet larger than the client's Maximum Packet Size [MQTT-3.1.2-24]: the
// message is dropped for that client, counted and reported to
// delivery.dropped, and behaves as delivered: it takes no inflight slot and
// no packet identifier [MQTT-3.1.2-25]. That holds for messages queued
// while the client was away too.
func TestV5MaximumPacketSizeOutbound(t *testing.T) {
	b := brokertest.New(t, broker.Options{})
	drops := make(chan broker.DropReason, 8)
	broker.On(b.Broker, broker.DeliveryDroppedHook, func(_ context.Context, _ *broker.ClientInfo, _ broker.Message, r broker.DropReason) {
		drops <- r
	})
	props := &packets.Properties{MaximumPacketSize: u32p(64), ReceiveMaximum: u16p(1), SessionExpiry: u32p(600)}
	c := b.Dial(t, "small", append(v5Props(props), brokertest.WithManualAcks())...)
	c.Subscribe(t, "big/#", 1)
	other := b.Dial(t, "other", v5)
	other.Subscribe(t, "big/#", 1)
	before := b.Metrics()["messages/delivery_dropped"]

	large := string(bytes.Repeat([]byte("x"), 60))
	hostPublish(t, b, "big/1", large, 1)
	hostPublish(t, b, "big/2", "small", 1)
	// The large one was dropped, so the small one fits the Receive
	// Maximum of 1 without any PUBACK.
	p := expectMsg(t, c, "big/2", "small", 1)
	if p.PacketID != 1 {
		t.Errorf("packet id %d: the dropped message took one", p.PacketID)
	}
	if r := <-drops; r != broker.DropTooLarge {
		t.Fatalf("delivery.dropped reason %q, want too_large", r)
	}
	expectMsg(t, other, "big/1", large, 1)
	expectMsg(t, other, "big/2", "small", 1)
	c.Send(t, &packets.Puback{PacketID: p.PacketID})
	pingSync(t, c)

	// Queued while away, dropped on the way back.
	c.Drop()
	waitOffline(t, b, "small")
	hostPublish(t, b, "big/3", large, 1)
	hostPublish(t, b, "big/4", "small", 0)
	c = b.Dial(t, "small", append(v5Props(props), brokertest.WithCleanSession(false))...)
	expectMsg(t, c, "big/4", "small", 0)
	if r := <-drops; r != broker.DropTooLarge {
		t.Fatalf("delivery.dropped reason %q, want too_large", r)
	}
	if got := b.Metrics()["messages/delivery_dropped"] - before; got != 2 {
		t.Errorf("messages/delivery_dropped went up by %d, want 2", got)
	}
	c.ExpectNone(t, 20*time.Millisecond)
}

// TestV5MaximumPacketSizeInbound checks the broker's Maximum Packet Size: a
// larger packet closes the connection with 0x95 (§3.2.2.3.6) and the
// broker keeps serving others.
func TestV5MaximumPacketSizeInbound(t *testing.T) {
	b := brokertest.New(t, broker.Options{MaxPacketSize: 256})
	h := startHealthy(t, b)
	h.around(t, func() {
		c := b.Dial(t, "big", v5)
		c.Send(t, &packets.Publish{Topic: "t", Payload: bytes.Repeat([]byte("x"), 300)})
		if d := c.ExpectClosed(t); d == nil || d.ReasonCode != packets.PacketTooLarge {
			t.Fatalf("got DISCONNECT %+v, want 0x95", d)
		}
	})
}

// TestV5MessageExpiry checks the Message Expiry Interval: a message queued
// for an offline subscriber is dropped once it expires [MQTT-3.3.2-5], one
// that is still valid carries the interval minus the time it waited
// [MQTT-3.3.2-6], an immediate delivery keeps the interval, and a message
// without one never expires. It holds for 3.1.1 subscribers too, who get
// no property.
func TestV5MessageExpiry(t *testing.T) {
	for _, pl := range protoLevels[1:] {
		t.Run(pl.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := brokertest.New(t, broker.Options{})
				drops := make(chan broker.DropReason, 8)
				broker.On(b.Broker, broker.DeliveryDroppedHook, func(_ context.Context, _ *broker.ClientInfo, _ broker.Message, r broker.DropReason) {
					drops <- r
				})
				sub := b.Dial(t, "sub", persistentOpts(pl.v)...)
				sub.Subscribe(t, "exp/#", 1)
				pub := b.Dial(t, "pub", v5)
				publish := func(topic string, expiry *uint32) {
					pub.PublishPacket(t, &packets.Publish{Topic: topic, QoS: 1, Payload: []byte(topic),
						Properties: &packets.Properties{MessageExpiry: expiry}})
				}
				publish("exp/now", u32p(30))
				p := expectMsg(t, sub, "exp/now", "exp/now", 1)
				if pl.v == packets.Version5 && (p.Properties == nil || p.Properties.MessageExpiry == nil || *p.Properties.MessageExpiry != 30) {
					t.Fatalf("immediate delivery: properties %+v, want Message Expiry Interval 30", p.Properties)
				}
				sub.Disconnect(t)
				synctest.Wait()
				publish("exp/short", u32p(2))
				publish("exp/long", u32p(10))
				publish("exp/never", nil)
				time.Sleep(4 * time.Second)
				sub = b.Dial(t, "sub", persistentOpts(pl.v)...)
				p = expectMsg(t, sub, "exp/long", "exp/long", 1)
				if pl.v == packets.Version5 && (p.Properties == nil || p.Properties.MessageExpiry == nil || *p.Properties.MessageExpiry != 6) {
					t.Fatalf("after 4s: properties %+v, want Message Expiry Interval 6", p.Properties)
				}
				if pl.v != packets.Version5 && p.Properties != nil {
					t.Fatalf("3.1.1 PUBLISH with properties %+v", p.Properties)
				}
				p = expectMsg(t, sub, "exp/never", "exp/never", 1)
				if p.Properties != nil && p.Properties.MessageExpiry != nil {
					t.Fatalf("message without expiry got %d", *p.Properties.MessageExpiry)
				}
				select {
				case r := <-drops:
					if r != broker.DropExpired {
						t.Fatalf("delivery.dropped %q, want expired", r)
					}
				default:
					t.Fatal("no delivery.dropped for the expired message")
				}
				sub.ExpectNone(t, time.Second)
			})
		})
	}
}

// TestV5PublishProperties checks that the properties of a PUBLISH reach MQTT
// 5 subscribers unchanged: Payload Format Indicator [MQTT-3.3.2-4], Content
// Type, Response Topic [MQTT-3.3.2-15], Correlation Data [MQTT-3.3.2-16]
// and User Properties in order [MQTT-3.3.2-17], [MQTT-3.3.2-18]; that each
// subscriber gets the identifiers of its own matching subscriptions
// [MQTT-3.3.4-3]; that message.publish hooks see them; and that a 3.1.1
// subscriber gets a valid 3.1.1 PUBLISH of the same message.
func TestV5PublishProperties(t *testing.T) {
	seen := make(chan broker.Message, 1)
	b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
		broker.On(b, broker.MessagePublishHook, func(_ context.Context, m broker.Message) (broker.Message, broker.Flow) {
			if m.Topic == "props/x" {
				seen <- m
			}
			return m, broker.Continue
		})
	})
	s5 := b.Dial(t, "s5", v5)
	s5.SubscribeOpts(t, &packets.Properties{SubscriptionIDs: []uint32{11}}, packets.Subscription{Filter: "props/+", QoS: 1})
	s5.SubscribeOpts(t, &packets.Properties{SubscriptionIDs: []uint32{22}}, packets.Subscription{Filter: "props/#", QoS: 1})
	s5.SubscribeOpts(t, nil, packets.Subscription{Filter: "props/x", QoS: 1})
	other := b.Dial(t, "other", v5)
	other.SubscribeOpts(t, &packets.Properties{SubscriptionIDs: []uint32{33}}, packets.Subscription{Filter: "props/x", QoS: 1})
	s4 := b.Dial(t, "s4")
	s4.Subscribe(t, "props/#", 1)

	user := []packets.UserProperty{{Key: "z", Value: "1"}, {Key: "a", Value: "2"}, {Key: "z", Value: "3"}}
	props := &packets.Properties{PayloadFormat: bytep(1), ContentType: "text/plain", ResponseTopic: "reply/here",
		CorrelationData: []byte{0, 1, 2}, User: user}
	pub := b.Dial(t, "pub", v5)
	pub.PublishPacket(t, &packets.Publish{Topic: "props/x", QoS: 1, Payload: []byte("héllo"), Properties: props})

	check := func(c *brokertest.Client, ids []uint32) {
		t.Helper()
		p := expectMsg(t, c, "props/x", "héllo", 1)
		got := p.Properties
		if got == nil || got.PayloadFormat == nil || *got.PayloadFormat != 1 || got.ContentType != "text/plain" ||
			got.ResponseTopic != "reply/here" || !bytes.Equal(got.CorrelationData, []byte{0, 1, 2}) || !slices.Equal(got.User, user) {
			t.Fatalf("client %q: properties %+v, want %+v", c.ID, got, props)
		}
		gotIDs := slices.Clone(got.SubscriptionIDs)
		slices.Sort(gotIDs)
		if !slices.Equal(gotIDs, ids) {
			t.Fatalf("client %q: subscription identifiers %v, want %v", c.ID, got.SubscriptionIDs, ids)
		}
	}
	check(s5, []uint32{11, 22})
	check(other, []uint32{33})
	p := expectMsg(t, s4, "props/x", "héllo", 1)
	if p.Properties != nil {
		t.Fatalf("3.1.1 subscriber got properties %+v", p.Properties)
	}
	m := <-seen
	if m.Properties == nil || m.Properties.ContentType != "text/plain" || !slices.Equal(m.Properties.User, user) {
		t.Fatalf("message.publish saw properties %+v", m.Properties)
	}
}

// TestV5PayloadFormatInvalid checks that a PUBLISH whose Payload Format
// Indicator says UTF-8 but whose payload is not is refused with 0x99 and
// not routed (§3.3.2.3.2).
func TestV5PayloadFormatInvalid(t *testing.T) {
	b := brokertest.New(t, broker.Options{})
	sub := b.Dial(t, "sub", v5)
	sub.Subscribe(t, "pf", 1)
	pub := b.Dial(t, "pub", v5)
	for _, qos := range []byte{1, 2} {
		rc := pub.PublishPacket(t, &packets.Publish{Topic: "pf", QoS: qos, Payload: []byte{0xff, 0xfe}, Properties: &packets.Properties{PayloadFormat: bytep(1)}})
		if rc != packets.PayloadFormatInvalid {
			t.Fatalf("QoS %d: reason %v, want 0x99", qos, rc)
		}
	}
	pub.Publish(t, "pf", []byte{0xff}, 0, false) // no indicator: any bytes
	expectMsg(t, sub, "pf", "\xff", 0)
	sub.ExpectNone(t, 20*time.Millisecond)
}

// TestV5WillDelay checks the Will Delay Interval [MQTT-3.1.3-9]: the will
// waits for it, is not sent at all when the client resumes the session in
// time, is sent at once when the session ends first (Session Expiry
// Interval 0, shorter than the delay, or a clean start replacing it), and
// carries its will properties but not the delay.
func TestV5WillDelay(t *testing.T) {
	willProps := func(delay uint32) *packets.Properties {
		return &packets.Properties{WillDelay: u32p(delay), ContentType: "text/plain",
			User: []packets.UserProperty{{Key: "k", Value: "v"}}}
	}
	cases := []struct {
		name      string
		delay     uint32
		expiry    uint32
		reconnect func(b *brokertest.Broker, t *testing.T)
		after     time.Duration // when the will is due; negative = never
	}{
		{"delayed", 5, 60, nil, 5 * time.Second},
		{"session ends first", 5, 2, nil, 2 * time.Second},
		{"no session expiry", 5, 0, nil, 0}, // the session ends at once
		{"resumed in time", 5, 60, func(b *brokertest.Broker, t *testing.T) {
			b.Dial(t, "w", append(v5Props(&packets.Properties{SessionExpiry: u32p(60)}), brokertest.WithCleanSession(false))...)
		}, -1},
		{"clean start ends the session", 5, 60, func(b *brokertest.Broker, t *testing.T) {
			b.Dial(t, "w", v5)
		}, 3 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := brokertest.New(t, broker.Options{})
				watcher := b.Dial(t, "watcher", v5)
				watcher.Subscribe(t, "will/#", 1)
				c := b.Dial(t, "w", append(v5Props(&packets.Properties{SessionExpiry: u32p(tc.expiry)}),
					brokertest.WithWill("will/w", []byte("gone"), 1, false), brokertest.WithWillProperties(willProps(tc.delay)))...)
				start := time.Now()
				c.Drop()
				synctest.Wait()
				if tc.reconnect != nil {
					time.Sleep(3 * time.Second)
					tc.reconnect(b, t)
				}
				if tc.after < 0 {
					time.Sleep(time.Minute)
					watcher.ExpectNone(t, time.Second)
					return
				}
				if early := time.Until(start.Add(tc.after)) - time.Second; early > 0 {
					time.Sleep(early)
					watcher.ExpectNone(t, 900*time.Millisecond) // not yet
				}
				p := expectMsg(t, watcher, "will/w", "gone", 1)
				if got := time.Since(start); got != tc.after {
					t.Errorf("will after %v, want %v", got, tc.after)
				}
				if p.Properties == nil || p.Properties.ContentType != "text/plain" || len(p.Properties.User) != 1 || p.Properties.WillDelay != nil {
					t.Errorf("will properties %+v", p.Properties)
				}
				watcher.ExpectNone(t, time.Minute)
			})
		})
	}
}

// TestV5DisconnectReasons checks the reason codes of server-initiated
// DISCONNECTs and what client.disconnected receives: a *DisconnectError
// with the code the client was sent (session taken over 0x8E
// [MQTT-3.1.4-3], administrative action 0x98, keep alive timeout 0x8D),
// with FromClient for a client's DISCONNECT with a code other than 0x00
// (whose will is published [MQTT-3.1.2-10]), and nil for a normal one.
func TestV5DisconnectReasons(t *testing.T) {
	type ev struct {
		id     string
		reason error
	}
	evs := make(chan ev, 8)
	b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
		broker.On(b, broker.ClientDisconnectedHook, func(_ context.Context, c *broker.ClientInfo, reason error) {
			evs <- ev{c.ClientID, reason}
		})
	})
	watcher := b.Dial(t, "watcher", v5)
	watcher.Subscribe(t, "will/#", 0)
	// next returns the next client.disconnected of id; the connections of
	// earlier subtests close on their own meanwhile.
	next := func(id string) ev {
		for {
			if e := <-evs; e.id == id {
				return e
			}
		}
	}
	code := func(t *testing.T, id string, want packets.ReasonCode, fromClient bool) {
		t.Helper()
		e := next(id)
		var de *broker.DisconnectError
		if e.id != id || !errors.As(e.reason, &de) || de.Code != want || de.FromClient != fromClient {
			t.Fatalf("client.disconnected(%q, %v), want %q with code %v, FromClient %v", e.id, e.reason, id, want, fromClient)
		}
	}
	t.Run("takeover", func(t *testing.T) {
		c := b.Dial(t, "d1", v5)
		b.Dial(t, "d1", v5)
		if d := c.ExpectClosed(t); d == nil || d.ReasonCode != packets.SessionTakenOver {
			t.Fatalf("got %+v, want DISCONNECT 0x8E", d)
		}
		code(t, "d1", packets.SessionTakenOver, false)
	})
	t.Run("kick", func(t *testing.T) {
		c := b.Dial(t, "d2", v5)
		if err := b.Kick(context.Background(), "d2"); err != nil {
			t.Fatal(err)
		}
		if d := c.ExpectClosed(t); d == nil || d.ReasonCode != packets.AdministrativeAction {
			t.Fatalf("got %+v, want DISCONNECT 0x98", d)
		}
		code(t, "d2", packets.AdministrativeAction, false)
	})
	t.Run("3.1.1 kick", func(t *testing.T) {
		c := b.Dial(t, "d3")
		b.Kick(context.Background(), "d3")
		if d := c.ExpectClosed(t); d != nil {
			t.Fatalf("3.1.1 client got %+v", d)
		}
		code(t, "d3", packets.AdministrativeAction, false)
	})
	t.Run("client error code", func(t *testing.T) {
		c := b.Dial(t, "d4", v5, brokertest.WithWill("will/d4", []byte("w"), 0, false))
		c.Send(t, &packets.Disconnect{ReasonCode: packets.ImplementationSpecificError})
		c.ExpectClosed(t)
		code(t, "d4", packets.ImplementationSpecificError, true)
		expectMsg(t, watcher, "will/d4", "w", 0)
	})
	t.Run("normal", func(t *testing.T) {
		c := b.Dial(t, "d5", v5, brokertest.WithWill("will/d5", []byte("w"), 0, false))
		c.Disconnect(t)
		if e := next("d5"); e.reason != nil {
			t.Fatalf("client.disconnected(%q, %v), want nil", e.id, e.reason)
		}
		watcher.ExpectNone(t, 20*time.Millisecond)
	})
}

// TestV5QuotaExceeded checks Session.DisconnectOnQueueFull: a connected
// client whose queue overflows is disconnected with 0x97 and its session
// kept, with the newest messages.
func TestV5QuotaExceeded(t *testing.T) {
	b := brokertest.New(t, broker.Options{Session: broker.SessionOptions{MaxQueueLen: 2, DisconnectOnQueueFull: true}})
	opts := append(v5Props(&packets.Properties{ReceiveMaximum: u16p(1), SessionExpiry: u32p(60)}), brokertest.WithManualAcks())
	c := b.Dial(t, "slow", opts...)
	c.Subscribe(t, "q", 1)
	for i := range 4 {
		hostPublish(t, b, "q", string(rune('a'+i)), 1)
	}
	expectMsg(t, c, "q", "a", 1)
	if d := c.ExpectClosed(t); d == nil || d.ReasonCode != packets.QuotaExceeded {
		t.Fatalf("got DISCONNECT %+v, want 0x97", d)
	}
	c = b.Dial(t, "slow", append(opts, brokertest.WithCleanSession(false))...)
	if !c.Connack.SessionPresent {
		t.Fatal("session lost")
	}
	for _, want := range []string{"a", "c", "d"} {
		p := expectMsg(t, c, "q", want, 1)
		c.Send(t, &packets.Puback{PacketID: p.PacketID})
	}
}

// TestV5BadInput checks MQTT 5 protocol violations: each closes that one
// connection with the right reason code in a DISCONNECT (§4.13) while the
// broker keeps serving everyone else.
func TestV5BadInput(t *testing.T) {
	pubProps := func(props ...byte) func() []byte {
		return func() []byte {
			body := []byte{0, 1, 't'}
			body = append(body, byte(len(props)))
			body = append(body, props...)
			return withHeader(0x30, append(body, 'p'))
		}
	}
	encode := func(p packets.Packet) func() []byte {
		return func() []byte { b, _ := p.Append(nil, packets.Version5); return b }
	}
	cases := []struct {
		name string
		raw  func() []byte
		code packets.ReasonCode
	}{
		{"property repeated", pubProps(0x01, 1, 0x01, 1), packets.ProtocolError},
		{"unknown property", pubProps(0x05, 1), packets.MalformedPacket},
		{"property of another packet", pubProps(0x11, 0, 0, 0, 1), packets.MalformedPacket},
		{"user property truncated", pubProps(0x26, 0, 1, 'k'), packets.MalformedPacket},
		{"topic alias 0", pubProps(0x23, 0, 0), packets.TopicAliasInvalid},             // [MQTT-3.3.2-8]
		{"topic alias above maximum", pubProps(0x23, 0, 9), packets.TopicAliasInvalid}, // [MQTT-3.2.2-17]
		{"unknown topic alias", func() []byte {
			return withHeader(0x30, []byte{0, 0, 3, 0x23, 0, 1, 'p'})
		}, packets.ProtocolError},
		{"subscription identifier from a client", pubProps(0x0B, 5), packets.ProtocolError}, // [MQTT-3.3.4-6]
		{"two subscription identifiers in SUBSCRIBE", func() []byte {
			return withHeader(0x82, []byte{0, 1, 4, 0x0B, 1, 0x0B, 2, 0, 1, 'a', 1})
		}, packets.ProtocolError},
		{"no local on a shared subscription", encode(&packets.Subscribe{PacketID: 1, Subscriptions: []packets.Subscription{{Filter: "$share/g/a"}}}), 0},
		{"AUTH without enhanced authentication", encode(&packets.Auth{ReasonCode: packets.ReAuthenticate, Properties: &packets.Properties{AuthMethod: "x"}}), packets.ProtocolError},
		{"receive maximum exceeded", func() []byte {
			var out []byte
			for id := uint16(1); id <= 4; id++ {
				b, _ := (&packets.Publish{Topic: "t", QoS: 2, PacketID: id}).Append(nil, packets.Version5)
				out = append(out, b...)
			}
			return out
		}, packets.ReceiveMaximumExceeded},
	}
	b := brokertest.New(t, broker.Options{TopicAliasMaximum: 8, ReceiveMaximum: 3})
	h := startHealthy(t, b)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw := tc.raw()
			if tc.code == 0 { // SUBSCRIBE with No Local on $share [MQTT-3.8.3-4]
				raw[len(raw)-1] |= 0x04
				tc.code = packets.ProtocolError
			}
			h.around(t, func() {
				nc := b.Conn(t)
				bad := brokertest.NewClient(t, nc, "bad", v5)
				if code := bad.Connect(t); code != packets.Success {
					t.Fatalf("CONNECT: %v", code)
				}
				written := writeAsync(nc, raw)
				d := bad.ExpectClosed(t)
				if d == nil || d.ReasonCode != tc.code {
					t.Fatalf("got DISCONNECT %+v, want reason %v", d, tc.code)
				}
				<-written
			})
			pollUntil(t, "bad connection gone", func() bool {
				_, on := b.Client("bad")
				return !on
			})
		})
	}
}

// rounds is a toy EnhancedAuthenticator of method "ROUNDS": the client
// sends "hello", then answers each challenge "cN" with "rN"; after n rounds
// it is accepted with final data "ok". A client id "su" is a superuser.
type rounds struct{ n int }

func (rounds) AuthMethod() string { return "ROUNDS" }

func (r rounds) Start(_ context.Context, c *broker.ClientInfo, data []byte) (broker.AuthStep, error) {
	if string(data) != "hello" {
		return broker.AuthStep{Result: broker.AuthFail}, nil
	}
	var step func(i int) broker.AuthStep
	step = func(i int) broker.AuthStep {
		if i > r.n {
			c.Username = "rounds-user"
			return broker.AuthStep{Result: broker.AuthSuccess, Data: []byte("ok")}
		}
		return broker.AuthStep{Result: broker.AuthContinue, Data: []byte("c" + string(rune('0'+i))),
			Next: func(_ context.Context, data []byte) (broker.AuthStep, error) {
				if string(data) != "r"+string(rune('0'+i)) {
					return broker.AuthStep{}, errors.New("wrong answer")
				}
				return step(i + 1), nil
			}}
	}
	return step(1), nil
}

func (rounds) IsSuperuser(_ context.Context, c *broker.ClientInfo) (bool, error) {
	return c.ClientID == "su", nil
}

// TestV5EnhancedAuth checks the enhanced authentication exchange of §4.12
// with a multi-step authenticator: AUTH 0x18 challenges [MQTT-4.12.0-2]
// answered with AUTH 0x18 [MQTT-4.12.0-3], every packet with the method
// [MQTT-4.12.0-5], final data in the CONNACK; a wrong answer refuses with
// 0x87; the client.authenticate hooks fold over the outcome; the
// authenticator may mark superusers and set the user name; the password
// chain is not asked.
func TestV5EnhancedAuth(t *testing.T) {
	chainAsked := 0
	b := brokertest.New(t, broker.Options{DenyACLNoMatch: true}, func(b *broker.Broker) {
		b.RegisterEnhancedAuth(rounds{n: 2})
		b.RegisterAuth(broker.AuthFunc(func(context.Context, *broker.ClientInfo, []byte) (broker.Decision, error) {
			chainAsked++
			return broker.Deny, nil
		}))
		broker.On(b, broker.ClientAuthenticateHook, func(_ context.Context, c *broker.ClientInfo, d broker.Decision) (broker.Decision, broker.Flow) {
			if c.ClientID == "banned" {
				return broker.Deny, broker.Stop
			}
			return d, broker.Continue
		})
	})
	run := func(t *testing.T, id string, answers ...string) (*brokertest.Client, *packets.Connack) {
		t.Helper()
		c := brokertest.NewClient(t, b.Conn(t), id, v5)
		c.Send(t, &packets.Connect{ProtocolName: "MQTT", ProtocolVersion: packets.Version5, ClientID: id, CleanStart: true,
			Properties: &packets.Properties{AuthMethod: "ROUNDS", AuthData: []byte("hello")}})
		for i, a := range answers {
			p, ok := c.Next(t).(*packets.Auth)
			want := "c" + string(rune('1'+i))
			if !ok || p.ReasonCode != packets.ContinueAuthentication || p.Properties.AuthMethod != "ROUNDS" || string(p.Properties.AuthData) != want {
				t.Fatalf("round %d: got %+v, want AUTH 0x18 %q", i+1, p, want)
			}
			c.Send(t, &packets.Auth{ReasonCode: packets.ContinueAuthentication, Properties: &packets.Properties{AuthMethod: "ROUNDS", AuthData: []byte(a)}})
		}
		ack, ok := c.Next(t).(*packets.Connack)
		if !ok {
			t.Fatal("no CONNACK")
		}
		return c, ack
	}
	t.Run("accepted", func(t *testing.T) {
		_, ack := run(t, "su", "r1", "r2")
		if ack.ReasonCode != packets.Success || ack.Properties.AuthMethod != "ROUNDS" || string(ack.Properties.AuthData) != "ok" {
			t.Fatalf("CONNACK %v %+v", ack.ReasonCode, ack.Properties)
		}
		if info, _ := b.Client("su"); !info.Superuser || info.Username != "rounds-user" {
			t.Fatalf("ClientInfo %+v: want superuser rounds-user", info)
		}
	})
	t.Run("wrong answer", func(t *testing.T) {
		c, ack := run(t, "w", "r1", "r9")
		if ack.ReasonCode != packets.NotAuthorized {
			t.Fatalf("CONNACK %v, want 0x87", ack.ReasonCode)
		}
		c.ExpectClosed(t)
	})
	t.Run("hook denies", func(t *testing.T) {
		c, ack := run(t, "banned", "r1", "r2")
		if ack.ReasonCode != packets.NotAuthorized {
			t.Fatalf("CONNACK %v, want 0x87", ack.ReasonCode)
		}
		c.ExpectClosed(t)
	})
	t.Run("protocol errors after CONNACK", func(t *testing.T) {
		for _, p := range []*packets.Auth{
			{ReasonCode: packets.ContinueAuthentication, Properties: &packets.Properties{AuthMethod: "ROUNDS"}}, // none in progress
			{ReasonCode: packets.ReAuthenticate, Properties: &packets.Properties{AuthMethod: "OTHER"}},          // [MQTT-4.12.0-5]
			{ReasonCode: packets.Success, Properties: &packets.Properties{AuthMethod: "ROUNDS"}},                // not from a client
		} {
			c, _ := run(t, "pe", "r1", "r2")
			c.Send(t, p)
			if d := c.ExpectClosed(t); d == nil || d.ReasonCode != packets.ProtocolError {
				t.Fatalf("after AUTH %v %q: got %+v, want DISCONNECT 0x82", p.ReasonCode, p.Properties.AuthMethod, d)
			}
		}
	})
	t.Run("re-authentication", func(t *testing.T) {
		c, _ := run(t, "re", "r1", "r2")
		c.Send(t, &packets.Auth{ReasonCode: packets.ReAuthenticate, Properties: &packets.Properties{AuthMethod: "ROUNDS", AuthData: []byte("hello")}})
		for _, a := range []string{"r1", "r2"} {
			nextOf[*packets.Auth](t, c)
			c.Send(t, &packets.Auth{ReasonCode: packets.ContinueAuthentication, Properties: &packets.Properties{AuthMethod: "ROUNDS", AuthData: []byte(a)}})
		}
		if p := nextOf[*packets.Auth](t, c); p.ReasonCode != packets.Success || string(p.Properties.AuthData) != "ok" {
			t.Fatalf("got AUTH %v %+v, want 0x00 with \"ok\"", p.ReasonCode, p.Properties)
		}
		c.Send(t, &packets.Auth{ReasonCode: packets.ReAuthenticate, Properties: &packets.Properties{AuthMethod: "ROUNDS", AuthData: []byte("bye")}})
		if d := c.ExpectClosed(t); d == nil || d.ReasonCode != packets.NotAuthorized {
			t.Fatalf("failed re-authentication: got %+v, want DISCONNECT 0x87 [MQTT-4.12.1-2]", d)
		}
	})
	t.Run("unknown method", func(t *testing.T) {
		c, code := b.Connect(t, "u", v5, brokertest.WithProperties(&packets.Properties{AuthMethod: "NOPE"}))
		if code != packets.BadAuthenticationMethod {
			t.Fatalf("CONNACK %v, want 0x8C [MQTT-4.12.0-1]", code)
		}
		c.ExpectClosed(t)
	})
	if chainAsked != 0 {
		t.Errorf("the password chain was asked %d times", chainAsked)
	}
}
