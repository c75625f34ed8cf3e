package broker

import (
	"errors"
	"os"
	"sync"
	"time"
)

// Parking. An idle MQTT connection spends its life waiting for the next
// packet. A goroutine blocked in Read costs at least a 2 KB stack and a
// goroutine record; across 10,000 idle devices that is most of the
// broker's memory. So a TCP connection with nothing buffered "parks": its
// reader goroutine ends, the read buffer goes back to the pool, and the
// broker's parker (one epoll instance, park_linux.go) watches the socket.
// The first of these resumes it on a fresh goroutine:
//
//   - input or a hang-up on the socket (the parker);
//   - the keep-alive deadline passing (a timer): the connection then ends
//     with a keep-alive timeout, as a blocked Read would have;
//   - the broker closing the connection (wake, called after nc.Close).
//
// parked decides who resumes: whoever swaps it from true to false. A
// connection parks right after CONNECT when nothing follows at once, and
// again after idleRelease without input. The WaitGroup slot of its reader
// stays taken while it is parked, so Shutdown still waits for it.
// Connections that are not plain sockets (TLS, WebSocket, in-process
// pipes) and platforms without epoll keep their reader goroutine.

// errParked ends a reader goroutine whose connection parked.
var errParked = errors.New("connection parked")

// parker returns the broker's parker, starting it on first use; nil when
// parking is not possible (not Linux, or the broker is closing).
func (b *Broker) getParker() *parker {
	b.gmu.Lock()
	defer b.gmu.Unlock()
	if b.parker != nil || b.parkerFailed || b.gclosed {
		return b.parker
	}
	p, err := newParker()
	if err != nil {
		b.parkerFailed = true
		return nil
	}
	b.parker = p
	b.wg.Add(1)
	go p.serve(&b.wg)
	return p
}

// serve runs the parker's loop on this goroutine, counted in wg. When the
// loop hands over a connection to resume, a new goroutine takes over the
// loop and this one reads the connection: the connection is read on the
// goroutine that the network poller woke, as a reader blocked on its
// socket would have been, with no further hop.
func (p *parker) serve(wg *sync.WaitGroup) {
	defer wg.Done()
	c := p.run()
	if c == nil {
		return
	}
	wg.Add(1) // this goroutine holds a count, so Add cannot race Wait
	go p.serve(wg)
	c.resume()
}

// stopParker stops the parker goroutine; gclosed is already set, so no
// new one starts.
func (b *Broker) stopParker() {
	b.gmu.Lock()
	p := b.parker
	b.gmu.Unlock()
	if p != nil {
		p.stop()
	}
}

// park hands c, whose reader holds no buffered input, to the parker. end
// is the keep-alive deadline (zero: none). It reports whether c parked; the
// calling reader must then return without ending c.
func (c *conn) park(end time.Time) bool {
	if !c.idleRelease || c.r.Buffered() > 0 {
		return false
	}
	p := c.b.getParker()
	if p == nil {
		return false
	}
	c.pk = p
	c.r.Release()
	if !end.IsZero() {
		d := time.Until(end)
		if d <= 0 {
			return false
		}
		if c.parkTimer == nil {
			c.parkTimer = time.AfterFunc(d, c.expire)
		} else {
			c.parkTimer.Reset(d)
		}
	}
	c.parkEnd = end
	// Whoever resumes c waits for parkMu, so that this goroutine is done
	// with c before another reader starts.
	c.parkMu.Lock()
	defer c.parkMu.Unlock()
	c.parked.Store(true)
	if !p.arm(c) {
		if c.parked.CompareAndSwap(true, false) {
			c.stopParkTimer()
			return false
		}
		return true // the timer or a close already resumed c
	}
	// A close that came before parked was set did not see it, nor did a
	// keep-alive timer that fired before.
	c.wmu.Lock()
	ended := c.wclosing || c.wdead
	c.wmu.Unlock()
	switch {
	case ended:
		c.unpark()
	case !end.IsZero() && !time.Now().Before(end) && c.parked.CompareAndSwap(true, false):
		go c.endExpired()
	}
	return true
}

func (c *conn) stopParkTimer() {
	if c.parkTimer != nil {
		c.parkTimer.Stop()
	}
}

// unpark resumes a parked c on a new goroutine; it does nothing if c is
// not parked or someone else resumed it.
func (c *conn) unpark() {
	if c.claim() {
		go c.resume()
	}
}

// claim takes a parked c for the caller to resume; it reports false if c
// is not parked or someone else took it.
func (c *conn) claim() bool {
	if !c.parked.CompareAndSwap(true, false) {
		return false
	}
	c.stopParkTimer()
	return true
}

// expire runs on the keep-alive timer's goroutine and resumes c there.
func (c *conn) expire() {
	if !c.parked.CompareAndSwap(true, false) {
		return
	}
	// The timer of an earlier park may fire late, after a resume and a
	// new park: then c is simply read again.
	if !c.parkEnd.IsZero() && time.Now().Before(c.parkEnd) {
		c.resume()
		return
	}
	c.endExpired()
}

// endExpired ends c, resumed because its keep-alive deadline passed.
func (c *conn) endExpired() {
	c.waitPark()
	c.end(c.readError(os.ErrDeadlineExceeded))
	c.b.wg.Done()
}

// waitPark returns once the park that this resume ends has returned.
func (c *conn) waitPark() {
	c.parkMu.Lock()
	c.parkMu.Unlock()
}

// wake resumes c if it is parked, after the broker closed its socket.
func (c *conn) wake() {
	if c.parked.Load() {
		c.unpark()
	}
}

// resume reads c's next packets on the calling goroutine.
func (c *conn) resume() {
	c.waitPark()
	if !c.serveReader() {
		c.b.wg.Done()
	}
}

// serveReader reads packets until c ends, then ends it, or until c parks;
// it reports whether c parked.
func (c *conn) serveReader() (parked bool) {
	err := c.readLoop()
	if err == errParked {
		return true
	}
	c.end(err)
	return false
}
