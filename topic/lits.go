package topic

// smallLits is how many literal children a trie node keeps in a slice before
// switching to a map. A short linear scan beats hashing while costing a
// fraction of a map's memory.
const smallLits = 8

type litEntry[N any] struct {
	key string
	n   *N
}

// lits holds a trie node's literal children. Most nodes of a real tree have
// exactly one ("devices/42" has "temp"), which is kept inline with no
// allocation; more live in a short slice, and more than smallLits in a map.
// Either one is set, or more is, or neither.
type lits[N any] struct {
	key  string // the only child's key, when one != nil
	one  *N
	more *litsMore[N]
}

type litsMore[N any] struct {
	small []litEntry[N]
	big   map[string]*N
}

func (l *lits[N]) get(key string) *N {
	if l.one != nil {
		if l.key == key {
			return l.one
		}
		return nil
	}
	if l.more == nil {
		return nil
	}
	if l.more.big != nil {
		return l.more.big[key]
	}
	for i := range l.more.small {
		if l.more.small[i].key == key {
			return l.more.small[i].n
		}
	}
	return nil
}

// put adds a child under a key not yet present.
func (l *lits[N]) put(key string, n *N) {
	switch {
	case l.one == nil && l.more == nil:
		l.key, l.one = key, n
		return
	case l.one != nil:
		l.more = &litsMore[N]{small: make([]litEntry[N], 1, 2)}
		l.more.small[0] = litEntry[N]{l.key, l.one}
		l.key, l.one = "", nil
	}
	m := l.more
	if m.big != nil {
		m.big[key] = n
		return
	}
	if len(m.small) < smallLits {
		m.small = append(m.small, litEntry[N]{key, n})
		return
	}
	m.big = make(map[string]*N, 2*smallLits)
	for _, e := range m.small {
		m.big[e.key] = e.n
	}
	m.small = nil
	m.big[key] = n
}

func (l *lits[N]) del(key string) {
	if l.one != nil {
		if l.key == key {
			l.key, l.one = "", nil
		}
		return
	}
	m := l.more
	if m == nil {
		return
	}
	if m.big != nil {
		delete(m.big, key)
		if len(m.big) <= smallLits/2 { // back to a slice, with hysteresis
			m.small = make([]litEntry[N], 0, len(m.big))
			for k, n := range m.big {
				m.small = append(m.small, litEntry[N]{k, n})
			}
			m.big = nil
		}
	} else {
		for i := range m.small {
			if m.small[i].key == key {
				last := len(m.small) - 1
				m.small[i] = m.small[last]
				m.small[last] = litEntry[N]{}
				m.small = m.small[:last]
				break
			}
		}
	}
	if m.big == nil && len(m.small) <= 1 { // back inline
		if len(m.small) == 1 {
			l.key, l.one = m.small[0].key, m.small[0].n
		}
		l.more = nil
	}
}

func (l *lits[N]) len() int {
	switch {
	case l.one != nil:
		return 1
	case l.more == nil:
		return 0
	case l.more.big != nil:
		return len(l.more.big)
	}
	return len(l.more.small)
}

// each calls fn for every child until fn returns false; it reports whether
// the iteration ran to completion.
func (l *lits[N]) each(fn func(key string, n *N) bool) bool {
	if l.one != nil {
		return fn(l.key, l.one)
	}
	if l.more == nil {
		return true
	}
	if l.more.big != nil {
		for k, n := range l.more.big {
			if !fn(k, n) {
				return false
			}
		}
		return true
	}
	for _, e := range l.more.small {
		if !fn(e.key, e.n) {
			return false
		}
	}
	return true
}
