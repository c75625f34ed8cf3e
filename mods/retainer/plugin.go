package retainer

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/conf"
)

// Plugin is the retainer as a plugin for a broker's registry, EMQ 2.0's
// emq_mod_retainer, configured by the module.retainer.* keys of
// etc/plugins/emq_mod_retainer.conf:
//
//	b.Plugins().Register(retainer.Plugin)
//	err := b.Plugins().Load(ctx, "emq_mod_retainer")
//
// It also registers the "retainer info|topics|clean" command of EMQ 2.3.
// Unloading it detaches the retainer: with ram storage its messages are
// gone, with disc storage they are written to disc and read back by the
// next load.
var Plugin = broker.PluginInfo{
	Name:        "emq_mod_retainer",
	Description: "Retained messages (emq_mod_retainer)",
	Defaults:    Defaults,
	New:         func() broker.Plugin { return new(plugin) },
}

// Defaults is the plugin's configuration with every key at its default:
// DefaultConfig, and "data" for the disc storage folder.
const Defaults = `module.retainer.storage_type = ram
module.retainer.dir = data
module.retainer.max_message_num = 100000
module.retainer.max_payload_size = 64KB
module.retainer.expired_after = 0
`

// fileConfig is the plugin's configuration file.
type fileConfig struct {
	Retainer Config `conf:"module.retainer"`
}

// plugin is one loaded instance of Plugin.
type plugin struct {
	cfg    Config
	r      *Retainer
	detach func()
}

// ParseConfig decodes the retainer's configuration from m, the whole
// emq_mod_retainer.conf: keys not under module.retainer are errors, and
// every error names file, line and key. Keys m leaves out keep their value
// in DefaultConfig.
func ParseConfig(m conf.Map) (Config, error) {
	f := fileConfig{Retainer: DefaultConfig()}
	errs := []error{m.Decode(&f)}
	c := f.Retainer
	switch c.StorageType {
	case StorageRAM, StorageDisc:
	default:
		errs = append(errs, m.Errorf("module.retainer.storage_type", "invalid value %q: want ram or disc", c.StorageType))
	}
	for _, v := range []struct {
		key string
		n   int
	}{{"module.retainer.max_message_num", c.MaxMessageNum}, {"module.retainer.max_payload_size", c.MaxPayloadSize}} {
		if v.n < 0 {
			errs = append(errs, m.Errorf(v.key, "%d is negative: want 0 (no limit) or more", v.n))
		}
	}
	if c.StorageType == StorageDisc && c.Dir == "" {
		errs = append(errs, m.Errorf("module.retainer.dir", "disc storage needs a folder"))
	}
	if err := errors.Join(errs...); err != nil {
		return c, err
	}
	return c, c.Validate()
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
func (p *plugin) Load(ctx context.Context, h *broker.PluginHost, m conf.Map) error {
	if err := p.Configure(m); err != nil {
		return err
	}
	r, err := New(p.cfg)
	if err != nil {
		return err
	}
	detach, err := r.Attach(h.Broker())
	if err != nil {
		return err
	}
	p.r, p.detach = r, detach
	if err := h.RegisterCommand(r.Command()); err != nil {
		detach()
		return err
	}
	h.Logger().Info("retainer started", "storage_type", p.cfg.StorageType, "dir", p.cfg.Dir)
	return nil
}

// Unload implements broker.Unloader.
func (p *plugin) Unload(context.Context) error {
	if p.detach != nil {
		p.detach()
	}
	return nil
}

// Command returns the "retainer" CLI command of EMQ 2.3's emq_retainer:
// "retainer info" prints "retained/total: <n>", "retainer topics" the
// topics one a line, and "retainer clean" removes every retained message.
// Plugin registers it; an embedder may register it with
// Broker.RegisterCommand.
func (r *Retainer) Command() broker.Command {
	return broker.Command{
		Name:  "retainer",
		Short: "Show and clean retained messages",
		Usage: `retainer info # Show the count of retained messages
retainer topics # Show all topics of retained messages
retainer clean # Clean all retained messages`,
		Run: func(_ context.Context, w io.Writer, args []string) error {
			if len(args) != 1 {
				return broker.ErrUsage
			}
			switch args[0] {
			case "info":
				fmt.Fprintf(w, "retained/total: %d\n", r.Len())
			case "topics":
				for _, t := range r.Topics() {
					fmt.Fprintln(w, t)
				}
			case "clean":
				fmt.Fprintf(w, "Cleaned %d retained messages\n", r.Clean())
			default:
				return broker.ErrUsage
			}
			return nil
		},
	}
}

var (
	_ broker.Plugin     = (*plugin)(nil)
	_ broker.Configurer = (*plugin)(nil)
	_ broker.Unloader   = (*plugin)(nil)
)
