// SPDX-License-Identifier: Apache-2.0

// stdin.go - a process's stdin FIFO, read until containerd's CloseIO.
//
// containerd keeps a writer of the FIFO open for the task's whole life,
// so the FIFO never reads as ended: CloseIO says it is. Bytes written
// before CloseIO may still sit in the pipe then; they are read before
// the end is reported, never dropped.
package main

import (
	"errors"
	"io"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

type stdinFifo struct {
	f       *os.File
	rc      syscall.RawConn
	closing atomic.Bool
}

func openStdin(path string) (*stdinFifo, error) {
	// Non-blocking: the runtime polls it, and a read deadline can wake
	// the copy at CloseIO.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &stdinFifo{f: f, rc: rc}, nil
}

func (s *stdinFifo) Read(b []byte) (int, error) {
	if !s.closing.Load() {
		n, err := s.f.Read(b)
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			return n, err
		}
	}
	// Ended by CloseIO: what is left in the pipe, then the end. Read on
	// the descriptor itself: RawConn.Read checks the deadline CloseIO
	// set before it reads, and would drop what is there.
	var n int
	var rerr error
	if err := s.rc.Control(func(fd uintptr) {
		n, rerr = unix.Read(int(fd), b)
	}); err != nil || rerr != nil || n <= 0 {
		return 0, io.EOF
	}
	return n, nil
}

// CloseWrite reports the end of input once the pipe is drained.
func (s *stdinFifo) CloseWrite() {
	s.closing.Store(true)
	s.f.SetReadDeadline(time.Now())
}

func (s *stdinFifo) Close() error { return s.f.Close() }
