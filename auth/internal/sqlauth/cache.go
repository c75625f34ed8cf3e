package sqlauth

import (
	"strconv"
	"strings"
)

// cacheKey is the query's name and each value, length-prefixed so that no
// two lists of values share a key. The cache (a backend.Cache) keeps what
// the server returned (for the auth query, the stored hash and salt),
// never a client's password: every connect still checks its password.
// Only successful results are kept.
func cacheKey(what string, args []any) string {
	var b strings.Builder
	b.WriteString(what)
	for _, a := range args {
		s, _ := a.(string)
		b.WriteByte(0)
		b.WriteString(strconv.Itoa(len(s)))
		b.WriteByte(':')
		b.WriteString(s)
	}
	return b.String()
}
