package conf_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/emqgo/broker/conf"
)

func TestParseGoldenAuthMySQL(t *testing.T) {
	path := filepath.Join("testdata", "emq_auth_mysql.conf")
	m, err := conf.ParseFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []conf.Entry{
		{Key: "auth.mysql.server", Value: "127.0.0.1:3306", File: path, Line: 4},
		{Key: "auth.mysql.pool", Value: "8", File: path, Line: 7},
		{Key: "auth.mysql.database", Value: "mqtt", File: path, Line: 16},
		{Key: "auth.mysql.auth_query", Value: "select password from mqtt_user where username = '%u' limit 1", File: path, Line: 21},
		{Key: "auth.mysql.password_hash", Value: "sha256", File: path, Line: 24},
		{Key: "auth.mysql.super_query", Value: "select is_superuser from mqtt_user where username = '%u' limit 1", File: path, Line: 27},
		{Key: "auth.mysql.acl_query", Value: "select allow, ipaddr, username, clientid, access, topic from mqtt_acl where ipaddr = '%a' or username = '%u' or username = '$all' or clientid = '%c'", File: path, Line: 30},
		{Key: "auth.mysql.acl_nomatch", Value: "deny", File: path, Line: 33},
	}
	if got := m.Entries(); !reflect.DeepEqual(got, want) {
		t.Errorf("entries:\n got %+v\nwant %+v", got, want)
	}
}

func TestParseGoldenEMQ(t *testing.T) {
	path := filepath.Join("testdata", "emq.conf")
	m, err := conf.ParseFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if m.Len() != 66 {
		t.Errorf("Len = %d, want 66", m.Len())
	}
	for _, c := range []struct {
		key, value string
		line       int
	}{
		{"node.name", "emqttd@127.0.0.1", 9},
		{"mqtt.max_packet_size", "64KB", 39},
		{"mqtt.queue.max_length", "infinity", 67},
		{"mqtt.listener.tcp", "1883", 95},
		{"sysmon.busy_dist_port", "true", 130},
	} {
		e, ok := m.Entry(c.key)
		if !ok || e.Value != c.value || e.Line != c.line || e.File != path {
			t.Errorf("Entry(%q) = %+v, %v; want value %q at line %d", c.key, e, ok, c.value, c.line)
		}
	}
	// Commented-out keys are not entries.
	for _, k := range []string{"node.heartbeat", "mqtt.queue.priority", "mqtt.listener.ssl.cacertfile"} {
		if _, ok := m.Get(k); ok {
			t.Errorf("commented-out %q is set", k)
		}
	}
}

func TestParse(t *testing.T) {
	type kv struct {
		Key, Value string
		Line       int
	}
	tests := []struct {
		name string
		in   string
		want []kv
	}{
		{"empty", "", nil},
		{"comments and blanks", "# a\n  ## b\n\n\t\n#k = v\n", nil},
		{"simple", "a = 1\nb.c=2\n", []kv{{"a", "1", 1}, {"b.c", "2", 2}}},
		{"no final newline", "a = 1", []kv{{"a", "1", 1}}},
		{"crlf", "a = 1\r\nb = 2\r\n", []kv{{"a", "1", 1}, {"b", "2", 2}}},
		{"bom", "\uFEFFa = 1\n", []kv{{"a", "1", 1}}},
		{"indented", "   a.b = x  \n\tc = y\t\n", []kv{{"a.b", "x", 1}, {"c", "y", 2}}},
		{"hash in value", "module.subscription.1.topic = $client/#\nt = a # not a comment\n",
			[]kv{{"module.subscription.1.topic", "$client/#", 1}, {"t", "a # not a comment", 2}}},
		{"equals in value", "auth.http.auth_req.params = clientid=%c,username=%u\n",
			[]kv{{"auth.http.auth_req.params", "clientid=%c,username=%u", 1}}},
		{"empty value", "auth.mysql.username = \nx =\n", []kv{{"auth.mysql.username", "", 1}, {"x", "", 2}}},
		{"single quotes kept", "q = select * from t where u = '%u'\n", []kv{{"q", "select * from t where u = '%u'", 1}}},
		{"quoted", `p = "  spaced  "`, []kv{{"p", "  spaced  ", 1}}},
		{"quoted empty", `p = ""`, []kv{{"p", "", 1}}},
		{"quoted escapes", `p = "a \"b\" c\\d\ne\x"`, []kv{{"p", "a \"b\" c\\d\ne\\x", 1}}},
		{"quote inside unquoted value", `p = say "hi"`, []kv{{"p", `say "hi"`, 1}}},
		{"backslash unquoted", `path = C:\emq\etc`, []kv{{"path", `C:\emq\etc`, 1}}},
		{"key characters", "a-b.$c_d.9 = v\n", []kv{{"a-b.$c_d.9", "v", 1}}},
		{"duplicate keeps first place, last value and line",
			"a = 1\nb = 2\na = 3\n", []kv{{"a", "3", 3}, {"b", "2", 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := conf.ParseString(tt.in, "t.conf")
			if err != nil {
				t.Fatal(err)
			}
			var got []kv
			for _, e := range m.Entries() {
				if e.File != "t.conf" {
					t.Errorf("%s: File = %q", e.Key, e.File)
				}
				got = append(got, kv{e.Key, e.Value, e.Line})
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, file, in, want string
	}{
		{"no equals", "e.conf", "a = 1\n\ngarbage\n", `e.conf:3: want key = value, got "garbage"`},
		{"empty key", "e.conf", "= 1\n", `e.conf:1: invalid key "": want dot-separated words of letters, digits, '_', '-' and '$'`},
		{"empty segment", "e.conf", "a..b = 1\n", `e.conf:1: invalid key "a..b": want dot-separated words of letters, digits, '_', '-' and '$'`},
		{"trailing dot", "e.conf", "a. = 1\n", `e.conf:1: invalid key "a.": want dot-separated words of letters, digits, '_', '-' and '$'`},
		{"space in key", "e.conf", "a b = 1\n", `e.conf:1: invalid key "a b": want dot-separated words of letters, digits, '_', '-' and '$'`},
		{"percent in key", "e.conf", "a% = 1\n", `e.conf:1: invalid key "a%": want dot-separated words of letters, digits, '_', '-' and '$'`},
		{"unterminated quote", "e.conf", "x = 1\nk = \"abc\n", `e.conf:2: k: missing closing quote`},
		{"escaped final quote", "e.conf", `k = "abc\"`, `e.conf:1: k: missing closing quote`},
		{"text after quote", "e.conf", `k = "a" b`, `e.conf:1: k: unexpected text after closing quote`},
		{"no file name", "", "a\n", `line 1: want key = value, got "a"`},
		{"long line clipped", "e.conf", strings.Repeat("x", 50), `e.conf:1: want key = value, got "` + strings.Repeat("x", 40) + `..."`},
		{"several", "e.conf", "a\nb = 1\nc\n", "e.conf:1: want key = value, got \"a\"\ne.conf:3: want key = value, got \"c\""},
		{"too many", "e.conf", strings.Repeat("x\n", 20), tooMany()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := conf.ParseString(tt.in, tt.file)
			if err == nil {
				t.Fatalf("no error; parsed %+v", m.Entries())
			}
			if err.Error() != tt.want {
				t.Errorf("error:\n got %s\nwant %s", err, tt.want)
			}
			var ce *conf.Error
			if !errors.As(err, &ce) {
				t.Errorf("error %T is not a *conf.Error", err)
			}
			if m.Len() != 0 {
				t.Errorf("Map not empty on error: %q", m.Keys())
			}
		})
	}
}

// tooMany is the error of 20 lines "x": ten reported, then a stop.
func tooMany() string {
	var lines []string
	for i := 1; i <= 10; i++ {
		lines = append(lines, "e.conf:"+strconv.Itoa(i)+`: want key = value, got "x"`)
	}
	return strings.Join(append(lines, "e.conf:11: too many errors"), "\n")
}

func TestParseReadError(t *testing.T) {
	boom := errors.New("boom")
	_, err := conf.Parse(iotest.ErrReader(boom), "r.conf")
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want it to wrap boom", err)
	}
	if got, want := err.Error(), "r.conf:1: read: boom"; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
}

func TestParseFileMissing(t *testing.T) {
	_, err := conf.ParseFile(filepath.Join(t.TempDir(), "nope.conf"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want ErrNotExist", err)
	}
}

func TestErrorFormat(t *testing.T) {
	inner := errors.New("inner")
	tests := []struct {
		e    conf.Error
		want string
	}{
		{conf.Error{File: "f", Line: 3, Key: "k", Msg: "bad"}, "f:3: k: bad"},
		{conf.Error{File: "f", Key: "k", Msg: "bad"}, "f: k: bad"},
		{conf.Error{Line: 3, Key: "k", Msg: "bad"}, "line 3: k: bad"},
		{conf.Error{Key: "k", Msg: "bad"}, "k: bad"},
		{conf.Error{File: "f", Line: 3, Msg: "bad"}, "f:3: bad"},
		{conf.Error{Msg: "bad"}, "bad"},
		{conf.Error{File: "f", Line: 1, Key: "k", Err: inner}, "f:1: k: inner"},
		{conf.Error{}, ""},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("%+v.Error() = %q, want %q", tt.e, got, tt.want)
		}
	}
	e := &conf.Error{Err: inner}
	if !errors.Is(e, inner) {
		t.Error("Unwrap does not reach the inner error")
	}
}
