//! Simulation: threads, background jobs and power cuts together.
//!
//! Each seed builds a configuration (sync policy, segment size, write
//! buffer, zeros written ahead, background reclaim, slow syncs and writes)
//! and a plan for several threads on one log over [`SimFs`]: appenders
//! (single records and batches, point reads, syncs), a thread that truncates
//! the front (also past the end) and the back, reads and syncs, and a
//! tailing [`logstore::Iter`]. The background thread seals, reclaims, writes
//! zeros ahead and (under `SyncPolicy::Interval`) syncs on its own. The
//! power goes at a seeded point (counted in mutating file-system calls),
//! or a chosen fsync fails with `EIO`, or a thread closes the log. Every call is logged with a global clock
//! before and after it.
//!
//! Checked:
//! - while the log runs: right after a `sync` (and after a share of the
//!   appends acknowledged under `SyncPolicy::Always`, and of the
//!   truncations), the state a power cut would leave at that moment
//!   ([`SimFs::durable_image`]) must open, and hold every record a
//!   completed durable call covers (an append acknowledged under `Always`;
//!   for a `sync` or `close`, every append begun before it at a position
//!   below the `next_position` it was called with, even one still in
//!   flight), byte-exact, and nothing truncated;
//! - after the final power cut (dropping, keeping or scrambling the
//!   unsynced changes) or close, the reopened log must: hold every
//!   acknowledged durable record (every acknowledged record at all when the
//!   unsynced changes are kept and nothing was only buffered), byte-exact,
//!   at its position, unless a truncation that could remove it overlapped
//!   it; hold no bytes no append wrote, no record twice, no record a
//!   completed `truncate_back` removed, nothing before a completed
//!   `truncate_front`; hold batches whole or not at all;
//! - every record the tailing iterator yields or a point read returns is,
//!   at that moment, the record at its position: not one a completed
//!   truncation removed, not one at another position; the iterator never
//!   skips a position;
//! - no call blocks past a bound (a watchdog reports the hang).
//!
//! Thread interleavings are not deterministic, but the plan, the
//! configuration, the cut point and the injected delays come from the seed;
//! a failing seed prints itself, its configuration and the log of calls.
//!
//! ```text
//! cargo test -p logstore --test sim                          # default seeds
//! LOGSTORE_SIM_SEEDS=100000 cargo test -p logstore --test sim
//! LOGSTORE_SIM_SEED=1234 cargo test -p logstore --test sim    # one seed
//! ```
//!
//! A seed replayed alone runs up to `LOGSTORE_SIM_TRIES` times (default 20)
//! until it fails, since thread timing varies between runs; its report
//! lists every call with its clock values.
//!
//! `LOGSTORE_SIM_FIRST` moves the first seed; `LOGSTORE_SIM_JOBS` sets how
//! many seeds run at once (default 4: a seed sleeps most of the time);
//! `LOGSTORE_SIM_HANG_MS` sets the watchdog's bound (default 3,000 ms).

mod common;

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use common::{record as filler, Rng};
use logstore::sim::{CrashMode, FaultError, Op, SimFs};
use logstore::{ErrorKind, Log, Options, SyncPolicy};

const DIR: &str = "/log";
/// Bytes at the start of every record naming it: the id of the call that
/// appended it (4 bytes) and its index in the batch (2 bytes).
const TAG: usize = 6;
/// Seeds of a default `cargo test` run.
const DEFAULT_SEEDS: u64 = 1500;

// ---------------------------------------------------------------- config

#[derive(Clone, Debug)]
struct Config {
    seed: u64,
    policy: SyncPolicy,
    segment_size: u64,
    write_buffer: usize,
    preallocate: bool,
    background_reclaim: bool,
    appenders: usize,
    ops_per_appender: usize,
    truncator_ops: usize,
    /// Longest pause of the truncating thread between calls, in µs.
    truncator_nap: u64,
    /// The truncating thread cuts the back by a few records, again and
    /// again, while appenders wait for slow syncs and zeros are written
    /// ahead (`Always`): the race of acknowledgements with `truncate_back`.
    back_storm: bool,
    /// Percentage of syncs and writes that sleep, and the longest sleeps.
    delay_percent: u64,
    sync_delay: Duration,
    write_delay: Duration,
    /// Cut the power after this many mutating file-system calls.
    cut_after: Option<u64>,
    /// The truncating thread closes the log at this step of its plan.
    close_at: Option<usize>,
    mode: CrashMode,
    /// Percentage of acknowledged appends (under `Always`) and truncations
    /// followed by a check of the durable image.
    image_percent: u64,
    /// Fail this file sync (1-based, counted from the open) with `EIO`.
    failed_sync: Option<u64>,
}

impl Config {
    fn new(seed: u64) -> Config {
        let mut rng = Rng(seed ^ 0x51u64.rotate_left(40));
        let policy = match rng.below(100) {
            0..=49 => SyncPolicy::Always,
            50..=69 => SyncPolicy::Never,
            70..=89 => SyncPolicy::Interval(Duration::from_micros(rng.range(500, 4000))),
            _ => SyncPolicy::Bytes(rng.range(500, 20_000)),
        };
        let write_buffer = if policy == SyncPolicy::Always || rng.chance(50) {
            0
        } else {
            rng.range(64, 8192) as usize
        };
        let appenders = rng.range(2, 5) as usize;
        let ops_per_appender = rng.range(10, 35) as usize;
        let (delay_percent, sync_delay, write_delay) = if rng.chance(65) {
            (
                rng.range(10, 90),
                Duration::from_micros(rng.range(50, 2500)),
                Duration::from_micros(rng.below(150)),
            )
        } else {
            (0, Duration::ZERO, Duration::ZERO)
        };
        // Now and then a busy truncating thread.
        let (truncator_ops, truncator_nap) = if rng.chance(25) {
            (rng.range(15, 40) as usize, rng.range(50, 500))
        } else {
            (rng.range(4, 16) as usize, 3000)
        };
        let close_at = rng
            .chance(15)
            .then(|| rng.below(truncator_ops as u64 + 1) as usize);
        let estimate = (appenders * ops_per_appender * 3 + 40) as u64;
        let cut_after = (close_at.is_none() && rng.chance(85)).then(|| rng.below(estimate));
        let mode = match rng.below(4) {
            0 | 1 => CrashMode::DropUnsynced,
            2 => CrashMode::KeepUnsynced,
            _ => CrashMode::Scramble(rng.next()),
        };
        let mut cfg = Config {
            seed,
            policy,
            segment_size: *rng.pick(&[4096, 8192, 16384]),
            write_buffer,
            preallocate: rng.chance(50),
            background_reclaim: rng.chance(70),
            appenders,
            ops_per_appender,
            truncator_ops,
            truncator_nap,
            delay_percent,
            sync_delay,
            write_delay,
            cut_after,
            close_at,
            mode,
            image_percent: rng.range(20, 101),
            back_storm: false,
            failed_sync: None,
        };
        if rng.chance(12) {
            cfg.back_storm = true;
            cfg.policy = SyncPolicy::Always;
            cfg.write_buffer = 0;
            cfg.preallocate = true;
            cfg.delay_percent = rng.range(60, 100);
            cfg.sync_delay = Duration::from_micros(rng.range(300, 1500));
            cfg.truncator_ops = rng.range(15, 30) as usize;
            cfg.truncator_nap = rng.range(50, 400);
            cfg.image_percent = 100;
            cfg.close_at = None;
        }
        // Now and then a sync fails instead of the power going.
        if cfg.close_at.is_none() && rng.chance(10) {
            cfg.failed_sync = Some(rng.range(1, 40));
            cfg.cut_after = None;
        }
        cfg
    }

    fn options(&self, fs: &SimFs) -> Options {
        Options::default()
            .sync_policy(self.policy)
            .segment_size(self.segment_size)
            .write_buffer(self.write_buffer)
            .preallocate(self.preallocate)
            .background_reclaim(self.background_reclaim)
            .simulated(fs)
    }

    /// Options for opening a durable image: nothing there runs for long.
    fn image_options(&self, fs: &SimFs) -> Options {
        Options::default()
            .sync_policy(SyncPolicy::Never)
            .segment_size(self.segment_size)
            .preallocate(false)
            .background_reclaim(false)
            .simulated(fs)
    }
}

// ------------------------------------------------------------------ plan

#[derive(Clone, Debug)]
enum Step {
    /// Record lengths; more than one is a batch.
    Append(Vec<usize>),
    /// A position between the first and the next one, by this fraction
    /// (in thousandths; past 1000 is past the end).
    Read(u64),
    TruncateFront(u64),
    TruncateBack(u64),
    Sync,
    Close,
    WaitReclaimed,
    Sleep(u64),
}

fn record_len(rng: &mut Rng) -> usize {
    match rng.below(100) {
        0..=59 => rng.range(TAG as u64, 200) as usize,
        60..=94 => rng.range(200, 3000) as usize,
        95..=98 => rng.range(3000, 12000) as usize,
        // Past the threshold for writing straight from the caller's buffer,
        // and past any segment size.
        _ => rng.range(64 << 10, 70 << 10) as usize,
    }
}

fn appender_plan(rng: &mut Rng, n: usize) -> Vec<Step> {
    (0..n)
        .map(|_| match rng.below(100) {
            0..=54 => Step::Append(vec![record_len(rng)]),
            55..=74 => {
                let k = rng.range(2, 7) as usize;
                Step::Append((0..k).map(|_| record_len(rng)).collect())
            }
            75..=87 => Step::Read(rng.below(1100)),
            88..=93 => Step::Sync,
            _ => Step::Sleep(rng.below(500)),
        })
        .collect()
}

fn truncator_plan(rng: &mut Rng, cfg: &Config) -> Vec<Step> {
    let (n, nap) = (cfg.truncator_ops, cfg.truncator_nap);
    if cfg.back_storm {
        return (0..n)
            .map(|_| match rng.below(100) {
                0..=49 => Step::TruncateBack(rng.range(1, 4)),
                50..=64 => Step::Sync,
                65..=74 => Step::Read(rng.below(1100)),
                _ => Step::Sleep(rng.below(nap)),
            })
            .collect();
    }
    let mut plan: Vec<Step> = (0..n)
        .map(|_| match rng.below(100) {
            0..=24 => Step::TruncateFront(rng.below(12)),
            25..=44 => Step::TruncateBack(rng.below(8)),
            45..=59 => Step::Read(rng.below(1100)),
            60..=69 => Step::Sync,
            70..=74 => Step::WaitReclaimed,
            _ => Step::Sleep(rng.below(nap)),
        })
        .collect();
    if let Some(at) = cfg.close_at {
        plan.insert(at, Step::Close);
    }
    plan
}

/// The bytes of record `k` of call `id`: its tag, then bytes depending on
/// the seed, the call and the index, so that a stale or misplaced record
/// is recognised.
fn record_bytes(seed: u64, id: u32, k: usize, len: usize) -> Vec<u8> {
    let mut r = Vec::with_capacity(len);
    r.extend_from_slice(&id.to_le_bytes());
    r.extend_from_slice(&(k as u16).to_le_bytes());
    let salt = seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ (u64::from(id) << 16) ^ k as u64;
    r.extend_from_slice(&filler(salt, len - TAG));
    r
}

fn tag_of(rec: &[u8]) -> Option<(u32, usize)> {
    if rec.len() < TAG {
        return None;
    }
    let id = u32::from_le_bytes(rec[..4].try_into().unwrap());
    let k = u16::from_le_bytes(rec[4..6].try_into().unwrap()) as usize;
    Some((id, k))
}

// --------------------------------------------------------------- op log

#[derive(Clone, Debug)]
enum What {
    Append(Vec<usize>),
    Read(u64),
    TruncateFront(u64),
    TruncateBack(u64),
    /// `sync` or `close`, called when `next_position` was this: every
    /// position below it is durable once the call returns Ok.
    Sync(u64),
    Close(u64),
    /// A durability notice of a submitted append (`submit_batch_then`),
    /// from the submit's start to the callback: every position below this
    /// is durable once it reports Ok.
    Notice(u64),
    WaitReclaimed,
    /// One `next_timeout` of the tailing iterator, from this position.
    Tail(u64),
    /// A check of the durable image.
    Image,
}

#[derive(Clone, Debug)]
enum Outcome {
    Pending,
    Appended(Range<u64>),
    /// A record read or yielded: position and bytes.
    Got(u64, Arc<Vec<u8>>),
    Done,
    Failed(ErrorKind, String),
}

#[derive(Clone, Debug)]
struct Entry {
    /// The call's id (the tag of its records): thread << 16 | step.
    id: u32,
    thread: usize,
    what: What,
    start: u64,
    /// `u64::MAX` while in flight.
    end: u64,
    outcome: Outcome,
    /// An append made with `submit`: its return says nothing of
    /// durability, whatever the sync policy.
    submitted: bool,
}

impl Entry {
    fn ok(&self) -> bool {
        !matches!(self.outcome, Outcome::Pending | Outcome::Failed(..))
    }

    fn appended(&self) -> Option<&Range<u64>> {
        match &self.outcome {
            Outcome::Appended(r) => Some(r),
            _ => None,
        }
    }

    /// Until when the call may have had an effect: its end if it succeeded
    /// or failed without one, forever if it failed midway (an I/O error, a
    /// power cut) or is still in flight.
    fn effect_end(&self) -> u64 {
        match &self.outcome {
            Outcome::Failed(kind, _) if !matches!(kind, ErrorKind::Io | ErrorKind::Poisoned) => {
                self.end
            }
            Outcome::Pending | Outcome::Failed(..) => u64::MAX,
            _ => self.end,
        }
    }
}

impl std::fmt::Display for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let end = if self.end == u64::MAX {
            "..".to_string()
        } else {
            self.end.to_string()
        };
        write!(f, "[{:>5}-{:>5}] t{} ", self.start, end, self.thread)?;
        match &self.what {
            What::Append(lens) if lens.len() == 1 => {
                write!(f, "append #{:x} ({} B)", self.id, lens[0])?
            }
            What::Append(lens) => write!(f, "batch #{:x} ({} records)", self.id, lens.len())?,
            What::Read(p) => write!(f, "read({p})")?,
            What::TruncateFront(p) => write!(f, "truncate_front({p})")?,
            What::TruncateBack(p) => write!(f, "truncate_back({p})")?,
            What::Sync(n) => write!(f, "sync (next {n})")?,
            What::Close(n) => write!(f, "close (next {n})")?,
            What::Notice(n) => write!(f, "durability notice (below {n})")?,
            What::WaitReclaimed => write!(f, "wait_reclaimed")?,
            What::Tail(p) => write!(f, "iter.next_timeout at {p}")?,
            What::Image => write!(f, "durable image check")?,
        }
        match &self.outcome {
            Outcome::Pending => write!(f, " -> (in flight)"),
            Outcome::Appended(r) => write!(f, " -> Ok({r:?})"),
            Outcome::Got(p, rec) => match tag_of(rec) {
                Some((id, k)) => write!(f, " -> ({p}, #{id:x}/{k})"),
                None => write!(f, " -> ({p}, {} untagged bytes)", rec.len()),
            },
            Outcome::Done => write!(f, " -> Ok"),
            Outcome::Failed(kind, msg) => write!(f, " -> Err({kind:?}: {msg})"),
        }
    }
}

// ----------------------------------------------------------------- world

struct World {
    cfg: Config,
    fs: SimFs,
    clock: AtomicU64,
    ops: Mutex<Vec<Entry>>,
    /// Call in flight per thread: its entry and when it began.
    inflight: Vec<Mutex<Option<(usize, Instant)>>>,
    violations: Mutex<Vec<String>>,
    stop: AtomicBool,
    /// Clock value when the power was first seen cut.
    cut_seen: AtomicU64,
    /// Durable images taken while the log ran, checked at the end.
    images: Mutex<Vec<Image>>,
}

/// The state a power cut would have left between clock values `i0` and
/// `i1`, opened.
struct Image {
    i0: u64,
    i1: u64,
    why: String,
    found: Result<Snapshot, String>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl World {
    fn tick(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::SeqCst)
    }

    fn begin(&self, thread: usize, id: u32, what: What) -> usize {
        let mut ops = lock(&self.ops);
        let start = self.tick();
        ops.push(Entry {
            id,
            thread,
            what,
            start,
            end: u64::MAX,
            outcome: Outcome::Pending,
            submitted: false,
        });
        let idx = ops.len() - 1;
        *lock(&self.inflight[thread]) = Some((idx, Instant::now()));
        idx
    }

    fn end(&self, thread: usize, idx: usize, outcome: Outcome) {
        *lock(&self.inflight[thread]) = None;
        let mut ops = lock(&self.ops);
        ops[idx].end = self.tick();
        ops[idx].outcome = outcome;
    }

    /// Submits `recs` (the append of entry `idx`) with a callback that
    /// ends a notice entry, begun now: it must run exactly once, and only
    /// once its records are durable.
    fn submit_with_notice(
        self: &Arc<Self>,
        log: &Log,
        thread: usize,
        idx: usize,
        recs: &[Vec<u8>],
    ) -> logstore::Result<Range<u64>> {
        let notice = {
            let mut ops = lock(&self.ops);
            ops[idx].submitted = true;
            let start = self.tick();
            let id = ops[idx].id;
            ops.push(Entry {
                id,
                thread,
                what: What::Notice(0),
                start,
                end: u64::MAX,
                outcome: Outcome::Pending,
                submitted: false,
            });
            ops.len() - 1
        };
        let w = Arc::clone(self);
        let r = log.submit_batch_then(recs, move |r| {
            let mut ops = lock(&w.ops);
            let e = &mut ops[notice];
            if e.end != u64::MAX {
                let again = format!("a durability notice ran twice: {e}");
                drop(ops);
                w.violation(again);
                return;
            }
            e.end = w.tick();
            e.outcome = match r {
                Ok(range) => Outcome::Appended(range),
                Err(err) => World::failed(&err),
            };
        });
        match &r {
            // What the notice covers is known once the submit returns
            // (its callback may have run already); the entries are read
            // only after every thread is done.
            Ok(range) => lock(&self.ops)[notice].what = What::Notice(range.end),
            // No callback for a refused submit: the notice ends here.
            Err(e) => {
                let mut ops = lock(&self.ops);
                ops[notice].end = self.tick();
                ops[notice].outcome = World::failed(e);
            }
        }
        r
    }

    fn violation(&self, v: String) {
        lock(&self.violations).push(v);
    }

    fn failed(e: &logstore::Error) -> Outcome {
        Outcome::Failed(e.kind(), e.to_string())
    }

    /// Takes the state a power cut now would leave and opens it; it is
    /// checked at the end, when the outcome of every call is known.
    fn check_durable_image(&self, thread: usize, why: &str) {
        let idx = self.begin(thread, 0, What::Image);
        let i0 = self.tick();
        let image = self.fs.durable_image();
        let i1 = self.tick();
        let found = snapshot(self.cfg.image_options(&image));
        lock(&self.images).push(Image {
            i0,
            i1,
            why: why.to_string(),
            found,
        });
        self.end(thread, idx, Outcome::Done);
    }
}

// ------------------------------------------------------------- threads

fn run_worker(w: &Arc<World>, log: &Log, thread: usize, plan: &[Step], rng: &mut Rng) {
    let seed = w.cfg.seed;
    for (j, step) in plan.iter().enumerate() {
        let id = ((thread as u32) << 16) | j as u32;
        match step {
            Step::Sleep(us) => thread::sleep(Duration::from_micros(*us)),
            Step::Append(lens) => {
                let recs: Vec<Vec<u8>> = lens
                    .iter()
                    .enumerate()
                    .map(|(k, &len)| record_bytes(seed, id, k, len))
                    .collect();
                let idx = w.begin(thread, id, What::Append(lens.clone()));
                let r = match rng.below(100) {
                    // Submitted, with a notice or without.
                    0..=14 => w.submit_with_notice(log, thread, idx, &recs),
                    15..=24 => {
                        lock(&w.ops)[idx].submitted = true;
                        log.submit_batch(&recs)
                    }
                    _ if recs.len() == 1 => log.append(&recs[0]).map(|p| p..p + 1),
                    _ => log.append_batch(&recs),
                };
                match r {
                    Ok(range) => {
                        if range.end - range.start != recs.len() as u64 {
                            w.violation(format!(
                                "append #{id:x} got {range:?} for {} records",
                                recs.len()
                            ));
                        }
                        w.end(thread, idx, Outcome::Appended(range));
                        if w.cfg.policy == SyncPolicy::Always && rng.chance(w.cfg.image_percent) {
                            w.check_durable_image(thread, &format!("append #{id:x}"));
                        }
                    }
                    Err(e) => {
                        w.end(thread, idx, World::failed(&e));
                        match e.kind() {
                            ErrorKind::Io | ErrorKind::Poisoned | ErrorKind::Closed => return,
                            _ => w.violation(format!("append #{id:x} failed unexpectedly: {e}")),
                        }
                    }
                }
            }
            Step::Read(frac) => {
                let (first, next) = (log.first_position(), log.next_position());
                let pos = first + (next - first) * frac / 1000;
                let idx = w.begin(thread, id, What::Read(pos));
                match log.read(pos) {
                    Ok(rec) => w.end(thread, idx, Outcome::Got(pos, Arc::new(rec))),
                    Err(e) => {
                        w.end(thread, idx, World::failed(&e));
                        if e.kind() == ErrorKind::Corruption {
                            w.violation(format!("read({pos}) failed: {e}"));
                        }
                    }
                }
            }
            Step::TruncateFront(off) => {
                let (first, next) = (log.first_position(), log.next_position());
                // Mostly inside the log, sometimes past its end.
                let pos = first + off * (next - first + 3) / 10;
                let idx = w.begin(thread, id, What::TruncateFront(pos));
                match log.truncate_front(pos) {
                    Ok(()) => {
                        w.end(thread, idx, Outcome::Done);
                        if rng.chance(w.cfg.image_percent) {
                            w.check_durable_image(thread, &format!("truncate_front({pos})"));
                        }
                    }
                    Err(e) => {
                        w.end(thread, idx, World::failed(&e));
                        if matches!(
                            e.kind(),
                            ErrorKind::Io | ErrorKind::Poisoned | ErrorKind::Closed
                        ) {
                            return;
                        }
                        w.violation(format!("truncate_front({pos}) failed unexpectedly: {e}"));
                    }
                }
            }
            Step::TruncateBack(off) => {
                let (first, next) = (log.first_position(), log.next_position());
                let pos = next - (off * 2).min(next - first);
                let idx = w.begin(thread, id, What::TruncateBack(pos));
                match log.truncate_back(pos) {
                    Ok(()) => {
                        w.end(thread, idx, Outcome::Done);
                        if rng.chance(w.cfg.image_percent) {
                            w.check_durable_image(thread, &format!("truncate_back({pos})"));
                        }
                    }
                    Err(e) => {
                        w.end(thread, idx, World::failed(&e));
                        match e.kind() {
                            ErrorKind::Io | ErrorKind::Poisoned | ErrorKind::Closed => return,
                            // The front moved past it meanwhile.
                            ErrorKind::OutOfRange => {}
                            _ => w.violation(format!(
                                "truncate_back({pos}) failed unexpectedly: {e}"
                            )),
                        }
                    }
                }
            }
            Step::Sync => {
                let idx = w.begin(thread, id, What::Sync(log.next_position()));
                match log.sync() {
                    Ok(()) => {
                        w.end(thread, idx, Outcome::Done);
                        w.check_durable_image(thread, "sync");
                    }
                    Err(e) => {
                        w.end(thread, idx, World::failed(&e));
                        if matches!(
                            e.kind(),
                            ErrorKind::Io | ErrorKind::Poisoned | ErrorKind::Closed
                        ) {
                            return;
                        }
                        w.violation(format!("sync failed unexpectedly: {e}"));
                    }
                }
            }
            Step::WaitReclaimed => {
                let idx = w.begin(thread, id, What::WaitReclaimed);
                log.wait_reclaimed();
                w.end(thread, idx, Outcome::Done);
            }
            Step::Close => {
                let idx = w.begin(thread, id, What::Close(log.next_position()));
                match log.close() {
                    Ok(()) => {
                        w.end(thread, idx, Outcome::Done);
                        w.check_durable_image(thread, "close");
                    }
                    Err(e) => {
                        w.end(thread, idx, World::failed(&e));
                        if !matches!(
                            e.kind(),
                            ErrorKind::Io | ErrorKind::Poisoned | ErrorKind::Closed
                        ) {
                            w.violation(format!("close failed unexpectedly: {e}"));
                        }
                    }
                }
                return;
            }
        }
    }
}

fn run_tail(w: &World, log: &Log, thread: usize) {
    let mut it = log.iter(log.first_position());
    let mut expect = it.position();
    while !w.stop.load(Ordering::SeqCst) {
        let idx = w.begin(thread, 0, What::Tail(it.position()));
        match it.next_timeout(Duration::from_millis(20)) {
            None => w.end(thread, idx, Outcome::Done),
            Some(Ok((pos, rec))) => {
                if pos != expect {
                    w.violation(format!(
                        "the iterator yielded position {pos} after {}",
                        expect.wrapping_sub(1)
                    ));
                }
                expect = pos + 1;
                w.end(thread, idx, Outcome::Got(pos, Arc::new(rec)));
            }
            Some(Err(e)) => {
                w.end(thread, idx, World::failed(&e));
                match e.kind() {
                    ErrorKind::Truncated => {}
                    ErrorKind::Io | ErrorKind::Poisoned | ErrorKind::Closed => {
                        thread::sleep(Duration::from_millis(2))
                    }
                    _ => w.violation(format!("the iterator failed: {e}")),
                }
                it = log.iter(log.first_position());
                expect = it.position();
            }
        }
    }
}

// ---------------------------------------------------------------- checks

/// What a log holds: its first position and the records from there.
struct Snapshot {
    first: u64,
    records: Vec<Vec<u8>>,
}

impl Snapshot {
    fn next(&self) -> u64 {
        self.first + self.records.len() as u64
    }

    fn get(&self, pos: u64) -> Option<&[u8]> {
        if pos < self.first {
            return None;
        }
        self.records
            .get((pos - self.first) as usize)
            .map(Vec::as_slice)
    }
}

fn snapshot(opts: Options) -> Result<Snapshot, String> {
    let log = Log::open(DIR, opts).map_err(|e| format!("open: {e}"))?;
    let first = log.first_position();
    let mut records = Vec::new();
    for item in log.iter(first) {
        let (pos, rec) = item.map_err(|e| format!("reading: {e}"))?;
        if pos != first + records.len() as u64 {
            return Err(format!(
                "iterating yields {pos} after {}",
                first + records.len() as u64 - 1
            ));
        }
        records.push(rec);
    }
    if log.next_position() != first + records.len() as u64 {
        return Err(format!(
            "next_position {} but records end at {}",
            log.next_position(),
            first + records.len() as u64
        ));
    }
    Ok(Snapshot { first, records })
}

/// Which acknowledged appends a state must hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Need {
    /// Those made durable: acknowledged under `SyncPolicy::Always`, or
    /// followed by a successful `sync` or `close`.
    Durable,
    /// Every acknowledged one (unsynced changes kept, nothing only buffered).
    All,
}

/// Checks a state taken between clock values `i0` and `i1` (the final one:
/// both `u64::MAX`) against the calls made.
fn check_state(
    cfg: &Config,
    snap: &Snapshot,
    ops: &[Entry],
    i0: u64,
    i1: u64,
    need: Need,
) -> Vec<String> {
    let mut out = Vec::new();
    let appends: HashMap<u32, &Entry> = ops
        .iter()
        .filter(|e| matches!(e.what, What::Append(_)) && e.start < i1)
        .map(|e| (e.id, e))
        .collect();
    let truncations: Vec<&Entry> = ops
        .iter()
        .filter(|e| {
            matches!(e.what, What::TruncateFront(_) | What::TruncateBack(_)) && e.start < i1
        })
        .collect();
    let syncs: Vec<&Entry> = ops
        .iter()
        .filter(|e| {
            matches!(e.what, What::Sync(_) | What::Close(_) | What::Notice(_))
                && e.ok()
                && e.end < i0
        })
        .collect();
    // Whether a truncation that could remove `pos` overlapped `[from, i1)`.
    let excused = |pos: u64, from: u64| {
        truncations.iter().any(|t| {
            t.effect_end() > from
                && match t.what {
                    What::TruncateFront(q) => q > pos,
                    What::TruncateBack(q) => q <= pos,
                    _ => false,
                }
        })
    };

    let reassigned = |pos: u64, a: &Entry| {
        ops.iter().any(|t| {
            matches!(t.what, What::TruncateBack(q) if q <= pos)
                && t.start < a.end
                && t.effect_end() > a.start
        })
    };

    // What is there was written by an append, at its position, once.
    let mut seen: HashSet<(u32, usize)> = HashSet::new();
    for (i, rec) in snap.records.iter().enumerate() {
        let pos = snap.first + i as u64;
        let Some((id, k)) = tag_of(rec) else {
            out.push(format!(
                "position {pos} holds {} bytes no append wrote",
                rec.len()
            ));
            continue;
        };
        let Some(a) = appends.get(&id) else {
            out.push(format!(
                "position {pos} holds a record tagged #{id:x}/{k}, which no append wrote"
            ));
            continue;
        };
        let What::Append(lens) = &a.what else {
            unreachable!()
        };
        if k >= lens.len() || *rec != record_bytes(cfg.seed, id, k, lens[k]) {
            out.push(format!(
                "position {pos} holds damaged bytes of #{id:x}/{k} ({} bytes)",
                rec.len()
            ));
            continue;
        }
        if !seen.insert((id, k)) {
            out.push(format!(
                "record #{id:x}/{k} is found twice (again at {pos})"
            ));
        }
        if let Some(r) = a.appended() {
            if r.start + k as u64 != pos {
                out.push(format!(
                    "record #{id:x}/{k}, acknowledged at {}, is found at {pos}",
                    r.start + k as u64
                ));
            }
            let removed = truncations.iter().find(|t| {
                matches!(t.what, What::TruncateBack(q) if q <= pos)
                    && t.ok()
                    && t.end < i0
                    && a.end < t.start
            });
            if let Some(t) = removed {
                out.push(format!(
                    "record #{id:x}/{k} at {pos} is back, though {t} removed it"
                ));
            }
        }
    }

    // Completed front truncations hold.
    for t in &truncations {
        if let What::TruncateFront(q) = t.what {
            if t.ok() && t.end < i0 && snap.first < q {
                out.push(format!(
                    "first position {} is before truncate_front({q}), which returned Ok [{}-{}]",
                    snap.first, t.start, t.end
                ));
            }
        }
    }

    // Acknowledged records that must be there are, byte-exact: those
    // acknowledged under `Always` before the state was taken, and those a
    // completed `sync` or `close` covered (begun before it, at a position
    // below `next_position` when it was called), even if still in flight.
    for a in appends.values() {
        let Some(r) = a.appended() else { continue };
        let What::Append(lens) = &a.what else {
            unreachable!()
        };
        for (k, &len) in lens.iter().enumerate() {
            let pos = r.start + k as u64;
            let sync = syncs.iter().find(|s| {
                let (What::Sync(n) | What::Close(n) | What::Notice(n)) = s.what else {
                    unreachable!()
                };
                a.start < s.start && pos < n
            });
            let why = match need {
                // A submitted record may still be in the process's buffer.
                Need::All if a.end < i0 && (!a.submitted || cfg.write_buffer == 0) => {
                    "acknowledged".to_string()
                }
                _ if cfg.policy == SyncPolicy::Always && a.end < i0 && !a.submitted => {
                    "acknowledged under SyncPolicy::Always".to_string()
                }
                _ => match sync {
                    // The position was below `next_position` when the sync
                    // was called, so it was the append's already, unless a
                    // `truncate_back` handed it out again while the append
                    // ran (maybe after the state was taken).
                    Some(s) if !reassigned(pos, a) => format!("covered by {s}"),
                    _ => continue,
                },
            };
            if excused(pos, a.start) {
                continue;
            }
            match snap.get(pos) {
                None => {
                    out.push(format!(
                    "record #{:x}/{k} at {pos}, {why}, is missing (log holds {}..{}); appended {a}",
                    a.id, snap.first, snap.next()
                ))
                }
                Some(got) if got != record_bytes(cfg.seed, a.id, k, len).as_slice() => {
                    out.push(format!(
                        "record #{:x}/{k} at {pos}, {why}, reads as {}; appended {a}",
                        a.id,
                        match tag_of(got) {
                            Some((id, k)) => format!("#{id:x}/{k}"),
                            None => "untagged bytes".into(),
                        }
                    ))
                }
                Some(_) => {}
            }
        }
    }

    // Batches are whole or absent.
    for a in appends.values() {
        let What::Append(lens) = &a.what else {
            unreachable!()
        };
        if lens.len() < 2 {
            continue;
        }
        let n = (0..lens.len())
            .filter(|&k| seen.contains(&(a.id, k)))
            .count();
        let cut = truncations.iter().any(|t| t.effect_end() > a.start);
        if n > 0 && n < lens.len() && !cut {
            out.push(format!(
                "batch #{:x} is torn: {n} of its {} records are there",
                a.id,
                lens.len()
            ));
        }
    }
    out
}

/// Checks each record the tailing iterator yielded and each point read
/// returned, knowing every call's outcome.
fn check_reads(cfg: &Config, ops: &[Entry]) -> Vec<String> {
    let mut out = Vec::new();
    let appends: HashMap<u32, &Entry> = ops
        .iter()
        .filter(|e| matches!(e.what, What::Append(_)))
        .map(|e| (e.id, e))
        .collect();
    let truncations: Vec<&Entry> = ops
        .iter()
        .filter(|e| matches!(e.what, What::TruncateFront(_) | What::TruncateBack(_)) && e.ok())
        .collect();
    for y in ops {
        let Outcome::Got(pos, rec) = &y.outcome else {
            continue;
        };
        let pos = *pos;
        let who = format!("{y}");
        let Some((id, k)) = tag_of(rec) else {
            out.push(format!("{who}: {} bytes no append wrote", rec.len()));
            continue;
        };
        let Some(a) = appends.get(&id).filter(|a| a.start < y.end) else {
            out.push(format!("{who}: a record no append (begun by then) wrote"));
            continue;
        };
        let What::Append(lens) = &a.what else {
            unreachable!()
        };
        if k >= lens.len() || **rec != record_bytes(cfg.seed, id, k, lens[k]) {
            out.push(format!("{who}: damaged bytes of #{id:x}/{k}"));
            continue;
        }
        if let Some(r) = a.appended() {
            if r.start + k as u64 != pos {
                out.push(format!(
                    "{who}: record #{id:x}/{k} belongs at {}",
                    r.start + k as u64
                ));
            }
        }
        for t in &truncations {
            if t.end >= y.start {
                continue;
            }
            let before = out.len();
            match t.what {
                What::TruncateFront(q) if q > pos => out.push(format!(
                    "{who}: yielded a record before the first position, after truncate_front({q}) returned [{}-{}]",
                    t.start, t.end
                )),
                What::TruncateBack(q) if q <= pos && a.appended().is_some() && a.end < t.start => {
                    out.push(format!(
                        "{who}: yielded record #{id:x}/{k}, which truncate_back({q}) removed [{}-{}]",
                        t.start, t.end
                    ))
                }
                _ => {}
            }
            if out.len() > before {
                break; // one truncation says it
            }
        }
    }
    out
}

// ------------------------------------------------------------------ run

fn hang_bound() -> Duration {
    let ms = std::env::var("LOGSTORE_SIM_HANG_MS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3000);
    Duration::from_millis(ms)
}

/// Runs one seed; returns its report if anything was violated.
fn run_seed(seed: u64, verbose: bool) -> Option<String> {
    let cfg = Config::new(seed);
    let fs = SimFs::new();
    let log = match Log::open(DIR, cfg.options(&fs)) {
        Ok(log) => Arc::new(log),
        Err(e) => return Some(format!("seed {seed}: opening a new log failed: {e}")),
    };
    fs.set_delays(seed, cfg.delay_percent, cfg.sync_delay, cfg.write_delay);
    if let Some(n) = cfg.failed_sync {
        fs.fail(Op::Sync, n, FaultError::Io, false);
    }
    let mut rng = Rng(seed);
    let mut plans: Vec<Vec<Step>> = (0..cfg.appenders)
        .map(|_| appender_plan(&mut rng, cfg.ops_per_appender))
        .collect();
    plans.push(truncator_plan(&mut rng, &cfg));
    let threads = plans.len() + 1;
    let world = Arc::new(World {
        cfg: cfg.clone(),
        fs: fs.clone(),
        clock: AtomicU64::new(0),
        ops: Mutex::new(Vec::new()),
        inflight: (0..threads).map(|_| Mutex::new(None)).collect(),
        violations: Mutex::new(Vec::new()),
        stop: AtomicBool::new(false),
        cut_seen: AtomicU64::new(u64::MAX),
        images: Mutex::new(Vec::new()),
    });
    if let Some(n) = cfg.cut_after {
        fs.cut_power_after(n);
    }
    let mut handles = Vec::new();
    for (t, plan) in plans.into_iter().enumerate() {
        let (w, log) = (world.clone(), log.clone());
        let mut rng = Rng(seed ^ ((t as u64 + 1) << 32));
        handles.push(thread::spawn(move || {
            run_worker(&w, &log, t, &plan, &mut rng)
        }));
    }
    let tail = {
        let (w, log) = (world.clone(), log.clone());
        thread::spawn(move || run_tail(&w, &log, threads - 1))
    };

    // The watchdog.
    let bound = hang_bound();
    let mut hung = None;
    loop {
        if fs.is_powered_off() && world.cut_seen.load(Ordering::SeqCst) == u64::MAX {
            world.cut_seen.store(world.tick(), Ordering::SeqCst);
        }
        let workers_done = handles.iter().all(|h| h.is_finished());
        if workers_done {
            world.stop.store(true, Ordering::SeqCst);
            if tail.is_finished() {
                break;
            }
        }
        for (t, slot) in world.inflight.iter().enumerate() {
            if let Some((idx, since)) = *lock(slot) {
                if since.elapsed() > bound {
                    hung = Some((t, idx));
                }
            }
        }
        if hung.is_some() {
            break;
        }
        thread::sleep(Duration::from_millis(2));
    }
    if let Some((t, idx)) = hung {
        // The stuck threads keep their handles; leave them be.
        world.stop.store(true, Ordering::SeqCst);
        let ops = lock(&world.ops).clone();
        let others: Vec<String> = ops
            .iter()
            .enumerate()
            .filter(|&(i, e)| i != idx && e.end == u64::MAX)
            .map(|(_, e)| e.to_string())
            .collect();
        world.violation(format!(
            "hang: thread {t} has been in {} for more than {} ms; also in flight: {}",
            ops[idx],
            bound.as_millis(),
            if others.is_empty() {
                "nothing".to_string()
            } else {
                others.join("; ")
            }
        ));
        return Some(report(&world, verbose));
    }
    for h in handles {
        if h.join().is_err() {
            world.violation("a worker thread panicked".into());
        }
    }
    if tail.join().is_err() {
        world.violation("the tailing thread panicked".into());
    }

    // The final power cut (or shutdown), then recovery.
    // A cut not reached by now would hit the flush of dropping the log.
    let clean = fs.cancel_power_cut() && cfg.failed_sync.is_none();
    drop(Arc::into_inner(log).expect("every thread is done with the log"));
    for e in lock(&world.ops).iter() {
        if matches!(e.what, What::Notice(_)) && e.end == u64::MAX {
            world.violation(format!("a durability notice never ran: {e}"));
        }
    }
    fs.cut_power_now();
    fs.restart(cfg.mode);
    let ending = if clean {
        "shutdown with the power on"
    } else {
        "final power cut"
    };
    let ops = lock(&world.ops).clone();
    // A failed sync loses the writes it was to make durable, whatever the
    // disk's cache keeps (the kernel marks their pages clean): then only
    // what a sync covered must survive. That holds under `Always` too: a
    // submitted batch is written but waits for no sync, and the failed
    // sync that was to cover it may take it.
    let sync_failed = cfg.failed_sync.is_some();
    let need = match cfg.mode {
        CrashMode::KeepUnsynced
            if !sync_failed
                && (clean || cfg.write_buffer == 0 || cfg.policy == SyncPolicy::Always) =>
        {
            Need::All
        }
        _ => Need::Durable,
    };
    match snapshot(cfg.options(&fs)) {
        Err(e) => world.violation(format!("reopening after the {ending}: {e}")),
        Ok(found) => {
            for v in check_state(&cfg, &found, &ops, u64::MAX, u64::MAX, need) {
                world.violation(format!(
                    "after the {ending} ({:?}, {need:?}): {v}",
                    cfg.mode
                ));
            }
            match snapshot(cfg.options(&fs)) {
                Err(e) => world.violation(format!("second reopen: {e}")),
                Ok(again) => {
                    if again.first != found.first || again.records != found.records {
                        world.violation(format!(
                            "a second reopen differs: {}..{} vs {}..{}",
                            again.first,
                            again.next(),
                            found.first,
                            found.next()
                        ));
                    }
                }
            }
        }
    }
    for v in check_reads(&cfg, &ops) {
        world.violation(v);
    }
    for image in lock(&world.images).iter() {
        let (i0, why) = (image.i0, &image.why);
        match &image.found {
            Err(e) => world.violation(format!(
                "durable image taken at {i0} (after {why}) does not open: {e}"
            )),
            Ok(found) => {
                for v in check_state(&cfg, found, &ops, i0, image.i1, Need::Durable) {
                    world.violation(format!("durable image at {i0} (after {why}): {v}"));
                }
            }
        }
    }
    if lock(&world.violations).is_empty() {
        None
    } else {
        Some(report(&world, verbose))
    }
}

fn report(w: &World, with_log: bool) -> String {
    let cfg = &w.cfg;
    let mut s = String::new();
    let violations = lock(&w.violations);
    let _ = writeln!(s, "seed {}: {} violation(s)", cfg.seed, violations.len());
    for v in violations.iter().take(20) {
        let _ = writeln!(s, "  - {v}");
    }
    let _ = writeln!(s, "  {cfg:?}");
    let cut = w.cut_seen.load(Ordering::SeqCst);
    if cut != u64::MAX {
        let _ = writeln!(s, "  power seen cut at clock {cut}");
    }
    let _ = writeln!(
        s,
        "  replay: LOGSTORE_SIM_SEED={} cargo test -p logstore --test sim",
        cfg.seed
    );
    if with_log {
        let mut ops = lock(&w.ops).clone();
        ops.sort_by_key(|e| e.start);
        let _ = writeln!(s, "  calls ({}), by start:", ops.len());
        for e in &ops {
            if matches!(e.what, What::Tail(_)) && matches!(e.outcome, Outcome::Done) {
                continue; // timeouts of the tailing iterator
            }
            let _ = writeln!(s, "    {e}");
        }
    }
    s
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|s| s.parse().ok())
}

#[test]
fn simulation() {
    if let Some(seed) = env_u64("LOGSTORE_SIM_SEED") {
        // Thread timing varies between runs: try the seed a few times.
        let tries = env_u64("LOGSTORE_SIM_TRIES").unwrap_or(20);
        for i in 1..=tries {
            if let Some(r) = run_seed(seed, true) {
                panic!("failed on try {i}:\n{r}");
            }
        }
        eprintln!("seed {seed}: {tries} tries, no violation");
        return;
    }
    let first = env_u64("LOGSTORE_SIM_FIRST").unwrap_or(0);
    let n = env_u64("LOGSTORE_SIM_SEEDS").unwrap_or(DEFAULT_SEEDS);
    // A seed spends most of its time asleep (slow syncs, pauses, waits):
    // several run at once.
    let jobs = env_u64("LOGSTORE_SIM_JOBS").unwrap_or(4).max(1);
    let started = Instant::now();
    let next_seed = AtomicU64::new(first);
    let found = Mutex::new(Vec::new());
    thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| loop {
                let seed = next_seed.fetch_add(1, Ordering::Relaxed);
                if seed >= first + n {
                    return;
                }
                let r = std::panic::catch_unwind(|| run_seed(seed, false)).unwrap_or_else(|_| {
                    Some(format!(
                        "seed {seed}: 1 violation(s)\n  - the test panicked (replay it alone)"
                    ))
                });
                if let Some(r) = r {
                    eprintln!("{r}");
                    let line = r.lines().nth(1).unwrap_or("").trim().to_string();
                    lock(&found).push((seed, line));
                }
            });
        }
    });
    let mut failures = found.into_inner().unwrap();
    failures.sort();
    eprintln!(
        "{n} seeds from {first} in {:.1} s, {} failed",
        started.elapsed().as_secs_f64(),
        failures.len()
    );
    if !failures.is_empty() {
        let mut s = format!("{} of {n} seeds failed:\n", failures.len());
        for (seed, first_violation) in &failures {
            let _ = writeln!(s, "  seed {seed}: {first_violation}");
        }
        let _ = writeln!(
            s,
            "replay one with LOGSTORE_SIM_SEED=<seed> (prints the log of calls)"
        );
        panic!("{s}");
    }
}
