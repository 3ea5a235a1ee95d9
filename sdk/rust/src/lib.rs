// SPDX-License-Identifier: Apache-2.0
//! microsandbox: every sandbox a microVM with its own Linux kernel, on
//! this machine, with no daemon. This crate binds libmsb, the C library
//! the `msb` command line is built on (one implementation of what a
//! sandbox does), and adds only what makes it Rust: builders, `async fn`
//! on tokio, `Read`/`Write` and `AsyncRead`/`AsyncWrite` streams, typed
//! errors, and `Drop` that cleans up.

#![warn(missing_docs)]
#![allow(clippy::needless_doctest_main)]

mod command;
mod config;
mod core;
mod cstr;
mod error;
mod files;
mod future;
mod info;

pub mod blocking;

pub use crate::command::{split_command, ExecEvent, ExecResult};
pub use crate::config::{
    Async, Backend, Blocking, Context, DnsAction, DnsQuery, DynFileSystem, HttpAction, HttpRequest, MemFs,
    NetworkBuilder, OverlayFs, PassthroughFs, Plugin, PluginFs, RestoreOptions, SandboxBuilder, Secret,
    VolumeBuilder,
};
pub use crate::core::{home, validate_name};
pub use crate::error::{Error, ExitError, Failure, Result};
pub use crate::files::{FileInfo, FileOptions, FileType};
pub use crate::info::{ImageInfo, PortMapping, SandboxInfo, SnapshotInfo, Stats};
