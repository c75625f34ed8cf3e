package authldap_test

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/emqgo/broker/auth/internal/backend/backendtest"
)

// TestMain fails the package's tests if any goroutine outlives them.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// ldapAddr is the server the tests use: 127.0.0.1:$EMQGO_LDAP_PORT
// (default 3890), where scripts/ldap starts slapd with
// testdata/emqtt.com.ldif.
func ldapAddr(t testing.TB) (host string, port string) {
	t.Helper()
	port = os.Getenv("EMQGO_LDAP_PORT")
	if port == "" {
		port = "3890"
	}
	backendtest.Require(t, "LDAP (slapd)", "127.0.0.1:"+port, "scripts/ldap")
	return "127.0.0.1", port
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
