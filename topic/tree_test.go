package topic

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

// sorted returns a sorted copy, so Tree.Match results (unordered, and not to
// be modified) can be compared.
func sorted[V interface{ ~int | ~string }](vs []V) []V {
	out := slices.Clone(vs)
	slices.Sort(out)
	return out
}

func checkMatch(t *testing.T, tr *Tree[string], name string, want ...string) {
	t.Helper()
	got := sorted(tr.Match(name))
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("Match(%q) = %q, want %q", name, got, want)
	}
}

// cacheSizes runs f against a tree with the default cache, a tiny cache that
// is always evicting, and no cache.
func cacheSizes(t *testing.T, f func(t *testing.T, tr *Tree[string])) {
	for _, n := range []int{DefaultCacheSize, 2, 0} {
		t.Run(fmt.Sprintf("cache=%d", n), func(t *testing.T) { f(t, NewTreeCacheSize[string](n)) })
	}
}

func TestTreeMatchTable(t *testing.T) {
	cacheSizes(t, func(t *testing.T, tr *Tree[string]) {
		for i, tt := range matchTests {
			tr.Insert(tt.filter, fmt.Sprint(i))
		}
		for _, tt := range matchTests {
			var want []string
			for i, u := range matchTests {
				if Match(u.filter, tt.name) {
					want = append(want, fmt.Sprint(i))
				}
			}
			checkMatch(t, tr, tt.name, want...)
			checkMatch(t, tr, tt.name, want...) // cached
		}
	})
}

func TestTreeBasics(t *testing.T) {
	cacheSizes(t, func(t *testing.T, tr *Tree[string]) {
		checkMatch(t, tr, "a/b")
		subs := []struct{ filter, v string }{
			{"a/b", "exact"},
			{"a/+", "plus"},
			{"a/#", "hash"},
			{"#", "all"},
			{"+/b", "plusb"},
			{"$SYS/#", "sys"},
			{"$SYS/+/clients", "sysclients"},
			{"a/b", "exact2"},
		}
		for _, s := range subs {
			if !tr.Insert(s.filter, s.v) {
				t.Fatalf("Insert(%q, %q) = false", s.filter, s.v)
			}
		}
		if tr.Insert("a/b", "exact") {
			t.Fatal("duplicate Insert reported true")
		}
		if tr.Len() != 8 || tr.Filters() != 7 {
			t.Fatalf("Len, Filters = %d, %d, want 8, 7", tr.Len(), tr.Filters())
		}
		checkMatch(t, tr, "a/b", "exact", "exact2", "plus", "hash", "all", "plusb")
		checkMatch(t, tr, "a", "hash", "all") // "a/#" matches "a"
		checkMatch(t, tr, "a/c", "plus", "hash", "all")
		checkMatch(t, tr, "a/b/c", "hash", "all")
		checkMatch(t, tr, "x/b", "all", "plusb")
		checkMatch(t, tr, "/b", "all", "plusb")
		// [MQTT-4.7.2-1]: "#" and "+/b" do not see '$' names.
		checkMatch(t, tr, "$SYS/b", "sys")
		checkMatch(t, tr, "$SYS/broker/clients", "sys", "sysclients")
		checkMatch(t, tr, "$SYS", "sys")
		checkMatch(t, tr, "$other/b")

		if tr.Remove("a/b", "nope") || tr.Remove("a/b/c", "exact") || tr.Remove("z", "exact") {
			t.Fatal("Remove of an absent pair reported true")
		}
		if !tr.Remove("a/b", "exact") {
			t.Fatal("Remove reported false")
		}
		if tr.Remove("a/b", "exact") {
			t.Fatal("second Remove reported true")
		}
		checkMatch(t, tr, "a/b", "exact2", "plus", "hash", "all", "plusb")
		if tr.Len() != 7 || tr.Filters() != 7 {
			t.Fatalf("Len, Filters = %d, %d, want 7, 7", tr.Len(), tr.Filters())
		}
		for _, s := range subs[1:] {
			if !tr.Remove(s.filter, s.v) {
				t.Fatalf("Remove(%q, %q) = false", s.filter, s.v)
			}
		}
		if tr.Len() != 0 || tr.Filters() != 0 {
			t.Fatalf("Len, Filters = %d, %d, want 0, 0", tr.Len(), tr.Filters())
		}
		if !tr.root.empty() {
			t.Fatalf("root not pruned: %+v", tr.root)
		}
		checkMatch(t, tr, "a/b")
	})
}

func TestTreeOverlapping(t *testing.T) {
	// One subscriber under several matching filters is returned once per
	// filter; the broker resolves overlapping subscriptions.
	tr := NewTree[string]()
	for _, f := range []string{"a/b", "a/+", "a/#", "#"} {
		tr.Insert(f, "c1")
	}
	checkMatch(t, tr, "a/b", "c1", "c1", "c1", "c1")
	tr.Remove("a/+", "c1")
	checkMatch(t, tr, "a/b", "c1", "c1", "c1")
}

func TestTreePrune(t *testing.T) {
	tr := NewTree[int]()
	tr.Insert("a/b/c/d", 1)
	tr.Insert("a/b/+/#", 2)
	tr.Insert("a/x", 3)
	tr.Remove("a/b/c/d", 1)
	a := tr.root.kids.get("a")
	b := a.kids.get("b")
	if b.kids.get("c") != nil {
		t.Fatal("a/b/c not pruned")
	}
	tr.Remove("a/b/+/#", 2)
	if a.kids.get("b") != nil {
		t.Fatal("a/b not pruned")
	}
	if a.kids.get("x") == nil {
		t.Fatal("a/x pruned")
	}
	tr.Remove("a/x", 3)
	if !tr.root.empty() {
		t.Fatal("root not empty")
	}
	// A node with children but no values stays.
	tr.Insert("a", 1)
	tr.Insert("a/b", 2)
	tr.Remove("a", 1)
	if tr.root.kids.get("a") == nil {
		t.Fatal("interior node pruned")
	}
	if got := tr.Match("a/b"); !slices.Equal(got, []int{2}) {
		t.Fatalf("Match = %v", got)
	}
}

func TestTreeManyValues(t *testing.T) {
	// Crosses indexMin both ways and the small/big literal-children switch.
	tr := NewTree[int]()
	const n = 200
	for i := range n {
		if !tr.Insert("x/y", i) {
			t.Fatal(i)
		}
		tr.Insert(fmt.Sprintf("x/%d", i), i)
	}
	for i := range n {
		if tr.Insert("x/y", i) {
			t.Fatalf("duplicate %d accepted", i)
		}
	}
	if got := tr.Match("x/y"); len(got) != n {
		t.Fatalf("len(Match) = %d", len(got))
	}
	for i := 0; i < n; i += 2 {
		if !tr.Remove("x/y", i) {
			t.Fatal(i)
		}
	}
	got := sorted(tr.Match("x/y"))
	for j, v := range got {
		if v != 2*j+1 {
			t.Fatalf("after removals Match = %v", got)
		}
	}
	for i := 1; i < n; i += 2 {
		if !tr.Remove("x/y", i) {
			t.Fatal(i)
		}
	}
	if got := tr.Match("x/y"); len(got) != 0 {
		t.Fatalf("Match = %v", got)
	}
	if got := tr.Match("x/17"); !slices.Equal(got, []int{17}) {
		t.Fatalf("Match(x/17) = %v", got)
	}
	for i := range n {
		tr.Remove(fmt.Sprintf("x/%d", i), i)
	}
	if !tr.root.empty() || tr.Len() != 0 {
		t.Fatal("not empty")
	}
}

func TestTreeCachePatch(t *testing.T) {
	tr := NewTree[string]()
	tr.Insert("a/b", "1")
	for range 2 { // the second miss caches
		checkMatch(t, tr, "a/b", "1")
		checkMatch(t, tr, "a/c")
		checkMatch(t, tr, "$SYS/x")
	}
	if n := len(tr.ckeys); n != 3 {
		t.Fatalf("cache holds %d entries, want 3", n)
	}
	held := tr.Match("a/b") // a caller still holding a result

	// Inserts after a cached match show in the next Match, without
	// flushing the cache.
	tr.Insert("a/b", "2") // literal: patches the one entry
	checkMatch(t, tr, "a/b", "1", "2")
	tr.Insert("a/+", "3") // wildcard: patches every matching entry
	checkMatch(t, tr, "a/b", "1", "2", "3")
	checkMatch(t, tr, "a/c", "3")
	tr.Insert("#", "4") // does not match '$' names
	checkMatch(t, tr, "a/c", "3", "4")
	checkMatch(t, tr, "$SYS/x")
	tr.Insert("$SYS/#", "5")
	checkMatch(t, tr, "$SYS/x", "5")
	if n := len(tr.ckeys); n != 3 {
		t.Fatalf("cache holds %d entries, want 3 (patched, not flushed)", n)
	}
	if !slices.Equal(held, []string{"1"}) {
		t.Fatalf("a result returned earlier changed: %q", held)
	}

	// Removes too.
	tr.Remove("a/b", "1")
	checkMatch(t, tr, "a/b", "2", "3", "4")
	tr.Remove("a/+", "3")
	checkMatch(t, tr, "a/b", "2", "4")
	checkMatch(t, tr, "a/c", "4")
	tr.Remove("#", "4")
	checkMatch(t, tr, "a/b", "2")
	checkMatch(t, tr, "a/c")
	tr.Remove("$SYS/#", "5")
	checkMatch(t, tr, "$SYS/x")
	if n := len(tr.ckeys); n != 3 {
		t.Fatalf("cache holds %d entries, want 3", n)
	}
	// Duplicate inserts and absent removes leave the cache alone.
	tr.Insert("a/b", "2")
	tr.Remove("a/+", "zzz")
	checkMatch(t, tr, "a/b", "2")
}

// TestTreeCacheAdmission checks that a name enters the cache on its
// second miss, so that names matched once (per-client topics) neither take
// an entry nor evict a busy name.
func TestTreeCacheAdmission(t *testing.T) {
	const size = 8
	tr := NewTreeCacheSize[int](size)
	tr.Insert("#", 1)
	tr.Match("busy")
	if len(tr.ckeys) != 0 {
		t.Fatal("a name was cached on its first miss")
	}
	tr.Match("busy")
	if len(tr.ckeys) != 1 {
		t.Fatal("a name was not cached on its second miss")
	}
	for i := range 100 * size {
		tr.Match(fmt.Sprintf("once/%d", i))
	}
	if len(tr.ckeys) != 1 || tr.ckeys[0] != "busy" {
		t.Fatalf("names matched once were cached: %q", tr.ckeys)
	}
	checkCacheIndex(t, tr)
}

func TestTreeCacheBound(t *testing.T) {
	const size = 64
	tr := NewTreeCacheSize[int](size)
	tr.Insert("#", 1)
	for i := range 10 * size {
		name := fmt.Sprintf("t/%d", i)
		for range 2 { // the second miss caches
			if got := tr.Match(name); !slices.Equal(got, []int{1}) {
				t.Fatalf("Match(%q) = %v", name, got)
			}
		}
		if n := len(tr.ckeys); n > size {
			t.Fatalf("cache holds %d > %d entries", n, size)
		}
	}
	checkCacheIndex(t, tr)
	none := NewTreeCacheSize[int](0)
	none.Insert("a", 1)
	none.Match("a")
	if len(none.ckeys) != 0 {
		t.Fatal("disabled cache stored an entry")
	}
}

func TestTreeCacheValueBound(t *testing.T) {
	const size = 4 // a budget of 4*64 = 256 values
	tr := NewTreeCacheSize[int](size)
	for v := range 100 {
		tr.Insert("#", v)
	}
	for i := range 40 {
		if got := tr.Match(fmt.Sprint(i / 2)); len(got) != 100 { // the second miss caches
			t.Fatalf("len(Match) = %d", len(got))
		}
		if tr.cvals > size*cacheValsPerEntry {
			t.Fatalf("cache holds %d values", tr.cvals)
		}
	}
	if len(tr.ckeys) != 2 {
		t.Fatalf("%d names cached, want 2", len(tr.ckeys))
	}
	checkCacheIndex(t, tr)
	// Patching can push the cache over its budget too.
	for v := 100; v < 200; v++ {
		tr.Insert("#", v)
	}
	if tr.cvals > size*cacheValsPerEntry || len(tr.ckeys) != 1 {
		t.Fatalf("after growth: %d values in %d names", tr.cvals, len(tr.ckeys))
	}
	checkCacheIndex(t, tr)
	for v := range 200 {
		tr.Insert("#", 1000+v)
	}
	if len(tr.ckeys) != 0 || tr.cvals != 0 {
		t.Fatalf("a result over the whole budget stayed cached: %d values in %d names", tr.cvals, len(tr.ckeys))
	}
	if got := tr.Match("x"); len(got) != 400 {
		t.Fatalf("len(Match) = %d", len(got))
	}
	checkCacheIndex(t, tr)
}

// checkCacheIndex checks that the cache map, the cached-name trie and the
// eviction list agree.
func checkCacheIndex[V comparable](t *testing.T, tr *Tree[V]) {
	t.Helper()
	inMap := map[string]bool{}
	vals := 0
	tr.cache.Range(func(k, e any) bool {
		inMap[k.(string)] = true
		vals += len(e.(*cacheEntry[V]).vals)
		return true
	})
	if vals != tr.cvals {
		t.Fatalf("cache holds %d values, counter says %d", vals, tr.cvals)
	}
	inTrie := map[string]bool{}
	tr.cnames.walk(func(name string, _ struct{}) bool { inTrie[name] = true; return true })
	inKeys := map[string]bool{}
	for _, k := range tr.ckeys {
		inKeys[k] = true
	}
	if len(inKeys) != len(tr.ckeys) || fmt.Sprint(inMap) != fmt.Sprint(inTrie) || fmt.Sprint(inMap) != fmt.Sprint(inKeys) {
		t.Fatalf("cache index out of step: map %d, trie %d, keys %d/%d", len(inMap), len(inTrie), len(inKeys), len(tr.ckeys))
	}
}

func TestTreeWalk(t *testing.T) {
	tr := NewTree[int]()
	want := map[string][]int{
		"a/b": {1, 2}, "a/+": {3}, "a/#": {4}, "#": {5}, "+": {6}, "": {7}, "a//b": {8}, "$SYS/#": {9},
	}
	for f, vs := range want {
		for _, v := range vs {
			tr.Insert(f, v)
		}
	}
	got := map[string][]int{}
	tr.Walk(func(f string, v int) bool {
		got[f] = append(got[f], v)
		return true
	})
	for f := range got {
		slices.Sort(got[f])
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Walk = %v, want %v", got, want)
	}
	n := 0
	tr.Walk(func(string, int) bool { n++; return n < 3 })
	if n != 3 {
		t.Fatalf("Walk did not stop: %d calls", n)
	}
}

// TestTreeRandom checks the tree, with and without a cache, against a brute
// force model (Match over every (filter, value) pair) through random inserts,
// removes and matches, so that cache patching is exercised as well.
func TestTreeRandom(t *testing.T) {
	for _, size := range []int{DefaultCacheSize, 8, 0} {
		t.Run(fmt.Sprintf("cache=%d", size), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(size), 7))
			tr := NewTreeCacheSize[int](size)
			type pair struct {
				f string
				v int
			}
			model := map[pair]bool{}
			var names []string
			for range 200 {
				names = append(names, randLevels(r, false))
			}
			for op := range 30000 {
				switch x := r.IntN(10); {
				case x < 4:
					p := pair{randLevels(r, true), r.IntN(5)}
					if got := tr.Insert(p.f, p.v); got != !model[p] {
						t.Fatalf("op %d: Insert(%q, %d) = %v, model has %v", op, p.f, p.v, got, model[p])
					}
					model[p] = true
				case x < 7:
					p := pair{randLevels(r, true), r.IntN(5)}
					if got := tr.Remove(p.f, p.v); got != model[p] {
						t.Fatalf("op %d: Remove(%q, %d) = %v, model has %v", op, p.f, p.v, got, model[p])
					}
					delete(model, p)
				default:
					name := names[r.IntN(len(names))]
					var want []int
					for p := range model {
						if refMatch(p.f, name) {
							want = append(want, p.v)
						}
					}
					slices.Sort(want)
					if got := sorted(tr.Match(name)); !slices.Equal(got, want) {
						t.Fatalf("op %d: Match(%q) = %v, want %v", op, name, got, want)
					}
				}
			}
			checkCacheIndex(t, tr)
			filters := map[string]bool{}
			for p := range model {
				filters[p.f] = true
			}
			if tr.Len() != len(model) || tr.Filters() != len(filters) {
				t.Fatalf("Len, Filters = %d, %d, want %d, %d", tr.Len(), tr.Filters(), len(model), len(filters))
			}
			for p := range model {
				tr.Remove(p.f, p.v)
			}
			if !tr.root.empty() {
				t.Fatal("tree not pruned to an empty root")
			}
		})
	}
}

// TestTreeConcurrent runs Insert, Remove and Match together (run with
// -race). Each writer owns a value and toggles it under random filters;
// readers check results hold only known values. At the end, with writers
// stopped, every cached result must equal a fresh walk.
func TestTreeConcurrent(t *testing.T) {
	for _, size := range []int{DefaultCacheSize, 16, 0} {
		t.Run(fmt.Sprintf("cache=%d", size), func(t *testing.T) {
			tr := NewTreeCacheSize[int](size)
			const writers, readers, ops = 4, 4, 3000
			var wg sync.WaitGroup
			for w := range writers {
				wg.Go(func() {
					r := rand.New(rand.NewPCG(uint64(w), 1))
					for range ops {
						f := randLevels(r, true)
						if tr.Insert(f, w) && r.IntN(2) == 0 {
							tr.Remove(f, w)
						}
					}
				})
			}
			for g := range readers {
				wg.Go(func() {
					r := rand.New(rand.NewPCG(uint64(g), 2))
					for range ops {
						for _, v := range tr.Match(randLevels(r, false)) {
							if v < 0 || v >= writers {
								t.Errorf("unknown value %d", v)
								return
							}
						}
						tr.Len()
					}
				})
			}
			wg.Wait()
			checkCacheIndex(t, tr)
			var pairs [][2]string
			tr.Walk(func(f string, v int) bool {
				pairs = append(pairs, [2]string{f, fmt.Sprint(v)})
				return true
			})
			if len(pairs) != tr.Len() {
				t.Fatalf("Walk saw %d pairs, Len = %d", len(pairs), tr.Len())
			}
			tr.cache.Range(func(k, e any) bool {
				name := k.(string)
				var want []string
				for _, p := range pairs {
					if refMatch(p[0], name) {
						want = append(want, p[1])
					}
				}
				slices.Sort(want)
				var got []string
				for _, v := range e.(*cacheEntry[int]).vals {
					got = append(got, fmt.Sprint(v))
				}
				slices.Sort(got)
				if !slices.Equal(got, want) {
					t.Errorf("stale cache entry %q: %v, want %v", name, got, want)
				}
				return true
			})
		})
	}
}
