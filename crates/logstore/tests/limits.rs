//! Guards the limits of the contract: one writer per directory (in this
//! process or another), disk space actually given back by `truncate_front`,
//! the largest and smallest records, and the end of the position space
//! (appends there are refused instead of overflowing the position counter).

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use common::{assert_kind, record};
use logstore::{ErrorKind, Log, Options, SyncPolicy, DEFAULT_MAX_RECORD_SIZE};

/// Set in a child process: the directory it must fail to lock.
const CHILD_ENV: &str = "LOGSTORE_TEST_LOCK_CHILD";

#[test]
fn second_writer_in_this_process_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), Options::default()).unwrap();
    let e = assert_kind(Log::open(dir.path(), Options::default()), ErrorKind::Locked);
    assert!(
        e.to_string().contains(&dir.path().display().to_string()),
        "{e}"
    );
    // A reader needs no lock.
    let reader = Log::open(dir.path(), Options::default().read_only(true)).unwrap();
    drop(reader);
    // Closing releases the lock, even while the handle lives on.
    log.close().unwrap();
    let again = Log::open(dir.path(), Options::default()).unwrap();
    assert_kind(log.append(b"x"), ErrorKind::Closed);
    drop(again);
}

/// In the child process (this test binary run again with [`CHILD_ENV`]
/// set): tries to open the directory for writing, and reports by exit code.
fn lock_child(dir: &std::ffi::OsStr) -> ! {
    match Log::open(dir, Options::default()) {
        Err(e) if e.kind() == ErrorKind::Locked => std::process::exit(10),
        Err(e) => panic!("{e}"),
        Ok(_) => std::process::exit(11),
    }
}

fn child_open(dir: &Path) -> i32 {
    let status = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "second_writer_in_another_process_is_refused"])
        .env(CHILD_ENV, dir)
        .status()
        .unwrap();
    status.code().unwrap_or(-1)
}

#[test]
fn second_writer_in_another_process_is_refused() {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        lock_child(&dir);
    }
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), Options::default()).unwrap();
    log.append(b"held").unwrap();
    assert_eq!(child_open(dir.path()), 10, "the child was not refused");
    drop(log);
    assert_eq!(child_open(dir.path()), 11, "the lock outlived its holder");
}

/// Bytes allocated on disk for the files of `dir`, by extension.
fn allocated(dir: &Path, ext: &str) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .map(|p| std::fs::metadata(p).unwrap().blocks() * 512)
        .sum()
}

#[test]
fn truncate_front_gives_disk_space_back() {
    const BLOCK: u64 = 4096;
    let dir = tempfile::tempdir().unwrap();
    let opts = Options::default()
        .segment_size(1 << 20)
        .sync_policy(SyncPolicy::Never);
    let log = Log::open(dir.path(), opts).unwrap();
    // ~12 MiB in 3000-byte records: 8 bytes of index per record is small
    // against them.
    for i in 0..4000u64 {
        log.append(&record(i, 3000)).unwrap();
    }
    log.sync().unwrap();
    log.wait_reclaimed();
    let before = log.stats().unwrap();
    // Into the middle of a segment, so that its dead prefix must be punched.
    log.truncate_front(2222).unwrap();
    log.wait_reclaimed();
    let s = log.stats().unwrap();
    assert_eq!((s.first_position, s.records), (2222, 4000 - 2222));
    let segments = s.segments.len() as u64;
    let seg_bytes = allocated(dir.path(), "seg");
    let idx_bytes = allocated(dir.path(), "idx");
    let meta_bytes = allocated(dir.path(), "meta");
    // The engine's figure is the file system's.
    assert_eq!(s.disk_bytes, seg_bytes + idx_bytes + meta_bytes);
    // Segments: the retained frames, plus per segment the partial block at
    // its end and the 64-byte header; the first one keeps its header block
    // and the block where the first record starts.
    let bound = s.retained_bytes + segments * (BLOCK + 64) + BLOCK;
    assert!(
        seg_bytes <= bound,
        "segments use {seg_bytes} bytes for {} retained ({segments} segments)",
        s.retained_bytes
    );
    // Metadata: 8 bytes per indexed record, a header and a partial block
    // per index, and the meta file.
    let meta_bound = 8 * s.records + segments * 2 * BLOCK + BLOCK;
    assert!(
        idx_bytes + meta_bytes <= meta_bound,
        "{idx_bytes} + {meta_bytes}"
    );
    assert!(
        s.disk_bytes < before.disk_bytes / 2,
        "{} -> {}",
        before.disk_bytes,
        s.disk_bytes
    );
    // Everything kept is still readable, across a reopen.
    assert_eq!(log.read(2222).unwrap(), record(2222, 3000));
    drop(log);
    let log = Log::open(dir.path(), Options::default()).unwrap();
    assert_eq!(log.first_position(), 2222);
    assert_eq!(log.read(2222).unwrap(), record(2222, 3000));
    assert_eq!(log.read(3999).unwrap(), record(3999, 3000));
}

#[test]
fn largest_record_round_trips_and_larger_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), Options::default()).unwrap();
    log.append(b"first").unwrap();
    let big = record(7, DEFAULT_MAX_RECORD_SIZE);
    assert_eq!(log.append(&big).unwrap(), 1);
    // The zeros written ahead of the data (`Options::preallocate`) are
    // in place once the background jobs are done; refused records must
    // change nothing after that.
    log.wait_reclaimed();
    let files_before = common::files_with_ext(dir.path(), "seg");
    let lens: Vec<u64> = files_before.iter().map(|p| common::file_len(p)).collect();
    let too_big = vec![1u8; DEFAULT_MAX_RECORD_SIZE + 1];
    assert_kind(log.append(&too_big), ErrorKind::InvalidArgument);
    assert_kind(log.append(b""), ErrorKind::InvalidArgument);
    let batch: [&[u8]; 3] = [b"ok", &too_big, b"ok"];
    assert_kind(log.append_batch(&batch), ErrorKind::InvalidArgument);
    assert_kind(
        log.append_batch(&[&b"ok"[..], b""]),
        ErrorKind::InvalidArgument,
    );
    // Nothing was written.
    assert_eq!(log.next_position(), 2);
    assert_eq!(common::files_with_ext(dir.path(), "seg"), files_before);
    let lens_after: Vec<u64> = files_before.iter().map(|p| common::file_len(p)).collect();
    assert_eq!(lens_after, lens);
    assert_eq!(log.append(b"last").unwrap(), 2);
    drop(log);
    let log = Log::open(dir.path(), Options::default()).unwrap();
    assert!(log.read(1).unwrap() == big, "the large record differs");
    assert_eq!(log.read(2).unwrap(), b"last");
    assert_eq!(log.verify(|_, _| {}).unwrap().problems, vec![]);
}

#[test]
fn configured_record_limit_is_enforced() {
    let dir = tempfile::tempdir().unwrap();
    for bad in [0, logstore::MAX_RECORD_SIZE_LIMIT + 1] {
        let opts = Options::default().max_record_size(bad);
        assert_kind(Log::open(dir.path(), opts), ErrorKind::InvalidArgument);
    }
    let log = Log::open(dir.path(), Options::default().max_record_size(1000)).unwrap();
    assert_kind(log.append(&[1u8; 1001]), ErrorKind::InvalidArgument);
    assert_eq!(log.append(&[1u8; 1000]).unwrap(), 0);
    assert_eq!(log.next_position(), 1);
}

/// Records 0 to 6 of 100 bytes, but record 5 of 5000.
fn write_one_large_record(dir: &Path, opts: Options) {
    let log = Log::open(dir, opts).unwrap();
    for i in 0..7u64 {
        log.append(&record(i, if i == 5 { 5000 } else { 100 }))
            .unwrap();
    }
    log.close().unwrap();
}

/// A log written with a larger `max_record_size` than the one it is
/// reopened with: its larger records are intact data, not a torn tail.
/// Opening refuses, names the record and the limit needed, and changes
/// nothing (in tolerant mode too); the right limit opens it whole.
#[test]
fn reopening_with_a_smaller_record_limit_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let opts = || Options::default().sync_policy(SyncPolicy::Never);
    write_one_large_record(dir.path(), opts());
    let seg = dir.path().join("00000000000000000000.seg");
    let before = std::fs::read(&seg).unwrap();
    for recovery in [logstore::Recovery::Strict, logstore::Recovery::Tolerant] {
        let e = assert_kind(
            Log::open(dir.path(), opts().max_record_size(1000).recovery(recovery)),
            ErrorKind::InvalidArgument,
        );
        let text = e.to_string();
        assert!(text.contains("record 5 is 5000 bytes"), "{text}");
        assert!(text.contains("at least 5000"), "{text}");
        assert_eq!(e.path(), Some(seg.as_path()), "{text}");
        assert_eq!(e.offset(), Some(64 + 5 * (16 + 100)), "{text}");
        assert!(
            std::fs::read(&seg).unwrap() == before,
            "the segment changed"
        );
    }
    let log = Log::open(dir.path(), opts().max_record_size(5000)).unwrap();
    assert_eq!(log.next_position(), 7);
    assert!(log.read(5).unwrap() == record(5, 5000));
    assert_eq!(log.recovery_report().torn_tail, None);
}

/// The same, for a record in a sealed, indexed segment, which opening
/// does not read: reading it says what opening would have.
#[test]
fn reading_a_record_larger_than_the_limit_names_the_limit_needed() {
    let dir = tempfile::tempdir().unwrap();
    let opts = || Options::default().segment_size(4096);
    write_one_large_record(dir.path(), opts());
    let seg = dir.path().join("00000000000000000005.seg");
    assert!(dir.path().join("00000000000000000005.idx").exists());
    let log = Log::open(dir.path(), opts().max_record_size(1000)).unwrap();
    assert!(log.read(4).unwrap() == record(4, 100));
    assert!(log.read(6).unwrap() == record(6, 100));
    let e = assert_kind(log.read(5), ErrorKind::InvalidArgument);
    let text = e.to_string();
    assert!(text.contains("record 5 is 5000 bytes"), "{text}");
    assert!(text.contains("at least 5000"), "{text}");
    assert_eq!(e.path(), Some(seg.as_path()), "{text}");
    // Record 5 starts its segment, after the sync mark there (16 bytes).
    assert_eq!((e.offset(), e.position()), (Some(80), Some(5)), "{text}");
    let mut it = log.iter(4);
    assert!(it.next().unwrap().unwrap() == (4, record(4, 100)));
    let e = it.next().unwrap().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    // Damage there is still damage.
    drop(log);
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[64 + 16 + 10] ^= 1;
    std::fs::write(&seg, &bytes).unwrap();
    let log = Log::open(dir.path(), opts().max_record_size(1000)).unwrap();
    assert_kind(log.read(5), ErrorKind::Corruption);
}

/// Opens the log of `dir`, synced only when asked.
fn open_unsynced(dir: &Path) -> Log {
    Log::open(dir, Options::default().sync_policy(SyncPolicy::Never)).unwrap()
}

/// `truncate_front` may move the log to any position, even the last ones.
#[test]
fn append_at_the_last_position_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_unsynced(dir.path());
    log.append(b"a").unwrap();
    log.truncate_front(u64::MAX).unwrap();
    assert_eq!(log.next_position(), u64::MAX);
    assert_kind(log.append(b"b"), ErrorKind::OutOfRange);
    // Nothing changed, and the log still works.
    assert_eq!(log.next_position(), u64::MAX);
    assert_eq!(log.first_position(), u64::MAX);
    log.sync().unwrap();
    drop(log);
    let log = open_unsynced(dir.path());
    assert_eq!(log.next_position(), u64::MAX);
}

#[test]
fn batch_that_would_run_past_the_last_position_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_unsynced(dir.path());
    log.truncate_front(u64::MAX - 2).unwrap();
    assert_kind(log.append_batch(&[b"a", b"b", b"c"]), ErrorKind::OutOfRange);
    assert_eq!(log.next_position(), u64::MAX - 2);
    assert_eq!(
        log.append_batch(&[b"a", b"b"]).unwrap(),
        u64::MAX - 2..u64::MAX
    );
    assert_eq!(log.read(u64::MAX - 1).unwrap(), b"b");
    assert_kind(log.append(b"c"), ErrorKind::OutOfRange);
    drop(log);
    let log = open_unsynced(dir.path());
    assert_eq!(log.next_position(), u64::MAX);
    assert_eq!(log.read(u64::MAX - 2).unwrap(), b"a");
}
