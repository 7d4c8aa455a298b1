//! Positions, reads, replay and waiting for a position.

use std::ffi::{c_int, c_void};

use crate::args::{handle, required, store, timeout};
use crate::log::logstore_log;
use crate::record::{logstore_record, Record};
use crate::status::{guard, logstore_status, Failure};

/// Called by logstore_replay() with each record: `ctx` as given to
/// logstore_replay(), the record's position, and its `len` bytes at `data`
/// (owned by logstore, valid only during the call). Return 0 to go on,
/// non-zero to stop. It must not unwind (no C++ exception, no longjmp).
pub type logstore_replay_fn = Option<
    unsafe extern "C" fn(ctx: *mut c_void, position: u64, data: *const u8, len: usize) -> c_int,
>;

/// Stores the position the next append will get (the "get_position" of the
/// original interface) in `*out`.
///
/// # Safety
/// `log` is NULL or a live handle; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn logstore_next_position(
    log: *const logstore_log,
    out: *mut u64,
) -> logstore_status {
    guard(|| {
        let out = required(out, "out")?;
        // SAFETY: forwarded caller promises.
        unsafe { out.write(handle(log)?.next_position()) };
        Ok(())
    })
}

/// Stores the oldest position kept in `*out` (equal to the next position
/// when the log is empty).
///
/// # Safety
/// `log` is NULL or a live handle; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn logstore_first_position(
    log: *const logstore_log,
    out: *mut u64,
) -> logstore_status {
    guard(|| {
        let out = required(out, "out")?;
        // SAFETY: forwarded caller promises.
        unsafe { out.write(handle(log)?.first_position()) };
        Ok(())
    })
}

/// Reads the record at `position` into `*out`. The record's bytes are
/// owned by the caller afterwards: release them with
/// logstore_record_free(). `*out` is emptied (NULL data) first, so freeing
/// it is safe whatever the outcome.
///
/// Errors: `LOGSTORE_ERR_TRUNCATED` before the first position,
/// `LOGSTORE_ERR_OUT_OF_RANGE` at or after the next position,
/// `LOGSTORE_ERR_CORRUPTION`, `LOGSTORE_ERR_IO`.
///
/// # Safety
/// `log` is NULL or a live handle; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn logstore_read(
    log: *const logstore_log,
    position: u64,
    out: *mut logstore_record,
) -> logstore_status {
    guard(|| {
        let out = required(out, "out")?;
        // SAFETY: `out` is non-null and the caller promises it is writable.
        unsafe { out.write(logstore_record::EMPTY) };
        // SAFETY: forwarded caller promise.
        let data = unsafe { handle(log) }?.read(position)?;
        // SAFETY: as above.
        unsafe { out.write(Record { position, data }.into_c()) };
        Ok(())
    })
}

/// Calls `callback(ctx, position, data, len)` for each record from `from`
/// on, in order, until the end of the log or until the callback returns
/// non-zero. Stores how many records were passed in `*out_count` (may be
/// NULL). The callback may call other logstore functions on the same
/// handle.
///
/// Errors: `LOGSTORE_ERR_TRUNCATED` if `from` (or, while replaying, the
/// next record) is before the first position; `LOGSTORE_ERR_OUT_OF_RANGE`
/// if `from` is past the next position; `LOGSTORE_ERR_CORRUPTION`;
/// `LOGSTORE_ERR_INVALID_ARGUMENT` for a NULL callback.
///
/// # Safety
/// `log` is NULL or a live handle; `callback` is NULL or a function that
/// follows the rules of `logstore_replay_fn`; `out_count` is NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn logstore_replay(
    log: *const logstore_log,
    from: u64,
    callback: logstore_replay_fn,
    ctx: *mut c_void,
    out_count: *mut u64,
) -> logstore_status {
    guard(|| {
        // SAFETY: forwarded caller promise.
        let log = unsafe { handle(log) }?;
        let callback = callback.ok_or_else(|| Failure::invalid("callback is NULL"))?;
        let count = log.replay(from, |position, record| {
            // SAFETY: the caller promises the callback follows the
            // logstore_replay_fn contract; the record outlives the call.
            unsafe { callback(ctx, position, record.as_ptr(), record.len()) == 0 }
        })?;
        // SAFETY: forwarded caller promise.
        unsafe { store(out_count, count) };
        Ok(())
    })
}

/// Blocks until a record exists at `position` or `timeout_ms` milliseconds
/// pass (negative: no limit). Stores whether it exists in `*out_exists`
/// (may be NULL). On a read-only handle this polls the files.
///
/// Errors: `LOGSTORE_ERR_CLOSED` if the log is closed while waiting.
///
/// # Safety
/// `log` is NULL or a live handle; `out_exists` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn logstore_wait_for(
    log: *const logstore_log,
    position: u64,
    timeout_ms: i64,
    out_exists: *mut bool,
) -> logstore_status {
    guard(|| {
        // SAFETY: forwarded caller promise.
        let exists = unsafe { handle(log) }?.wait_for(position, timeout(timeout_ms))?;
        // SAFETY: forwarded caller promise.
        unsafe { store(out_exists, exists) };
        Ok(())
    })
}
