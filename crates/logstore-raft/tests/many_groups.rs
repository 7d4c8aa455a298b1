//! A hundred raft groups in one `logstore::Store`: each group's storage
//! keeps its own entries, vote, commit point and purge point, appends of
//! all groups share syncs, and everything acknowledged is there after the
//! simulated machine loses its power and restarts.

mod common;

use common::{entry, indexes, log_id, truncate_from, Config, Vote};
use logstore::sim::{CrashMode, Op, SimFs};
use logstore::{Options, Store, StoreOptions, SyncPolicy};
use logstore_raft::LogStore;
use openraft::storage::{RaftLogStorage, RaftLogStorageExt};
use openraft::RaftLogReader;

const GROUPS: u64 = 100;

fn open(fs: &SimFs) -> Store {
    let log = Options::default()
        .simulated(fs)
        .sync_policy(SyncPolicy::Never);
    Store::open("/groups", StoreOptions::default().log_options(log)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_groups_share_one_store_and_keep_their_state() {
    let fs = SimFs::new();
    fs.set_delays(
        7,
        100,
        std::time::Duration::from_millis(1),
        std::time::Duration::ZERO,
    );
    let store = open(&fs);
    let syncs_before = fs.calls(Op::Sync);
    let tasks: Vec<_> = (0..GROUPS)
        .map(|g| {
            let mut group = LogStore::<Config>::open_in(&store, g).unwrap();
            tokio::spawn(async move {
                group
                    .save_vote(&Vote::new_committed(g + 1, g))
                    .await
                    .unwrap();
                for i in 0..20 {
                    group.blocking_append([entry(1 + i / 10, i)]).await.unwrap();
                }
                group.save_committed(Some(log_id(2, 15))).await.unwrap();
                group.purge(log_id(1, g % 10)).await.unwrap();
                truncate_from(&mut group, 18).await.unwrap();
                group.close().unwrap();
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let syncs = fs.calls(Op::Sync) - syncs_before;
    // 2,000 durable appends and 300 durable saves, among 100 groups (381
    // syncs when measured): one sync each would be 2,300.
    assert!(
        syncs < 1_150,
        "{syncs} syncs: the groups did not share them"
    );
    drop(store);
    fs.cut_power_now();
    fs.restart(CrashMode::DropUnsynced);

    let store = open(&fs);
    assert_eq!(store.logs().len(), GROUPS as usize);
    for g in 0..GROUPS {
        let mut group = LogStore::<Config>::open_in(&store, g).unwrap();
        assert_eq!(
            group.read_vote().await.unwrap(),
            Some(Vote::new_committed(g + 1, g))
        );
        assert_eq!(group.read_committed().await.unwrap(), Some(log_id(2, 15)));
        let state = group.get_log_state().await.unwrap();
        assert_eq!(
            state.last_purged_log_id,
            Some(log_id(1, g % 10)),
            "group {g}"
        );
        assert_eq!(state.last_log_id, Some(log_id(2, 17)), "group {g}");
        let entries = group.try_get_log_entries(0..100).await.unwrap();
        assert_eq!(
            indexes(&entries),
            (g % 10 + 1..18).collect::<Vec<_>>(),
            "group {g}"
        );
    }
}
