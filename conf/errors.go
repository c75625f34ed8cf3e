package conf

import (
	"strconv"
	"strings"
)

// Error is a configuration error with the position it refers to. Parse and
// Decode return one *Error per problem, joined with errors.Join when there
// are several; errors.As finds them.
//
// Error formats as "<file>:<line>: <key>: <msg>", leaving out the parts that
// are empty (a Line of 0 counts as empty; a Line without a File is written
// "line <n>"). When Msg is empty the text of Err is used in its place.
type Error struct {
	File string // the file the entry came from, as given to Parse
	Line int    // 1-based line number, 0 when unknown
	Key  string // the key as written in the file, "" for syntax errors
	Msg  string // what is wrong, including the expected form of a value
	Err  error  // the underlying error, if any
}

// Error implements the error interface.
func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.File != "" && e.Line > 0:
		b.WriteString(e.File)
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(e.Line))
	case e.File != "":
		b.WriteString(e.File)
	case e.Line > 0:
		b.WriteString("line ")
		b.WriteString(strconv.Itoa(e.Line))
	}
	add := func(s string) {
		if s == "" {
			return
		}
		if b.Len() > 0 {
			b.WriteString(": ")
		}
		b.WriteString(s)
	}
	add(e.Key)
	msg := e.Msg
	if msg == "" && e.Err != nil {
		msg = e.Err.Error()
	}
	add(msg)
	return b.String()
}

// Unwrap returns the underlying error, if any.
func (e *Error) Unwrap() error { return e.Err }
