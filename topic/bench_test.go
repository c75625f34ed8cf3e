package topic

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strconv"
	"testing"
)

// Benchmark subscription sets. "literal" holds n filters
// "devices/<i>/temp". "wildcard" holds n filters over n/3 devices:
// "devices/<i>/temp", "devices/<i>/+/state" and "devices/<i>/#", so a name
// matches two filters. Values are ints (client numbers).

var benchSizes = []int{10_000, 100_000, 1_000_000}

// benchTrees memoizes the most recently built subscription set: building
// 1M filters takes about a second, and keeping only one set alive at a time
// bounds the benchmark's memory.
var benchTrees struct {
	n    int
	wild bool
	tr   *Tree[int]
}

func benchTree(b *testing.B, n int, wild bool) *Tree[int] {
	if benchTrees.tr != nil && benchTrees.n == n && benchTrees.wild == wild {
		return benchTrees.tr
	}
	benchTrees.tr = nil
	runtime.GC()
	tr := NewTreeCacheSize[int](0) // no cache: no patching cost during the build
	if wild {
		for i := range n / 3 {
			d := "devices/" + strconv.Itoa(i)
			tr.Insert(d+"/temp", i)
			tr.Insert(d+"/+/state", i)
			tr.Insert(d+"/#", i)
		}
	} else {
		for i := range n {
			tr.Insert("devices/"+strconv.Itoa(i)+"/temp", i)
		}
	}
	benchTrees.n, benchTrees.wild, benchTrees.tr = n, wild, tr
	return tr
}

// withCache returns a tree sharing tr's trie with a cache of size entries.
// The trie is only read by the benchmarks, so sharing is safe; it saves
// building each 1M set twice. It behaves as NewTreeCacheSize(size) would.
func withCache(tr *Tree[int], size int) *Tree[int] {
	c := NewTreeCacheSize[int](size)
	c.root = tr.root
	c.pairs.Store(tr.pairs.Load())
	c.filters.Store(tr.filters.Load())
	return c
}

// benchNames returns count names of devices below devices, matching the
// benchmark filters.
func benchNames(count, devices int, wild bool) []string {
	r := rand.New(rand.NewPCG(1, 1))
	names := make([]string, count)
	for i := range names {
		d := "devices/" + strconv.Itoa(r.IntN(devices))
		if wild && i%2 == 1 {
			names[i] = d + "/x/state"
		} else {
			names[i] = d + "/temp"
		}
	}
	return names
}

func BenchmarkTreeMatch(b *testing.B) {
	for _, n := range benchSizes {
		for _, wild := range []bool{false, true} {
			kind, devices := "literal", n
			if wild {
				kind, devices = "wildcard", n/3
			}
			// hit: 1024 hot names, all cached (default cache size 4096).
			b.Run(fmt.Sprintf("subs=%d/%s/hit", n, kind), func(b *testing.B) {
				tr := withCache(benchTree(b, n, wild), DefaultCacheSize)
				names := benchNames(1024, devices, wild)
				for _, name := range names {
					tr.Match(name)
				}
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if len(tr.Match(names[i&1023])) == 0 {
						b.Fatal("no match")
					}
					i++
				}
			})
			// miss: no cache at all (NewTreeCacheSize(0)): a trie walk and
			// a fresh result slice every time.
			b.Run(fmt.Sprintf("subs=%d/%s/miss", n, kind), func(b *testing.B) {
				tr := benchTree(b, n, wild)
				names := benchNames(1<<16, devices, wild)
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if len(tr.Match(names[i&(1<<16-1)])) == 0 {
						b.Fatal("no match")
					}
					i++
				}
			})
		}
	}
}

// BenchmarkTreeMatchChurn matches 64k distinct names in turn against the
// default cache: misses, which the admission filter mostly keeps from
// storing and evicting cache entries (1.7 µs and 7 allocations a match
// without it).
func BenchmarkTreeMatchChurn(b *testing.B) {
	tr := withCache(benchTree(b, 100_000, true), DefaultCacheSize)
	names := benchNames(1<<16, 100_000/3, true)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		tr.Match(names[i&(1<<16-1)])
		i++
	}
}

// BenchmarkTreeMatchParallel measures cache hits from every core: hits take
// no lock, so they should scale.
func BenchmarkTreeMatchParallel(b *testing.B) {
	tr := withCache(benchTree(b, 100_000, true), DefaultCacheSize)
	names := benchNames(1024, 100_000/3, true)
	for _, name := range names {
		tr.Match(name)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := rand.IntN(1024)
		for pb.Next() {
			tr.Match(names[i&1023])
			i++
		}
	})
}

// BenchmarkTreeInsert inserts new filters into a tree of 100k and removes
// them again, with a full cache (4096 names) that each change patches.
func BenchmarkTreeInsert(b *testing.B) {
	for _, wild := range []bool{false, true} {
		kind := "literal"
		if wild {
			kind = "wildcard"
		}
		b.Run(kind, func(b *testing.B) {
			tr := NewTree[int]()
			for i := range 100_000 {
				tr.Insert("devices/"+strconv.Itoa(i)+"/temp", i)
			}
			for _, name := range benchNames(DefaultCacheSize, 100_000, false) {
				tr.Match(name)
			}
			filters := make([]string, 1<<16)
			for i := range filters {
				if wild {
					filters[i] = "devices/" + strconv.Itoa(i) + "/+/state"
				} else {
					filters[i] = "devices/" + strconv.Itoa(i) + "/humidity"
				}
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				f := filters[i&(1<<16-1)]
				if !tr.Insert(f, i) || !tr.Remove(f, i) {
					b.Fatal("insert/remove failed")
				}
				i++
			}
		})
	}
	// Building: Insert into a growing tree with no cache.
	b.Run("grow", func(b *testing.B) {
		tr := NewTreeCacheSize[int](0)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			tr.Insert("devices/"+strconv.Itoa(i)+"/temp", i)
			i++
		}
	})
}

// BenchmarkTreeMemory reports the heap bytes per subscription of the 1M
// benchmark sets.
func BenchmarkTreeMemory(b *testing.B) {
	for _, wild := range []bool{false, true} {
		b.Run(fmt.Sprintf("wild=%v", wild), func(b *testing.B) {
			benchTrees.tr = nil
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			tr := benchTree(b, 1_000_000, wild)
			runtime.GC()
			runtime.ReadMemStats(&after)
			for b.Loop() {
			}
			b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(tr.Len()), "B/sub")
			runtime.KeepAlive(tr)
		})
	}
}

// Retained: 100k topics over 25k devices, 4 metrics each.
func benchRetained() *Retained[int] {
	r := NewRetained[int]()
	for i := range 25_000 {
		d := "devices/" + strconv.Itoa(i) + "/"
		for j, m := range []string{"temp", "humidity", "state", "battery"} {
			r.Set(d+m, 4*i+j)
		}
	}
	return r
}

func BenchmarkRetainedMatch(b *testing.B) {
	r := benchRetained()
	for _, tt := range []struct {
		filter string
		want   int
	}{
		{"devices/+/temp", 25_000},
		{"devices/12345/temp", 1},
		{"devices/12345/#", 4},
	} {
		b.Run(tt.filter, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				n := 0
				r.Match(tt.filter, func(string, int) bool { n++; return true })
				if n != tt.want {
					b.Fatalf("%d matches, want %d", n, tt.want)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(tt.want), "ns/result")
		})
	}
}

func BenchmarkRetainedSetGet(b *testing.B) {
	r := benchRetained()
	names := benchNames(1<<16, 25_000, false)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		name := names[i&(1<<16-1)]
		r.Set(name, i)
		r.Get(name)
		i++
	}
}
