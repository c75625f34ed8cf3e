//go:build !unix

package recon

import "time"

// processCPU returns the CPU time the process has used, where the
// operating system tells; here it does not, and NodeStats falls back to
// the runtime's estimates (runtime/metrics /cpu/classes).
func processCPU() (time.Duration, bool) { return 0, false }
