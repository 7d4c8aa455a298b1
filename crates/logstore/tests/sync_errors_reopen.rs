//! Guards against what a failed sync leaves behind for later: records whose
//! write-back failed counted durable by a reopened log (Linux keeps them in
//! the page cache, marked clean), a failed directory sync ignored, and
//! segments found at open that a truncation points into before any sync
//! made them durable.

mod common;

use common::{assert_kind, record};
use logstore::sim::{CrashMode, FaultError, Op as FsOp, SimFs};
use logstore::{ErrorKind, Log, Options, SyncPolicy};

const DIR: &str = "/log";

fn options(fs: &SimFs, policy: SyncPolicy) -> Options {
    Options::default()
        .segment_size(8 << 10)
        .sync_policy(policy)
        .preallocate(false)
        .background_reclaim(false)
        .simulated(fs)
}

/// Every position below `durable` holds the record `record(pos, 100)`.
#[track_caller]
fn assert_holds(log: &Log, durable: u64) {
    assert!(
        log.next_position() >= durable,
        "positions up to {durable} were durable, the log ends at {}",
        log.next_position()
    );
    for pos in log.first_position()..durable {
        assert_eq!(log.read(pos).unwrap(), record(pos, 100), "position {pos}");
    }
}

#[test]
fn records_whose_sync_failed_are_not_counted_durable_after_a_reopen() {
    let fs = SimFs::new();
    let log = Log::open(DIR, options(&fs, SyncPolicy::Always)).unwrap();
    for pos in 0..10 {
        assert_eq!(log.append(&record(pos, 100)).unwrap(), pos);
    }
    fs.fail(FsOp::Sync, 1, FaultError::Io, false);
    assert_kind(log.append(&record(10, 100)), ErrorKind::Io);
    assert_kind(log.append(&record(10, 100)), ErrorKind::Poisoned);
    drop(log);

    // The same boot: the failed pages are still in the cache, not on the
    // disk, and no sync will write them again.
    let log = Log::open(DIR, options(&fs, SyncPolicy::Always)).unwrap();
    assert_eq!(
        log.next_position(),
        10,
        "the record whose sync failed is not on the disk"
    );
    log.sync().unwrap();
    let durable = log.durable_position();
    assert_eq!(log.append(&record(10, 100)).unwrap(), 10);
    let durable = durable.max(log.durable_position());
    drop(log);

    fs.restart(CrashMode::DropUnsynced);
    let log = Log::open(DIR, options(&fs, SyncPolicy::Always)).unwrap();
    assert_holds(&log, durable);
    assert_eq!(durable, 11);
}

#[test]
fn a_failed_directory_sync_when_dead_segments_are_removed_poisons_the_log() {
    let fs = SimFs::new();
    let log = Log::open(DIR, options(&fs, SyncPolicy::Always)).unwrap();
    for pos in 0..300 {
        log.append(&record(pos, 100)).unwrap();
    }
    assert!(fs.list(DIR).iter().filter(|n| n.ends_with(".seg")).count() > 2);
    // The first directory sync is the new meta file's; the second, the
    // removal of the segments before the new first position.
    let dir_syncs = fs.calls(FsOp::SyncDir);
    fs.fail(FsOp::SyncDir, 2, FaultError::Io, true);
    log.truncate_front(250).unwrap();
    log.wait_reclaimed();
    assert_eq!(
        fs.calls(FsOp::SyncDir),
        dir_syncs + 2,
        "the removal synced the directory"
    );
    assert_kind(log.append(&record(300, 100)), ErrorKind::Poisoned);
    // Reads still work, and a reopen finds every record kept.
    assert_eq!(log.read(299).unwrap(), record(299, 100));
    drop(log);
    fs.clear_faults();
    let log = Log::open(DIR, options(&fs, SyncPolicy::Always)).unwrap();
    assert_eq!(log.first_position(), 250);
    assert_holds(&log, 300);
}

#[test]
fn truncate_front_into_segments_found_unsynced_makes_them_durable_first() {
    let fs = SimFs::new();
    let log = Log::open(DIR, options(&fs, SyncPolicy::Never)).unwrap();
    for pos in 0..300 {
        log.append(&record(pos, 100)).unwrap();
    }
    // The process dies: its writes are in the cache, none synced.
    drop(log);
    // The background thread of the next handle syncs the segments it
    // found; hold those syncs back, so that the truncation alone must.
    fs.on_call(|op, _| {
        if op == FsOp::Sync && std::thread::current().name() == Some("logstore-bg") {
            std::thread::sleep(std::time::Duration::from_secs(2));
        }
    });
    let log = Log::open(DIR, options(&fs, SyncPolicy::Never)).unwrap();
    assert_eq!(log.next_position(), 300);
    log.truncate_front(100).unwrap();
    fs.cut_power_now();
    drop(log);
    fs.clear_hook();

    fs.restart(CrashMode::DropUnsynced);
    let log = Log::open(DIR, options(&fs, SyncPolicy::Never)).unwrap();
    assert_eq!(log.first_position(), 100);
    assert_holds(&log, 300);
}

/// The position of the first record that goes to a second segment.
fn roll_at() -> u64 {
    let fs = SimFs::new();
    let log = Log::open(DIR, options(&fs, SyncPolicy::Always)).unwrap();
    let one = fs.list(DIR).iter().filter(|n| n.ends_with(".seg")).count();
    for pos in 0.. {
        log.append(&record(pos, 100)).unwrap();
        if fs.list(DIR).iter().filter(|n| n.ends_with(".seg")).count() > one {
            return pos;
        }
    }
    unreachable!()
}

#[test]
fn a_rolled_segment_whose_header_sync_failed_keeps_later_records_after_a_reopen() {
    let k = roll_at();
    for later in [1u64, 2] {
        let fs = SimFs::new();
        let log = Log::open(DIR, options(&fs, SyncPolicy::Always)).unwrap();
        for pos in 0..k {
            log.append(&record(pos, 100)).unwrap();
        }
        // The roll's sync fails on the new segment: its header never
        // reached the disk, though the cache still shows it.
        fs.fail(FsOp::Sync, 2, FaultError::Io, false);
        assert_kind(log.append(&record(k, 100)), ErrorKind::Io);
        drop(log);

        // The same boot.
        let log = Log::open(DIR, options(&fs, SyncPolicy::Always)).unwrap();
        let start = log.next_position();
        for pos in start..start + later {
            assert_eq!(log.append(&record(pos, 100)).unwrap(), pos);
        }
        drop(log);
        fs.restart(CrashMode::DropUnsynced);
        let log = Log::open(DIR, options(&fs, SyncPolicy::Always))
            .unwrap_or_else(|e| panic!("reopen after {later} record(s): {e}"));
        assert_holds(&log, start + later);
    }
}
