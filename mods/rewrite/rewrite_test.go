package rewrite_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/brokertest"
	"github.com/emqgo/broker/conf"
	"github.com/emqgo/broker/mods/rewrite"
	"github.com/emqgo/broker/packets"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const none = 100 * time.Millisecond

// The seed's examples.
const seedRules = `module.rewrite.rule.1 = x/# ^x/y/(.+)$ z/y/$1
module.rewrite.rule.2 = y/+/z/# ^y/(.+)/z/(.+)$ y/z/$2
`

func mustNew(t *testing.T, rules ...rewrite.Rule) *rewrite.Rewriter {
	t.Helper()
	r, err := rewrite.New(rewrite.Config{Rules: rules})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRewrite(t *testing.T) {
	r := mustNew(t,
		rewrite.Rule{Filter: "x/#", Regex: `^x/y/(.+)$`, Dest: "z/y/$1"},
		rewrite.Rule{Filter: "y/+/z/#", Regex: `^y/(.+)/z/(.+)$`, Dest: "y/z/$2"},
		rewrite.Rule{Filter: "x/a/#", Regex: `^x/a/(.*)$`, Dest: "never/$1"},
		rewrite.Rule{Filter: "opt/#", Regex: `^opt/(a)?(b)$`, Dest: "o/$1-$2/$3/$0/$/$$2"},
		rewrite.Rule{Filter: "many/#", Regex: `^many/(.)(.)$`, Dest: "m/$12/$21"},
	)
	for _, tc := range []struct{ in, want string }{
		{"x/y/1", "z/y/1"},
		{"x/y/1/2", "z/y/1/2"},
		{"x/y", "x/y"},     // filter matches, regex does not: unchanged
		{"x/a/b", "x/a/b"}, // the first matching filter decides; rule 3 is not tried
		{"y/a/z/b", "y/z/b"},
		{"y/a/b/z/c/d", "y/a/b/z/c/d"}, // y/+/z/# does not match
		{"z/y/1", "z/y/1"},
		{"opt/b", "o/-b/$3/$0/$/$b"},
		{"opt/ab", "o/a-b/$3/$0/$/$b"},
		{"many/pq", "m/p2/q1"},
		{"$SYS/x", "$SYS/x"},
	} {
		if got := r.Rewrite(tc.in); got != tc.want {
			t.Errorf("Rewrite(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"x/y/+", "z/y/+"},
		{"x/y/#", "z/y/#"},
		{"x/+/1", "x/+/1"}, // '+' is literal: x/+/1 does not match ^x/y/
		{"$share/g/x/y/1", "$share/g/z/y/1"},
		{"$queue/x/y/1", "$queue/z/y/1"},
		{"$share/g", "$share/g"},
	} {
		if got := r.RewriteFilter(tc.in); got != tc.want {
			t.Errorf("RewriteFilter(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParseRule(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want rewrite.Rule
	}{
		{`x/# ^x/y/(.+)$ z/y/$1`, rewrite.Rule{Filter: "x/#", Regex: `^x/y/(.+)$`, Dest: "z/y/$1"}},
		{"  x/#\t^x$   z  ", rewrite.Rule{Filter: "x/#", Regex: `^x$`, Dest: "z"}},
		{`{rewrite, "x/#", "^x/y/(.+)$", "z/y/$1"}`, rewrite.Rule{Filter: "x/#", Regex: `^x/y/(.+)$`, Dest: "z/y/$1"}},
		{`{rewrite,"y/+/z/#","^y/(.+)/z/(.+)$","y/z/$2"},`, rewrite.Rule{Filter: "y/+/z/#", Regex: `^y/(.+)/z/(.+)$`, Dest: "y/z/$2"}},
		{`{ rewrite , "a/#" , "^a\\.b\"c$" , "d" }.`, rewrite.Rule{Filter: "a/#", Regex: `^a\.b"c$`, Dest: "d"}},
		{`{rewrite, "a b", "^a b$", "c\sd"}`, rewrite.Rule{Filter: "a b", Regex: "^a b$", Dest: "c d"}},
	} {
		got, err := rewrite.ParseRule(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseRule(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{
		"x/# ^x$", "a b c d", "", `{rewrite, "a", "b"}`, `{rewrite, "a", "b", "c"`, `{rule, "a", "b", "c"}`,
		`{rewrite, "a", "b", "c}`, `{rewrite, "a" "b", "c"}`, `{rewrite, a, "b", "c"}`,
	} {
		if r, err := rewrite.ParseRule(in); err == nil {
			t.Errorf("ParseRule(%q) = %+v, want an error", in, r)
		}
	}
}

// load starts a test broker with the plugin loaded with cfg over its
// defaults.
func load(t *testing.T, cfg string) *brokertest.Broker {
	t.Helper()
	return brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
		if err := b.Plugins().Register(rewrite.Plugin); err != nil {
			t.Fatal(err)
		}
		m, err := conf.ParseString(cfg, "emq_mod_rewrite.conf")
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Plugins().LoadWith(context.Background(), rewrite.Plugin.Name, m); err != nil {
			t.Fatalf("load: %v", err)
		}
	})
}

func TestPublish(t *testing.T) {
	b := load(t, seedRules+"module.rewrite.rule.3 = bad/# ^bad/(.+)$ out/$1/#\n")
	sub := b.Dial(t, "sub")
	sub.Subscribe(t, "#", 1)
	pub := b.Dial(t, "pub")
	for _, tc := range []struct{ in, want string }{
		{"x/y/1", "z/y/1"},
		{"y/a/z/b", "y/z/b"},
		{"x/other", "x/other"},
		{"bad/1", "bad/1"}, // out/1/# is not a topic name: not rewritten
	} {
		pub.Publish(t, tc.in, []byte(tc.in), 1, false)
		if m := sub.Expect(t, tc.want); string(m.Payload) != tc.in {
			t.Errorf("%s: payload %q", tc.in, m.Payload)
		}
	}
	// Host publishes and wills are rewritten too.
	b.Publish(context.Background(), broker.Message{Topic: "x/y/host", Payload: []byte("h")})
	sub.Expect(t, "z/y/host")
	w := b.Dial(t, "w", brokertest.WithWill("x/y/will", []byte("bye"), 0, false))
	w.Drop()
	sub.Expect(t, "z/y/will")
}

func TestSubscribeAndUnsubscribe(t *testing.T) {
	b := load(t, seedRules)
	c := b.Dial(t, "c1", brokertest.WithVersion(packets.Version5))
	codes := c.SubscribeOpts(t, nil,
		packets.Subscription{Filter: "x/y/+", QoS: 1},
		packets.Subscription{Filter: "$share/g/x/y/s", QoS: 0},
		packets.Subscription{Filter: "plain", QoS: 2})
	if !slices.Equal(codes, []packets.ReasonCode{1, 0, 2}) {
		t.Fatalf("SUBACK %v", codes)
	}
	var got []string
	for _, s := range b.Subscriptions("c1") {
		got = append(got, s.Filter)
	}
	if want := []string{"$share/g/z/y/s", "plain", "z/y/+"}; !slices.Equal(got, want) {
		t.Fatalf("subscriptions %v, want %v", got, want)
	}
	pub := b.Dial(t, "pub")
	pub.Publish(t, "z/y/a", []byte("1"), 1, false)
	c.Expect(t, "z/y/a")
	// Publishing to the old name is rewritten to the new one too.
	pub.Publish(t, "x/y/b", []byte("2"), 1, false)
	c.Expect(t, "z/y/b")

	// The client unsubscribes with the filter it subscribed with.
	if codes := c.Unsubscribe(t, "x/y/+", "$share/g/x/y/s"); !slices.Equal(codes, []packets.ReasonCode{0, 0}) {
		t.Fatalf("UNSUBACK %v", codes)
	}
	if subs := b.Subscriptions("c1"); len(subs) != 1 || subs[0].Filter != "plain" {
		t.Fatalf("after unsubscribe: %v", subs)
	}
}

// Rules apply in the order of their numbers, not of the file.
func TestRuleOrder(t *testing.T) {
	b := load(t, `module.rewrite.rule.10 = a/# ^a/(.+)$ ten/$1
module.rewrite.rule.2 = a/b ^a/b$ two
`)
	sub := b.Dial(t, "sub")
	sub.Subscribe(t, "#", 0)
	b.Dial(t, "pub").Publish(t, "a/b", nil, 0, false)
	sub.Expect(t, "two")
}

// EMQ 2.0's Erlang term form in the configuration file.
func TestTermForm(t *testing.T) {
	b := load(t, `module.rewrite.rule.1 = {rewrite, "x/#", "^x/y/(.+)$", "z/y/$1"}`+"\n")
	sub := b.Dial(t, "sub")
	sub.Subscribe(t, "z/#", 0)
	b.Dial(t, "pub").Publish(t, "x/y/1", nil, 0, false)
	sub.Expect(t, "z/y/1")
}

func TestOff(t *testing.T) {
	b := load(t, seedRules+"module.rewrite = off\n")
	sub := b.Dial(t, "sub")
	sub.Subscribe(t, "#", 0)
	b.Dial(t, "pub").Publish(t, "x/y/1", nil, 0, false)
	sub.Expect(t, "x/y/1")
}

// Unloading stops the rewriting and drops no client.
func TestUnloadWhileConnected(t *testing.T) {
	b := load(t, seedRules)
	sub := b.Dial(t, "sub")
	sub.Subscribe(t, "#", 1)
	pub := b.Dial(t, "pub")
	pub.Publish(t, "x/y/1", nil, 1, false)
	sub.Expect(t, "z/y/1")
	if err := b.Plugins().Unload(context.Background(), rewrite.Plugin.Name); err != nil {
		t.Fatal(err)
	}
	pub.Publish(t, "x/y/1", nil, 1, false)
	sub.Expect(t, "x/y/1")
	sub.Subscribe(t, "x/y/2", 0)
	if subs := b.Subscriptions("sub"); len(subs) != 2 || subs[1].Filter != "x/y/2" {
		t.Fatalf("subscriptions after unload: %v", subs)
	}
	sub.ExpectNone(t, none)
}

// A wrong rule names file, line and key, and nothing loads.
func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "emq_mod_rewrite.conf")
	for _, tc := range []struct{ text, want string }{
		{"module.rewrite = on\nmodule.rewrite.rule.1 = x/# ^x/(.+$ z/$1\n", path + ":2: module.rewrite.rule.1: regex \"^x/(.+$\": error parsing regexp: missing closing )"},
		{"module.rewrite.rule.1 = x/#/y ^x$ z\n", path + ":1: module.rewrite.rule.1: filter \"x/#/y\""},
		{"module.rewrite.rule.1 = x/# ^x$\n", path + ":1: module.rewrite.rule.1: invalid rule \"x/# ^x$\": want <filter> <regex> <dest>"},
		{"module.rewrite.rule.one = x/# ^x$ y\n", path + ":1: module.rewrite.rule.one: unknown key: want module.rewrite.rule.<number>"},
		{"module.rewrite.rules.1 = x/# ^x$ y\n", path + ":1: module.rewrite.rules.1: unknown key"},
		{`module.rewrite.rule.3 = {rewrite, "x/#", "(", "y"}` + "\n", path + `:1: module.rewrite.rule.3: regex "(": error parsing regexp`},
	} {
		if err := os.WriteFile(path, []byte(tc.text), 0o644); err != nil {
			t.Fatal(err)
		}
		b, err := broker.New(broker.Options{})
		if err != nil {
			t.Fatal(err)
		}
		b.Plugins().Register(rewrite.Plugin)
		b.Plugins().SetConfigDir(dir)
		err = b.Plugins().Load(context.Background(), rewrite.Plugin.Name)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q:\n error %v\n want %q", tc.text, err, tc.want)
		}
		b.Close()
	}
	if _, err := rewrite.New(rewrite.Config{Rules: []rewrite.Rule{{Filter: "a", Regex: "(", Dest: ""}}}); err == nil {
		t.Error("New accepted a bad rule")
	}
}

func TestAttach(t *testing.T) {
	r := mustNew(t, rewrite.Rule{Filter: "a/#", Regex: "^a/(.*)$", Dest: "b/$1"})
	var detach func()
	b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) { detach = r.Attach(b) })
	sub := b.Dial(t, "sub")
	sub.Subscribe(t, "#", 0)
	b.Publish(context.Background(), broker.Message{Topic: "a/1"})
	sub.Expect(t, "b/1")
	detach()
	detach()
	b.Publish(context.Background(), broker.Message{Topic: "a/1"})
	sub.Expect(t, "a/1")
}
