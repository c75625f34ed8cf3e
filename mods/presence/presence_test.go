package presence_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/brokertest"
	"github.com/emqgo/broker/conf"
	"github.com/emqgo/broker/mods/presence"
	"github.com/emqgo/broker/packets"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const none = 100 * time.Millisecond

// load starts a test broker with the presence plugin loaded with the
// configuration text cfg (over the defaults).
func load(t *testing.T, cfg string, setup ...func(*broker.Broker)) *brokertest.Broker {
	t.Helper()
	return brokertest.New(t, broker.Options{}, append(setup, func(b *broker.Broker) {
		if err := b.Plugins().Register(presence.Plugin); err != nil {
			t.Fatal(err)
		}
		m, err := conf.ParseString(cfg, "emq_mod_presence.conf")
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Plugins().LoadWith(context.Background(), presence.Plugin.Name, m); err != nil {
			t.Fatalf("load: %v", err)
		}
	})...)
}

// watch connects a client subscribed to every presence message.
func watch(t *testing.T, b *brokertest.Broker) *brokertest.Client {
	t.Helper()
	w := b.Dial(t, "watcher", brokertest.WithVersion(packets.Version5))
	w.Subscribe(t, "$SYS/brokers/+/clients/#", 2)
	return w
}

var tsRE = regexp.MustCompile(`"ts":(\d+)`)

// expect waits for the presence message on topic and checks its payload
// equals want once its "ts" is replaced by 0, and that ts is now.
func expect(t *testing.T, w *brokertest.Client, topic, want string, qos byte) {
	t.Helper()
	before := time.Now().Unix()
	p := w.ExpectPacket(t)
	if p.Topic != topic {
		t.Fatalf("topic %q, want %q (payload %s)", p.Topic, topic, p.Payload)
	}
	if p.QoS != qos || p.Retain {
		t.Errorf("%s: qos %d retain %v, want qos %d, not retained", topic, p.QoS, p.Retain, qos)
	}
	m := tsRE.FindSubmatch(p.Payload)
	if m == nil {
		t.Fatalf("%s: no ts in %s", topic, p.Payload)
	}
	ts, _ := strconv.ParseInt(string(m[1]), 10, 64)
	if ts < before-5 || ts > time.Now().Unix() {
		t.Errorf("%s: ts %d is not now (%d)", topic, ts, before)
	}
	if got := tsRE.ReplaceAllString(string(p.Payload), `"ts":0`); got != want {
		t.Errorf("%s payload:\n got %s\nwant %s", topic, got, want)
	}
}

const node = "emqd@127.0.0.1"

func topicOf(id, ev string) string { return "$SYS/brokers/" + node + "/clients/" + id + "/" + ev }

func TestConnectedAndDisconnected(t *testing.T) {
	b := load(t, "module.presence.qos = 1\n")
	w := watch(t, b)
	c := b.Dial(t, "c1", brokertest.WithUsername("u1"), brokertest.WithCleanSession(false))
	expect(t, w, topicOf("c1", "connected"),
		`{"clientid":"c1","username":"u1","ipaddress":"undefined","session":true,"protocol":4,"connack":0,"ts":0}`, 1)
	c.Disconnect(t)
	expect(t, w, topicOf("c1", "disconnected"), `{"clientid":"c1","reason":"normal","ts":0}`, 1)

	for _, tc := range []struct {
		version byte
		proto   int
	}{{packets.Version31, 3}, {packets.Version311, 4}, {packets.Version5, 5}} {
		c := b.Dial(t, "v", brokertest.WithVersion(tc.version))
		expect(t, w, topicOf("v", "connected"),
			fmt.Sprintf(`{"clientid":"v","username":"undefined","ipaddress":"undefined","session":false,"protocol":%d,"connack":0,"ts":0}`, tc.proto), 1)
		c.Disconnect(t)
		expect(t, w, topicOf("v", "disconnected"), `{"clientid":"v","reason":"normal","ts":0}`, 1)
	}
}

// A refused CONNECT is announced too, with its 3.1.1 CONNACK code, and no
// disconnected message follows.
func TestRefusedConnect(t *testing.T) {
	b := load(t, "", func(b *broker.Broker) {
		b.RegisterAuth(broker.AuthFunc(func(_ context.Context, c *broker.ClientInfo, _ []byte) (broker.Decision, error) {
			if strings.HasPrefix(c.ClientID, "bad") {
				return broker.Deny, nil
			}
			return broker.Ignore, nil
		}))
	})
	w := watch(t, b)
	for _, tc := range []struct {
		id      string
		opts    []brokertest.ClientOption
		want    packets.ReasonCode
		connack int
		proto   int
		user    string
	}{
		{"bad1", []brokertest.ClientOption{brokertest.WithCredentials("u", "p")}, packets.BadUserNameOrPassword, 4, 4, "u"},
		{"bad2", nil, packets.NotAuthorized, 5, 4, "undefined"},
		{"bad3", []brokertest.ClientOption{brokertest.WithVersion(packets.Version5), brokertest.WithCredentials("u", "p")}, packets.BadUserNameOrPassword, 4, 5, "u"},
	} {
		_, code := b.Connect(t, tc.id, tc.opts...)
		if code != tc.want {
			t.Fatalf("%s: CONNACK %v, want %v", tc.id, code, tc.want)
		}
		expect(t, w, topicOf(tc.id, "connected"),
			fmt.Sprintf(`{"clientid":%q,"username":%q,"ipaddress":"undefined","session":false,"protocol":%d,"connack":%d,"ts":0}`, tc.id, tc.user, tc.proto, tc.connack), 0)
	}
	w.ExpectNone(t, none)
}

func TestDisconnectReasons(t *testing.T) {
	b := load(t, "")
	w := watch(t, b)
	connect := func(id string, opts ...brokertest.ClientOption) *brokertest.Client {
		c := b.Dial(t, id, opts...)
		if p := w.ExpectPacket(t); p.Topic != topicOf(id, "connected") {
			t.Fatalf("got %s %s", p.Topic, p.Payload)
		}
		return c
	}
	reason := func(id, want string) {
		t.Helper()
		expect(t, w, topicOf(id, "disconnected"), fmt.Sprintf(`{"clientid":%q,"reason":%q,"ts":0}`, id, want), 0)
	}

	c := connect("dropped")
	c.Drop()
	reason("dropped", "closed")

	connect("kicked")
	if err := b.Kick(context.Background(), "kicked"); err != nil {
		t.Fatal(err)
	}
	reason("kicked", "kicked")

	// The old connection ends on its own goroutine: its disconnected
	// message and the new one's connected message come in either order.
	connect("twice")
	b.Dial(t, "twice")
	got := map[string]string{}
	for range 2 {
		p := w.ExpectPacket(t)
		got[p.Topic] = tsRE.ReplaceAllString(string(p.Payload), `"ts":0`)
	}
	if want := `{"clientid":"twice","reason":"takenover","ts":0}`; got[topicOf("twice", "disconnected")] != want {
		t.Errorf("takeover: got %q, want disconnected %s", got, want)
	}
	if _, ok := got[topicOf("twice", "connected")]; !ok {
		t.Errorf("takeover: got %q, want a connected message", got)
	}

	c = connect("bad")
	c.SendRaw(t, []byte{0xF0, 0x00}) // reserved packet type 15 in 3.1.1
	reason("bad", "malformed_packet")

	connect("idle", brokertest.WithKeepalive(time.Second))
	reason("idle", "keepalive_timeout")
}

// The reason words of Reason, for the errors the broker reports.
func TestReason(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, "normal"},
		{errors.New("keepalive timeout"), "keepalive_timeout"},
		{errors.New("connection closed by peer"), "closed"},
		{errors.New("session taken over"), "takenover"},
		{errors.New("session discarded"), "discarded"},
		{errors.New("kicked"), "kicked"},
		{broker.ErrBrokerClosed, "shutdown"},
		{fmt.Errorf("read: %w", net.ErrClosed), "closed"},
		{&net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", errors.New("connection reset by peer"))}, "connection_reset_by_peer"},
		{packets.ErrPacketTooLarge, "packet_too_large"},
		{fmt.Errorf("x: %w", packets.ErrProtocol), "protocol_error"},
		{errors.New("second CONNECT on a connection [MQTT-3.1.0-2]"), "second_connect_on_a_connection"},
		{errors.New("gateway: Socket Lost!"), "socket_lost"},
		{errors.New("?!"), "internal_error"},
		{errors.New(strings.Repeat("ab ", 100)), strings.Repeat("ab_", 21) + "a"},
	} {
		if got := presence.Reason(tc.err); got != tc.want {
			t.Errorf("Reason(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

// Over TCP the client's address is in ipaddress.
func TestIPAddress(t *testing.T) {
	b := load(t, "")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go b.Serve(l)
	w := watch(t, b)
	nc, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c := brokertest.NewClient(t, nc, "tcp1")
	if code := c.Connect(t); code != packets.Success {
		t.Fatal(code)
	}
	expect(t, w, topicOf("tcp1", "connected"),
		`{"clientid":"tcp1","username":"undefined","ipaddress":"127.0.0.1","session":false,"protocol":4,"connack":0,"ts":0}`, 0)
}

// Characters JSON must escape are escaped, and no others: mochijson2 did
// not escape <, > and &.
func TestPayloadEscaping(t *testing.T) {
	c := &broker.ClientInfo{ClientID: `a"b\<&>é`, Username: "ü", ProtoVersion: 4, CleanStart: true}
	got := string(presence.ConnectedPayload(c, packets.ServerUnavailable, time.Unix(42, 0)))
	want := `{"clientid":"a\"b\\<&>é","username":"ü","ipaddress":"undefined","session":false,"protocol":4,"connack":3,"ts":42}`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// A client id that cannot be part of a topic name gets no message.
func TestWildcardClientID(t *testing.T) {
	b := load(t, "")
	w := watch(t, b)
	c := b.Dial(t, "a+b")
	c.Disconnect(t)
	b.Dial(t, "ok")
	if p := w.ExpectPacket(t); p.Topic != topicOf("ok", "connected") {
		t.Fatalf("got %s", p.Topic)
	}
}

// Unloading the plugin stops the messages and drops no client.
func TestUnloadWhileConnected(t *testing.T) {
	b := load(t, "")
	w := watch(t, b)
	c := b.Dial(t, "c1")
	expect(t, w, topicOf("c1", "connected"),
		`{"clientid":"c1","username":"undefined","ipaddress":"undefined","session":false,"protocol":4,"connack":0,"ts":0}`, 0)
	if err := b.Plugins().Unload(context.Background(), presence.Plugin.Name); err != nil {
		t.Fatal(err)
	}
	c.Subscribe(t, "t", 1)
	w.Publish(t, "t", []byte("still here"), 1, false)
	c.Expect(t, "t")
	c.Disconnect(t)
	b.Dial(t, "c2")
	w.ExpectNone(t, none)

	// Loading it again brings the messages back.
	if err := b.Plugins().Load(context.Background(), presence.Plugin.Name); err != nil {
		t.Fatal(err)
	}
	b.Dial(t, "c3")
	if p := w.ExpectPacket(t); p.Topic != topicOf("c3", "connected") {
		t.Fatalf("got %s", p.Topic)
	}
}

func TestOff(t *testing.T) {
	b := load(t, "module.presence = off\nmodule.presence.qos = 2\n")
	w := watch(t, b)
	b.Dial(t, "c1")
	w.ExpectNone(t, none)
}

// A wrong configuration file names file, line and key, and nothing loads.
func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "emq_mod_presence.conf")
	for _, tc := range []struct{ text, want string }{
		{"module.presence.qos = 3\n", path + ":1: module.presence.qos: invalid value 3: want 0, 1 or 2"},
		{"module.presence = on\nmodule.presence.qso = 1\n", path + ":2: module.presence.qso: unknown key"},
		{"module.presence = maybe\n", path + ":1: module.presence: invalid value"},
	} {
		if err := os.WriteFile(path, []byte(tc.text), 0o644); err != nil {
			t.Fatal(err)
		}
		b, err := broker.New(broker.Options{})
		if err != nil {
			t.Fatal(err)
		}
		b.Plugins().Register(presence.Plugin)
		b.Plugins().SetConfigDir(dir)
		err = b.Plugins().Load(context.Background(), presence.Plugin.Name)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.text, err, tc.want)
		}
		if len(b.Plugins().Loaded()) != 0 {
			t.Errorf("%q: loaded %v", tc.text, b.Plugins().Loaded())
		}
		b.Close()
	}
	if _, err := presence.New(presence.Config{QoS: 3}); err == nil {
		t.Error("New with QoS 3: no error")
	}
}

// An embedder attaches a Presence to its broker and detaches it.
func TestAttach(t *testing.T) {
	p, err := presence.New(presence.Config{QoS: 2})
	if err != nil {
		t.Fatal(err)
	}
	var detach func()
	b := brokertest.New(t, broker.Options{Node: "n1"}, func(b *broker.Broker) { detach = p.Attach(b) })
	w := b.Dial(t, "w")
	w.Subscribe(t, "$SYS/brokers/n1/clients/+/+", 2)
	b.Dial(t, "c1").Disconnect(t)
	if p := w.ExpectPacket(t); p.Topic != "$SYS/brokers/n1/clients/c1/connected" || p.QoS != 2 {
		t.Fatalf("got %s qos %d", p.Topic, p.QoS)
	}
	if p := w.ExpectPacket(t); p.Topic != "$SYS/brokers/n1/clients/c1/disconnected" {
		t.Fatalf("got %s", p.Topic)
	}
	detach()
	detach()
	b.Dial(t, "c2")
	w.ExpectNone(t, none)
}

func timeAt(sec int64) time.Time { return time.Unix(sec, 0) }
