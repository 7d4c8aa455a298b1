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

/// Group commit under `SyncPolicy::Always`: three appenders share syncs.
/// Every append returns (no lost wake-up: loom fails on a deadlock), each
/// gets its own position, and every acknowledged record survives a power
/// cut right after the appends return.
#[test]
fn group_commit_acknowledges_only_synced_records() {
    explore("group commit", || {
        let fs = SimFs::new();
        let opts = Options::default()
            .simulated(&fs)
            .sync_policy(SyncPolicy::Always);
        let log = Arc::new(Log::open(DIR, opts.clone()).unwrap());
        let results = race_appends(&log, 3);
        let mut positions: Vec<u64> = results.iter().map(|r| *r.as_ref().unwrap()).collect();
        let log = Arc::into_inner(log).unwrap();
        let log = reboot(&fs, opts, log);
        for (i, &pos) in positions.iter().enumerate() {
            assert_eq!(log.read(pos).unwrap(), record(i), "position {pos}");
        }
        positions.sort_unstable();
        assert_eq!(positions, [0, 1, 2]);
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
