// Package backendtest helps the integration tests of the database-backed
// auth plugins: it checks that a real server is there (failing the test
// with the script that starts it), finds a closed port, and runs a TCP
// proxy in front of a server that the test can stop, restart or turn
// into a black hole, to check behaviour while the server is down or slow.
package backendtest

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// Require fails the test unless something accepts TCP connections at addr;
// the message names script, which starts the server.
func Require(t testing.TB, what, addr, script string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatalf("%s is not reachable at %s (%v): start it with %s", what, addr, err, script)
	}
	c.Close()
}

// ClosedAddr returns a loopback address on which nothing listens.
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

// Proxy forwards TCP connections from its own loopback address to a
// server. Stop closes its port and every connection through it, as a
// server going down; Start opens the same port again; SetBlackhole makes
// it accept connections and then never answer, as a server that hangs.
type Proxy struct {
	target string
	addr   string

	mu    sync.Mutex
	l     net.Listener
	conns map[net.Conn]struct{}
	hole  bool
	wg    sync.WaitGroup
}

// NewProxy starts a proxy to target and stops it at the end of the test.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	p := &Proxy{target: target, conns: make(map[net.Conn]struct{})}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = l.Addr().String()
	p.serve(l)
	t.Cleanup(p.Stop)
	return p
}

// Addr returns the proxy's address, for the client under test.
func (p *Proxy) Addr() string { return p.addr }

// Start listens again after Stop, on the same address.
func (p *Proxy) Start() error {
	p.mu.Lock()
	running := p.l != nil
	p.mu.Unlock()
	if running {
		return nil
	}
	var l net.Listener
	var err error
	for range 50 { // the port may take a moment to be free again
		if l, err = net.Listen("tcp", p.addr); err == nil {
			p.serve(l)
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return err
}

// Stop closes the port and every connection through the proxy, and waits
// for its goroutines.
func (p *Proxy) Stop() {
	p.mu.Lock()
	if p.l != nil {
		p.l.Close()
		p.l = nil
	}
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// SetBlackhole makes new connections hang (on) or be forwarded (off).
// Turning it on also cuts the connections already open, so that the
// client has to connect again into the black hole.
func (p *Proxy) SetBlackhole(on bool) {
	p.mu.Lock()
	p.hole = on
	if on {
		for c := range p.conns {
			c.Close()
		}
	}
	p.mu.Unlock()
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

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

func (p *Proxy) serve(l net.Listener) {
	p.mu.Lock()
	p.l = l
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			if !p.track(c) {
				continue
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.handle(c)
			}()
		}
	}()
}

func (p *Proxy) handle(c net.Conn) {
	defer p.untrack(c)
	p.mu.Lock()
	hole := p.hole
	p.mu.Unlock()
	if hole {
		io.Copy(io.Discard, c) // until the client or Stop closes it
		return
	}
	s, err := net.DialTimeout("tcp", p.target, 2*time.Second)
	if err != nil {
		return
	}
	if !p.track(s) {
		return
	}
	defer p.untrack(s)
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		io.Copy(dst, src)
		dst.Close()
		src.Close()
		done <- struct{}{}
	}
	go pipe(s, c)
	go pipe(c, s)
	<-done
	<-done
}
