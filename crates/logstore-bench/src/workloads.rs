//! The workloads, each run inside a child process for one store. A workload
//! prints its figures as `metric<TAB>value<TAB>unit` lines on stdout.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use logstore_testkit::Xorshift;

use crate::quantile::percentile;
use crate::record::{self, RecordMaker};
use crate::stores::{self, raw, Mode, Res, Store};

const KIB: usize = 1 << 10;
const MIB: usize = 1 << 20;

/// Workload sizes; `--quick` divides them by about 20.
#[derive(Clone, Copy, Debug)]
pub struct Scale {
    pub quick: bool,
}

impl Scale {
    fn n(self, full: u64) -> u64 {
        if self.quick {
            (full / 20).max(1)
        } else {
            full
        }
    }
    pub fn w1_records(self) -> u64 {
        self.n(1_000_000)
    }
    fn w2_records(self) -> u64 {
        self.n(100_000)
    }
    /// W3: (1 MiB records, 32 MiB records).
    fn w3_records(self) -> (u64, u64) {
        (self.n(2048), self.n(32))
    }
    fn w4_duration(self) -> Duration {
        Duration::from_millis(if self.quick { 500 } else { 3000 })
    }
    fn w10_duration(self) -> Duration {
        Duration::from_millis(if self.quick { 1500 } else { 10_000 })
    }
    fn big_records(self) -> u64 {
        self.n(10 * 1024)
    }
    fn w8_reads(self) -> u64 {
        self.n(1_000_000)
    }
    fn w9_reads(self) -> u64 {
        self.n(20_000)
    }
    fn w9_records(self) -> u64 {
        self.n(100_000_000)
    }
}

/// The size of W3's record at `position`.
fn w3_size(scale: Scale, position: u64) -> usize {
    if position < scale.w3_records().0 {
        MIB
    } else {
        32 * MIB
    }
}

fn out(metric: &str, value: f64, unit: &str) {
    println!("{metric}\t{value}\t{unit}");
}

const NOT_DURABLE: Mode = Mode {
    durable: false,
    buffered: false,
    mmap_reads: false,
    expect_bytes: 0,
    expect_record: 0,
};
const DURABLE: Mode = Mode {
    durable: true,
    ..NOT_DURABLE
};

/// Bytes the raw ceiling writes for `n` records of `size` (a 4-byte
/// length before each).
fn raw_bytes(n: u64, size: usize) -> u64 {
    n * (4 + size as u64)
}

/// Runs workload `name` for `store` with its data under `root/<store>/`.
pub fn run(store: &str, name: &str, root: &Path, scale: Scale) -> Res<()> {
    let dir = |set: &str| -> PathBuf { root.join(store).join(set) };
    match name {
        "w1" => appends(store, &dir("w1"), scale.w1_records(), 100),
        "w2" => appends(store, &dir("w2"), scale.w2_records(), 4 * KIB),
        "w3" => w3(store, &dir("w3"), scale),
        "w5-w1" => replay(store, &dir("w1")),
        "w5-w3" => replay(store, &dir("w3")),
        "w6" => w6(store, &dir("w3"), scale),
        "w7-w1" => reopen(store, &dir("w1")),
        "w7-w3" => reopen(store, &dir("w3")),
        "w7-big-fill" => fill(store, &dir("big"), scale.big_records(), MIB),
        "w7-big" => reopen(store, &dir("big")),
        "w8" => random_reads(store, &dir("w1"), scale.w8_reads()),
        "w9-fill" => fill(store, &dir("w9"), scale.w9_records(), 100),
        "w9" => w9(store, &dir("w9"), scale),
        _ if name.starts_with("w10-") => w10(store, &dir(name), name, scale),
        _ => match name.strip_prefix("w4-").and_then(|t| t.parse().ok()) {
            Some(threads) => w4(store, &dir(name), threads, scale.w4_duration()),
            None => Err(format!("unknown workload {name}").into()),
        },
    }
}

/// `w10-<logs>` for `store`, or `w10-logs-<logs>`: logstore with one
/// `Log` per log. Every log keeps its last `100_000 / logs` records (at
/// least 10), so that the records kept, and the appends before
/// truncation settles, are the same for every log count.
fn w10(store: &str, dir: &Path, name: &str, scale: Scale) -> Res<()> {
    let rest = &name["w10-".len()..];
    let (store, logs) = match rest.strip_prefix("logs-") {
        Some(n) => ("logstore-logs", n),
        None => (store, rest),
    };
    let logs: u64 = logs.parse()?;
    let keep = (scale.n(2_000_000) / 20 / logs).max(10);
    crate::multi::run(store, dir, logs, keep, scale.w10_duration())
}

fn secs(t: Duration) -> f64 {
    t.as_secs_f64().max(1e-9)
}

/// Appends `n` records sized by `size(position)`, not durable; the time
/// includes handing buffered records to the OS.
fn append_loop(s: &dyn Store, n: u64, size: &dyn Fn(u64) -> usize) -> Res<(Duration, u64)> {
    let mut makers: Vec<(usize, RecordMaker)> = Vec::new();
    let mut bytes = 0u64;
    let start = Instant::now();
    for pos in 0..n {
        let len = size(pos);
        let i = match makers.iter().position(|(l, _)| *l == len) {
            Some(i) => i,
            None => {
                makers.push((len, RecordMaker::new(len)));
                makers.len() - 1
            }
        };
        let got = s.append(makers[i].1.make(pos))?;
        if got != pos {
            return Err(format!("append returned position {got}, expected {pos}").into());
        }
        bytes += len as u64;
    }
    s.flush()?;
    Ok((start.elapsed(), bytes))
}

fn appends(store: &str, dir: &Path, n: u64, size: usize) -> Res<()> {
    let mode = Mode {
        expect_bytes: raw_bytes(n, size),
        expect_record: size,
        ..NOT_DURABLE
    };
    let s = stores::open(store, dir, mode)?;
    let (t, bytes) = append_loop(s.as_ref(), n, &|_| size)?;
    s.close()?;
    out("appends_per_s", n as f64 / secs(t), "1/s");
    out("mb_per_s", bytes as f64 / 1e6 / secs(t), "MB/s");
    Ok(())
}

/// W3: large records, not durable, then one sync. The non-durable figures
/// count the appends up to handing the bytes to the OS; the durable one
/// counts the final sync too. The raw ceiling also measures its `O_DIRECT`
/// write of the same bytes; its durable figure is the better of the two.
fn w3(store: &str, dir: &Path, scale: Scale) -> Res<()> {
    let (small, large) = scale.w3_records();
    let expect = raw_bytes(small, MIB) + raw_bytes(large, 32 * MIB);
    let mode = Mode {
        expect_bytes: expect,
        expect_record: 32 * MIB,
        ..NOT_DURABLE
    };
    let s = stores::open(store, dir, mode)?;
    let (t1, b1) = append_loop(s.as_ref(), small, &|_| MIB)?;
    let mut maker = RecordMaker::new(32 * MIB);
    let start = Instant::now();
    for pos in small..small + large {
        s.append(maker.make(pos))?;
    }
    s.flush()?;
    let t2 = start.elapsed();
    let start = Instant::now();
    s.sync()?;
    let t_sync = start.elapsed();
    s.close()?;
    let b2 = large * 32 * MIB as u64;
    let mb_per_s = |bytes: u64, t: Duration| bytes as f64 / 1e6 / secs(t);
    out("mb_per_s", mb_per_s(b1 + b2, t1 + t2), "MB/s");
    out("mb_per_s_1mib", mb_per_s(b1, t1), "MB/s");
    out("mb_per_s_32mib", mb_per_s(b2, t2), "MB/s");
    out("final_sync_ms", t_sync.as_secs_f64() * 1e3, "ms");
    let mut durable = mb_per_s(b1 + b2, t1 + t2 + t_sync);
    if store == "raw" {
        match raw::direct_write(dir, expect) {
            Ok(t) => {
                let direct = mb_per_s(b1 + b2, t);
                out("mb_per_s_durable_buffered", durable, "MB/s");
                out("mb_per_s_durable_direct", direct, "MB/s");
                durable = durable.max(direct);
            }
            Err(e) => eprintln!("raw w3: no O_DIRECT figure: {e}"),
        }
    }
    out("mb_per_s_durable", durable, "MB/s");
    Ok(())
}

fn fill(store: &str, dir: &Path, n: u64, size: usize) -> Res<()> {
    // Filling is set-up, not a measurement: use the fastest mode.
    let mode = Mode {
        buffered: true,
        ..NOT_DURABLE
    };
    let s = stores::open(store, dir, mode)?;
    let (t, bytes) = append_loop(s.as_ref(), n, &|_| size)?;
    s.close()?;
    out("fill_mb_per_s", bytes as f64 / 1e6 / secs(t), "MB/s");
    Ok(())
}

/// Replays everything, verifying each record and that positions run on.
fn replay_all(s: &dyn Store) -> Res<(Duration, u64, u64)> {
    let (first, next) = (s.first()?, s.next()?);
    let mut expect = first;
    let mut bytes = 0u64;
    let start = Instant::now();
    let n = s.replay(first, &mut |pos, rec| {
        if pos != expect {
            return Err(format!("replay gave position {pos}, expected {expect}").into());
        }
        record::verify(pos, rec)?;
        expect += 1;
        bytes += rec.len() as u64;
        Ok(())
    })?;
    let t = start.elapsed();
    if n != next - first || expect != next {
        return Err(format!("replay gave {n} records, expected {}", next - first).into());
    }
    Ok((t, n, bytes))
}

fn replay(store: &str, dir: &Path) -> Res<()> {
    let s = stores::open(store, dir, NOT_DURABLE)?;
    let (t, n, bytes) = replay_all(s.as_ref())?;
    s.close()?;
    out("records_per_s", n as f64 / secs(t), "1/s");
    out("gb_per_s", bytes as f64 / 1e9 / secs(t), "GB/s");
    Ok(())
}

/// Sum of allocated blocks of every file under `dir`.
pub fn disk_bytes(dir: &Path) -> Res<u64> {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            disk_bytes(&entry.path())?
        } else {
            meta.blocks() * 512
        };
    }
    Ok(total)
}

fn w6(store: &str, dir: &Path, scale: Scale) -> Res<()> {
    let s = stores::open(store, dir, NOT_DURABLE)?;
    let (first, next) = (s.first()?, s.next()?);
    let mid = first + (next - first) / 2;
    let retained: u64 = (mid..next).map(|p| w3_size(scale, p) as u64).sum();
    let before = disk_bytes(dir)?;
    let start = Instant::now();
    s.truncate_front(mid)?;
    let t_truncate = start.elapsed();
    s.wait_reclaimed()?;
    let t_reclaimed = start.elapsed();
    let after = disk_bytes(dir)?;
    if s.first()? != mid {
        return Err(format!("first position is {} after truncating at {mid}", s.first()?).into());
    }
    let (_, n, _) = replay_all(s.as_ref())?;
    if n != next - mid {
        return Err(format!("replay after truncation gave {n} records").into());
    }
    s.close()?;
    let mib = |b: u64| b as f64 / MIB as f64;
    out("truncate_ms", t_truncate.as_secs_f64() * 1e3, "ms");
    out("reclaimed_ms", t_reclaimed.as_secs_f64() * 1e3, "ms");
    out("disk_before_mib", mib(before), "MiB");
    out("disk_after_mib", mib(after), "MiB");
    out("retained_mib", mib(retained), "MiB");
    out("after_over_retained", after as f64 / retained as f64, "x");
    Ok(())
}

/// W7: reopens of a cleanly closed log (the step that wrote it, and every
/// step since, closed it). Each is timed from the call that opens it:
/// `reopen_ms` until the store has told where its data ends (`next`), so
/// that it can take appends and serve any read, and `first_read_ms` until
/// the newest record has also been read back (a store that defers work to
/// its first read pays for it there; the figure includes copying out the
/// record, 32 MiB for W3's log). Medians of 5.
fn reopen(store: &str, dir: &Path) -> Res<()> {
    const OPENS: usize = 5;
    let (mut ready, mut reads) = (Vec::new(), Vec::new());
    for _ in 0..OPENS {
        let start = Instant::now();
        let s = stores::open(store, dir, NOT_DURABLE)?;
        let next = s.next()?;
        let t_ready = start.elapsed();
        let last = next.checked_sub(1).ok_or("w7: the log is empty")?;
        let rec = s.read(last)?;
        let t_read = start.elapsed();
        record::verify(last, &rec)?;
        s.close()?;
        ready.push(t_ready);
        reads.push(t_read);
    }
    ready.sort();
    reads.sort();
    out("reopen_ms", ready[OPENS / 2].as_secs_f64() * 1e3, "ms");
    out("first_read_ms", reads[OPENS / 2].as_secs_f64() * 1e3, "ms");
    Ok(())
}

fn random_reads_on(s: &dyn Store, reads: u64) -> Res<Duration> {
    let (first, next) = (s.first()?, s.next()?);
    s.read(first)?; // builds lazy structures (the raw ceiling's offsets)
    let span = next - first;
    let mut positions = Xorshift::new(0x2545_F491_4F6C_DD1D);
    let start = Instant::now();
    for _ in 0..reads {
        let pos = first + positions.next_u64() % span;
        record::verify(pos, &s.read(pos)?)?;
    }
    Ok(start.elapsed())
}

fn random_reads(store: &str, dir: &Path, reads: u64) -> Res<()> {
    let s = stores::open(store, dir, NOT_DURABLE)?;
    let t = random_reads_on(s.as_ref(), reads)?;
    s.close()?;
    out("reads_per_s", reads as f64 / secs(t), "1/s");
    Ok(())
}

fn w9(store: &str, dir: &Path, scale: Scale) -> Res<()> {
    let start = Instant::now();
    let s = stores::open(store, dir, NOT_DURABLE)?;
    let t_open = start.elapsed();
    let (t, n, _) = replay_all(s.as_ref())?;
    if n != scale.w9_records() {
        return Err(format!("w9: {n} records").into());
    }
    let reads = scale.w9_reads();
    let t_reads = if store == "raw" {
        // The raw ceiling reads by position through an in-memory offset
        // table (8 bytes per record): not a fair memory figure.
        None
    } else {
        Some(random_reads_on(s.as_ref(), reads)?)
    };
    s.close()?;
    out("open_ms", t_open.as_secs_f64() * 1e3, "ms");
    out("records_per_s", n as f64 / secs(t), "1/s");
    if let Some(t) = t_reads {
        out("reads_per_s", reads as f64 / secs(t), "1/s");
    }
    Ok(())
}

fn w4(store: &str, dir: &Path, threads: usize, duration: Duration) -> Res<()> {
    let s: Arc<Box<dyn Store>> = Arc::new(stores::open(store, dir, DURABLE)?);
    let start = Instant::now();
    let deadline = start + duration;
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let s = s.clone();
            thread::spawn(move || -> Res<Vec<u64>> {
                let mut maker = RecordMaker::new(KIB);
                let mut lat = Vec::new();
                let mut i = 0u64;
                loop {
                    let t0 = Instant::now();
                    if t0 >= deadline {
                        return Ok(lat);
                    }
                    s.append(maker.make((t as u64) << 40 | i))?;
                    lat.push(t0.elapsed().as_nanos() as u64);
                    i += 1;
                }
            })
        })
        .collect();
    let mut lat = Vec::new();
    for h in handles {
        lat.extend(h.join().map_err(|_| "w4: appender panicked")??);
    }
    let elapsed = start.elapsed();
    Arc::try_unwrap(s)
        .map_err(|_| "w4: store still shared")?
        .close()?;
    lat.sort_unstable();
    out("appends_per_s", lat.len() as f64 / secs(elapsed), "1/s");
    out("p50_us", percentile(&lat, 0.50), "us");
    out("p99_us", percentile(&lat, 0.99), "us");
    out("p999_us", percentile(&lat, 0.999), "us");
    Ok(())
}
