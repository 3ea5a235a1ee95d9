// SPDX-License-Identifier: Apache-2.0

package provider

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"

	msb "github.com/microsandbox/microsandbox/sdk/go"
)

type sandboxResource struct{}

var (
	_ resource.ResourceWithImportState    = (*sandboxResource)(nil)
	_ resource.ResourceWithValidateConfig = (*sandboxResource)(nil)
	_ resource.ResourceWithModifyPlan     = (*sandboxResource)(nil)
)

func newSandboxResource() resource.Resource { return &sandboxResource{} }

func (r *sandboxResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_sandbox"
}

// sdkError is a diagnostic for an error of the Go SDK: libmsb's message
// says what happened and what to do.
func sdkError(diags *diag.Diagnostics, summary string, err error) {
	diags.AddError(summary, err.Error())
}

func (r *sandboxResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan, cfg sandboxModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.Config.Get(ctx, &cfg)...)
	if resp.Diagnostics.HasError() {
		return
	}
	name := plan.Name.ValueString()
	opts := createOptions(ctx, &plan, &cfg, &resp.Diagnostics)
	if resp.Diagnostics.HasError() {
		return
	}
	var sb *msb.Sandbox
	var err error
	if !plan.SpawnedBy.IsNull() {
		createPeer(ctx, &plan, &resp.Diagnostics)
		if resp.Diagnostics.HasError() {
			return
		}
		sb, err = msb.GetSandbox(ctx, name)
		if err != nil {
			sdkError(&resp.Diagnostics, "Cannot find sandbox "+name+" its parent made", err)
			return
		}
	} else if snap := plan.FromSnapshot.ValueString(); snap != "" {
		var s *msb.Snapshot
		if s, err = msb.GetSnapshot(ctx, snap); err == nil {
			sb, err = s.Restore(ctx, name, opts...)
		}
	} else {
		sb, err = msb.NewSandboxContext(ctx, name, opts...)
	}
	if err != nil {
		// A boot that failed leaves a failed sandbox behind; Terraform
		// would not know it, and the next apply would find the name taken.
		if !errors.Is(err, msb.ErrAlreadyExists) {
			if left, gerr := msb.GetSandbox(ctx, name); gerr == nil {
				_ = left.Remove(ctx)
			}
		}
		sdkError(&resp.Diagnostics, "Cannot create sandbox "+name, err)
		return
	}
	sb.Close() // Keep: the handle goes, the sandbox stays
	if !plan.Running.ValueBool() {
		if err := stopSandbox(ctx, name); err != nil {
			sdkError(&resp.Diagnostics, "Cannot stop sandbox "+name, err)
		}
	}
	d, err := inspect(ctx, name)
	if err != nil {
		sdkError(&resp.Diagnostics, "Cannot read sandbox "+name, err)
		return
	}
	plan.refresh(d)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func stopSandbox(ctx context.Context, name string) error {
	sb, err := msb.GetSandbox(ctx, name)
	if err != nil {
		return err
	}
	defer sb.Close()
	return sb.Stop(ctx)
}

func (r *sandboxResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var m sandboxModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	d, err := inspect(ctx, m.Name.ValueString())
	if errors.Is(err, msb.ErrNotFound) {
		resp.State.RemoveResource(ctx) // removed outside Terraform: the plan makes it again
		return
	}
	if err != nil {
		sdkError(&resp.Diagnostics, "Cannot read sandbox "+m.Name.ValueString(), err)
		return
	}
	if m.Image.IsNull() { // an import: the state holds the name only
		m.fromRecord(d, imageEnv(ctx, d.info.Image))
	} else {
		m.refresh(d)
	}
	resp.Diagnostics.Append(resp.State.Set(ctx, &m)...)
}

// Update changes what can change in place: whether the sandbox syncs,
// then whether it runs (so that a stop in the same apply pushes as the
// new setting says). Every other attribute forces a replacement.
func (r *sandboxResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, state sandboxModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	name := plan.Name.ValueString()
	if plan.syncs() != state.syncs() {
		sb, err := msb.GetSandbox(ctx, name)
		if err == nil {
			err = sb.SetSync(ctx, plan.syncs())
			sb.Close()
		}
		if err != nil {
			sdkError(&resp.Diagnostics, "Cannot change whether sandbox "+name+" syncs", err)
			return
		}
	}
	if plan.Running.ValueBool() != state.Running.ValueBool() {
		sb, err := msb.GetSandbox(ctx, name)
		if err != nil {
			sdkError(&resp.Diagnostics, "Cannot find sandbox "+name, err)
			return
		}
		if plan.Running.ValueBool() {
			err = sb.Start(ctx)
		} else {
			err = sb.Stop(ctx)
		}
		sb.Close()
		if err != nil {
			sdkError(&resp.Diagnostics, "Cannot change whether sandbox "+name+" runs", err)
			return
		}
	}
	d, err := inspect(ctx, name)
	if err != nil {
		sdkError(&resp.Diagnostics, "Cannot read sandbox "+name, err)
		return
	}
	plan.refresh(d)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func (r *sandboxResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var m sandboxModel
	resp.Diagnostics.Append(req.State.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	name := m.Name.ValueString()
	sb, err := msb.GetSandbox(ctx, name)
	if errors.Is(err, msb.ErrNotFound) {
		return
	}
	// One that syncs is stopped first, which pushes it (as msb project
	// down does); if its push fails it is kept, stopped.
	if err == nil {
		if err = stopToPush(ctx, sb); err != nil {
			resp.Diagnostics.AddError("Cannot destroy sandbox "+name, err.Error()+
				". It is kept, stopped: push it (msb push "+name+"), or turn sync off "+
				"(enabled = false) and apply, then destroy it.")
			return
		}
	}
	if err == nil {
		err = sb.Remove(ctx)
	}
	if err != nil && !errors.Is(err, msb.ErrNotFound) {
		sdkError(&resp.Diagnostics, "Cannot remove sandbox "+name, err)
	}
}

// stopToPush stops sandbox @sb if it runs and syncs: its push.
func stopToPush(ctx context.Context, sb *msb.Sandbox) error {
	syncs, err := sb.Syncs(ctx)
	if err != nil || !syncs {
		return err
	}
	info, err := sb.Info(ctx)
	if err != nil || !info.Running() {
		return err
	}
	return sb.Stop(ctx)
}

func (r *sandboxResource) ImportState(ctx context.Context, req resource.ImportStateRequest, resp *resource.ImportStateResponse) {
	if err := msb.ValidName(req.ID); err != nil {
		resp.Diagnostics.AddError("Cannot import sandbox", "import takes the sandbox's name: "+err.Error())
		return
	}
	resource.ImportStatePassthroughID(ctx, path.Root("name"), req, resp)
}

// ModifyPlan: a new sandbox that syncs needs a remote to push to, so one
// with none is refused at plan, before anything is made. Starting again
// a sandbox with a secret given by value cannot be done (libmsb keeps the
// value nowhere), so the plan replaces it instead, saying why.
func (r *sandboxResource) ModifyPlan(ctx context.Context, req resource.ModifyPlanRequest, resp *resource.ModifyPlanResponse) {
	if req.Plan.Raw.IsNull() {
		return
	}
	if req.State.Raw.IsNull() {
		var plan sandboxModel
		var d diag.Diagnostics
		if d.Append(req.Plan.Get(ctx, &plan)...); d.HasError() {
			return
		}
		warnPeersRemoved(ctx, plan.Name, &resp.Diagnostics)
		if !plan.syncs() {
			return
		}
		if _, _, err := msb.Remote(ctx); err != nil {
			resp.Diagnostics.AddAttributeError(path.Root("sync").AtName("enabled"),
				"Sandbox "+plan.Name.ValueString()+" has nowhere to push to", err.Error())
		}
		return
	}
	var plan, state, cfg sandboxModel
	var d diag.Diagnostics
	d.Append(req.Plan.Get(ctx, &plan)...)
	d.Append(req.State.Get(ctx, &state)...)
	d.Append(req.Config.Get(ctx, &cfg)...)
	if d.HasError() {
		return // unknown blocks: decided at apply
	}
	if state.Running.ValueBool() || !plan.Running.ValueBool() {
		return
	}
	if !state.SpawnedBy.IsNull() && len(state.Secret) > 0 {
		resp.RequiresReplace = append(resp.RequiresReplace, path.Root("running"))
		resp.Diagnostics.AddAttributeWarning(path.Root("running"),
			"Sandbox "+plan.Name.ValueString()+" is replaced to run again",
			"It is a stopped peer with a secret ("+state.Secret[0].EnvName.ValueString()+"): its "+
				"parent gave it the value at its creation, which is kept nowhere, so it cannot be "+
				"started again; its parent makes it anew.")
		return
	}
	for _, s := range cfg.Secret {
		if !s.Value.IsNull() {
			resp.RequiresReplace = append(resp.RequiresReplace, path.Root("running"))
			resp.Diagnostics.AddAttributeWarning(path.Root("running"),
				"Sandbox "+plan.Name.ValueString()+" is replaced to run again",
				"It is stopped, and its secret "+s.EnvName.ValueString()+" is given by value, "+
					"which is kept nowhere, so it cannot be started again. Give the value with "+
					"value_env or value_file to have a stopped sandbox started instead.")
			return
		}
	}
}

// ValidateConfig refuses what cannot be served, before anything is made.
func (r *sandboxResource) ValidateConfig(ctx context.Context, req resource.ValidateConfigRequest, resp *resource.ValidateConfigResponse) {
	var m sandboxModel
	var d diag.Diagnostics
	d.Append(req.Config.Get(ctx, &m)...)
	if d.HasError() {
		return // unknown blocks (dynamic, for_each on unknowns): checked at apply
	}
	validateSandbox(ctx, &m, &resp.Diagnostics)
}

func validateSandbox(ctx context.Context, m *sandboxModel, diags *diag.Diagnostics) {
	for i, p := range m.Plugin {
		validatePlugin(ctx, i, p, diags)
	}
	peer := !m.SpawnedBy.IsNull()
	if peer {
		validatePeer(m, diags)
	}
	validateSpawnPolicy(m, diags)
	if m.FromSnapshot.IsNull() {
		if !m.DiskOnly.IsNull() && !peer {
			diags.AddAttributeError(path.Root("disk_only"), "disk_only needs from_snapshot",
				"disk_only says how a snapshot is restored; set from_snapshot too, or drop it.")
		}
	} else if !peer { // a peer's are refused by validatePeer
		var bad []string
		for attr, set := range map[string]bool{
			"image": !m.Image.IsNull(), "workdir": !m.Workdir.IsNull(), "user": !m.User.IsNull(),
			"kernel": !m.Kernel.IsNull(), "cmd": !m.Cmd.IsNull(), "entrypoint": !m.Entrypoint.IsNull(),
			"image_cmd": !m.ImageCmd.IsNull(), "ports": !m.Ports.IsNull(),
			"on_secret_violation": !m.OnSecretViolation.IsNull(), "tls_bypass": !m.TLSBypass.IsNull(),
			"tls_upstream_ca": !m.TLSUpstreamCA.IsNull(), "volume": len(m.Volume) > 0,
			"secret": len(m.Secret) > 0, "network": m.Network != nil,
			"plugin": len(m.Plugin) > 0, "plugin_process": !m.PluginProcess.IsNull(),
			"disk_size":         !m.DiskSize.IsNull() && !m.DiskSize.IsUnknown(),
			"plugin_timeout_ms": !m.PluginTimeoutMs.IsNull(), "plugin_restarts": !m.PluginRestarts.IsNull(),
			"allow_spawn": !m.AllowSpawn.IsNull(),
		} {
			if set {
				bad = append(bad, attr)
			}
		}
		if len(bad) > 0 {
			sortStrings(bad)
			diags.AddAttributeError(path.Root("from_snapshot"), "Settings a restore cannot take",
				fmt.Sprintf("A sandbox restored from a snapshot has the snapshot's settings; it takes "+
					"env, cpus, memory, boot_timeout and disk_only only, not %s.", strings.Join(bad, ", ")))
		}
	}
	for i, v := range m.Volume {
		validateVolume(i, v, diags)
	}
	for i, s := range m.Secret {
		p := path.Root("secret").AtListIndex(i)
		n := 0
		for _, set := range []bool{!s.Value.IsNull(), !s.ValueEnv.IsNull(), !s.ValueFile.IsNull()} {
			if set {
				n++
			}
		}
		if n > 1 {
			diags.AddAttributeError(p, "A secret has one source",
				"Give the value by one of value, value_env and value_file (none: the provider's "+
					"environment variable named env_name).")
		}
		if !s.ParentEnv.IsNull() && !peer {
			diags.AddAttributeError(p.AtName("parent_env"), "parent_env is for a peer's secret",
				"It names the parent's variable a peer (spawned_by) takes a secret from; a sandbox "+
					"the host makes takes value, value_env or value_file.")
		}
		if s.AllowedHost.IsNull() && s.AllowedHosts.IsNull() && !peer { // a peer's default: the parent's hosts
			diags.AddAttributeError(p.AtName("allowed_host"), "A secret needs its host",
				"Say where the value may be sent: allowed_host = \"api.example.com\" (or "+
					"allowed_hosts); it is swapped in nowhere else.")
		}
	}
	if v := m.PluginTimeoutMs.ValueInt64(); !m.PluginTimeoutMs.IsNull() && (v < 1 || v > 600000) {
		diags.AddAttributeError(path.Root("plugin_timeout_ms"), "plugin_timeout_ms out of range",
			fmt.Sprintf("%d: give 1 to 600000 ms.", v))
	}
	if v := m.PluginRestarts.ValueInt64(); v < 0 || v > 600000 {
		diags.AddAttributeError(path.Root("plugin_restarts"), "plugin_restarts out of range",
			fmt.Sprintf("%d: give 0 to 600000.", v))
	}
	if v := m.OnSecretViolation.ValueString(); v != "" && v != "block" && v != "log" && v != "allow" {
		diags.AddAttributeError(path.Root("on_secret_violation"), "Unknown on_secret_violation",
			fmt.Sprintf("%q is none of block, log and allow.", v))
	}
}

// validateSpawnPolicy checks allow_spawn and what shapes it, as msb run
// does.
func validateSpawnPolicy(m *sandboxModel, diags *diag.Diagnostics) {
	if v := m.AllowSpawn; !v.IsNull() && !v.IsUnknown() && (v.ValueInt64() < 1 || v.ValueInt64() > 64) {
		diags.AddAttributeError(path.Root("allow_spawn"), "allow_spawn out of range",
			fmt.Sprintf("%d: give 1 to 64 live peers.", v.ValueInt64()))
	}
	if v := m.SpawnCPUs; !v.IsNull() && !v.IsUnknown() && (v.ValueInt64() < 1 || v.ValueInt64() > 64) {
		diags.AddAttributeError(path.Root("spawn_cpus"), "spawn_cpus out of range",
			fmt.Sprintf("%d: give 1 to 64.", v.ValueInt64()))
	}
	for _, a := range []struct {
		name string
		v    types.Int64
	}{{"spawn_memory", m.SpawnMemory}, {"spawn_total_memory", m.SpawnTotalMemory}} {
		if !a.v.IsNull() && !a.v.IsUnknown() && a.v.ValueInt64() < 1 {
			diags.AddAttributeError(path.Root(a.name), a.name+" out of range",
				fmt.Sprintf("%d: give MiB, more than 0.", a.v.ValueInt64()))
		}
	}
	if !m.SpawnedBy.IsNull() || !m.AllowSpawn.IsNull() {
		return
	}
	for attr, on := range map[string]bool{"spawn_images": !m.SpawnImages.IsNull(),
		"spawn_cpus":         !m.SpawnCPUs.IsNull() && !m.SpawnCPUs.IsUnknown(),
		"spawn_memory":       !m.SpawnMemory.IsNull() && !m.SpawnMemory.IsUnknown(),
		"spawn_total_memory": !m.SpawnTotalMemory.IsNull() && !m.SpawnTotalMemory.IsUnknown()} {
		if on {
			diags.AddAttributeError(path.Root(attr), attr+" needs allow_spawn",
				attr+" shapes what allow_spawn = N allows (msb run --allow-spawn N): give it too, "+
					"or drop "+attr+".")
		}
	}
}

func validateVolume(i int, v volumeModel, diags *diag.Diagnostics) {
	p := path.Root("volume").AtListIndex(i)
	if v.Backend.IsUnknown() {
		return
	}
	b := v.Backend.ValueString()
	needSource := map[string]bool{"passthrough": true, "overlay": true, "named": true, "plugin": true}
	switch b {
	case "passthrough", "overlay", "named", "plugin", "memory":
	default:
		diags.AddAttributeError(p.AtName("backend"), "Unknown volume backend",
			fmt.Sprintf("%q is none of passthrough, memory, overlay, named and plugin.", b))
		return
	}
	if needSource[b] && v.Source.IsNull() {
		diags.AddAttributeError(p.AtName("source"), "The "+b+" backend needs a source",
			map[string]string{"passthrough": "source is the host directory.",
				"overlay": "source is the host directory.", "named": "source is the named volume.",
				"plugin": "source is the plugin's shared object."}[b])
	}
	if b == "memory" && !v.Source.IsNull() {
		diags.AddAttributeError(p.AtName("source"), "A memory volume has no source",
			"It is host RAM: drop source (size says how much).")
	}
	if !v.Size.IsNull() && b != "memory" && b != "overlay" {
		diags.AddAttributeError(p.AtName("size"), "size is for memory and overlay volumes",
			"Only RAM-backed volumes take a size; a named volume's is the microsandbox_volume's.")
	}
	if c := v.Cache.ValueString(); c != "" && c != "never" && c != "auto" && c != "always" {
		diags.AddAttributeError(p.AtName("cache"), "Unknown cache mode",
			fmt.Sprintf("%q is none of never, auto and always.", c))
	}
	if ms := v.CacheMs.ValueInt64(); ms < 0 || ms > 86400000 {
		diags.AddAttributeError(p.AtName("cache_timeout_ms"), "cache_timeout_ms out of range",
			fmt.Sprintf("%d ms: give 0 to 86400000 (a day).", ms))
	}
	if (!v.Arg.IsNull() || !v.Dir.IsNull()) && b != "plugin" {
		diags.AddAttributeError(p, "arg and dir are for plugin volumes", "Drop them, or use backend = \"plugin\".")
	}
}

// pluginSettings are the settings each built-in takes besides name.
var pluginSettings = map[string]map[string]bool{
	"audit-log":    {"log_dir": true, "fs": true},
	"rate-limiter": {"max_exec_per_s": true, "connect_per_s": true, "bytes_per_s": true},
}

func validatePlugin(ctx context.Context, i int, p pluginModel, diags *diag.Diagnostics) {
	at := path.Root("plugin").AtListIndex(i)
	if p.Name.IsUnknown() {
		return
	}
	takes, builtin := pluginSettings[p.Name.ValueString()] // else an installed plugin: none
	set := map[string]bool{"log_dir": !p.LogDir.IsNull(), "max_exec_per_s": !p.MaxExecPerS.IsNull()}
	if !p.Config.IsNull() && !p.Config.IsUnknown() {
		for k := range p.Config.Elements() {
			set[k] = true
		}
	}
	for k, on := range set {
		switch {
		case on && !builtin:
			diags.AddAttributeError(at, "A setting "+p.Name.ValueString()+" does not take",
				fmt.Sprintf("%q is not a built-in (audit-log, rate-limiter), so it is an "+
					"installed plugin (microsandbox_plugin, msb plugin install), which takes "+
					"no settings, not %s.", p.Name.ValueString(), k))
		case on && !takes[k]:
			diags.AddAttributeError(at, "A setting "+p.Name.ValueString()+" does not take",
				fmt.Sprintf("%s takes %s, not %s.", p.Name.ValueString(), strings.Join(sortedKeys(takes), " and "), k))
		}
	}
}
