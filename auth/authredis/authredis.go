package authredis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/auth/internal/backend"
	"github.com/emqgo/broker/auth/internal/passwd"
	"github.com/emqgo/broker/auth/internal/placeholder"
	"github.com/emqgo/broker/packets"
	"github.com/emqgo/broker/topic"
)

// The commands of EMQ's shipped configuration.
const (
	DefaultAuthCmd  = "HGET mqtt_user:%u password"
	DefaultSuperCmd = "HGET mqtt_user:%u is_superuser"
	DefaultACLCmd   = "HGETALL mqtt_acl:%u"
	DefaultSubCmd   = "HGETALL mqtt_sub:%u"
)

// Answer is what a module answers when Redis fails or no ACL rule
// matches: Deny (the zero value), Ignore or Allow.
type Answer = backend.Answer

// The answers.
const (
	Deny   = backend.Deny
	Ignore = backend.Ignore
	Allow  = backend.Allow
)

// Config configures an Auth. Commands are Redis commands split at white
// space into arguments, in which %u stands for the user name and %c for the
// client id; a value always stays inside its argument, whatever spaces or
// quotes it holds. An empty command turns its part off.
type Config struct {
	// Addr is the server, "host:port", "host" (port 6379) or "port"
	// (127.0.0.1). "" means 127.0.0.1:6379.
	Addr string
	// Password is the server's password (AUTH); "" sends none.
	Password string
	// Database is the database number (SELECT).
	Database int
	// PoolSize bounds the connections open at once. 0 means 8.
	PoolSize int

	// AuthCmd fetches a user's stored password, and its salt as a second
	// field: "HGET mqtt_user:%u password", "HMGET mqtt_user:%u password"
	// or "HMGET mqtt_user:%u password salt". A nil answer means the user
	// is unknown.
	AuthCmd string
	// PasswordHash is how stored passwords are hashed: plain, md5, sha,
	// sha256, sha512, salt,<hash> (salt prefix), <hash>,salt (suffix),
	// salt,bcrypt or pbkdf2,<macfun>,<iterations>,<dklen>. "" means plain.
	PasswordHash string
	// SuperCmd asks whether an authenticated user is a superuser: only the
	// answer "1" makes one ("HGET mqtt_user:%u is_superuser").
	SuperCmd string
	// ACLCmd fetches a user's ACL rules as a hash of topic filter to
	// access, 1 subscribe, 2 publish, 3 both ("HGETALL mqtt_acl:%u").
	// Filters may hold %u and %c levels.
	ACLCmd string
	// SubCmd fetches the subscriptions made for a user when it connects,
	// as a hash of topic filter to QoS ("HGETALL mqtt_sub:%u"). Register
	// them with Attach.
	SubCmd string

	// UnknownUser is the authentication's answer for a user AuthCmd does
	// not know: broker.Ignore (the zero value, EMQ 2.3) lets the next
	// module decide; broker.Deny refuses (EMQ 2.0).
	UnknownUser broker.Decision
	// ACLNoMatch is the ACL's answer when a user has rules and none
	// matches (EMQ's acl_nomatch). A user without rules is left to the
	// next module.
	ACLNoMatch Answer
	// AuthOnError is the authentication's answer when Redis fails or
	// times out: Deny or Ignore.
	AuthOnError Answer
	// ACLOnError is the ACL's answer when Redis fails or times out.
	ACLOnError Answer
	// Timeout bounds each command, connecting included. 0 means 5s.
	Timeout time.Duration

	// CacheTTL keeps the answers of the commands for this long, so that
	// users who connect again soon do not ask Redis again; passwords are
	// still checked each time. 0 (the default) turns the cache off.
	CacheTTL time.Duration
	// CacheSize bounds the cached answers. 0 means 10000.
	CacheSize int

	// Logger receives the module's errors: the first failure of a burst,
	// a summary every minute while failures last, and a line when Redis
	// answers again. nil discards them.
	Logger *slog.Logger
}

// Auth authenticates clients and authorizes their publishes and
// subscriptions from Redis hashes: EMQ's emq_auth_redis. It is a
// broker.Authenticator, broker.SuperuserChecker and broker.Authorizer; a
// module asked about a part whose command is off answers Ignore. Attach
// adds the automatic subscriptions of SubCmd. Close it when done.
type Auth struct {
	cfg                    Config
	hash                   passwd.Hash
	auth, super, acl, subs *command
	client                 *redis.Client
	cache                  *backend.Cache[any]
	errs                   backend.BurstLog
	log                    *slog.Logger
}

var (
	_ broker.Authenticator    = (*Auth)(nil)
	_ broker.SuperuserChecker = (*Auth)(nil)
	_ broker.Authorizer       = (*Auth)(nil)
	_ broker.Describer        = (*Auth)(nil)
)

// command is a parsed command.
type command struct {
	what string // auth_cmd, super_cmd, acl_cmd, sub_cmd
	cmd  placeholder.Command
	text string
	user bool // uses %u
}

func parseCommand(what, text string) (*command, error) {
	if strings.TrimSpace(text) == "" {
		return nil, nil
	}
	c, err := placeholder.ParseCommand(text, placeholder.Username, placeholder.ClientID)
	if err != nil {
		return nil, fmt.Errorf("%s: %s", what, strings.TrimPrefix(err.Error(), "placeholder: "))
	}
	return &command{what: what, cmd: c, text: text, user: strings.Contains(text, "%u")}, nil
}

// Addr returns addr in host:port form: "6379" is 127.0.0.1:6379, "host"
// is host:6379, and "" is 127.0.0.1:6379.
func Addr(addr string) (string, error) {
	addr = strings.TrimSpace(addr)
	switch {
	case addr == "":
		return "127.0.0.1:6379", nil
	case !strings.Contains(addr, ":"):
		if p, err := strconv.ParseUint(addr, 10, 16); err == nil {
			return net.JoinHostPort("127.0.0.1", strconv.FormatUint(p, 10)), nil
		}
		return net.JoinHostPort(addr, "6379"), nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("server %q: %w", addr, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil || host == "" {
		return "", fmt.Errorf("server %q: want host:port", addr)
	}
	return addr, nil
}

// New returns an Auth for cfg. It connects lazily: a server that is down
// makes commands fail, not New.
func New(cfg Config) (*Auth, error) {
	var errs []error
	a := &Auth{cfg: cfg}
	var err error
	if cfg.Addr, err = Addr(cfg.Addr); err != nil {
		errs = append(errs, err)
	}
	if cfg.PasswordHash == "" {
		cfg.PasswordHash = "plain"
	}
	if a.hash, err = passwd.Parse(cfg.PasswordHash); err != nil {
		errs = append(errs, err)
	}
	for _, c := range []struct {
		dst  **command
		what string
		text string
	}{{&a.auth, "auth_cmd", cfg.AuthCmd}, {&a.super, "super_cmd", cfg.SuperCmd}, {&a.acl, "acl_cmd", cfg.ACLCmd}, {&a.subs, "sub_cmd", cfg.SubCmd}} {
		if *c.dst, err = parseCommand(c.what, c.text); err != nil {
			errs = append(errs, err)
		}
	}
	if cfg.UnknownUser != broker.Ignore && cfg.UnknownUser != broker.Deny {
		errs = append(errs, fmt.Errorf("UnknownUser %v: want ignore or deny", cfg.UnknownUser))
	}
	errs = append(errs, cfg.ACLNoMatch.Check("ACLNoMatch", Deny, Ignore, Allow),
		cfg.AuthOnError.Check("AuthOnError", Deny, Ignore),
		cfg.ACLOnError.Check("ACLOnError", Deny, Ignore, Allow))
	if cfg.Database < 0 || cfg.PoolSize < 0 || cfg.Timeout < 0 || cfg.CacheTTL < 0 || cfg.CacheSize < 0 {
		errs = append(errs, errors.New("Database, PoolSize, Timeout, CacheTTL and CacheSize must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("auth/authredis: %w", err)
	}
	if cfg.PoolSize == 0 {
		cfg.PoolSize = 8
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	a.cfg = cfg
	a.log = cfg.Logger
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	a.errs = backend.BurstLog{Log: a.log, Server: "redis " + cfg.Addr}
	a.cache = backend.NewCache[any](cfg.CacheTTL, cfg.CacheSize)
	dialer := &net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second}
	a.client = redis.NewClient(&redis.Options{
		Addr: cfg.Addr,
		// A failed dial becomes a connection whose every read and write
		// fails with the dial's error: the command fails at once with that
		// error, which the module logs in bursts. go-redis would otherwise
		// log every failed dial itself, retry it, and after PoolSize
		// failures stop dialing for a second or more, delaying recovery.
		Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return failedConn{err}, nil
			}
			return c, nil
		},
		DialerRetries:         1,
		Password:              cfg.Password,
		DB:                    cfg.Database,
		Protocol:              2,
		PoolSize:              cfg.PoolSize,
		DialTimeout:           cfg.Timeout,
		ReadTimeout:           cfg.Timeout,
		WriteTimeout:          cfg.Timeout,
		PoolTimeout:           cfg.Timeout,
		ContextTimeoutEnabled: true,
		MaxRetries:            -1,
		DisableIdentity:       true,
		MaintNotificationsConfig: &maintnotifications.Config{
			Mode: maintnotifications.ModeDisabled,
		},
	})
	return a, nil
}

// Description returns EMQ's description of the module.
func (a *Auth) Description() string { return "Authentication with Redis" }

// Close closes the module's connections.
func (a *Auth) Close() error { return a.client.Close() }

// ClearCache drops the cached answers, if the cache is on.
func (a *Auth) ClearCache() { a.cache.Clear() }

// nilReply stands for Redis's nil answer in the cache.
type nilReply struct{}

// do runs c for client cl and returns its answer: nil for Redis's nil. It
// reads and fills the cache, and logs failures in bursts.
func (a *Auth) do(ctx context.Context, c *command, cl *broker.ClientInfo) (any, error) {
	v := placeholder.Values{Username: cl.Username, ClientID: cl.ClientID}
	args := c.cmd.Args(&v)
	key := strings.Join(args, "\x00")
	if r, ok := a.cache.Get(key); ok {
		if _, isNil := r.(nilReply); isNil {
			return nil, nil
		}
		return r, nil
	}
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
	defer cancel()
	iargs := make([]any, len(args))
	for i, s := range args {
		iargs[i] = s
	}
	r, err := a.client.Do(ctx, iargs...).Result()
	switch {
	case errors.Is(err, redis.Nil):
		a.errs.OK()
		a.cache.Put(key, nilReply{})
		return nil, nil
	case err != nil:
		var rerr redis.Error
		if errors.As(err, &rerr) {
			// Redis answered, with an error such as WRONGTYPE: the server
			// is up, the command or the data is wrong.
			a.errs.OK()
			return nil, fmt.Errorf("auth/authredis: %s %q: %w", c.what, c.text, err)
		}
		a.errs.Failed(c.what, err)
		return nil, errFailed
	}
	a.errs.OK()
	a.cache.Put(key, r)
	return r, nil
}

// errFailed reports a failure already logged by the burst log.
var errFailed = errors.New("auth/authredis: redis failed")

// Authenticate runs AuthCmd. A client without a user name or a password
// is refused without asking, as EMQ does. A user AuthCmd does not know
// gets UnknownUser; a failure of Redis, AuthOnError.
func (a *Auth) Authenticate(ctx context.Context, c *broker.ClientInfo, password []byte) (broker.Decision, error) {
	if a.auth == nil {
		return broker.Ignore, nil
	}
	if c.Username == "" || len(password) == 0 {
		return broker.Deny, nil
	}
	r, err := a.do(ctx, a.auth, c)
	if errors.Is(err, errFailed) {
		return a.cfg.AuthOnError.Decision(), nil
	}
	if err != nil {
		return broker.Deny, err
	}
	var stored, salt string
	switch r := r.(type) {
	case nil:
		return a.cfg.UnknownUser, nil
	case string:
		stored = r
	case []any:
		if len(r) == 0 || r[0] == nil {
			return a.cfg.UnknownUser, nil
		}
		s, ok := r[0].(string)
		if !ok {
			return broker.Deny, fmt.Errorf("auth/authredis: auth_cmd: password field is %T, want a string", r[0])
		}
		stored = s
		if len(r) > 1 {
			salt, _ = r[1].(string)
		}
	default:
		return broker.Deny, fmt.Errorf("auth/authredis: auth_cmd %q: answer is %T, want a string or an array", a.auth.text, r)
	}
	err = a.hash.Check(password, []byte(salt), stored)
	switch {
	case err == nil:
		return broker.Allow, nil
	case errors.Is(err, passwd.ErrMismatch):
		return broker.Deny, nil
	}
	return broker.Deny, fmt.Errorf("auth/authredis: user %q: %w", c.Username, err)
}

// IsSuperuser runs SuperCmd: only the answer "1" makes a superuser. A
// failure of Redis makes none.
func (a *Auth) IsSuperuser(ctx context.Context, c *broker.ClientInfo) (bool, error) {
	if a.super == nil || a.auth == nil || (a.super.user && c.Username == "") {
		return false, nil
	}
	r, err := a.do(ctx, a.super, c)
	if errors.Is(err, errFailed) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	s, ok := r.(string)
	return ok && s == "1", nil
}

// Authorize runs ACLCmd and matches topic against the rules it returns:
// any rule whose filter matches and whose access covers the request
// allows; with rules and no match the answer is ACLNoMatch; without rules,
// Ignore. User names starting with '$' are ignored, as in EMQ.
func (a *Auth) Authorize(ctx context.Context, c *broker.ClientInfo, access broker.Access, name string) (broker.Decision, error) {
	if a.acl == nil || strings.HasPrefix(c.Username, "$") || (a.acl.user && c.Username == "") {
		return broker.Ignore, nil
	}
	r, err := a.do(ctx, a.acl, c)
	if errors.Is(err, errFailed) {
		return a.cfg.ACLOnError.Decision(), nil
	}
	if err != nil {
		return a.cfg.ACLOnError.Decision(), err
	}
	pairs, err := hashPairs(r)
	if err != nil {
		return a.cfg.ACLOnError.Decision(), fmt.Errorf("auth/authredis: acl_cmd %q: %w", a.acl.text, err)
	}
	if len(pairs) == 0 {
		return broker.Ignore, nil
	}
	want := 1
	if access == broker.AccessPublish {
		want = 2
	}
	for _, p := range pairs {
		n, err := strconv.Atoi(strings.TrimSpace(p[1]))
		if err != nil || n&want == 0 {
			continue
		}
		if backend.MatchFilter(p[0], name, c.Username, c.ClientID) {
			return broker.Allow, nil
		}
	}
	return a.cfg.ACLNoMatch.Decision(), nil
}

// hashPairs reads a hash as HGETALL returns it: a flat array of fields
// and values (RESP2) or a map (RESP3).
func hashPairs(r any) ([][2]string, error) {
	switch r := r.(type) {
	case nil:
		return nil, nil
	case []any:
		if len(r)%2 != 0 {
			return nil, fmt.Errorf("answer has %d elements, want field and value pairs", len(r))
		}
		out := make([][2]string, 0, len(r)/2)
		for i := 0; i < len(r); i += 2 {
			out = append(out, [2]string{str(r[i]), str(r[i+1])})
		}
		return out, nil
	case map[any]any:
		out := make([][2]string, 0, len(r))
		for k, v := range r {
			out = append(out, [2]string{str(k), str(v)})
		}
		return out, nil
	}
	return nil, fmt.Errorf("answer is %T, want a hash", r)
}

func str(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// Subscriptions runs SubCmd for c and returns the subscriptions it
// lists, sorted by filter. Entries whose filter is not a valid topic
// filter or whose QoS is not 0, 1 or 2 are left out and logged.
func (a *Auth) Subscriptions(ctx context.Context, c *broker.ClientInfo) ([]broker.Subscription, error) {
	if a.subs == nil || (a.subs.user && c.Username == "") {
		return nil, nil
	}
	r, err := a.do(ctx, a.subs, c)
	if err != nil {
		return nil, err
	}
	pairs, err := hashPairs(r)
	if err != nil {
		return nil, fmt.Errorf("auth/authredis: sub_cmd %q: %w", a.subs.text, err)
	}
	subs := make([]broker.Subscription, 0, len(pairs))
	for _, p := range pairs {
		q, err := strconv.ParseUint(strings.TrimSpace(p[1]), 10, 8)
		if err != nil || q > 2 || topic.ValidateFilter(p[0]) != nil {
			a.log.Warn("automatic subscription from Redis skipped: want a valid topic filter and a QoS of 0, 1 or 2",
				"client", c.ClientID, "username", c.Username, "topic", p[0], "qos", p[1])
			continue
		}
		subs = append(subs, broker.Subscription{Filter: p[0], QoS: byte(q)})
	}
	slices.SortFunc(subs, func(x, y broker.Subscription) int { return strings.Compare(x.Filter, y.Filter) })
	return subs, nil
}

// Attach registers, on b, the hook that subscribes each client that
// connects to the subscriptions SubCmd lists for it (EMQ's mqtt_sub hash),
// before anything is delivered to it. detach removes the hook.
func (a *Auth) Attach(b *broker.Broker) (detach func()) {
	return a.register(b, b)
}

func (a *Auth) register(r broker.Registrar, b *broker.Broker) broker.Unhook {
	return broker.On(r, broker.ClientConnectedHook, func(ctx context.Context, c *broker.ClientInfo, code packets.ReasonCode) {
		if code != packets.Success || a.subs == nil {
			return
		}
		a.subscribe(ctx, b, c)
	}, broker.Named("emq_auth_redis.sub_cmd"))
}

func (a *Auth) subscribe(ctx context.Context, b *broker.Broker, c *broker.ClientInfo) {
	subs, err := a.Subscriptions(ctx, c)
	if err != nil {
		if !errors.Is(err, errFailed) { // failures of Redis are logged in bursts
			a.log.Warn("automatic subscriptions from Redis failed", "client", c.ClientID, "err", err)
		}
		return
	}
	if len(subs) == 0 {
		return
	}
	have := make(map[string]byte)
	for _, s := range b.Subscriptions(c.ClientID) {
		have[s.Filter] = s.QoS
	}
	todo := subs[:0]
	for _, s := range subs {
		if q, ok := have[s.Filter]; !ok || q != s.QoS {
			todo = append(todo, s)
		}
	}
	if len(todo) == 0 {
		return
	}
	codes, err := b.SubscribeClient(ctx, c.ClientID, todo...)
	if err != nil {
		a.log.Warn("automatic subscriptions from Redis failed", "client", c.ClientID, "err", err)
		return
	}
	for i, rc := range codes {
		if rc.IsError() {
			a.log.Warn("automatic subscription from Redis refused", "client", c.ClientID, "topic", todo[i].Filter, "code", rc)
		}
	}
}

// failedConn is a connection that could not be made: every read and write
// returns the dial's error.
type failedConn struct{ err error }

func (c failedConn) Read([]byte) (int, error)         { return 0, c.err }
func (c failedConn) Write([]byte) (int, error)        { return 0, c.err }
func (c failedConn) Close() error                     { return nil }
func (c failedConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c failedConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c failedConn) SetDeadline(time.Time) error      { return nil }
func (c failedConn) SetReadDeadline(time.Time) error  { return nil }
func (c failedConn) SetWriteDeadline(time.Time) error { return nil }
