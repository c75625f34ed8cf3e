package interop_test

// MQTT.js (npm mqtt, installed into interop/node by scripts/test-deps) over
// WebSocket, with node/interop.mjs; the Go client checks the exchanges
// between WebSocket and TCP.

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestMQTTJS(t *testing.T) {
	t.Parallel()
	nodeBin := requireTool(t, "node", "Node.js")
	dir, err := filepath.Abs("node")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "mqtt", "package.json")); err != nil {
		t.Fatalf("MQTT.js is not installed in interop/node (%v); run scripts/test-deps to install the interop test dependencies", err)
	}
	s := startEmqd(t)

	g := newPaho(t, s, "node-go")
	g.pub(t, "node/from-tcp", 1, true, "hello from tcp")
	g.sub(t, "node/to-tcp", 1)

	p := startProc(t, nodeBin, filepath.Join(dir, "interop.mjs"), s.WS)
	p.name = "node interop.mjs"
	select {
	case <-p.done:
	case <-time.After(40 * time.Second):
		t.Fatalf("node interop.mjs still running after 40s\n%s", p)
	}
	got := lines(p.stdout.String(), "ok ")
	want := []string{"qos0", "qos1", "qos2", "v5-qos0", "v5-qos1", "v5-qos2", "retained", "will", "from-tcp", "to-tcp",
		"v5-request-response", "v5-topic-alias", "v5-message-expiry", "v5-shared", "v5-no-local", "v5-to-v3"}
	if p.err != nil || !slices.Equal(got, want) {
		t.Fatalf("node interop.mjs: exit %v; passed %q, want %q\n%s", p.err, got, want, p)
	}
	checkMsg(t, g.id, g.expect(t), "node/to-tcp", "hello from ws", 1, false)
}
