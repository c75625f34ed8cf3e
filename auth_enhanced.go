package broker

import (
	"context"
	"fmt"
)

// EnhancedAuthenticator runs MQTT 5 enhanced authentication (§4.12): a
// challenge/response exchange of AUTH packets named by an Authentication
// Method, such as "SCRAM-SHA-256" (see auth/scram).
//
// The exchange, as the broker drives it:
//
//  1. A CONNECT carrying an Authentication Method is routed to the
//     authenticator registered for that method; with none, the client gets
//     CONNACK 0x8C (bad authentication method). The Authenticator chain is
//     not consulted for such a client: the exchange decides.
//  2. Start receives the CONNECT's Authentication Data (nil if absent) and
//     returns the first step.
//  3. AuthContinue sends Data to the client in AUTH 0x18 (continue
//     authentication); the client's answer, an AUTH 0x18 with the same
//     method, goes to Next, which returns the following step. The whole
//     exchange must end within Options.ConnectTimeout per step.
//  4. AuthSuccess accepts the client: Data, if any (SCRAM's server-final
//     message), travels in the CONNACK. AuthFail, or an error, refuses it
//     with CONNACK 0x87 (not authorized); errors are logged.
//  5. The client.authenticate hooks then fold over the outcome (Allow or
//     Deny) as for password authentication, and SuperuserCheckers (the
//     authenticator itself, if it is one, then the Authenticator chain)
//     are asked about accepted clients.
//
// Re-authentication: a connected client that authenticated this way may
// send AUTH 0x19 (re-authenticate) with the same method at any time; Start
// runs again with its data, and the steps go on as above with AUTH 0x18
// packets, ending with AUTH 0x00 on success or DISCONNECT 0x87 on failure
// [MQTT-4.12.1-2]. The client keeps working meanwhile. ClientInfo does not
// change on re-authentication.
//
// During CONNECT, Start and Next may set c.Username (for example to the
// identity the exchange proved); during re-authentication c is a copy and
// changes to it are ignored. Methods run on the connection's goroutine.
type EnhancedAuthenticator interface {
	// AuthMethod returns the Authentication Method this authenticator
	// implements, e.g. "SCRAM-SHA-256".
	AuthMethod() string
	// Start begins an exchange with the client's first Authentication Data.
	Start(ctx context.Context, c *ClientInfo, data []byte) (AuthStep, error)
}

// AuthResult is the outcome of one step of an enhanced authentication
// exchange. The zero value fails, so a forgotten field refuses the client.
type AuthResult uint8

const (
	// AuthFail refuses the client.
	AuthFail AuthResult = iota
	// AuthContinue sends a challenge and waits for the client's answer.
	AuthContinue
	// AuthSuccess accepts the client.
	AuthSuccess
)

// String returns "fail", "continue" or "success".
func (r AuthResult) String() string {
	switch r {
	case AuthFail:
		return "fail"
	case AuthContinue:
		return "continue"
	case AuthSuccess:
		return "success"
	}
	return fmt.Sprintf("AuthResult(%d)", r)
}

// AuthStep is one step of an enhanced authentication exchange.
type AuthStep struct {
	// Result says how the exchange goes on.
	Result AuthResult
	// Data is the Authentication Data for the client: the challenge with
	// AuthContinue, optional final data with AuthSuccess; ignored with
	// AuthFail.
	Data []byte
	// Next receives the client's next Authentication Data. It is required
	// with AuthContinue and ignored otherwise.
	Next func(ctx context.Context, data []byte) (AuthStep, error)
}

// RegisterEnhancedAuth registers a for its AuthMethod and returns a
// function that removes it. When several authenticators implement the same
// method, the one with the highest Priority (then the first registered)
// runs.
func (b *Broker) RegisterEnhancedAuth(a EnhancedAuthenticator, opts ...RegisterOption) (unregister func()) {
	return b.eauth.add(a, opts)
}

// enhancedAuth returns the authenticator for method, or nil.
func (b *Broker) enhancedAuth(method string) EnhancedAuthenticator {
	for _, e := range b.eauth.load() {
		if e.fn.AuthMethod() == method {
			return e.fn
		}
	}
	return nil
}

// settleEnhanced runs the client.authenticate hooks over the outcome d of an
// enhanced authentication exchange by a and, for an accepted client, the
// superuser checks. It returns Allow or Deny.
func (b *Broker) settleEnhanced(ctx context.Context, c *ClientInfo, a EnhancedAuthenticator, d Decision) Decision {
	for _, e := range b.hookTable.clientAuthenticate.load() {
		var f Flow
		d, f = e.fn(ctx, c, d)
		if f == Stop {
			break
		}
	}
	if d != Allow {
		return Deny
	}
	if sc, ok := a.(SuperuserChecker); ok {
		su, err := sc.IsSuperuser(ctx, c)
		if err != nil {
			b.log.Warn("superuser check failed", "method", a.AuthMethod(), "client", c.ClientID, "err", err)
		}
		if su {
			c.Superuser = true
			return Allow
		}
	}
	for _, e := range b.auth.load() {
		sc, ok := e.fn.(SuperuserChecker)
		if !ok {
			continue
		}
		su, err := sc.IsSuperuser(ctx, c)
		if err != nil {
			b.log.Warn("superuser check failed", "module", moduleName(e.reg, e.fn), "client", c.ClientID, "err", err)
			continue
		}
		if su {
			c.Superuser = true
			break
		}
	}
	return Allow
}
