package topic

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxLen is the largest topic name or filter, in bytes [MQTT-4.7.3-3]: MQTT
// strings carry a two-byte length prefix.
const MaxLen = 65535

// Prefixes of the shared-subscription forms understood by [ParseShared].
const (
	SharePrefix = "$share/" // MQTT 5.0 "$share/<group>/<filter>" [MQTT-4.8.2]
	QueuePrefix = "$queue/" // EMQ 2.0 "$queue/<filter>"
	// QueueGroup is the group name [ParseShared] reports for "$queue/<filter>".
	QueueGroup = "$queue"
)

// Sentinel errors wrapped by [ValidateName] and [ValidateFilter]; test with
// errors.Is.
var (
	ErrEmpty       = errors.New("topic: empty")
	ErrTooLong     = errors.New("topic: longer than 65535 bytes")
	ErrInvalidUTF8 = errors.New("topic: invalid UTF-8")
	ErrNUL         = errors.New("topic: contains U+0000")
	ErrWildcard    = errors.New("topic: wildcard in topic name")
	ErrBadWildcard = errors.New("topic: misplaced wildcard")
	ErrSharedGroup = errors.New("topic: invalid shared subscription group")
)

// checkString applies the rules common to names and filters: non-empty
// [MQTT-4.7.3-1], at most 65535 bytes [MQTT-4.7.3-3], well-formed UTF-8
// [MQTT-1.5.4-1] without U+0000 [MQTT-4.7.3-2, MQTT-1.5.4-2].
func checkString(what, s string) error {
	if s == "" {
		return fmt.Errorf("%w %s", ErrEmpty, what)
	}
	if len(s) > MaxLen {
		return fmt.Errorf("%w: %s of %d bytes", ErrTooLong, what, len(s))
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w in %s %q", ErrInvalidUTF8, what, s)
	}
	if i := strings.IndexByte(s, 0); i >= 0 {
		return fmt.Errorf("%w in %s at byte %d", ErrNUL, what, i)
	}
	return nil
}

// ValidateName checks a PUBLISH topic name: non-empty [MQTT-4.7.3-1], at most
// 65535 bytes [MQTT-4.7.3-3], valid UTF-8 [MQTT-1.5.4-1] without U+0000
// [MQTT-4.7.3-2], and no wildcard characters '+' or '#' [MQTT-3.3.2-2,
// MQTT-4.7.1-1]. The error wraps one of the package's sentinel errors.
func ValidateName(name string) error {
	if err := checkString("topic name", name); err != nil {
		return err
	}
	if i := strings.IndexAny(name, "+#"); i >= 0 {
		return fmt.Errorf("%w: %q at byte %d of %q", ErrWildcard, name[i], i, name)
	}
	return nil
}

// ValidateFilter checks a subscription topic filter: non-empty
// [MQTT-4.7.3-1], at most 65535 bytes [MQTT-4.7.3-3], valid UTF-8 without
// U+0000 [MQTT-1.5.4-1, MQTT-4.7.3-2], '#' only
// as the last level and on its own [MQTT-4.7.1-2], '+' occupying a whole
// level [MQTT-4.7.1-3].
//
// A filter beginning "$share/" is validated as a shared subscription: the
// share name must be at least one character [MQTT-4.8.2-1], contain no '/',
// '+' or '#', and be followed by '/' and a valid filter [MQTT-4.8.2-2]. A filter beginning "$queue/" is validated likewise with the
// inner filter after the prefix. Callers that route shared subscriptions
// strip the prefix with [ParseShared].
func ValidateFilter(filter string) error {
	if err := checkString("topic filter", filter); err != nil {
		return err
	}
	if rest, ok := strings.CutPrefix(filter, SharePrefix); ok {
		// The share name runs to the next '/', so it cannot contain one.
		group, inner, found := strings.Cut(rest, "/")
		if group == "" {
			return fmt.Errorf("%w: empty share name in %q", ErrSharedGroup, filter)
		}
		if i := strings.IndexAny(group, "+#"); i >= 0 {
			return fmt.Errorf("%w: %q in share name %q", ErrSharedGroup, group[i], group)
		}
		if !found || inner == "" {
			return fmt.Errorf("%w: no topic filter after share name in %q", ErrSharedGroup, filter)
		}
		return validFilterLevels(inner)
	}
	if inner, ok := strings.CutPrefix(filter, QueuePrefix); ok {
		if inner == "" {
			return fmt.Errorf("%w: no topic filter after %q", ErrEmpty, QueuePrefix)
		}
		return validFilterLevels(inner)
	}
	if filter == "$share" || filter == "$queue" {
		return fmt.Errorf("%w: no topic filter after %q", ErrSharedGroup, filter)
	}
	return validFilterLevels(filter)
}

// validFilterLevels checks wildcard placement in a filter already known to be
// non-empty, well-formed UTF-8.
func validFilterLevels(filter string) error {
	for i := 0; i < len(filter); i++ {
		switch filter[i] {
		case '#':
			// [MQTT-4.7.1-2] The multi-level wildcard must be specified
			// either on its own or following a topic level separator, and
			// it must be the last character of the filter.
			if (i > 0 && filter[i-1] != '/') || i != len(filter)-1 {
				return fmt.Errorf("%w: '#' must be the whole last level in %q", ErrBadWildcard, filter)
			}
		case '+':
			// [MQTT-4.7.1-3] The single-level wildcard must occupy an
			// entire level of the filter.
			if (i > 0 && filter[i-1] != '/') || (i < len(filter)-1 && filter[i+1] != '/') {
				return fmt.Errorf("%w: '+' must be a whole level in %q", ErrBadWildcard, filter)
			}
		}
	}
	return nil
}

// nextLevel splits s at its first '/': the level, the rest after the
// separator, and whether there was a separator.
func nextLevel(s string) (level, rest string, more bool) {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[:i], s[i+1:], true
	}
	return s, "", false
}

// Match reports whether the topic name matches the topic filter. The filter
// should be valid (see [ValidateFilter]) and is taken literally: shared forms
// must be stripped with [ParseShared] first. In an invalid filter a level that
// is not exactly '+' or a final '#' is compared as literal text, which is
// also how [Tree] stores it.
//
// '+' matches exactly one level, which may be empty; '#' matches the parent
// level and any number of child levels, so "a/#" matches "a" [MQTT-4.7.1-2].
// Empty levels are levels: "a//b" has three. A name beginning with '$' is not
// matched by a filter beginning with '+' or '#' [MQTT-4.7.2-1].
func Match(filter, name string) bool {
	if name != "" && name[0] == '$' && filter != "" && (filter[0] == '+' || filter[0] == '#') {
		return false
	}
	for {
		fl, frest, fmore := nextLevel(filter)
		if fl == "#" && !fmore {
			return true
		}
		nl, nrest, nmore := nextLevel(name)
		if fl != "+" && fl != nl {
			return false
		}
		switch {
		case !fmore:
			return !nmore
		case !nmore:
			// The name is exhausted; only a trailing "#" matches the parent.
			return frest == "#"
		}
		filter, name = frest, nrest
	}
}

// ParseShared splits a shared-subscription filter. "$share/<group>/<filter>"
// yields (group, filter, true) [MQTT-4.8.2]; "$queue/<filter>", EMQ 2.0's
// queue form in which every subscriber of a filter is in one group, yields
// ([QueueGroup], filter, true). Anything else, including a "$share/<group>"
// without a filter, yields ("", filter, false). ParseShared does not validate
// the group or the inner filter; [ValidateFilter] does.
func ParseShared(filter string) (group, inner string, ok bool) {
	if rest, found := strings.CutPrefix(filter, SharePrefix); found {
		if g, f, found := strings.Cut(rest, "/"); found {
			return g, f, true
		}
		return "", filter, false
	}
	if rest, found := strings.CutPrefix(filter, QueuePrefix); found {
		return QueueGroup, rest, true
	}
	return "", filter, false
}

// HasWildcard reports whether filter has a level that is exactly '+' or '#'.
func HasWildcard(filter string) bool {
	if !strings.ContainsAny(filter, "+#") {
		return false
	}
	for {
		l, rest, more := nextLevel(filter)
		if l == "+" || l == "#" {
			return true
		}
		if !more {
			return false
		}
		filter = rest
	}
}
