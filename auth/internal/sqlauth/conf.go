package sqlauth

import (
	"errors"
	"strings"
	"time"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/conf"
)

// FileKeys are the configuration keys both SQL plugins read under their
// prefix (auth.mysql, auth.pgsql). A plugin embeds FileKeys, untagged, in
// the struct it decodes under that prefix.
type FileKeys struct {
	Server         string        `conf:"server"`
	Pool           int           `conf:"pool"`
	Username       string        `conf:"username"`
	Password       string        `conf:"password"`
	Database       string        `conf:"database"`
	AuthQuery      string        `conf:"auth_query"`
	PasswordHash   string        `conf:"password_hash"`
	SuperQuery     string        `conf:"super_query"`
	ACLQuery       string        `conf:"acl_query"`
	ACLNoMatch     string        `conf:"acl_nomatch"`
	ACLOrder       string        `conf:"acl_order"`
	UnknownUser    string        `conf:"unknown_user"`
	OnError        string        `conf:"on_error"`
	ConnectTimeout time.Duration `conf:"connect_timeout,unit=s"`
	QueryTimeout   time.Duration `conf:"query_timeout,unit=s"`
	CacheTTL       time.Duration `conf:"cache_ttl,unit=s"`
	CacheSize      int           `conf:"cache_size"`
}

// Check validates the keys that Decode cannot (enumerations, the hash, the
// queries, ranges) and returns them as Options. Each error names the
// entry's file, line and key.
func (k FileKeys) Check(m conf.Map, prefix string, d Dialect) (Options, error) {
	var errs []error
	key := func(name string) string { return prefix + "." + name }
	o := Options{
		AuthQuery: k.AuthQuery, PasswordHash: k.PasswordHash, SuperQuery: k.SuperQuery, ACLQuery: k.ACLQuery,
		QueryTimeout: k.QueryTimeout, CacheTTL: k.CacheTTL, CacheSize: k.CacheSize,
	}
	switch strings.ToLower(k.ACLNoMatch) {
	case "", "ignore":
		o.ACLNoMatch = broker.Ignore
	case "deny":
		o.ACLNoMatch = broker.Deny
	case "allow":
		o.ACLNoMatch = broker.Allow
	default:
		errs = append(errs, m.Errorf(key("acl_nomatch"), "invalid value %q: want allow, deny or ignore", k.ACLNoMatch))
	}
	switch strings.ToLower(k.ACLOrder) {
	case "", "reverse":
	case "forward":
		o.ACLForward = true
	default:
		errs = append(errs, m.Errorf(key("acl_order"), "invalid value %q: want reverse (the last row first, as EMQ) or forward", k.ACLOrder))
	}
	switch strings.ToLower(k.UnknownUser) {
	case "", "deny":
	case "ignore":
		o.IgnoreUnknown = true
	default:
		errs = append(errs, m.Errorf(key("unknown_user"), "invalid value %q: want deny or ignore", k.UnknownUser))
	}
	switch strings.ToLower(k.OnError) {
	case "", "deny":
	case "ignore":
		o.IgnoreOnError = true
	default:
		errs = append(errs, m.Errorf(key("on_error"), "invalid value %q: want deny or ignore", k.OnError))
	}
	if _, err := ParseHash(k.PasswordHash); err != nil {
		errs = append(errs, m.Errorf(key("password_hash"), "%s", strings.TrimPrefix(err.Error(), "passwd: ")))
	}
	for _, q := range []struct{ name, text string }{{"auth_query", k.AuthQuery}, {"super_query", k.SuperQuery}, {"acl_query", k.ACLQuery}} {
		if _, err := ParseQuery(q.text, d.Style); err != nil {
			errs = append(errs, m.Errorf(key(q.name), "%v", err))
		}
	}
	if k.Pool < 1 {
		errs = append(errs, m.Errorf(key("pool"), "%d: want 1 or more connections", k.Pool))
	}
	for _, t := range []struct {
		name string
		d    time.Duration
	}{{"connect_timeout", k.ConnectTimeout}, {"query_timeout", k.QueryTimeout}, {"cache_ttl", k.CacheTTL}} {
		if t.d < 0 {
			errs = append(errs, m.Errorf(key(t.name), "%v is negative", t.d))
		}
	}
	if k.CacheSize < 0 {
		errs = append(errs, m.Errorf(key("cache_size"), "%d is negative", k.CacheSize))
	}
	return o, errors.Join(errs...)
}
