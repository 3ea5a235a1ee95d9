// SPDX-License-Identifier: Apache-2.0

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestPodOptions(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("MSB_SHIM_SECRETS_DIR", dir)
	if err := os.WriteFile(filepath.Join(dir, "openai"), []byte("sk-1"), 0o600); err != nil {
		t.Fatal(err)
	}
	ok := map[string]string{
		"io.microsandbox/cpus":                  "2",
		"io.microsandbox/memory":                "1G",
		"io.microsandbox/net-allow":             "api.openai.com, *.stripe.com",
		"io.microsandbox/net-block-cidr":        "10.0.0.0/8",
		"io.microsandbox/net-deny-all":          "true",
		"io.microsandbox/ports":                 "0.0.0.0:8080:80",
		"io.microsandbox/secret.OPENAI_API_KEY": "@file:openai:api.openai.com",
		"io.microsandbox/secret.GH":             "@env:MSB_SECRET_GH:*.github.com,github.com",
		"io.kubernetes.cri.sandbox-id":          "not ours: ignored",
	}
	opts, err := podOptions(ok)
	if err != nil {
		t.Fatal(err)
	}
	// cpus, memory, ports, two secrets and one Network option
	if len(opts) != 6 {
		t.Fatalf("%d options, want 6", len(opts))
	}
	if err := os.Symlink("/etc/shadow", filepath.Join(dir, "escape")); err != nil {
		t.Fatal(err)
	}
	for ann, want := range map[string]string{
		"io.microsandbox/secret.SHADOW":  "is outside",
		"io.microsandbox/secret.ESCAPE":  "is outside",
		"io.microsandbox/secret.DOTDOT":  "is outside",
		"io.microsandbox/secret.HOSTENV": "only the node's variables named MSB_SECRET_*",
		"io.microsandbox/net-alow":       "unknown annotation io.microsandbox/net-alow",
		"io.microsandbox/cpus":           "a number of CPUs",
		"io.microsandbox/net-deny-all":   `only "true"`,
		"io.microsandbox/secret.K":       "expected @env:VAR:HOSTS or @file:PATH:HOSTS",
		"io.microsandbox/secret.NOHOSTS": "the hosts the secret may go to are required",
	} {
		v := map[string]string{
			"io.microsandbox/cpus":           "lots",
			"io.microsandbox/net-deny-all":   "yes",
			"io.microsandbox/secret.K":       "sk-the-value-itself",
			"io.microsandbox/secret.NOHOSTS": "@env:VAR",
			"io.microsandbox/secret.SHADOW":  "@file:/etc/shadow:evil.example",
			"io.microsandbox/secret.ESCAPE":  "@file:escape:evil.example",
			"io.microsandbox/secret.DOTDOT":  "@file:../../etc/passwd:evil.example",
			"io.microsandbox/secret.HOSTENV": "@env:AWS_SECRET_ACCESS_KEY:evil.example",
		}[ann]
		_, err := podOptions(map[string]string{ann: v})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s=%q: got %v, want an error saying %q", ann, v, err, want)
		}
	}
}

func TestPodKey(t *testing.T) {
	s := &specs.Spec{Annotations: map[string]string{annSandboxID: "pod1"}}
	if g, owner := podKey("pod1", s); g != "pod1" || !owner {
		t.Errorf("the sandbox container: %s %v", g, owner)
	}
	if g, owner := podKey("c1", s); g != "pod1" || owner {
		t.Errorf("a container of the pod: %s %v", g, owner)
	}
	if g, owner := podKey("solo", &specs.Spec{}); g != "solo" || !owner {
		t.Errorf("a container of its own: %s %v", g, owner)
	}
	a := sandboxName("/run/containerd/containerd.sock", "k8s.io", strings.Repeat("ab", 32))
	b := sandboxName("/tmp/other/containerd.sock", "k8s.io", strings.Repeat("ab", 32))
	if a == b || len(a) > 63 || !strings.HasPrefix(a, "ctr-k8s.io-abab") {
		t.Errorf("names %q %q: unique per containerd, at most 63 characters", a, b)
	}
	if n := sandboxName("", "a/b c", "x"); strings.ContainsAny(n, "/ ") {
		t.Errorf("%q holds characters a sandbox name may not", n)
	}
	if d := stateDir("/"+strings.Repeat("d", 120)+"/c.sock", "ns", "g"); len(socketPath(d)) > 107 {
		t.Errorf("socket path %q is too long for a unix socket", socketPath(d))
	}
}

func TestProcessArgv(t *testing.T) {
	argv, err := processArgv("c1", &specs.Process{Args: []string{"sh", "-c", "x"}, Cwd: "/tmp",
		User: specs.User{UID: 1000, GID: 100}})
	if err != nil {
		t.Fatal(err)
	}
	want := "/bin/busybox nsenter --root=/run/msb-pod/c1/rootfs --wd=/run/msb-pod/c1/rootfs/tmp -S 1000 -G 100 -- sh -c x"
	if got := strings.Join(argv, " "); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if _, err := processArgv("c1", &specs.Process{Args: []string{"sh"}, Cwd: "rel"}); err == nil {
		t.Error("a relative cwd was taken")
	}
	if _, err := processArgv("c1", &specs.Process{}); err == nil {
		t.Error("a process without args was taken")
	}
}

func TestSetupScript(t *testing.T) {
	s := &specs.Spec{
		Hostname:    "web",
		Annotations: map[string]string{annContainerTy: "sandbox"},
		Root:        &specs.Root{Path: "rootfs", Readonly: true},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs"},
			{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup"},
			{Destination: "/data's", Type: "bind", Source: "/host/data", Options: []string{"rbind", "ro"}},
			{Destination: "/etc/resolv.conf", Type: "bind", Source: "/host/resolv.conf", Options: []string{"rbind"}},
		},
	}
	got := setupScript("c1", s, []string{"", "", "", "/run/msb-pod/c1/mnt/3", "/etc/resolv.conf"})
	for _, want := range []string{
		"mount -o bind '/run/msb-pod/c1/rootfs' '/run/msb-pod/c1/rootfs'\n",
		"mount -t proc proc '/run/msb-pod/c1/rootfs/proc'\n",
		"mount -o rbind /dev '/run/msb-pod/c1/rootfs/dev'\n",
		"mount -o bind '/run/msb-pod/c1/mnt/3' '/run/msb-pod/c1/rootfs/data'\\''s'\n",
		"mount -o remount,bind,ro '/run/msb-pod/c1/rootfs/data'\\''s'\n",
		"mount -o bind /etc/resolv.conf '/run/msb-pod/c1/rootfs/etc/resolv.conf'\n",
		"hostname 'web'\n",
		"mount -o remount,bind,ro '/run/msb-pod/c1/rootfs'\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the script lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "cgroup") {
		t.Errorf("a cgroup mount was made:\n%s", got)
	}
	// the read-only root comes last, once every mount point exists
	if !strings.HasSuffix(got, "mount -o remount,bind,ro '/run/msb-pod/c1/rootfs'\n") {
		t.Errorf("the root is made read-only before the end:\n%s", got)
	}
}

func TestPodSize(t *testing.T) {
	ann := map[string]string{
		"io.kubernetes.cri.sandbox-memory":     "268435456", // 256 MiB
		"io.kubernetes.cri.sandbox-cpu-quota":  "150000",
		"io.kubernetes.cri.sandbox-cpu-period": "100000",
	}
	if m := podMemoryMiB(ann); m != 256+guestOverheadMiB {
		t.Errorf("memory %d MiB", m)
	}
	if n := podCPUs(ann); n != 2 {
		t.Errorf("%d CPUs for 1.5 CPUs of quota", n)
	}
	opts, err := podOptions(ann)
	if err != nil || len(opts) != 2 {
		t.Errorf("%d options (%v), want memory and CPUs", len(opts), err)
	}
	// the pod's own annotations win
	ann["io.microsandbox/memory"] = "1G"
	ann["io.microsandbox/cpus"] = "1"
	if opts, _ := podOptions(ann); len(opts) != 2 {
		t.Errorf("%d options, want the annotations' two only", len(opts))
	}
	if podMemoryMiB(map[string]string{}) != 0 || podCPUs(map[string]string{"io.kubernetes.cri.sandbox-cpu-quota": "-1"}) != 0 {
		t.Error("no limits gave a size")
	}
}
