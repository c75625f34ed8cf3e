package ws_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/brokertest"
	"github.com/emqgo/broker/packets"
	"github.com/emqgo/broker/ws"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// server starts a broker and an HTTP test server with the handler at /mqtt.
func server(t *testing.T, setup func(*broker.Broker), opts ...ws.Option) (*brokertest.Broker, *httptest.Server) {
	t.Helper()
	var fs []func(*broker.Broker)
	if setup != nil {
		fs = append(fs, setup)
	}
	b := brokertest.New(t, broker.Options{}, fs...)
	mux := http.NewServeMux()
	mux.Handle("/mqtt", ws.Handler(b.Broker, opts...))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return b, srv
}

func wsURL(srv *httptest.Server) string { return "ws" + strings.TrimPrefix(srv.URL, "http") + "/mqtt" }

// dial opens a WebSocket to the server offering protos and returns it as a
// net.Conn, with the negotiated subprotocol.
func dial(t *testing.T, srv *httptest.Server, protos ...string) (net.Conn, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, wsURL(srv), &websocket.DialOptions{Subprotocols: protos})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	if resp.Body != nil {
		resp.Body.Close()
	}
	nc := websocket.NetConn(context.Background(), c, websocket.MessageBinary)
	return nc, c.Subprotocol()
}

func TestRoundTrip(t *testing.T) {
	for _, v := range []struct {
		name string
		ver  byte
	}{{"v3.1.1", packets.Version311}, {"v5", packets.Version5}} {
		t.Run(v.name, func(t *testing.T) {
			_, srv := server(t, nil)
			nc1, proto := dial(t, srv, "mqtt")
			if proto != "mqtt" {
				t.Fatalf("subprotocol = %q, want mqtt", proto)
			}
			sub := brokertest.NewClient(t, nc1, "sub", brokertest.WithVersion(v.ver))
			if rc := sub.Connect(t); rc != packets.Success {
				t.Fatalf("CONNECT: %v", rc)
			}
			nc2, _ := dial(t, srv, "mqtt")
			pub := brokertest.NewClient(t, nc2, "pub", brokertest.WithVersion(v.ver))
			if rc := pub.Connect(t); rc != packets.Success {
				t.Fatalf("CONNECT: %v", rc)
			}
			if q := sub.Subscribe(t, "a/#", 2); q != 2 {
				t.Fatalf("granted QoS %d, want 2", q)
			}
			for qos := byte(0); qos <= 2; qos++ {
				payload := []byte(strings.Repeat("x", 100*int(qos)+1))
				pub.Publish(t, "a/b", payload, qos, false)
				m := sub.Expect(t, "a/b")
				if m.QoS != qos || string(m.Payload) != string(payload) {
					t.Fatalf("got QoS %d payload %d bytes, want QoS %d, %d bytes", m.QoS, len(m.Payload), qos, len(payload))
				}
			}
			// A payload larger than one typical WebSocket frame.
			big := make([]byte, 40000)
			pub.Publish(t, "a/big", big, 1, false)
			if m := sub.Expect(t, "a/big"); len(m.Payload) != len(big) {
				t.Fatalf("big payload: got %d bytes", len(m.Payload))
			}
			sub.Disconnect(t)
			pub.Disconnect(t)
		})
	}
}

func TestSubprotocols(t *testing.T) {
	_, srv := server(t, nil)
	for _, tc := range []struct {
		offer []string
		want  string
	}{
		{nil, ""},
		{[]string{"mqttv3.1"}, "mqttv3.1"},
		{[]string{"mqttv3.1.1"}, "mqttv3.1.1"},
		{[]string{"chat", "MQTT"}, "MQTT"},
		{[]string{"mqtt-v3.1.1"}, "mqtt-v3.1.1"},
	} {
		nc, proto := dial(t, srv, tc.offer...)
		if proto != tc.want {
			t.Errorf("offer %q: subprotocol %q, want %q", tc.offer, proto, tc.want)
		}
		c := brokertest.NewClient(t, nc, "c")
		if rc := c.Connect(t); rc != packets.Success {
			t.Fatalf("offer %q: CONNECT: %v", tc.offer, rc)
		}
		c.Disconnect(t)
	}
}

func TestWrongSubprotocol(t *testing.T) {
	_, srv := server(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, wsURL(srv), &websocket.DialOptions{Subprotocols: []string{"chat"}})
	if err == nil {
		t.Fatal("dial with subprotocol chat succeeded")
	}
	if resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("response %v, want 400", resp)
	}
}

func TestRequireSubprotocol(t *testing.T) {
	_, srv := server(t, nil, ws.WithRequireSubprotocol())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, wsURL(srv), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("dial without subprotocol: err %v, response %v; want 400", err, resp)
	}
	nc, _ := dial(t, srv, "mqtt")
	c := brokertest.NewClient(t, nc, "c")
	if rc := c.Connect(t); rc != packets.Success {
		t.Fatalf("CONNECT: %v", rc)
	}
}

func TestNotWebSocket(t *testing.T) {
	_, srv := server(t, nil)
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		req, _ := http.NewRequest(method, srv.URL+"/mqtt", nil)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Errorf("%s without upgrade: status %d, want an error", method, resp.StatusCode)
		}
	}
}

func TestClientInfo(t *testing.T) {
	var (
		mu   sync.Mutex
		info *broker.ClientInfo
	)
	_, srv := server(t, func(b *broker.Broker) {
		broker.On(b, broker.ClientConnectedHook, func(_ context.Context, c *broker.ClientInfo, _ packets.ReasonCode) {
			mu.Lock()
			info = c
			mu.Unlock()
		})
	})
	nc, _ := dial(t, srv, "mqtt")
	c := brokertest.NewClient(t, nc, "peer")
	c.Connect(t)
	mu.Lock()
	defer mu.Unlock()
	if info == nil {
		t.Fatal("client.connected did not run")
	}
	host := strings.TrimPrefix(srv.URL, "http://")
	if want := "mqtt:ws:" + host; info.Listener != want {
		t.Errorf("Listener = %q, want %q", info.Listener, want)
	}
	if !info.Peer.Addr().IsLoopback() || info.Peer.Port() == 0 {
		t.Errorf("Peer = %v, want a loopback address with a port", info.Peer)
	}
	if info.TLS != nil {
		t.Errorf("TLS = %v, want nil for ws", info.TLS)
	}
}

func TestTLS(t *testing.T) {
	var (
		mu       sync.Mutex
		listener string
	)
	b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
		broker.On(b, broker.ClientConnectedHook, func(_ context.Context, c *broker.ClientInfo, _ packets.ReasonCode) {
			mu.Lock()
			listener = c.Listener
			mu.Unlock()
		})
	})
	srv := httptest.NewTLSServer(ws.Handler(b.Broker))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	wc, _, err := websocket.Dial(ctx, "wss"+strings.TrimPrefix(srv.URL, "https"), &websocket.DialOptions{
		HTTPClient: srv.Client(), Subprotocols: []string{"mqtt"}})
	if err != nil {
		t.Fatal(err)
	}
	nc := websocket.NetConn(context.Background(), wc, websocket.MessageBinary)
	c := brokertest.NewClient(t, nc, "tls")
	if rc := c.Connect(t); rc != packets.Success {
		t.Fatalf("CONNECT: %v", rc)
	}
	c.Subscribe(t, "t", 1)
	c.Publish(t, "t", []byte("hi"), 1, false)
	c.Expect(t, "t")
	mu.Lock()
	defer mu.Unlock()
	if !strings.HasPrefix(listener, "mqtt:wss:") {
		t.Errorf("Listener = %q, want mqtt:wss:...", listener)
	}
}

func TestOriginPatterns(t *testing.T) {
	dialOrigin := func(srv *httptest.Server, origin string) (int, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h := http.Header{}
		h.Set("Origin", origin)
		c, resp, err := websocket.Dial(ctx, wsURL(srv), &websocket.DialOptions{HTTPHeader: h, Subprotocols: []string{"mqtt"}})
		if err != nil {
			if resp == nil {
				return 0, err
			}
			return resp.StatusCode, nil
		}
		c.CloseNow()
		return resp.StatusCode, nil
	}
	t.Run("default accepts any origin", func(t *testing.T) {
		_, srv := server(t, nil)
		if code, err := dialOrigin(srv, "https://evil.example"); err != nil || code != http.StatusSwitchingProtocols {
			t.Fatalf("status %d, err %v; want 101", code, err)
		}
	})
	t.Run("patterns", func(t *testing.T) {
		_, srv := server(t, nil, ws.WithOriginPatterns("*.example.com"))
		if code, err := dialOrigin(srv, "https://app.example.com"); err != nil || code != http.StatusSwitchingProtocols {
			t.Fatalf("allowed origin: status %d, err %v; want 101", code, err)
		}
		if code, err := dialOrigin(srv, "https://evil.example"); err != nil || code != http.StatusForbidden {
			t.Fatalf("other origin: status %d, err %v; want 403", code, err)
		}
	})
}

func TestReadLimit(t *testing.T) {
	_, srv := server(t, nil, ws.WithReadLimit(1024))
	nc, _ := dial(t, srv, "mqtt")
	c := brokertest.NewClient(t, nc, "big")
	if rc := c.Connect(t); rc != packets.Success {
		t.Fatalf("CONNECT: %v", rc)
	}
	c.Send(t, &packets.Publish{Topic: "a", Payload: make([]byte, 2048)})
	c.ExpectClosed(t)
}

func TestCompression(t *testing.T) {
	_, srv := server(t, nil, ws.WithCompression())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	wc, _, err := websocket.Dial(ctx, wsURL(srv), &websocket.DialOptions{
		Subprotocols: []string{"mqtt"}, CompressionMode: websocket.CompressionNoContextTakeover})
	if err != nil {
		t.Fatal(err)
	}
	nc := websocket.NetConn(context.Background(), wc, websocket.MessageBinary)
	c := brokertest.NewClient(t, nc, "z")
	if rc := c.Connect(t); rc != packets.Success {
		t.Fatalf("CONNECT: %v", rc)
	}
	c.Subscribe(t, "z", 0)
	p := []byte(strings.Repeat("compressible ", 1000))
	c.Publish(t, "z", p, 0, false)
	if m := c.Expect(t, "z"); string(m.Payload) != string(p) {
		t.Fatal("payload mismatch")
	}
}

func TestBrokerClosed(t *testing.T) {
	b, err := broker.New(broker.Options{SysInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ws.Handler(b))
	defer srv.Close()
	b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("dial after Close: err %v, response %v; want 503", err, resp)
	}
}

func TestShutdown(t *testing.T) {
	b, srv := server(t, nil)
	nc, _ := dial(t, srv, "mqtt")
	c := brokertest.NewClient(t, nc, "v5", brokertest.WithVersion(packets.Version5))
	if rc := c.Connect(t); rc != packets.Success {
		t.Fatalf("CONNECT: %v", rc)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := b.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	d := c.ExpectClosed(t)
	if d == nil || d.ReasonCode != packets.ServerShuttingDown {
		t.Fatalf("DISCONNECT = %+v, want server shutting down", d)
	}
}
