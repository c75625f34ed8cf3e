package reloader_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/brokertest"
	"github.com/emqgo/broker/conf"
	"github.com/emqgo/broker/mods/reloader"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testPlugin has one key, test.value; "bad" is refused by Configure. Its
// command "testval" prints the value it was loaded with, and loads counts
// its loads.
var loads atomic.Int32

var testPlugin = broker.PluginInfo{
	Name:     "test_plugin",
	Defaults: "test.value = default\n",
	New:      func() broker.Plugin { return new(tp) },
}

type tp struct{ value string }

func (p *tp) Configure(m conf.Map) error {
	var f struct {
		Value string `conf:"test.value"`
	}
	if err := m.Decode(&f); err != nil {
		return err
	}
	if f.Value == "bad" {
		return m.Errorf("test.value", "bad is not a good value")
	}
	p.value = f.Value
	return nil
}

func (p *tp) Load(_ context.Context, h *broker.PluginHost, m conf.Map) error {
	loads.Add(1)
	return h.RegisterCommand(broker.Command{Name: "testval", Run: func(_ context.Context, w io.Writer, _ []string) error {
		fmt.Fprint(w, p.value)
		return nil
	}})
}

// env is a test broker with a configuration folder and test_plugin loaded.
type env struct {
	*brokertest.Broker
	dir string
}

func newEnv(t *testing.T, value string) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{dir: dir}
	if value != "" {
		e.write(t, "test_plugin", "test.value = "+value+"\n")
	}
	e.Broker = brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
		b.Plugins().SetConfigDir(dir)
		if err := b.Plugins().Register(testPlugin, reloader.Plugin); err != nil {
			t.Fatal(err)
		}
		if err := b.Plugins().Load(context.Background(), testPlugin.Name); err != nil {
			t.Fatal(err)
		}
	})
	return e
}

// write replaces the configuration file of plugin with text, making sure
// its modification time changes.
func (e *env) write(t *testing.T, plugin, text string) {
	t.Helper()
	path := filepath.Join(e.dir, plugin+".conf")
	old, err := os.Stat(path)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err == nil {
		bump(t, path, old.ModTime())
	}
}

// bump sets path's modification time past old.
func bump(t *testing.T, path string, old time.Time) {
	t.Helper()
	if err := os.Chtimes(path, time.Time{}, old.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
}

func (e *env) value(t *testing.T) string {
	t.Helper()
	var buf bytes.Buffer
	if err := e.Exec(context.Background(), &buf, "testval"); err != nil {
		if errors.Is(err, broker.ErrUsage) {
			// The test plugin is between unload and load: its command
			// is gone for that moment.
			return "(reloading)"
		}
		t.Fatal(err)
	}
	return buf.String()
}

func TestCheck(t *testing.T) {
	e := newEnv(t, "one")
	logfile := filepath.Join(e.dir, "log", "reloader.log")
	r, err := reloader.New(reloader.Config{LogFile: logfile})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// A client connected all along stays connected.
	c := e.Dial(t, "c1")
	c.Subscribe(t, "t", 1)
	alive := func() {
		t.Helper()
		e.Dial(t, "pub").Publish(t, "t", []byte("x"), 1, false)
		c.Expect(t, "t")
	}

	if res := r.Check(ctx, e.Broker.Broker); len(res) != 0 {
		t.Fatalf("first check reloaded %v", res)
	}
	if res := r.Check(ctx, e.Broker.Broker); len(res) != 0 {
		t.Fatalf("unchanged: reloaded %v", res)
	}

	e.write(t, "test_plugin", "test.value = two\n")
	res := r.Check(ctx, e.Broker.Broker)
	if len(res) != 1 || res[0].Plugin != "test_plugin" || res[0].Err != nil || res[0].File != filepath.Join(e.dir, "test_plugin.conf") {
		t.Fatalf("changed: %+v", res)
	}
	if v := e.value(t); v != "two" {
		t.Fatalf("value %q after reload", v)
	}
	alive()

	// The same contents with a new modification time: nothing to do.
	path := filepath.Join(e.dir, "test_plugin.conf")
	fi, _ := os.Stat(path)
	bump(t, path, fi.ModTime())
	if res := r.Check(ctx, e.Broker.Broker); len(res) != 0 {
		t.Fatalf("touched: reloaded %v", res)
	}

	// A broken file keeps the running plugin, says why once, and is tried
	// again when it changes.
	for _, broken := range []struct{ text, why string }{
		{"test.value = bad\n", path + ":1: test.value: bad is not a good value"},
		{"test.value = three\nthis is not conf\n", path + ":2"},
		{"test.valeu = three\n", path + ":1: test.valeu: unknown key"},
	} {
		before := loads.Load()
		e.write(t, "test_plugin", broken.text)
		res = r.Check(ctx, e.Broker.Broker)
		if len(res) != 1 || res[0].Err == nil || !strings.Contains(res[0].Err.Error(), broken.why) {
			t.Fatalf("%q: %+v, want an error with %q", broken.text, res, broken.why)
		}
		if v := e.value(t); v != "two" {
			t.Fatalf("%q: value %q, want the running two", broken.text, v)
		}
		if loads.Load() != before {
			t.Errorf("%q: the plugin was loaded again", broken.text)
		}
		if res := r.Check(ctx, e.Broker.Broker); len(res) != 0 {
			t.Fatalf("%q again: %+v", broken.text, res)
		}
		alive()
	}
	e.write(t, "test_plugin", "test.value = four\n")
	if res := r.Check(ctx, e.Broker.Broker); len(res) != 1 || res[0].Err != nil {
		t.Fatalf("fixed: %+v", res)
	}
	if v := e.value(t); v != "four" {
		t.Fatalf("value %q after the fix", v)
	}

	// A removed file means the defaults.
	os.Remove(path)
	if res := r.Check(ctx, e.Broker.Broker); len(res) != 1 || res[0].Err != nil {
		t.Fatalf("removed: %+v", res)
	}
	if v := e.value(t); v != "default" {
		t.Fatalf("value %q after removing the file", v)
	}
	alive()

	log, err := os.ReadFile(logfile)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(log), "\n"), "\n")
	if len(lines) != 6 {
		t.Fatalf("log file:\n%s", log)
	}
	for i, want := range []string{
		"Reload plugin test_plugin successfully (configuration file changed).",
		"Reload plugin test_plugin error: broker: plugin test_plugin: " + path + ":1: test.value: bad is not a good value",
		"Reload plugin test_plugin error: broker: plugin test_plugin: " + path + ":2",
		"Reload plugin test_plugin error: broker: plugin test_plugin: " + path + ":1: test.valeu: unknown key",
		"Reload plugin test_plugin successfully (configuration file changed).",
		"Reload plugin test_plugin successfully (configuration file changed).",
	} {
		if _, msg, _ := strings.Cut(lines[i], " "); !strings.HasPrefix(msg[9:], want) {
			t.Errorf("log line %d: %q, want the message %q", i+1, lines[i], want)
		}
	}
}

func TestReloadCommand(t *testing.T) {
	e := newEnv(t, "one")
	r, _ := reloader.New(reloader.Config{})
	ctx := context.Background()
	var detach func()
	detach, err := r.Attach(e.Broker.Broker)
	if err != nil {
		t.Fatal(err)
	}
	defer detach()
	e.write(t, "test_plugin", "test.value = two\n")
	var buf bytes.Buffer
	if err := e.Exec(ctx, &buf, "reload", "test_plugin"); err != nil || buf.String() != "Reload plugin test_plugin successfully.\n" {
		t.Fatalf("reload: %q %v", buf.String(), err)
	}
	if v := e.value(t); v != "two" {
		t.Fatalf("value %q", v)
	}
	// The watcher does not reload it again for the same change.
	r.Check(ctx, e.Broker.Broker)
	if res := r.Check(ctx, e.Broker.Broker); len(res) != 0 {
		t.Fatalf("check after the command: %+v", res)
	}

	e.write(t, "test_plugin", "test.value = bad\n")
	buf.Reset()
	err = e.Exec(ctx, &buf, "reload", "test_plugin")
	if err == nil || !strings.HasPrefix(err.Error(), "Reload plugin test_plugin error: ") || !strings.HasSuffix(err.Error(), "bad is not a good value.") {
		t.Fatalf("broken: %q %v", buf.String(), err)
	}
	if v := e.value(t); v != "two" {
		t.Fatalf("value %q after a broken reload", v)
	}
	for _, args := range [][]string{{"reload", "nope"}, {"reload", "emq_reloader"}} {
		err := e.Exec(ctx, io.Discard, args...)
		if err == nil || !strings.Contains(err.Error(), "Reload plugin "+args[1]+" error: ") {
			t.Errorf("%v: %v", args, err)
		}
	}
	if err := e.Exec(ctx, io.Discard, "reload"); !errors.Is(err, broker.ErrUsage) {
		t.Errorf("no argument: %v", err)
	}
}

// The plugin watches at its interval, and unloading it while clients are
// connected stops the watching and removes the command.
func TestPluginWatches(t *testing.T) {
	e := newEnv(t, "one")
	e.write(t, "emq_reloader", "reloader.interval = 10ms\nreloader.logfile = \n")
	ctx := context.Background()
	if err := e.Plugins().Load(ctx, reloader.Plugin.Name); err != nil {
		t.Fatal(err)
	}
	c := e.Dial(t, "c1")
	c.Subscribe(t, "t", 1)
	waitValue := func(want string) {
		t.Helper()
		deadline := time.Now().Add(brokertest.Timeout)
		for e.value(t) != want {
			if time.Now().After(deadline) {
				t.Fatalf("value %q, want %q", e.value(t), want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	// Let the first check record the files.
	time.Sleep(50 * time.Millisecond)
	e.write(t, "test_plugin", "test.value = two\n")
	waitValue("two")

	// The reloader reloads itself when its own file changes.
	since := func() time.Time {
		for _, p := range e.Plugins().List() {
			if p.Name == reloader.Plugin.Name {
				return p.Since
			}
		}
		return time.Time{}
	}
	before := since()
	e.write(t, "emq_reloader", "reloader.interval = 20ms\nreloader.logfile = \n")
	deadline := time.Now().Add(brokertest.Timeout)
	for !since().After(before) {
		if time.Now().After(deadline) {
			t.Fatal("the reloader did not reload itself")
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	e.write(t, "test_plugin", "test.value = three\n")
	waitValue("three")

	if err := e.Plugins().Unload(ctx, reloader.Plugin.Name); err != nil {
		t.Fatal(err)
	}
	e.write(t, "test_plugin", "test.value = four\n")
	time.Sleep(100 * time.Millisecond)
	if v := e.value(t); v != "three" {
		t.Fatalf("reloaded after unload: %q", v)
	}
	if err := e.Exec(ctx, io.Discard, "reload", "test_plugin"); !errors.Is(err, broker.ErrUsage) {
		t.Fatalf("reload command after unload: %v", err)
	}
	e.Dial(t, "pub").Publish(t, "t", nil, 1, false)
	c.Expect(t, "t")
}

func TestConfig(t *testing.T) {
	m, _ := conf.ParseString(reloader.Defaults, "d")
	c, err := reloader.ParseConfig(m)
	if err != nil || c != (reloader.Config{Interval: time.Minute, LogFile: "log/reloader.log"}) {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "emq_reloader.conf")
	for _, tc := range []struct{ text, want string }{
		{"reloader.interval = often\n", path + ":1: reloader.interval: invalid value \"often\""},
		{"reloader.log = x\n", path + ":1: reloader.log: unknown key"},
	} {
		os.WriteFile(path, []byte(tc.text), 0o644)
		b, _ := broker.New(broker.Options{})
		b.Plugins().Register(reloader.Plugin)
		b.Plugins().SetConfigDir(dir)
		err := b.Plugins().Load(context.Background(), reloader.Plugin.Name)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.text, err, tc.want)
		}
		b.Close()
	}
	if _, err := reloader.New(reloader.Config{Interval: -time.Second}); err == nil {
		t.Error("negative interval accepted")
	}
}
