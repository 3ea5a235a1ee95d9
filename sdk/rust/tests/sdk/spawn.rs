// SPDX-License-Identifier: Apache-2.0
//! Sandboxes that spawn sandboxes (docs/spawn.md): the policy a sandbox is
//! made with (`allow_spawn`, `spawn_images`, `spawn_limits`), a peer its
//! guest starts with its own `msb start`, and the peer's `parent()`.

use microsandbox::{Error, Sandbox};

use crate::common::{contains, init, shared_async, unique};

/// A policy libmsb would not take is refused before anything is made.
#[tokio::test]
async fn spawn_policy_refusals() {
    init();
    type Shape = fn(microsandbox::SandboxBuilder) -> microsandbox::SandboxBuilder;
    let cases: [(&str, Shape, &str); 7] = [
        ("allow_spawn(0)", |b| b.allow_spawn(0), "1 to 64"),
        ("allow_spawn(65)", |b| b.allow_spawn(65), "1 to 64"),
        ("images without allow_spawn", |b| b.spawn_images(["busybox"]), "allow_spawn"),
        ("limits without allow_spawn", |b| b.spawn_limits(1, 256, 0), "allow_spawn"),
        ("33 images", |b| b.allow_spawn(1).spawn_images((0..33).map(|i| format!("img{i}"))), "32"),
        ("65 CPUs a peer", |b| b.allow_spawn(1).spawn_limits(65, 0, 0), "1 to 64"),
        // refused by libmsb's msb_spawn_policy_add_image, still before the create
        ("an image with a space", |b| b.allow_spawn(1).spawn_images(["bad image"]), "bad image"),
    ];
    for (what, shape, message) in cases {
        let name = unique("bad-spawn");
        match shape(Sandbox::builder(&name)).create().await {
            Ok(_) => panic!("{what}: created"),
            Err(e) => {
                assert!(matches!(e, Error::Invalid(_)), "{what}: {e:?}");
                contains(what, &e.to_string(), message);
            }
        }
        assert!(matches!(Sandbox::get(&name).await, Err(Error::NotFound(_))), "{what} left {name} behind");
    }
}

/// A sandbox made with `allow_spawn(1)`: its guest starts a peer with its
/// own `msb start`; the peer exists on the host, names its parent, has the
/// limits given; a second peer is over the count; removing the parent
/// removes the peer. A sandbox made without it may start none.
#[tokio::test]
async fn allow_spawn_and_parent() {
    init();
    let parent_name = unique("spawner");
    let parent = Sandbox::builder(&parent_name)
        .allow_spawn(1)
        .spawn_images(["busybox"])
        .spawn_limits(1, 256, 0)
        .create()
        .await
        .unwrap();
    // the policy in the record, as libmsb kept it
    let doc: serde_json::Value = serde_json::from_str(&parent.inspect().await.unwrap()).unwrap();
    let sp = &doc["config"]["spawn"];
    assert_eq!(sp["max"], 1, "{sp}");
    assert_eq!(sp["images"], serde_json::json!(["default", "busybox"]), "{sp}");
    assert_eq!(
        (sp["cpus"].as_u64(), sp["memory_mib"].as_u64(), sp["total_memory_mib"].as_u64()),
        (Some(1), Some(256), Some(256))
    );
    assert_eq!(parent.parent().await.unwrap(), None, "a sandbox the host made has a parent");

    let peer_name = unique("peer");
    let r = parent.exec_args(["msb", "start", &peer_name]).await.unwrap();
    assert_eq!((r.exit_code, r.stdout_str().as_ref()), (0, format!("{peer_name}\n").as_str()), "{r:?}");
    let peer = Sandbox::get(&peer_name).await.unwrap();
    assert_eq!(peer.parent().await.unwrap().as_deref(), Some(parent_name.as_str()));
    // the blocking API's parent() too
    let (pn, want) = (peer_name.clone(), parent_name.clone());
    let got = tokio::task::spawn_blocking(move || microsandbox::blocking::Sandbox::get(&pn)?.parent()).await.unwrap();
    assert_eq!(got.unwrap(), Some(want));
    let info = peer.info().await.unwrap();
    assert_eq!(info.memory_mib, 256, "{info:?}");
    // one live peer at most
    let r = parent.exec_args(["msb", "start", &unique("second")]).await.unwrap();
    assert_eq!(r.exit_code, 125, "{r:?}");
    contains("a second peer", &r.stderr_str(), "--allow-spawn 1");

    parent.remove().await.unwrap();
    assert!(matches!(peer.parent().await, Err(Error::NotFound(_))), "the peer outlived its parent's removal");
    assert!(matches!(Sandbox::get(&peer_name).await, Err(Error::NotFound(_))));

    // without allow_spawn: none
    let r = shared_async().await.exec_args(["msb", "start", &unique("nope")]).await.unwrap();
    assert_eq!(r.exit_code, 125, "{r:?}");
    contains("msb start without allow_spawn", &r.stderr_str(), "spawning is off");
}
