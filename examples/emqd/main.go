// Command emqd is the packaged emqgo MQTT broker. It reads EMQ 2.0's
// etc/emq.conf and etc/plugins/*.conf and serves MQTT over TCP, TLS,
// WebSocket and secure WebSocket.
//
//	emqd [-config etc/emq.conf] [-home DIR]
//
// The home is the folder holding etc/: by default the parent of the
// folder holding the configuration file. emqd runs in it, as EMQ did, so
// relative paths in the configuration and the plugins' configuration
// (certificate files, the plugin folder, data/, trace files) resolve
// against it.
//
// Plugins. emqd knows the plugins listed in plugins.go. At start it loads
// those named in data/loaded_plugins (mqtt.plugins.loaded_file), or by
// default emq_mod_presence, emq_mod_retainer and emq_mod_subscription,
// each configured by etc/plugins/<name>.conf
// (mqtt.plugins.etc_dir) over its defaults; a mistake in one stops emqd
// with file, line and key. "emqctl plugins load|unload" rewrite the file.
//
// Control. emqd serves emqctl on the unix socket data/emqd.sock
// (node.ctl_socket; "off" turns it off), readable by its owner only.
//
// Output. Logs go to stderr as slog text lines, at log.console.level.
// Independently of the log level, emqd writes machine-readable lines to
// stdout, for scripts and tests:
//
//	emqd: listener <proto> <address>   one per listener, once all are bound
//	emqd: ready <node>                 once every listener is serving
//	emqd: stopped                      after a clean shutdown
//
// <proto> is mqtt:tcp, mqtt:ssl, mqtt:ws or mqtt:wss, and <address> is the
// address actually bound (a configured port 0 shows the port the system
// chose). Errors go to stderr prefixed "emqd: ", with the exit status 1.
//
// SIGINT or SIGTERM shut the broker down gracefully, within 10 seconds,
// and emqd exits 0; a second signal exits at once.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/conf"
	"github.com/emqgo/broker/ctl"
)

// shutdownTimeout bounds the graceful shutdown after a signal.
const shutdownTimeout = 10 * time.Second

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("emqd", flag.ContinueOnError)
	flags.SetOutput(stderr)
	configPath := flags.String("config", filepath.Join("etc", "emq.conf"), "the `file` to read: EMQ 2.0's emq.conf format")
	home := flags.String("home", "", "the emqd home `folder`, holding etc/ and data/ (default: the parent of the config file's folder)")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	if flags.NArg() > 0 {
		fmt.Fprintf(stderr, "emqd: unexpected argument %q\n", flags.Arg(0))
		return 2
	}

	cfg, err := LoadConfig(*configPath)
	if errors.Is(err, fs.ErrNotExist) {
		err = fmt.Errorf("%w (run emqd in the folder holding etc/, or pass -config)", err)
	}
	if err != nil {
		return fail(stderr, err)
	}
	if *home != "" {
		if cfg.Home, err = filepath.Abs(*home); err != nil {
			return fail(stderr, err)
		}
	}
	log := cfg.NewLogger(stderr)
	for _, e := range cfg.Ignored {
		log.Debug("ignoring a key emqd does not implement", "key", e.Key, "file", e.File, "line", e.Line)
	}
	if err := os.Chdir(cfg.Home); err != nil {
		return fail(stderr, fmt.Errorf("home: %w", err))
	}
	b, err := broker.New(cfg.BrokerOptions(log))
	if err != nil {
		return fail(stderr, err)
	}
	if err := startACL(&cfg, b, log); err != nil {
		b.Close()
		return fail(stderr, err)
	}
	ctlL, err := listenCtl(&cfg)
	if err != nil {
		b.Close()
		return fail(stderr, err)
	}
	startCtx, cancelStart := context.WithTimeout(context.Background(), shutdownTimeout)
	err = startPlugins(startCtx, &cfg, b, log)
	cancelStart()
	var ls []*listener
	if err == nil {
		ls, err = bindListeners(&cfg, b, log)
	}
	if err != nil {
		if ctlL != nil {
			ctlL.Close()
		}
		b.Close()
		return fail(stderr, err)
	}
	ctlDone := make(chan struct{})
	if ctlL != nil {
		go func() {
			defer close(ctlDone)
			if err := ctl.Serve(ctlL, b); err != nil && !errors.Is(err, broker.ErrBrokerClosed) {
				log.Error("control socket failed", "key", "node.ctl_socket", "err", err)
			}
		}()
	} else {
		close(ctlDone)
	}

	sigc := make(chan os.Signal, 2)
	signal.Notify(sigc, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigc)
	errc := make(chan error, len(ls))
	for _, l := range ls {
		fmt.Fprintf(stdout, "emqd: listener %s %s\n", l.proto, l.Addr())
		log.Info("listening", "proto", l.proto, "addr", l.Addr(), "key", l.key)
		b.RegisterListener(l.info())
		go l.serve(b, errc)
	}
	fmt.Fprintf(stdout, "emqd: ready %s\n", cfg.Node)
	log.Info("emqd started", "node", cfg.Node, "version", broker.Version, "home", cfg.Home)

	code := 0
	select {
	case sig := <-sigc:
		log.Info("shutting down", "signal", sig.String())
	case err := <-errc:
		fail(stderr, err)
		code = 1
	}
	go func() {
		<-sigc
		fmt.Fprintln(stderr, "emqd: second signal: exiting at once")
		os.Exit(1)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	for _, l := range ls {
		l.shutdown(ctx)
	}
	if err := b.Shutdown(ctx); err != nil {
		log.Warn("shutdown did not finish in time; connections were closed", "timeout", shutdownTimeout, "err", err)
	}
	<-ctlDone
	fmt.Fprintln(stdout, "emqd: stopped")
	return code
}

// listenCtl listens on the control socket, node.ctl_socket, creating its
// folder; it returns nil when the socket is off. Another emqd serving the
// same socket is an error.
func listenCtl(c *Config) (net.Listener, error) {
	if conf.IsOff(c.CtlSocket) {
		return nil, nil
	}
	path := c.Resolve(c.CtlSocket)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("node.ctl_socket: %w", err)
	}
	l, err := ctl.Listen(path)
	if errors.Is(err, ctl.ErrInUse) {
		err = fmt.Errorf("%w (is another emqd running in %s? set node.ctl_socket in %s to run a second one)", err, c.Home, c.Path)
	}
	if err != nil {
		return nil, fmt.Errorf("node.ctl_socket: %w", err)
	}
	return l, nil
}

// fail writes err to w, one "emqd: " line per line of it (a configuration
// with several mistakes reports them all), and returns the exit status 1.
func fail(w io.Writer, err error) int {
	for line := range strings.SplitSeq(err.Error(), "\n") {
		fmt.Fprintf(w, "emqd: %s\n", line)
	}
	return 1
}
