// Package reloader reloads plugins whose configuration file changed: EMQ
// 2.0's emq_reloader, adapted to Go.
//
// EMQ's reloader hot-loaded changed Erlang modules. Go cannot swap code in
// a running program, so this reloader watches what can change at run
// time, the plugins' configuration files (<config dir>/<plugin>.conf, see
// broker.Plugins.SetConfigDir), and reloads a plugin whose file changed
// with broker.Plugins.Reload: the new configuration is parsed and
// validated before the running instance is touched, then the plugin is
// unloaded and loaded again with it. Clients stay connected throughout.
//
// Every Config.Interval (reloader.interval) the files of the loaded
// plugins are checked: a file whose modification time or size changed is
// read, and the plugin is reloaded when the contents differ from what was
// seen last (a file appearing or disappearing counts). The first check of
// a plugin only records its file. A file that does not parse or validate
// leaves the running plugin as it was; the reason, naming file, line and
// key, is logged (and written to Config.LogFile), once: the file is tried
// again when it changes again.
//
// The "reload <Plugin>" command reloads a loaded plugin at once, whether
// its file changed or not.
//
// An embedder creates a Reloader with New and attaches it to a broker:
//
//	r, err := reloader.New(reloader.Config{Interval: time.Minute})
//	detach, err := r.Attach(b)
//
// emqd loads it as the plugin emq_reloader (see Plugin).
package reloader
