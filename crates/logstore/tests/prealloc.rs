//! `Options::preallocate`: zeros written ahead of the active segment's
//! data under a syncing policy, cut off at rolls and at close, and kept
//! for appends after a crash.

mod common;

use std::path::{Path, PathBuf};

use common::{all_records, file_len, files_with_ext, record, FILE_HEADER, FRAME_HEADER};
use logstore::{Log, Options, SyncPolicy};

const LEN: usize = 1000;
const FRAME: u64 = (FRAME_HEADER + LEN) as u64;
const HEADER: u64 = FILE_HEADER as u64;
/// Bytes of a sync mark (docs/FORMAT.md): under `SyncPolicy::Always`,
/// every append after the first is preceded by one, vouching for the
/// records synced before it.
const MARK: u64 = 16;

/// Where the data of `n` records appended one by one under
/// `SyncPolicy::Always` to a new log's first segment ends.
fn synced_end(n: u64) -> u64 {
    HEADER + n * FRAME + n.saturating_sub(1) * MARK
}

fn opts(segment_size: u64) -> Options {
    Options::default()
        .segment_size(segment_size)
        .sync_policy(SyncPolicy::Always)
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    files_with_ext(dir, "seg")
}

fn append(log: &Log, range: std::ops::Range<u64>) {
    for i in range {
        assert_eq!(log.append(&record(i, LEN)).unwrap(), i);
    }
}

fn zeros_from(path: &Path, offset: u64) -> bool {
    let bytes = std::fs::read(path).unwrap();
    bytes[offset as usize..].iter().all(|&b| b == 0)
}

fn check(log: &Log, n: u64) {
    let got = all_records(log);
    assert_eq!(got.len() as u64, n);
    for (pos, rec) in got {
        assert_eq!(rec, record(pos, LEN), "record {pos}");
    }
    let report = log.verify(|_, _| {}).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

/// Opens the log in `dir`, which must come up with no torn tail.
fn reopen(dir: &Path, opts: Options) -> Log {
    let log = Log::open(dir, opts).unwrap();
    assert!(log.recovery_report().torn_tail.is_none());
    log
}

#[test]
fn zeros_are_written_ahead_of_the_data_and_cut_at_close() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), opts(1 << 20)).unwrap();
    append(&log, 0..100);
    log.wait_reclaimed();
    let seg = &segments(dir.path())[0];
    let data_end = synced_end(100);
    // 1 MiB segments: 128 KiB at a time, at least 64 KiB ahead.
    let len = file_len(seg);
    assert!(
        len >= data_end + (64 << 10),
        "{len} bytes for {data_end} of data"
    );
    assert!(len <= 1 << 20);
    assert!(zeros_from(seg, data_end));
    check(&log, 100);
    log.close().unwrap();
    // The close's sync mark follows the data.
    assert_eq!(file_len(seg), data_end + MARK);
    check(&reopen(dir.path(), opts(1 << 20)), 100);
}

#[test]
fn every_sealed_segment_ends_with_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), opts(64 << 10)).unwrap();
    append(&log, 0..300);
    log.wait_reclaimed();
    let segs = segments(dir.path());
    assert!(segs.len() >= 4, "{} segments", segs.len());
    // Each sealed segment holds whole records (each with its sync mark)
    // up to the segment size, and ends with them: no zeros after.
    for seg in &segs[..segs.len() - 1] {
        let len = file_len(seg);
        assert!(
            len <= 64 << 10 && len + FRAME + MARK > 64 << 10,
            "{seg:?}: {len}"
        );
        assert!(!zeros_from(seg, len - FRAME_HEADER as u64), "{seg:?}");
    }
    assert_eq!(files_with_ext(dir.path(), "idx").len(), segs.len() - 1);
    check(&log, 300);
    drop(log);
    let log = reopen(dir.path(), opts(64 << 10));
    assert!(log.recovery_report().rebuilt_indexes.is_empty());
    check(&log, 300);
}

/// A handle dropped without `close` (as a crash leaves it) leaves the
/// zeros; the next open keeps them for its appends, which overwrite them.
#[test]
fn after_a_crash_the_zeros_are_kept_for_appends() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), opts(1 << 20)).unwrap();
    append(&log, 0..50);
    log.wait_reclaimed();
    drop(log);
    let seg = segments(dir.path())[0].clone();
    let len = file_len(&seg);
    let data_end = synced_end(50);
    assert!(len > data_end + FRAME);
    let log = reopen(dir.path(), opts(1 << 20));
    check(&log, 50);
    append(&log, 50..51);
    // The record went into the zeros: the file did not grow.
    assert_eq!(file_len(&seg), len);
    check(&log, 51);
    log.close().unwrap();
    // Record 50 follows the data (what the reopen found needs no new
    // mark), and the close's sync mark follows it.
    assert_eq!(file_len(&seg), data_end + FRAME + MARK);
}

#[test]
fn no_zeros_without_syncs_or_when_turned_off() {
    for (opts, opts_never) in [
        (opts(1 << 20).sync_policy(SyncPolicy::Never), true),
        (opts(1 << 20).preallocate(false), false),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let log = Log::open(dir.path(), opts).unwrap();
        append(&log, 0..100);
        log.sync().unwrap();
        log.wait_reclaimed();
        let len = file_len(&segments(dir.path())[0]);
        let marks = match opts_never {
            true => 0,
            false => 99 * MARK,
        };
        assert_eq!(len, HEADER + 100 * FRAME + marks);
    }
}

/// Truncations while zeros are being written: the log stays consistent
/// with what it acknowledged, and a reopen finds the same records.
#[test]
fn truncations_while_zeros_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), opts(64 << 10)).unwrap();
    let mut next = 0;
    let mut first = 0;
    for round in 0..40u64 {
        append(&log, next..next + 30);
        next += 30;
        if round % 3 == 0 {
            next -= 7;
            log.truncate_back(next).unwrap();
        }
        if round % 5 == 0 {
            first = next - 20;
            log.truncate_front(first).unwrap();
        }
    }
    let check_range = |log: &Log| {
        assert_eq!((log.first_position(), log.next_position()), (first, next));
        let report = log.verify(|_, _| {}).unwrap();
        assert!(report.problems.is_empty(), "{:?}", report.problems);
    };
    check_range(&log);
    drop(log);
    let log = reopen(dir.path(), opts(64 << 10));
    check_range(&log);
}

/// A read-only handle follows a writer that writes zeros ahead: the zeros
/// are neither records nor damage to it.
#[test]
fn a_read_only_handle_follows_through_the_zeros() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), opts(1 << 20)).unwrap();
    append(&log, 0..50);
    log.wait_reclaimed();
    let seg = segments(dir.path())[0].clone();
    assert!(file_len(&seg) > HEADER + 50 * FRAME);
    let reader = reopen(dir.path(), opts(1 << 20).read_only(true));
    check(&reader, 50);
    reader.refresh().unwrap();
    assert_eq!(reader.next_position(), 50);
    append(&log, 50..60);
    reader.refresh().unwrap();
    assert_eq!(reader.next_position(), 60);
    check(&reader, 60);
}
