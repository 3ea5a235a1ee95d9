// SPDX-License-Identifier: Apache-2.0
//! Progress: what libmsb reports while an image is pulled or loaded, a
//! sandbox or a snapshot pushed or pulled, files copied or a project's
//! sandboxes started, and the one way those C callbacks reach a closure.
//!
//! Theory of operation: libmsb calls a callback with its `ctx` from the
//! threads doing the work, one call at a time, only while the libmsb call
//! it was given to runs, with strings valid only during the callback.
//! [`with`] keeps the closure in a `Reporter` on the stack of the thread
//! making the libmsb call, for as long as that call, and gives libmsb its
//! address as `ctx` and the event type's `extern "C"` trampoline as the
//! callback. A trampoline copies the C event into an owned Rust event and
//! hands it to [`report`], which calls the closure. A panic of the closure
//! must not unwind into C: it is caught there, the closure is not called
//! again during that libmsb call (the work itself goes on to its end), and
//! the panic is resumed on the calling thread once libmsb has returned (in
//! the async API, where the call's future is awaited).

use std::any::Any;
use std::ffi::{c_char, c_void};
use std::fmt;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::{Arc, Mutex, PoisonError};

use microsandbox_sys as sys;

use crate::cstr::lossy;

/// How an image pull or load goes (`msb pull`'s progress lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageEvent {
    /// "resolving" (the manifest), "downloading" (a blob), "converting"
    /// (a layer into its disk image) or "repaired" (a stored layer image
    /// was damaged and is made again).
    pub phase: String,
    /// The blob ("sha256:..."), when there is one.
    pub digest: Option<String>,
    /// Bytes of that blob downloaded.
    pub done: u64,
    /// Of how many.
    pub total: u64,
    /// Which layer, from 0 (the bottom one).
    pub index: u32,
    /// Of how many layers.
    pub count: u32,
}

impl ImageEvent {
    /// # Safety
    /// @c and its strings are valid (for the callback's duration).
    unsafe fn from_c(c: &sys::msb_pull_progress) -> ImageEvent {
        ImageEvent {
            phase: lossy(c.phase).unwrap_or_default(),
            digest: lossy(c.digest),
            done: c.done,
            total: c.total,
            index: c.index,
            count: c.count,
        }
    }
}

/// How a push or a pull of a sandbox or a snapshot goes (`msb push`'s and
/// `msb pull`'s progress lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncEvent {
    /// "resolving", "reading" (the local disk), "uploading", "image"
    /// (pulling the image the sandbox or snapshot needs: `image` says how
    /// far), "downloading" or "writing".
    pub phase: String,
    /// Bytes of the disk dealt with; within "uploading" and "downloading"
    /// it only grows, and "reading" counts each file it reads in turn
    /// from 0 (a snapshot's memory, state and disk).
    pub done: u64,
    /// Of all.
    pub total: u64,
    /// Chunks dealt with.
    pub chunks_done: u32,
    /// Of all.
    pub chunks_total: u32,
    /// In phase "image", that image pull's own event; else `None`.
    pub image: Option<ImageEvent>,
}

impl SyncEvent {
    /// # Safety
    /// As [`ImageEvent::from_c`].
    unsafe fn from_c(c: &sys::msb_sync_progress) -> SyncEvent {
        SyncEvent {
            phase: lossy(c.phase).unwrap_or_default(),
            done: c.done,
            total: c.total,
            chunks_done: c.chunks_done,
            chunks_total: c.chunks_total,
            image: c.image.as_ref().map(|i| ImageEvent::from_c(i)),
        }
    }
}

/// How a copy into or out of a guest goes: called for each file as its
/// bytes move.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyEvent {
    /// The file's path in the guest.
    pub path: String,
    /// Its bytes copied so far.
    pub done: u64,
    /// Of how many (its size).
    pub total: u64,
}

/// A progress closure, as the options that take one keep it.
pub(crate) struct Callback<E>(Arc<dyn Fn(&E) + Send + Sync>);

impl<E> Callback<E> {
    pub(crate) fn new(f: impl Fn(&E) + Send + Sync + 'static) -> Callback<E> {
        Callback(Arc::new(f))
    }
}

impl<E> Clone for Callback<E> {
    fn clone(&self) -> Self {
        Callback(self.0.clone())
    }
}

impl<E> fmt::Debug for Callback<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Fn(&")?;
        f.write_str(std::any::type_name::<E>().rsplit("::").next().unwrap_or("_"))?;
        f.write_str(")")
    }
}

/// An event libmsb reports through a callback of its own C type.
pub(crate) trait Event: Sized + 'static {
    /// The callback's type as microsandbox-sys declares it (an `Option`:
    /// its default is no callback).
    type CFn: Default;
    /// The `extern "C"` function that makes the event and reports it.
    const TRAMPOLINE: Self::CFn;
}

/// A closure during one libmsb call, and its panic if it panicked.
struct Reporter<'a, E> {
    f: &'a (dyn Fn(&E) + Send + Sync),
    panic: Mutex<Option<Box<dyn Any + Send>>>,
}

/// Runs @call (a libmsb call) with the callback and the `ctx` that report
/// to @f's closure, or with none when there is no closure; a panic of the
/// closure is resumed once @call has returned.
pub(crate) fn with<E: Event, R>(f: Option<&Callback<E>>, call: impl FnOnce(E::CFn, *mut c_void) -> R) -> R {
    let Some(f) = f else {
        return call(E::CFn::default(), ptr::null_mut());
    };
    let r = Reporter { f: &*f.0, panic: Mutex::new(None) };
    let out = call(E::TRAMPOLINE, &r as *const Reporter<E> as *mut c_void);
    if let Some(p) = r.panic.into_inner().unwrap_or_else(PoisonError::into_inner) {
        resume_unwind(p);
    }
    out
}

/// Gives the event @make builds to the closure of the `Reporter` at @ctx,
/// unless it panicked before; catches its panic.
///
/// # Safety
/// @ctx is the `ctx` [`with`] gave for an event of type @E, during its
/// call.
pub(crate) unsafe fn report<E>(ctx: *mut c_void, make: impl FnOnce() -> E) {
    let r = &*(ctx as *const Reporter<E>);
    // libmsb makes one call at a time: the lock is never waited for.
    let mut panic = r.panic.lock().unwrap_or_else(PoisonError::into_inner);
    if panic.is_none() {
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| (r.f)(&make()))) {
            *panic = Some(p);
        }
    }
}

unsafe extern "C" fn on_image(ctx: *mut c_void, p: *const sys::msb_pull_progress) {
    report(ctx, || ImageEvent::from_c(&*p))
}

unsafe extern "C" fn on_sync(ctx: *mut c_void, p: *const sys::msb_sync_progress) {
    report(ctx, || SyncEvent::from_c(&*p))
}

unsafe extern "C" fn on_copy(ctx: *mut c_void, path: *const c_char, done: u64, total: u64) {
    report(ctx, || CopyEvent { path: lossy(path).unwrap_or_default(), done, total })
}

impl Event for ImageEvent {
    type CFn = sys::msb_pull_progress_fn;
    const TRAMPOLINE: Self::CFn = Some(on_image);
}

impl Event for SyncEvent {
    type CFn = sys::msb_sync_progress_fn;
    const TRAMPOLINE: Self::CFn = Some(on_sync);
}

impl Event for CopyEvent {
    type CFn = sys::msb_copy_progress;
    const TRAMPOLINE: Self::CFn = Some(on_copy);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;

    /// The trampolines copy what C gives; a closure that panics is not
    /// called again, and its panic comes back once the call returns.
    #[test]
    fn reports_copies_and_resumes_a_panic() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        let cb = Callback::new(move |e: &CopyEvent| {
            s.lock().unwrap().push(e.clone());
            if e.done == 2 {
                panic!("a panic of the closure at {}", e.done);
            }
        });
        let path = CString::new("/tmp/f").unwrap();
        let r = catch_unwind(AssertUnwindSafe(|| {
            with(Some(&cb), |f, ctx| {
                let f = f.expect("a trampoline");
                for done in 1..=3 {
                    unsafe { f(ctx, path.as_ptr(), done, 3) };
                }
                "returned"
            })
        }));
        let p = r.expect_err("the closure's panic was resumed");
        assert!(p.downcast_ref::<String>().is_some_and(|m| m == "a panic of the closure at 2"));
        let want = |done| CopyEvent { path: "/tmp/f".into(), done, total: 3 };
        assert_eq!(*seen.lock().unwrap(), [want(1), want(2)]);
        assert_eq!(with::<CopyEvent, _>(None, |f, ctx| (f.is_none(), ctx.is_null())), (true, true));

        let digest = CString::new("sha256:ab").unwrap();
        let phase = CString::new("image").unwrap();
        let pull = sys::msb_pull_progress {
            phase: c"downloading".as_ptr(),
            digest: digest.as_ptr(),
            done: 5,
            total: 9,
            index: 1,
            count: 2,
        };
        let sync = sys::msb_sync_progress {
            phase: phase.as_ptr(),
            done: 1,
            total: 2,
            chunks_done: 3,
            chunks_total: 4,
            image: &pull,
        };
        let got = Arc::new(Mutex::new(None));
        let g = got.clone();
        let cb = Callback::new(move |e: &SyncEvent| *g.lock().unwrap() = Some(e.clone()));
        with(Some(&cb), |f, ctx| unsafe { f.unwrap()(ctx, &sync) });
        let image = ImageEvent {
            phase: "downloading".into(),
            digest: Some("sha256:ab".into()),
            done: 5,
            total: 9,
            index: 1,
            count: 2,
        };
        let want =
            SyncEvent { phase: "image".into(), done: 1, total: 2, chunks_done: 3, chunks_total: 4, image: Some(image) };
        assert_eq!(got.lock().unwrap().take(), Some(want));
    }
}
