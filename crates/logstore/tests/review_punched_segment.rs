//! Guards reads and `verify` of a sealed segment whose front was truncated
//! and punched out while the log was open: the segment's offsets must be
//! found from the first kept record, never by reading the punched bytes.

use logstore::sim::SimFs;
use logstore::{Log, Options, SyncPolicy};

mod common;
use common::record;

fn opts(fs: &SimFs) -> Options {
    Options::default()
        .simulated(fs)
        .segment_size(16 << 10)
        .sync_policy(SyncPolicy::Never)
        .background_reclaim(false)
        .index_cache_bytes(8)
}

/// Appends 1000-byte records until segment 0 and the next one are sealed.
fn fill(log: &Log) {
    for i in 0..40u64 {
        log.append(&record(i, 1000)).unwrap();
    }
    assert!(log.stats().unwrap().segments.len() >= 3);
}

#[test]
fn verify_does_not_report_the_punched_prefix() {
    let fs = SimFs::new();
    let log = Log::open("/log", opts(&fs)).unwrap();
    fill(&log);
    log.wait_reclaimed();
    // Position 12 is past the second 4 KiB block of segment 0.
    log.truncate_front(12).unwrap();
    log.wait_reclaimed();
    let report = log.verify(|_, _| {}).unwrap();
    assert_eq!(report.problems, vec![]);
    assert_eq!(log.read(12).unwrap(), record(12, 1000));
}

#[test]
fn index_rebuilt_after_a_punch_starts_at_the_first_kept_record() {
    let fs = SimFs::new();
    let log = Log::open("/log", opts(&fs)).unwrap();
    // No sync: segment 0's index is not written, only its offsets cached.
    fill(&log);
    log.wait_reclaimed();
    log.truncate_front(12).unwrap();
    log.wait_reclaimed();
    // Load another segment's offsets so that segment 0's leave the cache.
    log.read(30).unwrap();
    for p in 12..16 {
        assert_eq!(log.read(p).unwrap(), record(p, 1000), "position {p}");
    }
    let all: Vec<u64> = log.iter(12).map(|r| r.unwrap().0).collect();
    assert_eq!(all, (12..40).collect::<Vec<_>>());

    // A sync seals the segment: its index is written from the first kept
    // record, and a reopened log trusts it.
    log.sync().unwrap();
    log.wait_reclaimed();
    assert!(fs.file_contents("/log/00000000000000000000.idx").is_some());
    drop(log);
    let log = Log::open("/log", opts(&fs)).unwrap();
    assert!(log.recovery_report().rebuilt_indexes.is_empty());
    assert_eq!(log.first_position(), 12);
    for p in 12..40 {
        assert_eq!(log.read(p).unwrap(), record(p, 1000), "position {p}");
    }
    assert_eq!(log.verify(|_, _| {}).unwrap().problems, vec![]);
}
