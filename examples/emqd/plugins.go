package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/auth/authclientid"
	"github.com/emqgo/broker/auth/authhttp"
	"github.com/emqgo/broker/auth/authldap"
	"github.com/emqgo/broker/auth/authmongo"
	"github.com/emqgo/broker/auth/authmysql"
	"github.com/emqgo/broker/auth/authpgsql"
	"github.com/emqgo/broker/auth/authredis"
	"github.com/emqgo/broker/auth/authusername"
	plugintemplate "github.com/emqgo/broker/examples/plugin_template"
	"github.com/emqgo/broker/mods/presence"
	"github.com/emqgo/broker/mods/recon"
	"github.com/emqgo/broker/mods/reloader"
	"github.com/emqgo/broker/mods/retainer"
	"github.com/emqgo/broker/mods/rewrite"
	"github.com/emqgo/broker/mods/subscription"
)

// plugins are the plugins emqd knows, by their EMQ names. Adding a plugin
// to emqd is adding its PluginInfo here, and its configuration file to
// etc/plugins/.
var plugins = []broker.PluginInfo{
	retainer.Plugin,
	authclientid.Plugin,
	authusername.Plugin,
	authmysql.Plugin,
	authpgsql.Plugin,
	authredis.Plugin,
	authmongo.Plugin,
	authldap.Plugin,
	authhttp.Plugin,
	presence.Plugin, subscription.Plugin, rewrite.Plugin, recon.Plugin, reloader.Plugin, plugintemplate.Plugin,
}

// defaultPlugins are loaded when data/loaded_plugins does not exist, as
// EMQ 2.0's release shipped it: those of them that emqd knows.
var defaultPlugins = []string{"emq_mod_presence", "emq_mod_retainer", "emq_mod_subscription", "emq_dashboard"}

// startPlugins registers emqd's plugins with b, reads their configuration
// files from mqtt.plugins.etc_dir, and loads the plugins listed in
// mqtt.plugins.loaded_file (the default set when the file does not exist,
// which is then written). A plugin whose configuration is wrong stops
// emqd, with the file, line and key. Plugins loaded or unloaded later
// (emqctl plugins load|unload) are written back to the file.
func startPlugins(ctx context.Context, c *Config, b *broker.Broker, log *slog.Logger) error {
	p := b.Plugins()
	if err := p.Register(plugins...); err != nil {
		return err
	}
	p.SetConfigDir(c.Resolve(c.Plugins.EtcDir))
	file := c.Resolve(c.Plugins.LoadedFile)
	names, err := readLoadedPlugins(file)
	missing := errors.Is(err, fs.ErrNotExist)
	switch {
	case missing:
		for _, name := range defaultPlugins {
			if known(name) {
				names = append(names, name)
			}
		}
	case err != nil:
		return fmt.Errorf("mqtt.plugins.loaded_file: %w", err)
	}
	for _, name := range names {
		err := p.Load(ctx, name)
		if errors.Is(err, broker.ErrPluginNotFound) {
			log.Warn("unknown plugin in the loaded plugins file; skipped", "plugin", name, "file", file)
			continue
		}
		if err != nil {
			return err
		}
	}
	if missing {
		if err := writeLoadedPlugins(file, p.Loaded()); err != nil {
			log.Warn("could not write the loaded plugins file", "err", err)
		}
	}
	p.OnChange(func(loaded []string) {
		if err := writeLoadedPlugins(file, loaded); err != nil {
			log.Error("could not write the loaded plugins file", "err", err)
		}
	})
	return nil
}

func known(name string) bool {
	return slices.ContainsFunc(plugins, func(p broker.PluginInfo) bool { return p.Name == name })
}

// readLoadedPlugins reads EMQ's data/loaded_plugins: one Erlang term
// "name." a line. Blank lines and "%" comments are skipped.
func readLoadedPlugins(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var names []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "%") {
			continue
		}
		name, ok := strings.CutSuffix(line, ".")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, " \t.") {
			return nil, fmt.Errorf("%s:%d: want a plugin name followed by a dot, such as emq_mod_retainer.", path, n)
		}
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	return names, nil
}

// writeLoadedPlugins replaces the file at path with names, one "name." a
// line. It writes a temporary file and renames it, so a crash never leaves
// half a file.
func writeLoadedPlugins(path string, names []string) error {
	var b strings.Builder
	for _, n := range names {
		b.WriteString(n + ".\n")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
