// SPDX-License-Identifier: Apache-2.0
//! The calls into libmsb, blocking, shared by the blocking API and the
//! async one (which runs the one-shot calls on tokio's blocking pool and
//! waits for streams on their descriptors).

use std::ffi::{c_char, c_int, CStr};
use std::os::fd::RawFd;
use std::path::PathBuf;
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use microsandbox_sys as sys;

use crate::command::{ExecEvent, ExecResult, ExecSpec};
use crate::config::{
    CBufs, ImageLoadOptions, ImagePullOptions, LoginOptions, RestoreOptions, SandboxConfig, StopOptions, SyncOptions,
};
use crate::cstr::{cerr, check, from_chars, take_malloced, with_op, CArgs};
use crate::error::{Error, Result};
use crate::files::{CopyOptions, FileInfo, FileOptions};
use crate::info::{
    ImageInfo, PluginInfo, PortMapping, PruneInfo, SandboxInfo, SaveFormat, SnapshotInfo, Stats, SyncInfo, VolumeInfo,
};
use crate::progress;

/// A libmsb sandbox handle (a name and a boot time: safe to share).
pub(crate) struct SbHandle(*mut sys::msb_sandbox);

// SAFETY: msb_sandbox is immutable after creation (its name and boot
// time); libmsb's calls taking it only read it.
unsafe impl Send for SbHandle {}
unsafe impl Sync for SbHandle {}

impl SbHandle {
    pub(crate) fn ptr(&self) -> *mut sys::msb_sandbox {
        self.0
    }

    fn boot_ms(&self) -> u64 {
        // SAFETY: a live handle.
        unsafe { sys::msb_sandbox_boot_ms(self.0) }
    }
}

impl Drop for SbHandle {
    fn drop(&mut self) {
        // SAFETY: ours, closed once.
        unsafe { sys::msb_sandbox_close(self.0) }
    }
}

/// One sandbox: its name, whether this program made it (then dropping the
/// last handle removes it), and the libmsb handle for commands and files,
/// opened on first use.
pub(crate) struct SandboxCore {
    pub(crate) name: String,
    owned: bool,
    state: Mutex<CoreState>,
    /// The server of the hooks written in Rust that the sandbox was made
    /// with: they are answered as long as this handle lives.
    hooks: Option<crate::hooks::HookServer>,
}

struct CoreState {
    h: Option<Arc<SbHandle>>,
    boot: Duration,
    closed: bool,
}

impl SandboxCore {
    pub(crate) fn new(name: String, h: Option<SbHandle>, owned: bool) -> SandboxCore {
        let boot = h.as_ref().map_or(Duration::ZERO, |h| Duration::from_millis(h.boot_ms()));
        SandboxCore {
            name,
            owned,
            state: Mutex::new(CoreState { h: h.map(Arc::new), boot, closed: false }),
            hooks: None,
        }
    }

    pub(crate) fn boot_time(&self) -> Duration {
        self.state.lock().unwrap().boot
    }

    fn closed_error(&self, op: &str) -> Error {
        Error::closed(op, format!("the handle on sandbox '{}' was closed", self.name))
    }

    pub(crate) fn check_open(&self, op: &str) -> Result<()> {
        if self.state.lock().unwrap().closed {
            return Err(self.closed_error(op));
        }
        Ok(())
    }

    /// The libmsb handle (NotRunning, saying how to start it, when the
    /// sandbox does not run).
    pub(crate) fn handle(&self, op: &str) -> Result<Arc<SbHandle>> {
        let mut st = self.state.lock().unwrap();
        if st.closed {
            return Err(self.closed_error(op));
        }
        if let Some(h) = &st.h {
            return Ok(h.clone());
        }
        let mut a = CArgs::new();
        let name = with_op(a.str(&self.name), op)?;
        let mut h = ptr::null_mut();
        check(|| op.to_owned(), |e| unsafe { sys::msb_sandbox_open(name, &mut h, e) })?;
        let h = Arc::new(SbHandle(h));
        st.h = Some(h.clone());
        Ok(h)
    }

    fn set_handle(&self, h: SbHandle) {
        let mut st = self.state.lock().unwrap();
        st.boot = Duration::from_millis(h.boot_ms());
        st.h = Some(Arc::new(h));
    }

    /// Ends the handle; a sandbox this program made is removed (running
    /// or not) unless it was made with keep.
    pub(crate) fn close(&self) -> Result<()> {
        {
            let mut st = self.state.lock().unwrap();
            if st.closed {
                return Ok(());
            }
            st.closed = true;
            st.h = None;
        }
        if self.owned {
            match remove(&self.name, "remove sandbox") {
                Err(Error::NotFound(_)) => {}
                r => return r,
            }
        }
        Ok(())
    }

    pub(crate) fn start(&self) -> Result<()> {
        let op = format!("start sandbox {}", self.name);
        self.check_open(&op)?;
        let mut a = CArgs::new();
        let name = with_op(a.str(&self.name), &op)?;
        let mut h = ptr::null_mut();
        match check(|| op.clone(), |e| unsafe { sys::msb_sandbox_start(name, &mut h, e) }) {
            Err(Error::Already(_)) => Ok(()),
            Err(e) => Err(e),
            Ok(_) => {
                self.set_handle(SbHandle(h));
                Ok(())
            }
        }
    }

    /// Stops it (@verb "stop" or "kill", for messages); a sandbox that
    /// syncs pushes itself once down, as msb stop does: what that push
    /// did, `None` when none was tried.
    pub(crate) fn stop(&self, verb: &str, o: &StopOptions) -> Result<Option<SyncInfo>> {
        let op = format!("{verb} sandbox {}", self.name);
        self.check_open(&op)?;
        let mut a = CArgs::new();
        let name = with_op(a.str(&self.name), &op)?;
        let grace = o.timeout.unwrap_or(crate::blocking::STOP_TIMEOUT);
        let secs = grace.as_secs().min(u32::MAX as u64) as u32;
        // SAFETY: plain C structs; only the progress of the options is used.
        let mut co: sys::msb_sync_opts = unsafe { std::mem::zeroed() };
        let mut pushed: sys::msb_sync_info = unsafe { std::mem::zeroed() };
        let r = progress::with(o.progress.as_ref(), |cb, ctx| {
            co.progress = cb;
            co.ctx = ctx;
            check(
                || op.clone(),
                |e| unsafe { sys::msb_sandbox_stop_sync(name, secs, &co, &mut pushed, ptr::null_mut(), e) },
            )
        });
        match r {
            Err(Error::Already(_)) => Ok(None),
            Err(e) => Err(e),
            // Its name is "" when no push was tried.
            Ok(_) => Ok((pushed.name[0] != 0).then(|| SyncInfo::from_c(&pushed))),
        }
    }

    pub(crate) fn remove(&self) -> Result<()> {
        let op = format!("remove sandbox {}", self.name);
        self.check_open(&op)?;
        remove(&self.name, "remove sandbox")?;
        let mut st = self.state.lock().unwrap();
        st.closed = true;
        st.h = None;
        Ok(())
    }

    pub(crate) fn wait(&self) -> Result<i32> {
        let op = format!("wait for sandbox {}", self.name);
        let mut a = CArgs::new();
        let name = with_op(a.str(&self.name), &op)?;
        let mut status: c_int = 0;
        check(|| op.clone(), |e| unsafe { sys::msb_sandbox_wait(name, 0, &mut status, e) })?;
        Ok(status)
    }

    pub(crate) fn log_path(&self) -> Result<PathBuf> {
        let op = format!("logs of sandbox {}", self.name);
        let mut a = CArgs::new();
        let name = with_op(a.str(&self.name), &op)?;
        let mut buf = vec![0 as c_char; 4096];
        check(|| op.clone(), |e| unsafe { sys::msb_sandbox_logs_path(name, buf.as_mut_ptr(), buf.len(), e) })?;
        Ok(PathBuf::from(from_chars(&buf)))
    }

    pub(crate) fn inspect(&self) -> Result<String> {
        let op = format!("inspect sandbox {}", self.name);
        let mut a = CArgs::new();
        let name = with_op(a.str(&self.name), &op)?;
        let mut js: *mut c_char = ptr::null_mut();
        check(|| op.clone(), |e| unsafe { sys::msb_inspect_json(name, &mut js, e) })?;
        // SAFETY: malloc'ed by libmsb, ours.
        Ok(unsafe { take_malloced(js) })
    }

    pub(crate) fn info(&self) -> Result<SandboxInfo> {
        info(&self.name)
    }

    pub(crate) fn ports(&self) -> Result<Vec<PortMapping>> {
        let op = format!("ports of sandbox {}", self.name);
        let mut a = CArgs::new();
        let name = with_op(a.str(&self.name), &op)?;
        let mut arr: *mut sys::msb_port = ptr::null_mut();
        let mut n = 0usize;
        check(|| op.clone(), |e| unsafe { sys::msb_sandbox_ports(name, &mut arr, &mut n, e) })?;
        // SAFETY: libmsb gave @n of them, malloc'ed.
        Ok(unsafe { take_array(arr, n, PortMapping::from_c) })
    }

    pub(crate) fn stats(&self) -> Result<Stats> {
        let op = format!("stats of sandbox {}", self.name);
        let mut a = CArgs::new();
        let name = with_op(a.str(&self.name), &op)?;
        // SAFETY: a plain C struct; zeroes are a valid value.
        let mut s: sys::msb_stats = unsafe { std::mem::zeroed() };
        check(|| op.clone(), |e| unsafe { sys::msb_sandbox_stats(name, &mut s, e) })?;
        Ok(Stats::from_c(&s))
    }

    pub(crate) fn snapshot(&self, snap: &str) -> Result<SnapshotInfo> {
        let op = format!("snapshot {} as {snap}", self.name);
        self.check_open(&op)?;
        let mut a = CArgs::new();
        let (sb, sn) = with_op(a.str(&self.name).and_then(|s| Ok((s, a.str(snap)?))), &op)?;
        // SAFETY: as above.
        let mut info: sys::msb_snapshot_info = unsafe { std::mem::zeroed() };
        check(|| op.clone(), |e| unsafe { sys::msb_snapshot_create(sb, sn, &mut info, e) })?;
        Ok(SnapshotInfo::from_c(&info))
    }
}

impl Drop for SandboxCore {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

/// Copies @n C structs out of a malloc'ed array and frees it.
///
/// # Safety
/// @arr holds @n initialised values, malloc'ed, nobody else frees it.
pub(crate) unsafe fn take_array<C, T>(arr: *mut C, n: usize, f: impl Fn(&C) -> T) -> Vec<T> {
    if arr.is_null() {
        return Vec::new();
    }
    let out = std::slice::from_raw_parts(arr, n).iter().map(f).collect();
    libc::free(arr.cast());
    out
}

fn remove(name: &str, verb: &str) -> Result<()> {
    let op = format!("{verb} {name}");
    let mut a = CArgs::new();
    let n = with_op(a.str(name), &op)?;
    check(|| op.clone(), |e| unsafe { sys::msb_sandbox_remove(n, 1, e) })?;
    Ok(())
}

/// Creates and boots a sandbox. @cancelled, when it is set by the time
/// the boot is over (an async create dropped), has the sandbox removed.
pub(crate) fn create(name: &str, mut cfg: SandboxConfig, cancelled: Option<&AtomicBool>) -> Result<SandboxCore> {
    let op = format!("create sandbox {name}");
    if let Some(e) = cfg.refusal(&op) {
        return Err(e);
    }
    let mut a = CArgs::new();
    let mut bufs = CBufs::default();
    // SAFETY: a plain C struct, initialised by fill.
    let mut c: sys::msb_sandbox_config = unsafe { std::mem::zeroed() };
    cstr_err(cfg.fill(&mut a, &mut bufs, name, &mut c), &op)?;
    let hooks = cfg.hooks();
    let server = if hooks.is_empty() { None } else { Some(crate::hooks::HookServer::start(hooks)?) };
    let spawn = SpawnPolicy::new(&cfg.spawn, &mut a, &op)?;
    let mut h = ptr::null_mut();
    if cfg.plugins.is_empty() && cfg.plugin_processes.is_empty() && server.is_none() {
        match &spawn {
            None => check(|| op.clone(), |e| unsafe { sys::msb_sandbox_create(&c, &mut h, e) })?,
            Some(sp) => {
                check(|| op.clone(), |e| unsafe { sys::msb_sandbox_create_full(&c, ptr::null(), sp.0, &mut h, e) })?
            }
        };
    } else {
        let p = Plugins::new(&op)?;
        for (n, o) in &cfg.plugins {
            let (n, o) = with_op(a.str(n).and_then(|n| Ok((n, a.str(o)?))), &op)?;
            check(|| op.clone(), |e| unsafe { sys::msb_plugins_add(p.0, n, o, e) })?;
        }
        for cmd in &cfg.plugin_processes {
            let cmd = with_op(a.str(cmd), &op)?;
            check(|| op.clone(), |e| unsafe { sys::msb_plugins_add_process(p.0, cmd, e) })?;
        }
        if let Some(s) = &server {
            let path = with_op(a.str(&s.path.to_string_lossy()), &op)?;
            check(|| op.clone(), |e| unsafe { sys::msb_plugins_add_socket(p.0, path, e) })?;
        }
        if let Some(t) = cfg.plugin_timeout {
            // SAFETY: a live chain.
            unsafe { sys::msb_plugins_set_timeout(p.0, t.as_millis().clamp(1, u32::MAX as u128) as u32) };
        }
        if let Some(n) = cfg.plugin_restarts {
            // SAFETY: a live chain.
            unsafe { sys::msb_plugins_set_restarts(p.0, n) };
        }
        let sp = spawn.as_ref().map_or(ptr::null(), |sp| sp.0.cast_const());
        check(|| op.clone(), |e| unsafe { sys::msb_sandbox_create_full(&c, p.0, sp, &mut h, e) })?;
    }
    let mut core = SandboxCore::new(name.to_owned(), Some(SbHandle(h)), !cfg.keep);
    core.hooks = server;
    if cancelled.is_some_and(|c| c.load(Ordering::SeqCst)) {
        drop(core); // removes it (owned) or releases it (kept)
        return Err(Error::closed(op, "the create was cancelled"));
    }
    Ok(core)
}

/// A plugin chain for a create (msb_plugins), freed with it.
struct Plugins(*mut sys::msb_plugins);

impl Plugins {
    fn new(op: &str) -> Result<Plugins> {
        // SAFETY: no arguments; NULL when out of memory.
        let p = unsafe { sys::msb_plugins_new() };
        if p.is_null() {
            return Err(Error::closed(op, "out of memory for the plugin chain"));
        }
        Ok(Plugins(p))
    }
}

impl Drop for Plugins {
    fn drop(&mut self) {
        // SAFETY: ours, freed once.
        unsafe { sys::msb_plugins_free(self.0) };
    }
}

/// A spawn policy for a create (msb_spawn_policy), freed with it.
struct SpawnPolicy(*mut sys::msb_spawn_policy);

impl SpawnPolicy {
    /// The policy of @spec (None when spawning is off); an image libmsb
    /// refuses is an error.
    fn new(spec: &crate::config::SpawnSpec, a: &mut CArgs, op: &str) -> Result<Option<SpawnPolicy>> {
        let Some(max) = spec.max else { return Ok(None) };
        // SAFETY: a plain call; NULL when out of range or out of memory.
        let p = unsafe { sys::msb_spawn_policy_new(max) };
        if p.is_null() {
            return Err(Error::invalid(op, format!("allow_spawn({max}): give 1 to 64 live peers")));
        }
        let sp = SpawnPolicy(p);
        for img in &spec.images {
            let img = with_op(a.str(img), op)?;
            check(|| op.to_owned(), |e| unsafe { sys::msb_spawn_policy_add_image(sp.0, img, e) })?;
        }
        let (cpus, mem, total) = spec.limits;
        // SAFETY: a live policy.
        unsafe { sys::msb_spawn_policy_set_limits(sp.0, cpus, mem, total) };
        Ok(Some(sp))
    }
}

impl Drop for SpawnPolicy {
    fn drop(&mut self) {
        // SAFETY: ours, freed once.
        unsafe { sys::msb_spawn_policy_free(self.0) };
    }
}

/// The sandbox that spawned @name ("" -> None for one the host made).
pub(crate) fn parent(name: &str) -> Result<Option<String>> {
    let op = format!("parent of sandbox {name}");
    let mut a = CArgs::new();
    let n = with_op(a.str(name), &op)?;
    let mut buf = vec![0 as c_char; 256];
    check(|| op.clone(), |e| unsafe { sys::msb_sandbox_parent(n, buf.as_mut_ptr(), buf.len(), e) })?;
    let p = from_chars(&buf);
    Ok(if p.is_empty() { None } else { Some(p) })
}

/// Gives @op to an error made while filling a configuration.
fn cstr_err<T>(r: Result<T>, op: &str) -> Result<T> {
    r.map_err(|e| match e {
        Error::Invalid(mut f) if f.op.is_empty() => {
            f.op = op.to_owned();
            Error::Invalid(f)
        }
        Error::Os(mut f) if f.op.is_empty() => {
            f.op = op.to_owned();
            Error::Os(f)
        }
        Error::NotFound(mut f) if f.op.is_empty() => {
            f.op = op.to_owned();
            Error::NotFound(f)
        }
        e => e,
    })
}

/// A handle on the existing sandbox @name (NotFound if there is none).
pub(crate) fn get(name: &str) -> Result<SandboxCore> {
    info(name)?;
    Ok(SandboxCore::new(name.to_owned(), None, false))
}

pub(crate) fn info(name: &str) -> Result<SandboxInfo> {
    let op = format!("sandbox {name}");
    let mut a = CArgs::new();
    let n = with_op(a.str(name), &op)?;
    // SAFETY: a plain C struct.
    let mut i: sys::msb_sandbox_info = unsafe { std::mem::zeroed() };
    check(|| op.clone(), |e| unsafe { sys::msb_sandbox_info_get(n, &mut i, e) })?;
    Ok(SandboxInfo::from_c(&i))
}

pub(crate) fn list() -> Result<Vec<SandboxInfo>> {
    let mut arr = ptr::null_mut();
    let mut n = 0usize;
    check(|| "list sandboxes".into(), |e| unsafe { sys::msb_list(&mut arr, &mut n, e) })?;
    // SAFETY: @n of them, malloc'ed.
    Ok(unsafe { take_array(arr, n, SandboxInfo::from_c) })
}

pub(crate) fn stats_all(all: bool) -> Result<Vec<Stats>> {
    let mut arr = ptr::null_mut();
    let mut n = 0usize;
    check(|| "stats".into(), |e| unsafe { sys::msb_stats_list(all as c_int, &mut arr, &mut n, e) })?;
    // SAFETY: @n of them, malloc'ed.
    Ok(unsafe { take_array(arr, n, Stats::from_c) })
}

/// `$MSB_HOME` or ~/.microsandbox.
pub fn home() -> PathBuf {
    // SAFETY: a static string.
    PathBuf::from(unsafe { CStr::from_ptr(sys::msb_home()) }.to_string_lossy().into_owned())
}

/// Checks a sandbox name: `Ok`, or [`Error::Invalid`] saying why.
pub fn validate_name(name: &str) -> Result<()> {
    let mut a = CArgs::new();
    let n = with_op(a.str(name), "name")?;
    check(|| "name".into(), |e| unsafe { sys::msb_name_valid(n, e) })?;
    Ok(())
}

// ---- snapshots ------------------------------------------------------------------

pub(crate) fn snapshot_info(name: &str) -> Result<SnapshotInfo> {
    let op = format!("snapshot {name}");
    let mut a = CArgs::new();
    let n = with_op(a.str(name), &op)?;
    // SAFETY: a plain C struct.
    let mut i: sys::msb_snapshot_info = unsafe { std::mem::zeroed() };
    check(|| op.clone(), |e| unsafe { sys::msb_snapshot_info_get(n, &mut i, e) })?;
    Ok(SnapshotInfo::from_c(&i))
}

pub(crate) fn snapshot_inspect(name: &str) -> Result<String> {
    let op = format!("inspect snapshot {name}");
    let mut a = CArgs::new();
    let n = with_op(a.str(name), &op)?;
    let mut js: *mut c_char = ptr::null_mut();
    check(|| op.clone(), |e| unsafe { sys::msb_snapshot_inspect_json(n, &mut js, e) })?;
    // SAFETY: malloc'ed by libmsb, ours.
    Ok(unsafe { take_malloced(js) })
}

pub(crate) fn snapshot_list() -> Result<Vec<SnapshotInfo>> {
    let mut arr = ptr::null_mut();
    let mut n = 0usize;
    check(|| "list snapshots".into(), |e| unsafe { sys::msb_snapshot_list(&mut arr, &mut n, e) })?;
    // SAFETY: @n of them, malloc'ed.
    Ok(unsafe { take_array(arr, n, SnapshotInfo::from_c) })
}

pub(crate) fn snapshot_rename(name: &str, new_name: &str) -> Result<()> {
    let op = format!("rename snapshot {name}");
    let mut a = CArgs::new();
    let (n, nn) = with_op(a.str(name).and_then(|n| Ok((n, a.str(new_name)?))), &op)?;
    check(|| op.clone(), |e| unsafe { sys::msb_snapshot_rename(n, nn, e) })?;
    Ok(())
}

/// A name for an unnamed snapshot of sandbox @sandbox: valid, and not
/// one another call of this process makes.
pub(crate) fn generated_snapshot_name(sandbox: &str) -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_millis();
    let short: String = sandbox.chars().take(24).collect();
    format!("snap-{short}-{ms:x}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::SeqCst))
}

pub(crate) fn snapshot_remove(name: &str, force: bool) -> Result<()> {
    let op = format!("remove snapshot {name}");
    let mut a = CArgs::new();
    let n = with_op(a.str(name), &op)?;
    check(|| op.clone(), |e| unsafe { sys::msb_snapshot_remove(n, force as c_int, e) })?;
    Ok(())
}

pub(crate) fn snapshot_restore(
    snap: &str,
    name: &str,
    o: &RestoreOptions,
    cancelled: Option<&AtomicBool>,
) -> Result<SandboxCore> {
    let op = format!("restore {snap} as {name}");
    let mut a = CArgs::new();
    // SAFETY: a plain C struct, initialised by fill.
    let mut ro: sys::msb_restore_opts = unsafe { std::mem::zeroed() };
    cstr_err(o.fill(&mut a, name, &mut ro), &op)?;
    let s = with_op(a.str(snap), &op)?;
    let mut h = ptr::null_mut();
    check(|| op.clone(), |e| unsafe { sys::msb_snapshot_restore(s, &ro, &mut h, e) })?;
    let core = SandboxCore::new(name.to_owned(), Some(SbHandle(h)), !o.keep);
    if cancelled.is_some_and(|c| c.load(Ordering::SeqCst)) {
        drop(core);
        return Err(Error::closed(op, "the restore was cancelled"));
    }
    Ok(core)
}

// ---- named volumes ------------------------------------------------------------------

pub(crate) fn volume_create(name: &str, size_mib: u64) -> Result<VolumeInfo> {
    let op = format!("create volume {name}");
    let mut a = CArgs::new();
    let n = with_op(a.str(name), &op)?;
    // SAFETY: a plain C struct.
    let mut i: sys::msb_volume_info = unsafe { std::mem::zeroed() };
    check(|| op.clone(), |e| unsafe { sys::msb_volume_create(n, size_mib, &mut i, e) })?;
    Ok(VolumeInfo::from_c(&i))
}

pub(crate) fn volume_info(name: &str) -> Result<VolumeInfo> {
    let op = format!("volume {name}");
    let mut a = CArgs::new();
    let n = with_op(a.str(name), &op)?;
    // SAFETY: a plain C struct.
    let mut i: sys::msb_volume_info = unsafe { std::mem::zeroed() };
    check(|| op.clone(), |e| unsafe { sys::msb_volume_info_get(n, &mut i, e) })?;
    Ok(VolumeInfo::from_c(&i))
}

pub(crate) fn volume_inspect(name: &str) -> Result<String> {
    let op = format!("inspect volume {name}");
    let mut a = CArgs::new();
    let n = with_op(a.str(name), &op)?;
    let mut js: *mut c_char = ptr::null_mut();
    check(|| op.clone(), |e| unsafe { sys::msb_volume_inspect_json(n, &mut js, e) })?;
    // SAFETY: malloc'ed by libmsb, ours.
    Ok(unsafe { take_malloced(js) })
}

pub(crate) fn volume_list() -> Result<Vec<VolumeInfo>> {
    let mut arr = ptr::null_mut();
    let mut n = 0usize;
    check(|| "list volumes".into(), |e| unsafe { sys::msb_volume_list(&mut arr, &mut n, e) })?;
    // SAFETY: @n of them, malloc'ed.
    Ok(unsafe { take_array(arr, n, VolumeInfo::from_c) })
}

pub(crate) fn volume_remove(name: &str, force: bool) -> Result<()> {
    let op = format!("remove volume {name}");
    let mut a = CArgs::new();
    let n = with_op(a.str(name), &op)?;
    check(|| op.clone(), |e| unsafe { sys::msb_volume_remove(n, force as c_int, e) })?;
    Ok(())
}

// ---- sync -------------------------------------------------------------------------

/// A push or a pull of libmsb (`msb_sandbox_push`...).
type SyncCall = unsafe extern "C" fn(
    *const c_char,
    *const sys::msb_sync_opts,
    *mut sys::msb_sync_info,
    *mut sys::msb_error,
) -> c_int;

/// Runs @call on @target with @o, reporting to its progress closure.
fn sync_call(op: String, target: &str, o: &SyncOptions, call: SyncCall) -> Result<SyncInfo> {
    let mut a = CArgs::new();
    let t = with_op(a.str(target), &op)?;
    let mut co = with_op(o.to_c(&mut a), &op)?;
    // SAFETY: a plain C struct.
    let mut i: sys::msb_sync_info = unsafe { std::mem::zeroed() };
    progress::with(o.progress.as_ref(), |cb, ctx| {
        co.progress = cb;
        co.ctx = ctx;
        check(|| op.clone(), |e| unsafe { call(t, &co, &mut i, e) })
    })?;
    Ok(SyncInfo::from_c(&i))
}

pub(crate) fn push(name: &str, o: &SyncOptions) -> Result<SyncInfo> {
    sync_call(format!("push sandbox {name}"), name, o, sys::msb_sandbox_push)
}

pub(crate) fn pull(reference: &str, o: &SyncOptions) -> Result<SyncInfo> {
    sync_call(format!("pull sandbox {reference}"), reference, o, sys::msb_sandbox_pull)
}

pub(crate) fn snapshot_push(snap: &str, o: &SyncOptions) -> Result<SyncInfo> {
    sync_call(format!("push snapshot {snap}"), snap, o, sys::msb_snapshot_push)
}

pub(crate) fn snapshot_pull(reference: &str, o: &SyncOptions) -> Result<SyncInfo> {
    sync_call(format!("pull snapshot {reference}"), reference, o, sys::msb_snapshot_pull)
}

pub(crate) fn set_sync(name: &str, on: bool) -> Result<()> {
    let op = format!("sync of sandbox {name}");
    let mut a = CArgs::new();
    let n = with_op(a.str(name), &op)?;
    check(|| op.clone(), |e| unsafe { sys::msb_sandbox_set_sync(n, on as c_int, e) })?;
    Ok(())
}

/// The remote sandboxes are pushed to by default (`$MSB_REMOTE`, else
/// the one [`set_remote`] kept), and whether plain http was allowed for
/// it; [`Error::NotFound`] saying how to set one when there is none.
pub fn remote() -> Result<(String, bool)> {
    let mut buf = vec![0 as c_char; 1024];
    let mut insecure: c_int = 0;
    check(|| "remote".into(), |e| unsafe { sys::msb_remote_get(buf.as_mut_ptr(), buf.len(), &mut insecure, e) })?;
    Ok((from_chars(&buf), insecure != 0))
}

/// Keeps @remote ("REGISTRY[/NAMESPACE]") as the default place sandboxes
/// are pushed to (`msb remote set`); "" forgets it. @insecure allows
/// plain http to a registry not on loopback.
pub fn set_remote(remote: &str, insecure: bool) -> Result<()> {
    let mut a = CArgs::new();
    let r = with_op(a.str(remote), "set remote")?;
    check(|| "set remote".into(), |e| unsafe { sys::msb_remote_set(r, insecure as c_int, e) })?;
    Ok(())
}

// ---- the plugin registry -----------------------------------------------------

/// Runs a plugin call that fills in one plugin's info.
fn plugin_call(
    op: String,
    f: impl FnOnce(&mut CArgs, *mut sys::msb_plugin_info, *mut sys::msb_error) -> Result<c_int>,
) -> Result<PluginInfo> {
    let mut a = CArgs::new();
    // SAFETY: a plain C struct.
    let mut i: sys::msb_plugin_info = unsafe { std::mem::zeroed() };
    let mut e = cerr();
    let r = with_op(f(&mut a, &mut i, &mut e), &op)?;
    if r < 0 {
        return Err(Error::from_c(op, r, &e));
    }
    Ok(PluginInfo::from_c(&i))
}

pub(crate) fn plugin_publish(dir: &str, registry: Option<&str>) -> Result<PluginInfo> {
    plugin_call(format!("publish plugin {dir}"), |a, i, e| {
        let (d, r) = (a.str(dir)?, a.opt(registry)?);
        Ok(unsafe { sys::msb_plugin_publish(d, r, i, e) })
    })
}

pub(crate) fn plugin_install(what: &str, registry: Option<&str>) -> Result<PluginInfo> {
    plugin_call(format!("install plugin {what}"), |a, i, e| {
        let (w, r) = (a.str(what)?, a.opt(registry)?);
        Ok(unsafe { sys::msb_plugin_install(w, r, i, e) })
    })
}

pub(crate) fn plugin_inspect(name: &str) -> Result<PluginInfo> {
    plugin_call(format!("inspect plugin {name}"), |a, i, e| {
        let n = a.str(name)?;
        Ok(unsafe { sys::msb_plugin_inspect(n, i, e) })
    })
}

pub(crate) fn plugin_remove(name: &str) -> Result<()> {
    let op = format!("remove plugin {name}");
    let mut a = CArgs::new();
    let n = with_op(a.str(name), &op)?;
    check(|| op.clone(), |e| unsafe { sys::msb_plugin_remove(n, e) })?;
    Ok(())
}

pub(crate) fn plugin_list() -> Result<Vec<PluginInfo>> {
    let mut arr = ptr::null_mut();
    let mut n = 0usize;
    check(|| "list plugins".into(), |e| unsafe { sys::msb_plugin_list(&mut arr, &mut n, e) })?;
    // SAFETY: @n of them, malloc'ed.
    Ok(unsafe { take_array(arr, n, PluginInfo::from_c) })
}

pub(crate) fn plugin_search(registry: Option<&str>, query: &str) -> Result<Vec<PluginInfo>> {
    let op = format!("search plugins for {query:?}");
    let mut a = CArgs::new();
    let (r, q) = with_op(a.opt(registry).and_then(|r| Ok((r, a.str(query)?))), &op)?;
    let mut arr = ptr::null_mut();
    let mut n = 0usize;
    check(|| op.clone(), |e| unsafe { sys::msb_plugin_search(r, q, &mut arr, &mut n, e) })?;
    // SAFETY: @n of them, malloc'ed.
    Ok(unsafe { take_array(arr, n, PluginInfo::from_c) })
}

// ---- images ----------------------------------------------------------------------

pub(crate) fn image_pull(reference: &str, o: &ImagePullOptions) -> Result<ImageInfo> {
    let op = format!("pull {reference}");
    let mut a = CArgs::new();
    let r = with_op(a.str(reference), &op)?;
    // SAFETY: a plain C struct.
    let mut i: sys::msb_image_info = unsafe { std::mem::zeroed() };
    progress::with(o.progress.as_ref(), |progress, ctx| {
        let co = sys::msb_pull_opts { insecure: o.insecure as c_int, progress, ctx };
        check(|| op.clone(), |e| unsafe { sys::msb_image_pull(r, &co, &mut i, e) })
    })?;
    Ok(ImageInfo::from_c(&i))
}

pub(crate) fn image_load(path: &str, o: &ImageLoadOptions) -> Result<ImageInfo> {
    let op = format!("load {path}");
    let mut a = CArgs::new();
    let p = with_op(a.str(path), &op)?;
    let tag = with_op(a.opt(o.tag.as_deref()), &op)?;
    // SAFETY: a plain C struct.
    let mut i: sys::msb_image_info = unsafe { std::mem::zeroed() };
    progress::with(o.progress.as_ref(), |progress, ctx| {
        let co = sys::msb_load_opts { tag, progress, ctx };
        check(|| op.clone(), |e| unsafe { sys::msb_image_load(p, &co, &mut i, e) })
    })?;
    Ok(ImageInfo::from_c(&i))
}

pub(crate) fn image_list() -> Result<Vec<ImageInfo>> {
    let mut arr = ptr::null_mut();
    let mut n = 0usize;
    check(|| "list images".into(), |e| unsafe { sys::msb_image_list(&mut arr, &mut n, e) })?;
    // SAFETY: @n of them, malloc'ed.
    Ok(unsafe { take_array(arr, n, ImageInfo::from_c) })
}

pub(crate) fn image_remove(reference: &str) -> Result<()> {
    let op = format!("remove image {reference}");
    let mut a = CArgs::new();
    let r = with_op(a.str(reference), &op)?;
    check(|| op.clone(), |e| unsafe { sys::msb_image_remove(r, e) })?;
    Ok(())
}

pub(crate) fn image_inspect(reference: &str) -> Result<String> {
    let op = format!("inspect image {reference}");
    let mut a = CArgs::new();
    let r = with_op(a.str(reference), &op)?;
    let mut js: *mut c_char = ptr::null_mut();
    check(|| op.clone(), |e| unsafe { sys::msb_image_inspect_json(r, &mut js, e) })?;
    // SAFETY: malloc'ed by libmsb, ours.
    Ok(unsafe { take_malloced(js) })
}

pub(crate) fn image_save(reference: &str, path: &str, format: SaveFormat) -> Result<()> {
    let op = format!("save {reference} to {path}");
    let mut a = CArgs::new();
    let (r, p) = with_op(a.str(reference).and_then(|r| Ok((r, a.str(path)?))), &op)?;
    let f = match format {
        SaveFormat::Oci => sys::MSB_SAVE_OCI,
        SaveFormat::Docker => sys::MSB_SAVE_DOCKER,
    };
    check(|| op.clone(), |e| unsafe { sys::msb_image_save(r, p, f, e) })?;
    Ok(())
}

pub(crate) fn image_prune() -> Result<PruneInfo> {
    let (mut freed_bytes, mut files) = (0u64, 0 as std::ffi::c_uint);
    check(|| "prune images".into(), |e| unsafe { sys::msb_image_prune(&mut freed_bytes, &mut files, e) })?;
    Ok(PruneInfo { freed_bytes, files })
}

pub(crate) fn registry_login(registry: &str, user: &str, password: &str, o: &LoginOptions) -> Result<()> {
    let op = format!("login to {registry}");
    let mut a = CArgs::new();
    let (r, u, p) = with_op(a.str(registry).and_then(|r| Ok((r, a.str(user)?, a.str(password)?))), &op)?;
    let co = sys::msb_login_options { insecure: o.insecure as c_int };
    check(|| op.clone(), |e| unsafe { sys::msb_registry_login_with(r, u, p, &co, e) })?;
    Ok(())
}

pub(crate) fn registry_logout(registry: &str) -> Result<()> {
    let op = format!("logout from {registry}");
    let mut a = CArgs::new();
    let r = with_op(a.str(registry), &op)?;
    check(|| op.clone(), |e| unsafe { sys::msb_registry_logout(r, e) })?;
    Ok(())
}

// ---- commands ------------------------------------------------------------------------

/// A running command's libmsb handle. libmsb lets one reader
/// (msb_exec_next) and one writer (write, close_stdin, signal, resize)
/// use it at once: the reader is whoever holds the `ExecReader`, writers
/// take `writer`.
pub(crate) struct ExecHandle {
    h: *mut sys::msb_exec,
    pub(crate) fd: RawFd,
    pub(crate) op: String,
    writer: Mutex<WriterState>,
    /// The descriptor in tokio's reactor (async API); deregistered before
    /// libmsb closes it.
    #[cfg(feature = "tokio")]
    pub(crate) afd: Option<tokio::io::unix::AsyncFd<RawFd>>,
}

struct WriterState {
    stdin_open: bool,
    /// The command has ended (its EXIT was read) or was closed.
    over: bool,
}

// SAFETY: see the type's comment: the reader is one owner (&mut), the
// writers are serialised by `writer`.
unsafe impl Send for ExecHandle {}
unsafe impl Sync for ExecHandle {}

impl Drop for ExecHandle {
    fn drop(&mut self) {
        #[cfg(feature = "tokio")]
        drop(self.afd.take());
        // SAFETY: ours, freed once, no call running (we are its last owner).
        unsafe { sys::msb_exec_free(self.h) }
    }
}

/// The largest stdin message libmsb sends (bytes of data).
pub(crate) const STDIN_CHUNK: usize = 48 << 10;

impl ExecHandle {
    /// Starts @spec in the sandbox.
    pub(crate) fn start(sb: &SandboxCore, spec: &ExecSpec) -> Result<ExecHandle> {
        let op = spec.op();
        if let Some(e) = &spec.bad {
            return Err(Error::invalid(op, e.to_string()));
        }
        if spec.argv.first().is_none_or(|p| p.is_empty()) {
            return Err(Error::invalid(op, "a command to run is required"));
        }
        let h = sb.handle(&op)?;
        let mut a = CArgs::new();
        let o = with_op(exec_opts(&mut a, spec), &op)?;
        let argv = with_op(a.strv(&spec.argv), &op)?;
        let mut e = ptr::null_mut();
        check(|| op.clone(), |err| unsafe { sys::msb_exec_start(h.ptr(), argv, &o, &mut e, err) })?;
        // SAFETY: a live handle.
        let fd = unsafe { sys::msb_exec_fd(e) };
        let stdin_open = spec.stdin.is_some() || spec.stdin_piped;
        Ok(ExecHandle {
            h: e,
            fd,
            op,
            writer: Mutex::new(WriterState { stdin_open, over: false }),
            #[cfg(feature = "tokio")]
            afd: None,
        })
    }

    /// Runs a writer call, or fails when the command is over.
    fn writer(&self, what: &str, f: impl FnOnce(*mut sys::msb_exec, *mut sys::msb_error) -> c_int) -> Result<()> {
        let st = self.writer.lock().unwrap();
        if st.over {
            return Err(Error::new(
                sys::MSB_E_STOPPED,
                format!("{}: {what}", self.op),
                "the command has already exited",
            ));
        }
        check(|| format!("{}: {what}", self.op), |e| f(self.h, e))?;
        Ok(())
    }

    /// Writes at most one message of stdin (up to STDIN_CHUNK bytes);
    /// returns the bytes taken. Blocks while the socket is full.
    pub(crate) fn write_stdin(&self, data: &[u8]) -> Result<usize> {
        let n = data.len().min(STDIN_CHUNK);
        {
            let st = self.writer.lock().unwrap();
            if !st.stdin_open && !st.over {
                return Err(Error::invalid(
                    format!("{}: stdin", self.op),
                    "stdin is not open: start the command with stdin_piped() or stdin_bytes()",
                ));
            }
        }
        if n == 0 {
            return Ok(0);
        }
        self.writer("stdin", |h, e| unsafe { sys::msb_exec_write(h, data.as_ptr().cast(), n, e) })?;
        Ok(n)
    }

    pub(crate) fn close_stdin(&self) -> Result<()> {
        self.writer("close stdin", |h, e| unsafe { sys::msb_exec_close_stdin(h, e) })
    }

    pub(crate) fn signal(&self, sig: i32) -> Result<()> {
        self.writer("signal", |h, e| unsafe { sys::msb_exec_signal(h, sig, e) })
    }

    pub(crate) fn resize(&self, rows: u32, cols: u32) -> Result<()> {
        self.writer("resize", |h, e| unsafe { sys::msb_exec_resize(h, rows, cols, e) })
    }

    fn mark_over(&self) {
        self.writer.lock().unwrap().over = true;
    }
}

/// Starts @spec detached (msb exec -d): its pid once it runs.
pub(crate) fn exec_detach(sb: &SandboxCore, spec: &ExecSpec) -> Result<i32> {
    let op = spec.op();
    if let Some(e) = &spec.bad {
        return Err(Error::invalid(op, e.to_string()));
    }
    if spec.argv.first().is_none_or(|p| p.is_empty()) {
        return Err(Error::invalid(op, "a command to run is required"));
    }
    if spec.stdin.is_some() || spec.stdin_piped || spec.tty.is_some() {
        return Err(Error::invalid(op, "a detached command takes no stdin or terminal"));
    }
    let h = sb.handle(&op)?;
    let mut a = CArgs::new();
    let o = with_op(exec_opts(&mut a, spec), &op)?;
    let argv = with_op(a.strv(&spec.argv), &op)?;
    let mut pid: c_int = 0;
    check(|| op.clone(), |e| unsafe { sys::msb_exec_detach(h.ptr(), argv, &o, &mut pid, e) })?;
    Ok(pid)
}

/// Whether @fd polls ready for @events at once.
#[cfg_attr(not(feature = "tokio"), allow(dead_code))]
pub(crate) fn poll_now(fd: RawFd, events: i16) -> bool {
    let mut p = libc::pollfd { fd, events, revents: 0 };
    // SAFETY: one pollfd of ours.
    unsafe { libc::poll(&mut p, 1, 0) > 0 }
}

/// Waits until @fd polls ready for @events (blocking API).
pub(crate) fn poll_wait(fd: RawFd, events: i16) -> i16 {
    let mut p = libc::pollfd { fd, events, revents: 0 };
    loop {
        // SAFETY: one pollfd of ours.
        let r = unsafe { libc::poll(&mut p, 1, -1) };
        if r > 0 {
            return p.revents;
        }
        if r < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return libc::POLLERR;
        }
    }
}

fn exec_opts(a: &mut CArgs, spec: &ExecSpec) -> Result<sys::msb_exec_opts> {
    Ok(sys::msb_exec_opts {
        env: a.strv_or_null(&spec.env)?,
        workdir: a.opt(spec.cwd.as_deref())?,
        user: a.opt(spec.user.as_deref())?,
        tty: spec.tty.is_some() as c_int,
        rows: spec.tty.map_or(0, |t| t.0),
        cols: spec.tty.map_or(0, |t| t.1),
        stdin: (spec.stdin.is_some() || spec.stdin_piped) as c_int,
        main: 0,
        timeout_ms: spec.timeout.map_or(0, |d| d.as_millis().clamp(1, u32::MAX as u128) as u32),
    })
}

/// What the reader of a command does with its events: the pending output
/// of each stream, the pid once started, the result once over.
pub(crate) struct ExecReader {
    pub(crate) exec: Arc<ExecHandle>,
    pub(crate) pid: i32,
    pub(crate) started: bool,
    pub(crate) result: Option<ExecResult>,
    pub(crate) failed: Option<Error>,
    /// Output read but not yet taken, per stream (0 stdout, 1 stderr).
    pub(crate) pending: [std::collections::VecDeque<u8>; 2],
    /// Events in order, for next_event (when iterating).
    pub(crate) events: std::collections::VecDeque<ExecEvent>,
    /// How output is kept: separate streams (readers) or events.
    pub(crate) as_events: bool,
    pub(crate) discard: [bool; 2],
    /// Chunks go here instead (output() with callbacks).
    pub(crate) sinks: [Option<crate::command::ChunkFn>; 2],
    /// While the sandbox is paused (its host disk full): why.
    pub(crate) paused: Option<String>,
}

/// One event read from libmsb.
pub(crate) enum Raw {
    Started(i32),
    Out(usize, Vec<u8>),
    Exit(ExecResult),
    /// The sandbox was paused (its host disk full) or runs again: the
    /// supervisor's words.
    Paused(String),
    Resumed(String),
    /// An event of a newer library: nothing to this reader.
    Other,
}

impl ExecReader {
    pub(crate) fn new(exec: Arc<ExecHandle>) -> ExecReader {
        ExecReader {
            exec,
            pid: 0,
            started: false,
            result: None,
            failed: None,
            pending: Default::default(),
            events: Default::default(),
            as_events: false,
            discard: [false; 2],
            sinks: [None, None],
            paused: None,
        }
    }

    /// Whether the command is over (ended or failed).
    pub(crate) fn over(&self) -> bool {
        self.result.is_some() || self.failed.is_some()
    }

    /// The next event within @timeout_ms (0: only what is there; -1:
    /// waits). Only the reader calls this.
    pub(crate) fn next_raw(&mut self, timeout_ms: i32) -> Result<Option<Raw>> {
        // SAFETY: a plain C struct.
        let mut ev: sys::msb_exec_event = unsafe { std::mem::zeroed() };
        let mut e = cerr();
        // SAFETY: we are the handle's only reader.
        let r = unsafe { sys::msb_exec_next(self.exec.h, &mut ev, timeout_ms, &mut e) };
        if r < 0 {
            self.exec.mark_over();
            return Err(Error::from_c(self.exec.op.clone(), r, &e));
        }
        if r == 0 {
            return Ok(None);
        }
        Ok(Some(match ev.type_ {
            sys::MSB_EXEC_STARTED => Raw::Started(ev.pid),
            sys::MSB_EXEC_STDOUT | sys::MSB_EXEC_STDERR => {
                let data = if ev.len == 0 {
                    Vec::new()
                } else {
                    // SAFETY: @len bytes at @data, valid until the next read.
                    unsafe { std::slice::from_raw_parts(ev.data, ev.len) }.to_vec()
                };
                Raw::Out(if ev.type_ == sys::MSB_EXEC_STDOUT { 0 } else { 1 }, data)
            }
            sys::MSB_EXEC_EXIT => {
                self.exec.mark_over();
                Raw::Exit(ExecResult {
                    exit_code: ev.exit_code,
                    signal: ev.signal,
                    timed_out: ev.timed_out != 0,
                    ..Default::default()
                })
            }
            sys::MSB_EXEC_PAUSED | sys::MSB_EXEC_RESUMED => {
                // SAFETY: @len bytes at @data, valid until the next read.
                let text = if ev.len == 0 {
                    String::new()
                } else {
                    String::from_utf8_lossy(unsafe { std::slice::from_raw_parts(ev.data, ev.len) }).into_owned()
                };
                if ev.type_ == sys::MSB_EXEC_PAUSED {
                    Raw::Paused(text)
                } else {
                    Raw::Resumed(text)
                }
            }
            // Any other (a newer library's) is nothing to this reader;
            // libmsb passes over what it does not know itself.
            _ => Raw::Other,
        }))
    }

    /// Takes an event into the reader's state.
    pub(crate) fn absorb(&mut self, raw: Raw) {
        match raw {
            Raw::Started(pid) => {
                self.pid = pid;
                self.started = true;
            }
            Raw::Out(i, data) => {
                if let Some(f) = &mut self.sinks[i] {
                    f(&data);
                } else if self.as_events {
                    self.events.push_back(if i == 0 { ExecEvent::Stdout(data) } else { ExecEvent::Stderr(data) });
                } else if !self.discard[i] {
                    self.pending[i].extend(data);
                }
            }
            Raw::Paused(why) => {
                if self.as_events {
                    self.events.push_back(ExecEvent::Paused(why.clone()));
                }
                self.paused = Some(why);
            }
            Raw::Resumed(said) => {
                if self.as_events {
                    self.events.push_back(ExecEvent::Resumed(said));
                }
                self.paused = None;
            }
            Raw::Other => {}
            Raw::Exit(r) => {
                self.paused = None;
                if self.as_events {
                    self.events.push_back(ExecEvent::Exit(r.clone()));
                }
                self.result = Some(r);
            }
        }
    }

    /// Drains every event there is now (msb_exec_next with a zero
    /// timeout until it has none). Returns whether any came.
    pub(crate) fn drain(&mut self) -> Result<bool> {
        let mut any = false;
        while !self.over() {
            match self.next_raw(0) {
                Ok(Some(raw)) => {
                    self.absorb(raw);
                    any = true;
                }
                Ok(None) => break,
                Err(e) => {
                    self.failed = Some(e);
                    any = true;
                }
            }
        }
        Ok(any)
    }

    /// Waits for the next event (blocking API).
    pub(crate) fn step_blocking(&mut self) {
        match self.next_raw(-1) {
            Ok(Some(raw)) => self.absorb(raw),
            Ok(None) => {}
            Err(e) => self.failed = Some(e),
        }
    }

    /// Takes up to @buf.len() bytes of stream @i's pending output.
    pub(crate) fn take(&mut self, i: usize, buf: &mut [u8]) -> usize {
        let p = &mut self.pending[i];
        let n = buf.len().min(p.len());
        for (dst, src) in buf.iter_mut().zip(p.drain(..n)) {
            *dst = src;
        }
        n
    }

    /// The end of the command: its result (with @check), or its failure.
    pub(crate) fn finish(&mut self, check: bool) -> Result<ExecResult> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        let r = self.result.clone().expect("finish after the end");
        if check {
            return r.check();
        }
        Ok(r)
    }

    /// Keeps output as events in order (next_event) from now on.
    pub(crate) fn to_events(&mut self) {
        if self.as_events {
            return;
        }
        self.as_events = true;
        for (i, p) in self.pending.iter_mut().enumerate() {
            if !p.is_empty() {
                let data: Vec<u8> = p.drain(..).collect();
                self.events.push_back(if i == 0 { ExecEvent::Stdout(data) } else { ExecEvent::Stderr(data) });
            }
        }
        // A command that ended before its events were asked for (a short
        // one, read to its end while it was being spawned): its exit is
        // the last event, not lost.
        if let Some(r) = &self.result {
            self.events.push_back(ExecEvent::Exit(r.clone()));
        }
    }

    /// Keeps output per stream (readers) from now on.
    pub(crate) fn to_streams(&mut self) {
        if !self.as_events {
            return;
        }
        self.as_events = false;
        for ev in self.events.drain(..) {
            match ev {
                ExecEvent::Stdout(d) => self.pending[0].extend(d),
                ExecEvent::Stderr(d) => self.pending[1].extend(d),
                // (paused() keeps the last word of these.)
                ExecEvent::Paused(_) | ExecEvent::Resumed(_) | ExecEvent::Exit(_) => {}
            }
        }
    }

    /// The error a stream read gets after the command failed.
    pub(crate) fn failure(&self) -> Option<Error> {
        self.failed.as_ref().map(|e| Error::new(e.code(), self.exec.op.clone(), e.to_string()))
    }
}

// ---- files ------------------------------------------------------------------------

/// One streaming file operation's libmsb handle (its own connection).
#[cfg_attr(not(feature = "tokio"), allow(dead_code))]
pub(crate) struct FileStream {
    h: *mut sys::msb_file,
    pub(crate) fd: RawFd,
    /// As ExecHandle's.
    #[cfg(feature = "tokio")]
    pub(crate) afd: Option<tokio::io::unix::AsyncFd<RawFd>>,
    pub(crate) op: String,
    /// DONE was read: its size.
    pub(crate) done: Option<u64>,
    pub(crate) failed: Option<Error>,
    pub(crate) writing: bool,
}

// SAFETY: one owner uses it at a time (&mut).
unsafe impl Send for FileStream {}
unsafe impl Sync for FileStream {}

impl Drop for FileStream {
    fn drop(&mut self) {
        #[cfg(feature = "tokio")]
        drop(self.afd.take());
        // SAFETY: ours, freed once; an operation not DONE is abandoned.
        unsafe { sys::msb_file_free(self.h) }
    }
}

/// An event of a file stream (a LIST stream's entries are not read here:
/// lists come whole, msb_file_list).
#[allow(dead_code)]
pub(crate) enum FileRaw {
    Data(Vec<u8>),
    Entry(FileInfo),
    Done(u64),
}

impl FileStream {
    pub(crate) fn open(sb: &SandboxCore, op_kind: sys::msb_file_op, path: &str, o: &FileOptions) -> Result<FileStream> {
        let what = match op_kind {
            sys::MSB_FILE_READ => "read",
            sys::MSB_FILE_WRITE => "write",
            _ => "list",
        };
        let op = format!("{what} {path}");
        let h = sb.handle(&op)?;
        let mut a = CArgs::new();
        let p = with_op(a.str(path), &op)?;
        let co = with_op(o.to_c(&mut a), &op)?;
        let mut f = ptr::null_mut();
        check(|| op.clone(), |e| unsafe { sys::msb_file_open(h.ptr(), op_kind, p, &co, &mut f, e) })?;
        // SAFETY: a live handle.
        let fd = unsafe { sys::msb_file_fd(f) };
        Ok(FileStream {
            h: f,
            fd,
            #[cfg(feature = "tokio")]
            afd: None,
            op,
            done: None,
            failed: None,
            writing: op_kind == sys::MSB_FILE_WRITE,
        })
    }

    /// The next event within @timeout_ms (0: what is there, -1: waits).
    pub(crate) fn next(&mut self, timeout_ms: i32) -> Result<Option<FileRaw>> {
        if let Some(e) = &self.failed {
            return Err(Error::new(e.code(), self.op.clone(), failure_message(e)));
        }
        // SAFETY: a plain C struct.
        let mut ev: sys::msb_file_event = unsafe { std::mem::zeroed() };
        let mut e = cerr();
        // SAFETY: we are its one user.
        let r = unsafe { sys::msb_file_next(self.h, &mut ev, timeout_ms, &mut e) };
        if r < 0 {
            let err = Error::from_c(self.op.clone(), r, &e);
            self.failed = Some(Error::new(err.code(), self.op.clone(), failure_message(&err)));
            return Err(err);
        }
        if r == 0 {
            return Ok(None);
        }
        Ok(Some(match ev.type_ {
            sys::MSB_FILE_DATA => FileRaw::Data(if ev.len == 0 {
                Vec::new()
            } else {
                // SAFETY: @len bytes valid until the next call.
                unsafe { std::slice::from_raw_parts(ev.data, ev.len) }.to_vec()
            }),
            // SAFETY: valid until the next call.
            sys::MSB_FILE_ENTRY => FileRaw::Entry(FileInfo::from_c(unsafe { &*ev.entry }, None)),
            _ => {
                self.done = Some(ev.size);
                FileRaw::Done(ev.size)
            }
        }))
    }

    /// Sends up to one chunk of a write; returns the bytes taken. Blocks
    /// while the socket is full.
    pub(crate) fn write_chunk(&mut self, data: &[u8]) -> Result<usize> {
        if let Some(e) = &self.failed {
            return Err(Error::new(e.code(), self.op.clone(), failure_message(e)));
        }
        let n = data.len().min(STDIN_CHUNK);
        if n == 0 {
            return Ok(0);
        }
        let mut e = cerr();
        // SAFETY: @n bytes of ours; we are its one user.
        let r = unsafe { sys::msb_file_write(self.h, data.as_ptr().cast(), n, &mut e) };
        if r < 0 {
            let err = Error::from_c(self.op.clone(), r, &e);
            self.failed = Some(Error::new(err.code(), self.op.clone(), failure_message(&err)));
            return Err(err);
        }
        Ok(n)
    }

    /// Ends a write's data (DONE follows).
    pub(crate) fn close_write(&mut self) -> Result<()> {
        if !self.writing {
            return Ok(());
        }
        self.writing = false;
        let op = self.op.clone();
        check(|| op, |e| unsafe { sys::msb_file_close_write(self.h, e) })?;
        Ok(())
    }
}

fn failure_message(e: &Error) -> String {
    e.failure().map_or_else(|| e.to_string(), |f| f.message.clone())
}

/// A one-shot file operation on sandbox @sb: @f gets the handle, the
/// options in C and an arena.
pub(crate) fn file_call<T>(
    sb: &SandboxCore,
    op: String,
    o: &FileOptions,
    f: impl FnOnce(*mut sys::msb_sandbox, &sys::msb_file_opts, &mut CArgs, *mut sys::msb_error) -> Result<(c_int, T)>,
) -> Result<T> {
    let h = sb.handle(&op)?;
    let mut a = CArgs::new();
    let co = with_op(o.to_c(&mut a), &op)?;
    let mut e = cerr();
    let (r, v) = with_op(f(h.ptr(), &co, &mut a, &mut e), &op)?;
    if r < 0 {
        return Err(Error::from_c(op, r, &e));
    }
    Ok(v)
}

pub(crate) fn file_stat(sb: &SandboxCore, path: &str, o: &FileOptions) -> Result<FileInfo> {
    let verb = if o.nofollow { "lstat" } else { "stat" };
    let mut info: Box<sys::msb_file_info> = Box::new(unsafe { std::mem::zeroed() });
    file_call(sb, format!("{verb} {path}"), o, |h, co, a, e| {
        let p = a.str(path)?;
        Ok((unsafe { sys::msb_file_stat(h, p, co, &mut *info, e) }, ()))
    })?;
    Ok(FileInfo::from_c(&info, Some(path)))
}

pub(crate) fn file_exists(sb: &SandboxCore, path: &str, o: &FileOptions) -> Result<bool> {
    file_call(sb, format!("exists {path}"), o, |h, co, a, e| {
        let p = a.str(path)?;
        let r = unsafe { sys::msb_file_exists(h, p, co, e) };
        Ok((r.min(0), r == 1))
    })
}

pub(crate) fn file_list(sb: &SandboxCore, path: &str, o: &FileOptions) -> Result<Vec<FileInfo>> {
    let mut arr: *mut sys::msb_file_info = ptr::null_mut();
    let mut n = 0usize;
    file_call(sb, format!("list {path}"), o, |h, co, a, e| {
        let p = a.str(path)?;
        Ok((unsafe { sys::msb_file_list(h, p, co, &mut arr, &mut n, e) }, ()))
    })?;
    // SAFETY: @n entries, malloc'ed.
    Ok(unsafe { take_array(arr, n, |c| FileInfo::from_c(c, None)) })
}

pub(crate) fn file_mkdir(sb: &SandboxCore, path: &str, o: &FileOptions) -> Result<()> {
    file_call(sb, format!("mkdir {path}"), o, |h, co, a, e| {
        let p = a.str(path)?;
        Ok((unsafe { sys::msb_file_mkdir(h, p, co, e) }, ()))
    })
}

pub(crate) fn file_remove(sb: &SandboxCore, path: &str, o: &FileOptions) -> Result<()> {
    file_call(sb, format!("remove {path}"), o, |h, co, a, e| {
        let p = a.str(path)?;
        Ok((unsafe { sys::msb_file_remove(h, p, co, e) }, ()))
    })
}

pub(crate) fn file_rename(sb: &SandboxCore, from: &str, to: &str, o: &FileOptions) -> Result<()> {
    file_call(sb, format!("rename {from}"), o, |h, co, a, e| {
        let f = a.str(from)?;
        let t = a.str(to)?;
        Ok((unsafe { sys::msb_file_rename(h, f, t, co, e) }, ()))
    })
}

pub(crate) fn file_symlink(sb: &SandboxCore, target: &str, path: &str, o: &FileOptions) -> Result<()> {
    file_call(sb, format!("symlink {path}"), o, |h, co, a, e| {
        let t = a.str(target)?;
        let p = a.str(path)?;
        Ok((unsafe { sys::msb_file_symlink(h, t, p, co, e) }, ()))
    })
}

pub(crate) fn copy(sb: &SandboxCore, from: &str, to: &str, inbound: bool, o: &CopyOptions) -> Result<()> {
    let op = if inbound { format!("copy {from} in") } else { format!("copy {from} out") };
    let fo = FileOptions { user: o.user.clone(), ..FileOptions::default() };
    file_call(sb, op, &fo, |h, co, a, e| {
        let f = a.str(from)?;
        let t = a.str(to)?;
        let r = progress::with(o.progress.as_ref(), |progress, ctx| {
            let c = sys::msb_copy_opts { user: co.user, progress, ctx };
            unsafe {
                if inbound {
                    sys::msb_copy_in(h, f, t, &c, e)
                } else {
                    sys::msb_copy_out(h, f, t, &c, e)
                }
            }
        });
        Ok((r, ()))
    })
}
