package broker

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Options configure a Broker. The zero value is a working broker with the
// defaults of EMQ 2.0's etc/emq.conf; New copies the value and never writes
// to the caller's struct.
type Options struct {
	// Node is the node name used in $SYS topics, the CLI and logs.
	// "" means "emqd@127.0.0.1" (EMQ: node.name).
	Node string
	// Logger receives the broker's structured logs. nil discards them:
	// a library is quiet unless asked.
	Logger *slog.Logger

	// DenyAnonymous refuses clients when no authentication module has an
	// opinion (EMQ: mqtt.allow_anonymous = false). The zero value allows them.
	DenyAnonymous bool
	// DenyACLNoMatch denies publish and subscribe when no ACL module has an
	// opinion (EMQ 2.3: mqtt.acl_nomatch = deny). The zero value allows.
	DenyACLNoMatch bool
	// DisableACLCache turns off the per-connection cache of publish ACL
	// decisions (EMQ: mqtt.cache_acl = false). The zero value caches: a
	// connection remembers the decision for each topic it publishes to, up
	// to 256 topics, for a minute, or until Broker.ReloadACL or
	// Broker.ClearACLCache runs or an ACL module is registered or removed.
	// Answers made while a module failed are not cached, and neither are
	// subscriptions.
	DisableACLCache bool

	// MaxPacketSize is the largest MQTT packet accepted, in bytes; larger
	// packets close the connection. 0 means 64 KiB (mqtt.max_packet_size).
	MaxPacketSize int
	// MaxClientIDLen is the longest client identifier accepted.
	// 0 means 1024 (mqtt.max_clientid_len).
	MaxClientIDLen int
	// ConnectTimeout is how long a new connection may take to send CONNECT.
	// 0 means 30s (mqtt.client_idle_timeout).
	ConnectTimeout time.Duration

	// Session holds the per-session limits.
	Session SessionOptions

	// SysInterval is the period of the $SYS broker, stats and metrics
	// messages (mqtt.broker.sys_interval). 0 means 60s; a negative value
	// disables $SYS publishing altogether.
	SysInterval time.Duration

	// MaxWriteQueue is the number of bytes that may wait in a connection's
	// write queue before QoS 0 messages to it are dropped (and counted).
	// QoS 1 and 2 messages are bounded by the inflight window and the
	// session queue instead. 0 means 4 MiB.
	MaxWriteQueue int

	// SharedStrategy picks the member of a shared subscription group that
	// receives a message: "random" (the zero value), "round_robin",
	// "sticky" or "hash" (by publisher client id).
	SharedStrategy string

	// Version is reported in $SYS/brokers/<node>/version. "" means the
	// library version.
	Version string

	// The options below apply to MQTT 5 clients only: 3.1 and 3.1.1 have
	// no way to announce them.

	// ReceiveMaximum is the number of QoS 1 and 2 PUBLISH packets an MQTT 5
	// client may have unacknowledged towards the broker at once, announced
	// in CONNACK (Receive Maximum). A client that sends more is disconnected
	// with 0x93 [MQTT-3.3.4-7]. 0 means 100; at most 65535. (The other
	// direction is bounded by the client's own Receive Maximum and
	// Session.MaxInflight, whichever is smaller [MQTT-3.3.4-9].)
	ReceiveMaximum int
	// TopicAliasMaximum is the number of topic aliases an MQTT 5 client may
	// set towards the broker, announced in CONNACK (Topic Alias Maximum).
	// An alias of 0 or above it closes the connection with 0x94. 0 means
	// 100; a negative value allows none. Towards the client, the broker
	// uses aliases up to the client's own Topic Alias Maximum.
	TopicAliasMaximum int
	// ServerKeepAlive is the longest keep alive granted to an MQTT 5 client:
	// a client asking for a longer one is told to use this one in CONNACK
	// (Server Keep Alive) [MQTT-3.2.2-21]. A client asking for none (0)
	// keeps none. 0 means no limit; at most 65535s.
	ServerKeepAlive time.Duration
	// ResponseInformation is the Response Information sent in CONNACK to an
	// MQTT 5 client that sets Request Response Information: usually a topic
	// prefix under which the client may put its response topics, such as
	// "reply/%c/". "%c" is replaced by the client identifier and "%u" by
	// the user name. "" sends none.
	ResponseInformation string
	// SubscribeDeniedUnspecified makes the SUBACK of an MQTT 5 subscription
	// that the ACL refuses carry 0x80 (unspecified error) instead of 0x87
	// (not authorized), for clients that expect the 3.1.1 code (the Eclipse
	// Paho MQTT 5 conformance suite does). 3.1.1 clients always get 0x80.
	SubscribeDeniedUnspecified bool
}

// SessionOptions are the per-session limits. The zero value gives EMQ 2.0's
// mqtt.session.* and mqtt.queue.* defaults, except where noted.
type SessionOptions struct {
	// MaxInflight is the number of QoS 1 and 2 messages sent to a client and
	// not yet acknowledged. 0 means 100; a negative value means unlimited
	// (EMQ writes 0 for unlimited).
	MaxInflight int
	// RetryInterval is how long an unacknowledged QoS 1/2 message waits
	// before it is sent again with DUP set (MQTT 3.1/3.1.1 clients only;
	// MQTT 5 forbids resending except on reconnect). 0 means 60s.
	RetryInterval time.Duration
	// AwaitRelTimeout is how long an incoming QoS 2 message waits for its
	// PUBREL before the packet identifier is released. 0 means 20s.
	AwaitRelTimeout time.Duration
	// MaxAwaitingRel bounds the incoming QoS 2 messages awaiting PUBREL;
	// beyond it new QoS 2 publishes are dropped. 0 means unlimited (EMQ 0).
	MaxAwaitingRel int
	// Expiry is how long a persistent session outlives its connection
	// (mqtt.session.expired_after). 0 means 24h.
	Expiry time.Duration
	// MaxQueueLen bounds the messages queued for an offline client or one
	// whose inflight window is full. The oldest message is dropped, and
	// counted, on overflow. 0 means 1000; a negative value means unlimited.
	// EMQ 2.0 shipped "infinity": a bounded default is safer for a library.
	MaxQueueLen int
	// DropQoS0 stops QoS 0 messages from being queued for offline clients
	// (EMQ: mqtt.queue.qos0 = false). The zero value queues them.
	DropQoS0 bool
	// DisconnectOnQueueFull disconnects a connected client whose queue
	// overflows (MQTT 5 clients get DISCONNECT 0x97, quota exceeded)
	// instead of only dropping the oldest message. Its session stays if it
	// is persistent, so the queue drains when the client comes back.
	DisconnectOnQueueFull bool
	// MaxExpiry is the longest Session Expiry Interval granted to an MQTT 5
	// client; a longer one (0xFFFFFFFF, "never", included) is shortened to
	// it and the CONNACK says so. 0 means no limit. (3.1 and 3.1.1
	// persistent sessions use Expiry.)
	MaxExpiry time.Duration
}

// Validate reports every problem with o at once, joined with errors.Join.
func (o Options) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("broker: options: "+format, args...)) }
	if o.MaxPacketSize < 0 || o.MaxPacketSize > 268435455 {
		bad("MaxPacketSize %d out of range [0, 268435455]", o.MaxPacketSize)
	}
	if o.MaxClientIDLen < 0 || o.MaxClientIDLen > 65535 {
		bad("MaxClientIDLen %d out of range [0, 65535]", o.MaxClientIDLen)
	}
	if o.ConnectTimeout < 0 {
		bad("ConnectTimeout %v is negative", o.ConnectTimeout)
	}
	if o.MaxWriteQueue < 0 {
		bad("MaxWriteQueue %d is negative", o.MaxWriteQueue)
	}
	switch o.SharedStrategy {
	case "", "random", "round_robin", "sticky", "hash":
	default:
		bad("SharedStrategy %q is not one of random, round_robin, sticky, hash", o.SharedStrategy)
	}
	s := o.Session
	if s.RetryInterval < 0 {
		bad("Session.RetryInterval %v is negative", s.RetryInterval)
	}
	if s.AwaitRelTimeout < 0 {
		bad("Session.AwaitRelTimeout %v is negative", s.AwaitRelTimeout)
	}
	if s.Expiry < 0 {
		bad("Session.Expiry %v is negative", s.Expiry)
	}
	if s.MaxAwaitingRel < 0 {
		bad("Session.MaxAwaitingRel %d is negative", s.MaxAwaitingRel)
	}
	if s.MaxExpiry < 0 {
		bad("Session.MaxExpiry %v is negative", s.MaxExpiry)
	}
	if o.ReceiveMaximum < 0 || o.ReceiveMaximum > 65535 {
		bad("ReceiveMaximum %d out of range [0, 65535]", o.ReceiveMaximum)
	}
	if o.TopicAliasMaximum > 65535 {
		bad("TopicAliasMaximum %d above 65535", o.TopicAliasMaximum)
	}
	if o.ServerKeepAlive < 0 || o.ServerKeepAlive > 65535*time.Second {
		bad("ServerKeepAlive %v out of range [0, 65535s]", o.ServerKeepAlive)
	}
	return errors.Join(errs...)
}

// withDefaults returns a copy of o with every zero value replaced by its
// default.
func (o Options) withDefaults() Options {
	if o.Node == "" {
		o.Node = "emqd@127.0.0.1"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxPacketSize == 0 {
		o.MaxPacketSize = 64 << 10
	}
	if o.MaxClientIDLen == 0 {
		o.MaxClientIDLen = 1024
	}
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = 30 * time.Second
	}
	if o.SysInterval == 0 {
		o.SysInterval = 60 * time.Second
	}
	if o.MaxWriteQueue == 0 {
		o.MaxWriteQueue = 4 << 20
	}
	if o.SharedStrategy == "" {
		o.SharedStrategy = "random"
	}
	if o.Version == "" {
		o.Version = Version
	}
	if o.ReceiveMaximum == 0 {
		o.ReceiveMaximum = 100
	}
	if o.TopicAliasMaximum == 0 {
		o.TopicAliasMaximum = 100
	}
	s := &o.Session
	if s.MaxInflight == 0 {
		s.MaxInflight = 100
	}
	if s.RetryInterval == 0 {
		s.RetryInterval = 60 * time.Second
	}
	if s.AwaitRelTimeout == 0 {
		s.AwaitRelTimeout = 20 * time.Second
	}
	if s.Expiry == 0 {
		s.Expiry = 24 * time.Hour
	}
	if s.MaxQueueLen == 0 {
		s.MaxQueueLen = 1000
	}
	return o
}

// Version is the version of this library, reported in $SYS.
const Version = "0.1.0"
