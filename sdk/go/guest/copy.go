// SPDX-License-Identifier: Apache-2.0

package guest

// Copies between this sandbox and a peer: the protocol's archive
// (docs/agent-protocol.md §7c, MSB_PCP_* in src/proto/proto.h), packed
// here for cp_in and unpacked here for cp_out with msb cp's docker cp
// rules. The host does the peer's side.

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"strings"
	"syscall"
	"unsafe"
)

const (
	pcpDir     = 'D'
	pcpFile    = 'F'
	pcpLink    = 'L'
	pcpEnd     = 'E'
	pcpChunk   = 64 * 1024
	pcpNameMax = 4095
	pcpDepth   = 128
)

// CopyOption configures a copy: User.
type CopyOption interface {
	applyCopy(c *copyConfig)
}

type copyConfig struct{ user string }

type copyFunc func(c *copyConfig)

func (f copyFunc) applyCopy(c *copyConfig) { f(c) }

// User is the peer's user the copy reads or writes its files as (a
// name, a uid or uid:gid; by default the peer's exec user).
func User(user string) CopyOption { return copyFunc(func(c *copyConfig) { c.user = user }) }

func copyOpts(opts []CopyOption) copyConfig {
	var c copyConfig
	for _, o := range opts {
		if o != nil {
			o.applyCopy(&c)
		}
	}
	return c
}

// localError is an error of this sandbox's files as an *Error whose code
// is its errno (ErrNotFound, ErrPermission... match it).
func localError(err error, what, path string) *Error {
	var en syscall.Errno
	code := -int(syscall.EIO)
	if errors.As(err, &en) {
		code = -int(en)
		err = en
	}
	return &Error{Op: what + " " + path, Code: code, Message: err.Error()}
}

// baseName is the copied item's name: @p's last component ("/" for "/").
func baseName(p string) string {
	q := strings.TrimRight(p, "/")
	if q == "" {
		return "/"
	}
	return q[strings.LastIndexByte(q, '/')+1:]
}

// contentsOnly is docker cp's SRC/. (or "/"): what is in the directory.
func contentsOnly(p string) bool {
	return strings.HasSuffix(p, "/.") || (p != "" && strings.Trim(p, "/") == "")
}

// CopyIn copies this sandbox's file, directory (with everything in it)
// or symlink @local into the peer's @peerPath with docker cp's rules (a
// file to an existing directory lands in it under its own name; a
// directory to a path that does not exist becomes it, to an existing one
// lands inside it, only its contents with a @local ending in "/."; modes
// and symlinks kept; sockets, fifos and devices skipped), through the
// host. User is the peer's user that owns what is made. Cancelling @ctx
// ends the copy.
func (p *Peer) CopyIn(ctx context.Context, local, peerPath string, opts ...CopyOption) error {
	op := "copy " + local + " into peer " + p.name
	var st syscall.Stat_t
	if err := syscall.Lstat(local, &st); err != nil {
		return localError(err, "cannot copy", local)
	}
	c := copyOpts(opts)
	req := &request{Op: "cp_in", Name: p.name, Path: peerPath, User: c.user}
	if st.Mode&syscall.S_IFMT == syscall.S_IFDIR && contentsOnly(local) {
		req.Contents = true
	}
	pr, pw := io.Pipe()
	defer pr.Close()
	go func() {
		w := bufio.NewWriterSize(pw, stdinChunk)
		err := pack(w, local, &st)
		if err == nil {
			err = w.Flush()
		}
		pw.CloseWithError(err)
	}()
	_, err := ask(ctx, op, req, pr, nil, nil)
	return err
}

func pcpRec(w *bufio.Writer, kind byte, mode uint32, name, link string) error {
	if len(name) > pcpNameMax || len(link) > pcpNameMax {
		return fail("copy", CodeInvalid, "%s: the name is too long (at most %d bytes)", name,
			pcpNameMax)
	}
	var h [7]byte
	h[0] = kind
	binary.BigEndian.PutUint32(h[1:], mode&07777)
	binary.BigEndian.PutUint16(h[5:], uint16(len(name)))
	w.Write(h[:])
	w.WriteString(name)
	if kind == pcpLink {
		var l [2]byte
		binary.BigEndian.PutUint16(l[:], uint16(len(link)))
		w.Write(l[:])
		w.WriteString(link)
	}
	return nil
}

// pack writes @src (lstat'ed as @st) to @w as an archive.
func pack(w *bufio.Writer, src string, st *syscall.Stat_t) error {
	base := baseName(src)
	var err error
	switch st.Mode & syscall.S_IFMT {
	case syscall.S_IFDIR:
		if err = pcpRec(w, pcpDir, st.Mode, base, ""); err == nil {
			err = packTree(w, src, "", 0)
		}
	case syscall.S_IFREG:
		if err = pcpRec(w, pcpFile, st.Mode, base, ""); err == nil {
			err = fileData(w, src)
		}
	case syscall.S_IFLNK:
		link, lerr := os.Readlink(src)
		if lerr != nil {
			return localError(lerr, "cannot read", src)
		}
		err = pcpRec(w, pcpLink, st.Mode, base, link)
	default:
		return fail("copy "+src, CodeInvalid, "%s is not a file, a directory or a symlink", src)
	}
	if err != nil {
		return err
	}
	return pcpRec(w, pcpEnd, 0, "", "")
}

// packTree writes what is in directory @root/@rel, each name below the
// copied item, sorted, a directory before what is in it; sockets, fifos
// and devices are not copied.
func packTree(w *bufio.Writer, root, rel string, depth int) error {
	here := root
	if rel != "" {
		here = root + "/" + rel
	}
	ents, err := os.ReadDir(here)
	if err != nil {
		return localError(err, "cannot read", here)
	}
	for _, e := range ents {
		name := e.Name()
		if rel != "" {
			name = rel + "/" + name
		}
		path := root + "/" + name
		var st syscall.Stat_t
		if syscall.Lstat(path, &st) != nil {
			continue // gone meanwhile
		}
		switch st.Mode & syscall.S_IFMT {
		case syscall.S_IFDIR:
			if depth >= pcpDepth {
				return fail("copy "+path, CodeInvalid, "%s: directories nested too deep", path)
			}
			if err := pcpRec(w, pcpDir, st.Mode, name, ""); err != nil {
				return err
			}
			if err := packTree(w, root, name, depth+1); err != nil {
				return err
			}
		case syscall.S_IFREG:
			if err := pcpRec(w, pcpFile, st.Mode, name, ""); err != nil {
				return err
			}
			if err := fileData(w, path); err != nil {
				return err
			}
		case syscall.S_IFLNK:
			link, err := os.Readlink(path)
			if err != nil {
				continue
			}
			if err := pcpRec(w, pcpLink, st.Mode, name, link); err != nil {
				return err
			}
		}
	}
	return nil
}

// fileData writes the file @path's bytes in chunks, then the chunk 0.
func fileData(w *bufio.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return localError(err, "cannot open", path)
	}
	defer f.Close()
	buf := make([]byte, pcpChunk)
	var n4 [4]byte
	for {
		n, err := io.ReadFull(f, buf)
		if n > 0 {
			binary.BigEndian.PutUint32(n4[:], uint32(n))
			w.Write(n4[:])
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return localError(err, "cannot read", path)
		}
	}
	binary.BigEndian.PutUint32(n4[:], 0)
	_, err = w.Write(n4[:])
	return err
}

// CopyOut copies the peer's file, directory or symlink @peerPath into
// this sandbox's @local with CopyIn's rules, unpacking it as it comes: a
// name that would land outside @local, or be reached through a symlink,
// is refused (ErrInvalid), and what came before it stays.
func (p *Peer) CopyOut(ctx context.Context, peerPath, local string, opts ...CopyOption) error {
	op := "copy " + peerPath + " out of peer " + p.name
	c := copyOpts(opts)
	up := &unpacker{op: op, src: peerPath, dst: local, rootfd: -1, fd: -1}
	defer up.close()
	if _, err := ask(ctx, op, &request{Op: "cp_out", Name: p.name, Path: peerPath,
		User: c.user}, nil, up, nil); err != nil {
		return err
	}
	if !up.done {
		return fail(op, CodeProtocol, "the copy ended before its end")
	}
	return nil
}

type dirMode struct {
	name string
	mode uint32
}

// unpacker is the archive of the peer's @src into this sandbox's @dst,
// written as it comes (docker cp's rules, as msb cp PEER:SRC DST applies
// them): a directory's names are reached one component at a time without
// following symlinks, none may leave it.
type unpacker struct {
	op, src, dst string
	buf          []byte
	root         bool   // the copied item's record came
	rootKind     byte   // its type
	rootMode     uint32 // its mode
	rootfd       int    // the directory its names are below, or -1
	made         bool   // that directory was made here (its mode is set last)
	fd           int    // the file being written, or -1
	fname        string
	inFile       bool // a file's chunks come next
	fmode        uint32
	dirs         []dirMode // set last, deepest first
	done         bool
}

func (u *unpacker) protocol(why string) *Error {
	return fail(u.op, CodeProtocol, "the copy's data is not an archive (%s)", why)
}

// Write takes the next bytes of the archive, cut anywhere.
func (u *unpacker) Write(p []byte) (int, error) {
	u.buf = append(u.buf, p...)
	off := 0
	for !u.done {
		var n int
		var err error
		if u.inFile {
			n, err = u.chunk(u.buf[off:])
		} else {
			n, err = u.record(u.buf[off:])
		}
		if err != nil {
			return 0, err
		}
		if n == 0 {
			break
		}
		off += n
	}
	u.buf = append(u.buf[:0], u.buf[off:]...)
	return len(p), nil
}

// chunk is one chunk of a file's bytes: what it used of @b (0: more is
// needed).
func (u *unpacker) chunk(b []byte) (int, error) {
	if len(b) < 4 {
		return 0, nil
	}
	n := int(binary.BigEndian.Uint32(b))
	if n > pcpChunk {
		return 0, u.protocol("a chunk over 64 KiB")
	}
	if len(b) < 4+n {
		return 0, nil
	}
	if n > 0 {
		if u.fd >= 0 {
			if err := writeAll(u.fd, b[4:4+n]); err != nil {
				return 0, localError(err, "cannot write", u.fname)
			}
		}
		return 4 + n, nil
	}
	u.inFile = false
	if u.fd >= 0 {
		syscall.Fchmod(u.fd, u.fmode)
		err := syscall.Close(u.fd)
		u.fd = -1
		if err != nil {
			return 0, localError(err, "cannot write", u.fname)
		}
	}
	return 4, nil
}

func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := syscall.Write(fd, b)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// record is one record: what it used of @b (0: more is needed).
func (u *unpacker) record(b []byte) (int, error) {
	if len(b) < 7 {
		return 0, nil
	}
	kind := b[0]
	mode := binary.BigEndian.Uint32(b[1:]) & 07777
	nl := int(binary.BigEndian.Uint16(b[5:]))
	if (kind != pcpDir && kind != pcpFile && kind != pcpLink && kind != pcpEnd) || nl > pcpNameMax {
		return 0, u.protocol("a bad record")
	}
	end := 7 + nl
	link := ""
	if kind == pcpLink {
		if len(b) < end+2 {
			return 0, nil
		}
		tl := int(binary.BigEndian.Uint16(b[end:]))
		if len(b) < end+2+tl {
			return 0, nil
		}
		link = string(b[end+2 : end+2+tl])
		end += 2 + tl
	}
	if len(b) < end {
		return 0, nil
	}
	name := string(b[7 : 7+nl])
	var err error
	switch {
	case !u.root:
		err = u.top(kind, mode, name, link)
	case kind == pcpEnd:
		err = u.finish()
	default:
		err = u.below(kind, mode, name, link)
	}
	if err != nil {
		return 0, err
	}
	return end, nil
}

// top is the copied item's record, placed with docker cp's rules.
func (u *unpacker) top(kind byte, mode uint32, name, link string) error {
	src, dst := u.src, u.dst
	if kind == pcpEnd {
		return fail(u.op, CodeProtocol, "the copy's data is an empty archive")
	}
	u.root, u.rootKind, u.rootMode = true, kind, mode
	st, serr := os.Stat(dst)
	exists := serr == nil
	isdir := exists && st.IsDir()
	bad := strings.Contains(name, "/") || name == "" || name == "." || name == ".."
	if isdir && bad && !(kind == pcpDir && contentsOnly(src)) {
		return fail(u.op, CodeInvalid, "%q is not a name to copy into %s", name, dst)
	}
	sep := "/"
	if strings.HasSuffix(dst, "/") {
		sep = ""
	}
	target := dst
	if kind == pcpDir {
		if exists && !isdir {
			return fail(u.op, CodeInvalid, "cannot copy the directory %s onto the file %s", src, dst)
		}
		if isdir && !contentsOnly(src) {
			target = dst + sep + name
			switch err := syscall.Mkdir(target, 0o700); err {
			case nil:
				u.made = true
			case syscall.EEXIST:
			default:
				return localError(err, "cannot make", target)
			}
		} else if !isdir {
			if err := syscall.Mkdir(dst, 0o700); err != nil {
				return localError(err, "cannot make", dst)
			}
			u.made = true
		}
		fd, err := syscall.Open(target, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
		if err != nil {
			return localError(err, "cannot open", target)
		}
		u.rootfd = fd
		return nil
	}
	if isdir {
		target = dst + sep + name
	} else if !exists && strings.HasSuffix(dst, "/") {
		return fail(u.op, CodeNotFound, "no directory %s here", dst)
	}
	if kind == pcpLink {
		syscall.Unlink(target)
		if err := os.Symlink(link, target); err != nil {
			return localError(err, "cannot make the symlink", target)
		}
		return nil
	}
	fd, err := syscall.Open(target, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_TRUNC|
		syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return localError(err, "cannot create", target)
	}
	u.fd, u.fname, u.fmode, u.inFile = fd, target, mode, true
	return nil
}

// nameOK: a name below the copied item (msb_fname_ok): relative, no
// empty, "." or ".." component, no NUL.
func nameOK(name string) bool {
	if name == "" || strings.ContainsRune(name, 0) || strings.HasPrefix(name, "/") {
		return false
	}
	for _, c := range strings.Split(name, "/") {
		if c == "" || c == "." || c == ".." {
			return false
		}
	}
	return true
}

// beneath is the directory holding @name below the copied item, reached
// without following symlinks, and @name's last component.
func (u *unpacker) beneath(name string) (int, string, error) {
	parts := strings.Split(name, "/")
	fd, err := syscall.Dup(u.rootfd)
	if err != nil {
		return -1, "", localError(err, "cannot reach the directory of", name)
	}
	for _, c := range parts[:len(parts)-1] {
		nfd, err := syscall.Openat(fd, c, syscall.O_RDONLY|syscall.O_DIRECTORY|
			syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
		syscall.Close(fd)
		if err != nil {
			return -1, "", localError(err, "cannot reach the directory of", name)
		}
		fd = nfd
	}
	return fd, parts[len(parts)-1], nil
}

func symlinkat(target string, dirfd int, name string) error {
	t, err := syscall.BytePtrFromString(target)
	if err != nil {
		return err
	}
	n, err := syscall.BytePtrFromString(name)
	if err != nil {
		return err
	}
	_, _, e := syscall.Syscall(syscall.SYS_SYMLINKAT, uintptr(unsafe.Pointer(t)),
		uintptr(dirfd), uintptr(unsafe.Pointer(n)))
	if e != 0 {
		return e
	}
	return nil
}

// below is a record named below the copied item (a directory).
func (u *unpacker) below(kind byte, mode uint32, name, link string) error {
	if u.rootKind != pcpDir {
		return u.protocol("more after a file")
	}
	if !nameOK(name) {
		return fail(u.op, CodeInvalid, "%q is not a name below %s: not copied", name, u.src)
	}
	pfd, leaf, err := u.beneath(name)
	if err != nil {
		return err
	}
	defer syscall.Close(pfd)
	switch kind {
	case pcpDir:
		if err := syscall.Mkdirat(pfd, leaf, 0o700); err != nil && err != syscall.EEXIST {
			return localError(err, "cannot make", name)
		}
		u.dirs = append(u.dirs, dirMode{name, mode})
	case pcpFile:
		fd, err := syscall.Openat(pfd, leaf, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_TRUNC|
			syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o600)
		if err != nil {
			return localError(err, "cannot create", name)
		}
		u.fd, u.fname, u.fmode, u.inFile = fd, name, mode, true
	default:
		syscall.Unlinkat(pfd, leaf)
		if err := symlinkat(link, pfd, leaf); err != nil {
			return localError(err, "cannot make the symlink", name)
		}
	}
	return nil
}

// finish sets the directories' modes last (one without write permission
// could not have been filled), deepest first.
func (u *unpacker) finish() error {
	for i := len(u.dirs) - 1; i >= 0; i-- {
		pfd, leaf, err := u.beneath(u.dirs[i].name)
		if err != nil {
			continue
		}
		fd, err := syscall.Openat(pfd, leaf, syscall.O_RDONLY|syscall.O_DIRECTORY|
			syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
		syscall.Close(pfd)
		if err == nil {
			syscall.Fchmod(fd, u.dirs[i].mode)
			syscall.Close(fd)
		}
	}
	if u.rootfd >= 0 && u.made {
		syscall.Fchmod(u.rootfd, u.rootMode)
	}
	u.done = true
	u.close()
	return nil
}

func (u *unpacker) close() {
	if u.fd >= 0 {
		syscall.Close(u.fd)
		u.fd = -1
	}
	if u.rootfd >= 0 {
		syscall.Close(u.rootfd)
		u.rootfd = -1
	}
}
