package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/emqgo/broker/packets"
)

func TestHeaderRoundTrip(t *testing.T) {
	p := make([]byte, 64)
	putHeader(p, 123456789012, 42, pubIDOf(0xBEEF, 7))
	ts, seq, id, ok := parseHeader(p)
	if !ok || ts != 123456789012 || seq != 42 || id != 0xBEEF0007 {
		t.Fatalf("parseHeader = %d %d %#x %v", ts, seq, id, ok)
	}
	if _, _, _, ok := parseHeader(p[:headerSize-1]); ok {
		t.Fatal("parseHeader accepted a payload shorter than the header")
	}
}

func TestHistBuckets(t *testing.T) {
	prevUpper := int64(-1)
	for i := range histBuckets {
		u := histUpper(i)
		if u <= prevUpper {
			t.Fatalf("bucket %d: upper %d not above previous %d", i, u, prevUpper)
		}
		if got := histBucket(u); got != i {
			t.Fatalf("histBucket(histUpper(%d) = %d) = %d", i, u, got)
		}
		if got := histBucket(prevUpper + 1); got != i {
			t.Fatalf("histBucket(%d) = %d, want %d", prevUpper+1, got, i)
		}
		lower := prevUpper + 1
		if lower >= 64 && float64(u-lower+1)/float64(lower) > 1.0/64+1e-9 {
			t.Fatalf("bucket %d [%d, %d] wider than 1/64 of its value", i, lower, u)
		}
		prevUpper = u
	}
	if histBucket(-5) != 0 || histBucket(1<<62) != histBuckets-1 {
		t.Fatal("out-of-range values not clamped")
	}
}

func TestHistQuantiles(t *testing.T) {
	var h hist
	if h.quantile(0.99) != 0 {
		t.Fatal("empty hist: quantile not 0")
	}
	// 1..10000 µs, once each.
	for v := int64(1); v <= 10000; v++ {
		h.record(v * 1000)
	}
	for _, c := range []struct {
		q    float64
		want int64
	}{{0.5, 5000e3}, {0.9, 9000e3}, {0.99, 9900e3}, {1, 10000e3}} {
		got := h.quantile(c.q)
		if got < c.want || float64(got) > float64(c.want)*(1+1.0/64) {
			t.Errorf("quantile(%v) = %d, want %d to +1/64", c.q, got, c.want)
		}
	}
	if h.max != 10000e3 || h.n != 10000 {
		t.Errorf("max %d n %d", h.max, h.n)
	}
	var m hist
	m.record(50e6)
	m.merge(&h)
	if m.n != 10001 || m.max != 50e6 || m.quantile(1) != 50e6 {
		t.Errorf("merge: n %d max %d q1 %d", m.n, m.max, m.quantile(1))
	}
}

func TestRouteRecord(t *testing.T) {
	p := &publisher{wakeC: make(chan struct{}, 1)}
	r := &route{pub: p}
	for _, seq := range []uint32{0, 1, 2, 1, 5, 4, 5, 3, 200000} {
		r.record(seq)
	}
	if r.unique != 7 || r.dups != 2 || r.reordered != 2 || r.next.Load() != 200001 {
		t.Fatalf("unique %d dups %d reordered %d next %d", r.unique, r.dups, r.reordered, r.next.Load())
	}
	// The publisher is woken once next reaches wakeAt, once.
	r.wakeAt.Store(200003)
	r.record(200001)
	select {
	case <-p.wakeC:
		t.Fatal("woken before wakeAt")
	default:
	}
	r.record(200002)
	select {
	case <-p.wakeC:
	default:
		t.Fatal("not woken at wakeAt")
	}
	if r.wakeAt.Load() != 0 {
		t.Fatal("wakeAt not cleared")
	}
}

func TestSeries(t *testing.T) {
	var s series
	s.add(0, 1)
	s.add(int64(15*time.Millisecond), 2)
	s.add(int64(2*time.Second), 4)
	if got := s.sum(0, int64(20*time.Millisecond)); got != 3 {
		t.Errorf("sum = %d, want 3", got)
	}
	if got := s.sum(int64(10*time.Millisecond), int64(3*time.Second)); got != 6 {
		t.Errorf("sum = %d, want 6", got)
	}
}

// oneByte returns its data one byte per Read, the worst case for framing.
type oneByte struct{ b []byte }

func (o *oneByte) Read(p []byte) (int, error) {
	if len(o.b) == 0 {
		return 0, io.EOF
	}
	p[0] = o.b[0]
	o.b = o.b[1:]
	return 1, nil
}

func TestFrameReaderAndParsers(t *testing.T) {
	big := bytes.Repeat([]byte("y"), 3000) // larger than the reader's buffer
	var stream []byte
	pkts := []packets.Packet{
		&packets.Publish{QoS: 0, Topic: "t/1", Payload: []byte("0123456789abcdef")},
		&packets.Publish{QoS: 1, Topic: "t/22", PacketID: 7, Payload: big},
		&packets.Puback{PacketID: 258},
		&packets.Publish{QoS: 2, Topic: "t/3", PacketID: 65535, Payload: nil},
		&packets.Pubrel{PacketID: 9},
		&packets.Suback{PacketID: 1, ReasonCodes: []packets.ReasonCode{1}},
	}
	for _, p := range pkts {
		b, err := packets.Encode(p, version)
		if err != nil {
			t.Fatal(err)
		}
		stream = append(stream, b...)
	}
	for _, src := range []io.Reader{bytes.NewReader(stream), &oneByte{stream}} {
		fr := newFrameReader(src, 64, clock{start: time.Now()})
		for i, want := range pkts {
			first, frame, body, err := fr.next()
			if err != nil {
				t.Fatalf("frame %d: %v", i, err)
			}
			got, err := packets.Decode(frame, version)
			if err != nil || got.Type() != want.Type() {
				t.Fatalf("frame %d: decoded %v, %v; want %v", i, got, err, want.Type())
			}
			switch want := want.(type) {
			case *packets.Publish:
				qos, id, payload, ok := publishFields(first, body)
				if !ok || qos != want.QoS || id != want.PacketID || !bytes.Equal(payload, want.Payload) {
					t.Fatalf("frame %d: publishFields = %d %d %q %v", i, qos, id, payload, ok)
				}
			case *packets.Puback:
				if id, ok := ackID(body); !ok || id != want.PacketID {
					t.Fatalf("frame %d: ackID = %d %v", i, id, ok)
				}
			}
		}
		if _, _, _, err := fr.next(); err != io.EOF {
			t.Fatalf("after the last frame: %v, want EOF", err)
		}
	}
	// A stream cut inside a frame.
	fr := newFrameReader(bytes.NewReader(stream[:10]), 64, clock{start: time.Now()})
	fr.next()
	if _, _, _, err := fr.next(); err != io.ErrUnexpectedEOF {
		t.Fatalf("cut stream: %v, want ErrUnexpectedEOF", err)
	}
	// Acks encode as the codec decodes them.
	for _, ty := range []packets.Type{packets.PUBACK, packets.PUBREC, packets.PUBREL, packets.PUBCOMP} {
		p, err := packets.Decode(appendAck(nil, ty, 513), version)
		if err != nil || p.Type() != ty {
			t.Fatalf("appendAck(%v): %v %v", ty, p, err)
		}
	}
	if _, _, _, ok := publishFields(0x30, []byte{0, 9, 'x'}); ok {
		t.Fatal("publishFields accepted a topic longer than the body")
	}
}

// The per-message paths allocate nothing: encoding a publish into a reused
// buffer, acknowledging, and accounting for a delivery.
func TestNoAllocsPerMessage(t *testing.T) {
	pkt := packets.Publish{QoS: 1, Topic: "t/1", Payload: make([]byte, 64)}
	buf := make([]byte, 0, 4096)
	var seq uint32
	if n := testing.AllocsPerRun(1000, func() {
		buf = buf[:0]
		pkt.PacketID = 1 + uint16(seq)
		buf, _ = pkt.Append(buf, version)
		putHeader(buf[len(buf)-64:], 1, seq, 2)
		buf = appendAck(buf, packets.PUBREL, 3)
		seq++
	}); n != 0 {
		t.Errorf("publish path: %v allocations a message", n)
	}
	r := &run{tag: 1, clk: clock{start: time.Now()}}
	pub := &publisher{wakeC: make(chan struct{}, 1)}
	rt := &route{pub: pub, seen: make([]uint64, 1<<12)}
	s := &subscriber{run: r, routes: map[uint32]*route{pubIDOf(1, 0): rt}, fr: &frameReader{}}
	payload := make([]byte, 64)
	seq = 0
	if n := testing.AllocsPerRun(1000, func() {
		putHeader(payload, 5, seq, pubIDOf(1, 0))
		s.deliver(payload)
		seq++
	}); n != 0 {
		t.Errorf("delivery path: %v allocations a message", n)
	}
}

func TestProcParsers(t *testing.T) {
	stat := []byte("1234 (my (odd) cmd) S 1 1234 1234 0 -1 4194560 1000 0 0 0 250 75 0 0 20 0 9 0 100 200000 3000 18446744073709551615\n")
	ut, st, err := parseStat(stat)
	if err != nil || ut != 250 || st != 75 {
		t.Fatalf("parseStat = %d %d %v", ut, st, err)
	}
	if _, _, err := parseStat([]byte("garbage")); err == nil {
		t.Fatal("parseStat accepted garbage")
	}
	status := []byte("Name:\tx\nVmPeak:\t  1000 kB\nVmRSS:\t    8192 kB\nThreads:\t1\n")
	if got := parseVmRSS(status); got != 8192 {
		t.Fatalf("parseVmRSS = %d", got)
	}
	if got := parseVmRSS([]byte("Name: x\n")); got != -1 {
		t.Fatalf("parseVmRSS without VmRSS = %d", got)
	}
}

func TestFlags(t *testing.T) {
	for _, bad := range [][]string{
		{"-size", "15"}, {"-qos", "3"}, {"-scenario", "nope"}, {"-window", "0"}, {"-clients", "0"}, {"-prefix", "a/+"}, {"extra"},
		{"-stalled", "-1"}, {"-scenario", "conn", "-stalled", "1"}, {"-stalled-fill", "1GB"}, {"-stalled-fill", "-1"},
	} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) accepted", bad)
		}
	}
	c, err := parseFlags([]string{"-count", "5"}, io.Discard)
	if err != nil || c.duration != 0 || c.count != 5 {
		t.Fatalf("-count alone: %+v %v", c, err)
	}
	c, _ = parseFlags(nil, io.Discard)
	if c.duration != 10*time.Second || c.window != 1000 || c.stalled != 0 || c.fill != 16<<20 {
		t.Fatalf("defaults: %+v", c)
	}
	for in, want := range map[string]int64{"0": 0, "1000": 1000, "512KiB": 512 << 10, "3MiB": 3 << 20} {
		if c, err := parseFlags([]string{"-stalled", "1", "-stalled-fill", in}, io.Discard); err != nil || c.fill != want || c.stalled != 1 {
			t.Errorf("-stalled-fill %s: %+v %v, want %d", in, c, err, want)
		}
	}
}

func TestSummarize(t *testing.T) {
	var rs []Result
	for i, v := range []float64{100, 300, 200} {
		rs = append(rs,
			Result{Name: "fan-in", Broker: "mosquitto", Scenario: "fanin", DeliveredPerSec: v, Lost: uint64(i)},
			Result{Name: "fan-in", Broker: "emqd", Scenario: "fanin", DeliveredPerSec: 4 * v},
			Result{Name: "p99", Broker: "emqd", Scenario: "fanin", Rate: 10, P99us: v},
			Result{Name: "p99", Broker: "mosquitto", Scenario: "fanin", Rate: 10, P99us: 2 * v},
			Result{Name: "idle", Broker: "emqd", Scenario: "conn", ConnectPerSec: v, RSSAddedKB: 1024 * int64(i)},
			Result{Name: "idle", Broker: "mosquitto", Scenario: "conn", ConnectPerSec: v, RSSAddedKB: 1024},
			Result{Name: "fan-out", Broker: "emqd", Scenario: "fanout", Clients: 100, DeliveredPerSec: 10 * v},
			Result{Name: "fan-out", Broker: "mosquitto", Scenario: "fanout", Clients: 100, DeliveredPerSec: v},
			Result{Name: "fan-out stalled", Broker: "emqd", Scenario: "fanout", Clients: 100, StalledSubscribers: 1, DeliveredPerSec: 9 * v},
			Result{Name: "fan-out stalled", Broker: "mosquitto", Scenario: "fanout", Clients: 100, StalledSubscribers: 1, DeliveredPerSec: v / 2},
		)
	}
	var out strings.Builder
	summarize(rs, &out)
	for _, want := range []string{
		"| case | metric | mosquitto | emqd | emqd / mosquitto |",
		"| fan-in | delivered msgs/s | 200 | 800 | 4.00 | 3 + 0 / 0 + 0 |",
		"| p99 | p99 latency (µs) | 400 | 200 | 0.50 |",
		"| idle | connections/s | 200 | 200 | 1.00 |",
		"| idle | RSS added (MiB) | 1.0 | 1.0 | 1.00 |",
		"| fan-in | emqd | 3 |",
		"| fan-out stalled | delivered msgs/s | 100 | 1800 | 18.00 |",
		"| fan-out stalled | fan-out | mosquitto | 200 | 100 | 0.50 |",
		"| fan-out stalled | fan-out | emqd | 2000 | 1800 | 0.90 |",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
}
