//! Concurrent client appends share raft entries: every acknowledged record
//! is at its own position on every node, positions have no gaps or
//! duplicates, and fewer raft entries than records were written.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::{start_cluster, wait_applied};
use logstore_cluster::Router;
use openraft::async_runtime::WatchReceiver;

const CLIENTS: u64 = 32;
const PER_CLIENT: u64 = 40;

fn record(client: u64, i: u64) -> Vec<u8> {
    // Sizes vary from 1 byte to about 70 KiB, so that some batches stop at
    // their byte budget.
    let len = 1 + ((client * 7919 + i * 104_729) % 70_000) as usize;
    let mut r = vec![(client * 31 + i) as u8; len];
    r[0] = client as u8;
    if len > 8 {
        r[1..9].copy_from_slice(&i.to_le_bytes());
    }
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_share_entries() {
    let dir = tempfile::tempdir().unwrap();
    let router = Router::default();
    let nodes = start_cluster(dir.path(), &router).await;
    let leader_id = nodes[0].leader().unwrap();
    let leader = nodes.iter().find(|n| n.id() == leader_id).unwrap().clone();
    let first = leader.next_position();
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let leader = Arc::clone(&leader);
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0..PER_CLIENT {
                let pos = leader.append(record(c, i)).await.unwrap();
                acked.push((pos, c, i));
            }
            acked
        }));
    }
    let mut by_position = BTreeMap::new();
    for t in tasks {
        for (pos, c, i) in t.await.unwrap() {
            assert!(
                by_position.insert(pos, (c, i)).is_none(),
                "position {pos} given twice"
            );
        }
    }
    let n = CLIENTS * PER_CLIENT;
    let want: Vec<u64> = (first..first + n).collect();
    assert_eq!(by_position.keys().copied().collect::<Vec<_>>(), want);
    // Each client's records are in its own order.
    for c in 0..CLIENTS {
        let mine: Vec<u64> = by_position
            .values()
            .filter(|v| v.0 == c)
            .map(|v| v.1)
            .collect();
        assert_eq!(mine, (0..PER_CLIENT).collect::<Vec<_>>());
    }
    for node in &nodes {
        wait_applied(node, first + n, Duration::from_secs(20)).await;
        for (&pos, &(c, i)) in &by_position {
            assert!(
                node.read(pos).unwrap() == record(c, i),
                "node {} position {pos}",
                node.id()
            );
        }
    }
    // Fewer entries than records: appends were batched.
    let last_index = leader
        .raft()
        .metrics()
        .borrow_watched()
        .last_log_index
        .unwrap();
    assert!(
        last_index < n / 2,
        "{last_index} raft entries for {n} records"
    );
    for node in &nodes {
        node.shutdown().await.unwrap();
    }
}
