// SPDX-License-Identifier: Apache-2.0

// mount.go - a container's files on the host, where the guest sees them.
//
// The snapshotter's mounts (an overlay of the image's layers, or a bind
// of a directory) are mounted at pod/ID/rootfs in the pod's directory,
// and every bind mount of the OCI spec (a Kubernetes volume, /etc/hosts)
// at pod/ID/mnt/N. The pod's directory is one virtio-fs volume of the
// microVM (our passthrough backend, served by the sandbox's supervisor),
// mounted before any container exists: a container created later needs
// no new device, which QEMU's microvm machine could not hot-plug.
package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/containerd/containerd/api/types"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

var mountFlags = map[string]struct {
	clear bool
	flag  uintptr
}{
	"ro": {false, unix.MS_RDONLY}, "rw": {true, unix.MS_RDONLY},
	"nosuid": {false, unix.MS_NOSUID}, "suid": {true, unix.MS_NOSUID},
	"nodev": {false, unix.MS_NODEV}, "dev": {true, unix.MS_NODEV},
	"noexec": {false, unix.MS_NOEXEC}, "exec": {true, unix.MS_NOEXEC},
	"noatime": {false, unix.MS_NOATIME}, "relatime": {false, unix.MS_RELATIME},
	"sync": {false, unix.MS_SYNCHRONOUS}, "async": {true, unix.MS_SYNCHRONOUS},
	"bind": {false, unix.MS_BIND}, "rbind": {false, unix.MS_BIND | unix.MS_REC},
	"defaults": {false, 0},
	// Propagation is the guest's business here.
	"private": {false, 0}, "rprivate": {false, 0}, "slave": {false, 0},
	"rslave": {false, 0}, "shared": {false, 0}, "rshared": {false, 0},
}

// parseOptions splits mount(8) options into flags and the data string.
func parseOptions(opts []string) (uintptr, string) {
	var flags uintptr
	var data []string
	for _, o := range opts {
		if f, ok := mountFlags[o]; ok {
			if f.clear {
				flags &^= f.flag
			} else {
				flags |= f.flag
			}
			continue
		}
		data = append(data, o)
	}
	return flags, strings.Join(data, ",")
}

func isBind(typ string, opts []string) bool {
	if typ == "bind" || typ == "rbind" {
		return true
	}
	for _, o := range opts {
		if o == "bind" || o == "rbind" {
			return true
		}
	}
	return false
}

// mountOne mounts @src on @target as mount(8) would with @typ and
// @opts; a read-only bind is remounted read-only (one mount(2) cannot).
func mountOne(typ, src, target string, opts []string) error {
	flags, data := parseOptions(opts)
	if isBind(typ, opts) {
		flags |= unix.MS_BIND
		ro := flags&unix.MS_RDONLY != 0
		if err := unix.Mount(src, target, "", flags&^unix.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("bind-mounting %s on %s: %w", src, target, err)
		}
		if ro {
			if err := unix.Mount("", target, "", flags|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
				unix.Unmount(target, unix.MNT_DETACH)
				return fmt.Errorf("making %s read-only: %w", target, err)
			}
		}
		return nil
	}
	if err := unix.Mount(src, target, typ, flags, data); err != nil {
		return fmt.Errorf("mounting %s (%s) on %s: %w", src, typ, target, err)
	}
	return nil
}

// mountRootfs puts the container's root filesystem at @target: the
// snapshotter's mounts, or the spec's root directory when the client
// mounted it itself (ctr run --rootfs).
func mountRootfs(bundle string, rootfs []*types.Mount, s *specs.Spec, target string) error {
	if err := os.MkdirAll(target, 0o755); err != nil {
		return err
	}
	if len(rootfs) == 0 {
		if s.Root == nil || s.Root.Path == "" {
			return fmt.Errorf("no rootfs: neither mounts from the snapshotter nor root.path in the spec")
		}
		p := s.Root.Path
		if !filepath.IsAbs(p) {
			p = filepath.Join(bundle, p)
		}
		return mountOne("bind", p, target, []string{"rbind"})
	}
	for i, m := range rootfs {
		if i > 0 {
			// Layered mounts (rare: one overlay is the rule) go on top.
			unmountTree(target)
			return fmt.Errorf("%d rootfs mounts: this shim takes one (an overlay or a bind)", len(rootfs))
		}
		if err := mountOne(m.Type, m.Source, target, m.Options); err != nil {
			return err
		}
	}
	// A read-only root (root.readonly) is made so in the guest, once the
	// mount points of the spec's mounts exist in it (setupScript).
	return nil
}

// bindTarget makes an empty file or directory to bind @src on.
func bindTarget(src, target string) error {
	st, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("bind mount source: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	if st.IsDir() {
		return os.Mkdir(target, 0o755)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("bind mount source %s is no file or directory (devices and sockets do not cross into the VM)", src)
	}
	f, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

// mountsUnder lists the mount points at or below @dir, deepest first.
func mountsUnder(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%o", &c); err == nil {
				b.WriteByte(byte(c))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unmountTree detaches every mount at or below @dir.
func unmountTree(dir string) error {
	var first error
	for _, mp := range mountsUnder(dir) {
		if err := unix.Unmount(mp, unix.MNT_DETACH); err != nil && err != unix.EINVAL && first == nil {
			first = fmt.Errorf("unmounting %s: %w", mp, err)
		}
	}
	return first
}

// removeEmpty removes @dir's tree only where nothing is mounted: a
// directory or file is removed only once empty, so a mount left behind
// never loses the container's files.
func removeEmpty(dir string) error {
	if len(mountsUnder(dir)) > 0 {
		return fmt.Errorf("%s still has mounts; left in place", dir)
	}
	var paths []string
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil {
			paths = append(paths, p)
		}
		return nil
	})
	sort.Slice(paths, func(i, j int) bool { return len(paths[i]) > len(paths[j]) })
	for _, p := range paths {
		if fi, err := os.Lstat(p); err == nil && fi.Mode().IsRegular() && fi.Size() > 0 {
			return fmt.Errorf("%s is not empty; left in place", p)
		}
		os.Remove(p)
	}
	return nil
}
