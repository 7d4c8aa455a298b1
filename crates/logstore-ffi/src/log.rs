//! The log handle and its functions.

use std::ffi::{c_char, c_int, c_void, CStr, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::time::{Duration, Instant};

use logstore::Log;

use crate::options::{logstore_options, logstore_options_default};
use crate::record::{logstore_record, Record};
use crate::status::{guard, logstore_status, Failure, FfiResult};

/// An open log. Created by logstore_open(), released by logstore_free().
/// Every function taking a `const logstore_log *` may be called from
/// several threads at once on the same handle.
pub struct logstore_log {
    pub(crate) log: Log,
}

/// A borrowed record for logstore_append_batch(): `len` bytes at `data`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct logstore_slice {
    /// The bytes; owned by the caller.
    pub data: *const u8,
    /// How many bytes.
    pub len: usize,
}

/// Figures about a log, from logstore_stats().
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct logstore_log_stats {
    /// The oldest position kept.
    pub first_position: u64,
    /// The position the next append will get.
    pub next_position: u64,
    /// Records kept (`next_position - first_position`).
    pub records: u64,
    /// Bytes of the kept records' frames (headers included).
    pub retained_bytes: u64,
    /// Bytes the log's files occupy on disk (allocated blocks).
    pub disk_bytes: u64,
    /// Segment files.
    pub segments: u64,
}

/// Called by logstore_replay() with each record: `ctx` as given to
/// logstore_replay(), the record's position, and its `len` bytes at `data`
/// (owned by logstore, valid only during the call). Return 0 to go on,
/// non-zero to stop. It must not unwind (no C++ exception, no longjmp).
pub type logstore_replay_fn = Option<
    unsafe extern "C" fn(ctx: *mut c_void, position: u64, data: *const u8, len: usize) -> c_int,
>;

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
fn required<T>(ptr: *mut T, what: &str) -> FfiResult<*mut T> {
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

/// Appends one record of `len` bytes (1 to `max_record_size`) at `data` and
/// stores its position in `*out_position` (which may be NULL). Under
/// `LOGSTORE_SYNC_ALWAYS` it returns once the record is durable. The bytes
/// are copied; the caller keeps ownership of `data`.
///
/// Errors: `LOGSTORE_ERR_INVALID_ARGUMENT` for an empty or oversize record
/// or NULL `data` (nothing is written); `LOGSTORE_ERR_POISONED`,
/// `LOGSTORE_ERR_IO` (the log is then poisoned), `LOGSTORE_ERR_CLOSED`,
/// `LOGSTORE_ERR_READ_ONLY`.
///
/// # Safety
/// `log` is NULL or a live handle; `data` is NULL or readable for `len`
/// bytes; `out_position` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn logstore_append(
    log: *const logstore_log,
    data: *const u8,
    len: usize,
    out_position: *mut u64,
) -> logstore_status {
    guard(|| {
        // SAFETY: forwarded caller promises.
        let (log, record) = unsafe { (handle(log)?, bytes(data, len, "data")?) };
        let position = log.append(record)?;
        // SAFETY: forwarded caller promise.
        unsafe { store(out_position, position) };
        Ok(())
    })
}

/// Appends `count` records as one batch: consecutive positions, and after a
/// crash either all of them are found or none. The first position is stored
/// in `*out_first` (may be NULL); the batch holds `first .. first + count`.
/// One bad record refuses the whole batch. `count` 0 appends nothing and
/// stores the next position.
///
/// Errors: as logstore_append().
///
/// # Safety
/// `log` is NULL or a live handle; `records` is NULL or points to `count`
/// slices, each NULL or readable for its length; `out_first` is NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn logstore_append_batch(
    log: *const logstore_log,
    records: *const logstore_slice,
    count: usize,
    out_first: *mut u64,
) -> logstore_status {
    guard(|| {
        // SAFETY: forwarded caller promises.
        let (log, slices) = unsafe { (handle(log)?, slices(records, count)?) };
        let mut batch = Vec::with_capacity(slices.len());
        for (i, s) in slices.iter().enumerate() {
            // SAFETY: the caller promises each slice is readable.
            batch.push(unsafe { bytes(s.data, s.len, &format!("records[{i}].data")) }?);
        }
        let range = log.append_batch(&batch)?;
        // SAFETY: forwarded caller promise.
        unsafe { store(out_first, range.start) };
        Ok(())
    })
}

/// # Safety
/// `records` is NULL or points to `count` slices.
unsafe fn slices<'a>(
    records: *const logstore_slice,
    count: usize,
) -> FfiResult<&'a [logstore_slice]> {
    if count == 0 {
        return Ok(&[]);
    }
    if records.is_null() {
        return Err(Failure::invalid("records is NULL"));
    }
    // SAFETY: the caller promises `count` slices at `records`.
    Ok(unsafe { std::slice::from_raw_parts(records, count) })
}

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

/// Drops every record before `position`, durably. `position` may be past
/// the end: the log is then empty and the next append gets `position`.
///
/// Errors: `LOGSTORE_ERR_IO` (the log is then poisoned),
/// `LOGSTORE_ERR_POISONED`, `LOGSTORE_ERR_CLOSED`, `LOGSTORE_ERR_READ_ONLY`.
///
/// # Safety
/// `log` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn logstore_truncate_front(
    log: *const logstore_log,
    position: u64,
) -> logstore_status {
    // SAFETY: forwarded caller promise.
    guard(|| Ok(unsafe { handle(log) }?.truncate_front(position)?))
}

/// Drops the records at `position` and after, durably: the next append
/// gets `position`.
///
/// Errors: `LOGSTORE_ERR_OUT_OF_RANGE` if `position` is before the first
/// position (nothing changes); as logstore_truncate_front().
///
/// # Safety
/// `log` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn logstore_truncate_back(
    log: *const logstore_log,
    position: u64,
) -> logstore_status {
    // SAFETY: forwarded caller promise.
    guard(|| Ok(unsafe { handle(log) }?.truncate_back(position)?))
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

/// Stores figures about the log and its files in `*out`.
///
/// Errors: `LOGSTORE_ERR_IO` if a file cannot be examined.
///
/// # Safety
/// `log` is NULL or a live handle; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn logstore_stats(
    log: *const logstore_log,
    out: *mut logstore_log_stats,
) -> logstore_status {
    guard(|| {
        let out = required(out, "out")?;
        // SAFETY: forwarded caller promise.
        let s = unsafe { handle(log) }?.stats()?;
        let stats = logstore_log_stats {
            first_position: s.first_position,
            next_position: s.next_position,
            records: s.records,
            retained_bytes: s.retained_bytes,
            disk_bytes: s.disk_bytes,
            segments: s.segments.len() as u64,
        };
        // SAFETY: `out` is non-null and the caller promises it is writable.
        unsafe { out.write(stats) };
        Ok(())
    })
}

/// What opening the log found and did, from logstore_recovery_report().
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct logstore_recovery_info {
    /// Whether an incomplete tail was cut off (the expected result of a
    /// crash during appends that were not yet durable).
    pub torn_tail: bool,
    /// If so, the first position no longer in the log.
    pub torn_tail_from_position: u64,
    /// If so, the bytes removed.
    pub torn_tail_bytes: u64,
    /// Whether damage was cut away (tolerant recovery only).
    pub dropped: bool,
    /// If so, the first position no longer in the log.
    pub dropped_from_position: u64,
    /// If so, the bytes removed.
    pub dropped_bytes: u64,
    /// Files in the directory that are not logstore's (left untouched).
    pub unknown_files: u64,
    /// Segments removed because they held only truncated records.
    pub removed_segments: u64,
    /// Segment indexes that were missing or damaged and were rebuilt.
    pub rebuilt_indexes: u64,
}

/// Stores what opening the log found and did in `*out`.
///
/// # Safety
/// `log` is NULL or a live handle; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn logstore_recovery_report(
    log: *const logstore_log,
    out: *mut logstore_recovery_info,
) -> logstore_status {
    guard(|| {
        let out = required(out, "out")?;
        // SAFETY: forwarded caller promise.
        let r = unsafe { handle(log) }?.recovery_report();
        let mut info = logstore_recovery_info {
            unknown_files: r.unknown_files.len() as u64,
            removed_segments: r.removed_segments.len() as u64,
            rebuilt_indexes: r.rebuilt_indexes.len() as u64,
            ..Default::default()
        };
        if let Some(cut) = &r.torn_tail {
            info.torn_tail = true;
            info.torn_tail_from_position = cut.from_position;
            info.torn_tail_bytes = cut.bytes;
        }
        if let Some(cut) = &r.dropped {
            info.dropped = true;
            info.dropped_from_position = cut.from_position;
            info.dropped_bytes = cut.bytes;
        }
        // SAFETY: `out` is non-null and the caller promises it is writable.
        unsafe { out.write(info) };
        Ok(())
    })
}

/// What logstore_verify() read and found.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct logstore_verify_report {
    /// Segments read.
    pub segments: u64,
    /// Records whose checksum, length, position and index entry were
    /// checked.
    pub records: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Problems found.
    pub problems: u64,
}

/// Reads every kept record and checks it, storing the figures in `*out`.
/// If problems are found, `*out` is filled all the same and the call
/// returns `LOGSTORE_ERR_CORRUPTION`, with each problem (file, byte offset,
/// what) in logstore_last_error_message().
///
/// Errors: `LOGSTORE_ERR_CORRUPTION` as above, `LOGSTORE_ERR_IO`.
///
/// # Safety
/// `log` is NULL or a live handle; `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn logstore_verify(
    log: *const logstore_log,
    out: *mut logstore_verify_report,
) -> logstore_status {
    guard(|| {
        let out = required(out, "out")?;
        // SAFETY: forwarded caller promise.
        let r = unsafe { handle(log) }?.verify(|_, _| {})?;
        let report = logstore_verify_report {
            segments: r.segments,
            records: r.records,
            bytes: r.bytes,
            problems: r.problems.len() as u64,
        };
        // SAFETY: `out` is non-null and the caller promises it is writable.
        unsafe { out.write(report) };
        if r.problems.is_empty() {
            return Ok(());
        }
        let list: Vec<String> = r
            .problems
            .iter()
            .map(|p| format!("{}: {} at byte {}", p.what, p.path.display(), p.offset))
            .collect();
        Err(Failure {
            status: logstore_status::LOGSTORE_ERR_CORRUPTION,
            message: format!(
                "verify found {} problem(s): {}",
                list.len(),
                list.join("; ")
            ),
        })
    })
}

#[cfg(test)]
mod tests {
    //! Failures that only a simulated file system can cause, seen through
    //! the C functions.

    use super::*;
    use logstore::sim::{FaultError, Op, SimFs};
    use logstore::Options;

    use crate::status::logstore_status::*;

    fn sim_log(fs: &SimFs) -> logstore_log {
        let opts = Options::default().simulated(fs);
        logstore_log {
            log: Log::open("/sim/log", opts).unwrap(),
        }
    }

    fn append(log: &logstore_log, data: &[u8]) -> logstore_status {
        // SAFETY: a live handle and a readable slice.
        unsafe { logstore_append(log, data.as_ptr(), data.len(), std::ptr::null_mut()) }
    }

    #[test]
    fn a_failed_sync_is_an_io_error_then_the_log_is_poisoned() {
        let fs = SimFs::new();
        let log = sim_log(&fs);
        assert_eq!(append(&log, b"one"), LOGSTORE_OK);
        fs.fail(Op::Sync, 1, FaultError::Io, false);
        assert_eq!(append(&log, b"two"), LOGSTORE_ERR_IO);
        assert_eq!(append(&log, b"three"), LOGSTORE_ERR_POISONED);
        // SAFETY: a live handle.
        assert_eq!(unsafe { logstore_sync(&log) }, LOGSTORE_ERR_POISONED);
        // SAFETY: as above.
        assert_eq!(
            unsafe { logstore_truncate_front(&log, 1) },
            LOGSTORE_ERR_POISONED
        );
        // Reads still work.
        let mut rec = logstore_record::EMPTY;
        // SAFETY: a live handle and a writable record.
        assert_eq!(unsafe { logstore_read(&log, 0, &mut rec) }, LOGSTORE_OK);
        // SAFETY: filled by logstore_read.
        unsafe { crate::logstore_record_free(&mut rec) };
    }

    #[test]
    fn damage_found_by_verify_is_a_corruption_status_with_the_details() {
        let fs = SimFs::new();
        let log = sim_log(&fs);
        for _ in 0..3 {
            assert_eq!(append(&log, b"some record"), LOGSTORE_OK);
        }
        let mut report = logstore_verify_report::default();
        // SAFETY: a live handle and a writable report.
        assert_eq!(unsafe { logstore_verify(&log, &mut report) }, LOGSTORE_OK);
        assert_eq!(
            (report.segments, report.records, report.problems),
            (1, 3, 0)
        );

        let seg = "/sim/log/00000000000000000000.seg";
        let mut bytes = fs.file_contents(seg).unwrap();
        let last = bytes.len() - 2;
        bytes[last] ^= 0xff;
        fs.set_file_contents(seg, &bytes).unwrap();
        // SAFETY: as above.
        assert_eq!(
            unsafe { logstore_verify(&log, &mut report) },
            LOGSTORE_ERR_CORRUPTION
        );
        assert_eq!(report.problems, 1);
        // SAFETY: this thread's message, read before any other call.
        let message = unsafe { CStr::from_ptr(crate::logstore_last_error_message()) };
        let message = message.to_str().unwrap();
        assert!(
            message.starts_with("verify found 1 problem(s): "),
            "{message}"
        );
        assert!(message.contains(seg), "{message}");
    }

    #[test]
    fn the_recovery_report_tells_of_a_torn_tail() {
        let fs = SimFs::new();
        let opts = || Options::default().simulated(&fs);
        let log = sim_log(&fs);
        assert_eq!(append(&log, b"kept"), LOGSTORE_OK);
        let seg = "/sim/log/00000000000000000000.seg";
        let whole = fs.file_contents(seg).unwrap();
        assert_eq!(append(&log, b"torn record"), LOGSTORE_OK);
        drop(log);
        // Half of the second record's frame, as a crash mid-write leaves it.
        let torn = fs.file_contents(seg).unwrap();
        let cut = whole.len() + (torn.len() - whole.len()) / 2;
        fs.set_file_contents(seg, &torn[..cut]).unwrap();

        let log = logstore_log {
            log: Log::open("/sim/log", opts()).unwrap(),
        };
        let mut info = logstore_recovery_info::default();
        // SAFETY: a live handle and a writable struct.
        assert_eq!(
            unsafe { logstore_recovery_report(&log, &mut info) },
            LOGSTORE_OK
        );
        assert!(info.torn_tail);
        assert_eq!(info.torn_tail_from_position, 1);
        assert_eq!(info.torn_tail_bytes, (cut - whole.len()) as u64);
        assert!(!info.dropped);
    }
}
