package sqlauth

import (
	"context"
	"database/sql"
	"time"

	"github.com/emqgo/broker"
)

// Open returns an Auth running o's queries on db, with db's pool bounded
// to pool connections (o.Pool is set to pool). It takes db over, closing
// it when it fails.
func Open(db *sql.DB, d Dialect, pool int, o Options) (*Auth, error) {
	db.SetMaxOpenConns(pool)
	db.SetMaxIdleConns(pool)
	db.SetConnMaxIdleTime(5 * time.Minute)
	o.Pool = pool
	a, err := New(db, d, o)
	if err != nil {
		db.Close()
		return nil, err
	}
	return a, nil
}

// Module is a SQL plugin's public Auth.
type Module interface {
	broker.Authenticator
	broker.Authorizer
	Ping(ctx context.Context) error
}

// Started is what a SQL plugin's Load registers and logs.
type Started struct {
	Server, Database                string
	AuthQuery, SuperQuery, ACLQuery string
}

// Register registers a with h for the plugin name, as the authentication
// module when s has an auth query and the ACL module when it has an ACL
// query, and pings the server in the background: the log says whether it
// answers. Loading does not wait for the server.
func Register(h *broker.PluginHost, name string, d Dialect, a Module, s Started) {
	if s.AuthQuery != "" {
		h.RegisterAuth(a, broker.Named(name))
	}
	if s.ACLQuery != "" {
		h.RegisterACL(a, broker.Named(name))
	}
	h.Go(func(ctx context.Context) {
		if err := a.Ping(ctx); err != nil && ctx.Err() == nil {
			h.Logger().Warn(d.Server+" server not reachable yet; clients get the on_error answer until it is", "server", s.Server, "err", err)
			return
		}
		if ctx.Err() == nil {
			h.Logger().Info(d.Server+" authentication started", "server", s.Server, "database", s.Database,
				"acl", s.ACLQuery != "", "superuser", s.SuperQuery != "")
		}
	})
}
