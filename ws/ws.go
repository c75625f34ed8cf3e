package ws

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/coder/websocket"

	"github.com/emqgo/broker"
)

// Subprotocols are the WebSocket subprotocols the handler negotiates, in
// order of preference: "mqtt" (MQTT 3.1.1 and 5.0), "mqttv3.1" (MQTT 3.1)
// and "mqttv3.1.1", which some older clients send. Any other token that
// starts with "mqtt" is accepted too, as EMQ did.
var Subprotocols = []string{"mqtt", "mqttv3.1", "mqttv3.1.1"}

// headroom is added to the broker's MaxPacketSize for the default read
// limit, so that a WebSocket message carrying one largest packet and a few
// small ones (acknowledgements a client coalesced with it) is accepted.
const headroom = 4 << 10

type config struct {
	origins            []string
	compression        bool
	readLimit          int64
	requireSubprotocol bool
}

// Option configures Handler.
type Option func(*config)

// WithOriginPatterns turns the Origin check on: a cross-origin request is
// accepted only when its Origin host matches one of patterns (path.Match
// syntax, case-insensitive; a pattern containing "://" is matched against
// "scheme://host"). A request whose Origin host is the request's own Host is
// always accepted. Without this option no Origin is checked, as in EMQ and
// Mosquitto: MQTT clients authenticate in CONNECT, not with cookies.
func WithOriginPatterns(patterns ...string) Option {
	return func(c *config) { c.origins = append(c.origins, patterns...) }
}

// WithCompression negotiates permessage-deflate (without context takeover,
// which keeps per-connection memory small) with clients that offer it.
// Compression is off by default: MQTT payloads are often already compact,
// and deflate costs CPU and memory on every connection.
func WithCompression() Option { return func(c *config) { c.compression = true } }

// WithReadLimit sets the largest WebSocket message accepted, in bytes; a
// larger one closes the connection with status 1009 (message too big). The
// default is the broker's MaxPacketSize plus 4 KiB. A negative n removes the
// limit; the broker still enforces MaxPacketSize on every MQTT packet.
func WithReadLimit(n int64) Option { return func(c *config) { c.readLimit = n } }

// WithRequireSubprotocol refuses, with 400 Bad WebSocket Protocol, a
// request that offers no subprotocol at all, like EMQ 2.3 with
// mqtt.websocket_protocol_header = on. By default such requests are
// accepted, as Mosquitto does.
func WithRequireSubprotocol() Option { return func(c *config) { c.requireSubprotocol = true } }

type handler struct {
	b   *broker.Broker
	cfg config
}

// Handler returns an http.Handler that serves MQTT over WebSocket with b.
// Mount it on the path clients connect to; EMQ and emqd use "/mqtt":
//
//	mux.Handle("/mqtt", ws.Handler(b))
//
// Each request is upgraded to a WebSocket carrying binary messages, and the
// MQTT connection is served by b until it ends, on the request's goroutine.
// ClientInfo.Listener is "mqtt:ws:<local address>" ("mqtt:wss:..." when the
// HTTP server speaks TLS) and ClientInfo.Peer is the request's RemoteAddr,
// so a middleware that rewrites RemoteAddr from a trusted proxy header
// decides the peer address the access modules see.
//
// A request that is not a WebSocket upgrade is refused by the WebSocket
// library with an error status (426 Upgrade Required, or 405 for a method
// other than GET). A request offering subprotocols none of which is MQTT's
// gets 400 Bad WebSocket Protocol; see Subprotocols. Once the broker is shut
// down, requests get 503 Service Unavailable.
func Handler(b *broker.Broker, opts ...Option) http.Handler {
	h := &handler{b: b}
	h.cfg.readLimit = int64(b.Options().MaxPacketSize) + headroom
	for _, o := range opts {
		o(&h.cfg)
	}
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.b.Context().Err() != nil {
		http.Error(w, http.StatusText(http.StatusServiceUnavailable), http.StatusServiceUnavailable)
		return
	}
	offered := tokens(r.Header.Values("Sec-WebSocket-Protocol"))
	proto, ok := choose(offered)
	if !ok || (proto == "" && h.cfg.requireSubprotocol) {
		h.b.Logger().Info("ws: refusing request: no MQTT subprotocol", "remote", r.RemoteAddr, "offered", strings.Join(offered, ","))
		http.Error(w, "Bad WebSocket Protocol", http.StatusBadRequest)
		return
	}
	ao := &websocket.AcceptOptions{
		InsecureSkipVerify: len(h.cfg.origins) == 0,
		OriginPatterns:     h.cfg.origins,
	}
	if proto != "" {
		ao.Subprotocols = []string{proto}
	}
	if h.cfg.compression {
		ao.CompressionMode = websocket.CompressionNoContextTakeover
	}
	c, err := websocket.Accept(w, r, ao)
	if err != nil {
		// Accept has written the error response.
		h.b.Logger().Debug("ws: upgrade failed", "remote", r.RemoteAddr, "err", err)
		return
	}
	// The request's context stays valid, and is not cancelled by the
	// hijack, until ServeHTTP returns (see http.Hijacker).
	nc := websocket.NetConn(r.Context(), c, websocket.MessageBinary)
	// NetConn removes the read limit; set ours after it.
	c.SetReadLimit(h.cfg.readLimit)
	wc := &conn{Conn: nc, remote: remoteAddr(r, nc), tls: r.TLS}
	h.b.ServeConnNamed(wc, listenerName(r))
	nc.Close()
}

// tokens splits comma-separated header values into trimmed tokens.
func tokens(values []string) []string {
	var out []string
	for _, v := range values {
		for t := range strings.SplitSeq(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				out = append(out, t)
			}
		}
	}
	return out
}

// choose picks the subprotocol to answer with from those the client
// offered: the first of Subprotocols offered, else the first offered token
// starting with "mqtt". It returns "", true when nothing was offered, and
// false when only non-MQTT subprotocols were.
func choose(offered []string) (string, bool) {
	if len(offered) == 0 {
		return "", true
	}
	for _, sp := range Subprotocols {
		for _, o := range offered {
			if strings.EqualFold(o, sp) {
				return o, true
			}
		}
	}
	for _, o := range offered {
		if len(o) >= 4 && strings.EqualFold(o[:4], "mqtt") {
			return o, true
		}
	}
	return "", false
}

// listenerName names the listener for ClientInfo.Listener: the scheme and
// the local address the request came in on.
func listenerName(r *http.Request) string {
	scheme := "ws"
	if r.TLS != nil {
		scheme = "wss"
	}
	addr := r.Host
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok && a != nil {
		addr = a.String()
	}
	return "mqtt:" + scheme + ":" + addr
}

// remoteAddr returns the request's RemoteAddr as a *net.TCPAddr, or what
// nc reports when RemoteAddr is not an ip:port.
func remoteAddr(r *http.Request, nc net.Conn) net.Addr {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return net.TCPAddrFromAddrPort(ap)
	}
	return nc.RemoteAddr()
}

// conn is the MQTT connection over one WebSocket: it reports the HTTP
// request's remote address and TLS state.
type conn struct {
	net.Conn
	remote net.Addr
	tls    *tls.ConnectionState
}

func (c *conn) RemoteAddr() net.Addr { return c.remote }

// ConnectionState returns the TLS state of the HTTP connection the
// WebSocket runs on (the zero value for plain ws), in the shape of
// tls.Conn's method.
func (c *conn) ConnectionState() tls.ConnectionState {
	if c.tls == nil {
		return tls.ConnectionState{}
	}
	return *c.tls
}
