package broker

import (
	"slices"
	"sync"
	"sync/atomic"
)

// registration holds the options of one hook, auth or ACL registration.
type registration struct {
	priority int
	name     string
}

// RegisterOption adjusts a hook, authentication or ACL registration.
type RegisterOption func(*registration)

// Priority orders registrations: higher numbers run first; equal
// priorities run in registration order. The default is 0.
func Priority(n int) RegisterOption { return func(r *registration) { r.priority = n } }

// Named gives a registration a name, used in logs and listings.
func Named(s string) RegisterOption { return func(r *registration) { r.name = s } }

// entry is one element of a chain.
type entry[F any] struct {
	fn  F
	reg registration
	id  uint64
}

// chain is a copy-on-write list of callbacks. Readers load an immutable
// slice with one atomic read; writers copy under a mutex.
type chain[F any] struct {
	mu   sync.Mutex
	list atomic.Pointer[[]entry[F]]
	next uint64
	// gen changes whenever the list does, and when invalidate is called:
	// caches of what the chain answered compare it.
	gen atomic.Uint64
}

// invalidate changes the chain's generation without changing its list.
func (c *chain[F]) invalidate() { c.gen.Add(1) }

// load returns the current immutable list; callers must not modify it.
func (c *chain[F]) load() []entry[F] {
	if p := c.list.Load(); p != nil {
		return *p
	}
	return nil
}

// add inserts fn by priority and returns a function that removes it; the
// remover is idempotent.
func (c *chain[F]) add(fn F, opts []RegisterOption) func() {
	var reg registration
	for _, o := range opts {
		o(&reg)
	}
	c.mu.Lock()
	c.next++
	id := c.next
	old := c.load()
	list := make([]entry[F], 0, len(old)+1)
	list = append(list, old...)
	i := len(list)
	for j, e := range list {
		if reg.priority > e.reg.priority {
			i = j
			break
		}
	}
	list = slices.Insert(list, i, entry[F]{fn: fn, reg: reg, id: id})
	c.list.Store(&list)
	c.gen.Add(1)
	c.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { c.remove(id) }) }
}

func (c *chain[F]) remove(id uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.load()
	list := make([]entry[F], 0, len(old))
	for _, e := range old {
		if e.id != id {
			list = append(list, e)
		}
	}
	c.list.Store(&list)
	c.gen.Add(1)
}
