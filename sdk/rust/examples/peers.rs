// SPDX-License-Identifier: Apache-2.0
//! Runs inside a sandbox the host lets spawn (`msb run --allow-spawn 1`):
//! starts a peer beside it, air-gapped, runs commands in it (one fed 3 MB
//! on its stdin, once through the blocking API), shows that the host
//! refuses a second, copies a tree into it and back, snapshots it and
//! restores the snapshot as a new peer, and removes them (docs/spawn.md).
//! The runtime calls nothing of libmsb, so this program needs none in the
//! guest, only the C library it was built against.
//!
//! ```text
//! cargo build --example peers
//! msb run -d --name orch --allow-spawn 1
//! msb cp target/debug/examples/peers orch:/tmp/peers
//! msb exec orch -- /tmp/peers coder
//! ```
//!
//! Each step prints one JSON line, as the Go, Python and TypeScript
//! examples do; tests/e2e/test_spawn.py runs it so.

use std::io::Read;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use microsandbox::{blocking, Error, Sandbox};
use serde_json::{json, Value};

fn say(step: &str, mut fields: Value) {
    fields["step"] = step.into();
    println!("{fields}");
}

/// An MD5 of @b, as md5sum prints it (RFC 1321).
fn md5(b: &[u8]) -> String {
    const S: [u32; 64] = [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14,
        20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6,
        10, 15, 21,
    ];
    let k: Vec<u32> = (0..64).map(|i| ((i as f64 + 1.0).sin().abs() * 4294967296.0) as u32).collect();
    let mut h = [0x67452301u32, 0xefcdab89, 0x98badcfe, 0x10325476];
    let mut m = b.to_vec();
    m.push(0x80);
    while m.len() % 64 != 56 {
        m.push(0);
    }
    m.extend_from_slice(&((b.len() as u64).wrapping_mul(8)).to_le_bytes());
    for c in m.chunks(64) {
        let w: Vec<u32> = c.chunks(4).map(|x| u32::from_le_bytes([x[0], x[1], x[2], x[3]])).collect();
        let [mut a, mut bb, mut cc, mut d] = h;
        for i in 0..64 {
            let (f, g) = match i / 16 {
                0 => ((bb & cc) | (!bb & d), i),
                1 => ((d & bb) | (!d & cc), (5 * i + 1) % 16),
                2 => (bb ^ cc ^ d, (3 * i + 5) % 16),
                _ => (cc ^ (bb | !d), (7 * i) % 16),
            };
            let t = d;
            d = cc;
            cc = bb;
            bb = bb.wrapping_add(a.wrapping_add(f).wrapping_add(k[i]).wrapping_add(w[g]).rotate_left(S[i]));
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, bb, cc, d]) {
            *x = x.wrapping_add(y);
        }
    }
    h.iter().flat_map(|x| x.to_le_bytes()).map(|x| format!("{x:02x}")).collect()
}

fn noise(n: usize) -> Vec<u8> {
    let mut f = std::fs::File::open("/dev/urandom").expect("/dev/urandom");
    let mut b = vec![0u8; n];
    f.read_exact(&mut b).expect("/dev/urandom");
    b
}

/// Each path below @root: its type and permission bits (octal), a
/// symlink's target, a file's MD5.
fn tree(root: &Path) -> Vec<String> {
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
                md5(&std::fs::read(&p).unwrap())
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

fn first_word(b: &[u8]) -> String {
    String::from_utf8_lossy(b).split_whitespace().next().unwrap_or("").to_owned()
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> microsandbox::Result<()> {
    let name = std::env::args().nth(1).unwrap_or_else(|| "coder".into());
    let rt = Sandbox::current_runtime().await?;
    let peer = rt.start(&name).network(|n| n.deny_all()).env("GREETING", "hello").create().await?;
    say("start", json!({"name": peer.name()}));

    let r = peer.shell("echo \"$GREETING from $(hostname)\"; echo to-stderr >&2; exit 3").await?;
    say("exec", json!({"code": r.exit_code, "stdout": r.stdout_str(), "stderr": r.stderr_str()}));

    // taken slowly at first, as a busy reader would: the host waits for
    // its credit meanwhile, nothing is lost
    let n = Arc::new(Mutex::new(0usize));
    let m = n.clone();
    let r = peer
        .command("head")
        .args(["-c", "3000000", "/dev/zero"])
        .on_stdout(move |b| {
            let mut n = m.lock().unwrap();
            if *n == 0 {
                std::thread::sleep(Duration::from_secs(2));
            }
            *n += b.len();
        })
        .output()
        .await?;
    say("big", json!({"bytes": *n.lock().unwrap(), "code": r.exit_code}));

    let peers: Vec<Value> = rt.list().await?.into_iter().map(|p| json!({"name": p.name, "status": p.status})).collect();
    say("list", json!({"peers": peers}));

    match rt.start(format!("{name}-2")).create().await {
        Err(Error::PolicyRefused(f)) => say("refused", json!({"message": f.message})),
        Err(e) => return Err(e),
        Ok(extra) => {
            extra.remove().await?;
            panic!("a second peer was allowed");
        }
    }
    say("logs", json!({"booting": peer.logs().await?.contains(&format!("booting {name}"))}));

    // stdin: more than the window the host gives at once, given back as
    // the peer takes it; the peer reads it only after a while. The second
    // goes through the blocking API, from a reader.
    let data = noise(3_000_000);
    let r1 = peer.command("sh").args(["-c", "sleep 2; md5sum"]).stdin_bytes(data.clone()).output().await?;
    let (d, pn) = (data.clone(), name.clone());
    let r2 = tokio::task::spawn_blocking(move || {
        let rt = blocking::Sandbox::current_runtime()?;
        rt.peer(pn).command("md5sum").stdin_reader(std::io::Cursor::new(d)).output()
    })
    .await
    .expect("the blocking API's thread")?;
    let r3 = peer.command("cat").stdin_bytes("hi\n").output().await?;
    let r4 = peer.command("wc").arg("-c").stdin_bytes("").output().await?;
    say(
        "stdin",
        json!({"want": md5(&data), "sums": [first_word(&r1.stdout), first_word(&r2.stdout)],
            "cat": r3.stdout_str(), "empty": r4.stdout_str().trim()}),
    );

    // a terminal of the size asked for: the command's output is the
    // terminal's, lines ending in "\r\n"
    let r = peer.command("sh").args(["-c", "tty; stty size"]).tty(33, 101).output().await?;
    say("tty", json!({"code": r.exit_code, "stdout": r.stdout_str()}));

    // cp: a tree in, as the peer sees it, and back out
    let src = Path::new("/tmp/cp-src/t");
    let back = Path::new("/tmp/cp-back");
    let _ = std::fs::remove_dir_all("/tmp/cp-src");
    let _ = std::fs::remove_dir_all(back);
    let blob = noise(1_500_000);
    let made = (|| {
        std::fs::create_dir_all(src.join("sub"))?;
        std::fs::write(src.join("a"), "one\n")?;
        std::fs::write(src.join("sub/big"), &blob)?;
        std::fs::set_permissions(src.join("a"), std::fs::Permissions::from_mode(0o640))?;
        std::fs::set_permissions(src.join("sub"), std::fs::Permissions::from_mode(0o750))?;
        symlink("a", src.join("link"))
    })();
    made?;
    peer.copy_in(src, "/tmp/").await?;
    let there = peer.shell("cd /tmp/t && md5sum a sub/big && readlink link && stat -c '%a %n' a sub").await?;
    peer.copy_out("/tmp/t", back).await?;
    let here = format!("{}  a\n{}  sub/big\na\n640 a\n750 sub\n", md5(b"one\n"), md5(&blob));
    let got = tree(back);
    let shown: Vec<&String> = got.iter().filter(|l| !l.starts_with("sub/big")).collect();
    say("cp", json!({"peer_sees_it": there.stdout_str() == here, "back_same": tree(src) == got, "back": shown}));

    // snapshot, and a new peer from it (the first stopped: one live peer)
    peer.shell("echo kept > /tmp/mark").await?;
    let snap = peer.snapshot(&format!("{name}-snap")).await?;
    let listed: Vec<Value> = rt.snapshots().await?.into_iter().map(|s| json!([s.name, s.source, s.kind])).collect();
    peer.stop().await?;
    let again = rt.restore(&snap, format!("{name}-r")).await?;
    let r = again.shell("hostname; cat /tmp/mark").await?;
    let refused = match rt.restore(&snap, format!("{name}-x")).await {
        Err(Error::PolicyRefused(f)) => f.message,
        Err(e) => return Err(e),
        Ok(_) => "a second restore was allowed".into(),
    };
    let busy = match rt.remove_snapshot(&snap).await {
        Err(Error::Busy(f)) => f.message,
        Err(e) => return Err(e),
        Ok(()) => "the snapshot of a live peer was removed".into(),
    };
    again.remove().await?;
    rt.remove_snapshot(&snap).await?;
    let left: Vec<String> = rt.snapshots().await?.into_iter().map(|s| s.name).collect();
    say(
        "snapshot",
        json!({"name": snap, "listed": listed, "restored": r.stdout_str(), "refused": refused,
            "busy": busy, "left": left}),
    );

    peer.remove().await?;
    let peers: Vec<String> = rt.list().await?.into_iter().map(|p| p.name).collect();
    say("removed", json!({"peers": peers}));
    Ok(())
}
