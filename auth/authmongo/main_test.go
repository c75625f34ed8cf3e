package authmongo_test

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.uber.org/goleak"

	"github.com/emqgo/broker/auth/internal/backend/backendtest"
)

// TestMain fails the package's tests if any goroutine outlives them.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testDB is the database the tests write to; each test drops it at its
// start and end.
const testDB = "emqgo_test_authmongo"

// mongoAddr is the server the tests use: 127.0.0.1:$EMQGO_MONGO_PORT
// (default 27017), where scripts/ferretdb starts FerretDB.
func mongoAddr(t testing.TB) string {
	t.Helper()
	port := os.Getenv("EMQGO_MONGO_PORT")
	if port == "" {
		port = "27017"
	}
	addr := "127.0.0.1:" + port
	backendtest.Require(t, "MongoDB (FerretDB)", addr, "scripts/ferretdb")
	return addr
}

// seed connects to the test database, empties it, and returns a function
// that inserts documents into a collection. The database is dropped when
// the test ends.
func seed(t testing.TB) (addr string, insert func(coll string, docs ...bson.D)) {
	t.Helper()
	addr = mongoAddr(t)
	c, err := mongo.Connect(options.Client().SetHosts([]string{addr}).SetDirect(true).SetServerSelectionTimeout(5 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	db := c.Database(testDB)
	if err := db.Drop(ctx); err != nil {
		t.Fatalf("drop %s: %v (is FerretDB running? scripts/ferretdb)", testDB, err)
	}
	t.Cleanup(func() {
		db.Drop(context.Background())
		c.Disconnect(context.Background())
	})
	return addr, func(coll string, docs ...bson.D) {
		t.Helper()
		in := make([]any, len(docs))
		for i, d := range docs {
			in[i] = d
		}
		if _, err := db.Collection(coll).InsertMany(ctx, in); err != nil {
			t.Fatalf("insert into %s: %v", coll, err)
		}
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
