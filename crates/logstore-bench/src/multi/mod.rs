//! W10, many logs: `threads` threads append 256 B records, durably, each to
//! a log picked at random among `logs`; every log truncates its front to
//! keep its last `keep` records once it holds a quarter more. Stores:
//! logstore's `Store` (all logs in one), one logstore `Log` per log,
//! raft-engine (one raft group per log, its purge) and RocksDB (keys
//! `(log, position)`, truncation by range deletion).

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use logstore_testkit::Xorshift;

use crate::quantile::percentile;
use crate::record::RecordMaker;
use crate::stores::Res;

mod logstore;
#[cfg(feature = "raft-engine")]
mod raft;
#[cfg(feature = "rocksdb")]
mod rocks;

/// Bytes of each record.
pub const RECORD: usize = 256;
/// Appending threads.
pub const THREADS: usize = 16;

/// Many logs, as each store's users would keep them.
pub trait Multi: Send + Sync {
    /// Appends `record` to `log` at `position` (the log's next one),
    /// durably.
    fn append(&self, log: u64, position: u64, record: &[u8]) -> Res<()>;
    /// Drops `log`'s records before `position`.
    fn truncate_front(&self, log: u64, position: u64) -> Res<()>;
    /// Gives back what truncation freed, as its users would ask: a
    /// compaction or purge pass (also called once a second while running).
    fn settle(&self) -> Res<()>;
    /// Figures of the store's own, as `(metric, value, unit)`.
    fn figures(&self) -> Vec<(&'static str, f64, &'static str)> {
        Vec::new()
    }
    /// Closes the store.
    fn close(self: Box<Self>) -> Res<()>;
}

/// The stores W10 runs: `store` is a store name of the bench, `variant`
/// `logs` for one logstore `Log` per log.
pub fn open(store: &str, dir: &Path, logs: u64) -> Res<Box<dyn Multi>> {
    std::fs::create_dir_all(dir)?;
    Ok(match store {
        "logstore" => Box::new(logstore::OneStore::open(dir, logs)?),
        "logstore-logs" => Box::new(logstore::ManyLogs::open(dir, logs)?),
        #[cfg(feature = "raft-engine")]
        "raft-engine" => Box::new(raft::Groups::open(dir)?),
        #[cfg(feature = "rocksdb")]
        "rocksdb" => Box::new(rocks::Keys::open(dir)?),
        _ => return Err(format!("W10 does not run {store}").into()),
    })
}

/// The size of the directory's files on disk (allocated blocks).
pub fn disk_bytes(dir: &Path) -> Res<u64> {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    for e in std::fs::read_dir(dir)? {
        // A store deletes files while it runs: one gone meanwhile holds
        // nothing.
        let m = match e.and_then(|e| Ok((e.metadata()?, e.path()))) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e.into()),
        };
        total += match m.0.is_dir() {
            true => disk_bytes(&m.1)?,
            false => m.0.blocks() * 512,
        };
    }
    Ok(total)
}

fn out(metric: &str, value: f64, unit: &str) {
    println!("{metric}\t{value}\t{unit}");
}

/// Each log's `(first, next)`, the appender's lock for that log.
struct Logs {
    logs: Vec<Mutex<(u64, u64)>>,
    kept: AtomicU64,
}

pub fn run(store: &str, dir: &Path, logs: u64, keep: u64, duration: Duration) -> Res<()> {
    let _ = std::fs::remove_dir_all(dir);
    let s: Arc<Box<dyn Multi>> = Arc::new(open(store, dir, logs)?);
    let state = Arc::new(Logs {
        logs: (0..logs).map(|_| Mutex::new((0, 0))).collect(),
        kept: AtomicU64::new(0),
    });
    let start = Instant::now();
    let deadline = start + duration;
    let done = Arc::new(AtomicBool::new(false));
    // Samples of bytes on disk ÷ bytes kept, once a second.
    let sampler = {
        let (s, state, done, dir) = (s.clone(), state.clone(), done.clone(), dir.to_owned());
        thread::spawn(move || -> Res<f64> {
            let mut worst: f64 = 0.0;
            while !done.load(Ordering::SeqCst) {
                thread::sleep(Duration::from_secs(1));
                s.settle()?;
                let kept = state.kept.load(Ordering::SeqCst) * RECORD as u64;
                if start.elapsed() > duration / 2 && kept > 0 {
                    worst = worst.max(disk_bytes(&dir)? as f64 / kept as f64);
                }
            }
            Ok(worst)
        })
    };
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (s, state) = (s.clone(), state.clone());
            thread::spawn(move || -> Res<Vec<u64>> {
                let mut rng = Xorshift::new(0x9E37_79B9_7F4A_7C15 ^ (t as u64 + 1));
                let mut maker = RecordMaker::new(RECORD);
                let mut lat = Vec::new();
                while Instant::now() < deadline {
                    let log = rng.next_u64() % logs;
                    let mut range = state.logs[log as usize].lock().expect("log lock");
                    let t0 = Instant::now();
                    s.append(log, range.1, maker.make(log << 32 | range.1))?;
                    lat.push(t0.elapsed().as_nanos() as u64);
                    range.1 += 1;
                    state.kept.fetch_add(1, Ordering::Relaxed);
                    if range.1 - range.0 > keep + keep / 4 {
                        let to = range.1 - keep;
                        s.truncate_front(log, to)?;
                        state.kept.fetch_sub(to - range.0, Ordering::Relaxed);
                        range.0 = to;
                    }
                }
                Ok(lat)
            })
        })
        .collect();
    let mut lat = Vec::new();
    for h in handles {
        lat.extend(h.join().map_err(|_| "w10: appender panicked")??);
    }
    let elapsed = start.elapsed();
    done.store(true, Ordering::SeqCst);
    let worst = sampler.join().map_err(|_| "w10: sampler panicked")??;
    lat.sort_unstable();
    out(
        "appends_per_s",
        lat.len() as f64 / elapsed.as_secs_f64(),
        "1/s",
    );
    out("p50_us", percentile(&lat, 0.50), "us");
    out("p99_us", percentile(&lat, 0.99), "us");
    s.settle()?;
    s.settle()?;
    let kept = state.kept.load(Ordering::SeqCst) * RECORD as u64;
    let disk = disk_bytes(dir)?;
    out("kept_mib", kept as f64 / (1 << 20) as f64, "MiB");
    out("disk_mib", disk as f64 / (1 << 20) as f64, "MiB");
    out("disk_over_kept", disk as f64 / kept.max(1) as f64, "x");
    // The target allows 1.1 × kept plus a fixed overhead: what is beyond
    // 1.1 × kept.
    let beyond = disk as f64 - 1.1 * kept as f64;
    out(
        "beyond_1_1x_kept_mib",
        beyond.max(0.0) / (1 << 20) as f64,
        "MiB",
    );
    out("worst_disk_over_kept", worst, "x");
    for (m, v, u) in s.figures() {
        out(m, v, u);
    }
    Arc::try_unwrap(s)
        .map_err(|_| "w10: store still shared")?
        .close()?;
    let t0 = Instant::now();
    let again = open(store, dir, logs)?;
    out("reopen_ms", t0.elapsed().as_secs_f64() * 1e3, "ms");
    again.close()?;
    Ok(())
}
