package authclientid_test

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
	"github.com/emqgo/broker/auth/authclientid"
	"github.com/emqgo/broker/brokertest"
	"github.com/emqgo/broker/conf"
	"github.com/emqgo/broker/packets"
)

func connect(t *testing.T, b *brokertest.Broker, id, pass string, v byte) packets.ReasonCode {
	t.Helper()
	opts := []brokertest.ClientOption{brokertest.WithVersion(v)}
	if pass != "" {
		opts = append(opts, brokertest.WithCredentials("someone", pass))
	}
	c, rc := b.Connect(t, id, opts...)
	if rc == packets.Success {
		c.Disconnect(t)
	}
	return rc
}

func TestAuthenticate(t *testing.T) {
	a, err := authclientid.New(authclientid.Config{Clients: map[string]string{"id": "passwd", "dev:devid": "passwd2"}})
	if err != nil {
		t.Fatal(err)
	}
	b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) { b.RegisterAuth(a) })
	for _, v := range []byte{packets.Version311, packets.Version5} {
		for _, tc := range []struct {
			id, pass string
			want     packets.ReasonCode
		}{
			{"id", "passwd", packets.Success},
			{"dev:devid", "passwd2", packets.Success},
			{"dev:devid", "passwd", packets.BadUserNameOrPassword},
			{"id", "", packets.NotAuthorized},
			{"other", "passwd", packets.BadUserNameOrPassword},
			{"' or '1'='1", "' or '1'='1", packets.BadUserNameOrPassword},
		} {
			if got := connect(t, b, tc.id, tc.pass, v); got != tc.want {
				t.Errorf("v%d %q/%q: %v, want %v", v, tc.id, tc.pass, got, tc.want)
			}
		}
	}
	if a.Description() != "ClientId authentication module" {
		t.Error(a.Description())
	}
	ig, _ := authclientid.New(authclientid.Config{IgnoreUnknown: true})
	b2 := brokertest.New(t, broker.Options{}, func(b *broker.Broker) { b.RegisterAuth(ig) })
	if got := connect(t, b2, "other", "x", packets.Version311); got != packets.Success {
		t.Errorf("IgnoreUnknown: %v", got)
	}
}

func exec(t *testing.T, b *brokertest.Broker, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := b.Exec(context.Background(), &out, args...)
	return out.String(), err
}

func TestRuntimeClients(t *testing.T) {
	home := t.TempDir()
	etc := filepath.Join(home, "etc", "plugins")
	os.MkdirAll(etc, 0o755)
	data := filepath.Join(home, "data", "clients.json")
	confText := "auth.client.1.clientid = id\nauth.client.1.password = passwd\nauth.client.old = pw\n" +
		"auth.client.data_file = " + data + "\n"
	os.WriteFile(filepath.Join(etc, "emq_auth_clientid.conf"), []byte(confText), 0o644)
	start := func() *brokertest.Broker {
		return brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
			p := b.Plugins()
			if err := p.Register(authclientid.Plugin); err != nil {
				t.Fatal(err)
			}
			p.SetConfigDir(etc)
			if err := p.Load(context.Background(), "emq_auth_clientid"); err != nil {
				t.Fatal(err)
			}
		})
	}
	b := start()
	if got := connect(t, b, "old", "pw", packets.Version311); got != packets.Success {
		t.Errorf("2.0-style client: %v", got)
	}
	for _, step := range []struct {
		args []string
		out  string
		err  string
	}{
		{[]string{"clientid", "add", "dev-1", "s3cret"}, "ok\n", ""},
		{[]string{"clientid", "add", "dev-1", "x"}, "", `client id "dev-1" already exists`},
		{[]string{"clientid", "passwd", "id", "x"}, "", `client id "id" is set in the configuration file; change it there`},
		{[]string{"clientid", "list"}, "dev-1\nid\nold\n", ""},
	} {
		out, err := exec(t, b, step.args...)
		if out != step.out || (err == nil) != (step.err == "") || (err != nil && err.Error() != step.err) {
			t.Errorf("%v: %q, %v; want %q, %q", step.args, out, err, step.out, step.err)
		}
	}
	if got := connect(t, b, "dev-1", "s3cret", packets.Version5); got != packets.Success {
		t.Errorf("dev-1 after add: %v", got)
	}
	if _, err := exec(t, b, "clientid", "update", "dev-1", "new"); err != nil {
		t.Fatal(err)
	}
	if out, err := exec(t, b, "clientid"); !errors.Is(err, broker.ErrUsage) || !strings.Contains(out, "clientid add <ClientId> <Password>") {
		t.Errorf("clientid: %q, %v", out, err)
	}
	b.Shutdown(context.Background())
	b = start()
	if got := connect(t, b, "dev-1", "new", packets.Version311); got != packets.Success {
		t.Errorf("dev-1 after restart: %v", got)
	}
	if got := connect(t, b, "dev-1", "s3cret", packets.Version311); got != packets.BadUserNameOrPassword {
		t.Errorf("dev-1's old password after restart: %v", got)
	}
	if _, err := exec(t, b, "clientid", "del", "dev-1"); err != nil {
		t.Fatal(err)
	}
	if got := connect(t, b, "dev-1", "new", packets.Version311); got != packets.BadUserNameOrPassword {
		t.Errorf("dev-1 after del: %v", got)
	}
}

func TestParseConfig(t *testing.T) {
	m, _ := conf.ParseString(authclientid.Defaults+`
auth.client.1.clientid = id
auth.client.1.password = passwd
auth.client.2.clientid = dev:devid
auth.client.2.password = passwd2
auth.client.4.clientid = client~!@#$%^&*()_+
auth.client.4.password = passwd~!@#$%^&*()_+
auth.client.legacy = pw
`, "emq_auth_clientid.conf")
	cfg, err := authclientid.ParseConfig(m)
	if err != nil {
		t.Fatal(err)
	}
	want := authclientid.Config{
		Clients:      map[string]string{"id": "passwd", "dev:devid": "passwd2", "client~!@#$%^&*()_+": "passwd~!@#$%^&*()_+", "legacy": "pw"},
		PasswordHash: "sha256", DataFile: "data/emq_auth_clientid.json",
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("ParseConfig = %+v\nwant %+v", cfg, want)
	}
	m, _ = conf.ParseString("auth.client.password_hash = nope\nauth.client.1.id = x\nauth.client.2.password = p\nauth.user.1.username = u\n", "bad.conf")
	_, err = authclientid.ParseConfig(m)
	for _, want := range []string{
		"bad.conf:1: auth.client.password_hash:",
		"bad.conf:2: auth.client.1.id: unknown key",
		"bad.conf:3: auth.client.2.password: auth.client.2.clientid is missing",
		"bad.conf:4: auth.user.1.username: unknown key",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("errors lack %q:\n%v", want, err)
		}
	}
}
