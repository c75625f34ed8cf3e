// Package authmongo authenticates MQTT clients and authorizes their
// publishes and subscriptions from MongoDB: EMQ's emq_auth_mongo plugin.
//
// The collections are the seed's:
//
//	mqtt_user  {username, password, salt, is_superuser, created}
//	mqtt_acl   {username, clientid, publish: [...], subscribe: [...], pubsub: [...]}
//
// Selectors such as "username=%u" or "username=%u, clientid=%c" are built
// as documents, bson.D{{"username", <user name>}}: a user name is always a
// string value, so one like {"$ne": null} finds nobody rather than
// everybody.
//
// An embedder registers the module directly:
//
//	a, err := authmongo.New(authmongo.Config{
//		Addrs:      []string{"127.0.0.1:27017"},
//		Database:   "mqtt",
//		AuthQuery:  authmongo.AuthQuery{Collection: "mqtt_user", SaltField: "salt"},
//		SuperQuery: authmongo.SuperQuery{Collection: "mqtt_user"},
//		ACLQuery:   authmongo.ACLQuery{Collection: "mqtt_acl"},
//	})
//	...
//	b.RegisterAuth(a)
//	b.RegisterACL(a)
//
// and emqd loads it as the plugin emq_auth_mongo (see Plugin).
//
// Answers, as EMQ 2.3 gives them: a client without a user name or
// password is refused; a user without a document is left to the next
// module (Config.UnknownUser); a document without a password, or a wrong
// password, is refused. A user is a superuser when its super field is true
// (or the number 1). For the ACL, every document the selector finds counts:
// a publish matches the "publish" and "pubsub" arrays, a subscription the
// "subscribe" and "pubsub" arrays; a match allows, documents without a
// match answer Config.ACLNoMatch (deny), and no document at all leaves the
// decision to the next module. %u and %c levels in topics stand for the
// user name and client id.
//
// When MongoDB is down or slow, each query gives up after Config.Timeout
// and the module answers Config.AuthOnError or Config.ACLOnError; the
// failure is logged once per burst, not once per client, and the driver
// reconnects by itself. An optional cache (Config.CacheTTL) keeps the
// documents found, never decisions, for a while.
//
// The tests run against FerretDB, a MongoDB wire-protocol server, started
// by scripts/ferretdb.
package authmongo
