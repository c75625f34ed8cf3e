// Package ctl is the wire between emqctl and a running broker: a local
// socket, normally a unix socket such as emqd's data/emqd.sock, carrying
// command lines to Broker.Exec and their output back.
//
// The server side is Serve, on a listener from Listen:
//
//	l, err := ctl.Listen("data/emqd.sock")
//	...
//	go ctl.Serve(l, b)
//
// The client side is Dial and Exec:
//
//	c, err := ctl.Dial("data/emqd.sock") // errors.Is(err, ctl.ErrNotRunning) when nobody listens
//	...
//	out, err := c.Exec("clients", "list")
//
// # Wire format
//
// A connection carries any number of requests, one at a time. A request is
// one line of JSON, {"args":["clients","show","c1"]}, and its response is
// one line of JSON, {"output":"...","status":0}, with "error" set when the
// status is not 0. Status 0 is success, 1 a failed command, and 2 a
// command line that is not one of the command's forms (the output is then
// the usage).
//
// Anyone who can connect to the socket controls the broker: Listen makes
// the socket readable and writable by its owner only.
package ctl

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/emqgo/broker"
)

// The status of a response.
const (
	// StatusOK is a command that succeeded.
	StatusOK = 0
	// StatusFailed is a command that failed; Error.Message says why.
	StatusFailed = 1
	// StatusUsage is a command line that is not one of the command's forms;
	// the output is the usage.
	StatusUsage = 2
)

// maxRequest bounds one request line.
const maxRequest = 1 << 20

type request struct {
	Args []string `json:"args"`
}

type response struct {
	Output string `json:"output"`
	Status int    `json:"status"`
	Error  string `json:"error,omitempty"`
}

// ErrNotRunning is returned by Dial when nothing listens on the socket:
// the broker is not running (or listens elsewhere).
var ErrNotRunning = errors.New("ctl: broker is not running")

// ErrInUse is returned by Listen when a broker already serves the socket.
var ErrInUse = errors.New("ctl: socket in use by a running broker")

// Error is a command that did not succeed, as Client.Exec reports it. With
// StatusUsage it wraps broker.ErrUsage.
type Error struct {
	Status  int
	Message string
}

// Error returns the message of the failure, as the command gave it.
func (e *Error) Error() string { return e.Message }

// Unwrap returns broker.ErrUsage for StatusUsage.
func (e *Error) Unwrap() error {
	if e.Status == StatusUsage {
		return broker.ErrUsage
	}
	return nil
}

// Listen listens on the unix socket at path, readable and writable by its
// owner only. A socket file left behind by a broker that is gone is
// removed first; if a broker still answers on it, Listen returns an error
// wrapping ErrInUse. A file at path that is not a socket is an error.
func Listen(path string) (net.Listener, error) {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("ctl: %w", err)
	case fi.Mode()&fs.ModeSocket == 0:
		return nil, fmt.Errorf("ctl: %s exists and is not a socket", path)
	default:
		if nc, err := net.DialTimeout("unix", path, time.Second); err == nil {
			nc.Close()
			return nil, fmt.Errorf("%w: %s", ErrInUse, path)
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("ctl: removing stale socket: %w", err)
		}
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		if len(path) >= 100 {
			err = fmt.Errorf("%w (the path is %d bytes long; unix socket paths are limited to about 100)", err, len(path))
		}
		return nil, fmt.Errorf("ctl: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("ctl: %w", err)
	}
	return l, nil
}

// Serve accepts connections on l and runs their requests with b.Exec. It
// blocks until l fails or b closes, closes l and the connections it
// accepted, waits for the requests in progress, and returns
// broker.ErrBrokerClosed when b closed, or the error of Accept.
func Serve(l net.Listener, b *broker.Broker) error {
	ctx := b.Context()
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	var (
		mu    sync.Mutex
		conns = make(map[net.Conn]struct{})
		wg    sync.WaitGroup
	)
	defer func() {
		l.Close()
		mu.Lock()
		for nc := range conns {
			nc.Close()
		}
		mu.Unlock()
		wg.Wait()
	}()
	for {
		nc, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return broker.ErrBrokerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return err
		}
		mu.Lock()
		conns[nc] = struct{}{}
		wg.Add(1)
		mu.Unlock()
		go func() {
			defer wg.Done()
			serveConn(ctx, nc, b)
			mu.Lock()
			delete(conns, nc)
			mu.Unlock()
		}()
	}
}

// serveConn answers the requests of one connection until it closes.
func serveConn(ctx context.Context, nc net.Conn, b *broker.Broker) {
	defer nc.Close()
	sc := bufio.NewScanner(nc)
	sc.Buffer(make([]byte, 0, 4096), maxRequest)
	enc := json.NewEncoder(nc)
	for sc.Scan() {
		var req request
		var resp response
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			resp = response{Status: StatusFailed, Error: "ctl: bad request: " + err.Error()}
		} else {
			var out bytes.Buffer
			err := b.Exec(ctx, &out, req.Args...)
			resp.Output = out.String()
			switch {
			case errors.Is(err, broker.ErrUsage):
				resp.Status, resp.Error = StatusUsage, err.Error()
			case err != nil:
				resp.Status, resp.Error = StatusFailed, err.Error()
			}
		}
		if err := enc.Encode(resp); err != nil {
			return
		}
	}
}

// Client is a connection to a broker's control socket. Its methods may be
// called from several goroutines; requests run one at a time.
type Client struct {
	mu sync.Mutex
	nc net.Conn
	r  *bufio.Reader
}

// Dial connects to the control socket at path. When nothing listens there
// the error wraps ErrNotRunning.
func Dial(path string) (*Client, error) {
	nc, err := net.Dial("unix", path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("%w: nothing listens on %s", ErrNotRunning, path)
		}
		return nil, fmt.Errorf("ctl: %w", err)
	}
	return &Client{nc: nc, r: bufio.NewReader(nc)}, nil
}

// Exec runs the command line args on the broker and returns its output.
// A command that fails returns its output (the usage, for StatusUsage) and
// an *Error; a broken connection returns another error.
func (c *Client) Exec(args ...string) (output string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if args == nil {
		args = []string{}
	}
	req, err := json.Marshal(request{Args: args})
	if err != nil {
		return "", fmt.Errorf("ctl: %w", err)
	}
	if _, err := c.nc.Write(append(req, '\n')); err != nil {
		return "", fmt.Errorf("ctl: %w", err)
	}
	line, err := c.r.ReadBytes('\n')
	if err != nil {
		return "", fmt.Errorf("ctl: reading the response: %w", err)
	}
	var resp response
	if err := json.Unmarshal(line, &resp); err != nil {
		return "", fmt.Errorf("ctl: bad response: %w", err)
	}
	if resp.Status != StatusOK {
		return resp.Output, &Error{Status: resp.Status, Message: resp.Error}
	}
	return resp.Output, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.nc.Close() }
