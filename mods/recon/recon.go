package recon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	"github.com/emqgo/broker"
)

// Config configures a Recon. Its conf tags are EMQ's
// etc/plugins/emq_recon.conf keys without the "recon." prefix.
type Config struct {
	// GCInterval is how often a garbage collection is forced and freed
	// memory returned to the operating system; 0 means never. EMQ writes a
	// number of seconds (600).
	GCInterval time.Duration `conf:"gc_interval,unit=s"`
}

// Validate reports what is wrong with c.
func (c Config) Validate() error {
	if c.GCInterval < 0 {
		return fmt.Errorf("recon: gc_interval %v is negative", c.GCInterval)
	}
	return nil
}

// SampleInterval is how often a running Recon samples memory for its
// "max" values.
const SampleInterval = time.Second

// Recon reads the Go runtime's statistics for the "recon" command. Create
// one with New; it is safe for concurrent use.
type Recon struct {
	cfg Config

	mu  sync.Mutex
	max map[string]uint64 // memory class or summary name -> highest seen
	// maxUsage is the highest used/allocated ratio seen.
	maxUsage float64
}

// New returns a Recon configured by cfg, or cfg's problem.
func New(cfg Config) (*Recon, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Recon{cfg: cfg, max: make(map[string]uint64)}
	r.sampleMemory()
	return r, nil
}

// Config returns r's configuration.
func (r *Recon) Config() Config { return r.cfg }

// Run samples memory every SampleInterval and, with Config.GCInterval
// set, forces a garbage collection at that interval, until ctx ends.
func (r *Recon) Run(ctx context.Context) {
	sample := time.NewTicker(SampleInterval)
	defer sample.Stop()
	var gc <-chan time.Time
	if r.cfg.GCInterval > 0 {
		t := time.NewTicker(r.cfg.GCInterval)
		defer t.Stop()
		gc = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-sample.C:
			r.sampleMemory()
		case <-gc:
			r.GC()
		}
	}
}

// Attach registers r's command on b and runs r (see Run) until detach is
// called or b closes. detach is safe to call more than once.
func (r *Recon) Attach(b *broker.Broker) (detach func(), err error) {
	unregister, err := b.RegisterCommand(r.Command(b))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(b.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.Run(ctx)
	}()
	return sync.OnceFunc(func() {
		unregister()
		cancel()
		<-done
	}), nil
}

// ---- reading runtime/metrics ------------------------------------------------

// supported is the set of metric names this Go runtime has.
var supported = sync.OnceValue(func() map[string]bool {
	m := make(map[string]bool)
	for _, d := range metrics.All() {
		m[d.Name] = true
	}
	return m
})

// read returns the values of the scalar metrics names; a metric the
// runtime does not have reads 0.
func read(names ...string) map[string]float64 {
	samples := make([]metrics.Sample, 0, len(names))
	for _, n := range names {
		if supported()[n] {
			samples = append(samples, metrics.Sample{Name: n})
		}
	}
	metrics.Read(samples)
	out := make(map[string]float64, len(names))
	for _, s := range samples {
		switch s.Value.Kind() {
		case metrics.KindUint64:
			out[s.Name] = float64(s.Value.Uint64())
		case metrics.KindFloat64:
			out[s.Name] = s.Value.Float64()
		}
	}
	return out
}

// memClasses are the runtime's memory classes, in listing order, without
// the "/memory/classes/" prefix and ":bytes" unit.
var memClasses = []string{
	"heap/objects", "heap/unused", "heap/free", "heap/released", "heap/stacks",
	"os-stacks", "metadata/mcache/inuse", "metadata/mcache/free", "metadata/mspan/inuse",
	"metadata/mspan/free", "metadata/other", "profiling/buckets", "other", "total",
}

func classMetric(c string) string { return "/memory/classes/" + c + ":bytes" }

// Memory is recon_alloc:memory/2 for Go: what the runtime holds from the
// operating system (Allocated), what of it is in use (Used: heap objects,
// stacks, runtime metadata and other runtime memory), the rest (Unused:
// free heap spans and metadata), and Usage = Used / Allocated. The Max
// fields are the highest values seen.
type Memory struct {
	Used, Allocated, Unused          uint64
	Usage                            float64
	MaxUsed, MaxAllocated, MaxUnused uint64
	MaxUsage                         float64
}

// Class is the memory of one runtime memory class, such as
// "heap/objects" (see runtime/metrics, /memory/classes/...), now and at
// most.
type Class struct {
	Name         string
	Current, Max uint64
}

// sampleMemory reads the memory classes, updates the maxima and returns
// the current values.
func (r *Recon) sampleMemory() map[string]uint64 {
	names := make([]string, len(memClasses))
	for i, c := range memClasses {
		names[i] = classMetric(c)
	}
	v := read(names...)
	cur := make(map[string]uint64, len(memClasses)+3)
	for _, c := range memClasses {
		cur[c] = uint64(v[classMetric(c)])
	}
	alloc := sub(cur["total"], cur["heap/released"])
	unused := cur["heap/free"] + cur["heap/unused"] + cur["metadata/mcache/free"] + cur["metadata/mspan/free"]
	cur["=allocated"] = alloc
	cur["=unused"] = min(unused, alloc)
	cur["=used"] = alloc - cur["=unused"]
	r.mu.Lock()
	for k, n := range cur {
		r.max[k] = max(r.max[k], n)
	}
	if alloc > 0 {
		r.maxUsage = max(r.maxUsage, float64(cur["=used"])/float64(alloc))
	}
	r.mu.Unlock()
	return cur
}

func sub(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}

// Memory returns the memory now and the highest seen.
func (r *Recon) Memory() Memory {
	cur := r.sampleMemory()
	r.mu.Lock()
	defer r.mu.Unlock()
	m := Memory{
		Used: cur["=used"], Allocated: cur["=allocated"], Unused: cur["=unused"],
		MaxUsed: r.max["=used"], MaxAllocated: r.max["=allocated"], MaxUnused: r.max["=unused"],
		MaxUsage: r.maxUsage,
	}
	if m.Allocated > 0 {
		m.Usage = float64(m.Used) / float64(m.Allocated)
	}
	return m
}

// Allocated returns the memory of each runtime memory class, now and at
// most, in the order of runtime/metrics' documentation, "total" last.
func (r *Recon) Allocated() []Class {
	cur := r.sampleMemory()
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Class, len(memClasses))
	for i, c := range memClasses {
		out[i] = Class{Name: c, Current: cur[c], Max: r.max[c]}
	}
	return out
}

// GCStats describes the garbage collector.
type GCStats struct {
	// Count is the number of completed collections; Forced those forced by
	// the program (runtime.GC, recon gc).
	Count, Forced uint64
	// Last is when the last collection ended; zero if none has.
	Last time.Time
	// PauseTotal is the total stop-the-world pause time.
	PauseTotal time.Duration
	// Pauses are the minimum, 25th, 50th and 75th percentiles and maximum
	// of the recent pauses.
	Pauses [5]time.Duration
	// CPUSeconds is the CPU time spent by the collector.
	CPUSeconds float64
	// HeapLive is the heap marked live by the last collection; HeapGoal
	// the heap size that triggers the next.
	HeapLive, HeapGoal uint64
	// GOGC is the GOGC percentage, -1 when off; MemoryLimit the soft
	// memory limit (GOMEMLIMIT) in bytes.
	GOGC        int64
	MemoryLimit int64
}

// GCStats returns the garbage collector's statistics and settings.
func (r *Recon) GCStats() GCStats {
	var ds debug.GCStats
	ds.PauseQuantiles = make([]time.Duration, 5)
	debug.ReadGCStats(&ds)
	v := read("/gc/cycles/total:gc-cycles", "/gc/cycles/forced:gc-cycles", "/cpu/classes/gc/total:cpu-seconds",
		"/gc/heap/live:bytes", "/gc/heap/goal:bytes", "/gc/gogc:percent", "/gc/gomemlimit:bytes")
	s := GCStats{
		Count:       uint64(ds.NumGC),
		Forced:      uint64(v["/gc/cycles/forced:gc-cycles"]),
		PauseTotal:  ds.PauseTotal,
		CPUSeconds:  v["/cpu/classes/gc/total:cpu-seconds"],
		HeapLive:    uint64(v["/gc/heap/live:bytes"]),
		HeapGoal:    uint64(v["/gc/heap/goal:bytes"]),
		GOGC:        gogc(v["/gc/gogc:percent"]),
		MemoryLimit: debug.SetMemoryLimit(-1), // a negative limit only reads it
	}
	if s.GOGC == 0 && !supported()["/gc/gogc:percent"] {
		s.GOGC = 100
	}
	if ds.NumGC > 0 {
		s.Last = ds.LastGC
	}
	copy(s.Pauses[:], ds.PauseQuantiles)
	return s
}

// gogc converts the /gc/gogc:percent metric, whose "off" is the largest
// uint64, to GOGC's terms.
func gogc(v float64) int64 {
	if v > math.MaxInt32 {
		return -1
	}
	return int64(v)
}

// Goroutines counts goroutines by state, and the threads that run them.
type Goroutines struct {
	// Total is the number of live goroutines; Running, Runnable, Waiting
	// and NotInGo (in a system call or cgo) split it by state, when the
	// runtime reports it (Go 1.26 and later).
	Total, Running, Runnable, Waiting, NotInGo uint64
	// Created is the number of goroutines created since the program
	// started.
	Created uint64
	// Threads is the number of operating system threads; GOMAXPROCS the
	// limit of those running Go code at once.
	Threads, GOMAXPROCS uint64
}

// Goroutines returns the goroutine counts.
func (r *Recon) Goroutines() Goroutines {
	v := read("/sched/goroutines:goroutines", "/sched/goroutines/running:goroutines",
		"/sched/goroutines/runnable:goroutines", "/sched/goroutines/waiting:goroutines",
		"/sched/goroutines/not-in-go:goroutines", "/sched/goroutines-created:goroutines",
		"/sched/threads/total:threads", "/sched/gomaxprocs:threads")
	g := Goroutines{
		Total:      uint64(v["/sched/goroutines:goroutines"]),
		Running:    uint64(v["/sched/goroutines/running:goroutines"]),
		Runnable:   uint64(v["/sched/goroutines/runnable:goroutines"]),
		Waiting:    uint64(v["/sched/goroutines/waiting:goroutines"]),
		NotInGo:    uint64(v["/sched/goroutines/not-in-go:goroutines"]),
		Created:    uint64(v["/sched/goroutines-created:goroutines"]),
		Threads:    uint64(v["/sched/threads/total:threads"]),
		GOMAXPROCS: uint64(v["/sched/gomaxprocs:threads"]),
	}
	if g.Total == 0 {
		g.Total = uint64(runtime.NumGoroutine())
	}
	if g.GOMAXPROCS == 0 {
		g.GOMAXPROCS = uint64(runtime.GOMAXPROCS(0))
	}
	return g
}

// Stack is a goroutine stack shared by Count goroutines, in the text form
// of the goroutine profile (runtime/pprof, debug=1): a "<count> @ <pcs>"
// line followed by one "#\t<pc>\t<function>\t<file>:<line>" line a frame.
type Stack struct {
	Count int
	Text  string
}

// Stacks returns the n most common goroutine stacks, most common first,
// and the total number of goroutines.
func (r *Recon) Stacks(n int) (stacks []Stack, total int) {
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&buf, 1); err != nil {
		return nil, runtime.NumGoroutine()
	}
	text := strings.TrimSpace(buf.String())
	header, rest, _ := strings.Cut(text, "\n")
	fmt.Sscanf(header, "goroutine profile: total %d", &total)
	for rec := range strings.SplitSeq(rest, "\n\n") {
		rec = strings.TrimSpace(rec)
		if rec == "" {
			continue
		}
		if len(stacks) == n {
			break
		}
		var count int
		fmt.Sscanf(rec, "%d @", &count)
		stacks = append(stacks, Stack{Count: count, Text: rec})
	}
	return stacks, total
}

// Collection is what a forced garbage collection did.
type Collection struct {
	// HeapBefore and HeapAfter are the bytes of heap objects, live or
	// not yet collected, before and after.
	HeapBefore, HeapAfter uint64
	// AllocatedBefore and AllocatedAfter are the bytes held from the
	// operating system (see Memory) before and after.
	AllocatedBefore, AllocatedAfter uint64
	// Took is how long the collection took.
	Took time.Duration
}

// GC forces a garbage collection and returns as much memory as possible
// to the operating system (debug.FreeOSMemory).
func (r *Recon) GC() Collection {
	before := r.sampleMemory()
	start := time.Now()
	debug.FreeOSMemory()
	took := time.Since(start)
	after := r.sampleMemory()
	return Collection{
		HeapBefore: before["heap/objects"], HeapAfter: after["heap/objects"],
		AllocatedBefore: before["=allocated"], AllocatedAfter: after["=allocated"],
		Took: took,
	}
}

// NodeSample is one sample of NodeStats, recon:node_stats for Go: the
// first fields are values at the end of the interval, the others what
// happened during it.
type NodeSample struct {
	// Goroutines is the number of goroutines (recon: process_count);
	// RunQueue those waiting for a thread (run_queue).
	Goroutines, RunQueue uint64
	// MemoryTotal is the memory held from the operating system;
	// MemoryHeap the heap objects; MemoryStacks the goroutine and
	// system stacks.
	MemoryTotal, MemoryHeap, MemoryStacks uint64
	// BytesIn and BytesOut are the bytes the broker received and sent
	// (0 without a broker).
	BytesIn, BytesOut uint64
	// GCCount is the number of collections, GCBytesFreed the heap bytes
	// they freed (recon: gc_words_reclaimed), BytesAllocated the heap
	// bytes allocated.
	GCCount, GCBytesFreed, BytesAllocated uint64
	// CPUSeconds is the CPU time the process used, user and system.
	CPUSeconds float64
	// SchedulerUsage is the fraction of the available CPU time (GOMAXPROCS
	// × the interval) the process used (recon: scheduler_usage).
	SchedulerUsage float64
}

// String formats s as recon:node_stats_print did, an Erlang term:
// {[{goroutines,12},...],[{bytes_in,0},...]}.
func (s NodeSample) String() string {
	return fmt.Sprintf("{[{goroutines,%d},{run_queue,%d},{memory_total,%d},{memory_heap,%d},{memory_stacks,%d}],"+
		"[{bytes_in,%d},{bytes_out,%d},{gc_count,%d},{gc_bytes_freed,%d},{bytes_allocated,%d},{cpu_seconds,%s},{scheduler_usage,%s}]}",
		s.Goroutines, s.RunQueue, s.MemoryTotal, s.MemoryHeap, s.MemoryStacks,
		s.BytesIn, s.BytesOut, s.GCCount, s.GCBytesFreed, s.BytesAllocated, formatFloat(s.CPUSeconds), formatFloat(s.SchedulerUsage))
}

var nodeMetrics = []string{
	"/sched/goroutines:goroutines", "/sched/goroutines/runnable:goroutines",
	"/gc/cycles/total:gc-cycles", "/gc/heap/frees:bytes", "/gc/heap/allocs:bytes",
	"/cpu/classes/total:cpu-seconds", "/cpu/classes/idle:cpu-seconds",
}

// NodeStats takes n samples, interval apart, and calls fn with each, as
// recon:node_stats(N, Interval) did. b, if not nil, gives the bytes in and
// out. It returns early with ctx's error when ctx ends.
func (r *Recon) NodeStats(ctx context.Context, b *broker.Broker, n int, interval time.Duration, fn func(NodeSample)) error {
	if n < 1 || interval <= 0 {
		return errors.New("recon: node_stats needs n >= 1 and a positive interval")
	}
	bytesIO := func() (in, out uint64) {
		if b == nil {
			return 0, 0
		}
		m := b.Metrics()
		return m["bytes/received"], m["bytes/sent"]
	}
	prev := read(nodeMetrics...)
	prevIn, prevOut := bytesIO()
	prevCPU, haveCPU := processCPU()
	prevAt := time.Now()
	t := time.NewTicker(interval)
	defer t.Stop()
	for range n {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		cur := read(nodeMetrics...)
		in, out := bytesIO()
		mem := r.sampleMemory()
		d := func(name string) float64 { return cur[name] - prev[name] }
		s := NodeSample{
			Goroutines:     uint64(cur["/sched/goroutines:goroutines"]),
			RunQueue:       uint64(cur["/sched/goroutines/runnable:goroutines"]),
			MemoryTotal:    mem["=allocated"],
			MemoryHeap:     mem["heap/objects"],
			MemoryStacks:   mem["heap/stacks"] + mem["os-stacks"],
			BytesIn:        sub(in, prevIn),
			BytesOut:       sub(out, prevOut),
			GCCount:        uint64(d("/gc/cycles/total:gc-cycles")),
			GCBytesFreed:   uint64(d("/gc/heap/frees:bytes")),
			BytesAllocated: uint64(d("/gc/heap/allocs:bytes")),
		}
		cpu, _ := processCPU()
		now := time.Now()
		if haveCPU {
			s.CPUSeconds = (cpu - prevCPU).Seconds()
			if avail := now.Sub(prevAt).Seconds() * float64(runtime.GOMAXPROCS(0)); avail > 0 {
				s.SchedulerUsage = min(1, s.CPUSeconds/avail)
			}
		} else if total := d("/cpu/classes/total:cpu-seconds"); total > 0 {
			// The runtime's estimates, brought up to date at each collection.
			s.CPUSeconds = total - d("/cpu/classes/idle:cpu-seconds")
			s.SchedulerUsage = max(0, 1-d("/cpu/classes/idle:cpu-seconds")/total)
		}
		fn(s)
		prev, prevIn, prevOut, prevCPU, prevAt = cur, in, out, cpu, now
	}
	return nil
}
