// Package authpgsql authenticates MQTT clients and authorizes their
// publishes and subscriptions with tables in a PostgreSQL database: EMQ's
// emq_auth_pgsql plugin, on github.com/jackc/pgx/v5 through its
// database/sql adapter.
//
// An embedder builds the module with New and registers it:
//
//	a, err := authpgsql.New(authpgsql.Config{
//		Server:     "127.0.0.1:5432",
//		Username:   "emqgo",
//		Password:   "secret",
//		Database:   "mqtt",
//		AuthQuery:  authpgsql.DefaultAuthQuery,
//		SuperQuery: authpgsql.DefaultSuperQuery,
//		ACLQuery:   authpgsql.DefaultACLQuery,
//	})
//	...
//	defer a.Close()
//	b.RegisterAuth(a)
//	b.RegisterACL(a)
//
// and emqd loads it as the plugin emq_auth_pgsql (see Plugin), configured
// by etc/plugins/emq_auth_pgsql.conf.
//
// # Tables
//
// The queries are free, but EMQ's documentation gives these tables:
//
//	CREATE TABLE mqtt_user (
//	  id SERIAL primary key,
//	  is_superuser boolean,
//	  username character varying(100),
//	  password character varying(100),
//	  salt character varying(40)
//	);
//
//	CREATE TABLE mqtt_acl (
//	  id SERIAL primary key,
//	  allow integer,
//	  ipaddr character varying(60),
//	  username character varying(100),
//	  clientid character varying(100),
//	  access  integer,
//	  topic character varying(100)
//	);
//
// A sha512 hash needs a password column of 128 characters.
//
// # Queries
//
// The placeholders '%u' (user name), '%c' (client id) and '%a' (the
// client's IP address), written with their single quotes as in EMQ's
// configuration, become bound parameters $1, $2, ...: a client's values
// never become query text, whatever quotes or wildcards they hold.
//
// Authentication: the auth query returns the password column and, for
// the salted hashes, a salt column (by name, or the second column). A
// user not found, or a client without a user name, is refused (EMQ 2.0;
// with Config.IgnoreUnknown it is left to the next module, as in EMQ
// 2.3). A known user with a wrong or empty password is refused. After a
// successful connect the broker runs the super query: the client is a
// superuser, and skips the ACL, when its first column is the boolean
// true.
//
// ACL: the rows of the ACL query for the access asked (1 subscribe, 2
// publish, 3 both) are checked in EMQ 2.x's order, the last row returned
// first (Config.ACLForward checks first to last; add an "order by" to the
// query to fix the order). A row applies to every client when username
// is '$all', otherwise to clients matching all of its non-empty ipaddr
// (an address or CIDR block), username and clientid. Its topic is a
// filter matched against the topic (a %u or %c level stands for the
// whole user name or client id), or, written "eq <topic>", a topic
// compared literally ("eq #" is only a subscription to #). The first
// matching row's allow decides; when none matches, Config.ACLNoMatch. A
// user name starting with '$' is left to the next module.
//
// # Failures
//
// The pool holds at most Config.Pool connections and every check gets
// Config.QueryTimeout, from waiting for a connection to reading the last
// row. A server that is down, hung or failing makes the check answer
// Deny (Ignore with Config.IgnoreOnError) within that time, without
// blocking the checks of other clients; the failure is logged once per
// burst, with a summary every minute and a line when the server answers
// again. The pool drops dead connections and dials new ones, so the
// module recovers by itself: a query that fails on a connection the
// server closed (it restarted) is retried on another, so the first
// clients after a restart are not refused.
//
// Config.CacheTTL turns on a cache of the rows each query returned, keyed
// by its parameters (the password is still checked on every connect).
//
// Differences from EMQ: the columns of a row are found by name when the
// query names them, not only by position; a failing ACL query answers
// like a failing auth query (Deny by default), where EMQ 2.3 ignored it; an unusable row (NULL allow,
// no who) is skipped and logged instead of failing the check; a client
// without a user name is "unknown" rather than always refused; bare
// bcrypt works (EMQ 2.3 accepted it and failed every login); only the
// utf8 encoding is supported, and ssl = true does not verify the
// server's certificate (as EMQ's ssl without ssl_opts).
package authpgsql
