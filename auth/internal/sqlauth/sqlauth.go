// Package sqlauth is the part of EMQ's SQL auth plugins (emq_auth_mysql,
// emq_auth_pgsql) that does not depend on the server: the auth, superuser
// and ACL queries over a database/sql pool, password checks, the ACL rows'
// semantics, an optional result cache and burst logging of failures.
//
// The plugin packages (auth/authmysql, auth/authpgsql) open the *sql.DB
// with their driver, describe their server with a Dialect, and wrap an
// Auth in their own exported type.
package sqlauth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/auth/internal/backend"
	"github.com/emqgo/broker/auth/internal/passwd"
	"github.com/emqgo/broker/auth/internal/placeholder"
)

// Dialect is what differs between the SQL servers.
type Dialect struct {
	// Pkg prefixes errors: "auth/authmysql".
	Pkg string
	// Server names the server in logs: "MySQL".
	Server string
	// Style is the driver's bind-marker syntax.
	Style placeholder.Style
	// IsSuper reports whether the first column of the super query's first
	// row makes a superuser; dbType is the column's
	// sql.ColumnType.DatabaseTypeName.
	IsSuper func(v any, dbType string) bool
	// ServerError reports whether err is an error the server answered
	// with (a bad query, a missing table), which a retry cannot mend.
	// Other errors are the connection's, and the query is retried on
	// another connection.
	ServerError func(err error) bool
}

// Options configures an Auth. Zero durations and sizes take the defaults
// given below.
type Options struct {
	// Addr is the server's address, for logs only.
	Addr string
	// AuthQuery selects the password (and salt) of a user; "" turns
	// authentication off.
	AuthQuery string
	// PasswordHash is the password_hash setting; "" means sha256.
	PasswordHash string
	// SuperQuery selects is_superuser; "" means nobody is a superuser.
	SuperQuery string
	// ACLQuery selects the ACL rows; "" turns the ACL off.
	ACLQuery string
	// ACLNoMatch answers when no row matches (none returned, or none for
	// this access and topic).
	ACLNoMatch broker.Decision
	// ACLForward checks rows first to last; by default the last row
	// returned is checked first, as EMQ 2.x does.
	ACLForward bool
	// IgnoreUnknown answers Ignore, not Deny, for a user the auth query
	// does not find and for a client without a user name.
	IgnoreUnknown bool
	// IgnoreOnError answers Ignore, not Deny, when the server cannot be
	// reached, is slower than QueryTimeout, or a query fails.
	IgnoreOnError bool
	// QueryTimeout bounds each check, from taking a pooled connection
	// (dialling one if needed) to reading the last row. Default 5s.
	QueryTimeout time.Duration
	// CacheTTL keeps query results that long; 0 turns the cache off.
	CacheTTL time.Duration
	// CacheSize bounds the cache's entries. Default 10000.
	CacheSize int
	// Pool is the pool's size. A query that fails on a dead connection
	// (the server restarted since it was opened) is retried, up to Pool
	// times, each retry on another connection or a new one.
	Pool int
	// Logger receives failures, in bursts; nil discards.
	Logger *slog.Logger
}

// DefaultQueryTimeout is Options.QueryTimeout's default.
const DefaultQueryTimeout = 5 * time.Second

// DefaultCacheSize is Options.CacheSize's default.
const DefaultCacheSize = backend.DefaultCacheSize

// Vars are the placeholders the SQL plugins take, as EMQ: '%u', '%c', '%a'.
var Vars = []placeholder.Var{placeholder.Username, placeholder.ClientID, placeholder.PeerHost}

// Auth runs the queries of one plugin instance. It is safe for concurrent
// use; no lock is held while a query runs.
type Auth struct {
	d             Dialect
	db            *sql.DB
	auth          *query
	super         *query
	acl           *query
	hash          passwd.Hash
	useSalt       bool
	aclNoMatch    broker.Decision
	aclForward    bool
	ignoreUnknown bool
	onError       broker.Decision
	timeout       time.Duration
	retries       int
	cache         *backend.Cache[*result]
	errs          *backend.BurstLog
}

// query is one configured statement, prepared lazily.
type query struct {
	what      string // auth_query, super_query, acl_query
	where     []any  // the log attributes naming it
	q         placeholder.Query
	stmt      atomic.Pointer[sql.Stmt]
	preparing atomic.Bool
}

// ParseHash parses a password_hash setting. Besides passwd.Parse's forms it
// reads the space-separated ones of EMQ 2.0's PostgreSQL configuration,
// "salt sha256" and "sha256 salt".
func ParseHash(s string) (passwd.Hash, error) {
	if !strings.Contains(s, ",") {
		s = strings.Join(strings.Fields(s), ",")
	}
	if s == "" {
		s = "sha256"
	}
	return passwd.Parse(s)
}

// ParseQuery turns a query's quoted placeholders into bind markers.
func ParseQuery(text string, style placeholder.Style) (placeholder.Query, error) {
	q, err := placeholder.ParseSQL(text, style, Vars...)
	if err != nil {
		return q, errors.New(strings.TrimPrefix(err.Error(), "placeholder: "))
	}
	return q, nil
}

// New returns an Auth running o's queries on db. It takes db over: Close
// closes it.
func New(db *sql.DB, d Dialect, o Options) (*Auth, error) {
	a := &Auth{
		d: d, db: db,
		aclNoMatch: o.ACLNoMatch, aclForward: o.ACLForward,
		ignoreUnknown: o.IgnoreUnknown, onError: broker.Deny, timeout: o.QueryTimeout, retries: o.Pool,
	}
	if o.IgnoreOnError {
		a.onError = broker.Ignore
	}
	if a.timeout == 0 {
		a.timeout = DefaultQueryTimeout
	}
	var errs []error
	var err error
	if a.hash, err = ParseHash(o.PasswordHash); err != nil {
		errs = append(errs, fmt.Errorf("password_hash: %w", errors.New(strings.TrimPrefix(err.Error(), "passwd: "))))
	}
	a.useSalt = a.hash.NeedsSalt() || (a.hash.Algorithm == passwd.Bcrypt && a.hash.Salt == passwd.Prefix)
	for _, q := range []struct {
		what, text string
		dst        **query
	}{{"auth_query", o.AuthQuery, &a.auth}, {"super_query", o.SuperQuery, &a.super}, {"acl_query", o.ACLQuery, &a.acl}} {
		if strings.TrimSpace(q.text) == "" {
			continue
		}
		pq, err := ParseQuery(q.text, d.Style)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", q.what, err))
			continue
		}
		*q.dst = &query{what: q.what, q: pq, where: []any{"query", q.what, "server", o.Addr}}
	}
	switch o.ACLNoMatch {
	case broker.Allow, broker.Deny, broker.Ignore:
	default:
		errs = append(errs, fmt.Errorf("acl_nomatch %v: want allow, deny or ignore", o.ACLNoMatch))
	}
	if o.QueryTimeout < 0 || o.CacheTTL < 0 || o.CacheSize < 0 {
		errs = append(errs, errors.New("QueryTimeout, CacheTTL and CacheSize must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%s: %w", d.Pkg, err)
	}
	a.cache = backend.NewCache[*result](o.CacheTTL, o.CacheSize)
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a.errs = &backend.BurstLog{Log: log, Server: d.Server, Lines: backend.BurstLines{
		Failed: d.Server + " query failed; answering with the on_error setting until the server answers again",
		Still:  d.Server + " queries still failing",
		Back:   d.Server + " answers again",
	}}
	return a, nil
}

// HasAuth reports whether an auth query is configured.
func (a *Auth) HasAuth() bool { return a.auth != nil }

// HasACL reports whether an ACL query is configured.
func (a *Auth) HasACL() bool { return a.acl != nil }

// DB returns the pool.
func (a *Auth) DB() *sql.DB { return a.db }

// Close closes the prepared statements and the pool.
func (a *Auth) Close() error {
	for _, q := range []*query{a.auth, a.super, a.acl} {
		if q == nil {
			continue
		}
		if st := q.stmt.Swap(nil); st != nil {
			st.Close()
		}
	}
	return a.db.Close()
}

// Ping checks that the server answers, within the query timeout.
func (a *Auth) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	return a.db.PingContext(ctx)
}

// result is what a query returned, with driver values normalized ([]byte
// becomes string), so that it can be cached and shared.
type result struct {
	cols    []string // lower-cased names
	dbTypes []string
	rows    [][]any
}

func (r *result) col(name string) int {
	for i, c := range r.cols {
		if c == name {
			return i
		}
	}
	return -1
}

// errCanceled is a check abandoned by its caller (the client went away):
// not the server's failure.
var errCanceled = errors.New("canceled by the caller")

// run executes q with the client's values, through the cache.
func (a *Auth) run(ctx context.Context, q *query, v *placeholder.Values) (*result, error) {
	args := q.q.Args(v)
	var key string
	if a.cache != nil {
		key = cacheKey(q.what, args)
		if r, ok := a.cache.Get(key); ok {
			return r, nil
		}
	}
	qctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	r, err := a.exec(qctx, q, args)
	if err != nil {
		if ctx.Err() != nil {
			return nil, errCanceled
		}
		if qctx.Err() != nil {
			err = fmt.Errorf("no answer within %v: %w", a.timeout, err)
		}
		a.errs.FailedAt(q.where, err)
		return nil, err
	}
	a.errs.OKAt(q.where)
	if a.cache != nil {
		a.cache.Put(key, r)
	}
	return r, nil
}

// exec runs q, again on another connection while it fails on a dead one:
// after a restart of the server the pool may hold several, and the driver
// finds out only by using them. The queries only read, so a retry is
// safe.
func (a *Auth) exec(ctx context.Context, q *query, args []any) (*result, error) {
	for attempt := 0; ; attempt++ {
		r, err := a.execOnce(ctx, q, args)
		if err == nil || ctx.Err() != nil || attempt >= a.retries || a.d.ServerError == nil || a.d.ServerError(err) || dialFailed(err) {
			return r, err
		}
	}
}

// dialFailed reports whether err is a failure to reach the server: a new
// connection would fail the same way.
func dialFailed(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne) && ne.Op == "dial"
}

func (a *Auth) execOnce(ctx context.Context, q *query, args []any) (*result, error) {
	var rows *sql.Rows
	var err error
	if st := q.stmt.Load(); st != nil {
		rows, err = st.QueryContext(ctx, args...)
	} else if q.preparing.CompareAndSwap(false, true) {
		// One caller prepares; the others query unprepared meanwhile.
		var st *sql.Stmt
		st, err = a.db.PrepareContext(ctx, q.q.Text)
		if err == nil {
			q.stmt.Store(st)
			rows, err = st.QueryContext(ctx, args...)
		}
		q.preparing.Store(false)
	} else {
		rows, err = a.db.QueryContext(ctx, q.q.Text, args...)
	}
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cts, err := rows.ColumnTypes()
	if err != nil {
		return nil, err
	}
	r := &result{cols: make([]string, len(cts)), dbTypes: make([]string, len(cts))}
	for i, ct := range cts {
		r.cols[i] = strings.ToLower(ct.Name())
		r.dbTypes[i] = strings.ToUpper(ct.DatabaseTypeName())
	}
	for rows.Next() {
		vals := make([]any, len(cts))
		ptrs := make([]any, len(cts))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		for i, v := range vals {
			if b, ok := v.([]byte); ok {
				vals[i] = string(b)
			}
		}
		r.rows = append(r.rows, vals)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return r, nil
}

func values(c *broker.ClientInfo) placeholder.Values {
	return placeholder.ClientValues(c.ClientID, c.Username, c.Peer, c.TLS)
}

func (a *Auth) unknown() broker.Decision {
	if a.ignoreUnknown {
		return broker.Ignore
	}
	return broker.Deny
}

// Authenticate runs the auth query for c's user name and checks password
// against the row's password (and salt) column. A user the query does
// not find, and a client without a user name, get Deny (Ignore with
// IgnoreUnknown); a known user with a wrong or empty password gets Deny;
// a failing or slow server gets Deny (Ignore with IgnoreOnError), logged
// once per burst.
func (a *Auth) Authenticate(ctx context.Context, c *broker.ClientInfo, password []byte) (broker.Decision, error) {
	if a.auth == nil {
		return broker.Ignore, nil
	}
	if c.Username == "" {
		return a.unknown(), nil
	}
	v := values(c)
	r, err := a.run(ctx, a.auth, &v)
	switch {
	case errors.Is(err, errCanceled):
		return broker.Deny, nil
	case err != nil:
		return a.onError, nil
	case len(r.rows) == 0:
		return a.unknown(), nil
	case len(password) == 0:
		return broker.Deny, nil
	}
	pw, salt := r.col("password"), r.col("salt")
	if pw < 0 {
		pw = 0
	}
	if salt < 0 && len(r.cols) > 1 {
		salt = 1
	}
	row := r.rows[0]
	stored, ok := row[pw].(string)
	if !ok {
		return broker.Deny, nil // NULL or not text: no password can match
	}
	var saltv []byte
	if a.useSalt {
		if salt < 0 {
			a.errs.FailedAt(a.auth.where, fmt.Errorf("password_hash %s needs a salt, but the query returns only %q; select password, salt", a.hash, r.cols))
			return a.onError, nil
		}
		s, _ := row[salt].(string)
		saltv = []byte(s)
	}
	switch err := a.hash.Check(password, saltv, stored); {
	case err == nil:
		return broker.Allow, nil
	case !errors.Is(err, passwd.ErrMismatch):
		a.errs.Warn("stored password unusable", "user", c.Username, "err", err)
	}
	return broker.Deny, nil
}

// IsSuperuser runs the super query: the client is a superuser when the
// first column of the first row says so (Dialect.IsSuper). No query, no
// row, or a failure, say no.
func (a *Auth) IsSuperuser(ctx context.Context, c *broker.ClientInfo) (bool, error) {
	if a.super == nil || c.Username == "" {
		return false, nil
	}
	v := values(c)
	r, err := a.run(ctx, a.super, &v)
	if err != nil || len(r.rows) == 0 || len(r.cols) == 0 {
		return false, nil
	}
	return a.d.IsSuper(r.rows[0][0], r.dbTypes[0]), nil
}

// Authorize runs the ACL query and checks the rows that apply to access,
// in EMQ's order (the last row first, or first to last with ACLForward);
// the first whose who and topic match c and name decides. No matching row
// answers ACLNoMatch. User names starting with '$' are left to the next
// module, as EMQ does; a failure answers as for Authenticate.
func (a *Auth) Authorize(ctx context.Context, c *broker.ClientInfo, access broker.Access, name string) (broker.Decision, error) {
	if a.acl == nil || strings.HasPrefix(c.Username, "$") {
		return broker.Ignore, nil
	}
	v := values(c)
	r, err := a.run(ctx, a.acl, &v)
	switch {
	case errors.Is(err, errCanceled):
		return broker.Deny, nil
	case err != nil:
		return a.onError, nil
	}
	rules, bad := compileRows(r)
	if bad != nil {
		a.errs.Warn("ACL rows skipped", "err", bad)
	}
	n := len(rules)
	for i := range n {
		ru := &rules[i]
		if !a.aclForward {
			ru = &rules[n-1-i]
		}
		if ru.access&access == 0 {
			continue
		}
		if ru.match(c, name) {
			return ru.decision, nil
		}
	}
	return a.aclNoMatch, nil
}
