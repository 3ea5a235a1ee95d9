// SPDX-License-Identifier: Apache-2.0
//! The seeds' Rust snippets (shared/seeds: the product's promise), run as
//! written against the stand-ins for python:3.12 and node:20 from a local
//! registry. Where a snippet uses a form libmsb does not serve yet
//! (spawning from inside a sandbox), the snippet as
//! written must fail with `Error::NotSupported` saying what to use, and
//! the rest of it is run without that form.

use std::fmt::Display;

use std::sync::Mutex;

use microsandbox::{
    AuditLog, Context, DnsAction, DynFileSystem, Error, HttpAction, MemFs, PassthroughFs, RateLimiter, Result, Sandbox,
};

use crate::common::{check_cold_pull, check_sync, contains, init, seed_registry, unique, Events};

/// The seeds' own logging.
fn log(what: &str, arg: impl Display) {
    let line = what.replace("{}", &arg.to_string());
    eprintln!("{line}");
    LOGGED.lock().unwrap().push(line);
}

/// What the seeds logged.
static LOGGED: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// The seeds' DLP check.
fn contains_pii(body: &[u8]) -> bool {
    String::from_utf8_lossy(body).contains("SSN")
}

/// The seed writes `futures::try_join_all`; the futures crate has it as
/// `futures::future::try_join_all`.
mod futures {
    pub use ::futures::future::try_join_all;
}

// ---- secrets ---------------------------------------------------------------------

#[rustfmt::skip]
async fn seed_secrets(key: &str) -> Result<Sandbox> {
    let sb = Sandbox::builder("agent")
        .image("python:3.12")
        .secret_env("OPENAI_API_KEY", key, "api.openai.com")
        .create()
        .await?;
    Ok(sb)
}

#[tokio::test]
async fn seed_secrets_as_written() {
    if seed_registry().is_none() {
        return;
    }
    let key = format!("sk-test-{}-real-value", std::process::id());
    let sb = seed_secrets(&key).await.unwrap();
    // Inside the sandbox: echo $OPENAI_API_KEY -> msb_placeholder_...
    let r = sb.exec("sh -c 'echo $OPENAI_API_KEY; echo $SEED_IMAGE'").await.unwrap();
    let out = r.stdout_str();
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("msb_placeholder_") && lines[1] == "python:3.12", "guest sees {out:?}");
    // The real value is nowhere in the guest.
    let r = sb
        .shell(&format!(
            "cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n'; \
             find /etc /root /tmp /run -type f 2>/dev/null | xargs grep -l '{key}' 2>/dev/null"
        ))
        .await
        .unwrap();
    assert!(!r.stdout_str().contains(&key), "the secret's value reached the guest");
    // A value kept nowhere cannot come back once stopped, and says so.
    sb.kill().await.unwrap();
    let e = sb.start().await.unwrap_err();
    eprintln!("start after stop: {e}");
}

// ---- network -------------------------------------------------------------------------

#[rustfmt::skip]
async fn seed_network_as_written() -> Result<Sandbox> {
    let sb = Sandbox::builder("worker")
      .image("node:20")
      .network(|n| n
        .allow(["api.openai.com", "*.stripe.com"])
        .on_dns(|q| { log("dns: {}", q.name); DnsAction::Allow })
        .on_http(|req| {
          if contains_pii(&req.body) {
            return HttpAction::Block("DLP: PII detected");
          }
          HttpAction::Forward(req)
        })
        .block_cidr("169.254.0.0/16") // cloud metadata
        .block_cidr("10.0.0.0/8")
      ).create().await?;
    Ok(sb)
}

#[tokio::test]
async fn seed_network() {
    if seed_registry().is_none() {
        return;
    }
    // As written: the hooks in Rust run here, called by the sandbox's
    // supervisor (tests/sdk/hooks.rs has them refuse and rewrite).
    let sb = seed_network_as_written().await.unwrap();
    // An allowed name reaches on_dns (a refused one never does).
    sb.shell("nslookup -type=a api.openai.com 10.0.2.3; true").await.unwrap();
    assert!(LOGGED.lock().unwrap().iter().any(|l| l == "dns: api.openai.com"), "{:?}", LOGGED.lock().unwrap());
    // A name outside the allowlist gets NXDOMAIN, a blocked range is
    // refused; both leave a line in the log.
    let r =
        sb.shell("nslookup evil.example 10.0.2.3; echo dns=$?; echo | nc -w 5 10.1.2.3 80; echo nc=$?").await.unwrap();
    let out = format!("{}{}", r.stdout_str(), r.stderr_str());
    assert!(!out.contains("dns=0") && !out.contains("nc=0"), "the policy let something through: {out}");
    let log = std::fs::read_to_string(sb.log_path().await.unwrap()).unwrap();
    contains("sandbox log", &log, "evil.example");
    contains("sandbox log", &log, "10.1.2.3");
    let js: serde_json::Value = serde_json::from_str(&sb.inspect().await.unwrap()).unwrap();
    assert_eq!(js["config"]["net"]["allow"], serde_json::json!(["api.openai.com", "*.stripe.com"]));
    assert_eq!(js["config"]["net"]["block_cidr"], serde_json::json!(["169.254.0.0/16", "10.0.0.0/8"]));
}

// ---- volumes -----------------------------------------------------------------------------

#[rustfmt::skip]
struct AuditFs { inner: PassthroughFs }

impl AuditFs {
    fn new(dir: &str) -> Result<AuditFs> {
        Ok(AuditFs { inner: PassthroughFs::new(dir) })
    }
}

#[rustfmt::skip]
impl DynFileSystem for AuditFs {
  fn inner(&self) -> Option<&dyn DynFileSystem> { Some(&self.inner) }
  fn overridden(&self) -> &[&'static str] { &["open"] }
  fn open(&self, ctx: Context, ino: u64, flags: u32) -> Result<u64> {
    log("open ino={ino} pid={}", ctx.pid);
    self.inner.open(ctx, ino, flags)
  }
  // read, write, lookup, mkdir, unlink ...
}

// (./data: a directory of the test's, @data)
#[rustfmt::skip]
async fn seed_volumes_as_written(data: &str) -> Result<Sandbox> {
    let sb = Sandbox::builder("app")
      .image("python:3.12")
      .volume("/data", |v| v.backend(AuditFs::new(data)?))
      .volume("/cache", |v| v.backend(MemFs::new()))
      .create().await?;
    Ok(sb)
}

/// A filesystem in Rust that wraps nothing native.
struct Bare;
impl DynFileSystem for Bare {}

#[tokio::test]
async fn seed_volumes() {
    if seed_registry().is_none() {
        return;
    }
    // AuditFs's open runs here, in Rust; every other call (reads and
    // writes too) stays in the native passthrough.
    let dir = std::env::temp_dir().join(unique("rust-data"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("from-host.txt"), "host\n").unwrap();
    let sb = seed_volumes_as_written(dir.to_str().unwrap()).await.unwrap();
    let r = sb
        .shell("cat /data/from-host.txt && echo guest > /data/from-guest.txt && echo c > /cache/c && grep ' /cache ' /proc/mounts | cut -d' ' -f3")
        .await
        .unwrap();
    assert_eq!((r.exit_code, r.stdout_str().as_ref()), (0, "host\nvirtiofs\n"), "{r:?}");
    assert_eq!(std::fs::read_to_string(dir.join("from-guest.txt")).unwrap(), "guest\n");
    assert!(!dir.join("c").exists(), "/cache wrote to the host directory");
    assert!(
        LOGGED.lock().unwrap().iter().any(|l| l.starts_with("open ino=") && !l.ends_with("pid=0")),
        "{:?}",
        LOGGED.lock().unwrap()
    );
    drop(sb);
    std::fs::remove_dir_all(&dir).unwrap();
    // One that wraps no native filesystem is refused, saying what to do.
    let e = Sandbox::builder(unique("bare")).volume("/data", |v| v.backend(Bare)).create().await.err().unwrap();
    assert!(matches!(e, Error::NotSupported(_)), "{e:?}");
    contains("a bare filesystem's refusal", &e.to_string(), "give it an inner()");
}

// ---- snapshots ------------------------------------------------------------------------------

/// How many workers the snapshot seed forks here (the seed says 100;
/// bench/snapshot.py measures that many); MSB_RUST_SEED_WORKERS changes it.
fn workers() -> usize {
    std::env::var("MSB_RUST_SEED_WORKERS").ok().and_then(|s| s.parse().ok()).unwrap_or(4)
}

#[rustfmt::skip]
#[tokio::test]
async fn seed_snapshot() {
    if seed_registry().is_none() {
        return;
    }
    let n = workers();
    let run = async {
        let sb = Sandbox::builder("base")
          .image("python:3.12")
          .create().await?;
        sb.exec("pip install numpy pandas torch").await?;
        sb.shell("echo installed > /root/deps").await?;

        let snap = sb.snapshot().await?;
        snap.save_named("ml-ready").await?;

        // Fork the workers from the same baseline
        let workers = futures::try_join_all((0..n).map(|i| {
          snap.restore_with(format!("w-{i}"), |r| r.env("WORKER_ID", &i.to_string()))
        })).await?;
        Ok::<_, Error>((sb, snap, workers))
    };
    let (sb, snap, workers) = run.await.unwrap();
    // No pip in the stand-in image: the exit status was data.
    assert_eq!(sb.exec("pip install numpy pandas torch").await.unwrap().exit_code, 127);
    for (i, w) in workers.iter().enumerate() {
        let r = w.shell("echo $WORKER_ID; cat /root/deps; hostname").await.unwrap();
        assert_eq!(r.stdout_str(), format!("{i}\ninstalled\nw-{i}\n"), "worker {i}");
    }
    assert_eq!(snap.name(), "ml-ready");
    let info = snap.info().await.unwrap();
    assert!(info.kind == "full" && info.source == "base" && info.users == n as u32, "{info:?}");
    // Its record: its files, and the sandboxes restored from it.
    let rec: serde_json::Value = serde_json::from_str(&snap.inspect().await.unwrap()).unwrap();
    let mut used_by: Vec<String> = serde_json::from_value(rec["used_by"].clone()).unwrap();
    let mut names: Vec<String> = (0..n).map(|i| format!("w-{i}")).collect();
    used_by.sort();
    names.sort();
    assert_eq!(used_by, names, "{rec}");
    for f in ["state", "ram", "upper.ext4"] {
        assert!(rec["files"][f]["size"].as_i64() > Some(0), "{f}: {rec}");
    }
    // The snapshot is used: it is not renamed or removed from under them.
    assert!(matches!(snap.save_named("other").await, Err(Error::Busy(_))));
    assert!(matches!(snap.remove(false).await, Err(Error::Busy(_))));
    drop(workers);
    let brec = tokio::task::spawn_blocking(|| microsandbox::blocking::Snapshot::get("ml-ready")?.inspect())
        .await
        .unwrap()
        .unwrap();
    let brec: serde_json::Value = serde_json::from_str(&brec).unwrap();
    assert_eq!((&brec["used_by"], &brec["files"]), (&serde_json::json!([]), &rec["files"]), "{brec}");
    // It travels to a registry and back as a snapshot (memory included),
    // under another name here.
    let (host, _) = seed_registry().unwrap();
    let reference = format!("{host}/snaps/ml-ready:1");
    // Their progress: resolved, then the snapshot's files read and
    // uploaded, or downloaded, to the last chunk and byte.
    let (up, down) = (Events::new(), Events::new());
    let pushed = snap.push_with(|o| o.to(&reference).progress(up.add())).await.unwrap();
    assert!(!pushed.digest.is_empty() && pushed.transferred > 0 && !pushed.up_to_date, "{pushed:?}");
    check_sync("the snapshot's push", &up.take(), &pushed, &["reading", "uploading"]);
    let (copy, pulled) = microsandbox::Snapshot::pull_with(&reference, |o| o.name("ml-ready-copy").progress(down.add()))
        .await
        .unwrap();
    assert_eq!((copy.name(), pulled.digest.as_str()), ("ml-ready-copy".to_owned(), pushed.digest.as_str()));
    check_sync("the snapshot's pull", &down.take(), &pulled, &["downloading"]);
    let info = copy.info().await.unwrap();
    assert!(info.kind == "full" && info.source == "base", "{info:?}");
    copy.remove(false).await.unwrap();
    assert!(matches!(copy.inspect().await, Err(Error::NotFound(_))));
    snap.remove(false).await.unwrap();
}

// ---- plugins, spawn ----------------------------------------------------------------------------

#[rustfmt::skip]
async fn seed_plugins_as_written() -> Result<Sandbox> {
    let sb = Sandbox::builder("app")
      .image("python:3.12")
      .plugin(AuditLog::new("/var/log/audit"))
      .plugin(RateLimiter::new(100)) // 100 exec/s
      .plugin_process("node ./plugins/monitor.js")
      .plugin_process("python ./plugins/dlp.py")
      .create().await?;
    Ok(sb)
}

#[rustfmt::skip]
async fn seed_spawn_as_written(key: &str) -> Result<(microsandbox::Peer, microsandbox::Peer)> {
    // Running inside a microsandbox
    let rt = Sandbox::current_runtime().await?;

    // Spawn peer sandboxes (isolated, same level)
    let researcher = rt.start("researcher")
      .image("python:3.12")
      .secret_env("SERP_KEY", key, "serpapi.com")
      .create().await?;

    let coder = rt.start("coder")
      .image("node:20")
      .network(|n| n.deny_all()) // air-gapped
      .create().await?;
    Ok((researcher, coder))
}

/// The seed's plugin processes, written from the hook protocol: a
/// monitor that allows (Node) and a DLP that refuses an exec naming
/// "exfiltrate" (Python, the standard library alone).
const MONITOR_JS: &str = r#"
const net = require('net');
const s = new net.Socket({ fd: 3, readable: true, writable: true });
let buf = Buffer.alloc(0);
const send = (m) => { const b = Buffer.from(JSON.stringify(m)); const h = Buffer.alloc(4); h.writeUInt32BE(b.length); s.write(Buffer.concat([h, b])); };
s.on('data', (d) => {
  buf = Buffer.concat([buf, d]);
  while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
    const m = JSON.parse(buf.subarray(4, 4 + buf.readUInt32BE(0)));
    buf = buf.subarray(4 + buf.readUInt32BE(0));
    if (m.type === 'hello') send({ type: 'hello', name: 'monitor', hooks: ['connect'] });
    else if (m.type === 'call') send({ type: 'reply', id: m.id, verdict: 'allow' });
  }
});
s.on('end', () => process.exit(0));
"#;
const DLP_PY: &str = r#"
import json, os, socket, struct
s = socket.socket(fileno=int(os.environ.get("MSB_PLUGIN_FD", "3")))
def read():
    h = s.recv(4, socket.MSG_WAITALL)
    if len(h) < 4: return None
    return json.loads(s.recv(struct.unpack(">I", h)[0], socket.MSG_WAITALL))
def send(m):
    b = json.dumps(m).encode(); s.sendall(struct.pack(">I", len(b)) + b)
while True:
    m = read()
    if m is None: break
    if m["type"] == "hello": send({"type": "hello", "name": "dlp", "hooks": ["exec_before"]})
    elif m["type"] == "call":
        bad = "exfiltrate" in m.get("argv", [])
        send({"type": "reply", "id": m["id"], "verdict": "deny" if bad else "allow", "reason": "DLP"})
"#;

#[tokio::test]
async fn seed_plugins_and_spawn() {
    if seed_registry().is_none() {
        return;
    }
    // The seed's chain: its built-ins as written; its processes are
    // ./plugins/*, files of the current directory, so here they are this
    // test's files, named by their full paths (the tests share one
    // current directory, which no test changes).
    let dir = std::env::temp_dir().join(unique("msb-rs-plugins"));
    std::fs::create_dir_all(dir.join("plugins")).unwrap();
    std::fs::write(dir.join("plugins/monitor.js"), MONITOR_JS).unwrap();
    std::fs::write(dir.join("plugins/dlp.py"), DLP_PY).unwrap();
    let audit = dir.join("audit");
    let sb = Sandbox::builder("app")
        .image("python:3.12")
        .plugin(AuditLog::new(audit.to_string_lossy()))
        .plugin(RateLimiter::new(100)) // 100 exec/s
        .plugin_process(format!("node {}/plugins/monitor.js", dir.display()))
        .plugin_process(format!("python3 {}/plugins/dlp.py", dir.display()))
        .create()
        .await
        .unwrap();
    assert_eq!(sb.exec("echo fine").await.unwrap().stdout_str(), "fine\n");
    let e = sb.exec("echo exfiltrate").await.unwrap_err();
    assert!(matches!(e, Error::PolicyRefused(_)), "{e:?}");
    contains("dlp's denial", &e.to_string(), "plugin dlp: DLP");
    let lines = std::fs::read_to_string(audit.join("app.jsonl")).unwrap();
    contains("audit log", &lines, "\"fine\"");
    sb.remove().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    // seed_plugins_as_written() is the seed itself; it compiles against
    // the SDK's AuditLog and RateLimiter.
    let _ = seed_plugins_as_written;

    // (outside a sandbox; tests/runtime.rs runs it against a stand-in
    // for a sandbox's agent)
    let e = seed_spawn_as_written("k").await.err().expect("spawning outside a sandbox");
    assert!(matches!(e, Error::NotSupported(_)), "{e:?}");
    contains("spawn refusal", &e.to_string(), "not inside a microsandbox sandbox");
    assert!(Sandbox::list().await.unwrap().iter().all(|s| s.name != "researcher"));
}

// ---- sync -----------------------------------------------------------------------------------------

#[rustfmt::skip]
/// The seed's first half, on this machine: make, change, push.
#[tokio::test]
async fn seed_sync() {
    let Some((host, layouts)) = seed_registry() else { return };
    microsandbox::set_remote(&host, false).unwrap();
    let sb = async {
        let sb = Sandbox::builder("ml-project")
          .image("python:3.12")
          .create().await?;
        sb.exec("pip install torch").await?;
        sb.shell("echo torch > /root/installed").await?;

        // Push filesystem state to the cloud
        sb.push().await?;
        Ok::<_, Error>(sb)
    }
    .await
    .unwrap();
    drop(sb);
    // One whose image comes from the registry, pushed with its progress
    // (the other machine pulls it without the image).
    let name = unique("rust-imgsync");
    let sb = Sandbox::builder(&name).image(&format!("{host}/python:3.12")).create().await.unwrap();
    sb.shell("echo from the registry > /root/mark; sync").await.unwrap();
    sb.stop().await.unwrap();
    let reference = format!("{host}/rsync/{name}:v1");
    let up = Events::new();
    let pushed = sb.push_with(|o| o.to(&reference).progress(up.add())).await.unwrap();
    assert!(pushed.transferred > 0 && !pushed.up_to_date, "{pushed:?}");
    check_sync("the sandbox's push", &up.take(), &pushed, &["reading", "uploading"]);
    drop(sb);
    // On another machine: a process of this test binary with a home of
    // its own pulls and resumes.
    let other = std::env::temp_dir().join(unique("rust-other-home"));
    std::fs::create_dir_all(&other).unwrap();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap());
    child
        .args(["--exact", "seeds::seed_sync_other_machine", "--ignored", "--nocapture", "--test-threads=1"])
        .env("MSB_RUST_TEST_HOME", &other)
        .env("MSB_RUST_TEST_LAYOUTS", serde_json::to_string(&layouts).unwrap())
        .env("MSB_REMOTE", &host)
        .env("MSB_RUST_TEST_IMAGE_SANDBOX", &reference);
    let out = tokio::task::spawn_blocking(move || child.output()).await.unwrap().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.contains("1 passed"), "the other machine:\n{text}");
    let _ = std::fs::remove_dir_all(&other);
}

#[rustfmt::skip]
/// The seed's second half, run by `seed_sync` in a process of its own.
#[tokio::test]
#[ignore = "run by seed_sync as another machine"]
async fn seed_sync_other_machine() {
    init();
    // This machine has the image the sandbox needs (pinned to the same
    // digest), as one that pulled python:3.12 would.
    let layouts: std::collections::HashMap<String, String> =
        serde_json::from_str(&std::env::var("MSB_RUST_TEST_LAYOUTS").unwrap()).unwrap();
    // Its store is empty: a pull from the registry downloads and
    // converts every layer, as its progress tells.
    let host = std::env::var("MSB_REMOTE").unwrap();
    let pulled = Events::new();
    let info = microsandbox::images::pull_with(&format!("{host}/python:3.12"), |o| o.progress(pulled.add()))
        .await
        .unwrap();
    assert!(info.fetched > 0, "{info:?}");
    check_cold_pull("a pull into an empty store", &pulled.take(), &info);
    // Removed again: a sandbox pulled without its image pulls it, and
    // tells that pull's own events in phase "image" before its disk's
    // chunks are downloaded.
    microsandbox::images::remove(&info.reference).await.unwrap();
    microsandbox::images::prune().await.unwrap();
    let down = Events::new();
    let reference = std::env::var("MSB_RUST_TEST_IMAGE_SANDBOX").unwrap();
    let (imgsb, got) = Sandbox::pull_with(&reference, |o| o.progress(down.add())).await.unwrap();
    let (image, rest): (Vec<_>, Vec<_>) = down.take().into_iter().partition(|e| e.phase == "image");
    let image: Vec<_> = image.into_iter().map(|e| e.image.expect("an image event without the pull's")).collect();
    check_cold_pull("the sandbox's image", &image, &info);
    check_sync("the sandbox's pull", &rest, &got, &["downloading"]);
    imgsb.start().await.unwrap();
    assert_eq!(imgsb.exec("cat /root/mark").await.unwrap().stdout_str(), "from the registry\n");
    imgsb.remove().await.unwrap();
    microsandbox::images::load(&layouts["python:3.12"], Some("python:3.12")).await.unwrap();
    let sb = async {
        // On another machine: pull and resume
        let sb = Sandbox::pull("ml-project").await?;
        sb.start().await?;
        Ok::<_, Error>(sb)
    }
    .await
    .unwrap();
    let r = sb.shell("cat /root/installed; echo $SEED_IMAGE").await.unwrap();
    assert_eq!(r.stdout_str(), "torch\npython:3.12\n");
    // One that syncs pushes itself when it stops: stop_with reports that
    // push and gives what it did, only what changed since the pull sent.
    let (_, here) = Sandbox::pull_with("ml-project", |o| o.name("ml-project-again")).await.unwrap();
    sb.set_sync(true).await.unwrap();
    sb.shell("echo more > /root/more; sync").await.unwrap();
    let up = Events::new();
    let pushed = sb.stop_with(|o| o.progress(up.add())).await.unwrap().expect("the stop's push");
    assert!(
        pushed.name == "ml-project"
            && pushed.parent == here.digest
            && !pushed.up_to_date
            && pushed.transferred > 0
            && pushed.transferred < pushed.chunks,
        "the stop's push {pushed:?}, after the pull {here:?}"
    );
    let evs = up.take();
    check_sync("the stop's push", &evs, &pushed, &["reading", "uploading"]);
    // A stopped one has nothing to push; nor has one that does not sync
    // (the blocking API). One whose push is refused (the tag holds a push
    // it did not start from) is left stopped, and the refusal is the
    // stop's error.
    assert_eq!(sb.stop_with(|o| o.progress(up.add())).await.unwrap(), None);
    assert!(up.take().is_empty());
    let again = tokio::task::spawn_blocking(move || {
        let sb = microsandbox::blocking::Sandbox::get("ml-project-again")?;
        sb.start()?;
        assert_eq!(sb.stop_with(|o| o.timeout(std::time::Duration::from_secs(5)))?, None);
        sb.set_sync(true)?;
        sb.start()?;
        let e = sb.stop_with(|o| o.progress(up.add())).unwrap_err();
        assert!(matches!(e, Error::SyncConflict(_)), "{e:?}");
        assert!(up.take().iter().all(|e| e.phase != "uploading"));
        sb.info()
    });
    assert_eq!(again.await.unwrap().unwrap().status, "stopped");
    Sandbox::get("ml-project-again").await.unwrap().remove().await.unwrap();
    sb.remove().await.unwrap();
}
