package topic

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"
)

// TestLits drives the inline/slice/map child container through every
// transition against a map.
func TestLits(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var l lits[int]
	model := map[string]*int{}
	for op := range 20000 {
		key := fmt.Sprint(r.IntN(24))
		if r.IntN(2) == 0 {
			if model[key] == nil {
				v := op
				l.put(key, &v)
				model[key] = &v
			}
		} else {
			l.del(key)
			delete(model, key)
		}
		if l.len() != len(model) {
			t.Fatalf("op %d: len %d, want %d", op, l.len(), len(model))
		}
		if (l.one != nil) && l.more != nil {
			t.Fatalf("op %d: both inline and more set", op)
		}
		for k, v := range model {
			if l.get(k) != v {
				t.Fatalf("op %d: get(%q) wrong", op, k)
			}
		}
		if l.get("absent") != nil {
			t.Fatal("get(absent) != nil")
		}
		seen := map[string]*int{}
		l.each(func(k string, n *int) bool { seen[k] = n; return true })
		if !maps.Equal(seen, model) {
			t.Fatalf("op %d: each saw %d entries, want %d", op, len(seen), len(model))
		}
	}
}
