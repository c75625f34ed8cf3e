// Package interop_test runs real MQTT clients against the real emqd
// binary: Debian's mosquitto_pub/mosquitto_sub, python3-paho-mqtt, the Go
// paho.mqtt.golang client and MQTT.js over WebSocket.
//
// The tests build emqd once (go build ./examples/emqd, with -race under
// go test -race). Each test starts its own emqd on a temporary home whose
// listeners use 127.0.0.1:0, reads the bound ports from emqd's
// "emqd: listener" lines and stops it with SIGTERM at the end, checking
// that it printed "emqd: stopped". No test uses a fixed port.
//
// The external clients are installed by scripts/test-deps. A test whose
// client is missing fails, naming that script; it never skips.
package interop_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	// emqdBuildFlags are extra go build flags for emqd: -race when the
	// tests run with -race (race_test.go).
	emqdBuildFlags []string

	buildOnce sync.Once
	buildDir  string
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// moduleRoot is the folder holding go.mod: the parent of interop/.
func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root: %v", err)
	}
	return root
}

// emqdBinary builds emqd once for the test binary's run.
func emqdBinary(t *testing.T) string {
	t.Helper()
	root := moduleRoot(t)
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "emqd-interop-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(buildDir, "emqd")
		args := append(append([]string{"build"}, emqdBuildFlags...), "-o", binPath, "./examples/emqd")
		cmd := exec.Command("go", args...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./examples/emqd: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// emqdConf is the etc/emq.conf of every test's emqd: the keys of the
// shipped etc/emq.conf, with loopback listeners on system-chosen ports and
// no $SYS messages.
const emqdConf = `node.name = emqd@127.0.0.1
log.console.level = warning
mqtt.allow_anonymous = true
mqtt.acl_nomatch = allow
mqtt.max_packet_size = 64KB
mqtt.client_idle_timeout = 30
mqtt.session.max_inflight = 100
mqtt.session.retry_interval = 60
mqtt.session.expired_after = 1d
mqtt.queue.max_length = 1000
mqtt.queue.qos0 = true
mqtt.broker.sys_interval = 0
mqtt.listener.tcp = 127.0.0.1:0
mqtt.listener.tcp.acceptors = 8
mqtt.listener.tcp.max_clients = 1024
mqtt.listener.http = 127.0.0.1:0
mqtt.listener.http.acceptors = 4
mqtt.listener.http.max_clients = 64
`

// server is a running emqd process.
type server struct {
	Host   string // 127.0.0.1
	Port   string // the MQTT/TCP port
	TCP    string // host:port of the MQTT/TCP listener
	WS     string // ws://host:port/mqtt
	cmd    *exec.Cmd
	stdout *syncBuffer
	stderr *syncBuffer
	done   chan struct{}
	err    error // from Wait, once done is closed
}

// startEmqd runs emqd on a fresh temporary home and waits until it is
// ready. At cleanup it sends SIGTERM and checks for a clean stop.
func startEmqd(t *testing.T) *server {
	t.Helper()
	bin := emqdBinary(t)
	home := t.TempDir()
	conf := filepath.Join(home, "etc", "emq.conf")
	if err := os.MkdirAll(filepath.Dir(conf), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, []byte(emqdConf), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &server{stdout: newSyncBuffer(), stderr: newSyncBuffer(), done: make(chan struct{})}
	s.cmd = exec.Command(bin, "-config", conf)
	s.cmd.Dir = home
	s.cmd.Stdout = s.stdout
	s.cmd.Stderr = s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start emqd: %v", err)
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() { s.stop(t) })

	out, ok := s.stdout.waitFor(s.done, 30*time.Second, func(out string) bool {
		return strings.Contains(out, "emqd: ready ")
	})
	if !ok {
		t.Fatalf("emqd not ready (exit: %v)\nstdout:\n%s\nstderr:\n%s", s.exitErr(), out, s.stderr)
	}
	addrs := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 4 && f[0] == "emqd:" && f[1] == "listener" {
			addrs[f[2]] = f[3]
		}
	}
	s.TCP, s.WS = addrs["mqtt:tcp"], addrs["mqtt:ws"]
	if s.TCP == "" || s.WS == "" {
		t.Fatalf("emqd listener lines lack mqtt:tcp or mqtt:ws:\n%s", out)
	}
	s.Host, s.Port = splitHostPort(t, s.TCP)
	s.WS = "ws://" + s.WS + "/mqtt"
	return s
}

func (s *server) exitErr() error {
	select {
	case <-s.done:
		if s.err == nil {
			return fmt.Errorf("exited 0")
		}
		return s.err
	default:
		return fmt.Errorf("still running")
	}
}

// stop sends SIGTERM and checks that emqd exits 0 having printed
// "emqd: stopped".
func (s *server) stop(t *testing.T) {
	t.Helper()
	select {
	case <-s.done:
		t.Errorf("emqd exited before the test ended: %v\nstderr:\n%s", s.err, s.stderr)
		return
	default:
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Errorf("SIGTERM emqd: %v", err)
	}
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
		t.Errorf("emqd still running 15s after SIGTERM; killed\nstderr:\n%s", s.stderr)
		return
	}
	if s.err != nil {
		t.Errorf("emqd exited with %v after SIGTERM\nstderr:\n%s", s.err, s.stderr)
	}
	if !strings.Contains(s.stdout.String(), "emqd: stopped\n") {
		t.Errorf("emqd did not print \"emqd: stopped\"; stdout:\n%s", s.stdout)
	}
	if strings.Contains(s.stderr.String(), "WARNING: DATA RACE") {
		t.Errorf("the race detector found a data race in emqd:\n%s", s.stderr)
		return
	}
	if e := s.stderr.String(); e != "" {
		t.Logf("emqd stderr (log.console.level = warning):\n%s", e)
	}
}

func splitHostPort(t *testing.T, addr string) (string, string) {
	t.Helper()
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		t.Fatalf("bad address %q", addr)
	}
	return addr[:i], addr[i+1:]
}

// ---- external tools ------------------------------------------------------------

// requireTool returns the path of an external program the test needs, or
// fails the test naming the script that installs it.
func requireTool(t *testing.T, name, what string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s (%s) not found: %v; run scripts/test-deps to install the interop test dependencies", name, what, err)
	}
	return p
}

// ---- processes -----------------------------------------------------------------

// syncBuffer is a bytes.Buffer safe for concurrent use that lets readers
// wait for new output.
type syncBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{} // closed and replaced by every Write
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{changed: make(chan struct{})} }

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	close(b.changed)
	b.changed = make(chan struct{})
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func (b *syncBuffer) snapshot() (string, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String(), b.changed
}

// waitFor waits until ok(contents) holds, done is closed (the writer
// exited), or timeout passes. It reports the contents and whether ok held.
func (b *syncBuffer) waitFor(done <-chan struct{}, timeout time.Duration, ok func(string) bool) (string, bool) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		s, changed := b.snapshot()
		if ok(s) {
			return s, true
		}
		select {
		case <-changed:
		case <-done:
			// The process may have written its last output and exited
			// between the snapshot and now.
			s = b.String()
			return s, ok(s)
		case <-timer.C:
			return b.String(), false
		}
	}
}

// proc is an external client process.
type proc struct {
	name   string
	cmd    *exec.Cmd
	stdout *syncBuffer
	stderr *syncBuffer
	done   chan struct{}
	err    error // from Wait, once done is closed
}

// startProc starts name with args; at cleanup it is killed if it is still
// running.
func startProc(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	p := &proc{name: filepath.Base(name), stdout: newSyncBuffer(), stderr: newSyncBuffer(), done: make(chan struct{})}
	p.cmd = exec.Command(name, args...)
	p.cmd.Stdout = p.stdout
	p.cmd.Stderr = p.stderr
	p.cmd.Stdin = nil
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", p.name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *proc) String() string {
	return fmt.Sprintf("%s %s\nstdout:\n%s\nstderr:\n%s", p.name, strings.Join(p.cmd.Args[1:], " "), p.stdout, p.stderr)
}

// waitLine waits until the process has printed a line containing substr.
func (p *proc) waitLine(t *testing.T, substr string, timeout time.Duration) {
	t.Helper()
	if _, ok := p.stdout.waitFor(p.done, timeout, func(s string) bool { return strings.Contains(s, substr) }); !ok {
		t.Fatalf("%s did not print %q within %v (exit: %v)\n%s", p.name, substr, timeout, p.exitErr(), p)
	}
}

func (p *proc) exitErr() error {
	select {
	case <-p.done:
		return p.err
	default:
		return fmt.Errorf("still running")
	}
}

// wait waits for the process to exit and fails the test unless it exited 0.
func (p *proc) wait(t *testing.T, timeout time.Duration) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("%s still running after %v; killed\n%s", p.name, timeout, p)
	}
	if p.err != nil {
		t.Fatalf("%s: %v\n%s", p.name, p.err, p)
	}
}

// kill ends the process with SIGKILL: no chance to send DISCONNECT.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("SIGKILL %s: %v", p.name, err)
	}
	<-p.done
}

// run runs name to completion and fails the test unless it exits 0 within
// timeout. It returns the standard output.
func run(t *testing.T, timeout time.Duration, name string, args ...string) string {
	t.Helper()
	p := startProc(t, name, args...)
	p.wait(t, timeout)
	return p.stdout.String()
}

// lines returns the lines of out that start with prefix, prefix removed.
func lines(out, prefix string) []string {
	var r []string
	for l := range strings.Lines(out) {
		l = strings.TrimRight(l, "\r\n")
		if rest, ok := strings.CutPrefix(l, prefix); ok {
			r = append(r, rest)
		}
	}
	return r
}
