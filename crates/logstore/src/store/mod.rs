//! Many logs in one store: every log's records go to one shared [`Log`],
//! so appends to any of them share its writes, syncs and files.

mod catalog;
mod compact;
pub(crate) mod entry;

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind, Result};
use crate::log::Log;
use crate::options::Options;
use crate::reader::{out_of_range, truncated};
use catalog::{Catalog, LogState, Replay};
use entry::{Entry, RECORD_HEADER};

/// The largest state value of a log, in bytes.
pub const MAX_STATE_SIZE: usize = 64 << 10;

/// The least `max_record_size` of a store's shared log: room for a meta
/// entry with the largest state value.
const MIN_RECORD_LIMIT: usize = entry::META_HEADER + MAX_STATE_SIZE;

/// How a [`Store`] is opened.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    pub(crate) log: Options,
    pub(crate) compact_below: f64,
    pub(crate) background: bool,
    pub(crate) interval: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            log: Options::default(),
            compact_below: 0.5,
            background: true,
            interval: Duration::from_millis(100),
        }
    }
}

impl StoreOptions {
    /// The options of the shared log that holds every log's records: its
    /// sync policy applies to every log of the store, its maximum record
    /// size, less 17 bytes, to each record.
    pub fn log_options(mut self, options: Options) -> Self {
        self.log = options;
        self
    }

    /// Compaction copies the kept entries of a run of the oldest segments to
    /// the tail of the shared log, so that they can go, once they are fewer
    /// than this fraction of the run's entries (default 0.5; 0, or NaN,
    /// never copies). At 0.5 each byte copied frees at least one.
    pub fn compact_below(mut self, live_fraction: f64) -> Self {
        self.compact_below = match live_fraction.is_nan() {
            true => 0.0,
            false => live_fraction.clamp(0.0, 1.0),
        };
        self
    }

    /// Whether a thread of the store's gives space back (default on),
    /// at most every `interval` (at least a millisecond); off,
    /// [`Store::compact`] does.
    pub fn background_compaction(mut self, on: bool, interval: Duration) -> Self {
        self.background = on;
        self.interval = interval.max(Duration::from_millis(1));
        self
    }
}

/// Figures about a store, from [`Store::stats`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreStats {
    /// Logs in the store.
    pub logs: u64,
    /// Records kept, over every log.
    pub records: u64,
    /// The shared log's figures: its bytes kept and on disk.
    pub shared: crate::Stats,
    /// Bytes of records compaction copied since the store was opened.
    pub copied_bytes: u64,
    /// Bytes the shared log gave back since the store was opened (its
    /// retained bytes dropped by truncation).
    pub reclaimed_bytes: u64,
    /// Memory the in-memory index takes, roughly, in bytes.
    pub index_bytes: u64,
}

/// A store of many logs, each named by a `u64` id, in one directory.
///
/// Each log has the API of a [`Log`] (through [`StoreLog`]): its own
/// positions, appends, reads, truncations at both ends, and a small state
/// value. Every log's records go to one shared log, so appends to any of
/// them share writes and syncs (group commit), and the store keeps a fixed
/// number of files and threads whatever the number of logs.
///
/// ```
/// use logstore::{Store, StoreOptions, WriteBatch};
///
/// let dir = tempfile::tempdir().unwrap();
/// let store = Store::open(dir.path(), StoreOptions::default())?;
/// let a = store.create_log(1, 0)?;
/// let b = store.create_log(2, 100)?; // a log starts where its creator says
/// assert_eq!(a.append(b"x")?, 0);
/// assert_eq!(b.append(b"y")?, 100);
///
/// // Atomic across logs and state values: all of it, or none of it.
/// let mut batch = WriteBatch::new();
/// batch.append(1, b"a1").append(2, b"b1").set_state(1, b"vote=3");
/// assert_eq!(store.write(&batch)?, vec![1, 101]);
///
/// a.truncate_front(1)?;
/// assert_eq!(a.read(1)?, b"a1");
/// assert_eq!(a.state()?.as_deref(), Some(&b"vote=3"[..]));
/// drop(store);
/// let store = Store::open(dir.path(), StoreOptions::default())?;
/// assert_eq!(store.logs(), vec![1, 2]);
/// assert_eq!(store.log(2)?.read(101)?, b"b1");
/// # Ok::<(), logstore::Error>(())
/// ```
#[derive(Debug)]
pub struct Store {
    inner: Arc<Inner>,
    compactor: Option<JoinHandle<()>>,
}

/// One log of a [`Store`]: a cheap handle, valid while the store is open
/// and the log exists (calls fail with [`ErrorKind::Closed`] after the
/// store is closed or dropped, [`ErrorKind::OutOfRange`] after the log is
/// dropped).
#[derive(Clone, Debug)]
pub struct StoreLog {
    inner: Weak<Inner>,
    id: u64,
    incarnation: u64,
}

/// Appends and state values for any logs of a store, written atomically
/// by [`Store::write`].
#[derive(Clone, Debug, Default)]
pub struct WriteBatch {
    ops: Vec<BatchOp>,
}

#[derive(Clone, Debug)]
enum BatchOp {
    Append(u64, Vec<u8>),
    State(u64, Option<Vec<u8>>),
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `record` to log `log`.
    pub fn append(&mut self, log: u64, record: &[u8]) -> &mut Self {
        self.ops.push(BatchOp::Append(log, record.to_vec()));
        self
    }

    /// Replaces the state value of log `log`.
    pub fn set_state(&mut self, log: u64, value: &[u8]) -> &mut Self {
        self.ops.push(BatchOp::State(log, Some(value.to_vec())));
        self
    }

    /// Removes the state value of log `log`.
    pub fn clear_state(&mut self, log: u64) -> &mut Self {
        self.ops.push(BatchOp::State(log, None));
        self
    }
}

#[derive(Debug)]
struct Inner {
    shared: Log,
    catalog: Mutex<Catalog>,
    /// Notified when records are appended, for tail reads.
    appended: Condvar,
    /// Notified to stop the compaction thread, or to wake it early.
    wake: Condvar,
    stop: AtomicBool,
    /// Held by a compaction pass.
    compacting: Mutex<()>,
    max_record: usize,
    compact_below: f64,
    segment_size: u64,
    copied: AtomicU64,
    reclaimed: AtomicU64,
}

impl Store {
    /// Opens the store in `dir`, creating it if the log options allow (the
    /// default), and rebuilds its logs from the shared log.
    ///
    /// # Errors
    /// As [`Log::open`]; [`ErrorKind::Corruption`] if an entry is malformed
    /// or a kept record is missing.
    pub fn open(dir: impl AsRef<Path>, options: StoreOptions) -> Result<Store> {
        if options.log.max_record_size < MIN_RECORD_LIMIT {
            return Err(Error::invalid(format!(
                "a store needs a max_record_size of at least {MIN_RECORD_LIMIT} bytes (a \
                 {MAX_STATE_SIZE}-byte state value and its entry's header), not {}",
                options.log.max_record_size
            )));
        }
        let shared = Log::open(dir, options.log.clone())?;
        let mut replay = Replay::default();
        let mut bad = None;
        shared.replay(shared.first_position(), |at, b| {
            match entry::decode(at, b).and_then(|e| replay.apply(at, e)) {
                Ok(()) => true,
                Err(e) => {
                    bad = Some(e);
                    false
                }
            }
        })?;
        if let Some(e) = bad {
            return Err(e.with_path(shared.dir()));
        }
        let catalog = replay.finish().map_err(|e| e.with_path(shared.dir()))?;
        let inner = Arc::new(Inner {
            max_record: options.log.max_record_size - RECORD_HEADER,
            shared,
            catalog: Mutex::new(catalog),
            appended: Condvar::new(),
            wake: Condvar::new(),
            stop: AtomicBool::new(false),
            compacting: Mutex::new(()),
            compact_below: options.compact_below,
            segment_size: options.log.segment_size,
            copied: AtomicU64::new(0),
            reclaimed: AtomicU64::new(0),
        });
        let compactor = if options.background && !options.log.read_only {
            let bg = inner.clone();
            Some(
                std::thread::Builder::new()
                    .name("logstore-compact".into())
                    .spawn(move || compact::run(&bg, options.interval))
                    .map_err(|e| Error::io("spawn a thread for", inner.shared.dir(), e))?,
            )
        } else {
            None
        };
        Ok(Store { inner, compactor })
    }

    /// Creates log `id`, empty, its first record to get position `first`.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] if the log exists; as [`Log::append`].
    pub fn create_log(&self, id: u64, first: u64) -> Result<StoreLog> {
        let mut cat = self.inner.lock();
        if cat.logs.contains_key(&id) {
            return Err(Error::invalid(format!("store log {id} exists already")));
        }
        let at = self
            .inner
            .submit(&[entry::meta(id, first, first, None)])?
            .start;
        let incarnation = cat.insert(id, LogState::new(first, at));
        drop(cat);
        self.inner.shared.sync_to(at + 1)?;
        Ok(self.handle(id, incarnation))
    }

    /// The log `id`.
    ///
    /// # Errors
    /// [`ErrorKind::OutOfRange`] if there is no such log.
    pub fn log(&self, id: u64) -> Result<StoreLog> {
        let incarnation = self.inner.current(id)?;
        Ok(self.handle(id, incarnation))
    }

    fn handle(&self, id: u64, incarnation: u64) -> StoreLog {
        StoreLog {
            inner: Arc::downgrade(&self.inner),
            id,
            incarnation,
        }
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        self.inner.shared.dir()
    }

    /// The ids of every log, in increasing order.
    pub fn logs(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self.inner.lock().logs.keys().copied().collect();
        ids.sort_unstable();
        ids
    }

    /// Drops log `id` and every record of it, durably. Its space is given
    /// back by compaction.
    ///
    /// # Errors
    /// [`ErrorKind::OutOfRange`] if there is no such log; as [`Log::append`].
    pub fn drop_log(&self, id: u64) -> Result<()> {
        let mut cat = self.inner.lock();
        if !cat.logs.contains_key(&id) {
            return Err(no_log(id));
        }
        let at = self.inner.submit(&[entry::drop_log(id)])?.start;
        cat.logs.remove(&id);
        drop(cat);
        self.inner.appended.notify_all();
        self.inner.shared.sync_to(at + 1)
    }

    /// Writes the batch's appends and state values atomically: after a
    /// crash either all of them are found or none. Returns the position of
    /// each append, in the batch's order. Durable on return as an append
    /// is (under [`crate::SyncPolicy::Always`], or `Bytes` past its limit),
    /// and always if it sets a state value.
    ///
    /// # Errors
    /// [`ErrorKind::OutOfRange`] if a log does not exist,
    /// [`ErrorKind::InvalidArgument`] for an empty or oversize record or
    /// state value (nothing is written); as [`Log::append`].
    pub fn write(&self, batch: &WriteBatch) -> Result<Vec<u64>> {
        for op in &batch.ops {
            match op {
                BatchOp::Append(_, r) => self.inner.check_record(r)?,
                BatchOp::State(_, v) => check_state(v.as_deref())?,
            }
        }
        let mut cat = self.inner.lock();
        // Each log's next position as the batch goes, and its last state.
        let mut next: HashMap<u64, u64> = HashMap::new();
        let mut states: BTreeMap<u64, Option<Vec<u8>>> = BTreeMap::new();
        let mut records = Vec::with_capacity(batch.ops.len());
        let mut positions = Vec::new();
        for op in &batch.ops {
            let id = match op {
                BatchOp::Append(id, _) | BatchOp::State(id, _) => *id,
            };
            let log = cat.logs.get(&id).ok_or_else(|| no_log(id))?;
            let n = next.entry(id).or_insert_with(|| log.next());
            match op {
                BatchOp::Append(_, r) => {
                    let pos = *n;
                    *n = pos.checked_add(1).ok_or_else(|| no_room(id))?;
                    positions.push(pos);
                    records.push(entry::record(false, id, pos, r));
                }
                BatchOp::State(_, v) => {
                    states.insert(id, v.clone());
                }
            }
        }
        // A state's meta entry comes after the batch's records of its log.
        for (id, v) in &states {
            records.push(entry::meta(*id, cat.logs[id].first, next[id], v.as_deref()));
        }
        if records.is_empty() {
            return Ok(positions);
        }
        let (at, wants_sync) = self.inner.shared.submit_wanting(&records)?;
        let mut loc = at.start;
        for op in &batch.ops {
            if let BatchOp::Append(id, _) = op {
                cat.logs.get_mut(id).expect("checked above").push(loc);
                loc += 1;
            }
        }
        for (id, v) in states {
            let log = cat.logs.get_mut(&id).expect("checked above");
            log.state = v;
            log.set_meta(loc);
            loc += 1;
        }
        drop(cat);
        self.inner.appended.notify_all();
        if wants_sync || batch.ops.iter().any(|o| matches!(o, BatchOp::State(..))) {
            self.inner.shared.sync_to(at.end)?;
        }
        Ok(positions)
    }

    /// Makes everything written so far durable.
    ///
    /// # Errors
    /// As [`Log::sync`].
    pub fn sync(&self) -> Result<()> {
        self.inner.shared.sync()
    }

    /// Gives space back now: drops the shared log's front up to the oldest
    /// entry a log still needs, then copies the kept records of old
    /// segments whose live fraction is below [`StoreOptions::compact_below`]
    /// to the tail and drops those segments too. The background thread
    /// does the same.
    ///
    /// # Errors
    /// As [`Log::append`] and [`Log::truncate_front`].
    pub fn compact(&self) -> Result<()> {
        compact::compact(&self.inner)
    }

    /// Waits until the space the shared log released so far has been given
    /// back to the file system (see [`Log::wait_reclaimed`]).
    pub fn wait_reclaimed(&self) {
        self.inner.shared.wait_reclaimed();
    }

    /// Figures about the store.
    ///
    /// # Errors
    /// As [`Log::stats`].
    pub fn stats(&self) -> Result<StoreStats> {
        let (logs, records, index_bytes) = {
            let cat = self.inner.lock();
            let records = cat.logs.values().map(|l| l.locs.len() as u64).sum();
            (cat.logs.len() as u64, records, cat.index_bytes())
        };
        Ok(StoreStats {
            logs,
            records,
            shared: self.inner.shared.stats()?,
            copied_bytes: self.inner.copied.load(Ordering::Relaxed),
            reclaimed_bytes: self.inner.reclaimed.load(Ordering::Relaxed),
            index_bytes,
        })
    }

    /// Stops compaction, then syncs and closes the shared log.
    ///
    /// # Errors
    /// As [`Log::close`].
    pub fn close(mut self) -> Result<()> {
        self.stop_compactor();
        self.inner.shared.close()
    }

    fn stop_compactor(&mut self) {
        self.inner.stop.store(true, Ordering::SeqCst);
        {
            let _cat = self.inner.lock();
            self.inner.wake.notify_all();
            self.inner.appended.notify_all();
        }
        if let Some(t) = self.compactor.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.stop_compactor();
    }
}

impl StoreLog {
    /// The log's id.
    pub fn id(&self) -> u64 {
        self.id
    }

    fn inner(&self) -> Result<Arc<Inner>> {
        self.inner
            .upgrade()
            .ok_or_else(|| Error::new(ErrorKind::Closed, "the store was closed"))
    }

    /// Appends one record, as [`Log::append`].
    ///
    /// # Errors
    /// [`ErrorKind::OutOfRange`] if the log was dropped; as [`Log::append`].
    pub fn append(&self, record: &[u8]) -> Result<u64> {
        Ok(self.append_batch(&[record])?.start)
    }

    /// Appends records as one batch, as [`Log::append_batch`].
    ///
    /// # Errors
    /// As [`StoreLog::append`].
    pub fn append_batch<R: AsRef<[u8]>>(&self, records: &[R]) -> Result<Range<u64>> {
        let inner = self.inner()?;
        let w = self.submit_with(&inner, records, |_, e| inner.shared.submit_wanting(e))?;
        if w.wants_sync {
            inner.shared.sync_to(w.at.end)?;
        }
        Ok(w.positions)
    }

    /// Appends records as one batch without waiting for them to be
    /// durable, whatever the sync policy, and calls `on_durable` once they
    /// are, with their positions, or with the error that means they may not
    /// be: as [`Log::submit_batch_then`], whose group commit it shares.
    ///
    /// # Errors
    /// As [`StoreLog::append`]; `on_durable` is then dropped without
    /// running.
    pub fn submit_batch_then<R, F>(&self, records: &[R], on_durable: F) -> Result<Range<u64>>
    where
        R: AsRef<[u8]>,
        F: FnOnce(Result<Range<u64>>) + Send + 'static,
    {
        let inner = self.inner()?;
        let mut on_durable = Some(on_durable);
        let positions = self
            .submit_with(&inner, records, |start, entries| {
                let n = entries.len() as u64;
                let f = on_durable.take().expect("called once");
                let at = inner
                    .shared
                    .submit_batch_then(entries, move |r| f(r.map(|_| start..start + n)))?;
                Ok((at, false))
            })?
            .positions;
        if let Some(f) = on_durable {
            // An empty batch: nothing to wait for.
            f(Ok(positions.clone()));
        }
        Ok(positions)
    }

    /// Gives `records` the log's next positions and writes their entries
    /// with `write(first position, entries)`, under the catalog lock.
    fn submit_with<R: AsRef<[u8]>>(
        &self,
        inner: &Inner,
        records: &[R],
        write: impl FnOnce(u64, &[Vec<u8>]) -> Result<(Range<u64>, bool)>,
    ) -> Result<Written> {
        for r in records {
            inner.check_record(r.as_ref())?;
        }
        let mut cat = inner.lock();
        let log = cat
            .get_mut(self.id, self.incarnation)
            .ok_or_else(|| no_log(self.id))?;
        let start = log.next();
        let end = start
            .checked_add(records.len() as u64)
            .ok_or_else(|| no_room(self.id))?;
        if records.is_empty() {
            return Ok(Written {
                positions: start..end,
                at: 0..0,
                wants_sync: false,
            });
        }
        let entries: Vec<Vec<u8>> = (start..end)
            .zip(records)
            .map(|(p, r)| entry::record(false, self.id, p, r.as_ref()))
            .collect();
        let (at, wants_sync) = write(start, &entries)?;
        at.clone().for_each(|loc| log.push(loc));
        drop(cat);
        inner.appended.notify_all();
        Ok(Written {
            positions: start..end,
            at,
            wants_sync,
        })
    }

    /// Reads the record at `position`.
    ///
    /// # Errors
    /// [`ErrorKind::Truncated`] before the first position,
    /// [`ErrorKind::OutOfRange`] at or after the next one (or if the log
    /// was dropped), [`ErrorKind::Corruption`].
    pub fn read(&self, position: u64) -> Result<Vec<u8>> {
        let inner = self.inner()?;
        loop {
            let loc = inner.with_log(self.id, self.incarnation, |l| {
                l.loc(position).ok_or_else(|| match position < l.first {
                    true => truncated(position, l.first),
                    false => out_of_range(position, l.first, l.next()),
                })
            })??;
            match inner.shared.read(loc) {
                Ok(mut v) => {
                    self.check_entry(&inner, loc, position, &v)?;
                    v.drain(..RECORD_HEADER);
                    return Ok(v);
                }
                // Compaction moved the record and dropped the old copy
                // meanwhile: look again.
                Err(e) if e.kind() == ErrorKind::Truncated => {
                    let now = inner.with_log(self.id, self.incarnation, |l| l.loc(position))?;
                    if now == Some(loc) {
                        return Err(e);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn check_entry(&self, inner: &Inner, loc: u64, position: u64, b: &[u8]) -> Result<()> {
        match entry::decode(loc, b)? {
            Entry::Put { log, position: p, .. } | Entry::Moved { log, position: p, .. }
                if log == self.id && p == position =>
            {
                Ok(())
            }
            other => Err(Error::new(
                ErrorKind::Corruption,
                format!(
                    "shared position {loc} should hold log {} position {position}, it holds {other:?}",
                    self.id
                ),
            )
            .with_path(inner.shared.dir())
            .at_position(loc)),
        }
    }

    /// Calls `f(position, record)` for each record from `from` on, in
    /// order, until the end of the log or until `f` returns `false`.
    /// Returns how many records were passed to `f`.
    ///
    /// # Errors
    /// As [`StoreLog::read`]; [`ErrorKind::OutOfRange`] if `from` is past
    /// the next position.
    pub fn replay(&self, from: u64, mut f: impl FnMut(u64, &[u8]) -> bool) -> Result<u64> {
        let (first, next) = self.range()?;
        if from < first {
            return Err(truncated(from, first));
        }
        if from > next {
            return Err(out_of_range(from, first, next));
        }
        let mut n = 0;
        for p in from.. {
            if p >= self.next_position()? {
                break;
            }
            let r = self.read(p)?;
            n += 1;
            if !f(p, &r) {
                break;
            }
        }
        Ok(n)
    }

    /// The records from `from` on, as `(position, record)`; it ends at the
    /// end of the log as it is when each item is asked for.
    pub fn iter(&self, from: u64) -> impl Iterator<Item = Result<(u64, Vec<u8>)>> + '_ {
        let mut p = from;
        std::iter::from_fn(move || match self.next_position() {
            Ok(next) if p < next => {
                let r = self.read(p).map(|r| (p, r));
                p += 1;
                Some(r)
            }
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        })
    }

    /// Blocks until a record exists at `position` or `timeout` passes
    /// (`None`: no limit). Returns whether it exists.
    ///
    /// # Errors
    /// [`ErrorKind::OutOfRange`] if the log is dropped,
    /// [`ErrorKind::Closed`] if the store closes while waiting.
    pub fn wait_for(&self, position: u64, timeout: Option<Duration>) -> Result<bool> {
        let inner = self.inner()?;
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut cat = inner.lock();
        loop {
            let log = cat
                .get(self.id, self.incarnation)
                .ok_or_else(|| no_log(self.id))?;
            if log.next() > position {
                return Ok(true);
            }
            if inner.stop.load(Ordering::SeqCst) {
                return Err(Error::new(ErrorKind::Closed, "the store was closed"));
            }
            cat = match deadline {
                None => inner.appended.wait(cat).unwrap_or_else(|p| p.into_inner()),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(false);
                    }
                    let (c, _) = inner
                        .appended
                        .wait_timeout(cat, left)
                        .unwrap_or_else(|p| p.into_inner());
                    c
                }
            };
        }
    }

    /// The log's first and next positions.
    fn range(&self) -> Result<(u64, u64)> {
        self.inner()?
            .with_log(self.id, self.incarnation, |l| (l.first, l.next()))
    }

    /// The oldest position kept (equal to the next position when empty).
    ///
    /// # Errors
    /// [`ErrorKind::OutOfRange`] if the log was dropped.
    pub fn first_position(&self) -> Result<u64> {
        Ok(self.range()?.0)
    }

    /// The position the next append will get.
    ///
    /// # Errors
    /// [`ErrorKind::OutOfRange`] if the log was dropped.
    pub fn next_position(&self) -> Result<u64> {
        Ok(self.range()?.1)
    }

    /// The log's state value, if one was set.
    ///
    /// # Errors
    /// [`ErrorKind::OutOfRange`] if the log was dropped.
    pub fn state(&self) -> Result<Option<Vec<u8>>> {
        self.inner()?
            .with_log(self.id, self.incarnation, |l| l.state.clone())
    }

    /// Replaces the log's state value (up to [`MAX_STATE_SIZE`] bytes),
    /// atomically and durably.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] if it is too large; as
    /// [`StoreLog::append`].
    pub fn set_state(&self, value: &[u8]) -> Result<()> {
        check_state(Some(value))?;
        let end = self.change(|_| Ok(Change::State(value.to_vec())))?;
        self.inner()?.shared.sync_to(end)
    }

    /// Replaces the log's state value atomically without waiting for it to
    /// be durable: a later sync of the store (any durable write, or
    /// [`StoreLog::sync`]) makes it durable, with everything written before.
    /// For a value that is only a hint, such as a raft commit index.
    ///
    /// # Errors
    /// As [`StoreLog::set_state`].
    pub fn submit_state(&self, value: &[u8]) -> Result<()> {
        check_state(Some(value))?;
        self.change(|_| Ok(Change::State(value.to_vec())))
            .map(|_| ())
    }

    /// Appends one record without waiting for it to be durable, whatever
    /// the sync policy; see [`Log::submit`].
    ///
    /// # Errors
    /// As [`StoreLog::append`].
    pub fn submit(&self, record: &[u8]) -> Result<u64> {
        let inner = self.inner()?;
        let w = self.submit_with(&inner, &[record], |_, e| inner.shared.submit_wanting(e))?;
        Ok(w.positions.start)
    }

    /// Makes everything written to the store so far durable, this log's
    /// records among it.
    ///
    /// # Errors
    /// As [`Log::sync`].
    pub fn sync(&self) -> Result<()> {
        self.inner()?.shared.sync()
    }

    /// Drops every record before `position`, durably, without copying
    /// anything: as [`Log::truncate_front`], also past the end. The space
    /// is given back by compaction.
    ///
    /// # Errors
    /// As [`StoreLog::append`].
    pub fn truncate_front(&self, position: u64) -> Result<()> {
        let end = self.change(|_| Ok(Change::Front(position)))?;
        self.inner()?.shared.sync_to(end)
    }

    /// Drops the records at `position` and after, durably: the next
    /// append gets `position`.
    ///
    /// # Errors
    /// [`ErrorKind::OutOfRange`] if `position` is before the first
    /// position (nothing changes); as [`StoreLog::append`].
    pub fn truncate_back(&self, position: u64) -> Result<()> {
        let end = self.change(|l| match position < l.first {
            true => Err(out_of_range(position, l.first, l.next())),
            false => Ok(Change::Back(position)),
        })?;
        self.inner()?.shared.sync_to(end)
    }

    /// Writes the log's meta entry after the change `plan` returns, then
    /// applies it; returns the shared position the caller syncs to, to make
    /// it durable. Nothing changes if the write fails; if that sync fails,
    /// the shared log is poisoned (no later write is taken) and the change
    /// may or may not be found after reopening.
    fn change(&self, plan: impl FnOnce(&LogState) -> Result<Change>) -> Result<u64> {
        let inner = &self.inner()?;
        let mut cat = inner.lock();
        let log = cat
            .get_mut(self.id, self.incarnation)
            .ok_or_else(|| no_log(self.id))?;
        let change = plan(log)?;
        let (mut first, mut next, mut state) = (log.first, log.next(), log.state.as_deref());
        match &change {
            Change::Front(p) if *p > first => (first, next) = (*p, next.max(*p)),
            Change::Back(p) if *p < next => next = *p,
            Change::State(v) => state = Some(v),
            _ => {}
        }
        let at = inner
            .submit(&[entry::meta(self.id, first, next, state)])?
            .start;
        match change {
            Change::Front(p) if p > log.first => log.truncate_front(p),
            Change::Back(p) if p < log.next() => log.truncate_back(p),
            Change::State(v) => log.state = Some(v),
            _ => {}
        }
        log.set_meta(at);
        Ok(at + 1)
    }
}

/// Records [`StoreLog::submit_with`] wrote.
struct Written {
    /// Their positions in their log.
    positions: Range<u64>,
    /// Their entries' positions in the shared log.
    at: Range<u64>,
    /// Whether the sync policy wants them synced before an append returns.
    wants_sync: bool,
}

/// What [`StoreLog::change`] does.
enum Change {
    Front(u64),
    Back(u64),
    State(Vec<u8>),
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Catalog> {
        self.catalog.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn with_log<T>(&self, id: u64, incarnation: u64, f: impl FnOnce(&LogState) -> T) -> Result<T> {
        self.lock()
            .get(id, incarnation)
            .map(f)
            .ok_or_else(|| no_log(id))
    }

    /// The incarnation of log `id`.
    fn current(&self, id: u64) -> Result<u64> {
        self.lock()
            .logs
            .get(&id)
            .map(|l| l.incarnation)
            .ok_or_else(|| no_log(id))
    }

    fn submit(&self, entries: &[Vec<u8>]) -> Result<Range<u64>> {
        self.shared.submit_batch(entries)
    }

    fn check_record(&self, r: &[u8]) -> Result<()> {
        if r.is_empty() {
            return Err(Error::invalid("an empty record"));
        }
        if r.len() > self.max_record {
            return Err(Error::invalid(format!(
                "a record of {} bytes, more than the store's {} (the shared log's maximum less {RECORD_HEADER})",
                r.len(),
                self.max_record
            )));
        }
        Ok(())
    }
}

fn check_state(v: Option<&[u8]>) -> Result<()> {
    match v {
        Some(v) if v.len() > MAX_STATE_SIZE => Err(Error::invalid(format!(
            "a state value of {} bytes, more than {MAX_STATE_SIZE}",
            v.len()
        ))),
        _ => Ok(()),
    }
}

fn no_log(id: u64) -> Error {
    Error::new(ErrorKind::OutOfRange, format!("the store has no log {id}"))
}

fn no_room(id: u64) -> Error {
    Error::new(
        ErrorKind::OutOfRange,
        format!("store log {id} has no position left"),
    )
}
