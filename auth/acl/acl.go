package acl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/topic"
)

// DefaultFile is EMQ 2.0's etc/acl.conf: the dashboard user and clients on
// localhost may subscribe to $SYS/#, localhost may also publish anywhere,
// everyone else is refused $SYS/# and a bare # subscription, and the rest
// is allowed.
const DefaultFile = `%%--------------------------------------------------------------------
%%
%% [ACL](https://github.com/emqtt/emqttd/wiki/ACL)
%%
%% -type who() :: all | binary() |
%%                {ipaddr, esockd_access:cidr()} |
%%                {client, binary()} |
%%                {user, binary()}.
%%
%% -type access() :: subscribe | publish | pubsub.
%%
%% -type topic() :: binary().
%%
%% -type rule() :: {allow, all} |
%%                 {allow, who(), access(), list(topic())} |
%%                 {deny, all} |
%%                 {deny, who(), access(), list(topic())}.
%%
%%--------------------------------------------------------------------

{allow, {user, "dashboard"}, subscribe, ["$SYS/#"]}.

{allow, {ipaddr, "127.0.0.1"}, pubsub, ["$SYS/#", "#"]}.

{deny, all, subscribe, ["$SYS/#", {eq, "#"}]}.

{allow, all}.


`

// Parse reads rules in the acl.conf format from r; name is the file name
// used in errors. A syntax error stops the parse; mistakes in well-formed
// terms are all reported, joined with errors.Join. Each error is an *Error
// naming the file, line and column.
func Parse(r io.Reader, name string) ([]Rule, error) {
	src, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("auth/acl: %s: %w", name, err)
	}
	return ParseString(string(src), name)
}

// ParseString is Parse for rules held in a string.
func ParseString(src, name string) ([]Rule, error) {
	terms, perr := parseTerms(src)
	if perr != nil {
		perr.File = name
		return nil, perr
	}
	cp := compiler{file: name}
	rules := make([]Rule, 0, len(terms))
	for _, t := range terms {
		if r, ok := cp.rule(t); ok {
			rules = append(rules, r)
		}
	}
	if len(cp.errs) > 0 {
		return nil, errors.Join(cp.errs...)
	}
	return rules, nil
}

// MustParse is ParseString for rules known to be valid, such as
// DefaultFile; it panics on error.
func MustParse(src, name string) []Rule {
	rules, err := ParseString(src, name)
	if err != nil {
		panic(err)
	}
	return rules
}

// ACL is the internal ACL module, EMQ's emqttd_acl_internal: an ordered
// list of rules, checked top-down for the access asked about; the first
// rule that matches decides. When no rule matches it answers broker.Ignore,
// leaving the decision to the next module or to the broker's
// Options.DenyACLNoMatch (EMQ 2.3's acl_nomatch; EMQ 2.0's default file
// ends with {allow, all} and so never gets there).
//
// Topic filters in rules are matched as EMQ does: a published topic name,
// or a subscription's filter taken literally (so the rule "a/+" matches a
// subscription to "a/#", but the rule "a/b" does not match a subscription
// to "a/+"). A shared subscription's filter ($share/<group>/..., $queue/...)
// is checked without its prefix.
//
// An ACL is safe for concurrent use; Reload swaps its rules atomically.
type ACL struct {
	file  string
	mu    sync.Mutex // serializes Reload
	rules atomic.Pointer[ruleSet]
}

// ruleSet is an immutable set of rules, split by access as EMQ does.
type ruleSet struct {
	all       []Rule
	publish   []*Rule
	subscribe []*Rule
}

func newRuleSet(rules []Rule) *ruleSet {
	rs := &ruleSet{all: rules}
	for i := range rs.all {
		r := &rs.all[i]
		if r.Access&Publish != 0 {
			rs.publish = append(rs.publish, r)
		}
		if r.Access&Subscribe != 0 {
			rs.subscribe = append(rs.subscribe, r)
		}
	}
	return rs
}

var (
	_ broker.Authorizer = (*ACL)(nil)
	_ broker.Reloader   = (*ACL)(nil)
	_ broker.Describer  = (*ACL)(nil)
)

// New returns an ACL with fixed rules; its Reload does nothing.
func New(rules []Rule) *ACL {
	a := &ACL{}
	a.rules.Store(newRuleSet(rules))
	return a
}

// Load reads the ACL file at path (EMQ: mqtt.acl_file). Reload reads it
// again.
func Load(path string) (*ACL, error) {
	rules, err := readFile(path)
	if err != nil {
		return nil, err
	}
	a := &ACL{file: path}
	a.rules.Store(newRuleSet(rules))
	return a, nil
}

func readFile(path string) ([]Rule, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth/acl: %w", err)
	}
	return ParseString(string(src), path)
}

// File returns the path the ACL was loaded from, "" for New.
func (a *ACL) File() string { return a.file }

// Rules returns the current rules, in order.
func (a *ACL) Rules() []Rule {
	return append([]Rule(nil), a.rules.Load().all...)
}

// Reload reads the ACL's file again and swaps in its rules. If the file
// cannot be read or has a mistake, the error names file and line and the
// previous rules stay in force. An ACL made with New has nothing to
// reload.
//
// Clients' cached publish decisions are dropped when the reload goes
// through Broker.ReloadACL (which the "acl reload" command uses).
func (a *ACL) Reload(ctx context.Context) error {
	if a.file == "" {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	rules, err := readFile(a.file)
	if err != nil {
		return err
	}
	a.rules.Store(newRuleSet(rules))
	return nil
}

// Description returns EMQ's description of the internal ACL.
func (a *ACL) Description() string { return "Internal ACL with etc/acl.conf" }

// Authorize answers for c doing access on name: the permission of the
// first rule that matches, or broker.Ignore.
func (a *ACL) Authorize(_ context.Context, c *broker.ClientInfo, access broker.Access, name string) (broker.Decision, error) {
	d, _ := a.Check(c, access, name)
	return d, nil
}

// Check is Authorize that also returns the deciding rule, nil when no rule
// matched.
func (a *ACL) Check(c *broker.ClientInfo, access broker.Access, name string) (broker.Decision, *Rule) {
	rs := a.rules.Load()
	var list []*Rule
	switch access {
	case broker.AccessPublish:
		list = rs.publish
	case broker.AccessSubscribe:
		list = rs.subscribe
		if _, inner, ok := topic.ParseShared(name); ok {
			name = inner
		}
	default:
		return broker.Ignore, nil
	}
	for _, r := range list {
		if r.match(c, name) {
			return r.Permission, r
		}
	}
	return broker.Ignore, nil
}

// Command returns EMQ 2.3's "acl reload" command for b. It runs
// b.ReloadACL, which reloads every ACL module that can reload (an ACL made
// with Load re-reads its file) and drops the clients' cached ACL
// decisions. Like EMQ's, it prints nothing on success; a file with a
// mistake is reported with its file and line, and its previous rules stay.
func Command(b *broker.Broker) broker.Command {
	return broker.Command{
		Name:  "acl",
		Usage: "acl reload # reload etc/acl.conf",
		Short: "Reload the ACL rules",
		Run: func(ctx context.Context, w io.Writer, args []string) error {
			if len(args) != 1 || args[0] != "reload" {
				return broker.ErrUsage
			}
			return b.ReloadACL(ctx)
		},
	}
}

// String returns the rules as acl.conf text, one per line.
func (a *ACL) String() string {
	var b strings.Builder
	for _, r := range a.rules.Load().all {
		b.WriteString(r.text)
		b.WriteString(".\n")
	}
	return b.String()
}
