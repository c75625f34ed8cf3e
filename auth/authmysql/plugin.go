package authmysql

import (
	"context"
	"errors"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/auth/internal/backend"
	"github.com/emqgo/broker/auth/internal/sqlauth"
	"github.com/emqgo/broker/conf"
)

// Plugin is the module as a plugin for a broker's registry, EMQ's
// emq_auth_mysql, configured by etc/plugins/emq_auth_mysql.conf (see
// ParseConfig):
//
//	b.Plugins().Register(authmysql.Plugin)
//	err := b.Plugins().Load(ctx, "emq_auth_mysql")
//
// It registers the authentication module when auth.mysql.auth_query is
// set and the ACL module when auth.mysql.acl_query is set. Loading does
// not wait for the server: a server that is down is reported in the log
// and used as soon as it answers.
var Plugin = broker.PluginInfo{
	Name:        "emq_auth_mysql",
	Description: "Authentication/ACL with MySQL",
	Defaults:    Defaults,
	New:         newPlugin,
}

// Defaults is the plugin's configuration with every key at its default:
// EMQ 2.0's shipped emq_auth_mysql.conf, and the keys emqgo adds.
const Defaults = `auth.mysql.server = 127.0.0.1:3306
auth.mysql.pool = 8
auth.mysql.username =
auth.mysql.password =
auth.mysql.database = mqtt
auth.mysql.auth_query = ` + DefaultAuthQuery + `
auth.mysql.password_hash = sha256
auth.mysql.super_query = ` + DefaultSuperQuery + `
auth.mysql.acl_query = ` + DefaultACLQuery + `
auth.mysql.acl_nomatch = deny
auth.mysql.acl_order = reverse
auth.mysql.unknown_user = deny
auth.mysql.on_error = deny
auth.mysql.connect_timeout = 5s
auth.mysql.query_timeout = 5s
auth.mysql.cache_ttl = 0
auth.mysql.cache_size = 10000
`

type fileConfig struct {
	MySQL struct {
		sqlauth.FileKeys
	} `conf:"auth.mysql"`
}

// ParseConfig decodes the plugin's configuration, the whole
// emq_auth_mysql.conf: EMQ's keys auth.mysql.server, pool, username,
// password, database, auth_query, password_hash, super_query, acl_query
// and acl_nomatch (allow, deny or ignore), and emqgo's acl_order (reverse
// or forward), unknown_user and on_error (deny or ignore),
// connect_timeout, query_timeout, cache_ttl and cache_size. An empty
// query turns it off. Keys left out keep the values of Defaults only when
// m was read over Defaults, as the plugin registry does. Every error
// names file, line and key.
func ParseConfig(m conf.Map) (Config, error) {
	var f fileConfig
	errs := []error{m.Decode(&f)}
	k := f.MySQL.FileKeys
	o, err := k.Check(m, "auth.mysql", dialect)
	errs = append(errs, err)
	cfg := Config{
		Server: k.Server, Username: k.Username, Password: k.Password, Database: k.Database, Pool: k.Pool,
		AuthQuery: o.AuthQuery, PasswordHash: o.PasswordHash, SuperQuery: o.SuperQuery, ACLQuery: o.ACLQuery,
		ACLNoMatch: o.ACLNoMatch, ACLForward: o.ACLForward, IgnoreUnknown: o.IgnoreUnknown, IgnoreOnError: o.IgnoreOnError,
		ConnectTimeout: k.ConnectTimeout, QueryTimeout: k.QueryTimeout, CacheTTL: k.CacheTTL, CacheSize: k.CacheSize,
	}
	if _, err := driverConfig(cfg); err != nil {
		errs = append(errs, m.Errorf("auth.mysql.server", "%v", err))
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
	sqlauth.Register(h, Plugin.Name, dialect, a, sqlauth.Started{
		Server: cfg.Server, Database: cfg.Database,
		AuthQuery: cfg.AuthQuery, SuperQuery: cfg.SuperQuery, ACLQuery: cfg.ACLQuery,
	})
	return nil
}
