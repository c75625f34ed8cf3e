package broker_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/brokertest"
	"github.com/emqgo/broker/packets"
)

// Hooks run on broker goroutines: every test records what they see in an
// evlog (main_test.go), copying *ClientInfo values while the hook runs, and
// waits for the events it expects.

// expiryOpt gives an MQTT 5 client a Session Expiry Interval, which is what
// makes its session persistent.
func expiryOpt(sec uint32) brokertest.ClientOption {
	return brokertest.WithProperties(&packets.Properties{SessionExpiry: &sec})
}

// infoEvent is a hook call with a client and a reason code.
type infoEvent struct {
	info broker.ClientInfo
	code packets.ReasonCode
}

// msgEvent is a hook call with a client (if any) and a message.
type msgEvent struct {
	client string
	msg    broker.Message
	reason broker.DropReason
}

func TestHookNames(t *testing.T) {
	want := []broker.HookName{
		"client.connect", "client.authenticate", "client.connack", "client.connected", "client.disconnected",
		"client.subscribe", "client.unsubscribe", "client.authorize",
		"session.created", "session.resumed", "session.takenover", "session.discarded",
		"session.subscribed", "session.unsubscribed", "session.terminated",
		"message.publish", "message.delivered", "message.acked", "message.dropped", "delivery.dropped",
	}
	if got := broker.HookNames(); !slices.Equal(got, want) {
		t.Fatalf("HookNames() = %v, want %v", got, want)
	}
	points := []broker.HookName{
		broker.ClientConnectHook.Name(), broker.ClientAuthenticateHook.Name(), broker.ClientConnackHook.Name(),
		broker.ClientConnectedHook.Name(), broker.ClientDisconnectedHook.Name(), broker.ClientSubscribeHook.Name(),
		broker.ClientUnsubscribeHook.Name(), broker.ClientAuthorizeHook.Name(), broker.SessionCreatedHook.Name(),
		broker.SessionResumedHook.Name(), broker.SessionTakenOverHook.Name(), broker.SessionDiscardedHook.Name(),
		broker.SessionSubscribedHook.Name(), broker.SessionUnsubscribedHook.Name(), broker.SessionTerminatedHook.Name(),
		broker.MessagePublishHook.Name(), broker.MessageDeliveredHook.Name(), broker.MessageAckedHook.Name(),
		broker.MessageDroppedHook.Name(), broker.DeliveryDroppedHook.Name(),
	}
	if !slices.Equal(points, want) {
		t.Fatalf("typed points are named %v, want %v", points, want)
	}
}

// TestHookAcceptsEachSignature registers, by name, a function of each hook
// point's callback type.
func TestHookAcceptsEachSignature(t *testing.T) {
	fns := map[broker.HookName]any{
		broker.ClientConnect: func(context.Context, *broker.ClientInfo) {},
		broker.ClientAuthenticate: func(_ context.Context, _ *broker.ClientInfo, d broker.Decision) (broker.Decision, broker.Flow) {
			return d, broker.Continue
		},
		broker.ClientConnack:      func(context.Context, *broker.ClientInfo, packets.ReasonCode) {},
		broker.ClientConnected:    func(context.Context, *broker.ClientInfo, packets.ReasonCode) {},
		broker.ClientDisconnected: func(context.Context, *broker.ClientInfo, error) {},
		broker.ClientSubscribe: func(_ context.Context, _ *broker.ClientInfo, s []broker.Subscription) ([]broker.Subscription, broker.Flow) {
			return s, broker.Continue
		},
		broker.ClientUnsubscribe: func(_ context.Context, _ *broker.ClientInfo, f []string) ([]string, broker.Flow) {
			return f, broker.Continue
		},
		broker.ClientAuthorize: func(_ context.Context, _ *broker.ClientInfo, _ broker.Access, _ string, d broker.Decision) (broker.Decision, broker.Flow) {
			return d, broker.Continue
		},
		broker.SessionCreated:      func(context.Context, *broker.ClientInfo) {},
		broker.SessionResumed:      func(context.Context, *broker.ClientInfo) {},
		broker.SessionTakenOver:    func(context.Context, *broker.ClientInfo) {},
		broker.SessionDiscarded:    func(context.Context, *broker.ClientInfo) {},
		broker.SessionSubscribed:   func(context.Context, *broker.ClientInfo, broker.Subscription, bool) {},
		broker.SessionUnsubscribed: func(context.Context, *broker.ClientInfo, broker.Subscription) {},
		broker.SessionTerminated:   func(context.Context, *broker.ClientInfo, error) {},
		broker.MessagePublish: func(_ context.Context, m broker.Message) (broker.Message, broker.Flow) {
			return m, broker.Continue
		},
		broker.MessageDelivered: func(context.Context, *broker.ClientInfo, broker.Message) {},
		broker.MessageAcked:     func(context.Context, *broker.ClientInfo, broker.Message) {},
		broker.MessageDropped:   func(context.Context, broker.Message, broker.DropReason) {},
		broker.DeliveryDropped:  func(context.Context, *broker.ClientInfo, broker.Message, broker.DropReason) {},
	}
	b := brokertest.New(t, broker.Options{})
	for _, name := range broker.HookNames() {
		t.Run(string(name), func(t *testing.T) {
			fn, ok := fns[name]
			if !ok {
				t.Fatalf("no test function for hook %q", name)
			}
			unhook, err := b.Hook(name, fn)
			if err != nil {
				t.Fatalf("Hook(%q): %v", name, err)
			}
			unhook()
			unhook() // harmless the second time
			if _, err := b.Hook(name, func() {}); !errors.Is(err, broker.ErrHookSignature) {
				t.Errorf("Hook(%q, func()) error = %v, want ErrHookSignature", name, err)
			}
		})
	}
	if len(fns) != len(broker.HookNames()) {
		t.Errorf("test covers %d hooks, broker has %d", len(fns), len(broker.HookNames()))
	}
}

func TestHookErrors(t *testing.T) {
	tests := []struct {
		name string
		hook broker.HookName
		fn   any
		want error
	}{
		{"unknown name", "client.nope", func(context.Context, *broker.ClientInfo) {}, broker.ErrUnknownHook},
		{"empty name", "", func() {}, broker.ErrUnknownHook},
		{"missing argument", broker.ClientConnected, func(context.Context, *broker.ClientInfo) {}, broker.ErrHookSignature},
		{"missing Flow result", broker.MessagePublish, func(_ context.Context, m broker.Message) broker.Message { return m }, broker.ErrHookSignature},
		{"notification given a fold", broker.SessionCreated,
			func(_ context.Context, _ *broker.ClientInfo, d broker.Decision) (broker.Decision, broker.Flow) {
				return d, broker.Continue
			},
			broker.ErrHookSignature},
		{"nil function", broker.ClientConnect, nil, broker.ErrHookSignature},
		{"not a function", broker.ClientConnect, "hello", broker.ErrHookSignature},
	}
	b := brokertest.New(t, broker.Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			unhook, err := b.Hook(tt.hook, tt.fn)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Hook(%q, %T) error = %v, want %v", tt.hook, tt.fn, err, tt.want)
			}
			if unhook != nil {
				t.Errorf("Hook returned an Unhook with an error")
			}
		})
	}
}

// TestHookPriority checks the order of a chain written through both Hook
// and On: higher priority first, equal priorities in registration order,
// and Unhook taking one entry out.
func TestHookPriority(t *testing.T) {
	b := brokertest.New(t, broker.Options{})
	var order []string // written by Publish's caller: hooks on message.publish run on it
	mark := func(name string) broker.MessagePublishFunc {
		return func(_ context.Context, m broker.Message) (broker.Message, broker.Flow) {
			order = append(order, name)
			return m, broker.Continue
		}
	}
	unA, err := b.Hook(broker.MessagePublish, mark("a"))
	if err != nil {
		t.Fatal(err)
	}
	broker.On(b, broker.MessagePublishHook, mark("b"), broker.Priority(10))
	broker.On(b, broker.MessagePublishHook, mark("c"))
	unD, err := b.Hook(broker.MessagePublish, mark("d"), broker.Priority(10), broker.Named("d"))
	if err != nil {
		t.Fatal(err)
	}
	broker.On(b, broker.MessagePublishHook, mark("e"), broker.Priority(-5))
	unF := broker.On(b, broker.MessagePublishHook, mark("f"), broker.Priority(100))

	publish := func() []string {
		t.Helper()
		order = nil
		if err := b.Publish(context.Background(), broker.Message{Topic: "prio"}); err != nil {
			t.Fatal(err)
		}
		return order
	}
	if got, want := publish(), []string{"f", "b", "d", "a", "c", "e"}; !slices.Equal(got, want) {
		t.Fatalf("hooks ran in order %v, want %v", got, want)
	}
	unD()
	unA()
	unA()
	if got, want := publish(), []string{"f", "b", "c", "e"}; !slices.Equal(got, want) {
		t.Fatalf("after unhooking a and d: order %v, want %v", got, want)
	}
	unF()
	broker.On(b, broker.MessagePublishHook, mark("g"), broker.Priority(10))
	if got, want := publish(), []string{"b", "g", "c", "e"}; !slices.Equal(got, want) {
		t.Fatalf("after unhooking f and adding g: order %v, want %v", got, want)
	}
}

// TestHookConnectSequence checks the order of the connection hooks.
func TestHookConnectSequence(t *testing.T) {
	seq := newEvlog[string]()
	b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
		broker.On(b, broker.ClientConnectHook, func(context.Context, *broker.ClientInfo) { seq.add("connect") })
		broker.On(b, broker.ClientAuthenticateHook, func(_ context.Context, c *broker.ClientInfo, d broker.Decision) (broker.Decision, broker.Flow) {
			seq.add("authenticate")
			if c.Username == "mallory" {
				return broker.Deny, broker.Continue
			}
			return d, broker.Continue
		})
		broker.On(b, broker.ClientConnackHook, func(context.Context, *broker.ClientInfo, packets.ReasonCode) { seq.add("connack") })
		broker.On(b, broker.ClientConnectedHook, func(context.Context, *broker.ClientInfo, packets.ReasonCode) { seq.add("connected") })
		broker.On(b, broker.SessionCreatedHook, func(context.Context, *broker.ClientInfo) { seq.add("session.created") })
		broker.On(b, broker.ClientDisconnectedHook, func(context.Context, *broker.ClientInfo, error) { seq.add("disconnected") })
		broker.On(b, broker.SessionTerminatedHook, func(context.Context, *broker.ClientInfo, error) { seq.add("session.terminated") })
	})

	t.Run("accepted", func(t *testing.T) {
		seq.reset()
		c := b.Dial(t, "ok")
		c.Disconnect(t)
		want := []string{"connect", "authenticate", "session.created", "connack", "connected", "session.terminated", "disconnected"}
		if got := seq.wait(t, len(want)); !slices.Equal(got, want) {
			t.Fatalf("hooks ran as %v, want %v", got, want)
		}
	})
	t.Run("refused", func(t *testing.T) {
		seq.reset()
		c, code := b.Connect(t, "bad", brokertest.WithCredentials("mallory", "x"))
		if code != packets.BadUserNameOrPassword {
			t.Fatalf("CONNACK code %v, want %v", code, packets.BadUserNameOrPassword)
		}
		c.ExpectClosed(t)
		// A refused client has no session, so neither session nor
		// disconnect hooks run.
		want := []string{"connect", "authenticate", "connack", "connected"}
		if got := seq.wait(t, len(want)); !slices.Equal(got, want) {
			t.Fatalf("hooks ran as %v, want %v", got, want)
		}
		// The next client's hooks follow; the refused one added none.
		b.Dial(t, "after").Disconnect(t)
		want = append(want, "connect", "authenticate", "session.created", "connack", "connected", "session.terminated", "disconnected")
		if got := seq.wait(t, len(want)); !slices.Equal(got, want) {
			t.Fatalf("hooks ran as %v, want %v", got, want)
		}
	})
}

func TestHookClientConnect(t *testing.T) {
	evs := newEvlog[broker.ClientInfo]()
	b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
		broker.On(b, broker.ClientConnectHook, func(_ context.Context, c *broker.ClientInfo) { evs.add(*c) })
	})
	b.Dial(t, "c1", brokertest.WithCredentials("alice", "pw"), brokertest.WithKeepalive(30*time.Second),
		brokertest.WithCleanSession(false))
	got := evs.wait(t, 1)[0]
	want := broker.ClientInfo{ClientID: "c1", Username: "alice", Listener: "inprocess", Protocol: "mqtt",
		ProtoVersion: packets.Version311, Keepalive: 30 * time.Second}
	if got.ClientID != want.ClientID || got.Username != want.Username || got.Listener != want.Listener ||
		got.Protocol != want.Protocol || got.ProtoVersion != want.ProtoVersion || got.Keepalive != want.Keepalive ||
		got.CleanStart || got.Superuser || got.ConnectedAt.IsZero() {
		t.Fatalf("client.connect got %+v, want %+v", got, want)
	}
}

func TestHookClientAuthenticate(t *testing.T) {
	denyAll := broker.AuthFunc(func(context.Context, *broker.ClientInfo, []byte) (broker.Decision, error) {
		return broker.Deny, nil
	})
	type result struct {
		user string
		d    broker.Decision
	}
	tests := []struct {
		name  string
		opts  broker.Options
		auth  broker.Authenticator
		hooks []broker.ClientAuthenticateFunc
		creds bool
		want  packets.ReasonCode
		seen  broker.Decision // the decision the first hook receives
	}{
		{
			name: "receives the chain's allow",
			hooks: []broker.ClientAuthenticateFunc{func(_ context.Context, _ *broker.ClientInfo, d broker.Decision) (broker.Decision, broker.Flow) {
				return d, broker.Continue
			}},
			want: packets.Success, seen: broker.Allow,
		},
		{
			name: "overrides the chain's deny",
			auth: denyAll,
			hooks: []broker.ClientAuthenticateFunc{func(context.Context, *broker.ClientInfo, broker.Decision) (broker.Decision, broker.Flow) {
				return broker.Allow, broker.Continue
			}},
			want: packets.Success, seen: broker.Deny,
		},
		{
			name: "overrides DenyAnonymous",
			opts: broker.Options{DenyAnonymous: true},
			hooks: []broker.ClientAuthenticateFunc{func(context.Context, *broker.ClientInfo, broker.Decision) (broker.Decision, broker.Flow) {
				return broker.Allow, broker.Continue
			}},
			want: packets.Success, seen: broker.Deny,
		},
		{
			name: "denies with credentials: bad user name or password",
			hooks: []broker.ClientAuthenticateFunc{func(context.Context, *broker.ClientInfo, broker.Decision) (broker.Decision, broker.Flow) {
				return broker.Deny, broker.Continue
			}},
			creds: true, want: packets.BadUserNameOrPassword, seen: broker.Allow,
		},
		{
			name: "denies without credentials: not authorized",
			hooks: []broker.ClientAuthenticateFunc{func(context.Context, *broker.ClientInfo, broker.Decision) (broker.Decision, broker.Flow) {
				return broker.Deny, broker.Continue
			}},
			want: packets.NotAuthorized, seen: broker.Allow,
		},
		{
			name: "ignore from a hook fails closed",
			hooks: []broker.ClientAuthenticateFunc{func(context.Context, *broker.ClientInfo, broker.Decision) (broker.Decision, broker.Flow) {
				return broker.Ignore, broker.Continue
			}},
			want: packets.NotAuthorized, seen: broker.Allow,
		},
		{
			name: "continue passes the rewritten decision on",
			hooks: []broker.ClientAuthenticateFunc{
				func(context.Context, *broker.ClientInfo, broker.Decision) (broker.Decision, broker.Flow) {
					return broker.Deny, broker.Continue
				},
				func(_ context.Context, _ *broker.ClientInfo, d broker.Decision) (broker.Decision, broker.Flow) {
					if d != broker.Deny { // not the first hook's decision
						return broker.Deny, broker.Continue
					}
					return broker.Allow, broker.Continue
				},
			},
			want: packets.Success, seen: broker.Allow,
		},
		{
			name: "stop ends the chain",
			auth: denyAll,
			hooks: []broker.ClientAuthenticateFunc{
				func(context.Context, *broker.ClientInfo, broker.Decision) (broker.Decision, broker.Flow) {
					return broker.Allow, broker.Stop
				},
				func(context.Context, *broker.ClientInfo, broker.Decision) (broker.Decision, broker.Flow) {
					return broker.Deny, broker.Continue // must not run
				},
			},
			want: packets.Success, seen: broker.Deny,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen := newEvlog[result]()
			b := brokertest.New(t, tt.opts, func(b *broker.Broker) {
				if tt.auth != nil {
					b.RegisterAuth(tt.auth)
				}
				for i, h := range tt.hooks {
					broker.On(b, broker.ClientAuthenticateHook, func(ctx context.Context, c *broker.ClientInfo, d broker.Decision) (broker.Decision, broker.Flow) {
						if i == 0 {
							seen.add(result{c.Username, d})
						}
						return h(ctx, c, d)
					})
				}
			})
			var opts []brokertest.ClientOption
			if tt.creds {
				opts = append(opts, brokertest.WithCredentials("alice", "pw"))
			}
			_, code := b.Connect(t, "c1", opts...)
			if code != tt.want {
				t.Fatalf("CONNACK code %v, want %v", code, tt.want)
			}
			if got := seen.wait(t, 1)[0].d; got != tt.seen {
				t.Errorf("first hook received %v, want %v", got, tt.seen)
			}
		})
	}
}

func TestHookClientConnack(t *testing.T) {
	evs := newEvlog[infoEvent]()
	b := brokertest.New(t, broker.Options{DenyAnonymous: true}, func(b *broker.Broker) {
		b.RegisterAuth(broker.AuthFunc(func(_ context.Context, c *broker.ClientInfo, pw []byte) (broker.Decision, error) {
			if string(pw) == "good" {
				return broker.Allow, nil
			}
			return broker.Ignore, nil
		}))
		broker.On(b, broker.ClientConnackHook, func(_ context.Context, c *broker.ClientInfo, code packets.ReasonCode) {
			evs.add(infoEvent{*c, code})
		})
	})
	b.Dial(t, "ok", brokertest.WithCredentials("u", "good"))
	// The hook runs before the CONNACK is written, so it has run by now.
	if got := evs.all(); len(got) != 1 || got[0].info.ClientID != "ok" || got[0].code != packets.Success {
		t.Fatalf("client.connack events %+v, want one for \"ok\" with Success", got)
	}
	_, code := b.Connect(t, "nope", brokertest.WithVersion(packets.Version5))
	if got := evs.all(); len(got) != 2 || got[1].info.ClientID != "nope" || got[1].code != code || code != packets.NotAuthorized {
		t.Fatalf("client.connack events %+v (CONNACK %v), want the second with NotAuthorized", got, code)
	}
}

// TestHookClientConnected checks that client.connected runs for every
// CONNECT, refused ones included, with the code sent in CONNACK, as EMQ's
// emqttd_protocol did.
func TestHookClientConnected(t *testing.T) {
	tests := []struct {
		name    string
		id      string
		opts    []brokertest.ClientOption
		want    packets.ReasonCode
		wantRaw packets.ReasonCode // the CONNACK byte on the wire
	}{
		{"accepted 3.1.1", "c1", []brokertest.ClientOption{brokertest.WithCredentials("alice", "pw")}, packets.Success, 0},
		{"accepted 5", "c1", []brokertest.ClientOption{brokertest.WithCredentials("alice", "pw"), brokertest.WithVersion(packets.Version5)}, packets.Success, 0},
		{"bad password 3.1.1", "c1", []brokertest.ClientOption{brokertest.WithCredentials("bad", "pw")}, packets.BadUserNameOrPassword, 4},
		{"bad password 5", "c1", []brokertest.ClientOption{brokertest.WithCredentials("bad", "pw"), brokertest.WithVersion(packets.Version5)}, packets.BadUserNameOrPassword, 0x86},
		{"anonymous 3.1.1", "c1", nil, packets.NotAuthorized, 5},
		{"anonymous 3.1", "c1", []brokertest.ClientOption{brokertest.WithVersion(packets.Version31)}, packets.NotAuthorized, 5},
		{"anonymous 5", "c1", []brokertest.ClientOption{brokertest.WithVersion(packets.Version5)}, packets.NotAuthorized, 0x87},
		// [MQTT-3.1.3-8]: an empty client id needs Clean Session in 3.1.1.
		{"empty client id without clean session", "", []brokertest.ClientOption{brokertest.WithCredentials("alice", "pw"), brokertest.WithCleanSession(false)},
			packets.ClientIdentifierNotValid, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs := newEvlog[infoEvent]()
			b := brokertest.New(t, broker.Options{DenyAnonymous: true}, func(b *broker.Broker) {
				b.RegisterAuth(broker.AuthFunc(func(_ context.Context, c *broker.ClientInfo, _ []byte) (broker.Decision, error) {
					switch c.Username {
					case "alice":
						return broker.Allow, nil
					case "bad":
						return broker.Deny, nil
					}
					return broker.Ignore, nil
				}))
				broker.On(b, broker.ClientConnectedHook, func(_ context.Context, c *broker.ClientInfo, code packets.ReasonCode) {
					evs.add(infoEvent{*c, code})
				})
			})
			c, code := b.Connect(t, tt.id, tt.opts...)
			if code != tt.want {
				t.Fatalf("CONNACK code %v, want %v", code, tt.want)
			}
			if c.Connack.ReasonCode != tt.wantRaw {
				t.Errorf("CONNACK carries %#x, want %#x", byte(c.Connack.ReasonCode), byte(tt.wantRaw))
			}
			ev := evs.wait(t, 1)[0]
			if ev.code != tt.want || ev.info.ClientID != tt.id {
				t.Errorf("client.connected(%q, %v), want (%q, %v)", ev.info.ClientID, ev.code, tt.id, tt.want)
			}
			if tt.want != packets.Success {
				c.ExpectClosed(t) // [MQTT-3.2.2-5]
			}
		})
	}
}

func TestHookClientDisconnected(t *testing.T) {
	type ev struct {
		id     string
		reason error
	}
	tests := []struct {
		name     string
		end      func(t *testing.T, b *brokertest.Broker, c *brokertest.Client)
		wantNil  bool
		wantWill bool
	}{
		{"DISCONNECT", func(t *testing.T, _ *brokertest.Broker, c *brokertest.Client) { c.Disconnect(t) }, true, false},
		{"dropped", func(_ *testing.T, _ *brokertest.Broker, c *brokertest.Client) { c.Drop() }, false, true},
		{"kicked", func(t *testing.T, b *brokertest.Broker, c *brokertest.Client) {
			if err := b.Kick(context.Background(), c.ID); err != nil {
				t.Fatal(err)
			}
			c.ExpectClosed(t)
		}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seq := newEvlog[string]()
			evs := newEvlog[ev]()
			b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
				broker.On(b, broker.ClientDisconnectedHook, func(_ context.Context, c *broker.ClientInfo, reason error) {
					seq.add("disconnected")
					evs.add(ev{c.ClientID, reason}) // last: the test waits for it
				})
				broker.On(b, broker.MessagePublishHook, func(_ context.Context, m broker.Message) (broker.Message, broker.Flow) {
					seq.add("publish " + m.Topic)
					return m, broker.Continue
				})
			})
			c := b.Dial(t, "c1", brokertest.WithWill("will/c1", []byte("bye"), 0, false))
			tt.end(t, b, c)
			got := evs.wait(t, 1)[0]
			if got.id != "c1" || (got.reason == nil) != tt.wantNil {
				t.Fatalf("client.disconnected(%q, %v), want c1 with nil reason = %v", got.id, got.reason, tt.wantNil)
			}
			want := []string{"disconnected"}
			if tt.wantWill {
				want = []string{"publish will/c1", "disconnected"} // the will goes first
			}
			if s := seq.all(); !slices.Equal(s, want) {
				t.Errorf("hooks ran as %v, want %v", s, want)
			}
		})
	}
}

func TestHookClientSubscribe(t *testing.T) {
	type call struct {
		info broker.ClientInfo
		subs []broker.Subscription
	}
	sub := func(f string, q byte) packets.Subscription { return packets.Subscription{Filter: f, QoS: q} }

	t.Run("receives the filters", func(t *testing.T) {
		calls := newEvlog[call]()
		b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
			broker.On(b, broker.ClientSubscribeHook, func(_ context.Context, c *broker.ClientInfo, s []broker.Subscription) ([]broker.Subscription, broker.Flow) {
				calls.add(call{*c, slices.Clone(s)})
				return s, broker.Continue
			})
		})
		c := b.Dial(t, "c1", brokertest.WithUsername("alice"))
		codes := c.SubscribeOpts(t, nil, sub("a", 1), sub("b/+", 2))
		if !slices.Equal(codes, []packets.ReasonCode{1, 2}) {
			t.Fatalf("SUBACK %v, want [1 2]", codes)
		}
		got := calls.wait(t, 1)[0]
		want := []broker.Subscription{{Filter: "a", QoS: 1}, {Filter: "b/+", QoS: 2}}
		if got.info.ClientID != "c1" || got.info.Username != "alice" || !slices.Equal(got.subs, want) {
			t.Fatalf("client.subscribe(%q, %q, %+v), want (c1, alice, %+v)", got.info.ClientID, got.info.Username, got.subs, want)
		}
	})

	t.Run("rewrites a filter", func(t *testing.T) {
		b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
			broker.On(b, broker.ClientSubscribeHook, func(_ context.Context, _ *broker.ClientInfo, s []broker.Subscription) ([]broker.Subscription, broker.Flow) {
				out := slices.Clone(s)
				for i := range out {
					if out[i].Filter == "alias/x" {
						out[i].Filter, out[i].QoS = "real/x", 1
					}
				}
				return out, broker.Continue
			})
		})
		c := b.Dial(t, "c1")
		if q := c.Subscribe(t, "alias/x", 2); q != 1 {
			t.Fatalf("SUBACK %#x, want 1 (the rewritten QoS)", q)
		}
		if got := b.Subscriptions("c1"); len(got) != 1 || got[0].Filter != "real/x" || got[0].QoS != 1 {
			t.Fatalf("Subscriptions = %+v, want real/x at QoS 1", got)
		}
		pub := b.Dial(t, "pub")
		pub.Publish(t, "alias/x", []byte("no"), 0, false)
		pub.Publish(t, "real/x", []byte("yes"), 0, false)
		if m := c.Expect(t, "real/x"); string(m.Payload) != "yes" {
			t.Fatalf("got %q", m.Payload)
		}
	})

	t.Run("refuses one filter", func(t *testing.T) {
		b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
			broker.On(b, broker.ClientSubscribeHook, func(_ context.Context, _ *broker.ClientInfo, s []broker.Subscription) ([]broker.Subscription, broker.Flow) {
				for i := range s {
					if s[i].Filter == "no/#" {
						s[i].QoS = broker.SubscribeRefused
					}
				}
				return s, broker.Continue
			})
		})
		for _, v := range []byte{packets.Version311, packets.Version5} {
			c := b.Dial(t, fmt.Sprintf("v%d", v), brokertest.WithVersion(v))
			codes := c.SubscribeOpts(t, nil, sub("a", 0), sub("no/#", 1), sub("b", 1))
			if want := []packets.ReasonCode{0, 0x80, 1}; !slices.Equal(codes, want) {
				t.Fatalf("v%d SUBACK %v, want %v", v, codes, want)
			}
			if got := b.Subscriptions(c.ID); len(got) != 2 || got[0].Filter != "a" || got[1].Filter != "b" {
				t.Fatalf("v%d Subscriptions = %+v, want a and b", v, got)
			}
		}
	})

	t.Run("stop refuses every filter", func(t *testing.T) {
		ran := newEvlog[string]()
		b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
			broker.On(b, broker.ClientSubscribeHook, func(_ context.Context, _ *broker.ClientInfo, s []broker.Subscription) ([]broker.Subscription, broker.Flow) {
				return s, broker.Stop
			}, broker.Priority(1))
			broker.On(b, broker.ClientSubscribeHook, func(_ context.Context, _ *broker.ClientInfo, s []broker.Subscription) ([]broker.Subscription, broker.Flow) {
				ran.add("second")
				return s, broker.Continue
			})
		})
		c := b.Dial(t, "c1")
		codes := c.SubscribeOpts(t, nil, sub("a", 0), sub("b", 1))
		if want := []packets.ReasonCode{0x80, 0x80}; !slices.Equal(codes, want) {
			t.Fatalf("SUBACK %v, want %v", codes, want)
		}
		if got := b.Subscriptions("c1"); len(got) != 0 {
			t.Fatalf("Subscriptions = %+v, want none", got)
		}
		if n := ran.len(); n != 0 {
			t.Fatalf("the hook after Stop ran")
		}
	})

	t.Run("sees ACL refusals and cannot undo them", func(t *testing.T) {
		seen := newEvlog[[]broker.Subscription]()
		b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
			b.RegisterACL(broker.ACLFunc(func(_ context.Context, _ *broker.ClientInfo, _ broker.Access, topic string) (broker.Decision, error) {
				if topic == "secret" {
					return broker.Deny, nil
				}
				return broker.Ignore, nil
			}))
			broker.On(b, broker.ClientSubscribeHook, func(_ context.Context, _ *broker.ClientInfo, s []broker.Subscription) ([]broker.Subscription, broker.Flow) {
				seen.add(slices.Clone(s))
				for i := range s {
					s[i].QoS = 1
				}
				return s, broker.Continue
			})
		})
		c := b.Dial(t, "c1", brokertest.WithVersion(packets.Version5))
		codes := c.SubscribeOpts(t, nil, sub("open", 0), sub("secret", 0))
		if want := []packets.ReasonCode{1, packets.NotAuthorized}; !slices.Equal(codes, want) {
			t.Fatalf("SUBACK %v, want %v", codes, want)
		}
		got := seen.wait(t, 1)[0]
		if got[0].QoS != 0 || got[1].QoS != broker.SubscribeRefused {
			t.Fatalf("hook saw %+v, want secret refused", got)
		}
	})

	t.Run("a result of the wrong length is ignored", func(t *testing.T) {
		b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
			broker.On(b, broker.ClientSubscribeHook, func(context.Context, *broker.ClientInfo, []broker.Subscription) ([]broker.Subscription, broker.Flow) {
				return nil, broker.Continue
			})
		})
		c := b.Dial(t, "c1")
		if codes := c.SubscribeOpts(t, nil, sub("a", 1), sub("b", 2)); !slices.Equal(codes, []packets.ReasonCode{1, 2}) {
			t.Fatalf("SUBACK %v, want [1 2]", codes)
		}
	})
}

func TestHookClientUnsubscribe(t *testing.T) {
	type call struct {
		id      string
		filters []string
	}
	t.Run("receives the filters", func(t *testing.T) {
		calls := newEvlog[call]()
		b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
			broker.On(b, broker.ClientUnsubscribeHook, func(_ context.Context, c *broker.ClientInfo, f []string) ([]string, broker.Flow) {
				calls.add(call{c.ClientID, slices.Clone(f)})
				return f, broker.Continue
			})
		})
		c := b.Dial(t, "c1")
		c.Subscribe(t, "a", 0)
		c.Unsubscribe(t, "a", "b/#")
		if got := calls.wait(t, 1)[0]; got.id != "c1" || !slices.Equal(got.filters, []string{"a", "b/#"}) {
			t.Fatalf("client.unsubscribe(%q, %v), want (c1, [a b/#])", got.id, got.filters)
		}
		if subs := b.Subscriptions("c1"); len(subs) != 0 {
			t.Fatalf("Subscriptions = %+v, want none", subs)
		}
	})

	t.Run("stop keeps the subscription but still acknowledges", func(t *testing.T) {
		unsubscribed := newEvlog[string]()
		b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
			broker.On(b, broker.ClientUnsubscribeHook, func(_ context.Context, _ *broker.ClientInfo, f []string) ([]string, broker.Flow) {
				return f, broker.Stop
			})
			broker.On(b, broker.SessionUnsubscribedHook, func(_ context.Context, _ *broker.ClientInfo, s broker.Subscription) {
				unsubscribed.add(s.Filter)
			})
		})
		for _, v := range []byte{packets.Version311, packets.Version5} {
			c := b.Dial(t, fmt.Sprintf("v%d", v), brokertest.WithVersion(v))
			c.Subscribe(t, "t", 0)
			c.Unsubscribe(t, "t") // waits for the UNSUBACK
			if subs := b.Subscriptions(c.ID); len(subs) != 1 || subs[0].Filter != "t" {
				t.Fatalf("v%d: Subscriptions = %+v, want t kept", v, subs)
			}
			if err := b.Publish(context.Background(), broker.Message{Topic: "t", Payload: []byte("still")}); err != nil {
				t.Fatal(err)
			}
			c.Expect(t, "t")
		}
		if n := unsubscribed.len(); n != 0 {
			t.Fatalf("session.unsubscribed ran %d times after Stop", n)
		}
	})

	t.Run("rewrites a filter", func(t *testing.T) {
		unsubscribed := newEvlog[string]()
		b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
			broker.On(b, broker.ClientUnsubscribeHook, func(_ context.Context, _ *broker.ClientInfo, f []string) ([]string, broker.Flow) {
				out := slices.Clone(f)
				for i := range out {
					if out[i] == "alias" {
						out[i] = "real/t"
					}
				}
				return out, broker.Continue
			})
			broker.On(b, broker.SessionUnsubscribedHook, func(_ context.Context, _ *broker.ClientInfo, s broker.Subscription) {
				unsubscribed.add(s.Filter)
			})
		})
		c := b.Dial(t, "c1", brokertest.WithVersion(packets.Version5))
		c.Subscribe(t, "real/t", 1)
		codes := c.Unsubscribe(t, "alias", "other")
		if want := []packets.ReasonCode{packets.Success, packets.NoSubscriptionExisted}; !slices.Equal(codes, want) {
			t.Errorf("UNSUBACK %v, want %v", codes, want)
		}
		if got := unsubscribed.wait(t, 1); !slices.Equal(got, []string{"real/t"}) {
			t.Errorf("session.unsubscribed for %v, want [real/t]", got)
		}
		if subs := b.Subscriptions("c1"); len(subs) != 0 {
			t.Fatalf("Subscriptions = %+v, want none", subs)
		}
	})
}

func TestHookClientAuthorize(t *testing.T) {
	type call struct {
		id     string
		access broker.Access
		topic  string
		d      broker.Decision
	}
	t.Run("receives the request and the chain's decision", func(t *testing.T) {
		calls := newEvlog[call]()
		b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
			b.RegisterACL(broker.ACLFunc(func(_ context.Context, _ *broker.ClientInfo, a broker.Access, topic string) (broker.Decision, error) {
				if a == broker.AccessPublish {
					return broker.Deny, nil
				}
				return broker.Ignore, nil
			}))
			broker.On(b, broker.ClientAuthorizeHook, func(_ context.Context, c *broker.ClientInfo, a broker.Access, topic string, d broker.Decision) (broker.Decision, broker.Flow) {
				calls.add(call{c.ClientID, a, topic, d})
				return d, broker.Continue
			})
		})
		c := b.Dial(t, "c1")
		c.Subscribe(t, "s/+", 1)
		c.Publish(t, "p/1", nil, 1, false)
		got := calls.wait(t, 2)
		want := []call{{"c1", broker.AccessSubscribe, "s/+", broker.Allow}, {"c1", broker.AccessPublish, "p/1", broker.Deny}}
		if !slices.Equal(got, want) {
			t.Fatalf("client.authorize calls %+v, want %+v", got, want)
		}
	})

	t.Run("overrides a deny", func(t *testing.T) {
		b := brokertest.New(t, broker.Options{DenyACLNoMatch: true}, func(b *broker.Broker) {
			broker.On(b, broker.ClientAuthorizeHook, func(context.Context, *broker.ClientInfo, broker.Access, string, broker.Decision) (broker.Decision, broker.Flow) {
				return broker.Allow, broker.Continue
			})
		})
		c := b.Dial(t, "c1")
		if q := c.Subscribe(t, "t", 1); q != 1 {
			t.Fatalf("SUBACK %#x, want 1", q)
		}
		c.Publish(t, "t", []byte("x"), 0, false)
		c.Expect(t, "t")
	})

	t.Run("overrides an allow", func(t *testing.T) {
		b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
			broker.On(b, broker.ClientAuthorizeHook, func(_ context.Context, _ *broker.ClientInfo, a broker.Access, topic string, d broker.Decision) (broker.Decision, broker.Flow) {
				if topic == "x/#" || topic == "x/1" {
					return broker.Deny, broker.Continue
				}
				return d, broker.Continue
			})
		})
		c := b.Dial(t, "c1")
		if q := c.Subscribe(t, "x/#", 1); q != 0x80 {
			t.Fatalf("SUBACK %#x, want 0x80", q)
		}
		c.Subscribe(t, "#", 0)
		c.Publish(t, "x/1", nil, 0, false)
		c.Publish(t, "probe", nil, 0, false)
		c.Expect(t, "probe") // x/1 was dropped
	})

	t.Run("stop ends the chain", func(t *testing.T) {
		ran := newEvlog[string]()
		b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
			broker.On(b, broker.ClientAuthorizeHook, func(context.Context, *broker.ClientInfo, broker.Access, string, broker.Decision) (broker.Decision, broker.Flow) {
				return broker.Deny, broker.Stop
			}, broker.Priority(1))
			broker.On(b, broker.ClientAuthorizeHook, func(context.Context, *broker.ClientInfo, broker.Access, string, broker.Decision) (broker.Decision, broker.Flow) {
				ran.add("second")
				return broker.Allow, broker.Continue
			})
		})
		c := b.Dial(t, "c1")
		if q := c.Subscribe(t, "t", 1); q != 0x80 {
			t.Fatalf("SUBACK %#x, want 0x80", q)
		}
		if n := ran.len(); n != 0 {
			t.Fatalf("the hook after Stop ran")
		}
	})
}

func TestHookSessionCreated(t *testing.T) {
	evs := newEvlog[broker.ClientInfo]()
	b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
		broker.On(b, broker.SessionCreatedHook, func(_ context.Context, c *broker.ClientInfo) { evs.add(*c) })
	})
	c := b.Dial(t, "c1", brokertest.WithUsername("alice"), brokertest.WithCleanSession(false))
	if got := evs.wait(t, 1)[0]; got.ClientID != "c1" || got.Username != "alice" || got.CleanStart {
		t.Fatalf("session.created got %+v", got)
	}
	if c.Connack.SessionPresent {
		t.Errorf("new session reported present") // [MQTT-3.2.2-3]
	}
	c.Disconnect(t)
	// Resuming does not create.
	c = b.Dial(t, "c1", brokertest.WithCleanSession(false))
	if !c.Connack.SessionPresent {
		t.Fatalf("session not present on resume") // [MQTT-3.2.2-2]
	}
	if n := evs.len(); n != 1 {
		t.Fatalf("session.created ran %d times, want 1", n)
	}
}

func TestHookSessionResumed(t *testing.T) {
	evs := newEvlog[broker.ClientInfo]()
	disc := newEvlog[string]()
	b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
		broker.On(b, broker.SessionResumedHook, func(_ context.Context, c *broker.ClientInfo) { evs.add(*c) })
		broker.On(b, broker.ClientDisconnectedHook, func(_ context.Context, c *broker.ClientInfo, _ error) { disc.add(c.ClientID) })
	})
	c := b.Dial(t, "c1", brokertest.WithUsername("first"), brokertest.WithCleanSession(false))
	c.Disconnect(t)
	disc.wait(t, 1)
	if n := evs.len(); n != 0 {
		t.Fatalf("session.resumed ran for a new session")
	}
	c = b.Dial(t, "c1", brokertest.WithUsername("second"), brokertest.WithCleanSession(false))
	if !c.Connack.SessionPresent {
		t.Fatalf("CONNACK session present = false on resume [MQTT-3.2.2-2]")
	}
	if got := evs.wait(t, 1)[0]; got.ClientID != "c1" || got.Username != "second" {
		t.Fatalf("session.resumed got %+v, want the new connection's info", got)
	}
}

func TestHookSessionTakenOver(t *testing.T) {
	over := newEvlog[broker.ClientInfo]()
	other := newEvlog[string]()
	b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
		broker.On(b, broker.SessionTakenOverHook, func(_ context.Context, c *broker.ClientInfo) { over.add(*c) })
		broker.On(b, broker.SessionResumedHook, func(_ context.Context, c *broker.ClientInfo) { other.add("resumed " + c.Username) })
		broker.On(b, broker.SessionDiscardedHook, func(_ context.Context, c *broker.ClientInfo) { other.add("discarded " + c.Username) })
	})
	old := b.Dial(t, "c1", brokertest.WithUsername("old"), brokertest.WithVersion(packets.Version5),
		brokertest.WithCleanSession(false), expiryOpt(60))
	old.Subscribe(t, "t", 1)
	b.Dial(t, "c1", brokertest.WithUsername("new"), brokertest.WithVersion(packets.Version5),
		brokertest.WithCleanSession(false), expiryOpt(60))
	// [MQTT-3.1.4-3]: the server disconnects the existing client; MQTT 5
	// says so with reason 0x8E.
	if d := old.ExpectClosed(t); d == nil || d.ReasonCode != packets.SessionTakenOver {
		t.Fatalf("old client got DISCONNECT %+v, want reason SessionTakenOver", d)
	}
	if got := over.wait(t, 1)[0]; got.ClientID != "c1" || got.Username != "old" {
		t.Fatalf("session.takenover got %+v, want the old connection's info", got)
	}
	if got := other.wait(t, 1); !slices.Equal(got, []string{"resumed new"}) {
		t.Fatalf("other session hooks: %v, want [resumed new]", got)
	}
	if subs := b.Subscriptions("c1"); len(subs) != 1 {
		t.Fatalf("subscriptions after takeover: %+v, want t kept", subs)
	}
}

func TestHookSessionDiscarded(t *testing.T) {
	type ev struct {
		what, user string
		reason     error
	}
	evs := newEvlog[ev]()
	disc := newEvlog[string]()
	b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
		broker.On(b, broker.SessionDiscardedHook, func(_ context.Context, c *broker.ClientInfo) { evs.add(ev{"discarded", c.Username, nil}) })
		broker.On(b, broker.SessionTerminatedHook, func(_ context.Context, c *broker.ClientInfo, r error) { evs.add(ev{"terminated", c.Username, r}) })
		broker.On(b, broker.SessionCreatedHook, func(_ context.Context, c *broker.ClientInfo) { evs.add(ev{"created", c.Username, nil}) })
		broker.On(b, broker.ClientDisconnectedHook, func(_ context.Context, c *broker.ClientInfo, _ error) { disc.add(c.ClientID) })
	})
	c := b.Dial(t, "c1", brokertest.WithUsername("old"), brokertest.WithCleanSession(false))
	c.Subscribe(t, "t", 1)
	c.Disconnect(t)
	disc.wait(t, 1)
	c = b.Dial(t, "c1", brokertest.WithUsername("new"), brokertest.WithCleanSession(true))
	if c.Connack.SessionPresent {
		t.Errorf("clean start reported a session present [MQTT-3.2.2-1]")
	}
	got := evs.wait(t, 4)
	if got[0] != (ev{"created", "old", nil}) || got[1] != (ev{"discarded", "old", nil}) ||
		got[2].what != "terminated" || got[2].user != "old" || got[2].reason == nil || got[3] != (ev{"created", "new", nil}) {
		t.Fatalf("session hooks %+v, want created(old), discarded(old), terminated(old, reason), created(new)", got)
	}
	if subs := b.Subscriptions("c1"); len(subs) != 0 {
		t.Fatalf("discarded session's subscriptions survived: %+v", subs)
	}
}

func TestHookSessionSubscribed(t *testing.T) {
	type ev struct {
		id    string
		sub   broker.Subscription
		isNew bool
	}
	evs := newEvlog[ev]()
	b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
		b.RegisterACL(broker.ACLFunc(func(_ context.Context, _ *broker.ClientInfo, _ broker.Access, topic string) (broker.Decision, error) {
			if topic == "denied" {
				return broker.Deny, nil
			}
			return broker.Ignore, nil
		}))
		broker.On(b, broker.SessionSubscribedHook, func(_ context.Context, c *broker.ClientInfo, s broker.Subscription, isNew bool) {
			evs.add(ev{c.ClientID, s, isNew})
		})
	})
	c := b.Dial(t, "c1", brokertest.WithVersion(packets.Version5))
	sid := &packets.Properties{SubscriptionIDs: []uint32{7}}
	c.SubscribeOpts(t, sid, packets.Subscription{Filter: "a/+", QoS: 1, NoLocal: true}, packets.Subscription{Filter: "denied", QoS: 1})
	c.SubscribeOpts(t, nil, packets.Subscription{Filter: "a/+", QoS: 2})
	got := evs.wait(t, 2)
	want := []ev{
		{"c1", broker.Subscription{Filter: "a/+", QoS: 1, NoLocal: true, ID: 7}, true},
		{"c1", broker.Subscription{Filter: "a/+", QoS: 2}, false}, // a replaced subscription is not new
	}
	if !slices.Equal(got, want) {
		t.Fatalf("session.subscribed %+v, want %+v", got, want)
	}
}

func TestHookSessionUnsubscribed(t *testing.T) {
	type ev struct {
		id  string
		sub broker.Subscription
	}
	evs := newEvlog[ev]()
	b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
		broker.On(b, broker.SessionUnsubscribedHook, func(_ context.Context, c *broker.ClientInfo, s broker.Subscription) {
			evs.add(ev{c.ClientID, s})
		})
	})
	c := b.Dial(t, "c1", brokertest.WithVersion(packets.Version5))
	c.Subscribe(t, "a", 1)
	c.Subscribe(t, "b", 2)
	codes := c.Unsubscribe(t, "a", "nope")
	if want := []packets.ReasonCode{packets.Success, packets.NoSubscriptionExisted}; !slices.Equal(codes, want) {
		t.Fatalf("UNSUBACK %v, want %v", codes, want)
	}
	if got := evs.wait(t, 1); !slices.Equal(got, []ev{{"c1", broker.Subscription{Filter: "a", QoS: 1}}}) {
		t.Fatalf("session.unsubscribed %+v, want one for a", got)
	}
}

func TestHookSessionTerminated(t *testing.T) {
	type ev struct {
		id     string
		reason error
	}
	hook := func(evs *evlog[ev]) func(*broker.Broker) {
		return func(b *broker.Broker) {
			broker.On(b, broker.SessionTerminatedHook, func(_ context.Context, c *broker.ClientInfo, r error) { evs.add(ev{c.ClientID, r}) })
		}
	}
	t.Run("clean session ends with its connection", func(t *testing.T) {
		evs := newEvlog[ev]()
		b := brokertest.New(t, broker.Options{}, hook(evs))
		b.Dial(t, "graceful").Disconnect(t)
		b.Dial(t, "dropped").Drop()
		got := evs.wait(t, 2)
		byID := map[string]error{got[0].id: got[0].reason, got[1].id: got[1].reason}
		if r, ok := byID["graceful"]; !ok || r != nil {
			t.Errorf("graceful: terminated %v, %v; want nil reason", ok, r)
		}
		if r, ok := byID["dropped"]; !ok || r == nil {
			t.Errorf("dropped: terminated %v, %v; want a reason", ok, r)
		}
		if s := b.Sessions(); len(s) != 0 {
			t.Errorf("sessions left: %+v", s)
		}
	})
	t.Run("persistent session ends when it expires", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			evs := newEvlog[ev]()
			b := brokertest.New(t, broker.Options{Session: broker.SessionOptions{Expiry: time.Minute}}, hook(evs))
			b.Dial(t, "p", brokertest.WithCleanSession(false)).Disconnect(t)
			time.Sleep(59 * time.Second)
			synctest.Wait()
			if n := evs.len(); n != 0 {
				t.Fatalf("session terminated before it expired")
			}
			if s := b.Sessions(); len(s) != 1 || s[0].Connected || !s[0].Persistent {
				t.Fatalf("Sessions = %+v, want p offline and persistent", s)
			}
			time.Sleep(2 * time.Second)
			synctest.Wait()
			if got := evs.all(); len(got) != 1 || got[0].id != "p" || got[0].reason == nil {
				t.Fatalf("session.terminated %+v, want p with a reason", got)
			}
			if s := b.Sessions(); len(s) != 0 {
				t.Fatalf("Sessions = %+v after expiry", s)
			}
		})
	})
}

func TestHookMessagePublish(t *testing.T) {
	t.Run("receives the message", func(t *testing.T) {
		evs := newEvlog[broker.Message]()
		b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
			broker.On(b, broker.MessagePublishHook, func(_ context.Context, m broker.Message) (broker.Message, broker.Flow) {
				evs.add(m)
				return m, broker.Continue
			})
		})
		c := b.Dial(t, "pub", brokertest.WithUsername("alice"))
		c.Publish(t, "a/b", []byte("x"), 1, true)
		m := evs.wait(t, 1)[0]
		if m.Topic != "a/b" || string(m.Payload) != "x" || m.QoS != 1 || !m.Retain || m.From != "pub" ||
			m.Username != "alice" || m.ID == 0 || m.Timestamp.IsZero() {
			t.Fatalf("message.publish got %+v", m)
		}
	})

	t.Run("runs for wills and host publishes", func(t *testing.T) {
		evs := newEvlog[broker.Message]()
		b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
			broker.On(b, broker.MessagePublishHook, func(_ context.Context, m broker.Message) (broker.Message, broker.Flow) {
				evs.add(m)
				return m, broker.Continue
			})
		})
		b.Dial(t, "w", brokertest.WithWill("will/w", []byte("gone"), 1, false)).Drop()
		m := evs.wait(t, 1)[0]
		if m.Topic != "will/w" || m.From != "w" || string(m.Payload) != "gone" {
			t.Fatalf("will: message.publish got %+v", m)
		}
		if err := b.Publish(context.Background(), broker.Message{Topic: "host/t", Payload: []byte("h")}); err != nil {
			t.Fatal(err)
		}
		if m := evs.wait(t, 2)[1]; m.Topic != "host/t" || m.From != "" {
			t.Fatalf("host publish: message.publish got %+v", m)
		}
	})

	t.Run("rewrites topic and payload", func(t *testing.T) {
		b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
			broker.On(b, broker.MessagePublishHook, func(_ context.Context, m broker.Message) (broker.Message, broker.Flow) {
				if m.Topic == "in/x" {
					m.Topic = "out/x"
					m.Payload = bytes.ToUpper(m.Payload)
				}
				return m, broker.Continue
			}, broker.Priority(1))
			// The next hook sees the rewritten message.
			broker.On(b, broker.MessagePublishHook, func(_ context.Context, m broker.Message) (broker.Message, broker.Flow) {
				if m.Topic == "out/x" {
					m.Payload = append(bytes.Clone(m.Payload), '!')
				}
				return m, broker.Continue
			})
		})
		sub := b.Dial(t, "sub")
		sub.Subscribe(t, "in/x", 0)
		sub.Subscribe(t, "out/x", 0)
		sub.Subscribe(t, "probe", 0)
		pub := b.Dial(t, "pub")
		pub.Publish(t, "in/x", []byte("hello"), 0, false)
		if m := sub.Expect(t, "out/x"); string(m.Payload) != "HELLO!" {
			t.Fatalf("subscriber got %q, want HELLO!", m.Payload)
		}
		pub.Publish(t, "probe", nil, 0, false)
		sub.Expect(t, "probe") // nothing on in/x came before it
	})

	t.Run("stop drops the message", func(t *testing.T) {
		drops := newEvlog[msgEvent]()
		ran := newEvlog[string]()
		b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
			broker.On(b, broker.MessagePublishHook, func(_ context.Context, m broker.Message) (broker.Message, broker.Flow) {
				if m.Topic == "drop/me" {
					return m, broker.Stop
				}
				return m, broker.Continue
			}, broker.Priority(1))
			broker.On(b, broker.MessagePublishHook, func(_ context.Context, m broker.Message) (broker.Message, broker.Flow) {
				ran.add(m.Topic)
				return m, broker.Continue
			})
			broker.On(b, broker.MessageDroppedHook, func(_ context.Context, m broker.Message, r broker.DropReason) {
				drops.add(msgEvent{msg: m, reason: r})
			})
		})
		sub := b.Dial(t, "sub")
		sub.Subscribe(t, "#", 0)
		pub := b.Dial(t, "pub")
		before := b.Metrics()["messages/dropped"]
		pub.Publish(t, "drop/me", []byte("x"), 1, false)
		pub.Publish(t, "probe", nil, 0, false)
		sub.Expect(t, "probe")
		if got := drops.wait(t, 1)[0]; got.msg.Topic != "drop/me" || got.reason != broker.DropHook || got.msg.From != "pub" {
			t.Fatalf("message.dropped got %+v, want drop/me with reason hook", got)
		}
		if d := b.Metrics()["messages/dropped"] - before; d != 1 {
			t.Fatalf("messages/dropped went up by %d, want 1", d)
		}
		if got := ran.all(); !slices.Equal(got, []string{"probe"}) {
			t.Fatalf("the hook after Stop saw %v, want only probe", got)
		}
	})
}

func TestHookMessageDelivered(t *testing.T) {
	evs := newEvlog[msgEvent]()
	disc := newEvlog[string]()
	b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
		broker.On(b, broker.MessageDeliveredHook, func(_ context.Context, c *broker.ClientInfo, m broker.Message) {
			evs.add(msgEvent{client: c.ClientID, msg: m})
		})
		broker.On(b, broker.ClientDisconnectedHook, func(_ context.Context, c *broker.ClientInfo, _ error) { disc.add(c.ClientID) })
	})
	sub := b.Dial(t, "sub")
	sub.Subscribe(t, "t/#", 1)
	pub := b.Dial(t, "pub")
	pub.Publish(t, "t/0", []byte("zero"), 0, false)
	pub.Publish(t, "t/1", []byte("one"), 1, false)
	sub.Expect(t, "t/0")
	sub.Expect(t, "t/1")
	got := evs.wait(t, 2)
	for i, want := range []struct{ topic, payload string }{{"t/0", "zero"}, {"t/1", "one"}} {
		if got[i].client != "sub" || got[i].msg.Topic != want.topic || string(got[i].msg.Payload) != want.payload || got[i].msg.From != "pub" {
			t.Fatalf("message.delivered #%d = %+v, want %s to sub from pub", i, got[i], want.topic)
		}
	}

	t.Run("queued messages on reconnect", func(t *testing.T) {
		p := b.Dial(t, "persist", brokertest.WithCleanSession(false))
		p.Subscribe(t, "q", 1)
		p.Disconnect(t)
		disc.waitFor(t, "persist to disconnect", func(s string) bool { return s == "persist" })
		n := evs.len()
		pub.Publish(t, "q", []byte("queued"), 1, false)
		if evs.len() != n {
			t.Fatalf("message.delivered ran for an offline client")
		}
		p = b.Dial(t, "persist", brokertest.WithCleanSession(false))
		p.Expect(t, "q")
		if got := evs.wait(t, n+1)[n]; got.client != "persist" || string(got.msg.Payload) != "queued" {
			t.Fatalf("message.delivered got %+v", got)
		}
	})
}

func TestHookMessageAcked(t *testing.T) {
	evs := newEvlog[msgEvent]()
	b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
		broker.On(b, broker.MessageAckedHook, func(_ context.Context, c *broker.ClientInfo, m broker.Message) {
			evs.add(msgEvent{client: c.ClientID, msg: m})
		})
	})
	sub := b.Dial(t, "sub", brokertest.WithManualAcks())
	sub.Subscribe(t, "t/#", 2)
	pub := b.Dial(t, "pub")

	t.Run("QoS 1 on PUBACK", func(t *testing.T) {
		pub.Publish(t, "t/1", []byte("one"), 1, false)
		p := sub.ExpectPacket(t)
		if n := evs.len(); n != 0 {
			t.Fatalf("message.acked ran before PUBACK")
		}
		sub.Send(t, &packets.Puback{PacketID: p.PacketID})
		if got := evs.wait(t, 1)[0]; got.client != "sub" || got.msg.Topic != "t/1" || string(got.msg.Payload) != "one" {
			t.Fatalf("message.acked got %+v", got)
		}
	})
	t.Run("QoS 2 on PUBCOMP", func(t *testing.T) {
		pub.Publish(t, "t/2", []byte("two"), 2, false)
		p := sub.ExpectPacket(t)
		sub.Send(t, &packets.Pubrec{PacketID: p.PacketID})
		rel, ok := sub.Next(t).(*packets.Pubrel)
		if !ok || rel.PacketID != p.PacketID {
			t.Fatalf("got %+v, want PUBREL %d", rel, p.PacketID)
		}
		if n := evs.len(); n != 1 {
			t.Fatalf("message.acked ran before PUBCOMP")
		}
		sub.Send(t, &packets.Pubcomp{PacketID: p.PacketID})
		if got := evs.wait(t, 2)[1]; got.client != "sub" || got.msg.Topic != "t/2" {
			t.Fatalf("message.acked got %+v", got)
		}
	})
}

func TestHookMessageDropped(t *testing.T) {
	evs := newEvlog[msgEvent]()
	b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
		b.RegisterACL(broker.ACLFunc(func(_ context.Context, _ *broker.ClientInfo, a broker.Access, topic string) (broker.Decision, error) {
			if a == broker.AccessPublish && topic == "acl/deny" {
				return broker.Deny, nil
			}
			return broker.Ignore, nil
		}))
		broker.On(b, broker.MessagePublishHook, func(_ context.Context, m broker.Message) (broker.Message, broker.Flow) {
			if m.Topic == "hook/stop" {
				return m, broker.Stop
			}
			return m, broker.Continue
		})
		broker.On(b, broker.MessageDroppedHook, func(_ context.Context, m broker.Message, r broker.DropReason) {
			evs.add(msgEvent{msg: m, reason: r})
		})
	})
	sub := b.Dial(t, "sub")
	sub.Subscribe(t, "acl/#", 0)
	sub.Subscribe(t, "hook/#", 0)
	pub := b.Dial(t, "pub")
	tests := []struct {
		topic  string
		reason broker.DropReason
	}{
		{"nobody/listens", broker.DropNoSubscribers},
		{"acl/deny", broker.DropNotAuthorized},
		{"hook/stop", broker.DropHook},
	}
	for i, tt := range tests {
		t.Run(string(tt.reason), func(t *testing.T) {
			pub.Publish(t, tt.topic, []byte("x"), 1, false)
			got := evs.wait(t, i+1)[i]
			if got.msg.Topic != tt.topic || got.msg.From != "pub" || got.reason != tt.reason {
				t.Fatalf("message.dropped(%q from %q, %q), want (%q from pub, %q)", got.msg.Topic, got.msg.From, got.reason, tt.topic, tt.reason)
			}
		})
	}
}

func TestHookDeliveryDropped(t *testing.T) {
	type ev struct {
		client, payload string
		reason          broker.DropReason
	}
	setup := func(evs *evlog[ev], disc *evlog[string]) func(*broker.Broker) {
		return func(b *broker.Broker) {
			broker.On(b, broker.DeliveryDroppedHook, func(_ context.Context, c *broker.ClientInfo, m broker.Message, r broker.DropReason) {
				evs.add(ev{c.ClientID, string(m.Payload), r})
			})
			broker.On(b, broker.ClientDisconnectedHook, func(_ context.Context, c *broker.ClientInfo, _ error) { disc.add(c.ClientID) })
		}
	}
	t.Run("QoS 0 to an offline client", func(t *testing.T) {
		evs, disc := newEvlog[ev](), newEvlog[string]()
		b := brokertest.New(t, broker.Options{Session: broker.SessionOptions{DropQoS0: true}}, setup(evs, disc))
		sub := b.Dial(t, "sub", brokertest.WithCleanSession(false))
		sub.Subscribe(t, "t", 1)
		sub.Disconnect(t)
		disc.wait(t, 1)
		pub := b.Dial(t, "pub")
		pub.Publish(t, "t", []byte("q0"), 0, false)
		pub.Publish(t, "t", []byte("q1"), 1, false)
		if got := evs.wait(t, 1); !slices.Equal(got, []ev{{"sub", "q0", broker.DropQoS0Offline}}) {
			t.Fatalf("delivery.dropped %+v, want q0 for sub with reason %q", got, broker.DropQoS0Offline)
		}
		sub = b.Dial(t, "sub", brokertest.WithCleanSession(false))
		if m := sub.Expect(t, "t"); string(m.Payload) != "q1" {
			t.Fatalf("resumed session got %q, want q1", m.Payload)
		}
	})
	t.Run("queue full", func(t *testing.T) {
		evs, disc := newEvlog[ev](), newEvlog[string]()
		b := brokertest.New(t, broker.Options{Session: broker.SessionOptions{MaxQueueLen: 2}}, setup(evs, disc))
		sub := b.Dial(t, "sub", brokertest.WithCleanSession(false))
		sub.Subscribe(t, "t", 1)
		sub.Disconnect(t)
		disc.wait(t, 1)
		pub := b.Dial(t, "pub")
		for _, p := range []string{"m1", "m2", "m3"} {
			pub.Publish(t, "t", []byte(p), 1, false)
		}
		if got := evs.wait(t, 1); !slices.Equal(got, []ev{{"sub", "m1", broker.DropQueueFull}}) {
			t.Fatalf("delivery.dropped %+v, want the oldest, m1, with reason %q", got, broker.DropQueueFull)
		}
		sub = b.Dial(t, "sub", brokertest.WithCleanSession(false))
		for _, want := range []string{"m2", "m3"} {
			if m := sub.Expect(t, "t"); string(m.Payload) != want {
				t.Fatalf("resumed session got %q, want %q", m.Payload, want)
			}
		}
	})
}
