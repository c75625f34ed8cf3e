package authredis

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
// emq_auth_redis, configured by etc/plugins/emq_auth_redis.conf (see
// ParseConfig):
//
//	b.Plugins().Register(authredis.Plugin)
//	err := b.Plugins().Load(ctx, "emq_auth_redis")
//
// It registers the authentication module when auth.redis.auth_cmd is set,
// the ACL module when auth.redis.acl_cmd is set, and the automatic
// subscriptions when auth.redis.sub_cmd is set.
var Plugin = broker.PluginInfo{
	Name:        "emq_auth_redis",
	Description: "Authentication/ACL with Redis",
	Defaults:    Defaults,
	New:         newPlugin,
}

// Defaults is the plugin's configuration with every key at its default:
// EMQ 2.0's shipped emq_auth_redis.conf, and the keys added here.
const Defaults = `auth.redis.server = 127.0.0.1:6379
auth.redis.pool = 8
auth.redis.database = 0
auth.redis.password =
auth.redis.auth_cmd = HGET mqtt_user:%u password
auth.redis.password_hash = sha256
auth.redis.super_cmd = HGET mqtt_user:%u is_superuser
auth.redis.acl_cmd = HGETALL mqtt_acl:%u
auth.redis.acl_nomatch = deny
auth.redis.sub_cmd = HGETALL mqtt_sub:%u
auth.redis.user_not_found = ignore
auth.redis.auth_on_error = deny
auth.redis.acl_on_error = deny
auth.redis.timeout = 5s
auth.redis.cache_ttl = 0s
auth.redis.cache_size = 10000
`

type fileConfig struct {
	Redis struct {
		Server       string        `conf:"server"`
		Pool         int           `conf:"pool"`
		Database     int           `conf:"database"`
		Password     string        `conf:"password"`
		AuthCmd      string        `conf:"auth_cmd"`
		PasswordHash string        `conf:"password_hash"`
		SuperCmd     string        `conf:"super_cmd"`
		ACLCmd       string        `conf:"acl_cmd"`
		ACLNoMatch   string        `conf:"acl_nomatch"`
		SubCmd       string        `conf:"sub_cmd"`
		UserNotFound string        `conf:"user_not_found"`
		AuthOnError  string        `conf:"auth_on_error"`
		ACLOnError   string        `conf:"acl_on_error"`
		Timeout      time.Duration `conf:"timeout,unit=s"`
		CacheTTL     time.Duration `conf:"cache_ttl,unit=s"`
		CacheSize    int           `conf:"cache_size"`
	} `conf:"auth.redis"`
}

// ParseConfig decodes the plugin's configuration, the whole
// emq_auth_redis.conf: EMQ's keys (server, pool, database, password,
// auth_cmd, password_hash, super_cmd, acl_cmd, acl_nomatch) and
// auth.redis.sub_cmd, user_not_found, auth_on_error, acl_on_error,
// timeout, cache_ttl and cache_size. An empty command turns its part off.
// Every error names file, line and key.
func ParseConfig(m conf.Map) (Config, error) {
	var f fileConfig
	errs := []error{m.Decode(&f)}
	r := f.Redis
	cfg := Config{
		Addr: r.Server, Password: r.Password, Database: r.Database, PoolSize: r.Pool,
		AuthCmd: r.AuthCmd, PasswordHash: r.PasswordHash, SuperCmd: r.SuperCmd, ACLCmd: r.ACLCmd, SubCmd: r.SubCmd,
		Timeout: r.Timeout, CacheTTL: r.CacheTTL, CacheSize: r.CacheSize,
	}
	bad := func(key string, err error) {
		if err != nil {
			errs = append(errs, m.Errorf(key, "%v", err))
		}
	}
	var err error
	_, err = Addr(r.Server)
	bad("auth.redis.server", err)
	if r.PasswordHash != "" {
		_, err = passwd.Parse(r.PasswordHash)
		bad("auth.redis.password_hash", err)
	}
	for key, text := range map[string]string{"auth_cmd": r.AuthCmd, "super_cmd": r.SuperCmd, "acl_cmd": r.ACLCmd, "sub_cmd": r.SubCmd} {
		if _, err := parseCommand(key, text); err != nil {
			bad("auth.redis."+key, errors.New(strings.TrimPrefix(err.Error(), key+": ")))
		}
	}
	cfg.ACLNoMatch, err = backend.ParseAnswer(r.ACLNoMatch)
	bad("auth.redis.acl_nomatch", err)
	cfg.AuthOnError, err = backend.ParseAnswer(r.AuthOnError, Deny, Ignore)
	bad("auth.redis.auth_on_error", err)
	cfg.ACLOnError, err = backend.ParseAnswer(r.ACLOnError)
	bad("auth.redis.acl_on_error", err)
	var nf Answer
	nf, err = backend.ParseAnswer(r.UserNotFound, Ignore, Deny)
	bad("auth.redis.user_not_found", err)
	cfg.UnknownUser = nf.Decision()
	if r.Pool < 0 {
		bad("auth.redis.pool", errors.New("must not be negative"))
	}
	if r.Database < 0 {
		bad("auth.redis.database", errors.New("must not be negative"))
	}
	if r.Timeout < 0 {
		bad("auth.redis.timeout", errors.New("must not be negative"))
	}
	if r.CacheTTL < 0 {
		bad("auth.redis.cache_ttl", errors.New("must not be negative"))
	}
	if r.CacheSize < 0 {
		bad("auth.redis.cache_size", errors.New("must not be negative"))
	}
	return cfg, errors.Join(errs...)
}

type plugin struct {
	backend.Plugin[Config]
}

func newPlugin() broker.Plugin {
	return &plugin{backend.Plugin[Config]{Parse: backend.CheckedBy(ParseConfig, New)}}
}

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
	if a.subs != nil {
		a.register(h, h.Broker())
	}
	h.Logger().Info("Redis authentication started", "server", a.cfg.Addr, "database", cfg.Database,
		"auth_cmd", cfg.AuthCmd, "acl_cmd", cfg.ACLCmd, "sub_cmd", cfg.SubCmd)
	return nil
}
