//! Helpers for tests that run three nodes in one process.

#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use logstore_cluster::{Node, NodeId, Router};

/// The members of the test clusters.
pub const IDS: [NodeId; 3] = [1, 2, 3];

/// Starts node `id` with its files in `dir/n{id}` and makes it reachable.
pub async fn start(id: NodeId, dir: &Path, router: &Router) -> Arc<Node> {
    // A restarted node may find its files still locked for a moment by
    // tasks of its previous incarnation that are finishing.
    let deadline = Instant::now() + Duration::from_secs(10);
    let node = loop {
        match Node::start(id, &dir.join(format!("n{id}")), router.clone()).await {
            Ok(node) => break node,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("node {id}: {e}"),
        }
    };
    router.add(id, node.raft().clone());
    Arc::new(node)
}

/// Starts the three nodes, makes them a cluster and waits for a leader.
pub async fn start_cluster(dir: &Path, router: &Router) -> Vec<Arc<Node>> {
    let mut nodes = Vec::new();
    for id in IDS {
        nodes.push(start(id, dir, router).await);
    }
    nodes[0]
        .initialize(IDS.iter().map(|&id| (id, format!("node-{id}"))))
        .await
        .unwrap();
    nodes[0]
        .wait_for_leader(Duration::from_secs(10))
        .await
        .expect("a leader within 10 s");
    nodes
}

/// Waits until `node` has applied every position before `next`.
pub async fn wait_applied(node: &Node, next: u64, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while node.next_position() < next {
        assert!(
            Instant::now() < deadline,
            "node {} applied up to {} of {next} in {timeout:?}",
            node.id(),
            node.next_position()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
