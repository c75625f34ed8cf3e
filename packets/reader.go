package packets

import (
	"bufio"
	"io"
	"sync"
)

// DefaultReaderBufferSize is the size of the buffer NewReader puts in front
// of its io.Reader. Packet bodies larger than the buffer are read straight
// into their own allocation.
const DefaultReaderBufferSize = 512

// Reader reads packets from a stream. Each packet body is read into its own
// allocation, so decoded byte slices and strings never alias a shared buffer.
// A Reader is not safe for concurrent use.
type Reader struct {
	br      *bufio.Reader
	src     io.Reader
	maxSize int
	version byte
	pooled  bool
	one     [1]byte
}

// bufPool holds read buffers of DefaultReaderBufferSize for pooled Readers.
var bufPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, DefaultReaderBufferSize) }}

// NewReader returns a Reader on r. maxSize limits the total size of a packet
// (fixed header included); 0 means no limit beyond the protocol's maximum
// remaining length of 268435455.
func NewReader(r io.Reader, maxSize int) *Reader {
	return NewReaderSize(r, maxSize, DefaultReaderBufferSize)
}

// NewReaderSize is NewReader with a read buffer of bufSize bytes (at least 16).
func NewReaderSize(r io.Reader, maxSize, bufSize int) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, bufSize), src: r, maxSize: maxSize, version: Version311}
}

// NewPooledReader is NewReader for a stream that is idle most of the time,
// such as a server's connection: its read buffer comes from a shared pool,
// and Release gives it back while no bytes are buffered. A released Reader
// waits for the first byte of the next packet with a 1-byte read and takes
// a buffer from the pool again for the rest.
func NewPooledReader(r io.Reader, maxSize int) *Reader {
	pr := &Reader{src: r, maxSize: maxSize, version: Version311, pooled: true}
	pr.acquire()
	return pr
}

// Release returns the read buffer of a pooled Reader to the pool, if it
// holds no unread bytes.
func (r *Reader) Release() {
	if r.pooled && r.Buffered() == 0 {
		r.release()
	}
}

// Wait waits until the stream has a byte to read, without consuming any:
// after an error (such as a deadline) no byte is lost and ReadPacket may be
// called again. A released Reader returns nil at once.
func (r *Reader) Wait() error {
	if r.br == nil || r.br.Buffered() > 0 {
		return nil
	}
	_, err := r.br.Peek(1)
	return err
}

// release returns the read buffer to the pool; it must hold no bytes.
func (r *Reader) release() {
	if r.br != nil {
		r.br.Reset(nil)
		bufPool.Put(r.br)
		r.br = nil
	}
}

// readFirst reads one byte into r.one. It is a small function of its own,
// for the stack of a goroutine that waits in it.
func (r *Reader) readFirst() error {
	for {
		n, err := r.src.Read(r.one[:])
		if n == 1 {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// acquire takes a read buffer from the pool.
func (r *Reader) acquire() {
	if r.br == nil {
		r.br = bufPool.Get().(*bufio.Reader)
		r.br.Reset(r.src)
	}
}

// SetVersion sets the protocol version used to decode every packet other
// than CONNECT. It is 4 (MQTT 3.1.1) until set. ReadPacket sets it itself
// when it returns a CONNECT packet. With a version other than 3, 4 or 5
// (such as 0) every packet but CONNECT fails with UnsupportedProtocolVersion,
// which a server can use to insist on CONNECT first.
func (r *Reader) SetVersion(v byte) { r.version = v }

// Version returns the protocol version used to decode packets other than CONNECT.
func (r *Reader) Version() byte { return r.version }

// SetMaxSize sets the maximum total packet size; 0 means no limit beyond the protocol's.
func (r *Reader) SetMaxSize(n int) { r.maxSize = n }

// Buffered returns the number of bytes read from the stream but not yet consumed.
func (r *Reader) Buffered() int {
	if r.br == nil {
		return 0
	}
	return r.br.Buffered()
}

// Complete reports whether the buffer holds a whole packet, so that
// ReadPacket returns without reading from the stream.
func (r *Reader) Complete() bool {
	if r.br == nil {
		return false
	}
	b, _ := r.br.Peek(r.br.Buffered())
	if len(b) < 2 {
		return false
	}
	rl, mul := 0, 1
	for i := 1; i < len(b) && i <= 4; i++ {
		rl += int(b[i]&0x7f) * mul
		if b[i]&0x80 == 0 {
			return len(b) >= 1+i+rl
		}
		mul <<= 7
	}
	return false
}

// ReadPacket reads and decodes the next packet. It returns io.EOF unchanged
// when the stream ends cleanly before a packet starts, io.ErrUnexpectedEOF
// when it ends inside a packet, ErrPacketTooLarge when the remaining length
// announces a packet larger than the maximum size (the body is then neither
// read nor allocated, and the stream is left inside that packet), other
// errors of the underlying reader unchanged, and an *Error for invalid
// packets. After any error the stream should be closed.
func (r *Reader) ReadPacket() (Packet, error) {
	var first byte
	if r.br == nil {
		if err := r.readFirst(); err != nil {
			return nil, err
		}
		first = r.one[0]
		r.acquire()
	} else {
		var err error
		if first, err = r.br.ReadByte(); err != nil {
			return nil, err
		}
	}
	rl, shift, n := 0, 0, 1
	for {
		c, err := r.br.ReadByte()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		n++
		rl |= int(c&0x7F) << shift
		if c&0x80 == 0 {
			if c == 0 && n > 2 {
				return nil, malformed("MQTT-1.5.5-1", "variable byte integer not minimally encoded")
			}
			break
		}
		if n == 5 {
			return nil, malformed("MQTT-1.5.5-1", "variable byte integer longer than 4 bytes")
		}
		shift += 7
	}
	if r.maxSize > 0 && n+rl > r.maxSize {
		return nil, ErrPacketTooLarge
	}
	var body []byte
	if rl > 0 {
		body = make([]byte, rl)
		if _, err := io.ReadFull(r.br, body); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	p, err := decodeBody(first, body, r.version)
	if err != nil {
		return nil, err
	}
	if c, ok := p.(*Connect); ok {
		r.version = c.ProtocolVersion
	}
	return p, nil
}
