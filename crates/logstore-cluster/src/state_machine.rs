//! The state machine: the replicated records in a [`logstore::Log`].
//!
//! Applying an `Append` appends the record to the data log, so every node
//! gives a record the same position (all apply the same commands in the
//! same order to a log that starts empty). Each data record starts with
//! the 24-byte raft log id of the entry that wrote it (term, leader node,
//! index, little-endian), so the last applied id of normal entries is
//! found in the data log itself and applying needs no second write.
//! Other applied entries (membership, truncation) save the applied id and
//! the membership in a small metadata log.
//!
//! The data log is not synced on apply: an entry is durable in the raft log
//! of a majority before it is applied, and after a crash openraft applies
//! again from the last applied id found here (the raft log is not purged,
//! see `node`). Before a `TruncateFront` the data log is synced, so no
//! record before the truncation point can be lost behind it.

use std::io::{self, Cursor};
use std::path::Path;
use std::sync::Arc;

use futures_util::{Stream, StreamExt};
use logstore::{Log, Options, SyncPolicy};
use openraft::alias::{SnapshotMetaOf, SnapshotOf, StoredMembershipOf};
use openraft::storage::{ApplyResponder, EntryResponder, RaftStateMachine};
use openraft::{EntryPayload, OptionalSend, RaftSnapshotBuilder, StoredMembership};
use serde::{Deserialize, Serialize};

use crate::types::{leader_id, Entry, LogId, Request, Response, TypeConfig};

type Snapshot = SnapshotOf<TypeConfig, Cursor<Vec<u8>>>;

/// Bytes of the raft log id before each data record's payload.
pub const DATA_HEADER_LEN: usize = 24;

/// The data log's subdirectory.
pub const DATA_DIR: &str = "data";
/// The state machine metadata's subdirectory.
pub const SM_META_DIR: &str = "sm-meta";

#[derive(Clone, Default, Serialize, Deserialize)]
struct SmMeta {
    last_applied: Option<LogId>,
    membership: StoredMembershipOf<TypeConfig>,
}

/// The state machine of one node.
pub struct DataStateMachine {
    data: Arc<Log>,
    meta_log: Log,
    meta: SmMeta,
}

type SmResult<T> = io::Result<T>;

fn io_err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

impl DataStateMachine {
    /// Opens the state machine kept in `dir`.
    ///
    /// # Errors
    /// As [`logstore::Log::open`], or if a metadata record is damaged.
    pub fn open(dir: &Path, options: Options) -> std::io::Result<Self> {
        let data = Log::open(
            dir.join(DATA_DIR),
            options
                .clone()
                .sync_policy(SyncPolicy::Never)
                .max_record_size(logstore_raft::MAX_ENTRY_SIZE),
        )?;
        let meta_log = Log::open(
            dir.join(SM_META_DIR),
            options.sync_policy(SyncPolicy::Always),
        )?;
        let mut meta = match meta_log.next_position().checked_sub(1) {
            Some(last) if last >= meta_log.first_position() => {
                bincode::deserialize(&meta_log.read(last)?).map_err(std::io::Error::other)?
            }
            _ => SmMeta::default(),
        };
        if let Some(id) = last_data_log_id(&data)? {
            if meta.last_applied.is_none_or(|m| m.index < id.index) {
                meta.last_applied = Some(id);
            }
        }
        Ok(DataStateMachine {
            data: Arc::new(data),
            meta_log,
            meta,
        })
    }

    /// The data log, for reads.
    pub fn data(&self) -> Arc<Log> {
        self.data.clone()
    }

    fn save_meta(&mut self) -> SmResult<()> {
        let record = bincode::serialize(&self.meta).map_err(io_err)?;
        let pos = self.meta_log.append(&record).map_err(io_err)?;
        if pos > 0 && pos % 256 == 0 {
            self.meta_log.truncate_front(pos).map_err(io_err)?;
        }
        Ok(())
    }
}

fn last_data_log_id(data: &Log) -> std::io::Result<Option<LogId>> {
    let next = data.next_position();
    if next == data.first_position() {
        return Ok(None);
    }
    let record = data.read(next - 1)?;
    decode_header(&record)
        .map(|(id, _)| Some(id))
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("data record {} is shorter than its header", next - 1),
            )
        })
}

fn encode_record(id: &LogId, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(DATA_HEADER_LEN + payload.len());
    out.extend_from_slice(&id.leader_id.term.to_le_bytes());
    out.extend_from_slice(&id.leader_id.node_id.to_le_bytes());
    out.extend_from_slice(&id.index.to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// Splits a data record into the raft log id and the payload.
pub fn decode_header(record: &[u8]) -> Option<(LogId, &[u8])> {
    if record.len() < DATA_HEADER_LEN {
        return None;
    }
    let word = |i: usize| u64::from_le_bytes(record[i * 8..i * 8 + 8].try_into().unwrap());
    let id = LogId::new(leader_id(word(0), word(1)), word(2));
    Some((id, &record[DATA_HEADER_LEN..]))
}

impl DataStateMachine {
    fn flush_appends(&mut self, pending: &mut Vec<Vec<u8>>) -> SmResult<()> {
        if !pending.is_empty() {
            self.data.append_batch(pending).map_err(io_err)?;
            pending.clear();
        }
        Ok(())
    }

    fn apply_one(&mut self, entry: Entry, pending: &mut Vec<Vec<u8>>) -> SmResult<Response> {
        let id = entry.log_id;
        self.meta.last_applied = Some(id);
        match entry.payload {
            EntryPayload::Blank => Ok(Response::None),
            EntryPayload::Normal(Request::Append(record)) => {
                let position = self.data.next_position() + pending.len() as u64;
                pending.push(encode_record(&id, &record));
                Ok(Response::Appended(position))
            }
            EntryPayload::Normal(Request::AppendBatch(records)) => {
                let first = self.data.next_position() + pending.len() as u64;
                pending.extend(records.iter().map(|r| encode_record(&id, &r.0)));
                Ok(Response::AppendedBatch(first))
            }
            EntryPayload::Normal(Request::TruncateFront(position)) => {
                self.flush_appends(pending)?;
                self.data.sync().map_err(io_err)?;
                if position > self.data.first_position() {
                    self.data.truncate_front(position).map_err(io_err)?;
                }
                self.save_meta()?;
                Ok(Response::TruncatedFront(self.data.first_position()))
            }
            EntryPayload::Membership(m) => {
                self.flush_appends(pending)?;
                self.meta.membership = StoredMembership::new(Some(id), m);
                self.save_meta()?;
                Ok(Response::None)
            }
        }
    }
}

impl RaftStateMachine<TypeConfig> for DataStateMachine {
    type SnapshotData = Cursor<Vec<u8>>;
    type SnapshotBuilder = NoSnapshots;

    async fn applied_state(&mut self) -> SmResult<(Option<LogId>, StoredMembershipOf<TypeConfig>)> {
        Ok((self.meta.last_applied, self.meta.membership.clone()))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> SmResult<()>
    where
        Strm: Stream<Item = io::Result<EntryResponder<TypeConfig>>> + Unpin + OptionalSend,
    {
        let mut pending = Vec::new();
        let mut replies: Vec<(ApplyResponder<TypeConfig>, Response)> = Vec::new();
        while let Some(item) = entries.next().await {
            let (entry, responder) = item?;
            let response = self.apply_one(entry, &mut pending)?;
            if let Some(r) = responder {
                replies.push((r, response));
            }
        }
        // Clients learn a position only once its record is in the data log.
        self.flush_appends(&mut pending)?;
        for (r, response) in replies {
            r.send(response);
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> NoSnapshots {
        NoSnapshots
    }

    async fn install_snapshot(
        &mut self,
        _meta: &SnapshotMetaOf<TypeConfig>,
        _snapshot: Cursor<Vec<u8>>,
    ) -> SmResult<()> {
        Err(io_err("snapshots are not supported"))
    }

    async fn get_current_snapshot(&mut self) -> SmResult<Option<Snapshot>> {
        Ok(None)
    }
}

/// Snapshots are never built: the raft log is kept whole (the node's
/// configuration disables snapshots, hence purging), so a lagging node
/// always catches up from the log.
pub struct NoSnapshots;

impl RaftSnapshotBuilder<TypeConfig> for NoSnapshots {
    type SnapshotData = Cursor<Vec<u8>>;

    async fn build_snapshot(&mut self) -> SmResult<Snapshot> {
        Err(io_err("snapshots are not supported"))
    }
}
