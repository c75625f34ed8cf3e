package packets

import (
	"encoding/hex"
	"reflect"
	"strings"
	"testing"
)

func u8p(v byte) *byte      { return &v }
func u16p(v uint16) *uint16 { return &v }
func u32p(v uint32) *uint32 { return &v }
func fromHex(t testing.TB, s string) []byte {
	t.Helper()
	s = strings.Map(func(r rune) rune {
		if r == ' ' || r == '\n' || r == '\t' || r == '|' {
			return -1
		}
		return r
	}, s)
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// normalize returns a deep copy of p in canonical form: empty slices become
// nil and empty Properties become nil, so that packets that encode to the
// same bytes compare equal with reflect.DeepEqual.
func normalize(p Packet) Packet {
	if p == nil {
		return nil
	}
	v := reflect.ValueOf(p)
	c := reflect.New(v.Elem().Type())
	copyNorm(c.Elem(), v.Elem())
	return c.Interface().(Packet)
}

var propsType = reflect.TypeOf(Properties{})

func copyNorm(dst, src reflect.Value) {
	switch src.Kind() {
	case reflect.Pointer:
		if src.IsNil() {
			return
		}
		if src.Type().Elem() == propsType && src.Interface().(*Properties).IsEmpty() {
			return
		}
		n := reflect.New(src.Type().Elem())
		copyNorm(n.Elem(), src.Elem())
		dst.Set(n)
	case reflect.Struct:
		for i := 0; i < src.NumField(); i++ {
			copyNorm(dst.Field(i), src.Field(i))
		}
	case reflect.Slice:
		if src.Len() == 0 {
			return
		}
		n := reflect.MakeSlice(src.Type(), src.Len(), src.Len())
		for i := 0; i < src.Len(); i++ {
			copyNorm(n.Index(i), src.Index(i))
		}
		dst.Set(n)
	default:
		dst.Set(src)
	}
}

// fullProps returns Properties holding every property allowed in context
// ctx (table 2-4 of MQTT 5), with distinct values.
func fullProps(ctx uint16) *Properties {
	p := &Properties{}
	set := func(id byte, f func()) {
		if propAllowed[id]&ctx != 0 {
			f()
		}
	}
	set(propPayloadFormat, func() { p.PayloadFormat = u8p(1) })
	set(propMessageExpiry, func() { p.MessageExpiry = u32p(3600) })
	set(propContentType, func() { p.ContentType = "text/plain; charset=utf-8" })
	set(propResponseTopic, func() { p.ResponseTopic = "reply/to/me" })
	set(propCorrelationData, func() { p.CorrelationData = []byte{0, 1, 2, 0xFF} })
	set(propSubscriptionID, func() {
		if ctx == cSubscribe {
			p.SubscriptionIDs = []uint32{268435455}
		} else {
			p.SubscriptionIDs = []uint32{1, 127, 128, 16384}
		}
	})
	set(propSessionExpiry, func() { p.SessionExpiry = u32p(0xFFFFFFFF) })
	set(propAssignedClientID, func() { p.AssignedClientID = "auto-1234" })
	set(propServerKeepAlive, func() { p.ServerKeepAlive = u16p(30) })
	set(propAuthMethod, func() { p.AuthMethod = "SCRAM-SHA-1" })
	set(propAuthData, func() { p.AuthData = []byte("n,,n=user,r=nonce") })
	set(propRequestProblemInfo, func() { p.RequestProblemInfo = u8p(0) })
	set(propWillDelay, func() { p.WillDelay = u32p(5) })
	set(propRequestResponseInfo, func() { p.RequestResponseInfo = u8p(1) })
	set(propResponseInfo, func() { p.ResponseInfo = "resp/" })
	set(propServerReference, func() { p.ServerReference = "other.example:1883" })
	set(propReasonString, func() { p.ReasonString = "because ✓" })
	set(propReceiveMaximum, func() { p.ReceiveMaximum = u16p(100) })
	set(propTopicAliasMaximum, func() { p.TopicAliasMaximum = u16p(0) })
	set(propTopicAlias, func() { p.TopicAlias = u16p(7) })
	set(propMaximumQoS, func() { p.MaximumQoS = u8p(1) })
	set(propRetainAvailable, func() { p.RetainAvailable = u8p(0) })
	set(propUser, func() { p.User = []UserProperty{{"k", "v"}, {"k", "v2"}, {"", ""}, {"名前", "値"}} })
	set(propMaximumPacketSize, func() { p.MaximumPacketSize = u32p(1 << 20) })
	set(propWildcardSubAvailable, func() { p.WildcardSubAvailable = u8p(1) })
	set(propSubIDAvailable, func() { p.SubIDAvailable = u8p(0) })
	set(propSharedSubAvailable, func() { p.SharedSubAvailable = u8p(1) })
	return p
}

// forVersion returns what p becomes after a trip through the wire format of
// version v: v5-only fields are dropped for v3/v4 and defaults are filled in.
func forVersion(p Packet, v byte) Packet {
	p = normalize(p)
	if c, ok := p.(*Connect); ok {
		if c.ProtocolVersion == 0 {
			c.ProtocolVersion = v
		}
		if c.ProtocolName == "" {
			c.ProtocolName = protocolName(v)
		}
		if c.Username != "" {
			c.UsernameFlag = true
		}
		if c.Password != nil {
			c.PasswordFlag = true
		}
	}
	if v == Version5 {
		return p
	}
	switch x := p.(type) {
	case *Connect:
		x.Properties = nil
		if x.Will != nil {
			x.Will.Properties = nil
		}
	case *Connack:
		x.Properties = nil
		if x.ReasonCode.IsError() {
			x.ReasonCode = ReasonCode(V3ConnackCode(x.ReasonCode))
		}
		if v == Version31 {
			x.SessionPresent = false
		}
	case *Publish:
		x.Properties = nil
	case *Puback:
		x.Properties, x.ReasonCode = nil, 0
	case *Pubrec:
		x.Properties, x.ReasonCode = nil, 0
	case *Pubrel:
		x.Properties, x.ReasonCode = nil, 0
	case *Pubcomp:
		x.Properties, x.ReasonCode = nil, 0
	case *Subscribe:
		x.Properties = nil
		for i := range x.Subscriptions {
			s := &x.Subscriptions[i]
			s.NoLocal, s.RetainAsPublished, s.RetainHandling = false, false, 0
		}
	case *Suback:
		x.Properties = nil
		for i, c := range x.ReasonCodes {
			if c.IsError() {
				x.ReasonCodes[i] = 0x80
			}
		}
	case *Unsubscribe:
		x.Properties = nil
	case *Unsuback:
		x.Properties, x.ReasonCodes = nil, nil
	case *Disconnect:
		x.Properties, x.ReasonCode = nil, 0
	}
	return p
}
