package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emqgo/broker/internal/ring"
	"github.com/emqgo/broker/packets"
	"github.com/emqgo/broker/topic"
)

// sink is the transport a session delivers to: an MQTT connection, or the
// channel of a Session opened with Connect. Every method is called with the
// session's lock held and must not block.
type sink interface {
	// sendPublish hands a message to the transport. It reports false when
	// the transport's write queue is full (QoS 0 only; the caller drops).
	sendPublish(om outMsg, dup bool) bool
	// sendPubrel resends a PUBREL for an outgoing QoS 2 message.
	sendPubrel(id uint16)
	// kick ends the transport: code is sent to MQTT 5 clients.
	kick(code packets.ReasonCode, reason error)
	// protoVersion is the MQTT protocol level of the transport.
	protoVersion() byte
	// accepts reports whether om fits the client's MQTT 5 Maximum Packet
	// Size; a message that does not is dropped before it gets a packet
	// identifier [MQTT-3.1.2-25].
	accepts(om outMsg) bool
}

// outMsg is one message on its way to one session.
type outMsg struct {
	msg    *Message
	qos    byte
	retain bool
	subIDs []uint32
	id     uint16
	rel    bool  // QoS 2: PUBREC received, PUBREL sent
	sentAt int64 // unix nanoseconds of the last send
	// expireAt is when the MQTT 5 Message Expiry Interval ends, in unix
	// nanoseconds; 0 means never.
	expireAt int64
	enc      *pubCache // shared encoding of msg, or nil
}

// expired reports whether om's Message Expiry Interval has passed at now.
func (om *outMsg) expired(now int64) bool { return om.expireAt != 0 && now >= om.expireAt }

// dropped is a message dropped for one session, reported once s.mu is released.
type dropped struct {
	m      *Message
	reason DropReason
}

// subscriber is a subscription of one session, the value kept in the tree.
type subscriber struct {
	s     *Session
	sub   Subscription
	group string // shared subscription group, "" if not shared
	inner string // the filter without any $share/$queue prefix
}

// Session is the state of one client, independent of the protocol it
// speaks: its subscriptions, the messages in flight to it, the messages
// queued for it, and the incoming QoS 2 messages awaiting release.
//
// MQTT connections, gateways and the host's Subscribe all deliver through a
// Session. Sessions opened with Broker.Connect are driven with Publish,
// Subscribe, Unsubscribe, Deliveries and Close.
type Session struct {
	b    *Broker
	id   string
	info atomic.Pointer[ClientInfo]
	// listed is false for the host's own sessions (Broker.Subscribe): they
	// are not clients, so introspection and the client.* hooks skip them.
	// Set before the session is attached; read under mu.
	listed bool

	// multi is set once the session may have two entries in the
	// subscription tree (a second filter, or a filter replaced): only
	// then must route look for it twice among a message's matches.
	multi atomic.Bool

	mu       sync.Mutex
	subs     map[string]*subscriber
	out      sink
	inflight []*outMsg
	// inflightIDs holds the packet ids in inflight while the window is
	// large (see allocID); nil otherwise.
	inflightIDs *idSet
	queue       ring.Ring[*outMsg]
	nextID      uint16
	awaitRel    map[uint16]int64
	persistent  bool
	expiry      time.Duration
	closed      bool
	retryTimer  *time.Timer
	retryArmed  bool
	expTimer    *time.Timer
	// will is the MQTT 5 will of the last connection, waiting for its Will
	// Delay Interval (willTimer) or the end of the session [MQTT-3.1.3-9].
	will      *Message
	willTimer *time.Timer

	// ch is the delivery channel of a Session opened with Connect.
	ch *chanSink

	// acl caches the connection's publish ACL decisions (mqtt.cache_acl).
	acl aclCache
}

func newSession(b *Broker, info *ClientInfo, listed bool) *Session {
	s := &Session{b: b, id: info.ClientID, listed: listed}
	s.info.Store(info)
	return s
}

// ID returns the session's client identifier.
func (s *Session) ID() string { return s.id }

// Info returns the client's current connection info.
func (s *Session) Info() *ClientInfo { return s.info.Load() }

// Subscriptions returns the session's subscriptions.
func (s *Session) Subscriptions() []Subscription {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Subscription, 0, len(s.subs))
	for _, sb := range s.subs {
		out = append(out, sb.sub)
	}
	return out
}

// ---- subscriptions ----------------------------------------------------------

// accepted is a subscription that was added, for session.subscribed.
type accepted struct {
	sub   Subscription
	isNew bool
}

// subscribe checks, filters through hooks and adds subs. It returns one
// SUBACK reason code per entry and the accepted subscriptions, for which the
// caller runs afterSubscribe once the SUBACK is on its way. trusted
// subscriptions (made by the broker's operator, SubscribeClient) skip the ACL.
func (s *Session) subscribe(ctx context.Context, subs []Subscription, trusted bool) ([]packets.ReasonCode, []accepted) {
	b := s.b
	info := s.Info()
	v5 := info.ProtoVersion == packets.Version5
	codes := make([]packets.ReasonCode, len(subs))
	work := make([]Subscription, len(subs))
	copy(work, subs)
	denied := false
	for i, sub := range work {
		if err := topic.ValidateFilter(sub.Filter); err != nil {
			codes[i] = packets.TopicFilterInvalid
			work[i].QoS = SubscribeRefused
			continue
		}
		if _, _, shared := topic.ParseShared(sub.Filter); shared && v5 && sub.NoLocal {
			// [MQTT-3.8.3-4] is a protocol error; refusing the filter is kinder.
			codes[i] = packets.ProtocolError
			work[i].QoS = SubscribeRefused
			continue
		}
		if !trusted && b.authorize(ctx, info, AccessSubscribe, sub.Filter) != Allow {
			codes[i] = packets.NotAuthorized
			if b.opts.SubscribeDeniedUnspecified {
				codes[i] = packets.UnspecifiedError
			}
			work[i].QoS = SubscribeRefused
			denied = true
		}
	}
	if denied && !v5 {
		// EMQ 2.0: one denied filter refuses the whole SUBSCRIBE.
		for i := range work {
			work[i].QoS = SubscribeRefused
			if codes[i] == 0 {
				codes[i] = packets.NotAuthorized
			}
		}
	}
	stopped := false
	for _, e := range b.hookTable.clientSubscribe.load() {
		out, f := e.fn(ctx, info, work)
		if len(out) == len(work) {
			work = out
		} else {
			b.log.Warn("client.subscribe hook changed the number of filters; ignored", "hook", e.reg.name)
		}
		if f == Stop {
			stopped = true
			break
		}
	}
	var acc []accepted
	for i, sub := range work {
		if stopped || sub.QoS == SubscribeRefused || sub.QoS > 2 {
			if codes[i] == 0 {
				codes[i] = packets.UnspecifiedError
			}
			continue
		}
		if codes[i] != 0 {
			continue
		}
		if err := topic.ValidateFilter(sub.Filter); err != nil {
			codes[i] = packets.TopicFilterInvalid
			continue
		}
		isNew, err := s.addSub(sub)
		if err != nil {
			codes[i] = packets.UnspecifiedError
			continue
		}
		codes[i] = packets.ReasonCode(sub.QoS)
		acc = append(acc, accepted{sub, isNew})
	}
	return codes, acc
}

// afterSubscribe runs session.subscribed for each accepted subscription.
func (s *Session) afterSubscribe(ctx context.Context, acc []accepted) {
	info := s.Info()
	for _, a := range acc {
		for _, e := range s.b.hookTable.sessionSubscribed.load() {
			e.fn(ctx, info, a.sub, a.isNew)
		}
	}
}

// addSub adds or replaces one subscription.
func (s *Session) addSub(sub Subscription) (isNew bool, err error) {
	group, inner, shared := topic.ParseShared(sub.Filter)
	if !shared {
		inner = sub.Filter
	}
	sb := &subscriber{s: s, sub: sub, group: group, inner: inner}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false, ErrSessionClosed
	}
	if s.subs == nil {
		s.subs = make(map[string]*subscriber)
	}
	if len(s.subs) > 0 {
		s.multi.Store(true) // before the insert below
	}
	old := s.subs[sub.Filter]
	s.subs[sub.Filter] = sb
	s.mu.Unlock()
	// Insert before removing so a replaced subscription never misses a
	// message [MQTT-3.8.4-3]; route delivers once per session.
	s.b.subs.Insert(inner, sb)
	if old != nil {
		s.b.subs.Remove(old.inner, old)
	}
	return old == nil, nil
}

// unsubscribe removes filters, running the hooks. It returns one UNSUBACK
// reason code per filter.
func (s *Session) unsubscribe(ctx context.Context, filters []string) []packets.ReasonCode {
	b := s.b
	info := s.Info()
	codes := make([]packets.ReasonCode, len(filters))
	work := filters
	for _, e := range b.hookTable.clientUnsubscribe.load() {
		var f Flow
		work, f = e.fn(ctx, info, work)
		if f == Stop {
			return codes // EMQ 2.3: skip the unsubscribe, still UNSUBACK
		}
	}
	found := make(map[string]bool, len(work))
	if len(work) > 0 { // nil would mean every subscription
		for _, sb := range s.removeSubs(ctx, work) {
			found[sb.sub.Filter] = true
		}
	}
	for i, f := range filters {
		if len(work) == len(filters) {
			f = work[i] // a hook may have rewritten it
		}
		if !found[f] {
			codes[i] = packets.NoSubscriptionExisted
		}
	}
	return codes
}

// removeSubs removes the subscriptions with the given filters (every one
// when filters is nil) from the session and the tree, runs
// session.unsubscribed for each, and returns them.
func (s *Session) removeSubs(ctx context.Context, filters []string) []*subscriber {
	var removed []*subscriber
	s.mu.Lock()
	if filters == nil {
		for f, sb := range s.subs {
			delete(s.subs, f)
			removed = append(removed, sb)
		}
	}
	for _, f := range filters {
		if sb, ok := s.subs[f]; ok {
			delete(s.subs, f)
			removed = append(removed, sb)
		}
	}
	s.mu.Unlock()
	info := s.Info()
	for _, sb := range removed {
		s.b.subs.Remove(sb.inner, sb)
		for _, e := range s.b.hookTable.sessionUnsubscribed.load() {
			e.fn(ctx, info, sb.sub)
		}
	}
	return removed
}

// ---- outgoing messages ------------------------------------------------------

// deliver queues msg for this session under sub's options. qos is the
// granted QoS (already min(publish, subscription)); expireAt is when the
// message expires (unix nanoseconds, 0 for never); enc, if not nil, is
// the message's shared encoding (see pubCache).
func (s *Session) deliver(m *Message, qos byte, retain bool, subIDs []uint32, expireAt int64, enc *pubCache) {
	// om stays on the stack unless the message must wait in the queue or
	// in flight: a QoS 0 delivery to a connected client allocates nothing.
	om := outMsg{msg: m, qos: qos, retain: retain, subIDs: subIDs, expireAt: expireAt, enc: enc}
	var dropped *Message
	var reason DropReason
	queue := func() {
		if d := s.enqueue(om.onHeap()); d != nil {
			dropped, reason = d.msg, DropQueueFull
		}
	}
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return
	case expireAt != 0 && om.expired(time.Now().UnixNano()):
		dropped, reason = m, DropExpired
	case s.out != nil && !s.out.accepts(om):
		dropped, reason = m, DropTooLarge // [MQTT-3.1.2-25]
	case s.out == nil:
		if qos == 0 && s.b.opts.Session.DropQoS0 {
			dropped, reason = m, DropQoS0Offline
		} else {
			queue()
		}
	case s.queue.Len() > 0:
		queue()
	case qos == 0:
		if !s.out.sendPublish(om, false) {
			dropped, reason = m, DropWriteQueue
		}
	case s.inflightRoom():
		s.sendNew(om.onHeap())
	default:
		queue()
	}
	if dropped != nil && reason == DropQueueFull && s.out != nil && s.b.opts.Session.DisconnectOnQueueFull {
		s.out.kick(packets.QuotaExceeded, errQueueFull)
	}
	s.mu.Unlock()
	if dropped != nil {
		s.b.dropDelivery(s, dropped, reason)
	}
}

// onHeap returns a copy of om to keep in the queue or in flight.
func (om outMsg) onHeap() *outMsg {
	p := new(outMsg)
	*p = om
	return p
}

var errQueueFull = errors.New("message queue full")

// enqueue adds om to the queue, dropping the oldest QoS 0 message, or else
// the oldest message, when the queue is full. It returns the dropped one.
func (s *Session) enqueue(om *outMsg) (dropped *outMsg) {
	max := s.b.opts.Session.MaxQueueLen
	if max > 0 && s.queue.Len() >= max {
		idx := 0
		for i := 0; i < s.queue.Len(); i++ {
			if s.queue.At(i).qos == 0 {
				idx = i
				break
			}
		}
		dropped = s.queue.RemoveAt(idx)
	}
	s.queue.Push(om)
	return dropped
}

func (s *Session) inflightRoom() bool {
	max := s.b.opts.Session.MaxInflight
	// An MQTT 5 client's Receive Maximum bounds the window too [MQTT-3.3.4-9].
	if p := s.Info().Properties; p != nil && p.ReceiveMaximum != nil && *p.ReceiveMaximum > 0 &&
		(max < 0 || int(*p.ReceiveMaximum) < max) {
		max = int(*p.ReceiveMaximum)
	}
	return max < 0 || len(s.inflight) < max
}

// sendNew assigns a packet identifier to a QoS 1/2 message, records it in
// flight and hands it to the transport. s.mu is held and s.out is set.
func (s *Session) sendNew(om *outMsg) {
	om.id = s.allocID()
	om.sentAt = time.Now().UnixNano()
	s.inflight = append(s.inflight, om)
	if ids := s.inflightIDs; ids != nil {
		ids.set(om.id)
	}
	s.out.sendPublish(*om, false)
	s.armRetry()
}

// allocID returns a packet identifier not in use by an inflight message.
func (s *Session) allocID() uint16 {
	if s.inflightIDs == nil && len(s.inflight) >= idSetMin {
		s.inflightIDs = new(idSet)
		for _, om := range s.inflight {
			s.inflightIDs.set(om.id)
		}
	}
	for {
		s.nextID++
		if s.nextID == 0 {
			s.nextID = 1
		}
		if ids := s.inflightIDs; ids != nil {
			if !ids.has(s.nextID) {
				return s.nextID
			}
		} else if s.findInflight(s.nextID) < 0 {
			return s.nextID
		}
	}
}

// idSetMin is the inflight window from which allocID keeps an idSet rather
// than scanning the window for every new packet id.
const idSetMin = 16

// idSet is a set of packet identifiers.
type idSet [1024]uint64

func (m *idSet) has(id uint16) bool { return m[id>>6]&(1<<(id&63)) != 0 }
func (m *idSet) set(id uint16)      { m[id>>6] |= 1 << (id & 63) }
func (m *idSet) unset(id uint16)    { m[id>>6] &^= 1 << (id & 63) }

// removeInflight removes s.inflight[i].
func (s *Session) removeInflight(i int) {
	if ids := s.inflightIDs; ids != nil {
		ids.unset(s.inflight[i].id)
	}
	n := len(s.inflight) - 1
	switch {
	case n == 0:
		s.inflight[0] = nil
		s.inflight = s.inflight[:0]
		s.inflightIDs = nil
	case i == 0: // the common case, acknowledged in order: no copy
		s.inflight[0] = nil
		s.inflight = s.inflight[1:]
	default:
		copy(s.inflight[i:], s.inflight[i+1:])
		s.inflight[n] = nil
		s.inflight = s.inflight[:n]
	}
}

func (s *Session) findInflight(id uint16) int {
	for i, om := range s.inflight {
		if om.id == id {
			return i
		}
	}
	return -1
}

// fill moves queued messages to the transport while the inflight window has
// room. s.mu is held. It returns the messages handed over, and those dropped
// on the way because they expired or are too large for the client.
func (s *Session) fill() (drops []dropped) {
	var now int64
	for s.out != nil && s.queue.Len() > 0 {
		om, _ := s.queue.Peek()
		if om.expireAt != 0 {
			if now == 0 {
				now = time.Now().UnixNano()
			}
			if om.expired(now) { // [MQTT-3.3.2-5]
				s.queue.Pop()
				drops = append(drops, dropped{om.msg, DropExpired})
				continue
			}
		}
		if !s.out.accepts(*om) {
			s.queue.Pop()
			drops = append(drops, dropped{om.msg, DropTooLarge})
			continue
		}
		if om.qos > 0 && !s.inflightRoom() {
			break
		}
		if om.qos > 0 && len(s.inflight) >= 65535 {
			break
		}
		s.queue.Pop()
		if om.qos == 0 {
			if !s.out.sendPublish(*om, false) {
				continue
			}
		} else {
			s.sendNew(om)
		}
	}
	return drops
}

// report runs delivery.dropped for what fill returned; s.mu must not be
// held. (message.delivered runs on the transport, just before the write:
// see sink.)
func (s *Session) report(drops []dropped) {
	for _, d := range drops {
		s.b.dropDelivery(s, d.m, d.reason)
	}
}

// abandon drops the inflight messages ids that the transport could not
// send after all (expired or too large by the time they were written), so
// they do not hold the inflight window, and fills the window again.
func (s *Session) abandon(ids []uint16, reasons []DropReason) {
	s.mu.Lock()
	var drops []dropped
	for k, id := range ids {
		if i := s.findInflight(id); i >= 0 {
			drops = append(drops, dropped{s.inflight[i].msg, reasons[k]})
			s.removeInflight(i)
		}
	}
	more := s.fill()
	s.mu.Unlock()
	s.report(append(drops, more...))
}

// puback handles an acknowledgement of a QoS 1 message.
func (s *Session) puback(id uint16) bool { return s.complete(id, 1) }

// pubcomp handles the end of a QoS 2 exchange.
func (s *Session) pubcomp(id uint16) bool { return s.complete(id, 2) }

func (s *Session) complete(id uint16, qos byte) bool {
	s.mu.Lock()
	i := s.findInflight(id)
	if i < 0 || s.inflight[i].qos != qos || (qos == 2 && !s.inflight[i].rel) {
		s.mu.Unlock()
		return false
	}
	om := s.inflight[i]
	s.removeInflight(i)
	drops := s.fill()
	s.mu.Unlock()
	s.b.metrics.add(mMessagesAcked, 1)
	info := s.Info()
	for _, e := range s.b.hookTable.messageAcked.load() {
		e.fn(s.b.ctx, info, *om.msg)
	}
	s.report(drops)
	return true
}

// pubrec records the PUBREC of a QoS 2 message; the caller sends PUBREL.
func (s *Session) pubrec(id uint16) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.findInflight(id)
	if i < 0 || s.inflight[i].qos != 2 {
		return false
	}
	s.inflight[i].rel = true
	s.inflight[i].sentAt = time.Now().UnixNano()
	return true
}

// ---- incoming QoS 2 ---------------------------------------------------------

// receiveQoS2 records an incoming QoS 2 packet identifier. dup reports that
// it is already awaiting PUBREL (the message must not be routed again,
// [MQTT-4.3.3-9]); full reports that MaxAwaitingRel is reached.
func (s *Session) receiveQoS2(id uint16) (dup, full bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.awaitRel[id]; ok {
		return true, false
	}
	if max := s.b.opts.Session.MaxAwaitingRel; max > 0 && len(s.awaitRel) >= max {
		return false, true
	}
	if s.awaitRel == nil {
		s.awaitRel = make(map[uint16]int64)
	}
	s.awaitRel[id] = time.Now().UnixNano()
	s.armRetry()
	return false, false
}

// release handles PUBREL: it reports whether id was awaiting release.
func (s *Session) release(id uint16) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.awaitRel[id]; !ok {
		return false
	}
	delete(s.awaitRel, id)
	return true
}

// ---- timers -----------------------------------------------------------------

// armRetry starts the retry timer if it is not running. s.mu is held.
func (s *Session) armRetry() {
	if s.retryArmed || s.out == nil {
		return
	}
	s.retryArmed = true
	d := s.retryPeriod()
	if s.retryTimer == nil {
		s.retryTimer = time.AfterFunc(d, s.retry)
	} else {
		s.retryTimer.Reset(d)
	}
}

func (s *Session) retryPeriod() time.Duration {
	d := s.b.opts.Session.RetryInterval
	if a := s.b.opts.Session.AwaitRelTimeout; a < d {
		d = a
	}
	return d
}

// retry resends unacknowledged messages to 3.1/3.1.1 clients and releases
// incoming QoS 2 identifiers whose PUBREL never came.
func (s *Session) retry() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retryArmed = false
	if s.closed || s.out == nil {
		return
	}
	now := time.Now().UnixNano()
	if s.out.protoVersion() != packets.Version5 {
		limit := now - int64(s.b.opts.Session.RetryInterval)
		for _, om := range s.inflight {
			if om.sentAt > limit {
				continue
			}
			om.sentAt = now
			if om.rel {
				s.out.sendPubrel(om.id)
			} else {
				s.out.sendPublish(*om, true)
			}
			s.b.metrics.add(mMessagesRetried, 1)
		}
	}
	limit := now - int64(s.b.opts.Session.AwaitRelTimeout)
	for id, at := range s.awaitRel {
		if at <= limit {
			delete(s.awaitRel, id)
			s.b.metrics.add(mAwaitRelExpired, 1)
		}
	}
	if len(s.awaitRel) > 0 || (len(s.inflight) > 0 && s.out.protoVersion() != packets.Version5) {
		s.armRetry()
	}
}

// ---- connection lifecycle ---------------------------------------------------

// attach connects a transport to the session: everything in flight is sent
// again (with DUP), then the queue drains.
func (s *Session) attach(out sink) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		out.kick(packets.SessionTakenOver, ErrSessionClosed)
		return
	}
	s.out = out
	if s.expTimer != nil {
		s.expTimer.Stop()
		s.expTimer = nil
	}
	now := time.Now().UnixNano()
	var drops []dropped
	kept := s.inflight[:0]
	for _, om := range s.inflight {
		if !om.rel && !out.accepts(*om) {
			// The new connection accepts smaller packets than the old one.
			drops = append(drops, dropped{om.msg, DropTooLarge})
			continue
		}
		kept = append(kept, om)
		om.sentAt = now
		if om.rel {
			out.sendPubrel(om.id)
		} else {
			out.sendPublish(*om, true) // [MQTT-4.4.0-1]
		}
	}
	clear(s.inflight[len(kept):])
	s.inflight = kept
	s.inflightIDs = nil // allocID makes it again
	if len(s.inflight) > 0 || len(s.awaitRel) > 0 {
		s.armRetry()
	}
	more := s.fill()
	s.mu.Unlock()
	s.report(append(drops, more...))
}

// detach disconnects out from the session. A non-persistent session ends;
// a persistent one waits for its client until it expires.
func (s *Session) detach(out sink, reason error) {
	s.mu.Lock()
	if s.out != out || s.closed {
		s.mu.Unlock()
		return
	}
	s.out = nil
	if s.retryTimer != nil {
		s.retryTimer.Stop()
		s.retryArmed = false
	}
	if !s.persistent {
		s.mu.Unlock()
		s.b.terminate(s, reason)
		return
	}
	if s.expiry > 0 && s.expiry < maxExpiry {
		s.expTimer = time.AfterFunc(s.expiry, func() { s.b.expire(s) })
	}
	s.mu.Unlock()
}

// deferWill holds m, the will of the connection out that just ended, until
// its Will Delay Interval passes or the session ends, whichever comes first
// [MQTT-3.1.3-9]. It reports true when the will is due at once because the
// session has already ended; the caller publishes it then.
func (s *Session) deferWill(out sink, m Message, delay time.Duration) (now bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return true
	case s.out != out:
		// Another connection took the session over and resumed it before
		// the will was due: it is never sent [MQTT-3.1.3-9].
		return false
	}
	s.dropWillLocked()
	w := &m
	s.will = w
	s.willTimer = time.AfterFunc(delay, func() { s.fireWill(w) })
	return false
}

// fireWill publishes w when its delay has passed, unless a new connection
// or the end of the session took it first.
func (s *Session) fireWill(w *Message) {
	s.mu.Lock()
	if s.will != w {
		s.mu.Unlock()
		return
	}
	s.will, s.willTimer = nil, nil
	s.mu.Unlock()
	s.b.publish(s.b.ctx, *w)
}

// takeWill removes and returns the pending will, if any; the session is
// ending and the caller publishes it.
func (s *Session) takeWill() *Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.will
	s.dropWillLocked()
	return w
}

// dropWillLocked forgets the pending will: a new connection resumed the
// session in time. s.mu is held.
func (s *Session) dropWillLocked() {
	if s.willTimer != nil {
		s.willTimer.Stop()
	}
	s.will, s.willTimer = nil, nil
}

// maxExpiry means "never expires" (MQTT 5's 0xFFFFFFFF seconds).
const maxExpiry = time.Duration(0xFFFFFFFF) * time.Second

// shutdown stops the session's timers and marks it closed; it returns its
// subscriptions for removal from the tree and the transport still attached,
// if any. Called with s.mu not held.
func (s *Session) shutdown() (subs []*subscriber, out sink) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, nil
	}
	s.closed = true
	out, s.out = s.out, nil
	if s.retryTimer != nil {
		s.retryTimer.Stop()
	}
	if s.expTimer != nil {
		s.expTimer.Stop()
	}
	if s.willTimer != nil {
		s.willTimer.Stop() // the will, if any, waits for takeWill
	}
	subs = make([]*subscriber, 0, len(s.subs))
	for _, sb := range s.subs {
		subs = append(subs, sb)
	}
	s.subs = nil
	s.inflight = nil
	s.inflightIDs = nil
	s.queue.Clear()
	s.awaitRel = nil
	return subs, out
}

// counts returns the sizes of the session's queues, for introspection.
func (s *Session) counts() (subs, inflight, queued, awaiting int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.subs), len(s.inflight), s.queue.Len(), len(s.awaitRel)
}

// ---- the public, protocol-independent API -----------------------------------

// Delivery is a message delivered to a Session opened with Connect.
// For QoS 1 and 2, call Ack once the peer has acknowledged it; until then it
// counts against the inflight window and is delivered again when the
// client reconnects.
type Delivery struct {
	Message
	// Ack acknowledges the delivery. It is nil for QoS 0 and safe to call
	// more than once.
	Ack func()
}

// chanSink delivers a Session's messages to a channel through an unbounded
// internal queue, so the session never blocks on a slow reader.
type chanSink struct {
	s       *Session
	mu      sync.Mutex
	pending []Delivery
	signal  chan struct{}
	out     chan Delivery
	done    chan struct{}
	once    sync.Once
}

func (c *chanSink) sendPublish(om outMsg, dup bool) bool {
	m := *om.msg
	m.QoS = om.qos
	m.Retain = om.retain
	d := Delivery{Message: m}
	if om.qos > 0 {
		id, s := om.id, c.s
		var once sync.Once
		d.Ack = func() {
			once.Do(func() {
				if om.qos == 2 {
					s.pubrec(id)
					s.pubcomp(id)
				} else {
					s.puback(id)
				}
			})
		}
	}
	c.mu.Lock()
	c.pending = append(c.pending, d)
	c.mu.Unlock()
	select {
	case c.signal <- struct{}{}:
	default:
	}
	return true
}

func (c *chanSink) accepts(outMsg) bool            { return true }
func (c *chanSink) sendPubrel(uint16)              {}
func (c *chanSink) protoVersion() byte             { return packets.Version5 }
func (c *chanSink) kick(packets.ReasonCode, error) { c.stop() }
func (c *chanSink) stop()                          { c.once.Do(func() { close(c.done) }) }

// pump moves pending deliveries to the channel until the sink stops.
func (c *chanSink) pump() {
	defer close(c.out)
	for {
		c.mu.Lock()
		batch := c.pending
		c.pending = nil
		c.mu.Unlock()
		for _, d := range batch {
			c.s.b.delivered(c.s, &d.Message)
			select {
			case c.out <- d:
			case <-c.done:
				return
			}
		}
		select {
		case <-c.signal:
		case <-c.done:
			return
		}
	}
}

// Connect opens a session for a client that is not an MQTT connection: a
// gateway's client, or the host itself. It runs the same authentication
// chain, takeover and hooks as an MQTT CONNECT; c.CleanStart chooses between
// a new session and resuming an existing one. Messages arrive on
// Deliveries. A refused client gets an error wrapping ErrAuthFailed.
func (b *Broker) Connect(ctx context.Context, c *ClientInfo, password []byte) (*Session, error) {
	return b.connect(ctx, c, password, false)
}

// connect is Connect; a trusted client (the host's own subscriptions) skips
// authentication and is a superuser, so ACL never refuses it either.
func (b *Broker) connect(ctx context.Context, c *ClientInfo, password []byte, trusted bool) (*Session, error) {
	if b.closing.Load() {
		return nil, ErrBrokerClosed
	}
	info := *c
	if info.ClientID == "" {
		info.ClientID = b.newClientID()
	}
	if info.Protocol == "" {
		info.Protocol = "host"
	}
	if info.Listener == "" {
		info.Listener = "host"
	}
	if info.ProtoVersion == 0 {
		info.ProtoVersion = packets.Version5
	}
	info.ConnectedAt = time.Now()
	info.Superuser = trusted
	if !trusted {
		for _, e := range b.hookTable.clientConnect.load() {
			e.fn(ctx, &info)
		}
	}
	if !trusted && b.authenticate(ctx, &info, password) != Allow {
		b.runConnected(ctx, &info, packets.NotAuthorized)
		return nil, fmt.Errorf("%w: client %q", ErrAuthFailed, info.ClientID)
	}
	cs := &chanSink{signal: make(chan struct{}, 1), out: make(chan Delivery), done: make(chan struct{})}
	s, _ := b.openSession(ctx, &info, info.CleanStart, !info.CleanStart, b.opts.Session.Expiry)
	cs.s = s
	s.mu.Lock()
	s.ch = cs
	s.listed = !trusted
	s.mu.Unlock()
	if !b.goTracked(cs.pump) {
		close(cs.out)
	}
	if !trusted {
		b.runConnected(ctx, &info, packets.Success)
	}
	s.attach(cs)
	return s, nil
}

// Deliveries returns the channel of messages for a Session opened with
// Connect; it is closed when the session is closed or taken over. It is nil
// for sessions of MQTT connections.
func (s *Session) Deliveries() <-chan Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		return nil
	}
	return s.ch.out
}

// Publish publishes m as this session's client: the ACL is checked and
// message.publish runs. A denied publish returns an error and is counted.
func (s *Session) Publish(ctx context.Context, m Message) error {
	if s.isClosed() {
		return ErrSessionClosed
	}
	if err := topic.ValidateName(m.Topic); err != nil {
		return fmt.Errorf("broker: publish: %w", err)
	}
	if m.QoS > 2 {
		return fmt.Errorf("broker: publish: invalid QoS %d", m.QoS)
	}
	if rc := s.publish(ctx, m); rc.IsError() {
		return fmt.Errorf("broker: publish to %q: %s", m.Topic, rc)
	}
	return nil
}

// publish runs the ACL and routes m. It returns the reason code for a v5
// acknowledgement.
func (s *Session) publish(ctx context.Context, m Message) packets.ReasonCode {
	info := s.Info()
	m.From = info.ClientID
	m.Username = info.Username
	if s.b.authorizePublish(ctx, s, info, m.Topic) != Allow {
		s.b.log.Debug("publish denied by ACL", "client", info.ClientID, "topic", m.Topic)
		s.b.dropMessage(&m, DropNotAuthorized)
		return packets.NotAuthorized
	}
	if n := s.b.publish(ctx, m); n == 0 {
		return packets.NoMatchingSubscribers
	}
	return packets.Success
}

// Subscribe subscribes the session. It returns, per subscription, the
// granted QoS or a reason code of 0x80 and above for a refusal.
func (s *Session) Subscribe(ctx context.Context, subs ...Subscription) ([]packets.ReasonCode, error) {
	if s.isClosed() {
		return nil, ErrSessionClosed
	}
	codes, acc := s.subscribe(ctx, subs, false)
	s.afterSubscribe(ctx, acc)
	return codes, nil
}

// Unsubscribe removes subscriptions by filter.
func (s *Session) Unsubscribe(ctx context.Context, filters ...string) error {
	if s.isClosed() {
		return ErrSessionClosed
	}
	s.unsubscribe(ctx, filters)
	return nil
}

// Close ends the session's connection. A persistent session (CleanStart
// false) stays, with its subscriptions, until it expires or its client
// connects again; a clean one ends. reason is passed to the hooks.
func (s *Session) Close(reason error) error {
	s.mu.Lock()
	cs := s.ch
	s.mu.Unlock()
	if cs == nil {
		return errors.New("broker: Close is for sessions opened with Connect")
	}
	s.detach(cs, reason)
	cs.stop()
	s.mu.Lock()
	listed := s.listed
	s.mu.Unlock()
	if listed {
		for _, e := range s.b.hookTable.clientDisconnected.load() {
			e.fn(s.b.ctx, s.Info(), reason)
		}
	}
	return nil
}

func (s *Session) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}
