//! Durable replicated appends: a 3-node logstore-cluster against a 3-node
//! NATS JetStream cluster (stream with 3 replicas, file storage), both on
//! 127.0.0.1, in the same run.
//!
//! Workload, per system and round: for each record size (100 B, 4 KiB,
//! 1 MiB) and client count (1, 16), clients append records back to back
//! for a fixed time, each on its own connection and waiting for every
//! acknowledgment (logstore: synced by a majority and applied on the
//! leader; JetStream: stored by a quorum of replicas). Then one 32 MiB
//! record is appended and read back from every node, and, once the disk
//! has settled (`sync`, 1 s), the leader process is killed with SIGKILL
//! and the time to the next acknowledged append is measured. Rounds
//! alternate which system goes first; every round starts fresh clusters.
//!
//! ```text
//! cargo build --release -p logstore-cluster -p logstore-cluster-bench
//! target/release/logstore-cluster-bench [SECONDS_PER_CASE [ROUNDS [SYSTEM [failover]]]]
//! ```
//! `SYSTEM` (`logstore-cluster` or `JetStream`) runs one system only;
//! `failover` then runs only the failover, on a fresh cluster after the
//! one-second warm-up of appends (and the settled disk), without the
//! throughput cases and the 32 MiB record. `failover-busy` is the same
//! failover with the disk busy instead of settled: just before the kill,
//! 3 GiB are written to a file beside the nodes' directories and a `sync`
//! is started, so that the kill comes while the disk writes it back (the
//! new leader's vote must be synced meanwhile).
//! It runs `logstore-cluster` from its own directory and `nats-server`
//! (Debian's package) from PATH, stops every process it started when it
//! ends, is interrupted (SIGINT, SIGTERM) or overruns its time limit.

mod jetstream;
mod logstore;
mod procs;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) const SIZES: [usize; 3] = [100, 4 << 10, 1 << 20];
pub(crate) const CLIENTS: [usize; 2] = [1, 16];
const BIG: usize = 32 << 20;

pub(crate) type Error = Box<dyn std::error::Error + Send + Sync>;

/// What one system achieved in one round.
pub(crate) struct Figures {
    /// Appends/s per case, in `SIZES` x `CLIENTS` order.
    pub rates: Vec<f64>,
    /// Time from SIGKILL of the leader to the next acknowledged append.
    pub failover: Result<Duration, String>,
    /// What happened to the 32 MiB record.
    pub big: String,
}

impl Default for Figures {
    fn default() -> Self {
        Figures {
            rates: Vec::new(),
            failover: Err("not measured".to_string()),
            big: String::new(),
        }
    }
}

/// Which parts of a round run.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Cases {
    /// The throughput cases, the 32 MiB record and the failover.
    All,
    /// Only the failover (after the warm-up).
    Failover,
    /// Only the failover, while the disk writes back 3 GiB that
    /// another process wrote just before (no settling).
    FailoverBusy,
}

#[derive(Clone, Copy, PartialEq)]
enum System {
    Logstore,
    JetStream,
}

impl System {
    fn name(self) -> &'static str {
        match self {
            System::Logstore => "logstore-cluster",
            System::JetStream => "JetStream",
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let secs: u64 = args.next().map_or(Ok(5), |s| s.parse())?;
    let rounds: usize = args.next().map_or(Ok(2), |s| s.parse())?;
    // Optionally one system only: `logstore-cluster` or `JetStream`.
    let only = args.next();
    let cases = match args.next().as_deref() {
        None => Cases::All,
        Some("failover") => Cases::Failover,
        Some("failover-busy") => Cases::FailoverBusy,
        Some(other) => {
            return Err(
                format!("unknown part {other:?} (expected `failover` or `failover-busy`)").into(),
            )
        }
    };
    // Per system and round: the cases, a warm-up, start-up, the 32 MiB
    // record and the failover, with a wide margin.
    let limit = Duration::from_secs(rounds as u64 * 2 * (6 * (secs + 15) + 180));
    println!(
        "{} s per case, {rounds} rounds, time limit {} s\n",
        secs,
        limit.as_secs()
    );
    tokio::select! {
        r = run(Duration::from_secs(secs), rounds, only.as_deref(), cases) => r,
        _ = tokio::time::sleep(limit) => Err("time limit reached".into()),
        _ = stop_signal() => Err("interrupted".into()),
    }
    // Whichever branch won, the other futures (and with them every
    // process they started) are dropped here.
}

async fn stop_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        },
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

async fn run(dur: Duration, rounds: usize, only: Option<&str>, cases: Cases) -> Result<(), Error> {
    let dir = tempfile::tempdir()?;
    let bin = std::env::current_exe()?.with_file_name("logstore-cluster");
    let mut results: Vec<(System, Figures)> = Vec::new();
    println!("| round | system | record | clients | appends/s | MiB/s |");
    println!("|---|---|---|---|---|---|");
    for round in 0..rounds {
        let order = if round % 2 == 0 {
            [System::Logstore, System::JetStream]
        } else {
            [System::JetStream, System::Logstore]
        };
        for system in order {
            if only.is_some_and(|o| o != system.name()) {
                continue;
            }
            let sub = dir.path().join(format!("{}-{round}", system.name()));
            eprintln!("round {}: {}", round + 1, system.name());
            let figures = match system {
                System::Logstore => logstore::run(&bin, &sub, dur, cases).await?,
                System::JetStream => jetstream::run(&sub, dur, cases).await?,
            };
            print_rows(round + 1, system, &figures);
            // The data of a finished cluster is not needed any more.
            let _ = std::fs::remove_dir_all(&sub);
            results.push((system, figures));
        }
    }
    print_summary(&results);
    Ok(())
}

/// Runs `op` back to back on each connection for `dur`; acknowledged
/// operations per second.
pub(crate) async fn throughput<C, F, Fut>(conns: Vec<C>, dur: Duration, op: F) -> Result<f64, Error>
where
    C: Clone + Send + 'static,
    F: Fn(C) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = bool> + Send,
{
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for conn in conns {
        let (op, done) = (op.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            while start.elapsed() < dur {
                if op(conn.clone()).await {
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    Ok(done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64())
}

/// Prepares the disk for the failover: settled, or busy (see
/// [`Cases::FailoverBusy`]).
pub(crate) async fn before_failover(cases: Cases, dir: &std::path::Path) -> Result<(), Error> {
    match cases {
        Cases::FailoverBusy => busy_disk(dir).await,
        Cases::All | Cases::Failover => settle_disk().await,
    }
}

/// Writes 3 GiB to a file in `dir` without syncing it, then starts a
/// `sync` (not waited for): the disk is then busy writing it back.
async fn busy_disk(dir: &std::path::Path) -> Result<(), Error> {
    let path = dir.join("busy.bin");
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::File::create(path)?;
        let chunk = vec![0x5au8; 8 << 20];
        for _ in 0..384 {
            f.write_all(&chunk)?;
        }
        Ok(())
    })
    .await??;
    tokio::process::Command::new("sync").spawn()?;
    Ok(())
}

/// Waits until the writes of the earlier cases are on disk, so that the
/// failover is timed on an idle disk rather than behind the write-back of
/// gigabytes (a vote must be synced before a node can grant it).
pub(crate) async fn settle_disk() -> Result<(), Error> {
    tokio::process::Command::new("sync").status().await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    Ok(())
}

/// A 32 MiB record of letters whose every byte depends on its offset, so
/// that a shifted, cut or repeated piece does not compare equal, and that
/// reads back unchanged through the text of `/replay`.
pub(crate) fn big_record() -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..BIG)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b'a' + (x % 26) as u8
        })
        .collect()
}

fn cases() -> impl Iterator<Item = (usize, usize)> {
    SIZES
        .into_iter()
        .flat_map(|s| CLIENTS.into_iter().map(move |c| (s, c)))
}

fn size_name(size: usize) -> String {
    match size {
        s if s >= 1 << 20 => format!("{} MiB", s >> 20),
        s if s >= 1 << 10 => format!("{} KiB", s >> 10),
        s => format!("{s} B"),
    }
}

fn mib_per_s(rate: f64, size: usize) -> f64 {
    rate * size as f64 / f64::from(1 << 20)
}

fn print_rows(round: usize, system: System, f: &Figures) {
    for ((size, clients), rate) in cases().zip(&f.rates) {
        println!(
            "| {round} | {} | {} | {clients} | {rate:.0} | {:.1} |",
            system.name(),
            size_name(size),
            mib_per_s(*rate, size)
        );
    }
}

fn print_summary(results: &[(System, Figures)]) {
    let of = |s: System| -> Vec<&Figures> {
        results
            .iter()
            .filter(|(sys, _)| *sys == s)
            .map(|(_, f)| f)
            .collect()
    };
    let (ls, js) = (of(System::Logstore), of(System::JetStream));
    // A system or case that did not run (the third and fourth arguments)
    // shows as "–".
    let mean = |fs: &[&Figures], i: usize| {
        let rates: Option<Vec<f64>> = fs.iter().map(|f| f.rates.get(i).copied()).collect();
        rates
            .filter(|r| !r.is_empty())
            .map(|r| r.iter().sum::<f64>() / r.len() as f64)
    };
    let show = |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map_or("–".to_string(), f);
    println!("\nMean over {} rounds:\n", ls.len().max(js.len()));
    println!("| record | clients | logstore-cluster appends/s | MiB/s | JetStream appends/s | MiB/s | logstore / JetStream |");
    println!("|---|---|---|---|---|---|---|");
    for (i, (size, clients)) in cases().enumerate() {
        let (l, j) = (mean(&ls, i), mean(&js, i));
        println!(
            "| {} | {clients} | {} | {} | {} | {} | {} |",
            size_name(size),
            show(l, &|v| format!("{v:.0}")),
            show(l, &|v| format!("{:.1}", mib_per_s(v, size))),
            show(j, &|v| format!("{v:.0}")),
            show(j, &|v| format!("{:.1}", mib_per_s(v, size))),
            l.zip(j).map_or("–".into(), |(l, j)| format!(
                "{:.2}x",
                l / j.max(f64::MIN_POSITIVE)
            )),
        );
    }
    for (system, f) in results {
        let stall = match &f.failover {
            Ok(d) => format!("{:.2} s", d.as_secs_f64()),
            Err(e) => e.clone(),
        };
        let big = if f.big.is_empty() {
            String::new()
        } else {
            format!("; 32 MiB record: {}", f.big)
        };
        println!("\n{}: failover stall {stall}{big}", system.name());
    }
}
