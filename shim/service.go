// SPDX-License-Identifier: Apache-2.0

// service.go - containerd's Task service (containerd.task.v2.Task) for
// the containers of one pod.
//
// Events go out in the order containerd's own shims send them: TaskCreate
// once the container exists, TaskStart (TaskExecAdded, TaskExecStarted
// for an exec) once its process runs, TaskExit when it ends (never before
// its start event: one queue carries them all), TaskDelete when the
// container is deleted.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"path"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	eventstypes "github.com/containerd/containerd/api/events"
	taskapi "github.com/containerd/containerd/api/runtime/task/v2"
	"github.com/containerd/containerd/api/types/task"
	"github.com/containerd/fifo"
	msb "github.com/microsandbox/microsandbox/sdk/go"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// killedStatus is a process's exit status when its VM went away under
// it (as SIGKILL's 128+9).
const killedStatus = 137

type proc struct {
	mu       sync.Mutex
	id       string // the exec's id; "" for the container's own process
	spec     *specs.Process
	stdin    string
	stdout   string
	stderr   string
	terminal bool
	status   task.Status
	pid      uint32
	exit     uint32
	exitedAt time.Time
	p        *msb.Process
	cancel   context.CancelFunc
	in       *stdinFifo
	outs     []io.Closer
	done     chan struct{}
}

type container struct {
	id     string
	bundle string
	spec   *specs.Spec
	owner  bool
	init   *proc
	execs  map[string]*proc
}

type service struct {
	f     *flags
	group string
	dir   string
	name  string
	ev    *publisher

	mu         sync.Mutex
	sb         *msb.Sandbox
	containers map[string]*container
	exit       chan struct{}
	exitOnce   sync.Once
}

var _ taskapi.TaskService = (*service)(nil)

func newService(f *flags, group string) *service {
	return &service{f: f, group: group, dir: stateDir(f.address, f.namespace, group),
		name: sandboxName(f.address, f.namespace, group), ev: newPublisher(f.namespace),
		containers: map[string]*container{}, exit: make(chan struct{})}
}

func newProc(id string, p *specs.Process, stdin, stdout, stderr string, terminal bool) *proc {
	return &proc{id: id, spec: p, stdin: stdin, stdout: stdout, stderr: stderr, terminal: terminal,
		status: task.Status_CREATED, done: make(chan struct{})}
}

func (s *service) get(id, execID string) (*container, *proc, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.containers[id]
	if c == nil {
		return nil, nil, status.Errorf(codes.NotFound, "container %s: not in this pod's shim", id)
	}
	if c.init == nil {
		return nil, nil, status.Errorf(codes.NotFound, "container %s: being created", id)
	}
	if execID == "" {
		return c, c.init, nil
	}
	p := c.execs[execID]
	if p == nil {
		return nil, nil, status.Errorf(codes.NotFound, "exec %s of container %s: no such process", execID, id)
	}
	return c, p, nil
}

func hostDir(s *service, id string) string { return filepath.Join(podDir(s.dir), id) }

// boot makes the pod's microsandbox, with the pod's directory as a
// volume and the settings its annotations ask for.
func (s *service) boot(ctx context.Context, id, bundle string, spec *specs.Spec) error {
	opts, err := sandboxOptions(spec, s.dir)
	if err != nil {
		return err
	}
	// A microsandbox of this name is one a dead shim left behind.
	if old, err := msb.GetSandbox(ctx, s.name); err == nil {
		old.Remove(ctx)
		old.Close()
	}
	var sb *msb.Sandbox
	if netns := podNetns(spec); netns != "" {
		t := time.Now()
		if err := bootIn(ctx, s.f, id, bundle, netns); err != nil {
			return err
		}
		if sb, err = msb.GetSandbox(ctx, s.name); err != nil {
			return err
		}
		log.Printf("pod %s: microsandbox %s booted in %s in %v", s.group, s.name, netns, time.Since(t))
	} else {
		if sb, err = msb.NewSandboxContext(ctx, s.name, opts...); err != nil {
			return err
		}
		log.Printf("pod %s: microsandbox %s booted in %v", s.group, s.name, sb.BootTime())
	}
	s.mu.Lock()
	s.sb = sb
	s.mu.Unlock()
	return nil
}

func (s *service) sandbox() *msb.Sandbox {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sb
}

// removeSandbox removes the pod's microsandbox and what was mounted
// for it.
func (s *service) removeSandbox(ctx context.Context) {
	s.mu.Lock()
	sb := s.sb
	s.sb = nil
	s.mu.Unlock()
	if sb != nil {
		if err := sb.Remove(ctx); err != nil {
			log.Printf("pod %s: removing microsandbox %s: %v", s.group, s.name, err)
		}
		sb.Close()
	}
	unmountTree(podDir(s.dir))
	removeEmpty(podDir(s.dir))
}

func (s *service) Create(ctx context.Context, r *taskapi.CreateTaskRequest) (_ *taskapi.CreateTaskResponse, err error) {
	if r.Checkpoint != "" || r.ParentCheckpoint != "" {
		return nil, status.Errorf(codes.Unimplemented, "checkpoints are not supported by the msb runtime")
	}
	spec, err := loadSpec(r.Bundle)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "%v", err)
	}
	group, owner := podKey(r.ID, spec)
	if group != s.group {
		return nil, status.Errorf(codes.FailedPrecondition, "container %s belongs to pod %s, not to this shim's pod %s", r.ID, group, s.group)
	}
	c := &container{id: r.ID, bundle: r.Bundle, spec: spec, owner: owner, execs: map[string]*proc{}}
	s.mu.Lock()
	if s.containers[r.ID] != nil {
		s.mu.Unlock()
		return nil, status.Errorf(codes.AlreadyExists, "container %s exists", r.ID)
	}
	s.containers[r.ID] = c
	s.mu.Unlock()
	defer func() {
		if err != nil {
			s.mu.Lock()
			delete(s.containers, r.ID)
			s.mu.Unlock()
			if owner {
				s.removeSandbox(context.Background())
			}
			unmountTree(hostDir(s, r.ID))
			removeEmpty(hostDir(s, r.ID))
		}
	}()

	host := hostDir(s, r.ID)
	if err := mountRootfs(r.Bundle, r.Rootfs, spec, filepath.Join(host, "rootfs")); err != nil {
		return nil, status.Errorf(codes.Internal, "container %s: %v", r.ID, err)
	}
	binds := make([]string, len(spec.Mounts))
	for i, m := range spec.Mounts {
		if !isBind(m.Type, m.Options) || m.Destination == "/etc/resolv.conf" {
			continue
		}
		t := filepath.Join(host, "mnt", fmt.Sprint(i))
		if err := bindTarget(m.Source, t); err != nil {
			log.Printf("container %s: mount on %s skipped: %v", r.ID, m.Destination, err)
			continue
		}
		// Read-write on the host, read-only in the guest (setupScript):
		// the fs server knows a file by its device and inode, so a
		// source bound twice (a pod's /dev/shm, ro in its sandbox
		// container) must be writable through either mount.
		if err := mountOne("bind", m.Source, t, []string{"rbind"}); err != nil {
			return nil, status.Errorf(codes.Internal, "container %s: %v", r.ID, err)
		}
		binds[i] = path.Join(guestPodDir, r.ID, "mnt", fmt.Sprint(i))
	}
	for i, m := range spec.Mounts {
		if m.Destination == "/etc/resolv.conf" && isBind(m.Type, m.Options) {
			binds[i] = "/etc/resolv.conf"
		}
	}

	if owner {
		bctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		err := s.boot(bctx, r.ID, r.Bundle, spec)
		cancel()
		if err != nil {
			return nil, status.Errorf(codes.Unavailable, "pod %s: booting its microsandbox: %v", group, err)
		}
	}
	sb := s.sandbox()
	if sb == nil {
		return nil, status.Errorf(codes.FailedPrecondition, "pod %s has no running microsandbox (its sandbox container is gone)", group)
	}
	res, err := sb.Shell(ctx, setupScript(r.ID, spec, binds), msb.User("0:0"))
	if err != nil {
		return nil, status.Errorf(codes.Internal, "container %s: mounting its filesystems in the guest: %v", r.ID, err)
	}
	if res.ExitCode != 0 {
		return nil, status.Errorf(codes.Internal, "container %s: mounting its filesystems in the guest failed (%d): %s", r.ID, res.ExitCode, res.Stderr)
	}
	if len(res.Stderr) > 0 {
		log.Printf("container %s: %s", r.ID, res.Stderr)
	}
	var p *specs.Process
	if spec.Process != nil {
		p = spec.Process
	}
	c.init = newProc("", p, r.Stdin, r.Stdout, r.Stderr, r.Terminal)
	s.ev.publish("/tasks/create", &eventstypes.TaskCreate{
		ContainerID: r.ID, Bundle: r.Bundle, Rootfs: r.Rootfs, Checkpoint: r.Checkpoint,
		IO: &eventstypes.TaskIO{Stdin: r.Stdin, Stdout: r.Stdout, Stderr: r.Stderr, Terminal: r.Terminal},
	})
	return &taskapi.CreateTaskResponse{}, nil
}

// openIO opens a process's FIFOs: containerd (or ctr) holds their other
// ends already.
func (p *proc) openIO(ctx context.Context) ([]msb.ExecOption, error) {
	var opts []msb.ExecOption
	if p.stdin != "" {
		in, err := openStdin(p.stdin)
		if err != nil {
			return nil, fmt.Errorf("opening stdin %s: %w", p.stdin, err)
		}
		p.in = in
		opts = append(opts, msb.Stdin(in))
	}
	open := func(name string) (io.WriteCloser, error) {
		w, err := fifo.OpenFifo(ctx, name, syscall.O_WRONLY, 0)
		if err != nil {
			return nil, fmt.Errorf("opening %s: %w", name, err)
		}
		p.outs = append(p.outs, w)
		return w, nil
	}
	if p.stdout != "" {
		w, err := open(p.stdout)
		if err != nil {
			return nil, err
		}
		opts = append(opts, msb.Stdout(w))
	}
	if p.stderr != "" && !p.terminal {
		w, err := open(p.stderr)
		if err != nil {
			return nil, err
		}
		opts = append(opts, msb.Stderr(w))
	}
	return opts, nil
}

func (p *proc) closeIO() {
	if p.in != nil {
		p.in.Close()
	}
	for _, c := range p.outs {
		c.Close()
	}
}

func (s *service) Start(ctx context.Context, r *taskapi.StartRequest) (*taskapi.StartResponse, error) {
	c, p, err := s.get(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	sb := s.sandbox()
	if sb == nil {
		return nil, status.Errorf(codes.FailedPrecondition, "pod %s has no running microsandbox", s.group)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.status != task.Status_CREATED {
		return nil, status.Errorf(codes.FailedPrecondition, "container %s: process %q was started already", r.ID, r.ExecID)
	}
	if p.spec == nil {
		return nil, status.Errorf(codes.FailedPrecondition, "container %s has no process to start", r.ID)
	}
	argv, err := processArgv(c.id, p.spec)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "container %s: %v", r.ID, err)
	}
	octx, ocancel := context.WithTimeout(context.Background(), 30*time.Second)
	opts, err := p.openIO(octx)
	ocancel()
	if err != nil {
		p.closeIO()
		return nil, status.Errorf(codes.Internal, "container %s: %v", r.ID, err)
	}
	opts = append(opts, msb.User("0:0"))
	for _, e := range p.spec.Env {
		k, v, _ := cutEnv(e)
		opts = append(opts, msb.Env(k, v))
	}
	if p.terminal {
		rows, cols := uint(24), uint(80)
		if cs := p.spec.ConsoleSize; cs != nil && cs.Height > 0 && cs.Width > 0 {
			rows, cols = cs.Height, cs.Width
		}
		opts = append(opts, msb.TTY(rows, cols))
	}
	pctx, cancel := context.WithCancel(context.Background())
	proc, err := sb.Stream(pctx, argv, opts...)
	if err != nil {
		cancel()
		p.closeIO()
		return nil, status.Errorf(codes.Internal, "container %s: starting %q in the guest: %v", r.ID, p.spec.Args[0], err)
	}
	p.p, p.cancel, p.pid = proc, cancel, uint32(proc.Pid())
	p.status = task.Status_RUNNING
	if r.ExecID == "" {
		s.ev.publish("/tasks/start", &eventstypes.TaskStart{ContainerID: r.ID, Pid: p.pid})
	} else {
		s.ev.publish("/tasks/exec-started", &eventstypes.TaskExecStarted{ContainerID: r.ID, ExecID: r.ExecID, Pid: p.pid})
	}
	go s.reap(c, p)
	return &taskapi.StartResponse{Pid: p.pid}, nil
}

func cutEnv(e string) (string, string, bool) {
	for i := 0; i < len(e); i++ {
		if e[i] == '=' {
			return e[:i], e[i+1:], true
		}
	}
	return e, "", false
}

// reap waits for a process to end and reports it.
func (s *service) reap(c *container, p *proc) {
	res, err := p.p.Wait()
	code := uint32(killedStatus)
	if err == nil {
		code = uint32(res.ExitCode)
	} else {
		log.Printf("container %s: process %d: %v", c.id, p.pid, err)
	}
	p.closeIO()
	p.cancel()
	s.exited(c, p, code)
}

func (s *service) exited(c *container, p *proc, code uint32) {
	p.mu.Lock()
	if p.status == task.Status_STOPPED {
		p.mu.Unlock()
		return
	}
	p.status, p.exit, p.exitedAt = task.Status_STOPPED, code, time.Now()
	close(p.done)
	id := p.id
	if id == "" {
		id = c.id
	}
	ev := &eventstypes.TaskExit{ContainerID: c.id, ID: id, Pid: p.pid, ExitStatus: code, ExitedAt: timestamppb.New(p.exitedAt)}
	p.mu.Unlock()
	s.ev.publish("/tasks/exit", ev)
}

func (s *service) Kill(ctx context.Context, r *taskapi.KillRequest) (*emptypb.Empty, error) {
	c, p, err := s.get(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	procs := []*proc{p}
	if r.All && r.ExecID == "" {
		s.mu.Lock()
		for _, e := range c.execs {
			procs = append(procs, e)
		}
		s.mu.Unlock()
	}
	for i, q := range procs {
		q.mu.Lock()
		st, mp := q.status, q.p
		q.mu.Unlock()
		switch st {
		case task.Status_STOPPED:
			if i == 0 {
				return nil, status.Errorf(codes.NotFound, "container %s: process already finished", r.ID)
			}
		case task.Status_CREATED:
			// Never started: it ends here, as if killed.
			s.exited(c, q, 128+r.Signal)
		default:
			if err := mp.Signal(syscall.Signal(r.Signal)); err != nil && i == 0 {
				return nil, status.Errorf(codes.Internal, "container %s: signal %d: %v", r.ID, r.Signal, err)
			}
		}
	}
	return &emptypb.Empty{}, nil
}

func (s *service) Exec(ctx context.Context, r *taskapi.ExecProcessRequest) (*emptypb.Empty, error) {
	c, _, err := s.get(r.ID, "")
	if err != nil {
		return nil, err
	}
	if r.Spec == nil {
		return nil, status.Errorf(codes.InvalidArgument, "exec %s: no process spec", r.ExecID)
	}
	var ps specs.Process
	if err := json.Unmarshal(r.Spec.Value, &ps); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "exec %s: the process spec is no OCI process: %v", r.ExecID, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.execs[r.ExecID] != nil {
		return nil, status.Errorf(codes.AlreadyExists, "exec %s exists in container %s", r.ExecID, r.ID)
	}
	c.execs[r.ExecID] = newProc(r.ExecID, &ps, r.Stdin, r.Stdout, r.Stderr, r.Terminal)
	s.ev.publish("/tasks/exec-added", &eventstypes.TaskExecAdded{ContainerID: r.ID, ExecID: r.ExecID})
	return &emptypb.Empty{}, nil
}

func (s *service) ResizePty(ctx context.Context, r *taskapi.ResizePtyRequest) (*emptypb.Empty, error) {
	_, p, err := s.get(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	mp := p.p
	p.mu.Unlock()
	if mp == nil {
		return nil, status.Errorf(codes.FailedPrecondition, "container %s: process not running", r.ID)
	}
	if err := mp.Resize(uint(r.Height), uint(r.Width)); err != nil {
		// A process that has just exited has no terminal to size: ctr
		// resizes right after a start, and a short command may be done
		// by then (its exit is being recorded). Not an error to report.
		select {
		case <-p.done:
			return &emptypb.Empty{}, nil
		case <-time.After(2 * time.Second):
		}
		return nil, status.Errorf(codes.Internal, "container %s: resize: %v", r.ID, err)
	}
	return &emptypb.Empty{}, nil
}

func (s *service) CloseIO(ctx context.Context, r *taskapi.CloseIORequest) (*emptypb.Empty, error) {
	_, p, err := s.get(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	in := p.in
	p.mu.Unlock()
	if r.Stdin && in != nil {
		// The copy into the guest ends and closes the process's stdin.
		in.CloseWrite()
	}
	return &emptypb.Empty{}, nil
}

func (s *service) Wait(ctx context.Context, r *taskapi.WaitRequest) (*taskapi.WaitResponse, error) {
	_, p, err := s.get(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return &taskapi.WaitResponse{ExitStatus: p.exit, ExitedAt: timestamppb.New(p.exitedAt)}, nil
}

func (s *service) Delete(ctx context.Context, r *taskapi.DeleteRequest) (*taskapi.DeleteResponse, error) {
	c, p, err := s.get(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	if p.status == task.Status_RUNNING {
		p.mu.Unlock()
		return nil, status.Errorf(codes.FailedPrecondition, "container %s: process %q is running; kill it first", r.ID, r.ExecID)
	}
	resp := &taskapi.DeleteResponse{Pid: p.pid, ExitStatus: p.exit, ExitedAt: timestamppb.New(p.exitedAt)}
	p.mu.Unlock()
	if r.ExecID != "" {
		s.mu.Lock()
		delete(c.execs, r.ExecID)
		s.mu.Unlock()
		return resp, nil
	}
	if c.owner {
		s.removeSandbox(context.Background())
	} else if sb := s.sandbox(); sb != nil {
		if res, err := sb.Shell(ctx, teardownScript(c.id), msb.User("0:0")); err != nil || res.ExitCode != 0 {
			log.Printf("container %s: unmounting in the guest: %v", c.id, err)
		}
	}
	host := hostDir(s, c.id)
	if err := unmountTree(host); err != nil {
		log.Printf("container %s: %v", c.id, err)
	}
	if err := removeEmpty(host); err != nil {
		log.Printf("container %s: %v", c.id, err)
	}
	s.mu.Lock()
	delete(s.containers, c.id)
	s.mu.Unlock()
	s.ev.publish("/tasks/delete", &eventstypes.TaskDelete{ContainerID: c.id, Pid: resp.Pid,
		ExitStatus: resp.ExitStatus, ExitedAt: resp.ExitedAt})
	return resp, nil
}

func (s *service) State(ctx context.Context, r *taskapi.StateRequest) (*taskapi.StateResponse, error) {
	c, p, err := s.get(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	st := &taskapi.StateResponse{ID: r.ID, ExecID: r.ExecID, Bundle: c.bundle, Pid: p.pid, Status: p.status,
		Stdin: p.stdin, Stdout: p.stdout, Stderr: p.stderr, Terminal: p.terminal, ExitStatus: p.exit}
	if p.status == task.Status_STOPPED {
		st.ExitedAt = timestamppb.New(p.exitedAt)
	}
	return st, nil
}

func (s *service) Pids(ctx context.Context, r *taskapi.PidsRequest) (*taskapi.PidsResponse, error) {
	c, _, err := s.get(r.ID, "")
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	procs := []*proc{c.init}
	for _, e := range c.execs {
		procs = append(procs, e)
	}
	s.mu.Unlock()
	var out []*task.ProcessInfo
	for _, p := range procs {
		p.mu.Lock()
		if p.status == task.Status_RUNNING {
			out = append(out, &task.ProcessInfo{Pid: p.pid})
		}
		p.mu.Unlock()
	}
	return &taskapi.PidsResponse{Processes: out}, nil
}

func (s *service) Connect(ctx context.Context, r *taskapi.ConnectRequest) (*taskapi.ConnectResponse, error) {
	resp := &taskapi.ConnectResponse{ShimPid: uint32(os.Getpid())}
	if _, p, err := s.get(r.ID, ""); err == nil {
		p.mu.Lock()
		resp.TaskPid = p.pid
		p.mu.Unlock()
	}
	return resp, nil
}

// Shutdown ends the shim once its pod has no container left; containerd
// asks after deleting each of them.
func (s *service) Shutdown(ctx context.Context, r *taskapi.ShutdownRequest) (*emptypb.Empty, error) {
	s.mu.Lock()
	n := len(s.containers)
	s.mu.Unlock()
	if n == 0 {
		s.exitOnce.Do(func() { close(s.exit) })
	}
	return &emptypb.Empty{}, nil
}

func (s *service) Stats(ctx context.Context, r *taskapi.StatsRequest) (*taskapi.StatsResponse, error) {
	if _, _, err := s.get(r.ID, ""); err != nil {
		return nil, err
	}
	sb := s.sandbox()
	if sb == nil {
		return nil, status.Errorf(codes.FailedPrecondition, "pod %s has no running microsandbox", s.group)
	}
	st, err := sb.Stats(ctx)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "stats of %s: %v", s.name, err)
	}
	a, err := vmMetrics(st)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "stats of %s: %v", s.name, err)
	}
	return &taskapi.StatsResponse{Stats: a}, nil
}

var errUnsupported = errors.New("not supported by the msb runtime (docs/kubernetes.md)")

func (s *service) Pause(ctx context.Context, r *taskapi.PauseRequest) (*emptypb.Empty, error) {
	return nil, status.Errorf(codes.Unimplemented, "pause: %v", errUnsupported)
}

func (s *service) Resume(ctx context.Context, r *taskapi.ResumeRequest) (*emptypb.Empty, error) {
	return nil, status.Errorf(codes.Unimplemented, "resume: %v", errUnsupported)
}

func (s *service) Checkpoint(ctx context.Context, r *taskapi.CheckpointTaskRequest) (*emptypb.Empty, error) {
	return nil, status.Errorf(codes.Unimplemented, "checkpoint: %v", errUnsupported)
}

func (s *service) Update(ctx context.Context, r *taskapi.UpdateTaskRequest) (*emptypb.Empty, error) {
	return nil, status.Errorf(codes.Unimplemented, "update: %v (the microVM's size is set when the pod starts)", errUnsupported)
}
