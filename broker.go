package broker

import (
	"context"
	crand "crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"iter"
	"log/slog"
	"math/rand/v2"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emqgo/broker/packets"
	"github.com/emqgo/broker/topic"
)

// Broker is an MQTT broker. Create one with New, serve connections with
// Serve, ListenAndServe, ServeConn or InProcessConn, and stop it with
// Shutdown or Close. All methods are safe for concurrent use.
type Broker struct {
	opts      Options
	log       *slog.Logger
	hookTable hookTable
	auth      chain[Authenticator]
	acl       chain[Authorizer]
	eauth     chain[EnhancedAuthenticator] // MQTT 5 enhanced authentication (auth_enhanced.go)
	subs      *topic.Tree[*subscriber]
	metrics   metrics
	gauges    gauges
	started   time.Time

	// ctx is cancelled when the broker closes; hooks fired outside a
	// connection receive it.
	ctx    context.Context
	cancel context.CancelFunc

	mu        sync.Mutex // guards the maps below; taken before Session.mu
	sessions  map[string]*Session
	conns     map[*conn]struct{}
	listeners map[net.Listener]struct{}

	gmu     sync.Mutex // guards gclosed and wg.Add
	gclosed bool
	wg      sync.WaitGroup

	parker       *parker // watches parked connections (park.go); guarded by gmu
	parkerFailed bool

	closing   atomic.Bool
	startOnce sync.Once
	msgSeq    atomic.Uint64
	hostSeq   atomic.Uint64
	shared    sync.Map // group key -> *sharedState

	plugins Plugins // the plugin registry (plugin.go)
	cli     cli     // commands, listeners and traces (command.go)
}

// New returns a broker configured by opts. It validates opts and applies
// the defaults to its own copy; it starts no goroutine and opens no socket.
func New(opts Options) (*Broker, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	o := opts.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	b := &Broker{
		opts:      o,
		log:       o.Logger,
		subs:      topic.NewTree[*subscriber](),
		started:   time.Now(),
		ctx:       ctx,
		cancel:    cancel,
		sessions:  make(map[string]*Session),
		conns:     make(map[*conn]struct{}),
		listeners: make(map[net.Listener]struct{}),
	}
	b.plugins.b = b
	b.registerCoreCommands()
	return b, nil
}

// Options returns the broker's options with the defaults applied.
func (b *Broker) Options() Options { return b.opts }

// Logger returns the broker's logger.
func (b *Broker) Logger() *slog.Logger { return b.log }

// Context returns a context that is cancelled when the broker closes.
func (b *Broker) Context() context.Context { return b.ctx }

// start runs the background work ($SYS) once, when the broker first serves.
func (b *Broker) start() {
	b.startOnce.Do(func() {
		if b.opts.SysInterval > 0 {
			b.goTracked(b.sysLoop)
		}
	})
}

// trackGo counts in b.wg a goroutine that the caller then starts, and that
// calls b.wg.Done when it ends. It refuses, returning false, once Shutdown
// waits. It saves goTracked's allocations on the connection paths.
func (b *Broker) trackGo() bool {
	b.gmu.Lock()
	if b.gclosed {
		b.gmu.Unlock()
		return false
	}
	b.wg.Add(1)
	b.gmu.Unlock()
	return true
}

// goTracked runs f on a new goroutine that Shutdown waits for. It refuses,
// returning false, once the broker is closed.
func (b *Broker) goTracked(f func()) bool {
	if !b.trackGo() {
		return false
	}
	go func() {
		defer b.wg.Done()
		f()
	}()
	return true
}

// ---- serving ----------------------------------------------------------------

// Serve accepts MQTT connections on l and serves each on its own
// goroutines. It blocks until l fails or the broker is shut down, and always
// returns a non-nil error: ErrBrokerClosed after Shutdown or Close.
func (b *Broker) Serve(l net.Listener) error {
	return b.serve(l, "mqtt:tcp:"+l.Addr().String())
}

func (b *Broker) serve(l net.Listener, name string) error {
	b.mu.Lock()
	if b.closing.Load() {
		b.mu.Unlock()
		l.Close()
		return ErrBrokerClosed
	}
	b.listeners[l] = struct{}{}
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.listeners, l)
		b.mu.Unlock()
		l.Close()
	}()
	b.start()
	var backoff time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if b.closing.Load() {
				return ErrBrokerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				b.log.Warn("accept failed; retrying", "listener", name, "err", err, "delay", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		if !b.trackGo() {
			nc.Close()
			return ErrBrokerClosed
		}
		go b.serveConnTracked(nc, name)
	}
}

// serveConnTracked is serveConn on a goroutine counted by trackGo.
func (b *Broker) serveConnTracked(nc net.Conn, name string) {
	if !b.serveConn(nc, name, true, true) {
		b.wg.Done() // a parked connection keeps the slot (park.go)
	}
}

// ListenTCP listens on the TCP address addr for MQTT connections. Unlike
// net.Listen, the connections it accepts send no TCP keep-alive probes:
// MQTT's own keep alive finds dead peers, as in EMQ and Mosquitto, and each
// accepted connection saves four setsockopt calls.
func ListenTCP(addr string) (net.Listener, error) {
	lc := net.ListenConfig{KeepAlive: -1}
	return lc.Listen(context.Background(), "tcp", addr)
}

// ListenAndServe listens on the TCP address addr (see ListenTCP) and calls
// Serve.
func (b *Broker) ListenAndServe(addr string) error {
	if b.closing.Load() {
		return ErrBrokerClosed
	}
	l, err := ListenTCP(addr)
	if err != nil {
		return err
	}
	return b.Serve(l)
}

// ListenAndServeTLS listens on addr for TLS connections configured by cfg
// and serves them. Set cfg.ClientAuth to verify client certificates; the
// connection state reaches access modules in ClientInfo.TLS.
func (b *Broker) ListenAndServeTLS(addr string, cfg *tls.Config) error {
	if b.closing.Load() {
		return ErrBrokerClosed
	}
	l, err := ListenTCP(addr)
	if err != nil {
		return err
	}
	return b.serve(tls.NewListener(l, cfg), "mqtt:ssl:"+l.Addr().String())
}

// ServeConn serves one MQTT connection that the caller accepted, such as a
// WebSocket adapter's stream, and returns when it ends.
func (b *Broker) ServeConn(nc net.Conn) error {
	return b.ServeConnNamed(nc, "mqtt:conn")
}

// ServeConnNamed is ServeConn with the listener name that ClientInfo.Listener
// will carry, e.g. "mqtt:ws:0.0.0.0:8083".
func (b *Broker) ServeConnNamed(nc net.Conn, listener string) error {
	if b.closing.Load() {
		nc.Close()
		return ErrBrokerClosed
	}
	b.gmu.Lock()
	if b.gclosed {
		b.gmu.Unlock()
		nc.Close()
		return ErrBrokerClosed
	}
	b.wg.Add(1)
	b.gmu.Unlock()
	defer b.wg.Done()
	b.start()
	b.serveConn(nc, listener, false, false)
	return nil
}

// InProcessConn returns the client end of an in-memory connection served by
// the broker, for tests and for clients living in the same process.
func (b *Broker) InProcessConn() (net.Conn, error) {
	if b.closing.Load() {
		return nil, ErrBrokerClosed
	}
	server, client := net.Pipe()
	b.start()
	if !b.goTracked(func() { b.serveConn(server, "inprocess", true, false) }) {
		server.Close()
		client.Close()
		return nil, ErrBrokerClosed
	}
	return client, nil
}

// Shutdown stops the broker gracefully: it closes the listeners, sends
// DISCONNECT (server shutting down) to MQTT 5 clients and closes every
// connection, waits for the broker's goroutines, unloads the plugins in the
// reverse of load order and ends every session. If ctx ends first, Shutdown
// closes what is left and returns ctx's error.
func (b *Broker) Shutdown(ctx context.Context) error {
	b.closeAll(packets.ServerShuttingDown)
	done := make(chan struct{})
	go func() {
		b.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		b.stopExtensions(ctx)
		b.endSessions()
		return nil
	case <-ctx.Done():
		b.forceClose()
		<-done
		b.stopExtensions(ctx)
		b.endSessions()
		return ctx.Err()
	}
}

// Close closes every listener and connection at once, without waiting for
// pending writes, and waits for the broker's goroutines to end.
func (b *Broker) Close() error {
	b.closeAll(packets.ServerShuttingDown)
	b.forceClose()
	b.wg.Wait()
	b.stopExtensions(context.Background())
	b.endSessions()
	return nil
}

func (b *Broker) closeAll(code packets.ReasonCode) {
	b.closing.Store(true)
	b.gmu.Lock()
	b.gclosed = true
	b.gmu.Unlock()
	b.stopParker()
	b.cancel()
	b.mu.Lock()
	ls := make([]net.Listener, 0, len(b.listeners))
	for l := range b.listeners {
		ls = append(ls, l)
	}
	cs := make([]*conn, 0, len(b.conns))
	for c := range b.conns {
		cs = append(cs, c)
	}
	var chans []*chanSink
	for _, s := range b.sessions {
		if s.ch != nil {
			chans = append(chans, s.ch)
		}
	}
	b.mu.Unlock()
	for _, l := range ls {
		l.Close()
	}
	for _, c := range cs {
		c.kick(code, ErrBrokerClosed)
	}
	for _, c := range chans {
		c.stop()
	}
}

func (b *Broker) forceClose() {
	b.mu.Lock()
	cs := make([]*conn, 0, len(b.conns))
	for c := range b.conns {
		cs = append(cs, c)
	}
	b.mu.Unlock()
	for _, c := range cs {
		c.nc.Close()
		c.wake()
	}
}

// endSessions stops every session's timers once the broker has stopped.
func (b *Broker) endSessions() {
	b.mu.Lock()
	ss := make([]*Session, 0, len(b.sessions))
	for _, s := range b.sessions {
		ss = append(ss, s)
	}
	clear(b.sessions)
	b.mu.Unlock()
	for _, s := range ss {
		s.shutdown()
	}
}

// ---- sessions ---------------------------------------------------------------

// openSession finds or creates the session for info.ClientID, taking it over
// from any connection that holds it. A clean start discards an existing
// session; persistent says whether the new or resumed session outlives its
// connection, for expiry. It returns the session, not yet attached to a
// transport, and whether an existing session was resumed.
func (b *Broker) openSession(ctx context.Context, info *ClientInfo, clean, persistent bool, expiry time.Duration) (*Session, bool) {
	var (
		oldOut    sink
		oldInfo   *ClientInfo
		discarded []*subscriber
		discard   bool
		resumed   bool
		oldWill   *Message
	)
	b.mu.Lock()
	s := b.sessions[info.ClientID]
	if s != nil {
		s.mu.Lock()
		oldInfo = s.Info()
		oldOut, s.out = s.out, nil
		if s.retryTimer != nil {
			s.retryTimer.Stop()
			s.retryArmed = false
		}
		if clean || !s.persistent || s.closed {
			discard = !s.closed
			s.mu.Unlock()
			if discard {
				discarded, _ = s.shutdown()
			}
			oldWill = s.takeWill() // the old session ends: its will is due [MQTT-3.1.3-9]
			s = nil
		} else {
			if s.expTimer != nil {
				s.expTimer.Stop()
				s.expTimer = nil
			}
			s.persistent, s.expiry = persistent, expiry
			s.info.Store(info)
			s.ch = nil
			s.dropWillLocked() // resumed in time: no will [MQTT-3.1.3-9]
			resumed = true
			s.mu.Unlock()
		}
	}
	if s == nil {
		s = newSession(b, info, true)
		s.persistent, s.expiry = persistent, expiry
		b.sessions[info.ClientID] = s
	}
	b.mu.Unlock()

	if oldOut != nil {
		oldOut.kick(packets.SessionTakenOver, errTakenOver)
		for _, e := range b.hookTable.sessionTakenOver.load() {
			e.fn(ctx, oldInfo)
		}
	}
	if oldWill != nil {
		b.publish(b.ctx, *oldWill)
	}
	if discard {
		for _, sb := range discarded {
			b.subs.Remove(sb.inner, sb)
		}
		for _, e := range b.hookTable.sessionDiscarded.load() {
			e.fn(ctx, oldInfo)
		}
		for _, e := range b.hookTable.sessionTerminated.load() {
			e.fn(ctx, oldInfo, errDiscarded)
		}
	}
	if resumed {
		for _, e := range b.hookTable.sessionResumed.load() {
			e.fn(ctx, info)
		}
	} else {
		b.gauges.sessionsMax.observe(b.sessionCount())
		for _, e := range b.hookTable.sessionCreated.load() {
			e.fn(ctx, info)
		}
	}
	return s, resumed
}

var (
	errTakenOver = errors.New("session taken over")
	errDiscarded = errors.New("session discarded")
	errExpired   = errors.New("session expired")
)

// terminate ends s for good.
func (b *Broker) terminate(s *Session, reason error) {
	b.mu.Lock()
	if b.sessions[s.id] == s {
		delete(b.sessions, s.id)
	}
	b.mu.Unlock()
	subs, out := s.shutdown()
	if out != nil {
		out.kick(packets.AdministrativeAction, reason)
	}
	for _, sb := range subs {
		b.subs.Remove(sb.inner, sb)
	}
	if w := s.takeWill(); w != nil {
		b.publish(b.ctx, *w) // the session ends before the Will Delay Interval [MQTT-3.1.3-9]
	}
	for _, e := range b.hookTable.sessionTerminated.load() {
		e.fn(b.ctx, s.Info(), reason)
	}
}

// expire ends a persistent session whose client did not come back in time.
func (b *Broker) expire(s *Session) {
	s.mu.Lock()
	live := s.out != nil || s.closed
	s.mu.Unlock()
	if !live {
		b.terminate(s, errExpired)
	}
}

func (b *Broker) sessionCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.sessions)
}

func (b *Broker) newClientID() string {
	var r [8]byte
	crand.Read(r[:])
	return "emqgo-" + hex.EncodeToString(r[:])
}

// ---- routing ----------------------------------------------------------------

// Publish publishes m from the host: message.publish runs, the ACL does not.
// QoS and Retain are honoured; From is left as given ("" normally).
func (b *Broker) Publish(ctx context.Context, m Message) error {
	if b.closing.Load() {
		return ErrBrokerClosed
	}
	if err := topic.ValidateName(m.Topic); err != nil {
		return fmt.Errorf("broker: publish: %w", err)
	}
	if m.QoS > 2 {
		return fmt.Errorf("broker: publish: invalid QoS %d", m.QoS)
	}
	b.publish(ctx, m)
	return nil
}

// publish runs message.publish and routes m; it returns the number of
// sessions the message was handed to.
func (b *Broker) publish(ctx context.Context, m Message) int {
	if m.ID == 0 {
		m.ID = b.msgSeq.Add(1)
	}
	if m.Timestamp.IsZero() {
		m.Timestamp = time.Now()
	}
	m, ok := b.hookTable.publish(ctx, m)
	if !ok {
		b.dropMessage(&m, DropHook)
		return 0
	}
	return b.route(&m)
}

// target is one session a message goes to, with the merged options of all
// its matching subscriptions.
type target struct {
	s      *Session
	qos    byte
	retain bool
	ids    []uint32
}

// route delivers m to every matching session, once per session, and to one
// member of each matching shared-subscription group.
func (b *Broker) route(m *Message) int {
	exp := expireAt(m)
	matches := b.subs.Match(m.Topic)
	if len(matches) == 0 {
		b.dropMessage(m, DropNoSubscribers)
		return 0
	}
	if len(matches) == 1 && matches[0].group == "" {
		sb := matches[0]
		if sb.sub.NoLocal && sb.s.id == m.From {
			b.dropMessage(m, DropNoSubscribers)
			return 0
		}
		t := target{s: sb.s}
		t.merge(sb, m)
		t.s.deliver(m, t.qos, t.retain, t.ids, exp, nil)
		return 1
	}
	tp := targetPool.Get().(*[]target)
	targets := (*tp)[:0]
	// A session appears once among the matches unless it is multi (see
	// Session.multi); those are merged by a scan, or a map when many.
	var multi []int
	var index map[*Session]int
	add := func(sb *subscriber) {
		if !sb.s.multi.Load() {
			targets = append(targets, target{s: sb.s})
			targets[len(targets)-1].merge(sb, m)
			return
		}
		i := -1
		if index != nil {
			if j, ok := index[sb.s]; ok {
				i = j
			}
		} else {
			for _, j := range multi {
				if targets[j].s == sb.s {
					i = j
					break
				}
			}
		}
		if i < 0 {
			targets = append(targets, target{s: sb.s})
			i = len(targets) - 1
			multi = append(multi, i)
			if index != nil {
				index[sb.s] = i
			} else if len(multi) > 8 {
				index = make(map[*Session]int)
				for _, j := range multi {
					index[targets[j].s] = j
				}
			}
		}
		targets[i].merge(sb, m)
	}
	var groups map[string][]*subscriber
	for _, sb := range matches {
		if sb.group != "" {
			if groups == nil {
				groups = make(map[string][]*subscriber)
			}
			k := sb.group + "\x00" + sb.inner
			groups[k] = append(groups[k], sb)
			continue
		}
		if sb.sub.NoLocal && sb.s.id == m.From {
			continue // [MQTT-3.8.3-3]
		}
		add(sb)
	}
	for k, members := range groups {
		add(b.pickShared(k, members, m))
	}
	var pc *pubCache
	if len(targets) > 1 {
		pc = new(pubCache)
	}
	for i := range targets {
		t := &targets[i]
		t.s.deliver(m, t.qos, t.retain, t.ids, exp, pc)
	}
	n := len(targets)
	if n == 0 {
		b.dropMessage(m, DropNoSubscribers)
	}
	if cap(targets) <= 4096 {
		clear(targets)
		*tp = targets[:0]
		targetPool.Put(tp)
	}
	return n
}

// targetPool recycles route's per-message target lists.
var targetPool = sync.Pool{New: func() any { t := make([]target, 0, 16); return &t }}

// merge folds one matching subscription into t.
func (t *target) merge(sb *subscriber, m *Message) {
	q := min(m.QoS, sb.sub.QoS)
	t.qos = max(t.qos, q)
	if sb.sub.RetainAsPublished && m.Retain && sb.group == "" {
		t.retain = true // [MQTT-3.3.1-12]; otherwise 0 [MQTT-3.3.1-9]
	}
	if sb.sub.ID != 0 {
		t.ids = append(t.ids, sb.sub.ID)
	}
}

type sharedState struct {
	mu     sync.Mutex
	next   int
	sticky *Session
}

// pickShared chooses the member of a shared group that gets m, preferring
// members that are connected.
func (b *Broker) pickShared(key string, members []*subscriber, m *Message) *subscriber {
	if len(members) == 1 {
		return members[0]
	}
	online := make([]*subscriber, 0, len(members))
	for _, sb := range members {
		sb.s.mu.Lock()
		on := sb.s.out != nil
		sb.s.mu.Unlock()
		if on {
			online = append(online, sb)
		}
	}
	if len(online) > 0 {
		members = online
	}
	// Sort for stable round robin and hashing: the tree's order is not.
	sort.Slice(members, func(i, j int) bool { return members[i].s.id < members[j].s.id })
	switch b.opts.SharedStrategy {
	case "round_robin":
		st := b.sharedState(key)
		st.mu.Lock()
		st.next++
		i := st.next % len(members)
		st.mu.Unlock()
		return members[i]
	case "sticky":
		st := b.sharedState(key)
		st.mu.Lock()
		defer st.mu.Unlock()
		for _, sb := range members {
			if sb.s == st.sticky {
				return sb
			}
		}
		sb := members[rand.IntN(len(members))]
		st.sticky = sb.s
		return sb
	case "hash":
		h := fnv.New32a()
		h.Write([]byte(m.From))
		return members[int(h.Sum32()%uint32(len(members)))]
	}
	return members[rand.IntN(len(members))]
}

func (b *Broker) sharedState(key string) *sharedState {
	if v, ok := b.shared.Load(key); ok {
		return v.(*sharedState)
	}
	v, _ := b.shared.LoadOrStore(key, &sharedState{})
	return v.(*sharedState)
}

// Deliver sends m to the session of clientID as a retained message matching
// sub: the RETAIN flag stays set and the QoS is min(m.QoS, sub.QoS). It is
// what a retainer calls from session.subscribed. An MQTT 5 Message Expiry
// Interval in m counts from now: the caller has already lowered it by the
// time the message waited [MQTT-3.3.2-6].
func (b *Broker) Deliver(clientID string, sub Subscription, m Message) error {
	b.mu.Lock()
	s := b.sessions[clientID]
	b.mu.Unlock()
	if s == nil {
		return ErrNotConnected
	}
	var ids []uint32
	if sub.ID != 0 {
		ids = []uint32{sub.ID}
	}
	var exp int64
	if p := m.Properties; p != nil && p.MessageExpiry != nil && *p.MessageExpiry > 0 {
		exp = time.Now().Add(time.Duration(*p.MessageExpiry) * time.Second).UnixNano()
	}
	s.deliver(&m, min(m.QoS, sub.QoS), true, ids, exp, nil)
	return nil
}

func (b *Broker) delivered(s *Session, m *Message) {
	hs := b.hookTable.messageDelivered.load()
	if len(hs) == 0 {
		return
	}
	info := s.Info()
	for _, e := range hs {
		e.fn(b.ctx, info, *m)
	}
}

func (b *Broker) dropMessage(m *Message, reason DropReason) {
	b.metrics.add(mMessagesDropped, 1)
	for _, e := range b.hookTable.messageDropped.load() {
		e.fn(b.ctx, *m, reason)
	}
}

func (b *Broker) dropDelivery(s *Session, m *Message, reason DropReason) {
	b.metrics.add(mDeliveriesDropped, 1)
	hs := b.hookTable.deliveryDropped.load()
	if len(hs) == 0 {
		return
	}
	info := s.Info()
	for _, e := range hs {
		e.fn(b.ctx, info, *m, reason)
	}
}

func (b *Broker) runConnected(ctx context.Context, info *ClientInfo, code packets.ReasonCode) {
	for _, e := range b.hookTable.clientConnected.load() {
		e.fn(ctx, info, code)
	}
}

// ---- host subscriptions -----------------------------------------------------

// Subscribe subscribes the host to filter at qos; fn receives each matching
// message, one at a time and in order, on a goroutine of the broker. The
// subscription is a full session (its id starts with "$host/"), so QoS 1
// and 2 are acknowledged after fn returns, and shared filters
// ("$share/g/...") work. Call unsubscribe to end it.
func (b *Broker) Subscribe(ctx context.Context, filter string, qos byte, fn func(context.Context, Message)) (unsubscribe func(), err error) {
	if qos > 2 {
		return nil, fmt.Errorf("broker: subscribe: invalid QoS %d", qos)
	}
	if err := topic.ValidateFilter(filter); err != nil {
		return nil, fmt.Errorf("broker: subscribe: %w", err)
	}
	id := fmt.Sprintf("$host/%d", b.hostSeq.Add(1))
	s, err := b.connect(ctx, &ClientInfo{ClientID: id, Listener: "host", Protocol: "host", CleanStart: true, Superuser: true}, nil, true)
	if err != nil {
		return nil, err
	}
	// The host is trusted: mark its session superuser so ACL never refuses it.
	info := *s.Info()
	info.Superuser = true
	s.info.Store(&info)
	codes, _ := s.Subscribe(ctx, Subscription{Filter: filter, QoS: qos})
	if len(codes) != 1 || codes[0].IsError() {
		s.Close(nil)
		return nil, fmt.Errorf("broker: subscribe %q: %s", filter, codes[0])
	}
	ch := s.Deliveries()
	if !b.goTracked(func() {
		for d := range ch {
			fn(b.ctx, d.Message)
			if d.Ack != nil {
				d.Ack()
			}
		}
	}) {
		s.Close(ErrBrokerClosed)
		return nil, ErrBrokerClosed
	}
	var once sync.Once
	return func() { once.Do(func() { s.Close(nil) }) }, nil
}

// ---- introspection ----------------------------------------------------------

// Clients returns the clients connected now, MQTT and others.
func (b *Broker) Clients() iter.Seq[*ClientInfo] {
	b.mu.Lock()
	infos := make([]*ClientInfo, 0, len(b.sessions))
	for _, s := range b.sessions {
		s.mu.Lock()
		on := s.out != nil && s.listed
		s.mu.Unlock()
		if on {
			infos = append(infos, s.Info())
		}
	}
	b.mu.Unlock()
	sort.Slice(infos, func(i, j int) bool { return infos[i].ClientID < infos[j].ClientID })
	return func(yield func(*ClientInfo) bool) {
		for _, c := range infos {
			if !yield(c) {
				return
			}
		}
	}
}

// Client returns the info of the connected client clientID.
func (b *Broker) Client(clientID string) (*ClientInfo, bool) {
	s := b.session(clientID)
	if s == nil {
		return nil, false
	}
	s.mu.Lock()
	on := s.out != nil
	s.mu.Unlock()
	return s.Info(), on
}

// SessionInfo describes a session for introspection.
type SessionInfo struct {
	ClientID      string
	Connected     bool
	Persistent    bool
	Subscriptions int
	Inflight      int
	Queued        int
	AwaitingRel   int
	CreatedAt     time.Time
}

// Sessions returns every session, connected or not, sorted by client id.
func (b *Broker) Sessions() []SessionInfo {
	b.mu.Lock()
	ss := make([]*Session, 0, len(b.sessions))
	for _, s := range b.sessions {
		s.mu.Lock()
		listed := s.listed
		s.mu.Unlock()
		if listed {
			ss = append(ss, s)
		}
	}
	b.mu.Unlock()
	out := make([]SessionInfo, 0, len(ss))
	for _, s := range ss {
		subs, infl, q, aw := s.counts()
		s.mu.Lock()
		si := SessionInfo{ClientID: s.id, Connected: s.out != nil, Persistent: s.persistent,
			Subscriptions: subs, Inflight: infl, Queued: q, AwaitingRel: aw, CreatedAt: s.Info().ConnectedAt}
		s.mu.Unlock()
		out = append(out, si)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ClientID < out[j].ClientID })
	return out
}

func (b *Broker) session(clientID string) *Session {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sessions[clientID]
}

// Subscriptions returns the subscriptions of the session clientID.
func (b *Broker) Subscriptions(clientID string) []Subscription {
	s := b.session(clientID)
	if s == nil {
		return nil
	}
	subs := s.Subscriptions()
	sort.Slice(subs, func(i, j int) bool { return subs[i].Filter < subs[j].Filter })
	return subs
}

// Kick disconnects the client clientID (MQTT 5 clients get DISCONNECT with
// reason administrative action). Its session stays if it is persistent.
func (b *Broker) Kick(ctx context.Context, clientID string) error {
	s := b.session(clientID)
	if s == nil {
		return fmt.Errorf("%w: %q", ErrNotConnected, clientID)
	}
	s.mu.Lock()
	out := s.out
	s.mu.Unlock()
	if out == nil {
		return fmt.Errorf("%w: %q", ErrNotConnected, clientID)
	}
	if _, ok := out.(*chanSink); ok {
		return s.Close(errKicked)
	}
	out.kick(packets.AdministrativeAction, errKicked)
	return nil
}

var errKicked = errors.New("kicked")
