package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
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
// their rules (EMQ's reload_acl). Broker.ReloadACL calls it on every ACL
// module that has it.
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
// publishes are not checked. Publish decisions are cached per connection
// (see Options.DisableACLCache); registering and removing a module drops
// the caches.
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
	d, _ := b.authorizeFailed(ctx, c, access, topic)
	return d
}

// authorizeFailed is authorize that also reports whether a module failed
// (its error counted as Deny), so that the answer is not cached.
func (b *Broker) authorizeFailed(ctx context.Context, c *ClientInfo, access Access, topic string) (Decision, bool) {
	if c.Superuser {
		return Allow, false
	}
	d, failed := Ignore, false
	for _, e := range b.acl.load() {
		got, err := e.fn.Authorize(ctx, c, access, topic)
		if err != nil {
			b.log.Warn("ACL module failed; denying", "module", moduleName(e.reg, e.fn), "client", c.ClientID, "access", access, "topic", topic, "err", err)
			got, failed = Deny, true
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
		return Deny, failed
	}
	return Allow, failed
}

// aclCacheMax bounds a connection's cache of publish decisions; a full
// cache is emptied and starts again. aclCacheTTL is how long a decision is
// used (EMQ 3's acl_cache_ttl; EMQ 2 kept decisions for the connection's
// life), so that a change in an external ACL, such as a database or an
// HTTP server, reaches connected clients.
const (
	aclCacheMax = 256
	aclCacheTTL = time.Minute
)

// aclCache is one session's cache of publish ACL decisions, EMQ's
// per-connection cache_acl. It is valid for one ClientInfo (one
// connection: a resumed session gets a new one) and one generation of the
// ACL chain. It has its own lock, taken alone.
type aclCache struct {
	mu   sync.Mutex
	info *ClientInfo
	gen  uint64
	m    map[string]aclCached
}

// aclCached is one cached decision and when it expires (unix nanoseconds).
type aclCached struct {
	d   Decision
	exp int64
}

// authorizePublish is authorize for a publish by s, through s's cache
// unless Options.DisableACLCache is set. A decision made while a module
// failed is not cached.
func (b *Broker) authorizePublish(ctx context.Context, s *Session, info *ClientInfo, topic string) Decision {
	if info.Superuser || b.opts.DisableACLCache {
		return b.authorize(ctx, info, AccessPublish, topic)
	}
	c := &s.acl
	gen := b.acl.gen.Load()
	now := time.Now().UnixNano()
	c.mu.Lock()
	if c.info == info && c.gen == gen {
		if e, ok := c.m[topic]; ok && now < e.exp {
			c.mu.Unlock()
			return e.d
		}
	}
	c.mu.Unlock()
	d, failed := b.authorizeFailed(ctx, info, AccessPublish, topic)
	if failed {
		return d
	}
	c.mu.Lock()
	if c.info != info || c.gen != gen || len(c.m) >= aclCacheMax {
		// A decision made under an older generation is stored under it,
		// so the next lookup, seeing the newer one, drops it.
		c.info, c.gen = info, gen
		clear(c.m)
	}
	if c.m == nil {
		c.m = make(map[string]aclCached)
	}
	c.m[topic] = aclCached{d, now + int64(aclCacheTTL)}
	c.mu.Unlock()
	return d
}

// ReloadACL reloads every ACL module that is a Reloader, as EMQ's
// emqttd_access_control:reload_acl/0 does, and then drops every
// connection's cached publish decisions. A module that fails keeps its
// previous rules; the errors are joined and returned, each naming its
// module.
func (b *Broker) ReloadACL(ctx context.Context) error {
	var errs []error
	for _, e := range b.acl.load() {
		r, ok := e.fn.(Reloader)
		if !ok {
			continue
		}
		if err := r.Reload(ctx); err != nil {
			name := moduleName(e.reg, e.fn)
			b.log.Warn("ACL reload failed; the previous rules stay", "module", name, "err", err)
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	b.acl.invalidate()
	return errors.Join(errs...)
}

// ClearACLCache drops every connection's cached publish ACL decisions, so
// the next publish on each topic asks the ACL chain again. Registering or
// removing an ACL module, and ReloadACL, do this too; call it after
// changing what a module answers by other means.
func (b *Broker) ClearACLCache() { b.acl.invalidate() }

func moduleName(reg registration, m any) string {
	if reg.name != "" {
		return reg.name
	}
	if d, ok := m.(Describer); ok {
		return d.Description()
	}
	return fmt.Sprintf("%T", m)
}
