//! Helpers shared by the tests: a type configuration and a small in-memory
//! state machine (the crate provides log storage only; openraft's suite
//! needs a state machine beside it).

#![allow(dead_code)]

use std::io::Cursor;
use std::sync::{Arc, Mutex};

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    BasicNode, Entry, EntryPayload, LogId, RaftSnapshotBuilder, SnapshotMeta, StorageError,
    StoredMembership,
};

openraft::declare_raft_types!(pub Config);

#[derive(Default)]
struct State {
    last_applied: Option<LogId<u64>>,
    membership: StoredMembership<u64, BasicNode>,
    records: Vec<String>,
    snapshot: Option<(SnapshotMeta<u64, BasicNode>, Vec<u8>)>,
    snapshots_built: u64,
}

/// Applies normal entries by keeping their data in a vector.
#[derive(Clone, Default)]
pub struct MemStateMachine {
    state: Arc<Mutex<State>>,
}

impl MemStateMachine {
    pub fn records(&self) -> Vec<String> {
        self.state.lock().unwrap().records.clone()
    }
}

impl RaftSnapshotBuilder<Config> for MemStateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<Config>, StorageError<u64>> {
        let mut st = self.state.lock().unwrap();
        st.snapshots_built += 1;
        let meta = SnapshotMeta {
            last_log_id: st.last_applied,
            last_membership: st.membership.clone(),
            snapshot_id: format!("snapshot-{}", st.snapshots_built),
        };
        let data = bincode::serialize(&st.records).unwrap();
        st.snapshot = Some((meta.clone(), data.clone()));
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStateMachine<Config> for MemStateMachine {
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<u64>>, StoredMembership<u64, BasicNode>), StorageError<u64>> {
        let st = self.state.lock().unwrap();
        Ok((st.last_applied, st.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<String>, StorageError<u64>>
    where
        I: IntoIterator<Item = Entry<Config>> + Send,
        I::IntoIter: Send,
    {
        let mut st = self.state.lock().unwrap();
        let mut out = Vec::new();
        for entry in entries {
            st.last_applied = Some(entry.log_id);
            match entry.payload {
                EntryPayload::Blank => out.push(String::new()),
                EntryPayload::Normal(data) => {
                    st.records.push(data.clone());
                    out.push(data);
                }
                EntryPayload::Membership(m) => {
                    st.membership = StoredMembership::new(Some(entry.log_id), m);
                    out.push(String::new());
                }
            }
        }
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self {
        self.clone()
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> Result<Box<Cursor<Vec<u8>>>, StorageError<u64>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<u64>> {
        let data = snapshot.into_inner();
        let mut st = self.state.lock().unwrap();
        st.records = bincode::deserialize(&data).unwrap();
        st.last_applied = meta.last_log_id;
        st.membership = meta.last_membership.clone();
        st.snapshot = Some((meta.clone(), data));
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<Config>>, StorageError<u64>> {
        let st = self.state.lock().unwrap();
        Ok(st.snapshot.as_ref().map(|(meta, data)| Snapshot {
            meta: meta.clone(),
            snapshot: Box::new(Cursor::new(data.clone())),
        }))
    }
}

/// The log id of term `term` (leader node 1) at `index`.
pub fn log_id(term: u64, index: u64) -> LogId<u64> {
    LogId::new(openraft::CommittedLeaderId::new(term, 1), index)
}

/// A normal entry whose data names its index.
pub fn entry(term: u64, index: u64) -> Entry<Config> {
    Entry {
        log_id: log_id(term, index),
        payload: EntryPayload::Normal(format!("record {index}")),
    }
}

/// The indexes of normal entries, checking each carries its own index.
pub fn indexes(entries: &[Entry<Config>]) -> Vec<u64> {
    entries
        .iter()
        .map(|e| {
            if let EntryPayload::Normal(d) = &e.payload {
                assert_eq!(d, &format!("record {}", e.log_id.index));
            }
            e.log_id.index
        })
        .collect()
}
