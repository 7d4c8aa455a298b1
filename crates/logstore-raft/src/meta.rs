//! The metadata log: vote, committed log id and last purged log id.
//!
//! Each save appends one record holding the whole metadata to a small
//! [`logstore::Log`]; opening reads the newest record. A vote or a purge
//! point is synced before the save returns. The committed log id is only
//! written: openraft treats it as a hint (after a crash that loses it, a
//! node learns the commit point from the leader again), and syncing it on
//! every commit would put an `fdatasync` in the path of every replicated
//! write on every node. Any later synced save, and closing, make it
//! durable too. A second log rather than a file replaced by rename gives the
//! same atomicity (a record is found whole or not at all, checked by its
//! CRC) with one sync instead of a file sync, a rename and a directory
//! sync, and it runs on the same file-system seam as the entries, so the
//! simulated file system crash-tests both together. Old records are
//! dropped every [`COMPACT_EVERY`] saves, by a save that is synced first
//! whatever its kind, so the record kept is durable.

use std::path::Path;

use logstore::{Log, Options, StoreLog, SyncPolicy};
use openraft::alias::{LogIdOf, VoteOf};
use openraft::RaftTypeConfig;
use serde::{Deserialize, Serialize};

use crate::codec;
use crate::entries::Entries;

/// Saves between two `truncate_front`s of the metadata log.
const COMPACT_EVERY: u64 = 256;

/// What the store keeps besides the entries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound = "")]
pub struct RaftMeta<C: RaftTypeConfig> {
    /// The last vote saved.
    pub vote: Option<VoteOf<C>>,
    /// The last committed log id saved.
    pub committed: Option<LogIdOf<C>>,
    /// The id of the last entry dropped by a purge.
    pub last_purged: Option<LogIdOf<C>>,
}

impl<C: RaftTypeConfig> Default for RaftMeta<C> {
    fn default() -> Self {
        RaftMeta {
            vote: None,
            committed: None,
            last_purged: None,
        }
    }
}

/// Whether a save must be durable when it returns.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Durability {
    /// Synced before the save returns.
    Now,
    /// Written (it survives the process) and synced by the next synced
    /// save or by closing.
    Later,
}

pub(crate) struct MetaLog<C: RaftTypeConfig> {
    saved: Saved,
    current: RaftMeta<C>,
}

/// Where the metadata is saved.
enum Saved {
    /// A small log of its own (see the module docs).
    Log(Log),
    /// The state value of the group's log in a store, replaced whole.
    State(StoreLog),
}

impl<C: RaftTypeConfig> MetaLog<C> {
    pub(crate) fn open(dir: &Path, options: Options) -> std::io::Result<Self> {
        let log = Log::open(dir, options.sync_policy(SyncPolicy::Never).write_buffer(0))?;
        let current = match log.next_position().checked_sub(1) {
            Some(last) if last >= log.first_position() => {
                let record = log.read(last)?;
                codec::decode(&record).map_err(|what| corrupt(dir, last, what))?
            }
            _ => RaftMeta::default(),
        };
        Ok(MetaLog {
            saved: Saved::Log(log),
            current,
        })
    }

    /// The metadata of a group kept in a store: its log's state value.
    pub(crate) fn in_state(log: StoreLog) -> std::io::Result<Self> {
        let current = match log.state()? {
            Some(record) => codec::decode(&record).map_err(|what| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("store log {}: metadata state value: {what}", log.id()),
                )
            })?,
            None => RaftMeta::default(),
        };
        Ok(MetaLog {
            saved: Saved::State(log),
            current,
        })
    }

    pub(crate) fn current(&self) -> &RaftMeta<C> {
        &self.current
    }

    /// Replaces the metadata with `f` applied to it, durably if `sync` says
    /// so (and always when the save compacts the log). On an error before
    /// the record is written (and synced, if it is to be) the in-memory
    /// copy is unchanged.
    pub(crate) fn update(
        &mut self,
        sync: Durability,
        f: impl FnOnce(&mut RaftMeta<C>),
    ) -> Result<(), String> {
        let mut next = self.current.clone();
        f(&mut next);
        let record = codec::encode(&next).map_err(|e| e.to_string())?;
        let log = match &self.saved {
            Saved::Log(log) => log,
            Saved::State(log) => {
                // Replaced whole, atomically: nothing to compact.
                match sync {
                    Durability::Now => log.set_state(&record),
                    Durability::Later => log.submit_state(&record),
                }
                .map_err(|e| e.to_string())?;
                self.current = next;
                return Ok(());
            }
        };
        let pos = log.append(&record).map_err(|e| e.to_string())?;
        let compact = pos % COMPACT_EVERY == 0 && pos > 0;
        if sync == Durability::Now || compact {
            // Compacting makes `pos` the durable first position; were the
            // record there not durable too, a power cut would leave no
            // record at all, and the store would reopen without its vote
            // and purge point. Each record holds the whole metadata, so
            // once this one is durable the records dropped hold nothing
            // newer. A failed sync poisons the log: no later save can
            // succeed.
            log.sync().map_err(|e| e.to_string())?;
        }
        self.current = next;
        if compact {
            // Only older records are dropped; the one just synced stays.
            // On error the record is durable, so the in-memory copy keeps
            // it.
            log.truncate_front(pos).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Saves `log_id` as the purge point, durably, and drops the entries up
    /// to it from `entries`. In a store (where `entries` is the log whose
    /// state value this is) one entry does both: atomically, with one sync.
    /// With logs of their own the point is saved first: if the process
    /// dies before the entries are dropped, opening drops them (see
    /// `LogStore::open`); the reverse order would lose the purged id's
    /// term.
    pub(crate) fn purge(&mut self, log_id: LogIdOf<C>, entries: &Entries) -> std::io::Result<()> {
        let front = log_id.index + 1;
        if let Saved::State(log) = &self.saved {
            let mut next = self.current.clone();
            next.last_purged = Some(log_id);
            let record = codec::encode(&next).map_err(std::io::Error::other)?;
            log.truncate_front_with_state(front, &record)?;
            self.current = next;
            return Ok(());
        }
        self.update(Durability::Now, |m| m.last_purged = Some(log_id))
            .map_err(std::io::Error::other)?;
        entries.truncate_front(front)
    }

    pub(crate) fn close(&self) -> std::io::Result<()> {
        match &self.saved {
            Saved::Log(log) => Ok(log.close()?),
            Saved::State(log) => Ok(log.sync()?),
        }
    }
}

fn corrupt(dir: &Path, position: u64, what: String) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("{}: metadata record {position}: {what}", dir.display()),
    )
}
