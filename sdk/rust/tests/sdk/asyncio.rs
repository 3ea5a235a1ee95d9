// SPDX-License-Identifier: Apache-2.0
//! The async API on tokio: commands and files on the shared sandbox, 50
//! commands at once on one thread, cancellation.

use std::time::{Duration, Instant};

use microsandbox::{CopyOptions, Error, ExecEvent, FileOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{contains, shared_async, unique, Events};

#[tokio::test]
async fn async_exec() {
    let sb = shared_async().await;
    let r = sb.exec(r#"sh -c "echo out; echo err >&2; exit 3""#).await.unwrap();
    assert_eq!((r.stdout_str().as_ref(), r.stderr_str().as_ref(), r.exit_code), ("out\n", "err\n", 3));
    assert_eq!(sb.exec_args(["printf", "[%s]", "x y", ""]).await.unwrap().stdout_str(), "[x y][]");
    assert_eq!(sb.shell("echo $((6*7))").await.unwrap().stdout_str(), "42\n");
    let r = sb.command("cat").stdin_bytes(vec![7u8; 1 << 20]).output().await.unwrap();
    assert_eq!(r.stdout, vec![7u8; 1 << 20]);
    let r = sb.command("pwd").current_dir("/tmp").user("1000").output().await.unwrap();
    assert_eq!(r.stdout_str(), "/tmp\n");
    match sb.command("false").check().output().await {
        Err(Error::Exit(e)) => assert_eq!(e.result.exit_code, 1),
        other => panic!("check: {other:?}"),
    }
    let e = sb.command("true").user("nosuchuser").output().await.unwrap_err();
    assert!(matches!(e, Error::ExecFailed(_)), "{e:?}");
    let r = sb.command_line("sleep 30").timeout(Duration::from_millis(400)).output().await.unwrap();
    assert!(r.timed_out && r.exit_code == 137, "{r:?}");
}

fn threads() -> usize {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines().find_map(|l| l.strip_prefix("Threads:")).unwrap().trim().parse().unwrap()
}

/// 50 commands at once on one sandbox from one thread (a current-thread
/// runtime): each waits on its socket in the reactor, none on a thread
/// of its own, and each gets its own output.
#[tokio::test(flavor = "current_thread")]
async fn fifty_execs_on_one_thread() {
    let sb = shared_async().await;
    let before = threads();
    let most = std::sync::atomic::AtomicUsize::new(before);
    let runs = futures::future::join_all((0..50).map(|i| {
        let sb = &sb;
        let most = &most;
        async move {
            let script = format!("i=0; while [ $i -lt 200 ]; do echo {i}-$i; i=$((i+1)); done; exit {}", i % 7);
            let r = sb.shell(&script).await.unwrap();
            most.fetch_max(threads(), std::sync::atomic::Ordering::SeqCst);
            let want: String = (0..200).map(|j| format!("{i}-{j}\n")).collect();
            assert_eq!(r.stdout_str(), want, "exec {i}");
            assert_eq!(r.exit_code, i % 7);
        }
    }));
    runs.await;
    let most = most.into_inner();
    // Other tests of this binary run on threads of their own meanwhile.
    assert!(most < before + 20, "threads grew from {before} to {most} for 50 commands");
}

/// Stdin written by another task while this one reads the echo, more than
/// every buffer on the way holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_stream_echoes_large_input() {
    let sb = shared_async().await;
    let mut p = sb.command("cat").stdin_piped().spawn().await.unwrap();
    let data: Vec<u8> = (0..4usize << 20).map(|i| (i * 7 + (i >> 11)) as u8).collect();
    let mut stdin = p.stdin();
    let feed = data.clone();
    let writer = tokio::spawn(async move {
        stdin.write_all(&feed).await.unwrap();
        stdin.shutdown().await.unwrap();
    });
    let mut got = Vec::new();
    p.stdout().read_to_end(&mut got).await.unwrap();
    writer.await.unwrap();
    assert!(got == data, "the echoed bytes differ ({} of {})", got.len(), data.len());
    assert_eq!(p.wait().await.unwrap().exit_code, 0);
}

#[tokio::test]
async fn async_process_events_signals_resize() {
    let sb = shared_async().await;
    let mut p = sb.command_line("sh -c 'echo one; echo two >&2; exit 4'").spawn().await.unwrap();
    let (mut out, mut err, mut end) = (Vec::new(), Vec::new(), None);
    while let Some(ev) = p.next_event().await.unwrap() {
        match ev {
            ExecEvent::Stdout(d) => out.extend(d),
            ExecEvent::Stderr(d) => err.extend(d),
            ExecEvent::Exit(r) => end = Some(r.exit_code),
            _ => {}
        }
    }
    assert_eq!((out.as_slice(), err.as_slice(), end), (&b"one\n"[..], &b"two\n"[..], Some(4)));

    let mut p = sb
        .command("sh")
        .args(["-c", "trap 'stty size' WINCH; trap 'echo bye; exit 9' TERM; echo ready; while :; do sleep 0.1; done"])
        .tty(24, 80)
        .spawn()
        .await
        .unwrap();
    assert!(p.pid() > 0);
    read_until(&mut p, "ready").await;
    p.resize(50, 132).unwrap();
    read_until(&mut p, "50 132").await;
    p.signal(libc::SIGTERM).unwrap();
    read_until(&mut p, "bye").await;
    assert_eq!(p.wait().await.unwrap().exit_code, 9);
}

async fn read_until(p: &mut microsandbox::Process, want: &str) {
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&got).contains(want) {
        let n = p.stdout().read(&mut buf).await.unwrap();
        assert!(n > 0, "end of output before {want:?}: {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
}

/// Dropping an exec's future (a tokio timeout here) kills the command in
/// the guest: its process is gone, not left running.
#[tokio::test]
async fn dropped_exec_kills_the_guest_process() {
    let sb = shared_async().await;
    let r = tokio::time::timeout(Duration::from_millis(1500), sb.exec("sleep 4242")).await;
    assert!(r.is_err(), "sleep 4242 ended: {r:?}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ps = sb.shell("ps -o args | grep '[s]leep 4242' || true").await.unwrap();
        if ps.stdout_str().trim().is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "sleep 4242 still runs: {:?}", ps.stdout_str());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn async_files() {
    let sb = shared_async().await;
    let f = sb.fs();
    let dir = format!("/tmp/{}", unique("afiles"));
    f.mkdir_all(&format!("{dir}/sub")).await.unwrap();
    f.write_with(&format!("{dir}/sub/a.txt"), "hello\n", FileOptions::new().mode(0o600)).await.unwrap();
    assert_eq!(f.read_to_string(&format!("{dir}/sub/a.txt")).await.unwrap(), "hello\n");
    let st = f.stat(&format!("{dir}/sub/a.txt")).await.unwrap();
    assert!(st.size == 6 && st.mode == 0o600 && st.name == "a.txt", "{st:?}");
    // Streams: 8 MiB through AsyncWrite in odd-sized writes, back through
    // AsyncRead.
    let data: Vec<u8> = (0..8usize << 20).map(|i| (i ^ i >> 9) as u8).collect();
    let mut w = f.create(&format!("{dir}/big")).unwrap();
    for piece in data.chunks(10_007) {
        w.write_all(piece).await.unwrap();
    }
    assert_eq!(w.finish().await.unwrap(), data.len() as u64);
    let mut back = Vec::new();
    let mut r = f.open(&format!("{dir}/big")).unwrap();
    r.read_to_end(&mut back).await.unwrap();
    assert_eq!(r.size(), Some(data.len() as u64));
    assert!(back == data, "the bytes read back differ");
    let sum = sb.exec(&format!("md5sum {dir}/big")).await.unwrap();
    let mut sink = tokio::io::sink();
    assert_eq!(f.read_to(&format!("{dir}/big"), &mut sink).await.unwrap(), data.len() as u64);
    assert_eq!(sum.exit_code, 0);
    // A copy out, with its progress: the file's bytes, never going back,
    // to its last; as a user who may not write there, a copy in fails.
    let host = std::env::temp_dir().join(unique("rust-acopy"));
    let copied = Events::new();
    let o = CopyOptions::new().progress(copied.add());
    f.copy_out_with(&format!("{dir}/big"), host.to_str().unwrap(), o).await.unwrap();
    let evs = copied.take();
    assert!(
        evs.len() > 1
            && evs.iter().all(|e| e.path == format!("{dir}/big") && e.total == data.len() as u64)
            && evs.windows(2).all(|w| w[1].done >= w[0].done)
            && evs.last().unwrap().done == data.len() as u64,
        "{:?} ... {:?}",
        evs.first(),
        evs.last()
    );
    assert_eq!(std::fs::metadata(&host).unwrap().len(), data.len() as u64);
    let e = f.copy_in_with(host.to_str().unwrap(), "/etc/big", CopyOptions::new().user("user")).await.unwrap_err();
    assert!(matches!(e, Error::PermissionDenied(_)), "{e:?}");
    std::fs::remove_file(&host).unwrap();
    let names: Vec<String> =
        f.list_with(&dir, FileOptions::new().recursive()).await.unwrap().into_iter().map(|e| e.name).collect();
    assert_eq!(names, ["big", "sub", "sub/a.txt"]);
    f.rename(&format!("{dir}/big"), &format!("{dir}/big2")).await.unwrap();
    assert!(f.exists(&format!("{dir}/big2")).await.unwrap());
    let e = f.read(&format!("{dir}/nope")).await.unwrap_err();
    assert!(matches!(e, Error::NotFound(_)), "{e:?}");
    contains("message", &e.to_string(), "nope");
    let e = f.write_with("/etc/x", "x", FileOptions::new().user("user")).await.unwrap_err();
    assert!(matches!(e, Error::PermissionDenied(_)), "{e:?}");
    f.remove_all(&dir).await.unwrap();
    assert!(!f.exists(&dir).await.unwrap());
}

#[tokio::test]
async fn async_lifecycle_and_errors() {
    crate::common::init();
    let e = microsandbox::Sandbox::get("no-such-sandbox").await.err().unwrap();
    assert!(matches!(e, Error::NotFound(_)), "{e:?}");
    let e = microsandbox::Sandbox::builder("bad/name").create().await.err().unwrap();
    assert!(matches!(e, Error::Invalid(_)), "{e:?}");
    let name = unique("alife");
    // A named volume it mounts names it in its record.
    let vol = unique("avol");
    let sb = microsandbox::Sandbox::builder(&name)
        .volume("/vol", |v| v.backend(microsandbox::NamedVolume::new(&vol)))
        .create()
        .await
        .unwrap();
    assert_eq!(sb.info().await.unwrap().status, "running");
    let rec: serde_json::Value = serde_json::from_str(&microsandbox::volumes::inspect(&vol).await.unwrap()).unwrap();
    assert_eq!((&rec["used_by"], &rec["running"]), (&serde_json::json!([&name]), &serde_json::json!(1)), "{rec}");
    let st = sb.stats().await.unwrap();
    assert!(st.running && st.memory_rss_bytes > 0, "{st:?}");
    sb.kill().await.unwrap();
    assert!(matches!(sb.exec("true").await, Err(Error::NotRunning(_))));
    sb.start().await.unwrap();
    assert_eq!(sb.exec("echo again").await.unwrap().stdout_str(), "again\n");
    sb.close().await.unwrap();
    assert!(matches!(microsandbox::Sandbox::get(&name).await, Err(Error::NotFound(_))));
    assert!(matches!(sb.exec("true").await, Err(Error::Closed(_))));
    microsandbox::volumes::remove(&vol, false).await.unwrap();
    let e = microsandbox::volumes::inspect(&vol).await.unwrap_err();
    assert!(matches!(e, Error::NotFound(_)), "{e:?}");
}

/// exec's `paused_on_a_full_disk` through the async API, run in a process
/// of its own by `exec::paused_while_the_host_disk_is_full`.
#[tokio::test]
#[ignore = "run by exec::paused_while_the_host_disk_is_full with $MSB_HOME on a small tmpfs"]
async fn async_paused_on_a_full_disk() {
    crate::common::init();
    let name = unique("rsapause");
    let sb = microsandbox::Sandbox::builder(&name).create().await.unwrap();
    let _watchdog = crate::exec::Watchdog::new(&name);
    let mut p = sb.command("sh").args(["-c", crate::common::FULL_DISK_CMD]).stdin_piped().spawn().await.unwrap();
    assert_eq!(p.next_event().await.unwrap(), Some(ExecEvent::Stdout(b"ready\n".to_vec())));
    assert_eq!(p.paused(), None);
    let fill = crate::common::fill_host_disk();
    let mut stdin = p.stdin();
    // The guest writes: QEMU pauses it.
    stdin.write_all(b"go\n").await.unwrap();
    let mut out = Vec::new();
    let why = loop {
        match p.next_event().await.unwrap() {
            Some(ExecEvent::Paused(why)) => break why,
            Some(ExecEvent::Stdout(d)) => out.extend(d),
            other => panic!("before the pause: {other:?}"),
        }
    };
    let _ = std::fs::remove_file(&fill);
    contains("paused", &why, &format!("sandbox {name} is paused: the host disk under "));
    assert_eq!(p.paused().as_deref(), Some(why.as_str()));
    let said = loop {
        match p.next_event().await.unwrap() {
            Some(ExecEvent::Resumed(said)) => break said,
            Some(ExecEvent::Stdout(d)) => out.extend(d),
            other => panic!("before the resume: {other:?}"),
        }
    };
    contains("resumed", &said, &format!("sandbox {name} runs again: the host disk has room"));
    assert_eq!(p.paused(), None);
    stdin.write_all(b"end\n").await.unwrap();
    let end = loop {
        match p.next_event().await.unwrap() {
            Some(ExecEvent::Stdout(d)) => out.extend(d),
            Some(ExecEvent::Exit(r)) => break r,
            other => panic!("before the end: {other:?}"),
        }
    };
    assert_eq!((end.exit_code, String::from_utf8_lossy(&out).as_ref()), (0, "wrote\n"));
    sb.remove().await.unwrap();
}
