// SPDX-License-Identifier: Apache-2.0
//! The seeds' form that libmsb does not have yet: spawning peers from
//! inside a sandbox. They compile, so that code
//! written against the seeds builds, and fail with `Error::NotSupported`
//! saying what to use meanwhile; spawning never happens by accident.

use crate::error::Error;

/// Whether this program runs inside a microsandbox (the guest agent is
/// its system's init).
#[cfg_attr(not(feature = "tokio"), allow(dead_code))]
pub(crate) fn inside_sandbox() -> bool {
    std::fs::read_to_string("/proc/1/comm").is_ok_and(|s| s.trim() == "msb-agent")
}

#[cfg_attr(not(feature = "tokio"), allow(dead_code))]
pub(crate) fn runtime_refused() -> Error {
    if !inside_sandbox() {
        return Error::not_supported("current runtime", "this program is not running inside a microsandbox");
    }
    Error::not_supported("current runtime", "spawning peer sandboxes from inside a sandbox is not supported yet")
}
