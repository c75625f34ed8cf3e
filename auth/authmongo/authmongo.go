package authmongo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/auth/internal/backend"
	"github.com/emqgo/broker/auth/internal/passwd"
)

// Answer is what a module answers when MongoDB fails or no ACL rule
// matches: Deny (the zero value), Ignore or Allow.
type Answer = backend.Answer

// The answers.
const (
	Deny   = backend.Deny
	Ignore = backend.Ignore
	Allow  = backend.Allow
)

// DefaultSelector finds a user's document by its user name.
const DefaultSelector = "username=%u"

// AuthQuery finds the document holding a user's password.
type AuthQuery struct {
	// Collection is the collection, such as "mqtt_user"; "" turns
	// authentication off.
	Collection string
	// PasswordField is the field holding the stored password; "" means
	// "password".
	PasswordField string
	// SaltField is the field holding the salt of the salted hashes; ""
	// means none.
	SaltField string
	// Selector finds the document: comma-separated field=value pairs whose
	// value is a literal or exactly %u (user name) or %c (client id), such
	// as "username=%u" or "username=%u, clientid=%c". "" means
	// DefaultSelector.
	Selector string
}

// SuperQuery finds the document telling whether a user is a superuser.
type SuperQuery struct {
	// Collection is the collection; "" turns the superuser check off.
	Collection string
	// SuperField is the field; the user is a superuser when it is true (or
	// the number 1). "" means "is_superuser".
	SuperField string
	// Selector is as in AuthQuery.
	Selector string
}

// ACLQuery finds the documents holding a user's ACL: each may have arrays
// of topic filters "publish", "subscribe" and "pubsub", in which %u and %c
// levels stand for the user name and client id.
type ACLQuery struct {
	// Collection is the collection, such as "mqtt_acl"; "" turns the ACL
	// off.
	Collection string
	// Selector is as in AuthQuery.
	Selector string
}

// Config configures an Auth.
type Config struct {
	// Addrs are the servers, "host:port" or "host" (port 27017). None
	// means 127.0.0.1:27017.
	Addrs []string
	// Username, Password and AuthSource log in (SCRAM); no Username means
	// no login. AuthSource "" means the driver's default, "admin".
	Username, Password, AuthSource string
	// Database holds the collections. "" means "mqtt".
	Database string
	// PoolSize bounds the connections open to each server. 0 means 8.
	PoolSize int

	AuthQuery AuthQuery
	// PasswordHash is how stored passwords are hashed: plain, md5, sha,
	// sha256, sha512, salt,<hash>, <hash>,salt, salt,bcrypt, bcrypt or
	// pbkdf2,<macfun>,<iterations>,<dklen>. "" means sha256.
	PasswordHash string
	SuperQuery   SuperQuery
	ACLQuery     ACLQuery

	// UnknownUser is the authentication's answer for a user whose
	// document is not found: broker.Ignore (the zero value, EMQ 2.3) or
	// broker.Deny (EMQ 2.0).
	UnknownUser broker.Decision
	// ACLNoMatch is the ACL's answer when a user has ACL documents and
	// none of their topics matches. A user without documents is left to
	// the next module.
	ACLNoMatch Answer
	// AuthOnError is the authentication's answer when MongoDB fails or
	// times out: Deny or Ignore.
	AuthOnError Answer
	// ACLOnError is the ACL's answer when MongoDB fails or times out.
	ACLOnError Answer
	// Timeout bounds each query, finding a server included. 0 means 5s.
	Timeout time.Duration

	// CacheTTL keeps the documents found for this long; passwords are
	// still checked each time. 0 (the default) turns the cache off.
	CacheTTL time.Duration
	// CacheSize bounds the cached answers. 0 means 10000.
	CacheSize int

	// Logger receives the module's errors, once per burst of failures,
	// and a line when MongoDB answers again. nil discards them.
	Logger *slog.Logger
}

// Auth authenticates clients and authorizes their publishes and
// subscriptions from MongoDB collections: EMQ's emq_auth_mongo. It is a
// broker.Authenticator, broker.SuperuserChecker and broker.Authorizer; a
// module asked about a part that is off answers Ignore. Close it when
// done.
type Auth struct {
	cfg    Config
	hash   passwd.Hash
	auth   *query
	super  *query
	acl    *query
	client *mongo.Client
	db     *mongo.Database
	cache  *backend.Cache[[]bson.Raw]
	errs   backend.BurstLog
}

var (
	_ broker.Authenticator    = (*Auth)(nil)
	_ broker.SuperuserChecker = (*Auth)(nil)
	_ broker.Authorizer       = (*Auth)(nil)
	_ broker.Describer        = (*Auth)(nil)
)

// query is a parsed query: a collection and a selector.
type query struct {
	what       string // auth_query, super_query, acl_query
	collection string
	sel        []selField
	user       bool // the selector uses %u
}

// selField is one field of a selector: a literal value, or a placeholder.
type selField struct {
	name  string
	lit   string
	value byte // 'u', 'c' or 0 for lit
}

// ParseSelector reads a selector, comma-separated field=value pairs such
// as "username=%u, clientid=%c". A value is exactly %u or %c, or a
// literal; field names may not start with '$'.
func ParseSelector(s string) ([]string, error) {
	fs, err := parseSelector(s)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.name
	}
	return out, nil
}

func parseSelector(s string) ([]selField, error) {
	if strings.TrimSpace(s) == "" {
		s = DefaultSelector
	}
	var out []selField
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, value, ok := strings.Cut(item, "=")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		switch {
		case !ok || name == "":
			return nil, fmt.Errorf("selector %q: %q is not field=value", s, item)
		case strings.HasPrefix(name, "$"):
			return nil, fmt.Errorf("selector %q: field %q starts with '$'", s, name)
		}
		f := selField{name: name}
		switch value {
		case "%u":
			f.value = 'u'
		case "%c":
			f.value = 'c'
		default:
			if strings.Contains(value, "%") {
				return nil, fmt.Errorf("selector %q: value %q of %s must be exactly %%u or %%c, or a literal without %%", s, value, name)
			}
			f.lit = value
		}
		out = append(out, f)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("selector %q: no field=value pair", s)
	}
	return out, nil
}

func parseQuery(what, collection, selector string) (*query, error) {
	if collection == "" {
		return nil, nil
	}
	sel, err := parseSelector(selector)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	q := &query{what: what, collection: collection, sel: sel}
	for _, f := range sel {
		if f.value == 'u' {
			q.user = true
		}
	}
	return q, nil
}

// filter returns the query's filter for c, a document of plain values:
// what a client sends is always a string value, never an operator.
func (q *query) filter(c *broker.ClientInfo) (bson.D, string) {
	d := make(bson.D, len(q.sel))
	var key strings.Builder
	key.WriteString(q.collection)
	for i, f := range q.sel {
		v := f.lit
		switch f.value {
		case 'u':
			v = c.Username
		case 'c':
			v = c.ClientID
		}
		d[i] = bson.E{Key: f.name, Value: v}
		key.WriteByte(0)
		key.WriteString(f.name)
		key.WriteByte(0)
		key.WriteString(v)
	}
	return d, key.String()
}

func hostPort(addr string) (string, error) {
	addr = strings.TrimSpace(addr)
	if addr == "" {
		return "", errors.New("empty server address")
	}
	if !strings.Contains(addr, ":") {
		return net.JoinHostPort(addr, "27017"), nil
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

// New returns an Auth for cfg. It connects in the background: a server
// that is down makes queries fail, not New.
func New(cfg Config) (*Auth, error) {
	var errs []error
	a := &Auth{}
	if len(cfg.Addrs) == 0 {
		cfg.Addrs = []string{"127.0.0.1:27017"}
	}
	hosts := make([]string, 0, len(cfg.Addrs))
	for _, s := range cfg.Addrs {
		h, err := hostPort(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		hosts = append(hosts, h)
	}
	cfg.Addrs = hosts
	if cfg.Database == "" {
		cfg.Database = "mqtt"
	}
	if cfg.PasswordHash == "" {
		cfg.PasswordHash = "sha256"
	}
	var err error
	if a.hash, err = passwd.Parse(cfg.PasswordHash); err != nil {
		errs = append(errs, err)
	}
	if cfg.AuthQuery.PasswordField == "" {
		cfg.AuthQuery.PasswordField = "password"
	}
	if cfg.SuperQuery.SuperField == "" {
		cfg.SuperQuery.SuperField = "is_superuser"
	}
	if a.auth, err = parseQuery("auth_query", cfg.AuthQuery.Collection, cfg.AuthQuery.Selector); err != nil {
		errs = append(errs, err)
	}
	if a.super, err = parseQuery("super_query", cfg.SuperQuery.Collection, cfg.SuperQuery.Selector); err != nil {
		errs = append(errs, err)
	}
	if a.acl, err = parseQuery("acl_query", cfg.ACLQuery.Collection, cfg.ACLQuery.Selector); err != nil {
		errs = append(errs, err)
	}
	if cfg.UnknownUser != broker.Ignore && cfg.UnknownUser != broker.Deny {
		errs = append(errs, fmt.Errorf("UnknownUser %v: want ignore or deny", cfg.UnknownUser))
	}
	errs = append(errs, cfg.ACLNoMatch.Check("ACLNoMatch", Deny, Ignore, Allow),
		cfg.AuthOnError.Check("AuthOnError", Deny, Ignore),
		cfg.ACLOnError.Check("ACLOnError", Deny, Ignore, Allow))
	if cfg.PoolSize < 0 || cfg.Timeout < 0 || cfg.CacheTTL < 0 || cfg.CacheSize < 0 {
		errs = append(errs, errors.New("PoolSize, Timeout, CacheTTL and CacheSize must not be negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("auth/authmongo: %w", err)
	}
	if cfg.PoolSize == 0 {
		cfg.PoolSize = 8
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	a.cfg = cfg
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a.errs = backend.BurstLog{Log: log, Server: "mongodb " + strings.Join(cfg.Addrs, ",")}
	a.cache = backend.NewCache[[]bson.Raw](cfg.CacheTTL, cfg.CacheSize)
	opts := options.Client().
		SetHosts(cfg.Addrs).
		SetMaxPoolSize(uint64(cfg.PoolSize)).
		SetConnectTimeout(cfg.Timeout).
		SetServerSelectionTimeout(cfg.Timeout).
		SetServerMonitoringMode(options.ServerMonitoringModePoll).
		SetRetryReads(false).
		SetAppName("emqgo-authmongo")
	if len(cfg.Addrs) == 1 {
		opts.SetDirect(true)
	}
	if cfg.Username != "" {
		opts.SetAuth(options.Credential{Username: cfg.Username, Password: cfg.Password, AuthSource: cfg.AuthSource})
	}
	if a.client, err = mongo.Connect(opts); err != nil {
		return nil, fmt.Errorf("auth/authmongo: %w", err)
	}
	a.db = a.client.Database(cfg.Database)
	return a, nil
}

// Description returns EMQ's description of the module.
func (a *Auth) Description() string { return "Authentication with MongoDB" }

// Close disconnects from MongoDB.
func (a *Auth) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.Timeout)
	defer cancel()
	return a.client.Disconnect(ctx)
}

// ClearCache drops the cached documents, if the cache is on.
func (a *Auth) ClearCache() { a.cache.Clear() }

// errFailed reports a failure already logged by the burst log.
var errFailed = errors.New("auth/authmongo: mongodb failed")

// maxACLDocs bounds the ACL documents read for one user.
const maxACLDocs = 100

// find runs q for c: one document (or none), or for the ACL up to
// maxACLDocs. It reads and fills the cache, and logs failures in bursts.
func (a *Auth) find(ctx context.Context, q *query, c *broker.ClientInfo, many bool) ([]bson.Raw, error) {
	filter, key := q.filter(c)
	if many {
		key = "*" + key
	}
	if docs, ok := a.cache.Get(key); ok {
		return docs, nil
	}
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Timeout)
	defer cancel()
	coll := a.db.Collection(q.collection)
	var docs []bson.Raw
	var err error
	if many {
		var cur *mongo.Cursor
		cur, err = coll.Find(ctx, filter, options.Find().SetLimit(maxACLDocs))
		if err == nil {
			for cur.Next(ctx) {
				docs = append(docs, append(bson.Raw(nil), cur.Current...))
			}
			err = errors.Join(cur.Err(), cur.Close(ctx))
		}
	} else {
		var doc bson.Raw
		doc, err = coll.FindOne(ctx, filter).Raw()
		switch {
		case errors.Is(err, mongo.ErrNoDocuments):
			err = nil
		case err == nil:
			docs = []bson.Raw{doc}
		}
	}
	if err != nil {
		if isServerError(err) {
			a.errs.OK()
			return nil, fmt.Errorf("auth/authmongo: %s on %s: %w", q.what, q.collection, err)
		}
		a.errs.Failed(q.what, err)
		return nil, errFailed
	}
	a.errs.OK()
	a.cache.Put(key, docs)
	return docs, nil
}

// isServerError reports whether err is an answer of the server (a
// command error, such as a failed login or a bad query) rather than a
// failure to reach it.
func isServerError(err error) bool {
	var ce mongo.CommandError
	if errors.As(err, &ce) {
		return !ce.HasErrorLabel("NetworkError") && !mongo.IsNetworkError(err) && !mongo.IsTimeout(err)
	}
	return false
}

// Authenticate finds the user's document with AuthQuery and checks the
// password against its password field (and salt field). A client without
// a user name or a password is refused without asking, as EMQ does. A user
// without a document gets UnknownUser; a document without a password
// field is refused; a failure of MongoDB answers AuthOnError.
func (a *Auth) Authenticate(ctx context.Context, c *broker.ClientInfo, password []byte) (broker.Decision, error) {
	if a.auth == nil {
		return broker.Ignore, nil
	}
	if c.Username == "" || len(password) == 0 {
		return broker.Deny, nil
	}
	docs, err := a.find(ctx, a.auth, c, false)
	if errors.Is(err, errFailed) {
		return a.cfg.AuthOnError.Decision(), nil
	}
	if err != nil {
		return broker.Deny, err
	}
	if len(docs) == 0 {
		return a.cfg.UnknownUser, nil
	}
	stored, ok := stringField(docs[0], a.cfg.AuthQuery.PasswordField)
	if !ok {
		return broker.Deny, nil
	}
	var salt string
	if a.cfg.AuthQuery.SaltField != "" {
		salt, _ = stringField(docs[0], a.cfg.AuthQuery.SaltField)
	}
	err = a.hash.Check(password, []byte(salt), stored)
	switch {
	case err == nil:
		return broker.Allow, nil
	case errors.Is(err, passwd.ErrMismatch):
		return broker.Deny, nil
	}
	return broker.Deny, fmt.Errorf("auth/authmongo: user %q: %w", c.Username, err)
}

// stringField returns the string (or binary) value of doc's field name.
func stringField(doc bson.Raw, name string) (string, bool) {
	v, err := doc.LookupErr(name)
	if err != nil {
		return "", false
	}
	if s, ok := v.StringValueOK(); ok {
		return s, true
	}
	if _, b, ok := v.BinaryOK(); ok {
		return string(b), true
	}
	return "", false
}

// IsSuperuser finds the user's document with SuperQuery: the user is a
// superuser when its super field is true or the number 1. A failure of
// MongoDB makes none.
func (a *Auth) IsSuperuser(ctx context.Context, c *broker.ClientInfo) (bool, error) {
	if a.super == nil || a.auth == nil || (a.super.user && c.Username == "") {
		return false, nil
	}
	docs, err := a.find(ctx, a.super, c, false)
	if errors.Is(err, errFailed) {
		return false, nil
	}
	if err != nil || len(docs) == 0 {
		return false, err
	}
	v, err := docs[0].LookupErr(a.cfg.SuperQuery.SuperField)
	if err != nil {
		return false, nil
	}
	if b, ok := v.BooleanOK(); ok {
		return b, nil
	}
	if n, ok := v.AsInt64OK(); ok {
		return n == 1, nil
	}
	return false, nil
}

// Authorize finds the user's ACL documents and matches topic against
// their "publish" and "pubsub" arrays (for a publish) or "subscribe" and
// "pubsub" (for a subscription): a match allows; documents and no match
// answer ACLNoMatch; no documents, Ignore. User names starting with '$'
// are ignored, as in EMQ.
func (a *Auth) Authorize(ctx context.Context, c *broker.ClientInfo, access broker.Access, topic string) (broker.Decision, error) {
	if a.acl == nil || strings.HasPrefix(c.Username, "$") || (a.acl.user && c.Username == "") {
		return broker.Ignore, nil
	}
	docs, err := a.find(ctx, a.acl, c, true)
	if errors.Is(err, errFailed) {
		return a.cfg.ACLOnError.Decision(), nil
	}
	if err != nil {
		return a.cfg.ACLOnError.Decision(), err
	}
	if len(docs) == 0 {
		return broker.Ignore, nil
	}
	fields := []string{"subscribe", "pubsub"}
	if access == broker.AccessPublish {
		fields[0] = "publish"
	}
	for _, doc := range docs {
		for _, f := range fields {
			v, err := doc.LookupErr(f)
			if err != nil {
				continue
			}
			arr, ok := v.ArrayOK()
			if !ok {
				continue
			}
			vals, err := arr.Values()
			if err != nil {
				continue
			}
			for _, e := range vals {
				if filter, ok := e.StringValueOK(); ok && backend.MatchFilter(filter, topic, c.Username, c.ClientID) {
					return broker.Allow, nil
				}
			}
		}
	}
	return a.cfg.ACLNoMatch.Decision(), nil
}
