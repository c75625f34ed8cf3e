package rewrite_test

import (
	"context"
	"fmt"
	"log"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/mods/rewrite"
)

// Rewrite x/y/... to z/y/... for publishers and subscribers.
func Example() {
	b, err := broker.New(broker.Options{SysInterval: -1})
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()
	r, err := rewrite.New(rewrite.Config{Rules: []rewrite.Rule{
		{Filter: "x/#", Regex: `^x/y/(.+)$`, Dest: "z/y/$1"},
	}})
	if err != nil {
		log.Fatal(err)
	}
	detach := r.Attach(b)
	defer detach()

	ctx := context.Background()
	got := make(chan broker.Message, 1)
	unsub, _ := b.Subscribe(ctx, "z/#", 0, func(_ context.Context, m broker.Message) { got <- m })
	defer unsub()
	b.Publish(ctx, broker.Message{Topic: "x/y/temp", Payload: []byte("21")})
	m := <-got
	fmt.Println(m.Topic, string(m.Payload))
	// Output:
	// z/y/temp 21
}

func ExampleRewriter_Rewrite() {
	r, _ := rewrite.New(rewrite.Config{Rules: []rewrite.Rule{
		{Filter: "x/#", Regex: `^x/y/(.+)$`, Dest: "z/y/$1"},
		{Filter: "y/+/z/#", Regex: `^y/(.+)/z/(.+)$`, Dest: "y/z/$2"},
	}})
	fmt.Println(r.Rewrite("x/y/1"))
	fmt.Println(r.Rewrite("y/a/z/b"))
	fmt.Println(r.Rewrite("x/a")) // x/# matches, the regex does not: unchanged
	// Output:
	// z/y/1
	// y/z/b
	// x/a
}

func ExampleParseRule() {
	for _, s := range []string{
		`x/# ^x/y/(.+)$ z/y/$1`,
		`{rewrite, "x/#", "^x/y/(.+)$", "z/y/$1"}`,
	} {
		r, err := rewrite.ParseRule(s)
		fmt.Printf("filter=%s regex=%s dest=%s err=%v\n", r.Filter, r.Regex, r.Dest, err)
	}
	// Output:
	// filter=x/# regex=^x/y/(.+)$ dest=z/y/$1 err=<nil>
	// filter=x/# regex=^x/y/(.+)$ dest=z/y/$1 err=<nil>
}
