// SPDX-License-Identifier: Apache-2.0

package provider

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	msb "github.com/microsandbox/microsandbox/sdk/go"
	"github.com/microsandbox/microsandbox/sdk/go/msbtest"
)

// TestAccPluginRegistry: a plugin published to a registry on loopback
// (msbtest's, which denies execs of `exfiltrate`) is installed by a
// microsandbox_plugin and guards the sandbox that loads it by name; an
// import reads it back; a destroy uninstalls it. A plugin the registry
// lacks is an apply error, nothing installed.
func TestAccPluginRegistry(t *testing.T) {
	needCLI(t)
	host := startRegistry(t)
	ns := host + "/tfplugins"
	ctx := context.Background()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "deny.py"), msbtest.DenyExecPlugin("tf-deny", "exfiltrate", "not here"), 0o644)
	os.WriteFile(filepath.Join(dir, "plugin.json"), []byte(`{"name": "tf-deny", "version": "1.0.0",
 "kind": "process", "hooks": ["exec_before"], "language": "python", "command": "python3 deny.py"}`), 0o644)
	pub, err := msb.PublishPlugin(ctx, dir, ns)
	if err != nil {
		t.Fatal(err)
	}
	config := fmt.Sprintf(`
resource "microsandbox_plugin" "deny" {
  name     = "tf-deny"
  registry = %[1]q
}

data "microsandbox_plugins" "found" {
  registry = %[1]q
  query    = "tf-deny"
}

data "microsandbox_plugins" "installed" {
  depends_on = [microsandbox_plugin.deny]
}

resource "microsandbox_sandbox" "guarded" {
  name = "guarded"
  plugin_timeout_ms = 5000
  plugin_restarts   = 1
  plugin {
    name = microsandbox_plugin.deny.name
  }
}
`, ns)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories,
		Steps: []resource.TestStep{
			{
				Config: fmt.Sprintf(`resource "microsandbox_plugin" "x" {
  name     = "no-such-plugin"
  registry = %q
}`, ns),
				ExpectError: regexp.MustCompile(`Cannot create plugin no-such-plugin`),
			},
			{
				Config: config,
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("microsandbox_plugin.deny", "digest", pub.Digest),
					resource.TestCheckResourceAttr("microsandbox_plugin.deny", "version", "1.0.0"),
					resource.TestCheckResourceAttr("microsandbox_plugin.deny", "registry", ns),
					resource.TestCheckResourceAttr("microsandbox_plugin.deny", "hooks.0", "exec_before"),
					resource.TestCheckResourceAttr("data.microsandbox_plugins.found", "plugins.#", "1"),
					resource.TestCheckResourceAttr("data.microsandbox_plugins.found", "plugins.0.digest", pub.Digest),
					resource.TestCheckResourceAttr("data.microsandbox_plugins.found", "plugins.0.path", ""),
					resource.TestCheckResourceAttr("data.microsandbox_plugins.installed", "plugins.#", "1"),
					resource.TestCheckResourceAttr("data.microsandbox_plugins.installed", "plugins.0.verified", "true"),
					resource.TestCheckResourceAttrPair("data.microsandbox_plugins.installed", "plugins.0.path",
						"microsandbox_plugin.deny", "path"),
					func(*terraform.State) error {
						if got := guest(t, "guarded", "echo hi"); got != "hi" {
							return fmt.Errorf("exec: %q", got)
						}
						sb, err := msb.GetSandbox(ctx, "guarded")
						if err != nil {
							return err
						}
						defer sb.Close()
						if _, err := sb.ExecArgs(ctx, []string{"echo", "exfiltrate"}); !errors.Is(err, msb.ErrPolicyRefused) {
							return fmt.Errorf("the installed plugin did not deny the exec: %v", err)
						}
						return nil
					},
				),
			},
			{ResourceName: "microsandbox_plugin.deny", ImportState: true, ImportStateId: "tf-deny",
				ImportStateVerify: true},
			{ResourceName: "microsandbox_sandbox.guarded", ImportState: true, ImportStateId: "guarded",
				ImportStateVerify: true},
		},
		CheckDestroy: func(*terraform.State) error {
			if _, err := msb.InspectPlugin(ctx, "tf-deny"); !errors.Is(err, msb.ErrNotFound) {
				return fmt.Errorf("tf-deny is still installed: %v", err)
			}
			if _, err := msb.InspectPlugin(ctx, "no-such-plugin"); !errors.Is(err, msb.ErrNotFound) {
				return fmt.Errorf("a failed install left no-such-plugin: %v", err)
			}
			return nil
		},
	})
}
