//! Guards against departures from openraft's storage contract: runs
//! openraft's own storage test suite (every case of
//! `openraft::testing::log::Suite`), each case on a fresh store in a temp
//! directory: a `LogStore` of its own, and one group's storage in a
//! `logstore::Store` that other groups write to meanwhile.

mod common;

use common::{Config, MemStateMachine};
use logstore_raft::LogStore;
use openraft::testing::log::{StoreBuilder, Suite};
use openraft::StorageError;
use tempfile::TempDir;

struct Builder;

impl StoreBuilder<Config, LogStore<Config>, MemStateMachine, TempDir> for Builder {
    async fn build(
        &self,
    ) -> Result<(TempDir, LogStore<Config>, MemStateMachine), StorageError<Config>> {
        let dir = tempfile::tempdir().unwrap();
        let store = LogStore::open(dir.path(), logstore::Options::default()).unwrap();
        Ok((dir, store, MemStateMachine::default()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passes_openraft_storage_suite() {
    Suite::test_all(Builder).await.unwrap();
}

/// A group in a store shared with other groups; the guard keeps the store
/// open (dropped before its directory).
struct GroupBuilder;

impl StoreBuilder<Config, LogStore<Config>, MemStateMachine, (logstore::Store, TempDir)>
    for GroupBuilder
{
    async fn build(
        &self,
    ) -> Result<
        (
            (logstore::Store, TempDir),
            LogStore<Config>,
            MemStateMachine,
        ),
        StorageError<Config>,
    > {
        let dir = tempfile::tempdir().unwrap();
        let store = logstore::Store::open(dir.path(), logstore::StoreOptions::default()).unwrap();
        // Neighbours: the group under test shares the store with them.
        for other in [1, 3] {
            let log = store.create_log(other, 0).unwrap();
            log.append(b"another group's entry").unwrap();
        }
        let group = LogStore::open_in(&store, 2).unwrap();
        Ok(((store, dir), group, MemStateMachine::default()))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_in_a_shared_store_passes_openraft_storage_suite() {
    Suite::test_all(GroupBuilder).await.unwrap();
}
