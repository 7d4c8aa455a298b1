//! Guards `sync` after `truncate_back`: a sealed segment that no sync has
//! covered yet must still be synced by the next `sync`, even though the
//! cut itself made the segment it shortened durable.

use logstore::sim::{CrashMode, SimFs};
use logstore::{Log, Options, SyncPolicy};

mod common;
use common::record;

fn opts(fs: &SimFs) -> Options {
    Options::default()
        .simulated(fs)
        .segment_size(4096)
        .sync_policy(SyncPolicy::Never)
}

#[test]
fn sync_after_truncate_back_covers_earlier_sealed_segments() {
    let fs = SimFs::new();
    let log = Log::open("/log", opts(&fs)).unwrap();
    for i in 0..30u64 {
        log.append(&record(i, 300)).unwrap();
    }
    assert!(log.stats().unwrap().segments.len() >= 3);
    // Cut inside the active segment, then ask for durability.
    log.truncate_back(29).unwrap();
    log.sync().unwrap();
    fs.restart(CrashMode::DropUnsynced);

    let log = Log::open("/log", opts(&fs)).unwrap();
    assert_eq!(log.first_position(), 0);
    assert_eq!(log.next_position(), 29);
    for i in 0..29u64 {
        assert_eq!(log.read(i).unwrap(), record(i, 300), "position {i}");
    }
}

#[test]
fn sync_after_truncate_back_into_a_sealed_segment_covers_the_ones_before() {
    let fs = SimFs::new();
    let log = Log::open("/log", opts(&fs)).unwrap();
    for i in 0..30u64 {
        log.append(&record(i, 300)).unwrap();
    }
    let segments = log.stats().unwrap().segments;
    assert!(segments.len() >= 3);
    // A position in the second segment: the first stays sealed.
    let cut = segments[1].first_position + 1;
    log.truncate_back(cut).unwrap();
    log.sync().unwrap();
    fs.restart(CrashMode::DropUnsynced);

    let log = Log::open("/log", opts(&fs)).unwrap();
    assert_eq!(log.next_position(), cut);
    for i in 0..cut {
        assert_eq!(log.read(i).unwrap(), record(i, 300), "position {i}");
    }
}
