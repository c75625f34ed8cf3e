// Package subscription subscribes clients to configured topics when they
// connect: EMQ 2.0's emq_mod_subscription, built on the broker's hooks and
// Broker.SubscribeClient.
//
// Each configured Topic is a topic filter template in which "%c" stands
// for the client id and "%u" for the user name:
//
//	module.subscription.1.topic = $client/%c
//	module.subscription.1.qos = 1
//
// On client.connected with an accepted CONNACK, the client's session is
// subscribed to every template, expanded. That hook runs after the CONNACK
// is queued and before the session is attached to the connection, so the
// subscriptions exist before anything queued for the session is sent, and
// retained messages they match (with a retainer loaded) follow the CONNACK
// at once, before any other packet. No SUBACK is sent.
//
// As in EMQ, the ACL is not asked (the operator chose the topics), while
// the client.subscribe hooks run, so a rewrite module applies. A
// subscription the session already has, with the same QoS, is left alone,
// so a resumed persistent session does not get its retained messages
// again. Unlike EMQ, which replaced only whole topic levels and subscribed
// to a literal "%u" when the client had no user name, a template is
// expanded wherever "%c" and "%u" appear, a template with "%u" is skipped
// for a client without a user name, and a template is skipped (with a
// warning) when the client id or user name would bring a wildcard ('+' or
// '#') into the filter, so a client named "#" cannot subscribe to
// everything.
//
// An embedder creates a Module with New and attaches it:
//
//	m, err := subscription.New(subscription.Config{Topics: []subscription.Topic{{Topic: "$client/%c", QoS: 1}}})
//	detach := m.Attach(b)
//
// emqd loads it by default as the plugin emq_mod_subscription (see Plugin).
package subscription
