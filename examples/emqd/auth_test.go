package main

// End-to-end tests of access control: emqd with the internal ACL
// (etc/acl.conf) and emq_auth_username, driven by mosquitto_pub,
// mosquitto_sub and emqctl.

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emqgo/broker/brokertest"
	"github.com/emqgo/broker/packets"
)

// mosquitto runs mosquitto_pub or mosquitto_sub and returns its exit code
// and combined output.
func mosquitto(t *testing.T, tool string, args ...string) (int, string) {
	t.Helper()
	path, err := exec.LookPath(tool)
	if err != nil {
		t.Fatalf("%s is not installed (apt-get install mosquitto-clients): %v", tool, err)
	}
	cmd := exec.Command(path, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("%s %v still running after 15s; output:\n%s", tool, args, out.String())
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, out.String()
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestEmqdAccessControl(t *testing.T) {
	home := t.TempDir()
	const confText = "node.name = acl@127.0.0.1\nmqtt.broker.sys_interval = 1\nmqtt.listener.tcp = 127.0.0.1:0\nmqtt.allow_anonymous = false\n"
	writeFile(t, filepath.Join(home, "etc", "acl.conf"), `%% test rules
{deny, {user, "bob"}, publish, ["secret/#"]}.
{allow, {user, "alice"}, subscribe, ["$SYS/#", "secret/#"]}.
{deny, all, subscribe, ["$SYS/#", "secret/#", {eq, "#"}]}.
{allow, all}.
`)
	writePluginConf(t, home, "emq_auth_username.conf", "auth.user.1.username = alice\nauth.user.1.password = public\n")
	writeFile(t, filepath.Join(home, "data", "loaded_plugins"), "emq_mod_retainer.\nemq_auth_username.\n")
	e := startEmqd(t, home, confText)
	host, port, err := net.SplitHostPort(e.addrs["mqtt:tcp"])
	if err != nil {
		t.Fatal(err)
	}
	pub := func(v, user, pass, topic, msg string) (int, string) {
		t.Helper()
		return mosquitto(t, "mosquitto_pub", "-h", host, "-p", port, "-V", v, "-i", "pub-"+user, "-u", user, "-P", pass, "-q", "1", "-t", topic, "-m", msg)
	}

	// Wrong passwords and unknown users get the right CONNACK code: 4 in
	// MQTT 3.1.1, 0x86 in MQTT 5. (mosquitto_pub 2.0.11 then aborts on a
	// refused MQTT 5 connection, against mosquitto itself too; only the
	// message matters here.)
	for _, tc := range []struct{ v, user, pass, want string }{
		{"mqttv311", "alice", "wrong", "Connection error: Connection Refused: bad user name or password."},
		{"mqttv5", "alice", "wrong", "Connection error: Bad User Name or Password"},
		{"mqttv311", "bob", "pw", "Connection error: Connection Refused: bad user name or password."},
		{"mqttv5", "bob", "pw", "Connection error: Bad User Name or Password"},
	} {
		if code, out := pub(tc.v, tc.user, tc.pass, "t/1", "x"); code == 0 || !strings.Contains(out, tc.want) {
			t.Errorf("%s %s/%s: exit %d, output %q; want a failure saying %q", tc.v, tc.user, tc.pass, code, out, tc.want)
		}
	}

	// A user added with emqctl works at once.
	expectCtl(t, home, 0, "ok\n", "", "users", "add", "bob", "pw")
	expectCtl(t, home, 0, "alice\nbob\n", "", "users", "list")

	alice := brokertest.NewClient(t, dial(t, e.addrs["mqtt:tcp"]), "alice", brokertest.WithCredentials("alice", "public"))
	if rc := alice.Connect(t); rc != packets.Success {
		t.Fatalf("alice: %v", rc)
	}
	for _, f := range []string{"t/#", "secret/#"} {
		if got := alice.Subscribe(t, f, 1); got != 1 {
			t.Fatalf("alice subscribe %s: %#x", f, got)
		}
	}
	if code, out := pub("mqttv311", "bob", "pw", "t/1", "hello"); code != 0 {
		t.Fatalf("bob publish t/1: exit %d: %s", code, out)
	}
	if m := alice.Expect(t, "t/1"); string(m.Payload) != "hello" {
		t.Errorf("payload %q", m.Payload)
	}
	// The ACL drops bob's publish to secret/ (MQTT 3.1.1 still acks it;
	// MQTT 5 says not authorized).
	if code, out := pub("mqttv311", "bob", "pw", "secret/1", "s1"); code != 0 {
		t.Errorf("bob v3 publish secret/1: exit %d: %s", code, out)
	}
	if code, out := pub("mqttv5", "bob", "pw", "secret/2", "s2"); code != 0 {
		t.Errorf("bob v5 publish secret/2: exit %d: %q", code, out)
	}
	pub("mqttv311", "bob", "pw", "t/2", "after")
	if m := alice.Expect(t, "#"); m.Topic != "t/2" {
		t.Errorf("alice got %s %q, want only t/2: the ACL let a secret/ publish through", m.Topic, m.Payload)
	}

	// Subscriptions: bob may not subscribe to secret/# or $SYS/#; alice may
	// subscribe to $SYS/# and gets the broker's messages.
	for _, f := range []string{"secret/#", "$SYS/#", "#"} {
		code, out := mosquitto(t, "mosquitto_sub", "-h", host, "-p", port, "-i", "sub-bob", "-u", "bob", "-P", "pw", "-t", f, "-C", "1", "-W", "2")
		if !strings.Contains(out, "All subscription requests were denied.") {
			t.Errorf("bob subscribe %s: exit %d, output %q; want denied", f, code, out)
		}
	}
	code, out := mosquitto(t, "mosquitto_sub", "-h", host, "-p", port, "-i", "sub-alice", "-u", "alice", "-P", "public", "-t", "$SYS/brokers/+/uptime", "-C", "1", "-W", "5", "-v")
	if code != 0 || !strings.HasPrefix(out, "$SYS/brokers/acl@127.0.0.1/uptime ") {
		t.Errorf("alice subscribe $SYS: exit %d, output %q", code, out)
	}

	// acl reload: a broken file is refused with its line, a good one
	// applies at once, and the cached decision for bob's topic is dropped.
	aclFile := filepath.Join(home, "etc", "acl.conf")
	writeFile(t, aclFile, "{allow, all}.\n{deny, {user, \"bob\"}, publish, [\"secret/#\"}.\n")
	c, so, se := emqctl(t, home, "acl", "reload")
	if c == 0 || !strings.Contains(so+se, "etc/acl.conf:2:") {
		t.Errorf("acl reload of a broken file: exit %d, %q %q", c, so, se)
	}
	writeFile(t, aclFile, "{allow, all}.\n")
	expectCtl(t, home, 0, "", "", "acl", "reload")
	if code, out := pub("mqttv311", "bob", "pw", "secret/3", "s3"); code != 0 {
		t.Errorf("bob publish secret/3 after reload: exit %d: %s", code, out)
	}
	if m := alice.Expect(t, "#"); m.Topic != "secret/3" {
		t.Errorf("alice got %s, want secret/3", m.Topic)
	}
	alice.Disconnect(t)

	// After a restart, bob is still there.
	e.stop(t)
	e = startEmqd(t, home, confText)
	if host, port, err = net.SplitHostPort(e.addrs["mqtt:tcp"]); err != nil {
		t.Fatal(err)
	}
	if code, out := pub("mqttv5", "bob", "pw", "t/3", "x"); code != 0 {
		t.Errorf("bob after restart: exit %d: %s", code, out)
	}
	expectCtl(t, home, 0, "ok\n", "", "users", "del", "bob")
	if code, _ := pub("mqttv311", "bob", "pw", "t/3", "x"); code == 0 {
		t.Error("bob connected after users del")
	}
	data, err := os.ReadFile(filepath.Join(home, "data", "emq_auth_username.json"))
	if err != nil || bytes.Contains(data, []byte(`"pw"`)) {
		t.Errorf("data file: %v\n%s", err, data)
	}
	e.stop(t)
}

func TestEmqdACLFileErrors(t *testing.T) {
	// A broken etc/acl.conf stops emqd with its file and line.
	home := t.TempDir()
	writeFile(t, filepath.Join(home, "etc", "acl.conf"), "{allow, all}.\n{deny, all, publish, [\"a\"]\n")
	path := writeConf(t, home, "mqtt.listener.tcp = 127.0.0.1:0\nnode.ctl_socket = off\n")
	code, stderr := exitError(t, "-config", path)
	want := "emqd: mqtt.acl_file: " + filepath.Join(home, "etc", "acl.conf") + ":3:1: syntax error: expected ',' or '}', got end of file\n"
	if code != 1 || stderr != want {
		t.Errorf("exit %d, stderr %q\nwant 1, %q", code, stderr, want)
	}
	// A file the configuration names must exist.
	home = t.TempDir()
	path = writeConf(t, home, "mqtt.listener.tcp = 127.0.0.1:0\nnode.ctl_socket = off\nmqtt.acl_file = etc/missing.conf\n")
	code, stderr = exitError(t, "-config", path)
	if code != 1 || !strings.Contains(stderr, "emq.conf:3: mqtt.acl_file: auth/acl: open ") || !strings.Contains(stderr, "no such file") {
		t.Errorf("missing file: exit %d, stderr %q", code, stderr)
	}
}

func TestLoadConfigACL(t *testing.T) {
	home := t.TempDir()
	c, err := LoadConfig(writeConf(t, home, "mqtt.acl_file = etc/my_acl.conf\nmqtt.cache_acl = false\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.ACLFile != "etc/my_acl.conf" || c.CacheACL || !c.BrokerOptions(nil).DisableACLCache {
		t.Errorf("ACLFile %q, CacheACL %v", c.ACLFile, c.CacheACL)
	}
	c, err = LoadConfig(writeConf(t, home, ""))
	if err != nil {
		t.Fatal(err)
	}
	if c.ACLFile != "etc/acl.conf" || !c.CacheACL || c.BrokerOptions(nil).DisableACLCache {
		t.Errorf("defaults: ACLFile %q, CacheACL %v", c.ACLFile, c.CacheACL)
	}
}
