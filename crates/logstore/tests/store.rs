//! `Store` on the real file system: bad input changes nothing, space comes
//! back without losing a lagging log's records, ten thousand logs open at
//! once with a fixed number of files, and appends to many logs share
//! syncs.

use std::sync::Arc;
use std::time::Duration;

use logstore::sim::{Op, SimFs};
use logstore::{ErrorKind, Options, Store, StoreOptions, SyncPolicy, WriteBatch, MAX_STATE_SIZE};
use logstore_testkit::record;

fn manual(options: Options) -> StoreOptions {
    StoreOptions::default()
        .log_options(options)
        .background_compaction(false, Duration::from_secs(1))
}

fn kind<T>(r: logstore::Result<T>) -> ErrorKind {
    r.map(|_| ()).unwrap_err().kind()
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path(),
        manual(Options::default().max_record_size(1 << 17)),
    )
    .unwrap();
    let log = store.create_log(7, 40).unwrap();
    log.append(b"kept").unwrap();
    log.set_state(b"v1").unwrap();
    assert_eq!(kind(store.create_log(7, 0)), ErrorKind::InvalidArgument);
    assert_eq!(kind(log.append(b"")), ErrorKind::InvalidArgument);
    assert_eq!(
        kind(log.append(&vec![1; 1 << 17])),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        kind(log.append_batch(&[&b"ok"[..], b""])),
        ErrorKind::InvalidArgument
    );
    assert_eq!(
        kind(log.set_state(&vec![0; MAX_STATE_SIZE + 1])),
        ErrorKind::InvalidArgument
    );
    assert_eq!(kind(log.truncate_back(39)), ErrorKind::OutOfRange);
    assert_eq!(kind(log.read(39)), ErrorKind::Truncated);
    assert_eq!(kind(log.read(41)), ErrorKind::OutOfRange);
    assert_eq!(kind(log.replay(42, |_, _| true)), ErrorKind::OutOfRange);
    assert_eq!(kind(store.log(8)), ErrorKind::OutOfRange);
    assert_eq!(kind(store.drop_log(8)), ErrorKind::OutOfRange);
    // A batch with one bad part writes none of it.
    let mut batch = WriteBatch::new();
    batch
        .append(7, b"lost")
        .set_state(7, b"v2")
        .append(8, b"no log");
    assert_eq!(kind(store.write(&batch)), ErrorKind::OutOfRange);
    let mut batch = WriteBatch::new();
    batch.append(7, b"lost").append(7, b"");
    assert_eq!(kind(store.write(&batch)), ErrorKind::InvalidArgument);
    let check = |store: &Store| {
        let log = store.log(7).unwrap();
        assert_eq!(
            (log.first_position().unwrap(), log.next_position().unwrap()),
            (40, 41)
        );
        assert_eq!(log.read(40).unwrap(), b"kept");
        assert_eq!(log.state().unwrap().as_deref(), Some(&b"v1"[..]));
        assert_eq!(store.logs(), vec![7]);
    };
    check(&store);
    drop((log, store));
    check(&Store::open(dir.path(), manual(Options::default())).unwrap());
}

#[test]
fn a_second_writer_of_a_store_is_refused_as_locked() {
    let dir = tempfile::tempdir().unwrap();
    let _store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let e = Store::open(dir.path(), StoreOptions::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Locked, "{e}");
}

/// Logs that truncate their fronts free whole segments without copying;
/// a lagging log's few records in those segments are copied once, and
/// bytes on disk settle near the bytes kept.
#[test]
fn space_comes_back_and_a_lagging_logs_records_survive_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let opts = || {
        manual(
            Options::default()
                .segment_size(256 << 10)
                .sync_policy(SyncPolicy::Never),
        )
    };
    let store = Store::open(dir.path(), opts()).unwrap();
    let logs: Vec<_> = (0..50)
        .map(|id| store.create_log(id, id * 1000).unwrap())
        .collect();
    let lagging = store.create_log(99, 0).unwrap();
    for round in 0..40u64 {
        lagging.append(&record(round, 300)).unwrap();
        for (i, log) in logs.iter().enumerate() {
            for j in 0..5 {
                log.append(&record(round * 1000 + i as u64 * 10 + j, 300))
                    .unwrap();
            }
            // Each keeps its last 20 records.
            let next = log.next_position().unwrap();
            log.truncate_front(next.saturating_sub(20)).unwrap();
        }
        store.compact().unwrap();
    }
    let stats = store.stats().unwrap();
    let kept = stats.records * (300 + 17);
    assert!(stats.copied_bytes > 0, "{stats:?}");
    assert!(
        stats.shared.retained_bytes < 3 * kept,
        "retained {} for {} kept",
        stats.shared.retained_bytes,
        kept
    );
    // At the default threshold of 0.5, each byte copied frees at least one.
    assert!(stats.copied_bytes < stats.reclaimed_bytes, "{stats:?}");
    drop((logs, lagging, store));
    let store = Store::open(dir.path(), opts()).unwrap();
    let lagging = store.log(99).unwrap();
    for round in 0..40 {
        assert_eq!(lagging.read(round).unwrap(), record(round, 300));
    }
    let log = store.log(3).unwrap();
    assert_eq!(log.next_position().unwrap(), 3000 + 200);
    assert_eq!(log.read(3199).unwrap(), record(39 * 1000 + 30 + 4, 300));
}

/// Ten thousand logs: one shared log's few files, whatever the count.
#[test]
fn ten_thousand_logs_open_at_once_in_a_fixed_number_of_files() {
    let dir = tempfile::tempdir().unwrap();
    let opts = || manual(Options::default().sync_policy(SyncPolicy::Never));
    let store = Store::open(dir.path(), opts()).unwrap();
    for id in 0..10_000u64 {
        let log = store.create_log(id, id).unwrap();
        log.append(&record(id, 40)).unwrap();
    }
    store.sync().unwrap();
    let files = std::fs::read_dir(dir.path()).unwrap().count();
    assert!(files <= 4, "{files} files for 10,000 logs");
    drop(store);
    let store = Store::open(dir.path(), opts()).unwrap();
    assert_eq!(store.logs().len(), 10_000);
    assert_eq!(
        store.log(9_999).unwrap().read(9_999).unwrap(),
        record(9_999, 40)
    );
}

/// Durable appends from many threads to many logs share syncs: far
/// fewer fdatasyncs than appends.
#[test]
fn durable_appends_to_many_logs_share_syncs() {
    let fs = SimFs::new();
    fs.set_delays(1, 100, Duration::from_millis(2), Duration::ZERO);
    let store = Arc::new(
        Store::open(
            "/s",
            manual(
                Options::default()
                    .simulated(&fs)
                    .sync_policy(SyncPolicy::Always),
            ),
        )
        .unwrap(),
    );
    for id in 0..100 {
        store.create_log(id, 0).unwrap();
    }
    let syncs_before = fs.calls(Op::Sync);
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..50u64 {
                    let log = store.log((t * 31 + i * 7) % 100).unwrap();
                    log.append(&record(t * 100 + i, 64)).unwrap();
                }
            })
        })
        .collect();
    threads.into_iter().for_each(|t| t.join().unwrap());
    let syncs = fs.calls(Op::Sync) - syncs_before;
    assert!(syncs < 200, "{syncs} syncs for 400 durable appends");
    let records: u64 = (0..100)
        .map(|id| store.log(id).unwrap().next_position().unwrap())
        .sum();
    assert_eq!(records, 400);
}

#[test]
fn a_tail_read_wakes_when_its_log_is_appended_to() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let log = store.create_log(1, 5).unwrap();
    let other = store.create_log(2, 0).unwrap();
    let waiter = std::thread::spawn({
        let log = log.clone();
        move || log.wait_for(5, Some(Duration::from_secs(10)))
    });
    other.append(b"not this one").unwrap();
    assert!(!log.wait_for(5, Some(Duration::from_millis(20))).unwrap());
    log.append(b"this one").unwrap();
    assert!(waiter.join().unwrap().unwrap());
    let got: Vec<_> = log.iter(5).map(|r| r.unwrap()).collect();
    assert_eq!(got, vec![(5, b"this one".to_vec())]);
}

#[test]
fn a_log_handle_outliving_its_store_is_closed_and_does_not_hold_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    let log = store.create_log(1, 0).unwrap();
    log.append(b"one").unwrap();
    drop(store);
    assert_eq!(kind(log.append(b"two")), ErrorKind::Closed);
    let store = Store::open(dir.path(), StoreOptions::default()).unwrap();
    assert_eq!(store.log(1).unwrap().next_position().unwrap(), 1);
}

#[test]
fn a_submitted_batch_is_reported_durable_with_its_positions() {
    let dir = tempfile::tempdir().unwrap();
    let opts = manual(Options::default().sync_policy(SyncPolicy::Never));
    let store = Store::open(dir.path(), opts).unwrap();
    let log = store.create_log(3, 10).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let got = log
        .submit_batch_then(&[&b"a"[..], b"b"], move |r| tx.send(r).unwrap())
        .unwrap();
    assert_eq!(got, 10..12);
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(10)).unwrap().unwrap(),
        10..12
    );
    let (tx, rx) = std::sync::mpsc::channel();
    let none: [&[u8]; 0] = [];
    assert_eq!(
        log.submit_batch_then(&none, move |r| tx.send(r).unwrap())
            .unwrap(),
        12..12
    );
    assert_eq!(rx.recv().unwrap().unwrap(), 12..12);
    assert_eq!(log.read(11).unwrap(), b"b");
}

#[test]
fn records_in_sealed_segments_cost_a_run_per_segment_not_a_position_each() {
    let dir = tempfile::tempdir().unwrap();
    let options = || {
        manual(
            Options::default()
                .segment_size(256 << 10)
                .sync_policy(SyncPolicy::Never),
        )
    };
    let store = Store::open(dir.path(), options()).unwrap();
    let logs: Vec<_> = (0..50)
        .map(|id| store.create_log(id, id * 1000).unwrap())
        .collect();
    // 40,000 records of 40 bytes, interleaved over the logs in batches.
    let mut batch = WriteBatch::new();
    for i in 0..40_000u64 {
        batch.append(i % 50, &record(i, 40));
        if i % 500 == 499 {
            store.write(&batch).unwrap();
            batch = WriteBatch::new();
        }
    }
    let dense = store.stats().unwrap().index_bytes;
    assert!(
        dense >= 40_000 * 8,
        "held densely until a pass: {dense} bytes"
    );
    store.compact().unwrap();
    let stats = store.stats().unwrap();
    let segments = stats.shared.segments.len() as u64;
    assert!(segments >= 8, "{segments} segments");
    // 16 bytes a run (a log and a segment), 8 a record of the active
    // segment, a segment map of the reads below, and a fixed part per log.
    assert!(
        stats.index_bytes < 200_000,
        "{} bytes for 40,000 records in {segments} segments",
        stats.index_bytes
    );
    let check = |store: &Store| {
        for (n, log) in (0..50u64).zip(store.logs()) {
            let l = store.log(log).unwrap();
            assert_eq!(l.first_position().unwrap(), n * 1000);
            assert_eq!(l.next_position().unwrap(), n * 1000 + 800);
            let mut want = n;
            l.replay(n * 1000, |p, r| {
                assert_eq!((p, r), (n * 1000 + want / 50, &record(want, 40)[..]));
                want += 50;
                true
            })
            .unwrap();
            assert_eq!(want, n + 40_000);
        }
    };
    check(&store);
    // A truncation in the middle of a run, then one past a run's end; reads
    // by position land on the right records.
    logs[3].truncate_front(3000 + 333).unwrap();
    logs[4].truncate_back(4000 + 500).unwrap();
    logs[4].append(b"after the cut").unwrap();
    assert_eq!(kind(logs[3].read(3332)), ErrorKind::Truncated);
    assert_eq!(logs[3].read(3333).unwrap(), record(3 + 333 * 50, 40));
    assert_eq!(logs[4].read(4499).unwrap(), record(4 + 499 * 50, 40));
    assert_eq!(logs[4].read(4500).unwrap(), b"after the cut");
    drop(logs);
    drop(store);
    let store = Store::open(dir.path(), options()).unwrap();
    assert!(store.stats().unwrap().index_bytes < 200_000);
    let l3 = store.log(3).unwrap();
    assert_eq!(l3.read(3333).unwrap(), record(3 + 333 * 50, 40));
    assert_eq!(store.log(4).unwrap().read(4500).unwrap(), b"after the cut");
    assert_eq!(
        store.log(4).unwrap().read(4499).unwrap(),
        record(4 + 499 * 50, 40)
    );
    assert_eq!(
        store.log(7).unwrap().read(7799).unwrap(),
        record(7 + 799 * 50, 40)
    );
    // Without its checkpoint, the open replays every entry, and holds the
    // records of each segment replayed as runs before it goes on to the
    // next: the index never holds 40,000 positions (320,000 bytes).
    drop(l3);
    drop(store);
    std::fs::remove_file(dir.path().join("store.checkpoint")).unwrap();
    let store = Store::open(dir.path(), options()).unwrap();
    let recovery = store.recovery();
    assert_eq!(recovery.checkpoint, None);
    assert!(recovery.replayed > 40_000, "{recovery:?}");
    assert!(recovery.index_peak < 200_000, "{recovery:?}");
    assert_eq!(
        store.log(3).unwrap().read(3333).unwrap(),
        record(3 + 333 * 50, 40)
    );
    assert_eq!(kind(store.log(3).unwrap().read(3332)), ErrorKind::Truncated);
    assert_eq!(store.log(4).unwrap().read(4500).unwrap(), b"after the cut");
    assert_eq!(store.verify().unwrap(), 40_000 - 333 - 299);
}

#[test]
fn a_read_only_store_refreshed_sees_what_its_writer_did() {
    let dir = tempfile::tempdir().unwrap();
    let writer = Store::open(dir.path(), manual(Options::default())).unwrap();
    let a = writer.create_log(1, 0).unwrap();
    a.append(b"a0").unwrap();
    let read_only = Options::default().read_only(true).create(false);
    let reader = Store::open(dir.path(), manual(read_only)).unwrap();
    let ra = reader.log(1).unwrap();
    assert_eq!(ra.next_position().unwrap(), 1);
    a.append(b"a1").unwrap();
    let b = writer.create_log(2, 50).unwrap();
    b.append(b"b50").unwrap();
    b.set_state(b"s").unwrap();
    a.truncate_front(1).unwrap();
    // Nothing changes until the refresh.
    assert_eq!(ra.next_position().unwrap(), 1);
    assert_eq!(kind(reader.log(2)), ErrorKind::OutOfRange);
    reader.refresh().unwrap();
    assert_eq!(
        (ra.first_position().unwrap(), ra.next_position().unwrap()),
        (1, 2)
    );
    assert_eq!(ra.read(1).unwrap(), b"a1");
    let rb = reader.log(2).unwrap();
    assert_eq!(rb.read(50).unwrap(), b"b50");
    assert_eq!(rb.state().unwrap().as_deref(), Some(&b"s"[..]));
    writer.drop_log(2).unwrap();
    reader.refresh().unwrap();
    assert_eq!(reader.logs(), vec![1]);
    assert_eq!(kind(rb.read(50)), ErrorKind::OutOfRange);
    // The writer is a no-op to refresh.
    writer.refresh().unwrap();
}

#[test]
fn a_front_truncation_with_a_state_is_one_entry_that_reopens_whole() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), manual(Options::default())).unwrap();
    let log = store.create_log(9, 0).unwrap();
    for i in 0..10u64 {
        log.append(&record(i, 30)).unwrap();
    }
    log.set_state(b"vote 1").unwrap();
    // Too large a state: refused, and neither part is done.
    let big = vec![1; logstore::MAX_STATE_SIZE + 1];
    assert_eq!(
        kind(log.truncate_front_with_state(4, &big)),
        ErrorKind::InvalidArgument
    );
    assert_eq!(log.first_position().unwrap(), 0);
    let entries = store.stats().unwrap().shared.next_position;
    log.truncate_front_with_state(4, b"vote 1, purged 3")
        .unwrap();
    assert_eq!(store.stats().unwrap().shared.next_position, entries + 1);
    assert_eq!(kind(log.read(3)), ErrorKind::Truncated);
    assert_eq!(log.read(4).unwrap(), record(4, 30));
    // Past the end: the log is empty and goes on from there.
    log.truncate_front_with_state(20, b"vote 1, purged 19")
        .unwrap();
    assert_eq!(
        (log.first_position().unwrap(), log.next_position().unwrap()),
        (20, 20)
    );
    log.append(b"twenty").unwrap();
    drop(log);
    store.close().unwrap();
    for checkpoint in [true, false] {
        if !checkpoint {
            std::fs::remove_file(dir.path().join("store.checkpoint")).unwrap();
        }
        let store = Store::open(dir.path(), manual(Options::default())).unwrap();
        assert_eq!(store.recovery().checkpoint.is_some(), checkpoint);
        let log = store.log(9).unwrap();
        assert_eq!(log.state().unwrap().unwrap(), b"vote 1, purged 19");
        assert_eq!(
            (log.first_position().unwrap(), log.next_position().unwrap()),
            (20, 21)
        );
        assert_eq!(log.read(20).unwrap(), b"twenty");
        store.close().unwrap();
    }
}
