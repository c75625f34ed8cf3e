package broker

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/emqgo/broker/packets"
	"github.com/emqgo/broker/topic"
)

// The core CLI commands, with EMQ 2.0's output formats (emqttd_cli.erl).
// Where EMQ printed Erlang VM internals, they show the Go runtime's.

// sysDescr is the broker's description, in $SYS and "broker".
const sysDescr = "emqgo MQTT broker"

// errNotFound is EMQ's answer for a client, session or route that does not
// exist.
var errNotFound = errors.New("Not Found.")

func (b *Broker) registerCoreCommands() {
	for _, c := range []Command{
		{Name: "status", Usage: "status # Show broker status", Short: "Show broker status", Run: b.cmdStatus},
		{Name: "broker", Short: "Show broker version, uptime, stats and metrics", Run: b.cmdBroker, Usage: `
broker # Show broker version, uptime and description
broker stats # Show broker statistics of clients, topics, subscribers
broker metrics # Show broker metrics`},
		{Name: "clients", Short: "List, show and kick clients", Run: b.cmdClients, Usage: `
clients list # List all clients
clients show <ClientId> # Show a client
clients kick <ClientId> # Kick out a client`},
		{Name: "sessions", Short: "List and show sessions", Run: b.cmdSessions, Usage: `
sessions list # List all sessions
sessions list persistent # List all persistent sessions
sessions list transient # List all transient sessions
sessions show <ClientId> # Show a session`},
		{Name: "routes", Short: "List and show routes", Run: b.cmdRoutes, Usage: `
routes list # List all routes
routes show <Topic> # Show a route`},
		{Name: "topics", Short: "List and show topics", Run: b.cmdTopics, Usage: `
topics list # List all topics
topics show <Topic> # Show a topic`},
		{Name: "subscriptions", Short: "List, show, add and delete subscriptions", Run: b.cmdSubscriptions, Usage: `
subscriptions list # List all subscriptions
subscriptions show <ClientId> # Show subscriptions of a client
subscriptions add <ClientId> <Topic> <QoS> # Add a subscription to a session
subscriptions del <ClientId> # Delete all subscriptions of a session
subscriptions del <ClientId> <Topic> # Delete a subscription of a session`},
		{Name: "plugins", Short: "List, load and unload plugins", Run: b.cmdPlugins, Usage: `
plugins list # Show loaded plugins
plugins load <Plugin> # Load plugin
plugins unload <Plugin> # Unload plugin`},
		{Name: "listeners", Usage: "listeners # List listeners", Short: "List listeners", Run: b.cmdListeners},
		{Name: "vm", Short: "Show the Go runtime", Run: b.cmdVM, Usage: `
vm all # Show info of the Go runtime
vm load # Show load of the host
vm memory # Show memory of the Go runtime
vm process # Show goroutines of the Go runtime
vm io # Show file descriptors of the process`},
		{Name: "trace", Short: "Trace a client or a topic to a file", Run: b.cmdTrace, Usage: `
trace list # List all traces
trace client <ClientId> <LogFile> # Trace a client
trace client <ClientId> off # Stop tracing a client
trace topic <Topic> <LogFile> # Trace a topic
trace topic <Topic> off # Stop tracing a topic`},
	} {
		if _, err := b.RegisterCommand(c); err != nil {
			panic(err) // a core command is malformed: a bug
		}
	}
}

// match reports whether args are exactly the words of form, where a word
// in angle brackets matches any argument.
func match(args []string, form ...string) bool {
	if len(args) != len(form) {
		return false
	}
	for i, f := range form {
		if !strings.HasPrefix(f, "<") && args[i] != f {
			return false
		}
	}
	return true
}

func (b *Broker) cmdStatus(_ context.Context, w io.Writer, args []string) error {
	if len(args) != 0 {
		return ErrUsage
	}
	if b.closing.Load() {
		fmt.Fprintf(w, "Node '%s' is stopping\nemqgo is not running\n", b.opts.Node)
		return nil
	}
	fmt.Fprintf(w, "Node '%s' is started\nemqgo %s is running\n", b.opts.Node, b.opts.Version)
	return nil
}

func (b *Broker) cmdBroker(_ context.Context, w io.Writer, args []string) error {
	switch {
	case len(args) == 0:
		for _, kv := range [][2]string{
			{"sysdescr", sysDescr},
			{"version", b.opts.Version},
			{"uptime", FormatUptime(b.Uptime())},
			{"datetime", time.Now().Format("2006-01-02 15:04:05")},
		} {
			fmt.Fprintf(w, "%-10s: %s\n", kv[0], kv[1])
		}
	case match(args, "stats"):
		stats := b.Stats()
		for _, k := range sortedKeys(stats) {
			fmt.Fprintf(w, "%-20s: %d\n", k, stats[k])
		}
	case match(args, "metrics"):
		metrics := b.Metrics()
		for _, k := range sortedKeys(metrics) {
			fmt.Fprintf(w, "%-24s: %d\n", k, metrics[k])
		}
	default:
		return ErrUsage
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// listedSession returns the session of a client (not one of the host's
// own), connected or not.
func (b *Broker) listedSession(clientID string) *Session {
	s := b.session(clientID)
	if s == nil {
		return nil
	}
	s.mu.Lock()
	ok := s.listed && !s.closed
	s.mu.Unlock()
	if !ok {
		return nil
	}
	return s
}

func (b *Broker) cmdClients(ctx context.Context, w io.Writer, args []string) error {
	switch {
	case match(args, "list"):
		for c := range b.Clients() {
			writeClient(w, c)
		}
	case match(args, "show", "<ClientId>"):
		c, ok := b.connectedClient(args[1])
		if !ok {
			return errNotFound
		}
		writeClient(w, c)
	case match(args, "kick", "<ClientId>"):
		if _, ok := b.connectedClient(args[1]); !ok {
			return errNotFound
		}
		if err := b.Kick(ctx, args[1]); err != nil {
			return errNotFound
		}
	default:
		return ErrUsage
	}
	return nil
}

// connectedClient returns the info of the connected client clientID.
func (b *Broker) connectedClient(clientID string) (*ClientInfo, bool) {
	s := b.listedSession(clientID)
	if s == nil {
		return nil, false
	}
	s.mu.Lock()
	on := s.out != nil
	s.mu.Unlock()
	return s.Info(), on
}

func writeClient(w io.Writer, c *ClientInfo) {
	fmt.Fprintf(w, "Client(%s, clean_sess=%t, username=%s, peername=%s, connected_at=%d)\n",
		c.ClientID, c.CleanStart, orUndefined(c.Username), peerName(c), c.ConnectedAt.Unix())
}

// peerName returns the client's address, or "undefined" when it has none
// (in-process and host clients).
func peerName(c *ClientInfo) string {
	if !c.Peer.IsValid() {
		return "undefined"
	}
	return c.Peer.String()
}

// orUndefined returns s, or "undefined" (Erlang's word) when it is empty.
func orUndefined(s string) string {
	if s == "" {
		return "undefined"
	}
	return s
}

func (b *Broker) cmdSessions(_ context.Context, w io.Writer, args []string) error {
	list := func(persistent bool) {
		for _, s := range b.Sessions() {
			if s.Persistent == persistent {
				b.writeSession(w, s)
			}
		}
	}
	switch {
	case match(args, "list"):
		list(true)
		list(false)
	case match(args, "list", "persistent"):
		list(true)
	case match(args, "list", "transient"):
		list(false)
	case match(args, "show", "<ClientId>"):
		for _, s := range b.Sessions() {
			if s.ClientID == args[1] {
				b.writeSession(w, s)
				return nil
			}
		}
		return errNotFound
	default:
		return ErrUsage
	}
	return nil
}

// writeSession prints s in EMQ 2.0's form, without the counters emqgo does
// not keep per session (message_dropped, awaiting_ack, awaiting_comp) and
// with the subscription count of EMQ 2.3.
func (b *Broker) writeSession(w io.Writer, s SessionInfo) {
	fmt.Fprintf(w, "Session(%s, clean_sess=%t, subscriptions=%d, max_inflight=%d, inflight_queue=%d, message_queue=%d, awaiting_rel=%d, created_at=%d)\n",
		s.ClientID, !s.Persistent, s.Subscriptions, max(b.opts.Session.MaxInflight, 0), s.Inflight, s.Queued, s.AwaitingRel, s.CreatedAt.Unix())
}

// routeFilters returns the distinct filters of the subscription tree,
// sorted: the routes of this node.
func (b *Broker) routeFilters() []string {
	seen := make(map[string]bool)
	b.subs.Walk(func(filter string, _ *subscriber) bool {
		seen[filter] = true
		return true
	})
	return sortedKeys(seen)
}

func (b *Broker) hasRoute(filter string) bool {
	found := false
	b.subs.Walk(func(f string, _ *subscriber) bool {
		found = f == filter
		return !found
	})
	return found
}

func (b *Broker) cmdRoutes(_ context.Context, w io.Writer, args []string) error {
	switch {
	case match(args, "list"):
		for _, f := range b.routeFilters() {
			fmt.Fprintf(w, "%s -> %s\n", f, b.opts.Node)
		}
	case match(args, "show", "<Topic>"):
		if !b.hasRoute(args[1]) {
			return errNotFound
		}
		fmt.Fprintf(w, "%s -> %s\n", args[1], b.opts.Node)
	default:
		return ErrUsage
	}
	return nil
}

func (b *Broker) cmdTopics(_ context.Context, w io.Writer, args []string) error {
	switch {
	case match(args, "list"):
		for _, f := range b.routeFilters() {
			fmt.Fprintln(w, f)
		}
	case match(args, "show", "<Topic>"):
		if !b.hasRoute(args[1]) {
			return errNotFound
		}
		fmt.Fprintf(w, "%s -> %s\n", args[1], b.opts.Node)
	default:
		return ErrUsage
	}
	return nil
}

func (b *Broker) cmdSubscriptions(ctx context.Context, w io.Writer, args []string) error {
	switch {
	case match(args, "list"):
		for _, s := range b.Sessions() {
			for _, sub := range b.Subscriptions(s.ClientID) {
				fmt.Fprintf(w, "%s -> %s\n", s.ClientID, sub.Filter)
			}
		}
	case match(args, "show", "<ClientId>"):
		var subs []Subscription
		if b.listedSession(args[1]) != nil {
			subs = b.Subscriptions(args[1])
		}
		if len(subs) == 0 {
			return errNotFound
		}
		for _, sub := range subs {
			fmt.Fprintf(w, "%s -> %s\n", args[1], sub.Filter)
		}
	case match(args, "add", "<ClientId>", "<Topic>", "<QoS>"):
		qos, err := strconv.Atoi(args[3])
		if err != nil || qos < 0 || qos > 2 {
			return errors.New("QoS should be 0, 1, 2")
		}
		if err := b.addSubscription(ctx, args[1], Subscription{Filter: args[2], QoS: byte(qos)}); err != nil {
			return err
		}
		fmt.Fprintln(w, "ok")
	case match(args, "del", "<ClientId>"), match(args, "del", "<ClientId>", "<Topic>"):
		if err := b.delSubscriptions(ctx, args[1], args[2:]); err != nil {
			return err
		}
		fmt.Fprintln(w, "ok")
	default:
		return ErrUsage
	}
	return nil
}

var errSessionNotFound = errors.New("Error: Session not found!")

// addSubscription subscribes the session of clientID to sub on the
// operator's behalf, as EMQ 2.3's "subscriptions add" did: no ACL and no
// client.subscribe hook, but session.subscribed runs (so retained messages
// are delivered).
func (b *Broker) addSubscription(ctx context.Context, clientID string, sub Subscription) error {
	if err := topic.ValidateFilter(sub.Filter); err != nil {
		return fmt.Errorf("Error: %w", err)
	}
	s := b.listedSession(clientID)
	if s == nil {
		return errSessionNotFound
	}
	s.mu.Lock()
	_, exists := s.subs[sub.Filter]
	s.mu.Unlock()
	if exists {
		return errors.New("Error: already existed")
	}
	isNew, err := s.addSub(sub)
	if err != nil {
		return errSessionNotFound
	}
	s.afterSubscribe(ctx, []accepted{{sub, isNew}})
	return nil
}

// delSubscriptions removes the subscriptions filters (all of them when
// filters is empty) of the session of clientID on the operator's behalf:
// no client.unsubscribe hook, but session.unsubscribed runs.
func (b *Broker) delSubscriptions(ctx context.Context, clientID string, filters []string) error {
	s := b.listedSession(clientID)
	if s == nil {
		return errSessionNotFound
	}
	var only []string // nil: every subscription
	if len(filters) > 0 {
		only = filters[:1]
	}
	s.removeSubs(ctx, only)
	return nil
}

func (b *Broker) cmdPlugins(ctx context.Context, w io.Writer, args []string) error {
	switch {
	case match(args, "list"):
		for _, p := range b.plugins.List() {
			fmt.Fprintf(w, "Plugin(%s, version=%s, description=%s, active=%t)\n", p.Name, p.Version, p.Description, p.Loaded)
		}
	case match(args, "load", "<Plugin>"):
		if err := b.plugins.Load(ctx, args[1]); err != nil {
			return fmt.Errorf("load plugin error: %w", err)
		}
		fmt.Fprintf(w, "Plugin %s loaded successfully.\n", args[1])
	case match(args, "unload", "<Plugin>"):
		if err := b.plugins.Unload(ctx, args[1]); err != nil {
			return fmt.Errorf("unload plugin error: %w", err)
		}
		fmt.Fprintf(w, "Plugin %s unloaded successfully.\n", args[1])
	default:
		return ErrUsage
	}
	return nil
}

func (b *Broker) cmdListeners(_ context.Context, w io.Writer, args []string) error {
	if len(args) != 0 {
		return ErrUsage
	}
	for _, l := range b.Listeners() {
		current := 0
		if l.CurrentClients != nil {
			current = l.CurrentClients()
		} else {
			for c := range b.Clients() {
				if c.Listener == l.Name {
					current++
				}
			}
		}
		fmt.Fprintf(w, "listener on %s\n", l.Name)
		for _, kv := range []struct {
			k string
			v int
		}{{"acceptors", l.Acceptors}, {"max_clients", l.MaxClients}, {"current_clients", current}} {
			fmt.Fprintf(w, "  %-16s: %d\n", kv.k, kv.v)
		}
	}
	return nil
}

// cmdVM shows the Go runtime in the layout of EMQ's "vm" command: one
// "<section>/<key> : <value>" line each.
func (b *Broker) cmdVM(_ context.Context, w io.Writer, args []string) error {
	sections := map[string]func(io.Writer){
		"load": vmLoad, "memory": vmMemory, "process": vmProcess, "io": vmIO,
	}
	switch {
	case len(args) == 0, match(args, "all"):
		for _, s := range []string{"load", "memory", "process", "io"} {
			sections[s](w)
		}
	case len(args) == 1 && sections[args[0]] != nil:
		sections[args[0]](w)
	default:
		return ErrUsage
	}
	return nil
}

func vmLine(w io.Writer, key string, v any) { fmt.Fprintf(w, "%-24s: %v\n", key, v) }

// vmLoad prints the host's load averages, where /proc/loadavg has them.
func vmLoad(w io.Writer) {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return
	}
	f := strings.Fields(string(data))
	for i, k := range []string{"load1", "load5", "load15"} {
		if i < len(f) {
			vmLine(w, "cpu/"+k, f[i])
		}
	}
}

func vmMemory(w io.Writer) {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	for _, kv := range []struct {
		k string
		v uint64
	}{
		{"total", m.Sys}, {"heap_alloc", m.HeapAlloc}, {"heap_inuse", m.HeapInuse}, {"heap_idle", m.HeapIdle},
		{"heap_released", m.HeapReleased}, {"heap_objects", m.HeapObjects}, {"stack_inuse", m.StackInuse},
		{"gc_sys", m.GCSys}, {"gc_count", uint64(m.NumGC)}, {"gc_pause_ns", m.PauseTotalNs},
	} {
		vmLine(w, "memory/"+kv.k, kv.v)
	}
}

func vmProcess(w io.Writer) {
	vmLine(w, "process/count", runtime.NumGoroutine())
	vmLine(w, "process/gomaxprocs", runtime.GOMAXPROCS(0))
	vmLine(w, "process/num_cpu", runtime.NumCPU())
}

// vmIO prints the process's file descriptor limit and count, where /proc
// has them.
func vmIO(w io.Writer) {
	if f, err := os.Open("/proc/self/limits"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "Max open files"); ok {
				if fs := strings.Fields(rest); len(fs) > 0 {
					vmLine(w, "io/max_fds", fs[0])
				}
			}
		}
		f.Close()
	}
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		vmLine(w, "io/active_fds", len(fds))
	}
}

// ---- trace ------------------------------------------------------------------

// traceKey names a trace: kind is "client" or "topic".
type traceKey struct{ kind, name string }

// tracer writes the events of one client or topic to a file, as slog text
// lines, through hooks registered for as long as it runs.
type tracer struct {
	path string
	f    *os.File
	undo []func()
}

// tracePriority runs the trace hooks before others, so a trace shows a
// message as it was published, before any hook rewrites it.
const tracePriority = 1 << 20

func (b *Broker) cmdTrace(_ context.Context, w io.Writer, args []string) error {
	switch {
	case match(args, "list"):
		b.cli.mu.Lock()
		keys := make([]traceKey, 0, len(b.cli.traces))
		for k := range b.cli.traces {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			if keys[i].kind != keys[j].kind {
				return keys[i].kind < keys[j].kind
			}
			return keys[i].name < keys[j].name
		})
		for _, k := range keys {
			fmt.Fprintf(w, "trace %s %s -> %s\n", k.kind, k.name, b.cli.traces[k].path)
		}
		b.cli.mu.Unlock()
	case len(args) == 3 && (args[0] == "client" || args[0] == "topic"):
		k := traceKey{args[0], args[1]}
		if args[2] == "off" {
			if err := b.stopTrace(k); err != nil {
				return fmt.Errorf("stop tracing %s %s error: %w", k.kind, k.name, err)
			}
			fmt.Fprintf(w, "stop tracing %s %s successfully.\n", k.kind, k.name)
			return nil
		}
		if err := b.startTrace(k, args[2]); err != nil {
			return fmt.Errorf("trace %s %s error: %w", k.kind, k.name, err)
		}
		fmt.Fprintf(w, "trace %s %s successfully.\n", k.kind, k.name)
	default:
		return ErrUsage
	}
	return nil
}

// startTrace starts writing the events of k to the file at path, appending.
func (b *Broker) startTrace(k traceKey, path string) error {
	if k.kind == "topic" {
		if err := topic.ValidateFilter(k.name); err != nil {
			return err
		}
	}
	b.cli.mu.Lock()
	defer b.cli.mu.Unlock()
	if b.closing.Load() {
		return ErrBrokerClosed
	}
	if _, ok := b.cli.traces[k]; ok {
		return errors.New("already traced")
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	t := &tracer{path: path, f: f}
	log := slog.New(slog.NewTextHandler(f, nil))
	if k.kind == "client" {
		t.traceClient(b, k.name, log.With("client", k.name))
	} else {
		t.traceTopic(b, k.name, log.With("filter", k.name))
	}
	if b.cli.traces == nil {
		b.cli.traces = make(map[traceKey]*tracer)
	}
	b.cli.traces[k] = t
	b.log.Info("trace started", "trace", k.kind, "name", k.name, "file", path)
	return nil
}

func (t *tracer) on(undo Unhook) { t.undo = append(t.undo, undo) }

// traceClient logs what the client id does and what it is sent.
func (t *tracer) traceClient(b *Broker, id string, log *slog.Logger) {
	prio := Priority(tracePriority)
	t.on(On(b, ClientConnectedHook, func(ctx context.Context, c *ClientInfo, code packets.ReasonCode) {
		if c.ClientID == id {
			log.Info("CONNECT", "username", c.Username, "peer", peerName(c), "listener", c.Listener,
				"proto_ver", c.ProtoVersion, "clean_start", c.CleanStart, "keepalive", c.Keepalive, "code", code)
		}
	}, prio))
	t.on(On(b, ClientDisconnectedHook, func(ctx context.Context, c *ClientInfo, reason error) {
		if c.ClientID == id {
			log.Info("DISCONNECT", "reason", errText(reason))
		}
	}, prio))
	t.on(On(b, SessionSubscribedHook, func(ctx context.Context, c *ClientInfo, sub Subscription, isNew bool) {
		if c.ClientID == id {
			log.Info("SUBSCRIBE", "topic", sub.Filter, "qos", sub.QoS)
		}
	}, prio))
	t.on(On(b, SessionUnsubscribedHook, func(ctx context.Context, c *ClientInfo, sub Subscription) {
		if c.ClientID == id {
			log.Info("UNSUBSCRIBE", "topic", sub.Filter)
		}
	}, prio))
	t.on(On(b, MessagePublishHook, func(ctx context.Context, m Message) (Message, Flow) {
		if m.From == id {
			log.Info("PUBLISH", "topic", m.Topic, "qos", m.QoS, "retain", m.Retain, "payload", string(m.Payload))
		}
		return m, Continue
	}, prio))
	t.on(On(b, MessageDeliveredHook, func(ctx context.Context, c *ClientInfo, m Message) {
		if c.ClientID == id {
			log.Info("DELIVER", "topic", m.Topic, "qos", m.QoS, "retain", m.Retain, "from", m.From, "payload", string(m.Payload))
		}
	}, prio))
	t.on(On(b, MessageAckedHook, func(ctx context.Context, c *ClientInfo, m Message) {
		if c.ClientID == id {
			log.Info("ACKED", "topic", m.Topic, "qos", m.QoS)
		}
	}, prio))
	t.on(On(b, DeliveryDroppedHook, func(ctx context.Context, c *ClientInfo, m Message, reason DropReason) {
		if c.ClientID == id {
			log.Info("DROPPED", "topic", m.Topic, "qos", m.QoS, "reason", string(reason))
		}
	}, prio))
}

// traceTopic logs the messages published to topics that filter matches.
func (t *tracer) traceTopic(b *Broker, filter string, log *slog.Logger) {
	t.on(On(b, MessagePublishHook, func(ctx context.Context, m Message) (Message, Flow) {
		if topic.Match(filter, m.Topic) {
			log.Info("PUBLISH", "topic", m.Topic, "qos", m.QoS, "retain", m.Retain, "from", m.From, "payload", string(m.Payload))
		}
		return m, Continue
	}, Priority(tracePriority)))
}

func errText(err error) string {
	if err == nil {
		return "normal"
	}
	return err.Error()
}

// stopTrace stops the trace k and closes its file.
func (b *Broker) stopTrace(k traceKey) error {
	b.cli.mu.Lock()
	t := b.cli.traces[k]
	delete(b.cli.traces, k)
	b.cli.mu.Unlock()
	if t == nil {
		return errors.New("not traced")
	}
	b.log.Info("trace stopped", "trace", k.kind, "name", k.name, "file", t.path)
	return t.stop()
}

func (t *tracer) stop() error {
	for _, undo := range t.undo {
		undo()
	}
	return t.f.Close()
}

// stopTraces stops every trace, at shutdown.
func (b *Broker) stopTraces() {
	b.cli.mu.Lock()
	ts := b.cli.traces
	b.cli.traces = nil
	b.cli.mu.Unlock()
	for _, t := range ts {
		t.stop()
	}
}
