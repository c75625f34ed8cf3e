package authclientid

import (
	"context"
	"strings"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/auth/internal/userauth"
	"github.com/emqgo/broker/conf"
)

// Config configures an Auth.
type Config struct {
	// Clients are the clients of the configuration file: client id →
	// password in clear, as EMQ's configuration holds them. They are hashed
	// in memory and cannot be changed with the clientid command.
	Clients map[string]string
	// PasswordHash is how passwords are stored (EMQ 3's
	// auth.client.password_hash): plain, md5, sha, sha256, sha512,
	// pbkdf2,<macfun>,<iterations>,<dklen> or bcrypt. The digests get a
	// random 16-byte salt per client. "" means sha256.
	PasswordHash string
	// DataFile keeps the clients added at runtime (Add, "emqctl clientid add")
	// across restarts; "" keeps them in memory only.
	DataFile string
	// IgnoreUnknown answers broker.Ignore, rather than Deny, for a client
	// whose client id is unknown, so that the next module decides (EMQ
	// 2.3). The zero value refuses it, as EMQ 2.0 did.
	IgnoreUnknown bool
}

// Auth authenticates clients by client id and password: EMQ's
// emq_auth_clientid. It is a broker.Authenticator; it never makes a
// superuser.
type Auth struct {
	core *userauth.Auth
}

var (
	_ broker.Authenticator = (*Auth)(nil)
	_ broker.Describer     = (*Auth)(nil)
)

var kind = &userauth.Kind{
	Pkg:          "auth/authclientid",
	Description:  "ClientId authentication module",
	Name:         func(c *broker.ClientInfo) string { return c.ClientID },
	Noun:         "client id",
	ClientNoun:   "client",
	EmptyName:    "empty client id",
	KeyPrefix:    "auth.client",
	NameField:    "clientid",
	LogKey:       "clientid",
	CountKey:     "clients",
	StartMsg:     "client id authentication started",
	CommandName:  "clientid",
	CommandShort: "Manage the client ids of emq_auth_clientid",
	CommandUsage: `clientid list # List client ids
clientid add <ClientId> <Password> # Add a client id
clientid passwd <ClientId> <Password> # Change the password of a client id
clientid del <ClientId> # Delete a client id`,
}

// New returns an Auth holding cfg.Clients and the clients kept in
// cfg.DataFile.
func New(cfg Config) (*Auth, error) {
	core, err := userauth.New(kind, cfg.PasswordHash, cfg.DataFile, cfg.Clients, cfg.IgnoreUnknown)
	if err != nil {
		return nil, err
	}
	return &Auth{core: core}, nil
}

// Shadowed returns the client ids that are both in the configuration and
// in the data file; the configuration's password is the one checked.
func (a *Auth) Shadowed() []string { return a.core.Shadowed() }

// Description returns EMQ's description of the module.
func (a *Auth) Description() string { return kind.Description }

// Authenticate checks c's client id and password. A known client with
// the right password is allowed and a wrong (or no) password is denied. A
// client id not in the table is denied, or left to the next module with
// IgnoreUnknown.
func (a *Auth) Authenticate(_ context.Context, c *broker.ClientInfo, password []byte) (broker.Decision, error) {
	return a.core.Authenticate(c, password)
}

// Add adds a client id; it works at once and, with a DataFile, survives
// restarts.
func (a *Auth) Add(clientID, password string) error { return a.core.Add(clientID, password) }

// SetPassword changes the password of a client id added with Add.
func (a *Auth) SetPassword(clientID, password string) error {
	return a.core.SetPassword(clientID, password)
}

// Delete removes a client id added with Add.
func (a *Auth) Delete(clientID string) error { return a.core.Delete(clientID) }

// Clients returns every client id, sorted.
func (a *Auth) Clients() []string { return a.core.Names() }

// Command returns the "clientid" CLI command (EMQ 2.x's emq_auth_clientid
// had none; this follows its "users" sibling and EMQ 3's clientid
// command):
//
//	clientid list                          one client id a line
//	clientid add <ClientId> <Password>     ok
//	clientid passwd <ClientId> <Password>  ok (also: clientid update)
//	clientid del <ClientId>                ok
//
// Plugin registers it; an embedder may register it with
// Broker.RegisterCommand.
func (a *Auth) Command() broker.Command { return a.core.Command() }

// ParseConfig decodes the plugin's configuration, the whole
// emq_auth_clientid.conf:
//
//	auth.client.<N>.clientid = <id>      clients, N = 1, 2, ...
//	auth.client.<N>.password = <password>
//	auth.client.<id> = <password>        EMQ 2.0's form, for simple ids
//	auth.client.password_hash = sha256
//	auth.client.data_file = data/emq_auth_clientid.json
//
// In the 2.0 form, the ids password_hash and data_file are taken by the
// settings. Any other key is an error; every error names file, line and
// key.
func ParseConfig(m conf.Map) (Config, error) {
	cfg := Config{}
	es := userauth.NewEntries(kind, m)
	for _, e := range m.Entries() {
		k := e.Key
		rest, ok := strings.CutPrefix(k, "auth.client.")
		if !ok {
			es.Errorf(k, "unknown key: emq_auth_clientid takes auth.client.* keys")
			continue
		}
		n, field, numberedKey := strings.Cut(rest, ".")
		switch {
		case rest == "password_hash":
			es.CheckHash(k, e.Value)
			cfg.PasswordHash = e.Value
		case rest == "data_file":
			cfg.DataFile = e.Value
		case numberedKey:
			if !es.Numbered(k, n, field, e.Value) {
				es.Errorf(k, "unknown key: want auth.client.<N>.clientid, auth.client.<N>.password, auth.client.<id>, auth.client.password_hash or auth.client.data_file")
			}
		default:
			// EMQ 2.0: auth.client.<id> = <password>.
			es.Simple(k, rest, e.Value)
		}
	}
	err := es.Done()
	cfg.Clients = es.Table
	return cfg, err
}
