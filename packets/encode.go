package packets

import "strconv"

// rcSet is a set of reason codes.
type rcSet [4]uint64

func mkSet(codes ...ReasonCode) rcSet {
	var s rcSet
	for _, c := range codes {
		s[c>>6] |= 1 << (c & 63)
	}
	return s
}

func (s *rcSet) has(c ReasonCode) bool { return s[c>>6]&(1<<(c&63)) != 0 }

// Reason codes each packet may carry (MQTT 5, sections 3.2.2.2 to 3.15.2.1).
var (
	rcConnack = mkSet(Success, UnspecifiedError, MalformedPacket, ProtocolError, ImplementationSpecificError,
		UnsupportedProtocolVersion, ClientIdentifierNotValid, BadUserNameOrPassword, NotAuthorized,
		ServerUnavailable, ServerBusy, Banned, BadAuthenticationMethod, TopicNameInvalid, PacketTooLarge,
		QuotaExceeded, PayloadFormatInvalid, RetainNotSupported, QoSNotSupported, UseAnotherServer,
		ServerMoved, ConnectionRateExceeded)
	rcPuback = mkSet(Success, NoMatchingSubscribers, UnspecifiedError, ImplementationSpecificError,
		NotAuthorized, TopicNameInvalid, PacketIdentifierInUse, QuotaExceeded, PayloadFormatInvalid)
	rcPubrel = mkSet(Success, PacketIdentifierNotFound)
	rcSuback = mkSet(GrantedQoS0, GrantedQoS1, GrantedQoS2, UnspecifiedError, ImplementationSpecificError,
		NotAuthorized, TopicFilterInvalid, PacketIdentifierInUse, QuotaExceeded,
		SharedSubscriptionsNotSupported, SubscriptionIdentifiersNotSupported, WildcardSubscriptionsNotSupported)
	rcUnsuback = mkSet(Success, NoSubscriptionExisted, UnspecifiedError, ImplementationSpecificError,
		NotAuthorized, TopicFilterInvalid, PacketIdentifierInUse)
	rcDisconnect = mkSet(NormalDisconnection, DisconnectWithWill, UnspecifiedError, MalformedPacket,
		ProtocolError, ImplementationSpecificError, NotAuthorized, ServerBusy, ServerShuttingDown,
		KeepAliveTimeout, SessionTakenOver, TopicFilterInvalid, TopicNameInvalid, ReceiveMaximumExceeded,
		TopicAliasInvalid, PacketTooLarge, MessageRateTooHigh, QuotaExceeded, AdministrativeAction,
		PayloadFormatInvalid, RetainNotSupported, QoSNotSupported, UseAnotherServer, ServerMoved,
		SharedSubscriptionsNotSupported, ConnectionRateExceeded, MaximumConnectTime,
		SubscriptionIdentifiersNotSupported, WildcardSubscriptionsNotSupported)
	rcAuth = mkSet(Success, ContinueAuthentication, ReAuthenticate)
)

func badReason(t Type, c ReasonCode) *Error {
	return protoErr("", "reason code 0x"+strconv.FormatUint(uint64(c), 16)+" not valid in "+t.String())
}

func checkVersion(v byte) error {
	if v < Version31 || v > Version5 {
		return &Error{Code: UnsupportedProtocolVersion, Msg: "unsupported protocol version " + strconv.Itoa(int(v))}
	}
	return nil
}

var errZeroID = protoErr("MQTT-2.3.1-1", "packet identifier must be non-zero")

// appendHeader appends the fixed header.
func appendHeader(dst []byte, first byte, rl int) ([]byte, error) {
	if rl > MaxRemainingLength {
		return dst, &Error{Code: PacketTooLarge, Rule: "MQTT-1.5.5", Msg: "remaining length exceeds 268435455"}
	}
	return appendVBI(append(dst, first), rl), nil
}

// protocolName returns the protocol name that goes with protocol level v.
func protocolName(v byte) string {
	if v == Version31 {
		return "MQIsdp"
	}
	return "MQTT"
}

// checkProtocol validates a CONNECT protocol name and level.
func checkProtocol(name string, level byte) error {
	if name != "MQTT" && name != "MQIsdp" {
		return protoErr("MQTT-3.1.2-1", "unknown protocol name "+strconv.Quote(name))
	}
	if level < Version31 || level > Version5 || protocolName(level) != name {
		return &Error{Code: UnsupportedProtocolVersion, Rule: "MQTT-3.1.2-2",
			Msg: "unsupported protocol level " + strconv.Itoa(int(level)) + " for " + name}
	}
	return nil
}

// Append implements Packet. A zero ProtocolName or ProtocolVersion is
// filled in from v; a non-zero ProtocolVersion must equal v. A non-empty
// Username or non-nil Password sets its flag.
func (p *Connect) Append(dst []byte, v byte) ([]byte, error) {
	if err := checkVersion(v); err != nil {
		return dst, err
	}
	level := p.ProtocolVersion
	if level == 0 {
		level = v
	}
	if level != v {
		return dst, protoErr("", "CONNECT ProtocolVersion "+strconv.Itoa(int(level))+" encoded as version "+strconv.Itoa(int(v)))
	}
	name := p.ProtocolName
	if name == "" {
		name = protocolName(v)
	}
	if err := checkProtocol(name, level); err != nil {
		return dst, err
	}
	userFlag := p.UsernameFlag || p.Username != ""
	passFlag := p.PasswordFlag || p.Password != nil
	if passFlag && !userFlag && v < Version5 {
		return dst, malformed("MQTT-3.1.2-22", "password flag set without user name flag")
	}
	flags := byte(0)
	if p.CleanStart {
		flags |= 0x02
	}
	rl := 2 + len(name) + 1 + 1 + 2 + 2 + len(p.ClientID)
	if err := checkString(p.ClientID, v); err != nil {
		return dst, err
	}
	pn, wpn := 0, 0
	var err error
	if v == Version5 {
		if pn, err = p.Properties.size(cConnect); err != nil {
			return dst, err
		}
		rl += vbiLen(pn) + pn
	}
	if w := p.Will; w != nil {
		if w.QoS > 2 {
			return dst, malformed("MQTT-3.1.2-12", "will QoS 3")
		}
		flags |= 0x04 | w.QoS<<3
		if w.Retain {
			flags |= 0x20
		}
		if err := checkString(w.Topic, v); err != nil {
			return dst, err
		}
		if len(w.Payload) > 65535 {
			return dst, malformed("", "will payload longer than 65535 bytes")
		}
		rl += 4 + len(w.Topic) + len(w.Payload)
		if v == Version5 {
			if wpn, err = w.Properties.size(cWill); err != nil {
				return dst, err
			}
			rl += vbiLen(wpn) + wpn
		}
	}
	if userFlag {
		flags |= 0x80
		if err := checkString(p.Username, v); err != nil {
			return dst, err
		}
		rl += 2 + len(p.Username)
	}
	if passFlag {
		flags |= 0x40
		if len(p.Password) > 65535 {
			return dst, malformed("", "password longer than 65535 bytes")
		}
		rl += 2 + len(p.Password)
	}
	if dst, err = appendHeader(dst, byte(CONNECT)<<4, rl); err != nil {
		return dst, err
	}
	dst = appendString(dst, name)
	dst = append(dst, level, flags, byte(p.KeepAlive>>8), byte(p.KeepAlive))
	if v == Version5 {
		dst = appendProps(dst, p.Properties, pn)
	}
	dst = appendString(dst, p.ClientID)
	if w := p.Will; w != nil {
		if v == Version5 {
			dst = appendProps(dst, w.Properties, wpn)
		}
		dst = appendString(dst, w.Topic)
		dst = appendBinary(dst, w.Payload)
	}
	if userFlag {
		dst = appendString(dst, p.Username)
	}
	if passFlag {
		dst = appendBinary(dst, p.Password)
	}
	return dst, nil
}

// Append implements Packet. For v3/v4 a reason code of 0x80 or above is
// converted with V3ConnackCode; other codes must be v3 return codes (0..5).
// Session Present is not sent in v3 (MQTT 3.1 has no such flag).
func (p *Connack) Append(dst []byte, v byte) ([]byte, error) {
	if err := checkVersion(v); err != nil {
		return dst, err
	}
	rc := p.ReasonCode
	if v < Version5 {
		if rc.IsError() {
			rc = ReasonCode(V3ConnackCode(rc))
		}
		if rc > 5 {
			return dst, badReason(CONNACK, rc)
		}
	} else if !rcConnack.has(rc) {
		return dst, badReason(CONNACK, rc)
	}
	sp := p.SessionPresent && v != Version31
	if sp && rc != 0 {
		return dst, protoErr(sessionPresentRule(v), "session present with a non-zero return code")
	}
	ack := byte(0)
	if sp {
		ack = 1
	}
	if v < Version5 {
		return append(dst, byte(CONNACK)<<4, 2, ack, byte(rc)), nil
	}
	pn, err := p.Properties.size(cConnack)
	if err != nil {
		return dst, err
	}
	if dst, err = appendHeader(dst, byte(CONNACK)<<4, 2+vbiLen(pn)+pn); err != nil {
		return dst, err
	}
	dst = append(dst, ack, byte(rc))
	return appendProps(dst, p.Properties, pn), nil
}

func sessionPresentRule(v byte) string {
	if v == Version5 {
		return "MQTT-3.2.2-6"
	}
	return "MQTT-3.2.2-4"
}

// checkTopicName validates a PUBLISH Topic Name.
func checkTopicName(topic string, v byte, alias bool) error {
	if topic == "" {
		if v == Version5 {
			if alias {
				return nil
			}
			return protoErr("", "empty topic name without a Topic Alias")
		}
		return &Error{Code: TopicNameInvalid, Rule: "MQTT-4.7.3-1", Msg: "empty topic name"}
	}
	if err := checkString(topic, v); err != nil {
		return err
	}
	if hasWildcard(topic) {
		return &Error{Code: TopicNameInvalid, Rule: "MQTT-3.3.2-2", Msg: "topic name contains a wildcard"}
	}
	return nil
}

// Append implements Packet.
func (p *Publish) Append(dst []byte, v byte) ([]byte, error) {
	if err := checkVersion(v); err != nil {
		return dst, err
	}
	if p.QoS > 2 {
		return dst, malformed("MQTT-3.3.1-4", "PUBLISH QoS 3")
	}
	if p.Dup && p.QoS == 0 {
		return dst, malformed("MQTT-3.3.1-2", "DUP set on a QoS 0 PUBLISH")
	}
	if err := checkTopicName(p.Topic, v, p.Properties != nil && p.Properties.TopicAlias != nil); err != nil {
		return dst, err
	}
	first := byte(PUBLISH)<<4 | p.QoS<<1
	if p.Dup {
		first |= 0x08
	}
	if p.Retain {
		first |= 0x01
	}
	rl := 2 + len(p.Topic) + len(p.Payload)
	if p.QoS > 0 {
		if p.PacketID == 0 {
			return dst, errZeroID
		}
		rl += 2
	}
	pn := 0
	if v == Version5 {
		var err error
		if pn, err = p.Properties.size(cPublish); err != nil {
			return dst, err
		}
		rl += vbiLen(pn) + pn
	}
	dst, err := appendHeader(dst, first, rl)
	if err != nil {
		return dst, err
	}
	dst = appendString(dst, p.Topic)
	if p.QoS > 0 {
		dst = append(dst, byte(p.PacketID>>8), byte(p.PacketID))
	}
	if v == Version5 {
		dst = appendProps(dst, p.Properties, pn)
	}
	return append(dst, p.Payload...), nil
}

// appendAck encodes PUBACK, PUBREC, PUBREL and PUBCOMP.
func appendAck(dst []byte, t Type, id uint16, rc ReasonCode, props *Properties, v byte, set *rcSet) ([]byte, error) {
	if err := checkVersion(v); err != nil {
		return dst, err
	}
	if id == 0 {
		return dst, errZeroID
	}
	first := byte(t) << 4
	if t == PUBREL {
		first |= 0x02
	}
	if v < Version5 {
		return append(dst, first, 2, byte(id>>8), byte(id)), nil
	}
	if !set.has(rc) {
		return dst, badReason(t, rc)
	}
	pn, err := props.size(ctxBit(t))
	if err != nil {
		return dst, err
	}
	switch {
	case pn == 0 && rc == Success:
		return append(dst, first, 2, byte(id>>8), byte(id)), nil
	case pn == 0:
		return append(dst, first, 3, byte(id>>8), byte(id), byte(rc)), nil
	}
	if dst, err = appendHeader(dst, first, 3+vbiLen(pn)+pn); err != nil {
		return dst, err
	}
	dst = append(dst, byte(id>>8), byte(id), byte(rc))
	return appendProps(dst, props, pn), nil
}

// Append implements Packet.
func (p *Puback) Append(dst []byte, v byte) ([]byte, error) {
	return appendAck(dst, PUBACK, p.PacketID, p.ReasonCode, p.Properties, v, &rcPuback)
}

// Append implements Packet.
func (p *Pubrec) Append(dst []byte, v byte) ([]byte, error) {
	return appendAck(dst, PUBREC, p.PacketID, p.ReasonCode, p.Properties, v, &rcPuback)
}

// Append implements Packet.
func (p *Pubrel) Append(dst []byte, v byte) ([]byte, error) {
	return appendAck(dst, PUBREL, p.PacketID, p.ReasonCode, p.Properties, v, &rcPubrel)
}

// Append implements Packet.
func (p *Pubcomp) Append(dst []byte, v byte) ([]byte, error) {
	return appendAck(dst, PUBCOMP, p.PacketID, p.ReasonCode, p.Properties, v, &rcPubrel)
}

const sharePrefix = "$share/"

// Append implements Packet. In v3/v4 only Filter and QoS of each subscription are sent.
func (p *Subscribe) Append(dst []byte, v byte) ([]byte, error) {
	if err := checkVersion(v); err != nil {
		return dst, err
	}
	if p.PacketID == 0 {
		return dst, errZeroID
	}
	if len(p.Subscriptions) == 0 {
		return dst, protoErr("MQTT-3.8.3-3", "SUBSCRIBE without a topic filter")
	}
	rl := 2
	pn := 0
	if v == Version5 {
		var err error
		if pn, err = p.Properties.size(cSubscribe); err != nil {
			return dst, err
		}
		rl += vbiLen(pn) + pn
	}
	for i := range p.Subscriptions {
		s := &p.Subscriptions[i]
		if err := checkString(s.Filter, v); err != nil {
			return dst, err
		}
		if s.QoS > 2 {
			return dst, subQoS3(v)
		}
		if v == Version5 {
			if s.RetainHandling > 2 {
				return dst, protoErr("", "retain handling 3")
			}
			if s.NoLocal && len(s.Filter) >= len(sharePrefix) && s.Filter[:len(sharePrefix)] == sharePrefix {
				return dst, protoErr("MQTT-3.8.3-4", "no local on a shared subscription")
			}
		}
		rl += 3 + len(s.Filter)
	}
	dst, err := appendHeader(dst, byte(SUBSCRIBE)<<4|0x02, rl)
	if err != nil {
		return dst, err
	}
	dst = append(dst, byte(p.PacketID>>8), byte(p.PacketID))
	if v == Version5 {
		dst = appendProps(dst, p.Properties, pn)
	}
	for i := range p.Subscriptions {
		s := &p.Subscriptions[i]
		dst = appendString(dst, s.Filter)
		opts := s.QoS
		if v == Version5 {
			if s.NoLocal {
				opts |= 0x04
			}
			if s.RetainAsPublished {
				opts |= 0x08
			}
			opts |= s.RetainHandling << 4
		}
		dst = append(dst, opts)
	}
	return dst, nil
}

// subQoS3 is the error for a requested QoS of 3: malformed in v3/v4
// [MQTT-3-8.3-4], a protocol error in v5 (section 3.8.3.1).
func subQoS3(v byte) *Error {
	if v == Version5 {
		return protoErr("", "subscription QoS 3")
	}
	return malformed("MQTT-3-8.3-4", "subscription QoS 3")
}

// Append implements Packet. For v3/v4 every code of 0x80 or above is sent as 0x80.
func (p *Suback) Append(dst []byte, v byte) ([]byte, error) {
	if err := checkVersion(v); err != nil {
		return dst, err
	}
	if p.PacketID == 0 {
		return dst, errZeroID
	}
	if len(p.ReasonCodes) == 0 {
		return dst, protoErr("", "SUBACK without a reason code")
	}
	rl := 2 + len(p.ReasonCodes)
	pn := 0
	for _, c := range p.ReasonCodes {
		if v < Version5 {
			if c > 2 && c < 0x80 {
				return dst, badReason(SUBACK, c)
			}
		} else if !rcSuback.has(c) {
			return dst, badReason(SUBACK, c)
		}
	}
	if v == Version5 {
		var err error
		if pn, err = p.Properties.size(cSuback); err != nil {
			return dst, err
		}
		rl += vbiLen(pn) + pn
	}
	dst, err := appendHeader(dst, byte(SUBACK)<<4, rl)
	if err != nil {
		return dst, err
	}
	dst = append(dst, byte(p.PacketID>>8), byte(p.PacketID))
	if v == Version5 {
		dst = appendProps(dst, p.Properties, pn)
		for _, c := range p.ReasonCodes {
			dst = append(dst, byte(c))
		}
		return dst, nil
	}
	for _, c := range p.ReasonCodes {
		if c >= 0x80 {
			c = 0x80
		}
		dst = append(dst, byte(c))
	}
	return dst, nil
}

// Append implements Packet.
func (p *Unsubscribe) Append(dst []byte, v byte) ([]byte, error) {
	if err := checkVersion(v); err != nil {
		return dst, err
	}
	if p.PacketID == 0 {
		return dst, errZeroID
	}
	if len(p.Filters) == 0 {
		return dst, protoErr("MQTT-3.10.3-2", "UNSUBSCRIBE without a topic filter")
	}
	rl := 2
	pn := 0
	if v == Version5 {
		var err error
		if pn, err = p.Properties.size(cUnsubscribe); err != nil {
			return dst, err
		}
		rl += vbiLen(pn) + pn
	}
	for _, f := range p.Filters {
		if err := checkString(f, v); err != nil {
			return dst, err
		}
		rl += 2 + len(f)
	}
	dst, err := appendHeader(dst, byte(UNSUBSCRIBE)<<4|0x02, rl)
	if err != nil {
		return dst, err
	}
	dst = append(dst, byte(p.PacketID>>8), byte(p.PacketID))
	if v == Version5 {
		dst = appendProps(dst, p.Properties, pn)
	}
	for _, f := range p.Filters {
		dst = appendString(dst, f)
	}
	return dst, nil
}

// Append implements Packet. In v3/v4 the packet has no payload and ReasonCodes is ignored.
func (p *Unsuback) Append(dst []byte, v byte) ([]byte, error) {
	if err := checkVersion(v); err != nil {
		return dst, err
	}
	if p.PacketID == 0 {
		return dst, errZeroID
	}
	if v < Version5 {
		return append(dst, byte(UNSUBACK)<<4, 2, byte(p.PacketID>>8), byte(p.PacketID)), nil
	}
	if len(p.ReasonCodes) == 0 {
		return dst, protoErr("", "UNSUBACK without a reason code")
	}
	for _, c := range p.ReasonCodes {
		if !rcUnsuback.has(c) {
			return dst, badReason(UNSUBACK, c)
		}
	}
	pn, err := p.Properties.size(cUnsuback)
	if err != nil {
		return dst, err
	}
	if dst, err = appendHeader(dst, byte(UNSUBACK)<<4, 2+vbiLen(pn)+pn+len(p.ReasonCodes)); err != nil {
		return dst, err
	}
	dst = append(dst, byte(p.PacketID>>8), byte(p.PacketID))
	dst = appendProps(dst, p.Properties, pn)
	for _, c := range p.ReasonCodes {
		dst = append(dst, byte(c))
	}
	return dst, nil
}

// Append implements Packet.
func (p *Pingreq) Append(dst []byte, v byte) ([]byte, error) {
	if err := checkVersion(v); err != nil {
		return dst, err
	}
	return append(dst, byte(PINGREQ)<<4, 0), nil
}

// Append implements Packet.
func (p *Pingresp) Append(dst []byte, v byte) ([]byte, error) {
	if err := checkVersion(v); err != nil {
		return dst, err
	}
	return append(dst, byte(PINGRESP)<<4, 0), nil
}

// Append implements Packet. In v3/v4 the packet is two bytes and the
// reason code and properties are ignored. In v5 the reason code is omitted
// when it is NormalDisconnection and there are no properties.
func (p *Disconnect) Append(dst []byte, v byte) ([]byte, error) {
	if err := checkVersion(v); err != nil {
		return dst, err
	}
	if v < Version5 {
		return append(dst, byte(DISCONNECT)<<4, 0), nil
	}
	return appendReasonOnly(dst, DISCONNECT, p.ReasonCode, p.Properties, &rcDisconnect)
}

// Append implements Packet. AUTH exists in MQTT 5 only.
func (p *Auth) Append(dst []byte, v byte) ([]byte, error) {
	if err := checkVersion(v); err != nil {
		return dst, err
	}
	if v < Version5 {
		return dst, malformed("", "AUTH packet in MQTT "+strconv.Itoa(int(v)))
	}
	return appendReasonOnly(dst, AUTH, p.ReasonCode, p.Properties, &rcAuth)
}

// appendReasonOnly encodes a v5 DISCONNECT or AUTH.
func appendReasonOnly(dst []byte, t Type, rc ReasonCode, props *Properties, set *rcSet) ([]byte, error) {
	if !set.has(rc) {
		return dst, badReason(t, rc)
	}
	pn, err := props.size(ctxBit(t))
	if err != nil {
		return dst, err
	}
	switch {
	case pn == 0 && rc == Success:
		return append(dst, byte(t)<<4, 0), nil
	case pn == 0 && t == DISCONNECT:
		return append(dst, byte(t)<<4, 1, byte(rc)), nil
	}
	if dst, err = appendHeader(dst, byte(t)<<4, 1+vbiLen(pn)+pn); err != nil {
		return dst, err
	}
	dst = append(dst, byte(rc))
	return appendProps(dst, props, pn), nil
}
