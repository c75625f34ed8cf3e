package broker

import (
	"context"
	"fmt"
)

// Decision is an access module's answer, EMQ's allow | deny | ignore.
// The zero value, Ignore, means "no opinion: ask the next module".
type Decision uint8

const (
	// Ignore passes the question to the next module.
	Ignore Decision = iota
	// Allow accepts, and ends the chain.
	Allow
	// Deny refuses, and ends the chain.
	Deny
)

// String returns "ignore", "allow" or "deny".
func (d Decision) String() string {
	switch d {
	case Ignore:
		return "ignore"
	case Allow:
		return "allow"
	case Deny:
		return "deny"
	}
	return fmt.Sprintf("Decision(%d)", d)
}

// Access is what a client wants to do with a topic.
type Access uint8

const (
	// AccessSubscribe is a subscription to a topic filter.
	AccessSubscribe Access = 1 << iota
	// AccessPublish is a publish to a topic name.
	AccessPublish
)

// String returns "subscribe" or "publish".
func (a Access) String() string {
	switch a {
	case AccessSubscribe:
		return "subscribe"
	case AccessPublish:
		return "publish"
	}
	return fmt.Sprintf("Access(%d)", a)
}

// Authenticator decides whether a client may connect.
type Authenticator interface {
	Authenticate(ctx context.Context, c *ClientInfo, password []byte) (Decision, error)
}

// Authorizer decides whether a client may publish to or subscribe to a topic.
type Authorizer interface {
	Authorize(ctx context.Context, c *ClientInfo, access Access, topic string) (Decision, error)
}

// AuthFunc adapts a function to Authenticator.
type AuthFunc func(ctx context.Context, c *ClientInfo, password []byte) (Decision, error)

// Authenticate calls f.
func (f AuthFunc) Authenticate(ctx context.Context, c *ClientInfo, password []byte) (Decision, error) {
	return f(ctx, c, password)
}

// ACLFunc adapts a function to Authorizer.
type ACLFunc func(ctx context.Context, c *ClientInfo, access Access, topic string) (Decision, error)

// Authorize calls f.
func (f ACLFunc) Authorize(ctx context.Context, c *ClientInfo, access Access, topic string) (Decision, error) {
	return f(ctx, c, access, topic)
}

// SuperuserChecker is an optional interface of an Authenticator: after the
// chain allows a client, each registered SuperuserChecker is asked whether
// it is a superuser (EMQ's super_query). Superusers skip ACL.
type SuperuserChecker interface {
	IsSuperuser(ctx context.Context, c *ClientInfo) (bool, error)
}

// Reloader is an optional interface of access modules that can re-read
// their rules (EMQ's reload_acl).
type Reloader interface {
	Reload(ctx context.Context) error
}

// Describer is an optional interface giving a one-line description of a
// module, shown by listings (EMQ's description/0).
type Describer interface {
	Description() string
}

// RegisterAuth adds a to the authentication chain and returns a function
// that removes it. The chain's rules:
//  1. modules run by Priority (higher first, then registration order) and
//     the first answer other than Ignore wins;
//  2. an error counts as Deny and is logged (fail closed);
//  3. when every module ignores, the client is allowed unless
//     Options.DenyAnonymous is set;
//  4. after Allow, every module that is a SuperuserChecker is asked
//     whether the client is a superuser; superusers skip ACL.
func (b *Broker) RegisterAuth(a Authenticator, opts ...RegisterOption) (unregister func()) {
	return b.auth.add(a, opts)
}

// RegisterACL adds a to the ACL chain and returns a function that removes
// it. Modules run by Priority and the first answer other than Ignore wins;
// an error denies and is logged; when every module ignores, access is
// allowed unless Options.DenyACLNoMatch is set. Superusers and host
// publishes are not checked.
func (b *Broker) RegisterACL(a Authorizer, opts ...RegisterOption) (unregister func()) {
	return b.acl.add(a, opts)
}

// authenticate runs the auth chain and the client.authenticate hooks. It
// sets c.Superuser on success.
func (b *Broker) authenticate(ctx context.Context, c *ClientInfo, password []byte) Decision {
	d := Ignore
	for _, e := range b.auth.load() {
		got, err := e.fn.Authenticate(ctx, c, password)
		if err != nil {
			b.log.Warn("auth module failed; denying", "module", moduleName(e.reg, e.fn), "client", c.ClientID, "err", err)
			got = Deny
		}
		if got != Ignore {
			d = got
			break
		}
	}
	if d == Ignore {
		if b.opts.DenyAnonymous {
			d = Deny
		} else {
			d = Allow
		}
	}
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

// authorize runs the ACL chain and the client.authorize hooks.
func (b *Broker) authorize(ctx context.Context, c *ClientInfo, access Access, topic string) Decision {
	if c.Superuser {
		return Allow
	}
	d := Ignore
	for _, e := range b.acl.load() {
		got, err := e.fn.Authorize(ctx, c, access, topic)
		if err != nil {
			b.log.Warn("ACL module failed; denying", "module", moduleName(e.reg, e.fn), "client", c.ClientID, "access", access, "topic", topic, "err", err)
			got = Deny
		}
		if got != Ignore {
			d = got
			break
		}
	}
	if d == Ignore {
		if b.opts.DenyACLNoMatch {
			d = Deny
		} else {
			d = Allow
		}
	}
	for _, e := range b.hookTable.clientAuthorize.load() {
		var f Flow
		d, f = e.fn(ctx, c, access, topic, d)
		if f == Stop {
			break
		}
	}
	if d != Allow {
		return Deny
	}
	return Allow
}

func moduleName(reg registration, m any) string {
	if reg.name != "" {
		return reg.name
	}
	if d, ok := m.(Describer); ok {
		return d.Description()
	}
	return fmt.Sprintf("%T", m)
}
