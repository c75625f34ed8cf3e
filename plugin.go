package broker

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/emqgo/broker/conf"
)

// PluginInfo describes a plugin to a broker's registry (Broker.Plugins).
// Every plugin package exports one, such as retainer.Plugin, next to its
// typed constructor for embedders. It holds no state: New makes a fresh
// instance for each load.
type PluginInfo struct {
	// Name is the plugin's EMQ name, such as "emq_mod_retainer" or
	// "emq_auth_mysql". It is also the stem of its configuration file,
	// <config dir>/<Name>.conf.
	Name string
	// Description is a one-line description, shown by "plugins list".
	Description string
	// Version is shown by "plugins list"; "" means the library's Version.
	Version string
	// Defaults is the plugin's configuration text in the "key = value"
	// format of package conf: the default value of every key. The
	// configuration file is read over it, so a file may leave keys out.
	Defaults string
	// New returns a new, unloaded instance. It must have no side effects.
	New func() Plugin
}

// Plugin is a loadable extension of the broker: an EMQ plugin or module.
type Plugin interface {
	// Load wires the plugin into the broker through h: hooks, auth and ACL
	// modules, CLI commands and goroutines. Everything registered through h
	// is undone automatically when the plugin is unloaded, and also when
	// Load returns an error.
	//
	// cfg is the plugin's Defaults overridden by its configuration file
	// (and by LoadWith's map). Decode all of cfg, not a Sub of it, with
	// conf.Map.Decode: a key the plugin does not know is then an error
	// naming file, line and key.
	Load(ctx context.Context, h *PluginHost, cfg conf.Map) error
}

// Unloader is an optional interface of a Plugin that needs cleanup beyond
// what its PluginHost undoes, such as closing a connection pool or a file.
// Unload runs after the plugin's registrations are removed and its
// goroutines (PluginHost.Go) have returned.
type Unloader interface {
	Unload(ctx context.Context) error
}

// Configurer is an optional interface of a Plugin: Configure decodes and
// validates cfg into the plugin and has no other side effect. The registry
// calls it before Load, with the same cfg. Reload calls it on the new
// instance before the running one is unloaded, so a broken configuration
// file never takes a running plugin down. A plugin without it is validated
// by its Load, and Reload falls back to restarting the old configuration
// when the new one fails.
type Configurer interface {
	Configure(cfg conf.Map) error
}

// PluginStatus describes a registered plugin, for listings.
type PluginStatus struct {
	Name        string
	Description string
	Version     string
	// Loaded says whether the plugin is running; Since is when it was
	// loaded (or last reloaded).
	Loaded bool
	Since  time.Time
}

// Plugins is a broker's plugin registry: the plugins it knows, and the
// ones loaded now. Get it with Broker.Plugins. There is no package-level
// registry: two brokers in one process may know different plugins.
//
// Load, LoadWith, Unload and Reload run one at a time. A plugin must not
// call them from its own Load or Unload.
type Plugins struct {
	b  *Broker
	op sync.Mutex // serializes Load, Unload, Reload and the shutdown

	mu       sync.Mutex // guards the fields below
	dir      string
	plugins  map[string]*pluginEntry
	loaded   []string // names, in load order
	watchers []func(loaded []string)
	closed   bool
}

// pluginEntry is one registered plugin and, while it is loaded, its
// running instance.
type pluginEntry struct {
	info     PluginInfo
	defaults conf.Map

	inst  Plugin
	host  *PluginHost
	cfg   conf.Map // the configuration inst was loaded with
	over  conf.Map // LoadWith's overrides, kept for Reload
	since time.Time
}

// Plugins returns the broker's plugin registry.
func (b *Broker) Plugins() *Plugins { return &b.plugins }

// Register adds plugins to the registry, without loading them. A name that
// is empty or already registered, a nil New, or Defaults that do not parse
// is an error, and nothing is registered then.
func (p *Plugins) Register(infos ...PluginInfo) error {
	entries := make([]*pluginEntry, 0, len(infos))
	p.mu.Lock()
	defer p.mu.Unlock()
	seen := make(map[string]bool, len(infos))
	for _, info := range infos {
		switch {
		case info.Name == "":
			return errors.New("broker: register plugin: empty name")
		case info.New == nil:
			return fmt.Errorf("broker: register plugin %s: nil New", info.Name)
		case seen[info.Name] || p.plugins[info.Name] != nil:
			return fmt.Errorf("broker: register plugin %s: already registered", info.Name)
		}
		seen[info.Name] = true
		defaults, err := conf.ParseString(info.Defaults, info.Name+".conf (defaults)")
		if err != nil {
			return fmt.Errorf("broker: register plugin %s: %w", info.Name, err)
		}
		entries = append(entries, &pluginEntry{info: info, defaults: defaults})
	}
	if p.plugins == nil {
		p.plugins = make(map[string]*pluginEntry)
	}
	for _, e := range entries {
		p.plugins[e.info.Name] = e
	}
	return nil
}

// SetConfigDir sets the folder of the plugins' configuration files: Load
// reads <dir>/<name>.conf over the plugin's Defaults. With no folder (the
// default) or no file, the Defaults apply alone.
func (p *Plugins) SetConfigDir(dir string) {
	p.mu.Lock()
	p.dir = dir
	p.mu.Unlock()
}

// ConfigFile returns the path of the configuration file of the plugin
// name, or "" when no configuration folder is set.
func (p *Plugins) ConfigFile(name string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.configFileLocked(name)
}

func (p *Plugins) configFileLocked(name string) string {
	if p.dir == "" {
		return ""
	}
	return filepath.Join(p.dir, name+".conf")
}

// OnChange registers fn to be called with the names of the loaded plugins,
// in load order, after each Load, LoadWith or Unload that succeeded (and a
// Reload that left the plugin unloaded). It is not called when the broker
// unloads its plugins at shutdown. emqd uses it to keep data/loaded_plugins
// up to date. fn runs with the registry's operations serialized; it must
// not call Load, Unload or Reload.
func (p *Plugins) OnChange(fn func(loaded []string)) {
	p.mu.Lock()
	p.watchers = append(p.watchers, fn)
	p.mu.Unlock()
}

// List returns every registered plugin, sorted by name.
func (p *Plugins) List() []PluginStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]PluginStatus, 0, len(p.plugins))
	for _, e := range p.plugins {
		v := e.info.Version
		if v == "" {
			v = Version
		}
		out = append(out, PluginStatus{Name: e.info.Name, Description: e.info.Description, Version: v,
			Loaded: e.inst != nil, Since: e.since})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Loaded returns the names of the loaded plugins, in load order.
func (p *Plugins) Loaded() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.loaded)
}

// Load loads the registered plugin name with its Defaults overridden by its
// configuration file (see SetConfigDir). A configuration that does not
// parse or decode is an error naming file, line and key, and nothing is
// loaded then. Loading a plugin that is not registered is an error
// wrapping ErrPluginNotFound; one already loaded, ErrPluginLoaded.
func (p *Plugins) Load(ctx context.Context, name string) error {
	return p.LoadWith(ctx, name, conf.Map{})
}

// LoadWith is Load with cfg applied over the configuration file. The
// overrides are kept for Reload.
func (p *Plugins) LoadWith(ctx context.Context, name string, cfg conf.Map) error {
	p.op.Lock()
	defer p.op.Unlock()
	e, err := p.entry(name)
	if err != nil {
		return err
	}
	if e.inst != nil {
		return fmt.Errorf("%w: %s", ErrPluginLoaded, name)
	}
	full, err := p.config(e, cfg)
	if err != nil {
		return err
	}
	inst, err := p.configure(e, full)
	if err != nil {
		return err
	}
	if err := p.start(ctx, e, inst, full, cfg); err != nil {
		return err
	}
	p.notify()
	return nil
}

// Unload stops the loaded plugin name: it removes every hook, auth and ACL
// module and command the plugin registered through its PluginHost, cancels
// and waits for its goroutines, and then calls its Unload method if it has
// one. Connected clients stay connected. Unloading a plugin that is not
// loaded is an error wrapping ErrPluginNotLoaded (ErrPluginNotFound if it
// is not registered).
func (p *Plugins) Unload(ctx context.Context, name string) error {
	p.op.Lock()
	defer p.op.Unlock()
	e, err := p.entry(name)
	if err != nil {
		return err
	}
	if e.inst == nil {
		return fmt.Errorf("%w: %s", ErrPluginNotLoaded, name)
	}
	err = p.stop(ctx, e)
	p.notify()
	return err
}

// Reload replaces the running instance of the loaded plugin name with a new
// one, configured from its configuration file as it is now. The new
// configuration is parsed, decoded and, when the plugin is a Configurer,
// validated before the running instance is touched: if any of that fails,
// the running instance stays and the error names file, line and key. If the
// new instance then fails to load, the old configuration is loaded again
// into a fresh instance, and the error is returned.
func (p *Plugins) Reload(ctx context.Context, name string) error {
	p.op.Lock()
	defer p.op.Unlock()
	e, err := p.entry(name)
	if err != nil {
		return err
	}
	if e.inst == nil {
		return fmt.Errorf("%w: %s", ErrPluginNotLoaded, name)
	}
	full, err := p.config(e, e.over)
	if err != nil {
		return err
	}
	inst, err := p.configure(e, full)
	if err != nil {
		return err
	}
	oldCfg, over := e.cfg, e.over
	if err := p.stop(ctx, e); err != nil {
		p.b.log.Warn("plugin unload failed during reload", "plugin", name, "err", err)
	}
	loadErr := p.start(ctx, e, inst, full, over)
	if loadErr == nil {
		return nil
	}
	// The new instance failed: bring the old configuration back.
	old, err := p.configure(e, oldCfg)
	if err == nil {
		err = p.start(ctx, e, old, oldCfg, over)
	}
	if err != nil {
		p.notify() // the plugin is no longer loaded
		return errors.Join(loadErr, fmt.Errorf("broker: plugin %s: restoring the previous configuration: %w", name, err))
	}
	return loadErr
}

// entry returns the registered plugin name.
func (p *Plugins) entry(name string) (*pluginEntry, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, ErrBrokerClosed
	}
	e := p.plugins[name]
	if e == nil {
		return nil, fmt.Errorf("%w: %s", ErrPluginNotFound, name)
	}
	return e, nil
}

// config returns e's Defaults, overridden by its configuration file, if
// any, and then by over.
func (p *Plugins) config(e *pluginEntry, over conf.Map) (conf.Map, error) {
	p.mu.Lock()
	path := p.configFileLocked(e.info.Name)
	p.mu.Unlock()
	cfg := e.defaults
	if path != "" {
		m, err := conf.ParseFile(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return cfg, fmt.Errorf("broker: plugin %s: %w", e.info.Name, err)
		default:
			cfg = cfg.Merge(m)
		}
	}
	return cfg.Merge(over), nil
}

// configure makes a new instance of e and, if it is a Configurer,
// configures it with cfg.
func (p *Plugins) configure(e *pluginEntry, cfg conf.Map) (Plugin, error) {
	inst := e.info.New()
	if inst == nil {
		return nil, fmt.Errorf("broker: plugin %s: New returned nil", e.info.Name)
	}
	if c, ok := inst.(Configurer); ok {
		if err := c.Configure(cfg); err != nil {
			return nil, fmt.Errorf("broker: plugin %s: %w", e.info.Name, err)
		}
	}
	return inst, nil
}

// start loads inst as e's running instance. Called with p.op held.
func (p *Plugins) start(ctx context.Context, e *pluginEntry, inst Plugin, cfg, over conf.Map) error {
	name := e.info.Name
	if p.b.closing.Load() {
		return ErrBrokerClosed
	}
	h := newPluginHost(p.b, name)
	if err := inst.Load(ctx, h, cfg); err != nil {
		h.close(ctx)
		return fmt.Errorf("broker: plugin %s: %w", name, err)
	}
	p.mu.Lock()
	e.inst, e.host, e.cfg, e.over, e.since = inst, h, cfg, over, time.Now()
	p.loaded = append(p.loaded, name)
	p.mu.Unlock()
	p.b.log.Info("plugin loaded", "plugin", name)
	return nil
}

// stop unloads e's running instance. Called with p.op held.
func (p *Plugins) stop(ctx context.Context, e *pluginEntry) error {
	p.mu.Lock()
	inst, h := e.inst, e.host
	e.inst, e.host, e.since = nil, nil, time.Time{}
	p.loaded = slices.DeleteFunc(p.loaded, func(n string) bool { return n == e.info.Name })
	p.mu.Unlock()
	err := h.close(ctx)
	if u, ok := inst.(Unloader); ok {
		err = errors.Join(err, u.Unload(ctx))
	}
	if err != nil {
		err = fmt.Errorf("broker: plugin %s: unload: %w", e.info.Name, err)
	}
	p.b.log.Info("plugin unloaded", "plugin", e.info.Name, "err", err)
	return err
}

// notify tells the OnChange watchers the loaded set. Called with p.op held.
func (p *Plugins) notify() {
	p.mu.Lock()
	ws, loaded := slices.Clone(p.watchers), slices.Clone(p.loaded)
	p.mu.Unlock()
	for _, fn := range ws {
		fn(loaded)
	}
}

// unloadAll unloads every plugin in the reverse of load order, without
// telling the watchers, and refuses loads from then on. The broker calls it
// at shutdown, once its connections are gone.
func (p *Plugins) unloadAll(ctx context.Context) {
	p.op.Lock()
	defer p.op.Unlock()
	p.mu.Lock()
	p.closed = true
	names := slices.Clone(p.loaded)
	p.mu.Unlock()
	for i := len(names) - 1; i >= 0; i-- {
		p.mu.Lock()
		e := p.plugins[names[i]]
		p.mu.Unlock()
		if err := p.stop(ctx, e); err != nil {
			p.b.log.Warn("plugin unload failed at shutdown", "plugin", names[i], "err", err)
		}
	}
}

// PluginHost is the broker as one loaded plugin sees it. Everything the
// plugin registers through it (hooks, auth and ACL modules, commands) and
// every goroutine it starts with Go is recorded, and undone when the plugin
// is unloaded. A PluginHost is also a Registrar, so broker.On(h, ...) is
// recorded too.
type PluginHost struct {
	b      *Broker
	name   string
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex // guards undo and closed, and wg.Add
	undo   []func()
	closed bool
	wg     sync.WaitGroup
}

func newPluginHost(b *Broker, name string) *PluginHost {
	ctx, cancel := context.WithCancel(b.ctx)
	return &PluginHost{b: b, name: name, log: b.log.With("plugin", name), ctx: ctx, cancel: cancel}
}

// Name returns the plugin's name.
func (h *PluginHost) Name() string { return h.name }

// Broker returns the broker the plugin is loaded into. What the plugin
// registers on it directly, rather than through h, is not undone on unload.
func (h *PluginHost) Broker() *Broker { return h.b }

// Logger returns the broker's logger with the attribute plugin=<name>.
func (h *PluginHost) Logger() *slog.Logger { return h.log }

// Context returns a context that is cancelled when the plugin is unloaded
// or the broker closes.
func (h *PluginHost) Context() context.Context { return h.ctx }

// Hook registers fn on the hook point called name, as Broker.Hook does;
// the hook is removed when the plugin is unloaded.
func (h *PluginHost) Hook(name HookName, fn any, opts ...RegisterOption) error {
	if _, err := hookOn(h, name, fn, opts); err != nil {
		return err
	}
	return nil
}

// RegisterAuth adds a to the authentication chain, as Broker.RegisterAuth
// does, until the plugin is unloaded.
func (h *PluginHost) RegisterAuth(a Authenticator, opts ...RegisterOption) {
	h.track(h.b.RegisterAuth(a, opts...))
}

// RegisterACL adds a to the ACL chain, as Broker.RegisterACL does, until
// the plugin is unloaded.
func (h *PluginHost) RegisterACL(a Authorizer, opts ...RegisterOption) {
	h.track(h.b.RegisterACL(a, opts...))
}

// RegisterCommand adds a CLI command, as Broker.RegisterCommand does, until
// the plugin is unloaded.
func (h *PluginHost) RegisterCommand(cmd Command) error {
	unregister, err := h.b.RegisterCommand(cmd)
	if err != nil {
		return err
	}
	h.track(unregister)
	return nil
}

// Go runs f on a new goroutine. Its ctx is cancelled when the plugin is
// unloaded or the broker closes, and Unload and Shutdown wait for f to
// return. After unload, or once the broker is closed, Go does nothing.
func (h *PluginHost) Go(f func(ctx context.Context)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	h.wg.Add(1)
	if !h.b.goTracked(func() {
		defer h.wg.Done()
		f(h.ctx)
	}) {
		h.wg.Done()
	}
}

func (h *PluginHost) hooks() *hookTable { return &h.b.hookTable }

// track records undo; after close it runs undo at once, so a registration
// that races with unload does not outlive it.
func (h *PluginHost) track(undo func()) {
	h.mu.Lock()
	if !h.closed {
		h.undo = append(h.undo, undo)
		h.mu.Unlock()
		return
	}
	h.mu.Unlock()
	undo()
}

// close undoes every registration, newest first, then cancels the plugin's
// context and waits for its goroutines, or for ctx to end.
func (h *PluginHost) close(ctx context.Context) error {
	h.mu.Lock()
	h.closed = true
	undo := h.undo
	h.undo = nil
	h.mu.Unlock()
	for i := len(undo) - 1; i >= 0; i-- {
		undo[i]()
	}
	h.cancel()
	done := make(chan struct{})
	go func() {
		h.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for goroutines: %w", ctx.Err())
	}
}

var _ Registrar = (*PluginHost)(nil)

// Sentinel errors of the plugin registry.
var (
	// ErrPluginNotFound is returned for a plugin name that is not registered.
	ErrPluginNotFound = errors.New("broker: plugin not found")
	// ErrPluginLoaded is returned by Load for a plugin that is already loaded.
	ErrPluginLoaded = errors.New("broker: plugin already loaded")
	// ErrPluginNotLoaded is returned by Unload and Reload for a plugin that
	// is not loaded.
	ErrPluginNotLoaded = errors.New("broker: plugin not loaded")
)
