package sqlauth

import (
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/auth/internal/backend"
	"github.com/emqgo/broker/auth/internal/placeholder"
)

// The seed's sample ACL rows, in the order a server returns them.
var seedRows = [][]any{
	{int64(1), nil, "$all", nil, int64(2), "#"},
	{int64(0), nil, "$all", nil, int64(1), "$SYS/#"},
	{int64(0), nil, "$all", nil, int64(1), "eq #"},
	{int64(1), "127.0.0.1", nil, nil, int64(2), "$SYS/#"},
	{int64(1), "127.0.0.1", nil, nil, int64(2), "#"},
	{int64(1), nil, "dashboard", nil, int64(1), "$SYS/#"},
}

var aclCols = []string{"allow", "ipaddr", "username", "clientid", "access", "topic"}

// decide evaluates rows as Authorize does, in EMQ's order unless forward.
func decide(t *testing.T, rows [][]any, forward bool, c *broker.ClientInfo, access broker.Access, name string) broker.Decision {
	t.Helper()
	rules, err := compileRows(&result{cols: aclCols, rows: rows})
	if err != nil {
		t.Fatal(err)
	}
	n := len(rules)
	for i := range n {
		ru := &rules[n-1-i]
		if forward {
			ru = &rules[i]
		}
		if ru.access&access != 0 && ru.match(c, name) {
			return ru.decision
		}
	}
	return broker.Ignore
}

func TestSeedRows(t *testing.T) {
	local := netip.MustParseAddrPort("127.0.0.1:1")
	for _, tc := range []struct {
		c       broker.ClientInfo
		access  broker.Access
		name    string
		forward bool
		want    broker.Decision
	}{
		{broker.ClientInfo{Username: "dashboard"}, broker.AccessSubscribe, "$SYS/brokers", false, broker.Allow},
		{broker.ClientInfo{Username: "dashboard"}, broker.AccessSubscribe, "$SYS/brokers", true, broker.Deny},
		{broker.ClientInfo{Username: "u"}, broker.AccessSubscribe, "$SYS/brokers", false, broker.Deny},
		{broker.ClientInfo{Username: "u"}, broker.AccessSubscribe, "#", false, broker.Deny},
		{broker.ClientInfo{Username: "u"}, broker.AccessSubscribe, "a/#", false, broker.Ignore},
		{broker.ClientInfo{Username: "u"}, broker.AccessPublish, "a/b", false, broker.Allow},
		{broker.ClientInfo{Username: "u"}, broker.AccessPublish, "$SYS/x", false, broker.Ignore},
		{broker.ClientInfo{Username: "u", Peer: local}, broker.AccessPublish, "$SYS/x", false, broker.Allow},
	} {
		if got := decide(t, seedRows, tc.forward, &tc.c, tc.access, tc.name); got != tc.want {
			t.Errorf("%s@%v %v %q forward=%v: %v, want %v", tc.c.Username, tc.c.Peer, tc.access, tc.name, tc.forward, got, tc.want)
		}
	}
}

func TestRuleWho(t *testing.T) {
	rows := [][]any{
		{"1", "10.0.0.0/8", "alice", "c1", "3", "t"}, // text values, as EMQ accepted
	}
	in := netip.MustParseAddrPort("10.1.2.3:9")
	out := netip.MustParseAddrPort("[::ffff:11.1.2.3]:9")
	for _, tc := range []struct {
		c    broker.ClientInfo
		want broker.Decision
	}{
		{broker.ClientInfo{Username: "alice", ClientID: "c1", Peer: in}, broker.Allow},
		{broker.ClientInfo{Username: "alice", ClientID: "c1", Peer: out}, broker.Ignore},
		{broker.ClientInfo{Username: "alice", ClientID: "c2", Peer: in}, broker.Ignore},
		{broker.ClientInfo{Username: "bob", ClientID: "c1", Peer: in}, broker.Ignore},
		{broker.ClientInfo{Username: "alice", ClientID: "c1"}, broker.Ignore},
	} {
		if got := decide(t, rows, false, &tc.c, broker.AccessPublish, "t"); got != tc.want {
			t.Errorf("%+v: %v, want %v", tc.c, got, tc.want)
		}
	}
}

func TestRuleTopics(t *testing.T) {
	rows := [][]any{
		{int64(1), nil, "$all", nil, int64(3), "u/%u/#"},
		{int64(1), nil, "$all", nil, int64(3), "c/%c"},
		{int64(1), nil, "$all", nil, int64(3), "eq x/+"},
		{int64(1), nil, "$all", nil, int64(3), "s/+/t"},
	}
	for _, tc := range []struct {
		user, client, name string
		want               broker.Decision
	}{
		{"al", "c1", "u/al", broker.Allow},
		{"al", "c1", "u/al/x/y", broker.Allow},
		{"al", "c1", "u/al2/x", broker.Ignore},
		{"a/b", "c1", "u/a/b", broker.Ignore}, // a user name is one level
		{"+", "c1", "u/x", broker.Ignore},     // and never a wildcard
		{"", "c1", "u/%u", broker.Ignore},     // no user name, no %u match
		{"al", "c1", "c/c1", broker.Allow},
		{"al", "c1", "c/c1/x", broker.Ignore},
		{"al", "c1", "x/+", broker.Allow},
		{"al", "c1", "x/y", broker.Ignore},
		{"al", "c1", "s/a/t", broker.Allow},
		{"al", "c1", "s/+/t", broker.Allow},
	} {
		c := broker.ClientInfo{Username: tc.user, ClientID: tc.client}
		if got := decide(t, rows, false, &c, broker.AccessSubscribe, tc.name); got != tc.want {
			t.Errorf("%q/%q %q: %v, want %v", tc.user, tc.client, tc.name, got, tc.want)
		}
	}
}

func TestBadRows(t *testing.T) {
	rows := [][]any{
		{nil, nil, "$all", nil, int64(1), "a"},
		{int64(2), nil, "$all", nil, int64(1), "a"},
		{int64(1), nil, "$all", nil, int64(4), "a"},
		{int64(1), nil, nil, nil, int64(1), "a"},
		{int64(1), "", "", "", int64(1), "a"},
		{int64(1), "not-an-ip", nil, nil, int64(1), "a"},
		{int64(0), nil, "$all", nil, int64(1), "a"},
	}
	rules, err := compileRows(&result{cols: aclCols, rows: rows})
	if len(rules) != 1 || rules[0].decision != broker.Deny {
		t.Errorf("rules: %+v", rules)
	}
	if err == nil || !strings.Contains(err.Error(), "row 1: allow is NULL") {
		t.Errorf("err: %v", err)
	}
	// Columns by position when the query renames them.
	rules, err = compileRows(&result{cols: []string{"a", "b", "c", "d", "e", "f"}, rows: rows[6:]})
	if err != nil || len(rules) != 1 {
		t.Errorf("positional: %v, %v", rules, err)
	}
	if _, err := compileRows(&result{cols: []string{"allow"}, rows: [][]any{{int64(1)}}}); err == nil {
		t.Error("one column: no error")
	}
}

func TestParseHash(t *testing.T) {
	for in, want := range map[string]string{
		"":                  "sha256",
		"salt sha256":       "salt,sha256",
		"sha256 salt":       "sha256,salt",
		"salt,md5":          "salt,md5",
		" bcrypt ":          "bcrypt",
		"pbkdf2,sha,10,20":  "pbkdf2,sha,10,20",
		"salt , bcrypt":     "salt,bcrypt",
		"SHA256":            "sha256",
		"pbkdf2 sha 10 20":  "pbkdf2,sha,10,20",
		"plain":             "plain",
		"sha512,salt":       "sha512,salt",
		"salt,sha":          "salt,sha",
		"sha,salt":          "sha,salt",
		"salt,plain (bad)":  "",
		"pbkdf2":            "",
		"sha256,salt,extra": "",
	} {
		h, err := ParseHash(in)
		if want == "" {
			if err == nil {
				t.Errorf("ParseHash(%q) = %v, want an error", in, h)
			}
			continue
		}
		if err != nil || h.String() != want {
			t.Errorf("ParseHash(%q) = %v, %v; want %s", in, h, err, want)
		}
	}
}

func TestNewErrors(t *testing.T) {
	d := Dialect{Pkg: "auth/test", Style: placeholder.Question}
	_, err := New(nil, d, Options{PasswordHash: "sha3", AuthQuery: "select '%P'", ACLNoMatch: 7, QueryTimeout: -1})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"auth/test: ", "password_hash: ", "auth_query: ", "acl_nomatch", "must not be negative"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

func TestCache(t *testing.T) {
	// Keys never collide, whatever the values hold.
	keys := map[string]bool{}
	for _, args := range [][]any{{"a", "b"}, {"a\x00b", ""}, {"ab", ""}, {"a", "b", ""}, {"", "ab"}, {"1:a"}} {
		k := cacheKey("q", args)
		if keys[k] {
			t.Errorf("key %q repeats", k)
		}
		keys[k] = true
	}
	c := backend.NewCache[*result](time.Hour, 8)
	r := &result{}
	for i := range 20 {
		c.Put(cacheKey("q", []any{string(rune('a' + i))}), r)
		if c.Len() > 8 {
			t.Fatalf("cache holds %d entries, max 8", c.Len())
		}
	}
	if got, ok := c.Get(cacheKey("q", []any{"t"})); !ok || got != r {
		t.Error("the newest entry is gone")
	}
	c = backend.NewCache[*result](time.Nanosecond, 8)
	c.Put("k", r)
	time.Sleep(time.Millisecond)
	if _, ok := c.Get("k"); ok {
		t.Error("expired entry returned")
	}
}

type countHandler struct {
	mu   sync.Mutex
	msgs []string
}

func (h *countHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.msgs = append(h.msgs, r.Level.String()+" "+r.Message)
	h.mu.Unlock()
	return nil
}
func (h *countHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countHandler) WithGroup(string) slog.Handler      { return h }

func TestBurstLog(t *testing.T) {
	h := &countHandler{}
	a, err := New(nil, Dialect{Server: "SQL", Style: placeholder.Question}, Options{Addr: "x", AuthQuery: "select 1", Logger: slog.New(h)})
	if err != nil {
		t.Fatal(err)
	}
	l, where := a.errs, a.auth.where
	l.OKAt(where) // nothing to report
	for range 100 {
		l.FailedAt(where, context.DeadlineExceeded)
	}
	l.OKAt(where)
	l.OKAt(where)
	l.FailedAt(where, context.DeadlineExceeded)
	for range 5 {
		l.Warn("bad row")
	}
	want := []string{
		"ERROR SQL query failed; answering with the on_error setting until the server answers again",
		"INFO SQL answers again",
		"ERROR SQL query failed; answering with the on_error setting until the server answers again",
		"WARN SQL: bad row",
	}
	if strings.Join(h.msgs, "\n") != strings.Join(want, "\n") {
		t.Errorf("logged:\n%s\nwant:\n%s", strings.Join(h.msgs, "\n"), strings.Join(want, "\n"))
	}
}
