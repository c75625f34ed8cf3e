package acl

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// This file reads the subset of Erlang term syntax that acl.conf uses, as
// file:consult/1 would: a sequence of terms, each ended by a full stop.
// Terms are atoms (bare or 'quoted'), "strings", <<"binaries">>, integers,
// {tuples} and [lists]; % starts a comment that runs to the end of the
// line.

type kind uint8

const (
	kAtom kind = iota + 1
	kString
	kInt
	kTuple
	kList
)

func (k kind) String() string {
	switch k {
	case kAtom:
		return "atom"
	case kString:
		return "string"
	case kInt:
		return "integer"
	case kTuple:
		return "tuple"
	case kList:
		return "list"
	}
	return "term"
}

// term is one parsed Erlang term.
type term struct {
	kind  kind
	s     string // atom name, string contents or integer digits
	elems []term // tuple or list elements
	pos   pos
}

// pos is a position in the file, 1-based.
type pos struct{ line, col int }

func (t term) isAtom(name string) bool { return t.kind == kAtom && t.s == name }

// describe returns how t reads in an error message.
func (t term) describe() string {
	switch t.kind {
	case kAtom:
		return "atom " + t.s
	case kString:
		return fmt.Sprintf("string %q", t.s)
	case kInt:
		return "integer " + t.s
	case kTuple:
		return fmt.Sprintf("a %d-tuple", len(t.elems))
	case kList:
		if len(t.elems) == 0 {
			return "an empty list"
		}
		return "a list"
	}
	return "a term"
}

type tokKind uint8

const (
	tEOF tokKind = iota
	tAtom
	tString
	tInt
	tPunct // one of { } [ ] , .  and << >>
)

type token struct {
	kind tokKind
	s    string
	pos  pos
}

func (t token) describe() string {
	switch t.kind {
	case tEOF:
		return "end of file"
	case tAtom:
		return "atom " + t.s
	case tString:
		return fmt.Sprintf("string %q", t.s)
	case tInt:
		return "integer " + t.s
	}
	return fmt.Sprintf("'%s'", t.s)
}

// lexer splits acl.conf source into tokens.
type lexer struct {
	src  string
	i    int
	line int
	col  int // of src[i]
}

func (l *lexer) errorf(p pos, format string, args ...any) *Error {
	return &Error{Line: p.line, Col: p.col, Msg: fmt.Sprintf(format, args...)}
}

func (l *lexer) advance(n int) {
	for range n {
		if l.src[l.i] == '\n' {
			l.line++
			l.col = 1
		} else if l.src[l.i] < utf8.RuneSelf || utf8.RuneStart(l.src[l.i]) {
			l.col++
		}
		l.i++
	}
}

func (l *lexer) next() (token, *Error) {
	// Skip white space and comments.
	for l.i < len(l.src) {
		c := l.src[l.i]
		switch {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v':
			l.advance(1)
		case c == '%':
			for l.i < len(l.src) && l.src[l.i] != '\n' {
				l.advance(1)
			}
		default:
			goto tok
		}
	}
	return token{kind: tEOF, pos: pos{l.line, l.col}}, nil
tok:
	p := pos{l.line, l.col}
	c := l.src[l.i]
	switch {
	case c == '{' || c == '}' || c == '[' || c == ']' || c == ',':
		l.advance(1)
		return token{kind: tPunct, s: string(c), pos: p}, nil
	case c == '.':
		// A full stop ends a term when white space, a comment or the end
		// of the file follows it.
		if l.i+1 < len(l.src) && !strings.ContainsRune(" \t\r\n\f\v%", rune(l.src[l.i+1])) {
			return token{}, l.errorf(p, "syntax error: unexpected '.' (a term ends with a full stop and white space)")
		}
		l.advance(1)
		return token{kind: tPunct, s: ".", pos: p}, nil
	case strings.HasPrefix(l.src[l.i:], "<<"):
		l.advance(2)
		return token{kind: tPunct, s: "<<", pos: p}, nil
	case strings.HasPrefix(l.src[l.i:], ">>"):
		l.advance(2)
		return token{kind: tPunct, s: ">>", pos: p}, nil
	case c == '"':
		s, err := l.quoted('"', p)
		return token{kind: tString, s: s, pos: p}, err
	case c == '\'':
		s, err := l.quoted('\'', p)
		return token{kind: tAtom, s: s, pos: p}, err
	case 'a' <= c && c <= 'z':
		j := l.i
		for j < len(l.src) && isAtomChar(l.src[j]) {
			j++
		}
		s := l.src[l.i:j]
		l.advance(j - l.i)
		return token{kind: tAtom, s: s, pos: p}, nil
	case '0' <= c && c <= '9' || c == '-' && l.i+1 < len(l.src) && '0' <= l.src[l.i+1] && l.src[l.i+1] <= '9':
		j := l.i + 1
		for j < len(l.src) && '0' <= l.src[j] && l.src[j] <= '9' {
			j++
		}
		s := l.src[l.i:j]
		l.advance(j - l.i)
		return token{kind: tInt, s: s, pos: p}, nil
	case 'A' <= c && c <= 'Z' || c == '_':
		j := l.i
		for j < len(l.src) && isAtomChar(l.src[j]) {
			j++
		}
		return token{}, l.errorf(p, "syntax error: variable %s: acl.conf holds terms only (quote text with \"...\")", l.src[l.i:j])
	}
	r, _ := utf8.DecodeRuneInString(l.src[l.i:])
	return token{}, l.errorf(p, "syntax error: unexpected character %q", r)
}

func isAtomChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '@'
}

// quoted reads a "string" or 'atom' with Erlang's escapes.
func (l *lexer) quoted(q byte, p pos) (string, *Error) {
	l.advance(1)
	var b strings.Builder
	for {
		if l.i >= len(l.src) {
			return "", l.errorf(p, "syntax error: %s is not closed", quotedWhat(q))
		}
		c := l.src[l.i]
		switch {
		case c == q:
			l.advance(1)
			return b.String(), nil
		case c == '\\':
			if l.i+1 >= len(l.src) {
				return "", l.errorf(p, "syntax error: %s is not closed", quotedWhat(q))
			}
			e := l.src[l.i+1]
			switch e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case 's':
				b.WriteByte(' ')
			case '0':
				b.WriteByte(0)
			case '\\', '"', '\'':
				b.WriteByte(e)
			default:
				return "", l.errorf(pos{l.line, l.col}, "syntax error: unsupported escape \\%c", e)
			}
			l.advance(2)
		default:
			_, n := utf8.DecodeRuneInString(l.src[l.i:])
			b.WriteString(l.src[l.i : l.i+n])
			l.advance(n)
		}
	}
}

func quotedWhat(q byte) string {
	if q == '"' {
		return "string"
	}
	return "quoted atom"
}

// termParser reads terms from a lexer, with one token of look-ahead.
type termParser struct {
	lex  lexer
	tok  token
	peek bool
}

func (p *termParser) next() (token, *Error) {
	if p.peek {
		p.peek = false
		return p.tok, nil
	}
	t, err := p.lex.next()
	p.tok = t
	return t, err
}

func (p *termParser) unread() { p.peek = true }

// parseTerms reads every term of src. It stops at the first syntax error.
func parseTerms(src string) ([]term, *Error) {
	p := &termParser{lex: lexer{src: src, line: 1, col: 1}}
	var terms []term
	for {
		t, err := p.next()
		if err != nil {
			return nil, err
		}
		if t.kind == tEOF {
			return terms, nil
		}
		p.unread()
		tm, err := p.term()
		if err != nil {
			return nil, err
		}
		end, err := p.next()
		if err != nil {
			return nil, err
		}
		if end.kind != tPunct || end.s != "." {
			return nil, p.lex.errorf(end.pos, "syntax error: expected '.' after the term, got %s", end.describe())
		}
		terms = append(terms, tm)
	}
}

func (p *termParser) term() (term, *Error) {
	t, err := p.next()
	if err != nil {
		return term{}, err
	}
	switch t.kind {
	case tAtom:
		return term{kind: kAtom, s: t.s, pos: t.pos}, nil
	case tString:
		// Adjacent strings concatenate, as in Erlang.
		s := t.s
		for {
			n, err := p.next()
			if err != nil {
				return term{}, err
			}
			if n.kind != tString {
				p.unread()
				break
			}
			s += n.s
		}
		return term{kind: kString, s: s, pos: t.pos}, nil
	case tInt:
		return term{kind: kInt, s: t.s, pos: t.pos}, nil
	case tPunct:
		switch t.s {
		case "<<":
			s, err := p.next()
			if err != nil {
				return term{}, err
			}
			if s.kind == tPunct && s.s == ">>" {
				return term{kind: kString, pos: t.pos}, nil
			}
			if s.kind != tString {
				return term{}, p.lex.errorf(s.pos, "syntax error: only <<\"text\">> binaries are supported, got %s", s.describe())
			}
			e, err := p.next()
			if err != nil {
				return term{}, err
			}
			if e.kind != tPunct || e.s != ">>" {
				return term{}, p.lex.errorf(e.pos, "syntax error: expected '>>', got %s", e.describe())
			}
			return term{kind: kString, s: s.s, pos: t.pos}, nil
		case "{", "[":
			closer, k := "}", kTuple
			if t.s == "[" {
				closer, k = "]", kList
			}
			out := term{kind: k, pos: t.pos}
			first := true
			for {
				n, err := p.next()
				if err != nil {
					return term{}, err
				}
				if n.kind == tPunct && n.s == closer {
					return out, nil
				}
				if !first {
					if n.kind != tPunct || n.s != "," {
						return term{}, p.lex.errorf(n.pos, "syntax error: expected ',' or '%s', got %s", closer, n.describe())
					}
				} else {
					p.unread()
				}
				first = false
				el, err := p.term()
				if err != nil {
					return term{}, err
				}
				out.elems = append(out.elems, el)
			}
		}
	case tEOF:
		return term{}, p.lex.errorf(t.pos, "syntax error: unexpected end of file")
	}
	return term{}, p.lex.errorf(t.pos, "syntax error: unexpected %s", t.describe())
}
