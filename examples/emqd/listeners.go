package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/ws"
)

// listener is one bound listener of emqd, ready to serve.
type listener struct {
	key   string // the conf key that configures it: "mqtt.listener.tcp"
	proto string // EMQ's listener name: mqtt:tcp, mqtt:ssl, mqtt:ws, mqtt:wss
	ln    net.Listener
	tls   *tls.Config  // nil for plain listeners
	srv   *http.Server // for mqtt:ws and mqtt:wss

	bind       string // the address to bind, from the configuration
	acceptors  int
	maxClients int
	open       func() int // connections open now
}

// Addr returns the address the listener is bound to, with the real port
// when the configuration asked for port 0.
func (l *listener) Addr() string { return l.ln.Addr().String() }

// listenerSpec is a configured listener before it is bound.
type listenerSpec struct {
	key, proto string
	l          Listener
	tls        *TLSListener
}

func (c *Config) listenerSpecs() []listenerSpec {
	ls := &c.Listeners
	return []listenerSpec{
		{"mqtt.listener.tcp", "mqtt:tcp", ls.TCP, nil},
		{"mqtt.listener.ssl", "mqtt:ssl", ls.SSL.Listener, &ls.SSL},
		{"mqtt.listener.http", "mqtt:ws", ls.HTTP, nil},
		{"mqtt.listener.https", "mqtt:wss", ls.HTTPS.Listener, &ls.HTTPS},
	}
}

// bindListeners loads the TLS material of every listener that is on and
// then binds them all, so that a mistake or a port in use stops emqd before
// it serves anything. On error, what was bound is closed again and the
// error names the key to change.
func bindListeners(c *Config, b *broker.Broker, log *slog.Logger) ([]*listener, error) {
	var out []*listener
	for _, s := range c.listenerSpecs() {
		if s.l.Addr == "" {
			continue
		}
		l := &listener{key: s.key, proto: s.proto, bind: s.l.Addr, acceptors: s.l.Acceptors, maxClients: s.l.MaxClients}
		if s.tls != nil {
			cfg, err := c.tlsConfig(s.key, s.tls)
			if err != nil {
				return nil, err
			}
			l.tls = cfg
		}
		out = append(out, l)
	}
	for i, l := range out {
		ln, err := broker.ListenTCP(l.bind)
		if err != nil {
			for _, prev := range out[:i] {
				prev.ln.Close()
			}
			hint := ""
			if errors.Is(err, syscall.EADDRINUSE) || errors.Is(err, syscall.EACCES) {
				hint = fmt.Sprintf(" (set %s in %s to another port)", l.key, c.Path)
			}
			return nil, fmt.Errorf("%s: %w%s", l.key, err, hint)
		}
		lim := limitListener(ln, l.maxClients, l.key, log)
		l.ln, l.open = lim, func() int { return int(lim.open.Load()) }
		if l.proto == "mqtt:ws" || l.proto == "mqtt:wss" {
			mux := http.NewServeMux()
			mux.Handle("/mqtt", ws.Handler(b))
			l.srv = &http.Server{
				Handler:           mux,
				ReadHeaderTimeout: c.ClientIdleTimeout,
				ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
			}
		}
	}
	return out, nil
}

// tlsConfig builds the TLS configuration of the listener at key, reading
// its files relative to the home.
func (c *Config) tlsConfig(key string, l *TLSListener) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(c.Resolve(l.CertFile), c.Resolve(l.KeyFile))
	if err != nil {
		return nil, c.errorf(key+".certfile", "loading %s and %s: %w", l.CertFile, l.KeyFile, err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if l.Verify == "verify_peer" {
		pem, err := os.ReadFile(c.Resolve(l.CACertFile))
		if err != nil {
			return nil, c.errorf(key+".cacertfile", "%w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, c.errorf(key+".cacertfile", "%s holds no PEM certificate", l.CACertFile)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
		if l.FailIfNoPeerCert {
			cfg.ClientAuth = tls.RequireAndVerifyClientCert
		}
	}
	return cfg, nil
}

// info describes l for the broker's "listeners" command.
func (l *listener) info() broker.ListenerInfo {
	return broker.ListenerInfo{Name: l.proto + ":" + l.Addr(), Acceptors: l.acceptors, MaxClients: l.maxClients, CurrentClients: l.open}
}

// serve serves l until it is closed, sending a failure to errc.
func (l *listener) serve(b *broker.Broker, errc chan<- error) {
	var err error
	switch l.proto {
	case "mqtt:tcp":
		err = b.Serve(l.ln)
	case "mqtt:ssl":
		// Broker.Serve would name the listener mqtt:tcp; serving each
		// connection with its name keeps ClientInfo.Listener right.
		err = acceptLoop(tls.NewListener(l.ln, l.tls), b, "mqtt:ssl:"+l.Addr())
	case "mqtt:ws":
		err = l.srv.Serve(l.ln)
	case "mqtt:wss":
		err = l.srv.Serve(tls.NewListener(l.ln, l.tls))
	}
	if err != nil && !errors.Is(err, broker.ErrBrokerClosed) && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
		errc <- fmt.Errorf("%s: %w", l.key, err)
	}
}

// shutdown stops accepting on l. MQTT connections already accepted are
// left to Broker.Shutdown.
func (l *listener) shutdown(ctx context.Context) {
	if l.srv != nil {
		l.srv.Shutdown(ctx)
		return
	}
	l.ln.Close()
}

// acceptLoop accepts connections on ln and serves each with b under the
// listener name, until ln is closed.
func acceptLoop(ln net.Listener, b *broker.Broker, name string) error {
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		go b.ServeConnNamed(nc, name)
	}
}

// limitListener returns ln counting its open connections and refusing
// those beyond max open at once (0: no limit): EMQ's max_clients. A
// connection over the limit is accepted and closed at once, as EMQ's
// esockd does, rather than left waiting in the backlog.
func limitListener(ln net.Listener, max int, key string, log *slog.Logger) *limited {
	return &limited{Listener: ln, max: int64(max), key: key, log: log}
}

type limited struct {
	net.Listener
	max      int64
	open     atomic.Int64
	lastWarn atomic.Int64 // unix nanoseconds of the last warning
	key      string
	log      *slog.Logger
}

func (l *limited) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.open.Add(1) > l.max && l.max > 0 {
			l.open.Add(-1)
			c.Close()
			now := time.Now().UnixNano()
			if last := l.lastWarn.Load(); now-last > int64(time.Second) && l.lastWarn.CompareAndSwap(last, now) {
				l.log.Warn("connection refused: max_clients reached", "key", l.key+".max_clients", "max_clients", l.max)
			}
			continue
		}
		release := sync.OnceFunc(func() { l.open.Add(-1) })
		// Keep a *net.TCPConn's methods (and so writev and splice) by
		// embedding it.
		if tc, ok := c.(*net.TCPConn); ok {
			return &limitedTCPConn{TCPConn: tc, release: release}, nil
		}
		return &limitedConn{Conn: c, release: release}, nil
	}
}

type limitedTCPConn struct {
	*net.TCPConn
	release func()
}

func (c *limitedTCPConn) Close() error {
	c.release()
	return c.TCPConn.Close()
}

type limitedConn struct {
	net.Conn
	release func()
}

func (c *limitedConn) Close() error {
	c.release()
	return c.Conn.Close()
}
