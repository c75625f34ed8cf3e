package backend

import (
	"errors"
	"net/netip"
	"strings"

	"github.com/emqgo/broker"
)

// PatternLevels returns the levels of filter when a whole level is %u or
// %c, for MatchPattern; nil means filter is an ordinary topic filter.
func PatternLevels(filter string) []string {
	levels := strings.Split(filter, "/")
	for _, l := range levels {
		if l == "%u" || l == "%c" {
			return levels
		}
	}
	return nil
}

// MatchPattern matches name against a filter whose levels may be %u or
// %c, each standing for the whole user name or client id. Those levels
// must equal the client's user name or client id exactly: the value is
// compared as text, so a user name holding '+', '#' or '/' never acts as
// a wildcard or as several levels. A client without a user name (or
// client id) matches no %u (or %c) level.
func MatchPattern(levels []string, c *broker.ClientInfo, name string) bool {
	if name != "" && name[0] == '$' && (levels[0] == "+" || levels[0] == "#") {
		return false
	}
	for i, fl := range levels {
		if fl == "#" && i == len(levels)-1 {
			return true
		}
		nl, rest, more := strings.Cut(name, "/")
		switch fl {
		case "+":
		case "%u":
			if c.Username == "" || nl != c.Username {
				return false
			}
		case "%c":
			if c.ClientID == "" || nl != c.ClientID {
				return false
			}
		default:
			if fl != nl {
				return false
			}
		}
		switch last := i == len(levels)-1; {
		case last:
			return !more
		case !more:
			// The name is exhausted; only a trailing "#" matches the parent.
			return i+2 == len(levels) && levels[i+1] == "#"
		}
		name = rest
	}
	return false
}

// ParseCIDR parses an ACL's address: a CIDR block, or one address (IPv4
// mapped addresses unmapped) as a block of its own.
func ParseCIDR(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, errors.New("not an address or CIDR block")
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, errors.New("not an address or CIDR block")
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
