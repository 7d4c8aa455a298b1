//! [`LogStore`]: openraft's `RaftLogStorage` on a [`logstore::Log`].

use std::fmt::Debug;
use std::io;
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyerror::AnyError;
use logstore::{Log, Options, SyncPolicy};
use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{
    LogId, RaftLogId, RaftLogReader, RaftTypeConfig, StorageError, StorageIOError, Vote,
};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::codec;
use crate::flusher::Flusher;
use crate::meta::{Durability, MetaLog, RaftMeta};
use crate::reader::LogReader;

/// The subdirectory holding the entry log.
pub const LOG_DIR: &str = "raft-log";
/// The subdirectory holding the metadata log.
pub const META_DIR: &str = "raft-meta";

/// Bytes of small entries gathered in the process between writes; the
/// flusher's sync writes them out before reporting them flushed.
const WRITE_BUFFER: usize = 1 << 20;

/// The largest encoded entry: a 32 MiB application record plus room for
/// the entry's header and the payload's own framing.
pub const MAX_ENTRY_SIZE: usize = (32 << 20) + (64 << 10);

/// Raft log storage in a directory; see the crate documentation.
pub struct LogStore<C: RaftTypeConfig> {
    dir: PathBuf,
    log: Arc<Log>,
    reader: LogReader<C>,
    meta: MetaLog<C::NodeId>,
    flusher: Flusher<C>,
}

impl<C: RaftTypeConfig> LogStore<C>
where
    C::Entry: Serialize + DeserializeOwned,
{
    /// Opens (or creates) the store in `dir`. `options` apply to both logs
    /// (file system, segment size, ...) except the sync policy, which the
    /// store sets itself, and the entry log's record size limit, which is
    /// [`MAX_ENTRY_SIZE`].
    ///
    /// # Errors
    /// As [`logstore::Log::open`], or if the metadata record is damaged.
    pub fn open(dir: impl AsRef<Path>, options: Options) -> io::Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        let meta = MetaLog::open(&dir.join(META_DIR), options.clone())?;
        let log_options = options
            .sync_policy(SyncPolicy::Never)
            .write_buffer(WRITE_BUFFER)
            .max_record_size(MAX_ENTRY_SIZE);
        let log = Arc::new(Log::open(dir.join(LOG_DIR), log_options)?);
        if let Some(purged) = &meta.current().last_purged {
            // A purge saves its point before dropping the entries; finish
            // one the process did not get to, so that no entry at or below
            // the point is read back and the last log id is never older
            // than it (as after a purge past the end of the log).
            if log.first_position() <= purged.index {
                log.truncate_front(purged.index + 1)
                    .map_err(io::Error::from)?;
            }
        }
        let reader = LogReader::new(log.clone());
        let flusher = Flusher::start(log.clone())?;
        Ok(LogStore {
            dir,
            log,
            reader,
            meta,
            flusher,
        })
    }
}

impl<C: RaftTypeConfig> LogStore<C>
where
    C::Entry: Serialize + DeserializeOwned,
{
    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The metadata as last saved.
    pub fn meta(&self) -> &RaftMeta<C::NodeId> {
        self.meta.current()
    }

    /// Syncs and closes both logs after completing every queued flush.
    ///
    /// # Errors
    /// As [`logstore::Log::close`]; the store is closed in any case.
    pub fn close(mut self) -> io::Result<()> {
        self.flusher.stop();
        let log = self.log.close();
        let meta = self.meta.close();
        log?;
        meta
    }

    fn last_log_id(&self) -> Result<Option<LogId<C::NodeId>>, StorageError<C::NodeId>> {
        let (first, mut next) = (self.log.first_position(), self.log.next_position());
        while next > first {
            next -= 1;
            if let Some(entry) = self.reader.entry_or_hole(next)? {
                return Ok(Some(entry.get_log_id().clone()));
            }
        }
        Ok(self.meta.current().last_purged.clone())
    }

    fn truncate_from(&mut self, index: u64) -> Result<(), StorageError<C::NodeId>> {
        if index >= self.log.next_position() {
            return Ok(());
        }
        self.log
            .truncate_back(index)
            .map_err(|e| StorageIOError::write_logs(AnyError::new(&e)).into())
    }

    fn jump_to(&mut self, index: u64) -> Result<(), StorageError<C::NodeId>> {
        if index > self.log.next_position() {
            self.log
                .truncate_front(index)
                .map_err(|e| StorageIOError::write_logs(AnyError::new(&e)))?;
        }
        Ok(())
    }

    fn save(
        &mut self,
        sync: Durability,
        f: impl FnOnce(&mut RaftMeta<C::NodeId>),
    ) -> Result<(), StorageError<C::NodeId>> {
        self.meta
            .update(sync, f)
            .map_err(|what| StorageIOError::write(AnyError::error(what)).into())
    }
}

impl<C: RaftTypeConfig> RaftLogReader<C> for LogStore<C>
where
    C::Entry: Serialize + DeserializeOwned,
{
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<C::Entry>, StorageError<C::NodeId>> {
        self.reader.entries(range)
    }
}

impl<C: RaftTypeConfig> RaftLogStorage<C> for LogStore<C>
where
    C::Entry: Serialize + DeserializeOwned,
{
    type LogReader = LogReader<C>;

    async fn get_log_state(&mut self) -> Result<LogState<C>, StorageError<C::NodeId>> {
        Ok(LogState {
            last_purged_log_id: self.meta.current().last_purged.clone(),
            last_log_id: self.last_log_id()?,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.reader.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<C::NodeId>) -> Result<(), StorageError<C::NodeId>> {
        let vote = vote.clone();
        self.meta
            .update(Durability::Now, |m| m.vote = Some(vote))
            .map_err(|what| StorageIOError::write_vote(AnyError::error(what)).into())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<C::NodeId>>, StorageError<C::NodeId>> {
        Ok(self.meta.current().vote.clone())
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogId<C::NodeId>>,
    ) -> Result<(), StorageError<C::NodeId>> {
        // Not synced: see `meta`. openraft calls this on every commit.
        self.save(Durability::Later, |m| m.committed = committed)
    }

    async fn read_committed(
        &mut self,
    ) -> Result<Option<LogId<C::NodeId>>, StorageError<C::NodeId>> {
        Ok(self.meta.current().committed.clone())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<C>,
    ) -> Result<(), StorageError<C::NodeId>>
    where
        I: IntoIterator<Item = C::Entry> + Send,
        I::IntoIter: Send,
    {
        let mut records = Vec::new();
        let mut expected = self.log.next_position();
        for entry in entries {
            let log_id = entry.get_log_id().clone();
            if records.is_empty() && log_id.index < self.log.first_position() {
                // Already purged: an entry below the purge point is
                // covered by the state machine and is not kept.
                continue;
            }
            if records.is_empty() && log_id.index < expected {
                // Entries replace what the log holds from their index on.
                // openraft truncates conflicting entries before appending,
                // so this only happens when a caller re-appends.
                self.truncate_from(log_id.index)?;
                expected = log_id.index;
            }
            if log_id.index < expected {
                let what = format!("entry index {} where {expected} was expected", log_id.index);
                return Err(StorageIOError::write_log_entry(log_id, AnyError::error(what)).into());
            }
            if records.is_empty() && self.log.first_position() == expected {
                // An empty log may start anywhere (no hole needed).
                self.jump_to(log_id.index)?;
                expected = log_id.index;
            }
            while expected < log_id.index {
                records.push(codec::HOLE.to_vec());
                expected += 1;
            }
            let record = codec::encode(&entry)
                .map_err(|e| StorageIOError::write_log_entry(log_id, AnyError::new(&e)))?;
            records.push(record);
            expected += 1;
        }
        // One record at a time, not one logstore batch: raft needs no
        // all-or-nothing batches (the callback fires only once the sync
        // covers every entry), and logstore's batch atomicity means that
        // after `truncate_back` inside a batch, reopening drops the kept
        // prefix of that batch too. The write buffer gathers small entries
        // into few writes.
        for record in &records {
            self.log
                .append(record)
                .map_err(|e| StorageIOError::write_logs(AnyError::new(&e)))?;
        }
        // Written, hence readable; the flusher reports them once synced.
        self.flusher.queue(callback);
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId<C::NodeId>) -> Result<(), StorageError<C::NodeId>> {
        self.truncate_from(log_id.index)
    }

    async fn purge(&mut self, log_id: LogId<C::NodeId>) -> Result<(), StorageError<C::NodeId>> {
        if self
            .meta
            .current()
            .last_purged
            .as_ref()
            .is_some_and(|p| p.index >= log_id.index)
        {
            return Ok(());
        }
        // The purge point is saved first: if the process dies between the
        // two steps, reopening finds entries the metadata says are purged
        // and drops them (see `open`); the reverse would lose the purged
        // id's term.
        let index = log_id.index;
        self.save(Durability::Now, |m| m.last_purged = Some(log_id))?;
        self.log
            .truncate_front(index + 1)
            .map_err(|e| StorageIOError::write_logs(AnyError::new(&e)).into())
    }
}
