package rewrite

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/topic"
)

// Priority is the priority of the rewriter's hooks: above the default 0,
// so that other hooks, the retainer among them, see rewritten topics.
const Priority = 100

// Rule is one rewrite rule.
type Rule struct {
	// Filter is the topic filter a topic must match for the rule to apply.
	Filter string
	// Regex is the regular expression (RE2 syntax) matched against the
	// topic.
	Regex string
	// Dest is the new topic, in which $1 ... $n stand for Regex's groups.
	Dest string
}

// String returns r in EMQ 2.3's configuration form, "<filter> <regex>
// <dest>".
func (r Rule) String() string { return r.Filter + " " + r.Regex + " " + r.Dest }

// Config configures a Rewriter.
type Config struct {
	// Rules are tried in order; the first whose filter matches applies.
	Rules []Rule
}

// Validate reports every problem with c, joined with errors.Join.
func (c Config) Validate() error {
	var errs []error
	for i, r := range c.Rules {
		if _, err := compile(r); err != nil {
			errs = append(errs, fmt.Errorf("rewrite: rule %d: %w", i+1, err))
		}
	}
	return errors.Join(errs...)
}

// rule is a compiled Rule.
type rule struct {
	Rule
	re *regexp.Regexp
}

func compile(r Rule) (rule, error) {
	var errs []error
	if err := topic.ValidateFilter(r.Filter); err != nil {
		errs = append(errs, fmt.Errorf("filter %q: %w", r.Filter, err))
	}
	re, err := regexp.Compile(r.Regex)
	if err != nil {
		errs = append(errs, fmt.Errorf("regex %q: %w", r.Regex, err))
	}
	if r.Dest == "" {
		errs = append(errs, errors.New("empty destination"))
	}
	return rule{Rule: r, re: re}, errors.Join(errs...)
}

// Rewriter rewrites topics by its rules. Create one with New; it is safe
// for concurrent use and may be attached to several brokers.
type Rewriter struct {
	rules []rule
}

// New returns a Rewriter with cfg's rules, or cfg's problems.
func New(cfg Config) (*Rewriter, error) {
	r := &Rewriter{}
	var errs []error
	for i, x := range cfg.Rules {
		c, err := compile(x)
		if err != nil {
			errs = append(errs, fmt.Errorf("rewrite: rule %d: %w", i+1, err))
			continue
		}
		r.rules = append(r.rules, c)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return r, nil
}

// Rules returns r's rules.
func (r *Rewriter) Rules() []Rule {
	out := make([]Rule, len(r.rules))
	for i, x := range r.rules {
		out[i] = x.Rule
	}
	return out
}

// Rewrite returns topic rewritten by the first rule whose filter matches
// it, or topic itself. It does not check that the result is a valid
// topic name.
func (r *Rewriter) Rewrite(name string) string {
	for i := range r.rules {
		x := &r.rules[i]
		if !topic.Match(x.Filter, name) {
			continue
		}
		m := x.re.FindStringSubmatchIndex(name)
		if m == nil {
			return name
		}
		return expand(x.Dest, name, m)
	}
	return name
}

// RewriteFilter is Rewrite for a subscription's topic filter: the prefix of
// a shared subscription ($share/<group>/, $queue/) is kept and the rest is
// rewritten.
func (r *Rewriter) RewriteFilter(filter string) string {
	if _, inner, ok := topic.ParseShared(filter); ok {
		prefix := filter[:len(filter)-len(inner)]
		return prefix + r.Rewrite(inner)
	}
	return r.Rewrite(filter)
}

// expand returns dest with $1 ... $n replaced by the groups of the match m
// of s. The digits after a '$' are read as long as they name a group, so
// with fewer than 12 groups "$12" is group 1 followed by "2"; a '$' that
// names no group stays literal.
func expand(dest, s string, m []int) string {
	if !strings.Contains(dest, "$") {
		return dest
	}
	groups := len(m)/2 - 1
	var b strings.Builder
	for i := 0; i < len(dest); i++ {
		c := dest[i]
		if c != '$' {
			b.WriteByte(c)
			continue
		}
		n, j := 0, i+1
		for j < len(dest) && '0' <= dest[j] && dest[j] <= '9' && n*10+int(dest[j]-'0') <= groups {
			n = n*10 + int(dest[j]-'0')
			j++
		}
		if n < 1 {
			b.WriteByte(c)
			continue
		}
		if m[2*n] >= 0 {
			b.WriteString(s[m[2*n]:m[2*n+1]])
		}
		i = j - 1
	}
	return b.String()
}

// Attach registers r's hooks on b: topics are rewritten from then on.
// detach removes them; it is safe to call more than once.
func (r *Rewriter) Attach(b *broker.Broker) (detach func()) {
	un := r.register(b, b.Logger())
	return func() {
		for _, u := range un {
			u()
		}
	}
}

// register adds r's hooks to reg (a broker, or a plugin's host, which
// removes them on unload).
func (r *Rewriter) register(reg broker.Registrar, log *slog.Logger) []broker.Unhook {
	log = log.With("module", "rewrite")
	opts := []broker.RegisterOption{broker.Priority(Priority), broker.Named("rewrite")}
	return []broker.Unhook{
		broker.On(reg, broker.MessagePublishHook, func(_ context.Context, m broker.Message) (broker.Message, broker.Flow) {
			t := r.Rewrite(m.Topic)
			if t == m.Topic {
				return m, broker.Continue
			}
			if err := topic.ValidateName(t); err != nil {
				log.Warn("rewritten topic is not a valid topic name; not rewritten", "topic", m.Topic, "rewritten", t, "err", err)
				return m, broker.Continue
			}
			m.Topic = t
			return m, broker.Continue
		}, opts...),
		broker.On(reg, broker.ClientSubscribeHook, func(_ context.Context, c *broker.ClientInfo, subs []broker.Subscription) ([]broker.Subscription, broker.Flow) {
			var out []broker.Subscription
			for i, s := range subs {
				if s.QoS == broker.SubscribeRefused {
					continue
				}
				f := r.filter(log, c, s.Filter)
				if f == s.Filter {
					continue
				}
				if out == nil {
					out = append([]broker.Subscription(nil), subs...)
				}
				out[i].Filter = f
			}
			if out == nil {
				return subs, broker.Continue
			}
			return out, broker.Continue
		}, opts...),
		broker.On(reg, broker.ClientUnsubscribeHook, func(_ context.Context, c *broker.ClientInfo, filters []string) ([]string, broker.Flow) {
			var out []string
			for i, f := range filters {
				g := r.filter(log, c, f)
				if g == f {
					continue
				}
				if out == nil {
					out = append([]string(nil), filters...)
				}
				out[i] = g
			}
			if out == nil {
				return filters, broker.Continue
			}
			return out, broker.Continue
		}, opts...),
	}
}

// filter rewrites the filter f of client c, keeping f when the result is
// not a valid filter.
func (r *Rewriter) filter(log *slog.Logger, c *broker.ClientInfo, f string) string {
	g := r.RewriteFilter(f)
	if g == f {
		return f
	}
	if err := topic.ValidateFilter(g); err != nil {
		log.Warn("rewritten filter is not a valid topic filter; not rewritten", "client", c.ClientID, "filter", f, "rewritten", g, "err", err)
		return f
	}
	return g
}
