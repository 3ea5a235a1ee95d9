// SPDX-License-Identifier: Apache-2.0
//! Finds libmsb with pkg-config (libmsb.pc, installed by `./setup` or
//! `make install`; a build tree's is build/lib/pkgconfig) and links it.
//!
//! Dependents read the library's directory as DEP_MSB_LIBDIR, to put it in
//! their programs' rpath (cargo passes link arguments only to the package
//! that prints them).

use std::env;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    println!("cargo:rerun-if-env-changed=MSB_LIB_DIR");

    // MSB_LIB_DIR: a directory holding libmsb.so, without pkg-config.
    if let Ok(dir) = env::var("MSB_LIB_DIR") {
        link(&dir);
        return;
    }
    let out = Command::new(env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".into()))
        .args(["--libs-only-L", "libmsb"])
        .output();
    let out = match out {
        Ok(o) => o,
        Err(e) => fail(&format!(
            "cannot run pkg-config ({e}): install it (apt-get install pkg-config), \
             or set MSB_LIB_DIR to the directory holding libmsb.so"
        )),
    };
    if !out.status.success() {
        fail(&format!(
            "{}\nlibmsb was not found: run ./setup at the top of the microsandbox \
             repository (it installs libmsb and libmsb.pc under /usr/local), or point \
             PKG_CONFIG_PATH at a build tree (PKG_CONFIG_PATH=/path/to/microsandbox/build/lib/pkgconfig), \
             or set MSB_LIB_DIR to the directory holding libmsb.so",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let libs = String::from_utf8_lossy(&out.stdout).into_owned();
    let dir = libs
        .split_whitespace()
        .find_map(|w| w.strip_prefix("-L"))
        .map(str::to_owned)
        .unwrap_or_else(|| fail("pkg-config --libs-only-L libmsb names no directory"));
    link(&dir);
}

fn link(dir: &str) {
    println!("cargo:rustc-link-search=native={dir}");
    println!("cargo:rustc-link-lib=dylib=msb");
    // This package's own tests; dependents read DEP_MSB_LIBDIR.
    println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    println!("cargo:libdir={dir}");
}

fn fail(msg: &str) -> ! {
    eprintln!("microsandbox-sys: {msg}");
    std::process::exit(1);
}
