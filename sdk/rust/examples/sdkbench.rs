// SPDX-License-Identifier: Apache-2.0
//! The Rust SDK's side of bench/sdk.py, one measurement per run, as
//! bench/sdkbench.c is the C API's (same arguments, same output):
//!
//!   sdkbench NAME exec N            N round trips of `true` (sb.exec_args)
//!   sdkbench NAME write GUEST HOST  HOST's bytes into GUEST (fs().write_from)
//!   sdkbench NAME read GUEST HOST   GUEST's bytes into HOST (fs().read_to)
//!
//! prints microseconds, one line per call for exec, one line otherwise.

use std::time::Instant;

use microsandbox::{FileOptions, Sandbox};

#[tokio::main(flavor = "current_thread")]
async fn main() -> microsandbox::Result<()> {
    let a: Vec<String> = std::env::args().collect();
    if a.len() < 4 {
        eprintln!("usage: sdkbench NAME exec N | write|read GUEST HOST");
        std::process::exit(2);
    }
    let sb = Sandbox::get(&a[1]).await?;
    match a[2].as_str() {
        "exec" => {
            for _ in 0..a[3].parse::<u32>().unwrap_or(1) {
                let t0 = Instant::now();
                let r = sb.exec_args(["true"]).await?;
                assert_eq!(r.exit_code, 0);
                println!("{}", t0.elapsed().as_micros());
            }
        }
        "write" if a.len() == 5 => {
            let mut f = tokio::fs::File::open(&a[4]).await?;
            let t0 = Instant::now();
            sb.fs().write_from(&a[3], &mut f, FileOptions::new()).await?;
            println!("{}", t0.elapsed().as_micros());
        }
        "read" if a.len() == 5 => {
            let mut f = tokio::fs::File::create(&a[4]).await?;
            let t0 = Instant::now();
            sb.fs().read_to(&a[3], &mut f).await?;
            tokio::io::AsyncWriteExt::flush(&mut f).await?;
            println!("{}", t0.elapsed().as_micros());
        }
        _ => {
            eprintln!("usage: sdkbench NAME exec N | write|read GUEST HOST");
            std::process::exit(2);
        }
    }
    Ok(())
}
