package interop_test

// python3-paho-mqtt (Debian's, run with /usr/bin/python3: a python3 earlier
// in PATH may lack Debian's packages), driven through the roles of
// python/paho_client.py; the Go client is the other side of each exchange.

import (
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

const debianPython = "/usr/bin/python3"

var (
	pahoPyOnce    sync.Once
	pahoPyVersion string
	pahoPyErr     error
)

type python struct {
	s      *server
	script string
}

// newPython checks that Debian's python3 has paho-mqtt, or fails naming
// scripts/test-deps.
func newPython(t *testing.T, s *server) *python {
	t.Helper()
	pahoPyOnce.Do(func() {
		out, err := exec.Command(debianPython, "-c", "import paho.mqtt; print(paho.mqtt.__version__)").CombinedOutput()
		pahoPyVersion = strings.TrimSpace(string(out))
		if err != nil {
			pahoPyErr = err
		}
	})
	if pahoPyErr != nil {
		t.Fatalf("%s cannot import paho.mqtt (Debian python3-paho-mqtt): %v\n%s\nrun scripts/test-deps to install the interop test dependencies",
			debianPython, pahoPyErr, pahoPyVersion)
	}
	t.Logf("paho-mqtt %s", pahoPyVersion)
	script, err := filepath.Abs(filepath.Join("python", "paho_client.py"))
	if err != nil {
		t.Fatal(err)
	}
	return &python{s: s, script: script}
}

// start runs paho_client.py with a role and its arguments.
func (py *python) start(t *testing.T, role string, args ...string) *proc {
	t.Helper()
	p := startProc(t, debianPython, append([]string{"-u", py.script, py.s.Host, py.s.Port, role}, args...)...)
	p.name = "paho_client.py " + role
	return p
}

// run runs a role to completion and returns what it printed.
func (py *python) run(t *testing.T, role string, args ...string) string {
	t.Helper()
	p := py.start(t, role, args...)
	p.wait(t, 20*time.Second)
	return p.stdout.String()
}

func TestPython(t *testing.T) {
	t.Parallel()
	s := startEmqd(t)
	py := newPython(t, s)

	// Python publishes at QoS 0, 1 and 2; a Go subscriber at QoS 2 gets
	// each at its QoS.
	t.Run("qos from python", func(t *testing.T) {
		t.Parallel()
		g := newPaho(t, s, "py-qos-go-sub")
		g.sub(t, "py/up/+", 2)
		py.run(t, "pub", "py/up/q0", "0", "zero", "py/up/q1", "1", "one", "py/up/q2", "2", "two")
		got := map[string]bool{}
		for range 3 {
			m := g.expect(t)
			got[m.Topic()] = true
			switch m.Topic() {
			case "py/up/q0":
				checkMsg(t, g.id, m, "py/up/q0", "zero", 0, false)
			case "py/up/q1":
				checkMsg(t, g.id, m, "py/up/q1", "one", 1, false)
			case "py/up/q2":
				checkMsg(t, g.id, m, "py/up/q2", "two", 2, false)
			default:
				t.Errorf("unexpected message on %s", m.Topic())
			}
		}
		if len(got) != 3 {
			t.Errorf("received %v, want one message on each of py/up/q0, q1, q2", got)
		}
	})

	// Python subscribes at QoS 0, 1 and 2; the Go client publishes to each
	// at its QoS.
	t.Run("qos to python", func(t *testing.T) {
		t.Parallel()
		sub := py.start(t, "sub", "py/down/q0:0", "py/down/q1:1", "py/down/q2:2", "--count", "3")
		sub.waitLine(t, "subscribed 0 1 2\n", 10*time.Second)
		g := newPaho(t, s, "py-qos-go-pub")
		g.pub(t, "py/down/q0", 0, false, "zero")
		g.pub(t, "py/down/q1", 1, false, "one")
		g.pub(t, "py/down/q2", 2, false, "two")
		sub.wait(t, 20*time.Second)
		got := lines(sub.stdout.String(), "msg ")
		slices.Sort(got)
		want := []string{"0 0 py/down/q0 zero", "1 0 py/down/q1 one", "2 0 py/down/q2 two"}
		if !slices.Equal(got, want) {
			t.Errorf("python received %q, want %q\n%s", got, want, sub)
		}
	})

	t.Run("retained", func(t *testing.T) {
		t.Parallel()
		py.run(t, "pub", "--retain", "py/ret/lamp", "1", "on")
		out := py.run(t, "sub", "py/ret/#:1", "--count", "1")
		if got, want := lines(out, "msg "), []string{"1 1 py/ret/lamp on"}; !slices.Equal(got, want) {
			t.Errorf("later subscriber received %q, want the retained %q", got, want)
		}
		// An empty retained message clears it; the next subscriber's first
		// message is then a live one.
		py.run(t, "pub", "--retain", "py/ret/lamp", "1", "")
		sub := py.start(t, "sub", "py/ret/#:1", "--count", "1")
		sub.waitLine(t, "subscribed 1\n", 10*time.Second)
		g := newPaho(t, s, "py-ret-go-pub")
		g.pub(t, "py/ret/lamp", 1, false, "live")
		sub.wait(t, 20*time.Second)
		if got, want := lines(sub.stdout.String(), "msg "), []string{"1 0 py/ret/lamp live"}; !slices.Equal(got, want) {
			t.Errorf("subscriber after the clear received %q, want only the live %q\n%s", got, want, sub)
		}
	})

	// The python client is killed with SIGKILL: its will goes out.
	t.Run("will", func(t *testing.T) {
		t.Parallel()
		g := newPaho(t, s, "py-will-go-watcher")
		g.sub(t, "py/will/#", 1)
		w := py.start(t, "will", "py-willer", "py/will/gone", "bye")
		w.waitLine(t, "connected\n", 10*time.Second)
		w.kill(t)
		checkMsg(t, g.id, g.expect(t), "py/will/gone", "bye", 1, false)
	})

	// A persistent session gets the QoS 1 and 2 messages published while
	// the client was away, on resuming it without subscribing again.
	t.Run("session", func(t *testing.T) {
		t.Parallel()
		out := py.run(t, "session-start", "py-session", "py/session/#", "2")
		if !strings.Contains(out, "session_present 0\n") || !strings.Contains(out, "subscribed 2\n") {
			t.Fatalf("session-start printed:\n%s\nwant session_present 0, subscribed 2", out)
		}
		g := newPaho(t, s, "py-session-go-pub")
		g.pub(t, "py/session/q1", 1, false, "one")
		g.pub(t, "py/session/q2", 2, false, "two")
		out = py.run(t, "session-resume", "py-session", "2")
		if !strings.Contains(out, "session_present 1\n") {
			t.Errorf("resume: want session_present 1; printed:\n%s", out)
		}
		got := lines(out, "msg ")
		slices.Sort(got)
		if want := []string{"1 0 py/session/q1 one", "2 0 py/session/q2 two"}; !slices.Equal(got, want) {
			t.Errorf("resume received %q, want %q", got, want)
		}
	})

	// A second client with the same id: the broker disconnects the first,
	// which paho reports through on_disconnect with a non-zero rc.
	t.Run("takeover", func(t *testing.T) {
		t.Parallel()
		out := py.run(t, "takeover", "py-takeover")
		d := lines(out, "first_disconnected rc=")
		if len(d) != 1 || d[0] == "0" {
			t.Errorf("want first_disconnected with a non-zero rc (unexpected disconnect); printed:\n%s", out)
		}
		if !strings.Contains(out, "second_ok still here\n") {
			t.Errorf("second client: want second_ok; printed:\n%s", out)
		}
	})
}
