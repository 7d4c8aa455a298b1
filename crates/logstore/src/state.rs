//! The state shared by a [`crate::Log`] handle, its readers and its
//! background thread, and the invariants that tie it together.
//!
//! Invariants (under `Shared::state`):
//! - `first <= next`; positions `first..next` are readable.
//! - `sealed` is sorted; each sealed segment ends (`end_position`) where the
//!   next one (or the active one) starts.
//! - The active segment's file holds `written` bytes; `buf` holds framed
//!   records that follow them and are not yet written to the OS.
//! - Every position below `synced` is durable, and so is every sealed
//!   segment not listed in `unsynced`.

use std::io::IoSlice;
use std::path::PathBuf;
use std::sync::Arc;

use crate::error::{Error, ErrorKind, Result};
use crate::file_syncs::FileSyncs;
use crate::fs::{Fs, FsFile, FsLock, OpenMode};
use crate::header::LogId;
use crate::index::IndexCache;
use crate::meta::Meta;
use crate::options::Options;
use crate::segment::{self, SEGMENT_HEADER_LEN};
use crate::sync::atomic::{AtomicU64, AtomicUsize};
use crate::sync::{thread, Condvar, Mutex, MutexGuard};
use crate::RecoveryReport;

/// A segment that no longer receives records.
#[derive(Debug)]
pub(crate) struct Sealed {
    /// First position of the segment (its name).
    pub first: u64,
    /// First position whose offset is known (see `index::IndexHeader`).
    pub base: u64,
    /// Position after the segment's last record.
    pub end: u64,
    /// Length of the segment file: the end of its data.
    pub data_end: u64,
    pub path: PathBuf,
    pub file: Arc<dyn FsFile>,
    /// The segment's index file, once opened and its header checked, for
    /// point lookups when the whole index is not cached.
    pub index_file: Mutex<Option<(Arc<dyn FsFile>, crate::index::IndexHeader)>>,
    /// Point lookups made since the whole index was last loaded: once a
    /// segment is read often enough, loading its index costs less than
    /// one more read of the index file per record read.
    pub point_lookups: AtomicU64,
}

/// The segment receiving appends.
#[derive(Debug)]
pub(crate) struct Active {
    pub first: u64,
    /// Position of `offsets[0]`.
    pub base: u64,
    pub offsets: Vec<u64>,
    /// Bytes of the file written to the OS; `buf` follows them.
    pub written: u64,
    pub path: PathBuf,
    pub file: Arc<dyn FsFile>,
    /// End of the file's preallocated space: the bytes from the data's end
    /// up to here were written as zeros and synced, so appends there
    /// overwrite instead of growing the file (see [`crate::prezero`]).
    pub prealloc_end: u64,
    /// Start of the range the background thread is writing zeros to, while
    /// it does: appends must not reach it until it is done.
    pub zeroing_from: Option<u64>,
}

impl Active {
    /// A segment whose data ends at byte `written`, with no preallocated
    /// space after it.
    pub(crate) fn new(
        first: u64,
        base: u64,
        offsets: Vec<u64>,
        written: u64,
        path: PathBuf,
        file: Arc<dyn FsFile>,
    ) -> Self {
        Active {
            first,
            base,
            offsets,
            written,
            path,
            file,
            prealloc_end: written,
            zeroing_from: None,
        }
    }

    pub(crate) fn end_position(&self) -> u64 {
        self.base + self.offsets.len() as u64
    }
}

#[derive(Debug)]
pub(crate) struct State {
    pub first: u64,
    pub next: u64,
    pub meta: Meta,
    pub sealed: Vec<Arc<Sealed>>,
    pub active: Active,
    pub buf: Vec<u8>,
    pub synced: u64,
    /// The highest position a sync mark written by this handle vouches
    /// for (see [`Shared::write_mark`]).
    pub vouched: u64,
    /// Sealed segments whose data may not be durable yet.
    pub unsynced: Vec<Arc<Sealed>>,
    pub unsynced_bytes: u64,
    /// Segment files created by rolls so far, and how many of them are
    /// known durable (name and header). A roll does not sync; the next
    /// sync does, before any record in the new file is acknowledged.
    pub rolls: u64,
    pub rolls_synced: u64,
    /// A group-commit leader is writing and syncing.
    pub syncing: bool,
    /// Positions below this are covered by the sync in flight.
    pub syncing_upto: u64,
    /// Bumped by `truncate_back`, so that syncs started before it do not
    /// vouch for positions it reassigned.
    pub epoch: u64,
    pub poisoned: Option<String>,
    /// `close` has begun: calls that start now are refused as on a closed
    /// log, so that the sync of `close` covers every record acknowledged.
    pub closing: bool,
    pub closed: bool,
    /// A job to write zeros ahead of the active segment's data is queued.
    pub zero_queued: bool,
    /// Writing zeros failed once (no space, say): no more preallocation
    /// for this handle; appends grow the file as without it.
    pub prealloc_failed: bool,
}

impl State {
    /// Where the next record's bytes go in the active segment file.
    pub(crate) fn data_end(&self) -> u64 {
        self.active.written + self.buf.len() as u64
    }
}

/// What [`Shared::publish_sync`] last published.
#[derive(Debug, Default)]
pub(crate) struct SyncDone {
    /// Bumped by every publication.
    pub generation: u64,
    /// `State::synced` and `State::epoch` then.
    pub synced: u64,
    pub epoch: u64,
}

/// Work for the background thread.
#[derive(Debug)]
pub(crate) enum Job {
    /// Write the index of a sealed segment, syncing the segment first if
    /// the flag says it may not be durable yet. (An index marks a segment
    /// as durable: recovery trusts indexed segments without scanning them.)
    Seal(Arc<Sealed>, bool),
    /// Release space: remove whole segments, punch a dead prefix.
    Reclaim(Reclaim),
    /// Write zeros ahead of the active segment's data.
    Prezero,
}

/// Space to give back after a truncation.
#[derive(Debug, Default)]
pub(crate) struct Reclaim {
    pub remove: Vec<PathBuf>,
    /// (file, path, start, end): punch `[start, end)`.
    pub punch: Option<(Arc<dyn FsFile>, PathBuf, u64, u64)>,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub dir: PathBuf,
    pub fs: Arc<dyn Fs>,
    pub opts: Options,
    pub log_id: LogId,
    pub state: Mutex<State>,
    /// Appenders whose records the sync in flight does not cover wait
    /// here: one of them leads the next sync, and the leader of that sync
    /// wakes the others, now covered, while it syncs (off the critical
    /// path) rather than all of them being woken when a sync ends.
    pub lead_cv: Condvar,
    /// The outcome of the latest sync, published when it ends: appenders
    /// that the sync in flight covers (and `truncate_back`) wait for it
    /// here, away from the state lock, so that waking them does not crowd
    /// the lock the next leader needs.
    pub sync_done: Mutex<SyncDone>,
    pub sync_done_cv: Condvar,
    /// Tailing readers wait here for new records.
    pub appended_cv: Condvar,
    /// Appenders wait here for the background thread to finish writing
    /// zeros where their records would go.
    pub zeroed_cv: Condvar,
    pub tail_waiters: AtomicUsize,
    /// Mirror of `State::first`, for readers' cheap checks.
    pub first_hint: AtomicU64,
    /// Bumped (under the state lock) by every change that may put other
    /// records at positions a reader has already looked up: `truncate_back`,
    /// and a read-only handle's rebuilt view. An iterator drops what it read
    /// ahead when this moved.
    pub rewrites: AtomicU64,
    pub index_cache: Mutex<IndexCache>,
    /// Every sync of a segment file goes through it (see `file_syncs`).
    pub file_syncs: FileSyncs,
    pub jobs: Mutex<Option<std::sync::mpsc::Sender<Job>>>,
    pub bg_thread: Mutex<Option<thread::JoinHandle<()>>>,
    /// Background jobs not yet finished.
    pub pending_jobs: Mutex<usize>,
    pub jobs_cv: Condvar,
    pub report: Mutex<RecoveryReport>,
    pub lock: Mutex<Option<Box<dyn FsLock>>>,
}

fn relock<T>(r: std::sync::LockResult<T>) -> T {
    // Poisoning of these mutexes only follows a panic elsewhere; the state
    // they guard is kept consistent at every unlock, so carry on.
    r.unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    pub(crate) fn lock_state(&self) -> MutexGuard<'_, State> {
        relock(self.state.lock())
    }

    /// Waits, without the state lock, until the sync in flight has ended
    /// (or the log changed under it), then takes the lock again.
    pub(crate) fn wait_sync_end<'a>(&'a self, st: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        let seen = relock(self.sync_done.lock()).generation;
        drop(st);
        drop(self.published_after(seen));
        self.lock_state()
    }

    pub(crate) fn segment_path(&self, first: u64) -> PathBuf {
        self.dir.join(segment::segment_name(first))
    }

    pub(crate) fn index_path(&self, first: u64) -> PathBuf {
        self.dir.join(segment::index_name(first))
    }

    /// The error of any call on a closed log.
    pub(crate) fn closed_error(&self) -> Error {
        Error::new(ErrorKind::Closed, "log is closed").with_path(&self.dir)
    }

    /// Refuses writes on a read-only, closed or poisoned log, and a call
    /// that starts once `close` has begun.
    pub(crate) fn check_writable(&self, st: &State) -> Result<()> {
        if st.closing {
            return Err(self.closed_error());
        }
        self.check_live(st)
    }

    /// Refuses to go on with a write on a read-only, closed or poisoned
    /// log. Unlike [`Shared::check_writable`], lets the appenders already
    /// waiting for a sync when `close` begins wait on: its sync covers
    /// them.
    pub(crate) fn check_live(&self, st: &State) -> Result<()> {
        if self.opts.read_only {
            return Err(
                Error::new(ErrorKind::ReadOnly, "log was opened read-only").with_path(&self.dir)
            );
        }
        if st.closed {
            return Err(self.closed_error());
        }
        if let Some(why) = &st.poisoned {
            return Err(Error::new(
                ErrorKind::Poisoned,
                format!("log refuses writes until reopened, after an earlier failure ({why})"),
            )
            .with_path(&self.dir));
        }
        Ok(())
    }

    /// Marks the log poisoned after `err` and wakes everyone waiting.
    pub(crate) fn poison(&self, st: &mut State, err: &Error) {
        if st.poisoned.is_none() {
            st.poisoned = Some(err.to_string());
        }
        self.wake_waiters(st);
    }

    /// Wakes every appender waiting for a sync or for the zeros written
    /// ahead (the log changed under them: poisoned, closed, cut back,
    /// emptied past its end). Every change of `synced`, `next` (but an
    /// append's) or `epoch` calls it, but a sync's own end, which wakes
    /// the next leader and publishes itself: an appender woken to lead
    /// that finds nothing to sync returns without waking anyone, so a
    /// change that may let it do so must wake them all.
    pub(crate) fn wake_waiters(&self, st: &State) {
        self.publish_sync(st);
        self.lead_cv.notify_all();
        self.zeroed_cv.notify_all();
    }

    /// Tells those waiting in [`Shared::published_after`] that a sync
    /// ended or the log changed under them, with what is durable now.
    pub(crate) fn publish_sync(&self, st: &State) {
        let mut done = relock(self.sync_done.lock());
        done.generation += 1;
        done.synced = st.synced;
        done.epoch = st.epoch;
        drop(done);
        self.sync_done_cv.notify_all();
    }

    /// Waits for a publication after generation `seen`; returns it.
    fn published_after(&self, seen: u64) -> MutexGuard<'_, SyncDone> {
        let mut done = relock(self.sync_done.lock());
        while done.generation == seen {
            done = relock(self.sync_done_cv.wait(done));
        }
        done
    }

    /// Frames a sync mark into the write buffer, at the data's end,
    /// vouching for every position below `synced`: each sync's
    /// durability is so recorded by the next append, at no cost of its
    /// own, and recovery can tell damage to acknowledged records from a
    /// torn tail (docs/DESIGN.md, "Sync marks"). Only when `synced` moved
    /// since the last mark: at most one mark per sync.
    pub(crate) fn write_mark(&self, st: &mut State) {
        if st.synced <= st.vouched {
            return;
        }
        let at = st.data_end();
        st.buf
            .extend_from_slice(&crate::frame::encode_mark(at, st.synced));
        st.vouched = st.synced;
    }

    /// At a clean close, once everything is synced: writes a sync mark
    /// vouching for every record and syncs it, so that the next open knows
    /// that all of the data is acknowledged (damage anywhere in it is then
    /// corruption, never a torn tail).
    pub(crate) fn write_close_mark(&self, st: &mut State) -> Result<()> {
        if st.synced < st.next || st.vouched >= st.next || !st.buf.is_empty() {
            return Ok(());
        }
        let at = st.data_end();
        let mark = crate::frame::encode_mark(at, st.next);
        let r = st
            .active
            .file
            .write_all_at(&[IoSlice::new(&mark)], at)
            .map_err(|e| Error::io("write", &st.active.path, e))
            .and_then(|()| self.file_syncs.sync_data(&st.active.file, &st.active.path));
        if let Err(e) = r {
            self.poison(st, &e);
            return Err(e);
        }
        st.active.written += crate::frame::MARK_LEN;
        st.vouched = st.next;
        Ok(())
    }

    /// At a clean close, after [`Shared::write_close_mark`]: writes the
    /// active segment's index, durably. It records where the segment's
    /// data ended, so that the next open can tell a segment that lost
    /// bytes from its end (corruption) from one that was never longer,
    /// and every byte before that end was synced. It goes stale as soon as
    /// appends make the segment longer; `truncate_back` removes it
    /// (durably) before cutting below it.
    pub(crate) fn write_close_index(&self, st: &State) -> Result<()> {
        let a = &st.active;
        if st.synced < st.next || a.written < st.data_end() {
            return Ok(());
        }
        let bytes = crate::index::encode(&self.log_id, a.first, a.base, &a.offsets, a.written);
        let name = segment::index_name(a.first);
        let tmp = format!("{name}.tmp");
        crate::meta::replace_file(&*self.fs, &self.dir, &tmp, &name, &bytes)
    }

    /// Removes the index file of the active segment, if there is one (left
    /// by a clean close), and makes that durable: before a change that
    /// shortens the segment, which the index would otherwise report as
    /// damage.
    pub(crate) fn drop_active_index(&self, st: &State) -> Result<()> {
        let path = self.index_path(st.active.first);
        match self.fs.remove_file(&path) {
            Ok(()) => self.sync_dir(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove", &path, e)),
        }
    }

    /// Bytes [`Shared::write_mark`] would add now.
    pub(crate) fn mark_len(st: &State) -> u64 {
        if st.synced > st.vouched {
            crate::frame::MARK_LEN
        } else {
            0
        }
    }

    /// Writes `buf` to the active segment file.
    pub(crate) fn flush_locked(&self, st: &mut State) -> Result<()> {
        if st.buf.is_empty() {
            return Ok(());
        }
        let r = st
            .active
            .file
            .write_all_at(&[IoSlice::new(&st.buf)], st.active.written);
        if let Err(e) = r {
            let err = Error::io("write", &st.active.path, e);
            self.poison(st, &err);
            return Err(err);
        }
        st.active.written += st.buf.len() as u64;
        st.buf.clear();
        Ok(())
    }

    /// Makes every position below `target` durable. Concurrent callers share
    /// the work (group commit): one of them, the leader, writes whatever is
    /// buffered and syncs once, while the others wait for its result.
    pub(crate) fn sync_through<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        target: u64,
    ) -> Result<()> {
        let epoch = st.epoch;
        loop {
            if st.synced >= target {
                return Ok(());
            }
            if st.epoch != epoch {
                // A `truncate_back` ran meanwhile. It counts the positions
                // below its cut as durable only once they are, and a sync
                // only raises `synced`: below `target` still, so the cut
                // took (some of) these records, as if it had come after
                // they were acknowledged. Unless the cut failed: then the
                // log is poisoned and these records may be lost.
                self.check_live(&st)?;
                return Ok(());
            }
            self.check_live(&st)?;
            if st.syncing {
                if target <= st.syncing_upto {
                    // Covered by the sync in flight: wait for its outcome
                    // away from the state lock, which the next leader
                    // needs as soon as this sync ends.
                    // If that outcome does not make the records durable
                    // (a failure, a truncation, a close), the state says
                    // why.
                    let seen = relock(self.sync_done.lock()).generation;
                    drop(st);
                    let done = self.published_after(seen);
                    if done.epoch == epoch && done.synced >= target {
                        return Ok(());
                    }
                    drop(done);
                    st = self.lock_state();
                } else {
                    st = relock(self.lead_cv.wait(st));
                }
                continue;
            }
            st.syncing = true;
            if let Err(e) = self.flush_locked(&mut st) {
                st.syncing = false;
                return Err(e);
            }
            let upto = st.next;
            st.syncing_upto = upto;
            // Appenders waiting to lead are covered by this sync now.
            self.lead_cv.notify_all();
            let my_epoch = st.epoch;
            let sealed = std::mem::take(&mut st.unsynced);
            let active = (st.active.file.clone(), st.active.path.clone());
            let rolls = st.rolls;
            let dir = rolls > st.rolls_synced;
            st.unsynced_bytes = 0;
            drop(st);
            // Its success is believed only once no other sync of these files
            // may have taken their write-back error (see `file_syncs`).
            let result = self.sync_files(&sealed, &active).and_then(|()| match dir {
                true => self.sync_dir(),
                false => Ok(()),
            });
            st = self.lock_state();
            st.syncing = false;
            match result {
                Ok(()) => {
                    st.rolls_synced = st.rolls_synced.max(rolls);
                    if st.epoch == my_epoch && upto > st.synced {
                        st.synced = upto;
                    }
                    for seg in sealed {
                        self.submit(Job::Seal(seg, false));
                    }
                }
                Err(err) => {
                    self.poison(&mut st, &err);
                    return Err(err);
                }
            }
            // The next leader first, then the followers this sync covered.
            self.lead_cv.notify_one();
            self.publish_sync(&st);
        }
    }

    /// Starts a new active segment at `st.next`, sealing the current one.
    pub(crate) fn roll(&self, st: &mut State) -> Result<()> {
        self.flush_locked(st)?;
        // A sealed segment ends where its data does: recovery reads zeros
        // after the data of any segment but the last as damage. The next
        // sync makes the new length durable with the segment's data,
        // before any record of the new segment is acknowledged.
        crate::prezero::trim(&mut st.active).inspect_err(|e| self.poison(st, e))?;
        let first = st.next;
        let (file, path) = self
            .create_segment_file(first)
            .inspect_err(|e| self.poison(st, e))?;
        // Syncing the new file and the directory here would stall the
        // appender behind the write-back of the segment just filled; the
        // next sync (which precedes any acknowledgment of a record in the
        // new segment) does it instead. Until then a crash may leave the
        // file missing or its header torn: recovery treats either as a
        // torn tail, since nothing in it can have been acknowledged.
        st.rolls += 1;
        let old = std::mem::replace(
            &mut st.active,
            Active::new(
                first,
                first,
                Vec::new(),
                SEGMENT_HEADER_LEN as u64,
                path,
                file,
            ),
        );

        let sealed = Arc::new(Sealed {
            first: old.first,
            base: old.base,
            end: first,
            data_end: old.written,
            path: old.path,
            file: old.file,
            index_file: Mutex::new(None),
            point_lookups: AtomicU64::new(0),
        });
        relock(self.index_cache.lock()).insert(old.first, old.offsets.into());
        st.sealed.push(sealed.clone());
        // The next sync (a group-commit leader, `Log::sync`, the interval
        // timer) makes it durable and then has its index written. Under
        // `SyncPolicy::Never` nothing forces that: the OS writes it back at
        // its pace, and until a sync the segment counts as unsealed tail.
        st.unsynced.push(sealed);
        Ok(())
    }

    /// Creates a segment file starting at `first`, with its header, durably
    /// (file and directory entry).
    pub(crate) fn create_segment(&self, first: u64) -> Result<(Arc<dyn FsFile>, PathBuf)> {
        let (file, path) = self.create_segment_file(first)?;
        self.file_syncs.sync_data(&file, &path)?;
        self.sync_dir()?;
        Ok((file, path))
    }

    /// Creates a segment file starting at `first` and writes its header,
    /// without making either durable.
    fn create_segment_file(&self, first: u64) -> Result<(Arc<dyn FsFile>, PathBuf)> {
        let path = self.segment_path(first);
        let file = self
            .fs
            .open(&path, OpenMode::CreateNew)
            .map_err(|e| Error::io("create", &path, e))?;
        let header = segment::encode_segment_header(&self.log_id, first);
        if self.opts.mmap_reads {
            file.map_reads(self.opts.segment_size);
        }
        file.write_all_at(&[IoSlice::new(&header)], 0)
            .map_err(|e| Error::io("write", &path, e))?;
        Ok((file, path))
    }

    /// Syncs the sealed segments, then the active one.
    fn sync_files(
        &self,
        sealed: &[Arc<Sealed>],
        active: &(Arc<dyn FsFile>, PathBuf),
    ) -> Result<()> {
        for s in sealed {
            self.file_syncs.sync_data(&s.file, &s.path)?;
        }
        self.file_syncs.sync_data(&active.0, &active.1)
    }

    /// Makes the log directory's entries durable.
    pub(crate) fn sync_dir(&self) -> Result<()> {
        self.fs
            .sync_dir(&self.dir)
            .map_err(|e| Error::io("fsync", &self.dir, e))
    }

    /// Makes the segments created since the last sync (their names and
    /// headers) durable, for changes that must not point into a segment
    /// that a crash could take away: the first position of
    /// `truncate_front`, the cut of `truncate_back`. Their records are not
    /// counted as synced by this.
    pub(crate) fn sync_new_segments(&self, st: &mut State) -> Result<()> {
        if st.rolls == st.rolls_synced {
            return Ok(());
        }
        // The segments those rolls created are the newest ones: the active
        // one and the sealed ones before it. (Not `unsynced`: a leader
        // whose sync is still in flight has taken them from it.)
        let active = (st.active.file.clone(), st.active.path.clone());
        let rolled = (st.rolls - st.rolls_synced).saturating_sub(1);
        let from = st.sealed.len().saturating_sub(rolled as usize);
        let r = self
            .sync_files(&st.sealed[from..], &active)
            .and_then(|()| self.sync_dir());
        match r {
            Ok(()) => {
                st.rolls_synced = st.rolls;
                Ok(())
            }
            Err(e) => {
                self.poison(st, &e);
                Err(e)
            }
        }
    }

    /// Hands a job to the background thread. Once the log is closed there
    /// is none, and the job is dropped: a missing index is rebuilt and dead
    /// segments are removed at the next open, so nothing is lost. (Running
    /// it here instead could deadlock: callers may hold the state lock.)
    pub(crate) fn submit(&self, job: Job) {
        let guard = relock(self.jobs.lock());
        if let Some(tx) = &*guard {
            *relock(self.pending_jobs.lock()) += 1;
            if tx.send(job).is_err() {
                let mut n = relock(self.pending_jobs.lock());
                *n = n.saturating_sub(1);
            }
        }
    }

    /// Runs one background job, then counts it done (also if it panics:
    /// `wait_jobs` must not wait for it forever).
    pub(crate) fn run_job(&self, job: Job) {
        struct Done<'a>(&'a Shared);
        impl Drop for Done<'_> {
            fn drop(&mut self) {
                let mut n = relock(self.0.pending_jobs.lock());
                *n = n.saturating_sub(1);
                self.0.jobs_cv.notify_all();
            }
        }
        let _done = Done(self);
        match job {
            Job::Seal(seg, needs_sync) => self.seal(&seg, needs_sync),
            Job::Reclaim(r) => self.reclaim(r),
            Job::Prezero => self.prezero(),
        }
    }

    /// Stops the background thread after the jobs already queued.
    pub(crate) fn stop_background(&self) {
        relock(self.jobs.lock()).take();
        let handle = relock(self.bg_thread.lock()).take();
        if let Some(h) = handle {
            if h.thread().id() != thread::current().id() {
                let _ = h.join();
            }
        }
    }

    /// Waits until every submitted background job has run.
    pub(crate) fn wait_jobs(&self) {
        let mut n = relock(self.pending_jobs.lock());
        while *n > 0 {
            n = relock(self.jobs_cv.wait(n));
        }
    }

    fn seal(&self, seg: &Arc<Sealed>, needs_sync: bool) {
        if needs_sync {
            if let Err(err) = self.file_syncs.sync_data(&seg.file, &seg.path) {
                let mut st = self.lock_state();
                self.poison(&mut st, &err);
                return;
            }
        }
        let meta = {
            let mut st = self.lock_state();
            if st.poisoned.is_some() {
                // A sync of the log's files failed. This segment's sync may
                // have returned success all the same (the kernel reports a
                // write-back error once per file), so no index vouches for
                // it: the next open scans it.
                return;
            }
            st.unsynced.retain(|s| !Arc::ptr_eq(s, seg));
            if !st.sealed.iter().any(|s| Arc::ptr_eq(s, seg)) {
                // Truncated away (or reopened for appends) meanwhile; the
                // index's rename checks again.
                return;
            }
            st.meta
        };
        // The index is only a cache of what the segment says; a failure to
        // write it costs a rebuild later, never data. It is written only
        // now that the segment is durable, so that a segment with an index
        // is never a torn one.
        let _ = self.write_index(seg, &meta);
    }

    fn reclaim(&self, r: Reclaim) {
        // Failures here leave dead bytes on disk, never wrong data: the
        // durable first position already excludes them, and the next open
        // removes dead segments again.
        let mut removed = false;
        for path in &r.remove {
            removed |= self.fs.remove_file(path).is_ok();
        }
        if removed {
            let _ = self.fs.sync_dir(&self.dir);
        }
        if let Some((file, _path, start, end)) = r.punch {
            if start < end {
                let _ = file.punch_hole(start, end - start);
            }
        }
    }
}
