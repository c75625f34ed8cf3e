package broker

import (
	"os"
	"sync"
	"syscall"
	"time"
)

// parker watches the sockets of parked connections with one epoll
// instance, so that an idle TCP connection holds no goroutine (see
// conn.park). Each socket is armed one-shot: the first sign of input or of
// the peer hanging up disarms it and hands the connection back to a
// reader goroutine. The epoll descriptor itself sits in Go's network
// poller, so the parker's goroutine waits like any other network reader:
// no thread blocks for it, and a connection it resumes runs as soon as a
// socket read by a goroutine would have. It uses only syscall and os.
type parker struct {
	mu     sync.RWMutex // read-held around epoll_ctl, write-held to close
	f      *os.File     // the epoll instance
	epfd   int
	closed bool

	cmu   sync.Mutex
	conns map[uint64]*conn // parked or once parked connections, by token
	next  uint64
}

const parkEvents = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT

func newParker() (*parker, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	if err := syscall.SetNonblock(epfd, true); err != nil {
		syscall.Close(epfd)
		return nil, err
	}
	f := os.NewFile(uintptr(epfd), "parker")
	// Only a descriptor in the network poller takes deadlines: this
	// checks that run will wait in the poller rather than fail.
	if err := f.SetReadDeadline(time.Time{}); err != nil {
		f.Close()
		return nil, err
	}
	return &parker{f: f, epfd: epfd, conns: make(map[uint64]*conn)}, nil
}

func setToken(ev *syscall.EpollEvent, t uint64) {
	ev.Fd, ev.Pad = int32(uint32(t)), int32(uint32(t>>32))
}

func token(ev *syscall.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

// arm registers c's socket (first park) or re-arms it. It reports false if
// the socket cannot be watched: the connection then keeps its goroutine.
func (p *parker) arm(c *conn) bool {
	sc, ok := c.nc.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	if c.parkToken == 0 {
		p.cmu.Lock()
		p.next++
		c.parkToken = p.next
		p.conns[c.parkToken] = c
		p.cmu.Unlock()
	}
	ev := syscall.EpollEvent{Events: parkEvents}
	setToken(&ev, c.parkToken)
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return false
	}
	var cerr error
	// Control keeps the descriptor open while it runs, so a concurrent
	// Close cannot hand its number to another socket meanwhile.
	err = rc.Control(func(fd uintptr) {
		op := syscall.EPOLL_CTL_MOD
		if !c.parkArmed {
			op = syscall.EPOLL_CTL_ADD
		}
		cerr = syscall.EpollCtl(p.epfd, op, int(fd), &ev)
		if cerr == nil {
			c.parkArmed = true
		}
	})
	return err == nil && cerr == nil
}

// forget drops c when its connection ends. The kernel removes a closed
// socket from the epoll set by itself.
func (p *parker) forget(c *conn) {
	if c.parkToken == 0 {
		return
	}
	p.cmu.Lock()
	delete(p.conns, c.parkToken)
	p.cmu.Unlock()
}

// run waits for events and resumes the connections they name, each on a
// new goroutine, except the last of a batch, which it claims and returns
// for the caller to resume itself (see serve). It returns nil after stop.
func (p *parker) run() *conn {
	rc, err := p.f.SyscallConn()
	if err != nil {
		return nil
	}
	evs := make([]syscall.EpollEvent, 32)
	var claimed *conn
	// Read calls the function again each time the epoll descriptor turns
	// readable; returning false waits for that, true returns.
	rc.Read(func(fd uintptr) bool {
		for {
			n, err := syscall.EpollWait(int(fd), evs, 0)
			if err == syscall.EINTR {
				continue
			}
			if err != nil {
				return true
			}
			for i := range evs[:n] {
				p.cmu.Lock()
				c := p.conns[token(&evs[i])]
				p.cmu.Unlock()
				switch {
				case c == nil:
				case i == n-1 && n < len(evs) && c.claim():
					claimed = c
					return true
				default:
					c.unpark()
				}
			}
			if n < len(evs) {
				return false // drained: the poller's trigger is edge
			}
		}
	})
	return claimed
}

// stop ends run; no connection parks afterwards.
func (p *parker) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.closed {
		p.closed = true
		p.f.Close()
	}
}
