//! Guards against losing raft state across a clean close and reopen: the
//! vote, the committed id, the purge point (with its term), the entries,
//! and a truncated tail staying truncated.

mod common;

use common::{entry, indexes, log_id, truncate_from, Config, Vote};
use logstore_raft::LogStore;
use openraft::storage::{RaftLogStorage, RaftLogStorageExt};
use openraft::RaftLogReader;

fn open(dir: &std::path::Path) -> LogStore<Config> {
    LogStore::open(dir, logstore::Options::default()).unwrap()
}

#[tokio::test]
async fn state_survives_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    store.save_vote(&Vote::new_committed(3, 1)).await.unwrap();
    store
        .blocking_append((0..10).map(|i| entry(2 + i / 5, i)))
        .await
        .unwrap();
    store.save_committed(Some(log_id(3, 8))).await.unwrap();
    store.purge(log_id(2, 3)).await.unwrap();
    truncate_from(&mut store, 9).await.unwrap();
    store.close().unwrap();

    let mut store = open(dir.path());
    assert_eq!(
        store.read_vote().await.unwrap(),
        Some(Vote::new_committed(3, 1))
    );
    assert_eq!(store.read_committed().await.unwrap(), Some(log_id(3, 8)));
    let state = store.get_log_state().await.unwrap();
    assert_eq!(state.last_purged_log_id, Some(log_id(2, 3)));
    assert_eq!(state.last_log_id, Some(log_id(3, 8)));
    let entries = store.try_get_log_entries(0..100).await.unwrap();
    assert_eq!(indexes(&entries), (4..9).collect::<Vec<_>>());
    assert_eq!(entries[0].log_id.leader_id, common::leader_id(2, 1));
    assert_eq!(entries[4].log_id.leader_id, common::leader_id(3, 1));
}

#[tokio::test]
async fn purge_beyond_the_end_then_append_continues_there() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    store
        .blocking_append((0..3).map(|i| entry(1, i)))
        .await
        .unwrap();
    // As after installing a snapshot that is ahead of the log.
    store.purge(log_id(4, 50)).await.unwrap();
    store.close().unwrap();

    let mut store = open(dir.path());
    let state = store.get_log_state().await.unwrap();
    assert_eq!(state.last_purged_log_id, Some(log_id(4, 50)));
    assert_eq!(state.last_log_id, Some(log_id(4, 50)));
    store.blocking_append([entry(4, 51)]).await.unwrap();
    let entries = store.try_get_log_entries(0..100).await.unwrap();
    assert_eq!(indexes(&entries), vec![51]);
}

#[tokio::test]
async fn a_second_store_on_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _store = open(dir.path());
    let second = LogStore::<Config>::open(dir.path(), logstore::Options::default());
    let err = second.err().expect("the directory is locked");
    let inner = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<logstore::Error>());
    assert_eq!(inner.map(|e| e.kind()), Some(logstore::ErrorKind::Locked));
}

#[tokio::test]
async fn large_entries_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path());
    let big = "x".repeat(32 << 20);
    let e = common::Entry {
        log_id: log_id(1, 0),
        payload: openraft::EntryPayload::Normal(big.clone()),
    };
    store.blocking_append([e]).await.unwrap();
    store.close().unwrap();
    let mut store = open(dir.path());
    let got = store.try_get_log_entries(0..1).await.unwrap();
    match &got[0].payload {
        openraft::EntryPayload::Normal(d) => assert!(d == &big),
        other => panic!("unexpected payload {other:?}"),
    }
}
