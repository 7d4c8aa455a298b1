//! Guards against reading damaged files as records, in the spirit of
//! LevelDB's log reader tests: a torn tail is cut and reported, damage
//! anywhere else is a `Corruption` error naming the file and byte offset
//! (or, in tolerant mode, a cut that is reported), and no length field
//! read from disk is ever believed enough to allocate it.

mod common;

use std::path::PathBuf;
use std::sync::atomic::Ordering;

use common::{
    assert_corruption_at, assert_kind, file_len, fill, fill_three_segments, flip_byte, patch,
    record, set_len, shrink, Fixture, FILE_HEADER, FRAME_HEADER,
};
use logstore::{ErrorKind, Log, Options, SyncPolicy};

/// A global allocator that records the largest single allocation, to
/// prove that forged lengths are not believed. The only `unsafe` here:
/// there is no other way to observe every allocation.
#[allow(unsafe_code)]
mod tracking {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicUsize, Ordering};

    pub static LARGEST: AtomicUsize = AtomicUsize::new(0);

    pub struct Tracking;

    // SAFETY: every call is forwarded unchanged to the system allocator.
    unsafe impl GlobalAlloc for Tracking {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
            // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
            unsafe { System.alloc(layout) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: the caller upholds `GlobalAlloc::dealloc`'s contract.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    #[global_allocator]
    static ALLOC: Tracking = Tracking;
}

use tracking::LARGEST;

/// Payload bytes of every fixture record: three records fill a 4 KiB
/// segment, so the fourth starts a new one.
const LEN: usize = 1000;
const FRAME: u64 = (FRAME_HEADER + LEN) as u64;
const PER_SEGMENT: u64 = 3;
/// Bytes of a sync mark (docs/FORMAT.md).
const MARK: u64 = 16;

/// A log of `n` records in 4 KiB segments of three, in a [`Fixture`] that
/// gives the tests here their vocabulary to damage it. Records `0..n - 1`
/// were acknowledged (synced by a clean close, whose sync mark vouches for
/// them); the last one was appended after a reopen and never synced, as a
/// crash leaves the tail.
struct Written {
    log: Fixture,
    n: u64,
}

impl std::ops::Deref for Written {
    type Target = Fixture;

    fn deref(&self) -> &Fixture {
        &self.log
    }
}

impl Written {
    fn write(n: u64) -> Written {
        let f = Fixture::new(opts());
        let log = f.open().unwrap();
        fill(&log, 0..n.saturating_sub(1), LEN);
        log.close().unwrap();
        drop(log);
        if n > 0 {
            let log = f.reopen();
            log.append(&record(n - 1, LEN)).unwrap();
            // Dropped without a sync: the record reaches the file only.
            drop(log);
        }
        Written { log: f, n }
    }

    /// A copy of this fixture's files (cheaper than writing a new log).
    fn copy(&self) -> Written {
        Written {
            log: self.log.copy(),
            n: self.n,
        }
    }

    /// The segment file holding `pos`.
    fn segment_of(&self, pos: u64) -> PathBuf {
        self.segment(pos / PER_SEGMENT * PER_SEGMENT)
    }

    fn index_of(&self, pos: u64) -> PathBuf {
        self.segment_of(pos).with_extension("idx")
    }

    /// Byte offset of the frame of `pos` in its segment.
    /// (The unsynced last record follows the close's sync mark when they
    /// share a segment.)
    fn offset_of(&self, pos: u64) -> u64 {
        let after_mark = pos + 1 >= self.n && !pos.is_multiple_of(PER_SEGMENT) && self.n > 1;
        FILE_HEADER as u64 + pos % PER_SEGMENT * FRAME + if after_mark { MARK } else { 0 }
    }

    fn corrupt_payload(&self, pos: u64) {
        flip_byte(
            &self.segment_of(pos),
            self.offset_of(pos) + FRAME_HEADER as u64 + 7,
        );
    }

    fn set_length_field(&self, pos: u64, len: u32) {
        patch(
            &self.segment_of(pos),
            self.offset_of(pos) + 4,
            &len.to_le_bytes(),
        );
    }
}

fn opts() -> Options {
    Options::default()
        .segment_size(4096)
        .sync_policy(SyncPolicy::Never)
        .background_reclaim(false)
}

fn assert_records(log: &Log, range: std::ops::Range<u64>) {
    assert_eq!(log.next_position(), range.end);
    for pos in range {
        assert_eq!(log.read(pos).unwrap(), record(pos, LEN), "record {pos}");
    }
}

#[test]
fn fixture_layout_is_as_assumed() {
    let f = Written::write(7);
    let log = f.open().unwrap();
    let stats = log.stats().unwrap();
    let firsts: Vec<u64> = stats.segments.iter().map(|s| s.first_position).collect();
    assert_eq!(firsts, vec![0, 3, 6]);
    assert_eq!(stats.segments[2].path, f.segment_of(6));
    assert_eq!(file_len(&f.segment_of(0)), f.offset_of(2) + FRAME);
    assert!(f.index_of(0).exists());
}

#[test]
fn tail_cut_at_every_byte_of_the_last_record() {
    // Records 0..3 in a sealed segment, 3 and a short last record 4 in
    // the last one.
    let original = Written::write(4);
    let log = original.open().unwrap();
    let last = record(4, 100);
    log.append(&last).unwrap();
    // Dropped without a sync (the policy is `Never`): a crash's tail.
    drop(log);
    let start = FILE_HEADER as u64 + FRAME;
    let end = start + (FRAME_HEADER + last.len()) as u64;
    assert_eq!(file_len(&original.segment_of(4)), end);
    for cut in start..end {
        let f = original.copy();
        set_len(&f.segment_of(4), cut);
        let log = f.open().unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        assert_records(&log, 0..4);
        let report = log.recovery_report();
        if cut == start {
            assert_eq!(report.torn_tail, None, "a cut between records is no tear");
            continue;
        }
        let torn = report
            .torn_tail
            .unwrap_or_else(|| panic!("cut at {cut}: no torn tail"));
        assert_eq!(torn.segment, f.segment_of(4));
        assert_eq!((torn.offset, torn.from_position), (start, 4));
        assert_eq!(torn.bytes, cut - start);
        // The cut is durable: the next append takes the torn record's place.
        assert_eq!(log.append(b"again").unwrap(), 4);
        drop(log);
        let log = f.open().unwrap();
        assert_eq!(log.read(4).unwrap(), b"again");
    }
}

/// A cleanly closed log whose last segment lost bytes from its end (the
/// file was shortened): its close left an index recording the length, so
/// the records lost are reported, never taken for a torn tail. Fails on
/// 05995b3 (silently cut).
#[test]
fn last_segment_shortened_after_a_clean_close_is_corruption() {
    let original = Written::write(4);
    let log = original.open().unwrap();
    log.append(&record(4, 100)).unwrap();
    log.close().unwrap();
    drop(log);
    let seg = original.segment_of(4);
    let len = file_len(&seg);
    let record_4 = FILE_HEADER as u64 + FRAME;
    // (Where the intact data ends: the error names that offset.)
    for (cut, at) in [
        (record_4, record_4),
        (len - 20, record_4),
        (len - 1, len - MARK),
    ] {
        let f = original.copy();
        set_len(&f.segment_of(4), cut);
        assert_corruption_at(f.open().unwrap_err(), &f.segment_of(4), at);
        assert_eq!(file_len(&f.segment_of(4)), cut, "nothing changed");
        let log = f.open_tolerant().unwrap();
        let report = log.recovery_report();
        assert_eq!(report.torn_tail, None, "cut at {cut}");
        assert!(report.dropped.is_some(), "cut at {cut}");
        drop(log);
        f.open().unwrap();
    }
}

#[test]
fn bad_checksum_in_the_last_segment_is_a_torn_tail() {
    let f = Written::write(5);
    f.corrupt_payload(4);
    let log = f.open().unwrap();
    assert_records(&log, 0..4);
    let torn = log.recovery_report().torn_tail.unwrap();
    assert_eq!((torn.offset, torn.from_position), (f.offset_of(4), 4));
}

#[test]
fn bad_length_in_the_last_segment_is_a_torn_tail() {
    for len in [0, 1, LEN as u32 + 1, 0x7FFF_FFFF] {
        let f = Written::write(5);
        f.set_length_field(4, len);
        let log = f.open().unwrap();
        assert_records(&log, 0..4);
        let torn = log.recovery_report().torn_tail.unwrap();
        assert_eq!(torn.from_position, 4, "length {len}");
    }
}

/// Zeros after the last record of the last segment are what
/// `Options::preallocate` leaves there: space for the next appends, not a
/// torn tail. Appends overwrite it, and `close` cuts what is left.
#[test]
fn zero_filled_tail_is_space_for_appends() {
    let f = Written::write(5);
    let seg = f.segment_of(4);
    let len = file_len(&seg);
    set_len(&seg, len + 10_000);
    let log = f.open().unwrap();
    assert_records(&log, 0..5);
    assert!(log.recovery_report().torn_tail.is_none());
    assert_eq!(file_len(&seg), len + 10_000);
    assert_eq!(log.append(&record(5, LEN)).unwrap(), 5);
    log.close().unwrap();
    // Record 5 follows record 4, and the close's sync mark follows it.
    assert_eq!(
        file_len(&f.segment_of(5)),
        f.offset_of(4) + 2 * FRAME + MARK
    );
    let log = f.open().unwrap();
    assert_records(&log, 0..6);
    assert!(log.recovery_report().torn_tail.is_none());
}

/// Zeros at the end of a segment that is not the last are damage: every
/// segment but the active one ends with its data (a roll's sync makes its
/// cut durable before anything later is acknowledged). With the later
/// records vouched for by a sync mark, that is corruption, even with the
/// indexes gone; tolerant recovery cuts it and says it dropped data.
#[test]
fn zero_filled_end_of_an_unsealed_segment_is_corruption() {
    let f = Written::write(7);
    let first = f.segment_of(0);
    let last = f.segment_of(6);
    assert_ne!(first, last);
    let len = file_len(&first);
    set_len(&first, len + 4096);
    f.remove_indexes();
    assert_corruption_at(f.open().unwrap_err(), &first, len);
    assert_eq!(file_len(&first), len + 4096, "nothing changed");
    let log = f.open_tolerant().unwrap();
    let report = log.recovery_report();
    assert_eq!(report.torn_tail, None);
    let dropped = report.dropped.unwrap();
    assert_eq!(
        (dropped.segment.as_path(), dropped.offset),
        (first.as_path(), len)
    );
    assert_eq!(file_len(&first), len);
}

#[test]
fn bad_checksum_in_a_sealed_segment_is_corruption() {
    let f = Written::write(7);
    f.corrupt_payload(1);
    // The indexed segment is trusted at open; reading the record checks it.
    let log = f.open().unwrap();
    let e = assert_kind(log.read(1), ErrorKind::Corruption);
    assert_eq!(e.path(), Some(f.segment_of(1).as_path()), "{e}");
    assert_eq!(log.read(2).unwrap(), record(2, LEN));
    let e = log.iter(0).nth(1).unwrap().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corruption);
    let report = log.verify(|_, _| {}).unwrap();
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert_eq!(report.problems[0].path, f.segment_of(1));
    assert_eq!(report.problems[0].offset, f.offset_of(1));
    drop(log);
    // Without its index the segment is scanned at open.
    std::fs::remove_file(f.index_of(1)).unwrap();
    let e = f.open().unwrap_err();
    assert_corruption_at(e, &f.segment_of(1), f.offset_of(1));
}

#[test]
fn bad_length_in_a_sealed_segment_is_corruption() {
    // Segments 0, 3, 6 and 9: segment 3 is followed by an indexed one, so
    // it is not part of the unsealed tail even without its own index.
    let f = Written::write(10);
    f.set_length_field(4, LEN as u32 + 1);
    let log = f.open().unwrap();
    let e = assert_kind(log.read(4), ErrorKind::Corruption);
    assert_eq!(e.path(), Some(f.segment_of(4).as_path()), "{e}");
    let report = log.verify(|_, _| {}).unwrap();
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert_eq!(report.problems[0].path, f.segment_of(4));
    assert_eq!(report.problems[0].offset, f.offset_of(4));
    drop(log);
    std::fs::remove_file(f.index_of(4)).unwrap();
    assert_corruption_at(f.open().unwrap_err(), &f.segment_of(4), f.offset_of(4));
}

#[test]
fn tolerant_open_cuts_at_sealed_damage_and_reports_it() {
    let f = Written::write(10);
    f.corrupt_payload(4);
    std::fs::remove_file(f.index_of(4)).unwrap();
    let log = f.open_tolerant().unwrap();
    assert_records(&log, 0..4);
    let report = log.recovery_report();
    assert_eq!(report.torn_tail, None);
    let dropped = report.dropped.unwrap();
    assert_eq!(dropped.segment, f.segment_of(4));
    assert_eq!((dropped.offset, dropped.from_position), (f.offset_of(4), 4));
    assert_eq!(
        dropped.removed_segments,
        vec![f.segment_of(6), f.segment_of(9)]
    );
    let header = FILE_HEADER as u64;
    assert_eq!(
        dropped.bytes,
        2 * FRAME + (header + 3 * FRAME + MARK) + (header + FRAME)
    );
    drop(log);
    // The cut is durable, and strict mode is happy with what is left.
    let log = f.open().unwrap();
    assert_records(&log, 0..4);
}

#[test]
fn bad_segment_header_is_corruption() {
    for pos in [0, 3] {
        let f = Written::write(7);
        flip_byte(&f.segment_of(pos), 20);
        assert_corruption_at(f.open().unwrap_err(), &f.segment_of(pos), 0);
    }
}

#[test]
fn bad_header_of_the_last_segment_is_a_torn_roll() {
    // A roll writes the new header without a sync, so a bad header at the
    // end of the log is what a crash during a roll leaves: the segment is
    // cut as a torn tail (it has no index), not reported as corruption.
    let f = Written::write(7);
    flip_byte(&f.segment_of(6), 20);
    let log = f.open().unwrap();
    assert_records(&log, 0..6);
    let torn = log.recovery_report().torn_tail.clone().unwrap();
    assert_eq!(torn.segment, f.segment_of(6));
    assert_eq!((torn.offset, torn.from_position), (0, 6));
    assert_eq!(torn.removed_segments, vec![f.segment_of(6)]);
    assert!(!f.segment_of(6).exists());
    assert_eq!(log.append(&record(6, LEN)).unwrap(), 6);
}

#[test]
fn missing_middle_segment_is_corruption() {
    let f = Written::write(8);
    std::fs::remove_file(f.segment_of(3)).unwrap();
    let e = f.open().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corruption, "{e}");
    assert_eq!(e.path(), Some(f.segment_of(6).as_path()), "{e}");
    let log = f.open_tolerant().unwrap();
    assert_records(&log, 0..3);
    let dropped = log.recovery_report().dropped.unwrap();
    assert_eq!(dropped.from_position, 3);
    assert_eq!(dropped.removed_segments.len(), 0);
    assert_eq!(dropped.segment, f.segment_of(6));
    assert_eq!(log.append(b"next").unwrap(), 3);
}

#[test]
fn missing_first_segment_is_corruption() {
    let f = Written::write(8);
    std::fs::remove_file(f.segment_of(0)).unwrap();
    let e = f.open().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corruption, "{e}");
}

#[test]
fn foreign_segment_is_corruption() {
    let ours = Written::write(7);
    let theirs = Written::write(7);
    std::fs::copy(theirs.segment_of(3), ours.segment_of(3)).unwrap();
    let e = ours.open().unwrap_err();
    assert!(e.to_string().contains("another log"), "{e}");
    assert_corruption_at(e, &ours.segment_of(3), 0);
    // Tolerant mode refuses it too: cutting the log there would delete
    // another log's file. It is kept as it was.
    let e = ours.open_tolerant().unwrap_err();
    assert_corruption_at(e, &ours.segment_of(3), 0);
    assert_eq!(
        std::fs::read(ours.segment_of(3)).unwrap(),
        std::fs::read(theirs.segment_of(3)).unwrap()
    );
}

#[test]
fn forged_huge_length_is_never_allocated() {
    let f = Written::write(7);
    f.set_length_field(1, 0x7FFF_FFFF); // sealed segment
    f.set_length_field(6, 0xFFFF_FFF0); // last segment
    LARGEST.store(0, Ordering::Relaxed);
    let log = f.open().unwrap();
    assert_eq!(log.next_position(), 6);
    assert_kind(log.read(1), ErrorKind::Corruption);
    assert_eq!(log.verify(|_, _| {}).unwrap().problems.len(), 1);
    drop(log);
    std::fs::remove_file(f.index_of(1)).unwrap();
    assert_kind(f.open().map(drop), ErrorKind::Corruption);
    assert_eq!(f.open_tolerant().unwrap().next_position(), 1);
    let largest = LARGEST.load(Ordering::Relaxed);
    assert!(largest < 16 << 20, "allocated {largest} bytes at once");
}

/// 64 KiB segments, synced at every append.
fn durable_64k() -> Options {
    Options::default()
        .segment_size(64 << 10)
        .sync_policy(SyncPolicy::Always)
        .background_reclaim(false)
}

/// A sealed segment (one with an index) that lost its end is corruption,
/// not a torn tail: indexes are written only once their segment is
/// durable. (It was once taken for a torn tail, so a strict open silently
/// dropped every later segment, acknowledged records included.)
#[test]
fn shortened_sealed_segment_is_corruption_not_a_torn_tail() {
    let f = Fixture::new(durable_64k());
    let log = f.open().unwrap();
    let n = fill_three_segments(&log);
    log.wait_reclaimed();
    let segs = log.stats().unwrap().segments;
    drop(log);
    // The last sealed segment loses its last 100 bytes.
    let victim = &segs[segs.len() - 2].path;
    shrink(victim, 100);
    let err = f.open().unwrap_err();
    assert_eq!(err.kind(), logstore::ErrorKind::Corruption, "{err}");
    assert_eq!(err.path(), Some(victim.as_path()), "{err}");
    // Tolerant recovery keeps the longest valid prefix and says so.
    let log = f.open_tolerant().unwrap();
    let dropped = log.recovery_report().dropped.expect("a reported cut");
    assert_eq!(&dropped.segment, victim);
    assert!(log.next_position() < n);
    assert_eq!(dropped.from_position, log.next_position());
}

/// Guards the rule of `shortened_sealed_segment_is_corruption_not_a_torn_tail`
/// against stale indexes: an index written for a segment that was later
/// reopened and grew (by `truncate_back`, racing a background seal) records
/// a shorter segment and proves nothing; damage after it is a torn tail.
#[test]
fn a_stale_index_does_not_make_a_torn_tail_corruption() {
    let f = Fixture::new(durable_64k());
    let log = f.open().unwrap();
    fill_three_segments(&log);
    log.wait_reclaimed();
    let segs = log.stats().unwrap().segments;
    drop(log);
    // An index recording a shorter segment than the file, then torn bytes
    // at the end of that segment, followed by another segment.
    let victim = &segs[segs.len() - 2].path;
    let idx = victim.with_extension("idx");
    let len = file_len(victim);
    let mut bytes = std::fs::read(victim).unwrap();
    bytes.extend_from_slice(&[0xAB; 40]);
    std::fs::write(victim, &bytes).unwrap();
    let mut stale = std::fs::read(&idx).unwrap();
    let n = stale.len();
    stale[n - 8..].copy_from_slice(&(len - 1).to_le_bytes());
    std::fs::write(&idx, &stale).unwrap();
    let log = f.open().unwrap();
    let torn = log.recovery_report().torn_tail.expect("a torn tail");
    assert_eq!(&torn.segment, victim);
    assert_eq!(torn.offset, len);
}

/// Segments that tolerant recovery removes stay removed after a second
/// crash: the removal is made durable (the directory is synced). It once
/// was not, so after a second crash the damaged file was back and the log
/// could no longer be opened in strict mode.
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

/// A roll torn by a crash right after `truncate_front` to the very end of
/// a segment (which names that segment, now dead, in the meta file) is a
/// torn tail. It once left the first segment of the log with a bad header,
/// which recovery reported as corruption instead of cutting the torn roll.
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
