package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/emqgo/broker/packets"
	"github.com/emqgo/broker/topic"
)

// writeTimeout bounds one write to a client (EMQ's send_timeout).
const writeTimeout = 15 * time.Second

var (
	errKeepalive     = errors.New("keepalive timeout")
	errConnectTimout = errors.New("no CONNECT within the connect timeout")
	errClosedByPeer  = errors.New("connection closed by peer")
	errSecondConnect = errors.New("second CONNECT on a connection [MQTT-3.1.0-2]")
	errFirstPacket   = errors.New("first packet is not CONNECT [MQTT-3.1.0-1]")
)

// wItem is one packet waiting in a connection's write queue. Publishes are
// kept by value so the session may change its own record meanwhile.
type wItem struct {
	pkt   packets.Packet
	pub   packets.Publish
	isPub bool
	// msg and expireAt are set for publishes: the message (for
	// delivery.dropped) and when it expires (unix nanoseconds, 0 = never).
	msg      *Message
	expireAt int64
	// enc is the message's shared encoding, for a publish that needs no
	// packet of its own (see pubCache).
	enc *pubCache
}

// conn is one MQTT network connection. Its reader goroutine runs while
// there is input (an idle TCP connection parks, see park.go); its writer
// goroutine runs only while there is output.
type conn struct {
	b        *Broker
	nc       net.Conn
	listener string
	r        *packets.Reader
	ver      byte
	ctx      context.Context
	cancel   context.CancelFunc
	info     *ClientInfo
	sess     *Session
	will     *packets.Will
	graceful bool // DISCONNECT received
	// discCode is the reason code of the client's DISCONNECT; any code
	// but 0x00 keeps the will [MQTT-3.1.2-10].
	discCode packets.ReasonCode

	// MQTT 5 state of the reader goroutine.
	connExpiry  uint32              // CONNECT's Session Expiry Interval [MQTT-3.14.2-2]
	recvMax     int                 // the broker's Receive Maximum for this client
	qos2In      map[uint16]struct{} // incoming QoS 2 packet ids awaiting PUBREL
	aliasMaxIn  uint16              // the broker's Topic Alias Maximum for this client
	aliasIn     map[uint16]string   // incoming topic aliases
	problemInfo bool                // Request Problem Information [MQTT-3.1.2-29]
	authMethod  string              // the enhanced authentication method of CONNECT
	reauth      func(context.Context, []byte) (AuthStep, error)
	reauthA     EnhancedAuthenticator
	reauthInfo  *ClientInfo

	// The client's limits, set in connect before anything is sent.
	maxOut      int    // Maximum Packet Size; 0 = none
	aliasMaxOut uint16 // Topic Alias Maximum
	// Outgoing topic aliases; used by the writer only (one runs at a time).
	aliasOut     map[string]uint16
	aliasNextOut uint16

	wmu      sync.Mutex
	wq       []wItem
	wspare   []wItem
	wbytes   int
	wrunning bool
	wclosing bool
	wdead    bool
	kickErr  error
	// linger is set when the broker ends the connection after a last
	// packet (a refusing CONNACK, a DISCONNECT): the writer then only
	// half-closes a TCP connection (halfClosed) and the reader drains what
	// the client still sends, so that the client reads that last packet
	// instead of a reset. flushed is closed after the writer's last write.
	linger     bool
	halfClosed bool
	flushed    chan struct{}
	finalOnce  sync.Once
	// v5Acked is set once a successful MQTT 5 CONNACK is queued: only then
	// may a DISCONNECT follow [MQTT-3.14.0-1]. Guarded by wmu, because kick
	// runs on other goroutines while the reader is still in connect.
	v5Acked bool
	// closeCode is the reason code the broker closed the connection with,
	// if closeCoded. Guarded by wmu.
	closeCode  packets.ReasonCode
	closeCoded bool
	bytesRead  countingReader
	// idleRelease is set when the connection releases its read buffer
	// while idle, which needs a net.Conn whose reads survive a deadline.
	idleRelease bool

	// Parking (park.go): parked is swapped to false by whoever resumes c.
	parked    atomic.Bool
	parkMu    sync.Mutex  // held by park while it hands c over
	parkTimer *time.Timer // the keep-alive deadline while parked
	parkEnd   time.Time
	pk        *parker
	parkToken uint64 // c's key in pk, 0 before its first park
	parkArmed bool   // the socket is in the parker's epoll set

	unflushed bool  // send queued answers that flush has not written; reader only
	lastFlush int64 // unix nanoseconds of the last flush; reader only
}

// countingReader counts the bytes read from the network. Its Read has a
// pointer receiver and a small frame: an idle reader goroutine blocks
// beneath it, and the runtime sizes new goroutines' stacks from the
// average depth of the stacks it scans.
type countingReader struct {
	r net.Conn
	n atomic.Uint64
}

func (cr *countingReader) Read(p []byte) (int, error) {
	n, err := cr.r.Read(p)
	cr.n.Add(uint64(n))
	return n, err
}

// serveConn runs one connection to its end. With handoff, the packets
// after CONNECT are read on a new goroutine and serveConn returns once
// CONNECT is handled: handling CONNECT grows a goroutine's stack, and a
// stack once grown is never shrunk back to the smallest size, so a fresh
// goroutine that only waits for the next packet keeps an idle connection
// small. With idleRelease, the connection gives its read buffer back to a
// pool while idle; it needs a net.Conn that cheaply survives a read
// deadline (a TCP or TLS connection).
func (b *Broker) serveConn(nc net.Conn, listener string, handoff, idleRelease bool) (parked bool) {
	c := &conn{b: b, nc: nc, listener: listener, flushed: make(chan struct{})}
	c.ctx, c.cancel = context.WithCancel(b.ctx)
	c.bytesRead.r = nc
	c.r = packets.NewPooledReader(&c.bytesRead, b.opts.MaxPacketSize)
	b.mu.Lock()
	if b.closing.Load() {
		b.mu.Unlock()
		nc.Close()
		return false
	}
	b.conns[c] = struct{}{}
	b.mu.Unlock()
	err := c.runConnect()
	c.idleRelease = idleRelease
	if err == nil && c.park(c.keepaliveEnd()) {
		return true
	}
	if err == nil && handoff && b.trackGo() {
		go c.serveRest()
		return false
	}
	if err == nil {
		return c.serveReader()
	}
	c.end(err)
	return false
}

// idleRelease is how long a connection waits for a packet before it gives
// its read buffer back to the pool (see packets.NewPooledReader) and parks.
const idleRelease = time.Second

// serveRest reads the packets after CONNECT and ends the connection, on a
// goroutine counted by trackGo.
func (c *conn) serveRest() {
	if !c.serveReader() {
		c.b.wg.Done()
	}
}

// keepaliveEnd is when the connection ends if no packet arrives from now
// on: 1.5 times the keep alive [MQTT-3.1.2-24]; zero without keep alive.
func (c *conn) keepaliveEnd() time.Time {
	if ka := c.info.Keepalive * 3 / 2; ka > 0 {
		return time.Now().Add(ka)
	}
	return time.Time{}
}

// end cleans up after the reader ends.
func (c *conn) end(err error) {
	b := c.b
	c.finish(err)
	c.lingerClose()
	b.mu.Lock()
	delete(b.conns, c)
	b.mu.Unlock()
	b.metrics.add(mBytesReceived, c.bytesRead.n.Load())
	c.cancel()
	c.stopParkTimer()
	if c.pk != nil {
		c.pk.forget(c)
	}
}

// runConnect reads and handles CONNECT.
func (c *conn) runConnect() error {
	b := c.b
	c.nc.SetReadDeadline(time.Now().Add(b.opts.ConnectTimeout))
	p, err := c.r.ReadPacket()
	if err != nil {
		if os.IsTimeout(err) {
			return errConnectTimout
		}
		if pe, ok := packets.AsError(err); ok {
			b.metrics.add(mMalformed, 1)
			if pe.Code == packets.UnsupportedProtocolVersion {
				// [MQTT-3.1.2-2]: answer 0x01 and close. The level is
				// unknown, so encode the CONNACK in the 3.1.1 form.
				c.ver = packets.Version311
				c.setLinger()
				c.enqueue(wItem{pkt: &packets.Connack{ReasonCode: packets.ReasonCode(packets.ConnRefusedProtocolVersion)}})
			}
			b.log.Info("closing connection: bad CONNECT", "remote", c.remote(), "err", err)
		}
		return err
	}
	b.metrics.add(mPacketsReceived, 1)
	cp, ok := p.(*packets.Connect)
	if !ok {
		b.log.Info("closing connection: first packet is not CONNECT", "remote", c.remote(), "type", p.Type())
		return errFirstPacket
	}
	return c.connect(cp)
}

// readLoop reads every packet after CONNECT until the connection ends.
func (c *conn) readLoop() error {
	b := c.b
	for {
		if !c.r.Complete() {
			c.flush() // before ReadPacket may wait for input
		}
		if c.isClosing() {
			return c.closeReason(nil)
		}
		end := c.keepaliveEnd()
		if c.idleRelease && c.r.Buffered() == 0 && (end.IsZero() || time.Until(end) > idleRelease) {
			// Wait a while with the read buffer, then park (or, where
			// parking is not possible, give the buffer back to the pool
			// for as long as the connection stays idle).
			c.nc.SetReadDeadline(time.Now().Add(idleRelease))
			if err := c.r.Wait(); err != nil {
				if !os.IsTimeout(err) {
					return c.readError(err)
				}
				if c.park(end) {
					return errParked
				}
				c.r.Release()
			}
		}
		c.nc.SetReadDeadline(end)
		p, err := c.r.ReadPacket()
		if err != nil {
			return c.readError(err)
		}
		b.metrics.add(mPacketsReceived, 1)
		if err := c.handle(p); err != nil {
			return err
		}
		if c.graceful {
			return nil
		}
	}
}

func (c *conn) readError(err error) error {
	b := c.b
	switch {
	case c.isClosing():
		return c.closeReason(err)
	case os.IsTimeout(err):
		c.disconnectMsg(packets.KeepAliveTimeout, "no packet within 1.5 times the keep alive")
		return errKeepalive
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), errors.Is(err, io.ErrClosedPipe):
		return errClosedByPeer
	}
	if pe, ok := packets.AsError(err); ok {
		b.metrics.add(mMalformed, 1)
		b.log.Info("closing connection: bad packet", "client", c.info.ClientID, "remote", c.remote(), "err", err)
		code := pe.Code
		if code == packets.UnsupportedProtocolVersion {
			code = packets.ProtocolError // not a DISCONNECT reason code
		}
		c.disconnectMsg(code, pe.Msg)
	}
	return err
}

func (c *conn) closeReason(err error) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.kickErr != nil {
		return c.kickErr
	}
	if err == nil {
		return errClosedByPeer
	}
	return err
}

func (c *conn) remote() string { return c.nc.RemoteAddr().String() }

// connect handles CONNECT. It returns an error when the client is refused.
func (c *conn) connect(p *packets.Connect) error {
	b := c.b
	b.metrics.add(mPacketsConnect, 1)
	c.ver = p.ProtocolVersion
	c.r.SetVersion(c.ver)
	v5 := c.ver == packets.Version5
	info := &ClientInfo{
		ClientID:     p.ClientID,
		Username:     p.Username,
		Peer:         peerOf(c.nc),
		Listener:     c.listener,
		Protocol:     "mqtt",
		ProtoVersion: c.ver,
		CleanStart:   p.CleanStart,
		Keepalive:    time.Duration(p.KeepAlive) * time.Second,
		ConnectedAt:  time.Now(),
		Properties:   p.Properties,
	}
	// *tls.Conn, and adapters such as ws's connections over HTTPS.
	if tc, ok := c.nc.(interface{ ConnectionState() tls.ConnectionState }); ok {
		if st := tc.ConnectionState(); st.HandshakeComplete {
			info.TLS = &st
		}
	}
	cp := p.Properties // nil for 3.1 and 3.1.1
	var serverKA *uint16
	if v5 {
		serverKA = c.setupV5(info, cp)
	}
	code := packets.Success
	assigned := false
	switch {
	case p.ClientID == "" && (c.ver == packets.Version31 || (c.ver == packets.Version311 && !p.CleanStart)):
		code = packets.ClientIdentifierNotValid // [MQTT-3.1.3-8]
	case p.ClientID == "":
		info.ClientID = b.newClientID() // [MQTT-3.1.3-6]
		assigned = true
	case len(p.ClientID) > b.opts.MaxClientIDLen:
		code = packets.ClientIdentifierNotValid
	}
	c.info = info
	var authProps *packets.Properties
	if code == packets.Success {
		for _, e := range b.hookTable.clientConnect.load() {
			e.fn(c.ctx, info)
		}
		if v5 && cp != nil && cp.AuthMethod != "" {
			var final []byte
			var err error
			code, final, err = c.enhancedConnect(info, cp)
			if err != nil {
				c.closeWith(nil)
				return err
			}
			if code == packets.Success {
				c.authMethod = cp.AuthMethod
				authProps = &packets.Properties{AuthMethod: cp.AuthMethod, AuthData: final}
			}
		} else if b.authenticate(c.ctx, info, p.Password) != Allow {
			code = packets.NotAuthorized
			if p.UsernameFlag || p.PasswordFlag {
				code = packets.BadUserNameOrPassword
			}
		}
	}
	if code != packets.Success {
		c.setLinger()
		c.sendConnack(info, code, false, nil)
		b.runConnected(c.ctx, info, code)
		b.log.Info("connection refused", "client", info.ClientID, "remote", c.remote(), "code", code)
		c.closeWith(nil)
		return errRefused
	}
	persistent, expiry := !p.CleanStart, b.opts.Session.Expiry
	var grantedExpiry *uint32
	if v5 {
		persistent, expiry = false, 0
		if c.connExpiry > 0 {
			persistent = true
			expiry = c.grantExpiry(c.connExpiry)
			if got := uint32(min(expiry/time.Second, 0xFFFFFFFF)); got != c.connExpiry {
				grantedExpiry = &got // the CONNACK says so (§3.2.2.3.2)
			}
		}
	}
	sess, present := b.openSession(c.ctx, info, p.CleanStart, persistent, expiry)
	c.sess = sess
	c.will = p.Will
	var props *packets.Properties
	if v5 {
		props = &packets.Properties{SessionExpiry: grantedExpiry, ServerKeepAlive: serverKA}
		if assigned {
			props.AssignedClientID = info.ClientID
		}
		mps := uint32(b.opts.MaxPacketSize)
		props.MaximumPacketSize = &mps
		if rm := b.opts.ReceiveMaximum; rm < 65535 {
			v := uint16(rm)
			props.ReceiveMaximum = &v
		}
		if c.aliasMaxIn > 0 {
			v := c.aliasMaxIn
			props.TopicAliasMaximum = &v
		}
		one := byte(1)
		props.WildcardSubAvailable, props.SubIDAvailable, props.SharedSubAvailable = &one, &one, &one
		if cp != nil && cp.RequestResponseInfo != nil && *cp.RequestResponseInfo == 1 && b.opts.ResponseInformation != "" {
			props.ResponseInfo = strings.NewReplacer("%c", info.ClientID, "%u", info.Username).Replace(b.opts.ResponseInformation)
		}
		if authProps != nil {
			props.AuthMethod, props.AuthData = authProps.AuthMethod, authProps.AuthData
		}
	}
	b.gauges.clientsMax.observe(int(b.gauges.clients.Add(1)))
	// Hold the writer until the session is attached, so that a client that
	// has its CONNACK is connected for Kick, Client and Clients, while what
	// attach resends still follows the CONNACK.
	held := c.holdWriter()
	c.sendConnack(info, code, present, props)
	b.runConnected(c.ctx, info, code)
	if b.log.Enabled(c.ctx, slog.LevelDebug) {
		b.log.Debug("client connected", "client", info.ClientID, "remote", c.remote(), "version", c.ver, "resumed", present)
	}
	sess.attach(c)
	if held {
		c.releaseWriter()
	}
	return nil
}

// setupV5 applies the MQTT 5 CONNECT properties to the connection and
// grants the keep alive; it returns the Server Keep Alive for the CONNACK,
// or nil when the client's own keep alive stands.
func (c *conn) setupV5(info *ClientInfo, cp *packets.Properties) *uint16 {
	b := c.b
	c.problemInfo = true
	c.recvMax = b.opts.ReceiveMaximum
	c.aliasMaxIn = uint16(max(b.opts.TopicAliasMaximum, 0))
	if cp != nil {
		if cp.MaximumPacketSize != nil {
			c.maxOut = int(min(*cp.MaximumPacketSize, packets.MaxRemainingLength+5))
		}
		if cp.TopicAliasMaximum != nil {
			c.aliasMaxOut = *cp.TopicAliasMaximum
		}
		if cp.RequestProblemInfo != nil && *cp.RequestProblemInfo == 0 {
			c.problemInfo = false
		}
		if cp.SessionExpiry != nil {
			c.connExpiry = *cp.SessionExpiry
		}
	}
	if lim := b.opts.ServerKeepAlive; lim > 0 && info.Keepalive > lim {
		info.Keepalive = lim // [MQTT-3.2.2-21]
		ka := uint16(lim / time.Second)
		return &ka
	}
	return nil
}

// grantExpiry turns a Session Expiry Interval in seconds into the expiry
// the session gets, shortened to Options.Session.MaxExpiry.
func (c *conn) grantExpiry(secs uint32) time.Duration {
	exp := time.Duration(secs) * time.Second
	if lim := c.b.opts.Session.MaxExpiry; lim > 0 && (exp > lim || secs == 0xFFFFFFFF) {
		exp = lim.Truncate(time.Second)
	}
	return exp
}

// enhancedConnect runs the enhanced authentication exchange of a CONNECT
// with an Authentication Method (see EnhancedAuthenticator). It returns the
// CONNACK reason code and the final Authentication Data, or an error when
// the connection is to close without a CONNACK.
func (c *conn) enhancedConnect(info *ClientInfo, cp *packets.Properties) (packets.ReasonCode, []byte, error) {
	b := c.b
	method := cp.AuthMethod
	a := b.enhancedAuth(method)
	if a == nil {
		b.log.Info("unknown authentication method", "client", info.ClientID, "method", method)
		return packets.BadAuthenticationMethod, nil, nil // [MQTT-4.12.0-1]
	}
	step, err := a.Start(c.ctx, info, cp.AuthData)
	for {
		if err != nil {
			b.log.Warn("enhanced authentication failed; denying", "client", info.ClientID, "method", method, "err", err)
			step = AuthStep{}
		}
		if step.Result == AuthContinue && step.Next == nil {
			b.log.Error("enhanced authenticator continued without Next; denying", "method", method)
			step = AuthStep{}
		}
		switch step.Result {
		case AuthSuccess:
			if b.settleEnhanced(c.ctx, info, a, Allow) != Allow {
				return packets.NotAuthorized, nil, nil
			}
			return packets.Success, step.Data, nil
		case AuthContinue:
		default:
			if b.settleEnhanced(c.ctx, info, a, Deny) != Allow {
				return packets.NotAuthorized, nil, nil
			}
			return packets.Success, nil, nil
		}
		c.enqueue(wItem{pkt: &packets.Auth{ReasonCode: packets.ContinueAuthentication, // [MQTT-4.12.0-2]
			Properties: &packets.Properties{AuthMethod: method, AuthData: step.Data}}})
		c.nc.SetReadDeadline(time.Now().Add(b.opts.ConnectTimeout))
		pkt, rerr := c.r.ReadPacket()
		if rerr != nil {
			if pe, ok := packets.AsError(rerr); ok {
				b.metrics.add(mMalformed, 1)
				switch pe.Code {
				case packets.MalformedPacket, packets.PacketTooLarge:
					return pe.Code, nil, nil
				}
				return packets.ProtocolError, nil, nil
			}
			if os.IsTimeout(rerr) {
				return 0, nil, errConnectTimout
			}
			return 0, nil, rerr
		}
		b.metrics.add(mPacketsReceived, 1)
		switch q := pkt.(type) {
		case *packets.Auth:
			if q.ReasonCode != packets.ContinueAuthentication || q.Properties == nil || q.Properties.AuthMethod != method {
				b.log.Info("closing connection: bad AUTH during authentication", "client", info.ClientID, "code", q.ReasonCode)
				return packets.ProtocolError, nil, nil // [MQTT-4.12.0-3], [MQTT-4.12.0-5]
			}
			step, err = step.Next(c.ctx, q.Properties.AuthData)
		case *packets.Disconnect:
			return 0, nil, errClosedByPeer
		default:
			b.log.Info("closing connection: packet other than AUTH during authentication", "client", info.ClientID, "type", pkt.Type())
			return packets.ProtocolError, nil, nil
		}
	}
}

// holdWriter keeps the writer from starting until releaseWriter; it reports
// false, holding nothing, if the writer is already running.
func (c *conn) holdWriter() bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.wrunning {
		return false
	}
	c.wrunning = true
	return true
}

// releaseWriter ends holdWriter, starting the writer for what was queued.
func (c *conn) releaseWriter() {
	c.wmu.Lock()
	start := len(c.wq) > 0 || c.wclosing
	c.wrunning = start
	c.wmu.Unlock()
	if start {
		c.startWriter()
	}
}

var errRefused = errors.New("connection refused")

func (c *conn) sendConnack(info *ClientInfo, code packets.ReasonCode, present bool, props *packets.Properties) {
	for _, e := range c.b.hookTable.clientConnack.load() {
		e.fn(c.ctx, info, code)
	}
	rc := code
	if c.ver != packets.Version5 {
		rc = packets.ReasonCode(packets.V3ConnackCode(code))
		props = nil
	}
	it := wItem{pkt: &packets.Connack{SessionPresent: present && code == packets.Success, ReasonCode: rc, Properties: props}}
	c.wmu.Lock()
	if c.wclosing || c.wdead {
		c.wmu.Unlock()
		return
	}
	c.v5Acked = c.ver == packets.Version5 && code == packets.Success
	c.pushLocked(it)
}

func peerOf(nc net.Conn) netip.AddrPort {
	if a, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort()
	}
	ap, _ := netip.ParseAddrPort(nc.RemoteAddr().String())
	return ap
}

// handle processes one packet after CONNECT.
func (c *conn) handle(p packets.Packet) error {
	b := c.b
	switch p := p.(type) {
	case *packets.Publish:
		return c.handlePublish(p)
	case *packets.Puback:
		b.metrics.add(mPacketsPubackReceived, 1)
		c.sess.puback(p.PacketID)
	case *packets.Pubrec:
		b.metrics.add(mPacketsPubrecReceived, 1)
		rc := packets.Success
		if !c.sess.pubrec(p.PacketID) {
			rc = packets.PacketIdentifierNotFound
		}
		if p.ReasonCode.IsError() { // v5: the receiver refused it; it is done
			c.sess.pubrec(p.PacketID)
			c.sess.pubcomp(p.PacketID)
			return nil
		}
		c.send(&packets.Pubrel{PacketID: p.PacketID, ReasonCode: rc}, mPacketsPubrelSent)
	case *packets.Pubrel:
		b.metrics.add(mPacketsPubrelReceived, 1)
		delete(c.qos2In, p.PacketID)
		rc := packets.Success
		if !c.sess.release(p.PacketID) {
			rc = packets.PacketIdentifierNotFound
		}
		c.send(&packets.Pubcomp{PacketID: p.PacketID, ReasonCode: rc}, mPacketsPubcompSent)
	case *packets.Pubcomp:
		b.metrics.add(mPacketsPubcompReceived, 1)
		c.sess.pubcomp(p.PacketID)
	case *packets.Subscribe:
		b.metrics.add(mPacketsSubscribe, 1)
		subs := make([]Subscription, len(p.Subscriptions))
		var id uint32
		if p.Properties != nil && len(p.Properties.SubscriptionIDs) > 0 {
			id = p.Properties.SubscriptionIDs[0]
		}
		for i, s := range p.Subscriptions {
			subs[i] = Subscription{Filter: s.Filter, QoS: s.QoS, NoLocal: s.NoLocal,
				RetainAsPublished: s.RetainAsPublished, RetainHandling: s.RetainHandling, ID: id}
		}
		codes, acc := c.sess.subscribe(c.ctx, subs, false)
		if c.ver != packets.Version5 {
			for i, rc := range codes {
				if rc.IsError() {
					codes[i] = 0x80
				}
			}
		}
		c.send(&packets.Suback{PacketID: p.PacketID, ReasonCodes: codes}, mPacketsSuback)
		c.sess.afterSubscribe(c.ctx, acc)
	case *packets.Unsubscribe:
		b.metrics.add(mPacketsUnsubscribe, 1)
		codes := c.sess.unsubscribe(c.ctx, p.Filters)
		c.send(&packets.Unsuback{PacketID: p.PacketID, ReasonCodes: codes}, mPacketsUnsuback)
	case *packets.Pingreq:
		b.metrics.add(mPacketsPingreq, 1)
		c.send(&packets.Pingresp{}, mPacketsPingresp)
	case *packets.Disconnect:
		b.metrics.add(mPacketsDisconnect, 1)
		if c.ver == packets.Version5 && p.Properties != nil && p.Properties.SessionExpiry != nil {
			se := *p.Properties.SessionExpiry
			if c.connExpiry == 0 && se != 0 {
				return c.fail(packets.ProtocolError, "DISCONNECT sets a Session Expiry Interval, CONNECT had none (§3.14.2.2.2)")
			}
			exp := c.grantExpiry(se)
			c.sess.mu.Lock()
			c.sess.expiry = exp
			c.sess.persistent = exp > 0
			c.sess.mu.Unlock()
		}
		// Only a DISCONNECT with 0x00 discards the will [MQTT-3.1.2-10];
		// MQTT 5's 0x04 and the error codes keep it.
		if p.ReasonCode == packets.NormalDisconnection {
			c.will = nil
		}
		c.discCode = p.ReasonCode
		c.graceful = true
	case *packets.Auth:
		return c.handleAuth(p)
	case *packets.Connect:
		b.log.Info("closing connection: second CONNECT", "client", c.info.ClientID)
		c.disconnectMsg(packets.ProtocolError, "second CONNECT")
		return errSecondConnect
	default:
		b.log.Info("closing connection: unexpected packet", "client", c.info.ClientID, "type", p.Type())
		c.disconnectMsg(packets.ProtocolError, "unexpected "+p.Type().String()+" packet")
		return errors.New("unexpected " + p.Type().String() + " packet from client")
	}
	return nil
}

// fail closes the connection for a protocol violation: MQTT 5 clients get
// DISCONNECT with code and msg as its Reason String. It returns the error
// that ends the reader.
func (c *conn) fail(code packets.ReasonCode, msg string) error {
	c.b.log.Info("closing connection: "+msg, "client", c.info.ClientID, "remote", c.remote(), "code", code)
	c.disconnectMsg(code, msg)
	return errors.New(msg)
}

// reasonProps returns properties carrying msg as a Reason String for an
// acknowledgement, or nil when the client asked not to get them
// [MQTT-3.1.2-29] or is not an MQTT 5 client.
func (c *conn) reasonProps(msg string) *packets.Properties {
	if c.ver != packets.Version5 || !c.problemInfo || msg == "" {
		return nil
	}
	return &packets.Properties{ReasonString: msg}
}

// handleAuth handles an AUTH packet after CONNACK: re-authentication
// [MQTT-4.12.1-1] with the method of CONNECT (see EnhancedAuthenticator).
func (c *conn) handleAuth(p *packets.Auth) error {
	b := c.b
	var method string
	var data []byte
	if p.Properties != nil {
		method, data = p.Properties.AuthMethod, p.Properties.AuthData
	}
	if c.authMethod == "" {
		return c.fail(packets.ProtocolError, "AUTH from a client that did not use enhanced authentication")
	}
	if method != c.authMethod {
		return c.fail(packets.ProtocolError, "AUTH with another authentication method than CONNECT [MQTT-4.12.0-5]")
	}
	var (
		step AuthStep
		err  error
	)
	switch p.ReasonCode {
	case packets.ReAuthenticate:
		if c.reauth != nil {
			return c.fail(packets.ProtocolError, "re-authentication while one is in progress")
		}
		a := b.enhancedAuth(method)
		if a == nil {
			return c.fail(packets.NotAuthorized, "authentication method no longer available")
		}
		info := *c.info
		c.reauthA, c.reauthInfo = a, &info
		step, err = a.Start(c.ctx, &info, data)
	case packets.ContinueAuthentication:
		if c.reauth == nil {
			return c.fail(packets.ProtocolError, "AUTH 0x18 without an authentication in progress")
		}
		next := c.reauth
		c.reauth = nil
		step, err = next(c.ctx, data)
	default:
		return c.fail(packets.ProtocolError, "AUTH with reason code "+p.ReasonCode.String()+" from a client")
	}
	if err != nil {
		b.log.Warn("re-authentication failed; denying", "client", c.info.ClientID, "method", method, "err", err)
		step = AuthStep{}
	}
	if step.Result == AuthContinue {
		if step.Next == nil {
			b.log.Error("enhanced authenticator continued without Next; denying", "method", method)
			step = AuthStep{}
		} else {
			c.reauth = step.Next
			c.send(&packets.Auth{ReasonCode: packets.ContinueAuthentication,
				Properties: &packets.Properties{AuthMethod: method, AuthData: step.Data}}, -1)
			return nil
		}
	}
	d := Deny
	if step.Result == AuthSuccess {
		d = Allow
	}
	a, info := c.reauthA, c.reauthInfo
	c.reauthA, c.reauthInfo = nil, nil
	if b.settleEnhanced(c.ctx, info, a, d) != Allow {
		return c.fail(packets.NotAuthorized, "re-authentication failed") // [MQTT-4.12.1-2]
	}
	var final []byte
	if d == Allow {
		final = step.Data
	}
	c.send(&packets.Auth{ReasonCode: packets.Success, Properties: &packets.Properties{AuthMethod: method, AuthData: final}}, -1)
	return nil
}

func (c *conn) handlePublish(p *packets.Publish) error {
	b := c.b
	b.metrics.add(mPacketsPublishReceived, 1)
	b.metrics.add(mMessagesReceived, 1)
	b.metrics.add(mMessagesQoS0Received+metric(2*p.QoS), 1)
	v5 := c.ver == packets.Version5
	props := p.Properties
	if v5 && props != nil {
		if len(props.SubscriptionIDs) > 0 {
			return c.fail(packets.ProtocolError, "PUBLISH with a Subscription Identifier from a client [MQTT-3.3.4-6]")
		}
		if props.TopicAlias != nil {
			a := *props.TopicAlias
			if a == 0 || a > c.aliasMaxIn {
				// [MQTT-3.2.2-17], [MQTT-3.3.2-8], [MQTT-3.3.2-9]
				return c.fail(packets.TopicAliasInvalid, fmt.Sprintf("Topic Alias %d outside 1..%d", a, c.aliasMaxIn))
			}
			if p.Topic == "" {
				t, ok := c.aliasIn[a]
				if !ok {
					return c.fail(packets.ProtocolError, fmt.Sprintf("Topic Alias %d has no topic", a))
				}
				p.Topic = t
			} else {
				if c.aliasIn == nil {
					c.aliasIn = make(map[uint16]string)
				}
				c.aliasIn[a] = p.Topic // [MQTT-3.3.2-12]
			}
		}
	}
	if err := topic.ValidateName(p.Topic); err != nil {
		b.log.Info("closing connection: invalid topic name", "client", c.info.ClientID, "topic", p.Topic, "err", err)
		c.disconnectMsg(packets.TopicNameInvalid, "invalid topic name")
		return err
	}
	if v5 && p.QoS > 0 {
		if _, again := c.qos2In[p.PacketID]; !(again && p.QoS == 2) && len(c.qos2In) >= c.recvMax {
			return c.fail(packets.ReceiveMaximumExceeded, fmt.Sprintf("more than Receive Maximum (%d) unacknowledged QoS 1 and 2 publishes [MQTT-3.3.4-7]", c.recvMax))
		}
	}
	if props != nil && (props.TopicAlias != nil || len(props.SubscriptionIDs) > 0) {
		// Topic aliases belong to this connection; subscription
		// identifiers are set per subscriber.
		cp := *props
		cp.TopicAlias, cp.SubscriptionIDs = nil, nil
		props = &cp
	}
	m := Message{Topic: p.Topic, Payload: p.Payload, QoS: p.QoS, Retain: p.Retain, Properties: props}
	if v5 && props != nil && props.PayloadFormat != nil && *props.PayloadFormat == 1 && !utf8.Valid(p.Payload) {
		// §3.3.2.3.2: the receiver may refuse it; it is not routed.
		b.log.Info("publish refused: payload is not UTF-8 as its Payload Format Indicator says", "client", c.info.ClientID, "topic", p.Topic)
		b.metrics.add(mMessagesDropped, 1)
		switch p.QoS {
		case 1:
			c.send(&packets.Puback{PacketID: p.PacketID, ReasonCode: packets.PayloadFormatInvalid, Properties: c.reasonProps("payload is not valid UTF-8")}, mPacketsPubackSent)
		case 2:
			c.send(&packets.Pubrec{PacketID: p.PacketID, ReasonCode: packets.PayloadFormatInvalid, Properties: c.reasonProps("payload is not valid UTF-8")}, mPacketsPubrecSent)
		}
		return nil
	}
	if c.r.Buffered() == 0 {
		// This PUBLISH is the last thing read: the reader was woken by the
		// network, maybe together with other connections whose packets
		// arrived first (the runtime readies such a batch in no particular
		// order). Let them run before routing, so that a SUBSCRIBE sent
		// just before this PUBLISH on another connection is in place, as
		// with a broker that handles sockets in arrival order. Publishes
		// read from a full buffer (a pipelining client) do not yield.
		runtime.Gosched()
	}
	switch p.QoS {
	case 0:
		c.sess.publish(c.ctx, m)
	case 1:
		rc := c.ackCode(c.sess.publish(c.ctx, m))
		c.send(&packets.Puback{PacketID: p.PacketID, ReasonCode: rc, Properties: c.ackReason(rc)}, mPacketsPubackSent)
	case 2:
		dup, full := c.sess.receiveQoS2(p.PacketID)
		rc := packets.Success
		switch {
		case full:
			rc = packets.QuotaExceeded
			b.dropMessage(&m, DropAwaitingRel)
			b.log.Warn("dropped QoS 2 message: too many awaiting PUBREL", "client", c.info.ClientID)
		case !dup:
			rc = c.ackCode(c.sess.publish(c.ctx, m))
			if rc.IsError() {
				c.sess.release(p.PacketID) // a refusing PUBREC ends the flow [MQTT-4.3.3]
			}
		}
		if v5 && !rc.IsError() {
			if c.qos2In == nil {
				c.qos2In = make(map[uint16]struct{})
			}
			c.qos2In[p.PacketID] = struct{}{}
		}
		c.send(&packets.Pubrec{PacketID: p.PacketID, ReasonCode: rc, Properties: c.ackReason(rc)}, mPacketsPubrecSent)
	}
	return nil
}

// ackReason returns the Reason String properties for a refusing PUBACK or
// PUBREC, when the client accepts them.
func (c *conn) ackReason(rc packets.ReasonCode) *packets.Properties {
	switch rc {
	case packets.NotAuthorized:
		return c.reasonProps("not authorized to publish to this topic")
	case packets.QuotaExceeded:
		return c.reasonProps("too many QoS 2 messages awaiting PUBREL")
	}
	return nil
}

// ackCode maps a publish result to the PUBACK/PUBREC reason code: 3.1.1
// acknowledges positively even a refused publish [MQTT-3.3.5-2].
func (c *conn) ackCode(rc packets.ReasonCode) packets.ReasonCode {
	if c.ver != packets.Version5 {
		return packets.Success
	}
	return rc
}

// send queues a control packet and counts it in m (none if m < 0).
// send queues p, an answer of the reader to what it read. On a socket
// (idleRelease), no writer is started: the reader writes its answers
// itself (flush) once it has handled what it read, in one write, and
// without putting a delivery to another connection behind a writer
// goroutine of its own. A client that sends without reading its answers
// then stalls only its own reader once the socket's buffers are full, and
// is closed after writeTimeout, instead of having them pile up in memory.
// On other transports (pipes, WebSocket) a write may wait for the
// client's own reader, so a writer goroutine writes.
func (c *conn) send(p packets.Packet, m metric) {
	var queued bool
	if c.idleRelease {
		queued = c.queue(wItem{pkt: p}, false)
		c.unflushed = c.unflushed || queued
	} else {
		queued = c.enqueue(wItem{pkt: p})
	}
	if queued && m >= 0 {
		c.b.metrics.add(m, 1)
	}
}

// flush writes what send queued, on the reader's goroutine, unless a
// writer is running (it writes them). After one write, what is left goes
// to a writer goroutine, so the reader does not write for others.
func (c *conn) flush() {
	if !c.unflushed {
		return
	}
	c.unflushed = false
	// A busy connection (answers to flush again within busyFlush) keeps
	// its reader reading: a writer goroutine writes in parallel and
	// batches more answers per write.
	now := time.Now().UnixNano()
	busy := now-c.lastFlush < int64(busyFlush)
	c.lastFlush = now
	c.wmu.Lock()
	if c.wrunning || len(c.wq) == 0 {
		c.wmu.Unlock()
		return
	}
	c.wrunning = true
	c.wmu.Unlock()
	if busy {
		c.startWriter()
		return
	}
	c.writeLoop(true)
}

// busyFlush is the interval between flushes below which the reader hands
// its answers to a writer goroutine instead of writing them itself.
const busyFlush = time.Millisecond

// disconnect queues a DISCONNECT with code for an MQTT 5 client and closes
// the connection once it is written.
func (c *conn) disconnect(code packets.ReasonCode) { c.disconnectMsg(code, "") }

// disconnectMsg is disconnect with msg as the DISCONNECT's Reason String
// (DISCONNECT may carry one whatever Request Problem Information says
// [MQTT-3.1.2-29]). The first code given is the one hooks see.
func (c *conn) disconnectMsg(code packets.ReasonCode, msg string) {
	c.wmu.Lock()
	v5 := c.v5Acked
	if !c.closeCoded {
		c.closeCode, c.closeCoded = code, true
	}
	c.wmu.Unlock()
	var p packets.Packet
	if v5 {
		d := &packets.Disconnect{ReasonCode: code}
		if msg != "" {
			d.Properties = &packets.Properties{ReasonString: msg}
		}
		p = d
	}
	c.closeWith(p)
}

// setLinger asks for the connection to linger after its last packet.
func (c *conn) setLinger() {
	c.wmu.Lock()
	c.linger = true
	c.wmu.Unlock()
}

// finish cleans up after the reader ends: the will, the session, the hooks.
func (c *conn) finish(err error) {
	c.closeWith(nil)
	if c.sess == nil {
		return
	}
	b := c.b
	reason := c.disconnectReason(err)
	if c.will != nil {
		c.publishWill(c.will)
	}
	c.sess.detach(c, reason)
	b.gauges.clients.Add(-1)
	for _, e := range b.hookTable.clientDisconnected.load() {
		e.fn(c.ctx, c.info, reason)
	}
	if reason != nil && b.log.Enabled(c.ctx, slog.LevelDebug) {
		b.log.Debug("client disconnected", "client", c.info.ClientID, "reason", reason)
	}
}

// disconnectReason returns the reason hooks get for the end of the
// connection: nil after a DISCONNECT with 0x00, a *DisconnectError when the
// client or the broker gave a reason code, err otherwise.
func (c *conn) disconnectReason(err error) error {
	if c.graceful {
		if c.discCode != packets.NormalDisconnection {
			return &DisconnectError{Code: c.discCode, FromClient: true}
		}
		return nil
	}
	c.wmu.Lock()
	code, coded := c.closeCode, c.closeCoded
	c.wmu.Unlock()
	if coded {
		return &DisconnectError{Code: code, Err: err}
	}
	return err
}

// publishWill publishes the will message of an abnormally closed
// connection, or hands it to the session when it has an MQTT 5 Will Delay
// Interval [MQTT-3.1.3-9].
func (c *conn) publishWill(w *packets.Will) {
	if topic.ValidateName(w.Topic) != nil {
		return
	}
	props := w.Properties
	var delay time.Duration
	if props != nil && props.WillDelay != nil {
		delay = time.Duration(*props.WillDelay) * time.Second
		cp := *props
		cp.WillDelay = nil // a will property, not a PUBLISH one
		props = &cp
		if props.IsEmpty() {
			props = nil
		}
	}
	m := Message{Topic: w.Topic, Payload: w.Payload, QoS: w.QoS, Retain: w.Retain, Properties: props,
		From: c.info.ClientID, Username: c.info.Username}
	if delay > 0 && !c.sess.deferWill(c, m, delay) {
		return
	}
	c.b.publish(c.b.ctx, m)
}

// ---- the sink side ----------------------------------------------------------

func (c *conn) protoVersion() byte { return c.ver }

// pubProps returns the properties of the PUBLISH carrying om: the message's,
// with the subscription identifiers of this subscriber [MQTT-3.3.4-3] and
// without a topic alias (set by the writer). They may share the message's
// values, which nobody modifies.
func (c *conn) pubProps(om *outMsg) *packets.Properties {
	props := om.msg.Properties
	if c.ver != packets.Version5 {
		return nil
	}
	if len(om.subIDs) > 0 || (props != nil && (props.TopicAlias != nil || props.SubscriptionIDs != nil)) {
		var cp packets.Properties
		if props != nil {
			cp = *props
		}
		cp.SubscriptionIDs, cp.TopicAlias = om.subIDs, nil
		props = &cp
	}
	return props
}

func (c *conn) sendPublish(om outMsg, dup bool) bool {
	m := om.msg
	it := wItem{isPub: true, msg: m, expireAt: om.expireAt, pub: packets.Publish{Dup: dup && om.qos > 0, QoS: om.qos, Retain: om.retain,
		Topic: m.Topic, PacketID: om.id, Properties: c.pubProps(&om), Payload: m.Payload}}
	if len(om.subIDs) == 0 && om.expireAt == 0 {
		it.enc = om.enc
	}
	size := len(m.Topic) + len(m.Payload) + 8
	c.wmu.Lock()
	if c.wclosing || c.wdead || (om.qos == 0 && c.wbytes+size > c.b.opts.MaxWriteQueue) {
		c.wmu.Unlock()
		return false
	}
	c.wbytes += size
	c.pushLocked(it)
	return true
}

// accepts reports whether om fits the client's Maximum Packet Size
// [MQTT-3.1.2-24], counting its topic name in full even when a topic alias
// could shorten it.
func (c *conn) accepts(om outMsg) bool {
	lim := c.maxOut
	if lim <= 0 {
		return true
	}
	m := om.msg
	if len(m.Topic)+len(m.Payload)+4 > lim {
		return false
	}
	p := packets.Publish{QoS: om.qos, Topic: m.Topic, Properties: c.pubProps(&om), Payload: m.Payload}
	if om.qos > 0 {
		p.PacketID = 1
	}
	if c.aliasMaxOut > 0 {
		var cp packets.Properties
		if p.Properties != nil {
			cp = *p.Properties
		}
		one := uint16(1)
		cp.TopicAlias = &one
		p.Properties = &cp
	}
	n := packetLen(&p, c.ver)
	return n >= 0 && n <= lim
}

func (c *conn) sendPubrel(id uint16) {
	if c.enqueue(wItem{pkt: &packets.Pubrel{PacketID: id}}) {
		c.b.metrics.add(mPacketsPubrelSent, 1)
	}
}

// kick closes the connection from the broker's side: takeover, Kick or
// shutdown. MQTT 5 clients get a DISCONNECT with code first.
func (c *conn) kick(code packets.ReasonCode, reason error) {
	c.wmu.Lock()
	if c.kickErr == nil {
		c.kickErr = reason
	}
	c.wmu.Unlock()
	c.disconnect(code)
}

// ---- the write queue --------------------------------------------------------

// enqueue adds it to the write queue. It reports false once the connection
// is closing.
func (c *conn) enqueue(it wItem) bool { return c.queue(it, true) }

// queue adds it to the write queue, starting the writer if start is set
// and none runs. It reports false once the connection is closing.
func (c *conn) queue(it wItem, start bool) bool {
	c.wmu.Lock()
	if c.wclosing || c.wdead {
		c.wmu.Unlock()
		return false
	}
	if !start {
		c.wq = append(c.wq, it)
		c.wmu.Unlock()
		return true
	}
	c.pushLocked(it)
	return true
}

// pushLocked appends it and starts the writer if needed; it unlocks c.wmu.
func (c *conn) pushLocked(it wItem) {
	c.wq = append(c.wq, it)
	start := !c.wrunning
	c.wrunning = true
	c.wmu.Unlock()
	if start {
		c.startWriter()
	}
}

func (c *conn) startWriter() {
	if !c.b.trackGo() {
		c.writeLoop(false) // the broker is stopping: flush on this goroutine
		return
	}
	go c.trackedWriteLoop()
}

// closeWith queues p (if not nil) as the last packet and closes the
// connection once the queue is written.
func (c *conn) closeWith(p packets.Packet) {
	c.wmu.Lock()
	if c.wclosing {
		c.wmu.Unlock()
		return
	}
	c.wclosing = true
	if p != nil && !c.wdead {
		c.wq = append(c.wq, wItem{pkt: p})
		c.linger = true
	}
	start := !c.wrunning
	c.wrunning = true
	c.wmu.Unlock()
	if start {
		c.startWriter()
	}
}

func (c *conn) isClosing() bool {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.wclosing
}

// lingerTimeout bounds how long a connection the broker ended is drained
// after its last packet (see conn.linger).
const lingerTimeout = 2 * time.Second

// finalClose ends the connection once everything queued is written: a
// half-close when lingering, a full close otherwise.
func (c *conn) finalClose() {
	c.finalOnce.Do(func() {
		defer close(c.flushed)
		c.wmu.Lock()
		half := c.linger && !c.wdead && !c.b.closing.Load()
		c.wmu.Unlock()
		if cw, ok := c.nc.(interface{ CloseWrite() error }); ok && half && cw.CloseWrite() == nil {
			c.wmu.Lock()
			c.halfClosed = true
			c.wmu.Unlock()
			return
		}
		c.nc.Close()
	})
	c.wake() // a parked reader now ends the connection
}

// lingerClose drains a half-closed connection until the client closes it,
// lingerTimeout passes or the broker stops, then closes it.
func (c *conn) lingerClose() {
	c.wmu.Lock()
	linger := c.linger
	c.wmu.Unlock()
	if !linger {
		return
	}
	t := time.NewTimer(writeTimeout + time.Second)
	defer t.Stop()
	select {
	case <-c.flushed:
	case <-t.C:
		c.nc.Close()
		return
	}
	c.wmu.Lock()
	half := c.halfClosed
	c.wmu.Unlock()
	if !half {
		return
	}
	defer c.nc.Close()
	end := time.Now().Add(lingerTimeout)
	buf := make([]byte, 512)
	for time.Now().Before(end) && !c.b.closing.Load() {
		c.nc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if _, err := c.nc.Read(buf); err != nil && !os.IsTimeout(err) {
			return
		}
	}
}

// trackedWriteLoop is writeLoop on a goroutine counted by trackGo.
func (c *conn) trackedWriteLoop() {
	defer c.b.wg.Done()
	c.writeLoop(false)
}

// Writers take their encoding buffer from writeBufs while they run, so a
// connection holds none while idle and a burst reuses a warm one.
var writeBufs = sync.Pool{New: func() any { b := make([]byte, 0, writeBufSize); return &b }}

const (
	writeBufSize      = 1 << 10
	maxPooledWriteBuf = 64 << 10
)

// putWriteBuf gives a writer's buffer back to writeBufs, unless a large
// packet grew it.
func putWriteBuf(bp *[]byte, buf []byte) {
	if cap(buf) <= maxPooledWriteBuf {
		*bp = buf[:0]
		writeBufs.Put(bp)
	}
}

// writeLoop writes what is queued, coalescing packets into one write, and
// exits when the queue is empty; it closes the connection when closing.
// The reader calls it inline (flush): it then writes once and hands what
// is left to a writer goroutine.
func (c *conn) writeLoop(inline bool) {
	bp := writeBufs.Get().(*[]byte)
	buf := (*bp)[:0]
	var un unsent
	for {
		c.wmu.Lock()
		if len(c.wq) == 0 {
			c.wrunning = false
			closing := c.wclosing
			c.wmu.Unlock()
			putWriteBuf(bp, buf)
			if closing {
				c.finalClose()
			}
			return
		}
		items := c.wq
		c.wq, c.wspare = c.wspare[:0], nil
		c.wbytes = 0
		dead := c.wdead
		c.wmu.Unlock()

		if !dead {
			buf = c.encode(buf[:0], items, &un)
			c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
			n, err := c.nc.Write(buf)
			c.b.metrics.add(mBytesSent, uint64(n))
			if err != nil {
				c.wmu.Lock()
				c.wdead = true
				c.wmu.Unlock()
				c.nc.Close()
				c.wake()
			}
			if cap(buf) > maxPooledWriteBuf {
				buf = make([]byte, 0, writeBufSize)
			}
			un.report(c)
		}
		clear(items)
		c.wmu.Lock()
		if c.wspare == nil && cap(items) <= 1024 {
			c.wspare = items[:0]
		}
		more := len(c.wq) > 0
		c.wmu.Unlock()
		if inline && more && c.b.trackGo() {
			putWriteBuf(bp, buf)
			go c.trackedWriteLoop() // wrunning stays set: it is the writer now
			return
		}
	}
}

// unsent collects the publishes the writer dropped instead of sending them:
// expired on the way [MQTT-3.3.2-5], or too large for the client
// [MQTT-3.1.2-24]. QoS 1 and 2 ones leave the inflight window as if they
// had been delivered [MQTT-3.1.2-25].
type unsent struct {
	ids     []uint16
	reasons []DropReason
	qos0    []dropped
}

func (u *unsent) add(it *wItem, reason DropReason) {
	if it.pub.QoS > 0 {
		u.ids = append(u.ids, it.pub.PacketID)
		u.reasons = append(u.reasons, reason)
		return
	}
	u.qos0 = append(u.qos0, dropped{it.msg, reason})
}

// report hands what was dropped to the session and the hooks, and resets u.
func (u *unsent) report(c *conn) {
	if len(u.ids) > 0 && c.sess != nil {
		c.sess.abandon(u.ids, u.reasons)
	}
	for _, d := range u.qos0 {
		if c.sess != nil && d.m != nil {
			c.b.dropDelivery(c.sess, d.m, d.reason)
		}
	}
	u.ids, u.reasons = u.ids[:0], u.reasons[:0]
	clear(u.qos0)
	u.qos0 = u.qos0[:0]
}

// outAlias returns the topic alias to use for topic towards the client, and
// whether it is a new one that the PUBLISH must set up with the topic name.
// It returns 0 when the client's aliases are all taken by other topics.
func (c *conn) outAlias(topic string) (alias uint16, isNew bool) {
	if a, ok := c.aliasOut[topic]; ok {
		return a, false
	}
	if c.aliasNextOut < c.aliasMaxOut {
		return c.aliasNextOut + 1, true
	}
	return 0, false
}

func (c *conn) encode(buf []byte, items []wItem, un *unsent) []byte {
	b := c.b
	var now int64
	for i := range items {
		it := &items[i]
		var err error
		start := len(buf)
		if it.isPub {
			pub := it.pub
			if it.expireAt != 0 {
				if now == 0 {
					now = time.Now().UnixNano()
				}
				if now >= it.expireAt && !pub.Dup {
					un.add(it, DropExpired) // not yet on its way [MQTT-3.3.2-5]
					continue
				}
				if p := pub.Properties; p != nil && p.MessageExpiry != nil {
					cp := *p
					left := remainingExpiry(it.expireAt, now) // [MQTT-3.3.2-6]
					cp.MessageExpiry = &left
					pub.Properties = &cp
				}
			}
			var alias uint16
			var newAlias bool
			if c.aliasMaxOut > 0 && pub.Topic != "" {
				if alias, newAlias = c.outAlias(pub.Topic); alias != 0 {
					var cp packets.Properties
					if pub.Properties != nil {
						cp = *pub.Properties
					}
					cp.TopicAlias = &alias
					pub.Properties = &cp
					if !newAlias {
						pub.Topic = "" // the client knows the alias [MQTT-3.3.2-12]
					}
				}
			}
			if it.enc != nil && alias == 0 {
				buf, err = it.enc.appendTo(buf, &pub, c.ver)
			} else {
				buf, err = pub.Append(buf, c.ver)
			}
			if err == nil && c.maxOut > 0 && len(buf)-start > c.maxOut {
				buf = buf[:start]
				un.add(it, DropTooLarge)
				continue
			}
			if err != nil {
				buf = buf[:start]
				b.log.Error("cannot encode PUBLISH; dropped", "client", c.clientID(), "topic", it.pub.Topic, "err", err)
				un.add(it, DropInvalid)
				continue
			}
			if newAlias {
				if c.aliasOut == nil {
					c.aliasOut = make(map[string]uint16)
				}
				c.aliasOut[it.pub.Topic] = alias
				c.aliasNextOut = alias
			}
			b.metrics.add(mPacketsPublishSent, 1)
			b.metrics.add(mMessagesSent, 1)
			b.metrics.add(mMessagesQoS0Sent+metric(2*it.pub.QoS), 1)
			// message.delivered runs here, before the write, so it always
			// precedes the client's acknowledgement (and message.acked).
			if it.msg != nil && !it.pub.Dup && c.sess != nil {
				b.delivered(c.sess, it.msg)
			}
		} else {
			pkt := it.pkt
			buf, err = pkt.Append(buf, c.ver)
			if err == nil && c.maxOut > 0 && len(buf)-start > c.maxOut {
				// Without its Reason String and User Properties it may fit
				// [MQTT-3.1.2-24]; otherwise it is not sent.
				buf = buf[:start]
				err = packets.ErrPacketTooLarge
				if q := withoutProblemInfo(pkt); q != nil {
					buf, err = q.Append(buf, c.ver)
					if err == nil && len(buf)-start > c.maxOut {
						err = packets.ErrPacketTooLarge
					}
				}
			}
			if err != nil {
				buf = buf[:start]
			} else if _, ok := pkt.(*packets.Connack); ok {
				b.metrics.add(mPacketsConnack, 1)
			}
		}
		if err != nil {
			b.log.Error("cannot encode packet; dropped", "client", c.clientID(), "err", err)
			continue
		}
		b.metrics.add(mPacketsSent, 1)
	}
	return buf
}

func (c *conn) clientID() string {
	if c.info == nil {
		return ""
	}
	return c.info.ClientID
}
