//! Guards against `sync` skipping records that are not durable yet: records
//! that reached only the operating system before the process stopped (found
//! in the files at reopen), and records of rolled segments when a
//! `truncate_back` came in between.

mod common;

use common::record;
use logstore::sim::{CrashMode, SimFs};
use logstore::{Log, Options, SyncPolicy};

/// 4 KiB segments on `fs`, synced only when asked.
fn small_segments(fs: &SimFs) -> Options {
    Options::default()
        .segment_size(4096)
        .sync_policy(SyncPolicy::Never)
        .simulated(fs)
}

fn reopen_sync_and_lose_power(records: u64, len: usize) {
    let fs = SimFs::new();
    let opts = small_segments(&fs);
    let log = Log::open("/log", opts.clone()).unwrap();
    for i in 0..records {
        log.append(&record(i, len)).unwrap();
    }
    // The process stops: the records are in the OS, not on the disk.
    drop(log);
    let log = Log::open("/log", opts.clone()).unwrap();
    assert_eq!(log.next_position(), records);
    log.sync().unwrap();
    fs.cut_power_now();
    drop(log);
    fs.restart(CrashMode::DropUnsynced);
    let log = Log::open("/log", opts).unwrap();
    assert_eq!(log.next_position(), records, "synced records were lost");
    for i in 0..records {
        assert_eq!(log.read(i).unwrap(), record(i, len));
    }
}

#[test]
fn sync_after_reopen_covers_the_active_segment() {
    reopen_sync_and_lose_power(5, 100);
}

#[test]
fn sync_after_reopen_covers_unsealed_segments() {
    reopen_sync_and_lose_power(40, 700);
}

#[test]
fn sync_after_truncate_back_covers_rolled_segments() {
    let fs = SimFs::new();
    let opts = small_segments(&fs);
    let log = Log::open("/log", opts.clone()).unwrap();
    // Several segments, none synced yet.
    for i in 0..30 {
        log.append(&record(i, 700)).unwrap();
    }
    assert!(log.stats().unwrap().segments.len() > 2);
    log.truncate_back(28).unwrap();
    log.sync().unwrap();
    fs.cut_power_now();
    drop(log);
    fs.restart(CrashMode::DropUnsynced);
    let log = Log::open("/log", opts).unwrap();
    assert_eq!(log.next_position(), 28, "synced records were lost");
    for i in 0..28 {
        assert_eq!(log.read(i).unwrap(), record(i, 700));
    }
}

/// A sealed segment that no sync has covered yet is still synced by the
/// next `sync` after a `truncate_back`, even though the cut itself made
/// the segment it shortened durable.
#[test]
fn sync_after_truncate_back_covers_earlier_sealed_segments() {
    let fs = SimFs::new();
    let log = Log::open("/log", small_segments(&fs)).unwrap();
    for i in 0..30u64 {
        log.append(&record(i, 300)).unwrap();
    }
    assert!(log.stats().unwrap().segments.len() >= 3);
    // Cut inside the active segment, then ask for durability.
    log.truncate_back(29).unwrap();
    log.sync().unwrap();
    fs.restart(CrashMode::DropUnsynced);

    let log = Log::open("/log", small_segments(&fs)).unwrap();
    assert_eq!(log.first_position(), 0);
    assert_eq!(log.next_position(), 29);
    for i in 0..29u64 {
        assert_eq!(log.read(i).unwrap(), record(i, 300), "position {i}");
    }
}

#[test]
fn sync_after_truncate_back_into_a_sealed_segment_covers_the_ones_before() {
    let fs = SimFs::new();
    let log = Log::open("/log", small_segments(&fs)).unwrap();
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

    let log = Log::open("/log", small_segments(&fs)).unwrap();
    assert_eq!(log.next_position(), cut);
    for i in 0..cut {
        assert_eq!(log.read(i).unwrap(), record(i, 300), "position {i}");
    }
}

/// Rolls write the new segment's header without a sync; the next sync
/// makes the names and headers durable. Power is cut after rolls that no
/// sync covered, with every unsynced sector kept, dropped or garbled: the
/// synced records are all there, and what is recovered is a prefix of
/// what was appended, whatever state the new segments were left in.
#[test]
fn rolls_without_a_sync_are_a_torn_tail() {
    let mut torn_rolls = 0;
    for seed in 0..200u64 {
        let fs = SimFs::new();
        let opts = small_segments(&fs);
        let log = Log::open("/log", opts.clone()).unwrap();
        let len = 300 + (seed as usize * 37) % 900;
        let synced = 10 + seed % 7;
        for i in 0..synced {
            log.append(&record(i, len)).unwrap();
        }
        log.sync().unwrap();
        let issued = synced + 12;
        for i in synced..issued {
            log.append(&record(i, len)).unwrap();
        }
        fs.cut_power_now();
        drop(log);
        fs.restart(CrashMode::Scramble(seed));
        let log = Log::open("/log", opts).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let next = log.next_position();
        assert!(
            (synced..=issued).contains(&next),
            "seed {seed}: next {next}, synced {synced}, issued {issued}"
        );
        for i in 0..next {
            assert_eq!(
                log.read(i).unwrap(),
                record(i, len),
                "seed {seed} record {i}"
            );
        }
        let report = log.recovery_report();
        if report.torn_tail.as_ref().is_some_and(|c| c.offset == 0) {
            torn_rolls += 1;
        }
        assert_eq!(log.append(b"after").unwrap(), next);
    }
    // Some crashes must have torn a rolled segment's header, or this test
    // does not test what it says.
    assert!(torn_rolls > 0, "no crash tore a rolled segment");
}
