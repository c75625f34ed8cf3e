package main

import (
	"encoding/binary"
	"math/bits"
	"sync/atomic"
	"time"
)

// Every message the tool publishes starts with a 16-byte header, the rest of
// the payload being filler:
//
//	bytes 0-7   send time, nanoseconds since the run's start (monotonic), little endian
//	bytes 8-11  sequence number within the publisher, from 0
//	bytes 12-15 publisher id: the run's 16-bit tag << 16 | the publisher's index
//
// The subscriber reads the send time to compute the end-to-end latency, and
// the publisher id and sequence number to find duplicates and losses on each
// route (publisher → subscriber). The run tag keeps messages of another run
// (or of anything else publishing on the same topics) apart: they are counted
// as foreign and otherwise ignored.
const headerSize = 16

// putHeader writes the header into p, which must be at least headerSize long.
func putHeader(p []byte, sendNS int64, seq, pubID uint32) {
	binary.LittleEndian.PutUint64(p[0:8], uint64(sendNS))
	binary.LittleEndian.PutUint32(p[8:12], seq)
	binary.LittleEndian.PutUint32(p[12:16], pubID)
}

// parseHeader reads the header of p; ok is false when p is too short.
func parseHeader(p []byte) (sendNS int64, seq, pubID uint32, ok bool) {
	if len(p) < headerSize {
		return 0, 0, 0, false
	}
	return int64(binary.LittleEndian.Uint64(p[0:8])), binary.LittleEndian.Uint32(p[8:12]), binary.LittleEndian.Uint32(p[12:16]), true
}

// pubIDOf makes a publisher id from the run tag and the publisher's index.
func pubIDOf(tag uint16, index int) uint32 { return uint32(tag)<<16 | uint32(uint16(index)) }

// clock gives nanoseconds since the run's start from the monotonic clock,
// shared by every goroutine of the run so that a send time taken by a
// publisher compares with a receive time taken by a subscriber.
type clock struct{ start time.Time }

func (c clock) now() int64 { return int64(time.Since(c.start)) }

// hist is a log-linear latency histogram of nanosecond values: exact below
// 64 ns, then 64 buckets per power of two (a bucket is at most 1/64 = 1.6% of
// its value wide). Recording allocates nothing. A hist is owned by one
// goroutine; merge them after the run.
type hist struct {
	counts [histBuckets]uint32
	n      uint64
	max    int64
}

const (
	histSub     = 6 // log2 of the sub-buckets per power of two
	histMaxExp  = 40
	histBuckets = (histMaxExp + 2) << histSub
)

func histBucket(v int64) int {
	if v < 1<<histSub {
		if v < 0 {
			return 0
		}
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - histSub - 1
	if shift > histMaxExp {
		return histBuckets - 1
	}
	return (shift+1)<<histSub + int(v>>uint(shift)) - 1<<histSub
}

// histUpper is the largest value that falls in bucket i.
func histUpper(i int) int64 {
	if i < 1<<histSub {
		return int64(i)
	}
	shift := i>>histSub - 1
	m := int64(i&(1<<histSub-1) + 1<<histSub)
	return (m+1)<<uint(shift) - 1
}

func (h *hist) record(v int64) {
	if v < 0 {
		v = 0
	}
	h.counts[histBucket(v)]++
	h.n++
	if v > h.max {
		h.max = v
	}
}

func (h *hist) merge(o *hist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	if o.max > h.max {
		h.max = o.max
	}
}

// quantile returns the upper bound of the bucket holding the q-quantile
// (0 < q <= 1), never more than the largest value recorded; 0 when empty.
func (h *hist) quantile(q float64) int64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.5)
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i, c := range h.counts {
		seen += uint64(c)
		if seen >= rank {
			return min(histUpper(i), h.max)
		}
	}
	return h.max
}

// route is what one subscriber knows of one publisher: which sequence
// numbers arrived (to count duplicates and, at the end, losses), and the
// highest one, which the publisher reads to keep its QoS 0 window.
type route struct {
	pub *publisher

	// next is the highest sequence number received + 1. Written by the
	// subscriber's reader, read by the publisher.
	next atomic.Uint64
	// wakeAt, when not 0, asks the subscriber to wake the publisher once
	// next reaches it.
	wakeAt atomic.Uint64

	// Owned by the subscriber's reader goroutine.
	seen      []uint64 // bitmap of the sequence numbers received
	unique    uint64
	dups      uint64
	reordered uint64
}

// record notes the arrival of seq and reports whether it is new.
func (r *route) record(seq uint32) bool {
	w := int(seq >> 6)
	if w >= len(r.seen) {
		n := max(2*len(r.seen), w+1, 64)
		s := make([]uint64, n)
		copy(s, r.seen)
		r.seen = s
	}
	bit := uint64(1) << (seq & 63)
	if r.seen[w]&bit != 0 {
		r.dups++
		return false
	}
	r.seen[w] |= bit
	r.unique++
	next := uint64(seq) + 1
	if cur := r.next.Load(); next > cur {
		r.next.Store(next)
		if wa := r.wakeAt.Load(); wa != 0 && next >= wa && r.wakeAt.CompareAndSwap(wa, 0) {
			r.pub.wake()
		}
	} else {
		r.reordered++
	}
	return true
}

// series counts events in time buckets of seriesStep since the start, so a
// rate can be computed over any interval after the run.
type series struct{ b []uint64 }

const seriesStep = int64(10 * time.Millisecond)

func (s *series) add(atNS int64, n uint64) {
	i := int(max(atNS, 0) / seriesStep)
	if i >= len(s.b) {
		b := make([]uint64, max(2*len(s.b), i+1, 1024))
		copy(b, s.b)
		s.b = b
	}
	s.b[i] += n
}

// sum returns the events in [fromNS, toNS), to the bucket.
func (s *series) sum(fromNS, toNS int64) uint64 {
	var t uint64
	lo, hi := int(max(fromNS, 0)/seriesStep), int(max(toNS, 0)/seriesStep)
	for i := lo; i < hi && i < len(s.b); i++ {
		t += s.b[i]
	}
	return t
}
