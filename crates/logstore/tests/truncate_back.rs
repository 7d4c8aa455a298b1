//! Guards what `truncate_back` keeps and what it removes, for readers of
//! the writer's handle: an iterator's read-ahead (a run of one segment,
//! buffered) is dropped once the back is cut, so that it never yields a
//! record the cut removed, a `replay` stops at a cut made from its
//! callback, and reads of kept records racing a cut never see them as
//! corrupt. (Read-only handles: `follower.rs`; cuts inside a batch:
//! `batch_cut.rs`; `sync` after a cut: `sync_durability.rs`.)

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use logstore::{Log, Options, Result, SyncPolicy};

mod common;
use common::record;

fn opts() -> Options {
    Options::default().sync_policy(SyncPolicy::Never)
}

fn rest(it: &mut logstore::Iter) -> Vec<(u64, Vec<u8>)> {
    it.collect::<Result<Vec<_>>>().unwrap()
}

/// Fails on 05995b3: the iterator yields `(1, old-1)` and `(2, old-2)`
/// from its read-ahead after `truncate_back(1)` and `append(NEW-1)`.
#[test]
fn iterator_drops_its_read_ahead_after_truncate_back() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), opts()).unwrap();
    for r in ["old-0", "old-1", "old-2"] {
        log.append(r.as_bytes()).unwrap();
    }
    let mut it = log.iter(0);
    assert_eq!(it.next().unwrap().unwrap(), (0, b"old-0".to_vec()));
    log.truncate_back(1).unwrap();
    assert_eq!(log.append(b"NEW-1").unwrap(), 1);
    assert_eq!(log.read(1).unwrap(), b"NEW-1");
    assert_eq!(log.next_position(), 2);
    assert_eq!(rest(&mut it), [(1, b"NEW-1".to_vec())]);
}

/// The same through `replay`'s callback, cutting from inside it.
#[test]
fn replay_stops_at_a_cut_made_from_its_callback() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), opts()).unwrap();
    for i in 0..10u64 {
        log.append(format!("old-{i}").as_bytes()).unwrap();
    }
    let mut seen = Vec::new();
    log.replay(0, |p, r| {
        seen.push((p, String::from_utf8(r.to_vec()).unwrap()));
        if p == 3 {
            log.truncate_back(5).unwrap();
        }
        true
    })
    .unwrap();
    let want: Vec<_> = (0..5u64).map(|i| (i, format!("old-{i}"))).collect();
    assert_eq!(seen, want);
}

/// A reader is never told that a kept record is corrupt because the
/// segment holding it was being cut and reopened for appends meanwhile.
#[test]
fn kept_records_read_intact_while_truncate_back_races() {
    let dir = tempfile::tempdir().unwrap();
    let opts = opts().segment_size(64 << 10).index_cache_bytes(8);
    let log = Arc::new(Log::open(dir.path(), opts).unwrap());
    // Segments of about 200 records; the cut falls in the second one.
    for i in 0..600u64 {
        log.append(&record(i, 300)).unwrap();
    }
    let second = log.stats().unwrap().segments[1].first_position;
    let cut = second + 100;
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (log, stop) = (log.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut rounds = 0u64;
            while !stop.load(Ordering::Relaxed) {
                log.truncate_back(cut).unwrap();
                for i in cut..600u64 {
                    log.append(&record(i, 300)).unwrap();
                }
                rounds += 1;
            }
            rounds
        })
    };
    let start = Instant::now();
    let mut reads = 0u64;
    let mut failure = None;
    'outer: while start.elapsed() < Duration::from_secs(3) {
        // Alternate segments so that the one-entry cache always misses.
        for p in [1, second + 50, 2, second + 99] {
            match log.read(p) {
                Ok(r) => assert_eq!(r, record(p, 300), "position {p}"),
                Err(e) => {
                    failure = Some((p, e));
                    break 'outer;
                }
            }
            reads += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let rounds = writer.join().unwrap();
    assert!(
        failure.is_none(),
        "after {reads} reads and {rounds} cuts: {failure:?}"
    );
    assert!(rounds > 2);
}
