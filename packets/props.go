package packets

// Property identifiers (spec section 2.2.2.2).
const (
	propPayloadFormat        = 0x01
	propMessageExpiry        = 0x02
	propContentType          = 0x03
	propResponseTopic        = 0x08
	propCorrelationData      = 0x09
	propSubscriptionID       = 0x0B
	propSessionExpiry        = 0x11
	propAssignedClientID     = 0x12
	propServerKeepAlive      = 0x13
	propAuthMethod           = 0x15
	propAuthData             = 0x16
	propRequestProblemInfo   = 0x17
	propWillDelay            = 0x18
	propRequestResponseInfo  = 0x19
	propResponseInfo         = 0x1A
	propServerReference      = 0x1C
	propReasonString         = 0x1F
	propReceiveMaximum       = 0x21
	propTopicAliasMaximum    = 0x22
	propTopicAlias           = 0x23
	propMaximumQoS           = 0x24
	propRetainAvailable      = 0x25
	propUser                 = 0x26
	propMaximumPacketSize    = 0x27
	propWildcardSubAvailable = 0x28
	propSubIDAvailable       = 0x29
	propSharedSubAvailable   = 0x2A
)

// A property context is a bit set: bit t for packet type t, bit 0 for the
// will properties of a CONNECT packet.
const ctxWill = 0

func ctxBit(t Type) uint16 { return 1 << t }

const (
	cConnect     = 1 << CONNECT
	cConnack     = 1 << CONNACK
	cPublish     = 1 << PUBLISH
	cPuback      = 1 << PUBACK
	cPubrec      = 1 << PUBREC
	cPubrel      = 1 << PUBREL
	cPubcomp     = 1 << PUBCOMP
	cSubscribe   = 1 << SUBSCRIBE
	cSuback      = 1 << SUBACK
	cUnsubscribe = 1 << UNSUBSCRIBE
	cUnsuback    = 1 << UNSUBACK
	cDisconnect  = 1 << DISCONNECT
	cAuth        = 1 << AUTH
	cWill        = 1 << ctxWill
	cAll         = cConnect | cConnack | cPublish | cPuback | cPubrec | cPubrel | cPubcomp | cSubscribe |
		cSuback | cUnsubscribe | cUnsuback | cDisconnect | cAuth | cWill
)

// propAllowed is table 2-4 of the MQTT 5 specification: for each property
// identifier, the packets it may appear in. Zero means the identifier is unknown.
var propAllowed = [64]uint16{
	propPayloadFormat:        cPublish | cWill,
	propMessageExpiry:        cPublish | cWill,
	propContentType:          cPublish | cWill,
	propResponseTopic:        cPublish | cWill,
	propCorrelationData:      cPublish | cWill,
	propSubscriptionID:       cPublish | cSubscribe,
	propSessionExpiry:        cConnect | cConnack | cDisconnect,
	propAssignedClientID:     cConnack,
	propServerKeepAlive:      cConnack,
	propAuthMethod:           cConnect | cConnack | cAuth,
	propAuthData:             cConnect | cConnack | cAuth,
	propRequestProblemInfo:   cConnect,
	propWillDelay:            cWill,
	propRequestResponseInfo:  cConnect,
	propResponseInfo:         cConnack,
	propServerReference:      cConnack | cDisconnect,
	propReasonString:         cConnack | cPuback | cPubrec | cPubrel | cPubcomp | cSuback | cUnsuback | cDisconnect | cAuth,
	propReceiveMaximum:       cConnect | cConnack,
	propTopicAliasMaximum:    cConnect | cConnack,
	propTopicAlias:           cPublish,
	propMaximumQoS:           cConnack,
	propRetainAvailable:      cConnack,
	propUser:                 cAll,
	propMaximumPacketSize:    cConnect | cConnack,
	propWildcardSubAvailable: cConnack,
	propSubIDAvailable:       cConnack,
	propSharedSubAvailable:   cConnack,
}

var propNames = [64]string{
	propPayloadFormat:        "Payload Format Indicator",
	propMessageExpiry:        "Message Expiry Interval",
	propContentType:          "Content Type",
	propResponseTopic:        "Response Topic",
	propCorrelationData:      "Correlation Data",
	propSubscriptionID:       "Subscription Identifier",
	propSessionExpiry:        "Session Expiry Interval",
	propAssignedClientID:     "Assigned Client Identifier",
	propServerKeepAlive:      "Server Keep Alive",
	propAuthMethod:           "Authentication Method",
	propAuthData:             "Authentication Data",
	propRequestProblemInfo:   "Request Problem Information",
	propWillDelay:            "Will Delay Interval",
	propRequestResponseInfo:  "Request Response Information",
	propResponseInfo:         "Response Information",
	propServerReference:      "Server Reference",
	propReasonString:         "Reason String",
	propReceiveMaximum:       "Receive Maximum",
	propTopicAliasMaximum:    "Topic Alias Maximum",
	propTopicAlias:           "Topic Alias",
	propMaximumQoS:           "Maximum QoS",
	propRetainAvailable:      "Retain Available",
	propUser:                 "User Property",
	propMaximumPacketSize:    "Maximum Packet Size",
	propWildcardSubAvailable: "Wildcard Subscription Available",
	propSubIDAvailable:       "Subscription Identifier Available",
	propSharedSubAvailable:   "Shared Subscription Available",
}

func ctxName(ctx uint16) string {
	if ctx == cWill {
		return "will properties"
	}
	for t := CONNECT; t <= AUTH; t++ {
		if ctx == ctxBit(t) {
			return t.String()
		}
	}
	return "packet"
}

// propStore backs a decoded or cloned Properties with a single allocation:
// the pointer fields of p point into the scalar fields that follow it.
type propStore struct {
	p                                                                  Properties
	payloadFormat, reqProblem, reqResp, maxQoS, retain, wild, sid, shr byte
	msgExpiry, sessExpiry, willDelay, maxPacket                        uint32
	serverKA, recvMax, aliasMax, alias                                 uint16
	subIDs                                                             [1]uint32
	user                                                               [2]UserProperty
}

// Clone returns a deep copy of p. It returns nil when p is nil.
func (p *Properties) Clone() *Properties {
	if p == nil {
		return nil
	}
	s := new(propStore)
	c := &s.p
	*c = *p
	cp8 := func(src *byte, dst *byte) *byte {
		if src == nil {
			return nil
		}
		*dst = *src
		return dst
	}
	cp16 := func(src *uint16, dst *uint16) *uint16 {
		if src == nil {
			return nil
		}
		*dst = *src
		return dst
	}
	cp32 := func(src *uint32, dst *uint32) *uint32 {
		if src == nil {
			return nil
		}
		*dst = *src
		return dst
	}
	c.PayloadFormat = cp8(p.PayloadFormat, &s.payloadFormat)
	c.RequestProblemInfo = cp8(p.RequestProblemInfo, &s.reqProblem)
	c.RequestResponseInfo = cp8(p.RequestResponseInfo, &s.reqResp)
	c.MaximumQoS = cp8(p.MaximumQoS, &s.maxQoS)
	c.RetainAvailable = cp8(p.RetainAvailable, &s.retain)
	c.WildcardSubAvailable = cp8(p.WildcardSubAvailable, &s.wild)
	c.SubIDAvailable = cp8(p.SubIDAvailable, &s.sid)
	c.SharedSubAvailable = cp8(p.SharedSubAvailable, &s.shr)
	c.MessageExpiry = cp32(p.MessageExpiry, &s.msgExpiry)
	c.SessionExpiry = cp32(p.SessionExpiry, &s.sessExpiry)
	c.WillDelay = cp32(p.WillDelay, &s.willDelay)
	c.MaximumPacketSize = cp32(p.MaximumPacketSize, &s.maxPacket)
	c.ServerKeepAlive = cp16(p.ServerKeepAlive, &s.serverKA)
	c.ReceiveMaximum = cp16(p.ReceiveMaximum, &s.recvMax)
	c.TopicAliasMaximum = cp16(p.TopicAliasMaximum, &s.aliasMax)
	c.TopicAlias = cp16(p.TopicAlias, &s.alias)
	if p.CorrelationData != nil {
		c.CorrelationData = append([]byte{}, p.CorrelationData...)
	}
	if p.AuthData != nil {
		c.AuthData = append([]byte{}, p.AuthData...)
	}
	if p.SubscriptionIDs != nil {
		c.SubscriptionIDs = append([]uint32{}, p.SubscriptionIDs...)
	}
	if p.User != nil {
		c.User = append([]UserProperty{}, p.User...)
	}
	return c
}

// IsEmpty reports whether p is nil or holds no property at all.
func (p *Properties) IsEmpty() bool {
	return p == nil || (p.PayloadFormat == nil && p.MessageExpiry == nil && p.ContentType == "" &&
		p.ResponseTopic == "" && p.CorrelationData == nil && p.SubscriptionIDs == nil &&
		p.SessionExpiry == nil && p.AssignedClientID == "" && p.ServerKeepAlive == nil &&
		p.AuthMethod == "" && p.AuthData == nil && p.RequestProblemInfo == nil && p.WillDelay == nil &&
		p.RequestResponseInfo == nil && p.ResponseInfo == "" && p.ServerReference == "" &&
		p.ReasonString == "" && p.ReceiveMaximum == nil && p.TopicAliasMaximum == nil &&
		p.TopicAlias == nil && p.MaximumQoS == nil && p.RetainAvailable == nil && p.User == nil &&
		p.MaximumPacketSize == nil && p.WildcardSubAvailable == nil && p.SubIDAvailable == nil &&
		p.SharedSubAvailable == nil)
}

func notAllowed(id byte, ctx uint16) *Error {
	return malformed("", propNames[id]+" property not allowed in "+ctxName(ctx))
}

// boolProp reports an error for a byte property whose value must be 0 or 1.
func boolProp(id byte, b byte) *Error {
	if b > 1 {
		return protoErr("", propNames[id]+" must be 0 or 1")
	}
	return nil
}

// size validates p for context ctx and returns the length of the encoded
// properties, excluding the Property Length prefix.
func (p *Properties) size(ctx uint16) (int, error) {
	if p == nil {
		return 0, nil
	}
	n := 0
	chk := func(id byte) error {
		if propAllowed[id]&ctx == 0 {
			return notAllowed(id, ctx)
		}
		return nil
	}
	b8 := func(id byte, v *byte, boolean bool) error {
		if v == nil {
			return nil
		}
		if err := chk(id); err != nil {
			return err
		}
		if boolean {
			if err := boolProp(id, *v); err != nil {
				return err
			}
		}
		n += 2
		return nil
	}
	u16 := func(id byte, v *uint16, nonZero bool) error {
		if v == nil {
			return nil
		}
		if err := chk(id); err != nil {
			return err
		}
		if nonZero && *v == 0 {
			if id == propTopicAlias {
				return &Error{Code: TopicAliasInvalid, Rule: "MQTT-3.3.2-8", Msg: "Topic Alias must not be 0"}
			}
			return protoErr("", propNames[id]+" must not be 0")
		}
		n += 3
		return nil
	}
	u32 := func(id byte, v *uint32, nonZero bool) error {
		if v == nil {
			return nil
		}
		if err := chk(id); err != nil {
			return err
		}
		if nonZero && *v == 0 {
			return protoErr("", propNames[id]+" must not be 0")
		}
		n += 5
		return nil
	}
	str := func(id byte, s string) error {
		if s == "" {
			return nil
		}
		if err := chk(id); err != nil {
			return err
		}
		if err := checkString(s, Version5); err != nil {
			return err
		}
		n += 3 + len(s)
		return nil
	}
	bin := func(id byte, b []byte) error {
		if b == nil {
			return nil
		}
		if err := chk(id); err != nil {
			return err
		}
		if len(b) > 65535 {
			return malformed("", propNames[id]+" longer than 65535 bytes")
		}
		n += 3 + len(b)
		return nil
	}
	if err := b8(propPayloadFormat, p.PayloadFormat, true); err != nil {
		return 0, err
	}
	if err := u32(propMessageExpiry, p.MessageExpiry, false); err != nil {
		return 0, err
	}
	if err := str(propContentType, p.ContentType); err != nil {
		return 0, err
	}
	if err := str(propResponseTopic, p.ResponseTopic); err != nil {
		return 0, err
	}
	if p.ResponseTopic != "" && hasWildcard(p.ResponseTopic) {
		return 0, protoErr("MQTT-3.3.2-14", "Response Topic must not contain wildcards")
	}
	if err := bin(propCorrelationData, p.CorrelationData); err != nil {
		return 0, err
	}
	if len(p.SubscriptionIDs) > 0 {
		if err := chk(propSubscriptionID); err != nil {
			return 0, err
		}
		if ctx == cSubscribe && len(p.SubscriptionIDs) > 1 {
			return 0, protoErr("", "more than one Subscription Identifier in SUBSCRIBE")
		}
		for _, id := range p.SubscriptionIDs {
			if id == 0 || id > MaxRemainingLength {
				return 0, protoErr("", "Subscription Identifier out of range 1..268435455")
			}
			n += 1 + vbiLen(int(id))
		}
	}
	if err := u32(propSessionExpiry, p.SessionExpiry, false); err != nil {
		return 0, err
	}
	if err := str(propAssignedClientID, p.AssignedClientID); err != nil {
		return 0, err
	}
	if err := u16(propServerKeepAlive, p.ServerKeepAlive, false); err != nil {
		return 0, err
	}
	if err := str(propAuthMethod, p.AuthMethod); err != nil {
		return 0, err
	}
	if err := bin(propAuthData, p.AuthData); err != nil {
		return 0, err
	}
	if err := b8(propRequestProblemInfo, p.RequestProblemInfo, true); err != nil {
		return 0, err
	}
	if err := u32(propWillDelay, p.WillDelay, false); err != nil {
		return 0, err
	}
	if err := b8(propRequestResponseInfo, p.RequestResponseInfo, true); err != nil {
		return 0, err
	}
	if err := str(propResponseInfo, p.ResponseInfo); err != nil {
		return 0, err
	}
	if err := str(propServerReference, p.ServerReference); err != nil {
		return 0, err
	}
	if err := str(propReasonString, p.ReasonString); err != nil {
		return 0, err
	}
	if err := u16(propReceiveMaximum, p.ReceiveMaximum, true); err != nil {
		return 0, err
	}
	if err := u16(propTopicAliasMaximum, p.TopicAliasMaximum, false); err != nil {
		return 0, err
	}
	if err := u16(propTopicAlias, p.TopicAlias, true); err != nil {
		return 0, err
	}
	if err := b8(propMaximumQoS, p.MaximumQoS, true); err != nil {
		return 0, err
	}
	if err := b8(propRetainAvailable, p.RetainAvailable, true); err != nil {
		return 0, err
	}
	if len(p.User) > 0 {
		if err := chk(propUser); err != nil {
			return 0, err
		}
		for _, u := range p.User {
			if err := checkString(u.Key, Version5); err != nil {
				return 0, err
			}
			if err := checkString(u.Value, Version5); err != nil {
				return 0, err
			}
			n += 5 + len(u.Key) + len(u.Value)
		}
	}
	if err := u32(propMaximumPacketSize, p.MaximumPacketSize, true); err != nil {
		return 0, err
	}
	if err := b8(propWildcardSubAvailable, p.WildcardSubAvailable, true); err != nil {
		return 0, err
	}
	if err := b8(propSubIDAvailable, p.SubIDAvailable, true); err != nil {
		return 0, err
	}
	if err := b8(propSharedSubAvailable, p.SharedSubAvailable, true); err != nil {
		return 0, err
	}
	if ctx == cConnect && p.AuthData != nil && p.AuthMethod == "" {
		return 0, protoErr("", "Authentication Data without Authentication Method")
	}
	return n, nil
}

// appendProps appends the Property Length n and the properties of p, which
// size has validated and measured as n.
func appendProps(dst []byte, p *Properties, n int) []byte {
	dst = appendVBI(dst, n)
	if p == nil || n == 0 {
		return dst
	}
	b8 := func(id byte, v *byte) {
		if v != nil {
			dst = append(dst, id, *v)
		}
	}
	u16 := func(id byte, v *uint16) {
		if v != nil {
			dst = append(dst, id, byte(*v>>8), byte(*v))
		}
	}
	u32 := func(id byte, v *uint32) {
		if v != nil {
			dst = append(dst, id, byte(*v>>24), byte(*v>>16), byte(*v>>8), byte(*v))
		}
	}
	str := func(id byte, s string) {
		if s != "" {
			dst = append(dst, id, byte(len(s)>>8), byte(len(s)))
			dst = append(dst, s...)
		}
	}
	bin := func(id byte, b []byte) {
		if b != nil {
			dst = append(dst, id, byte(len(b)>>8), byte(len(b)))
			dst = append(dst, b...)
		}
	}
	b8(propPayloadFormat, p.PayloadFormat)
	u32(propMessageExpiry, p.MessageExpiry)
	str(propContentType, p.ContentType)
	str(propResponseTopic, p.ResponseTopic)
	bin(propCorrelationData, p.CorrelationData)
	for _, id := range p.SubscriptionIDs {
		dst = append(dst, propSubscriptionID)
		dst = appendVBI(dst, int(id))
	}
	u32(propSessionExpiry, p.SessionExpiry)
	str(propAssignedClientID, p.AssignedClientID)
	u16(propServerKeepAlive, p.ServerKeepAlive)
	str(propAuthMethod, p.AuthMethod)
	bin(propAuthData, p.AuthData)
	b8(propRequestProblemInfo, p.RequestProblemInfo)
	u32(propWillDelay, p.WillDelay)
	b8(propRequestResponseInfo, p.RequestResponseInfo)
	str(propResponseInfo, p.ResponseInfo)
	str(propServerReference, p.ServerReference)
	str(propReasonString, p.ReasonString)
	u16(propReceiveMaximum, p.ReceiveMaximum)
	u16(propTopicAliasMaximum, p.TopicAliasMaximum)
	u16(propTopicAlias, p.TopicAlias)
	b8(propMaximumQoS, p.MaximumQoS)
	b8(propRetainAvailable, p.RetainAvailable)
	for _, u := range p.User {
		dst = append(dst, propUser, byte(len(u.Key)>>8), byte(len(u.Key)))
		dst = append(dst, u.Key...)
		dst = append(dst, byte(len(u.Value)>>8), byte(len(u.Value)))
		dst = append(dst, u.Value...)
	}
	u32(propMaximumPacketSize, p.MaximumPacketSize)
	b8(propWildcardSubAvailable, p.WildcardSubAvailable)
	b8(propSubIDAvailable, p.SubIDAvailable)
	b8(propSharedSubAvailable, p.SharedSubAvailable)
	return dst
}

// props decodes a Property Length and the properties that follow for context ctx.
// It returns nil when the Property Length is 0.
func (d *decoder) props(ctx uint16) (*Properties, error) {
	n, err := d.vbi()
	if err != nil {
		return nil, err
	}
	if n > len(d.b)-d.i {
		return nil, malformed("", "property length exceeds packet")
	}
	if n == 0 {
		return nil, nil
	}
	end := d.i + n
	s := new(propStore)
	p := &s.p
	var seen uint64
	// Every read below is bounded by end, not by the packet. The strings of
	// the properties share one allocation, made on the first string.
	full := d.b
	d.b = full[:end]
	if !d.mirrors(d.i, end) {
		d.lazyStart, d.lazyEnd = d.i, end
	}
	for d.i < end {
		id := d.b[d.i]
		d.i++
		if id >= 64 || propAllowed[id] == 0 {
			return nil, malformed("", "unknown property identifier")
		}
		if propAllowed[id]&ctx == 0 {
			return nil, notAllowed(id, ctx)
		}
		if seen&(1<<id) != 0 && id != propUser && !(id == propSubscriptionID && ctx == cPublish) {
			return nil, protoErr("", propNames[id]+" included more than once")
		}
		seen |= 1 << id
		var err error
		switch id {
		case propPayloadFormat, propRequestProblemInfo, propRequestResponseInfo, propMaximumQoS,
			propRetainAvailable, propWildcardSubAvailable, propSubIDAvailable, propSharedSubAvailable:
			var b byte
			if b, err = d.u8(); err != nil {
				break
			}
			if e := boolProp(id, b); e != nil {
				return nil, e
			}
			switch id {
			case propPayloadFormat:
				s.payloadFormat, p.PayloadFormat = b, &s.payloadFormat
			case propRequestProblemInfo:
				s.reqProblem, p.RequestProblemInfo = b, &s.reqProblem
			case propRequestResponseInfo:
				s.reqResp, p.RequestResponseInfo = b, &s.reqResp
			case propMaximumQoS:
				s.maxQoS, p.MaximumQoS = b, &s.maxQoS
			case propRetainAvailable:
				s.retain, p.RetainAvailable = b, &s.retain
			case propWildcardSubAvailable:
				s.wild, p.WildcardSubAvailable = b, &s.wild
			case propSubIDAvailable:
				s.sid, p.SubIDAvailable = b, &s.sid
			case propSharedSubAvailable:
				s.shr, p.SharedSubAvailable = b, &s.shr
			}
		case propMessageExpiry, propSessionExpiry, propWillDelay, propMaximumPacketSize:
			var v uint32
			if v, err = d.u32(); err != nil {
				break
			}
			switch id {
			case propMessageExpiry:
				s.msgExpiry, p.MessageExpiry = v, &s.msgExpiry
			case propSessionExpiry:
				s.sessExpiry, p.SessionExpiry = v, &s.sessExpiry
			case propWillDelay:
				s.willDelay, p.WillDelay = v, &s.willDelay
			case propMaximumPacketSize:
				if v == 0 {
					return nil, protoErr("", "Maximum Packet Size must not be 0")
				}
				s.maxPacket, p.MaximumPacketSize = v, &s.maxPacket
			}
		case propServerKeepAlive, propReceiveMaximum, propTopicAliasMaximum, propTopicAlias:
			var v uint16
			if v, err = d.u16(); err != nil {
				break
			}
			switch id {
			case propServerKeepAlive:
				s.serverKA, p.ServerKeepAlive = v, &s.serverKA
			case propReceiveMaximum:
				if v == 0 {
					return nil, protoErr("", "Receive Maximum must not be 0")
				}
				s.recvMax, p.ReceiveMaximum = v, &s.recvMax
			case propTopicAliasMaximum:
				s.aliasMax, p.TopicAliasMaximum = v, &s.aliasMax
			case propTopicAlias:
				if v == 0 {
					return nil, &Error{Code: TopicAliasInvalid, Rule: "MQTT-3.3.2-8", Msg: "Topic Alias must not be 0"}
				}
				s.alias, p.TopicAlias = v, &s.alias
			}
		case propContentType, propResponseTopic, propAssignedClientID, propAuthMethod,
			propResponseInfo, propServerReference, propReasonString:
			var v string
			if v, err = d.str(); err != nil {
				break
			}
			switch id {
			case propContentType:
				p.ContentType = v
			case propResponseTopic:
				if hasWildcard(v) {
					return nil, protoErr("MQTT-3.3.2-14", "Response Topic must not contain wildcards")
				}
				p.ResponseTopic = v
			case propAssignedClientID:
				p.AssignedClientID = v
			case propAuthMethod:
				p.AuthMethod = v
			case propResponseInfo:
				p.ResponseInfo = v
			case propServerReference:
				p.ServerReference = v
			case propReasonString:
				p.ReasonString = v
			}
		case propCorrelationData, propAuthData:
			var v []byte
			if v, err = d.bin(); err != nil {
				break
			}
			if id == propCorrelationData {
				p.CorrelationData = v
			} else {
				p.AuthData = v
			}
		case propSubscriptionID:
			var v int
			if v, err = d.vbi(); err != nil {
				break
			}
			if v == 0 {
				return nil, protoErr("", "Subscription Identifier must not be 0")
			}
			if p.SubscriptionIDs == nil {
				p.SubscriptionIDs = s.subIDs[:0]
			}
			p.SubscriptionIDs = append(p.SubscriptionIDs, uint32(v))
		case propUser:
			var k, v string
			if k, err = d.str(); err != nil {
				break
			}
			if v, err = d.str(); err != nil {
				break
			}
			if p.User == nil {
				p.User = s.user[:0]
			}
			p.User = append(p.User, UserProperty{Key: k, Value: v})
		}
		if err != nil {
			if e, ok := err.(*Error); ok && e.Msg == msgShort {
				return nil, malformed("", propNames[id]+" property exceeds property length")
			}
			return nil, err
		}
	}
	d.b = full
	d.lazyStart, d.lazyEnd = 0, 0
	if ctx == cConnect && p.AuthData != nil && p.AuthMethod == "" {
		return nil, protoErr("", "Authentication Data without Authentication Method")
	}
	return p, nil
}
