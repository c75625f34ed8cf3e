package authredis_test

import (
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/auth/authredis"
	"github.com/emqgo/broker/brokertest"
	"github.com/emqgo/broker/packets"
)

// BenchmarkConnect measures MQTT connects per second authenticated
// through Redis (auth, superuser and ACL commands of EMQ's configuration,
// sha256), in process, with and without the result cache.
func BenchmarkConnect(b *testing.B) {
	addr, hset := seed(b)
	hset("mqtt_user:bench", "password", hexSum(sha256.New, "pw"), "is_superuser", "0")
	for _, ttl := range []time.Duration{0, time.Minute} {
		name := "nocache"
		if ttl > 0 {
			name = "cache"
		}
		b.Run(name, func(b *testing.B) {
			a := newAuth(b, authredis.Config{Addr: addr, Database: testDB, AuthCmd: authredis.DefaultAuthCmd, PasswordHash: "sha256",
				SuperCmd: authredis.DefaultSuperCmd, ACLCmd: authredis.DefaultACLCmd, CacheTTL: ttl})
			br := brokertest.New(b, broker.Options{DenyAnonymous: true}, func(br *broker.Broker) {
				br.RegisterAuth(a)
				br.RegisterACL(a)
			})
			for i := 0; b.Loop(); i++ {
				if rc := connect(b, br, fmt.Sprint("b", i), "bench", "pw"); rc != packets.Success {
					b.Fatal(rc)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "connects/s")
		})
	}
}
