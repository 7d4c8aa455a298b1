//! Which child runs each store goes through, in which order, and the
//! collected figures.

use std::collections::BTreeMap;
use std::fs;
use std::time::Instant;

use crate::child;
use crate::stores::Res;
use crate::Args;

/// The workloads of the command line.
pub const WORKLOADS: &[&str] = &["w1", "w2", "w3", "w4", "w5", "w6", "w7", "w8", "w9", "w10"];

/// Log counts of W10.
pub const W10_LOGS: &[u64] = &[1000, 10_000];

/// Stores W10 runs (logstore also as one `Log` per log, `w10-logs-*`).
const MANY_LOG_STORES: &[&str] = &["logstore", "raft-engine", "rocksdb"];

/// Thread counts of W4.
pub const W4_THREADS: &[usize] = &[1, 4, 16, 64];

/// Stores that get the 10 GiB reopen log (W7): writing it for every peer
/// would take far longer than the rest.
const BIG_LOG_STORES: &[&str] = &["logstore", "raw"];

/// Stores that get W9's 100-million-record log (the issue allows logstore
/// alone: the peers and the raw ceiling append 100 B records at under a
/// million per second, so filling it would take many minutes each).
const HUGE_LOG_STORES: &[&str] = &["logstore"];

/// Steps run in the first run only.
const ONCE: &[&str] = &["w7-big-fill", "w7-big", "w9-fill", "w9"];

/// Every figure of one step for one store, over the runs.
#[derive(Debug, Default)]
pub struct Cell {
    /// metric -> (values of each run, unit)
    pub figures: BTreeMap<String, (Vec<f64>, String)>,
    /// metric -> for each value, `(run, slot)`: the run it came from and
    /// the store's place (from 1) in that run's order.
    pub at: BTreeMap<String, Vec<(usize, usize)>>,
    /// How failed runs ended.
    pub failures: Vec<String>,
}

/// Everything measured: `(step, store) -> Cell`.
#[derive(Debug, Default)]
pub struct Results {
    pub stores: Vec<String>,
    /// The order the stores ran in, for each run so far.
    pub orders: Vec<Vec<String>>,
    pub cells: BTreeMap<(String, String), Cell>,
}

impl Results {
    /// The median of `metric` at `step` for `store`.
    pub fn median(&self, step: &str, store: &str, metric: &str) -> Option<f64> {
        let cell = self.cells.get(&(step.to_owned(), store.to_owned()))?;
        let (values, _) = cell.figures.get(metric)?;
        median(values)
    }
}

/// The median of `values` (the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    })
}

/// The steps in table order (the fill steps only prepare data).
pub fn step_order() -> Vec<String> {
    let mut v: Vec<String> = ["w1", "w2", "w3"].iter().map(|s| s.to_string()).collect();
    v.extend(W4_THREADS.iter().map(|t| format!("w4-{t}")));
    v.extend(
        [
            "w5-w1", "w5-w3", "w6", "w7-w1", "w7-w3", "w7-big", "w8", "w9",
        ]
        .iter()
        .map(|s| s.to_string()),
    );
    v.extend(W10_LOGS.iter().map(|n| format!("w10-{n}")));
    v.push("w10-logs-1000".into());
    v
}

/// The children one store runs, in order (data-producing steps first).
fn steps(store: &str, workloads: &[String]) -> Vec<String> {
    let has = |w: &str| workloads.iter().any(|x| x == w);
    // The memory-mapped variant only differs on point reads.
    if store == "logstore-mmap" {
        return match has("w8") {
            true => vec!["w1".into(), "w8".into()],
            false => Vec::new(),
        };
    }
    // The buffered logstore variant only differs on non-durable appends.
    let all = store != "logstore-buf";
    let big = BIG_LOG_STORES.contains(&store);
    let mut v: Vec<&str> = Vec::new();
    if has("w1") || (all && (has("w5") || has("w7") || has("w8"))) {
        v.push("w1");
    }
    if all && has("w5") {
        v.push("w5-w1");
    }
    if all && has("w7") {
        v.push("w7-w1");
    }
    if all && has("w8") {
        v.push("w8");
    }
    if has("w2") {
        v.push("w2");
    }
    if has("w3") || (all && (has("w5") || has("w6") || has("w7"))) {
        v.push("w3");
    }
    if all && has("w5") {
        v.push("w5-w3");
    }
    if all && has("w7") {
        v.push("w7-w3");
    }
    if all && has("w6") && store != "raw" {
        v.push("w6");
    }
    let mut v: Vec<String> = v.into_iter().map(String::from).collect();
    if all && has("w4") {
        v.extend(W4_THREADS.iter().map(|t| format!("w4-{t}")));
    }
    if big && has("w7") {
        v.extend(["w7-big-fill".into(), "w7-big".into()]);
    }
    if HUGE_LOG_STORES.contains(&store) && has("w9") {
        v.extend(["w9-fill".into(), "w9".into()]);
    }
    if MANY_LOG_STORES.contains(&store) && has("w10") {
        v.extend(W10_LOGS.iter().map(|n| format!("w10-{n}")));
        if store == "logstore" {
            v.push("w10-logs-1000".into());
        }
    }
    v
}

/// The order of the stores in run `run` (from 1): odd runs rotate the
/// command line's order left by one more store every second run, even
/// runs reverse the run before. Over two runs every store runs once early
/// and once late, so the page cache and the disk's write-back left by the
/// stores before it weigh on each store alike.
pub fn order_for_run(stores: &[String], run: usize) -> Vec<String> {
    let mut v = stores.to_vec();
    if v.is_empty() {
        return v;
    }
    let shift = ((run - 1) / 2) % v.len();
    v.rotate_left(shift);
    if run.is_multiple_of(2) {
        v.reverse();
    }
    v
}

/// Runs every store through its steps `args.runs` times (runs interleaved,
/// so that a noisy minute hits every store alike; the order of the stores
/// changes from run to run, see [`order_for_run`]).
pub fn run_all(args: &Args, mut after_run: impl FnMut(&Results) -> Res<()>) -> Res<Results> {
    let mut results = Results {
        stores: args.stores.clone(),
        ..Results::default()
    };
    fs::create_dir_all(&args.dir)?;
    for run in 1..=args.runs {
        let order = order_for_run(&args.stores, run);
        eprintln!("[run {run}/{}] order: {}", args.runs, order.join(", "));
        results.orders.push(order.clone());
        for (slot, store) in order.iter().enumerate() {
            let root = args.dir.join(store);
            for step in steps(store, &args.workloads) {
                // The 10 GiB and 100-million-record logs take minutes to
                // write: their steps run in the first run only.
                if run > 1 && ONCE.contains(&step.as_str()) {
                    continue;
                }
                let start = Instant::now();
                let outcome = child::run(store, &step, &args.dir, args.quick)?;
                eprintln!(
                    "[run {run}/{}] {store:<12} {step:<12} {:>8.1} s{}",
                    args.runs,
                    start.elapsed().as_secs_f64(),
                    outcome
                        .failure
                        .as_deref()
                        .map(|f| format!("  FAILED: {f}"))
                        .unwrap_or_default()
                );
                let cell = results
                    .cells
                    .entry((step.clone(), store.clone()))
                    .or_default();
                let rss = outcome.peak_rss as f64 / (1 << 20) as f64;
                let figures = outcome
                    .figures
                    .into_iter()
                    .chain([("peak_rss_mib".to_owned(), (rss, "MiB".to_owned()))]);
                for (metric, (value, unit)) in figures {
                    cell.at
                        .entry(metric.clone())
                        .or_default()
                        .push((run, slot + 1));
                    let e = cell
                        .figures
                        .entry(metric)
                        .or_insert_with(|| (Vec::new(), unit));
                    e.0.push(value);
                }
                if let Some(f) = outcome.failure {
                    cell.failures.push(f);
                }
                match step.as_str() {
                    "w7-big" => remove(&root.join("big")),
                    "w9" => remove(&root.join("w9")),
                    _ => {}
                }
            }
            remove(&root);
        }
        after_run(&results)?;
    }
    remove(&args.dir);
    Ok(results)
}

fn remove(dir: &std::path::Path) {
    if let Err(e) = fs::remove_dir_all(dir) {
        if e.kind() != std::io::ErrorKind::NotFound {
            eprintln!("cannot remove {}: {e}", dir.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_store_runs_early_and_late() {
        let stores: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let order = |run| order_for_run(&stores, run).join("");
        assert_eq!(order(1), "abc");
        assert_eq!(order(2), "cba");
        assert_eq!(order(3), "bca");
        assert_eq!(order(4), "acb");
        assert_eq!(order(7), "abc");
    }
}
