//! Guards against losing or duplicating acknowledged records when the
//! leader fails: three nodes in one process, a client appending without
//! pause, the leader cut off and stopped, a new leader elected, writes
//! resumed, the old leader restarted and caught up, and every node holding
//! the same records at the same positions.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{start, wait_applied, IDS};
use logstore_cluster::{ClientError, Node, NodeId, Router};
use openraft::async_runtime::WatchReceiver;
use openraft::ReadPolicy;

type Nodes = Arc<std::sync::Mutex<HashMap<NodeId, Arc<Node>>>>;

/// The leader named by the node in the highest term that names one. A
/// restarted leader resumes as leader of its old term (openraft restores a
/// committed vote for itself) and names itself until it hears of the newer
/// term, so the first node to name a leader may name a deposed one.
fn leader(nodes: &Nodes) -> Option<Arc<Node>> {
    let nodes = nodes.lock().unwrap();
    let (_, id) = nodes
        .values()
        .filter_map(|n| {
            let m = n.raft().metrics();
            let m = m.borrow_watched();
            Some((m.current_term, m.current_leader?))
        })
        .max()?;
    nodes.get(&id).cloned()
}

/// A leader whose leadership a quorum confirms, once it has applied every
/// entry committed before the confirmation: its data log holds every
/// acknowledged record. A deposed leader that still names itself fails
/// the confirmation.
async fn confirmed_leader(nodes: &Nodes) -> Arc<Node> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(node) = leader(nodes) {
            // Bounded: a leader that loses its quorum meanwhile may never
            // commit the entry it waits to apply.
            let confirm = node.raft().ensure_linearizable(ReadPolicy::ReadIndex);
            match tokio::time::timeout(Duration::from_secs(5), confirm).await {
                Ok(Ok(_)) => return node,
                Ok(Err(e)) => eprintln!("node {} is not a confirmed leader: {e}", node.id()),
                Err(_) => eprintln!("node {} was not confirmed in 5 s", node.id()),
            }
        }
        assert!(Instant::now() < deadline, "no leader confirmed in 20 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[derive(Default)]
struct Client {
    acked: Vec<(u64, Vec<u8>)>,
    ambiguous: Vec<Vec<u8>>,
    last_ack: Option<Instant>,
}

impl Client {
    /// Appends `record`, retrying while no leader takes it; an error that
    /// leaves the outcome unknown puts the record aside as ambiguous.
    async fn append(&mut self, nodes: &Nodes, record: Vec<u8>) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let Some(node) = leader(nodes) else {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            };
            match node.append(record.clone()).await {
                Ok(pos) => {
                    self.acked.push((pos, record));
                    self.last_ack = Some(Instant::now());
                    return;
                }
                Err(ClientError::NotLeader { .. }) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(_) => {
                    self.ambiguous.push(record);
                    return;
                }
            }
        }
        panic!("no leader accepted an append for 20 s");
    }
}

fn all_records(node: &Node) -> Vec<(u64, Vec<u8>)> {
    node.replay(node.first_position(), usize::MAX).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_failover_loses_and_duplicates_no_acknowledged_record() {
    let dir = tempfile::tempdir().unwrap();
    let router = Router::default();
    let nodes: Nodes = Default::default();
    for id in IDS {
        let node = start(id, dir.path(), &router).await;
        nodes.lock().unwrap().insert(id, node);
    }
    let first = nodes.lock().unwrap()[&1].clone();
    first
        .initialize(IDS.iter().map(|&id| (id, format!("node-{id}"))))
        .await
        .unwrap();
    first
        .wait_for_leader(Duration::from_secs(10))
        .await
        .unwrap();
    drop(first);

    let mut client = Client::default();
    let mut seq = 0u64;
    let mut next_record = || {
        seq += 1;
        format!("record {seq:06}").into_bytes()
    };
    while client.acked.len() < 150 {
        client.append(&nodes, next_record()).await;
    }

    // Fail the leader while a write is in flight.
    let old = leader(&nodes).unwrap();
    let old_id = old.id();
    let in_flight = {
        let old = old.clone();
        let record = next_record();
        tokio::spawn(async move { (old.append(record.clone()).await, record) })
    };
    tokio::time::sleep(Duration::from_millis(2)).await;
    let killed_at = Instant::now();
    router.remove(old_id);
    nodes.lock().unwrap().remove(&old_id);
    match in_flight.await.unwrap() {
        (Ok(pos), record) => client.acked.push((pos, record)),
        (Err(_), record) => client.ambiguous.push(record),
    }
    old.shutdown().await.unwrap();
    drop(old);

    client.append(&nodes, next_record()).await;
    let stall = client.last_ack.unwrap() - killed_at;
    let new_leader = leader(&nodes).unwrap().id();
    assert_ne!(new_leader, old_id);
    eprintln!("failover: leader {old_id} -> {new_leader}, write stall {stall:?}");
    assert!(stall < Duration::from_secs(5), "stall {stall:?}");
    while client.acked.len() < 300 {
        client.append(&nodes, next_record()).await;
    }

    // The old leader comes back and catches up.
    let back = start(old_id, dir.path(), &router).await;
    nodes.lock().unwrap().insert(old_id, back.clone());
    client.append(&nodes, next_record()).await;
    // The reference is read from a leader a quorum confirms after the last
    // acknowledgement, not from whichever node names itself leader: right
    // after its restart that may be the old leader, with only its own log.
    let reference_node = confirmed_leader(&nodes).await;
    let target = reference_node.next_position();
    let all: Vec<_> = nodes.lock().unwrap().values().cloned().collect();
    for node in &all {
        wait_applied(node, target, Duration::from_secs(20)).await;
    }

    // Every node holds the same records; each acknowledged record is at its
    // position, and no record appears twice.
    let reference = all_records(&reference_node);
    for node in &all {
        assert_eq!(all_records(node), reference, "node {} differs", node.id());
    }
    let by_pos: BTreeMap<u64, &Vec<u8>> = reference.iter().map(|(p, r)| (*p, r)).collect();
    for (pos, record) in &client.acked {
        assert_eq!(
            by_pos.get(pos),
            Some(&record),
            "acknowledged record at {pos}"
        );
    }
    let mut seen = HashMap::new();
    for (pos, record) in &reference {
        if let Some(other) = seen.insert(record.clone(), *pos) {
            panic!("record at {pos} duplicates the one at {other}");
        }
    }
    assert_eq!(
        reference.len(),
        client.acked.len()
            + client
                .ambiguous
                .iter()
                .filter(|r| seen.contains_key(*r))
                .count()
    );

    let all: Vec<_> = nodes.lock().unwrap().drain().map(|(_, n)| n).collect();
    for node in all {
        node.shutdown().await.unwrap();
    }
}
