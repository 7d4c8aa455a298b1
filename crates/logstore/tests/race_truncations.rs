//! Guards against races between appenders, tailing readers, random readers
//! and both truncations: a bounded multi-thread stress run on the real file
//! system that checks, while it runs and at the end, that no reader ever
//! sees a gap, a torn or foreign record or a `Corruption` error, and that
//! every acknowledged record is still there unless a truncation removed it.
//!
//! `cargo test` runs about 3 seconds per sync policy; `LOGSTORE_LONG=1`
//! runs 60.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use logstore::{ErrorKind, Log, Options, SyncPolicy};

mod common;
use common::Rng;

const APPENDERS: u64 = 3;

/// A self-describing record: thread, sequence number, then bytes that
/// depend on both.
fn record(thread: u64, seq: u64, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    out.push(thread as u8);
    out.extend_from_slice(&seq.to_le_bytes());
    let mut r = Rng(thread << 48 ^ seq);
    while out.len() < len {
        out.push(r.next() as u8);
    }
    out
}

/// `(thread, seq)` of a record, if it is one that `record` made.
fn identify(rec: &[u8]) -> Option<(u64, u64)> {
    if rec.len() < 9 {
        return None;
    }
    let thread = u64::from(rec[0]);
    let seq = u64::from_le_bytes(rec[1..9].try_into().unwrap());
    (record(thread, seq, rec.len()) == rec).then_some((thread, seq))
}

struct Shared {
    log: Log,
    stop: AtomicBool,
    clock: AtomicU64,
    /// Acknowledged appends: position -> (thread, seq, tick at start).
    acked: Mutex<Vec<(u64, u64, u64, u64)>>,
    /// Completed back truncations: (position, tick at return).
    backs: Mutex<Vec<(u64, u64)>>,
    reads: AtomicU64,
}

fn appender(sh: &Shared, thread: u64) {
    let mut r = Rng(thread + 1);
    let mut seq = 0;
    while !sh.stop.load(Ordering::Relaxed) {
        let n = if r.below(6) == 0 { 2 + r.below(4) } else { 1 };
        let recs: Vec<Vec<u8>> = (0..n)
            .map(|i| {
                record(thread, seq + i, {
                    let max = if r.below(50) == 0 { 70_000 } else { 600 };
                    9 + r.below(max) as usize
                })
            })
            .collect();
        let tick = sh.clock.fetch_add(1, Ordering::SeqCst);
        let range = sh.log.append_batch(&recs).unwrap();
        let mut acked = sh.acked.lock().unwrap();
        for (i, p) in range.enumerate() {
            acked.push((p, thread, seq + i as u64, tick));
        }
        seq += n;
    }
}

/// Follows the log: positions must be consecutive and every record valid,
/// each thread's records in order.
fn tailer(sh: &Shared) {
    let mut from = sh.log.first_position();
    while !sh.stop.load(Ordering::Relaxed) {
        let mut it = sh.log.iter(from);
        let mut last_seq: HashMap<u64, u64> = HashMap::new();
        let mut expect = from;
        loop {
            if sh.stop.load(Ordering::Relaxed) {
                return;
            }
            match it.next_timeout(Duration::from_millis(20)) {
                None => continue,
                Some(Ok((p, rec))) => {
                    assert_eq!(p, expect, "tailing reader skipped a position");
                    let (t, s) = identify(&rec).unwrap_or_else(|| panic!("bad record at {p}"));
                    if let Some(prev) = last_seq.insert(t, s) {
                        assert!(s > prev, "thread {t}: seq {s} after {prev} at {p}");
                    }
                    expect += 1;
                    sh.reads.fetch_add(1, Ordering::Relaxed);
                }
                Some(Err(e)) => {
                    // Passed by truncate_front, or the tail rewound by
                    // truncate_back under it: start again.
                    assert!(
                        matches!(e.kind(), ErrorKind::Truncated | ErrorKind::OutOfRange),
                        "tailing reader: {e}"
                    );
                    from = sh
                        .log
                        .first_position()
                        .max(expect.min(sh.log.next_position()));
                    break;
                }
            }
            if expect > sh.log.next_position() {
                // truncate_back rewound past us: positions are reused.
                from = sh.log.next_position();
                break;
            }
        }
    }
}

fn random_reader(sh: &Shared, seed: u64) {
    let mut r = Rng(seed);
    while !sh.stop.load(Ordering::Relaxed) {
        let (f, n) = (sh.log.first_position(), sh.log.next_position());
        let p = f + r.below(n - f + 2);
        match sh.log.read(p) {
            Ok(rec) => {
                identify(&rec).unwrap_or_else(|| panic!("bad record at {p}"));
                sh.reads.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => assert!(
                matches!(e.kind(), ErrorKind::Truncated | ErrorKind::OutOfRange),
                "read {p}: {e}"
            ),
        }
    }
}

fn truncator(sh: &Shared) -> (u64, u64, Duration) {
    let mut r = Rng(99);
    let (mut fronts, mut backs) = (0, 0);
    let mut slowest = Duration::ZERO;
    while !sh.stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(r.below(15)));
        let (f, n) = (sh.log.first_position(), sh.log.next_position());
        if r.below(3) == 0 {
            let p = n.saturating_sub(r.below(30)).max(f);
            let t0 = Instant::now();
            let res = sh.log.truncate_back(p);
            slowest = slowest.max(t0.elapsed());
            match res {
                Ok(()) => {
                    let tick = sh.clock.fetch_add(1, Ordering::SeqCst);
                    sh.backs.lock().unwrap().push((p, tick));
                    backs += 1;
                }
                // The front moved past `p` meanwhile.
                Err(e) => assert_eq!(e.kind(), ErrorKind::OutOfRange, "{e}"),
            }
        } else if n - f > 400 {
            sh.log.truncate_front(n - r.below(400)).unwrap();
            fronts += 1;
        }
    }
    (fronts, backs, slowest)
}

fn run(sync: SyncPolicy, mmap_reads: bool, secs: u64) {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options::default()
        .segment_size(256 << 10)
        .sync_policy(sync)
        .mmap_reads(mmap_reads);
    let sh = Arc::new(Shared {
        log: Log::open(dir.path(), opts.clone()).unwrap(),
        stop: AtomicBool::new(false),
        clock: AtomicU64::new(0),
        acked: Mutex::new(Vec::new()),
        backs: Mutex::new(Vec::new()),
        reads: AtomicU64::new(0),
    });
    let mut handles = Vec::new();
    for t in 0..APPENDERS {
        let sh = sh.clone();
        handles.push(std::thread::spawn(move || appender(&sh, t)));
    }
    for k in 0..2 {
        let sh1 = sh.clone();
        handles.push(std::thread::spawn(move || tailer(&sh1)));
        let sh2 = sh.clone();
        handles.push(std::thread::spawn(move || random_reader(&sh2, k)));
    }
    let trunc = {
        let sh = sh.clone();
        std::thread::spawn(move || truncator(&sh))
    };
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(secs) {
        std::thread::sleep(Duration::from_millis(50));
        assert!(!handles.iter().any(|h| h.is_finished()), "a thread failed");
    }
    sh.stop.store(true, Ordering::SeqCst);
    for h in handles {
        h.join().unwrap();
    }
    let (fronts, backs, slowest) = trunc.join().unwrap();

    // Every acknowledged record is there, unless truncated away.
    let log = &sh.log;
    let (first, next) = (log.first_position(), log.next_position());
    let mut contents = HashMap::new();
    for item in log.iter(first) {
        let (p, rec) = item.unwrap();
        contents.insert(p, identify(&rec).unwrap());
    }
    assert_eq!(contents.len() as u64, next - first);
    let backs_done = sh.backs.lock().unwrap().clone();
    let acked = sh.acked.lock().unwrap().clone();
    for &(p, t, s, tick) in &acked {
        if p < first {
            continue;
        }
        if contents.get(&p) == Some(&(t, s)) {
            continue;
        }
        assert!(
            backs_done.iter().any(|&(b, end)| b <= p && end > tick),
            "acknowledged record at {p} (thread {t}, seq {s}) lost"
        );
    }
    let v = log.verify(|_, _| {}).unwrap();
    assert!(v.problems.is_empty(), "{:?}", v.problems);
    log.close().unwrap();
    let reopened = Log::open(dir.path(), opts).unwrap();
    assert_eq!(
        (reopened.first_position(), reopened.next_position()),
        (first, next)
    );
    for (&p, &id) in &contents {
        assert_eq!(identify(&reopened.read(p).unwrap()), Some(id));
    }
    println!(
        "stress {sync:?}: {secs} s, {} appends acknowledged, {} reads checked, \
         {fronts} front and {backs} back truncations (slowest back: {slowest:.1?}), 0 lost",
        acked.len(),
        sh.reads.load(Ordering::Relaxed)
    );
}

fn secs() -> u64 {
    if std::env::var_os("LOGSTORE_LONG").is_some() {
        60
    } else {
        3
    }
}

#[test]
fn stress_durable() {
    run(SyncPolicy::Always, false, secs());
}

#[test]
fn stress_buffered() {
    run(SyncPolicy::Never, false, secs());
}

/// Random readers copy from memory maps while `truncate_back` cuts mapped
/// files under them: a read past the end of a mapped file would kill the
/// test with `SIGBUS`.
#[test]
fn stress_mmap_reads() {
    run(SyncPolicy::Never, true, secs());
}
