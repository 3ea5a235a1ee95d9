// SPDX-License-Identifier: Apache-2.0
//! Raw declarations of libmsb, the C library of microsandbox
//! (`include/msb.h`), written by hand to match it field for field. The
//! `microsandbox` crate is the safe API over these; use it instead.
//!
//! Every fallible call returns 0 or a negative `MSB_E_*` code (or a
//! negative errno value) and fills its `msb_error` with a message.
//! `tests/abi.rs` in the `microsandbox` crate checks every struct's size
//! and every field's offset against the header with a C compiler.

#![allow(non_camel_case_types)]
#![no_std]

use core::ffi::{c_char, c_double, c_int, c_uint, c_void};

pub const MSB_VERSION: &str = "0.1.0";

#[repr(C)]
#[derive(Clone, Copy)]
pub struct msb_error {
    pub code: c_int,
    pub message: [c_char; 1024],
}

// Error codes (msb.h): errno values keep errno's meaning.
pub const MSB_E_NOT_FOUND: c_int = -2; // -ENOENT
pub const MSB_E_EXISTS: c_int = -17; // -EEXIST
pub const MSB_E_INVALID: c_int = -22; // -EINVAL
pub const MSB_E_NOT_RUNNING: c_int = -107; // -ENOTCONN
pub const MSB_E_ALREADY: c_int = -114; // -EALREADY
pub const MSB_E_BUSY: c_int = -16; // -EBUSY
pub const MSB_E_TIMEOUT: c_int = -110; // -ETIMEDOUT
pub const MSB_E_STOPPED: c_int = -32; // -EPIPE
pub const MSB_E_PERMISSION: c_int = -13; // -EACCES
pub const MSB_E_PROTOCOL: c_int = -71; // -EPROTO
pub const MSB_E_PULL: c_int = -1001;
pub const MSB_E_IMAGE_NOT_FOUND: c_int = -1002;
pub const MSB_E_BOOT: c_int = -1003;
pub const MSB_E_POLICY: c_int = -1004;
pub const MSB_E_EXEC: c_int = -1005;
pub const MSB_E_DAMAGED: c_int = -1006;
pub const MSB_E_KIND: c_int = -1007;
pub const MSB_E_CONFLICT: c_int = -1008;

/// A NULL-terminated vector of C strings, or NULL.
pub type msb_strv = *const *const c_char;

#[repr(C)]
#[derive(Clone, Copy)]
pub struct msb_net_config {
    pub deny_all: c_int,
    pub allow: msb_strv,
    pub allow_cidr: msb_strv,
    pub block_cidr: msb_strv,
    pub dns_nameserver: *const c_char,
    pub ports: msb_strv,
    pub plugin: *const c_char,
    pub allow_host: msb_strv,
}

pub type msb_volume_kind = c_uint;
pub const MSB_VOLUME_HOST: msb_volume_kind = 0;
pub const MSB_VOLUME_MEMORY: msb_volume_kind = 1;
pub const MSB_VOLUME_PLUGIN: msb_volume_kind = 2;
pub const MSB_VOLUME_NAMED: msb_volume_kind = 3;

pub type msb_volume_cache = c_uint;
pub const MSB_VOLUME_CACHE_DEFAULT: msb_volume_cache = 0;
pub const MSB_VOLUME_CACHE_NEVER: msb_volume_cache = 1;
pub const MSB_VOLUME_CACHE_AUTO: msb_volume_cache = 2;
pub const MSB_VOLUME_CACHE_ALWAYS: msb_volume_cache = 3;

#[repr(C)]
#[derive(Clone, Copy)]
pub struct msb_volume {
    pub kind: msb_volume_kind,
    pub guest_path: *const c_char,
    pub source: *const c_char,
    pub arg: *const c_char,
    pub dir: *const c_char,
    pub size_mib: u64,
    pub readonly: c_int,
    pub direct_io: c_int,
    pub overlay_mib: u64,
    pub cache: msb_volume_cache,
    pub cache_timeout_ms: u32,
}

pub type msb_secret_source = c_uint;
pub const MSB_SECRET_ENV: msb_secret_source = 0;
pub const MSB_SECRET_FILE: msb_secret_source = 1;
pub const MSB_SECRET_VALUE: msb_secret_source = 2;

#[repr(C)]
#[derive(Clone, Copy)]
pub struct msb_secret {
    pub env: *const c_char,
    pub source: msb_secret_source,
    pub ref_: *const c_char,
    pub hosts: *const c_char,
    pub inject: *const c_char,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct msb_sandbox_config {
    pub name: *const c_char,
    pub image: *const c_char,
    pub cpus: c_uint,
    pub memory_mib: u64,
    pub disk_mib: u64,
    pub env: msb_strv,
    pub workdir: *const c_char,
    pub boot_timeout_ms: c_uint,
    pub cmd: msb_strv,
    pub net: msb_net_config,
    pub ephemeral: c_int,
    pub kernel: *const c_char,
    pub user: *const c_char,
    pub entrypoint: msb_strv,
    pub image_cmd: c_int,
    pub volumes: *const msb_volume,
    pub nvolumes: usize,
    pub secrets: *const msb_secret,
    pub nsecrets: usize,
    pub on_secret_violation: *const c_char,
    pub tls_bypass: msb_strv,
    pub ntls_bypass: usize,
    pub tls_upstream_ca: msb_strv,
    pub ntls_upstream_ca: usize,
}

/// A sandbox handle (opaque).
#[repr(C)]
pub struct msb_sandbox {
    _private: [u8; 0],
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct msb_sandbox_info {
    pub name: [c_char; 64],
    pub image: [c_char; 256],
    pub status: [c_char; 16],
    pub cpus: c_uint,
    pub memory_mib: u64,
    pub pid: c_int,
    pub created_at: i64,
    pub started_at: i64,
    pub stopped_at: i64,
    pub error: [c_char; 512],
    pub cmd_state: c_int,
    pub cmd_exit_code: c_int,
    pub from_snapshot: [c_char; 64],
}

pub const MSB_CMD_NONE: c_int = 0;
pub const MSB_CMD_RUNNING: c_int = 1;
pub const MSB_CMD_ENDED: c_int = 2;

#[repr(C)]
#[derive(Clone, Copy)]
pub struct msb_port {
    pub host_ip: [c_char; 64],
    pub host_port: u16,
    pub guest_port: u16,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct msb_snapshot_info {
    pub name: [c_char; 64],
    pub source: [c_char; 64],
    pub kind: [c_char; 8],
    pub reason: [c_char; 192],
    pub image: [c_char; 256],
    pub cpus: c_uint,
    pub memory_mib: u64,
    pub created_at: i64,
    pub ram_bytes: u64,
    pub disk_bytes: u64,
    pub size_bytes: u64,
    pub users: c_uint,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct msb_restore_opts {
    pub name: *const c_char,
    pub env: msb_strv,
    pub cpus: c_uint,
    pub memory_mib: u64,
    pub disk_only: c_int,
    pub ephemeral: c_int,
    pub boot_timeout_ms: c_uint,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct msb_stats {
    pub name: [c_char; 64],
    pub status: [c_char; 16],
    pub running: c_int,
    pub guest: c_int,
    pub cpus: c_uint,
    pub memory_limit_bytes: u64,
    pub uptime_ms: u64,
    pub cpu_percent: c_double,
    pub cpu_time_ns: u64,
    pub memory_rss_bytes: u64,
    pub memory_used_bytes: u64,
    pub memory_total_bytes: u64,
    pub disk_bytes: u64,
    pub disk_used_bytes: u64,
    pub disk_total_bytes: u64,
    pub net_rx_bytes: u64,
    pub net_tx_bytes: u64,
    pub net_rx_packets: u64,
    pub net_tx_packets: u64,
    pub processes: u64,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct msb_exec_opts {
    pub env: msb_strv,
    pub workdir: *const c_char,
    pub user: *const c_char,
    pub tty: c_int,
    pub rows: c_uint,
    pub cols: c_uint,
    pub stdin: c_int,
    pub main: c_int,
    pub timeout_ms: c_uint,
}

/// A reader of a sandbox's events (opaque).
#[repr(C)]
pub struct msb_events {
    _private: [u8; 0],
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct msb_event {
    pub seq: u64,
    pub time: f64,
    pub source: *const c_char,
    pub topic: *const c_char,
    pub data: *const c_char,
    pub json: *const c_char,
    pub dropped: u64,
}

/// A running command (opaque).
#[repr(C)]
pub struct msb_exec {
    _private: [u8; 0],
}

pub type msb_exec_event_type = c_uint;
pub const MSB_EXEC_STARTED: msb_exec_event_type = 1;
pub const MSB_EXEC_STDOUT: msb_exec_event_type = 2;
pub const MSB_EXEC_STDERR: msb_exec_event_type = 3;
pub const MSB_EXEC_EXIT: msb_exec_event_type = 4;
pub const MSB_EXEC_PAUSED: msb_exec_event_type = 5;
pub const MSB_EXEC_RESUMED: msb_exec_event_type = 6;

#[repr(C)]
#[derive(Clone, Copy)]
pub struct msb_exec_event {
    pub type_: msb_exec_event_type,
    pub data: *const u8,
    pub len: usize,
    pub pid: c_int,
    pub exit_code: c_int,
    pub signal: c_int,
    pub timed_out: c_int,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct msb_output {
    pub out: *mut c_char,
    pub err: *mut c_char,
    pub out_len: usize,
    pub err_len: usize,
    pub exit_code: c_int,
    pub signal: c_int,
    pub timed_out: c_int,
}

pub type msb_file_type = c_uint;
pub const MSB_FILE_REGULAR: msb_file_type = 1;
pub const MSB_FILE_DIR: msb_file_type = 2;
pub const MSB_FILE_SYMLINK: msb_file_type = 3;
pub const MSB_FILE_FIFO: msb_file_type = 4;
pub const MSB_FILE_SOCKET: msb_file_type = 5;
pub const MSB_FILE_CHAR: msb_file_type = 6;
pub const MSB_FILE_BLOCK: msb_file_type = 7;
pub const MSB_FILE_OTHER: msb_file_type = 8;

#[repr(C)]
#[derive(Clone, Copy)]
pub struct msb_file_info {
    pub name: [c_char; 4096],
    pub type_: msb_file_type,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub nlink: u32,
    pub size: u64,
    pub mtime: i64,
    pub mtime_nsec: u32,
    pub link: [c_char; 4096],
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct msb_file_opts {
    pub user: *const c_char,
    pub mode: c_uint,
    pub parents: c_int,
    pub recursive: c_int,
    pub exclusive: c_int,
    pub append: c_int,
    pub nofollow: c_int,
}

/// A streaming file operation (opaque).
#[repr(C)]
pub struct msb_file {
    _private: [u8; 0],
}

pub type msb_file_op = c_uint;
pub const MSB_FILE_READ: msb_file_op = 1;
pub const MSB_FILE_WRITE: msb_file_op = 2;
pub const MSB_FILE_LIST: msb_file_op = 3;

pub type msb_file_event_type = c_uint;
pub const MSB_FILE_DATA: msb_file_event_type = 1;
pub const MSB_FILE_ENTRY: msb_file_event_type = 2;
pub const MSB_FILE_DONE: msb_file_event_type = 3;

#[repr(C)]
#[derive(Clone, Copy)]
pub struct msb_file_event {
    pub type_: msb_file_event_type,
    pub data: *const u8,
    pub len: usize,
    pub entry: *const msb_file_info,
    pub size: u64,
}

pub type msb_copy_progress = Option<unsafe extern "C" fn(*mut c_void, *const c_char, u64, u64)>;

#[repr(C)]
#[derive(Clone, Copy)]
pub struct msb_copy_opts {
    pub user: *const c_char,
    pub progress: msb_copy_progress,
    pub ctx: *mut c_void,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct msb_pull_progress {
    pub phase: *const c_char,
    pub digest: *const c_char,
    pub done: u64,
    pub total: u64,
    pub index: c_uint,
    pub count: c_uint,
}

pub type msb_pull_progress_fn = Option<unsafe extern "C" fn(*mut c_void, *const msb_pull_progress)>;

#[repr(C)]
#[derive(Clone, Copy)]
pub struct msb_pull_opts {
    pub insecure: c_int,
    pub progress: msb_pull_progress_fn,
    pub ctx: *mut c_void,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct msb_login_options {
    pub insecure: c_int,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct msb_image_info {
    pub reference: [c_char; 600],
    pub canonical: [c_char; 600],
    pub digest: [c_char; 80],
    pub id: [c_char; 80],
    pub size: u64,
    pub layers: c_uint,
    pub pulled_at: i64,
    pub fetched: c_uint,
    pub builtin: c_int,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct msb_load_opts {
    pub tag: *const c_char,
    pub progress: msb_pull_progress_fn,
    pub ctx: *mut c_void,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct msb_volume_info {
    pub name: [c_char; 64],
    pub size_mib: u64,
    pub used_bytes: u64,
    pub created_at: i64,
    pub project: [c_char; 64],
    pub path: [c_char; 1024],
    pub users: c_uint,
    pub running: c_uint,
}

/// A plugin of the plugin registry: published, found or installed
/// (docs/plugins.md).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct msb_plugin_info {
    pub name: [c_char; 64],
    pub version: [c_char; 64],
    pub kind: [c_char; 16],
    pub language: [c_char; 32],
    pub hooks: [c_char; 256],
    pub command: [c_char; 1024],
    pub description: [c_char; 256],
    pub reference: [c_char; 700],
    pub digest: [c_char; 80],
    pub path: [c_char; 1024],
    pub size: u64,
    pub files: c_uint,
    pub installed_at: i64,
    pub verified: c_int,
}

/// A Sandboxfile's project (opaque).
#[repr(C)]
pub struct msb_project {
    _private: [u8; 0],
}

/// A sandbox's chain of plugins (opaque; docs/plugins.md).
#[repr(C)]
pub struct msb_plugins {
    _private: [u8; 0],
}

/// What a sandbox's programs may spawn beside it (opaque; docs/spawn.md).
#[repr(C)]
pub struct msb_spawn_policy {
    _private: [u8; 0],
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct msb_sync_progress {
    pub phase: *const c_char,
    pub done: u64,
    pub total: u64,
    pub chunks_done: c_uint,
    pub chunks_total: c_uint,
    pub image: *const msb_pull_progress,
}

pub type msb_sync_progress_fn = Option<unsafe extern "C" fn(*mut c_void, *const msb_sync_progress)>;

#[repr(C)]
#[derive(Clone, Copy)]
pub struct msb_sync_opts {
    pub ref_: *const c_char,
    pub name: *const c_char,
    pub insecure: c_int,
    pub force: c_int,
    pub trust: c_int,
    pub progress: msb_sync_progress_fn,
    pub ctx: *mut c_void,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct msb_sync_info {
    pub name: [c_char; 64],
    pub reference: [c_char; 600],
    pub digest: [c_char; 80],
    pub parent: [c_char; 80],
    pub disk_bytes: u64,
    pub chunks: c_uint,
    pub transferred: c_uint,
    pub bytes: u64,
    pub reused: c_uint,
    pub up_to_date: c_int,
    pub dropped: [c_char; 256],
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct msb_project_event {
    pub sandbox: *const c_char,
    pub name: *const c_char,
    pub what: *const c_char,
    pub ms: u64,
    pub detail: *const c_char,
}

pub type msb_project_progress_fn = Option<unsafe extern "C" fn(*mut c_void, *const msb_project_event)>;

#[repr(C)]
#[derive(Clone, Copy)]
pub struct msb_project_opts {
    pub only: msb_strv,
    pub stop_timeout_s: c_uint,
    pub volumes: c_int,
    pub progress: msb_project_progress_fn,
    pub ctx: *mut c_void,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct msb_project_entry {
    pub key: [c_char; 64],
    pub name: [c_char; 64],
    pub status: [c_char; 16],
    pub state: [c_char; 16],
    pub image: [c_char; 256],
}

pub const MSB_SAVE_OCI: c_int = 0;
pub const MSB_SAVE_DOCKER: c_int = 1;

extern "C" {
    pub fn msb_abi_sizeof(type_: *const c_char) -> usize;
    pub fn msb_error_name(code: c_int) -> *const c_char;
    pub fn msb_name_valid(name: *const c_char, err: *mut msb_error) -> c_int;
    pub fn msb_parse_memory(s: *const c_char, mib: *mut u64, err: *mut msb_error) -> c_int;

    pub fn msb_volume_parse(kind: msb_volume_kind, spec: *mut c_char, v: *mut msb_volume, err: *mut msb_error)
        -> c_int;
    pub fn msb_secret_parse(spec: *mut c_char, s: *mut msb_secret, err: *mut msb_error) -> c_int;
    pub fn msb_tls_ca_read(path: *const c_char, pem: *mut *mut c_char, err: *mut msb_error) -> c_int;

    pub fn msb_sandbox_config_init(c: *mut msb_sandbox_config);
    pub fn msb_sandbox_create(c: *const msb_sandbox_config, out: *mut *mut msb_sandbox, err: *mut msb_error) -> c_int;
    pub fn msb_sandbox_start(name: *const c_char, out: *mut *mut msb_sandbox, err: *mut msb_error) -> c_int;
    pub fn msb_sandbox_open(name: *const c_char, out: *mut *mut msb_sandbox, err: *mut msb_error) -> c_int;
    pub fn msb_sandbox_stop(name: *const c_char, timeout_s: c_uint, elapsed_ms: *mut u64, err: *mut msb_error)
        -> c_int;
    pub fn msb_sandbox_stop_sync(
        name: *const c_char,
        timeout_s: c_uint,
        o: *const msb_sync_opts,
        pushed: *mut msb_sync_info,
        elapsed_ms: *mut u64,
        err: *mut msb_error,
    ) -> c_int;
    pub fn msb_sandbox_remove(name: *const c_char, force: c_int, err: *mut msb_error) -> c_int;
    pub fn msb_sandbox_name(sb: *const msb_sandbox) -> *const c_char;
    pub fn msb_sandbox_boot_ms(sb: *const msb_sandbox) -> u64;
    pub fn msb_sandbox_close(sb: *mut msb_sandbox);

    pub fn msb_status_is_live(status: *const c_char) -> c_int;
    pub fn msb_list(out: *mut *mut msb_sandbox_info, n: *mut usize, err: *mut msb_error) -> c_int;
    pub fn msb_sandbox_info_get(name: *const c_char, out: *mut msb_sandbox_info, err: *mut msb_error) -> c_int;
    pub fn msb_sandbox_ports(
        name: *const c_char,
        ports: *mut *mut msb_port,
        n: *mut usize,
        err: *mut msb_error,
    ) -> c_int;
    pub fn msb_sandbox_wait(name: *const c_char, timeout_ms: c_uint, status: *mut c_int, err: *mut msb_error) -> c_int;
    pub fn msb_inspect_json(name: *const c_char, json: *mut *mut c_char, err: *mut msb_error) -> c_int;
    pub fn msb_sandbox_logs_path(name: *const c_char, buf: *mut c_char, n: usize, err: *mut msb_error) -> c_int;

    pub fn msb_snapshot_create(
        sandbox: *const c_char,
        name: *const c_char,
        info: *mut msb_snapshot_info,
        err: *mut msb_error,
    ) -> c_int;
    pub fn msb_restore_opts_init(o: *mut msb_restore_opts);
    pub fn msb_snapshot_restore(
        snapshot: *const c_char,
        o: *const msb_restore_opts,
        out: *mut *mut msb_sandbox,
        err: *mut msb_error,
    ) -> c_int;
    pub fn msb_snapshot_list(out: *mut *mut msb_snapshot_info, n: *mut usize, err: *mut msb_error) -> c_int;
    pub fn msb_snapshot_info_get(name: *const c_char, out: *mut msb_snapshot_info, err: *mut msb_error) -> c_int;
    pub fn msb_snapshot_inspect_json(name: *const c_char, json: *mut *mut c_char, err: *mut msb_error) -> c_int;
    pub fn msb_snapshot_rename(name: *const c_char, new_name: *const c_char, err: *mut msb_error) -> c_int;
    pub fn msb_snapshot_remove(name: *const c_char, force: c_int, err: *mut msb_error) -> c_int;

    pub fn msb_sandbox_stats(name: *const c_char, out: *mut msb_stats, err: *mut msb_error) -> c_int;
    pub fn msb_stats_list(all: c_int, out: *mut *mut msb_stats, n: *mut usize, err: *mut msb_error) -> c_int;

    pub fn msb_exec_start(
        sb: *mut msb_sandbox,
        argv: msb_strv,
        o: *const msb_exec_opts,
        out: *mut *mut msb_exec,
        err: *mut msb_error,
    ) -> c_int;
    pub fn msb_exec_fd(e: *const msb_exec) -> c_int;
    pub fn msb_exec_next(e: *mut msb_exec, ev: *mut msb_exec_event, timeout_ms: c_int, err: *mut msb_error) -> c_int;
    pub fn msb_exec_write(e: *mut msb_exec, buf: *const c_void, n: usize, err: *mut msb_error) -> c_int;
    pub fn msb_exec_close_stdin(e: *mut msb_exec, err: *mut msb_error) -> c_int;
    pub fn msb_exec_signal(e: *mut msb_exec, sig: c_int, err: *mut msb_error) -> c_int;
    pub fn msb_exec_resize(e: *mut msb_exec, rows: c_uint, cols: c_uint, err: *mut msb_error) -> c_int;
    pub fn msb_exec_free(e: *mut msb_exec);
    pub fn msb_exec_capture(
        sb: *mut msb_sandbox,
        argv: msb_strv,
        o: *const msb_exec_opts,
        out: *mut msb_output,
        err: *mut msb_error,
    ) -> c_int;
    pub fn msb_output_free(o: *mut msb_output);
    pub fn msb_exec_detach(
        sb: *mut msb_sandbox,
        argv: msb_strv,
        o: *const msb_exec_opts,
        pid: *mut c_int,
        err: *mut msb_error,
    ) -> c_int;
    pub fn msb_sandbox_command(
        name: *const c_char,
        cmd: msb_strv,
        argv: *mut *mut *mut c_char,
        err: *mut msb_error,
    ) -> c_int;

    pub fn msb_file_open(
        sb: *mut msb_sandbox,
        op: msb_file_op,
        path: *const c_char,
        o: *const msb_file_opts,
        out: *mut *mut msb_file,
        err: *mut msb_error,
    ) -> c_int;
    pub fn msb_file_fd(f: *const msb_file) -> c_int;
    pub fn msb_file_next(f: *mut msb_file, ev: *mut msb_file_event, timeout_ms: c_int, err: *mut msb_error) -> c_int;
    pub fn msb_file_write(f: *mut msb_file, buf: *const c_void, n: usize, err: *mut msb_error) -> c_int;
    pub fn msb_file_close_write(f: *mut msb_file, err: *mut msb_error) -> c_int;
    pub fn msb_file_free(f: *mut msb_file);
    pub fn msb_file_read_all(
        sb: *mut msb_sandbox,
        path: *const c_char,
        o: *const msb_file_opts,
        data: *mut *mut c_void,
        len: *mut usize,
        err: *mut msb_error,
    ) -> c_int;
    pub fn msb_file_write_all(
        sb: *mut msb_sandbox,
        path: *const c_char,
        data: *const c_void,
        len: usize,
        o: *const msb_file_opts,
        err: *mut msb_error,
    ) -> c_int;
    pub fn msb_file_read_fd(
        sb: *mut msb_sandbox,
        path: *const c_char,
        fd: c_int,
        o: *const msb_file_opts,
        done: *mut u64,
        err: *mut msb_error,
    ) -> c_int;
    pub fn msb_file_write_fd(
        sb: *mut msb_sandbox,
        path: *const c_char,
        fd: c_int,
        o: *const msb_file_opts,
        done: *mut u64,
        err: *mut msb_error,
    ) -> c_int;
    pub fn msb_file_stat(
        sb: *mut msb_sandbox,
        path: *const c_char,
        o: *const msb_file_opts,
        out: *mut msb_file_info,
        err: *mut msb_error,
    ) -> c_int;
    pub fn msb_file_exists(
        sb: *mut msb_sandbox,
        path: *const c_char,
        o: *const msb_file_opts,
        err: *mut msb_error,
    ) -> c_int;
    pub fn msb_file_list(
        sb: *mut msb_sandbox,
        path: *const c_char,
        o: *const msb_file_opts,
        entries: *mut *mut msb_file_info,
        n: *mut usize,
        err: *mut msb_error,
    ) -> c_int;
    pub fn msb_file_mkdir(
        sb: *mut msb_sandbox,
        path: *const c_char,
        o: *const msb_file_opts,
        err: *mut msb_error,
    ) -> c_int;
    pub fn msb_file_remove(
        sb: *mut msb_sandbox,
        path: *const c_char,
        o: *const msb_file_opts,
        err: *mut msb_error,
    ) -> c_int;
    pub fn msb_file_rename(
        sb: *mut msb_sandbox,
        from: *const c_char,
        to: *const c_char,
        o: *const msb_file_opts,
        err: *mut msb_error,
    ) -> c_int;
    pub fn msb_file_symlink(
        sb: *mut msb_sandbox,
        target: *const c_char,
        path: *const c_char,
        o: *const msb_file_opts,
        err: *mut msb_error,
    ) -> c_int;
    pub fn msb_copy_in(
        sb: *mut msb_sandbox,
        host_path: *const c_char,
        guest_path: *const c_char,
        o: *const msb_copy_opts,
        err: *mut msb_error,
    ) -> c_int;
    pub fn msb_copy_out(
        sb: *mut msb_sandbox,
        guest_path: *const c_char,
        host_path: *const c_char,
        o: *const msb_copy_opts,
        err: *mut msb_error,
    ) -> c_int;

    pub fn msb_image_pull(
        ref_: *const c_char,
        o: *const msb_pull_opts,
        out: *mut msb_image_info,
        err: *mut msb_error,
    ) -> c_int;
    pub fn msb_image_load(
        path: *const c_char,
        o: *const msb_load_opts,
        out: *mut msb_image_info,
        err: *mut msb_error,
    ) -> c_int;
    pub fn msb_image_save(ref_: *const c_char, path: *const c_char, format: c_int, err: *mut msb_error) -> c_int;
    pub fn msb_image_list(out: *mut *mut msb_image_info, n: *mut usize, err: *mut msb_error) -> c_int;
    pub fn msb_image_similar(ref_: *const c_char, buf: *mut c_char, n: usize) -> c_int;
    pub fn msb_image_remove(ref_: *const c_char, err: *mut msb_error) -> c_int;
    pub fn msb_image_inspect_json(ref_: *const c_char, json: *mut *mut c_char, err: *mut msb_error) -> c_int;
    pub fn msb_image_prune(freed_bytes: *mut u64, files: *mut c_uint, err: *mut msb_error) -> c_int;
    pub fn msb_registry_login(
        registry: *const c_char,
        user: *const c_char,
        password: *const c_char,
        err: *mut msb_error,
    ) -> c_int;
    pub fn msb_registry_login_with(
        registry: *const c_char,
        user: *const c_char,
        password: *const c_char,
        opts: *const msb_login_options,
        err: *mut msb_error,
    ) -> c_int;
    pub fn msb_registry_logout(registry: *const c_char, err: *mut msb_error) -> c_int;

    pub fn msb_volume_create(
        name: *const c_char,
        size_mib: u64,
        info: *mut msb_volume_info,
        err: *mut msb_error,
    ) -> c_int;
    pub fn msb_volume_list(out: *mut *mut msb_volume_info, n: *mut usize, err: *mut msb_error) -> c_int;
    pub fn msb_volume_info_get(name: *const c_char, out: *mut msb_volume_info, err: *mut msb_error) -> c_int;
    pub fn msb_volume_inspect_json(name: *const c_char, json: *mut *mut c_char, err: *mut msb_error) -> c_int;
    pub fn msb_volume_remove(name: *const c_char, force: c_int, err: *mut msb_error) -> c_int;

    pub fn msb_project_find(start: *const c_char, buf: *mut c_char, n: usize, err: *mut msb_error) -> c_int;
    pub fn msb_project_load(path: *const c_char, out: *mut *mut msb_project, err: *mut msb_error) -> c_int;
    pub fn msb_project_parse(
        text: *const c_char,
        len: usize,
        path: *const c_char,
        out: *mut *mut msb_project,
        err: *mut msb_error,
    ) -> c_int;
    pub fn msb_project_free(p: *mut msb_project);
    pub fn msb_project_name(p: *const msb_project) -> *const c_char;
    pub fn msb_project_file(p: *const msb_project) -> *const c_char;
    pub fn msb_project_count(p: *const msb_project) -> usize;
    pub fn msb_project_sandbox(p: *const msb_project, i: usize, name: *mut *const c_char) -> *const c_char;
    pub fn msb_project_config_json(p: *const msb_project, json: *mut *mut c_char, err: *mut msb_error) -> c_int;
    pub fn msb_project_script(
        p: *const msb_project,
        sandbox: *const c_char,
        script: *const c_char,
        argv: *mut *mut *mut c_char,
        err: *mut msb_error,
    ) -> c_int;

    pub fn msb_remote_get(remote: *mut c_char, n: usize, insecure: *mut c_int, err: *mut msb_error) -> c_int;
    pub fn msb_remote_set(remote: *const c_char, insecure: c_int, err: *mut msb_error) -> c_int;
    pub fn msb_sandbox_push(
        name: *const c_char,
        o: *const msb_sync_opts,
        out: *mut msb_sync_info,
        err: *mut msb_error,
    ) -> c_int;
    pub fn msb_sandbox_pull(
        ref_: *const c_char,
        o: *const msb_sync_opts,
        out: *mut msb_sync_info,
        err: *mut msb_error,
    ) -> c_int;
    pub fn msb_snapshot_push(
        snap: *const c_char,
        o: *const msb_sync_opts,
        out: *mut msb_sync_info,
        err: *mut msb_error,
    ) -> c_int;
    pub fn msb_snapshot_pull(
        ref_: *const c_char,
        o: *const msb_sync_opts,
        out: *mut msb_sync_info,
        err: *mut msb_error,
    ) -> c_int;
    pub fn msb_project_opts_init(o: *mut msb_project_opts);
    pub fn msb_project_up(p: *const msb_project, o: *const msb_project_opts, err: *mut msb_error) -> c_int;
    pub fn msb_project_down(p: *const msb_project, o: *const msb_project_opts, err: *mut msb_error) -> c_int;
    pub fn msb_project_stop(p: *const msb_project, o: *const msb_project_opts, err: *mut msb_error) -> c_int;
    pub fn msb_project_restart(p: *const msb_project, o: *const msb_project_opts, err: *mut msb_error) -> c_int;
    pub fn msb_project_ps(
        p: *const msb_project,
        out: *mut *mut msb_project_entry,
        n: *mut usize,
        err: *mut msb_error,
    ) -> c_int;
    pub fn msb_sandbox_set_sync(name: *const c_char, on: c_int, err: *mut msb_error) -> c_int;

    pub fn msb_plugin_publish(
        dir: *const c_char,
        registry: *const c_char,
        out: *mut msb_plugin_info,
        err: *mut msb_error,
    ) -> c_int;
    pub fn msb_plugin_install(
        what: *const c_char,
        registry: *const c_char,
        out: *mut msb_plugin_info,
        err: *mut msb_error,
    ) -> c_int;
    pub fn msb_plugin_search(
        registry: *const c_char,
        query: *const c_char,
        out: *mut *mut msb_plugin_info,
        n: *mut usize,
        err: *mut msb_error,
    ) -> c_int;
    pub fn msb_plugin_list(out: *mut *mut msb_plugin_info, n: *mut usize, err: *mut msb_error) -> c_int;
    pub fn msb_plugin_inspect(name: *const c_char, out: *mut msb_plugin_info, err: *mut msb_error) -> c_int;
    pub fn msb_plugin_remove(name: *const c_char, err: *mut msb_error) -> c_int;
    pub fn msb_plugins_new() -> *mut msb_plugins;
    pub fn msb_plugins_free(p: *mut msb_plugins);
    pub fn msb_plugins_add(
        p: *mut msb_plugins,
        name: *const c_char,
        options: *const c_char,
        err: *mut msb_error,
    ) -> c_int;
    pub fn msb_plugins_add_process(p: *mut msb_plugins, cmd: *const c_char, err: *mut msb_error) -> c_int;
    pub fn msb_plugins_add_socket(p: *mut msb_plugins, path: *const c_char, err: *mut msb_error) -> c_int;
    pub fn msb_plugins_set_timeout(p: *mut msb_plugins, ms: c_uint);
    pub fn msb_plugins_set_restarts(p: *mut msb_plugins, n: c_uint);
    pub fn msb_sandbox_create_with_plugins(
        c: *const msb_sandbox_config,
        p: *const msb_plugins,
        out: *mut *mut msb_sandbox,
        err: *mut msb_error,
    ) -> c_int;
    pub fn msb_events_open(
        name: *const c_char,
        topic: *const c_char,
        since: i64,
        follow: c_int,
        out: *mut *mut msb_events,
        err: *mut msb_error,
    ) -> c_int;
    pub fn msb_events_fd(e: *const msb_events) -> c_int;
    pub fn msb_events_next(e: *mut msb_events, ev: *mut msb_event, timeout_ms: c_int, err: *mut msb_error) -> c_int;
    pub fn msb_events_next_seq(e: *const msb_events) -> u64;
    pub fn msb_events_free(e: *mut msb_events);
    pub fn msb_event_send(
        name: *const c_char,
        topic: *const c_char,
        data: *const c_char,
        seq: *mut u64,
        err: *mut msb_error,
    ) -> c_int;

    pub fn msb_spawn_policy_new(max_peers: c_uint) -> *mut msb_spawn_policy;
    pub fn msb_spawn_policy_free(p: *mut msb_spawn_policy);
    pub fn msb_spawn_policy_add_image(p: *mut msb_spawn_policy, image: *const c_char, err: *mut msb_error) -> c_int;
    pub fn msb_spawn_policy_set_limits(p: *mut msb_spawn_policy, cpus: c_uint, memory_mib: u64, total_memory_mib: u64);
    pub fn msb_sandbox_create_full(
        c: *const msb_sandbox_config,
        pl: *const msb_plugins,
        sp: *const msb_spawn_policy,
        out: *mut *mut msb_sandbox,
        err: *mut msb_error,
    ) -> c_int;
    pub fn msb_sandbox_parent(name: *const c_char, buf: *mut c_char, n: usize, err: *mut msb_error) -> c_int;

    pub fn msb_home() -> *const c_char;
}
