//! logstore-cluster: a replicated log, logstore on openraft.
//!
//! Each [`Node`] keeps a raft log ([`logstore_raft::LogStore`]) and a data
//! log (a [`logstore::Log`]) in its directory. A client appends a record
//! through the leader; the record's position is returned once a majority
//! holds the raft entry durably and the leader has applied it. Every node
//! applies the same entries in the same order, so a record has the same
//! position on every node.
//!
//! Nodes talk through a [`Router`] in one process (tests) or over HTTP
//! between processes ([`http`]).

#![warn(missing_docs)]
#![allow(clippy::result_large_err)]

mod batch;
pub mod http;
mod leader_watch;
mod node;
mod router;
mod state_machine;
mod types;

pub use node::{raft_config, ClientError, Node, RAFT_DIR};
pub use router::{Router, RouterConnection};
pub use state_machine::{DataStateMachine, DATA_DIR, DATA_HEADER_LEN, SM_META_DIR};
pub use types::{NodeId, Raft, Record, Request, Response, TypeConfig};
