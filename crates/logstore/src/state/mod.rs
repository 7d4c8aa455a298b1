//! The state shared by a [`crate::Log`] handle, its readers and its
//! background thread.
//!
//! [`State`] is what the state lock guards. It is made of parts, each
//! owned by a module that keeps its invariants behind methods (their
//! fields are private):
//! - [`Segments`] (`segments`): the sealed segments, the active one, the
//!   write buffer, and the readable positions `first..next`.
//! - [`GroupCommit`] (`group`): what is durable, the sync in flight, the
//!   sealed segments and rolls no sync covered, the truncation epoch.
//! - [`ZeroJobs`] and the active segment's [`zeros::Zeros`] (`zeros`): the
//!   zeros written ahead of the data.
//! - The meta file's content and the lifecycle (poisoned, closing,
//!   closed), here.

mod group;
mod segments;
pub(crate) mod zeros;

use std::path::PathBuf;
use std::sync::Arc;

pub(crate) use group::{GroupCommit, Published};
pub(crate) use segments::{Active, Sealed, SegmentSummary, Segments};
pub(crate) use zeros::ZeroJobs;

use crate::error::{Error, ErrorKind, Result};
use crate::file_syncs::FileSyncs;
use crate::fs::{Fs, FsFile, FsLock, OpenMode};
use crate::header::LogId;
use crate::index::Indexes;
use crate::meta::Meta;
use crate::options::Options;
use crate::segment::{self, SEGMENT_HEADER_LEN};
use crate::sync::atomic::{AtomicU64, AtomicUsize};
use crate::sync::{thread, Condvar, Mutex, MutexGuard};
use crate::RecoveryReport;

/// Whether a log still takes writes.
#[derive(Debug, Default)]
struct Lifecycle {
    /// Why the log refuses writes until reopened, after a failure.
    poisoned: Option<String>,
    /// `close` has begun: calls that start now are refused as on a closed
    /// log, so that the sync of `close` covers every record acknowledged.
    closing: bool,
    closed: bool,
}

#[derive(Debug)]
pub(crate) struct State {
    /// The meta file's content: replaced only once the file is.
    meta: Meta,
    life: Lifecycle,
    pub(crate) segs: Segments,
    pub(crate) group: GroupCommit,
    pub(crate) zero_jobs: ZeroJobs,
}

impl State {
    pub(crate) fn new(meta: Meta, segs: Segments, group: GroupCommit) -> Self {
        State {
            meta,
            life: Lifecycle::default(),
            segs,
            group,
            zero_jobs: ZeroJobs::default(),
        }
    }

    pub(crate) fn meta(&self) -> Meta {
        self.meta
    }

    /// Takes `meta` once the meta file holds it durably.
    pub(crate) fn meta_written(&mut self, meta: Meta) {
        self.meta = meta;
    }

    pub(crate) fn first(&self) -> u64 {
        self.segs.first()
    }

    pub(crate) fn next(&self) -> u64 {
        self.segs.next()
    }

    pub(crate) fn synced(&self) -> u64 {
        self.group.synced()
    }

    pub(crate) fn is_poisoned(&self) -> bool {
        self.life.poisoned.is_some()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.life.closed
    }

    /// `close` begins: calls that start from now on are refused.
    pub(crate) fn begin_close(&mut self) {
        self.life.closing = true;
    }

    pub(crate) fn set_closed(&mut self) {
        self.life.closed = true;
    }
}

/// Whether a sealed segment's data is known durable when its seal job runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SealSync {
    /// A sync covered it: the job writes its index.
    Synced,
    /// It may not be durable (found so at open): the job syncs it first.
    Needed,
}

/// Work for the background thread.
#[derive(Debug)]
pub(crate) enum Job {
    /// Write the index of a sealed segment. (An index marks a segment as
    /// durable: recovery trusts indexed segments without scanning them.)
    Seal(Arc<Sealed>, SealSync),
    /// Release space: remove whole segments, punch a dead prefix.
    Reclaim(Reclaim),
    /// Write zeros ahead of the active segment's data.
    Prezero,
}

/// Space to give back after a truncation.
#[derive(Debug, Default)]
pub(crate) struct Reclaim {
    pub remove: Vec<PathBuf>,
    pub punch: Option<Punch>,
}

/// A dead range of a segment file, `[start, end)`, to punch out.
#[derive(Debug)]
pub(crate) struct Punch {
    pub file: Arc<dyn FsFile>,
    pub start: u64,
    pub end: u64,
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
    /// The outcome of the latest sync.
    pub published: Published,
    /// Tailing readers wait here for new records.
    pub appended_cv: Condvar,
    /// Appenders wait here for the background thread to finish writing
    /// zeros where their records would go.
    pub zeroed_cv: Condvar,
    pub tail_waiters: AtomicUsize,
    /// Mirror of the first position, for readers' cheap checks.
    pub first_hint: AtomicU64,
    /// Bumped (under the state lock) by every change that may put other
    /// records at positions a reader has already looked up: `truncate_back`,
    /// and a read-only handle's rebuilt view. An iterator drops what it read
    /// ahead when this moved.
    pub rewrites: AtomicU64,
    /// The sealed segments' index files and the cache of their offsets.
    pub indexes: Indexes,
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

pub(crate) fn relock<T>(r: std::sync::LockResult<T>) -> T {
    // Poisoning of these mutexes only follows a panic elsewhere; the state
    // they guard is kept consistent at every unlock, so carry on.
    r.unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    /// The shared state of the log in `dir`, as recovery found it.
    pub(crate) fn new(
        dir: PathBuf,
        opts: Options,
        log_id: LogId,
        state: State,
        report: RecoveryReport,
        lock: Option<Box<dyn FsLock>>,
    ) -> Self {
        let first = state.first();
        let fs = opts.fs.clone();
        Shared {
            indexes: Indexes::new(fs.clone(), dir.clone(), log_id, opts.index_cache_bytes),
            dir,
            fs,
            log_id,
            state: Mutex::new(state),
            lead_cv: Condvar::new(),
            published: Published::default(),
            appended_cv: Condvar::new(),
            zeroed_cv: Condvar::new(),
            tail_waiters: AtomicUsize::new(0),
            first_hint: AtomicU64::new(first),
            rewrites: AtomicU64::new(0),
            file_syncs: FileSyncs::default(),
            jobs: Mutex::new(None),
            bg_thread: Mutex::new(None),
            pending_jobs: Mutex::new(0),
            jobs_cv: Condvar::new(),
            report: Mutex::new(report),
            lock: Mutex::new(lock),
            opts,
        }
    }

    pub(crate) fn lock_state(&self) -> MutexGuard<'_, State> {
        relock(self.state.lock())
    }

    /// Waits, without the state lock, until the sync in flight has ended
    /// (or the log changed under it), then takes the lock again.
    pub(crate) fn wait_sync_end<'a>(&'a self, st: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        let seen = self.published.generation();
        drop(st);
        drop(self.published.after(seen));
        self.lock_state()
    }

    pub(crate) fn segment_path(&self, first: u64) -> PathBuf {
        self.dir.join(segment::segment_name(first))
    }

    pub(crate) fn index_path(&self, first: u64) -> PathBuf {
        self.indexes.path(first)
    }

    /// The error of any call on a closed log.
    pub(crate) fn closed_error(&self) -> Error {
        Error::new(ErrorKind::Closed, "log is closed").with_path(&self.dir)
    }

    /// Refuses writes on a read-only, closed or poisoned log, and a call
    /// that starts once `close` has begun.
    pub(crate) fn check_writable(&self, st: &State) -> Result<()> {
        if st.life.closing {
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
        if st.life.closed {
            return Err(self.closed_error());
        }
        if let Some(why) = &st.life.poisoned {
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
        if st.life.poisoned.is_none() {
            st.life.poisoned = Some(err.to_string());
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
        self.published.publish(&st.group);
        self.lead_cv.notify_all();
        self.zeroed_cv.notify_all();
    }

    /// Frames a sync mark into the write buffer, at the data's end,
    /// vouching for every position below `synced`: each sync's
    /// durability is so recorded by the next append, at no cost of its
    /// own, and recovery can tell damage to acknowledged records from a
    /// torn tail (docs/DESIGN.md, "Sync marks"). Only when `synced` moved
    /// since the last mark: at most one mark per sync.
    pub(crate) fn write_mark(&self, st: &mut State) {
        if let Some(upto) = st.group.take_mark() {
            let at = st.segs.data_end();
            st.segs.push_framed(&crate::frame::encode_mark(at, upto));
        }
    }

    /// At a clean close, once everything is synced: writes a sync mark
    /// vouching for every record and syncs it, so that the next open knows
    /// that all of the data is acknowledged (damage anywhere in it is then
    /// corruption, never a torn tail).
    pub(crate) fn write_close_mark(&self, st: &mut State) -> Result<()> {
        let next = st.next();
        if !st.group.close_mark_due(next) || !st.segs.buf().is_empty() {
            return Ok(());
        }
        let mark = crate::frame::encode_mark(st.segs.data_end(), next);
        let a = st.segs.active();
        let (file, path) = (a.file.clone(), a.path.clone());
        let r = st
            .segs
            .write_direct(&mark)
            .map_err(|e| Error::io("write", &path, e))
            .and_then(|()| self.file_syncs.sync_data(&file, &path));
        if let Err(e) = r {
            self.poison(st, &e);
            return Err(e);
        }
        st.group.vouch_all(next);
        Ok(())
    }

    /// At a clean close, after [`Shared::write_close_mark`]: writes the
    /// active segment's index, durably. It records where the segment's
    /// data ended, so that the next open can tell a segment that lost
    /// bytes from its end (corruption) from one that was never longer,
    /// and every byte before that end was synced. It stays true as
    /// appends make the segment longer; whatever shortens the segment
    /// removes it (durably) first.
    pub(crate) fn write_close_index(&self, st: &State) -> Result<()> {
        let a = st.segs.active();
        if st.synced() < st.next() || !st.segs.buf().is_empty() {
            return Ok(());
        }
        let bytes = crate::index::encode(&self.log_id, a.first, a.base, a.offsets(), a.written());
        let name = segment::index_name(a.first);
        let tmp = format!("{name}.tmp");
        crate::meta::replace_file(self.log_dir(), &tmp, &name, &bytes)
    }

    /// Removes the index file of the active segment, if there is one (left
    /// by a clean close), and makes that durable: before a change that
    /// shortens the segment, which the index would otherwise report as
    /// damage.
    pub(crate) fn drop_active_index(&self, st: &State) -> Result<()> {
        let path = self.index_path(st.segs.active().first);
        match self.fs.remove_file(&path) {
            Ok(()) => self.sync_dir(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove", &path, e)),
        }
    }

    /// Writes the buffer to the active segment file.
    pub(crate) fn flush_locked(&self, st: &mut State) -> Result<()> {
        if let Err(e) = st.segs.flush() {
            let err = Error::io("write", &st.segs.active().path, e);
            self.poison(st, &err);
            return Err(err);
        }
        Ok(())
    }

    /// The record offsets of a sealed segment: from the cache, its index
    /// file, or failing those a scan of the segment.
    pub(crate) fn load_index(&self, seg: &Sealed, meta: &Meta) -> Result<Arc<[u64]>> {
        self.indexes.load(&seg.extent(), || {
            seg.rebuild_offsets(meta, self.opts.max_record_size)
        })
    }

    /// Starts a new active segment at the next position, sealing the
    /// current one.
    pub(crate) fn roll(&self, st: &mut State) -> Result<()> {
        self.flush_locked(st)?;
        // A sealed segment ends where its data does: recovery reads zeros
        // after the data of any segment but the last as damage. The next
        // sync makes the new length durable with the segment's data,
        // before any record of the new segment is acknowledged.
        st.segs.trim_zeros().inspect_err(|e| self.poison(st, e))?;
        let first = st.next();
        let (file, path) = self
            .create_segment_file(first)
            .inspect_err(|e| self.poison(st, e))?;
        // Syncing the new file and the directory here would stall the
        // appender behind the write-back of the segment just filled; the
        // next sync (which precedes any acknowledgment of a record in the
        // new segment) does it instead. Until then a crash may leave the
        // file missing or its header torn: recovery treats either as a
        // torn tail, since nothing in it can have been acknowledged.
        let fresh = Active::new(
            first,
            first,
            Vec::new(),
            SEGMENT_HEADER_LEN as u64,
            path,
            file,
        );
        let (sealed, offsets) = st.segs.roll(fresh);
        self.indexes.insert(sealed.first, offsets.into());
        // The next sync (a group-commit leader, `Log::sync`, the interval
        // timer) makes it durable and then has its index written. Under
        // `SyncPolicy::Never` nothing forces that: the OS writes it back at
        // its pace, and until a sync the segment counts as unsealed tail.
        st.group.rolled(sealed);
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
        file.write_all_at(&[std::io::IoSlice::new(&header)], 0)
            .map_err(|e| Error::io("write", &path, e))?;
        Ok((file, path))
    }

    /// Syncs the sealed segments, then the active one.
    pub(crate) fn sync_files(
        &self,
        sealed: &[Arc<Sealed>],
        active: &(Arc<dyn FsFile>, PathBuf),
    ) -> Result<()> {
        for s in sealed {
            self.file_syncs.sync_data(&s.file, &s.path)?;
        }
        self.file_syncs.sync_data(&active.0, &active.1)
    }

    /// The log's directory, its syncs counted by the ledger.
    pub(crate) fn log_dir(&self) -> crate::file_syncs::LogDir<'_> {
        crate::file_syncs::LogDir::open(&*self.fs, &self.dir, &self.file_syncs)
    }

    /// Makes the log directory's entries durable.
    pub(crate) fn sync_dir(&self) -> Result<()> {
        self.file_syncs.sync_dir(&*self.fs, &self.dir)
    }

    /// Makes the segments created since the last sync (their names and
    /// headers) durable, for changes that must not point into a segment
    /// that a crash could take away: the first position of
    /// `truncate_front`, the cut of `truncate_back`. Their records are not
    /// counted as synced by this.
    pub(crate) fn sync_new_segments(&self, st: &mut State) -> Result<()> {
        let rolled = match st.group.unsynced_rolls() {
            Some(rolled) => rolled,
            None if st.group.found_unsynced().is_empty() => return Ok(()),
            None => 0,
        };
        // The segments those rolls created are the newest ones: the active
        // one and the sealed ones before it. (Not the unsynced list: a
        // leader whose sync is still in flight has taken them from it.)
        // And the sealed ones found at open that no sync has covered: a
        // crash could take them away too (their records never counted
        // durable, but a first position or a cut must not point there).
        let a = st.segs.active();
        let active = (a.file.clone(), a.path.clone());
        let sealed = st.segs.sealed();
        let from = sealed.len().saturating_sub(rolled);
        let newest = &sealed[from..];
        let mut segs: Vec<Arc<Sealed>> = st
            .group
            .found_unsynced()
            .iter()
            .filter(|f| !newest.iter().any(|s| Arc::ptr_eq(s, f)))
            .cloned()
            .collect();
        segs.extend(newest.iter().cloned());
        let r = self
            .sync_files(&segs, &active)
            .and_then(|()| self.sync_dir());
        match r {
            Ok(()) => {
                st.group.rolls_synced();
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
                self.job_done();
            }
        }
    }

    /// Counts a submitted job done.
    pub(crate) fn job_done(&self) {
        let mut n = relock(self.pending_jobs.lock());
        *n = n.saturating_sub(1);
        self.jobs_cv.notify_all();
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
}
