//! A store at scale: how much memory its index takes and how long it takes
//! to open, for many records over many logs.
//!
//! ```text
//! store-scale write DIR LOGS RECORDS SIZE [--keep-all]  # fills a new store, closes it
//! store-scale open DIR [--no-checkpoint]    # opens it, reads a record of every log
//! store-scale crash DIR RECORDS SIZE        # appends, syncs, exits without closing
//! store-scale read DIR READS                # reads records at random, times each
//! ```
//!
//! `write` appends `RECORDS` records of `SIZE` bytes round-robin over `LOGS`
//! logs in batches (not synced one by one: the figures are memory and open
//! time, not append speed), every log truncating its front now and then to
//! keep its last half (unless `--keep-all`). It prints the index memory after the background
//! pass has made its runs. `open` runs in its own process, so that its peak
//! RSS (`VmHWM`) is the open's; `--no-checkpoint` moves the checkpoint
//! aside first, for the replay of every entry (and puts it back). `read`
//! runs a compaction pass (which indexes the sealed segments), then reads
//! `READS` records, each of a log and at a position drawn at random
//! (most of them old records, held in runs), and prints the quantiles of
//! their times.

use std::path::Path;
use std::time::{Duration, Instant};

use logstore::{Options, Store, StoreOptions, SyncPolicy, WriteBatch};

fn options() -> StoreOptions {
    StoreOptions::default().log_options(Options::default().sync_policy(SyncPolicy::Never))
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn write(dir: &Path, logs: u64, records: u64, size: usize, truncate: bool) -> logstore::Result<()> {
    let t = Instant::now();
    let store = Store::open(dir, options())?;
    for id in 0..logs {
        store.create_log(id, 0)?;
    }
    let per_log = records / logs;
    let record = vec![0x5a; size];
    let mut batch = WriteBatch::new();
    for i in 0..per_log * logs {
        batch.append(i % logs, &record);
        if batch.len() == 1000 {
            store.write(&batch)?;
            batch = WriteBatch::new();
        }
        // Every log keeps its last half: a truncation each tenth of the way.
        if truncate && i % (per_log * logs / 10).max(1) == 0 && i > 0 {
            let keep_from = (i / logs) / 2;
            for id in 0..logs {
                store.log(id)?.truncate_front(keep_from)?;
            }
        }
    }
    if !batch.is_empty() {
        store.write(&batch)?;
    }
    store.sync()?;
    store.compact()?;
    // Let the background pass make its runs and its checkpoint.
    std::thread::sleep(Duration::from_millis(500));
    let s = store.stats()?;
    println!(
        "wrote {} records in {} logs ({} kept), {:.1} GiB on disk, {} segments, in {:.0} s",
        per_log * logs,
        logs,
        s.records,
        s.shared.disk_bytes as f64 / (1u64 << 30) as f64,
        s.shared.segments.len(),
        t.elapsed().as_secs_f64()
    );
    println!(
        "index: {:.1} MiB ({:.2} bytes a kept record)",
        s.index_bytes as f64 / (1 << 20) as f64,
        s.index_bytes as f64 / s.records.max(1) as f64
    );
    store.close()
}

fn open(dir: &Path, checkpoint: bool) -> logstore::Result<()> {
    let ckpt = dir.join("store.checkpoint");
    let aside = dir.join("store.checkpoint.aside");
    if !checkpoint {
        std::fs::rename(&ckpt, &aside).expect("the store has a checkpoint");
    }
    let rss_before = peak_rss_kib();
    let t = Instant::now();
    let store = Store::open(
        dir,
        options().background_compaction(false, Duration::from_secs(1)),
    );
    let opened = t.elapsed();
    let store = store?;
    let rss = peak_rss_kib();
    let r = store.recovery();
    let s = store.stats()?;
    // Every log's last record, and its first: one through a run.
    let t = Instant::now();
    for id in store.logs() {
        let log = store.log(id)?;
        log.read(log.next_position()? - 1)?;
        log.read(log.first_position()?)?;
    }
    let read = t.elapsed();
    println!(
        "open: {:.1} ms ({} entries replayed, checkpoint {}, index peak {:.1} MiB); peak RSS {:.1} MiB (+{:.1} over the process before); index {:.1} MiB; first and last record of {} logs read in {:.0} ms",
        opened.as_secs_f64() * 1e3,
        r.replayed,
        if r.checkpoint.is_some() { "used" } else { "none" },
        r.index_peak as f64 / (1 << 20) as f64,
        rss as f64 / 1024.0,
        rss.saturating_sub(rss_before) as f64 / 1024.0,
        s.index_bytes as f64 / (1 << 20) as f64,
        s.logs,
        read.as_secs_f64() * 1e3,
    );
    drop(store);
    if !checkpoint {
        // The drop wrote a new one; put the old one back for the next run.
        std::fs::rename(&aside, &ckpt).expect("put the checkpoint back");
    }
    Ok(())
}

/// Appends `records` more records of `size` bytes, syncs, and exits without
/// closing the store (as a crash after the sync would): the next open
/// replays them after the checkpoint.
fn crash(dir: &Path, records: u64, size: usize) -> logstore::Result<()> {
    let store = Store::open(
        dir,
        options().background_compaction(false, Duration::from_secs(1)),
    )?;
    let logs = store.logs();
    let record = vec![0xa5; size];
    let mut batch = WriteBatch::new();
    for i in 0..records {
        batch.append(logs[i as usize % logs.len()], &record);
        if batch.len() == 1000 {
            store.write(&batch)?;
            batch = WriteBatch::new();
        }
    }
    if !batch.is_empty() {
        store.write(&batch)?;
    }
    store.sync()?;
    println!("appended {records} records after the checkpoint; exiting without closing");
    std::process::exit(0)
}

/// Reads `reads` records at random: a log, then a position among those it
/// keeps.
fn read(dir: &Path, reads: u64) -> logstore::Result<()> {
    let store = Store::open(
        dir,
        options().background_compaction(false, Duration::from_secs(1)),
    )?;
    // A pass first: it indexes the sealed segments not indexed yet.
    let t = Instant::now();
    store.compact()?;
    println!(
        "compaction pass (indexes) in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let logs: Vec<_> = store
        .logs()
        .into_iter()
        .map(|id| store.log(id))
        .collect::<logstore::Result<_>>()?;
    // A fixed xorshift sequence: the same reads each run.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut draw = |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n.max(1)
    };
    let mut times = Vec::with_capacity(reads as usize);
    let total = Instant::now();
    for _ in 0..reads {
        let log = &logs[draw(logs.len() as u64) as usize];
        let (first, next) = (log.first_position()?, log.next_position()?);
        let position = first + draw(next - first);
        let t = Instant::now();
        log.read(position)?;
        times.push(t.elapsed());
    }
    let total = total.elapsed();
    times.sort();
    let q = |f: f64| times[((times.len() - 1) as f64 * f) as usize].as_secs_f64() * 1e3;
    println!(
        "{reads} random reads in {:.1} s: p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        total.as_secs_f64(),
        q(0.5),
        q(0.9),
        q(0.99),
        q(1.0)
    );
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: store-scale write DIR LOGS RECORDS SIZE [--keep-all] | store-scale open DIR [--no-checkpoint] | store-scale crash DIR RECORDS SIZE | store-scale read DIR READS";
    let r = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["write", dir, logs, records, size, ref rest @ ..] if rest.len() <= 1 => {
            let n = |v: &str| v.parse::<u64>().expect(usage);
            let truncate = rest != ["--keep-all"];
            write(
                dir.as_ref(),
                n(logs),
                n(records),
                n(size) as usize,
                truncate,
            )
        }
        ["open", dir] => open(dir.as_ref(), true),
        ["crash", dir, records, size] => {
            let n = |v: &str| v.parse::<u64>().expect(usage);
            crash(dir.as_ref(), n(records), n(size) as usize)
        }
        ["open", dir, "--no-checkpoint"] => open(dir.as_ref(), false),
        ["read", dir, reads] => read(dir.as_ref(), reads.parse().expect(usage)),
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    };
    if let Err(e) = r {
        eprintln!("store-scale: {e}");
        std::process::exit(1);
    }
}
