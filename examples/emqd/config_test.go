package main

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/conf"
)

// writeConf writes text as home/etc/emq.conf and returns its path.
func writeConf(t *testing.T, home, text string) string {
	t.Helper()
	path := filepath.Join(home, "etc", "emq.conf")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// emq20Conf is an EMQ 2.0 etc/emq.conf with every key of the 2.0 file,
// values changed from the defaults where emqd reads them.
const emq20Conf = `## EMQ 2.0 layout
node.name = emq@10.0.0.1
node.cookie = emq_dist_cookie
node.smp = auto
node.kernel_poll = on
node.async_threads = 32
node.process_limit = 256000
node.max_ports = 65536
node.dist_buffer_size = 32MB
node.max_ets_tables = 256000
node.fullsweep_after = 1000
node.crash_dump = log/crash.dump
node.dist_net_ticktime = 60

log.console = console
log.console.level = debug
log.error.file = log/error.log
log.crash = on
log.crash.file = log/crash.log

mqtt.max_clientid_len = 512
mqtt.max_packet_size = 1MB
mqtt.client_idle_timeout = 15
mqtt.allow_anonymous = false
mqtt.acl_file = etc/acl.conf
mqtt.cache_acl = true

mqtt.session.max_inflight = 0
mqtt.session.retry_interval = 30
mqtt.session.await_rel_timeout = 10
mqtt.session.max_awaiting_rel = 50
mqtt.session.collect_interval = 0
mqtt.session.expired_after = 2h

mqtt.queue.type = simple
mqtt.queue.max_length = infinity
mqtt.queue.low_watermark = 20%
mqtt.queue.high_watermark = 60%
mqtt.queue.qos0 = false

mqtt.broker.sys_interval = 0
mqtt.pubsub.pool_size = 8
mqtt.pubsub.by_clientid = true
mqtt.pubsub.async = true
mqtt.bridge.max_queue_len = 10000
mqtt.bridge.ping_down_interval = 1

mqtt.plugins.etc_dir = etc/plugins/
mqtt.plugins.loaded_file = data/loaded_plugins

mqtt.listener.tcp = 127.0.0.1:1884
mqtt.listener.tcp.acceptors = 8
mqtt.listener.tcp.max_clients = 10
mqtt.listener.tcp.backlog = 1024

mqtt.listener.ssl = off
mqtt.listener.ssl.acceptors = 4
mqtt.listener.ssl.max_clients = 512
mqtt.listener.ssl.handshake_timeout = 15
mqtt.listener.ssl.keyfile = etc/certs/key.pem
mqtt.listener.ssl.certfile = etc/certs/cert.pem

mqtt.listener.http = 8083
mqtt.listener.http.acceptors = 4
mqtt.listener.http.max_clients = 64

mqtt.listener.https.acceptors = 4
mqtt.listener.https.max_clients = 64
mqtt.listener.https.handshake_timeout = 15
mqtt.listener.https.keyfile = etc/certs/key.pem
mqtt.listener.https.certfile = etc/certs/cert.pem

sysmon.long_gc = false
sysmon.long_schedule = 240
sysmon.large_heap = 8MB
sysmon.busy_port = false
sysmon.busy_dist_port = true
`

func TestLoadConfigEMQ20(t *testing.T) {
	home := t.TempDir()
	path := writeConf(t, home, emq20Conf)
	c, err := LoadConfig(path)
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	if c.Home != home {
		t.Errorf("Home = %q, want %q", c.Home, home)
	}
	if c.LogLevel.Level() != slog.LevelDebug {
		t.Errorf("LogLevel = %v, want DEBUG", c.LogLevel.Level())
	}
	if got := c.Listeners.TCP.Addr; got != "127.0.0.1:1884" {
		t.Errorf("tcp Addr = %q", got)
	}
	if c.Listeners.TCP.MaxClients != 10 {
		t.Errorf("tcp MaxClients = %d", c.Listeners.TCP.MaxClients)
	}
	if got := c.Listeners.HTTP.Addr; got != "0.0.0.0:8083" {
		t.Errorf("http Addr = %q, want 0.0.0.0:8083 for a bare port", got)
	}
	if c.Listeners.SSL.Addr != "" || c.Listeners.HTTPS.Addr != "" {
		t.Errorf("ssl (off) and https (absent) should be off: %q, %q", c.Listeners.SSL.Addr, c.Listeners.HTTPS.Addr)
	}
	if len(c.Ignored) == 0 || c.Ignored[0].Key != "node.cookie" || c.Ignored[0].Line != 3 {
		t.Errorf("Ignored[0] = %+v, want node.cookie at line 3", c.Ignored)
	}

	o := c.BrokerOptions(nil)
	want := broker.Options{
		Node:           "emq@10.0.0.1",
		DenyAnonymous:  true,
		MaxPacketSize:  1 << 20,
		MaxClientIDLen: 512,
		ConnectTimeout: 15 * time.Second,
		SysInterval:    -1, // 0 disables $SYS
		Session: broker.SessionOptions{
			MaxInflight:     -1, // 0 = unlimited
			RetryInterval:   30 * time.Second,
			AwaitRelTimeout: 10 * time.Second,
			MaxAwaitingRel:  50,
			Expiry:          2 * time.Hour,
			MaxQueueLen:     -1, // infinity
			DropQoS0:        true,
		},
		ReceiveMaximum:    100, // the MQTT 5 keys' defaults
		TopicAliasMaximum: 100,
	}
	if o != want {
		t.Errorf("BrokerOptions =\n%+v\nwant\n%+v", o, want)
	}
	if err := o.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

// The shipped etc/emq.conf must load, and be what emqd's defaults are.
func TestLoadConfigShipped(t *testing.T) {
	c, err := LoadConfig(filepath.Join("..", "..", "etc", "emq.conf"))
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	d := DefaultConfig()
	if c.Node != d.Node || c.LogLevel != d.LogLevel || c.Session != d.Session || c.Queue != d.Queue ||
		c.SysInterval != d.SysInterval || c.ClientIdleTimeout != d.ClientIdleTimeout || c.Plugins != d.Plugins {
		t.Errorf("etc/emq.conf differs from DefaultConfig:\n%+v\n%+v", c, d)
	}
	if c.Listeners.TCP.Addr != "0.0.0.0:1883" || c.Listeners.HTTP.Addr != "0.0.0.0:8083" {
		t.Errorf("listeners: tcp %q http %q", c.Listeners.TCP.Addr, c.Listeners.HTTP.Addr)
	}
	if c.Listeners.SSL.Addr != "" || c.Listeners.HTTPS.Addr != "" {
		t.Errorf("ssl/https should ship off")
	}
	if len(c.Ignored) != 0 {
		t.Errorf("etc/emq.conf sets ignored keys: %+v", c.Ignored)
	}
	abs, _ := filepath.Abs(filepath.Join("..", ".."))
	if c.Home != abs {
		t.Errorf("Home = %q, want %q", c.Home, abs)
	}
}

func TestLoadConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []string // substrings of the error, after "<path>:"
	}{
		{"typo key", "node.name = a@b\nmqtt.sesion.max_inflight = 10\n",
			[]string{"emq.conf:2: mqtt.sesion.max_inflight: unknown key"}},
		{"unknown listener", "mqtt.listener.tpc = 1883\n",
			[]string{"emq.conf:1: mqtt.listener.tpc: unknown key"}},
		{"TLS key on a plain listener", "mqtt.listener.tcp = 1883\nmqtt.listener.tcp.certfile = x.pem\n",
			[]string{"emq.conf:2: mqtt.listener.tcp.certfile: unknown key"}},
		{"bad duration", "\n\nmqtt.session.retry_interval = soon\n",
			[]string{`emq.conf:3: mqtt.session.retry_interval: invalid value "soon"`}},
		{"bad size", "mqtt.max_packet_size = big\n",
			[]string{`emq.conf:1: mqtt.max_packet_size: invalid value "big"`}},
		{"bad bool", "mqtt.allow_anonymous = maybe\n",
			[]string{`emq.conf:1: mqtt.allow_anonymous: invalid value "maybe"`}},
		{"bad level", "log.console.level = loud\n",
			[]string{`emq.conf:1: log.console.level: invalid value "loud": want debug, info, warning or error`}},
		{"bad nomatch", "mqtt.acl_nomatch = maybe\n",
			[]string{`emq.conf:1: mqtt.acl_nomatch: invalid value "maybe": want allow or deny`}},
		{"bad queue length", "mqtt.queue.max_length = lots\n",
			[]string{`emq.conf:1: mqtt.queue.max_length: invalid value "lots"`}},
		{"bad port", "mqtt.listener.tcp = 99999\n",
			[]string{`emq.conf:1: mqtt.listener.tcp: invalid value "99999": port 99999 out of range`}},
		{"bad address", "mqtt.listener.http = localhost:8083\n",
			[]string{`emq.conf:1: mqtt.listener.http: invalid value "localhost:8083"`}},
		{"zero expiry", "mqtt.session.expired_after = 0\n",
			[]string{`emq.conf:1: mqtt.session.expired_after: must be more than 0`}},
		{"negative max_clients", "mqtt.listener.tcp.max_clients = -1\n",
			[]string{`emq.conf:1: mqtt.listener.tcp.max_clients: -1 is negative`}},
		{"ssl without cert", "mqtt.listener.ssl = 8883\nmqtt.listener.ssl.keyfile = k.pem\n",
			[]string{`emq.conf:1: mqtt.listener.ssl: TLS listener needs mqtt.listener.ssl.certfile`}},
		{"verify_peer without CA", "mqtt.listener.ssl = 8883\nmqtt.listener.ssl.keyfile = k.pem\nmqtt.listener.ssl.certfile = c.pem\nmqtt.listener.ssl.verify = verify_peer\n",
			[]string{`emq.conf:4: mqtt.listener.ssl.verify: verify_peer needs mqtt.listener.ssl.cacertfile`}},
		{"several at once", "mqtt.sesion.max_inflight = 1\nmqtt.session.retry_interval = soon\n",
			[]string{"emq.conf:1: mqtt.sesion.max_inflight: unknown key", "emq.conf:2: mqtt.session.retry_interval: invalid value"}},
		{"syntax", "mqtt.listener.tcp\n", []string{"emq.conf:1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConf(t, t.TempDir(), tt.text)
			_, err := LoadConfig(path)
			if err == nil {
				t.Fatal("LoadConfig succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), filepath.Dir(path)+"/"+w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
			var ce *conf.Error
			if !errors.As(err, &ce) || ce.File != path {
				t.Errorf("error is not a *conf.Error naming %s: %#v", path, err)
			}
		})
	}
}

func TestLoadConfigValues(t *testing.T) {
	tests := []struct {
		text  string
		check func(t *testing.T, c Config, o broker.Options)
	}{
		{"mqtt.queue.max_length = infinity\n", func(t *testing.T, c Config, o broker.Options) {
			if o.Session.MaxQueueLen != -1 {
				t.Errorf("MaxQueueLen = %d, want -1 (unlimited)", o.Session.MaxQueueLen)
			}
		}},
		{"mqtt.queue.max_length = 0\n", func(t *testing.T, c Config, o broker.Options) {
			if o.Session.MaxQueueLen != -1 {
				t.Errorf("MaxQueueLen = %d, want -1 (unlimited)", o.Session.MaxQueueLen)
			}
		}},
		{"mqtt.queue.max_length = 5\n", func(t *testing.T, c Config, o broker.Options) {
			if o.Session.MaxQueueLen != 5 {
				t.Errorf("MaxQueueLen = %d, want 5", o.Session.MaxQueueLen)
			}
		}},
		{"", func(t *testing.T, c Config, o broker.Options) {
			if o.Session.MaxQueueLen != 1000 || o.Session.MaxInflight != 100 || o.SysInterval != time.Minute {
				t.Errorf("defaults: %+v", o)
			}
			if c.Listeners.TCP.Addr != "" {
				t.Errorf("tcp listener on without its key: %q", c.Listeners.TCP.Addr)
			}
		}},
		{"mqtt.client_idle_timeout = 30s\n", func(t *testing.T, c Config, o broker.Options) {
			if o.ConnectTimeout != 30*time.Second {
				t.Errorf("ConnectTimeout = %v", o.ConnectTimeout)
			}
		}},
		{"mqtt.client_idle_timeout = 45\n", func(t *testing.T, c Config, o broker.Options) {
			if o.ConnectTimeout != 45*time.Second {
				t.Errorf("ConnectTimeout = %v", o.ConnectTimeout)
			}
		}},
		{"mqtt.broker.sys_interval = 5\nmqtt.acl_nomatch = deny\nlog.console.level = warning\n", func(t *testing.T, c Config, o broker.Options) {
			if o.SysInterval != 5*time.Second || !o.DenyACLNoMatch || c.LogLevel.Level() != slog.LevelWarn {
				t.Errorf("SysInterval %v DenyACLNoMatch %v level %v", o.SysInterval, o.DenyACLNoMatch, c.LogLevel.Level())
			}
		}},
		{"mqtt.listener.tcp = [::1]:1883\nmqtt.listener.http = ::1:8083\n", func(t *testing.T, c Config, o broker.Options) {
			if c.Listeners.TCP.Addr != "[::1]:1883" || c.Listeners.HTTP.Addr != "[::1]:8083" {
				t.Errorf("IPv6: tcp %q http %q", c.Listeners.TCP.Addr, c.Listeners.HTTP.Addr)
			}
		}},
		{"mqtt.listener.tcp = 127.0.0.1:0\n", func(t *testing.T, c Config, o broker.Options) {
			if c.Listeners.TCP.Addr != "127.0.0.1:0" {
				t.Errorf("tcp %q", c.Listeners.TCP.Addr)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(strings.TrimSpace(tt.text), func(t *testing.T) {
			c, err := LoadConfig(writeConf(t, t.TempDir(), tt.text))
			if err != nil {
				t.Fatalf("LoadConfig: %v", err)
			}
			tt.check(t, c, c.BrokerOptions(nil))
		})
	}
}

// Relative paths resolve against the home, the folder above etc/, whatever
// the working directory; the TLS files are read from there.
func TestLoadConfigRelativePaths(t *testing.T) {
	home := t.TempDir()
	writeTestPKI(t, home)
	path := writeConf(t, home, `mqtt.listener.ssl = 127.0.0.1:0
mqtt.listener.ssl.keyfile = etc/certs/key.pem
mqtt.listener.ssl.certfile = etc/certs/cert.pem
mqtt.listener.ssl.cacertfile = etc/certs/cacert.pem
mqtt.listener.ssl.verify = verify_peer
mqtt.listener.ssl.fail_if_no_peer_cert = true
`)
	t.Chdir(t.TempDir()) // somewhere else entirely
	c, err := LoadConfig(path)
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	if c.Home != home {
		t.Errorf("Home = %q, want %q", c.Home, home)
	}
	if got, want := c.Resolve("etc/certs/cert.pem"), filepath.Join(home, "etc", "certs", "cert.pem"); got != want {
		t.Errorf("Resolve = %q, want %q", got, want)
	}
	if got := c.Resolve("/abs/file"); got != "/abs/file" {
		t.Errorf("Resolve(abs) = %q", got)
	}
	cfg, err := c.tlsConfig("mqtt.listener.ssl", &c.Listeners.SSL)
	if err != nil {
		t.Fatalf("tlsConfig: %v", err)
	}
	if cfg.ClientAuth != tls.RequireAndVerifyClientCert || cfg.ClientCAs == nil {
		t.Errorf("ClientAuth = %v, ClientCAs = %v", cfg.ClientAuth, cfg.ClientCAs)
	}

	// The relative path of a config file given relative to the working
	// directory works the same.
	t.Chdir(home)
	c, err = LoadConfig(filepath.Join("etc", "emq.conf"))
	if err != nil {
		t.Fatalf("LoadConfig: %v", err)
	}
	if c.Home != home {
		t.Errorf("Home = %q, want %q", c.Home, home)
	}

	// A missing file names the key, file and line.
	c.Listeners.SSL.CertFile = "etc/certs/missing.pem"
	_, err = c.tlsConfig("mqtt.listener.ssl", &c.Listeners.SSL)
	if err == nil || !strings.Contains(err.Error(), "etc/emq.conf:3: mqtt.listener.ssl.certfile: loading etc/certs/missing.pem") {
		t.Errorf("tlsConfig error = %v", err)
	}
}
