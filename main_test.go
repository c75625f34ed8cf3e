package broker_test

import (
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/emqgo/broker/brokertest"
)

// TestMain fails the package's tests if any goroutine outlives them: every
// broker goroutine starts through a tracked helper that Shutdown waits for.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// evlog collects values reported by hooks and access modules. They run on
// broker goroutines, so tests record through an evlog and wait for the
// number of events they expect instead of sleeping.
type evlog[T any] struct {
	mu     sync.Mutex
	got    []T
	notify chan struct{}
}

func newEvlog[T any]() *evlog[T] {
	return &evlog[T]{notify: make(chan struct{}, 1)}
}

// add records v; it is safe to call from any goroutine.
func (e *evlog[T]) add(v T) {
	e.mu.Lock()
	e.got = append(e.got, v)
	e.mu.Unlock()
	select {
	case e.notify <- struct{}{}:
	default:
	}
}

// all returns a copy of what was recorded so far.
func (e *evlog[T]) all() []T {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]T(nil), e.got...)
}

// reset forgets what was recorded.
func (e *evlog[T]) reset() {
	e.mu.Lock()
	e.got = nil
	e.mu.Unlock()
}

// len returns the number of events recorded so far.
func (e *evlog[T]) len() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.got)
}

// wait blocks until at least n events are recorded and returns them all. It
// fails the test after brokertest.Timeout.
func (e *evlog[T]) wait(t testing.TB, n int) []T {
	t.Helper()
	timer := time.NewTimer(brokertest.Timeout)
	defer timer.Stop()
	for {
		if got := e.all(); len(got) >= n {
			return got
		}
		select {
		case <-e.notify:
		case <-timer.C:
			t.Fatalf("waited %v for %d events, got %d: %+v", brokertest.Timeout, n, e.len(), e.all())
			return nil
		}
	}
}

// waitFor blocks until an event satisfies match and returns it.
func (e *evlog[T]) waitFor(t testing.TB, what string, match func(T) bool) T {
	t.Helper()
	timer := time.NewTimer(brokertest.Timeout)
	defer timer.Stop()
	for {
		for _, v := range e.all() {
			if match(v) {
				return v
			}
		}
		select {
		case <-e.notify:
		case <-timer.C:
			t.Fatalf("waited %v for %s; events: %+v", brokertest.Timeout, what, e.all())
			var zero T
			return zero
		}
	}
}
