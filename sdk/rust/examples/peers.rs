// SPDX-License-Identifier: Apache-2.0
//! Runs inside a sandbox the host lets spawn (`msb run --allow-spawn 1`):
//! starts a peer beside it, air-gapped, runs a command in it, lists it,
//! and removes it (docs/spawn.md).
//!
//! ```text
//! cargo build --release --example peers
//! msb cp target/release/examples/peers orch:/tmp/peers
//! msb exec orch -- /tmp/peers coder
//! ```

use microsandbox::{Error, Sandbox};

#[tokio::main(flavor = "current_thread")]
async fn main() -> microsandbox::Result<()> {
    let name = std::env::args().nth(1).unwrap_or_else(|| "coder".into());
    let rt = Sandbox::current_runtime().await?;
    let peer = rt.start(&name).network(|n| n.deny_all()).create().await?;
    let r = peer.shell("echo hello from $(hostname)").await?;
    print!("{}", r.stdout_str());
    for p in rt.list().await? {
        println!("{} {} {}", p.name, p.image, p.status);
    }
    match rt.start(format!("{name}-2")).create().await {
        Err(Error::PolicyRefused(f)) => println!("refused: {}", f.message),
        Err(e) => return Err(e),
        Ok(extra) => extra.remove().await?,
    }
    peer.stop().await?;
    peer.remove().await
}
