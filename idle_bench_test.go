package broker_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emqgo/broker"
	"github.com/emqgo/broker/packets"
)

// BenchmarkIdleConnections opens N real TCP connections to Serve, CONNECTs
// each (clean session, keep alive 60) and reports the heap in use plus the
// goroutine stacks that each idle connection adds (client side excluded as
// far as possible: the client ends hold no goroutines and are counted in
// the baseline allocation of their net.Conn, which is small).
func BenchmarkIdleConnections(b *testing.B) {
	const n = 2000
	if os.Getenv("IDLE_HEAPPROF") != "" {
		runtime.MemProfileRate = 1 // every allocation, for an exact profile
	}
	for range b.N {
		br, err := broker.New(broker.Options{SysInterval: -1})
		if err != nil {
			b.Fatal(err)
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		go br.Serve(l)
		conns := make([]net.Conn, 0, n)
		hellos := make([][]byte, n)
		for i := range n {
			hellos[i], _ = (&packets.Connect{ProtocolVersion: packets.Version311, CleanStart: true,
				KeepAlive: 60, ClientID: fmt.Sprintf("idle-%d", i)}).Append(nil, packets.Version311)
		}
		// Warm up: the runtime sizes new goroutines' stacks from their use.
		connectN(b, l.Addr().String(), hellos[:200], &conns)
		for _, c := range conns {
			c.Close()
		}
		conns = conns[:0]
		time.Sleep(200 * time.Millisecond)
		before := memNow()
		connectN(b, l.Addr().String(), hellos, &conns)
		time.Sleep(1500 * time.Millisecond) // idle connections release their read buffers
		after := memNow()
		if f := os.Getenv("IDLE_HEAPPROF"); f != "" {
			w, _ := os.Create(f)
			pprof.Lookup("heap").WriteTo(w, 0)
			w.Close()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			b.Logf("heapinuse %d stackinuse %d goroutines %d", ms.HeapInuse, ms.StackInuse, runtime.NumGoroutine())
		}
		perConn := float64(after-before) / n
		b.ReportMetric(perConn, "B/conn")
		for _, c := range conns {
			c.Close()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		br.Shutdown(ctx)
		cancel()
	}
}

func memNow() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse + ms.StackInuse
}

func connectN(b *testing.B, addr string, hellos [][]byte, conns *[]net.Conn) {
	var mu sync.Mutex
	sem := make(chan struct{}, 50)
	var wg sync.WaitGroup
	for _, h := range hellos {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				b.Error(err)
				return
			}
			if _, err := nc.Write(h); err != nil {
				b.Error(err)
				return
			}
			var ack [4]byte
			if _, err := bufio.NewReader(nc).Read(ack[:]); err != nil || ack[0] != 0x20 {
				b.Errorf("connack: %v %x", err, ack)
				return
			}
			mu.Lock()
			*conns = append(*conns, nc)
			mu.Unlock()
		}()
	}
	wg.Wait()
}

// BenchmarkConnect opens, CONNECTs and DISCONNECTs TCP connections, about
// 100 at a time. allocs/op includes the client's side.
func BenchmarkConnect(b *testing.B) {
	br, err := broker.New(broker.Options{SysInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go br.Serve(l)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		br.Shutdown(ctx)
		cancel()
	}()
	addr := l.Addr().String()
	disc, _ := (&packets.Disconnect{}).Append(nil, packets.Version311)
	var seq atomic.Int64
	b.SetParallelism(50) // GOMAXPROCS 2 -> 100 goroutines
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		hello, _ := (&packets.Connect{ProtocolVersion: packets.Version311, CleanStart: true,
			KeepAlive: 60, ClientID: fmt.Sprintf("c-%d", seq.Add(1))}).Append(nil, packets.Version311)
		var ack [4]byte
		for pb.Next() {
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				b.Error(err)
				return
			}
			nc.Write(hello)
			if _, err := io.ReadFull(nc, ack[:]); err != nil || ack[0] != 0x20 {
				b.Errorf("connack: %v %x", err, ack)
				nc.Close()
				return
			}
			nc.Write(disc)
			nc.Close()
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "connects/s")
}
