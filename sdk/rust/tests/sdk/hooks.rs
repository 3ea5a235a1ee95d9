// SPDX-License-Identifier: Apache-2.0
//! Hooks written in Rust (docs/plugins.md), called in this process by
//! the sandbox's supervisor over the hook protocol, with a built-in and a
//! plugin process (tests/e2e/plugins/monitor.js), on one sandbox of the
//! built-in image: execs denied and rewritten, DNS denied and seen, HTTP
//! blocked by a DLP rule or its body rewritten, answers redacted, tagged
//! or blocked before the guest reads them, each answer's head told as it
//! came from the server (a hook that holds it holding up nothing),
//! connections refused, and a
//! filesystem in Rust over a host directory that watches opens and
//! refuses a create while every other call stays native.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use microsandbox::{
    AuditLog, Context, DnsAction, DynFileSystem, Error, ExecAction, HttpAction, HttpRequest, HttpResponse,
    HttpResponseAction, HttpResponseHead, PassthroughFs, Sandbox,
};

/// A filesystem in Rust over a host directory: its opens are written
/// down here, a create of forbidden.txt is refused (EPERM); every other
/// call is the native passthrough's.
struct Guard {
    inner: PassthroughFs,
    opens: Arc<Mutex<Vec<(u64, u32)>>>,
}

impl DynFileSystem for Guard {
    fn inner(&self) -> Option<&dyn DynFileSystem> {
        Some(&self.inner)
    }
    fn overridden(&self) -> &[&'static str] {
        &["open", "create"]
    }
    fn open(&self, ctx: Context, ino: u64, flags: u32) -> microsandbox::Result<u64> {
        self.opens.lock().unwrap().push((ino, ctx.pid));
        self.inner.open(ctx, ino, flags)
    }
    fn create(&self, ctx: Context, parent: u64, name: &str, flags: u32) -> microsandbox::Result<u64> {
        if name == "forbidden.txt" {
            return Err(std::io::Error::from_raw_os_error(libc::EPERM).into());
        }
        self.inner.create(ctx, parent, name, flags)
    }
}

use crate::common::{contains, init, repo_root, unique};

/// A one-request-at-a-time HTTP server on loopback that answers
/// "accepted BODY" and keeps the bodies it got.
fn web() -> (u16, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let got: Arc<Mutex<Vec<String>>> = Arc::default();
    let g = got.clone();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { continue };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // The head, then Content-Length bytes of body.
            let body = loop {
                let n = c.read(&mut chunk).unwrap_or(0);
                if n == 0 {
                    break String::new();
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).into_owned();
                if let Some(i) = text.find("\r\n\r\n") {
                    let len = text[..i]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned())
                        })
                        .and_then(|v| v.parse::<usize>().ok())
                        .unwrap_or(0);
                    if buf.len() >= i + 4 + len {
                        break String::from_utf8_lossy(&buf[i + 4..i + 4 + len]).into_owned();
                    }
                }
            };
            g.lock().unwrap().push(body.clone());
            let out = format!("accepted {body}\n");
            let _ = write!(c, "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{out}", out.len());
        }
    });
    (port, got)
}

fn eventually(what: &str, f: impl Fn() -> bool) {
    let end = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < end, "{what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_in_rust_end_to_end() {
    init();
    let dir = std::env::temp_dir().join(unique("msb-rs-hooks"));
    std::fs::create_dir_all(&dir).unwrap();
    let (port, bodies) = web();
    let dns: Arc<Mutex<Vec<String>>> = Arc::default();
    let execs: Arc<Mutex<Vec<Vec<String>>>> = Arc::default();
    let exits: Arc<Mutex<Vec<(Vec<String>, i32)>>> = Arc::default();
    let lifecycle: Arc<Mutex<Vec<String>>> = Arc::default();
    let answers: Arc<Mutex<Vec<(String, u16, String)>>> = Arc::default();
    let (d, e, x, l) = (dns.clone(), execs.clone(), exits.clone(), lifecycle.clone());
    let a = answers.clone();
    let heads: Arc<Mutex<Vec<HttpResponseHead>>> = Arc::default();
    let hd = heads.clone();
    // The head of the answer to x=CONFIDENTIAL (24 bytes) is held by its
    // hook until the guest has read that answer: an answer that waited
    // for the hook would never come.
    let gate: Arc<(Mutex<bool>, Condvar)> = Arc::default();
    let g = gate.clone();
    let let_go = move || {
        *gate.0.lock().unwrap() = true;
        gate.1.notify_all();
    };
    let monitor = repo_root().join("tests/e2e/plugins/monitor.js");
    let vol = dir.join("vol");
    std::fs::create_dir_all(&vol).unwrap();
    std::fs::write(vol.join("hello.txt"), "hello\n").unwrap();
    let opens: Arc<Mutex<Vec<(u64, u32)>>> = Arc::default();
    let guard = Guard { inner: PassthroughFs::new(vol.to_string_lossy()), opens: opens.clone() };
    let sb = Sandbox::builder(unique("rs-hooks"))
        .network(move |n| {
            n.allow_host(port)
                .on_dns(move |q| {
                    d.lock().unwrap().push(format!("{} {}", q.name, q.qtype));
                    if q.name == "blocked.test" {
                        DnsAction::Deny
                    } else {
                        DnsAction::Allow
                    }
                })
                .on_http(|req: HttpRequest| {
                    let body = String::from_utf8_lossy(&req.body).into_owned();
                    if body.contains("4111-1111-1111-1111") {
                        return HttpAction::Block("DLP: a card number");
                    }
                    if body.contains("secret=") {
                        return HttpAction::Forward(HttpRequest { body: b"secret=[redacted]".to_vec(), ..req });
                    }
                    HttpAction::Forward(req)
                })
                .on_http_response(move |resp: HttpResponse| {
                    let body = String::from_utf8_lossy(&resp.body).into_owned();
                    a.lock().unwrap().push((resp.request.clone(), resp.status, body.clone()));
                    if body.contains("leak-me") {
                        return HttpResponseAction::Block("DLP: a leak".into());
                    }
                    if body.contains("CONFIDENTIAL") {
                        let head = resp.head.replace("\r\n\r\n", "\r\nX-Redacted: 1\r\n\r\n");
                        let body = body.replace("CONFIDENTIAL", "[redacted]").into_bytes();
                        return HttpResponseAction::Forward(HttpResponse { head, body, ..resp });
                    }
                    HttpResponseAction::Forward(resp)
                })
                .on_http_response_head(move |h| {
                    if h.body_length == 24 {
                        let open = g.0.lock().unwrap();
                        drop(g.1.wait_timeout_while(open, Duration::from_secs(120), |open| !*open).unwrap());
                    }
                    hd.lock().unwrap().push(h)
                })
        })
        .on_exec(move |c| {
            e.lock().unwrap().push(c.argv.clone());
            match c.argv.first().map(String::as_str) {
                Some("forbidden") => ExecAction::Deny("not on this sandbox".into()),
                Some("greet") => ExecAction::Rewrite {
                    argv: Some([vec!["echo".to_owned(), "rewritten".to_owned()], c.argv[1..].to_vec()].concat()),
                    env: None,
                },
                Some("boom") => panic!("a bug in the hook"),
                _ => ExecAction::Allow,
            }
        })
        .volume("/data", move |v| v.backend(guard))
        .on_exec_exit(move |ev| x.lock().unwrap().push((ev.argv, ev.exit_code)))
        .on_lifecycle(move |ev| l.lock().unwrap().push(ev.event))
        .plugin(AuditLog::new(dir.join("audit").to_string_lossy()))
        .plugin_process(format!("LOG={} node {}", dir.join("js.jsonl").display(), monitor.display()))
        .create()
        .await
        .unwrap();

    // exec: denied, rewritten, a panicking hook refuses; the rest runs.
    let err = sb.exec("forbidden now").await.unwrap_err();
    assert!(matches!(err, Error::PolicyRefused(_)), "{err:?}");
    contains("exec denial", &err.to_string(), "exec denied by plugin rust-sdk: not on this sandbox");
    assert_eq!(sb.exec("greet you").await.unwrap().stdout_str(), "rewritten you\n");
    let err = sb.exec("boom").await.unwrap_err();
    contains("a panicking hook", &err.to_string(), "the hook panicked");
    assert_eq!(sb.exec("echo still").await.unwrap().stdout_str(), "still\n");
    assert!(execs.lock().unwrap().iter().any(|a| a[0] == "forbidden"));
    // Each end is told, the rewritten command's as it ran; so is the start.
    assert_eq!(sb.shell("exit 3").await.unwrap().exit_code, 3);
    eventually("the exits are told", || {
        let x = exits.lock().unwrap();
        x.iter().any(|(a, c)| a.join(" ") == "sh -c exit 3" && *c == 3)
            && x.iter().any(|(a, _)| a[0] == "echo" && a[1] == "rewritten")
    });
    eventually("the start is told", || lifecycle.lock().unwrap().iter().any(|e| e == "start"));
    let audit = dir.join("audit").join(format!("{}.jsonl", sb.name()));
    eventually("the audit log has the exec", || std::fs::read_to_string(&audit).is_ok_and(|s| s.contains("\"greet\"")));

    // dns: denied, and each query seen here.
    let r = sb.shell("nslookup blocked.test 10.0.2.3; echo dns=$?").await.unwrap();
    assert!(r.stdout_str().contains("dns=1"), "{}", r.stdout_str());
    assert!(dns.lock().unwrap().iter().any(|q| q == "blocked.test A"), "{:?}", dns.lock().unwrap());

    // http: blocked by the DLP rule, a body rewritten, the rest through.
    let url = format!("http://10.0.2.2:{port}/submit");
    let ok = sb.shell(&format!("wget -q -O- --post-data 'name=ann' {url}")).await.unwrap();
    assert_eq!(ok.stdout_str(), "accepted name=ann\n");
    let pii = sb.shell(&format!("wget -q -O- --post-data 'card=4111-1111-1111-1111' {url}")).await.unwrap();
    assert_ne!(pii.exit_code, 0);
    assert!(!bodies.lock().unwrap().iter().any(|b| b.contains("4111-1111")), "the PII reached the server");
    let changed = sb.shell(&format!("wget -q -O- --post-data 'secret=hunter2' {url}")).await.unwrap();
    assert_eq!(changed.stdout_str(), "accepted secret=[redacted]\n");
    let log = std::fs::read_to_string(sb.log_path().await.unwrap()).unwrap();
    contains("sandbox log", &log, "plugin rust-sdk: DLP: a card number");

    // http answers: redacted and tagged here, blocked, seen with their
    // request.
    let r = sb.shell(&format!("wget -S -q -O- --post-data 'x=CONFIDENTIAL' {url} 2>&1")).await.unwrap();
    contains("a redacted answer", &r.stdout_str(), "accepted x=[redacted]");
    contains("a tagged answer", &r.stdout_str(), "X-Redacted: 1");
    assert!(!heads.lock().unwrap().iter().any(|h| h.body_length == 24), "the held head was told");
    let_go();
    assert!(answers.lock().unwrap().iter().any(|(req, status, body)| req == "POST /submit HTTP/1.1"
        && *status == 200
        && body == "accepted x=CONFIDENTIAL\n"));
    let r = sb.shell(&format!("wget -q -O- --post-data 'x=leak-me' {url}")).await.unwrap();
    assert_ne!(r.exit_code, 0);
    assert!(!r.stdout_str().contains("leak-me"), "{}", r.stdout_str());
    let log = std::fs::read_to_string(sb.log_path().await.unwrap()).unwrap();
    contains("sandbox log", &log, "blocked: plugin rust-sdk: DLP: a leak");
    // each answer's head was told as the server sent it (not as
    // on_http_response changed it), the blocked one's too.
    for (what, len) in [("x=CONFIDENTIAL", "24"), ("x=leak-me", "19")] {
        eventually(&format!("the head of the answer to {what} is told: {:?}", heads.lock().unwrap()), || {
            heads.lock().unwrap().iter().any(|h| {
                h.request == "POST /submit HTTP/1.1"
                    && h.status == 200
                    && h.body_length == len.parse::<i64>().unwrap()
                    && h.headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("content-length") && v == len)
                    && h.head.starts_with("HTTP/1.0 200 OK\r\n")
                    && !h.head.contains("X-Redacted")
                    && h.host == "10.0.2.2"
                    && !h.tls
            })
        });
    }

    // fs: opens seen here with the guest's pid, a create refused with the
    // errno given; reads and writes stay native.
    let r =
        sb.shell("cat /data/hello.txt; echo x > /data/forbidden.txt; echo rc=$?; echo y > /data/ok.txt").await.unwrap();
    contains("the volume's file", &r.stdout_str(), "hello\nrc=1");
    contains("the refused create", &r.stderr_str(), "Operation not permitted");
    assert!(!vol.join("forbidden.txt").exists());
    assert_eq!(std::fs::read_to_string(vol.join("ok.txt")).unwrap(), "y\n");
    assert!(opens.lock().unwrap().iter().any(|(_, pid)| *pid > 0), "{:?}", opens.lock().unwrap());

    // connect: the plugin process refuses port 7007, after our hooks.
    let r = sb.shell("echo | nc -w 2 1.1.1.1 7007; echo nc=$?").await.unwrap();
    assert!(r.stdout_str().contains("nc=1"), "{}", r.stdout_str());
    let log = std::fs::read_to_string(sb.log_path().await.unwrap()).unwrap();
    contains("sandbox log", &log, "plugin monitor-js: node says no");

    sb.remove().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
