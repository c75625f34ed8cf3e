package authldap

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/auth/internal/backend"
	"github.com/emqgo/broker/auth/internal/passwd"
)

// Answer is what the module answers when the LDAP server fails: Deny (the
// zero value) or Ignore.
type Answer = backend.Answer

// The answers.
const (
	Deny   = backend.Deny
	Ignore = backend.Ignore
)

// Config configures an Auth.
type Config struct {
	// Servers are the LDAP servers' host names or addresses, tried in
	// order. None means 127.0.0.1.
	Servers []string
	// Port is the servers' port. 0 means 389, or 636 with SSL.
	Port int
	// SSL connects with LDAPS (TLS from the start), configured by
	// TLSConfig (nil: the system's roots, the server's name).
	SSL       bool
	TLSConfig *tls.Config

	// BindDN and BindPassword are the identity the module searches as;
	// no BindDN searches anonymously.
	BindDN, BindPassword string

	// AuthDN is the base of the search for a user's entry, with %u (user
	// name) or %c (client id), as EMQ 2.3: "cn=%u,ou=auth,dc=emqtt,dc=com".
	// The entry must match (UsernameAttr=<user name>); its PasswordAttr
	// (and SaltAttr) are checked against the password with PasswordHash.
	AuthDN string
	// UserDN, if set, authenticates as EMQ 2.0 did instead: the module
	// binds as this DN, with %u replaced, and the client's password; the
	// server checks the password. "uid=%u,ou=People,dc=example,dc=com".
	UserDN string

	// UsernameAttr is the attribute holding the user name. "" means
	// "username".
	UsernameAttr string
	// PasswordAttr is the attribute holding the stored password. "" means
	// "password".
	PasswordAttr string
	// SaltAttr is the attribute holding the salt of the salted hashes; ""
	// means none.
	SaltAttr string
	// PasswordHash is how stored passwords are hashed: plain, md5, sha,
	// sha256, sha512, salt,<hash>, <hash>,salt, salt,bcrypt, bcrypt or
	// pbkdf2,<macfun>,<iterations>,<dklen>. "" means sha256.
	PasswordHash string

	// UnknownUser is the answer for a user without an entry: broker.Ignore
	// (the zero value) or broker.Deny.
	UnknownUser broker.Decision
	// AuthOnError is the answer when the server fails or times out.
	AuthOnError Answer

	// PoolSize bounds the connections open at once. 0 means 8.
	PoolSize int
	// Timeout bounds connecting and each request. 0 means 30s (EMQ's
	// auth.ldap.timeout).
	Timeout time.Duration

	// CacheTTL keeps the entries found for this long; passwords are still
	// checked each time. 0 (the default) turns the cache off. Binds as
	// the user (UserDN) are never cached.
	CacheTTL time.Duration
	// CacheSize bounds the cached entries. 0 means 10000.
	CacheSize int

	// Logger receives the module's errors, once per burst of failures,
	// and a line when the server answers again. nil discards them.
	Logger *slog.Logger
}

// Auth authenticates clients against an LDAP directory: EMQ's
// emq_auth_ldap. It is a broker.Authenticator. Close it when done.
type Auth struct {
	cfg   Config
	hash  passwd.Hash
	dn    dnTemplate
	bind  bool // UserDN: bind as the user
	pool  *pool
	cache *backend.Cache[entry]
	errs  backend.BurstLog
}

var (
	_ broker.Authenticator = (*Auth)(nil)
	_ broker.Describer     = (*Auth)(nil)
)

// entry is what a search found.
type entry struct {
	found    bool
	several  bool
	password string
	hasPass  bool
	salt     string
}

// dnTemplate is a DN with %u and %c.
type dnTemplate struct {
	text   string
	user   bool
	client bool
}

// expand returns the DN with each placeholder replaced by its value,
// escaped as an attribute value (RFC 4514), so that no value can add RDNs
// or change the DN's structure.
func (d dnTemplate) expand(username, clientID string) string {
	var b strings.Builder
	s := d.text
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+1 < len(s) && (s[i+1] == 'u' || s[i+1] == 'c') {
			v := username
			if s[i+1] == 'c' {
				v = clientID
			}
			b.WriteString(EscapeDN(v))
			i++
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// EscapeDN escapes s for use as an attribute value in a DN (RFC 4514):
// ldap.EscapeDN, and '=' too.
func EscapeDN(s string) string {
	return strings.ReplaceAll(ldap.EscapeDN(s), "=", `\=`)
}

func parseDN(what, s string) (dnTemplate, error) {
	d := dnTemplate{text: s, user: strings.Contains(s, "%u"), client: strings.Contains(s, "%c")}
	// The template with harmless values must be a valid DN.
	if _, err := ldap.ParseDN(d.expand("u", "c")); err != nil {
		return d, fmt.Errorf("%s %q: %w", what, s, err)
	}
	return d, nil
}

// New returns an Auth for cfg. It connects lazily: a server that is down
// makes checks fail, not New.
func New(cfg Config) (*Auth, error) {
	var errs []error
	a := &Auth{}
	if len(cfg.Servers) == 0 {
		cfg.Servers = []string{"127.0.0.1"}
	}
	if cfg.Port == 0 {
		cfg.Port = 389
		if cfg.SSL {
			cfg.Port = 636
		}
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		errs = append(errs, fmt.Errorf("port %d out of range", cfg.Port))
	}
	for _, s := range cfg.Servers {
		if s == "" || strings.ContainsAny(s, "/ ") {
			errs = append(errs, fmt.Errorf("server %q: want a host name or address", s))
		}
	}
	var err error
	switch {
	case cfg.UserDN != "":
		a.bind = true
		if a.dn, err = parseDN("user DN", cfg.UserDN); err != nil {
			errs = append(errs, err)
		}
	case cfg.AuthDN != "":
		if a.dn, err = parseDN("auth DN", cfg.AuthDN); err != nil {
			errs = append(errs, err)
		}
	default:
		errs = append(errs, errors.New("set AuthDN (search and compare) or UserDN (bind as the user)"))
	}
	if cfg.BindDN != "" {
		if _, err := ldap.ParseDN(cfg.BindDN); err != nil {
			errs = append(errs, fmt.Errorf("bind DN %q: %w", cfg.BindDN, err))
		}
	}
	if cfg.PasswordHash == "" {
		cfg.PasswordHash = "sha256"
	}
	if a.hash, err = passwd.Parse(cfg.PasswordHash); err != nil {
		errs = append(errs, err)
	}
	if cfg.UsernameAttr == "" {
		cfg.UsernameAttr = "username"
	}
	if cfg.PasswordAttr == "" {
		cfg.PasswordAttr = "password"
	}
	for _, at := range []string{cfg.UsernameAttr, cfg.PasswordAttr, cfg.SaltAttr} {
		if at != "" && !validAttr(at) {
			errs = append(errs, fmt.Errorf("attribute %q: want letters, digits and '-'", at))
		}
	}
	if cfg.UnknownUser != broker.Ignore && cfg.UnknownUser != broker.Deny {
		errs = append(errs, fmt.Errorf("UnknownUser %v: want ignore or deny", cfg.UnknownUser))
	}
	errs = append(errs, cfg.AuthOnError.Check("AuthOnError", Deny, Ignore))
	if cfg.PoolSize < 0 || cfg.Timeout < 0 || cfg.CacheTTL < 0 || cfg.CacheSize < 0 {
		errs = append(errs, errors.New("PoolSize, Timeout, CacheTTL and CacheSize must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("auth/authldap: %w", err)
	}
	if cfg.PoolSize == 0 {
		cfg.PoolSize = 8
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	a.cfg = cfg
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a.errs = backend.BurstLog{Log: log, Server: "ldap " + strings.Join(a.urls(), ",")}
	a.cache = backend.NewCache[entry](cfg.CacheTTL, cfg.CacheSize)
	a.pool = &pool{a: a, sem: make(chan struct{}, cfg.PoolSize)}
	return a, nil
}

func validAttr(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == ';') {
			return false
		}
	}
	return s != ""
}

func (a *Auth) urls() []string {
	scheme := "ldap"
	if a.cfg.SSL {
		scheme = "ldaps"
	}
	out := make([]string, len(a.cfg.Servers))
	for i, s := range a.cfg.Servers {
		out[i] = scheme + "://" + net.JoinHostPort(s, strconv.Itoa(a.cfg.Port))
	}
	return out
}

// Description returns EMQ's description of the module.
func (a *Auth) Description() string { return "LDAP Authentication Plugin" }

// Close closes the module's connections.
func (a *Auth) Close() error {
	a.pool.close()
	return nil
}

// ClearCache drops the cached entries, if the cache is on.
func (a *Auth) ClearCache() { a.cache.Clear() }

// Authenticate checks c's user name and password. A client without a
// user name or a password is refused without asking, as EMQ does. With
// AuthDN, the module searches the user's entry and compares the password;
// a user without an entry gets UnknownUser. With UserDN, it binds as the
// user: the server's "invalid credentials" refuses. A failure of the
// server answers AuthOnError.
func (a *Auth) Authenticate(ctx context.Context, c *broker.ClientInfo, password []byte) (broker.Decision, error) {
	if c.Username == "" || len(password) == 0 || (a.dn.client && c.ClientID == "") {
		return broker.Deny, nil
	}
	if a.bind {
		return a.bindAs(ctx, c, password)
	}
	e, err := a.search(ctx, c)
	if errors.Is(err, errFailed) {
		return a.cfg.AuthOnError.Decision(), nil
	}
	switch {
	case err != nil:
		return broker.Deny, err
	case !e.found:
		return a.cfg.UnknownUser, nil
	case e.several:
		return broker.Deny, fmt.Errorf("auth/authldap: user %q: several entries match under %q", c.Username, a.dn.expand(c.Username, c.ClientID))
	case !e.hasPass:
		return broker.Deny, nil
	}
	err = a.hash.Check(password, []byte(e.salt), e.password)
	switch {
	case err == nil:
		return broker.Allow, nil
	case errors.Is(err, passwd.ErrMismatch):
		return broker.Deny, nil
	}
	return broker.Deny, fmt.Errorf("auth/authldap: user %q: %w", c.Username, err)
}

// errFailed reports a failure already logged by the burst log.
var errFailed = errors.New("auth/authldap: ldap failed")

// notFound reports whether err says the entry is not there: no such
// object, or a DN the server does not accept.
func notFound(err error) bool {
	return ldap.IsErrorAnyOf(err, ldap.LDAPResultNoSuchObject, ldap.LDAPResultInvalidDNSyntax)
}

// failure reports whether err is a failure of the server or the network,
// rather than an answer.
func failure(err error) bool {
	var le *ldap.Error
	if !errors.As(err, &le) {
		return true
	}
	switch le.ResultCode {
	case ldap.ErrorNetwork, ldap.LDAPResultBusy, ldap.LDAPResultUnavailable, ldap.LDAPResultUnwillingToPerform,
		ldap.LDAPResultOther, ldap.LDAPResultTimeLimitExceeded, ldap.LDAPResultAdminLimitExceeded:
		return true
	}
	return false
}

func (a *Auth) search(ctx context.Context, c *broker.ClientInfo) (entry, error) {
	base := a.dn.expand(c.Username, c.ClientID)
	value := c.Username
	if a.dn.client && !a.dn.user {
		value = c.ClientID
	}
	filter := "(" + a.cfg.UsernameAttr + "=" + ldap.EscapeFilter(value) + ")"
	key := base + "\x00" + filter
	if e, ok := a.cache.Get(key); ok {
		return e, nil
	}
	attrs := []string{a.cfg.UsernameAttr, a.cfg.PasswordAttr}
	if a.cfg.SaltAttr != "" {
		attrs = append(attrs, a.cfg.SaltAttr)
	}
	limit := int(a.cfg.Timeout / time.Second)
	req := ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 2, limit, false, filter, attrs, nil)
	var res *ldap.SearchResult
	err := a.pool.with(ctx, func(conn *ldap.Conn) error {
		var err error
		res, err = conn.Search(req)
		return err
	})
	var e entry
	switch {
	case err == nil:
		// LDAP matching ignores case and repeated spaces ("TEST", " test"
		// find test's entry); the broker's ACL does not, so only an entry
		// whose user name is the client's exactly counts.
		var found []*ldap.Entry
		for _, en := range res.Entries {
			for _, v := range en.GetEqualFoldAttributeValues(a.cfg.UsernameAttr) {
				if v == value {
					found = append(found, en)
					break
				}
			}
		}
		e.found = len(found) > 0
		e.several = len(found) > 1
		if e.found {
			if v := found[0].GetEqualFoldAttributeValues(a.cfg.PasswordAttr); len(v) > 0 {
				e.password, e.hasPass = v[0], true
			}
			if a.cfg.SaltAttr != "" {
				e.salt = found[0].GetEqualFoldAttributeValue(a.cfg.SaltAttr)
			}
		}
	case ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded):
		e.found, e.several = true, true
	case notFound(err):
	case errors.Is(err, errFailed):
		return e, err
	default:
		return e, fmt.Errorf("auth/authldap: search %q %s: %w", base, filter, err)
	}
	a.cache.Put(key, e)
	return e, nil
}

func (a *Auth) bindAs(ctx context.Context, c *broker.ClientInfo, password []byte) (broker.Decision, error) {
	dn := a.dn.expand(c.Username, c.ClientID)
	err := a.pool.with(ctx, func(conn *ldap.Conn) error {
		return conn.Bind(dn, string(password))
	})
	switch {
	case err == nil:
		return broker.Allow, nil
	case errors.Is(err, errFailed):
		return a.cfg.AuthOnError.Decision(), nil
	case ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials):
		return broker.Deny, nil
	case notFound(err):
		return a.cfg.UnknownUser, nil
	}
	return broker.Deny, fmt.Errorf("auth/authldap: bind as %q: %w", dn, err)
}

// pool holds the module's connections, each used by one request at a
// time: a bind as a user changes a connection's identity.
type pool struct {
	a   *Auth
	sem chan struct{} // one token per open connection

	mu     sync.Mutex
	idle   []*ldap.Conn
	closed bool
	wg     sync.WaitGroup // connections being closed
}

// with runs f on a connection: an idle one, or a new one when fewer than
// PoolSize are open, waiting for one within the timeout. A failure of the
// server or network closes the connection, is logged in bursts and
// returned as errFailed; other errors (answers) are returned as they are.
func (p *pool) with(ctx context.Context, f func(*ldap.Conn) error) error {
	ctx, cancel := context.WithTimeout(ctx, p.a.cfg.Timeout)
	defer cancel()
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		p.a.errs.Failed("pool", fmt.Errorf("all %d connections busy: %w", cap(p.sem), ctx.Err()))
		return errFailed
	}
	defer func() { <-p.sem }()
	conn := p.take()
	if conn == nil {
		var err error
		if conn, err = p.dial(ctx); err != nil {
			p.a.errs.Failed("connect", err)
			return errFailed
		}
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetTimeout(max(time.Until(dl), time.Millisecond))
	}
	err := f(conn)
	if err != nil && failure(err) {
		p.discard(conn)
		p.a.errs.Failed("request", err)
		return errFailed
	}
	p.a.errs.OK()
	p.give(conn)
	return err
}

func (p *pool) take() *ldap.Conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.idle) > 0 {
		c := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if !c.IsClosing() {
			return c
		}
	}
	return nil
}

func (p *pool) give(c *ldap.Conn) {
	p.mu.Lock()
	if !p.closed && !c.IsClosing() {
		p.idle = append(p.idle, c)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	p.discard(c)
}

// discard closes c in the background: closing waits for the server's
// answer to the unbind, up to the timeout. close waits for it.
func (p *pool) discard(c *ldap.Conn) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		c.Close()
	}()
}

// dial connects to the first server that answers and binds as BindDN.
func (p *pool) dial(ctx context.Context) (*ldap.Conn, error) {
	cfg := &p.a.cfg
	var errs []error
	for _, u := range p.a.urls() {
		d := &net.Dialer{Timeout: cfg.Timeout}
		if dl, ok := ctx.Deadline(); ok {
			d.Deadline = dl
		}
		opts := []ldap.DialOpt{ldap.DialWithDialer(d)}
		if cfg.SSL {
			tc := cfg.TLSConfig
			if tc == nil {
				host, _, _ := net.SplitHostPort(strings.TrimPrefix(u, "ldaps://"))
				tc = &tls.Config{ServerName: host}
			}
			opts = append(opts, ldap.DialWithTLSConfig(tc))
		}
		conn, err := ldap.DialURL(u, opts...)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		conn.SetTimeout(cfg.Timeout)
		if dl, ok := ctx.Deadline(); ok {
			conn.SetTimeout(max(time.Until(dl), time.Millisecond))
		}
		if cfg.BindDN != "" && !p.a.bind {
			if err := conn.Bind(cfg.BindDN, cfg.BindPassword); err != nil {
				p.discard(conn)
				errs = append(errs, fmt.Errorf("bind as %q: %w", cfg.BindDN, err))
				continue
			}
		}
		return conn, nil
	}
	return nil, errors.Join(errs...)
}

func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, c := range idle {
		p.discard(c)
	}
	p.wg.Wait()
}
