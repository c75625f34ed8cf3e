package packets

import (
	"errors"
	"strings"
	"testing"
)

// pkt builds a packet from a first byte and a hex body, computing the
// remaining length (the negative cases below are not about that field).
func pkt(t testing.TB, first byte, body string) []byte {
	b := fromHex(t, body)
	return append(appendVBI([]byte{first}, len(b)), b...)
}

// connect5 builds an MQTT 5 CONNECT (clean start, keep alive 60, empty
// client identifier) with the given hex properties (without their length).
func connect5(t testing.TB, props string) []byte {
	p := fromHex(t, props)
	body := "0004 4D515454 05 02 003C" + string(hexOf(appendVBI(nil, len(p)))) + props + "0000"
	return pkt(t, 0x10, body)
}

func hexOf(b []byte) string {
	const digits = "0123456789ABCDEF"
	var sb strings.Builder
	for _, c := range b {
		sb.WriteByte(digits[c>>4])
		sb.WriteByte(digits[c&15])
	}
	return sb.String()
}

// withProps5 builds a v5 packet of type first whose variable header is pre,
// followed by the given properties and then post.
func withProps5(t testing.TB, first byte, pre, props, post string) []byte {
	p := fromHex(t, props)
	return pkt(t, first, pre+hexOf(appendVBI(nil, len(p)))+props+post)
}

type negCase struct {
	name string
	v    byte
	b    []byte
	code ReasonCode
	rule string
}

func negativeCases(t testing.TB) []negCase {
	h := func(s string) []byte { return fromHex(t, s) }
	const v3, v4, v5 = Version31, Version311, Version5
	return []negCase{
		// Remaining length [MQTT-1.5.5-1]: at most 4 bytes, minimal encoding.
		{"rl-5-bytes", v4, h("30 FF FF FF FF 01"), MalformedPacket, "MQTT-1.5.5-1"},
		{"rl-non-minimal", v4, h("C0 80 00"), MalformedPacket, "MQTT-1.5.5-1"},
		{"rl-truncated", v4, h("30 80"), MalformedPacket, ""},
		{"body-truncated", v4, h("32 09 0003 612F62"), MalformedPacket, ""},
		{"trailing-bytes", v4, h("C0 00 00"), MalformedPacket, ""},
		{"one-byte", v4, h("C0"), MalformedPacket, ""},
		{"reserved-type-0", v4, h("00 00"), MalformedPacket, ""},
		{"auth-in-v4", v4, h("F0 00"), MalformedPacket, ""},
		{"auth-in-v3", v3, h("F0 00"), MalformedPacket, ""},
		// Fixed header flags [MQTT-2.2.2-1] [MQTT-2.2.2-2].
		{"pingreq-flags", v4, h("C1 00"), MalformedPacket, "MQTT-2.2.2-2"},
		{"puback-flags", v4, h("42 02 000A"), MalformedPacket, "MQTT-2.2.2-2"},
		{"connect-flags", v4, h("18 0C 0004 4D515454 04 02 003C 0000"), MalformedPacket, "MQTT-2.2.2-2"},
		{"disconnect-flags", v5, h("E8 00"), MalformedPacket, "MQTT-2.2.2-2"},
		{"pubrel-flags", v4, h("60 02 000A"), MalformedPacket, "MQTT-3.6.1-1"},
		{"subscribe-flags", v4, h("80 06 000A 0001 61 00"), MalformedPacket, "MQTT-3.8.1-1"},
		{"unsubscribe-flags", v4, h("A0 05 000A 0001 61"), MalformedPacket, "MQTT-3.10.1-1"},
		// PUBLISH.
		{"publish-qos3", v4, h("36 07 0003 612F62 0001"), MalformedPacket, "MQTT-3.3.1-4"},
		{"publish-dup-qos0", v4, h("38 05 0003 612F62"), MalformedPacket, "MQTT-3.3.1-2"},
		{"publish-plus", v4, h("30 05 0003 612B62"), TopicNameInvalid, "MQTT-3.3.2-2"},
		{"publish-hash", v5, h("30 04 0001 23 00"), TopicNameInvalid, "MQTT-3.3.2-2"},
		{"publish-packet-id-0", v4, h("32 07 0003 612F62 0000"), ProtocolError, "MQTT-2.3.1-1"},
		{"publish-empty-topic-v4", v4, h("30 02 0000"), TopicNameInvalid, "MQTT-4.7.3-1"},
		{"publish-empty-topic-v5-no-alias", v5, h("30 03 0000 00"), ProtocolError, ""},
		{"publish-topic-alias-0", v5, h("30 07 0001 74 03 23 0000"), TopicAliasInvalid, "MQTT-3.3.2-8"},
		{"publish-utf8-ill-formed", v4, h("30 04 0002 C328"), MalformedPacket, "MQTT-1.5.3-1"},
		{"publish-utf8-ill-formed-v5", v5, h("30 05 0002 C328 00"), MalformedPacket, "MQTT-1.5.4-1"},
		{"publish-utf8-surrogate", v4, h("30 05 0003 EDA080"), MalformedPacket, "MQTT-1.5.3-1"},
		{"publish-utf8-overlong", v4, h("30 04 0002 C080"), MalformedPacket, "MQTT-1.5.3-1"},
		{"publish-utf8-nul", v4, h("30 04 0002 6100"), MalformedPacket, "MQTT-1.5.3-2"},
		{"publish-utf8-nul-after-multibyte", v3, h("30 05 0003 C3A900"), MalformedPacket, "MQTT-1.5.3-2"},
		{"publish-topic-past-end", v4, h("30 03 0005 61"), MalformedPacket, ""},
		{"publish-no-packet-id", v4, h("32 03 0001 61"), MalformedPacket, ""},
		{"publish-v5-no-property-length", v5, h("30 03 0001 61"), MalformedPacket, ""},
		{"publish-v5-response-topic-wildcard", v5, withProps5(t, 0x30, "0001 61", "08 0001 23", ""), ProtocolError, "MQTT-3.3.2-14"},
		{"publish-v5-payload-format-2", v5, withProps5(t, 0x30, "0001 61", "01 02", ""), ProtocolError, ""},
		{"publish-v5-subscription-id-0", v5, withProps5(t, 0x30, "0001 61", "0B 00", ""), ProtocolError, ""},
		{"publish-v5-subscription-id-non-minimal", v5, withProps5(t, 0x30, "0001 61", "0B 8100", ""), MalformedPacket, "MQTT-1.5.5-1"},
		{"publish-v5-property-not-allowed", v5, withProps5(t, 0x30, "0001 61", "11 00000001", ""), MalformedPacket, ""},
		{"publish-v5-unknown-property", v5, withProps5(t, 0x30, "0001 61", "04 00", ""), MalformedPacket, ""},
		{"publish-v5-unknown-property-high", v5, withProps5(t, 0x30, "0001 61", "7F 00", ""), MalformedPacket, ""},
		{"publish-v5-duplicate-property", v5, withProps5(t, 0x30, "0001 61", "0101 0101", ""), ProtocolError, ""},
		{"publish-v5-topic-alias-twice", v5, withProps5(t, 0x30, "0001 61", "23 0001 23 0002", ""), ProtocolError, ""},
		{"publish-v5-property-length-past-end", v5, h("30 05 0001 61 09 00"), MalformedPacket, ""},
		{"publish-v5-property-crosses-length", v5, h("30 09 0001 61 02 02 00000001"), MalformedPacket, ""},
		{"publish-v5-user-property-no-value", v5, withProps5(t, 0x30, "0001 61", "26 0001 6B", ""), MalformedPacket, ""},
		{"publish-v5-bad-utf8-in-property", v5, withProps5(t, 0x30, "0001 61", "03 0001 FF", ""), MalformedPacket, "MQTT-1.5.4-1"},
		// CONNECT.
		{"connect-mqtt-level-3", v4, h("10 0C 0004 4D515454 03 02 003C 0000"), UnsupportedProtocolVersion, "MQTT-3.1.2-2"},
		{"connect-mqisdp-level-4", v4, h("10 0E 0006 4D5149736470 04 02 003C 0000"), UnsupportedProtocolVersion, "MQTT-3.1.2-2"},
		{"connect-level-6", v4, h("10 0C 0004 4D515454 06 02 003C 0000"), UnsupportedProtocolVersion, "MQTT-3.1.2-2"},
		{"connect-level-0", v4, h("10 0C 0004 4D515454 00 02 003C 0000"), UnsupportedProtocolVersion, "MQTT-3.1.2-2"},
		{"connect-unknown-name", v4, h("10 0C 0004 4D515458 04 02 003C 0000"), ProtocolError, "MQTT-3.1.2-1"},
		{"connect-reserved-flag", v4, h("10 0C 0004 4D515454 04 03 003C 0000"), MalformedPacket, "MQTT-3.1.2-3"},
		{"connect-will-qos-without-will", v4, h("10 0C 0004 4D515454 04 0A 003C 0000"), MalformedPacket, "MQTT-3.1.2-11"},
		{"connect-will-retain-without-will", v4, h("10 0C 0004 4D515454 04 22 003C 0000"), MalformedPacket, "MQTT-3.1.2-13"},
		{"connect-will-qos3", v4, pkt(t, 0x10, "0004 4D515454 04 1E 003C 0000 0001 77 0000"), MalformedPacket, "MQTT-3.1.2-12"},
		{"connect-password-without-username-v4", v4, h("10 0E 0004 4D515454 04 42 003C 0000 0000"), MalformedPacket, "MQTT-3.1.2-22"},
		{"connect-password-without-username-v3", v3, h("10 10 0006 4D5149736470 03 42 003C 0000 0000"), MalformedPacket, "MQTT-3.1.2-22"},
		{"connect-will-missing", v4, h("10 0C 0004 4D515454 04 06 003C 0000"), MalformedPacket, ""},
		{"connect-username-missing", v4, h("10 0C 0004 4D515454 04 82 003C 0000"), MalformedPacket, ""},
		{"connect-trailing", v4, h("10 0D 0004 4D515454 04 02 003C 0000 00"), MalformedPacket, ""},
		{"connect-keepalive-missing", v4, h("10 08 0004 4D515454 04 02"), MalformedPacket, ""},
		{"connect-client-id-utf8", v4, h("10 0D 0004 4D515454 04 02 003C 0001 FF"), MalformedPacket, "MQTT-1.5.3-1"},
		{"connect-v5-auth-data-without-method", v5, connect5(t, "16 0001 78"), ProtocolError, ""},
		{"connect-v5-topic-alias-not-allowed", v5, connect5(t, "23 0001"), MalformedPacket, ""},
		{"connect-v5-receive-maximum-0", v5, connect5(t, "21 0000"), ProtocolError, ""},
		{"connect-v5-maximum-packet-size-0", v5, connect5(t, "27 00000000"), ProtocolError, ""},
		{"connect-v5-session-expiry-twice", v5, connect5(t, "11 00000001 11 00000002"), ProtocolError, ""},
		{"connect-v5-request-problem-info-2", v5, connect5(t, "17 02"), ProtocolError, ""},
		{"connect-v5-request-response-info-2", v5, connect5(t, "19 02"), ProtocolError, ""},
		{"connect-v5-will-property-not-allowed", v5, pkt(t, 0x10, "0004 4D515454 05 06 003C 00 0000 05 11 00000001 0001 77 0000"), MalformedPacket, ""},
		// CONNACK.
		{"connack-v4-code-6", v4, h("20 02 00 06"), ProtocolError, ""},
		{"connack-v4-session-present-refused", v4, h("20 02 01 05"), ProtocolError, "MQTT-3.2.2-4"},
		{"connack-v5-session-present-refused", v5, h("20 03 01 80 00"), ProtocolError, "MQTT-3.2.2-6"},
		{"connack-v4-reserved-flags", v4, h("20 02 02 00"), MalformedPacket, ""},
		{"connack-v5-reserved-flags", v5, h("20 03 80 00 00"), MalformedPacket, "MQTT-3.2.2-1"},
		{"connack-v5-no-property-length", v5, h("20 02 00 00"), MalformedPacket, ""},
		{"connack-v5-invalid-code", v5, h("20 03 00 10 00"), ProtocolError, ""},
		{"connack-v5-maximum-qos-2", v5, withProps5(t, 0x20, "00 00", "24 02", ""), ProtocolError, ""},
		{"connack-v5-retain-available-2", v5, withProps5(t, 0x20, "00 00", "25 02", ""), ProtocolError, ""},
		{"connack-v5-will-delay-not-allowed", v5, withProps5(t, 0x20, "00 00", "18 00000001", ""), MalformedPacket, ""},
		{"connack-v4-short", v4, h("20 01 00"), MalformedPacket, ""},
		// PUBACK, PUBREC, PUBREL, PUBCOMP.
		{"puback-v4-too-long", v4, h("40 03 000A 00"), MalformedPacket, ""},
		{"puback-short", v4, h("40 01 00"), MalformedPacket, ""},
		{"puback-packet-id-0", v4, h("40 02 0000"), ProtocolError, "MQTT-2.3.1-1"},
		{"pubrec-packet-id-0", v5, h("50 02 0000"), ProtocolError, "MQTT-2.3.1-1"},
		{"puback-v5-invalid-code", v5, h("40 03 000A 92"), ProtocolError, ""},
		{"pubrel-v5-invalid-code", v5, h("62 03 000A 10"), ProtocolError, ""},
		{"pubcomp-v5-invalid-code", v5, h("70 03 000A 80"), ProtocolError, ""},
		{"puback-v5-property-not-allowed", v5, withProps5(t, 0x40, "000A 00", "23 0001", ""), MalformedPacket, ""},
		{"puback-v5-reason-string-twice", v5, withProps5(t, 0x40, "000A 00", "1F 0000 1F 0000", ""), ProtocolError, ""},
		// SUBSCRIBE.
		{"subscribe-no-filter", v4, h("82 02 000A"), ProtocolError, "MQTT-3.8.3-3"},
		{"subscribe-v5-no-filter", v5, h("82 03 000A 00"), ProtocolError, "MQTT-3.8.3-3"},
		{"subscribe-packet-id-0", v4, h("82 06 0000 0001 61 00"), ProtocolError, "MQTT-2.3.1-1"},
		{"subscribe-qos3-v4", v4, h("82 06 000A 0001 61 03"), MalformedPacket, "MQTT-3-8.3-4"},
		{"subscribe-reserved-bits-v4", v4, h("82 06 000A 0001 61 04"), MalformedPacket, "MQTT-3-8.3-4"},
		{"subscribe-reserved-bits-v5", v5, h("82 07 000A 00 0001 61 40"), MalformedPacket, "MQTT-3.8.3-5"},
		{"subscribe-qos3-v5", v5, h("82 07 000A 00 0001 61 03"), ProtocolError, ""},
		{"subscribe-retain-handling-3", v5, h("82 07 000A 00 0001 61 30"), ProtocolError, ""},
		{"subscribe-no-local-shared", v5, h("82 10 000A 00 000A 2473686172652F672F61 04"), ProtocolError, "MQTT-3.8.3-4"},
		{"subscribe-missing-options", v4, h("82 05 000A 0001 61"), MalformedPacket, ""},
		{"subscribe-filter-utf8", v4, h("82 06 000A 0001 FF 00"), MalformedPacket, "MQTT-1.5.3-1"},
		{"subscribe-v5-two-subscription-ids", v5, withProps5(t, 0x82, "000A", "0B 01 0B 02", "0001 61 00"), ProtocolError, ""},
		{"subscribe-v5-subscription-id-0", v5, withProps5(t, 0x82, "000A", "0B 00", "0001 61 00"), ProtocolError, ""},
		// SUBACK.
		{"suback-v4-code-3", v4, h("90 03 000A 03"), ProtocolError, ""},
		{"suback-v4-code-0x87", v4, h("90 03 000A 87"), ProtocolError, ""},
		{"suback-v4-empty", v4, h("90 02 000A"), ProtocolError, ""},
		{"suback-v5-invalid-code", v5, h("90 04 000A 00 03"), ProtocolError, ""},
		// UNSUBSCRIBE and UNSUBACK.
		{"unsubscribe-no-filter", v4, h("A2 02 000A"), ProtocolError, "MQTT-3.10.3-2"},
		{"unsubscribe-v5-no-filter", v5, h("A2 03 000A 00"), ProtocolError, "MQTT-3.10.3-2"},
		{"unsubscribe-packet-id-0", v4, h("A2 05 0000 0001 61"), ProtocolError, "MQTT-2.3.1-1"},
		{"unsubscribe-filter-nul", v4, h("A2 05 000A 0001 00"), MalformedPacket, "MQTT-1.5.3-2"},
		{"unsuback-v4-payload", v4, h("B0 03 000A 00"), MalformedPacket, ""},
		{"unsuback-v5-no-codes", v5, h("B0 03 000A 00"), ProtocolError, ""},
		{"unsuback-v5-invalid-code", v5, h("B0 04 000A 00 01"), ProtocolError, ""},
		// PINGREQ, PINGRESP, DISCONNECT, AUTH.
		{"pingreq-body", v4, h("C0 01 00"), MalformedPacket, ""},
		{"pingresp-body", v5, h("D0 01 00"), MalformedPacket, ""},
		{"disconnect-v4-body", v4, h("E0 01 00"), MalformedPacket, ""},
		{"disconnect-v5-invalid-code", v5, h("E0 01 01"), ProtocolError, ""},
		{"disconnect-v5-session-expiry-twice", v5, withProps5(t, 0xE0, "00", "11 00000001 11 00000001", ""), ProtocolError, ""},
		{"disconnect-v5-property-not-allowed", v5, withProps5(t, 0xE0, "00", "21 0001", ""), MalformedPacket, ""},
		{"auth-v5-invalid-code", v5, h("F0 01 80"), ProtocolError, ""},
		{"auth-v5-flags", v5, h("F1 00"), MalformedPacket, "MQTT-2.2.2-2"},
		{"auth-v5-property-not-allowed", v5, withProps5(t, 0xF0, "18", "11 00000001", ""), MalformedPacket, ""},
	}
}

// TestDecodeInvalid checks that every rule enforced by the decoder rejects
// its byte vector with the expected reason code and rule citation, through
// Decode and through a Reader.
func TestDecodeInvalid(t *testing.T) {
	for _, tc := range negativeCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Decode(tc.b, tc.v)
			if err == nil {
				t.Fatalf("Decode(%X) = %#v, want an error", tc.b, p)
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T %v is not an *Error", err, err)
			}
			if e.Code != tc.code || e.Rule != tc.rule {
				t.Fatalf("got code %v rule %q (%v), want code %v rule %q", e.Code, e.Rule, err, tc.code, tc.rule)
			}
			// The Reader reports the same error, except that a short stream is
			// an unexpected EOF there.
			if tc.name == "trailing-bytes" {
				return // a stream reader sees a valid packet followed by more input
			}
			r := NewReader(strings.NewReader(string(tc.b)), 0)
			r.SetVersion(tc.v)
			_, rerr := r.ReadPacket()
			if rerr == nil {
				t.Fatalf("ReadPacket accepted %X", tc.b)
			}
			if re, ok := AsError(rerr); ok {
				if re.Code != tc.code {
					t.Fatalf("ReadPacket code %v, want %v", re.Code, tc.code)
				}
			} else if !strings.Contains(tc.name, "truncated") && tc.name != "one-byte" {
				t.Fatalf("ReadPacket: %v", rerr)
			}
		})
	}
}

// TestEncodeInvalid checks that the encoder refuses what the decoder would reject.
func TestEncodeInvalid(t *testing.T) {
	long := strings.Repeat("a", 65536)
	for _, tc := range []struct {
		name string
		v    byte
		p    Packet
		code ReasonCode
		rule string
	}{
		{"version-6", 6, &Pingreq{}, UnsupportedProtocolVersion, ""},
		{"version-2", 2, &Publish{Topic: "a"}, UnsupportedProtocolVersion, ""},
		{"publish-qos3", 4, &Publish{QoS: 3, PacketID: 1, Topic: "a"}, MalformedPacket, "MQTT-3.3.1-4"},
		{"publish-dup-qos0", 4, &Publish{Dup: true, Topic: "a"}, MalformedPacket, "MQTT-3.3.1-2"},
		{"publish-packet-id-0", 4, &Publish{QoS: 1, Topic: "a"}, ProtocolError, "MQTT-2.3.1-1"},
		{"publish-wildcard", 4, &Publish{Topic: "a/+"}, TopicNameInvalid, "MQTT-3.3.2-2"},
		{"publish-empty-topic-v4", 4, &Publish{}, TopicNameInvalid, "MQTT-4.7.3-1"},
		{"publish-empty-topic-v5", 5, &Publish{}, ProtocolError, ""},
		{"publish-empty-topic-v4-alias-ignored", 4, &Publish{Properties: &Properties{TopicAlias: u16p(1)}}, TopicNameInvalid, "MQTT-4.7.3-1"},
		{"publish-utf8", 4, &Publish{Topic: "a\xff"}, MalformedPacket, "MQTT-1.5.3-1"},
		{"publish-nul", 5, &Publish{Topic: "a\x00"}, MalformedPacket, "MQTT-1.5.4-2"},
		{"publish-topic-too-long", 4, &Publish{Topic: long}, MalformedPacket, ""},
		{"publish-topic-alias-0", 5, &Publish{Topic: "a", Properties: &Properties{TopicAlias: u16p(0)}}, TopicAliasInvalid, "MQTT-3.3.2-8"},
		{"publish-property-not-allowed", 5, &Publish{Topic: "a", Properties: &Properties{SessionExpiry: u32p(1)}}, MalformedPacket, ""},
		{"publish-subscription-id-0", 5, &Publish{Topic: "a", Properties: &Properties{SubscriptionIDs: []uint32{0}}}, ProtocolError, ""},
		{"publish-payload-format-2", 5, &Publish{Topic: "a", Properties: &Properties{PayloadFormat: u8p(2)}}, ProtocolError, ""},
		{"publish-correlation-too-long", 5, &Publish{Topic: "a", Properties: &Properties{CorrelationData: make([]byte, 65536)}}, MalformedPacket, ""},
		{"publish-user-property-utf8", 5, &Publish{Topic: "a", Properties: &Properties{User: []UserProperty{{"k", "\xff"}}}}, MalformedPacket, "MQTT-1.5.4-1"},
		{"connect-password-without-username", 4, &Connect{Password: []byte("x")}, MalformedPacket, "MQTT-3.1.2-22"},
		{"connect-will-qos3", 4, &Connect{Will: &Will{Topic: "w", QoS: 3}}, MalformedPacket, "MQTT-3.1.2-12"},
		{"connect-version-mismatch", 4, &Connect{ProtocolVersion: 5}, ProtocolError, ""},
		{"connect-bad-name", 4, &Connect{ProtocolName: "MQIsdp"}, UnsupportedProtocolVersion, "MQTT-3.1.2-2"},
		{"connect-unknown-name", 4, &Connect{ProtocolName: "XMPP"}, ProtocolError, "MQTT-3.1.2-1"},
		{"connect-receive-maximum-0", 5, &Connect{Properties: &Properties{ReceiveMaximum: u16p(0)}}, ProtocolError, ""},
		{"connect-maximum-packet-size-0", 5, &Connect{Properties: &Properties{MaximumPacketSize: u32p(0)}}, ProtocolError, ""},
		{"connect-auth-data-without-method", 5, &Connect{Properties: &Properties{AuthData: []byte{1}}}, ProtocolError, ""},
		{"connect-will-property-not-allowed", 5, &Connect{Will: &Will{Topic: "w", Properties: &Properties{SessionExpiry: u32p(1)}}}, MalformedPacket, ""},
		{"connect-will-payload-too-long", 4, &Connect{Will: &Will{Topic: "w", Payload: make([]byte, 65536)}}, MalformedPacket, ""},
		{"connect-client-id-utf8", 4, &Connect{ClientID: "\xc0\x80"}, MalformedPacket, "MQTT-1.5.3-1"},
		{"connack-v4-code-6", 4, &Connack{ReasonCode: 6}, ProtocolError, ""},
		{"connack-session-present-refused", 4, &Connack{SessionPresent: true, ReasonCode: 5}, ProtocolError, "MQTT-3.2.2-4"},
		{"connack-v5-invalid-code", 5, &Connack{ReasonCode: NoMatchingSubscribers}, ProtocolError, ""},
		{"puback-packet-id-0", 4, &Puback{}, ProtocolError, "MQTT-2.3.1-1"},
		{"pubrel-v5-invalid-code", 5, &Pubrel{PacketID: 1, ReasonCode: NotAuthorized}, ProtocolError, ""},
		{"subscribe-empty", 4, &Subscribe{PacketID: 1}, ProtocolError, "MQTT-3.8.3-3"},
		{"subscribe-packet-id-0", 4, &Subscribe{Subscriptions: []Subscription{{Filter: "a"}}}, ProtocolError, "MQTT-2.3.1-1"},
		{"subscribe-qos3", 4, &Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "a", QoS: 3}}}, MalformedPacket, "MQTT-3-8.3-4"},
		{"subscribe-retain-handling-3", 5, &Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "a", RetainHandling: 3}}}, ProtocolError, ""},
		{"subscribe-no-local-shared", 5, &Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "$share/g/a", NoLocal: true}}}, ProtocolError, "MQTT-3.8.3-4"},
		{"subscribe-two-subscription-ids", 5, &Subscribe{PacketID: 1, Properties: &Properties{SubscriptionIDs: []uint32{1, 2}},
			Subscriptions: []Subscription{{Filter: "a"}}}, ProtocolError, ""},
		{"subscribe-subscription-id-too-big", 5, &Subscribe{PacketID: 1, Properties: &Properties{SubscriptionIDs: []uint32{MaxRemainingLength + 1}},
			Subscriptions: []Subscription{{Filter: "a"}}}, ProtocolError, ""},
		{"suback-empty", 4, &Suback{PacketID: 1}, ProtocolError, ""},
		{"suback-v4-code-3", 4, &Suback{PacketID: 1, ReasonCodes: []ReasonCode{3}}, ProtocolError, ""},
		{"suback-v5-invalid-code", 5, &Suback{PacketID: 1, ReasonCodes: []ReasonCode{NoMatchingSubscribers}}, ProtocolError, ""},
		{"unsubscribe-empty", 4, &Unsubscribe{PacketID: 1}, ProtocolError, "MQTT-3.10.3-2"},
		{"unsubscribe-filter-too-long", 4, &Unsubscribe{PacketID: 1, Filters: []string{long}}, MalformedPacket, ""},
		{"unsuback-v5-empty", 5, &Unsuback{PacketID: 1}, ProtocolError, ""},
		{"unsuback-v5-invalid-code", 5, &Unsuback{PacketID: 1, ReasonCodes: []ReasonCode{GrantedQoS1}}, ProtocolError, ""},
		{"disconnect-v5-invalid-code", 5, &Disconnect{ReasonCode: GrantedQoS1}, ProtocolError, ""},
		{"disconnect-v5-property-not-allowed", 5, &Disconnect{Properties: &Properties{TopicAlias: u16p(1)}}, MalformedPacket, ""},
		{"auth-v4", 4, &Auth{}, MalformedPacket, ""},
		{"auth-invalid-code", 5, &Auth{ReasonCode: NotAuthorized}, ProtocolError, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Encode(tc.p, tc.v)
			if err == nil {
				t.Fatalf("Encode = %X, want an error", b)
			}
			e, ok := AsError(err)
			if !ok || e.Code != tc.code || e.Rule != tc.rule {
				t.Fatalf("got %v (code %v), want code %v rule %q", err, e.Code, tc.code, tc.rule)
			}
			if len(b) != 0 {
				t.Fatalf("Encode returned bytes with an error")
			}
		})
	}
}

// TestEncodeTooLarge checks the 268435455 limit on the remaining length [MQTT-1.5.5].
func TestEncodeTooLarge(t *testing.T) {
	_, err := appendHeader(nil, 0x30, MaxRemainingLength+1)
	if !errors.Is(err, ErrPacketTooLarge) {
		t.Fatalf("appendHeader: %v", err)
	}
}
