package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

func TestRetainerConfig(t *testing.T) {
	t.Run("no file", func(t *testing.T) {
		home := t.TempDir()
		c, err := LoadConfig(writeConf(t, home, ""))
		if err != nil {
			t.Fatal(err)
		}
		rc, err := c.RetainerConfig()
		if err != nil {
			t.Fatal(err)
		}
		want := retainer.DefaultConfig()
		want.Dir = filepath.Join(home, "data")
		if rc != want {
			t.Errorf("RetainerConfig = %+v, want %+v", rc, want)
		}
	})
	t.Run("disc", func(t *testing.T) {
		home := t.TempDir()
		c, err := LoadConfig(writeConf(t, home, ""))
		if err != nil {
			t.Fatal(err)
		}
		writePluginConf(t, home, "emq_mod_retainer.conf", `module.retainer.storage_type = disc
module.retainer.max_message_num = infinity
module.retainer.max_payload_size = 1MB
module.retainer.expired_after = 3600
`)
		rc, err := c.RetainerConfig()
		if err != nil {
			t.Fatal(err)
		}
		want := retainer.Config{StorageType: "disc", Dir: filepath.Join(home, "data"), MaxMessageNum: 0, MaxPayloadSize: 1 << 20, ExpiredAfter: time.Hour}
		if rc != want {
			t.Errorf("RetainerConfig = %+v, want %+v", rc, want)
		}
	})
	t.Run("errors", func(t *testing.T) {
		home := t.TempDir()
		c, err := LoadConfig(writeConf(t, home, ""))
		if err != nil {
			t.Fatal(err)
		}
		path := writePluginConf(t, home, "emq_mod_retainer.conf", "module.retainer.storage_type = tape\nmodule.retainer.max_mesage_num = 5\n")
		_, err = c.RetainerConfig()
		for _, want := range []string{
			path + `:1: module.retainer.storage_type: invalid value "tape": want ram or disc`,
			path + ":2: module.retainer.max_mesage_num: unknown key",
		} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("error %v\ndoes not contain %q", err, want)
			}
		}
	})
	t.Run("shipped", func(t *testing.T) {
		c, err := LoadConfig(filepath.Join("..", "..", "etc", "emq.conf"))
		if err != nil {
			t.Fatal(err)
		}
		rc, err := c.RetainerConfig()
		if err != nil {
			t.Fatal(err)
		}
		want := retainer.DefaultConfig()
		want.Dir = filepath.Join(c.Home, "data")
		if rc != want {
			t.Errorf("etc/plugins/emq_mod_retainer.conf gives %+v, want the defaults %+v", rc, want)
		}
	})
}
