package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/brokertest"
	"github.com/emqgo/broker/ctl"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// home returns a fresh folder with a short path: unix socket paths are
// limited to about 100 bytes.
func home(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "emqctl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// serveAt serves a test broker's commands on the socket at path.
func serveAt(t *testing.T, path string) *brokertest.Broker {
	t.Helper()
	b := brokertest.New(t, broker.Options{Node: "t@127.0.0.1"})
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	l, err := ctl.Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- ctl.Serve(l, b.Broker) }()
	t.Cleanup(func() {
		b.Close()
		if err := <-done; !errors.Is(err, broker.ErrBrokerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return b
}

func runCtl(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

func TestRun(t *testing.T) {
	sock := filepath.Join(home(t), "emqd.sock")
	b := serveAt(t, sock)
	b.Dial(t, "c1")
	status := "Node 't@127.0.0.1' is started\nemqgo " + broker.Version + " is running\n"
	for _, tc := range []struct {
		args           []string
		code           int
		stdout, stderr string
	}{
		{[]string{"-sock", sock, "status"}, 0, status, ""},
		{[]string{"-sock", sock, "clients", "show", "nosuch"}, 1, "", "Not Found.\n"},
		{[]string{"-sock", sock, "clients", "kick", "c1"}, 0, "", ""},
		{[]string{"-sock", sock, "plugins", "load", "emq_x"}, 1, "", "load plugin error: broker: plugin not found: emq_x\n"},
		{[]string{"-sock", sock, "topics", "x"}, 2, "topics list                                     # List all topics\ntopics show <Topic>                             # Show a topic\n", ""},
	} {
		code, stdout, stderr := runCtl(tc.args...)
		if code != tc.code || stdout != tc.stdout || stderr != tc.stderr {
			t.Errorf("emqctl %q: exit %d, stdout %q, stderr %q; want %d, %q, %q", tc.args, code, stdout, stderr, tc.code, tc.stdout, tc.stderr)
		}
	}
	// An unknown command prints every command's usage.
	code, stdout, _ := runCtl("-sock", sock, "nosuch")
	if code != 2 || !strings.HasPrefix(stdout, "Usage: emqctl\n") {
		t.Errorf("unknown command: exit %d, stdout %q", code, stdout)
	}
	// No command: the usage, on stderr, and exit 2.
	code, stdout, stderr := runCtl("-sock", sock)
	if code != 2 || stdout != "" || !strings.HasPrefix(stderr, "Usage: emqctl\n") {
		t.Errorf("no command: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

func TestNotRunning(t *testing.T) {
	sock := filepath.Join(home(t), "emqd.sock")
	code, stdout, stderr := runCtl("-sock", sock, "status")
	want := "emqctl: emqd is not running: no control socket at " + sock + " (start emqd, or pass -sock)\n"
	if code != 1 || stdout != "" || stderr != want {
		t.Errorf("exit %d, stdout %q, stderr %q; want 1, \"\", %q", code, stdout, stderr, want)
	}
	if code, _, stderr := runCtl("-nosuchflag"); code != 2 || !strings.Contains(stderr, "Usage: emqctl [-sock path] <command> [args]") {
		t.Errorf("bad flag: exit %d, stderr %q", code, stderr)
	}
}

// Without -sock, emqctl uses node.ctl_socket from etc/emq.conf in the
// working directory, or data/emqd.sock.
func TestDefaultSocket(t *testing.T) {
	dir := home(t)
	t.Chdir(dir)
	serveAt(t, filepath.Join(dir, "data", "emqd.sock"))
	if code, stdout, stderr := runCtl("status"); code != 0 || !strings.HasPrefix(stdout, "Node ") {
		t.Errorf("default socket: exit %d, %q, %q", code, stdout, stderr)
	}
	os.MkdirAll("etc", 0o755)
	os.WriteFile(filepath.Join("etc", "emq.conf"), []byte("node.ctl_socket = other.sock\n"), 0o644)
	code, _, stderr := runCtl("status")
	if code != 1 || !strings.Contains(stderr, "no control socket at other.sock") {
		t.Errorf("node.ctl_socket: exit %d, stderr %q", code, stderr)
	}
	serveAt(t, filepath.Join(dir, "other.sock"))
	if code, _, stderr := runCtl("status"); code != 0 {
		t.Errorf("node.ctl_socket: exit %d, stderr %q", code, stderr)
	}
}
