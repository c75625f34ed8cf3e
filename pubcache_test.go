package broker

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/emqgo/broker/packets"
)

// TestPubCacheMatchesAppend checks that every variant taken from one shared
// cache, in any order, is byte for byte what Publish.Append writes.
func TestPubCacheMatchesAppend(t *testing.T) {
	ct := "text/plain"
	props := &packets.Properties{ContentType: ct, User: []packets.UserProperty{{Key: "k", Value: "v"}}}
	for _, size := range []int{0, 64, 200, 20000} { // Remaining Length of 1, 2 and 3 bytes
		pc := new(pubCache)
		payload := bytes.Repeat([]byte{'x'}, size)
		for _, v := range []byte{packets.Version5, packets.Version31, packets.Version311} {
			for _, qos := range []byte{2, 0, 1} {
				for _, flags := range []struct{ dup, retain bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
					if flags.dup && qos == 0 {
						continue
					}
					p := packets.Publish{Topic: "a/b/c", Payload: payload, QoS: qos, Dup: flags.dup, Retain: flags.retain}
					if v == packets.Version5 {
						p.Properties = props
					}
					if qos > 0 {
						p.PacketID = uint16(0x1234 + int(qos))
					}
					want, err := p.Append(nil, v)
					if err != nil {
						t.Fatal(err)
					}
					prefix := []byte("prev")
					got, err := pc.appendTo(bytes.Clone(prefix), &p, v)
					if err != nil {
						t.Fatal(err)
					}
					name := fmt.Sprintf("size %d v%d qos %d dup %v retain %v", size, v, qos, flags.dup, flags.retain)
					if !bytes.Equal(got[len(prefix):], want) || !bytes.Equal(got[:len(prefix)], prefix) {
						t.Fatalf("%s:\n got %x\nwant %x", name, got[len(prefix):], want)
					}
				}
			}
		}
	}
}

// TestPubCacheInvalid checks that a packet Append refuses is refused from
// the cache too.
func TestPubCacheInvalid(t *testing.T) {
	pc := new(pubCache)
	for _, p := range []packets.Publish{
		{Topic: "a", QoS: 1},            // no packet identifier
		{Topic: "a", QoS: 0, Dup: true}, // DUP on QoS 0
		{Topic: "a/+", QoS: 0},          // wildcard in a topic name
	} {
		if _, err := pc.appendTo(nil, &p, packets.Version311); err == nil {
			t.Errorf("%+v: no error", p)
		}
	}
}
