//! Guards against departures from openraft's storage contract: runs
//! openraft's own storage test suite (every case of
//! `openraft::testing::log::Suite`), each case on a fresh store in a temp
//! directory.

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
