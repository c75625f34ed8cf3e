package interop_test

// The Go client github.com/eclipse/paho.mqtt.golang over TCP, from the test
// itself. The other interop tests use it as the Go side of their exchanges.

import (
	"fmt"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// pahoClient is a connected paho.mqtt.golang client whose messages (from
// every subscription, which are made without their own handler) arrive on
// msgs.
type pahoClient struct {
	mqtt.Client
	id             string
	sessionPresent bool
	msgs           chan mqtt.Message
	lost           chan error // ConnectionLost, once

	mu   sync.Mutex
	conn net.Conn // the TCP connection, for an abrupt close
}

// newPaho connects an MQTT 3.1.1 client with a clean session, no
// automatic reconnection, and the options configure sets. At cleanup it
// disconnects if still connected.
func newPaho(t *testing.T, s *server, id string, configure ...func(*mqtt.ClientOptions)) *pahoClient {
	t.Helper()
	c := &pahoClient{id: id, msgs: make(chan mqtt.Message, 100), lost: make(chan error, 1)}
	o := mqtt.NewClientOptions().
		AddBroker("tcp://" + s.TCP).
		SetClientID(id).
		SetProtocolVersion(4).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetConnectTimeout(5 * time.Second).
		SetWriteTimeout(5 * time.Second).
		SetKeepAlive(30 * time.Second).
		SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) { c.msgs <- m }).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			select {
			case c.lost <- err:
			default:
			}
		}).
		SetCustomOpenConnectionFn(func(u *url.URL, _ mqtt.ClientOptions) (net.Conn, error) {
			nc, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
			if err != nil {
				return nil, err
			}
			c.mu.Lock()
			c.conn = nc
			c.mu.Unlock()
			return nc, nil
		})
	for _, f := range configure {
		f(o)
	}
	c.Client = mqtt.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		t.Fatalf("paho %s: no CONNACK within 10s", id)
	}
	if err := tok.Error(); err != nil {
		t.Fatalf("paho %s: connect: %v", id, err)
	}
	c.sessionPresent = tok.(*mqtt.ConnectToken).SessionPresent()
	t.Cleanup(func() {
		if c.IsConnectionOpen() {
			c.Disconnect(100)
		}
	})
	return c
}

func persistent(o *mqtt.ClientOptions) { o.SetCleanSession(false) }

// sub subscribes to filter at qos and checks the granted QoS.
func (c *pahoClient) sub(t *testing.T, filter string, qos byte) {
	t.Helper()
	tok := c.Subscribe(filter, qos, nil)
	if !tok.WaitTimeout(10 * time.Second) {
		t.Fatalf("paho %s: no SUBACK for %s within 10s", c.id, filter)
	}
	if err := tok.Error(); err != nil {
		t.Fatalf("paho %s: subscribe %s: %v", c.id, filter, err)
	}
	if got := tok.(*mqtt.SubscribeToken).Result()[filter]; got != qos {
		t.Fatalf("paho %s: subscribe %s at QoS %d: granted %d", c.id, filter, qos, got)
	}
}

// pub publishes and waits until the exchange for its QoS is complete.
func (c *pahoClient) pub(t *testing.T, topic string, qos byte, retain bool, payload string) {
	t.Helper()
	tok := c.Publish(topic, qos, retain, payload)
	if !tok.WaitTimeout(10 * time.Second) {
		t.Fatalf("paho %s: publish %s at QoS %d not acknowledged within 10s", c.id, topic, qos)
	}
	if err := tok.Error(); err != nil {
		t.Fatalf("paho %s: publish %s: %v", c.id, topic, err)
	}
}

// expect returns the next message the client receives.
func (c *pahoClient) expect(t *testing.T) mqtt.Message {
	t.Helper()
	select {
	case m := <-c.msgs:
		return m
	case <-time.After(10 * time.Second):
		t.Fatalf("paho %s: no message within 10s", c.id)
		return nil
	}
}

// closeRaw closes the TCP connection without DISCONNECT.
func (c *pahoClient) closeRaw(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	nc := c.conn
	c.mu.Unlock()
	if nc == nil {
		t.Fatalf("paho %s: no connection", c.id)
	}
	nc.Close()
}

// checkMsg checks a received message's topic, payload, QoS and retain flag.
func checkMsg(t *testing.T, who string, m mqtt.Message, topic, payload string, qos byte, retained bool) {
	t.Helper()
	if m.Topic() != topic || string(m.Payload()) != payload || m.Qos() != qos || m.Retained() != retained {
		t.Errorf("%s received %s %q QoS %d retain %v; want %s %q QoS %d retain %v",
			who, m.Topic(), m.Payload(), m.Qos(), m.Retained(), topic, payload, qos, retained)
	}
}

func TestPahoGo(t *testing.T) {
	t.Parallel()
	s := startEmqd(t)

	// Every pairing of publish QoS and subscription QoS: the message
	// arrives at the lower of the two [MQTT-3.8.4-6].
	t.Run("qos", func(t *testing.T) {
		t.Parallel()
		var subs [3]*pahoClient
		for q := range subs {
			subs[q] = newPaho(t, s, fmt.Sprintf("go-qos-sub%d", q))
			subs[q].sub(t, "go/qos/+", byte(q))
		}
		pub := newPaho(t, s, "go-qos-pub")
		for p := range 3 {
			pub.pub(t, fmt.Sprintf("go/qos/p%d", p), byte(p), false, fmt.Sprintf("payload at QoS %d", p))
		}
		for q, c := range subs {
			got := map[string]mqtt.Message{}
			for range 3 {
				m := c.expect(t)
				got[m.Topic()] = m
			}
			for p := range 3 {
				topic := fmt.Sprintf("go/qos/p%d", p)
				m, ok := got[topic]
				if !ok {
					t.Errorf("subscriber at QoS %d: no message on %s", q, topic)
					continue
				}
				checkMsg(t, c.id, m, topic, fmt.Sprintf("payload at QoS %d", p), byte(min(p, q)), false)
			}
		}
	})

	t.Run("retained", func(t *testing.T) {
		t.Parallel()
		pub := newPaho(t, s, "go-ret-pub")
		pub.pub(t, "go/ret/lamp", 1, true, "on")

		a := newPaho(t, s, "go-ret-a")
		a.sub(t, "go/ret/#", 1)
		checkMsg(t, a.id, a.expect(t), "go/ret/lamp", "on", 1, true)

		// An empty retained message clears it [MQTT-3.3.1-10], and goes to
		// the established subscription with RETAIN 0 [MQTT-3.3.1-9]...
		pub.pub(t, "go/ret/lamp", 1, true, "")
		checkMsg(t, a.id, a.expect(t), "go/ret/lamp", "", 1, false)

		// ... so a later subscriber's first message is a live one.
		b := newPaho(t, s, "go-ret-b")
		b.sub(t, "go/ret/#", 1)
		pub.pub(t, "go/ret/lamp", 1, false, "live")
		checkMsg(t, b.id, b.expect(t), "go/ret/lamp", "live", 1, false)
	})

	t.Run("will", func(t *testing.T) {
		t.Parallel()
		w := newPaho(t, s, "go-will-watcher")
		w.sub(t, "go/will/#", 1)
		v := newPaho(t, s, "go-willer", func(o *mqtt.ClientOptions) { o.SetWill("go/will/gone", "bye", 1, false) })
		v.closeRaw(t)
		checkMsg(t, w.id, w.expect(t), "go/will/gone", "bye", 1, false)
	})

	// A persistent session keeps its subscriptions and queues QoS 1 and 2
	// messages while the client is away; the client resumes it without
	// subscribing again.
	t.Run("session", func(t *testing.T) {
		t.Parallel()
		c := newPaho(t, s, "go-session", persistent)
		if c.sessionPresent {
			t.Errorf("first connect: session present")
		}
		c.sub(t, "go/session/#", 2)
		c.Disconnect(250)

		pub := newPaho(t, s, "go-session-pub")
		pub.pub(t, "go/session/q1", 1, false, "one")
		pub.pub(t, "go/session/q2", 2, false, "two")

		r := newPaho(t, s, "go-session", persistent)
		if !r.sessionPresent {
			t.Errorf("resume: CONNACK session present = 0")
		}
		got := map[string]mqtt.Message{}
		for range 2 {
			m := r.expect(t)
			got[m.Topic()] = m
		}
		for _, w := range []struct {
			topic, payload string
			qos            byte
		}{{"go/session/q1", "one", 1}, {"go/session/q2", "two", 2}} {
			if m, ok := got[w.topic]; !ok {
				t.Errorf("resume: no message on %s; got %v", w.topic, got)
			} else {
				checkMsg(t, r.id, m, w.topic, w.payload, w.qos, false)
			}
		}
	})

	// A second connection with the same client id takes over the first,
	// which the broker disconnects [MQTT-3.1.4-2].
	t.Run("takeover", func(t *testing.T) {
		t.Parallel()
		a := newPaho(t, s, "go-takeover")
		b := newPaho(t, s, "go-takeover")
		select {
		case err := <-a.lost:
			t.Logf("first client's connection lost: %v", err)
		case <-time.After(10 * time.Second):
			t.Fatalf("first client still connected 10s after the takeover")
		}
		b.sub(t, "go/takeover", 1)
		b.pub(t, "go/takeover", 1, false, "still here")
		checkMsg(t, b.id, b.expect(t), "go/takeover", "still here", 1, false)
	})

	// The same with clean session off: the second connection resumes the
	// session, subscriptions included [MQTT-3.2.2-2].
	t.Run("takeover persistent", func(t *testing.T) {
		t.Parallel()
		a := newPaho(t, s, "go-takeover-p", persistent)
		a.sub(t, "go/takeover-p", 1)
		b := newPaho(t, s, "go-takeover-p", persistent)
		select {
		case <-a.lost:
		case <-time.After(10 * time.Second):
			t.Fatalf("first client still connected 10s after the takeover")
		}
		if !b.sessionPresent {
			t.Errorf("second connection: CONNACK session present = 0, want 1")
		}
		b.pub(t, "go/takeover-p", 1, false, "kept subscription")
		checkMsg(t, b.id, b.expect(t), "go/takeover-p", "kept subscription", 1, false)
	})
}
