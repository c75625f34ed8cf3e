package recon_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/brokertest"
	"github.com/emqgo/broker/conf"
	"github.com/emqgo/broker/mods/recon"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// load starts a test broker with the plugin loaded with cfg.
func load(t *testing.T, cfg string) *brokertest.Broker {
	t.Helper()
	return brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
		if err := b.Plugins().Register(recon.Plugin); err != nil {
			t.Fatal(err)
		}
		m, err := conf.ParseString(cfg, "emq_recon.conf")
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Plugins().LoadWith(context.Background(), recon.Plugin.Name, m); err != nil {
			t.Fatalf("load: %v", err)
		}
	})
}

func exec(t *testing.T, b *brokertest.Broker, args ...string) string {
	t.Helper()
	var buf bytes.Buffer
	if err := b.Exec(context.Background(), &buf, args...); err != nil {
		t.Fatalf("%v: %v\n%s", args, err, buf.String())
	}
	return buf.String()
}

var lineRE = regexp.MustCompile(`^(\S+) *: (.*)$`)

// parse splits "key : value" lines, checking the key column is at least
// 20 wide and aligned, and returns keys in order and values by key.
func parse(t *testing.T, out string) ([]string, map[string]string) {
	t.Helper()
	var keys []string
	vals := map[string]string{}
	col := -1
	for l := range strings.SplitSeq(strings.TrimSuffix(out, "\n"), "\n") {
		m := lineRE.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("bad line %q in\n%s", l, out)
		}
		c := strings.Index(l, ": ")
		if col >= 0 && c != col || c < 20 {
			t.Errorf("line %q: colon at %d (want %d, at least 20)", l, c, col)
		}
		col = c
		keys = append(keys, m[1])
		vals[m[1]] = m[2]
	}
	return keys, vals
}

func num(t *testing.T, s string) float64 {
	t.Helper()
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("%q is not a number", s)
	}
	return f
}

func TestMemory(t *testing.T) {
	b := load(t, "")
	keys, v := parse(t, exec(t, b, "recon", "memory"))
	want := []string{"usage/current", "usage/max", "used/current", "used/max", "allocated/current", "allocated/max", "unused/current", "unused/max"}
	if strings.Join(keys, " ") != strings.Join(want, " ") {
		t.Fatalf("keys %v, want %v", keys, want)
	}
	if u := num(t, v["usage/current"]); u <= 0 || u > 1 {
		t.Errorf("usage %v", u)
	}
	used, alloc, unused := num(t, v["used/current"]), num(t, v["allocated/current"]), num(t, v["unused/current"])
	if used <= 0 || used+unused != alloc {
		t.Errorf("used %v + unused %v != allocated %v", used, unused, alloc)
	}
	for _, k := range []string{"used", "allocated", "unused", "usage"} {
		if num(t, v[k+"/max"]) < num(t, v[k+"/current"]) {
			t.Errorf("%s: max %s < current %s", k, v[k+"/max"], v[k+"/current"])
		}
	}
}

func TestAllocated(t *testing.T) {
	b := load(t, "")
	keys, v := parse(t, exec(t, b, "recon", "allocated"))
	if len(keys) != 28 || keys[0] != "heap/objects/current" || keys[14] != "heap/objects/max" || keys[27] != "total/max" {
		t.Fatalf("keys %v", keys)
	}
	if num(t, v["heap/objects/current"]) <= 0 || num(t, v["total/max"]) < num(t, v["total/current"]) {
		t.Errorf("values %v", v)
	}
}

func TestGCAndGCStats(t *testing.T) {
	b := load(t, "")
	_, before := parse(t, exec(t, b, "recon", "gc_stats"))
	for _, cmd := range []string{"gc", "bin_leak"} {
		keys, v := parse(t, exec(t, b, "recon", cmd))
		want := "heap/before heap/after heap/freed allocated/before allocated/after allocated/released took"
		if strings.Join(keys, " ") != want {
			t.Fatalf("%s: keys %v", cmd, keys)
		}
		if num(t, v["heap/before"])-num(t, v["heap/after"]) != num(t, v["heap/freed"]) && num(t, v["heap/freed"]) != 0 {
			t.Errorf("%s: %v", cmd, v)
		}
	}
	keys, after := parse(t, exec(t, b, "recon", "gc_stats"))
	want := "gc/count gc/forced gc/last gc/pause_total gc/pause_min gc/pause_p25 gc/pause_p50 gc/pause_p75 gc/pause_max gc/cpu_seconds heap/live heap/goal gogc gomemlimit"
	if strings.Join(keys, " ") != want {
		t.Fatalf("keys %v", keys)
	}
	if num(t, after["gc/forced"]) < num(t, before["gc/forced"])+2 || num(t, after["gc/count"]) < num(t, before["gc/count"])+2 {
		t.Errorf("gc/forced %s -> %s, gc/count %s -> %s", before["gc/forced"], after["gc/forced"], before["gc/count"], after["gc/count"])
	}
	if _, err := time.Parse(time.RFC3339, after["gc/last"]); err != nil {
		t.Errorf("gc/last %q", after["gc/last"])
	}
}

func TestGoroutinesAndStacks(t *testing.T) {
	b := load(t, "")
	b.Dial(t, "c1")
	keys, v := parse(t, exec(t, b, "recon", "goroutines"))
	if keys[0] != "goroutines/total" || len(keys) != 8 {
		t.Fatalf("keys %v", keys)
	}
	if num(t, v["goroutines/total"]) < 2 || num(t, v["gomaxprocs"]) < 1 {
		t.Errorf("%v", v)
	}
	out := exec(t, b, "recon", "stacks", "2")
	if !regexp.MustCompile(`^goroutine profile: total \d+\n`).MatchString(out) {
		t.Fatalf("stacks:\n%s", out)
	}
	groups := regexp.MustCompile(`(?m)^\d+ @ 0x`).FindAllString(out, -1)
	if len(groups) != 2 {
		t.Errorf("%d groups, want 2:\n%s", len(groups), out)
	}
	r, _ := recon.New(recon.Config{})
	stacks, total := r.Stacks(1000)
	sum := 0
	for i, s := range stacks {
		sum += s.Count
		if i > 0 && s.Count > stacks[i-1].Count {
			t.Errorf("stacks not sorted by count: %d after %d", s.Count, stacks[i-1].Count)
		}
	}
	if sum != total {
		t.Errorf("counts add up to %d, total %d", sum, total)
	}
}

var sampleRE = regexp.MustCompile(`^\{\[\{goroutines,(\d+)\},\{run_queue,\d+\},\{memory_total,\d+\},\{memory_heap,\d+\},\{memory_stacks,\d+\}\],` +
	`\[\{bytes_in,(\d+)\},\{bytes_out,(\d+)\},\{gc_count,\d+\},\{gc_bytes_freed,\d+\},\{bytes_allocated,\d+\},\{cpu_seconds,[0-9.]+\},\{scheduler_usage,[0-9.]+\}\]\}$`)

func TestNodeStats(t *testing.T) {
	b := load(t, "")
	out := exec(t, b, "recon", "node_stats", "2", "10")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines:\n%s", len(lines), out)
	}
	for _, l := range lines {
		if !sampleRE.MatchString(l) {
			t.Errorf("bad sample %q", l)
		}
	}
	// Bytes the broker sends between two samples are counted.
	r, _ := recon.New(recon.Config{})
	var samples []recon.NodeSample
	err := r.NodeStats(context.Background(), b.Broker, 2, 50*time.Millisecond, func(s recon.NodeSample) {
		samples = append(samples, s)
		if len(samples) == 1 {
			b.Dial(t, "c1")
			for start := time.Now(); time.Since(start) < 20*time.Millisecond; {
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if samples[1].BytesOut == 0 {
		t.Errorf("no bytes out counted: %+v", samples[1])
	}
	if s := samples[1]; s.CPUSeconds <= 0 || s.SchedulerUsage <= 0 || s.SchedulerUsage > 1 {
		t.Errorf("busy interval: cpu %v s, usage %v", s.CPUSeconds, s.SchedulerUsage)
	}
	// A cancelled context stops the sampling.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.NodeStats(ctx, nil, 10, time.Hour, func(recon.NodeSample) {}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestUsage(t *testing.T) {
	b := load(t, "")
	for _, args := range [][]string{{"recon"}, {"recon", "nope"}, {"recon", "memory", "x"}, {"recon", "stacks", "0"},
		{"recon", "node_stats", "1", "x"}, {"recon", "remote_load", "Mod"}} {
		var buf bytes.Buffer
		err := b.Exec(context.Background(), &buf, args...)
		if !errors.Is(err, broker.ErrUsage) {
			t.Errorf("%v: error %v, want ErrUsage", args, err)
		}
		if !strings.Contains(buf.String(), "recon memory                                    # Memory used, allocated and unused, current and max\n") {
			t.Errorf("%v: usage:\n%s", args, buf.String())
		}
	}
}

// Unloading removes the command and stops the sampler; clients stay.
func TestUnloadWhileConnected(t *testing.T) {
	b := load(t, "")
	c := b.Dial(t, "c1")
	c.Subscribe(t, "t", 1)
	if err := b.Plugins().Unload(context.Background(), recon.Plugin.Name); err != nil {
		t.Fatal(err)
	}
	if err := b.Exec(context.Background(), io.Discard, "recon", "memory"); !errors.Is(err, broker.ErrUsage) {
		t.Errorf("recon after unload: %v", err)
	}
	b.Dial(t, "pub").Publish(t, "t", []byte("x"), 1, false)
	c.Expect(t, "t")
}

// recon.gc_interval forces collections.
func TestGCInterval(t *testing.T) {
	r, err := recon.New(recon.Config{GCInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var detach func()
	b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
		if detach, err = r.Attach(b); err != nil {
			t.Fatal(err)
		}
	})
	start := r.GCStats().Forced
	deadline := time.Now().Add(brokertest.Timeout)
	for r.GCStats().Forced < start+3 {
		if time.Now().After(deadline) {
			t.Fatalf("forced collections: %d, want %d", r.GCStats().Forced, start+3)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if out := exec(t, b, "recon", "goroutines"); !strings.HasPrefix(out, "goroutines/total") {
		t.Fatalf("attached command: %q", out)
	}
	detach()
	detach()
	if err := b.Exec(context.Background(), io.Discard, "recon", "memory"); !errors.Is(err, broker.ErrUsage) {
		t.Errorf("recon after detach: %v", err)
	}
}

func TestConfig(t *testing.T) {
	for _, tc := range []struct {
		text string
		want time.Duration
	}{{"", 10 * time.Minute}, {"recon.gc_interval = 0\n", 0}, {"recon.gc_interval = 1h\n", time.Hour}} {
		m, _ := conf.ParseString(recon.Defaults+tc.text, "x.conf")
		c, err := recon.ParseConfig(m)
		if err != nil || c.GCInterval != tc.want {
			t.Errorf("%q: %v %v, want %v", tc.text, c.GCInterval, err, tc.want)
		}
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "emq_recon.conf")
	for _, tc := range []struct{ text, want string }{
		{"recon.gc_interval = soon\n", path + ":1: recon.gc_interval: invalid value \"soon\""},
		{"recon.gc_interva = 1\n", path + ":1: recon.gc_interva: unknown key"},
	} {
		os.WriteFile(path, []byte(tc.text), 0o644)
		b, _ := broker.New(broker.Options{})
		b.Plugins().Register(recon.Plugin)
		b.Plugins().SetConfigDir(dir)
		err := b.Plugins().Load(context.Background(), recon.Plugin.Name)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.text, err, tc.want)
		}
		b.Close()
	}
	if _, err := recon.New(recon.Config{GCInterval: -1}); err == nil {
		t.Error("negative interval accepted")
	}
}

func TestHandler(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("/debug/pprof/", recon.Handler())
	mux.Handle("/x/", http.StripPrefix("/x", recon.Handler()))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	get := func(path string) (int, string, http.Header) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body), resp.Header
	}
	if code, body, _ := get("/debug/pprof/"); code != 200 || !strings.Contains(body, `href="goroutine?debug=1"`) || !strings.Contains(body, `href="heap?debug=1"`) {
		t.Errorf("index: %d %s", code, body)
	}
	if code, body, _ := get("/debug/pprof/goroutine?debug=1"); code != 200 || !strings.HasPrefix(body, "goroutine profile: total") {
		t.Errorf("goroutine: %d %.100s", code, body)
	}
	if code, body, h := get("/debug/pprof/heap?gc=1"); code != 200 || !strings.HasPrefix(body, "\x1f\x8b") || h.Get("Content-Type") != "application/octet-stream" {
		t.Errorf("heap: %d %q %v", code, body[:min(len(body), 10)], h)
	}
	if code, body, _ := get("/x/allocs?debug=1"); code != 200 || !strings.Contains(body, "heap profile") {
		t.Errorf("stripped allocs: %d %.100s", code, body)
	}
	if code, _, _ := get("/debug/pprof/nope"); code != 404 {
		t.Errorf("unknown profile: %d", code)
	}
	if code, body, _ := get("/debug/pprof/profile?seconds=0.05"); code != 200 || !strings.HasPrefix(body, "\x1f\x8b") {
		t.Errorf("profile: %d %q", code, body[:min(len(body), 10)])
	}
	if code, body, _ := get("/debug/pprof/trace?seconds=0.05"); code != 200 || !strings.HasPrefix(body, "go 1.") {
		t.Errorf("trace: %d %q", code, body[:min(len(body), 10)])
	}
	if code, body, _ := get("/debug/pprof/cmdline"); code != 200 || !strings.HasPrefix(body, os.Args[0]) {
		t.Errorf("cmdline: %d %q", code, body)
	}
}
