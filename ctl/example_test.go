package ctl_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/ctl"
)

func Example() {
	dir, _ := os.MkdirTemp("", "ctl")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "emqd.sock")

	// The broker's side.
	b, _ := broker.New(broker.Options{})
	b.RegisterCommand(broker.Command{Name: "hello", Run: func(ctx context.Context, w io.Writer, args []string) error {
		fmt.Fprintln(w, "Hello from the broker")
		return nil
	}})
	l, err := ctl.Listen(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	done := make(chan struct{})
	go func() { ctl.Serve(l, b); close(done) }()
	defer func() { b.Close(); <-done }()

	// emqctl's side.
	c, err := ctl.Dial(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	out, err := c.Exec("hello")
	fmt.Print(out, err, "\n")
	out, err = c.Exec("clients", "show", "nosuch")
	fmt.Printf("%q %v\n", out, err)
	// Output:
	// Hello from the broker
	// <nil>
	// "" Not Found.
}
