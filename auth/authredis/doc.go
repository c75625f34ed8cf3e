// Package authredis authenticates MQTT clients and authorizes their
// publishes and subscriptions from Redis: EMQ's emq_auth_redis plugin.
//
// Users are hashes, ACL rules are hashes of topic filter to access, and a
// third hash lists the subscriptions made for a user when it connects:
//
//	HSET mqtt_user:<username> password <hash> salt <salt> is_superuser 1
//	HSET mqtt_acl:<username> <topic filter> <1 subscribe | 2 publish | 3 both>
//	HSET mqtt_sub:<username> <topic filter> <qos>
//
// The commands that read them are configurable (Config.AuthCmd, SuperCmd,
// ACLCmd, SubCmd). Each is split into arguments once, when the module is
// made; %u and %c are replaced inside their argument, so a user name with
// spaces, quotes or '%' is still one key and can never add arguments.
//
// An embedder registers the module directly:
//
//	a, err := authredis.New(authredis.Config{
//		Addr:         "127.0.0.1:6379",
//		AuthCmd:      "HMGET mqtt_user:%u password salt",
//		PasswordHash: "salt,sha256",
//		SuperCmd:     authredis.DefaultSuperCmd,
//		ACLCmd:       authredis.DefaultACLCmd,
//		SubCmd:       authredis.DefaultSubCmd,
//	})
//	...
//	b.RegisterAuth(a)
//	b.RegisterACL(a)
//	a.Attach(b) // the mqtt_sub subscriptions
//
// and emqd loads it as the plugin emq_auth_redis (see Plugin).
//
// Answers, as EMQ 2.3 gives them: a client without a user name or
// password is refused; a user the auth command does not find is left to
// the next module (Config.UnknownUser); a wrong password is refused. Only
// a super command answering exactly "1" makes a superuser, who skips the
// ACL. A user with ACL rules is allowed when any rule's filter matches
// and its access covers the request, and gets Config.ACLNoMatch (deny)
// otherwise; a user without rules, or whose name starts with '$', is left
// to the next module.
//
// When Redis is down or slow, each command gives up after Config.Timeout
// and the module answers Config.AuthOnError or Config.ACLOnError; the
// failure is logged once per burst, not once per client, and the module
// recovers by itself when Redis answers again. An optional cache
// (Config.CacheTTL) keeps Redis's answers, never decisions, for a while.
//
// Differences from EMQ: %u and %c in ACL filters are compared with whole
// levels as text, so a user name holding '+', '#' or '/' is never a
// wildcard; the mqtt_sub subscriptions, dropped from EMQ in 2.0-rc.2, are
// back, made before anything is delivered to the client.
package authredis
