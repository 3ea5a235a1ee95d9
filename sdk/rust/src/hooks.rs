// SPDX-License-Identifier: Apache-2.0
//! Hooks written in Rust, served from this program (docs/plugins.md): a
//! sandbox's `on_dns`, `on_connect`, `on_http`, `on_http_response`,
//! `on_http_response_head`, `on_exec`, `on_exec_exit` and `on_lifecycle`
//! closures, and the overridden calls of its filesystems written in Rust
//! ([`crate::DynFileSystem`]),
//! become one plugin that a [`HookServer`] (a unix socket of this
//! process, `msb_plugins_add_socket`) answers for the sandbox's
//! supervisor, one thread per connection. Each message both ways is a
//! 4-byte big-endian length, then one JSON object; calls come one at a
//! time on a connection, each with a deadline: a hook that misses it has
//! its call denied (fail closed). Events (`exec_after`, `lifecycle`,
//! `http_response_head`) go to their hooks in order on a thread of the
//! connection's own, so that a slow one holds up no call and no read; at
//! most [`EVENT_QUEUE_MAX`] are held, the newer ones dropped (counted,
//! logged) while that many are.

use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use base64::Engine as _;
use serde_json::{json, Map, Value};

use crate::config::{
    ConnectHook, ConnectRequest, Context, DnsAction, DnsHook, DnsQuery, DynFileSystem, ExecAction, ExecCall, ExecExit,
    ExecHook, ExitHook, HttpAction, HttpHook, HttpRequest, LifecycleEvent, LifecycleHook, NetworkBuilder,
};
use crate::error::{Error, Result};

/// An answer to the guest, as an [`NetworkBuilder::on_http_response`]
/// hook sees it before the guest does (inside intercepted TLS too; a
/// secret's value already back to its placeholder).
#[derive(Debug, Clone, Default)]
pub struct HttpResponse {
    /// Its status code.
    pub status: u16,
    /// The status line and headers, each line ending in CRLF, through the
    /// empty line. Forward a changed one and it goes (its framing
    /// headers become the body's).
    pub head: String,
    /// Its headers, in order.
    pub headers: Vec<(String, String)>,
    /// The Host of the request it answers.
    pub host: String,
    /// That request's line ("GET /x HTTP/1.1").
    pub request: String,
    /// Its body, de-chunked, whole up to 8 MiB (empty past it).
    pub body: Vec<u8>,
    /// A body over 8 MiB: its size (-1 if unknown), not shown; a changed
    /// body for it is refused.
    pub body_streamed: Option<i64>,
    /// Seen inside intercepted TLS.
    pub tls: bool,
}

/// An answer hook's verdict.
#[derive(Debug, Clone)]
pub enum HttpResponseAction {
    /// Let it reach the guest (as it is, or with its head or body changed).
    Forward(HttpResponse),
    /// Refuse it: the guest gets 403 with the reason, the connection ends.
    Block(String),
}

pub(crate) type HttpResponseHook = dyn Fn(HttpResponse) -> HttpResponseAction + Send + Sync;

/// An answer's head as it came from the server, as an
/// [`NetworkBuilder::on_http_response_head`] hook is told it: before any
/// of the answer goes to the guest, and before `on_http_response` is
/// asked (what that hook changes or blocks is told as it came).
#[derive(Debug, Clone, Default)]
pub struct HttpResponseHead {
    /// Its status code.
    pub status: u16,
    /// The status line and headers, each line ending in CRLF, through the
    /// empty line (a secret's value already back to its placeholder).
    pub head: String,
    /// Its headers, in order.
    pub headers: Vec<(String, String)>,
    /// The Host of the request it answers.
    pub host: String,
    /// That request's line ("GET /x HTTP/1.1").
    pub request: String,
    /// Its body's length (its Content-Length; 0 for an answer without a
    /// body), or -1 when the head does not say (chunked, until the close).
    pub body_length: i64,
    /// Seen inside intercepted TLS.
    pub tls: bool,
}

pub(crate) type HttpResponseHeadHook = dyn Fn(HttpResponseHead) + Send + Sync;

impl NetworkBuilder {
    /// Calls @hook for each HTTP answer to the guest (HTTPS too, its TLS
    /// intercepted) before the guest reads any of it:
    /// [`HttpResponseAction::Forward`] lets it go (with a changed head or
    /// body, those), [`HttpResponseAction::Block`] answers 403 with the
    /// reason instead. Secrets' values are already scrubbed from it. It
    /// runs on a thread of the SDK's hook server; one that panics, or
    /// misses the deadline, has its answer refused.
    pub fn on_http_response(
        mut self,
        hook: impl Fn(HttpResponse) -> HttpResponseAction + Send + Sync + 'static,
    ) -> Self {
        self.http_response_hook = Some(Arc::new(hook));
        self
    }

    /// Tells @hook each HTTP answer's head (HTTPS too, its TLS
    /// intercepted) as it comes from the server, before any of the answer
    /// goes to the guest: its status, headers, body length, request, host.
    /// It only watches: nothing waits for it (it runs on a thread of the
    /// hook server's own, in order, the answer already on its way), and a
    /// hook that panics loses that head. Secrets' values are already
    /// scrubbed from it.
    pub fn on_http_response_head(mut self, hook: impl Fn(HttpResponseHead) + Send + Sync + 'static) -> Self {
        self.http_response_head_hook = Some(Arc::new(hook));
        self
    }
}

/// At most this many bytes in a message (the protocol's bound).
const MAX_MSG: usize = 16 << 20;

/// The hooks a sandbox was built with.
#[derive(Default, Clone)]
pub(crate) struct Hooks {
    pub(crate) dns: Option<Arc<DnsHook>>,
    pub(crate) connect: Option<Arc<ConnectHook>>,
    pub(crate) http: Option<Arc<HttpHook>>,
    pub(crate) http_response: Option<Arc<HttpResponseHook>>,
    pub(crate) http_response_head: Option<Arc<HttpResponseHeadHook>>,
    pub(crate) exec: Option<Arc<ExecHook>>,
    pub(crate) exit: Option<Arc<ExitHook>>,
    pub(crate) lifecycle: Option<Arc<LifecycleHook>>,
    /// volumes (by guest path) whose filesystem is written in Rust
    pub(crate) fs: Vec<(String, Arc<dyn DynFileSystem>)>,
}

impl Hooks {
    pub(crate) fn is_empty(&self) -> bool {
        self.dns.is_none()
            && self.connect.is_none()
            && self.http.is_none()
            && self.http_response.is_none()
            && self.http_response_head.is_none()
            && self.exec.is_none()
            && self.exit.is_none()
            && self.lifecycle.is_none()
            && self.fs.is_empty()
    }

    /// The filesystem calls some volume's filesystem overrides.
    fn fs_ops(&self) -> Vec<&'static str> {
        let mut v: Vec<&'static str> = Vec::new();
        for (_, b) in &self.fs {
            for op in b.overridden() {
                if !v.contains(op) {
                    v.push(op);
                }
            }
        }
        v
    }

    /// Its hello: the hooks it wants (and the filesystem calls).
    fn hello(&self) -> Value {
        let mut h = json!({"type": "hello", "name": "rust-sdk", "hooks": self.names()});
        if !self.fs.is_empty() {
            h["fs_ops"] = json!(self.fs_ops());
        }
        h
    }

    /// A filesystem call @m, asked of its volume's filesystem if it
    /// overrides it: allow, or deny with the errno of its error.
    fn fs_call(&self, m: &Map<String, Value>) -> Value {
        let s = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        let n = |k: &str| m.get(k).and_then(Value::as_u64).unwrap_or(0);
        let volume = s("volume");
        let op = s("op");
        let Some((_, b)) = self.fs.iter().find(|(p, _)| *p == volume) else { return json!({"verdict": "allow"}) };
        if !b.overridden().contains(&op.as_str()) {
            return json!({"verdict": "allow"});
        }
        let ctx = Context { pid: n("pid") as u32, uid: n("uid") as u32, gid: 0 };
        let (ino, name, flags) = (n("ino"), s("name"), n("flags") as u32);
        let r = match op.as_str() {
            "open" => b.open(ctx, ino, flags).map(drop),
            "lookup" => b.lookup(ctx, ino, &name).map(drop),
            "create" => b.create(ctx, ino, &name, flags).map(drop),
            "read" => b.read(ctx, ino, 0, 0, 0).map(drop),
            "write" => b.write(ctx, ino, 0, 0, &[]).map(drop),
            "mkdir" => b.mkdir(ctx, ino, &name, 0).map(drop),
            "unlink" => b.unlink(ctx, ino, &name),
            "rmdir" => b.rmdir(ctx, ino, &name),
            "rename" => b.rename(ctx, ino, &name, n("newparent"), &s("newname")),
            _ => Ok(()),
        };
        match r {
            Ok(()) => json!({"verdict": "allow"}),
            Err(e) => json!({"verdict": "deny", "reason": e.to_string(), "errno": errno_of(&e)}),
        }
    }

    fn names(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.connect.is_some() {
            v.push("connect");
        }
        if self.dns.is_some() {
            v.push("dns");
        }
        if self.exec.is_some() {
            v.push("exec_before");
        }
        if self.exit.is_some() {
            v.push("exec_after");
        }
        if self.http.is_some() {
            v.push("http_request");
        }
        if self.http_response.is_some() {
            v.push("http_response");
        }
        if self.http_response_head.is_some() {
            v.push("http_response_head");
        }
        if self.lifecycle.is_some() {
            v.push("lifecycle");
        }
        if !self.fs.is_empty() {
            v.push("fs");
        }
        v
    }

    /// Tells event @m (exec_after, lifecycle, http_response_head) to its
    /// hook.
    fn tell(&self, m: &Map<String, Value>) {
        let i = |k: &str| m.get(k).and_then(Value::as_i64).unwrap_or(0) as i32;
        match m.get("hook").and_then(Value::as_str) {
            Some("exec_after") => {
                if let Some(f) = &self.exit {
                    f(ExecExit {
                        argv: m
                            .get("argv")
                            .and_then(Value::as_array)
                            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
                            .unwrap_or_default(),
                        exit_code: i("exit_code"),
                        signal: i("signal"),
                        duration: std::time::Duration::from_secs_f64(
                            m.get("duration_ms").and_then(Value::as_f64).unwrap_or(0.0).max(0.0) / 1000.0,
                        ),
                        timed_out: m.get("timed_out").and_then(Value::as_bool).unwrap_or(false),
                    })
                }
            }
            Some("http_response_head") => {
                if let Some(f) = &self.http_response_head {
                    let s = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
                    let head = s("head");
                    f(HttpResponseHead {
                        status: m.get("status").and_then(Value::as_u64).unwrap_or(0) as u16,
                        headers: parse_head(&head).headers,
                        head,
                        host: s("host"),
                        request: s("request"),
                        body_length: m.get("body_length").and_then(Value::as_i64).unwrap_or(-1),
                        tls: m.get("tls").and_then(Value::as_bool).unwrap_or(false),
                    })
                }
            }
            Some("lifecycle") => {
                if let Some(f) = &self.lifecycle {
                    let s = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
                    f(LifecycleEvent {
                        event: s("event"),
                        sandbox: s("sandbox"),
                        json: Value::Object(m.clone()).to_string(),
                    })
                }
            }
            _ => {}
        }
    }

    /// The reply's fields for call @m (its verdict).
    fn answer(&self, m: &Map<String, Value>) -> Value {
        let s = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        let strs = |k: &str| -> Vec<String> {
            m.get(k)
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
                .unwrap_or_default()
        };
        match s("hook").as_str() {
            "dns" => {
                let Some(f) = &self.dns else { return json!({"verdict": "allow"}) };
                let qtype = m.get("qtype").and_then(Value::as_u64).unwrap_or(0);
                match f(DnsQuery { name: s("name"), qtype: qtype_name(qtype) }) {
                    DnsAction::Allow => json!({"verdict": "allow"}),
                    DnsAction::Deny => json!({"verdict": "deny", "reason": "on_dns"}),
                }
            }
            "connect" => {
                let Some(f) = &self.connect else { return json!({"verdict": "allow"}) };
                let port = m.get("port").and_then(Value::as_u64).unwrap_or(0) as u16;
                if f(ConnectRequest { proto: s("proto"), ip: s("ip"), port }) {
                    json!({"verdict": "allow"})
                } else {
                    json!({"verdict": "deny", "reason": "on_connect"})
                }
            }
            "http_request" => {
                let Some(f) = &self.http else { return json!({"verdict": "allow"}) };
                let body = base64::engine::general_purpose::STANDARD.decode(s("body_b64")).unwrap_or_default();
                let mut req = parse_head(&s("head"));
                req.host = s("host");
                req.body = body.clone();
                match f(req) {
                    HttpAction::Block(why) => json!({"verdict": "deny", "reason": why}),
                    HttpAction::Forward(r) if r.body != body => json!({
                        "verdict": "modify",
                        "body_b64": base64::engine::general_purpose::STANDARD.encode(&r.body),
                    }),
                    HttpAction::Forward(_) => json!({"verdict": "allow"}),
                }
            }
            "http_response" => {
                let Some(f) = &self.http_response else { return json!({"verdict": "allow"}) };
                let b64 = base64::engine::general_purpose::STANDARD;
                let head = s("head");
                let body = b64.decode(s("body_b64")).unwrap_or_default();
                let resp = HttpResponse {
                    status: m.get("status").and_then(Value::as_u64).unwrap_or(0) as u16,
                    headers: parse_head(&head).headers,
                    head: head.clone(),
                    host: s("host"),
                    request: s("request"),
                    body: body.clone(),
                    body_streamed: m.get("body_streamed").and_then(Value::as_i64),
                    tls: m.get("tls").and_then(Value::as_bool).unwrap_or(false),
                };
                match f(resp) {
                    HttpResponseAction::Block(why) => json!({"verdict": "deny", "reason": why}),
                    HttpResponseAction::Forward(r) if r.body != body || r.head != head => {
                        let mut out = json!({"verdict": "modify"});
                        if r.body != body {
                            out["body_b64"] = json!(b64.encode(&r.body));
                        }
                        if r.head != head {
                            out["head"] = json!(r.head);
                        }
                        out
                    }
                    HttpResponseAction::Forward(_) => json!({"verdict": "allow"}),
                }
            }
            "fs" => self.fs_call(m),
            "exec_before" => {
                let Some(f) = &self.exec else { return json!({"verdict": "allow"}) };
                let call = ExecCall {
                    argv: strs("argv"),
                    env: strs("env"),
                    cwd: m.get("cwd").and_then(Value::as_str).map(str::to_owned),
                    user: m.get("user").and_then(Value::as_str).map(str::to_owned),
                };
                match f(call) {
                    ExecAction::Allow => json!({"verdict": "allow"}),
                    ExecAction::Deny(why) => json!({"verdict": "deny", "reason": why}),
                    ExecAction::Rewrite { argv, env } => {
                        let mut r = json!({"verdict": "allow"});
                        if let Some(a) = argv {
                            r["argv"] = json!(a);
                        }
                        if let Some(e) = env {
                            r["env"] = json!(e);
                        }
                        r
                    }
                }
            }
            // A hook this plugin did not ask for is never called; were it,
            // allowing is what not hooking it means.
            _ => json!({"verdict": "allow"}),
        }
    }
}

/// The errno a refused filesystem call gives the guest: an I/O error's
/// own (or its kind's), EACCES for anything else.
fn errno_of(e: &Error) -> i32 {
    match e {
        Error::HostIo(io) => io.raw_os_error().filter(|n| (1..4096).contains(n)).unwrap_or(match io.kind() {
            io::ErrorKind::NotFound => libc::ENOENT,
            io::ErrorKind::AlreadyExists => libc::EEXIST,
            io::ErrorKind::Unsupported => libc::EOPNOTSUPP,
            _ => libc::EACCES,
        }),
        _ => libc::EACCES,
    }
}

fn qtype_name(n: u64) -> String {
    match n {
        1 => "A".into(),
        2 => "NS".into(),
        5 => "CNAME".into(),
        6 => "SOA".into(),
        12 => "PTR".into(),
        15 => "MX".into(),
        16 => "TXT".into(),
        28 => "AAAA".into(),
        33 => "SRV".into(),
        65 => "HTTPS".into(),
        n => n.to_string(),
    }
}

/// An HTTP request's line and headers, as the hook is given them.
fn parse_head(head: &str) -> HttpRequest {
    let mut lines = head.lines();
    let mut first = lines.next().unwrap_or("").split(' ');
    let method = first.next().unwrap_or("").to_owned();
    let path = first.next().unwrap_or("").to_owned();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, _)| !k.trim().is_empty())
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    HttpRequest { method, path, headers, ..HttpRequest::default() }
}

fn read_msg(s: &mut UnixStream) -> io::Result<Option<Map<String, Value>>> {
    let mut head = [0u8; 4];
    match s.read_exact(&mut head) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let n = u32::from_be_bytes(head) as usize;
    if n == 0 || n > MAX_MSG {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("a message of {n} bytes")));
    }
    let mut body = vec![0u8; n];
    s.read_exact(&mut body)?;
    match serde_json::from_slice(&body) {
        Ok(Value::Object(m)) => Ok(Some(m)),
        _ => Err(io::Error::new(io::ErrorKind::InvalidData, "a message that is not a JSON object")),
    }
}

fn write_msg(s: &mut UnixStream, v: &Value) -> io::Result<()> {
    let body = serde_json::to_vec(v).map_err(io::Error::other)?;
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    s.write_all(&out)
}

/// How many of a connection's events a hook server holds for its hooks,
/// the one being told among them (docs/plugins.md): while that many are,
/// a newer one is dropped, counted and logged, so that a hook that is slow
/// or stuck costs this program no more than that, however many events the
/// guest makes (an HTTP answer is one). Calls are never dropped. The same
/// in the four SDKs.
pub const EVENT_QUEUE_MAX: usize = 4096;

/// A connection's events on their way to its hooks: at most
/// [`EVENT_QUEUE_MAX`] held, in order.
#[derive(Default)]
struct EventQueue {
    state: Mutex<Held>,
    more: std::sync::Condvar,
}

#[derive(Default)]
struct Held {
    queued: std::collections::VecDeque<Map<String, Value>>,
    /// queued, or being told
    held: usize,
    closed: bool,
}

impl EventQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, Held> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues @m, or drops it when [`EVENT_QUEUE_MAX`] are held: false then.
    fn put(&self, m: Map<String, Value>) -> bool {
        let mut g = self.lock();
        if g.held >= EVENT_QUEUE_MAX {
            return false;
        }
        g.queued.push_back(m);
        g.held += 1;
        drop(g);
        self.more.notify_one();
        true
    }

    fn close(&self) {
        self.lock().closed = true;
        self.more.notify_one();
    }

    /// The next event, or None once closed and told; @told: the one
    /// before it has been told.
    fn next(&self, told: bool) -> Option<Map<String, Value>> {
        let mut g = self.lock();
        if told {
            g.held -= 1;
        }
        while g.queued.is_empty() && !g.closed {
            g = self.more.wait(g).unwrap_or_else(|e| e.into_inner());
        }
        g.queued.pop_front()
    }
}

/// serve() - answer on @s until the supervisor closes it, then return
/// once the events it read have been told: how many it dropped (a full
/// queue), and how the channel ended.
fn serve(hooks: &Hooks, s: UnixStream) -> (u64, io::Result<()>) {
    // Events go to a thread of their own: the supervisor writes an
    // answer's head in that answer's way, so a channel left unread would
    // delay the answer.
    let events = Arc::new(EventQueue::default());
    let (h, q) = (hooks.clone(), events.clone());
    let teller = thread::Builder::new().name("msb-hook-events".into()).spawn(move || {
        let mut m = q.next(false);
        while let Some(e) = m {
            // A hook that panics loses its event, not the channel.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| h.tell(&e)));
            m = q.next(true);
        }
    });
    let teller = match teller {
        Ok(t) => t,
        Err(e) => return (0, Err(e)),
    };
    let mut lost = 0u64;
    let r = answer_on(hooks, s, &mut |m| {
        if !events.put(m) {
            lost += 1;
            if lost == 1 {
                eprintln!(
                    "microsandbox: hook server: {EVENT_QUEUE_MAX} events of a connection not yet told to \
                     their hooks (slow or stuck): newer events are dropped until there is room"
                );
            }
        }
    });
    events.close();
    let _ = teller.join();
    if lost > 0 {
        eprintln!(
            "microsandbox: hook server: {lost} events of a connection dropped, its hooks too slow \
             (at most {EVENT_QUEUE_MAX} held)"
        );
    }
    (lost, r)
}

/// answer_on() - read @s until it ends: calls answered, events given to
/// @event.
fn answer_on(hooks: &Hooks, mut s: UnixStream, event: &mut dyn FnMut(Map<String, Value>)) -> io::Result<()> {
    while let Some(m) = read_msg(&mut s)? {
        match m.get("type").and_then(Value::as_str) {
            Some("hello") => write_msg(&mut s, &hooks.hello())?,
            Some("call") => {
                let id = m.get("id").cloned().unwrap_or(Value::Null);
                // A hook that panics refuses its call, as one that fails
                // its deadline would, and the channel goes on.
                let mut r = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| hooks.answer(&m))) {
                    Ok(r) => r,
                    Err(_) => json!({"verdict": "deny", "reason": "the hook panicked"}),
                };
                r["type"] = json!("reply");
                r["id"] = id;
                write_msg(&mut s, &r)?;
            }
            Some("event") => event(m),
            _ => {}
        }
    }
    Ok(())
}

/// A unix socket of this process that a sandbox's supervisor connects to
/// at each start; stopped (and its socket removed) when dropped.
pub(crate) struct HookServer {
    pub(crate) path: PathBuf,
    dir: PathBuf,
    stop: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<UnixStream>>>,
}

impl HookServer {
    pub(crate) fn start(hooks: Hooks) -> Result<HookServer> {
        let io = |e: io::Error| Error::HostIo(e);
        let dir = std::env::temp_dir().join(format!(
            "msb-hooks-{}-{}",
            std::process::id(),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
        ));
        std::fs::create_dir(&dir).map_err(io)?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
        let path = dir.join("hooks.sock");
        let l = UnixListener::bind(&path).map_err(io)?;
        let stop = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<UnixStream>>> = Arc::default();
        let (st, cs) = (stop.clone(), conns.clone());
        thread::Builder::new()
            .name("msb-hooks".into())
            .spawn(move || {
                for c in l.incoming() {
                    if st.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(c) = c else { continue };
                    if let Ok(k) = c.try_clone() {
                        cs.lock().unwrap_or_else(|e| e.into_inner()).push(k);
                    }
                    let h = hooks.clone();
                    let _ = thread::Builder::new().name("msb-hook".into()).spawn(move || {
                        let _ = serve(&h, c);
                    });
                }
            })
            .map_err(io)?;
        Ok(HookServer { path, dir, stop, conns })
    }
}

impl Drop for HookServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accepting thread so it sees the flag and ends.
        let _ = UnixStream::connect(&self.path);
        for c in self.conns.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{DnsAction, DnsQuery};
    use std::sync::RwLock;

    /// A guest decides how many answers' heads there are. With a hook
    /// stuck, a connection holds EVENT_QUEUE_MAX of its events and drops
    /// the newer ones (counted), and a call after them is answered while
    /// the hook is still stuck; once it lets go the held ones are told,
    /// in order. A stand-in supervisor on the connection's socket.
    #[test]
    fn a_connection_drops_the_events_beyond_its_bound() {
        const EXTRA: usize = 100;
        let gate = Arc::new(RwLock::new(()));
        let told: Arc<Mutex<Vec<String>>> = Arc::default();
        let (g, t) = (gate.clone(), told.clone());
        let hooks = Hooks {
            http_response_head: Some(Arc::new(move |h: HttpResponseHead| {
                drop(g.read());
                t.lock().unwrap().push(h.request);
            })),
            dns: Some(Arc::new(|_: DnsQuery| DnsAction::Deny)),
            ..Hooks::default()
        };
        let (mut sup, ours) = UnixStream::pair().unwrap();
        sup.set_read_timeout(Some(std::time::Duration::from_secs(60))).unwrap();
        let held = gate.write().unwrap();
        let server = thread::spawn(move || serve(&hooks, ours));
        write_msg(&mut sup, &json!({"type": "hello", "protocol": 1, "sandbox": "bound"})).unwrap();
        let h = read_msg(&mut sup).unwrap().unwrap();
        assert_eq!(h["hooks"], json!(["dns", "http_response_head"]));
        for i in 0..EVENT_QUEUE_MAX + EXTRA {
            let e = json!({"type": "event", "hook": "http_response_head",
                "request": format!("GET /{i} HTTP/1.1"), "host": "h", "status": 200,
                "head": "HTTP/1.1 200 OK\r\n\r\n", "body_length": 0, "tls": false});
            write_msg(&mut sup, &e).unwrap();
        }
        let call = json!({"type": "call", "id": 7, "hook": "dns", "deadline_ms": 1000,
            "name": "example.com", "qtype": 1});
        write_msg(&mut sup, &call).unwrap();
        let r = read_msg(&mut sup).unwrap().unwrap();
        assert_eq!((&r["id"], &r["verdict"]), (&json!(7), &json!("deny")), "{r:?}");
        // answered with the hook still stuck on the first head
        assert!(told.lock().unwrap().is_empty());
        drop(held);
        drop(sup);
        let (dropped, end) = server.join().unwrap();
        end.unwrap();
        assert_eq!(dropped, EXTRA as u64);
        let want: Vec<String> = (0..EVENT_QUEUE_MAX).map(|i| format!("GET /{i} HTTP/1.1")).collect();
        assert!(
            *told.lock().unwrap() == want,
            "{} told, not the first {EVENT_QUEUE_MAX} in order",
            told.lock().unwrap().len()
        );
    }
}
