package broker

import (
	"sync"
	"syscall"
)

// parker watches the sockets of parked connections with one epoll
// instance, so that an idle TCP connection holds no goroutine (see
// conn.park). Each socket is armed one-shot: the first sign of input or of
// the peer hanging up disarms it and hands the connection back to a
// reader goroutine. It uses only package syscall.
type parker struct {
	mu     sync.RWMutex // read-held around epoll_ctl, write-held to close
	epfd   int
	wake   [2]int // a pipe whose read end is in the set: a byte stops run
	closed bool

	cmu   sync.Mutex
	conns map[uint64]*conn // parked or once parked connections, by token
	next  uint64
}

const parkEvents = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT

// stopToken marks the pipe's event.
const stopToken = 0

func newParker() (*parker, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	p := &parker{epfd: epfd, conns: make(map[uint64]*conn)}
	if err := syscall.Pipe2(p.wake[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		syscall.Close(epfd)
		return nil, err
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN}
	setToken(&ev, stopToken)
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, p.wake[0], &ev); err != nil {
		p.closeFDs()
		return nil, err
	}
	return p, nil
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

// run waits for events until stop and resumes the connections they name.
func (p *parker) run() {
	defer p.closeFDs()
	evs := make([]syscall.EpollEvent, 128)
	for {
		n, err := syscall.EpollWait(p.epfd, evs, -1)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return
		}
		for i := range evs[:n] {
			t := token(&evs[i])
			if t == stopToken {
				return
			}
			p.cmu.Lock()
			c := p.conns[t]
			p.cmu.Unlock()
			if c != nil {
				c.unpark()
			}
		}
	}
}

// stop ends run; the caller no longer parks connections afterwards.
func (p *parker) stop() {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if !p.closed {
		syscall.Write(p.wake[1], []byte{1})
	}
}

func (p *parker) closeFDs() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	syscall.Close(p.epfd)
	syscall.Close(p.wake[0])
	syscall.Close(p.wake[1])
}
