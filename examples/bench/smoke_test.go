package main

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/emqgo/broker"
)

// TestMain checks that every run stops by itself: no goroutine of the tool
// (nor of the in-process broker, once shut down) outlives the tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// startBroker serves an in-process emqgo broker on a loopback port.
func startBroker(t *testing.T) string {
	t.Helper()
	b, err := broker.New(broker.Options{SysInterval: -1, Session: broker.SessionOptions{MaxInflight: 1000, MaxQueueLen: -1}})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.Serve(l)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		b.Shutdown(ctx)
		<-done
	})
	return l.Addr().String()
}

// TestSmoke runs every scenario briefly against an in-process broker,
// through the command line, and checks the JSON result.
func TestSmoke(t *testing.T) {
	addr := startBroker(t)
	pid := strconv.Itoa(os.Getpid()) // the broker runs in this process
	common := []string{"-addr", addr, "-pid", pid, "-json", "-duration", "700ms", "-warmup", "100ms", "-drain", "3s"}
	for _, c := range []struct {
		name string
		args []string
	}{
		{"fanin", []string{"-scenario", "fanin", "-clients", "3"}},
		{"fanout", []string{"-scenario", "fanout", "-clients", "5"}},
		{"fanout-stalled", []string{"-scenario", "fanout", "-clients", "3", "-stalled", "2"}},
		{"pairs-qos1-stalled", []string{"-scenario", "pairs", "-clients", "2", "-qos", "1", "-stalled", "3", "-stalled-fill", "1MiB", "-window", "100"}},
		{"pairs-qos1", []string{"-scenario", "pairs", "-clients", "3", "-qos", "1", "-size", "256"}},
		{"pairs-qos2", []string{"-scenario", "pairs", "-clients", "3", "-qos", "2", "-size", "256", "-window", "50"}},
		{"fanin-rate", []string{"-scenario", "fanin", "-clients", "2", "-rate", "1000"}},
		{"pairs-qos1-rate", []string{"-scenario", "pairs", "-clients", "2", "-qos", "1", "-rate", "500"}},
		{"fanout-count", []string{"-scenario", "fanout", "-clients", "2", "-count", "300", "-duration", "0", "-warmup", "0", "-qos", "2", "-window", "7"}},
		{"conn", []string{"-scenario", "conn", "-clients", "50", "-parallel", "10", "-hold", "10ms"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out, errb strings.Builder
			args := append(append([]string{"-name", c.name, "-broker", "emqgo"}, common...), c.args...)
			if code := runMain(args, &out, &errb); code != 0 {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			var r Result
			if err := json.Unmarshal([]byte(out.String()), &r); err != nil {
				t.Fatalf("%v: %q", err, out.String())
			}
			if r.Name != c.name || r.Broker != "emqgo" || r.ErrorCount != 0 {
				t.Fatalf("result %+v", r)
			}
			if r.BrokerRSSBeforeKB <= 0 {
				t.Errorf("broker RSS not read: %+v", r)
			}
			if r.Scenario == "conn" {
				if r.Connections != 50 || r.ConnectPerSec <= 0 {
					t.Fatalf("conn: %+v", r)
				}
				return
			}
			if r.Sent == 0 || r.Delivered != r.Expected || r.Lost != 0 || r.Dups != 0 || r.Unacked != 0 {
				t.Fatalf("sent %d delivered %d of %d, lost %d, dups %d, unacked %d", r.Sent, r.Delivered, r.Expected, r.Lost, r.Dups, r.Unacked)
			}
			if r.Samples == 0 || r.P50us <= 0 || r.P99us < r.P50us || r.MaxUs < r.P99us || r.DeliveredPerSec <= 0 {
				t.Fatalf("stats: %+v", r)
			}
			stalled, fill := 0, int64(0)
			if i := slices.Index(c.args, "-stalled"); i >= 0 {
				stalled, _ = strconv.Atoi(c.args[i+1])
				fill = 16 << 20 // the default
			}
			if i := slices.Index(c.args, "-stalled-fill"); i >= 0 {
				fill, _ = parseBytes(c.args[i+1])
			}
			// The stalled subscribers are left out of the counts checked
			// above: the healthy ones got everything all the same.
			if r.StalledSubscribers != stalled || r.StalledFillBytes != fill || (stalled > 0 && r.Subscribers != r.Clients) {
				t.Fatalf("-stalled %d: result has %d stalled (%d bytes first), %d subscribers", stalled, r.StalledSubscribers, r.StalledFillBytes, r.Subscribers)
			}
			if strings.Contains(c.name, "count") && r.Sent != 300 {
				t.Fatalf("-count 300: sent %d", r.Sent)
			}
			if r.Rate > 0 && (r.SentPerSec < r.Rate/2 || r.SentPerSec > r.Rate*1.5) {
				t.Errorf("offered %v msgs/s, sent %.0f/s", r.Rate, r.SentPerSec)
			}
		})
	}
}

// A broker that is not there is an error, not a hang.
func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	var out, errb strings.Builder
	if code := runMain([]string{"-addr", addr, "-duration", "100ms", "-timeout", "1s"}, &out, &errb); code != 1 {
		t.Fatalf("exit %d, want 1: %s", code, errb.String())
	}
}
