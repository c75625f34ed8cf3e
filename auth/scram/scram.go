// Package scram implements SCRAM-SHA-256 (RFC 5802 with RFC 7677's hash)
// as an MQTT 5 enhanced authentication method for the emqgo broker: the
// client proves it knows the password without sending it, the broker
// proves it knows the user's credentials, and the broker stores only
// salted, derived keys.
//
//	a := scram.New(scram.Users(map[string]scram.Credentials{
//		"alice": must(scram.NewCredentials("secret", salt, 4096)),
//	}))
//	b.RegisterEnhancedAuth(a)
//
// A client connects with the Authentication Method "SCRAM-SHA-256" and its
// client-first-message as Authentication Data; the broker answers with
// AUTH 0x18 carrying the server-first-message, the client sends its
// client-final-message in AUTH 0x18, and the broker accepts it with a
// CONNACK carrying the server-final-message (which the client should
// verify), or refuses it with CONNACK 0x87. The same exchange runs again
// on re-authentication (AUTH 0x19). Channel binding is not supported: the
// GS2 header must be "n,," or "y,,".
//
// Passwords are used as given (UTF-8); the SASLprep normalisation of RFC
// 5802 is not applied, so clients must not apply it either.
package scram

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/emqgo/broker"
)

// Method is the MQTT Authentication Method this package implements.
const Method = "SCRAM-SHA-256"

// MinIterations is the smallest iteration count NewCredentials accepts
// (RFC 7677 §4).
const MinIterations = 4096

// Credentials are what the broker keeps for one user (RFC 5802 §3): never
// the password, only the salt, the iteration count and two keys derived
// from the salted password.
type Credentials struct {
	Salt       []byte
	Iterations int
	// StoredKey is H(ClientKey): it checks the client's proof.
	StoredKey []byte
	// ServerKey signs the server-final-message.
	ServerKey []byte
}

// NewCredentials derives the Credentials of password with salt (at least 8
// random bytes, one salt per user) and iterations (at least MinIterations).
func NewCredentials(password string, salt []byte, iterations int) (Credentials, error) {
	if iterations < MinIterations {
		return Credentials{}, fmt.Errorf("scram: %d iterations, want at least %d", iterations, MinIterations)
	}
	if len(salt) < 8 {
		return Credentials{}, errors.New("scram: salt shorter than 8 bytes")
	}
	salted, err := pbkdf2.Key(sha256.New, password, salt, iterations, sha256.Size)
	if err != nil {
		return Credentials{}, fmt.Errorf("scram: %w", err)
	}
	clientKey := hmacSHA256(salted, []byte("Client Key"))
	stored := sha256.Sum256(clientKey)
	return Credentials{Salt: bytes.Clone(salt), Iterations: iterations,
		StoredKey: stored[:], ServerKey: hmacSHA256(salted, []byte("Server Key"))}, nil
}

// Lookup returns the credentials of username; found is false for a user it
// does not know. An error fails the authentication and is logged.
type Lookup func(ctx context.Context, username string) (c Credentials, found bool, err error)

// Users returns a Lookup over a fixed set of users. The map must not be
// changed afterwards.
func Users(m map[string]Credentials) Lookup {
	return func(_ context.Context, username string) (Credentials, bool, error) {
		c, ok := m[username]
		return c, ok, nil
	}
}

// Authenticator is the SCRAM-SHA-256 broker.EnhancedAuthenticator.
type Authenticator struct {
	lookup Lookup
	// fakeKey derives the salts of unknown users, so that a client cannot
	// tell them from known ones before the final step (RFC 5802 §5.1).
	fakeKey []byte
	// nonce returns the server's part of the nonce; tests replace it.
	nonce func() string
}

var _ broker.EnhancedAuthenticator = (*Authenticator)(nil)

// New returns an Authenticator that finds users with lookup.
func New(lookup Lookup) *Authenticator {
	key := make([]byte, 32)
	rand.Read(key)
	return &Authenticator{lookup: lookup, fakeKey: key, nonce: randomNonce}
}

func randomNonce() string {
	b := make([]byte, 18)
	rand.Read(b)
	return base64.RawStdEncoding.EncodeToString(b)
}

// AuthMethod returns "SCRAM-SHA-256".
func (a *Authenticator) AuthMethod() string { return Method }

// Description describes the module in listings.
func (a *Authenticator) Description() string { return "SCRAM-SHA-256 enhanced authentication" }

// errProtocol reports a malformed SCRAM message.
var errProtocol = errors.New("scram: malformed message")

// Start receives the client-first-message and answers with the
// server-first-message; the returned step's Next checks the
// client-final-message.
func (a *Authenticator) Start(ctx context.Context, c *broker.ClientInfo, data []byte) (broker.AuthStep, error) {
	msg := string(data)
	// gs2-header: cbind-flag "," [authzid] ","
	var gs2 string
	switch {
	case strings.HasPrefix(msg, "n,,"), strings.HasPrefix(msg, "y,,"):
		gs2, msg = msg[:3], msg[3:]
	case strings.HasPrefix(msg, "p="):
		return broker.AuthStep{}, errors.New("scram: channel binding is not supported")
	default:
		return broker.AuthStep{}, fmt.Errorf("%w: GS2 header (authorization identities are not supported)", errProtocol)
	}
	bare := msg
	attrs := strings.Split(bare, ",")
	if len(attrs) < 2 || !strings.HasPrefix(attrs[0], "n=") || !strings.HasPrefix(attrs[1], "r=") || len(attrs[1]) < 3 {
		return broker.AuthStep{}, fmt.Errorf("%w: client-first-message", errProtocol)
	}
	user, ok := decodeName(attrs[0][2:])
	if !ok || user == "" {
		return broker.AuthStep{}, fmt.Errorf("%w: user name", errProtocol)
	}
	clientNonce := attrs[1][2:]
	if !printable(clientNonce) {
		return broker.AuthStep{}, fmt.Errorf("%w: nonce", errProtocol)
	}
	if c.Username != "" && c.Username != user {
		return broker.AuthStep{}, fmt.Errorf("scram: SCRAM user %q is not the CONNECT user name %q", user, c.Username)
	}
	creds, found, err := a.lookup(ctx, user)
	if err != nil {
		return broker.AuthStep{}, fmt.Errorf("scram: lookup %q: %w", user, err)
	}
	if !found {
		creds = Credentials{Salt: hmacSHA256(a.fakeKey, []byte(user))[:16], Iterations: MinIterations}
	}
	nonce := clientNonce + a.nonce()
	serverFirst := "r=" + nonce + ",s=" + base64.StdEncoding.EncodeToString(creds.Salt) + ",i=" + strconv.Itoa(creds.Iterations)
	final := func(ctx context.Context, data []byte) (broker.AuthStep, error) {
		msg := string(data)
		i := strings.LastIndex(msg, ",p=")
		if i < 0 {
			return broker.AuthStep{}, fmt.Errorf("%w: client-final-message without proof", errProtocol)
		}
		withoutProof, proofB64 := msg[:i], msg[i+3:]
		attrs := strings.Split(withoutProof, ",")
		if len(attrs) < 2 || attrs[0] != "c="+base64.StdEncoding.EncodeToString([]byte(gs2)) || attrs[1] != "r="+nonce {
			return broker.AuthStep{}, fmt.Errorf("%w: channel binding or nonce of client-final-message", errProtocol)
		}
		proof, err := base64.StdEncoding.DecodeString(proofB64)
		if err != nil || len(proof) != sha256.Size {
			return broker.AuthStep{}, fmt.Errorf("%w: proof", errProtocol)
		}
		if !found {
			return broker.AuthStep{Result: broker.AuthFail}, nil
		}
		authMessage := []byte(bare + "," + serverFirst + "," + withoutProof)
		clientSig := hmacSHA256(creds.StoredKey, authMessage)
		clientKey := make([]byte, sha256.Size)
		subtle.XORBytes(clientKey, proof, clientSig)
		stored := sha256.Sum256(clientKey)
		if subtle.ConstantTimeCompare(stored[:], creds.StoredKey) != 1 {
			return broker.AuthStep{Result: broker.AuthFail}, nil
		}
		if c.Username == "" {
			c.Username = user // the identity the exchange proved
		}
		serverSig := hmacSHA256(creds.ServerKey, authMessage)
		return broker.AuthStep{Result: broker.AuthSuccess,
			Data: []byte("v=" + base64.StdEncoding.EncodeToString(serverSig))}, nil
	}
	return broker.AuthStep{Result: broker.AuthContinue, Data: []byte(serverFirst), Next: final}, nil
}

// decodeName undoes RFC 5802's saslname escaping: "=2C" is ",", "=3D" is
// "=", and any other "=" is an error.
func decodeName(s string) (string, bool) {
	if !strings.Contains(s, "=") {
		return s, true
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "=2C"):
			b.WriteByte(',')
		case strings.HasPrefix(s[i:], "=3D"):
			b.WriteByte('=')
		default:
			return "", false
		}
		i += 2
	}
	return b.String(), true
}

// printable reports whether s is a valid SCRAM nonce: printable ASCII
// without ",".
func printable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e || s[i] == ',' {
			return false
		}
	}
	return true
}

func hmacSHA256(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)
}
