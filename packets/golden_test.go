package packets

import (
	"bytes"
	"encoding/hex"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden from the encoder")

// goldenCases hold wire encodings computed by hand from the specification,
// not by the encoder. "|" separates fields for the reader's benefit.
var goldenCases = []struct {
	name string
	v    byte
	p    Packet
	hex  string
}{
	// MQTT 3.1.1 figure 3.6 variable header (name MQTT, level 4, flags 0xCE:
	// user name, password, will QoS 1, will flag, clean session; keep alive 10).
	{"connect-v4-spec", Version311, &Connect{ProtocolName: "MQTT", ProtocolVersion: 4, CleanStart: true, KeepAlive: 10,
		ClientID: "cid", Will: &Will{Topic: "w", Payload: []byte("p"), QoS: 1},
		UsernameFlag: true, Username: "u", PasswordFlag: true, Password: []byte("pw")},
		"10 1C | 0004 4D515454 | 04 | CE | 000A | 0003 636964 | 0001 77 | 0001 70 | 0001 75 | 0002 7077"},
	{"connect-v3", Version31, &Connect{ProtocolName: "MQIsdp", ProtocolVersion: 3, CleanStart: true, KeepAlive: 60, ClientID: "c1"},
		"10 10 | 0006 4D5149736470 | 03 | 02 | 003C | 0002 6331"},
	// MQTT 5 figure 3-8: level 5, properties length 5, Session Expiry Interval (17) = 10.
	{"connect-v5-spec", Version5, &Connect{ProtocolName: "MQTT", ProtocolVersion: 5, CleanStart: true, KeepAlive: 10,
		Properties: &Properties{SessionExpiry: u32p(10)}, UsernameFlag: true, Username: "u", PasswordFlag: true, Password: []byte("p")},
		"10 18 | 0004 4D515454 | 05 | C2 | 000A | 05 11 0000000A | 0000 | 0001 75 | 0001 70"},
	{"connack-v4-session-present", Version311, &Connack{SessionPresent: true}, "20 02 01 00"},
	{"connack-v3-not-authorized", Version31, &Connack{ReasonCode: 5}, "20 02 00 05"},
	{"connack-v5-success", Version5, &Connack{}, "20 03 00 00 00"},
	{"connack-v5-reason-string", Version5, &Connack{ReasonCode: NotAuthorized, Properties: &Properties{ReasonString: "no"}},
		"20 08 | 00 | 87 | 05 1F 0002 6E6F"},
	// MQTT 3.1.1 figure 3.11 variable header: topic "a/b", packet identifier 10.
	{"publish-v4-qos1-spec", Version311, &Publish{QoS: 1, Topic: "a/b", PacketID: 10, Payload: []byte("hi")},
		"32 09 | 0003 612F62 | 000A | 6869"},
	{"publish-v4-qos0-retain-empty", Version311, &Publish{Retain: true, Topic: "a/b"}, "31 05 | 0003 612F62"},
	{"publish-v5-props", Version5, &Publish{Dup: true, QoS: 2, Topic: "t", PacketID: 1, Payload: []byte("x"),
		Properties: &Properties{PayloadFormat: u8p(1), MessageExpiry: u32p(3600), SubscriptionIDs: []uint32{128},
			TopicAlias: u16p(5), User: []UserProperty{{"k", "v"}}}},
		"3C 1B | 0001 74 | 0001 | 14 0101 02 00000E10 0B 8001 23 0005 26 0001 6B 0001 76 | 78"},
	{"puback-v4", Version311, &Puback{PacketID: 10}, "40 02 000A"},
	{"puback-v5-success-short", Version5, &Puback{PacketID: 10}, "40 02 000A"},
	{"puback-v5-no-subscribers", Version5, &Puback{PacketID: 10, ReasonCode: NoMatchingSubscribers}, "40 03 000A 10"},
	{"pubrec-v5-reason-string", Version5, &Pubrec{PacketID: 10, ReasonCode: UnspecifiedError, Properties: &Properties{ReasonString: "r"}},
		"50 08 | 000A | 80 | 04 1F 0001 72"},
	{"pubrel-v4", Version311, &Pubrel{PacketID: 10}, "62 02 000A"},
	{"pubcomp-v3", Version31, &Pubcomp{PacketID: 10}, "70 02 000A"},
	// MQTT 3.1.1 figure 3.22 payload: "a/b" QoS 1, "c/d" QoS 2.
	{"subscribe-v4-spec", Version311, &Subscribe{PacketID: 10, Subscriptions: []Subscription{{Filter: "a/b", QoS: 1}, {Filter: "c/d", QoS: 2}}},
		"82 0E | 000A | 0003 612F62 01 | 0003 632F64 02"},
	{"subscribe-v5-options", Version5, &Subscribe{PacketID: 10, Properties: &Properties{SubscriptionIDs: []uint32{1}},
		Subscriptions: []Subscription{{Filter: "a", QoS: 1, NoLocal: true, RetainAsPublished: true, RetainHandling: 2}}},
		"82 09 | 000A | 02 0B 01 | 0001 61 2D"},
	// MQTT 3.1.1 figure 3.26 payload: 0x00, 0x01, 0x02, 0x80.
	{"suback-v4-spec", Version311, &Suback{PacketID: 10, ReasonCodes: []ReasonCode{0, 1, 2, 0x80}}, "90 06 000A 00 01 02 80"},
	{"suback-v5", Version5, &Suback{PacketID: 10, ReasonCodes: []ReasonCode{GrantedQoS1, NotAuthorized}}, "90 05 000A 00 01 87"},
	// MQTT 3.1.1 figure 3.30 payload: "a/b", "c/d".
	{"unsubscribe-v4-spec", Version311, &Unsubscribe{PacketID: 10, Filters: []string{"a/b", "c/d"}},
		"A2 0C | 000A | 0003 612F62 | 0003 632F64"},
	{"unsubscribe-v5", Version5, &Unsubscribe{PacketID: 10, Filters: []string{"a/b", "c/d"}},
		"A2 0D | 000A | 00 | 0003 612F62 | 0003 632F64"},
	{"unsuback-v4", Version311, &Unsuback{PacketID: 10}, "B0 02 000A"},
	{"unsuback-v5", Version5, &Unsuback{PacketID: 10, ReasonCodes: []ReasonCode{NoSubscriptionExisted}}, "B0 04 000A 00 11"},
	{"pingreq", Version311, &Pingreq{}, "C0 00"},
	{"pingresp", Version5, &Pingresp{}, "D0 00"},
	{"disconnect-v4", Version311, &Disconnect{}, "E0 00"},
	{"disconnect-v5-normal", Version5, &Disconnect{}, "E0 00"},
	{"disconnect-v5-taken-over", Version5, &Disconnect{ReasonCode: SessionTakenOver}, "E0 01 8E"},
	{"disconnect-v5-session-expiry", Version5, &Disconnect{Properties: &Properties{SessionExpiry: u32p(0)}},
		"E0 07 | 00 | 05 11 00000000"},
	{"auth-v5-success", Version5, &Auth{}, "F0 00"},
	{"auth-v5-continue", Version5, &Auth{ReasonCode: ContinueAuthentication, Properties: &Properties{AuthMethod: "m"}},
		"F0 06 | 18 | 04 15 0001 6D"},
}

func TestGolden(t *testing.T) {
	dir := filepath.Join("testdata", "golden")
	if *update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range goldenCases {
		t.Run(tc.name, func(t *testing.T) {
			want := fromHex(t, tc.hex)
			got, err := Encode(tc.p, tc.v)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Encode\n got %X\nwant %X", got, want)
			}
			file := filepath.Join(dir, tc.name+".hex")
			if *update {
				if err := os.WriteFile(file, []byte(hex.EncodeToString(got)+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			g, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("golden file: %v (run go test -update)", err)
			}
			if gb := fromHex(t, strings.TrimSpace(string(g))); !bytes.Equal(gb, want) {
				t.Errorf("golden file %s\n got %X\nwant %X", file, gb, want)
			}
			p, err := Decode(want, tc.v)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(normalize(p), normalize(tc.p)) {
				t.Errorf("Decode\n got %#v\nwant %#v", normalize(p), normalize(tc.p))
			}
		})
	}
}

// TestVariableByteInteger uses the examples of MQTT 3.1.1 table 2.4 / MQTT 5 table 1-1.
func TestVariableByteInteger(t *testing.T) {
	for _, tc := range []struct {
		n   int
		hex string
	}{
		{0, "00"}, {127, "7F"}, {128, "8001"}, {16383, "FF7F"}, {16384, "808001"},
		{2097151, "FFFF7F"}, {2097152, "80808001"}, {268435455, "FFFFFF7F"},
	} {
		want := fromHex(t, tc.hex)
		if got := appendVBI(nil, tc.n); !bytes.Equal(got, want) || vbiLen(tc.n) != len(want) {
			t.Errorf("appendVBI(%d) = %X, want %X", tc.n, got, want)
		}
		n, used, err := parseVBI(want)
		if err != nil || n != tc.n || used != len(want) {
			t.Errorf("parseVBI(%X) = %d, %d, %v", want, n, used, err)
		}
	}
	// Truncated integers report used == 0.
	if _, used, err := parseVBI([]byte{0x80, 0x80}); used != 0 || err != nil {
		t.Error("truncated VBI")
	}
}
