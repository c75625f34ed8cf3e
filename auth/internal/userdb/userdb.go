// Package userdb is the table of names and password hashes behind the
// clientid and username auth plugins: entries from the plugin's
// configuration file, and entries managed at runtime (emqctl users|clientid
// add/del/passwd) that persist in a small JSON file across restarts.
//
// Passwords are never kept in clear unless the hash is "plain": each entry
// stores the hash setting it was made with, its salt and its hash, so
// changing the setting later leaves old entries valid.
package userdb

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/emqgo/broker/auth/internal/passwd"
)

// Errors of the runtime operations.
var (
	// ErrExists is returned by Add for a name that is already there.
	ErrExists = errors.New("already exists")
	// ErrNotFound is returned for a name that is not there.
	ErrNotFound = errors.New("not found")
	// ErrStatic is returned when changing an entry of the configuration
	// file, which only the file can change.
	ErrStatic = errors.New("is set in the configuration file; change it there")
	// ErrEmpty is returned for an empty name or password.
	ErrEmpty = errors.New("name and password must not be empty")
)

// Entry is one stored password.
type Entry struct {
	// Hash is the password_hash setting the entry was made with.
	Hash string `json:"hash"`
	// Salt is the salt, "" when the hash takes none.
	Salt string `json:"salt,omitempty"`
	// Password is the stored hash (the password itself for "plain").
	Password string `json:"password"`
}

// file is the JSON document of the runtime entries.
type file struct {
	Version int              `json:"version"`
	Entries map[string]Entry `json:"entries"`
}

// DB is a table of names and hashed passwords. It is safe for concurrent
// use.
type DB struct {
	hash passwd.Hash
	path string
	mu   sync.RWMutex
	conf map[string]Entry // from the configuration file; win over dyn
	dyn  map[string]Entry // managed at runtime, persisted in path
	// dummy is checked for unknown names, so that the time an answer takes
	// does not tell whether a name exists.
	dummy Entry
}

// Open returns a DB whose new entries are hashed with h (salted with a new
// random salt when h is a digest), holding static, the name → password
// pairs of the configuration file, and the runtime entries persisted in
// path. A missing file is an empty table; "" keeps runtime entries in
// memory only. Names in both static and the file are returned in
// shadowed: the configuration wins.
func Open(path string, h passwd.Hash, static map[string]string) (db *DB, shadowed []string, err error) {
	if h.Algorithm != passwd.Plain && h.Algorithm != passwd.Bcrypt && h.Algorithm != passwd.PBKDF2 {
		h.Salt = passwd.Prefix
	}
	if err := h.Validate(); err != nil {
		return nil, nil, err
	}
	db = &DB{hash: h, path: path, conf: make(map[string]Entry, len(static)), dyn: make(map[string]Entry)}
	if db.dummy, err = db.newEntry("dummy password"); err != nil {
		return nil, nil, err
	}
	for name, pw := range static {
		if name == "" || pw == "" {
			return nil, nil, fmt.Errorf("userdb: %q: %w", name, ErrEmpty)
		}
		if db.conf[name], err = db.newEntry(pw); err != nil {
			return nil, nil, err
		}
	}
	if path != "" {
		data, err := os.ReadFile(path)
		switch {
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			return nil, nil, fmt.Errorf("userdb: %w", err)
		default:
			var f file
			if err := json.Unmarshal(data, &f); err != nil {
				return nil, nil, fmt.Errorf("userdb: %s: %w", path, err)
			}
			if f.Version != 1 {
				return nil, nil, fmt.Errorf("userdb: %s: version %d, want 1", path, f.Version)
			}
			for name, e := range f.Entries {
				if _, err := passwd.Parse(e.Hash); err != nil {
					return nil, nil, fmt.Errorf("userdb: %s: entry %q: %w", path, name, err)
				}
				db.dyn[name] = e
				if _, ok := db.conf[name]; ok {
					shadowed = append(shadowed, name)
				}
			}
		}
	}
	slices.Sort(shadowed)
	return db, shadowed, nil
}

// newEntry hashes password with the DB's hash and a new salt.
func (db *DB) newEntry(password string) (Entry, error) {
	e := Entry{Hash: db.hash.String()}
	var salt []byte
	if db.hash.NeedsSalt() {
		e.Salt = passwd.NewSalt(16)
		salt = []byte(e.Salt)
	}
	sum, err := db.hash.Sum([]byte(password), salt)
	if err != nil {
		return Entry{}, err
	}
	e.Password = sum
	return e, nil
}

// lookup returns name's entry, from the configuration first.
func (db *DB) lookup(name string) (Entry, bool) {
	db.mu.RLock()
	defer db.mu.RUnlock()
	if e, ok := db.conf[name]; ok {
		return e, true
	}
	e, ok := db.dyn[name]
	return e, ok
}

// Check reports whether name is in the table and, if it is, whether
// password matches: nil, passwd.ErrMismatch, or an error about a stored
// entry that cannot be checked.
func (db *DB) Check(name string, password []byte) (found bool, err error) {
	e, found := db.lookup(name)
	if !found {
		check(db.dummy, password)
		return false, nil
	}
	return true, check(e, password)
}

func check(e Entry, password []byte) error {
	h, err := passwd.Parse(e.Hash)
	if err != nil {
		return err
	}
	return h.Check(password, []byte(e.Salt), e.Password)
}

// Has reports whether name is in the table.
func (db *DB) Has(name string) bool {
	_, ok := db.lookup(name)
	return ok
}

// Static reports whether name comes from the configuration file.
func (db *DB) Static(name string) bool {
	db.mu.RLock()
	defer db.mu.RUnlock()
	_, ok := db.conf[name]
	return ok
}

// Names returns every name, from the configuration and the runtime,
// sorted.
func (db *DB) Names() []string {
	db.mu.RLock()
	defer db.mu.RUnlock()
	names := slices.Collect(maps.Keys(db.conf))
	for n := range db.dyn {
		if _, ok := db.conf[n]; !ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// Add adds a runtime entry and persists it.
func (db *DB) Add(name, password string) error {
	if name == "" || password == "" {
		return ErrEmpty
	}
	e, err := db.newEntry(password)
	if err != nil {
		return err
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	_, inConf := db.conf[name]
	_, inDyn := db.dyn[name]
	if inConf || inDyn {
		return ErrExists
	}
	return db.change(func(m map[string]Entry) { m[name] = e })
}

// SetPassword changes the password of a runtime entry and persists it.
func (db *DB) SetPassword(name, password string) error {
	if name == "" || password == "" {
		return ErrEmpty
	}
	e, err := db.newEntry(password)
	if err != nil {
		return err
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if err := db.mutable(name); err != nil {
		return err
	}
	return db.change(func(m map[string]Entry) { m[name] = e })
}

// Delete removes a runtime entry and persists the change.
func (db *DB) Delete(name string) error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if err := db.mutable(name); err != nil {
		return err
	}
	return db.change(func(m map[string]Entry) { delete(m, name) })
}

// mutable checks that name is a runtime entry. Called with mu held.
func (db *DB) mutable(name string) error {
	if _, ok := db.conf[name]; ok {
		return ErrStatic
	}
	if _, ok := db.dyn[name]; !ok {
		return ErrNotFound
	}
	return nil
}

// change applies f to a copy of the runtime entries, writes the copy to
// the file and, if that worked, makes it current. Called with mu held.
func (db *DB) change(f func(map[string]Entry)) error {
	next := maps.Clone(db.dyn)
	f(next)
	if err := db.save(next); err != nil {
		return err
	}
	db.dyn = next
	return nil
}

// save writes entries to the file: a temporary file in the same folder,
// synced and renamed over the old one, so a crash leaves the old file or
// the new one, never half of one. The file is readable by its owner only.
func (db *DB) save(entries map[string]Entry) error {
	if db.path == "" {
		return nil
	}
	data, err := json.MarshalIndent(file{Version: 1, Entries: entries}, "", "  ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	dir := filepath.Dir(db.path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("userdb: %w", err)
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(db.path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("userdb: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("userdb: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("userdb: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("userdb: %w", err)
	}
	if err := os.Rename(tmp.Name(), db.path); err != nil {
		return fmt.Errorf("userdb: %w", err)
	}
	return nil
}

// Path returns the file of the runtime entries, "" for none.
func (db *DB) Path() string { return db.path }
