// SPDX-License-Identifier: Apache-2.0
//! The blocking API: every call returns when it is done, and waits on
//! the calling thread. It is what the async API is built on, and needs no
//! runtime.
//!
//! ```no_run
//! use microsandbox::blocking::Sandbox;
//!
//! let sb = Sandbox::builder("hello").create()?; // the built-in image
//! let out = sb.exec("uname -r")?;
//! println!("{} {}", out.exit_code, out.stdout_str());
//! sb.fs().write("/tmp/note.txt", b"hi\n")?;
//! # Ok::<(), microsandbox::Error>(())
//! ```
//!
//! Dropping a [`Sandbox`] that `create()` made removes the sandbox (unless
//! it was built with `keep()`); one got with [`Sandbox::get`] is only
//! released.

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use microsandbox_sys as sys;

use crate::command::{command_options, ExecEvent, ExecResult, ExecSpec};
use crate::config::{
    Blocking, ImageLoadOptions, ImagePullOptions, LoginOptions, RestoreOptions, StopOptions, SyncOptions,
};
use crate::core::{self, poll_wait, ExecHandle, ExecReader, FileRaw, FileStream, SandboxCore};
use crate::error::{from_io, Error, Result};
use crate::files::{CopyOptions, FileInfo, FileOptions};
use crate::info::{ImageInfo, PortMapping, SandboxInfo, SnapshotInfo, Stats, SyncInfo};

pub use crate::events::EventStream;

/// Builds a blocking [`Sandbox`].
pub type SandboxBuilder = crate::config::SandboxBuilder<Blocking>;

/// The host as code inside a sandbox sees it, in the blocking API
/// ([`Sandbox::current_runtime`]): its calls wait on the calling thread.
pub type Runtime = crate::runtime::Runtime<Blocking>;

/// A peer sandbox, in the blocking API.
pub type Peer = crate::runtime::Peer<Blocking>;

/// Builds a peer, in the blocking API: `rt.start(name)`, options, then
/// `create()`.
pub type PeerBuilder = crate::runtime::PeerBuilder<Blocking>;

/// A command to run in a peer, in the blocking API.
pub type PeerCommand<'a> = crate::runtime::PeerCommand<'a, Blocking>;

/// How long `stop()` waits for the guest to power off before killing it.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);

impl SandboxBuilder {
    /// Creates the sandbox and boots it; returns once its guest runs
    /// commands. A boot that fails ([`Error::BootFailed`]) leaves the
    /// sandbox, failed, with its log, unless it is ephemeral.
    pub fn create(self) -> Result<Sandbox> {
        Ok(Sandbox { core: core::create(&self.name, self.cfg, None)? })
    }
}

/// A sandbox: a microVM with its own kernel, owned by a supervisor process
/// of its own (no daemon). Its methods may be called from many threads at
/// once (it is `Sync`); each command and file stream has its own
/// connection.
pub struct Sandbox {
    pub(crate) core: SandboxCore,
}

impl Sandbox {
    /// Inside a sandbox, the [`Runtime`] that starts peer sandboxes
    /// beside it when the host allows it (docs/spawn.md), over the sandbox
    /// agent's socket, without libmsb. Outside one it fails with
    /// [`Error::NotSupported`] ("not inside a microsandbox sandbox"): it
    /// never spawns anything by accident.
    pub fn current_runtime() -> Result<Runtime> {
        crate::runtime::current_runtime()
    }

    /// A builder for the sandbox @name (1-63 of `[a-zA-Z0-9_.-]`,
    /// starting with a letter or digit).
    pub fn builder(name: impl Into<String>) -> SandboxBuilder {
        SandboxBuilder::new(name)
    }

    /// A handle on the existing sandbox @name, running or not
    /// ([`Error::NotFound`] if there is none). Dropping it leaves the
    /// sandbox as it is.
    pub fn get(name: &str) -> Result<Sandbox> {
        Ok(Sandbox { core: core::get(name)? })
    }

    /// Every sandbox, running or not.
    pub fn list() -> Result<Vec<SandboxInfo>> {
        core::list()
    }

    /// Every running sandbox's numbers (with @all, every sandbox's).
    pub fn stats_all(all: bool) -> Result<Vec<Stats>> {
        core::stats_all(all)
    }

    /// The sandbox's name.
    pub fn name(&self) -> &str {
        &self.core.name
    }

    /// How long the boot (or restore) that made this handle took; zero
    /// for a handle got by name.
    pub fn boot_time(&self) -> Duration {
        self.core.boot_time()
    }

    /// Its record now.
    pub fn info(&self) -> Result<SandboxInfo> {
        self.core.info()
    }

    /// The sandbox that spawned this one from inside it (`msb ps`'s
    /// PARENT; see [`SandboxBuilder::allow_spawn`]), or `None` for one
    /// the host made.
    pub fn parent(&self) -> Result<Option<String>> {
        core::parent(&self.core.name)
    }

    /// Its full state as the JSON document `msb inspect` prints.
    pub fn inspect(&self) -> Result<String> {
        self.core.inspect()
    }

    /// Boots the stopped (or failed) sandbox again with its disk as it
    /// was; starting a running one is no error.
    pub fn start(&self) -> Result<()> {
        self.core.start()
    }

    /// Powers the guest off: its processes get SIGTERM, and it is killed
    /// after [`STOP_TIMEOUT`]. A sandbox that syncs pushes itself then
    /// (`stop_with` tells how that goes and what it pushed). Stopping a
    /// stopped sandbox is no error.
    pub fn stop(&self) -> Result<()> {
        self.stop_with(|o| o).map(drop)
    }

    /// `stop` with another grace period (whole seconds).
    pub fn stop_timeout(&self, grace: Duration) -> Result<()> {
        self.stop_with(|o| o.timeout(grace)).map(drop)
    }

    /// `stop` with options: `|o| o.timeout(d).progress(f)`. For a sandbox
    /// that syncs, the push that follows is reported to the progress
    /// closure, and is what this returns (`None` when no push was tried,
    /// as for a sandbox that does not sync or was stopped already). A push
    /// that fails leaves the sandbox stopped and is the error.
    pub fn stop_with(&self, f: impl FnOnce(StopOptions) -> StopOptions) -> Result<Option<SyncInfo>> {
        self.core.stop("stop", &f(StopOptions::default()))
    }

    /// Stops it at once, without a grace period.
    pub fn kill(&self) -> Result<()> {
        self.core.stop("kill", &StopOptions::default().timeout(Duration::ZERO)).map(drop)
    }

    /// Deletes the sandbox and its disk, killing it first if it runs; the
    /// handle is closed with it.
    pub fn remove(&self) -> Result<()> {
        self.core.remove()
    }

    /// Ends the handle now (dropping it does the same): a sandbox
    /// `create()` made is removed unless it was built with `keep()`. Calls
    /// on the handle then fail with [`Error::Closed`].
    pub fn close(&self) -> Result<()> {
        self.core.close()
    }

    /// Waits until the sandbox's detached command (`cmd`, `image_cmd`)
    /// has ended and returns its exit status; without one, until the
    /// sandbox is no longer running (0).
    pub fn wait(&self) -> Result<i32> {
        self.core.wait()
    }

    /// The file holding the guest's console, the agent's messages and
    /// detached commands' output (`msb logs`).
    pub fn log_path(&self) -> Result<PathBuf> {
        self.core.log_path()
    }

    /// Its published ports as bound, while it runs.
    pub fn ports(&self) -> Result<Vec<PortMapping>> {
        self.core.ports()
    }

    /// What it uses now (waits up to about a second for the guest's part).
    pub fn stats(&self) -> Result<Stats> {
        self.core.stats()
    }

    /// Its events (docs/events.md) on @topic (None: all; or "prefix.*"):
    /// from @since (-1: only those to come, 0: the oldest kept, or a seq),
    /// with @follow until it stops.
    pub fn events(&self, topic: Option<&str>, since: i64, follow: bool) -> Result<EventStream> {
        EventStream::open(&self.core.name, topic, since, follow)
    }

    /// Sends an event to its programs (`msb event wait TOPIC` inside);
    /// @data_json is one JSON value. Returns the event's seq.
    pub fn emit(&self, topic: &str, data_json: &str) -> Result<u64> {
        crate::events::emit(&self.core.name, topic, data_json)
    }

    /// Runs the command line @line (split into words by
    /// [`split_command`](crate::split_command)'s rule: quotes, no
    /// expansion) and waits for it, capturing its output. A non-zero exit
    /// is data, not an error (see [`Command::check`]).
    pub fn exec(&self, line: &str) -> Result<ExecResult> {
        self.command_line(line).output()
    }

    /// Runs @argv as it is (no splitting) and waits for it.
    pub fn exec_args<I, S>(&self, argv: I) -> Result<ExecResult>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Command { sb: self, spec: ExecSpec::argv(argv) }.output()
    }

    /// Runs @script with `sh -c` (pipes, redirections, variables) and
    /// waits for it.
    pub fn shell(&self, script: &str) -> Result<ExecResult> {
        Command { sb: self, spec: ExecSpec::shell(script) }.output()
    }

    /// A command of @program, to add arguments and options to.
    pub fn command(&self, program: &str) -> Command<'_> {
        Command { sb: self, spec: ExecSpec::program(program) }
    }

    /// A command from a command line (as `exec` splits it), to add
    /// options to.
    pub fn command_line(&self, line: &str) -> Command<'_> {
        Command { sb: self, spec: ExecSpec::line(line) }
    }

    /// The sandbox's files.
    pub fn fs(&self) -> Fs<'_> {
        Fs { sb: self }
    }

    /// Snapshots the sandbox as @name: a running one is paused while its
    /// memory, CPU and device state and its disk are saved at one instant,
    /// then goes on untouched; a stopped one, or one with volumes, gives a
    /// disk-only snapshot.
    pub fn snapshot_named(&self, name: &str) -> Result<Snapshot> {
        let info = self.core.snapshot(name)?;
        Ok(Snapshot::named(info.name))
    }

    /// Snapshots the sandbox (as `snapshot_named`) under a generated name
    /// ("snap-NAME-..."); [`Snapshot::save_named`] gives it a name of yours.
    pub fn snapshot(&self) -> Result<Snapshot> {
        self.snapshot_named(&core::generated_snapshot_name(self.name()))
    }

    /// Pushes the sandbox to its remote (docs/sync.md: `msb push`): a
    /// running one as it is at one instant. Only what the registry lacks
    /// is sent.
    pub fn push(&self) -> Result<SyncInfo> {
        self.push_with(|o| o)
    }

    /// `push` with options: `|o| o.to("registry/repo:tag").force()`,
    /// `progress(f)`.
    pub fn push_with(&self, f: impl FnOnce(SyncOptions) -> SyncOptions) -> Result<SyncInfo> {
        self.core.check_open("push")?;
        core::push(self.name(), &f(SyncOptions::default()))
    }

    /// Fetches the sandbox pushed as @reference (a bare NAME under the
    /// remote, or `REGISTRY/REPO[:TAG]`) as a stopped sandbox here (`start`
    /// boots it). Dropping the handle leaves it.
    pub fn pull(reference: &str) -> Result<Sandbox> {
        Ok(Sandbox::pull_with(reference, |o| o)?.0)
    }

    /// `pull` with options (`name`, `force`, `trust`, `progress`), and
    /// what it did.
    pub fn pull_with(reference: &str, f: impl FnOnce(SyncOptions) -> SyncOptions) -> Result<(Sandbox, SyncInfo)> {
        let info = core::pull(reference, &f(SyncOptions::default()))?;
        Ok((Sandbox { core: SandboxCore::new(info.name.clone(), None, false) }, info))
    }

    /// With @on, the sandbox pushes itself whenever `stop` stops it
    /// (`msb run --sync`).
    pub fn set_sync(&self, on: bool) -> Result<()> {
        core::set_sync(self.name(), on)
    }
}

/// A command to run in a sandbox: arguments and options, then
/// [`Command::output`] (run, wait, capture), [`Command::spawn`] (a
/// streamed [`Process`]) or [`Command::detach`].
#[must_use = "a command does nothing until output(), spawn() or detach()"]
pub struct Command<'a> {
    sb: &'a Sandbox,
    spec: ExecSpec,
}

impl<'a> Command<'a> {
    command_options!();

    /// Runs the command and waits for it, capturing stdout and stderr
    /// (or giving them to the `on_stdout` / `on_stderr` callbacks).
    pub fn output(mut self) -> Result<ExecResult> {
        let exec = Arc::new(ExecHandle::start(&self.sb.core, &self.spec)?);
        let mut r = ExecReader::new(exec);
        r.sinks = [self.spec.on_stdout.take(), self.spec.on_stderr.take()];
        let mut feed = self.spec.stdin.take().map(Feed::new);
        while !r.over() {
            step(&mut r, &mut feed);
        }
        let mut res = r.finish(false)?;
        res.stdout = r.pending[0].drain(..).collect();
        res.stderr = r.pending[1].drain(..).collect();
        if self.spec.check {
            return res.check();
        }
        Ok(res)
    }

    /// Starts the command and returns once it runs (or with
    /// [`Error::ExecFailed`] if the guest could not start it), leaving its
    /// input and output to the caller.
    pub fn spawn(mut self) -> Result<Process> {
        let exec = Arc::new(ExecHandle::start(&self.sb.core, &self.spec)?);
        let mut r = ExecReader::new(exec);
        r.sinks = [self.spec.on_stdout.take(), self.spec.on_stderr.take()];
        let mut p = Process { r, feed: self.spec.stdin.take().map(Feed::new), check: self.spec.check };
        while !p.r.started && !p.r.over() {
            step(&mut p.r, &mut p.feed);
        }
        if !p.r.started {
            if let Some(e) = p.r.failed.take() {
                return Err(e);
            }
        }
        Ok(p)
    }

    /// Starts the command in the background (`msb exec -d`) and returns
    /// its pid in the guest once it runs; its output goes to the sandbox's
    /// log and it lives on when this program goes. Takes no stdin or
    /// terminal.
    pub fn detach(self) -> Result<i32> {
        core::exec_detach(&self.sb.core, &self.spec)
    }
}

/// Stdin given as bytes, written while the output is read.
pub(crate) struct Feed {
    data: Vec<u8>,
    off: usize,
    pub(crate) done: bool,
}

impl Feed {
    pub(crate) fn new(data: Vec<u8>) -> Feed {
        Feed { data, off: 0, done: false }
    }

    /// Writes one message (or the end of file); a command that stopped
    /// reading (it exited) ends the feed quietly.
    pub(crate) fn push(&mut self, exec: &ExecHandle) {
        if self.off < self.data.len() {
            match exec.write_stdin(&self.data[self.off..]) {
                Ok(n) => self.off += n,
                Err(_) => self.done = true,
            }
        } else {
            let _ = exec.close_stdin();
            self.done = true;
        }
    }
}

/// Waits for and takes the next events, feeding stdin when the socket
/// takes it.
fn step(r: &mut ExecReader, feed: &mut Option<Feed>) {
    match feed.as_mut().filter(|f| !f.done) {
        Some(f) => {
            let ev = poll_wait(r.exec.fd, libc::POLLIN | libc::POLLOUT);
            if ev & libc::POLLOUT != 0 {
                f.push(&r.exec);
            }
            if ev & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
                let _ = r.drain();
            }
        }
        None => r.step_blocking(),
    }
}

/// A command running in a sandbox, streamed: its output read as it comes
/// ([`Process::stdout`], [`Process::stderr`] as `Read`ers, or
/// [`Process::next_event`] in order), stdin written
/// ([`Process::stdin`], a `Write`r another thread may hold), signals and
/// terminal sizes sent.
///
/// Output has back-pressure: while nobody reads, the guest process blocks
/// writing. A stream read while the other has output holds that output
/// for its reader; [`Process::wait`] discards what nobody read. Dropping
/// the Process (and its stdin handles) hangs up: a command still running
/// gets SIGHUP, as from a closed terminal.
pub struct Process {
    r: ExecReader,
    feed: Option<Feed>,
    check: bool,
}

impl Process {
    /// The command's process id in the guest.
    pub fn pid(&self) -> i32 {
        self.r.pid
    }

    /// Why the sandbox is paused while it is (its host disk is full:
    /// "sandbox NAME is paused: the host disk under DIR is full ..."),
    /// `None` while it runs and once the command has ended. It follows
    /// the events read so far (by the readers, [`Process::next_event`],
    /// which gives them as [`ExecEvent::Paused`] and
    /// [`ExecEvent::Resumed`], or wait): the command waits meanwhile and
    /// goes on by itself once there is room.
    pub fn paused(&self) -> Option<String> {
        if self.r.over() {
            return None;
        }
        self.r.paused.clone()
    }

    /// A handle writing the command's stdin (given `stdin_piped`): every
    /// write reaches the guest in order, blocking while the guest's
    /// process does not read; `close()` sends end of file.
    pub fn stdin(&self) -> ProcessStdin {
        ProcessStdin { exec: self.r.exec.clone() }
    }

    /// The command's stdout, as a `Read`er.
    pub fn stdout(&mut self) -> ProcessOutput<'_> {
        ProcessOutput { p: self, stream: 0 }
    }

    /// The command's stderr, as a `Read`er.
    pub fn stderr(&mut self) -> ProcessOutput<'_> {
        ProcessOutput { p: self, stream: 1 }
    }

    /// The next thing the command did, in order (output chunks, the
    /// sandbox's pauses and resumes, then its end); `None` after the end.
    pub fn next_event(&mut self) -> Result<Option<ExecEvent>> {
        self.r.to_events();
        loop {
            if let Some(ev) = self.r.events.pop_front() {
                return Ok(Some(ev));
            }
            if let Some(e) = self.r.failure() {
                return Err(e);
            }
            if self.r.over() {
                return Ok(None);
            }
            step(&mut self.r, &mut self.feed);
        }
    }

    /// Sends @sig to the command's process group (Linux numbering:
    /// `libc::SIGTERM`...).
    pub fn signal(&self, sig: i32) -> Result<()> {
        self.r.exec.signal(sig)
    }

    /// Sends SIGKILL.
    pub fn kill(&self) -> Result<()> {
        self.signal(libc::SIGKILL)
    }

    /// Sets the command's terminal size (a `tty` command); its foreground
    /// process gets SIGWINCH.
    pub fn resize(&self, rows: u32, cols: u32) -> Result<()> {
        self.r.exec.resize(rows, cols)
    }

    /// Waits for the command to end and returns how it did (output not
    /// read is discarded, not in the result). A non-zero exit is no error
    /// unless `check` was given.
    pub fn wait(mut self) -> Result<ExecResult> {
        self.r.discard = [true; 2];
        self.r.pending = Default::default();
        self.r.events.clear();
        self.r.as_events = false;
        while !self.r.over() {
            step(&mut self.r, &mut self.feed);
        }
        self.r.finish(self.check)
    }

    fn read_stream(&mut self, i: usize, buf: &mut [u8]) -> Result<usize> {
        self.r.to_streams();
        loop {
            if !self.r.pending[i].is_empty() || buf.is_empty() {
                return Ok(self.r.take(i, buf));
            }
            if let Some(e) = self.r.failure() {
                return Err(e);
            }
            if self.r.over() {
                return Ok(0);
            }
            step(&mut self.r, &mut self.feed);
        }
    }
}

/// A command's stdout or stderr, as a `Read`er.
pub struct ProcessOutput<'a> {
    p: &'a mut Process,
    stream: usize,
}

impl Read for ProcessOutput<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Ok(self.p.read_stream(self.stream, buf)?)
    }
}

/// Writes a command's stdin; cheap to clone, `Send`, usable from another
/// thread while the output is read.
#[derive(Clone)]
pub struct ProcessStdin {
    exec: Arc<ExecHandle>,
}

impl ProcessStdin {
    /// Sends end of file.
    pub fn close(&self) -> Result<()> {
        self.exec.close_stdin()
    }
}

impl Write for ProcessStdin {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        // Wait for room first, so the write that follows does not stall
        // with the writer lock held.
        poll_wait(self.exec.fd, libc::POLLOUT);
        Ok(self.exec.write_stdin(buf)?)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

// ---- files ---------------------------------------------------------------------

/// A sandbox's files, read and changed by the guest agent as a guest user
/// (the `user` option; by default the one commands run as), so the guest's
/// permissions apply. Relative paths start at the sandbox's working
/// directory. Data streams both ways with flow control: files larger than
/// RAM pass in bounded memory. Errors from the guest carry its errno
/// ([`Error::NotFound`], [`Error::PermissionDenied`], `Error::Os` with
/// EISDIR, ENOTEMPTY, ENOSPC...).
pub struct Fs<'a> {
    sb: &'a Sandbox,
}

impl Fs<'_> {
    fn core(&self) -> &SandboxCore {
        &self.sb.core
    }

    /// The whole file @path.
    pub fn read(&self, path: &str) -> Result<Vec<u8>> {
        self.read_with(path, FileOptions::new())
    }

    /// `read`, with options (a user).
    pub fn read_with(&self, path: &str, o: FileOptions) -> Result<Vec<u8>> {
        let mut r = self.open_with(path, o)?;
        let mut out = Vec::new();
        r.read_to_end(&mut out).map_err(from_io)?;
        Ok(out)
    }

    /// The whole file @path as text (invalid UTF-8 is [`Error::Invalid`]).
    pub fn read_to_string(&self, path: &str) -> Result<String> {
        String::from_utf8(self.read(path)?)
            .map_err(|_| Error::invalid(format!("read {path}"), "the file is not UTF-8 text"))
    }

    /// Writes @data to @path, replacing it (mode 0o644 for a new file).
    pub fn write(&self, path: &str, data: impl AsRef<[u8]>) -> Result<()> {
        self.write_with(path, data, FileOptions::new())
    }

    /// `write`, with options (mode, parents, append, exclusive, user).
    pub fn write_with(&self, path: &str, data: impl AsRef<[u8]>, o: FileOptions) -> Result<()> {
        let mut w = self.create_with(path, o)?;
        w.write_all(data.as_ref()).map_err(from_io)?;
        w.finish()?;
        Ok(())
    }

    /// Opens @path for reading as a stream (`Read`).
    pub fn open(&self, path: &str) -> Result<FileReader> {
        self.open_with(path, FileOptions::new())
    }

    /// `open`, with options.
    pub fn open_with(&self, path: &str, o: FileOptions) -> Result<FileReader> {
        Ok(FileReader { s: FileStream::open(self.core(), sys::MSB_FILE_READ, path, &o)?, pending: Vec::new(), off: 0 })
    }

    /// Creates (or replaces) @path as a stream (`Write`); `finish()`
    /// confirms it. Dropped unfinished, the write stops where it is.
    pub fn create(&self, path: &str) -> Result<FileWriter> {
        self.create_with(path, FileOptions::new())
    }

    /// `create`, with options.
    pub fn create_with(&self, path: &str, o: FileOptions) -> Result<FileWriter> {
        Ok(FileWriter {
            s: FileStream::open(self.core(), sys::MSB_FILE_WRITE, path, &o)?,
            buf: Vec::with_capacity(core::STDIN_CHUNK),
            written: 0,
        })
    }

    /// Streams @path into @w; returns the bytes.
    pub fn read_to(&self, path: &str, w: &mut impl Write) -> Result<u64> {
        let mut r = self.open(path)?;
        io::copy(&mut r, w).map_err(from_io)
    }

    /// Streams @r into @path (options as `create_with`); returns the bytes.
    pub fn write_from(&self, path: &str, r: &mut impl Read, o: FileOptions) -> Result<u64> {
        let mut w = self.create_with(path, o)?;
        let n = io::copy(r, &mut w).map_err(from_io)?;
        w.finish()?;
        Ok(n)
    }

    /// Describes @path, following a final symlink.
    pub fn stat(&self, path: &str) -> Result<FileInfo> {
        core::file_stat(self.core(), path, &FileOptions::new())
    }

    /// `stat`, with options (a user).
    pub fn stat_with(&self, path: &str, o: FileOptions) -> Result<FileInfo> {
        core::file_stat(self.core(), path, &o)
    }

    /// Describes @path itself when it is a symlink.
    pub fn lstat(&self, path: &str) -> Result<FileInfo> {
        core::file_stat(self.core(), path, &FileOptions::new().nofollow())
    }

    /// Whether @path exists (a dangling symlink does not).
    pub fn exists(&self, path: &str) -> Result<bool> {
        core::file_exists(self.core(), path, &FileOptions::new())
    }

    /// `exists`, with options (a user).
    pub fn exists_with(&self, path: &str, o: FileOptions) -> Result<bool> {
        core::file_exists(self.core(), path, &o)
    }

    /// The entries of directory @path, sorted by name.
    pub fn list(&self, path: &str) -> Result<Vec<FileInfo>> {
        core::file_list(self.core(), path, &FileOptions::new())
    }

    /// `list`, with options (`recursive()`: the whole tree, names relative
    /// to @path).
    pub fn list_with(&self, path: &str, o: FileOptions) -> Result<Vec<FileInfo>> {
        core::file_list(self.core(), path, &o)
    }

    /// Makes directory @path (its parent must exist).
    pub fn mkdir(&self, path: &str) -> Result<()> {
        core::file_mkdir(self.core(), path, &FileOptions::new())
    }

    /// Makes @path and its missing parents; an existing directory is fine.
    pub fn mkdir_all(&self, path: &str) -> Result<()> {
        core::file_mkdir(self.core(), path, &FileOptions::new().parents())
    }

    /// `mkdir`, with options (mode, parents, exclusive, user).
    pub fn mkdir_with(&self, path: &str, o: FileOptions) -> Result<()> {
        core::file_mkdir(self.core(), path, &o)
    }

    /// Removes the file, symlink or empty directory @path.
    pub fn remove(&self, path: &str) -> Result<()> {
        core::file_remove(self.core(), path, &FileOptions::new())
    }

    /// Removes @path and, for a directory, everything in it.
    pub fn remove_all(&self, path: &str) -> Result<()> {
        core::file_remove(self.core(), path, &FileOptions::new().recursive())
    }

    /// `remove`, with options (recursive, user).
    pub fn remove_with(&self, path: &str, o: FileOptions) -> Result<()> {
        core::file_remove(self.core(), path, &o)
    }

    /// Moves @from to @to, replacing @to.
    pub fn rename(&self, from: &str, to: &str) -> Result<()> {
        core::file_rename(self.core(), from, to, &FileOptions::new())
    }

    /// `rename`, with options (exclusive, user).
    pub fn rename_with(&self, from: &str, to: &str, o: FileOptions) -> Result<()> {
        core::file_rename(self.core(), from, to, &o)
    }

    /// Makes @path a symlink pointing at @target.
    pub fn symlink(&self, target: &str, path: &str) -> Result<()> {
        core::file_symlink(self.core(), target, path, &FileOptions::new())
    }

    /// Copies the host's @host_path (a file, a directory or a symlink)
    /// into the guest at @guest_path with `docker cp`'s rules (`msb cp`).
    pub fn copy_in(&self, host_path: &str, guest_path: &str) -> Result<()> {
        self.copy_in_with(host_path, guest_path, CopyOptions::new())
    }

    /// `copy_in` with options: `CopyOptions::new().user("1000").progress(f)`.
    pub fn copy_in_with(&self, host_path: &str, guest_path: &str, o: CopyOptions) -> Result<()> {
        core::copy(self.core(), host_path, guest_path, true, &o)
    }

    /// Copies the guest's @guest_path to the host at @host_path, with
    /// `copy_in`'s rules; guest names that would land outside it are
    /// refused.
    pub fn copy_out(&self, guest_path: &str, host_path: &str) -> Result<()> {
        self.copy_out_with(guest_path, host_path, CopyOptions::new())
    }

    /// `copy_out` with options, as `copy_in_with`.
    pub fn copy_out_with(&self, guest_path: &str, host_path: &str, o: CopyOptions) -> Result<()> {
        core::copy(self.core(), guest_path, host_path, false, &o)
    }
}

/// A guest file read as a stream: a `Read`er.
pub struct FileReader {
    s: FileStream,
    pending: Vec<u8>,
    off: usize,
}

impl FileReader {
    /// The file's size once it was read to its end.
    pub fn size(&self) -> Option<u64> {
        self.s.done
    }
}

impl Read for FileReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.off < self.pending.len() || buf.is_empty() {
                let n = buf.len().min(self.pending.len() - self.off);
                buf[..n].copy_from_slice(&self.pending[self.off..self.off + n]);
                self.off += n;
                return Ok(n);
            }
            if self.s.done.is_some() {
                return Ok(0);
            }
            match self.s.next(-1)? {
                Some(FileRaw::Data(d)) => {
                    self.pending = d;
                    self.off = 0;
                }
                Some(_) | None => {}
            }
        }
    }
}

/// A guest file written as a stream: a `Write`r. Small writes are
/// gathered into messages of the size libmsb sends (48 KiB), as a
/// `BufWriter` would. `finish()` sends the rest, ends the data and waits
/// for the guest to confirm it; dropped unfinished, the write stops where
/// it is.
pub struct FileWriter {
    s: FileStream,
    buf: Vec<u8>,
    written: u64,
}

impl FileWriter {
    fn send_buf(&mut self) -> Result<()> {
        let mut off = 0;
        while off < self.buf.len() {
            off += self.s.write_chunk(&self.buf[off..])?;
        }
        self.buf.clear();
        Ok(())
    }

    /// Ends the data and waits for the guest's confirmation; returns the
    /// bytes written.
    pub fn finish(mut self) -> Result<u64> {
        self.send_buf()?;
        self.s.close_write()?;
        while self.s.done.is_none() {
            self.s.next(-1)?;
        }
        Ok(self.written)
    }
}

impl Write for FileWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = if self.buf.is_empty() && data.len() >= core::STDIN_CHUNK {
            self.s.write_chunk(data)?
        } else {
            let n = data.len().min(core::STDIN_CHUNK - self.buf.len());
            self.buf.extend_from_slice(&data[..n]);
            if self.buf.len() == core::STDIN_CHUNK {
                self.send_buf()?;
            }
            n
        };
        self.written += n as u64;
        Ok(n)
    }

    /// Sends what is gathered (the guest has it once `finish()` returns).
    fn flush(&mut self) -> io::Result<()> {
        Ok(self.send_buf()?)
    }
}

// ---- snapshots --------------------------------------------------------------------

/// A saved sandbox (docs/snapshots.md), to restore as many sandboxes as
/// you like.
#[derive(Debug)]
pub struct Snapshot {
    name: std::sync::Mutex<String>,
}

impl Snapshot {
    pub(crate) fn named(name: String) -> Snapshot {
        Snapshot { name: std::sync::Mutex::new(name) }
    }

    /// The snapshot @name ([`Error::NotFound`] if there is none).
    pub fn get(name: &str) -> Result<Snapshot> {
        core::snapshot_info(name)?;
        Ok(Snapshot::named(name.to_owned()))
    }

    /// Names the snapshot @name (`msb snapshot rename`): refused while
    /// sandboxes restored from it exist, or when @name is taken.
    pub fn save_named(&self, name: &str) -> Result<()> {
        let mut cur = self.name.lock().unwrap();
        core::snapshot_rename(&cur, name)?;
        *cur = name.to_owned();
        Ok(())
    }

    /// Every snapshot, oldest first.
    pub fn list() -> Result<Vec<SnapshotInfo>> {
        core::snapshot_list()
    }

    /// Its name.
    pub fn name(&self) -> String {
        self.name.lock().unwrap().clone()
    }

    /// Its record.
    pub fn info(&self) -> Result<SnapshotInfo> {
        core::snapshot_info(&self.name())
    }

    /// Its record as the JSON document `msb snapshot inspect` prints: its
    /// meta.json (kind, source, files...) with path, size_bytes and
    /// used_by (the sandboxes restored from it).
    pub fn inspect(&self) -> Result<String> {
        core::snapshot_inspect(&self.name())
    }

    /// Pushes the snapshot to a registry (`msb push --snapshot`): its disk,
    /// and a full one's memory and device state, so that another machine
    /// resumes its processes. `|o| o.to("registry/repo:tag")`.
    pub fn push_with(&self, f: impl FnOnce(SyncOptions) -> SyncOptions) -> Result<SyncInfo> {
        core::snapshot_push(&self.name(), &f(SyncOptions::default()))
    }

    /// Fetches the snapshot pushed as @reference (a bare NAME under the
    /// remote, or `REGISTRY/REPO[:TAG]`) into a snapshot here (named by
    /// `o.name`, else the repository's last part), to restore.
    pub fn pull_with(reference: &str, f: impl FnOnce(SyncOptions) -> SyncOptions) -> Result<(Snapshot, SyncInfo)> {
        let info = core::snapshot_pull(reference, &f(SyncOptions::default()))?;
        Ok((Snapshot::named(info.name.clone()), info))
    }

    /// Deletes it; refused ([`Error::Busy`]) while sandboxes restored from
    /// it exist, unless @force (they can then no longer start).
    pub fn remove(&self, force: bool) -> Result<()> {
        core::snapshot_remove(&self.name(), force)
    }

    /// A new sandbox @name from the snapshot: a full one goes on where it
    /// was (its processes running), a disk one boots its disk. Dropping
    /// the handle removes it, as for `create()`.
    pub fn restore(&self, name: impl Into<String>) -> Result<Sandbox> {
        self.restore_with(name, |r| r)
    }

    /// `restore` with options: `|r| r.env("WORKER_ID", "1")`.
    pub fn restore_with(
        &self,
        name: impl Into<String>,
        f: impl FnOnce(RestoreOptions) -> RestoreOptions,
    ) -> Result<Sandbox> {
        let o = f(RestoreOptions::default());
        Ok(Sandbox { core: core::snapshot_restore(&self.name(), &name.into(), &o, None)? })
    }
}

// ---- images -------------------------------------------------------------------------

/// The local image store.
pub mod images {
    use super::*;
    use crate::info::{PruneInfo, SaveFormat};

    /// Fetches @reference from its registry (a sandbox's create pulls a
    /// missing image by itself); @insecure allows plain http to a
    /// registry not on loopback.
    pub fn pull(reference: &str, insecure: bool) -> Result<ImageInfo> {
        pull_with(reference, |o| if insecure { o.insecure() } else { o })
    }

    /// `pull` with options: `|o| o.insecure().progress(|e| ...)`.
    pub fn pull_with(reference: &str, f: impl FnOnce(ImagePullOptions) -> ImagePullOptions) -> Result<ImageInfo> {
        core::image_pull(reference, &f(ImagePullOptions::default()))
    }

    /// Reads an image without a registry: an OCI image layout (a
    /// directory or a tar of one) or a `docker save` archive, named @tag.
    pub fn load(path: &str, tag: Option<&str>) -> Result<ImageInfo> {
        load_with(path, |o| match tag {
            Some(t) => o.tag(t),
            None => o,
        })
    }

    /// `load` with options: `|o| o.tag("app:1").progress(|e| ...)`.
    pub fn load_with(path: &str, f: impl FnOnce(ImageLoadOptions) -> ImageLoadOptions) -> Result<ImageInfo> {
        core::image_load(path, &f(ImageLoadOptions::default()))
    }

    /// Its record as the JSON document `msb image inspect` prints:
    /// reference, digests, layers, and its OCI config (Env, Cmd,
    /// Entrypoint, WorkingDir, User); [`Error::NotFound`] when it is not
    /// stored.
    pub fn inspect(reference: &str) -> Result<String> {
        core::image_inspect(reference)
    }

    /// Every image in the local store.
    pub fn list() -> Result<Vec<ImageInfo>> {
        core::image_list()
    }

    /// Forgets @reference and deletes what nothing else uses.
    pub fn remove(reference: &str) -> Result<()> {
        core::image_remove(reference)
    }

    /// Writes the stored image @reference as a tar at @path (`msb save`;
    /// "-": stdout): an OCI image layout, or with
    /// [`SaveFormat::Docker`] also the `manifest.json` that `docker load`
    /// reads. [`load`] reads either back.
    pub fn save(reference: &str, path: &str, format: SaveFormat) -> Result<()> {
        core::image_save(reference, path, format)
    }

    /// Deletes blobs and layers no image and no sandbox uses, and the
    /// debris of interrupted pulls (`msb image prune`).
    pub fn prune() -> Result<PruneInfo> {
        core::image_prune()
    }

    /// Keeps @user's credentials for @registry (`host[:port]`, no path)
    /// in `$MSB_HOME/auth.json` (0600), as `msb registry login` does:
    /// pulls, pushes and the plugin registry use them from then on. The
    /// registry is asked first, as `docker login` asks it, and nothing is
    /// stored (a login kept before stays as it was) when it refuses them
    /// ([`Error::PermissionDenied`], "HOST refused the login of 'USER'
    /// ..."), cannot be reached ([`Error::Os`] with
    /// [`errno`](Error::errno) `EHOSTUNREACH`, "cannot reach registry HOST
    /// (https) ...") or has a certificate that cannot be verified
    /// ([`Error::PermissionDenied`]). A registry not on loopback is asked
    /// over https: [`login_with`]`(.., |o| o.insecure())` asks it over
    /// plain http.
    pub fn login(registry: &str, user: &str, password: &str) -> Result<()> {
        login_with(registry, user, password, |o| o)
    }

    /// `login` with options: `|o| o.insecure()`.
    pub fn login_with(
        registry: &str,
        user: &str,
        password: &str,
        f: impl FnOnce(LoginOptions) -> LoginOptions,
    ) -> Result<()> {
        core::registry_login(registry, user, password, &f(LoginOptions::default()))
    }

    /// Forgets the credentials for @registry (`msb registry logout`);
    /// [`Error::NotFound`] when there are none.
    pub fn logout(registry: &str) -> Result<()> {
        core::registry_logout(registry)
    }
}

/// The plugin registry (docs/plugins.md, "The registry"; `msb plugin`):
/// plugins published to an OCI registry as artifacts, found by search,
/// installed under `$MSB_HOME/plugins` pinned by digest, and loaded by
/// name with [`InstalledPlugin`](crate::InstalledPlugin). A plugin
/// registry is "REGISTRY/NAMESPACE" (`127.0.0.1:5000/plugins`); where one
/// is asked for, None means `$MSB_PLUGIN_REGISTRY`'s. Loopback registries
/// are spoken to over plain http; credentials come from
/// [`images::login`](super::images::login).
pub mod plugins {
    use super::*;
    use crate::info::PluginInfo;

    /// Pushes the plugin in directory @dir (its metadata in
    /// `DIR/plugin.json`: name, version, kind, hooks, language, command,
    /// description; every other file under DIR is one of its files) to
    /// @registry as NAME:VERSION and NAME:latest, and enters it in the
    /// registry's index (`msb plugin publish`).
    pub fn publish(dir: &str, registry: Option<&str>) -> Result<PluginInfo> {
        core::plugin_publish(dir, registry)
    }

    /// Installs @what (NAME, NAME:VERSION or NAME@DIGEST in @registry, or
    /// a whole reference HOST/REPO:TAG) under `$MSB_HOME/plugins`, every
    /// blob checked against its digest; an installed one of that name is
    /// replaced (`msb plugin install`). [`Error::NotFound`] when the
    /// registry has no such plugin, [`Error::WrongKind`] when the
    /// reference holds something else.
    pub fn install(what: &str, registry: Option<&str>) -> Result<PluginInfo> {
        core::plugin_install(what, registry)
    }

    /// The entries of @registry's index whose name, description,
    /// language, kind or hooks hold @query (case ignored; "" for all), by
    /// name (`msb plugin search`).
    pub fn search(registry: Option<&str>, query: &str) -> Result<Vec<PluginInfo>> {
        core::plugin_search(registry, query)
    }

    /// Every installed plugin, by name, each verified
    /// ([`PluginInfo::verified`]) (`msb plugin ls`).
    pub fn list() -> Result<Vec<PluginInfo>> {
        core::plugin_list()
    }

    /// The installed plugin @name, verified (`msb plugin inspect`):
    /// [`Error::Damaged`] when its files no longer match its digest,
    /// [`Error::NotFound`] when none of that name is installed.
    pub fn inspect(name: &str) -> Result<PluginInfo> {
        core::plugin_inspect(name)
    }

    /// Uninstalls the plugin @name (`msb plugin rm`); sandboxes that load
    /// it then fail to start, saying so.
    pub fn remove(name: &str) -> Result<()> {
        core::plugin_remove(name)
    }
}

/// Named volumes (docs/filesystems.md; `msb volume`), mounted with
/// [`NamedVolume`](crate::NamedVolume).
pub mod volumes {
    use super::*;
    use crate::info::VolumeInfo;

    /// Makes the named volume @name of at most @size_mib MiB (0: no
    /// limit); [`Error::AlreadyExists`] if the name is taken.
    pub fn create(name: &str, size_mib: u64) -> Result<VolumeInfo> {
        core::volume_create(name, size_mib)
    }

    /// Its record.
    pub fn info(name: &str) -> Result<VolumeInfo> {
        core::volume_info(name)
    }

    /// Its record as the JSON document `msb volume inspect` prints: name,
    /// size_mib, used_bytes, created_at, path, project, and used_by (the
    /// name of each sandbox that mounts it) and running (how many of them
    /// run); [`Error::NotFound`] if there is none.
    pub fn inspect(name: &str) -> Result<String> {
        core::volume_inspect(name)
    }

    /// Every named volume, by name.
    pub fn list() -> Result<Vec<VolumeInfo>> {
        core::volume_list()
    }

    /// Deletes the volume and its files; [`Error::Busy`] while a running
    /// sandbox mounts it, and (unless @force) while a stopped one does.
    pub fn remove(name: &str, force: bool) -> Result<()> {
        core::volume_remove(name, force)
    }
}

/// A loaded Sandboxfile (docs/projects.md): its sandboxes and named
/// volumes, brought up and down together as `msb project` does. Loading
/// checks the whole file and starts nothing; a file that cannot be used
/// is an [`Error::Sandboxfile`] saying where.
///
/// ```no_run
/// use microsandbox::blocking::Project;
///
/// let p = Project::load("Sandboxfile")?;
/// p.up()?;
/// let r = p.run("api", "test")?;          // one of its scripts
/// p.down_with(|o| o.volumes(true))?;
/// # Ok::<(), microsandbox::Error>(())
/// ```
pub struct Project {
    core: crate::project::ProjectCore,
}

impl Project {
    /// Reads and checks the Sandboxfile at @path.
    pub fn load(path: impl AsRef<std::path::Path>) -> Result<Project> {
        Ok(Project { core: crate::project::ProjectCore::load(Some(path.as_ref()))? })
    }

    /// The Sandboxfile in the current directory or the nearest above it.
    pub fn find() -> Result<Project> {
        Ok(Project { core: crate::project::ProjectCore::load(None)? })
    }

    /// The same from @text, as if read from @path (which names it in
    /// errors and anchors its relative paths).
    pub fn parse(text: &str, path: impl AsRef<std::path::Path>) -> Result<Project> {
        Ok(Project { core: crate::project::ProjectCore::parse(text, path.as_ref())? })
    }

    /// The project's name.
    pub fn name(&self) -> &str {
        &self.core.name
    }

    /// The Sandboxfile's absolute path.
    pub fn file(&self) -> &std::path::Path {
        &self.core.file
    }

    /// Its sandboxes in start order (dependencies first).
    pub fn sandboxes(&self) -> &[crate::ProjectSandbox] {
        &self.core.sandboxes
    }

    /// The project as msb resolves it (`msb project config`), JSON.
    pub fn config(&self) -> Result<String> {
        self.core.config()
    }

    /// Makes what is missing, recreates what changed, starts what is
    /// stopped and leaves the rest: a second up changes nothing.
    pub fn up(&self) -> Result<()> {
        self.up_with(|o| o)
    }

    /// [`Project::up`] with options (`only`, `progress`).
    pub fn up_with(&self, f: impl FnOnce(crate::ProjectOptions) -> crate::ProjectOptions) -> Result<()> {
        self.core.call(crate::project::Call::Up, &f(Default::default()))
    }

    /// Stops and removes every sandbox of the project, in reverse start
    /// order; named volumes are kept.
    pub fn down(&self) -> Result<()> {
        self.down_with(|o| o)
    }

    /// [`Project::down`] with options (`volumes`, `stop_timeout`, `progress`).
    pub fn down_with(&self, f: impl FnOnce(crate::ProjectOptions) -> crate::ProjectOptions) -> Result<()> {
        self.core.call(crate::project::Call::Down, &f(Default::default()))
    }

    /// Stops its running sandboxes (reverse order), keeping them.
    pub fn stop(&self) -> Result<()> {
        self.stop_with(|o| o)
    }

    /// [`Project::stop`] with options.
    pub fn stop_with(&self, f: impl FnOnce(crate::ProjectOptions) -> crate::ProjectOptions) -> Result<()> {
        self.core.call(crate::project::Call::Stop, &f(Default::default()))
    }

    /// Stops its running sandboxes and starts them again, disks kept.
    pub fn restart(&self) -> Result<()> {
        self.restart_with(|o| o)
    }

    /// [`Project::restart`] with options.
    pub fn restart_with(&self, f: impl FnOnce(crate::ProjectOptions) -> crate::ProjectOptions) -> Result<()> {
        self.core.call(crate::project::Call::Restart, &f(Default::default()))
    }

    /// The file's sandboxes in start order, then orphans.
    pub fn ps(&self) -> Result<Vec<crate::ProjectEntry>> {
        self.core.ps()
    }

    /// A handle on the sandbox of key @key ([`Error::NotFound`] before up).
    pub fn sandbox(&self, key: &str) -> Result<Sandbox> {
        Sandbox::get(&self.core.sandbox_name(key)?)
    }

    /// [`Sandbox::exec`] in the sandbox of key @key.
    pub fn exec(&self, key: &str, line: &str) -> Result<ExecResult> {
        self.sandbox(key)?.exec(line)
    }

    /// [`Sandbox::exec_args`] in the sandbox of key @key.
    pub fn exec_args<I, S>(&self, key: &str, argv: I) -> Result<ExecResult>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.sandbox(key)?.exec_args(argv)
    }

    /// Runs script @script of the sandbox of key @key, as `exec_args`
    /// runs a command: its exit code is the script's.
    pub fn run(&self, key: &str, script: &str) -> Result<ExecResult> {
        let argv = self.core.script(key, script)?;
        self.exec_args(key, argv)
    }

    /// The log of the sandbox of key @key (`msb logs`); its last @tail
    /// lines with one.
    pub fn logs(&self, key: &str, tail: Option<usize>) -> Result<String> {
        self.core.logs(key, tail)
    }
}
