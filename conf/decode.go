package conf

import (
	"cmp"
	"encoding"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Decode fills the struct pointed to by v from m, using the `conf:"..."`
// tags of its fields. See the package documentation for the tags and the
// value forms.
//
// Keys that are missing leave their field as it was, so callers fill v with
// defaults first. A key that no field matches is an error, and so is a value
// that does not parse; Decode reports all of them, each an *Error naming
// file, line and key, joined with errors.Join in the order of the entries.
// Fields are set even when other fields fail; a field whose value fails
// keeps its old value.
//
// Decode never writes into a map or through a pointer it finds in v: it
// sets the field to a new map or pointer holding the old contents plus the
// decoded values, so a struct of defaults copied by value is left as it
// was.
//
// A mistake in v's type (an unsupported field type, a malformed tag, an
// option that does not fit the field) is reported as a plain error starting
// with "conf: ".
func (m Map) Decode(v any) error { return m.decode(v, false) }

// DecodeKnown is Decode, except that keys no field matches are ignored. It
// is for reading the part of a larger file that one component cares about.
func (m Map) DecodeKnown(v any) error { return m.decode(v, true) }

var (
	durationType        = reflect.TypeFor[time.Duration]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	mapType             = reflect.TypeFor[Map]()
)

// opts are the options of a field's tag.
type opts struct {
	inf0    bool          // "infinity" decodes as 0
	size    bool          // integer sizes with units: 64KB
	percent bool          // float percentages: 20% -> 0.2
	list    bool          // numbered keys: name.1, name.2.field
	isMap   bool          // every key under name
	unit    time.Duration // unit of bare numbers in durations
}

// spec describes one decodable field of a struct type.
type spec struct {
	index int
	name  string // key segment(s), "." for the enclosing struct's own key
	opts  opts
	embed bool // untagged embedded struct: its fields are at the same level
}

type decoder struct {
	m     Map
	used  []bool // by position in m.items
	specs map[reflect.Type][]spec
	errs  []posError
}

// posError is an error and the position of the entry it is about, for
// sorting; -1 for mistakes in the Go type.
type posError struct {
	pos int
	err error
}

func (m Map) decode(v any, known bool) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("conf: Decode needs a non-nil pointer to a struct, not %T", v)
	}
	d := &decoder{
		m:     m,
		used:  make([]bool, len(m.items)),
		specs: make(map[reflect.Type][]spec),
	}
	d.checkTop(rv.Elem().Type())
	if len(d.errs) > 0 { // the type is broken: report only that
		return d.join()
	}
	d.structAt(rv.Elem(), "")
	if !known {
		for i := range m.items {
			if !d.used[i] {
				d.errs = append(d.errs, posError{i, d.entryError(i, &Error{Msg: "unknown key"})})
			}
		}
	}
	return d.join()
}

func (d *decoder) join() error {
	slices.SortStableFunc(d.errs, func(a, b posError) int { return cmp.Compare(a.pos, b.pos) })
	var errs []error
	seen := make(map[string]bool)
	for _, e := range d.errs {
		if s := e.err.Error(); !seen[s] {
			seen[s] = true
			errs = append(errs, e.err)
		}
	}
	return errors.Join(errs...)
}

// checkTop checks the struct type Decode was given and the types it
// reaches, including that no field of the top level (or of an untagged
// struct embedded in it) uses the name ".", which needs an enclosing key.
func (d *decoder) checkTop(t reflect.Type) {
	for _, s := range d.specsOf(t) {
		f := t.Field(s.index)
		switch {
		case s.embed:
			d.checkTop(f.Type)
		case s.name == ".":
			d.typeError(t, f, `tag "." used outside a nested struct`)
		}
	}
}

// typeError records a mistake in the Go type being decoded into.
func (d *decoder) typeError(t reflect.Type, f reflect.StructField, format string, args ...any) {
	d.errs = append(d.errs, posError{-1, fmt.Errorf("conf: %s.%s: %s", t, f.Name, fmt.Sprintf(format, args...))})
}

// entryError positions e at entry i.
func (d *decoder) entryError(i int, e *Error) *Error {
	it := d.m.items[i]
	e.File, e.Line, e.Key = it.File, it.Line, it.fullKey()
	return e
}

func (d *decoder) fail(i int, e *Error) {
	d.errs = append(d.errs, posError{i, d.entryError(i, e)})
}

// lookup returns the position of key and marks it used.
func (d *decoder) lookup(key string) (int, bool) {
	i, ok := d.m.index[key]
	if ok {
		d.used[i] = true
	}
	return i, ok
}

// isScalar reports whether t decodes from a single value.
func isScalar(t reflect.Type) bool {
	if t == durationType || reflect.PointerTo(t).Implements(textUnmarshalerType) {
		return true
	}
	switch t.Kind() {
	case reflect.String, reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

// isGroup reports whether t is a struct or pointer to struct decoded from
// several keys.
func isGroup(t reflect.Type) bool {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Kind() == reflect.Struct && !isScalar(t) && t != mapType
}

// specsOf returns the decodable fields of struct type t, checking the tags
// and field types once per type and recording mistakes.
func (d *decoder) specsOf(t reflect.Type) []spec {
	if s, ok := d.specs[t]; ok {
		return s
	}
	d.specs[t] = nil // stops recursion through recursive types
	var specs []spec
	for i := range t.NumField() {
		f := t.Field(i)
		tag, tagged := f.Tag.Lookup("conf")
		if tag == "-" {
			continue
		}
		if !tagged {
			if f.Anonymous {
				ft := f.Type
				if ft.Kind() == reflect.Pointer && isGroup(ft) {
					d.typeError(t, f, "embedded pointer without a conf tag is not supported; embed the struct by value or give it a tag")
					continue
				}
				if ft.Kind() == reflect.Struct && !isScalar(ft) {
					specs = append(specs, spec{index: i, embed: true})
					d.specsOf(ft)
				}
			}
			continue
		}
		if !f.IsExported() {
			d.typeError(t, f, "unexported field has a conf tag")
			continue
		}
		s, ok := d.parseTag(t, f, tag)
		if !ok {
			continue
		}
		s.index = i
		specs = append(specs, s)
	}
	d.specs[t] = specs
	return specs
}

func (d *decoder) parseTag(t reflect.Type, f reflect.StructField, tag string) (spec, bool) {
	name, rest, _ := strings.Cut(tag, ",")
	s := spec{name: name}
	if name == "" {
		d.typeError(t, f, "conf tag %q has no key name", tag)
		return s, false
	}
	if name != "." && !ValidKey(name) {
		d.typeError(t, f, "conf tag %q: invalid key name %q", tag, name)
		return s, false
	}
	if rest != "" {
		for o := range strings.SplitSeq(rest, ",") {
			switch {
			case o == "inf0":
				s.opts.inf0 = true
			case o == "size":
				s.opts.size = true
			case o == "percent":
				s.opts.percent = true
			case o == "list":
				s.opts.list = true
			case o == "map":
				s.opts.isMap = true
			case strings.HasPrefix(o, "unit="):
				u, ok := durationUnits[o[len("unit="):]]
				if !ok {
					d.typeError(t, f, "conf tag %q: unknown unit %q (want ns, us, ms, s, m, h, d or w)", tag, o[len("unit="):])
					return s, false
				}
				s.opts.unit = u
			default:
				d.typeError(t, f, "conf tag %q: unknown option %q", tag, o)
				return s, false
			}
		}
	}
	if msg := d.checkType(f.Type, s.opts); msg != "" {
		d.typeError(t, f, "%s", msg)
		return s, false
	}
	return s, true
}

// checkType checks that a field of type ft can be decoded with o, returning
// what is wrong if not.
func (d *decoder) checkType(ft reflect.Type, o opts) string {
	if ft == mapType {
		if o != (opts{}) {
			return "options do not apply to a conf.Map field"
		}
		return ""
	}
	// Peel the containers down to the leaf type the value options apply to.
	leaf := ft
	if leaf.Kind() == reflect.Pointer && !isScalar(leaf) {
		leaf = leaf.Elem()
		if k := leaf.Kind(); k == reflect.Pointer || k == reflect.Slice && !isScalar(leaf) || k == reflect.Map {
			return fmt.Sprintf("unsupported type %s", ft)
		}
	}
	container := ""
	switch {
	case isScalar(leaf):
	case leaf.Kind() == reflect.Slice:
		container = "slice"
		leaf = leaf.Elem()
	case leaf.Kind() == reflect.Map:
		container = "map"
		if leaf.Key().Kind() != reflect.String {
			return fmt.Sprintf("unsupported type %s: map keys must be strings", ft)
		}
		leaf = leaf.Elem()
	}
	if o.list && container != "slice" {
		return `option "list" needs a slice field`
	}
	if o.isMap && container != "map" {
		return `option "map" needs a map field`
	}
	if container != "" {
		if leaf.Kind() == reflect.Pointer && isGroup(leaf) {
			leaf = leaf.Elem()
		}
		if !isScalar(leaf) && !isGroup(leaf) {
			return fmt.Sprintf("unsupported type %s", ft)
		}
	}
	if isGroup(leaf) {
		if o.inf0 || o.size || o.percent || o.unit != 0 {
			return fmt.Sprintf("value options do not apply to struct type %s", leaf)
		}
		d.specsOf(leaf)
		return ""
	}
	if !isScalar(leaf) {
		return fmt.Sprintf("unsupported type %s", ft)
	}
	textual := reflect.PointerTo(leaf).Implements(textUnmarshalerType)
	isInt := !textual && leaf != durationType && (isSigned(leaf.Kind()) || isUnsigned(leaf.Kind()))
	isFloat := !textual && (leaf.Kind() == reflect.Float32 || leaf.Kind() == reflect.Float64)
	isDur := !textual && leaf == durationType
	switch {
	case o.size && !isInt:
		return `option "size" needs an integer field`
	case o.percent && !isFloat:
		return `option "percent" needs a float field`
	case o.unit != 0 && !isDur:
		return `option "unit" needs a time.Duration field`
	case o.inf0 && !isInt && !isDur:
		return `option "inf0" needs an integer or time.Duration field`
	}
	return ""
}

func isSigned(k reflect.Kind) bool {
	return k >= reflect.Int && k <= reflect.Int64
}

func isUnsigned(k reflect.Kind) bool {
	return k >= reflect.Uint && k <= reflect.Uintptr
}

// structAt decodes the keys under prefix ("" or ending in '.') into the
// struct v.
func (d *decoder) structAt(v reflect.Value, prefix string) {
	for _, s := range d.specsOf(v.Type()) {
		fv := v.Field(s.index)
		if s.embed {
			d.structAt(fv, prefix)
			continue
		}
		key := prefix + s.name
		if s.name == "." {
			key = strings.TrimSuffix(prefix, ".")
			if key == "" { // reported by checkTop
				continue
			}
		}
		d.field(fv, key, s.opts)
	}
}

// field decodes key (and, for groups, the keys under it) into fv.
func (d *decoder) field(fv reflect.Value, key string, o opts) {
	t := fv.Type()
	switch {
	case t == mapType:
		if sub := d.m.Sub(key); sub.Len() > 0 {
			for _, it := range sub.items {
				d.lookup(key + "." + it.Key)
			}
			fv.Set(reflect.ValueOf(sub))
		}
	case isScalar(t):
		if i, ok := d.lookup(key); ok {
			d.scalar(fv, i, o)
		}
	case t.Kind() == reflect.Pointer:
		et := t.Elem()
		if isScalar(et) {
			if i, ok := d.lookup(key); ok {
				p := reflect.New(et)
				if d.scalar(p.Elem(), i, o) {
					fv.Set(p)
				}
			}
			return
		}
		if d.hasUnder(key) {
			p := clonePointer(fv)
			d.structAt(p.Elem(), key+".")
			fv.Set(p)
		}
	case t.Kind() == reflect.Struct:
		d.structAt(fv, key+".")
	case t.Kind() == reflect.Slice:
		if o.list || isGroup(t.Elem()) {
			d.list(fv, key, o)
		} else if i, ok := d.lookup(key); ok {
			d.commaList(fv, i, o)
		}
	case t.Kind() == reflect.Map:
		d.mapAt(fv, key, o)
	}
}

// hasUnder reports whether key or any key under it is set.
func (d *decoder) hasUnder(key string) bool {
	if _, ok := d.m.index[key]; ok {
		return true
	}
	for _, it := range d.m.items {
		if len(it.Key) > len(key) && it.Key[len(key)] == '.' && strings.HasPrefix(it.Key, key) {
			return true
		}
	}
	return false
}

// commaList decodes the comma-separated value of entry i into the slice fv.
// Items are trimmed and empty items dropped.
func (d *decoder) commaList(fv reflect.Value, i int, o opts) {
	raw := d.m.items[i].Value
	s := reflect.MakeSlice(fv.Type(), 0, strings.Count(raw, ",")+1)
	ok := true
	for part := range strings.SplitSeq(raw, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		ev := reflect.New(fv.Type().Elem()).Elem()
		if e := d.parseScalar(ev, part, o); e != nil {
			e.Msg = strings.Replace(e.Msg, "invalid value", "invalid list item", 1)
			d.fail(i, e)
			ok = false
			continue
		}
		s = reflect.Append(s, ev)
	}
	if ok {
		fv.Set(s)
	}
}

// numbered is one element of a numbered list: "name.<n>...".
type numbered struct {
	seg string // the number as written
	n   uint64
	pos int // entry position, for scalar elements
}

// list decodes the numbered keys "key.1", "key.2" (scalar elements) or
// "key.1.field", "key.2.field" (struct elements) into the slice fv, in
// numeric order. Keys under key whose next segment is not a number are
// left to other fields.
func (d *decoder) list(fv reflect.Value, key string, o opts) {
	et := fv.Type().Elem()
	group := isGroup(et)
	prefix := key + "."
	var elems []numbered
	seen := make(map[string]bool)
	for i, it := range d.m.items {
		rest, ok := strings.CutPrefix(it.Key, prefix)
		if !ok {
			continue
		}
		seg, _, deeper := strings.Cut(rest, ".")
		if deeper && !group || seen[seg] {
			continue
		}
		n, err := strconv.ParseUint(seg, 10, 64)
		if err != nil {
			continue
		}
		seen[seg] = true
		elems = append(elems, numbered{seg: seg, n: n, pos: i})
	}
	if len(elems) == 0 {
		return
	}
	slices.SortStableFunc(elems, func(a, b numbered) int {
		if c := cmp.Compare(a.n, b.n); c != 0 {
			return c
		}
		return cmp.Compare(a.seg, b.seg)
	})
	s := reflect.MakeSlice(fv.Type(), len(elems), len(elems))
	ok := true
	for j, e := range elems {
		ev := s.Index(j)
		if group {
			if ev.Kind() == reflect.Pointer {
				ev.Set(reflect.New(et.Elem()))
				ev = ev.Elem()
			}
			d.structAt(ev, prefix+e.seg+".")
			continue
		}
		d.used[e.pos] = true
		if !d.scalar(ev, e.pos, o) {
			ok = false
		}
	}
	if ok || group {
		fv.Set(s)
	}
}

// mapAt decodes every key under key into the map fv: "key.<rest>" sets
// fv[rest] for scalar elements; for struct elements "key.<name>.<field>"
// sets the fields of fv[name], starting from its current value.
func (d *decoder) mapAt(fv reflect.Value, key string, o opts) {
	mt := fv.Type()
	et := mt.Elem()
	group := isGroup(et)
	prefix := key + "."
	var names []string
	seen := make(map[string]bool)
	cloned := false
	for i, it := range d.m.items {
		rest, ok := strings.CutPrefix(it.Key, prefix)
		if !ok {
			continue
		}
		if !group {
			ev := reflect.New(et).Elem()
			d.used[i] = true
			if d.scalar(ev, i, o) {
				if !cloned {
					cloneMap(fv)
					cloned = true
				}
				fv.SetMapIndex(reflect.ValueOf(rest).Convert(mt.Key()), ev)
			}
			continue
		}
		name, _, _ := strings.Cut(rest, ".")
		if !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
	}
	if len(names) > 0 && !cloned {
		cloneMap(fv)
	}
	for _, name := range names {
		mk := reflect.ValueOf(name).Convert(mt.Key())
		ev := reflect.New(et).Elem()
		if old := fv.MapIndex(mk); old.IsValid() {
			ev.Set(old)
		}
		if ev.Kind() == reflect.Pointer {
			p := clonePointer(ev)
			d.structAt(p.Elem(), prefix+name+".")
			ev = p
		} else {
			d.structAt(ev, prefix+name+".")
		}
		fv.SetMapIndex(mk, ev)
	}
}

// cloneMap replaces the map fv with a new map holding the same entries, so
// that Decode never writes into a map the caller may share (such as one in
// a struct of defaults copied by value).
func cloneMap(fv reflect.Value) {
	m := reflect.MakeMapWithSize(fv.Type(), fv.Len())
	iter := fv.MapRange()
	for iter.Next() {
		m.SetMapIndex(iter.Key(), iter.Value())
	}
	fv.Set(m)
}

// clonePointer returns a new pointer of fv's type to a copy of what fv
// points to (or to a zero value when fv is nil), for the same reason.
func clonePointer(fv reflect.Value) reflect.Value {
	p := reflect.New(fv.Type().Elem())
	if !fv.IsNil() {
		p.Elem().Set(fv.Elem())
	}
	return p
}

// scalar decodes the value of entry i into fv, reporting failure.
func (d *decoder) scalar(fv reflect.Value, i int, o opts) bool {
	if e := d.parseScalar(fv, d.m.items[i].Value, o); e != nil {
		d.fail(i, e)
		return false
	}
	return true
}

// parseScalar sets fv from the string s, or returns an unpositioned error.
func (d *decoder) parseScalar(fv reflect.Value, s string, o opts) *Error {
	t := fv.Type()
	if reflect.PointerTo(t).Implements(textUnmarshalerType) {
		// A fresh value, so that UnmarshalText cannot write into memory the
		// old value shares with the caller's defaults.
		p := reflect.New(t)
		if err := p.Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
			return &Error{Msg: fmt.Sprintf("invalid value %q: %v", clip(s), err), Err: err}
		}
		fv.Set(p.Elem())
		return nil
	}
	if t == durationType {
		if o.inf0 && s == "infinity" {
			fv.SetInt(0)
			return nil
		}
		dur, ok := parseDuration(s, o.unit)
		if !ok {
			want := wantDuration
			if name, ok := unitNames[o.unit]; ok {
				want += ", or a number of " + name
			}
			if o.inf0 {
				want += ", or infinity"
			}
			return valueError(s, want, nil)
		}
		fv.SetInt(int64(dur))
		return nil
	}
	switch k := t.Kind(); {
	case k == reflect.String:
		fv.SetString(s)
	case k == reflect.Bool:
		b, err := ParseBool(s)
		if err != nil {
			return err.(*Error)
		}
		fv.SetBool(b)
	case isSigned(k), isUnsigned(k):
		return parseInt(fv, s, o)
	case k == reflect.Float32 || k == reflect.Float64:
		if o.percent {
			f, err := ParsePercent(s)
			if err != nil {
				return err.(*Error)
			}
			fv.SetFloat(f)
			return nil
		}
		f, err := strconv.ParseFloat(s, t.Bits())
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) || !isPlainFloat(s) {
			return valueError(s, wantNumber, nil)
		}
		fv.SetFloat(f)
	}
	return nil
}

// parseInt sets the integer fv from s: a plain integer, or a size with the
// "size" option, or "infinity" (as 0) with the "inf0" option.
func parseInt(fv reflect.Value, s string, o opts) *Error {
	signed := isSigned(fv.Kind())
	bitSize := fv.Type().Bits()
	var lo int64
	var hi uint64
	if signed {
		lo, hi = -1<<(bitSize-1), 1<<(bitSize-1)-1
	} else {
		hi = math.MaxUint64 >> (64 - bitSize)
	}
	want := "want an integer"
	switch {
	case o.size:
		want = wantSize
	case !signed:
		want = "want a non-negative integer"
	}
	if o.inf0 {
		if s == "infinity" {
			if signed {
				fv.SetInt(0)
			} else {
				fv.SetUint(0)
			}
			return nil
		}
		if o.size {
			want += ", or infinity"
		} else {
			want += " or infinity"
		}
	}
	if o.size {
		n, ok := parseSize(s)
		if !ok {
			return valueError(s, want, nil)
		}
		if uint64(n) > hi {
			return valueError(s, fmt.Sprintf("want a size of at most %d bytes", hi), nil)
		}
		if signed {
			fv.SetInt(n)
		} else {
			fv.SetUint(uint64(n))
		}
		return nil
	}
	if signed {
		n, err := strconv.ParseInt(s, 10, bitSize)
		if err != nil {
			if errors.Is(err, strconv.ErrRange) {
				want = fmt.Sprintf("want an integer from %d to %d", lo, hi)
			}
			return valueError(s, want, err)
		}
		fv.SetInt(n)
		return nil
	}
	n, err := strconv.ParseUint(s, 10, bitSize)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			want = fmt.Sprintf("want an integer from 0 to %d", hi)
		}
		return valueError(s, want, err)
	}
	fv.SetUint(n)
	return nil
}
