// SPDX-License-Identifier: Apache-2.0
//! Projects: the sandboxes and named volumes of a Sandboxfile, brought up
//! and down together (`msb project`; docs/projects.md). The calls into
//! libmsb's `msb_project_*`, blocking, shared by [`crate::Project`] and
//! [`crate::blocking::Project`], and the types both use.

use std::ffi::{c_char, c_void, CStr};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::ptr;
use std::time::Duration;

use microsandbox_sys as sys;

use crate::core;
use crate::cstr::{check, from_chars, lossy, take_malloced, with_op, CArgs};
use crate::error::{Error, Failure, Result};
use crate::progress::{self, report, Callback};

/// A sandbox of the file: its key there and its sandbox's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectSandbox {
    /// "api".
    pub key: String,
    /// "my-project-api".
    pub name: String,
}

/// A step of up, down, stop or restart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectEvent {
    /// Its key in the file; `None` for a volume or a sandbox no longer in it.
    pub sandbox: Option<String>,
    /// The sandbox's or the volume's name.
    pub name: String,
    /// "creating", "created", "up-to-date", "waiting", "healthy",
    /// "stopped", "removed", "volume created", ... (msb.h's
    /// `msb_project_event`).
    pub what: String,
    /// How long a finished step took.
    pub duration: Duration,
    /// More, when there is.
    pub detail: Option<String>,
}

/// A line of `ps`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectEntry {
    /// Its key in the file.
    pub key: String,
    /// The sandbox's name.
    pub name: String,
    /// As [`crate::SandboxInfo`]'s, or "missing".
    pub status: String,
    /// "current", "changed" (up recreates it), "missing" (up makes it) or
    /// "orphan" (no longer in the file: down removes it).
    pub state: String,
    /// Its image (or snapshot, when missing).
    pub image: String,
}

/// How up, down, stop and restart go (their `_with` forms take a closure
/// that sets these).
#[derive(Clone, Default)]
pub struct ProjectOptions {
    only: Vec<String>,
    stop_timeout: Option<Duration>,
    volumes: bool,
    progress: Option<Callback<ProjectEvent>>,
}

impl ProjectOptions {
    /// Up: these keys and what they depend on; stop, restart: these.
    pub fn only<I, S>(mut self, keys: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.only.extend(keys.into_iter().map(Into::into));
        self
    }

    /// How long each guest gets to power off before it is killed
    /// (default 10 s).
    pub fn stop_timeout(mut self, d: Duration) -> Self {
        self.stop_timeout = Some(d);
        self
    }

    /// Down: remove the named volumes the project made too (kept
    /// otherwise).
    pub fn volumes(mut self, on: bool) -> Self {
        self.volumes = on;
        self
    }

    /// Called with each step as it happens, one call at a time, from the
    /// threads that start sandboxes. A panic of @f is resumed once the
    /// call has returned (@f is not called again meanwhile).
    pub fn progress(mut self, f: impl Fn(&ProjectEvent) + Send + Sync + 'static) -> Self {
        self.progress = Some(Callback::new(f));
        self
    }
}

/// A Sandboxfile that cannot be used, and where, as [`Error::Sandboxfile`]
/// carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxfileError {
    /// The file the message names.
    pub file: PathBuf,
    /// Its line, from 1.
    pub line: u32,
    /// Its column, from 1.
    pub column: u32,
    /// libmsb's code (`MSB_E_INVALID`) and message ("FILE:LINE:COL: ...").
    pub failure: Failure,
}

impl std::fmt::Display for SandboxfileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.failure.fmt(f)
    }
}

impl std::error::Error for SandboxfileError {}

/// "FILE:LINE:COL: what", as src/lib/sandboxfile.c writes its messages:
/// the first ":LINE:COL: " after a non-empty file.
fn locate(message: &str) -> Option<(PathBuf, u32, u32)> {
    let mut from = 0;
    while let Some(i) = message[from..].find(':').map(|i| i + from) {
        let rest = &message[i + 1..];
        let mut parts = rest.splitn(3, ':');
        if let (Some(l), Some(c), Some(tail)) = (parts.next(), parts.next(), parts.next()) {
            if i > 0 && tail.starts_with(' ') {
                if let (Ok(l), Ok(c)) = (l.parse(), c.parse()) {
                    return Some((PathBuf::from(&message[..i]), l, c));
                }
            }
        }
        from = i + 1;
    }
    None
}

/// @e as an [`Error::Sandboxfile`] when its message names a place in a file.
fn located(e: Error) -> Error {
    match e {
        Error::Invalid(f) => match locate(&f.message) {
            Some((file, line, column)) => {
                Error::Sandboxfile(Box::new(SandboxfileError { file, line, column, failure: f }))
            }
            None => Error::Invalid(f),
        },
        e => e,
    }
}

/// Which call of the project.
#[derive(Clone, Copy)]
pub(crate) enum Call {
    Up,
    Down,
    Stop,
    Restart,
}

/// A loaded Sandboxfile (immutable once loaded: libmsb's calls taking it
/// only read it).
pub(crate) struct ProjectCore {
    p: *mut sys::msb_project,
    pub(crate) name: String,
    pub(crate) file: PathBuf,
    pub(crate) sandboxes: Vec<ProjectSandbox>,
}

// SAFETY: an msb_project is not changed after it is loaded; up, down, ps
// and the rest take it const.
unsafe impl Send for ProjectCore {}
unsafe impl Sync for ProjectCore {}

impl Drop for ProjectCore {
    fn drop(&mut self) {
        // SAFETY: ours, freed once.
        unsafe { sys::msb_project_free(self.p) }
    }
}

fn path_str<'a>(p: &'a Path, op: &str) -> Result<&'a str> {
    p.to_str()
        .ok_or_else(|| Error::invalid(op, format!("{} is not UTF-8, which a Sandboxfile's path must be", p.display())))
}

impl ProjectCore {
    fn wrap(p: *mut sys::msb_project) -> ProjectCore {
        // SAFETY: a loaded project; the strings live as long as it.
        let (name, file, n) = unsafe {
            (
                lossy(sys::msb_project_name(p)).unwrap_or_default(),
                PathBuf::from(std::ffi::OsStr::from_bytes(CStr::from_ptr(sys::msb_project_file(p)).to_bytes())),
                sys::msb_project_count(p),
            )
        };
        let sandboxes = (0..n)
            .map(|i| {
                let mut name = ptr::null();
                // SAFETY: i < count.
                let key = unsafe { sys::msb_project_sandbox(p, i, &mut name) };
                ProjectSandbox { key: lossy(key).unwrap_or_default(), name: lossy(name).unwrap_or_default() }
            })
            .collect();
        ProjectCore { p, name, file, sandboxes }
    }

    pub(crate) fn load(path: Option<&Path>) -> Result<ProjectCore> {
        let op = match path {
            Some(p) => format!("load project {}", p.display()),
            None => "load project".to_owned(),
        };
        let mut a = CArgs::new();
        let cpath = match path {
            Some(p) => with_op(a.str(path_str(p, &op)?), &op)?,
            None => ptr::null(),
        };
        let mut p = ptr::null_mut();
        check(|| op.clone(), |e| unsafe { sys::msb_project_load(cpath, &mut p, e) }).map_err(located)?;
        Ok(ProjectCore::wrap(p))
    }

    pub(crate) fn parse(text: &str, path: &Path) -> Result<ProjectCore> {
        let op = format!("parse project {}", path.display());
        let mut a = CArgs::new();
        let cpath = with_op(a.str(path_str(path, &op)?), &op)?;
        let mut p = ptr::null_mut();
        check(|| op.clone(), |e| unsafe { sys::msb_project_parse(text.as_ptr().cast(), text.len(), cpath, &mut p, e) })
            .map_err(located)?;
        Ok(ProjectCore::wrap(p))
    }

    pub(crate) fn config(&self) -> Result<String> {
        let mut js = ptr::null_mut();
        check(|| "project config".into(), |e| unsafe { sys::msb_project_config_json(self.p, &mut js, e) })?;
        // SAFETY: malloc'ed by libmsb, ours.
        Ok(unsafe { take_malloced(js) })
    }

    pub(crate) fn call(&self, what: Call, o: &ProjectOptions) -> Result<()> {
        let op = match what {
            Call::Up => "project up",
            Call::Down => "project down",
            Call::Stop => "project stop",
            Call::Restart => "project restart",
        };
        if let Some(k) = o.only.iter().find(|k| k.is_empty()) {
            return Err(Error::invalid(op, format!("a sandbox is named by its key in the Sandboxfile, not {k:?}")));
        }
        let mut a = CArgs::new();
        // SAFETY: a plain C struct, set by msb_project_opts_init.
        let mut co: sys::msb_project_opts = unsafe { std::mem::zeroed() };
        unsafe { sys::msb_project_opts_init(&mut co) };
        co.only = with_op(a.strv_or_null(&o.only), op)?;
        if let Some(d) = o.stop_timeout {
            co.stop_timeout_s = d.as_secs().min(u32::MAX as u64) as u32;
        }
        co.volumes = o.volumes as i32;
        progress::with(o.progress.as_ref(), |cb, ctx| {
            co.progress = cb;
            co.ctx = ctx;
            check(
                || op.to_owned(),
                |e| unsafe {
                    match what {
                        Call::Up => sys::msb_project_up(self.p, &co, e),
                        Call::Down => sys::msb_project_down(self.p, &co, e),
                        Call::Stop => sys::msb_project_stop(self.p, &co, e),
                        Call::Restart => sys::msb_project_restart(self.p, &co, e),
                    }
                },
            )
        })
        .map_err(located)?;
        Ok(())
    }

    pub(crate) fn ps(&self) -> Result<Vec<ProjectEntry>> {
        let mut arr: *mut sys::msb_project_entry = ptr::null_mut();
        let mut n = 0usize;
        check(|| "project ps".into(), |e| unsafe { sys::msb_project_ps(self.p, &mut arr, &mut n, e) })?;
        // SAFETY: @n of them, malloc'ed, ours.
        let out = (0..n)
            .map(|i| {
                let e = unsafe { &*arr.add(i) };
                ProjectEntry {
                    key: from_chars(&e.key),
                    name: from_chars(&e.name),
                    status: from_chars(&e.status),
                    state: from_chars(&e.state),
                    image: from_chars(&e.image),
                }
            })
            .collect();
        unsafe { libc::free(arr.cast()) };
        Ok(out)
    }

    /// The sandbox name of key @key.
    pub(crate) fn sandbox_name(&self, key: &str) -> Result<String> {
        match self.sandboxes.iter().find(|s| s.key == key) {
            Some(s) => Ok(s.name.clone()),
            None => Err(Error::invalid(
                format!("project sandbox {key}"),
                format!(
                    "no sandbox '{key}' in {}: it has {}",
                    self.file.display(),
                    self.sandboxes.iter().map(|s| s.key.as_str()).collect::<Vec<_>>().join(", ")
                ),
            )),
        }
    }

    /// The argv of script @script of sandbox @key.
    pub(crate) fn script(&self, key: &str, script: &str) -> Result<Vec<String>> {
        let op = format!("project run {key} {script}");
        let mut a = CArgs::new();
        let k = with_op(a.str(key), &op)?;
        let s = with_op(a.str(script), &op)?;
        let mut argv: *mut *mut c_char = ptr::null_mut();
        check(|| op.clone(), |e| unsafe { sys::msb_project_script(self.p, k, s, &mut argv, e) })?;
        let mut words = Vec::new();
        // SAFETY: a NULL-terminated vector in one allocation, ours.
        unsafe {
            let mut i = 0;
            while !(*argv.add(i)).is_null() {
                words.push(CStr::from_ptr(*argv.add(i)).to_string_lossy().into_owned());
                i += 1;
            }
            libc::free(argv.cast());
        }
        Ok(words)
    }

    /// The log of @key's sandbox; its last @tail lines with one.
    pub(crate) fn logs(&self, key: &str, tail: Option<usize>) -> Result<String> {
        let path = core::get(&self.sandbox_name(key)?)?.log_path()?;
        let text = String::from_utf8_lossy(&std::fs::read(path)?).into_owned();
        Ok(match tail {
            None => text,
            Some(n) => {
                let lines: Vec<&str> = text.split_inclusive('\n').collect();
                lines[lines.len().saturating_sub(n)..].concat()
            }
        })
    }
}

unsafe extern "C" fn on_event(ctx: *mut c_void, e: *const sys::msb_project_event) {
    report(ctx, || {
        let e = &*e;
        ProjectEvent {
            sandbox: lossy(e.sandbox),
            name: lossy(e.name).unwrap_or_default(),
            what: lossy(e.what).unwrap_or_default(),
            duration: Duration::from_millis(e.ms),
            detail: lossy(e.detail),
        }
    })
}

impl progress::Event for ProjectEvent {
    type CFn = sys::msb_project_progress_fn;
    const TRAMPOLINE: Self::CFn = Some(on_event);
}

#[cfg(test)]
mod tests {
    use super::locate;
    use std::path::PathBuf;

    #[test]
    fn locates_file_line_column() {
        assert_eq!(
            locate("/a:b/Sandboxfile:8:13: sandboxes.api.memory: bad"),
            Some((PathBuf::from("/a:b/Sandboxfile"), 8, 13))
        );
        assert_eq!(locate("no sandbox 'x' in /p/Sandboxfile"), None);
        assert_eq!(locate(":1:2: x"), None);
    }
}
