package authusername

import (
	"context"
	"strings"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/auth/internal/userauth"
	"github.com/emqgo/broker/conf"
)

// Config configures an Auth.
type Config struct {
	// Users are the users of the configuration file: user name → password
	// in clear, as EMQ's configuration holds them. They are hashed in
	// memory and cannot be changed with the users command.
	Users map[string]string
	// PasswordHash is how passwords are stored (EMQ 3's
	// auth.user.password_hash): plain, md5, sha, sha256, sha512,
	// pbkdf2,<macfun>,<iterations>,<dklen> or bcrypt. The digests get a
	// random 16-byte salt per user. "" means sha256.
	PasswordHash string
	// DataFile keeps the users added at runtime (Add, "emqctl users add")
	// across restarts; "" keeps them in memory only.
	DataFile string
	// IgnoreUnknown answers broker.Ignore, rather than Deny, for a client
	// whose user name is absent or unknown, so that the next module
	// decides (EMQ 2.3). The zero value refuses it, as EMQ 2.0 did.
	IgnoreUnknown bool
}

// Auth authenticates clients by user name and password: EMQ's
// emq_auth_username. It is a broker.Authenticator; it never makes a
// superuser.
type Auth struct {
	core *userauth.Auth
}

var (
	_ broker.Authenticator = (*Auth)(nil)
	_ broker.Describer     = (*Auth)(nil)
)

var kind = &userauth.Kind{
	Pkg:          "auth/authusername",
	Description:  "Username password authentication module",
	Name:         func(c *broker.ClientInfo) string { return c.Username },
	Noun:         "user",
	ClientNoun:   "user",
	EmptyName:    "empty user name",
	KeyPrefix:    "auth.user",
	NameField:    "username",
	LogKey:       "user",
	CountKey:     "users",
	StartMsg:     "username authentication started",
	CommandName:  "users",
	CommandShort: "Manage the users of emq_auth_username",
	CommandUsage: `users list # List users
users add <Username> <Password> # Add User
users passwd <Username> <Password> # Change the password of a user
users del <Username> # Delete User`,
}

// New returns an Auth holding cfg.Users and the users kept in
// cfg.DataFile.
func New(cfg Config) (*Auth, error) {
	core, err := userauth.New(kind, cfg.PasswordHash, cfg.DataFile, cfg.Users, cfg.IgnoreUnknown)
	if err != nil {
		return nil, err
	}
	return &Auth{core: core}, nil
}

// Shadowed returns the users that are both in the configuration and in
// the data file; the configuration's password is the one checked.
func (a *Auth) Shadowed() []string { return a.core.Shadowed() }

// Description returns EMQ's description of the module.
func (a *Auth) Description() string { return kind.Description }

// Authenticate checks c's user name and password. A known user with the
// right password is allowed and a wrong (or no) password is denied. A
// client with no user name, or one not in the table, is denied, or left to
// the next module with IgnoreUnknown.
func (a *Auth) Authenticate(_ context.Context, c *broker.ClientInfo, password []byte) (broker.Decision, error) {
	return a.core.Authenticate(c, password)
}

// Add adds a user; it works at once and, with a DataFile, survives
// restarts.
func (a *Auth) Add(username, password string) error { return a.core.Add(username, password) }

// SetPassword changes the password of a user added with Add.
func (a *Auth) SetPassword(username, password string) error {
	return a.core.SetPassword(username, password)
}

// Delete removes a user added with Add.
func (a *Auth) Delete(username string) error { return a.core.Delete(username) }

// Users returns every user name, sorted.
func (a *Auth) Users() []string { return a.core.Names() }

// Command returns the "users" CLI command of EMQ's emq_auth_username:
//
//	users list                        one user name a line
//	users add <Username> <Password>   ok
//	users passwd <Username> <Password> ok (also: users update)
//	users del <Username>              ok
//
// Plugin registers it; an embedder may register it with
// Broker.RegisterCommand.
func (a *Auth) Command() broker.Command { return a.core.Command() }

// ParseConfig decodes the plugin's configuration, the whole
// emq_auth_username.conf:
//
//	auth.user.<N>.username = <name>      users, N = 1, 2, ...
//	auth.user.<N>.password = <password>
//	auth.username.<name> = <password>    EMQ 2.0's form, for simple names
//	auth.user.password_hash = sha256
//	auth.user.data_file = data/emq_auth_username.json
//
// Any other key is an error; every error names file, line and key.
func ParseConfig(m conf.Map) (Config, error) {
	cfg := Config{}
	es := userauth.NewEntries(kind, m)
	for _, e := range m.Entries() {
		k := e.Key
		switch {
		case k == "auth.user.password_hash":
			es.CheckHash(k, e.Value)
			cfg.PasswordHash = e.Value
		case k == "auth.user.data_file":
			cfg.DataFile = e.Value
		case strings.HasPrefix(k, "auth.user."):
			rest := strings.TrimPrefix(k, "auth.user.")
			n, field, ok := strings.Cut(rest, ".")
			if !ok || !es.Numbered(k, n, field, e.Value) {
				es.Errorf(k, "unknown key: want auth.user.<N>.username, auth.user.<N>.password, auth.user.password_hash or auth.user.data_file")
			}
		case strings.HasPrefix(k, "auth.username."):
			// EMQ 2.0: auth.username.<name> = <password>.
			es.Simple(k, strings.TrimPrefix(k, "auth.username."), e.Value)
		default:
			es.Errorf(k, "unknown key: emq_auth_username takes auth.user.* and auth.username.* keys")
		}
	}
	err := es.Done()
	cfg.Users = es.Table
	return cfg, err
}
