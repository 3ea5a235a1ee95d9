// SPDX-License-Identifier: Apache-2.0
//! The plugin registry (docs/plugins.md, "The registry") against the
//! loopback docker-registry: a plugin published, found, installed, loaded
//! by name into a sandbox that it then guards, listed, inspected and
//! removed.

use microsandbox::{plugins, Error, InstalledPlugin, Sandbox};

use crate::common::{contains, seed_registry, unique};

/// plugin_py!(BODY) - a process plugin in Python: the hook protocol's
/// framing on fd 3 (a 4-byte big-endian length, then JSON) as read() and
/// send(), then BODY.
macro_rules! plugin_py {
    ($body:literal) => {
        concat!(
            r#"
import json, socket, struct
s = socket.socket(fileno=3)
def read():
    h = s.recv(4, socket.MSG_WAITALL)
    if len(h) < 4: raise SystemExit
    return json.loads(s.recv(struct.unpack(">I", h)[0], socket.MSG_WAITALL))
def send(m):
    b = json.dumps(m).encode(); s.sendall(struct.pack(">I", len(b)) + b)
"#,
            $body
        )
    };
}

/// A plugin process in Python, written from the hook protocol alone: it
/// says hello asking for exec_before and denies every exec whose argv
/// holds "exfiltrate".
const DENY_PY: &str = plugin_py!(
    r#"
while True:
    m = read()
    if m["type"] == "hello":
        send({"type": "hello", "name": "rust-deny", "hooks": ["exec_before"]})
    elif m["type"] == "call":
        bad = "exfiltrate" in m["argv"]
        send({"type": "reply", "id": m["id"], "verdict": "deny" if bad else "allow", "reason": "not here"})
"#
);

#[tokio::test]
async fn plugin_registry() {
    let Some((host, _)) = seed_registry() else { return };
    let ns = format!("{host}/rustplugins");
    let dir = std::env::temp_dir().join(unique("rust-plugin"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("deny.py"), DENY_PY).unwrap();
    std::fs::write(
        dir.join("plugin.json"),
        r#"{"name": "rust-deny", "version": "1.0.0", "kind": "process", "hooks": ["exec_before"],
            "language": "python", "command": "python3 deny.py", "description": "Refuses execs of exfiltrate"}"#,
    )
    .unwrap();

    let publ = plugins::publish(dir.to_str().unwrap(), Some(&ns)).await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!((publ.name.as_str(), publ.version.as_str()), ("rust-deny", "1.0.0"), "{publ:?}");
    assert_eq!(publ.reference, format!("{ns}/rust-deny:1.0.0"));
    assert!(publ.digest.starts_with("sha256:"), "{publ:?}");

    let found = plugins::search(Some(&ns), "EXFILTRATE").await.unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].digest, publ.digest);
    assert_eq!(found[0].hooks, ["exec_before"]);
    assert_eq!((found[0].command.as_str(), found[0].language.as_str()), ("python3 deny.py", "python"));
    assert!(plugins::search(Some(&ns), "no-such-words").await.unwrap().is_empty());

    let e = plugins::install("no-such-plugin", Some(&ns)).await.unwrap_err();
    assert!(matches!(e, Error::NotFound(_)), "{e:?}");
    let inst = plugins::install("rust-deny", Some(&ns)).await.unwrap();
    assert_eq!(inst.digest, publ.digest);
    assert!(!inst.path.is_empty() && inst.installed_at.is_some(), "{inst:?}");
    assert!(std::path::Path::new(&inst.path).join("deny.py").is_file(), "{inst:?}");

    // loaded by name, it guards the sandbox
    let sb = Sandbox::builder(unique("installed")).plugin(InstalledPlugin::new("rust-deny")).create().await.unwrap();
    assert_eq!(sb.exec("echo hi").await.unwrap().stdout_str(), "hi\n");
    let e = sb.exec_args(["echo", "exfiltrate"]).await.unwrap_err();
    assert!(matches!(e, Error::PolicyRefused(_)), "{e:?}");
    contains("the installed plugin's refusal", &e.to_string(), "not here");
    sb.close().await.unwrap();

    let list = plugins::list().await.unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    assert!(list[0].name == "rust-deny" && list[0].verified, "{list:?}");
    assert_eq!(plugins::inspect("rust-deny").await.unwrap().digest, publ.digest);
    // the blocking API's calls are the same
    let (blist, bfound) = tokio::task::spawn_blocking(move || {
        (
            microsandbox::blocking::plugins::list().unwrap(),
            microsandbox::blocking::plugins::search(Some(&ns), "").unwrap(),
        )
    })
    .await
    .unwrap();
    assert_eq!(blist, list);
    assert_eq!(bfound.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), ["rust-deny"]);
    plugins::remove("rust-deny").await.unwrap();
    let e = plugins::inspect("rust-deny").await.unwrap_err();
    assert!(matches!(e, Error::NotFound(_)), "{e:?}");
    assert!(plugins::list().await.unwrap().is_empty());
    // removed, it is refused by name before anything boots
    let name = unique("uninstalled");
    match Sandbox::builder(&name).plugin(InstalledPlugin::new("rust-deny")).create().await {
        Err(e @ Error::Invalid(_)) => contains("a removed plugin", &e.to_string(), "no installed plugin"),
        Err(e) => panic!("a create with a removed plugin: {e:?}"),
        Ok(_) => panic!("a create with a removed plugin booted"),
    }
}

/// A plugin process that allows one exec and then exits.
const ONCE_PY: &str = plugin_py!(
    r#"
import time
while True:
    m = read()
    if m["type"] == "hello":
        send({"type": "hello", "name": "rust-once", "hooks": ["exec_before"]})
    elif m["type"] == "call":
        send({"type": "reply", "id": m["id"], "verdict": "allow"})
        time.sleep(0.05)
        raise SystemExit
"#
);

/// plugin_restarts(1): a plugin process that exits is started again once
/// (the default is 3), and then its hooks deny.
#[tokio::test]
async fn plugin_restarts() {
    crate::common::init();
    let dir = std::env::temp_dir().join(unique("rust-once"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("once.py"), ONCE_PY).unwrap();
    let sb = Sandbox::builder(unique("restarts"))
        .plugin_process(format!("python3 {}", dir.join("once.py").display()))
        .plugin_restarts(1)
        .create()
        .await
        .unwrap();
    // it exits, and is started again
    let settle = || tokio::time::sleep(std::time::Duration::from_secs(2));
    assert_eq!(sb.exec("echo one").await.unwrap().stdout_str(), "one\n");
    settle().await;
    assert_eq!(sb.exec("echo two").await.unwrap().stdout_str(), "two\n"); // the one restart
    settle().await;
    let e = sb.exec("echo three").await.unwrap_err();
    assert!(matches!(e, Error::PolicyRefused(_)), "{e:?}");
    sb.close().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
