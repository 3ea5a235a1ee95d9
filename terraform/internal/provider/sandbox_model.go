// SPDX-License-Identifier: Apache-2.0

package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types"

	msb "github.com/microsandbox/microsandbox/sdk/go"
)

type sandboxModel struct {
	ID                types.String  `tfsdk:"id"`
	Name              types.String  `tfsdk:"name"`
	Image             types.String  `tfsdk:"image"`
	FromSnapshot      types.String  `tfsdk:"from_snapshot"`
	DiskOnly          types.Bool    `tfsdk:"disk_only"`
	CPUs              types.Int64   `tfsdk:"cpus"`
	Memory            types.Int64   `tfsdk:"memory"`
	DiskSize          types.Int64   `tfsdk:"disk_size"`
	Env               types.Map     `tfsdk:"env"`
	Workdir           types.String  `tfsdk:"workdir"`
	User              types.String  `tfsdk:"user"`
	Kernel            types.String  `tfsdk:"kernel"`
	BootTimeout       types.Int64   `tfsdk:"boot_timeout"`
	Cmd               types.List    `tfsdk:"cmd"`
	Entrypoint        types.List    `tfsdk:"entrypoint"`
	ImageCmd          types.Bool    `tfsdk:"image_cmd"`
	Ports             types.List    `tfsdk:"ports"`
	PublishedPorts    types.Map     `tfsdk:"published_ports"`
	OnSecretViolation types.String  `tfsdk:"on_secret_violation"`
	TLSBypass         types.List    `tfsdk:"tls_bypass"`
	TLSUpstreamCA     types.List    `tfsdk:"tls_upstream_ca"`
	Running           types.Bool    `tfsdk:"running"`
	PluginProcess     types.List    `tfsdk:"plugin_process"`
	PluginTimeoutMs   types.Int64   `tfsdk:"plugin_timeout_ms"`
	PluginRestarts    types.Int64   `tfsdk:"plugin_restarts"`
	SpawnedBy         types.String  `tfsdk:"spawned_by"`
	AllowSpawn        types.Int64   `tfsdk:"allow_spawn"`
	SpawnImages       types.List    `tfsdk:"spawn_images"`
	SpawnCPUs         types.Int64   `tfsdk:"spawn_cpus"`
	SpawnMemory       types.Int64   `tfsdk:"spawn_memory"`
	SpawnTotalMemory  types.Int64   `tfsdk:"spawn_total_memory"`
	Volume            []volumeModel `tfsdk:"volume"`
	Secret            []secretModel `tfsdk:"secret"`
	Network           *networkModel `tfsdk:"network"`
	Plugin            []pluginModel `tfsdk:"plugin"`
	Sync              *syncModel    `tfsdk:"sync"`
}

type volumeModel struct {
	MountPath types.String `tfsdk:"mount_path"`
	Backend   types.String `tfsdk:"backend"`
	Source    types.String `tfsdk:"source"`
	Size      types.Int64  `tfsdk:"size"`
	Arg       types.String `tfsdk:"arg"`
	Dir       types.String `tfsdk:"dir"`
	ReadOnly  types.Bool   `tfsdk:"read_only"`
	DirectIO  types.Bool   `tfsdk:"direct_io"`
	Cache     types.String `tfsdk:"cache"`
	CacheMs   types.Int64  `tfsdk:"cache_timeout_ms"`
}

type secretModel struct {
	EnvName      types.String `tfsdk:"env_name"`
	AllowedHost  types.String `tfsdk:"allowed_host"`
	AllowedHosts types.List   `tfsdk:"allowed_hosts"`
	Value        types.String `tfsdk:"value"`
	ValueEnv     types.String `tfsdk:"value_env"`
	ValueFile    types.String `tfsdk:"value_file"`
	Inject       types.List   `tfsdk:"inject"`
	ParentEnv    types.String `tfsdk:"parent_env"`
	Placeholder  types.String `tfsdk:"placeholder"`
}

type networkModel struct {
	Allow      types.List   `tfsdk:"allow"`
	AllowCidr  types.List   `tfsdk:"allow_cidr"`
	BlockCidr  types.List   `tfsdk:"block_cidr"`
	AllowHost  types.List   `tfsdk:"allow_host"`
	DenyAll    types.Bool   `tfsdk:"deny_all"`
	Nameserver types.String `tfsdk:"nameserver"`
	Plugin     types.String `tfsdk:"plugin"`
}

type pluginModel struct {
	Name        types.String `tfsdk:"name"`
	LogDir      types.String `tfsdk:"log_dir"`
	MaxExecPerS types.Int64  `tfsdk:"max_exec_per_s"`
	Config      types.Map    `tfsdk:"config"`
}

type syncModel struct {
	Enabled types.Bool `tfsdk:"enabled"`
}

// syncs: the sandbox is to push itself at every stop.
func (m *sandboxModel) syncs() bool { return m.Sync != nil && m.Sync.Enabled.ValueBool() }

// listStrings is a known list of strings' elements (nil for null or unknown).
func listStrings(ctx context.Context, l types.List, diags *diag.Diagnostics) []string {
	if l.IsNull() || l.IsUnknown() {
		return nil
	}
	var out []string
	diags.Append(l.ElementsAs(ctx, &out, false)...)
	return out
}

func stringList(v []string) types.List {
	if v == nil {
		return types.ListNull(types.StringType)
	}
	elems := make([]attr.Value, len(v))
	for i, s := range v {
		elems[i] = types.StringValue(s)
	}
	return types.ListValueMust(types.StringType, elems)
}

func optString(s string) types.String {
	if s == "" {
		return types.StringNull()
	}
	return types.StringValue(s)
}

// secretHosts is a secret's hosts: allowed_host, then allowed_hosts.
func secretHosts(ctx context.Context, s secretModel, diags *diag.Diagnostics) []string {
	var hosts []string
	if h := s.AllowedHost.ValueString(); h != "" {
		hosts = append(hosts, h)
	}
	return append(hosts, listStrings(ctx, s.AllowedHosts, diags)...)
}

// createOptions are the Go SDK's options for the sandbox @m (its plan),
// with @cfg's write-only secret values (they are in the configuration
// only, never in the plan).
func createOptions(ctx context.Context, m *sandboxModel, cfg *sandboxModel, diags *diag.Diagnostics) []msb.Option {
	opts := []msb.Option{msb.Keep()}
	if v := m.Image.ValueString(); v != "" {
		opts = append(opts, msb.Image(v))
	}
	if v := m.CPUs.ValueInt64(); v > 0 {
		opts = append(opts, msb.CPUs(uint(v)))
	}
	if v := m.Memory.ValueInt64(); v > 0 {
		opts = append(opts, msb.MemoryMiB(uint64(v)))
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
			opts = append(opts, msb.Env(k, env[k]))
		}
	}
	if v := m.BootTimeout.ValueInt64(); v > 0 {
		opts = append(opts, msb.BootTimeout(time.Duration(v)*time.Second))
	}
	if m.syncs() {
		opts = append(opts, msb.Sync())
	}
	if v := m.AllowSpawn.ValueInt64(); v > 0 {
		opts = append(opts, msb.AllowSpawn(uint(v)))
		if imgs := listStrings(ctx, m.SpawnImages, diags); len(imgs) > 0 {
			opts = append(opts, msb.SpawnImages(imgs...))
		}
		opts = append(opts, msb.SpawnLimits(uint(knownInt(m.SpawnCPUs)),
			uint64(knownInt(m.SpawnMemory)), uint64(knownInt(m.SpawnTotalMemory))))
	}
	if m.FromSnapshot.ValueString() != "" {
		if m.DiskOnly.ValueBool() {
			opts = append(opts, msb.DiskOnly())
		}
		return opts // a restore takes nothing else (ValidateConfig says so)
	}
	if v := m.DiskSize.ValueInt64(); v > 0 {
		opts = append(opts, msb.DiskMiB(uint64(v)))
	}
	if v := m.Workdir.ValueString(); v != "" {
		opts = append(opts, msb.Workdir(v))
	}
	if v := m.User.ValueString(); v != "" {
		opts = append(opts, msb.User(v))
	}
	if v := m.Kernel.ValueString(); v != "" {
		opts = append(opts, msb.Kernel(v))
	}
	if v := listStrings(ctx, m.Cmd, diags); len(v) > 0 {
		opts = append(opts, msb.Cmd(v...))
	}
	if !m.Entrypoint.IsNull() {
		opts = append(opts, msb.Entrypoint(listStrings(ctx, m.Entrypoint, diags)...))
	}
	if m.ImageCmd.ValueBool() {
		opts = append(opts, msb.ImageCmd())
	}
	if v := listStrings(ctx, m.Ports, diags); len(v) > 0 {
		opts = append(opts, msb.Ports(v...))
	}
	if v := m.OnSecretViolation.ValueString(); v != "" {
		opts = append(opts, msb.OnSecretViolation(v))
	}
	if v := listStrings(ctx, m.TLSBypass, diags); len(v) > 0 {
		opts = append(opts, msb.TLSBypass(v...))
	}
	for _, pem := range listStrings(ctx, m.TLSUpstreamCA, diags) {
		opts = append(opts, msb.TLSUpstreamCA([]byte(pem)))
	}
	for _, v := range m.Volume {
		opts = append(opts, volumeOption(v))
	}
	for _, p := range m.Plugin {
		settings := map[string]string{}
		if !p.Config.IsNull() && !p.Config.IsUnknown() {
			diags.Append(p.Config.ElementsAs(ctx, &settings, false)...)
		}
		switch p.Name.ValueString() {
		case "audit-log":
			a := msb.NewAuditLog(p.LogDir.ValueString())
			if fs := settings["fs"]; fs != "" {
				a.Fs = strings.Split(fs, "+")
			}
			opts = append(opts, msb.Plugin(a))
		case "rate-limiter":
			r := msb.NewRateLimiter(float64(p.MaxExecPerS.ValueInt64()))
			if c := settings["connect_per_s"]; c != "" {
				if _, err := fmt.Sscan(c, &r.ConnectPerSec); err != nil {
					diags.AddError("Bad connect_per_s", fmt.Sprintf("rate-limiter's connect_per_s %q is not a number.", c))
				}
			}
			if b := settings["bytes_per_s"]; b != "" {
				if _, err := fmt.Sscan(b, &r.BytesPerSec); err != nil {
					diags.AddError("Bad bytes_per_s", fmt.Sprintf("rate-limiter's bytes_per_s %q is not a number.", b))
				}
			}
			opts = append(opts, msb.Plugin(r))
		default: // an installed plugin, checked by libmsb at the create
			opts = append(opts, msb.Plugin(msb.InstalledPlugin(p.Name.ValueString())))
		}
	}
	for _, c := range listStrings(ctx, m.PluginProcess, diags) {
		opts = append(opts, msb.PluginProcess(c))
	}
	if v := m.PluginTimeoutMs.ValueInt64(); v > 0 {
		opts = append(opts, msb.PluginTimeout(time.Duration(v)*time.Millisecond))
	}
	if !m.PluginRestarts.IsNull() && !m.PluginRestarts.IsUnknown() {
		opts = append(opts, msb.PluginRestarts(uint(m.PluginRestarts.ValueInt64())))
	}
	for i, s := range m.Secret {
		hosts := secretHosts(ctx, s, diags)
		env := s.EnvName.ValueString()
		value := types.StringNull()
		if cfg != nil && i < len(cfg.Secret) {
			value = cfg.Secret[i].Value
		}
		switch {
		case !value.IsNull():
			opts = append(opts, msb.SecretEnv(env, value.ValueString(), hosts...))
		case s.ValueFile.ValueString() != "":
			opts = append(opts, msb.SecretFromFile(env, s.ValueFile.ValueString(), hosts...))
		case s.ValueEnv.ValueString() != "":
			opts = append(opts, msb.SecretFromEnv(env, s.ValueEnv.ValueString(), hosts...))
		default:
			opts = append(opts, msb.SecretFromEnv(env, env, hosts...))
		}
		if places := listStrings(ctx, s.Inject, diags); len(places) > 0 {
			opts = append(opts, msb.SecretInject(env, places...))
		}
	}
	if n := m.Network; n != nil {
		var nopts []msb.NetworkOption
		if v := listStrings(ctx, n.Allow, diags); len(v) > 0 {
			nopts = append(nopts, msb.Allow(v...))
		}
		if v := listStrings(ctx, n.AllowCidr, diags); len(v) > 0 {
			nopts = append(nopts, msb.AllowCidr(v...))
		}
		if v := listStrings(ctx, n.BlockCidr, diags); len(v) > 0 {
			nopts = append(nopts, msb.BlockCidr(v...))
		}
		if !n.AllowHost.IsNull() && !n.AllowHost.IsUnknown() {
			var ports []int64
			diags.Append(n.AllowHost.ElementsAs(ctx, &ports, false)...)
			for _, p := range ports {
				nopts = append(nopts, msb.AllowHostPort(fmt.Sprint(p)))
			}
		}
		if n.DenyAll.ValueBool() {
			nopts = append(nopts, msb.DenyAll())
		}
		if v := n.Nameserver.ValueString(); v != "" {
			nopts = append(nopts, msb.Nameserver(v))
		}
		if v := n.Plugin.ValueString(); v != "" {
			nopts = append(nopts, msb.NetPlugin(v))
		}
		opts = append(opts, msb.Network(nopts...))
	}
	return opts
}

func volumeOption(v volumeModel) msb.Option {
	var vopts []msb.VolumeOption
	if v.ReadOnly.ValueBool() {
		vopts = append(vopts, msb.ReadOnly())
	}
	if v.DirectIO.ValueBool() {
		vopts = append(vopts, msb.DirectIO())
	}
	if c := v.Cache.ValueString(); c != "" {
		vopts = append(vopts, msb.Cache(c))
	}
	if ms := v.CacheMs.ValueInt64(); ms > 0 {
		vopts = append(vopts, msb.CacheTimeout(time.Duration(ms)*time.Millisecond))
	}
	src, size := v.Source.ValueString(), uint64(v.Size.ValueInt64())
	var backend any
	switch v.Backend.ValueString() {
	case "passthrough":
		backend = msb.NewPassthrough(src)
	case "memory":
		backend = &msb.MemFs{SizeMiB: size}
	case "overlay":
		backend = &msb.OverlayFs{Dir: src, SizeMiB: size}
	case "named":
		backend = msb.NewNamedVolume(src)
	case "plugin":
		backend = &msb.PluginFs{Path: src, Arg: v.Arg.ValueString(), Dir: v.Dir.ValueString()}
	}
	return msb.Volume(v.MountPath.ValueString(), backend, vopts...)
}

// ---- the record, read back ----------------------------------------------------

// record is a sandbox as the provider reads it back: its record as msb ps
// shows it (the same conversion the sandboxes data source makes) and its
// configuration, from msb inspect's document.
type record struct {
	info msb.SandboxInfo
	doc  inspectDoc
	// parent is the sandbox that spawned it ("" for one the host made),
	// and parentNet that one's network, when it still has a record.
	parent    string
	parentNet *netDoc
}

// netDoc is a network policy in a record.
type netDoc struct {
	Allow     []string `json:"allow"`
	AllowCidr []string `json:"allow_cidr"`
	BlockCidr []string `json:"block_cidr"`
	DenyAll   bool     `json:"deny_all"`
	DNS       string   `json:"dns"`
	Ports     []string `json:"ports"`
	Plugin    string   `json:"plugin"`
	AllowHost []int64  `json:"allow_host"`
}

// spawnDoc is a spawn policy in a record (a peer's is its root's).
type spawnDoc struct {
	Max            int64    `json:"max"`
	Images         []string `json:"images"` // the sandbox's own image first
	CPUs           int64    `json:"cpus"`
	MemoryMiB      int64    `json:"memory_mib"`
	TotalMemoryMiB int64    `json:"total_memory_mib"`
}

// inspectDoc is what the provider reads of msb inspect's document.
type inspectDoc struct {
	Config struct {
		Env           []string  `json:"env"`
		Workdir       string    `json:"workdir"`
		User          string    `json:"user"`
		Entrypoint    []string  `json:"entrypoint"`
		Cmd           []string  `json:"cmd"`
		ImageRef      string    `json:"image_ref"`
		BootTimeoutMs int64     `json:"boot_timeout_ms"`
		DiskMiB       int64     `json:"disk_mib"`
		Kernel        string    `json:"kernel"`
		FromSnapshot  string    `json:"from_snapshot"`
		Net           netDoc    `json:"net"`
		Spawn         *spawnDoc `json:"spawn"`
		Volumes       []struct {
			Guest    string `json:"guest"`
			Kind     string `json:"kind"`
			Source   string `json:"source"`
			Volume   string `json:"volume"`
			Arg      string `json:"arg"`
			Dir      string `json:"dir"`
			SizeMiB  int64  `json:"size_mib"`
			Overlay  int64  `json:"overlay_mib"`
			ReadOnly bool   `json:"ro"`
			Direct   bool   `json:"direct"`
			Cache    string `json:"cache"`
			CacheMs  int64  `json:"cache_timeout_ms"`
		} `json:"volumes"`
		Secrets []struct {
			Env         string   `json:"env"`
			Hosts       []string `json:"hosts"`
			Source      string   `json:"source"`
			Placeholder string   `json:"placeholder"`
			Ref         string   `json:"ref"`
			Inject      []string `json:"inject"`
		} `json:"secrets"`
		SecretViolation string   `json:"secret_violation"`
		TLSBypass       []string `json:"tls_bypass"`
		TLSUpstreamCA   []string `json:"tls_upstream_ca"`
		Sync            bool     `json:"sync"`
		Plugins         []struct {
			Kind      string            `json:"kind"`
			Name      string            `json:"name"`
			Options   map[string]string `json:"options"`
			Cmd       string            `json:"cmd"`
			Installed string            `json:"installed"`
		} `json:"plugins"`
		PluginTimeoutMs int64  `json:"plugin_timeout_ms"`
		PluginRestarts  *int64 `json:"plugin_restarts"`
	} `json:"config"`
	Runtime struct {
		Ports []struct {
			HostIP    string `json:"host_ip"`
			HostPort  int    `json:"host_port"`
			GuestPort int    `json:"guest_port"`
			Proto     string `json:"proto"`
		} `json:"ports"`
	} `json:"runtime"`
}

func inspect(ctx context.Context, name string) (*record, error) {
	sb, err := msb.GetSandbox(ctx, name)
	if err != nil {
		return nil, err
	}
	defer sb.Close()
	var r record
	info, err := sb.Info(ctx)
	if err != nil {
		return nil, err
	}
	r.info = *info
	raw, err := sb.Inspect(ctx)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, &r.doc); err != nil {
		return nil, fmt.Errorf("sandbox %s: msb inspect's document: %w", name, err)
	}
	if r.parent, err = sb.Parent(ctx); err != nil {
		return nil, err
	}
	if r.parent != "" {
		if p, err := msb.GetSandbox(ctx, r.parent); err == nil {
			var pd inspectDoc
			if raw, err := p.Inspect(ctx); err == nil && json.Unmarshal(raw, &pd) == nil {
				r.parentNet = &pd.Config.Net
			}
			p.Close()
		}
	}
	return &r, nil
}

// refresh sets what the record says and the configuration does not fix:
// status, the computed defaults, placeholders and bound ports, and
// whether it syncs (turned off or on outside Terraform, the plan changes
// it back).
func (m *sandboxModel) refresh(r *record) {
	d := &r.doc
	s := summary(&r.info)
	m.ID = s.Name
	m.Name = s.Name
	m.SpawnedBy = optString(r.parent)
	m.Running = types.BoolValue(r.info.Running())
	m.refreshSpawn(r)
	if m.Image.IsNull() || m.Image.IsUnknown() {
		m.Image = s.Image
	}
	m.CPUs = s.CPUs
	m.Memory = s.Memory
	if m.DiskSize.IsNull() || m.DiskSize.IsUnknown() {
		m.DiskSize = types.Int64Value(d.Config.DiskMiB)
	}
	if m.Kernel.IsNull() || m.Kernel.IsUnknown() {
		m.Kernel = optString(d.Config.Kernel)
	}
	if m.BootTimeout.IsNull() || m.BootTimeout.IsUnknown() {
		m.BootTimeout = types.Int64Value(d.Config.BootTimeoutMs / 1000)
	}
	switch {
	case d.Config.Sync:
		m.Sync = &syncModel{Enabled: types.BoolValue(true)}
	case m.Sync != nil && !m.Sync.Enabled.IsNull():
		m.Sync.Enabled = types.BoolValue(false)
	}
	ports := map[string]attr.Value{}
	if r.info.Running() {
		for _, p := range d.Runtime.Ports {
			ports[fmt.Sprintf("%d/%s", p.GuestPort, p.Proto)] =
				types.StringValue(fmt.Sprintf("%s:%d", p.HostIP, p.HostPort))
		}
	}
	m.PublishedPorts = types.MapValueMust(types.StringType, ports)
	byEnv := map[string]string{}
	for _, s := range d.Config.Secrets {
		byEnv[s.Env] = s.Placeholder
	}
	for i := range m.Secret {
		m.Secret[i].Placeholder = optString(byEnv[m.Secret[i].EnvName.ValueString()])
		m.Secret[i].Value = types.StringNull() // write-only: never in the state
	}
}

// knownInt is @v's value, 0 when null or unknown.
func knownInt(v types.Int64) int64 {
	if v.IsNull() || v.IsUnknown() {
		return 0
	}
	return v.ValueInt64()
}

// refreshSpawn sets the spawn policy's computed limits from the record:
// null for a sandbox that may not spawn, and for a peer (whose record
// holds its root's policy, not one of its own).
func (m *sandboxModel) refreshSpawn(r *record) {
	sp := r.doc.Config.Spawn
	if sp == nil || r.parent != "" {
		m.SpawnCPUs, m.SpawnMemory, m.SpawnTotalMemory = types.Int64Null(), types.Int64Null(), types.Int64Null()
		return
	}
	for _, f := range []struct {
		v   *types.Int64
		rec int64
	}{{&m.SpawnCPUs, sp.CPUs}, {&m.SpawnMemory, sp.MemoryMiB}, {&m.SpawnTotalMemory, sp.TotalMemoryMiB}} {
		if f.v.IsNull() || f.v.IsUnknown() {
			*f.v = types.Int64Value(f.rec)
		}
	}
}

// imageEnv is the Env of image @ref's config: a sandbox's record holds
// it merged with the sandbox's own.
func imageEnv(ctx context.Context, ref string) map[string]bool {
	out := map[string]bool{}
	raw, err := msb.InspectImage(ctx, ref)
	if err != nil {
		return out
	}
	var doc struct {
		Config struct {
			Config struct {
				Env []string `json:"Env"`
			} `json:"config"`
		} `json:"config"`
	}
	if json.Unmarshal(raw, &doc) == nil {
		for _, kv := range doc.Config.Config.Env {
			out[kv] = true
		}
	}
	return out
}

// fromRecord fills every attribute from the record: an import, where the
// state holds the name only. @fromImage are the image's own variables
// (K=V), left out of env unless the sandbox changed them.
func (m *sandboxModel) fromRecord(r *record, fromImage map[string]bool) {
	c := &r.doc.Config
	*m = sandboxModel{
		Image:             types.StringValue(r.info.Image),
		FromSnapshot:      optString(c.FromSnapshot),
		Workdir:           optString(c.Workdir),
		User:              optString(c.User),
		OnSecretViolation: optString(c.SecretViolation),
		Cmd:               types.ListNull(types.StringType),
		Entrypoint:        types.ListNull(types.StringType),
		Ports:             types.ListNull(types.StringType),
		TLSBypass:         types.ListNull(types.StringType),
		TLSUpstreamCA:     types.ListNull(types.StringType),
		PluginProcess:     types.ListNull(types.StringType),
		Env:               types.MapNull(types.StringType),
	}
	if len(c.Cmd) > 0 {
		m.Cmd = stringList(c.Cmd)
	}
	if len(c.Entrypoint) > 0 {
		m.Entrypoint = stringList(c.Entrypoint)
	}
	if len(c.Net.Ports) > 0 {
		m.Ports = stringList(c.Net.Ports)
	}
	if len(c.TLSBypass) > 0 {
		m.TLSBypass = stringList(c.TLSBypass)
	}
	if len(c.TLSUpstreamCA) > 0 {
		m.TLSUpstreamCA = stringList(c.TLSUpstreamCA)
	}
	secretEnv := map[string]bool{}
	for _, s := range c.Secrets {
		secretEnv[s.Env] = true
		sm := secretModel{EnvName: types.StringValue(s.Env), AllowedHosts: types.ListNull(types.StringType),
			Inject: types.ListNull(types.StringType)}
		var places []string
		for _, p := range s.Inject {
			if p != "authorization" { // always allowed: not a setting
				places = append(places, p)
			}
		}
		if len(places) > 0 {
			sm.Inject = stringList(places)
		}
		if len(s.Hosts) > 0 {
			sm.AllowedHost = types.StringValue(s.Hosts[0])
		}
		if len(s.Hosts) > 1 {
			sm.AllowedHosts = stringList(s.Hosts[1:])
		}
		switch s.Source {
		case "env":
			if s.Ref != s.Env {
				sm.ValueEnv = types.StringValue(s.Ref)
			}
		case "file":
			sm.ValueFile = types.StringValue(s.Ref)
		}
		m.Secret = append(m.Secret, sm)
	}
	env := map[string]attr.Value{}
	for _, kv := range c.Env {
		k, v, _ := strings.Cut(kv, "=")
		if !secretEnv[k] && !fromImage[kv] {
			env[k] = types.StringValue(v)
		}
	}
	if len(env) > 0 {
		m.Env = types.MapValueMust(types.StringType, env)
	}
	for _, v := range c.Volumes {
		vm := volumeModel{MountPath: types.StringValue(v.Guest), Cache: optString(v.Cache)}
		if v.CacheMs > 0 {
			vm.CacheMs = types.Int64Value(v.CacheMs)
		}
		if v.ReadOnly {
			vm.ReadOnly = types.BoolValue(true)
		}
		if v.Direct {
			vm.DirectIO = types.BoolValue(true)
		}
		switch v.Kind {
		case "host":
			vm.Backend, vm.Source = types.StringValue("passthrough"), types.StringValue(v.Source)
			if v.Overlay > 0 {
				vm.Backend, vm.Size = types.StringValue("overlay"), types.Int64Value(v.Overlay)
			}
		case "memory":
			vm.Backend, vm.Size = types.StringValue("memory"), types.Int64Value(v.SizeMiB)
		case "volume":
			vm.Backend, vm.Source = types.StringValue("named"), types.StringValue(v.Volume)
		case "plugin":
			vm.Backend, vm.Source = types.StringValue("plugin"), types.StringValue(v.Source)
			vm.Arg, vm.Dir = optString(v.Arg), optString(v.Dir)
		default:
			continue
		}
		m.Volume = append(m.Volume, vm)
	}
	m.pluginsFromRecord(r)
	if sp := c.Spawn; sp != nil && r.parent == "" {
		m.AllowSpawn = types.Int64Value(sp.Max)
		m.SpawnImages = types.ListNull(types.StringType)
		if len(sp.Images) > 1 {
			m.SpawnImages = stringList(sp.Images[1:])
		}
	} else {
		m.SpawnImages = types.ListNull(types.StringType)
	}
	n := c.Net
	if len(n.Allow)+len(n.AllowCidr)+len(n.BlockCidr)+len(n.AllowHost) > 0 || n.DenyAll || n.DNS != "" || n.Plugin != "" {
		m.Network = &networkModel{Allow: types.ListNull(types.StringType),
			AllowCidr: types.ListNull(types.StringType), BlockCidr: types.ListNull(types.StringType),
			AllowHost:  types.ListNull(types.Int64Type),
			Nameserver: optString(n.DNS), Plugin: optString(n.Plugin)}
		if len(n.AllowHost) > 0 {
			ports := make([]attr.Value, len(n.AllowHost))
			for i, p := range n.AllowHost {
				ports[i] = types.Int64Value(p)
			}
			m.Network.AllowHost = types.ListValueMust(types.Int64Type, ports)
		}
		if len(n.Allow) > 0 {
			m.Network.Allow = stringList(n.Allow)
		}
		if len(n.AllowCidr) > 0 {
			m.Network.AllowCidr = stringList(n.AllowCidr)
		}
		if len(n.BlockCidr) > 0 {
			m.Network.BlockCidr = stringList(n.BlockCidr)
		}
		if n.DenyAll {
			m.Network.DenyAll = types.BoolValue(true)
		}
	}
	if r.parent != "" {
		m.peerFromRecord(r)
	}
	m.refresh(r)
}

// pluginsFromRecord reads the plugin chain back: built-ins and installed
// plugins as plugin blocks, plugin processes as plugin_process (the
// provider gives the blocks first, then the commands), the deadline and
// the restarts. A hook server of an SDK process (kind socket) has no
// attribute and is left out.
func (m *sandboxModel) pluginsFromRecord(r *record) {
	c := &r.doc.Config
	var procs []string
	for _, p := range c.Plugins {
		pm := pluginModel{Config: types.MapNull(types.StringType)}
		config := map[string]attr.Value{}
		switch {
		case p.Kind == "builtin" && p.Name == "audit-log":
			pm.Name, pm.LogDir = types.StringValue(p.Name), optString(p.Options["dir"])
			if fs := p.Options["fs"]; fs != "" {
				config["fs"] = types.StringValue(fs)
			}
		case p.Kind == "builtin" && p.Name == "rate-limiter":
			pm.Name = types.StringValue(p.Name)
			var n float64
			if _, err := fmt.Sscan(p.Options["exec"], &n); err == nil {
				pm.MaxExecPerS = types.Int64Value(int64(n))
			}
			if c := p.Options["connect"]; c != "" {
				config["connect_per_s"] = types.StringValue(c)
			}
			if b := p.Options["bytes"]; b != "" {
				config["bytes_per_s"] = types.StringValue(b)
			}
		case p.Kind == "process" && p.Installed != "":
			pm.Name = types.StringValue(p.Installed)
		case p.Kind == "process":
			procs = append(procs, p.Cmd)
			continue
		default:
			continue
		}
		if len(config) > 0 {
			pm.Config = types.MapValueMust(types.StringType, config)
		}
		m.Plugin = append(m.Plugin, pm)
	}
	if len(procs) > 0 {
		m.PluginProcess = stringList(procs)
	}
	if c.PluginTimeoutMs > 0 {
		m.PluginTimeoutMs = types.Int64Value(c.PluginTimeoutMs)
	}
	if c.PluginRestarts != nil {
		m.PluginRestarts = types.Int64Value(*c.PluginRestarts)
	}
}

func sortStrings(s []string) { sort.Strings(s) }
