// SPDX-License-Identifier: Apache-2.0
//! What a sandbox is made with: the builder, its network policy, volumes,
//! secrets, and the seeds' forms that are not served yet.

use std::ffi::c_char;
use std::marker::PhantomData;
use std::path::PathBuf;
use std::time::Duration;

use microsandbox_sys as sys;

use crate::cstr::{cerr, CArgs};
use crate::error::{Error, Result};
use crate::progress::{Callback, ImageEvent, SyncEvent};

/// The blocking API's mode of [`SandboxBuilder`].
pub enum Blocking {}

/// The async API's mode of [`SandboxBuilder`].
pub enum Async {}

/// Builds a sandbox: `Sandbox::builder(name)`, options, then `create()`.
/// `M` says which API it creates for: [`crate::blocking::SandboxBuilder`]
/// creates a blocking sandbox, `microsandbox::SandboxBuilder` an async one.
#[must_use = "a builder does nothing until create() is called"]
pub struct SandboxBuilder<M = Async> {
    pub(crate) name: String,
    pub(crate) cfg: SandboxConfig,
    mode: PhantomData<fn() -> M>,
}

/// The whole configuration of a sandbox, as the builder collects it.
#[derive(Default)]
pub(crate) struct SandboxConfig {
    pub(crate) image: Option<String>,
    pub(crate) cpus: u32,
    pub(crate) memory: Option<Memory>,
    pub(crate) disk_mib: u64,
    pub(crate) env: Vec<String>,
    pub(crate) workdir: Option<String>,
    pub(crate) user: Option<String>,
    pub(crate) kernel: Option<String>,
    pub(crate) boot_timeout: Option<Duration>,
    pub(crate) cmd: Option<Vec<String>>,
    pub(crate) entrypoint: Option<Vec<String>>,
    pub(crate) image_cmd: bool,
    pub(crate) net: NetworkBuilder,
    pub(crate) ports: Vec<String>,
    pub(crate) volumes: Vec<VolumeSpec>,
    pub(crate) secrets: Vec<Secret>,
    pub(crate) on_secret_violation: Option<String>,
    pub(crate) tls_bypass: Vec<String>,
    pub(crate) tls_ca: Vec<String>,
    pub(crate) tls_ca_files: Vec<PathBuf>,
    pub(crate) keep: bool,
    pub(crate) ephemeral: bool,
    /// Built-in plugins (name, options), in order.
    pub(crate) plugins: Vec<(String, String)>,
    /// Plugin processes' command lines, in order.
    pub(crate) plugin_processes: Vec<String>,
    pub(crate) plugin_timeout: Option<Duration>,
    pub(crate) plugin_restarts: Option<u32>,
    /// What its programs may spawn (docs/spawn.md).
    pub(crate) spawn: SpawnSpec,
    /// Hooks written in Rust (the network's are in `net`).
    pub(crate) exec_hook: Option<std::sync::Arc<ExecHook>>,
    pub(crate) exit_hook: Option<std::sync::Arc<ExitHook>>,
    pub(crate) lifecycle_hook: Option<std::sync::Arc<LifecycleHook>>,
    /// Forms given that are not served, or options that failed (a volume
    /// closure's error): the first one is the create's error.
    pub(crate) refused: Vec<Error>,
}

pub(crate) enum Memory {
    Mib(u64),
    Text(String),
}

impl<M> SandboxBuilder<M> {
    pub(crate) fn new(name: impl Into<String>) -> Self {
        SandboxBuilder { name: name.into(), cfg: SandboxConfig::default(), mode: PhantomData }
    }

    pub(crate) fn refuse(mut self, e: Error) -> Self {
        self.cfg.refused.push(e);
        self
    }

    /// The OCI image to boot: "python:3.12" (Docker Hub), a full reference
    /// "host:port/repo:tag" or "repo@sha256:...". It is pulled first if it
    /// is not in the local store. Without it, the built-in "default"
    /// image (a busybox userland that needs no network) is used.
    pub fn image(mut self, reference: impl Into<String>) -> Self {
        self.cfg.image = Some(reference.into());
        self
    }

    /// The number of virtual CPUs (default 1).
    pub fn cpus(mut self, n: u32) -> Self {
        self.cfg.cpus = n;
        self
    }

    /// The guest's memory as `msb run --memory` writes it: "512M", "1G",
    /// "1.5GiB", or a bare number of MiB (default 512 MiB).
    pub fn memory(mut self, size: impl Into<String>) -> Self {
        self.cfg.memory = Some(Memory::Text(size.into()));
        self
    }

    /// The guest's memory in MiB (default 512).
    pub fn memory_mib(mut self, mib: u64) -> Self {
        self.cfg.memory = Some(Memory::Mib(mib));
        self
    }

    /// The writable disk's size in MiB (default 4096; sparse).
    pub fn disk_mib(mut self, mib: u64) -> Self {
        self.cfg.disk_mib = mib;
        self
    }

    /// An environment variable of every command in the sandbox.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.cfg.env.push(format!("{}={}", key.into(), value.into()));
        self
    }

    /// The working directory of every command.
    pub fn workdir(mut self, dir: impl Into<String>) -> Self {
        self.cfg.workdir = Some(dir.into());
        self
    }

    /// The user of every command: a name, a uid or uid:gid (default: the
    /// image's).
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.cfg.user = Some(user.into());
        self
    }

    /// The guest kernel: "msb" (the project's) or "cloud" (Debian's);
    /// default `$MSB_KERNEL`, else msb when it was built.
    pub fn kernel(mut self, name: impl Into<String>) -> Self {
        self.cfg.kernel = Some(name.into());
        self
    }

    /// Bounds the boot (default `$MSB_BOOT_TIMEOUT` or 60 s).
    pub fn boot_timeout(mut self, d: Duration) -> Self {
        self.cfg.boot_timeout = Some(d);
        self
    }

    /// Runs @argv detached once the sandbox has booted (`msb run -d NAME
    /// -- CMD`): its output goes to the sandbox's log; `wait` waits for it.
    pub fn cmd<I, S>(mut self, argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.cfg.cmd = Some(argv.into_iter().map(Into::into).collect());
        self
    }

    /// Replaces the image's Entrypoint for the detached command (an empty
    /// list clears it).
    pub fn entrypoint<I, S>(mut self, argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.cfg.entrypoint = Some(argv.into_iter().map(Into::into).collect());
        self
    }

    /// Runs the image's own Entrypoint and Cmd detached once booted (`msb
    /// run -d IMAGE`).
    pub fn image_cmd(mut self) -> Self {
        self.cfg.image_cmd = true;
        self
    }

    /// Sets the network policy (docs/network.md). By default the public
    /// internet is reachable and loopback, private, CGNAT, link-local
    /// (cloud metadata), ULA, multicast and the host's own addresses are
    /// not.
    pub fn network(mut self, f: impl FnOnce(NetworkBuilder) -> NetworkBuilder) -> Self {
        self.cfg.net = f(std::mem::take(&mut self.cfg.net));
        self
    }

    /// Publishes a guest port on the host: "HOST:GUEST", "IP:HOST:GUEST",
    /// `[IPv6]:HOST:GUEST`, or "GUEST" alone for a free host port (see
    /// `ports()` on the sandbox).
    pub fn port(mut self, spec: impl Into<String>) -> Self {
        self.cfg.ports.push(spec.into());
        self
    }

    /// Mounts a volume at @guest_path (absolute; not /proc, /sys, /dev,
    /// /run, /etc or below): @f picks its backend, and may fail (`?`
    /// inside it), which fails `create()`.
    pub fn volume(
        mut self,
        guest_path: impl Into<String>,
        f: impl FnOnce(VolumeBuilder) -> Result<VolumeBuilder>,
    ) -> Self {
        let path = guest_path.into();
        match f(VolumeBuilder { path: path.clone(), ..Default::default() }) {
            Ok(v) => match v.backend {
                Some(_) if v.cache_timeout.is_some_and(|t| t > CACHE_TIMEOUT_MAX) => {
                    self.cfg.refused.push(Error::invalid(
                        format!("volume {path}"),
                        format!(
                            "volume {path}: a cache_timeout of {:?} is more than a day: use at most 86400 s",
                            v.cache_timeout.unwrap()
                        ),
                    ))
                }
                Some(b) => self.cfg.volumes.push(VolumeSpec {
                    path,
                    backend: b,
                    readonly: v.readonly,
                    direct_io: v.direct_io,
                    cache: v.cache,
                    cache_timeout: v.cache_timeout,
                    hooked: v.hooked,
                }),
                None => self.cfg.refused.push(Error::invalid(
                    format!("volume {path}"),
                    "no backend given: v.backend(PassthroughFs::new(dir)), MemFs::new(), ...",
                )),
            },
            Err(e) => self.cfg.refused.push(e),
        }
        self
    }

    /// The guest variable @env holds a random placeholder
    /// (msb_placeholder_...) while @value stays in the sandbox's supervisor
    /// on the host, which swaps it in only inside verified TLS connections
    /// to @hosts ("api.example.com", "*.example.com" for names below it;
    /// comma-separated for several). The value is kept nowhere: such a
    /// sandbox cannot be started again once stopped (`secret` with
    /// [`Secret::from_env`] or [`Secret::from_file`] can).
    pub fn secret_env(self, env: impl Into<String>, value: impl Into<String>, hosts: impl Into<String>) -> Self {
        self.secret(Secret::value(env, value, hosts))
    }

    /// Adds a secret made with [`Secret`].
    pub fn secret(mut self, s: Secret) -> Self {
        self.cfg.secrets.push(s);
        self
    }

    /// What happens to a placeholder sent where its value may not go:
    /// "block" (default: answered 403, logged, the connection closed),
    /// "log" (sent as it is, logged) or "allow".
    pub fn on_secret_violation(mut self, action: impl Into<String>) -> Self {
        self.cfg.on_secret_violation = Some(action.into());
        self
    }

    /// Hosts whose TLS is never intercepted but passed through: "x.com",
    /// or "*.x.com" for every name below x.com.
    pub fn tls_bypass(mut self, host: impl Into<String>) -> Self {
        self.cfg.tls_bypass.push(host.into());
        self
    }

    /// Trusts the CA certificates in @pem (PEM text), with the host's,
    /// for the servers of intercepted TLS.
    pub fn tls_upstream_ca(mut self, pem: impl Into<String>) -> Self {
        self.cfg.tls_ca.push(pem.into());
        self
    }

    /// As `tls_upstream_ca`, the certificates read from the file @path.
    pub fn tls_upstream_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.cfg.tls_ca_files.push(path.into());
        self
    }

    /// The sandbox is removed as soon as it stops, whoever stops it (`msb
    /// run --rm`).
    pub fn ephemeral(mut self) -> Self {
        self.cfg.ephemeral = true;
        self
    }

    /// Dropping the handle leaves the sandbox running (it then only
    /// releases the handle, as for one got with `Sandbox::get`). Without
    /// it, dropping the handle `create()` returned removes the sandbox.
    pub fn keep(mut self) -> Self {
        self.cfg.keep = true;
        self
    }

    /// Adds a built-in plugin to the sandbox's chain (docs/plugins.md):
    /// [`AuditLog`] or [`RateLimiter`]. A plugin type of your own is
    /// refused with [`Error::NotSupported`]: write its hooks as closures
    /// ([`SandboxBuilder::on_exec`], [`NetworkBuilder::on_dns`]...) or as
    /// a plugin process ([`SandboxBuilder::plugin_process`]).
    pub fn plugin(mut self, plugin: impl Plugin) -> Self {
        match plugin.builtin() {
            Some(b) => {
                self.cfg.plugins.push(b);
                self
            }
            None => {
                let what = plugin.name();
                self.refuse(Error::not_supported(
                    "create",
                    format!(
                        "plugin types of your own ({what}) are not served: use AuditLog or \
                         RateLimiter, hooks as closures (.on_exec(...), .network(|n| n.on_dns(...))), \
                         or a plugin process (.plugin_process(cmd))"
                    ),
                ))
            }
        }
    }

    /// Runs @command (with `/bin/sh -c`, in this program's current
    /// directory) as a plugin process: the sandbox's supervisor starts and
    /// restarts it, and it speaks the hook protocol on descriptor 3
    /// (docs/plugins.md).
    pub fn plugin_process(mut self, command: impl Into<String>) -> Self {
        self.cfg.plugin_processes.push(command.into());
        self
    }

    /// Each hook call's deadline (default 1 s): a call that misses it is
    /// denied.
    pub fn plugin_timeout(mut self, t: Duration) -> Self {
        self.cfg.plugin_timeout = Some(t);
        self
    }

    /// How often a plugin process that exits is started again (default
    /// 3; 0: never), as `msb run --plugin-restarts N` does; once it is not,
    /// its hooks deny.
    pub fn plugin_restarts(mut self, n: u32) -> Self {
        self.cfg.plugin_restarts = Some(n);
        self
    }

    /// Lets the sandbox's programs start up to @n (1 to 64) live peer
    /// sandboxes beside it (`msb start` inside it, a peer's own peers
    /// included), as `msb run --allow-spawn N` does; spawning is off
    /// without it (docs/spawn.md). A peer gets the sandbox's own image or
    /// one of [`spawn_images`](Self::spawn_images), at most the CPUs and
    /// memory of [`spawn_limits`](Self::spawn_limits), a network no wider
    /// than the sandbox's, no volume, and only the secrets the sandbox
    /// holds, by placeholder. Removing the sandbox removes its peers; a
    /// peer's [`parent`](crate::Sandbox::parent) names it. Out of range,
    /// the create fails with [`Error::Invalid`] before anything is made.
    pub fn allow_spawn(mut self, n: u32) -> Self {
        self.cfg.spawn.max = Some(n);
        self
    }

    /// Images peers may use besides the sandbox's own (`msb run
    /// --spawn-image`; at most 32 in all). A peer's start pulls one that
    /// is not here yet, so allow only images you trust. It needs
    /// [`allow_spawn`](Self::allow_spawn).
    pub fn spawn_images<I, S>(mut self, refs: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.cfg.spawn.images.extend(refs.into_iter().map(Into::into));
        self.cfg.spawn.shaped = true;
        self
    }

    /// A peer's most CPUs and memory in MiB, and the memory in MiB of all
    /// live peers of the sandbox's tree together (`msb run --spawn-cpus,
    /// --spawn-memory, --spawn-total-memory`). 0 keeps the default: the
    /// sandbox's own CPUs and memory per peer, `allow_spawn`'s N times
    /// that in total. It needs [`allow_spawn`](Self::allow_spawn).
    pub fn spawn_limits(mut self, cpus: u32, memory_mib: u64, total_memory_mib: u64) -> Self {
        self.cfg.spawn.limits = (cpus, memory_mib, total_memory_mib);
        self.cfg.spawn.shaped = true;
        self
    }

    /// Calls @hook, in this program, before each command runs in the
    /// sandbox: [`ExecAction::Allow`], [`ExecAction::Deny`] (the caller
    /// gets [`Error::PolicyRefused`]) or [`ExecAction::Rewrite`]. It runs
    /// on a thread of the SDK's hook server; one that panics, or misses
    /// the deadline, has its command refused.
    pub fn on_exec(mut self, hook: impl Fn(ExecCall) -> ExecAction + Send + Sync + 'static) -> Self {
        self.cfg.exec_hook = Some(std::sync::Arc::new(hook));
        self
    }

    /// Tells @hook, in this program, of each command's end (an event:
    /// nothing waits for it).
    pub fn on_exec_exit(mut self, hook: impl Fn(ExecExit) + Send + Sync + 'static) -> Self {
        self.cfg.exit_hook = Some(std::sync::Arc::new(hook));
        self
    }

    /// Tells @hook of the sandbox's starts, stops, snapshots, restores,
    /// its create and its remove.
    pub fn on_lifecycle(mut self, hook: impl Fn(LifecycleEvent) + Send + Sync + 'static) -> Self {
        self.cfg.lifecycle_hook = Some(std::sync::Arc::new(hook));
        self
    }
}

/// The spawn policy given with `allow_spawn`, `spawn_images` and
/// `spawn_limits`; libmsb enforces it, the SDK only hands it over.
#[derive(Default)]
pub(crate) struct SpawnSpec {
    /// `allow_spawn`'s N (None: not given, spawning is off).
    pub(crate) max: Option<u32>,
    pub(crate) images: Vec<String>,
    /// A peer's CPUs, its memory and the tree's total memory in MiB.
    pub(crate) limits: (u32, u64, u64),
    /// `spawn_images` or `spawn_limits` given.
    shaped: bool,
}

impl SpawnSpec {
    /// Refuses a policy libmsb would not take, before anything is made
    /// (msb run's own checks).
    fn check(&self, op: &str) -> Option<Error> {
        let why = match self.max {
            Some(n) if !(1..=64).contains(&n) => format!("allow_spawn({n}): give 1 to 64 live peers"),
            None if self.shaped => {
                "spawn_images and spawn_limits shape what allow_spawn(n) allows: give it too".to_owned()
            }
            _ if self.images.len() > 32 => {
                format!("spawn_images: {} images; at most 32 may be allowed", self.images.len())
            }
            _ if self.limits.0 > 64 => {
                format!("spawn_limits: a peer's CPUs {}: give 1 to 64 (0: the sandbox's own)", self.limits.0)
            }
            _ => return None,
        };
        Some(Error::invalid(op, why))
    }
}

/// A command that ended, as [`SandboxBuilder::on_exec_exit`] sees it.
#[derive(Debug, Clone, Default)]
pub struct ExecExit {
    /// The argv that ran (after any rewrite).
    pub argv: Vec<String>,
    /// Its exit status.
    pub exit_code: i32,
    /// The signal that ended it, or 0.
    pub signal: i32,
    /// How long it ran.
    pub duration: Duration,
    /// Its timeout killed it.
    pub timed_out: bool,
}

/// A lifecycle event, as [`SandboxBuilder::on_lifecycle`] sees it.
#[derive(Debug, Clone, Default)]
pub struct LifecycleEvent {
    /// "create", "start", "restore", "snapshot", "stop", "remove".
    pub event: String,
    /// The sandbox's name.
    pub sandbox: String,
    /// The event's other fields (docs/plugins.md), as JSON text.
    pub json: String,
}

/// What an exec hook sees: a command about to run.
#[derive(Debug, Clone, Default)]
pub struct ExecCall {
    /// Its argv.
    pub argv: Vec<String>,
    /// The exec's own `KEY=VALUE`s (not the sandbox's defaults).
    pub env: Vec<String>,
    /// Its working directory, when given.
    pub cwd: Option<String>,
    /// Its user, when given.
    pub user: Option<String>,
}

/// An exec hook's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecAction {
    /// Run it.
    Allow,
    /// Refuse it, with a reason.
    Deny(String),
    /// Run it with this argv and/or these `KEY=VALUE`s instead.
    Rewrite {
        /// The argv to run instead.
        argv: Option<Vec<String>>,
        /// The environment entries to use instead.
        env: Option<Vec<String>>,
    },
}

/// What a connect hook sees: a new connection of the guest.
#[derive(Debug, Clone)]
pub struct ConnectRequest {
    /// "tcp", "udp" or "icmp".
    pub proto: String,
    /// Its destination address.
    pub ip: String,
    /// Its destination port (0 for an ICMP echo).
    pub port: u16,
}

pub(crate) type ExecHook = dyn Fn(ExecCall) -> ExecAction + Send + Sync;
pub(crate) type ExitHook = dyn Fn(ExecExit) + Send + Sync;
pub(crate) type LifecycleHook = dyn Fn(LifecycleEvent) + Send + Sync;
pub(crate) type DnsHook = dyn Fn(DnsQuery) -> DnsAction + Send + Sync;
pub(crate) type ConnectHook = dyn Fn(ConnectRequest) -> bool + Send + Sync;
pub(crate) type HttpHook = dyn Fn(HttpRequest) -> HttpAction + Send + Sync;

/// The audit-log built-in plugin: one JSON line per lifecycle event,
/// exec, DNS query, connection, HTTP request and hooked file operation,
/// in `DIR/NAME.jsonl`.
#[derive(Debug, Clone)]
pub struct AuditLog {
    dir: String,
}

impl AuditLog {
    /// Its lines go to @dir (relative: from the current directory).
    pub fn new(dir: impl Into<String>) -> AuditLog {
        AuditLog { dir: dir.into() }
    }
}

impl Plugin for AuditLog {
    fn builtin(&self) -> Option<(String, String)> {
        Some(("audit-log".into(), format!("dir={}", self.dir)))
    }
}

/// A plugin installed from the plugin registry
/// ([`plugins::install`](crate::plugins::install), `msb plugin
/// install`), loaded by its name (`msb run --plugin NAME`): the sandbox
/// runs it as a plugin process in its files, checked against the digest
/// it was installed at now and at every start. One not installed fails
/// the create with [`Error::Invalid`] ("no installed plugin has that
/// name") before anything boots.
#[derive(Debug, Clone)]
pub struct InstalledPlugin {
    name: String,
}

impl InstalledPlugin {
    /// The installed plugin @name.
    pub fn new(name: impl Into<String>) -> InstalledPlugin {
        InstalledPlugin { name: name.into() }
    }
}

impl Plugin for InstalledPlugin {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn builtin(&self) -> Option<(String, String)> {
        Some((self.name.clone(), String::new()))
    }
}

/// The rate-limiter built-in plugin: at most N execs a second (the
/// seed's `RateLimiter::new(100)`), and optionally N new connections.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    exec: u32,
    connect: Option<u32>,
}

impl RateLimiter {
    /// At most @max_exec_per_s execs a second.
    pub fn new(max_exec_per_s: u32) -> RateLimiter {
        RateLimiter { exec: max_exec_per_s, connect: None }
    }

    /// And at most @n new connections a second.
    pub fn connections(mut self, n: u32) -> RateLimiter {
        self.connect = Some(n);
        self
    }
}

impl Plugin for RateLimiter {
    fn builtin(&self) -> Option<(String, String)> {
        let mut o = format!("exec={}", self.exec);
        if let Some(c) = self.connect {
            o.push_str(&format!(",connect={c}"));
        }
        Some(("rate-limiter".into(), o))
    }
}

// ---- network ----------------------------------------------------------------

/// A sandbox's network policy, given to [`SandboxBuilder::network`].
#[derive(Default)]
#[must_use]
pub struct NetworkBuilder {
    pub(crate) deny_all: bool,
    pub(crate) allow: Vec<String>,
    pub(crate) allow_cidr: Vec<String>,
    pub(crate) block_cidr: Vec<String>,
    pub(crate) nameserver: Option<String>,
    pub(crate) plugin: Option<String>,
    pub(crate) allow_host: Vec<String>,
    pub(crate) dns_hook: Option<std::sync::Arc<DnsHook>>,
    pub(crate) connect_hook: Option<std::sync::Arc<ConnectHook>>,
    pub(crate) http_hook: Option<std::sync::Arc<HttpHook>>,
    pub(crate) http_response_hook: Option<std::sync::Arc<crate::hooks::HttpResponseHook>>,
    pub(crate) http_response_head_hook: Option<std::sync::Arc<crate::hooks::HttpResponseHeadHook>>,
    pub(crate) refused: Vec<Error>,
}

impl NetworkBuilder {
    /// Lets the sandbox reach these names ("example.com",
    /// "*.example.com"): with any, only the addresses the sandbox's
    /// resolver returned for them are reachable.
    pub fn allow<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allow.extend(names.into_iter().map(Into::into));
        self
    }

    /// Opens a range, even a default-denied one ("10.1.0.0/16").
    pub fn allow_cidr(mut self, cidr: impl Into<String>) -> Self {
        self.allow_cidr.push(cidr.into());
        self
    }

    /// Closes a range ("169.254.0.0/16").
    pub fn block_cidr(mut self, cidr: impl Into<String>) -> Self {
        self.block_cidr.push(cidr.into());
        self
    }

    /// Lets nothing leave but what `allow` and `allow_cidr` open
    /// (air-gapped when given alone).
    pub fn deny_all(mut self) -> Self {
        self.deny_all = true;
        self
    }

    /// The `IP[:PORT]` the sandbox's resolver asks (default: the host's
    /// first nameserver).
    pub fn nameserver(mut self, addr: impl Into<String>) -> Self {
        self.nameserver = Some(addr.into());
        self
    }

    /// Loads a shared object written against `msb_net_plugin.h` into the
    /// sandbox's supervisor: C hooks on DNS, connections, HTTP requests
    /// and frames (`msb run --net-plugin`).
    pub fn plugin(mut self, path: impl Into<String>) -> Self {
        self.plugin = Some(path.into());
        self
    }

    /// Lets the guest reach a TCP port of the host's loopback through the
    /// gateway (host.msb.internal:PORT).
    pub fn allow_host(mut self, port: u16) -> Self {
        self.allow_host.push(port.to_string());
        self
    }

    /// Calls @hook, in this program, for each DNS query the policy let
    /// through: [`DnsAction::Allow`] or [`DnsAction::Deny`] (NXDOMAIN).
    /// It runs on a thread of the SDK's hook server (docs/plugins.md);
    /// one that panics, or misses the deadline, has its query refused.
    pub fn on_dns(mut self, hook: impl Fn(DnsQuery) -> DnsAction + Send + Sync + 'static) -> Self {
        self.dns_hook = Some(std::sync::Arc::new(hook));
        self
    }

    /// Calls @hook for each new connection the policy let through: true
    /// lets it go on, false refuses it (TCP reset, ICMP unreachable).
    pub fn on_connect(mut self, hook: impl Fn(ConnectRequest) -> bool + Send + Sync + 'static) -> Self {
        self.connect_hook = Some(std::sync::Arc::new(hook));
        self
    }

    /// Calls @hook for each HTTP request of the guest (HTTPS too, its TLS
    /// intercepted): [`HttpAction::Forward`] sends it on (with a changed
    /// body, that body), [`HttpAction::Block`] answers 403 with the
    /// reason.
    pub fn on_http(mut self, hook: impl Fn(HttpRequest) -> HttpAction + Send + Sync + 'static) -> Self {
        self.http_hook = Some(std::sync::Arc::new(hook));
        self
    }
}

/// A name the guest asked for, as a DNS hook sees it.
#[derive(Debug, Clone)]
pub struct DnsQuery {
    /// "api.example.com"
    pub name: String,
    /// "A", "AAAA", ...
    pub qtype: String,
}

/// A DNS hook's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsAction {
    /// Go on as the policy decided.
    Allow,
    /// Answer NXDOMAIN.
    Deny,
}

/// A guest's HTTP request, as an HTTP hook sees it.
#[derive(Debug, Clone, Default)]
pub struct HttpRequest {
    /// "GET", "POST"...
    pub method: String,
    /// The Host it is for.
    pub host: String,
    /// Its path and query.
    pub path: String,
    /// Its headers, in order.
    pub headers: Vec<(String, String)>,
    /// Its body.
    pub body: Vec<u8>,
}

/// An HTTP hook's verdict.
#[derive(Debug, Clone)]
pub enum HttpAction {
    /// Send the request on (as it is, or changed).
    Forward(HttpRequest),
    /// Refuse it, with a reason.
    Block(&'static str),
}

/// A plugin, as [`SandboxBuilder::plugin`] takes it: the built-ins
/// [`AuditLog`] and [`RateLimiter`] are served; a type of your own is not.
pub trait Plugin: Send + Sync + 'static {
    /// Its name, for messages.
    fn name(&self) -> String {
        std::any::type_name::<Self>().rsplit("::").next().unwrap_or("plugin").to_owned()
    }
    /// The built-in this is (its name and options), when it is one.
    #[doc(hidden)]
    fn builtin(&self) -> Option<(String, String)> {
        None
    }
}

// ---- volumes ------------------------------------------------------------------

/// Picks a volume's backend, in [`SandboxBuilder::volume`]'s closure.
#[derive(Default)]
#[must_use]
pub struct VolumeBuilder {
    path: String,
    backend: Option<Backend>,
    hooked: Option<std::sync::Arc<dyn DynFileSystem>>,
    readonly: bool,
    direct_io: bool,
    cache: Option<VolumeCache>,
    cache_timeout: Option<Duration>,
}

/// What the guest's kernel may keep of a volume (`-v DIR:/p:cache=`,
/// docs/filesystems.md); without one, file data in its page cache until
/// the next open and names and attributes not at all, so a change on
/// either side is seen at the next call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VolumeCache {
    /// Names and attributes for a second, file data until an open sees a
    /// changed mtime.
    Auto,
    /// Names and attributes for a day, file data across opens: for a
    /// volume only this sandbox writes.
    Always,
    /// Nothing: reads and writes bypass the page cache (as `direct_io`).
    Never,
}

impl VolumeCache {
    fn to_c(self) -> sys::msb_volume_cache {
        match self {
            VolumeCache::Auto => sys::MSB_VOLUME_CACHE_AUTO,
            VolumeCache::Always => sys::MSB_VOLUME_CACHE_ALWAYS,
            VolumeCache::Never => sys::MSB_VOLUME_CACHE_NEVER,
        }
    }
}

/// The longest a volume's names and attributes may be kept (a day, as
/// msb_volume.cache_timeout_ms allows).
const CACHE_TIMEOUT_MAX: Duration = Duration::from_secs(86400);

impl VolumeBuilder {
    /// The filesystem served at this path: a [`PassthroughFs`],
    /// [`MemFs`], [`OverlayFs`], [`PluginFs`] or [`NamedVolume`], or a
    /// [`DynFileSystem`] of your own wrapping one of them (the seeds'
    /// `AuditFs`): its [`DynFileSystem::inner`] is served natively by the
    /// sandbox's supervisor, and only the calls it names in
    /// [`DynFileSystem::overridden`] are asked of it, in this program,
    /// before the native backend runs them (docs/plugins.md, the `fs`
    /// hook). One that wraps nothing is refused with
    /// [`Error::NotSupported`] (a filesystem that serves data of its own
    /// is a C plugin against `msb_fs.h`: [`PluginFs`]).
    pub fn backend<B: DynFileSystem>(mut self, fs: B) -> Result<VolumeBuilder> {
        if let Some(b) = fs.builtin() {
            self.backend = Some(b);
            return Ok(self);
        }
        let Some(inner) = fs.inner().and_then(|i| i.builtin()) else {
            return Err(Error::not_supported(
                format!("volume {}", self.path),
                format!(
                    "the volume at {} has a filesystem written in Rust ({}) that wraps no \
                     native one: give it an inner() (a PassthroughFs, MemFs, OverlayFs, \
                     NamedVolume or PluginFs, served natively) and name the calls it \
                     overrides in overridden(); data of its own is a C plugin (msb_fs.h) \
                     with PluginFs",
                    self.path,
                    std::any::type_name::<B>()
                ),
            ));
        };
        let ops = fs.overridden();
        if ops.is_empty() {
            return Err(Error::invalid(
                format!("volume {}", self.path),
                format!(
                    "the volume at {}: {} overrides no call (overridden() is empty): use its \
                     inner filesystem itself",
                    self.path,
                    std::any::type_name::<B>()
                ),
            ));
        }
        if let Some(op) = ops.iter().find(|o| !FS_HOOK_OPS.contains(o)) {
            return Err(Error::invalid(
                format!("volume {}", self.path),
                format!(
                    "the volume at {}: overridden() names '{op}', which is not a call a \
                     filesystem in Rust may override ({})",
                    self.path,
                    FS_HOOK_OPS.join(", ")
                ),
            ));
        }
        self.backend = Some(inner);
        self.hooked = Some(std::sync::Arc::new(fs));
        Ok(self)
    }

    /// Mounts it read-only, enforced by the host.
    pub fn readonly(mut self) -> Self {
        self.readonly = true;
        self
    }

    /// Reads and writes bypass the guest's page cache (fast streaming;
    /// shared mmap of its files fails).
    pub fn direct_io(mut self) -> Self {
        self.direct_io = true;
        self
    }

    /// What the guest may keep of it (`-v DIR:/p:cache=auto|always|never`).
    pub fn cache(mut self, mode: VolumeCache) -> Self {
        self.cache = Some(mode);
        self
    }

    /// How long the guest keeps names and attributes instead of the
    /// mode's own (`timeout=`; whole milliseconds, at most a day: more is
    /// refused by `create()`).
    pub fn cache_timeout(mut self, timeout: Duration) -> Self {
        self.cache_timeout = Some(timeout);
        self
    }
}

pub(crate) struct VolumeSpec {
    pub(crate) path: String,
    pub(crate) backend: Backend,
    pub(crate) readonly: bool,
    pub(crate) direct_io: bool,
    pub(crate) cache: Option<VolumeCache>,
    pub(crate) cache_timeout: Option<Duration>,
    /// its filesystem written in Rust, asked the calls it overrides
    pub(crate) hooked: Option<std::sync::Arc<dyn DynFileSystem>>,
}

/// The calls a [`DynFileSystem`] of your own may override, by the hook
/// protocol's names (docs/plugins.md).
pub(crate) const FS_HOOK_OPS: &[&str] =
    &["lookup", "open", "create", "read", "write", "mkdir", "unlink", "rmdir", "rename"];

/// A built-in backend, as libmsb serves it.
#[doc(hidden)]
#[derive(Debug, Clone)]
pub enum Backend {
    Host { dir: String, overlay_mib: u64 },
    Memory { size_mib: u64 },
    Plugin { path: String, arg: Option<String>, dir: Option<String> },
    Named { name: String },
}

/// The guest process behind a filesystem request, as a filesystem hook
/// sees it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Context {
    /// The guest process id.
    pub pid: u32,
    /// Its user id.
    pub uid: u32,
    /// Its group id.
    pub gid: u32,
}

/// A filesystem a volume is served from: the built-in backends
/// ([`PassthroughFs`], [`MemFs`], [`OverlayFs`], [`PluginFs`],
/// [`NamedVolume`]), served natively by the sandbox's supervisor, or one
/// of your own that wraps one of them (its [`inner`](Self::inner)) and
/// overrides some calls, named in [`overridden`](Self::overridden), as
/// the seeds' `AuditFs` does. Those calls are asked of it in this program
/// before the native backend runs them (the hook protocol's `fs` hook,
/// docs/plugins.md); every other call, reads and writes too unless
/// named, never leaves the supervisor. A call returns `Ok` to let the
/// native backend run it (`self.inner.open(..)` does: the built-ins' calls
/// are that; the value is not used) or an error to refuse it: the guest
/// gets the errno of an [`Error::HostIo`] (`io::Error::from_raw_os_error`,
/// or its kind's), EACCES for any other. A call runs on a thread of the
/// SDK's hook server; one that panics, or misses the deadline (1 s), is
/// refused.
pub trait DynFileSystem: Send + Sync + 'static {
    /// Opens inode @ino with open(2) @flags; returns a file handle.
    fn open(&self, ctx: Context, ino: u64, flags: u32) -> Result<u64> {
        let _ = (ctx, ino, flags);
        Ok(0)
    }
    /// Looks @name up in directory @parent; returns its inode.
    fn lookup(&self, ctx: Context, parent: u64, name: &str) -> Result<u64> {
        let _ = (ctx, parent, name);
        Ok(0)
    }
    /// Creates and opens file @name in @parent with open(2) @flags.
    fn create(&self, ctx: Context, parent: u64, name: &str, flags: u32) -> Result<u64> {
        let _ = (ctx, parent, name, flags);
        Ok(0)
    }
    /// Reads up to @size bytes at @offset of an open file. (As a hook:
    /// the node only; @fh, @offset and @size are 0, the data stays native.)
    fn read(&self, ctx: Context, ino: u64, fh: u64, offset: u64, size: u32) -> Result<Vec<u8>> {
        let _ = (ctx, ino, fh, offset, size);
        Ok(Vec::new())
    }
    /// Writes @data at @offset of an open file; returns the bytes taken.
    /// (As a hook: the node only; @fh and @offset are 0, @data empty.)
    fn write(&self, ctx: Context, ino: u64, fh: u64, offset: u64, data: &[u8]) -> Result<u32> {
        let _ = (ctx, ino, fh, offset, data);
        Ok(0)
    }
    /// Makes directory @name in @parent; returns its inode. (As a hook:
    /// @mode is 0, not sent.)
    fn mkdir(&self, ctx: Context, parent: u64, name: &str, mode: u32) -> Result<u64> {
        let _ = (ctx, parent, name, mode);
        Ok(0)
    }
    /// Removes file @name from @parent.
    fn unlink(&self, ctx: Context, parent: u64, name: &str) -> Result<()> {
        let _ = (ctx, parent, name);
        Ok(())
    }
    /// Removes directory @name from @parent.
    fn rmdir(&self, ctx: Context, parent: u64, name: &str) -> Result<()> {
        let _ = (ctx, parent, name);
        Ok(())
    }
    /// Renames @name in @parent to @newname in @newparent.
    fn rename(&self, ctx: Context, parent: u64, name: &str, newparent: u64, newname: &str) -> Result<()> {
        let _ = (ctx, parent, name, newparent, newname);
        Ok(())
    }
    /// The native filesystem this one wraps (`Some(&self.inner)`): the
    /// volume is served from it.
    fn inner(&self) -> Option<&dyn DynFileSystem> {
        None
    }
    /// The calls this filesystem overrides, by name ("open", "lookup",
    /// "create", "read", "write", "mkdir", "unlink", "rmdir", "rename"):
    /// only those are asked of it (Rust cannot tell an override itself).
    fn overridden(&self) -> &[&'static str] {
        &[]
    }
    /// The built-in backend this is, when it is one.
    #[doc(hidden)]
    fn builtin(&self) -> Option<Backend> {
        None
    }
}

/// A host directory passed through (`msb run --volume`): the guest cannot
/// reach outside it. Relative paths are from the current directory.
#[derive(Debug, Clone)]
pub struct PassthroughFs {
    dir: String,
}

impl PassthroughFs {
    /// The host directory @dir as a volume (checked by `create()`).
    pub fn new(dir: impl Into<String>) -> PassthroughFs {
        PassthroughFs { dir: dir.into() }
    }
}

impl DynFileSystem for PassthroughFs {
    fn builtin(&self) -> Option<Backend> {
        Some(Backend::Host { dir: self.dir.clone(), overlay_mib: 0 })
    }
}

/// A filesystem in host RAM, gone with the sandbox (`--volume-mem`).
#[derive(Debug, Clone, Default)]
pub struct MemFs {
    size_mib: u64,
}

impl MemFs {
    /// 64 MiB of host RAM.
    pub fn new() -> MemFs {
        MemFs { size_mib: 0 }
    }

    /// @mib MiB of host RAM.
    pub fn with_size_mib(mib: u64) -> MemFs {
        MemFs { size_mib: mib }
    }
}

impl DynFileSystem for MemFs {
    fn builtin(&self) -> Option<Backend> {
        Some(Backend::Memory { size_mib: self.size_mib })
    }
}

/// A host directory shown to the guest with its changes kept in host RAM:
/// the directory is never written (`--volume DIR:PATH:overlay=SIZE`).
#[derive(Debug, Clone)]
pub struct OverlayFs {
    dir: String,
    size_mib: u64,
}

impl OverlayFs {
    /// @dir under a RAM upper layer of 256 MiB.
    pub fn new(dir: impl Into<String>) -> OverlayFs {
        OverlayFs { dir: dir.into(), size_mib: 256 }
    }

    /// The upper layer's size.
    pub fn size_mib(mut self, mib: u64) -> OverlayFs {
        self.size_mib = mib;
        self
    }
}

impl DynFileSystem for OverlayFs {
    fn builtin(&self) -> Option<Backend> {
        Some(Backend::Host { dir: self.dir.clone(), overlay_mib: self.size_mib })
    }
}

/// A filesystem from a shared object implementing `msb_fs.h`, loaded into
/// the supervisor (`--volume-plugin PATH.so:GUEST:ARG`).
#[derive(Debug, Clone)]
pub struct PluginFs {
    path: String,
    arg: Option<String>,
    dir: Option<String>,
}

impl PluginFs {
    /// The plugin at @path.
    pub fn new(path: impl Into<String>) -> PluginFs {
        PluginFs { path: path.into(), arg: None, dir: None }
    }

    /// Its argument.
    pub fn arg(mut self, arg: impl Into<String>) -> PluginFs {
        self.arg = Some(arg.into());
        self
    }

    /// A host directory handed to it (one it may wrap, as
    /// examples/auditfs.c does).
    pub fn dir(mut self, dir: impl Into<String>) -> PluginFs {
        self.dir = Some(dir.into());
        self
    }
}

impl DynFileSystem for PluginFs {
    fn builtin(&self) -> Option<Backend> {
        Some(Backend::Plugin { path: self.path.clone(), arg: self.arg.clone(), dir: self.dir.clone() })
    }
}

/// A named volume (`msb volume create`, `msb run -v NAME:/path`): a
/// directory the host keeps apart from any sandbox, mounted by as many as
/// like at once; made, with no size limit, when it does not exist yet.
#[derive(Debug, Clone)]
pub struct NamedVolume {
    name: String,
}

impl NamedVolume {
    /// The named volume @name.
    pub fn new(name: impl Into<String>) -> NamedVolume {
        NamedVolume { name: name.into() }
    }
}

impl DynFileSystem for NamedVolume {
    fn builtin(&self) -> Option<Backend> {
        Some(Backend::Named { name: self.name.clone() })
    }
}

// ---- secrets -------------------------------------------------------------------

/// A secret: the guest's variable holds a placeholder, the value stays on
/// the host and goes only into verified TLS to its hosts (docs/secrets.md).
#[derive(Debug, Clone)]
pub struct Secret {
    env: String,
    source: sys::msb_secret_source,
    reference: String,
    hosts: String,
    inject: Option<String>,
}

impl Secret {
    /// The value itself (kept nowhere: the sandbox cannot start again once
    /// stopped).
    pub fn value(env: impl Into<String>, value: impl Into<String>, hosts: impl Into<String>) -> Secret {
        Secret::make(env, sys::MSB_SECRET_VALUE, value, hosts)
    }

    /// The value read from this program's environment variable @var at
    /// every create and start.
    pub fn from_env(env: impl Into<String>, var: impl Into<String>, hosts: impl Into<String>) -> Secret {
        Secret::make(env, sys::MSB_SECRET_ENV, var, hosts)
    }

    /// The value read from the file @path (one trailing line break
    /// dropped) at every create and start.
    pub fn from_file(env: impl Into<String>, path: impl Into<String>, hosts: impl Into<String>) -> Secret {
        Secret::make(env, sys::MSB_SECRET_FILE, path, hosts)
    }

    fn make(
        env: impl Into<String>,
        source: sys::msb_secret_source,
        reference: impl Into<String>,
        hosts: impl Into<String>,
    ) -> Secret {
        Secret { env: env.into(), source, reference: reference.into(), hosts: hosts.into(), inject: None }
    }

    /// Where in a request the value may go besides the Authorization
    /// header: comma-separated "header:NAME", "path", "query", "body".
    pub fn inject(mut self, places: impl Into<String>) -> Secret {
        self.inject = Some(places.into());
        self
    }
}

// ---- restore --------------------------------------------------------------------

/// What a restore from a snapshot may change, given to `restore_with`.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct RestoreOptions {
    pub(crate) env: Vec<String>,
    pub(crate) cpus: u32,
    pub(crate) memory_mib: u64,
    pub(crate) memory: Option<String>,
    pub(crate) disk_only: bool,
    pub(crate) ephemeral: bool,
    pub(crate) boot_timeout: Option<Duration>,
    pub(crate) keep: bool,
}

impl RestoreOptions {
    /// An environment variable every later command gets; restored
    /// processes read it from /run/msb/env.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push(format!("{}={}", key.into(), value.into()));
        self
    }

    /// CPUs (a full restore cannot change them).
    pub fn cpus(mut self, n: u32) -> Self {
        self.cpus = n;
        self
    }

    /// Memory, as `SandboxBuilder::memory` (a full restore cannot change it).
    pub fn memory(mut self, size: impl Into<String>) -> Self {
        self.memory = Some(size.into());
        self
    }

    /// Boots the snapshot's disk as a fresh machine (`msb run
    /// --from-snapshot`) instead of resuming its memory.
    pub fn disk_only(mut self) -> Self {
        self.disk_only = true;
        self
    }

    /// Removed as soon as it stops.
    pub fn ephemeral(mut self) -> Self {
        self.ephemeral = true;
        self
    }

    /// Bounds the restore's boot.
    pub fn boot_timeout(mut self, d: Duration) -> Self {
        self.boot_timeout = Some(d);
        self
    }

    /// Dropping the handle leaves the restored sandbox running.
    pub fn keep(mut self) -> Self {
        self.keep = true;
        self
    }
}

// ---- into C -------------------------------------------------------------------

fn ms(d: Duration) -> u32 {
    d.as_millis().clamp(1, u32::MAX as u128) as u32
}

/// libmsb's memory parser, so "1G" means what it means to msb run.
pub(crate) fn parse_memory(a: &mut CArgs, text: &str) -> Result<u64> {
    let p = a.str(text)?;
    let mut mib = 0u64;
    let mut e = cerr();
    // SAFETY: p is a live C string; mib and e are ours.
    let r = unsafe { sys::msb_parse_memory(p, &mut mib, &mut e) };
    if r < 0 {
        return Err(Error::from_c("", r, &e));
    }
    Ok(mib)
}

impl SandboxConfig {
    /// The first refusal (a form not served, a bad volume), if any.
    pub(crate) fn refusal(&mut self, op: &str) -> Option<Error> {
        let mut all = std::mem::take(&mut self.refused);
        all.append(&mut self.net.refused);
        all.extend(self.spawn.check(op));
        let mut e = all.into_iter().next()?;
        if let Error::NotSupported(f) = &mut e {
            f.op = op.to_owned();
        }
        Some(e)
    }

    /// The hooks written in Rust that it was built with.
    pub(crate) fn hooks(&self) -> crate::hooks::Hooks {
        crate::hooks::Hooks {
            dns: self.net.dns_hook.clone(),
            connect: self.net.connect_hook.clone(),
            http: self.net.http_hook.clone(),
            http_response: self.net.http_response_hook.clone(),
            http_response_head: self.net.http_response_head_hook.clone(),
            fs: self.volumes.iter().filter_map(|v| v.hooked.clone().map(|h| (v.path.clone(), h))).collect(),
            exec: self.exec_hook.clone(),
            exit: self.exit_hook.clone(),
            lifecycle: self.lifecycle_hook.clone(),
        }
    }

    /// The configuration as libmsb's struct, its memory in @a and @bufs.
    pub(crate) fn fill(
        &self,
        a: &mut CArgs,
        bufs: &mut CBufs,
        name: &str,
        c: &mut sys::msb_sandbox_config,
    ) -> Result<()> {
        // SAFETY: c is ours to initialise.
        unsafe { sys::msb_sandbox_config_init(c) };
        c.name = a.str(name)?;
        c.image = a.opt(self.image.as_deref())?;
        c.cpus = self.cpus;
        c.memory_mib = match &self.memory {
            None => 0,
            Some(Memory::Mib(m)) => *m,
            Some(Memory::Text(t)) => parse_memory(a, t)?,
        };
        c.disk_mib = self.disk_mib;
        c.env = a.strv_or_null(&self.env)?;
        c.workdir = a.opt(self.workdir.as_deref())?;
        c.user = a.opt(self.user.as_deref())?;
        c.kernel = a.opt(self.kernel.as_deref())?;
        c.boot_timeout_ms = self.boot_timeout.map_or(0, ms);
        if let Some(cmd) = &self.cmd {
            c.cmd = a.strv(cmd)?;
        }
        if let Some(ep) = &self.entrypoint {
            c.entrypoint = a.strv(ep)?;
        }
        c.image_cmd = self.image_cmd as i32;
        c.ephemeral = self.ephemeral as i32;

        let n = &self.net;
        c.net.deny_all = n.deny_all as i32;
        c.net.allow = a.strv_or_null(&n.allow)?;
        c.net.allow_cidr = a.strv_or_null(&n.allow_cidr)?;
        c.net.block_cidr = a.strv_or_null(&n.block_cidr)?;
        c.net.dns_nameserver = a.opt(n.nameserver.as_deref())?;
        c.net.ports = a.strv_or_null(&self.ports)?;
        c.net.plugin = a.opt(n.plugin.as_deref())?;
        c.net.allow_host = a.strv_or_null(&n.allow_host)?;

        for v in &self.volumes {
            let mut cv = sys::msb_volume {
                kind: sys::MSB_VOLUME_HOST,
                guest_path: a.str(&v.path)?,
                source: std::ptr::null(),
                arg: std::ptr::null(),
                dir: std::ptr::null(),
                size_mib: 0,
                readonly: v.readonly as i32,
                direct_io: v.direct_io as i32,
                overlay_mib: 0,
                cache: v.cache.map_or(sys::MSB_VOLUME_CACHE_DEFAULT, VolumeCache::to_c),
                // At most a day (SandboxBuilder::volume refuses more).
                cache_timeout_ms: v.cache_timeout.map_or(0, |t| t.as_millis() as u32),
            };
            match &v.backend {
                Backend::Host { dir, overlay_mib } => {
                    cv.source = a.str(dir)?;
                    cv.overlay_mib = *overlay_mib;
                }
                Backend::Memory { size_mib } => {
                    cv.kind = sys::MSB_VOLUME_MEMORY;
                    cv.size_mib = *size_mib;
                }
                Backend::Named { name } => {
                    cv.kind = sys::MSB_VOLUME_NAMED;
                    cv.source = a.str(name)?;
                }
                Backend::Plugin { path, arg, dir } => {
                    cv.kind = sys::MSB_VOLUME_PLUGIN;
                    cv.source = a.str(path)?;
                    cv.arg = a.opt(arg.as_deref())?;
                    cv.dir = a.opt(dir.as_deref())?;
                }
            }
            bufs.volumes.push(cv);
        }
        if !bufs.volumes.is_empty() {
            c.volumes = bufs.volumes.as_ptr();
            c.nvolumes = bufs.volumes.len();
        }
        for s in &self.secrets {
            bufs.secrets.push(sys::msb_secret {
                env: a.str(&s.env)?,
                source: s.source,
                ref_: a.str(&s.reference)?,
                hosts: a.str(&s.hosts)?,
                inject: a.opt(s.inject.as_deref())?,
            });
        }
        if !bufs.secrets.is_empty() {
            c.secrets = bufs.secrets.as_ptr();
            c.nsecrets = bufs.secrets.len();
        }
        c.on_secret_violation = a.opt(self.on_secret_violation.as_deref())?;
        if !self.tls_bypass.is_empty() {
            c.tls_bypass = a.strv(&self.tls_bypass)?;
            c.ntls_bypass = self.tls_bypass.len();
        }
        let mut cas = self.tls_ca.clone();
        for path in &self.tls_ca_files {
            let p = a.str(&path.to_string_lossy())?;
            let mut pem: *mut c_char = std::ptr::null_mut();
            let mut e = cerr();
            // SAFETY: p is a live C string; pem is malloc'ed by libmsb.
            let r = unsafe { sys::msb_tls_ca_read(p, &mut pem, &mut e) };
            if r < 0 {
                return Err(Error::from_c("", r, &e));
            }
            cas.push(unsafe { crate::cstr::take_malloced(pem) });
        }
        if !cas.is_empty() {
            c.tls_upstream_ca = a.strv(&cas)?;
            c.ntls_upstream_ca = cas.len();
        }
        Ok(())
    }
}

/// Arrays of structs a configuration points into.
#[derive(Default)]
pub(crate) struct CBufs {
    volumes: Vec<sys::msb_volume>,
    secrets: Vec<sys::msb_secret>,
}

impl RestoreOptions {
    pub(crate) fn fill(&self, a: &mut CArgs, name: &str, o: &mut sys::msb_restore_opts) -> Result<()> {
        // SAFETY: o is ours to initialise.
        unsafe { sys::msb_restore_opts_init(o) };
        o.name = a.str(name)?;
        o.env = a.strv_or_null(&self.env)?;
        o.cpus = self.cpus;
        o.memory_mib = match &self.memory {
            Some(t) => parse_memory(a, t)?,
            None => self.memory_mib,
        };
        o.disk_only = self.disk_only as i32;
        o.ephemeral = self.ephemeral as i32;
        o.boot_timeout_ms = self.boot_timeout.map_or(0, ms);
        Ok(())
    }
}

// ---- sync -------------------------------------------------------------------------

/// Options of a push or a pull (docs/sync.md), given to `push_with` and
/// `pull_with`.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct SyncOptions {
    pub(crate) reference: Option<String>,
    pub(crate) name: Option<String>,
    pub(crate) insecure: bool,
    pub(crate) force: bool,
    pub(crate) trust: bool,
    pub(crate) progress: Option<Callback<SyncEvent>>,
}

impl SyncOptions {
    /// Push: where to, `REGISTRY/REPO[:TAG]` or a TAG of the default
    /// repository (default: where it was last pushed or pulled, else
    /// REMOTE/NAME).
    pub fn to(mut self, reference: impl Into<String>) -> Self {
        self.reference = Some(reference.into());
        self
    }

    /// Pull: the local sandbox's name (default: the repository's last
    /// component).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Plain http to a registry not on loopback.
    pub fn insecure(mut self) -> Self {
        self.insecure = true;
        self
    }

    /// Push: replace what another machine pushed to that tag since; pull:
    /// replace a local sandbox that changed since its last sync.
    pub fn force(mut self) -> Self {
        self.force = true;
        self
    }

    /// Pull: keep the settings that reach into this host (volumes, secret
    /// sources, a network plugin, opened ranges, published ports, extra
    /// CAs); without it they are dropped (`SyncInfo::dropped` lists them).
    pub fn trust(mut self) -> Self {
        self.trust = true;
        self
    }

    /// Called with each step of the push or pull as it happens
    /// ([`SyncEvent`]: resolving, reading and uploading the disk; or the
    /// image it needs, then downloading), one call at a time, from the
    /// threads doing the work: @f should return quickly. A panic of @f is
    /// resumed once the transfer is over (@f is not called again
    /// meanwhile).
    pub fn progress(mut self, f: impl Fn(&SyncEvent) + Send + Sync + 'static) -> Self {
        self.progress = Some(Callback::new(f));
        self
    }

    /// The C options, without the progress callback (`progress::with`
    /// sets it for the call).
    pub(crate) fn to_c(&self, a: &mut CArgs) -> Result<sys::msb_sync_opts> {
        Ok(sys::msb_sync_opts {
            ref_: a.opt(self.reference.as_deref())?,
            name: a.opt(self.name.as_deref())?,
            insecure: self.insecure as i32,
            force: self.force as i32,
            trust: self.trust as i32,
            progress: None,
            ctx: std::ptr::null_mut(),
        })
    }
}

/// Options of a stop, given to `stop_with`: `|o| o.timeout(d).progress(f)`.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct StopOptions {
    pub(crate) timeout: Option<Duration>,
    pub(crate) progress: Option<Callback<SyncEvent>>,
}

impl StopOptions {
    /// How long the guest gets to power off before it is killed (whole
    /// seconds; default [`STOP_TIMEOUT`](crate::blocking::STOP_TIMEOUT),
    /// zero kills it at once).
    pub fn timeout(mut self, grace: Duration) -> Self {
        self.timeout = Some(grace);
        self
    }

    /// For a sandbox that syncs (`set_sync`): called with each step of
    /// the push that follows the stop, as [`SyncOptions::progress`] is.
    pub fn progress(mut self, f: impl Fn(&SyncEvent) + Send + Sync + 'static) -> Self {
        self.progress = Some(Callback::new(f));
        self
    }
}

// ---- images -------------------------------------------------------------------------

/// Options of an image pull, given to `images::pull_with`.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct ImagePullOptions {
    pub(crate) insecure: bool,
    pub(crate) progress: Option<Callback<ImageEvent>>,
}

impl ImagePullOptions {
    /// Plain http to a registry not on loopback.
    pub fn insecure(mut self) -> Self {
        self.insecure = true;
        self
    }

    /// Called with each step of the pull as it happens ([`ImageEvent`]:
    /// resolving, then each layer downloading and converting), one call
    /// at a time, from the pulling threads: @f should return quickly. A
    /// panic of @f is resumed once the pull is over (@f is not called
    /// again meanwhile).
    pub fn progress(mut self, f: impl Fn(&ImageEvent) + Send + Sync + 'static) -> Self {
        self.progress = Some(Callback::new(f));
        self
    }
}

/// Options of a registry login, given to `images::login_with`.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct LoginOptions {
    pub(crate) insecure: bool,
}

impl LoginOptions {
    /// Asks a registry not on loopback over plain http, as
    /// [`ImagePullOptions::insecure`] pulls from it (without it, such a
    /// registry is asked over https; loopback ones are always http).
    pub fn insecure(mut self) -> Self {
        self.insecure = true;
        self
    }
}

/// Options of an image load, given to `images::load_with`.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct ImageLoadOptions {
    pub(crate) tag: Option<String>,
    pub(crate) progress: Option<Callback<ImageEvent>>,
}

impl ImageLoadOptions {
    /// The image's name (default: the archive's).
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tag = Some(tag.into());
        self
    }

    /// Called with each step of the load as it happens (its layers
    /// converting), as [`ImagePullOptions::progress`] is.
    pub fn progress(mut self, f: impl Fn(&ImageEvent) + Send + Sync + 'static) -> Self {
        self.progress = Some(Callback::new(f));
        self
    }
}
