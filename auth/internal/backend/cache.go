package backend

import (
	"sync"
	"time"
)

// DefaultCacheSize bounds a Cache made with size 0.
const DefaultCacheSize = 10000

// Cache keeps query results for a while, so that a burst of connects by
// the same users does not ask the server again. Keys hold the query's
// arguments; values are what the server answered, never a decision, so
// passwords are still checked on every connect. Failures are not cached.
//
// A nil *Cache is a cache that is off: Get misses and Put does nothing.
type Cache[V any] struct {
	ttl  time.Duration
	size int

	mu sync.Mutex
	m  map[string]cacheEntry[V]
}

type cacheEntry[V any] struct {
	v   V
	exp time.Time
}

// NewCache returns a cache whose entries live ttl and which holds at most
// size entries (0 means DefaultCacheSize); a ttl of 0 or less returns nil,
// the cache that is off.
func NewCache[V any](ttl time.Duration, size int) *Cache[V] {
	if ttl <= 0 {
		return nil
	}
	if size <= 0 {
		size = DefaultCacheSize
	}
	return &Cache[V]{ttl: ttl, size: size, m: make(map[string]cacheEntry[V])}
}

// Get returns the value stored under key, if it has not expired.
func (c *Cache[V]) Get(key string) (V, bool) {
	var zero V
	if c == nil {
		return zero, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok {
		return zero, false
	}
	if time.Now().After(e.exp) {
		delete(c.m, key)
		return zero, false
	}
	return e.v, true
}

// Put stores v under key. A full cache first drops its expired entries
// and, if still full, an arbitrary half of the others.
func (c *Cache[V]) Put(key string, v V) {
	if c == nil {
		return
	}
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[key]; !ok && len(c.m) >= c.size {
		for k, e := range c.m {
			if now.After(e.exp) {
				delete(c.m, k)
			}
		}
		for k := range c.m {
			if len(c.m) < c.size/2+1 {
				break
			}
			delete(c.m, k)
		}
	}
	c.m[key] = cacheEntry[V]{v: v, exp: now.Add(c.ttl)}
}

// Clear drops every entry.
func (c *Cache[V]) Clear() {
	if c == nil {
		return
	}
	c.mu.Lock()
	clear(c.m)
	c.mu.Unlock()
}

// Len returns the number of entries, expired ones included.
func (c *Cache[V]) Len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
