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
use crate::state::{Job, Shared};
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
                let _ =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| shared.run_job(job)));
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        if let Some(d) = interval {
            if last_sync.elapsed() >= d {
                last_sync = Instant::now();
                // A failure poisons the log; appenders see it.
                let st = shared.lock_state();
                let next = st.next;
                let _ = shared.sync_through(st, next);
            }
        }
    }
}
