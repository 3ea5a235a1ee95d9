// SPDX-License-Identifier: Apache-2.0
//! Commands through the blocking API, on the shared sandbox.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use microsandbox::{Error, ExecEvent};

use crate::common::{contains, shared};

#[test]
fn exec_captures_output_and_exit_code() {
    let sb = shared();
    let r = sb.exec(r#"sh -c "echo out; echo err >&2; exit 3""#).unwrap();
    assert_eq!((r.stdout_str().as_ref(), r.stderr_str().as_ref(), r.exit_code), ("out\n", "err\n", 3));
    assert!(!r.success());
    // Non-zero is data, unless check is asked for.
    match sb.command("false").check().output() {
        Err(Error::Exit(e)) => assert_eq!(e.result.exit_code, 1),
        other => panic!("check: {other:?}"),
    }
    sb.command("true").check().output().unwrap();
    // A command that is not found exits 127, as in a shell.
    assert_eq!(sb.exec("no-such-command-here").unwrap().exit_code, 127);
}

#[test]
fn exec_words_and_shell() {
    let sb = shared();
    // Split as a shell splits words; nothing is expanded.
    let r = sb.exec(r#"printf "[%s]" 'a b' c\ d "$HOME" '*'"#).unwrap();
    assert_eq!(r.stdout_str(), "[a b][c d][$HOME][*]");
    let r = sb.exec_args(["printf", "[%s]", "x y", "", "$z"]).unwrap();
    assert_eq!(r.stdout_str(), "[x y][][$z]");
    let r = sb.shell("echo $((6*7)) | tr 4 X; echo $0").unwrap();
    assert_eq!(r.stdout_str(), "X2\nsh\n");
}

#[test]
fn exec_options() {
    let sb = shared();
    let r = sb
        .command("sh")
        .args(["-c", r#"echo "$A $B"; pwd; id -u"#])
        .env("A", "1")
        .env("B", "x=y")
        .current_dir("/tmp")
        .user("1000")
        .output()
        .unwrap();
    assert_eq!(r.stdout_str(), "1 x=y\n/tmp\n1000\n");
    let r = sb.command("cat").stdin_bytes("fed in\n").output().unwrap();
    assert_eq!(r.stdout_str(), "fed in\n");
    // Callbacks get the output as it comes, instead of the result.
    let got = std::sync::Arc::new(std::sync::Mutex::new((Vec::new(), Vec::new())));
    let (g1, g2) = (got.clone(), got.clone());
    let r = sb
        .command_line("sh -c 'echo a; echo b >&2'")
        .on_stdout(move |c| g1.lock().unwrap().0.extend_from_slice(c))
        .on_stderr(move |c| g2.lock().unwrap().1.extend_from_slice(c))
        .output()
        .unwrap();
    assert!(r.stdout.is_empty() && r.stderr.is_empty());
    assert_eq!(*got.lock().unwrap(), (b"a\n".to_vec(), b"b\n".to_vec()));
    // A terminal: one stream, and isatty in the guest.
    let r = sb.command("sh").args(["-c", "test -t 1 && echo tty; stty size"]).tty(33, 101).output().unwrap();
    contains("tty output", &r.stdout_str(), "tty");
    contains("tty output", &r.stdout_str(), "33 101");
}

#[test]
fn exec_timeout_kills_the_guest_process() {
    let sb = shared();
    let start = Instant::now();
    let r = sb.command_line("sleep 30").timeout(Duration::from_millis(500)).output().unwrap();
    assert!(r.timed_out && r.exit_code == 137 && r.signal == 9, "{r:?}");
    assert!(start.elapsed() < Duration::from_secs(20));
    let e = sb.command_line("sleep 30").timeout(Duration::from_millis(300)).check().output().unwrap_err();
    assert!(e.is_timeout() && matches!(e, Error::Exit(_)), "{e:?}");
}

/// Stdin written while output is read, more than every buffer on the way
/// holds: a process that echoes its input must not deadlock with us.
#[test]
fn stream_echoes_large_input() {
    let sb = shared();
    let mut p = sb.command("cat").stdin_piped().spawn().unwrap();
    let data: Vec<u8> = (0..4usize << 20).map(|i| (i * 7 + (i >> 11)) as u8).collect();
    let mut stdin = p.stdin();
    let feed = data.clone();
    let writer = std::thread::spawn(move || {
        stdin.write_all(&feed).unwrap();
        stdin.close().unwrap();
    });
    let mut got = Vec::new();
    p.stdout().read_to_end(&mut got).unwrap();
    writer.join().unwrap();
    assert_eq!(got.len(), data.len());
    assert!(got == data, "the echoed bytes differ");
    assert_eq!(p.wait().unwrap().exit_code, 0);
}

/// stdin_bytes larger than the socket's buffers, fed while the output is
/// read, in one thread.
#[test]
fn output_with_large_stdin() {
    let sb = shared();
    let data = vec![b'x'; 3 << 20];
    let r = sb.command("wc").arg("-c").stdin_bytes(data).output().unwrap();
    assert_eq!(r.stdout_str().trim(), (3 << 20).to_string());
}

#[test]
fn stream_signals_events_and_close() {
    let sb = shared();
    let mut p = sb
        .command("sh")
        .args(["-c", "trap 'echo got TERM; exit 7' TERM; echo ready; while :; do sleep 0.1; done"])
        .spawn()
        .unwrap();
    assert!(p.pid() > 0);
    let mut buf = [0u8; 6];
    p.stdout().read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ready\n");
    p.signal(libc::SIGTERM).unwrap();
    let mut rest = String::new();
    p.stdout().read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "got TERM\n");
    let stdin = p.stdin();
    let r = p.wait().unwrap();
    assert_eq!(r.exit_code, 7);
    // Calls on a command that has ended say so.
    assert!(matches!(stdin.close(), Err(Error::Stopped(_))), "{:?}", stdin.close());

    // Events in order: output chunks, then the end.
    let mut p = sb.command_line("sh -c 'echo one; echo two >&2; exit 4'").spawn().unwrap();
    let mut out = Vec::new();
    let mut err = Vec::new();
    let mut end = None;
    while let Some(ev) = p.next_event().unwrap() {
        match ev {
            ExecEvent::Stdout(d) => out.extend(d),
            ExecEvent::Stderr(d) => err.extend(d),
            ExecEvent::Exit(r) => end = Some(r.exit_code),
            _ => {}
        }
    }
    assert_eq!((out.as_slice(), err.as_slice(), end), (&b"one\n"[..], &b"two\n"[..], Some(4)));

    // Terminal resize reaches the foreground process.
    let mut p = sb
        .command("sh")
        .args(["-c", "trap 'stty size' WINCH; echo ready; while :; do sleep 0.1; done"])
        .tty(24, 80)
        .stdin_piped()
        .spawn()
        .unwrap();
    read_until(&mut p.stdout(), "ready");
    p.resize(50, 132).unwrap();
    read_until(&mut p.stdout(), "50 132");
    p.kill().unwrap();
    let r = p.wait().unwrap();
    assert_eq!(r.signal, 9);

    // Stdin that was never opened is refused with a hint.
    let p = sb.command("true").spawn().unwrap();
    let e = p.stdin().write(b"x").unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{e}");
    contains("message", &e.to_string(), "stdin_piped");
    p.wait().unwrap();
}

fn read_until(r: &mut impl Read, want: &str) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&got).contains(want) {
        let n = r.read(&mut buf).unwrap();
        assert!(n > 0, "end of output before {want:?}: {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// 50 commands at once on one sandbox, from threads, each with its own
/// output intact.
#[test]
fn fifty_concurrent_execs() {
    let sb = shared();
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..50)
            .map(|i| {
                s.spawn(move || {
                    let r = sb
                        .shell(&format!("i=0; while [ $i -lt 200 ]; do echo {i}-$i; i=$((i+1)); done; exit {}", i % 7))
                        .unwrap();
                    let want: String = (0..200).map(|j| format!("{i}-{j}\n")).collect();
                    assert_eq!(r.stdout_str(), want, "exec {i}");
                    assert_eq!(r.exit_code, i % 7);
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
    });
}

#[test]
fn exec_bad_input() {
    let sb = shared();
    assert!(matches!(sb.exec(""), Err(Error::Invalid(_))));
    assert!(matches!(sb.exec(r#"echo "unterminated"#), Err(Error::Invalid(_))));
    // A NUL byte would cut the argument short in C: refused instead.
    let e = sb.exec_args(["echo", "a\0b"]).unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e:?}");
    contains("NUL message", &e.to_string(), "NUL");
    let e = sb.command("id").user("nosuchuser").output().unwrap_err();
    assert!(matches!(e, Error::ExecFailed(_)), "{e:?}");
    contains("unknown user message", &e.to_string(), "nosuchuser");
    assert!(matches!(sb.command("true").env("", "x").output(), Err(Error::Invalid(_))));
}

/// The supervisor tells a running command when its sandbox pauses on a
/// full host disk and when it runs again (docs/api-protocol.md §11.4):
/// `paused()` is its words while paused, `None` after, and next_event
/// gives both; the blocking API here, the async one in asyncio.rs.
/// $MSB_HOME on a 48 MiB tmpfs of its own (root only), so they run in a
/// process of their own (the others' home is set once).
#[test]
fn paused_while_the_host_disk_is_full() {
    // SAFETY: no arguments, no state.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: mounting a small tmpfs for $MSB_HOME needs root");
        return;
    }
    struct Mount(std::path::PathBuf);
    impl Drop for Mount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    // A disk each: a sandbox removed gives its room back only once its VM
    // is gone, which may be after remove() returns.
    for test in ["exec::paused_on_a_full_disk", "asyncio::async_paused_on_a_full_disk"] {
        let dir = std::env::temp_dir().join(crate::common::unique("msb-rspause"));
        std::fs::create_dir_all(&dir).unwrap();
        let st = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=48m", "tmpfs"])
            .arg(&dir)
            .status()
            .unwrap();
        let dir = Mount(dir);
        assert!(st.success(), "mount: {st}");
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", test, "--ignored", "--nocapture", "--test-threads=1"])
            .env("MSB_RUST_TEST_HOME", dir.0.join("home"))
            .output()
            .unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success() && text.contains("1 passed"), "{test} on a full disk:\n{text}");
    }
}

/// Removes sandbox @0 if the test still runs after a minute: a command
/// waiting on a pause that never ends then fails instead of hanging.
pub(crate) struct Watchdog(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Watchdog {
    pub(crate) fn new(name: &str) -> Watchdog {
        let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (d, name) = (done.clone(), name.to_owned());
        std::thread::spawn(move || {
            let end = Instant::now() + Duration::from_secs(60);
            while Instant::now() < end {
                if d.load(std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            eprintln!("{name}: still running after 60 s; removing it");
            let _ = microsandbox::blocking::Sandbox::get(&name).and_then(|s| s.remove());
        });
        Watchdog(done)
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// `paused_while_the_host_disk_is_full`'s command, in a process of its own.
#[test]
#[ignore = "run by paused_while_the_host_disk_is_full with $MSB_HOME on a small tmpfs"]
fn paused_on_a_full_disk() {
    crate::common::init();
    let name = crate::common::unique("rspause");
    let sb = microsandbox::blocking::Sandbox::builder(&name).create().unwrap();
    let _watchdog = Watchdog::new(&name);
    let mut p = sb.command("sh").args(["-c", crate::common::FULL_DISK_CMD]).stdin_piped().spawn().unwrap();
    assert_eq!(p.next_event().unwrap(), Some(ExecEvent::Stdout(b"ready\n".to_vec())));
    assert_eq!(p.paused(), None);
    let fill = crate::common::fill_host_disk();
    // The guest writes: QEMU pauses it.
    p.stdin().write_all(b"go\n").unwrap();
    let mut out = Vec::new();
    let why = loop {
        match p.next_event().unwrap() {
            Some(ExecEvent::Paused(why)) => break why,
            Some(ExecEvent::Stdout(d)) => out.extend(d),
            other => panic!("before the pause: {other:?}"),
        }
    };
    let _ = std::fs::remove_file(&fill);
    contains("paused", &why, &format!("sandbox {name} is paused: the host disk under "));
    assert_eq!(p.paused().as_deref(), Some(why.as_str()));
    // (Said 2 s after the guest runs on: the command waits for it.)
    let said = loop {
        match p.next_event().unwrap() {
            Some(ExecEvent::Resumed(said)) => break said,
            Some(ExecEvent::Stdout(d)) => out.extend(d),
            other => panic!("before the resume: {other:?}"),
        }
    };
    contains("resumed", &said, &format!("sandbox {name} runs again: the host disk has room"));
    assert_eq!(p.paused(), None);
    p.stdin().write_all(b"end\n").unwrap();
    let end = loop {
        match p.next_event().unwrap() {
            Some(ExecEvent::Stdout(d)) => out.extend(d),
            Some(ExecEvent::Exit(r)) => break r,
            other => panic!("before the end: {other:?}"),
        }
    };
    assert_eq!((end.exit_code, String::from_utf8_lossy(&out).as_ref()), (0, "wrote\n"));
    sb.remove().unwrap();
}
