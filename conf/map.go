package conf

import (
	"fmt"
	"strings"
)

// Entry is one "key = value" setting and where it came from.
type Entry struct {
	Key   string // dot-separated key, relative to the Map it was read from
	Value string // the value, trimmed and unquoted
	File  string // file name given to Parse, "" for programmatic entries
	Line  int    // 1-based line number, 0 for programmatic entries
}

// item is an Entry plus the part of its key that Sub removed, so that
// errors can name the key as it is written in the file.
type item struct {
	Entry
	pre string
}

func (it item) fullKey() string { return it.pre + it.Key }

// Map is an ordered set of key = value entries, each remembering the file
// and line it came from.
//
// Entries are kept in the order their keys first appeared. A key set again
// later (in the same file, by Merge or by With) keeps its place but takes
// the later value and the later position, as cuttlefish does.
//
// A Map is immutable: Sub, Merge and With return new Maps and never change
// the receiver, so a Map may be shared between goroutines. The zero Map is
// empty and ready to use.
type Map struct {
	items []item
	index map[string]int // key -> position in items
}

// set adds or replaces an entry in place. It must only be used on a Map that
// is not yet visible to callers (during Parse, or on a fresh clone).
func (m *Map) set(it item) {
	if i, ok := m.index[it.Key]; ok {
		m.items[i] = it
		return
	}
	if m.index == nil {
		m.index = make(map[string]int)
	}
	m.index[it.Key] = len(m.items)
	m.items = append(m.items, it)
}

func (m Map) clone(extra int) Map {
	c := Map{
		items: make([]item, len(m.items), len(m.items)+extra),
		index: make(map[string]int, len(m.items)+extra),
	}
	copy(c.items, m.items)
	for k, i := range m.index {
		c.index[k] = i
	}
	return c
}

// Get returns the value of key and whether it is set.
func (m Map) Get(key string) (string, bool) {
	i, ok := m.index[key]
	if !ok {
		return "", false
	}
	return m.items[i].Value, true
}

// Entry returns the entry of key and whether it is set.
func (m Map) Entry(key string) (Entry, bool) {
	i, ok := m.index[key]
	if !ok {
		return Entry{}, false
	}
	return m.items[i].Entry, true
}

// Keys returns the keys in the order they first appeared.
func (m Map) Keys() []string {
	keys := make([]string, len(m.items))
	for i, it := range m.items {
		keys[i] = it.Key
	}
	return keys
}

// Entries returns a copy of the entries in the order their keys first
// appeared.
func (m Map) Entries() []Entry {
	es := make([]Entry, len(m.items))
	for i, it := range m.items {
		es[i] = it.Entry
	}
	return es
}

// Len returns the number of distinct keys.
func (m Map) Len() int { return len(m.items) }

// Sub returns the entries whose key starts with prefix, with the prefix
// removed: on a Map holding "auth.mysql.server" and "auth.mysql.pool",
// Sub("auth.mysql.") holds "server" and "pool". A prefix is always a
// whole number of key segments, so Sub("auth.mysql") is the same as
// Sub("auth.mysql.") and never matches "auth.mysqlx.server"; a key equal to
// the prefix itself ("auth.mysql") is not included. Sub("") returns m.
//
// Entries keep their file and line, and errors reported by Decode on the
// returned Map name keys in full, as they are written in the file.
func (m Map) Sub(prefix string) Map {
	if prefix == "" {
		return m
	}
	if !strings.HasSuffix(prefix, ".") {
		prefix += "."
	}
	var s Map
	for _, it := range m.items {
		rest, ok := strings.CutPrefix(it.Key, prefix)
		if !ok || rest == "" {
			continue
		}
		it.pre += prefix
		it.Key = rest
		s.set(it)
	}
	return s
}

// Merge returns a new Map holding m's entries overridden and extended by
// over's: a key in both takes over's value and position but keeps its place
// in m's order; keys only in over follow, in over's order. A typical use is
// defaults.Merge(fileConf).
func (m Map) Merge(over Map) Map {
	c := m.clone(len(over.items))
	for _, it := range over.items {
		c.set(it)
	}
	return c
}

// With returns a copy of m with key set to value, for programmatic
// overrides (a command-line flag, a test). The entry has no file and line.
// With does not check the key; one that ValidKey rejects will not survive a
// round trip through String and Parse.
func (m Map) With(key, value string) Map {
	c := m.clone(1)
	c.set(item{Entry: Entry{Key: key, Value: value}})
	return c
}

// String formats m in the format Parse reads: one "key = value" line per
// entry, in order. A value is written in double quotes when it would
// otherwise not read back the same: when it is empty, starts with a double
// quote, has leading or trailing white space, or contains a line break.
func (m Map) String() string {
	var b strings.Builder
	for _, it := range m.items {
		b.WriteString(it.Key)
		b.WriteString(" = ")
		b.WriteString(FormatValue(it.Value))
		b.WriteByte('\n')
	}
	return b.String()
}

// Errorf returns an *Error positioned at key's entry (its file, line and
// full key), with the message formatted from format and args. It is for
// checks Decode cannot do, such as "password_hash: unknown hash". If key is
// not set, the error names just the key. Errorf wraps an error argument
// given with %w.
func (m Map) Errorf(key, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	e := &Error{Key: key, Msg: err.Error(), Err: errorsUnwrap(err)}
	if i, ok := m.index[key]; ok {
		it := m.items[i]
		e.File, e.Line, e.Key = it.File, it.Line, it.fullKey()
	}
	return e
}

// errorsUnwrap returns what err wraps, if anything (a %w argument).
func errorsUnwrap(err error) error {
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return u.Unwrap()
	case interface{ Unwrap() []error }:
		if es := u.Unwrap(); len(es) == 1 {
			return es[0]
		}
		return err
	}
	return nil
}

// IsOff reports whether v is one of cuttlefish's ways of saying a feature is
// off: "off", "false", "disable", "disabled" or the empty string. Case and
// surrounding white space are ignored.
func IsOff(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "off", "false", "disable", "disabled", "":
		return true
	}
	return false
}

// ValidKey reports whether k is a valid key: one or more non-empty segments
// separated by dots, each made of ASCII letters, digits, '_', '-' and '$'.
func ValidKey(k string) bool {
	if k == "" {
		return false
	}
	dot := true // at the start of a segment
	for i := 0; i < len(k); i++ {
		c := k[i]
		switch {
		case c == '.':
			if dot {
				return false
			}
			dot = true
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '-', c == '$':
			dot = false
		default:
			return false
		}
	}
	return !dot
}
