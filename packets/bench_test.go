package packets

import (
	"io"
	"testing"
)

func benchDecode(b *testing.B, p Packet, v byte) {
	buf, err := Encode(p, v)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(buf, v); err != nil {
			b.Fatal(err)
		}
	}
}

var (
	benchConnect = &Connect{CleanStart: true, KeepAlive: 60, ClientID: "mosq-0123456789abcdef",
		Username: "user", Password: []byte("password")}
	benchConnect5 = &Connect{CleanStart: true, KeepAlive: 60, ClientID: "mosq-0123456789abcdef",
		Properties: &Properties{SessionExpiry: u32p(3600), ReceiveMaximum: u16p(100), TopicAliasMaximum: u16p(10)},
		Username:   "user", Password: []byte("password")}
	benchPublish  = &Publish{QoS: 1, PacketID: 42, Topic: "sensors/building-1/floor-2/temperature", Payload: []byte(`{"t":21.5,"u":"C"}`)}
	benchPublish5 = &Publish{QoS: 1, PacketID: 42, Topic: "sensors/building-1/floor-2/temperature", Payload: []byte(`{"t":21.5,"u":"C"}`),
		Properties: &Properties{PayloadFormat: u8p(1), MessageExpiry: u32p(60), ContentType: "application/json",
			SubscriptionIDs: []uint32{7}, User: []UserProperty{{"trace", "abc123"}}}}
)

func BenchmarkDecodeConnectV4(b *testing.B) { benchDecode(b, benchConnect, 4) }
func BenchmarkDecodeConnectV5(b *testing.B) { benchDecode(b, benchConnect5, 5) }
func BenchmarkDecodePublishV4(b *testing.B) { benchDecode(b, benchPublish, 4) }
func BenchmarkDecodePublishV5(b *testing.B) {
	benchDecode(b, &Publish{QoS: 1, PacketID: 42, Topic: benchPublish.Topic, Payload: benchPublish.Payload}, 5)
}
func BenchmarkDecodePublishV5Props(b *testing.B) { benchDecode(b, benchPublish5, 5) }

func benchEncode(b *testing.B, p Packet, v byte) {
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = p.Append(buf[:0], v); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkEncodePublishV4(b *testing.B)      { benchEncode(b, benchPublish, 4) }
func BenchmarkEncodePublishV5Props(b *testing.B) { benchEncode(b, benchPublish5, 5) }

// loopReader returns the same bytes forever.
type loopReader struct {
	b []byte
	i int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], l.b[l.i:])
		n += c
		l.i = (l.i + c) % len(l.b)
	}
	return n, nil
}

var _ io.Reader = (*loopReader)(nil)

func benchReader(b *testing.B, p Packet, v byte) {
	buf, err := Encode(p, v)
	if err != nil {
		b.Fatal(err)
	}
	r := NewReader(&loopReader{b: buf}, 0)
	r.SetVersion(v)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.ReadPacket(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReaderPublishV4(b *testing.B)      { benchReader(b, benchPublish, 4) }
func BenchmarkReaderPublishV5Props(b *testing.B) { benchReader(b, benchPublish5, 5) }
