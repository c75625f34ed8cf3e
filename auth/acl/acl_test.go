package acl

import (
	"context"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/auth/internal/backend"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata file path, or writes it with -update.
func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs:\n--- got\n%s--- want\n%s", path, got, want)
	}
}

func TestGoodFiles(t *testing.T) {
	files, _ := filepath.Glob("testdata/good/*.conf")
	if len(files) == 0 {
		t.Fatal("no files")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			a, err := Load(f)
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			for _, r := range a.Rules() {
				b.WriteString(f + ":" + itoa(r.Line) + ": " + r.String() + ".\n")
			}
			golden(t, strings.TrimSuffix(f, ".conf")+".golden", b.String())
			// The listing parses back to the same rules.
			again, err := ParseString(a.String(), "again")
			if err != nil {
				t.Fatalf("String does not parse back: %v\n%s", err, a.String())
			}
			if New(again).String() != a.String() {
				t.Errorf("String does not round-trip")
			}
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestBadFiles(t *testing.T) {
	files, _ := filepath.Glob("testdata/bad/*.conf")
	if len(files) == 0 {
		t.Fatal("no files")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, err := Load(f)
			if err == nil {
				t.Fatal("loaded")
			}
			if !strings.HasPrefix(err.Error(), f+":") {
				t.Errorf("error %q does not start with the file name", err)
			}
			golden(t, strings.TrimSuffix(f, ".conf")+".err", err.Error()+"\n")
		})
	}
}

func TestDefaultFileIsEMQs(t *testing.T) {
	// etc/acl.conf ships EMQ 2.0's file unchanged.
	b, err := os.ReadFile("../../etc/acl.conf")
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != DefaultFile {
		t.Error("etc/acl.conf differs from DefaultFile")
	}
	if got := len(MustParse(DefaultFile, "default")); got != 4 {
		t.Errorf("%d rules, want 4", got)
	}
}

func client(user, id, peer string) *broker.ClientInfo {
	c := &broker.ClientInfo{Username: user, ClientID: id}
	if peer != "" {
		c.Peer = netip.MustParseAddrPort(peer)
	}
	return c
}

const (
	sub = broker.AccessSubscribe
	pub = broker.AccessPublish
)

func TestDefaultRules(t *testing.T) {
	a := New(MustParse(DefaultFile, "acl.conf"))
	for _, tc := range []struct {
		c      *broker.ClientInfo
		access broker.Access
		topic  string
		want   broker.Decision
		line   int
	}{
		{client("dashboard", "d1", ""), sub, "$SYS/#", broker.Allow, 21},
		{client("dashboard", "d1", "192.0.2.7:5000"), sub, "$SYS/brokers/+/clients/#", broker.Allow, 21},
		{client("dashboard", "d1", ""), sub, "#", broker.Deny, 25},
		{client("", "local", "127.0.0.1:40000"), sub, "$SYS/#", broker.Allow, 23},
		{client("", "local", "[::ffff:127.0.0.1]:40000"), sub, "$SYS/#", broker.Allow, 23},
		{client("", "local", "127.0.0.1:40000"), sub, "#", broker.Allow, 23},
		{client("", "local", "127.0.0.1:40000"), pub, "$SYS/x", broker.Allow, 23},
		{client("", "local6", "[::1]:40000"), sub, "$SYS/#", broker.Deny, 25},
		{client("u", "remote", "192.0.2.7:5000"), sub, "$SYS/#", broker.Deny, 25},
		{client("u", "remote", "192.0.2.7:5000"), sub, "$SYS/brokers/emqd@127.0.0.1/version", broker.Deny, 25},
		{client("u", "remote", "192.0.2.7:5000"), sub, "#", broker.Deny, 25},
		{client("u", "remote", "192.0.2.7:5000"), sub, "$share/g/$SYS/#", broker.Deny, 25},
		{client("u", "remote", "192.0.2.7:5000"), sub, "$queue/#", broker.Deny, 25},
		{client("u", "remote", "192.0.2.7:5000"), sub, "+/#", broker.Allow, 27},
		{client("u", "remote", "192.0.2.7:5000"), sub, "a/#", broker.Allow, 27},
		{client("u", "inproc", ""), sub, "$SYS/#", broker.Deny, 25},
		{client("u", "inproc", ""), pub, "$SYS/#", broker.Allow, 27},
		{client("Dashboard", "d", ""), sub, "$SYS/#", broker.Deny, 25},
	} {
		d, r := a.Check(tc.c, tc.access, tc.topic)
		line := 0
		if r != nil {
			line = r.Line
		}
		if d != tc.want || line != tc.line {
			t.Errorf("%+v %v %q = %v by line %d, want %v by line %d", *tc.c, tc.access, tc.topic, d, line, tc.want, tc.line)
		}
		got, err := a.Authorize(context.Background(), tc.c, tc.access, tc.topic)
		if got != d || err != nil {
			t.Errorf("Authorize = %v, %v; Check = %v", got, err, d)
		}
	}
}

func TestRules(t *testing.T) {
	a := New(MustParse(`
{allow, {user, all}, publish, ["users/%u/#"]}.
{allow, {client, all}, subscribe, ["clients/%c/inbox", "x/%c/%u/+"]}.
{allow, {client, "sensor-1"}, publish, ["sensors/1/+"]}.
{deny, {'and', [{user, "guest"}, {ipaddr, "192.168.0.0/16"}]}, publish, ["#"]}.
{allow, {'or', [{user, "ops"}, {ipaddr, "10.1.0.0/16"}]}, pubsub, ["ops/#"]}.
{allow, all, subscribe, [{eq, "a/+"}]}.
{deny, all, subscribe, ["a/+"]}.
{allow, {ipaddr, "2001:db8::/32"}, publish, ["v6"]}.
{deny, all, pubsub, ["$SYS/#", "denied/#", "users/#", "clients/#", "x/#", "ops/#"]}.
`, "rules"))
	guest := client("guest", "g", "192.168.3.4:1")
	for _, tc := range []struct {
		c      *broker.ClientInfo
		access broker.Access
		topic  string
		want   broker.Decision
	}{
		// %u and %c stand for the client's own names, one whole level.
		{client("alice", "c", ""), pub, "users/alice/x", broker.Allow},
		{client("alice", "c", ""), pub, "users/alice", broker.Allow},
		{client("alice", "c", ""), pub, "users/bob/x", broker.Deny},
		{client("alice", "c", ""), sub, "users/alice/x", broker.Deny},
		{client("", "c", ""), pub, "users/%u/x", broker.Deny},
		{client("+", "c", ""), pub, "users/bob/x", broker.Deny},
		{client("#", "c", ""), pub, "users/bob/x", broker.Deny},
		{client("#", "c", ""), pub, "users/#/x", broker.Allow},
		{client("a/b", "c", ""), pub, "users/a/b", broker.Deny},
		{client("u", "dev7", ""), sub, "clients/dev7/inbox", broker.Allow},
		{client("u", "dev7", ""), sub, "clients/dev8/inbox", broker.Deny},
		{client("u", "dev7", ""), sub, "clients/+/inbox", broker.Deny},
		{client("u", "dev7", ""), sub, "x/dev7/u/q", broker.Allow},
		{client("u", "dev7", ""), sub, "x/dev7/u", broker.Deny},
		{client("", "dev7", ""), sub, "x/dev7/%u/q", broker.Deny},
		{client("u", "sensor-1", ""), pub, "sensors/1/temp", broker.Allow},
		{client("u", "sensor-2", ""), pub, "sensors/1/temp", broker.Ignore},
		{guest, pub, "anything", broker.Deny},
		{guest, pub, "$SYS/x", broker.Deny},
		{client("guest", "g", "10.0.0.1:1"), pub, "anything", broker.Ignore},
		{client("ops", "o", ""), pub, "ops/x", broker.Allow},
		{client("x", "o", "10.1.2.3:1"), sub, "ops/#", broker.Allow},
		{client("x", "o", "10.2.2.3:1"), sub, "ops/#", broker.Deny},
		{client("x", "o", ""), sub, "a/+", broker.Allow},
		{client("x", "o", ""), sub, "a/b", broker.Deny},
		// A subscription's filter is matched as a name: '#' meets the rule's '+'.
		{client("x", "o", ""), sub, "a/#", broker.Deny},
		{client("x", "o", ""), sub, "b/#", broker.Ignore},
		{client("x", "o", "[2001:db8::1]:1"), pub, "v6", broker.Allow},
		{client("x", "o", "192.0.2.1:1"), pub, "v6", broker.Ignore},
	} {
		if d, r := a.Check(tc.c, tc.access, tc.topic); d != tc.want {
			t.Errorf("user %q client %q peer %v: %v %q = %v (rule %v), want %v", tc.c.Username, tc.c.ClientID, tc.c.Peer, tc.access, tc.topic, d, r, tc.want)
		}
	}
}

func TestMatchPattern(t *testing.T) {
	c := client("u", "c", "")
	for _, tc := range []struct {
		filter, name string
		want         bool
	}{
		{"%u", "u", true},
		{"%u/#", "u", true},
		{"%u/#", "u/a/b", true},
		{"%u/+", "u", false},
		{"%u/+", "u/x", true},
		{"%u/+/%c", "u//c", true},
		{"a/%u", "a/u/b", false},
		{"#/%u", "x", false},
		{"+/%u", "$SYS/u", false},
		{"%c/%u", "c/u", true},
		{"%c/%u", "u/c", false},
	} {
		if got := backend.MatchPattern(strings.Split(tc.filter, "/"), c, tc.name); got != tc.want {
			t.Errorf("matchPattern(%q, %q) = %v, want %v", tc.filter, tc.name, got, tc.want)
		}
	}
}

func TestReloadKeepsRulesOnError(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "acl.conf")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(`{deny, all, publish, ["x"]}.` + "\n")
	a, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	c := client("u", "c", "")
	if d, _ := a.Check(c, pub, "x"); d != broker.Deny {
		t.Fatalf("before reload: %v", d)
	}
	write("{allow, all, publish, [\"x\"]}.\n{deny, all, publish, [\"x\"]\n")
	err = a.Reload(context.Background())
	if err == nil || !strings.HasPrefix(err.Error(), path+":3:1: ") {
		t.Fatalf("Reload of a broken file: %v", err)
	}
	if d, _ := a.Check(c, pub, "x"); d != broker.Deny {
		t.Errorf("after a failed reload: %v, want the previous rules' deny", d)
	}
	write(`{allow, all, publish, ["x"]}.` + "\n")
	if err := a.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d, _ := a.Check(c, pub, "x"); d != broker.Allow {
		t.Errorf("after reload: %v", d)
	}
	os.Remove(path)
	if err := a.Reload(context.Background()); err == nil {
		t.Error("Reload of a missing file succeeded")
	}
	if d, _ := a.Check(c, pub, "x"); d != broker.Allow {
		t.Errorf("after a failed reload: %v", d)
	}
	if err := New(nil).Reload(context.Background()); err != nil {
		t.Errorf("Reload of fixed rules: %v", err)
	}
	if a.File() != path || a.Description() != "Internal ACL with etc/acl.conf" {
		t.Error("File or Description")
	}
}
