package broker_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/brokertest"
	"github.com/emqgo/broker/packets"
)

// This file sends bad input to a live broker. Each case runs next to a
// healthy subscriber and publisher that must keep working and lose
// nothing, and must close only the offending connection.

// healthyPair is a QoS 1 subscriber and a publisher that stay connected
// while a test misbehaves on other connections.
type healthyPair struct {
	b    *brokertest.Broker
	sub  *brokertest.Client
	pub  *brokertest.Client
	next int
}

func startHealthy(t testing.TB, b *brokertest.Broker) *healthyPair {
	t.Helper()
	sub := b.Dial(t, "healthy-sub", brokertest.WithVersion(packets.Version5))
	sub.Subscribe(t, "health/seq", 1)
	pub := b.Dial(t, "healthy-pub")
	return &healthyPair{b: b, sub: sub, pub: pub}
}

// around runs f while the host publishes a stream of numbered QoS 1
// messages, then publishes one more from the healthy client, and checks
// that the subscriber got every one of them, in order, once.
func (h *healthyPair) around(t testing.TB, f func()) {
	t.Helper()
	const n = 20
	start := h.next
	h.next += n
	errc := make(chan error, 1)
	go func() {
		for i := range n {
			m := broker.Message{Topic: "health/seq", Payload: []byte(strconv.Itoa(start + i)), QoS: 1}
			if err := h.b.Publish(context.Background(), m); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	f()
	if err := <-errc; err != nil {
		t.Fatalf("host publish: %v", err)
	}
	h.pub.Publish(t, "health/seq", []byte(strconv.Itoa(h.next)), 1, false)
	h.next++
	for i := start; i < h.next; i++ {
		expectMsg(t, h.sub, "health/seq", strconv.Itoa(i), 1)
	}
	h.sub.ExpectNone(t, 5*time.Millisecond)
	for _, id := range []string{"healthy-sub", "healthy-pub"} {
		if _, on := h.b.Client(id); !on {
			t.Fatalf("%s was disconnected", id)
		}
	}
}

// writeAsync writes p to nc on its own goroutine: the broker may stop
// reading, or close the connection, in the middle. The returned channel is
// closed when the write ends, whatever its result.
func writeAsync(nc net.Conn, p []byte) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
		nc.Write(p)
	}()
	return done
}

// rawPublish encodes a PUBLISH by hand, so that the topic may be invalid.
func rawPublish(first byte, topic []byte, id uint16, v5 bool, payload []byte) []byte {
	body := []byte{byte(len(topic) >> 8), byte(len(topic))}
	body = append(body, topic...)
	if first&0x06 != 0 {
		body = append(body, byte(id>>8), byte(id))
	}
	if v5 {
		body = append(body, 0) // no properties
	}
	body = append(body, payload...)
	return withHeader(first, body)
}

// withHeader prefixes body with a fixed header.
func withHeader(first byte, body []byte) []byte {
	out := []byte{first}
	n := len(body)
	for {
		b := byte(n & 0x7F)
		n >>= 7
		if n > 0 {
			b |= 0x80
		}
		out = append(out, b)
		if n == 0 {
			break
		}
	}
	return append(out, body...)
}

func mustEncode(t testing.TB, p packets.Packet, v byte) []byte {
	t.Helper()
	b, err := p.Append(nil, v)
	if err != nil {
		t.Fatalf("encode %v: %v", p.Type(), err)
	}
	return b
}

// rawConnect encodes a CONNECT with any protocol name and level.
func rawConnect(name string, level byte, clientID string) []byte {
	body := []byte{0, byte(len(name))}
	body = append(body, name...)
	body = append(body, level, 0x02, 0, 60) // clean session, keep alive 60
	if level == packets.Version5 {
		body = append(body, 0)
	}
	body = append(body, 0, byte(len(clientID)))
	body = append(body, clientID...)
	return withHeader(0x10, body)
}

// TestBadInput sends one kind of bad input per case and checks that the
// broker closes that connection (MQTT 5 clients first get a DISCONNECT with
// the reason) while the healthy pair keeps working.
func TestBadInput(t *testing.T) {
	type badCase struct {
		name string
		// v is the protocol level of the bad client's CONNECT; connect
		// says whether it connects before sending raw.
		v       byte
		connect bool
		raw     func(t testing.TB) []byte
		// hangUp closes the connection right after writing.
		hangUp bool
		opts   broker.Options
		// connack is the return code of a CONNACK expected before the
		// close; -1 for none.
		connack int
		// v5Code is the DISCONNECT reason a connected MQTT 5 client gets.
		v5Code packets.ReasonCode
		// malformed says packets/malformed must grow.
		malformed bool
	}
	bytesOf := func(b ...byte) func(testing.TB) []byte { return func(testing.TB) []byte { return b } }
	var cases []badCase
	// Before CONNECT.
	cases = append(cases,
		badCase{name: "garbage first packet", raw: bytesOf(0x00, 0x02, 0xde, 0xad), connack: -1, malformed: true},
		badCase{name: "HTTP request", raw: func(testing.TB) []byte {
			return []byte("GET /mqtt HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n")
		}, connack: -1, malformed: true},
		// [MQTT-3.1.0-1]: the first packet must be CONNECT.
		badCase{name: "PUBLISH before CONNECT", raw: func(t testing.TB) []byte {
			return mustEncode(t, &packets.Publish{Topic: "health/seq", Payload: []byte("x")}, packets.Version311)
		}, connack: -1},
		badCase{name: "PINGREQ before CONNECT", raw: bytesOf(0xC0, 0x00), connack: -1},
		// [MQTT-3.1.2-2]: unsupported level gets CONNACK 0x01, then close.
		badCase{name: "protocol level 6", raw: func(testing.TB) []byte { return rawConnect("MQTT", 6, "bad") }, connack: 1, malformed: true},
		badCase{name: "protocol level 2", raw: func(testing.TB) []byte { return rawConnect("MQTT", 2, "bad") }, connack: 1, malformed: true},
		badCase{name: "MQIsdp level 4", raw: func(testing.TB) []byte { return rawConnect("MQIsdp", 4, "bad") }, connack: 1, malformed: true},
		// [MQTT-3.1.2-1]: an unknown protocol name may be closed at once.
		badCase{name: "protocol name MQTX", raw: func(testing.TB) []byte { return rawConnect("MQTX", 4, "bad") }, connack: -1, malformed: true},
		// [MQTT-3.1.2-3]: the reserved CONNECT flag must be 0.
		badCase{name: "CONNECT reserved flag", raw: func(testing.TB) []byte {
			b := rawConnect("MQTT", 4, "bad")
			b[9] |= 0x01
			return b
		}, connack: -1, malformed: true},
		badCase{name: "CONNECT flags nibble", raw: func(testing.TB) []byte {
			b := rawConnect("MQTT", 4, "bad")
			b[0] = 0x12 // [MQTT-2.2.2-2]
			return b
		}, connack: -1, malformed: true},
		badCase{name: "oversize CONNECT", opts: broker.Options{MaxPacketSize: 256}, raw: func(testing.TB) []byte {
			return rawConnect("MQTT", 4, strings.Repeat("x", 300))
		}, connack: -1, malformed: true},
		badCase{name: "truncated CONNECT", raw: func(testing.TB) []byte { return rawConnect("MQTT", 4, "bad")[:7] }, hangUp: true, connack: -1},
		// Options.ConnectTimeout: nothing, or half a CONNECT, then silence.
		badCase{name: "CONNECT timeout", opts: broker.Options{ConnectTimeout: 100 * time.Millisecond}, raw: bytesOf(), connack: -1},
		badCase{name: "CONNECT timeout partial", opts: broker.Options{ConnectTimeout: 100 * time.Millisecond},
			raw: func(testing.TB) []byte { return rawConnect("MQTT", 4, "bad")[:5] }, connack: -1},
	)
	// After CONNECT, for 3.1.1 and 5.0.
	for _, v := range []byte{packets.Version311, packets.Version5} {
		v5 := v == packets.Version5
		tag := map[bool]string{false: "3.1.1/", true: "5.0/"}[v5]
		c := func(name string, raw func(testing.TB) []byte, code packets.ReasonCode, malformed bool) badCase {
			return badCase{name: tag + name, v: v, connect: true, raw: raw, connack: -1, v5Code: code, malformed: malformed}
		}
		big := make([]byte, 2000)
		cases = append(cases,
			c("garbage", bytesOf(0x00, 0x00), packets.MalformedPacket, true),
			c("garbage long", bytesOf(0xde, 0xad, 0xbe, 0xef, 0x00, 0x11, 0x22, 0x33, 0x44), packets.MalformedPacket, true),
			// [MQTT-3.1.0-2]: a second CONNECT is a protocol violation.
			c("second CONNECT", func(t testing.TB) []byte {
				return mustEncode(t, &packets.Connect{ProtocolVersion: v, CleanStart: true, ClientID: "bad"}, v)
			}, packets.ProtocolError, false),
			// [MQTT-1.5.5-1]: at most four bytes, minimally encoded.
			c("remaining length 5 bytes", bytesOf(0x30, 0xff, 0xff, 0xff, 0xff, 0x01), packets.MalformedPacket, true),
			c("remaining length not minimal", bytesOf(0xC0, 0x80, 0x00), packets.MalformedPacket, true),
			c("bytes past the body", bytesOf(0xC0, 0x01, 0x00), packets.MalformedPacket, true),
			// [MQTT-1.5.3-1], [MQTT-1.5.3-2]: topic names are well-formed UTF-8 without U+0000.
			c("invalid UTF-8 topic", func(testing.TB) []byte {
				return rawPublish(0x30, []byte{'a', 0xC3, 0x28}, 0, v5, []byte("p"))
			}, packets.MalformedPacket, true),
			c("U+0000 in topic", func(testing.TB) []byte {
				return rawPublish(0x32, []byte{'a', 0, 'b'}, 1, v5, []byte("p"))
			}, packets.MalformedPacket, true),
			c("surrogate in topic", func(testing.TB) []byte {
				return rawPublish(0x30, []byte{'a', 0xED, 0xA0, 0x80}, 0, v5, nil)
			}, packets.MalformedPacket, true),
			// [MQTT-3.3.2-2]: no wildcards in a topic name.
			c("wildcard + in PUBLISH", func(testing.TB) []byte {
				return rawPublish(0x30, []byte("health/+"), 0, v5, []byte("p"))
			}, packets.TopicNameInvalid, true),
			c("wildcard # in PUBLISH", func(testing.TB) []byte {
				return rawPublish(0x32, []byte("#"), 1, v5, []byte("p"))
			}, packets.TopicNameInvalid, true),
			// [MQTT-4.7.3-1]: topic names are at least one character (v5
			// allows empty only with a Topic Alias).
			c("empty topic", func(testing.TB) []byte {
				return rawPublish(0x30, nil, 0, v5, []byte("p"))
			}, map[bool]packets.ReasonCode{false: packets.TopicNameInvalid, true: packets.ProtocolError}[v5], true),
			// [MQTT-2.2.2-2], [MQTT-3.3.1-4], [MQTT-3.3.1-2], [MQTT-3.8.1-1].
			c("SUBSCRIBE flags 0000", func(t testing.TB) []byte {
				b := mustEncode(t, &packets.Subscribe{PacketID: 1, Subscriptions: []packets.Subscription{{Filter: "a"}}}, v)
				b[0] = 0x80
				return b
			}, packets.MalformedPacket, true),
			c("PUBLISH QoS 3", func(testing.TB) []byte { return rawPublish(0x36, []byte("a"), 1, v5, nil) }, packets.MalformedPacket, true),
			c("DUP on QoS 0", func(testing.TB) []byte { return rawPublish(0x38, []byte("a"), 0, v5, nil) }, packets.MalformedPacket, true),
			c("PINGREQ flags", bytesOf(0xC1, 0x00), packets.MalformedPacket, true),
			c("PUBREL flags", bytesOf(0x60, 0x02, 0x00, 0x01), packets.MalformedPacket, true),
			// [MQTT-2.3.1-1]: QoS > 0 needs a non-zero packet identifier.
			c("packet id 0", func(testing.TB) []byte { return rawPublish(0x32, []byte("a"), 0, v5, nil) }, packets.ProtocolError, true),
			// [MQTT-3.8.3-3]: SUBSCRIBE carries at least one filter.
			c("empty SUBSCRIBE", func(testing.TB) []byte {
				if v5 {
					return []byte{0x82, 0x03, 0x00, 0x01, 0x00}
				}
				return []byte{0x82, 0x02, 0x00, 0x01}
			}, packets.ProtocolError, true),
			// A packet only a server sends.
			c("CONNACK from client", func(t testing.TB) []byte {
				return mustEncode(t, &packets.Connack{}, v)
			}, packets.ProtocolError, false),
			c("SUBACK from client", func(t testing.TB) []byte {
				return mustEncode(t, &packets.Suback{PacketID: 1, ReasonCodes: []packets.ReasonCode{0}}, v)
			}, packets.ProtocolError, false),
			// MaxPacketSize: the broker stops reading (v5: DISCONNECT 0x95).
			badCase{name: tag + "oversize PUBLISH", v: v, connect: true, opts: broker.Options{MaxPacketSize: 1024},
				raw: func(t testing.TB) []byte {
					return mustEncode(t, &packets.Publish{Topic: "health/seq", Payload: big, QoS: 1, PacketID: 1}, v)
				}, connack: -1, v5Code: packets.PacketTooLarge, malformed: true},
			badCase{name: tag + "truncated PUBLISH then close", v: v, connect: true, hangUp: true, connack: -1,
				raw: func(t testing.TB) []byte {
					b := mustEncode(t, &packets.Publish{Topic: "health/seq", Payload: []byte("never"), QoS: 1, PacketID: 1}, v)
					return b[:len(b)/2]
				}},
		)
		if !v5 {
			// AUTH (type 15) is reserved before MQTT 5.
			cases = append(cases, c("AUTH in 3.1.1", bytesOf(0xF0, 0x00), 0, true))
		}
	}

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := brokertest.New(t, tc.opts)
			h := startHealthy(t, b)
			before := b.Metrics()["packets/malformed"]
			opts := []brokertest.ClientOption{}
			if tc.v != 0 {
				opts = append(opts, brokertest.WithVersion(tc.v))
			}
			h.around(t, func() {
				nc := b.Conn(t)
				bad := brokertest.NewClient(t, nc, "bad", opts...)
				if tc.connect {
					if code := bad.Connect(t); code != packets.Success {
						t.Fatalf("CONNECT: %v", code)
					}
				}
				written := writeAsync(nc, tc.raw(t))
				if tc.hangUp {
					<-written
					bad.Drop()
					return
				}
				if tc.connack >= 0 {
					ack := nextOf[*packets.Connack](t, bad)
					if int(ack.ReasonCode) != tc.connack || ack.SessionPresent {
						t.Fatalf("CONNACK %+v, want return code %d", ack, tc.connack)
					}
				}
				d := bad.ExpectClosed(t)
				switch {
				case tc.connect && tc.v == packets.Version5:
					if d == nil || d.ReasonCode != tc.v5Code {
						t.Fatalf("got DISCONNECT %+v, want reason %v", d, tc.v5Code)
					}
				case d != nil:
					t.Fatalf("got DISCONNECT %+v from a non-MQTT 5 connection", d)
				}
				<-written
			})
			pollUntil(t, "bad connection gone", func() bool {
				_, on := b.Client("bad")
				return !on && b.Stats()["clients/count"] == 2
			})
			after := b.Metrics()["packets/malformed"]
			if tc.malformed && after <= before {
				t.Errorf("packets/malformed stayed at %d", after)
			}
			if !tc.malformed && after != before {
				t.Errorf("packets/malformed went from %d to %d", before, after)
			}
		})
	}
}

// TestBadInputUnsupportedLevelConnack checks the exact bytes of the CONNACK
// refusing an unsupported protocol level: the 3.1.1 form, return code 1
// [MQTT-3.1.2-2].
func TestBadInputUnsupportedLevelConnack(t *testing.T) {
	b := brokertest.New(t, broker.Options{})
	nc := b.Conn(t)
	written := writeAsync(nc, rawConnect("MQTT", 6, "bad"))
	nc.SetReadDeadline(time.Now().Add(brokertest.Timeout))
	buf := make([]byte, 16)
	n, _ := readFullish(nc, buf)
	if got := fmt.Sprintf("% x", buf[:n]); got != "20 02 00 01" {
		t.Fatalf("got % x, want CONNACK 20 02 00 01 and close", buf[:n])
	}
	<-written
}

// readFullish reads until EOF or error and returns what it got.
func readFullish(nc net.Conn, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := nc.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// TestBadInputWillOnProtocolError checks that closing a connection for a
// protocol error publishes its will (MQTT 3.1.1 §3.1.2.5).
func TestBadInputWillOnProtocolError(t *testing.T) {
	b := brokertest.New(t, broker.Options{})
	h := startHealthy(t, b)
	w := b.Dial(t, "watcher")
	w.Subscribe(t, "will/#", 1)
	h.around(t, func() {
		nc := b.Conn(t)
		bad := brokertest.NewClient(t, nc, "bad", brokertest.WithWill("will/bad", []byte("bye"), 1, false))
		bad.Connect(t)
		written := writeAsync(nc, []byte{0x00, 0x00})
		bad.ExpectClosed(t)
		<-written
	})
	expectMsg(t, w, "will/bad", "bye", 1)
}

// TestBadInputFuzz sends about 200 random byte strings, each on its own
// connection after a valid CONNECT, with a fixed seed, and checks that the
// broker keeps serving the healthy pair and leaks no connection.
func TestBadInputFuzz(t *testing.T) {
	b := brokertest.New(t, broker.Options{MaxPacketSize: 4096})
	h := startHealthy(t, b)
	rng := rand.New(rand.NewPCG(20260101, 7))
	versions := []byte{packets.Version31, packets.Version311, packets.Version5}
	const rounds, perRound = 10, 20
	for r := range rounds {
		h.around(t, func() {
			for i := range perRound {
				n := r*perRound + i
				v := versions[n%len(versions)]
				nc := b.Conn(t)
				c := brokertest.NewClient(t, nc, fmt.Sprintf("fuzz-%d", n), brokertest.WithVersion(v))
				if code := c.Connect(t); code != packets.Success {
					t.Fatalf("fuzz-%d: CONNECT: %v", n, code)
				}
				data := fuzzBytes(rng, v)
				select {
				case <-writeAsync(nc, data):
				case <-time.After(5 * time.Second):
					t.Fatalf("fuzz-%d: write of % x hung", n, data)
				}
				c.Drop()
			}
		})
	}
	pollUntil(t, "fuzz connections gone", func() bool {
		n := 0
		for range b.Clients() {
			n++
		}
		return n == 2 && b.Stats()["clients/count"] == 2
	})
	// New clients still connect and talk.
	c := b.Dial(t, "after", brokertest.WithVersion(packets.Version5))
	c.Subscribe(t, "after", 2)
	c.Publish(t, "after", []byte("ok"), 2, false)
	expectMsg(t, c, "after", "ok", 2)
	t.Logf("packets/malformed = %d", b.Metrics()["packets/malformed"])
}

// fuzzBytes returns random input: raw noise, or one to three packets with a
// random type and flags, a correct remaining length and a random body that
// often starts like a topic string.
func fuzzBytes(rng *rand.Rand, v byte) []byte {
	if rng.IntN(4) == 0 {
		b := make([]byte, 1+rng.IntN(64))
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		return b
	}
	var out []byte
	for range 1 + rng.IntN(3) {
		typ := byte(1 + rng.IntN(15))
		flags := byte(0)
		switch {
		case typ == 3:
			flags = byte(rng.IntN(16))
		case typ == 6 || typ == 8 || typ == 10:
			flags = 2
		}
		if rng.IntN(5) == 0 {
			flags = byte(rng.IntN(16))
		}
		var body []byte
		if rng.IntN(2) == 0 {
			// Something like a packet id or a string length, then text.
			topics := []string{"a", "a/b", "health", "$SYS/x", "+", "#", "a/#", "\xff", "\x00", "$share/g/a"}
			s := topics[rng.IntN(len(topics))]
			if typ == 8 || typ == 10 || typ == 4 || typ == 5 || typ == 6 || typ == 7 {
				body = append(body, 0, byte(1+rng.IntN(9)))
				if v == packets.Version5 && rng.IntN(2) == 0 {
					body = append(body, 0)
				}
			}
			body = append(body, 0, byte(len(s)))
			body = append(body, s...)
		}
		for range rng.IntN(24) {
			body = append(body, byte(rng.UintN(256)))
		}
		out = append(out, withHeader(typ<<4|flags, body)...)
	}
	return out
}
