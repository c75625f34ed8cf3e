// Package backend holds what the server-backed auth plugins share: the
// answers a module gives when its server fails or has no rule (Redis,
// MongoDB, LDAP), a failure log that writes once per burst and a small TTL
// cache of query results (those and the SQL plugins, through sqlauth; the
// log also for HTTP), the ACL topic matching with %u and %c (MatchFilter
// for Redis and MongoDB; MatchPattern, whole %u/%c levels, for the SQL
// plugins and auth/acl), and the plugin state from Configure to Unload.
package backend

import (
	"fmt"
	"strings"

	"github.com/emqgo/broker"
)

// Answer is what a module answers in a situation its server does not
// decide: the server failed, or no rule matched. The zero value is Deny.
type Answer uint8

const (
	// Deny refuses.
	Deny Answer = iota
	// Ignore leaves the decision to the next module.
	Ignore
	// Allow accepts.
	Allow
)

// String returns deny, ignore or allow.
func (a Answer) String() string {
	switch a {
	case Deny:
		return "deny"
	case Ignore:
		return "ignore"
	case Allow:
		return "allow"
	}
	return fmt.Sprintf("Answer(%d)", uint8(a))
}

// Decision returns the broker.Decision of a.
func (a Answer) Decision() broker.Decision {
	switch a {
	case Ignore:
		return broker.Ignore
	case Allow:
		return broker.Allow
	}
	return broker.Deny
}

// ParseAnswer reads "deny", "ignore" or "allow" (in any case); allowed
// restricts the answers accepted, none meaning all three.
func ParseAnswer(s string, allowed ...Answer) (Answer, error) {
	if len(allowed) == 0 {
		allowed = []Answer{Deny, Ignore, Allow}
	}
	want := make([]string, len(allowed))
	for i, a := range allowed {
		want[i] = a.String()
		if strings.EqualFold(strings.TrimSpace(s), a.String()) {
			return a, nil
		}
	}
	return 0, fmt.Errorf("invalid value %q: want %s", s, strings.Join(want, " or "))
}

// Check reports an error when a is not among allowed.
func (a Answer) Check(what string, allowed ...Answer) error {
	for _, b := range allowed {
		if a == b {
			return nil
		}
	}
	want := make([]string, len(allowed))
	for i, b := range allowed {
		want[i] = b.String()
	}
	return fmt.Errorf("%s %v: want %s", what, a, strings.Join(want, " or "))
}
