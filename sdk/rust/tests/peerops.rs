// SPDX-License-Identifier: Apache-2.0
//! A peer's stdin, copies and snapshots (docs/agent-protocol.md §7c),
//! through the async runtime and the blocking one, against a stand-in
//! for the agent's socket that answers as the host does: each request's
//! bytes, the input sent within its window, the copy's archive written
//! and read from the protocol's table, and the host's refusals as the
//! crate's errors. A binary of its own (the runtime's socket is the
//! program's); the tests take turns. tests/e2e/test_spawn.py runs
//! examples/peers through a real agent.

mod common;

use std::io::{Read, Write};
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use common::{exit, frame, read_frame, result, take_turn, PEER, STDIN, STDOUT, WINDOW};
use microsandbox::{blocking, Error, PeerSnapshotInfo, Sandbox};
use serde_json::Value;

const EPERM: u32 = 1;
const ENOENT: u32 = 2;
const EBUSY: u32 = 16;
const EEXIST: u32 = 17;

/// What the stand-in saw. A request that takes input (an exec with
/// "stdin", a cp_in) has it read first to its end (the empty STDIN), into
/// inputs (None: the connection closed before it): credit is given back
/// only once the program has used all of MSB_PEER_STDIN_WINDOW, 1000
/// bytes then 64 KiB in turn, so a program that sends past its credit
/// shows in over. A cp_out's archive is archive, sent in frames of cut
/// bytes.
struct Seen {
    bodies: Vec<String>,
    inputs: Vec<Option<Vec<u8>>>,
    input_frames: Vec<usize>,
    over: Vec<usize>,
    served: usize,
    archive: Vec<u8>,
    cut: usize,
}

static SEEN: Mutex<Seen> = Mutex::new(Seen {
    bodies: Vec::new(),
    inputs: Vec::new(),
    input_frames: Vec::new(),
    over: Vec::new(),
    served: 0,
    archive: Vec::new(),
    cut: 7,
});
static SERVED: Condvar = Condvar::new();

fn take_input(c: &mut UnixStream) -> Option<Vec<u8>> {
    let (mut data, mut owed, mut grants) = (Vec::new(), 0usize, [1000u32, 65536]);
    loop {
        let Some((kind, p)) = read_frame(c) else {
            SEEN.lock().unwrap().inputs.push(None);
            return None;
        };
        assert_eq!(kind, STDIN, "a frame amid the input");
        let mut s = SEEN.lock().unwrap();
        s.input_frames.push(p.len());
        if p.is_empty() {
            s.inputs.push(Some(data.clone()));
            return Some(data);
        }
        data.extend_from_slice(&p);
        owed += p.len();
        if owed > 128 * 1024 {
            s.over.push(owed);
        }
        drop(s);
        if owed == 128 * 1024 {
            owed -= grants[0] as usize;
            c.write_all(&frame(WINDOW, &grants[0].to_be_bytes())).unwrap();
            grants.swap(0, 1);
        }
    }
}

fn md5ish(b: &[u8]) -> u64 {
    // FNV-1a: the stand-in's answer names what it was given
    b.iter().fold(0xcbf29ce484222325u64, |h, &c| (h ^ c as u64).wrapping_mul(0x100000001b3))
}

fn answer(req: &Value, got: &[u8]) -> Vec<u8> {
    let name = req["name"].as_str().unwrap_or("");
    let snap = req["snapshot"].as_str().unwrap_or("");
    match req["op"].as_str().unwrap() {
        "exec" => {
            let mut out = frame(STDOUT, format!("{} {:x}\n", got.len(), md5ish(got)).as_bytes());
            out.extend(exit(0));
            out
        }
        "snapshot" if name != "coder" => result(
            EPERM,
            &format!("'{name}' is not a peer of this sandbox: a sandbox acts only on the peers it started"),
        ),
        "snapshot" if snap == "taken" => result(EEXIST, "snapshot 'taken' exists"),
        "snapshot" => [frame(STDOUT, format!("{snap} (full)\n").as_bytes()), result(0, "")].concat(),
        "snapshot_ls" => {
            [frame(STDOUT, br#"[{"name":"s1","source":"coder","kind":"full","size_bytes":12345}]"#), result(0, "")]
                .concat()
        }
        "snapshot_rm" if snap == "base" => {
            result(EBUSY, "snapshot 'base' is the base of peers restored from it: remove them first (msb rm NAME)")
        }
        "restore" if name == "third" => result(EPERM, "this sandbox's tree already has 1 live peers"),
        "restore" => [frame(STDOUT, format!("{name}\n").as_bytes()), result(0, "")].concat(),
        "cp_out" if req["path"] == "/nope" => result(ENOENT, "/nope: No such file or directory"),
        "cp_out" => {
            let s = SEEN.lock().unwrap();
            let mut out: Vec<u8> = s.archive.chunks(s.cut).flat_map(|c| frame(STDOUT, c)).collect();
            out.extend(result(0, ""));
            out
        }
        "snapshot_rm" | "cp_in" => result(0, ""),
        _ => result(22, "unexpected"),
    }
}

fn serve(mut c: UnixStream) {
    let Some((kind, p)) = read_frame(&mut c) else { return };
    assert_eq!(kind, PEER);
    SEEN.lock().unwrap().bodies.push(String::from_utf8(p.clone()).unwrap());
    let req: Value = serde_json::from_slice(&p).unwrap();
    let mut got = Vec::new();
    let takes = req["stdin"] == true || req["op"] == "cp_in";
    if !takes || take_input(&mut c).map(|d| got = d).is_some() {
        let _ = c.write_all(&answer(&req, &got));
        // as the agent does, the connection stays open until the
        // program closes it
        while read_frame(&mut c).is_some() {}
    }
    SEEN.lock().unwrap().served += 1;
    SERVED.notify_all();
}

/// Takes this test's turn with the stand-in, its records cleared.
async fn turn() -> tokio::sync::MutexGuard<'static, ()> {
    let g = take_turn(serve).await;
    let mut s = SEEN.lock().unwrap();
    s.bodies.clear();
    s.inputs.clear();
    s.input_frames.clear();
    s.over.clear();
    s.served = 0;
    s.archive = end();
    s.cut = 7;
    g
}

fn wait_served(n: usize) {
    let s = SEEN.lock().unwrap();
    let (s, t) = SERVED.wait_timeout_while(s, Duration::from_secs(30), |s| s.served < n).unwrap();
    assert!(!t.timed_out(), "served {} of {n}", s.served);
}

fn bodies() -> Vec<String> {
    SEEN.lock().unwrap().bodies.clone()
}

/// One record of a copy's archive (MSB_PCP_*), written from the
/// protocol's table.
fn rec(kind: u8, mode: u32, name: &str, link: &str) -> Vec<u8> {
    let mut r = vec![kind];
    r.extend_from_slice(&mode.to_be_bytes());
    r.extend_from_slice(&(name.len() as u16).to_be_bytes());
    r.extend_from_slice(name.as_bytes());
    if kind == b'L' {
        r.extend_from_slice(&(link.len() as u16).to_be_bytes());
        r.extend_from_slice(link.as_bytes());
    }
    r
}

fn data(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for c in b.chunks(65536) {
        out.extend_from_slice(&(c.len() as u32).to_be_bytes());
        out.extend_from_slice(c);
    }
    out.extend_from_slice(&[0; 4]);
    out
}

fn end() -> Vec<u8> {
    rec(b'E', 0, "", "")
}

fn big() -> Vec<u8> {
    (0..=255u8).cycle().take(256 * 600).collect() // 153600 bytes: three chunks
}

/// t as the archive holds it: names sorted, a directory before what is
/// in it.
fn tree() -> Vec<u8> {
    [
        rec(b'D', 0o755, "t", ""),
        rec(b'F', 0o640, "a", ""),
        data(b"one\n"),
        rec(b'L', 0o777, "link", "a"),
        rec(b'D', 0o750, "sub", ""),
        rec(b'F', 0o644, "sub/big", ""),
        data(&big()),
        end(),
    ]
    .concat()
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("msb-rust-peerops-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn make_tree(root: &Path, fifo: bool) {
    let t = root.join("t");
    std::fs::create_dir_all(t.join("sub")).unwrap();
    std::fs::write(t.join("a"), b"one\n").unwrap();
    std::fs::write(t.join("sub/big"), big()).unwrap();
    for (p, m) in [("a", 0o640), ("sub/big", 0o644), ("sub", 0o750), ("", 0o755)] {
        std::fs::set_permissions(t.join(p), std::fs::Permissions::from_mode(m)).unwrap();
    }
    symlink("a", t.join("link")).unwrap();
    if fifo {
        let c = std::ffi::CString::new(t.join("fifo").to_str().unwrap()).unwrap();
        // SAFETY: c is NUL-terminated.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0); // not copied
    }
}

/// Each path below @root: its mode, a symlink's target, a file's bytes'
/// hash.
fn tree_of(root: &Path) -> Vec<String> {
    fn walk(root: &Path, rel: &Path, out: &mut Vec<String>) {
        let mut names: Vec<_> = std::fs::read_dir(root.join(rel)).unwrap().map(|e| e.unwrap().file_name()).collect();
        names.sort();
        for n in names {
            let r = rel.join(&n);
            let p = root.join(&r);
            let m = std::fs::symlink_metadata(&p).unwrap();
            let what = if m.file_type().is_symlink() {
                std::fs::read_link(&p).unwrap().display().to_string()
            } else if m.is_file() {
                format!("{:x}", md5ish(&std::fs::read(&p).unwrap()))
            } else {
                String::new()
            };
            out.push(format!("{} {:o} {what}", r.display(), m.mode()));
            if m.is_dir() {
                walk(root, &r, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, Path::new(""), &mut out);
    out
}

#[tokio::test]
async fn snapshot_requests_and_answers() {
    let _t = turn().await;
    let rt = Sandbox::current_runtime().await.unwrap();
    assert_eq!(rt.peer("coder").snapshot("s1").await.unwrap(), "s1");
    let snaps = rt.snapshots().await.unwrap();
    assert_eq!(snaps.len(), 1);
    let PeerSnapshotInfo { name, source, kind, size_bytes, .. } = &snaps[0];
    assert_eq!((name.as_str(), source.as_str(), kind.as_str(), *size_bytes), ("s1", "coder", "full", 12345));
    let p = rt.restore(&snaps[0].name, "coder2").await.unwrap();
    assert_eq!(p.name(), "coder2");
    rt.remove_snapshot("s1").await.unwrap();
    // the host's refusals, as the crate's errors with its message
    let e = rt.peer("other").snapshot("s2").await.unwrap_err();
    assert!(matches!(e, Error::PolicyRefused(_)) && e.to_string().contains("'other' is not a peer"), "{e:?}");
    let e = rt.peer("coder").snapshot("taken").await.unwrap_err();
    assert!(matches!(e, Error::AlreadyExists(_)) && e.to_string().contains("snapshot 'taken' exists"), "{e:?}");
    let e = rt.restore("s1", "third").await.unwrap_err();
    assert!(matches!(e, Error::PolicyRefused(_)) && e.to_string().contains("already has 1 live peers"), "{e:?}");
    let e = rt.remove_snapshot("base").await.unwrap_err();
    assert!(matches!(e, Error::Busy(_)) && e.to_string().contains("remove them first"), "{e:?}");
    assert_eq!(
        bodies()[..4],
        [
            r#"{"op":"snapshot","name":"coder","snapshot":"s1"}"#,
            r#"{"op":"snapshot_ls","json":true}"#,
            r#"{"op":"restore","snapshot":"s1","name":"coder2"}"#,
            r#"{"op":"snapshot_rm","snapshot":"s1"}"#,
        ]
    );
}

fn check_inputs(want: &[Vec<u8>]) {
    let s = SEEN.lock().unwrap();
    assert_eq!(s.inputs.len(), want.len());
    for (got, want) in s.inputs.iter().zip(want) {
        assert!(got.as_deref() == Some(&want[..]), "an input of {:?} bytes", got.as_ref().map(|g| g.len()));
    }
    // never past the credit, which it waited for (MSB_PEER_STDIN_WINDOW,
    // then 1000 bytes: a frame of that size)
    assert_eq!(s.over, Vec::<usize>::new());
    assert!(s.input_frames.contains(&1000), "{:?}", s.input_frames);
    assert!(s.input_frames.iter().all(|&n| n <= 65536));
}

/// Reads @b @n bytes at a time, as a pipe would give them.
struct Pieces(Vec<u8>, usize);

impl Read for Pieces {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = out.len().min(self.1).min(self.0.len());
        out[..n].copy_from_slice(&self.0[..n]);
        self.0.drain(..n);
        Ok(n)
    }
}

impl tokio::io::AsyncRead for Pieces {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let n = buf.remaining().min(this.1).min(this.0.len());
        buf.put_slice(&this.0[..n]);
        this.0.drain(..n);
        std::task::Poll::Ready(Ok(()))
    }
}

fn noise(n: usize) -> Vec<u8> {
    let mut x = 0x9e3779b97f4a7c15u64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[tokio::test]
async fn exec_sends_stdin_within_its_window() {
    let _t = turn().await;
    let bigin = noise(300000);
    let sum = format!("300000 {:x}\n", md5ish(&bigin));
    let p = Sandbox::current_runtime().await.unwrap().peer("coder");
    let r = p.command("cat").stdin_bytes(bigin.clone()).output().await.unwrap();
    assert_eq!(r.stdout_str(), sum);
    let r = p.command("wc").arg("-c").stdin_reader(Pieces(bigin.clone(), 70000)).output().await.unwrap();
    assert_eq!(r.stdout_str(), sum);
    let r = p.command("cat").stdin_bytes("hi\n").output().await.unwrap();
    assert_eq!(r.stdout_str(), format!("3 {:x}\n", md5ish(b"hi\n")));
    // an empty input: the command reads its end at once
    let r = p.command("cat").stdin_bytes("").output().await.unwrap();
    assert!(r.stdout_str().starts_with("0 "));
    assert_eq!(bodies()[0], r#"{"op":"exec","name":"coder","argv":["cat"],"stdin":true}"#);
    check_inputs(&[bigin.clone(), bigin, b"hi\n".to_vec(), Vec::new()]);
}

#[tokio::test]
async fn exec_with_a_terminal() {
    let _t = turn().await;
    let p = Sandbox::current_runtime().await.unwrap().peer("coder");
    p.command("sh").tty(0, 0).output().await.unwrap();
    p.command("sh").tty(33, 101).stdin_bytes("stty size\n").output().await.unwrap();
    for (rows, cols) in [(65536, 80), (24, 65536)] {
        let e = p.command("sh").tty(rows, cols).output().await.unwrap_err();
        assert!(matches!(e, Error::Invalid(_)) && e.to_string().contains("at most 65535 each"), "{e:?}");
    }
    // a bad size is refused here: nothing more went to the host
    assert_eq!(
        bodies(),
        [
            r#"{"op":"exec","name":"coder","argv":["sh"],"tty":true,"rows":24,"cols":80}"#,
            r#"{"op":"exec","name":"coder","argv":["sh"],"tty":true,"rows":33,"cols":101,"stdin":true}"#,
        ]
    );
}

#[tokio::test]
async fn the_blocking_api_sends_stdin_and_copies_too() {
    let _t = turn().await;
    let dir = tmp("blocking");
    make_tree(&dir, false);
    let out = dir.join("out");
    std::fs::create_dir(&out).unwrap();
    let bigin = noise(300000);
    let sum = format!("300000 {:x}\n", md5ish(&bigin));
    let (d, o) = (dir.clone(), out.clone());
    let got = tokio::task::spawn_blocking(move || {
        let rt: blocking::Runtime = blocking::Sandbox::current_runtime()?;
        let p = rt.peer("coder");
        let a = p.command("cat").stdin_bytes(bigin.clone()).output()?;
        let b = p.command("cat").stdin_reader(Pieces(bigin, 70000)).output()?;
        p.copy_in_as(d.join("t"), "/tmp/", "1000")?;
        SEEN.lock().unwrap().archive = tree();
        p.copy_out("/tmp/t", &o)?;
        let s = p.snapshot("s1")?;
        let l = rt.snapshots()?;
        let q = rt.restore(&s, "coder2")?;
        rt.remove_snapshot(&s)?;
        let e = p.copy_out("/nope", &o).unwrap_err();
        Ok::<_, Error>((a.stdout_str().into_owned(), b.stdout_str().into_owned(), l.len(), q.name().to_owned(), e))
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!((got.0.as_str(), got.1.as_str(), got.2, got.3.as_str()), (sum.as_str(), sum.as_str(), 1, "coder2"));
    assert!(matches!(got.4, Error::NotFound(_)), "{:?}", got.4);
    assert_eq!(tree_of(&out.join("t")), tree_of(&dir.join("t")));
    let s = SEEN.lock().unwrap();
    assert_eq!(s.inputs[2].as_deref(), Some(&tree()[..]));
    assert_eq!(s.over, Vec::<usize>::new());
    drop(s);
    assert_eq!(
        bodies()[2..5],
        [
            r#"{"op":"cp_in","name":"coder","path":"/tmp/","user":"1000"}"#,
            r#"{"op":"cp_out","name":"coder","path":"/tmp/t"}"#,
            r#"{"op":"snapshot","name":"coder","snapshot":"s1"}"#,
        ]
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// Gives "part", then fails.
struct Failing(bool);

impl Read for Failing {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if !self.0 {
            self.0 = true;
            out[..4].copy_from_slice(b"part");
            return Ok(4);
        }
        Err(std::io::Error::other("the input went"))
    }
}

impl tokio::io::AsyncRead for Failing {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let mut b = [0u8; 4];
        std::task::Poll::Ready(this.read(&mut b).map(|n| buf.put_slice(&b[..n])))
    }
}

#[tokio::test]
async fn an_input_that_fails_ends_the_request() {
    let _t = turn().await;
    let p = Sandbox::current_runtime().await.unwrap().peer("coder");
    let e = p.command("cat").stdin_reader(Failing(false)).output().await.unwrap_err();
    assert!(matches!(&e, Error::HostIo(x) if x.to_string() == "the input went"), "{e:?}");
    let e = tokio::task::spawn_blocking(|| {
        blocking::Sandbox::current_runtime().unwrap().peer("coder").command("cat").stdin_reader(Failing(false)).output()
    })
    .await
    .unwrap()
    .unwrap_err();
    assert!(matches!(&e, Error::HostIo(x) if x.to_string() == "the input went"), "{e:?}");
    // the connections closed without the input's end: the host cancels
    tokio::task::spawn_blocking(|| wait_served(2)).await.unwrap();
    assert_eq!(SEEN.lock().unwrap().inputs, vec![None, None]);
}

#[tokio::test]
async fn copy_in_sends_the_archive() {
    let _t = turn().await;
    let dir = tmp("copy-in");
    make_tree(&dir, true);
    let p = Sandbox::current_runtime().await.unwrap().peer("coder");
    p.copy_in_as(dir.join("t"), "/tmp/", "1000").await.unwrap();
    p.copy_in(dir.join("t/a"), "/tmp/x").await.unwrap();
    p.copy_in(format!("{}/t/.", dir.display()), "/tmp/y").await.unwrap();
    let e = p.copy_in(dir.join("nope"), "/tmp/").await.unwrap_err();
    assert!(
        matches!(e, Error::NotFound(_)) && e.to_string().contains(&format!("cannot copy {}/nope", dir.display())),
        "{e}"
    );
    assert_eq!(
        bodies(),
        [
            r#"{"op":"cp_in","name":"coder","path":"/tmp/","user":"1000"}"#,
            r#"{"op":"cp_in","name":"coder","path":"/tmp/x"}"#,
            r#"{"op":"cp_in","name":"coder","path":"/tmp/y","contents":true}"#,
        ]
    );
    let s = SEEN.lock().unwrap();
    assert_eq!(s.inputs[0].as_deref(), Some(&tree()[..]));
    assert_eq!(s.inputs[1].as_deref(), Some(&[rec(b'F', 0o640, "a", ""), data(b"one\n"), end()].concat()[..]));
    assert_eq!(s.inputs[2].as_deref(), Some(&[rec(b'D', 0o755, ".", ""), tree()[8..].to_vec()].concat()[..]));
    assert_eq!(s.over, Vec::<usize>::new());
    drop(s);
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn copy_out_unpacks_the_archive() {
    let _t = turn().await;
    let dir = tmp("copy-out");
    make_tree(&dir.join("src"), false);
    let here = dir.join("here");
    std::fs::create_dir(&here).unwrap();
    {
        let mut s = SEEN.lock().unwrap();
        s.archive = tree();
        s.cut = 4099;
    }
    let p = Sandbox::current_runtime().await.unwrap().peer("coder");
    // into a directory that exists: t below it, as docker cp
    p.copy_out("/tmp/t", &here).await.unwrap();
    // to a name that does not exist: the directory as that name
    p.copy_out("/tmp/t", dir.join("fresh")).await.unwrap();
    // one file, in records cut at every byte
    {
        let mut s = SEEN.lock().unwrap();
        s.archive = [rec(b'F', 0o600, "a", ""), data(b"one\n"), end()].concat();
        s.cut = 1;
    }
    p.copy_out_as("/tmp/t/a", &here, "1000").await.unwrap();
    let e = p.copy_out("/nope", &here).await.unwrap_err();
    assert!(matches!(e, Error::NotFound(_)) && e.to_string().contains("/nope: No such file"), "{e}");
    let src = tree_of(&dir.join("src/t"));
    assert_eq!(tree_of(&here.join("t")), src);
    assert_eq!(tree_of(&dir.join("fresh")), src);
    assert_eq!(std::fs::read(here.join("a")).unwrap(), b"one\n");
    assert_eq!(std::fs::metadata(here.join("a")).unwrap().mode(), 0o100600);
    assert_eq!(
        bodies()[..3],
        [
            r#"{"op":"cp_out","name":"coder","path":"/tmp/t"}"#,
            r#"{"op":"cp_out","name":"coder","path":"/tmp/t"}"#,
            r#"{"op":"cp_out","name":"coder","path":"/tmp/t/a","user":"1000"}"#,
        ]
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn copy_out_refuses_what_would_leave_the_destination() {
    let _t = turn().await;
    let x = || data(b"x");
    let d = || rec(b'D', 0o755, "t", "");
    type Case = (&'static str, Vec<u8>, fn(&Error) -> bool, &'static str);
    let cases: Vec<Case> = vec![
        (
            "dotdot",
            [d(), rec(b'F', 0o644, "../evil", ""), x(), end()].concat(),
            |e| matches!(e, Error::Invalid(_)),
            "\"../evil\" is not a name below",
        ),
        (
            "absolute",
            [d(), rec(b'F', 0o644, "/abs", ""), x(), end()].concat(),
            |e| matches!(e, Error::Invalid(_)),
            "\"/abs\" is not a name below",
        ),
        // a symlink in the copy is not followed to reach what is below it
        (
            "through-a-symlink",
            [d(), rec(b'L', 0o777, "up", ".."), rec(b'F', 0o644, "up/evil", ""), x(), end()].concat(),
            |e| e.failure().is_some_and(|f| f.code == -libc::ENOTDIR),
            "cannot reach the directory of",
        ),
        (
            "truncated",
            [d(), rec(b'F', 0o644, "a", ""), x()].concat(),
            |e| matches!(e, Error::Protocol(_)),
            "the copy ended before its end",
        ),
        (
            "bad-type",
            [b"Z".to_vec(), vec![0; 6], end()].concat(),
            |e| matches!(e, Error::Protocol(_)),
            "not an archive",
        ),
        (
            "a-file-then-more",
            [rec(b'F', 0o644, "f", ""), x(), rec(b'F', 0o644, "g", ""), data(b"y"), end()].concat(),
            |e| matches!(e, Error::Protocol(_)),
            "more after a file",
        ),
    ];
    let p = Sandbox::current_runtime().await.unwrap().peer("coder");
    for (name, archive, is, why) in cases {
        let dir = tmp(name);
        let here = dir.join("here");
        std::fs::create_dir(&here).unwrap();
        SEEN.lock().unwrap().archive = archive;
        let e = p.copy_out("/tmp/t", &here).await.unwrap_err();
        assert!(is(&e) && e.to_string().contains(why), "{name}: {e:?}, want {why:?}");
        for q in [dir.join("evil"), here.join("evil"), PathBuf::from("/abs"), here.join("g")] {
            assert!(std::fs::symlink_metadata(&q).is_err(), "{name}: {} was made", q.display());
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
