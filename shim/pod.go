// SPDX-License-Identifier: Apache-2.0

// pod.go - which pod a container belongs to, where its shim keeps its
// state and what the pod's microsandbox is called.
//
// One shim and one microVM per pod. A container of a Kubernetes pod
// names its pod in the io.kubernetes.cri.sandbox-id annotation (the pod's
// own sandbox container names itself); a container without it (ctr run)
// is a pod of its own. Every container of a pod gets the same socket
// from `start`, so containerd talks to one shim per pod.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const (
	annSandboxID   = "io.kubernetes.cri.sandbox-id"
	annContainerTy = "io.kubernetes.cri.container-type"
	// guestPodDir is where the pod's directory (podDir) is mounted in
	// the guest: each container's rootfs and bind mounts are under it.
	guestPodDir = "/run/msb-pod"
)

func loadSpec(bundle string) (*specs.Spec, error) {
	b, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		return nil, fmt.Errorf("reading the OCI spec: %w", err)
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s/config.json is no OCI runtime spec: %w", bundle, err)
	}
	if s.Process == nil && s.Annotations[annContainerTy] != "sandbox" {
		return nil, fmt.Errorf("%s/config.json has no process", bundle)
	}
	return &s, nil
}

// podKey says which pod container @id belongs to and whether it is the
// one that boots (and at its delete, removes) the pod's microVM.
func podKey(id string, s *specs.Spec) (group string, owner bool) {
	if s != nil {
		if sid := s.Annotations[annSandboxID]; sid != "" {
			return sid, sid == id
		}
	}
	return id, true
}

// stateDir is the pod's directory on the host: the shim's socket and
// the directory (pod/) the guest mounts, beside containerd's own socket
// so that two containerds on one host never share one.
func stateDir(address, ns, group string) string {
	h := sha256.Sum256([]byte(address + "\x00" + ns + "\x00" + group))
	name := hex.EncodeToString(h[:])[:24]
	base := "/run/containerd-msb"
	if address != "" {
		base = filepath.Join(filepath.Dir(strings.TrimPrefix(address, "unix://")), "msb")
	}
	// A unix socket's path is at most 107 bytes.
	if len(base)+len(name)+len("/s.sock")+2 > 107 {
		base = "/run/containerd-msb"
	}
	return filepath.Join(base, name)
}

func socketPath(dir string) string { return filepath.Join(dir, "s.sock") }
func podDir(dir string) string     { return filepath.Join(dir, "pod") }

// sandboxName names the pod's microsandbox: readable (namespace and the
// start of the pod's id) and unique (a hash of the same as stateDir's).
func sandboxName(address, ns, group string) string {
	h := sha256.Sum256([]byte(address + "\x00" + ns + "\x00" + group))
	clean := func(s string, n int) string {
		var b strings.Builder
		for _, c := range s {
			if b.Len() >= n {
				break
			}
			if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' {
				b.WriteRune(c)
			} else {
				b.WriteByte('_')
			}
		}
		return b.String()
	}
	return fmt.Sprintf("ctr-%s-%s-%s", clean(ns, 16), clean(group, 20), hex.EncodeToString(h[:])[:8])
}
