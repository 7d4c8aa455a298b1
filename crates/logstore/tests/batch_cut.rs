//! Guards against losing the kept part of a batch when `truncate_back`
//! cuts inside it: the kept records must survive a reopen and a crash
//! (also one that garbles the rewritten header of the last kept record),
//! not be taken for a torn batch.

mod common;

use common::{fill_three_segments, record};
use logstore::sim::{CrashMode, SimFs};
use logstore::{ErrorKind, Log, Options, SyncPolicy};

/// 64 KiB segments on the real file system, synced only when asked.
fn big_segments() -> Options {
    Options::default()
        .segment_size(64 << 10)
        .sync_policy(SyncPolicy::Never)
        .background_reclaim(false)
}

#[test]
fn cut_inside_a_batch_keeps_the_head_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), Options::default()).unwrap();
    log.append(b"before").unwrap();
    let recs: Vec<Vec<u8>> = (0..5).map(|i| record(i, 10 + i as usize)).collect();
    assert_eq!(log.append_batch(&recs).unwrap(), 1..6);
    log.truncate_back(3).unwrap();
    drop(log);
    let log = Log::open(dir.path(), Options::default()).unwrap();
    assert_eq!(log.next_position(), 3);
    assert!(log.recovery_report().torn_tail.is_none());
    assert_eq!(log.read(1).unwrap(), recs[0]);
    assert_eq!(log.read(2).unwrap(), recs[1]);
    assert_eq!(log.append(b"after").unwrap(), 3);
}

#[test]
fn cut_inside_a_sealed_batch_survives_power_loss() {
    let fs = SimFs::new();
    let opts = Options::default().segment_size(4096).simulated(&fs);
    let log = Log::open("/log", opts.clone()).unwrap();
    let recs: Vec<Vec<u8>> = (0..8).map(|i| record(i, 300)).collect();
    log.append_batch(&recs).unwrap();
    // Roll so that the batch lies in a sealed segment.
    log.append(&record(99, 4000)).unwrap();
    log.wait_reclaimed();
    log.truncate_back(4).unwrap();
    fs.cut_power_now();
    drop(log);
    fs.restart(CrashMode::DropUnsynced);
    let log = Log::open("/log", opts).unwrap();
    assert_eq!(log.next_position(), 4);
    for (i, rec) in recs.iter().take(4).enumerate() {
        assert_eq!(&log.read(i as u64).unwrap(), rec);
    }
}

/// A cut inside a batch ends the batch at the last kept record, in the
/// active segment and in a sealed one. It once left that record flagged
/// "the batch continues", so the next open took the kept part of the
/// batch for a torn write and cut it away: acknowledged records lost
/// without any crash.
#[test]
fn truncate_back_inside_a_batch_keeps_its_front() {
    for sync in [SyncPolicy::Always, SyncPolicy::Never] {
        let dir = tempfile::tempdir().unwrap();
        let o = || big_segments().sync_policy(sync);
        let log = Log::open(dir.path(), o()).unwrap();
        log.append(b"before").unwrap();
        // One batch in the active segment, one in a segment sealed later.
        assert_eq!(
            log.append_batch(&[&b"a"[..], b"b", b"c", b"d"]).unwrap(),
            1..5
        );
        log.truncate_back(3).unwrap();
        drop(log);
        let log = Log::open(dir.path(), o()).unwrap();
        assert_eq!(log.recovery_report().torn_tail, None, "{sync:?}");
        assert_eq!(log.next_position(), 3, "{sync:?}");
        assert_eq!(log.read(2).unwrap(), b"b");
        let big: Vec<Vec<u8>> = (0..40).map(|i| vec![i as u8; 1000]).collect();
        let range = log.append_batch(&big).unwrap();
        fill_three_segments(&log);
        log.wait_reclaimed();
        let segs = log.stats().unwrap().segments;
        assert!(
            segs.last().unwrap().first_position >= range.end,
            "batch is sealed"
        );
        log.truncate_back(range.start + 7).unwrap();
        drop(log);
        let log = Log::open(dir.path(), o()).unwrap();
        assert_eq!(log.next_position(), range.start + 7, "{sync:?}");
        assert_eq!(log.read(range.start + 6).unwrap(), big[6]);
    }
}

/// `truncate_back` inside a batch rewrites the header of the last record
/// it keeps (to end the batch there); the new header goes to a cut file
/// first, durably, and recovery finishes the cut from it, so a power cut
/// that garbles the unsynced rewrite loses nothing. (Before the cut file,
/// such a crash destroyed an acknowledged record, and recovery cut it and
/// the rest of the batch's front as a torn tail.)
#[test]
fn a_garbled_batch_end_is_rewritten_from_the_cut_file() {
    let fs = SimFs::new();
    let o = || {
        Options::default()
            .sync_policy(SyncPolicy::Always)
            // No zeros written ahead by the background thread: its writes
            // would shift the count of operations that `cut_power_after`
            // counts, and a run could skip the window this test needs.
            .preallocate(false)
            .simulated(&fs)
    };
    let setup = || {
        let log = Log::open("/log", o()).unwrap();
        log.append(b"before").unwrap();
        assert_eq!(
            log.append_batch(&[&b"a"[..], b"b", b"c", b"d"]).unwrap(),
            1..5
        );
        log
    };
    // Frames: the segment header (64), `before` (16 + 6), the sync mark
    // the batch's append wrote after `before`'s sync (16), `a` (16 + 1),
    // then `b`, whose header is the one rewritten.
    let b_header = 64 + 22 + 16 + 17;
    let seg = "/log/00000000000000000000.seg";
    let mut garbled = 0;
    for n in 0.. {
        let log = setup();
        fs.cut_power_after(n);
        let done = log.truncate_back(3).is_ok();
        drop(log);
        fs.restart(CrashMode::KeepUnsynced);
        let cut_pending = fs.list("/log").contains(&"logstore.cut".to_string());
        if cut_pending {
            // The worst a crash can do to the unsynced header write.
            let mut bytes = fs.file_contents(seg).unwrap();
            bytes[b_header..b_header + 16].fill(0xa5);
            fs.set_file_contents(seg, &bytes).unwrap();
            garbled += 1;
        }
        let log = Log::open("/log", o()).unwrap_or_else(|e| panic!("cut after {n}: {e}"));
        let next = log.next_position();
        assert!(
            next == 3 || (next == 5 && !done),
            "cut after {n}: next {next}"
        );
        assert_eq!(log.read(1).unwrap(), b"a", "cut after {n}");
        assert_eq!(log.read(2).unwrap(), b"b", "cut after {n}");
        if cut_pending {
            assert_eq!(next, 3, "a durable cut file finishes the cut");
        }
        assert!(!fs.list("/log").contains(&"logstore.cut".to_string()));
        assert_eq!(log.recovery_report().torn_tail, None, "cut after {n}");
        drop(log);
        fs.delete_file(seg).unwrap();
        fs.delete_file("/log/logstore.meta").unwrap();
        if done {
            break;
        }
    }
    assert!(garbled > 0, "some crash left the cut file pending");
}

/// A cut file is finished whatever the `max_record_size` of the open that
/// finds it; the open then refuses the larger record without cutting it.
/// (A cut file whose record was larger than the limit was once dropped
/// unapplied, and the garbled header then lost the record.)
#[test]
fn a_cut_file_is_finished_whatever_the_record_limit() {
    let fs = SimFs::new();
    // No zeros written ahead: the background thread's writes would count
    // towards the power cut, which must land on this thread's calls.
    let o = |max: usize| {
        Options::default()
            .sync_policy(SyncPolicy::Always)
            .max_record_size(max)
            .preallocate(false)
            .simulated(&fs)
    };
    let big = vec![7u8; 50_000];
    let seg = "/log/00000000000000000000.seg";
    for n in 0.. {
        let log = Log::open("/log", o(100_000)).unwrap();
        assert_eq!(log.append_batch(&[&b"a"[..], &big, b"c"]).unwrap(), 0..3);
        fs.cut_power_after(n);
        let done = log.truncate_back(2).is_ok();
        drop(log);
        fs.restart(CrashMode::KeepUnsynced);
        if fs.list("/log").contains(&"logstore.cut".to_string()) {
            // The rewrite of record 1's header was garbled.
            let at = 64 + 17;
            let mut bytes = fs.file_contents(seg).unwrap();
            bytes[at..at + 16].fill(0xa5);
            fs.set_file_contents(seg, &bytes).unwrap();
            let e = Log::open("/log", o(10_000)).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
            assert!(e.to_string().contains("at least 50000"), "{e}");
            let log = Log::open("/log", o(100_000)).unwrap();
            assert_eq!(log.next_position(), 2);
            assert!(log.read(1).unwrap() == big);
            return;
        }
        assert!(!done, "no crash point left the cut file pending");
        fs.delete_file(seg).unwrap();
        fs.delete_file("/log/logstore.meta").unwrap();
    }
}
