// SPDX-License-Identifier: Apache-2.0
//! microsandbox: every sandbox a microVM with its own Linux kernel, on
//! this machine, with no daemon. This crate binds libmsb, the C library
//! the `msb` command line is built on (one implementation of what a
//! sandbox does), and adds only what makes it Rust: builders, `async fn`
//! on tokio, `Read`/`Write` and `AsyncRead`/`AsyncWrite` streams, typed
//! errors, and `Drop` that cleans up.
//!
//! ```no_run
//! use microsandbox::Sandbox;
//!
//! # async fn f(key: &str) -> microsandbox::Result<()> {
//! let sb = Sandbox::builder("agent")
//!     .image("python:3.12")
//!     .secret_env("OPENAI_API_KEY", key, "api.openai.com")
//!     .create()
//!     .await?;
//! let r = sb.exec("python -c \"print('hello')\"").await?;
//! println!("{} {}", r.exit_code, r.stdout_str()); // a non-zero exit is data
//! # Ok(()) }
//! ```
//!
//! - [`Sandbox`] (async, tokio) and [`blocking::Sandbox`] have the same
//!   calls: `exec`, `exec_args`, `shell`, `command` (then `output`,
//!   `spawn`, `detach`), `fs()`, `snapshot`, `push`, `stats`, `start`,
//!   `stop`, `remove`...
//! - Dropping the handle `create()` returned removes the sandbox, unless
//!   it was built with `keep()`.
//! - Every failure of libmsb is an [`Error`] variant named for its code,
//!   with libmsb's message.
//! - Commands and file streams wait on libmsb's descriptors in tokio's
//!   reactor (`AsyncFd`), never on a thread each.
//! - Inside a sandbox, [`Sandbox::current_runtime`] (and
//!   [`blocking::Sandbox::current_runtime`]) gives a [`Runtime`] that
//!   starts peer sandboxes beside it (docs/spawn.md), runs commands in
//!   them with input, copies files in and out and snapshots and restores
//!   them, speaking the sandbox agent's frames itself: it calls nothing
//!   of libmsb.
//!
//! The library is found at build time with `pkg-config libmsb` (see the
//! README for a build tree in place and for the run-time path).

#![warn(missing_docs)]
#![allow(clippy::needless_doctest_main)]

mod command;
mod config;
mod core;
mod cstr;
mod error;
mod events;
mod files;
mod hooks;
mod info;
mod progress;
mod project;

#[cfg(feature = "tokio")]
mod asyncio;
pub mod blocking;
mod runtime;

#[cfg(feature = "tokio")]
pub use crate::asyncio::{
    images, plugins, volumes, Command, EventStream, EventSubscription, FileReader, FileWriter, Fs, Process,
    ProcessOutput, ProcessStdin, Project, Restoring, Sandbox, Snapshot,
};
pub use crate::runtime::{Peer, PeerBuilder, PeerCommand, PeerInfo, PeerSnapshotInfo, Runtime};

pub use crate::command::{split_command, ExecEvent, ExecResult};
pub use crate::config::{
    Async, AuditLog, Backend, Blocking, ConnectRequest, Context, DnsAction, DnsQuery, DynFileSystem, ExecAction,
    ExecCall, ExecExit, HttpAction, HttpRequest, ImageLoadOptions, ImagePullOptions, InstalledPlugin, LifecycleEvent,
    LoginOptions, MemFs, NamedVolume, NetworkBuilder, OverlayFs, PassthroughFs, Plugin, PluginFs, RateLimiter,
    RestoreOptions, SandboxBuilder, Secret, StopOptions, SyncOptions, VolumeBuilder, VolumeCache,
};
pub use crate::core::{home, remote, set_remote, validate_name};
pub use crate::error::{Error, ExitError, Failure, Result};
pub use crate::events::Event;
pub use crate::files::{CopyOptions, FileInfo, FileOptions, FileType};
pub use crate::hooks::{HttpResponse, HttpResponseAction, HttpResponseHead, EVENT_QUEUE_MAX};
pub use crate::info::{
    ImageInfo, PluginInfo, PortMapping, PruneInfo, SandboxInfo, SaveFormat, SnapshotInfo, Stats, SyncInfo, VolumeInfo,
};
pub use crate::progress::{CopyEvent, ImageEvent, SyncEvent};
pub use crate::project::{ProjectEntry, ProjectEvent, ProjectOptions, ProjectSandbox, SandboxfileError};
