// SPDX-License-Identifier: Apache-2.0

package provider

// Peers (docs/spawn.md): a sandbox with spawned_by is made by its parent,
// as the parent's own programs make one: `msb start` run inside the
// parent, whose supervisor checks the request against the parent's
// policy and whose spawn broker makes the peer with libmsb. The provider
// adds no rule of its own; it refuses at plan what `msb start` has no
// words for, so that nothing is silently dropped.

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/types"

	msb "github.com/microsandbox/microsandbox/sdk/go"
)

// peerTakes is what a peer's configuration may set, for the diagnostics.
const peerTakes = "A peer is made by its parent's msb start, which takes name, image, cpus, " +
	"memory, env, running, a network's deny_all, allow and allow_cidr, and secrets by the " +
	"parent's placeholder (parent_env, allowed_host, allowed_hosts)."

// validatePeer refuses what a peer cannot have (@m has spawned_by).
func validatePeer(m *sandboxModel, diags *diag.Diagnostics) {
	set := func(v interface{ IsNull() bool }) bool { return !v.IsNull() }
	known := func(v interface {
		IsNull() bool
		IsUnknown() bool
	}) bool {
		return !v.IsNull() && !v.IsUnknown()
	}
	why := map[string]string{
		"volume": "A peer sees no directory of the host: it gets no volume (its parent's " +
			"programs share data with it by its commands).",
		"plugin": "A peer's hooks are its parent's supervisor's to decide: it takes no " +
			"plugin of its own.",
		"plugin_process": "A peer takes no plugin of its own.",
		"allow_spawn": "A peer spawns under its root's policy (its peers count against the " +
			"root's allow_spawn): it has none of its own.",
		"from_snapshot":       "A peer boots an image its parent may use; it is not restored.",
		"ports":               "A peer's ports are never published on the host.",
		"on_secret_violation": "A peer handles secret violations as its parent does.",
		"tls_bypass":          "A peer has its parent's TLS settings.",
		"tls_upstream_ca":     "A peer has its parent's TLS settings.",
		"sync":                "A peer is not pushed to a registry.",
	}
	for attr, on := range map[string]bool{
		"from_snapshot": set(m.FromSnapshot), "disk_only": set(m.DiskOnly),
		"disk_size": known(m.DiskSize), "workdir": set(m.Workdir), "user": set(m.User),
		"kernel": known(m.Kernel), "boot_timeout": known(m.BootTimeout), "cmd": set(m.Cmd),
		"entrypoint": set(m.Entrypoint), "image_cmd": set(m.ImageCmd), "ports": set(m.Ports),
		"on_secret_violation": set(m.OnSecretViolation), "tls_bypass": set(m.TLSBypass),
		"tls_upstream_ca": set(m.TLSUpstreamCA), "plugin_process": set(m.PluginProcess),
		"plugin_timeout_ms": set(m.PluginTimeoutMs), "plugin_restarts": set(m.PluginRestarts),
		"allow_spawn": set(m.AllowSpawn), "spawn_images": set(m.SpawnImages),
		"spawn_cpus": known(m.SpawnCPUs), "spawn_memory": known(m.SpawnMemory),
		"spawn_total_memory": known(m.SpawnTotalMemory), "volume": len(m.Volume) > 0,
		"plugin": len(m.Plugin) > 0, "sync": m.Sync != nil,
	} {
		if !on {
			continue
		}
		detail := why[attr]
		if detail == "" {
			detail = "It is fixed by the host for the sandboxes it makes."
		}
		diags.AddAttributeError(path.Root(attr), "A peer (spawned_by) cannot have "+attr,
			detail+" "+peerTakes+" Drop "+attr+", or drop spawned_by to have the host make it.")
	}
	if n := m.Network; n != nil {
		at := path.Root("network")
		for attr, on := range map[string]bool{"block_cidr": set(n.BlockCidr), "allow_host": set(n.AllowHost),
			"nameserver": set(n.Nameserver), "plugin": set(n.Plugin)} {
			if on {
				diags.AddAttributeError(at.AtName(attr), "A peer (spawned_by) cannot have network."+attr,
					"A peer has its parent's blocked ranges, resolver, network plugin and host "+
						"ports (or none of them, with deny_all); it may only narrow what its parent "+
						"reaches, by deny_all, allow and allow_cidr.")
			}
		}
		if n.DenyAll.ValueBool() && (set(n.Allow) || set(n.AllowCidr)) {
			diags.AddAttributeError(at.AtName("deny_all"), "A peer's deny_all is air-gapped",
				"With spawned_by, deny_all = true lets nothing leave (msb start --net-deny-all), so "+
					"allow and allow_cidr would be ignored: give allow (only these names, each one "+
					"the parent may reach) and allow_cidr alone, or deny_all alone.")
		}
	}
	for i, s := range m.Secret {
		at := path.Root("secret").AtListIndex(i)
		for attr, on := range map[string]bool{"value": set(s.Value), "value_env": set(s.ValueEnv),
			"value_file": set(s.ValueFile), "inject": set(s.Inject)} {
			if !on {
				continue
			}
			detail := "A peer's secrets are values its parent holds, passed by the parent's " +
				"placeholder (parent_env, default env_name); the host gives it none of its own."
			if attr == "inject" {
				detail = "Where a secret may go in a request is its parent's setting for it."
			}
			diags.AddAttributeError(at.AtName(attr), "A peer's secret cannot have "+attr, detail)
		}
	}
}

// peerArgs is the `msb start` command line that makes peer @m inside its
// parent.
func peerArgs(ctx context.Context, m *sandboxModel, diags *diag.Diagnostics) []string {
	argv := []string{"msb", "start", m.Name.ValueString()}
	if v := m.Image; !v.IsNull() && !v.IsUnknown() {
		argv = append(argv, "--image", v.ValueString())
	}
	if v := knownInt(m.CPUs); v > 0 {
		argv = append(argv, "--cpus", fmt.Sprint(v))
	}
	if v := knownInt(m.Memory); v > 0 {
		argv = append(argv, "--memory", fmt.Sprintf("%dM", v))
	}
	if !m.Env.IsNull() && !m.Env.IsUnknown() {
		env := map[string]string{}
		diags.Append(m.Env.ElementsAs(ctx, &env, false)...)
		keys := make([]string, 0, len(env))
		for k := range env {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			argv = append(argv, "-e", k+"="+env[k])
		}
	}
	if n := m.Network; n != nil {
		if n.DenyAll.ValueBool() {
			argv = append(argv, "--net-deny-all")
		}
		for _, a := range listStrings(ctx, n.Allow, diags) {
			argv = append(argv, "--net-allow", a)
		}
		for _, c := range listStrings(ctx, n.AllowCidr, diags) {
			argv = append(argv, "--net-allow-cidr", c)
		}
	}
	for _, s := range m.Secret {
		env := s.EnvName.ValueString()
		from := env
		if v := s.ParentEnv.ValueString(); v != "" {
			from = v
		}
		spec := env + "=@env:" + from
		if hosts := secretHosts(ctx, s, diags); len(hosts) > 0 {
			spec += ":" + strings.Join(hosts, ",")
		}
		argv = append(argv, "--secret-env", spec)
	}
	return argv
}

// createPeer has sandbox @m's parent make it. A failure says whose: the
// parent missing, stopped or allowing no peers, or its host's refusal
// (msb start's own words: an image or a network wider than allowed, no
// room left in the tree, a placeholder it does not hold).
func createPeer(ctx context.Context, m *sandboxModel, diags *diag.Diagnostics) {
	name, parent := m.Name.ValueString(), m.SpawnedBy.ValueString()
	summary := "Cannot create sandbox " + name + " as a peer of " + parent
	if _, err := msb.GetSandbox(ctx, name); err == nil {
		diags.AddError(summary, "A sandbox named "+name+" exists already: import it "+
			"(terraform import), remove it (msb rm "+name+"), or give this one another name.")
		return
	}
	psb, err := msb.GetSandbox(ctx, parent)
	if err != nil {
		diags.AddError(summary, err.Error())
		return
	}
	defer psb.Close()
	p, err := inspect(ctx, parent)
	if err != nil {
		diags.AddError(summary, err.Error())
		return
	}
	if p.doc.Config.Spawn == nil {
		diags.AddAttributeError(path.Root("spawned_by"), summary,
			"Sandbox "+parent+" may start no peers: give it allow_spawn = N (msb run "+
				"--allow-spawn N), with spawn_images for images besides its own.")
		return
	}
	if !p.info.Running() {
		diags.AddAttributeError(path.Root("spawned_by"), summary,
			"Sandbox "+parent+" is "+p.info.Status+": a peer is started by its parent's "+
				"programs, so the parent must run (running = true).")
		return
	}
	argv := peerArgs(ctx, m, diags)
	if diags.HasError() {
		return
	}
	res, err := psb.ExecArgs(ctx, argv)
	if err == nil && res.ExitCode != 0 {
		err = fmt.Errorf("%s (exit %d)", strings.TrimSpace(string(res.Stderr)), res.ExitCode)
	}
	if err != nil {
		// One that failed to boot is left behind, failed: Terraform would
		// not know it, and the next apply would find the name taken.
		if by, perr := msb.SandboxParent(ctx, name); perr == nil && by == parent {
			if left, gerr := msb.GetSandbox(ctx, name); gerr == nil {
				_ = left.Remove(ctx)
			}
		}
		diags.AddError(summary, "msb start inside "+parent+": "+err.Error())
	}
}

// peerFromRecord makes an import of a peer what its configuration can
// say: the record holds what it inherited from its parent (TLS, secret
// handling, the network's resolver and closed ranges, the root's spawn
// policy), which a peer's configuration does not set, and a secret's
// value, never where it came from (parent_env is left to the default,
// env_name). Its network is read as the narrowing of its parent's.
func (m *sandboxModel) peerFromRecord(r *record) {
	null := types.ListNull(types.StringType)
	m.Workdir, m.User, m.OnSecretViolation = types.StringNull(), types.StringNull(), types.StringNull()
	m.Cmd, m.Entrypoint, m.Ports, m.TLSBypass, m.TLSUpstreamCA, m.PluginProcess = null, null, null, null, null, null
	m.Volume, m.Plugin, m.Sync = nil, nil, nil
	m.PluginTimeoutMs, m.PluginRestarts = types.Int64Null(), types.Int64Null()
	m.AllowSpawn, m.SpawnImages = types.Int64Null(), null
	for i := range m.Secret {
		m.Secret[i].ValueEnv, m.Secret[i].ValueFile = types.StringNull(), types.StringNull()
		m.Secret[i].Inject = null
	}
	m.Network = peerNetwork(&r.doc.Config.Net, r.parentNet)
}

// peerNetwork is the network block of a peer whose network is @n, its
// parent's @p (nil: not known); nil when it is the parent's.
func peerNetwork(n, p *netDoc) *networkModel {
	if p == nil {
		p = &netDoc{}
	}
	nm := &networkModel{Allow: types.ListNull(types.StringType), AllowCidr: types.ListNull(types.StringType),
		BlockCidr: types.ListNull(types.StringType), AllowHost: types.ListNull(types.Int64Type)}
	sameAllow, sameCidr := slices.Equal(n.Allow, p.Allow), slices.Equal(n.AllowCidr, p.AllowCidr)
	switch {
	case n.DenyAll && len(n.Allow) == 0 && len(n.AllowCidr) == 0 &&
		!(p.DenyAll && len(p.Allow) == 0 && len(p.AllowCidr) == 0):
		nm.DenyAll = types.BoolValue(true) // air-gapped
	case sameAllow && sameCidr && n.DenyAll == p.DenyAll:
		return nil
	default:
		if len(n.Allow) > 0 && (!sameAllow || n.DenyAll != p.DenyAll) {
			nm.Allow = stringList(n.Allow)
		}
		if !sameCidr && len(n.AllowCidr) > 0 {
			nm.AllowCidr = stringList(n.AllowCidr)
		}
		if nm.Allow.IsNull() && nm.AllowCidr.IsNull() {
			return nil
		}
	}
	return nm
}

// warnPeersRemoved warns, at the plan of a sandbox to be made, when one
// of that name has peers: it is replaced (or the name is taken), and
// removing it removes them. A peer whose spawned_by refers to its
// parent's name sees no change at this plan, so it is made again only by
// the next apply; one that refers to the parent's id is replaced with it.
func warnPeersRemoved(ctx context.Context, name types.String, diags *diag.Diagnostics) {
	if name.IsNull() || name.IsUnknown() {
		return
	}
	if _, err := msb.GetSandbox(ctx, name.ValueString()); err != nil {
		return
	}
	peers := peersOf(ctx, name.ValueString())
	if len(peers) == 0 {
		return
	}
	diags.AddAttributeWarning(path.Root("name"), "Sandbox "+name.ValueString()+"'s peers are removed with it",
		"Making sandbox "+name.ValueString()+" anew removes the one there now and its peers ("+
			strings.Join(peers, ", ")+"). A peer of this configuration whose spawned_by is "+
			"microsandbox_sandbox.X.id is replaced in this apply; one whose spawned_by is "+
			"microsandbox_sandbox.X.name is found gone, and made again, by the next plan and apply.")
}

// peersOf are the sandboxes that sandbox @parent spawned.
func peersOf(ctx context.Context, parent string) []string {
	all, err := msb.List(ctx)
	if err != nil {
		return nil
	}
	var out []string
	for _, s := range all {
		if by, err := msb.SandboxParent(ctx, s.Name); err == nil && by == parent {
			out = append(out, s.Name)
		}
	}
	return out
}
