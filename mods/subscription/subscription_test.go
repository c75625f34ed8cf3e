package subscription_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/brokertest"
	"github.com/emqgo/broker/conf"
	"github.com/emqgo/broker/mods/subscription"
	"github.com/emqgo/broker/packets"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const none = 100 * time.Millisecond

// load starts a test broker with the plugin loaded with the configuration
// text cfg over its defaults. setup runs before the plugin is loaded.
func load(t *testing.T, cfg string, setup ...func(*broker.Broker)) *brokertest.Broker {
	t.Helper()
	return brokertest.New(t, broker.Options{}, append(setup, func(b *broker.Broker) {
		if err := b.Plugins().Register(subscription.Plugin); err != nil {
			t.Fatal(err)
		}
		m, err := conf.ParseString(cfg, "emq_mod_subscription.conf")
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Plugins().LoadWith(context.Background(), subscription.Plugin.Name, m); err != nil {
			t.Fatalf("load: %v", err)
		}
	})...)
}

func filters(subs []broker.Subscription) []string {
	var out []string
	for _, s := range subs {
		out = append(out, s.Filter+":"+string('0'+s.QoS))
	}
	return out
}

// With the defaults, every client is subscribed to $client/<id> at QoS 1,
// without a SUBACK.
func TestDefaultSubscription(t *testing.T) {
	b := load(t, "")
	c := b.Dial(t, "c1")
	if got := filters(b.Subscriptions("c1")); !slices.Equal(got, []string{"$client/c1:1"}) {
		t.Fatalf("subscriptions %v", got)
	}
	pub := b.Dial(t, "pub")
	pub.Publish(t, "$client/c1", []byte("hi"), 2, false)
	// The first packet after CONNACK is the message: no SUBACK was sent.
	p, ok := c.Next(t).(*packets.Publish)
	if !ok || p.Topic != "$client/c1" || p.QoS != 1 || string(p.Payload) != "hi" {
		t.Fatalf("got %#v", p)
	}
	if got := filters(b.Subscriptions("pub")); !slices.Equal(got, []string{"$client/pub:1"}) {
		t.Fatalf("pub subscriptions %v", got)
	}
}

func TestTemplates(t *testing.T) {
	b := load(t, `module.subscription.1.topic = $client/%c
module.subscription.1.qos = 0
module.subscription.2.topic = $user/%u/inbox
module.subscription.2.qos = 2
module.subscription.10.topic = devices/%c/%u
module.subscription.10.qos = 1
module.subscription.3.topic = $queue/jobs
module.subscription.3.qos = 1
`)
	b.Dial(t, "c1", brokertest.WithUsername("alice"))
	want := []string{"$client/c1:0", "$queue/jobs:1", "$user/alice/inbox:2", "devices/c1/alice:1"}
	if got := filters(b.Subscriptions("c1")); !slices.Equal(got, want) {
		t.Errorf("with a user name: %v, want %v", got, want)
	}
	// Without a user name the %u templates are skipped.
	b.Dial(t, "c2")
	want = []string{"$client/c2:0", "$queue/jobs:1"}
	if got := filters(b.Subscriptions("c2")); !slices.Equal(got, want) {
		t.Errorf("without a user name: %v, want %v", got, want)
	}
	// A client id or user name with a wildcard would widen the filter.
	b.Dial(t, "c+", brokertest.WithUsername("#"))
	want = []string{"$queue/jobs:1"}
	if got := filters(b.Subscriptions("c+")); !slices.Equal(got, want) {
		t.Errorf("wildcard names: %v, want %v", got, want)
	}
}

// The subscriptions exist before the session is attached: what they
// deliver at once (a retained message, here delivered the way a retainer
// does) is the first packet after CONNACK, and a message queued for a
// persistent session while its client was away follows.
func TestSubscribedBeforeDelivery(t *testing.T) {
	var attached atomic.Bool
	b := load(t, "", func(b *broker.Broker) {
		broker.On(b, broker.SessionSubscribedHook, func(_ context.Context, c *broker.ClientInfo, sub broker.Subscription, isNew bool) {
			if sub.Filter == "$client/"+c.ClientID {
				b.Deliver(c.ClientID, sub, broker.Message{Topic: sub.Filter, Payload: []byte("retained"), QoS: 2, Retain: true})
			}
		})
		broker.On(b, broker.ClientConnectedHook, func(_ context.Context, c *broker.ClientInfo, _ packets.ReasonCode) {
			_, on := b.Client(c.ClientID)
			attached.Store(on)
		})
	})
	c := b.Dial(t, "c1", brokertest.WithCleanSession(false))
	if attached.Load() {
		t.Error("client.connected ran with the session attached")
	}
	p, ok := c.Next(t).(*packets.Publish)
	if !ok || string(p.Payload) != "retained" || !p.Retain || p.QoS != 1 {
		t.Fatalf("first packet after CONNACK: %#v", p)
	}
	c.ExpectNone(t, none)
	c.Disconnect(t)

	pub := b.Dial(t, "pub")
	pub.Publish(t, "$client/c1", []byte("queued"), 1, false)
	c = b.Dial(t, "c1", brokertest.WithCleanSession(false))
	// The subscription is there already with the same QoS: it is not made
	// again, so the retained message is not delivered twice.
	if m := c.Expect(t, "$client/c1"); string(m.Payload) != "queued" {
		t.Fatalf("after reconnecting: %q", m.Payload)
	}
	c.ExpectNone(t, none)
}

// The ACL is not asked; client.subscribe hooks run and may rewrite.
func TestHooksAndACL(t *testing.T) {
	b := load(t, "", func(b *broker.Broker) {
		b.RegisterACL(broker.ACLFunc(func(context.Context, *broker.ClientInfo, broker.Access, string) (broker.Decision, error) {
			return broker.Deny, nil
		}))
		broker.On(b, broker.ClientSubscribeHook, func(_ context.Context, c *broker.ClientInfo, subs []broker.Subscription) ([]broker.Subscription, broker.Flow) {
			out := slices.Clone(subs)
			for i := range out {
				out[i].Filter = strings.Replace(out[i].Filter, "$client/", "clients/", 1)
			}
			return out, broker.Continue
		})
	})
	c := b.Dial(t, "c1")
	if got := filters(b.Subscriptions("c1")); !slices.Equal(got, []string{"clients/c1:1"}) {
		t.Fatalf("subscriptions %v", got)
	}
	if code := c.Subscribe(t, "other", 0); code != 0x80 {
		t.Fatalf("the client's own SUBSCRIBE: %#x, want the ACL's refusal", code)
	}
}

// Sessions opened with Broker.Connect (gateways) are subscribed too.
func TestConnectAPI(t *testing.T) {
	b := load(t, "")
	ctx := context.Background()
	s, err := b.Broker.Connect(ctx, &broker.ClientInfo{ClientID: "gw1", CleanStart: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(nil)
	b.Publish(ctx, broker.Message{Topic: "$client/gw1", Payload: []byte("x"), QoS: 1})
	select {
	case d := <-s.Deliveries():
		if d.Topic != "$client/gw1" {
			t.Fatalf("got %q", d.Topic)
		}
		d.Ack()
	case <-time.After(brokertest.Timeout):
		t.Fatal("no delivery")
	}
}

// A refused client gets no subscription.
func TestRefused(t *testing.T) {
	b := load(t, "", func(b *broker.Broker) {
		b.RegisterAuth(broker.AuthFunc(func(context.Context, *broker.ClientInfo, []byte) (broker.Decision, error) {
			return broker.Deny, nil
		}))
	})
	if _, code := b.Connect(t, "c1"); code != packets.NotAuthorized {
		t.Fatalf("code %v", code)
	}
	if subs := b.Subscriptions("c1"); len(subs) != 0 {
		t.Fatalf("subscriptions %v", subs)
	}
}

// Unloading drops no client and keeps the subscriptions made; clients that
// connect afterwards are not subscribed.
func TestUnloadWhileConnected(t *testing.T) {
	b := load(t, "")
	c := b.Dial(t, "c1")
	if err := b.Plugins().Unload(context.Background(), subscription.Plugin.Name); err != nil {
		t.Fatal(err)
	}
	pub := b.Dial(t, "pub")
	pub.Publish(t, "$client/c1", []byte("still"), 1, false)
	if m := c.Expect(t, "$client/c1"); string(m.Payload) != "still" {
		t.Fatalf("got %q", m.Payload)
	}
	if subs := b.Subscriptions("pub"); len(subs) != 0 {
		t.Fatalf("subscribed after unload: %v", subs)
	}
}

func TestOff(t *testing.T) {
	b := load(t, "module.subscription = off\n")
	b.Dial(t, "c1")
	if subs := b.Subscriptions("c1"); len(subs) != 0 {
		t.Fatalf("subscriptions %v", subs)
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "emq_mod_subscription.conf")
	for _, tc := range []struct{ text, want string }{
		{"module.subscription.2.topic = a/%u\nmodule.subscription.2.qos = 3\n", path + ":2: module.subscription.2.qos: invalid value 3: want 0, 1 or 2"},
		{"module.subscription.1.topic = a/#/b\n", path + ":1: module.subscription.1.topic: invalid value \"a/#/b\""},
		{"module.subscription.5.qos = 1\n", path + ":1: module.subscription.5.qos: module.subscription.5.topic is missing"},
		{"module.subscription.1.qso = 1\n", path + ":1: module.subscription.1.qso: unknown key"},
		{"module.subscription.backend = maybe\n", path + ":1: module.subscription.backend: invalid value"},
	} {
		if err := os.WriteFile(path, []byte(tc.text), 0o644); err != nil {
			t.Fatal(err)
		}
		b, err := broker.New(broker.Options{})
		if err != nil {
			t.Fatal(err)
		}
		b.Plugins().Register(subscription.Plugin)
		b.Plugins().SetConfigDir(dir)
		err = b.Plugins().Load(context.Background(), subscription.Plugin.Name)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.text, err, tc.want)
		}
		b.Close()
	}
	if _, err := subscription.New(subscription.Config{Topics: []subscription.Topic{{Topic: "", QoS: 5}}}); err == nil {
		t.Error("New accepted an empty topic and QoS 5")
	}
}

func TestParseConfig(t *testing.T) {
	m, err := conf.ParseString(subscription.Defaults+"module.subscription.2.topic = $user/%u\nmodule.subscription.2.qos = 2\n", "x.conf")
	if err != nil {
		t.Fatal(err)
	}
	on, c, err := subscription.ParseConfig(m)
	if err != nil || !on {
		t.Fatal(on, err)
	}
	want := []subscription.Topic{{Topic: "$client/%c", QoS: 1}, {Topic: "$user/%u", QoS: 2}}
	if !slices.Equal(c.Topics, want) {
		t.Fatalf("topics %v, want %v", c.Topics, want)
	}
}

func TestAttach(t *testing.T) {
	m, err := subscription.New(subscription.Config{Topics: []subscription.Topic{{Topic: "in/%c", QoS: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	var detach func()
	b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) { detach = m.Attach(b) })
	b.Dial(t, "c1")
	if got := filters(b.Subscriptions("c1")); !slices.Equal(got, []string{"in/c1:2"}) {
		t.Fatalf("subscriptions %v", got)
	}
	detach()
	detach()
	b.Dial(t, "c2")
	if subs := b.Subscriptions("c2"); len(subs) != 0 {
		t.Fatalf("subscribed after detach: %v", subs)
	}
}
