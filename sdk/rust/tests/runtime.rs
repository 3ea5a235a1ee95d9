// SPDX-License-Identifier: Apache-2.0
//! `Sandbox::current_runtime()` as code inside a sandbox uses it
//! (docs/spawn.md), against a stand-in for the agent's socket that speaks
//! its frames (docs/agent-protocol.md §7c): the requests the runtime
//! writes and how it reads the answers. Nothing here boots a sandbox or
//! calls libmsb. A binary of its own: the runtime's socket is the
//! program's, pointed at the stand-in here; the tests take turns.
//! tests/e2e/test_spawn.py runs the same requests through a real agent.

mod common;

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::sync::Mutex;

use common::{exit, frame, read_frame, result, take_turn, PEER, STDERR, STDOUT, WINDOW};
use microsandbox::{Error, Peer, PeerInfo, Result, Runtime, Sandbox};
use serde_json::Value;

const BIG: usize = 1 << 20;

#[derive(Default)]
struct Seen {
    requests: Vec<String>,
    windows: Vec<u32>,
    ended: Vec<String>,
}

static SEEN: Mutex<Seen> = Mutex::new(Seen { requests: Vec::new(), windows: Vec::new(), ended: Vec::new() });

/// Answers as the host does, by the request: an exec with output and
/// status 3; "big" 1 MiB sent within the credit given back (256 KiB,
/// then what WINDOW frames bring); "hang" a line, then nothing; "cut" a
/// line and the connection closed; ps one peer; a start of "third"
/// refused, of "nope" a bad request. As the agent does, the connection
/// stays open after the answer until the program closes it.
fn serve(mut c: UnixStream) {
    let Some((kind, p)) = read_frame(&mut c) else { return };
    assert_eq!(kind, PEER);
    SEEN.lock().unwrap().requests.push(String::from_utf8(p.clone()).unwrap());
    let req: Value = serde_json::from_slice(&p).unwrap();
    let name = req["name"].as_str().unwrap_or("").to_owned();
    let answer = match (req["op"].as_str().unwrap(), name.as_str()) {
        ("exec", "big") => {
            let (mut credit, mut sent) = (256 * 1024usize, 0);
            let chunk = frame(STDOUT, &[b'x'; 65536]);
            while sent < BIG {
                if credit < 65536 {
                    let (kind, p) = read_frame(&mut c).expect("credit comes back");
                    assert_eq!((kind, p.len()), (WINDOW, 4));
                    let n = u32::from_be_bytes([p[0], p[1], p[2], p[3]]);
                    SEEN.lock().unwrap().windows.push(n);
                    credit += n as usize;
                    continue;
                }
                c.write_all(&chunk).unwrap();
                credit -= 65536;
                sent += 65536;
            }
            exit(0)
        }
        ("exec", "hang") => frame(STDOUT, b"started\n"),
        ("exec", "cut") => {
            let _ = c.write_all(&frame(STDOUT, b"half"));
            return;
        }
        ("exec", _) => [frame(STDOUT, b"out\n"), frame(STDERR, b"err\n"), exit(3)].concat(),
        ("ps", _) => [
            frame(STDOUT, br#"[{"name":"coder","image":"node:20","status":"running","cpus":1,"memory_mib":256}]"#),
            result(0, ""),
        ]
        .concat(),
        ("logs", _) => [frame(STDOUT, b"booting coder\n"), result(0, "")].concat(),
        (_, "third") => result(1, "this sandbox's tree already has 2 live peers"),
        (_, "nope") => result(22, "a bad request"),
        _ => [frame(STDOUT, format!("{name}\n").as_bytes()), result(0, "")].concat(),
    };
    let _ = c.write_all(&answer);
    while let Some((kind, p)) = read_frame(&mut c) {
        if kind == WINDOW && p.len() == 4 {
            SEEN.lock().unwrap().windows.push(u32::from_be_bytes([p[0], p[1], p[2], p[3]]));
        }
    }
    SEEN.lock().unwrap().ended.push(name);
}

/// Takes this test's turn with the stand-in, its records cleared.
async fn turn() -> tokio::sync::MutexGuard<'static, ()> {
    let g = take_turn(serve).await;
    *SEEN.lock().unwrap() = Seen::default();
    g
}

fn requests() -> Vec<Value> {
    SEEN.lock().unwrap().requests.iter().map(|r| serde_json::from_str(r).unwrap()).collect()
}

#[rustfmt::skip]
async fn seed_spawn_as_written(key: &str) -> Result<(Peer, Peer)> {
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

#[tokio::test]
async fn the_seeds_spawn_snippet_as_written() {
    let _t = turn().await;
    let (researcher, coder) = seed_spawn_as_written("msb_placeholder_k1").await.unwrap();
    assert_eq!((researcher.name(), coder.name()), ("researcher", "coder"));
    assert_eq!(
        requests(),
        vec![
            serde_json::json!({"op": "start", "name": "researcher", "image": "python:3.12",
                "secrets": [{"env": "SERP_KEY", "placeholder": "msb_placeholder_k1", "hosts": "serpapi.com"}]}),
            serde_json::json!({"op": "start", "name": "coder", "image": "node:20", "net_deny_all": true}),
        ]
    );
}

#[tokio::test]
async fn requests_and_answers() {
    let _t = turn().await;
    let rt = Sandbox::current_runtime().await.unwrap();
    let coder = rt
        .start("coder")
        .cpus(2)
        .memory_mib(256)
        .env("A", "1")
        .network(|n| n.deny_all().allow(["api.test"]))
        .secret_env("K", "msb_placeholder_ab", "api.test,x.test")
        .secret_env("L", "msb_placeholder_cd", "")
        .create()
        .await
        .unwrap();
    let r = coder.command("sh").args(["-c", "exit 3"]).env("B", "2").current_dir("/tmp").output().await.unwrap();
    assert_eq!((r.exit_code, r.signal, r.stdout_str().as_ref(), r.stderr_str().as_ref()), (3, 0, "out\n", "err\n"));
    assert!(!r.success());
    match coder.shell("exit 3").await.unwrap().check() {
        Err(Error::Exit(e)) => assert_eq!(e.result.exit_code, 3),
        other => panic!("{other:?}"),
    }
    let e = coder.command_line("sh -c 'exit 3'").unwrap().check().output().await.unwrap_err();
    assert!(matches!(e, Error::Exit(_)), "{e:?}");
    let peers = rt.list().await.unwrap();
    let want: Vec<(&str, &str, &str, u32, u64)> = vec![("coder", "node:20", "running", 1, 256)];
    assert_eq!(
        peers.iter().map(|p: &PeerInfo| (&*p.name, &*p.image, &*p.status, p.cpus, p.memory_mib)).collect::<Vec<_>>(),
        want
    );
    coder.stop().await.unwrap();
    assert_eq!(rt.peer("coder").logs().await.unwrap(), "booting coder\n");
    rt.peer("coder").remove().await.unwrap();
    assert_eq!(
        requests(),
        vec![
            serde_json::json!({"op": "start", "name": "coder", "cpus": 2, "memory": "256M", "env": ["A=1"],
                "net_allow": ["api.test"],
                "secrets": [{"env": "K", "placeholder": "msb_placeholder_ab", "hosts": "api.test,x.test"},
                            {"env": "L", "placeholder": "msb_placeholder_cd"}]}),
            serde_json::json!({"op": "exec", "name": "coder", "argv": ["sh", "-c", "exit 3"], "env": ["B=2"],
                "workdir": "/tmp"}),
            serde_json::json!({"op": "exec", "name": "coder", "argv": ["sh", "-c", "exit 3"]}),
            serde_json::json!({"op": "exec", "name": "coder", "argv": ["sh", "-c", "exit 3"]}),
            serde_json::json!({"op": "ps", "json": true}),
            serde_json::json!({"op": "stop", "name": "coder"}),
            serde_json::json!({"op": "logs", "name": "coder"}),
            serde_json::json!({"op": "rm", "name": "coder"}),
        ]
    );
}

#[tokio::test]
async fn the_hosts_refusals() {
    let _t = turn().await;
    let rt = Sandbox::current_runtime().await.unwrap();
    let e = rt.start("third").create().await.unwrap_err();
    assert!(matches!(e, Error::PolicyRefused(_)), "{e:?}");
    assert_eq!(e.name(), "MSB_E_POLICY");
    assert!(e.to_string().contains("already has 2 live peers"), "{e}");
    let e = rt.start("nope").create().await.unwrap_err();
    assert!(matches!(e, Error::Invalid(_)) && e.to_string().contains("a bad request"), "{e:?}");
}

/// 1 MiB gets through only if the runtime gives credit back as it takes
/// the output: the stand-in sends no more than it was given.
#[tokio::test]
async fn output_past_256_kib_is_taken_within_its_credit() {
    let _t = turn().await;
    let rt = Sandbox::current_runtime().await.unwrap();
    let r = tokio::time::timeout(std::time::Duration::from_secs(60), rt.peer("big").exec("cat"))
        .await
        .expect("the output stalled: no credit came back")
        .unwrap();
    assert_eq!(r.stdout.len(), BIG);
    let n = std::sync::Arc::new(Mutex::new(0usize));
    let m = n.clone();
    let r = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        rt.peer("big").command("cat").on_stdout(move |b| *m.lock().unwrap() += b.len()).output(),
    )
    .await
    .expect("the output stalled")
    .unwrap();
    assert_eq!((*n.lock().unwrap(), r.stdout.len()), (BIG, 0));
    let given: u64 = SEEN.lock().unwrap().windows.iter().map(|&w| w as u64).sum();
    assert!(given >= 2 * (BIG as u64 - 256 * 1024), "credit given back: {given}");
}

#[tokio::test]
async fn a_dropped_command_ends_its_request_and_an_answer_cut_short_is_a_protocol_error() {
    let _t = turn().await;
    let rt = Sandbox::current_runtime().await.unwrap();
    let peer = rt.peer("hang");
    let (tx, rx) = tokio::sync::oneshot::channel();
    let mut tx = Some(tx);
    let run = peer.command("sleep").arg("1000").on_stdout(move |_| {
        if let Some(t) = tx.take() {
            let _ = t.send(());
        }
    });
    tokio::select! {
        r = run.output() => panic!("the command ended: {r:?}"),
        _ = rx => {}
    }
    // the future dropped: the connection closes, which the agent passes
    // on to the host as the request's end
    for _ in 0..600 {
        if SEEN.lock().unwrap().ended.iter().any(|n| n == "hang") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(SEEN.lock().unwrap().ended.iter().any(|n| n == "hang"));
    let e = rt.peer("cut").exec("true").await.unwrap_err();
    assert!(matches!(e, Error::Protocol(_)), "{e:?}");
}

#[tokio::test]
async fn bad_input_is_refused_before_anything_is_asked() {
    let _t = turn().await;
    let rt = Sandbox::current_runtime().await.unwrap();
    let e = rt.start("x").network(|n| n.block_cidr("10.0.0.0/8")).create().await.unwrap_err();
    assert!(matches!(e, Error::Invalid(_)) && e.to_string().contains("deny_all, allow and allow_cidr only"), "{e}");
    let e = rt
        .start("x")
        .network(|n| n.on_http_response(microsandbox::HttpResponseAction::Forward))
        .create()
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e:?}");
    let e = rt.start("x").network(|n| n.on_http_response_head(|_| {})).create().await.unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e:?}");
    for b in [
        rt.start("x").cpus(0),
        rt.start("x").secret_env("K", "", "a.test"),
        rt.start("x").secret_from_env("K", "MSB_RUST_TEST_UNSET", ""),
        rt.start("x").env("A", "v".repeat(61 * 1024)),
    ] {
        let e = b.create().await.unwrap_err();
        assert!(matches!(e, Error::Invalid(_)), "{e:?}");
    }
    assert!(matches!(rt.peer("x").exec_args(Vec::<String>::new()).await, Err(Error::Invalid(_))));
    assert_eq!(requests(), Vec::<Value>::new());
}

#[tokio::test]
async fn outside_a_sandbox() {
    let _t = turn().await;
    Runtime::set_agent_socket(std::env::temp_dir().join(format!("msb-no-agent-{}.sock", std::process::id())));
    let e = Sandbox::current_runtime().await.unwrap_err();
    assert!(matches!(e, Error::NotSupported(_)), "{e:?}");
    assert!(e.to_string().contains("not inside a microsandbox sandbox"), "{e}");
    Runtime::set_agent_socket(common::agent(serve));
}
