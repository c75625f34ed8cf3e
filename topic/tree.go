package topic

import (
	"hash/maphash"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
)

// DefaultCacheSize is the number of topic names whose match results a tree
// made by [NewTree] caches.
const DefaultCacheSize = 4096

// indexMin is the number of values at which a trie node adds a map from value
// to slice position, so that duplicate checks and removal stay O(1) for
// filters with many subscribers.
const indexMin = 16

// cacheValsPerEntry sets the cache's second bound: at most this many values
// per entry on average across all cached results, so that names matched by
// filters with huge subscriber sets (a popular "#") cannot pin
// entries × subscribers memory.
const cacheValsPerEntry = 64

// maxScratch is the capacity above which a match's scratch slice is not
// pooled, so one huge fan-out does not pin memory.
const maxScratch = 1024

// Tree is a concurrent subscription tree: a token trie of topic filters
// (levels split on '/'), each filter holding a set of values. The zero Tree is
// not usable; make one with [NewTree] or [NewTreeCacheSize].
//
// Match results are cached per topic name in a bounded cache (random
// eviction) that a name enters on its second miss, so names matched only
// once (per-client topics) cost no entry. Insert and Remove patch the cache entries the changed filter
// matches instead of flushing the cache, so a stable set of busy topics keeps
// hitting it while subscriptions come and go; the cached names are indexed in
// a token trie of their own, so a wildcard change visits only the cached names
// it can match rather than the whole cache. A cache hit takes no lock and does
// not allocate. A miss walks the trie under a read lock, visiting only the
// branches the name can reach ('+' and '#' children, and the literal child
// equal to each level), and allocates its result once. Insert and Remove take
// the write lock.
//
// Filters are stored as given: validate them with [ValidateFilter] and strip
// shared-subscription prefixes with [ParseShared] first. Matching follows
// [Match]: a name beginning with '$' is not matched by filters beginning with
// '+' or '#' [MQTT-4.7.2-1], and "a/#" matches "a".
type Tree[V comparable] struct {
	mu      sync.RWMutex // guards the trie and the cache index (see below)
	root    *node[V]
	pairs   atomic.Int64
	filters atomic.Int64
	scratch sync.Pool // *[]V: match results are collected here, then copied

	// The cache. Hits read cache without any lock. Misses add entries
	// holding mu's read lock and cmu; Insert and Remove patch entries
	// holding mu's write lock. So entries are never stored concurrently
	// with a patch, and a stored result always reflects the current trie.
	cacheMax int
	cache    sync.Map        // topic name (string) -> *cacheEntry[V]
	cmu      sync.Mutex      // serializes misses' updates of cnames and ckeys
	cnames   rnode[struct{}] // trie of the cached names: finds the entries a filter change affects
	ckeys    []string        // the cached names, for O(1) random eviction
	cvals    int             // total values in cached results
	// door admits a name to the cache on its second miss: it remembers
	// the hashes of the last missed names. Names matched once,
	// such as per-client presence topics, never pay for a cache entry
	// and never evict a busy one.
	door     []atomic.Uint64
	doorSeed maphash.Seed
}

// doorSlots is the size of the cache's admission filter (a power of 2).
const doorSlots = 4096

type cacheEntry[V comparable] struct{ vals []V }

// node is one level of the trie. The filter ending at a node owns vals. A
// node is 64 bytes on 64-bit platforms: what most nodes lack (wildcard
// children, a value index) lives in x.
type node[V comparable] struct {
	kids lits[node[V]] // literal levels
	vals []V
	x    *nodeExtra[V] // nil unless the node has a '+' or '#' child or many values
}

type nodeExtra[V comparable] struct {
	plus *node[V]  // '+' level
	hash *node[V]  // final '#' level
	idx  map[V]int // value -> position in vals, once len(vals) >= indexMin
}

func (n *node[V]) plus() *node[V] {
	if n.x == nil {
		return nil
	}
	return n.x.plus
}

func (n *node[V]) hash() *node[V] {
	if n.x == nil {
		return nil
	}
	return n.x.hash
}

func (n *node[V]) extra() *nodeExtra[V] {
	if n.x == nil {
		n.x = new(nodeExtra[V])
	}
	return n.x
}

// tidy drops n.x once it holds nothing.
func (n *node[V]) tidy() {
	if x := n.x; x != nil && x.plus == nil && x.hash == nil && x.idx == nil {
		n.x = nil
	}
}

// NewTree returns an empty tree caching the match results of up to
// [DefaultCacheSize] topic names.
func NewTree[V comparable]() *Tree[V] { return NewTreeCacheSize[V](DefaultCacheSize) }

// NewTreeCacheSize returns an empty tree caching the match results of up to n
// topic names; n <= 0 disables the cache. The cache also holds at most 64*n
// values in all, so it stays small when some names match filters with very
// many subscribers.
func NewTreeCacheSize[V comparable](n int) *Tree[V] {
	t := &Tree[V]{root: new(node[V]), cacheMax: max(n, 0)}
	if t.cacheMax > 0 {
		t.door = make([]atomic.Uint64, doorSlots)
		t.doorSeed = maphash.MakeSeed()
	}
	return t
}

// Insert adds v under filter. It reports false, changing nothing, if that
// (filter, v) pair was already present.
func (t *Tree[V]) Insert(filter string, v V) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.root
	for rest, more := filter, true; more; {
		var l string
		l, rest, more = nextLevel(rest)
		switch {
		case l == "+":
			x := n.extra()
			if x.plus == nil {
				x.plus = new(node[V])
			}
			n = x.plus
		case l == "#" && !more:
			x := n.extra()
			if x.hash == nil {
				x.hash = new(node[V])
			}
			n = x.hash
		default:
			c := n.kids.get(l)
			if c == nil {
				c = new(node[V])
				// Clone so the trie does not pin the caller's
				// (possibly packet-sized) backing array.
				n.kids.put(strings.Clone(l), c)
			}
			n = c
		}
	}
	if !n.add(v) {
		return false
	}
	t.pairs.Add(1)
	if len(n.vals) == 1 {
		t.filters.Add(1)
	}
	t.patch(filter, func(old []V) []V {
		vals := make([]V, len(old), len(old)+1)
		copy(vals, old)
		return append(vals, v)
	})
	return true
}

// step records one edge of a path through the trie, for pruning.
type step[V comparable] struct {
	parent *node[V]
	key    string // literal key; "+" or "#" for the wildcard children
	lit    bool
}

// Remove deletes v from filter and reports whether it was present. Trie
// nodes left without values or children are pruned.
func (t *Tree[V]) Remove(filter string, v V) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	var buf [16]step[V]
	path := buf[:0]
	n := t.root
	for rest, more := filter, true; more; {
		var l string
		l, rest, more = nextLevel(rest)
		s := step[V]{parent: n, key: l}
		switch {
		case l == "+":
			n = n.plus()
		case l == "#" && !more:
			n = n.hash()
		default:
			n = n.kids.get(l)
			s.lit = true
		}
		if n == nil {
			return false
		}
		path = append(path, s)
	}
	if !n.remove(v) {
		return false
	}
	t.pairs.Add(-1)
	if len(n.vals) == 0 {
		t.filters.Add(-1)
	}
	for i := len(path) - 1; i >= 0 && n.empty(); i-- {
		s := path[i]
		switch {
		case s.lit:
			s.parent.kids.del(s.key)
		case s.key == "+":
			s.parent.x.plus = nil
			s.parent.tidy()
		default:
			s.parent.x.hash = nil
			s.parent.tidy()
		}
		n = s.parent
	}
	t.patch(filter, func(old []V) []V {
		for i, x := range old {
			if x == v {
				vals := make([]V, 0, len(old)-1)
				vals = append(vals, old[:i]...)
				return append(vals, old[i+1:]...)
			}
		}
		return nil // not found: the entry is stale, drop it
	})
	return true
}

// patch replaces the cached result of every name filter matches with
// update(old); a nil result from update leaves the entry alone. Callers hold
// the write lock, so no miss is adding entries concurrently. The names are
// found through the cnames trie, which visits only the branches the filter
// allows, not every cached name.
func (t *Tree[V]) patch(filter string, update func(old []V) []V) {
	if len(t.ckeys) == 0 {
		return
	}
	apply := func(name string, _ struct{}) bool {
		if e, ok := t.cache.Load(name); ok {
			old := e.(*cacheEntry[V]).vals
			if vals := update(old); vals != nil {
				t.cache.Store(name, &cacheEntry[V]{vals})
				t.cvals += len(vals) - len(old)
			}
		}
		return true
	}
	if !HasWildcard(filter) {
		apply(filter, struct{}{}) // a literal filter matches only itself
	} else {
		t.cnames.match(filter, apply, true)
	}
	for t.cvals > t.cacheMax*cacheValsPerEntry && len(t.ckeys) > 0 {
		t.evict()
	}
}

// Match returns every value whose filter matches name. A value appears once
// for each matching filter it is under, so it may appear more than once when
// a subscriber has overlapping subscriptions. The order is unspecified.
//
// The returned slice is shared with the cache and with other callers: it
// MUST NOT be modified. It stays valid (unchanged) after later Inserts and
// Removes, which replace cache entries rather than edit them.
func (t *Tree[V]) Match(name string) []V {
	if t.cacheMax > 0 {
		if e, ok := t.cache.Load(name); ok {
			return e.(*cacheEntry[V]).vals
		}
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	// Collect into pooled scratch space, then copy once at the exact size:
	// one allocation per miss, none when nothing matches.
	sp, _ := t.scratch.Get().(*[]V)
	if sp == nil {
		sp = new([]V)
	}
	scratch := t.root.match(name, (*sp)[:0], name == "" || name[0] != '$')
	var vals []V
	if len(scratch) > 0 {
		vals = make([]V, len(scratch))
		copy(vals, scratch)
	}
	if cap(scratch) <= maxScratch {
		clear(scratch) // drop references held by V
		*sp = scratch
		t.scratch.Put(sp)
	}
	if t.cacheMax > 0 && t.admit(name) {
		// Added under the read lock so that no Insert or Remove can
		// patch the cache between computing vals and storing them.
		t.cmu.Lock()
		if _, ok := t.cache.Load(name); !ok {
			name = strings.Clone(name) // do not pin the caller's memory
			t.cache.Store(name, &cacheEntry[V]{vals})
			t.cnames.set(name, struct{}{}, false)
			t.ckeys = append(t.ckeys, name)
			t.cvals += len(vals)
			for len(t.ckeys) > t.cacheMax || (t.cvals > t.cacheMax*cacheValsPerEntry && len(t.ckeys) > 0) {
				t.evict()
			}
		}
		t.cmu.Unlock()
	}
	return vals
}

// admit reports whether a missed name enters the cache: whether it was
// missed before and its hash is still in one of its two door slots. Two
// slots keep a pair of busy names that share one from shutting each other
// out.
func (t *Tree[V]) admit(name string) bool {
	h := maphash.String(t.doorSeed, name) | 1 // 0 is an empty slot
	a, b := &t.door[h&(doorSlots-1)], &t.door[(h>>32)&(doorSlots-1)]
	if a.Load() == h || b.Load() == h {
		return true
	}
	a.Store(h)
	b.Store(h)
	return false
}

// evict drops a random cache entry. The caller holds cmu and mu's read lock,
// or mu's write lock.
func (t *Tree[V]) evict() {
	i, last := rand.IntN(len(t.ckeys)), len(t.ckeys)-1
	name := t.ckeys[i]
	t.ckeys[i] = t.ckeys[last]
	t.ckeys[last] = ""
	t.ckeys = t.ckeys[:last]
	t.cnames.del(name)
	if e, ok := t.cache.LoadAndDelete(name); ok {
		t.cvals -= len(e.(*cacheEntry[V]).vals)
	}
}

// match appends to out the values of the filters below n that match name
// (one or more levels). wild is false at the root for names beginning with
// '$', which the root's '+' and '#' children must not match [MQTT-4.7.2-1].
func (n *node[V]) match(name string, out []V, wild bool) []V {
	l, rest, more := nextLevel(name)
	if wild && n.x != nil {
		if h := n.x.hash; h != nil {
			out = append(out, h.vals...)
		}
		if p := n.x.plus; p != nil {
			out = p.matchRest(rest, more, out)
		}
	}
	if c := n.kids.get(l); c != nil {
		out = c.matchRest(rest, more, out)
	}
	return out
}

// matchRest continues a match at n, the node reached by a name's level.
func (n *node[V]) matchRest(rest string, more bool, out []V) []V {
	if more {
		return n.match(rest, out, true)
	}
	out = append(out, n.vals...)
	if h := n.hash(); h != nil { // "a/#" matches "a" [MQTT-4.7.1-2]
		out = append(out, h.vals...)
	}
	return out
}

func (n *node[V]) empty() bool {
	return len(n.vals) == 0 && n.x == nil && n.kids.len() == 0
}

// add adds v to n's values unless present.
func (n *node[V]) add(v V) bool {
	if n.x != nil && n.x.idx != nil {
		if _, ok := n.x.idx[v]; ok {
			return false
		}
		n.x.idx[v] = len(n.vals)
		n.vals = append(n.vals, v)
		return true
	}
	for _, x := range n.vals {
		if x == v {
			return false
		}
	}
	n.vals = append(n.vals, v)
	if len(n.vals) >= indexMin {
		idx := make(map[V]int, len(n.vals))
		for i, x := range n.vals {
			idx[x] = i
		}
		n.extra().idx = idx
	}
	return true
}

// remove removes v from n's values if present.
func (n *node[V]) remove(v V) bool {
	var idx map[V]int
	if n.x != nil {
		idx = n.x.idx
	}
	i := -1
	if idx != nil {
		if j, ok := idx[v]; ok {
			i = j
			delete(idx, v)
		}
	} else {
		for j, x := range n.vals {
			if x == v {
				i = j
				break
			}
		}
	}
	if i < 0 {
		return false
	}
	last := len(n.vals) - 1
	if i != last {
		n.vals[i] = n.vals[last]
		if idx != nil {
			idx[n.vals[i]] = i
		}
	}
	var zero V
	n.vals[last] = zero // release what V references
	n.vals = n.vals[:last]
	if last == 0 {
		n.vals = nil
	}
	if idx != nil && last < indexMin/2 {
		n.x.idx = nil
		n.tidy()
	}
	if cap(n.vals) > 2*indexMin && cap(n.vals) > 4*len(n.vals) {
		n.vals = append([]V(nil), n.vals...) // shrink after mass unsubscribe
	}
	return true
}

// Len returns the number of (filter, value) pairs in the tree.
func (t *Tree[V]) Len() int { return int(t.pairs.Load()) }

// Filters returns the number of distinct filters in the tree.
func (t *Tree[V]) Filters() int { return int(t.filters.Load()) }

// Walk calls fn for each (filter, value) pair, in no particular order, until
// fn returns false. It holds the tree's read lock throughout, so fn must not
// call Insert or Remove on the same tree.
func (t *Tree[V]) Walk(fn func(filter string, v V) bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	t.root.walk(make([]string, 0, 8), fn)
}

func (n *node[V]) walk(path []string, fn func(string, V) bool) bool {
	if len(n.vals) > 0 {
		filter := strings.Join(path, "/")
		for _, v := range n.vals {
			if !fn(filter, v) {
				return false
			}
		}
	}
	if p := n.plus(); p != nil && !p.walk(append(path, "+"), fn) {
		return false
	}
	if h := n.hash(); h != nil && !h.walk(append(path, "#"), fn) {
		return false
	}
	return n.kids.each(func(k string, c *node[V]) bool {
		return c.walk(append(path, k), fn)
	})
}
