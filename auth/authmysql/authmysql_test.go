package authmysql_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"go.uber.org/goleak"
	"golang.org/x/crypto/bcrypt"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/auth/authmysql"
	"github.com/emqgo/broker/auth/internal/passwd"
	"github.com/emqgo/broker/auth/internal/sqltest"
	"github.com/emqgo/broker/brokertest"
	"github.com/emqgo/broker/conf"
	"github.com/emqgo/broker/packets"
)

// The server the tests use: MariaDB or MySQL, as scripts/services starts
// it, with a login that may create databases.
var (
	serverAddr = sqltest.Env("EMQGO_MYSQL_ADDR", "127.0.0.1:3306")
	serverUser = sqltest.Env("EMQGO_MYSQL_USER", "root")
	serverPass = os.Getenv("EMQGO_MYSQL_PASSWORD")
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The seed's tables (EMQ 2.0 docs, emq_auth_mysql).
const schema = "CREATE TABLE `mqtt_user` (" +
	"`id` int(11) unsigned NOT NULL AUTO_INCREMENT," +
	"`username` varchar(100) DEFAULT NULL," +
	"`password` varchar(100) DEFAULT NULL," +
	"`salt` varchar(20) DEFAULT NULL," +
	"`is_superuser` tinyint(1) DEFAULT 0," +
	"`created` datetime DEFAULT NULL," +
	"PRIMARY KEY (`id`)," +
	"UNIQUE KEY `mqtt_username` (`username`)" +
	") ENGINE=MyISAM DEFAULT CHARSET=utf8;" +
	"CREATE TABLE `mqtt_acl` (" +
	"`id` int(11) unsigned NOT NULL AUTO_INCREMENT," +
	"`allow` int(1) DEFAULT NULL COMMENT '0: deny, 1: allow'," +
	"`ipaddr` varchar(60) DEFAULT NULL COMMENT 'IpAddress'," +
	"`username` varchar(100) DEFAULT NULL COMMENT 'Username'," +
	"`clientid` varchar(100) DEFAULT NULL COMMENT 'ClientId'," +
	"`access` int(2) NOT NULL COMMENT '1: subscribe, 2: publish, 3: pubsub'," +
	"`topic` varchar(100) NOT NULL DEFAULT '' COMMENT 'Topic Filter'," +
	"PRIMARY KEY (`id`)" +
	") ENGINE=InnoDB DEFAULT CHARSET=utf8;" +
	// The seed's columns are too narrow for sha512 (128 hex digits) and
	// bcrypt salts (29 characters).
	"ALTER TABLE `mqtt_user` MODIFY `password` varchar(128), MODIFY `salt` varchar(40);" +
	// The seed's sample rows, then rows of the tests'.
	"INSERT INTO `mqtt_acl` (`id`, `allow`, `ipaddr`, `username`, `clientid`, `access`, `topic`) VALUES " +
	"(1,1,NULL,'$all',NULL,2,'#')," +
	"(2,0,NULL,'$all',NULL,1,'$SYS/#')," +
	"(3,0,NULL,'$all',NULL,1,'eq #')," +
	"(5,1,'127.0.0.1',NULL,NULL,2,'$SYS/#')," +
	"(6,1,'127.0.0.1',NULL,NULL,2,'#')," +
	"(7,1,NULL,'dashboard',NULL,1,'$SYS/#')," +
	"(10,1,NULL,'alice',NULL,1,'users/%u/#')," +
	"(11,0,NULL,'alice',NULL,3,'secret/#')," +
	"(12,1,NULL,NULL,'dev-9',1,'devices/%c')," +
	"(13,1,'10.0.0.0/8','alice',NULL,1,'and/topic')," +
	"(14,1,'127.0.0.1','alice',NULL,1,'and/topic')"

// hashUsers have one user per password_hash, each with password "public".
var hashUsers = []struct{ name, hash string }{
	{"u_plain", "plain"},
	{"u_md5", "md5"},
	{"u_sha", "sha"},
	{"u_sha256", "sha256"},
	{"u_sha512", "sha512"},
	{"u_salt_sha256", "salt,sha256"},
	{"u_sha256_salt", "sha256,salt"},
	{"u_salt_md5", "salt,md5"},
	{"u_pbkdf2", "pbkdf2,sha256,1000,20"},
	{"u_bcrypt", "bcrypt"},
	{"u_salt_bcrypt", "salt,bcrypt"},
}

const saltedAuthQuery = "select password, salt from mqtt_user where username = '%u' limit 1"

// fixture is a throwaway database with the seed's tables, dropped at the
// end of the test.
type fixture struct {
	name string
	db   *sql.DB // the test database, as the administrator
}

func adminDSN(db string) string {
	c := mysql.NewConfig()
	c.User, c.Passwd, c.Net, c.Addr, c.DBName = serverUser, serverPass, "tcp", serverAddr, db
	c.MultiStatements = true
	c.Timeout = 5 * time.Second
	return c.FormatDSN()
}

func setup(t testing.TB) *fixture {
	t.Helper()
	sqltest.RequireServer(t, "MySQL/MariaDB", serverAddr)
	root, err := sql.Open("mysql", adminDSN(""))
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	f := &fixture{name: sqltest.DBName()}
	if _, err := root.Exec("CREATE DATABASE " + f.name); err != nil {
		t.Fatalf("CREATE DATABASE as %s at %s: %v (%s starts the server and lets root in without a password)", serverUser, serverAddr, err, sqltest.Services)
	}
	t.Cleanup(func() {
		root, err := sql.Open("mysql", adminDSN(""))
		if err != nil {
			t.Error(err)
			return
		}
		defer root.Close()
		if _, err := root.Exec("DROP DATABASE " + f.name); err != nil {
			t.Errorf("DROP DATABASE %s: %v", f.name, err)
		}
	})
	if f.db, err = sql.Open("mysql", adminDSN(f.name)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.db.Close() })
	if _, err := f.db.Exec(schema); err != nil {
		t.Fatal(err)
	}
	for _, u := range hashUsers {
		h := passwd.MustParse(u.hash)
		var stored, salt string
		switch u.hash {
		case "bcrypt":
			// An independent implementation makes the stored hash.
			b, err := bcrypt.GenerateFromPassword([]byte("public"), 4)
			if err != nil {
				t.Fatal(err)
			}
			stored = string(b)
		case "salt,bcrypt":
			salt = string(passwd.NewBcryptSalt(4))
			if stored, err = h.Sum([]byte("public"), []byte(salt)); err != nil {
				t.Fatal(err)
			}
		default:
			salt = "s4lt"
			if stored, err = h.Sum([]byte("public"), []byte(salt)); err != nil {
				t.Fatal(err)
			}
		}
		f.addUser(t, u.name, stored, salt, 0)
	}
	sha := passwd.MustParse("sha256")
	for _, u := range []struct {
		name  string
		super int
	}{{"admin", 1}, {"two", 2}, {"alice", 0}, {"bob", 0}, {"dashboard", 0}, {"$sys", 0}} {
		stored, _ := sha.Sum([]byte("public"), nil)
		f.addUser(t, u.name, stored, "", u.super)
	}
	if _, err := f.db.Exec("INSERT INTO mqtt_user (username, password) VALUES ('nopw', NULL)"); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) addUser(t testing.TB, name, stored, salt string, super int) {
	t.Helper()
	var s any
	if salt != "" {
		s = salt
	}
	if _, err := f.db.Exec("INSERT INTO mqtt_user (username, password, salt, is_superuser, created) VALUES (?, ?, ?, ?, NOW())", name, stored, s, super); err != nil {
		t.Fatal(err)
	}
}

// config is the seed's configuration for the fixture's database.
func (f *fixture) config() authmysql.Config {
	return authmysql.Config{
		Server: serverAddr, Username: serverUser, Password: serverPass, Database: f.name,
		AuthQuery: authmysql.DefaultAuthQuery, PasswordHash: "sha256",
		SuperQuery: authmysql.DefaultSuperQuery, ACLQuery: authmysql.DefaultACLQuery,
		ACLNoMatch: broker.Deny, QueryTimeout: 2 * time.Second,
	}
}

func newAuth(t testing.TB, cfg authmysql.Config) *authmysql.Auth {
	t.Helper()
	a, err := authmysql.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// start runs a broker with a as its auth and ACL module.
func start(t testing.TB, a *authmysql.Auth, opts broker.Options) *brokertest.Broker {
	t.Helper()
	return brokertest.New(t, opts, func(b *broker.Broker) {
		b.RegisterAuth(a)
		b.RegisterACL(a)
	})
}

func connect(t testing.TB, b *brokertest.Broker, id, user, pass string) packets.ReasonCode {
	t.Helper()
	var opts []brokertest.ClientOption
	switch {
	case pass != "":
		opts = append(opts, brokertest.WithCredentials(user, pass))
	case user != "":
		opts = append(opts, brokertest.WithUsername(user))
	}
	c, rc := b.Connect(t, id, opts...)
	if rc == packets.Success {
		c.Disconnect(t)
	}
	return rc
}

func TestHashes(t *testing.T) {
	f := setup(t)
	for _, u := range hashUsers {
		t.Run(u.hash, func(t *testing.T) {
			cfg := f.config()
			cfg.PasswordHash = u.hash
			if strings.Contains(u.hash, "salt") || strings.HasPrefix(u.hash, "pbkdf2") {
				cfg.AuthQuery = saltedAuthQuery
			}
			b := start(t, newAuth(t, cfg), broker.Options{DenyAnonymous: true})
			for _, tc := range []struct {
				user, pass string
				want       packets.ReasonCode
			}{
				{u.name, "public", packets.Success},
				{u.name, "Public", packets.BadUserNameOrPassword},
				{u.name, "public ", packets.BadUserNameOrPassword},
				{u.name, "", packets.BadUserNameOrPassword},
				{"nobody", "public", packets.BadUserNameOrPassword},
				{"nopw", "public", packets.BadUserNameOrPassword},
			} {
				if got := connect(t, b, "c1", tc.user, tc.pass); got != tc.want {
					t.Errorf("%q/%q: %v, want %v", tc.user, tc.pass, got, tc.want)
				}
			}
			if u.hash != "plain" && u.hash != "bcrypt" {
				// Another hash's user never passes: the hashes differ.
				if got := connect(t, b, "c1", "u_plain", "public"); got != packets.BadUserNameOrPassword {
					t.Errorf("u_plain under %s: %v", u.hash, got)
				}
			}
		})
	}
	// The space-separated forms of EMQ 2.0's PostgreSQL configuration are
	// read too.
	cfg := f.config()
	cfg.PasswordHash, cfg.AuthQuery = "salt sha256", saltedAuthQuery
	b := start(t, newAuth(t, cfg), broker.Options{DenyAnonymous: true})
	if got := connect(t, b, "c1", "u_salt_sha256", "public"); got != packets.Success {
		t.Errorf(`"salt sha256": %v`, got)
	}
	// A salted hash with a query that returns no salt fails closed.
	cfg.AuthQuery = authmysql.DefaultAuthQuery
	log := sqltest.NewLogCounter()
	cfg.Logger = slog.New(log)
	b = start(t, newAuth(t, cfg), broker.Options{})
	if got := connect(t, b, "c1", "u_salt_sha256", "public"); got != packets.BadUserNameOrPassword {
		t.Errorf("salted hash without a salt column: %v", got)
	}
	if log.Count(slog.LevelError) != 1 {
		t.Errorf("salted hash without a salt column logged %v", log.Messages())
	}
}

func TestUnknownUsers(t *testing.T) {
	f := setup(t)
	deny := start(t, newAuth(t, f.config()), broker.Options{})
	cfg := f.config()
	cfg.IgnoreUnknown = true
	ignore := start(t, newAuth(t, cfg), broker.Options{})
	ignoreStrict := start(t, newAuth(t, cfg), broker.Options{DenyAnonymous: true})
	for _, tc := range []struct {
		b          *brokertest.Broker
		user, pass string
		want       packets.ReasonCode
	}{
		{deny, "nobody", "x", packets.BadUserNameOrPassword},
		{deny, "", "", packets.NotAuthorized}, // the broker's code for a refusal without a user name
		{ignore, "nobody", "x", packets.Success},
		{ignore, "", "", packets.Success},
		{ignore, "alice", "x", packets.BadUserNameOrPassword},
		{ignore, "alice", "", packets.BadUserNameOrPassword},
		{ignoreStrict, "nobody", "x", packets.BadUserNameOrPassword},
		{ignoreStrict, "alice", "public", packets.Success},
	} {
		if got := connect(t, tc.b, "c1", tc.user, tc.pass); got != tc.want {
			t.Errorf("%q/%q: %v, want %v", tc.user, tc.pass, got, tc.want)
		}
	}
}

func TestSuperuser(t *testing.T) {
	f := setup(t)
	b := start(t, newAuth(t, f.config()), broker.Options{})
	for _, tc := range []struct {
		user  string
		super bool
	}{{"admin", true}, {"two", false}, {"alice", false}} {
		c := b.Dial(t, "c-"+tc.user, brokertest.WithCredentials(tc.user, "public"))
		info, ok := b.Client("c-" + tc.user)
		if !ok || info.Superuser != tc.super {
			t.Errorf("%s: superuser %v, want %v", tc.user, info != nil && info.Superuser, tc.super)
		}
		// The ACL refuses "#" (row 3, eq #); superusers skip the ACL.
		want := byte(0x80)
		if tc.super {
			want = 0
		}
		if got := c.Subscribe(t, "#", 0); got != want {
			t.Errorf("%s subscribes to #: %#x, want %#x", tc.user, got, want)
		}
		c.Disconnect(t)
	}
	// Without a super query nobody is a superuser.
	cfg := f.config()
	cfg.SuperQuery = ""
	b = start(t, newAuth(t, cfg), broker.Options{})
	c := b.Dial(t, "c-admin", brokertest.WithCredentials("admin", "public"))
	if got := c.Subscribe(t, "#", 0); got != 0x80 {
		t.Errorf("admin without super_query subscribes to #: %#x", got)
	}
}

func TestACL(t *testing.T) {
	f := setup(t)
	for _, tc := range []struct {
		name    string
		nomatch broker.Decision
		forward bool
		opts    broker.Options
		user    string
		id      string
		filter  string
		want    byte
	}{
		// The last row is checked first, as EMQ does: the seed's rows
		// then read as the default acl.conf.
		{"dashboard $SYS", broker.Deny, false, broker.Options{}, "dashboard", "c1", "$SYS/brokers", 0},
		{"alice $SYS", broker.Deny, false, broker.Options{}, "alice", "c1", "$SYS/#", 0x80},
		{"eq #", broker.Deny, false, broker.Options{}, "alice", "c1", "#", 0x80},
		{"eq # is literal", broker.Deny, false, broker.Options{}, "alice", "c1", "users/alice/#", 0},
		{"%u", broker.Deny, false, broker.Options{}, "alice", "c1", "users/alice/x", 0},
		{"%u other user", broker.Deny, false, broker.Options{}, "alice", "c1", "users/bob/x", 0x80},
		{"%u is a whole level", broker.Deny, false, broker.Options{}, "alice", "c1", "users/alice2/x", 0x80},
		{"%c", broker.Deny, false, broker.Options{}, "bob", "dev-9", "devices/dev-9", 0},
		{"%c other client", broker.Deny, false, broker.Options{}, "bob", "dev-8", "devices/dev-8", 0x80},
		{"pubsub deny", broker.Deny, false, broker.Options{}, "alice", "c1", "secret/plans", 0x80},
		{"and needs every column", broker.Deny, false, broker.Options{}, "alice", "c1", "and/topic", 0x80},
		{"nomatch deny", broker.Deny, false, broker.Options{}, "alice", "c1", "a/b", 0x80},
		{"nomatch allow", broker.Allow, false, broker.Options{DenyACLNoMatch: true}, "alice", "c1", "a/b", 0},
		{"nomatch ignore, broker allows", broker.Ignore, false, broker.Options{}, "alice", "c1", "a/b", 0},
		{"nomatch ignore, broker denies", broker.Ignore, false, broker.Options{DenyACLNoMatch: true}, "alice", "c1", "a/b", 0x80},
		// First row first: row 2 ($all deny $SYS/#) now comes before the
		// dashboard's row 7.
		{"forward dashboard $SYS", broker.Deny, true, broker.Options{}, "dashboard", "c1", "$SYS/brokers", 0x80},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := f.config()
			cfg.ACLNoMatch, cfg.ACLForward = tc.nomatch, tc.forward
			b := start(t, newAuth(t, cfg), tc.opts)
			c := b.Dial(t, tc.id, brokertest.WithCredentials(tc.user, "public"))
			if got := c.Subscribe(t, tc.filter, 1); got != tc.want && !(tc.want == 0 && got == 1) {
				t.Errorf("%s subscribes to %q: %#x, want %#x", tc.user, tc.filter, got, tc.want)
			}
		})
	}

	// Publishes: row 1 lets everyone publish anywhere, but row 11 (checked
	// earlier) keeps alice from secret/#.
	cfg := f.config()
	b := start(t, newAuth(t, cfg), broker.Options{})
	admin := b.Dial(t, "admin", brokertest.WithCredentials("admin", "public"))
	admin.Subscribe(t, "#", 0)
	alice := b.Dial(t, "alice", brokertest.WithCredentials("alice", "public"))
	alice.Publish(t, "secret/plans", []byte("x"), 0, false)
	alice.Publish(t, "news", []byte("y"), 1, false)
	if m := admin.Expect(t, "news"); string(m.Payload) != "y" {
		t.Errorf("news: %q", m.Payload)
	}
	admin.ExpectNone(t, 50*time.Millisecond)

	// Rows on the address, and the '$' user names, asked directly: the
	// in-process clients above have no address.
	a := newAuth(t, f.config())
	local := netip.MustParseAddrPort("127.0.0.1:5000")
	other := netip.MustParseAddrPort("192.0.2.1:5000")
	for _, tc := range []struct {
		c      broker.ClientInfo
		access broker.Access
		topic  string
		want   broker.Decision
	}{
		{broker.ClientInfo{ClientID: "x", Username: "bob", Peer: local}, broker.AccessPublish, "$SYS/x", broker.Allow},
		{broker.ClientInfo{ClientID: "x", Username: "bob", Peer: other}, broker.AccessPublish, "$SYS/x", broker.Deny},
		{broker.ClientInfo{ClientID: "x", Username: "bob", Peer: other}, broker.AccessPublish, "a/b", broker.Allow},
		{broker.ClientInfo{ClientID: "x", Username: "alice", Peer: local}, broker.AccessSubscribe, "and/topic", broker.Allow},
		{broker.ClientInfo{ClientID: "x", Username: "alice", Peer: other}, broker.AccessSubscribe, "and/topic", broker.Deny},
		{broker.ClientInfo{ClientID: "x", Username: "$sys", Peer: local}, broker.AccessSubscribe, "#", broker.Ignore},
		{broker.ClientInfo{ClientID: "x", Username: "$all"}, broker.AccessSubscribe, "#", broker.Ignore},
	} {
		got, err := a.Authorize(context.Background(), &tc.c, tc.access, tc.topic)
		if err != nil || got != tc.want {
			t.Errorf("%s@%v %v %q: %v, %v; want %v", tc.c.Username, tc.c.Peer, tc.access, tc.topic, got, err, tc.want)
		}
	}
}

// hostile are user names (and client ids) that would change the queries
// if they were pasted into them.
var hostile = []string{
	"' or '1'='1",
	"' or 1=1 -- ",
	"admin' -- ",
	"admin'#",
	"admin\\",
	"%",
	"*",
	"\\",
	"%u",
	"'%u'",
	"\"; drop table mqtt_user; --",
	"'; drop table mqtt_user; --",
	"' union select 'x' -- ",
	"$all",
}

func TestHostileInput(t *testing.T) {
	f := setup(t)
	var before int
	if err := f.db.QueryRow("SELECT count(*) FROM mqtt_user").Scan(&before); err != nil {
		t.Fatal(err)
	}
	cfg := f.config()
	cfg.PasswordHash = "plain" // a password equal to the injected text would pass
	b := start(t, newAuth(t, cfg), broker.Options{})
	for _, name := range hostile {
		for _, pass := range []string{"public", name, "x", "' or '1'='1"} {
			if got := connect(t, b, "c1", name, pass); got == packets.Success {
				t.Errorf("user %q with password %q authenticated", name, pass)
			}
		}
		// As a client id, it must not widen the ACL either.
		c := b.Dial(t, name, brokertest.WithCredentials("u_plain", "public"))
		if got := c.Subscribe(t, "#", 0); got != 0x80 {
			t.Errorf("client id %q subscribes to #: %#x", name, got)
		}
		c.Disconnect(t)
	}
	var after int
	if err := f.db.QueryRow("SELECT count(*) FROM mqtt_user").Scan(&after); err != nil {
		t.Fatalf("mqtt_user after the hostile names: %v", err)
	}
	if after != before {
		t.Errorf("mqtt_user has %d rows, had %d", after, before)
	}
}

// TestServerDown points the module at a closed port: every connect gets
// the on_error answer at once, and the outage is logged once.
func TestServerDown(t *testing.T) {
	f := setup(t)
	for _, ignore := range []bool{false, true} {
		t.Run(fmt.Sprintf("ignore=%v", ignore), func(t *testing.T) {
			log := sqltest.NewLogCounter()
			cfg := f.config()
			cfg.Server = sqltest.ClosedAddr(t)
			cfg.IgnoreOnError = ignore
			cfg.QueryTimeout, cfg.ConnectTimeout = time.Second, time.Second
			cfg.Logger = slog.New(log)
			b := start(t, newAuth(t, cfg), broker.Options{})
			want := packets.BadUserNameOrPassword
			if ignore {
				want = packets.Success // the next module (none): anonymous allowed
			}
			for i := range 20 {
				t0 := time.Now()
				got := connect(t, b, fmt.Sprint("c", i), "alice", "public")
				if d := time.Since(t0); d > cfg.QueryTimeout+500*time.Millisecond {
					t.Errorf("connect %d took %v", i, d)
				}
				if got != want {
					t.Errorf("connect %d: %v, want %v", i, got, want)
				}
			}
			if n := log.Count(slog.LevelError); n != 1 {
				t.Errorf("%d errors logged for one outage: %q", n, log.Messages())
			}
		})
	}
}

// TestSlowServer puts a server that accepts connections and never answers
// in front of the module: connects get the on_error answer within the
// query timeout, in parallel, not one after another.
func TestSlowServer(t *testing.T) {
	f := setup(t)
	p := sqltest.NewProxy(t, serverAddr)
	p.SetSilent(true)
	cfg := f.config()
	cfg.Server, cfg.Pool = p.Addr(), 2
	cfg.QueryTimeout = 500 * time.Millisecond
	b := start(t, newAuth(t, cfg), broker.Options{})
	const n = 10
	var wg sync.WaitGroup
	errs := make(chan error, n)
	t0 := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := time.Now()
			c := brokertest.NewClient(t, b.Conn(t), fmt.Sprint("c", i), brokertest.WithCredentials("alice", "public"))
			got := c.Connect(t)
			if d := time.Since(s); d > cfg.QueryTimeout+time.Second {
				errs <- fmt.Errorf("connect %d took %v", i, d)
			}
			if got != packets.BadUserNameOrPassword {
				errs <- fmt.Errorf("connect %d: %v", i, got)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	// Ten connects through a pool of two, each bounded by the timeout,
	// end together: no lock makes them wait for each other.
	if d := time.Since(t0); d > 3*cfg.QueryTimeout+time.Second {
		t.Errorf("%d parallel connects took %v", n, d)
	}
}

// TestRecovery stops the server (a proxy in front of it) while clients
// connect, then brings it back: the module answers on_error meanwhile and
// works again by itself.
func TestRecovery(t *testing.T) {
	f := setup(t)
	p := sqltest.NewProxy(t, serverAddr)
	log := sqltest.NewLogCounter()
	cfg := f.config()
	cfg.Server, cfg.Logger = p.Addr(), slog.New(log)
	cfg.QueryTimeout, cfg.ConnectTimeout = time.Second, time.Second
	b := start(t, newAuth(t, cfg), broker.Options{})
	for i := range 3 {
		if got := connect(t, b, "c1", "alice", "public"); got != packets.Success {
			t.Fatalf("before the outage, connect %d: %v", i, got)
		}
	}
	p.Stop()
	for i := range 5 {
		t0 := time.Now()
		if got := connect(t, b, "c1", "alice", "public"); got != packets.BadUserNameOrPassword {
			t.Errorf("during the outage, connect %d: %v", i, got)
		}
		if d := time.Since(t0); d > cfg.QueryTimeout+500*time.Millisecond {
			t.Errorf("during the outage, connect %d took %v", i, d)
		}
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	// The pool's connections died with the outage; the first connect
	// after it must already get through.
	for i := range 3 {
		if got := connect(t, b, "c1", "alice", "public"); got != packets.Success {
			t.Errorf("after the outage, connect %d: %v", i, got)
		}
	}
	if e, i := log.Count(slog.LevelError), log.Count(slog.LevelInfo); e != 1 || i != 1 {
		t.Errorf("logged %d errors and %d infos, want 1 and 1: %q", e, i, log.Messages())
	}
}

func TestCache(t *testing.T) {
	f := setup(t)
	cfg := f.config()
	cfg.CacheTTL = time.Hour
	b := start(t, newAuth(t, cfg), broker.Options{})
	if got := connect(t, b, "c1", "alice", "public"); got != packets.Success {
		t.Fatal(got)
	}
	// The cached row still checks each password.
	if got := connect(t, b, "c1", "alice", "wrong"); got != packets.BadUserNameOrPassword {
		t.Errorf("cached user, wrong password: %v", got)
	}
	// The row is served from the cache while the table changes.
	if _, err := f.db.Exec("DELETE FROM mqtt_user WHERE username = 'alice'"); err != nil {
		t.Fatal(err)
	}
	if got := connect(t, b, "c1", "alice", "public"); got != packets.Success {
		t.Errorf("cached user after delete: %v", got)
	}
	// Without a cache the change is seen at once.
	cfg.CacheTTL = 0
	b = start(t, newAuth(t, cfg), broker.Options{})
	if got := connect(t, b, "c1", "alice", "public"); got != packets.BadUserNameOrPassword {
		t.Errorf("deleted user without cache: %v", got)
	}
}

func TestPlugin(t *testing.T) {
	f := setup(t)
	over, err := conf.ParseString(fmt.Sprintf("auth.mysql.server = %s\nauth.mysql.username = %s\nauth.mysql.password = %s\nauth.mysql.database = %s\n",
		serverAddr, serverUser, serverPass, f.name), "test.conf")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
		if err := b.Plugins().Register(authmysql.Plugin); err != nil {
			t.Fatal(err)
		}
		if err := b.Plugins().LoadWith(ctx, "emq_auth_mysql", over); err != nil {
			t.Fatal(err)
		}
	})
	if got := connect(t, b, "c1", "alice", "public"); got != packets.Success {
		t.Errorf("alice: %v", got)
	}
	if got := connect(t, b, "c1", "alice", "x"); got != packets.BadUserNameOrPassword {
		t.Errorf("alice, wrong password: %v", got)
	}
	c := b.Dial(t, "c1", brokertest.WithCredentials("alice", "public"))
	if got := c.Subscribe(t, "a/b", 0); got != 0x80 {
		t.Errorf("acl_nomatch = deny: %#x", got)
	}
	c.Disconnect(t)
	if err := b.Plugins().Unload(ctx, "emq_auth_mysql"); err != nil {
		t.Fatal(err)
	}
	if got := connect(t, b, "c1", "alice", "x"); got != packets.Success {
		t.Errorf("after unload: %v", got)
	}
}

func TestParseConfig(t *testing.T) {
	m, err := conf.ParseString(authmysql.Defaults, "emq_auth_mysql.conf")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := authmysql.ParseConfig(m)
	if err != nil {
		t.Fatal(err)
	}
	want := authmysql.Config{
		Server: "127.0.0.1:3306", Pool: 8, Database: "mqtt",
		AuthQuery: authmysql.DefaultAuthQuery, PasswordHash: "sha256",
		SuperQuery: authmysql.DefaultSuperQuery, ACLQuery: authmysql.DefaultACLQuery, ACLNoMatch: broker.Deny,
		ConnectTimeout: 5 * time.Second, QueryTimeout: 5 * time.Second, CacheSize: 10000,
	}
	if cfg != want {
		t.Errorf("ParseConfig(Defaults) = %+v\nwant %+v", cfg, want)
	}

	m, _ = conf.ParseString(`auth.mysql.pool = 0
auth.mysql.password_hash = sha3
auth.mysql.acl_nomatch = maybe
auth.mysql.acl_order = sideways
auth.mysql.unknown_user = allow
auth.mysql.on_error = allow
auth.mysql.auth_query = select password from mqtt_user where username = '%P'
auth.mysql.query_timeout = soon
auth.mysql.cache_ttl = -1s
auth.mysql.server = :
auth.mysql.ssl = true
`, "bad.conf")
	_, err = authmysql.ParseConfig(m)
	if err == nil {
		t.Fatal("no error")
	}
	got := err.Error()
	for _, want := range []string{
		"bad.conf:1: auth.mysql.pool: 0: want 1 or more",
		`bad.conf:2: auth.mysql.password_hash: hash "sha3"`,
		`bad.conf:3: auth.mysql.acl_nomatch: invalid value "maybe"`,
		`bad.conf:4: auth.mysql.acl_order: invalid value "sideways"`,
		`bad.conf:5: auth.mysql.unknown_user: invalid value "allow"`,
		`bad.conf:6: auth.mysql.on_error: invalid value "allow"`,
		"bad.conf:7: auth.mysql.auth_query: ",
		"bad.conf:8: auth.mysql.query_timeout: invalid value",
		"bad.conf:9: auth.mysql.cache_ttl: invalid value",
		"bad.conf:10: auth.mysql.server: ",
		"bad.conf:11: auth.mysql.ssl: unknown key",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("errors lack %q:\n%s", want, got)
		}
	}
	var ce *conf.Error
	if !errors.As(err, &ce) {
		t.Errorf("errors are not *conf.Error: %T", err)
	}
}

// TestBriefOutage restarts the server (the proxy in front of it) between
// two connects: the pool's connections are dead, and the next connect
// must get through all the same.
func TestBriefOutage(t *testing.T) {
	f := setup(t)
	p := sqltest.NewProxy(t, serverAddr)
	cfg := f.config()
	cfg.Server = p.Addr()
	cfg.Pool = 2
	b := start(t, newAuth(t, cfg), broker.Options{})
	for round := range 5 {
		for i := range 3 {
			if got := connect(t, b, "c1", "alice", "public"); got != packets.Success {
				t.Errorf("round %d, connect %d: %v", round, i, got)
			}
		}
		p.Stop()
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
	}
}
