//! A node: openraft with logstore-raft for its log, the data log for its
//! state machine, and a network; plus the client operations.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use logstore::Log;
use logstore_raft::LogStore;
use openraft::async_runtime::WatchReceiver;
use openraft::error::{ClientWriteError, RaftError};
use openraft::network::{NetSnapshot, RaftNetworkFactory};
use openraft::{BasicNode, Config, RaftMetrics, ServerState, SnapshotPolicy};

use crate::batch::Batcher;
use crate::leader_watch::{self, LeaderContact};
use crate::state_machine::{decode_header, DataStateMachine};
use crate::types::{NodeId, Raft, Request, Response, TypeConfig};

/// The raft log's subdirectory of a node's directory.
pub const RAFT_DIR: &str = "raft";

/// Why a client operation failed.
#[derive(Clone, Debug)]
pub enum ClientError {
    /// This node is not the leader; ask the one named, if known.
    NotLeader {
        /// The leader's id, if known.
        leader: Option<NodeId>,
        /// The leader's address, if known.
        addr: Option<String>,
    },
    /// The operation may or may not have taken effect (the node lost its
    /// leadership or stopped while it was in flight).
    Raft(String),
    /// Reading the data log failed.
    Log(Arc<logstore::Error>),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::NotLeader { leader, addr } => {
                write!(f, "not the leader (leader: {leader:?} at {addr:?})")
            }
            ClientError::Raft(e) => write!(f, "raft: {e}"),
            ClientError::Log(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ClientError {}

/// The raft timing used by nodes: heartbeats every 100 ms; a leader's lease
/// lasts 600 ms after its last message, and a follower campaigns 300–600 ms
/// after that (or, with [`Node::watch_leader`], 100–250 ms after that).
pub fn raft_config() -> Config {
    Config {
        cluster_name: "logstore".into(),
        heartbeat_interval: 100,
        election_timeout_min: 300,
        election_timeout_max: 600,
        // The raft log is kept whole: without snapshots nothing is purged,
        // and lagging nodes catch up from the log.
        snapshot_policy: SnapshotPolicy::Never,
        // Entries per replication message; the HTTP transport also keeps a
        // message within `http::MESSAGE_BUDGET` bytes of records.
        max_payload_entries: 64,
        // Elections as in openraft 0.9, without a pre-vote round: the
        // failover timing below counts on it.
        enable_pre_vote: Some(false),
        ..Config::default()
    }
}

/// One member of a replicated log.
pub struct Node {
    id: NodeId,
    raft: Raft,
    batcher: Batcher,
    data: Arc<Log>,
    dir: PathBuf,
    contact: Arc<LeaderContact>,
}

impl Node {
    /// Starts node `id` with its files in `dir`, talking through `network`.
    ///
    /// # Errors
    /// If the store cannot be opened or raft does not start.
    pub async fn start<N>(id: NodeId, dir: &Path, network: N) -> std::io::Result<Node>
    where
        N: RaftNetworkFactory<TypeConfig>,
        N::Network: NetSnapshot<TypeConfig, SnapshotData = std::io::Cursor<Vec<u8>>>,
    {
        let options = logstore::Options::default();
        let log_store = LogStore::<TypeConfig>::open(dir.join(RAFT_DIR), options.clone())?;
        let sm = DataStateMachine::open(dir, options)?;
        let data = sm.data();
        let config = Arc::new(raft_config().validate().map_err(std::io::Error::other)?);
        let raft = Raft::new(id, config, network, log_store, sm)
            .await
            .map_err(std::io::Error::other)?;
        Ok(Node {
            id,
            batcher: Batcher::start(raft.clone()),
            raft,
            data,
            dir: dir.to_path_buf(),
            contact: Arc::new(LeaderContact::new()),
        })
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// This node's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The raft handle (metrics, membership changes).
    pub fn raft(&self) -> &Raft {
        &self.raft
    }

    /// Starts an election whenever nothing has been heard from the leader
    /// for its lease plus 100–250 ms, sooner than openraft alone would (see
    /// `leader_watch`). The transport must then report every message from
    /// the leader with [`Node::heard_from_leader`], as the HTTP transport
    /// does; without the watch that is not needed.
    pub fn watch_leader(&self) {
        let run = leader_watch::run(self.raft.clone(), self.contact.clone(), raft_config());
        tokio::spawn(run);
    }

    /// Notes that a message from the leader of this node's term (or a
    /// request from a candidate this node voted for) arrived at `at`.
    pub fn heard_from_leader(&self, at: Instant) {
        self.contact.heard(at);
    }

    /// Makes a new cluster of `members`; call on one node only.
    ///
    /// # Errors
    /// If the cluster was already initialized.
    pub async fn initialize(
        &self,
        members: impl IntoIterator<Item = (NodeId, String)>,
    ) -> Result<(), ClientError> {
        let members: std::collections::BTreeMap<_, _> = members
            .into_iter()
            .map(|(id, addr)| (id, BasicNode { addr }))
            .collect();
        self.raft
            .initialize(members)
            .await
            .map_err(|e| ClientError::Raft(e.to_string()))
    }

    /// The current leader as this node knows it.
    pub fn leader(&self) -> Option<NodeId> {
        self.raft.metrics().borrow_watched().current_leader
    }

    /// Waits until some node is known as leader.
    pub async fn wait_for_leader(&self, timeout: Duration) -> Option<NodeId> {
        self.raft
            .wait(Some(timeout))
            .metrics(|m| m.current_leader.is_some(), "a leader")
            .await
            .ok()
            .and_then(|m| m.current_leader)
    }

    /// Appends `record` (1 byte to 32 MiB); returns its position once a
    /// majority has it durably and this node (the leader) has applied it.
    /// Appends from concurrent clients share raft entries (see `batch`).
    ///
    /// # Errors
    /// [`ClientError::NotLeader`] (nothing was done), or
    /// [`ClientError::Raft`] (the outcome is unknown).
    pub async fn append(&self, record: Vec<u8>) -> Result<u64, ClientError> {
        self.batcher.append(record).await
    }

    /// Drops every record before `position`, on every node; returns the new
    /// first position.
    ///
    /// # Errors
    /// As [`Node::append`].
    pub async fn truncate_front(&self, position: u64) -> Result<u64, ClientError> {
        match write(&self.raft, Request::TruncateFront(position)).await? {
            Response::TruncatedFront(first) => Ok(first),
            other => Err(ClientError::Raft(format!("unexpected response {other:?}"))),
        }
    }

    /// The record at `position`, as applied on this node.
    ///
    /// # Errors
    /// As [`logstore::Log::read`] (`OutOfRange` for a position not applied
    /// here yet, `Truncated` before the first position).
    pub fn read(&self, position: u64) -> Result<Vec<u8>, ClientError> {
        let record = self
            .data
            .read(position)
            .map_err(|e| ClientError::Log(Arc::new(e)))?;
        Ok(payload(&record).to_vec())
    }

    /// Up to `limit` records from `from` on, with their positions.
    ///
    /// # Errors
    /// As [`logstore::Log::replay`].
    pub fn replay(&self, from: u64, limit: usize) -> Result<Vec<(u64, Vec<u8>)>, ClientError> {
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        self.data
            .replay(from, |p, r| {
                out.push((p, payload(r).to_vec()));
                out.len() < limit
            })
            .map_err(|e| ClientError::Log(Arc::new(e)))?;
        Ok(out)
    }

    /// The oldest position kept on this node.
    pub fn first_position(&self) -> u64 {
        self.data.first_position()
    }

    /// The position after the last record applied on this node.
    pub fn next_position(&self) -> u64 {
        self.data.next_position()
    }

    /// Stops raft and closes the files; reads fail with `Closed` after.
    ///
    /// # Errors
    /// If raft did not stop cleanly or the data log's final sync failed.
    pub async fn shutdown(&self) -> Result<(), ClientError> {
        let stopped = self
            .raft
            .shutdown()
            .await
            .map_err(|e| ClientError::Raft(e.to_string()));
        // Raft has stopped applying: release the data log's lock now rather
        // than when the last handle to this node goes.
        let closed = self.data.close().map_err(|e| ClientError::Log(Arc::new(e)));
        stopped.and(closed)
    }
}

/// Sends `request` through raft; its response once applied here.
pub(crate) async fn write(raft: &Raft, request: Request) -> Result<Response, ClientError> {
    wait_for_first_quorum_ack(raft).await;
    match raft.client_write(request).await {
        Ok(r) => Ok(r.data),
        Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
            Err(ClientError::NotLeader {
                leader: f.leader_id,
                addr: f.leader_node.map(|n| n.addr),
            })
        }
        Err(e) => Err(ClientError::Raft(e.to_string())),
    }
}

/// openraft 0.10 takes writes only from a leader whose lease a quorum
/// has acknowledged (it answers others "forward to leader", leader
/// unknown). A leader elected a moment ago has no acknowledgement yet: it
/// gets one once its first message is answered, a round trip later. A
/// write to it waits for that (at most a lease), as it did in openraft
/// 0.9, instead of being refused. A leader whose acknowledged lease ran
/// out (it may have been deposed) refuses writes, without waiting.
async fn wait_for_first_quorum_ack(raft: &Raft) {
    let acked = |m: &RaftMetrics<TypeConfig>| {
        m.state != ServerState::Leader || m.last_quorum_acked.is_some()
    };
    if acked(&raft.metrics().borrow_watched()) {
        return;
    }
    let lease = Duration::from_millis(raft_config().election_timeout_max);
    // On timeout the write goes ahead and is refused.
    let _ = raft
        .wait(Some(lease))
        .metrics(acked, "a quorum's first acknowledgement")
        .await;
}

fn payload(record: &[u8]) -> &[u8] {
    decode_header(record).map_or(record, |(_, p)| p)
}
