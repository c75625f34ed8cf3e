package retainer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/topic"
)

// Storage types for Config.StorageType.
const (
	// StorageRAM keeps retained messages in memory only (EMQ: ram_copies).
	StorageRAM = "ram"
	// StorageDisc keeps them in memory and in a bbolt file, <Dir>/retainer.db,
	// so they survive a restart (EMQ: disc_copies).
	StorageDisc = "disc"
)

// FileName is the name of the bbolt file in Config.Dir for disc storage.
const FileName = "retainer.db"

// Config configures a Retainer. Its conf tags are EMQ's
// etc/plugins/emq_mod_retainer.conf keys without the "module.retainer."
// prefix. Start from DefaultConfig: the zero Config keeps nothing out (no
// message or size limit) but is otherwise valid.
type Config struct {
	// StorageType is StorageRAM ("ram", also the meaning of "") or
	// StorageDisc ("disc").
	StorageType string `conf:"storage_type"`
	// Dir is the directory of the disc storage file, FileName. It is
	// required for disc storage and created if missing. EMQ kept it in
	// its mnesia directory; emqd sets it to its data directory.
	Dir string `conf:"dir"`
	// MaxMessageNum bounds the number of retained messages; a retained
	// publish to a new topic beyond it is not stored (it is still routed).
	// 0 means unlimited.
	MaxMessageNum int `conf:"max_message_num,inf0"`
	// MaxPayloadSize is the largest payload stored, in bytes; a larger
	// retained publish is not stored (it is still routed, and any message
	// already retained on its topic stays). 0 means unlimited.
	MaxPayloadSize int `conf:"max_payload_size,size,inf0"`
	// ExpiredAfter is how long a retained message is kept after it was
	// published; 0 means for ever. EMQ writes a number of seconds. An
	// MQTT 5 Message Expiry Interval, when shorter, applies too.
	ExpiredAfter time.Duration `conf:"expired_after,unit=s"`
}

// DefaultConfig returns EMQ 2.0's defaults: ram storage, 100000 messages,
// 64KB payloads, no expiry.
func DefaultConfig() Config {
	return Config{StorageType: StorageRAM, MaxMessageNum: 100000, MaxPayloadSize: 64 << 10}
}

// Validate reports every problem with c, joined with errors.Join.
func (c Config) Validate() error {
	var errs []error
	switch c.StorageType {
	case "", StorageRAM:
	case StorageDisc:
		if c.Dir == "" {
			errs = append(errs, errors.New("retainer: disc storage needs Dir"))
		}
	default:
		errs = append(errs, fmt.Errorf("retainer: storage_type %q is not ram or disc", c.StorageType))
	}
	if c.MaxMessageNum < 0 {
		errs = append(errs, fmt.Errorf("retainer: max_message_num %d is negative", c.MaxMessageNum))
	}
	if c.MaxPayloadSize < 0 {
		errs = append(errs, fmt.Errorf("retainer: max_payload_size %d is negative", c.MaxPayloadSize))
	}
	if c.ExpiredAfter < 0 {
		errs = append(errs, fmt.Errorf("retainer: expired_after %v is negative", c.ExpiredAfter))
	}
	return errors.Join(errs...)
}

// ErrAttached is returned by Attach when the Retainer is already attached
// to a broker.
var ErrAttached = errors.New("retainer: already attached")

// entry is one retained message. It is never modified once in the index.
type entry struct {
	msg      broker.Message
	expireAt int64 // unix nanoseconds; 0 = never
}

func (e *entry) expired(now int64) bool { return e.expireAt != 0 && e.expireAt <= now }

// Retainer stores retained messages and delivers them to new
// subscriptions: EMQ's emq_mod_retainer. Create one with New and attach it
// to a broker with Attach. All methods are safe for concurrent use.
type Retainer struct {
	cfg   Config
	index *topic.Retained[*entry]

	// mu serializes changes to the index with the bookkeeping below.
	mu       sync.Mutex
	expiring int                 // entries with an expiry time
	dirty    map[string]struct{} // topics to write to disc
	cleared  bool                // disc bucket to empty before writing dirty
	st       *store              // nil for ram, or while detached

	amu      sync.Mutex // guards attached
	attached bool
	log      atomic.Pointer[slog.Logger]
	kick     chan struct{}
}

// New returns a Retainer configured by cfg. It validates cfg and opens
// nothing: disc storage is opened, and loaded, by Attach.
func New(cfg Config) (*Retainer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.StorageType == "" {
		cfg.StorageType = StorageRAM
	}
	r := &Retainer{cfg: cfg, index: topic.NewRetained[*entry](),
		dirty: make(map[string]struct{}), kick: make(chan struct{}, 1)}
	r.log.Store(slog.New(slog.DiscardHandler))
	return r, nil
}

// Config returns the retainer's configuration.
func (r *Retainer) Config() Config { return r.cfg }

// Priority is the message.publish hook priority of the retainer: below the
// default 0, so that hooks that rewrite messages (emq_mod_rewrite) or drop
// them run first and the retainer stores what is actually published.
const Priority = -1000

// Attach registers the retainer's hooks on b: message.publish stores or
// deletes retained messages, session.subscribed delivers them. With disc
// storage it opens <Dir>/retainer.db and loads every message from it
// first. It installs Len as b's retained-message counter and starts a
// goroutine that purges expired messages and writes to disc; the goroutine
// ends on detach or when b closes.
//
// detach undoes all of it and closes the disc file, after writing what is
// pending; it is idempotent. A detached Retainer keeps its messages in
// memory and may be attached again.
func (r *Retainer) Attach(b *broker.Broker) (detach func(), err error) {
	r.amu.Lock()
	defer r.amu.Unlock()
	if r.attached {
		return nil, ErrAttached
	}
	log := b.Logger().With("module", "retainer")
	r.log.Store(log)
	if r.cfg.StorageType == StorageDisc {
		st, err := openStore(r.cfg.Dir)
		if err != nil {
			return nil, err
		}
		if err := r.load(st); err != nil {
			st.close()
			return nil, err
		}
		r.mu.Lock()
		r.st = st
		r.mu.Unlock()
	}
	r.attached = true
	unPub := broker.On(b, broker.MessagePublishHook, r.onPublish, broker.Priority(Priority), broker.Named("retainer"))
	unSub := broker.On(b, broker.SessionSubscribedHook, func(ctx context.Context, c *broker.ClientInfo, sub broker.Subscription, isNew bool) {
		r.onSubscribed(b, c, sub, isNew)
	}, broker.Named("retainer"))
	b.SetRetainedCounter(r.Len)
	stop, done := make(chan struct{}), make(chan struct{})
	go r.loop(b.Context(), stop, done)
	return sync.OnceFunc(func() {
		unPub()
		unSub()
		b.SetRetainedCounter(nil)
		close(stop)
		<-done
		r.flush()
		r.amu.Lock()
		defer r.amu.Unlock()
		r.mu.Lock()
		st := r.st
		r.st = nil
		clear(r.dirty)
		r.cleared = false
		r.mu.Unlock()
		if st != nil {
			if err := st.close(); err != nil {
				log.Error("closing disc storage", "err", err)
			}
		}
		r.attached = false
	}), nil
}

// load replaces the index with the messages in st, dropping expired ones.
func (r *Retainer) load(st *store) error {
	now := time.Now().UnixNano()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.removeAllLocked()
	var stale []string
	err := st.each(func(name string, e *entry) {
		if e.expired(now) {
			stale = append(stale, name)
			return
		}
		r.setLocked(name, e)
	})
	if err != nil {
		return err
	}
	if len(stale) > 0 {
		return st.write(false, stale, func(string) (*entry, bool) { return nil, false })
	}
	return nil
}

// ---- hooks -------------------------------------------------------------------

// onPublish stores, replaces or deletes the retained message of m's topic.
// The message always goes on to be routed.
func (r *Retainer) onPublish(_ context.Context, m broker.Message) (broker.Message, broker.Flow) {
	if m.Retain {
		r.retain(m)
	}
	return m, broker.Continue
}

func (r *Retainer) retain(m broker.Message) {
	if len(m.Payload) == 0 {
		// MQTT 3.1.1 [MQTT-3.3.1-10], [MQTT-3.3.1-11]; MQTT 5 [MQTT-3.3.1-6],
		// [MQTT-3.3.1-7]: an empty retained message removes the retained
		// message of its topic, is not stored, and is routed as usual.
		r.Delete(m.Topic)
		return
	}
	if max := r.cfg.MaxPayloadSize; max > 0 && len(m.Payload) > max {
		r.log.Load().Warn("cannot retain message: payload too big", "topic", m.Topic, "size", len(m.Payload), "max_payload_size", max)
		return
	}
	now := time.Now()
	ts := m.Timestamp
	if ts.IsZero() {
		ts = now
	}
	var exp time.Time
	if r.cfg.ExpiredAfter > 0 {
		exp = ts.Add(r.cfg.ExpiredAfter)
	}
	if p := m.Properties; p != nil && p.MessageExpiry != nil {
		if e := ts.Add(time.Duration(*p.MessageExpiry) * time.Second); exp.IsZero() || e.Before(exp) {
			exp = e
		}
	}
	if !exp.IsZero() && !exp.After(now) {
		// Expired already: it replaces the old message and is gone.
		r.Delete(m.Topic)
		return
	}
	// Keep a copy: the broker shares Payload and Properties with subscribers
	// and a publisher's hooks could replace them; the retained copy must not
	// change after it is stored.
	m.Payload = bytes.Clone(m.Payload)
	m.Properties = m.Properties.Clone()
	m.Retain = true
	m.Timestamp = ts
	e := &entry{msg: m}
	if !exp.IsZero() {
		e.expireAt = exp.UnixNano()
	}
	r.mu.Lock()
	if max := r.cfg.MaxMessageNum; max > 0 && r.index.Len() >= max {
		if _, ok := r.index.Get(m.Topic); !ok {
			r.mu.Unlock()
			r.log.Load().Warn("cannot retain message: store is full", "topic", m.Topic, "max_message_num", max)
			return
		}
	}
	r.setLocked(m.Topic, e)
	r.mu.Unlock()
	r.signal()
}

// onSubscribed delivers the retained messages matching a new subscription.
func (r *Retainer) onSubscribed(b *broker.Broker, c *broker.ClientInfo, sub broker.Subscription, isNew bool) {
	if _, _, shared := topic.ParseShared(sub.Filter); shared {
		// MQTT 5 §4.8.2: retained messages are not sent to the session when
		// it establishes a shared subscription ($queue/ is EMQ's form of it).
		return
	}
	switch sub.RetainHandling {
	case 1: // [MQTT-3.3.1-10]: only for a subscription that did not exist
		if !isNew {
			return
		}
	case 2: // [MQTT-3.3.1-11]: never
		return
	}
	// [MQTT-3.3.1-9]
	now := time.Now()
	for _, e := range r.match(sub.Filter, now) {
		if err := b.Deliver(c.ClientID, sub, e.deliverable(now)); err != nil {
			return
		}
	}
}

// match returns the entries matching filter (without a shared-subscription
// prefix) that have not expired at now.
func (r *Retainer) match(filter string, now time.Time) []*entry {
	var out []*entry
	n := now.UnixNano()
	// Collect under the index's read lock; deliver after it is released.
	r.index.Match(filter, func(_ string, e *entry) bool {
		if !e.expired(n) {
			out = append(out, e)
		}
		return true
	})
	return out
}

// deliverable returns the message to send at now: an MQTT 5 Message Expiry
// Interval is lowered by the time the message has waited [MQTT-3.3.2-6].
func (e *entry) deliverable(now time.Time) broker.Message {
	m := e.msg
	if p := m.Properties; p != nil && p.MessageExpiry != nil {
		waited := uint32(max(now.Sub(m.Timestamp), 0) / time.Second)
		left := uint32(1)
		if *p.MessageExpiry > waited {
			left = *p.MessageExpiry - waited
		}
		if left != *p.MessageExpiry {
			p = p.Clone()
			p.MessageExpiry = &left
			m.Properties = p
		}
	}
	return m
}

// ---- index bookkeeping -------------------------------------------------------

// setLocked stores e under name; r.mu is held.
func (r *Retainer) setLocked(name string, e *entry) {
	if old, ok := r.index.Get(name); ok && old.expireAt != 0 {
		r.expiring--
	}
	if e.expireAt != 0 {
		r.expiring++
	}
	r.index.Set(name, e)
	r.markLocked(name)
}

// deleteLocked removes name; r.mu is held.
func (r *Retainer) deleteLocked(name string) bool {
	old, ok := r.index.Get(name)
	if !ok {
		return false
	}
	if old.expireAt != 0 {
		r.expiring--
	}
	r.index.Delete(name)
	r.markLocked(name)
	return true
}

// removeAllLocked empties the index and the disc bucket; r.mu is held.
func (r *Retainer) removeAllLocked() int {
	var names []string
	r.index.Walk(func(name string, _ *entry) bool {
		names = append(names, name)
		return true
	})
	for _, name := range names {
		r.index.Delete(name)
	}
	r.expiring = 0
	clear(r.dirty)
	if r.st != nil {
		r.cleared = true
	}
	return len(names)
}

func (r *Retainer) markLocked(name string) {
	if r.st != nil {
		r.dirty[name] = struct{}{}
	}
}

// signal wakes the background loop to write to disc.
func (r *Retainer) signal() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// ---- public API --------------------------------------------------------------

// Len returns the number of retained messages, expired ones not yet purged
// included. It is the broker's retained/count stat.
func (r *Retainer) Len() int { return r.index.Len() }

// Get returns the retained message of the topic name, if there is one and
// it has not expired.
func (r *Retainer) Get(name string) (broker.Message, bool) {
	e, ok := r.index.Get(name)
	now := time.Now()
	if !ok || e.expired(now.UnixNano()) {
		return broker.Message{}, false
	}
	return e.deliverable(now), true
}

// Topics returns the topic names of the retained messages, sorted.
func (r *Retainer) Topics() []string {
	var names []string
	r.index.Walk(func(name string, _ *entry) bool {
		names = append(names, name)
		return true
	})
	slices.Sort(names)
	return names
}

// Match returns the unexpired retained messages whose topics match the
// topic filter, as a new subscription to it would receive them, in no
// particular order. A shared-subscription filter matches nothing.
func (r *Retainer) Match(filter string) []broker.Message {
	if _, _, shared := topic.ParseShared(filter); shared || topic.ValidateFilter(filter) != nil {
		return nil
	}
	now := time.Now()
	es := r.match(filter, now)
	if len(es) == 0 {
		return nil
	}
	out := make([]broker.Message, len(es))
	for i, e := range es {
		out[i] = e.deliverable(now)
	}
	return out
}

// Delete removes the retained message of the topic name and reports
// whether there was one.
func (r *Retainer) Delete(name string) bool {
	r.mu.Lock()
	ok := r.deleteLocked(name)
	r.mu.Unlock()
	if ok {
		r.signal()
	}
	return ok
}

// Clean removes every retained message (EMQ's "retainer clean") and
// returns how many there were.
func (r *Retainer) Clean() int {
	r.mu.Lock()
	n := r.removeAllLocked()
	r.mu.Unlock()
	r.signal()
	return n
}

// ---- background work ---------------------------------------------------------

// sweepPeriod is how often expired messages are purged: the configured
// expiry, clamped to [1s, 1m]. Expired messages are never delivered in
// between; the sweep only frees them.
func (r *Retainer) sweepPeriod() time.Duration {
	d := time.Minute
	if a := r.cfg.ExpiredAfter; a > 0 && a < d {
		d = max(a, time.Second)
	}
	return d
}

// loop purges expired messages and writes changes to disc until stop is
// closed or the broker closes (ctx), so that a retainer that is never
// detached does not outlive its broker's goroutines; then it writes what
// is pending and closes done. detach writes what came in after it.
func (r *Retainer) loop(ctx context.Context, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(r.sweepPeriod())
	defer t.Stop()
	for {
		select {
		case <-r.kick:
		case <-t.C:
			r.sweep()
		case <-stop:
			r.flush()
			return
		case <-ctx.Done():
			r.flush()
			return
		}
		r.flush()
	}
}

// sweep removes the expired messages.
func (r *Retainer) sweep() {
	r.mu.Lock()
	n := r.expiring
	r.mu.Unlock()
	if n == 0 {
		return
	}
	now := time.Now().UnixNano()
	var stale []string
	r.index.Walk(func(name string, e *entry) bool {
		if e.expired(now) {
			stale = append(stale, name)
		}
		return true
	})
	if len(stale) == 0 {
		return
	}
	r.mu.Lock()
	for _, name := range stale {
		// It may have been replaced since the walk.
		if e, ok := r.index.Get(name); ok && e.expired(now) {
			r.deleteLocked(name)
		}
	}
	r.mu.Unlock()
	r.log.Load().Debug("purged expired retained messages", "count", len(stale))
}

// flush writes the topics changed since the last flush to disc, each as
// the index has it now; a failed write is retried at the next flush.
func (r *Retainer) flush() {
	r.mu.Lock()
	st, cleared := r.st, r.cleared
	if st == nil || (len(r.dirty) == 0 && !cleared) {
		r.mu.Unlock()
		return
	}
	names := make([]string, 0, len(r.dirty))
	for name := range r.dirty {
		names = append(names, name)
	}
	clear(r.dirty)
	r.cleared = false
	r.mu.Unlock()
	err := st.write(cleared, names, r.index.Get)
	if err != nil {
		r.log.Load().Error("writing retained messages to disc; will retry", "err", err, "topics", len(names))
		r.mu.Lock()
		r.cleared = r.cleared || cleared
		for _, name := range names {
			r.dirty[name] = struct{}{}
		}
		r.mu.Unlock()
	}
}
