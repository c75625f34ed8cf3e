package retainer

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/packets"
)

func TestEntryRoundTrip(t *testing.T) {
	exp := uint32(30)
	pf := byte(1)
	for _, e := range []*entry{
		{msg: broker.Message{Topic: "a/b", Payload: []byte("x"), QoS: 1, Retain: true, Timestamp: time.Unix(0, 1700000000123456789)}},
		{msg: broker.Message{ID: 42, Topic: "$SYS/x", Payload: bytes.Repeat([]byte{0, 255}, 1000), QoS: 2, Retain: true,
			From: "client", Username: "user", Timestamp: time.Unix(1, 0),
			Properties: &packets.Properties{MessageExpiry: &exp, PayloadFormat: &pf, ContentType: "c", ResponseTopic: "r",
				CorrelationData: []byte{0, 1}, User: []packets.UserProperty{{Key: "k", Value: "v"}, {Key: "k", Value: "w"}}}},
			expireAt: 1234567890},
	} {
		b, err := appendEntry(nil, e)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeEntry(e.msg.Topic, b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.msg.Properties, e.msg.Properties) {
			t.Fatalf("properties %+v, want %+v", got.msg.Properties, e.msg.Properties)
		}
		g, w := got.msg, e.msg
		g.Properties, w.Properties = nil, nil
		if !g.Timestamp.Equal(w.Timestamp) {
			t.Fatalf("timestamp %v, want %v", g.Timestamp, w.Timestamp)
		}
		g.Timestamp, w.Timestamp = time.Time{}, time.Time{}
		if !reflect.DeepEqual(g, w) || got.expireAt != e.expireAt {
			t.Fatalf("decoded %+v (exp %d), want %+v (exp %d)", g, got.expireAt, w, e.expireAt)
		}
		// Every truncation is refused, never a panic.
		for i := range len(b) {
			if _, err := decodeEntry("t", b[:i]); err == nil {
				t.Fatalf("truncated to %d bytes: decoded", i)
			}
		}
		if _, err := decodeEntry("t", append(b, 0)); err == nil {
			t.Fatal("trailing byte: decoded")
		}
	}
	if _, err := decodeEntry("t", []byte{9, 0, 0}); err == nil {
		t.Fatal("unknown format: decoded")
	}
}

func FuzzDecodeEntry(f *testing.F) {
	b, _ := appendEntry(nil, &entry{msg: broker.Message{Topic: "t", Payload: []byte("p"), QoS: 1, From: "c"}})
	f.Add(b)
	f.Add([]byte{1, 0, 1, 0, 0, 0, 0, 0, 0, 2, '{', '}'})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeEntry("t", b)
		if err != nil {
			return
		}
		if _, err := appendEntry(nil, e); err != nil {
			t.Fatal(err)
		}
	})
}

func TestCorruptFileFailsAttach(t *testing.T) {
	dir := t.TempDir()
	st, err := openStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	bad := &entry{msg: broker.Message{Topic: "t", Payload: []byte("x")}}
	if err := st.write(false, []string{"t"}, func(string) (*entry, bool) { return bad, true }); err != nil {
		t.Fatal(err)
	}
	// Overwrite the record with garbage.
	if err := st.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucketName).Put([]byte("t"), []byte{1, 2}) }); err != nil {
		t.Fatal(err)
	}
	st.close()
	r, _ := New(Config{StorageType: StorageDisc, Dir: dir})
	b, _ := broker.New(broker.Options{SysInterval: -1})
	defer b.Close()
	if _, err := r.Attach(b); err == nil {
		t.Fatal("Attach loaded a corrupt file")
	}
	// The failed Attach left it detached and the file closed: a retry
	// reaches the same error instead of ErrAttached or a lock timeout.
	if _, err := r.Attach(b); err == nil || err == ErrAttached {
		t.Fatalf("second Attach: %v", err)
	}
}
