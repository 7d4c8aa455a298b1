//! Guards `truncate_front` into a sealed segment, whose cut-off front is
//! punched out (zeroed) while the log is open: reads, `verify` and index
//! rebuilds must find the segment's offsets from the first kept record,
//! never by reading the punched bytes, before and after a reopen.

mod common;

use common::{fill_three_segments, record, Fixture};
use logstore::sim::SimFs;
use logstore::{Log, Options, SyncPolicy};

/// 64 KiB segments on the real file system, synced only when asked.
fn opts() -> Options {
    Options::default()
        .segment_size(64 << 10)
        .sync_policy(SyncPolicy::Never)
        .background_reclaim(false)
}

/// 16 KiB segments on `fs`, with a cache of one segment's offsets.
fn sim_opts(fs: &SimFs) -> Options {
    Options::default()
        .simulated(fs)
        .segment_size(16 << 10)
        .sync_policy(SyncPolicy::Never)
        .background_reclaim(false)
        .index_cache_bytes(8)
}

/// Appends 1000-byte records until segment 0 and the next one are sealed.
fn fill_sealed(log: &Log) {
    for i in 0..40u64 {
        log.append(&record(i, 1000)).unwrap();
    }
    assert!(log.stats().unwrap().segments.len() >= 3);
}

/// `verify` once scanned such a segment from its header, through the
/// punched-out prefix, and reported intact data as damaged.
#[test]
fn verify_after_truncating_into_a_sealed_segment_finds_no_damage() {
    let f = Fixture::new(opts());
    let log = f.open().unwrap();
    fill_three_segments(&log);
    log.wait_reclaimed();
    let seg0_end = log.stats().unwrap().segments[0].end_position;
    let cut = seg0_end - 5;
    log.truncate_front(cut).unwrap();
    log.wait_reclaimed();
    let v = log.verify(|_, _| {}).unwrap();
    assert!(v.problems.is_empty(), "{:?}", v.problems);
    assert_eq!(v.records, log.next_position() - cut);
    drop(log);
    let log = f.reopen();
    let v = log.verify(|_, _| {}).unwrap();
    assert!(v.problems.is_empty(), "after reopen: {:?}", v.problems);
    assert_eq!(log.read(cut).unwrap(), vec![cut as u8 | 1; 1024]);
}

/// The index of such a segment once could not be rebuilt (the rebuild
/// scanned the punched prefix), so a damaged index file made intact
/// records unreadable.
#[test]
fn damaged_index_of_a_front_truncated_sealed_segment_is_rebuilt() {
    let f = Fixture::new(opts().index_cache_bytes(0));
    let log = f.open().unwrap();
    fill_three_segments(&log);
    log.wait_reclaimed();
    let seg0 = log.stats().unwrap().segments[0].clone();
    let cut = seg0.end_position - 5;
    log.truncate_front(cut).unwrap();
    log.wait_reclaimed();
    drop(log);
    let log = f.reopen();
    // Damage the index of the first segment (a cache of the segment).
    let idx = seg0.path.with_extension("idx");
    let mut bytes = std::fs::read(&idx).unwrap();
    let last = bytes.len() - 3;
    bytes[last] ^= 0xFF;
    std::fs::write(&idx, &bytes).unwrap();
    // Push the first segment's index out of the cache by reading elsewhere.
    log.read(log.next_position() - 1).unwrap();
    for p in cut..seg0.end_position {
        assert_eq!(
            log.read(p).unwrap(),
            vec![p as u8 | 1; 1024],
            "position {p}"
        );
    }
    let v = log.verify(|_, _| {}).unwrap();
    assert!(v.problems.is_empty(), "{:?}", v.problems);
}

#[test]
fn verify_does_not_report_the_punched_prefix() {
    let fs = SimFs::new();
    let log = Log::open("/log", sim_opts(&fs)).unwrap();
    fill_sealed(&log);
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
    let log = Log::open("/log", sim_opts(&fs)).unwrap();
    // No sync: segment 0's index is not written, only its offsets cached.
    fill_sealed(&log);
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
    let log = Log::open("/log", sim_opts(&fs)).unwrap();
    assert!(log.recovery_report().rebuilt_indexes.is_empty());
    assert_eq!(log.first_position(), 12);
    for p in 12..40 {
        assert_eq!(log.read(p).unwrap(), record(p, 1000), "position {p}");
    }
    assert_eq!(log.verify(|_, _| {}).unwrap().problems, vec![]);
}
