//! Damage to records that were acknowledged as durable is corruption,
//! never a torn tail: recovery knows how far the log was synced from the
//! sync marks in the segments (docs/FORMAT.md, "Sync marks"), not from
//! index files, which are a cache. Only what was written after the last
//! sync that a mark records may be cut as torn.

mod common;

use std::path::Path;

use common::{assert_kind, files_with_ext, record};
use logstore::sim::{CrashMode, SimFs};
use logstore::{ErrorKind, Log, Options, Recovery, SyncPolicy};

const LEN: usize = 100;

fn sim_opts(fs: &SimFs) -> Options {
    Options::default()
        .segment_size(4096)
        .sync_policy(SyncPolicy::Always)
        .simulated(fs)
}

fn seg_path(first: u64) -> String {
    format!("/log/{first:020}.seg")
}

/// Flips a byte of the first record's payload in segment 0.
fn flip_in_first_segment(fs: &SimFs) -> Vec<u8> {
    let mut bytes = fs.file_contents(seg_path(0)).unwrap();
    bytes[64 + 16 + 5] ^= 0x20;
    fs.set_file_contents(seg_path(0), &bytes).unwrap();
    bytes
}

/// After a power cut that also lost the index files (they are written
/// without a sync: a cache), one flipped byte in the first segment made
/// recovery cut 97 of 100 acknowledged records on 05995b3, reported only
/// as a torn tail. The sync marks of the later segments vouch for them.
#[test]
fn power_cut_losing_indexes_then_a_flipped_byte_is_corruption() {
    let fs = SimFs::new();
    let log = Log::open("/log", sim_opts(&fs)).unwrap();
    for i in 0..100 {
        assert_eq!(log.append(&record(i, LEN)).unwrap(), i);
    }
    log.wait_reclaimed();
    fs.cut_power_now();
    drop(log);
    fs.restart(CrashMode::DropUnsynced);
    for name in fs.list("/log") {
        if name.ends_with(".idx") {
            fs.delete_file(format!("/log/{name}")).unwrap();
        }
    }
    let before = flip_in_first_segment(&fs);
    let e = assert_kind(Log::open("/log", sim_opts(&fs)), ErrorKind::Corruption);
    assert_eq!(e.path(), Some(Path::new(&seg_path(0))), "{e}");
    assert_eq!(e.offset(), Some(64), "{e}");
    assert!(e.to_string().contains("acknowledged"), "{e}");
    // Nothing was cut.
    assert_eq!(fs.file_contents(seg_path(0)).unwrap(), before);
    // Tolerant recovery cuts it, and says it dropped data: not a torn tail.
    let log = Log::open("/log", sim_opts(&fs).recovery(Recovery::Tolerant)).unwrap();
    let report = log.recovery_report();
    assert_eq!(report.torn_tail, None);
    assert_eq!(report.dropped.unwrap().from_position, 0);
}

/// An index deleted by hand (documented as a rebuildable cache) must not
/// turn damage in its segment into a torn tail either. Fails on 05995b3.
#[test]
fn deleted_index_then_damage_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let opts = || Options::default().segment_size(4096);
    let log = Log::open(dir.path(), opts()).unwrap();
    for i in 0..100 {
        log.append(&record(i, LEN)).unwrap();
    }
    log.close().unwrap();
    drop(log);
    for idx in files_with_ext(dir.path(), "idx") {
        std::fs::remove_file(idx).unwrap();
    }
    let seg0 = &files_with_ext(dir.path(), "seg")[0];
    let mut bytes = std::fs::read(seg0).unwrap();
    bytes[64 + 16 + 5] ^= 0x20;
    std::fs::write(seg0, &bytes).unwrap();
    let e = assert_kind(Log::open(dir.path(), opts()), ErrorKind::Corruption);
    assert_eq!(e.path(), Some(seg0.as_path()), "{e}");
    assert_eq!(std::fs::read(seg0).unwrap(), bytes);
    assert!(files_with_ext(dir.path(), "seg").len() > 1);
}

/// A cleanly closed log of one segment: its close vouches for every
/// record (its sync mark and index), so damage anywhere in it is
/// corruption: reported by reads and `verify`, never cut. Fails on
/// 05995b3 (cut as a torn tail, and position 0 handed to the next append).
#[test]
fn damage_in_a_cleanly_closed_last_segment_is_corruption() {
    let fs = SimFs::new();
    let opts = || {
        sim_opts(&fs)
            .segment_size(1 << 20)
            .sync_policy(SyncPolicy::Never)
    };
    let log = Log::open("/log", opts()).unwrap();
    for i in 0..300 {
        log.append(&record(i, LEN)).unwrap();
    }
    log.close().unwrap();
    drop(log);
    flip_in_first_segment(&fs);
    for ro in [true, false] {
        let log = Log::open("/log", opts().read_only(ro)).unwrap();
        assert_eq!(log.recovery_report().torn_tail, None);
        assert_eq!(log.next_position(), 300);
        let e = assert_kind(log.read(0), ErrorKind::Corruption);
        assert_eq!(e.path(), Some(Path::new(&seg_path(0))), "{e}");
        assert_eq!(e.offset(), Some(64), "{e}");
        assert_eq!(log.read(299).unwrap(), record(299, LEN));
        let v = log.verify(|_, _| {}).unwrap();
        assert_eq!(v.problems.len(), 1, "{:?}", v.problems);
        assert_eq!(v.problems[0].offset, 64);
        if !ro {
            // Appends go on after the records, never over them.
            assert_eq!(log.append(b"more").unwrap(), 300);
            log.close().unwrap();
        }
    }
    // A crash in the middle of writing after it: the damage is still
    // corruption (the close's index says those bytes were synced).
    let log = Log::open("/log", opts()).unwrap();
    log.append(b"unsynced").unwrap();
    drop(log);
    assert_kind(Log::open("/log", opts()), ErrorKind::Corruption);
}

/// What was written after the last sync is still a torn tail: a power cut
/// that garbles it costs exactly those records, and opening works.
#[test]
fn damage_after_the_last_sync_is_a_torn_tail() {
    let fs = SimFs::new();
    let log = Log::open("/log", sim_opts(&fs).sync_policy(SyncPolicy::Never)).unwrap();
    for i in 0..10 {
        log.append(&record(i, LEN)).unwrap();
    }
    log.sync().unwrap();
    for i in 10..20 {
        log.append(&record(i, LEN)).unwrap();
    }
    drop(log);
    fs.restart(CrashMode::KeepUnsynced);
    // Garble record 15 (unsynced): records 0..15 come back.
    let mut bytes = fs.file_contents(seg_path(0)).unwrap();
    let at = 64 + 15 * (16 + LEN) + 16 + 16 + 3;
    bytes[at] ^= 0xff;
    fs.set_file_contents(seg_path(0), &bytes).unwrap();
    let log = Log::open("/log", sim_opts(&fs)).unwrap();
    assert_eq!(log.next_position(), 15);
    let torn = log.recovery_report().torn_tail.unwrap();
    assert_eq!(torn.from_position, 15);
    for i in 0..15 {
        assert_eq!(log.read(i).unwrap(), record(i, LEN));
    }
}

/// A log written by format version 1 opens, keeps every record, and is
/// marked version 2 by its first writer (so that a version 1 build, which
/// would take sync marks for damage, refuses it from then on).
#[test]
fn version_1_log_is_upgraded_by_its_first_writer() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1");
    let dir = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(&src).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, dir.path().join(p.file_name().unwrap())).unwrap();
    }
    let meta = dir.path().join("logstore.meta");
    assert_eq!(std::fs::read(&meta).unwrap()[8], 1);
    let opts = || Options::default().segment_size(4096);
    let log = Log::open(dir.path(), opts()).unwrap();
    assert_eq!(std::fs::read(&meta).unwrap()[8], 2);
    let (first, next) = (log.first_position(), log.next_position());
    assert_eq!((first, next), (2, 30));
    let kept: Vec<Vec<u8>> = (first..next).map(|p| log.read(p).unwrap()).collect();
    log.append(b"after the upgrade").unwrap();
    log.close().unwrap();
    drop(log);
    let log = Log::open(dir.path(), opts()).unwrap();
    for (p, r) in (first..next).zip(&kept) {
        assert_eq!(&log.read(p).unwrap(), r);
    }
    assert_eq!(log.read(30).unwrap(), b"after the upgrade");
    assert_eq!(log.recovery_report().torn_tail, None);
}

/// Zeros from a record boundary to the end of a cleanly closed segment
/// (the close's mark zeroed too) look like the space written ahead for
/// appends; but the close's index says those bytes were synced, so the
/// records they hide are reported, never cut silently. Before the fix, a
/// strict open succeeded with the last ten records gone and no report.
#[test]
fn zeroed_end_of_a_closed_segment_is_corruption() {
    let fs = SimFs::new();
    let opts = || {
        sim_opts(&fs)
            .segment_size(1 << 20)
            .sync_policy(SyncPolicy::Never)
    };
    let log = Log::open("/log", opts()).unwrap();
    for i in 0..300 {
        log.append(&record(i, LEN)).unwrap();
    }
    log.close().unwrap();
    drop(log);
    let mut bytes = fs.file_contents(seg_path(0)).unwrap();
    let at = 64 + 290 * (16 + LEN);
    bytes[at..].fill(0);
    fs.set_file_contents(seg_path(0), &bytes).unwrap();
    let ro = opts().read_only(true);
    assert_kind(Log::open("/log", ro), ErrorKind::Corruption);
    let log = Log::open("/log", opts().recovery(Recovery::Tolerant)).unwrap();
    let report = log.recovery_report();
    assert_eq!(report.torn_tail, None);
    assert_eq!(report.dropped.unwrap().from_position, 290);
}

fn big_segment_opts(fs: &SimFs) -> Options {
    sim_opts(fs).segment_size(1 << 20)
}

/// A clean close leaves the active segment's index, and the next open
/// keeps it (reopening without a directory sync). Appends then make the
/// segment longer than the index says; after a power cut, the index still
/// vouches for the records before its end, and every acknowledged record
/// is back.
#[test]
fn a_close_index_kept_at_open_vouches_after_later_appends_and_a_power_cut() {
    let fs = SimFs::new();
    let log = Log::open("/log", big_segment_opts(&fs)).unwrap();
    for i in 0..50 {
        log.append(&record(i, LEN)).unwrap();
    }
    log.close().unwrap();
    let log = Log::open("/log", big_segment_opts(&fs)).unwrap();
    assert!(fs.file_contents("/log/00000000000000000000.idx").is_some());
    for i in 50..80 {
        assert_eq!(log.append(&record(i, LEN)).unwrap(), i);
    }
    fs.cut_power_now();
    drop(log);
    fs.restart(CrashMode::DropUnsynced);
    let log = Log::open("/log", big_segment_opts(&fs)).unwrap();
    assert_eq!(log.next_position(), 80);
    for i in 0..80 {
        assert_eq!(log.read(i).unwrap(), record(i, LEN), "position {i}");
    }
    drop(log);
    // A flipped byte before the old index's end is corruption, not a cut.
    flip_in_first_segment(&fs);
    let e = assert_kind(
        Log::open("/log", big_segment_opts(&fs)),
        ErrorKind::Corruption,
    );
    assert_eq!(e.offset(), Some(64), "{e}");
}

/// `truncate_back` below a kept close index removes it, durably, before
/// it cuts: after a power cut the shorter segment opens clean and is not
/// taken for one that lost acknowledged bytes.
#[test]
fn truncate_back_after_a_reopen_leaves_no_close_index_to_contradict_it() {
    let fs = SimFs::new();
    let log = Log::open("/log", big_segment_opts(&fs)).unwrap();
    for i in 0..50 {
        log.append(&record(i, LEN)).unwrap();
    }
    log.close().unwrap();
    let log = Log::open("/log", big_segment_opts(&fs)).unwrap();
    log.truncate_back(20).unwrap();
    assert_eq!(log.append(&record(1000, LEN)).unwrap(), 20);
    fs.cut_power_now();
    drop(log);
    fs.restart(CrashMode::DropUnsynced);
    let log = Log::open("/log", big_segment_opts(&fs)).unwrap();
    assert_eq!(log.next_position(), 21);
    assert_eq!(log.read(20).unwrap(), record(1000, LEN));
    assert_eq!(log.read(19).unwrap(), record(19, LEN));
}

/// A reopened log whose active segment keeps its close index rolls: the
/// sealed index replaces the close one, and until it does (a power cut
/// first) the stale one is not taken for the sealed one.
#[test]
fn a_roll_after_a_reopen_replaces_the_kept_close_index() {
    let fs = SimFs::new();
    let opts = sim_opts(&fs).sync_policy(SyncPolicy::Bytes(1 << 40));
    let log = Log::open("/log", opts.clone()).unwrap();
    for i in 0..10 {
        log.append(&record(i, LEN)).unwrap();
    }
    log.close().unwrap();
    let log = Log::open("/log", opts.clone()).unwrap();
    let mut n = 10;
    while log.stats().unwrap().segments.len() < 2 {
        log.append(&record(n, LEN)).unwrap();
        n += 1;
    }
    // No sync since the roll: the sealed index is not written yet.
    fs.cut_power_now();
    drop(log);
    fs.restart(CrashMode::KeepUnsynced);
    let log = Log::open("/log", opts.clone()).unwrap();
    assert_eq!(log.next_position(), n);
    for i in 0..n {
        assert_eq!(log.read(i).unwrap(), record(i, LEN), "position {i}");
    }
    log.sync().unwrap();
    log.close().unwrap();
    let log = Log::open("/log", opts).unwrap();
    assert_eq!(log.next_position(), n);
    let report = log.verify(|_, _| {}).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.records, n);
}
