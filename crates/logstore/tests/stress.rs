//! Guards against races between appenders, tailing readers and front
//! truncation on the real file system: every acknowledged record is read
//! back exactly once, in position order, by each reader that started
//! before it, unless truncation dropped it first (the reader then gets a
//! `Truncated` error and starts again at the first position), and no
//! reader ever sees a record that was not appended at that position.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{record, Rng};
use logstore::{ErrorKind, Log, Options, SyncPolicy};

const APPENDERS: u64 = 8;

fn run_time() -> Duration {
    if std::env::var_os("LOGSTORE_LONG").is_some() {
        Duration::from_secs(60)
    } else {
        Duration::from_secs(3)
    }
}

/// What one reader saw.
#[derive(Default)]
struct Seen {
    records: Vec<(u64, Vec<u8>)>,
    /// Position ranges skipped because truncation passed the reader.
    skipped: Vec<(u64, u64)>,
}

fn tail(log: &Log, from: u64, end: &Mutex<Option<u64>>) -> Seen {
    let mut seen = Seen::default();
    let mut it = log.iter(from);
    loop {
        if let Some(end) = *end.lock().unwrap() {
            if it.position() >= end {
                return seen;
            }
        }
        match it.next_timeout(Duration::from_millis(50)) {
            Some(Ok((pos, rec))) => {
                if let Some(&(last, _)) = seen.records.last() {
                    assert!(pos > last, "position {pos} after {last}");
                }
                seen.records.push((pos, rec));
            }
            Some(Err(e)) => {
                assert_eq!(e.kind(), ErrorKind::Truncated, "{e}");
                let first = log.first_position();
                assert!(
                    first > it.position(),
                    "truncated at {} but first is {first}",
                    it.position()
                );
                seen.skipped.push((it.position(), first));
                it = log.iter(first);
            }
            // Nothing new yet: look at `end` again.
            None => {}
        }
    }
}

#[test]
fn appenders_readers_and_truncation_race() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options::default()
        .segment_size(64 << 10)
        .sync_policy(SyncPolicy::Always);
    let log = Arc::new(Log::open(dir.path(), opts).unwrap());
    let end = Arc::new(Mutex::new(None));
    let deadline = Instant::now() + run_time();

    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (log, end) = (log.clone(), end.clone());
            thread::spawn(move || tail(&log, 0, &end))
        })
        .collect();
    let appenders: Vec<_> = (0..APPENDERS)
        .map(|t| {
            let log = log.clone();
            thread::spawn(move || {
                let mut rng = Rng(t);
                let mut acked = Vec::new();
                let mut n = 0;
                while Instant::now() < deadline {
                    n += 1;
                    let seed = t << 32 | n;
                    let len = if rng.chance(2) {
                        rng.range(20_000, 200_000)
                    } else {
                        rng.range(1, 600)
                    } as usize;
                    if rng.chance(10) {
                        let recs: Vec<Vec<u8>> =
                            (0..3).map(|i| record(seed * 4 + i, len)).collect();
                        let range = log.append_batch(&recs).unwrap();
                        acked.extend(range.zip(recs));
                    } else {
                        let rec = record(seed * 4, len);
                        acked.push((log.append(&rec).unwrap(), rec));
                    }
                }
                acked
            })
        })
        .collect();
    let truncator = {
        let log = log.clone();
        thread::spawn(move || {
            let mut cuts = Vec::new();
            while Instant::now() < deadline {
                thread::sleep(Duration::from_millis(30));
                let to = log.next_position().saturating_sub(300);
                if to > log.first_position() {
                    log.truncate_front(to).unwrap();
                    cuts.push(to);
                }
            }
            cuts
        })
    };

    let mut acked = BTreeMap::new();
    for a in appenders {
        for (pos, rec) in a.join().unwrap() {
            assert!(
                acked.insert(pos, rec).is_none(),
                "position {pos} given twice"
            );
        }
    }
    let cuts = truncator.join().unwrap();
    let next = log.next_position();
    *end.lock().unwrap() = Some(next);
    let first_acked = *acked.keys().next().unwrap();
    assert_eq!(first_acked, 0);
    assert_eq!(acked.len() as u64, next, "positions are consecutive");
    assert!(cuts.len() > 3, "too few truncations: {}", cuts.len());

    for r in readers {
        let seen = r.join().unwrap();
        let mut expect = 0u64;
        let mut skips = seen.skipped.iter().peekable();
        for (pos, rec) in &seen.records {
            // Positions before `pos` not read must have been skipped.
            while expect < *pos {
                let &&(from, to) = skips
                    .peek()
                    .unwrap_or_else(|| panic!("position {expect} was never read"));
                assert!(from == expect && to <= *pos, "gap {expect}..{pos}");
                expect = to;
                skips.next();
            }
            assert_eq!(*pos, expect);
            assert!(&acked[pos] == rec, "record {pos} differs");
            expect += 1;
        }
        for &(from, to) in skips {
            assert_eq!(from, expect, "gap at the end");
            expect = to;
        }
        assert_eq!(expect, next, "reader stopped early");
        let read = seen.records.len() as u64;
        assert!(
            read > next / 10,
            "reader read only {read} of {next} records"
        );
    }
    eprintln!("{next} records appended, {} truncations", cuts.len());
}
