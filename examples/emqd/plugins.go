package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/conf"
	"github.com/emqgo/broker/mods/retainer"
)

// retainerConfFile is the retainer's configuration file in the plugin
// configuration folder (mqtt.plugins.etc_dir), as EMQ 2.0 named it.
const retainerConfFile = "emq_mod_retainer.conf"

// startPlugins starts the modules emqd runs by default, EMQ 2.0's
// emq_mod_retainer among them, and returns the function that stops them.
// (Loading the plugins listed in mqtt.plugins.loaded_file comes with the
// plugin registry.)
func startPlugins(c *Config, b *broker.Broker, log *slog.Logger) (stop func(), err error) {
	rc, err := c.RetainerConfig()
	if err != nil {
		return nil, err
	}
	r, err := retainer.New(rc)
	if err != nil {
		return nil, err
	}
	detach, err := r.Attach(b)
	if err != nil {
		return nil, fmt.Errorf("retainer: %w", err)
	}
	log.Info("module started", "module", "retainer", "storage_type", rc.StorageType, "dir", rc.Dir)
	return detach, nil
}

// RetainerConfig returns the retainer's configuration: its defaults,
// overridden by <mqtt.plugins.etc_dir>/emq_mod_retainer.conf when that file
// exists. Disc storage goes to data/ under the home unless
// module.retainer.dir says otherwise; a relative dir resolves against the
// home.
func (c *Config) RetainerConfig() (retainer.Config, error) {
	var f struct {
		Retainer retainer.Config `conf:"module.retainer"`
	}
	f.Retainer = retainer.DefaultConfig()
	f.Retainer.Dir = "data"
	path := filepath.Join(c.Resolve(c.Plugins.EtcDir), retainerConfFile)
	var errs []error
	m, err := conf.ParseFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return f.Retainer, err
	default:
		// Strict: a mistyped key in the plugin's file is an error too.
		errs = append(errs, m.Decode(&f))
	}
	rc := f.Retainer
	rc.Dir = c.Resolve(rc.Dir)
	switch rc.StorageType {
	case retainer.StorageRAM, retainer.StorageDisc:
	default:
		errs = append(errs, m.Errorf("module.retainer.storage_type", "invalid value %q: want ram or disc", rc.StorageType))
	}
	for _, v := range []struct {
		key string
		n   int
	}{{"module.retainer.max_message_num", rc.MaxMessageNum}, {"module.retainer.max_payload_size", rc.MaxPayloadSize}} {
		if v.n < 0 {
			errs = append(errs, m.Errorf(v.key, "%d is negative: want 0 (no limit) or more", v.n))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return rc, err
	}
	return rc, rc.Validate()
}
