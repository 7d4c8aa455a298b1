//! Guards against returning damaged data or misreporting damage: every
//! single-byte flip and every truncation point of every file of two small
//! real logs is tried with strict and tolerant recovery. The logs are the
//! fixtures in `tests/fixtures`: `v1`, written by format version 1 (which
//! also guards that it stays readable), and `v2`, written by the current
//! version, with its sync marks and the index its clean close leaves.
//!
//! Expected, for each case: strict open either fails with `Corruption`
//! naming the damaged file and the offset of the damaged frame (0 for a
//! header), or opens and reports the damage when the record is read;
//! tolerant open recovers the longest valid prefix and reports what it
//! dropped; a record is never returned with bytes other than those
//! appended. Every record of both fixtures was acknowledged (synced, and
//! the log closed cleanly): in `v2`, losing any of them as a "torn tail",
//! or silently, fails the test. Format version 1 had no way to tell
//! synced bytes of its last segment from a torn tail, so there (only) a
//! torn tail is accepted.
//!
//! `LOGSTORE_WRITE_FIXTURES=1` writes a fixture that is missing (only when
//! the format version changes: then keep the old ones too).

use std::path::{Path, PathBuf};

use logstore::{ErrorKind, Log, Options, Recovery};

/// A fixture: its directory under `tests/fixtures`, and whether its
/// format can tell damage to acknowledged records from a torn tail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fixture {
    V1,
    V2,
}

impl Fixture {
    fn name(self) -> &'static str {
        match self {
            Fixture::V1 => "v1",
            Fixture::V2 => "v2",
        }
    }
}
/// The fixture's first position (after a `truncate_front`).
const FIRST: u64 = 2;
/// The fixture's next position.
const NEXT: u64 = 30;
/// The batch in the fixture.
const BATCH: std::ops::Range<u64> = 14..17;

/// The record at `position` in the fixture.
fn expected(position: u64) -> Vec<u8> {
    let len = 1 + (position * 97 % 700) as usize;
    (0..len)
        .map(|i| (position as usize * 31 + i * 7) as u8)
        .collect()
}

fn fixture_dir(fixture: Fixture) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(fixture.name())
}

fn options() -> Options {
    Options::default().segment_size(4096)
}

/// Builds the fixture: three segments (two sealed, with indexes), a batch
/// and a truncated front.
fn write_fixture(dir: &Path) {
    let log = Log::open(dir, options().background_reclaim(false)).unwrap();
    let mut p = 0;
    while p < NEXT {
        if p == BATCH.start {
            let recs: Vec<Vec<u8>> = BATCH.map(expected).collect();
            assert_eq!(log.append_batch(&recs).unwrap(), BATCH);
            p = BATCH.end;
        } else {
            assert_eq!(log.append(&expected(p)).unwrap(), p);
            p += 1;
        }
    }
    log.truncate_front(FIRST).unwrap();
    log.wait_reclaimed();
    log.close().unwrap();
    drop(log);
    std::fs::remove_file(dir.join("logstore.lock")).unwrap();
}

/// The fixture's files: (name, bytes), sorted by name.
fn fixture_files(fixture: Fixture) -> Vec<(String, Vec<u8>)> {
    let dir = fixture_dir(fixture);
    if std::env::var_os("LOGSTORE_WRITE_FIXTURES").is_some() && !dir.exists() {
        assert_eq!(
            fixture,
            Fixture::V2,
            "only the current version can be written"
        );
        write_fixture(&dir);
    }
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            (name, std::fs::read(e.path()).unwrap())
        })
        .collect();
    files.sort();
    files
}

fn install(dir: &Path, files: &[(String, Vec<u8>)]) {
    for e in std::fs::read_dir(dir).unwrap() {
        std::fs::remove_file(e.unwrap().path()).unwrap();
    }
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

/// Where each record frame of a segment file starts and ends.
fn frames(seg: &[u8]) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    let mut at = 64usize;
    while at + 16 <= seg.len() {
        let len = u32::from_le_bytes(seg[at + 4..at + 8].try_into().unwrap()) & !(1 << 31);
        let end = at + 16 + len as usize;
        out.push((at as u64, end as u64));
        at = end;
    }
    out
}

/// The offset of the frame holding byte `at` (0 for the file header).
fn frame_start(seg: &[u8], at: u64) -> u64 {
    frames(seg)
        .iter()
        .find(|&&(s, e)| s <= at && at < e)
        .map_or(0, |&(s, _)| s)
}

/// The offset of the first frame of the batch holding the frame at `frame`
/// (a damaged record takes its whole batch with it).
fn batch_start(seg: &[u8], frame: u64) -> u64 {
    let mut start = 0;
    let mut continues = false;
    for (s, _) in frames(seg) {
        if !continues {
            start = s;
        }
        if s == frame {
            return start;
        }
        continues = seg[s as usize + 7] & 0x80 != 0;
    }
    frame
}

#[derive(Clone, Copy, Debug)]
enum Damage {
    Flip(u64),
    Cut(u64),
}

/// Counters of what the cases ended in.
#[derive(Debug, Default)]
struct Tally {
    cases: u64,
    refused: u64,
    torn_tails: u64,
    dropped: u64,
    read_errors: u64,
    intact: u64,
}

/// Applies `damage` to file `k` of the fixture, opens it with `recovery`
/// and checks every rule; panics with the case on a violation.
#[allow(clippy::too_many_arguments)]
fn check(
    fixture: Fixture,
    dir: &Path,
    files: &[(String, Vec<u8>)],
    k: usize,
    damage: Damage,
    recovery: Recovery,
    t: &mut Tally,
) {
    let mut files = files.to_vec();
    let (name, original) = files[k].clone();
    let bytes = &mut files[k].1;
    match damage {
        Damage::Flip(at) => bytes[at as usize] ^= 0xFF,
        Damage::Cut(len) => bytes.truncate(len as usize),
    }
    install(dir, &files);
    let case = format!("{fixture:?} {name} {damage:?} {recovery:?}");
    let path = dir.join(&name);
    let is_seg = name.ends_with(".seg");
    let at = match damage {
        Damage::Flip(at) | Damage::Cut(at) => at,
    };
    let damaged_frame = if is_seg {
        frame_start(&original, at)
    } else {
        0
    };
    t.cases += 1;
    let log = match Log::open(dir, options().recovery(recovery)) {
        Ok(log) => log,
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::Corruption, "{case}: {e}");
            if matches!(damage, Damage::Cut(_)) && e.message().starts_with("segment missing") {
                // A sealed segment cut before its first kept record reads
                // as holding none of them: the next segment is blamed for
                // the gap.
                t.refused += 1;
                return;
            }
            assert_eq!(e.path(), Some(&*path), "{case}: {e}");
            if is_seg {
                let off = e.offset().unwrap();
                let lowest = batch_start(&original, damaged_frame);
                assert!(
                    lowest <= off && off <= damaged_frame,
                    "{case}: {e} (damaged frame at {damaged_frame})"
                );
            }
            assert!(
                recovery == Recovery::Strict || name == "logstore.meta",
                "{case}: tolerant open failed: {e}"
            );
            t.refused += 1;
            return;
        }
    };
    let report = log.recovery_report();
    let (first, next) = (log.first_position(), log.next_position());
    assert_eq!(first, FIRST, "{case}");
    assert!(next <= NEXT, "{case}: next {next}");
    if next < NEXT {
        let Some(cut) = report.torn_tail.as_ref().or(report.dropped.as_ref()) else {
            // Only a tail cut exactly between records is silent: it cannot
            // be told from records that were never written.
            let last_seg = files.iter().rposition(|f| f.0.ends_with(".seg"));
            let boundary = frames(&original).iter().any(|&(_, e)| e == at) || at == 64;
            assert!(
                fixture == Fixture::V1
                    && matches!(damage, Damage::Cut(_))
                    && last_seg == Some(k)
                    && boundary,
                "{case}: acknowledged records lost without a report"
            );
            t.torn_tails += 1;
            return;
        };
        assert_eq!(cut.from_position, next, "{case}: {cut:?}");
        assert!(
            !(BATCH.start < next && next < BATCH.end),
            "{case}: batch split at {next}"
        );
        if report.dropped.is_some() {
            assert_eq!(recovery, Recovery::Tolerant, "{case}");
            t.dropped += 1;
        } else {
            assert_eq!(
                fixture,
                Fixture::V1,
                "{case}: acknowledged records {next}..{NEXT} cut as a torn tail: {cut:?}"
            );
            t.torn_tails += 1;
        }
        if cut.segment == path && is_seg {
            assert!(cut.offset <= damaged_frame.max(64), "{case}: {cut:?}");
        }
    }
    let mut read_error = false;
    for p in first..next {
        match log.read(p) {
            Ok(r) => assert!(r == expected(p), "{case}: record {p} has wrong bytes"),
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::Corruption, "{case}: read {p}: {e}");
                assert_eq!(e.path(), Some(&*path), "{case}: read {p}: {e}");
                assert_eq!(e.offset(), Some(damaged_frame), "{case}: read {p}: {e}");
                read_error = true;
            }
        }
    }
    // The iterator never yields wrong bytes either.
    for item in log.iter(first) {
        match item {
            Ok((p, r)) => assert!(r == expected(p), "{case}: iter {p} has wrong bytes"),
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::Corruption, "{case}: iter: {e}");
                assert!(read_error, "{case}: iter failed where read did not: {e}");
                break;
            }
        }
    }
    if read_error {
        assert_eq!(recovery, Recovery::Strict, "{case}: tolerant left damage");
        let v = log.verify(|_, _| {}).unwrap();
        assert!(
            v.problems.iter().any(|p| p.path == path),
            "{case}: verify missed it: {:?}",
            v.problems
        );
        t.read_errors += 1;
    } else if next == NEXT {
        t.intact += 1;
    }
}

/// Thousands of opens sync files: use a memory file system when there is one.
fn scratch_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(d) = tempfile::tempdir_in(shm) {
            return d;
        }
    }
    tempfile::tempdir().unwrap()
}

fn matrix(fixture: Fixture, recovery: Recovery) -> Tally {
    let files = fixture_files(fixture);
    let dir = scratch_dir();
    let mut t = Tally::default();
    for k in 0..files.len() {
        let len = files[k].1.len() as u64;
        for at in 0..len {
            check(
                fixture,
                dir.path(),
                &files,
                k,
                Damage::Flip(at),
                recovery,
                &mut t,
            );
        }
        for cut in 0..len {
            check(
                fixture,
                dir.path(),
                &files,
                k,
                Damage::Cut(cut),
                recovery,
                &mut t,
            );
        }
    }
    println!("corruption matrix ({fixture:?}, {recovery:?}): {t:?}");
    t
}

fn fixture_reads_back(fixture: Fixture) {
    let files = fixture_files(fixture);
    let names: Vec<&str> = files.iter().map(|f| f.0.as_str()).collect();
    assert!(names.contains(&"logstore.meta"), "{names:?}");
    assert!(
        names.iter().filter(|n| n.ends_with(".seg")).count() >= 3,
        "{names:?}"
    );
    assert!(
        names.iter().filter(|n| n.ends_with(".idx")).count() >= 2,
        "{names:?}"
    );
    let version = files.iter().find(|f| f.0 == "logstore.meta").unwrap().1[8];
    assert_eq!(version, if fixture == Fixture::V1 { 1 } else { 2 });
    let dir = tempfile::tempdir().unwrap();
    install(dir.path(), &files);
    let log = Log::open(dir.path(), options()).unwrap();
    assert_eq!((log.first_position(), log.next_position()), (FIRST, NEXT));
    assert_eq!(log.recovery_report().torn_tail, None);
    for p in FIRST..NEXT {
        assert_eq!(log.read(p).unwrap(), expected(p), "position {p}");
    }
    assert!(log.verify(|_, _| {}).unwrap().problems.is_empty());
}

#[test]
fn fixture_v1_reads_back() {
    fixture_reads_back(Fixture::V1);
}

#[test]
fn fixture_v2_reads_back() {
    fixture_reads_back(Fixture::V2);
}

#[test]
fn every_flip_and_cut_strict_v1() {
    let t = matrix(Fixture::V1, Recovery::Strict);
    assert!(
        t.refused > 0 && t.read_errors > 0 && t.torn_tails > 0,
        "{t:?}"
    );
}

#[test]
fn every_flip_and_cut_tolerant_v1() {
    let t = matrix(Fixture::V1, Recovery::Tolerant);
    assert!(t.dropped > 0 && t.read_errors == 0, "{t:?}");
}

/// Fails on 05995b3, whose oracle counted about 28 % of the strict cases
/// (acknowledged records cut as a torn tail) as passes.
#[test]
fn every_flip_and_cut_strict_v2() {
    let t = matrix(Fixture::V2, Recovery::Strict);
    assert!(t.refused > 0 && t.read_errors > 0, "{t:?}");
    assert_eq!(t.torn_tails, 0, "{t:?}");
}

#[test]
fn every_flip_and_cut_tolerant_v2() {
    let t = matrix(Fixture::V2, Recovery::Tolerant);
    assert!(t.dropped > 0 && t.read_errors == 0, "{t:?}");
    assert_eq!(t.torn_tails, 0, "{t:?}");
}
