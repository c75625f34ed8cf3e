package conf

import (
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// The expected forms named in error messages.
const (
	wantBool     = "want on, off, true or false"
	wantDuration = "want a duration like 30s, 1m, 2h or 1d"
	wantSize     = "want a size like 512B, 64KB, 8MB or 1GB"
	wantPercent  = "want a percentage like 20%"
	wantNumber   = "want a number"
)

// valueError is the error of a value that does not parse: Msg names the
// value and the expected form, Err is the underlying cause if any.
func valueError(v, want string, err error) *Error {
	return &Error{Msg: fmt.Sprintf("invalid value %q: %s", clip(v), want), Err: err}
}

// ParseBool parses a cuttlefish flag: "on" and "true" are true, "off" and
// "false" are false, in any case. Anything else is an error.
func ParseBool(s string) (bool, error) {
	switch strings.ToLower(s) {
	case "on", "true":
		return true, nil
	case "off", "false":
		return false, nil
	}
	return false, valueError(s, wantBool, nil)
}

// durationUnits maps the unit suffixes a duration may use to their length.
var durationUnits = map[string]time.Duration{
	"ns": time.Nanosecond,
	"us": time.Microsecond,
	"µs": time.Microsecond,
	"ms": time.Millisecond,
	"s":  time.Second,
	"m":  time.Minute,
	"h":  time.Hour,
	"d":  24 * time.Hour,
	"w":  7 * 24 * time.Hour,
}

// unitNames names the units of bare numbers in error messages.
var unitNames = map[time.Duration]string{
	time.Nanosecond:    "nanoseconds",
	time.Microsecond:   "microseconds",
	time.Millisecond:   "milliseconds",
	time.Second:        "seconds",
	time.Minute:        "minutes",
	time.Hour:          "hours",
	24 * time.Hour:     "days",
	7 * 24 * time.Hour: "weeks",
}

// ParseDuration parses a duration: one or more decimal numbers each followed
// by a unit, such as "30s", "1m", "2h", "1d", "1w", "1h30m" or "1.5h". The
// units are ns, us (or µs), ms, s, m, h, d (24h) and w (7d). Signs are not
// accepted.
//
// A bare number ("60") is a number of bare units (EMQ 2.0 writes
// "retry_interval = 60" meaning seconds). When bare is 0 a bare number is
// an error unless it is zero, which is a zero duration in any unit.
func ParseDuration(s string, bare time.Duration) (time.Duration, error) {
	d, ok := parseDuration(s, bare)
	if !ok {
		want := wantDuration
		if name, ok := unitNames[bare]; ok {
			want += ", or a number of " + name
		}
		return 0, valueError(s, want, nil)
	}
	return d, nil
}

func parseDuration(s string, bare time.Duration) (time.Duration, bool) {
	if s == "" {
		return 0, false
	}
	if isDecimal(s) {
		if bare == 0 {
			f, err := strconv.ParseFloat(s, 64)
			return 0, err == nil && f == 0
		}
		return scaleDecimal(s, bare)
	}
	var total time.Duration
	for s != "" {
		i := 0
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
			i++
		}
		num := s[:i]
		s = s[i:]
		j := 0
		for j < len(s) && !(s[j] >= '0' && s[j] <= '9' || s[j] == '.') {
			j++
		}
		unit, ok := durationUnits[s[:j]]
		if !ok || !isDecimal(num) {
			return 0, false
		}
		s = s[j:]
		d, ok := scaleDecimal(num, unit)
		if !ok || total > math.MaxInt64-d {
			return 0, false
		}
		total += d
	}
	return total, true
}

// isDecimal reports whether s is digits with at most one '.' and at least
// one digit.
func isDecimal(s string) bool {
	digits, dots := 0, 0
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] >= '0' && s[i] <= '9':
			digits++
		case s[i] == '.':
			dots++
		default:
			return false
		}
	}
	return digits > 0 && dots <= 1
}

// scaleDecimal returns the decimal number num (as accepted by isDecimal)
// times unit, rounded down to a whole nanosecond. It fails on overflow.
// Fraction digits past the 18th are ignored.
func scaleDecimal(num string, unit time.Duration) (time.Duration, bool) {
	ip, fp, _ := strings.Cut(num, ".")
	u := uint64(unit)
	var n uint64
	for i := 0; i < len(ip); i++ {
		if n > (math.MaxUint64-9)/10 {
			return 0, false
		}
		n = n*10 + uint64(ip[i]-'0')
	}
	hi, total := bits.Mul64(n, u)
	if hi != 0 || total > math.MaxInt64 {
		return 0, false
	}
	if len(fp) > 18 {
		fp = fp[:18]
	}
	if fp != "" {
		var fn, pow uint64 = 0, 1
		for i := 0; i < len(fp); i++ {
			fn = fn*10 + uint64(fp[i]-'0')
			pow *= 10
		}
		// fn < pow, so fn*u/2^64 < pow and Div64 cannot overflow.
		hi, lo := bits.Mul64(fn, u)
		add, _ := bits.Div64(hi, lo, pow)
		total += add
		if total > math.MaxInt64 {
			return 0, false
		}
	}
	return time.Duration(total), true
}

// sizeUnits maps the unit suffixes a size may use (upper-cased) to their
// multiplier. KB is 1024 bytes.
var sizeUnits = map[string]uint64{
	"":   1,
	"B":  1,
	"K":  1 << 10,
	"KB": 1 << 10,
	"M":  1 << 20,
	"MB": 1 << 20,
	"G":  1 << 30,
	"GB": 1 << 30,
	"T":  1 << 40,
	"TB": 1 << 40,
}

// ParseSize parses a size in bytes: a non-negative integer optionally
// followed by a unit B, KB, MB, GB or TB (or K, M, G, T), in any case and
// optionally separated by spaces. KB is 1024 bytes, MB 1024 KB and so on:
// "64KB" is 65536, "512B" and "512" are 512.
func ParseSize(s string) (int64, error) {
	n, ok := parseSize(s)
	if !ok {
		return 0, valueError(s, wantSize, nil)
	}
	return n, nil
}

func parseSize(s string) (int64, bool) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, false
	}
	mult, ok := sizeUnits[strings.ToUpper(strings.TrimLeft(s[i:], " "))]
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(s[:i], 10, 64)
	if err != nil {
		return 0, false
	}
	hi, v := bits.Mul64(n, mult)
	if hi != 0 || v > math.MaxInt64 {
		return 0, false
	}
	return int64(v), true
}

// ParsePercent parses a percentage such as "20%" or "12.5%" into a fraction
// (0.2, 0.125). The number must be finite and not negative; the '%' sign is
// required.
func ParsePercent(s string) (float64, error) {
	num, ok := strings.CutSuffix(s, "%")
	if ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
		if err == nil && f >= 0 && !math.IsInf(f, 0) && isPlainFloat(num) {
			return f / 100, nil
		}
	}
	return 0, valueError(s, wantPercent, nil)
}

// isPlainFloat rejects the spellings strconv.ParseFloat accepts beyond
// plain decimals: "NaN", "Inf", hexadecimal and underscores.
func isPlainFloat(s string) bool {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "-")
	s = strings.TrimPrefix(s, "+")
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-') {
			return false
		}
	}
	return s[0] != 'e' && s[0] != 'E'
}
