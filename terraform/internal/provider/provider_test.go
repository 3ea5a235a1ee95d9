// SPDX-License-Identifier: Apache-2.0

package provider

// Unit tests: no CLI and no sandbox. They speak the plugin protocol
// (tfprotov6) to the provider as a CLI does, with the requests `validate`
// and `plan` send, and read the schema the docs are made from.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"

	msb "github.com/microsandbox/microsandbox/sdk/go"
)

func server(t *testing.T) tfprotov6.ProviderServer {
	t.Helper()
	s, err := providerserver.NewProtocol6WithError(New())()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func sandboxType(t *testing.T) tftypes.Object {
	t.Helper()
	return sandboxSchema().Type().TerraformType(context.Background()).(tftypes.Object)
}

// obj is an object of type @ty with @vals, every other attribute null.
func obj(ty tftypes.Object, vals map[string]tftypes.Value) tftypes.Value {
	m := map[string]tftypes.Value{}
	for k, at := range ty.AttributeTypes {
		if v, ok := vals[k]; ok {
			m[k] = v
		} else {
			m[k] = tftypes.NewValue(at, nil)
		}
	}
	return tftypes.NewValue(ty, m)
}

func str(s string) tftypes.Value { return tftypes.NewValue(tftypes.String, s) }
func boolV(b bool) tftypes.Value { return tftypes.NewValue(tftypes.Bool, b) }
func num(n int64) tftypes.Value  { return tftypes.NewValue(tftypes.Number, n) }
func strs(v ...string) tftypes.Value {
	elems := make([]tftypes.Value, len(v))
	for i, s := range v {
		elems[i] = str(s)
	}
	return tftypes.NewValue(tftypes.List{ElementType: tftypes.String}, elems)
}

// block is a list block of @name holding objects with @items' values.
func block(ty tftypes.Object, name string, items ...map[string]tftypes.Value) tftypes.Value {
	lt := ty.AttributeTypes[name].(tftypes.List)
	et := lt.ElementType.(tftypes.Object)
	elems := make([]tftypes.Value, len(items))
	for i, it := range items {
		elems[i] = obj(et, it)
	}
	return tftypes.NewValue(lt, elems)
}

func dyn(t *testing.T, ty tftypes.Type, v tftypes.Value) *tfprotov6.DynamicValue {
	t.Helper()
	d, err := tfprotov6.NewDynamicValue(ty, v)
	if err != nil {
		t.Fatal(err)
	}
	return &d
}

func diagText(ds []*tfprotov6.Diagnostic) string {
	var b strings.Builder
	for _, d := range ds {
		b.WriteString(d.Summary + ": " + d.Detail + "\n")
	}
	return b.String()
}

// TestUnitSchema: the provider's schema is valid, names what the docs say,
// and keeps secret values out of plans and state.
func TestUnitSchema(t *testing.T) {
	resp, err := server(t).GetProviderSchema(context.Background(), &tfprotov6.GetProviderSchemaRequest{})
	if err != nil || len(resp.Diagnostics) > 0 {
		t.Fatalf("%v %s", err, diagText(resp.Diagnostics))
	}
	for _, r := range []string{"microsandbox_sandbox", "microsandbox_snapshot", "microsandbox_volume",
		"microsandbox_plugin"} {
		if resp.ResourceSchemas[r] == nil {
			t.Errorf("no resource %s", r)
		}
	}
	for _, d := range []string{"microsandbox_images", "microsandbox_sandboxes", "microsandbox_plugins"} {
		if resp.DataSourceSchemas[d] == nil {
			t.Errorf("no data source %s", d)
		}
	}
	var value *tfprotov6.SchemaAttribute
	for _, b := range resp.ResourceSchemas["microsandbox_sandbox"].Block.BlockTypes {
		if b.TypeName == "secret" {
			for _, a := range b.Block.Attributes {
				if a.Name == "value" {
					value = a
				}
			}
		}
	}
	if value == nil || !value.WriteOnly || !value.Sensitive {
		t.Fatalf("secret.value must be write-only and sensitive: %+v", value)
	}
}

// TestUnitReplaceDocumented: every attribute of a sandbox one sets either
// changes in place (running) or forces a replacement, and its description
// says which (the generated docs are made from them).
func TestUnitReplaceDocumented(t *testing.T) {
	inPlace := map[string]bool{"running": true}
	s := sandboxSchema()
	for name, a := range s.Attributes {
		if !a.IsOptional() && !a.IsRequired() {
			continue // computed only
		}
		desc := a.GetDescription()
		switch {
		case inPlace[name]:
			if !strings.Contains(desc, "in place") || hasReplace(a) {
				t.Errorf("%s: changed in place; description %q", name, desc)
			}
		default:
			if !hasReplace(a) || !strings.Contains(desc, "replaces the sandbox") {
				t.Errorf("%s: should force a replacement and say so; description %q", name, desc)
			}
		}
	}
	for _, name := range []string{"volume", "secret", "plugin"} {
		b := s.Blocks[name].(schema.ListNestedBlock)
		if len(b.PlanModifiers) == 0 || !strings.Contains(b.Description, "replaces the sandbox") {
			t.Errorf("block %s: should force a replacement and say so", name)
		}
	}
	// sync is turned on or off on the sandbox as it is.
	b := s.Blocks["sync"].(schema.SingleNestedBlock)
	if len(b.PlanModifiers) != 0 || !strings.Contains(b.Description, "Changed in place") ||
		!strings.Contains(b.Attributes["enabled"].GetDescription(), "in place") {
		t.Errorf("block sync: changed in place, and should say so")
	}
}

func hasReplace(a schema.Attribute) bool {
	ctx := context.Background()
	switch a := a.(type) {
	case schema.StringAttribute:
		for _, m := range a.PlanModifiers {
			if strings.Contains(m.Description(ctx), "destroy and recreate") {
				return true
			}
		}
	case schema.Int64Attribute:
		for _, m := range a.PlanModifiers {
			if strings.Contains(m.Description(ctx), "destroy and recreate") {
				return true
			}
		}
	case schema.BoolAttribute:
		for _, m := range a.PlanModifiers {
			if strings.Contains(m.Description(ctx), "destroy and recreate") {
				return true
			}
		}
	case schema.ListAttribute:
		for _, m := range a.PlanModifiers {
			if strings.Contains(m.Description(ctx), "destroy and recreate") {
				return true
			}
		}
	case schema.MapAttribute:
		for _, m := range a.PlanModifiers {
			if strings.Contains(m.Description(ctx), "destroy and recreate") {
				return true
			}
		}
	}
	return false
}

func validate(t *testing.T, vals map[string]tftypes.Value) string {
	t.Helper()
	ty := sandboxType(t)
	resp, err := server(t).ValidateResourceConfig(context.Background(), &tfprotov6.ValidateResourceConfigRequest{
		TypeName: "microsandbox_sandbox", Config: dyn(t, ty, obj(ty, vals))})
	if err != nil {
		t.Fatal(err)
	}
	return diagText(resp.Diagnostics)
}

// TestUnitValidate: what cannot be served is refused at validate, before
// anything is made, with a diagnostic saying what to do.
func TestUnitValidate(t *testing.T) {
	ty := sandboxType(t)
	name := str("x")
	for _, c := range []struct {
		what string
		vals map[string]tftypes.Value
		want string
	}{
		{"a valid sandbox", map[string]tftypes.Value{"name": name, "image": str("python:3.12"),
			"volume": block(ty, "volume", map[string]tftypes.Value{"mount_path": str("/cache"), "backend": str("memory")}),
			"secret": block(ty, "secret", map[string]tftypes.Value{"env_name": str("K"), "allowed_host": str("a.com")})}, ""},
		{"built-in plugins and plugin processes", map[string]tftypes.Value{"name": name,
			"plugin": block(ty, "plugin", map[string]tftypes.Value{"name": str("audit-log"), "log_dir": str("/tmp/a")},
				map[string]tftypes.Value{"name": str("rate-limiter"), "max_exec_per_s": num(100)}),
			"plugin_process": strs("node m.js")}, ""},
		{"an installed plugin", map[string]tftypes.Value{"name": name,
			"plugin": block(ty, "plugin", map[string]tftypes.Value{"name": str("msb-dlp")})}, ""},
		{"an installed plugin with a setting", map[string]tftypes.Value{"name": name,
			"plugin": block(ty, "plugin", map[string]tftypes.Value{"name": str("msb-dlp"), "log_dir": str("/x")})},
			"takes no settings, not log_dir"},
		{"a setting the plugin does not take", map[string]tftypes.Value{"name": name,
			"plugin": block(ty, "plugin", map[string]tftypes.Value{"name": str("rate-limiter"), "log_dir": str("/x")})},
			"rate-limiter takes bytes_per_s and connect_per_s and max_exec_per_s, not log_dir"},
		{"a restore with plugins", map[string]tftypes.Value{"name": name, "from_snapshot": str("s"),
			"plugin_process": strs("node m.js")}, "not plugin_process"},
		{"a peer as the seed writes it", map[string]tftypes.Value{"name": name, "image": str("python:3.12"),
			"spawned_by": str("orchestrator"),
			"secret": block(ty, "secret", map[string]tftypes.Value{"env_name": str("SERP_KEY"),
				"allowed_host": str("serpapi.com")})}, ""},
		{"an air-gapped peer", map[string]tftypes.Value{"name": name, "spawned_by": str("orchestrator"),
			"network": obj(ty.AttributeTypes["network"].(tftypes.Object), map[string]tftypes.Value{"deny_all": boolV(true)})}, ""},
		{"a peer whose parent is not made yet", map[string]tftypes.Value{"name": name,
			"spawned_by": tftypes.NewValue(tftypes.String, tftypes.UnknownValue), "cpus": num(1), "memory": num(256),
			"secret": block(ty, "secret", map[string]tftypes.Value{"env_name": str("K"), "parent_env": str("TOKEN")})}, ""},
		{"a peer with a volume", map[string]tftypes.Value{"name": name, "spawned_by": str("o"),
			"volume": block(ty, "volume", map[string]tftypes.Value{"mount_path": str("/cache"), "backend": str("memory")})},
			"A peer (spawned_by) cannot have volume"},
		{"a peer with a volume, why", map[string]tftypes.Value{"name": name, "spawned_by": str("o"),
			"volume": block(ty, "volume", map[string]tftypes.Value{"mount_path": str("/d"), "backend": str("passthrough"),
				"source": str("./d")})}, "sees no directory of the host"},
		{"a peer with plugins", map[string]tftypes.Value{"name": name, "spawned_by": str("o"),
			"plugin": block(ty, "plugin", map[string]tftypes.Value{"name": str("rate-limiter")})},
			"A peer (spawned_by) cannot have plugin"},
		{"a peer with a workdir", map[string]tftypes.Value{"name": name, "spawned_by": str("o"), "workdir": str("/w")},
			"cannot have workdir"},
		{"a peer with a spawn policy", map[string]tftypes.Value{"name": name, "spawned_by": str("o"), "allow_spawn": num(2)},
			"root's allow_spawn"},
		{"a peer restored", map[string]tftypes.Value{"name": name, "spawned_by": str("o"), "from_snapshot": str("s")},
			"cannot have from_snapshot"},
		{"a peer's secret by value", map[string]tftypes.Value{"name": name, "spawned_by": str("o"),
			"secret": block(ty, "secret", map[string]tftypes.Value{"env_name": str("K"), "value": str("v")})},
			"A peer's secret cannot have value"},
		{"a peer's secret with places", map[string]tftypes.Value{"name": name, "spawned_by": str("o"),
			"secret": block(ty, "secret", map[string]tftypes.Value{"env_name": str("K"), "inject": strs("query")})},
			"its parent's setting"},
		{"a peer's wider network", map[string]tftypes.Value{"name": name, "spawned_by": str("o"),
			"network": obj(ty.AttributeTypes["network"].(tftypes.Object), map[string]tftypes.Value{
				"block_cidr": strs("10.0.0.0/8")})}, "cannot have network.block_cidr"},
		{"a peer's deny_all with allow", map[string]tftypes.Value{"name": name, "spawned_by": str("o"),
			"network": obj(ty.AttributeTypes["network"].(tftypes.Object), map[string]tftypes.Value{
				"deny_all": boolV(true), "allow": strs("a.com")})}, "air-gapped"},
		{"parent_env without spawned_by", map[string]tftypes.Value{"name": name,
			"secret": block(ty, "secret", map[string]tftypes.Value{"env_name": str("K"), "allowed_host": str("a.com"),
				"parent_env": str("K")})}, "parent_env is for a peer's secret"},
		{"a parent", map[string]tftypes.Value{"name": name, "allow_spawn": num(2), "spawn_images": strs("node:20"),
			"spawn_cpus": num(1), "spawn_memory": num(256), "spawn_total_memory": num(512)}, ""},
		{"spawn_images without allow_spawn", map[string]tftypes.Value{"name": name, "spawn_images": strs("node:20")},
			"spawn_images needs allow_spawn"},
		{"allow_spawn of 65", map[string]tftypes.Value{"name": name, "allow_spawn": num(65)},
			"allow_spawn out of range"},
		{"spawn_cpus of 0", map[string]tftypes.Value{"name": name, "allow_spawn": num(1), "spawn_cpus": num(0)},
			"spawn_cpus out of range"},
		{"a restore that may spawn", map[string]tftypes.Value{"name": name, "from_snapshot": str("s"),
			"allow_spawn": num(1)}, "not allow_spawn"},
		{"sync", map[string]tftypes.Value{"name": name, "sync": obj(ty.AttributeTypes["sync"].(tftypes.Object),
			map[string]tftypes.Value{"enabled": boolV(true)})}, ""},
		{"a restore with an image", map[string]tftypes.Value{"name": name, "from_snapshot": str("s"),
			"image": str("node:20"), "cpus": num(2)}, "not image"},
		{"disk_only alone", map[string]tftypes.Value{"name": name, "disk_only": boolV(true)},
			"disk_only needs from_snapshot"},
		{"an unknown backend", map[string]tftypes.Value{"name": name,
			"volume": block(ty, "volume", map[string]tftypes.Value{"mount_path": str("/d"), "backend": str("nfs")})},
			"Unknown volume backend"},
		{"a passthrough without source", map[string]tftypes.Value{"name": name,
			"volume": block(ty, "volume", map[string]tftypes.Value{"mount_path": str("/d"), "backend": str("passthrough")})},
			"needs a source"},
		{"a secret with two sources", map[string]tftypes.Value{"name": name,
			"secret": block(ty, "secret", map[string]tftypes.Value{"env_name": str("K"), "allowed_host": str("a.com"),
				"value_env": str("V"), "value_file": str("/f")})}, "one source"},
		{"a secret without a host", map[string]tftypes.Value{"name": name,
			"secret": block(ty, "secret", map[string]tftypes.Value{"env_name": str("K")})}, "needs its host"},
		{"a plugin timeout of 0", map[string]tftypes.Value{"name": name, "plugin_timeout_ms": num(0)},
			"plugin_timeout_ms out of range"},
		{"an unknown cache mode", map[string]tftypes.Value{"name": name,
			"volume": block(ty, "volume", map[string]tftypes.Value{"mount_path": str("/d"), "backend": str("memory"),
				"cache": str("sometimes")})}, "Unknown cache mode"},
		{"a restore with a disk size", map[string]tftypes.Value{"name": name, "from_snapshot": str("s"),
			"disk_size": num(1024)}, "not disk_size"},
		{"a bad violation action", map[string]tftypes.Value{"name": name, "on_secret_violation": str("drop")},
			"none of block, log and allow"},
	} {
		got := validate(t, c.vals)
		if c.want == "" && got != "" {
			t.Errorf("%s: refused: %s", c.what, got)
		}
		if c.want != "" && !strings.Contains(got, c.want) {
			t.Errorf("%s: want a diagnostic with %q, got %q", c.what, c.want, got)
		}
	}
}

// prior is a sandbox's state as apply leaves it.
func prior(ty tftypes.Object, running bool, secretVals map[string]tftypes.Value) tftypes.Value {
	vals := map[string]tftypes.Value{
		"id": str("x"), "name": str("x"), "image": str("default"), "cpus": num(1), "memory": num(512),
		"kernel": str("msb"), "boot_timeout": num(60), "running": boolV(running),
		"env":             tftypes.NewValue(tftypes.Map{ElementType: tftypes.String}, map[string]tftypes.Value{"A": str("1")}),
		"published_ports": tftypes.NewValue(tftypes.Map{ElementType: tftypes.String}, map[string]tftypes.Value{}),
	}
	if secretVals != nil {
		vals["secret"] = block(ty, "secret", secretVals)
	}
	return obj(ty, vals)
}

// plan sends PlanResourceChange as a CLI does: the proposed new state is
// the configuration with the prior state's computed values.
func plan(t *testing.T, priorV, proposed, config tftypes.Value) *tfprotov6.PlanResourceChangeResponse {
	t.Helper()
	ty := sandboxType(t)
	resp, err := server(t).PlanResourceChange(context.Background(), &tfprotov6.PlanResourceChangeRequest{
		TypeName: "microsandbox_sandbox", PriorState: dyn(t, ty, priorV),
		ProposedNewState: dyn(t, ty, proposed), Config: dyn(t, ty, config)})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range resp.Diagnostics {
		if d.Severity == tfprotov6.DiagnosticSeverityError {
			t.Fatalf("plan: %s", diagText(resp.Diagnostics))
		}
	}
	return resp
}

func withAttrs(ty tftypes.Object, v tftypes.Value, set map[string]tftypes.Value) tftypes.Value {
	var old map[string]tftypes.Value
	if err := v.As(&old); err != nil {
		panic(err)
	}
	m := map[string]tftypes.Value{} // As shares the value's own map
	for k, x := range old {
		m[k] = x
	}
	for k, x := range set {
		m[k] = x
	}
	return tftypes.NewValue(ty, m)
}

func replacePaths(resp *tfprotov6.PlanResourceChangeResponse) string {
	var out []string
	for _, p := range resp.RequiresReplace {
		out = append(out, p.String())
	}
	return strings.Join(out, ",")
}

// TestUnitPlan: running changes in place, anything else replaces, a
// stopped sandbox with a secret given by value is replaced to run again,
// and a secret's value never reaches the planned state.
func TestUnitPlan(t *testing.T) {
	ty := sandboxType(t)
	config := func(running bool, env string, secret map[string]tftypes.Value) tftypes.Value {
		vals := map[string]tftypes.Value{"name": str("x"), "running": boolV(running),
			"env": tftypes.NewValue(tftypes.Map{ElementType: tftypes.String}, map[string]tftypes.Value{"A": str(env)})}
		if secret != nil {
			vals["secret"] = block(ty, "secret", secret)
		}
		return obj(ty, vals)
	}
	proposed := func(p, c tftypes.Value) tftypes.Value {
		var cm map[string]tftypes.Value
		c.As(&cm)
		set := map[string]tftypes.Value{"running": cm["running"], "env": cm["env"]}
		return withAttrs(ty, p, set)
	}

	// running: false, in place
	p := prior(ty, true, nil)
	c := config(false, "1", nil)
	if r := plan(t, p, proposed(p, c), c); len(r.RequiresReplace) != 0 {
		t.Errorf("stopping replaces: %s", replacePaths(r))
	}
	// env changed: replaced
	c = config(true, "2", nil)
	if r := plan(t, p, proposed(p, c), c); !strings.Contains(replacePaths(r), "env") {
		t.Errorf("a changed env does not replace: %q", replacePaths(r))
	}
	// stopped, with a secret by value: starting it replaces it
	sec := map[string]tftypes.Value{"env_name": str("K"), "allowed_host": str("a.com"),
		"placeholder": str("msb_placeholder_00")}
	p = prior(ty, false, sec)
	secCfg := map[string]tftypes.Value{"env_name": str("K"), "allowed_host": str("a.com"), "value": str("hunter2")}
	c = config(true, "1", secCfg)
	prop := withAttrs(ty, proposed(p, c), map[string]tftypes.Value{"secret": block(ty, "secret", sec)})
	if r := plan(t, p, prop, c); !strings.Contains(replacePaths(r), "running") {
		t.Errorf("a stopped sandbox with a value secret is not replaced to start: %q", replacePaths(r))
	}
	// ...but one whose secret is read from the environment is started
	envSec := map[string]tftypes.Value{"env_name": str("K"), "allowed_host": str("a.com"),
		"value_env": str("HOST_K"), "placeholder": str("msb_placeholder_00")}
	p = prior(ty, false, envSec)
	c = config(true, "1", map[string]tftypes.Value{"env_name": str("K"), "allowed_host": str("a.com"), "value_env": str("HOST_K")})
	prop = withAttrs(ty, proposed(p, c), map[string]tftypes.Value{"secret": block(ty, "secret", envSec)})
	if r := plan(t, p, prop, c); len(r.RequiresReplace) != 0 {
		t.Errorf("a stopped sandbox with an env secret is replaced: %q", replacePaths(r))
	}
	// sync turned on: in place
	p = prior(ty, true, nil)
	c = withAttrs(ty, config(true, "1", nil), map[string]tftypes.Value{"sync": obj(ty.AttributeTypes["sync"].(tftypes.Object),
		map[string]tftypes.Value{"enabled": boolV(true)})})
	if r := plan(t, p, withAttrs(ty, p, map[string]tftypes.Value{"sync": obj(ty.AttributeTypes["sync"].(tftypes.Object),
		map[string]tftypes.Value{"enabled": boolV(true)})}), c); len(r.RequiresReplace) != 0 {
		t.Errorf("turning sync on replaces: %s", replacePaths(r))
	}
	// a new sandbox that syncs, with no remote to push to: refused at plan
	nullState := tftypes.NewValue(ty, nil)
	if old, ok := os.LookupEnv("MSB_REMOTE"); ok {
		os.Unsetenv("MSB_REMOTE")
		defer os.Setenv("MSB_REMOTE", old)
	}
	resp, err := server(t).PlanResourceChange(context.Background(), &tfprotov6.PlanResourceChangeRequest{
		TypeName: "microsandbox_sandbox", PriorState: dyn(t, ty, nullState),
		ProposedNewState: dyn(t, ty, c), Config: dyn(t, ty, c)})
	if err != nil {
		t.Fatal(err)
	}
	if got := diagText(resp.Diagnostics); !strings.Contains(got, "nowhere to push to") ||
		!strings.Contains(got, "remote") {
		t.Errorf("a new sandbox that syncs with no remote: %q", got)
	}
	// create: the secret's value is in the configuration, never in the plan
	c = config(true, "1", secCfg)
	r := plan(t, nullState, c, c)
	planned, err := r.PlannedState.Unmarshal(ty)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(planned.String(), "hunter2") {
		t.Errorf("the secret's value is in the planned state: %s", planned)
	}
}

// TestUnitDocs: the committed reference (docs/) is what the schema says
// now; `go run ./internal/gendocs` brings it up to date.
func TestUnitDocs(t *testing.T) {
	docs, err := Docs()
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range docs {
		got, err := os.ReadFile(filepath.Join("..", "..", "docs", name))
		if err != nil || string(got) != want {
			t.Errorf("docs/%s is not current (%v): run `go run ./internal/gendocs` in terraform/", name, err)
		}
	}
	for _, want := range []string{"resources/sandbox.md", "resources/snapshot.md", "resources/volume.md", "resources/plugin.md",
		"data-sources/images.md", "data-sources/sandboxes.md", "data-sources/plugins.md"} {
		if docs[want] == "" {
			t.Errorf("no docs/%s", want)
		}
	}
	if !strings.Contains(docs["resources/sandbox.md"], "- `value` (String, Sensitive, Write-only)") {
		t.Errorf("the sandbox's page does not show secret.value as write-only")
	}
}

// TestUnitImportRecord: an import reads the whole configuration back from
// msb inspect's document: volumes of every kind, the network, secrets
// (their spec and placeholder, never a value, and their placeholder out
// of env), and env without the image's own variables.
func TestUnitImportRecord(t *testing.T) {
	const doc = `{"name": "p2", "image": "python:3.12", "status": "stopped", "cpus": 2, "memory_mib": 256,
 "config": {"sync": true, "env": ["PATH=/bin", "SEED_IMAGE=python:3.12", "B=2", "K=msb_placeholder_2da3"],
  "workdir": "/tmp", "entrypoint": [], "image_cmd": ["/bin/sh"], "cmd": ["sleep", "1000"],
  "image_ref": "python:3.12", "boot_timeout_ms": 30000, "kernel": "msb",
  "net": {"allow": ["a.com"], "allow_cidr": [], "block_cidr": ["10.0.0.0/8"], "deny_all": true,
   "dns": "1.1.1.1", "ports": ["0:80"], "allow_host": [11434]}, "disk_mib": 1024,
  "volumes": [{"guest": "/data", "kind": "host", "source": "/srv/d", "ro": true},
   {"guest": "/nv", "kind": "volume", "volume": "nv", "source": "/h/volumes/nv/data", "ro": false},
   {"guest": "/cache", "kind": "memory", "size_mib": 64, "ro": false, "cache": "auto", "cache_timeout_ms": 2500}],
  "secrets": [{"env": "K", "hosts": ["api.x.com", "*.y.com"], "source": "env",
   "placeholder": "msb_placeholder_2da3", "ref": "HOST_K", "inject": ["authorization", "query"]}],
  "secret_violation": "log", "tls_bypass": ["x.com"],
  "plugins": [{"kind": "builtin", "name": "audit-log", "options": {"dir": "/var/log/a", "fs": "open+create"}},
   {"kind": "builtin", "name": "rate-limiter", "options": {"exec": "100", "bytes": "131072"}},
   {"kind": "process", "cmd": "python3 dlp.py", "cwd": "/h/plugins/dlp/files", "installed": "msb-dlp", "digest": "sha256:00"},
   {"kind": "process", "cmd": "node ./monitor.js", "cwd": "/srv"},
   {"kind": "socket", "path": "/run/hooks.sock"}],
  "plugin_timeout_ms": 500, "plugin_restarts": 0},
 "runtime": {"ports": [{"host_ip": "127.0.0.1", "host_port": 4242, "guest_port": 80, "proto": "tcp"}]}}`
	d := record{info: msb.SandboxInfo{Name: "p2", Image: "python:3.12", Status: "stopped", CPUs: 2, MemoryMiB: 256}}
	if err := json.Unmarshal([]byte(doc), &d.doc); err != nil {
		t.Fatal(err)
	}
	var m sandboxModel
	m.fromRecord(&d, map[string]bool{"PATH=/bin": true, "SEED_IMAGE=python:3.12": true})
	env := map[string]string{}
	m.Env.ElementsAs(context.Background(), &env, false)
	check := func(what string, got, want any) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: got %v, want %v", what, got, want)
		}
	}
	check("env", env, map[string]string{"B": "2"})
	check("name", m.Name.ValueString(), "p2")
	check("image", m.Image.ValueString(), "python:3.12")
	check("running", m.Running.ValueBool(), false) // stopped: the plan starts it
	check("cpus, memory", []int64{m.CPUs.ValueInt64(), m.Memory.ValueInt64()}, []int64{2, 256})
	check("boot_timeout", m.BootTimeout.ValueInt64(), 30)
	check("workdir", m.Workdir.ValueString(), "/tmp")
	check("cmd", m.Cmd.String(), `["sleep","1000"]`)
	check("entrypoint", m.Entrypoint.IsNull(), true)
	check("ports", m.Ports.String(), `["0:80"]`)
	check("published ports of a stopped sandbox", len(m.PublishedPorts.Elements()), 0)
	check("on_secret_violation", m.OnSecretViolation.ValueString(), "log")
	check("tls_bypass", m.TLSBypass.String(), `["x.com"]`)
	if len(m.Volume) != 3 {
		t.Fatalf("volumes: %+v", m.Volume)
	}
	check("volume 0", []string{m.Volume[0].Backend.ValueString(), m.Volume[0].Source.ValueString(),
		m.Volume[0].ReadOnly.String()}, []string{"passthrough", "/srv/d", "true"})
	check("volume 1", []string{m.Volume[1].Backend.ValueString(), m.Volume[1].Source.ValueString()},
		[]string{"named", "nv"})
	check("volume 2", []string{m.Volume[2].Backend.ValueString(), m.Volume[2].Size.String(),
		m.Volume[2].Cache.ValueString(), m.Volume[2].CacheMs.String(), fmt.Sprint(m.Volume[0].Cache.IsNull())},
		[]string{"memory", "64", "auto", "2500", "true"})
	check("disk_size", m.DiskSize.ValueInt64(), 1024)
	if len(m.Plugin) != 3 {
		t.Fatalf("plugins: %+v", m.Plugin)
	}
	check("plugins", []string{m.Plugin[0].Name.ValueString(), m.Plugin[0].LogDir.ValueString(),
		m.Plugin[0].Config.String(), m.Plugin[1].Name.ValueString(), m.Plugin[1].MaxExecPerS.String(),
		m.Plugin[1].Config.String(), m.Plugin[2].Name.ValueString()},
		[]string{"audit-log", "/var/log/a", `{"fs":"open+create"}`, "rate-limiter", "100",
			`{"bytes_per_s":"131072"}`, "msb-dlp"})
	check("plugin_process", m.PluginProcess.String(), `["node ./monitor.js"]`)
	check("plugin_timeout_ms, plugin_restarts", []string{m.PluginTimeoutMs.String(), m.PluginRestarts.String()},
		[]string{"500", "0"})
	if m.Network == nil {
		t.Fatal("no network block")
	}
	check("network", []string{m.Network.Allow.String(), m.Network.BlockCidr.String(),
		m.Network.DenyAll.String(), m.Network.Nameserver.ValueString(), fmt.Sprint(m.Network.AllowCidr.IsNull())},
		[]string{`["a.com"]`, `["10.0.0.0/8"]`, "true", "1.1.1.1", "true"})
	check("allow_host", m.Network.AllowHost.String(), `[11434]`)
	if len(m.Secret) != 1 {
		t.Fatalf("secrets: %+v", m.Secret)
	}
	s := m.Secret[0]
	check("secret", []string{s.EnvName.ValueString(), s.AllowedHost.ValueString(), s.AllowedHosts.String(),
		s.ValueEnv.ValueString(), s.Placeholder.ValueString(), fmt.Sprint(s.Value.IsNull())},
		[]string{"K", "api.x.com", `["*.y.com"]`, "HOST_K", "msb_placeholder_2da3", "true"})
	check("inject, without the Authorization header always allowed", s.Inject.String(), `["query"]`)

	check("sync", m.Sync != nil && m.Sync.Enabled.ValueBool(), true)

	// Running, its published ports are read; sync turned off outside
	// Terraform reads back false.
	d.info.Status = "running"
	d.doc.Config.Sync = false
	m.refresh(&d)
	check("running", m.Running.ValueBool(), true)
	check("published_ports", m.PublishedPorts.String(), `{"80/tcp":"127.0.0.1:4242"}`)
	check("sync off", m.Sync.Enabled.String(), "false")
}

// TestUnitRunOptions: every option of `msb run` (src/cli/run.c and the
// network options it shares) is named in the README's account of what
// the provider does with each: an attribute, or why none.
func TestUnitRunOptions(t *testing.T) {
	var src []byte
	for _, f := range []string{"run.c", "netopts.h"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "..", "src", "cli", f))
		if err != nil {
			t.Skipf("the CLI's source is not beside the module: %v", err)
		}
		src = append(src, b...)
	}
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(readme)
	short := map[string]string{"detach": "-d", "env": "-e", "workdir": "-w", "user": "-u",
		"interactive": "-i", "tty": "-t", "volume": "-v", "publish": "-p", "help": ""}
	n := 0
	for _, m := range regexp.MustCompile(`\{ "([a-z-]+)", (?:required|no)_argument`).FindAllStringSubmatch(string(src), -1) {
		opt := m[1]
		n++
		if s, ok := short[opt]; ok {
			if s != "" && !strings.Contains(text, "`"+s+"`") {
				t.Errorf("msb run %s (--%s) is not in the README", s, opt)
			}
			continue
		}
		if !strings.Contains(text, "`--"+opt+"`") {
			t.Errorf("msb run --%s is not in the README", opt)
		}
	}
	if n < 40 {
		t.Fatalf("only %d options found in run.c: the pattern no longer matches it", n)
	}
}
