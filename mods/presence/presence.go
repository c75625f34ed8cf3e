package presence

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/packets"
	"github.com/emqgo/broker/topic"
)

// Config configures a Presence. Its conf tags are EMQ's
// etc/plugins/emq_mod_presence.conf keys without the "module.presence."
// prefix. The zero Config is EMQ 2.0's default.
type Config struct {
	// QoS is the QoS of the presence messages, 0, 1 or 2 (EMQ 2.0: 0).
	QoS byte `conf:"qos"`
}

// Validate reports what is wrong with c.
func (c Config) Validate() error {
	if c.QoS > 2 {
		return fmt.Errorf("presence: qos %d: want 0, 1 or 2", c.QoS)
	}
	return nil
}

// Presence publishes client presence messages. Create one with New; it
// may be attached to several brokers.
type Presence struct {
	cfg Config
	now func() time.Time
}

// New returns a Presence configured by cfg, or cfg's problem.
func New(cfg Config) (*Presence, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Presence{cfg: cfg, now: time.Now}, nil
}

// Config returns p's configuration.
func (p *Presence) Config() Config { return p.cfg }

// Attach registers p's hooks on b: presence messages are published from
// then on. detach removes them; it is safe to call more than once.
func (p *Presence) Attach(b *broker.Broker) (detach func()) {
	un := p.register(b, b)
	return func() {
		for _, u := range un {
			u()
		}
	}
}

// register adds p's hooks to r (b itself, or a plugin's host, which
// removes them on unload); messages are published on b.
func (p *Presence) register(r broker.Registrar, b *broker.Broker) []broker.Unhook {
	node := b.Options().Node
	log := b.Logger().With("module", "presence")
	pub := func(ctx context.Context, clientID, event string, payload []byte) {
		t := Topic(node, clientID, event)
		if err := topic.ValidateName(t); err != nil {
			log.Debug("no presence message: the client id cannot be part of a topic name", "client", clientID, "err", err)
			return
		}
		err := b.Publish(ctx, broker.Message{Topic: t, Payload: payload, QoS: p.cfg.QoS})
		if err != nil && !errors.Is(err, broker.ErrBrokerClosed) {
			log.Warn("cannot publish presence message", "topic", t, "err", err)
		}
	}
	return []broker.Unhook{
		broker.On(r, broker.ClientConnectedHook, func(ctx context.Context, c *broker.ClientInfo, code packets.ReasonCode) {
			pub(ctx, c.ClientID, "connected", ConnectedPayload(c, code, p.now()))
		}, broker.Named("presence")),
		broker.On(r, broker.ClientDisconnectedHook, func(ctx context.Context, c *broker.ClientInfo, reason error) {
			pub(ctx, c.ClientID, "disconnected", DisconnectedPayload(c.ClientID, reason, p.now()))
		}, broker.Named("presence")),
	}
}

// Topic returns the presence topic of clientID on node for event,
// "connected" or "disconnected":
// $SYS/brokers/<node>/clients/<clientid>/<event>.
func Topic(node, clientID, event string) string {
	return "$SYS/brokers/" + node + "/clients/" + clientID + "/" + event
}

// connected is the payload of a connected message; the field order is
// EMQ 2.0's.
type connected struct {
	ClientID  string `json:"clientid"`
	Username  string `json:"username"`
	IPAddress string `json:"ipaddress"`
	Session   bool   `json:"session"`
	Protocol  int    `json:"protocol"`
	Connack   int    `json:"connack"`
	TS        int64  `json:"ts"`
}

// disconnected is the payload of a disconnected message.
type disconnected struct {
	ClientID string `json:"clientid"`
	Reason   string `json:"reason"`
	TS       int64  `json:"ts"`
}

// ConnectedPayload returns the JSON payload of the connected message for
// c, whose CONNECT was answered with code, at time ts.
func ConnectedPayload(c *broker.ClientInfo, code packets.ReasonCode, ts time.Time) []byte {
	ip := "undefined"
	if c.Peer.IsValid() {
		ip = c.Peer.Addr().Unmap().String()
	}
	return encode(connected{
		ClientID:  c.ClientID,
		Username:  undefined(c.Username),
		IPAddress: ip,
		Session:   !c.CleanStart,
		Protocol:  int(c.ProtoVersion),
		Connack:   int(packets.V3ConnackCode(code)),
		TS:        ts.Unix(),
	})
}

// DisconnectedPayload returns the JSON payload of the disconnected message
// for clientID, whose connection ended for reason (nil after DISCONNECT),
// at time ts.
func DisconnectedPayload(clientID string, reason error, ts time.Time) []byte {
	return encode(disconnected{ClientID: clientID, Reason: Reason(reason), TS: ts.Unix()})
}

// encode writes v as compact JSON without HTML escaping, as mochijson2 did.
func encode(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err) // strings, bools and integers always encode
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

func undefined(s string) string {
	if s == "" {
		return "undefined"
	}
	return s
}

// known maps the snake-cased texts of the broker's disconnect reasons to
// EMQ's atoms.
var known = map[string]string{
	"keepalive_timeout":         "keepalive_timeout",
	"connection_closed_by_peer": "closed",
	"session_taken_over":        "takenover",
	"session_discarded":         "discarded",
	"session_expired":           "expired",
	"kicked":                    "kicked",
}

// maxReason bounds the length of a reason made from an error's text.
const maxReason = 64

// Reason returns the reason word of a disconnected message for err, the
// reason the broker passed to client.disconnected, in the style of EMQ's
// Erlang atoms:
//
//   - nil (the client sent DISCONNECT): "normal";
//   - the keepalive expired: "keepalive_timeout";
//   - the peer closed the connection or it failed: "closed";
//   - another connection took the session over: "takenover" (EMQ 2.0 sent
//     no message then; EMQX 5 calls it takenover);
//   - "kicked" (Broker.Kick, emqctl clients kick), "discarded";
//   - the broker shut down: "shutdown";
//   - a malformed or forbidden packet: its reason code's name, such as
//     "malformed_packet", "protocol_error" or "packet_too_large";
//   - any other error: the last part of its text, lower-cased, with each
//     run of other characters than letters and digits made one '_'
//     ("internal_error" if nothing is left).
func Reason(err error) string {
	switch {
	case err == nil:
		return "normal"
	case errors.Is(err, broker.ErrBrokerClosed):
		return "shutdown"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.ErrClosedPipe),
		errors.Is(err, net.ErrClosed), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "closed"
	}
	if pe, ok := packets.AsError(err); ok {
		return snake(pe.Code.String())
	}
	s := snake(lastPart(err.Error()))
	if a, ok := known[s]; ok {
		return a
	}
	if s == "" {
		return "internal_error"
	}
	return s
}

// lastPart returns the innermost part of an error text made by wrapping
// ("read tcp ...: connection reset by peer"), without a trailing spec
// citation such as " [MQTT-3.1.0-2]".
func lastPart(s string) string {
	if i := strings.LastIndex(s, " ["); i >= 0 && strings.HasSuffix(s, "]") {
		s = s[:i]
	}
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return s
}

// snake lower-cases s and turns each run of characters other than ASCII
// letters and digits into one '_', trimming them at both ends.
func snake(s string) string {
	var b strings.Builder
	under := false
	for _, r := range strings.ToLower(s) {
		if 'a' <= r && r <= 'z' || '0' <= r && r <= '9' {
			if under && b.Len() > 0 {
				b.WriteByte('_')
			}
			under = false
			b.WriteRune(r)
			if b.Len() >= maxReason {
				break
			}
			continue
		}
		under = true
	}
	return b.String()
}
