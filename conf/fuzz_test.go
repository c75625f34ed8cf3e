package conf_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/emqgo/broker/conf"
)

// FuzzParse checks that Parse never panics, that it fails only with
// *conf.Error values, and that a Map it returns survives a round trip
// through Map.String: the text parses back to the same keys and values in
// the same order, and formats to the same text again.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"emq.conf", "emq_auth_mysql.conf"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := conf.ParseString(s, "fuzz.conf")
		if err != nil {
			for _, e := range unjoin(err) {
				var ce *conf.Error
				if !errors.As(e, &ce) {
					t.Fatalf("error %T is not a *conf.Error: %v", e, e)
				}
				if ce.File != "fuzz.conf" || ce.Line < 1 {
					t.Fatalf("error without position: %#v", ce)
				}
			}
			if m.Len() != 0 {
				t.Fatalf("non-empty Map on error")
			}
			return
		}
		for _, e := range m.Entries() {
			if !conf.ValidKey(e.Key) {
				t.Fatalf("parsed invalid key %q", e.Key)
			}
			if e.File != "fuzz.conf" || e.Line < 1 {
				t.Fatalf("entry without position: %+v", e)
			}
		}
		out := m.String()
		m2, err := conf.ParseString(out, "fuzz.conf")
		if err != nil {
			t.Fatalf("String output does not parse: %v\ninput: %q\noutput: %q", err, s, out)
		}
		e1, e2 := m.Entries(), m2.Entries()
		if len(e1) != len(e2) {
			t.Fatalf("round trip: %d entries, then %d\noutput: %q", len(e1), len(e2), out)
		}
		for i := range e1 {
			if e1[i].Key != e2[i].Key || e1[i].Value != e2[i].Value {
				t.Fatalf("round trip: entry %d %q = %q became %q = %q\noutput: %q", i, e1[i].Key, e1[i].Value, e2[i].Key, e2[i].Value, out)
			}
			if e2[i].Line != i+1 {
				t.Fatalf("round trip: entry %d on line %d", i, e2[i].Line)
			}
		}
		if out2 := m2.String(); out2 != out {
			t.Fatalf("String not stable:\n%q\n%q", out, out2)
		}
		// Decoding arbitrary entries must not panic either.
		var v fuzzTarget
		_ = m.Decode(&v)
		_ = m.Sub("a").DecodeKnown(&v)
	})
}

type fuzzTarget struct {
	S   string            `conf:"s"`
	B   *bool             `conf:"b"`
	I   int8              `conf:"i,inf0"`
	U   uint16            `conf:"u,size"`
	F   float32           `conf:"f,percent"`
	D   time.Duration     `conf:"d,unit=w,inf0"`
	L   []int             `conf:"l"`
	N   []string          `conf:"n,list"`
	G   []*fuzzGroup      `conf:"g"`
	M   map[string]string `conf:"m"`
	MG  map[string]fuzzGroup
	Sub struct {
		fuzzGroup
		Raw conf.Map `conf:"raw"`
	} `conf:"a"`
	MG2 map[string]*fuzzGroup `conf:"mg"`
}

type fuzzGroup struct {
	Self string        `conf:"."`
	X    uint64        `conf:"x"`
	Y    time.Duration `conf:"y"`
}

// unjoin returns the errors joined in err, or err alone.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
