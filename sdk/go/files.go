// SPDX-License-Identifier: Apache-2.0

package msb

/*
#include <stdint.h>
#include <stdlib.h>
#include <msb.h>

extern void goCopyEvent(void *ctx, char *path, uint64_t done, uint64_t total);

static void msb_go_copy_event(void *ctx, const char *path, uint64_t done,
			      uint64_t total)
{
	goCopyEvent(ctx, (char *)path, done, total);
}

static void msb_go_copy_progress(msb_copy_opts *o, uintptr_t h)
{
	o->progress = msb_go_copy_event;
	o->ctx = (void *)h;
}
*/
import "C"

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"runtime/cgo"
	"sync"
	"time"
	"unsafe"
)

// FS is a sandbox's files, read and changed by the guest agent as a user
// of the sandbox (the User option; by default the one commands run as),
// so the guest's permissions apply. Relative paths start at the sandbox's
// working directory. Data streams both ways with flow control, so files
// larger than RAM pass in bounded memory. Errors from the guest carry its
// errno: errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOSPC).
type FS struct{ sb *Sandbox }

// FS is the sandbox's files.
func (sb *Sandbox) FS() *FS { return &FS{sb} }

// FileOption changes a file operation.
type FileOption interface {
	applyFile(c *fileConfig)
}

type fileConfig struct {
	user                                                   string
	mode                                                   fs.FileMode
	parents, recursive, exclusive, append, nofollow, modes bool
	progress                                               func(CopyEvent)
}

type fileFunc func(c *fileConfig)

func (f fileFunc) applyFile(c *fileConfig) { f(c) }

func (o UserOption) applyFile(c *fileConfig) { c.user = o.User }

// Mode sets the permission bits of a file written or a directory made
// exactly (default 0644 for a file, 0755 for a directory, less the umask
// 022).
func Mode(perm fs.FileMode) FileOption {
	return fileFunc(func(c *fileConfig) {
		c.mode, c.modes = perm.Perm()|perm&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky), true
	})
}

// Parents makes a written file's missing parent directories.
func Parents() FileOption { return fileFunc(func(c *fileConfig) { c.parents = true }) }

// Exclusive fails a write, mkdir or rename with ErrAlreadyExists if the
// path (for a rename, the new path) exists.
func Exclusive() FileOption { return fileFunc(func(c *fileConfig) { c.exclusive = true }) }

// Append writes at the end of the file instead of replacing it.
func Append() FileOption { return fileFunc(func(c *fileConfig) { c.append = true }) }

// CopyEvent is how a copy is going, as CopyProgress reports it (msb cp's
// progress): @Done of the @Total bytes of the file @Path (in the guest)
// have moved.
type CopyEvent struct {
	Path        string
	Done, Total uint64
}

// CopyProgress calls @f as each file of a CopyIn or CopyOut moves (a
// file with no bytes reports nothing), one call at a time from the thread
// doing the copy: @f should return quickly. Other operations ignore it.
func CopyProgress(f func(CopyEvent)) FileOption {
	return fileFunc(func(c *fileConfig) { c.progress = f })
}

// Recursive lists a whole tree (ReadDir: names relative to the listed
// directory, "a/b").
func Recursive() FileOption { return fileFunc(func(c *fileConfig) { c.recursive = true }) }

func fileOpts(m *cmem, opts []FileOption, extra ...FileOption) *C.msb_file_opts {
	var c fileConfig
	for _, o := range append(opts, extra...) {
		if o != nil {
			o.applyFile(&c)
		}
	}
	o := (*C.msb_file_opts)(m.alloc(int(unsafe.Sizeof(C.msb_file_opts{}))))
	o.user = m.str(c.user)
	if c.modes {
		mode := uint32(c.mode.Perm())
		if c.mode&fs.ModeSetuid != 0 {
			mode |= 04000
		}
		if c.mode&fs.ModeSetgid != 0 {
			mode |= 02000
		}
		if c.mode&fs.ModeSticky != 0 {
			mode |= 01000
		}
		o.mode = C.uint(mode)
	}
	o.parents = cbool(c.parents)
	o.recursive = cbool(c.recursive)
	o.exclusive = cbool(c.exclusive)
	o.append = cbool(c.append)
	o.nofollow = cbool(c.nofollow)
	return o
}

// ---- file info ----------------------------------------------------------------

// FileInfo describes a guest file; it is an fs.FileInfo.
type FileInfo struct {
	name     string
	typ      C.msb_file_type
	mode     uint32
	uid, gid uint32
	nlink    uint32
	size     int64
	mtime    time.Time
	link     string
}

func fileInfoFromC(c *C.msb_file_info, name string) *FileInfo {
	fi := &FileInfo{name: goString(&c.name[0]), typ: c._type, mode: uint32(c.mode),
		uid: uint32(c.uid), gid: uint32(c.gid), nlink: uint32(c.nlink), size: int64(c.size),
		mtime: time.Unix(int64(c.mtime), int64(c.mtime_nsec)), link: goString(&c.link[0])}
	if fi.name == "" {
		fi.name = name
	}
	return fi
}

// Name is the file's name: for ReadDir, relative to the listed directory;
// for Stat, the last element of the path.
func (f *FileInfo) Name() string { return f.name }

// Size is its length in bytes.
func (f *FileInfo) Size() int64 { return f.size }

// Mode is its type and permission bits.
func (f *FileInfo) Mode() fs.FileMode {
	m := fs.FileMode(f.mode & 0777)
	if f.mode&04000 != 0 {
		m |= fs.ModeSetuid
	}
	if f.mode&02000 != 0 {
		m |= fs.ModeSetgid
	}
	if f.mode&01000 != 0 {
		m |= fs.ModeSticky
	}
	switch f.typ {
	case C.MSB_FILE_DIR:
		m |= fs.ModeDir
	case C.MSB_FILE_SYMLINK:
		m |= fs.ModeSymlink
	case C.MSB_FILE_FIFO:
		m |= fs.ModeNamedPipe
	case C.MSB_FILE_SOCKET:
		m |= fs.ModeSocket
	case C.MSB_FILE_CHAR:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case C.MSB_FILE_BLOCK:
		m |= fs.ModeDevice
	case C.MSB_FILE_OTHER:
		m |= fs.ModeIrregular
	}
	return m
}

// ModTime is its modification time.
func (f *FileInfo) ModTime() time.Time { return f.mtime }

// IsDir tells whether it is a directory.
func (f *FileInfo) IsDir() bool { return f.typ == C.MSB_FILE_DIR }

// Sys is nil.
func (f *FileInfo) Sys() any { return nil }

// Uid is the owner's user id in the guest.
func (f *FileInfo) Uid() uint32 { return f.uid }

// Gid is the owner's group id in the guest.
func (f *FileInfo) Gid() uint32 { return f.gid }

// Nlink is its number of hard links.
func (f *FileInfo) Nlink() uint32 { return f.nlink }

// LinkTarget is a symlink's target, "" for anything else.
func (f *FileInfo) LinkTarget() string { return f.link }

var _ fs.FileInfo = (*FileInfo)(nil)

// ---- one-shot operations ---------------------------------------------------------

// call runs a one-shot file operation: @f gets the C handle and the path
// and options in C memory.
func (f *FS) call(ctx context.Context, op string, fn func(h *C.msb_sandbox, m *cmem, cerr *C.msb_error) C.int) error {
	h, err := f.sb.handle(op)
	if err != nil {
		return err
	}
	var m cmem
	return blocking(ctx, op, func(cerr *C.msb_error) C.int {
		defer m.free()
		r := fn(h, &m, cerr)
		if m.nul != "" {
			copyMessage(cerr, m.bad("").(*Error).Message)
			return C.int(codeInvalid)
		}
		return r
	})
}

// Stat describes @path, following a final symlink.
func (f *FS) Stat(ctx context.Context, path string, opts ...FileOption) (*FileInfo, error) {
	return f.stat(ctx, "stat "+path, path, opts, false)
}

// Lstat describes @path itself when it is a symlink.
func (f *FS) Lstat(ctx context.Context, path string, opts ...FileOption) (*FileInfo, error) {
	return f.stat(ctx, "lstat "+path, path, opts, true)
}

func (f *FS) stat(ctx context.Context, op, path string, opts []FileOption, nofollow bool) (*FileInfo, error) {
	ci := (*C.msb_file_info)(C.calloc(1, C.size_t(unsafe.Sizeof(C.msb_file_info{}))))
	defer C.free(unsafe.Pointer(ci))
	err := f.call(ctx, op, func(h *C.msb_sandbox, m *cmem, cerr *C.msb_error) C.int {
		o := fileOpts(m, opts, fileFunc(func(c *fileConfig) { c.nofollow = nofollow }))
		return C.msb_file_stat(h, m.strAlways(path), o, ci, cerr)
	})
	if err != nil {
		return nil, err
	}
	return fileInfoFromC(ci, baseName(path)), nil
}

func baseName(p string) string {
	for len(p) > 1 && p[len(p)-1] == '/' {
		p = p[:len(p)-1]
	}
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' && i < len(p)-1 {
			return p[i+1:]
		}
	}
	return p
}

// Exists tells whether @path exists (a dangling symlink does not).
func (f *FS) Exists(ctx context.Context, path string, opts ...FileOption) (bool, error) {
	var yes bool
	err := f.call(ctx, "exists "+path, func(h *C.msb_sandbox, m *cmem, cerr *C.msb_error) C.int {
		r := C.msb_file_exists(h, m.strAlways(path), fileOpts(m, opts), cerr)
		yes = r == 1
		if r > 0 {
			return 0
		}
		return r
	})
	return yes, err
}

// ReadDir lists the directory @path, sorted by name (with Recursive, the
// whole tree).
func (f *FS) ReadDir(ctx context.Context, path string, opts ...FileOption) ([]*FileInfo, error) {
	var arr *C.msb_file_info
	var n C.size_t
	err := f.call(ctx, "list "+path, func(h *C.msb_sandbox, m *cmem, cerr *C.msb_error) C.int {
		return C.msb_file_list(h, m.strAlways(path), fileOpts(m, opts), &arr, &n, cerr)
	})
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(arr))
	out := make([]*FileInfo, 0, int(n))
	for i := range unsafe.Slice(arr, int(n)) {
		out = append(out, fileInfoFromC(&unsafe.Slice(arr, int(n))[i], ""))
	}
	return out, nil
}

// Mkdir makes the directory @path (its parent must exist; Exclusive
// fails if it exists).
func (f *FS) Mkdir(ctx context.Context, path string, opts ...FileOption) error {
	return f.call(ctx, "mkdir "+path, func(h *C.msb_sandbox, m *cmem, cerr *C.msb_error) C.int {
		return C.msb_file_mkdir(h, m.strAlways(path), fileOpts(m, opts), cerr)
	})
}

// MkdirAll makes @path and its missing parents; an existing directory is
// fine (mkdir -p).
func (f *FS) MkdirAll(ctx context.Context, path string, opts ...FileOption) error {
	return f.Mkdir(ctx, path, append(opts, Parents())...)
}

// Remove removes the file, symlink or empty directory @path.
func (f *FS) Remove(ctx context.Context, path string, opts ...FileOption) error {
	return f.call(ctx, "remove "+path, func(h *C.msb_sandbox, m *cmem, cerr *C.msb_error) C.int {
		return C.msb_file_remove(h, m.strAlways(path), fileOpts(m, opts), cerr)
	})
}

// RemoveAll removes @path and, for a directory, everything in it.
func (f *FS) RemoveAll(ctx context.Context, path string, opts ...FileOption) error {
	return f.Remove(ctx, path, append(opts, Recursive())...)
}

// Rename moves @from to @to, replacing @to unless Exclusive.
func (f *FS) Rename(ctx context.Context, from, to string, opts ...FileOption) error {
	return f.call(ctx, "rename "+from, func(h *C.msb_sandbox, m *cmem, cerr *C.msb_error) C.int {
		return C.msb_file_rename(h, m.strAlways(from), m.strAlways(to), fileOpts(m, opts), cerr)
	})
}

// Symlink makes @path a symlink pointing at @target.
func (f *FS) Symlink(ctx context.Context, target, path string, opts ...FileOption) error {
	return f.call(ctx, "symlink "+path, func(h *C.msb_sandbox, m *cmem, cerr *C.msb_error) C.int {
		return C.msb_file_symlink(h, m.strAlways(target), m.strAlways(path), fileOpts(m, opts), cerr)
	})
}

// CopyIn copies the host file, directory or symlink @hostPath into the
// guest at @guestPath with docker cp's rules: a file to an existing
// directory lands in it under its own name; a directory to a path that
// does not exist becomes it, to an existing directory lands inside it
// (only its contents with a source ending in "/."). Modes are kept,
// symlinks copied as symlinks. The copy runs to its end once started.
func (f *FS) CopyIn(ctx context.Context, hostPath, guestPath string, opts ...FileOption) error {
	return f.call(ctx, "copy "+hostPath+" in", func(h *C.msb_sandbox, m *cmem, cerr *C.msb_error) C.int {
		o, done := copyOpts(m, opts)
		defer done()
		return C.msb_copy_in(h, m.strAlways(hostPath), m.strAlways(guestPath), o, cerr)
	})
}

// CopyOut copies the guest's @guestPath to the host at @hostPath, with
// CopyIn's rules; guest names that would land outside @hostPath are
// refused, and no symlink on the host below it is followed.
func (f *FS) CopyOut(ctx context.Context, guestPath, hostPath string, opts ...FileOption) error {
	return f.call(ctx, "copy "+guestPath+" out", func(h *C.msb_sandbox, m *cmem, cerr *C.msb_error) C.int {
		o, done := copyOpts(m, opts)
		defer done()
		return C.msb_copy_out(h, m.strAlways(guestPath), m.strAlways(hostPath), o, cerr)
	})
}

// copyOpts is a copy's options in @m, and what to call once libmsb is
// done with them.
func copyOpts(m *cmem, opts []FileOption) (*C.msb_copy_opts, func()) {
	var c fileConfig
	for _, o := range opts {
		if o != nil {
			o.applyFile(&c)
		}
	}
	o := (*C.msb_copy_opts)(m.alloc(int(unsafe.Sizeof(C.msb_copy_opts{}))))
	o.user = m.str(c.user)
	if c.progress == nil {
		return o, func() {}
	}
	ph := cgo.NewHandle(c.progress)
	C.msb_go_copy_progress(o, C.uintptr_t(ph))
	return o, ph.Delete
}

// ---- streams -------------------------------------------------------------------

// fileStream is one streaming operation's C handle and its descriptor in
// the poller.
type fileStream struct {
	ctx  context.Context
	op   string
	mu   sync.Mutex
	h    *C.msb_file
	fd   int
	pf   *pollFd
	done bool
	err  error
}

func (f *FS) open(ctx context.Context, op string, kind C.msb_file_op, path string, opts []FileOption) (*fileStream, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("msb: %s: %w", op, err)
	}
	h, err := f.sb.handle(op)
	if err != nil {
		return nil, err
	}
	var m cmem
	defer m.free()
	cpath := m.strAlways(path)
	o := fileOpts(&m, opts)
	if err := m.bad(op); err != nil {
		return nil, err
	}
	var cerr C.msb_error
	var fh *C.msb_file
	if r := C.msb_file_open(h, kind, cpath, o, &fh, &cerr); r < 0 {
		return nil, cError(op, r, &cerr)
	}
	s := &fileStream{ctx: ctx, op: op, h: fh, fd: int(C.msb_file_fd(fh))}
	if s.pf, err = thePoller.register(s.fd); err != nil {
		C.msb_file_free(fh)
		return nil, err
	}
	return s, nil
}

// next is the stream's next event, waiting in the poller (s.mu held).
func (s *fileStream) next(ev *C.msb_file_event) error {
	for {
		var cerr C.msb_error
		r := C.msb_file_next(s.h, ev, 0, &cerr)
		if r > 0 {
			return nil
		}
		if r < 0 {
			return cError(s.op, r, &cerr)
		}
		if err := thePoller.wait(s.ctx, s.pf, pollIn, nil); err != nil {
			return fmt.Errorf("msb: %s: %w", s.op, err)
		}
	}
}

func (s *fileStream) free() {
	if s.h != nil {
		thePoller.unregister(s.pf)
		C.msb_file_free(s.h)
		s.h = nil
	}
}

func (s *fileStream) closedError() error {
	return newError(s.op, codeClosed, "the file stream was closed")
}

// FileReader streams a guest file: an io.ReadCloser. Its context (Open's)
// bounds every Read.
type FileReader struct {
	s       *fileStream
	pending []byte
	size    int64
	closed  bool
}

// Open opens the guest file @path for reading as a stream.
func (f *FS) Open(ctx context.Context, path string, opts ...FileOption) (*FileReader, error) {
	s, err := f.open(ctx, "read "+path, C.MSB_FILE_READ, path, opts)
	if err != nil {
		return nil, err
	}
	return &FileReader{s: s}, nil
}

// Read reads the next bytes of the file; io.EOF at its end.
func (r *FileReader) Read(p []byte) (int, error) {
	s := r.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.closed {
		return 0, s.closedError()
	}
	if len(r.pending) > 0 {
		n := copy(p, r.pending)
		r.pending = r.pending[n:]
		return n, nil
	}
	if s.err != nil {
		return 0, s.err
	}
	if s.done {
		return 0, io.EOF
	}
	for {
		var ev C.msb_file_event
		if err := s.next(&ev); err != nil {
			s.err = err
			return 0, err
		}
		switch ev._type {
		case C.MSB_FILE_DATA:
			if ev.len == 0 {
				continue
			}
			data := unsafe.Slice((*byte)(unsafe.Pointer(ev.data)), int(ev.len))
			n := copy(p, data)
			if n < len(data) {
				r.pending = append(r.pending[:0], data[n:]...)
			}
			return n, nil
		case C.MSB_FILE_DONE:
			s.done = true
			r.size = int64(ev.size)
			s.free()
			return 0, io.EOF
		}
	}
}

// WriteTo streams the rest of the file into @w (io.Copy uses it), with
// one copy from libmsb's buffer to @w.
func (r *FileReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	if len(r.pending) > 0 {
		n, err := w.Write(r.pending)
		total += int64(n)
		r.pending = nil
		if err != nil {
			return total, err
		}
	}
	s := r.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.closed {
		return total, s.closedError()
	}
	for !s.done && s.err == nil {
		var ev C.msb_file_event
		if err := s.next(&ev); err != nil {
			s.err = err
			break
		}
		switch ev._type {
		case C.MSB_FILE_DATA:
			data := unsafe.Slice((*byte)(unsafe.Pointer(ev.data)), int(ev.len))
			n, err := w.Write(data)
			total += int64(n)
			if err != nil {
				return total, err
			}
		case C.MSB_FILE_DONE:
			s.done = true
			r.size = int64(ev.size)
			s.free()
		}
	}
	return total, s.err
}

// Close ends the stream (a read not at its end is abandoned).
func (r *FileReader) Close() error {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	r.closed = true
	r.pending = nil
	r.s.free()
	return nil
}

// FileWriter streams into a guest file: an io.WriteCloser. The data is
// only complete, and the guest's verdict known, once Close returns nil.
type FileWriter struct {
	s      *fileStream
	n      int64
	closed bool
}

// Create opens the guest file @path for writing as a stream, made if
// missing and emptied if not (unless Append; Exclusive refuses an
// existing one; Parents makes missing directories; Mode sets its bits).
func (f *FS) Create(ctx context.Context, path string, opts ...FileOption) (*FileWriter, error) {
	s, err := f.open(ctx, "write "+path, C.MSB_FILE_WRITE, path, opts)
	if err != nil {
		return nil, err
	}
	return &FileWriter{s: s}, nil
}

const fileChunk = 48 << 10 // bytes per message, as libmsb sends them

// Write sends @b, waiting (in the poller, not in C) while the guest's
// window and the socket are full. A failure the guest already reported
// (no such directory, no space) is returned here.
func (w *FileWriter) Write(b []byte) (int, error) {
	s := w.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if w.closed || s.h == nil {
		return 0, s.closedError()
	}
	if s.err != nil {
		return 0, s.err
	}
	n := 0
	for n < len(b) {
		chunk := b[n:]
		if len(chunk) > fileChunk {
			chunk = chunk[:fileChunk]
		}
		for !ready(s.fd, pollOut) {
			if err := thePoller.wait(s.ctx, s.pf, pollOut, nil); err != nil {
				s.err = fmt.Errorf("msb: %s: %w", s.op, err)
				return n, s.err
			}
		}
		var cerr C.msb_error
		if r := C.msb_file_write(s.h, unsafe.Pointer(&chunk[0]), C.size_t(len(chunk)), &cerr); r < 0 {
			s.err = cError(s.op, r, &cerr)
			return n, s.err
		}
		n += len(chunk)
		w.n += int64(len(chunk))
	}
	return n, nil
}

// ReadFrom streams @r into the file (io.Copy uses it).
func (w *FileWriter) ReadFrom(r io.Reader) (int64, error) {
	buf := make([]byte, 4*fileChunk)
	var total int64
	for {
		n, err := r.Read(buf)
		if n > 0 {
			m, werr := w.Write(buf[:n])
			total += int64(m)
			if werr != nil {
				return total, werr
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// Close ends the data and waits for the guest to confirm the write.
func (w *FileWriter) Close() error {
	s := w.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	defer s.free()
	if s.err != nil {
		return s.err
	}
	var cerr C.msb_error
	if r := C.msb_file_close_write(s.h, &cerr); r < 0 {
		return cError(s.op, r, &cerr)
	}
	for {
		var ev C.msb_file_event
		if err := s.next(&ev); err != nil {
			return err
		}
		if ev._type == C.MSB_FILE_DONE {
			return nil
		}
	}
}

// Abort abandons the write where it is (the guest keeps what it got).
func (w *FileWriter) Abort() {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	w.closed = true
	w.s.free()
}

// ---- whole files ------------------------------------------------------------

// ReadFile is the whole guest file @path.
func (f *FS) ReadFile(ctx context.Context, path string, opts ...FileOption) ([]byte, error) {
	r, err := f.Open(ctx, path, opts...)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// WriteFile writes @data to the guest file @path (options as Create).
func (f *FS) WriteFile(ctx context.Context, path string, data []byte, opts ...FileOption) error {
	w, err := f.Create(ctx, path, opts...)
	if err != nil {
		return err
	}
	if len(data) > 0 {
		if _, err := w.Write(data); err != nil {
			w.Abort()
			return err
		}
	}
	return w.Close()
}

// WriteFrom streams @r into the guest file @path (options as Create) and
// returns the bytes written; for files of any size.
func (f *FS) WriteFrom(ctx context.Context, path string, r io.Reader, opts ...FileOption) (int64, error) {
	w, err := f.Create(ctx, path, opts...)
	if err != nil {
		return 0, err
	}
	n, err := w.ReadFrom(r)
	if err != nil {
		w.Abort()
		return n, err
	}
	return n, w.Close()
}

// ReadTo streams the guest file @path into @w and returns the bytes read;
// for files of any size.
func (f *FS) ReadTo(ctx context.Context, path string, w io.Writer, opts ...FileOption) (int64, error) {
	r, err := f.Open(ctx, path, opts...)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	return r.WriteTo(w)
}
