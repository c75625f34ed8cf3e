package recon

import (
	"context"
	"errors"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/conf"
)

// Plugin is the module as a plugin for a broker's registry, EMQ 2.0's
// emq_recon, configured by etc/plugins/emq_recon.conf (see ParseConfig):
//
//	b.Plugins().Register(recon.Plugin)
//	err := b.Plugins().Load(ctx, "emq_recon")
//
// It registers the "recon" command and runs the memory sampler and the
// periodic garbage collection; unloading it removes the command and stops
// them. It does not serve Handler: a host mounts that itself.
var Plugin = broker.PluginInfo{
	Name:        "emq_recon",
	Description: "Recon Plugin (Go runtime diagnostics)",
	Defaults:    Defaults,
	New:         func() broker.Plugin { return new(plugin) },
}

// Defaults is the plugin's configuration with every key at its default,
// EMQ 2.0's: a forced garbage collection every 10 minutes.
const Defaults = `recon.gc_interval = 600
`

// fileConfig is the plugin's configuration file.
type fileConfig struct {
	Recon Config `conf:"recon"`
}

// ParseConfig decodes the plugin's configuration from m, the whole
// emq_recon.conf. A key it does not know, or a wrong value, is an error
// naming file, line and key.
func ParseConfig(m conf.Map) (Config, error) {
	var f fileConfig
	errs := []error{m.Decode(&f)}
	if f.Recon.GCInterval < 0 {
		errs = append(errs, m.Errorf("recon.gc_interval", "%v is negative: want 0 (never) or more", f.Recon.GCInterval))
	}
	return f.Recon, errors.Join(errs...)
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
	if err := h.RegisterCommand(r.Command(h.Broker())); err != nil {
		return err
	}
	h.Go(r.Run)
	h.Logger().Info("recon started", "gc_interval", p.cfg.GCInterval)
	return nil
}

var (
	_ broker.Plugin     = (*plugin)(nil)
	_ broker.Configurer = (*plugin)(nil)
)
