package ctl_test

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/brokertest"
	"github.com/emqgo/broker/ctl"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// sockPath returns a socket path in a fresh temporary folder. Unix socket
// paths are short (about 100 bytes), so the folder is not t.TempDir, whose
// name carries the test's name.
func sockPath(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ctl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "s.sock")
}

// serve starts ctl.Serve for b on a new socket and returns its path. The
// server stops when the broker shuts down; the test waits for it.
func serve(t *testing.T, b *broker.Broker) string {
	t.Helper()
	path := sockPath(t)
	l, err := ctl.Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- ctl.Serve(l, b) }()
	t.Cleanup(func() {
		b.Close()
		if err := <-done; !errors.Is(err, broker.ErrBrokerClosed) {
			t.Errorf("Serve returned %v, want ErrBrokerClosed", err)
		}
	})
	return path
}

func dial(t *testing.T, path string) *ctl.Client {
	t.Helper()
	c, err := ctl.Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestRoundTrip(t *testing.T) {
	b := brokertest.New(t, broker.Options{Node: "ctl@127.0.0.1"})
	path := serve(t, b.Broker)
	b.Dial(t, "c1", brokertest.WithUsername("u1"))
	b.RegisterCommand(broker.Command{Name: "fail", Run: func(context.Context, io.Writer, []string) error {
		return errors.New("Not Found.")
	}})
	c := dial(t, path)

	out, err := c.Exec("status")
	if want := "Node 'ctl@127.0.0.1' is started\nemqgo " + broker.Version + " is running\n"; err != nil || out != want {
		t.Errorf("status: %q, %v", out, err)
	}
	// Several requests on one connection.
	out, err = c.Exec("subscriptions", "add", "c1", "a/b", "1")
	if err != nil || out != "ok\n" {
		t.Errorf("subscriptions add: %q, %v", out, err)
	}
	out, err = c.Exec("subscriptions", "show", "c1")
	if err != nil || out != "c1 -> a/b\n" {
		t.Errorf("subscriptions show: %q, %v", out, err)
	}

	// A failure: status 1 with the command's message.
	out, err = c.Exec("fail")
	var ce *ctl.Error
	if !errors.As(err, &ce) || ce.Status != ctl.StatusFailed || ce.Message != "Not Found." || out != "" || errors.Is(err, broker.ErrUsage) {
		t.Errorf("fail: %q, %#v", out, err)
	}
	// A bad call: status 2, the usage as output, and ErrUsage.
	out, err = c.Exec("clients", "nope")
	if !errors.As(err, &ce) || ce.Status != ctl.StatusUsage || !errors.Is(err, broker.ErrUsage) ||
		!strings.HasPrefix(out, "clients list                                    # List all clients\n") {
		t.Errorf("clients nope: %q, %v", out, err)
	}
	// No args: the full usage.
	out, err = c.Exec()
	if err != nil || !strings.HasPrefix(out, "Usage: emqctl\n") {
		t.Errorf("no args: %q, %v", out, err)
	}

	// Concurrent clients.
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := ctl.Dial(path)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			for range 20 {
				if out, err := c.Exec("clients", "list"); err != nil || !strings.HasPrefix(out, "Client(c1, ") {
					t.Errorf("clients list: %q, %v", out, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// Shutting the broker down stops the server, closes idle connections and
// removes the socket file.
func TestServeStopsWithBroker(t *testing.T) {
	b, err := broker.New(broker.Options{SysInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	path := sockPath(t)
	l, err := ctl.Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- ctl.Serve(l, b) }()
	c := dial(t, path)
	if _, err := c.Exec("status"); err != nil {
		t.Fatal(err)
	}
	b.Shutdown(context.Background())
	select {
	case err := <-done:
		if !errors.Is(err, broker.ErrBrokerClosed) {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve still running after Shutdown")
	}
	if _, err := c.Exec("status"); err == nil {
		t.Error("Exec on a closed server succeeded")
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket file after shutdown: %v", err)
	}
	if _, err := ctl.Dial(path); !errors.Is(err, ctl.ErrNotRunning) {
		t.Errorf("Dial after shutdown: %v, want ErrNotRunning", err)
	}
}

func TestListen(t *testing.T) {
	b := brokertest.New(t, broker.Options{})
	path := serve(t, b.Broker)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want 0600", fi.Mode().Perm())
	}
	// A second broker on the same socket is refused.
	if _, err := ctl.Listen(path); !errors.Is(err, ctl.ErrInUse) {
		t.Errorf("Listen on a served socket: %v, want ErrInUse", err)
	}

	// A socket left behind by a broker that died is replaced.
	stale := sockPath(t)
	l, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	if _, err := ctl.Dial(stale); !errors.Is(err, ctl.ErrNotRunning) {
		t.Errorf("Dial on a stale socket: %v, want ErrNotRunning", err)
	}
	l, err = ctl.Listen(stale)
	if err != nil {
		t.Fatalf("Listen on a stale socket: %v", err)
	}
	l.Close()

	// A regular file is not removed.
	file := sockPath(t)
	os.WriteFile(file, []byte("data"), 0o644)
	if _, err := ctl.Listen(file); err == nil || !strings.Contains(err.Error(), "exists and is not a socket") {
		t.Errorf("Listen on a regular file: %v", err)
	}
	if _, err := ctl.Dial(filepath.Join(filepath.Dir(file), "missing.sock")); !errors.Is(err, ctl.ErrNotRunning) {
		t.Errorf("Dial on a missing socket: %v, want ErrNotRunning", err)
	}
}

// A request that is not JSON gets a failure, and the connection stays.
func TestBadRequest(t *testing.T) {
	b := brokertest.New(t, broker.Options{})
	path := serve(t, b.Broker)
	nc, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.Write([]byte("not json\n{\"args\":[\"status\",\"x\"]}\n"))
	buf := make([]byte, 4096)
	var got string
	for strings.Count(got, "\n") < 2 {
		nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := nc.Read(buf)
		if err != nil {
			t.Fatalf("read: %v (got %q)", err, got)
		}
		got += string(buf[:n])
	}
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	if !strings.HasPrefix(lines[0], `{"output":"","status":1,"error":"ctl: bad request: `) {
		t.Errorf("bad request answer: %s", lines[0])
	}
	if want := `{"output":"status                                          # Show broker status\n","status":2,"error":"broker: usage"}`; lines[1] != want {
		t.Errorf("answer:\n%s\nwant\n%s", lines[1], want)
	}
}
