//! Helpers shared by the tests: a type configuration and a small in-memory
//! state machine (the crate provides log storage only; openraft's suite
//! needs a state machine beside it).

#![allow(dead_code)]

use std::io::{self, Cursor};
use std::sync::{Arc, Mutex};

use futures_util::{Stream, StreamExt};
use openraft::alias::{LogIdOf, SnapshotMetaOf, SnapshotOf, StoredMembershipOf};
use openraft::entry::RaftEntry;
use openraft::storage::{EntryResponder, RaftStateMachine};
use openraft::{EntryPayload, OptionalSend, RaftSnapshotBuilder, StoredMembership};

openraft::declare_raft_types!(pub Config);

pub type Entry = openraft::alias::EntryOf<Config>;
pub type LogId = LogIdOf<Config>;
pub type Vote = openraft::alias::VoteOf<Config>;

type Snapshot = SnapshotOf<Config, Cursor<Vec<u8>>>;

#[derive(Default)]
struct State {
    last_applied: Option<LogId>,
    membership: StoredMembershipOf<Config>,
    records: Vec<String>,
    snapshot: Option<(SnapshotMetaOf<Config>, Vec<u8>)>,
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
    type SnapshotData = Cursor<Vec<u8>>;

    async fn build_snapshot(&mut self) -> io::Result<Snapshot> {
        let mut st = self.state.lock().unwrap();
        st.snapshots_built += 1;
        let meta = SnapshotMetaOf::<Config> {
            last_log_id: st.last_applied,
            last_membership: st.membership.clone(),
        };
        let data = bincode::serialize(&st.records).unwrap();
        st.snapshot = Some((meta.clone(), data.clone()));
        Ok(Snapshot {
            meta,
            snapshot: Cursor::new(data),
        })
    }
}

impl RaftStateMachine<Config> for MemStateMachine {
    type SnapshotData = Cursor<Vec<u8>>;
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> io::Result<(Option<LogId>, StoredMembershipOf<Config>)> {
        let st = self.state.lock().unwrap();
        Ok((st.last_applied, st.membership.clone()))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> io::Result<()>
    where
        Strm: Stream<Item = io::Result<EntryResponder<Config>>> + Unpin + OptionalSend,
    {
        while let Some(item) = entries.next().await {
            let (entry, responder) = item?;
            let out = {
                let mut st = self.state.lock().unwrap();
                st.last_applied = Some(entry.log_id);
                match entry.payload {
                    EntryPayload::Blank => String::new(),
                    EntryPayload::Normal(data) => {
                        st.records.push(data.clone());
                        data
                    }
                    EntryPayload::Membership(m) => {
                        st.membership = StoredMembership::new(Some(entry.log_id), m);
                        String::new()
                    }
                }
            };
            if let Some(r) = responder {
                r.send(out);
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self {
        self.clone()
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMetaOf<Config>,
        snapshot: Cursor<Vec<u8>>,
    ) -> io::Result<()> {
        let data = snapshot.into_inner();
        let mut st = self.state.lock().unwrap();
        st.records = bincode::deserialize(&data).unwrap();
        st.last_applied = meta.last_log_id;
        st.membership = meta.last_membership.clone();
        st.snapshot = Some((meta.clone(), data));
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> io::Result<Option<Snapshot>> {
        let st = self.state.lock().unwrap();
        Ok(st.snapshot.as_ref().map(|(meta, data)| Snapshot {
            meta: meta.clone(),
            snapshot: Cursor::new(data.clone()),
        }))
    }
}

/// The log id of term `term` (leader node 1) at `index`.
pub fn log_id(term: u64, index: u64) -> LogId {
    LogId::new(leader_id(term, 1), index)
}

/// The id of leader `node` of term `term`.
pub fn leader_id(term: u64, node: u64) -> openraft::impls::leader_id_adv::LeaderId<u64, u64> {
    use openraft::vote::RaftLeaderId;
    RaftLeaderId::new(term, node)
}

/// A vote for node `node` in term `term`.
pub fn vote(term: u64, node: u64) -> Vote {
    Vote::new(term, node)
}

/// A committed vote for node `node` in term `term`.
pub fn committed_vote(term: u64, node: u64) -> Vote {
    Vote::new_committed(term, node)
}

/// A normal entry whose data names its index.
pub fn entry(term: u64, index: u64) -> Entry {
    Entry::new_normal(log_id(term, index), format!("record {index}"))
}

/// The indexes of normal entries, checking each carries its own index.
pub fn indexes(entries: &[Entry]) -> Vec<u64> {
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

/// Drops the entries from `index` on, as 0.9's `truncate(index)` did.
pub async fn truncate_from<S: openraft::storage::RaftLogStorage<Config>>(
    store: &mut S,
    index: u64,
) -> io::Result<()> {
    store
        .truncate_after(index.checked_sub(1).map(|i| log_id(0, i)))
        .await
}
