// SPDX-License-Identifier: Apache-2.0

package msb_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	msb "github.com/microsandbox/microsandbox/sdk/go"
	"github.com/microsandbox/microsandbox/sdk/go/msbtest"
)

// The plugin registry from Go, against the loopback registry: a plugin
// (msbtest's, which denies execs of `exfiltrate`) published, found,
// installed, loaded by name into a sandbox that it then guards, listed,
// inspected and removed.
func TestPluginRegistry(t *testing.T) {
	host := seedImages(t)
	ctx := testCtx(t)
	ns := host + "/goplugins"
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "deny.py"), msbtest.DenyExecPlugin("go-deny", "exfiltrate", "not here"), 0o644)
	os.WriteFile(filepath.Join(dir, "plugin.json"), []byte(`{"name": "go-deny", "version": "1.0.0",
 "kind": "process", "hooks": ["exec_before"], "language": "python", "command": "python3 deny.py",
 "description": "Refuses execs of exfiltrate"}`), 0o644)
	pub, err := msb.PublishPlugin(ctx, dir, ns)
	if err != nil {
		t.Fatal(err)
	}
	if pub.Name != "go-deny" || pub.Version != "1.0.0" || pub.Reference != ns+"/go-deny:1.0.0" ||
		!strings.HasPrefix(pub.Digest, "sha256:") {
		t.Fatalf("published: %+v", pub)
	}
	found, err := msb.SearchPlugins(ctx, ns, "EXFILTRATE")
	if err != nil || len(found) != 1 || found[0].Digest != pub.Digest ||
		strings.Join(found[0].Hooks, ",") != "exec_before" || found[0].Command != "python3 deny.py" {
		t.Fatalf("search: %+v %v", found, err)
	}
	if _, err := msb.InstallPlugin(ctx, "no-such-plugin", ns); !errors.Is(err, msb.ErrNotFound) {
		t.Fatalf("install of a plugin the registry lacks: %v", err)
	}
	in, err := msb.InstallPlugin(ctx, "go-deny", ns)
	if err != nil || in.Digest != pub.Digest || in.Path == "" || in.InstalledAt.IsZero() {
		t.Fatalf("install: %+v %v", in, err)
	}
	defer msb.RemovePlugin(context.Background(), "go-deny")

	sb, err := msb.NewSandboxContext(ctx, unique("installed"), msb.Plugin(msb.InstalledPlugin("go-deny")))
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	if res, err := sb.Exec(ctx, "echo hi", msb.Check()); err != nil || string(res.Stdout) != "hi\n" {
		t.Fatalf("exec: %v %+v", err, res)
	}
	if _, err := sb.ExecArgs(ctx, []string{"echo", "exfiltrate"}); !errors.Is(err, msb.ErrPolicyRefused) ||
		!strings.Contains(err.Error(), "not here") {
		t.Fatalf("the installed plugin did not deny: %v", err)
	}

	list, err := msb.InstalledPlugins(ctx)
	if err != nil || len(list) != 1 || list[0].Name != "go-deny" || !list[0].Verified {
		t.Fatalf("installed: %+v %v", list, err)
	}
	if got, err := msb.InspectPlugin(ctx, "go-deny"); err != nil || got.Digest != pub.Digest {
		t.Fatalf("inspect: %+v %v", got, err)
	}
	if err := msb.RemovePlugin(ctx, "go-deny"); err != nil {
		t.Fatal(err)
	}
	if _, err := msb.InspectPlugin(ctx, "go-deny"); !errors.Is(err, msb.ErrNotFound) {
		t.Fatalf("inspect after remove: %v", err)
	}
}
