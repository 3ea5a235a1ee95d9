// SPDX-License-Identifier: Apache-2.0
//! The async API, on tokio: the crate's root types ([`Sandbox`],
//! [`Command`], [`Process`], [`Fs`], [`Snapshot`]...).
//!
//! Waiting without threads: every command and file stream is a socket of
//! libmsb's whose descriptor (`msb_exec_fd`, `msb_file_fd`) is registered
//! with tokio's reactor (`AsyncFd`); a task waiting for output parks on
//! it, and libmsb is then asked, with a zero timeout, for what came.
//! stdin and file writes wait for the socket to take more the same way.
//! Thousands of commands can run at once on a few threads. Calls that are
//! one request and its answer (a boot, a stop, a stat, a snapshot) run on
//! tokio's blocking pool.

use std::future::{poll_fn, Future};
use std::io;
use std::os::fd::RawFd;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::unix::{AsyncFd, AsyncFdReadyGuard};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, Interest, ReadBuf};

use microsandbox_sys as sys;

use crate::blocking::Feed;
use crate::command::{command_options, ExecEvent, ExecResult, ExecSpec};
use crate::config::{
    Async, ImageLoadOptions, ImagePullOptions, LoginOptions, RestoreOptions, StopOptions, SyncOptions,
};
use crate::core::{self, poll_now, ExecHandle, ExecReader, FileRaw, FileStream, SandboxCore, STDIN_CHUNK};
use crate::error::{from_io, Error, Result};
use crate::events::{Event, Step};
use crate::files::{CopyOptions, FileInfo, FileOptions};
use crate::info::{ImageInfo, PortMapping, SandboxInfo, SnapshotInfo, Stats, SyncInfo};

type SandboxBuilder = crate::config::SandboxBuilder<Async>;

/// Runs a blocking libmsb call on tokio's blocking pool.
async fn blocking<T, F>(f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(Error::closed("", format!("the call was cancelled: {e}"))),
    }
}

/// Sets a flag when dropped before `disarm`: a boot whose future was
/// dropped removes what it made once it is over.
struct CancelFlag(Arc<AtomicBool>, bool);

impl CancelFlag {
    fn new() -> (CancelFlag, Arc<AtomicBool>) {
        let f = Arc::new(AtomicBool::new(false));
        (CancelFlag(f.clone(), true), f)
    }

    fn disarm(mut self) {
        self.1 = false;
    }
}

impl Drop for CancelFlag {
    fn drop(&mut self) {
        if self.1 {
            self.0.store(true, Ordering::SeqCst);
        }
    }
}

impl SandboxBuilder {
    /// Creates the sandbox and boots it; resolves once its guest runs
    /// commands. Dropping the future does not stop the boot: the sandbox
    /// is removed once it is over. A boot that fails
    /// ([`Error::BootFailed`]) leaves the sandbox, failed, with its log,
    /// unless it is ephemeral.
    pub async fn create(self) -> Result<Sandbox> {
        let (guard, flag) = CancelFlag::new();
        let (name, cfg) = (self.name, self.cfg);
        let core = blocking(move || core::create(&name, cfg, Some(&flag))).await?;
        guard.disarm();
        Ok(Sandbox { core: Arc::new(core) })
    }
}

/// A sandbox: a microVM with its own kernel, owned by a supervisor process
/// of its own (no daemon). Its methods take `&self` and may run at once
/// from many tasks (share it with an `Arc` to spawn them); each command and
/// file stream has its own connection.
///
/// Dropping a Sandbox that `create()` or a restore made removes the
/// sandbox, running or not (unless it was built with `keep()`), on the
/// dropping thread; one got with [`Sandbox::get`] or [`Sandbox::pull`] is
/// only released. [`Sandbox::close`] does the same without blocking.
pub struct Sandbox {
    core: Arc<SandboxCore>,
}

impl Sandbox {
    /// A builder for the sandbox @name (1-63 of `[a-zA-Z0-9_.-]`,
    /// starting with a letter or digit).
    pub fn builder(name: impl Into<String>) -> SandboxBuilder {
        SandboxBuilder::new(name)
    }

    /// A handle on the existing sandbox @name, running or not
    /// ([`Error::NotFound`] if there is none).
    pub async fn get(name: &str) -> Result<Sandbox> {
        let n = name.to_owned();
        Ok(Sandbox { core: Arc::new(blocking(move || core::get(&n)).await?) })
    }

    /// Every sandbox, running or not.
    pub async fn list() -> Result<Vec<SandboxInfo>> {
        blocking(core::list).await
    }

    /// Every running sandbox's numbers (with @all, every sandbox's).
    pub async fn stats_all(all: bool) -> Result<Vec<Stats>> {
        blocking(move || core::stats_all(all)).await
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

    async fn on_core<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&SandboxCore) -> Result<T> + Send + 'static,
    {
        let core = self.core.clone();
        blocking(move || f(&core)).await
    }

    /// Its events (docs/events.md) on @topic (None: all; or "prefix.*"):
    /// from @since (-1: only those to come, 0: the oldest kept, or a seq),
    /// with @follow until it stops. The connection is opened on the
    /// blocking pool; the stream then waits in tokio's reactor.
    pub async fn events(&self, topic: Option<&str>, since: i64, follow: bool) -> Result<EventStream> {
        let (name, topic) = (self.core.name.clone(), topic.map(str::to_owned));
        let inner = blocking(move || crate::events::EventStream::open(&name, topic.as_deref(), since, follow)).await?;
        let afd = register_read(inner.fd()).map_err(Error::HostIo)?;
        Ok(EventStream { afd, inner })
    }

    /// Calls @f with each new event on @topic (None: all) until the
    /// sandbox stops, one call at a time (its future is awaited before the
    /// next event), on a task of its own. Abort the returned
    /// [`EventSubscription`] (or drop it) to stop; awaiting it gives the
    /// end: `Ok(())` once the sandbox stopped, or the stream's error.
    pub async fn on<F, Fut>(&self, topic: Option<&str>, mut f: F) -> Result<EventSubscription>
    where
        F: FnMut(Event) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let mut s = self.events(topic, -1, true).await?;
        let task = tokio::spawn(async move {
            while let Some(ev) = s.next().await? {
                f(ev).await;
            }
            Ok(())
        });
        Ok(EventSubscription { task })
    }

    /// Sends an event to its programs (`msb event wait TOPIC` inside);
    /// @data_json is one JSON value. Returns the event's seq.
    pub async fn emit(&self, topic: &str, data_json: &str) -> Result<u64> {
        let (name, topic, data) = (self.core.name.clone(), topic.to_owned(), data_json.to_owned());
        blocking(move || crate::events::emit(&name, &topic, &data)).await
    }

    /// Its record now.
    pub async fn info(&self) -> Result<SandboxInfo> {
        self.on_core(|c| c.info()).await
    }

    /// The sandbox that spawned this one from inside it (`msb ps`'s
    /// PARENT; see [`SandboxBuilder::allow_spawn`]), or `None` for one
    /// the host made.
    pub async fn parent(&self) -> Result<Option<String>> {
        let name = self.core.name.clone();
        blocking(move || core::parent(&name)).await
    }

    /// Its full state as the JSON document `msb inspect` prints.
    pub async fn inspect(&self) -> Result<String> {
        self.on_core(|c| c.inspect()).await
    }

    /// Boots the stopped (or failed) sandbox again with its disk as it
    /// was; starting a running one is no error.
    pub async fn start(&self) -> Result<()> {
        self.on_core(|c| c.start()).await
    }

    /// Powers the guest off: its processes get SIGTERM, and it is killed
    /// after [`STOP_TIMEOUT`](crate::blocking::STOP_TIMEOUT). A sandbox that syncs pushes itself then
    /// (`stop_with` tells how that goes and what it pushed).
    /// Stopping a stopped sandbox is no error.
    pub async fn stop(&self) -> Result<()> {
        self.stop_with(|o| o).await.map(drop)
    }

    /// `stop` with another grace period (whole seconds).
    pub async fn stop_timeout(&self, grace: Duration) -> Result<()> {
        self.stop_with(|o| o.timeout(grace)).await.map(drop)
    }

    /// `stop` with options: `|o| o.timeout(d).progress(f)`. For a sandbox
    /// that syncs, the push that follows is reported to the progress
    /// closure, and is what this returns (`None` when no push was tried,
    /// as for a sandbox that does not sync or was stopped already). A push
    /// that fails leaves the sandbox stopped and is the error.
    pub async fn stop_with(&self, f: impl FnOnce(StopOptions) -> StopOptions) -> Result<Option<SyncInfo>> {
        let o = f(StopOptions::default());
        self.on_core(move |c| c.stop("stop", &o)).await
    }

    /// Stops it at once, without a grace period.
    pub async fn kill(&self) -> Result<()> {
        let o = StopOptions::default().timeout(Duration::ZERO);
        self.on_core(move |c| c.stop("kill", &o)).await.map(drop)
    }

    /// Deletes the sandbox and its disk, killing it first if it runs; the
    /// handle is closed with it.
    pub async fn remove(&self) -> Result<()> {
        self.on_core(|c| c.remove()).await
    }

    /// Ends the handle (what dropping it does, off the async threads): a
    /// sandbox this handle made is removed unless it was built with
    /// `keep()`. Calls on it then fail with [`Error::Closed`].
    pub async fn close(&self) -> Result<()> {
        self.on_core(|c| c.close()).await
    }

    /// Waits until the sandbox's detached command (`cmd`, `image_cmd`)
    /// has ended and returns its exit status; without one, until the
    /// sandbox is no longer running (0).
    pub async fn wait(&self) -> Result<i32> {
        self.on_core(|c| c.wait()).await
    }

    /// The file holding the guest's console, the agent's messages and
    /// detached commands' output (`msb logs`).
    pub async fn log_path(&self) -> Result<PathBuf> {
        self.on_core(|c| c.log_path()).await
    }

    /// Its published ports as bound, while it runs.
    pub async fn ports(&self) -> Result<Vec<PortMapping>> {
        self.on_core(|c| c.ports()).await
    }

    /// What it uses now (waits up to about a second for the guest's part).
    pub async fn stats(&self) -> Result<Stats> {
        self.on_core(|c| c.stats()).await
    }

    /// Runs the command line @line (split into words by
    /// [`split_command`](crate::split_command)'s rule: quotes, no
    /// expansion) and waits for it, capturing its output. A non-zero exit
    /// is data, not an error (see [`Command::check`]). Dropping the future
    /// kills the command in the guest.
    pub async fn exec(&self, line: &str) -> Result<ExecResult> {
        self.command_line(line).output().await
    }

    /// Runs @argv as it is (no splitting) and waits for it.
    pub async fn exec_args<I, S>(&self, argv: I) -> Result<ExecResult>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Command { sb: self, spec: ExecSpec::argv(argv) }.output().await
    }

    /// Runs @script with `sh -c` (pipes, redirections, variables) and
    /// waits for it.
    pub async fn shell(&self, script: &str) -> Result<ExecResult> {
        Command { sb: self, spec: ExecSpec::shell(script) }.output().await
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

    /// Snapshots the sandbox under a generated name ("snap-NAME-...");
    /// [`Snapshot::save_named`] gives it a name of yours. A running
    /// sandbox is paused while its memory, CPU and device state and its
    /// disk are saved at one instant, then goes on untouched; a stopped
    /// one, or one with volumes, gives a disk-only snapshot.
    pub async fn snapshot(&self) -> Result<Snapshot> {
        let name = core::generated_snapshot_name(self.name());
        self.snapshot_named(&name).await
    }

    /// Snapshots the sandbox as @name.
    pub async fn snapshot_named(&self, name: &str) -> Result<Snapshot> {
        let n = name.to_owned();
        let info = self.on_core(move |c| c.snapshot(&n)).await?;
        Ok(Snapshot::named(info.name))
    }

    /// Pushes the sandbox to its remote (docs/sync.md: `msb push`): a
    /// running one as it is at one instant. Only what the registry lacks
    /// is sent.
    pub async fn push(&self) -> Result<SyncInfo> {
        self.push_with(|o| o).await
    }

    /// `push` with options: `|o| o.to("registry/repo:tag").force()`,
    /// `progress(f)`.
    pub async fn push_with(&self, f: impl FnOnce(SyncOptions) -> SyncOptions) -> Result<SyncInfo> {
        let o = f(SyncOptions::default());
        self.on_core(move |c| {
            c.check_open("push")?;
            core::push(&c.name, &o)
        })
        .await
    }

    /// Fetches the sandbox pushed as @reference (a bare NAME under the
    /// remote, or `REGISTRY/REPO[:TAG]`) as a stopped sandbox here (`start`
    /// boots it). Dropping the handle leaves it.
    pub async fn pull(reference: &str) -> Result<Sandbox> {
        Ok(Sandbox::pull_with(reference, |o| o).await?.0)
    }

    /// `pull` with options (`name`, `force`, `trust`, `progress`), and
    /// what it did.
    pub async fn pull_with(reference: &str, f: impl FnOnce(SyncOptions) -> SyncOptions) -> Result<(Sandbox, SyncInfo)> {
        let o = f(SyncOptions::default());
        let r = reference.to_owned();
        let info = blocking(move || core::pull(&r, &o)).await?;
        Ok((Sandbox { core: Arc::new(SandboxCore::new(info.name.clone(), None, false)) }, info))
    }

    /// With @on, the sandbox pushes itself whenever `stop` stops it
    /// (`msb run --sync`).
    pub async fn set_sync(&self, on: bool) -> Result<()> {
        self.on_core(move |c| core::set_sync(&c.name, on)).await
    }

    /// Inside a sandbox, the [`Runtime`](crate::Runtime) that starts peer sandboxes beside
    /// it when the host allows it (docs/spawn.md), over the sandbox
    /// agent's socket, without libmsb. Outside one it fails with
    /// [`Error::NotSupported`] ("not inside a microsandbox sandbox"): it
    /// never spawns anything by accident.
    pub async fn current_runtime() -> Result<crate::Runtime> {
        crate::runtime::current_runtime()
    }
}

// ---- commands ---------------------------------------------------------------------------

/// A command to run in a sandbox: arguments and options, then
/// [`Command::output`] (run, wait, capture), [`Command::spawn`] (a
/// streamed [`Process`]) or [`Command::detach`].
#[must_use = "a command does nothing until output(), spawn() or detach()"]
pub struct Command<'a> {
    sb: &'a Sandbox,
    spec: ExecSpec,
}

/// Registers a libmsb socket with tokio's reactor for reading only.
fn register_read(fd: RawFd) -> io::Result<AsyncFd<RawFd>> {
    // SAFETY: @fd is a libmsb handle's socket, open until the handle is
    // freed; its owner drops this AsyncFd first (EventStream).
    Ok(unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }?)
}

/// A sandbox's events, read in order as they come ([`Sandbox::events`]):
/// `while let Some(ev) = s.next().await? { ... }`. It waits on its socket
/// in tokio's reactor, never on a thread; nothing is read ahead of the
/// caller, so a reader that does not keep up leaves the events in the
/// sandbox's bounded log, which tells it later how many it missed
/// ([`EventStream::dropped`]). Dropped, it closes its connection.
pub struct EventStream {
    // Declared first: deregistered before the handle closes the socket.
    afd: AsyncFd<RawFd>,
    inner: crate::events::EventStream,
}

impl EventStream {
    /// The next event; `Ok(None)` at the end (the log read to its end
    /// without follow, or the sandbox stopped).
    pub async fn next(&mut self) -> Result<Option<Event>> {
        loop {
            let mut g = self.afd.readable().await.map_err(Error::HostIo)?;
            match self.inner.step(0)? {
                Step::Event(ev) => return Ok(Some(ev)),
                Step::End => return Ok(None),
                // libmsb holds nothing and read what was there: wait for
                // more, unless more came meanwhile.
                Step::Nothing => {
                    if !poll_now(self.inner.fd(), libc::POLLIN) {
                        g.clear_ready();
                    }
                }
            }
        }
    }

    /// Events it missed: the sandbox's log (its last 4096) moved past them.
    pub fn dropped(&self) -> u64 {
        self.inner.dropped
    }
}

/// A callback on a sandbox's events ([`Sandbox::on`]), on a task of its
/// own; dropping or aborting it stops the callback.
pub struct EventSubscription {
    task: tokio::task::JoinHandle<Result<()>>,
}

impl EventSubscription {
    /// Stops the callback (after the call under way, if any, is dropped).
    pub fn abort(&self) {
        self.task.abort();
    }
}

impl Drop for EventSubscription {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Future for EventSubscription {
    type Output = Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        match Pin::new(&mut self.task).poll(cx) {
            Poll::Ready(Ok(r)) => Poll::Ready(r),
            Poll::Ready(Err(e)) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Poll::Ready(Err(_)) => Poll::Ready(Ok(())),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Registers a libmsb socket with tokio's reactor.
fn register(fd: RawFd) -> io::Result<AsyncFd<RawFd>> {
    // SAFETY: @fd is a libmsb handle's socket, open until the handle is
    // freed; the handle drops this AsyncFd first (ExecHandle, FileStream).
    Ok(unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE | Interest::WRITABLE) }?)
}

/// Starts a command and registers its socket with the reactor.
fn start_async(sb: &Sandbox, spec: &ExecSpec) -> Result<ExecReader> {
    let mut exec = ExecHandle::start(&sb.core, spec)?;
    exec.afd = Some(register(exec.fd)?);
    Ok(ExecReader::new(Arc::new(exec)))
}

/// Kills the guest process when the future running it is dropped before
/// it ended.
struct KillOnDrop(Option<Arc<ExecHandle>>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(e) = self.0.take() {
            let _ = e.signal(libc::SIGKILL);
        }
    }
}

impl<'a> Command<'a> {
    command_options!();

    /// Runs the command and waits for it, capturing stdout and stderr
    /// (or giving them to the `on_stdout` / `on_stderr` callbacks).
    /// Dropping the future kills the command (SIGKILL) in the guest.
    pub async fn output(mut self) -> Result<ExecResult> {
        let mut r = start_async(self.sb, &self.spec)?;
        r.sinks = [self.spec.on_stdout.take(), self.spec.on_stderr.take()];
        let mut feed = self.spec.stdin.take().map(Feed::new);
        let mut kill = KillOnDrop(Some(r.exec.clone()));
        poll_fn(|cx| poll_until(cx, &mut r, &mut feed, |r| r.over())).await;
        kill.0 = None;
        let mut res = r.finish(false)?;
        res.stdout = r.pending[0].drain(..).collect();
        res.stderr = r.pending[1].drain(..).collect();
        if self.spec.check {
            return res.check();
        }
        Ok(res)
    }

    /// Starts the command and resolves once it runs (or with
    /// [`Error::ExecFailed`] if the guest could not start it), leaving its
    /// input and output to the caller.
    pub async fn spawn(mut self) -> Result<Process> {
        let mut r = start_async(self.sb, &self.spec)?;
        r.sinks = [self.spec.on_stdout.take(), self.spec.on_stderr.take()];
        let mut p = Process { r, feed: self.spec.stdin.take().map(Feed::new), check: self.spec.check };
        poll_fn(|cx| poll_until(cx, &mut p.r, &mut p.feed, |r| r.started || r.over())).await;
        if !p.r.started {
            if let Some(e) = p.r.failed.take() {
                return Err(e);
            }
        }
        Ok(p)
    }

    /// Starts the command in the background (`msb exec -d`) and returns
    /// its pid in the guest once it runs; its output goes to the sandbox's
    /// log and it lives on when this program goes.
    pub async fn detach(self) -> Result<i32> {
        let core = self.sb.core.clone();
        let spec = self.spec;
        blocking(move || core::exec_detach(&core, &spec)).await
    }
}

/// Takes events (and feeds stdin) until @done holds, or registers the
/// task's waker on the socket.
fn poll_until(
    cx: &mut Context<'_>,
    r: &mut ExecReader,
    feed: &mut Option<Feed>,
    done: impl Fn(&ExecReader) -> bool,
) -> Poll<()> {
    loop {
        if done(r) || r.over() {
            return Poll::Ready(());
        }
        match poll_step(cx, r, feed) {
            Poll::Ready(()) => continue,
            Poll::Pending => return Poll::Pending,
        }
    }
}

/// One step of a command's reader: feed stdin if the socket takes it,
/// take events if any came; Pending (wakers registered) when neither.
fn poll_step(cx: &mut Context<'_>, r: &mut ExecReader, feed: &mut Option<Feed>) -> Poll<()> {
    let exec = r.exec.clone();
    let afd = exec.afd.as_ref().expect("an async command");
    if let Some(f) = feed.as_mut().filter(|f| !f.done) {
        match afd.poll_write_ready(cx) {
            Poll::Ready(Ok(mut g)) => {
                if poll_now(exec.fd, libc::POLLOUT) {
                    f.push(&exec);
                } else {
                    g.clear_ready();
                }
                return Poll::Ready(());
            }
            Poll::Ready(Err(_)) => f.done = true,
            Poll::Pending => {}
        }
    }
    match afd.poll_read_ready(cx) {
        Poll::Ready(Ok(g)) => {
            took(g, r);
            Poll::Ready(())
        }
        Poll::Ready(Err(e)) => {
            r.failed = Some(Error::HostIo(e));
            Poll::Ready(())
        }
        Poll::Pending => Poll::Pending,
    }
}

/// Drains what came; the readiness is cleared once the socket has no more
/// (libmsb's zero-timeout poll said so).
fn took(mut g: AsyncFdReadyGuard<'_, RawFd>, r: &mut ExecReader) {
    let _ = r.drain();
    if !r.over() {
        g.clear_ready();
    }
}

/// A command running in a sandbox, streamed: its output read as it comes
/// ([`Process::stdout`] and [`Process::stderr`] as `AsyncRead`ers, or
/// [`Process::next_event`] in order), stdin written ([`Process::stdin`],
/// an `AsyncWrite`r another task may hold), signals and terminal sizes
/// sent.
///
/// Output has back-pressure: while nobody reads, the guest process blocks
/// writing. A stream read while the other has output holds that output
/// for its reader; [`Process::wait`] discards what nobody read. Dropping
/// the Process (and its stdin handles) hangs up: a command still running
/// gets SIGHUP, as from a closed terminal ([`Process::kill`] first to be
/// sure it ends).
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
    /// write reaches the guest in order, waiting (parked, not on a thread)
    /// while the guest's process does not read; `shutdown()` sends end of
    /// file. Write from one task at a time.
    pub fn stdin(&self) -> ProcessStdin {
        ProcessStdin { exec: self.r.exec.clone() }
    }

    /// The command's stdout, as an `AsyncRead`er.
    pub fn stdout(&mut self) -> ProcessOutput<'_> {
        ProcessOutput { p: self, stream: 0 }
    }

    /// The command's stderr, as an `AsyncRead`er.
    pub fn stderr(&mut self) -> ProcessOutput<'_> {
        ProcessOutput { p: self, stream: 1 }
    }

    /// The next thing the command did, in order (output chunks, the
    /// sandbox's pauses and resumes, then its end); `None` after the end.
    pub async fn next_event(&mut self) -> Result<Option<ExecEvent>> {
        self.r.to_events();
        poll_fn(|cx| loop {
            if let Some(ev) = self.r.events.pop_front() {
                return Poll::Ready(Ok(Some(ev)));
            }
            if let Some(e) = self.r.failure() {
                return Poll::Ready(Err(e));
            }
            if self.r.over() {
                return Poll::Ready(Ok(None));
            }
            if poll_step(cx, &mut self.r, &mut self.feed).is_pending() {
                return Poll::Pending;
            }
        })
        .await
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
    pub async fn wait(mut self) -> Result<ExecResult> {
        self.r.discard = [true; 2];
        self.r.pending = Default::default();
        self.r.events.clear();
        self.r.as_events = false;
        poll_fn(|cx| poll_until(cx, &mut self.r, &mut self.feed, |r| r.over())).await;
        self.r.finish(self.check)
    }

    fn poll_stream(&mut self, cx: &mut Context<'_>, i: usize, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        self.r.to_streams();
        loop {
            if !self.r.pending[i].is_empty() || buf.remaining() == 0 {
                let n = self.r.take(i, buf.initialize_unfilled());
                buf.advance(n);
                return Poll::Ready(Ok(()));
            }
            if let Some(e) = self.r.failure() {
                return Poll::Ready(Err(e.into()));
            }
            if self.r.over() {
                return Poll::Ready(Ok(()));
            }
            if poll_step(cx, &mut self.r, &mut self.feed).is_pending() {
                return Poll::Pending;
            }
        }
    }
}

/// A command's stdout or stderr, as an `AsyncRead`er.
pub struct ProcessOutput<'a> {
    p: &'a mut Process,
    stream: usize,
}

impl AsyncRead for ProcessOutput<'_> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        me.p.poll_stream(cx, me.stream, buf)
    }
}

/// Writes a command's stdin; cheap to clone, `Send`, usable from another
/// task while the output is read.
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

impl AsyncWrite for ProcessStdin {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let exec = &self.exec;
        let afd = exec.afd.as_ref().expect("an async command");
        loop {
            match afd.poll_write_ready(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(mut g)) => {
                    if poll_now(exec.fd, libc::POLLOUT) {
                        return Poll::Ready(exec.write_stdin(buf).map_err(io::Error::from));
                    }
                    g.clear_ready();
                }
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Sends end of file.
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.exec.close_stdin().map_err(io::Error::from))
    }
}

// ---- files ---------------------------------------------------------------------------------

/// A sandbox's files, read and changed by the guest agent as a guest user
/// (the `user` option; by default the one commands run as), so the guest's
/// permissions apply. Relative paths start at the sandbox's working
/// directory. Reads and writes stream with flow control (files larger
/// than RAM pass in bounded memory) and wait on the reactor; the one-shot
/// calls (stat, mkdir...) run on the blocking pool. Errors from the guest
/// carry its errno ([`Error::NotFound`], [`Error::PermissionDenied`],
/// `Error::Os` with EISDIR, ENOTEMPTY, ENOSPC...).
pub struct Fs<'a> {
    sb: &'a Sandbox,
}

impl Fs<'_> {
    async fn one_shot<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&SandboxCore) -> Result<T> + Send + 'static,
    {
        self.sb.on_core(f).await
    }

    fn stream(&self, op: sys::msb_file_op, path: &str, o: &FileOptions) -> Result<FileStream> {
        let mut s = FileStream::open(&self.sb.core, op, path, o)?;
        s.afd = Some(register(s.fd)?);
        Ok(s)
    }

    /// The whole file @path.
    pub async fn read(&self, path: &str) -> Result<Vec<u8>> {
        self.read_with(path, FileOptions::new()).await
    }

    /// `read`, with options (a user).
    pub async fn read_with(&self, path: &str, o: FileOptions) -> Result<Vec<u8>> {
        let mut r = self.open_with(path, o)?;
        let mut out = Vec::new();
        r.read_to_end(&mut out).await.map_err(from_io)?;
        Ok(out)
    }

    /// The whole file @path as text (invalid UTF-8 is [`Error::Invalid`]).
    pub async fn read_to_string(&self, path: &str) -> Result<String> {
        String::from_utf8(self.read(path).await?)
            .map_err(|_| Error::invalid(format!("read {path}"), "the file is not UTF-8 text"))
    }

    /// Writes @data to @path, replacing it (mode 0o644 for a new file).
    pub async fn write(&self, path: &str, data: impl AsRef<[u8]>) -> Result<()> {
        self.write_with(path, data, FileOptions::new()).await
    }

    /// `write`, with options (mode, parents, append, exclusive, user).
    pub async fn write_with(&self, path: &str, data: impl AsRef<[u8]>, o: FileOptions) -> Result<()> {
        let mut w = self.create_with(path, o)?;
        w.write_all(data.as_ref()).await.map_err(from_io)?;
        w.finish().await?;
        Ok(())
    }

    /// Opens @path for reading as a stream (`AsyncRead`).
    pub fn open(&self, path: &str) -> Result<FileReader> {
        self.open_with(path, FileOptions::new())
    }

    /// `open`, with options.
    pub fn open_with(&self, path: &str, o: FileOptions) -> Result<FileReader> {
        Ok(FileReader { s: self.stream(sys::MSB_FILE_READ, path, &o)?, pending: Vec::new(), off: 0 })
    }

    /// Creates (or replaces) @path as a stream (`AsyncWrite`);
    /// `finish()` (or `shutdown()`) confirms it. Dropped unfinished, the
    /// write stops where it is.
    pub fn create(&self, path: &str) -> Result<FileWriter> {
        self.create_with(path, FileOptions::new())
    }

    /// `create`, with options.
    pub fn create_with(&self, path: &str, o: FileOptions) -> Result<FileWriter> {
        Ok(FileWriter {
            s: self.stream(sys::MSB_FILE_WRITE, path, &o)?,
            buf: Vec::with_capacity(STDIN_CHUNK),
            sent: 0,
            written: 0,
            closing: false,
        })
    }

    /// Streams @path into @w; returns the bytes.
    pub async fn read_to<W: AsyncWrite + Unpin + ?Sized>(&self, path: &str, w: &mut W) -> Result<u64> {
        let mut r = self.open(path)?;
        tokio::io::copy(&mut r, w).await.map_err(from_io)
    }

    /// Streams @r into @path (options as `create_with`); returns the bytes.
    pub async fn write_from<R: AsyncRead + Unpin + ?Sized>(
        &self,
        path: &str,
        r: &mut R,
        o: FileOptions,
    ) -> Result<u64> {
        let mut w = self.create_with(path, o)?;
        let n = tokio::io::copy(r, &mut w).await.map_err(from_io)?;
        w.finish().await?;
        Ok(n)
    }

    /// Describes @path, following a final symlink.
    pub async fn stat(&self, path: &str) -> Result<FileInfo> {
        self.stat_with(path, FileOptions::new()).await
    }

    /// `stat`, with options (a user).
    pub async fn stat_with(&self, path: &str, o: FileOptions) -> Result<FileInfo> {
        let p = path.to_owned();
        self.one_shot(move |c| core::file_stat(c, &p, &o)).await
    }

    /// Describes @path itself when it is a symlink.
    pub async fn lstat(&self, path: &str) -> Result<FileInfo> {
        self.stat_with(path, FileOptions::new().nofollow()).await
    }

    /// Whether @path exists (a dangling symlink does not).
    pub async fn exists(&self, path: &str) -> Result<bool> {
        self.exists_with(path, FileOptions::new()).await
    }

    /// `exists`, with options (a user).
    pub async fn exists_with(&self, path: &str, o: FileOptions) -> Result<bool> {
        let p = path.to_owned();
        self.one_shot(move |c| core::file_exists(c, &p, &o)).await
    }

    /// The entries of directory @path, sorted by name.
    pub async fn list(&self, path: &str) -> Result<Vec<FileInfo>> {
        self.list_with(path, FileOptions::new()).await
    }

    /// `list`, with options (`recursive()`: the whole tree, names relative
    /// to @path).
    pub async fn list_with(&self, path: &str, o: FileOptions) -> Result<Vec<FileInfo>> {
        let p = path.to_owned();
        self.one_shot(move |c| core::file_list(c, &p, &o)).await
    }

    /// Makes directory @path (its parent must exist).
    pub async fn mkdir(&self, path: &str) -> Result<()> {
        self.mkdir_with(path, FileOptions::new()).await
    }

    /// Makes @path and its missing parents; an existing directory is fine.
    pub async fn mkdir_all(&self, path: &str) -> Result<()> {
        self.mkdir_with(path, FileOptions::new().parents()).await
    }

    /// `mkdir`, with options (mode, parents, exclusive, user).
    pub async fn mkdir_with(&self, path: &str, o: FileOptions) -> Result<()> {
        let p = path.to_owned();
        self.one_shot(move |c| core::file_mkdir(c, &p, &o)).await
    }

    /// Removes the file, symlink or empty directory @path.
    pub async fn remove(&self, path: &str) -> Result<()> {
        self.remove_with(path, FileOptions::new()).await
    }

    /// Removes @path and, for a directory, everything in it.
    pub async fn remove_all(&self, path: &str) -> Result<()> {
        self.remove_with(path, FileOptions::new().recursive()).await
    }

    /// `remove`, with options (recursive, user).
    pub async fn remove_with(&self, path: &str, o: FileOptions) -> Result<()> {
        let p = path.to_owned();
        self.one_shot(move |c| core::file_remove(c, &p, &o)).await
    }

    /// Moves @from to @to, replacing @to.
    pub async fn rename(&self, from: &str, to: &str) -> Result<()> {
        self.rename_with(from, to, FileOptions::new()).await
    }

    /// `rename`, with options (exclusive, user).
    pub async fn rename_with(&self, from: &str, to: &str, o: FileOptions) -> Result<()> {
        let (f, t) = (from.to_owned(), to.to_owned());
        self.one_shot(move |c| core::file_rename(c, &f, &t, &o)).await
    }

    /// Makes @path a symlink pointing at @target.
    pub async fn symlink(&self, target: &str, path: &str) -> Result<()> {
        let (t, p) = (target.to_owned(), path.to_owned());
        self.one_shot(move |c| core::file_symlink(c, &t, &p, &FileOptions::new())).await
    }

    /// Copies the host's @host_path (a file, a directory or a symlink)
    /// into the guest at @guest_path with `docker cp`'s rules (`msb cp`).
    pub async fn copy_in(&self, host_path: &str, guest_path: &str) -> Result<()> {
        self.copy_in_with(host_path, guest_path, CopyOptions::new()).await
    }

    /// `copy_in` with options: `CopyOptions::new().user("1000").progress(f)`.
    pub async fn copy_in_with(&self, host_path: &str, guest_path: &str, o: CopyOptions) -> Result<()> {
        let (h, g) = (host_path.to_owned(), guest_path.to_owned());
        self.one_shot(move |c| core::copy(c, &h, &g, true, &o)).await
    }

    /// Copies the guest's @guest_path to the host at @host_path, with
    /// `copy_in`'s rules.
    pub async fn copy_out(&self, guest_path: &str, host_path: &str) -> Result<()> {
        self.copy_out_with(guest_path, host_path, CopyOptions::new()).await
    }

    /// `copy_out` with options, as `copy_in_with`.
    pub async fn copy_out_with(&self, guest_path: &str, host_path: &str, o: CopyOptions) -> Result<()> {
        let (g, h) = (guest_path.to_owned(), host_path.to_owned());
        self.one_shot(move |c| core::copy(c, &g, &h, false, &o)).await
    }
}

/// Waits for a file stream's next event: Ready(Ok(None)) after taking
/// what there was (loop again), Pending with the waker registered.
fn poll_file_event(cx: &mut Context<'_>, s: &mut FileStream) -> Poll<Result<Option<FileRaw>>> {
    loop {
        match s.next(0) {
            Ok(Some(ev)) => return Poll::Ready(Ok(Some(ev))),
            Err(e) => return Poll::Ready(Err(e)),
            Ok(None) => {}
        }
        let afd = s.afd.as_ref().expect("an async stream");
        match afd.poll_read_ready(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(Error::HostIo(e))),
            Poll::Ready(Ok(mut g)) => {
                let fd = s.fd;
                if !poll_now(fd, libc::POLLIN) {
                    g.clear_ready();
                }
            }
        }
    }
}

/// A guest file read as a stream: an `AsyncRead`er.
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

impl AsyncRead for FileReader {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        loop {
            if me.off < me.pending.len() || buf.remaining() == 0 {
                let n = buf.remaining().min(me.pending.len() - me.off);
                buf.put_slice(&me.pending[me.off..me.off + n]);
                me.off += n;
                return Poll::Ready(Ok(()));
            }
            if me.s.done.is_some() {
                return Poll::Ready(Ok(()));
            }
            match poll_file_event(cx, &mut me.s) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e.into())),
                Poll::Ready(Ok(Some(FileRaw::Data(d)))) => {
                    me.pending = d;
                    me.off = 0;
                }
                Poll::Ready(Ok(_)) => {}
            }
        }
    }
}

/// A guest file written as a stream: an `AsyncWrite`r. Small writes are
/// gathered into messages of the size libmsb sends (48 KiB).
/// `finish()` (or `shutdown()`) sends the rest, ends the data and waits
/// for the guest to confirm it; dropped unfinished, the write stops where
/// it is.
pub struct FileWriter {
    s: FileStream,
    buf: Vec<u8>,
    /// Of `buf`, already sent.
    sent: usize,
    written: u64,
    closing: bool,
}

impl FileWriter {
    /// Ends the data and waits for the guest's confirmation; returns the
    /// bytes written.
    pub async fn finish(mut self) -> Result<u64> {
        self.shutdown().await.map_err(from_io)?;
        Ok(self.written)
    }

    /// Sends what is gathered, waiting for the socket to take it.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        while self.sent < self.buf.len() {
            let afd = self.s.afd.as_ref().expect("an async stream");
            match afd.poll_write_ready(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(Error::HostIo(e))),
                Poll::Ready(Ok(mut g)) => {
                    if !poll_now(self.s.fd, libc::POLLOUT) {
                        g.clear_ready();
                        continue;
                    }
                }
            }
            match self.s.write_chunk(&self.buf[self.sent..]) {
                Ok(n) => self.sent += n,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        self.buf.clear();
        self.sent = 0;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for FileWriter {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let me = self.get_mut();
        if me.buf.len() == STDIN_CHUNK {
            match me.poll_send(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e.into())),
                Poll::Ready(Ok(())) => {}
            }
        }
        let n = data.len().min(STDIN_CHUNK - me.buf.len());
        me.buf.extend_from_slice(&data[..n]);
        me.written += n as u64;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_send(cx).map_err(io::Error::from)
    }

    /// Sends the rest, ends the data and waits for the guest's
    /// confirmation.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let me = self.get_mut();
        if !me.closing {
            match me.poll_send(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e.into())),
                Poll::Ready(Ok(())) => {}
            }
            if let Err(e) = me.s.close_write() {
                return Poll::Ready(Err(e.into()));
            }
            me.closing = true;
        }
        while me.s.done.is_none() {
            match poll_file_event(cx, &mut me.s) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e.into())),
                Poll::Ready(Ok(_)) => {}
            }
        }
        Poll::Ready(Ok(()))
    }
}

// ---- snapshots ------------------------------------------------------------------------------

/// A saved sandbox (docs/snapshots.md), to restore as many sandboxes as
/// you like: `snap.restore_with("w-1", |r| r.env("WORKER_ID", "1"))`.
#[derive(Debug)]
pub struct Snapshot {
    name: std::sync::Mutex<String>,
}

impl Snapshot {
    fn named(name: String) -> Snapshot {
        Snapshot { name: std::sync::Mutex::new(name) }
    }

    /// The snapshot @name ([`Error::NotFound`] if there is none).
    pub async fn get(name: &str) -> Result<Snapshot> {
        let n = name.to_owned();
        blocking(move || core::snapshot_info(&n)).await?;
        Ok(Snapshot::named(name.to_owned()))
    }

    /// Every snapshot, oldest first.
    pub async fn list() -> Result<Vec<SnapshotInfo>> {
        blocking(core::snapshot_list).await
    }

    /// Its name.
    pub fn name(&self) -> String {
        self.name.lock().unwrap().clone()
    }

    /// Names the snapshot @name (`msb snapshot rename`): refused while
    /// sandboxes restored from it exist, or when @name is taken.
    pub async fn save_named(&self, name: &str) -> Result<()> {
        let (cur, new) = (self.name(), name.to_owned());
        blocking(move || core::snapshot_rename(&cur, &new)).await?;
        *self.name.lock().unwrap() = name.to_owned();
        Ok(())
    }

    /// Its record.
    pub async fn info(&self) -> Result<SnapshotInfo> {
        let n = self.name();
        blocking(move || core::snapshot_info(&n)).await
    }

    /// Its record as the JSON document `msb snapshot inspect` prints: its
    /// meta.json (kind, source, files...) with path, size_bytes and
    /// used_by (the sandboxes restored from it).
    pub async fn inspect(&self) -> Result<String> {
        let n = self.name();
        blocking(move || core::snapshot_inspect(&n)).await
    }

    /// Pushes the snapshot to a registry (`msb push --snapshot`): its disk,
    /// and a full one's memory and device state, so that another machine
    /// resumes its processes. `|o| o.to("registry/repo:tag")`.
    pub async fn push_with(&self, f: impl FnOnce(SyncOptions) -> SyncOptions) -> Result<SyncInfo> {
        let (n, o) = (self.name(), f(SyncOptions::default()));
        blocking(move || core::snapshot_push(&n, &o)).await
    }

    /// Fetches the snapshot pushed as @reference (a bare NAME under the
    /// remote, or `REGISTRY/REPO[:TAG]`) into a snapshot here (named by
    /// `o.name`, else the repository's last part), to restore.
    pub async fn pull_with(
        reference: &str,
        f: impl FnOnce(SyncOptions) -> SyncOptions,
    ) -> Result<(Snapshot, SyncInfo)> {
        let (r, o) = (reference.to_owned(), f(SyncOptions::default()));
        let info = blocking(move || core::snapshot_pull(&r, &o)).await?;
        Ok((Snapshot::named(info.name.clone()), info))
    }

    /// Deletes it; refused ([`Error::Busy`]) while sandboxes restored from
    /// it exist, unless @force (they can then no longer start).
    pub async fn remove(&self, force: bool) -> Result<()> {
        let n = self.name();
        blocking(move || core::snapshot_remove(&n, force)).await
    }

    /// A new sandbox @name from the snapshot: a full one goes on where it
    /// was (its processes running), a disk one boots its disk. Dropping
    /// the handle removes it, as for `create()`.
    pub fn restore(&self, name: impl Into<String>) -> Restoring {
        self.restore_with(name, |r| r)
    }

    /// `restore` with options, applied at once (the future holds neither
    /// the closure nor `self`):
    ///
    /// ```no_run
    /// # async fn f(snap: microsandbox::Snapshot) -> microsandbox::Result<()> {
    /// let workers = futures::future::try_join_all((0..4).map(|i| {
    ///     snap.restore_with(format!("w-{i}"), |r| r.env("WORKER_ID", &i.to_string()))
    /// }))
    /// .await?;
    /// # Ok(()) }
    /// ```
    pub fn restore_with(&self, name: impl Into<String>, f: impl FnOnce(RestoreOptions) -> RestoreOptions) -> Restoring {
        let o = f(RestoreOptions::default());
        let (snap, name) = (self.name(), name.into());
        Restoring(Box::pin(async move {
            let (guard, flag) = CancelFlag::new();
            let core = blocking(move || core::snapshot_restore(&snap, &name, &o, Some(&flag))).await?;
            guard.disarm();
            Ok(Sandbox { core: Arc::new(core) })
        }))
    }
}

/// A restore under way ([`Snapshot::restore_with`]): a future of the new
/// sandbox, holding neither the snapshot nor the options' closure. Dropped
/// before it is done, the restore goes on and its sandbox is removed once
/// it is over.
#[must_use = "a restore is made by awaiting it"]
pub struct Restoring(Pin<Box<dyn Future<Output = Result<Sandbox>> + Send>>);

impl Future for Restoring {
    type Output = Result<Sandbox>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Sandbox>> {
        self.0.as_mut().poll(cx)
    }
}

// ---- images ----------------------------------------------------------------------------------

/// The local image store.
pub mod images {
    use super::*;
    use crate::info::{PruneInfo, SaveFormat};

    /// Fetches @reference from its registry (a create pulls a missing
    /// image by itself); @insecure allows plain http to a registry not on
    /// loopback.
    pub async fn pull(reference: &str, insecure: bool) -> Result<ImageInfo> {
        pull_with(reference, |o| if insecure { o.insecure() } else { o }).await
    }

    /// `pull` with options: `|o| o.insecure().progress(|e| ...)`.
    pub async fn pull_with(reference: &str, f: impl FnOnce(ImagePullOptions) -> ImagePullOptions) -> Result<ImageInfo> {
        let (r, o) = (reference.to_owned(), f(ImagePullOptions::default()));
        blocking(move || core::image_pull(&r, &o)).await
    }

    /// Reads an image without a registry: an OCI image layout (a
    /// directory or a tar of one) or a `docker save` archive, named @tag.
    pub async fn load(path: &str, tag: Option<&str>) -> Result<ImageInfo> {
        load_with(path, |o| match tag {
            Some(t) => o.tag(t),
            None => o,
        })
        .await
    }

    /// `load` with options: `|o| o.tag("app:1").progress(|e| ...)`.
    pub async fn load_with(path: &str, f: impl FnOnce(ImageLoadOptions) -> ImageLoadOptions) -> Result<ImageInfo> {
        let (p, o) = (path.to_owned(), f(ImageLoadOptions::default()));
        blocking(move || core::image_load(&p, &o)).await
    }

    /// Its record as the JSON document `msb image inspect` prints:
    /// reference, digests, layers, and its OCI config (Env, Cmd,
    /// Entrypoint, WorkingDir, User); [`Error::NotFound`] when it is not
    /// stored.
    pub async fn inspect(reference: &str) -> Result<String> {
        let r = reference.to_owned();
        blocking(move || core::image_inspect(&r)).await
    }

    /// Every image in the local store.
    pub async fn list() -> Result<Vec<ImageInfo>> {
        blocking(core::image_list).await
    }

    /// Forgets @reference and deletes what nothing else uses.
    pub async fn remove(reference: &str) -> Result<()> {
        let r = reference.to_owned();
        blocking(move || core::image_remove(&r)).await
    }

    /// Writes the stored image @reference as a tar at @path (`msb save`;
    /// "-": stdout): an OCI image layout, or with
    /// [`SaveFormat::Docker`] also the `manifest.json` that `docker load`
    /// reads. [`load`] reads either back.
    pub async fn save(reference: &str, path: &str, format: SaveFormat) -> Result<()> {
        let (r, p) = (reference.to_owned(), path.to_owned());
        blocking(move || core::image_save(&r, &p, format)).await
    }

    /// Deletes blobs and layers no image and no sandbox uses, and the
    /// debris of interrupted pulls (`msb image prune`).
    pub async fn prune() -> Result<PruneInfo> {
        blocking(core::image_prune).await
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
    pub async fn login(registry: &str, user: &str, password: &str) -> Result<()> {
        login_with(registry, user, password, |o| o).await
    }

    /// `login` with options: `|o| o.insecure()`.
    pub async fn login_with(
        registry: &str,
        user: &str,
        password: &str,
        f: impl FnOnce(LoginOptions) -> LoginOptions,
    ) -> Result<()> {
        let (r, u, p, o) = (registry.to_owned(), user.to_owned(), password.to_owned(), f(LoginOptions::default()));
        blocking(move || core::registry_login(&r, &u, &p, &o)).await
    }

    /// Forgets the credentials for @registry (`msb registry logout`);
    /// [`Error::NotFound`] when there are none.
    pub async fn logout(registry: &str) -> Result<()> {
        let r = registry.to_owned();
        blocking(move || core::registry_logout(&r)).await
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
    pub async fn publish(dir: &str, registry: Option<&str>) -> Result<PluginInfo> {
        let (d, r) = (dir.to_owned(), registry.map(str::to_owned));
        blocking(move || core::plugin_publish(&d, r.as_deref())).await
    }

    /// Installs @what (NAME, NAME:VERSION or NAME@DIGEST in @registry, or
    /// a whole reference HOST/REPO:TAG) under `$MSB_HOME/plugins`, every
    /// blob checked against its digest; an installed one of that name is
    /// replaced (`msb plugin install`). [`Error::NotFound`] when the
    /// registry has no such plugin, [`Error::WrongKind`] when the
    /// reference holds something else.
    pub async fn install(what: &str, registry: Option<&str>) -> Result<PluginInfo> {
        let (w, r) = (what.to_owned(), registry.map(str::to_owned));
        blocking(move || core::plugin_install(&w, r.as_deref())).await
    }

    /// The entries of @registry's index whose name, description,
    /// language, kind or hooks hold @query (case ignored; "" for all), by
    /// name (`msb plugin search`).
    pub async fn search(registry: Option<&str>, query: &str) -> Result<Vec<PluginInfo>> {
        let (r, q) = (registry.map(str::to_owned), query.to_owned());
        blocking(move || core::plugin_search(r.as_deref(), &q)).await
    }

    /// Every installed plugin, by name, each verified
    /// ([`PluginInfo::verified`]) (`msb plugin ls`).
    pub async fn list() -> Result<Vec<PluginInfo>> {
        blocking(core::plugin_list).await
    }

    /// The installed plugin @name, verified (`msb plugin inspect`):
    /// [`Error::Damaged`] when its files no longer match its digest,
    /// [`Error::NotFound`] when none of that name is installed.
    pub async fn inspect(name: &str) -> Result<PluginInfo> {
        let n = name.to_owned();
        blocking(move || core::plugin_inspect(&n)).await
    }

    /// Uninstalls the plugin @name (`msb plugin rm`); sandboxes that load
    /// it then fail to start, saying so.
    pub async fn remove(name: &str) -> Result<()> {
        let n = name.to_owned();
        blocking(move || core::plugin_remove(&n)).await
    }
}

/// Named volumes (docs/filesystems.md; `msb volume`), mounted with
/// [`NamedVolume`](crate::NamedVolume).
pub mod volumes {
    use super::*;
    use crate::info::VolumeInfo;

    /// Makes the named volume @name of at most @size_mib MiB (0: no
    /// limit); [`Error::AlreadyExists`] if the name is taken.
    pub async fn create(name: &str, size_mib: u64) -> Result<VolumeInfo> {
        let n = name.to_owned();
        blocking(move || core::volume_create(&n, size_mib)).await
    }

    /// Its record.
    pub async fn info(name: &str) -> Result<VolumeInfo> {
        let n = name.to_owned();
        blocking(move || core::volume_info(&n)).await
    }

    /// Its record as the JSON document `msb volume inspect` prints: name,
    /// size_mib, used_bytes, created_at, path, project, and used_by (the
    /// name of each sandbox that mounts it) and running (how many of them
    /// run); [`Error::NotFound`] if there is none.
    pub async fn inspect(name: &str) -> Result<String> {
        let n = name.to_owned();
        blocking(move || core::volume_inspect(&n)).await
    }

    /// Every named volume, by name.
    pub async fn list() -> Result<Vec<VolumeInfo>> {
        blocking(core::volume_list).await
    }

    /// Deletes the volume and its files; [`Error::Busy`] while a running
    /// sandbox mounts it, and (unless @force) while a stopped one does.
    pub async fn remove(name: &str, force: bool) -> Result<()> {
        let n = name.to_owned();
        blocking(move || core::volume_remove(&n, force)).await
    }
}

/// A loaded Sandboxfile (docs/projects.md): its sandboxes and named
/// volumes, brought up and down together as `msb project` does. Loading
/// checks the whole file and starts nothing; a file that cannot be used
/// is an [`Error::Sandboxfile`] saying where. The calls that boot and
/// stop run on tokio's blocking pool.
///
/// ```no_run
/// use microsandbox::Project;
///
/// # async fn f() -> microsandbox::Result<()> {
/// let p = Project::load("Sandboxfile").await?;
/// p.up_with(|o| o.progress(|e| println!("{:?} {}", e.sandbox, e.what))).await?;
/// let r = p.run("api", "test").await?;    // one of its scripts
/// p.down_with(|o| o.volumes(true)).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Project {
    core: Arc<crate::project::ProjectCore>,
}

impl Project {
    /// Reads and checks the Sandboxfile at @path.
    pub async fn load(path: impl AsRef<std::path::Path>) -> Result<Project> {
        let p = path.as_ref().to_owned();
        let core = blocking(move || crate::project::ProjectCore::load(Some(&p))).await?;
        Ok(Project { core: Arc::new(core) })
    }

    /// The Sandboxfile in the current directory or the nearest above it.
    pub async fn find() -> Result<Project> {
        let core = blocking(|| crate::project::ProjectCore::load(None)).await?;
        Ok(Project { core: Arc::new(core) })
    }

    /// The same from @text, as if read from @path (which names it in
    /// errors and anchors its relative paths).
    pub async fn parse(text: &str, path: impl AsRef<std::path::Path>) -> Result<Project> {
        let (t, p) = (text.to_owned(), path.as_ref().to_owned());
        let core = blocking(move || crate::project::ProjectCore::parse(&t, &p)).await?;
        Ok(Project { core: Arc::new(core) })
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

    async fn call(&self, what: crate::project::Call, o: crate::ProjectOptions) -> Result<()> {
        let core = self.core.clone();
        blocking(move || core.call(what, &o)).await
    }

    /// Makes what is missing, recreates what changed, starts what is
    /// stopped and leaves the rest: a second up changes nothing.
    pub async fn up(&self) -> Result<()> {
        self.up_with(|o| o).await
    }

    /// [`Project::up`] with options (`only`, `progress`).
    pub async fn up_with(&self, f: impl FnOnce(crate::ProjectOptions) -> crate::ProjectOptions) -> Result<()> {
        self.call(crate::project::Call::Up, f(Default::default())).await
    }

    /// Stops and removes every sandbox of the project, in reverse start
    /// order; named volumes are kept.
    pub async fn down(&self) -> Result<()> {
        self.down_with(|o| o).await
    }

    /// [`Project::down`] with options (`volumes`, `stop_timeout`, `progress`).
    pub async fn down_with(&self, f: impl FnOnce(crate::ProjectOptions) -> crate::ProjectOptions) -> Result<()> {
        self.call(crate::project::Call::Down, f(Default::default())).await
    }

    /// Stops its running sandboxes (reverse order), keeping them.
    pub async fn stop(&self) -> Result<()> {
        self.stop_with(|o| o).await
    }

    /// [`Project::stop`] with options.
    pub async fn stop_with(&self, f: impl FnOnce(crate::ProjectOptions) -> crate::ProjectOptions) -> Result<()> {
        self.call(crate::project::Call::Stop, f(Default::default())).await
    }

    /// Stops its running sandboxes and starts them again, disks kept.
    pub async fn restart(&self) -> Result<()> {
        self.restart_with(|o| o).await
    }

    /// [`Project::restart`] with options.
    pub async fn restart_with(&self, f: impl FnOnce(crate::ProjectOptions) -> crate::ProjectOptions) -> Result<()> {
        self.call(crate::project::Call::Restart, f(Default::default())).await
    }

    /// The file's sandboxes in start order, then orphans.
    pub async fn ps(&self) -> Result<Vec<crate::ProjectEntry>> {
        let core = self.core.clone();
        blocking(move || core.ps()).await
    }

    /// A handle on the sandbox of key @key ([`Error::NotFound`] before up).
    pub async fn sandbox(&self, key: &str) -> Result<Sandbox> {
        Sandbox::get(&self.core.sandbox_name(key)?).await
    }

    /// [`Sandbox::exec`] in the sandbox of key @key.
    pub async fn exec(&self, key: &str, line: &str) -> Result<ExecResult> {
        self.sandbox(key).await?.exec(line).await
    }

    /// [`Sandbox::exec_args`] in the sandbox of key @key.
    pub async fn exec_args<I, S>(&self, key: &str, argv: I) -> Result<ExecResult>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.sandbox(key).await?.exec_args(argv).await
    }

    /// Runs script @script of the sandbox of key @key, as `exec_args`
    /// runs a command: its exit code is the script's.
    pub async fn run(&self, key: &str, script: &str) -> Result<ExecResult> {
        let argv = self.core.script(key, script)?;
        self.exec_args(key, argv).await
    }

    /// The log of the sandbox of key @key (`msb logs`); its last @tail
    /// lines with one.
    pub async fn logs(&self, key: &str, tail: Option<usize>) -> Result<String> {
        let (core, k) = (self.core.clone(), key.to_owned());
        blocking(move || core.logs(&k, tail)).await
    }
}
