// Package retainer stores MQTT retained messages and delivers them to new
// subscriptions: EMQ 2.0's emq_mod_retainer, built only on the broker's
// hooks and public API.
//
// An embedder creates a Retainer with New and attaches it to a broker:
//
//	r, err := retainer.New(retainer.DefaultConfig())
//	...
//	detach, err := r.Attach(b)
//	defer detach()
//
// A broker's plugin registry loads it by its EMQ name instead, configured
// by etc/plugins/emq_mod_retainer.conf (see Plugin):
//
//	b.Plugins().Register(retainer.Plugin)
//	err := b.Plugins().Load(ctx, "emq_mod_retainer")
//
// On message.publish, a message with the RETAIN flag replaces the retained
// message of its topic, and one with an empty payload deletes it; either
// way the message is routed as usual. A message whose payload is larger
// than MaxPayloadSize, or that would exceed MaxMessageNum, is not stored
// and a warning is logged. $SYS messages are retained too.
//
// On session.subscribed, every retained message matching the new
// subscription's filter is sent to the session with the RETAIN flag set and
// QoS min(message, subscription), following the MQTT 5 Retain Handling
// option (0: always, 1: only for a new subscription, 2: never). Shared
// subscriptions ($share/<group>/..., $queue/...) get no retained messages.
// The lookup walks only the branches of the topic tree that the filter
// allows, so a wildcard subscription does not scan every retained message.
//
// A retained message expires ExpiredAfter after it was published, or
// earlier when it carries an MQTT 5 Message Expiry Interval; an expired
// message is never delivered and a background sweep frees it. The interval
// sent with a retained message is lowered by the time it waited.
//
// With disc storage, messages are also kept in a bbolt file,
// <Dir>/retainer.db, loaded when the Retainer is attached and written in
// the background (changes are batched into one transaction; detach writes
// what is pending before closing the file), so they survive a restart.
package retainer
