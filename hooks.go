package broker

import (
	"context"
	"fmt"

	"github.com/emqgo/broker/packets"
)

// HookName is the name of a hook point, as EMQ spells it.
type HookName string

// The hook points. Their callback types are the *Func aliases below.
const (
	ClientConnect       HookName = "client.connect"
	ClientAuthenticate  HookName = "client.authenticate"
	ClientConnack       HookName = "client.connack"
	ClientConnected     HookName = "client.connected"
	ClientDisconnected  HookName = "client.disconnected"
	ClientSubscribe     HookName = "client.subscribe"
	ClientUnsubscribe   HookName = "client.unsubscribe"
	ClientAuthorize     HookName = "client.authorize"
	SessionCreated      HookName = "session.created"
	SessionResumed      HookName = "session.resumed"
	SessionTakenOver    HookName = "session.takenover"
	SessionDiscarded    HookName = "session.discarded"
	SessionSubscribed   HookName = "session.subscribed"
	SessionUnsubscribed HookName = "session.unsubscribed"
	SessionTerminated   HookName = "session.terminated"
	MessagePublish      HookName = "message.publish"
	MessageDelivered    HookName = "message.delivered"
	MessageAcked        HookName = "message.acked"
	MessageDropped      HookName = "message.dropped"
	DeliveryDropped     HookName = "delivery.dropped"
)

// Flow tells a folding hook chain whether to go on: Continue passes the
// (possibly rewritten) value to the next hook, Stop ends the chain with it.
// They are EMQ's {ok, Acc} and {stop, Acc}.
type Flow uint8

const (
	// Continue passes the value on to the next hook.
	Continue Flow = iota
	// Stop ends the chain; what it means depends on the hook point.
	Stop
)

// DropReason says why a message was dropped.
type DropReason string

// Drop reasons passed to message.dropped and delivery.dropped.
const (
	DropNoSubscribers DropReason = "no_subscribers"
	DropHook          DropReason = "hook"
	DropNotAuthorized DropReason = "not_authorized"
	DropQueueFull     DropReason = "queue_full"
	DropQoS0Offline   DropReason = "qos0_offline"
	DropWriteQueue    DropReason = "write_queue_full"
	DropAwaitingRel   DropReason = "awaiting_rel_full"
	DropSessionEnded  DropReason = "session_terminated"
	// DropExpired: the MQTT 5 Message Expiry Interval passed before the
	// message could be sent to this subscriber [MQTT-3.3.2-5].
	DropExpired DropReason = "expired"
	// DropTooLarge: the packet would exceed the subscriber's MQTT 5
	// Maximum Packet Size [MQTT-3.1.2-25].
	DropTooLarge DropReason = "too_large"
	// DropInvalid: the message cannot be encoded for this subscriber, e.g.
	// a hook or the host gave it properties a PUBLISH cannot carry.
	DropInvalid DropReason = "invalid"
)

// The callback types of the hook points. They are aliases, not defined
// types, so a plain func literal of the right shape can be passed to Hook.
// Notifications return nothing. Folds return the value for the next hook
// and a Flow.
type (
	// ClientConnectFunc runs when a CONNECT arrives, before authentication.
	ClientConnectFunc = func(ctx context.Context, c *ClientInfo)
	// ClientAuthenticateFunc folds over the access chain's decision; a hook
	// may override it. Stop ends the chain with the returned decision.
	ClientAuthenticateFunc = func(ctx context.Context, c *ClientInfo, d Decision) (Decision, Flow)
	// ClientConnackFunc runs just before CONNACK is written, with its code.
	ClientConnackFunc = func(ctx context.Context, c *ClientInfo, code packets.ReasonCode)
	// ClientConnectedFunc runs for every CONNECT, refused ones included
	// (code is not Success then), after CONNACK is queued, like EMQ 2.0.
	ClientConnectedFunc = func(ctx context.Context, c *ClientInfo, code packets.ReasonCode)
	// ClientDisconnectedFunc runs when an accepted connection ends, after
	// the will is published. reason is nil for a DISCONNECT from the client
	// (with reason code 0x00); a *DisconnectError when the broker closed
	// the connection with a reason code or an MQTT 5 client gave another
	// code; otherwise the I/O error.
	ClientDisconnectedFunc = func(ctx context.Context, c *ClientInfo, reason error)
	// ClientSubscribeFunc folds over the filters of a SUBSCRIBE after ACL.
	// A hook may rewrite entries, or refuse one by setting its QoS to
	// SubscribeRefused; it must return a slice of the same length. Stop
	// refuses every filter of the packet.
	ClientSubscribeFunc = func(ctx context.Context, c *ClientInfo, subs []Subscription) ([]Subscription, Flow)
	// ClientUnsubscribeFunc folds over the filters of an UNSUBSCRIBE. Stop
	// skips the unsubscribe; the client still gets its UNSUBACK.
	ClientUnsubscribeFunc = func(ctx context.Context, c *ClientInfo, filters []string) ([]string, Flow)
	// ClientAuthorizeFunc folds over the ACL chain's decision for one
	// publish or subscribe; a hook may override it.
	ClientAuthorizeFunc = func(ctx context.Context, c *ClientInfo, a Access, topic string, d Decision) (Decision, Flow)
	// SessionCreatedFunc runs when a new session starts.
	SessionCreatedFunc = func(ctx context.Context, c *ClientInfo)
	// SessionResumedFunc runs when a client reconnects to its persistent session.
	SessionResumedFunc = func(ctx context.Context, c *ClientInfo)
	// SessionTakenOverFunc runs with the old client's info when another
	// connection with the same client id takes the session over.
	SessionTakenOverFunc = func(ctx context.Context, c *ClientInfo)
	// SessionDiscardedFunc runs with the old client's info when a clean
	// start discards an existing session.
	SessionDiscardedFunc = func(ctx context.Context, c *ClientInfo)
	// SessionSubscribedFunc runs for each accepted subscription, after the
	// SUBACK is queued. isNew is false when an existing subscription with
	// the same filter was replaced (EMQ ran the hook for new ones only).
	SessionSubscribedFunc = func(ctx context.Context, c *ClientInfo, sub Subscription, isNew bool)
	// SessionUnsubscribedFunc runs for each removed subscription.
	SessionUnsubscribedFunc = func(ctx context.Context, c *ClientInfo, sub Subscription)
	// SessionTerminatedFunc runs when a session ends for good.
	SessionTerminatedFunc = func(ctx context.Context, c *ClientInfo, reason error)
	// MessagePublishFunc folds over every message before routing: client
	// publishes, wills, $SYS and host publishes. Stop drops the message.
	MessagePublishFunc = func(ctx context.Context, m Message) (Message, Flow)
	// MessageDeliveredFunc runs just before a message is written to a
	// subscriber.
	MessageDeliveredFunc = func(ctx context.Context, c *ClientInfo, m Message)
	// MessageAckedFunc runs when a subscriber acknowledges a QoS 1 (PUBACK)
	// or QoS 2 (PUBCOMP) message.
	MessageAckedFunc = func(ctx context.Context, c *ClientInfo, m Message)
	// MessageDroppedFunc runs when a published message reaches nobody: no
	// subscriber, refused by ACL, or stopped by a hook.
	MessageDroppedFunc = func(ctx context.Context, m Message, reason DropReason)
	// DeliveryDroppedFunc runs when a message is dropped for one
	// subscriber: its queue is full, it is offline and QoS 0 is not queued,
	// the message expired before it could be sent (MQTT 5), or it is larger
	// than the subscriber's Maximum Packet Size (MQTT 5).
	DeliveryDroppedFunc = func(ctx context.Context, c *ClientInfo, m Message, reason DropReason)
)

// hookTable holds one chain per hook point.
type hookTable struct {
	clientConnect       chain[ClientConnectFunc]
	clientAuthenticate  chain[ClientAuthenticateFunc]
	clientConnack       chain[ClientConnackFunc]
	clientConnected     chain[ClientConnectedFunc]
	clientDisconnected  chain[ClientDisconnectedFunc]
	clientSubscribe     chain[ClientSubscribeFunc]
	clientUnsubscribe   chain[ClientUnsubscribeFunc]
	clientAuthorize     chain[ClientAuthorizeFunc]
	sessionCreated      chain[SessionCreatedFunc]
	sessionResumed      chain[SessionResumedFunc]
	sessionTakenOver    chain[SessionTakenOverFunc]
	sessionDiscarded    chain[SessionDiscardedFunc]
	sessionSubscribed   chain[SessionSubscribedFunc]
	sessionUnsubscribed chain[SessionUnsubscribedFunc]
	sessionTerminated   chain[SessionTerminatedFunc]
	messagePublish      chain[MessagePublishFunc]
	messageDelivered    chain[MessageDeliveredFunc]
	messageAcked        chain[MessageAckedFunc]
	messageDropped      chain[MessageDroppedFunc]
	deliveryDropped     chain[DeliveryDroppedFunc]
}

// Point is a compile-time-typed handle on a hook point, for On.
type Point[F any] struct {
	name  HookName
	chain func(*hookTable) *chain[F]
}

// Name returns the hook point's EMQ name.
func (p Point[F]) Name() HookName { return p.name }

// The typed hook points, one per HookName.
var (
	ClientConnectHook       = Point[ClientConnectFunc]{ClientConnect, func(t *hookTable) *chain[ClientConnectFunc] { return &t.clientConnect }}
	ClientAuthenticateHook  = Point[ClientAuthenticateFunc]{ClientAuthenticate, func(t *hookTable) *chain[ClientAuthenticateFunc] { return &t.clientAuthenticate }}
	ClientConnackHook       = Point[ClientConnackFunc]{ClientConnack, func(t *hookTable) *chain[ClientConnackFunc] { return &t.clientConnack }}
	ClientConnectedHook     = Point[ClientConnectedFunc]{ClientConnected, func(t *hookTable) *chain[ClientConnectedFunc] { return &t.clientConnected }}
	ClientDisconnectedHook  = Point[ClientDisconnectedFunc]{ClientDisconnected, func(t *hookTable) *chain[ClientDisconnectedFunc] { return &t.clientDisconnected }}
	ClientSubscribeHook     = Point[ClientSubscribeFunc]{ClientSubscribe, func(t *hookTable) *chain[ClientSubscribeFunc] { return &t.clientSubscribe }}
	ClientUnsubscribeHook   = Point[ClientUnsubscribeFunc]{ClientUnsubscribe, func(t *hookTable) *chain[ClientUnsubscribeFunc] { return &t.clientUnsubscribe }}
	ClientAuthorizeHook     = Point[ClientAuthorizeFunc]{ClientAuthorize, func(t *hookTable) *chain[ClientAuthorizeFunc] { return &t.clientAuthorize }}
	SessionCreatedHook      = Point[SessionCreatedFunc]{SessionCreated, func(t *hookTable) *chain[SessionCreatedFunc] { return &t.sessionCreated }}
	SessionResumedHook      = Point[SessionResumedFunc]{SessionResumed, func(t *hookTable) *chain[SessionResumedFunc] { return &t.sessionResumed }}
	SessionTakenOverHook    = Point[SessionTakenOverFunc]{SessionTakenOver, func(t *hookTable) *chain[SessionTakenOverFunc] { return &t.sessionTakenOver }}
	SessionDiscardedHook    = Point[SessionDiscardedFunc]{SessionDiscarded, func(t *hookTable) *chain[SessionDiscardedFunc] { return &t.sessionDiscarded }}
	SessionSubscribedHook   = Point[SessionSubscribedFunc]{SessionSubscribed, func(t *hookTable) *chain[SessionSubscribedFunc] { return &t.sessionSubscribed }}
	SessionUnsubscribedHook = Point[SessionUnsubscribedFunc]{SessionUnsubscribed, func(t *hookTable) *chain[SessionUnsubscribedFunc] { return &t.sessionUnsubscribed }}
	SessionTerminatedHook   = Point[SessionTerminatedFunc]{SessionTerminated, func(t *hookTable) *chain[SessionTerminatedFunc] { return &t.sessionTerminated }}
	MessagePublishHook      = Point[MessagePublishFunc]{MessagePublish, func(t *hookTable) *chain[MessagePublishFunc] { return &t.messagePublish }}
	MessageDeliveredHook    = Point[MessageDeliveredFunc]{MessageDelivered, func(t *hookTable) *chain[MessageDeliveredFunc] { return &t.messageDelivered }}
	MessageAckedHook        = Point[MessageAckedFunc]{MessageAcked, func(t *hookTable) *chain[MessageAckedFunc] { return &t.messageAcked }}
	MessageDroppedHook      = Point[MessageDroppedFunc]{MessageDropped, func(t *hookTable) *chain[MessageDroppedFunc] { return &t.messageDropped }}
	DeliveryDroppedHook     = Point[DeliveryDroppedFunc]{DeliveryDropped, func(t *hookTable) *chain[DeliveryDroppedFunc] { return &t.deliveryDropped }}
)

// adder registers an untyped fn on a typed chain, checking its type.
type adder func(t *hookTable, fn any, opts []RegisterOption) (func(), error)

func adderFor[F any](p Point[F]) adder {
	return func(t *hookTable, fn any, opts []RegisterOption) (func(), error) {
		f, ok := fn.(F)
		if !ok {
			var want F
			return nil, fmt.Errorf("%w: %s wants %T, got %T", ErrHookSignature, p.name, want, fn)
		}
		return p.chain(t).add(f, opts), nil
	}
}

var adders = map[HookName]adder{
	ClientConnect:       adderFor(ClientConnectHook),
	ClientAuthenticate:  adderFor(ClientAuthenticateHook),
	ClientConnack:       adderFor(ClientConnackHook),
	ClientConnected:     adderFor(ClientConnectedHook),
	ClientDisconnected:  adderFor(ClientDisconnectedHook),
	ClientSubscribe:     adderFor(ClientSubscribeHook),
	ClientUnsubscribe:   adderFor(ClientUnsubscribeHook),
	ClientAuthorize:     adderFor(ClientAuthorizeHook),
	SessionCreated:      adderFor(SessionCreatedHook),
	SessionResumed:      adderFor(SessionResumedHook),
	SessionTakenOver:    adderFor(SessionTakenOverHook),
	SessionDiscarded:    adderFor(SessionDiscardedHook),
	SessionSubscribed:   adderFor(SessionSubscribedHook),
	SessionUnsubscribed: adderFor(SessionUnsubscribedHook),
	SessionTerminated:   adderFor(SessionTerminatedHook),
	MessagePublish:      adderFor(MessagePublishHook),
	MessageDelivered:    adderFor(MessageDeliveredHook),
	MessageAcked:        adderFor(MessageAckedHook),
	MessageDropped:      adderFor(MessageDroppedHook),
	DeliveryDropped:     adderFor(DeliveryDroppedHook),
}

// HookNames returns every hook point name.
func HookNames() []HookName {
	return []HookName{ClientConnect, ClientAuthenticate, ClientConnack, ClientConnected, ClientDisconnected,
		ClientSubscribe, ClientUnsubscribe, ClientAuthorize, SessionCreated, SessionResumed, SessionTakenOver,
		SessionDiscarded, SessionSubscribed, SessionUnsubscribed, SessionTerminated, MessagePublish,
		MessageDelivered, MessageAcked, MessageDropped, DeliveryDropped}
}

// Unhook removes a hook registration. Calling it more than once is harmless.
type Unhook func()

// Registrar is what hooks can be registered on: a *Broker, or a plugin's
// host. It is sealed.
type Registrar interface {
	hooks() *hookTable
	track(undo func())
}

// On registers fn on the typed hook point p; the compiler checks fn's type.
// It writes the same chain as Broker.Hook.
func On[F any](r Registrar, p Point[F], fn F, opts ...RegisterOption) Unhook {
	undo := p.chain(r.hooks()).add(fn, opts)
	r.track(undo)
	return Unhook(undo)
}

// Hook registers fn on the hook point called name. fn must have the hook's
// callback type exactly (see the *Func aliases), or Hook returns an error
// wrapping ErrHookSignature; an unknown name gives ErrUnknownHook.
// Hooks run on the goroutine of the connection that caused the event and
// must not block.
func (b *Broker) Hook(name HookName, fn any, opts ...RegisterOption) (Unhook, error) {
	return hookOn(b, name, fn, opts)
}

func hookOn(r Registrar, name HookName, fn any, opts []RegisterOption) (Unhook, error) {
	add, ok := adders[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownHook, name)
	}
	if fn == nil {
		return nil, fmt.Errorf("%w: %s: nil function", ErrHookSignature, name)
	}
	undo, err := add(r.hooks(), fn, opts)
	if err != nil {
		return nil, err
	}
	r.track(undo)
	return Unhook(undo), nil
}

func (b *Broker) hooks() *hookTable { return &b.hookTable }
func (b *Broker) track(func())      {}

// --- dispatch helpers -------------------------------------------------------

func runNotify1[A any](c *chain[func(context.Context, A)], ctx context.Context, a A) {
	for _, e := range c.load() {
		e.fn(ctx, a)
	}
}

func (t *hookTable) publish(ctx context.Context, m Message) (Message, bool) {
	for _, e := range t.messagePublish.load() {
		var f Flow
		m, f = e.fn(ctx, m)
		if f == Stop {
			return m, false
		}
	}
	return m, true
}
