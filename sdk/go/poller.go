// SPDX-License-Identifier: Apache-2.0

package msb

// How streams wait. Every exec and file stream of libmsb is a socket
// whose descriptor (msb_exec_fd, msb_file_fd) is polled before the
// library is asked for its next event with a zero timeout, so no call
// into C ever waits for the guest.
//
// The descriptors are libmsb's, so their flags are not ours to change
// (the runtime's netpoller wants them non-blocking). Instead they all go
// into one epoll instance of this package, level-triggered and one-shot,
// and that epoll descriptor (non-blocking, ours) is itself handed to the
// runtime's netpoller through os.NewFile: one goroutine reads its events
// and wakes the goroutine waiting on each stream. No OS thread is held
// while a stream waits, however many there are.

import (
	"context"
	"os"
	"sync"
	"syscall"
	"unsafe"
)

const (
	pollIn  = uint32(syscall.EPOLLIN)
	pollOut = uint32(syscall.EPOLLOUT)
)

type poller struct {
	once sync.Once
	err  error
	epfd int
	file *os.File // keeps the epoll descriptor open (and in the netpoller)

	mu  sync.Mutex
	fds map[int32]*pollFd
}

// pollFd is one registered descriptor: a waiter for reading and one for
// writing, each woken once per arming.
type pollFd struct {
	fd      int32
	in, out chan struct{}
	want    uint32
	added   bool
	removed bool
}

var thePoller poller

func (p *poller) start() error {
	p.once.Do(func() {
		fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			p.err = newError("poll", -int(err.(syscall.Errno)), "epoll_create1: %v", err)
			return
		}
		if err := syscall.SetNonblock(fd, true); err != nil {
			syscall.Close(fd)
			p.err = newError("poll", -int(err.(syscall.Errno)), "epoll descriptor: %v", err)
			return
		}
		p.epfd = fd
		p.fds = map[int32]*pollFd{}
		p.file = os.NewFile(uintptr(fd), "msb-epoll")
		rc, err := p.file.SyscallConn()
		if err != nil {
			p.err = newError("poll", codeInvalid, "epoll descriptor: %v", err)
			return
		}
		go p.loop(rc)
	})
	return p.err
}

func (p *poller) loop(rc syscall.RawConn) {
	events := make([]syscall.EpollEvent, 128)
	for {
		// The netpoller calls this when the epoll descriptor polls
		// readable; false means "nothing yet, wait again".
		err := rc.Read(func(uintptr) bool {
			n, err := syscall.EpollWait(p.epfd, events, 0)
			if err != nil || n <= 0 {
				return false
			}
			p.dispatch(events[:n])
			return true
		})
		if err != nil {
			return // the descriptor was closed: never, in practice
		}
	}
}

func (p *poller) dispatch(evs []syscall.EpollEvent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ev := range evs {
		pf := p.fds[ev.Fd]
		if pf == nil || pf.removed {
			continue
		}
		bad := ev.Events&(syscall.EPOLLHUP|syscall.EPOLLERR) != 0
		if pf.want&pollIn != 0 && (ev.Events&(syscall.EPOLLIN|syscall.EPOLLRDHUP) != 0 || bad) {
			pf.want &^= pollIn
			wake(pf.in)
		}
		if pf.want&pollOut != 0 && (ev.Events&syscall.EPOLLOUT != 0 || bad) {
			pf.want &^= pollOut
			wake(pf.out)
		}
		if pf.want != 0 {
			p.ctl(pf)
		}
	}
}

func wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// ctl arms @pf for what it wants (p.mu held).
func (p *poller) ctl(pf *pollFd) {
	ev := syscall.EpollEvent{Events: pf.want | syscall.EPOLLONESHOT, Fd: pf.fd}
	op := syscall.EPOLL_CTL_MOD
	if !pf.added {
		op = syscall.EPOLL_CTL_ADD
	}
	if err := syscall.EpollCtl(p.epfd, op, int(pf.fd), &ev); err != nil {
		// Cannot watch it: wake both sides, whose next call into
		// libmsb reports what is wrong with the stream.
		wake(pf.in)
		wake(pf.out)
		return
	}
	pf.added = true
}

// register adds libmsb's descriptor @fd (nothing armed yet).
func (p *poller) register(fd int) (*pollFd, error) {
	if err := p.start(); err != nil {
		return nil, err
	}
	pf := &pollFd{fd: int32(fd), in: make(chan struct{}, 1), out: make(chan struct{}, 1)}
	p.mu.Lock()
	p.fds[pf.fd] = pf
	p.mu.Unlock()
	return pf, nil
}

// unregister forgets @pf; it must come before libmsb closes the
// descriptor (msb_exec_free, msb_file_free).
func (p *poller) unregister(pf *pollFd) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pf.removed {
		return
	}
	pf.removed = true
	if pf.added {
		syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, int(pf.fd), nil)
	}
	if p.fds[pf.fd] == pf {
		delete(p.fds, pf.fd)
	}
}

// wait blocks until @pf is readable (pollIn) or writable (pollOut), or
// @ctx or @stop ends. A wake may be spurious: the caller asks libmsb
// with a zero timeout and waits again if there was nothing.
func (p *poller) wait(ctx context.Context, pf *pollFd, what uint32, stop <-chan struct{}) error {
	ch := pf.in
	if what == pollOut {
		ch = pf.out
	}
	p.mu.Lock()
	if pf.removed {
		p.mu.Unlock()
		return ErrClosed
	}
	if pf.want&what == 0 {
		pf.want |= what
		p.ctl(pf)
	}
	p.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-stop:
		return ErrClosed
	}
}

// ready tells whether @fd polls @what now, without waiting.
func ready(fd int, what uint32) bool {
	type pollfd struct {
		fd             int32
		events, revent int16
	}
	ev := int16(syscall.EPOLLIN)
	if what == pollOut {
		ev = int16(syscall.EPOLLOUT)
	}
	pfd := pollfd{fd: int32(fd), events: ev}
	var ts syscall.Timespec
	n, _, e := syscall.Syscall6(syscall.SYS_PPOLL, uintptr(unsafe.Pointer(&pfd)), 1,
		uintptr(unsafe.Pointer(&ts)), 0, 0, 0)
	return e == 0 && n == 1
}
