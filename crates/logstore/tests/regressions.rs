//! Guards against the return of engine bugs found by the reliability suite
//! (kill -9 loop, corruption matrix, fuzzing); each test names what broke.

use logstore::{Log, Options, SyncPolicy};

fn opts() -> Options {
    Options::default()
        .segment_size(64 << 10)
        .sync_policy(SyncPolicy::Never)
        .background_reclaim(false)
}

/// Fills three segments with 1 KiB records and syncs them (which seals
/// the full ones: their indexes are written); returns how many.
fn fill(log: &Log) -> u64 {
    let mut n = 0;
    while log.stats().unwrap().segments.len() < 3 {
        log.append(&[n as u8 | 1; 1024]).unwrap();
        n += 1;
    }
    log.sync().unwrap();
    log.wait_reclaimed();
    n
}

/// Found by the kill -9 loop: after `truncate_front` into a segment that was
/// already sealed, `verify` scanned the segment from its header, through the
/// punched-out (zeroed) prefix, and reported intact data as damaged.
#[test]
fn verify_after_truncating_into_a_sealed_segment() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), opts()).unwrap();
    fill(&log);
    log.wait_reclaimed();
    let seg0_end = log.stats().unwrap().segments[0].end_position;
    let cut = seg0_end - 5;
    log.truncate_front(cut).unwrap();
    log.wait_reclaimed();
    let v = log.verify(|_, _| {}).unwrap();
    assert!(v.problems.is_empty(), "{:?}", v.problems);
    assert_eq!(v.records, log.next_position() - cut);
    drop(log);
    let log = Log::open(dir.path(), opts()).unwrap();
    let v = log.verify(|_, _| {}).unwrap();
    assert!(v.problems.is_empty(), "after reopen: {:?}", v.problems);
    assert_eq!(log.read(cut).unwrap(), vec![cut as u8 | 1; 1024]);
}

/// Found with the one above: the index of a sealed segment whose front was
/// truncated and punched could not be rebuilt (the rebuild scanned the
/// punched prefix), so a damaged index file made intact records unreadable.
#[test]
fn index_rebuild_after_truncating_into_a_sealed_segment() {
    let dir = tempfile::tempdir().unwrap();
    let small_cache = || opts().index_cache_bytes(0);
    let log = Log::open(dir.path(), small_cache()).unwrap();
    fill(&log);
    log.wait_reclaimed();
    let seg0 = log.stats().unwrap().segments[0].clone();
    let cut = seg0.end_position - 5;
    log.truncate_front(cut).unwrap();
    log.wait_reclaimed();
    drop(log);
    let log = Log::open(dir.path(), small_cache()).unwrap();
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

/// Found by the corruption matrix: a sealed segment (one with an index)
/// that lost its end was taken for a torn tail, so a strict open silently
/// dropped every later segment, acknowledged records included. Indexes are
/// written only once their segment is durable, so this is corruption.
#[test]
fn shortened_sealed_segment_is_corruption_not_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let durable = || opts().sync_policy(SyncPolicy::Always);
    let log = Log::open(dir.path(), durable()).unwrap();
    let n = fill(&log);
    log.wait_reclaimed();
    let segs = log.stats().unwrap().segments;
    drop(log);
    // The last sealed segment loses its last 100 bytes.
    let victim = &segs[segs.len() - 2].path;
    let len = std::fs::metadata(victim).unwrap().len();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(victim)
        .unwrap();
    f.set_len(len - 100).unwrap();
    drop(f);
    let err = Log::open(dir.path(), durable()).unwrap_err();
    assert_eq!(err.kind(), logstore::ErrorKind::Corruption, "{err}");
    assert_eq!(err.path(), Some(victim.as_path()), "{err}");
    // Tolerant recovery keeps the longest valid prefix and says so.
    let log = Log::open(dir.path(), durable().recovery(logstore::Recovery::Tolerant)).unwrap();
    let dropped = log.recovery_report().dropped.expect("a reported cut");
    assert_eq!(&dropped.segment, victim);
    assert!(log.next_position() < n);
    assert_eq!(dropped.from_position, log.next_position());
}

/// Found while checking foreign files: a segment of another log, or a
/// header that could not be *read*, was taken for damage, so tolerant
/// recovery deleted the file. Now a foreign segment is refused and kept,
/// and a read error is an I/O error.
#[test]
fn read_errors_while_opening_never_drop_records() {
    use logstore::sim::{FaultError, Op, SimFs};
    let fs = SimFs::new();
    let o = || {
        Options::default()
            .segment_size(4096)
            .simulated(&fs)
            .recovery(logstore::Recovery::Tolerant)
    };
    {
        let log = Log::open("/log", o()).unwrap();
        for i in 0..50u64 {
            log.append(&[i as u8 + 1; 300]).unwrap();
        }
        log.close().unwrap();
    }
    for nth in 1..40 {
        fs.fail(Op::Read, nth, FaultError::Io, false);
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

/// Found by the `ops` fuzzer: `truncate_back` into the middle of a batch
/// left the last kept record flagged "the batch continues", so the next
/// open took the kept part of the batch for a torn write and cut it away:
/// acknowledged records lost without any crash.
#[test]
fn truncate_back_inside_a_batch_keeps_its_front() {
    for sync in [SyncPolicy::Always, SyncPolicy::Never] {
        let dir = tempfile::tempdir().unwrap();
        let o = || opts().sync_policy(sync);
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
        fill(&log);
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

/// Found by the `ops` fuzzer: tolerant recovery removed a damaged segment
/// without syncing the directory, so after a second crash the damaged file
/// was back and the log could no longer be opened in strict mode.
#[test]
fn segments_dropped_by_tolerant_recovery_stay_dropped() {
    use logstore::sim::{CrashMode, SimFs};
    let fs = SimFs::new();
    let o = || Options::default().segment_size(4096).simulated(&fs);
    let log = Log::open("/log", o()).unwrap();
    while log.stats().unwrap().segments.len() < 2 {
        log.append(&[7; 500]).unwrap();
    }
    let last = log.stats().unwrap().segments.last().unwrap().path.clone();
    let next = log.next_position();
    drop(log);
    // The last segment's header is destroyed.
    let mut bytes = fs.file_contents(&last).unwrap();
    bytes[..8].copy_from_slice(b"garbage!");
    fs.set_file_contents(&last, &bytes).unwrap();
    let log = Log::open("/log", o().recovery(logstore::Recovery::Tolerant)).unwrap();
    // The last segment has no index: its bad header is a torn roll.
    assert_eq!(
        log.recovery_report().torn_tail.as_ref().map(|c| &c.segment),
        Some(&last)
    );
    assert!(log.next_position() <= next);
    // Power is cut before anything else syncs the directory.
    fs.cut_power_now();
    drop(log);
    fs.restart(CrashMode::DropUnsynced);
    let log = Log::open("/log", o()).unwrap();
    assert!(log.next_position() <= next);
    assert!(!fs
        .list("/log")
        .contains(&last.file_name().unwrap().to_string_lossy().into_owned()));
}

/// Guards the rule of `shortened_sealed_segment_is_corruption_not_a_torn_tail`
/// against stale indexes: an index written for a segment that was later
/// reopened and grew (by `truncate_back`, racing a background seal) records
/// a shorter segment and proves nothing; damage after it is a torn tail.
#[test]
fn a_stale_index_does_not_make_a_torn_tail_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let durable = || opts().sync_policy(SyncPolicy::Always);
    let log = Log::open(dir.path(), durable()).unwrap();
    fill(&log);
    log.wait_reclaimed();
    let segs = log.stats().unwrap().segments;
    drop(log);
    // An index recording a shorter segment than the file, then torn bytes
    // at the end of that segment, followed by another segment.
    let victim = &segs[segs.len() - 2].path;
    let idx = victim.with_extension("idx");
    let len = std::fs::metadata(victim).unwrap().len();
    let mut bytes = std::fs::read(victim).unwrap();
    bytes.extend_from_slice(&[0xAB; 40]);
    std::fs::write(victim, &bytes).unwrap();
    let mut stale = std::fs::read(&idx).unwrap();
    let n = stale.len();
    stale[n - 8..].copy_from_slice(&(len - 1).to_le_bytes());
    std::fs::write(&idx, &stale).unwrap();
    let log = Log::open(dir.path(), durable()).unwrap();
    let torn = log.recovery_report().torn_tail.expect("a torn tail");
    assert_eq!(&torn.segment, victim);
    assert_eq!(torn.offset, len);
}

/// Found by the `ops` fuzzer: `truncate_back` inside a batch rewrites the
/// header of the last record it keeps (to end the batch there). A power
/// cut that garbled that unsynced write destroyed an acknowledged record,
/// and recovery cut it and the rest of the batch's front as a torn tail.
/// The new header now goes to a cut file first, durably, and recovery
/// finishes the cut from it.
#[test]
fn a_garbled_batch_end_is_rewritten_from_the_cut_file() {
    use logstore::sim::{CrashMode, SimFs};
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

/// Found by the `ops` fuzzer: `truncate_front` to the very end of a
/// segment names that segment in the meta file, and the segment becomes
/// dead. A roll after it, torn by a crash before any sync, then left the
/// first segment of the log with a bad header, which recovery reported as
/// corruption instead of cutting the torn roll.
#[test]
fn a_torn_roll_after_a_dead_segment_is_a_torn_tail() {
    use logstore::sim::{CrashMode, SimFs};
    let fs = SimFs::new();
    let o = || Options::default().segment_size(4096).simulated(&fs);
    let log = Log::open("/log", o()).unwrap();
    log.append(&[3; 5000]).unwrap();
    log.sync().unwrap();
    log.truncate_front(1).unwrap();
    log.wait_reclaimed();
    assert_eq!(log.append(&[4; 200]).unwrap(), 1);
    log.flush().unwrap();
    let rolled = log.stats().unwrap().segments.last().unwrap().path.clone();
    assert!(rolled.ends_with("00000000000000000001.seg"), "{rolled:?}");
    fs.cut_power_now();
    drop(log);
    fs.restart(CrashMode::KeepUnsynced);
    let mut bytes = fs.file_contents(&rolled).unwrap();
    bytes[..64].fill(0x5a);
    fs.set_file_contents(&rolled, &bytes).unwrap();
    let log = Log::open("/log", o()).unwrap();
    assert_eq!((log.first_position(), log.next_position()), (1, 1));
    let torn = log.recovery_report().torn_tail.clone().unwrap();
    assert_eq!(torn.segment, rolled);
    assert_eq!(log.append(b"again").unwrap(), 1);
}

/// Found in review: a cut file whose record is larger than the
/// `max_record_size` of the open that finds it was dropped unapplied, and
/// the garbled header then lost the record. The cut is finished whatever
/// the limit; the open then refuses the larger record without cutting it.
#[test]
fn a_cut_file_is_finished_whatever_the_record_limit() {
    use logstore::sim::{CrashMode, SimFs};
    use logstore::ErrorKind;
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
