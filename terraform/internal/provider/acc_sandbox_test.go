// SPDX-License-Identifier: Apache-2.0

package provider

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	msb "github.com/microsandbox/microsandbox/sdk/go"
)

// lifecycleConfig is a sandbox using most of what msb run takes, a named
// volume it mounts and the data sources; @running and @env vary by step.
func lifecycleConfig(dir string, running bool, envValue string) string {
	return fmt.Sprintf(`
resource "microsandbox_volume" "data" {
  name = "tf-data"
  size = 64
}

resource "microsandbox_sandbox" "app" {
  name    = "tf-app"
  cpus    = 1
  memory  = 256
  disk_size = 1024
  env     = { MODE = %q }
  workdir = "/tmp"
  ports   = ["0:80"]
  running = %t
  on_secret_violation = "log"
  tls_bypass = ["bypass.example.com"]

  volume {
    mount_path = "/data"
    backend    = "passthrough"
    source     = %q
  }
  volume {
    mount_path = "/cache"
    backend    = "memory"
    size       = 16
    cache      = "auto"
    cache_timeout_ms = 2500
  }
  volume {
    mount_path = "/shared"
    backend    = "named"
    source     = microsandbox_volume.data.name
    read_only  = true
  }

  secret {
    env_name     = "API_KEY"
    value_env    = "TF_TEST_API_KEY"
    allowed_host = "api.example.com"
    inject       = ["query"]
  }

  network {
    allow      = ["api.example.com"]
    block_cidr = ["10.0.0.0/8"]
    allow_host = [11434]
  }
}

data "microsandbox_sandboxes" "all" {
  depends_on = [microsandbox_sandbox.app]
}

data "microsandbox_images" "all" {}
`, envValue, running, dir)
}

func sandboxStatus(t *testing.T, name string) string {
	t.Helper()
	sb, err := msb.GetSandbox(context.Background(), name)
	if err != nil {
		return "absent"
	}
	defer sb.Close()
	info, err := sb.Info(context.Background())
	if err != nil {
		t.Fatalf("sandbox %s: %v", name, err)
	}
	return info.Status
}

// TestAccSandboxLifecycle applies a sandbox, re-plans (the framework
// checks the plan after every apply is empty), stops and starts it in
// place, sees it stopped and removed outside Terraform, replaces it for
// a changed attribute, imports it by name and destroys everything.
func TestAccSandboxLifecycle(t *testing.T) {
	needCLI(t)
	dir := t.TempDir()
	os.Setenv("TF_TEST_API_KEY", "real-value-never-in-state")
	app := "microsandbox_sandbox.app"
	var placeholder string
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories,
		CheckDestroy: func(*terraform.State) error {
			if s := sandboxStatus(t, "tf-app"); s != "absent" {
				return fmt.Errorf("tf-app is %s after destroy", s)
			}
			if _, err := msb.GetVolume(context.Background(), "tf-data"); err == nil {
				return fmt.Errorf("volume tf-data is left after destroy")
			}
			return nil
		},
		Steps: []resource.TestStep{
			{
				// An image no registry serves: the create fails with
				// libmsb's message and leaves no sandbox behind.
				Config: `resource "microsandbox_sandbox" "app" {
  name  = "tf-app"
  image = "127.0.0.1:1/nosuch:1"
}`,
				ExpectError: regexp.MustCompile(`Cannot create sandbox tf-app`),
			},
			{
				PreConfig: func() {
					if s := sandboxStatus(t, "tf-app"); s != "absent" {
						t.Fatalf("a failed create left tf-app %s", s)
					}
				},
				Config: lifecycleConfig(dir, true, "one"),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(app, "running", "true"),
					resource.TestCheckResourceAttr(app, "image", "default"),
					resource.TestCheckResourceAttr(app, "memory", "256"),
					resource.TestCheckResourceAttr(app, "disk_size", "1024"),
					resource.TestCheckResourceAttrSet(app, "published_ports.80/tcp"),
					resource.TestMatchResourceAttr(app, "secret.0.placeholder",
						regexp.MustCompile(`^msb_placeholder_[0-9a-f]+$`)),
					resource.TestCheckResourceAttr("data.microsandbox_sandboxes.all", "sandboxes.0.name", "tf-app"),
					resource.TestCheckResourceAttr("data.microsandbox_images.all", "images.0.reference", "default"),
					func(s *terraform.State) error {
						placeholder = s.RootModule().Resources[app].Primary.Attributes["secret.0.placeholder"]
						// The guest holds the placeholder, the state never the value.
						if got := guest(t, "tf-app", "echo $API_KEY"); got != placeholder {
							return fmt.Errorf("guest's API_KEY is %q, not the placeholder %q", got, placeholder)
						}
						for k, v := range s.RootModule().Resources[app].Primary.Attributes {
							if strings.Contains(v, "real-value") {
								return fmt.Errorf("the secret's value is in the state (%s)", k)
							}
						}
						if got := guest(t, "tf-app", "echo $MODE; pwd; echo hi > /data/f; cat /proc/mounts | grep -c ' /cache '"); got != "one\n/tmp\n1" {
							return fmt.Errorf("guest: %q", got)
						}
						if b, err := os.ReadFile(filepath.Join(dir, "f")); err != nil || string(b) != "hi\n" {
							return fmt.Errorf("the passthrough volume: %q %v", b, err)
						}
						return nil
					},
				),
			},
			{
				// running is changed in place, both ways.
				Config: lifecycleConfig(dir, false, "one"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(app, plancheck.ResourceActionUpdate)}},
				Check: func(*terraform.State) error {
					if s := sandboxStatus(t, "tf-app"); s != "stopped" {
						return fmt.Errorf("tf-app is %s, not stopped", s)
					}
					return nil
				},
			},
			{
				Config: lifecycleConfig(dir, true, "one"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(app, plancheck.ResourceActionUpdate)}},
				Check: resource.TestCheckResourceAttr(app, "running", "true"),
			},
			{
				// Stopped outside Terraform: the plan starts it again.
				PreConfig: func() {
					if err := stopSandbox(context.Background(), "tf-app"); err != nil {
						t.Fatal(err)
					}
				},
				Config: lifecycleConfig(dir, true, "one"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(app, plancheck.ResourceActionUpdate),
					plancheck.ExpectKnownValue(app, tfjsonpath.New("running"), knownvalue.Bool(true))}},
				Check: func(*terraform.State) error {
					if s := sandboxStatus(t, "tf-app"); s != "running" {
						return fmt.Errorf("tf-app is %s, not running", s)
					}
					return nil
				},
			},
			{
				// Removed outside Terraform: the plan makes it again.
				PreConfig: func() {
					sb, err := msb.GetSandbox(context.Background(), "tf-app")
					if err == nil {
						err = sb.Remove(context.Background())
					}
					if err != nil {
						t.Fatal(err)
					}
				},
				Config: lifecycleConfig(dir, true, "one"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(app, plancheck.ResourceActionCreate)}},
			},
			{
				// Any other attribute replaces it.
				Config: lifecycleConfig(dir, true, "two"),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction(app, plancheck.ResourceActionDestroyBeforeCreate)}},
				Check: func(s *terraform.State) error {
					if got := guest(t, "tf-app", "echo $MODE"); got != "two" {
						return fmt.Errorf("MODE is %q after the replacement", got)
					}
					return nil
				},
			},
			{
				// Import by name gives the state apply made.
				ResourceName:      app,
				ImportState:       true,
				ImportStateId:     "tf-app",
				ImportStateVerify: true,
			},
			{
				ResourceName:            "microsandbox_volume.data",
				ImportState:             true,
				ImportStateId:           "tf-data",
				ImportStateVerify:       true,
				ImportStateVerifyIgnore: []string{"force_destroy"},
			},
		},
	})
}
