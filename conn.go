package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

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
}

// conn is one MQTT network connection: the reader runs on the goroutine
// that serves it; a writer goroutine runs only while there is output.
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
	graceful bool // DISCONNECT received: no will

	wmu      sync.Mutex
	wq       []wItem
	wspare   []wItem
	wbytes   int
	wrunning bool
	wclosing bool
	wdead    bool
	kickErr  error
	// v5Acked is set once a successful MQTT 5 CONNACK is queued: only then
	// may a DISCONNECT follow [MQTT-3.14.0-1]. Guarded by wmu, because kick
	// runs on other goroutines while the reader is still in connect.
	v5Acked   bool
	bytesRead atomic.Uint64
}

// countingReader counts the bytes read from the network.
type countingReader struct {
	r io.Reader
	n *atomic.Uint64
}

func (cr countingReader) Read(p []byte) (int, error) {
	n, err := cr.r.Read(p)
	cr.n.Add(uint64(n))
	return n, err
}

// serveConn runs one connection to its end.
func (b *Broker) serveConn(nc net.Conn, listener string) {
	c := &conn{b: b, nc: nc, listener: listener}
	c.ctx, c.cancel = context.WithCancel(b.ctx)
	c.r = packets.NewReader(countingReader{nc, &c.bytesRead}, b.opts.MaxPacketSize)
	b.mu.Lock()
	if b.closing.Load() {
		b.mu.Unlock()
		nc.Close()
		return
	}
	b.conns[c] = struct{}{}
	b.mu.Unlock()
	err := c.run()
	c.finish(err)
	b.mu.Lock()
	delete(b.conns, c)
	b.mu.Unlock()
	b.metrics.add(mBytesReceived, c.bytesRead.Load())
	c.cancel()
}

// run reads CONNECT and then every packet until the connection ends.
func (c *conn) run() error {
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
	if err := c.connect(cp); err != nil {
		return err
	}
	ka := c.info.Keepalive * 3 / 2 // [MQTT-3.1.2-24]
	for {
		if c.isClosing() {
			return c.closeReason(nil)
		}
		if ka > 0 {
			c.nc.SetReadDeadline(time.Now().Add(ka))
		} else {
			c.nc.SetReadDeadline(time.Time{})
		}
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
		c.disconnect(packets.KeepAliveTimeout)
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
		c.disconnect(code)
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
	if code == packets.Success {
		for _, e := range b.hookTable.clientConnect.load() {
			e.fn(c.ctx, info)
		}
		if b.authenticate(c.ctx, info, p.Password) != Allow {
			code = packets.NotAuthorized
			if p.UsernameFlag || p.PasswordFlag {
				code = packets.BadUserNameOrPassword
			}
		}
	}
	if code != packets.Success {
		c.sendConnack(info, code, false, nil)
		b.runConnected(c.ctx, info, code)
		b.log.Info("connection refused", "client", info.ClientID, "remote", c.remote(), "code", code)
		c.closeWith(nil)
		return errRefused
	}
	persistent, expiry := !p.CleanStart, b.opts.Session.Expiry
	if v5 {
		persistent, expiry = false, 0
		if p.Properties != nil && p.Properties.SessionExpiry != nil && *p.Properties.SessionExpiry > 0 {
			persistent = true
			expiry = time.Duration(*p.Properties.SessionExpiry) * time.Second
		}
	}
	sess, present := b.openSession(c.ctx, info, p.CleanStart, persistent, expiry)
	c.sess = sess
	c.will = p.Will
	var props *packets.Properties
	if v5 {
		props = &packets.Properties{}
		if assigned {
			props.AssignedClientID = info.ClientID
		}
		mps := uint32(b.opts.MaxPacketSize)
		props.MaximumPacketSize = &mps
	}
	b.gauges.clientsMax.observe(int(b.gauges.clients.Add(1)))
	// Hold the writer until the session is attached, so that a client that
	// has its CONNACK is connected for Kick, Client and Clients, while what
	// attach resends still follows the CONNACK.
	held := c.holdWriter()
	c.sendConnack(info, code, present, props)
	b.runConnected(c.ctx, info, code)
	b.log.Debug("client connected", "client", info.ClientID, "remote", c.remote(), "version", c.ver, "resumed", present)
	sess.attach(c)
	if held {
		c.releaseWriter()
	}
	return nil
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
		codes, acc := c.sess.subscribe(c.ctx, subs)
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
		// MQTT 5 reason 0x04 asks for the will all the same.
		if p.ReasonCode != packets.DisconnectWithWill {
			c.will = nil
		}
		c.graceful = true
		if c.ver == packets.Version5 && p.Properties != nil && p.Properties.SessionExpiry != nil {
			c.sess.mu.Lock()
			exp := time.Duration(*p.Properties.SessionExpiry) * time.Second
			c.sess.expiry = exp
			c.sess.persistent = exp > 0
			c.sess.mu.Unlock()
		}
	case *packets.Connect:
		b.log.Info("closing connection: second CONNECT", "client", c.info.ClientID)
		c.disconnect(packets.ProtocolError)
		return errSecondConnect
	default:
		b.log.Info("closing connection: unexpected packet", "client", c.info.ClientID, "type", p.Type())
		c.disconnect(packets.ProtocolError)
		return errors.New("unexpected " + p.Type().String() + " packet from client")
	}
	return nil
}

func (c *conn) handlePublish(p *packets.Publish) error {
	b := c.b
	b.metrics.add(mPacketsPublishReceived, 1)
	b.metrics.add(mMessagesReceived, 1)
	b.metrics.add(mMessagesQoS0Received+metric(2*p.QoS), 1)
	if err := topic.ValidateName(p.Topic); err != nil {
		b.log.Info("closing connection: invalid topic name", "client", c.info.ClientID, "topic", p.Topic, "err", err)
		c.disconnect(packets.TopicNameInvalid)
		return err
	}
	props := p.Properties
	if props != nil && (props.TopicAlias != nil || len(props.SubscriptionIDs) > 0) {
		props = props.Clone()
		props.TopicAlias = nil
		props.SubscriptionIDs = nil
	}
	m := Message{Topic: p.Topic, Payload: p.Payload, QoS: p.QoS, Retain: p.Retain, Properties: props}
	switch p.QoS {
	case 0:
		c.sess.publish(c.ctx, m)
	case 1:
		rc := c.sess.publish(c.ctx, m)
		c.send(&packets.Puback{PacketID: p.PacketID, ReasonCode: c.ackCode(rc)}, mPacketsPubackSent)
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
		c.send(&packets.Pubrec{PacketID: p.PacketID, ReasonCode: rc}, mPacketsPubrecSent)
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

// send queues a control packet.
func (c *conn) send(p packets.Packet, m metric) {
	if c.enqueue(wItem{pkt: p}) {
		c.b.metrics.add(m, 1)
	}
}

// disconnect queues a DISCONNECT with code for an MQTT 5 client and closes
// the connection once it is written.
func (c *conn) disconnect(code packets.ReasonCode) {
	c.wmu.Lock()
	v5 := c.v5Acked
	c.wmu.Unlock()
	var p packets.Packet
	if v5 {
		p = &packets.Disconnect{ReasonCode: code}
	}
	c.closeWith(p)
}

// finish cleans up after the reader ends: the will, the session, the hooks.
func (c *conn) finish(err error) {
	c.closeWith(nil)
	if c.sess == nil {
		return
	}
	b := c.b
	reason := err
	if c.graceful {
		reason = nil
	}
	if c.will != nil {
		c.publishWill(c.will)
	}
	c.sess.detach(c, reason)
	b.gauges.clients.Add(-1)
	for _, e := range b.hookTable.clientDisconnected.load() {
		e.fn(c.ctx, c.info, reason)
	}
	if reason != nil {
		b.log.Debug("client disconnected", "client", c.info.ClientID, "reason", reason)
	}
}

// publishWill publishes the will message of an abnormally closed connection.
func (c *conn) publishWill(w *packets.Will) {
	if topic.ValidateName(w.Topic) != nil {
		return
	}
	m := Message{Topic: w.Topic, Payload: w.Payload, QoS: w.QoS, Retain: w.Retain, Properties: w.Properties,
		From: c.info.ClientID, Username: c.info.Username}
	c.b.publish(c.b.ctx, m)
}

// ---- the sink side ----------------------------------------------------------

func (c *conn) protoVersion() byte { return c.ver }

func (c *conn) sendPublish(om *outMsg, dup bool) bool {
	m := om.msg
	props := m.Properties
	if c.ver == packets.Version5 && len(om.subIDs) > 0 {
		props = props.Clone()
		if props == nil {
			props = &packets.Properties{}
		}
		props.SubscriptionIDs = om.subIDs
	}
	it := wItem{isPub: true, pub: packets.Publish{Dup: dup && om.qos > 0, QoS: om.qos, Retain: om.retain,
		Topic: m.Topic, PacketID: om.id, Properties: props, Payload: m.Payload}}
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

func (c *conn) sendPubrel(id uint16) {
	c.send(&packets.Pubrel{PacketID: id}, mPacketsPubrelSent)
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
func (c *conn) enqueue(it wItem) bool {
	c.wmu.Lock()
	if c.wclosing || c.wdead {
		c.wmu.Unlock()
		return false
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
	if !c.b.goTracked(c.writeLoop) {
		c.writeLoop() // the broker is stopping: flush on this goroutine
	}
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

// writeLoop writes what is queued, coalescing packets into one write, and
// exits when the queue is empty; it closes the connection when closing.
func (c *conn) writeLoop() {
	var buf []byte
	for {
		c.wmu.Lock()
		if len(c.wq) == 0 {
			c.wrunning = false
			closing := c.wclosing
			c.wmu.Unlock()
			if closing {
				c.nc.Close()
			}
			return
		}
		items := c.wq
		c.wq, c.wspare = c.wspare[:0], nil
		c.wbytes = 0
		dead := c.wdead
		c.wmu.Unlock()

		if !dead {
			buf = c.encode(buf[:0], items)
			c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
			n, err := c.nc.Write(buf)
			c.b.metrics.add(mBytesSent, uint64(n))
			if err != nil {
				c.wmu.Lock()
				c.wdead = true
				c.wmu.Unlock()
				c.nc.Close()
			}
			if cap(buf) > 64<<10 {
				buf = nil
			}
		}
		clear(items)
		c.wmu.Lock()
		if c.wspare == nil && cap(items) <= 1024 {
			c.wspare = items[:0]
		}
		c.wmu.Unlock()
	}
}

func (c *conn) encode(buf []byte, items []wItem) []byte {
	b := c.b
	for i := range items {
		it := &items[i]
		var err error
		if it.isPub {
			buf, err = it.pub.Append(buf, c.ver)
			if err == nil {
				b.metrics.add(mPacketsPublishSent, 1)
				b.metrics.add(mMessagesSent, 1)
				b.metrics.add(mMessagesQoS0Sent+metric(2*it.pub.QoS), 1)
			}
		} else {
			buf, err = it.pkt.Append(buf, c.ver)
			if _, ok := it.pkt.(*packets.Connack); ok && err == nil {
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
