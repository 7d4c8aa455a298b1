//! The in-process network: nodes of one process call each other's raft
//! handles directly. Removing a node from the router cuts it off, as a
//! crashed machine would be.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyerror::AnyError;
use openraft::error::{InstallSnapshotError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
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

    fn get<E: std::error::Error>(
        &self,
        id: NodeId,
    ) -> Result<Raft, RPCError<NodeId, BasicNode, E>> {
        self.nodes.lock().unwrap().get(&id).cloned().ok_or_else(|| {
            RPCError::Unreachable(Unreachable::new(&AnyError::error(format!(
                "node {id} is not reachable"
            ))))
        })
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

fn remote<E: std::error::Error>(
    target: NodeId,
    e: RaftError<NodeId, E>,
) -> RPCError<NodeId, BasicNode, RaftError<NodeId, E>> {
    RPCError::RemoteError(RemoteError::new(target, e))
}

impl RaftNetwork<TypeConfig> for RouterConnection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        let raft = self.router.get(self.target)?;
        raft.append_entries(rpc)
            .await
            .map_err(|e| remote(self.target, e))
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        let raft = self.router.get(self.target)?;
        raft.install_snapshot(rpc)
            .await
            .map_err(|e| remote(self.target, e))
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        let raft = self.router.get(self.target)?;
        raft.vote(rpc).await.map_err(|e| remote(self.target, e))
    }
}
