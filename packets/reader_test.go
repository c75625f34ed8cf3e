package packets

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
	"testing/iotest"
)

func encodeAll(t testing.TB, v byte, ps ...Packet) []byte {
	t.Helper()
	var b []byte
	for _, p := range ps {
		var err error
		ev := v
		if c, ok := p.(*Connect); ok && c.ProtocolVersion != 0 {
			ev = c.ProtocolVersion
		}
		if b, err = p.Append(b, ev); err != nil {
			t.Fatalf("Append %v: %v", p.Type(), err)
		}
	}
	return b
}

// TestReaderStream reads several packets from one stream; the CONNECT
// switches the reader to its protocol version.
func TestReaderStream(t *testing.T) {
	ps := []Packet{
		&Connect{ProtocolVersion: 5, ClientID: "c", Properties: &Properties{ReceiveMaximum: u16p(10)}},
		&Publish{QoS: 1, PacketID: 1, Topic: "a/b", Payload: bytes.Repeat([]byte("x"), 1000),
			Properties: &Properties{User: []UserProperty{{"k", "v"}}}},
		&Publish{Topic: "c", Payload: []byte("small")},
		&Subscribe{PacketID: 2, Subscriptions: []Subscription{{Filter: "a/#", QoS: 2, NoLocal: true}}},
		&Pingreq{},
		&Disconnect{ReasonCode: DisconnectWithWill},
	}
	stream := encodeAll(t, 5, ps...)
	for _, name := range []string{"plain", "one-byte"} {
		t.Run(name, func(t *testing.T) {
			var src io.Reader = bytes.NewReader(stream)
			if name == "one-byte" {
				src = iotest.OneByteReader(src)
			}
			r := NewReaderSize(src, 0, 16)
			if r.Version() != Version311 {
				t.Fatalf("default version %d", r.Version())
			}
			var got []Packet
			for {
				p, err := r.ReadPacket()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("ReadPacket %d: %v", len(got), err)
				}
				got = append(got, p)
			}
			if r.Version() != Version5 {
				t.Fatalf("version after CONNECT %d", r.Version())
			}
			if len(got) != len(ps) {
				t.Fatalf("got %d packets, want %d", len(got), len(ps))
			}
			for i := range ps {
				if !reflect.DeepEqual(normalize(got[i]), forVersion(ps[i], 5)) {
					t.Errorf("packet %d\n got %#v\nwant %#v", i, normalize(got[i]), forVersion(ps[i], 5))
				}
			}
			// Each body is its own allocation: the payloads do not share memory.
			p1, p2 := got[1].(*Publish).Payload, got[2].(*Publish).Payload
			p2[0] = 'Z'
			if p1[0] != 'x' || got[2].(*Publish).Payload[0] != 'Z' {
				t.Fatal("payloads share memory")
			}
		})
	}
}

// TestReaderEOF: a clean close before a packet starts is io.EOF; a close
// inside a packet is io.ErrUnexpectedEOF.
func TestReaderEOF(t *testing.T) {
	full := encodeAll(t, 4, &Publish{QoS: 1, PacketID: 5, Topic: "a/b", Payload: []byte("payload")})
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, io.EOF},
		{"after-first-byte", full[:1], io.ErrUnexpectedEOF},
		{"inside-remaining-length", []byte{0x30, 0x80}, io.ErrUnexpectedEOF},
		{"inside-body", full[:len(full)-1], io.ErrUnexpectedEOF},
		{"after-header", full[:2], io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(bytes.NewReader(tc.b), 0)
			if _, err := r.ReadPacket(); err != tc.want {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	// A complete packet followed by a clean close.
	r := NewReader(bytes.NewReader(full), 0)
	if _, err := r.ReadPacket(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadPacket(); err != io.EOF {
		t.Fatalf("err = %v, want io.EOF", err)
	}
}

// TestReaderError passes errors of the underlying reader through.
func TestReaderError(t *testing.T) {
	boom := errors.New("boom")
	r := NewReader(iotest.ErrReader(boom), 0)
	if _, err := r.ReadPacket(); err != boom {
		t.Fatalf("err = %v", err)
	}
	r = NewReader(io.MultiReader(bytes.NewReader([]byte{0x30, 0x10, 0}), iotest.ErrReader(boom)), 0)
	if _, err := r.ReadPacket(); err != boom {
		t.Fatalf("err = %v", err)
	}
}

// limitedReader fails the test if more than max bytes are read from it.
type limitedReader struct {
	t   *testing.T
	r   io.Reader
	n   int
	max int
}

func (l *limitedReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.n += n
	if l.n > l.max {
		l.t.Errorf("read %d bytes, more than %d", l.n, l.max)
	}
	return n, err
}

// TestReaderTooLarge: the size limit is checked from the remaining length,
// before the body is read or allocated.
func TestReaderTooLarge(t *testing.T) {
	// A header announcing 268435455 bytes followed by an endless body.
	hdr := []byte{0x30, 0xFF, 0xFF, 0xFF, 0x7F}
	src := &limitedReader{t: t, r: io.MultiReader(bytes.NewReader(hdr), zeros{}), max: 64}
	r := NewReaderSize(src, 1024, 16)
	_, err := r.ReadPacket()
	if err != ErrPacketTooLarge || !errors.Is(err, ErrPacketTooLarge) {
		t.Fatalf("err = %v", err)
	}

	pub := encodeAll(t, 4, &Publish{Topic: "a", Payload: make([]byte, 100)}) // 2 + 3 + 100 bytes
	for _, tc := range []struct {
		max  int
		want error
	}{{len(pub), nil}, {len(pub) - 1, ErrPacketTooLarge}, {0, nil}} {
		r := NewReader(bytes.NewReader(pub), 1<<20)
		r.SetMaxSize(tc.max)
		if _, err := r.ReadPacket(); err != tc.want {
			t.Errorf("max %d: err = %v, want %v", tc.max, err, tc.want)
		}
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestReaderSetVersion decodes with the version set by the caller.
func TestReaderSetVersion(t *testing.T) {
	b := encodeAll(t, 5, &Puback{PacketID: 1, ReasonCode: NoMatchingSubscribers})
	r := NewReader(bytes.NewReader(b), 0)
	if _, err := r.ReadPacket(); err == nil {
		t.Fatal("v4 reader accepted a v5 PUBACK with a reason code")
	}
	r = NewReader(bytes.NewReader(b), 0)
	r.SetVersion(5)
	p, err := r.ReadPacket()
	if err != nil || p.(*Puback).ReasonCode != NoMatchingSubscribers {
		t.Fatalf("%v %#v", err, p)
	}
	if r.Buffered() != 0 {
		t.Fatal("Buffered")
	}
}

func TestReaderComplete(t *testing.T) {
	pub, _ := (&Publish{Topic: "a/b", Payload: make([]byte, 200)}).Append(nil, Version311) // 2-byte length
	ping, _ := (&Pingreq{}).Append(nil, Version311)
	for _, tc := range []struct {
		in   []byte
		want []bool // Complete before each ReadPacket
	}{
		{ping, []bool{true}},
		{append(append([]byte{}, ping...), pub...), []bool{true, true}},
		{append(append([]byte{}, ping...), pub[:50]...), []bool{true, false}},
		{append(append([]byte{}, ping...), pub[:2]...), []bool{true, false}},
	} {
		r := NewReader(bytes.NewReader(tc.in), 0)
		if r.Complete() {
			t.Fatal("Complete before any read")
		}
		if err := r.Wait(); err != nil {
			t.Fatal(err)
		}
		for i, want := range tc.want {
			if got := r.Complete(); got != want {
				t.Fatalf("%x: Complete before packet %d = %v, want %v", tc.in, i, got, want)
			}
			if !want {
				break
			}
			if _, err := r.ReadPacket(); err != nil {
				t.Fatal(err)
			}
		}
	}
}
