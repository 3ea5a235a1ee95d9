// SPDX-License-Identifier: Apache-2.0

package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/boolplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/int64planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/listplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/mapplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

// A sandbox's settings are fixed when it is made (libmsb has no call that
// changes a sandbox's configuration, but for its sync setting), so every
// attribute but `running` and the `sync` block forces a replacement: the
// old sandbox is removed, a new one made. `running` starts or stops it in
// place, `sync` is turned on or off in place.

const replaces = " Changing it replaces the sandbox."

func replaceStr() []planmodifier.String {
	return []planmodifier.String{stringplanmodifier.RequiresReplace()}
}

func keepReplaceStr() []planmodifier.String {
	return []planmodifier.String{stringplanmodifier.UseStateForUnknown(), stringplanmodifier.RequiresReplace()}
}

func keepReplaceInt() []planmodifier.Int64 {
	return []planmodifier.Int64{int64planmodifier.UseStateForUnknown(), int64planmodifier.RequiresReplace()}
}

func replaceList() []planmodifier.List {
	return []planmodifier.List{listplanmodifier.RequiresReplace()}
}

func strList(desc string) schema.ListAttribute {
	return schema.ListAttribute{ElementType: types.StringType, Optional: true,
		Description: desc + replaces, PlanModifiers: replaceList()}
}

func sandboxSchema() schema.Schema {
	return schema.Schema{
		Description: "A sandbox: a microVM with its own Linux kernel, booted from an OCI " +
			"image (msb run -d) or restored from a snapshot (msb restore). Every attribute " +
			"but `running` and `sync` is fixed at creation: changing one replaces the " +
			"sandbox. `running` starts or stops it in place, `sync` is turned on or off in " +
			"place; a sandbox stopped or removed outside " +
			"Terraform shows in the next plan.",
		Attributes: map[string]schema.Attribute{
			"id": schema.StringAttribute{Computed: true, Description: "The sandbox's name.",
				PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()}},
			"name": schema.StringAttribute{Required: true, PlanModifiers: replaceStr(),
				Description: "The sandbox's name (1-63 of [a-zA-Z0-9_.-], starting with a " +
					"letter or digit). Import takes it." + replaces},
			"image": schema.StringAttribute{Optional: true, Computed: true, PlanModifiers: keepReplaceStr(),
				Description: "The OCI image (`python:3.12`, `host:port/repo:tag`); pulled first " +
					"when missing. Default: the built-in `default` image; with `from_snapshot`, " +
					"the snapshot's (computed)." + replaces},
			"from_snapshot": schema.StringAttribute{Optional: true, PlanModifiers: replaceStr(),
				Description: "Restore the sandbox from this snapshot (msb restore): a full " +
					"snapshot resumes where it was saved, processes running; a disk snapshot " +
					"(or `disk_only`) boots its disk. Takes `env`, `cpus`, `memory`, " +
					"`boot_timeout` and `disk_only` only." + replaces},
			"disk_only": schema.BoolAttribute{Optional: true,
				PlanModifiers: []planmodifier.Bool{boolplanmodifier.RequiresReplace()},
				Description: "With `from_snapshot`: boot the snapshot's disk as a fresh " +
					"machine (msb run --from-snapshot) instead of resuming its memory." + replaces},
			"cpus": schema.Int64Attribute{Optional: true, Computed: true, PlanModifiers: keepReplaceInt(),
				Description: "Virtual CPUs (msb run --cpus; default 1)." + replaces},
			"memory": schema.Int64Attribute{Optional: true, Computed: true, PlanModifiers: keepReplaceInt(),
				Description: "Guest memory in MiB (msb run --memory; default 512)." + replaces},
			"disk_size": schema.Int64Attribute{Optional: true, Computed: true, PlanModifiers: keepReplaceInt(),
				Description: "The writable disk in MiB (msb run --disk-size; 64 to 1048576, " +
					"default 4096; sparse: only what the guest writes takes host disk)." + replaces},
			"env": schema.MapAttribute{ElementType: types.StringType, Optional: true,
				PlanModifiers: []planmodifier.Map{mapplanmodifier.RequiresReplace()},
				Description: "Environment of every command (msb run -e); with `from_snapshot`, " +
					"restored processes read it from /run/msb/env." + replaces},
			"workdir": schema.StringAttribute{Optional: true, PlanModifiers: replaceStr(),
				Description: "Working directory of every command (msb run -w)." + replaces},
			"user": schema.StringAttribute{Optional: true, PlanModifiers: replaceStr(),
				Description: "User of every command: a name, uid or uid:gid (msb run -u)." + replaces},
			"kernel": schema.StringAttribute{Optional: true, Computed: true, PlanModifiers: keepReplaceStr(),
				Description: "Guest kernel: `msb` (the project's) or `cloud` (Debian's) " +
					"(msb run --kernel; default $MSB_KERNEL, else msb when built)." + replaces},
			"boot_timeout": schema.Int64Attribute{Optional: true, Computed: true, PlanModifiers: keepReplaceInt(),
				Description: "Seconds a boot may take (msb run --boot-timeout; default 60)." + replaces},
			"cmd": strList("A command run detached once the sandbox has booted " +
				"(msb run -d NAME -- CMD); its output goes to the sandbox's log."),
			"entrypoint": strList("Replaces the image's Entrypoint for the detached command " +
				"(msb run --entrypoint); an empty list clears it."),
			"image_cmd": schema.BoolAttribute{Optional: true,
				PlanModifiers: []planmodifier.Bool{boolplanmodifier.RequiresReplace()},
				Description: "Run the image's own Entrypoint and Cmd detached once booted " +
					"(msb run -d IMAGE)." + replaces},
			"ports": strList("Guest ports published on the host (msb run -p): " +
				"`HOST:GUEST`, `IP:HOST:GUEST`, `[IPv6]:HOST:GUEST`, optionally `/tcp`; " +
				"host port 0 takes a free one (see `published_ports`)."),
			"published_ports": schema.MapAttribute{ElementType: types.StringType, Computed: true,
				Description: "Where each published port is bound on the host while the " +
					"sandbox runs (msb port): `80/tcp` = `127.0.0.1:34567`."},
			"on_secret_violation": schema.StringAttribute{Optional: true, PlanModifiers: replaceStr(),
				Description: "What a placeholder sent where its value may not go gets: " +
					"`block` (default), `log` or `allow` (msb run --on-secret-violation)." + replaces},
			"tls_bypass": strList("Hosts whose TLS is never intercepted (msb run --tls-bypass): " +
				"`x.com`, `*.x.com`."),
			"tls_upstream_ca": strList("PEM texts of CA certificates trusted, with the " +
				"host's, for the servers of intercepted TLS (msb run --tls-upstream-ca; " +
				"`file(\"ca.pem\")`)."),
			"running": schema.BoolAttribute{Optional: true, Computed: true, Default: booldefault.StaticBool(true),
				Description: "Whether the sandbox runs (default true). Changed in place: " +
					"false stops it (its disk kept), true starts it again. A sandbox stopped " +
					"outside Terraform reads back false, so the next plan starts it. A " +
					"sandbox with a secret given by `value` cannot start again (the value " +
					"is kept nowhere): starting it replaces it."},
			"plugin_timeout_ms": schema.Int64Attribute{Optional: true,
				PlanModifiers: []planmodifier.Int64{int64planmodifier.RequiresReplace()},
				Description: "Each hook call's deadline in ms (msb run --plugin-timeout; default " +
					"1000): a call a plugin does not answer in time is refused." + replaces},
			"plugin_restarts": schema.Int64Attribute{Optional: true,
				PlanModifiers: []planmodifier.Int64{int64planmodifier.RequiresReplace()},
				Description: "How often a plugin process that exits is started again (msb run " +
					"--plugin-restarts; default 3, 0 never); then its hooks refuse." + replaces},
			"plugin_process": strList("Commands run as plugins (msb run --plugin-process): each " +
				"with /bin/sh -c in Terraform's working directory, speaking the hook protocol " +
				"on descriptor 3 (docs/plugins.md), restarted when it exits; asked after the " +
				"`plugin` blocks, in order. One that does not start fails the create."),
			"spawned_by": schema.StringAttribute{Optional: true, PlanModifiers: replaceStr(),
				Description: "The sandbox that spawns this one as its peer (docs/spawn.md): " +
					"made by its parent's own `msb start`, under the parent's policy " +
					"(`allow_spawn`, `spawn_images`, `spawn_cpus`, `spawn_memory`, " +
					"`spawn_total_memory`), so the parent must run. A peer takes `image`, " +
					"`cpus`, `memory`, `env`, `running`, a `network` no wider than its " +
					"parent's (`deny_all`, or `allow` and `allow_cidr`) and `secret`s its " +
					"parent holds (by placeholder: `parent_env`); anything else is refused " +
					"at plan. Removing the parent removes its peers: refer to the parent's " +
					"`id` (`microsandbox_sandbox.orchestrator.id`), not its `name`, to have a " +
					"replaced parent replace its peers in the same apply. Read back from the " +
					"record (import)." + replaces},
			"allow_spawn": schema.Int64Attribute{Optional: true,
				PlanModifiers: []planmodifier.Int64{int64planmodifier.RequiresReplace()},
				Description: "Its programs may start up to N (1 to 64) live peer sandboxes beside " +
					"it, peers of peers included (msb run --allow-spawn N; docs/spawn.md), and " +
					"sandboxes of this configuration with `spawned_by` naming it are made so. " +
					"Off by default." + replaces},
			"spawn_images": strList("Images peers may use besides its own (msb run " +
				"--spawn-image; at most 32). Needs `allow_spawn`."),
			"spawn_cpus": schema.Int64Attribute{Optional: true, Computed: true, PlanModifiers: keepReplaceInt(),
				Description: "A peer's most CPUs (msb run --spawn-cpus; 1 to 64, default its own " +
					"`cpus`). Needs `allow_spawn`." + replaces},
			"spawn_memory": schema.Int64Attribute{Optional: true, Computed: true, PlanModifiers: keepReplaceInt(),
				Description: "A peer's most memory in MiB (msb run --spawn-memory; default its " +
					"own `memory`). Needs `allow_spawn`." + replaces},
			"spawn_total_memory": schema.Int64Attribute{Optional: true, Computed: true, PlanModifiers: keepReplaceInt(),
				Description: "The memory in MiB of all live peers of its tree together (msb run " +
					"--spawn-total-memory; default `allow_spawn` times `spawn_memory`). Needs " +
					"`allow_spawn`." + replaces},
		},
		Blocks: map[string]schema.Block{
			"volume": schema.ListNestedBlock{
				Description: "A volume mounted in the guest (msb run -v, --volume-mem, " +
					"--volume-plugin). Changing one replaces the sandbox.",
				PlanModifiers: replaceList(),
				NestedObject: schema.NestedBlockObject{Attributes: map[string]schema.Attribute{
					"mount_path": schema.StringAttribute{Required: true,
						Description: "Where the guest sees it (absolute)."},
					"backend": schema.StringAttribute{Required: true,
						Description: "`passthrough` (a host directory), `memory` (host RAM), " +
							"`overlay` (a host directory, the guest's changes kept in RAM), " +
							"`named` (a named volume: `microsandbox_volume`) or `plugin` (a " +
							"shared object implementing msb_fs.h)."},
					"source": schema.StringAttribute{Optional: true,
						Description: "passthrough and overlay: the host directory (relative: " +
							"to Terraform's working directory); named: the volume's name; " +
							"plugin: the shared object."},
					"size": schema.Int64Attribute{Optional: true,
						Description: "memory and overlay: MiB of RAM (64 and 256 by default)."},
					"arg": schema.StringAttribute{Optional: true,
						Description: "plugin: its argument."},
					"dir": schema.StringAttribute{Optional: true,
						Description: "plugin: a host directory handed to it (one it may wrap)."},
					"read_only": schema.BoolAttribute{Optional: true,
						Description: "Read-only, enforced by the host."},
					"direct_io": schema.BoolAttribute{Optional: true,
						Description: "Bypass the guest's page cache."},
					"cache": schema.StringAttribute{Optional: true,
						Description: "What the guest's kernel may cache of it (-v ...:cache=, " +
							"docs/filesystems.md): `never`, `auto` (names and attributes for a " +
							"second, data until an open or a changed mtime) or `always` (names " +
							"and attributes for a day, data across opens). Default: data until " +
							"the next open, names and attributes not at all."},
					"cache_timeout_ms": schema.Int64Attribute{Optional: true,
						Description: "How long the guest may keep names and attributes, in ms " +
							"(-v ...:timeout=; at most 86400000), instead of `cache`'s own."},
				}},
			},
			"secret": schema.ListNestedBlock{
				Description: "A secret (msb run --secret-env): the guest's variable holds a " +
					"placeholder, and the host swaps the real value in only inside verified " +
					"TLS to the allowed hosts. The value comes from `value` (write-only: never " +
					"in the plan or the state), `value_env` (a variable of the provider's " +
					"environment, read at every start) or `value_file`; with none of them, from " +
					"the provider's environment variable named `env_name`. The state holds the " +
					"spec and the placeholder only. Changing one replaces the sandbox.",
				PlanModifiers: []planmodifier.List{replaceIfSpecChanged()},
				NestedObject: schema.NestedBlockObject{Attributes: map[string]schema.Attribute{
					"env_name": schema.StringAttribute{Required: true,
						Description: "The guest's environment variable."},
					"allowed_host": schema.StringAttribute{Optional: true,
						Description: "The host the value may be sent to (`api.openai.com`, " +
							"`*.example.com`)."},
					"allowed_hosts": schema.ListAttribute{ElementType: types.StringType, Optional: true,
						Description: "More hosts the value may be sent to."},
					"value": schema.StringAttribute{Optional: true, Sensitive: true, WriteOnly: true,
						Description: "The value (a sensitive or ephemeral variable). Write-only: " +
							"never stored in the plan or the state (Terraform 1.11, OpenTofu 1.11 " +
							"or later). The sandbox cannot be started again once stopped."},
					"value_env": schema.StringAttribute{Optional: true,
						Description: "A variable of the provider's environment holding the " +
							"value, read at every start (msb run --secret-env NAME=@env:VAR:HOSTS)."},
					"value_file": schema.StringAttribute{Optional: true,
						Description: "A file holding the value, read at every start " +
							"(--secret-env NAME=@file:PATH:HOSTS)."},
					"inject": schema.ListAttribute{ElementType: types.StringType, Optional: true,
						Description: "Where in a request to its hosts the value may go besides " +
							"the Authorization header (msb run --secret-inject): `header:NAME`, " +
							"`path`, `query`, `body`. A placeholder anywhere else is a violation."},
					"parent_env": schema.StringAttribute{Optional: true,
						Description: "With `spawned_by`: the parent's variable holding the " +
							"placeholder of the secret passed on (msb start --secret-env " +
							"NAME=@env:VAR:HOSTS inside the parent; default `env_name`). The " +
							"peer gets the parent's value under a placeholder of its own, for " +
							"`allowed_host` (default: the parent's hosts for it), which the " +
							"parent's binding must cover."},
					"placeholder": schema.StringAttribute{Computed: true,
						PlanModifiers: []planmodifier.String{stringplanmodifier.UseStateForUnknown()},
						Description:   "What the guest's variable holds (msb_placeholder_...)."},
				}},
			},
			"network": schema.SingleNestedBlock{
				Description: "The network policy (docs/network.md). Changing it replaces the sandbox.",
				Attributes: map[string]schema.Attribute{
					"allow": strList("Names the sandbox may reach (`api.openai.com`, " +
						"`*.stripe.com`; msb run --net-allow)."),
					"allow_cidr": strList("Ranges opened, even default-denied ones " +
						"(--net-allow-cidr)."),
					"block_cidr": strList("Ranges closed (--net-block-cidr)."),
					"allow_host": schema.ListAttribute{ElementType: types.Int64Type, Optional: true,
						PlanModifiers: replaceList(),
						Description: "TCP ports of the host's loopback the guest may reach at the " +
							"gateway (10.0.2.2, host.msb.internal; --net-allow-host): `[11434]`." + replaces},
					"deny_all": schema.BoolAttribute{Optional: true,
						PlanModifiers: []planmodifier.Bool{boolplanmodifier.RequiresReplace()},
						Description: "Nothing leaves but what allow and allow_cidr open " +
							"(--net-deny-all)." + replaces},
					"nameserver": schema.StringAttribute{Optional: true, PlanModifiers: replaceStr(),
						Description: "The upstream resolver, `IP[:PORT]` (--dns-nameserver)." + replaces},
					"plugin": schema.StringAttribute{Optional: true, PlanModifiers: replaceStr(),
						Description: "A shared object with C network hooks (msb_net_plugin.h; " +
							"--net-plugin)." + replaces},
				},
			},
			"plugin": schema.ListNestedBlock{
				Description: "A plugin of the sandbox's chain (msb run --plugin NAME[:K=V], " +
					"docs/plugins.md): the built-in `audit-log` (JSON lines of lifecycle, exec, " +
					"network and file events in `log_dir` on the host) or `rate-limiter` (execs a " +
					"second beyond `max_exec_per_s` refused), or an installed plugin by name " +
					"(`microsandbox_plugin.x.name`; it takes no settings). Asked in order, before " +
					"`plugin_process`. Changing one replaces the sandbox.",
				PlanModifiers: replaceList(),
				NestedObject: schema.NestedBlockObject{Attributes: map[string]schema.Attribute{
					"name": schema.StringAttribute{Required: true,
						Description: "`audit-log`, `rate-limiter`, or an installed plugin's name."},
					"log_dir": schema.StringAttribute{Optional: true,
						Description: "audit-log: the host directory it writes NAME.jsonl into " +
							"(relative: to Terraform's working directory)."},
					"max_exec_per_s": schema.Int64Attribute{Optional: true,
						Description: "rate-limiter: execs allowed a second."},
					"config": schema.MapAttribute{ElementType: types.StringType, Optional: true,
						Description: "Other settings: audit-log's `fs` (file operations logged, " +
							"`open+create+...`), rate-limiter's `connect_per_s` (new connections " +
							"a second) and `bytes_per_s` (the guest network's bytes a second each " +
							"way, 1024 to 10 GiB)."},
				}},
			},
			"sync": schema.SingleNestedBlock{
				Description: "Cloud sync (msb run --sync, docs/sync.md): with `enabled = true` " +
					"the sandbox pushes itself to a registry whenever Terraform stops it " +
					"(`running = false`) and when a destroy stops it, so that `msb pull NAME` " +
					"makes it on any machine with the same files. It goes to where it was last " +
					"pushed or pulled, else REMOTE/NAME:latest, the remote being `msb remote " +
					"set`'s or $MSB_REMOTE in the provider's environment: a new sandbox is " +
					"refused at plan when there is none. Changed in place (turned on or off on " +
					"the sandbox as it is, running or not), never a replacement. A push that " +
					"fails leaves the sandbox stopped and kept, and the apply or destroy fails " +
					"saying so.",
				Attributes: map[string]schema.Attribute{
					"enabled": schema.BoolAttribute{Optional: true,
						Description: "Push at every stop. Changed in place."},
				},
			},
		},
	}
}

func (r *sandboxResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	resp.Schema = sandboxSchema()
}

// replaceIfSpecChanged replaces the sandbox when its secrets' spec
// changes. Block-level plan modifiers run before their attributes', so
// they see the computed placeholder still unknown in every update's plan
// (running changed, say): it is left out of the comparison.
func replaceIfSpecChanged() planmodifier.List {
	const desc = "Changing the spec of a secret replaces the sandbox."
	return listplanmodifier.RequiresReplaceIf(func(ctx context.Context, req planmodifier.ListRequest,
		resp *listplanmodifier.RequiresReplaceIfFuncResponse) {
		resp.RequiresReplace = !sameIgnoring(req.StateValue, req.PlanValue, "placeholder")
	}, desc, desc)
}

func sameIgnoring(a, b types.List, ignore string) bool {
	if a.IsUnknown() || b.IsUnknown() || a.IsNull() != b.IsNull() {
		return a.Equal(b)
	}
	ae, be := a.Elements(), b.Elements()
	if len(ae) != len(be) {
		return false
	}
	for i := range ae {
		ao, ok1 := ae[i].(types.Object)
		bo, ok2 := be[i].(types.Object)
		if !ok1 || !ok2 {
			return false
		}
		aa, ba := ao.Attributes(), bo.Attributes()
		for k, v := range aa {
			if k != ignore && !v.Equal(ba[k]) {
				return false
			}
		}
	}
	return true
}
