package backend

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// BurstEvery is how often a BurstLog repeats a summary while failures go
// on, and how often it repeats each Warn message.
var BurstEvery = time.Minute

// BurstLog logs a server's failures without flooding: the first failure of
// a burst, then a summary every BurstEvery while failures go on, and one
// line when the server answers again. The zero value discards; set Log.
type BurstLog struct {
	// Log receives the lines; nil discards them.
	Log *slog.Logger
	// Server names the server in each line, such as "redis 127.0.0.1:6379".
	Server string
	// Lines words the three lines; empty fields keep the default wording.
	Lines BurstLines

	down atomic.Bool // failing, readable without the lock

	mu         sync.Mutex
	since      time.Time // start of the burst
	last       time.Time // last line logged
	suppressed int
	warned     map[string]time.Time
}

// BurstLines are the messages of a BurstLog's lines.
type BurstLines struct {
	Failed string // the first failure of a burst
	Still  string // the summary while failures go on
	Back   string // the server answers again
}

func (l *BurstLog) line(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Failed records a failed operation op (such as "auth_cmd").
func (l *BurstLog) Failed(op string, err error) {
	l.FailedAt([]any{"server", l.Server, "op", op}, err)
}

// OK records a successful operation; it ends a burst.
func (l *BurstLog) OK() {
	if !l.down.Load() {
		return
	}
	l.OKAt([]any{"server", l.Server})
}

// FailedAt records a failed operation: where are the attributes naming it
// (and its server) in the lines, before "err".
func (l *BurstLog) FailedAt(where []any, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	switch {
	case !l.down.Load():
		l.since, l.last, l.suppressed = now, now, 0
		l.down.Store(true)
		if l.Log != nil {
			l.Log.Error(l.line(l.Lines.Failed, "auth backend failed; answering with the on-error settings until it answers again"),
				attrs(where, "err", err)...)
		}
	case now.Sub(l.last) >= BurstEvery:
		if l.Log != nil {
			l.Log.Error(l.line(l.Lines.Still, "auth backend still failing"),
				attrs(where, "err", err, "failures", l.suppressed+1, "since", l.since)...)
		}
		l.last, l.suppressed = now, 0
	default:
		l.suppressed++
	}
}

// OKAt records a successful operation, ending a burst; where is as for
// FailedAt.
func (l *BurstLog) OKAt(where []any) {
	if !l.down.Load() {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.down.Load() {
		if l.Log != nil {
			l.Log.Info(l.line(l.Lines.Back, "auth backend answers again"),
				attrs(where, "unlogged_failures", l.suppressed, "down_for", time.Since(l.since).Round(time.Millisecond))...)
		}
		l.suppressed = 0
		l.down.Store(false)
	}
}

// attrs returns where followed by more, leaving where's array alone.
func attrs(where []any, more ...any) []any {
	return append(append(make([]any, 0, len(where)+len(more)), where...), more...)
}

// Failing reports whether the last operation failed.
func (l *BurstLog) Failing() bool { return l.down.Load() }

// Warn logs "<Server>: msg" at warning level, at most once per BurstEvery
// for each msg: for problems with the data (unusable rows or stored
// hashes) rather than with the server.
func (l *BurstLog) Warn(msg string, args ...any) {
	l.mu.Lock()
	now := time.Now()
	if t, ok := l.warned[msg]; ok && now.Sub(t) < BurstEvery {
		l.mu.Unlock()
		return
	}
	if l.warned == nil {
		l.warned = make(map[string]time.Time)
	}
	l.warned[msg] = now
	l.mu.Unlock()
	if l.Log != nil {
		l.Log.Warn(l.Server+": "+msg, args...)
	}
}
