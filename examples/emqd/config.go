package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/conf"
)

// Config is what emqd reads from etc/emq.conf: the EMQ 2.0 keys it
// implements, with their defaults filled in by DefaultConfig.
type Config struct {
	// Path is the configuration file as given on the command line.
	Path string `conf:"-"`
	// Home is the emqd home, the folder holding etc/; relative paths in the
	// configuration resolve against it (see Resolve).
	Home string `conf:"-"`

	Node              string          `conf:"node.name"`
	CtlSocket         string          `conf:"node.ctl_socket"`
	LogLevel          LogLevel        `conf:"log.console.level"`
	MaxClientIDLen    int             `conf:"mqtt.max_clientid_len"`
	MaxPacketSize     int             `conf:"mqtt.max_packet_size,size"`
	ClientIdleTimeout time.Duration   `conf:"mqtt.client_idle_timeout,unit=s"`
	AllowAnonymous    bool            `conf:"mqtt.allow_anonymous"`
	ACLNomatch        string          `conf:"mqtt.acl_nomatch"`
	ACLFile           string          `conf:"mqtt.acl_file"`  // "off" for none
	CacheACL          bool            `conf:"mqtt.cache_acl"` // publish decisions, per connection
	MQTT5             MQTT5Config     `conf:"mqtt"`
	Session           SessionConfig   `conf:"mqtt.session"`
	Queue             QueueConfig     `conf:"mqtt.queue"`
	SysInterval       time.Duration   `conf:"mqtt.broker.sys_interval,unit=s"`
	Plugins           PluginsConfig   `conf:"mqtt.plugins"`
	Listeners         ListenersConfig `conf:"mqtt.listener"`

	// Ignored are the entries of EMQ 2.0 keys that emqd accepts but does
	// not implement (see ignoredKeys).
	Ignored []conf.Entry `conf:"-"`

	m conf.Map // the file, for errors positioned at a key
}

// SessionConfig is mqtt.session.*.
type SessionConfig struct {
	MaxInflight     int           `conf:"max_inflight"` // 0 = unlimited
	RetryInterval   time.Duration `conf:"retry_interval,unit=s"`
	AwaitRelTimeout time.Duration `conf:"await_rel_timeout,unit=s"`
	MaxAwaitingRel  int           `conf:"max_awaiting_rel"` // 0 = unlimited
	ExpiredAfter    time.Duration `conf:"expired_after,unit=s"`
	MaxExpiry       time.Duration `conf:"max_expiry,unit=s"` // MQTT 5 Session Expiry cap; 0 = none
}

// QueueConfig is mqtt.queue.*.
type QueueConfig struct {
	MaxLength int  `conf:"max_length,inf0"` // 0 and infinity = unlimited
	QoS0      bool `conf:"qos0"`
}

// PluginsConfig is mqtt.plugins.*; both paths are relative to the home.
// The loaded file lists the plugins to load at start, one "name." a line
// (EMQ's format); emqd rewrites it when a plugin is loaded or unloaded.
type PluginsConfig struct {
	EtcDir     string `conf:"etc_dir"`
	LoadedFile string `conf:"loaded_file"`
}

// ListenersConfig is mqtt.listener.*.
type ListenersConfig struct {
	TCP   Listener    `conf:"tcp"`
	SSL   TLSListener `conf:"ssl"`
	HTTP  Listener    `conf:"http"`
	HTTPS TLSListener `conf:"https"`
}

// Listener is one mqtt.listener.<proto> key and the keys under it.
type Listener struct {
	// Bind is the value as written: "[ip:]port", or "off". Absent or off
	// means the listener is not started.
	Bind       string `conf:"."`
	Acceptors  int    `conf:"acceptors"`   // accepted and checked, not used: Go needs no acceptor pool
	MaxClients int    `conf:"max_clients"` // 0 = no limit

	// Addr is Bind as a host:port for net.Listen ("0.0.0.0:1883" for a
	// bare port), "" when the listener is off.
	Addr string `conf:"-"`
}

// TLSListener is a listener with TLS: mqtt.listener.ssl and .https.
type TLSListener struct {
	Listener
	KeyFile    string `conf:"keyfile"`
	CertFile   string `conf:"certfile"`
	CACertFile string `conf:"cacertfile"`
	// Verify is "verify_peer" to ask for client certificates (checked
	// against CACertFile), or "verify_none" / "" not to.
	Verify string `conf:"verify"`
	// FailIfNoPeerCert refuses clients without a certificate (with
	// verify_peer).
	FailIfNoPeerCert bool `conf:"fail_if_no_peer_cert"`
}

// LogLevel is log.console.level: debug, info, notice, warning, error,
// critical, alert or emergency (EMQ's lager levels), mapped onto slog's four.
type LogLevel slog.Level

// UnmarshalText implements encoding.TextUnmarshaler.
func (l *LogLevel) UnmarshalText(b []byte) error {
	switch strings.ToLower(string(b)) {
	case "debug":
		*l = LogLevel(slog.LevelDebug)
	case "info", "notice":
		*l = LogLevel(slog.LevelInfo)
	case "warning", "warn":
		*l = LogLevel(slog.LevelWarn)
	case "error", "critical", "alert", "emergency":
		*l = LogLevel(slog.LevelError)
	default:
		return errors.New("want debug, info, warning or error")
	}
	return nil
}

// Level returns l as a slog.Level.
func (l LogLevel) Level() slog.Level { return slog.Level(l) }

// ignoredKeys are the keys of EMQ 2.0's etc/emq.conf (and its schema,
// priv/emq.schema) that emqd accepts and ignores: Erlang VM and
// distribution settings, log files, the pubsub pool and bridge, socket
// tuning and sysmon have no counterpart here. Any other key that emqd does
// not read is an error, so a typo cannot pass silently.
var ignoredKeys = func() map[string]bool {
	keys := []string{
		// Erlang node and distribution.
		"node.cookie", "node.smp", "node.heartbeat", "node.kernel_poll", "node.async_threads",
		"node.process_limit", "node.max_ports", "node.dist_buffer_size", "node.max_ets_tables",
		"node.fullsweep_after", "node.crash_dump", "node.dist_net_ticktime",
		"node.dist_listen_min", "node.dist_listen_max",
		// Log files, syslog, crash log (emqd logs to stderr only).
		"log.dir", "log.console", "log.console.file", "log.error.file", "log.info.file",
		"log.error.redirect", "log.error.messages_per_second",
		"log.syslog", "log.syslog.identity", "log.syslog.facility", "log.syslog.level",
		"log.crash", "log.crash.file", "sasl",
		// Session and queue tuning without a counterpart.
		"mqtt.session.collect_interval",
		"mqtt.queue.type", "mqtt.queue.priority", "mqtt.queue.low_watermark", "mqtt.queue.high_watermark",
		// PubSub pool and bridge.
		"mqtt.pubsub.pool_size", "mqtt.pubsub.by_clientid", "mqtt.pubsub.async",
		"mqtt.bridge.max_queue_len", "mqtt.bridge.ping_down_interval",
		// System monitor.
		"sysmon.long_gc", "sysmon.long_schedule", "sysmon.large_heap", "sysmon.busy_port", "sysmon.busy_dist_port",
	}
	// Socket tuning of every listener, and TLS tuning of the TLS ones.
	for _, proto := range []string{"tcp", "ssl", "http", "https"} {
		for _, k := range []string{"backlog", "rate_limit", "recbuf", "sndbuf", "buffer", "nodelay"} {
			keys = append(keys, "mqtt.listener."+proto+"."+k)
		}
	}
	for _, proto := range []string{"ssl", "https"} {
		for _, k := range []string{"handshake_timeout", "tls_versions"} {
			keys = append(keys, "mqtt.listener."+proto+"."+k)
		}
	}
	m := make(map[string]bool, len(keys))
	for _, k := range keys {
		m[k] = true
	}
	return m
}()

// DefaultConfig returns the configuration emqd uses for keys the file
// leaves out: EMQ 2.0's defaults, except where noted on the field. No
// listener is on by default.
func DefaultConfig() Config {
	return Config{
		Node:              "emqd@127.0.0.1",
		CtlSocket:         "data/emqd.sock",
		LogLevel:          LogLevel(slog.LevelWarn), // EMQ: error
		MaxClientIDLen:    1024,
		MaxPacketSize:     64 << 10,
		ClientIdleTimeout: 30 * time.Second,
		AllowAnonymous:    true,
		ACLNomatch:        "allow",
		ACLFile:           "etc/acl.conf",
		CacheACL:          true,
		MQTT5:             MQTT5Config{ReceiveMaximum: 100, MaxTopicAlias: 100, SubscribeDeniedCode: "not_authorized"},
		Session: SessionConfig{
			MaxInflight:     100,
			RetryInterval:   60 * time.Second,
			AwaitRelTimeout: 20 * time.Second,
			MaxAwaitingRel:  0,
			ExpiredAfter:    24 * time.Hour,
		},
		// EMQ 2.0 shipped infinity; 2.3 chose 1000, which is safer.
		Queue:       QueueConfig{MaxLength: 1000, QoS0: true},
		SysInterval: 60 * time.Second,
		Plugins:     PluginsConfig{EtcDir: "etc/plugins/", LoadedFile: "data/loaded_plugins"},
		Listeners: ListenersConfig{
			TCP:   Listener{Acceptors: 8, MaxClients: 1024},
			SSL:   TLSListener{Listener: Listener{Acceptors: 4, MaxClients: 512}},
			HTTP:  Listener{Acceptors: 4, MaxClients: 64},
			HTTPS: TLSListener{Listener: Listener{Acceptors: 4, MaxClients: 64}},
		},
	}
}

// LoadConfig reads the emq.conf at path over DefaultConfig and checks it.
// Home is set to the folder above the etc/ folder holding the file. Every
// problem is reported, each naming file, line and key.
func LoadConfig(path string) (Config, error) {
	c := DefaultConfig()
	c.Path = path
	abs, err := filepath.Abs(path)
	if err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	c.Home = filepath.Dir(filepath.Dir(abs))
	m, err := conf.ParseFile(path)
	if err != nil {
		return c, err
	}
	c.m = m
	var errs []error
	for _, e := range unwrapAll(m.Decode(&c)) {
		var ce *conf.Error
		if errors.As(e, &ce) && ignoredKeys[ce.Key] {
			continue // an EMQ 2.0 key emqd does not implement: no field reads it
		}
		errs = append(errs, e)
	}
	for _, k := range m.Keys() {
		if ignoredKeys[k] {
			e, _ := m.Entry(k)
			c.Ignored = append(c.Ignored, e)
		}
	}
	errs = append(errs, c.check()...)
	return c, errors.Join(errs...)
}

// unwrapAll splits a joined error into its parts.
func unwrapAll(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// errorf returns an error positioned at key's entry in the file.
func (c *Config) errorf(key, format string, args ...any) error {
	return c.m.Errorf(key, format, args...)
}

// check validates the decoded values and fills in the listener addresses.
func (c *Config) check() []error {
	var errs []error
	bad := func(key, format string, args ...any) { errs = append(errs, c.errorf(key, format, args...)) }
	if c.Node == "" {
		bad("node.name", "must not be empty")
	}
	if c.MaxClientIDLen < 1 || c.MaxClientIDLen > 65535 {
		bad("mqtt.max_clientid_len", "%d out of range: want 1 to 65535", c.MaxClientIDLen)
	}
	if c.MaxPacketSize < 2 || c.MaxPacketSize > 268435455 {
		bad("mqtt.max_packet_size", "%d bytes out of range: want 2B to 256MB", c.MaxPacketSize)
	}
	if c.ClientIdleTimeout <= 0 {
		bad("mqtt.client_idle_timeout", "must be more than 0")
	}
	switch c.ACLNomatch {
	case "allow", "deny":
	default:
		bad("mqtt.acl_nomatch", "invalid value %q: want allow or deny", c.ACLNomatch)
	}
	if m := c.MQTT5.ReceiveMaximum; m < 0 || m > 65535 {
		bad("mqtt.receive_maximum", "%d out of range: want 1 to 65535", m)
	}
	if m := c.MQTT5.MaxTopicAlias; m < 0 || m > 65535 {
		bad("mqtt.max_topic_alias", "%d out of range: want 0 to 65535", m)
	}
	if k := c.MQTT5.ServerKeepAlive; k < 0 || k > 65535*time.Second {
		bad("mqtt.server_keepalive", "%v out of range: want 0 to 65535 seconds", k)
	}
	switch c.MQTT5.SubscribeDeniedCode {
	case "not_authorized", "unspecified":
	default:
		bad("mqtt.subscribe_denied_code", "invalid value %q: want not_authorized or unspecified", c.MQTT5.SubscribeDeniedCode)
	}
	if c.Session.MaxExpiry < 0 {
		bad("mqtt.session.max_expiry", "must not be negative")
	}
	s := c.Session
	if s.MaxInflight < 0 {
		bad("mqtt.session.max_inflight", "%d is negative: want 0 (no limit) or more", s.MaxInflight)
	}
	if s.RetryInterval <= 0 {
		bad("mqtt.session.retry_interval", "must be more than 0")
	}
	if s.AwaitRelTimeout <= 0 {
		bad("mqtt.session.await_rel_timeout", "must be more than 0")
	}
	if s.MaxAwaitingRel < 0 {
		bad("mqtt.session.max_awaiting_rel", "%d is negative: want 0 (no limit) or more", s.MaxAwaitingRel)
	}
	if s.ExpiredAfter <= 0 {
		bad("mqtt.session.expired_after", "must be more than 0")
	}
	if c.Queue.MaxLength < 0 {
		bad("mqtt.queue.max_length", "%d is negative: want infinity, 0 (no limit) or more", c.Queue.MaxLength)
	}
	if c.SysInterval < 0 {
		bad("mqtt.broker.sys_interval", "must not be negative")
	}
	ls := &c.Listeners
	for _, l := range []struct {
		key string
		l   *Listener
	}{
		{"mqtt.listener.tcp", &ls.TCP}, {"mqtt.listener.ssl", &ls.SSL.Listener},
		{"mqtt.listener.http", &ls.HTTP}, {"mqtt.listener.https", &ls.HTTPS.Listener},
	} {
		errs = append(errs, c.checkListener(l.key, l.l)...)
	}
	errs = append(errs, c.checkTLS("mqtt.listener.ssl", &ls.SSL)...)
	errs = append(errs, c.checkTLS("mqtt.listener.https", &ls.HTTPS)...)
	return errs
}

func (c *Config) checkListener(key string, l *Listener) []error {
	var errs []error
	if l.Acceptors < 1 {
		errs = append(errs, c.errorf(key+".acceptors", "%d: want 1 or more", l.Acceptors))
	}
	if l.MaxClients < 0 {
		errs = append(errs, c.errorf(key+".max_clients", "%d is negative: want 0 (no limit) or more", l.MaxClients))
	}
	l.Addr = ""
	if conf.IsOff(l.Bind) {
		return errs
	}
	addr, err := parseBind(l.Bind)
	if err != nil {
		return append(errs, c.errorf(key, "invalid value %q: %v", l.Bind, err))
	}
	l.Addr = addr
	return errs
}

// parseBind turns EMQ's "[ip:]port" into a host:port for net.Listen. A
// bare port listens on every IPv4 address, like EMQ. IPv6 addresses may be
// written bracketed ("[::1]:1883") or bare ("::1:1883").
func parseBind(v string) (string, error) {
	const want = "want a port, or ip:port, such as 1883 or 127.0.0.1:1883"
	if v != "" && strings.TrimLeft(v, "0123456789") == "" {
		port, err := parsePort(v)
		if err != nil {
			return "", err
		}
		return net.JoinHostPort("0.0.0.0", strconv.Itoa(port)), nil
	}
	host, portStr, err := net.SplitHostPort(v)
	if err != nil {
		i := strings.LastIndexByte(v, ':')
		if i < 0 {
			return "", errors.New(want)
		}
		host, portStr = v[:i], v[i+1:]
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return "", errors.New(want)
	}
	port, err := parsePort(portStr)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(ip.String(), strconv.Itoa(port)), nil
}

func parsePort(s string) (int, error) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, errors.New("want a port, or ip:port, such as 1883 or 127.0.0.1:1883")
	}
	n, err := strconv.Atoi(s)
	if err != nil || n > 65535 {
		return 0, fmt.Errorf("port %s out of range: want 0 to 65535", s)
	}
	return n, nil
}

func (c *Config) checkTLS(key string, l *TLSListener) []error {
	var errs []error
	switch l.Verify {
	case "", "verify_none", "verify_peer":
	default:
		errs = append(errs, c.errorf(key+".verify", "invalid value %q: want verify_peer or verify_none", l.Verify))
	}
	if l.Addr == "" {
		return errs
	}
	if l.CertFile == "" {
		errs = append(errs, c.errorf(key, "TLS listener needs %s.certfile", key))
	}
	if l.KeyFile == "" {
		errs = append(errs, c.errorf(key, "TLS listener needs %s.keyfile", key))
	}
	if l.Verify == "verify_peer" && l.CACertFile == "" {
		errs = append(errs, c.errorf(key+".verify", "verify_peer needs %s.cacertfile, the CA certificates that sign client certificates", key))
	}
	if l.FailIfNoPeerCert && l.Verify != "verify_peer" {
		errs = append(errs, c.errorf(key+".fail_if_no_peer_cert", "needs %s.verify = verify_peer", key))
	}
	return errs
}

// Resolve returns path resolved against the home: absolute paths are
// returned as they are.
func (c *Config) Resolve(path string) string {
	if path == "" || filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(c.Home, path)
}

// NewLogger returns the logger the configuration asks for: slog text
// lines on w at log.console.level.
func (c *Config) NewLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: c.LogLevel.Level()}))
}

// BrokerOptions maps the configuration onto broker.Options.
func (c *Config) BrokerOptions(log *slog.Logger) broker.Options {
	o := broker.Options{
		Node:           c.Node,
		Logger:         log,
		DenyAnonymous:  !c.AllowAnonymous,
		DenyACLNoMatch: c.ACLNomatch == "deny",
		MaxPacketSize:  c.MaxPacketSize,
		MaxClientIDLen: c.MaxClientIDLen,
		ConnectTimeout: c.ClientIdleTimeout,
		SysInterval:    c.SysInterval,
		Session: broker.SessionOptions{
			MaxInflight:     c.Session.MaxInflight,
			RetryInterval:   c.Session.RetryInterval,
			AwaitRelTimeout: c.Session.AwaitRelTimeout,
			MaxAwaitingRel:  c.Session.MaxAwaitingRel,
			Expiry:          c.Session.ExpiredAfter,
			MaxQueueLen:     c.Queue.MaxLength,
			DropQoS0:        !c.Queue.QoS0,
		},
	}
	// EMQ: mqtt.cache_acl = true caches publish ACL decisions.
	o.DisableACLCache = !c.CacheACL
	o.ReceiveMaximum = c.MQTT5.ReceiveMaximum
	o.TopicAliasMaximum = c.MQTT5.MaxTopicAlias
	if o.TopicAliasMaximum == 0 {
		o.TopicAliasMaximum = -1 // 0 = no aliases; the broker's 0 is "the default"
	}
	o.ServerKeepAlive = c.MQTT5.ServerKeepAlive
	o.ResponseInformation = c.MQTT5.ResponseInformation
	o.SubscribeDeniedUnspecified = c.MQTT5.SubscribeDeniedCode == "unspecified"
	o.Session.MaxExpiry = c.Session.MaxExpiry
	// EMQ writes 0 for "no limit"; the broker's options use a negative
	// value, 0 being "the default".
	if o.Session.MaxInflight == 0 {
		o.Session.MaxInflight = -1
	}
	if o.Session.MaxQueueLen == 0 {
		o.Session.MaxQueueLen = -1
	}
	if o.SysInterval == 0 {
		o.SysInterval = -1 // sys_interval = 0 disables $SYS
	}
	return o
}

// MQTT5Config holds the MQTT 5 keys under mqtt.* (EMQ 2.0 had no MQTT 5;
// the names follow EMQX where it has one).
type MQTT5Config struct {
	ReceiveMaximum      int           `conf:"receive_maximum"`         // 0 = the broker's default (100)
	MaxTopicAlias       int           `conf:"max_topic_alias"`         // 0 = no topic aliases
	ServerKeepAlive     time.Duration `conf:"server_keepalive,unit=s"` // 0 = the client's keep alive
	ResponseInformation string        `conf:"response_information"`    // "" = none; %c, %u substituted
	SubscribeDeniedCode string        `conf:"subscribe_denied_code"`   // not_authorized (0x87) | unspecified (0x80)
}
