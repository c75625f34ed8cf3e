package authclientid

import (
	"context"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/conf"
)

// Plugin is the module as a plugin for a broker's registry, EMQ's
// emq_auth_clientid, configured by etc/plugins/emq_auth_clientid.conf
// (see ParseConfig):
//
//	b.Plugins().Register(authclientid.Plugin)
//	err := b.Plugins().Load(ctx, "emq_auth_clientid")
//
// It registers the authentication module and the "clientid" command.
var Plugin = broker.PluginInfo{
	Name:        "emq_auth_clientid",
	Description: "ClientId authentication module",
	Defaults:    Defaults,
	New:         func() broker.Plugin { return new(plugin) },
}

// Defaults is the plugin's configuration with every key at its default.
const Defaults = `auth.client.password_hash = sha256
auth.client.data_file = data/emq_auth_clientid.json
`

type plugin struct {
	cfg Config
}

var (
	_ broker.Plugin     = (*plugin)(nil)
	_ broker.Configurer = (*plugin)(nil)
)

// Configure implements broker.Configurer.
func (p *plugin) Configure(m conf.Map) error {
	cfg, err := ParseConfig(m)
	if err != nil {
		return err
	}
	p.cfg = cfg
	return nil
}

// Load implements broker.Plugin.
func (p *plugin) Load(_ context.Context, h *broker.PluginHost, m conf.Map) error {
	if err := p.Configure(m); err != nil {
		return err
	}
	a, err := New(p.cfg)
	if err != nil {
		return err
	}
	return a.core.Register(h, a, Plugin.Name, p.cfg.DataFile)
}
