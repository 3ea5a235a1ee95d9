// SPDX-License-Identifier: Apache-2.0
//! The stand-in for the agent's socket that tests/runtime.rs and
//! tests/peerops.rs speak to (docs/agent-protocol.md §7c): its frames,
//! its socket (made once for the test program, each connection served by
//! the program's own serve() on a thread of its own) and the turns the
//! tests take with it, the runtime's socket being the program's.
#![allow(dead_code)] // each program uses what it needs

use std::io::Read;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::OnceLock;

use microsandbox::Runtime;

pub const STDIN: u8 = 3;
pub const WINDOW: u8 = 7;
pub const STDOUT: u8 = 67;
pub const STDERR: u8 = 68;
pub const EXIT: u8 = 69;
pub const RESULT: u8 = 73;
pub const PEER: u8 = 76;

/// A frame of @kind on stream 0 carrying @p.
pub fn frame(kind: u8, p: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; 12];
    b[..4].copy_from_slice(&(p.len() as u32).to_be_bytes());
    b[8] = kind;
    b.extend_from_slice(p);
    b
}

/// A RESULT frame: @errno (0 for success) and, if any, @msg.
pub fn result(errno: u32, msg: &str) -> Vec<u8> {
    let mut p = vec![31, 0, 0, 0, 4];
    p.extend_from_slice(&errno.to_be_bytes());
    if !msg.is_empty() {
        p.push(32);
        p.extend_from_slice(&(msg.len() as u32).to_be_bytes());
        p.extend_from_slice(msg.as_bytes());
    }
    frame(RESULT, &p)
}

/// An EXIT frame: status @code, no signal.
pub fn exit(code: i32) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(&0u32.to_be_bytes());
    frame(EXIT, &p)
}

/// The next frame from the program (None once it closed).
pub fn read_frame(c: &mut UnixStream) -> Option<(u8, Vec<u8>)> {
    let mut h = [0u8; 12];
    c.read_exact(&mut h).ok()?;
    assert_eq!(&h[4..8], &[0, 0, 0, 0], "a frame on stream 0");
    let mut p = vec![0u8; u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as usize];
    c.read_exact(&mut p).ok()?;
    Some((h[8], p))
}

static DIR: OnceLock<PathBuf> = OnceLock::new();

extern "C" fn remove_dir() {
    if let Some(d) = DIR.get() {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// The stand-in's socket, made once for this program with @serve
/// answering each connection (its directory removed when the program
/// exits).
pub fn agent(serve: fn(UnixStream)) -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = DIR.get_or_init(|| std::env::temp_dir().join(format!("msb-rust-agent-{}", std::process::id())));
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).unwrap();
        // SAFETY: remove_dir is a plain function, run once at exit.
        unsafe { libc::atexit(remove_dir) };
        let path = dir.join("agent.sock");
        let l = UnixListener::bind(&path).unwrap();
        std::thread::spawn(move || {
            for c in l.incoming().flatten() {
                std::thread::spawn(move || serve(c));
            }
        });
        path
    })
}

static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Takes a test's turn with the stand-in (@serve's), the runtime pointed
/// at it; the caller clears its own records.
pub async fn take_turn(serve: fn(UnixStream)) -> tokio::sync::MutexGuard<'static, ()> {
    let g = TURN.lock().await;
    Runtime::set_agent_socket(agent(serve));
    g
}
