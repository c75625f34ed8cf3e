package broker

// ParkedConns counts b's parked connections (park.go), for tests.
func ParkedConns(b *Broker) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for c := range b.conns {
		if c.parked.Load() {
			n++
		}
	}
	return n
}
