package broker

import (
	"crypto/tls"
	"net/netip"
	"time"

	"github.com/emqgo/broker/packets"
)

// ClientInfo describes one connected client. The broker builds it when
// CONNECT is accepted and never changes it afterwards, so hooks may keep it.
// It never holds the password.
type ClientInfo struct {
	ClientID string
	Username string
	// Peer is the remote address; the zero value for in-process and host
	// sessions.
	Peer netip.AddrPort
	// Listener names where the client came in: "mqtt:tcp:127.0.0.1:1883",
	// "mqtt:ws:...", "inprocess", "host", or a gateway's name.
	Listener string
	// Protocol is "mqtt" for MQTT clients, or a gateway protocol name.
	Protocol string
	// ProtoVersion is the MQTT protocol level: 3 (3.1), 4 (3.1.1) or 5.
	ProtoVersion byte
	// CleanStart is the Clean Session flag (Clean Start in MQTT 5).
	CleanStart bool
	// Keepalive is the negotiated keep alive; 0 means none.
	Keepalive time.Duration
	// ConnectedAt is when CONNECT was accepted.
	ConnectedAt time.Time
	// Superuser is set by the authentication chain; superusers skip ACL.
	Superuser bool
	// TLS is the connection state of a TLS connection, nil otherwise.
	TLS *tls.ConnectionState
	// Properties are the MQTT 5 CONNECT properties (nil for 3.1.1).
	Properties *packets.Properties
}

// Message is an application message on its way through the broker.
// Payload and Properties are shared between subscribers: replace them,
// never modify them in place.
type Message struct {
	// ID is assigned by the broker, unique per node.
	ID uint64
	// Topic is the topic name the message was published to.
	Topic string
	// Payload is the application payload.
	Payload []byte
	// QoS is the publish QoS, 0, 1 or 2.
	QoS byte
	// Retain is the publisher's RETAIN flag.
	Retain bool
	// From is the publishing client's id; "" for host publishes.
	From string
	// Username is the publishing client's user name, if any.
	Username string
	// Timestamp is when the broker received the message.
	Timestamp time.Time
	// Properties are the MQTT 5 publish properties (nil for 3.1.1).
	Properties *packets.Properties
}

// Subscription is one topic filter of a session with its options.
type Subscription struct {
	// Filter is the filter as the client sent it, shared-subscription
	// prefix ("$share/g/", "$queue/") included.
	Filter string
	// QoS is the maximum QoS. In the client.subscribe hook a hook may set it
	// to SubscribeRefused to refuse this filter (SUBACK 0x80).
	QoS byte
	// NoLocal, RetainAsPublished and RetainHandling are the MQTT 5
	// subscription options; zero for 3.1.1.
	NoLocal           bool
	RetainAsPublished bool
	RetainHandling    byte
	// ID is the MQTT 5 subscription identifier, 0 for none.
	ID uint32
}

// SubscribeRefused is the QoS value a client.subscribe hook sets on a
// Subscription to refuse it; the client gets 0x80 in its SUBACK.
const SubscribeRefused byte = 0x80
