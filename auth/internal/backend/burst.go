package backend

import (
	"log/slog"
	"sync"
	"time"
)

// BurstEvery is how often a BurstLog repeats a summary while failures go on.
var BurstEvery = time.Minute

// BurstLog logs a server's failures without flooding: the first failure of
// a burst, then a summary every BurstEvery while failures go on, and one
// line when the server answers again. The zero value discards; set Log.
type BurstLog struct {
	// Log receives the lines; nil discards them.
	Log *slog.Logger
	// Server names the server in each line, such as "redis 127.0.0.1:6379".
	Server string

	mu         sync.Mutex
	failing    bool
	since      time.Time // start of the burst
	last       time.Time // last line logged
	suppressed int
}

// Failed records a failed operation op (such as "auth_cmd").
func (l *BurstLog) Failed(op string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	switch {
	case !l.failing:
		l.failing, l.since, l.last, l.suppressed = true, now, now, 0
		if l.Log != nil {
			l.Log.Error("auth backend failed; answering with the on-error settings until it answers again",
				"server", l.Server, "op", op, "err", err)
		}
	case now.Sub(l.last) >= BurstEvery:
		if l.Log != nil {
			l.Log.Error("auth backend still failing", "server", l.Server, "op", op, "err", err,
				"failures", l.suppressed+1, "since", l.since)
		}
		l.last, l.suppressed = now, 0
	default:
		l.suppressed++
	}
}

// OK records a successful operation; it ends a burst.
func (l *BurstLog) OK() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failing {
		if l.Log != nil {
			l.Log.Info("auth backend answers again", "server", l.Server,
				"unlogged_failures", l.suppressed, "down_for", time.Since(l.since).Round(time.Millisecond))
		}
		l.failing, l.suppressed = false, 0
	}
}

// Failing reports whether the last operation failed.
func (l *BurstLog) Failing() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failing
}
