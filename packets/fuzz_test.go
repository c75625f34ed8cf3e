package packets

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
)

// FuzzDecode decodes arbitrary bytes as versions 3, 4 and 5. Decoding must
// never panic and must fail with an *Error; a packet that decodes must
// encode, and the encoding must decode to an equal packet and re-encode to
// the same bytes.
func FuzzDecode(f *testing.F) {
	for _, tc := range goldenCases {
		b, err := Encode(tc.p, tc.v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, tc.v)
	}
	for _, tc := range negativeCases(f) {
		f.Add(tc.b, tc.v)
	}
	f.Fuzz(func(t *testing.T, b []byte, v byte) {
		v = Version31 + v%3
		p, err := Decode(b, v)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %T %v is not an *Error", err, err)
			}
			if p != nil {
				t.Fatal("packet returned with an error")
			}
			return
		}
		ev := v
		if c, ok := p.(*Connect); ok {
			ev = c.ProtocolVersion
		}
		enc, err := Encode(p, ev)
		if err != nil {
			t.Fatalf("decoded %#v but cannot encode it: %v", p, err)
		}
		p2, err := Decode(enc, ev)
		if err != nil {
			t.Fatalf("re-decode of %X: %v", enc, err)
		}
		if !reflect.DeepEqual(normalize(p), normalize(p2)) {
			t.Fatalf("round trip differs\n got %#v\nwant %#v", normalize(p2), normalize(p))
		}
		enc2, err := Encode(p2, ev)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("re-encode differs: %v", err)
		}
		// The stream reader agrees with Decode.
		r := NewReader(bytes.NewReader(b), 0)
		r.SetVersion(v)
		p3, err := r.ReadPacket()
		if err != nil || !reflect.DeepEqual(normalize(p3), normalize(p)) {
			t.Fatalf("ReadPacket: %v", err)
		}
	})
}

// TestWriteFuzzCorpus writes the seed corpus committed under
// testdata/fuzz/FuzzDecode when run with -update.
func TestWriteFuzzCorpus(t *testing.T) {
	if !*update {
		t.Skip("run with -update to rewrite the seed corpus")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte, v byte) {
		s := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\nbyte(%s)\n", strconv.Quote(string(b)), strconv.QuoteRune(rune(v)))
		if err := os.WriteFile(filepath.Join(dir, "seed-"+name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range goldenCases {
		b, _ := Encode(tc.p, tc.v)
		write(tc.name, b, tc.v)
	}
	for _, tc := range roundTripCases() {
		if tc.name == "publish-long-topic" {
			continue
		}
		b, err := Encode(tc.p, Version5)
		if err == nil {
			write("rt-"+tc.name, b, Version5)
		}
	}
	for _, tc := range negativeCases(t) {
		write("bad-"+tc.name, tc.b, tc.v)
	}
}
