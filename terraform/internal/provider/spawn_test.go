// SPDX-License-Identifier: Apache-2.0

package provider

// Unit tests of peers (spawned_by) and the spawn policy: the plan, the
// `msb start` a parent is asked to run, and an import's reading of the
// record. No CLI, no sandbox.

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types"
	"github.com/hashicorp/terraform-plugin-go/tftypes"

	msb "github.com/microsandbox/microsandbox/sdk/go"
)

// TestUnitSpawnPlan: spawned_by and the spawn policy force a
// replacement; the policy's computed limits stay as they are (null
// included) through a change in place; a stopped peer with a secret is
// replaced to run again, one without is started.
func TestUnitSpawnPlan(t *testing.T) {
	ty := sandboxType(t)
	peerState := func(running bool, secret bool) tftypes.Value {
		v := withAttrs(ty, prior(ty, running, nil), map[string]tftypes.Value{"spawned_by": str("orchestrator")})
		if secret {
			v = withAttrs(ty, v, map[string]tftypes.Value{"secret": block(ty, "secret", map[string]tftypes.Value{
				"env_name": str("SERP_KEY"), "allowed_host": str("serpapi.com"), "placeholder": str("msb_placeholder_01")})})
		}
		return v
	}
	cfgOf := func(state tftypes.Value, set map[string]tftypes.Value) tftypes.Value {
		c := withAttrs(ty, state, map[string]tftypes.Value{"id": tftypes.NewValue(tftypes.String, nil),
			"kernel": tftypes.NewValue(tftypes.String, nil), "boot_timeout": tftypes.NewValue(tftypes.Number, nil),
			"published_ports": tftypes.NewValue(tftypes.Map{ElementType: tftypes.String}, nil)})
		var m map[string]tftypes.Value
		state.As(&m)
		if sec, ok := m["secret"]; ok && !sec.IsNull() {
			c = withAttrs(ty, c, map[string]tftypes.Value{"secret": block(ty, "secret", map[string]tftypes.Value{
				"env_name": str("SERP_KEY"), "allowed_host": str("serpapi.com")})})
		}
		return withAttrs(ty, c, set)
	}

	// another parent: replaced
	p := peerState(true, false)
	c := cfgOf(p, map[string]tftypes.Value{"spawned_by": str("other")})
	if r := plan(t, p, withAttrs(ty, p, map[string]tftypes.Value{"spawned_by": str("other")}), c); !strings.Contains(replacePaths(r), "spawned_by") {
		t.Errorf("another parent does not replace: %q", replacePaths(r))
	}
	// the parent replaced, referred to by id: spawned_by unknown, replaced
	unknown := tftypes.NewValue(tftypes.String, tftypes.UnknownValue)
	c = cfgOf(p, map[string]tftypes.Value{"spawned_by": unknown})
	if r := plan(t, p, withAttrs(ty, p, map[string]tftypes.Value{"spawned_by": unknown}), c); !strings.Contains(replacePaths(r), "spawned_by") {
		t.Errorf("a parent replaced does not replace its peer: %q", replacePaths(r))
	}
	// stopped peer with a secret: replaced to run
	p = peerState(false, true)
	c = cfgOf(p, map[string]tftypes.Value{"running": boolV(true)})
	r := plan(t, p, withAttrs(ty, p, map[string]tftypes.Value{"running": boolV(true)}), c)
	if !strings.Contains(replacePaths(r), "running") || !strings.Contains(diagText(r.Diagnostics), "its parent makes it anew") {
		t.Errorf("a stopped peer with a secret is not replaced to run: %q %s", replacePaths(r), diagText(r.Diagnostics))
	}
	// stopped peer without: started in place
	p = peerState(false, false)
	c = cfgOf(p, map[string]tftypes.Value{"running": boolV(true)})
	if r := plan(t, p, withAttrs(ty, p, map[string]tftypes.Value{"running": boolV(true)}), c); len(r.RequiresReplace) != 0 {
		t.Errorf("a stopped peer without secrets is replaced: %q", replacePaths(r))
	}

	// a parent: allow_spawn changed replaces; its computed limits, and a
	// sandbox's null ones, stay through a stop in place
	parent := withAttrs(ty, prior(ty, true, nil), map[string]tftypes.Value{"allow_spawn": num(2),
		"spawn_cpus": num(1), "spawn_memory": num(512), "spawn_total_memory": num(1024)})
	c = cfgOf(parent, map[string]tftypes.Value{"allow_spawn": num(3), "spawn_cpus": tftypes.NewValue(tftypes.Number, nil),
		"spawn_memory": tftypes.NewValue(tftypes.Number, nil), "spawn_total_memory": tftypes.NewValue(tftypes.Number, nil)})
	if r := plan(t, parent, withAttrs(ty, parent, map[string]tftypes.Value{"allow_spawn": num(3)}), c); !strings.Contains(replacePaths(r), "allow_spawn") {
		t.Errorf("a new allow_spawn does not replace: %q", replacePaths(r))
	}
	for what, st := range map[string]tftypes.Value{"a parent": parent, "a sandbox that may not spawn": prior(ty, true, nil)} {
		c = cfgOf(st, map[string]tftypes.Value{"running": boolV(false), "spawn_cpus": tftypes.NewValue(tftypes.Number, nil),
			"spawn_memory": tftypes.NewValue(tftypes.Number, nil), "spawn_total_memory": tftypes.NewValue(tftypes.Number, nil)})
		// the proposed state as the CLI makes it, the framework then
		// marking computed attributes unknown
		prop := withAttrs(ty, st, map[string]tftypes.Value{"running": boolV(false)})
		r := plan(t, st, prop, c)
		if len(r.RequiresReplace) != 0 {
			t.Errorf("%s: a stop replaces: %q", what, replacePaths(r))
		}
		planned, err := r.PlannedState.Unmarshal(ty)
		if err != nil {
			t.Fatal(err)
		}
		var pm, sm map[string]tftypes.Value
		planned.As(&pm)
		st.As(&sm)
		for _, a := range []string{"spawn_cpus", "spawn_memory", "spawn_total_memory"} {
			if !pm[a].Equal(sm[a]) {
				t.Errorf("%s: %s planned %v, was %v", what, a, pm[a], sm[a])
			}
		}
	}
}

// TestUnitPeerArgs: the seed's researcher and coder are the msb start
// command lines of the seed's own CLI form.
func TestUnitPeerArgs(t *testing.T) {
	ctx := context.Background()
	var d diag.Diagnostics
	researcher := sandboxModel{Name: types.StringValue("researcher"), Image: types.StringValue("python:3.12"),
		SpawnedBy: types.StringValue("orchestrator"), Env: types.MapNull(types.StringType),
		Secret: []secretModel{{EnvName: types.StringValue("SERP_KEY"), AllowedHost: types.StringValue("serpapi.com"),
			AllowedHosts: types.ListNull(types.StringType)}}}
	coder := sandboxModel{Name: types.StringValue("coder"), Image: types.StringValue("node:20"),
		SpawnedBy: types.StringValue("orchestrator"), CPUs: types.Int64Unknown(), Memory: types.Int64Value(256),
		Env: types.MapValueMust(types.StringType, map[string]attr.Value{"B": types.StringValue("2"), "A": types.StringValue("1")}),
		Network: &networkModel{DenyAll: types.BoolValue(true), Allow: types.ListNull(types.StringType),
			AllowCidr: types.ListNull(types.StringType)},
		Secret: []secretModel{{EnvName: types.StringValue("K"), ParentEnv: types.StringValue("TOKEN"),
			AllowedHosts: types.ListNull(types.StringType)}}}
	for _, c := range []struct {
		m    *sandboxModel
		want string
	}{
		{&researcher, "msb start researcher --image python:3.12 --secret-env SERP_KEY=@env:SERP_KEY:serpapi.com"},
		{&coder, "msb start coder --image node:20 --memory 256M -e A=1 -e B=2 --net-deny-all --secret-env K=@env:TOKEN"},
	} {
		if got := strings.Join(peerArgs(ctx, c.m, &d), " "); got != c.want {
			t.Errorf("got  %s\nwant %s", got, c.want)
		}
	}
	if d.HasError() {
		t.Fatal(d)
	}
}

// TestUnitPeerImport: an import reads a parent's spawn policy back, and
// reads a peer as its configuration says it: spawned_by, what it asked
// for, and its network as the narrowing of its parent's, not what it
// inherited.
func TestUnitPeerImport(t *testing.T) {
	const parentDoc = `{"config": {"image_ref": "python:3.12", "env": [],
  "net": {"allow": ["a.com", "*.b.com"], "block_cidr": ["10.0.0.0/8"], "dns": "1.1.1.1"},
  "secrets": [{"env": "SERP_KEY", "hosts": ["serpapi.com"], "source": "env", "ref": "SERP_KEY",
   "placeholder": "msb_placeholder_aa"}],
  "tls_bypass": ["x.com"], "secret_violation": "log",
  "spawn": {"max": 2, "images": ["python:3.12", "node:20"], "cpus": 1, "memory_mib": 512, "total_memory_mib": 1024}}}`
	const peerDoc = `{"config": {"image_ref": "node:20", "env": ["A=1", "SERP_KEY=msb_placeholder_bb"],
  "net": {"allow": ["x.b.com"], "deny_all": true, "block_cidr": ["10.0.0.0/8"], "dns": "1.1.1.1"},
  "secrets": [{"env": "SERP_KEY", "hosts": ["serpapi.com"], "source": "value", "placeholder": "msb_placeholder_bb",
   "inject": ["authorization", "query"]}],
  "tls_bypass": ["x.com"], "secret_violation": "log",
  "spawn": {"max": 2, "images": ["python:3.12", "node:20"], "cpus": 1, "memory_mib": 512, "total_memory_mib": 1024}}}`
	var p, c record
	p.info = msb.SandboxInfo{Name: "orchestrator", Image: "python:3.12", Status: "running", CPUs: 1, MemoryMiB: 512}
	c.info = msb.SandboxInfo{Name: "coder", Image: "node:20", Status: "running", CPUs: 1, MemoryMiB: 256}
	if err := json.Unmarshal([]byte(parentDoc), &p.doc); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(peerDoc), &c.doc); err != nil {
		t.Fatal(err)
	}
	c.parent, c.parentNet = "orchestrator", &p.doc.Config.Net

	var pm sandboxModel
	pm.fromRecord(&p, nil)
	if pm.AllowSpawn.ValueInt64() != 2 || pm.SpawnImages.String() != `["node:20"]` || pm.SpawnCPUs.ValueInt64() != 1 ||
		pm.SpawnMemory.ValueInt64() != 512 || pm.SpawnTotalMemory.ValueInt64() != 1024 || !pm.SpawnedBy.IsNull() {
		t.Errorf("the parent's policy: %v %v %v %v %v %v", pm.AllowSpawn, pm.SpawnImages, pm.SpawnCPUs,
			pm.SpawnMemory, pm.SpawnTotalMemory, pm.SpawnedBy)
	}

	var cm sandboxModel
	cm.fromRecord(&c, nil)
	if cm.SpawnedBy.ValueString() != "orchestrator" {
		t.Errorf("spawned_by: %v", cm.SpawnedBy)
	}
	if !cm.AllowSpawn.IsNull() || !cm.SpawnImages.IsNull() || !cm.SpawnCPUs.IsNull() || !cm.TLSBypass.IsNull() ||
		!cm.OnSecretViolation.IsNull() {
		t.Errorf("a peer reads back what it inherited: %v %v %v %v %v", cm.AllowSpawn, cm.SpawnImages,
			cm.SpawnCPUs, cm.TLSBypass, cm.OnSecretViolation)
	}
	if cm.Network == nil || cm.Network.Allow.String() != `["x.b.com"]` || !cm.Network.BlockCidr.IsNull() ||
		!cm.Network.Nameserver.IsNull() || !cm.Network.DenyAll.IsNull() {
		t.Errorf("a peer's network: %+v", cm.Network)
	}
	if len(cm.Secret) != 1 || cm.Secret[0].EnvName.ValueString() != "SERP_KEY" || !cm.Secret[0].Inject.IsNull() ||
		cm.Secret[0].Placeholder.ValueString() != "msb_placeholder_bb" {
		t.Errorf("a peer's secret: %+v", cm.Secret)
	}
	if env := cm.Env.String(); env != `{"A":"1"}` {
		t.Errorf("a peer's env: %s", env)
	}
	var d diag.Diagnostics
	asConfig := cm // computed ones read back are not configuration
	asConfig.DiskSize, asConfig.BootTimeout, asConfig.Kernel = types.Int64Null(), types.Int64Null(), types.StringNull()
	validatePeer(&asConfig, &d)
	if d.HasError() {
		t.Errorf("an imported peer is refused as configuration: %v", d)
	}

	// the network: the parent's is no block, air-gapped is deny_all
	for _, n := range []struct {
		peer, parent netDoc
		want         string
	}{
		{netDoc{Allow: []string{"a.com"}}, netDoc{Allow: []string{"a.com"}}, "<nil>"},
		{netDoc{DenyAll: true}, netDoc{Allow: []string{"a.com"}}, "deny_all"},
		{netDoc{DenyAll: true}, netDoc{DenyAll: true}, "<nil>"},
		{netDoc{DenyAll: true, Allow: []string{"a.com"}}, netDoc{Allow: []string{"a.com"}}, `allow=["a.com"]`},
		{netDoc{AllowCidr: []string{"10.1.0.0/16"}}, netDoc{AllowCidr: []string{"10.0.0.0/8"}}, `allow_cidr=["10.1.0.0/16"]`},
	} {
		got := "<nil>"
		if nm := peerNetwork(&n.peer, &n.parent); nm != nil {
			switch {
			case nm.DenyAll.ValueBool():
				got = "deny_all"
			case !nm.Allow.IsNull():
				got = "allow=" + nm.Allow.String()
			default:
				got = "allow_cidr=" + nm.AllowCidr.String()
			}
		}
		if got != n.want {
			t.Errorf("peer %+v of %+v: %s, want %s", n.peer, n.parent, got, n.want)
		}
	}
}
