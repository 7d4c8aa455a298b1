//! Failures that only a simulated file system can cause, and recovery
//! after a crash, seen through the C functions.

use std::ffi::CStr;

use logstore::sim::{FaultError, Op, SimFs};
use logstore::{Log, Options};

use crate::log::{logstore_log, logstore_sync};
use crate::read::logstore_read;
use crate::record::{logstore_record, logstore_record_free};
use crate::report::{
    logstore_recovery_info, logstore_recovery_report, logstore_verify, logstore_verify_report,
};
use crate::status::logstore_status::{self, *};
use crate::write::{logstore_append, logstore_truncate_front};

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
    unsafe { logstore_record_free(&mut rec) };
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
    // Inside the last record's bytes: the file may also hold zeros written
    // ahead of the data by the background job, where a flip is no damage.
    let last = bytes
        .windows(11)
        .rposition(|w| w == b"some record")
        .expect("the record is in the segment")
        + 5;
    bytes[last] ^= 0xff;
    fs.set_file_contents(seg, &bytes).unwrap();
    // SAFETY: as above.
    assert_eq!(
        unsafe { logstore_verify(&log, &mut report) },
        LOGSTORE_ERR_CORRUPTION
    );
    assert_eq!(report.problems, 1);
    // SAFETY: this thread's message, read before any other call.
    let message = unsafe { CStr::from_ptr(crate::status::logstore_last_error_message()) };
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
    assert_eq!(append(&log, b"torn record"), LOGSTORE_OK);
    drop(log);
    // Half of the second record's frame, as a crash mid-write leaves it
    // (the file may go on with zeros written ahead for appends).
    let whole = 64 + 16 + b"kept".len();
    let cut = whole + (16 + b"torn record".len()) / 2;
    let torn = fs.file_contents(seg).unwrap();
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
    assert_eq!(info.torn_tail_bytes, (cut - whole) as u64);
    assert!(!info.dropped);
}
