package retainer_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/mods/retainer"
)

// BenchmarkMatch measures the retained-message lookup a subscription does,
// over 100k retained messages named sensor/<0-99>/<0-999>/temp.
func BenchmarkMatch(b *testing.B) {
	r, err := retainer.New(retainer.Config{})
	if err != nil {
		b.Fatal(err)
	}
	br, err := broker.New(broker.Options{SysInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer br.Close()
	detach, err := r.Attach(br)
	if err != nil {
		b.Fatal(err)
	}
	defer detach()
	ctx := context.Background()
	payload := []byte("21.5")
	for i := range 100 {
		for j := range 1000 {
			br.Publish(ctx, broker.Message{Topic: fmt.Sprintf("sensor/%d/%d/temp", i, j), Payload: payload, QoS: 1, Retain: true})
		}
	}
	if r.Len() != 100000 {
		b.Fatalf("Len = %d", r.Len())
	}
	for _, bc := range []struct {
		filter string
		want   int
	}{
		{"sensor/42/7/temp", 1},
		{"sensor/+/7/temp", 100},
		{"sensor/42/+/temp", 1000},
		{"sensor/42/#", 1000},
		{"other/#", 0},
		{"#", 100000},
	} {
		b.Run(bc.filter, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if n := len(r.Match(bc.filter)); n != bc.want {
					b.Fatalf("Match(%q) = %d, want %d", bc.filter, n, bc.want)
				}
			}
		})
	}
}
