// Package presence publishes a $SYS message when a client connects and
// when it disconnects: EMQ 2.0's emq_mod_presence, built only on the
// broker's hooks and public API.
//
// On client.connected, which runs for every CONNECT including refused ones,
// it publishes to
//
//	$SYS/brokers/<node>/clients/<clientid>/connected
//
// the JSON object, with its fields in this order,
//
//	{"clientid":"c1","username":"u1","ipaddress":"127.0.0.1","session":false,"protocol":4,"connack":0,"ts":1479551318}
//
// where username is "undefined" for a client without one (Erlang's word),
// ipaddress is "undefined" for a client without a network address
// (in-process and gateway clients), session is the opposite of the Clean
// Session flag (EMQ 2.0's quirk, kept: true means a persistent session),
// protocol is the MQTT protocol level (3, 4 or 5), connack is the CONNACK
// code in its MQTT 3.1.1 numbering (0 accepted, 4 bad user name or
// password, 5 not authorized, ...; see packets.V3ConnackCode) whatever the
// client's protocol, and ts is the time in unix seconds.
//
// On client.disconnected, which runs when an accepted connection ends, it
// publishes to
//
//	$SYS/brokers/<node>/clients/<clientid>/disconnected
//
// the JSON object {"clientid":"c1","reason":"normal","ts":1479551320}, where
// reason is an Erlang-atom-like word (see Reason): "normal" after a
// DISCONNECT, "keepalive_timeout", "closed" when the peer went away,
// "takenover" when another connection took the session over, "kicked",
// and so on.
//
// Messages are published with QoS Config.QoS, not retained. A client id
// that cannot be part of a topic name (one with '+' or '#') gets no
// message. An embedder creates a Presence with New and attaches it:
//
//	p, err := presence.New(presence.Config{QoS: 1})
//	detach := p.Attach(b)
//
// emqd loads it as the plugin emq_mod_presence (see Plugin).
package presence
