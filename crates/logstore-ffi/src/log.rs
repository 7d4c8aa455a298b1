//! The log handle: open, close, free, and the calls on the whole log.

use std::ffi::{c_char, CStr, OsStr};
use std::os::unix::ffi::OsStrExt;

use logstore::Log;

use crate::args::{handle, required};
use crate::options::{logstore_options, logstore_options_default};
use crate::status::{guard, logstore_status, Failure};

/// An open log. Created by logstore_open(), released by logstore_free().
/// Every function taking a `const logstore_log *` may be called from
/// several threads at once on the same handle.
pub struct logstore_log {
    pub(crate) log: Log,
}

/// Opens (by default creating) the log in directory `dir`, a NUL-terminated
/// path. `options` may be NULL for logstore_options_default(). On success
/// `*out` is the new handle, to be released with logstore_free(); on error
/// `*out` is set to NULL.
///
/// Errors: `LOGSTORE_ERR_LOCKED` if another handle holds the directory for
/// writing, `LOGSTORE_ERR_CORRUPTION`, `LOGSTORE_ERR_INVALID_ARGUMENT` (NULL
/// `dir` or `out`, bad options), `LOGSTORE_ERR_IO`.
///
/// # Safety
/// `dir` is NULL or a NUL-terminated string; `options` is NULL or points to
/// a `logstore_options`; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn logstore_open(
    dir: *const c_char,
    options: *const logstore_options,
    out: *mut *mut logstore_log,
) -> logstore_status {
    guard(|| {
        let out = required(out, "out")?;
        // SAFETY: `out` is non-null and the caller promises it is writable.
        unsafe { out.write(std::ptr::null_mut()) };
        if dir.is_null() {
            return Err(Failure::invalid("dir is NULL"));
        }
        // SAFETY: the caller promises a NUL-terminated string.
        let dir = OsStr::from_bytes(unsafe { CStr::from_ptr(dir) }.to_bytes());
        // SAFETY: the caller promises NULL or a valid options struct.
        let options = unsafe { options.as_ref() }
            .copied()
            .unwrap_or_else(|| logstore_options_default())
            .to_options()?;
        let log = Log::open(dir, options)?;
        let handle = Box::into_raw(Box::new(logstore_log { log }));
        // SAFETY: as above.
        unsafe { out.write(handle) };
        Ok(())
    })
}

/// Flushes, syncs and closes the log and releases its directory lock. The
/// handle stays allocated: later calls on it fail with
/// `LOGSTORE_ERR_CLOSED` (except the position queries), and it must still
/// be released with logstore_free(). Closing twice is not an error.
///
/// Errors: as logstore_sync(); the log is closed in any case.
///
/// # Safety
/// `log` is NULL or a handle not yet freed.
#[no_mangle]
pub unsafe extern "C" fn logstore_close(log: *const logstore_log) -> logstore_status {
    // SAFETY: forwarded caller promise.
    guard(|| Ok(unsafe { handle(log) }?.close()?))
}

/// Releases a handle and the directory lock. If logstore_close() was not
/// called, records buffered in the process are handed to the OS but not
/// synced, and no error is reported: call logstore_close() first for
/// durability and errors. NULL is ignored. No other thread may be using
/// the handle, and it must not be used afterwards. Iterators created from
/// it remain usable.
///
/// # Safety
/// `log` is NULL or a handle from logstore_open() not yet freed.
#[no_mangle]
pub unsafe extern "C" fn logstore_free(log: *mut logstore_log) {
    if log.is_null() {
        return;
    }
    // SAFETY: the pointer came from Box::into_raw in logstore_open and the
    // caller promises it is not freed yet nor in use.
    let handle = unsafe { Box::from_raw(log) };
    // Dropping flushes buffered records and stops background threads; a
    // panic there must not unwind into C.
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(handle)));
}

/// Makes every record appended so far durable.
///
/// Errors: `LOGSTORE_ERR_IO` (the log is then poisoned, and records since
/// the last successful sync may be lost in a crash), `LOGSTORE_ERR_POISONED`,
/// `LOGSTORE_ERR_CLOSED`, `LOGSTORE_ERR_READ_ONLY`.
///
/// # Safety
/// `log` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn logstore_sync(log: *const logstore_log) -> logstore_status {
    // SAFETY: forwarded caller promise.
    guard(|| Ok(unsafe { handle(log) }?.sync()?))
}

/// Writes records buffered in the process (see `write_buffer`) to the OS,
/// without syncing.
///
/// Errors: as logstore_sync().
///
/// # Safety
/// `log` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn logstore_flush(log: *const logstore_log) -> logstore_status {
    // SAFETY: forwarded caller promise.
    guard(|| Ok(unsafe { handle(log) }?.flush()?))
}

/// Re-reads the directory so a read-only handle sees what the writer did
/// since it opened. Does nothing on a writer.
///
/// Errors: as logstore_open().
///
/// # Safety
/// `log` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn logstore_refresh(log: *const logstore_log) -> logstore_status {
    // SAFETY: forwarded caller promise.
    guard(|| Ok(unsafe { handle(log) }?.refresh()?))
}

/// Waits until the disk space released by earlier truncations has been
/// given back to the file system.
///
/// # Safety
/// `log` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn logstore_wait_reclaimed(log: *const logstore_log) -> logstore_status {
    guard(|| {
        // SAFETY: forwarded caller promise.
        unsafe { handle(log) }?.wait_reclaimed();
        Ok(())
    })
}
