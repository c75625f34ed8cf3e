// Package userauth is the logic shared by the clientid and username auth
// plugins: a userdb table checked against one name of the client (its
// client id or its user name), the emqctl command that manages it, the
// numbered entries of the configuration file, and the plugin's Load.
// The plugins keep their public types and only say which name and which
// words they use.
package userauth

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

// Kind is what tells the plugins apart: the name checked and the words of
// errors, logs and the command.
type Kind struct {
	// Pkg prefixes errors: "auth/authclientid".
	Pkg string
	// Description is EMQ's description of the module.
	Description string
	// Name returns the name checked: the client id or the user name.
	Name func(*broker.ClientInfo) string
	// Noun names an entry in errors and logs: "client id", "user".
	Noun string
	// ClientNoun names the client in an Authenticate error: "client", "user".
	ClientNoun string
	// EmptyName is the error for an empty numbered name: "empty client id".
	EmptyName string
	// KeyPrefix and NameField make the numbered keys
	// <KeyPrefix>.<N>.<NameField> and <KeyPrefix>.<N>.password.
	KeyPrefix, NameField string
	// LogKey and CountKey are the log attributes of a shadowed entry and of
	// the number of entries; StartMsg is the line logged on Load.
	LogKey, CountKey, StartMsg string
	// Command names and documents the emqctl command.
	CommandName, CommandShort, CommandUsage string
}

// Auth is a table of names and hashed passwords checked against clients.
type Auth struct {
	k             *Kind
	db            *userdb.DB
	ignoreUnknown bool
	shadowed      []string
}

// New returns an Auth holding static and the entries kept in dataFile,
// hashing new entries with hash ("" means sha256).
func New(k *Kind, hash, dataFile string, static map[string]string, ignoreUnknown bool) (*Auth, error) {
	if hash == "" {
		hash = "sha256"
	}
	h, err := passwd.Parse(hash)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", k.Pkg, err)
	}
	db, shadowed, err := userdb.Open(dataFile, h, static)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", k.Pkg, err)
	}
	return &Auth{k: k, db: db, ignoreUnknown: ignoreUnknown, shadowed: shadowed}, nil
}

// Shadowed returns the names both in the configuration and in the data
// file.
func (a *Auth) Shadowed() []string { return a.shadowed }

// Authenticate checks the client's name and password.
func (a *Auth) Authenticate(c *broker.ClientInfo, password []byte) (broker.Decision, error) {
	name := a.k.Name(c)
	if name == "" {
		return a.unknown(), nil
	}
	found, err := a.db.Check(name, password)
	switch {
	case !found:
		return a.unknown(), nil
	case errors.Is(err, passwd.ErrMismatch):
		return broker.Deny, nil
	case err != nil:
		return broker.Deny, fmt.Errorf("%s: %s %q: %w", a.k.Pkg, a.k.ClientNoun, name, err)
	}
	return broker.Allow, nil
}

func (a *Auth) unknown() broker.Decision {
	if a.ignoreUnknown {
		return broker.Ignore
	}
	return broker.Deny
}

// Add adds an entry.
func (a *Auth) Add(name, password string) error { return a.wrap(name, a.db.Add(name, password)) }

// SetPassword changes the password of an entry added with Add.
func (a *Auth) SetPassword(name, password string) error {
	return a.wrap(name, a.db.SetPassword(name, password))
}

// Delete removes an entry added with Add.
func (a *Auth) Delete(name string) error { return a.wrap(name, a.db.Delete(name)) }

// Names returns every name, sorted.
func (a *Auth) Names() []string { return a.db.Names() }

func (a *Auth) wrap(name string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %s %q %w", a.k.Pkg, a.k.Noun, name, err)
}

// Command returns the emqctl command: list, add, passwd (or update), del.
func (a *Auth) Command() broker.Command {
	return broker.Command{
		Name:  a.k.CommandName,
		Short: a.k.CommandShort,
		Usage: a.k.CommandUsage,
		Run: func(_ context.Context, w io.Writer, args []string) error {
			return a.run(w, args)
		},
	}
}

func (a *Auth) run(w io.Writer, args []string) error {
	var err error
	switch {
	case len(args) == 1 && args[0] == "list":
		for _, n := range a.Names() {
			fmt.Fprintln(w, n)
		}
		return nil
	case len(args) == 3 && args[0] == "add":
		err = a.Add(args[1], args[2])
	case len(args) == 3 && (args[0] == "passwd" || args[0] == "update"):
		err = a.SetPassword(args[1], args[2])
	case len(args) == 2 && args[0] == "del":
		err = a.Delete(args[1])
	default:
		return broker.ErrUsage
	}
	if err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), a.k.Pkg+": "))
	}
	fmt.Fprintln(w, "ok")
	return nil
}

// Register registers auth (the plugin's type over a) and a's command with
// h and logs what a holds, for the plugin's Load.
func (a *Auth) Register(h *broker.PluginHost, auth broker.Authenticator, pluginName, dataFile string) error {
	for _, name := range a.Shadowed() {
		h.Logger().Warn(a.k.Noun+" is in both the configuration and the data file; the configuration's password applies", a.k.LogKey, name, "data_file", dataFile)
	}
	h.RegisterAuth(auth, broker.Named(pluginName))
	if err := h.RegisterCommand(a.Command()); err != nil {
		return err
	}
	h.Logger().Info(a.k.StartMsg, a.k.CountKey, len(a.Names()), "data_file", dataFile)
	return nil
}

// Entries reads a configuration file's entries into a name → password
// table: the numbered <KeyPrefix>.<N>.<NameField> and
// <KeyPrefix>.<N>.password pairs, and the simple <name> = <password> form.
type Entries struct {
	k     *Kind
	m     conf.Map
	Table map[string]string
	Errs  []error

	nums  map[string]*numbered
	order []string
	from  map[string]string // name → key that set it
}

type numbered struct {
	name, password       string
	nameKey, passwordKey string
}

// NewEntries returns an empty Entries for m.
func NewEntries(k *Kind, m conf.Map) *Entries {
	return &Entries{k: k, m: m, Table: make(map[string]string), nums: make(map[string]*numbered), from: make(map[string]string)}
}

// Errorf records an error for key.
func (e *Entries) Errorf(key, format string, args ...any) {
	e.Errs = append(e.Errs, e.m.Errorf(key, format, args...))
}

// CheckHash records an error for key if v is no password hash.
func (e *Entries) CheckHash(key, v string) {
	if _, err := passwd.Parse(v); err != nil {
		e.Errorf(key, "%v", strings.TrimPrefix(err.Error(), "passwd: "))
	}
}

// Numbered records key = value, the field (NameField or "password") of
// entry n. It reports false, recording nothing, when n is not a number or
// field is neither.
func (e *Entries) Numbered(key, n, field, value string) bool {
	if _, err := strconv.ParseUint(n, 10, 32); err != nil || (field != e.k.NameField && field != "password") {
		return false
	}
	u := e.nums[n]
	if u == nil {
		u = &numbered{}
		e.nums[n] = u
		e.order = append(e.order, n)
	}
	if field == e.k.NameField {
		u.name, u.nameKey = value, key
	} else {
		u.password, u.passwordKey = value, key
	}
	return true
}

// Simple records key, the simple form name = password.
func (e *Entries) Simple(key, name, password string) {
	if password == "" {
		e.Errorf(key, "empty password")
		return
	}
	e.set(key, name, password)
}

func (e *Entries) set(key, name, password string) {
	if prev, dup := e.from[name]; dup {
		e.Errorf(key, "%s %q is also set by %s", e.k.Noun, name, prev)
		return
	}
	e.Table[name], e.from[name] = password, key
}

// Done adds the numbered entries, in the order of their numbers, after the
// simple ones, and returns every error recorded.
func (e *Entries) Done() error {
	sort.SliceStable(e.order, func(i, j int) bool {
		a, _ := strconv.ParseUint(e.order[i], 10, 32)
		b, _ := strconv.ParseUint(e.order[j], 10, 32)
		return a < b
	})
	for _, n := range e.order {
		u := e.nums[n]
		switch {
		case u.nameKey == "":
			e.Errorf(u.passwordKey, "%s.%s.%s is missing", e.k.KeyPrefix, n, e.k.NameField)
		case u.passwordKey == "":
			e.Errorf(u.nameKey, "%s.%s.password is missing", e.k.KeyPrefix, n)
		case u.name == "":
			e.Errorf(u.nameKey, "%s", e.k.EmptyName)
		case u.password == "":
			e.Errorf(u.passwordKey, "empty password")
		default:
			e.set(u.nameKey, u.name, u.password)
		}
	}
	return errors.Join(e.Errs...)
}
