// SPDX-License-Identifier: Apache-2.0
//! What the tests share: a private $MSB_HOME, the shared sandbox, the
//! seeds' images from a local docker-registry, and the clean-up at exit
//! (the test harness has no teardown: an atexit handler removes what was
//! made).

use std::collections::HashMap;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex, Once, OnceLock};
use std::time::{Duration, Instant};

use microsandbox::blocking::{self, Sandbox};
use microsandbox::{ImageEvent, ImageInfo, SyncEvent, SyncInfo};

/// The repository's top directory (this crate is sdk/rust).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("..").canonicalize().unwrap()
}

static HOME: OnceLock<PathBuf> = OnceLock::new();
static REGISTRY: Mutex<Option<(Child, PathBuf)>> = Mutex::new(None);
/// Registries started beside the seeds' one (auth_registry), killed at exit.
static MORE_REGISTRIES: Mutex<Vec<Child>> = Mutex::new(Vec::new());

/// Makes the private $MSB_HOME (once, before any libmsb call).
pub fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // A test run in a child process for "another machine" is given
        // its home (and removes it at its exit).
        let dir = match std::env::var_os("MSB_RUST_TEST_HOME") {
            Some(d) => PathBuf::from(d),
            None => std::env::temp_dir().join(format!("msb-rust-test-{}", std::process::id())),
        };
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        std::env::set_var("MSB_HOME", &dir);
        HOME.set(dir).unwrap();
        // SAFETY: a plain extern "C" function with no arguments.
        unsafe { libc::atexit(cleanup) };
    });
}

extern "C" fn cleanup() {
    // Whatever the tests left: sandboxes (killed, removed), snapshots,
    // the registry, the home.
    if let Ok(list) = Sandbox::list() {
        for s in list {
            if let Ok(sb) = Sandbox::get(&s.name) {
                let _ = sb.remove();
            }
        }
    }
    if let Ok(list) = blocking::Snapshot::list() {
        for s in list {
            let _ = blocking::Snapshot::get(&s.name).and_then(|s| s.remove(true));
        }
    }
    if let Ok(mut more) = MORE_REGISTRIES.lock() {
        for mut child in more.drain(..) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
    if let Ok(mut r) = REGISTRY.lock() {
        if let Some((mut child, dir)) = r.take() {
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    if let Some(home) = HOME.get() {
        let _ = std::fs::remove_dir_all(home);
    }
}

/// One sandbox of the built-in image that tests which only run commands
/// and touch files share.
pub fn shared() -> &'static Sandbox {
    static SHARED: OnceLock<Sandbox> = OnceLock::new();
    init();
    SHARED.get_or_init(|| Sandbox::builder("rust-shared").create().expect("booting the shared sandbox"))
}

/// A handle of the async API on the shared sandbox.
pub async fn shared_async() -> microsandbox::Sandbox {
    let name = shared().name().to_owned();
    microsandbox::Sandbox::get(&name).await.unwrap()
}

/// A name no other test uses.
pub fn unique(prefix: &str) -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    format!("{prefix}-{}-{}", std::process::id() % 10000, N.fetch_add(1, std::sync::atomic::Ordering::SeqCst))
}

/// The seeds' images (python:3.12, node:20: busybox stand-ins,
/// tests/images/seed.py) made available as the seeds name them: pushed to
/// a Debian docker-registry on loopback, pulled from it by its address,
/// and stored under the short names with images::load.
/// The seed images' registry host:port and their OCI layouts (ref: dir).
pub fn seed_registry() -> Option<(String, HashMap<String, String>)> {
    static SEEDS: OnceLock<Result<(String, HashMap<String, String>), String>> = OnceLock::new();
    init();
    let r = SEEDS.get_or_init(|| {
        let Some(bin) = which("docker-registry") else {
            return Err(String::new());
        };
        let dir = std::env::temp_dir().join(format!("msb-rust-registry-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let host = format!("127.0.0.1:{port}");
        let cfg = dir.join("config.yml");
        std::fs::write(
            &cfg,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}/data\n\
                 http:\n  addr: {host}\n",
                dir.display()
            ),
        )
        .map_err(|e| e.to_string())?;
        let child = Command::new(bin)
            .arg("serve")
            .arg(&cfg)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?;
        *REGISTRY.lock().unwrap() = Some((child, dir.clone()));
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(&host).is_err() {
            if Instant::now() > deadline {
                return Err(format!("docker-registry does not listen on {host}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = Command::new("python3")
            .arg(repo_root().join("tests/images/seed.py"))
            .arg(format!("http://{host}"))
            .arg(dir.join("layouts"))
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!("tests/images/seed.py: {}", String::from_utf8_lossy(&out.stderr)));
        }
        let layouts: HashMap<String, String> = serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?;
        for (reference, layout) in &layouts {
            // The pull path, from the registry by its address (its
            // progress kept for images::seed_pulls_progress)...
            let events = Events::new();
            let info = blocking::images::pull_with(&format!("{host}/{reference}"), |o| o.progress(events.add()))
                .map_err(|e| e.to_string())?;
            SEED_PULLS.lock().unwrap().push((info, events.take()));
            // ...and the seed's own name for the same image.
            blocking::images::load(layout, Some(reference)).map_err(|e| e.to_string())?;
        }
        Ok((host, layouts))
    });
    match r {
        Ok(h) => Some(h.clone()),
        Err(e) if e.is_empty() => {
            eprintln!("skipped: docker-registry is not installed (./setup --test installs it)");
            None
        }
        Err(e) => panic!("seed images: {e}"),
    }
}

/// The seed images' pulls from the registry (the first into an empty
/// store) and the progress each reported.
pub static SEED_PULLS: Mutex<Vec<(ImageInfo, Vec<ImageEvent>)>> = Mutex::new(Vec::new());

/// A docker-registry on loopback that demands @user's @password
/// (htpasswd, as tests/e2e/test_sync.py's), serving the seeds' registry's
/// storage: its host:port (None without docker-registry or htpasswd).
pub fn auth_registry(user: &str, password: &str) -> Option<String> {
    seed_registry()?;
    let htpasswd = which("htpasswd")?;
    let dir = REGISTRY.lock().unwrap().as_ref().unwrap().1.clone();
    let auth = dir.join(format!("htpasswd-{user}"));
    let st = Command::new(htpasswd).args(["-Bbc"]).arg(&auth).args([user, password]).output().unwrap();
    assert!(st.status.success(), "htpasswd: {}", String::from_utf8_lossy(&st.stderr));
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let host = format!("127.0.0.1:{port}");
    let cfg = dir.join(format!("config-{user}.yml"));
    std::fs::write(
        &cfg,
        format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}/data\n\
             auth:\n  htpasswd:\n    realm: msb-test\n    path: {}\nhttp:\n  addr: {host}\n",
            dir.display(),
            auth.display()
        ),
    )
    .unwrap();
    let child = Command::new(which("docker-registry")?)
        .arg("serve")
        .arg(&cfg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    MORE_REGISTRIES.lock().unwrap().push(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(&host).is_err() {
        assert!(Instant::now() < deadline, "docker-registry does not listen on {host}");
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(host)
}

fn which(cmd: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .chain(["/usr/sbin", "/sbin"])
        .map(|d| Path::new(d).join(cmd))
        .find(|p| p.is_file())
}

/// Asserts that @s contains @sub.
#[track_caller]
pub fn contains(what: &str, s: &str, sub: &str) {
    assert!(s.contains(sub), "{what}: {s:?} does not contain {sub:?}");
}

/// The command of the two full-disk tests (`exec::paused_on_a_full_disk`
/// and `asyncio::async_paused_on_a_full_disk`): it says "ready", waits for
/// a line, writes 24 MiB with fsync (what a full host disk pauses), says
/// "wrote" and waits for another line.
pub const FULL_DISK_CMD: &str =
    "echo ready; read x; dd if=/dev/urandom of=/big bs=1M count=24 conv=fsync 2>/dev/null && echo wrote; read x";

/// Fills the disk under $MSB_HOME (a small tmpfs) until ENOSPC with a file
/// beside $MSB_HOME; returns its path: removing it gives the room back.
pub fn fill_host_disk() -> PathBuf {
    use std::io::Write;
    let home = PathBuf::from(std::env::var_os("MSB_HOME").unwrap());
    let fill = home.parent().unwrap().join("fill");
    let mut f = std::fs::File::create(&fill).unwrap();
    let mib = vec![0u8; 1 << 20];
    let e = loop {
        if let Err(e) = f.write_all(&mib) {
            break e;
        }
    };
    assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{e}");
    fill
}

// ---- progress ---------------------------------------------------------------------------------

/// What a progress closure is given, kept in order.
pub struct Events<E>(Arc<Mutex<Vec<E>>>);

impl<E: Clone + Send + 'static> Events<E> {
    pub fn new() -> Events<E> {
        Events(Arc::new(Mutex::new(Vec::new())))
    }

    /// A progress closure that keeps each event.
    pub fn add(&self) -> impl Fn(&E) + Send + Sync + 'static {
        let v = self.0.clone();
        move |e: &E| v.lock().unwrap().push(e.clone())
    }

    /// The events kept so far, emptied.
    pub fn take(&self) -> Vec<E> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// Asserts what a push or a pull reported, as the Go SDK's tests do: it
/// resolved first, then went through @phases in order (each at least
/// once, nothing else, no image event), the last phase counting up
/// (bytes and chunks never going back) from before its last chunk to
/// the last chunk and byte of @info's disk.
#[track_caller]
pub fn check_sync(what: &str, evs: &[SyncEvent], info: &SyncInfo, phases: &[&str]) {
    assert!(evs.len() >= 2 && evs[0].phase == "resolving", "{what}'s progress: {evs:#?}");
    let mut at: Option<usize> = None;
    let (mut first, mut prev) = (&evs[0], &evs[0]); // of the last phase
    for ev in &evs[1..] {
        assert!(ev.image.is_none(), "{what}'s progress: an image event in phase {:?}", ev.phase);
        let next = at.map_or(0, |i| i + 1);
        if next < phases.len() && ev.phase == phases[next] {
            at = Some(next);
            (first, prev) = (ev, ev);
        } else {
            assert!(
                at.is_some_and(|i| ev.phase == phases[i]),
                "{what}'s progress: {:?} out of order (want {phases:?}): {evs:#?}",
                ev.phase
            );
        }
        if at == Some(phases.len() - 1) {
            assert!(
                ev.chunks_done >= prev.chunks_done && ev.done >= prev.done,
                "{what}'s progress went back: {ev:?} after {prev:?}"
            );
        }
        prev = ev;
    }
    let end = evs.last().unwrap();
    assert!(
        at == Some(phases.len() - 1)
            && first.chunks_done < first.chunks_total
            && end.chunks_total == info.chunks
            && end.chunks_done == end.chunks_total
            && end.total == info.disk_bytes
            && end.done == end.total,
        "{what}'s progress from {first:?} to {end:?}, of {info:?}"
    );
}

/// Asserts what a pull of @info into a store that holds none of its
/// layers reported: it resolved first; then every event names a layer
/// (sha256:..., of the image's count); each layer was downloaded, its
/// bytes never going back, to its last byte, and converted.
#[track_caller]
pub fn check_cold_pull(what: &str, evs: &[ImageEvent], info: &ImageInfo) {
    assert!(!evs.is_empty() && evs[0].phase == "resolving", "{what}'s progress: {evs:#?}");
    let mut last: HashMap<&str, &ImageEvent> = HashMap::new();
    let mut converted = std::collections::HashSet::new();
    for ev in &evs[1..] {
        let digest = ev.digest.as_deref().unwrap_or("");
        assert!(
            ev.count == info.layers && ev.index < ev.count && digest.starts_with("sha256:"),
            "{what}: event {ev:?} of an image of {} layers",
            info.layers
        );
        match ev.phase.as_str() {
            "downloading" => {
                if let Some(prev) = last.get(digest) {
                    assert!(ev.done >= prev.done, "{what}: layer {digest} went back: {ev:?} after {prev:?}");
                }
                last.insert(digest, ev);
            }
            "converting" => {
                converted.insert(ev.index);
            }
            p => panic!("{what}: phase {p:?} in a cold pull: {evs:#?}"),
        }
    }
    assert!(
        last.len() == info.layers as usize && converted.len() == info.layers as usize,
        "{what}: {} layers, {} downloaded and {} converted: {evs:#?}",
        info.layers,
        last.len(),
        converted.len()
    );
    for (d, ev) in last {
        assert!(ev.total > 0 && ev.done == ev.total, "{what}: layer {d}'s last download event: {ev:?}");
    }
}
