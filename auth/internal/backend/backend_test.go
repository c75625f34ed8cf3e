package backend

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/emqgo/broker"
)

func TestMatchFilter(t *testing.T) {
	for _, tc := range []struct {
		filter, name, user, client string
		want                       bool
	}{
		{"a/b", "a/b", "", "", true},
		{"a/+", "a/b", "", "", true},
		{"a/+", "a/b/c", "", "", false},
		{"a/#", "a", "", "", true},
		{"a/#", "a/b/c", "", "", true},
		{"#", "$SYS/x", "", "", false},
		{"+/x", "$SYS/x", "", "", false},
		{"$SYS/#", "$SYS/x", "", "", true},
		{"user/%u", "user/alice", "alice", "c1", true},
		{"user/%u", "user/bob", "alice", "c1", false},
		{"user/%u/#", "user/alice/a/b", "alice", "c1", true},
		{"client/%c", "client/c1", "alice", "c1", true},
		{"x/%u-%c", "x/alice-c1", "alice", "c1", true},
		{"user/%u", "user/%u", "", "c1", false},     // no user name: no match
		{"user/%u", "user/a/b", "a/b", "c1", false}, // '/' in a name is not two levels
		{"user/%u", "user/ab", "a+", "c1", false},   // '+' in a name is not a wildcard
		{"user/%u", "user/a+", "a+", "c1", true},    // it is text
		{"user/%u", "user/anything", "#", "c1", false},
		{"%u/x", "$SYS/x", "$SYS", "c", true}, // an exact name, not a wildcard
		{"a//b", "a//b", "", "", true},
		{"a/+/b", "a//b", "", "", true},
	} {
		if got := MatchFilter(tc.filter, tc.name, tc.user, tc.client); got != tc.want {
			t.Errorf("MatchFilter(%q, %q, %q, %q) = %v, want %v", tc.filter, tc.name, tc.user, tc.client, got, tc.want)
		}
	}
}

func TestAnswer(t *testing.T) {
	for s, want := range map[string]Answer{"deny": Deny, "IGNORE": Ignore, " allow ": Allow} {
		if got, err := ParseAnswer(s); got != want || err != nil {
			t.Errorf("ParseAnswer(%q) = %v, %v", s, got, err)
		}
	}
	if _, err := ParseAnswer("allow", Deny, Ignore); err == nil || err.Error() != `invalid value "allow": want deny or ignore` {
		t.Errorf("restricted: %v", err)
	}
	if Deny.Decision() != broker.Deny || Ignore.Decision() != broker.Ignore || Allow.Decision() != broker.Allow {
		t.Error("Decision")
	}
	if err := Allow.Check("X", Deny, Ignore); err == nil {
		t.Error("Check accepted allow")
	}
	var zero Answer
	if zero != Deny {
		t.Error("zero Answer is not Deny")
	}
}

func TestCache(t *testing.T) {
	var off *Cache[int]
	off.Put("a", 1)
	if _, ok := off.Get("a"); ok || NewCache[int](0, 0) != nil {
		t.Error("a cache that is off stores")
	}
	c := NewCache[int](50*time.Millisecond, 4)
	c.Put("a", 1)
	if v, ok := c.Get("a"); !ok || v != 1 {
		t.Errorf("Get = %v, %v", v, ok)
	}
	for i, k := range []string{"b", "c", "d", "e", "f"} {
		c.Put(k, i)
	}
	if n := c.Len(); n > 4 {
		t.Errorf("%d entries, bound 4", n)
	}
	if v, ok := c.Get("f"); !ok || v != 4 {
		t.Errorf("newest entry: %v, %v", v, ok)
	}
	time.Sleep(60 * time.Millisecond)
	if _, ok := c.Get("f"); ok {
		t.Error("expired entry returned")
	}
	c.Put("g", 1)
	c.Clear()
	if c.Len() != 0 {
		t.Error("Clear")
	}
}

type counter struct {
	mu sync.Mutex
	n  map[slog.Level]int
}

func (c *counter) Enabled(context.Context, slog.Level) bool { return true }
func (c *counter) Handle(_ context.Context, r slog.Record) error {
	c.mu.Lock()
	c.n[r.Level]++
	c.mu.Unlock()
	return nil
}
func (c *counter) WithAttrs([]slog.Attr) slog.Handler { return c }
func (c *counter) WithGroup(string) slog.Handler      { return c }

func TestBurstLog(t *testing.T) {
	c := &counter{n: map[slog.Level]int{}}
	l := &BurstLog{Log: slog.New(c), Server: "test"}
	l.OK()
	for range 100 {
		l.Failed("op", errors.New("down"))
	}
	if !l.Failing() || c.n[slog.LevelError] != 1 {
		t.Errorf("after 100 failures: failing %v, %d error lines", l.Failing(), c.n[slog.LevelError])
	}
	l.OK()
	l.OK()
	if l.Failing() || c.n[slog.LevelInfo] != 1 {
		t.Errorf("after recovery: failing %v, %d info lines", l.Failing(), c.n[slog.LevelInfo])
	}
	old := BurstEvery
	BurstEvery = 0
	defer func() { BurstEvery = old }()
	l.Failed("op", errors.New("down"))
	l.Failed("op", errors.New("down"))
	if c.n[slog.LevelError] != 3 {
		t.Errorf("summary lines: %d", c.n[slog.LevelError])
	}
	var quiet BurstLog
	quiet.Failed("op", errors.New("x"))
	quiet.OK()
}
