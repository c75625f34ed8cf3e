package acl_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/auth/acl"
	"github.com/emqgo/broker/brokertest"
	"github.com/emqgo/broker/packets"
)

// withACL registers a, as emqd registers the internal ACL, with its
// "acl reload" command.
func withACL(t *testing.T, a *acl.ACL) func(*broker.Broker) {
	return func(b *broker.Broker) {
		b.RegisterACL(a, broker.Named("internal"), broker.Priority(-1000))
		if _, err := b.RegisterCommand(acl.Command(b)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestDefaultFileSYS(t *testing.T) {
	b := brokertest.New(t, broker.Options{}, withACL(t, acl.New(acl.MustParse(acl.DefaultFile, "acl.conf"))))

	// In-process connections have no address: only the dashboard user may
	// subscribe to $SYS/#, and nobody to "#".
	dash := b.Dial(t, "dashboard_1", brokertest.WithUsername("dashboard"))
	if got := dash.Subscribe(t, "$SYS/#", 0); got != 0 {
		t.Errorf("dashboard: SUBACK %#x, want 0", got)
	}
	anon := b.Dial(t, "anon")
	if got := anon.Subscribe(t, "$SYS/#", 0); got != 0x80 {
		t.Errorf("anonymous: SUBACK %#x, want 0x80", got)
	}
	if got := anon.Subscribe(t, "#", 1); got != 0x80 {
		t.Errorf("anonymous #: SUBACK %#x, want 0x80", got)
	}
	if got := anon.Subscribe(t, "a/#", 1); got != 1 {
		t.Errorf("anonymous a/#: SUBACK %#x, want 1", got)
	}
	// EMQ 2.0 refuses the whole SUBSCRIBE when one filter is denied.
	codes := anon.SubscribeOpts(t, nil, packets.Subscription{Filter: "b", QoS: 1}, packets.Subscription{Filter: "$SYS/brokers/#", QoS: 0})
	if codes[0] != 0x80 || codes[1] != 0x80 {
		t.Errorf("mixed SUBSCRIBE: %v, want 0x80 0x80", codes)
	}

	// A client on 127.0.0.1 may subscribe to $SYS/# and #.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go b.Serve(l)
	nc, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	local := brokertest.NewClient(t, nc, "local")
	if rc := local.Connect(t); rc != packets.Success {
		t.Fatalf("CONNECT: %v", rc)
	}
	if got := local.Subscribe(t, "$SYS/#", 0); got != 0 {
		t.Errorf("127.0.0.1: SUBACK %#x, want 0", got)
	}
	if got := local.Subscribe(t, "#", 0); got != 0 {
		t.Errorf("127.0.0.1 #: SUBACK %#x, want 0", got)
	}
	anon.Publish(t, "a/x", []byte("hi"), 1, false)
	local.Expect(t, "a/x")
}

func TestPlaceholderTopics(t *testing.T) {
	rules := acl.MustParse(`
{allow, {user, all}, pubsub, ["users/%u/#"]}.
{allow, {client, all}, subscribe, ["inbox/%c"]}.
{allow, all, subscribe, ["watch/#"]}.
{deny, all}.
`, "acl.conf")
	b := brokertest.New(t, broker.Options{}, withACL(t, acl.New(rules)))
	watcher := b.Dial(t, "watcher")
	if got := watcher.Subscribe(t, "watch/#", 1); got != 1 {
		t.Fatalf("watch/#: %#x", got)
	}
	alice := b.Dial(t, "alice-dev", brokertest.WithUsername("alice"), brokertest.WithVersion(packets.Version5))
	if got := alice.Subscribe(t, "users/alice/#", 1); got != 1 {
		t.Errorf("users/alice/#: %#x", got)
	}
	if got := alice.Subscribe(t, "users/bob/#", 1); got != 0x87 {
		t.Errorf("users/bob/#: %#x, want 0x87 (not authorized)", got)
	}
	if got := alice.Subscribe(t, "users/+/#", 1); got != 0x87 {
		t.Errorf("users/+/#: %#x, want 0x87", got)
	}
	if got := alice.Subscribe(t, "inbox/alice-dev", 1); got != 1 {
		t.Errorf("inbox/alice-dev: %#x", got)
	}
	if got := alice.Subscribe(t, "inbox/other", 1); got != 0x87 {
		t.Errorf("inbox/other: %#x", got)
	}
	if rc := alice.PublishPacket(t, &packets.Publish{Topic: "users/alice/t", QoS: 1}); rc.IsError() {
		t.Errorf("publish users/alice/t: %v", rc)
	}
	alice.Expect(t, "users/alice/t")
	if rc := alice.PublishPacket(t, &packets.Publish{Topic: "users/bob/t", QoS: 1}); rc != packets.NotAuthorized {
		t.Errorf("publish users/bob/t: %v, want not authorized", rc)
	}
	// A user named "+" gets no wildcard.
	plus := b.Dial(t, "plus", brokertest.WithUsername("+"), brokertest.WithVersion(packets.Version5))
	if got := plus.Subscribe(t, "users/alice/#", 1); got != 0x87 {
		t.Errorf("user +: users/alice/#: %#x", got)
	}
	if rc := plus.PublishPacket(t, &packets.Publish{Topic: "users/alice/t", QoS: 1}); rc != packets.NotAuthorized {
		t.Errorf("user +: publish users/alice/t: %v", rc)
	}
	alice.ExpectNone(t, 50*time.Millisecond)
}

func TestSuperuserBypassesACL(t *testing.T) {
	b := brokertest.New(t, broker.Options{}, withACL(t, acl.New(acl.MustParse(`{deny, all}.`, "acl.conf"))), func(b *broker.Broker) {
		b.RegisterAuth(superAuth{})
	})
	root := b.Dial(t, "root", brokertest.WithCredentials("root", "pw"))
	if got := root.Subscribe(t, "$SYS/#", 0); got != 0 {
		t.Errorf("superuser $SYS/#: %#x", got)
	}
	if got := root.Subscribe(t, "x/#", 1); got != 1 {
		t.Errorf("superuser x/#: %#x", got)
	}
	root.Publish(t, "x/1", []byte("p"), 1, false)
	root.Expect(t, "x/1")
	user := b.Dial(t, "user", brokertest.WithCredentials("user", "pw"))
	if got := user.Subscribe(t, "x/#", 1); got != 0x80 {
		t.Errorf("ordinary user x/#: %#x", got)
	}
	user.Publish(t, "x/2", []byte("p"), 1, false)
	root.ExpectNone(t, 50*time.Millisecond)
}

// superAuth allows everyone; "root" is a superuser.
type superAuth struct{}

func (superAuth) Authenticate(context.Context, *broker.ClientInfo, []byte) (broker.Decision, error) {
	return broker.Allow, nil
}

func (superAuth) IsSuperuser(_ context.Context, c *broker.ClientInfo) (bool, error) {
	return c.Username == "root", nil
}

func TestReloadCommand(t *testing.T) {
	for _, cache := range []bool{true, false} {
		name := "cache"
		if !cache {
			name = "nocache"
		}
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "acl.conf")
			write := func(s string) {
				if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			write(`{allow, all}.` + "\n")
			a, err := acl.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			b := brokertest.New(t, broker.Options{DisableACLCache: !cache}, withACL(t, a))
			sub := b.Dial(t, "sub")
			sub.Subscribe(t, "t/#", 1)
			pub := b.Dial(t, "pub", brokertest.WithVersion(packets.Version5))
			publish := func(want packets.ReasonCode) {
				t.Helper()
				rc := pub.PublishPacket(t, &packets.Publish{Topic: "t/1", QoS: 1, Payload: []byte("x")})
				if rc != want {
					t.Fatalf("publish: %v, want %v", rc, want)
				}
				if want == packets.Success {
					sub.Expect(t, "t/1")
				}
			}
			publish(packets.Success)

			// Editing the file changes nothing until "acl reload".
			write(`{deny, all, publish, ["t/#"]}.` + "\n" + `{allow, all}.` + "\n")
			publish(packets.Success)
			var out bytes.Buffer
			if err := b.Exec(context.Background(), &out, "acl", "reload"); err != nil {
				t.Fatalf("acl reload: %v", err)
			}
			if out.Len() != 0 {
				t.Errorf("acl reload printed %q", out.String())
			}
			// The reload dropped the cached decision.
			publish(packets.NotAuthorized)
			sub.ExpectNone(t, 30*time.Millisecond)

			// A broken file is reported with its line; the rules stay.
			write(`{allow, all}.` + "\n" + `{allow, all, publish, ["t/#"}.` + "\n")
			out.Reset()
			err = b.Exec(context.Background(), &out, "acl", "reload")
			if err == nil || !strings.Contains(err.Error(), path+":2:") {
				t.Fatalf("acl reload of a broken file: %v", err)
			}
			publish(packets.NotAuthorized)

			out.Reset()
			if err := b.Exec(context.Background(), &out, "acl", "oops"); !errors.Is(err, broker.ErrUsage) || !strings.Contains(out.String(), "acl reload") {
				t.Errorf("acl oops: %v, printed %q", err, out.String())
			}
		})
	}
}
