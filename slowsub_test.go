package broker_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/brokertest"
	"github.com/emqgo/broker/packets"
)

// The slow-subscriber tests (issue 4, "limits under load") put a subscriber
// that stops reading its socket next to a healthy one on the same topic, over
// real TCP, and check that the per-session budgets hold: the publisher is
// never blocked, the healthy subscriber gets every message in order, and
// what the stalled one cannot take is dropped and counted. They assert no
// speeds: BenchmarkSlowSubscriber (slowsub_bench_test.go) measures the
// throughput the healthy subscribers keep.
//
// A publisher is paced by the healthy subscriber (it stays at most a few
// messages ahead of what the healthy subscriber has read), so that the
// healthy subscriber's own budget never overflows: every drop is then the
// stalled subscriber's. Pacing cannot hide a publisher blocked by the
// stalled subscriber: the healthy one would stop receiving and the test
// would fail on its hang guard.

const (
	slowTopic = "slow/t"
	// slowGuard bounds each wait of these tests: a hang guard, not a speed.
	slowGuard = 60 * time.Second
)

// serveLoopback serves b on a loopback port and returns its address. The
// broker's side of each connection gets a small send buffer (SO_SNDBUF), so
// that a subscriber that stops reading fills the kernel's buffers fast and
// the broker's own budget is what overflows.
//
// The buffer is made small on the broker's side rather than the client's
// receive buffer: a receive buffer shrunk after the TCP handshake leaves the
// sender waiting for a window as large as the one first offered, and when
// the subscriber reads again Linux sends it no more than the small window
// per retransmission timeout (about 200 ms), a trickle that no broker can
// speed up. (Setting it before the handshake takes a per-OS system call.)
func serveLoopback(t testing.TB, b *brokertest.Broker) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go b.Serve(smallSendBuffers{l}) // returns ErrBrokerClosed when the broker shuts down
	return l.Addr().String()
}

// smallSendBuffers is a listener whose connections have an 8 KiB send buffer.
type smallSendBuffers struct{ net.Listener }

func (l smallSendBuffers) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetWriteBuffer(8 << 10)
	}
	return nc, err
}

// rawSub is a subscriber on a raw TCP connection, read only when the test
// says so: a stalled one never reads its socket after SUBACK.
type rawSub struct {
	id string
	nc net.Conn
	r  *packets.Reader

	// Set by read.
	got    atomic.Int64
	seqs   []uint64 // sequence numbers received, when kept
	errMu  sync.Mutex
	err    error // the first problem seen: a gap, a duplicate, a bad packet
	notify chan struct{}
	done   chan struct{}
	rerr   error // why read ended, valid once done is closed
}

// dialSub connects id over TCP to addr and subscribes it to slowTopic at
// qos. The connection is closed when the test ends, before the broker shuts
// down.
func dialSub(t testing.TB, addr, id string, qos byte) *rawSub {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &rawSub{id: id, nc: nc, r: packets.NewReader(nc, 0), notify: make(chan struct{}, 1), done: make(chan struct{})}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(slowGuard))
	defer nc.SetDeadline(time.Time{})
	s.write(t, &packets.Connect{ProtocolName: "MQTT", ProtocolVersion: packets.Version311, CleanStart: true, ClientID: id})
	if ack, ok := s.next(t).(*packets.Connack); !ok || ack.ReasonCode != 0 {
		t.Fatalf("%s: CONNECT refused: %+v", id, ack)
	}
	s.write(t, &packets.Subscribe{PacketID: 1, Subscriptions: []packets.Subscription{{Filter: slowTopic, QoS: qos}}})
	if ack, ok := s.next(t).(*packets.Suback); !ok || len(ack.ReasonCodes) != 1 || byte(ack.ReasonCodes[0]) != qos {
		t.Fatalf("%s: SUBSCRIBE: %+v", id, ack)
	}
	return s
}

func (s *rawSub) write(t testing.TB, p packets.Packet) {
	t.Helper()
	buf, err := p.Append(nil, packets.Version311)
	if err == nil {
		_, err = s.nc.Write(buf)
	}
	if err != nil {
		t.Fatalf("%s: write %v: %v", s.id, p.Type(), err)
	}
}

func (s *rawSub) next(t testing.TB) packets.Packet {
	t.Helper()
	p, err := s.r.ReadPacket()
	if err != nil {
		t.Fatalf("%s: read: %v", s.id, err)
	}
	return p
}

// start reads the subscriber's socket on a goroutine from now on, until it
// is closed: it acknowledges QoS 1 messages and checks their sequence
// numbers. With inOrder, each must be the next one (0, 1, 2, ...);
// otherwise each must be above the previous one, and keep records them.
func (s *rawSub) start(t testing.TB, inOrder, keep bool) {
	t.Cleanup(func() {
		s.nc.Close()
		<-s.done
	})
	go func() {
		defer close(s.done)
		var ack []byte
		next := uint64(0)
		for {
			p, err := s.r.ReadPacket()
			if err != nil {
				s.rerr = err
				s.signal()
				return
			}
			pub, ok := p.(*packets.Publish)
			if !ok {
				s.fail(fmt.Errorf("unexpected %v", p.Type()))
				continue
			}
			if pub.QoS == 1 {
				ack, _ = (&packets.Puback{PacketID: pub.PacketID}).Append(ack[:0], packets.Version311)
				if _, err := s.nc.Write(ack); err != nil {
					s.rerr = err
					s.signal()
					return
				}
			}
			if len(pub.Payload) < 8 {
				s.fail(fmt.Errorf("payload of %d bytes", len(pub.Payload)))
				continue
			}
			seq := binary.BigEndian.Uint64(pub.Payload)
			switch {
			case inOrder && seq != next:
				s.fail(fmt.Errorf("got message %d, want %d", seq, next))
			case !inOrder && s.got.Load() > 0 && seq < next:
				s.fail(fmt.Errorf("got message %d after %d", seq, next-1))
			}
			next = seq + 1
			if keep {
				s.errMu.Lock()
				s.seqs = append(s.seqs, seq)
				s.errMu.Unlock()
			}
			s.got.Add(1)
			s.signal()
		}
	}()
}

func (s *rawSub) signal() {
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

func (s *rawSub) fail(err error) {
	s.errMu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.errMu.Unlock()
}

// check fails the test if the reader saw a problem.
func (s *rawSub) check(t testing.TB) {
	t.Helper()
	s.errMu.Lock()
	defer s.errMu.Unlock()
	if s.err != nil {
		t.Fatalf("%s: %v", s.id, s.err)
	}
}

// received returns the sequence numbers read so far (with keep).
func (s *rawSub) received() []uint64 {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return slices.Clone(s.seqs)
}

// waitUntil waits until cond holds, checking it each time the reader makes
// progress, and fails the test after slowGuard or if the reader ends first.
func (s *rawSub) waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	timer := time.NewTimer(slowGuard)
	defer timer.Stop()
	for !cond() {
		select {
		case <-s.notify:
		case <-s.done:
			if !cond() {
				s.check(t)
				t.Fatalf("%s: connection ended (%v) waiting for %s; got %d", s.id, s.rerr, what, s.got.Load())
			}
		case <-timer.C:
			s.check(t)
			t.Fatalf("%s: waited %v for %s; got %d", s.id, slowGuard, what, s.got.Load())
		}
	}
	s.check(t)
}

// dropEvent is one delivery.dropped or message.dropped call.
type dropEvent struct {
	client string // "" for message.dropped
	seq    uint64
	reason broker.DropReason
}

func seqOf(m broker.Message) uint64 {
	if len(m.Payload) < 8 {
		return ^uint64(0)
	}
	return binary.BigEndian.Uint64(m.Payload)
}

// dropLogs registers delivery.dropped and message.dropped hooks that record
// every drop.
func dropLogs(deliveries, messages *evlog[dropEvent]) func(*broker.Broker) {
	return func(b *broker.Broker) {
		broker.On(b, broker.DeliveryDroppedHook, func(_ context.Context, c *broker.ClientInfo, m broker.Message, reason broker.DropReason) {
			deliveries.add(dropEvent{c.ClientID, seqOf(m), reason})
		})
		broker.On(b, broker.MessageDroppedHook, func(_ context.Context, m broker.Message, reason broker.DropReason) {
			messages.add(dropEvent{"", seqOf(m), reason})
		})
	}
}

// publishPaced publishes n messages of size bytes at qos, numbered from 0
// in their first 8 bytes, staying at most ahead messages in front of what
// healthy has read. QoS 1 publishes wait for their PUBACK. stop, if not
// nil, ends the run early when it returns true (checked every message).
func publishPaced(t testing.TB, pub *brokertest.Client, healthy *rawSub, n, size int, qos byte, ahead int, stop func() bool) int {
	t.Helper()
	payload := make([]byte, size)
	for i := range n {
		if stop != nil && stop() {
			return i
		}
		if i >= ahead {
			want := int64(i - ahead + 1)
			healthy.waitUntil(t, fmt.Sprintf("message %d (publisher at %d)", want-1, i), func() bool { return healthy.got.Load() >= want })
		}
		binary.BigEndian.PutUint64(payload, uint64(i))
		p := &packets.Publish{Topic: slowTopic, QoS: qos, Payload: slices.Clone(payload)}
		if code := pub.PublishPacket(t, p); code != packets.Success {
			t.Fatalf("publish %d: %v", i, code)
		}
	}
	return n
}

// TestSlowSubscriberQoS0: a QoS 0 subscriber that stops reading fills its
// socket buffers, then its write queue (MaxWriteQueue); from then on the
// messages to it are dropped with DropWriteQueue and counted, while the
// publisher goes on and a healthy subscriber on the same topic gets every
// message in order. Every message to the stalled subscriber is either
// delivered (once it reads again) or counted as dropped, never both.
func TestSlowSubscriberQoS0(t *testing.T) {
	const (
		n       = 20000
		size    = 1024
		maxWQ   = 64 << 10
		ahead   = 16 // 16 KiB: the healthy subscriber's queue never fills
		stalled = "stalled"
	)
	drops, msgDrops := newEvlog[dropEvent](), newEvlog[dropEvent]()
	b := brokertest.New(t, broker.Options{MaxWriteQueue: maxWQ}, dropLogs(drops, msgDrops))
	addr := serveLoopback(t, b)
	slow := dialSub(t, addr, stalled, 0)
	healthy := dialSub(t, addr, "healthy", 0)
	healthy.start(t, true, false)
	pub := brokertest.DialTCP(t, addr, "pub")

	publishPaced(t, pub, healthy, n, size, 0, ahead, nil)
	healthy.waitUntil(t, "every message", func() bool { return healthy.got.Load() == n })
	// The publisher's connection is still served, and its PUBLISHes have
	// all been routed (one reader handles them in order): every drop of
	// the stalled subscriber has been reported.
	pingSync(t, pub)

	dropped := map[uint64]bool{}
	for _, d := range drops.all() {
		if d.client != stalled || d.reason != broker.DropWriteQueue {
			t.Fatalf("drop %+v, want only %q with %q", d, stalled, broker.DropWriteQueue)
		}
		if dropped[d.seq] {
			t.Fatalf("message %d dropped twice", d.seq)
		}
		dropped[d.seq] = true
	}
	if len(dropped) == 0 {
		t.Fatalf("no message to the stalled subscriber was dropped")
	}
	if got := msgDrops.all(); len(got) != 0 {
		t.Fatalf("message.dropped ran for messages the healthy subscriber got: %+v", got[:min(len(got), 5)])
	}
	m := b.Metrics()
	if m["messages/delivery_dropped"] != uint64(len(dropped)) || m["messages/dropped"] != 0 {
		t.Fatalf("metrics delivery_dropped %d, dropped %d; want %d and 0", m["messages/delivery_dropped"], m["messages/dropped"], len(dropped))
	}
	t.Logf("stalled subscriber: %d of %d messages dropped", len(dropped), n)

	// The stalled subscriber reads again: it gets exactly the messages that
	// were not dropped, in order.
	slow.start(t, false, true)
	want := n - len(dropped)
	slow.waitUntil(t, fmt.Sprintf("the %d messages not dropped", want), func() bool { return slow.got.Load() >= int64(want) })
	// Nothing more comes: the deadline ends the reader.
	if err := slow.nc.SetReadDeadline(time.Now().Add(100 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	<-slow.done
	got := slow.received()
	if len(got) != want {
		t.Fatalf("stalled subscriber got %d messages after it read again, want %d", len(got), want)
	}
	for _, seq := range got {
		if dropped[seq] || seq >= n {
			t.Fatalf("stalled subscriber got message %d, which was dropped or never sent", seq)
		}
	}
	if len(drops.all()) != len(dropped) {
		t.Fatalf("more drops after the stalled subscriber read again: %d, was %d", len(drops.all()), len(dropped))
	}
}

// TestSlowSubscriberQoS1: a QoS 1 subscriber that stops reading (and so
// acknowledging) fills its inflight window (MaxInflight) and then its queue
// (MaxQueueLen); each further message drops the oldest queued one with
// DropQueueFull, counted. The publisher gets every PUBACK and a healthy QoS
// 1 subscriber every message, in order. When the stalled subscriber reads
// again it gets its inflight window and the newest queued messages.
func TestSlowSubscriberQoS1(t *testing.T) {
	const (
		n        = 2000
		size     = 256
		inflight = 16
		queue    = 64
		ahead    = 4
		stalled  = "stalled"
	)
	drops, msgDrops := newEvlog[dropEvent](), newEvlog[dropEvent]()
	b := brokertest.New(t, broker.Options{Session: broker.SessionOptions{MaxInflight: inflight, MaxQueueLen: queue}},
		dropLogs(drops, msgDrops))
	addr := serveLoopback(t, b)
	slow := dialSub(t, addr, stalled, 1)
	healthy := dialSub(t, addr, "healthy", 1)
	healthy.start(t, true, false)
	pub := brokertest.DialTCP(t, addr, "pub")

	publishPaced(t, pub, healthy, n, size, 1, ahead, nil) // fails unless every PUBACK comes
	healthy.waitUntil(t, "every message", func() bool { return healthy.got.Load() == n })
	pingSync(t, pub)

	// The first inflight messages went out; the queue keeps the newest
	// ones; every message in between was dropped, oldest first.
	ds := drops.all()
	if len(ds) != n-inflight-queue {
		t.Fatalf("%d drops, want %d: %+v", len(ds), n-inflight-queue, ds[:min(len(ds), 5)])
	}
	for i, d := range ds {
		if want := (dropEvent{stalled, uint64(inflight + i), broker.DropQueueFull}); d != want {
			t.Fatalf("drop %d is %+v, want %+v", i, d, want)
		}
	}
	if got := msgDrops.all(); len(got) != 0 {
		t.Fatalf("message.dropped ran: %+v", got[:min(len(got), 5)])
	}
	if m := b.Metrics(); m["messages/delivery_dropped"] != uint64(n-inflight-queue) || m["messages/dropped"] != 0 {
		t.Fatalf("metrics delivery_dropped %d, dropped %d; want %d and 0", m["messages/delivery_dropped"], m["messages/dropped"], n-inflight-queue)
	}
	if _, on := b.Client(stalled); !on {
		t.Fatalf("the stalled subscriber was disconnected")
	}

	// Reading again, it gets messages 0..inflight-1 and then the last queue
	// ones, in order.
	slow.start(t, false, true)
	slow.waitUntil(t, "inflight and queued messages", func() bool { return slow.got.Load() >= inflight+queue })
	var want []uint64
	for i := range inflight {
		want = append(want, uint64(i))
	}
	for i := n - queue; i < n; i++ {
		want = append(want, uint64(i))
	}
	if got := slow.received(); !slices.Equal(got, want) {
		t.Fatalf("stalled subscriber got %v, want %v", got, want)
	}
}

// TestSlowSubscriberDisconnectOnQueueFull: with DisconnectOnQueueFull, the
// stalled QoS 1 subscriber is disconnected (quota exceeded) when its queue
// overflows; the publisher and the healthy subscriber carry on.
func TestSlowSubscriberDisconnectOnQueueFull(t *testing.T) {
	const (
		n        = 300
		inflight = 4
		queue    = 8
		stalled  = "stalled"
	)
	drops, msgDrops := newEvlog[dropEvent](), newEvlog[dropEvent]()
	gone := newEvlog[error]()
	b := brokertest.New(t, broker.Options{Session: broker.SessionOptions{MaxInflight: inflight, MaxQueueLen: queue, DisconnectOnQueueFull: true}},
		dropLogs(drops, msgDrops), func(b *broker.Broker) {
			broker.On(b, broker.ClientDisconnectedHook, func(_ context.Context, c *broker.ClientInfo, reason error) {
				if c.ClientID == stalled {
					gone.add(reason)
				}
			})
		})
	addr := serveLoopback(t, b)
	slow := dialSub(t, addr, stalled, 1)
	healthy := dialSub(t, addr, "healthy", 1)
	healthy.start(t, true, false)
	pub := brokertest.DialTCP(t, addr, "pub")

	publishPaced(t, pub, healthy, n, 256, 1, 2, nil)
	healthy.waitUntil(t, "every message", func() bool { return healthy.got.Load() == n })
	pingSync(t, pub)

	reason := gone.wait(t, 1)[0]
	var de *broker.DisconnectError
	if !errors.As(reason, &de) || de.Code != packets.QuotaExceeded || de.FromClient {
		t.Fatalf("stalled subscriber disconnected with %v, want quota exceeded (0x97)", reason)
	}
	ds := drops.all()
	if len(ds) == 0 || ds[0] != (dropEvent{stalled, inflight, broker.DropQueueFull}) {
		t.Fatalf("drops %+v, want the first one to be message %d to %q (%q)", ds, inflight, stalled, broker.DropQueueFull)
	}
	for _, d := range ds {
		if d.client != stalled {
			t.Fatalf("drop for %q: %+v", d.client, d)
		}
	}
	if m := b.Metrics(); m["messages/delivery_dropped"] != uint64(len(ds)) {
		t.Fatalf("metrics delivery_dropped %d, want %d", m["messages/delivery_dropped"], len(ds))
	}
	if _, on := b.Client(stalled); on {
		t.Fatalf("the stalled subscriber is still connected")
	}
	// Its socket holds what was sent before, then the broker's close.
	slow.start(t, false, true)
	select {
	case <-slow.done:
	case <-time.After(slowGuard):
		t.Fatal("the stalled subscriber's connection is still open")
	}
	if got := slow.received(); len(got) > inflight {
		t.Fatalf("stalled subscriber got %v after its window of %d", got, inflight)
	}
}

// TestSlowSubscriberShutdown: Shutdown with a stalled subscriber whose
// writer is blocked (its socket buffers full) is bounded by its context:
// the other connections close at once, the stalled one at the latest when
// the context ends, and every goroutine ends (TestMain checks with goleak).
func TestSlowSubscriberShutdown(t *testing.T) {
	const stalled = "stalled"
	drops, msgDrops := newEvlog[dropEvent](), newEvlog[dropEvent]()
	b := brokertest.New(t, broker.Options{MaxWriteQueue: 64 << 10}, dropLogs(drops, msgDrops))
	addr := serveLoopback(t, b)
	dialSub(t, addr, stalled, 0)
	healthy := dialSub(t, addr, "healthy", 0)
	healthy.start(t, true, false)
	pub := brokertest.DialTCP(t, addr, "pub")
	// Publish until the stalled subscriber's write queue has overflowed
	// 5,000 times: its socket buffers are full and its writer is
	// blocked in a write for good.
	sent := publishPaced(t, pub, healthy, 200000, 1024, 0, 16, func() bool { return drops.len() >= 5000 })
	if drops.len() < 5000 {
		t.Fatalf("%d drops after %d messages, want 5000", drops.len(), sent)
	}

	const grace = 2 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- b.Shutdown(ctx) }()
	select {
	case <-healthy.done:
	case <-time.After(slowGuard):
		t.Fatal("the healthy subscriber's connection is still open")
	}
	closedHealthy := time.Since(start)
	var err error
	select {
	case err = <-done:
	case <-time.After(slowGuard):
		t.Fatal("Shutdown hung")
	}
	took := time.Since(start)
	// The stalled subscriber cannot be sent its last bytes: Shutdown
	// returns ctx's error once the grace period ends (as net/http's does),
	// or nil if the broker gave up on the write by itself.
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v", err)
	}
	t.Logf("after %d messages (%d dropped): healthy subscriber closed after %v; Shutdown returned %v after %v",
		sent, drops.len(), closedHealthy.Round(time.Millisecond), err, took.Round(time.Millisecond))
	if took > grace+10*time.Second {
		t.Errorf("Shutdown took %v with a %v context", took, grace)
	}
	// Had the stalled subscriber held up the others, they would have been
	// closed only when the grace period ended.
	if closedHealthy >= grace {
		t.Errorf("the healthy subscriber was closed after %v, when the %v grace period had ended", closedHealthy, grace)
	}
}
