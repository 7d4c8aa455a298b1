//! Durability that does not block: `submit` returns at once, and a
//! callback, `wait_durable` or the `durable` future tells when the records
//! are durable. Guards against a notice before the sync that covers it, a
//! notice that never comes or comes twice (on close, drop, poison), a slow
//! callback that stalls syncs, and a lost sync failure.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread;
use std::time::Duration;

use logstore::sim::{FaultError, Op, SimFs};
use logstore::{ErrorKind, Log, Options, SyncPolicy};

mod common;
use common::gates::Gates;
use common::{assert_kind, record};

const DIR: &str = "/log";

fn sim_log(fs: &SimFs, policy: SyncPolicy) -> Log {
    Log::open(DIR, Options::default().simulated(fs).sync_policy(policy)).unwrap()
}

/// The records a power cut now would leave.
fn durable_records(fs: &SimFs) -> Vec<Vec<u8>> {
    let image = fs.durable_image();
    let log = Log::open(DIR, Options::default().simulated(&image)).unwrap();
    common::all_records(&log)
        .into_iter()
        .map(|(_, r)| r)
        .collect()
}

/// Submits `n` records, each with a callback that expects `Ok` and
/// counts itself.
fn submit_counted(log: &Log, n: u64) -> Arc<AtomicUsize> {
    let ran = Arc::new(AtomicUsize::new(0));
    for i in 0..n {
        let ran = ran.clone();
        log.submit_batch_then(&[record(i, 80)], move |r| {
            r.unwrap();
            ran.fetch_add(1, Ordering::SeqCst);
        })
        .unwrap();
    }
    ran
}

#[test]
fn submitted_records_from_many_threads_each_get_one_notice_once_durable() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(Log::open(dir.path(), Options::default()).unwrap());
    let (tx, rx) = mpsc::channel();
    let handles: Vec<_> = (0..4u64)
        .map(|t| {
            let (log, tx) = (log.clone(), tx.clone());
            thread::spawn(move || {
                for i in 0..200u64 {
                    let rec = record(t * 1000 + i, 100);
                    let tx = tx.clone();
                    let log2 = log.clone();
                    log.submit_batch_then(&[rec], move |r| {
                        let r = r.unwrap();
                        // Durable when told: no later sync is needed.
                        assert!(log2.durable_position() >= r.end);
                        tx.send(r).unwrap();
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    drop(tx);
    let mut got: Vec<u64> = Vec::new();
    while let Ok(r) = rx.recv_timeout(Duration::from_secs(10)) {
        got.extend(r);
        if got.len() == 800 {
            break;
        }
    }
    got.sort_unstable();
    assert_eq!(got, (0..800).collect::<Vec<_>>(), "one notice per record");
    // Nothing more comes, even at close.
    log.close().unwrap();
    assert!(rx.try_recv().is_err(), "a notice ran twice");
}

#[test]
fn no_notice_before_the_sync_that_covers_it() {
    let fs = SimFs::new();
    let log = sim_log(&fs, SyncPolicy::Always);
    let gates = Gates::install(&fs);
    gates.close(Op::Sync, ".seg");
    let (tx, rx) = mpsc::channel();
    let p = log
        .submit_batch_then(&[b"held"], move |r| tx.send(r.map(|r| r.start)).unwrap())
        .unwrap()
        .start;
    // `submit` returned while the sync it asked for is held.
    gates.wait_held(Op::Sync, ".seg", 1);
    assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
    assert_eq!(log.durable_position(), p);
    assert!(!log
        .wait_durable(p, Some(Duration::from_millis(50)))
        .unwrap());
    assert!(durable_records(&fs).is_empty());
    gates.open(Op::Sync, ".seg");
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap().unwrap(), p);
    assert_eq!(durable_records(&fs), vec![b"held".to_vec()]);
    assert!(log.wait_durable(p, None).unwrap());
}

#[test]
fn a_failed_sync_reaches_every_notice_and_poisons_the_log() {
    let fs = SimFs::new();
    let log = sim_log(&fs, SyncPolicy::Always);
    let gates = Gates::install(&fs);
    gates.close(Op::Sync, ".seg");
    fs.fail(Op::Sync, 1, FaultError::Io, false);
    let (tx, rx) = mpsc::channel();
    for i in 0..20u64 {
        let tx = tx.clone();
        log.submit_batch_then(&[record(i, 50)], move |r| tx.send(r).unwrap())
            .unwrap();
    }
    drop(tx);
    gates.open(Op::Sync, ".seg");
    let outcomes: Vec<_> = rx.iter().collect();
    assert_eq!(outcomes.len(), 20, "every notice runs once");
    for r in outcomes {
        let e = r.unwrap_err();
        assert!(
            matches!(e.kind(), ErrorKind::Io | ErrorKind::Poisoned),
            "{e}"
        );
    }
    assert_kind(log.submit(b"after"), ErrorKind::Poisoned);
    assert_kind(log.wait_durable(0, None), ErrorKind::Poisoned);
}

#[test]
fn close_settles_every_notice_before_it_returns() {
    let fs = SimFs::new();
    fs.set_delays(7, 100, Duration::from_millis(20), Duration::ZERO);
    let log = sim_log(&fs, SyncPolicy::Never);
    let ran = submit_counted(&log, 100);
    log.close().unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 100);
    assert_eq!(durable_records(&fs).len(), 100);
    assert_kind(log.submit(b"late"), ErrorKind::Closed);
}

#[test]
fn dropping_the_log_syncs_and_settles_every_notice() {
    let fs = SimFs::new();
    fs.set_delays(8, 100, Duration::from_millis(20), Duration::ZERO);
    let log = sim_log(&fs, SyncPolicy::Never);
    let ran = submit_counted(&log, 50);
    drop(log);
    assert_eq!(ran.load(Ordering::SeqCst), 50);
    assert_eq!(durable_records(&fs).len(), 50);
}

#[test]
fn a_slow_callback_stalls_neither_syncs_nor_waits() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), Options::default()).unwrap();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let (done_tx, done_rx) = mpsc::channel();
    log.submit_batch_then(&[b"slow"], move |r| {
        r.unwrap();
        release_rx.lock().unwrap().recv().unwrap();
        done_tx.send(()).unwrap();
    })
    .unwrap();
    // While the callback blocks: submits become durable, waits return,
    // blocking appends complete.
    for i in 0..50u64 {
        let p = log.submit(&record(i, 100)).unwrap();
        assert!(log.wait_durable(p, Some(Duration::from_secs(5))).unwrap());
    }
    let p = log.append(b"blocking").unwrap();
    assert!(log.durable_position() > p);
    assert!(done_rx.try_recv().is_err());
    release_tx.send(()).unwrap();
    done_rx.recv_timeout(Duration::from_secs(5)).unwrap();
}

#[test]
fn submit_under_sync_never_waits_for_a_notice_to_sync() {
    let fs = SimFs::new();
    let log = sim_log(&fs, SyncPolicy::Never);
    let p = log.submit(b"one").unwrap();
    thread::sleep(Duration::from_millis(100));
    assert_eq!(log.durable_position(), 0, "the policy never syncs");
    assert!(log.wait_durable(p, None).unwrap(), "a wait asks for a sync");
    assert!(log.durable_position() > p);
    assert_eq!(durable_records(&fs), vec![b"one".to_vec()]);
}

#[test]
fn waiting_for_a_position_not_appended_is_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), Options::default()).unwrap();
    log.append(b"zero").unwrap();
    assert!(log.wait_durable(0, None).unwrap());
    let e = assert_kind(log.wait_durable(1, None), ErrorKind::OutOfRange);
    assert_eq!(e.position(), Some(1));
    let e = assert_kind(block_on(log.durable(5)), ErrorKind::OutOfRange);
    assert_eq!(e.position(), Some(5));
}

#[test]
fn records_cut_by_truncate_back_before_their_sync_report_ok() {
    let fs = SimFs::new();
    let log = Arc::new(sim_log(&fs, SyncPolicy::Never));
    log.append(b"kept").unwrap();
    log.sync().unwrap();
    let gates = Gates::install(&fs);
    // The notice's sync is held, with the records written...
    gates.close(Op::Sync, ".seg");
    let (tx, rx) = mpsc::channel();
    log.submit_batch_then(&[b"cut"], move |r| tx.send(r).unwrap())
        .unwrap();
    gates.wait_held(Op::Sync, ".seg", 1);
    // ... and `truncate_back` waits for it to end, then cuts.
    let cutter = thread::spawn({
        let log = log.clone();
        move || log.truncate_back(1)
    });
    thread::sleep(Duration::from_millis(100));
    gates.open(Op::Sync, ".seg");
    cutter.join().unwrap().unwrap();
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(5)).unwrap().unwrap(),
        1..2
    );
    assert_eq!(log.next_position(), 1);
    assert_eq!(durable_records(&fs), vec![b"kept".to_vec()]);
}

#[test]
fn the_durable_future_completes_without_a_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), Options::default()).unwrap();
    let p = log.submit_batch(&[b"a", b"b", b"c"]).unwrap();
    block_on(log.durable(p.end - 1)).unwrap();
    assert!(log.durable_position() >= p.end);
    // A position already durable completes at once.
    block_on(log.durable(p.start)).unwrap();
}

/// Polls `f` to completion on this thread, parking between wake-ups.
fn block_on<F: Future>(f: F) -> F::Output {
    struct Unpark(thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut f = pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        thread::park_timeout(Duration::from_secs(1));
    }
}
