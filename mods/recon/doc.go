// Package recon gives an operator a look inside a running broker: EMQ
// 2.0's emq_recon, whose "recon" command wrapped Erlang's recon library,
// mapped to Go's runtime/metrics, runtime/debug and runtime/pprof.
//
// The "recon" command (emqctl recon ...):
//
//	recon memory              used, allocated and unused memory and usage, current and max
//	recon allocated           memory by runtime class (heap objects, stacks, metadata...), current and max
//	recon gc_stats            garbage collector statistics and settings
//	recon goroutines          goroutine counts by state, threads, GOMAXPROCS
//	recon stacks [N]          the N (10) most common goroutine stacks, with their counts
//	recon node_stats [N [Ms]] N (10) samples, Ms (1000) milliseconds apart, as recon:node_stats
//	recon gc                  force a garbage collection, return memory to the OS, show what was freed
//	recon bin_leak            the same as recon gc (EMQ: recon:bin_leak(100), which garbage collected every process)
//
// The "max" values are the highest seen since the Recon was created,
// sampled every second while it runs (Run, Attach or the plugin) and on
// every command. EMQ's "recon remote_load Mod" loaded Erlang code on other
// nodes; Go cannot load code, so it has no counterpart.
//
// With Config.GCInterval set (recon.gc_interval), a garbage collection is
// forced at that interval and the memory it frees is returned to the
// operating system, as emq_recon collected every Erlang process.
//
// Handler returns an http.Handler serving Go's profiles in the format of
// net/http/pprof (go tool pprof http://host/debug/pprof/heap works), for a
// host to mount on a listener only trusted people can reach. The package
// does not import net/http/pprof, which registers itself on
// http.DefaultServeMux.
//
// An embedder uses a Recon directly:
//
//	r, err := recon.New(recon.Config{GCInterval: 10 * time.Minute})
//	detach, err := r.Attach(b) // registers "recon", starts the sampler
//	mux.Handle("/debug/pprof/", recon.Handler())
//
// emqd loads it as the plugin emq_recon (see Plugin).
package recon
