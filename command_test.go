package broker_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/brokertest"
	"github.com/emqgo/broker/topic"
)

// wantUsage is the full usage of a broker with only the core commands.
const wantUsage = `Usage: emqctl
--------------------------------------------------------------------------------
status                                          # Show broker status
--------------------------------------------------------------------------------
broker                                          # Show broker version, uptime and description
broker stats                                    # Show broker statistics of clients, topics, subscribers
broker metrics                                  # Show broker metrics
--------------------------------------------------------------------------------
clients list                                    # List all clients
clients show <ClientId>                         # Show a client
clients kick <ClientId>                         # Kick out a client
--------------------------------------------------------------------------------
sessions list                                   # List all sessions
sessions list persistent                        # List all persistent sessions
sessions list transient                         # List all transient sessions
sessions show <ClientId>                        # Show a session
--------------------------------------------------------------------------------
routes list                                     # List all routes
routes show <Topic>                             # Show a route
--------------------------------------------------------------------------------
topics list                                     # List all topics
topics show <Topic>                             # Show a topic
--------------------------------------------------------------------------------
subscriptions list                              # List all subscriptions
subscriptions show <ClientId>                   # Show subscriptions of a client
subscriptions add <ClientId> <Topic> <QoS>      # Add a subscription to a session
subscriptions del <ClientId>                    # Delete all subscriptions of a session
subscriptions del <ClientId> <Topic>            # Delete a subscription of a session
--------------------------------------------------------------------------------
plugins list                                    # Show loaded plugins
plugins load <Plugin>                           # Load plugin
plugins unload <Plugin>                         # Unload plugin
--------------------------------------------------------------------------------
listeners                                       # List listeners
--------------------------------------------------------------------------------
vm all                                          # Show info of the Go runtime
vm load                                         # Show load of the host
vm memory                                       # Show memory of the Go runtime
vm process                                      # Show goroutines of the Go runtime
vm io                                           # Show file descriptors of the process
--------------------------------------------------------------------------------
trace list                                      # List all traces
trace client <ClientId> <LogFile>               # Trace a client
trace client <ClientId> off                     # Stop tracing a client
trace topic <Topic> <LogFile>                   # Trace a topic
trace topic <Topic> off                         # Stop tracing a topic
`

// execCase is one command line and what Exec must answer.
type execCase struct {
	args    []string
	out     string // exact output
	err     string // exact error text, "" for none
	isUsage bool   // the error wraps ErrUsage
}

func (tc execCase) check(t *testing.T, b *broker.Broker) {
	t.Helper()
	out, err := execCmd(t, b, tc.args...)
	if out != tc.out {
		t.Errorf("%q: output\n%s\nwant\n%s", tc.args, out, tc.out)
	}
	switch {
	case tc.isUsage:
		if !errors.Is(err, broker.ErrUsage) {
			t.Errorf("%q: error %v, want ErrUsage", tc.args, err)
		}
	case tc.err == "" && err != nil:
		t.Errorf("%q: error %v", tc.args, err)
	case tc.err != "" && (err == nil || err.Error() != tc.err):
		t.Errorf("%q: error %v, want %q", tc.args, err, tc.err)
	}
}

func TestExecUsage(t *testing.T) {
	b := brokertest.New(t, broker.Options{})
	for _, tc := range []execCase{
		{args: nil, out: wantUsage},
		{args: []string{"help"}, out: wantUsage},
		{args: []string{"help", "routes"}, out: "routes list                                     # List all routes\nroutes show <Topic>                             # Show a route\n"},
		{args: []string{"nosuch"}, out: wantUsage, isUsage: true},
		{args: []string{"clients", "bogus"}, isUsage: true, out: `clients list                                    # List all clients
clients show <ClientId>                         # Show a client
clients kick <ClientId>                         # Kick out a client
`},
		{args: []string{"status", "extra"}, isUsage: true, out: "status                                          # Show broker status\n"},
	} {
		tc.check(t, b.Broker)
	}
}

func TestRegisterCommand(t *testing.T) {
	b := brokertest.New(t, broker.Options{})
	run := func(ctx context.Context, w io.Writer, args []string) error {
		fmt.Fprintln(w, "hello", args)
		return nil
	}
	for _, tc := range []struct {
		cmd  broker.Command
		want string
	}{
		{broker.Command{Name: "Bad", Run: run}, `broker: register command "Bad": invalid name`},
		{broker.Command{Name: "", Run: run}, `broker: register command "": invalid name`},
		{broker.Command{Name: "a b", Run: run}, `broker: register command "a b": invalid name`},
		{broker.Command{Name: "norun"}, "broker: register command norun: nil Run"},
		{broker.Command{Name: "status", Run: run}, "broker: register command status: already registered"},
	} {
		if _, err := b.RegisterCommand(tc.cmd); err == nil || err.Error() != tc.want {
			t.Errorf("RegisterCommand(%q): %v, want %q", tc.cmd.Name, err, tc.want)
		}
	}
	unregister, err := b.RegisterCommand(broker.Command{Name: "hello-2", Short: "Say hello", Run: run})
	if err != nil {
		t.Fatal(err)
	}
	execCase{args: []string{"hello-2", "x", "y"}, out: "hello [x y]\n"}.check(t, b.Broker)
	execCase{args: []string{"help", "hello-2"}, out: "hello-2                                         # Say hello\n"}.check(t, b.Broker)
	if out, _ := execCmd(t, b.Broker); !strings.HasSuffix(out, usageRule+"\nhello-2                                         # Say hello\n") {
		t.Errorf("usage does not end with the new command:\n%s", out)
	}
	if cmds := b.Commands(); cmds[len(cmds)-1].Name != "hello-2" {
		t.Errorf("Commands: last is %q", cmds[len(cmds)-1].Name)
	}
	unregister()
	unregister()
	execCase{args: []string{"hello-2"}, out: wantUsage, isUsage: true}.check(t, b.Broker)

	// A panicking command is an error, not a crash.
	b.RegisterCommand(broker.Command{Name: "boom", Run: func(context.Context, io.Writer, []string) error { panic("kaboom") }})
	execCase{args: []string{"boom"}, err: "broker: command boom failed: kaboom"}.check(t, b.Broker)
	// A wrapped ErrUsage prints the usage too.
	b.RegisterCommand(broker.Command{Name: "wrapped", Usage: "wrapped <X> # Do X", Run: func(context.Context, io.Writer, []string) error {
		return fmt.Errorf("%w: need X", broker.ErrUsage)
	}})
	execCase{args: []string{"wrapped"}, isUsage: true, out: "wrapped <X>                                     # Do X\n"}.check(t, b.Broker)
}

var usageRule = strings.Repeat("-", 80)

func TestExecStatusAndBroker(t *testing.T) {
	b := brokertest.New(t, broker.Options{Node: "test@127.0.0.1"})
	execCase{args: []string{"status"}, out: "Node 'test@127.0.0.1' is started\nemqgo " + broker.Version + " is running\n"}.check(t, b.Broker)

	out, err := execCmd(t, b.Broker, "broker")
	re := regexp.MustCompile(`^sysdescr  : emqgo MQTT broker
version   : ` + regexp.QuoteMeta(broker.Version) + `
uptime    : \d+ seconds
datetime  : \d{4}-\d\d-\d\d \d\d:\d\d:\d\d
$`)
	if err != nil || !re.MatchString(out) {
		t.Errorf("broker: %v\n%s", err, out)
	}

	c := b.Dial(t, "c1")
	c.Subscribe(t, "a/+", 1)
	c.Subscribe(t, "b/#", 0)
	execCase{args: []string{"broker", "stats"}, out: `clients/count       : 1
clients/max         : 1
retained/count      : 0
retained/max        : 0
routes/count        : 2
routes/max          : 2
sessions/count      : 1
sessions/max        : 1
subscribers/count   : 2
subscribers/max     : 2
subscriptions/count : 2
subscriptions/max   : 2
topics/count        : 2
topics/max          : 2
`}.check(t, b.Broker)

	out, err = execCmd(t, b.Broker, "broker", "metrics")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	metrics := b.Metrics()
	if len(lines) != len(metrics) {
		t.Errorf("%d metric lines, want %d", len(lines), len(metrics))
	}
	var keys []string
	for _, l := range lines {
		k, v, ok := strings.Cut(l, ": ")
		if !ok || k != fmt.Sprintf("%-24s", strings.TrimRight(k, " ")) {
			t.Errorf("metric line %q not in the form %%-24s: %%d", l)
			continue
		}
		keys = append(keys, strings.TrimRight(k, " "))
		if _, err := fmt.Sscan(v, new(uint64)); err != nil {
			t.Errorf("metric line %q: value %v", l, err)
		}
	}
	if !slices.IsSorted(keys) {
		t.Errorf("metrics not sorted: %q", keys)
	}
	if !slices.Contains(lines, "packets/connect         : 1") || !slices.Contains(lines, "packets/subscribe       : 2") {
		t.Errorf("metrics:\n%s", out)
	}
	execCase{args: []string{"broker", "pubsub"}, isUsage: true, out: `broker                                          # Show broker version, uptime and description
broker stats                                    # Show broker statistics of clients, topics, subscribers
broker metrics                                  # Show broker metrics
`}.check(t, b.Broker)
}

func TestExecClientsSessionsRoutes(t *testing.T) {
	const node = "test@127.0.0.1"
	b := brokertest.New(t, broker.Options{Node: node})
	c1 := b.Dial(t, "c1", brokertest.WithUsername("u1"))
	c1.Subscribe(t, "a/+", 1)
	c2 := b.Dial(t, "c2", brokertest.WithCleanSession(false))
	c2.Subscribe(t, "b/#", 0)
	c2.Subscribe(t, "$share/g/s", 0)
	// The host's own subscriptions are not clients.
	unsub, err := b.Subscribe(context.Background(), "host/#", 0, func(context.Context, broker.Message) {})
	if err != nil {
		t.Fatal(err)
	}
	defer unsub()
	at := func(id string) int64 {
		info, ok := b.Client(id)
		if !ok {
			t.Fatalf("client %s not connected", id)
		}
		return info.ConnectedAt.Unix()
	}
	t1, t2 := at("c1"), at("c2")
	client1 := fmt.Sprintf("Client(c1, clean_sess=true, username=u1, peername=undefined, connected_at=%d)\n", t1)
	client2 := fmt.Sprintf("Client(c2, clean_sess=false, username=undefined, peername=undefined, connected_at=%d)\n", t2)
	session1 := fmt.Sprintf("Session(c1, clean_sess=true, subscriptions=1, max_inflight=100, inflight_queue=0, message_queue=0, awaiting_rel=0, created_at=%d)\n", t1)
	session2 := fmt.Sprintf("Session(c2, clean_sess=false, subscriptions=2, max_inflight=100, inflight_queue=0, message_queue=0, awaiting_rel=0, created_at=%d)\n", t2)
	for _, tc := range []execCase{
		{args: []string{"clients", "list"}, out: client1 + client2},
		{args: []string{"clients", "show", "c2"}, out: client2},
		{args: []string{"clients", "show", "nosuch"}, err: "Not Found."},
		{args: []string{"clients", "show", "$host/1"}, err: "Not Found."},
		{args: []string{"sessions", "list"}, out: session2 + session1},
		{args: []string{"sessions", "list", "persistent"}, out: session2},
		{args: []string{"sessions", "list", "transient"}, out: session1},
		{args: []string{"sessions", "show", "c1"}, out: session1},
		{args: []string{"sessions", "show", "nosuch"}, err: "Not Found."},
		{args: []string{"routes", "list"}, out: "a/+ -> " + node + "\nb/# -> " + node + "\nhost/# -> " + node + "\ns -> " + node + "\n"},
		{args: []string{"routes", "show", "b/#"}, out: "b/# -> " + node + "\n"},
		{args: []string{"routes", "show", "b"}, err: "Not Found."},
		{args: []string{"topics", "list"}, out: "a/+\nb/#\nhost/#\ns\n"},
		{args: []string{"topics", "show", "a/+"}, out: "a/+ -> " + node + "\n"},
		{args: []string{"topics", "show", "a"}, err: "Not Found."},
		{args: []string{"routes"}, isUsage: true, out: "routes list                                     # List all routes\nroutes show <Topic>                             # Show a route\n"},
	} {
		tc.check(t, b.Broker)
	}

	// Kick: no output; the persistent session stays.
	execCase{args: []string{"clients", "kick", "c2"}}.check(t, b.Broker)
	c2.ExpectClosed(t)
	waitDisconnected(t, b.Broker, "c2")
	execCase{args: []string{"clients", "kick", "c2"}, err: "Not Found."}.check(t, b.Broker)
	execCase{args: []string{"clients", "list"}, out: client1}.check(t, b.Broker)
	execCase{args: []string{"sessions", "list", "persistent"}, out: session2}.check(t, b.Broker)
	execCase{args: []string{"clients", "kick", "$host/1"}, err: "Not Found."}.check(t, b.Broker)
}

func TestExecSubscriptions(t *testing.T) {
	b := brokertest.New(t, broker.Options{})
	c1 := b.Dial(t, "c1")
	c1.Subscribe(t, "a/+", 1)
	c2 := b.Dial(t, "c2", brokertest.WithCleanSession(false))
	c2.Subscribe(t, "b/#", 0)
	c2.Subscribe(t, "$share/g/s", 0)
	pub := b.Dial(t, "pub")
	for _, tc := range []execCase{
		{args: []string{"subscriptions", "list"}, out: "c1 -> a/+\nc2 -> $share/g/s\nc2 -> b/#\n"},
		{args: []string{"subscriptions", "show", "c2"}, out: "c2 -> $share/g/s\nc2 -> b/#\n"},
		{args: []string{"subscriptions", "show", "pub"}, err: "Not Found."},
		{args: []string{"subscriptions", "show", "nosuch"}, err: "Not Found."},
		{args: []string{"subscriptions", "add", "c1", "x/y", "1"}, out: "ok\n"},
		{args: []string{"subscriptions", "add", "c1", "x/y", "0"}, err: "Error: already existed"},
		{args: []string{"subscriptions", "add", "c1", "x/z", "3"}, err: "QoS should be 0, 1, 2"},
		{args: []string{"subscriptions", "add", "c1", "x/z", "one"}, err: "QoS should be 0, 1, 2"},
		{args: []string{"subscriptions", "add", "nosuch", "x/z", "1"}, err: "Error: Session not found!"},
		{args: []string{"subscriptions", "add", "c1", "x/#/z", "1"}, err: "Error: " + topic.ValidateFilter("x/#/z").Error()},
		{args: []string{"subscriptions", "show", "c1"}, out: "c1 -> a/+\nc1 -> x/y\n"},
	} {
		tc.check(t, b.Broker)
	}
	// The added subscription delivers.
	pub.Publish(t, "x/y", []byte("1"), 1, false)
	if m := c1.Expect(t, "x/y"); m.QoS != 1 {
		t.Errorf("QoS %d, want 1", m.QoS)
	}
	for _, tc := range []execCase{
		{args: []string{"subscriptions", "del", "c1", "x/y"}, out: "ok\n"},
		{args: []string{"subscriptions", "show", "c1"}, out: "c1 -> a/+\n"},
		{args: []string{"subscriptions", "del", "c2"}, out: "ok\n"},
		{args: []string{"subscriptions", "show", "c2"}, err: "Not Found."},
		{args: []string{"subscriptions", "del", "nosuch"}, err: "Error: Session not found!"},
		{args: []string{"subscriptions", "list"}, out: "c1 -> a/+\n"},
	} {
		tc.check(t, b.Broker)
	}
	pub.Publish(t, "x/y", []byte("2"), 1, false)
	pub.Publish(t, "b/c", []byte("3"), 1, false)
	c1.ExpectNone(t, 50*time.Millisecond)
	c2.ExpectNone(t, 50*time.Millisecond)
	if got := b.Stats()["subscriptions/count"]; got != 1 {
		t.Errorf("subscriptions/count = %d, want 1", got)
	}
}

func TestExecPlugins(t *testing.T) {
	b := brokertest.New(t, broker.Options{})
	ev := newEvlog[string]()
	b.Plugins().Register(probeInfo(ev))
	for _, tc := range []execCase{
		{args: []string{"plugins", "list"}, out: "Plugin(emq_probe, version=" + broker.Version + ", description=Probe, active=false)\n"},
		{args: []string{"plugins", "load", "emq_probe"}, out: "Plugin emq_probe loaded successfully.\n"},
		{args: []string{"plugins", "list"}, out: "Plugin(emq_probe, version=" + broker.Version + ", description=Probe, active=true)\n"},
		{args: []string{"probe"}, out: "default\n"},
		{args: []string{"plugins", "load", "emq_probe"}, err: "load plugin error: broker: plugin already loaded: emq_probe"},
		{args: []string{"plugins", "load", "emq_nope"}, err: "load plugin error: broker: plugin not found: emq_nope"},
		{args: []string{"plugins", "unload", "emq_probe"}, out: "Plugin emq_probe unloaded successfully.\n"},
		{args: []string{"plugins", "unload", "emq_probe"}, err: "unload plugin error: broker: plugin not loaded: emq_probe"},
		{args: []string{"probe"}, out: wantUsage, isUsage: true},
	} {
		tc.check(t, b.Broker)
	}
	_, err := execCmd(t, b.Broker, "plugins", "load", "emq_nope")
	if !errors.Is(err, broker.ErrPluginNotFound) {
		t.Errorf("plugins load error %v does not wrap ErrPluginNotFound", err)
	}
}

func TestExecListeners(t *testing.T) {
	b := brokertest.New(t, broker.Options{})
	b.Dial(t, "c1")
	b.Dial(t, "c2")
	execCase{args: []string{"listeners"}}.check(t, b.Broker)
	b.RegisterListener(broker.ListenerInfo{Name: "mqtt:tcp:0.0.0.0:1883", Acceptors: 8, MaxClients: 1024, CurrentClients: func() int { return 7 }})
	unregister := b.RegisterListener(broker.ListenerInfo{Name: "inprocess"})
	want := `listener on mqtt:tcp:0.0.0.0:1883
  acceptors       : 8
  max_clients     : 1024
  current_clients : 7
listener on inprocess
  acceptors       : 0
  max_clients     : 0
  current_clients : 2
`
	execCase{args: []string{"listeners"}, out: want}.check(t, b.Broker)
	unregister()
	execCase{args: []string{"listeners"}, out: want[:strings.Index(want, "listener on inprocess")]}.check(t, b.Broker)
	if got := b.Listeners(); len(got) != 1 || got[0].Name != "mqtt:tcp:0.0.0.0:1883" {
		t.Errorf("Listeners = %+v", got)
	}
}

func TestExecVM(t *testing.T) {
	b := brokertest.New(t, broker.Options{})
	line := regexp.MustCompile(`^(cpu|memory|process|io)/[a-z0-9_]+ +: [0-9.]+$`)
	sections := map[string]bool{}
	out, err := execCmd(t, b.Broker, "vm")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if !line.MatchString(l) || strings.Index(l, ": ") != 24 {
			t.Errorf("vm line %q not in the form %%-24s: <value>", l)
		}
		sections[l[:strings.Index(l, "/")]] = true
	}
	for _, s := range []string{"memory", "process"} {
		if !sections[s] {
			t.Errorf("vm shows no %s section:\n%s", s, out)
		}
	}
	if all, _ := execCmd(t, b.Broker, "vm", "all"); strings.Count(all, "\n") != strings.Count(out, "\n") {
		t.Errorf("vm all:\n%s\nvm:\n%s", all, out)
	}
	out, _ = execCmd(t, b.Broker, "vm", "process")
	if !strings.HasPrefix(out, "process/count           : ") || strings.Count(out, "\n") != 3 {
		t.Errorf("vm process:\n%s", out)
	}
	if _, err := execCmd(t, b.Broker, "vm", "ports"); !errors.Is(err, broker.ErrUsage) {
		t.Errorf("vm ports: %v", err)
	}
}

func TestExecTrace(t *testing.T) {
	dir := t.TempDir()
	b := brokertest.New(t, broker.Options{})
	clientLog, topicLog := filepath.Join(dir, "c1.log"), filepath.Join(dir, "t.log")
	for _, tc := range []execCase{
		{args: []string{"trace", "client", "c1", clientLog}, out: "trace client c1 successfully.\n"},
		{args: []string{"trace", "topic", "t/#", topicLog}, out: "trace topic t/# successfully.\n"},
		{args: []string{"trace", "client", "c1", clientLog}, err: "trace client c1 error: already traced"},
		{args: []string{"trace", "topic", "t/#/x", topicLog}, err: "trace topic t/#/x error: " + topic.ValidateFilter("t/#/x").Error()},
		{args: []string{"trace", "client", "c2", filepath.Join(dir, "no", "such", "dir.log")}, err: "trace client c2 error: open " + filepath.Join(dir, "no", "such", "dir.log") + ": no such file or directory"},
		{args: []string{"trace", "list"}, out: "trace client c1 -> " + clientLog + "\ntrace topic t/# -> " + topicLog + "\n"},
	} {
		tc.check(t, b.Broker)
	}
	c1 := b.Dial(t, "c1", brokertest.WithUsername("u1"))
	c1.Subscribe(t, "t/#", 1)
	pingSync(t, c1) // session.subscribed has run
	other := b.Dial(t, "other")
	other.Publish(t, "t/a", []byte("from other"), 1, false)
	c1.Expect(t, "t/a")
	c1.Publish(t, "t/b", []byte("from c1"), 0, false)
	c1.Expect(t, "t/b")
	other.Publish(t, "u/x", []byte("untraced"), 0, false)
	c1.Disconnect(t)
	pingSync(t, other)
	// c1's connection ends on its own goroutine: wait for its last line.
	for deadline := time.Now().Add(brokertest.Timeout); ; time.Sleep(5 * time.Millisecond) {
		data, _ := os.ReadFile(clientLog)
		if strings.Contains(string(data), "msg=DISCONNECT") || time.Now().After(deadline) {
			break
		}
	}
	for _, tc := range []execCase{
		{args: []string{"trace", "client", "c1", "off"}, out: "stop tracing client c1 successfully.\n"},
		{args: []string{"trace", "client", "c1", "off"}, err: "stop tracing client c1 error: not traced"},
		{args: []string{"trace", "topic", "t/#", "off"}, out: "stop tracing topic t/# successfully.\n"},
		{args: []string{"trace", "list"}},
		{args: []string{"trace", "client"}, isUsage: true, out: `trace list                                      # List all traces
trace client <ClientId> <LogFile>               # Trace a client
trace client <ClientId> off                     # Stop tracing a client
trace topic <Topic> <LogFile>                   # Trace a topic
trace topic <Topic> off                         # Stop tracing a topic
`},
	} {
		tc.check(t, b.Broker)
	}

	// The client's events, one slog line each, in order.
	wantClient := []string{
		`msg=CONNECT client=c1 username=u1 peer=undefined listener=inprocess proto_ver=4 clean_start=true keepalive=0s code=success`,
		`msg=SUBSCRIBE client=c1 topic=t/# qos=1`,
		`msg=DELIVER client=c1 topic=t/a qos=1 retain=false from=other payload="from other"`,
		`msg=ACKED client=c1 topic=t/a qos=1`,
		`msg=PUBLISH client=c1 topic=t/b qos=0 retain=false payload="from c1"`,
		`msg=DELIVER client=c1 topic=t/b qos=0 retain=false from=c1 payload="from c1"`,
		`msg=DISCONNECT client=c1 reason=normal`,
	}
	checkLog(t, clientLog, wantClient)
	wantTopic := []string{
		`msg=PUBLISH filter=t/# topic=t/a qos=1 retain=false from=other payload="from other"`,
		`msg=PUBLISH filter=t/# topic=t/b qos=0 retain=false from=c1 payload="from c1"`,
	}
	checkLog(t, topicLog, wantTopic)

	// Nothing more is written once the trace is off.
	other.Publish(t, "t/c", []byte("after"), 0, false)
	pingSync(t, other)
	checkLog(t, topicLog, wantTopic)
}

// checkLog checks that the slog text lines of the file at path are want,
// once their "time=... level=INFO " prefix is cut.
func checkLog(t *testing.T, path string, want []string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	prefix := regexp.MustCompile(`^time=\S+ level=INFO `)
	var got []string
	for _, l := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if !prefix.MatchString(l) {
			t.Errorf("%s: line %q is not a slog text line", path, l)
		}
		got = append(got, prefix.ReplaceAllString(l, ""))
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n%s\nwant\n%s", path, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// Traces stop, and their files close, when the broker shuts down.
func TestTraceStopsAtShutdown(t *testing.T) {
	b, err := broker.New(broker.Options{SysInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "x.log")
	if _, err := execCmd(t, b, "trace", "topic", "#", path); err != nil {
		t.Fatal(err)
	}
	b.Close()
	if out, _ := execCmd(t, b, "trace", "list"); out != "" {
		t.Errorf("trace list after Close: %q", out)
	}
	execCase{args: []string{"status"}, out: "Node 'emqd@127.0.0.1' is stopping\nemqgo is not running\n"}.check(t, b)
}

// waitDisconnected waits until the broker no longer lists clientID as
// connected: a kick closes the connection before the session lets go.
func waitDisconnected(t *testing.T, b *broker.Broker, clientID string) {
	t.Helper()
	deadline := time.Now().Add(brokertest.Timeout)
	for {
		if _, on := b.Client(clientID); !on {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still connected after %v", clientID, brokertest.Timeout)
		}
		time.Sleep(time.Millisecond)
	}
}

func ExampleBroker_Exec() {
	b, _ := broker.New(broker.Options{})
	defer b.Close()
	ctx := context.Background()
	b.RegisterCommand(broker.Command{
		Name:  "hello",
		Usage: "hello <Name> # Say hello",
		Run: func(ctx context.Context, w io.Writer, args []string) error {
			if len(args) != 1 {
				return broker.ErrUsage // Exec prints the usage
			}
			fmt.Fprintf(w, "Hello, %s\n", args[0])
			return nil
		},
	})
	b.Exec(ctx, os.Stdout, "hello", "world")
	err := b.Exec(ctx, os.Stdout, "hello")
	fmt.Println(errors.Is(err, broker.ErrUsage))
	err = b.Exec(ctx, io.Discard, "clients", "show", "nosuch")
	fmt.Println(err)
	// Output:
	// Hello, world
	// hello <Name>                                    # Say hello
	// true
	// Not Found.
}
