package authldap_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/auth/authldap"
	"github.com/emqgo/broker/auth/internal/backend/backendtest"
	"github.com/emqgo/broker/brokertest"
	"github.com/emqgo/broker/conf"
	"github.com/emqgo/broker/packets"
)

// config is EMQ 2.3's default layout against the test directory.
func config(t testing.TB) authldap.Config {
	host, port := ldapAddr(t)
	p, _ := strconv.Atoi(port)
	return authldap.Config{
		Servers: []string{host}, Port: p,
		BindDN: "cn=root,dc=emqtt,dc=com", BindPassword: "public",
		AuthDN: "cn=%u,ou=auth,dc=emqtt,dc=com", SaltAttr: "salt",
		Timeout: 5 * time.Second,
	}
}

// via points cfg at addr (a proxy, or a closed port).
func via(cfg authldap.Config, addr string) authldap.Config {
	host, port, _ := net.SplitHostPort(addr)
	cfg.Servers = []string{host}
	cfg.Port, _ = strconv.Atoi(port)
	return cfg
}

func newAuth(t testing.TB, cfg authldap.Config) *authldap.Auth {
	t.Helper()
	a, err := authldap.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func client(user string) *broker.ClientInfo {
	return &broker.ClientInfo{ClientID: "c-" + user, Username: user}
}

func connect(t testing.TB, b *brokertest.Broker, id, user, pass string) packets.ReasonCode {
	t.Helper()
	c, rc := b.Connect(t, id, brokertest.WithCredentials(user, pass))
	if rc == packets.Success {
		c.Disconnect(t)
	}
	return rc
}

// TestHashes authenticates the directory's user of each password_hash
// setting (testdata/emqtt.com.ldif; every password is "public").
func TestHashes(t *testing.T) {
	for user, hash := range map[string]string{
		"test": "sha256", "plain_u": "plain", "md5_u": "md5", "sha_u": "sha", "sha256_u": "sha256", "sha512_u": "sha512",
		"saltpre_u": "salt,sha256", "saltsuf_u": "sha256,salt", "pbkdf2_u": "pbkdf2,sha256,1000,20", "bcrypt_u": "bcrypt",
	} {
		t.Run(hash+"/"+user, func(t *testing.T) {
			cfg := config(t)
			cfg.PasswordHash = hash
			a := newAuth(t, cfg)
			b := brokertest.New(t, broker.Options{DenyAnonymous: true}, func(b *broker.Broker) { b.RegisterAuth(a) })
			if rc := connect(t, b, "c1", user, "public"); rc != packets.Success {
				t.Errorf("right password: %v", rc)
			}
			if rc := connect(t, b, "c2", user, "Public"); rc != packets.BadUserNameOrPassword {
				t.Errorf("wrong password: %v", rc)
			}
			if d, err := a.Authenticate(context.Background(), client(user+"_nobody"), []byte("public")); d != broker.Ignore || err != nil {
				t.Errorf("no entry: %v, %v; want ignore", d, err)
			}
		})
	}
}

// TestEscapedNames: user names with DN specials are escaped into the DN
// and still find their entries.
func TestEscapedNames(t *testing.T) {
	a := newAuth(t, config(t))
	for _, user := range []string{"a,b", "x y"} {
		if d, err := a.Authenticate(context.Background(), client(user), []byte("public")); d != broker.Allow {
			t.Errorf("%q: %v, %v", user, d, err)
		}
	}
}

// TestHostileUsernames: DN and filter injection never authenticates.
func TestHostileUsernames(t *testing.T) {
	cfg := config(t)
	cfg.UnknownUser = broker.Deny
	search := newAuth(t, cfg)
	bcfg := config(t)
	bcfg.UserDN = "uid=%u,ou=People,dc=emqtt,dc=com"
	bind := newAuth(t, bcfg)
	b := brokertest.New(t, broker.Options{DenyAnonymous: true}, func(b *broker.Broker) { b.RegisterAuth(search) })
	hostile := []string{")(uid=*)", "*", "test)(|(username=*)", "te*", "*)(username=test", "test,ou=auth", "cn=test",
		"test+cn=x", `test\`, "#test", " test", "test ", `\74est`, "a b c", "' or '1'='1", "%", "%u", `{"$ne": null}`, "TEST", "Test", "test  "}
	for _, user := range hostile {
		for _, pass := range []string{"public", "alicepw", "*"} {
			if rc := connect(t, b, "hostile", user, pass); rc == packets.Success {
				t.Errorf("user %q, password %q authenticated", user, pass)
			}
			for _, a := range []*authldap.Auth{search, bind} {
				if d, _ := a.Authenticate(context.Background(), client(user), []byte(pass)); d == broker.Allow {
					t.Errorf("user %q, password %q: allowed", user, pass)
				}
			}
		}
	}
	for _, user := range []string{"alice)(uid=*", "*", "alice,ou=People"} {
		if d, _ := bind.Authenticate(context.Background(), client(user), []byte("alicepw")); d == broker.Allow {
			t.Errorf("bind as %q allowed", user)
		}
	}
}

// TestBindMode is EMQ 2.0's user_dn: the module binds as the user.
func TestBindMode(t *testing.T) {
	cfg := config(t)
	cfg.UserDN = "uid=%u,ou=People,dc=emqtt,dc=com"
	a := newAuth(t, cfg)
	ctx := context.Background()
	for _, tc := range []struct {
		user, pass string
		want       broker.Decision
	}{
		{"alice", "alicepw", broker.Allow},
		{"alice", "wrong", broker.Deny},
		{"bob", "alicepw", broker.Deny}, // slapd answers invalid credentials for a missing DN too
		{"alice", "", broker.Deny},      // never an unauthenticated bind
	} {
		if d, err := a.Authenticate(ctx, client(tc.user), []byte(tc.pass)); d != tc.want {
			t.Errorf("%s/%q: %v, %v; want %v", tc.user, tc.pass, d, err, tc.want)
		}
	}
}

// TestAnonymousSearch: without a bind DN the directory's access rules
// hide the password attribute, so nobody authenticates.
func TestAnonymousSearch(t *testing.T) {
	cfg := config(t)
	cfg.BindDN, cfg.BindPassword = "", ""
	a := newAuth(t, cfg)
	if d, _ := a.Authenticate(context.Background(), client("test"), []byte("public")); d != broker.Deny {
		t.Errorf("password hidden from an anonymous search: %v", d)
	}
	cfg = config(t)
	cfg.BindPassword = "wrong"
	logs := newLogCount()
	cfg.Logger = slog.New(logs)
	bad := newAuth(t, cfg)
	for range 3 {
		if d, _ := bad.Authenticate(context.Background(), client("test"), []byte("public")); d != broker.Deny {
			t.Errorf("wrong bind password: %v", d)
		}
	}
	if n := logs.count(slog.LevelError); n != 1 {
		t.Errorf("%d error lines for a wrong bind password, want 1: %q", n, logs.msgs)
	}
}

func TestDown(t *testing.T) {
	logs := newLogCount()
	cfg := via(config(t), backendtest.ClosedAddr(t))
	cfg.Timeout, cfg.Logger = 500*time.Millisecond, slog.New(logs)
	a := newAuth(t, cfg)
	b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) { b.RegisterAuth(a) })
	for i := range 5 {
		start := time.Now()
		if rc := connect(t, b, fmt.Sprint("c", i), "test", "public"); rc != packets.BadUserNameOrPassword {
			t.Errorf("server down: %v", rc)
		}
		if d := time.Since(start); d > cfg.Timeout+500*time.Millisecond {
			t.Errorf("connect took %v with the server down", d)
		}
	}
	cfg.AuthOnError = authldap.Ignore
	ig := newAuth(t, cfg)
	if d, _ := ig.Authenticate(context.Background(), client("test"), []byte("public")); d != broker.Ignore {
		t.Errorf("auth_on_error = ignore: %v", d)
	}
	if n := logs.count(slog.LevelError); n != 2 {
		t.Errorf("%d error lines for two bursts: %q", n, logs.msgs)
	}
}

func TestOutage(t *testing.T) {
	host, port := ldapAddr(t)
	proxy := backendtest.NewProxy(t, net.JoinHostPort(host, port))
	logs := newLogCount()
	const timeout = 500 * time.Millisecond
	cfg := via(config(t), proxy.Addr())
	cfg.Timeout, cfg.PoolSize, cfg.Logger = timeout, 4, slog.New(logs)
	a := newAuth(t, cfg)
	b := brokertest.New(t, broker.Options{DenyAnonymous: true}, func(b *broker.Broker) { b.RegisterAuth(a) })
	if rc := connect(t, b, "c0", "test", "public"); rc != packets.Success {
		t.Fatalf("before the outage: %v", rc)
	}
	proxy.Stop()
	var worst time.Duration
	for i := range 5 {
		start := time.Now()
		if rc := connect(t, b, fmt.Sprint("down", i), "test", "public"); rc != packets.BadUserNameOrPassword {
			t.Errorf("server down: %v", rc)
		}
		if d := time.Since(start); d > timeout+500*time.Millisecond {
			t.Errorf("server down: connect took %v", d)
		}
		worst = max(worst, time.Since(start))
	}
	if err := proxy.Start(); err != nil {
		t.Fatal(err)
	}
	if rc := connect(t, b, "back", "test", "public"); rc != packets.Success {
		t.Errorf("after the server came back: %v", rc)
	}
	proxy.SetBlackhole(true)
	start := time.Now()
	var wg sync.WaitGroup
	codes := make([]packets.ReasonCode, 10)
	for i := range codes {
		wg.Go(func() { codes[i] = connect(t, b, fmt.Sprint("hang", i), "test", "public") })
	}
	wg.Wait()
	elapsed := time.Since(start)
	t.Logf("server down: slowest connect %v; server hanging: %d concurrent connects answered in %v (timeout %v)", worst, len(codes), elapsed, timeout)
	for i, rc := range codes {
		if rc != packets.BadUserNameOrPassword {
			t.Errorf("hanging server, connect %d: %v", i, rc)
		}
	}
	if elapsed > timeout+time.Second {
		t.Errorf("10 concurrent connects to a hanging server took %v, timeout %v", elapsed, timeout)
	}
	proxy.SetBlackhole(false)
	deadline := time.Now().Add(5 * time.Second)
	for i := 0; connect(t, b, fmt.Sprint("recover", i), "test", "public") != packets.Success; i++ {
		if time.Now().After(deadline) {
			t.Fatal("no recovery")
		}
	}
	if n := logs.count(slog.LevelError); n != 2 {
		t.Errorf("%d error lines for 2 bursts: %q", n, logs.msgs)
	}
}

func TestCache(t *testing.T) {
	host, port := ldapAddr(t)
	proxy := backendtest.NewProxy(t, net.JoinHostPort(host, port))
	cfg := via(config(t), proxy.Addr())
	cfg.Timeout, cfg.CacheTTL = 300*time.Millisecond, time.Minute
	a := newAuth(t, cfg)
	ctx := context.Background()
	if d, err := a.Authenticate(ctx, client("test"), []byte("public")); d != broker.Allow {
		t.Fatalf("first connect: %v, %v", d, err)
	}
	proxy.Stop()
	if d, _ := a.Authenticate(ctx, client("test"), []byte("public")); d != broker.Allow {
		t.Errorf("cached, server down: %v", d)
	}
	if d, _ := a.Authenticate(ctx, client("test"), []byte("bad")); d != broker.Deny {
		t.Errorf("cached, wrong password: %v", d)
	}
	a.ClearCache()
	if d, _ := a.Authenticate(ctx, client("test"), []byte("public")); d != broker.Deny {
		t.Errorf("cache cleared, server down: %v", d)
	}
}

// TestPlugin loads the plugin with its defaults (EMQ 2.3's directory
// layout), pointed at the test server.
func TestPlugin(t *testing.T) {
	host, port := ldapAddr(t)
	m, err := conf.ParseString(fmt.Sprintf("auth.ldap.servers = %s\nauth.ldap.port = %s\n", host, port), "test.conf")
	if err != nil {
		t.Fatal(err)
	}
	b := brokertest.New(t, broker.Options{DenyAnonymous: true}, func(b *broker.Broker) {
		if err := b.Plugins().Register(authldap.Plugin); err != nil {
			t.Fatal(err)
		}
		if err := b.Plugins().LoadWith(context.Background(), "emq_auth_ldap", m); err != nil {
			t.Fatal(err)
		}
	})
	if rc := connect(t, b, "c1", "test", "public"); rc != packets.Success {
		t.Errorf("seed user: %v", rc)
	}
	if rc := connect(t, b, "c2", "test", "123456"); rc != packets.BadUserNameOrPassword {
		t.Errorf("wrong password: %v", rc)
	}
	if rc := connect(t, b, "c3", "nobody", "public"); rc != packets.BadUserNameOrPassword {
		t.Errorf("no entry, anonymous denied: %v", rc)
	}
}

func TestParseConfig(t *testing.T) {
	m, err := conf.ParseString(authldap.Defaults, "emq_auth_ldap.conf")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := authldap.ParseConfig(m)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Servers) != 1 || cfg.Servers[0] != "127.0.0.1" || cfg.Port != 389 || cfg.BindDN != "cn=root,dc=emqtt,dc=com" ||
		cfg.BindPassword != "public" || cfg.Timeout != 30*time.Second || cfg.AuthDN != "cn=%u,ou=auth,dc=emqtt,dc=com" ||
		cfg.PasswordHash != "sha256" || cfg.SSL || cfg.UnknownUser != broker.Ignore || cfg.PoolSize != 8 {
		t.Errorf("defaults: %+v", cfg)
	}
	over, _ := conf.ParseString("auth.ldap.password_hash = salt sha256\nauth.ldap.servers = a, b\n", "x.conf")
	if cfg, err = authldap.ParseConfig(m.Merge(over)); err != nil || cfg.PasswordHash != "salt,sha256" || len(cfg.Servers) != 2 {
		t.Errorf("EMQ's space-separated hash, server list: %+v, %v", cfg, err)
	}
	bad, _ := conf.ParseString(`auth.ldap.port = 70000
auth.ldap.timeout = soon
auth.ldap.auth_dn = cn=%u,,dc=x
auth.ldap.password_hash = sha3
auth.ldap.auth_on_error = allow
auth.ldap.ssl = maybe
auth.ldap.colour = blue
`, "bad.conf")
	_, err = authldap.ParseConfig(m.Merge(bad))
	for _, want := range []string{"bad.conf:1: auth.ldap.port", "bad.conf:2: auth.ldap.timeout", "bad.conf:3: auth.ldap.auth_dn",
		"bad.conf:4: auth.ldap.password_hash", "bad.conf:5: auth.ldap.auth_on_error", "bad.conf:6: auth.ldap.ssl", "bad.conf:7: auth.ldap.colour"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}
