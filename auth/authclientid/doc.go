// Package authclientid authenticates MQTT clients by client identifier
// and password: EMQ's emq_auth_clientid plugin.
//
// The client ids come from two places: the configuration (Config.Clients,
// the auth.client.<N>.* keys of etc/plugins/emq_auth_clientid.conf) and
// those managed at runtime with Add, SetPassword and Delete, or the
// "emqctl clientid add|passwd|del|list" command. Runtime entries take
// effect at once and are kept, hashed, in a JSON file (Config.DataFile) so
// that they survive restarts. Passwords are stored as salted hashes
// (Config.PasswordHash, sha256 by default), never in clear unless the hash
// is "plain"; checks compare in constant time.
//
// An embedder registers the module directly:
//
//	a, err := authclientid.New(authclientid.Config{
//		Clients:  map[string]string{"dev:devid": "passwd2"},
//		DataFile: "data/clients.json",
//	})
//	...
//	b.RegisterAuth(a)
//	b.RegisterCommand(a.Command())
//
// and emqd loads it as the plugin emq_auth_clientid (see Plugin).
//
// A client id not in the table is refused, as in EMQ 2.0; with
// Config.IgnoreUnknown the next module decides instead, as in EMQ 2.3. A
// known client id with a wrong or missing password is refused. The module
// never makes a superuser.
//
// Differences from EMQ: EMQ compared passwords in clear ("TODO:
// plaintext??" in its source) and had no CLI command; here passwords are
// hashed and the clientid command manages runtime entries. Entries of the
// configuration are not copied into the runtime table, and win over a
// runtime entry with the same id.
package authclientid
