package acl

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/auth/internal/backend"
	"github.com/emqgo/broker/topic"
)

// Error is a mistake in an ACL file, with its position.
type Error struct {
	// File is the file name given to Parse (the path for Load).
	File string
	// Line and Col are 1-based; Col counts characters.
	Line, Col int
	// Msg says what is wrong.
	Msg string
}

// Error returns "file:line:col: message".
func (e *Error) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
}

// Access is what a rule applies to.
type Access uint8

const (
	// Subscribe rules apply to subscriptions.
	Subscribe Access = 1 << iota
	// Publish rules apply to publishes.
	Publish
	// PubSub rules apply to both.
	PubSub = Subscribe | Publish
)

// String returns subscribe, publish or pubsub.
func (a Access) String() string {
	switch a {
	case Subscribe:
		return "subscribe"
	case Publish:
		return "publish"
	case PubSub:
		return "pubsub"
	}
	return "Access(" + strconv.Itoa(int(a)) + ")"
}

func (a Access) covers(b broker.Access) bool {
	switch b {
	case broker.AccessSubscribe:
		return a&Subscribe != 0
	case broker.AccessPublish:
		return a&Publish != 0
	}
	return false
}

// Rule is one compiled rule of an ACL file.
type Rule struct {
	// Permission is broker.Allow or broker.Deny.
	Permission broker.Decision
	// Access says what the rule applies to.
	Access Access
	// File and Line locate the rule in its file.
	File string
	Line int

	all    bool // {allow, all} / {deny, all}: matches everything
	who    who
	topics []topicRule
	text   string
}

// String returns the rule as an Erlang term, the way it would be written
// in the file (without the final full stop).
func (r *Rule) String() string { return r.text }

// match reports whether r decides for c doing access on name.
func (r *Rule) match(c *broker.ClientInfo, name string) bool {
	if r.all {
		return true
	}
	if !r.who.match(c) {
		return false
	}
	for i := range r.topics {
		if r.topics[i].match(c, name) {
			return true
		}
	}
	return false
}

// ---- who --------------------------------------------------------------------

type whoKind uint8

const (
	whoAll whoKind = iota
	whoUser
	whoClient
	whoIP
	whoAnd
	whoOr
)

// who is the subject part of a rule.
type who struct {
	kind   whoKind
	name   string // user or client; "" with whoUser/whoClient means any
	any    bool   // {user, all} / {client, all}
	prefix netip.Prefix
	subs   []who
}

func (w *who) match(c *broker.ClientInfo) bool {
	switch w.kind {
	case whoAll:
		return true
	case whoUser:
		return w.any || (c.Username != "" && c.Username == w.name)
	case whoClient:
		return w.any || (c.ClientID != "" && c.ClientID == w.name)
	case whoIP:
		if !c.Peer.IsValid() {
			return false
		}
		return w.prefix.Contains(c.Peer.Addr().Unmap())
	case whoAnd:
		for i := range w.subs {
			if !w.subs[i].match(c) {
				return false
			}
		}
		return true
	case whoOr:
		for i := range w.subs {
			if w.subs[i].match(c) {
				return true
			}
		}
		return false
	}
	return false
}

// ---- topics -----------------------------------------------------------------

type topicKind uint8

const (
	topicFilter  topicKind = iota // a filter the topic is matched against
	topicEq                       // {eq, T}: the topic must be T exactly
	topicPattern                  // a filter with %u or %c levels
)

type topicRule struct {
	kind   topicKind
	filter string
	levels []string // topicPattern: the filter's levels
}

func (t *topicRule) match(c *broker.ClientInfo, name string) bool {
	switch t.kind {
	case topicEq:
		return name == t.filter
	case topicFilter:
		return topic.Match(t.filter, name)
	}
	return backend.MatchPattern(t.levels, c, name)
}

// ---- compiling terms into rules ---------------------------------------------

type compiler struct {
	file string
	errs []error
}

func (cp *compiler) errorf(p pos, format string, args ...any) {
	cp.errs = append(cp.errs, &Error{File: cp.file, Line: p.line, Col: p.col, Msg: fmt.Sprintf(format, args...)})
}

// rule compiles one term, as emqttd_access_rule:compile/1 does.
func (cp *compiler) rule(t term) (Rule, bool) {
	r := Rule{File: cp.file, Line: t.pos.line}
	if t.kind != kTuple || (len(t.elems) != 2 && len(t.elems) != 4) {
		cp.errorf(t.pos, "a rule is {allow|deny, all} or {allow|deny, Who, Access, Topics}, got %s", t.describe())
		return r, false
	}
	switch a := t.elems[0]; {
	case a.isAtom("allow"):
		r.Permission = broker.Allow
	case a.isAtom("deny"):
		r.Permission = broker.Deny
	default:
		cp.errorf(a.pos, "a rule starts with allow or deny, got %s", a.describe())
		return r, false
	}
	if len(t.elems) == 2 {
		if !t.elems[1].isAtom("all") {
			cp.errorf(t.elems[1].pos, "a two-element rule is {%s, all}, got %s", r.Permission, t.elems[1].describe())
			return r, false
		}
		r.all, r.Access = true, PubSub
		r.text = fmt.Sprintf("{%s, all}", r.Permission)
		return r, true
	}
	n := len(cp.errs)
	w, wtext := cp.who(t.elems[1])
	r.who = w
	switch a := t.elems[2]; {
	case a.isAtom("subscribe"):
		r.Access = Subscribe
	case a.isAtom("publish"):
		r.Access = Publish
	case a.isAtom("pubsub"):
		r.Access = PubSub
	default:
		cp.errorf(a.pos, "access is subscribe, publish or pubsub, got %s", a.describe())
	}
	tt := t.elems[3]
	var list []term
	switch tt.kind {
	case kList:
		list = tt.elems
	case kString, kTuple:
		list = []term{tt} // one topic, as EMQ accepts a binary
	default:
		cp.errorf(tt.pos, "topics are a list such as [\"a/#\", {eq, \"#\"}], got %s", tt.describe())
	}
	texts := make([]string, 0, len(list))
	for _, e := range list {
		tr, text, ok := cp.topic(e)
		if ok {
			r.topics = append(r.topics, tr)
			texts = append(texts, text)
		}
	}
	r.text = fmt.Sprintf("{%s, %s, %s, [%s]}", r.Permission, wtext, r.Access, strings.Join(texts, ", "))
	return r, len(cp.errs) == n
}

func (cp *compiler) who(t term) (who, string) {
	switch {
	case t.isAtom("all"):
		return who{kind: whoAll}, "all"
	case t.kind != kTuple || len(t.elems) != 2:
		cp.errorf(t.pos, "Who is all, {user, U}, {client, C}, {ipaddr, CIDR}, {'and', [...]} or {'or', [...]}, got %s", t.describe())
		return who{}, "?"
	}
	tag, arg := t.elems[0], t.elems[1]
	switch {
	case tag.isAtom("user"), tag.isAtom("client"):
		w := who{kind: whoUser}
		if tag.s == "client" {
			w.kind = whoClient
		}
		switch {
		case arg.isAtom("all"):
			w.any = true
			return w, fmt.Sprintf("{%s, all}", tag.s)
		case arg.kind == kString && arg.s != "":
			w.name = arg.s
			return w, fmt.Sprintf("{%s, %s}", tag.s, strconv.Quote(arg.s))
		}
		cp.errorf(arg.pos, "{%s, ...} takes a non-empty string or all, got %s", tag.s, arg.describe())
	case tag.isAtom("ipaddr"):
		if arg.kind != kString {
			cp.errorf(arg.pos, "{ipaddr, ...} takes a string such as \"127.0.0.1\" or \"192.168.0.0/24\", got %s", arg.describe())
			break
		}
		p, err := backend.ParseCIDR(arg.s)
		if err != nil {
			cp.errorf(arg.pos, "{ipaddr, %q}: %v", arg.s, err)
			break
		}
		return who{kind: whoIP, prefix: p}, fmt.Sprintf("{ipaddr, %s}", strconv.Quote(arg.s))
	case tag.isAtom("and"), tag.isAtom("or"):
		w := who{kind: whoAnd}
		if tag.s == "or" {
			w.kind = whoOr
		}
		if arg.kind != kList || len(arg.elems) == 0 {
			cp.errorf(arg.pos, "{'%s', ...} takes a non-empty list of Who, got %s", tag.s, arg.describe())
			break
		}
		texts := make([]string, len(arg.elems))
		for i, e := range arg.elems {
			var sub who
			sub, texts[i] = cp.who(e)
			w.subs = append(w.subs, sub)
		}
		return w, fmt.Sprintf("{'%s', [%s]}", tag.s, strings.Join(texts, ", "))
	default:
		cp.errorf(tag.pos, "Who is all, {user, U}, {client, C}, {ipaddr, CIDR}, {'and', [...]} or {'or', [...]}, got a tuple starting with %s", tag.describe())
	}
	return who{}, "?"
}

func (cp *compiler) topic(t term) (topicRule, string, bool) {
	eq := false
	s := t
	if t.kind == kTuple {
		if len(t.elems) != 2 || !t.elems[0].isAtom("eq") {
			cp.errorf(t.pos, "a topic is a string or {eq, \"topic\"}, got %s", t.describe())
			return topicRule{}, "", false
		}
		eq, s = true, t.elems[1]
	}
	if s.kind != kString {
		cp.errorf(s.pos, "a topic is a string or {eq, \"topic\"}, got %s", s.describe())
		return topicRule{}, "", false
	}
	if err := topic.ValidateFilter(s.s); err != nil {
		cp.errorf(s.pos, "topic %q: %v", s.s, err)
		return topicRule{}, "", false
	}
	if eq {
		return topicRule{kind: topicEq, filter: s.s}, fmt.Sprintf("{eq, %s}", strconv.Quote(s.s)), true
	}
	tr := topicRule{kind: topicFilter, filter: s.s}
	if levels := backend.PatternLevels(s.s); levels != nil {
		tr.kind, tr.levels = topicPattern, levels
	}
	return tr, strconv.Quote(s.s), true
}
