//! Guards against lost wake-ups, unsynced acknowledgements and torn reads
//! in the engine's hand-offs: loom runs the engine's own code (built on
//! loom's locks and atomics through `src/sync.rs`) on a simulated file
//! system, once for every interleaving of its threads that can change the
//! outcome, and fails on a deadlock or on a broken assertion in any of them.
//!
//! Only a loom build compiles it:
//!
//! ```text
//! RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
//!     cargo test --release -p logstore --test loom
//! ```
//!
//! The search is exhaustive (20 to 40 s in all); `LOOM_MAX_PREEMPTIONS=N`
//! bounds it for a quicker run. Each model prints the number of
//! interleavings it explored (docs/RELIABILITY.md, section 7).
#![cfg(loom)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use logstore::sim::{CrashMode, FaultError, Op, SimFs};
use logstore::{ErrorKind, Log, Options, SyncPolicy};
use loom::thread;

const DIR: &str = "/log";
/// The smallest segment size allowed.
const SEGMENT: u64 = 4096;
/// Bytes before the first record of a segment, and before each record's
/// payload (docs/FORMAT.md).
const SEGMENT_HEADER: usize = 64;
const FRAME_HEADER: usize = 16;

/// Runs `model` in every interleaving loom explores and prints how many.
fn explore(name: &str, model: impl Fn() + Sync + Send + 'static) {
    explore_bounded(name, None, model)
}

/// As [`explore`], with at most `bound` preemptions per interleaving
/// unless LOOM_MAX_PREEMPTIONS says otherwise: for a model whose every
/// interleaving is too many to explore in CI's time.
fn explore_bounded(name: &str, bound: Option<usize>, model: impl Fn() + Sync + Send + 'static) {
    // Unbounded unless LOOM_MAX_PREEMPTIONS says otherwise: the models
    // are small enough for loom to explore every interleaving.
    let mut builder = loom::model::Builder::new();
    // Opening and reopening a log on the simulated file system takes a few
    // hundred steps before and after the threads race.
    builder.max_branches = 20_000;
    builder.preemption_bound = builder.preemption_bound.or(bound);
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = runs.clone();
    builder.check(move || {
        counted.fetch_add(1, Ordering::Relaxed);
        model();
    });
    println!(
        "loom {name}: {} interleavings explored (preemption bound {:?})",
        runs.load(Ordering::Relaxed),
        builder.preemption_bound
    );
}

fn record(i: usize) -> Vec<u8> {
    vec![b'a' + i as u8; 16 + i]
}

/// A new log on a fresh simulated file system, under `policy` and with
/// `more` applied to the options; the options are returned for reopening.
fn sim_log(
    policy: SyncPolicy,
    more: impl FnOnce(Options) -> Options,
) -> (SimFs, Options, Arc<Log>) {
    let fs = SimFs::new();
    let opts = more(Options::default().simulated(&fs).sync_policy(policy));
    let log = Arc::new(Log::open(DIR, opts.clone()).unwrap());
    (fs, opts, log)
}

/// Reopens the log as a reboot finds it: only what was synced is left.
fn reboot(fs: &SimFs, opts: Options, log: Log) -> Log {
    fs.cut_power_now();
    drop(log);
    fs.restart(CrashMode::DropUnsynced);
    Log::open(DIR, opts).unwrap()
}

/// Appends `record(i)` from `threads` threads at once (the calling one
/// included) and returns each one's result.
fn race_appends(log: &Arc<Log>, threads: usize) -> Vec<logstore::Result<u64>> {
    let handles: Vec<_> = (1..threads)
        .map(|i| {
            let log = log.clone();
            thread::spawn(move || log.append(&record(i)))
        })
        .collect();
    let mut results = vec![log.append(&record(0))];
    results.extend(handles.into_iter().map(|h| h.join().unwrap()));
    results
}

/// Three appenders race under `SyncPolicy::Always`, after `filler` (if
/// any) was appended alone. Every append returns (no lost wake-up: loom
/// fails on a deadlock), each gets its own position, and every
/// acknowledged record survives a power cut right after the appends
/// return.
fn check_group_commit(filler: Option<Vec<u8>>) {
    let (fs, opts, log) = sim_log(SyncPolicy::Always, |o| o.segment_size(SEGMENT));
    let base = match &filler {
        Some(f) => log.append(f).unwrap() + 1,
        None => 0,
    };
    let results = race_appends(&log, 3);
    let mut positions: Vec<u64> = results.iter().map(|r| *r.as_ref().unwrap()).collect();
    let rolled = log.stats().unwrap().segments.len() > 1;
    let log = reboot(&fs, opts, Arc::into_inner(log).unwrap());
    for (i, &pos) in positions.iter().enumerate() {
        assert_eq!(log.read(pos).unwrap(), record(i), "position {pos}");
    }
    positions.sort_unstable();
    assert_eq!(positions, [base, base + 1, base + 2]);
    assert_eq!(rolled, filler.is_some());
}

/// Group commit: appenders share syncs.
#[test]
fn group_commit_acknowledges_only_synced_records() {
    explore("group commit", || check_group_commit(None));
}

/// Group commit while one of the appenders rolls the segment: the sealed
/// segment's last record may still be waiting for its sync, which the
/// next leader must cover (the sealed file as well as the new one).
#[test]
fn group_commit_across_a_segment_roll() {
    // The filler leaves room for two racing records' frames (32 to 34
    // bytes each) but not three, so the third appender to get the lock
    // rolls, and may seal a record that no sync has covered yet.
    let room = 70;
    let filler = vec![b'f'; SEGMENT as usize - SEGMENT_HEADER - FRAME_HEADER - room];
    explore("group commit across a roll", move || {
        check_group_commit(Some(filler.clone()))
    });
}

/// Under `SyncPolicy::Never`, two threads each append a record (kept in
/// the write buffer) and call `Log::sync`, which share the group-commit
/// hand-off: when `sync` returns, the caller's record is durable, whoever
/// wrote and synced it.
#[test]
fn sync_covers_the_callers_buffered_records() {
    explore("sync under Never", || {
        let (fs, opts, log) = sim_log(SyncPolicy::Never, |o| o.write_buffer(4096));
        let other = {
            let log = log.clone();
            thread::spawn(move || {
                let pos = log.append(&record(1)).unwrap();
                log.sync().unwrap();
                pos
            })
        };
        let mine = log.append(&record(0)).unwrap();
        log.sync().unwrap();
        let theirs = other.join().unwrap();
        let log = reboot(&fs, opts, Arc::into_inner(log).unwrap());
        assert_eq!(log.read(mine).unwrap(), record(0));
        assert_eq!(log.read(theirs).unwrap(), record(1));
    });
}

/// The first sync after opening fails: the appender leading it gets the
/// I/O error, everyone waiting on it (or coming later) gets `Poisoned`,
/// nobody is acknowledged and nobody is left waiting.
#[test]
fn failed_group_sync_poisons_every_waiter() {
    explore("failed group sync", || {
        let (fs, _, log) = sim_log(SyncPolicy::Always, |o| o);
        fs.fail(Op::Sync, 1, FaultError::Io, false);
        let results = race_appends(&log, 3);
        let kinds: Vec<ErrorKind> = results
            .iter()
            .map(|r| r.as_ref().unwrap_err().kind())
            .collect();
        let io = kinds.iter().filter(|&&k| k == ErrorKind::Io).count();
        let poisoned = kinds.iter().filter(|&&k| k == ErrorKind::Poisoned).count();
        assert_eq!((io, poisoned), (1, 2), "{kinds:?}");
        assert_eq!(
            log.append(b"later").unwrap_err().kind(),
            ErrorKind::Poisoned
        );
    });
}

/// Segment size and record length for the truncation models: segment 0
/// holds positions 0..8 exactly, and the record at 13 sits past the
/// second 4 KiB block of segment 8, so that `truncate_front(13)` removes
/// segment 0 and punches the block holding the starts of records 10 to 12.
const TRUNCATION_SEGMENT: u64 = 16 << 10;
const TRUNCATION_RECORD: usize = 2000;
const TRUNCATION_RECORDS: u64 = 14;
const TRUNCATE_AT: u64 = 13;

fn big(pos: u64) -> Vec<u8> {
    vec![b'A' + (pos % 26) as u8; TRUNCATION_RECORD]
}

/// A log holding positions `0..TRUNCATION_RECORDS` in two segments, its
/// space released inline by `truncate_front`.
fn two_segments() -> Arc<Log> {
    let fs = SimFs::new();
    let opts = Options::default()
        .simulated(&fs)
        .sync_policy(SyncPolicy::Always)
        .segment_size(TRUNCATION_SEGMENT)
        .background_reclaim(false);
    let log = Log::open(DIR, opts).unwrap();
    let records: Vec<Vec<u8>> = (0..TRUNCATION_RECORDS).map(big).collect();
    log.append_batch(&records[..8]).unwrap();
    log.append_batch(&records[8..]).unwrap();
    let segments = log.stats().unwrap().segments;
    assert_eq!(segments.len(), 2);
    assert_eq!(segments[1].first_position, 8);
    Arc::new(log)
}

/// Runs `reader` on its own thread while the calling one truncates the
/// front to `TRUNCATE_AT`, then checks what the truncation left.
fn race_truncate_front(reader: impl FnOnce(Arc<Log>) + Send + 'static) {
    let log = two_segments();
    let handle = {
        let log = log.clone();
        thread::spawn(move || reader(log))
    };
    log.truncate_front(TRUNCATE_AT).unwrap();
    handle.join().unwrap();
    assert_eq!(log.read(1).unwrap_err().kind(), ErrorKind::Truncated);
    assert_eq!(log.read(11).unwrap_err().kind(), ErrorKind::Truncated);
    assert_eq!(log.read(TRUNCATE_AT).unwrap(), big(TRUNCATE_AT));
}

/// Which outcomes records racing a truncation had across the interleavings
/// explored (read or kept; truncated): a model in which the truncation
/// always ran wholly before (or after) the others would check little.
struct Outcomes {
    read: AtomicBool,
    truncated: AtomicBool,
}

impl Outcomes {
    const fn new() -> Self {
        Outcomes {
            read: AtomicBool::new(false),
            truncated: AtomicBool::new(false),
        }
    }

    fn assert_both(&self) {
        assert!(self.read.load(Ordering::Relaxed), "never read the records");
        assert!(self.truncated.load(Ordering::Relaxed), "never truncated");
    }
}

/// A reader racing `truncate_front`, which removes the segment it reads
/// from or punches the bytes under it, gets the record's bytes or
/// `Truncated`: never corruption, another record or garbage.
#[test]
fn read_racing_truncate_front_is_right_or_truncated() {
    static OUTCOMES: Outcomes = Outcomes::new();
    explore("read vs truncate_front", || {
        race_truncate_front(|log| {
            for pos in [1, 11] {
                match log.read(pos) {
                    Ok(bytes) => {
                        assert!(bytes == big(pos), "wrong bytes at {pos}");
                        OUTCOMES.read.store(true, Ordering::Relaxed);
                    }
                    Err(e) => {
                        assert_eq!(e.kind(), ErrorKind::Truncated, "{e}");
                        OUTCOMES.truncated.store(true, Ordering::Relaxed);
                    }
                }
            }
        })
    });
    OUTCOMES.assert_both();
}

/// An iterator racing `truncate_front` yields consecutive positions from
/// its start with their own bytes, and ends at the end of the log or with
/// `Truncated` at a position the truncation dropped.
#[test]
fn iter_racing_truncate_front_is_right_or_truncated() {
    static OUTCOMES: Outcomes = Outcomes::new();
    explore("iter vs truncate_front", || {
        race_truncate_front(|log| {
            let mut expect = 0;
            for item in log.iter(0) {
                match item {
                    Ok((pos, bytes)) => {
                        assert_eq!(pos, expect);
                        assert!(bytes == big(pos), "wrong bytes at {pos}");
                        expect += 1;
                    }
                    Err(e) => {
                        assert_eq!(e.kind(), ErrorKind::Truncated, "{e}");
                        assert!(expect < TRUNCATE_AT, "{e}");
                        OUTCOMES.truncated.store(true, Ordering::Relaxed);
                        return;
                    }
                }
            }
            assert_eq!(expect, TRUNCATION_RECORDS);
            OUTCOMES.read.store(true, Ordering::Relaxed);
        })
    });
    OUTCOMES.assert_both();
}

/// A reader racing `truncate_back(5)`, which removes segment 8, clears the
/// "batch continues" flag of record 4 and cuts segment 0 after it, reads
/// record 4 intact, and records 5 and 9 intact or `OutOfRange`: never
/// corruption, another record or garbage.
#[test]
fn read_racing_truncate_back_is_right_or_out_of_range() {
    static OUTCOMES: Outcomes = Outcomes::new();
    explore("read vs truncate_back", || {
        let log = two_segments();
        let reader = {
            let log = log.clone();
            thread::spawn(move || {
                for pos in [4, 5, 9] {
                    match log.read(pos) {
                        Ok(bytes) => assert!(bytes == big(pos), "wrong bytes at {pos}"),
                        Err(e) => {
                            assert_eq!(e.kind(), ErrorKind::OutOfRange, "{e}");
                            assert!(pos >= 5, "{e}");
                            OUTCOMES.truncated.store(true, Ordering::Relaxed);
                            continue;
                        }
                    }
                    if pos >= 5 {
                        OUTCOMES.read.store(true, Ordering::Relaxed);
                    }
                }
            })
        };
        log.truncate_back(5).unwrap();
        reader.join().unwrap();
        assert_eq!(log.next_position(), 5);
        assert_eq!(log.read(4).unwrap(), big(4));
    });
    OUTCOMES.assert_both();
}

/// An iterator from 0 racing the same `truncate_back(5)` yields
/// consecutive positions with their own bytes and no error, up to the cut
/// or past it (records it read before the cut).
#[test]
fn iter_racing_truncate_back_is_right() {
    static OUTCOMES: Outcomes = Outcomes::new();
    explore("iter vs truncate_back", || {
        let log = two_segments();
        let reader = {
            let log = log.clone();
            thread::spawn(move || {
                let mut expect = 0;
                for item in log.iter(0) {
                    let (pos, bytes) = item.unwrap();
                    assert_eq!(pos, expect);
                    assert!(bytes == big(pos), "wrong bytes at {pos}");
                    expect += 1;
                }
                expect
            })
        };
        log.truncate_back(5).unwrap();
        let end = reader.join().unwrap();
        assert!((5..=TRUNCATION_RECORDS).contains(&end), "ended at {end}");
        let flag = if end == 5 {
            &OUTCOMES.truncated
        } else {
            &OUTCOMES.read
        };
        flag.store(true, Ordering::Relaxed);
    });
    OUTCOMES.assert_both();
}

/// Two appenders race `truncate_back(1)` under `SyncPolicy::Always`, on a
/// log holding `kept` and `cut` as one batch. The cut never takes the
/// record before it, the log then holds only records appended at their
/// positions (the cut one never comes back), and every acknowledged record
/// it still holds when they are done survives a power cut.
fn check_truncate_back(cut: Vec<u8>, outcomes: &Outcomes) {
    let (fs, opts, log) = sim_log(SyncPolicy::Always, |o| o.segment_size(SEGMENT));
    log.append_batch(&[&b"kept"[..], &cut]).unwrap();
    let handles: Vec<_> = (1..3)
        .map(|i| {
            let log = log.clone();
            thread::spawn(move || log.append(&record(i)).unwrap())
        })
        .collect();
    log.truncate_back(1).unwrap();
    let acked: Vec<(u64, Vec<u8>)> = handles
        .into_iter()
        .enumerate()
        .map(|(i, h)| (h.join().unwrap(), record(i + 1)))
        .collect();
    let next = log.next_position();
    let held: Vec<Vec<u8>> = (0..next).map(|p| log.read(p).unwrap()).collect();
    assert_eq!(held[0], b"kept");
    for (pos, bytes) in held.iter().enumerate().skip(1) {
        let appended_there = acked.iter().any(|(p, r)| *p == pos as u64 && r == bytes);
        assert!(
            appended_there,
            "position {pos} holds a record not appended there"
        );
    }
    // Kept: appended after the cut. Truncated: both appended before it,
    // so that across a roll the cut fell in the sealed segment.
    let kept = acked.iter().filter(|(pos, _)| *pos < next).count();
    let flag = match kept {
        0 => &outcomes.truncated,
        _ => &outcomes.read,
    };
    flag.store(true, Ordering::Relaxed);
    let log = reboot(&fs, opts, Arc::into_inner(log).unwrap());
    assert_eq!(log.read(0).unwrap(), b"kept");
    assert_eq!(log.next_position(), next);
    for (pos, rec) in &acked {
        if held.get(*pos as usize) == Some(rec) {
            assert_eq!(&log.read(*pos).unwrap(), rec, "position {pos}");
        }
    }
}

/// Appenders racing `truncate_back` inside the active segment.
#[test]
fn group_commit_racing_truncate_back_keeps_acknowledged_records() {
    static OUTCOMES: Outcomes = Outcomes::new();
    explore("group commit vs truncate_back", || {
        check_truncate_back(b"cut!".to_vec(), &OUTCOMES)
    });
    OUTCOMES.assert_both();
}

/// Appenders racing `truncate_back` while one of them rolls the segment:
/// the cut then falls in a sealed segment (maybe not synced yet), which
/// becomes the active one again.
#[test]
fn group_commit_racing_truncate_back_across_a_roll() {
    // The cut record leaves room for one racing record but not two.
    let room = 40;
    let cut = vec![b'c'; SEGMENT as usize - SEGMENT_HEADER - 2 * FRAME_HEADER - 4 - room];
    static OUTCOMES: Outcomes = Outcomes::new();
    explore("group commit vs truncate_back across a roll", move || {
        check_truncate_back(cut.clone(), &OUTCOMES)
    });
    OUTCOMES.assert_both();
}

/// Two appenders race `truncate_front(3)` under `SyncPolicy::Always`,
/// which lands inside the log or past its end (a new segment) depending on
/// how many of them got in first. Every acknowledged record it did not
/// drop is readable, and survives a power cut along with the new first
/// position.
#[test]
fn group_commit_racing_truncate_front_keeps_acknowledged_records() {
    static OUTCOMES: Outcomes = Outcomes::new();
    // Since every directory sync goes through the sync ledger, the
    // truncation's meta file replacement adds enough lock steps that the
    // unbounded exploration runs for more than ten minutes. Bounded at 4
    // preemptions: about 110,000 interleavings, 8 s in a release build.
    explore_bounded("group commit vs truncate_front", Some(4), || {
        let (fs, opts, log) = sim_log(SyncPolicy::Always, |o| o.background_reclaim(false));
        log.append_batch(&[b"zero", b"one!"]).unwrap();
        let handles: Vec<_> = (1..3)
            .map(|i| {
                let log = log.clone();
                thread::spawn(move || log.append(&record(i)).unwrap())
            })
            .collect();
        log.truncate_front(3).unwrap();
        let acked: Vec<(u64, Vec<u8>)> = handles
            .into_iter()
            .enumerate()
            .map(|(i, h)| (h.join().unwrap(), record(i + 1)))
            .collect();
        assert_eq!(log.first_position(), 3);
        let kept: Vec<_> = acked.iter().filter(|(pos, _)| *pos >= 3).collect();
        if !kept.is_empty() {
            OUTCOMES.read.store(true, Ordering::Relaxed);
        }
        if kept.len() < acked.len() {
            OUTCOMES.truncated.store(true, Ordering::Relaxed);
        }
        for (pos, rec) in &kept {
            assert_eq!(&log.read(*pos).unwrap(), rec, "position {pos}");
        }
        let log = reboot(&fs, opts, Arc::into_inner(log).unwrap());
        assert_eq!(log.first_position(), 3);
        for (pos, rec) in &kept {
            assert_eq!(&log.read(*pos).unwrap(), rec, "position {pos} after reboot");
        }
    });
    OUTCOMES.assert_both();
}

/// A log for the tailing-reader models, and a thread waiting in it with
/// no time limit for `pos` (returning the error kind if the wait fails).
fn tailing() -> (
    Arc<Log>,
    impl Fn(u64) -> thread::JoinHandle<Result<bool, ErrorKind>>,
) {
    let (_, _, log) = sim_log(SyncPolicy::Never, |o| o);
    let waiting = log.clone();
    let waiter = move |pos: u64| {
        let log = waiting.clone();
        thread::spawn(move || log.wait_for(pos, None).map_err(|e| e.kind()))
    };
    (log, waiter)
}

/// Tailing readers are woken by the append that creates their position
/// and by a `truncate_front` that jumps past it: loom fails on any that
/// sleeps on.
#[test]
fn tailing_readers_wake_on_append_and_truncation() {
    explore("tailing readers", || {
        let (log, waiter) = tailing();
        let (appended, jumped) = (waiter(0), waiter(2));
        log.append(b"tail").unwrap();
        log.truncate_front(5).unwrap();
        assert_eq!(appended.join().unwrap(), Ok(true));
        assert_eq!(jumped.join().unwrap(), Ok(true));
        assert_eq!(log.read(2).unwrap_err().kind(), ErrorKind::Truncated);
    });
}

/// `close` wakes a tailing reader, which learns that the log is closed.
#[test]
fn close_wakes_tailing_readers() {
    explore("close vs tailing reader", || {
        let (log, waiter) = tailing();
        let closed = waiter(0);
        log.close().unwrap();
        assert_eq!(closed.join().unwrap(), Err(ErrorKind::Closed));
    });
}
