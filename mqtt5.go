package broker

import (
	"fmt"
	"sync"
	"time"

	"github.com/emqgo/broker/packets"
)

// This file holds the MQTT 5 pieces shared by connections and sessions:
// reason-coded disconnections, message expiry and outgoing packet sizes.

// DisconnectError is the reason client.disconnected and session.terminated
// receive when a connection ended with an MQTT reason code: the broker
// closed it (a DISCONNECT with Code is sent first to MQTT 5 clients: 0x8E
// session taken over, 0x8D keep alive timeout, 0x8B server shutting down,
// 0x95 packet too large, 0x97 quota exceeded, 0x93 receive maximum
// exceeded, 0x94 topic alias invalid, 0x81/0x82 malformed packet and
// protocol errors, 0x98 administrative action...), or an MQTT 5 client
// sent DISCONNECT with a code other than 0x00 (FromClient). A DISCONNECT
// with 0x00 gives a nil reason, for every protocol version.
//
// Hook code that only cares whether the client left cleanly keeps testing
// reason == nil; code that wants the reason uses errors.As.
type DisconnectError struct {
	// Code is the DISCONNECT reason code. For 3.1 and 3.1.1 clients it is
	// the code an MQTT 5 client would have been sent.
	Code packets.ReasonCode
	// FromClient is set when the client sent the DISCONNECT.
	FromClient bool
	// Err is the underlying cause, if any (errors.Is sees through it).
	Err error
}

// Error returns a description such as "disconnected: keep alive timeout
// (0x8D): keepalive timeout".
func (e *DisconnectError) Error() string {
	who := "disconnected"
	if e.FromClient {
		who = "client disconnected"
	}
	s := fmt.Sprintf("%s: %s (0x%02X)", who, e.Code, byte(e.Code))
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying cause.
func (e *DisconnectError) Unwrap() error { return e.Err }

// expireAt returns when m's MQTT 5 Message Expiry Interval ends, counted
// from m.Timestamp, in unix nanoseconds; 0 means never. An interval of 0
// is treated as absent.
func expireAt(m *Message) int64 {
	p := m.Properties
	if p == nil || p.MessageExpiry == nil || *p.MessageExpiry == 0 {
		return 0
	}
	ts := m.Timestamp
	if ts.IsZero() {
		ts = time.Now()
	}
	return ts.Add(time.Duration(*p.MessageExpiry) * time.Second).UnixNano()
}

// remainingExpiry returns the Message Expiry Interval to send at now for a
// message expiring at exp: the received value minus the time the message
// waited in the broker [MQTT-3.3.2-6], rounded up, at least 1.
func remainingExpiry(exp, now int64) uint32 {
	left := exp - now
	if left <= 0 {
		return 1
	}
	secs := (left + int64(time.Second) - 1) / int64(time.Second)
	if secs > 0xFFFFFFFF {
		return 0xFFFFFFFF
	}
	return uint32(secs)
}

// sizeBufs are scratch buffers for measuring outgoing publishes against a
// client's Maximum Packet Size.
var sizeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// packetLen returns the encoded length of p for version v, or -1 if it
// cannot be encoded.
func packetLen(p packets.Packet, v byte) int {
	bp := sizeBufs.Get().(*[]byte)
	buf, err := p.Append((*bp)[:0], v)
	n := len(buf)
	if cap(buf) <= 64<<10 {
		*bp = buf[:0]
		sizeBufs.Put(bp)
	}
	if err != nil {
		return -1
	}
	return n
}

// withoutProblemInfo returns a copy of p without Reason String and User
// Properties, for a packet that would otherwise exceed the client's
// Maximum Packet Size [MQTT-3.1.2-25]; nil if p has neither.
func withoutProblemInfo(p packets.Packet) packets.Packet {
	strip := func(pp **packets.Properties) bool {
		if *pp == nil || ((*pp).ReasonString == "" && (*pp).User == nil) {
			return false
		}
		cp := **pp
		cp.ReasonString, cp.User = "", nil
		*pp = &cp
		return true
	}
	switch p := p.(type) {
	case *packets.Connack:
		c := *p
		if strip(&c.Properties) {
			return &c
		}
	case *packets.Puback:
		c := *p
		if strip(&c.Properties) {
			return &c
		}
	case *packets.Pubrec:
		c := *p
		if strip(&c.Properties) {
			return &c
		}
	case *packets.Pubrel:
		c := *p
		if strip(&c.Properties) {
			return &c
		}
	case *packets.Pubcomp:
		c := *p
		if strip(&c.Properties) {
			return &c
		}
	case *packets.Suback:
		c := *p
		if strip(&c.Properties) {
			return &c
		}
	case *packets.Unsuback:
		c := *p
		if strip(&c.Properties) {
			return &c
		}
	case *packets.Disconnect:
		c := *p
		if strip(&c.Properties) {
			return &c
		}
	case *packets.Auth:
		c := *p
		if strip(&c.Properties) {
			return &c
		}
	}
	return nil
}
