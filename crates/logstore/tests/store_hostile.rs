//! A store under hostile conditions: every sync policy's promise, handles
//! of dropped logs, limits too small for a store, forged entries that pass
//! their checksums, and failures in the middle of compaction.

use std::time::Duration;

use logstore::sim::{CrashMode, FaultError, Op, SimFs};
use logstore::{ErrorKind, Log, Options, Store, StoreLog, StoreOptions, SyncPolicy};

const DIR: &str = "/store";

fn opts(fs: &SimFs, policy: SyncPolicy) -> StoreOptions {
    StoreOptions::default()
        .log_options(
            Options::default()
                .simulated(fs)
                .segment_size(4 << 10)
                .sync_policy(policy),
        )
        .background_compaction(false, Duration::from_secs(1))
}

/// `SyncPolicy::Bytes(1)`: the append that brings the unsynced bytes to
/// the limit syncs them and waits. A store's append returned before its
/// sync, and a power cut then took it.
#[test]
fn an_append_under_the_bytes_policy_is_durable_when_it_returns() {
    // Control: a plain Log honours Bytes(1).
    {
        let fs = SimFs::new();
        let log = Log::open(
            "/plain",
            Options::default()
                .simulated(&fs)
                .sync_policy(SyncPolicy::Bytes(1)),
        )
        .unwrap();
        log.append(b"x").unwrap();
        fs.cut_power_now();
        drop(log);
        fs.restart(CrashMode::DropUnsynced);
        let log = Log::open(
            "/plain",
            Options::default()
                .simulated(&fs)
                .sync_policy(SyncPolicy::Bytes(1)),
        )
        .unwrap();
        assert_eq!(
            log.next_position(),
            1,
            "control: plain Log lost a Bytes(1) append"
        );
    }
    let fs = SimFs::new();
    let store = Store::open(DIR, opts(&fs, SyncPolicy::Bytes(1))).unwrap();
    let a = store.create_log(1, 0).unwrap();
    // Slow syncs down so the background sync cannot win the race.
    fs.on_call(|op, _| {
        if op == Op::Sync {
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    a.append(b"acknowledged").unwrap();
    fs.cut_power_now();
    fs.clear_hook();
    drop(a);
    drop(store);
    fs.restart(CrashMode::DropUnsynced);
    let store = Store::open(DIR, opts(&fs, SyncPolicy::Bytes(1))).unwrap();
    assert_eq!(
        store.log(1).unwrap().next_position().unwrap(),
        1,
        "an append acknowledged under SyncPolicy::Bytes(1) was lost"
    );
}

/// A handle of a dropped log fails, also once the id is created again: it
/// wrote into the new log.
#[test]
fn a_handle_of_a_dropped_log_does_not_reach_a_new_log_of_the_same_id() {
    let fs = SimFs::new();
    let store = Store::open(DIR, opts(&fs, SyncPolicy::Always)).unwrap();
    let old = store.create_log(1, 0).unwrap();
    old.append(b"old").unwrap();
    store.drop_log(1).unwrap();
    assert_eq!(old.append(b"x").unwrap_err().kind(), ErrorKind::OutOfRange);
    let new = store.create_log(1, 0).unwrap();
    let r = old.append(b"written through a handle of the dropped log");
    assert_eq!(r.unwrap_err().kind(), ErrorKind::OutOfRange);
    assert_eq!(new.next_position().unwrap(), 0);
    assert_eq!(store.log(1).unwrap().append(b"new").unwrap(), 0);
}

/// A record limit too small for a store's entries is refused at open (it
/// panicked below 17 bytes, and below 26 no log could be created).
#[test]
fn a_record_limit_too_small_for_a_store_is_refused() {
    let fs = SimFs::new();
    let r = std::panic::catch_unwind(|| {
        Store::open(
            DIR,
            StoreOptions::default()
                .log_options(Options::default().simulated(&fs).max_record_size(16))
                .background_compaction(false, Duration::from_secs(1)),
        )
        .map(|_| ())
    });
    match r {
        Err(_) => panic!("Store::open panicked on max_record_size(16)"),
        Ok(r) => assert_eq!(r.unwrap_err().kind(), ErrorKind::InvalidArgument),
    }
}

fn meta(log: u64, first: u64, next: u64) -> Vec<u8> {
    let mut v = vec![3];
    v.extend_from_slice(&log.to_le_bytes());
    v.extend_from_slice(&first.to_le_bytes());
    v.extend_from_slice(&next.to_le_bytes());
    v.push(0);
    v
}
fn put(log: u64, pos: u64) -> Vec<u8> {
    let mut v = vec![1];
    v.extend_from_slice(&log.to_le_bytes());
    v.extend_from_slice(&pos.to_le_bytes());
    v.push(b'r');
    v
}

fn open_forged(entries: &[Vec<u8>]) -> std::thread::Result<logstore::Result<()>> {
    let fs = SimFs::new();
    {
        let log = Log::open(DIR, Options::default().simulated(&fs)).unwrap();
        for e in entries {
            log.append(e).unwrap();
        }
        log.close().unwrap();
    }
    std::panic::catch_unwind(|| Store::open(DIR, opts(&fs, SyncPolicy::Always)).map(|_| ()))
}

/// Well-formed, checksummed entries in an order a store never writes: a
/// record below the log's first position after its meta entry. Recovery
/// panicked.
#[test]
fn a_forged_record_below_its_logs_first_position_is_corruption() {
    let r = open_forged(&[meta(1, 10, 10), put(1, 3)]);
    assert!(r.is_ok(), "Store::open panicked");
    assert_eq!(r.unwrap().unwrap_err().kind(), ErrorKind::Corruption);
}

/// A forged record at position `u64::MAX`: recovery overflowed.
#[test]
fn a_forged_record_at_the_last_position_is_corruption() {
    let r = open_forged(&[meta(1, 0, 0), put(1, u64::MAX)]);
    assert!(r.is_ok(), "Store::open panicked");
    assert_eq!(r.unwrap().unwrap_err().kind(), ErrorKind::Corruption);
}

/// A store that compacts eagerly (below 0.9 live, 4 KiB segments), in the
/// background every 10 ms if `background`, with a lagging log 1 holding
/// one record, and an empty log 2 to fill.
fn lagging_store(fs: &SimFs, policy: SyncPolicy, background: bool) -> (Store, StoreLog, StoreLog) {
    let log = Options::default()
        .simulated(fs)
        .segment_size(4 << 10)
        .sync_policy(policy);
    let options = StoreOptions::default()
        .log_options(log)
        .compact_below(0.9)
        .background_compaction(background, Duration::from_millis(10));
    let store = Store::open(DIR, options).unwrap();
    let lag = store.create_log(1, 0).unwrap();
    lag.append(b"lagging record").unwrap();
    let busy = store.create_log(2, 0).unwrap();
    (store, lag, busy)
}

/// A failed write during compaction's copy poisons the log; the lagging
/// log's record still reads back.
#[test]
fn a_failed_compaction_copy_leaves_the_record_readable() {
    let fs = SimFs::new();
    let (store, lag, busy) = lagging_store(&fs, SyncPolicy::Always, false);
    for i in 0..200u64 {
        busy.append(&[i as u8 + 1; 200]).unwrap();
    }
    busy.truncate_front(200).unwrap();
    assert_eq!(lag.read(0).unwrap(), b"lagging record");
    // Fail every write from now on (the copy's flush).
    fs.fail(Op::Write, 1, FaultError::Io, true);
    assert!(store.compact().is_err());
    let got = lag.read(0);
    assert_eq!(
        got.as_deref().map_err(|e| e.to_string()),
        Ok(&b"lagging record"[..]),
        "a durable record became unreadable after a failed compaction"
    );
}

/// A read error in compaction's copy ended the background thread for
/// good: space never came back again.
#[test]
fn background_compaction_goes_on_after_a_read_error() {
    let fs = SimFs::new();
    let (store, _lag, busy) = lagging_store(&fs, SyncPolicy::Never, true);
    // Every read fails for a moment (a transient EIO).
    fs.fail(Op::Read, 1, FaultError::Io, true);
    for i in 0..200u64 {
        busy.append(&[i as u8 + 1; 200]).unwrap();
    }
    busy.truncate_front(200).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    fs.clear_faults();
    for round in 0..5u64 {
        for i in 0..200u64 {
            busy.append(&[(i + round) as u8 + 1; 200]).unwrap();
        }
        busy.truncate_front(busy.next_position().unwrap()).unwrap();
    }
    std::thread::sleep(Duration::from_millis(500));
    let after = store.stats().unwrap();

    store.compact().unwrap();
    let manual = store.stats().unwrap();

    assert!(
        after.shared.retained_bytes < 2 * manual.shared.retained_bytes + (16 << 10),
        "background compaction stopped: {} bytes kept, a manual pass brings it to {}",
        after.shared.retained_bytes,
        manual.shared.retained_bytes
    );
}

/// A byte flipped inside an acknowledged entry is corruption naming the
/// file, never a torn tail: the store does not open, and nothing is cut.
#[test]
fn a_flipped_byte_in_an_acknowledged_entry_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let opts = || StoreOptions::default().background_compaction(false, Duration::from_secs(1));
    let store = Store::open(dir.path(), opts()).unwrap();
    for id in 0..3 {
        let log = store.create_log(id, 0).unwrap();
        for i in 0..20u8 {
            log.append(&[i + 1; 300]).unwrap();
        }
    }
    store.close().unwrap();
    let seg = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "seg"))
        .unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    let before = bytes.clone();
    // Inside the payload of log 0's record 4 (300 bytes of 5).
    let at = bytes
        .windows(300)
        .position(|w| w.iter().all(|&b| b == 5))
        .expect("the record is in the first segment");
    bytes[at + 150] ^= 0x40;
    std::fs::write(&seg, &bytes).unwrap();
    // The store opens from its checkpoint without reading the entry; the
    // read finds the damage, and so does a full replay (no checkpoint).
    let store = Store::open(dir.path(), opts()).unwrap();
    assert!(store.recovery().checkpoint.is_some());
    let e = store.log(0).unwrap().read(4).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corruption, "{e}");
    assert_eq!(e.path(), Some(seg.as_path()), "{e}");
    assert_eq!(store.log(0).unwrap().read(5).unwrap(), [6; 300]);
    drop(store);
    std::fs::remove_file(dir.path().join("store.checkpoint")).unwrap();
    let e = Store::open(dir.path(), opts()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corruption, "{e}");
    assert_eq!(e.path(), Some(seg.as_path()), "{e}");
    assert_eq!(
        std::fs::read(&seg).unwrap().len(),
        before.len(),
        "the store cut the file"
    );
}

/// `StoreLog::submit` under `SyncPolicy::Always` is synced soon by the
/// store's own thread, as `Log::submit` is, with no later call to do it.
#[test]
fn a_submitted_record_under_the_always_policy_becomes_durable_on_its_own() {
    let fs = SimFs::new();
    let store = Store::open(DIR, opts(&fs, SyncPolicy::Always)).unwrap();
    let log = store.create_log(1, 0).unwrap();
    // The background jobs (zeros written ahead) are done: a sync from now
    // on is the one the submit asked for.
    store.wait_reclaimed();
    std::thread::sleep(Duration::from_millis(100));
    let synced = fs.calls(Op::Sync);
    log.submit(b"submitted").unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while fs.calls(Op::Sync) == synced && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        fs.calls(Op::Sync) > synced,
        "nothing synced the submitted record"
    );
    // Let that sync finish, then lose the power.
    std::thread::sleep(Duration::from_millis(50));
    fs.cut_power_now();
    drop((log, store));
    fs.restart(CrashMode::DropUnsynced);
    let store = Store::open(DIR, opts(&fs, SyncPolicy::Always)).unwrap();
    assert_eq!(store.log(1).unwrap().read(0).unwrap(), b"submitted");
}

/// A durability callback may call the store. When another log's sync had
/// already covered the records, the notice ran at once, on the caller's
/// thread, under the store's catalog lock: a callback that called the
/// store deadlocked every log.
#[test]
fn a_durability_callback_that_calls_the_store_does_not_deadlock_it() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{mpsc, Arc};

    let fs = SimFs::new();
    let store = Arc::new(Store::open(DIR, opts(&fs, SyncPolicy::Always)).unwrap());
    let a = store.create_log(1, 0).unwrap();
    let b = store.create_log(2, 0).unwrap();
    // A hang must fail the test, not block it in `Store::drop`.
    std::mem::forget(store.clone());
    let stop = Arc::new(AtomicBool::new(false));
    let syncer = std::thread::spawn({
        let stop = stop.clone();
        move || {
            while !stop.load(Ordering::Relaxed) {
                b.append(b"other").unwrap();
            }
        }
    });
    // About 0.4% of the callbacks find their records durable already when
    // measured here: those ran under the lock.
    let (tx, rx) = mpsc::channel();
    for _ in 0..5_000 {
        let (a2, tx) = (a.clone(), tx.clone());
        a.submit_batch_then(&[b"mine"], move |r| {
            r.unwrap();
            let _ = a2.next_position();
            let _ = tx.send(());
        })
        .unwrap();
    }
    for i in 0..5_000 {
        if rx.recv_timeout(Duration::from_secs(10)).is_err() {
            stop.store(true, Ordering::Relaxed);
            panic!("callback {i} never ran: the store is deadlocked");
        }
    }
    stop.store(true, Ordering::Relaxed);
    syncer.join().unwrap();
}

/// An empty `submit_batch_then` reports once every record submitted
/// before it is durable, as a `Log`'s does; it reported Ok at once, and a
/// power cut then took the earlier record.
#[test]
fn an_empty_submitted_batch_reports_once_earlier_records_are_durable() {
    let fs = SimFs::new();
    let store = Store::open(DIR, opts(&fs, SyncPolicy::Never)).unwrap();
    let a = store.create_log(1, 0).unwrap();
    a.submit(b"x").unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let none: [&[u8]; 0] = [];
    a.submit_batch_then(&none, move |r| tx.send(r.is_ok()).unwrap())
        .unwrap();
    assert!(rx.recv().unwrap(), "reported Ok");
    fs.cut_power_now();
    drop((a, store));
    fs.restart(CrashMode::DropUnsynced);
    let store = Store::open(DIR, opts(&fs, SyncPolicy::Never)).unwrap();
    assert_eq!(store.log(1).unwrap().next_position().unwrap(), 1);
}

/// A checkpoint that is checksummed but wrong (it puts a log's records in
/// each other's segments) never yields a wrong record: reads of them are
/// corruption, and so is `Store::verify`. One that fails its checksum is
/// passed over: every entry is replayed, and everything is there.
#[test]
fn a_forged_checkpoint_gives_corruption_or_a_full_replay_never_a_wrong_record() {
    let dir = tempfile::tempdir().unwrap();
    let opts = || {
        StoreOptions::default()
            .log_options(Options::default().segment_size(64 << 10))
            .background_compaction(false, Duration::from_secs(1))
    };
    let store = Store::open(dir.path(), opts()).unwrap();
    let log = store.create_log(1, 0).unwrap();
    for i in 0..400u32 {
        log.append(&[(i % 250) as u8 + 1; 400]).unwrap();
    }
    assert_eq!(store.verify().unwrap(), 400);
    drop(log);
    store.close().unwrap();
    let path = dir.path().join("store.checkpoint");
    let good = std::fs::read(&path).unwrap();
    // One log, no state: its runs start at byte 72, 16 bytes each.
    let runs = u32::from_le_bytes(good[68..72].try_into().unwrap()) as usize;
    assert!(runs >= 2, "{runs} runs");
    let mut forged = good[..good.len() - 4].to_vec();
    let (a, b) = (72 + 8..72 + 16, 88 + 8..88 + 16);
    let low_a: Vec<u8> = forged[a.clone()].to_vec();
    forged.copy_within(b.clone(), a.start);
    forged[b].copy_from_slice(&low_a);
    let crc = crc32c::crc32c(&forged);
    forged.extend_from_slice(&crc.to_le_bytes());
    std::fs::write(&path, &forged).unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    assert!(store.recovery().checkpoint.is_some());
    let log = store.log(1).unwrap();
    assert_eq!(log.read(0).unwrap_err().kind(), ErrorKind::Corruption);
    assert_eq!(store.verify().unwrap_err().kind(), ErrorKind::Corruption);
    drop(log);
    drop(store);
    // A flipped byte: the checkpoint is passed over.
    let mut flipped = good.clone();
    flipped[80] ^= 1;
    std::fs::write(&path, &flipped).unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    assert_eq!(store.recovery().checkpoint, None);
    assert!(store.recovery().replayed > 400);
    assert_eq!(store.verify().unwrap(), 400);
    let log = store.log(1).unwrap();
    for i in 0..400u32 {
        assert_eq!(log.read(i as u64).unwrap(), [(i % 250) as u8 + 1; 400]);
    }
}

/// A read through a handle of a dropped log, which took its record's
/// location before the log was dropped and made again with other records,
/// returns no record of the new log: a segment's map holds the newest
/// record of the id at a position, which is the new log's.
#[test]
fn a_read_racing_a_drop_and_recreate_returns_no_record_of_the_new_log() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;
    let fs = SimFs::new();
    let store = Store::open(DIR, opts(&fs, SyncPolicy::Always)).unwrap();
    let (a, b) = (
        store.create_log(1, 0).unwrap(),
        store.create_log(2, 0).unwrap(),
    );
    for i in 0..5u8 {
        a.append(&[b'o', i]).unwrap();
        b.append(&[b'b', i]).unwrap();
    }
    drop((a, b));
    store.close().unwrap();
    // Reopened from the checkpoint, the records are runs: reads go through
    // the segment's map.
    let store = Arc::new(Store::open(DIR, opts(&fs, SyncPolicy::Always)).unwrap());
    assert!(store.recovery().checkpoint.is_some());
    let old = store.log(1).unwrap();
    let (hold, reads) = (Arc::new(AtomicBool::new(true)), Arc::new(AtomicU64::new(0)));
    {
        let (hold, reads) = (hold.clone(), reads.clone());
        fs.on_call(move |op, p| {
            let scanning = std::thread::current().name() == Some("scan");
            if op == Op::Read && scanning && p.to_string_lossy().ends_with(".seg") {
                reads.fetch_add(1, Ordering::SeqCst);
                while hold.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        });
    }
    // One reader builds the segment's map, held in the middle of its scan.
    let scan = {
        let s = store.clone();
        let t = std::thread::Builder::new().name("scan".into());
        t.spawn(move || s.log(2).unwrap().read(3)).unwrap()
    };
    while reads.load(Ordering::SeqCst) == 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    // Another has the location of log 1's record 3 and waits for the map.
    let stale = std::thread::spawn(move || old.read(3));
    std::thread::sleep(Duration::from_millis(100));
    store.drop_log(1).unwrap();
    let new = store.create_log(1, 0).unwrap();
    for i in 0..5u8 {
        new.append(&[b'N', i]).unwrap();
    }
    hold.store(false, Ordering::SeqCst);
    fs.clear_hook();
    assert_eq!(scan.join().unwrap().unwrap(), [b'b', 3]);
    match stale.join().unwrap() {
        Ok(v) => assert_eq!(v, [b'o', 3]),
        Err(e) => assert_eq!(e.kind(), ErrorKind::OutOfRange, "{e}"),
    }
}

/// `close` writes the last checkpoint once, before it lets go of the
/// directory: the drop that follows writes nothing.
#[test]
fn close_writes_the_checkpoint_once() {
    use std::sync::{Arc, Mutex};
    let fs = SimFs::new();
    let store = Store::open(DIR, opts(&fs, SyncPolicy::Always)).unwrap();
    let log = store.create_log(1, 0).unwrap();
    for i in 0..50u8 {
        log.append(&[i; 100]).unwrap();
    }
    drop(log);
    let renames = Arc::new(Mutex::new(0));
    {
        let renames = renames.clone();
        fs.on_call(move |op, p| {
            if op == Op::Rename && p.to_string_lossy().contains("store.checkpoint") {
                *renames.lock().unwrap() += 1;
            }
        });
    }
    store.close().unwrap();
    fs.clear_hook();
    assert_eq!(*renames.lock().unwrap(), 1);
}

/// The index files of a store's sealed segments, by name.
fn store_indexes(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".sidx"))
        .collect();
    names.sort();
    names
}

/// Each sealed segment gets an index, which reads of its records use. An
/// index that is damaged, of another segment, or sparse is passed over
/// (the segment is scanned); one that is checksummed but wrong never
/// yields a wrong record, and `verify` names it. Indexes go with their
/// segments, and open removes those of no sealed segment.
#[test]
fn segment_indexes_serve_reads_and_a_bad_one_never_gives_a_wrong_record() {
    let dir = tempfile::tempdir().unwrap();
    let opts = || {
        StoreOptions::default()
            .log_options(Options::default().segment_size(64 << 10))
            .background_compaction(false, Duration::from_secs(1))
    };
    let body = |log: u64, i: u64| vec![(log * 7 + i) as u8 | 1; 100];
    let store = Store::open(dir.path(), opts()).unwrap();
    let logs = [
        store.create_log(1, 0).unwrap(),
        store.create_log(2, 50).unwrap(),
    ];
    for i in 0..1000u64 {
        for (n, log) in logs.iter().enumerate() {
            log.submit(&body(n as u64 + 1, i)).unwrap();
        }
    }
    store.sync().unwrap();
    store.compact().unwrap();
    let segments = store.stats().unwrap().shared.segments.len();
    assert!(segments >= 4, "{segments} segments");
    let names = store_indexes(dir.path());
    assert_eq!(
        names.len(),
        segments - 1,
        "one per sealed segment: {names:?}"
    );
    let check = |store: &Store| {
        for (n, first) in [(1u64, 0u64), (2, 50)] {
            let log = store.log(n).unwrap();
            for i in (0..1000).rev() {
                assert_eq!(
                    log.read(first + i).unwrap(),
                    body(n, i),
                    "log {n}, record {i}"
                );
            }
        }
        assert_eq!(store.verify().unwrap(), 2000);
    };
    drop(logs);
    store.close().unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    check(&store);
    drop(store);

    let path = dir.path().join(&names[0]);
    let good = std::fs::read(&path).unwrap();
    // Header of 44 bytes, groups of 20, then 4-byte offsets: swap log 1's
    // first two offsets, with a right checksum.
    let groups = u32::from_le_bytes(good[36..40].try_into().unwrap()) as usize;
    let offsets = 44 + 20 * groups;
    let mut forged = good[..good.len() - 4].to_vec();
    let first_two: Vec<u8> = forged[offsets..offsets + 8].to_vec();
    forged[offsets..offsets + 4].copy_from_slice(&first_two[4..]);
    forged[offsets + 4..offsets + 8].copy_from_slice(&first_two[..4]);
    let crc = crc32c::crc32c(&forged);
    forged.extend_from_slice(&crc.to_le_bytes());
    std::fs::write(&path, &forged).unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    let log = store.log(1).unwrap();
    assert_eq!(log.read(0).unwrap_err().kind(), ErrorKind::Corruption);
    assert_eq!(log.read(1).unwrap_err().kind(), ErrorKind::Corruption);
    let e = store.verify().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corruption);
    assert_eq!(e.path(), Some(path.as_path()), "{e}");
    drop(log);
    drop(store);

    // Damaged, of another segment, sparse and huge: each passed over.
    let mut flipped = good.clone();
    flipped[50] ^= 1;
    let other = std::fs::read(dir.path().join(&names[1])).unwrap();
    for bad in [flipped, other] {
        std::fs::write(&path, &bad).unwrap();
        let store = Store::open(dir.path(), opts()).unwrap();
        check(&store);
    }
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(8 << 30).unwrap();
    drop(f);
    let store = Store::open(dir.path(), opts()).unwrap();
    check(&store);
    std::fs::write(&path, &good).unwrap();

    // Indexes go with their segments; a stray one goes at open.
    for (n, first) in [(1u64, 0u64), (2, 50)] {
        store.log(n).unwrap().truncate_front(first + 990).unwrap();
    }
    store.compact().unwrap();
    store.wait_reclaimed();
    let left = store.stats().unwrap().shared.segments.len();
    assert!(left < segments, "{left} segments left of {segments}");
    assert_eq!(store_indexes(dir.path()).len(), left - 1);
    drop(store);
    let stray = dir.path().join("00000000000099999999.sidx");
    std::fs::write(&stray, b"not an index").unwrap();
    let store = Store::open(dir.path(), opts()).unwrap();
    assert!(!stray.exists());
    assert_eq!(store.log(2).unwrap().read(50 + 995).unwrap(), body(2, 995));
}
