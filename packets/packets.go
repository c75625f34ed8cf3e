package packets

import (
	"errors"
	"fmt"
)

// Protocol versions, as carried in the CONNECT protocol level byte.
const (
	Version31  byte = 3 // MQTT 3.1, protocol name "MQIsdp"
	Version311 byte = 4 // MQTT 3.1.1, protocol name "MQTT"
	Version5   byte = 5 // MQTT 5.0, protocol name "MQTT"
)

// MaxRemainingLength is the largest remaining length a fixed header can carry [MQTT-1.5.5].
const MaxRemainingLength = 268435455

// Type is an MQTT control packet type (the high nibble of the first byte).
type Type byte

// Control packet types.
const (
	CONNECT     Type = 1
	CONNACK     Type = 2
	PUBLISH     Type = 3
	PUBACK      Type = 4
	PUBREC      Type = 5
	PUBREL      Type = 6
	PUBCOMP     Type = 7
	SUBSCRIBE   Type = 8
	SUBACK      Type = 9
	UNSUBSCRIBE Type = 10
	UNSUBACK    Type = 11
	PINGREQ     Type = 12
	PINGRESP    Type = 13
	DISCONNECT  Type = 14
	AUTH        Type = 15
)

var typeNames = [...]string{"RESERVED", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC", "PUBREL",
	"PUBCOMP", "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK", "PINGREQ", "PINGRESP", "DISCONNECT", "AUTH"}

// String returns the packet type's name as written in the specification, e.g. "PUBLISH".
func (t Type) String() string {
	if int(t) < len(typeNames) && t != 0 {
		return typeNames[t]
	}
	return fmt.Sprintf("Type(%d)", byte(t))
}

// Packet is implemented by every control packet type of this package (pointer receivers).
type Packet interface {
	// Type returns the control packet type.
	Type() Type
	// Append appends the complete wire encoding (fixed header included) for
	// protocol version v (3, 4 or 5) to dst. Versions 3 and 4 ignore
	// properties and 5.0-only fields. It returns an *Error for values that
	// cannot be encoded (QoS 3, packet identifier 0 with QoS > 0, a remaining
	// length above 268435455, a string longer than 65535 bytes, ...).
	Append(dst []byte, v byte) ([]byte, error)
}

// Error is every decode and encode failure of this package.
type Error struct {
	// Code is the reason code a v5 server sends before closing the connection.
	Code ReasonCode
	// Rule cites the normative statement of the specification, e.g. "MQTT-3.3.2-2", or is empty.
	Rule string
	// Msg describes the problem.
	Msg string
}

// Error returns "packets: <msg> [<rule>]".
func (e *Error) Error() string {
	if e.Rule == "" {
		return "packets: " + e.Msg
	}
	return "packets: " + e.Msg + " [" + e.Rule + "]"
}

// Is reports whether target is an *Error with the same Code, so that
// errors.Is(err, ErrPacketTooLarge) matches every oversize failure.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// ErrPacketTooLarge is returned when a packet exceeds the maximum size. Use errors.Is:
// every *Error with Code PacketTooLarge matches it.
var ErrPacketTooLarge = &Error{Code: PacketTooLarge, Msg: "packet too large"}

// ErrMalformed matches (with errors.Is) every *Error with Code MalformedPacket.
var ErrMalformed = &Error{Code: MalformedPacket, Msg: "malformed packet"}

// ErrProtocol matches (with errors.Is) every *Error with Code ProtocolError.
var ErrProtocol = &Error{Code: ProtocolError, Msg: "protocol error"}

// AsError returns err as an *Error if it is one (possibly wrapped).
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

func malformed(rule, msg string) *Error { return &Error{Code: MalformedPacket, Rule: rule, Msg: msg} }
func protoErr(rule, msg string) *Error  { return &Error{Code: ProtocolError, Rule: rule, Msg: msg} }

// UserProperty is one MQTT 5 User Property (a name/value pair; names may repeat).
type UserProperty struct{ Key, Value string }

// Properties holds MQTT 5 properties. Absent values are a nil pointer, an
// empty string or a nil slice. A string property present with an empty value
// cannot be distinguished from an absent one and is not encoded.
type Properties struct {
	PayloadFormat        *byte          // 0x01 Payload Format Indicator
	MessageExpiry        *uint32        // 0x02 Message Expiry Interval
	ContentType          string         // 0x03 Content Type
	ResponseTopic        string         // 0x08 Response Topic
	CorrelationData      []byte         // 0x09 Correlation Data
	SubscriptionIDs      []uint32       // 0x0B Subscription Identifier: may repeat in PUBLISH; at most one in SUBSCRIBE
	SessionExpiry        *uint32        // 0x11 Session Expiry Interval
	AssignedClientID     string         // 0x12 Assigned Client Identifier
	ServerKeepAlive      *uint16        // 0x13 Server Keep Alive
	AuthMethod           string         // 0x15 Authentication Method
	AuthData             []byte         // 0x16 Authentication Data
	RequestProblemInfo   *byte          // 0x17 Request Problem Information
	WillDelay            *uint32        // 0x18 Will Delay Interval
	RequestResponseInfo  *byte          // 0x19 Request Response Information
	ResponseInfo         string         // 0x1A Response Information
	ServerReference      string         // 0x1C Server Reference
	ReasonString         string         // 0x1F Reason String
	ReceiveMaximum       *uint16        // 0x21 Receive Maximum
	TopicAliasMaximum    *uint16        // 0x22 Topic Alias Maximum
	TopicAlias           *uint16        // 0x23 Topic Alias
	MaximumQoS           *byte          // 0x24 Maximum QoS
	RetainAvailable      *byte          // 0x25 Retain Available
	User                 []UserProperty // 0x26 User Property, order preserved
	MaximumPacketSize    *uint32        // 0x27 Maximum Packet Size
	WildcardSubAvailable *byte          // 0x28 Wildcard Subscription Available
	SubIDAvailable       *byte          // 0x29 Subscription Identifier Available
	SharedSubAvailable   *byte          // 0x2A Shared Subscription Available
}

// Connect is the CONNECT packet.
type Connect struct {
	ProtocolName    string // "MQIsdp" for v3, "MQTT" for v4/5
	ProtocolVersion byte   // 3, 4 or 5
	CleanStart      bool   // Clean Session in v3/v4
	KeepAlive       uint16 // seconds
	Properties      *Properties
	ClientID        string
	Will            *Will // nil = no will flag
	UsernameFlag    bool
	Username        string
	PasswordFlag    bool
	Password        []byte
}

// Will is the will message carried by a CONNECT packet.
type Will struct {
	Topic      string
	Payload    []byte
	QoS        byte
	Retain     bool
	Properties *Properties // v5 will properties
}

// Connack is the CONNACK packet. For v3/v4 the ReasonCode byte is written
// as-is: the caller passes a v3 return code (see V3ConnackCode).
type Connack struct {
	SessionPresent bool
	ReasonCode     ReasonCode
	Properties     *Properties
}

// Publish is the PUBLISH packet.
type Publish struct {
	Dup        bool
	QoS        byte
	Retain     bool
	Topic      string // may be "" in v5 when a TopicAlias property is used
	PacketID   uint16 // only when QoS > 0
	Properties *Properties
	Payload    []byte
}

// Puback is the PUBACK packet. In v5 the reason code and properties are
// omitted on the wire when the code is Success and there are no properties.
type Puback struct {
	PacketID   uint16
	ReasonCode ReasonCode
	Properties *Properties
}

// Pubrec is the PUBREC packet (same shape as Puback).
type Pubrec struct {
	PacketID   uint16
	ReasonCode ReasonCode
	Properties *Properties
}

// Pubrel is the PUBREL packet (same shape as Puback).
type Pubrel struct {
	PacketID   uint16
	ReasonCode ReasonCode
	Properties *Properties
}

// Pubcomp is the PUBCOMP packet (same shape as Puback).
type Pubcomp struct {
	PacketID   uint16
	ReasonCode ReasonCode
	Properties *Properties
}

// Subscription is one topic filter of a SUBSCRIBE packet with its options.
// NoLocal, RetainAsPublished and RetainHandling exist in v5 only.
type Subscription struct {
	Filter            string
	QoS               byte
	NoLocal           bool
	RetainAsPublished bool
	RetainHandling    byte
}

// Subscribe is the SUBSCRIBE packet.
type Subscribe struct {
	PacketID      uint16
	Properties    *Properties
	Subscriptions []Subscription
}

// Suback is the SUBACK packet. In v3/v4 the return codes are 0, 1, 2 and 0x80.
type Suback struct {
	PacketID    uint16
	Properties  *Properties
	ReasonCodes []ReasonCode
}

// Unsubscribe is the UNSUBSCRIBE packet.
type Unsubscribe struct {
	PacketID   uint16
	Properties *Properties
	Filters    []string
}

// Unsuback is the UNSUBACK packet. In v3/v4 it has no payload and ReasonCodes is ignored.
type Unsuback struct {
	PacketID    uint16
	Properties  *Properties
	ReasonCodes []ReasonCode
}

// Pingreq is the PINGREQ packet.
type Pingreq struct{}

// Pingresp is the PINGRESP packet.
type Pingresp struct{}

// Disconnect is the DISCONNECT packet. In v3/v4 it has no variable header.
type Disconnect struct {
	ReasonCode ReasonCode
	Properties *Properties
}

// Auth is the MQTT 5 AUTH packet. It cannot be encoded for or decoded in v3/v4.
type Auth struct {
	ReasonCode ReasonCode
	Properties *Properties
}

// Type implements Packet.
func (*Connect) Type() Type { return CONNECT }

// Type implements Packet.
func (*Connack) Type() Type { return CONNACK }

// Type implements Packet.
func (*Publish) Type() Type { return PUBLISH }

// Type implements Packet.
func (*Puback) Type() Type { return PUBACK }

// Type implements Packet.
func (*Pubrec) Type() Type { return PUBREC }

// Type implements Packet.
func (*Pubrel) Type() Type { return PUBREL }

// Type implements Packet.
func (*Pubcomp) Type() Type { return PUBCOMP }

// Type implements Packet.
func (*Subscribe) Type() Type { return SUBSCRIBE }

// Type implements Packet.
func (*Suback) Type() Type { return SUBACK }

// Type implements Packet.
func (*Unsubscribe) Type() Type { return UNSUBSCRIBE }

// Type implements Packet.
func (*Unsuback) Type() Type { return UNSUBACK }

// Type implements Packet.
func (*Pingreq) Type() Type { return PINGREQ }

// Type implements Packet.
func (*Pingresp) Type() Type { return PINGRESP }

// Type implements Packet.
func (*Disconnect) Type() Type { return DISCONNECT }

// Type implements Packet.
func (*Auth) Type() Type { return AUTH }

// Encode returns the wire encoding of p for protocol version v; it is p.Append(nil, v).
func Encode(p Packet, v byte) ([]byte, error) { return p.Append(nil, v) }
