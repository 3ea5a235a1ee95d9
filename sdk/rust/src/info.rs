// SPDX-License-Identifier: Apache-2.0
//! Records: sandboxes, published ports, snapshots, images, and what a
//! sandbox uses.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use microsandbox_sys as sys;

use crate::cstr::from_chars;

fn unix(s: i64) -> Option<SystemTime> {
    (s > 0).then(|| UNIX_EPOCH + Duration::from_secs(s as u64))
}

/// A sandbox's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxInfo {
    /// Its name.
    pub name: String,
    /// The image it was made from.
    pub image: String,
    /// created, starting, running, stopping, stopped, failed
    pub status: String,
    /// Virtual CPUs.
    pub cpus: u32,
    /// The guest's memory in MiB.
    pub memory_mib: u64,
    /// The supervisor's while it runs, else 0.
    pub pid: i32,
    /// When it was made.
    pub created_at: Option<SystemTime>,
    /// When it last started.
    pub started_at: Option<SystemTime>,
    /// When it last stopped.
    pub stopped_at: Option<SystemTime>,
    /// Why it failed, when it did.
    pub error: String,
    /// Its detached command (`cmd`, `image_cmd`) in its last run: running,
    /// or ended with this status.
    pub cmd_running: bool,
    /// Its detached command ended with this status.
    pub cmd_exit_code: Option<i32>,
    /// The snapshot it was restored from, or "".
    pub from_snapshot: String,
}

impl SandboxInfo {
    /// Whether a supervisor owns it (starting, running or stopping).
    pub fn running(&self) -> bool {
        matches!(self.status.as_str(), "starting" | "running" | "stopping")
    }

    pub(crate) fn from_c(c: &sys::msb_sandbox_info) -> SandboxInfo {
        SandboxInfo {
            name: from_chars(&c.name),
            image: from_chars(&c.image),
            status: from_chars(&c.status),
            cpus: c.cpus,
            memory_mib: c.memory_mib,
            pid: c.pid,
            created_at: unix(c.created_at),
            started_at: unix(c.started_at),
            stopped_at: unix(c.stopped_at),
            error: from_chars(&c.error),
            cmd_running: c.cmd_state == sys::MSB_CMD_RUNNING,
            cmd_exit_code: (c.cmd_state == sys::MSB_CMD_ENDED).then_some(c.cmd_exit_code),
            from_snapshot: from_chars(&c.from_snapshot),
        }
    }
}

/// A published port as bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMapping {
    /// The host address bound ("127.0.0.1").
    pub host_ip: String,
    /// The host port bound.
    pub host_port: u16,
    /// The guest's port.
    pub guest_port: u16,
}

impl PortMapping {
    pub(crate) fn from_c(c: &sys::msb_port) -> PortMapping {
        PortMapping { host_ip: from_chars(&c.host_ip), host_port: c.host_port, guest_port: c.guest_port }
    }
}

/// A snapshot's record (docs/snapshots.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// Its name.
    pub name: String,
    /// The sandbox it was taken of.
    pub source: String,
    /// "full" (memory, CPU and device state and the disk, restored
    /// running) or "disk" (the disk only, restored by booting it).
    pub kind: String,
    /// Why a snapshot is "disk" ("the sandbox was stopped", "the sandbox
    /// has volumes").
    pub reason: String,
    /// The image it was made from.
    pub image: String,
    /// Virtual CPUs.
    pub cpus: u32,
    /// The guest's memory in MiB.
    pub memory_mib: u64,
    /// When it was made.
    pub created_at: Option<SystemTime>,
    /// Guest RAM stored (touched pages only).
    pub ram_bytes: u64,
    /// The writable disk stored.
    pub disk_bytes: u64,
    /// Host disk it takes in all.
    pub size_bytes: u64,
    /// Sandboxes restored from it that still exist.
    pub users: u32,
}

impl SnapshotInfo {
    pub(crate) fn from_c(c: &sys::msb_snapshot_info) -> SnapshotInfo {
        SnapshotInfo {
            name: from_chars(&c.name),
            source: from_chars(&c.source),
            kind: from_chars(&c.kind),
            reason: from_chars(&c.reason),
            image: from_chars(&c.image),
            cpus: c.cpus,
            memory_mib: c.memory_mib,
            created_at: unix(c.created_at),
            ram_bytes: c.ram_bytes,
            disk_bytes: c.disk_bytes,
            size_bytes: c.size_bytes,
            users: c.users,
        }
    }
}

/// An image in the local store (docs/images.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    /// As shown: "python:3.12".
    pub reference: String,
    /// "docker.io/library/python:3.12"
    pub canonical: String,
    /// Of the manifest (or index) it resolved to.
    pub digest: String,
    /// Of its config.
    pub id: String,
    /// Compressed layers.
    pub size: u64,
    /// Its layers.
    pub layers: u32,
    /// When it was pulled.
    pub pulled_at: Option<SystemTime>,
    /// A pull: blobs downloaded (0: all were here).
    pub fetched: u32,
    /// The built-in "default" image.
    pub builtin: bool,
}

impl ImageInfo {
    pub(crate) fn from_c(c: &sys::msb_image_info) -> ImageInfo {
        ImageInfo {
            reference: from_chars(&c.reference),
            canonical: from_chars(&c.canonical),
            digest: from_chars(&c.digest),
            id: from_chars(&c.id),
            size: c.size,
            layers: c.layers,
            pulled_at: unix(c.pulled_at),
            fetched: c.fetched,
            builtin: c.builtin != 0,
        }
    }
}

/// The archive [`images::save`](crate::images::save) writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SaveFormat {
    /// A tar of an OCI image layout (`msb save`).
    #[default]
    Oci,
    /// The same with the `manifest.json` that `docker load` reads
    /// (`msb save --format docker`).
    Docker,
}

/// What [`images::prune`](crate::images::prune) deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PruneInfo {
    /// Bytes freed.
    pub freed_bytes: u64,
    /// Files deleted.
    pub files: u32,
}

/// A plugin of the plugin registry (docs/plugins.md, "The registry"):
/// as published, found by a search, or installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginInfo {
    /// Lowercase letters, digits, '.', '_', '-'.
    pub name: String,
    /// Its version: "1.0.0".
    pub version: String,
    /// "process": a command speaking the hook protocol, run in its files.
    pub kind: String,
    /// Informative: "python", "node", "go"...
    pub language: String,
    /// The hooks it asks for: ["dns", "connect"].
    pub hooks: Vec<String>,
    /// Run with `/bin/sh -c` in its files.
    pub command: String,
    /// What it does.
    pub description: String,
    /// Published as, or installed from: "HOST/NAMESPACE/NAME:VERSION".
    pub reference: String,
    /// The artifact's manifest digest ("sha256:...").
    pub digest: String,
    /// Installed: its files' directory; else empty.
    pub path: String,
    /// Bytes of its files.
    pub size: u64,
    /// How many files it has.
    pub files: u32,
    /// When it was installed (None when it is not).
    pub installed_at: Option<SystemTime>,
    /// [`plugins::list`](crate::plugins::list): its files still match
    /// their digests.
    pub verified: bool,
}

impl PluginInfo {
    pub(crate) fn from_c(c: &sys::msb_plugin_info) -> PluginInfo {
        let hooks = from_chars(&c.hooks);
        PluginInfo {
            name: from_chars(&c.name),
            version: from_chars(&c.version),
            kind: from_chars(&c.kind),
            language: from_chars(&c.language),
            hooks: hooks.split(',').filter(|h| !h.is_empty()).map(str::to_owned).collect(),
            command: from_chars(&c.command),
            description: from_chars(&c.description),
            reference: from_chars(&c.reference),
            digest: from_chars(&c.digest),
            path: from_chars(&c.path),
            size: c.size,
            files: c.files,
            installed_at: unix(c.installed_at),
            verified: c.verified != 0,
        }
    }
}

/// What a sandbox uses (`msb stats`). The host measures the VM from
/// outside (CPU time and resident memory of its process, its writable
/// disk, the bytes through its network stack); the guest reports what
/// only it knows (memory in use, its root filesystem, its processes).
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    /// Its name.
    pub name: String,
    /// As SandboxInfo::status.
    pub status: String,
    /// false: only the limits and `disk_bytes`.
    pub running: bool,
    /// The guest's own numbers are in (it answered within a second):
    /// `memory_total_bytes`, `disk_used_bytes`, `disk_total_bytes`,
    /// `processes`.
    pub guest: bool,
    /// Virtual CPUs.
    pub cpus: u32,
    /// The guest's memory limit.
    pub memory_limit_bytes: u64,
    /// Since it became ready.
    pub uptime: Duration,
    /// The VM's CPU use over the last second; 100 is one CPU busy.
    pub cpu_percent: f64,
    /// The VM's CPU time on the host.
    pub cpu_time: Duration,
    /// Host memory the VM holds now.
    pub memory_rss_bytes: u64,
    /// In use in the guest; without the guest's numbers, the host's RSS.
    pub memory_used_bytes: u64,
    /// The guest kernel's total memory.
    pub memory_total_bytes: u64,
    /// Host disk its writable disk takes (also when stopped).
    pub disk_bytes: u64,
    /// Used on the guest's root filesystem.
    pub disk_used_bytes: u64,
    /// The guest's root filesystem's size.
    pub disk_total_bytes: u64,
    /// Into (rx) and out of (tx) the guest, Ethernet frames.
    pub net_rx_bytes: u64,
    /// Bytes out of the guest.
    pub net_tx_bytes: u64,
    /// Frames into the guest.
    pub net_rx_packets: u64,
    /// Frames out of the guest.
    pub net_tx_packets: u64,
    /// Processes in the guest.
    pub processes: u64,
}

impl Stats {
    pub(crate) fn from_c(c: &sys::msb_stats) -> Stats {
        Stats {
            name: from_chars(&c.name),
            status: from_chars(&c.status),
            running: c.running != 0,
            guest: c.guest != 0,
            cpus: c.cpus,
            memory_limit_bytes: c.memory_limit_bytes,
            uptime: Duration::from_millis(c.uptime_ms),
            cpu_percent: c.cpu_percent,
            cpu_time: Duration::from_nanos(c.cpu_time_ns),
            memory_rss_bytes: c.memory_rss_bytes,
            memory_used_bytes: c.memory_used_bytes,
            memory_total_bytes: c.memory_total_bytes,
            disk_bytes: c.disk_bytes,
            disk_used_bytes: c.disk_used_bytes,
            disk_total_bytes: c.disk_total_bytes,
            net_rx_bytes: c.net_rx_bytes,
            net_tx_bytes: c.net_tx_bytes,
            net_rx_packets: c.net_rx_packets,
            net_tx_packets: c.net_tx_packets,
            processes: c.processes,
        }
    }
}

/// What a push or a pull did (docs/sync.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncInfo {
    /// The local sandbox.
    pub name: String,
    /// Where it went or came from (canonical).
    pub reference: String,
    /// The artifact's manifest.
    pub digest: String,
    /// The push it was based on, "" if none.
    pub parent: String,
    /// The disk's data (its holes not counted).
    pub disk_bytes: u64,
    /// Chunks of the disk.
    pub chunks: u32,
    /// Chunks uploaded (push) or downloaded (pull).
    pub transferred: u32,
    /// Bytes sent (push) or received (pull).
    pub bytes: u64,
    /// Pull: chunks taken from the local disk.
    pub reused: u32,
    /// Nothing had to be sent or fetched.
    pub up_to_date: bool,
    /// Pull: settings dropped (without `trust`).
    pub dropped: String,
}

impl SyncInfo {
    pub(crate) fn from_c(c: &sys::msb_sync_info) -> SyncInfo {
        SyncInfo {
            name: from_chars(&c.name),
            reference: from_chars(&c.reference),
            digest: from_chars(&c.digest),
            parent: from_chars(&c.parent),
            disk_bytes: c.disk_bytes,
            chunks: c.chunks,
            transferred: c.transferred,
            bytes: c.bytes,
            reused: c.reused,
            up_to_date: c.up_to_date != 0,
            dropped: from_chars(&c.dropped),
        }
    }
}

/// A named volume's record (`msb volume ls`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeInfo {
    /// Its name.
    pub name: String,
    /// Its size limit in MiB; 0: none but the host's disk.
    pub size_mib: u64,
    /// Host disk its files take.
    pub used_bytes: u64,
    /// When it was made.
    pub created_at: Option<SystemTime>,
    /// The project that made it, or "".
    pub project: String,
    /// Its files, on the host.
    pub path: String,
    /// Sandboxes that mount it (any status).
    pub users: u32,
    /// Of those, the running ones.
    pub running: u32,
}

impl VolumeInfo {
    pub(crate) fn from_c(c: &sys::msb_volume_info) -> VolumeInfo {
        VolumeInfo {
            name: from_chars(&c.name),
            size_mib: c.size_mib,
            used_bytes: c.used_bytes,
            created_at: unix(c.created_at),
            project: from_chars(&c.project),
            path: from_chars(&c.path),
            users: c.users,
            running: c.running,
        }
    }
}
