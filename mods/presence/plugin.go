package presence

import (
	"context"
	"errors"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/conf"
)

// Plugin is the module as a plugin for a broker's registry, EMQ 2.0's
// emq_mod_presence, configured by etc/plugins/emq_mod_presence.conf (see
// ParseConfig):
//
//	b.Plugins().Register(presence.Plugin)
//	err := b.Plugins().Load(ctx, "emq_mod_presence")
//
// Its hooks are removed when it is unloaded; connected clients stay.
var Plugin = broker.PluginInfo{
	Name:        "emq_mod_presence",
	Description: "Presence Module (client connected/disconnected $SYS messages)",
	Defaults:    Defaults,
	New:         func() broker.Plugin { return new(plugin) },
}

// Defaults is the plugin's configuration with every key at its default.
const Defaults = `module.presence = on
module.presence.qos = 0
`

// fileConfig is the plugin's configuration file.
type fileConfig struct {
	Presence struct {
		// Enabled is "module.presence = on|off".
		Enabled bool `conf:"."`
		Config
	} `conf:"module.presence"`
}

// ParseConfig decodes the module's configuration from m, the whole
// emq_mod_presence.conf: "module.presence = on|off" says whether the
// loaded plugin publishes anything, and the keys under module.presence.
// fill the Config. A key it does not know, or a wrong value, is an error
// naming file, line and key.
func ParseConfig(m conf.Map) (enabled bool, c Config, err error) {
	var f fileConfig
	f.Presence.Enabled = true
	errs := []error{m.Decode(&f)}
	c = f.Presence.Config
	if c.QoS > 2 {
		errs = append(errs, m.Errorf("module.presence.qos", "invalid value %d: want 0, 1 or 2", c.QoS))
	}
	return f.Presence.Enabled, c, errors.Join(errs...)
}

// plugin is one loaded instance of Plugin.
type plugin struct {
	enabled bool
	cfg     Config
}

// Configure implements broker.Configurer.
func (p *plugin) Configure(m conf.Map) error {
	enabled, c, err := ParseConfig(m)
	if err != nil {
		return err
	}
	p.enabled, p.cfg = enabled, c
	return nil
}

// Load implements broker.Plugin.
func (p *plugin) Load(_ context.Context, h *broker.PluginHost, m conf.Map) error {
	if err := p.Configure(m); err != nil {
		return err
	}
	if !p.enabled {
		h.Logger().Info("presence module is off (module.presence = off)")
		return nil
	}
	pr, err := New(p.cfg)
	if err != nil {
		return err
	}
	pr.register(h, h.Broker())
	h.Logger().Info("presence module started", "qos", p.cfg.QoS)
	return nil
}

var (
	_ broker.Plugin     = (*plugin)(nil)
	_ broker.Configurer = (*plugin)(nil)
)
