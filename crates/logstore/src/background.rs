//! The background thread: seals rolled segments, releases truncated space
//! and, under `SyncPolicy::Interval`, syncs periodically. It holds only a
//! weak reference, so dropping the log ends it.
//!
//! A loom build runs no background thread: loom's channel cannot time out
//! or see its sender hang up, which is how this thread waits and ends.
//! Jobs are then dropped as after `close` (a missing index is rebuilt and
//! dead segments are removed at the next open); the loom model releases
//! truncated space inline (`Options::background_reclaim(false)`).

// In a loom build only the stand-in `start` below is used.
#![cfg_attr(loom, allow(dead_code, unused_imports))]

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crate::options::SyncPolicy;
use crate::state::{Job, Reclaim, SealSync, Sealed, Shared};
use crate::sync::thread;

#[cfg(loom)]
pub(crate) fn start(_shared: &Arc<Shared>) -> std::io::Result<()> {
    Ok(())
}

#[cfg(not(loom))]
pub(crate) fn start(shared: &Arc<Shared>) -> std::io::Result<()> {
    let (tx, rx) = mpsc::channel::<Job>();
    let weak = Arc::downgrade(shared);
    let interval = match shared.opts.sync_policy {
        SyncPolicy::Interval(d) => Some(d),
        _ => None,
    };
    let handle = thread::Builder::new()
        .name("logstore-bg".into())
        .spawn(move || run(weak, rx, interval))?;
    *shared.jobs.lock().unwrap_or_else(|p| p.into_inner()) = Some(tx);
    *shared.bg_thread.lock().unwrap_or_else(|p| p.into_inner()) = Some(handle);
    Ok(())
}

fn run(weak: Weak<Shared>, rx: mpsc::Receiver<Job>, interval: Option<Duration>) {
    let mut last_sync = Instant::now();
    loop {
        let wait = interval.map_or(Duration::from_secs(3600), |d| {
            d.saturating_sub(last_sync.elapsed())
                .max(Duration::from_millis(1))
        });
        let msg = rx.recv_timeout(wait);
        let Some(shared) = weak.upgrade() else { return };
        match msg {
            // A job that panics (a bug, or a file system that does) has
            // left the state consistent (its guards end it) and counted
            // itself done: the thread goes on with the next jobs.
            Ok(job) => {
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    run_job(&shared, job)
                }));
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        if let Some(d) = interval {
            if last_sync.elapsed() >= d {
                last_sync = Instant::now();
                // A failure poisons the log; appenders see it.
                let st = shared.lock_state();
                let next = st.next();
                let _ = crate::commit::sync_through(&shared, st, next);
            }
        }
    }
}

/// Runs one background job, then counts it done (also if it panics:
/// `wait_jobs` must not wait for it forever).
pub(crate) fn run_job(sh: &Shared, job: Job) {
    struct Done<'a>(&'a Shared);
    impl Drop for Done<'_> {
        fn drop(&mut self) {
            self.0.job_done();
        }
    }
    let _done = Done(sh);
    match job {
        Job::Seal(seg, sync) => seal(sh, &seg, sync),
        Job::Reclaim(r) => reclaim(sh, r),
        Job::Prezero => crate::prezero::run(sh),
    }
}

fn seal(sh: &Shared, seg: &Arc<Sealed>, sync: SealSync) {
    if sync == SealSync::Needed {
        if let Err(err) = sh.file_syncs.sync_data(&seg.file, &seg.path) {
            let mut st = sh.lock_state();
            sh.poison(&mut st, &err);
            return;
        }
    }
    let meta = {
        let mut st = sh.lock_state();
        if st.is_poisoned() {
            // A sync of the log's files failed. This segment's sync may
            // have returned success all the same (the kernel reports a
            // write-back error once per file), so no index vouches for
            // it: the next open scans it.
            return;
        }
        st.group.sealed_durable(seg);
        if !is_sealed(&st, seg) {
            // Truncated away (or reopened for appends) meanwhile; the
            // index's rename checks again.
            return;
        }
        st.meta()
    };
    // The index is only a cache of what the segment says; a failure to
    // write it costs a rebuild later, never data. It is written only
    // now that the segment is durable, so that a segment with an index
    // is never a torn one.
    let Ok(offsets) = sh.load_index(seg, &meta) else {
        return;
    };
    let _ = sh.indexes.write(&seg.extent(), &offsets, || {
        let st = sh.lock_state();
        is_sealed(&st, seg).then_some(st)
    });
}

fn is_sealed(st: &crate::state::State, seg: &Arc<Sealed>) -> bool {
    st.segs.sealed().iter().any(|s| Arc::ptr_eq(s, seg))
}

fn reclaim(sh: &Shared, r: Reclaim) {
    // Failures here leave dead bytes on disk, never wrong data: the
    // durable first position already excludes them, and the next open
    // removes dead segments again. A failed directory sync poisons the
    // log all the same: the kernel reports it once, so a later sync of
    // the directory (a new segment's entry) could succeed without having
    // written it.
    let mut removed = false;
    for path in &r.remove {
        removed |= sh.fs.remove_file(path).is_ok();
    }
    if removed {
        if let Err(e) = sh.sync_dir() {
            let mut st = sh.lock_state();
            sh.poison(&mut st, &e);
        }
    }
    if let Some(p) = r.punch {
        if p.start < p.end {
            let _ = p.file.punch_hole(p.start, p.end - p.start);
        }
    }
}
