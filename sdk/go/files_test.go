// SPDX-License-Identifier: Apache-2.0

package msb_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	msb "github.com/microsandbox/microsandbox/sdk/go"
)

func TestFilesWholeAndOneShot(t *testing.T) {
	sb := sharedSandbox(t)
	ctx := testCtx(t)
	f := sb.FS()
	dir := "/tmp/" + unique("files")
	if err := f.MkdirAll(ctx, dir+"/a/b"); err != nil {
		t.Fatal(err)
	}
	data := []byte("hello\x00binary\xff\n")
	if err := f.WriteFile(ctx, dir+"/a/b/f.bin", data, msb.Mode(0o600)); err != nil {
		t.Fatal(err)
	}
	got, err := f.ReadFile(ctx, dir+"/a/b/f.bin")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back %q %v", got, err)
	}
	// What the guest sees, through a command.
	res, _ := sb.Shell(ctx, "stat -c '%a %s' "+dir+"/a/b/f.bin")
	if string(res.Stdout) != "600 14\n" {
		t.Fatalf("guest stat: %q", res.Stdout)
	}
	st, err := f.Stat(ctx, dir+"/a/b/f.bin")
	if err != nil || st.Size() != 14 || st.Mode() != 0o600 || st.IsDir() || st.Name() != "f.bin" {
		t.Fatalf("stat: %+v %v", st, err)
	}
	if err := f.WriteFile(ctx, dir+"/a/b/f.bin", []byte("more"), msb.Append()); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.ReadFile(ctx, dir+"/a/b/f.bin"); string(got) != string(data)+"more" {
		t.Fatalf("append: %q", got)
	}
	if err := f.Symlink(ctx, "b/f.bin", dir+"/a/link"); err != nil {
		t.Fatal(err)
	}
	ls, err := f.Lstat(ctx, dir+"/a/link")
	if err != nil || ls.Mode()&fs.ModeSymlink == 0 || ls.LinkTarget() != "b/f.bin" {
		t.Fatalf("lstat: %+v %v", ls, err)
	}
	list, err := f.ReadDir(ctx, dir, msb.Recursive())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range list {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "a,a/b,a/b/f.bin,a/link" {
		t.Fatalf("list: %v", names)
	}
	if err := f.Rename(ctx, dir+"/a/b/f.bin", dir+"/g.bin"); err != nil {
		t.Fatal(err)
	}
	if ok, err := f.Exists(ctx, dir+"/g.bin"); !ok || err != nil {
		t.Fatalf("exists after rename: %v %v", ok, err)
	}
	if ok, err := f.Exists(ctx, dir+"/a/b/f.bin"); ok || err != nil {
		t.Fatalf("old name exists: %v %v", ok, err)
	}
	// Errors carry the guest's errno.
	_, err = f.ReadFile(ctx, dir+"/nope")
	if !errors.Is(err, msb.ErrNotFound) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	err = f.Mkdir(ctx, dir+"/a", msb.Exclusive())
	if !errors.Is(err, msb.ErrAlreadyExists) || !errors.Is(err, fs.ErrExist) {
		t.Fatalf("exclusive mkdir: %v", err)
	}
	err = f.Remove(ctx, dir+"/a")
	if !errors.Is(err, syscall.ENOTEMPTY) {
		t.Fatalf("remove non-empty: %v", err)
	}
	err = f.WriteFile(ctx, "/root/x", []byte("x"), msb.User("1000"))
	if !errors.Is(err, msb.ErrPermission) || !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("write as user 1000 into /root: %v", err)
	}
	_, err = f.ReadFile(ctx, "/tmp/a\x00b")
	if !errors.Is(err, msb.ErrInvalid) {
		t.Fatalf("NUL in a path: %v", err)
	}
	_, err = f.Stat(ctx, strings.Repeat("x", 5000))
	if !errors.Is(err, msb.ErrInvalid) {
		t.Fatalf("overlong path: %v", err)
	}
	if err := f.RemoveAll(ctx, dir); err != nil {
		t.Fatal(err)
	}
	if ok, _ := f.Exists(ctx, dir); ok {
		t.Fatal("RemoveAll left the directory")
	}
}

// pattern is a reader of @n bytes of a pattern no block repeats.
type pattern struct{ off, n int64 }

func (p *pattern) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	if int64(len(b)) > p.n-p.off {
		b = b[:p.n-p.off]
	}
	for i := range b {
		x := p.off + int64(i)
		b[i] = byte(x ^ x>>8 ^ x>>16)
	}
	p.off += int64(len(b))
	return len(b), nil
}

// Streams both ways, in bounded memory, checked by the guest's own
// sha256sum.
func TestFilesStreams(t *testing.T) {
	sb := sharedSandbox(t)
	ctx := testCtx(t)
	f := sb.FS()
	const size = 48 << 20
	h := sha256.New()
	n, err := f.WriteFrom(ctx, "/tmp/stream.bin", io.TeeReader(&pattern{n: size}, h))
	if err != nil || n != size {
		t.Fatalf("write %d: %v", n, err)
	}
	want := hex.EncodeToString(h.Sum(nil))
	res, err := sb.Exec(ctx, "sha256sum /tmp/stream.bin")
	if err != nil || !strings.HasPrefix(string(res.Stdout), want) {
		t.Fatalf("guest sha256: %q %v, want %s", res.Stdout, err, want)
	}
	r, err := f.Open(ctx, "/tmp/stream.bin")
	if err != nil {
		t.Fatal(err)
	}
	h2 := sha256.New()
	// Small reads, to go through the held remainder of each chunk.
	buf := make([]byte, 1000)
	var total int64
	for {
		k, err := r.Read(buf)
		h2.Write(buf[:k])
		total += int64(k)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	r.Close()
	if total != size || hex.EncodeToString(h2.Sum(nil)) != want {
		t.Fatalf("read back %d bytes, hash differs", total)
	}
	var sink countingWriter
	if n, err := f.ReadTo(ctx, "/tmp/stream.bin", &sink); err != nil || n != size || sink.n != size {
		t.Fatalf("ReadTo: %d %v", n, err)
	}
	// A write into a missing directory fails at once, not at Close.
	w, err := f.Create(ctx, "/nonexistent-dir/x")
	if err == nil {
		_, err = io.Copy(w, &pattern{n: 4 << 20})
		if err == nil {
			err = w.Close()
		}
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("write into a missing directory: %v", err)
	}
	// A closed stream says so.
	r, _ = f.Open(ctx, "/tmp/stream.bin")
	r.Close()
	if _, err := r.Read(buf); !errors.Is(err, msb.ErrClosed) {
		t.Fatalf("read after close: %v", err)
	}
	f.Remove(ctx, "/tmp/stream.bin")
}

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(b []byte) (int, error) { c.n += int64(len(b)); return len(b), nil }

// copyEvents collects what CopyProgress reports.
type copyEvents struct{ events[msb.CopyEvent] }

// check fails the test unless the events name exactly the files of
// @sizes (guest path: bytes), each with its size as Total, Done growing
// to it, and a file of more than a megabyte reported more than once.
func (e *copyEvents) check(t *testing.T, what string, sizes map[string]uint64) {
	t.Helper()
	last := map[string]msb.CopyEvent{}
	count := map[string]int{}
	for _, ev := range e.evs {
		if want, ok := sizes[ev.Path]; !ok || ev.Total != want || ev.Done > ev.Total ||
			ev.Done < last[ev.Path].Done {
			t.Fatalf("%s's progress: %+v after %+v (want %v)", what, ev, last[ev.Path], sizes)
		}
		last[ev.Path] = ev
		count[ev.Path]++
	}
	for path, size := range sizes {
		if last[path].Done != size || (size > 1<<20 && count[path] < 2) {
			t.Fatalf("%s's progress of %s: %d events, last %+v", what, path, count[path], last[path])
		}
	}
}

func TestCopyInOut(t *testing.T) {
	sb := sharedSandbox(t)
	ctx := testCtx(t)
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "tree", "sub"), 0o755)
	os.WriteFile(filepath.Join(src, "tree", "sub", "x.txt"), []byte("x\n"), 0o640)
	os.Symlink("sub/x.txt", filepath.Join(src, "tree", "ln"))
	big := make([]byte, 3<<20+5)
	for i := range big {
		big[i] = byte(i * 7)
	}
	os.WriteFile(filepath.Join(src, "tree", "big.bin"), big, 0o600)
	dst := "/tmp/" + unique("copy")
	var in copyEvents
	if err := sb.FS().CopyIn(ctx, filepath.Join(src, "tree"), dst, msb.CopyProgress(in.add)); err != nil {
		t.Fatal(err)
	}
	in.check(t, "copy in", map[string]uint64{dst + "/big.bin": uint64(len(big)), dst + "/sub/x.txt": 2})
	res, _ := sb.Shell(ctx, "cat "+dst+"/sub/x.txt; stat -c %a "+dst+"/sub/x.txt; readlink "+dst+"/ln")
	if string(res.Stdout) != "x\n640\nsub/x.txt\n" {
		t.Fatalf("copied in: %q", res.Stdout)
	}
	out := t.TempDir()
	var outEvs copyEvents
	if err := sb.FS().CopyOut(ctx, dst, filepath.Join(out, "back"), msb.CopyProgress(outEvs.add)); err != nil {
		t.Fatal(err)
	}
	outEvs.check(t, "copy out", map[string]uint64{dst + "/big.bin": uint64(len(big)), dst + "/sub/x.txt": 2})
	if b, err := os.ReadFile(filepath.Join(out, "back", "big.bin")); err != nil || !bytes.Equal(b, big) {
		t.Fatalf("big.bin copied out: %d bytes, %v", len(b), err)
	}
	b, err := os.ReadFile(filepath.Join(out, "back", "sub", "x.txt"))
	if err != nil || string(b) != "x\n" {
		t.Fatalf("copied out: %q %v", b, err)
	}
	if l, _ := os.Readlink(filepath.Join(out, "back", "ln")); l != "sub/x.txt" {
		t.Fatalf("symlink copied out as %q", l)
	}
	err = sb.FS().CopyIn(ctx, filepath.Join(src, "nope"), dst)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("copy of a missing host file: %v", err)
	}
}
