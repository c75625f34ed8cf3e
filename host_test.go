package broker_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/brokertest"
	"github.com/emqgo/broker/packets"
)

// nextDelivery waits for the next delivery of a Session opened with Connect.
func nextDelivery(t *testing.T, ch <-chan broker.Delivery) broker.Delivery {
	t.Helper()
	select {
	case d, ok := <-ch:
		if !ok {
			t.Fatalf("deliveries channel closed")
		}
		return d
	case <-time.After(brokertest.Timeout):
		t.Fatalf("no delivery within %v", brokertest.Timeout)
	}
	return broker.Delivery{}
}

// expectDeliveriesClosed waits for ch to be closed, draining it.
func expectDeliveriesClosed(t *testing.T, ch <-chan broker.Delivery) {
	t.Helper()
	timer := time.NewTimer(brokertest.Timeout)
	defer timer.Stop()
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timer.C:
			t.Fatalf("deliveries channel still open after %v", brokertest.Timeout)
		}
	}
}

// pingSync makes a PINGREQ round trip: everything the broker did for the
// client's earlier packets is done when it returns.
func pingSync(t *testing.T, c *brokertest.Client) {
	t.Helper()
	c.Send(t, &packets.Pingreq{})
	if p, ok := c.Next(t).(*packets.Pingresp); !ok {
		t.Fatalf("got %T, want PINGRESP", p)
	}
}

// denyPublishTo is an ACL that refuses publishes to one topic.
func denyPublishTo(name string) broker.Authorizer {
	return broker.ACLFunc(func(_ context.Context, _ *broker.ClientInfo, a broker.Access, topic string) (broker.Decision, error) {
		if a == broker.AccessPublish && topic == name {
			return broker.Deny, nil
		}
		return broker.Ignore, nil
	})
}

func TestHostPublish(t *testing.T) {
	seen := newEvlog[broker.Message]()
	b := brokertest.New(t, broker.Options{DenyACLNoMatch: true}, func(b *broker.Broker) {
		// Clients may subscribe, nobody may publish: the host is not asked.
		b.RegisterACL(broker.ACLFunc(func(_ context.Context, _ *broker.ClientInfo, a broker.Access, _ string) (broker.Decision, error) {
			if a == broker.AccessSubscribe {
				return broker.Allow, nil
			}
			return broker.Deny, nil
		}))
		broker.On(b, broker.MessagePublishHook, func(_ context.Context, m broker.Message) (broker.Message, broker.Flow) {
			seen.add(m)
			if m.Topic == "host/rewrite" {
				m.Payload = []byte("rewritten")
			}
			return m, broker.Continue
		})
	})
	sub := b.Dial(t, "sub")
	sub.Subscribe(t, "host/#", 2)
	ctx := context.Background()

	if err := b.Publish(ctx, broker.Message{Topic: "host/a", Payload: []byte("one"), QoS: 1}); err != nil {
		t.Fatal(err)
	}
	m := sub.Expect(t, "host/a")
	if string(m.Payload) != "one" || m.QoS != 1 {
		t.Fatalf("subscriber got %q at QoS %d, want one at QoS 1", m.Payload, m.QoS)
	}
	if got := seen.wait(t, 1)[0]; got.From != "" || got.Topic != "host/a" || got.ID == 0 {
		t.Fatalf("message.publish saw %+v, want a host message", got)
	}
	if err := b.Publish(ctx, broker.Message{Topic: "host/rewrite", Payload: []byte("orig"), QoS: 2}); err != nil {
		t.Fatal(err)
	}
	if m := sub.Expect(t, "host/rewrite"); string(m.Payload) != "rewritten" || m.QoS != 2 {
		t.Fatalf("subscriber got %q at QoS %d, want the hook's rewrite at QoS 2", m.Payload, m.QoS)
	}

	t.Run("errors", func(t *testing.T) {
		tests := []struct {
			name string
			m    broker.Message
		}{
			{"wildcard topic", broker.Message{Topic: "a/+"}},
			{"empty topic", broker.Message{Topic: ""}},
			{"QoS 3", broker.Message{Topic: "a", QoS: 3}},
		}
		for _, tt := range tests {
			if err := b.Publish(ctx, tt.m); err == nil {
				t.Errorf("%s: Publish succeeded", tt.name)
			}
		}
		closed, err := broker.New(broker.Options{})
		if err != nil {
			t.Fatal(err)
		}
		closed.Close()
		if err := closed.Publish(ctx, broker.Message{Topic: "a"}); !errors.Is(err, broker.ErrBrokerClosed) {
			t.Errorf("Publish after Close: %v, want ErrBrokerClosed", err)
		}
		if _, err := closed.Subscribe(ctx, "a", 0, func(context.Context, broker.Message) {}); !errors.Is(err, broker.ErrBrokerClosed) {
			t.Errorf("Subscribe after Close: %v, want ErrBrokerClosed", err)
		}
	})
}

func TestHostSubscribe(t *testing.T) {
	const n = 50
	for _, qos := range []byte{0, 1, 2} {
		t.Run(fmt.Sprintf("QoS %d", qos), func(t *testing.T) {
			b := brokertest.New(t, broker.Options{})
			got := newEvlog[broker.Message]()
			unsubscribe, err := b.Subscribe(context.Background(), "h/#", qos, func(_ context.Context, m broker.Message) {
				got.add(m)
			})
			if err != nil {
				t.Fatal(err)
			}
			pub := b.Dial(t, "pub")
			for i := range n {
				pub.Publish(t, fmt.Sprintf("h/%d", i), []byte{byte(i)}, 2, false)
			}
			msgs := got.wait(t, n)
			for i, m := range msgs {
				if m.Topic != fmt.Sprintf("h/%d", i) || m.QoS != qos || m.From != "pub" {
					t.Fatalf("message %d: %s at QoS %d from %q; want h/%d at QoS %d from pub, in order", i, m.Topic, m.QoS, m.From, i, qos)
				}
			}
			unsubscribe()
			unsubscribe() // harmless the second time
			watcher := b.Dial(t, "watcher")
			watcher.Subscribe(t, "h/#", 0)
			pub.Publish(t, "h/after", nil, 1, false)
			watcher.Expect(t, "h/after")
			if k := got.len(); k != n {
				t.Fatalf("host got %d messages after unsubscribing", k-n)
			}
		})
	}

	t.Run("errors", func(t *testing.T) {
		b := brokertest.New(t, broker.Options{})
		noop := func(context.Context, broker.Message) {}
		if _, err := b.Subscribe(context.Background(), "a/#/b", 0, noop); err == nil {
			t.Errorf("Subscribe accepted an invalid filter")
		}
		if _, err := b.Subscribe(context.Background(), "a", 3, noop); err == nil {
			t.Errorf("Subscribe accepted QoS 3")
		}
	})

	// The host is trusted: neither the auth chain nor the ACL can refuse it.
	t.Run("trusted", func(t *testing.T) {
		b := brokertest.New(t, broker.Options{DenyAnonymous: true, DenyACLNoMatch: true}, func(b *broker.Broker) {
			b.RegisterAuth(broker.AuthFunc(func(context.Context, *broker.ClientInfo, []byte) (broker.Decision, error) {
				return broker.Deny, nil
			}))
		})
		got := newEvlog[string]()
		unsubscribe, err := b.Subscribe(context.Background(), "t", 1, func(_ context.Context, m broker.Message) {
			got.add(string(m.Payload))
		})
		if err != nil {
			t.Fatalf("Subscribe: %v", err)
		}
		defer unsubscribe()
		if err := b.Publish(context.Background(), broker.Message{Topic: "t", Payload: []byte("x")}); err != nil {
			t.Fatal(err)
		}
		got.wait(t, 1)
	})
}

// sharedDeliveries records which client each message is delivered to.
func sharedDeliveries(evs *evlog[msgEvent]) func(*broker.Broker) {
	return func(b *broker.Broker) {
		broker.On(b, broker.MessageDeliveredHook, func(_ context.Context, c *broker.ClientInfo, m broker.Message) {
			evs.add(msgEvent{client: c.ClientID, msg: m})
		})
	}
}

// checkOnce fails unless every payload in want was delivered exactly once,
// and returns the count per client.
func checkOnce(t *testing.T, evs []msgEvent, want int) map[string]int {
	t.Helper()
	seen := make(map[string]string)
	per := make(map[string]int)
	for _, e := range evs {
		p := string(e.msg.Payload)
		if c, dup := seen[p]; dup {
			t.Fatalf("message %q delivered to both %s and %s", p, c, e.client)
		}
		seen[p] = e.client
		per[e.client]++
	}
	if len(seen) != want {
		t.Fatalf("%d messages delivered, want %d", len(seen), want)
	}
	return per
}

// TestHostSharedSubscription shares "$share/g/s/t" between a host
// subscription and an MQTT client: each message goes to exactly one of them
// [MQTT-4.8.2].
func TestHostSharedSubscription(t *testing.T) {
	const n = 40
	evs := newEvlog[msgEvent]()
	b := brokertest.New(t, broker.Options{}, sharedDeliveries(evs))
	host := newEvlog[string]()
	unsubscribe, err := b.Subscribe(context.Background(), "$share/g/s/t", 0, func(_ context.Context, m broker.Message) {
		host.add(string(m.Payload))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer unsubscribe()
	c := b.Dial(t, "client")
	if q := c.Subscribe(t, "$share/g/s/t", 0); q != 0 {
		t.Fatalf("SUBACK %#x", q)
	}
	for i := range n {
		if err := b.Publish(context.Background(), broker.Message{Topic: "s/t", Payload: fmt.Appendf(nil, "%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	per := checkOnce(t, evs.wait(t, n), n)
	if per["client"] == 0 || per["client"] == n {
		t.Fatalf("deliveries per member %v: the random strategy picked one member %d times in a row", per, n)
	}
	for range per["client"] {
		c.Expect(t, "s/t")
	}
	host.wait(t, n-per["client"])
	c.ExpectNone(t, 10*time.Millisecond)
}

// TestQueueSubscription checks EMQ 2.0's "$queue/<filter>": every
// subscriber of the filter is in one group.
func TestQueueSubscription(t *testing.T) {
	const n = 20
	evs := newEvlog[msgEvent]()
	b := brokertest.New(t, broker.Options{}, sharedDeliveries(evs))
	a, c := b.Dial(t, "a"), b.Dial(t, "c")
	a.Subscribe(t, "$queue/jobs", 1)
	c.Subscribe(t, "$queue/jobs", 1)
	if subs := b.Subscriptions("a"); len(subs) != 1 || subs[0].Filter != "$queue/jobs" {
		t.Fatalf("Subscriptions(a) = %+v, want the filter as sent", subs)
	}
	pub := b.Dial(t, "pub")
	for i := range n {
		pub.Publish(t, "jobs", fmt.Appendf(nil, "%d", i), 1, false)
	}
	per := checkOnce(t, evs.wait(t, n), n)
	if per["a"]+per["c"] != n {
		t.Fatalf("deliveries per member %v", per)
	}
}

func TestSharedStrategies(t *testing.T) {
	const n = 30
	setup := func(t *testing.T, strategy string) (*brokertest.Broker, *evlog[msgEvent], *evlog[string], []*brokertest.Client) {
		evs, disc := newEvlog[msgEvent](), newEvlog[string]()
		b := brokertest.New(t, broker.Options{SharedStrategy: strategy}, sharedDeliveries(evs), func(b *broker.Broker) {
			broker.On(b, broker.ClientDisconnectedHook, func(_ context.Context, c *broker.ClientInfo, _ error) { disc.add(c.ClientID) })
		})
		var members []*brokertest.Client
		for _, id := range []string{"m1", "m2", "m3"} {
			m := b.Dial(t, id)
			m.Subscribe(t, "$share/g/work", 0)
			members = append(members, m)
		}
		return b, evs, disc, members
	}
	publish := func(t *testing.T, pub *brokertest.Client, from int) {
		for i := from; i < from+n; i++ {
			pub.Publish(t, "work", fmt.Appendf(nil, "%d", i), 1, false)
		}
	}

	t.Run("random", func(t *testing.T) {
		b, evs, _, _ := setup(t, "")
		publish(t, b.Dial(t, "p1"), 0)
		checkOnce(t, evs.wait(t, n), n)
	})

	t.Run("round_robin", func(t *testing.T) {
		b, evs, _, _ := setup(t, "round_robin")
		publish(t, b.Dial(t, "p1"), 0)
		per := checkOnce(t, evs.wait(t, n), n)
		if want := map[string]int{"m1": n / 3, "m2": n / 3, "m3": n / 3}; !maps.Equal(per, want) {
			t.Fatalf("deliveries per member %v, want %v", per, want)
		}
	})

	t.Run("hash", func(t *testing.T) {
		b, evs, _, _ := setup(t, "hash")
		publish(t, b.Dial(t, "p1"), 0)
		publish(t, b.Dial(t, "p2"), n)
		publish(t, b.Dial(t, "p1"), 2*n) // the same publisher again
		all := evs.wait(t, 3*n)
		checkOnce(t, all, 3*n)
		// message.delivered runs on each member's writer, so events from
		// different members interleave: order them by message number.
		num := func(e msgEvent) int { i, _ := strconv.Atoi(string(e.msg.Payload)); return i }
		slices.SortFunc(all, func(a, b msgEvent) int { return num(a) - num(b) })
		for _, run := range []struct {
			from, to int
		}{{0, n}, {n, 2 * n}, {2 * n, 3 * n}} {
			per := checkOnce(t, all[run.from:run.to], n)
			if len(per) != 1 {
				t.Fatalf("messages %d..%d from one publisher went to %v, want one member", run.from, run.to-1, per)
			}
		}
		if all[0].client != all[2*n].client {
			t.Fatalf("publisher p1 hashed to %s, then to %s", all[0].client, all[2*n].client)
		}
	})

	t.Run("sticky", func(t *testing.T) {
		b, evs, disc, members := setup(t, "sticky")
		pub := b.Dial(t, "p1")
		publish(t, pub, 0)
		per := checkOnce(t, evs.wait(t, n), n)
		if len(per) != 1 {
			t.Fatalf("deliveries per member %v, want all to one", per)
		}
		first := slices.Collect(maps.Keys(per))[0]
		// When the chosen member leaves, another one is picked and kept.
		for _, m := range members {
			if m.ID == first {
				m.Disconnect(t)
			}
		}
		disc.waitFor(t, first+" to disconnect", func(s string) bool { return s == first })
		publish(t, pub, n)
		per = checkOnce(t, evs.wait(t, 2*n)[n:], n)
		if len(per) != 1 || per[first] != 0 {
			t.Fatalf("after %s left, deliveries per member %v, want all to one other", first, per)
		}
	})
}

func TestHostConnect(t *testing.T) {
	ctx := context.Background()
	gwACL := func(b *broker.Broker) {
		b.RegisterACL(broker.ACLFunc(func(_ context.Context, _ *broker.ClientInfo, _ broker.Access, topic string) (broker.Decision, error) {
			if strings.HasPrefix(topic, "deny/") {
				return broker.Deny, nil
			}
			return broker.Ignore, nil
		}))
	}

	t.Run("info", func(t *testing.T) {
		b := brokertest.New(t, broker.Options{})
		s, err := b.Broker.Connect(ctx, &broker.ClientInfo{ClientID: "gw1", Username: "gateway", Protocol: "coap", Listener: "coap:udp:5683"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close(nil)
		if s.ID() != "gw1" {
			t.Fatalf("ID() = %q", s.ID())
		}
		info, ok := b.Client("gw1")
		if !ok || info.Protocol != "coap" || info.Listener != "coap:udp:5683" || info.Username != "gateway" || info.ConnectedAt.IsZero() {
			t.Fatalf("Client(gw1) = %+v, %v", info, ok)
		}
		anon, err := b.Broker.Connect(ctx, &broker.ClientInfo{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer anon.Close(nil)
		if anon.ID() == "" || anon.Info().Protocol != "host" {
			t.Fatalf("anonymous session %q with protocol %q, want an assigned id and protocol host", anon.ID(), anon.Info().Protocol)
		}
	})

	t.Run("publish applies the ACL", func(t *testing.T) {
		dropped := newEvlog[msgEvent]()
		b := brokertest.New(t, broker.Options{}, gwACL, func(b *broker.Broker) {
			broker.On(b, broker.MessageDroppedHook, func(_ context.Context, m broker.Message, r broker.DropReason) {
				dropped.add(msgEvent{msg: m, reason: r})
			})
		})
		sub := b.Dial(t, "sub")
		sub.Subscribe(t, "#", 1)
		s, err := b.Broker.Connect(ctx, &broker.ClientInfo{ClientID: "gw1", Username: "gateway"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close(nil)
		if err := s.Publish(ctx, broker.Message{Topic: "deny/x", Payload: []byte("no")}); err == nil {
			t.Fatalf("denied publish returned no error")
		}
		if got := dropped.wait(t, 1)[0]; got.reason != broker.DropNotAuthorized || got.msg.From != "gw1" {
			t.Fatalf("message.dropped %+v, want deny/x from gw1, not authorized", got)
		}
		if err := s.Publish(ctx, broker.Message{Topic: "ok/x", Payload: []byte("yes"), QoS: 1}); err != nil {
			t.Fatal(err)
		}
		if m := sub.Expect(t, "ok/x"); string(m.Payload) != "yes" {
			t.Fatalf("subscriber got %q", m.Payload)
		}
		if err := s.Publish(ctx, broker.Message{Topic: "nobody/listens"}); err != nil {
			t.Fatalf("publish without subscribers: %v", err)
		}
		if err := s.Publish(ctx, broker.Message{Topic: "a/#"}); err == nil {
			t.Fatalf("publish to a filter succeeded")
		}
	})

	t.Run("subscribe codes", func(t *testing.T) {
		b := brokertest.New(t, broker.Options{}, gwACL)
		s, err := b.Broker.Connect(ctx, &broker.ClientInfo{ClientID: "gw1"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close(nil)
		codes, err := s.Subscribe(ctx,
			broker.Subscription{Filter: "a/#", QoS: 1},
			broker.Subscription{Filter: "deny/#", QoS: 1},
			broker.Subscription{Filter: "bad/#/x", QoS: 0},
			broker.Subscription{Filter: "b", QoS: 2})
		if err != nil {
			t.Fatal(err)
		}
		want := []packets.ReasonCode{1, packets.NotAuthorized, packets.TopicFilterInvalid, 2}
		if !slices.Equal(codes, want) {
			t.Fatalf("codes %v, want %v", codes, want)
		}
		subs := s.Subscriptions()
		slices.SortFunc(subs, func(x, y broker.Subscription) int { return strings.Compare(x.Filter, y.Filter) })
		if len(subs) != 2 || subs[0].Filter != "a/#" || subs[1].Filter != "b" {
			t.Fatalf("Subscriptions() = %+v", subs)
		}
		if err := s.Unsubscribe(ctx, "a/#"); err != nil {
			t.Fatal(err)
		}
		if subs := b.Subscriptions("gw1"); len(subs) != 1 || subs[0].Filter != "b" {
			t.Fatalf("after Unsubscribe: %+v", subs)
		}
	})

	t.Run("deliveries and acks", func(t *testing.T) {
		acked := newEvlog[msgEvent]()
		b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
			broker.On(b, broker.MessageAckedHook, func(_ context.Context, c *broker.ClientInfo, m broker.Message) {
				acked.add(msgEvent{client: c.ClientID, msg: m})
			})
		})
		s, err := b.Broker.Connect(ctx, &broker.ClientInfo{ClientID: "gw1"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close(nil)
		if _, err := s.Subscribe(ctx, broker.Subscription{Filter: "d/#", QoS: 2}); err != nil {
			t.Fatal(err)
		}
		pub := b.Dial(t, "pub")
		for q := range byte(3) {
			pub.Publish(t, fmt.Sprintf("d/%d", q), []byte{q}, q, false)
		}
		for q := range byte(3) {
			d := nextDelivery(t, s.Deliveries())
			if d.Topic != fmt.Sprintf("d/%d", q) || d.QoS != q || d.From != "pub" {
				t.Fatalf("delivery %+v, want d/%d at QoS %d from pub", d.Message, q, q)
			}
			if (d.Ack == nil) != (q == 0) {
				t.Fatalf("QoS %d delivery: Ack is nil = %v", q, d.Ack == nil)
			}
			if d.Ack != nil {
				d.Ack()
				d.Ack() // harmless the second time
			}
		}
		got := acked.wait(t, 2)
		if got[0].client != "gw1" || got[0].msg.Topic != "d/1" || got[1].msg.Topic != "d/2" {
			t.Fatalf("message.acked %+v, want d/1 and d/2 for gw1", got)
		}
		if si := b.Sessions(); len(si) != 2 || si[0].ClientID != "gw1" || si[0].Inflight != 0 {
			t.Fatalf("Sessions = %+v, want gw1 with nothing in flight", si)
		}
	})

	t.Run("close", func(t *testing.T) {
		disc := newEvlog[string]()
		b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
			broker.On(b, broker.ClientDisconnectedHook, func(_ context.Context, c *broker.ClientInfo, _ error) { disc.add(c.ClientID) })
		})
		s, err := b.Broker.Connect(ctx, &broker.ClientInfo{ClientID: "gw1", CleanStart: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ch := s.Deliveries()
		if err := s.Close(nil); err != nil {
			t.Fatal(err)
		}
		expectDeliveriesClosed(t, ch)
		if got := disc.wait(t, 1); got[0] != "gw1" {
			t.Fatalf("client.disconnected for %v", got)
		}
		if si := b.Sessions(); len(si) != 0 {
			t.Fatalf("clean session left after Close: %+v", si)
		}
		if err := s.Publish(ctx, broker.Message{Topic: "t"}); !errors.Is(err, broker.ErrSessionClosed) {
			t.Fatalf("Publish after Close: %v, want ErrSessionClosed", err)
		}
		if _, err := s.Subscribe(ctx, broker.Subscription{Filter: "t"}); !errors.Is(err, broker.ErrSessionClosed) {
			t.Fatalf("Subscribe after Close: %v, want ErrSessionClosed", err)
		}
	})

	t.Run("persistent session resumes with queued messages", func(t *testing.T) {
		resumed := newEvlog[string]()
		b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
			broker.On(b, broker.SessionResumedHook, func(_ context.Context, c *broker.ClientInfo) { resumed.add(c.ClientID) })
		})
		s, err := b.Broker.Connect(ctx, &broker.ClientInfo{ClientID: "gw1", CleanStart: false}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Subscribe(ctx, broker.Subscription{Filter: "q/#", QoS: 1}); err != nil {
			t.Fatal(err)
		}
		if err := b.Publish(ctx, broker.Message{Topic: "q/0", QoS: 1}); err != nil {
			t.Fatal(err)
		}
		unacked := nextDelivery(t, s.Deliveries()) // not acknowledged before Close
		if unacked.Topic != "q/0" {
			t.Fatalf("got %s", unacked.Topic)
		}
		s.Close(nil)
		if si := b.Sessions(); len(si) != 1 || si[0].Connected || !si[0].Persistent || si[0].Subscriptions != 1 {
			t.Fatalf("Sessions after Close = %+v, want gw1 offline, persistent, subscribed", si)
		}
		if _, ok := b.Client("gw1"); ok {
			t.Fatalf("Client(gw1) reports a closed session connected")
		}
		for i := 1; i <= 3; i++ {
			if err := b.Publish(ctx, broker.Message{Topic: fmt.Sprintf("q/%d", i), QoS: 1}); err != nil {
				t.Fatal(err)
			}
		}
		if si := b.Sessions(); si[0].Queued != 3 || si[0].Inflight != 1 {
			t.Fatalf("offline session has %d queued, %d in flight; want 3 and 1", si[0].Queued, si[0].Inflight)
		}

		s, err = b.Broker.Connect(ctx, &broker.ClientInfo{ClientID: "gw1", CleanStart: false}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close(nil)
		if got := resumed.wait(t, 1); got[0] != "gw1" {
			t.Fatalf("session.resumed for %v", got)
		}
		// The unacknowledged message comes again first, then the queue in order.
		for i := range 4 {
			d := nextDelivery(t, s.Deliveries())
			if d.Topic != fmt.Sprintf("q/%d", i) {
				t.Fatalf("delivery %d is %s, want q/%d", i, d.Topic, i)
			}
			d.Ack()
		}
	})

	t.Run("taken over by an MQTT client", func(t *testing.T) {
		b := brokertest.New(t, broker.Options{})
		s, err := b.Broker.Connect(ctx, &broker.ClientInfo{ClientID: "dup"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ch := s.Deliveries()
		b.Dial(t, "dup")
		expectDeliveriesClosed(t, ch)
	})

	t.Run("authentication failure", func(t *testing.T) {
		connected := newEvlog[infoEvent]()
		b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
			b.RegisterAuth(broker.AuthFunc(func(_ context.Context, c *broker.ClientInfo, pw []byte) (broker.Decision, error) {
				if c.Username == "gw" && string(pw) == "secret" {
					return broker.Allow, nil
				}
				return broker.Deny, nil
			}))
			broker.On(b, broker.ClientConnectedHook, func(_ context.Context, c *broker.ClientInfo, code packets.ReasonCode) {
				connected.add(infoEvent{*c, code})
			})
		})
		_, err := b.Broker.Connect(ctx, &broker.ClientInfo{ClientID: "gw1", Username: "gw"}, []byte("wrong"))
		if !errors.Is(err, broker.ErrAuthFailed) {
			t.Fatalf("Connect with a wrong password: %v, want ErrAuthFailed", err)
		}
		if got := connected.wait(t, 1)[0]; got.info.ClientID != "gw1" || got.code != packets.NotAuthorized {
			t.Fatalf("client.connected(%q, %v), want gw1 refused", got.info.ClientID, got.code)
		}
		if si := b.Sessions(); len(si) != 0 {
			t.Fatalf("refused Connect left sessions %+v", si)
		}
		s, err := b.Broker.Connect(ctx, &broker.ClientInfo{ClientID: "gw1", Username: "gw", Superuser: true}, []byte("secret"))
		if err != nil {
			t.Fatalf("Connect with the right password: %v", err)
		}
		defer s.Close(nil)
		if s.Info().Superuser {
			t.Fatalf("a caller-set Superuser flag survived authentication")
		}
	})
}

func TestIntrospection(t *testing.T) {
	ctx := context.Background()
	disc := newEvlog[string]()
	b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
		broker.On(b, broker.ClientDisconnectedHook, func(_ context.Context, c *broker.ClientInfo, _ error) { disc.add(c.ClientID) })
	})
	c2 := b.Dial(t, "c2", brokertest.WithVersion(packets.Version5))
	c1 := b.Dial(t, "c1", brokertest.WithUsername("alice"), brokertest.WithKeepalive(time.Minute))
	c1.Subscribe(t, "b/+", 1)
	c1.Subscribe(t, "a", 2)
	c2.Subscribe(t, "a", 0)
	p := b.Dial(t, "p", brokertest.WithCleanSession(false))
	p.Subscribe(t, "x", 1)
	p.Disconnect(t)
	disc.wait(t, 1)

	t.Run("Clients", func(t *testing.T) {
		var ids []string
		for c := range b.Clients() {
			ids = append(ids, c.ClientID)
		}
		if want := []string{"c1", "c2"}; !slices.Equal(ids, want) {
			t.Fatalf("Clients() = %v, want %v (sorted, connected only)", ids, want)
		}
		for range b.Clients() {
			break // stopping early is fine
		}
	})

	t.Run("Client", func(t *testing.T) {
		info, ok := b.Client("c1")
		if !ok || info.ClientID != "c1" || info.Username != "alice" || info.Protocol != "mqtt" ||
			info.Listener != "inprocess" || info.ProtoVersion != packets.Version311 || info.Keepalive != time.Minute {
			t.Fatalf("Client(c1) = %+v, %v", info, ok)
		}
		if info, ok := b.Client("nobody"); ok || info != nil {
			t.Fatalf("Client(nobody) = %+v, %v", info, ok)
		}
		if _, ok := b.Client("p"); ok {
			t.Fatalf("Client(p) reports an offline session connected")
		}
	})

	t.Run("Subscriptions", func(t *testing.T) {
		want := []broker.Subscription{{Filter: "a", QoS: 2}, {Filter: "b/+", QoS: 1}}
		if got := b.Subscriptions("c1"); !slices.Equal(got, want) {
			t.Fatalf("Subscriptions(c1) = %+v, want %+v", got, want)
		}
		if got := b.Subscriptions("nobody"); len(got) != 0 {
			t.Fatalf("Subscriptions(nobody) = %+v", got)
		}
	})

	t.Run("Sessions", func(t *testing.T) {
		si := b.Sessions()
		if len(si) != 3 || si[0].ClientID != "c1" || si[1].ClientID != "c2" || si[2].ClientID != "p" {
			t.Fatalf("Sessions() = %+v, want c1, c2, p", si)
		}
		if !si[0].Connected || si[0].Persistent || si[0].Subscriptions != 2 {
			t.Errorf("c1: %+v", si[0])
		}
		if si[2].Connected || !si[2].Persistent || si[2].Subscriptions != 1 {
			t.Errorf("p: %+v", si[2])
		}
	})

	t.Run("Stats", func(t *testing.T) {
		st := b.Stats()
		for _, name := range []string{"clients", "sessions", "topics", "subscriptions", "subscribers", "routes", "retained"} {
			for _, k := range []string{name + "/count", name + "/max"} {
				if _, ok := st[k]; !ok {
					t.Errorf("Stats() has no %q", k)
				}
			}
		}
		want := map[string]int64{"clients/count": 2, "clients/max": 3, "sessions/count": 3, "sessions/max": 3,
			"subscriptions/count": 4, "topics/count": 3, "retained/count": 0}
		for k, v := range want {
			if st[k] != v {
				t.Errorf("Stats()[%q] = %d, want %d", k, st[k], v)
			}
		}
	})

	t.Run("Kick", func(t *testing.T) {
		if err := b.Kick(ctx, "c2"); err != nil {
			t.Fatal(err)
		}
		if d := c2.ExpectClosed(t); d == nil || d.ReasonCode != packets.AdministrativeAction {
			t.Fatalf("MQTT 5 client got DISCONNECT %+v, want administrative action", d)
		}
		disc.waitFor(t, "c2 to disconnect", func(s string) bool { return s == "c2" })
		if err := b.Kick(ctx, "c2"); !errors.Is(err, broker.ErrNotConnected) {
			t.Fatalf("Kick(c2) again: %v, want ErrNotConnected", err)
		}
		if err := b.Kick(ctx, "nobody"); !errors.Is(err, broker.ErrNotConnected) {
			t.Fatalf("Kick(nobody): %v, want ErrNotConnected", err)
		}
		if err := b.Kick(ctx, "p"); !errors.Is(err, broker.ErrNotConnected) {
			t.Fatalf("Kick(p), an offline session: %v, want ErrNotConnected", err)
		}
		if err := b.Kick(ctx, "c1"); err != nil {
			t.Fatal(err)
		}
		if d := c1.ExpectClosed(t); d != nil {
			t.Fatalf("MQTT 3.1.1 client got a DISCONNECT: %+v", d)
		}
		disc.waitFor(t, "c1 to disconnect", func(s string) bool { return s == "c1" })
		if st := b.Stats(); st["clients/count"] != 0 || st["clients/max"] != 3 || st["sessions/count"] != 1 {
			t.Fatalf("Stats() after the kicks: %v", st)
		}

		s, err := b.Broker.Connect(ctx, &broker.ClientInfo{ClientID: "gw"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Kick(ctx, "gw"); err != nil {
			t.Fatal(err)
		}
		expectDeliveriesClosed(t, s.Deliveries())
	})
}

func TestMetrics(t *testing.T) {
	acked := newEvlog[string]()
	b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
		broker.On(b, broker.MessageAckedHook, func(_ context.Context, c *broker.ClientInfo, _ broker.Message) { acked.add(c.ClientID) })
	})
	names := []string{
		"bytes/received", "bytes/sent", "packets/received", "packets/sent", "packets/connect", "packets/connack",
		"packets/publish/received", "packets/publish/sent", "packets/puback/received", "packets/puback/sent",
		"packets/pubrec/received", "packets/pubrec/sent", "packets/pubrel/received", "packets/pubrel/sent",
		"packets/pubcomp/received", "packets/pubcomp/sent", "packets/subscribe", "packets/suback",
		"packets/unsubscribe", "packets/unsuback", "packets/pingreq", "packets/pingresp", "packets/disconnect",
		"messages/received", "messages/sent", "messages/qos0/received", "messages/qos0/sent",
		"messages/qos1/received", "messages/qos1/sent", "messages/qos2/received", "messages/qos2/sent",
		"messages/retained", "messages/dropped",
	}
	m := b.Metrics()
	for _, name := range names {
		v, ok := m[name]
		if !ok {
			t.Errorf("Metrics() has no %q", name)
		} else if v != 0 {
			t.Errorf("fresh broker: %s = %d", name, v)
		}
	}

	sub := b.Dial(t, "sub")
	sub.Subscribe(t, "t", 1)
	pub := b.Dial(t, "pub")
	pub.Publish(t, "t", []byte("x"), 1, false)
	sub.Expect(t, "t")
	acked.wait(t, 1)
	pingSync(t, sub)
	pingSync(t, pub)

	// sub: CONNECT, SUBSCRIBE, PUBACK, PINGREQ in; CONNACK, SUBACK, PUBLISH, PINGRESP out.
	// pub: CONNECT, PUBLISH, PINGREQ in; CONNACK, PUBACK, PINGRESP out.
	want := map[string]uint64{
		"packets/received": 7, "packets/sent": 7, "packets/connect": 2, "packets/connack": 2,
		"packets/subscribe": 1, "packets/suback": 1, "packets/publish/received": 1, "packets/publish/sent": 1,
		"packets/puback/received": 1, "packets/puback/sent": 1, "packets/pingreq": 2,
		"messages/received": 1, "messages/sent": 1, "messages/qos1/received": 1, "messages/qos1/sent": 1,
		"messages/qos0/received": 0, "messages/qos2/sent": 0, "messages/dropped": 0,
	}
	m = b.Metrics()
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %d, want %d", k, m[k], v)
		}
	}
	if m["bytes/sent"] == 0 {
		t.Errorf("bytes/sent = 0")
	}
}

// TestOptionsValidate checks that Validate reports every problem at once.
func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name  string
		opts  broker.Options
		wants []string // substrings, one per expected problem
	}{
		{"zero value", broker.Options{}, nil},
		{"every strategy", broker.Options{SharedStrategy: "sticky"}, nil},
		{"negative SysInterval disables $SYS", broker.Options{SysInterval: -1}, nil},
		{"MaxPacketSize", broker.Options{MaxPacketSize: -1}, []string{"MaxPacketSize"}},
		{"MaxPacketSize too big", broker.Options{MaxPacketSize: 268435456}, []string{"MaxPacketSize"}},
		{"MaxClientIDLen", broker.Options{MaxClientIDLen: 70000}, []string{"MaxClientIDLen"}},
		{"ConnectTimeout", broker.Options{ConnectTimeout: -time.Second}, []string{"ConnectTimeout"}},
		{"MaxWriteQueue", broker.Options{MaxWriteQueue: -1}, []string{"MaxWriteQueue"}},
		{"SharedStrategy", broker.Options{SharedStrategy: "bogus"}, []string{"SharedStrategy"}},
		{"Session.RetryInterval", broker.Options{Session: broker.SessionOptions{RetryInterval: -1}}, []string{"RetryInterval"}},
		{"Session.AwaitRelTimeout", broker.Options{Session: broker.SessionOptions{AwaitRelTimeout: -1}}, []string{"AwaitRelTimeout"}},
		{"Session.Expiry", broker.Options{Session: broker.SessionOptions{Expiry: -1}}, []string{"Expiry"}},
		{"Session.MaxAwaitingRel", broker.Options{Session: broker.SessionOptions{MaxAwaitingRel: -1}}, []string{"MaxAwaitingRel"}},
		{"several at once", broker.Options{MaxPacketSize: -1, SharedStrategy: "bogus", ConnectTimeout: -1,
			Session: broker.SessionOptions{Expiry: -1}},
			[]string{"MaxPacketSize", "ConnectTimeout", "SharedStrategy", "Expiry"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.opts.Validate()
			if len(tt.wants) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				b, err := broker.New(tt.opts)
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				b.Close()
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want errors about %v", tt.wants)
			}
			joined, ok := err.(interface{ Unwrap() []error })
			if !ok || len(joined.Unwrap()) != len(tt.wants) {
				t.Fatalf("Validate() = %v, want %d joined errors", err, len(tt.wants))
			}
			for i, want := range tt.wants {
				if got := joined.Unwrap()[i].Error(); !strings.Contains(got, want) {
					t.Errorf("error %d = %q, want it to mention %s", i, got, want)
				}
			}
			if _, err2 := broker.New(tt.opts); err2 == nil || err2.Error() != err.Error() {
				t.Errorf("New() error = %v, want %v", err2, err)
			}
		})
	}
}

// TestOptionsDefaults checks that New applies EMQ's defaults to its own
// copy and leaves the caller's struct alone.
func TestOptionsDefaults(t *testing.T) {
	var opts broker.Options
	b, err := broker.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if opts != (broker.Options{}) {
		t.Fatalf("New changed the caller's options: %+v", opts)
	}
	got := b.Options()
	if got.Node != "emqd@127.0.0.1" || got.MaxPacketSize != 64<<10 || got.MaxClientIDLen != 1024 ||
		got.ConnectTimeout != 30*time.Second || got.SysInterval != time.Minute || got.SharedStrategy != "random" ||
		got.Version != broker.Version || got.Logger == nil {
		t.Errorf("Options() = %+v", got)
	}
	s := got.Session
	if s.MaxInflight != 100 || s.RetryInterval != time.Minute || s.AwaitRelTimeout != 20*time.Second ||
		s.Expiry != 24*time.Hour || s.MaxQueueLen != 1000 || s.MaxAwaitingRel != 0 || s.DropQoS0 {
		t.Errorf("Options().Session = %+v", s)
	}
}
