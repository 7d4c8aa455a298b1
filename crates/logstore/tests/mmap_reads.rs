//! `Options::mmap_reads`: point reads copied from memory-mapped segments
//! return what `pread` would, across rolls, both truncations and reopening,
//! and a file cut under its map is never read past its end.

use logstore::{ErrorKind, Log, Options, SyncPolicy};

mod common;
use common::{assert_kind, record, Rng};

fn opts() -> Options {
    Options::default()
        .segment_size(64 << 10)
        .sync_policy(SyncPolicy::Never)
        .background_reclaim(false)
        .mmap_reads(true)
}

fn len_of(i: u64) -> usize {
    1 + (i as usize * 97) % 3000
}

/// A log in `dir` holding records 0 to `n - 1`.
fn filled(dir: &std::path::Path, n: u64) -> Log {
    let log = Log::open(dir, opts()).unwrap();
    for i in 0..n {
        log.append(&record(i, len_of(i))).unwrap();
    }
    log
}

fn check_range(log: &Log, range: std::ops::Range<u64>) {
    for p in range {
        assert!(log.read(p).unwrap() == record(p, len_of(p)), "position {p}");
    }
}

fn check_all(log: &Log) {
    check_range(log, log.first_position()..log.next_position());
}

#[test]
fn reads_match_what_was_appended() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), opts()).unwrap();
    for i in 0..400 {
        assert_eq!(log.append(&record(i, len_of(i))).unwrap(), i);
        // Reading right after the append: the active segment's map must
        // cover what was just written, or fall back to `pread`.
        assert!(log.read(i).unwrap() == record(i, len_of(i)), "position {i}");
    }
    assert!(log.stats().unwrap().segments.len() > 5);
    check_all(&log);
    let mut r = Rng(5);
    for _ in 0..2000 {
        let p = r.below(400);
        assert!(log.read(p).unwrap() == record(p, len_of(p)), "position {p}");
    }
    // A record larger than a segment's reserved map.
    let big = record(400, 200 << 10);
    assert_eq!(log.append(&big).unwrap(), 400);
    assert!(log.read(400).unwrap() == big);
    drop(log);
    let log = Log::open(dir.path(), opts()).unwrap();
    check_range(&log, 0..400);
    assert!(log.read(400).unwrap() == big);
}

#[test]
fn truncations_cut_mapped_files_safely() {
    let dir = tempfile::tempdir().unwrap();
    let log = filled(dir.path(), 300);
    check_all(&log);
    // Into a sealed, mapped segment: the file shrinks under its map.
    log.truncate_back(120).unwrap();
    assert_kind(log.read(150), ErrorKind::OutOfRange);
    for i in 120..200 {
        let rec = record(i + 1000, len_of(i));
        assert_eq!(log.append(&rec).unwrap(), i);
        assert!(log.read(i).unwrap() == rec, "position {i}");
    }
    check_range(&log, 0..120);
    // The front: whole segments removed, the rest punched out.
    log.truncate_front(90).unwrap();
    log.wait_reclaimed();
    assert_kind(log.read(89), ErrorKind::Truncated);
    check_range(&log, 90..120);
    for p in 120..200 {
        assert!(
            log.read(p).unwrap() == record(p + 1000, len_of(p)),
            "position {p}"
        );
    }
}

/// Closing releases the directory lock, after which another writer may
/// shorten the files: a closed handle's maps are gone and its reads fail
/// with `Closed`.
#[test]
fn a_closed_log_reads_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = filled(dir.path(), 200);
    check_all(&log);
    log.close().unwrap();
    let other = Log::open(dir.path(), opts()).unwrap();
    other.truncate_back(5).unwrap();
    for p in [0, 4, 150, 199] {
        assert_kind(log.read(p), ErrorKind::Closed);
    }
    check_all(&other);
}

#[test]
fn read_only_handles_do_not_map() {
    let dir = tempfile::tempdir().unwrap();
    let log = filled(dir.path(), 100);
    log.flush().unwrap();
    let view = Log::open(dir.path(), opts().read_only(true)).unwrap();
    check_all(&view);
    // The writer cuts a file the view has open: the view learns of it
    // from the files and reports the records gone, without reading past
    // the end of anything.
    log.truncate_back(10).unwrap();
    view.refresh().unwrap();
    assert_eq!(view.next_position(), 10);
    check_all(&view);
}
