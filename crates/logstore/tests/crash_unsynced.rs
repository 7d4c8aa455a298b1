//! Guards the weaker promise of `SyncPolicy::Never` (with and without a
//! write buffer) across a power loss: records up to the last successful
//! `sync` survive, later ones may be lost but only from the end (never a
//! hole, never half a batch, never garbage), and a completed
//! `truncate_front` is never undone.

mod common;

use common::workload::{snapshot, workload, Model, Op};
use logstore::sim::{CrashMode, SimFs};
use logstore::{ErrorKind, Log, Options, SyncPolicy};

const DIR: &str = "/log";

#[derive(Clone, Debug)]
enum Step {
    Op(Op),
    Sync,
}

fn steps(seed: u64) -> Vec<Step> {
    workload(seed, 250)
        .into_iter()
        .filter(|op| !matches!(op, Op::TruncateBack(_)))
        .enumerate()
        .flat_map(|(i, op)| {
            let sync = (i % 9 == 8).then_some(Step::Sync);
            std::iter::once(Step::Op(op)).chain(sync)
        })
        .chain(std::iter::once(Step::Sync))
        .collect()
}

fn options(fs: &SimFs, write_buffer: usize) -> Options {
    Options::default()
        .segment_size(16 << 10)
        .sync_policy(SyncPolicy::Never)
        .write_buffer(write_buffer)
        .simulated(fs)
}

/// What the run left: everything issued, the next position known to be
/// durable, and the front truncation in flight, if any.
struct Outcome {
    issued: Model,
    durable_next: u64,
    front_in_flight: Option<u64>,
}

fn run(fs: &SimFs, steps: &[Step], write_buffer: usize) -> Outcome {
    let mut out = Outcome {
        issued: Model::default(),
        durable_next: 0,
        front_in_flight: None,
    };
    let Ok(log) = Log::open(DIR, options(fs, write_buffer)) else {
        return out;
    };
    for step in steps {
        let m = &mut out.issued;
        let result = match step {
            Step::Sync => log.sync(),
            Step::Op(Op::Append(r)) => log.append(r).map(drop),
            Step::Op(Op::Batch(rs)) => log.append_batch(rs).map(drop),
            Step::Op(Op::TruncateFront(off)) => {
                out.front_in_flight = Some(m.front_target(*off));
                log.truncate_front(m.front_target(*off))
            }
            Step::Op(Op::TruncateBack(_)) => unreachable!(),
        };
        match result {
            Err(e) => {
                assert!(
                    matches!(e.kind(), ErrorKind::Io | ErrorKind::Poisoned),
                    "{e}"
                );
                if matches!(step, Step::Op(Op::Append(_)) | Step::Op(Op::Batch(_))) {
                    // Written to the OS or not: it may survive.
                    if let Step::Op(op) = step {
                        m.apply(op);
                    }
                }
                return out;
            }
            Ok(()) => {
                out.front_in_flight = None;
                match step {
                    Step::Sync => out.durable_next = m.next(),
                    Step::Op(op) => {
                        m.apply(op);
                        // Past the end, the log restarts empty, durably.
                        out.durable_next = out.durable_next.max(m.first);
                    }
                }
            }
        }
        log.wait_reclaimed();
    }
    out
}

fn check(got: &Model, out: &Outcome, ctx: &str) {
    let issued = &out.issued;
    let firsts = [Some(issued.first), out.front_in_flight];
    assert!(
        firsts.contains(&Some(got.first)),
        "{ctx}: first position {}, issued {}",
        got.first,
        issued.first
    );
    let next = got.next();
    assert!(
        next >= out.durable_next.max(got.first) && next <= issued.next().max(got.first),
        "{ctx}: next position {next}, durable {}, issued {}",
        out.durable_next,
        issued.next()
    );
    for (i, rec) in got.records.iter().enumerate() {
        let pos = got.first + i as u64;
        let want = issued.records.get((pos - issued.first) as usize);
        assert!(want == Some(rec), "{ctx}: record {pos} differs");
    }
    if next > got.first && next < issued.next() {
        let start = issued.batch_start[(next - issued.first) as usize];
        assert_eq!(start, next, "{ctx}: the log ends inside a batch");
    }
}

fn matrix(base: u64, write_buffer: usize, modes: &[CrashMode]) {
    let seeds = if std::env::var_os("LOGSTORE_LONG").is_some() {
        8
    } else {
        1
    };
    for seed in (0..seeds).map(|i| base + 100 * i) {
        matrix_one(seed, write_buffer, modes);
    }
}

fn matrix_one(seed: u64, write_buffer: usize, modes: &[CrashMode]) {
    let steps = steps(seed);
    let total = {
        let fs = SimFs::new();
        let out = run(&fs, &steps, write_buffer);
        assert_eq!(out.durable_next, out.issued.next());
        fs.mutations()
    };
    for n in 0..=total {
        for &mode in modes {
            let fs = SimFs::new();
            fs.cut_power_after(n);
            let out = run(&fs, &steps, write_buffer);
            fs.cut_power_now();
            fs.restart(mode);
            let ctx =
                format!("seed {seed}, buffer {write_buffer}, crash after {n} of {total}, {mode:?}");
            let log = Log::open(DIR, options(&fs, write_buffer))
                .unwrap_or_else(|e| panic!("{ctx}: reopen failed: {e}"));
            check(&snapshot(&log), &out, &ctx);
        }
    }
}

#[test]
fn power_loss_without_a_write_buffer() {
    matrix(21, 0, &[CrashMode::DropUnsynced, CrashMode::Scramble(21)]);
}

#[test]
fn power_loss_with_a_write_buffer() {
    matrix(
        22,
        8 << 10,
        &[CrashMode::DropUnsynced, CrashMode::KeepUnsynced],
    );
}
