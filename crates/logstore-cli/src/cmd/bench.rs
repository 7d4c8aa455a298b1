//! `logstore bench`: a small built-in workload. Small (100 B) and large
//! (1 MiB) records, from 1 and from 4 threads, durable (synced before each
//! append returns) and not. Each workload runs on a fresh log until it
//! reaches its record count or its time budget, whichever comes first;
//! the log is removed afterwards.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use logstore::{Log, Options, SyncPolicy};

use crate::cli::BenchArgs;
use crate::error::{CliError, CliResult};

const SMALL: usize = 100;
const LARGE: usize = 1 << 20;
const THREADS: usize = 4;

/// How long and how much each workload may run.
struct Budget {
    time: Duration,
    small_records: usize,
    large_records: usize,
}

struct Workload {
    record_size: usize,
    threads: usize,
    durable: bool,
}

struct Outcome {
    records: usize,
    elapsed: Duration,
    /// Every append's latency, sorted.
    latencies: Vec<Duration>,
}

pub fn run(a: BenchArgs) -> CliResult {
    let budget = if a.quick {
        Budget {
            time: Duration::from_millis(250),
            small_records: 20_000,
            large_records: 32,
        }
    } else {
        Budget {
            time: Duration::from_secs(2),
            small_records: 500_000,
            large_records: 512,
        }
    };
    let root = match &a.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| CliError::failed(format!("cannot create {}: {e}", dir.display())))?;
            dir.clone()
        }
        None => std::env::temp_dir(),
    };
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "logstore bench{}: a fresh log under {} per workload, each up to {:?}",
        if a.quick { " --quick" } else { "" },
        root.display(),
        budget.time
    )?;
    writeln!(
        out,
        "{:<34} {:>9} {:>12} {:>9} {:>10} {:>10}",
        "workload", "records", "records/s", "MiB/s", "p50", "p99"
    )?;
    for (i, w) in workloads().iter().enumerate() {
        // Removed when dropped, also on error.
        let dir = tempfile::Builder::new()
            .prefix(&format!("logstore-bench-{i}-"))
            .tempdir_in(&root)
            .map_err(|e| {
                CliError::failed(format!(
                    "cannot create a directory in {}: {e}",
                    root.display()
                ))
            })?;
        let o = measure(dir.path(), w, &budget)?;
        let secs = o.elapsed.as_secs_f64().max(1e-9);
        writeln!(
            out,
            "{:<34} {:>9} {:>12.0} {:>9.1} {:>10} {:>10}",
            w.name(),
            o.records,
            o.records as f64 / secs,
            (o.records * w.record_size) as f64 / secs / (1 << 20) as f64,
            micros(percentile(&o.latencies, 50)),
            micros(percentile(&o.latencies, 99)),
        )?;
    }
    writeln!(
        out,
        "latency: time for one append to return (durable: synced)"
    )?;
    Ok(())
}

fn workloads() -> Vec<Workload> {
    let mut all = Vec::new();
    for record_size in [SMALL, LARGE] {
        for durable in [true, false] {
            for threads in [1, THREADS] {
                all.push(Workload {
                    record_size,
                    threads,
                    durable,
                });
            }
        }
    }
    all
}

impl Workload {
    fn name(&self) -> String {
        let size = if self.record_size == SMALL {
            format!("{SMALL} B")
        } else {
            "1 MiB".to_string()
        };
        let threads = if self.threads == 1 {
            "1 thread".to_string()
        } else {
            format!("{} threads", self.threads)
        };
        let sync = if self.durable {
            "durable"
        } else {
            "not synced"
        };
        format!("{size}, {threads}, {sync}")
    }
}

fn measure(dir: &Path, w: &Workload, budget: &Budget) -> CliResult<Outcome> {
    let policy = if w.durable {
        SyncPolicy::Always
    } else {
        SyncPolicy::Never
    };
    let log = Arc::new(Log::open(dir, Options::default().sync_policy(policy))?);
    let limit = if w.record_size == SMALL {
        budget.small_records
    } else {
        budget.large_records
    } / w.threads;
    let start = Instant::now();
    let deadline = start + budget.time;
    let threads: Vec<_> = (0..w.threads)
        .map(|t| {
            let log = log.clone();
            let record = vec![t as u8 + 1; w.record_size];
            std::thread::spawn(move || append_until(&log, &record, limit, deadline))
        })
        .collect();
    let mut latencies = Vec::new();
    for t in threads {
        let mine = t
            .join()
            .map_err(|_| CliError::failed("a benchmark thread panicked"))??;
        latencies.extend(mine);
    }
    let elapsed = start.elapsed();
    log.close()?;
    latencies.sort_unstable();
    Ok(Outcome {
        records: latencies.len(),
        elapsed,
        latencies,
    })
}

fn append_until(
    log: &Log,
    record: &[u8],
    limit: usize,
    deadline: Instant,
) -> logstore::Result<Vec<Duration>> {
    let mut latencies = Vec::with_capacity(limit.min(1 << 16));
    while latencies.len() < limit.max(1) && (latencies.is_empty() || Instant::now() < deadline) {
        let t = Instant::now();
        log.append(record)?;
        latencies.push(t.elapsed());
    }
    Ok(latencies)
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) * p) / 100]
}

fn micros(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 10.0 {
        format!("{us:.1} µs")
    } else if us < 1000.0 {
        format!("{us:.0} µs")
    } else {
        format!("{:.1} ms", us / 1000.0)
    }
}
