// Command bench is a load generator for MQTT 3.1.1 brokers: emqgo's own, or
// any other one it is pointed at with -addr.
//
//	bench -addr host:port [-scenario fanin|fanout|pairs|conn] [flags]
//	bench -summarize results.jsonl
//
// Scenarios:
//
//	fanin   -clients N publishers on <prefix>/<i> -> 1 subscriber on <prefix>/+
//	fanout  1 publisher on <prefix>/0 -> -clients N subscribers on <prefix>/0
//	pairs   -clients N publisher/subscriber pairs, pair i on <prefix>/<i>
//	conn    open -clients N connections, -parallel at a time, hold them idle
//	        for -hold: reports the connect rate and (with -pid) the RSS the
//	        broker added
//
// With -stalled N, N more subscribers connect and subscribe (after the
// healthy ones, on their filters in turn: <prefix>/+ for fanin, <prefix>/0
// for fanout, pair i mod -clients for pairs) with a 4 KiB socket receive
// buffer, then never read their sockets again: they show what a slow
// subscriber costs the healthy ones. Before the run, another connection
// sends them alone -stalled-fill bytes (on <prefix>-stalled, which they
// subscribe to as well), so that their socket buffers and the broker's
// queues for them are already full when the measurement starts. They are
// not counted as subscribers: expected, delivered, lost and the rates are
// about the healthy ones only.
//
// Publishers run closed loop by default: each keeps at most -window messages
// outstanding (QoS 0: sent and not yet received by every subscriber of the
// publisher, as the subscribers see it; QoS 1 and 2: not yet acknowledged by
// the broker, PUBACK or PUBCOMP) and sends as fast as that allows. With
// -rate R they run open loop instead (the latency mode): together they offer
// R messages a second, spread evenly over the publishers and sent on a
// ticker, in batches of what is due; QoS 1/2 messages still stay within the
// window.
//
// Every payload (-size bytes, at least 16) carries the publisher's id, a
// sequence number and the send time, so the subscribers measure the
// end-to-end latency and count, per route (publisher -> subscriber),
// duplicates, messages out of order and, after a drain at the end, messages
// lost. The run lasts -duration, or until every publisher sent -count
// messages, whichever comes first; -warmup excludes its start from the rates
// and latencies.
//
// With -pid, the broker's CPU time (utime+stime of /proc/PID/stat) and memory
// (VmRSS of /proc/PID/status) are read before and after.
//
// Output: a human-readable report, or with -json one JSON object on one line
// (see Result). -summarize reads such lines, as written by
// scripts/bench-compare, and prints per-case medians and broker ratios as a
// Markdown table.
//
// The client is a lean MQTT 3.1.1 client written for the purpose, with the
// project's codec (package packets): one reader goroutine per connection,
// writes batched one per batch, QoS 1/2 acknowledgements handled in the
// reader, nothing allocated per message. The tool only ever connects to
// -addr; every run is bounded in time and stops by itself.
package main

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	os.Exit(runMain(os.Args[1:], os.Stdout, os.Stderr))
}

// config is the command line.
type config struct {
	addr     string
	scenario string
	clients  int
	qos      int
	size     int
	duration time.Duration
	count    int
	warmup   time.Duration
	window   int
	rate     float64
	pid      int
	json     bool
	prefix   string
	parallel int
	hold     time.Duration
	timeout  time.Duration
	drain    time.Duration
	stall    time.Duration
	stalled  int
	fill     int64 // -stalled-fill
	name     string
	broker   string
	cpuprof  string
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.addr, "addr", "127.0.0.1:1883", "the broker's `host:port`")
	fs.StringVar(&c.scenario, "scenario", "fanin", "fanin, fanout, pairs or conn")
	fs.IntVar(&c.clients, "clients", 10, "publishers (fanin), subscribers (fanout), pairs (pairs) or connections (conn)")
	fs.IntVar(&c.qos, "qos", 0, "QoS of the publishes and subscriptions: 0, 1 or 2")
	fs.IntVar(&c.size, "size", 64, "payload `bytes`, at least 16")
	fs.DurationVar(&c.duration, "duration", 0, "how long publishers publish (default 10s when -count is not given)")
	fs.IntVar(&c.count, "count", 0, "messages each publisher sends (0: no limit, -duration decides)")
	fs.DurationVar(&c.warmup, "warmup", 0, "start of the run left out of rates and latencies")
	fs.IntVar(&c.window, "window", 1000, "messages outstanding per publisher (closed loop; QoS 1/2 also with -rate), 1 to 65535")
	fs.Float64Var(&c.rate, "rate", 0, "offered `msgs/s` over all publishers: open loop (0: closed loop)")
	fs.IntVar(&c.pid, "pid", 0, "the broker's process id, to report its CPU and RSS from /proc")
	fs.BoolVar(&c.json, "json", false, "print the result as one JSON line")
	fs.StringVar(&c.prefix, "prefix", "t", "topic prefix")
	fs.IntVar(&c.parallel, "parallel", 100, "conn: connections opened at once")
	fs.DurationVar(&c.hold, "hold", 2*time.Second, "conn: how long the connections are held idle before RSS is read")
	fs.DurationVar(&c.timeout, "timeout", 10*time.Second, "connect and subscribe timeout")
	fs.DurationVar(&c.drain, "drain", 5*time.Second, "longest wait, after publishing stops, for messages still on their way")
	fs.DurationVar(&c.stall, "stall", 2*time.Second, "a full window with no progress for this long is given up (counted as a stall)")
	fs.IntVar(&c.stalled, "stalled", 0, "fanin, fanout, pairs: `N` extra subscribers on the scenario's subscriptions that never read their sockets after SUBACK")
	fill := fs.String("stalled-fill", "16MiB", "with -stalled: `bytes` of QoS 0 messages sent to the stalled subscribers alone before the run (0: none), in 32 KiB messages; a suffix KiB or MiB may follow the number")
	fs.StringVar(&c.name, "name", "", "a name for the run, copied into the result (scripts group by it)")
	fs.StringVar(&c.broker, "broker", "", "the broker's name, copied into the result")
	fs.StringVar(&c.cpuprof, "cpuprofile", "", "write a CPU profile of the tool itself to `file`")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if c.duration == 0 && c.count == 0 {
		c.duration = 10 * time.Second
	}
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	switch c.scenario {
	case "fanin", "fanout", "pairs", "conn":
	default:
		bad("-scenario %q: want fanin, fanout, pairs or conn", c.scenario)
	}
	if c.clients < 1 || c.clients > 65535 {
		bad("-clients %d: want 1 to 65535", c.clients)
	}
	if c.qos < 0 || c.qos > 2 {
		bad("-qos %d: want 0, 1 or 2", c.qos)
	}
	if c.size < headerSize || c.size > 1<<20 {
		bad("-size %d: want %d to 1048576 bytes", c.size, headerSize)
	}
	if c.window < 1 || c.window > 65535 {
		bad("-window %d: want 1 to 65535", c.window)
	}
	if c.duration < 0 || c.count < 0 || c.warmup < 0 || c.rate < 0 {
		bad("-duration, -count, -warmup and -rate must not be negative")
	}
	if c.stalled < 0 || c.stalled > 65535 {
		bad("-stalled %d: want 0 to 65535", c.stalled)
	}
	if n, err := parseBytes(*fill); err != nil {
		bad("-stalled-fill %q: %v", *fill, err)
	} else {
		c.fill = n
	}
	if c.stalled > 0 && c.scenario == "conn" {
		bad("-stalled applies to fanin, fanout and pairs, not conn")
	}
	if c.parallel < 1 {
		bad("-parallel %d: want 1 or more", c.parallel)
	}
	if c.timeout <= 0 || c.drain < 0 || c.stall <= 0 {
		bad("-timeout and -stall must be positive, -drain not negative")
	}
	if strings.ContainsAny(c.prefix, "+#") || c.prefix == "" {
		bad("-prefix %q: want a topic name without wildcards", c.prefix)
	}
	return c, errors.Join(errs...)
}

func runMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 2 && (args[0] == "-summarize" || args[0] == "--summarize") {
		if err := summarizeFile(args[1], stdout); err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 1
		}
		return 0
	}
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 2
	}
	if cfg.cpuprof != "" {
		f, err := os.Create(cfg.cpuprof)
		if err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	res, err := execute(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	}
	if cfg.json {
		b, _ := json.Marshal(res)
		fmt.Fprintf(stdout, "%s\n", b)
	} else {
		res.print(stdout)
	}
	return 0
}

// execute runs the scenario that cfg describes.
func execute(cfg *config) (*Result, error) {
	var t [2]byte
	rand.Read(t[:])
	r := &run{cfg: cfg, clk: clock{start: time.Now()}, tag: binary.BigEndian.Uint16(t[:])}
	r.dial = dialer{addr: cfg.addr, timeout: cfg.timeout, clk: r.clk}
	if cfg.scenario == "conn" {
		return r.conn()
	}
	return r.pubsub()
}

// Result is the outcome of a run; -json prints it. Latencies are in
// microseconds, memory in KiB, rates per second.
type Result struct {
	Name     string  `json:"name,omitempty"`
	Broker   string  `json:"broker,omitempty"`
	Addr     string  `json:"addr"`
	Scenario string  `json:"scenario"`
	QoS      int     `json:"qos"`
	Size     int     `json:"size"`
	Clients  int     `json:"clients"`
	Window   int     `json:"window"`
	Rate     float64 `json:"rate,omitempty"` // offered msgs/s; 0 for closed loop
	Seconds  float64 `json:"seconds"`        // measured interval

	Publishers         int     `json:"publishers,omitempty"`
	Subscribers        int     `json:"subscribers,omitempty"`         // not counting the stalled ones
	StalledSubscribers int     `json:"stalled_subscribers,omitempty"` // -stalled: never reading, left out of every other number
	StalledFillBytes   int64   `json:"stalled_fill_bytes,omitempty"`  // sent to the stalled subscribers before the run
	Sent               uint64  `json:"sent"`
	SentPerSec         float64 `json:"sent_per_s"`
	Expected           uint64  `json:"expected"` // deliveries: sent × subscribers of each publisher
	Delivered          uint64  `json:"delivered"`
	DeliveredPerSec    float64 `json:"delivered_per_s"`
	Lost               uint64  `json:"lost"`
	Dups               uint64  `json:"dups"`
	Reordered          uint64  `json:"reordered"`
	Foreign            uint64  `json:"foreign,omitempty"`
	Stalls             uint64  `json:"stalls,omitempty"`
	Unacked            uint64  `json:"unacked,omitempty"` // QoS 1/2 publishes never acknowledged
	Behind             uint64  `json:"behind,omitempty"`
	Samples            uint64  `json:"samples"`
	P50us              float64 `json:"p50_us"`
	P90us              float64 `json:"p90_us"`
	P99us              float64 `json:"p99_us"`
	MaxUs              float64 `json:"max_us"`

	Connections   int     `json:"connections,omitempty"`
	ConnectPerSec float64 `json:"connect_per_s,omitempty"`
	ConnectP50ms  float64 `json:"connect_p50_ms,omitempty"`
	ConnectP99ms  float64 `json:"connect_p99_ms,omitempty"`
	RSSAddedKB    int64   `json:"rss_added_kb,omitempty"`
	RSSPerConnB   float64 `json:"rss_per_conn_bytes,omitempty"`

	BrokerCPUSec      float64 `json:"broker_cpu_s,omitempty"`
	BrokerCPUPct      float64 `json:"broker_cpu_pct,omitempty"`
	BrokerRSSBeforeKB int64   `json:"broker_rss_before_kb,omitempty"`
	BrokerRSSAfterKB  int64   `json:"broker_rss_after_kb,omitempty"`
	ClientCPUPct      float64 `json:"client_cpu_pct"`

	ErrorCount int      `json:"error_count"`
	Errors     []string `json:"errors,omitempty"`
}

func (r *run) newResult() *Result {
	c := r.cfg
	res := &Result{Name: c.name, Broker: c.broker, Addr: c.addr, Scenario: c.scenario, QoS: c.qos, Size: c.size,
		Clients: c.clients, Window: c.window, Rate: c.rate, StalledSubscribers: c.stalled}
	if c.stalled > 0 {
		res.StalledFillBytes = c.fill
	}
	return res
}

func (res *Result) setLatency(h *hist) {
	us := func(ns int64) float64 { return float64(ns) / 1e3 }
	res.Samples = h.n
	res.P50us, res.P90us, res.P99us, res.MaxUs = us(h.quantile(0.50)), us(h.quantile(0.90)), us(h.quantile(0.99)), us(h.max)
}

func (res *Result) print(w io.Writer) {
	name := res.Scenario
	if res.Name != "" {
		name = res.Name
	}
	fmt.Fprintf(w, "%s against %s", name, res.Addr)
	if res.Broker != "" {
		fmt.Fprintf(w, " (%s)", res.Broker)
	}
	fmt.Fprintln(w)
	if res.Scenario == "conn" {
		fmt.Fprintf(w, "  connections      %d, %.0f/s (p50 %.2f ms, p99 %.2f ms to CONNACK)\n", res.Connections, res.ConnectPerSec, res.ConnectP50ms, res.ConnectP99ms)
	} else {
		mode := fmt.Sprintf("closed loop, window %d", res.Window)
		if res.Rate > 0 {
			mode = fmt.Sprintf("open loop, %.0f msgs/s offered", res.Rate)
		}
		stalled := ""
		if res.StalledSubscribers > 0 {
			stalled = fmt.Sprintf(" (+ %d stalled, never reading, sent %.1f MiB before the run)",
				res.StalledSubscribers, float64(res.StalledFillBytes)/(1<<20))
		}
		fmt.Fprintf(w, "  setup            %d publishers, %d subscribers%s, QoS %d, %d B, %s, %.1f s measured\n",
			res.Publishers, res.Subscribers, stalled, res.QoS, res.Size, mode, res.Seconds)
		fmt.Fprintf(w, "  sent             %d (%.0f msgs/s)\n", res.Sent, res.SentPerSec)
		fmt.Fprintf(w, "  delivered        %d of %d (%.0f msgs/s)\n", res.Delivered, res.Expected, res.DeliveredPerSec)
		fmt.Fprintf(w, "  lost %d, duplicates %d, out of order %d", res.Lost, res.Dups, res.Reordered)
		if res.Foreign > 0 {
			fmt.Fprintf(w, ", foreign %d", res.Foreign)
		}
		if res.Stalls > 0 {
			fmt.Fprintf(w, ", stalls %d", res.Stalls)
		}
		if res.Unacked > 0 {
			fmt.Fprintf(w, ", never acknowledged %d", res.Unacked)
		}
		fmt.Fprintln(w)
		fmt.Fprintf(w, "  latency          p50 %.0f µs, p90 %.0f µs, p99 %.0f µs, max %.0f µs (%d samples)\n",
			res.P50us, res.P90us, res.P99us, res.MaxUs, res.Samples)
	}
	if res.BrokerRSSBeforeKB > 0 || res.BrokerCPUSec > 0 {
		fmt.Fprintf(w, "  broker           ")
		if res.Scenario != "conn" {
			fmt.Fprintf(w, "CPU %.2f s (%.0f%%), ", res.BrokerCPUSec, res.BrokerCPUPct)
		}
		fmt.Fprintf(w, "RSS %.1f -> %.1f MiB", float64(res.BrokerRSSBeforeKB)/1024, float64(res.BrokerRSSAfterKB)/1024)
		if res.Scenario == "conn" {
			fmt.Fprintf(w, " (+%.1f MiB, %.0f B a connection)", float64(res.RSSAddedKB)/1024, res.RSSPerConnB)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "  bench CPU        %.0f%%\n", res.ClientCPUPct)
	if res.ErrorCount > 0 {
		fmt.Fprintf(w, "  errors           %d: %s\n", res.ErrorCount, strings.Join(res.Errors, "; "))
	}
}

// conn opens cfg.clients idle connections, cfg.parallel at a time.
func (r *run) conn() (*Result, error) {
	cfg := r.cfg
	res := r.newResult()
	before := sampleProc(cfg.pid)
	res.BrokerRSSBeforeKB = before.rssKB
	conns := make([]net.Conn, cfg.clients)
	defer func() {
		for _, nc := range conns {
			if nc != nil {
				nc.SetWriteDeadline(time.Now().Add(time.Second))
				nc.Write([]byte{0xE0, 0}) // DISCONNECT
				nc.Close()
			}
		}
	}()
	var lats []hist
	var mu sync.Mutex
	var next atomic.Int64
	var wg sync.WaitGroup
	var nerr atomic.Int64
	var firstErr atomic.Value
	start := time.Now()
	self0 := selfCPU()
	for range min(cfg.parallel, cfg.clients) {
		wg.Go(func() {
			h := new(hist)
			for {
				i := int(next.Add(1) - 1)
				if i >= cfg.clients {
					break
				}
				t := r.clk.now()
				nc, _, err := r.dial.connect(r.clientID("c", i), 64)
				if err != nil {
					nerr.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				h.record(r.clk.now() - t)
				conns[i] = nc
			}
			mu.Lock()
			lats = append(lats, *h)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	res.ClientCPUPct = 100 * (selfCPU() - self0).Seconds() / elapsed.Seconds()
	var h hist
	for i := range lats {
		h.merge(&lats[i])
	}
	res.Connections = int(h.n)
	res.Seconds = elapsed.Seconds()
	res.ConnectPerSec = float64(h.n) / elapsed.Seconds()
	res.ConnectP50ms = float64(h.quantile(0.5)) / 1e6
	res.ConnectP99ms = float64(h.quantile(0.99)) / 1e6
	if n := nerr.Load(); n > 0 {
		res.ErrorCount = int(n)
		res.Errors = []string{firstErr.Load().(string)}
	}
	if cfg.pid > 0 {
		time.Sleep(cfg.hold)
		after := sampleProc(cfg.pid)
		res.BrokerRSSAfterKB = after.rssKB
		res.RSSAddedKB = after.rssKB - before.rssKB
		if h.n > 0 {
			res.RSSPerConnB = float64(res.RSSAddedKB*1024) / float64(h.n)
		}
	}
	return res, nil
}

// summarizeFile prints the summary of a file of -json result lines.
func summarizeFile(path string, w io.Writer) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var rs []Result
	for i, line := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var r Result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return fmt.Errorf("%s:%d: %w", path, i+1, err)
		}
		rs = append(rs, r)
	}
	summarize(rs, w)
	return nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// parseBytes reads a size such as 16MiB, 512KiB or 1000.
func parseBytes(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > 1<<40/mult {
		return 0, errors.New("want a whole number of bytes, KiB or MiB")
	}
	return n * mult, nil
}
