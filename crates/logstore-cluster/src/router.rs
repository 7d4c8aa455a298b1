//! The in-process network: nodes of one process call each other's raft
//! handles directly. Removing a node from the router cuts it off, as a
//! crashed machine would be.

use std::collections::HashMap;
use std::future::Future;
use std::io::Cursor;
use std::sync::{Arc, Mutex};

use openraft::alias::{SnapshotOf, VoteOf};
use openraft::error::{RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{RPCOption, RaftNetworkFactory, RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use openraft::BasicNode;

use crate::types::{NodeId, Raft, TypeConfig};

/// Connects the raft handles of one process.
#[derive(Clone, Default)]
pub struct Router {
    nodes: Arc<Mutex<HashMap<NodeId, Raft>>>,
}

impl Router {
    /// Makes `raft` reachable as node `id`.
    pub fn add(&self, id: NodeId, raft: Raft) {
        self.nodes.lock().unwrap().insert(id, raft);
    }

    /// Cuts node `id` off: calls to it fail as unreachable.
    pub fn remove(&self, id: NodeId) {
        self.nodes.lock().unwrap().remove(&id);
    }

    fn get(&self, id: NodeId) -> Result<Raft, Unreachable<TypeConfig>> {
        self.nodes
            .lock()
            .unwrap()
            .get(&id)
            .cloned()
            .ok_or_else(|| Unreachable::from_string(format!("node {id} is not reachable")))
    }
}

/// A connection from one node to another through the [`Router`].
pub struct RouterConnection {
    router: Router,
    target: NodeId,
}

impl RaftNetworkFactory<TypeConfig> for Router {
    type Network = RouterConnection;

    async fn new_client(&mut self, target: NodeId, _node: &BasicNode) -> RouterConnection {
        RouterConnection {
            router: self.clone(),
            target,
        }
    }
}

/// A failure of the remote raft (it stopped) reads as an unreachable node.
fn stopped(target: NodeId, e: impl std::fmt::Display) -> RPCError<TypeConfig> {
    RPCError::Unreachable(Unreachable::from_string(format!("node {target}: {e}")))
}

impl RaftNetworkV2<TypeConfig> for RouterConnection {
    type SnapshotData = Cursor<Vec<u8>>;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        let raft = self.router.get(self.target)?;
        raft.append_entries(rpc)
            .await
            .map_err(|e| stopped(self.target, e))
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        let raft = self.router.get(self.target)?;
        raft.vote(rpc).await.map_err(|e| stopped(self.target, e))
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        let raft = self.router.get(self.target)?;
        raft.pre_vote(rpc)
            .await
            .map_err(|e| stopped(self.target, e))
    }

    async fn full_snapshot(
        &mut self,
        _vote: VoteOf<TypeConfig>,
        _snapshot: SnapshotOf<TypeConfig, Cursor<Vec<u8>>>,
        _cancel: impl Future<Output = ReplicationClosed> + Send + 'static,
        _option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        // Nodes never build snapshots (see `state_machine`).
        Err(StreamingError::Unreachable(Unreachable::from_string(
            "snapshots are not supported",
        )))
    }
}
