package broker_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/brokertest"
	"github.com/emqgo/broker/packets"
)

// answer is a scripted access module's reply.
type answer struct {
	d   broker.Decision
	err error
}

var errBackend = errors.New("backend down")

// lockedBuffer is a bytes.Buffer for a slog handler written by broker
// goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestAuthChain checks emqttd_access_control's rules: the first answer
// other than Ignore wins, an error denies without falling through, and when
// every module ignores, DenyAnonymous decides.
func TestAuthChain(t *testing.T) {
	type mod struct {
		answer
		prio int
	}
	tests := []struct {
		name      string
		denyAnon  bool
		mods      []mod
		wantOK    bool
		wantCalls []int // indexes of the modules asked, in order
	}{
		{name: "no modules allow anonymous", wantOK: true},
		{name: "no modules with DenyAnonymous", denyAnon: true, wantOK: false},
		{name: "all ignore falls through to allow", mods: []mod{{}, {}}, wantOK: true, wantCalls: []int{0, 1}},
		{name: "all ignore with DenyAnonymous", denyAnon: true, mods: []mod{{}, {}}, wantOK: false, wantCalls: []int{0, 1}},
		{name: "first allow wins", mods: []mod{{}, {answer: answer{d: broker.Allow}}, {answer: answer{d: broker.Deny}}}, wantOK: true, wantCalls: []int{0, 1}},
		{name: "first deny wins", mods: []mod{{}, {answer: answer{d: broker.Deny}}, {answer: answer{d: broker.Allow}}}, wantOK: false, wantCalls: []int{0, 1}},
		{name: "allow beats DenyAnonymous", denyAnon: true, mods: []mod{{answer: answer{d: broker.Allow}}}, wantOK: true, wantCalls: []int{0}},
		{name: "error denies without fall-through", mods: []mod{{answer: answer{err: errBackend}}, {answer: answer{d: broker.Allow}}}, wantOK: false, wantCalls: []int{0}},
		{name: "error denies even with allow", mods: []mod{{answer: answer{d: broker.Allow, err: errBackend}}}, wantOK: false, wantCalls: []int{0}},
		{name: "higher priority runs first", mods: []mod{{answer: answer{d: broker.Allow}}, {answer: answer{d: broker.Deny}, prio: 10}}, wantOK: false, wantCalls: []int{1}},
		{name: "equal priority keeps registration order", mods: []mod{{prio: 5}, {answer: answer{d: broker.Deny}, prio: 5}, {answer: answer{d: broker.Allow}, prio: 5}}, wantOK: false, wantCalls: []int{0, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := newEvlog[int]()
			type req struct {
				id, user, pw string
			}
			reqs := newEvlog[req]()
			b := brokertest.New(t, broker.Options{DenyAnonymous: tt.denyAnon}, func(b *broker.Broker) {
				for i, m := range tt.mods {
					b.RegisterAuth(broker.AuthFunc(func(_ context.Context, c *broker.ClientInfo, pw []byte) (broker.Decision, error) {
						calls.add(i)
						reqs.add(req{c.ClientID, c.Username, string(pw)})
						return m.d, m.err
					}), broker.Priority(m.prio))
				}
			})
			c, code := b.Connect(t, "c1", brokertest.WithCredentials("alice", "s3cret"))
			if ok := code == packets.Success; ok != tt.wantOK {
				t.Fatalf("CONNACK %v, want accepted = %v", code, tt.wantOK)
			}
			if !tt.wantOK {
				// EMQ answers a refused login with return code 4.
				if code != packets.BadUserNameOrPassword || c.Connack.ReasonCode != 4 {
					t.Errorf("CONNACK %v (wire %d), want bad user name or password (4)", code, c.Connack.ReasonCode)
				}
				c.ExpectClosed(t)
			}
			if got := calls.all(); !slices.Equal(got, tt.wantCalls) {
				t.Errorf("modules asked %v, want %v", got, tt.wantCalls)
			}
			for _, r := range reqs.all() {
				if r != (req{"c1", "alice", "s3cret"}) {
					t.Errorf("module asked with %+v", r)
				}
			}
		})
	}
}

// TestDenyAnonymousConnack checks what CONNACK a refused client gets:
// "bad user name or password" when it sent credentials, "not authorized"
// when it did not.
func TestDenyAnonymousConnack(t *testing.T) {
	tests := []struct {
		name    string
		opts    []brokertest.ClientOption
		want    packets.ReasonCode
		wantRaw packets.ReasonCode
	}{
		{"3.1.1 with credentials", []brokertest.ClientOption{brokertest.WithCredentials("u", "p")}, packets.BadUserNameOrPassword, packets.ReasonCode(packets.ConnRefusedBadUsernameOrPassword)},
		{"3.1.1 with a user name only", []brokertest.ClientOption{brokertest.WithUsername("u")}, packets.BadUserNameOrPassword, packets.ReasonCode(packets.ConnRefusedBadUsernameOrPassword)},
		{"3.1.1 without credentials", nil, packets.NotAuthorized, packets.ReasonCode(packets.ConnRefusedNotAuthorized)},
		{"3.1 without credentials", []brokertest.ClientOption{brokertest.WithVersion(packets.Version31)}, packets.NotAuthorized, packets.ReasonCode(packets.ConnRefusedNotAuthorized)},
		{"5 with credentials", []brokertest.ClientOption{brokertest.WithCredentials("u", "p"), brokertest.WithVersion(packets.Version5)}, packets.BadUserNameOrPassword, packets.BadUserNameOrPassword},
		{"5 without credentials", []brokertest.ClientOption{brokertest.WithVersion(packets.Version5)}, packets.NotAuthorized, packets.NotAuthorized},
	}
	b := brokertest.New(t, broker.Options{DenyAnonymous: true})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, code := b.Connect(t, "c1", tt.opts...)
			if code != tt.want || c.Connack.ReasonCode != tt.wantRaw {
				t.Fatalf("CONNACK %v (wire %#x), want %v (wire %#x)", code, byte(c.Connack.ReasonCode), tt.want, byte(tt.wantRaw))
			}
			if c.Connack.SessionPresent {
				t.Errorf("refused CONNACK has session present set [MQTT-3.2.2-4]")
			}
			c.ExpectClosed(t) // [MQTT-3.2.2-5]
		})
	}
	if n := len(b.Sessions()); n != 0 {
		t.Fatalf("refused clients left %d sessions", n)
	}
}

func TestAuthErrorIsLogged(t *testing.T) {
	var buf lockedBuffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	b := brokertest.New(t, broker.Options{Logger: logger}, func(b *broker.Broker) {
		b.RegisterAuth(broker.AuthFunc(func(context.Context, *broker.ClientInfo, []byte) (broker.Decision, error) {
			return broker.Ignore, errBackend
		}), broker.Named("flaky-db"))
	})
	if _, code := b.Connect(t, "c1", brokertest.WithCredentials("u", "p")); code != packets.BadUserNameOrPassword {
		t.Fatalf("CONNACK %v, want refusal", code)
	}
	// The module runs before the CONNACK is written, so its log line is there.
	if s := buf.String(); !strings.Contains(s, "flaky-db") || !strings.Contains(s, errBackend.Error()) {
		t.Fatalf("log does not name the module and its error:\n%s", s)
	}
}

// TestACLChain checks the ACL chain with publishes: the first answer other
// than Ignore wins, an error denies, and when every module ignores,
// DenyACLNoMatch decides.
func TestACLChain(t *testing.T) {
	tests := []struct {
		name      string
		noMatch   bool // Options.DenyACLNoMatch
		mods      []answer
		wantOK    bool
		wantCalls []int
	}{
		{name: "no modules allow", wantOK: true},
		{name: "no modules with DenyACLNoMatch", noMatch: true, wantOK: false},
		{name: "all ignore allow", mods: []answer{{}, {}}, wantOK: true, wantCalls: []int{0, 1}},
		{name: "all ignore with DenyACLNoMatch", noMatch: true, mods: []answer{{}, {}}, wantOK: false, wantCalls: []int{0, 1}},
		{name: "first allow wins", mods: []answer{{}, {d: broker.Allow}, {d: broker.Deny}}, wantOK: true, wantCalls: []int{0, 1}},
		{name: "first deny wins", mods: []answer{{d: broker.Deny}, {d: broker.Allow}}, wantOK: false, wantCalls: []int{0}},
		{name: "allow beats DenyACLNoMatch", noMatch: true, mods: []answer{{d: broker.Allow}}, wantOK: true, wantCalls: []int{0}},
		{name: "error denies without fall-through", mods: []answer{{err: errBackend}, {d: broker.Allow}}, wantOK: false, wantCalls: []int{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := newEvlog[int]()
			b := brokertest.New(t, broker.Options{DenyACLNoMatch: tt.noMatch}, func(b *broker.Broker) {
				for i, a := range tt.mods {
					b.RegisterACL(broker.ACLFunc(func(_ context.Context, c *broker.ClientInfo, acc broker.Access, topic string) (broker.Decision, error) {
						if c.ClientID != "pub" || acc != broker.AccessPublish || topic != "t" {
							return broker.Allow, nil // the subscriber and the probe
						}
						calls.add(i)
						return a.d, a.err
					}))
				}
				// With DenyACLNoMatch and no module, a trusted subscriber
				// is needed: let the client.authorize hook allow it.
				broker.On(b, broker.ClientAuthorizeHook, func(_ context.Context, c *broker.ClientInfo, _ broker.Access, topic string, d broker.Decision) (broker.Decision, broker.Flow) {
					if c.ClientID == "sub" || topic == "probe" {
						return broker.Allow, broker.Continue
					}
					return d, broker.Continue
				})
			})
			sub := b.Dial(t, "sub")
			sub.Subscribe(t, "#", 0)
			pub := b.Dial(t, "pub")
			pub.Publish(t, "t", []byte("x"), 0, false)
			pub.Publish(t, "probe", nil, 0, false)
			if tt.wantOK {
				sub.Expect(t, "t")
			}
			sub.Expect(t, "probe") // t, if denied, did not come before it
			if got := calls.all(); !slices.Equal(got, tt.wantCalls) {
				t.Errorf("modules asked %v, want %v", got, tt.wantCalls)
			}
		})
	}
}

// TestACLRequest checks what an Authorizer is asked.
func TestACLRequest(t *testing.T) {
	type req struct {
		id, user string
		access   broker.Access
		topic    string
	}
	reqs := newEvlog[req]()
	b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
		b.RegisterACL(broker.ACLFunc(func(_ context.Context, c *broker.ClientInfo, a broker.Access, topic string) (broker.Decision, error) {
			reqs.add(req{c.ClientID, c.Username, a, topic})
			return broker.Ignore, nil
		}))
	})
	c := b.Dial(t, "c1", brokertest.WithUsername("alice"))
	c.SubscribeOpts(t, nil, packets.Subscription{Filter: "a/+"}, packets.Subscription{Filter: "$share/g/b/#"})
	c.Publish(t, "a/1", nil, 1, false)
	want := []req{
		{"c1", "alice", broker.AccessSubscribe, "a/+"},
		{"c1", "alice", broker.AccessSubscribe, "$share/g/b/#"},
		{"c1", "alice", broker.AccessPublish, "a/1"},
	}
	if got := reqs.wait(t, 3); !slices.Equal(got, want) {
		t.Fatalf("ACL asked %+v, want %+v", got, want)
	}
}

// superAuth allows everyone and makes "admin" a superuser.
type superAuth struct{ fail bool }

func (superAuth) Authenticate(context.Context, *broker.ClientInfo, []byte) (broker.Decision, error) {
	return broker.Allow, nil
}

func (s superAuth) IsSuperuser(_ context.Context, c *broker.ClientInfo) (bool, error) {
	if s.fail {
		return true, errBackend
	}
	return c.Username == "admin", nil
}

var _ broker.SuperuserChecker = superAuth{}

func TestSuperuserSkipsACL(t *testing.T) {
	asked := newEvlog[string]()
	b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
		b.RegisterAuth(superAuth{})
		b.RegisterACL(broker.ACLFunc(func(_ context.Context, c *broker.ClientInfo, _ broker.Access, _ string) (broker.Decision, error) {
			asked.add(c.ClientID)
			return broker.Deny, nil
		}))
	})
	admin := b.Dial(t, "root", brokertest.WithCredentials("admin", "pw"))
	if q := admin.Subscribe(t, "#", 1); q != 1 {
		t.Fatalf("superuser SUBACK %#x, want 1", q)
	}
	admin.Publish(t, "any/topic", []byte("x"), 1, false)
	admin.Expect(t, "any/topic")
	if info, ok := b.Client("root"); !ok || !info.Superuser {
		t.Fatalf("Client(root) = %+v, %v; want a connected superuser", info, ok)
	}
	if got := asked.all(); len(got) != 0 {
		t.Fatalf("ACL asked about the superuser: %v", got)
	}

	bob := b.Dial(t, "bob", brokertest.WithCredentials("bob", "pw"))
	if q := bob.Subscribe(t, "#", 1); q != 0x80 {
		t.Fatalf("ordinary user SUBACK %#x, want 0x80", q)
	}
	if info, _ := b.Client("bob"); info.Superuser {
		t.Fatalf("bob is a superuser")
	}
	if got := asked.all(); !slices.Equal(got, []string{"bob"}) {
		t.Fatalf("ACL asked about %v, want [bob]", got)
	}
}

func TestSuperuserCheckErrorIsNotSuperuser(t *testing.T) {
	b := brokertest.New(t, broker.Options{DenyACLNoMatch: true}, func(b *broker.Broker) {
		b.RegisterAuth(superAuth{fail: true})
	})
	c := b.Dial(t, "c1", brokertest.WithCredentials("admin", "pw"))
	if q := c.Subscribe(t, "#", 0); q != 0x80 {
		t.Fatalf("SUBACK %#x, want 0x80: a failed superuser check must not grant", q)
	}
}

// TestDeniedSubscribe checks EMQ's behaviour for MQTT 3.1.1: one denied
// filter refuses every filter of the SUBSCRIBE. MQTT 5 refuses only the
// denied filter, with reason 0x87.
func TestDeniedSubscribe(t *testing.T) {
	tests := []struct {
		version     byte
		unspecified bool // Options.SubscribeDeniedUnspecified
		want        []packets.ReasonCode
	}{
		{packets.Version311, false, []packets.ReasonCode{0x80, 0x80, 0x80}},
		{packets.Version31, false, []packets.ReasonCode{0x80, 0x80, 0x80}},
		{packets.Version5, false, []packets.ReasonCode{1, packets.NotAuthorized, 2}},
		{packets.Version5, true, []packets.ReasonCode{1, packets.UnspecifiedError, 2}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("v%d/unspecified=%t", tt.version, tt.unspecified), func(t *testing.T) {
			b := brokertest.New(t, broker.Options{SubscribeDeniedUnspecified: tt.unspecified}, func(b *broker.Broker) {
				b.RegisterACL(broker.ACLFunc(func(_ context.Context, _ *broker.ClientInfo, a broker.Access, topic string) (broker.Decision, error) {
					if a == broker.AccessSubscribe && strings.HasPrefix(topic, "secret/") {
						return broker.Deny, nil
					}
					return broker.Ignore, nil
				}))
			})
			c := b.Dial(t, "c1", brokertest.WithVersion(tt.version))
			codes := c.SubscribeOpts(t, nil,
				packets.Subscription{Filter: "a", QoS: 1},
				packets.Subscription{Filter: "secret/x", QoS: 1},
				packets.Subscription{Filter: "b/#", QoS: 2})
			if !slices.Equal(codes, tt.want) {
				t.Fatalf("SUBACK %v, want %v", codes, tt.want)
			}
			var granted int
			for _, rc := range tt.want {
				if !rc.IsError() {
					granted++
				}
			}
			if got := b.Subscriptions("c1"); len(got) != granted {
				t.Fatalf("Subscriptions = %+v, want %d", got, granted)
			}
		})
	}
}

// TestPahoSubscribeFailure is the paho interoperability suite's
// test_subscribe_failure: the broker refuses subscriptions to
// "test/nosubscribe".
func TestPahoSubscribeFailure(t *testing.T) {
	b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
		b.RegisterACL(broker.ACLFunc(func(_ context.Context, _ *broker.ClientInfo, a broker.Access, topic string) (broker.Decision, error) {
			if a == broker.AccessSubscribe && topic == "test/nosubscribe" {
				return broker.Deny, nil
			}
			return broker.Ignore, nil
		}))
	})
	c := b.Dial(t, "myclientid")
	if q := c.Subscribe(t, "test/nosubscribe", 2); q != 0x80 {
		t.Fatalf("SUBACK %#x, want 0x80", q)
	}
	c5 := b.Dial(t, "myclientid5", brokertest.WithVersion(packets.Version5))
	if q := c5.Subscribe(t, "test/nosubscribe", 2); q != byte(packets.NotAuthorized) {
		t.Fatalf("MQTT 5 SUBACK %#x, want 0x87", q)
	}
}

// TestDeniedPublish checks that a denied PUBLISH is dropped and counted,
// the connection stays up, and the acknowledgement flow still completes:
// positively for 3.1.1 [MQTT-3.3.5-2], with 0x87 for MQTT 5.
func TestDeniedPublish(t *testing.T) {
	tests := []struct {
		name    string
		version byte
		qos     byte
		wantRC  packets.ReasonCode
	}{
		{"3.1.1 QoS 0", packets.Version311, 0, packets.Success},
		{"3.1.1 QoS 1", packets.Version311, 1, packets.Success},
		{"3.1.1 QoS 2", packets.Version311, 2, packets.Success},
		{"5 QoS 0", packets.Version5, 0, packets.Success},
		{"5 QoS 1", packets.Version5, 1, packets.NotAuthorized},
		{"5 QoS 2", packets.Version5, 2, packets.NotAuthorized},
	}
	b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
		b.RegisterACL(broker.ACLFunc(func(_ context.Context, _ *broker.ClientInfo, a broker.Access, topic string) (broker.Decision, error) {
			if a == broker.AccessPublish && topic == "forbidden" {
				return broker.Deny, nil
			}
			return broker.Ignore, nil
		}))
	})
	sub := b.Dial(t, "sub")
	sub.Subscribe(t, "#", 2)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub := b.Dial(t, "pub", brokertest.WithVersion(tt.version))
			before := b.Metrics()["messages/dropped"]
			rc := pub.PublishPacket(t, &packets.Publish{Topic: "forbidden", Payload: []byte("x"), QoS: tt.qos})
			if rc != tt.wantRC {
				t.Fatalf("acknowledged with %v, want %v", rc, tt.wantRC)
			}
			pub.Publish(t, "probe", nil, 1, false) // the connection is still up
			sub.Expect(t, "probe")                 // and nothing on "forbidden" came first
			if d := b.Metrics()["messages/dropped"] - before; d != 1 {
				t.Fatalf("messages/dropped went up by %d, want 1", d)
			}
			pub.Disconnect(t)
		})
	}
	// An MQTT 5 PUBREC with an error code ends the QoS 2 flow, so the packet
	// identifier is free again [MQTT-4.3.3]: reusing it publishes anew.
	t.Run("5 QoS 2 packet identifier reused after refusal", func(t *testing.T) {
		pub := b.Dial(t, "pub", brokertest.WithVersion(packets.Version5))
		rc := pub.PublishPacket(t, &packets.Publish{Topic: "forbidden", QoS: 2, PacketID: 7})
		if rc != packets.NotAuthorized {
			t.Fatalf("PUBREC %v, want NotAuthorized", rc)
		}
		rc = pub.PublishPacket(t, &packets.Publish{Topic: "probe", Payload: []byte("again"), QoS: 2, PacketID: 7})
		if rc.IsError() {
			t.Fatalf("PUBREC %v for the reused identifier", rc)
		}
		if m := sub.Expect(t, "probe"); string(m.Payload) != "again" {
			t.Fatalf("subscriber got %q", m.Payload)
		}
	})
}

func TestUnregisterAccessModules(t *testing.T) {
	denyAll := broker.ACLFunc(func(context.Context, *broker.ClientInfo, broker.Access, string) (broker.Decision, error) {
		return broker.Deny, nil
	})
	refuse := broker.AuthFunc(func(context.Context, *broker.ClientInfo, []byte) (broker.Decision, error) {
		return broker.Deny, nil
	})
	b := brokertest.New(t, broker.Options{})
	unACL := b.RegisterACL(denyAll)
	unAuth := b.RegisterAuth(refuse)

	if _, code := b.Connect(t, "c1"); code != packets.NotAuthorized {
		t.Fatalf("CONNACK %v with the refusing module, want NotAuthorized", code)
	}
	unAuth()
	unAuth() // harmless the second time
	c := b.Dial(t, "c2")
	if q := c.Subscribe(t, "t", 0); q != 0x80 {
		t.Fatalf("SUBACK %#x with the deny-all ACL, want 0x80", q)
	}
	unACL()
	unACL()
	if q := c.Subscribe(t, "t", 0); q != 0 {
		t.Fatalf("SUBACK %#x after unregistering the ACL, want 0", q)
	}
}

func TestDecisionAndAccessStrings(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{broker.Ignore.String(), "ignore"},
		{broker.Allow.String(), "allow"},
		{broker.Deny.String(), "deny"},
		{broker.Decision(9).String(), "Decision(9)"},
		{broker.AccessSubscribe.String(), "subscribe"},
		{broker.AccessPublish.String(), "publish"},
		{broker.Access(0).String(), "Access(0)"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("String() = %q, want %q", tt.got, tt.want)
		}
	}
}
