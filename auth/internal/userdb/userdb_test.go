package userdb

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/emqgo/broker/auth/internal/passwd"
)

func mustCheck(t *testing.T, db *DB, name, pw string, wantFound bool, wantErr error) {
	t.Helper()
	found, err := db.Check(name, []byte(pw))
	if found != wantFound || !errors.Is(err, wantErr) {
		t.Errorf("Check(%q, %q) = %v, %v; want %v, %v", name, pw, found, err, wantFound, wantErr)
	}
}

func TestDB(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "users.json")
	db, shadowed, err := Open(path, passwd.MustParse("sha256"), map[string]string{"admin": "public"})
	if err != nil || len(shadowed) != 0 {
		t.Fatal(err, shadowed)
	}
	mustCheck(t, db, "admin", "public", true, nil)
	mustCheck(t, db, "admin", "Public", true, passwd.ErrMismatch)
	mustCheck(t, db, "nobody", "public", false, nil)

	if err := db.Add("alice", "s3cret"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		err  error
		want error
	}{
		{db.Add("alice", "x"), ErrExists},
		{db.Add("admin", "x"), ErrExists},
		{db.Add("", "x"), ErrEmpty},
		{db.Add("x", ""), ErrEmpty},
		{db.Delete("admin"), ErrStatic},
		{db.SetPassword("admin", "x"), ErrStatic},
		{db.Delete("nobody"), ErrNotFound},
		{db.SetPassword("nobody", "x"), ErrNotFound},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("got %v, want %v", tc.err, tc.want)
		}
	}
	mustCheck(t, db, "alice", "s3cret", true, nil)
	if err := db.Add("bob", "pw"); err != nil {
		t.Fatal(err)
	}
	if got := db.Names(); !reflect.DeepEqual(got, []string{"admin", "alice", "bob"}) {
		t.Errorf("Names = %v", got)
	}
	if !db.Static("admin") || db.Static("alice") || !db.Has("bob") || db.Has("carol") {
		t.Error("Static or Has")
	}

	// The file holds hashes, not passwords, and only the runtime entries.
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "s3cret") || strings.Contains(string(data), "admin") {
		t.Errorf("file holds a password or a configured user:\n%s", data)
	}
	var f file
	if err := json.Unmarshal(data, &f); err != nil || f.Version != 1 || len(f.Entries) != 2 || f.Entries["alice"].Hash != "salt,sha256" || len(f.Entries["alice"].Salt) != 32 {
		t.Errorf("file: %v %+v", err, f)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v", st.Mode())
	}

	if err := db.SetPassword("alice", "new"); err != nil {
		t.Fatal(err)
	}
	if err := db.Delete("bob"); err != nil {
		t.Fatal(err)
	}

	// After a restart, with another hash for new entries and alice also in
	// the configuration.
	db2, shadowed, err := Open(path, passwd.MustParse("pbkdf2,sha256,1000,20"), map[string]string{"alice": "conf"})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(shadowed, []string{"alice"}) {
		t.Errorf("shadowed = %v", shadowed)
	}
	mustCheck(t, db2, "alice", "conf", true, nil)
	mustCheck(t, db2, "alice", "new", true, passwd.ErrMismatch)
	mustCheck(t, db2, "bob", "pw", false, nil)
	if err := db2.Add("carol", "pw"); err != nil {
		t.Fatal(err)
	}
	db3, _, err := Open(path, passwd.MustParse("md5"), nil)
	if err != nil {
		t.Fatal(err)
	}
	mustCheck(t, db3, "alice", "new", true, nil)
	mustCheck(t, db3, "carol", "pw", true, nil)
	mustCheck(t, db3, "admin", "public", false, nil)
}

func TestHashes(t *testing.T) {
	for _, h := range []string{"plain", "md5", "sha", "sha256", "sha512", "pbkdf2,sha,10,16", "bcrypt"} {
		db, _, err := Open("", passwd.MustParse(h), map[string]string{"u": "p"})
		if err != nil {
			t.Fatal(h, err)
		}
		mustCheck(t, db, "u", "p", true, nil)
		mustCheck(t, db, "u", "q", true, passwd.ErrMismatch)
		if err := db.Add("v", "p2"); err != nil {
			t.Fatal(err)
		}
		mustCheck(t, db, "v", "p2", true, nil)
	}
}

func TestBadFiles(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"garbage.json": "{",
		"version.json": `{"version": 2, "entries": {}}`,
		"hash.json":    `{"version": 1, "entries": {"u": {"hash": "rot13", "password": "x"}}}`,
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), 0o600)
		if _, _, err := Open(p, passwd.MustParse("sha256"), nil); err == nil {
			t.Errorf("%s: opened", name)
		}
	}
	if _, _, err := Open("", passwd.MustParse("sha256"), map[string]string{"u": ""}); err == nil {
		t.Error("empty configured password accepted")
	}
	// A file that cannot be written leaves the table as it was.
	ro := filepath.Join(dir, "ro")
	os.Mkdir(ro, 0o500)
	db, _, err := Open(filepath.Join(ro, "sub", "users.json"), passwd.MustParse("sha256"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if os.Getuid() != 0 {
		if err := db.Add("u", "p"); err == nil {
			t.Error("Add to an unwritable folder succeeded")
		}
		if db.Has("u") {
			t.Error("failed Add changed the table")
		}
	}
}

func TestConcurrent(t *testing.T) {
	db, _, err := Open(filepath.Join(t.TempDir(), "u.json"), passwd.MustParse("sha256"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			name := string(rune('a' + i))
			for range 20 {
				db.Add(name, "p")
				db.Check(name, []byte("p"))
				db.SetPassword(name, "q")
				db.Names()
				db.Delete(name)
			}
		})
	}
	wg.Wait()
	if len(db.Names()) != 0 {
		t.Errorf("Names = %v", db.Names())
	}
}
