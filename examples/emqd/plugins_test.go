package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/conf"
	"github.com/emqgo/broker/mods/retainer"
)

func writePluginConf(t *testing.T, home, name, text string) string {
	t.Helper()
	path := filepath.Join(home, "etc", "plugins", name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// newPluginBroker loads the emq.conf of a fresh home holding confText and
// returns it with a broker to start plugins on.
func newPluginBroker(t *testing.T, home string) (*Config, *broker.Broker) {
	t.Helper()
	c, err := LoadConfig(writeConf(t, home, ""))
	if err != nil {
		t.Fatal(err)
	}
	b, err := broker.New(broker.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return &c, b
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestStartPlugins(t *testing.T) {
	ctx := context.Background()
	t.Run("defaults", func(t *testing.T) {
		home := t.TempDir()
		c, b := newPluginBroker(t, home)
		if err := startPlugins(ctx, c, b, quiet); err != nil {
			t.Fatal(err)
		}
		if got, want := b.Plugins().Loaded(), []string{"emq_mod_presence", "emq_mod_retainer", "emq_mod_subscription"}; !slices.Equal(got, want) {
			t.Errorf("loaded %v, want %v", got, want)
		}
		// The default set is written out, in EMQ's format.
		if got := readFile(t, filepath.Join(home, "data", "loaded_plugins")); got != "emq_mod_presence.\nemq_mod_retainer.\nemq_mod_subscription.\n" {
			t.Errorf("data/loaded_plugins = %q", got)
		}
	})
	t.Run("restore and rewrite", func(t *testing.T) {
		home := t.TempDir()
		c, b := newPluginBroker(t, home)
		file := filepath.Join(home, "data", "loaded_plugins")
		os.MkdirAll(filepath.Dir(file), 0o755)
		os.WriteFile(file, []byte("% comment\n\nemq_dashboard.\n"), 0o644)
		if err := startPlugins(ctx, c, b, quiet); err != nil {
			t.Fatal(err)
		}
		// emq_dashboard is not known: skipped; the retainer is not listed.
		if got := b.Plugins().Loaded(); len(got) != 0 {
			t.Errorf("loaded %v, want none", got)
		}
		if err := b.Plugins().Load(ctx, "emq_mod_retainer"); err != nil {
			t.Fatal(err)
		}
		if got := readFile(t, file); got != "emq_mod_retainer.\n" {
			t.Errorf("after load: %q", got)
		}
		if err := b.Plugins().Unload(ctx, "emq_mod_retainer"); err != nil {
			t.Fatal(err)
		}
		if got := readFile(t, file); got != "" {
			t.Errorf("after unload: %q", got)
		}
		// Shutdown unloads the plugins without rewriting the file.
		b.Plugins().Load(ctx, "emq_mod_retainer")
		b.Close()
		if got := readFile(t, file); got != "emq_mod_retainer.\n" {
			t.Errorf("after shutdown: %q", got)
		}
	})
	t.Run("conf error", func(t *testing.T) {
		home := t.TempDir()
		c, b := newPluginBroker(t, home)
		path := writePluginConf(t, home, "emq_mod_retainer.conf", "module.retainer.storage_type = tape\nmodule.retainer.max_mesage_num = 5\n")
		err := startPlugins(ctx, c, b, quiet)
		for _, want := range []string{
			path + `:1: module.retainer.storage_type: invalid value "tape": want ram or disc`,
			path + ":2: module.retainer.max_mesage_num: unknown key",
		} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("error %v\ndoes not contain %q", err, want)
			}
		}
	})
	t.Run("bad loaded file", func(t *testing.T) {
		home := t.TempDir()
		c, b := newPluginBroker(t, home)
		file := filepath.Join(home, "data", "loaded_plugins")
		os.MkdirAll(filepath.Dir(file), 0o755)
		os.WriteFile(file, []byte("emq_mod_retainer\n"), 0o644)
		err := startPlugins(ctx, c, b, quiet)
		if want := file + ":1: want a plugin name followed by a dot"; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want %q", err, want)
		}
	})
}

// Every plugin emqd knows ships a configuration file in etc/plugins that
// loads, and gives the plugin's defaults.
func TestShippedPluginConfs(t *testing.T) {
	c, err := LoadConfig(filepath.Join("..", "..", "etc", "emq.conf"))
	if err != nil {
		t.Fatal(err)
	}
	dir := c.Resolve(c.Plugins.EtcDir)
	for _, p := range plugins {
		t.Run(p.Name, func(t *testing.T) {
			path := filepath.Join(dir, p.Name+".conf")
			file, err := conf.ParseFile(path)
			if err != nil {
				t.Fatal(err)
			}
			defaults, err := conf.ParseString(p.Defaults, "defaults")
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range file.Entries() {
				if v, ok := defaults.Get(e.Key); !ok || v != e.Value {
					t.Errorf("%s:%d: %s = %s, but the default is %q (set %v)", path, e.Line, e.Key, e.Value, v, ok)
				}
			}
			b, err := broker.New(broker.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			b.Plugins().Register(p)
			b.Plugins().SetConfigDir(dir)
			if err := b.Plugins().Load(context.Background(), p.Name); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestRetainerShippedConf(t *testing.T) {
	m, err := conf.ParseFile(filepath.Join("..", "..", "etc", "plugins", "emq_mod_retainer.conf"))
	if err != nil {
		t.Fatal(err)
	}
	defaults, _ := conf.ParseString(retainer.Defaults, "defaults")
	rc, err := retainer.ParseConfig(defaults.Merge(m))
	if err != nil {
		t.Fatal(err)
	}
	want := retainer.DefaultConfig()
	want.Dir = "data"
	if rc != want {
		t.Errorf("etc/plugins/emq_mod_retainer.conf gives %+v, want the defaults %+v", rc, want)
	}
}
