package authmongo_test

import (
	"context"
	"crypto/md5"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"golang.org/x/crypto/bcrypt"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/auth/authmongo"
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

// config is the seed's layout in the test database.
func config(addr string) authmongo.Config {
	return authmongo.Config{
		Addrs:      []string{addr},
		Database:   testDB,
		AuthQuery:  authmongo.AuthQuery{Collection: "mqtt_user", SaltField: "salt"},
		SuperQuery: authmongo.SuperQuery{Collection: "mqtt_user"},
		ACLQuery:   authmongo.ACLQuery{Collection: "mqtt_acl"},
	}
}

func newAuth(t testing.TB, cfg authmongo.Config) *authmongo.Auth {
	t.Helper()
	a, err := authmongo.New(cfg)
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

func TestHashes(t *testing.T) {
	addr, insert := seed(t)
	bc, err := bcrypt.GenerateFromPassword([]byte("public"), 4)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := pbkdf2.Key(sha256.New, "public", []byte("salt1"), 1000, 20)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ hash, stored, salt string }{
		{"plain", "public", ""},
		{"md5", hexSum(md5.New, "public"), ""},
		{"sha", hexSum(sha1.New, "public"), ""},
		{"sha256", hexSum(sha256.New, "public"), ""},
		{"sha512", hexSum(sha512.New, "public"), ""},
		{"salt,sha256", hexSum(sha256.New, "s4lt", "public"), "s4lt"},
		{"sha256,salt", hexSum(sha256.New, "public", "s4lt"), "s4lt"},
		{"salt,md5", hexSum(md5.New, "s4lt", "public"), "s4lt"},
		{"pbkdf2,sha256,1000,20", hex.EncodeToString(pb), "salt1"},
		{"salt,bcrypt", string(bc), string(bc[:29])},
		{"bcrypt", string(bc), ""},
	}
	user := func(h string) string { return "hash_" + strings.ReplaceAll(h, ",", "_") }
	for _, tc := range cases {
		d := bson.D{{Key: "username", Value: user(tc.hash)}, {Key: "password", Value: tc.stored}}
		if tc.salt != "" {
			d = append(d, bson.E{Key: "salt", Value: tc.salt})
		}
		insert("mqtt_user", d)
	}
	for _, tc := range cases {
		t.Run(tc.hash, func(t *testing.T) {
			cfg := config(addr)
			cfg.PasswordHash = tc.hash
			a := newAuth(t, cfg)
			b := brokertest.New(t, broker.Options{DenyAnonymous: true}, func(b *broker.Broker) { b.RegisterAuth(a) })
			if rc := connect(t, b, "c1", user(tc.hash), "public"); rc != packets.Success {
				t.Errorf("right password: %v", rc)
			}
			if rc := connect(t, b, "c2", user(tc.hash), "Public"); rc != packets.BadUserNameOrPassword {
				t.Errorf("wrong password: %v", rc)
			}
			if d, err := a.Authenticate(context.Background(), client(user(tc.hash)+"_nobody"), []byte("public")); d != broker.Ignore || err != nil {
				t.Errorf("unknown user: %v, %v; want ignore", d, err)
			}
		})
	}
}

// TestSeedLayout uses the seed's collections and examples: users with
// is_superuser, and ACL documents with publish, subscribe and pubsub.
func TestSeedLayout(t *testing.T) {
	addr, insert := seed(t)
	pw := hexSum(sha256.New, "passwd")
	insert("mqtt_user",
		bson.D{{Key: "username", Value: "test"}, {Key: "password", Value: pw}, {Key: "is_superuser", Value: false}, {Key: "created", Value: time.Now()}},
		bson.D{{Key: "username", Value: "root"}, {Key: "password", Value: pw}, {Key: "is_superuser", Value: true}},
		bson.D{{Key: "username", Value: "one"}, {Key: "password", Value: pw}, {Key: "is_superuser", Value: int32(1)}},
		bson.D{{Key: "username", Value: "str"}, {Key: "password", Value: pw}, {Key: "is_superuser", Value: "true"}},
		bson.D{{Key: "username", Value: "nopass"}},
		bson.D{{Key: "username", Value: "admin"}, {Key: "password", Value: pw}},
	)
	insert("mqtt_acl",
		bson.D{{Key: "username", Value: "test"}, {Key: "publish", Value: bson.A{"t/1", "t/2"}}, {Key: "subscribe", Value: bson.A{"user/%u", "client/%c"}}},
		bson.D{{Key: "username", Value: "test"}, {Key: "pubsub", Value: bson.A{"shared/#"}}},
		bson.D{{Key: "username", Value: "admin"}, {Key: "pubsub", Value: bson.A{"#"}}},
		bson.D{{Key: "username", Value: "empty"}},
	)
	a := newAuth(t, config(addr))
	ctx := context.Background()
	for user, want := range map[string]bool{"test": false, "root": true, "one": true, "str": false, "nobody": false} {
		if got, err := a.IsSuperuser(ctx, client(user)); got != want || err != nil {
			t.Errorf("IsSuperuser(%s) = %v, %v; want %v", user, got, err, want)
		}
	}
	if d, _ := a.Authenticate(ctx, client("nopass"), []byte("passwd")); d != broker.Deny {
		t.Errorf("document without a password: %v", d)
	}
	test := &broker.ClientInfo{ClientID: "dev1", Username: "test"}
	sub, pub := broker.AccessSubscribe, broker.AccessPublish
	for _, tc := range []struct {
		c      *broker.ClientInfo
		access broker.Access
		topic  string
		want   broker.Decision
	}{
		{test, pub, "t/1", broker.Allow},
		{test, sub, "t/1", broker.Deny},
		{test, sub, "user/test", broker.Allow},
		{test, sub, "user/other", broker.Deny},
		{test, sub, "client/dev1", broker.Allow},
		{test, pub, "client/dev1", broker.Deny},
		{test, pub, "shared/a/b", broker.Allow},
		{test, sub, "shared", broker.Allow},
		{test, pub, "elsewhere", broker.Deny},
		{client("admin"), pub, "any/thing", broker.Allow},
		{client("admin"), sub, "$SYS/brokers", broker.Deny}, // '#' does not match '$' topics
		{client("empty"), pub, "t/1", broker.Deny},          // a document, no topic
		{client("nobody"), pub, "t/1", broker.Ignore},       // no document
		{client("$SYS"), pub, "t/1", broker.Ignore},
		{&broker.ClientInfo{ClientID: "x"}, pub, "t/1", broker.Ignore},
	} {
		if got, err := a.Authorize(ctx, tc.c, tc.access, tc.topic); got != tc.want || err != nil {
			t.Errorf("%s %v %s: %v, %v; want %v", tc.c.Username, tc.access, tc.topic, got, err, tc.want)
		}
	}
	b := brokertest.New(t, broker.Options{DenyAnonymous: true}, func(b *broker.Broker) {
		b.RegisterAuth(a)
		b.RegisterACL(a)
	})
	root := b.Dial(t, "root-1", brokertest.WithCredentials("root", "passwd"))
	if q := root.Subscribe(t, "secret/#", 1); q != 1 {
		t.Errorf("superuser subscribe: %#x", q)
	}
	c := b.Dial(t, "dev1", brokertest.WithCredentials("test", "passwd"))
	if q := c.Subscribe(t, "secret/#", 1); q != 0x80 {
		t.Errorf("subscribe outside the ACL: %#x", q)
	}
	if q := c.Subscribe(t, "user/test", 1); q != 1 {
		t.Errorf("subscribe inside the ACL: %#x", q)
	}
	root.Publish(t, "user/test", []byte("x"), 1, false)
	c.Expect(t, "user/test")
}

// TestHostileUsernames: values go into the selector document as strings,
// never as operators or query text.
func TestHostileUsernames(t *testing.T) {
	addr, insert := seed(t)
	insert("mqtt_user",
		bson.D{{Key: "username", Value: "a"}, {Key: "password", Value: "pw"}},
		bson.D{{Key: "username", Value: "b"}, {Key: "password", Value: "pw"}})
	insert("mqtt_acl", bson.D{{Key: "username", Value: "a"}, {Key: "pubsub", Value: bson.A{"#"}}})
	cfg := config(addr)
	cfg.PasswordHash = "plain"
	a := newAuth(t, cfg)
	b := brokertest.New(t, broker.Options{DenyAnonymous: true}, func(b *broker.Broker) { b.RegisterAuth(a) })
	if rc := connect(t, b, "ok", "a", "pw"); rc != packets.Success {
		t.Fatalf("legitimate user: %v", rc)
	}
	hostile := []string{`{"$ne": null}`, `{"$gt": ""}`, `{"$regex": ".*"}`, "$ne", "' or '1'='1", "%", "%u", "*", ".*", ")(uid=*)", "a b c", "a\tb", `a"`, `{"username": "a"}`}
	for _, user := range hostile {
		if rc := connect(t, b, "hostile", user, "pw"); rc == packets.Success {
			t.Errorf("user %q authenticated", user)
		}
		if d, _ := a.Authenticate(context.Background(), client(user), []byte("pw")); d == broker.Allow {
			t.Errorf("user %q: module allowed", user)
		}
		if d, _ := a.Authorize(context.Background(), client(user), broker.AccessPublish, "x"); d == broker.Allow {
			t.Errorf("user %q: ACL allowed", user)
		}
	}
}

func TestDown(t *testing.T) {
	addr := backendtest.ClosedAddr(t)
	logs := newLogCount()
	cfg := config(addr)
	cfg.Timeout = 500 * time.Millisecond
	cfg.Logger = slog.New(logs)
	a := newAuth(t, cfg)
	b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
		b.RegisterAuth(a)
		b.RegisterACL(a)
	})
	for i := range 3 {
		start := time.Now()
		if rc := connect(t, b, fmt.Sprint("c", i), "u", "p"); rc != packets.BadUserNameOrPassword {
			t.Errorf("server down: %v", rc)
		}
		if d := time.Since(start); d > cfg.Timeout+500*time.Millisecond {
			t.Errorf("connect took %v with the server down, timeout %v", d, cfg.Timeout)
		}
	}
	if d, _ := a.Authorize(context.Background(), client("u"), broker.AccessPublish, "t"); d != broker.Deny {
		t.Errorf("ACL with the server down: %v", d)
	}
	cfg.AuthOnError, cfg.ACLOnError = authmongo.Ignore, authmongo.Allow
	ig := newAuth(t, cfg)
	if d, _ := ig.Authenticate(context.Background(), client("u"), []byte("p")); d != broker.Ignore {
		t.Errorf("auth_on_error = ignore: %v", d)
	}
	if d, _ := ig.Authorize(context.Background(), client("u"), broker.AccessPublish, "t"); d != broker.Allow {
		t.Errorf("acl_on_error = allow: %v", d)
	}
	if n := logs.count(slog.LevelError); n != 2 {
		t.Errorf("%d error lines for two bursts: %q", n, logs.msgs)
	}
}

// TestOutage runs through a proxy: the server goes down, then hangs, then
// comes back.
func TestOutage(t *testing.T) {
	addr, insert := seed(t)
	insert("mqtt_user", bson.D{{Key: "username", Value: "olga"}, {Key: "password", Value: hexSum(sha256.New, "pw")}})
	proxy := backendtest.NewProxy(t, addr)
	logs := newLogCount()
	const timeout = 500 * time.Millisecond
	cfg := config(proxy.Addr())
	cfg.Timeout, cfg.PoolSize, cfg.Logger = timeout, 4, slog.New(logs)
	a := newAuth(t, cfg)
	b := brokertest.New(t, broker.Options{DenyAnonymous: true}, func(b *broker.Broker) { b.RegisterAuth(a) })
	if rc := connect(t, b, "c0", "olga", "pw"); rc != packets.Success {
		t.Fatalf("before the outage: %v", rc)
	}
	proxy.Stop()
	var worst time.Duration
	for i := range 5 {
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
	waitRecovery(t, b, "olga", "pw")

	proxy.SetBlackhole(true)
	start := time.Now()
	var wg sync.WaitGroup
	codes := make([]packets.ReasonCode, 10)
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
	if elapsed > timeout+time.Second {
		t.Errorf("10 concurrent connects to a hanging server took %v, timeout %v", elapsed, timeout)
	}
	proxy.SetBlackhole(false)
	waitRecovery(t, b, "olga", "pw")
	if n := logs.count(slog.LevelError); n != 2 {
		t.Errorf("%d error lines for 2 bursts: %q", n, logs.msgs)
	}
}

func waitRecovery(t *testing.T, b *brokertest.Broker, user, pass string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; connect(t, b, fmt.Sprint("recover", i), user, pass) != packets.Success; i++ {
		if time.Now().After(deadline) {
			t.Fatal("no recovery after the server came back")
		}
	}
}

func TestCache(t *testing.T) {
	addr, insert := seed(t)
	insert("mqtt_user", bson.D{{Key: "username", Value: "carl"}, {Key: "password", Value: hexSum(sha256.New, "pw")}})
	proxy := backendtest.NewProxy(t, addr)
	cfg := config(proxy.Addr())
	cfg.Timeout, cfg.CacheTTL = 300*time.Millisecond, time.Minute
	a := newAuth(t, cfg)
	ctx := context.Background()
	if d, err := a.Authenticate(ctx, client("carl"), []byte("pw")); d != broker.Allow {
		t.Fatalf("first connect: %v, %v", d, err)
	}
	proxy.Stop()
	if d, _ := a.Authenticate(ctx, client("carl"), []byte("pw")); d != broker.Allow {
		t.Errorf("cached, server down: %v", d)
	}
	if d, _ := a.Authenticate(ctx, client("carl"), []byte("bad")); d != broker.Deny {
		t.Errorf("cached, wrong password: %v", d)
	}
	a.ClearCache()
	if d, _ := a.Authenticate(ctx, client("carl"), []byte("pw")); d != broker.Deny {
		t.Errorf("cache cleared, server down: %v", d)
	}
}

func TestPlugin(t *testing.T) {
	addr, insert := seed(t)
	insert("mqtt_user", bson.D{{Key: "username", Value: "pat"}, {Key: "password", Value: hexSum(sha256.New, "pw")}})
	insert("mqtt_acl", bson.D{{Key: "username", Value: "pat"}, {Key: "pubsub", Value: bson.A{"pat/#"}}})
	m, err := conf.ParseString(fmt.Sprintf("auth.mongo.server = %s\nauth.mongo.database = %s\n", addr, testDB), "test.conf")
	if err != nil {
		t.Fatal(err)
	}
	b := brokertest.New(t, broker.Options{DenyAnonymous: true}, func(b *broker.Broker) {
		if err := b.Plugins().Register(authmongo.Plugin); err != nil {
			t.Fatal(err)
		}
		if err := b.Plugins().LoadWith(context.Background(), "emq_auth_mongo", m); err != nil {
			t.Fatal(err)
		}
	})
	c := b.Dial(t, "pat-1", brokertest.WithCredentials("pat", "pw"))
	if q := c.Subscribe(t, "other", 0); q != 0x80 {
		t.Errorf("subscribe outside the ACL: %#x", q)
	}
	if q := c.Subscribe(t, "pat/x", 0); q != 0 {
		t.Errorf("subscribe inside the ACL: %#x", q)
	}
	if rc := connect(t, b, "x", "pat", "bad"); rc != packets.BadUserNameOrPassword {
		t.Errorf("wrong password: %v", rc)
	}
	if err := b.Plugins().Unload(context.Background(), "emq_auth_mongo"); err != nil {
		t.Fatal(err)
	}
}

func TestParseConfig(t *testing.T) {
	m, err := conf.ParseString(authmongo.Defaults, "emq_auth_mongo.conf")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := authmongo.ParseConfig(m)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Addrs) != 1 || cfg.Addrs[0] != "127.0.0.1:27017" || cfg.Database != "mqtt" || cfg.PoolSize != 8 ||
		cfg.AuthQuery != (authmongo.AuthQuery{Collection: "mqtt_user", PasswordField: "password", Selector: "username=%u"}) ||
		cfg.SuperQuery.SuperField != "is_superuser" || cfg.ACLQuery.Collection != "mqtt_acl" || cfg.PasswordHash != "sha256" ||
		cfg.ACLNoMatch != authmongo.Deny || cfg.UnknownUser != broker.Ignore || cfg.Timeout != 5*time.Second {
		t.Errorf("defaults: %+v", cfg)
	}
	over, _ := conf.ParseString("auth.mongo.auth_query.password_field = password,salt\nauth.mongo.super_query = off\nauth.mongo.acl_query = off\n", "x.conf")
	cfg, err = authmongo.ParseConfig(m.Merge(over))
	if err != nil || cfg.AuthQuery.SaltField != "salt" || cfg.SuperQuery.Collection != "" || cfg.ACLQuery.Collection != "" {
		t.Errorf("password,salt and switches: %+v, %v", cfg, err)
	}
	bad, _ := conf.ParseString(`auth.mongo.server = a:b
auth.mongo.auth_query.selector = username=%P
auth.mongo.auth_query.password_hash = sha3
auth.mongo.super_query.selector = $where=1
auth.mongo.acl_nomatch = perhaps
auth.mongo.timeout = soon
auth.mongo.colour = blue
`, "bad.conf")
	_, err = authmongo.ParseConfig(m.Merge(bad))
	for _, want := range []string{"bad.conf:1: auth.mongo.server", "bad.conf:2: auth.mongo.auth_query.selector", "bad.conf:3: auth.mongo.auth_query.password_hash",
		"bad.conf:4: auth.mongo.super_query.selector", "bad.conf:5: auth.mongo.acl_nomatch", "bad.conf:6: auth.mongo.timeout", "bad.conf:7: auth.mongo.colour"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}
