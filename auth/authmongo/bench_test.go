package authmongo_test

import (
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/brokertest"
	"github.com/emqgo/broker/packets"
)

// BenchmarkConnect measures MQTT connects per second authenticated
// through MongoDB (FerretDB; auth and superuser queries of EMQ's
// configuration, sha256), in process, with and without the result cache.
func BenchmarkConnect(b *testing.B) {
	addr, insert := seed(b)
	insert("mqtt_user", bson.D{{Key: "username", Value: "bench"}, {Key: "password", Value: hexSum(sha256.New, "pw")}, {Key: "is_superuser", Value: false}})
	for _, ttl := range []time.Duration{0, time.Minute} {
		name := "nocache"
		if ttl > 0 {
			name = "cache"
		}
		b.Run(name, func(b *testing.B) {
			cfg := config(addr)
			cfg.CacheTTL = ttl
			a := newAuth(b, cfg)
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
