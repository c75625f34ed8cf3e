// Package broker is an embeddable MQTT broker: MQTT 3.1, 3.1.1 and 5.0
// over TCP, TLS, WebSocket (package ws) and in-memory connections, with
// EMQ 2.0's sessions, hooks, access control chains and $SYS topics.
//
// # Embedding
//
// A Go service creates a broker with New, wires in what it wants, and
// serves:
//
//	b, err := broker.New(broker.Options{})
//	b.Hook("client.connected", func(ctx context.Context, c *broker.ClientInfo, code packets.ReasonCode) { ... })
//	b.RegisterACL(myACL)
//	go b.ListenAndServe(":1883")
//	...
//	b.Shutdown(ctx)
//
// The zero Options are EMQ 2.0's defaults (etc/emq.conf): anonymous clients
// allowed, 64 KiB packets, 100 messages in flight per session, persistent
// sessions kept for a day. Serve follows net/http's contract: it blocks and
// returns ErrBrokerClosed after Shutdown or Close.
//
// # Hooks
//
// Every event of a client, a session and a message is a hook point named as
// in EMQ ("client.connected", "message.publish", ...; see HookNames). Hook
// registers a callback by name and checks its type at run time; On does the
// same with the type checked by the compiler:
//
//	broker.On(b, broker.MessagePublishHook, func(ctx context.Context, m broker.Message) (broker.Message, broker.Flow) {
//		m.Topic = "rewritten/" + m.Topic
//		return m, broker.Continue
//	})
//
// Notifications return nothing. Folds pass a value from hook to hook and
// return a Flow: Continue, or Stop to end the chain (for message.publish,
// Stop drops the message). Hooks run on the goroutine of the connection
// that caused the event and must not block.
//
// # Access control
//
// Authentication and ACL are chains of modules answering Allow, Deny or
// Ignore (the zero Decision). The first answer that is not Ignore wins;
// when all ignore, Options.DenyAnonymous and Options.DenyACLNoMatch decide.
// See RegisterAuth and RegisterACL. The auth/ packages hold EMQ's plugins.
//
// # Plugins and commands
//
// Everything beyond the core is a plugin, as in EMQ: a package exporting a
// typed constructor for embedders and a PluginInfo (EMQ name, defaults,
// constructor) for the broker's registry, Broker.Plugins, which loads it by
// name with its "k = v" configuration file and undoes everything it
// registered through its PluginHost when it is unloaded:
//
//	b.Plugins().Register(retainer.Plugin)
//	err := b.Plugins().Load(ctx, "emq_mod_retainer")
//
// Commands are what emqctl runs: Broker.Exec runs a command line, EMQ's
// core commands (status, clients, subscriptions, plugins, trace, ...) are
// built in, and plugins and hosts add theirs with RegisterCommand. Package
// ctl carries them over a unix socket.
//
// # Sessions
//
// A Session holds a client's subscriptions, its messages in flight and
// queued, and the incoming QoS 2 messages awaiting release. Sessions do not
// depend on MQTT: Connect opens one for a gateway's client or for the host,
// and Broker.Subscribe and Broker.Publish are the host's shortcuts.
//
// # Testing
//
// Package brokertest runs a broker inside a test with no network listener
// and gives the test MQTT clients on in-memory connections; InProcessConn
// gives any MQTT client library such a connection.
package broker
