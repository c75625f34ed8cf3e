// Package brokertest runs an emqgo broker inside a test, with no network
// listener, and gives the test typed MQTT clients that talk to it over
// in-memory connections.
//
// It is meant for two kinds of test: the broker's own, and a user's tests
// of an MQTT application, which can point any MQTT client library at
// Broker.Conn, or use the Client type here.
//
// Waits use channels and timers, never sleeps, so tests of keepalive,
// retry and expiry timers can run inside testing/synctest bubbles.
package brokertest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/packets"
	"github.com/emqgo/broker/topic"
)

// Timeout is how long a Client waits for an expected packet before it
// fails the test.
var Timeout = 2 * time.Second

// Broker is a broker started for one test.
type Broker struct {
	*broker.Broker
}

// New creates a broker with opts, runs each setup function on it (to
// register hooks, access modules or plugins), and registers its shutdown
// with t.Cleanup. $SYS publishing is off unless opts.SysInterval is set.
func New(t testing.TB, opts broker.Options, setup ...func(*broker.Broker)) *Broker {
	t.Helper()
	if opts.SysInterval == 0 {
		opts.SysInterval = -1
	}
	b, err := broker.New(opts)
	if err != nil {
		t.Fatalf("brokertest: New: %v", err)
	}
	for _, f := range setup {
		f(b)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := b.Shutdown(ctx); err != nil {
			t.Errorf("brokertest: Shutdown: %v", err)
		}
	})
	return &Broker{b}
}

// Conn returns the client end of a new in-memory connection, for any MQTT
// client library that can use a net.Conn. It is closed at the end of the test.
func (b *Broker) Conn(t testing.TB) net.Conn {
	t.Helper()
	nc, err := b.InProcessConn()
	if err != nil {
		t.Fatalf("brokertest: InProcessConn: %v", err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}

type clientConfig struct {
	version    byte
	user       string
	pass       []byte
	hasUser    bool
	hasPass    bool
	clean      bool
	keepalive  uint16
	will       *packets.Will
	props      *packets.Properties
	manualAcks bool
}

// ClientOption configures Dial and Connect.
type ClientOption func(*clientConfig)

// WithCredentials sets the user name and password.
func WithCredentials(user, pass string) ClientOption {
	return func(c *clientConfig) { c.user, c.pass, c.hasUser, c.hasPass = user, []byte(pass), true, true }
}

// WithUsername sets a user name without a password.
func WithUsername(user string) ClientOption {
	return func(c *clientConfig) { c.user, c.hasUser = user, true }
}

// WithCleanSession sets the Clean Session (MQTT 5: Clean Start) flag; the
// default is true.
func WithCleanSession(clean bool) ClientOption { return func(c *clientConfig) { c.clean = clean } }

// WithKeepalive sets the keep alive; the default is 0 (none).
func WithKeepalive(d time.Duration) ClientOption {
	return func(c *clientConfig) { c.keepalive = uint16(d / time.Second) }
}

// WithWill sets the will message.
func WithWill(topic string, payload []byte, qos byte, retain bool) ClientOption {
	return func(c *clientConfig) {
		c.will = &packets.Will{Topic: topic, Payload: payload, QoS: qos, Retain: retain}
	}
}

// WithWillProperties sets the MQTT 5 will properties (Will Delay Interval,
// Message Expiry Interval, User Properties, ...) of the will set by
// WithWill; give it after WithWill.
func WithWillProperties(p *packets.Properties) ClientOption {
	return func(c *clientConfig) {
		if c.will != nil {
			c.will.Properties = p
		}
	}
}

// WithVersion sets the protocol level: packets.Version31, Version311 (the
// default) or Version5.
func WithVersion(v byte) ClientOption { return func(c *clientConfig) { c.version = v } }

// WithProperties sets MQTT 5 CONNECT properties.
func WithProperties(p *packets.Properties) ClientOption {
	return func(c *clientConfig) { c.props = p }
}

// WithManualAcks stops the client from acknowledging incoming QoS 1 and 2
// messages by itself; the test sends PUBACK, PUBREC and PUBCOMP with Send.
func WithManualAcks() ClientOption { return func(c *clientConfig) { c.manualAcks = true } }

// Client is a minimal MQTT client for tests. A background reader collects
// every packet from the broker; the methods below take the ones they wait
// for, in order, and leave the rest.
type Client struct {
	ID      string
	Connack *packets.Connack

	nc      net.Conn
	ver     byte
	cfg     clientConfig
	reader  *packets.Reader
	wmu     sync.Mutex
	mu      sync.Mutex
	pending []packets.Packet
	notify  chan struct{}
	done    chan struct{}
	readErr error
	nextID  uint16
	aliases map[uint16]string // topic aliases the broker set, read loop only
}

// Dial connects a client and fails the test unless the broker accepts it.
func (b *Broker) Dial(t testing.TB, clientID string, opts ...ClientOption) *Client {
	t.Helper()
	c, code := b.Connect(t, clientID, opts...)
	if code != packets.Success {
		t.Fatalf("brokertest: CONNECT %q refused: %v", clientID, code)
	}
	return c
}

// Connect sends CONNECT and returns the client with the CONNACK's code
// (for MQTT 3.1.1 the return code, widened to a ReasonCode). A refused
// client is returned too, for negative tests.
func (b *Broker) Connect(t testing.TB, clientID string, opts ...ClientOption) (*Client, packets.ReasonCode) {
	t.Helper()
	c := NewClient(t, b.Conn(t), clientID, opts...)
	return c, c.Connect(t)
}

// DialTCP connects a client over TCP to the MQTT listener at addr (any
// broker) and fails the test unless it is accepted. The connection is
// closed at the end of the test.
func DialTCP(t testing.TB, addr, clientID string, opts ...ClientOption) *Client {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("brokertest: dial %s: %v", addr, err)
	}
	c := NewClient(t, nc, clientID, opts...)
	if code := c.Connect(t); code != packets.Success {
		t.Fatalf("brokertest: CONNECT %q refused: %v", clientID, code)
	}
	return c
}

// NewClient wraps nc, an MQTT connection to any broker, in a Client
// without sending anything yet; call Connect next. The connection is closed
// at the end of the test.
func NewClient(t testing.TB, nc net.Conn, clientID string, opts ...ClientOption) *Client {
	cfg := clientConfig{version: packets.Version311, clean: true}
	for _, o := range opts {
		o(&cfg)
	}
	c := &Client{ID: clientID, nc: nc, ver: cfg.version, cfg: cfg,
		reader: packets.NewReader(nc, 0), notify: make(chan struct{}, 1), done: make(chan struct{})}
	c.reader.SetVersion(cfg.version)
	go c.readLoop()
	t.Cleanup(func() { c.nc.Close(); <-c.done })
	return c
}

// Connect sends CONNECT with the client's options and waits for CONNACK.
// It returns the CONNACK's code; an MQTT 3.1.1 return code is translated to
// the MQTT 5 reason code with the same meaning.
func (c *Client) Connect(t testing.TB) packets.ReasonCode {
	t.Helper()
	name := "MQTT"
	if c.ver == packets.Version31 {
		name = "MQIsdp"
	}
	p := &packets.Connect{ProtocolName: name, ProtocolVersion: c.ver, CleanStart: c.cfg.clean,
		KeepAlive: c.cfg.keepalive, ClientID: c.ID, Will: c.cfg.will, Properties: c.cfg.props,
		UsernameFlag: c.cfg.hasUser, Username: c.cfg.user, PasswordFlag: c.cfg.hasPass, Password: c.cfg.pass}
	c.Send(t, p)
	ack, ok := c.take(t, "CONNACK", func(p packets.Packet) bool { _, ok := p.(*packets.Connack); return ok }).(*packets.Connack)
	if !ok {
		return packets.UnspecifiedError
	}
	c.Connack = ack
	if ack.Properties != nil && ack.Properties.AssignedClientID != "" {
		c.ID = ack.Properties.AssignedClientID
	}
	if c.ver != packets.Version5 {
		switch ack.ReasonCode {
		case 0:
			return packets.Success
		case packets.ReasonCode(packets.ConnRefusedProtocolVersion):
			return packets.UnsupportedProtocolVersion
		case packets.ReasonCode(packets.ConnRefusedIdentifierRejected):
			return packets.ClientIdentifierNotValid
		case packets.ReasonCode(packets.ConnRefusedServerUnavailable):
			return packets.ServerUnavailable
		case packets.ReasonCode(packets.ConnRefusedBadUsernameOrPassword):
			return packets.BadUserNameOrPassword
		case packets.ReasonCode(packets.ConnRefusedNotAuthorized):
			return packets.NotAuthorized
		}
	}
	return ack.ReasonCode
}

func (c *Client) readLoop() {
	defer close(c.done)
	for {
		p, err := c.reader.ReadPacket()
		if err != nil {
			c.mu.Lock()
			c.readErr = err
			c.mu.Unlock()
			c.signal()
			return
		}
		if pub, ok := p.(*packets.Publish); ok {
			c.resolveAlias(pub)
		}
		if !c.cfg.manualAcks {
			c.autoAck(p)
		}
		c.mu.Lock()
		c.pending = append(c.pending, p)
		c.mu.Unlock()
		c.signal()
	}
}

// resolveAlias applies an MQTT 5 topic alias the broker used: a PUBLISH
// that sets one is remembered; one that uses one gets its topic name filled
// in. Either way the packet keeps its Topic Alias property.
func (c *Client) resolveAlias(p *packets.Publish) {
	if p.Properties == nil || p.Properties.TopicAlias == nil {
		return
	}
	a := *p.Properties.TopicAlias
	if p.Topic != "" {
		if c.aliases == nil {
			c.aliases = make(map[uint16]string)
		}
		c.aliases[a] = p.Topic
		return
	}
	p.Topic = c.aliases[a]
}

func (c *Client) signal() {
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

// autoAck acknowledges incoming QoS 1/2 messages and releases.
func (c *Client) autoAck(p packets.Packet) {
	var reply packets.Packet
	switch p := p.(type) {
	case *packets.Publish:
		switch p.QoS {
		case 1:
			reply = &packets.Puback{PacketID: p.PacketID}
		case 2:
			reply = &packets.Pubrec{PacketID: p.PacketID}
		}
	case *packets.Pubrel:
		reply = &packets.Pubcomp{PacketID: p.PacketID}
	}
	if reply != nil {
		c.write(reply)
	}
}

func (c *Client) write(p packets.Packet) error {
	buf, err := p.Append(nil, c.ver)
	if err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.nc.SetWriteDeadline(time.Now().Add(Timeout))
	_, err = c.nc.Write(buf)
	return err
}

// take waits for the first pending packet that pred accepts and removes it.
func (c *Client) take(t testing.TB, what string, pred func(packets.Packet) bool) packets.Packet {
	t.Helper()
	p, err := c.tryTake(pred, Timeout)
	if err != nil {
		t.Fatalf("brokertest: client %q: waiting for %s: %v", c.ID, what, err)
	}
	return p
}

var errTimeout = errors.New("timed out")

func (c *Client) tryTake(pred func(packets.Packet) bool, d time.Duration) (packets.Packet, error) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		c.mu.Lock()
		for i, p := range c.pending {
			if pred(p) {
				c.pending = append(c.pending[:i], c.pending[i+1:]...)
				c.mu.Unlock()
				return p, nil
			}
		}
		rerr := c.readErr
		c.mu.Unlock()
		if rerr != nil {
			return nil, fmt.Errorf("connection closed: %w", rerr)
		}
		select {
		case <-c.notify:
		case <-timer.C:
			return nil, errTimeout
		}
	}
}

// Send writes p to the broker.
func (c *Client) Send(t testing.TB, p packets.Packet) {
	t.Helper()
	if err := c.write(p); err != nil {
		t.Fatalf("brokertest: client %q: send %v: %v", c.ID, p.Type(), err)
	}
}

// SendRaw writes raw bytes to the broker, for malformed-packet tests.
func (c *Client) SendRaw(t testing.TB, b []byte) {
	t.Helper()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.nc.SetWriteDeadline(time.Now().Add(Timeout))
	if _, err := c.nc.Write(b); err != nil {
		t.Fatalf("brokertest: client %q: write: %v", c.ID, err)
	}
}

// Next returns the next packet of any type from the broker.
func (c *Client) Next(t testing.TB) packets.Packet {
	t.Helper()
	return c.take(t, "a packet", func(packets.Packet) bool { return true })
}

func (c *Client) packetID() uint16 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nextID++
	if c.nextID == 0 {
		c.nextID = 1
	}
	return c.nextID
}

// Subscribe subscribes to filter and returns the granted QoS (0x80 for a
// refusal).
func (c *Client) Subscribe(t testing.TB, filter string, qos byte) byte {
	t.Helper()
	codes := c.SubscribeOpts(t, nil, packets.Subscription{Filter: filter, QoS: qos})
	return byte(codes[0])
}

// SubscribeOpts sends one SUBSCRIBE with every subscription given (and
// MQTT 5 properties, which may be nil) and returns the SUBACK's codes.
func (c *Client) SubscribeOpts(t testing.TB, props *packets.Properties, subs ...packets.Subscription) []packets.ReasonCode {
	t.Helper()
	id := c.packetID()
	c.Send(t, &packets.Subscribe{PacketID: id, Properties: props, Subscriptions: subs})
	ack := c.take(t, "SUBACK", func(p packets.Packet) bool {
		a, ok := p.(*packets.Suback)
		return ok && a.PacketID == id
	}).(*packets.Suback)
	if len(ack.ReasonCodes) != len(subs) {
		t.Fatalf("brokertest: SUBACK has %d codes for %d filters", len(ack.ReasonCodes), len(subs))
	}
	return ack.ReasonCodes
}

// Unsubscribe unsubscribes from filters and waits for the UNSUBACK.
func (c *Client) Unsubscribe(t testing.TB, filters ...string) []packets.ReasonCode {
	t.Helper()
	id := c.packetID()
	c.Send(t, &packets.Unsubscribe{PacketID: id, Filters: filters})
	ack := c.take(t, "UNSUBACK", func(p packets.Packet) bool {
		a, ok := p.(*packets.Unsuback)
		return ok && a.PacketID == id
	}).(*packets.Unsuback)
	return ack.ReasonCodes
}

// Publish publishes a message and, for QoS 1 and 2, waits until the broker
// has acknowledged it (PUBACK, or PUBREC then PUBCOMP).
func (c *Client) Publish(t testing.TB, topic string, payload []byte, qos byte, retain bool) {
	t.Helper()
	c.PublishPacket(t, &packets.Publish{Topic: topic, Payload: payload, QoS: qos, Retain: retain})
}

// PublishPacket publishes p (assigning a packet identifier for QoS > 0) and
// waits for the acknowledgement flow to end. It returns the broker's reason
// code (MQTT 5) or Success.
func (c *Client) PublishPacket(t testing.TB, p *packets.Publish) packets.ReasonCode {
	t.Helper()
	if p.QoS > 0 && p.PacketID == 0 {
		p.PacketID = c.packetID()
	}
	c.Send(t, p)
	id := p.PacketID
	switch p.QoS {
	case 1:
		ack := c.take(t, "PUBACK", func(p packets.Packet) bool {
			a, ok := p.(*packets.Puback)
			return ok && a.PacketID == id
		}).(*packets.Puback)
		return ack.ReasonCode
	case 2:
		rec := c.take(t, "PUBREC", func(p packets.Packet) bool {
			a, ok := p.(*packets.Pubrec)
			return ok && a.PacketID == id
		}).(*packets.Pubrec)
		if rec.ReasonCode.IsError() {
			return rec.ReasonCode
		}
		c.Send(t, &packets.Pubrel{PacketID: id})
		c.take(t, "PUBCOMP", func(p packets.Packet) bool {
			a, ok := p.(*packets.Pubcomp)
			return ok && a.PacketID == id
		})
		return rec.ReasonCode
	}
	return packets.Success
}

// Expect waits for the next PUBLISH from the broker and fails the test
// unless its topic matches the filter want (a plain topic name matches
// itself). It returns the message, with QoS, Retain and Properties as
// received.
func (c *Client) Expect(t testing.TB, want string) broker.Message {
	t.Helper()
	p := c.ExpectPacket(t)
	if !topic.Match(want, p.Topic) {
		t.Fatalf("brokertest: client %q: got PUBLISH on %q, want %q", c.ID, p.Topic, want)
	}
	return broker.Message{Topic: p.Topic, Payload: p.Payload, QoS: p.QoS, Retain: p.Retain, Properties: p.Properties}
}

// ExpectPacket waits for the next PUBLISH from the broker and returns it.
func (c *Client) ExpectPacket(t testing.TB) *packets.Publish {
	t.Helper()
	return c.take(t, "PUBLISH", isPublish).(*packets.Publish)
}

func isPublish(p packets.Packet) bool { _, ok := p.(*packets.Publish); return ok }

// ExpectNone fails the test if a PUBLISH arrives within d.
func (c *Client) ExpectNone(t testing.TB, d time.Duration) {
	t.Helper()
	p, err := c.tryTake(isPublish, d)
	if err == nil {
		t.Fatalf("brokertest: client %q: unexpected PUBLISH on %q", c.ID, p.(*packets.Publish).Topic)
	}
}

// ExpectClosed waits until the broker closes the connection and returns
// the DISCONNECT it sent first, if any (MQTT 5).
func (c *Client) ExpectClosed(t testing.TB) *packets.Disconnect {
	t.Helper()
	var last *packets.Disconnect
	for {
		p, err := c.tryTake(func(packets.Packet) bool { return true }, Timeout)
		if errors.Is(err, errTimeout) {
			t.Fatalf("brokertest: client %q: connection still open after %v", c.ID, Timeout)
		}
		if err != nil {
			return last
		}
		if d, ok := p.(*packets.Disconnect); ok {
			last = d
		}
	}
}

// Disconnect sends DISCONNECT (no will is published) and closes the
// connection.
func (c *Client) Disconnect(t testing.TB) {
	t.Helper()
	c.write(&packets.Disconnect{})
	c.nc.Close()
	<-c.done
}

// Drop closes the connection abruptly, without DISCONNECT: the broker
// publishes the will.
func (c *Client) Drop() {
	c.nc.Close()
	<-c.done
}
