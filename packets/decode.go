package packets

import "strconv"

// Decode decodes exactly one complete packet held in b (fixed header
// included) for protocol version v. A CONNECT packet is decoded with the
// version it carries, whatever v is. Trailing bytes after the packet are an
// error. Decoded strings are copies; decoded byte slices (payloads,
// passwords, binary properties) alias b.
func Decode(b []byte, v byte) (Packet, error) {
	if len(b) < 2 {
		return nil, malformed("", "packet shorter than a fixed header")
	}
	rl, used, err := parseVBI(b[1:])
	if err != nil {
		return nil, err
	}
	if used == 0 {
		return nil, malformed("", "truncated remaining length")
	}
	body := b[1+used:]
	switch {
	case len(body) < rl:
		return nil, malformed("", "packet shorter than its remaining length")
	case len(body) > rl:
		return nil, malformed("", "trailing bytes after the packet")
	}
	return decodeBody(b[0], body, v)
}

// decodeBody decodes the packet whose first fixed header byte is first and
// whose variable header and payload are body.
func decodeBody(first byte, body []byte, v byte) (Packet, error) {
	t := Type(first >> 4)
	flags := first & 0x0F
	if t == CONNECT {
		if flags != 0 {
			return nil, malformed("MQTT-2.2.2-2", "invalid fixed header flags for CONNECT")
		}
		return decodeConnect(body)
	}
	if err := checkVersion(v); err != nil {
		return nil, err
	}
	switch t {
	case PUBLISH:
		return decodePublish(flags, body, v)
	case PUBREL:
		if flags != 0x02 {
			return nil, malformed("MQTT-3.6.1-1", "PUBREL fixed header flags must be 0010")
		}
	case SUBSCRIBE:
		if flags != 0x02 {
			return nil, malformed("MQTT-3.8.1-1", "SUBSCRIBE fixed header flags must be 0010")
		}
	case UNSUBSCRIBE:
		if flags != 0x02 {
			return nil, malformed("MQTT-3.10.1-1", "UNSUBSCRIBE fixed header flags must be 0010")
		}
	case 0:
		return nil, malformed("", "reserved packet type 0")
	case AUTH:
		if v < Version5 {
			return nil, malformed("", "reserved packet type 15 before MQTT 5")
		}
		fallthrough
	default:
		if flags != 0 {
			return nil, malformed("MQTT-2.2.2-2", "invalid fixed header flags for "+t.String())
		}
	}
	d := decoder{b: body, v: v}
	var p Packet
	var err error
	switch t {
	case CONNACK:
		p, err = d.connack()
	case PUBACK, PUBREC:
		p, err = d.ack(t, &rcPuback)
	case PUBREL, PUBCOMP:
		p, err = d.ack(t, &rcPubrel)
	case SUBSCRIBE:
		p, err = d.subscribe()
	case SUBACK:
		p, err = d.suback()
	case UNSUBSCRIBE:
		p, err = d.unsubscribe()
	case UNSUBACK:
		p, err = d.unsuback()
	case PINGREQ:
		p = &Pingreq{}
	case PINGRESP:
		p = &Pingresp{}
	case DISCONNECT:
		p, err = d.disconnect()
	case AUTH:
		p, err = d.auth()
	}
	if err != nil {
		return nil, err
	}
	if d.i != len(d.b) {
		return nil, malformed("", "unexpected bytes at the end of "+t.String())
	}
	return p, nil
}

func decodeConnect(body []byte) (Packet, error) {
	d := decoder{b: body, v: Version311}
	nb, err := d.bin()
	if err != nil {
		return nil, err
	}
	level, err := d.u8()
	if err != nil {
		return nil, err
	}
	p := &Connect{}
	switch string(nb) { // no allocation
	case "MQTT":
		p.ProtocolName = "MQTT"
	case "MQIsdp":
		p.ProtocolName = "MQIsdp"
	default:
		return nil, protoErr("MQTT-3.1.2-1", "unknown protocol name "+strconv.Quote(string(nb)))
	}
	if err := checkProtocol(p.ProtocolName, level); err != nil {
		return nil, err
	}
	v := level
	d.v = v
	p.ProtocolVersion = v
	flags, err := d.u8()
	if err != nil {
		return nil, err
	}
	if flags&0x01 != 0 {
		return nil, malformed("MQTT-3.1.2-3", "CONNECT reserved flag is not 0")
	}
	p.CleanStart = flags&0x02 != 0
	willFlag := flags&0x04 != 0
	willQoS := flags >> 3 & 0x03
	willRetain := flags&0x20 != 0
	p.PasswordFlag = flags&0x40 != 0
	p.UsernameFlag = flags&0x80 != 0
	if !willFlag {
		if willQoS != 0 {
			return nil, malformed("MQTT-3.1.2-11", "will QoS set without the will flag")
		}
		if willRetain {
			return nil, malformed("MQTT-3.1.2-13", "will retain set without the will flag")
		}
	} else if willQoS == 3 {
		return nil, malformed("MQTT-3.1.2-12", "will QoS 3")
	}
	if v < Version5 && p.PasswordFlag && !p.UsernameFlag {
		return nil, malformed("MQTT-3.1.2-22", "password flag set without user name flag")
	}
	if p.KeepAlive, err = d.u16(); err != nil {
		return nil, err
	}
	if v == Version5 {
		if p.Properties, err = d.props(cConnect); err != nil {
			return nil, err
		}
	}
	if p.ClientID, err = d.str(); err != nil {
		return nil, err
	}
	if willFlag {
		w := &Will{QoS: willQoS, Retain: willRetain}
		if v == Version5 {
			if w.Properties, err = d.props(cWill); err != nil {
				return nil, err
			}
		}
		if w.Topic, err = d.str(); err != nil {
			return nil, err
		}
		if w.Payload, err = d.bin(); err != nil {
			return nil, err
		}
		p.Will = w
	}
	if p.UsernameFlag {
		if p.Username, err = d.str(); err != nil {
			return nil, err
		}
	}
	if p.PasswordFlag {
		if p.Password, err = d.bin(); err != nil {
			return nil, err
		}
	}
	if d.i != len(d.b) {
		return nil, malformed("", "unexpected bytes at the end of CONNECT")
	}
	return p, nil
}

func (d *decoder) connack() (Packet, error) {
	ack, err := d.u8()
	if err != nil {
		return nil, err
	}
	rc, err := d.u8()
	if err != nil {
		return nil, err
	}
	p := &Connack{ReasonCode: ReasonCode(rc)}
	if d.v != Version31 {
		if ack&0xFE != 0 {
			return nil, malformed(connackFlagsRule(d.v), "CONNACK reserved flags are not 0")
		}
		p.SessionPresent = ack&0x01 != 0
	}
	if d.v < Version5 {
		if rc > 5 {
			return nil, badReason(CONNACK, p.ReasonCode)
		}
	} else if !rcConnack.has(p.ReasonCode) {
		return nil, badReason(CONNACK, p.ReasonCode)
	}
	if p.SessionPresent && rc != 0 {
		return nil, protoErr(sessionPresentRule(d.v), "session present with a non-zero return code")
	}
	if d.v == Version5 {
		if p.Properties, err = d.props(cConnack); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func connackFlagsRule(v byte) string {
	if v == Version5 {
		return "MQTT-3.2.2-1"
	}
	return ""
}

func decodePublish(flags byte, body []byte, v byte) (Packet, error) {
	p := &Publish{Dup: flags&0x08 != 0, QoS: flags >> 1 & 0x03, Retain: flags&0x01 != 0}
	if p.QoS == 3 {
		return nil, malformed("MQTT-3.3.1-4", "PUBLISH QoS 3")
	}
	if p.Dup && p.QoS == 0 {
		return nil, malformed("MQTT-3.3.1-2", "DUP set on a QoS 0 PUBLISH")
	}
	d := decoder{b: body, v: v}
	if v == Version5 {
		// The topic and the strings of the properties share one allocation.
		d.lazyStart, d.lazyEnd = 0, publishHeaderEnd(body, p.QoS)
	}
	topic, err := d.str()
	if err != nil {
		return nil, err
	}
	tb := body[2 : 2+len(topic)]
	if p.QoS > 0 {
		if p.PacketID, err = d.u16(); err != nil {
			return nil, err
		}
		if p.PacketID == 0 {
			return nil, errZeroID
		}
	}
	if v == Version5 {
		if p.Properties, err = d.props(cPublish); err != nil {
			return nil, err
		}
	}
	if len(tb) == 0 {
		if v < Version5 {
			return nil, &Error{Code: TopicNameInvalid, Rule: "MQTT-4.7.3-1", Msg: "empty topic name"}
		}
		if p.Properties == nil || p.Properties.TopicAlias == nil {
			return nil, protoErr("", "empty topic name without a Topic Alias")
		}
	} else {
		for _, c := range tb {
			if c == '+' || c == '#' {
				return nil, &Error{Code: TopicNameInvalid, Rule: "MQTT-3.3.2-2", Msg: "topic name contains a wildcard"}
			}
		}
		p.Topic = topic
	}
	p.Payload = d.rest()
	return p, nil
}

// publishHeaderEnd returns the end of the variable header (topic, packet
// identifier, properties) of a v5 PUBLISH body, or 0 if it cannot be found.
func publishHeaderEnd(b []byte, qos byte) int {
	if len(b) < 2 {
		return 0
	}
	i := 2 + (int(b[0])<<8 | int(b[1]))
	if qos > 0 {
		i += 2
	}
	if i >= len(b) {
		return 0
	}
	n, used, err := parseVBI(b[i:])
	if err != nil || used == 0 || n > len(b)-i-used {
		return 0
	}
	return i + used + n
}

func (d *decoder) packetID() (uint16, error) {
	id, err := d.u16()
	if err != nil {
		return 0, err
	}
	if id == 0 {
		return 0, errZeroID
	}
	return id, nil
}

func (d *decoder) ack(t Type, set *rcSet) (Packet, error) {
	id, err := d.packetID()
	if err != nil {
		return nil, err
	}
	var rc ReasonCode
	var props *Properties
	if d.v == Version5 && d.i < len(d.b) {
		c, _ := d.u8()
		rc = ReasonCode(c)
		if !set.has(rc) {
			return nil, badReason(t, rc)
		}
		if d.i < len(d.b) {
			if props, err = d.props(ctxBit(t)); err != nil {
				return nil, err
			}
		}
	}
	switch t {
	case PUBACK:
		return &Puback{PacketID: id, ReasonCode: rc, Properties: props}, nil
	case PUBREC:
		return &Pubrec{PacketID: id, ReasonCode: rc, Properties: props}, nil
	case PUBREL:
		return &Pubrel{PacketID: id, ReasonCode: rc, Properties: props}, nil
	default:
		return &Pubcomp{PacketID: id, ReasonCode: rc, Properties: props}, nil
	}
}

func (d *decoder) subscribe() (Packet, error) {
	p := &Subscribe{}
	var err error
	if p.PacketID, err = d.packetID(); err != nil {
		return nil, err
	}
	if d.v == Version5 {
		if p.Properties, err = d.props(cSubscribe); err != nil {
			return nil, err
		}
	}
	for d.i < len(d.b) {
		var s Subscription
		if s.Filter, err = d.str(); err != nil {
			return nil, err
		}
		opts, err := d.u8()
		if err != nil {
			return nil, err
		}
		s.QoS = opts & 0x03
		if d.v < Version5 {
			if opts&0xFC != 0 {
				return nil, malformed("MQTT-3-8.3-4", "SUBSCRIBE reserved bits are not 0")
			}
		} else {
			if opts&0xC0 != 0 {
				return nil, malformed("MQTT-3.8.3-5", "SUBSCRIBE reserved bits are not 0")
			}
			s.NoLocal = opts&0x04 != 0
			s.RetainAsPublished = opts&0x08 != 0
			s.RetainHandling = opts >> 4 & 0x03
			if s.RetainHandling == 3 {
				return nil, protoErr("", "retain handling 3")
			}
			if s.NoLocal && len(s.Filter) >= len(sharePrefix) && s.Filter[:len(sharePrefix)] == sharePrefix {
				return nil, protoErr("MQTT-3.8.3-4", "no local on a shared subscription")
			}
		}
		if s.QoS == 3 {
			return nil, subQoS3(d.v)
		}
		p.Subscriptions = append(p.Subscriptions, s)
	}
	if len(p.Subscriptions) == 0 {
		return nil, protoErr("MQTT-3.8.3-3", "SUBSCRIBE without a topic filter")
	}
	return p, nil
}

func (d *decoder) suback() (Packet, error) {
	p := &Suback{}
	var err error
	if p.PacketID, err = d.packetID(); err != nil {
		return nil, err
	}
	if d.v == Version5 {
		if p.Properties, err = d.props(cSuback); err != nil {
			return nil, err
		}
	}
	codes := d.rest()
	if len(codes) == 0 {
		return nil, protoErr("", "SUBACK without a reason code")
	}
	p.ReasonCodes = make([]ReasonCode, len(codes))
	for i, c := range codes {
		rc := ReasonCode(c)
		if d.v < Version5 {
			if rc > 2 && rc != 0x80 {
				return nil, badReason(SUBACK, rc)
			}
		} else if !rcSuback.has(rc) {
			return nil, badReason(SUBACK, rc)
		}
		p.ReasonCodes[i] = rc
	}
	return p, nil
}

func (d *decoder) unsubscribe() (Packet, error) {
	p := &Unsubscribe{}
	var err error
	if p.PacketID, err = d.packetID(); err != nil {
		return nil, err
	}
	if d.v == Version5 {
		if p.Properties, err = d.props(cUnsubscribe); err != nil {
			return nil, err
		}
	}
	for d.i < len(d.b) {
		f, err := d.str()
		if err != nil {
			return nil, err
		}
		p.Filters = append(p.Filters, f)
	}
	if len(p.Filters) == 0 {
		return nil, protoErr("MQTT-3.10.3-2", "UNSUBSCRIBE without a topic filter")
	}
	return p, nil
}

func (d *decoder) unsuback() (Packet, error) {
	p := &Unsuback{}
	var err error
	if p.PacketID, err = d.packetID(); err != nil {
		return nil, err
	}
	if d.v < Version5 {
		return p, nil
	}
	if p.Properties, err = d.props(cUnsuback); err != nil {
		return nil, err
	}
	codes := d.rest()
	if len(codes) == 0 {
		return nil, protoErr("", "UNSUBACK without a reason code")
	}
	p.ReasonCodes = make([]ReasonCode, len(codes))
	for i, c := range codes {
		if !rcUnsuback.has(ReasonCode(c)) {
			return nil, badReason(UNSUBACK, ReasonCode(c))
		}
		p.ReasonCodes[i] = ReasonCode(c)
	}
	return p, nil
}

// reasonOnly decodes the v5 DISCONNECT and AUTH variable header: an
// optional reason code and optional properties.
func (d *decoder) reasonOnly(t Type, set *rcSet) (ReasonCode, *Properties, error) {
	if d.i == len(d.b) {
		return Success, nil, nil
	}
	c, _ := d.u8()
	rc := ReasonCode(c)
	if !set.has(rc) {
		return 0, nil, badReason(t, rc)
	}
	if d.i == len(d.b) {
		return rc, nil, nil
	}
	props, err := d.props(ctxBit(t))
	return rc, props, err
}

func (d *decoder) disconnect() (Packet, error) {
	if d.v < Version5 {
		return &Disconnect{}, nil
	}
	rc, props, err := d.reasonOnly(DISCONNECT, &rcDisconnect)
	if err != nil {
		return nil, err
	}
	return &Disconnect{ReasonCode: rc, Properties: props}, nil
}

func (d *decoder) auth() (Packet, error) {
	rc, props, err := d.reasonOnly(AUTH, &rcAuth)
	if err != nil {
		return nil, err
	}
	return &Auth{ReasonCode: rc, Properties: props}, nil
}
