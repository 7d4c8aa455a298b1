//! The public handle.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::durable::{Call, Durable, Notices, Slot};
use crate::error::{Error, ErrorKind, Result};
use crate::fs::OpenMode;
use crate::meta_repair::MetaRepair;
use crate::options::Options;
use crate::reader::{out_of_range, truncated, Iter};
use crate::recovery::{self, RecoveryReport};
use crate::state::SegmentSummary;
use crate::state::Shared;
use crate::verify::{self, VerifyReport};

/// An open log: an ordered sequence of records, each at a `u64` position.
///
/// `Log` is `Send + Sync`; share it between threads with an `Arc`. See the
/// crate documentation for the durability guarantees.
#[derive(Debug)]
pub struct Log {
    shared: Arc<Shared>,
    notices: Arc<Notices>,
}

/// Figures about a log, from [`Log::stats`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// The oldest position kept.
    pub first_position: u64,
    /// The position the next append will get.
    pub next_position: u64,
    /// Records kept (`next_position - first_position`).
    pub records: u64,
    /// Bytes of the kept records' frames (headers included).
    pub retained_bytes: u64,
    /// Bytes the log's files occupy on disk (allocated blocks): segments,
    /// indexes and the meta file.
    pub disk_bytes: u64,
    /// One entry per segment file, oldest first.
    pub segments: Vec<SegmentStats>,
}

/// One segment's figures.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SegmentStats {
    /// The segment file.
    pub path: PathBuf,
    /// First kept position in it.
    pub first_position: u64,
    /// Position after its last record.
    pub end_position: u64,
    /// Bytes of its kept records' frames.
    pub retained_bytes: u64,
    /// Bytes the segment file (and its index, if any) occupy on disk.
    pub disk_bytes: u64,
}

impl Log {
    /// Opens the log in `dir`, creating it if `options` allow (the default).
    ///
    /// Opening recovers from a crash: a torn tail is cut off and reported
    /// in [`Log::recovery_report`].
    ///
    /// # Errors
    /// [`ErrorKind::Locked`] if another handle holds the directory for
    /// writing; [`ErrorKind::Corruption`] if files are damaged outside the
    /// unsealed tail (unless [`crate::Recovery::Tolerant`]);
    /// [`ErrorKind::InvalidArgument`] for bad options; [`ErrorKind::Io`].
    /// Nothing is changed on disk when opening fails, except a directory
    /// created for a new log.
    pub fn open(dir: impl AsRef<Path>, options: Options) -> Result<Log> {
        Ok(Log {
            shared: recovery::open(dir.as_ref(), options)?,
            notices: Arc::default(),
        })
    }

    /// Rebuilds the meta file of the log in `dir` if it is damaged or
    /// missing (while segments exist), which makes the log unopenable; with
    /// `write` false, only says what it would write. `Ok(None)` if the meta
    /// file is intact (or there is no log).
    ///
    /// The log's identity is taken from the segment headers; the first
    /// position is that of the first record still on disk: after the
    /// punched-out front of the last segment that has one, else in the
    /// first segment. Records dropped by a `truncate_front` whose bytes had not
    /// been given back yet may thus reappear; no kept record is lost. The
    /// damaged file is replaced, not kept: copy it first to keep it.
    ///
    /// # Errors
    /// [`ErrorKind::Locked`] (with `write`) if a writer holds the log;
    /// [`ErrorKind::Corruption`] if the segments cannot tell (the first
    /// one's header is damaged too, or they belong to different logs);
    /// [`ErrorKind::Io`].
    pub fn repair_meta(
        dir: impl AsRef<Path>,
        options: Options,
        write: bool,
    ) -> Result<Option<MetaRepair>> {
        crate::meta_repair::repair(dir.as_ref(), &options, write)
    }

    /// The directory of the log.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Appends one record (1 byte to `max_record_size`) and returns its
    /// position. Under [`crate::SyncPolicy::Always`] it returns once the
    /// record is durable.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] for an empty or oversize record
    /// (nothing is written); [`ErrorKind::OutOfRange`] if no position is
    /// left for it (after `truncate_front` to the end of the `u64` range;
    /// nothing is written); [`ErrorKind::Poisoned`] after an earlier write
    /// or sync failure; [`ErrorKind::Io`] if this write or sync fails (the
    /// log is then poisoned: the record may or may not be found after
    /// reopening, and no later write is accepted until then).
    pub fn append(&self, record: &[u8]) -> Result<u64> {
        Ok(crate::commit::append_records(&self.shared, &[record])?.start)
    }

    /// Appends records as one batch: consecutive positions, and after a
    /// crash either all of them are found or none.
    ///
    /// # Errors
    /// As [`Log::append`]; one bad record refuses the whole batch.
    pub fn append_batch<R: AsRef<[u8]>>(&self, records: &[R]) -> Result<Range<u64>> {
        let refs: Vec<&[u8]> = records.iter().map(|r| r.as_ref()).collect();
        crate::commit::append_records(&self.shared, &refs)
    }

    /// Appends one record without waiting for it to be durable, whatever
    /// the sync policy, and returns its position. Learn of its durability
    /// with [`Log::durable_position`], [`Log::wait_durable`] or
    /// [`Log::durable`], or append with [`Log::submit_batch_then`] instead.
    ///
    /// Under [`crate::SyncPolicy::Always`] (and `Bytes` past its limit) a
    /// thread of the log's syncs it soon, in one group commit with every
    /// other append; under `Never` and `Interval` the policy's own syncs
    /// (or a notice's) make it durable.
    ///
    /// # Errors
    /// As [`Log::append`], but for the sync, whose failure reaches the
    /// durability notices instead (and poisons the log).
    pub fn submit(&self, record: &[u8]) -> Result<u64> {
        Ok(self.submit_refs(&[record])?.positions.start)
    }

    /// Appends records as one batch, as [`Log::append_batch`], without
    /// waiting for them to be durable: see [`Log::submit`].
    ///
    /// # Errors
    /// As [`Log::submit`].
    pub fn submit_batch<R: AsRef<[u8]>>(&self, records: &[R]) -> Result<Range<u64>> {
        let refs: Vec<&[u8]> = records.iter().map(|r| r.as_ref()).collect();
        Ok(self.submit_refs(&refs)?.positions)
    }

    /// Appends records as one batch without waiting, and calls `on_durable`
    /// once they are durable, with their positions, or with the error that
    /// means they may not be: a failed sync (the log is then poisoned), or
    /// a close or drop of the log before they were synced.
    ///
    /// `on_durable` runs exactly once for every call that returns `Ok`
    /// (never for one that returns an error), on a thread of the log's,
    /// outside every lock of the engine; it may call the log, and a slow
    /// one delays only the callbacks after it, never a sync. Callbacks run
    /// in the order their records became durable. If `truncate_back`
    /// removes the records before a sync covers them, `on_durable` gets
    /// `Ok`: their removal is durable, as for [`Log::append`]. The records
    /// are synced soon (a notice asks for it whatever the sync policy),
    /// in one group commit with every other append.
    ///
    /// # Errors
    /// As [`Log::submit`]; `on_durable` is then dropped without running.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// let log = logstore::Log::open(dir.path(), logstore::Options::default())?;
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// let positions = log.submit_batch_then(&[b"one", b"two"], move |r| tx.send(r).unwrap())?;
    /// assert_eq!(rx.recv().unwrap()?, positions);
    /// assert!(log.durable_position() >= positions.end);
    /// # Ok::<(), logstore::Error>(())
    /// ```
    pub fn submit_batch_then<R, F>(&self, records: &[R], on_durable: F) -> Result<Range<u64>>
    where
        R: AsRef<[u8]>,
        F: FnOnce(Result<Range<u64>>) + Send + 'static,
    {
        let refs: Vec<&[u8]> = records.iter().map(|r| r.as_ref()).collect();
        let sub = self.submit_refs(&refs)?;
        let positions = sub.positions.clone();
        self.notify_durable(&sub, move |r| on_durable(r.map(|()| positions)));
        Ok(sub.positions)
    }

    /// Appends records as one batch without waiting, for a caller that
    /// registers its notice with [`Log::notify_durable`] later (outside a
    /// lock of its own, since a notice may run at once).
    pub(crate) fn submit_noticed(&self, records: &[Vec<u8>]) -> Result<crate::commit::Submitted> {
        let refs: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
        self.submit_refs(&refs)
    }

    /// Calls `on_durable` once the records `sub` submitted (and every one
    /// before them) are durable, as [`Log::submit_batch_then`] does; on
    /// this thread if they are already, or if the log is closing.
    pub(crate) fn notify_durable(
        &self,
        sub: &crate::commit::Submitted,
        on_durable: impl FnOnce(Result<()>) + Send + 'static,
    ) {
        let call = Call::User(Box::new(on_durable));
        self.notices
            .notify(&self.shared, sub.positions.end, sub.epoch, call);
    }

    fn submit_refs(&self, refs: &[&[u8]]) -> Result<crate::commit::Submitted> {
        let sub = crate::commit::submit_records(&self.shared, refs)?;
        if sub.wants_sync {
            self.notices.request(&self.shared, sub.positions.end);
        }
        Ok(sub)
    }

    /// Every position below this one is durable: it survives a crash.
    /// (On a read-only handle: every position it has seen.)
    pub fn durable_position(&self) -> u64 {
        self.shared.lock_state().synced()
    }

    /// Blocks until the record at `position` (and every one before it) is
    /// durable, or `timeout` passes (`None`: no limit); returns whether it
    /// is. It asks for a sync if none is coming. `Ok(true)` also if
    /// `truncate_back` removed the record meanwhile (its removal is
    /// durable).
    ///
    /// # Errors
    /// [`ErrorKind::OutOfRange`] if `position` was not appended yet;
    /// [`ErrorKind::Io`] or [`ErrorKind::Poisoned`] if a sync failed (the
    /// record may be lost in a crash); [`ErrorKind::Closed`] if the log was
    /// closed before the record was synced; [`ErrorKind::ReadOnly`].
    pub fn wait_durable(&self, position: u64, timeout: Option<Duration>) -> Result<bool> {
        match self.durable_slot(position).wait(timeout) {
            Some(r) => r.map(|()| true),
            None => Ok(false),
        }
    }

    /// A future that completes once the record at `position` (and every
    /// one before it) is durable, with the outcome [`Log::wait_durable`]
    /// would return. It needs no particular async runtime: the log's sync
    /// wakes it. The sync is asked for when this is called, whether or not
    /// the future is ever polled.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// let log = logstore::Log::open(dir.path(), logstore::Options::default())?;
    /// let p = log.submit(b"record")?;
    /// let durable = log.durable(p);
    /// // In async code: `durable.await?`.
    /// # drop(durable);
    /// # Ok::<(), logstore::Error>(())
    /// ```
    pub fn durable(&self, position: u64) -> Durable {
        Durable::new(self.durable_slot(position))
    }

    fn durable_slot(&self, position: u64) -> Arc<Slot> {
        let (epoch, next, first) = {
            let st = self.shared.lock_state();
            (st.group.epoch(), st.next(), st.first())
        };
        if position >= next {
            return Slot::filled_with(Err(Error::new(
                ErrorKind::OutOfRange,
                format!("position {position} was not appended yet (the log holds {first}..{next})"),
            )
            .at_position(position)));
        }
        let slot = Arc::new(Slot::default());
        self.notices
            .notify(&self.shared, position + 1, epoch, Call::Fill(slot.clone()));
        slot
    }

    /// The position the next append will get.
    pub fn next_position(&self) -> u64 {
        self.shared.lock_state().next()
    }

    /// The oldest position kept (equal to `next_position` when empty).
    pub fn first_position(&self) -> u64 {
        self.shared.lock_state().first()
    }

    /// Drops every record before `position`, durably, without copying
    /// anything. `position` may be past the end: the log is then empty and
    /// the next append gets `position`. Disk space is given back on a
    /// background thread unless [`Options::background_reclaim`] is off; see
    /// [`Log::wait_reclaimed`].
    ///
    /// # Errors
    /// [`ErrorKind::Io`] if the new first position could not be made
    /// durable (the log is then poisoned); nothing was dropped unless the
    /// error came after the meta file was renamed into place.
    pub fn truncate_front(&self, position: u64) -> Result<()> {
        crate::truncate::truncate_front(&self.shared, position)
    }

    /// Drops the records at `position` and after, durably: the next append
    /// gets `position`.
    ///
    /// # Errors
    /// [`ErrorKind::OutOfRange`] if `position` is before the first position
    /// (nothing changes); [`ErrorKind::Io`] (the log is then poisoned).
    pub fn truncate_back(&self, position: u64) -> Result<()> {
        crate::truncate::truncate_back(&self.shared, position)
    }

    /// Reads the record at `position` (an index lookup and one read).
    ///
    /// # Errors
    /// [`ErrorKind::Truncated`] before the first position,
    /// [`ErrorKind::OutOfRange`] at or after the next position,
    /// [`ErrorKind::Corruption`] if the stored record fails its checks.
    pub fn read(&self, position: u64) -> Result<Vec<u8>> {
        crate::reader::read_record(&self.shared, position)
    }

    /// Calls `f(position, record)` for each record from `from` on, in
    /// order, until the end of the log or until `f` returns `false`.
    /// Returns how many records were passed to `f`.
    ///
    /// # Errors
    /// [`ErrorKind::Truncated`] if `from` (or, while replaying, the next
    /// record) is before the first position; [`ErrorKind::OutOfRange`] if
    /// `from` is past the next position; [`ErrorKind::Corruption`].
    pub fn replay(&self, from: u64, mut f: impl FnMut(u64, &[u8]) -> bool) -> Result<u64> {
        self.check_start(from)?;
        let mut n = 0;
        Iter::new(self.shared.clone(), from).for_each_ref(|p, r| {
            n += 1;
            f(p, r)
        })?;
        Ok(n)
    }

    fn check_start(&self, from: u64) -> Result<()> {
        let st = self.shared.lock_state();
        if from < st.first() {
            return Err(truncated(from, st.first()));
        }
        if from > st.next() {
            return Err(out_of_range(from, st.first(), st.next()));
        }
        Ok(())
    }

    /// An iterator over `(position, record)` from `from` on. It follows
    /// appends made after its creation; [`Iter::next_timeout`] waits for
    /// them.
    pub fn iter(&self, from: u64) -> Iter {
        Iter::new(self.shared.clone(), from)
    }

    /// Blocks until a record exists at `position` or `timeout` passes
    /// (`None`: no limit). Returns whether it exists. On a read-only handle
    /// this polls the files.
    ///
    /// # Errors
    /// [`ErrorKind::Closed`] if the log is closed while waiting.
    pub fn wait_for(&self, position: u64, timeout: Option<Duration>) -> Result<bool> {
        crate::reader::wait_for(&self.shared, position, timeout)
    }

    /// Writes buffered records to the operating system (see
    /// [`Options::write_buffer`]), without syncing.
    ///
    /// # Errors
    /// [`ErrorKind::Io`] (the log is then poisoned).
    pub fn flush(&self) -> Result<()> {
        let mut st = self.shared.lock_state();
        self.shared.check_writable(&st)?;
        self.shared.flush_locked(&mut st)
    }

    /// Makes every record appended so far durable.
    ///
    /// # Errors
    /// [`ErrorKind::Io`] if the sync fails: the log is then poisoned, and
    /// the records since the last successful sync may be lost in a crash.
    pub fn sync(&self) -> Result<()> {
        let st = self.shared.lock_state();
        self.shared.check_writable(&st)?;
        let next = st.next();
        crate::commit::sync_through(&self.shared, st, next)
    }

    /// Appends records as one batch without waiting; also says whether the
    /// sync policy wants them synced before an append would return
    /// (`Always`, or `Bytes` past its limit). Unlike [`Log::submit`], it
    /// asks no thread for that sync: the caller makes it with
    /// [`Log::sync_to`], as an append does.
    pub(crate) fn submit_wanting(&self, records: &[Vec<u8>]) -> Result<(Range<u64>, bool)> {
        let refs: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
        let sub = crate::commit::submit_records(&self.shared, &refs)?;
        Ok((sub.positions, sub.wants_sync))
    }

    /// Makes the records below `end` durable, in one group commit with
    /// every other append (as [`Log::append`] does for its own).
    pub(crate) fn sync_to(&self, end: u64) -> Result<()> {
        crate::commit::sync_through(&self.shared, self.shared.lock_state(), end)
    }

    /// The first position of each segment file, oldest first; the last is
    /// the active segment's. A position belongs to the last segment whose
    /// first position is not after it.
    pub(crate) fn segment_firsts(&self) -> Vec<u64> {
        let st = self.shared.lock_state();
        let sealed = st.segs.sealed().iter().map(|s| s.first);
        sealed.chain([st.segs.active().first]).collect()
    }

    /// Durably replaces (or creates) the file `name` beside the log's own
    /// (a store's checkpoint): written aside, synced, renamed, and the
    /// directory synced.
    pub(crate) fn replace_side_file(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let tmp = format!("{name}.tmp");
        crate::meta::replace_file(self.shared.log_dir(), &tmp, name, bytes)
    }

    /// The bytes of the file `name` beside the log's own; `None` if there
    /// is none, or if it claims more bytes than `limit` or than the disk
    /// holds for it (a sparse file).
    pub(crate) fn read_side_file(&self, name: &str, limit: u64) -> Result<Option<Vec<u8>>> {
        let path = self.shared.dir.join(name);
        let file = match self.shared.fs.open(&path, OpenMode::Read) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("open", &path, e)),
        };
        let len = file.len().map_err(|e| Error::io("stat", &path, e))?;
        let held = file.allocated_bytes().unwrap_or(len);
        if len > limit || len > held.saturating_add(64 << 10) {
            return Ok(None);
        }
        let mut bytes = vec![0; len as usize];
        crate::fs::read_exact_at(&*file, &mut bytes, 0).map_err(|e| Error::io("read", &path, e))?;
        Ok(Some(bytes))
    }

    /// The first positions of the segments a store has an index file of
    /// beside the log's files, in order.
    pub(crate) fn store_indexes(&self) -> Result<Vec<u64>> {
        Ok(recovery::list(&*self.shared.fs, &self.shared.dir)?.store_indexes)
    }

    /// Removes the file `name` beside the log's own, if it is there. Not
    /// made durable: for a file that is only a shortcut, which a reader
    /// checks before it uses it.
    pub(crate) fn remove_side_file(&self, name: &str) -> Result<()> {
        let path = self.shared.dir.join(name);
        match self.shared.fs.remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove", &path, e)),
        }
    }

    /// Waits until the space released by earlier truncations has been given
    /// back to the file system.
    pub fn wait_reclaimed(&self) {
        self.shared.wait_jobs();
    }

    /// Flushes, syncs and closes the log, releasing the directory lock
    /// (once readers created from it are dropped too). Writes that start
    /// while it runs, and later calls, fail with [`ErrorKind::Closed`];
    /// appends already waiting for a sync when it starts share its sync.
    ///
    /// # Errors
    /// As [`Log::sync`]; the log is closed in any case.
    pub fn close(&self) -> Result<()> {
        let result = if self.shared.opts.read_only {
            Ok(())
        } else {
            // From here on no call starts a write (each fails as on a closed
            // log): every record acknowledged so far, or by an append already
            // waiting for a sync, is below `next`, and this sync covers it
            // before the log is marked closed.
            let mut st = self.shared.lock_state();
            match self.shared.check_live(&st) {
                Ok(()) => {
                    st.begin_close();
                    let next = st.next();
                    crate::commit::sync_through(&self.shared, st, next)
                }
                Err(e) => Err(e),
            }
        };
        {
            let mut st = self.shared.lock_state();
            st.set_closed();
            // The directory lock goes below, and with it the guarantee that
            // no other writer shortens a mapped file: unmap first.
            for s in st.segs.sealed() {
                s.file.unmap_reads();
            }
            st.segs.active().file.unmap_reads();
            self.shared.wake_waiters(&st);
        }
        // Every notice has its outcome now: durable by the sync above, or
        // the error that ended it.
        self.notices.stop();
        self.shared.appended_cv.notify_all();
        self.shared.stop_background();
        let result = result.and_then(|()| self.trim_zeros());
        self.shared
            .lock
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        match result {
            Err(e) if e.kind() == ErrorKind::Closed => Ok(()),
            other => other,
        }
    }

    /// Writes the closing sync mark (vouching for every record, now that
    /// all are synced) and cuts the zeros written ahead of the data off the
    /// active segment (see [`Options::preallocate`]), once the background
    /// thread is gone. The cut is not synced: if a crash brings the zeros
    /// back, the next open keeps them for appends, as it would have anyway.
    fn trim_zeros(&self) -> Result<()> {
        if self.shared.opts.read_only {
            return Ok(());
        }
        let mut st = self.shared.lock_state();
        if st.is_poisoned() {
            return Ok(());
        }
        self.shared.write_close_mark(&mut st)?;
        st.segs.trim_zeros()?;
        self.shared.write_close_index(&st)
    }

    /// What opening the log found and did.
    pub fn recovery_report(&self) -> RecoveryReport {
        self.shared
            .report
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Re-reads the directory so a read-only handle sees what the writer
    /// did since (appends, truncations). Does nothing on a writer.
    ///
    /// # Errors
    /// As [`Log::open`].
    pub fn refresh(&self) -> Result<()> {
        crate::follower::refresh(&self.shared)
    }

    /// Figures about the log and its files.
    ///
    /// # Errors
    /// [`ErrorKind::Io`] if a file cannot be examined.
    pub fn stats(&self) -> Result<Stats> {
        let sh = &self.shared;
        let st = sh.lock_state();
        let mut segments = Vec::new();
        for seg in SegmentSummary::all(&st.segs) {
            let (live_from, _) = st.meta().scan_start(seg.first);
            let mut disk = seg
                .file
                .allocated_bytes()
                .map_err(|e| Error::io("stat", &seg.path, e))?;
            if let Ok(idx) = sh.fs.open(&sh.index_path(seg.first), OpenMode::Read) {
                disk += idx.allocated_bytes().unwrap_or(0);
            }
            segments.push(SegmentStats {
                path: seg.path,
                first_position: st.first().max(seg.positions.start),
                end_position: seg.positions.end,
                retained_bytes: seg.data_end.saturating_sub(live_from),
                disk_bytes: disk,
            });
        }
        let meta_disk = sh
            .fs
            .open(&sh.dir.join(crate::meta::META_NAME), OpenMode::Read)
            .and_then(|f| f.allocated_bytes())
            .unwrap_or(0);
        Ok(Stats {
            first_position: st.first(),
            next_position: st.next(),
            records: st.next() - st.first(),
            retained_bytes: segments.iter().map(|s| s.retained_bytes).sum(),
            disk_bytes: segments.iter().map(|s| s.disk_bytes).sum::<u64>() + meta_disk,
            segments,
        })
    }

    /// Reads every kept record of every segment and checks its checksum,
    /// length, position and index entry. `progress(done, total)` is called
    /// with bytes as it goes.
    ///
    /// # Errors
    /// [`ErrorKind::Io`] if a file cannot be read; damage is reported in
    /// the [`VerifyReport`], not as an error.
    pub fn verify(&self, progress: impl FnMut(u64, u64)) -> Result<VerifyReport> {
        let sh = &self.shared;
        let (segments, meta) = {
            let mut st = sh.lock_state();
            if !sh.opts.read_only {
                sh.flush_locked(&mut st)?;
            }
            (SegmentSummary::all(&st.segs), st.meta())
        };
        verify::verify(sh, &meta, segments, progress)
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        // Notices still waiting get their sync (and outcome) first.
        self.notices.stop();
        // Best effort: buffered records reach the OS. Durability is for
        // `sync` and `close`, which report errors.
        if !self.shared.opts.read_only {
            let mut st = self.shared.lock_state();
            if !st.is_poisoned() && !st.is_closed() {
                let _ = self.shared.flush_locked(&mut st);
            }
        }
        self.shared.stop_background();
        self.shared.appended_cv.notify_all();
        // Readers may outlive the handle; the directory is free for a new
        // writer all the same.
        self.shared
            .lock
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
    }
}
