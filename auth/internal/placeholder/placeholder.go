// Package placeholder expands the variables of EMQ's auth plugin settings
// (%u, %c, %a, %P, %t, %A, and %C, %d from a TLS client certificate) into
// bound parameters, never into the text of a query or command.
//
// Each back end gets the form that keeps a client's values out of the
// statement:
//
//   - SQL: ParseSQL rewrites every quoted placeholder ('%u', with the
//     quotes, as EMQ's MySQL and PostgreSQL plugins require) into a bind
//     marker, ? or $1, $2..., and Query.Args returns the values in order.
//   - Redis: ParseCommand splits a command into its arguments once, and
//     Command.Args returns them with placeholders replaced; a value is
//     always inside one argument, whatever spaces or quotes it holds.
//   - HTTP: ParseParams reads "clientid=%c,username=%u" pairs; a value is
//     either exactly one placeholder or a literal, and Params.Encode
//     URL-encodes every value.
//
// A Values holds what the placeholders stand for; ClientValues fills the
// connection's part of it.
package placeholder

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// Var is one placeholder, named by the letter after '%'.
type Var byte

// The placeholders.
const (
	Username Var = 'u' // the MQTT user name
	ClientID Var = 'c' // the client identifier
	PeerHost Var = 'a' // the client's IP address
	Password Var = 'P' // the password (authentication only)
	Topic    Var = 't' // the topic (ACL only)
	Access   Var = 'A' // 1 for subscribe, 2 for publish (ACL only)
	CertCN   Var = 'C' // the TLS client certificate's subject common name
	CertDN   Var = 'd' // the TLS client certificate's subject DN
)

// All lists every placeholder.
var All = []Var{Username, ClientID, PeerHost, Password, Topic, Access, CertCN, CertDN}

// String returns the placeholder as written, "%u".
func (v Var) String() string { return "%" + string(v) }

func (v Var) valid() bool {
	switch v {
	case Username, ClientID, PeerHost, Password, Topic, Access, CertCN, CertDN:
		return true
	}
	return false
}

// Access values, as EMQ sends them for %A.
const (
	AccessSubscribe = "1"
	AccessPublish   = "2"
)

// Values are what the placeholders stand for. Fields left empty expand to
// the empty string.
type Values struct {
	Username string
	ClientID string
	PeerHost string
	Password string
	Topic    string
	Access   string
	CertCN   string
	CertDN   string
}

// ClientValues returns the Values of a connection: the peer's address as
// text (empty when the zero AddrPort says there is none), and the subject
// of the first peer certificate when tls has one.
func ClientValues(clientID, username string, peer netip.AddrPort, tls *tls.ConnectionState) Values {
	v := Values{ClientID: clientID, Username: username}
	if peer.IsValid() {
		v.PeerHost = peer.Addr().Unmap().String()
	}
	if tls != nil && len(tls.PeerCertificates) > 0 {
		sub := tls.PeerCertificates[0].Subject
		v.CertCN = sub.CommonName
		v.CertDN = sub.String()
	}
	return v
}

// Get returns the value of one placeholder.
func (v *Values) Get(p Var) string {
	switch p {
	case Username:
		return v.Username
	case ClientID:
		return v.ClientID
	case PeerHost:
		return v.PeerHost
	case Password:
		return v.Password
	case Topic:
		return v.Topic
	case Access:
		return v.Access
	case CertCN:
		return v.CertCN
	case CertDN:
		return v.CertDN
	}
	return ""
}

// checkAllowed checks that every Var in used is among allowed; an empty
// allowed list allows all.
func checkAllowed(what string, used []Var, allowed []Var) error {
	if len(allowed) == 0 {
		return nil
	}
	for _, u := range used {
		ok := false
		for _, a := range allowed {
			if a == u {
				ok = true
				break
			}
		}
		if !ok {
			return fmt.Errorf("placeholder: %s: %s is not available here (want one of %s)", what, u, join(allowed))
		}
	}
	return nil
}

func join(vs []Var) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = v.String()
	}
	return strings.Join(s, " ")
}

// ---- SQL --------------------------------------------------------------------

// Style is a SQL driver's bind-marker syntax.
type Style uint8

const (
	// Question writes every marker as ? (MySQL).
	Question Style = iota
	// Dollar numbers the markers $1, $2, ... (PostgreSQL).
	Dollar
)

// Query is a SQL statement whose placeholders became bind markers.
type Query struct {
	// Text is the statement with markers, for the driver's Query or Prepare.
	Text string
	// Vars are the placeholders behind the markers, in order.
	Vars []Var
}

// ParseSQL rewrites each quoted placeholder in query ('%u', the single
// quotes included, as in EMQ's "where username = '%u'") into a bind marker
// of the given style. Anything else in the query, including a bare %u, is
// left as it is: values never become query text. allowed restricts the
// placeholders the query may use; none means all.
func ParseSQL(query string, style Style, allowed ...Var) (Query, error) {
	var b strings.Builder
	var q Query
	for i := 0; i < len(query); {
		if i+3 < len(query) && query[i] == '\'' && query[i+1] == '%' && query[i+3] == '\'' && Var(query[i+2]).valid() {
			q.Vars = append(q.Vars, Var(query[i+2]))
			if style == Dollar {
				b.WriteString("$" + strconv.Itoa(len(q.Vars)))
			} else {
				b.WriteByte('?')
			}
			i += 4
			continue
		}
		b.WriteByte(query[i])
		i++
	}
	q.Text = b.String()
	if err := checkAllowed(fmt.Sprintf("query %q", query), q.Vars, allowed); err != nil {
		return Query{}, err
	}
	return q, nil
}

// Args returns the bind arguments for v, one per marker.
func (q Query) Args(v *Values) []any {
	args := make([]any, len(q.Vars))
	for i, p := range q.Vars {
		args[i] = v.Get(p)
	}
	return args
}

// ---- Redis ------------------------------------------------------------------

// Command is a Redis command split into arguments, each a sequence of
// literal text and placeholders.
type Command struct {
	args [][]piece
}

// piece is literal text, or a placeholder when v != 0.
type piece struct {
	lit string
	v   Var
}

// ParseCommand splits cmd at white space into arguments, such as
// "HMGET mqtt_user:%u password salt", and finds the placeholders inside
// each. A '%' not followed by a placeholder letter stays literal text.
func ParseCommand(cmd string, allowed ...Var) (Command, error) {
	fields := strings.Fields(cmd)
	if len(fields) == 0 {
		return Command{}, errors.New("placeholder: empty command")
	}
	var c Command
	var used []Var
	for _, f := range fields {
		var ps []piece
		lit := 0
		for i := 0; i < len(f); i++ {
			if f[i] == '%' && i+1 < len(f) && Var(f[i+1]).valid() {
				if i > lit {
					ps = append(ps, piece{lit: f[lit:i]})
				}
				ps = append(ps, piece{v: Var(f[i+1])})
				used = append(used, Var(f[i+1]))
				i++
				lit = i + 1
			}
		}
		if lit < len(f) {
			ps = append(ps, piece{lit: f[lit:]})
		}
		c.args = append(c.args, ps)
	}
	if err := checkAllowed(fmt.Sprintf("command %q", cmd), used, allowed); err != nil {
		return Command{}, err
	}
	return c, nil
}

// Args returns the command's arguments with the placeholders replaced by
// the values in v. Each value stays inside its argument.
func (c Command) Args(v *Values) []string {
	out := make([]string, len(c.args))
	for i, ps := range c.args {
		if len(ps) == 1 {
			if ps[0].v == 0 {
				out[i] = ps[0].lit
			} else {
				out[i] = v.Get(ps[0].v)
			}
			continue
		}
		var b strings.Builder
		for _, p := range ps {
			if p.v == 0 {
				b.WriteString(p.lit)
			} else {
				b.WriteString(v.Get(p.v))
			}
		}
		out[i] = b.String()
	}
	return out
}

// ---- HTTP -------------------------------------------------------------------

// Param is one HTTP request parameter: a name and either a placeholder or
// a literal value.
type Param struct {
	Name string
	// Var is the placeholder giving the value, or 0 for Literal.
	Var     Var
	Literal string
}

// Params are the parameters of an HTTP request, in order.
type Params []Param

// ParseParams reads EMQ's params setting, comma-separated name=value
// pairs such as "clientid=%c,username=%u,password=%P". As in EMQ, a value
// is substituted only when it is exactly one placeholder; here a value
// that holds a '%' and is not exactly a placeholder is an error rather
// than a literal, since it is most likely a mistake.
func ParseParams(spec string, allowed ...Var) (Params, error) {
	var ps Params
	var used []Var
	for item := range strings.SplitSeq(spec, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, value, ok := strings.Cut(item, "=")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || name == "" {
			return nil, fmt.Errorf("placeholder: params %q: %q is not name=value", spec, item)
		}
		p := Param{Name: name}
		switch {
		case len(value) == 2 && value[0] == '%' && Var(value[1]).valid():
			p.Var = Var(value[1])
			used = append(used, p.Var)
		case strings.Contains(value, "%"):
			return nil, fmt.Errorf("placeholder: params %q: value %q of %s must be exactly one placeholder (%s) or a literal without %%", spec, value, name, join(All))
		default:
			p.Literal = value
		}
		ps = append(ps, p)
	}
	if err := checkAllowed(fmt.Sprintf("params %q", spec), used, allowed); err != nil {
		return nil, err
	}
	return ps, nil
}

// Values returns the parameters with their values, as url.Values.
func (ps Params) Values(v *Values) url.Values {
	out := make(url.Values, len(ps))
	for _, p := range ps {
		out.Add(p.Name, p.value(v))
	}
	return out
}

// Encode returns the parameters URL-encoded in their configured order
// (application/x-www-form-urlencoded, also used for a GET query string).
func (ps Params) Encode(v *Values) string {
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(p.Name))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(p.value(v)))
	}
	return b.String()
}

// Uses reports whether any parameter is the placeholder p.
func (ps Params) Uses(p Var) bool {
	for _, q := range ps {
		if q.Var == p {
			return true
		}
	}
	return false
}

// String returns the parameters in the syntax ParseParams reads.
func (ps Params) String() string {
	s := make([]string, len(ps))
	for i, p := range ps {
		if p.Var != 0 {
			s[i] = p.Name + "=" + p.Var.String()
		} else {
			s[i] = p.Name + "=" + p.Literal
		}
	}
	return strings.Join(s, ",")
}

func (p Param) value(v *Values) string {
	if p.Var != 0 {
		return v.Get(p.Var)
	}
	return p.Literal
}
