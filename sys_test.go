package broker_test

import (
	"regexp"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/brokertest"
)

// The $SYS tests run in synctest bubbles: the broker's tickers run on the
// bubble's clock, so a test waits seconds of fake time in no real time.

func TestSysBrokerInfo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := brokertest.New(t, broker.Options{SysInterval: time.Second, Node: "n1@10.0.0.1", Version: "9.9.9"})
		c := b.Dial(t, "sys")
		c.Subscribe(t, "$SYS/brokers/+/version", 0)
		c.Subscribe(t, "$SYS/brokers", 0)
		got := map[string]string{}
		for len(got) < 2 {
			m := c.ExpectPacket(t)
			got[m.Topic] = string(m.Payload)
		}
		want := map[string]string{"$SYS/brokers/n1@10.0.0.1/version": "9.9.9", "$SYS/brokers": "n1@10.0.0.1"}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s = %q, want %q (got %v)", k, got[k], v, got)
			}
		}
	})
}

func TestSysDefaults(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := brokertest.New(t, broker.Options{SysInterval: time.Second})
		c := b.Dial(t, "sys")
		c.Subscribe(t, "$SYS/brokers/emqd@127.0.0.1/version", 0)
		if m := c.Expect(t, "$SYS/brokers/emqd@127.0.0.1/version"); string(m.Payload) != broker.Version {
			t.Fatalf("version %q, want %q", m.Payload, broker.Version)
		}
	})
}

func TestSysClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// uptime and datetime go out every second, whatever SysInterval is.
		b := brokertest.New(t, broker.Options{SysInterval: time.Hour})
		c := b.Dial(t, "sys")
		c.Subscribe(t, "$SYS/brokers/+/uptime", 0)
		c.Subscribe(t, "$SYS/brokers/+/datetime", 0)
		uptimes := 0
		for uptimes < 3 {
			m := c.ExpectPacket(t)
			switch m.Topic {
			case "$SYS/brokers/emqd@127.0.0.1/uptime":
				uptimes++ // the broker started at the bubble's time zero
				if want := strconv.Itoa(uptimes) + " seconds"; string(m.Payload) != want {
					t.Errorf("uptime %q, want %q", m.Payload, want)
				}
			case "$SYS/brokers/emqd@127.0.0.1/datetime":
				if !regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$`).Match(m.Payload) {
					t.Errorf("datetime %q, want YYYY-MM-DD HH:MM:SS", m.Payload)
				}
			default:
				t.Fatalf("unexpected %s", m.Topic)
			}
		}
	})
}

func TestSysStatsAndMetrics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := brokertest.New(t, broker.Options{SysInterval: time.Second})
		c := b.Dial(t, "sys")
		// Let the round published when the broker started, from a snapshot
		// taken before the client connected, go out to nobody.
		synctest.Wait()
		c.Subscribe(t, "$SYS/brokers/+/stats/clients/count", 0)
		c.Subscribe(t, "$SYS/brokers/+/metrics/packets/connect", 0)
		got := map[string]string{}
		for len(got) < 2 {
			m := c.ExpectPacket(t)
			got[m.Topic] = string(m.Payload)
		}
		for k, want := range map[string]int{"stats/clients/count": 1, "metrics/packets/connect": 1} {
			v := got["$SYS/brokers/emqd@127.0.0.1/"+k]
			if n, err := strconv.Atoi(v); err != nil || n != want {
				t.Errorf("%s = %q, want %d", k, v, want)
			}
		}
	})
}

// TestSysNotMatchedByWildcards: a filter starting with a wildcard does not
// match topic names beginning with "$" [MQTT-4.7.2-1].
func TestSysNotMatchedByWildcards(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := brokertest.New(t, broker.Options{SysInterval: time.Second})
		all := b.Dial(t, "all")
		all.Subscribe(t, "#", 0)
		all.Subscribe(t, "+/brokers/#", 0)
		all.Subscribe(t, "+/brokers", 0)
		sys := b.Dial(t, "sys")
		sys.Subscribe(t, "$SYS/#", 0)
		sys.Expect(t, "$SYS/#")
		all.ExpectNone(t, 3*time.Second) // three more rounds of $SYS
		b.Dial(t, "pub").Publish(t, "normal", nil, 0, false)
		all.Expect(t, "normal")
	})
}

func TestSysDisabled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := brokertest.New(t, broker.Options{SysInterval: -1})
		c := b.Dial(t, "sys")
		c.Subscribe(t, "$SYS/#", 0)
		c.ExpectNone(t, time.Minute)
	})
}

func TestFormatUptime(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0 seconds"},
		{5 * time.Second, "5 seconds"},
		{5*time.Second + 999*time.Millisecond, "5 seconds"},
		{59 * time.Second, "59 seconds"},
		{time.Minute, "1 minutes, 0 seconds"},
		{3*time.Minute + 4*time.Second, "3 minutes, 4 seconds"},
		{time.Hour, "1 hours, 0 minutes, 0 seconds"},
		{2*time.Hour + 3*time.Minute + 4*time.Second, "2 hours, 3 minutes, 4 seconds"},
		// EMQ writes no space after "days,".
		{26*time.Hour + 3*time.Minute + 4*time.Second, "1 days,2 hours, 3 minutes, 4 seconds"},
		{24 * time.Hour, "1 days,0 hours, 0 minutes, 0 seconds"},
		{400*24*time.Hour + 5*time.Second, "400 days,0 hours, 0 minutes, 5 seconds"},
	}
	for _, tt := range tests {
		t.Run(tt.d.String(), func(t *testing.T) {
			if got := broker.FormatUptime(tt.d); got != tt.want {
				t.Errorf("FormatUptime(%v) = %q, want %q", tt.d, got, tt.want)
			}
		})
	}
}
