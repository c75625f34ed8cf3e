package topic

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

func retainedMatch(r *Retained[int], filter string) []string {
	var out []string
	r.Match(filter, func(name string, v int) bool {
		out = append(out, fmt.Sprintf("%s=%d", name, v))
		return true
	})
	slices.Sort(out)
	return out
}

func TestRetainedBasics(t *testing.T) {
	r := NewRetained[int]()
	if _, ok := r.Get("a"); ok || r.Len() != 0 {
		t.Fatal("empty index has a value")
	}
	r.Set("a/b", 1)
	r.Set("a/b", 2) // replaces
	r.Set("a", 3)
	r.Set("a/b/c", 4)
	r.Set("$SYS/uptime", 5)
	r.Set("/x", 6)
	r.Set("a//b", 7)
	if r.Len() != 6 {
		t.Fatalf("Len = %d, want 6", r.Len())
	}
	for name, want := range map[string]int{"a/b": 2, "a": 3, "a/b/c": 4, "$SYS/uptime": 5, "/x": 6, "a//b": 7} {
		if v, ok := r.Get(name); !ok || v != want {
			t.Fatalf("Get(%q) = %d, %v, want %d", name, v, ok, want)
		}
	}
	for _, name := range []string{"b", "a/", "a/b/c/d", "$SYS", "x"} {
		if _, ok := r.Get(name); ok {
			t.Fatalf("Get(%q) found a value", name)
		}
	}
	tests := []struct {
		filter string
		want   []string
	}{
		{"a/b", []string{"a/b=2"}},
		{"a/+", []string{"a/b=2"}},
		{"a/#", []string{"a//b=7", "a/b/c=4", "a/b=2", "a=3"}}, // "a/#" matches "a"
		{"+", []string{"a=3"}},
		{"+/+", []string{"/x=6", "a/b=2"}},
		{"+/b", []string{"a/b=2"}},
		{"a/+/b", []string{"a//b=7"}},
		{"#", []string{"/x=6", "a//b=7", "a/b/c=4", "a/b=2", "a=3"}}, // no $SYS [MQTT-4.7.2-1]
		{"+/uptime", nil},                                            // no $SYS [MQTT-4.7.2-1]
		{"$SYS/#", []string{"$SYS/uptime=5"}},
		{"$SYS/+", []string{"$SYS/uptime=5"}},
		{"nothing/#", nil},
		{"a/b/c/#", []string{"a/b/c=4"}},
	}
	for _, tt := range tests {
		if got := retainedMatch(r, tt.filter); !slices.Equal(got, tt.want) {
			t.Errorf("Match(%q) = %q, want %q", tt.filter, got, tt.want)
		}
	}
	n := 0
	r.Match("#", func(string, int) bool { n++; return n < 2 })
	if n != 2 {
		t.Fatalf("Match did not stop: %d calls", n)
	}
	n = 0
	r.Walk(func(string, int) bool { n++; return true })
	if n != 6 {
		t.Fatalf("Walk visited %d", n)
	}

	if r.Delete("a/b/c/d") || r.Delete("nope") {
		t.Fatal("Delete of an absent name reported true")
	}
	if !r.Delete("a/b") || r.Delete("a/b") {
		t.Fatal("Delete a/b")
	}
	if got := retainedMatch(r, "a/#"); !slices.Equal(got, []string{"a//b=7", "a/b/c=4", "a=3"}) {
		t.Fatalf("after Delete: %q", got)
	}
	for _, name := range []string{"a", "a/b/c", "$SYS/uptime", "/x", "a//b"} {
		if !r.Delete(name) {
			t.Fatalf("Delete(%q) = false", name)
		}
	}
	if r.Len() != 0 || r.root.kids.len() != 0 {
		t.Fatalf("not pruned: Len %d, root children %d", r.Len(), r.root.kids.len())
	}
}

func TestRetainedMatchTable(t *testing.T) {
	r := NewRetained[int]()
	for i, tt := range matchTests {
		if ValidateName(tt.name) == nil || tt.name == "" {
			r.Set(tt.name, i)
		}
	}
	for _, tt := range matchTests {
		got := retainedMatch(r, tt.filter)
		var want []string
		r.Walk(func(name string, v int) bool {
			if Match(tt.filter, name) {
				want = append(want, fmt.Sprintf("%s=%d", name, v))
			}
			return true
		})
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("Match(%q) = %q, want %q", tt.filter, got, want)
		}
	}
}

// TestRetainedRandom checks Set, Delete, Get and Match against a map and
// brute-force matching.
func TestRetainedRandom(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	r := NewRetained[int]()
	model := map[string]int{}
	for op := range 30000 {
		switch x := rnd.IntN(10); {
		case x < 4:
			name, v := randLevels(rnd, false), rnd.IntN(100)
			r.Set(name, v)
			model[name] = v
		case x < 6:
			name := randLevels(rnd, false)
			_, had := model[name]
			if got := r.Delete(name); got != had {
				t.Fatalf("op %d: Delete(%q) = %v, want %v", op, name, got, had)
			}
			delete(model, name)
		case x < 7:
			name := randLevels(rnd, false)
			want, had := model[name]
			if got, ok := r.Get(name); ok != had || got != want {
				t.Fatalf("op %d: Get(%q) = %d, %v, want %d, %v", op, name, got, ok, want, had)
			}
		default:
			filter := randLevels(rnd, true)
			var want []string
			for name, v := range model {
				if refMatch(filter, name) {
					want = append(want, fmt.Sprintf("%s=%d", name, v))
				}
			}
			slices.Sort(want)
			if got := retainedMatch(r, filter); !slices.Equal(got, want) {
				t.Fatalf("op %d: Match(%q) = %q, want %q", op, filter, got, want)
			}
		}
		if r.Len() != len(model) {
			t.Fatalf("op %d: Len = %d, want %d", op, r.Len(), len(model))
		}
	}
	for _, name := range slices.Collect(maps.Keys(model)) {
		r.Delete(name)
	}
	if r.root.kids.len() != 0 {
		t.Fatal("not pruned")
	}
}

func TestRetainedConcurrent(t *testing.T) {
	r := NewRetained[int]()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(uint64(g), 9))
			for range 3000 {
				name := randLevels(rnd, false)
				switch rnd.IntN(4) {
				case 0:
					r.Delete(name)
				case 1:
					r.Get(name)
				case 2:
					r.Match(randLevels(rnd, true), func(string, int) bool { return true })
				default:
					r.Set(name, g)
				}
			}
		})
	}
	wg.Wait()
	n := 0
	r.Walk(func(string, int) bool { n++; return true })
	if n != r.Len() {
		t.Fatalf("Walk saw %d, Len = %d", n, r.Len())
	}
}
