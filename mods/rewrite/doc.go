// Package rewrite rewrites topics of publishes, subscriptions and
// unsubscriptions by rules: EMQ's emq_mod_rewrite, built only on the
// broker's hooks.
//
// A Rule is a topic filter, a regular expression and a destination:
//
//	x/#  ^x/y/(.+)$  z/y/$1
//
// A topic is rewritten by the first rule, in order, whose filter matches it:
// when the rule's regular expression matches the topic, the topic becomes
// the destination with $1 ... $n replaced by the expression's groups;
// otherwise the topic stays as it is. Later rules are not tried once a
// filter has matched (EMQ's behaviour). With the rule above, "x/y/1"
// becomes "z/y/1", and "x/a" stays "x/a".
//
// Rules apply on message.publish to every message (client publishes,
// wills, host and $SYS publishes), on client.subscribe to each filter
// after the ACL has accepted it, and on client.unsubscribe to each filter,
// so a client unsubscribes from what it subscribed to. A subscription
// filter is matched against the rule's filter as if it were a topic name,
// '+' and '#' being taken literally, as EMQ did; the prefix of a shared
// subscription ($share/<group>/ or $queue/) is kept and the rest
// rewritten. A rewritten publish topic that is not a valid topic name, or
// a rewritten filter that is not a valid filter, is left unchanged, with a
// warning.
//
// The regular expressions are Go's (RE2 syntax): EMQ used PCRE, so
// backreferences and lookaround are not available. The digits after a '$'
// are read as long as they name a group ("$12" is group 12 when there are
// 12 groups, else group 1 followed by "2", as in EMQ); a '$' that names no
// group stays literal, and a group that did not take part in the match is
// replaced by nothing.
//
// An embedder creates a Rewriter with New and attaches it:
//
//	r, err := rewrite.New(rewrite.Config{Rules: []rewrite.Rule{{Filter: "x/#", Regex: `^x/y/(.+)$`, Dest: "z/y/$1"}}})
//	detach := r.Attach(b)
//
// emqd loads it as the plugin emq_mod_rewrite (see Plugin), configured by
// module.rewrite.rule.<n> keys in EMQ 2.3's form, "<filter> <regex>
// <dest>", or in EMQ 2.0's Erlang term form,
// {rewrite, "x/#", "^x/y/(.+)$", "z/y/$1"}.
package rewrite
