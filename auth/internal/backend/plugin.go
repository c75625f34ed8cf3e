package backend

import (
	"context"
	"io"

	"github.com/emqgo/broker/conf"
)

// Plugin is the state an auth plugin keeps from Configure to Unload: the
// configuration Configure read and the module Load made. A plugin embeds
// it and adds Load.
type Plugin[C any] struct {
	// Parse reads (and checks) the plugin's configuration.
	Parse func(conf.Map) (C, error)
	// Cfg is what Configure read.
	Cfg C
	// Module is what Load made; Unload closes it.
	Module io.Closer
}

// Configure implements broker.Configurer: it keeps the configuration
// Parse reads from m, and leaves the previous one when Parse fails.
func (p *Plugin[C]) Configure(m conf.Map) error {
	cfg, err := p.Parse(m)
	if err != nil {
		return err
	}
	p.Cfg = cfg
	return nil
}

// Unload implements broker.Unloader: it closes the module Load made.
func (p *Plugin[C]) Unload(context.Context) error {
	if p.Module != nil {
		return p.Module.Close()
	}
	return nil
}

// CloserFunc makes a function an io.Closer.
type CloserFunc func() error

// Close calls f.
func (f CloserFunc) Close() error { return f() }

// CheckedBy returns parse followed by a trial of the configuration: a
// module made by newf from it, and closed at once.
func CheckedBy[C any, A io.Closer](parse func(conf.Map) (C, error), newf func(C) (A, error)) func(conf.Map) (C, error) {
	return func(m conf.Map) (C, error) {
		cfg, err := parse(m)
		if err != nil {
			return cfg, err
		}
		a, err := newf(cfg)
		if err != nil {
			return cfg, err
		}
		a.Close()
		return cfg, nil
	}
}
