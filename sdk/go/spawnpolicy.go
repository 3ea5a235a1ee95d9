// SPDX-License-Identifier: Apache-2.0

package msb

/*
#include <stdlib.h>
#include <msb.h>
*/
import "C"

import (
	"context"
	"fmt"
	"unsafe"
)

// The host's side of sandboxes that spawn sandboxes (docs/spawn.md): the
// policy a sandbox is made with (msb run --allow-spawn N and its
// --spawn-* options), kept in its record, and who spawned a sandbox
// (msb ps's PARENT). libmsb enforces the policy; these only hand it over.

// spawnSpec is the spawn policy given with AllowSpawn, SpawnImages and
// SpawnLimits.
type spawnSpec struct {
	max      uint // 0: AllowSpawn not given
	allowed  bool
	images   []string
	cpus     uint
	memMiB   uint64
	totalMiB uint64
	shaped   bool // SpawnImages or SpawnLimits given
}

// AllowSpawn lets the sandbox's programs start up to @n (1 to 64) live
// peer sandboxes beside it (msb start inside it, a peer's own peers
// included), as msb run --allow-spawn N does; spawning is off without it.
// A peer gets the sandbox's own image or one of SpawnImages, at most the
// CPUs and memory of SpawnLimits, a network no wider than the sandbox's,
// no volume, and only the secrets the sandbox holds, by placeholder.
// Removing the sandbox removes its peers. Restore does not take it.
func AllowSpawn(n uint) Option {
	return option("AllowSpawn", func(c *sandboxConfig) {
		c.spawn.max, c.spawn.allowed = n, true
	})
}

// SpawnImages are images peers may use besides the sandbox's own (msb
// run --spawn-image; at most 32). A peer's start pulls one not here yet,
// so allow only images you trust. It needs AllowSpawn.
func SpawnImages(refs ...string) Option {
	return option("SpawnImages", func(c *sandboxConfig) {
		c.spawn.images = append(c.spawn.images, refs...)
		c.spawn.shaped = true
	})
}

// SpawnLimits are a peer's most CPUs and memory in MiB, and the memory in
// MiB of all live peers of the sandbox's tree together (msb run
// --spawn-cpus, --spawn-memory, --spawn-total-memory). 0 keeps the
// default: the sandbox's own CPUs and memory per peer, AllowSpawn's N
// times that in total. It needs AllowSpawn.
func SpawnLimits(cpus uint, memoryMiB, totalMemoryMiB uint64) Option {
	return option("SpawnLimits", func(c *sandboxConfig) {
		c.spawn.cpus, c.spawn.memMiB, c.spawn.totalMiB = cpus, memoryMiB, totalMemoryMiB
		c.spawn.shaped = true
	})
}

// check refuses a policy libmsb would not take, before anything boots
// (msb run's own words).
func (s *spawnSpec) check(op string) error {
	switch {
	case s.allowed && (s.max < 1 || s.max > 64):
		return newError(op, codeInvalid, "AllowSpawn(%d): give 1 to 64 live peers", s.max)
	case s.shaped && !s.allowed:
		return newError(op, codeInvalid, "SpawnImages and SpawnLimits shape what "+
			"AllowSpawn(N) allows: give it too")
	case s.cpus > 64:
		return newError(op, codeInvalid, "SpawnLimits: a peer's CPUs %d: give 1 to 64 "+
			"(0: the sandbox's own)", s.cpus)
	}
	return nil
}

// policy is the C policy for @s (NULL with no AllowSpawn), to free with
// msb_spawn_policy_free; a negative code with @cerr filled when an image
// is refused.
func (s *spawnSpec) policy(m *cmem, cerr *C.msb_error) (*C.msb_spawn_policy, C.int) {
	if !s.allowed {
		return nil, 0
	}
	p := C.msb_spawn_policy_new(C.uint(s.max))
	if p == nil {
		copyMessage(cerr, fmt.Sprintf("AllowSpawn(%d): give 1 to 64 live peers", s.max))
		return nil, C.int(codeInvalid)
	}
	for _, img := range s.images {
		if r := C.msb_spawn_policy_add_image(p, m.strAlways(img), cerr); r < 0 {
			C.msb_spawn_policy_free(p)
			return nil, r
		}
	}
	C.msb_spawn_policy_set_limits(p, C.uint(s.cpus), C.uint64_t(s.memMiB), C.uint64_t(s.totalMiB))
	return p, 0
}

// Parent is the sandbox that spawned this one from inside it (msb ps's
// PARENT), or "" for one the host made.
func (sb *Sandbox) Parent(ctx context.Context) (string, error) {
	return SandboxParent(ctx, sb.name)
}

// SandboxParent is Parent for the sandbox named @name (ErrNotFound if
// there is none).
func SandboxParent(ctx context.Context, name string) (string, error) {
	op := "parent of sandbox " + name
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("msb: %s: %w", op, err)
	}
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	buf := (*C.char)(C.calloc(1, 256))
	defer C.free(unsafe.Pointer(buf))
	var cerr C.msb_error
	if r := C.msb_sandbox_parent(cname, buf, 256, &cerr); r < 0 {
		return "", cError(op, r, &cerr)
	}
	return C.GoString(buf), nil
}
