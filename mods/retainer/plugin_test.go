package retainer_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/brokertest"
	"github.com/emqgo/broker/conf"
	"github.com/emqgo/broker/mods/retainer"
)

func execCmd(t *testing.T, b *broker.Broker, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := b.Exec(context.Background(), &out, args...)
	return out.String(), err
}

func TestParseConfig(t *testing.T) {
	defaults, err := conf.ParseString(retainer.Defaults, "defaults")
	if err != nil {
		t.Fatal(err)
	}
	c, err := retainer.ParseConfig(defaults)
	want := retainer.DefaultConfig()
	want.Dir = "data"
	if err != nil || c != want {
		t.Errorf("ParseConfig(Defaults) = %+v, %v; want %+v", c, err, want)
	}
	file, _ := conf.ParseString(`module.retainer.storage_type = disc
module.retainer.max_message_num = infinity
module.retainer.max_payload_size = 1MB
module.retainer.expired_after = 3600
`, "emq_mod_retainer.conf")
	c, err = retainer.ParseConfig(defaults.Merge(file))
	want = retainer.Config{StorageType: "disc", Dir: "data", MaxMessageNum: 0, MaxPayloadSize: 1 << 20, ExpiredAfter: time.Hour}
	if err != nil || c != want {
		t.Errorf("ParseConfig = %+v, %v; want %+v", c, err, want)
	}

	file, _ = conf.ParseString(`module.retainer.storage_type = tape
module.retainer.max_mesage_num = 5
module.retainer.max_message_num = -1
module.retainer.expired_after = soon
retainer.storage_type = ram
`, "emq_mod_retainer.conf")
	_, err = retainer.ParseConfig(defaults.Merge(file))
	for _, want := range []string{
		`emq_mod_retainer.conf:1: module.retainer.storage_type: invalid value "tape": want ram or disc`,
		"emq_mod_retainer.conf:2: module.retainer.max_mesage_num: unknown key",
		"emq_mod_retainer.conf:3: module.retainer.max_message_num: -1 is negative: want 0 (no limit) or more",
		`emq_mod_retainer.conf:4: module.retainer.expired_after: invalid value "soon"`,
		"emq_mod_retainer.conf:5: retainer.storage_type: unknown key",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v\ndoes not contain %q", err, want)
		}
	}
	file, _ = conf.ParseString("module.retainer.storage_type = disc\nmodule.retainer.dir =\n", "x.conf")
	if _, err := retainer.ParseConfig(file); err == nil || !strings.Contains(err.Error(), "x.conf:2: module.retainer.dir: disc storage needs a folder") {
		t.Errorf("empty dir: %v", err)
	}
}

// The plugin retains messages while it is loaded, registers the retainer
// command, and takes both away when it is unloaded.
func TestPlugin(t *testing.T) {
	ctx := context.Background()
	b := brokertest.New(t, broker.Options{})
	p := b.Plugins()
	if err := p.Register(retainer.Plugin); err != nil {
		t.Fatal(err)
	}
	if err := p.Load(ctx, "emq_mod_retainer"); err != nil {
		t.Fatal(err)
	}
	pub := b.Dial(t, "pub")
	pub.Publish(t, "state/a", []byte("1"), 1, true)
	pub.Publish(t, "state/b", []byte("2"), 1, true)
	sub := b.Dial(t, "sub")
	sub.Subscribe(t, "state/a", 1)
	if m := sub.Expect(t, "state/a"); string(m.Payload) != "1" || !m.Retain {
		t.Errorf("got %q retain=%v", m.Payload, m.Retain)
	}
	if got := b.Stats()["retained/count"]; got != 2 {
		t.Errorf("retained/count = %d, want 2", got)
	}
	for _, tc := range []struct {
		args []string
		out  string
	}{
		{[]string{"retainer", "info"}, "retained/total: 2\n"},
		{[]string{"retainer", "topics"}, "state/a\nstate/b\n"},
		{[]string{"retainer", "clean"}, "Cleaned 2 retained messages\n"},
		{[]string{"retainer", "info"}, "retained/total: 0\n"},
		{[]string{"retainer", "topics"}, ""},
	} {
		if out, err := execCmd(t, b.Broker, tc.args...); err != nil || out != tc.out {
			t.Errorf("%q: %q, %v; want %q", tc.args, out, err, tc.out)
		}
	}
	out, err := execCmd(t, b.Broker, "retainer")
	wantUsage := `retainer info                                   # Show the count of retained messages
retainer topics                                 # Show all topics of retained messages
retainer clean                                  # Clean all retained messages
`
	if !errors.Is(err, broker.ErrUsage) || out != wantUsage {
		t.Errorf("retainer: %q, %v", out, err)
	}

	pub.Publish(t, "state/c", []byte("3"), 1, true)
	if err := p.Unload(ctx, "emq_mod_retainer"); err != nil {
		t.Fatal(err)
	}
	if _, err := execCmd(t, b.Broker, "retainer", "info"); !errors.Is(err, broker.ErrUsage) {
		t.Errorf("retainer command after unload: %v", err)
	}
	if got := b.Stats()["retained/count"]; got != 0 {
		t.Errorf("retained/count after unload = %d", got)
	}
	pub.Publish(t, "state/d", []byte("4"), 1, true)
	sub.Subscribe(t, "state/#", 1)
	sub.ExpectNone(t, none)
}

// With disc storage, reloading the plugin keeps the retained messages, and
// a broken configuration file keeps the running retainer.
func TestPluginReloadDisc(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b := brokertest.New(t, broker.Options{})
	p := b.Plugins()
	p.Register(retainer.Plugin)
	p.SetConfigDir(dir)
	path := filepath.Join(dir, "emq_mod_retainer.conf")
	write := func(text string) {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data := filepath.Join(dir, "data")
	write("module.retainer.storage_type = disc\nmodule.retainer.dir = " + data + "\n")
	if err := p.Load(ctx, "emq_mod_retainer"); err != nil {
		t.Fatal(err)
	}
	pub := b.Dial(t, "pub")
	pub.Publish(t, "lamp", []byte("on"), 1, true)

	write("module.retainer.storage_type = disc\nmodule.retainer.dir = " + data + "\nmodule.retainer.max_payload_size = 1KB\n")
	if err := p.Reload(ctx, "emq_mod_retainer"); err != nil {
		t.Fatal(err)
	}
	write("module.retainer.storage_type = floppy\n")
	err := p.Reload(ctx, "emq_mod_retainer")
	if want := path + `:1: module.retainer.storage_type: invalid value "floppy": want ram or disc`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Reload: %v, want %q", err, want)
	}
	sub := b.Dial(t, "sub")
	sub.Subscribe(t, "#", 1)
	if m := sub.Expect(t, "lamp"); string(m.Payload) != "on" {
		t.Errorf("payload %q", m.Payload)
	}
	// The reloaded retainer has the new limit.
	pub.Publish(t, "big", bytes.Repeat([]byte("x"), 2048), 1, true)
	sub.Expect(t, "big")
	if out, _ := execCmd(t, b.Broker, "retainer", "topics"); out != "lamp\n" {
		t.Errorf("retainer topics: %q", out)
	}
}
