package authusername_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/auth/authusername"
	"github.com/emqgo/broker/brokertest"
	"github.com/emqgo/broker/conf"
	"github.com/emqgo/broker/packets"
)

func connect(t *testing.T, b *brokertest.Broker, user, pass string, v byte) packets.ReasonCode {
	t.Helper()
	opts := []brokertest.ClientOption{brokertest.WithVersion(v)}
	switch {
	case user != "" && pass != "":
		opts = append(opts, brokertest.WithCredentials(user, pass))
	case user != "":
		opts = append(opts, brokertest.WithUsername(user))
	}
	c, rc := b.Connect(t, "c-"+user, opts...)
	if rc == packets.Success {
		c.Disconnect(t)
	}
	return rc
}

func TestAuthenticate(t *testing.T) {
	a, err := authusername.New(authusername.Config{Users: map[string]string{"admin": "public", "feng@emqtt.io": "public"}})
	if err != nil {
		t.Fatal(err)
	}
	b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) { b.RegisterAuth(a) })
	for _, v := range []byte{packets.Version311, packets.Version5} {
		for _, tc := range []struct {
			user, pass string
			want       packets.ReasonCode
		}{
			{"admin", "public", packets.Success},
			{"feng@emqtt.io", "public", packets.Success},
			{"admin", "Public", packets.BadUserNameOrPassword},
			{"admin", "", packets.BadUserNameOrPassword},
			{"nobody", "public", packets.BadUserNameOrPassword},
			{"' or '1'='1", "' or '1'='1", packets.BadUserNameOrPassword},
			{"%u", "%", packets.BadUserNameOrPassword},
			{"", "", packets.NotAuthorized},
		} {
			if got := connect(t, b, tc.user, tc.pass, v); got != tc.want {
				t.Errorf("v%d %q/%q: %v, want %v", v, tc.user, tc.pass, got, tc.want)
			}
		}
	}
	if a.Description() != "Username password authentication module" {
		t.Error(a.Description())
	}
}

func TestIgnoreUnknown(t *testing.T) {
	a, err := authusername.New(authusername.Config{Users: map[string]string{"admin": "public"}, IgnoreUnknown: true})
	if err != nil {
		t.Fatal(err)
	}
	b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) { b.RegisterAuth(a) })
	if got := connect(t, b, "nobody", "x", packets.Version311); got != packets.Success {
		t.Errorf("unknown user with anonymous allowed: %v", got)
	}
	if got := connect(t, b, "admin", "x", packets.Version311); got != packets.BadUserNameOrPassword {
		t.Errorf("known user, wrong password: %v", got)
	}
	d := brokertest.New(t, broker.Options{DenyAnonymous: true}, func(b *broker.Broker) { b.RegisterAuth(a) })
	if got := connect(t, d, "nobody", "x", packets.Version311); got != packets.BadUserNameOrPassword {
		t.Errorf("unknown user with anonymous denied: %v", got)
	}
}

func exec(t *testing.T, b *brokertest.Broker, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := b.Exec(context.Background(), &out, args...)
	return out.String(), err
}

// TestRuntimeUsers loads the plugin as emqd does, manages users with the
// users command and restarts the broker.
func TestRuntimeUsers(t *testing.T) {
	home := t.TempDir()
	etc := filepath.Join(home, "etc", "plugins")
	os.MkdirAll(etc, 0o755)
	data := filepath.Join(home, "data", "users.json")
	confText := "auth.user.1.username = admin\nauth.user.1.password = public\nauth.username.test = public\n" +
		"auth.user.data_file = " + data + "\n"
	if err := os.WriteFile(filepath.Join(etc, "emq_auth_username.conf"), []byte(confText), 0o644); err != nil {
		t.Fatal(err)
	}
	start := func() *brokertest.Broker {
		return brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
			p := b.Plugins()
			if err := p.Register(authusername.Plugin); err != nil {
				t.Fatal(err)
			}
			p.SetConfigDir(etc)
			if err := p.Load(context.Background(), "emq_auth_username"); err != nil {
				t.Fatal(err)
			}
		})
	}
	b := start()
	if got := connect(t, b, "test", "public", packets.Version311); got != packets.Success {
		t.Errorf("2.0-style user: %v", got)
	}
	if got := connect(t, b, "alice", "s3cret", packets.Version311); got != packets.BadUserNameOrPassword {
		t.Errorf("alice before add: %v", got)
	}
	for _, step := range []struct {
		args []string
		out  string
		err  string
	}{
		{[]string{"users", "add", "alice", "s3cret"}, "ok\n", ""},
		{[]string{"users", "add", "bob", "pw"}, "ok\n", ""},
		{[]string{"users", "add", "alice", "x"}, "", `user "alice" already exists`},
		{[]string{"users", "del", "admin"}, "", `user "admin" is set in the configuration file; change it there`},
		{[]string{"users", "del", "carol"}, "", `user "carol" not found`},
		{[]string{"users", "list"}, "admin\nalice\nbob\ntest\n", ""},
		{[]string{"users", "passwd", "bob", "pw2"}, "ok\n", ""},
	} {
		out, err := exec(t, b, step.args...)
		if out != step.out || (err == nil) != (step.err == "") || (err != nil && err.Error() != step.err) {
			t.Errorf("%v: %q, %v; want %q, %q", step.args, out, err, step.out, step.err)
		}
	}
	// Users added at runtime work at once.
	if got := connect(t, b, "alice", "s3cret", packets.Version311); got != packets.Success {
		t.Errorf("alice after add: %v", got)
	}
	if got := connect(t, b, "bob", "pw", packets.Version5); got != packets.BadUserNameOrPassword {
		t.Errorf("bob's old password: %v", got)
	}
	if _, err := exec(t, b, "users", "del", "alice"); err != nil {
		t.Fatal(err)
	}
	if got := connect(t, b, "alice", "s3cret", packets.Version311); got != packets.BadUserNameOrPassword {
		t.Errorf("alice after del: %v", got)
	}
	if out, err := exec(t, b, "users", "frob"); !errors.Is(err, broker.ErrUsage) || !strings.Contains(out, "users add <Username> <Password>") {
		t.Errorf("users frob: %q, %v", out, err)
	}
	stored, _ := os.ReadFile(data)
	if bytes.Contains(stored, []byte("pw2")) {
		t.Errorf("the data file holds a password in clear:\n%s", stored)
	}

	// After a restart.
	ctx := context.Background()
	if err := b.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	b = start()
	if got := connect(t, b, "bob", "pw2", packets.Version311); got != packets.Success {
		t.Errorf("bob after restart: %v", got)
	}
	if got := connect(t, b, "alice", "s3cret", packets.Version311); got != packets.BadUserNameOrPassword {
		t.Errorf("deleted alice after restart: %v", got)
	}
	if got := connect(t, b, "admin", "public", packets.Version311); got != packets.Success {
		t.Errorf("admin after restart: %v", got)
	}
	// Unloading the plugin removes the module and the command.
	if err := b.Plugins().Unload(ctx, "emq_auth_username"); err != nil {
		t.Fatal(err)
	}
	if _, err := exec(t, b, "users", "list"); !errors.Is(err, broker.ErrUsage) {
		t.Errorf("users after unload: %v", err)
	}
	if got := connect(t, b, "nobody", "x", packets.Version311); got != packets.Success {
		t.Errorf("after unload, anonymous: %v", got)
	}
}

func TestParseConfig(t *testing.T) {
	m, err := conf.ParseString(authusername.Defaults+`
auth.user.2.username = feng@emqtt.io
auth.user.2.password = public
auth.user.1.username = admin
auth.user.1.password = public
auth.user.10.username = name~!@#$%^&*()_+
auth.user.10.password = pwsswd~!@#$%^&*()_+
auth.username.test = public
auth.user.password_hash = pbkdf2,sha256,1000,20
`, "emq_auth_username.conf")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := authusername.ParseConfig(m)
	if err != nil {
		t.Fatal(err)
	}
	want := authusername.Config{
		Users:        map[string]string{"admin": "public", "feng@emqtt.io": "public", "name~!@#$%^&*()_+": "pwsswd~!@#$%^&*()_+", "test": "public"},
		PasswordHash: "pbkdf2,sha256,1000,20", DataFile: "data/emq_auth_username.json",
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("ParseConfig = %+v\nwant %+v", cfg, want)
	}

	m, _ = conf.ParseString(`auth.user.password_hash = sha3
auth.user.1.username = a
auth.user.2.password = p
auth.user.x.username = b
auth.user.3.username = a
auth.user.3.password = q
auth.users.1.username = c
auth.username.e =
auth.user.4.username =
auth.user.4.password = z
auth.user.5.username = y
auth.username.a = z
`, "bad.conf")
	_, err = authusername.ParseConfig(m)
	got := err.Error()
	for _, want := range []string{
		`bad.conf:1: auth.user.password_hash: hash "sha3": unknown algorithm "sha3": want plain`,
		"bad.conf:4: auth.user.x.username: unknown key",
		"bad.conf:7: auth.users.1.username: unknown key",
		"bad.conf:8: auth.username.e: empty password",
		"bad.conf:2: auth.user.1.username: auth.user.1.password is missing",
		"bad.conf:3: auth.user.2.password: auth.user.2.username is missing",
		`bad.conf:5: auth.user.3.username: user "a" is also set by auth.username.a`,
		"bad.conf:9: auth.user.4.username: empty user name",
		"bad.conf:11: auth.user.5.username: auth.user.5.password is missing",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("errors lack %q:\n%s", want, got)
		}
	}
}
