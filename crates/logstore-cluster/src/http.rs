//! The HTTP transport: raft messages between nodes, and the client API.
//!
//! Raft messages are bincode bodies (`POST /raft/append`, `/raft/vote`,
//! `/raft/snapshot`); a node that fails to handle one answers 503 and the
//! sender treats the peer as unreachable, retrying as raft does.
//!
//! Replication messages carry at most [`MESSAGE_BUDGET`] bytes of records
//! (or one larger record), so that a message of 32 MiB records stays
//! bounded. openraft waits one heartbeat interval (100 ms) for an answer;
//! a message of megabytes that must also be synced on the follower can
//! take longer, so its transfer goes on after openraft stops waiting, and
//! openraft's next call for the same entries waits for that transfer
//! instead of sending them again. Heartbeats go at once, also beside such
//! a transfer, so that followers keep hearing from the leader.
//!
//! Client API (records are raw bodies):
//!
//! | request | answer |
//! |---|---|
//! | `POST /append` with the record | `200` and the position |
//! | `GET /read/{position}` | `200` and the record |
//! | `GET /replay?from=P&limit=N` | `200`, one `position<TAB>record` line each (records shown as UTF-8, lossily) |
//! | `POST /truncate_front/{position}` | `200` and the new first position |
//! | `GET /positions` | `200` and `first next` |
//! | `GET /status` | `200` and `node N leader L` |
//!
//! A write sent to a follower gets `421` with the leader's address in the
//! `x-leader` header. A write whose outcome is unknown gets `500`.

use std::sync::Arc;
use std::time::Duration;

use anyerror::AnyError;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use openraft::error::{InstallSnapshotError, PayloadTooLarge, RPCError, RaftError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{BasicNode, Entry, EntryPayload, LogId, Vote};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::node::{ClientError, Node};
use crate::types::{NodeId, Request, TypeConfig};

/// Most bytes of records in one replication message, unless its first
/// record alone is larger.
pub const MESSAGE_BUDGET: usize = 8 << 20;

/// Largest request body: a replication message of one entry of the
/// largest size, or of entries within [`MESSAGE_BUDGET`], with room for
/// the message's own fields.
pub const MAX_BODY: usize = logstore_raft::MAX_ENTRY_SIZE + (1 << 20);

/// How long a replication message may take to be answered once openraft
/// has stopped waiting for it.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(60);

/// The routes of one node.
pub fn routes(node: Arc<Node>) -> axum::Router {
    axum::Router::new()
        .route("/raft/append", post(raft_append))
        .route("/raft/vote", post(raft_vote))
        .route("/raft/snapshot", post(raft_snapshot))
        .route("/append", post(append))
        .route("/read/{position}", get(read))
        .route("/replay", get(replay))
        .route("/truncate_front/{position}", post(truncate_front))
        .route("/positions", get(positions))
        .route("/status", get(status))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(node)
}

type NodeState = State<Arc<Node>>;

fn bincode_reply<T: Serialize, E: std::fmt::Display>(r: Result<T, E>) -> Response {
    match r
        .map_err(|e| e.to_string())
        .and_then(|v| bincode::serialize(&v).map_err(|e| e.to_string()))
    {
        Ok(body) => (StatusCode::OK, body).into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e).into_response(),
    }
}

fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, Response> {
    bincode::deserialize(body).map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()).into_response())
}

async fn raft_append(State(node): NodeState, body: Bytes) -> Response {
    match decode::<AppendEntriesRequest<TypeConfig>>(&body) {
        Ok(rpc) => bincode_reply(node.raft().append_entries(rpc).await),
        Err(r) => r,
    }
}

async fn raft_vote(State(node): NodeState, body: Bytes) -> Response {
    match decode::<VoteRequest<NodeId>>(&body) {
        Ok(rpc) => bincode_reply(node.raft().vote(rpc).await),
        Err(r) => r,
    }
}

async fn raft_snapshot(State(node): NodeState, body: Bytes) -> Response {
    match decode::<InstallSnapshotRequest<TypeConfig>>(&body) {
        Ok(rpc) => bincode_reply(node.raft().install_snapshot(rpc).await),
        Err(r) => r,
    }
}

fn client_error(e: ClientError) -> Response {
    match e {
        ClientError::NotLeader { leader, addr } => {
            let mut headers = HeaderMap::new();
            if let Some(v) = addr.as_deref().and_then(|a| HeaderValue::from_str(a).ok()) {
                headers.insert("x-leader", v);
            }
            let text = match (leader, addr) {
                (Some(l), Some(a)) => format!("not the leader; the leader is node {l} at {a}\n"),
                _ => "not the leader; no leader is known yet\n".to_string(),
            };
            (StatusCode::MISDIRECTED_REQUEST, headers, text).into_response()
        }
        ClientError::Log(e) if e.kind() == logstore::ErrorKind::OutOfRange => {
            (StatusCode::NOT_FOUND, format!("{e}\n")).into_response()
        }
        ClientError::Log(e) if e.kind() == logstore::ErrorKind::Truncated => {
            (StatusCode::GONE, format!("{e}\n")).into_response()
        }
        e => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

async fn append(State(node): NodeState, body: Bytes) -> Response {
    if body.is_empty() {
        return (StatusCode::BAD_REQUEST, "empty record\n").into_response();
    }
    match node.append(body.to_vec()).await {
        Ok(pos) => format!("{pos}\n").into_response(),
        Err(e) => client_error(e),
    }
}

async fn read(State(node): NodeState, Path(position): Path<u64>) -> Response {
    match node.read(position) {
        Ok(record) => record.into_response(),
        Err(e) => client_error(e),
    }
}

#[derive(Deserialize)]
struct ReplayQuery {
    from: Option<u64>,
    limit: Option<usize>,
}

async fn replay(State(node): NodeState, Query(q): Query<ReplayQuery>) -> Response {
    let from = q.from.unwrap_or_else(|| node.first_position());
    match node.replay(from, q.limit.unwrap_or(100)) {
        Ok(records) => records
            .iter()
            .map(|(p, r)| format!("{p}\t{}\n", String::from_utf8_lossy(r)))
            .collect::<String>()
            .into_response(),
        Err(e) => client_error(e),
    }
}

async fn truncate_front(State(node): NodeState, Path(position): Path<u64>) -> Response {
    match node.truncate_front(position).await {
        Ok(first) => format!("{first}\n").into_response(),
        Err(e) => client_error(e),
    }
}

async fn positions(State(node): NodeState) -> Response {
    format!("{} {}\n", node.first_position(), node.next_position()).into_response()
}

async fn status(State(node): NodeState) -> Response {
    let leader = node
        .leader()
        .map_or("unknown".to_string(), |l| l.to_string());
    format!("node {} leader {leader}\n", node.id()).into_response()
}

/// Sends raft messages to other nodes over HTTP.
#[derive(Clone, Default)]
pub struct HttpNetwork {
    client: reqwest::Client,
}

/// A connection to one peer.
pub struct HttpConnection {
    client: reqwest::Client,
    addr: String,
    /// The replication message still in transfer, if openraft stopped
    /// waiting for it.
    pending: Option<PendingAppend>,
}

impl Drop for HttpConnection {
    fn drop(&mut self) {
        // Replication to this peer stopped (leadership lost, peer
        // removed): nobody waits for the transfer any more.
        if let Some(p) = self.pending.take() {
            p.task.abort();
        }
    }
}

/// A replication message being sent by a task of its own.
struct PendingAppend {
    vote: Vote<NodeId>,
    prev: Option<LogId<NodeId>>,
    last: Option<LogId<NodeId>>,
    task: tokio::task::JoinHandle<Result<AppendEntriesResponse<NodeId>, String>>,
}

impl RaftNetworkFactory<TypeConfig> for HttpNetwork {
    type Network = HttpConnection;

    async fn new_client(&mut self, _target: NodeId, node: &BasicNode) -> HttpConnection {
        HttpConnection {
            client: self.client.clone(),
            addr: node.addr.clone(),
            pending: None,
        }
    }
}

fn unreachable<E: std::error::Error>(e: String) -> RPCError<NodeId, BasicNode, E> {
    RPCError::Unreachable(Unreachable::new(&AnyError::error(e)))
}

fn record_bytes(entry: &Entry<TypeConfig>) -> usize {
    match &entry.payload {
        EntryPayload::Normal(Request::Append(record)) => record.len(),
        EntryPayload::Normal(Request::AppendBatch(records)) => {
            records.iter().map(|r| r.0.len()).sum()
        }
        _ => 0,
    }
}

/// How many of `entries` fit [`MESSAGE_BUDGET`] (at least one), if not all.
fn entries_within_budget(entries: &[Entry<TypeConfig>]) -> Option<u64> {
    let mut total = 0;
    for (i, entry) in entries.iter().enumerate() {
        total += record_bytes(entry);
        if total > MESSAGE_BUDGET && entries.len() > 1 {
            return Some(i.max(1) as u64);
        }
    }
    None
}

/// Sends a bincode body and decodes the answer.
async fn send_bincode<Resp: DeserializeOwned>(
    request: reqwest::RequestBuilder,
) -> Result<Resp, String> {
    let resp = request.send().await.map_err(|e| e.to_string())?;
    let status = resp.status();
    let bytes = resp.bytes().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{status}: {}", String::from_utf8_lossy(&bytes)));
    }
    bincode::deserialize(&bytes).map_err(|e| e.to_string())
}

impl HttpConnection {
    async fn call<Req, Resp, E>(
        &self,
        path: &str,
        rpc: &Req,
        ttl: Duration,
    ) -> Result<Resp, RPCError<NodeId, BasicNode, E>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error,
    {
        let body = bincode::serialize(rpc).map_err(|e| unreachable(e.to_string()))?;
        let request = self
            .client
            .post(format!("http://{}{path}", self.addr))
            .timeout(ttl)
            .body(body);
        send_bincode(request).await.map_err(unreachable)
    }

    /// Sends the entries of `rpc` in a task of their own, or joins the
    /// transfer of the same entries (same leader, same previous entry)
    /// that an earlier call left running. Cancel-safe: if openraft stops
    /// waiting, the transfer stays pending for the next call.
    async fn append_in_task(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        let last = rpc.entries.last().map(|e| e.log_id);
        let joins = self
            .pending
            .as_ref()
            .is_some_and(|p| p.vote == rpc.vote && p.prev == rpc.prev_log_id);
        if !joins {
            // A transfer for other entries is left to finish on its own.
            let body = bincode::serialize(&rpc).map_err(|e| unreachable(e.to_string()))?;
            let request = self
                .client
                .post(format!("http://{}/raft/append", self.addr))
                .timeout(TRANSFER_TIMEOUT)
                .body(body);
            self.pending = Some(PendingAppend {
                vote: rpc.vote,
                prev: rpc.prev_log_id,
                last,
                task: tokio::spawn(send_bincode(request)),
            });
        }
        let pending = self.pending.as_mut().expect("set above");
        let joined = (&mut pending.task).await;
        let sent_last = pending.last;
        self.pending = None;
        let resp = joined
            .map_err(|e| unreachable(e.to_string()))?
            .map_err(unreachable)?;
        // The transfer joined may hold fewer entries than `rpc` (the
        // leader appended more since): only those are acknowledged.
        Ok(match resp {
            AppendEntriesResponse::Success if last > sent_last => {
                AppendEntriesResponse::PartialSuccess(sent_last)
            }
            other => other,
        })
    }
}

impl RaftNetwork<TypeConfig> for HttpConnection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        if let Some(fit) = entries_within_budget(&rpc.entries) {
            return Err(RPCError::PayloadTooLarge(
                PayloadTooLarge::new_entries_hint(fit),
            ));
        }
        if rpc.entries.is_empty() {
            return self.call("/raft/append", &rpc, option.hard_ttl()).await;
        }
        self.append_in_task(rpc).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        self.call("/raft/snapshot", &rpc, option.hard_ttl()).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.call("/raft/vote", &rpc, option.hard_ttl()).await
    }
}
