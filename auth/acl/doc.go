// Package acl is the internal ACL of EMQ 2.x: the rules of etc/acl.conf
// (mqtt.acl_file), checked top-down with the first matching rule deciding.
//
// The file holds Erlang terms, each ended by a full stop, as EMQ read it
// with file:consult/1:
//
//	{allow, {user, "dashboard"}, subscribe, ["$SYS/#"]}.
//	{allow, {ipaddr, "127.0.0.1"}, pubsub, ["$SYS/#", "#"]}.
//	{deny, all, subscribe, ["$SYS/#", {eq, "#"}]}.
//	{allow, all}.
//
// A rule is {allow|deny, all}, which matches everything, or
// {allow|deny, Who, Access, Topics}:
//
//   - Who is all, {user, "name"}, {user, all}, {client, "id"},
//     {client, all}, {ipaddr, "127.0.0.1"} or a CIDR block
//     {ipaddr, "192.168.0.0/24"}, {'and', [Who, ...]} or
//     {'or', [Who, ...]}. A client without an address (in-process, or a
//     host session) matches no ipaddr.
//   - Access is subscribe, publish or pubsub.
//   - Topics is a list of topic filters, matched against the topic a
//     client publishes to or the filter it subscribes to, and {eq, "t"},
//     which matches the topic or filter t literally ({eq, "#"} is a
//     subscription to "#" itself). A level that is exactly %u or %c stands
//     for the client's user name or client id.
//
// % starts a comment. A mistake is an *Error naming the file, line and
// column; Reload (and "emqctl acl reload") keeps the previous rules when
// the file has one.
//
// An embedder registers the ACL directly:
//
//	a, err := acl.Load("etc/acl.conf")
//	...
//	b.RegisterACL(a, broker.Priority(-1000)) // after the ACL plugins, as in EMQ
//	b.RegisterCommand(acl.Command(b))
//
// DefaultFile is EMQ 2.0's etc/acl.conf. With it, only the user
// "dashboard" and clients on 127.0.0.1 may subscribe to $SYS/#, and a
// subscription to "#" is refused to everyone but 127.0.0.1.
//
// Differences from EMQ, all on the safe side: a %u or %c level never
// matches a client without a user name or client id (EMQ left the text
// "%u" in the filter), and a user name holding '+' or '#' is compared as
// text rather than acting as a wildcard; a shared subscription's filter
// ($share/<group>/..., $queue/...) is checked without its prefix, so
// "$share/g/$SYS/#" meets the $SYS rules; topic filters in rules are
// validated when the file is read; and a single topic may be written
// without the list brackets.
package acl
