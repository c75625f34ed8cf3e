package passwd

import (
	"bufio"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"testing"
)

type vector struct {
	line           int
	hash           string
	password, salt []byte
	want, tool     string
}

// readVectors reads testdata/vectors.tsv, written by testdata/gen.sh with
// openssl and Python, not with this package.
func readVectors(t *testing.T) []vector {
	t.Helper()
	f, err := os.Open("testdata/vectors.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var vs []vector
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		cols := strings.Split(line, "\t")
		if len(cols) != 5 {
			t.Fatalf("vectors.tsv:%d: %d columns, want 5", n, len(cols))
		}
		v := vector{line: n, hash: cols[0], want: cols[3], tool: cols[4]}
		v.password = unhex(t, n, cols[1])
		v.salt = unhex(t, n, cols[2])
		vs = append(vs, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(vs) < 100 {
		t.Fatalf("only %d vectors", len(vs))
	}
	return vs
}

func unhex(t *testing.T, line int, s string) []byte {
	h, ok := strings.CutPrefix(s, "x:")
	if !ok {
		return []byte(s)
	}
	b, err := hex.DecodeString(h)
	if err != nil {
		t.Fatalf("vectors.tsv:%d: %v", line, err)
	}
	return b
}

func TestVectors(t *testing.T) {
	for _, v := range readVectors(t) {
		h, err := Parse(v.hash)
		if err != nil {
			t.Errorf("vectors.tsv:%d: Parse(%q): %v", v.line, v.hash, err)
			continue
		}
		got, err := h.Sum(v.password, v.salt)
		if err != nil {
			t.Errorf("vectors.tsv:%d: %s Sum: %v", v.line, v.hash, err)
			continue
		}
		if got != v.want {
			t.Errorf("vectors.tsv:%d: %s Sum(%q, %q) = %s, want %s (%s)", v.line, v.hash, v.password, v.salt, got, v.want, v.tool)
		}
		if err := h.Check(v.password, v.salt, v.want); err != nil {
			t.Errorf("vectors.tsv:%d: %s Check of the right password: %v", v.line, v.hash, err)
		}
		wrong := []byte("x")
		if len(v.password) > 0 {
			// Change the first byte: bcrypt ignores bytes after the 72nd.
			wrong = append([]byte(nil), v.password...)
			wrong[0] ^= 1
		}
		if err := h.Check(wrong, v.salt, v.want); !errors.Is(err, ErrMismatch) {
			t.Errorf("vectors.tsv:%d: %s Check of a wrong password = %v, want ErrMismatch", v.line, v.hash, err)
		}
		if h.Algorithm != Plain && h.Algorithm != Bcrypt {
			// EMQ compares the stored binary exactly: upper-case hex is
			// another value.
			if err := h.Check(v.password, v.salt, strings.ToUpper(v.want)); !errors.Is(err, ErrMismatch) {
				t.Errorf("vectors.tsv:%d: %s Check against upper-case hex = %v, want ErrMismatch", v.line, v.hash, err)
			}
		}
		if h.Algorithm == Bcrypt {
			// A bare "bcrypt" takes the salt from the stored hash.
			if err := MustParse("bcrypt").Check(v.password, nil, v.want); err != nil {
				t.Errorf("vectors.tsv:%d: bare bcrypt Check: %v", v.line, err)
			}
		}
	}
}

func TestParse(t *testing.T) {
	good := map[string]Hash{
		"plain":                 {Algorithm: Plain},
		"MD5":                   {Algorithm: MD5},
		" sha ":                 {Algorithm: SHA},
		"sha256":                {Algorithm: SHA256},
		"sha512":                {Algorithm: SHA512},
		"salt,sha256":           {Algorithm: SHA256, Salt: Prefix},
		"sha256, salt":          {Algorithm: SHA256, Salt: Suffix},
		"salt,md5":              {Algorithm: MD5, Salt: Prefix},
		"pbkdf2,sha256,1000,20": {Algorithm: PBKDF2, MacFun: "sha256", Iterations: 1000, KeyLen: 20},
		"bcrypt":                {Algorithm: Bcrypt},
		"salt,bcrypt":           {Algorithm: Bcrypt, Salt: Prefix},
	}
	for in, want := range good {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", in, got, err, want)
			continue
		}
		again, err := Parse(got.String())
		if err != nil || again != got {
			t.Errorf("Parse(%q.String() = %q) = %+v, %v", in, got.String(), again, err)
		}
	}
	for _, in := range []string{
		"", "sha1", "md5,sha256", "salt,plain", "bcrypt,salt", "salt,salt", "pbkdf2",
		"pbkdf2,sha256,1000", "pbkdf2,sha3,1000,20", "pbkdf2,sha256,x,20", "pbkdf2,sha256,0,20",
		"pbkdf2,sha256,1000,0", "salt,sha256,salt",
	} {
		if h, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) = %+v, want an error", in, h)
		}
	}
}

func TestNeedsSalt(t *testing.T) {
	for in, want := range map[string]bool{
		"plain": false, "sha256": false, "salt,sha256": true, "sha256,salt": true,
		"pbkdf2,sha,1,1": true, "bcrypt": false, "salt,bcrypt": false,
	} {
		if got := MustParse(in).NeedsSalt(); got != want {
			t.Errorf("%s.NeedsSalt() = %v, want %v", in, got, want)
		}
	}
}

func TestBcryptRandomSalt(t *testing.T) {
	h := Hash{Algorithm: Bcrypt, Cost: 4}
	a, err := h.Sum([]byte("public"), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := h.Sum([]byte("public"), nil)
	if a == b || len(a) != bcryptHashLen || !strings.HasPrefix(a, "$2b$04$") {
		t.Fatalf("Sum = %q and %q: want two different $2b$04$ hashes of %d bytes", a, b, bcryptHashLen)
	}
	if err := h.Check([]byte("public"), nil, a); err != nil {
		t.Errorf("Check: %v", err)
	}
	if err := h.Check([]byte("Public"), nil, a); !errors.Is(err, ErrMismatch) {
		t.Errorf("Check of a wrong password = %v", err)
	}
	// A salt column that disagrees with the stored hash never matches.
	if err := MustParse("salt,bcrypt").Check([]byte("public"), []byte(b[:bcryptSaltLen]), a); !errors.Is(err, ErrMismatch) {
		t.Errorf("Check with another salt = %v", err)
	}
}

func TestBcryptBadStored(t *testing.T) {
	h := MustParse("bcrypt")
	for _, stored := range []string{"", "$2a$", "$3a$10$abcdefghijklmnopqrstuuxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "$2a$99$abcdefghijklmnopqrstuuxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", "$2z$04$abcdefghijklmnopqrstuuxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"} {
		err := h.Check([]byte("x"), nil, stored)
		if err == nil || errors.Is(err, ErrMismatch) {
			t.Errorf("Check against %q = %v, want a format error", stored, err)
		}
	}
}

func TestNewSalt(t *testing.T) {
	a, b := NewSalt(16), NewSalt(16)
	if len(a) != 32 || a == b || strings.ToLower(a) != a {
		t.Fatalf("NewSalt(16) = %q, %q", a, b)
	}
}

func BenchmarkCheck(b *testing.B) {
	for _, s := range []string{"sha256", "salt,sha256", "pbkdf2,sha256,1000,20"} {
		h := MustParse(s)
		stored, _ := h.Sum([]byte("public"), []byte("salt"))
		b.Run(s, func(b *testing.B) {
			for b.Loop() {
				if h.Check([]byte("public"), []byte("salt"), stored) != nil {
					b.Fatal("mismatch")
				}
			}
		})
	}
}
