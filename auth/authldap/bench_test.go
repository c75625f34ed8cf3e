package authldap_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/brokertest"
	"github.com/emqgo/broker/packets"
)

// BenchmarkConnect measures MQTT connects per second authenticated
// through LDAP (slapd; search as the bind DN and compare, sha256), in
// process, with and without the result cache.
func BenchmarkConnect(b *testing.B) {
	for _, ttl := range []time.Duration{0, time.Minute} {
		name := "nocache"
		if ttl > 0 {
			name = "cache"
		}
		b.Run(name, func(b *testing.B) {
			cfg := config(b)
			cfg.CacheTTL = ttl
			a := newAuth(b, cfg)
			br := brokertest.New(b, broker.Options{DenyAnonymous: true}, func(br *broker.Broker) { br.RegisterAuth(a) })
			for i := 0; b.Loop(); i++ {
				if rc := connect(b, br, fmt.Sprint("b", i), "test", "public"); rc != packets.Success {
					b.Fatal(rc)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "connects/s")
		})
	}
}
