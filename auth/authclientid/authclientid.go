package authclientid

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
	db            *userdb.DB
	ignoreUnknown bool
	shadowed      []string
}

var (
	_ broker.Authenticator = (*Auth)(nil)
	_ broker.Describer     = (*Auth)(nil)
)

// New returns an Auth holding cfg.Clients and the clients kept in
// cfg.DataFile.
func New(cfg Config) (*Auth, error) {
	hs := cfg.PasswordHash
	if hs == "" {
		hs = "sha256"
	}
	h, err := passwd.Parse(hs)
	if err != nil {
		return nil, fmt.Errorf("auth/authclientid: %w", err)
	}
	db, shadowed, err := userdb.Open(cfg.DataFile, h, cfg.Clients)
	if err != nil {
		return nil, fmt.Errorf("auth/authclientid: %w", err)
	}
	return &Auth{db: db, ignoreUnknown: cfg.IgnoreUnknown, shadowed: shadowed}, nil
}

// Shadowed returns the client ids that are both in the configuration and
// in the data file; the configuration's password is the one checked.
func (a *Auth) Shadowed() []string { return a.shadowed }

// Description returns EMQ's description of the module.
func (a *Auth) Description() string { return "ClientId authentication module" }

// Authenticate checks c's client id and password. A known client with
// the right password is allowed and a wrong (or no) password is denied. A
// client id not in the table is denied, or left to the next module with
// IgnoreUnknown.
func (a *Auth) Authenticate(_ context.Context, c *broker.ClientInfo, password []byte) (broker.Decision, error) {
	if c.ClientID == "" {
		return a.unknown(), nil
	}
	found, err := a.db.Check(c.ClientID, password)
	switch {
	case !found:
		return a.unknown(), nil
	case errors.Is(err, passwd.ErrMismatch):
		return broker.Deny, nil
	case err != nil:
		return broker.Deny, fmt.Errorf("auth/authclientid: client %q: %w", c.ClientID, err)
	}
	return broker.Allow, nil
}

func (a *Auth) unknown() broker.Decision {
	if a.ignoreUnknown {
		return broker.Ignore
	}
	return broker.Deny
}

// Add adds a client id; it works at once and, with a DataFile, survives
// restarts.
func (a *Auth) Add(clientID, password string) error {
	return wrap(clientID, a.db.Add(clientID, password))
}

// SetPassword changes the password of a client id added with Add.
func (a *Auth) SetPassword(clientID, password string) error {
	return wrap(clientID, a.db.SetPassword(clientID, password))
}

// Delete removes a client id added with Add.
func (a *Auth) Delete(clientID string) error { return wrap(clientID, a.db.Delete(clientID)) }

// Clients returns every client id, sorted.
func (a *Auth) Clients() []string { return a.db.Names() }

func wrap(name string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("auth/authclientid: client id %q %w", name, err)
}

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
func (a *Auth) Command() broker.Command {
	return broker.Command{
		Name:  "clientid",
		Short: "Manage the client ids of emq_auth_clientid",
		Usage: `clientid list # List client ids
clientid add <ClientId> <Password> # Add a client id
clientid passwd <ClientId> <Password> # Change the password of a client id
clientid del <ClientId> # Delete a client id`,
		Run: func(_ context.Context, w io.Writer, args []string) error {
			return run(w, args, a.Clients, a.Add, a.SetPassword, a.Delete)
		},
	}
}

// run is the clientid command over its operations.
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
		return errors.New(strings.TrimPrefix(err.Error(), "auth/authclientid: "))
	}
	fmt.Fprintln(w, "ok")
	return nil
}

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
	cfg := Config{Clients: make(map[string]string)}
	var errs []error
	type numbered struct {
		id, password       string
		idKey, passwordKey string
	}
	nums := make(map[string]*numbered)
	var order []string
	from := make(map[string]string) // client id → key that set it
	for _, e := range m.Entries() {
		k := e.Key
		rest, ok := strings.CutPrefix(k, "auth.client.")
		if !ok {
			errs = append(errs, m.Errorf(k, "unknown key: emq_auth_clientid takes auth.client.* keys"))
			continue
		}
		n, field, numberedKey := strings.Cut(rest, ".")
		switch {
		case rest == "password_hash":
			if _, err := passwd.Parse(e.Value); err != nil {
				errs = append(errs, m.Errorf(k, "%v", strings.TrimPrefix(err.Error(), "passwd: ")))
			}
			cfg.PasswordHash = e.Value
		case rest == "data_file":
			cfg.DataFile = e.Value
		case numberedKey:
			if _, err := strconv.ParseUint(n, 10, 32); err != nil || (field != "clientid" && field != "password") {
				errs = append(errs, m.Errorf(k, "unknown key: want auth.client.<N>.clientid, auth.client.<N>.password, auth.client.<id>, auth.client.password_hash or auth.client.data_file"))
				continue
			}
			u := nums[n]
			if u == nil {
				u = &numbered{}
				nums[n] = u
				order = append(order, n)
			}
			if field == "clientid" {
				u.id, u.idKey = e.Value, k
			} else {
				u.password, u.passwordKey = e.Value, k
			}
		default:
			// EMQ 2.0: auth.client.<id> = <password>.
			if e.Value == "" {
				errs = append(errs, m.Errorf(k, "empty password"))
				continue
			}
			if prev, dup := from[rest]; dup {
				errs = append(errs, m.Errorf(k, "client id %q is also set by %s", rest, prev))
				continue
			}
			cfg.Clients[rest], from[rest] = e.Value, k
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
		case u.idKey == "":
			errs = append(errs, m.Errorf(u.passwordKey, "auth.client.%s.clientid is missing", n))
		case u.passwordKey == "":
			errs = append(errs, m.Errorf(u.idKey, "auth.client.%s.password is missing", n))
		case u.id == "":
			errs = append(errs, m.Errorf(u.idKey, "empty client id"))
		case u.password == "":
			errs = append(errs, m.Errorf(u.passwordKey, "empty password"))
		default:
			if prev, dup := from[u.id]; dup {
				errs = append(errs, m.Errorf(u.idKey, "client id %q is also set by %s", u.id, prev))
				continue
			}
			cfg.Clients[u.id], from[u.id] = u.password, u.idKey
		}
	}
	return cfg, errors.Join(errs...)
}
