// Command emqctl controls a running emqd, as EMQ 2.0's bin/emqttd_ctl did:
//
//	emqctl [-sock path] <command> [args]
//
// It sends the command line to emqd over emqd's control socket and prints
// the output. "emqctl help" (or emqctl with no command) lists the
// commands: status, broker, clients, sessions, routes, topics,
// subscriptions, plugins, listeners, vm, trace, and those of the loaded
// plugins.
//
// The socket is -sock, or else node.ctl_socket of etc/emq.conf when emqctl
// runs in the emqd home (the folder holding etc/), or else
// data/emqd.sock. Relative paths are relative to the working directory.
//
// Exit status: 0 on success; 1 when the command failed (its message goes to
// stderr: "Not Found.", "load plugin error: ...") or emqd is not running;
// 2 for a command line that is not one of the command's forms (its usage
// is printed) or no command at all.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/emqgo/broker/conf"
	"github.com/emqgo/broker/ctl"
)

// defaultSocket is emqd's default control socket, relative to its home.
var defaultSocket = filepath.Join("data", "emqd.sock")

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("emqctl", flag.ContinueOnError)
	flags.SetOutput(stderr)
	sock := flags.String("sock", "", "emqd's control `socket` (default: node.ctl_socket in etc/emq.conf, or "+defaultSocket+")")
	flags.Usage = func() {
		fmt.Fprintln(stderr, "Usage: emqctl [-sock path] <command> [args]")
		fmt.Fprintln(stderr, `Run "emqctl help" with emqd running for the list of commands.`)
		flags.PrintDefaults()
	}
	if err := flags.Parse(args); err != nil {
		return 2
	}
	path := *sock
	if path == "" {
		path = socketPath()
	}
	c, err := ctl.Dial(path)
	if errors.Is(err, ctl.ErrNotRunning) {
		fmt.Fprintf(stderr, "emqctl: emqd is not running: no control socket at %s (start emqd, or pass -sock)\n", path)
		return 1
	}
	if err != nil {
		fmt.Fprintf(stderr, "emqctl: cannot connect to emqd: %v\n", err)
		return 1
	}
	defer c.Close()
	cmd := flags.Args()
	if len(cmd) == 0 {
		out, err := c.Exec("help")
		fmt.Fprint(stderr, out)
		if err != nil {
			fmt.Fprintf(stderr, "emqctl: %v\n", err)
			return 1
		}
		return 2
	}
	out, err := c.Exec(cmd...)
	fmt.Fprint(stdout, out)
	var ce *ctl.Error
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ce) && ce.Status == ctl.StatusUsage:
		return 2
	case errors.As(err, &ce):
		fmt.Fprintln(stderr, ce.Message)
		return 1
	default:
		fmt.Fprintf(stderr, "emqctl: %v\n", err)
		return 1
	}
}

// socketPath returns node.ctl_socket from etc/emq.conf when that file
// exists and sets it, and the default socket otherwise.
func socketPath() string {
	m, err := conf.ParseFile(filepath.Join("etc", "emq.conf"))
	if err != nil {
		return defaultSocket
	}
	if v, ok := m.Get("node.ctl_socket"); ok && !conf.IsOff(v) {
		return v
	}
	return defaultSocket
}
