// SPDX-License-Identifier: Apache-2.0

package msb_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	msb "github.com/microsandbox/microsandbox/sdk/go"
)

// A spawn policy libmsb would not take is refused before anything boots.
func TestSpawnPolicyRefusals(t *testing.T) {
	ctx := testCtx(t)
	for what, opts := range map[string][]msb.Option{
		"AllowSpawn(0)":                  {msb.AllowSpawn(0)},
		"AllowSpawn(65)":                 {msb.AllowSpawn(65)},
		"SpawnImages without AllowSpawn": {msb.SpawnImages("busybox")},
		"SpawnLimits without AllowSpawn": {msb.SpawnLimits(1, 256, 0)},
		"65 CPUs a peer":                 {msb.AllowSpawn(1), msb.SpawnLimits(65, 0, 0)},
		"an image with a space":          {msb.AllowSpawn(1), msb.SpawnImages("bad image")},
	} {
		name := unique("bad-spawn")
		_, err := msb.NewSandboxContext(ctx, name, opts...)
		if !errors.Is(err, msb.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", what, err)
		}
		if _, err := msb.GetSandbox(ctx, name); !errors.Is(err, msb.ErrNotFound) {
			t.Errorf("%s left sandbox %s behind: %v", what, name, err)
		}
	}
}

// A sandbox made with AllowSpawn keeps its policy in its record; its
// programs start a peer (msb start inside it), which names it as its
// parent; the policy's count holds; removing the parent removes the
// peer. A sandbox made without it may start none.
func TestAllowSpawn(t *testing.T) {
	ctx := testCtx(t)
	parentName := unique("spawner")
	parent, err := msb.NewSandboxContext(ctx, parentName,
		msb.AllowSpawn(1), msb.SpawnImages("busybox"), msb.SpawnLimits(1, 256, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer parent.Close()
	raw, err := parent.Inspect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Config struct {
			Spawn struct {
				Max            int      `json:"max"`
				Images         []string `json:"images"`
				CPUs           int      `json:"cpus"`
				MemoryMiB      int      `json:"memory_mib"`
				TotalMemoryMiB int      `json:"total_memory_mib"`
			} `json:"spawn"`
		} `json:"config"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	sp := doc.Config.Spawn
	if sp.Max != 1 || strings.Join(sp.Images, ",") != "default,busybox" || sp.CPUs != 1 ||
		sp.MemoryMiB != 256 || sp.TotalMemoryMiB != 256 {
		t.Fatalf("the record's spawn policy: %+v", sp)
	}
	if p, err := parent.Parent(ctx); err != nil || p != "" {
		t.Fatalf("a sandbox the host made has parent %q (%v)", p, err)
	}

	peer := unique("peer")
	r, err := parent.ExecArgs(ctx, []string{"msb", "start", peer})
	if err != nil || r.ExitCode != 0 || string(r.Stdout) != peer+"\n" {
		t.Fatalf("msb start inside: %v %+v", err, r)
	}
	if p, err := msb.SandboxParent(ctx, peer); err != nil || p != parentName {
		t.Fatalf("the peer's parent: %q (%v), want %s", p, err, parentName)
	}
	info, err := msb.GetSandbox(ctx, peer)
	if err != nil {
		t.Fatal(err)
	}
	if i, err := info.Info(ctx); err != nil || i.MemoryMiB != 256 || !i.Running() {
		t.Fatalf("the peer: %+v %v", i, err)
	}
	// one live peer at most
	r, err = parent.ExecArgs(ctx, []string{"msb", "start", unique("second")})
	if err != nil || r.ExitCode != 125 || !strings.Contains(string(r.Stderr), "--allow-spawn 1") {
		t.Fatalf("a second peer: %v %+v", err, r)
	}
	if _, err := msb.SandboxParent(ctx, "no-such-sandbox"); !errors.Is(err, msb.ErrNotFound) {
		t.Fatalf("the parent of no sandbox: %v", err)
	}

	if err := parent.Remove(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := msb.GetSandbox(ctx, peer); !errors.Is(err, msb.ErrNotFound) {
		t.Fatalf("the peer outlived its parent's removal: %v", err)
	}

	// without AllowSpawn: none
	r, err = sharedSandbox(t).ExecArgs(ctx, []string{"msb", "start", unique("nope")})
	if err != nil || r.ExitCode != 125 || !strings.Contains(string(r.Stderr), "spawning is off") {
		t.Fatalf("msb start in a sandbox without AllowSpawn: %v %+v", err, r)
	}
}
