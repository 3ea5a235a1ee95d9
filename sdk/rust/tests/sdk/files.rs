// SPDX-License-Identifier: Apache-2.0
//! Guest files through the blocking API, on the shared sandbox.

use std::io::{Read, Write};

use microsandbox::{CopyEvent, CopyOptions, Error, FileOptions};

use crate::common::{shared, unique, Events};

#[test]
fn files_whole_and_one_shot() {
    let sb = shared();
    let f = sb.fs();
    let dir = format!("/tmp/{}", unique("files"));
    f.mkdir_all(&format!("{dir}/a/b")).unwrap();
    let data = b"hello\0binary\xff\n";
    f.write_with(&format!("{dir}/a/b/f.bin"), data, FileOptions::new().mode(0o600)).unwrap();
    assert_eq!(f.read(&format!("{dir}/a/b/f.bin")).unwrap(), data);
    // What the guest sees, through a command.
    let r = sb.shell(&format!("stat -c '%a %s' {dir}/a/b/f.bin")).unwrap();
    assert_eq!(r.stdout_str(), "600 14\n");
    let st = f.stat(&format!("{dir}/a/b/f.bin")).unwrap();
    assert!(st.size == 14 && st.mode == 0o600 && st.is_file() && st.name == "f.bin", "{st:?}");
    f.write_with(&format!("{dir}/a/b/f.bin"), "more", FileOptions::new().append()).unwrap();
    assert_eq!(f.read(&format!("{dir}/a/b/f.bin")).unwrap(), [&data[..], b"more"].concat());
    f.symlink("b/f.bin", &format!("{dir}/a/link")).unwrap();
    let ls = f.lstat(&format!("{dir}/a/link")).unwrap();
    assert!(ls.is_symlink() && ls.link_target == "b/f.bin", "{ls:?}");
    let names: Vec<String> =
        f.list_with(&dir, FileOptions::new().recursive()).unwrap().into_iter().map(|e| e.name).collect();
    assert_eq!(names, ["a", "a/b", "a/b/f.bin", "a/link"]);
    f.rename(&format!("{dir}/a/b/f.bin"), &format!("{dir}/g.bin")).unwrap();
    assert!(f.exists(&format!("{dir}/g.bin")).unwrap());
    assert!(!f.exists(&format!("{dir}/a/b/f.bin")).unwrap());
    // Errors carry the guest's errno, and map to std::io kinds.
    let e = f.read(&format!("{dir}/nope")).unwrap_err();
    assert!(matches!(e, Error::NotFound(_)) && e.errno() == Some(libc::ENOENT), "{e:?}");
    assert_eq!(std::io::Error::from(e).kind(), std::io::ErrorKind::NotFound);
    let e = f.mkdir_with(&format!("{dir}/a"), FileOptions::new().exclusive()).unwrap_err();
    assert!(matches!(e, Error::AlreadyExists(_)), "{e:?}");
    let e = f.remove(&format!("{dir}/a")).unwrap_err();
    assert_eq!((e.name(), e.errno()), ("ENOTEMPTY", Some(libc::ENOTEMPTY)), "{e:?}");
    let e = f.write_with("/root/x", "x", FileOptions::new().user("1000")).unwrap_err();
    assert!(matches!(e, Error::PermissionDenied(_)), "{e:?}");
    assert!(matches!(f.read("/tmp/a\0b"), Err(Error::Invalid(_))));
    assert!(matches!(f.stat(&"x".repeat(5000)), Err(Error::Invalid(_))));
    f.remove_all(&dir).unwrap();
    assert!(!f.exists(&dir).unwrap(), "remove_all left the directory");
}

/// A reader of @n bytes of a pattern no block repeats.
struct Pattern {
    off: u64,
    n: u64,
}

impl Read for Pattern {
    fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
        let k = (b.len() as u64).min(self.n - self.off) as usize;
        for (i, x) in b[..k].iter_mut().enumerate() {
            let v = self.off + i as u64;
            *x = (v ^ v >> 8 ^ v >> 16) as u8;
        }
        self.off += k as u64;
        Ok(k)
    }
}

fn fnv(h: &mut u64, data: &[u8]) {
    for &b in data {
        *h = (*h ^ b as u64).wrapping_mul(0x100000001b3);
    }
}

/// Streams both ways in bounded memory, checked byte for byte and by the
/// guest's own sha256sum against the host's.
#[test]
fn files_streams() {
    let sb = shared();
    let f = sb.fs();
    const SIZE: u64 = 16 << 20;
    let n = f.write_from("/tmp/stream.bin", &mut Pattern { off: 0, n: SIZE }, FileOptions::new()).unwrap();
    assert_eq!(n, SIZE);
    let r = sb.exec("sha256sum /tmp/stream.bin").unwrap();
    let local = std::env::temp_dir().join(unique("rust-stream"));
    std::io::copy(&mut Pattern { off: 0, n: SIZE }, &mut std::fs::File::create(&local).unwrap()).unwrap();
    let host = std::process::Command::new("sha256sum").arg(&local).output().unwrap();
    std::fs::remove_file(&local).unwrap();
    let want = String::from_utf8_lossy(&host.stdout).split_whitespace().next().unwrap_or("").to_owned();
    assert!(!want.is_empty() && r.stdout_str().starts_with(&want), "guest {:?}, host {want}", r.stdout_str());
    // Small reads, through the held remainder of each chunk.
    let mut rd = f.open("/tmp/stream.bin").unwrap();
    let (mut h1, mut h2) = (0xcbf29ce484222325u64, 0xcbf29ce484222325u64);
    let mut buf = [0u8; 1000];
    let mut total = 0u64;
    loop {
        let k = rd.read(&mut buf).unwrap();
        if k == 0 {
            break;
        }
        fnv(&mut h1, &buf[..k]);
        total += k as u64;
    }
    assert_eq!((total, rd.size()), (SIZE, Some(SIZE)));
    let mut p = Pattern { off: 0, n: SIZE };
    let mut b = vec![0u8; 1 << 20];
    while let Ok(k) = p.read(&mut b) {
        if k == 0 {
            break;
        }
        fnv(&mut h2, &b[..k]);
    }
    assert_eq!(h1, h2, "the bytes read back differ");
    let mut sink = std::io::sink();
    assert_eq!(f.read_to("/tmp/stream.bin", &mut sink).unwrap(), SIZE);
    // A write into a missing directory fails (at once or at finish).
    let e = match f.create("/nonexistent-dir/x") {
        Err(e) => e,
        Ok(mut w) => match std::io::copy(&mut Pattern { off: 0, n: 4 << 20 }, &mut w) {
            Err(e) => microsandbox::Error::from(e.into_inner().unwrap().downcast::<Error>().map(|b| *b).unwrap()),
            Ok(_) => w.finish().unwrap_err(),
        },
    };
    assert!(matches!(e, Error::NotFound(_)), "{e:?}");
    // A writer dropped unfinished stops where it is; one finished says
    // how much it wrote.
    let mut w = f.create("/tmp/partial").unwrap();
    w.write_all(b"abc").unwrap();
    assert_eq!(w.finish().unwrap(), 3);
    f.remove("/tmp/stream.bin").unwrap();
}

#[test]
fn copy_in_out() {
    let sb = shared();
    let src = std::env::temp_dir().join(unique("rust-copy-src"));
    std::fs::create_dir_all(src.join("tree/sub")).unwrap();
    std::fs::write(src.join("tree/sub/x.txt"), "x\n").unwrap();
    std::fs::set_permissions(src.join("tree/sub/x.txt"), std::os::unix::fs::PermissionsExt::from_mode(0o640)).unwrap();
    std::os::unix::fs::symlink("sub/x.txt", src.join("tree/ln")).unwrap();
    let big: Vec<u8> = (0..300u32 << 10).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(src.join("tree/big.bin"), &big).unwrap();
    let dst = format!("/tmp/{}", unique("copy"));
    let copied = Events::new();
    sb.fs().copy_in_with(src.join("tree").to_str().unwrap(), &dst, CopyOptions::new().progress(copied.add())).unwrap();
    let sizes = [(format!("{dst}/big.bin"), big.len() as u64), (format!("{dst}/sub/x.txt"), 2)];
    check_copy("copy_in", &copied.take(), &sizes);
    let r = sb.shell(&format!("cat {dst}/sub/x.txt; stat -c %a {dst}/sub/x.txt; readlink {dst}/ln")).unwrap();
    assert_eq!(r.stdout_str(), "x\n640\nsub/x.txt\n");
    let out = src.join("back");
    sb.fs().copy_out_with(&dst, out.to_str().unwrap(), CopyOptions::new().user("0").progress(copied.add())).unwrap();
    check_copy("copy_out", &copied.take(), &sizes);
    assert_eq!(std::fs::read_to_string(out.join("sub/x.txt")).unwrap(), "x\n");
    assert_eq!(std::fs::read(out.join("big.bin")).unwrap(), big);
    assert_eq!(std::fs::read_link(out.join("ln")).unwrap().to_str(), Some("sub/x.txt"));
    // A closure that panics is not called again; the copy goes on to its
    // end, and the panic comes back once it is over.
    let one = format!("/tmp/{}.bin", unique("panic"));
    let calls = std::sync::atomic::AtomicU32::new(0);
    let calls = std::sync::Arc::new(calls);
    let c = calls.clone();
    let o = CopyOptions::new().progress(move |e| {
        c.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        panic!("progress of {} refused", e.path)
    });
    let p = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        sb.fs().copy_in_with(src.join("tree/big.bin").to_str().unwrap(), &one, o)
    }))
    .expect_err("the closure's panic");
    assert_eq!(p.downcast_ref::<String>().map(String::as_str), Some(&*format!("progress of {one} refused")));
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(sb.fs().read(&one).unwrap(), big);
    let e = sb.fs().copy_in(src.join("nope").to_str().unwrap(), &dst).unwrap_err();
    assert!(matches!(e, Error::NotFound(_)), "{e:?}");
    std::fs::remove_dir_all(&src).unwrap();
}

/// Asserts a copy's progress: each file of @sizes (its guest path, its
/// size) reported, its bytes never going back, its last event at its
/// last byte; nothing else but other files of the tree.
#[track_caller]
fn check_copy(what: &str, evs: &[CopyEvent], sizes: &[(String, u64)]) {
    for (path, size) in sizes {
        let mine: Vec<&CopyEvent> = evs.iter().filter(|e| &e.path == path).collect();
        assert!(!mine.is_empty(), "{what}: nothing of {path}: {evs:#?}");
        assert!(mine.windows(2).all(|w| w[1].done >= w[0].done), "{what}: {path} went back: {mine:#?}");
        assert!(mine.iter().all(|e| e.total == *size), "{what}: {path} is not of {size} bytes: {mine:#?}");
        assert_eq!(mine.last().unwrap().done, *size, "{what}: {path}'s last event");
    }
    assert!(evs.iter().all(|e| e.path.contains('/') && e.done <= e.total), "{what}: {evs:#?}");
}
