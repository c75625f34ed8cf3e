package plugintemplate_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/brokertest"
	"github.com/emqgo/broker/conf"
	plugintemplate "github.com/emqgo/broker/examples/plugin_template"
	"github.com/emqgo/broker/packets"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// logs records the log messages of a broker.
type logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logs) has(msg string) bool { return strings.Contains(l.String(), "msg="+msg+" ") }

// load starts a test broker logging to a logs, with the template loaded
// with cfg over its defaults.
func load(t *testing.T, opts broker.Options, cfg string) (*brokertest.Broker, *logs) {
	t.Helper()
	l := &logs{}
	opts.Logger = slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
	b := brokertest.New(t, opts, func(b *broker.Broker) {
		if err := b.Plugins().Register(plugintemplate.Plugin); err != nil {
			t.Fatal(err)
		}
		m, err := conf.ParseString(cfg, "emq_plugin_template.conf")
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Plugins().LoadWith(context.Background(), plugintemplate.Plugin.Name, m); err != nil {
			t.Fatalf("load: %v", err)
		}
	})
	return b, l
}

// Every hook point is logged.
func TestEveryHookLogged(t *testing.T) {
	b, l := load(t, broker.Options{Session: broker.SessionOptions{DropQoS0: true}}, "")
	c := b.Dial(t, "c1", brokertest.WithCleanSession(false), brokertest.WithCredentials("u", "p"))
	c.Subscribe(t, "t/#", 1)
	c.Publish(t, "t/1", []byte("x"), 1, false)
	c.Expect(t, "t/1") // delivered and acked
	c.Unsubscribe(t, "t/#")
	c.Publish(t, "nobody", nil, 0, false) // dropped: no subscribers
	c.Subscribe(t, "q", 0)
	b.Dial(t, "c1", brokertest.WithCleanSession(false)) // takes the session over, resumed
	c2 := b.Dial(t, "c1", brokertest.WithCleanSession(false))
	c2.Drop()
	for deadline := time.Now().Add(brokertest.Timeout); ; time.Sleep(5 * time.Millisecond) {
		if _, on := b.Client("c1"); !on {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("c1 still connected after Drop")
		}
	}
	// c1 is away and subscribed at QoS 0: the delivery is dropped. QoS 1
	// waits for the PUBACK, so the drop happens before the next step.
	b.Dial(t, "pub").Publish(t, "q", nil, 1, false)
	b.Dial(t, "c1", brokertest.WithCleanSession(true)).Disconnect(t) // discards the session
	for _, h := range broker.HookNames() {
		waitLog(t, l, string(h))
	}
	for _, msg := range []string{"Auth Demo", "ACL Demo"} {
		waitLog(t, l, `"`+msg+`"`)
	}
	if strings.Contains(l.String(), "=p ") {
		t.Error("a password was logged")
	}
}

func waitLog(t *testing.T, l *logs, msg string) {
	t.Helper()
	deadline := time.Now().Add(brokertest.Timeout)
	for !l.has(msg) {
		// Hooks of ending connections run on their own goroutines.
		if time.Now().After(deadline) {
			t.Errorf("no %s in the log:\n%s", msg, l.String())
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The demo modules give the configured answers.
func TestAuthAndACL(t *testing.T) {
	b, _ := load(t, broker.Options{}, "plugin.template.auth = deny\n")
	if _, code := b.Connect(t, "c1", brokertest.WithCredentials("u", "p")); code != packets.BadUserNameOrPassword {
		t.Fatalf("auth = deny: %v", code)
	}
	b, _ = load(t, broker.Options{DenyAnonymous: true}, "plugin.template.auth = allow\nplugin.template.acl = deny\n")
	c, code := b.Connect(t, "c1")
	if code != packets.Success {
		t.Fatalf("auth = allow with DenyAnonymous: %v", code)
	}
	if got := c.Subscribe(t, "a", 0); got != 0x80 {
		t.Fatalf("acl = deny: SUBACK %#x", got)
	}
	// ignore leaves the decisions to the broker's defaults.
	b, _ = load(t, broker.Options{DenyAnonymous: true}, "")
	if _, code := b.Connect(t, "c1"); code != packets.NotAuthorized {
		t.Fatalf("auth = ignore with DenyAnonymous: %v", code)
	}
}

func TestCommand(t *testing.T) {
	b, _ := load(t, broker.Options{}, "")
	var buf bytes.Buffer
	if err := b.Exec(context.Background(), &buf, "cmd", "arg1", "arg2"); err != nil || buf.String() != "ok\n" {
		t.Fatalf("cmd arg1 arg2: %q %v", buf.String(), err)
	}
	buf.Reset()
	err := b.Exec(context.Background(), &buf, "cmd", "x")
	if !errors.Is(err, broker.ErrUsage) || buf.String() != "cmd arg1 arg2                                   # cmd demo\n" {
		t.Fatalf("cmd x: %q %v", buf.String(), err)
	}
}

// Unloading removes the modules, the hooks and the command; clients stay.
func TestUnloadWhileConnected(t *testing.T) {
	b, l := load(t, broker.Options{}, "plugin.template.acl = deny\n")
	c := b.Dial(t, "c1")
	if err := b.Plugins().Unload(context.Background(), plugintemplate.Plugin.Name); err != nil {
		t.Fatal(err)
	}
	waitLog(t, l, `"emq_plugin_template unloaded"`)
	before := strings.Count(l.String(), "msg=message.publish")
	if got := c.Subscribe(t, "a", 1); got != 1 {
		t.Fatalf("SUBACK after unload %#x: the ACL module is still there", got)
	}
	c.Publish(t, "a", []byte("x"), 1, false)
	c.Expect(t, "a")
	if after := strings.Count(l.String(), "msg=message.publish"); after != before {
		t.Errorf("message.publish logged after unload")
	}
	if err := b.Exec(context.Background(), io.Discard, "cmd", "arg1", "arg2"); !errors.Is(err, broker.ErrUsage) {
		t.Errorf("cmd after unload: %v", err)
	}
}

func TestConfig(t *testing.T) {
	m, _ := conf.ParseString(plugintemplate.Defaults, "d")
	c, err := plugintemplate.ParseConfig(m)
	if err != nil || c != plugintemplate.DefaultConfig() {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "emq_plugin_template.conf")
	for _, tc := range []struct{ text, want string }{
		{"plugin.template.auth = maybe\n", path + `:1: plugin.template.auth: invalid value "maybe": want ignore, allow or deny`},
		{"plugin.template.hook_log_level = loud\n", path + ":1: plugin.template.hook_log_level: invalid value"},
		{"plugin.template.acl = allow\nplugin.template.colour = red\n", path + ":2: plugin.template.colour: unknown key"},
	} {
		os.WriteFile(path, []byte(tc.text), 0o644)
		b, _ := broker.New(broker.Options{})
		b.Plugins().Register(plugintemplate.Plugin)
		b.Plugins().SetConfigDir(dir)
		err := b.Plugins().Load(context.Background(), plugintemplate.Plugin.Name)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.text, err, tc.want)
		}
		b.Close()
	}
	if _, err := plugintemplate.New(plugintemplate.Config{Auth: "yes", ACL: "no"}); err == nil {
		t.Error("New accepted bad answers")
	}
}

// A Go host wires the template in with its typed constructor.
func TestAttach(t *testing.T) {
	tpl, err := plugintemplate.New(plugintemplate.Config{HookLogLevel: slog.LevelDebug, Auth: "deny", ACL: "ignore"})
	if err != nil {
		t.Fatal(err)
	}
	var detach func()
	b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
		if detach, err = tpl.Attach(b); err != nil {
			t.Fatal(err)
		}
	})
	if _, code := b.Connect(t, "c1"); code != packets.NotAuthorized {
		t.Fatalf("attached: %v", code)
	}
	detach()
	detach()
	b.Dial(t, "c1")
	if cmds := b.Commands(); slices.ContainsFunc(cmds, func(c broker.Command) bool { return c.Name == "cmd" }) {
		t.Error("cmd still registered after detach")
	}
}
