// SPDX-License-Identifier: Apache-2.0
// This package's tests, examples and benches find libmsb.so where
// microsandbox-sys linked it (cargo passes link arguments only to the
// package that prints them; a program of yours does the same in its own
// build.rs, or uses an installed libmsb: see README.md).
fn main() {
    if let Ok(dir) = std::env::var("DEP_MSB_LIBDIR") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
