package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/emqgo/broker/packets"
)

// The client is as lean as MQTT 3.1.1 allows, so that the tool, which shares
// the machine with the broker it measures, spends as little CPU per message as
// possible: packets are encoded with the project's codec (packets) into one
// reused buffer and written in batches, one write per batch; the reader
// splits frames out of one reused buffer itself and decodes the hot packets
// (PUBLISH and the acknowledgements) in place, without allocating, handing
// every other packet to packets.Decode. (packets.Reader allocates each
// packet's body and a struct per packet, which at a million deliveries a
// second would make the tool, not the broker, the bottleneck.)

const version = packets.Version311

// frameReader reads MQTT frames from a connection into a reused buffer.
type frameReader struct {
	nc   io.Reader
	buf  []byte
	r, w int
	// at is the time of the last read from the connection, in the run's
	// clock: the receive time of every frame in that read.
	at  int64
	clk clock
	// beforeBlock, if set, runs before a read that may block, when every
	// frame read so far has been handled: where a reader flushes the
	// acknowledgements it batched.
	beforeBlock func() error
}

func newFrameReader(nc io.Reader, size int, clk clock) *frameReader {
	return &frameReader{nc: nc, buf: make([]byte, size), clk: clk}
}

var errMalformed = errors.New("malformed remaining length")

// next returns the next frame: its first byte, the whole frame, and its body
// (the frame after the fixed header). The slices are valid until the next call.
func (f *frameReader) next() (first byte, frame, body []byte, err error) {
	for {
		if avail := f.w - f.r; avail >= 2 {
			rl, shift, i, complete := 0, 0, 1, false
			for ; i < avail && i <= 4; i++ {
				c := f.buf[f.r+i]
				rl |= int(c&0x7f) << shift
				shift += 7
				if c&0x80 == 0 {
					complete = true
					break
				}
			}
			if !complete && i > 4 {
				return 0, nil, nil, errMalformed
			}
			if complete {
				hl := i + 1
				total := hl + rl
				if avail >= total {
					frame = f.buf[f.r : f.r+total]
					f.r += total
					return frame[0], frame, frame[hl:], nil
				}
				if total > len(f.buf) {
					nb := make([]byte, max(total, 2*len(f.buf)))
					f.w = copy(nb, f.buf[f.r:f.w])
					f.r = 0
					f.buf = nb
				}
			}
		}
		if f.r == f.w {
			f.r, f.w = 0, 0
		} else if f.r > 0 && len(f.buf)-f.w < 1024 {
			f.w = copy(f.buf, f.buf[f.r:f.w])
			f.r = 0
		}
		if f.beforeBlock != nil {
			if err := f.beforeBlock(); err != nil {
				return 0, nil, nil, err
			}
		}
		n, err := f.nc.Read(f.buf[f.w:])
		f.at = f.clk.now()
		f.w += n
		if err != nil && n == 0 {
			if err == io.EOF && f.r != f.w {
				err = io.ErrUnexpectedEOF
			}
			return 0, nil, nil, err
		}
	}
}

// publishFields splits the body of a v3.1.1 PUBLISH; ok is false if it is
// malformed.
func publishFields(first byte, body []byte) (qos byte, id uint16, payload []byte, ok bool) {
	qos = first >> 1 & 3
	if len(body) < 2 {
		return 0, 0, nil, false
	}
	p := 2 + (int(body[0])<<8 | int(body[1]))
	if qos > 0 {
		p += 2
	}
	if p > len(body) || qos == 3 {
		return 0, 0, nil, false
	}
	if qos > 0 {
		id = uint16(body[p-2])<<8 | uint16(body[p-1])
	}
	return qos, id, body[p:], true
}

// ackID returns the packet identifier of a PUBACK, PUBREC, PUBREL or
// PUBCOMP body.
func ackID(body []byte) (uint16, bool) {
	if len(body) != 2 {
		return 0, false
	}
	return uint16(body[0])<<8 | uint16(body[1]), true
}

// appendAck appends a PUBACK, PUBREC, PUBREL or PUBCOMP for id. Each
// packet is encoded by its concrete type, so nothing escapes to the heap.
func appendAck(dst []byte, t packets.Type, id uint16) []byte {
	var out []byte
	var err error
	switch t {
	case packets.PUBACK:
		p := packets.Puback{PacketID: id}
		out, err = p.Append(dst, version)
	case packets.PUBREC:
		p := packets.Pubrec{PacketID: id}
		out, err = p.Append(dst, version)
	case packets.PUBREL:
		p := packets.Pubrel{PacketID: id}
		out, err = p.Append(dst, version)
	default:
		p := packets.Pubcomp{PacketID: id}
		out, err = p.Append(dst, version)
	}
	if err != nil { // cannot happen: id is never 0
		panic(err)
	}
	return out
}

// dialer opens client connections to the broker under test.
type dialer struct {
	addr    string
	timeout time.Duration
	clk     clock
}

// connect dials, sends CONNECT (clean session, no keep alive) and waits for
// a successful CONNACK. It returns the connection and its frame reader.
func (d dialer) connect(clientID string, readBuf int) (net.Conn, *frameReader, error) {
	return d.connectBuf(clientID, readBuf, 0)
}

// connectBuf is connect with the socket's receive buffer (SO_RCVBUF) set to
// sockBuf bytes, when sockBuf > 0. It is set before the TCP handshake, so the
// broker's side never sees a larger window: a buffer shrunk afterwards leaves
// the peer waiting for the window it first saw.
func (d dialer) connectBuf(clientID string, readBuf, sockBuf int) (net.Conn, *frameReader, error) {
	nd := net.Dialer{Timeout: d.timeout}
	if sockBuf > 0 {
		nd.Control = func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, sockBuf)
			}); err != nil {
				return err
			}
			return serr
		}
	}
	nc, err := nd.Dial("tcp", d.addr)
	if err != nil {
		return nil, nil, err
	}
	fail := func(err error) (net.Conn, *frameReader, error) {
		nc.Close()
		return nil, nil, fmt.Errorf("%s: %w", clientID, err)
	}
	pkt, err := (&packets.Connect{ProtocolName: "MQTT", ProtocolVersion: version, CleanStart: true, ClientID: clientID}).Append(nil, version)
	if err != nil {
		return fail(err)
	}
	nc.SetDeadline(time.Now().Add(d.timeout))
	if _, err := nc.Write(pkt); err != nil {
		return fail(err)
	}
	fr := newFrameReader(nc, readBuf, d.clk)
	p, err := fr.decodeNext()
	if err != nil {
		return fail(fmt.Errorf("reading CONNACK: %w", err))
	}
	ack, ok := p.(*packets.Connack)
	if !ok {
		return fail(fmt.Errorf("got %v, want CONNACK", p.Type()))
	}
	if ack.ReasonCode != 0 {
		return fail(fmt.Errorf("CONNACK return code %d", ack.ReasonCode))
	}
	nc.SetDeadline(time.Time{})
	return nc, fr, nil
}

// decodeNext reads the next frame and decodes it with the codec.
func (f *frameReader) decodeNext() (packets.Packet, error) {
	_, frame, _, err := f.next()
	if err != nil {
		return nil, err
	}
	return packets.Decode(frame, version)
}

// subscribe sends SUBSCRIBE and waits for its SUBACK, which must grant a QoS.
func subscribe(nc net.Conn, fr *frameReader, filter string, qos byte, timeout time.Duration) error {
	pkt, err := (&packets.Subscribe{PacketID: 1, Subscriptions: []packets.Subscription{{Filter: filter, QoS: qos}}}).Append(nil, version)
	if err != nil {
		return err
	}
	nc.SetDeadline(time.Now().Add(timeout))
	defer nc.SetDeadline(time.Time{})
	if _, err := nc.Write(pkt); err != nil {
		return err
	}
	for {
		p, err := fr.decodeNext()
		if err != nil {
			return fmt.Errorf("reading SUBACK: %w", err)
		}
		switch p := p.(type) {
		case *packets.Suback:
			if len(p.ReasonCodes) != 1 || p.ReasonCodes[0] >= 0x80 {
				return fmt.Errorf("subscription to %q refused: %v", filter, p.ReasonCodes)
			}
			if byte(p.ReasonCodes[0]) != qos {
				return fmt.Errorf("subscription to %q granted QoS %d, want %d", filter, p.ReasonCodes[0], qos)
			}
			return nil
		case *packets.Publish:
			// A retained message: not ours to count.
		default:
			return fmt.Errorf("got %v, want SUBACK", p.Type())
		}
	}
}
