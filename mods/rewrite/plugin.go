package rewrite

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/conf"
)

// Plugin is the module as a plugin for a broker's registry, EMQ's
// emq_mod_rewrite, configured by etc/plugins/emq_mod_rewrite.conf (see
// ParseConfig):
//
//	b.Plugins().Register(rewrite.Plugin)
//	err := b.Plugins().Load(ctx, "emq_mod_rewrite")
//
// Its hooks are removed when it is unloaded; connected clients stay, and
// subscriptions made with rewritten filters keep them.
var Plugin = broker.PluginInfo{
	Name:        "emq_mod_rewrite",
	Description: "Rewrite Module (rewrite topics of publishes and subscriptions)",
	Defaults:    Defaults,
	New:         func() broker.Plugin { return new(plugin) },
}

// Defaults is the plugin's configuration with every key at its default:
// on, and no rules.
const Defaults = `module.rewrite = on
`

// fileConfig is the plugin's configuration file.
type fileConfig struct {
	Rewrite struct {
		// Enabled is "module.rewrite = on|off" (EMQ 2.3).
		Enabled bool `conf:"."`
		// Rules are module.rewrite.rule.<n>, parsed by ParseConfig.
		Rules conf.Map `conf:"rule"`
	} `conf:"module.rewrite"`
}

// ParseConfig decodes the module's configuration from m, the whole
// emq_mod_rewrite.conf: "module.rewrite = on|off" says whether the loaded
// plugin rewrites anything, and each module.rewrite.rule.<n> is a rule
// (see ParseRule), applied in the order of n. A key it does not know, a
// rule that does not parse, an invalid filter or a regular expression
// that does not compile is an error naming file, line and key.
func ParseConfig(m conf.Map) (enabled bool, c Config, err error) {
	var f fileConfig
	errs := []error{m.Decode(&f)}
	type numbered struct {
		n    int
		rule Rule
	}
	var rules []numbered
	for _, k := range f.Rewrite.Rules.Keys() {
		n, err := strconv.Atoi(k)
		if err != nil || n < 0 {
			errs = append(errs, f.Rewrite.Rules.Errorf(k, "unknown key: want module.rewrite.rule.<number>"))
			continue
		}
		v, _ := f.Rewrite.Rules.Get(k)
		r, err := ParseRule(v)
		if err == nil {
			_, err = compile(r)
		}
		if err != nil {
			errs = append(errs, f.Rewrite.Rules.Errorf(k, "%v", err))
			continue
		}
		rules = append(rules, numbered{n, r})
	}
	slices.SortFunc(rules, func(a, b numbered) int { return a.n - b.n })
	for _, r := range rules {
		c.Rules = append(c.Rules, r.rule)
	}
	return f.Rewrite.Enabled, c, errors.Join(errs...)
}

// ParseRule parses a rule in EMQ 2.3's form, "<filter> <regex> <dest>"
// separated by spaces, or in EMQ 2.0's Erlang term form,
// {rewrite, "<filter>", "<regex>", "<dest>"} (a trailing ',' or '.' is
// allowed, and the strings take Erlang's escapes: "\\." is the regular
// expression \.). It does not compile the regular expression.
func ParseRule(s string) (Rule, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "{") {
		return parseTerm(s)
	}
	f := strings.Fields(s)
	if len(f) != 3 {
		return Rule{}, fmt.Errorf("invalid rule %q: want <filter> <regex> <dest>, or {rewrite, \"<filter>\", \"<regex>\", \"<dest>\"}", s)
	}
	return Rule{Filter: f[0], Regex: f[1], Dest: f[2]}, nil
}

// parseTerm parses {rewrite, "F", "R", "D"}.
func parseTerm(s string) (Rule, error) {
	bad := func(why string) (Rule, error) {
		return Rule{}, fmt.Errorf("invalid rule %s: %s; want {rewrite, \"<filter>\", \"<regex>\", \"<dest>\"}", s, why)
	}
	body := strings.TrimRight(s, " \t,.")
	if !strings.HasSuffix(body, "}") {
		return bad("no closing '}'")
	}
	body = strings.TrimSpace(body[1 : len(body)-1])
	atom, rest, ok := strings.Cut(body, ",")
	if !ok || strings.TrimSpace(atom) != "rewrite" {
		return bad("it does not start with the atom rewrite")
	}
	var strs []string
	rest = strings.TrimSpace(rest)
	for rest != "" {
		if len(strs) > 0 {
			if rest[0] != ',' {
				return bad("want ',' between the strings")
			}
			rest = strings.TrimSpace(rest[1:])
		}
		str, tail, err := erlangString(rest)
		if err != nil {
			return bad(err.Error())
		}
		strs = append(strs, str)
		rest = strings.TrimSpace(tail)
	}
	if len(strs) != 3 {
		return bad(fmt.Sprintf("%d strings", len(strs)))
	}
	return Rule{Filter: strs[0], Regex: strs[1], Dest: strs[2]}, nil
}

// erlangString reads a double-quoted Erlang string at the start of s and
// returns it, unescaped, and what follows it.
func erlangString(s string) (str, rest string, err error) {
	if s == "" || s[0] != '"' {
		return "", "", errors.New("want a double-quoted string")
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			return b.String(), s[i+1:], nil
		case '\\':
			i++
			if i == len(s) {
				return "", "", errors.New("unterminated string")
			}
			switch e := s[i]; e {
			case 'b':
				b.WriteByte('\b')
			case 'd':
				b.WriteByte(0x7f)
			case 'e':
				b.WriteByte(0x1b)
			case 'f':
				b.WriteByte('\f')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 's':
				b.WriteByte(' ')
			case 't':
				b.WriteByte('\t')
			case 'v':
				b.WriteByte('\v')
			default: // \\, \", \' and any other character: itself
				b.WriteByte(e)
			}
		default:
			b.WriteByte(c)
		}
	}
	return "", "", errors.New("unterminated string")
}

// plugin is one loaded instance of Plugin.
type plugin struct {
	enabled bool
	cfg     Config
}

// Configure implements broker.Configurer.
func (p *plugin) Configure(m conf.Map) error {
	enabled, c, err := ParseConfig(m)
	if err != nil {
		return err
	}
	p.enabled, p.cfg = enabled, c
	return nil
}

// Load implements broker.Plugin.
func (p *plugin) Load(_ context.Context, h *broker.PluginHost, m conf.Map) error {
	if err := p.Configure(m); err != nil {
		return err
	}
	if !p.enabled {
		h.Logger().Info("rewrite module is off (module.rewrite = off)")
		return nil
	}
	r, err := New(p.cfg)
	if err != nil {
		return err
	}
	r.register(h, h.Logger())
	h.Logger().Info("rewrite module started", "rules", len(p.cfg.Rules))
	return nil
}

var (
	_ broker.Plugin     = (*plugin)(nil)
	_ broker.Configurer = (*plugin)(nil)
)
