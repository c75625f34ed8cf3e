package authhttp

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/auth/internal/backend"
	"github.com/emqgo/broker/conf"
)

// Plugin is the module as a plugin for a broker's registry, EMQ's
// emq_auth_http, configured by etc/plugins/emq_auth_http.conf (see
// ParseConfig):
//
//	b.Plugins().Register(authhttp.Plugin)
//	err := b.Plugins().Load(ctx, "emq_auth_http")
//
// It registers the authentication module when auth.http.auth_req is set
// and the ACL module when auth.http.acl_req is set.
var Plugin = broker.PluginInfo{
	Name:        "emq_auth_http",
	Description: "Authentication and ACL by HTTP API",
	Defaults:    Defaults,
	New:         newPlugin,
}

// Defaults is the plugin's configuration with every key at its default:
// the requests of EMQ's shipped emq_auth_http.conf.
const Defaults = `auth.http.auth_req = http://127.0.0.1:8080/mqtt/auth
auth.http.auth_req.method = post
auth.http.auth_req.params = clientid=%c,username=%u,password=%P
auth.http.auth_req.on_error = deny
auth.http.super_req = http://127.0.0.1:8080/mqtt/superuser
auth.http.super_req.method = post
auth.http.super_req.params = clientid=%c,username=%u
auth.http.acl_req = http://127.0.0.1:8080/mqtt/acl
auth.http.acl_req.method = get
auth.http.acl_req.params = access=%A,username=%u,clientid=%c,ipaddr=%a,topic=%t
auth.http.acl_nomatch = deny
auth.http.request.timeout = 5s
auth.http.request.connect_timeout = 5s
auth.http.pool_size = 32
`

type fileRequest struct {
	URL    string `conf:"."`
	Method string `conf:"method"`
	Params string `conf:"params"`
}

type fileConfig struct {
	HTTP struct {
		AuthReq struct {
			fileRequest
			OnError string `conf:"on_error"`
		} `conf:"auth_req"`
		SuperReq   fileRequest `conf:"super_req"`
		ACLReq     fileRequest `conf:"acl_req"`
		ACLNoMatch string      `conf:"acl_nomatch"`
		Request    struct {
			Timeout        time.Duration `conf:"timeout"`
			ConnectTimeout time.Duration `conf:"connect_timeout"`
		} `conf:"request"`
		PoolSize int               `conf:"pool_size"`
		Header   map[string]string `conf:"header"`
	} `conf:"auth.http"`
}

// ParseConfig decodes the plugin's configuration, the whole
// emq_auth_http.conf. Besides EMQ 2.0's keys (auth_req, super_req,
// acl_req with .method and .params, and acl_nomatch, which is the ACL's
// answer when the server fails) it reads auth.http.auth_req.on_error
// (deny or ignore), and EMQ 3's auth.http.request.timeout,
// auth.http.request.connect_timeout, auth.http.pool_size and
// auth.http.header.<Name>. An empty URL turns a request off. Every error
// names file, line and key.
func ParseConfig(m conf.Map) (Config, error) {
	var f fileConfig
	errs := []error{m.Decode(&f)}
	h := f.HTTP
	cfg := Config{
		AuthReq:        Request{URL: h.AuthReq.URL, Method: h.AuthReq.Method, Params: h.AuthReq.Params},
		SuperReq:       Request(h.SuperReq),
		ACLReq:         Request(h.ACLReq),
		Timeout:        h.Request.Timeout,
		ConnectTimeout: h.Request.ConnectTimeout,
		PoolSize:       h.PoolSize,
		Headers:        h.Header,
	}
	switch strings.ToLower(h.AuthReq.OnError) {
	case "", "deny":
	case "ignore":
		cfg.AuthOnError = IgnoreOnError
	default:
		errs = append(errs, m.Errorf("auth.http.auth_req.on_error", "invalid value %q: want deny or ignore", h.AuthReq.OnError))
	}
	switch strings.ToLower(h.ACLNoMatch) {
	case "", "deny":
	case "ignore":
		cfg.ACLOnError = IgnoreOnError
	case "allow":
		cfg.ACLOnError = AllowOnError
	default:
		errs = append(errs, m.Errorf("auth.http.acl_nomatch", "invalid value %q: want deny, allow or ignore", h.ACLNoMatch))
	}
	for _, r := range []struct {
		key string
		req Request
	}{{"auth.http.auth_req", cfg.AuthReq}, {"auth.http.super_req", cfg.SuperReq}, {"auth.http.acl_req", cfg.ACLReq}} {
		vars := authVars
		if r.key == "auth.http.acl_req" {
			vars = aclVars
		}
		if _, err := parseRequest(r.key, r.req, vars); err != nil {
			var re *requestError
			if errors.As(err, &re) {
				key := r.key
				if re.field != "" {
					key += "." + re.field
				}
				errs = append(errs, m.Errorf(key, "%v", re.err))
			}
		}
	}
	if h.PoolSize < 0 {
		errs = append(errs, m.Errorf("auth.http.pool_size", "%d is negative", h.PoolSize))
	}
	if h.Request.Timeout < 0 || h.Request.ConnectTimeout < 0 {
		errs = append(errs, m.Errorf("auth.http.request.timeout", "timeouts must not be negative"))
	}
	return cfg, errors.Join(errs...)
}

type plugin struct {
	backend.Plugin[Config]
}

func newPlugin() broker.Plugin { return &plugin{backend.Plugin[Config]{Parse: checkConfig}} }

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
	p.Module = backend.CloserFunc(func() error { a.Close(); return nil })
	if cfg.AuthReq.URL != "" {
		h.RegisterAuth(a, broker.Named(Plugin.Name))
	}
	if cfg.ACLReq.URL != "" {
		h.RegisterACL(a, broker.Named(Plugin.Name))
	}
	h.Logger().Info("HTTP authentication started", "auth_req", cfg.AuthReq.URL, "super_req", cfg.SuperReq.URL, "acl_req", cfg.ACLReq.URL)
	return nil
}

// checkConfig is ParseConfig, and a trial New of what it read.
func checkConfig(m conf.Map) (Config, error) {
	cfg, err := ParseConfig(m)
	if err != nil {
		return cfg, err
	}
	if _, err := New(cfg); err != nil {
		return cfg, err
	}
	return cfg, nil
}
