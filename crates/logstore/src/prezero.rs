//! Writing zeros ahead of the active segment's data, so that durable
//! appends overwrite space the file already has instead of growing it.
//!
//! An `fdatasync` after a write that grows a file must also write the
//! file's new size; one after an overwrite of written blocks writes only
//! the data. On the disks measured for this crate the second costs about
//! half as much (docs/DESIGN.md, "Preallocation"), and a durable append
//! costs one sync. So under a syncing policy the background thread keeps
//! the active segment written with zeros (and synced) some way past the
//! end of its data: when less than half a chunk (1 MiB, or an eighth of a
//! smaller segment) is left it writes the next chunk, never past the
//! segment size. (`fallocate` is not
//! enough: writing into an allocated but unwritten extent changes the
//! extent, and the sync must write that change too.)
//!
//! What it costs and what it changes:
//! - Disk use: the active segment holds up to 1.5 chunks of zeros past
//!   its data.
//! - Recovery reads zeros after the last record of the last segment as
//!   this space (kept for the next appends), not as a torn tail. Every
//!   other segment ends with its data: a roll cuts the zeros off the
//!   segment it seals, and the next sync makes that durable before any
//!   record of the new segment is acknowledged. `close` cuts them off the
//!   active segment.
//! - While the background thread writes a range, an append that would
//!   reach it (or roll) waits until it is done; the range starts past
//!   the data's end, so an append waits only when the zeros fall behind.

use std::io::IoSlice;
use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::file_syncs::FileSyncs;
use crate::fs::FsFile;
use crate::options::SyncPolicy;
use crate::state::{relock, Job, Shared, State};
use crate::sync::MutexGuard;

/// How much is written at a time: 1 MiB, or an eighth of a smaller
/// segment. Zeros are written when less than half of that is left past
/// the data.
fn chunk(segment_size: u64) -> u64 {
    (segment_size / 8).min(1 << 20)
}

/// One piece of zeros: written, then synced (see [`write_zeros`]).
static ZEROS: [u8; 128 << 10] = [0; 128 << 10];

/// The range of the active segment to write zeros to next, if it is time.
fn next_range(st: &State, segment_size: u64) -> Option<(u64, u64)> {
    let prealloc_end = st.segs.active().zeros().end();
    let data_end = st.segs.data_end();
    let chunk = chunk(segment_size);
    if prealloc_end >= data_end.saturating_add(chunk / 2).min(segment_size) {
        return None;
    }
    // When the data has caught up with the zeros (a new segment), the next
    // range starts a little past it, so that appends need not wait for it.
    let from = if prealloc_end >= data_end {
        prealloc_end
    } else {
        data_end + chunk / 16
    };
    let to = from.saturating_add(chunk).min(segment_size);
    (from < to).then_some((from, to))
}

/// Writes zeros over `[from, to)`, syncing every 128 KiB: an appender's
/// sync that comes meanwhile waits for the write-back of at most that much
/// zeros. (Written whole and synced once, a 1 MiB chunk put a p99 of
/// 1,355–1,460 µs on 16 threads' durable appends, against 1,045–1,050 µs
/// this way, at the same rate: `logstore-bench --stores logstore
/// --workloads w4`, two runs each.)
fn write_zeros(
    syncs: &FileSyncs,
    file: &Arc<dyn FsFile>,
    path: &Path,
    from: u64,
    to: u64,
) -> std::result::Result<(), Failure> {
    let mut at = from;
    while at < to {
        let n = ((to - at) as usize).min(ZEROS.len());
        file.write_all_at(&[IoSlice::new(&ZEROS[..n])], at)
            .map_err(|_| Failure::Write)?;
        // The sync shares the file's error state with the appenders'
        // syncs: `FileSyncs` keeps theirs from counting if this one fails.
        syncs.sync_data(file, path).map_err(Failure::Sync)?;
        at += n as u64;
    }
    Ok(())
}

enum Failure {
    Write,
    Sync(Error),
}

/// Ends a zeros job in the state, also if writing them panics: appenders
/// wait for the range being written to clear.
struct Zeroing<'a> {
    shared: &'a Shared,
    file: Arc<dyn FsFile>,
    to: u64,
    /// Set once the job's outcome is known; a panic leaves it `None`.
    outcome: Option<std::result::Result<(), Failure>>,
}

impl Drop for Zeroing<'_> {
    fn drop(&mut self) {
        let mut st = self.shared.lock_state();
        let same = Arc::ptr_eq(&st.segs.active().file, &self.file);
        let ok = matches!(self.outcome, Some(Ok(())));
        if same {
            st.segs.zeros_mut().end_job(ok.then_some(self.to));
        }
        match self.outcome.take() {
            Some(Ok(())) => {}
            // If the sync failed, data of the appenders' may be lost with
            // no later sync to say so: the log stops taking writes.
            Some(Err(Failure::Sync(e))) => self.shared.poison(&mut st, &e),
            // No space, say: appends will report it if it persists; this
            // handle stops writing ahead. (Or the write panicked.)
            Some(Err(Failure::Write)) | None => st.zero_jobs.fail(),
        }
        drop(st);
        self.shared.zeroed_cv.notify_all();
    }
}

/// Queues a job to write zeros if this handle writes them ahead (a
/// writer under a syncing policy) and the active segment needs them.
pub(crate) fn request(sh: &Shared, st: &mut State) {
    let preallocates = sh.opts.preallocate
        && !sh.opts.read_only
        && !matches!(sh.opts.sync_policy, SyncPolicy::Never);
    if !preallocates
        || !st.zero_jobs.may_queue()
        || st.segs.active().zeros().zeroing_from().is_some()
        || next_range(st, sh.opts.segment_size).is_none()
    {
        return;
    }
    st.zero_jobs.queue();
    sh.submit(Job::Prezero);
}

/// Waits (checking that the log still takes writes) until the
/// background thread is not writing zeros, or `clear(state, from)`
/// says the caller's change keeps below the range they start at.
pub(crate) fn wait_zeroing<'a>(
    sh: &Shared,
    mut st: MutexGuard<'a, State>,
    clear: impl Fn(&State, u64) -> bool,
) -> Result<MutexGuard<'a, State>> {
    loop {
        sh.check_writable(&st)?;
        match st.segs.active().zeros().zeroing_from() {
            Some(from) if !clear(&st, from) => {}
            _ => return Ok(st),
        }
        st = relock(sh.zeroed_cv.wait(st));
    }
}

/// The background job: writes the next range of zeros and syncs them.
pub(crate) fn run(sh: &Shared) {
    let (file, path, from, to) = {
        let mut st = sh.lock_state();
        st.zero_jobs.take();
        if st.is_closed() || st.is_poisoned() || st.zero_jobs.failed() {
            return;
        }
        let Some((from, to)) = next_range(&st, sh.opts.segment_size) else {
            return;
        };
        st.segs.zeros_mut().begin(from);
        let a = st.segs.active();
        (a.file.clone(), a.path.clone(), from, to)
    };
    let mut job = Zeroing {
        shared: sh,
        file,
        to,
        outcome: None,
    };
    job.outcome = Some(write_zeros(&sh.file_syncs, &job.file, &path, from, to));
}
