package sqlauth

import (
	"strconv"
	"strings"
	"sync"
	"time"
)

// cache keeps query results for a while, keyed by the query and its bound
// values. It holds what the server returned (for the auth query, the
// stored hash and salt), never a client's password: every connect still
// checks its password. Only successful results are kept.
type cache struct {
	ttl time.Duration
	max int

	mu sync.Mutex // held for map operations only, never across a query
	m  map[string]cacheEntry
}

type cacheEntry struct {
	r       *result
	expires time.Time
}

func newCache(ttl time.Duration, max int) *cache {
	return &cache{ttl: ttl, max: max, m: make(map[string]cacheEntry)}
}

// cacheKey is the query's name and each value, length-prefixed so that no
// two lists of values share a key.
func cacheKey(what string, args []any) string {
	var b strings.Builder
	b.WriteString(what)
	for _, a := range args {
		s, _ := a.(string)
		b.WriteByte(0)
		b.WriteString(strconv.Itoa(len(s)))
		b.WriteByte(':')
		b.WriteString(s)
	}
	return b.String()
}

func (c *cache) get(key string) (*result, bool) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok {
		return nil, false
	}
	if now.After(e.expires) {
		delete(c.m, key)
		return nil, false
	}
	return e.r, true
}

func (c *cache) put(key string, r *result) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		// Drop what has expired; if that frees nothing, drop about a
		// quarter, in map order (close to random).
		for k, e := range c.m {
			if now.After(e.expires) {
				delete(c.m, k)
			}
		}
		for k := range c.m {
			if len(c.m) < c.max-c.max/4 {
				break
			}
			delete(c.m, k)
		}
	}
	c.m[key] = cacheEntry{r: r, expires: now.Add(c.ttl)}
}

func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
