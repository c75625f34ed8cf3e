package sqlauth

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// burstLog logs failures without flooding: the first failure of a burst,
// a summary every burstEvery while failures go on, and one line when the
// server answers again. Other warnings (unusable rows or stored hashes)
// are logged at most once per burstEvery each.
type burstLog struct {
	log    *slog.Logger
	server string
	addr   string

	down atomic.Bool // failing, readable without the lock

	mu         sync.Mutex
	failing    bool
	since      time.Time // start of the burst
	last       time.Time // last line logged
	suppressed int
	warned     map[string]time.Time
}

var burstEvery = time.Minute

func (l *burstLog) failed(what string, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	switch {
	case !l.failing:
		l.failing, l.since, l.last, l.suppressed = true, now, now, 0
		l.down.Store(true)
		l.log.Error(l.server+" query failed; answering with the on_error setting until the server answers again",
			"query", what, "server", l.addr, "err", err)
	case now.Sub(l.last) >= burstEvery:
		l.log.Error(l.server+" queries still failing", "query", what, "server", l.addr, "err", err,
			"failures", l.suppressed+1, "since", l.since)
		l.last, l.suppressed = now, 0
	default:
		l.suppressed++
	}
}

func (l *burstLog) ok(what string) {
	if !l.down.Load() {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failing {
		l.log.Info(l.server+" answers again", "query", what, "server", l.addr,
			"unlogged_failures", l.suppressed, "down_for", time.Since(l.since).Round(time.Millisecond))
		l.failing, l.suppressed = false, 0
		l.down.Store(false)
	}
}

func (l *burstLog) warn(msg string, args ...any) {
	l.mu.Lock()
	now := time.Now()
	if t, ok := l.warned[msg]; ok && now.Sub(t) < burstEvery {
		l.mu.Unlock()
		return
	}
	if l.warned == nil {
		l.warned = make(map[string]time.Time)
	}
	l.warned[msg] = now
	l.mu.Unlock()
	l.log.Warn(l.server+": "+msg, args...)
}
