package reloader

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/conf"
)

// Command returns the "reload <Plugin>" CLI command, which reloads a
// loaded plugin of b with its configuration file as it is now: it prints
// "Reload plugin <name> successfully." or fails with "Reload plugin <name>
// error: <why>.", the running plugin staying as it was. The plugin
// registers it; an embedder may register it with Broker.RegisterCommand,
// or use Attach.
func (r *Reloader) Command(b *broker.Broker) broker.Command {
	return broker.Command{
		Name:  "reload",
		Short: "Reload a plugin's configuration",
		Usage: "reload <Plugin> # Reload a plugin with its configuration file",
		Run: func(ctx context.Context, w io.Writer, args []string) error {
			if len(args) != 1 {
				return broker.ErrUsage
			}
			name := args[0]
			if err := r.Reload(ctx, b, name, "reload command"); err != nil {
				return fmt.Errorf("Reload plugin %s error: %w.", name, err)
			}
			r.remember(b, name)
			fmt.Fprintf(w, "Reload plugin %s successfully.\n", name)
			return nil
		},
	}
}

// Plugin is the module as a plugin for a broker's registry, EMQ 2.0's
// emq_reloader, configured by etc/plugins/emq_reloader.conf (see
// ParseConfig):
//
//	b.Plugins().Register(reloader.Plugin)
//	err := b.Plugins().Load(ctx, "emq_reloader")
//
// It registers the "reload" command and watches the loaded plugins'
// configuration files; unloading it removes the command and stops the
// watching. It may reload itself when its own file changes.
var Plugin = broker.PluginInfo{
	Name:        "emq_reloader",
	Description: "Reloader Plugin (reload plugins whose configuration changed)",
	Defaults:    Defaults,
	New:         func() broker.Plugin { return new(plugin) },
}

// Defaults is the plugin's configuration with every key at its default,
// EMQ 2.0's: a check every 60 seconds, logged to log/reloader.log.
const Defaults = `reloader.interval = 60
reloader.logfile = log/reloader.log
`

// fileConfig is the plugin's configuration file.
type fileConfig struct {
	Reloader Config `conf:"reloader"`
}

// ParseConfig decodes the plugin's configuration from m, the whole
// emq_reloader.conf. A key it does not know, or a wrong value, is an error
// naming file, line and key. A relative reloader.logfile is relative to
// the working directory (emqd's home).
func ParseConfig(m conf.Map) (Config, error) {
	var f fileConfig
	errs := []error{m.Decode(&f)}
	if f.Reloader.Interval < 0 {
		errs = append(errs, m.Errorf("reloader.interval", "%v is negative: want 0 (never) or more", f.Reloader.Interval))
	}
	return f.Reloader, errors.Join(errs...)
}

// plugin is one loaded instance of Plugin.
type plugin struct {
	cfg Config
}

// Configure implements broker.Configurer.
func (p *plugin) Configure(m conf.Map) error {
	c, err := ParseConfig(m)
	if err != nil {
		return err
	}
	p.cfg = c
	return nil
}

// Load implements broker.Plugin.
func (p *plugin) Load(_ context.Context, h *broker.PluginHost, m conf.Map) error {
	if err := p.Configure(m); err != nil {
		return err
	}
	r, err := New(p.cfg)
	if err != nil {
		return err
	}
	b := h.Broker()
	if err := h.RegisterCommand(r.Command(b)); err != nil {
		return err
	}
	h.Go(func(ctx context.Context) { r.Run(ctx, b) })
	h.Logger().Info("reloader started", "interval", p.cfg.Interval, "logfile", p.cfg.LogFile)
	return nil
}

var (
	_ broker.Plugin     = (*plugin)(nil)
	_ broker.Configurer = (*plugin)(nil)
)
