//! Guards against the largest record (32 MiB) failing to replicate or
//! coming back damaged: it is appended through the leader of three nodes,
//! between small records, and read back whole from every node, by position
//! and by replay, also by a node that was down while it was appended and
//! caught up afterwards, and after every node restarted.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{start, start_cluster, wait_applied};
use logstore_cluster::{ClientError, Node, Router};
use logstore_testkit::{Xorshift, GOLDEN};

const BIG: usize = 32 << 20;

/// A record whose every byte depends on its offset, so that a shifted,
/// cut or repeated piece does not compare equal.
fn big_record() -> Vec<u8> {
    Xorshift::new(GOLDEN).bytes(BIG)
}

/// Appends `record` through whichever of `nodes` leads. A leader can lose
/// its lease while a 32 MiB record goes out on a loaded machine; a node
/// that is not the leader does nothing with the append (`NotLeader`), so it
/// is sent again to the leader elected since.
async fn append(nodes: &[&Arc<Node>], record: Vec<u8>) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let leader = nodes.iter().find(|n| n.leader() == Some(n.id()));
        if let Some(leader) = leader {
            match leader.append(record.clone()).await {
                Ok(p) => return p,
                Err(ClientError::NotLeader { .. }) => {}
                Err(e) => panic!("append: {e}"),
            }
        }
        assert!(
            Instant::now() < deadline,
            "no leader took the append in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn check_node(node: &Node, expected: &[(u64, Vec<u8>)]) {
    for (pos, record) in expected {
        let got = node.read(*pos).unwrap();
        assert_eq!(got.len(), record.len(), "node {} at {pos}", node.id());
        assert!(got == *record, "node {} at {pos}: bytes differ", node.id());
    }
    let replayed = node.replay(0, usize::MAX).unwrap();
    assert_eq!(replayed.len(), expected.len(), "node {}", node.id());
    for ((p, r), (ep, er)) in replayed.iter().zip(expected) {
        assert_eq!(p, ep, "node {}", node.id());
        assert!(r == er, "node {}: replayed record {p} differs", node.id());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_32_mib_record_is_replicated_intact_to_every_node() {
    let dir = tempfile::tempdir().unwrap();
    let router = Router::default();
    let mut nodes = start_cluster(dir.path(), &router).await;
    let leader_id = nodes[0].leader().unwrap();
    let lagging = nodes.iter().position(|n| n.id() != leader_id).unwrap();

    let mut expected = Vec::new();
    let all: Vec<&Arc<Node>> = nodes.iter().collect();
    let small = b"before".to_vec();
    expected.push((append(&all, small.clone()).await, small));
    // One follower is down while the big record is appended.
    let down = nodes[lagging].clone();
    router.remove(down.id());
    down.shutdown().await.unwrap();
    let up: Vec<&Arc<Node>> = nodes.iter().filter(|n| n.id() != down.id()).collect();
    let big = big_record();
    expected.push((append(&up, big.clone()).await, big));
    let small = b"after".to_vec();
    expected.push((append(&up, small.clone()).await, small));
    assert_eq!(
        expected.iter().map(|(p, _)| *p).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    nodes[lagging] = start(down.id(), dir.path(), &router).await;
    drop(down);

    for node in &nodes {
        wait_applied(node, 3, Duration::from_secs(30)).await;
        check_node(node, &expected);
    }

    for node in nodes.drain(..) {
        node.shutdown().await.unwrap();
    }
    let router = Router::default();
    for id in common::IDS {
        nodes.push(start(id, dir.path(), &router).await);
    }
    for node in &nodes {
        check_node(node, &expected);
    }
    for node in nodes {
        node.shutdown().await.unwrap();
    }
}
