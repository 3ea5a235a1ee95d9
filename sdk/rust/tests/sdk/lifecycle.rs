// SPDX-License-Identifier: Apache-2.0
//! Sandboxes through their life, and bad input, through the blocking API.

use microsandbox::blocking::{Sandbox, Snapshot};
use microsandbox::{Error, MemFs, NamedVolume, PassthroughFs, VolumeCache};

use crate::common::{contains, init, shared, unique};

/// Bad input is refused before anything boots, with an error of its kind
/// and a message that says what to do.
#[test]
fn create_bad_input() {
    init();
    let b = |name: &str| Sandbox::builder(name);
    let cases: Vec<(&str, microsandbox::blocking::SandboxBuilder, &str, &str)> = vec![
        ("-bad", b("-bad"), "MSB_E_INVALID", "-bad"),
        ("long", b(&"n".repeat(64)), "MSB_E_INVALID", "63"),
        ("nul", b("nul\0name"), "MSB_E_INVALID", "NUL"),
        ("memory", b("ok-name").memory("lots"), "MSB_E_INVALID", "lots"),
        ("volume path", b("ok-name").volume("/proc", |v| v.backend(MemFs::new())), "MSB_E_INVALID", "/proc"),
        (
            "cache timeout",
            b("ok-name")
                .volume("/data", |v| Ok(v.backend(MemFs::new())?.cache_timeout(std::time::Duration::from_secs(86401)))),
            "MSB_E_INVALID",
            "cache_timeout",
        ),
        (
            "volume dir",
            b("ok-name").volume("/data", |v| v.backend(PassthroughFs::new("/nonexistent-host-dir"))),
            "MSB_E_NOT_FOUND",
            "/nonexistent-host-dir",
        ),
        ("cidr", b("ok-name").network(|n| n.block_cidr("10.0.0.0/33")), "MSB_E_INVALID", "10.0.0.0/33"),
        ("allow", b("ok-name").network(|n| n.allow([""])), "MSB_E_INVALID", ""),
        ("secret hosts", b("ok-name").secret_env("KEY", "v", ""), "MSB_E_INVALID", "KEY"),
        ("ca file", b("ok-name").tls_upstream_ca_file("/nonexistent.pem"), "MSB_E_NOT_FOUND", "/nonexistent.pem"),
        // A plugin type of one's own is not served; a built-in's options are checked.
        ("own plugin", b("ok-name").plugin(OwnPlugin), "EOPNOTSUPP", "OwnPlugin"),
        ("audit-log dir", b("ok-name").plugin(microsandbox::AuditLog::new("")), "MSB_E_INVALID", "audit-log"),
    ];
    for (what, builder, name, message) in cases {
        match builder.create() {
            Ok(_) => panic!("{what}: created"),
            Err(e) => {
                assert_eq!(e.name(), name, "{what}: {e}");
                contains(what, &e.to_string(), message);
                assert!(!e.failure().unwrap().message.is_empty());
            }
        }
    }
    assert!(Sandbox::list().unwrap().iter().all(|s| s.name != "ok-name"), "a refused create left a record");
}

#[test]
fn missing_things() {
    init();
    let e = Sandbox::get("no-such-sandbox").err().unwrap();
    assert!(matches!(e, Error::NotFound(_)), "{e:?}");
    contains("message", &e.to_string(), "no-such-sandbox");
    assert!(matches!(Snapshot::get("no-such-snapshot"), Err(Error::NotFound(_))));
    // A missing image on a registry that is not there: a pull error.
    let e = Sandbox::builder("img-missing").image("127.0.0.1:1/nosuch:1").create().err().unwrap();
    assert!(e.is_image_pull(), "{e:?}");
    assert!(matches!(Sandbox::get("img-missing"), Err(Error::NotFound(_))), "a failed pull left a sandbox");
}

/// One sandbox through its life: get by name, list, stop, a dead
/// sandbox's errors, start, kill, and Drop's rules; its volumes' cache
/// modes in its record.
#[test]
fn lifecycle() {
    init();
    let name = unique("life");
    let vol = unique("vol");
    let sb = Sandbox::builder(&name)
        .env("LIFE", "1")
        .cpus(2)
        .memory("256M")
        .volume("/vol", |v| {
            Ok(v.backend(NamedVolume::new(&vol))?
                .cache(VolumeCache::Always)
                .cache_timeout(std::time::Duration::from_millis(2500)))
        })
        .volume("/mem", |v| Ok(v.backend(MemFs::new())?.cache(VolumeCache::Never)))
        .volume("/plain", |v| v.backend(MemFs::new()))
        .create()
        .unwrap();
    let record: serde_json::Value = serde_json::from_str(&sb.inspect().unwrap()).unwrap();
    let caches: Vec<_> = record["config"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["guest"].clone(), v["cache"].clone(), v["cache_timeout_ms"].clone()))
        .collect();
    use serde_json::{json, Value::Null};
    assert_eq!(
        caches,
        [
            (json!("/vol"), json!("always"), json!(2500)),
            (json!("/mem"), json!("never"), Null),
            (json!("/plain"), Null, Null)
        ],
        "{record}"
    );
    // A named volume is made on first use, kept by the host.
    sb.exec("sh -c 'echo kept > /vol/x'").unwrap();
    let kept = microsandbox::home().join("volumes").join(&vol).join("data/x");
    assert_eq!(std::fs::read_to_string(&kept).unwrap(), "kept\n", "{}", kept.display());
    let used_by = |name: &str| {
        let rec: serde_json::Value =
            serde_json::from_str(&microsandbox::blocking::volumes::inspect(name).unwrap()).unwrap();
        assert_eq!(rec["name"], name, "{rec}");
        (rec["used_by"].clone(), rec["running"].clone())
    };
    assert_eq!(used_by(&vol), (json!([&name]), json!(1)));
    assert!(sb.boot_time() > std::time::Duration::ZERO);
    assert_eq!(sb.name(), name);
    // The same name again is taken.
    assert!(matches!(Sandbox::builder(&name).create(), Err(Error::AlreadyExists(_))));
    let info = sb.info().unwrap();
    assert!(
        info.status == "running"
            && info.running()
            && info.cpus == 2
            && info.memory_mib == 256
            && info.image == "default"
            && info.pid > 0,
        "{info:?}"
    );
    assert!(Sandbox::list().unwrap().iter().any(|s| s.name == name));
    // Another handle by name: dropping it leaves the sandbox running.
    {
        let other = Sandbox::get(&name).unwrap();
        assert_eq!(other.exec("sh -c 'echo $LIFE'").unwrap().stdout_str(), "1\n");
        other.close().unwrap();
        assert!(matches!(other.exec("true"), Err(Error::Closed(_))));
    }
    assert_eq!(sb.info().unwrap().status, "running");
    assert!(sb.log_path().unwrap().exists());
    contains("inspect", &sb.inspect().unwrap(), &name);

    // Stopped: commands and files say it is not running, and how to
    // start it.
    sb.stop_timeout(std::time::Duration::from_secs(3)).unwrap();
    sb.stop().unwrap();
    assert_eq!(sb.info().unwrap().status, "stopped");
    assert!(matches!(sb.exec("true"), Err(Error::NotRunning(_))));
    let dead = Sandbox::get(&name).unwrap();
    let e = dead.exec("true").unwrap_err();
    assert!(matches!(e, Error::NotRunning(_)), "{e:?}");
    contains("message", &e.to_string(), "start");
    assert!(matches!(dead.fs().read("/etc/hostname"), Err(Error::NotRunning(_))));

    // Started again, with its disk as it was.
    sb.start().unwrap();
    sb.start().unwrap();
    assert_eq!(sb.exec("true").unwrap().exit_code, 0);
    sb.kill().unwrap();
    assert_eq!(sb.info().unwrap().status, "stopped");
    // The named volume outlives its sandbox, kept until removed.
    let info = microsandbox::blocking::volumes::info(&vol).unwrap();
    assert!(info.users == 1 && info.running == 0 && info.used_bytes > 0, "{info:?}");
    assert_eq!(used_by(&vol), (json!([&name]), json!(0)));
    assert!(matches!(microsandbox::blocking::volumes::create(&vol, 0), Err(Error::AlreadyExists(_))));
    // Dropping the handle that made it removes it.
    drop(sb);
    assert!(matches!(Sandbox::get(&name), Err(Error::NotFound(_))));
    assert!(microsandbox::blocking::volumes::list().unwrap().iter().any(|v| v.name == vol));
    microsandbox::blocking::volumes::remove(&vol, false).unwrap();
    assert!(matches!(microsandbox::blocking::volumes::info(&vol), Err(Error::NotFound(_))));
    assert!(matches!(microsandbox::blocking::volumes::inspect(&vol), Err(Error::NotFound(_))));
}

/// keep: dropping the handle releases it only; remove deletes.
#[test]
fn keep_and_remove() {
    init();
    let name = unique("keep");
    drop(Sandbox::builder(&name).keep().create().unwrap());
    let again = Sandbox::get(&name).expect("a kept sandbox is gone after drop");
    assert_eq!(again.info().unwrap().status, "running");
    again.remove().unwrap();
    assert!(matches!(Sandbox::get(&name), Err(Error::NotFound(_))));
    assert!(matches!(again.start(), Err(Error::Closed(_))));
}

#[test]
fn stats() {
    let sb = shared();
    sb.exec("true").unwrap();
    let st = sb.stats().unwrap();
    assert!(
        st.name == sb.name()
            && st.running
            && st.status == "running"
            && st.cpus == 1
            && st.memory_limit_bytes == 512 << 20
            && st.memory_rss_bytes > 0
            && !st.uptime.is_zero()
            && !st.cpu_time.is_zero(),
        "{st:?}"
    );
    if st.guest {
        assert!(st.processes > 0 && st.memory_total_bytes > 0 && st.disk_total_bytes > 0, "{st:?}");
    }
    assert!(Sandbox::stats_all(true).unwrap().iter().any(|s| s.name == sb.name()));
}

/// Sync's bad input (the seed's push and pull run in seeds::seed_sync).
#[test]
fn sync_bad_input() {
    let sb = shared();
    let e = sb.push_with(|o| o.to("127.0.0.1:1/nowhere:1")).unwrap_err();
    contains("push to nowhere", &e.to_string(), "127.0.0.1:1");
    let e = Sandbox::pull("127.0.0.1:1/nothing:1").err().unwrap();
    contains("pull from nowhere", &e.to_string(), "127.0.0.1:1");
    assert!(Sandbox::get("nothing").is_err(), "a failed pull left a sandbox");
    let e = Sandbox::pull("a\0b").err().unwrap();
    assert!(matches!(e, Error::Invalid(_)), "{e:?}");
}

/// A plugin type of a program's own (not a built-in).
struct OwnPlugin;
impl microsandbox::Plugin for OwnPlugin {}
