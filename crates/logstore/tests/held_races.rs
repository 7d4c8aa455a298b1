//! Races between the engine's threads made to happen in a chosen order:
//! calls of the simulated file system are held back at gates (see
//! `common::gates`) while the other threads go on. Each test guards one
//! hole that a free-running stress test hit only now and then, or not at
//! all.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use logstore::sim::{CrashMode, Op, SimFs};
use logstore::{Log, Options, SyncPolicy};

mod common;
use common::gates::Gates;
use common::record;

const DIR: &str = "/log";

fn seg(first: u64) -> String {
    format!("{first:020}.seg")
}

fn idx_tmp(first: u64) -> String {
    format!("{first:020}.idx.tmp")
}

fn segments(log: &Log) -> Vec<u64> {
    log.stats()
        .unwrap()
        .segments
        .iter()
        .map(|s| s.first_position)
        .collect()
}

/// Waits up to `limit` for `h` to finish; whether it did.
fn finishes<T>(h: &thread::JoinHandle<T>, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while !h.is_finished() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
    }
    h.is_finished()
}

/// A pause for a spawned thread to reach the wait it is known to make
/// next (on a lock or a condition variable, which a test cannot see).
fn settle() {
    thread::sleep(Duration::from_millis(300));
}

/// `truncate_back` waited for the zeros written ahead of the data with the
/// state lock released, after it had waited for the sync in flight; a
/// sync started meanwhile took the sealed segments not yet synced, and
/// `truncate_back` then marked every position below the cut as durable,
/// so `Log::sync` returned at once while that sync was still running.
/// Fails on 05995b3: the records of the segment that sync held are lost
/// in a power cut after `sync` returned Ok.
#[test]
fn sync_after_truncate_back_waits_for_the_sync_in_flight() {
    let fs = SimFs::new();
    let opts = Options::default()
        .simulated(&fs)
        .segment_size(64 << 10)
        .sync_policy(SyncPolicy::Bytes(1 << 40));
    let log = Arc::new(Log::open(DIR, opts.clone()).unwrap());
    let gates = Gates::install(&fs);
    let mut n = 0u64;
    let mut append = |log: &Log, len: usize| {
        log.append(&record(n, len)).unwrap();
        n += 1;
    };
    while segments(&log).len() < 2 {
        append(&log, 1000);
    }
    log.wait_reclaimed();

    // A first sync (S1 and the start of S2), held at its directory sync.
    gates.close(Op::SyncDir, DIR);
    let l1 = thread::spawn({
        let log = log.clone();
        move || log.sync()
    });
    gates.wait_held(Op::SyncDir, DIR, 1);
    // More of S2, not synced, up to a roll into S3.
    while segments(&log).len() < 3 {
        append(&log, 1000);
    }
    let [s1, s2, s3] = segments(&log)[..] else {
        unreachable!()
    };
    assert_eq!(s1, 0);
    log.wait_reclaimed();

    // The cut at S3's first record waits for the first sync.
    let t = thread::spawn({
        let log = log.clone();
        move || log.truncate_back(s3)
    });
    settle();
    // Zeros are written ahead of S3's data, their sync held.
    gates.close(Op::Sync, &seg(s3));
    append(&log, 6000);
    gates.wait_held(Op::Sync, &seg(s3), 1);
    // The first sync ends: the cut now waits for the zeros.
    gates.open(Op::SyncDir, DIR);
    l1.join().unwrap().unwrap();
    settle();
    // A second sync takes S2, sealed and not synced, and is held there.
    gates.close(Op::Sync, &seg(s2));
    let l2 = thread::spawn({
        let log = log.clone();
        move || log.sync()
    });
    gates.wait_held(Op::Sync, &seg(s2), 1);
    // The zeros are done.
    gates.open(Op::Sync, &seg(s3));

    // A sync now must not return before the one holding S2 has ended.
    let c = thread::spawn({
        let log = log.clone();
        move || log.sync()
    });
    let early = finishes(&c, Duration::from_secs(1));
    if early {
        fs.cut_power_now();
    }
    gates.open(Op::Sync, &seg(s2));
    let c = c.join().unwrap();
    let _ = l2.join().unwrap();
    let t = t.join().unwrap();
    if !early {
        t.unwrap();
        c.as_ref().unwrap();
        fs.cut_power_now();
    }
    drop(log);
    fs.restart(CrashMode::DropUnsynced);

    let log = Log::open(DIR, opts).unwrap();
    if c.is_ok() {
        assert!(log.next_position() >= s3, "sync() returned Ok, then records were lost: next position {} after the crash, records up to {s3} were synced", log.next_position());
        for i in 0..s3 {
            assert_eq!(log.read(i).unwrap(), record(i, 1000), "position {i}");
        }
    }
}

/// `truncate_front` past the end raised the durable position without
/// waking the appenders waiting to lead the next sync: when the sync in
/// flight ended it woke one of them to lead, which found its record
/// durable and returned without leading, and the other slept on until
/// an unrelated append. Fails on 05995b3: one of the two appenders is
/// still blocked 2 s after the sync ended.
#[test]
fn truncate_front_past_the_end_wakes_appenders_waiting_to_lead() {
    let fs = SimFs::new();
    let opts = Options::default()
        .simulated(&fs)
        .preallocate(false)
        .sync_policy(SyncPolicy::Always);
    let log = Arc::new(Log::open(DIR, opts).unwrap());
    let gates = Gates::install(&fs);
    log.append(b"first").unwrap();
    // A leader's sync, held.
    gates.close(Op::Sync, &seg(0));
    let spawn_append = |rec: &'static [u8]| {
        let log = log.clone();
        thread::spawn(move || log.append(rec))
    };
    let leader = spawn_append(b"leader");
    gates.wait_held(Op::Sync, &seg(0), 1);
    // Two appenders queue behind it, waiting to lead the next sync (they
    // hold the state lock from their append to that wait, so once the
    // next position counts their records they wait).
    let a = spawn_append(b"a");
    let b = spawn_append(b"b");
    let deadline = Instant::now() + Duration::from_secs(10);
    while log.next_position() < 4 {
        assert!(Instant::now() < deadline, "appenders did not queue");
        thread::sleep(Duration::from_millis(1));
    }
    log.truncate_front(100).unwrap();
    gates.open(Op::Sync, &seg(0));
    assert_eq!(leader.join().unwrap().unwrap(), 1);
    let woken = [&a, &b].map(|h| finishes(h, Duration::from_secs(2)));
    // Whatever happened, free a sleeper before asserting.
    log.append(b"unrelated").unwrap();
    let got = [a, b].map(|h| h.join().unwrap().unwrap());
    assert_eq!(
        woken,
        [true, true],
        "an appender waiting to lead slept through truncate_front"
    );
    let mut got = got.to_vec();
    got.sort();
    assert_eq!(got, [2, 3]);
}

/// `close` synced, then marked the log closed in a second lock section:
/// an append in between, buffered under `SyncPolicy::Never` with a write
/// buffer, returned Ok and was never written. Fails on 05995b3: the
/// record acknowledged during `close` is missing after reopening.
#[test]
fn append_racing_close_is_refused_or_kept() {
    let fs = SimFs::new();
    let opts = Options::default()
        .simulated(&fs)
        .sync_policy(SyncPolicy::Never)
        .write_buffer(1 << 20);
    let log = Arc::new(Log::open(DIR, opts.clone()).unwrap());
    let gates = Gates::install(&fs);
    log.append(b"before").unwrap();
    // Close's sync, held.
    gates.close(Op::Sync, &seg(0));
    let closer = thread::spawn({
        let log = log.clone();
        move || log.close()
    });
    gates.wait_held(Op::Sync, &seg(0), 1);
    let racing = log.append(b"racing");
    gates.open(Op::Sync, &seg(0));
    closer.join().unwrap().unwrap();
    drop(log);

    let log = Log::open(DIR, opts).unwrap();
    assert_eq!(log.read(0).unwrap(), b"before");
    if let Ok(pos) = racing {
        assert_eq!(
            log.read(pos).ok().as_deref(),
            Some(&b"racing"[..]),
            "append returned Ok({pos}) during close, and the record is gone"
        );
    }
}

/// One try at the race of `seal_racing_truncate_back_leaves_no_stale_index`:
/// whether the seal job got past its check before the cut.
fn seal_vs_truncate_back(fs: &SimFs, opts: &Options) -> bool {
    let log = Arc::new(Log::open(DIR, opts.clone()).unwrap());
    let gates = Gates::install(fs);
    let mut k = 0;
    while segments(&log).len() < 2 {
        log.append(&record(k, 300)).unwrap();
        k += 1;
    }
    let k = k - 1; // S2's first record
                   // A sync, held at its directory sync; when it ends it queues the job
                   // that writes S1's index.
    gates.close(Op::SyncDir, DIR);
    let l1 = thread::spawn({
        let log = log.clone();
        move || log.sync()
    });
    gates.wait_held(Op::SyncDir, DIR, 1);
    // A cut into S1 waits for that sync.
    let t = thread::spawn({
        let log = log.clone();
        move || log.truncate_back(k - 2)
    });
    settle();
    // The index is held at its creation, if the job gets there.
    gates.close(Op::Open, &idx_tmp(0));
    gates.open(Op::SyncDir, DIR);
    l1.join().unwrap().unwrap();
    t.join().unwrap().unwrap();
    let deadline = Instant::now() + Duration::from_millis(500);
    while gates.held(Op::Open, &idx_tmp(0)) == 0 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
    }
    let raced = gates.held(Op::Open, &idx_tmp(0)) > 0;
    gates.open(Op::Open, &idx_tmp(0));
    log.wait_reclaimed();
    fs.clear_hook();
    // Rewrite the cut records with other lengths but the same total, so
    // that S1 rolls again at the same length, and stop without a sync
    // (no new index for S1).
    assert_eq!(log.append(&record(1000, 200)).unwrap(), k - 2);
    assert_eq!(log.append(&record(1001, 400)).unwrap(), k - 1);
    assert_eq!(log.append(&record(1002, 300)).unwrap(), k);
    assert_eq!(segments(&log), [0, k]);
    drop(log);

    let log = Log::open(DIR, opts.clone()).unwrap();
    for i in 0..k - 2 {
        assert_eq!(log.read(i).unwrap(), record(i, 300), "position {i}");
    }
    // Whether the record at `p` reads back as `want`, or the error.
    let read = |p, want: Vec<u8>| log.read(p).map(|r| r == want).map_err(|e| e.to_string());
    assert_eq!(
        read(k - 2, record(1000, 200)),
        Ok(true),
        "position {}",
        k - 2
    );
    assert_eq!(
        read(k - 1, record(1001, 400)),
        Ok(true),
        "position {}",
        k - 1
    );
    assert_eq!(read(k, record(1002, 300)), Ok(true), "position {k}");
    raced
}

/// A seal job that had checked that its segment was still sealed wrote
/// the segment's index after a `truncate_back` had reopened the segment
/// for appends: once the segment was filled again to the same length and
/// rolled, the next open trusted the stale index. Fails on 05995b3: the
/// record rewritten after the cut reads as corruption after reopening.
#[test]
fn seal_racing_truncate_back_leaves_no_stale_index() {
    // The job gets past its check first in about one try of ten (fewer
    // on a loaded machine): try until it has twice, up to 100 times.
    let mut raced = 0;
    for _ in 0..100 {
        let fs = SimFs::new();
        let opts = Options::default()
            .simulated(&fs)
            .segment_size(4096)
            .preallocate(false)
            .sync_policy(SyncPolicy::Bytes(1 << 40));
        if seal_vs_truncate_back(&fs, &opts) {
            raced += 1;
            if raced == 2 {
                break;
            }
        }
    }
    assert!(raced > 0, "the seal job never got past its check first");
}
