package conf

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// maxErrors is how many syntax errors Parse reports before giving up on a
// file (which is then most likely not a configuration file at all).
const maxErrors = 10

// Parse reads "key = value" lines from r. filename is recorded in every
// entry and error; it may be empty.
//
// On error Parse returns an empty Map and every problem found (up to ten),
// each an *Error naming file and line, joined with errors.Join.
func Parse(r io.Reader, filename string) (Map, error) {
	p := parser{file: filename}
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			p.n++
			p.parseLine(line)
			if len(p.errs) > maxErrors {
				p.errs[maxErrors] = &Error{File: filename, Line: p.n, Msg: "too many errors"}
				p.errs = p.errs[:maxErrors+1]
				break
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return Map{}, &Error{File: filename, Line: p.n + 1, Msg: "read: " + err.Error(), Err: err}
		}
	}
	if len(p.errs) > 0 {
		return Map{}, errors.Join(p.errs...)
	}
	return p.m, nil
}

// ParseString is Parse reading from s.
func ParseString(s, filename string) (Map, error) {
	return Parse(strings.NewReader(s), filename)
}

// ParseFile is Parse reading the file at path, which also names the file in
// entries and errors.
func ParseFile(path string) (Map, error) {
	f, err := os.Open(path)
	if err != nil {
		return Map{}, err
	}
	defer f.Close()
	return Parse(f, path)
}

type parser struct {
	file string
	n    int // current line number
	m    Map
	errs []error
}

func (p *parser) fail(key, format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.file, Line: p.n, Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (p *parser) parseLine(line string) {
	line = strings.TrimSuffix(line, "\n")
	line = strings.TrimSuffix(line, "\r")
	if p.n == 1 {
		line = strings.TrimPrefix(line, "\uFEFF") // byte order mark
	}
	t := strings.TrimSpace(line)
	if t == "" || t[0] == '#' {
		return
	}
	k, v, ok := strings.Cut(t, "=")
	if !ok {
		p.fail("", "want key = value, got %q", clip(t))
		return
	}
	k = strings.TrimSpace(k)
	if !ValidKey(k) {
		p.fail("", "invalid key %q: want dot-separated words of letters, digits, '_', '-' and '$'", clip(k))
		return
	}
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, `"`) {
		u, msg := unquote(v)
		if msg != "" {
			p.fail(k, "%s", msg)
			return
		}
		v = u
	}
	p.m.set(item{Entry: Entry{Key: k, Value: v, File: p.file, Line: p.n}})
}

// clip shortens s for an error message.
func clip(s string) string {
	const max = 40
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}

// unquote decodes a value that starts with a double quote. Inside the quotes
// \" stands for a double quote, \\ for a backslash and \n for a line break;
// any other backslash is kept as it is. Nothing may follow the closing
// quote. On failure it returns a message instead.
func unquote(v string) (string, string) {
	var b strings.Builder
	for i := 1; i < len(v); i++ {
		c := v[i]
		switch c {
		case '"':
			if i != len(v)-1 {
				return "", "unexpected text after closing quote"
			}
			return b.String(), ""
		case '\\':
			if i+1 < len(v) {
				switch v[i+1] {
				case '"', '\\':
					b.WriteByte(v[i+1])
					i++
					continue
				case 'n':
					b.WriteByte('\n')
					i++
					continue
				}
			}
		}
		b.WriteByte(c)
	}
	return "", "missing closing quote"
}

// FormatValue returns v as it should be written after "key = " for Parse to
// read v back: v itself, or v in double quotes (with '"', '\' and line
// breaks escaped) when it is empty, starts with a double quote, has leading
// or trailing white space, or contains a line break.
func FormatValue(v string) string {
	if v != "" && v[0] != '"' && strings.TrimSpace(v) == v && !strings.Contains(v, "\n") {
		return v
	}
	var b strings.Builder
	b.Grow(len(v) + 2)
	b.WriteByte('"')
	for i := 0; i < len(v); i++ {
		switch c := v[i]; c {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\n':
			b.WriteString(`\n`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
