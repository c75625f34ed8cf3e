package plugintemplate

import (
	"context"
	"errors"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/conf"
)

// Plugin describes the template to a broker's plugin registry, for emqd:
// its EMQ name (also the stem of its configuration file), a description
// for "plugins list", the default configuration and a constructor.
//
//	b.Plugins().Register(plugintemplate.Plugin)
//	err := b.Plugins().Load(ctx, "emq_plugin_template")
var Plugin = broker.PluginInfo{
	Name:        "emq_plugin_template",
	Description: "EMQ Plugin Template",
	Version:     "", // shown by "plugins list"; "" is the library's version, broker.Version
	Defaults:    Defaults,
	New:         func() broker.Plugin { return new(plugin) },
}

// Defaults is the configuration with every key at its default: the
// configuration file is read over it, so a file may leave keys out.
const Defaults = `plugin.template.hook_log_level = info
plugin.template.auth = ignore
plugin.template.acl = ignore
`

// fileConfig is the whole configuration file: Decode on it makes every key
// outside plugin.template an "unknown key" error.
type fileConfig struct {
	Template Config `conf:"plugin.template"`
}

// ParseConfig decodes the template's configuration from m, the whole
// emq_plugin_template.conf. Every error names file, line and key.
func ParseConfig(m conf.Map) (Config, error) {
	f := fileConfig{Template: DefaultConfig()}
	errs := []error{m.Decode(&f)}
	// Checks Decode cannot do are positioned with Errorf.
	if _, err := decision(f.Template.Auth); err != nil {
		errs = append(errs, m.Errorf("plugin.template.auth", "%v", err))
	}
	if _, err := decision(f.Template.ACL); err != nil {
		errs = append(errs, m.Errorf("plugin.template.acl", "%v", err))
	}
	return f.Template, errors.Join(errs...)
}

// plugin is one loaded instance of Plugin. The registry makes a new one
// for every load.
type plugin struct {
	cfg Config
	log func(string)
}

// Configure implements broker.Configurer: decode and validate, nothing
// else. The registry calls it before Load, and on reload before the
// running instance is stopped, so a broken file never stops a running
// plugin.
func (p *plugin) Configure(m conf.Map) error {
	c, err := ParseConfig(m)
	if err != nil {
		return err
	}
	p.cfg = c
	return nil
}

// Load implements broker.Plugin: wire everything in through h, which
// records it and undoes it all on unload.
func (p *plugin) Load(_ context.Context, h *broker.PluginHost, m conf.Map) error {
	if err := p.Configure(m); err != nil {
		return err
	}
	t, err := New(p.cfg)
	if err != nil {
		return err
	}
	log := h.Logger()
	h.RegisterAuth(t.Auth(log), broker.Named("auth_demo"))
	h.RegisterACL(t.ACL(log), broker.Named("acl_demo"))
	t.Hooks(h, log)
	if err := h.RegisterCommand(t.Command()); err != nil {
		return err // what was registered above is undone
	}
	p.log = func(msg string) { log.Info(msg) }
	log.Info("emq_plugin_template loaded", "auth", p.cfg.Auth, "acl", p.cfg.ACL, "hook_log_level", p.cfg.HookLogLevel)
	return nil
}

// Unload implements broker.Unloader, for cleanup beyond what the host
// undoes (closing connections, files...). It runs after the hooks,
// modules and command are gone and the goroutines started with h.Go have
// returned.
func (p *plugin) Unload(context.Context) error {
	p.log("emq_plugin_template unloaded")
	return nil
}

var (
	_ broker.Plugin     = (*plugin)(nil)
	_ broker.Configurer = (*plugin)(nil)
	_ broker.Unloader   = (*plugin)(nil)
)
