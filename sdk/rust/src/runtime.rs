// SPDX-License-Identifier: Apache-2.0
//! Peer sandboxes, from code running inside a sandbox (docs/spawn.md).
//!
//! `Sandbox::current_runtime().await?` (or, in the blocking API,
//! `blocking::Sandbox::current_runtime()?`) inside a sandbox gives a
//! [`Runtime`] that asks the host, through the sandbox's agent (its socket
//! /run/microsandbox/agent.sock, the agent's link, never the network), to
//! start peers beside it, run commands in them (with input), copy files
//! into and out of them, and snapshot and restore them. Nothing here calls
//! libmsb: this module speaks the agent's frames itself
//! (docs/agent-protocol.md §7c), on tokio's `UnixStream` for the async API
//! and std's for the blocking one. What is allowed is the host's decision
//! (`msb run --allow-spawn N`); a refusal is [`Error::PolicyRefused`] with
//! the host's reason, its other errors the variant of their code.

use std::collections::VecDeque;
use std::ffi::{CString, OsStr, OsString};
use std::fmt;
use std::fs::File;
use std::io::{self, Read, Write};
use std::marker::PhantomData;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream as StdStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, RwLock};

use serde_json::{json, Map, Value};

use crate::command::{split_command, ExecResult};
use crate::config::{Async, Blocking, NetworkBuilder};
use crate::error::{Error, Failure, Result};

// frame types and TLV tags (src/proto/proto.h)
const F_STDIN: u8 = 3;
const F_WINDOW: u8 = 7;
const F_STDOUT: u8 = 67;
const F_STDERR: u8 = 68;
const F_EXIT: u8 = 69;
const F_RESULT: u8 = 73;
const F_PEER: u8 = 76;
const T_ERRNO: u8 = 31;
const T_MESSAGE: u8 = 32;
const HDR: usize = 12;
const FRAME_MAX: usize = 64 * 1024;
const REQ_MAX: usize = 60 * 1024;
/// The host sends output within the credit given back as it is taken
/// (MSB_WINDOW_INIT at first), a quarter at a time.
const WINDOW_INIT: usize = 256 * 1024;
/// The program sends input within MSB_PEER_STDIN_WINDOW, which the host
/// gives back (WINDOW) as the peer takes it, in frames of at most
/// STDIN_CHUNK bytes.
const STDIN_WINDOW: usize = 128 * 1024;
const STDIN_CHUNK: usize = 32 * 1024;
// a copy's archive (MSB_PCP_*): records, a file's bytes in chunks
const PCP_DIR: u8 = b'D';
const PCP_FILE: u8 = b'F';
const PCP_LINK: u8 = b'L';
const PCP_END: u8 = b'E';
const PCP_CHUNK: usize = 64 * 1024;
const PCP_NAME_MAX: usize = 4095;
const PCP_DEPTH: usize = 128;

const AGENT_SOCKET: &str = "/run/microsandbox/agent.sock";
static SOCKET: RwLock<Option<PathBuf>> = RwLock::new(None);

fn socket() -> PathBuf {
    SOCKET.read().unwrap_or_else(|e| e.into_inner()).clone().unwrap_or_else(|| PathBuf::from(AGENT_SOCKET))
}

// Errors carry libmsb's code for the same failure, and its name, without
// calling libmsb (a guest program need not load it).
const MSB_E_INVALID: i32 = -libc::EINVAL;
const MSB_E_PROTOCOL: i32 = -libc::EPROTO;
const MSB_E_POLICY: i32 = -1004;

fn fail(code: i32, op: &str, message: impl Into<String>) -> Error {
    let name = match code {
        MSB_E_INVALID => "MSB_E_INVALID".to_owned(),
        MSB_E_PROTOCOL => "MSB_E_PROTOCOL".to_owned(),
        MSB_E_POLICY => "MSB_E_POLICY".to_owned(),
        c if c == -libc::ENOENT => "MSB_E_NOT_FOUND".to_owned(),
        c if c == -libc::EEXIST => "MSB_E_EXISTS".to_owned(),
        c if c == -libc::EBUSY => "MSB_E_BUSY".to_owned(),
        c if c == -libc::ENOTCONN => "MSB_E_NOT_RUNNING".to_owned(),
        c if c == -libc::EALREADY => "MSB_E_ALREADY".to_owned(),
        c if c == -libc::ETIMEDOUT => "MSB_E_TIMEOUT".to_owned(),
        c if c == -libc::EPIPE => "MSB_E_STOPPED".to_owned(),
        c if c == -libc::EACCES => "MSB_E_PERMISSION".to_owned(),
        c if c == -libc::EOPNOTSUPP => "EOPNOTSUPP".to_owned(),
        c if c == -libc::EIO => "EIO".to_owned(),
        c if c == -libc::ENOSYS => "ENOSYS".to_owned(),
        c => format!("E{}", -c),
    };
    Error::from_failure(Failure { op: op.to_owned(), code, name, message: message.into() })
}

fn not_inside(op: &str, why: &str) -> Error {
    fail(
        -libc::EOPNOTSUPP,
        op,
        format!(
            "not inside a microsandbox sandbox ({}: {why}): current_runtime() is for code running \
             in one; from the host, use Sandbox::builder()",
            socket().display()
        ),
    )
}

/// An error of this sandbox's files, as the variant of its errno
/// (NotFound, PermissionDenied...).
fn local_error(e: &io::Error, what: &str, path: &Path) -> Error {
    let code = -e.raw_os_error().unwrap_or(libc::EIO);
    let msg = io::Error::from_raw_os_error(-code).to_string();
    fail(code, &format!("{what} {}", path.display()), msg)
}

fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; HDR];
    b[..4].copy_from_slice(&(payload.len() as u32).to_be_bytes());
    b[8] = kind;
    b.extend_from_slice(payload);
    b
}

/// A RESULT's errno and message.
fn result(mut p: &[u8]) -> Option<(u32, String)> {
    let (mut err, mut msg) = (None, String::new());
    while p.len() >= 5 {
        let n = u32::from_be_bytes([p[1], p[2], p[3], p[4]]) as usize;
        if n > p.len() - 5 {
            break;
        }
        let v = &p[5..5 + n];
        match p[0] {
            T_ERRNO if n == 4 => err = Some(u32::from_be_bytes([v[0], v[1], v[2], v[3]])),
            T_MESSAGE => msg = String::from_utf8_lossy(v).into_owned(),
            _ => {}
        }
        p = &p[5 + n..];
    }
    err.map(|e| (e, msg))
}

/// Where a request's output goes; an error ends the request with it.
type Sink = Box<dyn FnMut(&[u8]) -> Result<()> + Send>;

type Collected = Arc<Mutex<Vec<u8>>>;

/// Collects what a sink is given.
fn collect() -> (Sink, Collected) {
    let v = Arc::new(Mutex::new(Vec::new()));
    let w = v.clone();
    (
        Box::new(move |b: &[u8]| {
            w.lock().unwrap().extend_from_slice(b);
            Ok(())
        }),
        v,
    )
}

fn discard() -> Sink {
    Box::new(|_: &[u8]| Ok(()))
}

fn taken(v: Collected) -> Vec<u8> {
    std::mem::take(&mut *v.lock().unwrap())
}

/// A request's input: sent as STDIN frames within the credit the host
/// gives back, then its end.
pub(crate) enum Input {
    Bytes(Vec<u8>),
    Read(Box<dyn Read + Send>),
    #[cfg(feature = "tokio")]
    AsyncRead(Box<dyn tokio::io::AsyncRead + Send + Unpin>),
}

/// An input's read error: the crate's own (a copy's local file) as it
/// is, others as HostIo.
fn input_error(e: io::Error) -> Error {
    if e.get_ref().is_some_and(|x| x.is::<Error>()) {
        if let Some(inner) = e.into_inner() {
            if let Ok(x) = inner.downcast::<Error>() {
                return *x;
            }
        }
        unreachable!()
    }
    Error::HostIo(e)
}

/// One request: what it asks, its input, where its output goes.
struct Call {
    op: String,
    req: Req,
    input: Option<Input>,
    out: Sink,
    err: Sink,
}

/// A request's fields, in the order the msb command writes them.
struct Req(Vec<(&'static str, Value)>);

impl Req {
    fn new(op: &str) -> Req {
        Req(vec![("op", op.into())])
    }

    fn with(mut self, key: &'static str, v: impl Into<Value>) -> Req {
        self.0.push((key, v.into()));
        self
    }

    fn body(&self) -> String {
        let fields: Vec<String> = self.0.iter().map(|(k, v)| format!("{}:{v}", Value::from(*k))).collect();
        format!("{{{}}}", fields.join(","))
    }
}

fn call(op: impl Into<String>, req: Req) -> Call {
    Call { op: op.into(), req, input: None, out: discard(), err: discard() }
}

fn body_of(c: &Call) -> Result<Vec<u8>> {
    let body = c.req.body().into_bytes();
    if body.len() > REQ_MAX {
        return Err(fail(MSB_E_INVALID, &c.op, "the request is over 60 KiB"));
    }
    Ok(body)
}

fn closed(op: &str, what: &str) -> Error {
    fail(MSB_E_PROTOCOL, op, format!("the sandbox's agent closed the connection{what}"))
}

/// A frame header's payload length, checked.
fn header(op: &str, hdr: &[u8; HDR]) -> Result<usize> {
    let n = u32::from_be_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]) as usize;
    if n > FRAME_MAX || hdr[9] != 0 {
        return Err(fail(MSB_E_PROTOCOL, op, "a bad frame from the sandbox's agent"));
    }
    Ok(n)
}

/// What a frame of the answer asks of the connection.
enum Flow {
    More,
    /// give the host this much output credit back
    Window(u32),
    /// the host took this much input
    Credit(u32),
    /// the answer's end: an exec's (code, signal), or None
    Done(Option<(i32, i32)>),
}

/// Reads the answer's frames as they come, the same for both APIs.
struct Answer<'a> {
    op: &'a str,
    out: &'a mut Sink,
    err: &'a mut Sink,
    taken: usize,
}

impl Answer<'_> {
    fn frame(&mut self, kind: u8, p: &[u8]) -> Result<Flow> {
        let op = self.op;
        match kind {
            F_STDOUT | F_STDERR => {
                if kind == F_STDOUT {
                    (self.out)(p)?
                } else {
                    (self.err)(p)?
                }
                self.taken += p.len();
                if self.taken >= WINDOW_INIT / 4 {
                    let n = std::mem::take(&mut self.taken);
                    return Ok(Flow::Window(n as u32));
                }
                Ok(Flow::More)
            }
            F_WINDOW if p.len() == 4 => Ok(Flow::Credit(u32::from_be_bytes([p[0], p[1], p[2], p[3]]))),
            F_EXIT => {
                if p.len() < 8 {
                    return Err(fail(MSB_E_PROTOCOL, op, "a bad EXIT from the sandbox's agent"));
                }
                let code = i32::from_be_bytes([p[0], p[1], p[2], p[3]]);
                let sig = u32::from_be_bytes([p[4], p[5], p[6], p[7]]) as i32;
                Ok(Flow::Done(Some((code, sig))))
            }
            F_RESULT => {
                let (e, msg) = result(p)
                    .ok_or_else(|| fail(MSB_E_PROTOCOL, op, "a RESULT without ERRNO from the sandbox's agent"))?;
                if e == 0 {
                    return Ok(Flow::Done(None));
                }
                let code = if e as i32 == libc::EPERM { MSB_E_POLICY } else { -(e as i32) };
                let msg = if msg.is_empty() { io::Error::from_raw_os_error(e as i32).to_string() } else { msg };
                Err(fail(code, op, msg))
            }
            _ => Ok(Flow::More),
        }
    }
}

/// The input bytes the host lets this program send now.
struct Credit {
    left: Mutex<(usize, bool)>,
    cv: Condvar,
    #[cfg(feature = "tokio")]
    more: tokio::sync::Notify,
}

impl Credit {
    fn new() -> Credit {
        Credit {
            left: Mutex::new((STDIN_WINDOW, false)),
            cv: Condvar::new(),
            #[cfg(feature = "tokio")]
            more: tokio::sync::Notify::new(),
        }
    }

    /// What the host gave back (never past the window: a host that gives
    /// more than it was sent is not believed).
    fn give(&self, n: usize) {
        let mut l = self.left.lock().unwrap();
        if l.0 + n <= STDIN_WINDOW {
            l.0 += n;
        }
        drop(l);
        self.cv.notify_all();
        #[cfg(feature = "tokio")]
        self.more.notify_one();
    }

    fn refund(&self, n: usize) {
        self.left.lock().unwrap().0 += n;
    }

    /// The request is over: a waiting feeder stops.
    fn end(&self) {
        self.left.lock().unwrap().1 = true;
        self.cv.notify_all();
    }

    /// Up to @want of the credit, waiting for some; 0 once the request is
    /// over.
    fn take_blocking(&self, want: usize) -> usize {
        let mut l = self.left.lock().unwrap();
        loop {
            if l.1 {
                return 0;
            }
            if l.0 > 0 {
                let n = want.min(l.0);
                l.0 -= n;
                return n;
            }
            l = self.cv.wait(l).unwrap();
        }
    }

    #[cfg(feature = "tokio")]
    async fn take(&self, want: usize) -> usize {
        loop {
            {
                let mut l = self.left.lock().unwrap();
                if l.0 > 0 {
                    let n = want.min(l.0);
                    l.0 -= n;
                    return n;
                }
            }
            self.more.notified().await;
        }
    }
}

// ---- the blocking connection ----------------------------------------------------------------

fn send_blocking(w: &Mutex<StdStream>, kind: u8, p: &[u8]) -> io::Result<()> {
    w.lock().unwrap().write_all(&frame(kind, p))
}

/// Ends a blocking request's connection however `ask_blocking` returns:
/// the feeder stops, the agent sees the connection closed (and the host
/// cancels the request if it was not over).
struct EndBlocking {
    credit: Arc<Credit>,
    stream: StdStream,
}

impl Drop for EndBlocking {
    fn drop(&mut self) {
        self.credit.end();
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

/// What a peer's input gives next, a read interrupted by a signal tried
/// again; its error is the input's.
fn read_input(r: &mut dyn Read, buf: &mut [u8]) -> Result<usize> {
    loop {
        match r.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            x => return x.map_err(input_error),
        }
    }
}

/// @c's input as STDIN frames within @credit, then its end. A write that
/// fails (the agent closed the connection) ends it quietly: the reads say
/// why.
fn feed_blocking(input: Input, credit: &Credit, w: &Mutex<StdStream>) -> Result<()> {
    let mut r: Box<dyn Read + Send> = match input {
        Input::Bytes(b) => Box::new(io::Cursor::new(b)),
        Input::Read(r) => r,
        #[cfg(feature = "tokio")]
        Input::AsyncRead(_) => unreachable!("the blocking API takes a Read"),
    };
    let mut buf = vec![0u8; STDIN_CHUNK];
    loop {
        let n = credit.take_blocking(STDIN_CHUNK);
        if n == 0 {
            return Ok(());
        }
        let m = read_input(&mut r, &mut buf[..n])?;
        credit.refund(n - m);
        if m == 0 {
            let _ = send_blocking(w, F_STDIN, &[]);
            return Ok(());
        }
        if send_blocking(w, F_STDIN, &buf[..m]).is_err() {
            return Ok(());
        }
    }
}

/// One request on a connection of its own, its answer read to the end
/// on this thread (its input written by a thread of its own): output to
/// the call's sinks as it comes (credit given back once taken), then
/// `Some((code, signal))` for an exec, `None` for the others.
fn ask_blocking(mut c: Call) -> Result<Option<(i32, i32)>> {
    let body = body_of(&c)?;
    let op = c.op.clone();
    let mut s = StdStream::connect(socket()).map_err(|e| not_inside(&op, &e.to_string()))?;
    let w = Arc::new(Mutex::new(s.try_clone().map_err(Error::HostIo)?));
    send_blocking(&w, F_PEER, &body).map_err(|_| closed(&op, ""))?;
    let credit = Arc::new(Credit::new());
    let _end = EndBlocking { credit: credit.clone(), stream: s.try_clone().map_err(Error::HostIo)? };
    let failed: Arc<Mutex<Option<Error>>> = Arc::new(Mutex::new(None));
    if let Some(input) = c.input.take() {
        let (credit, w, failed) = (credit.clone(), w.clone(), failed.clone());
        std::thread::Builder::new()
            .name("msb-peer-input".into())
            .spawn(move || {
                if let Err(e) = feed_blocking(input, &credit, &w) {
                    *failed.lock().unwrap() = Some(e);
                    let _ = w.lock().unwrap().shutdown(std::net::Shutdown::Both);
                }
            })
            .map_err(Error::HostIo)?;
    }
    let mut a = Answer { op: &op, out: &mut c.out, err: &mut c.err, taken: 0 };
    let mut hdr = [0u8; HDR];
    let mut buf = vec![0u8; FRAME_MAX];
    let cut = |failed: &Mutex<Option<Error>>| {
        failed.lock().unwrap().take().unwrap_or_else(|| closed(&op, " before the answer's end"))
    };
    loop {
        if s.read_exact(&mut hdr).is_err() {
            return Err(cut(&failed));
        }
        let n = header(&op, &hdr)?;
        if s.read_exact(&mut buf[..n]).is_err() {
            return Err(cut(&failed));
        }
        match a.frame(hdr[8], &buf[..n])? {
            Flow::More => {}
            // A connection the agent has closed (the answer's end already
            // sent) is found by the next read, not here.
            Flow::Window(k) => {
                let _ = send_blocking(&w, F_WINDOW, &k.to_be_bytes());
            }
            Flow::Credit(k) => credit.give(k as usize),
            Flow::Done(st) => return Ok(st),
        }
    }
}

// ---- the async connection -------------------------------------------------------------------

#[cfg(feature = "tokio")]
mod tokio_io {
    use super::*;
    use std::future::Future;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::unix::OwnedWriteHalf;
    use tokio::net::UnixStream;

    type Writer = Arc<tokio::sync::Mutex<OwnedWriteHalf>>;

    async fn send(w: &Writer, kind: u8, p: &[u8]) -> io::Result<()> {
        w.lock().await.write_all(&frame(kind, p)).await
    }

    /// Aborts the input's task when the request's future ends or is
    /// dropped.
    struct Aborting(tokio::task::JoinHandle<()>);

    impl Drop for Aborting {
        fn drop(&mut self) {
            self.0.abort();
        }
    }

    async fn feed(input: Input, credit: &Credit, w: &Writer) -> Result<()> {
        let mut buf = vec![0u8; STDIN_CHUNK];
        match input {
            Input::Bytes(b) => {
                let mut off = 0;
                while off < b.len() {
                    let n = credit.take(STDIN_CHUNK.min(b.len() - off)).await;
                    if send(w, F_STDIN, &b[off..off + n]).await.is_err() {
                        return Ok(());
                    }
                    off += n;
                }
            }
            Input::Read(mut r) => loop {
                let n = credit.take(STDIN_CHUNK).await;
                let m = read_input(&mut r, &mut buf[..n])?;
                credit.refund(n - m);
                if m == 0 {
                    break;
                }
                if send(w, F_STDIN, &buf[..m]).await.is_err() {
                    return Ok(());
                }
            },
            Input::AsyncRead(mut r) => loop {
                let n = credit.take(STDIN_CHUNK).await;
                let m = r.read(&mut buf[..n]).await.map_err(input_error)?;
                credit.refund(n - m);
                if m == 0 {
                    break;
                }
                if send(w, F_STDIN, &buf[..m]).await.is_err() {
                    return Ok(());
                }
            },
        }
        let _ = send(w, F_STDIN, &[]).await;
        Ok(())
    }

    /// @f's output, or None once @n is notified first.
    async fn unless_notified<F: Future>(f: F, n: &tokio::sync::Notify) -> Option<F::Output> {
        let mut f = std::pin::pin!(f);
        let mut notified = std::pin::pin!(n.notified());
        std::future::poll_fn(|cx| {
            if notified.as_mut().poll(cx).is_ready() {
                return std::task::Poll::Ready(None);
            }
            f.as_mut().poll(cx).map(Some)
        })
        .await
    }

    /// One request on a connection of its own, its answer read to the
    /// end: output to the call's sinks as it comes (credit given back
    /// once taken), then `Some((code, signal))` for an exec, `None` for
    /// the others. Its input is written by a task of its own. Dropping the
    /// future closes the connection: the agent tells the host, which
    /// cancels the request (a peer's command is killed).
    pub(super) async fn ask(mut c: Call) -> Result<Option<(i32, i32)>> {
        let body = body_of(&c)?;
        let op = c.op.clone();
        let s = match UnixStream::connect(socket()).await {
            Ok(s) => s,
            Err(e) => return Err(not_inside(&op, &e.to_string())),
        };
        let (mut rd, wr) = s.into_split();
        let w: Writer = Arc::new(tokio::sync::Mutex::new(wr));
        send(&w, F_PEER, &body).await.map_err(|_| closed(&op, ""))?;
        let credit = Arc::new(Credit::new());
        let failed = Arc::new((Mutex::new(None::<Error>), tokio::sync::Notify::new()));
        let _feeder = match c.input.take() {
            Some(input) => {
                let (credit, w, failed) = (credit.clone(), w.clone(), failed.clone());
                Some(Aborting(tokio::spawn(async move {
                    if let Err(e) = feed(input, &credit, &w).await {
                        *failed.0.lock().unwrap() = Some(e);
                        failed.1.notify_one();
                    }
                })))
            }
            None => None,
        };
        let mut a = Answer { op: &op, out: &mut c.out, err: &mut c.err, taken: 0 };
        let mut hdr = [0u8; HDR];
        let mut buf = vec![0u8; FRAME_MAX];
        let cut = || failed.0.lock().unwrap().take().unwrap_or_else(|| closed(&op, " before the answer's end"));
        loop {
            // an input that fails ends the request with its error
            let next = async {
                rd.read_exact(&mut hdr).await?;
                let n = header(&op, &hdr).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                rd.read_exact(&mut buf[..n]).await?;
                Ok::<usize, io::Error>(n)
            };
            let Some(got) = unless_notified(next, &failed.1).await else {
                return Err(cut());
            };
            let n = match got {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::InvalidData => return Err(input_error(e)),
                Err(_) => return Err(cut()),
            };
            match a.frame(hdr[8], &buf[..n])? {
                Flow::More => {}
                // A connection the agent has closed (the answer's end
                // already sent) is found by the next read, not here.
                Flow::Window(k) => {
                    let _ = send(&w, F_WINDOW, &k.to_be_bytes()).await;
                }
                Flow::Credit(k) => credit.give(k as usize),
                Flow::Done(st) => return Ok(st),
            }
        }
    }
}

// ---- a copy's archive (docs/agent-protocol.md §7c, MSB_PCP_* in proto.h) --------------------

/// The copied item's name: @p's last component ("/" for "/").
fn base_name(p: &[u8]) -> &[u8] {
    let mut q = p;
    while q.len() > 1 && q.ends_with(b"/") {
        q = &q[..q.len() - 1];
    }
    if q == b"/" {
        return q;
    }
    match q.iter().rposition(|&c| c == b'/') {
        Some(i) => &q[i + 1..],
        None => q,
    }
}

/// docker cp's SRC/. (or "/"): what is in the directory.
fn contents_only(p: &[u8]) -> bool {
    p.ends_with(b"/.") || (!p.is_empty() && p.iter().all(|&c| c == b'/'))
}

fn rec(kind: u8, mode: u32, name: &[u8], link: &[u8]) -> Result<Vec<u8>> {
    if name.len() > PCP_NAME_MAX || link.len() > PCP_NAME_MAX {
        return Err(fail(
            MSB_E_INVALID,
            "copy",
            format!("{}: the name is too long (at most {PCP_NAME_MAX} bytes)", String::from_utf8_lossy(name)),
        ));
    }
    let mut r = vec![kind];
    r.extend_from_slice(&(mode & 0o7777).to_be_bytes());
    r.extend_from_slice(&(name.len() as u16).to_be_bytes());
    r.extend_from_slice(name);
    if kind == PCP_LINK {
        r.extend_from_slice(&(link.len() as u16).to_be_bytes());
        r.extend_from_slice(link);
    }
    Ok(r)
}

/// One piece of an archive: a record, or the bytes of a file (its
/// chunks, then the chunk 0).
enum Piece {
    Rec(Vec<u8>),
    File(PathBuf),
}

// mode_t is u32 on Linux; the casts keep it so elsewhere
#[allow(clippy::unnecessary_cast)]
const S_IFMT: u32 = libc::S_IFMT as u32;
#[allow(clippy::unnecessary_cast)]
const S_IFDIR: u32 = libc::S_IFDIR as u32;
#[allow(clippy::unnecessary_cast)]
const S_IFREG: u32 = libc::S_IFREG as u32;
#[allow(clippy::unnecessary_cast)]
const S_IFLNK: u32 = libc::S_IFLNK as u32;

/// What is in directory @root/@rel, each name below the copied item
/// (sorted, a directory before what is in it); sockets, fifos and devices
/// are not copied.
fn pack_tree(out: &mut Vec<Piece>, root: &Path, rel: &[u8], depth: usize) -> Result<()> {
    let here = if rel.is_empty() { root.to_path_buf() } else { root.join(OsStr::from_bytes(rel)) };
    let rd = std::fs::read_dir(&here).map_err(|e| local_error(&e, "cannot read", &here))?;
    let mut names: Vec<OsString> = Vec::new();
    for e in rd {
        names.push(e.map_err(|e| local_error(&e, "cannot read", &here))?.file_name());
    }
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    for n in names {
        let name = if rel.is_empty() { n.into_vec() } else { [rel, b"/", n.as_bytes()].concat() };
        let path = root.join(OsStr::from_bytes(&name));
        let Ok(st) = std::fs::symlink_metadata(&path) else { continue }; // gone meanwhile
        match st.mode() & S_IFMT {
            S_IFDIR => {
                if depth >= PCP_DEPTH {
                    return Err(fail(
                        MSB_E_INVALID,
                        &format!("copy {}", path.display()),
                        "directories nested too deep",
                    ));
                }
                out.push(Piece::Rec(rec(PCP_DIR, st.mode(), &name, b"")?));
                pack_tree(out, root, &name, depth + 1)?;
            }
            S_IFREG => {
                out.push(Piece::Rec(rec(PCP_FILE, st.mode(), &name, b"")?));
                out.push(Piece::File(path));
            }
            S_IFLNK => {
                if let Ok(link) = std::fs::read_link(&path) {
                    out.push(Piece::Rec(rec(PCP_LINK, st.mode(), &name, link.as_os_str().as_bytes())?));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// @src as an archive's pieces (files read as they are sent), and
/// whether it is a directory's contents alone.
fn pack(src: &Path) -> Result<(VecDeque<Piece>, bool)> {
    let st = std::fs::symlink_metadata(src).map_err(|e| local_error(&e, "cannot copy", src))?;
    let b = src.as_os_str().as_bytes();
    let base = base_name(b);
    let mut out = Vec::new();
    let mut contents = false;
    match st.mode() & S_IFMT {
        S_IFDIR => {
            contents = contents_only(b);
            out.push(Piece::Rec(rec(PCP_DIR, st.mode(), base, b"")?));
            pack_tree(&mut out, src, b"", 0)?;
        }
        S_IFREG => {
            out.push(Piece::Rec(rec(PCP_FILE, st.mode(), base, b"")?));
            out.push(Piece::File(src.to_path_buf()));
        }
        S_IFLNK => {
            let link = std::fs::read_link(src).map_err(|e| local_error(&e, "cannot read", src))?;
            out.push(Piece::Rec(rec(PCP_LINK, st.mode(), base, link.as_os_str().as_bytes())?));
        }
        _ => {
            return Err(fail(
                MSB_E_INVALID,
                &format!("copy {}", src.display()),
                format!("{} is not a file, a directory or a symlink", src.display()),
            ))
        }
    }
    out.push(Piece::Rec(rec(PCP_END, 0, b"", b"")?));
    Ok((out.into(), contents))
}

/// An archive's pieces as a byte stream: a file's bytes in chunks of 64
/// KiB read as they are sent.
struct Packer {
    pieces: VecDeque<Piece>,
    buf: Vec<u8>,
    pos: usize,
    file: Option<(File, PathBuf)>,
}

impl Packer {
    fn new(pieces: VecDeque<Piece>) -> Packer {
        Packer { pieces, buf: Vec::new(), pos: 0, file: None }
    }

    fn refill(&mut self) -> Result<bool> {
        self.buf.clear();
        self.pos = 0;
        if let Some((f, path)) = self.file.as_mut() {
            let mut chunk = vec![0u8; PCP_CHUNK];
            let mut n = 0;
            while n < PCP_CHUNK {
                match f.read(&mut chunk[n..]) {
                    Ok(0) => break,
                    Ok(k) => n += k,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(local_error(&e, "cannot read", path)),
                }
            }
            self.buf.extend_from_slice(&(n as u32).to_be_bytes());
            self.buf.extend_from_slice(&chunk[..n]);
            if n == 0 {
                self.file = None;
            }
            return Ok(true);
        }
        match self.pieces.pop_front() {
            None => Ok(false),
            Some(Piece::Rec(r)) => {
                self.buf = r;
                Ok(true)
            }
            Some(Piece::File(p)) => {
                let f = File::open(&p).map_err(|e| local_error(&e, "cannot open", &p))?;
                self.file = Some((f, p));
                Ok(true)
            }
        }
    }
}

impl Read for Packer {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.buf.len() {
            match self.refill() {
                Ok(true) => {}
                Ok(false) => return Ok(0),
                Err(e) => return Err(io::Error::other(e)),
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// A name below the copied item (msb_fname_ok): relative, no empty, "."
/// or ".." component, no NUL.
fn name_ok(name: &[u8]) -> bool {
    !name.is_empty()
        && !name.contains(&0)
        && !name.starts_with(b"/")
        && name.split(|&c| c == b'/').all(|c| !c.is_empty() && c != b"." && c != b"..")
}

fn cpath(b: &[u8]) -> io::Result<CString> {
    CString::new(b).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// A descriptor closed when dropped.
struct Fd(libc::c_int);

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: the descriptor is this one's own.
        unsafe { libc::close(self.0) };
    }
}

fn openat(dir: libc::c_int, name: &[u8], flags: libc::c_int, mode: libc::mode_t) -> io::Result<Fd> {
    let c = cpath(name)?;
    // SAFETY: c is NUL-terminated; the descriptor returned is owned by Fd.
    cvt(unsafe { libc::openat(dir, c.as_ptr(), flags | libc::O_CLOEXEC, mode as libc::c_uint) }).map(Fd)
}

/// The archive of the peer's @src into this sandbox's @dst, written as
/// it comes (docker cp's rules, as `msb cp PEER:SRC DST` applies them): a
/// directory's names are reached one component at a time without
/// following symlinks, none may leave it.
struct Unpacker {
    op: String,
    src: String,
    dst: String,
    buf: Vec<u8>,
    root: Option<(u8, u32)>, // the copied item's type and mode
    rootfd: Option<Fd>,      // the directory its names are below
    made: bool,              // that directory was made here (its mode last)
    file: Option<(Fd, String, u32)>,
    in_file: bool, // a file's chunks come next
    dirs: Vec<(Vec<u8>, u32)>,
    done: bool,
}

impl Unpacker {
    fn new(op: &str, src: &str, dst: &str) -> Unpacker {
        Unpacker {
            op: op.to_owned(),
            src: src.to_owned(),
            dst: dst.to_owned(),
            buf: Vec::new(),
            root: None,
            rootfd: None,
            made: false,
            file: None,
            in_file: false,
            dirs: Vec::new(),
            done: false,
        }
    }

    fn protocol(&self, why: &str) -> Error {
        fail(MSB_E_PROTOCOL, &self.op, format!("the copy's data is not an archive ({why})"))
    }

    /// The archive's next bytes, cut anywhere.
    fn feed(&mut self, data: &[u8]) -> Result<()> {
        self.buf.extend_from_slice(data);
        let mut off = 0;
        while !self.done {
            let b = std::mem::take(&mut self.buf);
            let r = if self.in_file { self.chunk(&b[off..]) } else { self.record(&b[off..]) };
            self.buf = b;
            match r? {
                0 => break,
                n => off += n,
            }
        }
        self.buf.drain(..off);
        Ok(())
    }

    fn chunk(&mut self, b: &[u8]) -> Result<usize> {
        if b.len() < 4 {
            return Ok(0);
        }
        let n = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
        if n > PCP_CHUNK {
            return Err(self.protocol("a chunk over 64 KiB"));
        }
        if b.len() < 4 + n {
            return Ok(0);
        }
        if n > 0 {
            if let Some((fd, name, _)) = &self.file {
                let mut d = &b[4..4 + n];
                while !d.is_empty() {
                    // SAFETY: d is valid for d.len() bytes.
                    let w = unsafe { libc::write(fd.0, d.as_ptr().cast(), d.len()) };
                    if w < 0 {
                        let e = io::Error::last_os_error();
                        if e.kind() == io::ErrorKind::Interrupted {
                            continue;
                        }
                        return Err(local_error(&e, "cannot write", Path::new(name)));
                    }
                    d = &d[w as usize..];
                }
            }
            return Ok(4 + n);
        }
        self.in_file = false;
        if let Some((fd, _, mode)) = self.file.take() {
            // SAFETY: fd is open.
            unsafe { libc::fchmod(fd.0, mode) };
        }
        Ok(4)
    }

    fn record(&mut self, b: &[u8]) -> Result<usize> {
        if b.len() < 7 {
            return Ok(0);
        }
        let kind = b[0];
        let mode = u32::from_be_bytes([b[1], b[2], b[3], b[4]]) & 0o7777;
        let nl = u16::from_be_bytes([b[5], b[6]]) as usize;
        if ![PCP_DIR, PCP_FILE, PCP_LINK, PCP_END].contains(&kind) || nl > PCP_NAME_MAX {
            return Err(self.protocol("a bad record"));
        }
        let mut end = 7 + nl;
        let mut link: &[u8] = b"";
        if kind == PCP_LINK {
            if b.len() < end + 2 {
                return Ok(0);
            }
            let tl = u16::from_be_bytes([b[end], b[end + 1]]) as usize;
            if b.len() < end + 2 + tl {
                return Ok(0);
            }
            link = &b[end + 2..end + 2 + tl];
            end += 2 + tl;
        }
        if b.len() < end {
            return Ok(0);
        }
        let name = &b[7..7 + nl];
        match self.root {
            None => self.top(kind, mode, name, link)?,
            Some(_) if kind == PCP_END => self.finish(),
            Some(_) => self.below(kind, mode, name, link)?,
        }
        Ok(end)
    }

    /// The copied item's record, placed with docker cp's rules.
    fn top(&mut self, kind: u8, mode: u32, name: &[u8], link: &[u8]) -> Result<()> {
        let (src, dst) = (self.src.clone(), self.dst.clone());
        if kind == PCP_END {
            return Err(fail(MSB_E_PROTOCOL, &self.op, "the copy's data is an empty archive"));
        }
        self.root = Some((kind, mode));
        let st = std::fs::metadata(&dst).ok();
        let isdir = st.as_ref().is_some_and(|m| m.is_dir());
        let bad = name.contains(&b'/') || name.is_empty() || name == b"." || name == b"..";
        let shown = String::from_utf8_lossy(name);
        if isdir && bad && !(kind == PCP_DIR && contents_only(src.as_bytes())) {
            return Err(fail(MSB_E_INVALID, &self.op, format!("{shown:?} is not a name to copy into {dst}")));
        }
        let sep = if dst.ends_with('/') { "" } else { "/" };
        let mut target = dst.clone().into_bytes();
        let joined = [dst.as_bytes(), sep.as_bytes(), name].concat();
        if kind == PCP_DIR {
            if st.is_some() && !isdir {
                return Err(fail(
                    MSB_E_INVALID,
                    &self.op,
                    format!("cannot copy the directory {src} onto the file {dst}"),
                ));
            }
            if isdir && !contents_only(src.as_bytes()) {
                target = joined;
                let c = cpath(&target).map_err(Error::HostIo)?;
                // SAFETY: c is NUL-terminated.
                match cvt(unsafe { libc::mkdir(c.as_ptr(), 0o700) }) {
                    Ok(_) => self.made = true,
                    Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
                    Err(e) => return Err(local_error(&e, "cannot make", Path::new(OsStr::from_bytes(&target)))),
                }
            } else if !isdir {
                std::fs::create_dir(&dst).map_err(|e| local_error(&e, "cannot make", Path::new(&dst)))?;
                self.made = true;
            }
            let fd = openat(libc::AT_FDCWD, &target, libc::O_RDONLY | libc::O_DIRECTORY, 0)
                .map_err(|e| local_error(&e, "cannot open", Path::new(OsStr::from_bytes(&target))))?;
            self.rootfd = Some(fd);
            return Ok(());
        }
        if isdir {
            target = joined;
        } else if st.is_none() && dst.ends_with('/') {
            return Err(fail(-libc::ENOENT, &self.op, format!("no directory {dst} here")));
        }
        let tpath = PathBuf::from(OsString::from_vec(target.clone()));
        if kind == PCP_LINK {
            let _ = std::fs::remove_file(&tpath);
            std::os::unix::fs::symlink(OsStr::from_bytes(link), &tpath)
                .map_err(|e| local_error(&e, "cannot make the symlink", &tpath))?;
            return Ok(());
        }
        let fd = openat(libc::AT_FDCWD, &target, libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC, 0o600)
            .map_err(|e| local_error(&e, "cannot create", &tpath))?;
        self.file = Some((fd, tpath.display().to_string(), mode));
        self.in_file = true;
        Ok(())
    }

    /// The directory holding @name below the copied item, reached
    /// without following symlinks, and @name's last component.
    fn beneath<'n>(&self, name: &'n [u8]) -> Result<(Fd, &'n [u8])> {
        let shown = || PathBuf::from(OsStr::from_bytes(name));
        let root = self.rootfd.as_ref().map(|f| f.0).unwrap_or(libc::AT_FDCWD);
        // SAFETY: dup of an open descriptor.
        let mut fd = Fd(cvt(unsafe { libc::fcntl(root, libc::F_DUPFD_CLOEXEC, 0) })
            .map_err(|e| local_error(&e, "cannot reach the directory of", &shown()))?);
        let parts: Vec<&[u8]> = name.split(|&c| c == b'/').collect();
        for c in &parts[..parts.len() - 1] {
            fd = openat(fd.0, c, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW, 0)
                .map_err(|e| local_error(&e, "cannot reach the directory of", &shown()))?;
        }
        Ok((fd, parts[parts.len() - 1]))
    }

    /// A record named below the copied item (a directory).
    fn below(&mut self, kind: u8, mode: u32, name: &[u8], link: &[u8]) -> Result<()> {
        if self.root.map(|r| r.0) != Some(PCP_DIR) {
            return Err(self.protocol("more after a file"));
        }
        let shown = PathBuf::from(OsStr::from_bytes(name));
        if !name_ok(name) {
            return Err(fail(
                MSB_E_INVALID,
                &self.op,
                format!("{:?} is not a name below {}: not copied", String::from_utf8_lossy(name), self.src),
            ));
        }
        let (pfd, leaf) = self.beneath(name)?;
        let c = cpath(leaf).map_err(Error::HostIo)?;
        match kind {
            PCP_DIR => {
                // SAFETY: c is NUL-terminated.
                match cvt(unsafe { libc::mkdirat(pfd.0, c.as_ptr(), 0o700) }) {
                    Ok(_) => {}
                    Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
                    Err(e) => return Err(local_error(&e, "cannot make", &shown)),
                }
                self.dirs.push((name.to_vec(), mode));
            }
            PCP_FILE => {
                let fd = openat(pfd.0, leaf, libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_NOFOLLOW, 0o600)
                    .map_err(|e| local_error(&e, "cannot create", &shown))?;
                self.file = Some((fd, shown.display().to_string(), mode));
                self.in_file = true;
            }
            _ => {
                let t = cpath(link).map_err(Error::HostIo)?;
                // SAFETY: both are NUL-terminated.
                unsafe { libc::unlinkat(pfd.0, c.as_ptr(), 0) };
                cvt(unsafe { libc::symlinkat(t.as_ptr(), pfd.0, c.as_ptr()) })
                    .map_err(|e| local_error(&e, "cannot make the symlink", &shown))?;
            }
        }
        Ok(())
    }

    /// The directories' modes last (one without write permission could
    /// not have been filled), deepest first.
    fn finish(&mut self) {
        for (name, mode) in self.dirs.iter().rev() {
            let Ok((pfd, leaf)) = self.beneath(name) else { continue };
            if let Ok(fd) = openat(pfd.0, leaf, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW, 0) {
                // SAFETY: fd is open.
                unsafe { libc::fchmod(fd.0, *mode) };
            }
        }
        if let (Some(fd), true, Some((_, mode))) = (&self.rootfd, self.made, self.root) {
            // SAFETY: fd is open.
            unsafe { libc::fchmod(fd.0, mode) };
        }
        self.done = true;
        self.rootfd = None;
        self.file = None;
    }
}

// ---- the runtime ----------------------------------------------------------------------------

/// The host, as code inside a sandbox sees it
/// ([`Sandbox::current_runtime`](crate::Sandbox::current_runtime), or
/// [`blocking::Sandbox::current_runtime`](crate::blocking::Sandbox::current_runtime)
/// for [`blocking::Runtime`](crate::blocking::Runtime)): it starts peer
/// sandboxes beside this one, lists them and their snapshots, restores
/// snapshots, and hands out [`Peer`]s. `M` is the API: [`Async`] (the
/// default) or [`Blocking`].
pub struct Runtime<M = Async> {
    _m: PhantomData<fn() -> M>,
}

impl<M> Clone for Runtime<M> {
    fn clone(&self) -> Self {
        Runtime { _m: PhantomData }
    }
}

impl<M> fmt::Debug for Runtime<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Runtime")
    }
}

/// `current_runtime()`: the runtime, or NotSupported outside a sandbox.
pub(crate) fn current_runtime<M>() -> Result<Runtime<M>> {
    let path = socket();
    if let Err(e) = std::fs::metadata(&path) {
        return Err(not_inside("current runtime", &e.to_string()));
    }
    Ok(Runtime { _m: PhantomData })
}

impl Runtime {
    /// The agent's socket the runtime speaks to
    /// (/run/microsandbox/agent.sock).
    pub fn agent_socket() -> PathBuf {
        socket()
    }

    /// Points every runtime of this program (of either API) at @path
    /// instead: tests give it a stand-in for the agent.
    pub fn set_agent_socket(path: impl Into<PathBuf>) {
        *SOCKET.write().unwrap_or_else(|e| e.into_inner()) = Some(path.into());
    }
}

impl<M> Runtime<M> {
    /// A builder for the peer sandbox @name: options, then `create()`,
    /// which returns once it is booted.
    pub fn start(&self, name: impl Into<String>) -> PeerBuilder<M> {
        PeerBuilder { name: name.into(), req: Map::new(), net: None, refused: None, _m: PhantomData }
    }

    /// A handle on a peer started earlier.
    pub fn peer(&self, name: impl Into<String>) -> Peer<M> {
        Peer { name: name.into(), _m: PhantomData }
    }
}

/// A peer as [`Runtime::list`] gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerInfo {
    /// Its name.
    pub name: String,
    /// Its image, as the image store names it.
    pub image: String,
    /// "running", "stopped", "failed"...
    pub status: String,
    /// Its virtual CPUs.
    pub cpus: u32,
    /// Its memory in MiB.
    pub memory_mib: u64,
}

/// A snapshot of a peer as [`Runtime::snapshots`] gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerSnapshotInfo {
    /// Its name (host-wide).
    pub name: String,
    /// The peer it was taken of.
    pub source: String,
    /// "full" (memory and disk: restored running) or "disk".
    pub kind: String,
    /// Its size on the host's disk.
    pub size_bytes: u64,
}

/// A JSON list of the host's, as @f reads each entry.
fn listing<T>(op: &str, what: &str, v: Vec<u8>, f: impl Fn(&Value) -> Option<T>) -> Result<Vec<T>> {
    if v.is_empty() {
        return Ok(Vec::new());
    }
    let l: Value =
        serde_json::from_slice(&v).map_err(|e| fail(MSB_E_PROTOCOL, op, format!("the host's list of {what}: {e}")))?;
    let bad = || fail(MSB_E_PROTOCOL, op, format!("the host's list of {what} is not a list of them"));
    l.as_array().ok_or_else(bad)?.iter().map(|e| f(e).ok_or_else(bad)).collect()
}

fn peer_info(p: &Value) -> Option<PeerInfo> {
    Some(PeerInfo {
        name: p["name"].as_str()?.to_owned(),
        image: p["image"].as_str().unwrap_or_default().to_owned(),
        status: p["status"].as_str().unwrap_or_default().to_owned(),
        cpus: p["cpus"].as_u64().unwrap_or(0) as u32,
        memory_mib: p["memory_mib"].as_u64().unwrap_or(0),
    })
}

fn snapshot_info(s: &Value) -> Option<PeerSnapshotInfo> {
    Some(PeerSnapshotInfo {
        name: s["name"].as_str()?.to_owned(),
        source: s["source"].as_str()?.to_owned(),
        kind: s["kind"].as_str()?.to_owned(),
        size_bytes: s["size_bytes"].as_u64()?,
    })
}

/// Builds a peer: `rt.start(name)`, options, then `create()`. A peer
/// inherits nothing but its parent's limits: its network is its parent's
/// policy or narrower, its secrets only those whose placeholders this
/// sandbox holds.
#[must_use = "a builder does nothing until create() is called"]
pub struct PeerBuilder<M = Async> {
    name: String,
    req: Map<String, Value>,
    net: Option<NetworkBuilder>,
    refused: Option<Error>,
    _m: PhantomData<fn() -> M>,
}

impl<M> PeerBuilder<M> {
    fn refuse(&mut self, what: String) {
        if self.refused.is_none() {
            self.refused = Some(fail(MSB_E_INVALID, &format!("start peer {}", self.name), what));
        }
    }

    /// Its image: one the host allows (`msb run --spawn-image`; by
    /// default this sandbox's own).
    pub fn image(mut self, reference: impl Into<String>) -> Self {
        self.req.insert("image".into(), reference.into().into());
        self
    }

    /// Its virtual CPUs (1 to 64, within the host's ceiling).
    pub fn cpus(mut self, n: u32) -> Self {
        if !(1..=64).contains(&n) {
            self.refuse(format!("cpus takes 1 to 64, not {n}"));
        }
        self.req.insert("cpus".into(), n.into());
        self
    }

    /// Its memory as `msb start --memory` writes it ("256M", "1G"),
    /// within the host's ceiling.
    pub fn memory(mut self, size: impl Into<String>) -> Self {
        self.req.insert("memory".into(), size.into().into());
        self
    }

    /// Its memory in MiB.
    pub fn memory_mib(self, mib: u64) -> Self {
        self.memory(format!("{mib}M"))
    }

    /// A variable of every command in it.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let kv = format!("{}={}", key.into(), value.into());
        match self.req.entry("env").or_insert_with(|| Value::Array(Vec::new())) {
            Value::Array(a) => a.push(kv.into()),
            _ => unreachable!(),
        }
        self
    }

    /// Narrows its network: `deny_all`, `allow` and `allow_cidr` (by
    /// default it is this sandbox's own policy, never wider; the rest of
    /// a network builder is refused).
    pub fn network(mut self, f: impl FnOnce(NetworkBuilder) -> NetworkBuilder) -> Self {
        self.net = Some(f(self.net.take().unwrap_or_default()));
        self
    }

    /// The secret whose placeholder this sandbox holds (@placeholder: the
    /// value of this sandbox's variable for it, `std::env::var("KEY")`),
    /// as the peer's variable @env under a placeholder of its own, for
    /// @hosts (comma-separated), each covered by this sandbox's binding
    /// ("": the same hosts). The value never enters either guest.
    pub fn secret_env(
        mut self,
        env: impl Into<String>,
        placeholder: impl Into<String>,
        hosts: impl Into<String>,
    ) -> Self {
        let (env, ph, hosts) = (env.into(), placeholder.into(), hosts.into());
        if ph.is_empty() {
            self.refuse(format!(
                "secret {env}: the placeholder is empty (give the value of this sandbox's variable \
                 holding the secret's placeholder)"
            ));
        }
        let mut s = json!({"env": env, "placeholder": ph});
        if !hosts.is_empty() {
            s["hosts"] = hosts.into();
        }
        match self.req.entry("secrets").or_insert_with(|| Value::Array(Vec::new())) {
            Value::Array(a) => a.push(s),
            _ => unreachable!(),
        }
        self
    }

    /// `secret_env` with the placeholder this sandbox's variable @var
    /// holds (`msb start --secret-env ENV=@env:VAR:HOSTS`).
    pub fn secret_from_env(mut self, env: impl Into<String>, var: &str, hosts: impl Into<String>) -> Self {
        let env = env.into();
        match std::env::var(var) {
            Ok(ph) if !ph.is_empty() => self.secret_env(env, ph, hosts),
            _ => {
                self.refuse(format!(
                    "secret {env}: ${var} is not set here (it names this sandbox's variable holding \
                     the secret's placeholder)"
                ));
                self
            }
        }
    }

    /// The start request, or what is refused before anything is asked.
    fn call(mut self) -> Result<(Call, Peer<M>)> {
        let op = format!("start peer {}", self.name);
        if let Some(n) = self.net.take() {
            if !n.block_cidr.is_empty()
                || n.nameserver.is_some()
                || n.plugin.is_some()
                || !n.allow_host.is_empty()
                || n.dns_hook.is_some()
                || n.connect_hook.is_some()
                || n.http_hook.is_some()
                || n.http_response_hook.is_some()
                || n.http_response_head_hook.is_some()
                || !n.refused.is_empty()
            {
                self.refuse(
                    "a peer's network takes deny_all, allow and allow_cidr only (its parent's is the rest)".into(),
                );
            }
            // deny-all with names or ranges is: only those
            if n.deny_all && n.allow.is_empty() && n.allow_cidr.is_empty() {
                self.req.insert("net_deny_all".into(), true.into());
            }
            if !n.allow.is_empty() {
                self.req.insert("net_allow".into(), n.allow.into());
            }
            if !n.allow_cidr.is_empty() {
                self.req.insert("net_allow_cidr".into(), n.allow_cidr.into());
            }
        }
        if let Some(e) = self.refused {
            return Err(e);
        }
        let mut req = Req::new("start").with("name", self.name.clone());
        for k in ["image", "cpus", "memory", "env", "net_deny_all", "net_allow", "net_allow_cidr", "secrets"] {
            if let Some(v) = self.req.remove(k) {
                req = req.with(k, v);
            }
        }
        Ok((call(op, req), Peer { name: self.name, _m: PhantomData }))
    }
}

/// A peer sandbox this sandbox started: commands (with input; no
/// terminal), copies in and out, `snapshot`, `stop`, `remove`, `logs`.
/// `M` is the API, as [`Runtime`]'s.
pub struct Peer<M = Async> {
    name: String,
    _m: PhantomData<fn() -> M>,
}

impl<M> Clone for Peer<M> {
    fn clone(&self) -> Self {
        Peer { name: self.name.clone(), _m: PhantomData }
    }
}

impl<M> fmt::Debug for Peer<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Peer").field("name", &self.name).finish()
    }
}

impl<M> Peer<M> {
    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A command of @program, to add arguments and options to.
    pub fn command(&self, program: &str) -> PeerCommand<'_, M> {
        PeerCommand::new(self, vec![program.to_owned()])
    }

    /// A command from a command line (as `exec` splits it), to add
    /// options to.
    pub fn command_line(&self, line: &str) -> Result<PeerCommand<'_, M>> {
        Ok(PeerCommand::new(self, split_command(line)?))
    }

    fn simple(&self, what: &str, op: &str) -> Call {
        call(format!("{what} peer {}", self.name), Req::new(op).with("name", self.name.clone()))
    }

    fn copy_in_call(&self, local: &Path, peer_path: &str, user: Option<&str>) -> Result<Call> {
        let (pieces, contents) = pack(local)?;
        let mut req = Req::new("cp_in").with("name", self.name.clone()).with("path", peer_path);
        if let Some(u) = user {
            req = req.with("user", u);
        }
        if contents {
            req = req.with("contents", true);
        }
        let mut c = call(format!("copy {} into peer {}", local.display(), self.name), req);
        c.input = Some(Input::Read(Box::new(Packer::new(pieces))));
        Ok(c)
    }

    fn copy_out_call(&self, peer_path: &str, local: &Path, user: Option<&str>) -> (Call, Arc<Mutex<Unpacker>>) {
        let op = format!("copy {peer_path} out of peer {}", self.name);
        let mut req = Req::new("cp_out").with("name", self.name.clone()).with("path", peer_path);
        if let Some(u) = user {
            req = req.with("user", u);
        }
        let up = Arc::new(Mutex::new(Unpacker::new(&op, peer_path, &local.to_string_lossy())));
        let u = up.clone();
        let mut c = call(op, req);
        c.out = Box::new(move |b: &[u8]| u.lock().unwrap().feed(b));
        (c, up)
    }
}

fn copied(op_of: &Call, up: &Mutex<Unpacker>) -> Result<()> {
    let mut u = up.lock().unwrap();
    if !u.done {
        return Err(fail(MSB_E_PROTOCOL, &op_of.op, "the copy ended before its end"));
    }
    u.rootfd = None;
    Ok(())
}

/// A command to run in a peer: arguments and options, then `output()`.
/// Its output comes at the pace this program takes it; its input
/// (`stdin_bytes`, `stdin_reader`) at the pace the peer takes it.
/// Dropping an async command's future kills it.
#[must_use = "a command does nothing until output() is called"]
pub struct PeerCommand<'a, M = Async> {
    peer: &'a Peer<M>,
    argv: Vec<String>,
    env: Vec<String>,
    cwd: Option<String>,
    check: bool,
    tty: Option<(u32, u32)>,
    stdin: Option<Input>,
    on_stdout: Option<Sink>,
    on_stderr: Option<Sink>,
}

impl<'a, M> PeerCommand<'a, M> {
    fn new(peer: &'a Peer<M>, argv: Vec<String>) -> Self {
        PeerCommand {
            peer,
            argv,
            env: Vec::new(),
            cwd: None,
            check: false,
            tty: None,
            stdin: None,
            on_stdout: None,
            on_stderr: None,
        }
    }

    /// Adds an argument.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.argv.push(arg.into());
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.argv.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable of the command (on top of the
    /// peer's).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push(format!("{}={}", key.into(), value.into()));
        self
    }

    /// The command's working directory in the peer.
    pub fn current_dir(mut self, dir: impl Into<String>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    /// A command that does not exit 0 is an [`Error::Exit`] holding its
    /// result; without it any exit status is data.
    pub fn check(mut self) -> Self {
        self.check = true;
        self
    }

    /// A terminal of @rows x @cols (0: 24 rows, 80 columns; at most 65535
    /// each): the command's output is all on stdout, as the terminal
    /// wrote it (lines end in "\r\n").
    pub fn tty(mut self, rows: u32, cols: u32) -> Self {
        self.tty = Some((rows, cols));
        self
    }

    /// @data is the command's stdin, its end the command's end of file
    /// (sent within the host's 128 KiB window as the host gives it back).
    /// Without it (or `stdin_reader`) the command reads end of file at
    /// once.
    pub fn stdin_bytes(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(Input::Bytes(data.into()));
        self
    }

    /// Calls @f with each chunk of stdout as it comes, instead of
    /// capturing it; the host is given credit for more once it returned.
    pub fn on_stdout(mut self, mut f: impl FnMut(&[u8]) + Send + 'static) -> Self {
        self.on_stdout = Some(Box::new(move |b: &[u8]| {
            f(b);
            Ok(())
        }));
        self
    }

    /// Calls @f with each chunk of stderr as it comes, instead of
    /// capturing it.
    pub fn on_stderr(mut self, mut f: impl FnMut(&[u8]) + Send + 'static) -> Self {
        self.on_stderr = Some(Box::new(move |b: &[u8]| {
            f(b);
            Ok(())
        }));
        self
    }

    /// The exec request, and where its output is collected.
    fn call(self) -> Result<(Call, Option<Collected>, Option<Collected>, bool)> {
        let op = match self.argv.first() {
            Some(p) => format!("exec {p} in peer {}", self.peer.name),
            None => return Err(fail(MSB_E_INVALID, &format!("exec in peer {}", self.peer.name), "no command to run")),
        };
        let mut req = Req::new("exec").with("name", self.peer.name.clone()).with("argv", self.argv);
        if !self.env.is_empty() {
            req = req.with("env", self.env);
        }
        if let Some(d) = self.cwd {
            req = req.with("workdir", d);
        }
        if let Some((rows, cols)) = self.tty {
            if rows > 65535 || cols > 65535 {
                return Err(fail(MSB_E_INVALID, &op, &format!("a terminal of {rows} x {cols}: at most 65535 each")));
            }
            let or = |n: u32, d: u32| if n == 0 { d } else { n };
            req = req.with("tty", true).with("rows", or(rows, 24)).with("cols", or(cols, 80));
        }
        if self.stdin.is_some() {
            req = req.with("stdin", true);
        }
        let (out, ov) = match self.on_stdout {
            Some(f) => (f, None),
            None => {
                let (s, v) = collect();
                (s, Some(v))
            }
        };
        let (err, ev) = match self.on_stderr {
            Some(f) => (f, None),
            None => {
                let (s, v) = collect();
                (s, Some(v))
            }
        };
        Ok((Call { op, req, input: self.stdin, out, err }, ov, ev, self.check))
    }
}

fn exec_result(
    st: Option<(i32, i32)>,
    ov: Option<Collected>,
    ev: Option<Collected>,
    check: bool,
) -> Result<ExecResult> {
    let (code, signal) = st.unwrap_or((0, 0));
    let r = ExecResult {
        exit_code: code,
        signal,
        timed_out: false,
        stdout: ov.map(taken).unwrap_or_default(),
        stderr: ev.map(taken).unwrap_or_default(),
    };
    if check {
        r.check()
    } else {
        Ok(r)
    }
}

#[cfg(feature = "tokio")]
macro_rules! ask_async {
    ($c:expr) => {
        tokio_io::ask($c).await
    };
}

macro_rules! ask_blocking {
    ($c:expr) => {
        ask_blocking($c)
    };
}

/// The calls of the runtime, a peer and a peer's command, the same for
/// both APIs but for `async` and how a request is asked.
macro_rules! peer_api {
    ($M:ty, [$($kw:tt)*], [$($aw:tt)*], $ask:ident) => {
        impl Runtime<$M> {
            /// This sandbox's own peers.
            pub $($kw)* fn list(&self) -> Result<Vec<PeerInfo>> {
                let op = "list peers";
                let (out, v) = collect();
                let mut c = call(op, Req::new("ps").with("json", true));
                c.out = out;
                $ask!(c)?;
                listing(op, "peers", taken(v), peer_info)
            }

            /// The snapshots of this sandbox's peers ([`Peer::snapshot`]).
            pub $($kw)* fn snapshots(&self) -> Result<Vec<PeerSnapshotInfo>> {
                let op = "list snapshots of peers";
                let (out, v) = collect();
                let mut c = call(op, Req::new("snapshot_ls").with("json", true));
                c.out = out;
                $ask!(c)?;
                listing(op, "snapshots", taken(v), snapshot_info)
            }

            /// Deletes a snapshot of one of this sandbox's peers
            /// ([`Error::Busy`] while peers restored from it exist).
            pub $($kw)* fn remove_snapshot(&self, snapshot: &str) -> Result<()> {
                $ask!(call(format!("remove snapshot {snapshot}"),
                    Req::new("snapshot_rm").with("snapshot", snapshot))).map(drop)
            }

            /// Starts the new peer @name from @snapshot and returns once it
            /// is booted, within the host's limits for this sandbox's peers
            /// as `start` is; a snapshot of a peer that held secrets given
            /// at its creation is refused ([`Error::PolicyRefused`]).
            pub $($kw)* fn restore(&self, snapshot: &str, name: impl Into<String>) -> Result<Peer<$M>> {
                let name = name.into();
                $ask!(call(format!("restore {snapshot} as peer {name}"),
                    Req::new("restore").with("snapshot", snapshot).with("name", name.clone())))?;
                Ok(Peer { name, _m: PhantomData })
            }
        }

        impl PeerBuilder<$M> {
            /// Asks the host for the peer; returns once it is booted.
            pub $($kw)* fn create(self) -> Result<Peer<$M>> {
                let (c, p) = self.call()?;
                $ask!(c)?;
                Ok(p)
            }
        }

        impl Peer<$M> {
            /// Runs a command line (split as [`split_command`] splits it)
            /// and waits for it, capturing its output; a non-zero exit is
            /// data.
            pub $($kw)* fn exec(&self, line: &str) -> Result<ExecResult> {
                self.command_line(line)?.output()$($aw)*
            }

            /// Runs @argv as it is and waits for it.
            pub $($kw)* fn exec_args<I, S>(&self, argv: I) -> Result<ExecResult>
            where
                I: IntoIterator<Item = S>,
                S: Into<String>,
            {
                PeerCommand::new(self, argv.into_iter().map(Into::into).collect()).output()$($aw)*
            }

            /// Runs @script with `sh -c` and waits for it.
            pub $($kw)* fn shell(&self, script: &str) -> Result<ExecResult> {
                self.exec_args(["sh", "-c", script])$($aw)*
            }

            /// Copies this sandbox's file, directory (with everything in
            /// it) or symlink @local into the peer's @peer_path with docker
            /// cp's rules (a file to an existing directory lands in it under
            /// its own name; a directory to a path that does not exist
            /// becomes it, to an existing one lands inside it, only its
            /// contents with a @local ending in "/."; modes and symlinks
            /// kept; sockets, fifos and devices skipped), through the host.
            pub $($kw)* fn copy_in(&self, local: impl AsRef<Path>, peer_path: &str) -> Result<()> {
                $ask!(self.copy_in_call(local.as_ref(), peer_path, None)?).map(drop)
            }

            /// `copy_in`, what is made in the peer owned by its @user (a
            /// name, a uid or uid:gid).
            pub $($kw)* fn copy_in_as(&self, local: impl AsRef<Path>, peer_path: &str, user: &str) -> Result<()> {
                $ask!(self.copy_in_call(local.as_ref(), peer_path, Some(user))?).map(drop)
            }

            /// Copies the peer's file, directory or symlink @peer_path into
            /// this sandbox's @local with `copy_in`'s rules, unpacking it
            /// as it comes: a name that would land outside @local, or be
            /// reached through a symlink, is refused ([`Error::Invalid`]).
            pub $($kw)* fn copy_out(&self, peer_path: &str, local: impl AsRef<Path>) -> Result<()> {
                let (c, up) = self.copy_out_call(peer_path, local.as_ref(), None);
                let op = call(c.op.clone(), Req(Vec::new()));
                $ask!(c)?;
                copied(&op, &up)
            }

            /// `copy_out`, the peer's files read as its @user.
            pub $($kw)* fn copy_out_as(&self, peer_path: &str, local: impl AsRef<Path>, user: &str) -> Result<()> {
                let (c, up) = self.copy_out_call(peer_path, local.as_ref(), Some(user));
                let op = call(c.op.clone(), Req(Vec::new()));
                $ask!(c)?;
                copied(&op, &up)
            }

            /// Takes a snapshot of the peer (its memory and disk while it
            /// runs, its disk when stopped), kept on the host as @name
            /// (host-wide: a name taken is [`Error::AlreadyExists`]), and
            /// gives @name, for [`Runtime::restore`].
            pub $($kw)* fn snapshot(&self, name: &str) -> Result<String> {
                $ask!(call(format!("snapshot peer {}", self.name),
                    Req::new("snapshot").with("name", self.name.clone()).with("snapshot", name)))?;
                Ok(name.to_owned())
            }

            /// Stops the peer.
            pub $($kw)* fn stop(&self) -> Result<()> {
                $ask!(self.simple("stop", "stop")).map(drop)
            }

            /// Deletes the peer (stopping it first), its disk and its own
            /// peers.
            pub $($kw)* fn remove(&self) -> Result<()> {
                $ask!(self.simple("remove", "rm")).map(drop)
            }

            /// The last 256 KiB of the peer's log.
            pub $($kw)* fn logs(&self) -> Result<String> {
                let (out, v) = collect();
                let mut c = self.simple("logs of", "logs");
                c.out = out;
                $ask!(c)?;
                Ok(String::from_utf8_lossy(&taken(v)).into_owned())
            }
        }

        impl PeerCommand<'_, $M> {
            /// Runs the command and waits for it.
            pub $($kw)* fn output(self) -> Result<ExecResult> {
                let (c, ov, ev, check) = self.call()?;
                let st = $ask!(c)?;
                exec_result(st, ov, ev, check)
            }
        }
    };
}

#[cfg(feature = "tokio")]
peer_api!(Async, [async], [.await], ask_async);
peer_api!(Blocking, [], [], ask_blocking);

#[cfg(feature = "tokio")]
impl PeerCommand<'_, Async> {
    /// @r is the command's stdin, read as the peer takes it (sent within
    /// the host's 128 KiB window as the host gives it back), its end the
    /// command's end of file; a read that fails ends the request with its
    /// error ([`Error::HostIo`]), the command killed.
    pub fn stdin_reader(mut self, r: impl tokio::io::AsyncRead + Send + Unpin + 'static) -> Self {
        self.stdin = Some(Input::AsyncRead(Box::new(r)));
        self
    }
}

impl PeerCommand<'_, Blocking> {
    /// @r is the command's stdin, read on a thread of its own as the peer
    /// takes it (sent within the host's 128 KiB window as the host gives
    /// it back), its end the command's end of file; a read that fails
    /// ends the request with its error ([`Error::HostIo`]), the command
    /// killed. A read still blocked when the command has ended is left to
    /// return by itself.
    pub fn stdin_reader(mut self, r: impl Read + Send + 'static) -> Self {
        self.stdin = Some(Input::Read(Box::new(r)));
        self
    }
}
