package conf_test

import (
	"errors"
	"io/fs"
	"reflect"
	"testing"

	"github.com/emqgo/broker/conf"
)

func mustParse(t testing.TB, s, file string) conf.Map {
	t.Helper()
	m, err := conf.ParseString(s, file)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMapAccessors(t *testing.T) {
	m := mustParse(t, "a = 1\nb.c = 2\n", "m.conf")
	if v, ok := m.Get("b.c"); !ok || v != "2" {
		t.Errorf("Get(b.c) = %q, %v", v, ok)
	}
	if v, ok := m.Get("b"); ok || v != "" {
		t.Errorf("Get(b) = %q, %v; want unset", v, ok)
	}
	if e, ok := m.Entry("a"); !ok || e != (conf.Entry{Key: "a", Value: "1", File: "m.conf", Line: 1}) {
		t.Errorf("Entry(a) = %+v, %v", e, ok)
	}
	if _, ok := m.Entry("zz"); ok {
		t.Error("Entry(zz) found")
	}
	if got := m.Keys(); !reflect.DeepEqual(got, []string{"a", "b.c"}) {
		t.Errorf("Keys = %q", got)
	}
	if m.Len() != 2 {
		t.Errorf("Len = %d", m.Len())
	}
	// Entries returns a copy.
	es := m.Entries()
	es[0].Value = "changed"
	if v, _ := m.Get("a"); v != "1" {
		t.Error("Entries aliases the Map")
	}

	var zero conf.Map
	if _, ok := zero.Get("a"); ok || zero.Len() != 0 || len(zero.Keys()) != 0 || zero.String() != "" {
		t.Error("zero Map is not empty")
	}
	if z := zero.With("a", "1"); z.Len() != 1 {
		t.Error("With on zero Map")
	}
}

func TestMapSub(t *testing.T) {
	m := mustParse(t, `auth.mysql = on
auth.mysql.server = 127.0.0.1:3306
auth.mysqlx.server = nope
auth.mysql.pool = 8
auth.pgsql.pool = 4
`, "p.conf")
	for _, prefix := range []string{"auth.mysql", "auth.mysql."} {
		s := m.Sub(prefix)
		want := []conf.Entry{
			{Key: "server", Value: "127.0.0.1:3306", File: "p.conf", Line: 2},
			{Key: "pool", Value: "8", File: "p.conf", Line: 4},
		}
		if got := s.Entries(); !reflect.DeepEqual(got, want) {
			t.Errorf("Sub(%q) = %+v, want %+v", prefix, got, want)
		}
	}
	if got := m.Sub("auth").Sub("pgsql").Keys(); !reflect.DeepEqual(got, []string{"pool"}) {
		t.Errorf("Sub(auth).Sub(pgsql) keys = %q", got)
	}
	if got := m.Sub(""); got.Len() != m.Len() {
		t.Errorf("Sub(\"\") has %d keys", got.Len())
	}
	if got := m.Sub("nothing"); got.Len() != 0 {
		t.Errorf("Sub(nothing) has %d keys", got.Len())
	}
}

func TestMapMergeWith(t *testing.T) {
	defaults := mustParse(t, "a = 1\nb = 2\nc = 3\n", "defaults.conf")
	user := mustParse(t, "d = 4\nb = 20\n", "user.conf")
	merged := defaults.Merge(user)
	want := []conf.Entry{
		{Key: "a", Value: "1", File: "defaults.conf", Line: 1},
		{Key: "b", Value: "20", File: "user.conf", Line: 2},
		{Key: "c", Value: "3", File: "defaults.conf", Line: 3},
		{Key: "d", Value: "4", File: "user.conf", Line: 1},
	}
	if got := merged.Entries(); !reflect.DeepEqual(got, want) {
		t.Errorf("Merge = %+v\nwant %+v", got, want)
	}
	// The inputs are unchanged.
	if v, _ := defaults.Get("b"); v != "2" || defaults.Len() != 3 {
		t.Error("Merge changed its receiver")
	}
	if user.Len() != 2 {
		t.Error("Merge changed its argument")
	}

	w := merged.With("b", "200").With("e", "5")
	if e, _ := w.Entry("b"); e != (conf.Entry{Key: "b", Value: "200"}) {
		t.Errorf("With(b) entry = %+v", e)
	}
	if got := w.Keys(); !reflect.DeepEqual(got, []string{"a", "b", "c", "d", "e"}) {
		t.Errorf("With keys = %q", got)
	}
	if v, _ := merged.Get("b"); v != "20" || merged.Len() != 4 {
		t.Error("With changed its receiver")
	}
}

func TestMapString(t *testing.T) {
	m := mustParse(t, `a = 1
topic = $client/#
q = select 1 where u = '%u'
sp = "  x "
empty =
quote = "\"q\""
bs = a\b
nl = "a\nb"
`, "s.conf")
	m = m.With("cr", "x\r")
	want := `a = 1
topic = $client/#
q = select 1 where u = '%u'
sp = "  x "
empty = ""
quote = "\"q\""
bs = a\b
nl = "a\nb"
cr = "x` + "\r" + `"
`
	if got := m.String(); got != want {
		t.Errorf("String:\n%s\nwant:\n%s", got, want)
	}
	back := mustParse(t, m.String(), "s.conf")
	for _, e := range m.Entries() {
		if v, _ := back.Get(e.Key); v != e.Value {
			t.Errorf("%s: round trip %q -> %q", e.Key, e.Value, v)
		}
	}
}

func TestFormatValue(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"has # hash", "has # hash"},
		{"", `""`},
		{" lead", `" lead"`},
		{"trail\t", "\"trail\t\""},
		{`"starts`, `"\"starts"`},
		{`mid"quote`, `mid"quote`},
		{"two\nlines", `"two\nlines"`},
		{`back\slash "x" `, `"back\\slash \"x\" "`},
	}
	for _, tt := range tests {
		if got := conf.FormatValue(tt.in); got != tt.want {
			t.Errorf("FormatValue(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestMapErrorf(t *testing.T) {
	m := mustParse(t, "auth.mysql.password_hash = sha1024\n", "emq_auth_mysql.conf").Sub("auth.mysql")
	err := m.Errorf("password_hash", "unknown hash %q", "sha1024")
	if got, want := err.Error(), `emq_auth_mysql.conf:1: auth.mysql.password_hash: unknown hash "sha1024"`; got != want {
		t.Errorf("Errorf = %q, want %q", got, want)
	}
	err = m.Errorf("server", "required")
	if got, want := err.Error(), "server: required"; got != want {
		t.Errorf("Errorf on a missing key = %q, want %q", got, want)
	}
	err = m.Errorf("password_hash", "open table: %w", fs.ErrNotExist)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Error("Errorf does not wrap %w")
	}
	var ce *conf.Error
	if !errors.As(err, &ce) || ce.Line != 1 {
		t.Errorf("Errorf is not a positioned *conf.Error: %#v", err)
	}
}

func TestIsOff(t *testing.T) {
	for v, want := range map[string]bool{
		"off": true, "false": true, "disable": true, "disabled": true, "": true, " OFF ": true, "False": true,
		"on": false, "true": false, "enable": false, "0": false, "auto": false,
	} {
		if got := conf.IsOff(v); got != want {
			t.Errorf("IsOff(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestValidKey(t *testing.T) {
	for k, want := range map[string]bool{
		"a": true, "a.b.c": true, "module.subscription.1.topic": true, "a-b_c$": true, "$SYS": true, "1": true,
		"": false, ".": false, ".a": false, "a.": false, "a..b": false, "a b": false, "a%": false, "a/b": false, "a=b": false, "é": false,
	} {
		if got := conf.ValidKey(k); got != want {
			t.Errorf("ValidKey(%q) = %v, want %v", k, got, want)
		}
	}
}
