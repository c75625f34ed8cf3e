package authhttp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/auth/internal/backend"
	"github.com/emqgo/broker/auth/internal/placeholder"
)

// Request is one of the HTTP requests the module sends: EMQ's auth_req,
// super_req or acl_req.
type Request struct {
	// URL is the server's address, http:// or https://. "" turns the
	// request off.
	URL string
	// Method is "get" (parameters in the query string) or "post" (an
	// application/x-www-form-urlencoded body). "" means post.
	Method string
	// Params are the parameters, EMQ's "name=%placeholder,..." list, such
	// as "clientid=%c,username=%u,password=%P". A value is exactly one
	// placeholder or a literal.
	Params string
}

// OnError says what a module answers when the server cannot be reached,
// times out, or answers with a 5xx status.
type OnError uint8

const (
	// DenyOnError refuses (the zero value; EMQ's behaviour).
	DenyOnError OnError = iota
	// IgnoreOnError leaves the decision to the next module.
	IgnoreOnError
	// AllowOnError allows; for the ACL only (EMQ 2.0's acl_nomatch = allow).
	AllowOnError
)

// String returns deny, ignore or allow.
func (o OnError) String() string {
	switch o {
	case DenyOnError:
		return "deny"
	case IgnoreOnError:
		return "ignore"
	case AllowOnError:
		return "allow"
	}
	return fmt.Sprintf("OnError(%d)", o)
}

func (o OnError) decision() broker.Decision {
	switch o {
	case IgnoreOnError:
		return broker.Ignore
	case AllowOnError:
		return broker.Allow
	}
	return broker.Deny
}

// Config configures an Auth. The zero value sends nothing; set the
// requests wanted.
type Config struct {
	// AuthReq authenticates a connecting client (%u %c %a %P %C %d).
	AuthReq Request
	// SuperReq, sent after a successful authentication, makes the client a
	// superuser when it answers 200 (%u %c %a %P %C %d).
	SuperReq Request
	// ACLReq authorizes each publish and subscription (%A %u %c %a %t %C %d;
	// %A is 1 for subscribe, 2 for publish).
	ACLReq Request
	// AuthOnError is the authentication's answer when the server cannot
	// be reached or fails: DenyOnError (the zero value) or IgnoreOnError.
	AuthOnError OnError
	// ACLOnError is the ACL's answer when the server cannot be reached or
	// fails (EMQ 2.0's acl_nomatch): DenyOnError, IgnoreOnError or
	// AllowOnError.
	ACLOnError OnError
	// Timeout bounds each request, from sending to the end of the answer.
	// 0 means 5s.
	Timeout time.Duration
	// ConnectTimeout bounds establishing a connection. 0 means Timeout.
	ConnectTimeout time.Duration
	// PoolSize bounds the connections open to each server at once
	// (http.Transport.MaxConnsPerHost); requests beyond it wait for a free
	// connection, within their Timeout. 0 means 32.
	PoolSize int
	// Headers are added to every request.
	Headers map[string]string
	// Transport, if set, replaces the transport built from ConnectTimeout
	// and PoolSize (for TLS client certificates, or tests).
	Transport http.RoundTripper
	// Logger receives the module's errors: the first failure of a burst,
	// then a summary every minute while the failures last, and a line when
	// the server answers again. nil discards them.
	Logger *slog.Logger
}

// Auth authenticates clients and authorizes their publishes and
// subscriptions by asking an HTTP server: EMQ's emq_auth_http. It is a
// broker.Authenticator, broker.SuperuserChecker and broker.Authorizer;
// register it with RegisterAuth when AuthReq is set and RegisterACL when
// ACLReq is set (a module asked about a request that is off answers
// Ignore).
type Auth struct {
	auth, super, acl *request
	authOnError      OnError
	aclOnError       OnError
	timeout          time.Duration
	client           *http.Client
	headers          http.Header
	errs             backend.BurstLog
}

var (
	_ broker.Authenticator    = (*Auth)(nil)
	_ broker.SuperuserChecker = (*Auth)(nil)
	_ broker.Authorizer       = (*Auth)(nil)
	_ broker.Describer        = (*Auth)(nil)
)

// request is a parsed Request.
type request struct {
	what   string // auth_req, super_req, acl_req
	where  []any  // the log attributes naming it
	url    *url.URL
	post   bool
	params placeholder.Params
}

var (
	authVars  = []placeholder.Var{placeholder.Username, placeholder.ClientID, placeholder.PeerHost, placeholder.Password, placeholder.CertCN, placeholder.CertDN}
	aclVars   = []placeholder.Var{placeholder.Access, placeholder.Username, placeholder.ClientID, placeholder.PeerHost, placeholder.Topic, placeholder.CertCN, placeholder.CertDN}
	errBadURL = errors.New("want an http:// or https:// URL with a host")
)

// requestError is a mistake in one field of a Request.
type requestError struct {
	what  string // auth_req, super_req or acl_req
	field string // "" for the URL, "method" or "params"
	err   error
}

func (e *requestError) Error() string {
	if e.field == "" {
		return e.what + ": " + e.err.Error()
	}
	return e.what + "." + e.field + ": " + e.err.Error()
}

func (e *requestError) Unwrap() error { return e.err }

func parseRequest(what string, r Request, vars []placeholder.Var) (*request, error) {
	if r.URL == "" {
		return nil, nil
	}
	u, err := url.Parse(r.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &requestError{what, "", fmt.Errorf("%q: %w", r.URL, errBadURL)}
	}
	out := &request{what: what, url: u, where: []any{"request", what, "url", u.Redacted()}}
	switch strings.ToLower(r.Method) {
	case "", "post":
		out.post = true
	case "get":
	default:
		return nil, &requestError{what, "method", fmt.Errorf("%q: want get or post", r.Method)}
	}
	if out.params, err = placeholder.ParseParams(r.Params, vars...); err != nil {
		return nil, &requestError{what, "params", errors.New(strings.TrimPrefix(err.Error(), "placeholder: "))}
	}
	return out, nil
}

// New returns an Auth for cfg. It opens no connection.
func New(cfg Config) (*Auth, error) {
	var errs []error
	a := &Auth{authOnError: cfg.AuthOnError, aclOnError: cfg.ACLOnError, timeout: cfg.Timeout, headers: make(http.Header)}
	var err error
	if a.auth, err = parseRequest("auth_req", cfg.AuthReq, authVars); err != nil {
		errs = append(errs, err)
	}
	if a.super, err = parseRequest("super_req", cfg.SuperReq, authVars); err != nil {
		errs = append(errs, err)
	}
	if a.acl, err = parseRequest("acl_req", cfg.ACLReq, aclVars); err != nil {
		errs = append(errs, err)
	}
	if cfg.AuthOnError != DenyOnError && cfg.AuthOnError != IgnoreOnError {
		errs = append(errs, fmt.Errorf("AuthOnError %v: want deny or ignore", cfg.AuthOnError))
	}
	if cfg.ACLOnError > AllowOnError {
		errs = append(errs, fmt.Errorf("ACLOnError %v: want deny, ignore or allow", cfg.ACLOnError))
	}
	if cfg.Timeout < 0 || cfg.ConnectTimeout < 0 || cfg.PoolSize < 0 {
		errs = append(errs, errors.New("Timeout, ConnectTimeout and PoolSize must not be negative"))
	}
	for k, v := range cfg.Headers {
		if k == "" || strings.ContainsAny(k, " :\r\n") || strings.ContainsAny(v, "\r\n") {
			errs = append(errs, fmt.Errorf("header %q: invalid name or value", k))
			continue
		}
		a.headers.Set(k, v)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("auth/authhttp: %w", err)
	}
	if a.timeout == 0 {
		a.timeout = 5 * time.Second
	}
	connect := cfg.ConnectTimeout
	if connect == 0 {
		connect = a.timeout
	}
	pool := cfg.PoolSize
	if pool == 0 {
		pool = 32
	}
	rt := cfg.Transport
	if rt == nil {
		rt = &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   connect,
			MaxConnsPerHost:       pool,
			MaxIdleConnsPerHost:   pool,
			IdleConnTimeout:       90 * time.Second,
			ResponseHeaderTimeout: a.timeout,
			ForceAttemptHTTP2:     true,
		}
	}
	a.client = &http.Client{Transport: rt, Timeout: a.timeout}
	a.errs.Log = cfg.Logger
	a.errs.Lines = backend.BurstLines{
		Failed: "HTTP auth request failed; answering with the on-error setting until the server answers again",
		Still:  "HTTP auth requests still failing",
		Back:   "HTTP auth server answers again",
	}
	return a, nil
}

// Description returns EMQ's description of the module.
func (a *Auth) Description() string { return "Authentication and ACL by HTTP API" }

// Close closes the idle connections of the module's own transport.
func (a *Auth) Close() {
	a.client.CloseIdleConnections()
}

// outcome is what a request came to.
type outcome uint8

const (
	okAllow  outcome = iota // 200
	okIgnore                // 200 with the body "ignore"
	refused                 // any other status below 500
	failed                  // no answer, a timeout or a 5xx status
)

// maxBody is how much of an answer is read: enough to see "ignore".
const maxBody = 4 << 10

// do sends r with v and classifies the answer. Failures are logged in
// bursts.
func (a *Auth) do(ctx context.Context, r *request, v *placeholder.Values) outcome {
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	enc := r.params.Encode(v)
	var req *http.Request
	var err error
	if r.post {
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, r.url.String(), strings.NewReader(enc))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	} else {
		u := *r.url
		if u.RawQuery != "" && enc != "" {
			u.RawQuery += "&" + enc
		} else if enc != "" {
			u.RawQuery = enc
		}
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	}
	if err != nil {
		a.errs.FailedAt(r.where, err)
		return failed
	}
	for k, vs := range a.headers {
		req.Header[k] = vs
	}
	resp, err := a.client.Do(req)
	if err != nil {
		a.errs.FailedAt(r.where, err)
		return failed
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 500:
		a.errs.FailedAt(r.where, fmt.Errorf("HTTP status %s", resp.Status))
		return failed
	case err != nil:
		a.errs.FailedAt(r.where, fmt.Errorf("reading the answer: %w", err))
		return failed
	}
	a.errs.OKAt(r.where)
	if resp.StatusCode != http.StatusOK {
		return refused
	}
	if strings.TrimSpace(string(body)) == "ignore" {
		return okIgnore
	}
	return okAllow
}

func values(c *broker.ClientInfo) placeholder.Values {
	return placeholder.ClientValues(c.ClientID, c.Username, c.Peer, c.TLS)
}

// Authenticate sends auth_req. A client without a user name or a password
// is refused without asking, as EMQ does. 200 allows (200 with the body
// "ignore" passes to the next module), another status below 500 denies,
// and a failure answers AuthOnError.
func (a *Auth) Authenticate(ctx context.Context, c *broker.ClientInfo, password []byte) (broker.Decision, error) {
	if a.auth == nil {
		return broker.Ignore, nil
	}
	if c.Username == "" || len(password) == 0 {
		return broker.Deny, nil
	}
	v := values(c)
	v.Password = string(password)
	switch a.do(ctx, a.auth, &v) {
	case okAllow:
		return broker.Allow, nil
	case okIgnore:
		return broker.Ignore, nil
	case refused:
		return broker.Deny, nil
	}
	return a.authOnError.decision(), nil
}

// IsSuperuser sends super_req: the client is a superuser when it answers
// 200. Without a super_req, or when the request fails, it is not.
func (a *Auth) IsSuperuser(ctx context.Context, c *broker.ClientInfo) (bool, error) {
	if a.super == nil || a.auth == nil {
		return false, nil
	}
	v := values(c)
	return a.do(ctx, a.super, &v) == okAllow, nil
}

// Authorize sends acl_req. 200 allows (200 with the body "ignore" passes
// to the next module), another status below 500 denies, and a failure
// answers ACLOnError.
func (a *Auth) Authorize(ctx context.Context, c *broker.ClientInfo, access broker.Access, topic string) (broker.Decision, error) {
	if a.acl == nil {
		return broker.Ignore, nil
	}
	v := values(c)
	v.Topic = topic
	switch access {
	case broker.AccessSubscribe:
		v.Access = placeholder.AccessSubscribe
	case broker.AccessPublish:
		v.Access = placeholder.AccessPublish
	}
	switch a.do(ctx, a.acl, &v) {
	case okAllow:
		return broker.Allow, nil
	case okIgnore:
		return broker.Ignore, nil
	case refused:
		return broker.Deny, nil
	}
	return a.aclOnError.decision(), nil
}
