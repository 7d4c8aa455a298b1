//! Guards against readers seeing missing, reordered or half-written entries
//! while the store appends: log readers handed out by the store read in a
//! loop on other threads during appends and always see a contiguous prefix.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::{entry, indexes, Config};
use logstore_raft::LogStore;
use openraft::storage::{RaftLogStorage, RaftLogStorageExt};
use openraft::RaftLogReader;

const ENTRIES: u64 = 3000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_see_a_growing_contiguous_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = LogStore::<Config>::open(dir.path(), logstore::Options::default()).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for _ in 0..2 {
        let mut reader = store.get_log_reader().await;
        let done = done.clone();
        readers.push(tokio::spawn(async move {
            let mut seen = 0;
            let mut rounds = 0;
            while !done.load(Ordering::Acquire) || rounds == 0 {
                let got = indexes(&reader.try_get_log_entries(0..).await.unwrap());
                assert_eq!(got, (0..got.len() as u64).collect::<Vec<_>>());
                assert!(got.len() >= seen, "the log shrank");
                seen = got.len();
                rounds += 1;
                tokio::task::yield_now().await;
            }
            (seen, rounds)
        }));
    }
    let mut next = 0;
    while next < ENTRIES {
        let n = 1 + next % 7;
        store
            .blocking_append((next..next + n).map(|i| entry(1, i)))
            .await
            .unwrap();
        next += n;
    }
    done.store(true, Ordering::Release);
    for r in readers {
        let (_seen, rounds) = r.await.unwrap();
        assert!(rounds > 1);
    }
    let mut reader = store.get_log_reader().await;
    assert_eq!(
        reader.try_get_log_entries(..).await.unwrap().len() as u64,
        next
    );
}
