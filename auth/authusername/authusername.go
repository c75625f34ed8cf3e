package authusername

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/auth/internal/passwd"
	"github.com/emqgo/broker/auth/internal/userdb"
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
	db            *userdb.DB
	ignoreUnknown bool
	shadowed      []string
}

var (
	_ broker.Authenticator = (*Auth)(nil)
	_ broker.Describer     = (*Auth)(nil)
)

// New returns an Auth holding cfg.Users and the users kept in
// cfg.DataFile.
func New(cfg Config) (*Auth, error) {
	hs := cfg.PasswordHash
	if hs == "" {
		hs = "sha256"
	}
	h, err := passwd.Parse(hs)
	if err != nil {
		return nil, fmt.Errorf("auth/authusername: %w", err)
	}
	db, shadowed, err := userdb.Open(cfg.DataFile, h, cfg.Users)
	if err != nil {
		return nil, fmt.Errorf("auth/authusername: %w", err)
	}
	return &Auth{db: db, ignoreUnknown: cfg.IgnoreUnknown, shadowed: shadowed}, nil
}

// Shadowed returns the users that are both in the configuration and in
// the data file; the configuration's password is the one checked.
func (a *Auth) Shadowed() []string { return a.shadowed }

// Description returns EMQ's description of the module.
func (a *Auth) Description() string { return "Username password authentication module" }

// Authenticate checks c's user name and password. A known user with the
// right password is allowed and a wrong (or no) password is denied. A
// client with no user name, or one not in the table, is denied, or left to
// the next module with IgnoreUnknown.
func (a *Auth) Authenticate(_ context.Context, c *broker.ClientInfo, password []byte) (broker.Decision, error) {
	if c.Username == "" {
		return a.unknown(), nil
	}
	found, err := a.db.Check(c.Username, password)
	switch {
	case !found:
		return a.unknown(), nil
	case errors.Is(err, passwd.ErrMismatch):
		return broker.Deny, nil
	case err != nil:
		return broker.Deny, fmt.Errorf("auth/authusername: user %q: %w", c.Username, err)
	}
	return broker.Allow, nil
}

func (a *Auth) unknown() broker.Decision {
	if a.ignoreUnknown {
		return broker.Ignore
	}
	return broker.Deny
}

// Add adds a user; it works at once and, with a DataFile, survives
// restarts.
func (a *Auth) Add(username, password string) error {
	return wrap(username, a.db.Add(username, password))
}

// SetPassword changes the password of a user added with Add.
func (a *Auth) SetPassword(username, password string) error {
	return wrap(username, a.db.SetPassword(username, password))
}

// Delete removes a user added with Add.
func (a *Auth) Delete(username string) error { return wrap(username, a.db.Delete(username)) }

// Users returns every user name, sorted.
func (a *Auth) Users() []string { return a.db.Names() }

func wrap(name string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("auth/authusername: user %q %w", name, err)
}

// Command returns the "users" CLI command of EMQ's emq_auth_username:
//
//	users list                        one user name a line
//	users add <Username> <Password>   ok
//	users passwd <Username> <Password> ok (also: users update)
//	users del <Username>              ok
//
// Plugin registers it; an embedder may register it with
// Broker.RegisterCommand.
func (a *Auth) Command() broker.Command {
	return broker.Command{
		Name:  "users",
		Short: "Manage the users of emq_auth_username",
		Usage: `users list # List users
users add <Username> <Password> # Add User
users passwd <Username> <Password> # Change the password of a user
users del <Username> # Delete User`,
		Run: func(_ context.Context, w io.Writer, args []string) error {
			return run(w, args, a.Users, a.Add, a.SetPassword, a.Delete)
		},
	}
}

// run is the users command over its operations.
func run(w io.Writer, args []string, list func() []string, add, passwd func(string, string) error, del func(string) error) error {
	var err error
	switch {
	case len(args) == 1 && args[0] == "list":
		for _, n := range list() {
			fmt.Fprintln(w, n)
		}
		return nil
	case len(args) == 3 && args[0] == "add":
		err = add(args[1], args[2])
	case len(args) == 3 && (args[0] == "passwd" || args[0] == "update"):
		err = passwd(args[1], args[2])
	case len(args) == 2 && args[0] == "del":
		err = del(args[1])
	default:
		return broker.ErrUsage
	}
	if err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), "auth/authusername: "))
	}
	fmt.Fprintln(w, "ok")
	return nil
}

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
	cfg := Config{Users: make(map[string]string)}
	var errs []error
	type numbered struct {
		name, password       string
		nameKey, passwordKey string
	}
	nums := make(map[string]*numbered)
	var order []string
	from := make(map[string]string) // user name → key that set it
	for _, e := range m.Entries() {
		k := e.Key
		switch {
		case k == "auth.user.password_hash":
			if _, err := passwd.Parse(e.Value); err != nil {
				errs = append(errs, m.Errorf(k, "%v", strings.TrimPrefix(err.Error(), "passwd: ")))
			}
			cfg.PasswordHash = e.Value
		case k == "auth.user.data_file":
			cfg.DataFile = e.Value
		case strings.HasPrefix(k, "auth.user."):
			rest := strings.TrimPrefix(k, "auth.user.")
			n, field, ok := strings.Cut(rest, ".")
			if _, err := strconv.ParseUint(n, 10, 32); !ok || err != nil || (field != "username" && field != "password") {
				errs = append(errs, m.Errorf(k, "unknown key: want auth.user.<N>.username, auth.user.<N>.password, auth.user.password_hash or auth.user.data_file"))
				continue
			}
			u := nums[n]
			if u == nil {
				u = &numbered{}
				nums[n] = u
				order = append(order, n)
			}
			if field == "username" {
				u.name, u.nameKey = e.Value, k
			} else {
				u.password, u.passwordKey = e.Value, k
			}
		case strings.HasPrefix(k, "auth.username."):
			name := strings.TrimPrefix(k, "auth.username.")
			if e.Value == "" {
				errs = append(errs, m.Errorf(k, "empty password"))
				continue
			}
			if prev, dup := from[name]; dup {
				errs = append(errs, m.Errorf(k, "user %q is also set by %s", name, prev))
				continue
			}
			cfg.Users[name], from[name] = e.Value, k
		default:
			errs = append(errs, m.Errorf(k, "unknown key: emq_auth_username takes auth.user.* and auth.username.* keys"))
		}
	}
	sort.SliceStable(order, func(i, j int) bool {
		a, _ := strconv.ParseUint(order[i], 10, 32)
		b, _ := strconv.ParseUint(order[j], 10, 32)
		return a < b
	})
	for _, n := range order {
		u := nums[n]
		switch {
		case u.nameKey == "":
			errs = append(errs, m.Errorf(u.passwordKey, "auth.user.%s.username is missing", n))
		case u.passwordKey == "":
			errs = append(errs, m.Errorf(u.nameKey, "auth.user.%s.password is missing", n))
		case u.name == "":
			errs = append(errs, m.Errorf(u.nameKey, "empty user name"))
		case u.password == "":
			errs = append(errs, m.Errorf(u.passwordKey, "empty password"))
		default:
			if prev, dup := from[u.name]; dup {
				errs = append(errs, m.Errorf(u.nameKey, "user %q is also set by %s", u.name, prev))
				continue
			}
			cfg.Users[u.name], from[u.name] = u.password, u.nameKey
		}
	}
	return cfg, errors.Join(errs...)
}
