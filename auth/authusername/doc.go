// Package authusername authenticates MQTT clients by user name and
// password: EMQ's emq_auth_username plugin.
//
// The users come from two places: the configuration (Config.Users, the
// auth.user.<N>.* keys of etc/plugins/emq_auth_username.conf) and the
// users managed at runtime with Add, SetPassword and Delete, or the
// "emqctl users add|passwd|del|list" command. Runtime users take effect at
// once and are kept, hashed, in a JSON file (Config.DataFile) so that they
// survive restarts. Passwords are stored as salted hashes
// (Config.PasswordHash, sha256 by default), never in clear unless the hash
// is "plain"; checks compare in constant time.
//
// An embedder registers the module directly:
//
//	a, err := authusername.New(authusername.Config{
//		Users:    map[string]string{"admin": "public"},
//		DataFile: "data/users.json",
//	})
//	...
//	b.RegisterAuth(a)
//	b.RegisterCommand(a.Command())
//
// and emqd loads it as the plugin emq_auth_username (see Plugin).
//
// A client whose user name is unknown, or who sent none, is refused, as in
// EMQ 2.0; with Config.IgnoreUnknown the next module decides instead, as
// in EMQ 2.3. A known user with a wrong or missing password is refused.
// The module never makes a superuser.
//
// Differences from EMQ: users of the configuration are not copied into
// the runtime table, so removing one from the file removes it (EMQ kept
// it in mnesia); a user both in the file and in the runtime table is
// checked against the file, and the users command cannot change or delete
// users of the file. EMQ stored <<Salt:4, md5(Salt ++ Password)>>; here
// the hash is chosen with PasswordHash.
package authusername
