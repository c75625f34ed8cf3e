package broker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
)

// Command is a CLI command, run by Broker.Exec: what emqctl sends to a
// running emqd. The broker registers EMQ 2.0's core commands (status,
// broker, clients, sessions, routes, topics, subscriptions, plugins,
// listeners, vm, trace); plugins add theirs through PluginHost, and they
// disappear when the plugin is unloaded.
type Command struct {
	// Name is the first word of the command line: lowercase ASCII letters,
	// digits, '_' and '-', starting with a letter.
	Name string
	// Usage lists the command's forms, one a line, each optionally followed
	// by " # " and a description: "clients list # List all clients". A form
	// without a description is described by Short. Exec prints it in EMQ's
	// layout when the command is called wrongly.
	Usage string
	// Short is a one-line description of the command.
	Short string
	// Run runs the command with the words after its name, writing its
	// output to w. It returns an error wrapping ErrUsage when args are not
	// one of its forms: Exec then prints Usage. Any other error is a
	// failure whose text is meant for the operator, such as "Not Found.".
	Run func(ctx context.Context, w io.Writer, args []string) error
}

// ErrUsage is returned by a Command's Run, wrapped or not, when it was
// called with arguments that are not one of its forms; Exec then prints
// the command's Usage and returns an error wrapping ErrUsage.
var ErrUsage = errors.New("broker: usage")

// cli holds a broker's commands, listeners and traces.
type cli struct {
	mu        sync.Mutex
	cmds      []*Command // registration order
	listeners []*ListenerInfo
	traces    map[traceKey]*tracer
}

// validCommandName reports whether s is a valid Command.Name.
func validCommandName(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// RegisterCommand adds cmd to the commands Exec runs and returns the
// function that removes it. A malformed name, a nil Run, or a name that is
// already registered is an error.
func (b *Broker) RegisterCommand(cmd Command) (unregister func(), err error) {
	if !validCommandName(cmd.Name) {
		return nil, fmt.Errorf("broker: register command %q: invalid name", cmd.Name)
	}
	if cmd.Run == nil {
		return nil, fmt.Errorf("broker: register command %s: nil Run", cmd.Name)
	}
	c := &cmd
	b.cli.mu.Lock()
	defer b.cli.mu.Unlock()
	for _, old := range b.cli.cmds {
		if old.Name == cmd.Name {
			return nil, fmt.Errorf("broker: register command %s: already registered", cmd.Name)
		}
	}
	b.cli.cmds = append(b.cli.cmds, c)
	var once sync.Once
	return func() {
		once.Do(func() {
			b.cli.mu.Lock()
			b.cli.cmds = slices.DeleteFunc(b.cli.cmds, func(x *Command) bool { return x == c })
			b.cli.mu.Unlock()
		})
	}, nil
}

// Commands returns the registered commands, in registration order.
func (b *Broker) Commands() []Command {
	b.cli.mu.Lock()
	defer b.cli.mu.Unlock()
	out := make([]Command, len(b.cli.cmds))
	for i, c := range b.cli.cmds {
		out[i] = *c
	}
	return out
}

func (b *Broker) command(name string) (Command, bool) {
	b.cli.mu.Lock()
	defer b.cli.mu.Unlock()
	for _, c := range b.cli.cmds {
		if c.Name == name {
			return *c, true
		}
	}
	return Command{}, false
}

// Exec runs the command line args, as emqctl does, writing the output to
// w. args[0] names the command and the rest are its arguments.
//
// With no args, or "help", Exec prints the usage of every command. For an
// unknown command it prints the same and returns an error wrapping
// ErrUsage; for a command called with the wrong arguments it prints that
// command's usage and returns an error wrapping ErrUsage. Any other error
// is the command's failure, with the text to show the operator ("Not
// Found.", "load plugin error: ..."). A command that panics is reported
// as an error; the broker keeps running.
func (b *Broker) Exec(ctx context.Context, w io.Writer, args ...string) (err error) {
	if len(args) == 0 || (args[0] == "help" && len(args) == 1) {
		b.writeUsage(w)
		return nil
	}
	name := args[0]
	if name == "help" {
		name = args[1]
	}
	cmd, ok := b.command(name)
	if !ok {
		b.writeUsage(w)
		return fmt.Errorf("%w: unknown command %q", ErrUsage, name)
	}
	if args[0] == "help" {
		writeCommandUsage(w, &cmd)
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			b.log.Error("command panicked", "command", args, "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("broker: command %s failed: %v", name, r)
		}
	}()
	err = cmd.Run(ctx, w, args[1:])
	if errors.Is(err, ErrUsage) {
		writeCommandUsage(w, &cmd)
	}
	return err
}

// usageRule separates the commands in the full usage, as emqttd_ctl did.
var usageRule = strings.Repeat("-", 80)

func (b *Broker) writeUsage(w io.Writer) {
	fmt.Fprintln(w, "Usage: emqctl")
	for _, c := range b.Commands() {
		fmt.Fprintln(w, usageRule)
		writeCommandUsage(w, &c)
	}
}

// writeCommandUsage prints c's forms as EMQ did: "~-48s# ~s".
func writeCommandUsage(w io.Writer, c *Command) {
	usage := strings.TrimSpace(c.Usage)
	if usage == "" {
		usage = c.Name
	}
	for line := range strings.SplitSeq(usage, "\n") {
		form, desc, ok := strings.Cut(line, " # ")
		if !ok {
			desc = c.Short
		}
		fmt.Fprintf(w, "%-48s# %s\n", strings.TrimSpace(form), strings.TrimSpace(desc))
	}
}

// ListenerInfo describes a listener for the "listeners" command. A host
// that serves connections registers each listener with RegisterListener.
type ListenerInfo struct {
	// Name is the listener's name as ClientInfo.Listener carries it, such
	// as "mqtt:tcp:0.0.0.0:1883".
	Name string
	// Acceptors and MaxClients are shown as configured (EMQ's
	// mqtt.listener.<proto>.acceptors and .max_clients; 0 = no limit).
	Acceptors  int
	MaxClients int
	// CurrentClients returns the number of connections open on the
	// listener. nil counts the connected clients whose ClientInfo.Listener
	// is Name.
	CurrentClients func() int
}

// RegisterListener adds l to the listeners the "listeners" command shows
// and returns the function that removes it.
func (b *Broker) RegisterListener(l ListenerInfo) (unregister func()) {
	p := &l
	b.cli.mu.Lock()
	b.cli.listeners = append(b.cli.listeners, p)
	b.cli.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			b.cli.mu.Lock()
			b.cli.listeners = slices.DeleteFunc(b.cli.listeners, func(x *ListenerInfo) bool { return x == p })
			b.cli.mu.Unlock()
		})
	}
}

// Listeners returns the registered listeners, in registration order.
func (b *Broker) Listeners() []ListenerInfo {
	b.cli.mu.Lock()
	defer b.cli.mu.Unlock()
	out := make([]ListenerInfo, len(b.cli.listeners))
	for i, l := range b.cli.listeners {
		out[i] = *l
	}
	return out
}

// stopExtensions unloads the plugins, newest first, and stops the traces.
// Shutdown and Close call it once the connections are gone, so plugins see
// every client.disconnected.
func (b *Broker) stopExtensions(ctx context.Context) {
	b.plugins.unloadAll(ctx)
	b.stopTraces()
}
