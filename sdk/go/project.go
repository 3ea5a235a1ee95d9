// SPDX-License-Identifier: Apache-2.0

package msb

/*
#include <stdint.h>
#include <stdlib.h>
#include <msb.h>

extern void goProjectEvent(void *ctx, msb_project_event *e);

static void msb_go_project_event(void *ctx, const msb_project_event *e)
{
	goProjectEvent(ctx, (msb_project_event *)e);
}

static void msb_go_project_progress(msb_project_opts *o, uintptr_t h)
{
	o->progress = msb_go_project_event;
	o->ctx = (void *)h;
}
*/
import "C"

import (
	"context"
	"errors"
	"os"
	"regexp"
	"runtime"
	"runtime/cgo"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// A Project is a loaded Sandboxfile (docs/projects.md): the sandboxes and
// named volumes it declares, brought up and down together as msb project
// does. Sandbox KEY of project P is the sandbox "P-KEY". Loading checks
// the whole file and starts nothing.
//
//	p, err := msb.LoadProject(ctx, "Sandboxfile")
//	err = p.Up(ctx)
//	res, err := p.Run(ctx, "api", "test")
//	err = p.Down(ctx, msb.ProjectVolumes())
type Project struct {
	mu sync.Mutex
	p  *C.msb_project
}

// SandboxfileError is a Sandboxfile that cannot be used (an unknown key,
// a wrong type, a bad value, a dependency cycle): where it is wrong, and
// the *Error (ErrInvalid) with libmsb's message, which starts with
// "FILE:LINE:COL: ".
type SandboxfileError struct {
	File   string
	Line   int
	Column int
	Err    *Error
}

func (e *SandboxfileError) Error() string { return e.Err.Error() }

// Unwrap is the *Error, so errors.Is(err, ErrInvalid) holds.
func (e *SandboxfileError) Unwrap() error { return e.Err }

// "FILE:LINE:COL: what", as src/lib/sandboxfile.c writes its messages.
var sandboxfileWhere = regexp.MustCompile(`^(.+?):(\d+):(\d+): `)

// projectError is @err as a *SandboxfileError when it names a place in a
// file.
func projectError(err error) error {
	var me *Error
	if !errors.As(err, &me) || me.Code != codeInvalid {
		return err
	}
	m := sandboxfileWhere.FindStringSubmatch(me.Message)
	if m == nil {
		return err
	}
	line, _ := strconv.Atoi(m[2])
	col, _ := strconv.Atoi(m[3])
	return &SandboxfileError{File: m[1], Line: line, Column: col, Err: me}
}

func newProject(p *C.msb_project) *Project {
	pr := &Project{p: p}
	runtime.SetFinalizer(pr, (*Project).Close)
	return pr
}

// LoadProject reads and checks the Sandboxfile @path; "" finds it as msb
// project does (Sandboxfile here or in the nearest directory above).
func LoadProject(ctx context.Context, path string) (*Project, error) {
	op := "load project"
	if path != "" {
		op += " " + path
	}
	var p *C.msb_project
	err := blocking(ctx, op, func(cerr *C.msb_error) C.int {
		var cpath *C.char
		if path != "" {
			cpath = C.CString(path)
			defer C.free(unsafe.Pointer(cpath))
		}
		return C.msb_project_load(cpath, &p, cerr)
	})
	if err != nil {
		return nil, projectError(err)
	}
	return newProject(p), nil
}

// ParseProject is LoadProject of @text, as if read from @path (which
// names it in errors and anchors its relative paths).
func ParseProject(ctx context.Context, text []byte, path string) (*Project, error) {
	op := "parse project " + path
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	ctext := C.CBytes(append(text, 0))
	defer C.free(ctext)
	var p *C.msb_project
	var cerr C.msb_error
	if r := C.msb_project_parse((*C.char)(ctext), C.size_t(len(text)), cpath, &p, &cerr); r < 0 {
		return nil, projectError(cError(op, r, &cerr))
	}
	return newProject(p), nil
}

// Close frees the loaded file; the sandboxes are not touched.
func (pr *Project) Close() error {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if pr.p != nil {
		C.msb_project_free(pr.p)
		pr.p = nil
	}
	return nil
}

// use is the C project, or ErrClosed.
func (pr *Project) use(op string) (*C.msb_project, error) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if pr.p == nil {
		return nil, newError(op, codeClosed, "the project was closed")
	}
	return pr.p, nil
}

// Name is the project's name.
func (pr *Project) Name() string {
	p, err := pr.use("project name")
	if err != nil {
		return ""
	}
	return C.GoString(C.msb_project_name(p))
}

// File is the Sandboxfile's absolute path.
func (pr *Project) File() string {
	p, err := pr.use("project file")
	if err != nil {
		return ""
	}
	return C.GoString(C.msb_project_file(p))
}

// ProjectSandbox is a sandbox of the file: its key and its name.
type ProjectSandbox struct {
	Key  string // "api"
	Name string // "my-project-api"
}

// Sandboxes is the file's sandboxes in start order (dependencies first).
func (pr *Project) Sandboxes() []ProjectSandbox {
	p, err := pr.use("project sandboxes")
	if err != nil {
		return nil
	}
	n := int(C.msb_project_count(p))
	out := make([]ProjectSandbox, 0, n)
	for i := 0; i < n; i++ {
		var name *C.char
		key := C.msb_project_sandbox(p, C.size_t(i), &name)
		out = append(out, ProjectSandbox{Key: C.GoString(key), Name: C.GoString(name)})
	}
	return out
}

// Config is the project as msb resolves it (msb project config), JSON.
func (pr *Project) Config() ([]byte, error) {
	p, err := pr.use("project config")
	if err != nil {
		return nil, err
	}
	var js *C.char
	var cerr C.msb_error
	if r := C.msb_project_config_json(p, &js, &cerr); r < 0 {
		return nil, cError("project config", r, &cerr)
	}
	defer C.free(unsafe.Pointer(js))
	return []byte(C.GoString(js)), nil
}

// ProjectEvent is a step of Up, Down, Stop or Restart.
type ProjectEvent struct {
	Sandbox  string        // its key in the file; "" for a volume or an orphan
	Name     string        // the sandbox's or the volume's name
	What     string        // "creating", "created", "up-to-date", "stopped", "removed", "volume created", ...
	Duration time.Duration // how long a finished step took
	Detail   string
}

// ProjectOption sets how Up, Down, Stop and Restart go.
type ProjectOption func(*projectConfig)

type projectConfig struct {
	only     []string
	timeout  time.Duration
	volumes  bool
	progress func(ProjectEvent)
}

// ProjectOnly limits Up (those and what they depend on), Stop and Restart
// to the sandboxes of these keys.
func ProjectOnly(keys ...string) ProjectOption {
	return func(c *projectConfig) { c.only = append(c.only, keys...) }
}

// ProjectStopTimeout is how long each guest gets to power off before it
// is killed (default 10 s).
func ProjectStopTimeout(d time.Duration) ProjectOption {
	return func(c *projectConfig) { c.timeout = d }
}

// ProjectVolumes makes Down remove the named volumes the project made
// too (they are kept otherwise).
func ProjectVolumes() ProjectOption {
	return func(c *projectConfig) { c.volumes = true }
}

// ProjectProgress calls @f with each step as it happens, one call at a
// time, from the goroutines that start sandboxes.
func ProjectProgress(f func(ProjectEvent)) ProjectOption {
	return func(c *projectConfig) { c.progress = f }
}

type projectCall func(p *C.msb_project, o *C.msb_project_opts, cerr *C.msb_error) C.int

// run calls @call with the options @opts make, off the caller's goroutine
// so that @ctx can end the wait (the call itself goes on).
func (pr *Project) run(ctx context.Context, op string, call projectCall, opts []ProjectOption) error {
	p, err := pr.use(op)
	if err != nil {
		return err
	}
	cfg := projectConfig{timeout: 10 * time.Second}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	for _, k := range cfg.only {
		if k == "" || strings.IndexByte(k, 0) >= 0 {
			return newError(op, codeInvalid, "a sandbox is named by its key in the Sandboxfile, not %q", k)
		}
	}
	err = blocking(ctx, op, func(cerr *C.msb_error) C.int {
		var m cmem
		defer m.free()
		o := (*C.msb_project_opts)(m.alloc(int(unsafe.Sizeof(C.msb_project_opts{}))))
		C.msb_project_opts_init(o)
		if len(cfg.only) > 0 {
			o.only = m.strv(cfg.only)
		}
		o.stop_timeout_s = C.uint(cfg.timeout / time.Second)
		o.volumes = cbool(cfg.volumes)
		if cfg.progress != nil {
			h := cgo.NewHandle(cfg.progress)
			defer h.Delete()
			C.msb_go_project_progress(o, C.uintptr_t(h))
		}
		r := call(p, o, cerr)
		runtime.KeepAlive(pr)
		return r
	})
	return projectError(err)
}

// Up makes the named volumes that are missing, then each sandbox that is
// missing, recreates each whose definition changed, starts each that is
// stopped and leaves the rest: a second Up changes nothing. Independent
// sandboxes start in parallel; one that fails stops the Up, and the error
// ends with its log's last lines.
func (pr *Project) Up(ctx context.Context, opts ...ProjectOption) error {
	return pr.run(ctx, "project up", func(p *C.msb_project, o *C.msb_project_opts, e *C.msb_error) C.int {
		return C.msb_project_up(p, o, e)
	}, opts)
}

// Down stops and removes every sandbox of the project (those no longer in
// the file too), in the reverse of the start order; named volumes are
// kept unless ProjectVolumes is given.
func (pr *Project) Down(ctx context.Context, opts ...ProjectOption) error {
	return pr.run(ctx, "project down", func(p *C.msb_project, o *C.msb_project_opts, e *C.msb_error) C.int {
		return C.msb_project_down(p, o, e)
	}, opts)
}

// Stop stops the project's running sandboxes (reverse order), keeping
// them: Up starts them again.
func (pr *Project) Stop(ctx context.Context, opts ...ProjectOption) error {
	return pr.run(ctx, "project stop", func(p *C.msb_project, o *C.msb_project_opts, e *C.msb_error) C.int {
		return C.msb_project_stop(p, o, e)
	}, opts)
}

// Restart stops the project's running sandboxes and starts them again,
// their disks as they were.
func (pr *Project) Restart(ctx context.Context, opts ...ProjectOption) error {
	return pr.run(ctx, "project restart", func(p *C.msb_project, o *C.msb_project_opts, e *C.msb_error) C.int {
		return C.msb_project_restart(p, o, e)
	}, opts)
}

// ProjectEntry is a line of Ps.
type ProjectEntry struct {
	Key    string
	Name   string
	Status string // as SandboxInfo's, or "missing"
	State  string // "current", "changed" (Up recreates it), "missing", "orphan"
	Image  string
}

// Ps is the file's sandboxes in start order, then orphans (the
// project's sandboxes no longer in the file).
func (pr *Project) Ps(ctx context.Context) ([]ProjectEntry, error) {
	p, err := pr.use("project ps")
	if err != nil {
		return nil, err
	}
	var arr *C.msb_project_entry
	var n C.size_t
	err = blocking(ctx, "project ps", func(cerr *C.msb_error) C.int {
		return C.msb_project_ps(p, &arr, &n, cerr)
	})
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(arr))
	out := make([]ProjectEntry, 0, int(n))
	for _, e := range unsafe.Slice(arr, int(n)) {
		out = append(out, ProjectEntry{Key: goString(&e.key[0]), Name: goString(&e.name[0]),
			Status: goString(&e.status[0]), State: goString(&e.state[0]), Image: goString(&e.image[0])})
	}
	runtime.KeepAlive(pr)
	return out, nil
}

// name is the sandbox name of key @key.
func (pr *Project) name(op, key string) (string, error) {
	var keys []string
	for _, s := range pr.Sandboxes() {
		if s.Key == key {
			return s.Name, nil
		}
		keys = append(keys, s.Key)
	}
	return "", newError(op, codeInvalid, "no sandbox '%s' in %s: it has %s", key, pr.File(),
		strings.Join(keys, ", "))
}

// Sandbox is a handle on the sandbox of key @key (ErrNotFound before Up
// makes it); Close it when done.
func (pr *Project) Sandbox(ctx context.Context, key string) (*Sandbox, error) {
	name, err := pr.name("project sandbox", key)
	if err != nil {
		return nil, err
	}
	return GetSandbox(ctx, name)
}

// Exec is Sandbox.Exec in the sandbox of key @key.
func (pr *Project) Exec(ctx context.Context, key, cmdline string, opts ...ExecOption) (*ExecResult, error) {
	argv, err := SplitCommand(cmdline)
	if err != nil {
		return nil, err
	}
	return pr.ExecArgs(ctx, key, argv, opts...)
}

// ExecArgs is Sandbox.ExecArgs in the sandbox of key @key.
func (pr *Project) ExecArgs(ctx context.Context, key string, argv []string, opts ...ExecOption) (*ExecResult, error) {
	sb, err := pr.Sandbox(ctx, key)
	if err != nil {
		return nil, err
	}
	defer sb.Close()
	return sb.ExecArgs(ctx, argv, opts...)
}

// Run runs script @script of the sandbox of key @key (its scripts:) as
// ExecArgs runs a command: its exit status is the script's.
func (pr *Project) Run(ctx context.Context, key, script string, opts ...ExecOption) (*ExecResult, error) {
	op := "project run " + key + " " + script
	p, err := pr.use(op)
	if err != nil {
		return nil, err
	}
	ckey, cscript := C.CString(key), C.CString(script)
	defer C.free(unsafe.Pointer(ckey))
	defer C.free(unsafe.Pointer(cscript))
	var argv **C.char
	var cerr C.msb_error
	if r := C.msb_project_script(p, ckey, cscript, &argv, &cerr); r < 0 {
		return nil, cError(op, r, &cerr)
	}
	var words []string
	for i := 0; ; i++ {
		w := *(**C.char)(unsafe.Add(unsafe.Pointer(argv), uintptr(i)*unsafe.Sizeof(argv)))
		if w == nil {
			break
		}
		words = append(words, C.GoString(w))
	}
	C.free(unsafe.Pointer(argv))
	runtime.KeepAlive(pr)
	return pr.ExecArgs(ctx, key, words, opts...)
}

// Logs is the log of the sandbox of key @key (msb logs: its guest
// console, msb's lines and its detached command's output); with @tail >
// 0, its last @tail lines only.
func (pr *Project) Logs(ctx context.Context, key string, tail int) (string, error) {
	sb, err := pr.Sandbox(ctx, key)
	if err != nil {
		return "", err
	}
	defer sb.Close()
	path, err := sb.LogPath()
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s := string(b)
	if tail > 0 {
		lines := strings.SplitAfter(s, "\n")
		if lines[len(lines)-1] == "" {
			lines = lines[:len(lines)-1]
		}
		if len(lines) > tail {
			lines = lines[len(lines)-tail:]
		}
		s = strings.Join(lines, "")
	}
	return s, nil
}
