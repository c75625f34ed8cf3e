// Package passwd computes and checks the password hashes of EMQ's auth
// plugins (emqttd_auth_mod:passwd_hash/2 in 2.x, emqx_passwd later).
//
// A Hash is parsed from the text of a plugin's password_hash setting:
//
//	plain | md5 | sha | sha256 | sha512   hash(password)
//	salt,sha256                           hash(salt ++ password)  (prefix)
//	sha256,salt                           hash(password ++ salt)  (suffix)
//	pbkdf2,sha256,1000,20                 PBKDF2-HMAC-SHA256, 1000 iterations, 20 bytes
//	bcrypt | salt,bcrypt                  bcrypt; the salt is the one inside the stored hash
//
// Digests are written as lowercase hexadecimal, as EMQ stores them, and a
// stored value is compared with the computed one byte for byte (so the case
// of stored hex matters, as in EMQ) in constant time.
//
// EMQ 2.3 accepted a bare "bcrypt" but had no one-argument implementation
// of it, so every login failed; here it checks the password against the
// salt embedded in the stored "$2a$..." string, like "salt,bcrypt" does.
package passwd

import (
	"crypto/md5"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"

	"golang.org/x/crypto/md4"       //nolint:staticcheck // EMQ's pbkdf2 macfun md4
	"golang.org/x/crypto/ripemd160" //nolint:staticcheck // EMQ's pbkdf2 macfun ripemd160
)

// Algorithm names a hash function.
type Algorithm string

// The algorithms of EMQ's password_hash settings.
const (
	Plain  Algorithm = "plain"
	MD5    Algorithm = "md5"
	SHA    Algorithm = "sha" // SHA-1
	SHA256 Algorithm = "sha256"
	SHA512 Algorithm = "sha512"
	PBKDF2 Algorithm = "pbkdf2"
	Bcrypt Algorithm = "bcrypt"
)

// SaltPosition says where the salt goes relative to the password.
type SaltPosition uint8

const (
	// NoSalt hashes the password alone.
	NoSalt SaltPosition = iota
	// Prefix hashes salt ++ password ("salt,sha256").
	Prefix
	// Suffix hashes password ++ salt ("sha256,salt").
	Suffix
)

// DefaultBcryptCost is the cost Sum uses for new bcrypt hashes.
const DefaultBcryptCost = 10

// ErrMismatch is returned by Check when the password does not match.
var ErrMismatch = errors.New("passwd: password does not match")

// Hash is a parsed password_hash setting. The zero value is invalid; build
// one with Parse or fill the fields and call Validate.
type Hash struct {
	// Algorithm is the hash function.
	Algorithm Algorithm
	// Salt is where the salt goes for the digest algorithms. PBKDF2 always
	// takes a salt; bcrypt's salt is part of its output.
	Salt SaltPosition
	// MacFun is PBKDF2's HMAC hash: md4, md5, ripemd160, sha, sha224,
	// sha256, sha384 or sha512.
	MacFun string
	// Iterations and KeyLen are PBKDF2's iteration count and derived key
	// length in bytes.
	Iterations int
	KeyLen     int
	// Cost is bcrypt's cost for new hashes; 0 means DefaultBcryptCost.
	Cost int
}

// Parse parses a password_hash setting such as "sha256", "salt,md5",
// "sha256,salt", "pbkdf2,sha256,1000,20", "bcrypt" or "salt,bcrypt".
// Names are case-insensitive and spaces around commas are ignored.
func Parse(s string) (Hash, error) {
	parts := strings.Split(strings.ToLower(strings.TrimSpace(s)), ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	bad := func(format string, args ...any) (Hash, error) {
		return Hash{}, fmt.Errorf("passwd: hash %q: "+format, append([]any{s}, args...)...)
	}
	var h Hash
	switch {
	case len(parts) == 1:
		h.Algorithm = Algorithm(parts[0])
	case len(parts) == 2 && parts[0] == "salt":
		h.Algorithm, h.Salt = Algorithm(parts[1]), Prefix
	case len(parts) == 2 && parts[1] == "salt":
		h.Algorithm, h.Salt = Algorithm(parts[0]), Suffix
	case len(parts) == 4 && parts[0] == "pbkdf2":
		h.Algorithm, h.MacFun = PBKDF2, parts[1]
		var err error
		if h.Iterations, err = strconv.Atoi(parts[2]); err != nil {
			return bad("iterations %q is not a number", parts[2])
		}
		if h.KeyLen, err = strconv.Atoi(parts[3]); err != nil {
			return bad("dklen %q is not a number", parts[3])
		}
	case len(parts) >= 1 && parts[0] == "pbkdf2":
		return bad("want pbkdf2,<macfun>,<iterations>,<dklen>")
	default:
		return bad("want plain, md5, sha, sha256, sha512, pbkdf2,<macfun>,<iterations>,<dklen> or bcrypt, salted as salt,<hash> or <hash>,salt")
	}
	switch h.Algorithm {
	case Plain, MD5, SHA, SHA256, SHA512, PBKDF2, Bcrypt:
	default:
		return bad("unknown algorithm %q: want plain, md5, sha, sha256, sha512, pbkdf2,<macfun>,<iterations>,<dklen> or bcrypt, salted as salt,<hash> or <hash>,salt", h.Algorithm)
	}
	if h.Algorithm == Bcrypt && h.Salt == Suffix {
		return bad("bcrypt takes its salt as a prefix: write salt,bcrypt")
	}
	if h.Algorithm == Plain && h.Salt != NoSalt {
		return bad("plain cannot be salted")
	}
	if err := h.Validate(); err != nil {
		return Hash{}, err
	}
	return h, nil
}

// MustParse is Parse for settings known to be valid; it panics on error.
func MustParse(s string) Hash {
	h, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return h
}

// Validate reports whether h is complete and consistent.
func (h Hash) Validate() error {
	switch h.Algorithm {
	case Plain, MD5, SHA, SHA256, SHA512, Bcrypt:
	case PBKDF2:
		if macFun(h.MacFun) == nil {
			return fmt.Errorf("passwd: pbkdf2 macfun %q is not one of md4, md5, ripemd160, sha, sha224, sha256, sha384, sha512", h.MacFun)
		}
		if h.Iterations < 1 {
			return fmt.Errorf("passwd: pbkdf2 iterations %d: want 1 or more", h.Iterations)
		}
		if h.KeyLen < 1 || h.KeyLen > 1024 {
			return fmt.Errorf("passwd: pbkdf2 dklen %d: want 1 to 1024 bytes", h.KeyLen)
		}
	case "":
		return errors.New("passwd: no hash algorithm")
	default:
		return fmt.Errorf("passwd: unknown hash algorithm %q", h.Algorithm)
	}
	if h.Cost != 0 && (h.Cost < bcryptMinCost || h.Cost > bcryptMaxCost) {
		return fmt.Errorf("passwd: bcrypt cost %d out of range [%d, %d]", h.Cost, bcryptMinCost, bcryptMaxCost)
	}
	return nil
}

// String returns h in the syntax Parse reads.
func (h Hash) String() string {
	switch {
	case h.Algorithm == PBKDF2:
		return fmt.Sprintf("pbkdf2,%s,%d,%d", h.MacFun, h.Iterations, h.KeyLen)
	case h.Salt == Prefix:
		return "salt," + string(h.Algorithm)
	case h.Salt == Suffix:
		return string(h.Algorithm) + ",salt"
	}
	return string(h.Algorithm)
}

// NeedsSalt reports whether h uses a salt stored next to the hash (a salt
// column): the salted digests and PBKDF2. Bcrypt carries its salt inside
// the hash.
func (h Hash) NeedsSalt() bool {
	return h.Algorithm == PBKDF2 || (h.Algorithm != Bcrypt && h.Salt != NoSalt)
}

// Sum returns the stored form of password: the password itself for plain,
// lowercase hex for the digests and PBKDF2, and a "$2a$..." string for
// bcrypt. For bcrypt, a non-empty salt must be a bcrypt salt ("$2a$10$"
// and 22 characters, or a whole bcrypt hash, whose salt is used), as with
// Erlang's bcrypt:hashpw(Password, Salt); an empty one makes a new random
// salt with cost h.Cost.
func (h Hash) Sum(password, salt []byte) (string, error) {
	if err := h.Validate(); err != nil {
		return "", err
	}
	switch h.Algorithm {
	case Plain:
		return string(password), nil
	case PBKDF2:
		key, err := pbkdf2.Key(macFun(h.MacFun), string(password), salt, h.Iterations, h.KeyLen)
		if err != nil {
			return "", fmt.Errorf("passwd: pbkdf2: %w", err)
		}
		return hex.EncodeToString(key), nil
	case Bcrypt:
		if len(salt) == 0 {
			cost := h.Cost
			if cost == 0 {
				cost = DefaultBcryptCost
			}
			salt = NewBcryptSalt(cost)
		}
		return bcryptHash(password, salt)
	}
	d := digest(h.Algorithm)()
	if h.Salt == Prefix {
		d.Write(salt)
	}
	d.Write(password)
	if h.Salt == Suffix {
		d.Write(salt)
	}
	return hex.EncodeToString(d.Sum(nil)), nil
}

// Check reports whether password, with salt, hashes to stored. It returns
// nil on a match, ErrMismatch when the password is wrong, and another
// error when the hash setting or the stored value is unusable. The
// comparison takes the same time wherever the values differ.
func (h Hash) Check(password, salt []byte, stored string) error {
	if err := h.Validate(); err != nil {
		return err
	}
	if h.Algorithm == Bcrypt && len(salt) == 0 {
		// The salt is the start of the stored hash. With a salt column
		// (salt,bcrypt) that salt is used, as bcrypt:hashpw(Password, Salt)
		// does, and the result must equal the stored hash.
		if len(stored) < bcryptSaltLen {
			return fmt.Errorf("passwd: stored bcrypt hash is %d bytes, want %d", len(stored), bcryptHashLen)
		}
		salt = []byte(stored[:bcryptSaltLen])
	}
	sum, err := h.Sum(password, salt)
	if err != nil {
		return err
	}
	if subtle.ConstantTimeCompare([]byte(sum), []byte(stored)) != 1 {
		return ErrMismatch
	}
	return nil
}

// NewSalt returns n random bytes as lowercase hex (2n characters), a salt
// for the digest algorithms and PBKDF2.
func NewSalt(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func digest(a Algorithm) func() hash.Hash {
	switch a {
	case MD5:
		return md5.New
	case SHA:
		return sha1.New
	case SHA256:
		return sha256.New
	case SHA512:
		return sha512.New
	}
	return nil
}

func macFun(name string) func() hash.Hash {
	switch name {
	case "md4":
		return md4.New
	case "md5":
		return md5.New
	case "ripemd160":
		return ripemd160.New
	case "sha":
		return sha1.New
	case "sha224":
		return sha256.New224
	case "sha256":
		return sha256.New
	case "sha384":
		return sha512.New384
	case "sha512":
		return sha512.New
	}
	return nil
}
