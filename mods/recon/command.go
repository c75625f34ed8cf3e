package recon

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/emqgo/broker"
)

// Command returns the "recon" CLI command (see the package documentation
// for its forms). b, which may be nil, gives node_stats its bytes in and
// out. The plugin registers it; an embedder may register it with
// Broker.RegisterCommand, or use Attach.
func (r *Recon) Command(b *broker.Broker) broker.Command {
	return broker.Command{
		Name:  "recon",
		Short: "Inspect the Go runtime: memory, GC, goroutines",
		Usage: `recon memory # Memory used, allocated and unused, current and max
recon allocated # Memory by runtime class, current and max
recon gc_stats # Garbage collector statistics and settings
recon goroutines # Goroutine counts by state
recon stacks [N] # The N (10) most common goroutine stacks
recon node_stats [N [Ms]] # N (10) samples of node stats, Ms (1000) ms apart
recon gc # Force a garbage collection and show what it freed
recon bin_leak # The same as recon gc`,
		Run: func(ctx context.Context, w io.Writer, args []string) error {
			if len(args) == 0 {
				return broker.ErrUsage
			}
			switch cmd, rest := args[0], args[1:]; {
			case cmd == "memory" && len(rest) == 0:
				r.printMemory(w)
			case cmd == "allocated" && len(rest) == 0:
				r.printAllocated(w)
			case cmd == "gc_stats" && len(rest) == 0:
				r.printGCStats(w)
			case cmd == "goroutines" && len(rest) == 0:
				r.printGoroutines(w)
			case cmd == "stacks" && len(rest) <= 1:
				n := 10
				if len(rest) == 1 {
					v, err := strconv.Atoi(rest[0])
					if err != nil || v < 1 {
						return broker.ErrUsage
					}
					n = v
				}
				r.printStacks(w, n)
			case cmd == "node_stats" && len(rest) <= 2:
				n, ms := 10, 1000
				for i, p := range []*int{&n, &ms} {
					if i < len(rest) {
						v, err := strconv.Atoi(rest[i])
						if err != nil || v < 1 {
							return broker.ErrUsage
						}
						*p = v
					}
				}
				return r.NodeStats(ctx, b, n, time.Duration(ms)*time.Millisecond, func(s NodeSample) {
					fmt.Fprintln(w, s)
				})
			case (cmd == "gc" || cmd == "bin_leak") && len(rest) == 0:
				r.printGC(w)
			default:
				return broker.ErrUsage
			}
			return nil
		},
	}
}

// line is one "key : value" line of a listing.
type line struct {
	key string
	val any
}

// printLines writes lines in emq_recon's "~-20s: ~w" layout, widening the
// key column for keys longer than 20.
func printLines(w io.Writer, lines []line) {
	width := 20
	for _, l := range lines {
		width = max(width, len(l.key)+1)
	}
	for _, l := range lines {
		v := l.val
		if f, ok := v.(float64); ok {
			v = formatFloat(f)
		}
		fmt.Fprintf(w, "%-*s: %v\n", width, l.key, v)
	}
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'f', 4, 64) }

func (r *Recon) printMemory(w io.Writer) {
	m := r.Memory()
	printLines(w, []line{
		{"usage/current", m.Usage}, {"usage/max", m.MaxUsage},
		{"used/current", m.Used}, {"used/max", m.MaxUsed},
		{"allocated/current", m.Allocated}, {"allocated/max", m.MaxAllocated},
		{"unused/current", m.Unused}, {"unused/max", m.MaxUnused},
	})
}

func (r *Recon) printAllocated(w io.Writer) {
	cs := r.Allocated()
	var lines []line
	for _, c := range cs {
		lines = append(lines, line{c.Name + "/current", c.Current})
	}
	for _, c := range cs {
		lines = append(lines, line{c.Name + "/max", c.Max})
	}
	printLines(w, lines)
}

func (r *Recon) printGCStats(w io.Writer) {
	s := r.GCStats()
	last := "never"
	if !s.Last.IsZero() {
		last = s.Last.Format(time.RFC3339)
	}
	gogc := any(s.GOGC)
	if s.GOGC < 0 {
		gogc = "off"
	}
	printLines(w, []line{
		{"gc/count", s.Count}, {"gc/forced", s.Forced}, {"gc/last", last},
		{"gc/pause_total", s.PauseTotal},
		{"gc/pause_min", s.Pauses[0]}, {"gc/pause_p25", s.Pauses[1]}, {"gc/pause_p50", s.Pauses[2]},
		{"gc/pause_p75", s.Pauses[3]}, {"gc/pause_max", s.Pauses[4]},
		{"gc/cpu_seconds", s.CPUSeconds},
		{"heap/live", s.HeapLive}, {"heap/goal", s.HeapGoal},
		{"gogc", gogc}, {"gomemlimit", s.MemoryLimit},
	})
}

func (r *Recon) printGoroutines(w io.Writer) {
	g := r.Goroutines()
	printLines(w, []line{
		{"goroutines/total", g.Total}, {"goroutines/running", g.Running}, {"goroutines/runnable", g.Runnable},
		{"goroutines/waiting", g.Waiting}, {"goroutines/not_in_go", g.NotInGo}, {"goroutines/created", g.Created},
		{"threads/total", g.Threads}, {"gomaxprocs", g.GOMAXPROCS},
	})
}

func (r *Recon) printStacks(w io.Writer, n int) {
	stacks, total := r.Stacks(n)
	fmt.Fprintf(w, "goroutine profile: total %d\n", total)
	for _, s := range stacks {
		fmt.Fprintf(w, "\n%s\n", s.Text)
	}
}

func (r *Recon) printGC(w io.Writer) {
	c := r.GC()
	printLines(w, []line{
		{"heap/before", c.HeapBefore}, {"heap/after", c.HeapAfter}, {"heap/freed", sub(c.HeapBefore, c.HeapAfter)},
		{"allocated/before", c.AllocatedBefore}, {"allocated/after", c.AllocatedAfter},
		{"allocated/released", sub(c.AllocatedBefore, c.AllocatedAfter)},
		{"took", c.Took},
	})
}
