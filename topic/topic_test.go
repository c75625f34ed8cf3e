package topic

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	tests := []struct {
		name string
		in   string
		err  error // nil: valid
	}{
		{"simple", "a/b/c", nil},
		{"single level", "a", nil},
		{"only separator", "/", nil},            // two empty levels
		{"leading separator", "/finance", nil},  // "/finance" differs from "finance" [MQTT-4.7.3]
		{"trailing separator", "finance/", nil}, // an empty last level
		{"empty levels", "a//b", nil},           // empty levels are levels
		{"space", "sport/tennis player", nil},   // spaces are allowed
		{"dollar", "$SYS/broker/uptime", nil},   // names may start with '$' (policy is the ACL's job)
		{"unicode", "домой/温度/🌡", nil},          // any well-formed UTF-8 [MQTT-1.5.4-1]
		{"max length", strings.Repeat("a", 65535), nil},
		{"empty", "", ErrEmpty},                              // [MQTT-4.7.3-1]
		{"too long", strings.Repeat("a", 65536), ErrTooLong}, // [MQTT-4.7.3-3]
		{"NUL", "a/\x00/b", ErrNUL},                          // [MQTT-4.7.3-2]
		{"invalid UTF-8", "a/\xff", ErrInvalidUTF8},          // [MQTT-1.5.4-1]
		{"surrogate", "a/\xed\xa0\x80", ErrInvalidUTF8},      // U+D800 encoded [MQTT-1.5.4-1]
		{"plus", "a/+/b", ErrWildcard},                       // [MQTT-3.3.2-2]
		{"hash", "a/#", ErrWildcard},                         // [MQTT-3.3.2-2]
		{"plus inside level", "a+b", ErrWildcard},            // wildcard characters anywhere [MQTT-4.7.1-1]
		{"hash inside level", "sport#", ErrWildcard},         // [MQTT-4.7.1-1]
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateName(tt.in)
			if tt.err == nil {
				if err != nil {
					t.Fatalf("ValidateName(%.40q) = %v, want nil", tt.in, err)
				}
				return
			}
			if !errors.Is(err, tt.err) {
				t.Fatalf("ValidateName(%.40q) = %v, want %v", tt.in, err, tt.err)
			}
		})
	}
}

func TestValidateFilter(t *testing.T) {
	tests := []struct {
		name string
		in   string
		err  error
	}{
		// [MQTT-4.7.1-2] '#' on its own or after a separator, and last.
		{"hash alone", "#", nil},
		{"hash last", "sport/tennis/#", nil},
		{"hash after empty level", "/#", nil},
		{"hash not alone", "sport/tennis#", ErrBadWildcard},
		{"hash not last", "sport/tennis/#/ranking", ErrBadWildcard},
		{"hash twice", "#/#", ErrBadWildcard},
		{"hash before separator", "#/", ErrBadWildcard},
		// [MQTT-4.7.1-3] '+' occupies a whole level, at any level.
		{"plus alone", "+", nil},
		{"plus first", "+/tennis/#", nil},
		{"plus middle", "sport/+/player1", nil},
		{"plus last", "sport/+", nil},
		{"plus twice", "+/+", nil},
		{"plus after empty", "/+", nil},
		{"plus and hash", "+/#", nil},
		{"plus prefix", "sport+", ErrBadWildcard},
		{"plus suffix", "+sport", ErrBadWildcard},
		{"plus in level", "sport/te+nnis", ErrBadWildcard},
		{"double plus", "a/++/b", ErrBadWildcard},
		// Common string rules.
		{"literal", "a/b", nil},
		{"empty levels", "a//b", nil},
		{"dollar", "$SYS/#", nil},
		{"empty", "", ErrEmpty},                               // [MQTT-4.7.3-1]
		{"NUL", "a/\x00", ErrNUL},                             // [MQTT-4.7.3-2]
		{"bad UTF-8", "\xc0\xaf", ErrInvalidUTF8},             // overlong '/' [MQTT-1.5.4-1]
		{"too long", strings.Repeat("a/", 32768), ErrTooLong}, // [MQTT-4.7.3-3]
		// [MQTT-4.8.2-1] "$share/" then a share name of at least one character;
		// [MQTT-4.8.2-2] with no '/', '+' or '#', then '/', then a filter.
		{"shared", "$share/g/a/b", nil},
		{"shared wildcard", "$share/g/+/b/#", nil},
		{"shared hash", "$share/group1/#", nil},
		{"shared empty group", "$share//a", ErrSharedGroup},
		{"shared no filter", "$share/g", ErrSharedGroup},
		{"shared empty filter", "$share/g/", ErrSharedGroup},
		{"shared bare", "$share", ErrSharedGroup},
		{"shared bare slash", "$share/", ErrSharedGroup},
		{"shared plus group", "$share/g+/a", ErrSharedGroup},
		{"shared plus-only group", "$share/+/a", ErrSharedGroup},
		{"shared hash group", "$share/#/a", ErrSharedGroup},
		{"shared bad inner", "$share/g/a#", ErrBadWildcard},
		{"shared inner hash not last", "$share/g/#/a", ErrBadWildcard},
		// EMQ's "$queue/<filter>".
		{"queue", "$queue/a/+", nil},
		{"queue empty", "$queue/", ErrEmpty},
		{"queue bare", "$queue", ErrSharedGroup},
		{"queue bad inner", "$queue/a+", ErrBadWildcard},
		// Not the shared forms: ordinary '$' filters.
		{"share-like", "$shared/a", nil},
		{"queue-like", "$queues", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateFilter(tt.in)
			if tt.err == nil {
				if err != nil {
					t.Fatalf("ValidateFilter(%.40q) = %v, want nil", tt.in, err)
				}
				return
			}
			if !errors.Is(err, tt.err) {
				t.Fatalf("ValidateFilter(%.40q) = %v, want %v", tt.in, err, tt.err)
			}
		})
	}
}

// matchTests are shared by TestMatch, the Tree and the Retained tests.
var matchTests = []struct {
	filter, name string
	want         bool
}{
	// [MQTT-4.7.1-2] "sport/tennis/player1/#" matches the parent and children.
	{"sport/tennis/player1/#", "sport/tennis/player1", true},
	{"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
	{"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
	{"sport/tennis/player1/#", "sport/tennis/player2", false},
	{"sport/#", "sport", true}, // '#' matches the parent level
	{"sport/#", "sports", false},
	{"sport/#", "sport/", true},
	{"#", "sport/tennis", true},
	{"#", "/", true},
	{"#", "a", true},
	{"/#", "/a", true},
	{"/#", "a", false},
	// [MQTT-4.7.1-3] '+' matches exactly one level, possibly empty.
	{"sport/tennis/+", "sport/tennis/player1", true},
	{"sport/tennis/+", "sport/tennis/player2", true},
	{"sport/tennis/+", "sport/tennis/player1/ranking", false},
	{"sport/+", "sport", false},
	{"sport/+", "sport/", true},
	{"+/+", "/finance", true},
	{"/+", "/finance", true},
	{"+", "/finance", false},
	{"+", "finance", true},
	{"+", "", true},
	{"+/tennis/#", "sport/tennis/player1", true},
	{"+/tennis/#", "sport/tennis", true},
	{"+/tennis/#", "sport/golf", false},
	{"+/+/+", "a/b/c", true},
	{"+/+/+", "a/b", false},
	{"+/#", "a", true},
	{"a/+/#", "a", false},
	{"a/+/#", "a/b", true},
	{"a/+/c", "a//c", true}, // empty levels are levels
	// Literal matching: no normalization [MQTT-4.7.3-4], case-sensitive.
	{"a/b", "a/b", true},
	{"a/b", "a/b/", false},
	{"a/b", "/a/b", false},
	{"a//b", "a//b", true},
	{"a//b", "a/b", false},
	{"ACCOUNTS", "Accounts", false},
	{"a/b/c", "a/b", false},
	{"a/b", "a/b/c", false},
	// [MQTT-4.7.2-1] filters starting with a wildcard do not match '$' names.
	{"#", "$SYS/broker", false},
	{"+/monitor/Clients", "$SYS/monitor/Clients", false},
	{"+", "$SYS", false},
	{"$SYS/#", "$SYS/monitor/Clients", true},
	{"$SYS/monitor/+", "$SYS/monitor/Clients", true},
	{"$SYS/#", "$SYS", true},
	{"a/#", "a/$b", true}, // the rule is about the first level only
	{"a/+", "a/$b", true},
	{"$share/g/a", "a", false}, // Match takes filters literally; strip with ParseShared
}

func TestMatch(t *testing.T) {
	for _, tt := range matchTests {
		if got := Match(tt.filter, tt.name); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tt.filter, tt.name, got, tt.want)
		}
		if got := refMatch(tt.filter, tt.name); got != tt.want {
			t.Errorf("refMatch(%q, %q) = %v, want %v (reference is wrong)", tt.filter, tt.name, got, tt.want)
		}
	}
}

// refMatch is a deliberately naive matcher written straight from the spec,
// used as the brute-force oracle in the property tests.
func refMatch(filter, name string) bool {
	if strings.HasPrefix(name, "$") && (strings.HasPrefix(filter, "+") || strings.HasPrefix(filter, "#")) {
		return false
	}
	f := strings.Split(filter, "/")
	n := strings.Split(name, "/")
	for i, fl := range f {
		if fl == "#" && i == len(f)-1 {
			return true // matches the remaining levels, even none
		}
		if i >= len(n) {
			return false
		}
		if fl != "+" && fl != n[i] {
			return false
		}
	}
	return len(f) == len(n)
}

// randLevels builds a random filter (wild) or name from a small alphabet, so
// that random filters and names match often.
func randLevels(r *rand.Rand, wild bool) string {
	levels := []string{"a", "b", "c", ""}
	depth := 1 + r.IntN(4)
	var sb strings.Builder
	for i := range depth {
		if i > 0 {
			sb.WriteByte('/')
		}
		switch x := r.IntN(10); {
		case i == 0 && x == 0:
			sb.WriteString("$SYS")
		case wild && x < 3:
			sb.WriteByte('+')
		case wild && x == 3 && i == depth-1:
			sb.WriteByte('#')
		default:
			sb.WriteString(levels[r.IntN(len(levels))])
		}
	}
	return sb.String()
}

func TestMatchRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 200000 {
		f, n := randLevels(r, true), randLevels(r, false)
		if got, want := Match(f, n), refMatch(f, n); got != want {
			t.Fatalf("Match(%q, %q) = %v, reference says %v", f, n, got, want)
		}
	}
}

func TestParseShared(t *testing.T) {
	tests := []struct {
		in           string
		group, inner string
		ok           bool
	}{
		// [MQTT-4.8.2-1/2] "$share/{ShareName}/{filter}".
		{"$share/g/a/b", "g", "a/b", true},
		{"$share/group1/#", "group1", "#", true},
		{"$share/g/+/x", "g", "+/x", true},
		{"$share/g/", "g", "", true}, // ValidateFilter rejects the empty filter
		{"$share//a", "", "a", true}, // ValidateFilter rejects the empty group
		{"$share/g", "", "$share/g", false},
		{"$share", "", "$share", false},
		// EMQ 2.0 "$queue/{filter}": one group per filter.
		{"$queue/a/b", "$queue", "a/b", true},
		{"$queue/#", "$queue", "#", true},
		// Not shared.
		{"a/b", "", "a/b", false},
		{"$SYS/#", "", "$SYS/#", false},
		{"$queue", "", "$queue", false},
		{"$sharex/g/a", "", "$sharex/g/a", false},
		{"share/g/a", "", "share/g/a", false},
	}
	for _, tt := range tests {
		g, f, ok := ParseShared(tt.in)
		if g != tt.group || f != tt.inner || ok != tt.ok {
			t.Errorf("ParseShared(%q) = (%q, %q, %v), want (%q, %q, %v)", tt.in, g, f, ok, tt.group, tt.inner, tt.ok)
		}
	}
}

func TestHasWildcard(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"a/b", false},
		{"+", true},
		{"#", true},
		{"a/+/b", true},
		{"a/#", true},
		{"/+", true},
		{"a+", false}, // not a whole level (and not a valid filter)
		{"a#", false},
		{"", false},
		{"$SYS/broker", false},
	}
	for _, tt := range tests {
		if got := HasWildcard(tt.in); got != tt.want {
			t.Errorf("HasWildcard(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
