// SPDX-License-Identifier: Apache-2.0

// netns.go - a pod's microVM in the pod's network namespace.
//
// A pod that is not on the node's network has a namespace of its own
// (made by the CRI plugin and its CNI plugins: the pod's interface and
// IP). The VM's supervisor, which owns the VM's userspace network stack
// and re-originates its flows from host sockets, must be born in it, so
// that the pod's traffic leaves from the pod's IP and the ports it
// publishes (io.microsandbox/ports) listen on the pod's IP. libmsb spawns
// the supervisor from the thread that creates the sandbox, and the Go
// SDK creates it from a goroutine of its own; so the sandbox is created
// by a helper run of this binary (`boot`) that joins the namespace in a
// constructor, before the Go runtime starts a thread: every thread of it
// is in the pod's namespace, and so is the supervisor it spawns, which
// outlives it.
package main

/*
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

__attribute__((constructor)) static void msb_shim_enter_netns(void)
{
	const char *p = getenv("MSB_SHIM_NETNS");
	int fd;

	if (!p || !*p)
		return;
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) {
		fprintf(stderr, "entering the pod's network namespace %s: %s\n", p, strerror(errno));
		_exit(1);
	}
	close(fd);
	unsetenv("MSB_SHIM_NETNS");
}
*/
import "C"

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	msb "github.com/microsandbox/microsandbox/sdk/go"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// podNetns is the path of the pod's network namespace, "" when the pod
// is on the node's network.
func podNetns(s *specs.Spec) string {
	if s.Linux == nil {
		return ""
	}
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == specs.NetworkNamespace {
			return ns.Path
		}
	}
	return ""
}

// sandboxOptions are the options of the pod's microsandbox.
func sandboxOptions(spec *specs.Spec, dir string) ([]msb.Option, error) {
	opts, err := podOptions(spec.Annotations)
	if err != nil {
		return nil, err
	}
	return append(opts, msb.Volume(guestPodDir, msb.NewPassthrough(podDir(dir))),
		msb.Keep(), msb.BootTimeout(2*time.Minute)), nil
}

// bootIn creates the microsandbox of the pod whose own container is @id
// from a helper run of this binary in network namespace @netns.
func bootIn(ctx context.Context, f *flags, id, bundle, netns string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, self, "-namespace", f.namespace, "-address", f.address,
		"-id", id, "-bundle", bundle, "boot")
	cmd.Env = append(os.Environ(), "MSB_SHIM_NETNS="+netns)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s (%v)", strings.TrimSpace(errb.String()), err)
	}
	return nil
}

// bootHelper is `boot`: create the pod's microsandbox (this process is in
// the pod's network namespace already) and leave it running.
func bootHelper(f *flags) error {
	spec, err := loadSpec(f.bundle)
	if err != nil {
		return err
	}
	group, _ := podKey(f.id, spec)
	dir := stateDir(f.address, f.namespace, group)
	opts, err := sandboxOptions(spec, dir)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	sb, err := msb.NewSandboxContext(ctx, sandboxName(f.address, f.namespace, group), opts...)
	if err != nil {
		return err
	}
	return sb.Close()
}
