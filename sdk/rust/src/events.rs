// SPDX-License-Identifier: Apache-2.0
//! A sandbox's events from the host (docs/events.md): its programs'
//! (`msb event emit` inside), the host's and its own (`msb.*`), read in
//! order with [`EventStream::next`] (the async API's stream, in
//! asyncio.rs, waits for this one's socket in tokio's reactor);
//! [`blocking::Sandbox::emit`] sends one to the guest (`msb event wait
//! TOPIC` inside prints its data).
//!
//! [`blocking::Sandbox::emit`]: crate::blocking::Sandbox::emit

use std::ffi::CStr;
use std::ptr;
use std::time::Duration;

use microsandbox_sys as sys;

use crate::cstr::{check, with_op, CArgs};
use crate::error::{Error, Result};

/// One event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Its number in the sandbox's log, from 1.
    pub seq: u64,
    /// When the supervisor took it, seconds since the epoch.
    pub time: f64,
    /// "guest", "host" or "msb".
    pub source: String,
    /// Its topic.
    pub topic: String,
    /// Its data, one JSON value as text ("null" if none).
    pub data: String,
}

/// A reader of a sandbox's events in the blocking API
/// ([`crate::blocking::Sandbox::events`]); dropped, it closes its connection.
pub struct EventStream {
    h: *mut sys::msb_events,
    op: String,
    /// Events it missed: the sandbox's log (its last 4096) moved past them.
    pub dropped: u64,
    ended: bool,
}

// SAFETY: the handle is used by one owner at a time (&mut self).
unsafe impl Send for EventStream {}

fn text(p: *const std::ffi::c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        // SAFETY: libmsb's NUL-terminated string, valid until the next call.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }
}

impl EventStream {
    pub(crate) fn open(name: &str, topic: Option<&str>, since: i64, follow: bool) -> Result<EventStream> {
        let op = format!("events of sandbox {name}");
        let mut a = CArgs::new();
        let cname = with_op(a.str(name), &op)?;
        let ctopic = match topic {
            Some(t) => with_op(a.str(t), &op)?,
            None => ptr::null(),
        };
        let mut h: *mut sys::msb_events = ptr::null_mut();
        check(|| op.clone(), |e| unsafe { sys::msb_events_open(cname, ctopic, since, follow as i32, &mut h, e) })?;
        Ok(EventStream { h, op, dropped: 0, ended: false })
    }

    /// The next event, waiting up to @timeout (None: as long as it takes);
    /// `Ok(None)` at the end (the log read to its end without follow, or
    /// the sandbox stopped) or when the time ran out before one came.
    pub fn next(&mut self, timeout: Option<Duration>) -> Result<Option<Event>> {
        let ms = timeout.map_or(-1, |d| d.as_millis().min(i32::MAX as u128) as i32);
        match self.step(ms)? {
            Step::Event(ev) => Ok(Some(ev)),
            Step::Nothing | Step::End => Ok(None),
        }
    }

    /// The socket to poll for readability (the async API's reader).
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn fd(&self) -> std::os::fd::RawFd {
        // SAFETY: a live handle.
        unsafe { sys::msb_events_fd(self.h) }
    }

    /// One event, waiting up to @ms (0: only what is held or readable
    /// now; -1: as long as it takes).
    pub(crate) fn step(&mut self, ms: i32) -> Result<Step> {
        loop {
            if self.h.is_null() || self.ended {
                return Ok(Step::End);
            }
            // SAFETY: plain C structs; zeroes are valid values.
            let mut ev: sys::msb_event = unsafe { std::mem::zeroed() };
            let mut err: sys::msb_error = unsafe { std::mem::zeroed() };
            // SAFETY: a live handle; @ev and @err outlive the call.
            let r = unsafe { sys::msb_events_next(self.h, &mut ev, ms, &mut err) };
            if r == 0 {
                return Ok(Step::Nothing);
            }
            if r == sys::MSB_E_STOPPED {
                self.ended = true;
                return Ok(Step::End);
            }
            if r < 0 {
                self.ended = true;
                return Err(Error::from_c(self.op.clone(), r, &err));
            }
            if ev.dropped != 0 {
                self.dropped += ev.dropped;
                continue;
            }
            return Ok(Step::Event(Event {
                seq: ev.seq,
                time: ev.time,
                source: text(ev.source),
                topic: text(ev.topic),
                data: text(ev.data),
            }));
        }
    }
}

/// What one read of a stream gave.
pub(crate) enum Step {
    Event(Event),
    /// Nothing held or readable within the time.
    Nothing,
    /// No more: the log read to its end, or the sandbox stopped.
    End,
}

impl Drop for EventStream {
    fn drop(&mut self) {
        if !self.h.is_null() {
            // SAFETY: ours, freed once.
            unsafe { sys::msb_events_free(self.h) };
            self.h = ptr::null_mut();
        }
    }
}

pub(crate) fn emit(name: &str, topic: &str, data_json: &str) -> Result<u64> {
    let op = format!("event {topic} to sandbox {name}");
    let mut a = CArgs::new();
    let (n, t, d) = with_op(a.str(name).and_then(|n| Ok((n, a.str(topic)?, a.str(data_json)?))), &op)?;
    let mut seq = 0u64;
    check(|| op.clone(), |e| unsafe { sys::msb_event_send(n, t, d, &mut seq, e) })?;
    Ok(seq)
}
