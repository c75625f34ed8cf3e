package passwd

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"

	"golang.org/x/crypto/blowfish"
)

// bcrypt as in OpenBSD's crypt_blowfish and Erlang's bcrypt:hashpw/2. It
// is written out here because golang.org/x/crypto/bcrypt only hashes with
// a salt of its own choosing, while EMQ's "salt,bcrypt" hashes with the
// salt read from the database.

const (
	bcryptMinCost = 4
	bcryptMaxCost = 31
	bcryptSaltLen = 29 // "$2a$10$" + 22 characters of salt
	bcryptHashLen = 60 // the salt + 31 characters of hash
)

// bcryptEncoding is bcrypt's base64 alphabet, without padding.
var bcryptEncoding = base64.NewEncoding("./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789").WithPadding(base64.NoPadding)

// "OrpheanBeholderScryDoubt", encrypted 64 times.
var bcryptMagic = []byte("OrpheanBeholderScryDoubt")

// NewBcryptSalt returns a random bcrypt salt with the given cost, in the
// "$2b$" form.
func NewBcryptSalt(cost int) []byte {
	raw := make([]byte, 16)
	rand.Read(raw)
	return fmt.Appendf(nil, "$2b$%02d$%s", cost, bcryptEncoding.EncodeToString(raw))
}

// bcryptHash hashes password with salt, the first 29 bytes of a bcrypt
// salt or hash ("$2a$", "$2b$", "$2x$" or "$2y$", a two-digit cost, '$',
// 22 characters). Like OpenBSD's, it uses at most 72 bytes of the password
// with the terminating NUL counted.
func bcryptHash(password, salt []byte) (string, error) {
	if len(salt) < bcryptSaltLen {
		return "", fmt.Errorf("passwd: bcrypt salt is %d bytes, want %d", len(salt), bcryptSaltLen)
	}
	salt = salt[:bcryptSaltLen]
	if salt[0] != '$' || salt[1] != '2' || salt[3] != '$' || salt[6] != '$' {
		return "", errors.New("passwd: bcrypt salt does not start with $2?$NN$")
	}
	switch salt[2] {
	case 'a', 'b', 'x', 'y':
	default:
		return "", fmt.Errorf("passwd: bcrypt version 2%c is not supported", salt[2])
	}
	if salt[4] < '0' || salt[4] > '9' || salt[5] < '0' || salt[5] > '9' {
		return "", errors.New("passwd: bcrypt cost is not two digits")
	}
	cost := int(salt[4]-'0')*10 + int(salt[5]-'0')
	if cost < bcryptMinCost || cost > bcryptMaxCost {
		return "", fmt.Errorf("passwd: bcrypt cost %d out of range [%d, %d]", cost, bcryptMinCost, bcryptMaxCost)
	}
	rawSalt, err := bcryptEncoding.DecodeString(string(salt[7:]))
	if err != nil || len(rawSalt) != 16 {
		return "", errors.New("passwd: bcrypt salt is not 22 characters of bcrypt base64")
	}
	// The key is the password and its NUL terminator, cut at 72 bytes.
	key := make([]byte, 0, len(password)+1)
	key = append(key, password...)
	key = append(key, 0)
	if len(key) > 72 {
		key = key[:72]
	}
	c, err := blowfish.NewSaltedCipher(key, rawSalt)
	if err != nil {
		return "", fmt.Errorf("passwd: bcrypt: %w", err)
	}
	for range uint64(1) << cost {
		blowfish.ExpandKey(key, c)
		blowfish.ExpandKey(rawSalt, c)
	}
	data := make([]byte, len(bcryptMagic))
	copy(data, bcryptMagic)
	for i := 0; i < len(data); i += 8 {
		for range 64 {
			c.Encrypt(data[i:i+8], data[i:i+8])
		}
	}
	// Only 23 of the 24 bytes are encoded, for compatibility with the C
	// implementation.
	// The salt is written back re-encoded: its last character carries only
	// two bits, and implementations print the canonical character.
	out := make([]byte, 0, bcryptHashLen)
	out = append(out, salt[:7]...)
	out = bcryptEncoding.AppendEncode(out, rawSalt)
	out = bcryptEncoding.AppendEncode(out, data[:23])
	return string(out), nil
}
