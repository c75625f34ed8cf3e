package broker_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/brokertest"
	"github.com/emqgo/broker/packets"
)

// SubscribeClient subscribes a client's session on the broker's behalf:
// no ACL, client.subscribe hooks run, session.subscribed runs, no SUBACK.
func TestSubscribeClient(t *testing.T) {
	subscribed := newEvlog[string]()
	b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
		b.RegisterACL(broker.ACLFunc(func(context.Context, *broker.ClientInfo, broker.Access, string) (broker.Decision, error) {
			return broker.Deny, nil
		}))
		broker.On(b, broker.ClientSubscribeHook, func(_ context.Context, _ *broker.ClientInfo, subs []broker.Subscription) ([]broker.Subscription, broker.Flow) {
			out := slices.Clone(subs)
			for i := range out {
				if out[i].Filter == "refuse/me" {
					out[i].QoS = broker.SubscribeRefused
				}
				if out[i].Filter == "old/name" {
					out[i].Filter = "new/name"
				}
			}
			return out, broker.Continue
		})
		broker.On(b, broker.SessionSubscribedHook, func(_ context.Context, c *broker.ClientInfo, sub broker.Subscription, isNew bool) {
			subscribed.add(c.ClientID + " " + sub.Filter)
		})
	})
	ctx := context.Background()
	c := b.Dial(t, "c1")
	codes, err := b.SubscribeClient(ctx, "c1",
		broker.Subscription{Filter: "a/+", QoS: 1},
		broker.Subscription{Filter: "refuse/me", QoS: 1},
		broker.Subscription{Filter: "old/name", QoS: 2},
		broker.Subscription{Filter: "bad/#/x", QoS: 0},
		broker.Subscription{Filter: "q", QoS: 3})
	if err != nil {
		t.Fatal(err)
	}
	want := []packets.ReasonCode{1, packets.UnspecifiedError, 2, packets.TopicFilterInvalid, packets.UnspecifiedError}
	if !slices.Equal(codes, want) {
		t.Fatalf("codes %v, want %v", codes, want)
	}
	var got []string
	for _, s := range b.Subscriptions("c1") {
		got = append(got, s.Filter)
	}
	if !slices.Equal(got, []string{"a/+", "new/name"}) {
		t.Fatalf("subscriptions %v", got)
	}
	if got := subscribed.all(); !slices.Equal(got, []string{"c1 a/+", "c1 new/name"}) {
		t.Fatalf("session.subscribed %v", got)
	}
	b.Publish(ctx, broker.Message{Topic: "a/b", Payload: []byte("x"), QoS: 1})
	// The first packet the client gets is the message: no SUBACK was sent.
	if p, ok := c.Next(t).(*packets.Publish); !ok || p.Topic != "a/b" {
		t.Fatalf("got %#v", p)
	}

	if _, err := b.SubscribeClient(ctx, "nobody", broker.Subscription{Filter: "a"}); !errors.Is(err, broker.ErrNotConnected) {
		t.Fatalf("unknown client: %v", err)
	}
	// Host subscriptions are not clients.
	unsub, err := b.Subscribe(ctx, "h", 0, func(context.Context, broker.Message) {})
	if err != nil {
		t.Fatal(err)
	}
	defer unsub()
	if _, err := b.SubscribeClient(ctx, "$host/1", broker.Subscription{Filter: "a"}); !errors.Is(err, broker.ErrNotConnected) {
		t.Fatalf("host session: %v", err)
	}
	// A persistent session whose client is away is subscribed too.
	p := b.Dial(t, "p1", brokertest.WithCleanSession(false))
	p.Disconnect(t)
	if _, err := b.SubscribeClient(ctx, "p1", broker.Subscription{Filter: "later", QoS: 1}); err != nil {
		t.Fatal(err)
	}
	b.Publish(ctx, broker.Message{Topic: "later", Payload: []byte("q"), QoS: 1})
	p = b.Dial(t, "p1", brokertest.WithCleanSession(false))
	p.Expect(t, "later")
}
