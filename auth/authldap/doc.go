// Package authldap authenticates MQTT clients against an LDAP directory:
// EMQ's emq_auth_ldap plugin. It has no ACL, as in EMQ.
//
// It works in one of two ways:
//
//   - Search and compare (EMQ 2.3, Config.AuthDN): the module binds as
//     Config.BindDN, searches under the user's DN,
//     cn=%u,ou=auth,dc=emqtt,dc=com, for (username=<user name>), and
//     compares the entry's password attribute with the client's password
//     hashed by Config.PasswordHash (with the salt attribute for the
//     salted hashes). A user without an entry is left to the next module
//     (Config.UnknownUser).
//   - Bind as the user (EMQ 2.0, Config.UserDN): the module binds as
//     uid=%u,ou=People,... with the client's password, and the server
//     checks it. Its "invalid credentials" refuses.
//
// Values are escaped where they go: into a DN as an attribute value (RFC
// 4514, so a user name such as "x,ou=admins" stays one value) and into the
// filter (RFC 4515, so ")(uid=*)" or "*" match nothing). An entry counts
// only when its user name attribute equals the client's user name exactly:
// LDAP matching ignores case and extra spaces, the broker's ACL does not.
// A client without a user name or password is refused without asking,
// and an empty password never becomes an unauthenticated bind.
//
// An embedder registers the module directly:
//
//	a, err := authldap.New(authldap.Config{
//		Servers:      []string{"127.0.0.1"},
//		BindDN:       "cn=root,dc=emqtt,dc=com",
//		BindPassword: "public",
//		AuthDN:       "cn=%u,ou=auth,dc=emqtt,dc=com",
//	})
//	...
//	b.RegisterAuth(a)
//
// and emqd loads it as the plugin emq_auth_ldap (see Plugin).
//
// When the server is down or slow, each check gives up after
// Config.Timeout and the module answers Config.AuthOnError; the failure is
// logged once per burst, not once per client, and the module reconnects by
// itself. An optional cache (Config.CacheTTL) keeps the entries found,
// never decisions, for a while.
//
// The tests run against a slapd started by scripts/ldap with
// testdata/emqtt.com.ldif and the schema testdata/emqtt.schema (EMQ's
// mqttUser object class, plus a salt attribute).
package authldap
