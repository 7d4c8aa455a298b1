//! Iterators: create, next (with or without waiting), position, free.

use std::time::{Duration, Instant};

use logstore::{Iter, Result};

use crate::args::{handle, timeout};
use crate::log::logstore_log;
use crate::record::{logstore_record, Record};
use crate::status::{guard, logstore_status, Failure, FfiResult};

/// An iterator over records from a position on. Created by
/// logstore_iter_new(), released by logstore_iter_free(). It sees records
/// appended after its creation. Use one iterator from one thread at a time.
pub struct logstore_iter {
    iter: Iter,
}

/// Creates an iterator starting at position `from` and stores it in `*out`
/// (NULL on error). It holds its own reference to the log's files: it stays
/// usable after logstore_free() of the log.
///
/// # Safety
/// `log` is NULL or a live handle; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn logstore_iter_new(
    log: *const logstore_log,
    from: u64,
    out: *mut *mut logstore_iter,
) -> logstore_status {
    guard(|| {
        if out.is_null() {
            return Err(Failure::invalid("out is NULL"));
        }
        // SAFETY: `out` is non-null and the caller promises it is writable.
        unsafe { out.write(std::ptr::null_mut()) };
        // SAFETY: forwarded caller promise.
        let iter = unsafe { handle(log) }?.iter(from);
        let it = Box::into_raw(Box::new(logstore_iter { iter }));
        // SAFETY: as above.
        unsafe { out.write(it) };
        Ok(())
    })
}

/// Moves to the next record. If there is one, stores it in `*out` (release
/// it with logstore_record_free()) and sets `*out_found` to true. At the end
/// of the log it waits up to `timeout_ms` milliseconds (0: no wait;
/// negative: no limit) for a record to be appended; if none comes,
/// `*out_found` is false and `*out` holds no record. `*out` is emptied
/// first, so freeing it is safe whatever the outcome.
///
/// Errors: `LOGSTORE_ERR_TRUNCATED` if truncate_front passed the iterator,
/// `LOGSTORE_ERR_CORRUPTION`, `LOGSTORE_ERR_IO`, `LOGSTORE_ERR_CLOSED`.
/// After an error the iterator finds no more records.
///
/// # Safety
/// `it` is NULL or a live iterator not used by another thread; `out` and
/// `out_found` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn logstore_iter_next(
    it: *mut logstore_iter,
    timeout_ms: i64,
    out: *mut logstore_record,
    out_found: *mut bool,
) -> logstore_status {
    guard(|| {
        if out.is_null() || out_found.is_null() {
            return Err(Failure::invalid("out or out_found is NULL"));
        }
        // SAFETY: both are non-null and the caller promises them writable.
        unsafe {
            out.write(logstore_record::EMPTY);
            out_found.write(false);
        }
        // SAFETY: the caller promises a live iterator used by this thread
        // only.
        let it = unsafe { it.as_mut() }.ok_or_else(|| Failure::invalid("it is NULL"))?;
        if let Some((position, data)) = next_within(&mut it.iter, timeout_ms)? {
            // SAFETY: as above.
            unsafe {
                out.write(Record { position, data }.into_c());
                out_found.write(true);
            }
        }
        Ok(())
    })
}

fn next_within(iter: &mut Iter, timeout_ms: i64) -> FfiResult<Option<(u64, Vec<u8>)>> {
    let next: Option<Result<(u64, Vec<u8>)>> = match timeout_ms {
        0 => iter.next(),
        ms => match timeout(ms) {
            Some(limit) => iter.next_timeout(limit),
            None => wait_forever(iter),
        },
    };
    Ok(next.transpose()?)
}

/// `next_timeout` with no limit: wait in long steps until a record or an
/// error arrives.
fn wait_forever(iter: &mut Iter) -> Option<Result<(u64, Vec<u8>)>> {
    const STEP: Duration = Duration::from_secs(3600);
    loop {
        let started = Instant::now();
        match iter.next_timeout(STEP) {
            // A `None` before the step is over comes from an iterator that
            // already failed: it will never yield again.
            None if started.elapsed() >= STEP => continue,
            other => return other,
        }
    }
}

/// Stores the position the iterator's next record will have in `*out`.
///
/// # Safety
/// `it` is NULL or a live iterator; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn logstore_iter_position(
    it: *const logstore_iter,
    out: *mut u64,
) -> logstore_status {
    guard(|| {
        // SAFETY: the caller promises NULL or a live iterator.
        let it = unsafe { it.as_ref() }.ok_or_else(|| Failure::invalid("it is NULL"))?;
        if out.is_null() {
            return Err(Failure::invalid("out is NULL"));
        }
        // SAFETY: `out` is non-null and the caller promises it is writable.
        unsafe { out.write(it.iter.position()) };
        Ok(())
    })
}

/// Releases an iterator. NULL is ignored.
///
/// # Safety
/// `it` is NULL or an iterator from logstore_iter_new() not yet freed and
/// not in use.
#[no_mangle]
pub unsafe extern "C" fn logstore_iter_free(it: *mut logstore_iter) {
    if !it.is_null() {
        // SAFETY: the pointer came from Box::into_raw in logstore_iter_new
        // and the caller promises it is not freed yet.
        let it = unsafe { Box::from_raw(it) };
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(it)));
    }
}
