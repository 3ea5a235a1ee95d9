// SPDX-License-Identifier: Apache-2.0
//! Images beyond a plain pull and load: the progress pulls and loads
//! report, images saved as OCI and docker archives and loaded back,
//! pruned once nothing uses them, and pulled from a registry that demands
//! a login (the real docker-registry, with htpasswd).

use std::path::Path;
use std::process::Command;

use microsandbox::{images, Error, Sandbox, SaveFormat};

use crate::common::{auth_registry, contains, repo_root, seed_registry, unique, Events, SEED_PULLS};

/// Writes an OCI layout at @dir: the busybox layer of tests/images/build.py
/// and a layer of its own holding /own.txt = @word (so that no other
/// image of the tests shares it).
fn own_image(dir: &Path, word: &str) {
    let script = format!(
        "import sys; sys.path.insert(0, {images:?}); import build\n\
         t = build.Tar(); t.add('own.txt', data={word:?}.encode())\n\
         im = build.Image([(build.busybox_layer(), 'gzip'), (t.raw(), 'gzip')])\n\
         build.write_layout(im, {dir:?})\n",
        images = repo_root().join("tests/images").display().to_string(),
        dir = dir.display().to_string(),
    );
    let out = Command::new("python3").arg("-c").arg(script).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn tar_names(path: &Path) -> Vec<String> {
    let out = Command::new("tar").arg("-tf").arg(path).output().unwrap();
    assert!(out.status.success(), "tar -tf {}", path.display());
    String::from_utf8(out.stdout).unwrap().lines().map(str::to_owned).collect()
}

/// An image saved (OCI, then docker) and loaded back under other tags;
/// a sandbox made from it keeps its layer after the image is removed,
/// and a prune after the sandbox is gone frees it.
#[tokio::test]
async fn save_load_and_prune() {
    seed_registry();
    let dir = std::env::temp_dir().join(unique("rust-own-image"));
    let word = unique("own-layer");
    own_image(&dir.join("layout"), &word);
    let tag = format!("{}:1", unique("rust-own"));
    // Its progress: every event names a layer of its count, and its own
    // layer (the top one) is converted.
    let loaded = Events::new();
    let orig =
        images::load_with(dir.join("layout").to_str().unwrap(), |o| o.tag(&tag).progress(loaded.add())).await.unwrap();
    let evs = loaded.take();
    assert!(evs.iter().all(|e| e.count == orig.layers && e.index < e.count), "{evs:#?}");
    assert!(
        evs.iter().any(|e| e.phase == "converting"
            && e.index == orig.layers - 1
            && e.digest.as_deref().is_some_and(|d| d.starts_with("sha256:"))),
        "the load does not convert its own layer: {evs:#?}"
    );
    // its record: the OCI config a sandbox's defaults come from, and its
    // two layers (busybox's and its own)
    let rec: serde_json::Value = serde_json::from_str(&images::inspect(&tag).await.unwrap()).unwrap();
    assert_eq!((rec["reference"].as_str(), rec["digest"].as_str()), (Some(&*tag), Some(&*orig.digest)), "{rec}");
    assert_eq!(rec["config"]["config"]["Cmd"], serde_json::json!(["sh"]), "{rec}");
    assert_eq!(rec["layers"].as_array().map(Vec::len), Some(2), "{rec}");

    let oci = dir.join("oci.tar");
    images::save(&tag, oci.to_str().unwrap(), SaveFormat::Oci).await.unwrap();
    let names = tar_names(&oci);
    assert_eq!(names[..2], ["oci-layout", "index.json"], "{names:?}");
    assert!(names.contains(&format!("blobs/sha256/{}", &orig.digest[7..])), "{names:?}");
    assert!(!names.iter().any(|n| n == "manifest.json"), "{names:?}");
    let copy = format!("{}:copy", tag.split(':').next().unwrap());
    let back = images::load(oci.to_str().unwrap(), Some(&copy)).await.unwrap();
    assert_eq!(
        (back.reference.as_str(), back.digest.as_str(), back.id.as_str()),
        (copy.as_str(), orig.digest.as_str(), orig.id.as_str())
    );

    // (through the blocking API)
    let docker = dir.join("docker.tar");
    let (t, d) = (tag.clone(), docker.to_str().unwrap().to_owned());
    tokio::task::spawn_blocking(move || microsandbox::blocking::images::save(&t, &d, SaveFormat::Docker))
        .await
        .unwrap()
        .unwrap();
    assert!(tar_names(&docker).iter().any(|n| n == "manifest.json"), "{:?}", tar_names(&docker));
    let c = copy.clone();
    let brec = tokio::task::spawn_blocking(move || microsandbox::blocking::images::inspect(&c)).await.unwrap().unwrap();
    let brec: serde_json::Value = serde_json::from_str(&brec).unwrap();
    assert_eq!((&brec["reference"], &brec["layers"]), (&serde_json::json!(copy), &rec["layers"]), "{brec}");
    let dtag = format!("{}:docker", tag.split(':').next().unwrap());
    assert_eq!(images::load(docker.to_str().unwrap(), Some(&dtag)).await.unwrap().id, orig.id);
    let e = images::save("no-such-image:1", oci.to_str().unwrap(), SaveFormat::Oci).await.unwrap_err();
    assert!(matches!(e, Error::NotFound(_) | Error::ImageNotFound(_)), "{e:?}");
    std::fs::remove_dir_all(&dir).unwrap();

    // the sandbox keeps the layer of the images removed; its removal
    // leaves it to a prune
    let sb = Sandbox::builder(unique("own")).image(&tag).create().await.unwrap();
    assert_eq!(sb.exec("cat /own.txt").await.unwrap().stdout_str(), word);
    for t in [&tag, &copy, &dtag] {
        images::remove(t).await.unwrap();
    }
    assert!(images::list().await.unwrap().iter().all(|i| i.id != orig.id));
    let e = images::inspect(&tag).await.unwrap_err();
    assert!(matches!(e, Error::NotFound(_)), "{e:?}");
    sb.remove().await.unwrap();
    let pruned = images::prune().await.unwrap();
    assert!(pruned.freed_bytes > 0 && pruned.files > 0, "{pruned:?}");
    assert!(
        !microsandbox::home().join("layers").read_dir().unwrap().any(|e| {
            let p = e.unwrap().path();
            std::fs::read(&p).is_ok_and(|b| b.windows(word.len()).any(|w| w == word.as_bytes()))
        }),
        "a layer holding /own.txt outlived the prune"
    );
}

/// What the seed images' pulls from the registry reported (through the
/// blocking API; common::seed_registry): each resolved first, then named
/// layers of its count; each blob's download never went back and ended
/// at its last byte; the first, into an empty store, downloaded and
/// converted.
#[test]
fn seed_pulls_progress() {
    if seed_registry().is_none() {
        return;
    }
    let pulls = SEED_PULLS.lock().unwrap();
    assert!(!pulls.is_empty());
    for (info, evs) in pulls.iter() {
        let what = &info.reference;
        assert!(!evs.is_empty() && evs[0].phase == "resolving", "{what}: {evs:#?}");
        let mut last: std::collections::HashMap<&str, u64> = Default::default();
        for e in &evs[1..] {
            assert!(e.count == info.layers && e.index < e.count && e.digest.is_some(), "{what}: {e:?}");
            if e.phase == "downloading" {
                let prev = last.insert(e.digest.as_deref().unwrap(), e.done).unwrap_or(0);
                assert!(e.done >= prev && e.done <= e.total, "{what}: {e:?} after {prev}");
            }
        }
        for e in evs.iter().rev().filter(|e| e.phase == "downloading") {
            if last.remove(e.digest.as_deref().unwrap()).is_some() {
                assert_eq!(e.done, e.total, "{what}: the last download event of its blob: {e:?}");
            }
        }
    }
    let (first, evs) = &pulls[0];
    for phase in ["downloading", "converting"] {
        assert!(evs.iter().any(|e| e.phase == phase), "{}: no {phase}: {evs:#?}", first.reference);
    }
}

/// alice's login to @host with @password through the blocking API and its
/// insecure option, on a thread of its own.
async fn blocking_insecure_login(host: &str, password: &str) -> microsandbox::Result<()> {
    let (h, p) = (host.to_string(), password.to_string());
    tokio::task::spawn_blocking(move || microsandbox::blocking::images::login_with(&h, "alice", &p, |o| o.insecure()))
        .await
        .unwrap()
}

/// The insecure option reaches libmsb: a registry not on loopback (this
/// host's own address, on a port nothing listens on) is asked over https
/// without it, the error saying to try --insecure, and over plain http
/// with it; neither login is stored.
#[tokio::test]
async fn login_insecure_off_loopback() {
    use std::net::{TcpListener, UdpSocket};
    // The address this host would send from (no packet is sent).
    let ip = match UdpSocket::bind("0.0.0.0:0").and_then(|s| s.connect("192.0.2.1:9").and(s.local_addr())) {
        Ok(a) if !a.ip().is_loopback() && !a.ip().is_unspecified() => a.ip(),
        r => {
            eprintln!("skipped: no address off loopback ({r:?})");
            return;
        }
    };
    let host = match TcpListener::bind((ip, 0)).and_then(|l| l.local_addr()) {
        Ok(a) => a.to_string(), // a port nothing listens on, the listener closed
        Err(e) => {
            eprintln!("skipped: cannot listen on {ip}: {e}");
            return;
        }
    };
    let auth_json = microsandbox::home().join("auth.json");
    let unreachable = |what: &str, e: &Error, scheme: &str| {
        assert!(matches!(e, Error::Os(_)) && e.errno() == Some(libc::EHOSTUNREACH), "{what}: {e:?}");
        contains(what, &e.to_string(), &format!("cannot reach registry {host} ({scheme})"));
    };

    let e = images::login(&host, "alice", "pw").await.unwrap_err();
    unreachable("a login over https", &e, "https");
    contains("a login over https", &e.to_string(), "--insecure");
    let e = images::login_with(&host, "alice", "pw", |o| o.insecure()).await.unwrap_err();
    unreachable("an insecure login", &e, "http");
    assert!(!e.to_string().contains("--insecure"), "{e}");
    let e = blocking_insecure_login(&host, "pw").await.unwrap_err();
    unreachable("an insecure login (blocking)", &e, "http");
    assert!(!std::fs::read_to_string(&auth_json).unwrap_or_default().contains(&host));
}

/// Credentials kept with images::login are what a pull from a registry
/// that demands them uses; images::logout forgets them. A wrong password
/// is refused at the login ([`Error::PermissionDenied`]) and stores
/// nothing: a pull still needs a login, and a login kept before stays as
/// it was.
#[tokio::test]
async fn registry_login_logout() {
    let Some(host) = auth_registry("alice", "pw-alice") else {
        eprintln!("skipped: docker-registry or htpasswd is not installed");
        return;
    };
    let reference = format!("{host}/python:3.12");
    let auth_json = microsandbox::home().join("auth.json");
    let refused = |e: Error| {
        assert!(e.is_image_pull(), "{e:?}");
        contains("a pull without credentials", &e.to_string(), "needs a login");
        contains("a pull without credentials", &e.to_string(), "msb registry login");
    };
    refused(images::pull(&reference, false).await.unwrap_err());

    let wrong = |e: Error| {
        assert!(matches!(e, Error::PermissionDenied(_)), "{e:?}");
        contains("a login with a wrong password", &e.to_string(), "refused the login of 'alice'");
        contains("a login with a wrong password", &e.to_string(), "nothing was stored");
    };
    wrong(images::login(&host, "alice", "wrong").await.unwrap_err());
    assert!(!std::fs::read_to_string(&auth_json).unwrap_or_default().contains(&host));
    refused(images::pull(&reference, false).await.unwrap_err());
    images::login(&host, "alice", "pw-alice").await.unwrap();
    let auth = std::fs::read_to_string(&auth_json).unwrap();
    assert!(auth.contains(&host), "{auth}");
    // (the blocking API's, with its options)
    wrong(blocking_insecure_login(&host, "wrong").await.unwrap_err());
    assert_eq!(std::fs::read_to_string(&auth_json).unwrap(), auth, "a refused login changed auth.json");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&auth_json).unwrap().permissions().mode() & 0o777, 0o600);
    let info = images::pull(&reference, false).await.unwrap();
    assert_eq!(info.reference, reference);
    images::remove(&reference).await.unwrap();

    let h = host.clone();
    tokio::task::spawn_blocking(move || microsandbox::blocking::images::logout(&h)).await.unwrap().unwrap();
    assert!(!std::fs::read_to_string(&auth_json).unwrap_or_default().contains(&host));
    refused(images::pull(&reference, false).await.unwrap_err());
    let e = images::logout(&host).await.unwrap_err();
    assert!(matches!(e, Error::NotFound(_)), "{e:?}");
    let e = images::login("host/with/path", "alice", "pw").await.unwrap_err();
    assert!(matches!(e, Error::Invalid(_)), "{e:?}");
}
