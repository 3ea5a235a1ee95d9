// SPDX-License-Identifier: Apache-2.0
//! A Sandboxfile project from Rust: a bad file's error says where, then
//! one small project (one sandbox of the built-in image) is brought up,
//! listed, driven by key (exec, a script, its logs), brought up again
//! (nothing changes), restarted, stopped and brought down, through the
//! async API. Two boots.

use std::sync::{Arc, Mutex};

use microsandbox::{blocking, Error, Project, ProjectSandbox};

use crate::common::{init, unique};

#[tokio::test(flavor = "multi_thread")]
async fn project_up_exec_run_logs_restart_stop_down() {
    init();
    let dir = std::env::temp_dir().join(unique("msb-rust-project"));
    std::fs::create_dir_all(&dir).unwrap();

    let bad = dir.join("Bad");
    match Project::parse("sandboxes:\n  web:\n    memroy: 1G\n", &bad).await {
        Err(Error::Sandboxfile(e)) => {
            assert_eq!((e.file.as_path(), e.line, e.column), (bad.as_path(), 3, 5), "{e}");
            assert!(e.to_string().contains("did you mean 'memory'"), "{e}");
            assert_eq!(Error::Sandboxfile(e).name(), "MSB_E_INVALID");
        }
        other => panic!("a bad key: {:?}", other.err()),
    }
    let e = blocking::Project::load(dir.join("Missing")).err().expect("a missing file loaded");
    assert!(matches!(e, Error::NotFound(_)), "{e:?}");

    let name = unique("rsproj");
    let file = dir.join("Sandboxfile");
    std::fs::write(
        &file,
        format!(
            "name: {name}\nsandboxes:\n  web:\n    env: {{ GREETING: hello }}\n    scripts:\n      \
             greet: echo \"$GREETING from web\"\n      fail: exit 3\n"
        ),
    )
    .unwrap();
    let p = Project::load(&file).await.unwrap();
    assert_eq!((p.name(), p.file()), (name.as_str(), file.as_path()));
    assert_eq!(p.sandboxes(), [ProjectSandbox { key: "web".into(), name: format!("{name}-web") }]);
    let cfg: serde_json::Value = serde_json::from_str(&p.config().unwrap()).unwrap();
    assert_eq!(cfg["sandboxes"]["web"]["env"], serde_json::json!(["GREETING=hello"]));
    let states = || async {
        p.ps()
            .await
            .unwrap()
            .into_iter()
            .map(|e| format!("{} {} {} {}", e.key, e.name, e.status, e.state))
            .collect::<Vec<_>>()
    };
    assert_eq!(states().await, [format!("web {name}-web missing missing")]);

    let events = Arc::new(Mutex::new(Vec::new()));
    let ev = events.clone();
    p.up_with(move |o| {
        o.progress(move |e| ev.lock().unwrap().push(format!("{} {}", e.sandbox.as_deref().unwrap_or(""), e.what)))
    })
    .await
    .unwrap();
    assert!(events.lock().unwrap().contains(&"web created".to_owned()), "{:?}", events.lock().unwrap());
    assert_eq!(states().await, [format!("web {name}-web running current")]);

    assert_eq!(p.exec_args("web", ["sh", "-c", "echo $GREETING"]).await.unwrap().stdout_str(), "hello\n");
    assert_eq!(p.run("web", "greet").await.unwrap().stdout_str(), "hello from web\n");
    assert_eq!(p.run("web", "fail").await.unwrap().exit_code, 3);
    assert!(matches!(p.run("web", "no-such-script").await, Err(Error::NotFound(_))));
    assert!(matches!(p.exec("nope", "true").await, Err(Error::Invalid(_))));
    assert!(p.logs("web", None).await.unwrap().contains("ready in"));
    assert_eq!(p.logs("web", Some(2)).await.unwrap().lines().count(), 2);

    events.lock().unwrap().clear();
    let ev = events.clone();
    p.up_with(move |o| {
        o.progress(move |e| ev.lock().unwrap().push(format!("{} {}", e.sandbox.as_deref().unwrap_or(""), e.what)))
    })
    .await
    .unwrap();
    assert_eq!(*events.lock().unwrap(), ["web up-to-date"]);

    p.restart().await.unwrap();
    assert_eq!(p.exec("web", "cat /proc/uptime").await.unwrap().exit_code, 0);
    p.stop().await.unwrap();
    assert_eq!(states().await, [format!("web {name}-web stopped current")]);
    p.down().await.unwrap();
    assert_eq!(states().await, [format!("web {name}-web missing missing")]);
    let _ = std::fs::remove_dir_all(&dir);
}
