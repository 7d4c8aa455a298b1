//! Durability notices: appends that return at once ([`crate::Log::submit`]),
//! and the ways to learn later that what they wrote is durable — a
//! callback, a blocking wait, a `Future` — without an async runtime.
//!
//! A *notice* asks to be told once every position below `end` is durable.
//! Two threads of the log's own serve them, started with the first notice:
//! - the *syncer* makes pending notices durable with the group commit
//!   every appender shares ([`crate::commit::sync_through`]): while it syncs, new
//!   notices gather for its next sync, so N submitters cost about one
//!   write and one sync per batch;
//! - the *notifier* runs the callbacks, away from every lock of the
//!   engine, so that a slow callback delays only the callbacks after it,
//!   never a sync.
//!
//! Every notice gets exactly one outcome (see [`outcome`]), including when
//! the log is poisoned, closed or dropped.

// A loom build runs no threads of its own here (see `Notices::start`).
#![cfg_attr(loom, allow(dead_code, unused_imports))]

use std::future::Future;
use std::pin::Pin;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind, Result};
use crate::state::{Shared, State};

/// A caller's callback.
type Callback = Box<dyn FnOnce(Result<()>) + Send + 'static>;

/// What a notice does with its outcome.
pub(crate) enum Call {
    /// Runs a caller's callback, on the notifier thread.
    User(Callback),
    /// Fills a blocking wait's or a future's slot, on the syncer's thread:
    /// no caller's code runs there but a future's waker, so a slow
    /// callback does not hold up a wait.
    Fill(Arc<Slot>),
}

impl Call {
    fn run(self, result: Result<()>) {
        match self {
            Call::User(f) => f(result),
            Call::Fill(slot) => slot.fill(result),
        }
    }
}

/// A request to be told when every position below `end` is durable.
struct Notice {
    end: u64,
    /// The log's truncation epoch when the records were appended: if it
    /// moved, `truncate_back` cut them (see [`outcome`]).
    epoch: u64,
    call: Call,
}

#[derive(Default)]
struct Pending {
    notices: Vec<Notice>,
    /// The end of the positions a caller asked to be synced without a
    /// notice ([`Notices::request`]).
    requested: u64,
    /// Set by [`Notices::stop`]: settle what is pending and end.
    stop: bool,
    /// Whether the threads were started.
    started: bool,
}

/// The notices of one log and the two threads that serve them.
#[derive(Default)]
pub(crate) struct Notices {
    pending: Mutex<Pending>,
    wake: Condvar,
    threads: Mutex<Vec<std::thread::JoinHandle<()>>>,
    notifier: Mutex<Option<std::thread::ThreadId>>,
}

impl std::fmt::Debug for Notices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notices").finish_non_exhaustive()
    }
}

fn relock<T>(r: std::sync::LockResult<T>) -> T {
    // These mutexes guard plain data that every unlock leaves whole.
    r.unwrap_or_else(|p| p.into_inner())
}

/// The outcome of a notice, if it has one yet. Durable when `synced` has
/// passed its end. Otherwise, on a poisoned or closed log, that error.
/// Otherwise, if `truncate_back` ran since the records were appended, the
/// cut took them, and that cut is durable once it returns (it syncs what it
/// keeps): the append is settled, and its notice says `Ok`, as
/// [`crate::Log::append`] does for an appender that a cut overtook.
fn outcome(shared: &Shared, st: &State, notice: &Notice) -> Option<Result<()>> {
    if st.synced() >= notice.end {
        return Some(Ok(()));
    }
    if let Err(e) = shared.check_live(st) {
        return Some(Err(e));
    }
    (st.group.epoch() != notice.epoch).then_some(Ok(()))
}

impl Notices {
    /// Calls `call` once every position below `end`, appended in truncation
    /// epoch `epoch`, is durable (or with the error that means it never
    /// will be).
    pub(crate) fn notify(self: &Arc<Self>, shared: &Arc<Shared>, end: u64, epoch: u64, call: Call) {
        let notice = Notice { end, epoch, call };
        {
            let st = shared.lock_state();
            if let Some(result) = outcome(shared, &st, &notice) {
                drop(st);
                notice.call.run(result);
                return;
            }
        }
        self.push(shared, |p| p.notices.push(notice));
    }

    /// Asks for every position below `end` to be synced soon, with no
    /// notice.
    pub(crate) fn request(self: &Arc<Self>, shared: &Arc<Shared>, end: u64) {
        self.push(shared, |p| p.requested = p.requested.max(end));
    }

    fn push(self: &Arc<Self>, shared: &Arc<Shared>, add: impl FnOnce(&mut Pending)) {
        let mut p = relock(self.pending.lock());
        if !p.started && !p.stop {
            p.started = true;
            // Without its threads, notices are settled on the caller's
            // thread, as once the log is closing.
            p.stop = !self.start(shared);
        }
        if p.stop {
            // The log is closing (or gone): settle now, on this thread.
            drop(p);
            let mut late = Pending::default();
            add(&mut late);
            self.settle_all(shared, late.notices, Settle::Final);
            return;
        }
        add(&mut p);
        drop(p);
        self.wake.notify_all();
    }

    /// Starts the syncer and the notifier; whether both run.
    #[cfg(not(loom))]
    fn start(self: &Arc<Self>, shared: &Arc<Shared>) -> bool {
        let (tx, rx) = mpsc::channel::<Vec<(Callback, Result<()>)>>();
        let me = Arc::clone(self);
        let weak = Arc::downgrade(shared);
        let syncer = std::thread::Builder::new()
            .name("logstore-durable".into())
            .spawn(move || me.run_syncer(weak, tx));
        let notifier = std::thread::Builder::new()
            .name("logstore-notify".into())
            .spawn(move || run_notifier(rx));
        let mut threads = relock(self.threads.lock());
        let both = syncer.is_ok() && notifier.is_ok();
        if let Ok(n) = &notifier {
            *relock(self.notifier.lock()) = Some(n.thread().id());
        }
        // A syncer without a notifier ends at its first send.
        threads.extend(syncer.ok());
        threads.extend(notifier.ok());
        both
    }

    /// A loom build runs no threads of its own (see `background.rs`):
    /// every notice is settled on the caller's thread.
    #[cfg(loom)]
    fn start(self: &Arc<Self>, _shared: &Arc<Shared>) -> bool {
        false
    }

    #[cfg(not(loom))]
    fn run_syncer(&self, weak: Weak<Shared>, tx: mpsc::Sender<Vec<(Callback, Result<()>)>>) {
        loop {
            let (notices, requested, stop) = {
                let mut p = relock(self.pending.lock());
                while p.notices.is_empty() && p.requested == 0 && !p.stop {
                    p = relock(self.wake.wait(p));
                }
                (
                    std::mem::take(&mut p.notices),
                    std::mem::take(&mut p.requested),
                    p.stop,
                )
            };
            let Some(shared) = weak.upgrade() else {
                for n in notices {
                    n.call.run(Err(gone_error()));
                }
                return;
            };
            let target = notices
                .iter()
                .map(|n| n.end)
                .max()
                .unwrap_or(0)
                .max(requested);
            sync_upto(&shared, target);
            let settle = if stop { Settle::Final } else { Settle::Ready };
            let (done, left) = split(&shared, notices, settle);
            if !left.is_empty() {
                let stalled = done.is_empty();
                let mut p = relock(self.pending.lock());
                p.notices.extend(left);
                if stalled {
                    // A sync that settles nothing (none is expected to):
                    // pause rather than spin on it.
                    drop(relock(self.wake.wait_timeout(p, Duration::from_millis(10))));
                }
            }
            let mut user = Vec::new();
            for (call, result) in done {
                match call {
                    Call::User(f) => user.push((f, result)),
                    fill => fill.run(result),
                }
            }
            if !user.is_empty() && tx.send(user).is_err() {
                return;
            }
            if stop && relock(self.pending.lock()).notices.is_empty() {
                return;
            }
        }
    }

    /// Settles `notices` on this thread (a loom build, a log that is
    /// closing, or threads that could not start).
    fn settle_all(&self, shared: &Arc<Shared>, notices: Vec<Notice>, settle: Settle) {
        let target = notices.iter().map(|n| n.end).max().unwrap_or(0);
        sync_upto(shared, target);
        let (done, left) = split(shared, notices, settle);
        debug_assert!(left.is_empty());
        for (call, result) in done {
            call.run(result);
        }
    }

    /// Settles every pending notice, runs their callbacks and ends the
    /// threads: called by `close` (after its sync) and by the handle's
    /// drop (which syncs what notices are still waiting for). A callback
    /// that calls it from the notifier thread does not wait for itself.
    pub(crate) fn stop(&self) {
        relock(self.pending.lock()).stop = true;
        self.wake.notify_all();
        let me = std::thread::current().id();
        let on_notifier = *relock(self.notifier.lock()) == Some(me);
        let threads = std::mem::take(&mut *relock(self.threads.lock()));
        for t in threads {
            if on_notifier || t.thread().id() == me {
                continue;
            }
            let _ = t.join();
        }
    }
}

/// Whether a notice with no outcome yet stays pending or fails.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Settle {
    /// Keep waiting for a later sync.
    Ready,
    /// The log is closing or gone: no later sync will come.
    Final,
}

/// Syncs every position below `target` (at most up to the log's end: a
/// notice whose records `truncate_back` cut asks for positions that may
/// not exist any more). A failure poisons the log, which the notices'
/// outcomes then report.
fn sync_upto(shared: &Shared, target: u64) {
    let st = shared.lock_state();
    let target = target.min(st.next());
    if st.synced() >= target || shared.check_live(&st).is_err() {
        return;
    }
    let _ = crate::commit::sync_through(shared, st, target);
}

/// Splits `notices` into those with an outcome (with it) and the others.
fn split(
    shared: &Shared,
    notices: Vec<Notice>,
    settle: Settle,
) -> (Vec<(Call, Result<()>)>, Vec<Notice>) {
    let st = shared.lock_state();
    let mut done = Vec::new();
    let mut left = Vec::new();
    for n in notices {
        match outcome(shared, &st, &n) {
            Some(r) => done.push((n.call, r)),
            None if settle == Settle::Final => {
                let err = Error::new(
                    ErrorKind::Closed,
                    format!(
                        "the log was closed before position {} was durable",
                        n.end.saturating_sub(1)
                    ),
                )
                .with_path(&shared.dir)
                .at_position(n.end.saturating_sub(1));
                done.push((n.call, Err(err)));
            }
            None => left.push(n),
        }
    }
    (done, left)
}

fn gone_error() -> Error {
    Error::new(
        ErrorKind::Closed,
        "the log was dropped before the record was durable",
    )
}

#[cfg(not(loom))]
fn run_notifier(rx: mpsc::Receiver<Vec<(Callback, Result<()>)>>) {
    for calls in rx {
        for (call, result) in calls {
            // A panicking callback must not cost the others theirs.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| call(result)));
        }
    }
}

/// Where a blocking wait or a future receives its notice's outcome.
#[derive(Default)]
pub(crate) struct Slot {
    state: Mutex<SlotState>,
    filled: Condvar,
}

#[derive(Default)]
struct SlotState {
    result: Option<Result<()>>,
    waker: Option<Waker>,
}

impl Slot {
    pub(crate) fn filled_with(result: Result<()>) -> Arc<Slot> {
        let slot = Arc::new(Slot::default());
        slot.fill(result);
        slot
    }

    fn fill(&self, result: Result<()>) {
        let mut s = relock(self.state.lock());
        s.result = Some(result);
        let waker = s.waker.take();
        drop(s);
        self.filled.notify_all();
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Waits for the outcome until `timeout` (`None`: no limit); `None`
    /// if it passed first.
    pub(crate) fn wait(&self, timeout: Option<Duration>) -> Option<Result<()>> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut s = relock(self.state.lock());
        loop {
            if let Some(r) = s.result.take() {
                return Some(r);
            }
            match deadline {
                None => s = relock(self.filled.wait(s)),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return None;
                    }
                    s = relock(self.filled.wait_timeout(s, d - now)).0;
                }
            }
        }
    }
}

/// A future that completes once a position is durable: see
/// [`crate::Log::durable`]. It needs no particular async runtime: the sync
/// that makes the position durable wakes it. Its outcome is taken once; a
/// poll after it returned `Ready` returns an error.
#[must_use = "a future does nothing unless polled (the sync it waits for runs anyway)"]
pub struct Durable {
    slot: Arc<Slot>,
}

impl std::fmt::Debug for Durable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Durable").finish_non_exhaustive()
    }
}

impl Durable {
    pub(crate) fn new(slot: Arc<Slot>) -> Durable {
        Durable { slot }
    }
}

impl Future for Durable {
    type Output = Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        let mut s = relock(self.slot.state.lock());
        if let Some(r) = s.result.take() {
            // Leave an outcome for a poll after completion, which futures
            // may not rely on, rather than hang it.
            s.result = Some(Err(Error::invalid(
                "the durability future was polled after it completed",
            )));
            return Poll::Ready(r);
        }
        s.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}
