// Package authmysql authenticates MQTT clients and authorizes their
// publishes and subscriptions with tables in a MySQL or MariaDB database:
// EMQ's emq_auth_mysql plugin, on github.com/go-sql-driver/mysql.
//
// An embedder builds the module with New and registers it:
//
//	a, err := authmysql.New(authmysql.Config{
//		Server:     "127.0.0.1:3306",
//		Username:   "emqgo",
//		Password:   "secret",
//		Database:   "mqtt",
//		AuthQuery:  authmysql.DefaultAuthQuery,
//		SuperQuery: authmysql.DefaultSuperQuery,
//		ACLQuery:   authmysql.DefaultACLQuery,
//	})
//	...
//	defer a.Close()
//	b.RegisterAuth(a)
//	b.RegisterACL(a)
//
// and emqd loads it as the plugin emq_auth_mysql (see Plugin), configured
// by etc/plugins/emq_auth_mysql.conf.
//
// # Tables
//
// The queries are free, but EMQ's documentation gives these tables:
//
//	CREATE TABLE `mqtt_user` (
//	  `id` int(11) unsigned NOT NULL AUTO_INCREMENT,
//	  `username` varchar(100) DEFAULT NULL,
//	  `password` varchar(100) DEFAULT NULL,
//	  `salt` varchar(20) DEFAULT NULL,
//	  `is_superuser` tinyint(1) DEFAULT 0,
//	  `created` datetime DEFAULT NULL,
//	  PRIMARY KEY (`id`),
//	  UNIQUE KEY `mqtt_username` (`username`)
//	) ENGINE=MyISAM DEFAULT CHARSET=utf8;
//
//	CREATE TABLE `mqtt_acl` (
//	  `id` int(11) unsigned NOT NULL AUTO_INCREMENT,
//	  `allow` int(1) DEFAULT NULL COMMENT '0: deny, 1: allow',
//	  `ipaddr` varchar(60) DEFAULT NULL COMMENT 'IpAddress',
//	  `username` varchar(100) DEFAULT NULL COMMENT 'Username',
//	  `clientid` varchar(100) DEFAULT NULL COMMENT 'ClientId',
//	  `access` int(2) NOT NULL COMMENT '1: subscribe, 2: publish, 3: pubsub',
//	  `topic` varchar(100) NOT NULL DEFAULT '' COMMENT 'Topic Filter',
//	  PRIMARY KEY (`id`)
//	) ENGINE=InnoDB DEFAULT CHARSET=utf8;
//
// A sha512 hash needs a password column of 128 characters, and a bcrypt
// salt a salt column of 29.
//
// # Queries
//
// The placeholders '%u' (user name), '%c' (client id) and '%a' (the
// client's IP address), written with their single quotes as in EMQ's
// configuration, become bound parameters: a client's values never become
// query text, whatever quotes or wildcards they hold.
//
// Authentication: the auth query returns the password column and, for
// the salted hashes, a salt column (by name, or the second column). A
// user not found, or a client without a user name, is refused (EMQ 2.0;
// with Config.IgnoreUnknown it is left to the next module, as in EMQ
// 2.3). A known user with a wrong or empty password is refused. After a
// successful connect the broker runs the super query: the client is a
// superuser, and skips the ACL, when its first column is the integer 1.
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
// bcrypt works (EMQ 2.3 accepted it and failed every login).
package authmysql
