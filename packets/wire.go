package packets

import "unicode/utf8"

// vbiLen returns the number of bytes of the Variable Byte Integer encoding of n.
func vbiLen(n int) int {
	switch {
	case n < 128:
		return 1
	case n < 16384:
		return 2
	case n < 2097152:
		return 3
	default:
		return 4
	}
}

// appendVBI appends n (0..268435455) as a minimal Variable Byte Integer [MQTT-1.5.5-1].
func appendVBI(dst []byte, n int) []byte {
	for {
		b := byte(n & 0x7F)
		n >>= 7
		if n == 0 {
			return append(dst, b)
		}
		dst = append(dst, b|0x80)
	}
}

// parseVBI decodes a Variable Byte Integer at the start of b. It returns the
// value and the number of bytes used; used is 0 when b ends before the
// integer does. Encodings longer than 4 bytes, or longer than necessary, are
// malformed [MQTT-1.5.5-1].
func parseVBI(b []byte) (n, used int, err error) {
	shift := 0
	for i := 0; i < len(b); i++ {
		c := b[i]
		n |= int(c&0x7F) << shift
		if c&0x80 == 0 {
			if c == 0 && i > 0 {
				return 0, 0, malformed("MQTT-1.5.5-1", "variable byte integer not minimally encoded")
			}
			return n, i + 1, nil
		}
		if i == 3 {
			return 0, 0, malformed("MQTT-1.5.5-1", "variable byte integer longer than 4 bytes")
		}
		shift += 7
	}
	return 0, 0, nil
}

// hasWildcard reports whether a topic name contains '+' or '#'.
func hasWildcard(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '+' || s[i] == '#' {
			return true
		}
	}
	return false
}

func utf8Rules(v byte) (illFormed, nul string) {
	if v == Version5 {
		return "MQTT-1.5.4-1", "MQTT-1.5.4-2"
	}
	return "MQTT-1.5.3-1", "MQTT-1.5.3-2"
}

// checkUTF8 validates the content of a UTF-8 Encoded String: well-formed
// UTF-8 (no surrogates) and no U+0000.
func checkUTF8(b []byte, v byte) *Error {
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c == 0 {
			return errNul(v)
		}
		if c >= utf8.RuneSelf {
			if !utf8.Valid(b[i:]) {
				return errIllFormed(v)
			}
			for ; i < len(b); i++ {
				if b[i] == 0 {
					return errNul(v)
				}
			}
			return nil
		}
	}
	return nil
}

// checkUTF8String is checkUTF8 for a string.
func checkUTF8String(s string, v byte) *Error {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == 0 {
			return errNul(v)
		}
		if c >= utf8.RuneSelf {
			if !utf8.ValidString(s[i:]) {
				return errIllFormed(v)
			}
			for ; i < len(s); i++ {
				if s[i] == 0 {
					return errNul(v)
				}
			}
			return nil
		}
	}
	return nil
}

func errNul(v byte) *Error {
	_, rule := utf8Rules(v)
	return malformed(rule, "string contains U+0000")
}

func errIllFormed(v byte) *Error {
	rule, _ := utf8Rules(v)
	return malformed(rule, "string is not well-formed UTF-8")
}

// checkString validates a string for encoding as a UTF-8 Encoded String.
func checkString(s string, v byte) error {
	if len(s) > 65535 {
		return malformed("", "string longer than 65535 bytes")
	}
	if e := checkUTF8String(s, v); e != nil {
		return e
	}
	return nil
}

// ValidUTF8String reports whether s may be sent as an MQTT UTF-8 Encoded
// String: at most 65535 bytes of well-formed UTF-8 without U+0000.
func ValidUTF8String(s string) bool { return checkString(s, Version5) == nil }

func appendString(dst []byte, s string) []byte {
	dst = append(dst, byte(len(s)>>8), byte(len(s)))
	return append(dst, s...)
}

func appendBinary(dst []byte, b []byte) []byte {
	dst = append(dst, byte(len(b)>>8), byte(len(b)))
	return append(dst, b...)
}

const msgShort = "packet shorter than its content"

var errShort = malformed("", msgShort)

// decoder reads the body of one packet.
type decoder struct {
	b []byte
	i int
	v byte
	// s, when not empty, is string(b[sStart:sStart+len(s)]): strings read
	// from that range are substrings of s instead of new allocations.
	s      string
	sStart int
	// [lazyStart, lazyEnd), when not empty, is a range to mirror into s on
	// the first string read from it.
	lazyStart, lazyEnd int
}

// mirrors reports whether s covers b[i:j].
func (d *decoder) mirrors(i, j int) bool {
	return d.s != "" && i >= d.sStart && j <= d.sStart+len(d.s)
}

func (d *decoder) u8() (byte, error) {
	if d.i >= len(d.b) {
		return 0, errShort
	}
	c := d.b[d.i]
	d.i++
	return c, nil
}

func (d *decoder) u16() (uint16, error) {
	if len(d.b)-d.i < 2 {
		return 0, errShort
	}
	v := uint16(d.b[d.i])<<8 | uint16(d.b[d.i+1])
	d.i += 2
	return v, nil
}

func (d *decoder) u32() (uint32, error) {
	if len(d.b)-d.i < 4 {
		return 0, errShort
	}
	b := d.b[d.i:]
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	d.i += 4
	return v, nil
}

func (d *decoder) vbi() (int, error) {
	n, used, err := parseVBI(d.b[d.i:])
	if err != nil {
		return 0, err
	}
	if used == 0 {
		return 0, errShort
	}
	d.i += used
	return n, nil
}

// bin reads Binary Data. The result aliases the body and is non-nil.
func (d *decoder) bin() ([]byte, error) {
	n, err := d.u16()
	if err != nil {
		return nil, err
	}
	if len(d.b)-d.i < int(n) {
		return nil, errShort
	}
	b := d.b[d.i : d.i+int(n) : d.i+int(n)]
	d.i += int(n)
	return b, nil
}

// str reads a UTF-8 Encoded String and validates it.
func (d *decoder) str() (string, error) {
	b, err := d.bin()
	if err != nil {
		return "", err
	}
	if e := checkUTF8(b, d.v); e != nil {
		return "", e
	}
	if len(b) == 0 {
		return "", nil
	}
	i, j := d.i-len(b), d.i
	if !d.mirrors(i, j) && d.lazyEnd > d.lazyStart && i >= d.lazyStart && j <= d.lazyEnd {
		d.s, d.sStart = string(d.b[d.lazyStart:d.lazyEnd]), d.lazyStart
		d.lazyStart, d.lazyEnd = 0, 0
	}
	if d.mirrors(i, j) {
		return d.s[i-d.sStart : j-d.sStart], nil
	}
	return string(b), nil
}

// rest returns the remaining bytes of the body (non-nil, possibly empty).
func (d *decoder) rest() []byte {
	b := d.b[d.i:len(d.b):len(d.b)]
	d.i = len(d.b)
	return b
}
