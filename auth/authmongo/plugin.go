package authmongo

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/auth/internal/backend"
	"github.com/emqgo/broker/auth/internal/passwd"
	"github.com/emqgo/broker/conf"
)

// Plugin is the module as a plugin for a broker's registry, EMQ's
// emq_auth_mongo, configured by etc/plugins/emq_auth_mongo.conf (see
// ParseConfig):
//
//	b.Plugins().Register(authmongo.Plugin)
//	err := b.Plugins().Load(ctx, "emq_auth_mongo")
//
// It registers the authentication module when
// auth.mongo.auth_query.collection is set, and the ACL module when
// auth.mongo.acl_query is on and has a collection.
var Plugin = broker.PluginInfo{
	Name:        "emq_auth_mongo",
	Description: "Authentication/ACL with MongoDB",
	Defaults:    Defaults,
	New:         newPlugin,
}

// Defaults is the plugin's configuration with every key at its default:
// EMQ 2.0's shipped emq_auth_mongo.conf (with the ACL collection of its
// code, mqtt_acl), EMQ 2.3's switches and auth_source, and the keys added
// here.
const Defaults = `auth.mongo.server = 127.0.0.1:27017
auth.mongo.pool = 8
auth.mongo.user =
auth.mongo.password =
auth.mongo.auth_source =
auth.mongo.database = mqtt
auth.mongo.auth_query.collection = mqtt_user
auth.mongo.auth_query.password_field = password
auth.mongo.auth_query.password_hash = sha256
auth.mongo.auth_query.selector = username=%u
auth.mongo.super_query = on
auth.mongo.super_query.collection = mqtt_user
auth.mongo.super_query.super_field = is_superuser
auth.mongo.super_query.selector = username=%u
auth.mongo.acl_query = on
auth.mongo.acl_query.collection = mqtt_acl
auth.mongo.acl_query.selector = username=%u
auth.mongo.acl_nomatch = deny
auth.mongo.user_not_found = ignore
auth.mongo.auth_on_error = deny
auth.mongo.acl_on_error = deny
auth.mongo.timeout = 5s
auth.mongo.cache_ttl = 0s
auth.mongo.cache_size = 10000
`

type fileConfig struct {
	Mongo struct {
		Server     string `conf:"server"`
		Pool       int    `conf:"pool"`
		User       string `conf:"user"`
		Login      string `conf:"login"`
		Password   string `conf:"password"`
		AuthSource string `conf:"auth_source"`
		Database   string `conf:"database"`
		AuthQuery  struct {
			Collection    string `conf:"collection"`
			PasswordField string `conf:"password_field"`
			PasswordHash  string `conf:"password_hash"`
			Selector      string `conf:"selector"`
		} `conf:"auth_query"`
		SuperQuery struct {
			On         string `conf:"."`
			Collection string `conf:"collection"`
			SuperField string `conf:"super_field"`
			Selector   string `conf:"selector"`
		} `conf:"super_query"`
		ACLQuery struct {
			On         string `conf:"."`
			Collection string `conf:"collection"`
			Selector   string `conf:"selector"`
		} `conf:"acl_query"`
		ACLNoMatch   string        `conf:"acl_nomatch"`
		UserNotFound string        `conf:"user_not_found"`
		AuthOnError  string        `conf:"auth_on_error"`
		ACLOnError   string        `conf:"acl_on_error"`
		Timeout      time.Duration `conf:"timeout,unit=s"`
		CacheTTL     time.Duration `conf:"cache_ttl,unit=s"`
		CacheSize    int           `conf:"cache_size"`
	} `conf:"auth.mongo"`
}

// ParseConfig decodes the plugin's configuration, the whole
// emq_auth_mongo.conf: EMQ's keys (server, pool, user or login, password,
// auth_source, database, auth_query.*, super_query[.*], acl_query[.*],
// acl_nomatch) and auth.mongo.user_not_found, auth_on_error, acl_on_error,
// timeout, cache_ttl and cache_size. auth_query.password_field is a field,
// or "password,salt": the password field and the salt field. Every error
// names file, line and key.
func ParseConfig(m conf.Map) (Config, error) {
	var f fileConfig
	errs := []error{m.Decode(&f)}
	g := f.Mongo
	bad := func(key string, err error) {
		if err != nil {
			errs = append(errs, m.Errorf(key, "%v", err))
		}
	}
	cfg := Config{
		Username: g.User, Password: g.Password, AuthSource: g.AuthSource, Database: g.Database, PoolSize: g.Pool,
		PasswordHash: g.AuthQuery.PasswordHash,
		Timeout:      g.Timeout, CacheTTL: g.CacheTTL, CacheSize: g.CacheSize,
	}
	if g.Login != "" {
		if g.User != "" {
			bad("auth.mongo.login", errors.New("auth.mongo.user is set too; use one of them"))
		}
		cfg.Username = g.Login
	}
	for s := range strings.SplitSeq(g.Server, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if _, err := hostPort(s); err != nil {
			bad("auth.mongo.server", err)
		}
		cfg.Addrs = append(cfg.Addrs, s)
	}
	fields := strings.Split(g.AuthQuery.PasswordField, ",")
	cfg.AuthQuery = AuthQuery{Collection: g.AuthQuery.Collection, PasswordField: strings.TrimSpace(fields[0]), Selector: g.AuthQuery.Selector}
	switch len(fields) {
	case 1:
	case 2:
		cfg.AuthQuery.SaltField = strings.TrimSpace(fields[1])
	default:
		bad("auth.mongo.auth_query.password_field", errors.New("want a field, or the password field and the salt field: password,salt"))
	}
	if !conf.IsOff(g.SuperQuery.On) {
		cfg.SuperQuery = SuperQuery{Collection: g.SuperQuery.Collection, SuperField: g.SuperQuery.SuperField, Selector: g.SuperQuery.Selector}
	}
	if !conf.IsOff(g.ACLQuery.On) {
		cfg.ACLQuery = ACLQuery{Collection: g.ACLQuery.Collection, Selector: g.ACLQuery.Selector}
	}
	for key, sel := range map[string]string{"auth_query": g.AuthQuery.Selector, "super_query": g.SuperQuery.Selector, "acl_query": g.ACLQuery.Selector} {
		if _, err := parseSelector(sel); err != nil {
			bad("auth.mongo."+key+".selector", err)
		}
	}
	if g.AuthQuery.PasswordHash != "" {
		_, err := passwd.Parse(g.AuthQuery.PasswordHash)
		bad("auth.mongo.auth_query.password_hash", err)
	}
	var err error
	cfg.ACLNoMatch, err = backend.ParseAnswer(g.ACLNoMatch)
	bad("auth.mongo.acl_nomatch", err)
	cfg.AuthOnError, err = backend.ParseAnswer(g.AuthOnError, Deny, Ignore)
	bad("auth.mongo.auth_on_error", err)
	cfg.ACLOnError, err = backend.ParseAnswer(g.ACLOnError)
	bad("auth.mongo.acl_on_error", err)
	var nf Answer
	nf, err = backend.ParseAnswer(g.UserNotFound, Ignore, Deny)
	bad("auth.mongo.user_not_found", err)
	cfg.UnknownUser = nf.Decision()
	for key, v := range map[string]int64{"pool": int64(g.Pool), "timeout": int64(g.Timeout), "cache_ttl": int64(g.CacheTTL), "cache_size": int64(g.CacheSize)} {
		if v < 0 {
			bad("auth.mongo."+key, errors.New("must not be negative"))
		}
	}
	return cfg, errors.Join(errs...)
}

type plugin struct {
	backend.Plugin[Config]
}

func newPlugin() broker.Plugin { return &plugin{backend.Plugin[Config]{Parse: ParseConfig}} }

var (
	_ broker.Plugin     = (*plugin)(nil)
	_ broker.Configurer = (*plugin)(nil)
	_ broker.Unloader   = (*plugin)(nil)
)

// Load implements broker.Plugin.
func (p *plugin) Load(_ context.Context, h *broker.PluginHost, m conf.Map) error {
	if err := p.Configure(m); err != nil {
		return err
	}
	cfg := p.Cfg
	cfg.Logger = h.Logger()
	a, err := New(cfg)
	if err != nil {
		return err
	}
	p.Module = a
	if a.auth != nil {
		h.RegisterAuth(a, broker.Named(Plugin.Name))
	}
	if a.acl != nil {
		h.RegisterACL(a, broker.Named(Plugin.Name))
	}
	h.Logger().Info("MongoDB authentication started", "server", strings.Join(a.cfg.Addrs, ","), "database", a.cfg.Database,
		"auth_collection", cfg.AuthQuery.Collection, "acl_collection", cfg.ACLQuery.Collection)
	return nil
}
