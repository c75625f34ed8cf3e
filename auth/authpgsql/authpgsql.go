package authpgsql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/auth/internal/placeholder"
	"github.com/emqgo/broker/auth/internal/sqlauth"
)

// The queries of EMQ's emq_auth_pgsql.conf, for the seed's mqtt_user and
// mqtt_acl tables (see the package documentation).
const (
	DefaultAuthQuery  = "select password from mqtt_user where username = '%u' limit 1"
	DefaultSuperQuery = "select is_superuser from mqtt_user where username = '%u' limit 1"
	DefaultACLQuery   = "select allow, ipaddr, username, clientid, access, topic from mqtt_acl where ipaddr = '%a' or username = '%u' or username = '$all' or clientid = '%c'"
)

// Defaults of Config's zero fields.
const (
	DefaultServer         = "127.0.0.1:5432"
	DefaultPool           = 8
	DefaultConnectTimeout = 5 * time.Second
	DefaultQueryTimeout   = sqlauth.DefaultQueryTimeout
	DefaultCacheSize      = sqlauth.DefaultCacheSize
)

// Config configures an Auth. The zero value of a field means its default;
// a query left empty is off.
type Config struct {
	// Server is the server's "host:port" ("host" alone means port 5432),
	// or the directory of its unix socket ("/var/run/postgresql"). ""
	// means 127.0.0.1:5432.
	Server string
	// Username, Password and Database are the login and the database. An
	// empty Username or Password falls back to libpq's defaults (PGUSER,
	// the OS user; PGPASSWORD, ~/.pgpass).
	Username string
	Password string
	Database string
	// Encoding is the client encoding; only "utf8" (the default) is
	// supported.
	Encoding string
	// SSL makes the connection use TLS (sslmode=require: the server's
	// certificate is not verified, as with EMQ's auth.pgsql.ssl = true).
	SSL bool
	// Pool bounds the connections open at once; checks beyond it wait for
	// a free connection, within QueryTimeout. 0 means 8.
	Pool int

	// AuthQuery selects the user's password, and its salt for the salted
	// hashes: "select password, salt from mqtt_user where username =
	// '%u' limit 1". The placeholders '%u' (user name), '%c' (client id)
	// and '%a' (IP address), written in single quotes, become bound
	// parameters $1, $2, .... "" turns authentication off.
	AuthQuery string
	// PasswordHash says how the password column was computed: plain, md5,
	// sha, sha256, sha512, salt,<hash> or "salt <hash>" (salt column
	// first), <hash>,salt or "<hash> salt", pbkdf2,<macfun>,<iterations>,
	// <dklen> (with a salt column), bcrypt (the salt inside the stored
	// hash) or salt,bcrypt (the salt column is the bcrypt salt). "" means
	// sha256.
	PasswordHash string
	// SuperQuery selects is_superuser; the client is a superuser when its
	// first column is the boolean true. "" makes nobody a superuser.
	SuperQuery string
	// ACLQuery selects the ACL rows: allow, ipaddr, username, clientid,
	// access, topic. "" turns the ACL off.
	ACLQuery string
	// ACLNoMatch answers a publish or subscribe that no row matches. The
	// zero value, broker.Ignore, leaves it to the next module (EMQ 2.3);
	// EMQ 2.0's shipped configuration said deny.
	ACLNoMatch broker.Decision
	// ACLForward checks the rows from first to last. By default the last
	// row returned is checked first, as EMQ 2.x did.
	ACLForward bool
	// IgnoreUnknown answers broker.Ignore for a user the auth query does
	// not find, and for a client without a user name, so that the next
	// module decides (EMQ 2.3). The zero value refuses them (EMQ 2.0).
	IgnoreUnknown bool
	// IgnoreOnError answers broker.Ignore, instead of broker.Deny, when the
	// server cannot be reached, does not answer within QueryTimeout, or a
	// query fails. Either way the failure is logged once per burst.
	IgnoreOnError bool

	// ConnectTimeout bounds dialling and logging in. 0 means 5s.
	ConnectTimeout time.Duration
	// QueryTimeout bounds each check, from taking a connection from the
	// pool to reading the last row. 0 means 5s.
	QueryTimeout time.Duration
	// CacheTTL keeps the rows each query returned for that long, keyed by
	// the query's parameters, so that reconnecting clients do not reach
	// the server. Passwords are still checked on every connect; a change
	// in the tables takes up to CacheTTL to be seen. 0 turns it off.
	CacheTTL time.Duration
	// CacheSize bounds the cached results. 0 means 10000.
	CacheSize int

	// Logger receives failures: the first of a burst, a summary every
	// minute while they go on, and a line when the server answers again.
	// nil discards them.
	Logger *slog.Logger
}

// Auth authenticates clients and authorizes their publishes and
// subscriptions with a PostgreSQL database: EMQ's emq_auth_pgsql. It is
// a broker.Authenticator, broker.SuperuserChecker and broker.Authorizer;
// register it with RegisterAuth and, when ACLQuery is set, RegisterACL. It
// is safe for concurrent use: checks share a bounded pool and hold no lock
// while a query runs.
type Auth struct {
	core *sqlauth.Auth
}

var (
	_ broker.Authenticator    = (*Auth)(nil)
	_ broker.SuperuserChecker = (*Auth)(nil)
	_ broker.Authorizer       = (*Auth)(nil)
	_ broker.Describer        = (*Auth)(nil)
)

var dialect = sqlauth.Dialect{
	Pkg:     "auth/authpgsql",
	Server:  "PostgreSQL",
	Style:   placeholder.Dollar,
	IsSuper: isSuper,
	ServerError: func(err error) bool {
		var e *pgconn.PgError
		return errors.As(err, &e)
	},
}

// isSuper is EMQ's [{true}]: the boolean true, and nothing else.
func isSuper(v any, _ string) bool {
	b, ok := v.(bool)
	return ok && b
}

// New returns an Auth for cfg. It opens no connection: the pool dials when
// the first client connects, and again whenever the server comes back.
func New(cfg Config) (*Auth, error) {
	pc, addr, err := driverConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("auth/authpgsql: %w", err)
	}
	db := stdlib.OpenDB(*pc)
	pool := cfg.Pool
	if pool == 0 {
		pool = DefaultPool
	}
	core, err := sqlauth.Open(db, dialect, pool, sqlauth.Options{
		Addr:      addr,
		AuthQuery: cfg.AuthQuery, PasswordHash: cfg.PasswordHash, SuperQuery: cfg.SuperQuery, ACLQuery: cfg.ACLQuery,
		ACLNoMatch: cfg.ACLNoMatch, ACLForward: cfg.ACLForward, IgnoreUnknown: cfg.IgnoreUnknown, IgnoreOnError: cfg.IgnoreOnError,
		QueryTimeout: cfg.QueryTimeout, CacheTTL: cfg.CacheTTL, CacheSize: cfg.CacheSize, Logger: cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	return &Auth{core: core}, nil
}

// driverConfig translates cfg into pgx's configuration, and the address
// for logs.
func driverConfig(cfg Config) (*pgx.ConnConfig, string, error) {
	if cfg.Pool < 0 || cfg.ConnectTimeout < 0 {
		return nil, "", fmt.Errorf("Pool and ConnectTimeout must not be negative")
	}
	if err := checkEncoding(cfg.Encoding); err != nil {
		return nil, "", err
	}
	host, port, err := parseServer(cfg.Server)
	if err != nil {
		return nil, "", err
	}
	sslmode := "disable"
	if cfg.SSL {
		sslmode = "require"
	}
	// The keyword/value form, every value quoted, so that no setting can
	// add another.
	var dsn strings.Builder
	for _, kv := range [][2]string{
		{"host", host}, {"port", port}, {"user", cfg.Username}, {"password", cfg.Password},
		{"dbname", cfg.Database}, {"sslmode", sslmode}, {"client_encoding", "UTF8"},
		{"application_name", "emqgo emq_auth_pgsql"},
	} {
		if kv[1] == "" {
			continue
		}
		fmt.Fprintf(&dsn, "%s='%s' ", kv[0], strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(kv[1]))
	}
	pc, err := pgx.ParseConfig(dsn.String())
	if err != nil {
		return nil, "", err
	}
	ct := cfg.ConnectTimeout
	if ct == 0 {
		ct = DefaultConnectTimeout
	}
	pc.ConnectTimeout = ct
	pc.DialFunc = (&net.Dialer{Timeout: ct, KeepAlive: time.Minute}).DialContext
	return pc, net.JoinHostPort(host, port), nil
}

func checkEncoding(e string) error {
	switch strings.ToLower(strings.ReplaceAll(e, "-", "")) {
	case "", "utf8":
		return nil
	}
	return fmt.Errorf("encoding %q: only utf8 is supported", e)
}

// parseServer splits "host:port", "host" or a socket directory.
func parseServer(server string) (host, port string, err error) {
	if server == "" {
		server = DefaultServer
	}
	if strings.HasPrefix(server, "/") {
		return server, "5432", nil
	}
	if host, port, err = net.SplitHostPort(server); err != nil {
		host, port = strings.Trim(server, "[]"), "5432"
	}
	if host == "" {
		return "", "", fmt.Errorf("server %q: want host:port or a unix socket directory", server)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return "", "", fmt.Errorf("server %q: port %q is not a number from 1 to 65535", server, port)
	}
	return host, port, nil
}

// Description returns EMQ's description of the module.
func (a *Auth) Description() string { return "Authentication with PostgreSQL" }

// Authenticate runs the auth query for c's user name and checks password
// against the password column (and the salt column) with the configured
// hash. A known user with a wrong or empty password is refused. A user
// the query does not find, or a client without a user name, is refused
// (left to the next module with IgnoreUnknown). When the server fails or
// is slower than QueryTimeout the answer is broker.Deny (broker.Ignore
// with IgnoreOnError), never an error, so that one outage is logged once,
// not once per client.
func (a *Auth) Authenticate(ctx context.Context, c *broker.ClientInfo, password []byte) (broker.Decision, error) {
	return a.core.Authenticate(ctx, c, password)
}

// IsSuperuser runs the super query: the client is a superuser when the
// first column of the first row is the boolean true. No super query, no
// row, or a failing server, say no.
func (a *Auth) IsSuperuser(ctx context.Context, c *broker.ClientInfo) (bool, error) {
	return a.core.IsSuperuser(ctx, c)
}

// Authorize runs the ACL query and checks the rows for access to name, as
// EMQ does: rows for the other access are skipped; the first row (the
// last returned, unless ACLForward) whose who and topic match decides;
// no match answers ACLNoMatch. Clients whose user name starts with '$'
// are left to the next module. A failing server answers as for
// Authenticate.
func (a *Auth) Authorize(ctx context.Context, c *broker.ClientInfo, access broker.Access, name string) (broker.Decision, error) {
	return a.core.Authorize(ctx, c, access, name)
}

// Ping checks that the server accepts the login, within QueryTimeout.
func (a *Auth) Ping(ctx context.Context) error {
	if err := a.core.Ping(ctx); err != nil {
		return fmt.Errorf("auth/authpgsql: %w", err)
	}
	return nil
}

// DB returns the connection pool, for statistics (DB.Stats).
func (a *Auth) DB() *sql.DB { return a.core.DB() }

// Close closes the connection pool. Checks after Close answer as for a
// failing server.
func (a *Auth) Close() error { return a.core.Close() }
