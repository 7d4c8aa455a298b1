//! The HTTP transport: raft messages between nodes, and the client API.
//!
//! Raft messages are bincode bodies (`POST /raft/append`, `/raft/vote`,
//! `/raft/pre_vote`); a node that fails to handle one answers 503 and the
//! sender treats the peer as unreachable, retrying as raft does. Snapshots
//! are never sent (nodes build none, see `state_machine`).
//!
//! Replication messages carry at most [`MESSAGE_BUDGET`] bytes of records
//! (or one larger record), so that a message of 32 MiB records stays
//! bounded: the transport sends the entries that fit and answers
//! `PartialSuccess` up to the last of them, and openraft sends the rest
//! next. openraft 0.10 leaves timeouts of replication messages to the
//! transport; a message of megabytes that must also be synced on the
//! follower can take far longer than a heartbeat interval, so a message
//! with entries is sent by a task of its own and given
//! `TRANSFER_TIMEOUT`. If openraft drops the call meanwhile (its
//! replication stream restarts), the transfer goes on, and openraft's
//! next call for the same entries waits for it instead of sending them
//! again. Heartbeats go on connections of their own (openraft's heartbeat
//! workers), also beside such a transfer, so that followers keep hearing
//! from the leader.
//!
//! A replication message that does not continue what the peer has
//! acknowledged (a new leader looking for the match) is first sent without
//! its entries, to learn whether the peer already holds them; see
//! `HttpConnection::worth_asking`. The routes also tell the node when the
//! leader was last heard, for its leader watch (`leader_watch`).
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
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use openraft::alias::SnapshotOf;
use openraft::async_runtime::WatchReceiver;
use openraft::error::{RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{RPCOption, RaftNetworkFactory, RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use openraft::{BasicNode, EntryPayload};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::node::{ClientError, Node};
use crate::types::{Entry, LogId, NodeId, Request, TypeConfig, Vote};

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
        .route("/raft/pre_vote", post(raft_pre_vote))
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
        Ok(rpc) => {
            // Noted on arrival, not after raft has handled the message: a
            // busy raft core delays the answer (and the sender may give up
            // waiting and drop this handler), but the leader was heard.
            if rpc.vote.is_committed() && rpc.vote >= node.raft().metrics().borrow_watched().vote {
                node.heard_from_leader(Instant::now());
            }
            bincode_reply(node.raft().append_entries(rpc).await)
        }
        Err(r) => r,
    }
}

async fn raft_vote(State(node): NodeState, body: Bytes) -> Response {
    match decode::<VoteRequest<TypeConfig>>(&body) {
        Ok(rpc) => {
            let arrived = Instant::now();
            let r = node.raft().vote(rpc).await;
            // Having granted its vote, this node gives the candidate time
            // to win before it campaigns itself.
            if r.as_ref().is_ok_and(|r| r.vote_granted) {
                node.heard_from_leader(arrived);
            }
            bincode_reply(r)
        }
        Err(r) => r,
    }
}

async fn raft_pre_vote(State(node): NodeState, body: Bytes) -> Response {
    match decode::<VoteRequest<TypeConfig>>(&body) {
        Ok(rpc) => bincode_reply(node.raft().pre_vote(rpc).await),
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
    /// What this peer is known to hold under the current leader's vote:
    /// see [`HttpConnection::worth_asking`].
    known: Option<PeerLog>,
}

/// What one answer of the peer showed about its log, under `vote`.
#[derive(Clone, Copy)]
struct PeerLog {
    vote: Vote,
    /// The peer holds the leader's log up to this entry.
    matched: Option<LogId>,
    /// The peer lacks the leader's entry at this index (and so every
    /// later one), as of the answer.
    lacks_from: Option<u64>,
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
    vote: Vote,
    prev: Option<LogId>,
    last: Option<LogId>,
    task: tokio::task::JoinHandle<Result<AppendEntriesResponse<TypeConfig>, String>>,
}

impl RaftNetworkFactory<TypeConfig> for HttpNetwork {
    type Network = HttpConnection;

    async fn new_client(&mut self, _target: NodeId, node: &BasicNode) -> HttpConnection {
        HttpConnection {
            client: self.client.clone(),
            addr: node.addr.clone(),
            pending: None,
            known: None,
        }
    }
}

fn unreachable(e: String) -> RPCError<TypeConfig> {
    RPCError::Unreachable(Unreachable::from_string(e))
}

fn record_bytes(entry: &Entry) -> usize {
    match &entry.payload {
        EntryPayload::Normal(Request::Append(record)) => record.len(),
        EntryPayload::Normal(Request::AppendBatch(records)) => {
            records.iter().map(|r| r.0.len()).sum()
        }
        _ => 0,
    }
}

/// How many of `entries` fit [`MESSAGE_BUDGET`] (at least one), if not all.
fn entries_within_budget(entries: &[Entry]) -> Option<u64> {
    let mut total = 0;
    for (i, entry) in entries.iter().enumerate() {
        total += record_bytes(entry);
        if total > MESSAGE_BUDGET && entries.len() > 1 {
            return Some(i.max(1) as u64);
        }
    }
    None
}

/// The same message without its entries, whose previous entry is the last
/// of them: a peer that holds that entry holds all of them (raft's log
/// matching), and answers it exactly as it would answer the full message.
fn probe_of(rpc: &AppendEntriesRequest<TypeConfig>) -> AppendEntriesRequest<TypeConfig> {
    AppendEntriesRequest {
        vote: rpc.vote,
        prev_log_id: rpc.entries.last().map(|e| e.log_id),
        leader_commit: rpc.leader_commit,
        entries: Vec::new(),
    }
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
    /// Whether to ask the peer first if it already holds the entries of
    /// `rpc`. A new leader does not know how much of its log a peer holds:
    /// openraft starts its search for the match in the middle of the log
    /// and, once a message there succeeds, sends every entry from there
    /// on, all of which a follower that was up to date already holds
    /// (hundreds of megabytes after a run of 1 MiB records, which delayed
    /// the new leader's first commit by most of a second). Not asked when
    /// the entries continue what the peer acknowledged (the normal stream)
    /// or start beyond what it is known to lack.
    fn worth_asking(&self, rpc: &AppendEntriesRequest<TypeConfig>) -> bool {
        let Some(last) = rpc.entries.last() else {
            return false;
        };
        match self.known.filter(|k| k.vote == rpc.vote) {
            None => true,
            Some(k) if k.matched == rpc.prev_log_id => false,
            Some(k) => k.lacks_from.is_none_or(|i| last.log_id.index < i),
        }
    }

    /// Notes what `resp` to a message after `prev` ending at `last` shows.
    fn learn(
        &mut self,
        vote: Vote,
        prev: Option<LogId>,
        last: Option<LogId>,
        resp: &AppendEntriesResponse<TypeConfig>,
    ) {
        let mut known = self.known.filter(|k| k.vote == vote).unwrap_or(PeerLog {
            vote,
            matched: None,
            lacks_from: None,
        });
        match resp {
            AppendEntriesResponse::Success => known.matched = last.max(prev),
            AppendEntriesResponse::PartialSuccess(m) => known.matched = *m,
            AppendEntriesResponse::Conflict => known.lacks_from = prev.map(|p| p.index),
            AppendEntriesResponse::HigherVote(_) => return,
        }
        // Entries it lacked may have been sent since.
        let lacks = |i: &u64| known.matched.is_none_or(|m| m.index < *i);
        known.lacks_from = known.lacks_from.filter(lacks);
        self.known = Some(known);
    }

    /// Asks the peer whether it holds the last entry of `rpc`; its answer
    /// if that settles the message (it does, or it has a higher vote).
    async fn ask_whether_held(
        &mut self,
        rpc: &AppendEntriesRequest<TypeConfig>,
        ttl: Duration,
    ) -> Result<Option<AppendEntriesResponse<TypeConfig>>, RPCError<TypeConfig>> {
        let probe = probe_of(rpc);
        let resp = self.call("/raft/append", &probe, ttl).await?;
        self.learn(probe.vote, probe.prev_log_id, None, &resp);
        Ok(match resp {
            AppendEntriesResponse::Conflict => None,
            // Holding the last entry, the peer holds them all.
            other => Some(other),
        })
    }

    async fn call<Req, Resp>(
        &self,
        path: &str,
        rpc: &Req,
        ttl: Duration,
    ) -> Result<Resp, RPCError<TypeConfig>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
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
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
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

impl RaftNetworkV2<TypeConfig> for HttpConnection {
    type SnapshotData = std::io::Cursor<Vec<u8>>;

    async fn append_entries(
        &mut self,
        mut rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        let joins_transfer = self
            .pending
            .as_ref()
            .is_some_and(|p| p.vote == rpc.vote && p.prev == rpc.prev_log_id);
        if !joins_transfer && self.worth_asking(&rpc) {
            if let Some(resp) = self.ask_whether_held(&rpc, option.hard_ttl()).await? {
                return Ok(resp);
            }
        }
        // Only the entries within the budget are sent; accepting them,
        // the peer has accepted a prefix, and openraft sends the rest next.
        let wanted = rpc.entries.last().map(|e| e.log_id);
        if let Some(fit) = entries_within_budget(&rpc.entries) {
            rpc.entries.truncate(fit as usize);
        }
        let (vote, prev) = (rpc.vote, rpc.prev_log_id);
        let last = rpc.entries.last().map(|e| e.log_id);
        let r = if rpc.entries.is_empty() {
            self.call("/raft/append", &rpc, option.hard_ttl()).await
        } else {
            self.append_in_task(rpc).await
        };
        let resp = r?;
        self.learn(vote, prev, last, &resp);
        Ok(match resp {
            AppendEntriesResponse::Success if wanted > last => {
                AppendEntriesResponse::PartialSuccess(last)
            }
            other => other,
        })
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call("/raft/vote", &rpc, option.hard_ttl()).await
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        self.call("/raft/pre_vote", &rpc, option.hard_ttl()).await
    }

    async fn full_snapshot(
        &mut self,
        _vote: Vote,
        _snapshot: SnapshotOf<TypeConfig, std::io::Cursor<Vec<u8>>>,
        _cancel: impl std::future::Future<Output = ReplicationClosed> + Send + 'static,
        _option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        // Nodes never build snapshots (see `state_machine`).
        Err(StreamingError::Unreachable(Unreachable::from_string(
            "snapshots are not supported",
        )))
    }
}

#[cfg(test)]
mod tests {
    //! Guards against skipping entries a peer lacks: the question whether
    //! it already holds them is asked only where its answer is unknown.

    use openraft::entry::RaftEntry;

    use super::*;
    use crate::types::leader_id;

    fn log_id(term: u64, node: NodeId, index: u64) -> LogId {
        LogId::new(leader_id(term, node), index)
    }

    fn connection() -> HttpConnection {
        HttpConnection {
            client: reqwest::Client::new(),
            addr: "127.0.0.1:1".into(),
            pending: None,
            known: None,
        }
    }

    /// A message of `term`'s leader after entry `prev` with entries up to
    /// `last`.
    fn message(term: u64, prev: u64, last: u64) -> AppendEntriesRequest<TypeConfig> {
        AppendEntriesRequest {
            vote: Vote::new_committed(term, 1),
            prev_log_id: Some(log_id(term, 1, prev)),
            leader_commit: Some(log_id(term, 1, prev)),
            entries: (prev + 1..=last)
                .map(|i| Entry::new_blank(log_id(term, 1, i)))
                .collect(),
        }
    }

    fn learn(
        c: &mut HttpConnection,
        sent: &AppendEntriesRequest<TypeConfig>,
        resp: AppendEntriesResponse<TypeConfig>,
    ) {
        let last = sent.entries.last().map(|e| e.log_id);
        c.learn(sent.vote, sent.prev_log_id, last, &resp);
    }

    #[test]
    fn a_new_leader_asks_and_a_heartbeat_never_does() {
        let c = connection();
        assert!(c.worth_asking(&message(2, 10, 20)));
        assert!(!c.worth_asking(&message(2, 10, 10)));
    }

    #[test]
    fn the_stream_after_an_acknowledged_message_is_not_asked() {
        let mut c = connection();
        learn(&mut c, &message(2, 10, 20), AppendEntriesResponse::Success);
        assert!(!c.worth_asking(&message(2, 20, 30)));
        assert!(c.worth_asking(&message(2, 25, 30)));
    }

    #[test]
    fn entries_from_where_the_peer_lacks_them_on_are_not_asked() {
        let mut c = connection();
        learn(&mut c, &message(2, 10, 20), AppendEntriesResponse::Conflict);
        assert!(c.worth_asking(&message(2, 5, 9)));
        assert!(!c.worth_asking(&message(2, 5, 10)));
        assert!(!c.worth_asking(&message(2, 12, 30)));
    }

    #[test]
    fn a_new_term_forgets_what_was_known() {
        let mut c = connection();
        learn(&mut c, &message(2, 10, 20), AppendEntriesResponse::Success);
        assert!(c.worth_asking(&message(3, 20, 30)));
    }

    #[test]
    fn the_question_is_the_message_without_its_entries() {
        let m = message(2, 10, 20);
        let probe = probe_of(&m);
        assert_eq!(probe.vote, m.vote);
        assert_eq!(probe.prev_log_id, Some(log_id(2, 1, 20)));
        assert_eq!(probe.leader_commit, m.leader_commit);
        assert!(probe.entries.is_empty());
    }
}
