package acl_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/auth/acl"
)

// rules1000 is 1,000 rules none of which matches the benchmark's client,
// then {allow, all}: every check scans them all.
func rules1000(tb testing.TB) []acl.Rule {
	var b strings.Builder
	for i := range 1000 {
		switch i % 4 {
		case 0:
			fmt.Fprintf(&b, "{allow, {user, \"user%d\"}, publish, [\"devices/%d/#\"]}.\n", i, i)
		case 1:
			fmt.Fprintf(&b, "{deny, {client, \"client%d\"}, pubsub, [\"devices/+/%d\"]}.\n", i, i)
		case 2:
			fmt.Fprintf(&b, "{deny, all, publish, [\"sensors/%d/+/temp\", {eq, \"x/%d\"}]}.\n", i, i)
		case 3:
			fmt.Fprintf(&b, "{allow, {'and', [{ipaddr, \"10.%d.0.0/16\"}, {user, \"u%d\"}]}, publish, [\"%%u/%d/#\"]}.\n", i%256, i, i)
		}
	}
	b.WriteString("{allow, all}.\n")
	rules, err := acl.ParseString(b.String(), "bench.conf")
	if err != nil {
		tb.Fatal(err)
	}
	return rules
}

// BenchmarkPublishACL1000 measures a publish through a session (the path
// an MQTT PUBLISH takes, minus the wire) with the ACL above, with and
// without the per-connection cache.
func BenchmarkPublishACL1000(b *testing.B) {
	for _, cache := range []bool{true, false} {
		name := "cache"
		if !cache {
			name = "nocache"
		}
		b.Run(name, func(b *testing.B) {
			br, err := broker.New(broker.Options{DisableACLCache: !cache, SysInterval: -1})
			if err != nil {
				b.Fatal(err)
			}
			defer br.Close()
			br.RegisterACL(acl.New(rules1000(b)))
			s, err := br.Connect(context.Background(), &broker.ClientInfo{
				ClientID: "bench", Username: "bench", Peer: netip.MustParseAddrPort("192.0.2.1:5000"),
			}, nil)
			if err != nil {
				b.Fatal(err)
			}
			m := broker.Message{Topic: "devices/42/temp", Payload: []byte("21.5")}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Publish(ctx, m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCheck1000 measures the ACL module alone.
func BenchmarkCheck1000(b *testing.B) {
	a := acl.New(rules1000(b))
	c := &broker.ClientInfo{ClientID: "bench", Username: "bench", Peer: netip.MustParseAddrPort("192.0.2.1:5000")}
	b.ReportAllocs()
	for b.Loop() {
		if d, _ := a.Check(c, broker.AccessPublish, "devices/42/temp"); d != broker.Allow {
			b.Fatal(d)
		}
	}
}
