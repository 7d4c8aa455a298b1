//! Guards against losing or inventing records in a power loss: a workload
//! of appends, batches, both truncations and segment rolls is cut off after
//! every mutating file-system call, the simulated machine restarts with its
//! unsynced changes dropped, kept or scrambled, and the reopened log must
//! hold every acknowledged record, byte-exact, and nothing else.

mod common;

use std::path::Path;

use common::record;
use common::workload::{check, snapshot, workload, Model, Op};
use logstore::sim::{CrashMode, SimFs};
use logstore::{ErrorKind, Log, Options, SyncPolicy};

const DIR: &str = "/log";

fn options(fs: &SimFs) -> Options {
    Options::default()
        .segment_size(16 << 10)
        .sync_policy(SyncPolicy::Always)
        .simulated(fs)
}

/// Runs `ops` until one fails. Returns the state every acknowledged call
/// left and the call in flight when the power went, if any.
fn run(fs: &SimFs, ops: &[Op]) -> (Model, Option<Op>) {
    let mut model = Model::default();
    let log = match Log::open(DIR, options(fs)) {
        Ok(log) => log,
        Err(_) => return (model, None),
    };
    for op in ops {
        let result = match op {
            Op::Append(r) => log.append(r).map(|p| assert_eq!(p, model.next())),
            Op::Batch(rs) => log
                .append_batch(rs)
                .map(|range| assert_eq!(range.start, model.next())),
            Op::TruncateFront(off) => log.truncate_front(model.front_target(*off)),
            Op::TruncateBack(off) => log.truncate_back(model.back_target(*off)),
        };
        if let Err(e) = result {
            assert!(
                matches!(e.kind(), ErrorKind::Io | ErrorKind::Poisoned),
                "unexpected error kind: {e}"
            );
            return (model, Some(op.clone()));
        }
        model.apply(op);
        // Keep the order of file-system calls independent of thread timing,
        // so that every crash point is reproducible.
        log.wait_reclaimed();
    }
    (model, None)
}

/// Opens after a restart and checks the log; then a second open must see
/// exactly the same log.
fn reopen_and_check(
    fs: &SimFs,
    acked: &Model,
    inflight: Option<&Op>,
    garbled: bool,
    ctx: &str,
) -> Model {
    let log = Log::open(DIR, options(fs)).unwrap_or_else(|e| {
        panic!("{ctx}: reopen failed: {e}; acknowledged {acked}, in flight {inflight:?}")
    });
    let got = snapshot(&log);
    check(&got, acked, inflight, garbled, ctx);
    drop(log);
    let log = Log::open(DIR, options(fs)).unwrap_or_else(|e| panic!("{ctx}: second reopen: {e}"));
    let again = snapshot(&log);
    assert!(
        again == got,
        "{ctx}: a second reopen differs: {again} vs {got}"
    );
    got
}

/// Whether `a` and `b` differ only in whether the append in flight took
/// effect, whole.
fn differ_by_inflight(a: &Model, b: &Model, inflight: Option<&Op>) -> bool {
    let extra: Vec<Vec<u8>> = match inflight {
        Some(Op::Append(r)) => vec![r.clone()],
        Some(Op::Batch(rs)) => rs.clone(),
        _ => return false,
    };
    let (short, long) = match a.records.len() < b.records.len() {
        true => (a, b),
        false => (b, a),
    };
    short.first == long.first
        && long.records.len() == short.records.len() + extra.len()
        && long.records.iter().zip(&short.records).all(|(x, y)| x == y)
        && long
            .records
            .iter()
            .skip(short.records.len())
            .eq(extra.iter())
}

fn crash_at(ops: &[Op], n: u64, mode: CrashMode) -> (SimFs, Model, Option<Op>) {
    let fs = SimFs::new();
    fs.cut_power_after(n);
    let (acked, inflight) = run(&fs, ops);
    fs.cut_power_now();
    fs.restart(mode);
    (fs, acked, inflight)
}

fn ops_count() -> usize {
    if std::env::var_os("LOGSTORE_LONG").is_some() {
        500
    } else {
        300
    }
}

/// Mutating calls of a clean run of `ops`.
fn total_mutations(ops: &[Op]) -> u64 {
    let fs = SimFs::new();
    let (model, inflight) = run(&fs, ops);
    assert!(inflight.is_none());
    let mut expect = Model::default();
    ops.iter().for_each(|op| expect.apply(op));
    assert_eq!(model, expect);
    fs.mutations()
}

/// Workloads per test: one by default, more in the long mode.
fn seeds(base: u64) -> impl Iterator<Item = u64> {
    let n = if std::env::var_os("LOGSTORE_LONG").is_some() {
        8
    } else {
        1
    };
    (0..n).map(move |i| base + 100 * i)
}

fn crash_matrix(base: u64, modes: &[CrashMode]) {
    for seed in seeds(base) {
        crash_matrix_one(seed, modes);
    }
}

fn crash_matrix_one(seed: u64, modes: &[CrashMode]) {
    let ops = workload(seed, ops_count());
    let total = total_mutations(&ops);
    for n in 0..=total {
        for &mode in modes {
            let mode = match mode {
                CrashMode::Scramble(s) => CrashMode::Scramble(s ^ n),
                m => m,
            };
            let (fs, acked, inflight) = crash_at(&ops, n, mode);
            let ctx = format!("seed {seed}, crash after {n} of {total} calls, {mode:?}");
            reopen_and_check(
                &fs,
                &acked,
                inflight.as_ref(),
                matches!(mode, CrashMode::Scramble(_)),
                &ctx,
            );
        }
    }
    eprintln!(
        "seed {seed}: {} operations, {} crash points x {} modes, no acknowledged record lost",
        ops.len(),
        total + 1,
        modes.len()
    );
}

#[test]
fn power_loss_dropping_unsynced_writes() {
    crash_matrix(1, &[CrashMode::DropUnsynced]);
}

#[test]
fn power_loss_keeping_unsynced_writes() {
    crash_matrix(2, &[CrashMode::KeepUnsynced]);
}

#[test]
fn power_loss_scrambling_unsynced_writes() {
    crash_matrix(
        3,
        &[CrashMode::Scramble(0x5eed), CrashMode::Scramble(0xfeed)],
    );
}

/// A crash while recovering from a crash: every point of the recovery is
/// cut, and the next recovery must give what an uninterrupted one gives.
#[test]
fn power_loss_during_recovery() {
    let ops = workload(4, ops_count() / 2);
    let total = total_mutations(&ops);
    for n in 0..=total {
        let (fs, acked, inflight) = crash_at(&ops, n, CrashMode::DropUnsynced);
        let ctx = format!("crash after {n} of {total} calls");
        let clean = reopen_and_check(&fs, &acked, inflight.as_ref(), false, &ctx);
        for k in 0..6 {
            // The background thread may order its calls differently from
            // the first run; compare with `clean` only if the calls that
            // were acknowledged are the same.
            let (fs, acked2, inflight2) = crash_at(&ops, n, CrashMode::DropUnsynced);
            let same = acked2 == acked && format!("{inflight2:?}") == format!("{inflight:?}");
            crash_recovery(&fs, k, CrashMode::DropUnsynced);
            let ctx = format!("{ctx}, then after {k} calls of recovery");
            let got = reopen_and_check(&fs, &acked2, inflight2.as_ref(), false, &ctx);
            // Whether the append in flight reached the disk before the
            // cut depends on the background thread's timing, which differs
            // between the two runs: either outcome is a valid recovery
            // (`reopen_and_check` checked that it is whole or absent).
            assert!(
                !same || got == clean || differ_by_inflight(&got, &clean, inflight.as_ref()),
                "{ctx}: recovered {got}, uninterrupted {clean}"
            );
        }
    }
}

/// The same with scrambled crashes, both times: only the invariants hold.
#[test]
fn scrambled_power_loss_during_recovery() {
    let ops = workload(5, ops_count() / 2);
    let total = total_mutations(&ops);
    for n in 0..=total {
        let k = n % 7;
        let (fs, acked, inflight) = crash_at(&ops, n, CrashMode::Scramble(n));
        crash_recovery(&fs, k, CrashMode::Scramble(n + 1));
        let ctx = format!("crash after {n} of {total} calls, then after {k} of recovery");
        reopen_and_check(&fs, &acked, inflight.as_ref(), true, &ctx);
    }
}

/// Opens the log with the power cut after `k` calls, then restarts.
fn crash_recovery(fs: &SimFs, k: u64, mode: CrashMode) {
    fs.cut_power_after(k);
    if let Ok(log) = Log::open(DIR, options(fs)) {
        log.wait_reclaimed();
    }
    fs.cut_power_now();
    fs.restart(mode);
}

#[test]
fn acknowledged_records_survive_a_crash_right_after() {
    // The simplest case, spelled out: every acknowledged append is durable.
    let fs = SimFs::new();
    let log = Log::open(Path::new(DIR), options(&fs)).unwrap();
    let recs: Vec<Vec<u8>> = (0..50).map(|i| record(i, 1 + i as usize * 97)).collect();
    for r in &recs {
        log.append(r).unwrap();
    }
    fs.cut_power_now();
    drop(log);
    fs.restart(CrashMode::DropUnsynced);
    let log = Log::open(Path::new(DIR), options(&fs)).unwrap();
    assert_eq!(snapshot(&log).records, recs);
}
