// SPDX-License-Identifier: Apache-2.0
//! Runs inside a sandbox the host lets spawn (`msb run --allow-spawn 1`):
//! starts a peer beside it, air-gapped, runs commands in it, shows that
//! the host refuses a second, and removes it (docs/spawn.md). The runtime
//! calls nothing of libmsb, so this program needs none in the guest, only
//! the C library it was built against.
//!
//! ```text
//! cargo build --example peers
//! msb run -d --name orch --allow-spawn 1
//! msb cp target/debug/examples/peers orch:/tmp/peers
//! msb exec orch -- /tmp/peers coder
//! ```
//!
//! Each step prints one line; tests/e2e/test_spawn.py runs it so.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use microsandbox::{Error, Sandbox};

#[tokio::main(flavor = "current_thread")]
async fn main() -> microsandbox::Result<()> {
    let name = std::env::args().nth(1).unwrap_or_else(|| "coder".into());
    let rt = Sandbox::current_runtime().await?;
    let peer = rt.start(&name).network(|n| n.deny_all()).env("GREETING", "hello").create().await?;
    println!("start {}", peer.name());

    let r = peer.shell("echo \"$GREETING from $(hostname)\"; echo to-stderr >&2; exit 3").await?;
    println!("exec {} {:?} {:?}", r.exit_code, r.stdout_str(), r.stderr_str());

    // taken slowly at first, as a busy reader would: the host waits for
    // its credit meanwhile, nothing is lost
    let n = Arc::new(Mutex::new(0usize));
    let m = n.clone();
    let r = peer
        .command("head")
        .args(["-c", "3000000", "/dev/zero"])
        .on_stdout(move |b| {
            let mut n = m.lock().unwrap();
            if *n == 0 {
                std::thread::sleep(Duration::from_secs(2));
            }
            *n += b.len();
        })
        .output()
        .await?;
    println!("big {} {}", n.lock().unwrap(), r.exit_code);

    for p in rt.list().await? {
        println!("list {} {}", p.name, p.status);
    }
    match rt.start(format!("{name}-2")).create().await {
        Err(Error::PolicyRefused(f)) => println!("refused {}", f.message),
        Err(e) => return Err(e),
        Ok(extra) => {
            extra.remove().await?;
            panic!("a second peer was allowed");
        }
    }
    println!("logs {}", peer.logs().await?.contains(&format!("booting {name}")));
    peer.stop().await?;
    peer.remove().await?;
    println!("removed {}", rt.list().await?.len());
    Ok(())
}
