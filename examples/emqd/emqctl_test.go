package main

// End-to-end tests of emqctl against the real emqd: both binaries are
// built, emqd runs on a temporary home with its listener on 127.0.0.1:0,
// and emqctl runs in that home, finding emqd's control socket at
// data/emqd.sock as an operator's would.

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/brokertest"
)

var (
	ctlOnce sync.Once
	ctlPath string
	ctlErr  error
)

// emqctlBinary builds emqctl once, next to the emqd binary.
func emqctlBinary(t *testing.T) string {
	t.Helper()
	emqdBinary(t) // makes buildDir
	ctlOnce.Do(func() {
		ctlPath = filepath.Join(buildDir, "emqctl")
		out, err := exec.Command("go", "build", "-o", ctlPath, "../emqctl").CombinedOutput()
		if err != nil {
			ctlErr = fmt.Errorf("go build emqctl: %v\n%s", err, out)
		}
	})
	if ctlErr != nil {
		t.Fatal(ctlErr)
	}
	return ctlPath
}

// emqctl runs emqctl in home with args and returns its exit code, stdout
// and stderr.
func emqctl(t *testing.T, home string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(emqctlBinary(t), args...)
	cmd.Dir = home
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, stdout.String(), stderr.String()
}

// expectCtl runs emqctl and checks its exit code and exact output.
func expectCtl(t *testing.T, home string, code int, stdout, stderr string, args ...string) {
	t.Helper()
	c, o, e := emqctl(t, home, args...)
	if c != code || o != stdout || e != stderr {
		t.Errorf("emqctl %s:\nexit %d, stdout %q, stderr %q\nwant %d, %q, %q", strings.Join(args, " "), c, o, e, code, stdout, stderr)
	}
}

func TestEmqctlEndToEnd(t *testing.T) {
	home := t.TempDir()
	const confText = "node.name = ctl@127.0.0.1\nmqtt.broker.sys_interval = 0\nmqtt.listener.tcp = 127.0.0.1:0\n"
	e := startEmqd(t, home, confText)
	addr := e.addrs["mqtt:tcp"]
	loadedFile := filepath.Join(home, "data", "loaded_plugins")
	// "plugins list" shows every plugin emqd knows, sorted; the retainer,
	// presence and subscription modules are loaded by default (on: the
	// retainer is loaded).
	active := func(on bool) string {
		known := slices.SortedFunc(slices.Values(plugins), func(a, b broker.PluginInfo) int { return strings.Compare(a.Name, b.Name) })
		var out strings.Builder
		for _, p := range known {
			fmt.Fprintf(&out, "Plugin(%s, version=%s, description=%s, active=%t)\n", p.Name, broker.Version, p.Description,
				p.Name == "emq_mod_presence" || p.Name == "emq_mod_subscription" || on && p.Name == "emq_mod_retainer")
		}
		return out.String()
	}
	checkLoaded := func(want string) {
		t.Helper()
		if got := readFile(t, loadedFile); got != want {
			t.Errorf("data/loaded_plugins = %q, want %q", got, want)
		}
	}

	// First start: the default plugins, written out.
	expectCtl(t, home, 0, "Node 'ctl@127.0.0.1' is started\nemqgo "+broker.Version+" is running\n", "", "status")
	expectCtl(t, home, 0, active(true), "", "plugins", "list")
	checkLoaded("emq_mod_presence.\nemq_mod_retainer.\nemq_mod_subscription.\n")
	expectCtl(t, home, 0, "retained/total: 0\n", "", "retainer", "info")

	// Unload and load, with the file following.
	expectCtl(t, home, 0, "Plugin emq_mod_retainer unloaded successfully.\n", "", "plugins", "unload", "emq_mod_retainer")
	expectCtl(t, home, 0, active(false), "", "plugins", "list")
	checkLoaded("emq_mod_presence.\nemq_mod_subscription.\n")
	if code, out, _ := emqctl(t, home, "retainer", "info"); code != 2 || !strings.HasPrefix(out, "Usage: emqctl\n") {
		t.Errorf("retainer info after unload: exit %d, %q", code, out)
	}
	expectCtl(t, home, 1, "", "unload plugin error: broker: plugin not loaded: emq_mod_retainer\n", "plugins", "unload", "emq_mod_retainer")
	// A broken configuration file: not loaded, and the error names it.
	confPath := writePluginConf(t, home, "emq_mod_retainer.conf", "module.retainer.storage_type = ram\nmodule.retainer.bogus = 1\n")
	expectCtl(t, home, 1, "", "load plugin error: broker: plugin emq_mod_retainer: "+confPath+":2: module.retainer.bogus: unknown key\n",
		"plugins", "load", "emq_mod_retainer")
	checkLoaded("emq_mod_presence.\nemq_mod_subscription.\n")
	writePluginConf(t, home, "emq_mod_retainer.conf", "module.retainer.storage_type = disc\n")
	expectCtl(t, home, 0, "Plugin emq_mod_retainer loaded successfully.\n", "", "plugins", "load", "emq_mod_retainer")
	checkLoaded("emq_mod_presence.\nemq_mod_subscription.\nemq_mod_retainer.\n")

	// Clients: list, subscriptions add, kick.
	before := time.Now().Unix()
	nc := dial(t, addr)
	c1 := brokertest.NewClient(t, nc, "c1", brokertest.WithUsername("u1"))
	if code := c1.Connect(t); code != 0 {
		t.Fatalf("CONNACK %v", code)
	}
	_, out, _ := emqctl(t, home, "clients", "list")
	m := regexp.MustCompile(`^Client\(c1, clean_sess=true, username=u1, peername=` + regexp.QuoteMeta(nc.LocalAddr().String()) + `, connected_at=(\d+)\)\n$`).FindStringSubmatch(out)
	if m == nil {
		t.Errorf("clients list: %q", out)
	} else if at, _ := strconv.ParseInt(m[1], 10, 64); at < before || at > time.Now().Unix() {
		t.Errorf("connected_at %d not within the test", at)
	}
	expectCtl(t, home, 0, "ok\n", "", "subscriptions", "add", "c1", "e2e/t", "1")
	expectCtl(t, home, 1, "", "Error: already existed\n", "subscriptions", "add", "c1", "e2e/t", "1")
	expectCtl(t, home, 1, "", "QoS should be 0, 1, 2\n", "subscriptions", "add", "c1", "e2e/u", "5")
	expectCtl(t, home, 1, "", "Error: Session not found!\n", "subscriptions", "add", "nosuch", "e2e/u", "1")
	// $client/c1: emq_mod_subscription's default subscription.
	expectCtl(t, home, 0, "c1 -> $client/c1\nc1 -> e2e/t\n", "", "subscriptions", "show", "c1")
	pub := brokertest.NewClient(t, dial(t, addr), "pub")
	pub.Connect(t)
	pub.Publish(t, "e2e/t", []byte("via emqctl"), 1, true)
	if msg := c1.Expect(t, "e2e/t"); string(msg.Payload) != "via emqctl" || msg.QoS != 1 {
		t.Errorf("got %q at QoS %d", msg.Payload, msg.QoS)
	}
	expectCtl(t, home, 0, "e2e/t\n", "", "retainer", "topics")
	expectCtl(t, home, 0, fmt.Sprintf("listener on mqtt:tcp:%s\n  acceptors       : 8\n  max_clients     : 1024\n  current_clients : 2\n", addr), "", "listeners")
	expectCtl(t, home, 0, "", "", "clients", "kick", "c1")
	c1.ExpectClosed(t)
	expectCtl(t, home, 1, "", "Not Found.\n", "clients", "kick", "nosuch")
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		code, _, stderr := emqctl(t, home, "clients", "show", "c1")
		if code == 1 && stderr == "Not Found.\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("c1 still listed after the kick: exit %d, %q", code, stderr)
		}
	}
	pub.Disconnect(t)

	// A second emqd on the same home is refused: the socket is in use.
	code, stderr := exitError(t, "-config", filepath.Join(home, "etc", "emq.conf"))
	if code != 1 || !strings.Contains(stderr, "emqd: node.ctl_socket: ctl: socket in use by a running broker: "+filepath.Join(home, "data", "emqd.sock")) {
		t.Errorf("second emqd: exit %d, stderr %q", code, stderr)
	}

	// The loaded set survives a restart, unloaded as well as loaded; the
	// disc retainer kept its message.
	e.stop(t)
	expectCtl(t, home, 1, "", "emqctl: emqd is not running: no control socket at data/emqd.sock (start emqd, or pass -sock)\n", "status")
	e = startEmqd(t, home, confText)
	expectCtl(t, home, 0, active(true), "", "plugins", "list")
	expectCtl(t, home, 0, "e2e/t\n", "", "retainer", "topics")
	expectCtl(t, home, 0, "Plugin emq_mod_retainer unloaded successfully.\n", "", "-sock", filepath.Join(home, "data", "emqd.sock"), "plugins", "unload", "emq_mod_retainer")
	e.stop(t)
	checkLoaded("emq_mod_presence.\nemq_mod_subscription.\n")
	e = startEmqd(t, home, confText)
	expectCtl(t, home, 0, active(false), "", "plugins", "list")
	e.stop(t)
}

// emqd stops at start when a plugin listed in data/loaded_plugins has a
// broken configuration file, naming file, line and key.
func TestEmqdPluginConfError(t *testing.T) {
	home := t.TempDir()
	path := writePluginConf(t, home, "emq_mod_retainer.conf", "module.retainer.max_message_num = lots\n")
	code, stderr := exitError(t, "-config", writeConf(t, home, "mqtt.listener.tcp = 127.0.0.1:0\n"))
	want := "emqd: broker: plugin emq_mod_retainer: " + path + `:1: module.retainer.max_message_num: invalid value "lots"`
	if code != 1 || !strings.HasPrefix(stderr, want) {
		t.Errorf("exit %d, stderr %q; want 1, %q", code, stderr, want)
	}
	if _, err := os.Stat(filepath.Join(home, "data", "emqd.sock")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("control socket left behind: %v", err)
	}
}
