// Package sqltest holds what the SQL auth plugins' tests share: a check
// that names the script starting the servers, throwaway database names, a
// closed port, a TCP proxy that can be stopped, restarted or made silent
// in front of a real server, and a log handler that counts records.
//
// It is for tests only; no plugin imports it outside its _test files.
package sqltest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// Services is the script that starts the servers the tests need.
const Services = "scripts/services"

// Env returns the environment variable name's value, or def.
func Env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// RequireServer fails the test unless something accepts TCP connections
// at addr. It never skips: a test that needs a server the machine lacks
// fails, naming the script that starts it.
func RequireServer(t testing.TB, name, addr string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		t.Fatalf("%s is not running at %s (%v): start it with %s", name, addr, err, Services)
	}
	c.Close()
}

// DBName returns a fresh database name, emqgo_test_<16 hex digits>.
func DBName() string {
	b := make([]byte, 8)
	rand.Read(b)
	return "emqgo_test_" + hex.EncodeToString(b)
}

// ClosedAddr returns a loopback address where nothing listens: a port that
// was just listened on and closed, so a dial is refused at once.
func ClosedAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// Proxy forwards TCP connections from a loopback port to a server. Stop
// closes the port and every forwarded connection, as a server going down
// would; Start listens again on the same port. In silent mode it accepts
// connections and never forwards or answers, as a hung server would.
type Proxy struct {
	target string
	addr   string

	mu     sync.Mutex
	l      net.Listener
	conns  map[net.Conn]struct{}
	silent bool
	wg     sync.WaitGroup
}

// NewProxy starts a proxy to target; it is stopped at the end of the test.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	p := &Proxy{target: target, addr: "127.0.0.1:0", conns: make(map[net.Conn]struct{})}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return p
}

// Addr returns the proxy's address.
func (p *Proxy) Addr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.addr
}

// SetSilent turns silent mode on or off for connections accepted later.
func (p *Proxy) SetSilent(silent bool) {
	p.mu.Lock()
	p.silent = silent
	p.mu.Unlock()
}

// Start listens on the proxy's port again after Stop.
func (p *Proxy) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.l != nil {
		return errors.New("sqltest: proxy already started")
	}
	var l net.Listener
	var err error
	// The port was just released; retry briefly in case it lingers.
	for range 50 {
		if l, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	p.l, p.addr = l, l.Addr().String()
	p.wg.Add(1)
	go p.accept(l)
	return nil
}

// Stop closes the port and every connection, and waits for the proxy's
// goroutines.
func (p *Proxy) Stop() {
	p.mu.Lock()
	if p.l != nil {
		p.l.Close()
		p.l = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.l == nil {
		c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) accept(l net.Listener) {
	defer p.wg.Done()
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			continue
		}
		p.mu.Lock()
		silent := p.silent
		p.mu.Unlock()
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			if silent {
				io.Copy(io.Discard, c) // until Stop closes it
				return
			}
			s, err := net.DialTimeout("tcp", p.target, 3*time.Second)
			if err != nil || !p.track(s) {
				c.Close()
				if s != nil {
					s.Close()
				}
				return
			}
			done := make(chan struct{}, 2)
			go func() { io.Copy(s, c); s.Close(); done <- struct{}{} }()
			io.Copy(c, s)
			c.Close()
			<-done
		}()
	}
}

// LogCounter is a slog.Handler that counts records by level, for checking
// that an outage is logged once per burst rather than once per client.
type LogCounter struct {
	mu     sync.Mutex
	counts map[slog.Level]int
	msgs   []string
}

// NewLogCounter returns an empty LogCounter.
func NewLogCounter() *LogCounter { return &LogCounter{counts: make(map[slog.Level]int)} }

// Enabled implements slog.Handler: it takes every level.
func (h *LogCounter) Enabled(context.Context, slog.Level) bool { return true }

// Handle implements slog.Handler.
func (h *LogCounter) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.counts[r.Level]++
	if r.Level >= slog.LevelInfo {
		h.msgs = append(h.msgs, r.Level.String()+" "+r.Message)
	}
	return nil
}

// WithAttrs implements slog.Handler.
func (h *LogCounter) WithAttrs([]slog.Attr) slog.Handler { return h }

// WithGroup implements slog.Handler.
func (h *LogCounter) WithGroup(string) slog.Handler { return h }

// Count returns how many records of level were handled.
func (h *LogCounter) Count(level slog.Level) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.counts[level]
}

// Messages returns the level and message of each record at Info or above.
func (h *LogCounter) Messages() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.msgs...)
}
