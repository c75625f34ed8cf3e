package conf_test

import (
	"errors"
	"log/slog"
	"net/netip"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emqgo/broker/conf"
)

// The EMQ 2.0 etc/emq.conf, as a broker might declare it.

type nodeConf struct {
	Name            string        `conf:"name"`
	Cookie          string        `conf:"cookie"`
	SMP             string        `conf:"smp"`
	Heartbeat       bool          `conf:"heartbeat"`
	KernelPoll      bool          `conf:"kernel_poll"`
	AsyncThreads    int           `conf:"async_threads"`
	ProcessLimit    int           `conf:"process_limit"`
	MaxPorts        int           `conf:"max_ports"`
	DistBufferSize  int64         `conf:"dist_buffer_size,size"`
	MaxETSTables    int           `conf:"max_ets_tables"`
	FullsweepAfter  int           `conf:"fullsweep_after"`
	CrashDump       string        `conf:"crash_dump"`
	DistNetTicktime time.Duration `conf:"dist_net_ticktime,unit=s"`
}

type logConf struct {
	Console      string     `conf:"console"`
	ConsoleLevel slog.Level `conf:"console.level"` // an encoding.TextUnmarshaler
	ErrorFile    string     `conf:"error.file"`
	Crash        bool       `conf:"crash"`
	CrashFile    string     `conf:"crash.file"`
}

type sessionConf struct {
	MaxInflight     int           `conf:"max_inflight"`
	RetryInterval   time.Duration `conf:"retry_interval,unit=s"`
	AwaitRelTimeout time.Duration `conf:"await_rel_timeout,unit=s"`
	MaxAwaitingRel  int           `conf:"max_awaiting_rel"`
	CollectInterval time.Duration `conf:"collect_interval,unit=s"`
	ExpiredAfter    time.Duration `conf:"expired_after"`
}

type queueConf struct {
	Type          string   `conf:"type"`
	Priority      []string `conf:"priority"`
	MaxLength     int      `conf:"max_length,inf0"`
	LowWatermark  float64  `conf:"low_watermark,percent"`
	HighWatermark float64  `conf:"high_watermark,percent"`
	QoS0          bool     `conf:"qos0"`
}

type listenerConf struct {
	Addr             string        `conf:"."`
	Acceptors        int           `conf:"acceptors"`
	MaxClients       int           `conf:"max_clients"`
	Backlog          int           `conf:"backlog"`
	RateLimit        []int         `conf:"rate_limit"`
	HandshakeTimeout time.Duration `conf:"handshake_timeout,unit=s"`
	KeyFile          string        `conf:"keyfile"`
	CertFile         string        `conf:"certfile"`
}

type mqttConf struct {
	MaxClientIDLen    int           `conf:"max_clientid_len"`
	MaxPacketSize     int           `conf:"max_packet_size,size"`
	ClientIdleTimeout time.Duration `conf:"client_idle_timeout,unit=s"`
	AllowAnonymous    bool          `conf:"allow_anonymous"`
	ACLFile           string        `conf:"acl_file"`
	CacheACL          bool          `conf:"cache_acl"`
	Session           sessionConf   `conf:"session"`
	Queue             queueConf     `conf:"queue"`
	Broker            struct {
		SysInterval time.Duration `conf:"sys_interval,unit=s"`
	} `conf:"broker"`
	PubSub struct {
		PoolSize   int  `conf:"pool_size"`
		ByClientID bool `conf:"by_clientid"`
		Async      bool `conf:"async"`
	} `conf:"pubsub"`
	Bridge struct {
		MaxQueueLen      int           `conf:"max_queue_len"`
		PingDownInterval time.Duration `conf:"ping_down_interval,unit=s"`
	} `conf:"bridge"`
	PluginsEtcDir     string                  `conf:"plugins.etc_dir"`
	PluginsLoadedFile string                  `conf:"plugins.loaded_file"`
	Listeners         map[string]listenerConf `conf:"listener"`
}

type sysmonConf struct {
	LongGC       bool          `conf:"long_gc"`
	LongSchedule time.Duration `conf:"long_schedule,unit=ms"`
	LargeHeap    uint64        `conf:"large_heap,size"`
	BusyPort     bool          `conf:"busy_port"`
	BusyDistPort bool          `conf:"busy_dist_port"`
}

type emqConf struct {
	Node   nodeConf   `conf:"node"`
	Log    logConf    `conf:"log"`
	MQTT   mqttConf   `conf:"mqtt"`
	Sysmon sysmonConf `conf:"sysmon"`
}

func TestDecodeGoldenEMQ(t *testing.T) {
	m, err := conf.ParseFile(filepath.Join("testdata", "emq.conf"))
	if err != nil {
		t.Fatal(err)
	}
	var got emqConf
	got.Node.Heartbeat = true // a default the file does not set
	got.MQTT.Queue.Priority = []string{"keep"}
	if err := m.Decode(&got); err != nil {
		t.Fatal(err)
	}
	want := emqConf{
		Node: nodeConf{
			Name: "emqttd@127.0.0.1", Cookie: "emq_dist_cookie", SMP: "auto", Heartbeat: true, KernelPoll: true,
			AsyncThreads: 32, ProcessLimit: 256000, MaxPorts: 65536, DistBufferSize: 32 << 20,
			MaxETSTables: 256000, FullsweepAfter: 1000, CrashDump: "log/crash.dump", DistNetTicktime: time.Minute,
		},
		Log: logConf{Console: "console", ConsoleLevel: slog.LevelError, ErrorFile: "log/error.log", Crash: true, CrashFile: "log/crash.log"},
		MQTT: mqttConf{
			MaxClientIDLen: 1024, MaxPacketSize: 64 << 10, ClientIdleTimeout: 30 * time.Second,
			AllowAnonymous: true, ACLFile: "etc/acl.conf", CacheACL: true,
			Session: sessionConf{
				MaxInflight: 100, RetryInterval: time.Minute, AwaitRelTimeout: 20 * time.Second,
				ExpiredAfter: 24 * time.Hour,
			},
			Queue:         queueConf{Type: "simple", Priority: []string{"keep"}, MaxLength: 0, LowWatermark: 0.2, HighWatermark: 0.6, QoS0: true},
			PluginsEtcDir: "etc/plugins/", PluginsLoadedFile: "data/loaded_plugins",
			Listeners: map[string]listenerConf{
				"tcp":   {Addr: "1883", Acceptors: 8, MaxClients: 1024, Backlog: 1024},
				"ssl":   {Addr: "8883", Acceptors: 4, MaxClients: 512, HandshakeTimeout: 15 * time.Second, KeyFile: "etc/certs/key.pem", CertFile: "etc/certs/cert.pem"},
				"http":  {Addr: "8083", Acceptors: 4, MaxClients: 64},
				"https": {Addr: "8084", Acceptors: 4, MaxClients: 64, HandshakeTimeout: 15 * time.Second, KeyFile: "etc/certs/key.pem", CertFile: "etc/certs/cert.pem"},
			},
		},
		Sysmon: sysmonConf{LongSchedule: 240 * time.Millisecond, LargeHeap: 8 << 20, BusyDistPort: true},
	}
	want.MQTT.Broker.SysInterval = time.Minute
	want.MQTT.PubSub.PoolSize, want.MQTT.PubSub.ByClientID, want.MQTT.PubSub.Async = 8, true, true
	want.MQTT.Bridge.MaxQueueLen, want.MQTT.Bridge.PingDownInterval = 10000, time.Second
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decoded:\n got %+v\nwant %+v", got, want)
	}
}

type mysqlConf struct {
	Server       string `conf:"server"`
	Pool         int    `conf:"pool"`
	Username     string `conf:"username"`
	Password     string `conf:"password"`
	Database     string `conf:"database"`
	AuthQuery    string `conf:"auth_query"`
	PasswordHash string `conf:"password_hash"`
	SuperQuery   string `conf:"super_query"`
	ACLQuery     string `conf:"acl_query"`
	ACLNomatch   string `conf:"acl_nomatch"`
}

func TestDecodeGoldenAuthMySQL(t *testing.T) {
	m, err := conf.ParseFile(filepath.Join("testdata", "emq_auth_mysql.conf"))
	if err != nil {
		t.Fatal(err)
	}
	got := mysqlConf{Username: "root", Pool: 1}
	if err := m.Sub("auth.mysql").Decode(&got); err != nil {
		t.Fatal(err)
	}
	want := mysqlConf{
		Server:       "127.0.0.1:3306",
		Pool:         8,
		Username:     "root", // commented out in the file: the default stays
		Database:     "mqtt",
		AuthQuery:    "select password from mqtt_user where username = '%u' limit 1",
		PasswordHash: "sha256",
		SuperQuery:   "select is_superuser from mqtt_user where username = '%u' limit 1",
		ACLQuery:     "select allow, ipaddr, username, clientid, access, topic from mqtt_acl where ipaddr = '%a' or username = '%u' or username = '$all' or clientid = '%c'",
		ACLNomatch:   "deny",
	}
	if got != want {
		t.Errorf("decoded:\n got %+v\nwant %+v", got, want)
	}
}

// Numbered groups, maps, switches that are also prefixes, pointers.

type subscription struct {
	Topic string `conf:"topic"`
	QoS   uint8  `conf:"qos"`
}

type presence struct {
	Enabled bool `conf:"."`
	QoS     int  `conf:"qos"`
}

type client struct {
	ClientID string `conf:"clientid"`
	Password string `conf:"password"`
}

type modulesConf struct {
	Presence      *presence         `conf:"module.presence"`
	Subscriptions []subscription    `conf:"module.subscription"`
	SubBackend    bool              `conf:"module.subscription.backend"`
	Rewrite       bool              `conf:"module.rewrite"`
	RewriteRules  []string          `conf:"module.rewrite.rule,list"`
	Users         map[string]string `conf:"auth.username,map"`
	Clients       []*client         `conf:"auth.client,list"`
	Retainer      *struct {
		MaxPayloadSize int `conf:"max_payload_size,size"`
	} `conf:"module.retainer"`
}

func TestDecodeGroups(t *testing.T) {
	m := mustParse(t, `module.presence = on
module.presence.qos = 0
module.subscription.2.topic = $user/%u
module.subscription.1.topic = $client/%c
module.subscription.1.qos = 1
module.subscription.2.qos = 2
module.subscription.10.topic = last/#
module.subscription.backend = on
module.rewrite = off
module.rewrite.rule.2 = y/+/z/# ^y/(.+)/z/(.+)$ y/z/$2
module.rewrite.rule.1 = x/# ^x/y/(.+)$ z/y/$1
auth.username.test = public
auth.username.admin = "  spaced  "
auth.client.1.clientid = id
auth.client.1.password = passwd
auth.client.3.clientid = app:appid
`, "mods.conf")
	got := modulesConf{Users: map[string]string{"default": "x", "test": "old"}}
	if err := m.Decode(&got); err != nil {
		t.Fatal(err)
	}
	want := modulesConf{
		Presence: &presence{Enabled: true},
		Subscriptions: []subscription{
			{Topic: "$client/%c", QoS: 1},
			{Topic: "$user/%u", QoS: 2},
			{Topic: "last/#"},
		},
		SubBackend:   true,
		RewriteRules: []string{"x/# ^x/y/(.+)$ z/y/$1", "y/+/z/# ^y/(.+)/z/(.+)$ y/z/$2"},
		Users:        map[string]string{"default": "x", "test": "public", "admin": "  spaced  "},
		Clients:      []*client{{ClientID: "id", Password: "passwd"}, {ClientID: "app:appid"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decoded:\n got %+v\nwant %+v", got, want)
	}
	if got.Retainer != nil {
		t.Error("pointer to a group with no keys was allocated")
	}
}

type textAddr struct {
	Listen  netip.AddrPort `conf:"listen"`
	Allowed []netip.Prefix `conf:"allowed"`
	Level   *slog.Level    `conf:"level"`
	Unset   *int           `conf:"unset"`
	Count   *int           `conf:"count"`
}

func TestDecodeTextAndPointers(t *testing.T) {
	m := mustParse(t, "listen = 127.0.0.1:1883\nallowed = 10.0.0.0/8, 192.168.0.0/16\nlevel = warn\ncount = 3\n", "t.conf")
	var got textAddr
	if err := m.Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got.Listen != netip.MustParseAddrPort("127.0.0.1:1883") {
		t.Errorf("Listen = %v", got.Listen)
	}
	if len(got.Allowed) != 2 || got.Allowed[1] != netip.MustParsePrefix("192.168.0.0/16") {
		t.Errorf("Allowed = %v", got.Allowed)
	}
	if got.Level == nil || *got.Level != slog.LevelWarn {
		t.Errorf("Level = %v", got.Level)
	}
	if got.Unset != nil || got.Count == nil || *got.Count != 3 {
		t.Errorf("Unset = %v, Count = %v", got.Unset, got.Count)
	}
}

type Common struct {
	Pool int `conf:"pool"`
}

type embedded struct {
	Common
	Server string `conf:"server"`
	Skip   string `conf:"-"`
	NoTag  string
	Rest   conf.Map `conf:"extra"`
}

func TestDecodeEmbeddedAndMap(t *testing.T) {
	m := mustParse(t, "server = s\npool = 3\nextra.a = 1\nextra.b.c = 2\n", "e.conf")
	var got embedded
	if err := m.Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got.Pool != 3 || got.Server != "s" {
		t.Errorf("got %+v", got)
	}
	if got.Rest.String() != "a = 1\nb.c = 2\n" {
		t.Errorf("Rest = %q", got.Rest.String())
	}
	if e, _ := got.Rest.Entry("b.c"); e.Line != 4 || e.File != "e.conf" {
		t.Errorf("Rest entry position = %+v", e)
	}
}

type scalars struct {
	S    string          `conf:"s"`
	B    bool            `conf:"b"`
	I    int             `conf:"i"`
	I8   int8            `conf:"i8"`
	U16  uint16          `conf:"u16"`
	U    uint            `conf:"u"`
	Inf  int             `conf:"inf,inf0"`
	UInf uint32          `conf:"uinf,inf0"`
	Sz   int             `conf:"sz,size"`
	Sz16 int16           `conf:"sz16,size"`
	SzI  int64           `conf:"szi,size,inf0"`
	F    float64         `conf:"f"`
	F32  float32         `conf:"f32"`
	P    float64         `conf:"p,percent"`
	D    time.Duration   `conf:"d"`
	DS   time.Duration   `conf:"ds,unit=s"`
	DMs  time.Duration   `conf:"dms,unit=ms"`
	DInf time.Duration   `conf:"dinf,inf0"`
	DD   time.Duration   `conf:"dd,unit=d"`
	L    []string        `conf:"l"`
	LI   []int           `conf:"li"`
	LD   []time.Duration `conf:"ld,unit=s"`
}

func TestDecodeScalars(t *testing.T) {
	tests := []struct {
		key, value string
		want       scalars
	}{
		{"s", " kept ", scalars{S: " kept "}},
		{"b", "on", scalars{B: true}},
		{"b", "TRUE", scalars{B: true}},
		{"b", "off", scalars{}},
		{"i", "-42", scalars{I: -42}},
		{"i", "+7", scalars{I: 7}},
		{"i8", "-128", scalars{I8: -128}},
		{"u16", "65535", scalars{U16: 65535}},
		{"u", "0", scalars{}},
		{"inf", "infinity", scalars{}},
		{"inf", "1000", scalars{Inf: 1000}},
		{"uinf", "infinity", scalars{}},
		{"sz", "64KB", scalars{Sz: 64 << 10}},
		{"sz", "1MB", scalars{Sz: 1 << 20}},
		{"sz", "8mb", scalars{Sz: 8 << 20}},
		{"sz", "1GB", scalars{Sz: 1 << 30}},
		{"sz", "512B", scalars{Sz: 512}},
		{"sz", "512", scalars{Sz: 512}},
		{"sz", "2 K", scalars{Sz: 2048}},
		{"sz16", "31KB", scalars{Sz16: 31 << 10}},
		{"szi", "infinity", scalars{}},
		{"szi", "1TB", scalars{SzI: 1 << 40}},
		{"f", "0.75", scalars{F: 0.75}},
		{"f", "-1e3", scalars{F: -1000}},
		{"f32", "1.5", scalars{F32: 1.5}},
		{"p", "20%", scalars{P: 0.2}},
		{"p", "12.5%", scalars{P: 0.125}},
		{"d", "30s", scalars{D: 30 * time.Second}},
		{"d", "1m", scalars{D: time.Minute}},
		{"d", "2h", scalars{D: 2 * time.Hour}},
		{"d", "1d", scalars{D: 24 * time.Hour}},
		{"d", "1w", scalars{D: 7 * 24 * time.Hour}},
		{"d", "1d12h", scalars{D: 36 * time.Hour}},
		{"d", "1.5h", scalars{D: 90 * time.Minute}},
		{"d", "100ms", scalars{D: 100 * time.Millisecond}},
		{"d", "0", scalars{}},
		{"ds", "60", scalars{DS: time.Minute}},
		{"ds", "1.5", scalars{DS: 1500 * time.Millisecond}},
		{"ds", "2m", scalars{DS: 2 * time.Minute}},
		{"dms", "240", scalars{DMs: 240 * time.Millisecond}},
		{"dinf", "infinity", scalars{}},
		{"dd", "2", scalars{DD: 48 * time.Hour}},
		{"l", "a, b,,c ,", scalars{L: []string{"a", "b", "c"}}},
		{"l", "", scalars{L: []string{}}},
		{"li", "100,10", scalars{LI: []int{100, 10}}},
		{"ld", "1, 2m", scalars{LD: []time.Duration{time.Second, 2 * time.Minute}}},
	}
	for _, tt := range tests {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			var got scalars
			if err := (conf.Map{}).With(tt.key, tt.value).Decode(&got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"unknown key", "s = x\nmqtt.foo = 1\n", `e.conf:2: mqtt.foo: unknown key`},
		{"int", "i = lots", `e.conf:1: i: invalid value "lots": want an integer`},
		{"int range", "i8 = 300", `e.conf:1: i8: invalid value "300": want an integer from -128 to 127`},
		{"uint negative", "u = -1", `e.conf:1: u: invalid value "-1": want a non-negative integer`},
		{"uint range", "u16 = 65536", `e.conf:1: u16: invalid value "65536": want an integer from 0 to 65535`},
		{"infinity without inf0", "i = infinity", `e.conf:1: i: invalid value "infinity": want an integer`},
		{"inf0", "inf = forever", `e.conf:1: inf: invalid value "forever": want an integer or infinity`},
		{"size", "sz = 64XB", `e.conf:1: sz: invalid value "64XB": want a size like 512B, 64KB, 8MB or 1GB`},
		{"size fraction", "sz = 1.5MB", `e.conf:1: sz: invalid value "1.5MB": want a size like 512B, 64KB, 8MB or 1GB`},
		{"size negative", "sz = -1KB", `e.conf:1: sz: invalid value "-1KB": want a size like 512B, 64KB, 8MB or 1GB`},
		{"size range", "sz16 = 32KB", `e.conf:1: sz16: invalid value "32KB": want a size of at most 32767 bytes`},
		{"size overflow", "szi = 99999999999TB", `e.conf:1: szi: invalid value "99999999999TB": want a size like 512B, 64KB, 8MB or 1GB, or infinity`},
		{"bool", "b = yes", `e.conf:1: b: invalid value "yes": want on, off, true or false`},
		{"float", "f = abc", `e.conf:1: f: invalid value "abc": want a number`},
		{"float nan", "f = NaN", `e.conf:1: f: invalid value "NaN": want a number`},
		{"float hex", "f = 0x1p3", `e.conf:1: f: invalid value "0x1p3": want a number`},
		{"percent bare", "p = 0.2", `e.conf:1: p: invalid value "0.2": want a percentage like 20%`},
		{"percent negative", "p = -5%", `e.conf:1: p: invalid value "-5%": want a percentage like 20%`},
		{"duration", "d = soon", `e.conf:1: d: invalid value "soon": want a duration like 30s, 1m, 2h or 1d`},
		{"duration bare", "d = 60", `e.conf:1: d: invalid value "60": want a duration like 30s, 1m, 2h or 1d`},
		{"duration negative", "d = -1s", `e.conf:1: d: invalid value "-1s": want a duration like 30s, 1m, 2h or 1d`},
		{"duration unit", "d = 3y", `e.conf:1: d: invalid value "3y": want a duration like 30s, 1m, 2h or 1d`},
		{"duration overflow", "d = 99999999w", `e.conf:1: d: invalid value "99999999w": want a duration like 30s, 1m, 2h or 1d`},
		{"duration with unit", "ds = 1 minute", `e.conf:1: ds: invalid value "1 minute": want a duration like 30s, 1m, 2h or 1d, or a number of seconds`},
		{"duration inf0", "dinf = never", `e.conf:1: dinf: invalid value "never": want a duration like 30s, 1m, 2h or 1d, or infinity`},
		{"list item", "li = 1, x, 3", `e.conf:1: li: invalid list item "x": want an integer`},
		{"text unmarshaler", "level = loud", `e.conf:1: level: invalid value "loud": slog: level string "loud": unknown name`},
		{"long value clipped", "i = " + strings.Repeat("9", 50), `e.conf:1: i: invalid value "` + strings.Repeat("9", 40) + `...": want an integer from -9223372036854775808 to 9223372036854775807`},
		{"all errors in file order", "zz = 1\ni = x\nb = maybe\ns = fine\nyy = 2\n",
			"e.conf:1: zz: unknown key\n" +
				`e.conf:2: i: invalid value "x": want an integer` + "\n" +
				`e.conf:3: b: invalid value "maybe": want on, off, true or false` + "\n" +
				"e.conf:5: yy: unknown key"},
	}
	type target struct {
		scalars
		Level slog.Level `conf:"level"`
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustParse(t, tt.in, "e.conf")
			var got target
			err := m.Decode(&got)
			if err == nil {
				t.Fatalf("no error; decoded %+v", got)
			}
			if err.Error() != tt.want {
				t.Errorf("error:\n got %s\nwant %s", err, tt.want)
			}
			var ce *conf.Error
			if !errors.As(err, &ce) || ce.File != "e.conf" || ce.Line == 0 || ce.Key == "" {
				t.Errorf("not a positioned *conf.Error: %#v", err)
			}
		})
	}
}

func TestDecodeErrorWraps(t *testing.T) {
	m := mustParse(t, "i8 = 300\n", "e.conf")
	var got scalars
	err := m.Decode(&got)
	if !errors.Is(err, strconv.ErrRange) {
		t.Errorf("err = %v, want it to wrap strconv.ErrRange", err)
	}
}

func TestDecodeSubNamesFullKey(t *testing.T) {
	m := mustParse(t, "auth.mysql.server = x\nauth.mysql.pool = many\nauth.mysql.bogus = 1\n", "emq_auth_mysql.conf")
	var c mysqlConf
	err := m.Sub("auth.mysql").Decode(&c)
	want := `emq_auth_mysql.conf:2: auth.mysql.pool: invalid value "many": want an integer` + "\n" +
		`emq_auth_mysql.conf:3: auth.mysql.bogus: unknown key`
	if err == nil || err.Error() != want {
		t.Errorf("error:\n got %v\nwant %s", err, want)
	}
	if c.Server != "x" {
		t.Errorf("fields that decode are set even when others fail: Server = %q", c.Server)
	}
}

func TestDecodeKnown(t *testing.T) {
	m, err := conf.ParseFile(filepath.Join("testdata", "emq.conf"))
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Session sessionConf `conf:"mqtt.session"`
	}
	if err := m.DecodeKnown(&s); err != nil {
		t.Fatal(err)
	}
	if s.Session.RetryInterval != time.Minute || s.Session.MaxInflight != 100 {
		t.Errorf("session = %+v", s.Session)
	}
	if err := m.Decode(&s); err == nil || !strings.HasPrefix(err.Error(), filepath.Join("testdata", "emq.conf")+":9: node.name: unknown key\n") {
		t.Errorf("Decode error = %v", err)
	}
	// Value errors are still reported.
	bad := m.With("mqtt.session.max_inflight", "lots")
	if err := bad.DecodeKnown(&s); err == nil || err.Error() != `mqtt.session.max_inflight: invalid value "lots": want an integer` {
		t.Errorf("DecodeKnown error = %v", err)
	}
}

func TestDecodeListKeysLeftToOthers(t *testing.T) {
	// "client.x.clientid" is not numbered: the list leaves it, nothing
	// else reads it, so it is unknown.
	m := mustParse(t, "client.1.clientid = a\nclient.x.clientid = b\nclient.1.nope = c\nrule.1 = r\nrule.1.x = y\n", "l.conf")
	var got struct {
		Clients []client `conf:"client"`
		Rules   []string `conf:"rule,list"`
	}
	err := m.Decode(&got)
	want := "l.conf:2: client.x.clientid: unknown key\nl.conf:3: client.1.nope: unknown key\nl.conf:5: rule.1.x: unknown key"
	if err == nil || err.Error() != want {
		t.Errorf("error:\n got %v\nwant %s", err, want)
	}
	if len(got.Clients) != 1 || got.Clients[0].ClientID != "a" || len(got.Rules) != 1 {
		t.Errorf("got %+v", got)
	}
}

func TestDecodeTypeErrors(t *testing.T) {
	m := mustParse(t, "a = 1\n", "t.conf")
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"nil", nil, "conf: Decode needs a non-nil pointer to a struct, not <nil>"},
		{"non-pointer", struct{}{}, "conf: Decode needs a non-nil pointer to a struct, not struct {}"},
		{"pointer to int", new(int), "conf: Decode needs a non-nil pointer to a struct, not *int"},
		{"nil pointer", (*scalars)(nil), "conf: Decode needs a non-nil pointer to a struct, not *conf_test.scalars"},
		{"unknown option", &struct {
			A int `conf:"a,bogus"`
		}{}, `conf: struct { A int "conf:\"a,bogus\"" }.A: conf tag "a,bogus": unknown option "bogus"`},
		{"bad name", &struct {
			A int `conf:"a b"`
		}{}, `conf: struct { A int "conf:\"a b\"" }.A: conf tag "a b": invalid key name "a b"`},
		{"no name", &struct {
			A int `conf:",size"`
		}{}, `conf: struct { A int "conf:\",size\"" }.A: conf tag ",size" has no key name`},
		{"size on string", &struct {
			A string `conf:"a,size"`
		}{}, `conf: struct { A string "conf:\"a,size\"" }.A: option "size" needs an integer field`},
		{"unit on int", &struct {
			A int `conf:"a,unit=s"`
		}{}, `conf: struct { A int "conf:\"a,unit=s\"" }.A: option "unit" needs a time.Duration field`},
		{"bad unit", &struct {
			A time.Duration `conf:"a,unit=y"`
		}{}, `conf: struct { A time.Duration "conf:\"a,unit=y\"" }.A: conf tag "a,unit=y": unknown unit "y" (want ns, us, ms, s, m, h, d or w)`},
		{"percent on int", &struct {
			A int `conf:"a,percent"`
		}{}, `conf: struct { A int "conf:\"a,percent\"" }.A: option "percent" needs a float field`},
		{"inf0 on string", &struct {
			A string `conf:"a,inf0"`
		}{}, `conf: struct { A string "conf:\"a,inf0\"" }.A: option "inf0" needs an integer or time.Duration field`},
		{"list on string", &struct {
			A string `conf:"a,list"`
		}{}, `conf: struct { A string "conf:\"a,list\"" }.A: option "list" needs a slice field`},
		{"map on slice", &struct {
			A []string `conf:"a,map"`
		}{}, `conf: struct { A []string "conf:\"a,map\"" }.A: option "map" needs a map field`},
		{"chan", &struct {
			A chan int `conf:"a"`
		}{}, `conf: struct { A chan int "conf:\"a\"" }.A: unsupported type chan int`},
		{"int map keys", &struct {
			A map[int]string `conf:"a"`
		}{}, `conf: struct { A map[int]string "conf:\"a\"" }.A: unsupported type map[int]string: map keys must be strings`},
		{"slice of slices", &struct {
			A [][]string `conf:"a"`
		}{}, `conf: struct { A [][]string "conf:\"a\"" }.A: unsupported type [][]string`},
		{"unexported", &struct {
			a int `conf:"a"`
		}{}, `conf: struct { a int "conf:\"a\"" }.a: unexported field has a conf tag`},
		{"self at top level", &struct {
			A int `conf:"."`
		}{}, `conf: struct { A int "conf:\".\"" }.A: tag "." used outside a nested struct`},
		{"nested mistake", &struct {
			N struct {
				B bool `conf:"b,size"`
			} `conf:"n"`
		}{}, `conf: struct { B bool "conf:\"b,size\"" }.B: option "size" needs an integer field`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := m.Decode(tt.v)
			if err == nil || err.Error() != tt.want {
				t.Errorf("error:\n got %v\nwant %s", err, tt.want)
			}
			var ce *conf.Error
			if errors.As(err, &ce) {
				t.Errorf("a type mistake is reported as a *conf.Error: %v", err)
			}
		})
	}
}

func TestParseHelpers(t *testing.T) {
	if d, err := conf.ParseDuration("1d2h", 0); err != nil || d != 26*time.Hour {
		t.Errorf("ParseDuration(1d2h) = %v, %v", d, err)
	}
	if d, err := conf.ParseDuration("60", time.Second); err != nil || d != time.Minute {
		t.Errorf("ParseDuration(60, s) = %v, %v", d, err)
	}
	if d, err := conf.ParseDuration("2", time.Hour); err != nil || d != 2*time.Hour {
		t.Errorf("ParseDuration(2, h) = %v, %v", d, err)
	}
	if _, err := conf.ParseDuration("x", time.Hour); err == nil || err.Error() != `invalid value "x": want a duration like 30s, 1m, 2h or 1d, or a number of hours` {
		t.Errorf("ParseDuration(x, h) err = %v", err)
	}
	if _, err := conf.ParseDuration("x", 0); err == nil || err.Error() != `invalid value "x": want a duration like 30s, 1m, 2h or 1d` {
		t.Errorf("ParseDuration(x) err = %v", err)
	}
	if n, err := conf.ParseSize("64KB"); err != nil || n != 65536 {
		t.Errorf("ParseSize(64KB) = %v, %v", n, err)
	}
	if _, err := conf.ParseSize("64 KiB"); err == nil || err.Error() != `invalid value "64 KiB": want a size like 512B, 64KB, 8MB or 1GB` {
		t.Errorf("ParseSize(64 KiB) err = %v", err)
	}
	if p, err := conf.ParsePercent("60%"); err != nil || p != 0.6 {
		t.Errorf("ParsePercent(60%%) = %v, %v", p, err)
	}
	if b, err := conf.ParseBool("Off"); err != nil || b {
		t.Errorf("ParseBool(Off) = %v, %v", b, err)
	}
	if _, err := conf.ParseBool("enable"); err == nil || err.Error() != `invalid value "enable": want on, off, true or false` {
		t.Errorf("ParseBool(enable) err = %v", err)
	}
	for _, s := range []string{"", ".", "1.2.3s", "s", "1", "1ss", "1h-1m", "+1s", "1 s", " 1s", "1e3s"} {
		if d, err := conf.ParseDuration(s, 0); err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", s, d)
		}
	}
	for s, want := range map[string]time.Duration{
		"0": 0, "000": 0, "0.0": 0, "1.5d": 36 * time.Hour, "2w": 14 * 24 * time.Hour, "1us": time.Microsecond, "1µs": time.Microsecond,
		"1ns": 1, "0.5ns": 0, "1.000000001s": time.Second + 1, ".5s": 500 * time.Millisecond, "5.s": 5 * time.Second,
		"9223372036854775807ns": 1<<63 - 1, "1h1h": 2 * time.Hour, "15250w": 15250 * 7 * 24 * time.Hour,
	} {
		if d, err := conf.ParseDuration(s, 0); err != nil || d != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", s, d, err, want)
		}
	}
	for _, s := range []string{"9223372036854775808ns", "15251w", "106752d", "9223372036s1ns" + "9223372036854775807ns"} {
		if d, err := conf.ParseDuration(s, 0); err == nil {
			t.Errorf("ParseDuration(%q) = %v, want overflow", s, d)
		}
	}
}

type base struct {
	Pool int `conf:"pool"`
}

type withUnexportedEmbed struct {
	base
	Server string `conf:"server"`
}

func TestDecodeUnexportedEmbedded(t *testing.T) {
	var got withUnexportedEmbed
	if err := mustParse(t, "pool = 2\nserver = s\n", "u.conf").Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got.Pool != 2 || got.Server != "s" {
		t.Errorf("got %+v", got)
	}
}

type sharing struct {
	Users     map[string]string        `conf:"users"`
	Listeners map[string]*listenerConf `conf:"listener"`
	Presence  *presence                `conf:"presence"`
	Count     *int                     `conf:"count"`
}

// Decode never writes into maps or through pointers found in the struct: a
// struct of defaults copied by value stays as it was.
func TestDecodeDoesNotWriteThroughDefaults(t *testing.T) {
	n := 1
	defaults := sharing{
		Users:     map[string]string{"admin": "public"},
		Listeners: map[string]*listenerConf{"tcp": {Addr: "1883", Acceptors: 8}},
		Presence:  &presence{QoS: 1},
		Count:     &n,
	}
	m := mustParse(t, "users.bob = x\nlistener.tcp.acceptors = 16\nlistener.ssl = 8883\npresence = on\ncount = 5\n", "d.conf")
	got := defaults
	if err := m.Decode(&got); err != nil {
		t.Fatal(err)
	}
	if len(defaults.Users) != 1 || defaults.Listeners["tcp"].Acceptors != 8 || len(defaults.Listeners) != 1 ||
		defaults.Presence.Enabled || n != 1 {
		t.Errorf("defaults changed: %+v %+v %+v %d", defaults.Users, *defaults.Listeners["tcp"], *defaults.Presence, n)
	}
	want := sharing{
		Users:     map[string]string{"admin": "public", "bob": "x"},
		Listeners: map[string]*listenerConf{"tcp": {Addr: "1883", Acceptors: 16}, "ssl": {Addr: "8883"}},
		Presence:  &presence{Enabled: true, QoS: 1},
	}
	five := 5
	want.Count = &five
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}
