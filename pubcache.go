package broker

import (
	"sync/atomic"

	"github.com/emqgo/broker/packets"
)

// pubCache holds the PUBLISH packet of one routed message encoded once per
// wire variant, shared by every delivery of the message that needs no
// packet of its own. The variants differ in the protocol level's form (3.1
// and 3.1.1 write PUBLISH alike, 5.0 adds properties) and in whether a
// packet identifier is present (QoS 0 or not). A delivery copies the bytes
// into its connection's write buffer, then patches the fixed header's
// flags (DUP, QoS, RETAIN) and its packet identifier.
//
// A delivery uses the cache only when its packet is the message's own:
// no subscription identifiers, no Message Expiry Interval to count down
// and no topic alias. route makes one per message with two or more
// receivers.
type pubCache struct {
	slots [4]atomic.Pointer[pubBytes]
}

// pubBytes is one encoded variant; idOff is where its packet identifier
// starts (0: none).
type pubBytes struct {
	b     []byte
	idOff int
}

// appendTo appends pub, for a connection at protocol level ver, to buf
// from the cache, encoding the variant on first use.
func (pc *pubCache) appendTo(buf []byte, pub *packets.Publish, ver byte) ([]byte, error) {
	if pub.QoS > 2 || (pub.QoS > 0 && pub.PacketID == 0) || (pub.Dup && pub.QoS == 0) {
		return pub.Append(buf, ver) // for its error
	}
	slot := 0
	if ver == packets.Version5 {
		slot = 2
	}
	if pub.QoS > 0 {
		slot++
	}
	e := pc.slots[slot].Load()
	if e == nil {
		t := packets.Publish{Topic: pub.Topic, Properties: pub.Properties, Payload: pub.Payload}
		if pub.QoS > 0 {
			t.QoS, t.PacketID = 1, 1
		}
		b, err := t.Append(nil, ver)
		if err != nil {
			return buf, err
		}
		e = &pubBytes{b: b}
		if pub.QoS > 0 {
			n := 1
			for b[n]&0x80 != 0 { // the Remaining Length's bytes
				n++
			}
			e.idOff = n + 1 + 2 + len(pub.Topic)
		}
		pc.slots[slot].CompareAndSwap(nil, e)
	}
	start := len(buf)
	buf = append(buf, e.b...)
	first := byte(packets.PUBLISH)<<4 | pub.QoS<<1
	if pub.Dup {
		first |= 0x08
	}
	if pub.Retain {
		first |= 0x01
	}
	buf[start] = first
	if e.idOff > 0 {
		buf[start+e.idOff] = byte(pub.PacketID >> 8)
		buf[start+e.idOff+1] = byte(pub.PacketID)
	}
	return buf, nil
}
