//! The raft type configuration and the commands it replicates.

use std::fmt;
use std::io::Cursor;

use serde::{Deserialize, Serialize};

/// A command replicated through the raft log.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Append one record to the replicated log.
    Append(Vec<u8>),
    /// Drop every record before the position.
    TruncateFront(u64),
}

// Records may be 32 MiB: print their length, not their bytes.
impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Request::Append(r) => write!(f, "Append({} bytes)", r.len()),
            Request::TruncateFront(p) => write!(f, "TruncateFront({p})"),
        }
    }
}

/// What applying a command produced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// The record's position.
    Appended(u64),
    /// The first position after the truncation.
    TruncatedFront(u64),
    /// For entries that are not commands (blank, membership).
    None,
}

openraft::declare_raft_types!(
    /// The cluster's raft types: node ids are `u64`, nodes are addresses.
    pub TypeConfig: D = Request, R = Response
);

/// A raft node id.
pub type NodeId = u64;
/// The raft handle of a node.
pub type Raft = openraft::Raft<TypeConfig>;
