//! Guards readers of records that a concurrent `truncate_back` keeps: a
//! reader must never be told that a kept record is corrupt because the
//! segment holding it was being cut and reopened for appends meanwhile.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use logstore::{Log, Options, SyncPolicy};

mod common;
use common::record;

#[test]
fn reads_of_kept_records_race_truncate_back() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options::default()
        .segment_size(64 << 10)
        .sync_policy(SyncPolicy::Never)
        .index_cache_bytes(8);
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
