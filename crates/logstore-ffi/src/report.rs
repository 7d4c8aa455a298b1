//! Figures about a log: stats, the recovery report, verification.

use crate::args::{handle, required};
use crate::log::logstore_log;
use crate::status::{guard, logstore_status, Failure};

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
