//! Arguments from C: the handle, borrowed bytes, out-parameters and
//! timeouts, each checked before use.

use std::time::{Duration, Instant};

use logstore::Log;

use crate::log::logstore_log;
use crate::status::{Failure, FfiResult};

/// The handle behind `log`, or an invalid-argument failure for NULL.
///
/// # Safety
/// `log` is NULL or a pointer from logstore_open() not yet freed.
pub(crate) unsafe fn handle<'a>(log: *const logstore_log) -> FfiResult<&'a Log> {
    // SAFETY: the caller promises a live handle or NULL.
    match unsafe { log.as_ref() } {
        Some(h) => Ok(&h.log),
        None => Err(Failure::invalid("log is NULL")),
    }
}

/// Stores `value` in `*out` if `out` is not NULL.
///
/// # Safety
/// `out` is NULL or valid for a write of `T`.
pub(crate) unsafe fn store<T>(out: *mut T, value: T) {
    if !out.is_null() {
        // SAFETY: the caller promises `out` is writable when non-null.
        unsafe { out.write(value) };
    }
}

/// The `len` bytes at `data`; an invalid-argument failure if `data` is
/// NULL while `len` is not 0.
///
/// # Safety
/// `data` is NULL or valid for reads of `len` bytes for `'a`.
pub(crate) unsafe fn bytes<'a>(data: *const u8, len: usize, what: &str) -> FfiResult<&'a [u8]> {
    if data.is_null() {
        return match len {
            0 => Ok(&[]),
            _ => Err(Failure::invalid(format!("{what} is NULL"))),
        };
    }
    // SAFETY: the caller promises `len` readable bytes at `data`.
    Ok(unsafe { std::slice::from_raw_parts(data, len) })
}

/// A non-null pointer, or an invalid-argument failure naming it.
pub(crate) fn required<T>(ptr: *mut T, what: &str) -> FfiResult<*mut T> {
    if ptr.is_null() {
        return Err(Failure::invalid(format!("{what} is NULL")));
    }
    Ok(ptr)
}

/// A timeout in milliseconds, negative meaning none. One too large to add
/// to the clock is also treated as none.
pub(crate) fn timeout(ms: i64) -> Option<Duration> {
    let d = Duration::from_millis(u64::try_from(ms).ok()?);
    Instant::now().checked_add(d).map(|_| d)
}
