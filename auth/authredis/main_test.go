package authredis_test

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/emqgo/broker/auth/internal/backend/backendtest"
)

// TestMain fails the package's tests if any goroutine outlives them.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testDB is the Redis database the tests write to; they remove each key
// they set.
const testDB = 11

// redisAddr is the Redis server the tests use: $EMQGO_REDIS_ADDR, or
// 127.0.0.1:6379.
func redisAddr(t testing.TB) string {
	t.Helper()
	addr := os.Getenv("EMQGO_REDIS_ADDR")
	if addr == "" {
		addr = "127.0.0.1:6379"
	}
	backendtest.Require(t, "Redis", addr, "scripts/services")
	return addr
}

// seed connects to the test database, and returns a function that sets a
// hash field by field and deletes the key when the test ends.
func seed(t testing.TB) (addr string, hset func(key string, fieldValues ...string)) {
	t.Helper()
	addr = redisAddr(t)
	rc := redis.NewClient(&redis.Options{Addr: addr, DB: testDB, Protocol: 2, DisableIdentity: true})
	t.Cleanup(func() { rc.Close() })
	ctx := context.Background()
	return addr, func(key string, fv ...string) {
		t.Helper()
		args := make([]any, len(fv))
		for i, s := range fv {
			args[i] = s
		}
		if err := rc.Del(ctx, key).Err(); err != nil {
			t.Fatalf("DEL %s: %v", key, err)
		}
		if len(args) > 0 {
			if err := rc.HSet(ctx, key, args...).Err(); err != nil {
				t.Fatalf("HSET %s: %v", key, err)
			}
		}
		t.Cleanup(func() { rc.Del(context.Background(), key) })
	}
}

// logCount is a slog handler that counts records by level.
type logCount struct {
	mu   sync.Mutex
	n    map[slog.Level]int
	msgs []string
}

func newLogCount() *logCount { return &logCount{n: make(map[slog.Level]int)} }

func (l *logCount) Enabled(context.Context, slog.Level) bool { return true }
func (l *logCount) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.n[r.Level]++
	l.msgs = append(l.msgs, r.Level.String()+" "+r.Message)
	l.mu.Unlock()
	return nil
}
func (l *logCount) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logCount) WithGroup(string) slog.Handler      { return l }
func (l *logCount) count(lv slog.Level) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n[lv]
}
