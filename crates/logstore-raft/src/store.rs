//! [`LogStore`]: openraft's `RaftLogStorage` on a [`logstore::Log`].

use std::fmt::Debug;
use std::io;
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use logstore::{Log, Options, Store, SyncPolicy};
use openraft::alias::{LogIdOf, VoteOf};
use openraft::entry::RaftEntry;
use openraft::storage::{IOFlushed, LogState, RaftLogStorage};
use openraft::{OptionalSend, RaftLogReader, RaftTypeConfig};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::codec;
use crate::entries::Entries;
use crate::meta::{Durability, MetaLog, RaftMeta};
use crate::reader::{invalid, LogReader};

/// The subdirectory holding the entry log.
pub const LOG_DIR: &str = "raft-log";
/// The subdirectory holding the metadata log.
pub const META_DIR: &str = "raft-meta";

/// Bytes of small entries gathered in the process between writes; the
/// sync that reports them flushed writes them out first.
const WRITE_BUFFER: usize = 1 << 20;

/// The largest encoded entry: a 32 MiB application record plus room for
/// the entry's header and the payload's own framing.
pub const MAX_ENTRY_SIZE: usize = (32 << 20) + (64 << 10);

/// Raft log storage in a directory; see the crate documentation.
pub struct LogStore<C: RaftTypeConfig> {
    dir: PathBuf,
    log: Entries,
    reader: LogReader<C>,
    meta: MetaLog<C>,
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
        let log = Entries::Log(Arc::new(Log::open(dir.join(LOG_DIR), log_options)?));
        Self::with(dir, log, meta)
    }

    /// The storage of raft group `group` in `store`, shared with the
    /// store's other groups: its entries are the records of the store's
    /// log `group` (created, empty, if missing), at position = raft index,
    /// and its metadata is that log's state value. Appends of every group
    /// share the store's group commit. The store's sync policy applies to
    /// nothing here: appends report flushed when synced, votes and purge
    /// points are durable when saved, as for [`LogStore::open`]. The
    /// store's `max_record_size` bounds an entry (less 17 bytes).
    ///
    /// # Errors
    /// As [`logstore::Store::create_log`], or if the metadata is damaged.
    pub fn open_in(store: &Store, group: u64) -> io::Result<Self> {
        let log = match store.logs().binary_search(&group) {
            Ok(_) => store.log(group)?,
            Err(_) => store.create_log(group, 0)?,
        };
        let meta = MetaLog::in_state(log.clone())?;
        Self::with(
            store.dir().join(format!("group-{group}")),
            Entries::Store(log),
            meta,
        )
    }

    fn with(dir: PathBuf, log: Entries, meta: MetaLog<C>) -> io::Result<Self> {
        if let Some(purged) = &meta.current().last_purged {
            // A purge saves its point before dropping the entries; finish
            // one the process did not get to, so that no entry at or below
            // the point is read back and the last log id is never older
            // than it (as after a purge past the end of the log).
            if log.first_position()? <= purged.index {
                log.truncate_front(purged.index + 1)?;
            }
        }
        let reader = LogReader::new(log.clone(), meta.current().vote.clone());
        Ok(LogStore {
            dir,
            log,
            reader,
            meta,
        })
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The metadata as last saved.
    pub fn meta(&self) -> &RaftMeta<C> {
        self.meta.current()
    }

    /// Syncs and closes both logs; appends not yet reported flushed are
    /// reported by the entry log's final sync.
    ///
    /// # Errors
    /// As [`logstore::Log::close`]; the store is closed in any case.
    pub fn close(self) -> io::Result<()> {
        let log = self.log.close();
        let meta = self.meta.close();
        log?;
        meta
    }

    fn last_log_id(&self) -> io::Result<Option<LogIdOf<C>>> {
        let (first, mut next) = (self.log.first_position()?, self.log.next_position()?);
        while next > first {
            next -= 1;
            if let Some(entry) = self.reader.entry_or_hole(next)? {
                return Ok(Some(entry.log_id()));
            }
        }
        Ok(self.meta.current().last_purged.clone())
    }

    fn truncate_from(&mut self, index: u64) -> io::Result<()> {
        if index >= self.log.next_position()? {
            return Ok(());
        }
        // Entries before the first position are purged already.
        let index = index.max(self.log.first_position()?);
        self.log.truncate_back(index)
    }

    fn jump_to(&mut self, index: u64) -> io::Result<()> {
        if index > self.log.next_position()? {
            self.log.truncate_front(index)?;
        }
        Ok(())
    }

    fn save(&mut self, sync: Durability, f: impl FnOnce(&mut RaftMeta<C>)) -> io::Result<()> {
        self.meta.update(sync, f).map_err(io::Error::other)
    }

    /// Reports `callback` once everything submitted so far is durable,
    /// for an append that submitted nothing itself.
    fn flushed_when_durable(&self, callback: IOFlushed<C>) {
        // Rare (openraft does not append empty batches): wait for the sync
        // that the earlier appends' notices asked for.
        callback.io_completed(self.log.wait_submitted());
    }
}

impl<C: RaftTypeConfig> RaftLogReader<C> for LogStore<C>
where
    C::Entry: Serialize + DeserializeOwned,
{
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> io::Result<Vec<C::Entry>> {
        self.reader.try_get_log_entries(range).await
    }

    async fn read_vote(&mut self) -> io::Result<Option<VoteOf<C>>> {
        Ok(self.reader.vote())
    }

    async fn limited_get_log_entries(&mut self, start: u64, end: u64) -> io::Result<Vec<C::Entry>> {
        self.reader.limited_get_log_entries(start, end).await
    }
}

impl<C: RaftTypeConfig> RaftLogStorage<C> for LogStore<C>
where
    C::Entry: Serialize + DeserializeOwned,
{
    type LogReader = LogReader<C>;

    async fn get_log_state(&mut self) -> io::Result<LogState<C>> {
        Ok(LogState {
            last_purged_log_id: self.meta.current().last_purged.clone(),
            last_log_id: self.last_log_id()?,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.reader.clone()
    }

    async fn save_vote(&mut self, vote: &VoteOf<C>) -> io::Result<()> {
        let saved = vote.clone();
        self.save(Durability::Now, |m| m.vote = Some(saved))?;
        // Readers see a vote only once it is durable.
        self.reader.set_vote(vote.clone());
        Ok(())
    }

    async fn save_committed(&mut self, committed: Option<LogIdOf<C>>) -> io::Result<()> {
        // Not synced: see `meta`. openraft calls this on every commit.
        self.save(Durability::Later, |m| m.committed = committed)
    }

    async fn read_committed(&mut self) -> io::Result<Option<LogIdOf<C>>> {
        Ok(self.meta.current().committed.clone())
    }

    async fn append<I>(&mut self, entries: I, callback: IOFlushed<C>) -> io::Result<()>
    where
        I: IntoIterator<Item = C::Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut records = Vec::new();
        let mut expected = self.log.next_position()?;
        for entry in entries {
            let index = entry.index();
            if records.is_empty() && index < self.log.first_position()? {
                // Already purged: an entry below the purge point is
                // covered by the state machine and is not kept.
                continue;
            }
            if records.is_empty() && index < expected {
                // Entries replace what the log holds from their index on.
                // openraft truncates conflicting entries before appending,
                // so this only happens when a caller re-appends.
                self.truncate_from(index)?;
                expected = index;
            }
            if index < expected {
                return Err(invalid(format!(
                    "entry index {index} where {expected} was expected"
                )));
            }
            if records.is_empty() && self.log.first_position()? == expected {
                // An empty log may start anywhere (no hole needed).
                self.jump_to(index)?;
                expected = index;
            }
            while expected < index {
                records.push(codec::HOLE.to_vec());
                expected += 1;
            }
            let record = codec::encode(&entry).map_err(io::Error::other)?;
            records.push(record);
            expected += 1;
        }
        let Some(last) = records.pop() else {
            self.flushed_when_durable(callback);
            return Ok(());
        };
        // One record at a time, not one logstore batch: raft needs no
        // all-or-nothing batches, and logstore's batch atomicity means that
        // after `truncate_back` inside a batch, reopening drops the kept
        // prefix of that batch too. The write buffer gathers small entries
        // into few writes. The records are readable once submitted.
        for record in &records {
            self.log.submit(record)?;
        }
        // The last record carries the callback: the log becomes durable in
        // position order, so the sync that covers it covers every entry of
        // this append (and of the appends before it). The engine runs the
        // callback on its notifier thread once that sync is done (or has
        // failed, which poisons the log), and a group commit serves every
        // append submitted meanwhile.
        self.log.submit_then(&last, move |result| {
            callback.io_completed(result.map(|_| ()).map_err(io::Error::from));
        })?;
        Ok(())
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogIdOf<C>>) -> io::Result<()> {
        self.truncate_from(last_log_id.map_or(0, |id| id.index + 1))
    }

    async fn purge(&mut self, log_id: LogIdOf<C>) -> io::Result<()> {
        if self
            .meta
            .current()
            .last_purged
            .as_ref()
            .is_some_and(|p| p.index >= log_id.index)
        {
            return Ok(());
        }
        self.meta.purge(log_id, &self.log)
    }
}
