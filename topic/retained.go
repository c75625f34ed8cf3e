package topic

import (
	"strings"
	"sync"
)

// Retained is a retained-message index: at most one value per topic name,
// stored in a token trie of name levels. [Retained.Match] answers a
// subscription's filter by walking only the branches the filter allows: a
// literal level follows one child, '+' every child of that level, '#' the
// whole subtree. It never scans every retained topic. Names beginning with
// '$' are not returned for filters beginning with '+' or '#'
// [MQTT-4.7.2-1].
//
// Names are stored as given; validate them with [ValidateName] first. The
// zero Retained is not usable; make one with [NewRetained]. It is safe for
// concurrent use.
type Retained[V any] struct {
	mu   sync.RWMutex
	root rnode[V]
	n    int
}

type rnode[V any] struct {
	kids lits[rnode[V]]
	name string // the full topic name, when has
	val  V
	has  bool
}

// NewRetained returns an empty retained-message index.
func NewRetained[V any]() *Retained[V] { return new(Retained[V]) }

// Set stores v under the topic name, replacing any previous value.
func (r *Retained[V]) Set(name string, v V) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.root.set(name, v, true) {
		r.n++
	}
}

// Delete removes the value stored under the topic name and reports whether
// there was one. Trie nodes left empty are pruned.
func (r *Retained[V]) Delete(name string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.root.del(name) {
		return false
	}
	r.n--
	return true
}

// Get returns the value stored under the topic name.
func (r *Retained[V]) Get(name string) (V, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.root.get(name)
}

// set stores v under name below the root n, reporting whether name is new.
// With clone set, name is copied once (and shared by the new keys and the
// stored name) so the trie does not pin the caller's memory.
func (n *rnode[V]) set(name string, v V, clone bool) bool {
	owned := name
	for rest, more := name, true; more; {
		var l string
		off := len(name) - len(rest)
		l, rest, more = nextLevel(rest)
		c := n.kids.get(l)
		if c == nil {
			if clone {
				owned, clone = strings.Clone(name), false
			}
			c = new(rnode[V])
			n.kids.put(owned[off:off+len(l)], c)
		}
		n = c
	}
	n.val = v
	if n.has {
		return false
	}
	if clone {
		owned = strings.Clone(name)
	}
	n.name, n.has = owned, true
	return true
}

// del removes name below the root n, pruning nodes left empty.
func (n *rnode[V]) del(name string) bool {
	type step struct {
		parent *rnode[V]
		key    string
	}
	var buf [16]step
	path := buf[:0]
	for rest, more := name, true; more; {
		var l string
		l, rest, more = nextLevel(rest)
		path = append(path, step{n, l})
		if n = n.kids.get(l); n == nil {
			return false
		}
	}
	if !n.has {
		return false
	}
	var zero V
	n.val, n.name, n.has = zero, "", false
	for i := len(path) - 1; i >= 0 && !n.has && n.kids.len() == 0; i-- {
		path[i].parent.kids.del(path[i].key)
		n = path[i].parent
	}
	return true
}

// get looks name up below the root n.
func (n *rnode[V]) get(name string) (V, bool) {
	for rest, more := name, true; more; {
		var l string
		l, rest, more = nextLevel(rest)
		if n = n.kids.get(l); n == nil {
			var zero V
			return zero, false
		}
	}
	return n.val, n.has
}

// Match calls fn for each stored topic name matching filter, with its value,
// in no particular order, until fn returns false. The filter should be valid
// (see [ValidateFilter]) with any shared-subscription prefix stripped; matching
// follows [Match].
//
// Match holds the index's read lock while calling fn, so fn must not call
// Set or Delete on the same index (collect the names and act afterwards).
func (r *Retained[V]) Match(filter string, fn func(name string, v V) bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	r.root.match(filter, fn, true)
}

// match visits the names below n matching filter; root is true at the trie's
// root, where '+' and '#' skip names beginning with '$'. It reports whether
// to continue.
func (n *rnode[V]) match(filter string, fn func(string, V) bool, root bool) bool {
	l, rest, more := nextLevel(filter)
	switch {
	case l == "#" && !more:
		// '#' matches the parent level too: "a/#" matches "a" [MQTT-4.7.1-2].
		if n.has && !fn(n.name, n.val) {
			return false
		}
		return n.kids.each(func(k string, c *rnode[V]) bool {
			if root && k != "" && k[0] == '$' {
				return true
			}
			return c.walk(fn)
		})
	case l == "+":
		return n.kids.each(func(k string, c *rnode[V]) bool {
			if root && k != "" && k[0] == '$' {
				return true
			}
			return c.matchRest(rest, more, fn)
		})
	default:
		if c := n.kids.get(l); c != nil {
			return c.matchRest(rest, more, fn)
		}
		return true
	}
}

func (n *rnode[V]) matchRest(rest string, more bool, fn func(string, V) bool) bool {
	if more {
		return n.match(rest, fn, false)
	}
	if n.has {
		return fn(n.name, n.val)
	}
	return true
}

// walk visits every name at or below n.
func (n *rnode[V]) walk(fn func(string, V) bool) bool {
	if n.has && !fn(n.name, n.val) {
		return false
	}
	return n.kids.each(func(_ string, c *rnode[V]) bool { return c.walk(fn) })
}

// Len returns the number of stored topic names.
func (r *Retained[V]) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.n
}

// Walk calls fn for each stored topic name and its value, in no particular
// order, until fn returns false. Like [Retained.Match], it holds the read
// lock while calling fn.
func (r *Retained[V]) Walk(fn func(name string, v V) bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	r.root.walk(fn)
}
