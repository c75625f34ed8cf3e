package authhttp_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/auth/authhttp"
	"github.com/emqgo/broker/brokertest"
	"github.com/emqgo/broker/conf"
	"github.com/emqgo/broker/packets"
)

// seen is one request as the server saw it.
type seen struct {
	method, path, contentType string
	raw                       string // raw query or body
	form                      url.Values
}

// server is an EMQ-style HTTP auth server: alice/pw may connect, root/pw
// too and is a superuser; the ACL refuses topics under secret/.
type server struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []seen
	// hook, when set, answers instead of the default logic.
	hook func(w http.ResponseWriter, s seen) bool
}

func newServer(t *testing.T) *server {
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *server) serve(w http.ResponseWriter, r *http.Request) {
	var raw string
	if r.Method == http.MethodPost {
		b, _ := io.ReadAll(r.Body)
		raw = string(b)
	} else {
		raw = r.URL.RawQuery
	}
	form, err := url.ParseQuery(raw)
	if err != nil {
		http.Error(w, "bad encoding", http.StatusBadRequest)
		return
	}
	sn := seen{method: r.Method, path: r.URL.Path, contentType: r.Header.Get("Content-Type"), raw: raw, form: form}
	s.mu.Lock()
	s.reqs = append(s.reqs, sn)
	hook := s.hook
	s.mu.Unlock()
	if hook != nil && hook(w, sn) {
		return
	}
	user, pass := form.Get("username"), form.Get("password")
	switch r.URL.Path {
	case "/mqtt/auth":
		if (user == "alice" || user == "root") && pass == "pw" {
			return // 200
		}
		http.Error(w, "no", http.StatusUnauthorized)
	case "/mqtt/superuser":
		if user == "root" {
			return
		}
		http.Error(w, "no", http.StatusForbidden)
	case "/mqtt/acl":
		if strings.HasPrefix(form.Get("topic"), "secret/") {
			http.Error(w, "no", http.StatusForbidden)
			return
		}
		if strings.HasPrefix(form.Get("topic"), "pass/") {
			io.WriteString(w, "ignore")
			return
		}
	default:
		http.NotFound(w, r)
	}
}

func (s *server) requests() []seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seen(nil), s.reqs...)
}

func (s *server) reset() {
	s.mu.Lock()
	s.reqs = nil
	s.mu.Unlock()
}

func emqConfig(base string) authhttp.Config {
	return authhttp.Config{
		AuthReq:  authhttp.Request{URL: base + "/mqtt/auth", Method: "post", Params: "clientid=%c,username=%u,password=%P"},
		SuperReq: authhttp.Request{URL: base + "/mqtt/superuser", Method: "post", Params: "clientid=%c,username=%u"},
		ACLReq:   authhttp.Request{URL: base + "/mqtt/acl", Method: "get", Params: "access=%A,username=%u,clientid=%c,ipaddr=%a,topic=%t"},
		Timeout:  time.Second,
	}
}

func withModule(a *authhttp.Auth) func(*broker.Broker) {
	return func(b *broker.Broker) {
		b.RegisterAuth(a)
		b.RegisterACL(a)
	}
}

func connect(t *testing.T, b *brokertest.Broker, id, user, pass string, v byte) (*brokertest.Client, packets.ReasonCode) {
	t.Helper()
	opts := []brokertest.ClientOption{brokertest.WithVersion(v)}
	switch {
	case user != "" || pass != "":
		opts = append(opts, brokertest.WithCredentials(user, pass))
	}
	return b.Connect(t, id, opts...)
}

func TestAuthenticate(t *testing.T) {
	s := newServer(t)
	a, err := authhttp.New(emqConfig(s.URL))
	if err != nil {
		t.Fatal(err)
	}
	b := brokertest.New(t, broker.Options{}, withModule(a))
	for _, v := range []byte{packets.Version311, packets.Version5} {
		s.reset()
		c, rc := connect(t, b, "c1", "alice", "pw", v)
		if rc != packets.Success {
			t.Fatalf("v%d alice: %v", v, rc)
		}
		c.Disconnect(t)
		reqs := s.requests()
		if len(reqs) != 2 || reqs[0].path != "/mqtt/auth" || reqs[1].path != "/mqtt/superuser" {
			t.Fatalf("requests: %+v", reqs)
		}
		if r := reqs[0]; r.method != "POST" || r.contentType != "application/x-www-form-urlencoded" || r.raw != "clientid=c1&username=alice&password=pw" {
			t.Errorf("auth request: %+v", r)
		}
		if r := reqs[1]; r.raw != "clientid=c1&username=alice" {
			t.Errorf("super request: %+v", r)
		}
		for _, tc := range []struct{ user, pass string }{{"alice", "wrong"}, {"bob", "pw"}} {
			if _, rc := connect(t, b, "c2", tc.user, tc.pass, v); rc != packets.BadUserNameOrPassword {
				t.Errorf("v%d %s/%s: %v", v, tc.user, tc.pass, rc)
			}
		}
		// No user name or no password: refused without asking.
		s.reset()
		if _, rc := connect(t, b, "c3", "", "", v); rc != packets.NotAuthorized {
			t.Errorf("v%d anonymous: %v", v, rc)
		}
		if _, rc := connect(t, b, "c3", "alice", "", v); rc != packets.BadUserNameOrPassword {
			t.Errorf("v%d no password: %v", v, rc)
		}
		if n := len(s.requests()); n != 0 {
			t.Errorf("%d requests for clients without credentials", n)
		}
	}
}

// TestHostileValues checks that user names, client ids and passwords
// reach the server as URL-encoded values of their own parameter, and never
// authenticate or change the request.
func TestHostileValues(t *testing.T) {
	s := newServer(t)
	a, err := authhttp.New(emqConfig(s.URL))
	if err != nil {
		t.Fatal(err)
	}
	b := brokertest.New(t, broker.Options{}, withModule(a))
	hostile := []string{"' or '1'='1", "%u", "%", "&x=y", "%P", "alice&password=pw", "a=b", "+", "%26", "\"", "alice\n"}
	for _, h := range hostile {
		for _, who := range []struct{ id, user, pass string }{
			{"c-" + h, h, "pw"},
			{h, "bob", h},
			{"c", h, h},
		} {
			s.reset()
			if _, rc := connect(t, b, who.id, who.user, who.pass, packets.Version311); rc != packets.BadUserNameOrPassword {
				t.Errorf("id %q user %q password %q: %v, want bad user name or password", who.id, who.user, who.pass, rc)
				continue
			}
			reqs := s.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests: %+v", len(reqs), reqs)
			}
			want := url.Values{"clientid": {who.id}, "username": {who.user}, "password": {who.pass}}
			if !reflect.DeepEqual(reqs[0].form, want) {
				t.Errorf("server saw %v (raw %q), want %v", reqs[0].form, reqs[0].raw, want)
			}
			wantRaw := "clientid=" + url.QueryEscape(who.id) + "&username=" + url.QueryEscape(who.user) + "&password=" + url.QueryEscape(who.pass)
			if reqs[0].raw != wantRaw {
				t.Errorf("raw %q, want %q", reqs[0].raw, wantRaw)
			}
		}
	}
}

func TestACL(t *testing.T) {
	s := newServer(t)
	a, err := authhttp.New(emqConfig(s.URL))
	if err != nil {
		t.Fatal(err)
	}
	b := brokertest.New(t, broker.Options{}, withModule(a))
	c, rc := connect(t, b, "c1", "alice", "pw", packets.Version5)
	if rc != packets.Success {
		t.Fatal(rc)
	}
	s.reset()
	if got := c.Subscribe(t, "a/#", 1); got != 1 {
		t.Errorf("a/#: %#x", got)
	}
	if got := c.Subscribe(t, "secret/#", 1); got != 0x87 {
		t.Errorf("secret/#: %#x", got)
	}
	if rc := c.PublishPacket(t, &packets.Publish{Topic: "a/1", QoS: 1}); rc.IsError() {
		t.Errorf("publish a/1: %v", rc)
	}
	c.Expect(t, "a/1")
	if rc := c.PublishPacket(t, &packets.Publish{Topic: "secret/1", QoS: 1}); rc != packets.NotAuthorized {
		t.Errorf("publish secret/1: %v", rc)
	}
	reqs := s.requests()
	if len(reqs) != 4 {
		t.Fatalf("requests: %+v", reqs)
	}
	if r := reqs[0]; r.method != "GET" || r.raw != "access=1&username=alice&clientid=c1&ipaddr=&topic=a%2F%23" {
		t.Errorf("subscribe check: %+v", r)
	}
	if r := reqs[2]; r.form.Get("access") != "2" || r.form.Get("topic") != "a/1" {
		t.Errorf("publish check: %+v", r)
	}

	// 200 "ignore" passes to the next module, here the broker's nomatch.
	d := brokertest.New(t, broker.Options{DenyACLNoMatch: true}, withModule(a))
	c2, rc := connect(t, d, "c2", "alice", "pw", packets.Version5)
	if rc != packets.Success {
		t.Fatal(rc)
	}
	if got := c2.Subscribe(t, "pass/x", 1); got != 0x87 {
		t.Errorf("ignored with nomatch deny: %#x", got)
	}
	if got := c2.Subscribe(t, "ok/x", 1); got != 1 {
		t.Errorf("allowed: %#x", got)
	}
}

func TestSuperuserSkipsACL(t *testing.T) {
	s := newServer(t)
	a, _ := authhttp.New(emqConfig(s.URL))
	b := brokertest.New(t, broker.Options{}, withModule(a))
	root, rc := connect(t, b, "r", "root", "pw", packets.Version5)
	if rc != packets.Success {
		t.Fatal(rc)
	}
	s.reset()
	if got := root.Subscribe(t, "secret/#", 1); got != 1 {
		t.Errorf("superuser secret/#: %#x", got)
	}
	root.PublishPacket(t, &packets.Publish{Topic: "secret/1", QoS: 1})
	root.Expect(t, "secret/1")
	if n := len(s.requests()); n != 0 {
		t.Errorf("%d ACL requests for a superuser", n)
	}
}

func TestStatuses(t *testing.T) {
	s := newServer(t)
	var status atomic.Int32
	var body atomic.Value
	s.hook = func(w http.ResponseWriter, _ seen) bool {
		w.WriteHeader(int(status.Load()))
		io.WriteString(w, body.Load().(string))
		return true
	}
	ctx := context.Background()
	c := &broker.ClientInfo{ClientID: "c", Username: "u"}
	for _, onErr := range []authhttp.OnError{authhttp.DenyOnError, authhttp.IgnoreOnError} {
		cfg := emqConfig(s.URL)
		cfg.AuthOnError, cfg.ACLOnError = onErr, onErr
		a, err := authhttp.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		failure := broker.Deny
		if onErr == authhttp.IgnoreOnError {
			failure = broker.Ignore
		}
		for _, tc := range []struct {
			status int
			body   string
			want   broker.Decision
		}{
			{200, "", broker.Allow},
			{200, "anything", broker.Allow},
			{200, "ignore", broker.Ignore},
			{200, "ignore\n", broker.Ignore},
			{204, "", broker.Deny},
			{400, "", broker.Deny},
			{401, "ignore", broker.Deny},
			{403, "", broker.Deny},
			{404, "", broker.Deny},
			{500, "", failure},
			{503, "", failure},
		} {
			status.Store(int32(tc.status))
			body.Store(tc.body)
			if d, err := a.Authenticate(ctx, c, []byte("p")); d != tc.want || err != nil {
				t.Errorf("on error %v: auth %d %q: %v, %v; want %v", onErr, tc.status, tc.body, d, err, tc.want)
			}
			if d, err := a.Authorize(ctx, c, broker.AccessPublish, "t"); d != tc.want || err != nil {
				t.Errorf("on error %v: acl %d %q: %v, %v; want %v", onErr, tc.status, tc.body, d, err, tc.want)
			}
		}
	}
	cfg := emqConfig(s.URL)
	cfg.ACLOnError = authhttp.AllowOnError
	a, _ := authhttp.New(cfg)
	status.Store(502)
	body.Store("")
	if d, _ := a.Authorize(ctx, c, broker.AccessSubscribe, "t"); d != broker.Allow {
		t.Errorf("acl_nomatch = allow: %v", d)
	}
}

// logBuffer collects log lines written by the module.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestUnreachable(t *testing.T) {
	s := newServer(t)
	base := s.URL
	s.Close() // nothing listens there any more
	var logs logBuffer
	cfg := emqConfig(base)
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	a, err := authhttp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b := brokertest.New(t, broker.Options{}, withModule(a))
	for range 20 {
		if _, rc := connect(t, b, "c", "alice", "pw", packets.Version311); rc != packets.BadUserNameOrPassword {
			t.Fatalf("unreachable server: %v", rc)
		}
	}
	if n := strings.Count(logs.String(), "level=ERROR"); n != 1 {
		t.Errorf("%d error lines for a burst of 20 failures, want 1:\n%s", n, logs.String())
	}

	// With on_error = ignore, the broker's anonymous setting decides.
	cfg.AuthOnError = authhttp.IgnoreOnError
	ig, _ := authhttp.New(cfg)
	b2 := brokertest.New(t, broker.Options{}, func(b *broker.Broker) { b.RegisterAuth(ig) })
	if _, rc := connect(t, b2, "c", "alice", "pw", packets.Version311); rc != packets.Success {
		t.Errorf("ignore on error: %v", rc)
	}
}

func TestRecoveryIsLogged(t *testing.T) {
	s := newServer(t)
	var down atomic.Bool
	down.Store(true)
	s.hook = func(w http.ResponseWriter, _ seen) bool {
		if down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		return false
	}
	var logs logBuffer
	cfg := emqConfig(s.URL)
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	a, _ := authhttp.New(cfg)
	c := &broker.ClientInfo{ClientID: "c", Username: "alice"}
	for range 5 {
		if d, _ := a.Authenticate(context.Background(), c, []byte("pw")); d != broker.Deny {
			t.Fatalf("server down: %v", d)
		}
	}
	down.Store(false)
	if d, _ := a.Authenticate(context.Background(), c, []byte("pw")); d != broker.Allow {
		t.Fatalf("server up: %v", d)
	}
	out := logs.String()
	if strings.Count(out, "level=ERROR") != 1 || !strings.Contains(out, "answers again") || !strings.Contains(out, "unlogged_failures=4") {
		t.Errorf("logs:\n%s", out)
	}
}

func TestSlowServer(t *testing.T) {
	s := newServer(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	s.hook = func(w http.ResponseWriter, r seen) bool {
		if r.form.Get("username") == "slow" {
			select {
			case <-release:
			case <-time.After(10 * time.Second):
			}
			return true
		}
		return false
	}
	cfg := emqConfig(s.URL)
	cfg.Timeout = 300 * time.Millisecond
	a, _ := authhttp.New(cfg)
	b := brokertest.New(t, broker.Options{}, withModule(a))

	done := make(chan packets.ReasonCode, 1)
	start := time.Now()
	go func() {
		_, rc := connect(t, b, "slow-client", "slow", "pw", packets.Version311)
		done <- rc
	}()
	// A slow answer for one client does not hold up another.
	time.Sleep(50 * time.Millisecond)
	t0 := time.Now()
	if _, rc := connect(t, b, "fast-client", "alice", "pw", packets.Version311); rc != packets.Success {
		t.Errorf("fast client: %v", rc)
	}
	if d := time.Since(t0); d > 200*time.Millisecond {
		t.Errorf("fast client waited %v", d)
	}
	select {
	case rc := <-done:
		if rc != packets.BadUserNameOrPassword {
			t.Errorf("slow client: %v, want refused after the timeout", rc)
		}
		if d := time.Since(start); d < 250*time.Millisecond || d > 2*time.Second {
			t.Errorf("slow client answered after %v, want about the 300ms timeout", d)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("slow client never got a CONNACK")
	}
}

func TestPoolBound(t *testing.T) {
	var inFlight, peak atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
		inFlight.Add(-1)
	}))
	defer srv.Close()
	cfg := emqConfig(srv.URL)
	cfg.PoolSize = 3
	a, _ := authhttp.New(cfg)
	defer a.Close()
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Go(func() {
			c := &broker.ClientInfo{ClientID: "c", Username: "u"}
			if d, _ := a.Authorize(context.Background(), c, broker.AccessPublish, "t/"+string(rune('a'+i%26))); d != broker.Allow {
				t.Errorf("Authorize: %v", d)
			}
		})
	}
	wg.Wait()
	if p := peak.Load(); p > 3 || p < 2 {
		t.Errorf("peak concurrent requests %d, want at most the pool size 3", p)
	}
}

func TestPlaceholders(t *testing.T) {
	s := newServer(t)
	s.hook = func(http.ResponseWriter, seen) bool { return false }
	cfg := authhttp.Config{
		AuthReq: authhttp.Request{URL: s.URL + "/mqtt/auth?fixed=1", Method: "get", Params: "u=%u,c=%c,a=%a,p=%P,cn=%C,dn=%d,k=literal"},
		ACLReq:  authhttp.Request{URL: s.URL + "/mqtt/acl", Method: "post", Params: "a=%A,t=%t,cn=%C"},
		Headers: map[string]string{"X-Api-Key": "k1"},
	}
	a, err := authhttp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	cert := &x509.Certificate{Subject: pkix.Name{CommonName: "dev 1", Organization: []string{"Acme"}}}
	c := &broker.ClientInfo{ClientID: "id", Username: "alice", Peer: netip.MustParseAddrPort("[::ffff:192.0.2.9]:1883"),
		TLS: &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}}
	a.Authenticate(context.Background(), c, []byte("pw"))
	a.Authorize(context.Background(), c, broker.AccessSubscribe, "a/+/#")
	reqs := s.requests()
	if len(reqs) != 2 {
		t.Fatalf("%+v", reqs)
	}
	want := url.Values{"fixed": {"1"}, "u": {"alice"}, "c": {"id"}, "a": {"192.0.2.9"}, "p": {"pw"}, "cn": {"dev 1"}, "dn": {"CN=dev 1,O=Acme"}, "k": {"literal"}}
	if reqs[0].method != "GET" || !reflect.DeepEqual(reqs[0].form, want) {
		t.Errorf("auth: %s %v, want %v", reqs[0].method, reqs[0].form, want)
	}
	if reqs[1].method != "POST" || reqs[1].raw != "a=1&t=a%2F%2B%2F%23&cn=dev+1" {
		t.Errorf("acl: %s %q", reqs[1].method, reqs[1].raw)
	}
}

func TestNewErrors(t *testing.T) {
	for _, cfg := range []authhttp.Config{
		{AuthReq: authhttp.Request{URL: "ftp://x/y"}},
		{AuthReq: authhttp.Request{URL: "http:///nohost"}},
		{AuthReq: authhttp.Request{URL: "http://h/a", Method: "put"}},
		{AuthReq: authhttp.Request{URL: "http://h/a", Params: "t=%t"}},
		{ACLReq: authhttp.Request{URL: "http://h/a", Params: "p=%P"}},
		{SuperReq: authhttp.Request{URL: "http://h/a", Params: "x=%u%c"}},
		{AuthOnError: authhttp.AllowOnError},
		{Headers: map[string]string{"Bad Name": "v"}},
		{Timeout: -1},
	} {
		if _, err := authhttp.New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

func TestParseConfig(t *testing.T) {
	m, err := conf.ParseString(authhttp.Defaults, "emq_auth_http.conf")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := authhttp.ParseConfig(m)
	if err != nil {
		t.Fatal(err)
	}
	want := authhttp.Config{
		AuthReq:        authhttp.Request{URL: "http://127.0.0.1:8080/mqtt/auth", Method: "post", Params: "clientid=%c,username=%u,password=%P"},
		SuperReq:       authhttp.Request{URL: "http://127.0.0.1:8080/mqtt/superuser", Method: "post", Params: "clientid=%c,username=%u"},
		ACLReq:         authhttp.Request{URL: "http://127.0.0.1:8080/mqtt/acl", Method: "get", Params: "access=%A,username=%u,clientid=%c,ipaddr=%a,topic=%t"},
		Timeout:        5 * time.Second,
		ConnectTimeout: 5 * time.Second,
		PoolSize:       32,
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("defaults:\n%+v\nwant\n%+v", cfg, want)
	}
	// The shipped file parses to the defaults.
	shipped, err := conf.ParseFile("../../etc/plugins/emq_auth_http.conf")
	if err != nil {
		t.Fatal(err)
	}
	if c2, err := authhttp.ParseConfig(m.Merge(shipped)); err != nil || !reflect.DeepEqual(c2, want) {
		t.Errorf("etc/plugins/emq_auth_http.conf: %v\n%+v", err, c2)
	}

	over, _ := conf.ParseString(`auth.http.super_req =
auth.http.acl_nomatch = allow
auth.http.auth_req.on_error = ignore
auth.http.header.X-Api-Key = secret
`, "over.conf")
	cfg, err = authhttp.ParseConfig(m.Merge(over))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SuperReq.URL != "" || cfg.ACLOnError != authhttp.AllowOnError || cfg.AuthOnError != authhttp.IgnoreOnError || cfg.Headers["X-Api-Key"] != "secret" {
		t.Errorf("overrides: %+v", cfg)
	}

	bad, _ := conf.ParseString(`auth.http.auth_req.method = put
auth.http.acl_req.params = access=%A,x=%P
auth.http.acl_nomatch = maybe
auth.http.auth_req.on_error = allow
auth.http.super_req = localhost:8080
auth.http.pool_size = many
auth.http.unknown = 1
`, "bad.conf")
	_, err = authhttp.ParseConfig(m.Merge(bad))
	for _, want := range []string{
		`bad.conf:1: auth.http.auth_req.method: "put": want get or post`,
		"bad.conf:2: auth.http.acl_req.params: params",
		`bad.conf:3: auth.http.acl_nomatch: invalid value "maybe"`,
		`bad.conf:4: auth.http.auth_req.on_error: invalid value "allow"`,
		`bad.conf:5: auth.http.super_req: "localhost:8080": want an http:// or https:// URL`,
		"bad.conf:6: auth.http.pool_size:",
		"bad.conf:7: auth.http.unknown: unknown key",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("errors lack %q:\n%v", want, err)
		}
	}
}

func TestPlugin(t *testing.T) {
	s := newServer(t)
	dir := t.TempDir()
	text := strings.ReplaceAll(authhttp.Defaults, "http://127.0.0.1:8080", s.URL)
	if err := os.WriteFile(filepath.Join(dir, "emq_auth_http.conf"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	b := brokertest.New(t, broker.Options{}, func(b *broker.Broker) {
		p := b.Plugins()
		p.Register(authhttp.Plugin)
		p.SetConfigDir(dir)
		if err := p.Load(context.Background(), "emq_auth_http"); err != nil {
			t.Fatal(err)
		}
	})
	c, rc := connect(t, b, "c", "alice", "pw", packets.Version5)
	if rc != packets.Success {
		t.Fatal(rc)
	}
	if got := c.Subscribe(t, "secret/x", 0); got != 0x87 {
		t.Errorf("secret/x: %#x", got)
	}
	if _, rc := connect(t, b, "c2", "mallory", "pw", packets.Version5); rc != packets.BadUserNameOrPassword {
		t.Errorf("mallory: %v", rc)
	}
	if err := b.Plugins().Unload(context.Background(), "emq_auth_http"); err != nil {
		t.Fatal(err)
	}
	if _, rc := connect(t, b, "c3", "mallory", "pw", packets.Version5); rc != packets.Success {
		t.Errorf("after unload: %v", rc)
	}
}
