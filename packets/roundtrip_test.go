package packets

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

var allVersions = []byte{Version31, Version311, Version5}

type rtCase struct {
	name     string
	p        Packet
	versions []byte // nil = all
}

func roundTripCases() []rtCase {
	v5 := []byte{Version5}
	long := strings.Repeat("x", 65535)
	return []rtCase{
		{"connect-minimal", &Connect{ClientID: "c"}, nil},
		{"connect-empty-id-clean", &Connect{CleanStart: true, KeepAlive: 60}, nil},
		{"connect-full", &Connect{CleanStart: true, KeepAlive: 0xFFFF, ClientID: "client-é",
			Will:     &Will{Topic: "will/topic", Payload: []byte("gone"), QoS: 2, Retain: true},
			Username: "user", Password: []byte{0, 1, 2}}, nil},
		{"connect-will-qos1-empty-payload", &Connect{ClientID: "c", Will: &Will{Topic: "w", QoS: 1}}, nil},
		{"connect-username-only", &Connect{ClientID: "c", UsernameFlag: true}, nil},
		{"connect-empty-password", &Connect{ClientID: "c", Username: "u", PasswordFlag: true}, nil},
		{"connect-v5-password-only", &Connect{ClientID: "c", Password: []byte("secret")}, v5},
		{"connect-v5-all-props", &Connect{ClientID: "c", CleanStart: true, Properties: fullProps(cConnect),
			Will:     &Will{Topic: "w/t", Payload: []byte("p"), QoS: 1, Properties: fullProps(cWill)},
			Username: "u", Password: []byte("p")}, v5},
		{"connack-accepted", &Connack{}, nil},
		{"connack-session-present", &Connack{SessionPresent: true}, nil},
		{"connack-refused-v3", &Connack{ReasonCode: ReasonCode(ConnRefusedNotAuthorized)}, []byte{Version31, Version311}},
		{"connack-v5-code-mapped", &Connack{ReasonCode: BadUserNameOrPassword}, nil},
		{"connack-v5-all-props", &Connack{SessionPresent: true, Properties: fullProps(cConnack)}, v5},
		{"publish-qos0", &Publish{Topic: "a/b", Payload: []byte("hello")}, nil},
		{"publish-qos0-empty-payload-retain", &Publish{Topic: "a", Retain: true}, nil},
		{"publish-qos1", &Publish{QoS: 1, PacketID: 1, Topic: "a/b/c", Payload: []byte{0}}, nil},
		{"publish-qos2-dup", &Publish{Dup: true, QoS: 2, PacketID: 0xFFFF, Topic: "$SYS/x", Payload: []byte("x")}, nil},
		{"publish-long-topic", &Publish{Topic: long, Payload: bytes.Repeat([]byte{7}, 20000)}, nil},
		{"publish-v5-all-props", &Publish{QoS: 1, PacketID: 9, Topic: "t", Properties: fullProps(cPublish), Payload: []byte("{}")}, v5},
		{"publish-v5-alias-empty-topic", &Publish{Properties: &Properties{TopicAlias: u16p(3)}, Payload: []byte("x")}, v5},
		{"puback", &Puback{PacketID: 1}, nil},
		{"puback-v5-code", &Puback{PacketID: 2, ReasonCode: NoMatchingSubscribers}, v5},
		{"puback-v5-props", &Puback{PacketID: 3, ReasonCode: QuotaExceeded, Properties: fullProps(cPuback)}, v5},
		{"puback-v5-success-props", &Puback{PacketID: 3, Properties: fullProps(cPuback)}, v5},
		{"pubrec", &Pubrec{PacketID: 0x1234}, nil},
		{"pubrec-v5-props", &Pubrec{PacketID: 4, ReasonCode: PayloadFormatInvalid, Properties: fullProps(cPubrec)}, nil},
		{"pubrel", &Pubrel{PacketID: 0x1234}, nil},
		{"pubrel-v5-props", &Pubrel{PacketID: 5, ReasonCode: PacketIdentifierNotFound, Properties: fullProps(cPubrel)}, nil},
		{"pubcomp", &Pubcomp{PacketID: 0x1234}, nil},
		{"pubcomp-v5-props", &Pubcomp{PacketID: 6, ReasonCode: PacketIdentifierNotFound, Properties: fullProps(cPubcomp)}, nil},
		{"subscribe-one", &Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "a/#", QoS: 1}}}, nil},
		{"subscribe-many", &Subscribe{PacketID: 2, Subscriptions: []Subscription{
			{Filter: "a/+/c", QoS: 0}, {Filter: "#", QoS: 2}, {Filter: "$share/g/x", QoS: 1}}}, nil},
		{"subscribe-v5-options", &Subscribe{PacketID: 3, Properties: fullProps(cSubscribe), Subscriptions: []Subscription{
			{Filter: "a", QoS: 2, NoLocal: true, RetainAsPublished: true, RetainHandling: 2},
			{Filter: "b", QoS: 1, RetainHandling: 1},
			{Filter: "$share/g/b", RetainAsPublished: true}}}, nil},
		{"suback", &Suback{PacketID: 1, ReasonCodes: []ReasonCode{0, 1, 2, 0x80}}, nil},
		{"suback-v5-codes", &Suback{PacketID: 1, Properties: fullProps(cSuback),
			ReasonCodes: []ReasonCode{GrantedQoS1, NotAuthorized, WildcardSubscriptionsNotSupported}}, nil},
		{"unsubscribe", &Unsubscribe{PacketID: 7, Filters: []string{"a/b", "c/#"}}, nil},
		{"unsubscribe-v5-props", &Unsubscribe{PacketID: 7, Properties: fullProps(cUnsubscribe), Filters: []string{"x"}}, nil},
		{"unsuback", &Unsuback{PacketID: 7}, []byte{Version31, Version311}},
		{"unsuback-v5", &Unsuback{PacketID: 7, Properties: fullProps(cUnsuback),
			ReasonCodes: []ReasonCode{Success, NoSubscriptionExisted, NotAuthorized}}, nil},
		{"pingreq", &Pingreq{}, nil},
		{"pingresp", &Pingresp{}, nil},
		{"disconnect", &Disconnect{}, nil},
		{"disconnect-v5-code", &Disconnect{ReasonCode: DisconnectWithWill}, nil},
		{"disconnect-v5-props", &Disconnect{ReasonCode: ServerMoved, Properties: fullProps(cDisconnect)}, nil},
		{"auth", &Auth{}, v5},
		{"auth-continue", &Auth{ReasonCode: ContinueAuthentication, Properties: fullProps(cAuth)}, v5},
		{"auth-reauth", &Auth{ReasonCode: ReAuthenticate}, v5},
	}
}

// TestRoundTrip encodes every packet type in every version, decodes the
// bytes and compares with the original (minus what the version cannot carry).
func TestRoundTrip(t *testing.T) {
	for _, tc := range roundTripCases() {
		versions := tc.versions
		if versions == nil {
			versions = allVersions
		}
		for _, v := range versions {
			t.Run(tc.name+"/v"+string('0'+v), func(t *testing.T) {
				b, err := Encode(tc.p, v)
				if err != nil {
					t.Fatalf("Encode: %v", err)
				}
				// Append must append, not overwrite.
				prefix := []byte("prefix")
				b2, err := tc.p.Append(append([]byte{}, prefix...), v)
				if err != nil || !bytes.Equal(b2[:len(prefix)], prefix) || !bytes.Equal(b2[len(prefix):], b) {
					t.Fatalf("Append with prefix differs: %v", err)
				}
				got, err := Decode(b, v)
				if err != nil {
					t.Fatalf("Decode(%x): %v", b, err)
				}
				if got.Type() != tc.p.Type() {
					t.Fatalf("type %v, want %v", got.Type(), tc.p.Type())
				}
				want := forVersion(tc.p, v)
				if !reflect.DeepEqual(normalize(got), want) {
					t.Fatalf("round trip mismatch\n got %#v\nwant %#v", normalize(got), want)
				}
				// Re-encoding the decoded packet gives the same bytes.
				b3, err := Encode(got, v)
				if err != nil || !bytes.Equal(b3, b) {
					t.Fatalf("re-encode differs: %v\n%x\n%x", err, b3, b)
				}
				// The stream reader agrees with Decode.
				r := NewReader(bytes.NewReader(b), 0)
				r.SetVersion(v)
				got2, err := r.ReadPacket()
				if err != nil || !reflect.DeepEqual(normalize(got2), normalize(got)) {
					t.Fatalf("ReadPacket: %v %#v", err, got2)
				}
			})
		}
	}
}

// TestFullPropsCoverAll checks the table of allowed properties: every known
// identifier is used by fullProps somewhere, so the round trips cover them all.
func TestFullPropsCoverAll(t *testing.T) {
	for id := 0; id < 64; id++ {
		if propAllowed[id] == 0 {
			continue
		}
		for ctx := uint16(1); ctx != 0; ctx <<= 1 {
			if propAllowed[id]&ctx == 0 {
				continue
			}
			p := fullProps(ctx)
			n, err := p.size(ctx)
			if err != nil {
				t.Fatalf("size(%s): %v", ctxName(ctx), err)
			}
			b := appendProps(nil, p, n)
			d := decoder{b: b, v: Version5}
			got, err := d.props(ctx)
			if err != nil || !reflect.DeepEqual(got, p) {
				t.Fatalf("props %s: %v\n got %+v\nwant %+v", ctxName(ctx), err, got, p)
			}
			if !bytes.Contains(b, []byte{byte(id)}) {
				t.Fatalf("property 0x%02x missing in %s", id, ctxName(ctx))
			}
		}
	}
}

func TestClone(t *testing.T) {
	if (*Properties)(nil).Clone() != nil {
		t.Fatal("nil Clone")
	}
	p := fullProps(cAll)
	c := p.Clone()
	if !reflect.DeepEqual(p, c) {
		t.Fatalf("Clone differs")
	}
	*c.PayloadFormat = 0
	c.CorrelationData[0] = 9
	c.User[0].Key = "changed"
	c.SubscriptionIDs[0] = 99
	*c.MaximumPacketSize = 1
	if *p.PayloadFormat != 1 || p.CorrelationData[0] != 0 || p.User[0].Key != "k" || p.SubscriptionIDs[0] != 1 || *p.MaximumPacketSize != 1<<20 {
		t.Fatal("Clone shares memory with the original")
	}
}

func TestStrings(t *testing.T) {
	if PUBLISH.String() != "PUBLISH" || AUTH.String() != "AUTH" || Type(0).String() != "Type(0)" {
		t.Fatal("Type.String")
	}
	if NotAuthorized.String() != "not authorized" || ReasonCode(0xFF).String() != "reason code 0xFF" {
		t.Fatal("ReasonCode.String")
	}
	if !UnspecifiedError.IsError() || NoMatchingSubscribers.IsError() {
		t.Fatal("IsError")
	}
	e := &Error{Code: TopicNameInvalid, Rule: "MQTT-3.3.2-2", Msg: "x"}
	if e.Error() != "packets: x [MQTT-3.3.2-2]" {
		t.Fatal(e.Error())
	}
	if !errors.Is(&Error{Code: PacketTooLarge, Msg: "y"}, ErrPacketTooLarge) || errors.Is(e, ErrPacketTooLarge) {
		t.Fatal("errors.Is")
	}
}

func TestV3ConnackCode(t *testing.T) {
	for rc, want := range map[ReasonCode]byte{
		Success: 0, UnsupportedProtocolVersion: 1, ClientIdentifierNotValid: 2, ServerUnavailable: 3,
		ServerBusy: 3, UnspecifiedError: 3, BadUserNameOrPassword: 4, NotAuthorized: 5, Banned: 5,
	} {
		if got := V3ConnackCode(rc); got != want {
			t.Errorf("V3ConnackCode(%v) = %d, want %d", rc, got, want)
		}
	}
}
