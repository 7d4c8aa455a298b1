//! Guards against losing acknowledged records, or acknowledging what is not
//! durable, when file-system calls fail: every kind of call fails with EIO
//! or ENOSPC, once or persistently, and writes come up short. A failed
//! write or sync poisons the log (reads still work), a read error while
//! opening is an error rather than the end of the log, and reopening
//! recovers.

mod common;

use common::workload::{check, snapshot, workload, Model, Op};
use common::{assert_kind, record};
use logstore::sim::{CrashMode, FaultError, Op as FsOp, SimFs};
use logstore::{ErrorKind, Log, Options, Recovery, SyncPolicy};

const DIR: &str = "/log";

const KINDS: [FsOp; 9] = [
    FsOp::Open,
    FsOp::Read,
    FsOp::Write,
    FsOp::Sync,
    FsOp::SyncDir,
    FsOp::Rename,
    FsOp::Remove,
    FsOp::SetLen,
    FsOp::PunchHole,
];

fn options(fs: &SimFs) -> Options {
    Options::default()
        .segment_size(8 << 10)
        .sync_policy(SyncPolicy::Always)
        .background_reclaim(false)
        .simulated(fs)
}

/// Runs `ops` on an open log until a call fails; then checks what a
/// failure must leave: a poisoned log after a failed write or sync, and
/// every acknowledged record still readable.
fn run(log: &Log, ops: &[Op], fault: FsOp, ctx: &str) -> (Model, Option<Op>) {
    let mut model = Model::default();
    for op in ops {
        let result = match op {
            Op::Append(r) => log.append(r).map(drop),
            Op::Batch(rs) => log.append_batch(rs).map(drop),
            Op::TruncateFront(off) => log.truncate_front(model.front_target(*off)),
            Op::TruncateBack(off) => log.truncate_back(model.back_target(*off)),
        };
        log.wait_reclaimed();
        let Err(e) = result else {
            model.apply(op);
            continue;
        };
        assert!(
            matches!(e.kind(), ErrorKind::Io | ErrorKind::Poisoned),
            "{ctx}: unexpected error: {e}"
        );
        if matches!(fault, FsOp::Write | FsOp::Sync) && e.kind() == ErrorKind::Io {
            let e = log.append(b"after a failed write or sync").unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Poisoned, "{ctx}: {e}");
            assert_kind(log.truncate_front(model.first + 1), ErrorKind::Poisoned);
            assert_kind(log.sync(), ErrorKind::Poisoned);
        }
        if fault != FsOp::Read {
            // A failed truncate_back may have cut the file already: the
            // records from its position on may be gone (never wrong).
            let cut = match op {
                Op::TruncateBack(off) => model.back_target(*off),
                _ => u64::MAX,
            };
            for (i, rec) in model.records.iter().enumerate() {
                let pos = model.first + i as u64;
                let got = log.read(pos);
                let gone = pos >= cut
                    && got
                        .as_ref()
                        .is_err_and(|e| e.kind() == ErrorKind::OutOfRange);
                assert!(
                    gone || got.as_ref().ok() == Some(rec),
                    "{ctx}: read({pos}): {got:?}"
                );
            }
        }
        return (model, Some(op.clone()));
    }
    (model, None)
}

/// Runs one case; returns whether a call of the log failed.
fn one_case(ops: &[Op], fault: FsOp, nth: u64, error: FaultError, persistent: bool) -> bool {
    let ctx = format!("{fault:?} call {nth} fails with {error:?}, persistent: {persistent}");
    let fs = SimFs::new();
    let log = Log::open(DIR, options(&fs)).unwrap();
    fs.fail(fault, nth, error, persistent);
    let (acked, inflight) = run(&log, ops, fault, &ctx);
    drop(log);
    fs.clear_faults();
    // Reopen in the same "boot": what was written is still there.
    let reopened = Log::open(DIR, options(&fs)).unwrap_or_else(|e| panic!("{ctx}: reopen: {e}"));
    let got = snapshot(&reopened);
    check(&got, &acked, inflight.as_ref(), false, &ctx);
    drop(reopened);
    // And after a power loss, only what was durable.
    fs.cut_power_now();
    fs.restart(CrashMode::DropUnsynced);
    let reopened = Log::open(DIR, options(&fs)).unwrap_or_else(|e| panic!("{ctx}: reboot: {e}"));
    check(&snapshot(&reopened), &acked, inflight.as_ref(), false, &ctx);
    inflight.is_some()
}

fn nths() -> Vec<u64> {
    if std::env::var_os("LOGSTORE_LONG").is_some() {
        (1..400).collect()
    } else {
        vec![1, 2, 3, 4, 6, 9, 14, 21, 32, 48, 72, 108, 162]
    }
}

#[test]
fn every_kind_of_call_fails_once_or_for_good() {
    let ops = workload(11, 120);
    for fault in KINDS {
        let mut surfaced = 0;
        for nth in nths() {
            for error in [FaultError::Io, FaultError::NoSpace] {
                for persistent in [false, true] {
                    surfaced += u32::from(one_case(&ops, fault, nth, error, persistent));
                }
            }
        }
        // Reads are served from caches and open files, and failures to
        // punch holes only leave dead bytes: those need not reach a caller.
        if !matches!(fault, FsOp::Read | FsOp::PunchHole) {
            assert!(surfaced > 0, "no {fault:?} failure reached the caller");
        }
    }
}

#[test]
fn short_writes_are_torn_tails() {
    let ops = workload(12, 120);
    for nth in nths() {
        let ctx = format!("write {nth} is short");
        let fs = SimFs::new();
        let log = Log::open(DIR, options(&fs)).unwrap();
        fs.short_write(nth);
        let (acked, inflight) = run(&log, &ops, FsOp::Write, &ctx);
        drop(log);
        let reopened = Log::open(DIR, options(&fs)).unwrap();
        check(&snapshot(&reopened), &acked, inflight.as_ref(), false, &ctx);
    }
}

#[test]
fn failed_sync_poisons_until_reopened() {
    let fs = SimFs::new();
    let log = Log::open(DIR, options(&fs)).unwrap();
    log.append(b"zero").unwrap();
    log.append(b"one").unwrap();
    fs.fail(FsOp::Sync, 1, FaultError::Io, false);
    let e = assert_kind(log.append(b"two"), ErrorKind::Io);
    assert!(e.io_error().is_some(), "{e}");
    // The sync is never retried and reported as a success.
    assert_kind(log.append(b"three"), ErrorKind::Poisoned);
    assert_kind(log.append_batch(&[b"a", b"b"]), ErrorKind::Poisoned);
    assert_kind(log.truncate_front(1), ErrorKind::Poisoned);
    assert_kind(log.truncate_back(1), ErrorKind::Poisoned);
    assert_kind(log.sync(), ErrorKind::Poisoned);
    assert_eq!(log.read(0).unwrap(), b"zero");
    let all: Vec<_> = log.iter(0).take(2).map(|r| r.unwrap().1).collect();
    assert_eq!(all, vec![b"zero".to_vec(), b"one".to_vec()]);
    drop(log);
    let log = Log::open(DIR, options(&fs)).unwrap();
    assert_eq!(log.read(1).unwrap(), b"one");
    let next = log.next_position();
    assert!(next == 2 || next == 3, "next position {next}");
    assert_eq!(log.append(b"again").unwrap(), next);
}

#[test]
fn read_errors_while_opening_are_errors() {
    let fs = SimFs::new();
    let log = Log::open(DIR, options(&fs)).unwrap();
    let recs: Vec<Vec<u8>> = (0..40).map(|i| record(i, 700)).collect();
    for r in &recs {
        log.append(r).unwrap();
    }
    log.close().unwrap();
    drop(log);
    let mut failed = 0;
    // Tolerant mode too: it cuts the log at damage, and must never take
    // a failed read for damage.
    let modes = [Recovery::Strict, Recovery::Tolerant];
    for (nth, mode) in (1..200).flat_map(|n| modes.map(|m| (n, m))) {
        fs.fail(FsOp::Read, nth, FaultError::Io, false);
        let opened = Log::open(DIR, options(&fs).recovery(mode));
        fs.clear_faults();
        match opened {
            // A read whose failure could be worked around (an index is
            // rebuilt from its segment): every record is still there.
            Ok(log) => assert_eq!(snapshot(&log).records, recs, "read {nth} failed"),
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::Io, "read {nth} failed: {e}");
                failed += 1;
            }
        }
    }
    assert!(failed > 0, "no read failure was reported");
    fs.fail(FsOp::Read, 1, FaultError::Io, true);
    assert_kind(Log::open(DIR, options(&fs)).map(drop), ErrorKind::Io);
    fs.clear_faults();
    let log = Log::open(DIR, options(&fs)).unwrap();
    assert_eq!(snapshot(&log).records, recs);
}

/// A read error while opening, even in tolerant mode, is an I/O error and
/// drops nothing. (A header that could not be *read* was once taken for
/// damage, so tolerant recovery deleted the file.)
#[test]
fn a_failed_read_while_opening_tolerantly_drops_nothing() {
    let fs = SimFs::new();
    let o = || {
        Options::default()
            .segment_size(4096)
            .simulated(&fs)
            .recovery(Recovery::Tolerant)
    };
    {
        let log = Log::open("/log", o()).unwrap();
        for i in 0..50u64 {
            log.append(&[i as u8 + 1; 300]).unwrap();
        }
        log.close().unwrap();
    }
    for nth in 1..40 {
        fs.fail(FsOp::Read, nth, FaultError::Io, false);
        match Log::open("/log", o()) {
            Ok(log) => {
                assert_eq!(log.recovery_report().dropped, None, "read {nth}");
                assert_eq!(log.next_position(), 50, "read {nth}");
            }
            Err(e) => assert_eq!(e.kind(), logstore::ErrorKind::Io, "read {nth}: {e}"),
        }
        fs.clear_faults();
        let log = Log::open("/log", o()).unwrap();
        assert_eq!(log.next_position(), 50, "after failing read {nth}");
        for i in 0..50u64 {
            assert_eq!(log.read(i).unwrap(), vec![i as u8 + 1; 300]);
        }
    }
}

/// Recovery itself fails (it may cut a torn tail, remove segments, write
/// the meta file): the open is an I/O error, and a later open recovers.
#[test]
fn failures_while_recovering_are_errors_and_reopen_recovers() {
    let ops = workload(13, 120);
    for crash_after in [30, 75, 120, 180, 260, 340] {
        for fault in KINDS {
            for nth in 1..5 {
                let ctx = format!("crash after {crash_after}, then {fault:?} call {nth} fails");
                let fs = SimFs::new();
                let log = Log::open(DIR, options(&fs)).unwrap();
                fs.cut_power_after(crash_after);
                let (acked, inflight) = run(&log, &ops, FsOp::Read, &ctx);
                fs.cut_power_now();
                drop(log);
                fs.restart(CrashMode::Scramble(crash_after + nth));
                fs.fail(fault, nth, FaultError::Io, false);
                if let Err(e) = Log::open(DIR, options(&fs)) {
                    assert_eq!(e.kind(), ErrorKind::Io, "{ctx}: {e}");
                }
                fs.clear_faults();
                let log = Log::open(DIR, options(&fs))
                    .unwrap_or_else(|e| panic!("{ctx}: reopen failed: {e}"));
                check(&snapshot(&log), &acked, inflight.as_ref(), true, &ctx);
            }
        }
    }
}

/// A sync failing inside `truncate_back`, after the file was cut: the
/// kept records read as before, the cut ones are out of range (not
/// "corrupt"), and writes are refused.
#[test]
fn failed_truncate_back_keeps_the_kept_records_readable() {
    for cut in [5, 27] {
        let fs = SimFs::new();
        let log = Log::open(DIR, options(&fs)).unwrap();
        for i in 0..30 {
            log.append(&record(i, 500)).unwrap();
        }
        assert!(log.stats().unwrap().segments.len() > 1);
        log.wait_reclaimed();
        // The cut segment's fsync, after its length was changed.
        fs.fail(FsOp::Sync, 1, FaultError::Io, false);
        assert_kind(log.truncate_back(cut), ErrorKind::Io);
        for pos in 0..cut {
            assert_eq!(log.read(pos).unwrap(), record(pos, 500), "cut {cut}");
        }
        assert_kind(log.read(cut), ErrorKind::OutOfRange);
        assert_kind(log.append(b"x"), ErrorKind::Poisoned);
        drop(log);
        let log = Log::open(DIR, options(&fs)).unwrap();
        assert_eq!(log.next_position(), cut);
    }
}
