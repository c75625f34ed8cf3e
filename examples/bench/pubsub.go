package main

import (
	"errors"
	"fmt"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emqgo/broker/packets"
)

// stalledRcvBuf is the receive buffer (SO_RCVBUF) of a -stalled
// subscriber's socket: small, so that the broker's side fills fast.
const stalledRcvBuf = 4 << 10

// fillSize is the payload of the messages that fill the stalled
// subscribers' buffers: well below the 64 KiB packet limit of EMQ's default
// configuration.
const fillSize = 32 << 10

// run is one execution of a publish/subscribe scenario.
type run struct {
	cfg  *config
	clk  clock
	tag  uint16
	dial dialer

	pubs []*publisher
	subs []*subscriber
	// stalled are the -stalled subscribers' connections: never read after
	// SUBACK, and no part of any route.
	stalled []net.Conn

	t0     int64         // when publishing starts, on clk
	warm   int64         // measurements start here
	stopAt int64         // publishers stop sending here (math.MaxInt64 with -count only)
	stop   chan struct{} // closed at stopAt
	// closing is set once the run closes its connections, so readers do not
	// report the resulting errors.
	closing atomic.Bool

	errMu  sync.Mutex
	errs   []string
	nerrs  int
	stalls atomic.Uint64
}

func (r *run) fail(err error) {
	if r.closing.Load() {
		return
	}
	r.errMu.Lock()
	defer r.errMu.Unlock()
	r.nerrs++
	if len(r.errs) < 5 {
		r.errs = append(r.errs, err.Error())
	}
}

// publisher is one publishing connection.
type publisher struct {
	run    *run
	id     uint32
	topic  string
	nc     net.Conn
	fr     *frameReader
	routes []*route // every subscriber that receives this publisher

	wakeC  chan struct{}
	parked atomic.Bool

	// QoS 1 and 2 state, shared between the publishing goroutine and the
	// connection's reader.
	inflight atomic.Int64
	ids      idSet
	acked    atomic.Uint64

	// Owned by the publishing goroutine until it ends.
	sent     uint64
	sentAt   series
	lastSend int64
	behind   uint64 // ticks in rate mode at which the window held messages back

	// Owned by the reader.
	unexpected uint64
	rels       []byte // PUBRELs to send
}

func (p *publisher) wake() {
	select {
	case p.wakeC <- struct{}{}:
	default:
	}
}

// idSet is a set of packet identifiers, safe for one goroutine adding and
// another removing.
type idSet [1024]atomic.Uint64

func (s *idSet) add(id uint16) bool {
	bit := uint64(1) << (id & 63)
	return s[id>>6].Or(bit)&bit == 0
}

func (s *idSet) remove(id uint16) bool {
	bit := uint64(1) << (id & 63)
	return s[id>>6].And(^bit)&bit != 0
}

// subscriber is one subscribing connection.
type subscriber struct {
	run    *run
	nc     net.Conn
	fr     *frameReader
	filter string
	routes map[uint32]*route
	lastID uint32
	last   *route

	// Owned by the reader goroutine.
	lat       hist
	recvAt    series
	foreign   uint64
	protoDups uint64 // QoS 2 PUBLISH repeated before its PUBREL: not delivered
	acks      []byte
	awaitRel  [1024]uint64 // QoS 2 identifiers received, awaiting PUBREL
}

// topology builds the publishers, subscribers and routes of the scenario.
func (r *run) topology() error {
	cfg := r.cfg
	n := cfg.clients
	prefix := cfg.prefix
	newPub := func(i int, topic string) *publisher {
		p := &publisher{run: r, id: pubIDOf(r.tag, i), topic: topic, wakeC: make(chan struct{}, 1)}
		r.pubs = append(r.pubs, p)
		return p
	}
	newSub := func(filter string) *subscriber {
		s := &subscriber{run: r, filter: filter, routes: map[uint32]*route{}}
		r.subs = append(r.subs, s)
		return s
	}
	link := func(p *publisher, s *subscriber) {
		rt := &route{pub: p}
		p.routes = append(p.routes, rt)
		s.routes[p.id] = rt
	}
	switch cfg.scenario {
	case "fanin":
		s := newSub(prefix + "/+")
		for i := range n {
			link(newPub(i, fmt.Sprintf("%s/%d", prefix, i)), s)
		}
	case "fanout":
		p := newPub(0, prefix+"/0")
		for range n {
			link(p, newSub(prefix+"/0"))
		}
	case "pairs":
		for i := range n {
			topic := fmt.Sprintf("%s/%d", prefix, i)
			link(newPub(i, topic), newSub(topic))
		}
	default:
		return fmt.Errorf("unknown scenario %q", cfg.scenario)
	}
	return nil
}

// parallel runs f(0..n-1) on at most width goroutines and returns the first error.
func parallel(n, width int, f func(i int) error) error {
	var next atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for range min(n, width) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					once.Do(func() { first = err })
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

func (r *run) clientID(role string, i int) string {
	return fmt.Sprintf("bench-%04x-%s%d", r.tag, role, i)
}

// pubsub runs a fanin, fanout or pairs scenario.
func (r *run) pubsub() (*Result, error) {
	cfg := r.cfg
	if err := r.topology(); err != nil {
		return nil, err
	}
	res := r.newResult()
	res.Publishers, res.Subscribers = len(r.pubs), len(r.subs)
	var before procSample
	if cfg.pid > 0 {
		before = sampleProc(cfg.pid)
		res.BrokerRSSBeforeKB = before.rssKB
	}
	defer r.closeAll()

	// Connect: subscribers first, each subscribed before any publisher starts.
	readBuf := max(64<<10, 4*(cfg.size+64))
	err := parallel(len(r.subs), 100, func(i int) error {
		s := r.subs[i]
		nc, fr, err := r.dial.connect(r.clientID("s", i), readBuf)
		if err != nil {
			return err
		}
		s.nc, s.fr = nc, fr
		return subscribe(nc, fr, s.filter, byte(cfg.qos), cfg.timeout)
	})
	if err == nil && cfg.stalled > 0 {
		// Stalled subscribers, on the subscriptions of the healthy ones in
		// turn: they subscribe, then never read their sockets again.
		r.stalled = make([]net.Conn, cfg.stalled)
		err = parallel(cfg.stalled, 100, func(i int) error {
			nc, fr, err := r.dial.connectBuf(r.clientID("x", i), 4<<10, stalledRcvBuf)
			if err != nil {
				return err
			}
			r.stalled[i] = nc
			if err := subscribe(nc, fr, r.subs[i%len(r.subs)].filter, byte(cfg.qos), cfg.timeout); err != nil {
				return err
			}
			if cfg.fill == 0 {
				return nil
			}
			return subscribe(nc, fr, r.fillTopic(), 0, cfg.timeout)
		})
	}
	if err == nil && cfg.stalled > 0 && cfg.fill > 0 {
		err = r.fillStalled()
	}
	if err == nil {
		err = parallel(len(r.pubs), 100, func(i int) error {
			p := r.pubs[i]
			nc, fr, err := r.dial.connect(r.clientID("p", i), 4<<10)
			p.nc, p.fr = nc, fr
			return err
		})
	}
	if err != nil {
		return nil, err
	}

	var readers, pubs sync.WaitGroup
	for _, s := range r.subs {
		readers.Go(s.read)
	}
	for _, p := range r.pubs {
		readers.Go(p.read)
	}

	r.t0 = r.clk.now()
	r.warm = r.t0 + int64(cfg.warmup)
	r.stopAt = math.MaxInt64
	r.stop = make(chan struct{})
	if cfg.duration > 0 {
		r.stopAt = r.t0 + int64(cfg.duration)
		t := time.AfterFunc(cfg.duration, func() { close(r.stop) })
		defer t.Stop()
	}
	cpu0, self0 := sampleProc(cfg.pid), selfCPU()
	for i, p := range r.pubs {
		pubs.Go(func() { p.publish(i) })
	}
	pubs.Wait()
	end := r.clk.now()
	wall := time.Duration(end - r.t0)
	cpu1, self1 := sampleProc(cfg.pid), selfCPU()
	r.drain()
	if cfg.pid > 0 {
		res.BrokerCPUSec = (cpu1.cpu - cpu0.cpu).Seconds()
		res.BrokerCPUPct = 100 * res.BrokerCPUSec / wall.Seconds()
		res.BrokerRSSAfterKB = sampleProc(cfg.pid).rssKB
	}
	res.ClientCPUPct = 100 * (self1 - self0).Seconds() / wall.Seconds()

	r.closeAll()
	readers.Wait()

	// Results. Rates are counted over [warm, end), to the series' step.
	lo, hi := r.warm/seriesStep*seriesStep, end/seriesStep*seriesStep
	if hi <= lo { // a run shorter than the warm-up or the step: count it all
		lo, hi = 0, end/seriesStep*seriesStep+seriesStep
	}
	secs := float64(hi-lo) / 1e9
	res.Seconds = secs
	var lat hist
	for _, p := range r.pubs {
		res.Sent += p.sent
		res.Expected += p.sent * uint64(len(p.routes))
		res.SentPerSec += float64(p.sentAt.sum(lo, hi)) / secs
		res.Unacked += uint64(max(p.inflight.Load(), 0))
		res.Behind += p.behind
		for _, rt := range p.routes {
			res.Delivered += rt.unique
			res.Dups += rt.dups
			res.Reordered += rt.reordered
			if rt.unique < p.sent {
				res.Lost += p.sent - rt.unique
			}
		}
	}
	for _, s := range r.subs {
		res.DeliveredPerSec += float64(s.recvAt.sum(lo, hi)) / secs
		res.Foreign += s.foreign
		res.Dups += s.protoDups
		lat.merge(&s.lat)
	}
	res.Stalls = r.stalls.Load()
	res.setLatency(&lat)
	r.errMu.Lock()
	res.Errors, res.ErrorCount = r.errs, r.nerrs
	r.errMu.Unlock()
	return res, nil
}

// drain waits, after the publishers stopped, until every message sent has
// arrived and every QoS 1/2 exchange completed, or until nothing progressed
// for a second, or cfg.drain has passed.
func (r *run) drain() {
	deadline := time.Now().Add(r.cfg.drain)
	last, lastChange := uint64(math.MaxUint64), time.Now()
	for time.Now().Before(deadline) {
		var progress uint64
		done := true
		for _, p := range r.pubs {
			progress += p.acked.Load()
			if p.inflight.Load() > 0 {
				done = false
			}
			for _, rt := range p.routes {
				n := rt.next.Load()
				progress += n
				if n < p.sent {
					done = false
				}
			}
		}
		if done {
			return
		}
		if progress != last {
			last, lastChange = progress, time.Now()
		} else if time.Since(lastChange) > time.Second {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// closeAll disconnects every client; it may run more than once.
func (r *run) closeAll() {
	if r.closing.Swap(true) {
		return
	}
	disconnect := []byte{byte(packets.DISCONNECT) << 4, 0}
	for _, s := range r.subs {
		if s.nc != nil {
			s.nc.SetWriteDeadline(time.Now().Add(time.Second))
			s.nc.Write(disconnect)
			s.nc.Close()
		}
	}
	for _, p := range r.pubs {
		if p.nc != nil {
			p.nc.SetWriteDeadline(time.Now().Add(time.Second))
			p.nc.Write(disconnect)
			p.nc.Close()
		}
	}
	for _, nc := range r.stalled {
		if nc != nil {
			nc.SetWriteDeadline(time.Now().Add(time.Second))
			nc.Write(disconnect)
			nc.Close()
		}
	}
}

// publish is the publishing goroutine of p, the i-th publisher.
func (p *publisher) publish(i int) {
	r := p.run
	cfg := r.cfg
	qos := byte(cfg.qos)
	pkt := packets.Publish{QoS: qos, Topic: p.topic, Payload: make([]byte, cfg.size)}
	for j := headerSize; j < cfg.size; j++ {
		pkt.Payload[j] = 'x'
	}
	perMsg := cfg.size + len(p.topic) + 9
	maxBatch := max(1, min(256, (64<<10)/perMsg))
	threshold := int64(max(1, min(cfg.window/4, maxBatch)))
	window := int64(cfg.window)
	buf := make([]byte, 0, maxBatch*perMsg+4096)
	var seq uint32
	var nextID uint16
	var floor uint64 // QoS 0: sequence numbers below it no longer count as outstanding

	// Rate mode: this publisher's share of the offered rate, sent on a
	// ticker; publishers start at staggered phases.
	var tick <-chan time.Time
	perPub := cfg.rate / float64(len(r.pubs))
	if cfg.rate > 0 {
		interval := time.Duration(float64(time.Second) / perPub)
		interval = min(max(interval, time.Millisecond), 100*time.Millisecond)
		phase := interval * time.Duration(i) / time.Duration(len(r.pubs))
		select {
		case <-time.After(phase):
		case <-r.stop:
		}
		t := time.NewTicker(interval)
		defer t.Stop()
		tick = t.C
	}
	start := r.clk.now()
	stall := time.NewTimer(time.Hour)
	stall.Stop()

	// outstanding returns the messages counting against the window.
	outstanding := func() int64 {
		if qos > 0 {
			return p.inflight.Load()
		}
		low := uint64(seq)
		for _, rt := range p.routes {
			low = min(low, rt.next.Load())
		}
		return int64(uint64(seq) - max(low, floor))
	}

	for {
		now := r.clk.now()
		if now >= r.stopAt || (cfg.count > 0 && int(seq) >= cfg.count) {
			break
		}
		buf = buf[:0]
		var n int64
		limited, more := false, false
		if cfg.rate > 0 {
			// Open loop: what is due by now; QoS 1/2 still within the window.
			n = int64(perPub*float64(now-start)/1e9) + 1 - int64(seq)
			if qos > 0 {
				if free := window - outstanding(); n > free {
					n, limited = max(free, 0), true
					p.behind++
				}
			}
		} else if free := window - outstanding(); free >= threshold {
			n = free
		} else {
			limited = true
		}
		if n > int64(maxBatch) {
			n, more = int64(maxBatch), true
		}
		if cfg.count > 0 {
			n = min(n, int64(cfg.count)-int64(seq))
		}
		sent := int64(0)
		for ; sent < n; sent++ {
			if qos > 0 {
				id, ok := p.allocID(&nextID)
				if !ok {
					break
				}
				pkt.PacketID = id
				p.inflight.Add(1)
			}
			var err error
			if buf, err = pkt.Append(buf, version); err != nil {
				r.fail(err)
				return
			}
			putHeader(buf[len(buf)-cfg.size:], now, seq, p.id)
			seq++
		}
		p.sent = uint64(seq)
		if len(buf) > 0 {
			if _, err := p.nc.Write(buf); err != nil {
				r.fail(fmt.Errorf("publisher %d: %w", i, err))
				return
			}
			if sent > 0 {
				p.sentAt.add(now, uint64(sent))
				p.lastSend = now
			}
		}
		if more || (cfg.rate == 0 && !limited) {
			continue
		}
		if !limited {
			// Open loop, on schedule: wait for the next tick (or to send PUBRELs).
			select {
			case <-tick:
			case <-p.wakeC:
			case <-r.stop:
			}
			continue
		}
		// The window is full: wait until enough of it frees.
		p.parked.Store(true)
		if qos == 0 {
			target := uint64(seq) - uint64(window-threshold)
			for _, rt := range p.routes {
				if rt.next.Load() < target {
					rt.wakeAt.Store(target)
				}
			}
		}
		if window-outstanding() >= threshold && cfg.rate == 0 {
			p.parked.Store(false)
			continue
		}
		progress := p.acked.Load() + p.routesNext()
		stall.Reset(cfg.stall)
		stalled := false
		select {
		case <-p.wakeC:
		case <-tick:
		case <-r.stop:
		case <-stall.C:
			stalled = p.acked.Load()+p.routesNext() == progress
		}
		stall.Stop()
		p.parked.Store(false)
		if stalled {
			// Nothing came back for cfg.stall. QoS 0: give up on what
			// is outstanding (it counts as lost if it never arrives).
			// QoS 1/2: keep waiting, an identifier cannot be reused
			// before its acknowledgement; what is still unacknowledged
			// at the end is reported.
			r.stalls.Add(1)
			if qos == 0 {
				floor = uint64(seq)
			}
		}
	}
	p.sent = uint64(seq)
}

func (p *publisher) routesNext() uint64 {
	var t uint64
	for _, rt := range p.routes {
		t += rt.next.Load()
	}
	return t
}

// allocID takes the next free packet identifier after *next.
func (p *publisher) allocID(next *uint16) (uint16, bool) {
	for range 65535 {
		*next++
		if *next == 0 {
			*next = 1
		}
		if p.ids.add(*next) {
			return *next, true
		}
	}
	return 0, false
}

// read is the reader goroutine of a publisher connection: it handles the
// acknowledgements of QoS 1 and 2.
func (p *publisher) read() {
	r := p.run
	threshold := int64(max(1, min(r.cfg.window/4, 256)))
	window := int64(r.cfg.window)
	p.rels = make([]byte, 0, 4096)
	p.fr.beforeBlock = p.flushRels
	for {
		first, _, body, err := p.fr.next()
		if err != nil {
			r.fail(fmt.Errorf("publisher connection: %w", err))
			return
		}
		switch packets.Type(first >> 4) {
		case packets.PUBACK, packets.PUBCOMP:
			id, ok := ackID(body)
			if !ok || !p.ids.remove(id) {
				p.unexpected++
				continue
			}
			in := p.inflight.Add(-1)
			p.acked.Add(1)
			if p.parked.Load() && window-in >= threshold {
				p.wake()
			}
		case packets.PUBREC:
			id, ok := ackID(body)
			if !ok {
				p.unexpected++
				continue
			}
			p.rels = appendAck(p.rels, packets.PUBREL, id)
			if len(p.rels) >= 32<<10 && p.flushRels() != nil {
				return
			}
		case packets.PINGRESP, packets.PUBLISH:
		default:
			r.fail(fmt.Errorf("publisher: unexpected %v", packets.Type(first>>4)))
		}
	}
}

// read is the reader goroutine of a subscriber connection: it counts and
// times deliveries and acknowledges them, batching the acknowledgements
// until the next read that may block.
func (s *subscriber) read() {
	r := s.run
	s.acks = make([]byte, 0, 4096)
	s.fr.beforeBlock = s.flushAcks
	for {
		first, _, body, err := s.fr.next()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				r.fail(fmt.Errorf("subscriber connection: %w", err))
			}
			return
		}
		switch packets.Type(first >> 4) {
		case packets.PUBLISH:
			qos, id, payload, ok := publishFields(first, body)
			if !ok {
				r.fail(errors.New("subscriber: malformed PUBLISH"))
				return
			}
			switch qos {
			case 1:
				s.acks = appendAck(s.acks, packets.PUBACK, id)
			case 2:
				s.acks = appendAck(s.acks, packets.PUBREC, id)
				bit := uint64(1) << (id & 63)
				if s.awaitRel[id>>6]&bit != 0 {
					s.protoDups++
					continue
				}
				s.awaitRel[id>>6] |= bit
			}
			s.deliver(payload)
		case packets.PUBREL:
			id, ok := ackID(body)
			if !ok {
				r.fail(errors.New("subscriber: malformed PUBREL"))
				return
			}
			s.awaitRel[id>>6] &^= uint64(1) << (id & 63)
			s.acks = appendAck(s.acks, packets.PUBCOMP, id)
		case packets.PINGRESP:
		default:
			r.fail(fmt.Errorf("subscriber: unexpected %v", packets.Type(first>>4)))
		}
		if len(s.acks) >= 32<<10 {
			if err := s.flushAcks(); err != nil {
				return
			}
		}
	}
}

// flushRels writes the PUBRELs batched by the reader. The publishing
// goroutine writes to the same connection: a net.Conn's Write is atomic with
// respect to other Writes, so the packets do not interleave.
func (p *publisher) flushRels() error {
	if len(p.rels) == 0 {
		return nil
	}
	_, err := p.nc.Write(p.rels)
	p.rels = p.rels[:0]
	if err != nil {
		p.run.fail(fmt.Errorf("publisher: %w", err))
	}
	return err
}

func (s *subscriber) flushAcks() error {
	if len(s.acks) == 0 {
		return nil
	}
	_, err := s.nc.Write(s.acks)
	s.acks = s.acks[:0]
	if err != nil {
		s.run.fail(fmt.Errorf("subscriber: %w", err))
	}
	return err
}

// deliver accounts for one message received.
func (s *subscriber) deliver(payload []byte) {
	sendNS, seq, id, ok := parseHeader(payload)
	if !ok || uint16(id>>16) != s.run.tag {
		s.foreign++
		return
	}
	rt := s.last
	if id != s.lastID || rt == nil {
		if rt = s.routes[id]; rt == nil {
			s.foreign++
			return
		}
		s.last, s.lastID = rt, id
	}
	if !rt.record(seq) {
		return
	}
	at := s.fr.at
	s.recvAt.add(at, 1)
	if sendNS >= s.run.warm {
		s.lat.record(at - sendNS)
	}
}

// fillTopic is where fillStalled publishes: only the stalled subscribers
// subscribe to it, and no scenario's filter matches it.
func (r *run) fillTopic() string { return r.cfg.prefix + "-stalled" }

// fillStalled sends the stalled subscribers -stalled-fill bytes of QoS 0
// messages on a connection of its own before the run starts, and waits
// until the broker has routed them all (a PINGREQ answered after them). The
// stalled subscribers' socket buffers and the broker's queues for them are
// then as full as the broker lets them be: the run measures a subscriber
// that stopped reading a while ago, not one whose buffers are still
// filling.
func (r *run) fillStalled() error {
	cfg := r.cfg
	nc, fr, err := r.dial.connect(r.clientID("f", 0), 4<<10)
	if err != nil {
		return err
	}
	defer nc.Close()
	msg, err := (&packets.Publish{Topic: r.fillTopic(), Payload: make([]byte, fillSize)}).Append(nil, version)
	if err != nil {
		return err
	}
	nc.SetDeadline(time.Now().Add(cfg.timeout))
	for sent := int64(0); sent < cfg.fill; sent += fillSize {
		if _, err := nc.Write(msg); err != nil {
			return fmt.Errorf("filling the stalled subscribers: %w", err)
		}
	}
	if _, err := nc.Write([]byte{byte(packets.PINGREQ) << 4, 0}); err != nil {
		return fmt.Errorf("filling the stalled subscribers: %w", err)
	}
	for {
		first, _, _, err := fr.next()
		if err != nil {
			return fmt.Errorf("filling the stalled subscribers: waiting for PINGRESP: %w", err)
		}
		if packets.Type(first>>4) == packets.PINGRESP {
			break
		}
	}
	nc.Write([]byte{byte(packets.DISCONNECT) << 4, 0})
	return nil
}
