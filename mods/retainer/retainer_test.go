package retainer_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/brokertest"
	"github.com/emqgo/broker/conf"
	"github.com/emqgo/broker/mods/retainer"
	"github.com/emqgo/broker/packets"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const none = 100 * time.Millisecond

// start creates a retainer with cfg and a test broker with it attached;
// it is detached when the test ends (after the broker shuts down).
func start(t *testing.T, cfg retainer.Config) (*brokertest.Broker, *retainer.Retainer) {
	t.Helper()
	r, err := retainer.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
		detach, err := r.Attach(b)
		if err != nil {
			t.Fatalf("Attach: %v", err)
		}
		t.Cleanup(detach)
	})
	return b, r
}

// expectSet waits for n PUBLISH packets and returns their topics, sorted,
// checking each has the RETAIN flag as want.
func expectSet(t *testing.T, c *brokertest.Client, n int, retain bool) []string {
	t.Helper()
	var got []string
	for range n {
		p := c.ExpectPacket(t)
		if p.Retain != retain {
			t.Errorf("PUBLISH %q: retain %v, want %v", p.Topic, p.Retain, retain)
		}
		got = append(got, p.Topic)
	}
	sort.Strings(got)
	return got
}

func TestDeliverOnSubscribe(t *testing.T) {
	b, r := start(t, retainer.DefaultConfig())
	pub := b.Dial(t, "pub")
	for _, tp := range []string{"a/b", "a/c", "a/b/c", "x", "a"} {
		pub.Publish(t, tp, []byte("p:"+tp), 1, true)
	}
	pub.Publish(t, "a/not", []byte("live only"), 1, false)
	if n := r.Len(); n != 5 {
		t.Fatalf("Len = %d, want 5", n)
	}
	for _, tc := range []struct {
		filter string
		want   []string
	}{
		{"a/b", []string{"a/b"}},
		{"a/+", []string{"a/b", "a/c"}},
		{"a/#", []string{"a", "a/b", "a/b/c", "a/c"}},
		{"+/+/c", []string{"a/b/c"}},
		{"#", []string{"a", "a/b", "a/b/c", "a/c", "x"}},
		{"nothing/here", nil},
	} {
		t.Run(tc.filter, func(t *testing.T) {
			c := b.Dial(t, "sub")
			c.Subscribe(t, tc.filter, 2)
			if got := expectSet(t, c, len(tc.want), true); !slices.Equal(got, tc.want) {
				t.Fatalf("retained for %q: %q, want %q", tc.filter, got, tc.want)
			}
			c.ExpectNone(t, none)
			c.Disconnect(t)
		})
	}
	if got := r.Topics(); !slices.Equal(got, []string{"a", "a/b", "a/b/c", "a/c", "x"}) {
		t.Fatalf("Topics = %q", got)
	}
}

func TestPayloadAndRetainFlag(t *testing.T) {
	b, _ := start(t, retainer.DefaultConfig())
	sub := b.Dial(t, "live")
	sub.Subscribe(t, "t/#", 1)
	pub := b.Dial(t, "pub")
	pub.Publish(t, "t/1", []byte("hello"), 1, true)
	// Routed normally: RETAIN is cleared [MQTT-3.3.1-9] (3.1.1).
	if m := sub.Expect(t, "t/1"); m.Retain || string(m.Payload) != "hello" {
		t.Fatalf("live delivery: retain %v payload %q", m.Retain, m.Payload)
	}
	late := b.Dial(t, "late")
	late.Subscribe(t, "t/1", 1)
	m := late.Expect(t, "t/1")
	if !m.Retain || string(m.Payload) != "hello" || m.QoS != 1 {
		t.Fatalf("retained delivery: %+v", m)
	}
	// A new retained message replaces the old one.
	pub.Publish(t, "t/1", []byte("again"), 0, true)
	sub.Expect(t, "t/1")
	late.Expect(t, "t/1")
	c := b.Dial(t, "third")
	c.Subscribe(t, "t/1", 1)
	if m := c.Expect(t, "t/1"); string(m.Payload) != "again" || m.QoS != 0 {
		t.Fatalf("replaced retained: %+v", m)
	}
}

func TestEmptyPayloadClears(t *testing.T) {
	b, r := start(t, retainer.DefaultConfig())
	live := b.Dial(t, "live")
	live.Subscribe(t, "t", 0)
	pub := b.Dial(t, "pub")
	pub.Publish(t, "t", []byte("x"), 0, true)
	live.Expect(t, "t")
	pub.Publish(t, "t", nil, 0, true)
	// The empty message is still routed [MQTT-3.3.1-10].
	if m := live.Expect(t, "t"); len(m.Payload) != 0 {
		t.Fatalf("payload %q", m.Payload)
	}
	if r.Len() != 0 {
		t.Fatalf("Len = %d after empty retained publish", r.Len())
	}
	c := b.Dial(t, "c")
	c.Subscribe(t, "t", 0)
	c.ExpectNone(t, none)
	// Clearing a topic with nothing retained is harmless.
	pub.Publish(t, "never", nil, 1, true)
}

func TestMaxMessageNum(t *testing.T) {
	cfg := retainer.DefaultConfig()
	cfg.MaxMessageNum = 2
	b, r := start(t, cfg)
	pub := b.Dial(t, "pub")
	live := b.Dial(t, "live")
	live.Subscribe(t, "#", 0)
	pub.Publish(t, "a", []byte("1"), 0, true)
	pub.Publish(t, "b", []byte("2"), 0, true)
	pub.Publish(t, "c", []byte("3"), 0, true) // full: routed, not stored
	expectSet(t, live, 3, false)
	if r.Len() != 2 {
		t.Fatalf("Len = %d, want 2", r.Len())
	}
	if _, ok := r.Get("c"); ok {
		t.Fatal("c stored beyond max_message_num")
	}
	// Replacing a stored topic is allowed when full.
	pub.Publish(t, "a", []byte("1b"), 0, true)
	live.Expect(t, "a")
	if m, ok := r.Get("a"); !ok || string(m.Payload) != "1b" {
		t.Fatalf("a = %q, %v; want 1b", m.Payload, ok)
	}
	// Deleting frees a place.
	pub.Publish(t, "b", nil, 0, true)
	pub.Publish(t, "c", []byte("3"), 0, true)
	expectSet(t, live, 2, false)
	if got := r.Topics(); !slices.Equal(got, []string{"a", "c"}) {
		t.Fatalf("Topics = %q", got)
	}
	if got := b.Stats()["retained/count"]; got != 2 {
		t.Fatalf("retained/count = %d, want 2", got)
	}
}

func TestMaxPayloadSize(t *testing.T) {
	cfg := retainer.DefaultConfig()
	cfg.MaxPayloadSize = 10
	b, r := start(t, cfg)
	live := b.Dial(t, "live")
	live.Subscribe(t, "t", 0)
	pub := b.Dial(t, "pub")
	pub.Publish(t, "t", []byte("0123456789"), 0, true)
	live.Expect(t, "t")
	pub.Publish(t, "t", []byte("0123456789X"), 0, true)
	if m := live.Expect(t, "t"); len(m.Payload) != 11 {
		t.Fatalf("too-big message not routed: %q", m.Payload)
	}
	// The old retained message stays.
	if m, ok := r.Get("t"); !ok || string(m.Payload) != "0123456789" {
		t.Fatalf("retained = %q, %v", m.Payload, ok)
	}
}

func TestQoSDowngrade(t *testing.T) {
	b, _ := start(t, retainer.DefaultConfig())
	pub := b.Dial(t, "pub")
	pub.Publish(t, "q/1", []byte("one"), 1, true)
	pub.Publish(t, "q/2", []byte("two"), 2, true)
	for _, tc := range []struct {
		sub  byte
		want map[string]byte
	}{
		{0, map[string]byte{"q/1": 0, "q/2": 0}},
		{1, map[string]byte{"q/1": 1, "q/2": 1}},
		{2, map[string]byte{"q/1": 1, "q/2": 2}},
	} {
		c := b.Dial(t, "c")
		c.Subscribe(t, "q/+", tc.sub)
		for range 2 {
			p := c.ExpectPacket(t)
			if p.QoS != tc.want[p.Topic] || !p.Retain {
				t.Errorf("sub QoS %d: %s arrived at QoS %d retain %v, want QoS %d", tc.sub, p.Topic, p.QoS, p.Retain, tc.want[p.Topic])
			}
		}
		c.Disconnect(t)
	}
}

func TestSharedSubscriptions(t *testing.T) {
	b, _ := start(t, retainer.DefaultConfig())
	pub := b.Dial(t, "pub")
	pub.Publish(t, "s/1", []byte("x"), 1, true)
	for _, v := range []byte{packets.Version311, packets.Version5} {
		c := b.Dial(t, "c", brokertest.WithVersion(v))
		for _, f := range []string{"$share/g/s/#", "$queue/s/#", "$share/g/s/1"} {
			if q := c.Subscribe(t, f, 1); q != 1 {
				t.Fatalf("v%d subscribe %q: %d", v, f, q)
			}
		}
		c.ExpectNone(t, none)
		// The same filter unshared gets it.
		c.Subscribe(t, "s/#", 1)
		c.Expect(t, "s/1")
		c.Disconnect(t)
	}
}

func TestRetainHandling(t *testing.T) {
	b, _ := start(t, retainer.DefaultConfig())
	pub := b.Dial(t, "pub")
	pub.Publish(t, "rh", []byte("x"), 1, true)
	c := b.Dial(t, "c", brokertest.WithVersion(packets.Version5))
	sub := func(rh byte) {
		t.Helper()
		codes := c.SubscribeOpts(t, nil, packets.Subscription{Filter: "rh", QoS: 1, RetainHandling: rh})
		if codes[0] != 1 {
			t.Fatalf("SUBACK %v", codes[0])
		}
	}
	// 0: on every subscribe [MQTT-3.3.1-9].
	sub(0)
	if m := c.Expect(t, "rh"); !m.Retain {
		t.Fatal("retain flag not set")
	}
	sub(0)
	c.Expect(t, "rh")
	// 1: only when the subscription is new [MQTT-3.3.1-10].
	sub(1)
	c.ExpectNone(t, none)
	c.Unsubscribe(t, "rh")
	sub(1)
	c.Expect(t, "rh")
	// 2: never [MQTT-3.3.1-11].
	c.Unsubscribe(t, "rh")
	sub(2)
	c.ExpectNone(t, none)
	// Live messages still flow.
	pub.Publish(t, "rh", []byte("live"), 0, false)
	if m := c.Expect(t, "rh"); m.Retain {
		t.Fatal("live message has retain")
	}
}

func TestRetainAsPublishedAndProperties(t *testing.T) {
	b, r := start(t, retainer.DefaultConfig())
	c := b.Dial(t, "c", brokertest.WithVersion(packets.Version5))
	c.SubscribeOpts(t, nil, packets.Subscription{Filter: "p", QoS: 1, RetainAsPublished: true})
	pub := b.Dial(t, "pub", brokertest.WithVersion(packets.Version5))
	pub.PublishPacket(t, &packets.Publish{Topic: "p", Payload: []byte("v"), QoS: 1, Retain: true,
		Properties: &packets.Properties{ContentType: "text/plain", User: []packets.UserProperty{{Key: "k", Value: "v"}}}})
	if m := c.Expect(t, "p"); !m.Retain {
		t.Fatal("retain as published: flag cleared")
	}
	late := b.Dial(t, "late", brokertest.WithVersion(packets.Version5))
	late.SubscribeOpts(t, &packets.Properties{SubscriptionIDs: []uint32{7}}, packets.Subscription{Filter: "p", QoS: 1})
	p := late.ExpectPacket(t)
	if p.Properties == nil || p.Properties.ContentType != "text/plain" || len(p.Properties.User) != 1 {
		t.Fatalf("properties not kept: %+v", p.Properties)
	}
	if !slices.Equal(p.Properties.SubscriptionIDs, []uint32{7}) {
		t.Errorf("subscription ids %v, want [7]", p.Properties.SubscriptionIDs)
	}
	m, _ := r.Get("p")
	if m.From != "pub" || m.Timestamp.IsZero() {
		t.Errorf("stored From %q Timestamp %v", m.From, m.Timestamp)
	}
}

func TestSysTopics(t *testing.T) {
	b, r := start(t, retainer.DefaultConfig())
	ctx := context.Background()
	if err := b.Publish(ctx, broker.Message{Topic: "$SYS/brokers/n/version", Payload: []byte("1"), Retain: true}); err != nil {
		t.Fatal(err)
	}
	if r.Len() != 1 {
		t.Fatalf("Len = %d", r.Len())
	}
	c := b.Dial(t, "c")
	c.Subscribe(t, "#", 0)
	c.ExpectNone(t, none) // [MQTT-4.7.2-1]
	c.Subscribe(t, "$SYS/#", 0)
	c.Expect(t, "$SYS/brokers/n/version")
}

func TestHostSubscribe(t *testing.T) {
	b, _ := start(t, retainer.DefaultConfig())
	ctx := context.Background()
	b.Publish(ctx, broker.Message{Topic: "h/1", Payload: []byte("x"), QoS: 1, Retain: true})
	got := make(chan broker.Message, 1)
	unsub, err := b.Subscribe(ctx, "h/+", 1, func(_ context.Context, m broker.Message) { got <- m })
	if err != nil {
		t.Fatal(err)
	}
	defer unsub()
	select {
	case m := <-got:
		if m.Topic != "h/1" || !m.Retain {
			t.Fatalf("got %+v", m)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("host subscription got no retained message")
	}
}

func TestCleanDeleteMatch(t *testing.T) {
	b, r := start(t, retainer.DefaultConfig())
	pub := b.Dial(t, "pub")
	for _, tp := range []string{"a/1", "a/2", "b/1"} {
		pub.Publish(t, tp, []byte(tp), 1, true)
	}
	if ms := r.Match("a/+"); len(ms) != 2 {
		t.Fatalf("Match(a/+) = %d messages", len(ms))
	}
	if ms := r.Match("$share/g/a/+"); len(ms) != 0 {
		t.Fatalf("Match(shared) = %d messages", len(ms))
	}
	if !r.Delete("a/1") || r.Delete("a/1") {
		t.Fatal("Delete")
	}
	if n := r.Clean(); n != 2 {
		t.Fatalf("Clean = %d, want 2", n)
	}
	if r.Len() != 0 {
		t.Fatalf("Len = %d after Clean", r.Len())
	}
	c := b.Dial(t, "c")
	c.Subscribe(t, "#", 0)
	c.ExpectNone(t, none)
}

func TestExpiredAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := retainer.DefaultConfig()
		cfg.ExpiredAfter = time.Minute
		b, r := start(t, cfg)
		pub := b.Dial(t, "pub")
		pub.Publish(t, "e", []byte("x"), 0, true)
		time.Sleep(30 * time.Second)
		c := b.Dial(t, "c1")
		c.Subscribe(t, "e", 0)
		c.Expect(t, "e")
		time.Sleep(31 * time.Second)
		if _, ok := r.Get("e"); ok {
			t.Fatal("Get returns an expired message")
		}
		c2 := b.Dial(t, "c2")
		c2.Subscribe(t, "e", 0)
		c2.ExpectNone(t, none)
		// The sweep purges it.
		time.Sleep(time.Minute)
		synctest.Wait()
		if r.Len() != 0 {
			t.Fatalf("Len = %d after the sweep", r.Len())
		}
	})
}

func TestMessageExpiryInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b, r := start(t, retainer.DefaultConfig()) // no expired_after
		pub := b.Dial(t, "pub", brokertest.WithVersion(packets.Version5))
		exp := uint32(10)
		pub.PublishPacket(t, &packets.Publish{Topic: "m", Payload: []byte("x"), QoS: 1, Retain: true,
			Properties: &packets.Properties{MessageExpiry: &exp}})
		pub.PublishPacket(t, &packets.Publish{Topic: "forever", Payload: []byte("y"), QoS: 1, Retain: true})
		time.Sleep(4 * time.Second)
		c := b.Dial(t, "c", brokertest.WithVersion(packets.Version5))
		c.Subscribe(t, "m", 1)
		p := c.ExpectPacket(t)
		if p.Properties == nil || p.Properties.MessageExpiry == nil || *p.Properties.MessageExpiry != 6 {
			t.Fatalf("message expiry = %+v, want 6 left [MQTT-3.3.2-6]", p.Properties)
		}
		time.Sleep(7 * time.Second)
		c.Subscribe(t, "#", 1)
		if m := c.Expect(t, "forever"); string(m.Payload) != "y" {
			t.Fatalf("got %q", m.Payload)
		}
		c.ExpectNone(t, none)
		time.Sleep(time.Minute)
		synctest.Wait()
		if got := r.Topics(); !slices.Equal(got, []string{"forever"}) {
			t.Fatalf("Topics after sweep = %q", got)
		}
	})
}

func TestDiscPersistence(t *testing.T) {
	dir := t.TempDir()
	cfg := retainer.DefaultConfig()
	cfg.StorageType = retainer.StorageDisc
	cfg.Dir = dir

	// First life: store three, delete one, with properties on one.
	func() {
		r, err := retainer.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		b, err := broker.New(broker.Options{SysInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		detach, err := r.Attach(b)
		if err != nil {
			t.Fatal(err)
		}
		tb := &brokertest.Broker{Broker: b}
		pub := tb.Dial(t, "pub", brokertest.WithVersion(packets.Version5))
		pub.Publish(t, "d/1", []byte("one"), 1, true)
		pub.Publish(t, "d/2", []byte("two"), 2, true)
		pub.PublishPacket(t, &packets.Publish{Topic: "d/3", Payload: []byte("three"), QoS: 1, Retain: true,
			Properties: &packets.Properties{ContentType: "text/plain", CorrelationData: []byte{0, 1, 2}}})
		pub.Publish(t, "d/2", nil, 0, true)
		pub.Disconnect(t)
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
		detach()
		detach() // idempotent
	}()

	// Second life: a new broker and retainer on the same directory.
	b, r := start(t, cfg)
	if got := r.Topics(); !slices.Equal(got, []string{"d/1", "d/3"}) {
		t.Fatalf("Topics after restart = %q", got)
	}
	c := b.Dial(t, "c", brokertest.WithVersion(packets.Version5))
	c.Subscribe(t, "d/#", 2)
	got := map[string]*packets.Publish{}
	for range 2 {
		p := c.ExpectPacket(t)
		got[p.Topic] = p
	}
	if p := got["d/1"]; p == nil || string(p.Payload) != "one" || p.QoS != 1 || !p.Retain {
		t.Fatalf("d/1 = %+v", p)
	}
	if p := got["d/3"]; p == nil || p.Properties == nil || p.Properties.ContentType != "text/plain" ||
		string(p.Properties.CorrelationData) != "\x00\x01\x02" {
		t.Fatalf("d/3 = %+v", p)
	}
	if m, _ := r.Get("d/1"); m.From != "pub" {
		t.Errorf("From = %q after restart", m.From)
	}
	// Clean also empties the file.
	r.Clean()
}

func TestDiscClean(t *testing.T) {
	cfg := retainer.DefaultConfig()
	cfg.StorageType = retainer.StorageDisc
	cfg.Dir = t.TempDir()
	r, err := retainer.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := broker.New(broker.Options{SysInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	detach, err := r.Attach(b)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	b.Publish(ctx, broker.Message{Topic: "x/1", Payload: []byte("1"), Retain: true})
	b.Publish(ctx, broker.Message{Topic: "x/2", Payload: []byte("2"), Retain: true})
	r.Clean()
	b.Publish(ctx, broker.Message{Topic: "x/3", Payload: []byte("3"), Retain: true})
	detach()
	// Attach again: the index is reloaded from the file.
	detach, err = r.Attach(b)
	if err != nil {
		t.Fatal(err)
	}
	defer detach()
	if got := r.Topics(); !slices.Equal(got, []string{"x/3"}) {
		t.Fatalf("Topics after reload = %q", got)
	}
}

func TestAttachTwice(t *testing.T) {
	r, _ := retainer.New(retainer.DefaultConfig())
	b, _ := broker.New(broker.Options{SysInterval: -1})
	defer b.Close()
	detach, err := r.Attach(b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Attach(b); err != retainer.ErrAttached {
		t.Fatalf("second Attach: %v, want ErrAttached", err)
	}
	detach()
	// Detached: retained publishes are no longer stored, the counter is gone.
	b.Publish(context.Background(), broker.Message{Topic: "t", Payload: []byte("1"), Retain: true})
	if r.Len() != 0 {
		t.Fatal("stored after detach")
	}
	if n := b.Stats()["retained/count"]; n != 0 {
		t.Fatalf("retained/count = %d after detach", n)
	}
	detach, err = r.Attach(b)
	if err != nil {
		t.Fatal(err)
	}
	detach()
}

func TestConfig(t *testing.T) {
	bad := []retainer.Config{
		{StorageType: "tape"},
		{StorageType: "disc"},
		{MaxMessageNum: -1},
		{MaxPayloadSize: -1},
		{ExpiredAfter: -time.Second},
	}
	for _, c := range bad {
		if _, err := retainer.New(c); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
	if _, err := retainer.New(retainer.Config{}); err != nil {
		t.Errorf("zero Config: %v", err)
	}
	m, err := conf.ParseString(strings.Join([]string{
		"module.retainer.storage_type = disc",
		"module.retainer.dir = data/retainer",
		"module.retainer.max_message_num = 1000",
		"module.retainer.max_payload_size = 1MB",
		"module.retainer.expired_after = 3600",
	}, "\n"), "emq_mod_retainer.conf")
	if err != nil {
		t.Fatal(err)
	}
	cfg := retainer.DefaultConfig()
	if err := m.Sub("module.retainer").Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	want := retainer.Config{StorageType: "disc", Dir: "data/retainer", MaxMessageNum: 1000, MaxPayloadSize: 1 << 20, ExpiredAfter: time.Hour}
	if cfg != want {
		t.Fatalf("decoded %+v, want %+v", cfg, want)
	}
	m, _ = conf.ParseString("module.retainer.expired_after = 0\nmodule.retainer.max_message_num = infinity\n", "x.conf")
	cfg = retainer.DefaultConfig()
	if err := m.Sub("module.retainer").Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.ExpiredAfter != 0 || cfg.MaxMessageNum != 0 {
		t.Fatalf("decoded %+v", cfg)
	}
}

// TestDiscConsistency races retained publishes, deletions and Clean with
// the background writer and checks that the file ends up holding exactly
// what the index holds.
func TestDiscConsistency(t *testing.T) {
	cfg := retainer.DefaultConfig()
	cfg.StorageType = retainer.StorageDisc
	cfg.Dir = t.TempDir()
	r, err := retainer.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := broker.New(broker.Options{SysInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	detach, err := r.Attach(b)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 500 {
				tp := fmt.Sprintf("c/%d", (i*7+g)%50)
				var p []byte
				if i%5 != 0 {
					p = fmt.Appendf(nil, "%d-%d", g, i)
				}
				b.Publish(ctx, broker.Message{Topic: tp, Payload: p, Retain: true})
				if g == 0 && i == 250 {
					r.Clean()
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
	want := map[string]string{}
	for _, tp := range r.Topics() {
		m, _ := r.Get(tp)
		want[tp] = string(m.Payload)
	}
	detach()
	detach, err = r.Attach(b)
	if err != nil {
		t.Fatal(err)
	}
	defer detach()
	got := map[string]string{}
	for _, tp := range r.Topics() {
		m, _ := r.Get(tp)
		got[tp] = string(m.Payload)
	}
	if !maps.Equal(got, want) {
		t.Fatalf("reloaded %d messages, want %d: %v vs %v", len(got), len(want), got, want)
	}
}

// TestNotDetached attaches without ever detaching, as a quick test may:
// the background goroutine ends with the broker (goleak checks it).
func TestNotDetached(t *testing.T) {
	r, _ := retainer.New(retainer.DefaultConfig())
	b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) { r.Attach(b) })
	c := b.Dial(t, "c")
	c.Publish(t, "t", []byte("x"), 1, true)
	c.Subscribe(t, "t", 1)
	c.Expect(t, "t")
}
