package broker_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/packets"
)

// The publish-path benchmarks publish with Broker.Publish to N raw
// subscriber connections (net.Pipe through InProcessConn). A subscriber's
// reader only frames packets and discards them (decoding them with
// packets.Reader when decode is set), counting PUBLISH packets and, for
// QoS 1, answering PUBACK. ns/op is per publish, delivery to every
// subscriber included; ns/delivery divides by the fan-out. The publisher
// keeps a bounded number of publishes ahead of the deliveries, so the write
// queues never overflow.

// benchFixture is a broker with n raw subscribers on one topic.
type benchFixture struct {
	b       *broker.Broker
	n       int
	conns   []net.Conn
	readers sync.WaitGroup

	got    atomic.Int64 // PUBLISH packets received by all subscribers
	want   atomic.Int64 // readers signal when got reaches it
	notify chan struct{}
}

const benchTopic = "bench/topic/t"

func newBenchFixture(tb testing.TB, n int, qos byte, decode bool) *benchFixture {
	tb.Helper()
	b, err := broker.New(broker.Options{
		SysInterval: -1,
		Session:     broker.SessionOptions{MaxQueueLen: -1},
	})
	if err != nil {
		tb.Fatal(err)
	}
	f := &benchFixture{b: b, n: n, conns: make([]net.Conn, n), notify: make(chan struct{}, 1)}
	f.want.Store(-1)
	start := time.Now()
	var ready sync.WaitGroup
	ready.Add(n)
	sem := make(chan struct{}, 64) // handshakes in parallel
	errc := make(chan error, 1)
	for i := range n {
		nc, err := b.InProcessConn()
		if err != nil {
			tb.Fatal(err)
		}
		f.conns[i] = nc
		hello, err := (&packets.Connect{ProtocolVersion: packets.Version311, CleanStart: true,
			ClientID: fmt.Sprintf("bench-%d", i)}).Append(nil, packets.Version311)
		if err == nil {
			hello, err = (&packets.Subscribe{PacketID: 1, Subscriptions: []packets.Subscription{{Filter: benchTopic, QoS: qos}}}).Append(hello, packets.Version311)
		}
		if err != nil {
			tb.Fatal(err)
		}
		f.readers.Add(1)
		if decode {
			go f.decodeLoop(nc, &ready)
		} else {
			go f.discardLoop(nc, &ready)
		}
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			if _, err := nc.Write(hello); err != nil {
				select {
				case errc <- err:
				default:
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { ready.Wait(); close(done) }()
	select {
	case <-done:
	case err := <-errc:
		tb.Fatalf("handshake: %v", err)
	case <-time.After(60 * time.Second):
		tb.Fatal("handshakes timed out")
	}
	if n >= 1000 {
		tb.Logf("set up %d subscribers in %v", n, time.Since(start))
	}
	return f
}

func (f *benchFixture) close(tb testing.TB) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := f.b.Shutdown(ctx); err != nil {
		tb.Errorf("Shutdown: %v", err)
	}
	for _, nc := range f.conns {
		nc.Close()
	}
	f.readers.Wait()
}

// delivered counts one PUBLISH and wakes the publisher when the count it
// waits for is reached.
func (f *benchFixture) delivered() {
	if f.got.Add(1) == f.want.Load() {
		select {
		case f.notify <- struct{}{}:
		default:
		}
	}
}

// discardLoop frames packets without decoding them.
func (f *benchFixture) discardLoop(nc net.Conn, ready *sync.WaitGroup) {
	defer f.readers.Done()
	br := bufio.NewReaderSize(nc, 512)
	buf := make([]byte, 256)
	ack := []byte{0x40, 2, 0, 0}
	for {
		first, err := br.ReadByte()
		if err != nil {
			return
		}
		rl, shift := 0, 0
		for {
			c, err := br.ReadByte()
			if err != nil {
				return
			}
			rl |= int(c&0x7F) << shift
			if c&0x80 == 0 {
				break
			}
			shift += 7
		}
		if rl > len(buf) {
			buf = make([]byte, rl)
		}
		if _, err := io.ReadFull(br, buf[:rl]); err != nil {
			return
		}
		switch packets.Type(first >> 4) {
		case packets.PUBLISH:
			if first>>1&3 == 1 {
				tl := int(buf[0])<<8 | int(buf[1])
				ack[2], ack[3] = buf[2+tl], buf[3+tl]
				if _, err := nc.Write(ack); err != nil {
					return
				}
			}
			f.delivered()
		case packets.SUBACK:
			ready.Done()
		}
	}
}

// decodeLoop decodes every packet with packets.Reader.
func (f *benchFixture) decodeLoop(nc net.Conn, ready *sync.WaitGroup) {
	defer f.readers.Done()
	r := packets.NewReader(nc, 0)
	var ack []byte
	for {
		p, err := r.ReadPacket()
		if err != nil {
			return
		}
		switch p := p.(type) {
		case *packets.Publish:
			if p.QoS == 1 {
				ack, _ = (&packets.Puback{PacketID: p.PacketID}).Append(ack[:0], packets.Version311)
				if _, err := nc.Write(ack); err != nil {
					return
				}
			}
			f.delivered()
		case *packets.Suback:
			ready.Done()
		}
	}
}

// waitFor blocks until the subscribers have received target PUBLISH
// packets in all, or the broker counted the missing ones as dropped.
func (f *benchFixture) waitFor(tb testing.TB, target int64) {
	f.want.Store(target)
	timer := time.NewTimer(time.Second)
	defer timer.Stop()
	deadline := time.Now().Add(60 * time.Second)
	for f.got.Load() < target {
		select {
		case <-f.notify:
		case <-timer.C:
			timer.Reset(10 * time.Millisecond)
			if d := int64(f.b.Metrics()["messages/delivery_dropped"]); f.got.Load()+d >= target {
				return
			}
			if time.Now().After(deadline) {
				tb.Fatalf("got %d of %d deliveries", f.got.Load(), target)
			}
		}
	}
}

// run publishes b.N messages and waits for every delivery.
func (f *benchFixture) run(b *testing.B, qos byte) {
	ctx := context.Background()
	payload := make([]byte, 64)
	msg := broker.Message{Topic: benchTopic, Payload: payload, QoS: qos}
	ahead := max(8, 4096/f.n) // publishes allowed ahead of the deliveries
	f.got.Store(0)
	dropped0 := f.b.Metrics()["messages/delivery_dropped"]
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if err := f.b.Publish(ctx, msg); err != nil {
			b.Fatal(err)
		}
		if (i+1)%ahead == 0 {
			f.waitFor(b, int64(i+1-ahead/2)*int64(f.n))
		}
	}
	f.waitFor(b, int64(b.N)*int64(f.n))
	b.StopTimer()
	deliveries := float64(b.N) * float64(f.n)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/deliveries, "ns/delivery")
	if d := f.b.Metrics()["messages/delivery_dropped"] - dropped0; d > 0 {
		b.ReportMetric(float64(d)/deliveries, "dropped/delivery")
	}
}

// BenchmarkPublishQoS0 measures a QoS 0 publish delivered to 1, 100 and
// 10,000 subscribers.
func BenchmarkPublishQoS0(b *testing.B) {
	for _, n := range []int{1, 100, 10000} {
		f := newBenchFixture(b, n, 0, false)
		b.Run(fmt.Sprintf("subs=%d", n), func(b *testing.B) { f.run(b, 0) })
		f.close(b)
	}
}

// BenchmarkPublishQoS0Decode is BenchmarkPublishQoS0 with 100 subscribers
// that decode every packet with packets.Reader, as a client library would.
func BenchmarkPublishQoS0Decode(b *testing.B) {
	f := newBenchFixture(b, 100, 0, true)
	b.Run("subs=100", func(b *testing.B) { f.run(b, 0) })
	f.close(b)
}

// BenchmarkPublishQoS1 measures a QoS 1 publish delivered to one subscriber
// that acknowledges each message.
func BenchmarkPublishQoS1(b *testing.B) {
	f := newBenchFixture(b, 1, 1, false)
	b.Run("subs=1", func(b *testing.B) { f.run(b, 1) })
	f.close(b)
}
