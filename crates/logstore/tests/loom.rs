//! Guards against lost wake-ups, unsynced acknowledgements and torn reads
//! in the engine's hand-offs: loom runs the engine's own code (built on
//! loom's locks and atomics through `src/sync.rs`) on a simulated file
//! system, in every interleaving of its threads up to a preemption bound,
//! and fails on a deadlock or on a broken assertion in any of them.
//!
//! Only a loom build compiles it:
//!
//! ```text
//! RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
//!     cargo test --release -p logstore --test loom
//! ```
//!
//! `LOOM_MAX_PREEMPTIONS` bounds the search (default 3 here); each model
//! prints the number of interleavings it explored.
#![cfg(loom)]

use std::sync::atomic::{AtomicUsize, Ordering};
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
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(3);
    }
    // Opening and reopening a log on the simulated file system takes a few
    // hundred steps before and after the threads race.
    builder.max_branches = 20_000;
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
    let fs = SimFs::new();
    let opts = Options::default()
        .simulated(&fs)
        .sync_policy(SyncPolicy::Always)
        .segment_size(SEGMENT);
    let log = Arc::new(Log::open(DIR, opts.clone()).unwrap());
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

/// The first sync after opening fails: the appender leading it gets the
/// I/O error, everyone waiting on it (or coming later) gets `Poisoned`,
/// nobody is acknowledged and nobody is left waiting.
#[test]
fn failed_group_sync_poisons_every_waiter() {
    explore("failed group sync", || {
        let fs = SimFs::new();
        let opts = Options::default()
            .simulated(&fs)
            .sync_policy(SyncPolicy::Always);
        let log = Arc::new(Log::open(DIR, opts).unwrap());
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
