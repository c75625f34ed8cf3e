package authldap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/auth/internal/backend"
	"github.com/emqgo/broker/auth/internal/passwd"
	"github.com/emqgo/broker/conf"
)

// Plugin is the module as a plugin for a broker's registry, EMQ's
// emq_auth_ldap, configured by etc/plugins/emq_auth_ldap.conf (see
// ParseConfig):
//
//	b.Plugins().Register(authldap.Plugin)
//	err := b.Plugins().Load(ctx, "emq_auth_ldap")
//
// It registers the authentication module; LDAP has no ACL, as in EMQ.
var Plugin = broker.PluginInfo{
	Name:        "emq_auth_ldap",
	Description: "LDAP Authentication Plugin",
	Defaults:    Defaults,
	New:         newPlugin,
}

// Defaults is the plugin's configuration with every key at its default:
// EMQ 2.3's emq_auth_ldap.conf (the seed's 2.0 keys servers, port,
// timeout and ssl are the same; its user_dn is the bind mode), and the
// keys added here.
const Defaults = `auth.ldap.servers = 127.0.0.1
auth.ldap.port = 389
auth.ldap.bind_dn = cn=root,dc=emqtt,dc=com
auth.ldap.bind_password = public
auth.ldap.timeout = 30
auth.ldap.auth_dn = cn=%u,ou=auth,dc=emqtt,dc=com
auth.ldap.user_dn =
auth.ldap.password_hash = sha256
auth.ldap.username_attribute = username
auth.ldap.password_attribute = password
auth.ldap.salt_attribute =
auth.ldap.ssl = false
auth.ldap.ssl.cacertfile =
auth.ldap.ssl.certfile =
auth.ldap.ssl.keyfile =
auth.ldap.ssl.verify = verify_peer
auth.ldap.pool = 8
auth.ldap.user_not_found = ignore
auth.ldap.auth_on_error = deny
auth.ldap.cache_ttl = 0s
auth.ldap.cache_size = 10000
`

type fileConfig struct {
	LDAP struct {
		Servers      []string      `conf:"servers"`
		Port         int           `conf:"port"`
		BindDN       string        `conf:"bind_dn"`
		BindPassword string        `conf:"bind_password"`
		Timeout      time.Duration `conf:"timeout,unit=s"`
		AuthDN       string        `conf:"auth_dn"`
		UserDN       string        `conf:"user_dn"`
		PasswordHash string        `conf:"password_hash"`
		UsernameAttr string        `conf:"username_attribute"`
		PasswordAttr string        `conf:"password_attribute"`
		SaltAttr     string        `conf:"salt_attribute"`
		SSL          struct {
			On         bool   `conf:"."`
			CACertFile string `conf:"cacertfile"`
			CertFile   string `conf:"certfile"`
			KeyFile    string `conf:"keyfile"`
			Verify     string `conf:"verify"`
		} `conf:"ssl"`
		Pool         int           `conf:"pool"`
		UserNotFound string        `conf:"user_not_found"`
		AuthOnError  string        `conf:"auth_on_error"`
		CacheTTL     time.Duration `conf:"cache_ttl,unit=s"`
		CacheSize    int           `conf:"cache_size"`
	} `conf:"auth.ldap"`
}

// ParseConfig decodes the plugin's configuration, the whole
// emq_auth_ldap.conf: EMQ's keys (servers, port, bind_dn, bind_password,
// timeout in seconds, auth_dn, password_hash, ssl and ssl.*; EMQ 2.0's
// user_dn) and auth.ldap.username_attribute, password_attribute,
// salt_attribute, pool, user_not_found, auth_on_error, cache_ttl and
// cache_size. password_hash also takes EMQ's space-separated form
// ("salt sha256"). Every error names file, line and key.
func ParseConfig(m conf.Map) (Config, error) {
	var f fileConfig
	errs := []error{m.Decode(&f)}
	l := f.LDAP
	bad := func(key string, err error) {
		if err != nil {
			errs = append(errs, m.Errorf(key, "%v", err))
		}
	}
	cfg := Config{
		Servers: l.Servers, Port: l.Port, SSL: l.SSL.On, BindDN: l.BindDN, BindPassword: l.BindPassword,
		AuthDN: l.AuthDN, UserDN: l.UserDN, UsernameAttr: l.UsernameAttr, PasswordAttr: l.PasswordAttr, SaltAttr: l.SaltAttr,
		PasswordHash: normalizeHash(l.PasswordHash), PoolSize: l.Pool, Timeout: l.Timeout, CacheTTL: l.CacheTTL, CacheSize: l.CacheSize,
	}
	if _, err := passwd.Parse(cfg.PasswordHash); err != nil && l.PasswordHash != "" {
		bad("auth.ldap.password_hash", err)
	}
	if l.Port < 0 || l.Port > 65535 {
		bad("auth.ldap.port", fmt.Errorf("%d out of range", l.Port))
	}
	if l.AuthDN != "" {
		_, err := parseDN("auth DN", l.AuthDN)
		bad("auth.ldap.auth_dn", err)
	}
	if l.UserDN != "" {
		_, err := parseDN("user DN", l.UserDN)
		bad("auth.ldap.user_dn", err)
	}
	if l.AuthDN == "" && l.UserDN == "" {
		bad("auth.ldap.auth_dn", errors.New("set auth.ldap.auth_dn (search and compare) or auth.ldap.user_dn (bind as the user)"))
	}
	var err error
	cfg.AuthOnError, err = backend.ParseAnswer(l.AuthOnError, Deny, Ignore)
	bad("auth.ldap.auth_on_error", err)
	var nf Answer
	nf, err = backend.ParseAnswer(l.UserNotFound, Ignore, Deny)
	bad("auth.ldap.user_not_found", err)
	cfg.UnknownUser = nf.Decision()
	for key, v := range map[string]int64{"pool": int64(l.Pool), "timeout": int64(l.Timeout), "cache_ttl": int64(l.CacheTTL), "cache_size": int64(l.CacheSize)} {
		if v < 0 {
			bad("auth.ldap."+key, errors.New("must not be negative"))
		}
	}
	if l.SSL.On {
		tc, err := tlsConfig(l.SSL.CACertFile, l.SSL.CertFile, l.SSL.KeyFile, l.SSL.Verify)
		bad("auth.ldap.ssl", err)
		cfg.TLSConfig = tc
	}
	return cfg, errors.Join(errs...)
}

// normalizeHash turns EMQ's space-separated password_hash ("salt sha256")
// into the comma-separated form.
func normalizeHash(s string) string {
	if strings.Contains(s, ",") {
		return s
	}
	return strings.Join(strings.Fields(s), ",")
}

func tlsConfig(ca, cert, key, verify string) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	switch verify {
	case "", "verify_peer":
	case "verify_none":
		tc.InsecureSkipVerify = true
	default:
		return nil, fmt.Errorf("ssl.verify %q: want verify_peer or verify_none", verify)
	}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, err
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ssl.cacertfile %s: no PEM certificate", ca)
		}
	}
	if cert != "" || key != "" {
		c, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, err
		}
		tc.Certificates = []tls.Certificate{c}
	}
	return tc, nil
}

type plugin struct {
	backend.Plugin[Config]
}

func newPlugin() broker.Plugin {
	return &plugin{backend.Plugin[Config]{Parse: backend.CheckedBy(ParseConfig, New)}}
}

var (
	_ broker.Plugin     = (*plugin)(nil)
	_ broker.Configurer = (*plugin)(nil)
	_ broker.Unloader   = (*plugin)(nil)
)

// Load implements broker.Plugin.
func (p *plugin) Load(_ context.Context, h *broker.PluginHost, m conf.Map) error {
	if err := p.Configure(m); err != nil {
		return err
	}
	cfg := p.Cfg
	cfg.Logger = h.Logger()
	a, err := New(cfg)
	if err != nil {
		return err
	}
	p.Module = a
	h.RegisterAuth(a, broker.Named(Plugin.Name))
	dn := cfg.AuthDN
	if cfg.UserDN != "" {
		dn = cfg.UserDN
	}
	h.Logger().Info("LDAP authentication started", "servers", strings.Join(a.urls(), ","), "dn", dn, "bind_as_user", cfg.UserDN != "")
	return nil
}
