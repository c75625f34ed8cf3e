package main

// End-to-end tests: build the real emqd binary, run it on a temporary home
// whose listeners use 127.0.0.1:0, talk MQTT to it and stop it with a
// signal. No test uses a fixed port.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/emqgo/broker/brokertest"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildDir  string
)

// emqdBinary builds emqd once for the test binary's run.
func emqdBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the emqd binary")
	}
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "emqd-test-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(buildDir, "emqd")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// emqd is a running emqd process.
type emqd struct {
	cmd    *exec.Cmd
	addrs  map[string]string // proto -> bound address, from the listener lines
	stdout *lockedBuffer
	stderr *lockedBuffer
	done   chan struct{}
	err    error // from Wait, once done is closed
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// waitFor reports whether s shows up in b within 5 seconds: stderr is
// copied from a pipe, so it may lag behind what stdout already said.
func (b *lockedBuffer) waitFor(s string) bool {
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if strings.Contains(b.String(), s) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// startEmqd writes confText as home/etc/emq.conf, runs emqd -config on it
// and waits for its "emqd: ready" line.
func startEmqd(t *testing.T, home, confText string) *emqd {
	t.Helper()
	bin := emqdBinary(t)
	path := writeConf(t, home, confText)
	e := runEmqd(t, bin, "-config", path)
	pr, pw := io.Pipe()
	e.cmd.Stdout = io.MultiWriter(e.stdout, pw)
	if err := e.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		e.err = e.cmd.Wait()
		pw.Close()
		close(e.done)
	}()
	t.Cleanup(func() {
		select {
		case <-e.done:
		default:
			e.cmd.Process.Kill()
			<-e.done
		}
	})

	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			switch {
			case len(f) == 4 && f[0] == "emqd:" && f[1] == "listener":
				e.addrs[f[2]] = f[3]
			case len(f) >= 2 && f[0] == "emqd:" && f[1] == "ready":
				ready <- nil
				io.Copy(io.Discard, pr)
				return
			}
		}
		ready <- fmt.Errorf("emqd exited before it was ready")
	}()
	select {
	case err := <-ready:
		if err != nil {
			<-e.done
			t.Fatalf("%v: %v\nstderr:\n%s", err, e.err, e.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("emqd not ready after 30s\nstdout:\n%s\nstderr:\n%s", e.stdout, e.stderr)
	}
	return e
}

func runEmqd(t *testing.T, bin string, args ...string) *emqd {
	e := &emqd{addrs: map[string]string{}, stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, done: make(chan struct{})}
	e.cmd = exec.Command(bin, args...)
	e.cmd.Stdout = e.stdout
	e.cmd.Stderr = e.stderr
	return e
}

// stop sends SIGTERM and checks that emqd exits 0 after a clean shutdown.
func (e *emqd) stop(t *testing.T) {
	t.Helper()
	if err := e.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-e.done:
	case <-time.After(15 * time.Second):
		t.Fatalf("emqd still running 15s after SIGTERM\nstderr:\n%s", e.stderr)
	}
	if e.err != nil {
		t.Fatalf("emqd exited with %v\nstderr:\n%s", e.err, e.stderr)
	}
	if !strings.Contains(e.stdout.String(), "emqd: stopped\n") {
		t.Errorf("no stopped line; stdout:\n%s", e.stdout)
	}
}

// exitError runs emqd to completion and returns its exit code and stderr.
func exitError(t *testing.T, args ...string) (int, string) {
	t.Helper()
	e := runEmqd(t, emqdBinary(t), args...)
	err := e.cmd.Run()
	if err == nil {
		return 0, e.stderr.String()
	}
	ee, ok := err.(*exec.ExitError)
	if !ok {
		t.Fatal(err)
	}
	return ee.ExitCode(), e.stderr.String()
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return nc
}

func TestEmqdEndToEnd(t *testing.T) {
	home := t.TempDir()
	pki := writeTestPKI(t, home)
	e := startEmqd(t, home, `node.name = e2e@127.0.0.1
node.cookie = ignored_cookie
log.console.level = info
mqtt.listener.tcp = 127.0.0.1:0
mqtt.listener.tcp.max_clients = 100
mqtt.listener.ssl = 127.0.0.1:0
mqtt.listener.ssl.keyfile = etc/certs/key.pem
mqtt.listener.ssl.certfile = etc/certs/cert.pem
mqtt.listener.ssl.cacertfile = etc/certs/cacert.pem
mqtt.listener.ssl.verify = verify_peer
mqtt.listener.ssl.fail_if_no_peer_cert = true
mqtt.listener.http = 127.0.0.1:0
mqtt.listener.https = 127.0.0.1:0
mqtt.listener.https.keyfile = etc/certs/key.pem
mqtt.listener.https.certfile = etc/certs/cert.pem
`)
	for _, proto := range []string{"mqtt:tcp", "mqtt:ssl", "mqtt:ws", "mqtt:wss"} {
		a := e.addrs[proto]
		if !strings.HasPrefix(a, "127.0.0.1:") || strings.HasSuffix(a, ":0") {
			t.Fatalf("%s listener address %q, want 127.0.0.1:<port>; all: %v", proto, a, e.addrs)
		}
	}
	if !e.stderr.waitFor("msg=listening proto=mqtt:tcp addr=" + e.addrs["mqtt:tcp"]) {
		t.Errorf("no listening log line for mqtt:tcp; stderr:\n%s", e.stderr)
	}

	sub := brokertest.NewClient(t, dial(t, e.addrs["mqtt:tcp"]), "sub")
	if code := sub.Connect(t); code != 0 {
		t.Fatalf("CONNACK %v", code)
	}
	sub.Subscribe(t, "e2e/#", 1)

	// Every listener carries MQTT to the same broker.
	tlsCfg := &tls.Config{RootCAs: pki.caPool, Certificates: []tls.Certificate{pki.client}}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conns := map[string]func() net.Conn{
		"mqtt:tcp": func() net.Conn { return dial(t, e.addrs["mqtt:tcp"]) },
		"mqtt:ssl": func() net.Conn {
			nc, err := tls.Dial("tcp", e.addrs["mqtt:ssl"], tlsCfg)
			if err != nil {
				t.Fatalf("tls dial: %v", err)
			}
			return nc
		},
		"mqtt:ws": func() net.Conn {
			return wsDial(ctx, t, "ws://"+e.addrs["mqtt:ws"]+"/mqtt", nil)
		},
		"mqtt:wss": func() net.Conn {
			return wsDial(ctx, t, "wss://"+e.addrs["mqtt:wss"]+"/mqtt", tlsCfg)
		},
	}
	for _, proto := range []string{"mqtt:tcp", "mqtt:ssl", "mqtt:ws", "mqtt:wss"} {
		pub := brokertest.NewClient(t, conns[proto](), "pub-"+strings.ReplaceAll(proto, ":", "-"))
		if code := pub.Connect(t); code != 0 {
			t.Fatalf("%s: CONNACK %v", proto, code)
		}
		pub.Publish(t, "e2e/"+proto, []byte("hello over "+proto), 1, false)
		m := sub.Expect(t, "e2e/"+proto)
		if string(m.Payload) != "hello over "+proto {
			t.Errorf("%s: payload %q", proto, m.Payload)
		}
		pub.Disconnect(t)
	}

	// verify_peer + fail_if_no_peer_cert: no client certificate, no MQTT.
	nc, err := tls.Dial("tcp", e.addrs["mqtt:ssl"], &tls.Config{RootCAs: pki.caPool})
	if err == nil {
		nc.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = nc.Read(make([]byte, 1)) // TLS 1.3 reports the refusal on the first read
		nc.Close()
	}
	if err == nil {
		t.Errorf("TLS connection without a client certificate was accepted")
	}

	e.stop(t)
}

// The retainer module runs by default: a retained message reaches a later
// subscriber. With disc storage, configured in etc/plugins, it survives a
// restart, in data/ under the home.
func TestEmqdRetainer(t *testing.T) {
	home := t.TempDir()
	writePluginConf(t, home, "emq_mod_retainer.conf", "module.retainer.storage_type = disc\n")
	const confText = "mqtt.listener.tcp = 127.0.0.1:0\n"
	e := startEmqd(t, home, confText)
	pub := brokertest.NewClient(t, dial(t, e.addrs["mqtt:tcp"]), "pub")
	pub.Connect(t)
	pub.Publish(t, "state/lamp", []byte("on"), 1, true)
	pub.Disconnect(t)
	expectRetained := func(e *emqd) {
		t.Helper()
		sub := brokertest.NewClient(t, dial(t, e.addrs["mqtt:tcp"]), "sub")
		sub.Connect(t)
		sub.Subscribe(t, "state/#", 1)
		m := sub.Expect(t, "state/lamp")
		if string(m.Payload) != "on" || !m.Retain {
			t.Errorf("got %q retain=%v, want the retained \"on\"", m.Payload, m.Retain)
		}
		sub.Disconnect(t)
	}
	expectRetained(e)
	e.stop(t)
	if _, err := os.Stat(filepath.Join(home, "data", "retainer.db")); err != nil {
		t.Errorf("disc storage file: %v", err)
	}

	e = startEmqd(t, home, confText)
	expectRetained(e)
	e.stop(t)
}

func wsDial(ctx context.Context, t *testing.T, url string, tlsCfg *tls.Config) net.Conn {
	t.Helper()
	opts := &websocket.DialOptions{Subprotocols: []string{"mqtt"}}
	if tlsCfg != nil {
		opts.HTTPClient = &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}}
	}
	c, _, err := websocket.Dial(ctx, url, opts)
	if err != nil {
		t.Fatalf("websocket dial %s: %v", url, err)
	}
	return websocket.NetConn(context.Background(), c, websocket.MessageBinary)
}

// max_clients refuses connections over the limit, and frees the slot when
// a connection closes.
func TestEmqdMaxClients(t *testing.T) {
	e := startEmqd(t, t.TempDir(), "mqtt.listener.tcp = 127.0.0.1:0\nmqtt.listener.tcp.max_clients = 1\n")
	addr := e.addrs["mqtt:tcp"]
	first := brokertest.NewClient(t, dial(t, addr), "first")
	first.Connect(t)

	over := dial(t, addr)
	over.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := over.Read(make([]byte, 1)); err != io.EOF && !isReset(err) {
		t.Errorf("connection over max_clients: read gave %v, want it closed", err)
	}
	over.Close()

	first.Disconnect(t)
	// The slot is released when the broker closes its side; retry briefly.
	deadline := time.Now().Add(5 * time.Second)
	for {
		nc := dial(t, addr)
		code, ok := tryConnect(nc)
		nc.Close()
		if ok && code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no connection accepted after the first closed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.stop(t)
}

func isReset(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "connection reset") || strings.Contains(err.Error(), "broken pipe"))
}

// tryConnect sends CONNECT on nc and reports the CONNACK code, or false if
// the connection was closed first.
func tryConnect(nc net.Conn) (byte, bool) {
	// A raw MQTT 3.1.1 CONNECT for client id "second", clean session.
	connect := []byte{0x10, 18, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 0, 0, 6, 's', 'e', 'c', 'o', 'n', 'd'}
	nc.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := nc.Write(connect); err != nil {
		return 0, false
	}
	ack := make([]byte, 4)
	if _, err := io.ReadFull(nc, ack); err != nil {
		return 0, false
	}
	return ack[3], ack[0] == 0x20
}

// A port in use stops emqd before it serves, naming the key to change.
func TestEmqdPortTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	home := t.TempDir()
	path := writeConf(t, home, "mqtt.listener.tcp = 127.0.0.1:0\nmqtt.listener.http = "+taken.Addr().String()+"\n")
	code, stderr := exitError(t, "-config", path)
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	want := fmt.Sprintf("emqd: mqtt.listener.http: listen tcp %s: bind: address already in use (set mqtt.listener.http in %s to another port)\n", taken.Addr(), path)
	if stderr != want {
		t.Errorf("stderr:\n%q\nwant\n%q", stderr, want)
	}
}

// A typo in emq.conf stops emqd with file:line: key.
func TestEmqdConfigError(t *testing.T) {
	home := t.TempDir()
	path := writeConf(t, home, "mqtt.listener.tcp = 127.0.0.1:0\nmqtt.sesion.max_inflight = 10\n")
	code, stderr := exitError(t, "-config", path)
	if code != 1 {
		t.Errorf("exit code %d, want 1", code)
	}
	if want := "emqd: " + path + ":2: mqtt.sesion.max_inflight: unknown key\n"; stderr != want {
		t.Errorf("stderr:\n%q\nwant\n%q", stderr, want)
	}
}

// -home moves where relative paths resolve.
func TestEmqdHomeFlag(t *testing.T) {
	confDir := t.TempDir()
	home := t.TempDir()
	writeTestPKI(t, home)
	path := filepath.Join(confDir, "my.conf")
	os.WriteFile(path, []byte(`mqtt.listener.ssl = 127.0.0.1:0
mqtt.listener.ssl.keyfile = etc/certs/key.pem
mqtt.listener.ssl.certfile = etc/certs/cert.pem
`), 0o644)
	// Without -home, the certificates are looked for next to my.conf.
	code, stderr := exitError(t, "-config", path)
	if code != 1 || !strings.Contains(stderr, path+":3: mqtt.listener.ssl.certfile: loading etc/certs/cert.pem") {
		t.Errorf("without -home: exit %d, stderr %q", code, stderr)
	}
	e := runEmqd(t, emqdBinary(t), "-config", path, "-home", home)
	pr, pw := io.Pipe()
	e.cmd.Stdout = pw
	if err := e.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { e.err = e.cmd.Wait(); pw.Close(); close(e.done) }()
	sc := bufio.NewScanner(pr)
	ok := false
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "emqd: listener mqtt:ssl 127.0.0.1:") {
			ok = true
			break
		}
	}
	go io.Copy(io.Discard, pr)
	if !ok {
		<-e.done
		t.Fatalf("with -home: no ssl listener line; err %v stderr:\n%s", e.err, e.stderr)
	}
	e.cmd.Process.Signal(syscall.SIGINT)
	<-e.done
	if e.err != nil {
		t.Errorf("exit after SIGINT: %v\n%s", e.err, e.stderr)
	}
}
