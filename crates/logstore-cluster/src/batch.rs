//! Group commit for client appends.
//!
//! Every raft entry costs the same round: the leader writes and syncs it,
//! each follower receives, writes and syncs it, the leader applies it. Sent
//! one entry per append, concurrent clients pay that round each. The
//! batcher instead gathers the appends that arrive while earlier entries
//! are in flight into one [`Request::AppendBatch`] entry, so that many
//! clients share one round, as group commit does in the single-node log.
//! A lone client is not delayed: an append that finds nothing in flight is
//! sent at once, as a plain [`Request::Append`].
//!
//! Positions stay those of the single-node log: a batch's records get
//! consecutive positions, in the order they reached the batcher. A batch
//! succeeds or fails as a whole; a failure whose outcome is unknown is
//! reported to every append in it.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::node::{write, ClientError};
use crate::types::{Raft, Record, Request, Response};

/// Entries of batched appends in flight at once: while they replicate,
/// the next batch gathers. Measured with 16 clients of 100-byte records
/// (`logstore-cluster-bench 4 1 logstore-cluster`): 1 in flight 5.3k
/// appends/s, 2 about 6k, 4 3.7k, 8 3.3k (smaller batches, more rounds).
const IN_FLIGHT: usize = 2;
/// Most bytes of records gathered into one entry (a larger record goes
/// alone).
const BATCH_BYTES: usize = 1 << 20;
/// Most records gathered into one entry.
const BATCH_RECORDS: usize = 4096;
/// Appends that may wait for the batcher before senders wait too.
const QUEUE: usize = 8192;

type Reply = oneshot::Sender<Result<u64, ClientError>>;

/// The sending side, held by the node.
#[derive(Clone)]
pub struct Batcher {
    tx: mpsc::Sender<(Vec<u8>, Reply)>,
}

impl Batcher {
    /// Starts the batching task for `raft` (on the current tokio runtime).
    pub fn start(raft: Raft) -> Batcher {
        let (tx, rx) = mpsc::channel(QUEUE);
        tokio::spawn(run(raft, rx));
        Batcher { tx }
    }

    /// Appends `record` through raft, in a batch with whatever else is
    /// waiting; returns its position.
    pub async fn append(&self, record: Vec<u8>) -> Result<u64, ClientError> {
        let (reply, answer) = oneshot::channel();
        let stopped = || ClientError::Raft("the node is stopping".into());
        self.tx.send((record, reply)).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn run(raft: Raft, mut rx: mpsc::Receiver<(Vec<u8>, Reply)>) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut carry = None;
    loop {
        // Wait for a free slot first: appends that arrive meanwhile gather
        // into the next batch.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let first = match carry.take() {
            Some(item) => item,
            None => match rx.recv().await {
                Some(item) => item,
                None => return,
            },
        };
        let mut bytes = first.0.len();
        let mut batch = vec![first];
        while batch.len() < BATCH_RECORDS {
            let Ok(item) = rx.try_recv() else {
                break;
            };
            if bytes + item.0.len() > BATCH_BYTES {
                carry = Some(item);
                break;
            }
            bytes += item.0.len();
            batch.push(item);
        }
        let raft = raft.clone();
        tokio::spawn(async move {
            send(&raft, batch).await;
            drop(slot);
        });
    }
}

/// Sends one entry for `batch` and answers each append in it.
async fn send(raft: &Raft, mut batch: Vec<(Vec<u8>, Reply)>) {
    if batch.len() == 1 {
        let (record, reply) = batch.pop().expect("one append");
        let r = write(raft, Request::Append(record))
            .await
            .and_then(|r| match r {
                Response::Appended(p) => Ok(p),
                other => Err(unexpected(other)),
            });
        let _ = reply.send(r);
        return;
    }
    let (records, replies): (Vec<_>, Vec<_>) = batch
        .into_iter()
        .map(|(r, reply)| (Record(r), reply))
        .unzip();
    match write(raft, Request::AppendBatch(records)).await {
        Ok(Response::AppendedBatch(first)) => {
            for (i, reply) in replies.into_iter().enumerate() {
                let _ = reply.send(Ok(first + i as u64));
            }
        }
        other => {
            let e = match other {
                Ok(r) => unexpected(r),
                Err(e) => e,
            };
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}

fn unexpected(r: Response) -> ClientError {
    ClientError::Raft(format!("unexpected response {r:?}"))
}
