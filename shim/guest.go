// SPDX-License-Identifier: Apache-2.0

// guest.go - what a container is inside the pod's microVM.
//
// A container is its root directory in the guest (guestPodDir/ID/rootfs,
// the snapshot served from the host over virtio-fs) with the spec's
// mounts made under it by a shell script run as root in the guest, and
// its processes are the guest's busybox nsenter entering that root (-r)
// and working directory (-w) as the spec's uid and gid, then executing
// the spec's arguments with its environment. The microVM is the
// isolation boundary (one per pod, as Kata's); inside it a pod's
// containers share one kernel, as they share one network namespace.
package main

import (
	"fmt"
	"path"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func guestRoot(id string) string { return path.Join(guestPodDir, id, "rootfs") }

// guestOptions keeps the options the guest's mount(8) understands for a
// filesystem of its own (proc, tmpfs, ...).
func guestOptions(opts []string) string {
	var keep []string
	for _, o := range opts {
		switch {
		case o == "bind" || o == "rbind" || strings.HasSuffix(o, "private") ||
			strings.HasSuffix(o, "slave") || strings.HasSuffix(o, "shared"):
		default:
			keep = append(keep, o)
		}
	}
	if len(keep) == 0 {
		return ""
	}
	return "-o " + shq(strings.Join(keep, ","))
}

func hasOpt(opts []string, o string) bool {
	for _, x := range opts {
		if x == o {
			return true
		}
	}
	return false
}

// setupScript mounts the spec's filesystems under the container's root
// in the guest. @binds[i] is the guest path of spec.Mounts[i]'s host
// source when it is a bind mount ("" otherwise). proc, /dev and bind
// mounts must succeed; the others (mqueue, cgroup, ...) are tried and
// reported.
func setupScript(id string, s *specs.Spec, binds []string) string {
	r := guestRoot(id)
	var b strings.Builder
	b.WriteString("set -e\n")
	b.WriteString("warn() { echo \"msb shim: $*\" >&2; }\n")
	// The root is a mount of its own, so that it can be made read-only
	// once its mount points exist, and unmounted as a whole.
	fmt.Fprintf(&b, "mount -o bind %s %s\n", shq(r), shq(r))
	for i, m := range s.Mounts {
		if !path.IsAbs(m.Destination) {
			continue
		}
		dst := shq(path.Join(r, m.Destination))
		switch {
		case binds[i] != "":
			if m.Destination == "/etc/resolv.conf" {
				// The pod's DNS is the microVM's resolver (the
				// sandbox's policy answers it), not the node's.
				fmt.Fprintf(&b, "[ -e %s ] || touch %s\nmount -o bind /etc/resolv.conf %s\n", dst, dst, dst)
				continue
			}
			src := shq(binds[i])
			fmt.Fprintf(&b, "if [ -d %s ]; then mkdir -p %s; else mkdir -p \"$(dirname %s)\"; [ -e %s ] || touch %s; fi\n",
				src, dst, dst, dst, dst)
			fmt.Fprintf(&b, "mount -o bind %s %s\n", src, dst)
			if hasOpt(m.Options, "ro") {
				fmt.Fprintf(&b, "mount -o remount,bind,ro %s\n", dst)
			}
		case m.Type == "proc":
			fmt.Fprintf(&b, "mkdir -p %s\nmount -t proc proc %s\n", dst, dst)
		case m.Destination == "/dev":
			// The guest's devices are the pod's: the VM is the boundary.
			fmt.Fprintf(&b, "mkdir -p %s\nmount -o rbind /dev %s\n", dst, dst)
		case m.Type == "devpts" && m.Destination == "/dev/pts":
			// Under the /dev bind already.
		case m.Type == "sysfs" || m.Type == "tmpfs" || m.Type == "mqueue":
			fmt.Fprintf(&b, "mkdir -p %s\nmount -t %s %s %s %s || warn %s\n", dst, shq(m.Type),
				guestOptions(m.Options), shq(m.Type), dst, shq("could not mount "+m.Type+" on "+m.Destination))
		default:
			// cgroup and cgroup2: the guest kernel has no cgroups.
		}
	}
	if s.Hostname != "" && s.Annotations[annContainerTy] == "sandbox" {
		// One UTS namespace per pod: the VM's.
		fmt.Fprintf(&b, "hostname %s\n", shq(s.Hostname))
	}
	if s.Root != nil && s.Root.Readonly {
		fmt.Fprintf(&b, "mount -o remount,bind,ro %s\n", shq(r))
	}
	return b.String()
}

// teardownScript unmounts what setupScript mounted, deepest first.
func teardownScript(id string) string {
	r := guestRoot(id)
	return fmt.Sprintf("awk -v r=%s '$2 == r || index($2, r \"/\") == 1 { print length($2), $2 }' /proc/mounts | "+
		"sort -rn | while read -r n m; do umount -l \"$m\" 2>/dev/null || true; done\n", shq(r))
}

// processArgv is the guest command line of an OCI process of container
// @id: busybox's nsenter enters the container's root and directory as
// its user and executes the process's arguments (searching its PATH in
// the container's root).
func processArgv(id string, p *specs.Process) ([]string, error) {
	if p == nil || len(p.Args) == 0 {
		return nil, fmt.Errorf("the OCI process has no args")
	}
	r := guestRoot(id)
	cwd := p.Cwd
	if cwd == "" {
		cwd = "/"
	}
	if !path.IsAbs(cwd) {
		return nil, fmt.Errorf("the OCI process's cwd %q is not absolute", cwd)
	}
	argv := []string{"/bin/busybox", "nsenter", "--root=" + r, "--wd=" + path.Join(r, cwd),
		"-S", strconv.FormatUint(uint64(p.User.UID), 10),
		"-G", strconv.FormatUint(uint64(p.User.GID), 10), "--"}
	return append(argv, p.Args...), nil
}
