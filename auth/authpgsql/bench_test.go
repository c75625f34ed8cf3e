package authpgsql_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/brokertest"
	"github.com/emqgo/broker/packets"
)

// BenchmarkConnect measures MQTT connects per second through the module
// (the auth query and the super query, sha256), from parallel clients,
// with and without the result cache.
func BenchmarkConnect(b *testing.B) {
	f := setup(b)
	for _, ttl := range []time.Duration{0, time.Minute} {
		b.Run(fmt.Sprintf("cache=%v", ttl), func(b *testing.B) {
			cfg := f.config()
			cfg.CacheTTL = ttl
			br := start(b, newAuth(b, cfg), broker.Options{})
			var n atomic.Int64
			b.SetParallelism(4) // 4 clients per CPU, as many as the pool's 8 connections on 2 CPUs
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					id := fmt.Sprint("bench-", n.Add(1))
					c, rc := br.Connect(b, id, brokertest.WithCredentials("alice", "public"))
					if rc != packets.Success {
						b.Errorf("connect: %v", rc)
						return
					}
					c.Disconnect(b)
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "connects/s")
		})
	}
}

// BenchmarkAuthenticate measures the module alone: one Authenticate and
// one IsSuperuser per operation, from parallel callers.
func BenchmarkAuthenticate(b *testing.B) {
	f := setup(b)
	for _, ttl := range []time.Duration{0, time.Minute} {
		b.Run(fmt.Sprintf("cache=%v", ttl), func(b *testing.B) {
			cfg := f.config()
			cfg.CacheTTL = ttl
			a := newAuth(b, cfg)
			ctx := context.Background()
			b.SetParallelism(4) // 4 clients per CPU, as many as the pool's 8 connections on 2 CPUs
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				c := &broker.ClientInfo{ClientID: "c1", Username: "alice"}
				for pb.Next() {
					d, err := a.Authenticate(ctx, c, []byte("public"))
					if err != nil || d != broker.Allow {
						b.Errorf("Authenticate: %v, %v", d, err)
						return
					}
					if _, err := a.IsSuperuser(ctx, c); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "auths/s")
		})
	}
}
