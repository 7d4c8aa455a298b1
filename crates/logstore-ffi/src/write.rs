//! Appends and truncations.

use crate::args::{bytes, handle, store};
use crate::log::logstore_log;
use crate::status::{guard, logstore_status, Failure, FfiResult};

/// A borrowed record for logstore_append_batch(): `len` bytes at `data`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct logstore_slice {
    /// The bytes; owned by the caller.
    pub data: *const u8,
    /// How many bytes.
    pub len: usize,
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
