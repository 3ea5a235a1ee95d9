// SPDX-License-Identifier: Apache-2.0

// lifecycle.go - the shim's three lives: start (find or spawn the pod's
// shim and print its address), serve (the daemon) and delete (clean up
// after a daemon that died).
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	taskapi "github.com/containerd/containerd/api/runtime/task/v2"
	"github.com/containerd/ttrpc"
	msb "github.com/microsandbox/microsandbox/sdk/go"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// start prints the address of the shim serving this container's pod,
// spawning it first if the pod has none. The address is a plain
// unix:// URL: containerd 1.6 reads nothing else, 2.x reads that too.
func start(f *flags) error {
	spec, err := loadSpec(f.bundle)
	if err != nil {
		return err
	}
	group, _ := podKey(f.id, spec)
	dir := stateDir(f.address, f.namespace, group)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	// Two containers of one pod may start at once: one spawns.
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return err
	}
	sock := socketPath(dir)
	addr := "unix://" + sock
	if c, err := net.Dial("unix", sock); err == nil {
		c.Close()
	} else {
		os.Remove(sock)
		l, err := net.Listen("unix", sock)
		if err != nil {
			return fmt.Errorf("listening on %s: %w", sock, err)
		}
		lf, err := l.(*net.UnixListener).File()
		if err != nil {
			return err
		}
		self, err := os.Executable()
		if err != nil {
			return err
		}
		args := []string{"-namespace", f.namespace, "-address", f.address,
			"-publish-binary", f.publish, "-id", f.id}
		if f.debug {
			args = append(args, "-debug")
		}
		cmd := exec.Command(self, args...)
		cmd.Dir = f.bundle
		cmd.ExtraFiles = []*os.File{lf}
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		// containerd reads this process's output to its end: the
		// daemon must not hold it.
		cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, nil, nil
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("spawning the shim: %w", err)
		}
		cmd.Process.Release()
		lf.Close()
		l.(*net.UnixListener).SetUnlinkOnClose(false)
		l.Close()
	}
	// containerd finds the shim again from here after a restart.
	if err := os.WriteFile(filepath.Join(f.bundle, "address"), []byte(addr), 0o600); err != nil {
		return err
	}
	_, err = fmt.Print(addr)
	return err
}

// serve is the daemon: the Task service on the listener `start` passed
// as descriptor 3, until containerd shuts it down.
func serve(f *flags) error {
	// containerd reads the bundle's log FIFO (it holds it open read and
	// write, so this open does not wait) into its own log: the shim's
	// log lines and, as its stderr, a panic's trace.
	if w, err := os.OpenFile(filepath.Join(f.bundle, "log"), os.O_WRONLY|unix.O_NONBLOCK, 0); err == nil {
		unix.Dup3(int(w.Fd()), 2, 0)
		unix.SetNonblock(2, false)
		w.Close()
	}
	log.SetOutput(os.Stderr)
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	log.SetPrefix("msb-shim: ")

	spec, err := loadSpec(f.bundle)
	if err != nil {
		return err
	}
	group, _ := podKey(f.id, spec)
	l, err := net.FileListener(os.NewFile(3, "shim socket"))
	if err != nil {
		return fmt.Errorf("the listener on descriptor 3 (given by start): %w", err)
	}
	s := newService(f, group)
	srv, err := ttrpc.NewServer()
	if err != nil {
		return err
	}
	taskapi.RegisterTaskService(srv, s)
	go func() {
		if err := srv.Serve(context.Background(), l); err != nil && !errors.Is(err, ttrpc.ErrServerClosed) {
			log.Printf("serving: %v", err)
		}
	}()
	log.Printf("pod %s: serving on %s", group, socketPath(s.dir))
	<-s.exit
	s.ev.close(5 * time.Second)
	sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
	srv.Shutdown(sctx)
	scancel()
	os.Remove(socketPath(s.dir))
	os.Remove(filepath.Join(s.dir, "lock"))
	os.Remove(podDir(s.dir))
	os.Remove(s.dir)
	return nil
}

// cleanup is `delete`: containerd runs it when a shim died, from the
// container's bundle. It removes what the dead shim left of the
// container (its mounts in the pod's directory) and, for the pod's own
// container, the pod's microsandbox, then prints the DeleteResponse.
func cleanup(f *flags) error {
	spec, _ := loadSpec(f.bundle)
	group, owner := podKey(f.id, spec)
	dir := stateDir(f.address, f.namespace, group)
	host := filepath.Join(podDir(dir), f.id)
	var errs []error
	if err := unmountTree(host); err != nil {
		errs = append(errs, err)
	}
	if owner {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		name := sandboxName(f.address, f.namespace, group)
		if sb, err := msb.GetSandbox(ctx, name); err == nil {
			if err := sb.Remove(ctx); err != nil && !errors.Is(err, msb.ErrNotFound) {
				errs = append(errs, fmt.Errorf("removing microsandbox %s: %w", name, err))
			}
			sb.Close()
		}
		cancel()
		if err := unmountTree(podDir(dir)); err != nil {
			errs = append(errs, err)
		}
		removeEmpty(podDir(dir))
		os.Remove(socketPath(dir))
		os.Remove(filepath.Join(dir, "lock"))
		os.Remove(dir)
	} else {
		removeEmpty(host)
	}
	for _, e := range errs {
		fmt.Fprintf(os.Stderr, "%v\n", e)
	}
	b, err := proto.Marshal(&taskapi.DeleteResponse{ExitedAt: timestamppb.Now(), ExitStatus: 128 + uint32(unix.SIGKILL)})
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(b)
	return err
}
