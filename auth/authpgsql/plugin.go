package authpgsql

import (
	"context"
	"errors"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/auth/internal/backend"
	"github.com/emqgo/broker/auth/internal/sqlauth"
	"github.com/emqgo/broker/conf"
)

// Plugin is the module as a plugin for a broker's registry, EMQ's
// emq_auth_pgsql, configured by etc/plugins/emq_auth_pgsql.conf (see
// ParseConfig):
//
//	b.Plugins().Register(authpgsql.Plugin)
//	err := b.Plugins().Load(ctx, "emq_auth_pgsql")
//
// It registers the authentication module when auth.pgsql.auth_query is
// set and the ACL module when auth.pgsql.acl_query is set. Loading does
// not wait for the server: a server that is down is reported in the log
// and used as soon as it answers.
var Plugin = broker.PluginInfo{
	Name:        "emq_auth_pgsql",
	Description: "Authentication/ACL with PostgreSQL",
	Defaults:    Defaults,
	New:         newPlugin,
}

// Defaults is the plugin's configuration with every key at its default:
// EMQ 2.0's shipped emq_auth_pgsql.conf, and the keys emqgo adds.
const Defaults = `auth.pgsql.server = 127.0.0.1:5432
auth.pgsql.pool = 8
auth.pgsql.username = root
auth.pgsql.password =
auth.pgsql.database = mqtt
auth.pgsql.encoding = utf8
auth.pgsql.ssl = false
auth.pgsql.auth_query = ` + DefaultAuthQuery + `
auth.pgsql.password_hash = sha256
auth.pgsql.super_query = ` + DefaultSuperQuery + `
auth.pgsql.acl_query = ` + DefaultACLQuery + `
auth.pgsql.acl_nomatch = deny
auth.pgsql.acl_order = reverse
auth.pgsql.unknown_user = deny
auth.pgsql.on_error = deny
auth.pgsql.connect_timeout = 5s
auth.pgsql.query_timeout = 5s
auth.pgsql.cache_ttl = 0
auth.pgsql.cache_size = 10000
`

type fileConfig struct {
	PgSQL struct {
		sqlauth.FileKeys
		Encoding string `conf:"encoding"`
		SSL      bool   `conf:"ssl"`
	} `conf:"auth.pgsql"`
}

// ParseConfig decodes the plugin's configuration, the whole
// emq_auth_pgsql.conf: EMQ's keys auth.pgsql.server, pool, username,
// password, database, encoding, ssl, auth_query, password_hash, super_query, acl_query
// and acl_nomatch (allow, deny or ignore), and emqgo's acl_order (reverse
// or forward), unknown_user and on_error (deny or ignore),
// connect_timeout, query_timeout, cache_ttl and cache_size. An empty
// query turns it off. Keys left out keep the values of Defaults only when
// m was read over Defaults, as the plugin registry does. Every error
// names file, line and key.
func ParseConfig(m conf.Map) (Config, error) {
	var f fileConfig
	errs := []error{m.Decode(&f)}
	k := f.PgSQL.FileKeys
	o, err := k.Check(m, "auth.pgsql", dialect)
	errs = append(errs, err)
	cfg := Config{
		Server: k.Server, Username: k.Username, Password: k.Password, Database: k.Database, Pool: k.Pool,
		Encoding: f.PgSQL.Encoding, SSL: f.PgSQL.SSL,
		AuthQuery: o.AuthQuery, PasswordHash: o.PasswordHash, SuperQuery: o.SuperQuery, ACLQuery: o.ACLQuery,
		ACLNoMatch: o.ACLNoMatch, ACLForward: o.ACLForward, IgnoreUnknown: o.IgnoreUnknown, IgnoreOnError: o.IgnoreOnError,
		ConnectTimeout: k.ConnectTimeout, QueryTimeout: k.QueryTimeout, CacheTTL: k.CacheTTL, CacheSize: k.CacheSize,
	}
	if err := checkEncoding(cfg.Encoding); err != nil {
		errs = append(errs, m.Errorf("auth.pgsql.encoding", "%v", err))
	}
	if _, _, err := parseServer(cfg.Server); err != nil {
		errs = append(errs, m.Errorf("auth.pgsql.server", "%v", err))
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
