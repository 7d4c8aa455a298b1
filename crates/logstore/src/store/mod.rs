//! Many logs in one store: every log's records go to one shared [`Log`],
//! so appends to any of them share its writes, syncs and files.

mod batch;
mod catalog;
mod checkpoint;
mod compact;
pub(crate) mod entry;
mod index;
mod locs;
mod log;
mod maps;
mod options;
mod recover;

use batch::BatchOp;
pub use batch::WriteBatch;
pub use log::StoreLog;
pub use options::StoreOptions;
pub use recover::StoreRecovery;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use crate::error::{Error, ErrorKind, Result};
use crate::log::Log;
use crate::options::Options;
use catalog::{Catalog, LogState};
use entry::RECORD_HEADER;
use locs::Loc;
use maps::Maps;
use recover::{each_entry, replay_after, replay_all};

/// The largest state value of a log, in bytes.
pub const MAX_STATE_SIZE: usize = 64 << 10;

/// The least `max_record_size` of a store's shared log: room for a meta
/// entry with the largest state value.
const MIN_RECORD_LIMIT: usize = entry::META_HEADER + MAX_STATE_SIZE;

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

/// The position that says no checkpoint is on disk.
const NO_CHECKPOINT: u64 = u64::MAX;

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
    /// Whether `close` wrote the last checkpoint (or tried to).
    checkpointed: bool,
}

#[derive(Debug)]
struct Inner {
    shared: Log,
    catalog: Mutex<Catalog>,
    /// The maps of the segments whose runs were read last. Never locked
    /// while `catalog` is held.
    maps: Mutex<Maps>,
    /// The sealed segments with an index on disk, or found damaged when
    /// one was to be written (see [`index`]).
    indexed: Mutex<BTreeSet<u64>>,
    /// The position of the checkpoint on disk ([`NO_CHECKPOINT`] if none):
    /// reclaim keeps every entry from it on, which its replay needs.
    checkpoint: AtomicU64,
    /// For a read-only store: the shared position its catalog is applied
    /// up to (see [`Store::refresh`]).
    applied: AtomicU64,
    /// The size of the checkpoint last written, in bytes.
    checkpoint_bytes: AtomicU64,
    /// How the catalog was rebuilt at open.
    recovery: StoreRecovery,
    /// Notified when records are appended, for tail reads.
    appended: Condvar,
    /// Notified to stop the compaction thread, or to wake it early.
    wake: Condvar,
    stop: AtomicBool,
    /// Held by a compaction pass.
    compacting: Mutex<()>,
    max_record: usize,
    read_only: bool,
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
        let segs = shared.segment_firsts();
        let (catalog, recovery) = match checkpoint::load(&shared)? {
            Some((cat, through)) => match replay_after(&shared, cat, through, &segs) {
                Ok(replayed) => replayed,
                // The checkpoint does not fit the shared log: it is passed
                // over, and the shared log alone rebuilds the catalog.
                Err(e) if e.kind() == ErrorKind::Corruption => replay_all(&shared, &segs)?,
                Err(e) => return Err(e),
            },
            None => replay_all(&shared, &segs)?,
        };
        let indexed = match options.log.read_only {
            true => BTreeSet::new(),
            false => index::tidy(&shared, &segs)?.into_iter().collect(),
        };
        let applied = shared.next_position();
        let inner = Arc::new(Inner {
            max_record: options.log.max_record_size - RECORD_HEADER,
            read_only: options.log.read_only,
            shared,
            catalog: Mutex::new(catalog),
            maps: Mutex::new(Maps::default()),
            indexed: Mutex::new(indexed),
            checkpoint: AtomicU64::new(recovery.checkpoint.unwrap_or(NO_CHECKPOINT)),
            checkpoint_bytes: AtomicU64::new(0),
            applied: AtomicU64::new(applied),
            recovery,
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
        Ok(Store {
            inner,
            compactor,
            checkpointed: false,
        })
    }

    /// Whether `dir` holds a store rather than a plain log: its first
    /// record is a store entry and the directory opens as a store (read
    /// only, without the writer's lock). `Some(number of logs)` for a store;
    /// `None` for a plain log, an empty one, or no log.
    ///
    /// # Errors
    /// As [`Log::open`] (read-only).
    pub fn detect(dir: impl AsRef<Path>) -> Result<Option<usize>> {
        let dir = dir.as_ref();
        let options = Options::default().read_only(true).create(false);
        let log = match Log::open(dir, options.clone()) {
            Ok(log) => log,
            Err(e) if e.kind() == ErrorKind::Io && !dir.exists() => return Ok(None),
            Err(e) => return Err(e),
        };
        let first = log.first_position();
        if first == log.next_position() || entry::decode(first, &log.read(first)?).is_err() {
            return Ok(None);
        }
        drop(log);
        let store = StoreOptions::default().log_options(options);
        Ok(Store::open(dir, store).ok().map(|s| s.logs().len()))
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
            records.push(entry::meta(
                *id,
                cat.logs[id].first(),
                next[id],
                v.as_deref(),
            ));
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
            let records = cat.logs.values().map(LogState::len).sum();
            (cat.logs.len() as u64, records, cat.index_bytes())
        };
        let index_bytes = index_bytes + self.inner.maps().bytes();
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
        // Once closed, the directory is not ours: the drop after this
        // writes nothing, whatever this does.
        self.checkpointed = true;
        if !self.inner.read_only {
            let _one = self
                .inner
                .compacting
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            checkpoint::write(&self.inner)?;
        }
        self.inner.shared.close()
    }

    /// Checks that every kept record of every log is in the shared log
    /// where the store holds it, as an entry of its log at its position,
    /// reading each segment once. Returns how many records it checked. The
    /// records' checksums are checked on the way; [`Log::verify`] on the
    /// shared log checks every byte. Meant for a store nothing writes to
    /// meanwhile (a read-only one).
    ///
    /// # Errors
    /// [`ErrorKind::Corruption`] naming the first record that is not where
    /// it should be, or the damage that hid it; as [`Log::replay`].
    pub fn verify(&self) -> Result<u64> {
        recover::verify(&self.inner)
    }

    /// Catches a read-only store up with what its writer (another
    /// process) did since it was opened or last refreshed: the shared
    /// log's new entries are applied to its logs. Does nothing on the
    /// writer.
    ///
    /// # Errors
    /// [`ErrorKind::Truncated`] if the writer dropped entries this store
    /// had not seen yet (it fell too far behind: open it again);
    /// [`ErrorKind::Corruption`] for an entry that does not follow; as
    /// [`Log::refresh`].
    pub fn refresh(&self) -> Result<()> {
        if !self.inner.read_only {
            return Ok(());
        }
        let shared = &self.inner.shared;
        let mut cat = self.inner.lock();
        shared.refresh()?;
        let from = self.inner.applied.load(Ordering::SeqCst);
        if from >= shared.next_position() {
            return Ok(());
        }
        if from < shared.first_position() {
            return Err(Error::new(
                ErrorKind::Truncated,
                format!(
                    "the store's writer dropped shared positions {from}..{} before this reader saw them; open the store again",
                    shared.first_position()
                ),
            )
            .with_path(shared.dir()));
        }
        let segs = shared.segment_firsts();
        let n = each_entry(shared, from, |at, e| cat.apply(at, e, &segs))?;
        self.inner.applied.store(from + n, Ordering::SeqCst);
        drop(cat);
        self.inner.appended.notify_all();
        Ok(())
    }

    /// How the catalog was rebuilt when the store was opened.
    pub fn recovery(&self) -> StoreRecovery {
        self.inner.recovery
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
        // So that the next open replays little; a failure loses nothing
        // (the shared log alone rebuilds the catalog), and `close` reports it.
        if !self.inner.read_only && !self.checkpointed {
            let _one = self
                .inner
                .compacting
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            let _ = checkpoint::write(&self.inner);
        }
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Catalog> {
        self.catalog.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn indexed(&self) -> MutexGuard<'_, BTreeSet<u64>> {
        self.indexed.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn maps(&self) -> MutexGuard<'_, Maps> {
        self.maps.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The shared position of log `id`'s record at `position`, where the
    /// catalog said it is; `None` if it is not there (any more).
    ///
    /// # Errors
    /// As [`Maps::find`].
    fn locate(&self, id: u64, position: u64, loc: Loc) -> Result<Option<u64>> {
        match loc {
            Loc::At(at) => Ok(Some(at)),
            Loc::In(near) => self.maps().find(&self.shared, id, position, near),
        }
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
