// SPDX-License-Identifier: Apache-2.0

package provider

// The seeds' Terraform snippets, as written (docs in the seeds), against
// stand-ins for python:3.12 and node:20 in the image store.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/config"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	msb "github.com/microsandbox/microsandbox/sdk/go"
	"github.com/microsandbox/microsandbox/sdk/go/msbtest"
)

const seedSecrets = `
variable "openai_api_key" {
  type      = string
  sensitive = true
}

resource "microsandbox_sandbox" "agent" {
  name = "agent"
  image = "python:3.12"

  secret {
    env_name = "OPENAI_API_KEY"
    value = var.openai_api_key
    allowed_host = "api.openai.com"
  }
}
`

const seedNetwork = `
resource "microsandbox_sandbox" "worker" {
  name = "worker"
  image = "node:20"

  network {
    allow = ["api.openai.com", "*.stripe.com"]
    block_cidr = ["169.254.0.0/16", "10.0.0.0/8"]
  }
}
`

const seedVolumes = `
resource "microsandbox_sandbox" "app" {
  name = "app"
  image = "python:3.12"

  volume {
    mount_path = "/data"
    backend = "passthrough"
    source = "./data"
  }

  volume {
    mount_path = "/cache"
    backend = "memory"
  }
}
`

// seedSnapshot is the snapshot seed with count = @n (100 in the seed and
// bench/terraform.py).
func seedSnapshot(n int) string {
	return fmt.Sprintf(`
resource "microsandbox_sandbox" "base" {
  name = "base"
  image = "python:3.12"
}

resource "microsandbox_snapshot" "ml_ready" {
  sandbox = microsandbox_sandbox.base.name
  name = "ml-ready"
}

resource "microsandbox_sandbox" "worker" {
  count = %d
  name = "w-${count.index}"
  from_snapshot = microsandbox_snapshot.ml_ready.name
  env = { WORKER_ID = count.index }
}
`, n)
}

const seedPlugins = `
resource "microsandbox_sandbox" "app" {
  name = "app"
  image = "python:3.12"

  plugin {
    name = "audit-log"
    log_dir = "/var/log/audit"
  }

  plugin {
    name = "rate-limiter"
    max_exec_per_s = 100
  }

  plugin_process = [
    "node ./plugins/monitor.js",
    "python ./plugins/dlp.py",
  ]
}
`

const seedSpawn = `
resource "microsandbox_sandbox" "orchestrator" {
  name = "orchestrator"
  image = "python:3.12"
}

resource "microsandbox_sandbox" "researcher" {
  name = "researcher"
  image = "python:3.12"
  spawned_by = microsandbox_sandbox.orchestrator.name

  secret {
    env_name = "SERP_KEY"
    allowed_host = "serpapi.com"
  }
}

resource "microsandbox_sandbox" "coder" {
  name = "coder"
  image = "node:20"
  spawned_by = microsandbox_sandbox.orchestrator.name
  network { deny_all = true }
}
`

// seedSpawnParent is the spawn seed with what its orchestrator needs to
// have peers made (the seed leaves it out): spawning allowed (two live
// peers; coder's node:20 besides its own image) and the SERP_KEY it
// passes on to researcher by placeholder, from the provider's
// environment. With @byID, the peers refer to their parent's id, so
// that a replaced parent replaces them in the same apply.
func seedSpawnParent(allow int, byID bool) string {
	cfg := strings.Replace(seedSpawn, `  name = "orchestrator"
  image = "python:3.12"
`, fmt.Sprintf(`  name = "orchestrator"
  image = "python:3.12"
  allow_spawn = %d
  spawn_images = ["node:20"]

  secret {
    env_name = "SERP_KEY"
    allowed_host = "serpapi.com"
  }
`, allow), 1)
	if byID {
		cfg = strings.ReplaceAll(cfg, "microsandbox_sandbox.orchestrator.name", "microsandbox_sandbox.orchestrator.id")
	}
	return cfg
}

const seedSync = `
resource "microsandbox_sandbox" "ml_project" {
  name = "ml-project"
  image = "python:3.12"

  sync {
    enabled = true
  }
}
`

// TestAccSeeds applies the secrets, network and volumes seeds together
// (their resource names differ) and checks each guest.
func TestAccSeeds(t *testing.T) {
	needCLI(t)
	seedImages(t)
	// The volumes seed's "./data" is relative to where Terraform runs
	// (the provider's working directory).
	wd, _ := os.Getwd()
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "data"), 0o755)
	os.WriteFile(filepath.Join(dir, "data", "in.txt"), []byte("from the host\n"), 0o644)
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)
	const key = "sk-real-key-kept-on-the-host"
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories,
		Steps: []resource.TestStep{
			{
				Config:          seedSecrets + seedNetwork + seedVolumes,
				ConfigVariables: config.Variables{"openai_api_key": config.StringVariable(key)},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("microsandbox_sandbox.agent", "image", "python:3.12"),
					resource.TestCheckNoResourceAttr("microsandbox_sandbox.agent", "secret.0.value"),
					resource.TestCheckResourceAttr("microsandbox_sandbox.worker", "network.allow.1", "*.stripe.com"),
					func(s *terraform.State) error {
						for name, r := range s.RootModule().Resources {
							for k, v := range r.Primary.Attributes {
								if strings.Contains(v, key) {
									return fmt.Errorf("the key is in the state: %s.%s", name, k)
								}
							}
						}
						ph := s.RootModule().Resources["microsandbox_sandbox.agent"].Primary.Attributes["secret.0.placeholder"]
						if got := guest(t, "agent", "echo $OPENAI_API_KEY; echo $SEED_IMAGE"); got != ph+"\npython:3.12" || !strings.HasPrefix(ph, "msb_placeholder_") {
							return fmt.Errorf("agent: %q (placeholder %q)", got, ph)
						}
						if got := guest(t, "worker", "echo $SEED_IMAGE"); got != "node:20" {
							return fmt.Errorf("worker: %q", got)
						}
						if got := guest(t, "app", "cat /data/in.txt; grep -c ' /cache ' /proc/mounts"); got != "from the host\n1" {
							return fmt.Errorf("app: %q", got)
						}
						return nil
					},
				),
			},
		},
	})
}

// TestAccSeedSpawn applies the spawn seed: as written, its orchestrator
// may start no peers, which the apply says; with allow_spawn and the
// secret it passes on, the orchestrator's own msb start makes researcher
// (SERP_KEY by a placeholder of its own, bound to serpapi.com) and the
// air-gapped coder, which the host's records name as its peers. The
// re-plan is empty, an import reads a peer back with spawned_by, a
// replaced parent (its peers referring to its id) has its peers replaced
// in the same apply, and one whose peers refer to its name has them made
// again by the next apply.
func TestAccSeedSpawn(t *testing.T) {
	needCLI(t)
	seedImages(t)
	const key = "serp-key-kept-on-the-host"
	t.Setenv("SERP_KEY", key) // the provider's environment: the orchestrator's value
	ctx := context.Background()
	peersOK := func(s *terraform.State) error {
		for _, name := range []string{"researcher", "coder"} {
			if by, err := msb.SandboxParent(ctx, name); err != nil || by != "orchestrator" {
				return fmt.Errorf("%s: parent %q (%v)", name, by, err)
			}
		}
		for name, r := range s.RootModule().Resources {
			for k, v := range r.Primary.Attributes {
				if strings.Contains(v, key) {
					return fmt.Errorf("the key is in the state: %s.%s", name, k)
				}
			}
		}
		attrs := s.RootModule().Resources["microsandbox_sandbox.researcher"].Primary.Attributes
		ph, parentPh := attrs["secret.0.placeholder"],
			s.RootModule().Resources["microsandbox_sandbox.orchestrator"].Primary.Attributes["secret.0.placeholder"]
		if !strings.HasPrefix(ph, "msb_placeholder_") || ph == parentPh {
			return fmt.Errorf("researcher's placeholder %q (its parent's %q)", ph, parentPh)
		}
		if got := guest(t, "researcher", "echo $SERP_KEY $SEED_IMAGE"); got != ph+" python:3.12" {
			return fmt.Errorf("researcher: %q", got)
		}
		if got := guest(t, "coder", "echo $SEED_IMAGE"); got != "node:20" {
			return fmt.Errorf("coder: %q", got)
		}
		d, err := inspect(ctx, "coder")
		if err != nil {
			return err
		}
		if !d.doc.Config.Net.DenyAll || len(d.doc.Config.Net.Allow) > 0 {
			return fmt.Errorf("coder's network: %+v", d.doc.Config.Net)
		}
		return nil
	}
	var firstCreated string
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories,
		Steps: []resource.TestStep{
			{
				// The seed as written: the orchestrator is made, its
				// peers are refused, saying what it lacks.
				Config:      seedSpawn,
				ExpectError: regexp.MustCompile(`may\s+start\s+no\s+peers:\s+give\s+it\s+allow_spawn`),
			},
			{
				// allow_spawn replaces the orchestrator; its peers are made.
				Config: seedSpawnParent(2, false),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("microsandbox_sandbox.orchestrator", plancheck.ResourceActionDestroyBeforeCreate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("microsandbox_sandbox.researcher", "spawned_by", "orchestrator"),
					resource.TestCheckResourceAttr("microsandbox_sandbox.coder", "spawned_by", "orchestrator"),
					resource.TestCheckResourceAttr("microsandbox_sandbox.orchestrator", "allow_spawn", "2"),
					resource.TestCheckResourceAttr("microsandbox_sandbox.orchestrator", "spawn_memory", "512"),
					resource.TestCheckResourceAttr("microsandbox_sandbox.orchestrator", "spawn_total_memory", "1024"),
					resource.TestCheckNoResourceAttr("microsandbox_sandbox.orchestrator", "spawned_by"),
					resource.TestCheckNoResourceAttr("microsandbox_sandbox.coder", "spawn_cpus"),
					peersOK,
					func(*terraform.State) error {
						i, err := msb.GetSandbox(ctx, "researcher")
						if err == nil {
							var info *msb.SandboxInfo
							if info, err = i.Info(ctx); err == nil {
								firstCreated = info.CreatedAt.String() + fmt.Sprint(info.Pid)
							}
						}
						return err
					},
				),
			},
			{
				// A peer imports with its parent and what it asked for.
				ResourceName:      "microsandbox_sandbox.researcher",
				ImportState:       true,
				ImportStateId:     "researcher",
				ImportStateVerify: true,
			},
			{
				// A parent replaced: peers that refer to its id are
				// replaced with it, in the same apply (the re-plan after
				// it is empty).
				Config: seedSpawnParent(3, true) + `
data "microsandbox_sandboxes" "all" {
  depends_on = [microsandbox_sandbox.researcher, microsandbox_sandbox.coder]
}
`,
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("microsandbox_sandbox.orchestrator", plancheck.ResourceActionDestroyBeforeCreate),
					plancheck.ExpectResourceAction("microsandbox_sandbox.researcher", plancheck.ResourceActionDestroyBeforeCreate),
					plancheck.ExpectResourceAction("microsandbox_sandbox.coder", plancheck.ResourceActionDestroyBeforeCreate),
				}},
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("microsandbox_sandbox.orchestrator", "allow_spawn", "3"),
					resource.TestCheckTypeSetElemNestedAttrs("data.microsandbox_sandboxes.all", "sandboxes.*",
						map[string]string{"name": "coder", "parent": "orchestrator"}),
					resource.TestCheckTypeSetElemNestedAttrs("data.microsandbox_sandboxes.all", "sandboxes.*",
						map[string]string{"name": "orchestrator", "parent": ""}),
					peersOK,
					func(*terraform.State) error {
						i, err := msb.GetSandbox(ctx, "researcher")
						if err != nil {
							return err
						}
						info, err := i.Info(ctx)
						if err != nil {
							return err
						}
						if info.CreatedAt.String()+fmt.Sprint(info.Pid) == firstCreated {
							return fmt.Errorf("researcher was not made anew")
						}
						return nil
					},
				),
			},
			{
				// Peers that refer to their parent's name see no change
				// when it is replaced: the apply leaves them gone, and
				// the next plan makes them again...
				Config: seedSpawnParent(4, false),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("microsandbox_sandbox.orchestrator", plancheck.ResourceActionDestroyBeforeCreate),
					plancheck.ExpectResourceAction("microsandbox_sandbox.researcher", plancheck.ResourceActionNoop),
				}},
				Check: func(*terraform.State) error {
					if _, err := msb.GetSandbox(ctx, "researcher"); !errors.Is(err, msb.ErrNotFound) {
						return fmt.Errorf("researcher outlived its parent's replacement: %v", err)
					}
					return nil
				},
				ExpectNonEmptyPlan: true,
			},
			{
				// ...which makes them.
				Config: seedSpawnParent(4, false),
				ConfigPlanChecks: resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
					plancheck.ExpectResourceAction("microsandbox_sandbox.researcher", plancheck.ResourceActionCreate),
					plancheck.ExpectResourceAction("microsandbox_sandbox.coder", plancheck.ResourceActionCreate),
				}},
				Check: peersOK,
			},
		},
	})
	// the destroy removed the parent and its peers
	for _, name := range []string{"orchestrator", "researcher", "coder"} {
		if _, err := msb.GetSandbox(ctx, name); !errors.Is(err, msb.ErrNotFound) {
			t.Errorf("%s outlived the destroy: %v", name, err)
		}
	}
}

// TestAccSeedSnapshot is the snapshot seed with 5 workers forked from
// one baseline (100 in bench/terraform.py).
func TestAccSeedSnapshot(t *testing.T) {
	needCLI(t)
	seedImages(t)
	const n = 5
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories,
		Steps: []resource.TestStep{
			{
				Config: seedSnapshot(n),
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr("microsandbox_snapshot.ml_ready", "kind", "full"),
					resource.TestCheckResourceAttr("microsandbox_sandbox.worker.4", "image", "python:3.12"),
					resource.TestCheckResourceAttr("microsandbox_sandbox.worker.4", "running", "true"),
					func(*terraform.State) error {
						for i := 0; i < n; i++ {
							if got := guest(t, fmt.Sprintf("w-%d", i), "echo $WORKER_ID $SEED_IMAGE"); got != fmt.Sprintf("%d python:3.12", i) {
								return fmt.Errorf("w-%d: %q", i, got)
							}
						}
						return nil
					},
				),
			},
			{
				ResourceName:      "microsandbox_snapshot.ml_ready",
				ImportState:       true,
				ImportStateId:     "ml-ready",
				ImportStateVerify: true,
			},
			{
				// A restored sandbox imports with its snapshot and env.
				ResourceName:      "microsandbox_sandbox.worker[2]",
				ImportState:       true,
				ImportStateId:     "w-2",
				ImportStateVerify: true,
			},
		},
	})
}

// The plugins seed's monitor.js: a small plugin written from the hook
// protocol (docs/plugins.md) that allows everything. Its dlp.py is
// msbtest's plugin that denies every exec of `exfiltrate`.
const monitorJs = `
const net = require('net');
const s = new net.Socket({ fd: 3, readable: true, writable: true });
let buf = Buffer.alloc(0);
function send(m) {
  const b = Buffer.from(JSON.stringify(m)), h = Buffer.alloc(4);
  h.writeUInt32BE(b.length);
  s.write(Buffer.concat([h, b]));
}
s.on('data', (d) => {
  buf = Buffer.concat([buf, d]);
  while (buf.length >= 4) {
    const n = buf.readUInt32BE(0);
    if (buf.length < 4 + n) break;
    const m = JSON.parse(buf.subarray(4, 4 + n));
    buf = buf.subarray(4 + n);
    if (m.type === 'hello') send({ type: 'hello', name: 'monitor', hooks: ['exec_before'] });
    else if (m.type === 'call') send({ type: 'reply', id: m.id, verdict: 'allow' });
  }
});
`

// TestAccSeedPlugins applies the plugins seed as written: the audit-log
// and rate-limiter built-ins and two plugin processes, asked in order.
func TestAccSeedPlugins(t *testing.T) {
	needCLI(t)
	seedImages(t)
	for _, bin := range []string{"node", "python3"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("the seed's plugin processes need %s", bin)
		}
	}
	wd, _ := os.Getwd()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "plugins"), 0o755)
	os.WriteFile(filepath.Join(dir, "plugins", "dlp.py"), msbtest.DenyExecPlugin("dlp", "exfiltrate", "DLP"), 0o644)
	os.WriteFile(filepath.Join(dir, "plugins", "monitor.js"), []byte(monitorJs), 0o644)
	if _, err := exec.LookPath("python"); err != nil { // Debian has python3 only
		os.MkdirAll(filepath.Join(dir, "bin"), 0o755)
		py, _ := exec.LookPath("python3")
		os.Symlink(py, filepath.Join(dir, "bin", "python"))
		t.Setenv("PATH", filepath.Join(dir, "bin")+":"+os.Getenv("PATH"))
	}
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir(wd)
	// The seed's audit log goes to the host's /var/log/audit: leave
	// nothing there that was not.
	_, statErr := os.Stat("/var/log/audit")
	defer func() {
		os.Remove("/var/log/audit/app.jsonl")
		if os.IsNotExist(statErr) {
			os.Remove("/var/log/audit")
		}
	}()
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories,
		Steps: []resource.TestStep{{
			Config: seedPlugins,
			Check: func(*terraform.State) error {
				if got := guest(t, "app", "echo hi"); got != "hi" {
					return fmt.Errorf("exec: %q", got)
				}
				sb, err := msb.GetSandbox(context.Background(), "app")
				if err != nil {
					return err
				}
				defer sb.Close()
				_, err = sb.ExecArgs(context.Background(), []string{"echo", "exfiltrate"})
				if !errors.Is(err, msb.ErrPolicyRefused) {
					return fmt.Errorf("dlp.py did not deny the exec: %v", err)
				}
				audit, _ := os.ReadFile("/var/log/audit/app.jsonl")
				if !strings.Contains(string(audit), `"exec_before"`) {
					return fmt.Errorf("audit log: %q", audit)
				}
				return nil
			},
		}, {
			// An import reads the plugin chain back.
			ResourceName: "microsandbox_sandbox.app", ImportState: true, ImportStateId: "app",
			ImportStateVerify: true,
		}},
	})
}

// manifestDigest is the digest of the manifest tag @tag of repository
// @repo holds on the registry at @host, "" if there is none.
func manifestDigest(host, repo, tag string) (string, error) {
	req, _ := http.NewRequest(http.MethodHead, "http://"+host+"/v2/"+repo+"/manifests/"+tag, nil)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return resp.Header.Get("Docker-Content-Digest"), nil
	case http.StatusNotFound:
		return "", nil
	}
	return "", fmt.Errorf("HEAD %s/%s:%s: %s", host, repo, tag, resp.Status)
}

// retag puts on tag @tag of repository @repo at @host a manifest of its
// own: the one there with an annotation more, as another push would.
func retag(host, repo, tag string) error {
	url := "http://" + host + "/v2/" + repo + "/manifests/" + tag
	const mt = "application/vnd.oci.image.manifest.v1+json"
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept", mt)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	var m map[string]any
	err = json.NewDecoder(resp.Body).Decode(&m)
	resp.Body.Close()
	if err != nil {
		return err
	}
	ann, _ := m["annotations"].(map[string]any)
	if ann == nil {
		ann = map[string]any{}
	}
	ann["org.example.pushed-by"] = "another machine"
	m["annotations"] = ann
	b, _ := json.Marshal(m)
	req, _ = http.NewRequest(http.MethodPut, url, bytes.NewReader(b))
	req.Header.Set("Content-Type", mt)
	if resp, err = http.DefaultClient.Do(req); err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("PUT %s: %s", url, resp.Status)
	}
	return nil
}

// TestAccSeedSync applies the sync seed as written, with a registry on
// loopback as the remote (msb remote set): refused at plan while there is
// no remote; sync turned off and on in place; the sandbox pushes itself
// when Terraform stops it, and `msb pull ml-project` makes what it pushed
// (with the setting); an import reads sync back; a push refused at a stop
// (another push took the tag) fails the apply and leaves it stopped; a
// destroy of it running pushes it once more.
func TestAccSeedSync(t *testing.T) {
	needCLI(t)
	seedImages(t)
	host := startRegistry(t)
	t.Setenv("MSB_REMOTE", "") // the remote is msb remote set's only
	ctx := context.Background()
	defer msb.SetRemote(ctx, "", false)
	const addr = "microsandbox_sandbox.ml_project"
	syncOff := strings.Replace(seedSync, "enabled = true", "enabled = false", 1)
	stopped := strings.Replace(seedSync, `image = "python:3.12"`, "image = \"python:3.12\"\n  running = false", 1)
	update := resource.ConfigPlanChecks{PreApply: []plancheck.PlanCheck{
		plancheck.ExpectResourceAction(addr, plancheck.ResourceActionUpdate)}}
	syncs := func(want bool) func(*terraform.State) error {
		return func(*terraform.State) error {
			sb, err := msb.GetSandbox(ctx, "ml-project")
			if err != nil {
				return err
			}
			defer sb.Close()
			if on, err := sb.Syncs(ctx); err != nil || on != want {
				return fmt.Errorf("ml-project syncs: %v %v, want %v", on, err, want)
			}
			return nil
		}
	}
	var pushed string // the digest of the push at the stop
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: factories,
		Steps: []resource.TestStep{
			{Config: seedSync, PlanOnly: true, ExpectError: regexp.MustCompile(`nowhere to push to`)},
			{
				PreConfig: func() {
					if err := msb.SetRemote(ctx, host+"/tf", false); err != nil {
						t.Fatal(err)
					}
				},
				Config: seedSync,
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(addr, "sync.enabled", "true"),
					resource.TestCheckResourceAttr(addr, "running", "true"),
					syncs(true),
					func(*terraform.State) error {
						guest(t, "ml-project", "echo from-terraform > /root/mark; sync")
						// Nothing is pushed before a stop.
						if d, err := manifestDigest(host, "tf/ml-project", "latest"); d != "" || err != nil {
							return fmt.Errorf("pushed before a stop: %q %v", d, err)
						}
						return nil
					},
				),
			},
			{Config: syncOff, ConfigPlanChecks: update, Check: syncs(false)},
			{
				Config: stopped, ConfigPlanChecks: update,
				Check: resource.ComposeAggregateTestCheckFunc(
					resource.TestCheckResourceAttr(addr, "running", "false"),
					syncs(true),
					func(*terraform.State) error {
						var err error
						if pushed, err = manifestDigest(host, "tf/ml-project", "latest"); pushed == "" || err != nil {
							return fmt.Errorf("no push at the stop: %v", err)
						}
						// The seed's comment: msb pull ml-project, on
						// any machine (here under another name).
						pulled, err := msb.Pull(ctx, "ml-project", msb.SyncName("ml-copy"))
						if err != nil {
							return err
						}
						defer pulled.Remove(ctx)
						if got := pulled.LastSync().Digest; got != pushed {
							return fmt.Errorf("pulled %s, pushed %s", got, pushed)
						}
						if on, err := pulled.Syncs(ctx); !on || err != nil {
							return fmt.Errorf("the pulled sandbox does not sync: %v %v", on, err)
						}
						return nil
					},
				),
			},
			{ResourceName: addr, ImportState: true, ImportStateId: "ml-project", ImportStateVerify: true},
			{
				// Another push takes the tag meanwhile (its manifest
				// with an annotation more), and the sandbox starts.
				PreConfig: func() {
					if err := retag(host, "tf/ml-project", "latest"); err != nil {
						t.Fatal(err)
					}
				},
				Config: seedSync, ConfigPlanChecks: update,
				Check: resource.TestCheckResourceAttr(addr, "running", "true"),
			},
			{
				// Its push at the stop is then refused: the apply fails
				// saying so, the sandbox stopped and kept.
				Config:      stopped,
				ExpectError: regexp.MustCompile(`stopped, but its push failed`),
			},
			{
				// Pushed by hand with force (the tag is its own again),
				// it is started: the plan saw it stopped.
				PreConfig: func() {
					if s := sandboxStatus(t, "ml-project"); s != "stopped" {
						t.Fatalf("after the failed push ml-project is %s, not stopped", s)
					}
					sb, err := msb.GetSandbox(ctx, "ml-project")
					if err == nil {
						_, err = sb.Push(ctx, msb.SyncForce())
						sb.Close()
					}
					if err != nil {
						t.Fatal(err)
					}
				},
				Config: seedSync, ConfigPlanChecks: update,
				Check: resource.TestCheckResourceAttr(addr, "running", "true"),
			},
		},
		// The destroy stopped it running, which pushed it again.
		CheckDestroy: func(*terraform.State) error {
			if _, err := msb.GetSandbox(ctx, "ml-project"); !errors.Is(err, msb.ErrNotFound) {
				return fmt.Errorf("ml-project is still here: %v", err)
			}
			if d, err := manifestDigest(host, "tf/ml-project", "latest"); d == "" || d == pushed || err != nil {
				return fmt.Errorf("the destroy did not push: %q (the stop's %q) %v", d, pushed, err)
			}
			return nil
		},
	})
}
