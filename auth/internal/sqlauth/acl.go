package sqlauth

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/auth/internal/backend"
	"github.com/emqgo/broker/topic"
)

// rule is one ACL row, compiled as EMQ's emq_acl_mysql:compile/1 does:
//
//	allow    0 deny, 1 allow
//	ipaddr   an address or CIDR block, or NULL
//	username a user name, '$all' (every client), or NULL
//	clientid a client id, or NULL
//	access   1 subscribe, 2 publish, 3 both
//	topic    a topic filter, with %u and %c levels, or "eq <topic>"
//
// username '$all' makes the row apply to everyone; otherwise every column
// of ipaddr, username and clientid that is not NULL or empty must match.
type rule struct {
	decision broker.Decision
	access   broker.Access // AccessSubscribe|AccessPublish, as EMQ's 1, 2, 3
	all      bool
	ip       netip.Prefix
	hasIP    bool
	user     string
	client   string
	eq       bool     // literal topic
	filter   string   // the filter, or the eq topic
	levels   []string // filter levels when it has %u or %c levels
}

// compileRows compiles the rows of an ACL query. The columns are taken
// by name (allow, ipaddr, username, clientid, access, topic) when the
// query names them all, otherwise by position, as EMQ does. A row that
// cannot be compiled (NULL allow, access out of range, no who at all, a
// bad address) is skipped: it matches nothing, and err describes it.
func compileRows(r *result) ([]rule, error) {
	idx := [6]int{0, 1, 2, 3, 4, 5}
	byName := true
	for i, name := range []string{"allow", "ipaddr", "username", "clientid", "access", "topic"} {
		if idx[i] = r.col(name); idx[i] < 0 {
			byName = false
		}
	}
	if !byName {
		idx = [6]int{0, 1, 2, 3, 4, 5}
		if len(r.cols) < 6 {
			return nil, fmt.Errorf("the ACL query returns %d columns, want allow, ipaddr, username, clientid, access, topic", len(r.cols))
		}
	}
	rules := make([]rule, 0, len(r.rows))
	var errs []error
	for n, row := range r.rows {
		ru, err := compileRow(row[idx[0]], row[idx[1]], row[idx[2]], row[idx[3]], row[idx[4]], row[idx[5]])
		if err != nil {
			if len(errs) < 3 {
				errs = append(errs, fmt.Errorf("row %d: %w", n+1, err))
			}
			continue
		}
		rules = append(rules, ru)
	}
	return rules, errors.Join(errs...)
}

func compileRow(allow, ipaddr, username, clientid, access, topicv any) (rule, error) {
	var ru rule
	switch a, ok := intValue(allow); {
	case ok && a == 1:
		ru.decision = broker.Allow
	case ok && a == 0:
		ru.decision = broker.Deny
	default:
		return ru, fmt.Errorf("allow is %v, want 0 or 1", show(allow))
	}
	switch a, ok := intValue(access); {
	case ok && a >= 1 && a <= 3:
		ru.access = broker.Access(a)
	default:
		return ru, fmt.Errorf("access is %v, want 1, 2 or 3", show(access))
	}
	ip, user, client := text(ipaddr), text(username), text(clientid)
	switch {
	case user == "$all":
		ru.all = true
	case ip == "" && user == "" && client == "":
		return ru, errors.New("ipaddr, username and clientid are all empty (use username '$all' for everyone)")
	default:
		if ip != "" {
			p, err := backend.ParseCIDR(ip)
			if err != nil {
				return ru, fmt.Errorf("ipaddr %q: %w", ip, err)
			}
			ru.ip, ru.hasIP = p, true
		}
		ru.user, ru.client = user, client
	}
	t := text(topicv)
	if rest, ok := strings.CutPrefix(t, "eq "); ok {
		ru.eq, ru.filter = true, rest
		return ru, nil
	}
	ru.filter = t
	ru.levels = backend.PatternLevels(t)
	return ru, nil
}

// match reports whether the rule's who and topic match c and name.
func (ru *rule) match(c *broker.ClientInfo, name string) bool {
	if !ru.all {
		if ru.hasIP && (!c.Peer.IsValid() || !ru.ip.Contains(c.Peer.Addr().Unmap())) {
			return false
		}
		if ru.user != "" && c.Username != ru.user {
			return false
		}
		if ru.client != "" && c.ClientID != ru.client {
			return false
		}
	}
	switch {
	case ru.eq:
		return name == ru.filter
	case ru.levels != nil:
		return backend.MatchPattern(ru.levels, c, name)
	}
	return topic.Match(ru.filter, name)
}

// intValue reads an integer column value: an integer, or text holding one
// (as EMQ accepted <<"1">>).
func intValue(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int32:
		return int64(x), true
	case uint64:
		if x > math.MaxInt64 {
			return 0, false
		}
		return int64(x), true
	case string:
		n, err := strconv.ParseInt(x, 10, 64)
		return n, err == nil
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

// text reads a text column value; NULL is "".
func text(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

func show(v any) any {
	if v == nil {
		return "NULL"
	}
	return v
}
