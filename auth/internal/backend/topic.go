package backend

import "strings"

// MatchFilter reports whether the topic name matches filter, an ACL rule's
// topic filter in which "%u" and "%c" stand for the client's user name and
// client id. A level holding a placeholder is expanded and compared with
// the name's level as text: a user name holding '+', '#' or '/' never acts
// as a wildcard or as several levels. A level that needs a user name (or
// client id) the client does not have matches nothing. Other levels follow
// MQTT matching: '+' is one level, a final '#' any number, and a name
// starting with '$' is not matched by a filter starting with a wildcard.
func MatchFilter(filter, name, username, clientID string) bool {
	if name != "" && name[0] == '$' && filter != "" && (filter[0] == '+' || filter[0] == '#') {
		return false
	}
	for {
		fl, frest, fmore := strings.Cut(filter, "/")
		if fl == "#" && !fmore {
			return true
		}
		nl, nrest, nmore := strings.Cut(name, "/")
		switch {
		case fl == "+":
		case strings.Contains(fl, "%u") || strings.Contains(fl, "%c"):
			if (strings.Contains(fl, "%u") && username == "") || (strings.Contains(fl, "%c") && clientID == "") {
				return false
			}
			if expand(fl, username, clientID) != nl {
				return false
			}
		case fl != nl:
			return false
		}
		switch {
		case !fmore:
			return !nmore
		case !nmore:
			// The name is exhausted; only a trailing "#" matches the parent.
			return frest == "#"
		}
		filter, name = frest, nrest
	}
}

// expand replaces every %u and %c in s.
func expand(s, username, clientID string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+1 < len(s) {
			switch s[i+1] {
			case 'u':
				b.WriteString(username)
				i++
				continue
			case 'c':
				b.WriteString(clientID)
				i++
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
