// SPDX-License-Identifier: Apache-2.0
//! The C memory one call's arguments live in: strings and NULL-terminated
//! string vectors that libmsb reads but never keeps.

use std::ffi::{c_char, CStr, CString};
use std::ptr;

use microsandbox_sys as sys;

use crate::error::{Error, Result};

/// Owns the C strings and vectors of one call. Pointers it hands out stay
/// valid while it lives (a CString's buffer and a Vec's never move when
/// the CString or Vec itself is moved into the arena).
#[derive(Default)]
pub(crate) struct CArgs {
    strings: Vec<CString>,
    vectors: Vec<Vec<*const c_char>>,
}

impl CArgs {
    pub(crate) fn new() -> CArgs {
        CArgs::default()
    }

    /// @s as a C string; a NUL byte in it (which C would silently cut
    /// the string at) is an [`Error::Invalid`].
    pub(crate) fn str(&mut self, s: &str) -> Result<*const c_char> {
        let c = CString::new(s).map_err(|_| nul_error(s))?;
        let p = c.as_ptr();
        self.strings.push(c);
        Ok(p)
    }

    /// @s as a C string, or NULL for None.
    pub(crate) fn opt(&mut self, s: Option<&str>) -> Result<*const c_char> {
        match s {
            Some(s) => self.str(s),
            None => Ok(ptr::null()),
        }
    }

    /// @v as a NULL-terminated vector, an empty one included.
    pub(crate) fn strv<S: AsRef<str>>(&mut self, v: &[S]) -> Result<*const *const c_char> {
        let mut out = Vec::with_capacity(v.len() + 1);
        for s in v {
            out.push(self.str(s.as_ref())?);
        }
        out.push(ptr::null());
        let p = out.as_ptr();
        self.vectors.push(out);
        Ok(p)
    }

    /// @v as a NULL-terminated vector, or NULL when it is empty.
    pub(crate) fn strv_or_null<S: AsRef<str>>(&mut self, v: &[S]) -> Result<*const *const c_char> {
        if v.is_empty() {
            Ok(ptr::null())
        } else {
            self.strv(v)
        }
    }
}

fn nul_error(s: &str) -> Error {
    Error::invalid("", format!("{s:?} contains a NUL byte, which no name, path, argument or value may hold"))
}

/// A fixed-size C char array as a String.
pub(crate) fn from_chars(a: &[c_char]) -> String {
    let bytes: &[u8] = unsafe { std::slice::from_raw_parts(a.as_ptr().cast(), a.len()) };
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// A C string libmsb lends (a callback's, or one it keeps), copied;
/// `None` for NULL. @p is NULL or a NUL-terminated string valid while
/// this runs.
pub(crate) fn lossy(p: *const c_char) -> Option<String> {
    // SAFETY: as said above: the callers pass what libmsb lends them.
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}

/// A C string libmsb allocated, as a String; it is freed.
///
/// # Safety
/// @p is NULL or a malloc'ed NUL-terminated string nobody else frees.
pub(crate) unsafe fn take_malloced(p: *mut c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    let s = CStr::from_ptr(p).to_string_lossy().into_owned();
    libc::free(p.cast());
    s
}

/// A zeroed msb_error for one call.
pub(crate) fn cerr() -> sys::msb_error {
    sys::msb_error { code: 0, message: [0; 1024] }
}

/// Runs a libmsb call that returns a code, as a Result with @op.
pub(crate) fn check(op: impl FnOnce() -> String, f: impl FnOnce(*mut sys::msb_error) -> i32) -> Result<i32> {
    let mut e = cerr();
    let r = f(&mut e);
    if r < 0 {
        return Err(Error::from_c(op(), r, &e));
    }
    Ok(r)
}

/// Gives @op to an error made before the call (a NUL byte).
pub(crate) fn with_op<T>(r: Result<T>, op: &str) -> Result<T> {
    r.map_err(|e| match e {
        Error::Invalid(mut f) if f.op.is_empty() => {
            f.op = op.to_owned();
            Error::Invalid(f)
        }
        e => e,
    })
}
