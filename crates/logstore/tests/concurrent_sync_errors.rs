//! A write-back error is reported to one sync of a file only: a sync of
//! the same file running at the same time may return success although
//! pages it covers were lost. The engine syncs a segment from several
//! threads, so each test here holds the background thread's sync of a
//! segment back (a `SimFs` hook), lets a sync of the same file from
//! another path succeed meanwhile, then fails the held one, and checks
//! that the other path does not count its success.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use logstore::sim::{CrashMode, FaultError, Op, SimFs};
use logstore::{ErrorKind, Log, Options, SyncPolicy};

mod common;
use common::record;

const DIR: &str = "/log";

/// Holds the background thread's syncs of segment files (but those of
/// `spare`) while closed. Opening it can fail the held sync: the fault is
/// armed by the held thread itself, right before its call reaches the
/// file system, when no other sync is under way.
#[derive(Clone)]
struct BgSyncGate {
    inner: Arc<GateState>,
}

#[derive(Default)]
struct Gate {
    closed: bool,
    /// Held calls that may pass while the gate stays closed.
    permits: usize,
}

struct GateState {
    spare: Option<String>,
    gate: Mutex<Gate>,
    cv: Condvar,
    held: AtomicUsize,
    fail_on_release: AtomicBool,
    /// Syncs of segment files made by other threads since installed.
    others: AtomicUsize,
}

impl BgSyncGate {
    fn install(fs: &SimFs, spare: Option<String>) -> BgSyncGate {
        let gate = BgSyncGate {
            inner: Arc::new(GateState {
                spare,
                gate: Mutex::default(),
                cv: Condvar::new(),
                held: AtomicUsize::new(0),
                fail_on_release: AtomicBool::new(false),
                others: AtomicUsize::new(0),
            }),
        };
        let g = gate.clone();
        let fs2 = fs.clone();
        fs.on_call(move |op, path| g.pass(&fs2, op, path));
        gate
    }

    fn pass(&self, fs: &SimFs, op: Op, path: &Path) {
        if op != Op::Sync || path.extension().is_none_or(|e| e != "seg") {
            return;
        }
        let s = &*self.inner;
        if thread::current().name() != Some("logstore-bg") {
            s.others.fetch_add(1, Ordering::SeqCst);
            return;
        }
        let name = path.file_name().unwrap().to_string_lossy();
        if s.spare.as_deref() == Some(&*name) {
            return;
        }
        let mut gate = s.gate.lock().unwrap();
        if !gate.closed {
            return;
        }
        s.held.fetch_add(1, Ordering::SeqCst);
        while gate.closed && gate.permits == 0 {
            gate = s.cv.wait(gate).unwrap();
        }
        if gate.closed {
            gate.permits -= 1;
        }
        s.held.fetch_sub(1, Ordering::SeqCst);
        if s.fail_on_release.swap(false, Ordering::SeqCst) {
            fs.fail(Op::Sync, 1, FaultError::Io, false);
        }
    }

    fn close(&self) {
        self.inner.gate.lock().unwrap().closed = true;
    }

    /// Lets the held sync go on, and later ones pass; `fail` makes the
    /// held one fail.
    fn open(&self, fail: bool) {
        self.inner.fail_on_release.store(fail, Ordering::SeqCst);
        self.inner.gate.lock().unwrap().closed = false;
        self.inner.cv.notify_all();
    }

    /// Lets one held sync go on; the gate stays closed.
    fn release_one(&self) {
        self.inner.gate.lock().unwrap().permits += 1;
        self.inner.cv.notify_all();
    }

    fn held(&self) -> usize {
        self.inner.held.load(Ordering::SeqCst)
    }

    fn wait_held(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.held() == 0 {
            assert!(Instant::now() < deadline, "no background sync held in 10 s");
            thread::sleep(Duration::from_millis(2));
        }
    }

    fn others(&self) -> usize {
        self.inner.others.load(Ordering::SeqCst)
    }

    /// Waits until other threads' syncs have passed the hook `n` times,
    /// then a little, for the last one to reach the file system and
    /// return.
    fn wait_others(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.others() < n {
            assert!(
                Instant::now() < deadline,
                "no sync of another thread in 10 s"
            );
            thread::sleep(Duration::from_millis(2));
        }
        thread::sleep(Duration::from_millis(200));
    }
}

fn segments(log: &Log) -> usize {
    log.stats().unwrap().segments.len()
}

/// Waits up to 5 s for `h` to finish; whether it did.
fn finishes<T>(h: &thread::JoinHandle<T>) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !h.is_finished() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(5));
    }
    h.is_finished()
}

/// `truncate_front` makes the segments created since the last sync
/// durable before it writes a first position that points into them. Its
/// sync of the active segment returned success while the background
/// thread's sync of the zeros ahead of the data, in the same file, took
/// the write-back error: `truncate_front` returned Ok, the new first
/// position pointing into a segment whose header may be lost. Fails on
/// eba58b9 (it returned Ok).
#[test]
fn truncate_front_does_not_count_new_segments_durable_while_a_zeros_sync_of_them_fails() {
    let fs = SimFs::new();
    let opts = Options::default()
        .simulated(&fs)
        .segment_size(256 << 10)
        .sync_policy(SyncPolicy::Bytes(1 << 40));
    let log = Arc::new(Log::open(DIR, opts).unwrap());
    // The zeros of the second segment are held at their first sync.
    let gate = BgSyncGate::install(&fs, Some(format!("{:020}.seg", 0)));
    gate.close();
    let mut n = 0u64;
    while segments(&log) < 2 {
        log.append(&record(n, 1000)).unwrap();
        n += 1;
    }
    gate.wait_held();
    let before = gate.others();
    let t = thread::spawn({
        let log = log.clone();
        move || log.truncate_front(1)
    });
    // The sealed segment's sync and the active one's.
    gate.wait_others(before + 2);
    gate.open(true);
    let r = t.join().unwrap();
    let e = r.expect_err("truncate_front counted a sync whose error another sync took");
    assert!(
        matches!(e.kind(), ErrorKind::Io | ErrorKind::Poisoned),
        "{e}"
    );
    assert_eq!(log.first_position(), 0, "the first position did not move");
    assert_eq!(
        log.append(b"after").unwrap_err().kind(),
        ErrorKind::Poisoned
    );
}

/// A segment found unsealed at open is synced by the background thread
/// before its index is written; the first group-commit leader syncs it
/// too, as it is not known durable. The leader's sync returned success
/// while the background thread's took the error, and the leader's
/// records were acknowledged. Fails on eba58b9 (the append returned Ok).
#[test]
fn a_leader_does_not_count_its_sync_while_the_resealing_sync_of_the_same_segment_fails() {
    let fs = SimFs::new();
    let opts = Options::default()
        .simulated(&fs)
        .segment_size(64 << 10)
        .preallocate(false)
        .sync_policy(SyncPolicy::Never);
    {
        let log = Log::open(DIR, opts.clone()).unwrap();
        let mut n = 0u64;
        while segments(&log) < 2 {
            log.append(&record(n, 1000)).unwrap();
            n += 1;
        }
        // No sync: the sealed segment gets no index, and the next open
        // reseals it.
        std::mem::forget(log);
    }
    fs.restart(CrashMode::KeepUnsynced);
    let gate = BgSyncGate::install(&fs, None);
    gate.close();
    let log = Arc::new(Log::open(DIR, opts.sync_policy(SyncPolicy::Always)).unwrap());
    gate.wait_held();
    let before = gate.others();
    let t = thread::spawn({
        let log = log.clone();
        move || log.append(b"acknowledged?")
    });
    // The leader's sync of the sealed segment, which then waits.
    gate.wait_others(before + 1);
    gate.open(true);
    let e = t
        .join()
        .unwrap()
        .expect_err("the append was acknowledged after a sync of its segments failed");
    assert!(
        matches!(e.kind(), ErrorKind::Io | ErrorKind::Poisoned),
        "{e}"
    );
}

/// A leader's success waits for the background thread's sync of the same
/// file that was running when it returned, and for no later one: the
/// zeros are written and synced in pieces, and a leader that waited for
/// the whole job (up to 8 pieces) stalled appends behind the zeros.
/// Fails on eba58b9 (the append waited for the second piece).
#[test]
fn a_leader_waits_for_the_zeros_sync_in_flight_only() {
    let fs = SimFs::new();
    let opts = Options::default()
        .simulated(&fs)
        .segment_size(64 << 20)
        .sync_policy(SyncPolicy::Always);
    let log = Arc::new(Log::open(DIR, opts).unwrap());
    let gate = BgSyncGate::install(&fs, None);
    gate.close();
    // The first append asks for zeros; their first piece's sync is held.
    let first = thread::spawn({
        let log = log.clone();
        move || log.append(b"first")
    });
    gate.wait_held();
    thread::sleep(Duration::from_millis(200));
    // Its sync waits for the held one if it returned while that one ran;
    // else the next append's sync does.
    let blocked = if first.is_finished() {
        first.join().unwrap().unwrap();
        let before = gate.others();
        let second = thread::spawn({
            let log = log.clone();
            move || log.append(b"behind the zeros")
        });
        gate.wait_others(before + 1);
        second
    } else {
        first
    };
    assert!(
        !blocked.is_finished(),
        "the leader did not wait for the zeros sync running when its own returned"
    );
    // The first piece's sync ends; the next piece's is held.
    gate.release_one();
    assert!(
        finishes(&blocked),
        "the leader waited for zeros syncs that started after its own"
    );
    blocked.join().unwrap().unwrap();
    gate.wait_held();
    gate.open(false);
    log.close().unwrap();
}

/// A panic while the background thread writes zeros left the range
/// marked as being written forever, and every append reaching it waited
/// for good. Fails on eba58b9 (the appends never returned).
#[test]
fn a_panic_while_writing_zeros_does_not_stall_appends() {
    let fs = SimFs::new();
    let opts = Options::default()
        .simulated(&fs)
        .segment_size(1 << 20)
        .sync_policy(SyncPolicy::Always);
    let log = Arc::new(Log::open(DIR, opts).unwrap());
    log.wait_reclaimed();
    fs.on_call(|op, path| {
        if op == Op::Write
            && path.extension().is_some_and(|e| e == "seg")
            && thread::current().name() == Some("logstore-bg")
        {
            panic!("injected: the background thread's write panics");
        }
    });
    let t = thread::spawn({
        let log = log.clone();
        move || {
            for i in 0..200u64 {
                log.append(&record(i, 2000))?;
            }
            Ok::<_, logstore::Error>(())
        }
    });
    assert!(finishes(&t), "appends stalled behind zeros never written");
    t.join().unwrap().unwrap();
    fs.clear_hook();
    assert_eq!(log.next_position(), 200);
    // The job counted as done: close (which waits for jobs) returns.
    let c = thread::spawn(move || log.close());
    assert!(finishes(&c), "close waited for the job that panicked");
    c.join().unwrap().unwrap();
}

/// A group-commit leader whose sync panicked left the sync marked as in
/// flight: the appender that panicked unwound, and every later append
/// waited for that sync's outcome forever. The sync now ends as failed
/// and poisons the log before the panic goes on.
#[test]
fn a_panic_in_a_leaders_sync_poisons_the_log_instead_of_stalling_it() {
    let fs = SimFs::new();
    let opts = Options::default()
        .simulated(&fs)
        .sync_policy(SyncPolicy::Always);
    let log = Arc::new(Log::open(DIR, opts).unwrap());
    log.wait_reclaimed();
    log.append(b"before").unwrap();
    let armed = Arc::new(AtomicBool::new(true));
    fs.on_call({
        let armed = armed.clone();
        move |op, path| {
            if op == Op::Sync
                && path.extension().is_some_and(|e| e == "seg")
                && thread::current().name() == Some("leader")
                && armed.swap(false, Ordering::SeqCst)
            {
                panic!("injected: the leader's fdatasync panics");
            }
        }
    });
    let leader = thread::Builder::new()
        .name("leader".into())
        .spawn({
            let log = log.clone();
            move || log.append(b"lost or not")
        })
        .unwrap();
    assert!(finishes(&leader));
    assert!(leader.join().is_err(), "the panic goes on to the caller");
    fs.clear_hook();
    let later = thread::spawn({
        let log = log.clone();
        move || log.append(b"after")
    });
    assert!(finishes(&later), "an append after the panic stalled");
    let err = later.join().unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Poisoned, "{err}");
    drop(log);
    let log = Log::open(DIR, Options::default().simulated(&fs)).unwrap();
    assert_eq!(log.read(0).unwrap(), b"before");
}
