package subscription

import (
	"context"
	"errors"
	"slices"
	"strconv"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/conf"
	"github.com/emqgo/broker/topic"
)

// Plugin is the module as a plugin for a broker's registry, EMQ 2.0's
// emq_mod_subscription, configured by etc/plugins/emq_mod_subscription.conf
// (see ParseConfig):
//
//	b.Plugins().Register(subscription.Plugin)
//	err := b.Plugins().Load(ctx, "emq_mod_subscription")
//
// Its hook is removed when it is unloaded; connected clients and the
// subscriptions it made stay.
var Plugin = broker.PluginInfo{
	Name:        "emq_mod_subscription",
	Description: "Subscription Module (subscribe clients to topics on connect)",
	Defaults:    Defaults,
	New:         func() broker.Plugin { return new(plugin) },
}

// Defaults is the plugin's configuration with every key at its default,
// EMQ 2.0's: one subscription to $client/%c at QoS 1.
const Defaults = `module.subscription = on
module.subscription.1.topic = $client/%c
module.subscription.1.qos = 1
module.subscription.backend = on
`

// fileConfig is the plugin's configuration file.
type fileConfig struct {
	Sub struct {
		// Enabled is "module.subscription = on|off" (EMQ 2.3).
		Enabled bool `conf:"."`
		// Topics are module.subscription.<n>.topic|qos.
		Topics []Topic `conf:"."`
		// Backend is EMQ 2.0's module.subscription.backend, which read
		// static subscriptions from the broker's database; emqgo keeps
		// none ("subscriptions add" works on live sessions, as in EMQ
		// 2.3), so it is accepted and has no effect.
		Backend bool `conf:"backend"`
	} `conf:"module.subscription"`
}

// ParseConfig decodes the module's configuration from m, the whole
// emq_mod_subscription.conf: "module.subscription = on|off" says whether
// the loaded plugin subscribes anyone, module.subscription.<n>.topic and
// .qos are the subscriptions, in the order of n, and
// module.subscription.backend is accepted for compatibility. A key it does
// not know, or a wrong value, is an error naming file, line and key.
//
// A number's keys replace the default's: a file that sets
// module.subscription.1.topic replaces $client/%c. To have no
// subscription, set module.subscription = off.
func ParseConfig(m conf.Map) (enabled bool, c Config, err error) {
	var f fileConfig
	errs := []error{m.Decode(&f)}
	// The numbers, in the order Decode fills Topics, for error positions.
	var nums []int
	for _, k := range m.Sub("module.subscription").Keys() {
		first, _, _ := cut(k)
		if n, err := strconv.Atoi(first); err == nil && !slices.Contains(nums, n) {
			nums = append(nums, n)
		}
	}
	slices.Sort(nums)
	for i, t := range f.Sub.Topics {
		if i >= len(nums) {
			break
		}
		key := "module.subscription." + strconv.Itoa(nums[i]) + "."
		switch {
		case t.Topic == "":
			errs = append(errs, m.Errorf(key+"qos", "%stopic is missing", key))
		default:
			if err := topic.ValidateFilter(Expand(t.Topic, "c", "u")); err != nil {
				errs = append(errs, m.Errorf(key+"topic", "invalid value %q: %v", t.Topic, err))
			}
		}
		if t.QoS > 2 {
			errs = append(errs, m.Errorf(key+"qos", "invalid value %d: want 0, 1 or 2", t.QoS))
		}
	}
	return f.Sub.Enabled, Config{Topics: f.Sub.Topics}, errors.Join(errs...)
}

func cut(k string) (first, rest string, ok bool) {
	for i := 0; i < len(k); i++ {
		if k[i] == '.' {
			return k[:i], k[i+1:], true
		}
	}
	return k, "", false
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
		h.Logger().Info("subscription module is off (module.subscription = off)")
		return nil
	}
	mod, err := New(p.cfg)
	if err != nil {
		return err
	}
	mod.register(h, h.Broker())
	h.Logger().Info("subscription module started", "topics", len(p.cfg.Topics))
	return nil
}

var (
	_ broker.Plugin     = (*plugin)(nil)
	_ broker.Configurer = (*plugin)(nil)
)
