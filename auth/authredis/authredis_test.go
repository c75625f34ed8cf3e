package authredis_test

import (
	"context"
	"crypto/md5"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/auth/authredis"
	"github.com/emqgo/broker/auth/internal/backend/backendtest"
	"github.com/emqgo/broker/brokertest"
	"github.com/emqgo/broker/conf"
	"github.com/emqgo/broker/packets"
)

func hexSum(h func() hash.Hash, parts ...string) string {
	d := h()
	for _, p := range parts {
		d.Write([]byte(p))
	}
	return hex.EncodeToString(d.Sum(nil))
}

func newAuth(t testing.TB, cfg authredis.Config) *authredis.Auth {
	t.Helper()
	a, err := authredis.New(cfg)
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

// TestHashes stores one user per password_hash setting and checks the
// right password, a wrong one and an unknown user, through a broker.
func TestHashes(t *testing.T) {
	addr, hset := seed(t)
	bc, err := bcrypt.GenerateFromPassword([]byte("public"), 4)
	if err != nil {
		t.Fatal(err)
	}
	bsalt := string(bc[:29])
	pb, err := pbkdf2.Key(sha256.New, "public", []byte("salt1"), 1000, 20)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		hash, stored, salt string
	}{
		{"plain", "public", ""},
		{"md5", hexSum(md5.New, "public"), ""},
		{"sha", hexSum(sha1.New, "public"), ""},
		{"sha256", hexSum(sha256.New, "public"), ""},
		{"sha512", hexSum(sha512.New, "public"), ""},
		{"salt,md5", hexSum(md5.New, "s4lt", "public"), "s4lt"},
		{"salt,sha256", hexSum(sha256.New, "s4lt", "public"), "s4lt"},
		{"sha256,salt", hexSum(sha256.New, "public", "s4lt"), "s4lt"},
		{"sha,salt", hexSum(sha1.New, "public", "s4lt"), "s4lt"},
		{"pbkdf2,sha256,1000,20", hex.EncodeToString(pb), "salt1"},
		{"salt,bcrypt", string(bc), bsalt},
		{"bcrypt", string(bc), ""},
	} {
		t.Run(tc.hash, func(t *testing.T) {
			user := "hash_" + strings.ReplaceAll(tc.hash, ",", "_")
			if tc.salt != "" {
				hset("mqtt_user:"+user, "password", tc.stored, "salt", tc.salt)
			} else {
				hset("mqtt_user:"+user, "password", tc.stored)
			}
			a := newAuth(t, authredis.Config{Addr: addr, Database: testDB, AuthCmd: "HMGET mqtt_user:%u password salt", PasswordHash: tc.hash})
			b := brokertest.New(t, broker.Options{DenyAnonymous: true}, func(b *broker.Broker) { b.RegisterAuth(a) })
			if rc := connect(t, b, "c1", user, "public"); rc != packets.Success {
				t.Errorf("right password: %v", rc)
			}
			if rc := connect(t, b, "c2", user, "Public"); rc != packets.BadUserNameOrPassword {
				t.Errorf("wrong password: %v", rc)
			}
			if rc := connect(t, b, "c3", user+"_nobody", "public"); rc != packets.BadUserNameOrPassword {
				t.Errorf("unknown user: %v", rc)
			}
			d, err := a.Authenticate(context.Background(), client(user+"_nobody"), []byte("public"))
			if d != broker.Ignore || err != nil {
				t.Errorf("unknown user: %v, %v; want ignore", d, err)
			}
		})
	}
}

// TestSeedLayout uses EMQ's shipped commands (HGET, sha256) on the seed's
// hash layout, and the superuser flag.
func TestSeedLayout(t *testing.T) {
	addr, hset := seed(t)
	hset("mqtt_user:test", "password", hexSum(sha256.New, "passwd"))
	hset("mqtt_user:root", "password", hexSum(sha256.New, "passwd"), "is_superuser", "1")
	hset("mqtt_user:almost", "password", hexSum(sha256.New, "passwd"), "is_superuser", "true")
	hset("mqtt_acl:test", "t/1", "3")
	hset("mqtt_acl:almost", "t/1", "3")
	a := newAuth(t, authredis.Config{Addr: addr, Database: testDB, AuthCmd: authredis.DefaultAuthCmd, PasswordHash: "sha256",
		SuperCmd: authredis.DefaultSuperCmd, ACLCmd: authredis.DefaultACLCmd})
	ctx := context.Background()
	for user, want := range map[string]bool{"test": false, "root": true, "almost": false, "nobody": false} {
		got, err := a.IsSuperuser(ctx, client(user))
		if got != want || err != nil {
			t.Errorf("IsSuperuser(%s) = %v, %v; want %v", user, got, err, want)
		}
	}
	b := brokertest.New(t, broker.Options{DenyAnonymous: true}, func(b *broker.Broker) {
		b.RegisterAuth(a)
		b.RegisterACL(a)
	})
	// The superuser skips the ACL: it may subscribe to anything.
	root := b.Dial(t, "root-1", brokertest.WithCredentials("root", "passwd"))
	if q := root.Subscribe(t, "secret/#", 1); q != 1 {
		t.Errorf("superuser subscribe: %#x", q)
	}
	user := b.Dial(t, "test-1", brokertest.WithCredentials("test", "passwd"))
	if q := user.Subscribe(t, "secret/#", 1); q != 0x80 {
		t.Errorf("user subscribe outside its rules: %#x", q)
	}
	if q := user.Subscribe(t, "t/1", 1); q != 1 {
		t.Errorf("user subscribe inside its rules: %#x", q)
	}
	almost := b.Dial(t, "almost-1", brokertest.WithCredentials("almost", "passwd"))
	if q := almost.Subscribe(t, "secret/#", 0); q != 0x80 {
		t.Errorf(`is_superuser "true" is not "1": %#x`, q)
	}
	root.Publish(t, "t/1", []byte("x"), 1, false)
	user.Expect(t, "t/1")
}

// TestACL checks the access bits, %u and %c, allow, nomatch and ignore.
func TestACL(t *testing.T) {
	addr, hset := seed(t)
	hset("mqtt_acl:alice", "sub/only", "1", "pub/only", "2", "both/+", "3", "user/%u/#", "3", "client/%c", "1", "bad/access", "x")
	hset("mqtt_acl:$sys", "#", "3")
	a := newAuth(t, authredis.Config{Addr: addr, Database: testDB, ACLCmd: authredis.DefaultACLCmd})
	allow := newAuth(t, authredis.Config{Addr: addr, Database: testDB, ACLCmd: authredis.DefaultACLCmd, ACLNoMatch: authredis.Allow})
	ctx := context.Background()
	alice := &broker.ClientInfo{ClientID: "dev1", Username: "alice"}
	sub, pub := broker.AccessSubscribe, broker.AccessPublish
	for _, tc := range []struct {
		c      *broker.ClientInfo
		access broker.Access
		topic  string
		want   broker.Decision
	}{
		{alice, sub, "sub/only", broker.Allow},
		{alice, pub, "sub/only", broker.Deny},
		{alice, pub, "pub/only", broker.Allow},
		{alice, sub, "pub/only", broker.Deny},
		{alice, pub, "both/x", broker.Allow},
		{alice, sub, "both/x", broker.Allow},
		{alice, sub, "both/x/y", broker.Deny},
		{alice, pub, "user/alice", broker.Allow},
		{alice, pub, "user/alice/a/b", broker.Allow},
		{alice, pub, "user/bob/a", broker.Deny},
		{alice, sub, "client/dev1", broker.Allow},
		{alice, sub, "client/dev2", broker.Deny},
		{alice, sub, "bad/access", broker.Deny},
		{alice, sub, "elsewhere", broker.Deny},
		{&broker.ClientInfo{ClientID: "x", Username: "a+"}, sub, "user/a+", broker.Ignore}, // no rules
		{&broker.ClientInfo{ClientID: "x", Username: "nobody"}, pub, "t", broker.Ignore},   // no rules
		{&broker.ClientInfo{ClientID: "x"}, pub, "t", broker.Ignore},                       // no user name
		{&broker.ClientInfo{ClientID: "x", Username: "$sys"}, pub, "t", broker.Ignore},     // '$' names are ignored
	} {
		got, err := a.Authorize(ctx, tc.c, tc.access, tc.topic)
		if got != tc.want || err != nil {
			t.Errorf("%s %v %s: %v, %v; want %v", tc.c.Username, tc.access, tc.topic, got, err, tc.want)
		}
	}
	if got, _ := allow.Authorize(ctx, alice, sub, "elsewhere"); got != broker.Allow {
		t.Errorf("acl_nomatch = allow: %v", got)
	}
	// A user name holding '+' or '/' is compared as text, never a wildcard.
	hset("mqtt_acl:a+", "user/%u", "3")
	plus := &broker.ClientInfo{ClientID: "x", Username: "a+"}
	if got, _ := a.Authorize(ctx, plus, pub, "user/ab"); got != broker.Deny {
		t.Errorf("user name as wildcard: %v", got)
	}
	if got, _ := a.Authorize(ctx, plus, pub, "user/a+"); got != broker.Allow {
		t.Errorf("user name as text: %v", got)
	}
}

// TestHostileUsernames: user names that would change a command's
// arguments if it were built as text never authenticate.
func TestHostileUsernames(t *testing.T) {
	addr, hset := seed(t)
	// If "a b c" were split into arguments, HMGET mqtt_user:a b c
	// password would answer field b of user a.
	hset("mqtt_user:a", "password", "pw", "b", "pw", "c", "pw")
	a := newAuth(t, authredis.Config{Addr: addr, Database: testDB, AuthCmd: "HMGET mqtt_user:%u password salt", PasswordHash: "plain",
		ACLCmd: authredis.DefaultACLCmd})
	b := brokertest.New(t, broker.Options{DenyAnonymous: true}, func(b *broker.Broker) { b.RegisterAuth(a) })
	if rc := connect(t, b, "ok", "a", "pw"); rc != packets.Success {
		t.Fatalf("legitimate user: %v", rc)
	}
	for _, user := range []string{"' or '1'='1", "%", "%u", "%c", "*", "?", ")(uid=*)", `{"$ne": null}`, "a b c", "a password", "a\r\nHGET", "mqtt_user:a", "a*", "a?"} {
		for _, pass := range []string{"pw", "other", "' or '1'='1", "*"} {
			if rc := connect(t, b, "hostile", user, pass); rc == packets.Success {
				t.Errorf("user %q, password %q authenticated", user, pass)
			}
			d, err := a.Authenticate(context.Background(), client(user), []byte(pass))
			if d == broker.Allow {
				t.Errorf("user %q, password %q: module allowed (%v)", user, pass, err)
			}
		}
	}
}

// TestSubscriptions: the mqtt_sub hash subscribes a client when it
// connects, before anything is delivered.
func TestSubscriptions(t *testing.T) {
	addr, hset := seed(t)
	hset("mqtt_user:sue", "password", "pw")
	hset("mqtt_user:pub", "password", "pw")
	hset("mqtt_sub:sue", "news/#", "1", "alerts", "2", "plain", "0", "bad/#/x", "1", "badqos", "7")
	a := newAuth(t, authredis.Config{Addr: addr, Database: testDB, AuthCmd: authredis.DefaultAuthCmd, SubCmd: authredis.DefaultSubCmd})
	ctx := context.Background()
	subs, err := a.Subscriptions(ctx, client("sue"))
	want := []broker.Subscription{{Filter: "alerts", QoS: 2}, {Filter: "news/#", QoS: 1}, {Filter: "plain", QoS: 0}}
	if err != nil || !slices.Equal(subs, want) {
		t.Fatalf("Subscriptions = %v, %v; want %v", subs, err, want)
	}
	b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
		b.RegisterAuth(a)
		a.Attach(b)
	})
	c := b.Dial(t, "sue-1", brokertest.WithCredentials("sue", "pw"))
	got := b.Subscriptions("sue-1")
	if len(got) != 3 {
		t.Fatalf("subscriptions after connect: %v", got)
	}
	p := b.Dial(t, "pub", brokertest.WithCredentials("pub", "pw"))
	p.Publish(t, "news/today", []byte("hello"), 1, false)
	if m := c.Expect(t, "news/today"); string(m.Payload) != "hello" || m.QoS != 1 {
		t.Errorf("delivered %+v", m)
	}
	// A user without a hash gets nothing.
	if got := b.Subscriptions("pub"); len(got) != 0 {
		t.Errorf("anonymous client subscribed to %v", got)
	}
}

// TestDown points the module at a closed port: connects get the on-error
// answers at once.
func TestDown(t *testing.T) {
	addr := backendtest.ClosedAddr(t)
	logs := newLogCount()
	for _, tc := range []struct {
		onError authredis.Answer
		want    packets.ReasonCode
	}{
		{authredis.Deny, packets.BadUserNameOrPassword},
		{authredis.Ignore, packets.Success}, // anonymous allowed
	} {
		a := newAuth(t, authredis.Config{Addr: addr, AuthCmd: authredis.DefaultAuthCmd, ACLCmd: authredis.DefaultACLCmd,
			AuthOnError: tc.onError, ACLOnError: authredis.Deny, Timeout: 500 * time.Millisecond, Logger: slog.New(logs)})
		b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
			b.RegisterAuth(a)
			b.RegisterACL(a)
		})
		for i := range 5 {
			start := time.Now()
			rc := connect(t, b, fmt.Sprint("c", i), "u", "p")
			if rc != tc.want {
				t.Errorf("on error %v: %v, want %v", tc.onError, rc, tc.want)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("connect took %v with the server down", d)
			}
		}
		d, _ := a.Authorize(context.Background(), client("u"), broker.AccessPublish, "t")
		if d != broker.Deny {
			t.Errorf("ACL with the server down: %v", d)
		}
	}
	if n := logs.count(slog.LevelError); n != 2 {
		t.Errorf("%d error lines for two bursts of failures, want 2: %q", n, logs.msgs)
	}
}

// TestOutage runs through a proxy: the server goes down, then hangs, then
// comes back. Connects get the on-error answer within the timeout, a
// hanging server does not hold other connects back, one line is logged
// per burst, and the module recovers by itself.
func TestOutage(t *testing.T) {
	addr, hset := seed(t)
	hset("mqtt_user:olga", "password", "pw")
	proxy := backendtest.NewProxy(t, addr)
	logs := newLogCount()
	const timeout = 400 * time.Millisecond
	a := newAuth(t, authredis.Config{Addr: proxy.Addr(), Database: testDB, AuthCmd: authredis.DefaultAuthCmd, PoolSize: 4,
		Timeout: timeout, Logger: slog.New(logs)})
	b := brokertest.New(t, broker.Options{DenyAnonymous: true}, func(b *broker.Broker) { b.RegisterAuth(a) })
	if rc := connect(t, b, "c0", "olga", "pw"); rc != packets.Success {
		t.Fatalf("before the outage: %v", rc)
	}

	proxy.Stop()
	var worst time.Duration
	for i := range 10 {
		start := time.Now()
		if rc := connect(t, b, fmt.Sprint("down", i), "olga", "pw"); rc != packets.BadUserNameOrPassword {
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
	if rc := connect(t, b, "back", "olga", "pw"); rc != packets.Success {
		t.Errorf("after the server came back: %v", rc)
	}

	// A server that accepts and never answers: 12 connects at once, more
	// than the pool, each answered within about the timeout.
	proxy.SetBlackhole(true)
	start := time.Now()
	var wg sync.WaitGroup
	codes := make([]packets.ReasonCode, 12)
	for i := range codes {
		wg.Go(func() { codes[i] = connect(t, b, fmt.Sprint("hang", i), "olga", "pw") })
	}
	wg.Wait()
	elapsed := time.Since(start)
	t.Logf("server down: slowest connect %v; server hanging: %d concurrent connects answered in %v (timeout %v)", worst, len(codes), elapsed, timeout)
	for i, rc := range codes {
		if rc != packets.BadUserNameOrPassword {
			t.Errorf("hanging server, connect %d: %v", i, rc)
		}
	}
	if elapsed > 2*timeout+500*time.Millisecond {
		t.Errorf("12 concurrent connects to a hanging server took %v, timeout %v", elapsed, timeout)
	}
	proxy.SetBlackhole(false)
	deadline := time.Now().Add(5 * time.Second)
	for connect(t, b, "recovered", "olga", "pw") != packets.Success {
		if time.Now().After(deadline) {
			t.Fatal("no recovery after the server came back")
		}
	}
	if n := logs.count(slog.LevelError); n != 2 {
		t.Errorf("%d error lines for 2 bursts of failures: %q", n, logs.msgs)
	}
	if n := logs.count(slog.LevelInfo); n != 2 {
		t.Errorf("%d recovery lines for 2 bursts: %q", n, logs.msgs)
	}
}

// TestCache: with a cache, a user who connected recently is still
// checked against Redis's last answer while Redis is down; without one,
// every connect asks Redis.
func TestCache(t *testing.T) {
	addr, hset := seed(t)
	hset("mqtt_user:carl", "password", "pw")
	proxy := backendtest.NewProxy(t, addr)
	a := newAuth(t, authredis.Config{Addr: proxy.Addr(), Database: testDB, AuthCmd: authredis.DefaultAuthCmd,
		Timeout: 300 * time.Millisecond, CacheTTL: time.Minute})
	ctx := context.Background()
	if d, err := a.Authenticate(ctx, client("carl"), []byte("pw")); d != broker.Allow {
		t.Fatalf("first connect: %v, %v", d, err)
	}
	proxy.Stop()
	if d, _ := a.Authenticate(ctx, client("carl"), []byte("pw")); d != broker.Allow {
		t.Errorf("cached, server down: %v", d)
	}
	if d, _ := a.Authenticate(ctx, client("carl"), []byte("wrong")); d != broker.Deny {
		t.Errorf("cached answer, wrong password: %v", d)
	}
	a.ClearCache()
	if d, _ := a.Authenticate(ctx, client("carl"), []byte("pw")); d != broker.Deny {
		t.Errorf("cache cleared, server down: %v", d)
	}
}

// TestPlugin loads the plugin as emqd does, with a configuration that
// points at the test database.
func TestPlugin(t *testing.T) {
	addr, hset := seed(t)
	hset("mqtt_user:pat", "password", hexSum(sha256.New, "pw"))
	hset("mqtt_acl:pat", "pat/#", "3")
	hset("mqtt_sub:pat", "pat/inbox", "1")
	m, err := conf.ParseString(fmt.Sprintf("auth.redis.server = %s\nauth.redis.database = %d\n", addr, testDB), "test.conf")
	if err != nil {
		t.Fatal(err)
	}
	b := brokertest.New(t, broker.Options{DenyAnonymous: true}, func(b *broker.Broker) {
		if err := b.Plugins().Register(authredis.Plugin); err != nil {
			t.Fatal(err)
		}
		if err := b.Plugins().LoadWith(context.Background(), "emq_auth_redis", m); err != nil {
			t.Fatal(err)
		}
	})
	c := b.Dial(t, "pat-1", brokertest.WithCredentials("pat", "pw"))
	if q := c.Subscribe(t, "other", 0); q != 0x80 {
		t.Errorf("subscribe outside the rules: %#x", q)
	}
	c.Publish(t, "pat/inbox", []byte("self"), 0, false)
	c.Expect(t, "pat/inbox") // subscribed by mqtt_sub
	if rc := connect(t, b, "x", "pat", "bad"); rc != packets.BadUserNameOrPassword {
		t.Errorf("wrong password: %v", rc)
	}
	if err := b.Plugins().Unload(context.Background(), "emq_auth_redis"); err != nil {
		t.Fatal(err)
	}
	if rc := connect(t, b, "y", "pat", "pw"); rc != packets.BadUserNameOrPassword {
		t.Errorf("after unload, with anonymous denied: %v", rc)
	}
}

func TestParseConfig(t *testing.T) {
	m, err := conf.ParseString(authredis.Defaults, "emq_auth_redis.conf")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := authredis.ParseConfig(m)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:6379" || cfg.PoolSize != 8 || cfg.AuthCmd != authredis.DefaultAuthCmd || cfg.PasswordHash != "sha256" ||
		cfg.SubCmd != authredis.DefaultSubCmd || cfg.ACLNoMatch != authredis.Deny || cfg.UnknownUser != broker.Ignore ||
		cfg.Timeout != 5*time.Second || cfg.CacheTTL != 0 {
		t.Errorf("defaults: %+v", cfg)
	}
	bad, err := conf.ParseString(`auth.redis.server = host:port
auth.redis.password_hash = sha3
auth.redis.auth_cmd = HGET mqtt_user:%P password
auth.redis.acl_nomatch = maybe
auth.redis.auth_on_error = allow
auth.redis.pool = -1
auth.redis.timeout = soon
auth.redis.colour = blue
`, "bad.conf")
	if err != nil {
		t.Fatal(err)
	}
	_, err = authredis.ParseConfig(m.Merge(bad))
	for _, want := range []string{"bad.conf:1: auth.redis.server", "bad.conf:2: auth.redis.password_hash", "bad.conf:3: auth.redis.auth_cmd",
		"bad.conf:4: auth.redis.acl_nomatch", "bad.conf:5: auth.redis.auth_on_error", "bad.conf:6: auth.redis.pool",
		"bad.conf:7: auth.redis.timeout", "bad.conf:8: auth.redis.colour"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
	if _, err := authredis.New(authredis.Config{AuthOnError: authredis.Allow}); err == nil {
		t.Error("AuthOnError allow accepted")
	}
	if _, err := authredis.New(authredis.Config{UnknownUser: broker.Allow}); err == nil {
		t.Error("UnknownUser allow accepted")
	}
	if !errors.Is(nil, nil) {
		t.Fatal()
	}
}
