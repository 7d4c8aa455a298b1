//! The raft type configuration and the commands it replicates.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A command replicated through the raft log.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Append one record to the replicated log.
    Append(#[serde(with = "record_bytes")] Vec<u8>),
    /// Drop every record before the position.
    TruncateFront(u64),
    /// Append several records, at consecutive positions: the appends that
    /// clients sent to the leader while its previous entries were being
    /// replicated, gathered into one raft entry (see `batch`).
    AppendBatch(Vec<Record>),
}

/// One record of an [`Request::AppendBatch`].
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record(#[serde(with = "record_bytes")] pub Vec<u8>);

// Records may be 32 MiB: print their length, not their bytes.
impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Request::Append(r) => write!(f, "Append({} bytes)", r.len()),
            Request::TruncateFront(p) => write!(f, "TruncateFront({p})"),
            Request::AppendBatch(v) => write!(
                f,
                "AppendBatch({} records, {} bytes)",
                v.len(),
                v.iter().map(|r| r.0.len()).sum::<usize>()
            ),
        }
    }
}

/// A record as one byte string: the same bincode bytes as the default
/// `Vec<u8>` encoding (a length, then the bytes), written and read in one
/// copy instead of byte by byte, which matters for records of megabytes.
mod record_bytes {
    use std::fmt;

    use serde::de::{Deserializer, SeqAccess, Visitor};
    use serde::Serializer;

    pub fn serialize<S: Serializer>(record: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(record)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        d.deserialize_byte_buf(RecordVisitor)
    }

    struct RecordVisitor;

    impl<'de> Visitor<'de> for RecordVisitor {
        type Value = Vec<u8>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a record's bytes")
        }

        fn visit_bytes<E>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }

        fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(v)
        }

        // Formats without a byte-string type write a sequence.
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 20));
            while let Some(b) = seq.next_element()? {
                out.push(b);
            }
            Ok(out)
        }
    }
}

// openraft 0.10 logs commands with `Display`.
impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// What applying a command produced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// The record's position.
    Appended(u64),
    /// The first position after the truncation.
    TruncatedFront(u64),
    /// The position of a batch's first record; the others follow it.
    AppendedBatch(u64),
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
pub type Raft = openraft::Raft<TypeConfig, crate::state_machine::DataStateMachine>;
/// A raft log id.
pub type LogId = openraft::alias::LogIdOf<TypeConfig>;
/// A raft vote.
pub type Vote = openraft::alias::VoteOf<TypeConfig>;
/// A raft entry.
pub type Entry = openraft::alias::EntryOf<TypeConfig>;
/// The id of a leader: its term and node.
pub type LeaderId = openraft::impls::leader_id_adv::LeaderId<u64, NodeId>;

/// The id of leader `node` of term `term`.
pub fn leader_id(term: u64, node: NodeId) -> LeaderId {
    <LeaderId as openraft::vote::RaftLeaderId>::new(term, node)
}

#[cfg(test)]
mod tests {
    use bincode::Options as _;

    use super::*;

    /// The encoding of `Request` before records were written as one byte
    /// string; entries already stored use it.
    #[derive(Serialize, Deserialize)]
    enum PlainRequest {
        Append(Vec<u8>),
        TruncateFront(u64),
    }

    #[test]
    fn records_keep_the_plain_vec_encoding() {
        let record: Vec<u8> = (0..=255).chain(0..7).collect();
        let new = bincode::serialize(&Request::Append(record.clone())).unwrap();
        let old = bincode::serialize(&PlainRequest::Append(record.clone())).unwrap();
        assert_eq!(new, old);
        // The raft log stores entries with variable-length integers.
        let varint = bincode::DefaultOptions::new();
        assert_eq!(
            varint.serialize(&Request::Append(record.clone())).unwrap(),
            varint
                .serialize(&PlainRequest::Append(record.clone()))
                .unwrap()
        );
        assert_eq!(
            bincode::deserialize::<Request>(&old).unwrap(),
            Request::Append(record)
        );
        let t = bincode::serialize(&PlainRequest::TruncateFront(9)).unwrap();
        assert_eq!(
            bincode::deserialize::<Request>(&t).unwrap(),
            Request::TruncateFront(9)
        );
    }
}
