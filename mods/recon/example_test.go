package recon_test

import (
	"context"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/mods/recon"
)

// Attach recon to a broker and run one of its commands, as emqctl does.
func Example() {
	b, err := broker.New(broker.Options{SysInterval: -1})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	r, err := recon.New(recon.Config{GCInterval: 10 * time.Minute})
	if err != nil {
		log.Fatal(err)
	}
	detach, err := r.Attach(b)
	if err != nil {
		log.Fatal(err)
	}
	defer detach()
	b.Exec(context.Background(), os.Stdout, "help", "recon")
	// Output:
	// recon memory                                    # Memory used, allocated and unused, current and max
	// recon allocated                                 # Memory by runtime class, current and max
	// recon gc_stats                                  # Garbage collector statistics and settings
	// recon goroutines                                # Goroutine counts by state
	// recon stacks [N]                                # The N (10) most common goroutine stacks
	// recon node_stats [N [Ms]]                       # N (10) samples of node stats, Ms (1000) ms apart
	// recon gc                                        # Force a garbage collection and show what it freed
	// recon bin_leak                                  # The same as recon gc
}

// Mount the profiles on an HTTP server only trusted people can reach.
func ExampleHandler() {
	mux := http.NewServeMux()
	mux.Handle("/debug/pprof/", recon.Handler())
	srv := &http.Server{Addr: "127.0.0.1:6060", Handler: mux}
	_ = srv // go srv.ListenAndServe(); then: go tool pprof http://127.0.0.1:6060/debug/pprof/heap
}
