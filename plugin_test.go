package broker_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/brokertest"
	"github.com/emqgo/broker/conf"
	"github.com/emqgo/broker/packets"
)

// probeConfig is the configuration of the probe plugin.
type probeConfig struct {
	Value string `conf:"probe.value"`
	// FailLoad makes Load fail after registering everything.
	FailLoad bool `conf:"probe.fail_load"`
}

// probe is a test plugin that registers one of everything through its
// PluginHost and records what happens to an evlog.
type probe struct {
	ev  *evlog[string]
	cmd string // the name of its command
	cfg probeConfig
}

func (p *probe) Load(ctx context.Context, h *broker.PluginHost, m conf.Map) error {
	if err := m.Decode(&p.cfg); err != nil {
		return err
	}
	v := p.cfg.Value
	ev := p.ev
	if err := h.Hook(broker.MessagePublish, func(ctx context.Context, msg broker.Message) (broker.Message, broker.Flow) {
		ev.add("publish " + v + " " + msg.Topic)
		return msg, broker.Continue
	}); err != nil {
		return err
	}
	broker.On(h, broker.ClientConnectedHook, func(ctx context.Context, c *broker.ClientInfo, code packets.ReasonCode) {
		ev.add("connected " + v + " " + c.ClientID)
	})
	h.RegisterAuth(broker.AuthFunc(func(ctx context.Context, c *broker.ClientInfo, pw []byte) (broker.Decision, error) {
		if c.Username == "blocked" {
			return broker.Deny, nil
		}
		return broker.Ignore, nil
	}))
	h.RegisterACL(broker.ACLFunc(func(ctx context.Context, c *broker.ClientInfo, a broker.Access, topic string) (broker.Decision, error) {
		if a == broker.AccessPublish && strings.HasPrefix(topic, "forbidden/") {
			return broker.Deny, nil
		}
		return broker.Ignore, nil
	}))
	if err := h.RegisterCommand(broker.Command{Name: p.cmd, Usage: "probe # Show the probe's value",
		Run: func(ctx context.Context, w io.Writer, args []string) error {
			fmt.Fprintln(w, v)
			return nil
		}}); err != nil {
		return err
	}
	h.Go(func(ctx context.Context) {
		<-ctx.Done()
		ev.add("goroutine " + v + " done")
	})
	if p.cfg.FailLoad {
		return errors.New("probe refuses to load")
	}
	ev.add("loaded " + v)
	return nil
}

func (p *probe) Unload(ctx context.Context) error {
	p.ev.add("unload " + p.cfg.Value)
	return nil
}

// configuredProbe is a probe that is also a Configurer.
type configuredProbe struct{ probe }

func (p *configuredProbe) Configure(m conf.Map) error {
	var c probeConfig
	if err := m.Decode(&c); err != nil {
		return err
	}
	if c.Value == "invalid" {
		return m.Errorf("probe.value", "invalid value %q", c.Value)
	}
	return nil
}

const probeDefaults = "probe.value = default\nprobe.fail_load = off\n"

func probeInfo(ev *evlog[string]) broker.PluginInfo {
	return broker.PluginInfo{Name: "emq_probe", Description: "Probe", Defaults: probeDefaults,
		New: func() broker.Plugin { return &probe{ev: ev, cmd: "probe"} }}
}

func configuredProbeInfo(ev *evlog[string]) broker.PluginInfo {
	info := probeInfo(ev)
	info.Name = "emq_configured_probe"
	info.New = func() broker.Plugin { return &configuredProbe{probe{ev: ev, cmd: "probe"}} }
	return info
}

func execCmd(t *testing.T, b *broker.Broker, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := b.Exec(context.Background(), &out, args...)
	return out.String(), err
}

func TestPluginRegister(t *testing.T) {
	b := brokertest.New(t, broker.Options{})
	p := b.Plugins()
	ev := newEvlog[string]()
	if err := p.Register(probeInfo(ev)); err != nil {
		t.Fatal(err)
	}
	newProbe := func() broker.Plugin { return &probe{ev: ev} }
	for _, tc := range []struct {
		info broker.PluginInfo
		want string
	}{
		{broker.PluginInfo{New: newProbe}, "broker: register plugin: empty name"},
		{broker.PluginInfo{Name: "x"}, "broker: register plugin x: nil New"},
		{broker.PluginInfo{Name: "emq_probe", New: newProbe}, "broker: register plugin emq_probe: already registered"},
		{broker.PluginInfo{Name: "y", New: newProbe, Defaults: "no equals sign"}, "broker: register plugin y: y.conf (defaults):1:"},
	} {
		err := p.Register(tc.info)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Register(%q): %v, want %q", tc.info.Name, err, tc.want)
		}
	}
	// A failed Register registers none of its plugins.
	if err := p.Register(broker.PluginInfo{Name: "z", New: newProbe}, broker.PluginInfo{Name: "z", New: newProbe}); err == nil {
		t.Error("duplicate in one call: no error")
	}
	got := p.List()
	if len(got) != 1 || got[0].Name != "emq_probe" || got[0].Loaded || got[0].Version != broker.Version || got[0].Description != "Probe" {
		t.Errorf("List = %+v", got)
	}
}

func TestPluginLoadUnload(t *testing.T) {
	ctx := context.Background()
	b := brokertest.New(t, broker.Options{})
	p := b.Plugins()
	ev := newEvlog[string]()
	p.Register(probeInfo(ev))
	var changes [][]string
	p.OnChange(func(loaded []string) { changes = append(changes, loaded) })

	if err := p.Load(ctx, "emq_nope"); !errors.Is(err, broker.ErrPluginNotFound) {
		t.Errorf("Load unknown: %v", err)
	}
	if err := p.Unload(ctx, "emq_probe"); !errors.Is(err, broker.ErrPluginNotLoaded) {
		t.Errorf("Unload not loaded: %v", err)
	}
	if err := p.Reload(ctx, "emq_probe"); !errors.Is(err, broker.ErrPluginNotLoaded) {
		t.Errorf("Reload not loaded: %v", err)
	}
	before := time.Now()
	if err := p.Load(ctx, "emq_probe"); err != nil {
		t.Fatal(err)
	}
	if err := p.Load(ctx, "emq_probe"); !errors.Is(err, broker.ErrPluginLoaded) {
		t.Errorf("second Load: %v", err)
	}
	st := p.List()[0]
	if !st.Loaded || st.Since.Before(before) {
		t.Errorf("List after Load = %+v", st)
	}
	if got := p.Loaded(); !slices.Equal(got, []string{"emq_probe"}) {
		t.Errorf("Loaded = %v", got)
	}
	if err := p.Unload(ctx, "emq_probe"); err != nil {
		t.Fatal(err)
	}
	if st := p.List()[0]; st.Loaded || !st.Since.IsZero() {
		t.Errorf("List after Unload = %+v", st)
	}
	if want := [][]string{{"emq_probe"}, {}}; fmt.Sprint(changes) != fmt.Sprint(want) {
		t.Errorf("OnChange calls %v, want %v", changes, want)
	}
	want := []string{"loaded default", "goroutine default done", "unload default"}
	if got := ev.all(); !slices.Equal(got, want) {
		t.Errorf("events %q, want %q", got, want)
	}
}

// Everything a plugin registers through its host works while it is loaded
// and is gone once it is unloaded.
func TestPluginUnloadUndoesEverything(t *testing.T) {
	ctx := context.Background()
	b := brokertest.New(t, broker.Options{})
	ev := newEvlog[string]()
	b.Plugins().Register(probeInfo(ev))
	if err := b.Plugins().LoadWith(ctx, "emq_probe", conf.Map{}.With("probe.value", "v1")); err != nil {
		t.Fatal(err)
	}
	sub := b.Dial(t, "sub")
	sub.Subscribe(t, "#", 0)
	pub := b.Dial(t, "pub")

	// Loaded: hooks, auth, ACL and command are in place.
	ev.waitFor(t, "connected hook", func(s string) bool { return s == "connected v1 pub" })
	pub.Publish(t, "a", []byte("x"), 1, false)
	sub.Expect(t, "a")
	ev.waitFor(t, "publish hook", func(s string) bool { return s == "publish v1 a" })
	if _, code := b.Connect(t, "c1", brokertest.WithUsername("blocked")); code == packets.Success {
		t.Error("auth module not in place")
	}
	pub.Publish(t, "forbidden/x", []byte("x"), 1, false)
	sub.ExpectNone(t, 50*time.Millisecond)
	if out, err := execCmd(t, b.Broker, "probe"); err != nil || out != "v1\n" {
		t.Errorf("probe command: %q, %v", out, err)
	}

	if err := b.Plugins().Unload(ctx, "emq_probe"); err != nil {
		t.Fatal(err)
	}
	// The goroutine has returned by the time Unload does, and Unload ran
	// after it.
	got := ev.all()
	if i, j := slices.Index(got, "goroutine v1 done"), slices.Index(got, "unload v1"); i < 0 || j != i+1 || j != len(got)-1 {
		t.Errorf("events %q: want the goroutine done, then unload, last", got)
	}
	ev.reset()
	b.Dial(t, "c2", brokertest.WithUsername("blocked")) // auth gone
	pub.Publish(t, "forbidden/x", []byte("y"), 1, false)
	if m := sub.Expect(t, "forbidden/x"); string(m.Payload) != "y" { // ACL gone
		t.Errorf("payload %q", m.Payload)
	}
	if out, err := execCmd(t, b.Broker, "probe"); !errors.Is(err, broker.ErrUsage) || !strings.HasPrefix(out, "Usage: emqctl\n") {
		t.Errorf("probe after unload: %q, %v", out, err)
	}
	if got := ev.all(); len(got) != 0 {
		t.Errorf("hooks still ran after unload: %q", got)
	}
}

// A Load that fails leaves nothing registered and the plugin unloaded.
func TestPluginLoadFailureUndoes(t *testing.T) {
	ctx := context.Background()
	b := brokertest.New(t, broker.Options{})
	ev := newEvlog[string]()
	b.Plugins().Register(probeInfo(ev))
	err := b.Plugins().LoadWith(ctx, "emq_probe", conf.Map{}.With("probe.fail_load", "on"))
	if err == nil || err.Error() != "broker: plugin emq_probe: probe refuses to load" {
		t.Fatalf("Load: %v", err)
	}
	if got := ev.all(); !slices.Equal(got, []string{"goroutine default done"}) {
		t.Errorf("events %q", got)
	}
	if b.Plugins().List()[0].Loaded {
		t.Error("plugin listed as loaded")
	}
	if _, err := execCmd(t, b.Broker, "probe"); !errors.Is(err, broker.ErrUsage) {
		t.Errorf("command still registered: %v", err)
	}
	b.Dial(t, "c", brokertest.WithUsername("blocked"))
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The configuration file is read over the Defaults, and LoadWith's map
// over the file; mistakes name file, line and key.
func TestPluginConfig(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := brokertest.New(t, broker.Options{})
	ev := newEvlog[string]()
	p := b.Plugins()
	p.Register(probeInfo(ev))
	p.SetConfigDir(dir)
	path := filepath.Join(dir, "emq_probe.conf")
	if got := p.ConfigFile("emq_probe"); got != path {
		t.Errorf("ConfigFile = %q, want %q", got, path)
	}

	// No file: the defaults.
	if err := p.Load(ctx, "emq_probe"); err != nil {
		t.Fatal(err)
	}
	p.Unload(ctx, "emq_probe")
	// The file over the defaults.
	writeFile(t, path, "## the probe\nprobe.value = fromfile\n")
	p.Load(ctx, "emq_probe")
	p.Unload(ctx, "emq_probe")
	// LoadWith over the file.
	p.LoadWith(ctx, "emq_probe", conf.Map{}.With("probe.value", "override"))
	p.Unload(ctx, "emq_probe")
	var loads []string
	for _, e := range ev.all() {
		if v, ok := strings.CutPrefix(e, "loaded "); ok {
			loads = append(loads, v)
		}
	}
	if want := []string{"default", "fromfile", "override"}; !slices.Equal(loads, want) {
		t.Errorf("loaded with %q, want %q", loads, want)
	}

	for _, tc := range []struct{ text, want string }{
		{"probe.value = x\nprobe.valeu = y\n", path + ":2: probe.valeu: unknown key"},
		{"probe.fail_load = maybe\n", path + `:1: probe.fail_load: invalid value "maybe"`},
		{"probe.value\n", path + ":1: "},
	} {
		writeFile(t, path, tc.text)
		err := p.Load(ctx, "emq_probe")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("conf %q: %v, want it to contain %q", tc.text, err, tc.want)
		}
		if p.List()[0].Loaded {
			t.Errorf("conf %q: loaded", tc.text)
			p.Unload(ctx, "emq_probe")
		}
	}
}

func TestPluginReload(t *testing.T) {
	ctx := context.Background()
	for _, configurer := range []bool{true, false} {
		t.Run(fmt.Sprintf("configurer=%v", configurer), func(t *testing.T) {
			dir := t.TempDir()
			b := brokertest.New(t, broker.Options{})
			ev := newEvlog[string]()
			info := probeInfo(ev)
			if configurer {
				info = configuredProbeInfo(ev)
			}
			p := b.Plugins()
			p.Register(info)
			p.SetConfigDir(dir)
			path := filepath.Join(dir, info.Name+".conf")
			writeFile(t, path, "probe.value = v1\n")
			if err := p.Load(ctx, info.Name); err != nil {
				t.Fatal(err)
			}
			sub := b.Dial(t, "sub")
			sub.Subscribe(t, "#", 0)
			probeSays := func(want string) {
				t.Helper()
				if out, err := execCmd(t, b.Broker, "probe"); err != nil || out != want+"\n" {
					t.Errorf("probe: %q, %v; want %q", out, err, want)
				}
			}

			// A good new configuration replaces the running instance.
			writeFile(t, path, "probe.value = v2\n")
			if err := p.Reload(ctx, info.Name); err != nil {
				t.Fatal(err)
			}
			probeSays("v2")

			// A configuration that does not decode keeps the running one.
			ev.reset()
			writeFile(t, path, "probe.value = v3\nprobe.vaule = typo\n")
			err := p.Reload(ctx, info.Name)
			if want := path + ":2: probe.vaule: unknown key"; err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("Reload: %v, want %q", err, want)
			}
			if configurer {
				// Validated before anything was touched.
				if got := ev.all(); len(got) != 0 {
					t.Errorf("the running instance was touched: %q", got)
				}
			} else {
				// Unloaded, failed, and reloaded with the old configuration.
				want := []string{"goroutine v2 done", "unload v2", "loaded v2"}
				if got := ev.all(); !slices.Equal(got, want) {
					t.Errorf("events %q, want %q", got, want)
				}
			}
			probeSays("v2")
			b.Dial(t, "pub").Publish(t, "t", nil, 0, false)
			sub.Expect(t, "t")
			ev.waitFor(t, "the v2 hook", func(s string) bool { return s == "publish v2 t" })
			if !p.List()[0].Loaded {
				t.Error("not loaded after a failed reload")
			}

			if configurer {
				// Configure's own checks count as validation too.
				ev.reset()
				writeFile(t, path, "probe.value = invalid\n")
				err := p.Reload(ctx, info.Name)
				if want := path + `:1: probe.value: invalid value "invalid"`; err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("Reload: %v, want %q", err, want)
				}
				if got := ev.all(); len(got) != 0 {
					t.Errorf("the running instance was touched: %q", got)
				}
				probeSays("v2")
			}
		})
	}
}

// Loading and unloading a plugin while clients publish and subscribe
// drops no connection and loses no message.
func TestPluginUnloadWithConnectedClients(t *testing.T) {
	ctx := context.Background()
	b := brokertest.New(t, broker.Options{})
	ev := newEvlog[string]()
	b.Plugins().Register(probeInfo(ev))
	sub := b.Dial(t, "sub")
	sub.Subscribe(t, "load/#", 1)
	pub := b.Dial(t, "pub")

	const n = 200
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range n {
			if err := b.Plugins().Load(ctx, "emq_probe"); err != nil {
				t.Errorf("Load %d: %v", i, err)
				return
			}
			if err := b.Plugins().Unload(ctx, "emq_probe"); err != nil {
				t.Errorf("Unload %d: %v", i, err)
				return
			}
		}
	}()
	for i := range n {
		pub.Publish(t, "load/t", []byte(fmt.Sprint(i)), 1, false)
	}
	for i := range n {
		if m := sub.Expect(t, "load/t"); string(m.Payload) != fmt.Sprint(i) {
			t.Fatalf("message %d: payload %q", i, m.Payload)
		}
	}
	wg.Wait()
	pingSync(t, sub)
	pingSync(t, pub)
	if got := len(slices.Collect(b.Clients())); got != 2 {
		t.Errorf("%d clients connected, want 2", got)
	}
}

// Shutdown unloads the plugins in the reverse of load order, and does not
// report it as a change of the loaded set.
func TestPluginShutdownUnloadsInReverse(t *testing.T) {
	b, err := broker.New(broker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ev := newEvlog[string]()
	p := b.Plugins()
	second := configuredProbeInfo(ev)
	second.New = func() broker.Plugin { return &configuredProbe{probe{ev: ev, cmd: "probe2"}} }
	p.Register(probeInfo(ev), second)
	ctx := context.Background()
	for _, nv := range [][2]string{{"emq_probe", "first"}, {"emq_configured_probe", "second"}} {
		if err := p.LoadWith(ctx, nv[0], conf.Map{}.With("probe.value", nv[1])); err != nil {
			t.Fatal(err)
		}
	}
	p.OnChange(func([]string) { t.Error("OnChange called at shutdown") })
	ev.reset()
	if err := b.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	// The plugins' goroutines end when the broker closes; then the plugins
	// are unloaded, newest first.
	got := ev.all()
	var unloads []string
	for _, e := range got {
		if strings.HasPrefix(e, "unload ") {
			unloads = append(unloads, e)
		}
	}
	if want := []string{"unload second", "unload first"}; !slices.Equal(unloads, want) || len(got) != 4 {
		t.Errorf("events %q, want both goroutines done and %q", got, want)
	}
	if err := p.Load(ctx, "emq_probe"); !errors.Is(err, broker.ErrBrokerClosed) {
		t.Errorf("Load after shutdown: %v", err)
	}
}

// A registration a plugin makes after it was unloaded (from a goroutine
// that outlived it, say) is undone at once.
func TestPluginHostAfterUnload(t *testing.T) {
	ctx := context.Background()
	b := brokertest.New(t, broker.Options{})
	var host *broker.PluginHost
	b.Plugins().Register(broker.PluginInfo{Name: "emq_keeper", New: func() broker.Plugin {
		return loadFunc(func(ctx context.Context, h *broker.PluginHost, m conf.Map) error {
			host = h
			return nil
		})
	}})
	if err := b.Plugins().Load(ctx, "emq_keeper"); err != nil {
		t.Fatal(err)
	}
	if host.Name() != "emq_keeper" || host.Broker() != b.Broker || host.Logger() == nil {
		t.Errorf("host %q %p", host.Name(), host.Broker())
	}
	hctx := host.Context()
	b.Plugins().Unload(ctx, "emq_keeper")
	if hctx.Err() == nil {
		t.Error("host context not cancelled at unload")
	}
	ran := false
	if err := host.Hook(broker.ClientConnected, func(context.Context, *broker.ClientInfo, packets.ReasonCode) { ran = true }); err != nil {
		t.Fatal(err)
	}
	host.RegisterCommand(broker.Command{Name: "late", Run: func(context.Context, io.Writer, []string) error { return nil }})
	started := false
	host.Go(func(context.Context) { started = true })
	b.Dial(t, "c")
	if ran || started {
		t.Errorf("hook ran %v, goroutine started %v", ran, started)
	}
	if _, err := execCmd(t, b.Broker, "late"); !errors.Is(err, broker.ErrUsage) {
		t.Errorf("late command registered: %v", err)
	}
	if err := host.Hook("no.such.hook", func() {}); !errors.Is(err, broker.ErrUnknownHook) {
		t.Errorf("Hook with a bad name: %v", err)
	}
}

// loadFunc is a Plugin made of its Load function.
type loadFunc func(ctx context.Context, h *broker.PluginHost, m conf.Map) error

func (f loadFunc) Load(ctx context.Context, h *broker.PluginHost, m conf.Map) error {
	return f(ctx, h, m)
}

// greeter is a plugin: it answers the "greet" command with its configured
// greeting, until it is unloaded.
type greeter struct{}

func (greeter) Load(ctx context.Context, h *broker.PluginHost, cfg conf.Map) error {
	var c struct {
		Greeting string `conf:"greeter.greeting"`
	}
	if err := cfg.Decode(&c); err != nil { // every key: a typo is an error naming file, line and key
		return err
	}
	return h.RegisterCommand(broker.Command{Name: "greet", Usage: "greet <Name> # Greet someone",
		Run: func(ctx context.Context, w io.Writer, args []string) error {
			if len(args) != 1 {
				return broker.ErrUsage
			}
			fmt.Fprintf(w, "%s, %s\n", c.Greeting, args[0])
			return nil
		}})
}

func ExamplePlugins() {
	b, _ := broker.New(broker.Options{})
	defer b.Close()
	ctx := context.Background()
	b.Plugins().Register(broker.PluginInfo{
		Name:     "emq_greeter",
		Defaults: "greeter.greeting = Hello\n",
		New:      func() broker.Plugin { return greeter{} },
	})
	// emqd also calls b.Plugins().SetConfigDir("etc/plugins"), to read
	// etc/plugins/emq_greeter.conf over the defaults.
	if err := b.Plugins().LoadWith(ctx, "emq_greeter", conf.Map{}.With("greeter.greeting", "Hi")); err != nil {
		fmt.Println(err)
	}
	b.Exec(ctx, os.Stdout, "greet", "Ada")
	b.Exec(ctx, os.Stdout, "plugins", "list")
	b.Plugins().Unload(ctx, "emq_greeter")
	err := b.Exec(ctx, io.Discard, "greet", "Ada")
	fmt.Println(errors.Is(err, broker.ErrUsage))
	// Output:
	// Hi, Ada
	// Plugin(emq_greeter, version=0.1.0, description=, active=true)
	// true
}
