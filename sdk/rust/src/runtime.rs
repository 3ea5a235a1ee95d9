// SPDX-License-Identifier: Apache-2.0
//! Peer sandboxes, from code running inside a sandbox (docs/spawn.md).
//!
//! `Sandbox::current_runtime().await?` inside a sandbox gives a
//! [`Runtime`] that asks the host, through the sandbox's agent (its socket
//! /run/microsandbox/agent.sock, the agent's link, never the network), to
//! start peers beside it and run commands in them. Nothing here calls
//! libmsb: this module speaks the agent's frames itself
//! (docs/agent-protocol.md §7c) on tokio's `UnixStream`. What is allowed
//! is the host's decision (`msb run --allow-spawn N`); a refusal is
//! [`Error::PolicyRefused`] with the host's reason.

use std::path::PathBuf;
use std::sync::RwLock;

use serde_json::{json, Map, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use crate::command::{split_command, ExecResult};
use crate::config::NetworkBuilder;
use crate::error::{Error, Failure, Result};

// frame types and TLV tags (src/proto/proto.h)
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

type Sink = Box<dyn FnMut(&[u8]) + Send>;

/// One request on a connection of its own, its answer read to the end:
/// output to @out and @err as it comes (credit given back once taken),
/// then `Some((code, signal))` for an exec, `None` for the others.
/// Dropping the future closes the connection: the agent tells the host,
/// which cancels the request (a peer's command is killed).
async fn ask(op: &str, req: Value, mut out: Sink, mut err: Sink) -> Result<Option<(i32, i32)>> {
    let body = req.to_string().into_bytes();
    if body.len() > REQ_MAX {
        return Err(fail(MSB_E_INVALID, op, "the request is over 60 KiB"));
    }
    let mut s = match UnixStream::connect(socket()).await {
        Ok(s) => s,
        Err(e) => return Err(not_inside(op, &e.to_string())),
    };
    let closed = |what: &str| fail(MSB_E_PROTOCOL, op, format!("the sandbox's agent closed the connection{what}"));
    s.write_all(&frame(F_PEER, &body)).await.map_err(|_| closed(""))?;
    let mut hdr = [0u8; HDR];
    let mut buf = vec![0u8; FRAME_MAX];
    let mut taken = 0usize;
    loop {
        s.read_exact(&mut hdr).await.map_err(|_| closed(" before the answer's end"))?;
        let n = u32::from_be_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]) as usize;
        if n > FRAME_MAX || hdr[9] != 0 {
            return Err(fail(MSB_E_PROTOCOL, op, "a bad frame from the sandbox's agent"));
        }
        let p = &mut buf[..n];
        s.read_exact(p).await.map_err(|_| closed(" before the answer's end"))?;
        match hdr[8] {
            F_STDOUT | F_STDERR => {
                if hdr[8] == F_STDOUT {
                    out(p)
                } else {
                    err(p)
                }
                taken += n;
                if taken >= WINDOW_INIT / 4 {
                    // A connection the agent has closed (the answer's end
                    // already sent) is found by the next read, not here.
                    let _ = s.write_all(&frame(F_WINDOW, &(taken as u32).to_be_bytes())).await;
                    taken = 0;
                }
            }
            F_EXIT => {
                if n < 8 {
                    return Err(fail(MSB_E_PROTOCOL, op, "a bad EXIT from the sandbox's agent"));
                }
                let code = i32::from_be_bytes([p[0], p[1], p[2], p[3]]);
                let sig = u32::from_be_bytes([p[4], p[5], p[6], p[7]]) as i32;
                return Ok(Some((code, sig)));
            }
            F_RESULT => {
                let (e, msg) = result(p)
                    .ok_or_else(|| fail(MSB_E_PROTOCOL, op, "a RESULT without ERRNO from the sandbox's agent"))?;
                if e == 0 {
                    return Ok(None);
                }
                let code = if e as i32 == libc::EPERM { MSB_E_POLICY } else { -(e as i32) };
                let msg = if msg.is_empty() { std::io::Error::from_raw_os_error(e as i32).to_string() } else { msg };
                return Err(fail(code, op, msg));
            }
            _ => {}
        }
    }
}

/// Collects what a sink is given.
fn collect() -> (Sink, std::sync::Arc<std::sync::Mutex<Vec<u8>>>) {
    let v = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let w = v.clone();
    (Box::new(move |b: &[u8]| w.lock().unwrap().extend_from_slice(b)), v)
}

fn discard() -> Sink {
    Box::new(|_: &[u8]| {})
}

fn taken(v: std::sync::Arc<std::sync::Mutex<Vec<u8>>>) -> Vec<u8> {
    std::mem::take(&mut *v.lock().unwrap())
}

// ---- the runtime ----------------------------------------------------------------------------

/// The host, as code inside a sandbox sees it
/// ([`Sandbox::current_runtime`](crate::Sandbox::current_runtime)): it
/// starts peer sandboxes beside this one, lists them, and hands out
/// [`Peer`]s.
#[derive(Debug, Clone)]
pub struct Runtime {
    _private: (),
}

/// `Sandbox::current_runtime()`: the runtime, or NotSupported outside a
/// sandbox.
pub(crate) async fn current_runtime() -> Result<Runtime> {
    let path = socket();
    if let Err(e) = std::fs::metadata(&path) {
        return Err(not_inside("current runtime", &e.to_string()));
    }
    Ok(Runtime { _private: () })
}

impl Runtime {
    /// The agent's socket the runtime speaks to
    /// (/run/microsandbox/agent.sock).
    pub fn agent_socket() -> PathBuf {
        socket()
    }

    /// Points every runtime of this program at @path instead: tests give
    /// it a stand-in for the agent.
    pub fn set_agent_socket(path: impl Into<PathBuf>) {
        *SOCKET.write().unwrap_or_else(|e| e.into_inner()) = Some(path.into());
    }

    /// A builder for the peer sandbox @name: options, then `create()`,
    /// which returns once it is booted.
    pub fn start(&self, name: impl Into<String>) -> PeerBuilder {
        PeerBuilder { name: name.into(), req: Map::new(), net: None, refused: None }
    }

    /// A handle on a peer started earlier.
    pub fn peer(&self, name: impl Into<String>) -> Peer {
        Peer { name: name.into() }
    }

    /// This sandbox's own peers.
    pub async fn list(&self) -> Result<Vec<PeerInfo>> {
        let op = "list peers";
        let (out, v) = collect();
        ask(op, json!({"op": "ps", "json": true}), out, discard()).await?;
        let v = taken(v);
        if v.is_empty() {
            return Ok(Vec::new());
        }
        let l: Value = serde_json::from_slice(&v)
            .map_err(|e| fail(MSB_E_PROTOCOL, op, format!("the host's list of peers: {e}")))?;
        let l = l.as_array().ok_or_else(|| fail(MSB_E_PROTOCOL, op, "the host's list of peers is not a list"))?;
        Ok(l.iter()
            .map(|p| PeerInfo {
                name: p["name"].as_str().unwrap_or_default().to_owned(),
                image: p["image"].as_str().unwrap_or_default().to_owned(),
                status: p["status"].as_str().unwrap_or_default().to_owned(),
                cpus: p["cpus"].as_u64().unwrap_or(0) as u32,
                memory_mib: p["memory_mib"].as_u64().unwrap_or(0),
            })
            .collect())
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

/// Builds a peer: `rt.start(name)`, options, then `create()`. A peer
/// inherits nothing but its parent's limits: its network is its parent's
/// policy or narrower, its secrets only those whose placeholders this
/// sandbox holds.
#[must_use = "a builder does nothing until create() is called"]
pub struct PeerBuilder {
    name: String,
    req: Map<String, Value>,
    net: Option<NetworkBuilder>,
    refused: Option<Error>,
}

impl PeerBuilder {
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

    /// Asks the host for the peer; returns once it is booted.
    pub async fn create(mut self) -> Result<Peer> {
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
        let mut req = Map::new();
        req.insert("op".into(), "start".into());
        req.insert("name".into(), self.name.clone().into());
        req.extend(self.req);
        ask(&op, Value::Object(req), discard(), discard()).await?;
        Ok(Peer { name: self.name })
    }
}

/// A peer sandbox this sandbox started: commands (no stdin, no terminal),
/// `stop`, `remove`, `logs`.
#[derive(Debug, Clone)]
pub struct Peer {
    name: String,
}

impl Peer {
    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs a command line (split as [`split_command`] splits it) and
    /// waits for it, capturing its output; a non-zero exit is data.
    pub async fn exec(&self, line: &str) -> Result<ExecResult> {
        self.command_line(line)?.output().await
    }

    /// Runs @argv as it is and waits for it.
    pub async fn exec_args<I, S>(&self, argv: I) -> Result<ExecResult>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        PeerCommand::new(self, argv.into_iter().map(Into::into).collect()).output().await
    }

    /// Runs @script with `sh -c` and waits for it.
    pub async fn shell(&self, script: &str) -> Result<ExecResult> {
        self.exec_args(["sh", "-c", script]).await
    }

    /// A command of @program, to add arguments and options to.
    pub fn command(&self, program: &str) -> PeerCommand<'_> {
        PeerCommand::new(self, vec![program.to_owned()])
    }

    /// A command from a command line (as `exec` splits it), to add
    /// options to.
    pub fn command_line(&self, line: &str) -> Result<PeerCommand<'_>> {
        Ok(PeerCommand::new(self, split_command(line)?))
    }

    /// Stops the peer.
    pub async fn stop(&self) -> Result<()> {
        ask(&format!("stop peer {}", self.name), json!({"op": "stop", "name": self.name}), discard(), discard())
            .await
            .map(drop)
    }

    /// Deletes the peer (stopping it first), its disk and its own peers.
    pub async fn remove(&self) -> Result<()> {
        ask(&format!("remove peer {}", self.name), json!({"op": "rm", "name": self.name}), discard(), discard())
            .await
            .map(drop)
    }

    /// The last 256 KiB of the peer's log.
    pub async fn logs(&self) -> Result<String> {
        let (out, v) = collect();
        ask(&format!("logs of peer {}", self.name), json!({"op": "logs", "name": self.name}), out, discard()).await?;
        Ok(String::from_utf8_lossy(&taken(v)).into_owned())
    }
}

/// A command to run in a peer: arguments and options, then `output()`.
/// Its output comes at the pace this program takes it; dropping the
/// future kills it.
#[must_use = "a command does nothing until output() is called"]
pub struct PeerCommand<'a> {
    peer: &'a Peer,
    argv: Vec<String>,
    env: Vec<String>,
    cwd: Option<String>,
    check: bool,
    on_stdout: Option<Sink>,
    on_stderr: Option<Sink>,
}

impl<'a> PeerCommand<'a> {
    fn new(peer: &'a Peer, argv: Vec<String>) -> Self {
        PeerCommand { peer, argv, env: Vec::new(), cwd: None, check: false, on_stdout: None, on_stderr: None }
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

    /// Calls @f with each chunk of stdout as it comes, instead of
    /// capturing it; the host is given credit for more once it returned.
    pub fn on_stdout(mut self, f: impl FnMut(&[u8]) + Send + 'static) -> Self {
        self.on_stdout = Some(Box::new(f));
        self
    }

    /// Calls @f with each chunk of stderr as it comes, instead of
    /// capturing it.
    pub fn on_stderr(mut self, f: impl FnMut(&[u8]) + Send + 'static) -> Self {
        self.on_stderr = Some(Box::new(f));
        self
    }

    /// Runs the command and waits for it.
    pub async fn output(self) -> Result<ExecResult> {
        let op = match self.argv.first() {
            Some(p) => format!("exec {p} in peer {}", self.peer.name),
            None => return Err(fail(MSB_E_INVALID, &format!("exec in peer {}", self.peer.name), "no command to run")),
        };
        let mut req = Map::new();
        req.insert("op".into(), "exec".into());
        req.insert("name".into(), self.peer.name.clone().into());
        req.insert("argv".into(), self.argv.into());
        if !self.env.is_empty() {
            req.insert("env".into(), self.env.into());
        }
        if let Some(d) = self.cwd {
            req.insert("workdir".into(), d.into());
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
        let st = ask(&op, Value::Object(req), out, err).await?;
        let (code, signal) = st.unwrap_or((0, 0));
        let r = ExecResult {
            exit_code: code,
            signal,
            timed_out: false,
            stdout: ov.map(taken).unwrap_or_default(),
            stderr: ev.map(taken).unwrap_or_default(),
        };
        if self.check {
            r.check()
        } else {
            Ok(r)
        }
    }
}
