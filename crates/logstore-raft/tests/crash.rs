//! Guards against losing what the store acknowledged when the power is cut
//! at any write or sync: for every cut point, the recovered store keeps the
//! saved vote and purge point, and every entry whose flush was reported,
//! with its term (on logstore's simulated file system). The committed id,
//! which is saved without a sync, may go back, but not before the one
//! saved ahead of the last synced save, and never to an id not saved.

mod common;

use std::collections::BTreeMap;

use common::{entry, indexes, log_id, truncate_from, Config, LogId, Vote};
use logstore::sim::{CrashMode, SimFs};
use logstore_raft::LogStore;
use openraft::storage::{RaftLogStorage, RaftLogStorageExt};
use openraft::RaftLogReader;

#[derive(Clone, Debug)]
enum Op {
    Vote(u64),
    Append(u64, std::ops::Range<u64>),
    Commit(u64, u64),
    Purge(u64, u64),
    Truncate(u64),
}

fn workload() -> Vec<Op> {
    use Op::*;
    vec![
        Vote(1),
        Append(1, 0..5),
        Commit(1, 3),
        Append(1, 5..10),
        Vote(2),
        Truncate(7),
        Append(2, 7..12),
        Purge(1, 4),
        Commit(2, 10),
        Append(2, 12..40),
        Purge(2, 30),
        Append(3, 40..41),
    ]
}

/// What an acknowledged prefix of the workload promises.
#[derive(Default, Debug)]
struct Model {
    vote: Option<Vote>,
    committed: Option<LogId>,
    /// The committed id when the last synced save (vote, purge) returned.
    durable_committed: Option<LogId>,
    purged: Option<LogId>,
    entries: BTreeMap<u64, u64>,
}

impl Model {
    fn apply(&mut self, op: &Op) {
        match op {
            Op::Vote(t) => {
                self.vote = Some(Vote::new(*t, 1));
                self.durable_committed = self.committed;
            }
            Op::Append(t, r) => self.entries.extend(r.clone().map(|i| (i, *t))),
            Op::Commit(t, i) => self.committed = Some(log_id(*t, *i)),
            Op::Purge(t, i) => {
                self.purged = Some(log_id(*t, *i));
                self.durable_committed = self.committed;
                self.entries.retain(|k, _| k > i);
            }
            Op::Truncate(i) => self.entries.retain(|k, _| k < i),
        }
    }
}

async fn run(store: &mut LogStore<Config>, op: &Op) -> Result<(), String> {
    match op {
        Op::Vote(t) => store
            .save_vote(&Vote::new(*t, 1))
            .await
            .map_err(|e| e.to_string()),
        Op::Append(t, r) => store
            .blocking_append(r.clone().map(|i| entry(*t, i)))
            .await
            .map_err(|e| e.to_string()),
        Op::Commit(t, i) => store
            .save_committed(Some(log_id(*t, *i)))
            .await
            .map_err(|e| e.to_string()),
        Op::Purge(t, i) => store.purge(log_id(*t, *i)).await.map_err(|e| e.to_string()),
        Op::Truncate(i) => truncate_from(store, *i).await.map_err(|e| e.to_string()),
    }
}

fn options(fs: &SimFs) -> logstore::Options {
    logstore::Options::default()
        .simulated(fs)
        .segment_size(4096)
        .background_reclaim(false)
}

/// Runs the workload until an operation fails; returns the model of what
/// was acknowledged and the operation in flight when the power went.
async fn run_until_cut(fs: &SimFs) -> (Model, Option<Op>) {
    let mut model = Model::default();
    let Ok(mut store) = LogStore::<Config>::open("/node", options(fs)) else {
        return (model, None);
    };
    for op in workload() {
        if run(&mut store, &op).await.is_err() {
            return (model, Some(op));
        }
        model.apply(&op);
    }
    (model, None)
}

async fn check_recovered(fs: &SimFs, model: &Model, in_flight: Option<&Op>, case: &str) {
    let mut store = LogStore::<Config>::open("/node", options(fs))
        .unwrap_or_else(|e| panic!("{case}: reopen failed: {e}"));
    let maybe = |m: &Model, op: Option<&Op>| {
        let mut next = Model {
            vote: m.vote,
            committed: m.committed,
            durable_committed: m.durable_committed,
            purged: m.purged,
            entries: m.entries.clone(),
        };
        if let Some(op) = op {
            next.apply(op);
        }
        next
    };
    let after = maybe(model, in_flight);

    let vote = store.read_vote().await.unwrap();
    assert!(
        vote == model.vote || vote == after.vote,
        "{case}: vote {vote:?}"
    );
    let committed = store.read_committed().await.unwrap();
    let saved = |c: &Option<LogId>| {
        c.is_none()
            || workload()
                .iter()
                .any(|op| matches!(op, Op::Commit(t, i) if *c == Some(log_id(*t, *i))))
    };
    assert!(
        saved(&committed) && model.durable_committed <= committed && committed <= after.committed,
        "{case}: committed {committed:?}"
    );
    let state = store.get_log_state().await.unwrap();
    let purged = state.last_purged_log_id;
    assert!(
        purged == model.purged || purged == after.purged,
        "{case}: purged {purged:?}"
    );

    let entries = store.try_get_log_entries(0..1000).await.unwrap();
    let found: BTreeMap<u64, u64> = entries
        .iter()
        .map(|e| (e.log_id.index, e.log_id.leader_id.term))
        .collect();
    let idx = indexes(&entries);
    assert!(
        idx.windows(2).all(|w| w[1] == w[0] + 1),
        "{case}: gaps in {idx:?}"
    );
    let floor = purged.map_or(0, |p| p.index + 1);
    for (i, term) in &model.entries {
        if *i < floor || !after.entries.contains_key(i) {
            continue; // purged, or possibly dropped by the op in flight
        }
        assert_eq!(found.get(i), Some(term), "{case}: acknowledged entry {i}");
    }
}

async fn matrix(mode: CrashMode) {
    // Count the mutating calls of a full run, then cut at each of them.
    let fs = SimFs::new();
    let (model, in_flight) = run_until_cut(&fs).await;
    assert!(in_flight.is_none() && model.entries.len() > 5);
    let total = fs.mutations();
    assert!(total > 20, "only {total} mutations");
    for n in 0..total {
        let fs = SimFs::new();
        fs.cut_power_after(n);
        let (model, in_flight) = run_until_cut(&fs).await;
        fs.restart(mode);
        let case = format!("cut after {n} of {total}, in flight {in_flight:?}");
        check_recovered(&fs, &model, in_flight.as_ref(), &case).await;
    }
}

#[tokio::test]
async fn acknowledged_state_survives_power_cut_dropping_unsynced_writes() {
    matrix(CrashMode::DropUnsynced).await;
}

/// Segments large enough that the metadata log never starts a new one (a
/// new segment makes the log sync everything before a front truncation,
/// which would hide a missing sync).
fn one_segment_options(fs: &SimFs) -> logstore::Options {
    options(fs).segment_size(1 << 20)
}

/// Saves a vote and a purge point (both synced), then unsynced committed
/// ids up to the save that compacts the metadata log (its 257th record,
/// at position 256), and cuts the power `cut` mutations into that save
/// (with `None`, right after it). Returns the saved committed ids.
async fn save_past_compaction(fs: &SimFs, cut: Option<u64>) -> Vec<LogId> {
    let mut store = LogStore::<Config>::open("/node", one_segment_options(fs)).unwrap();
    store.save_vote(&Vote::new(5, 1)).await.unwrap();
    store
        .blocking_append((0..10).map(|i| entry(5, i)))
        .await
        .unwrap();
    store.purge(log_id(5, 3)).await.unwrap();
    // Positions 0 and 1 hold the vote and the purge point; 2..=255 are
    // committed ids, and the one at 256 triggers the compaction.
    let mut saved = Vec::new();
    for i in 2..256u64 {
        let c = log_id(5, 4 + i % 6);
        store.save_committed(Some(c)).await.unwrap();
        saved.push(c);
    }
    let last = log_id(5, 9);
    if let Some(n) = cut {
        fs.cut_power_after(n);
    }
    if store.save_committed(Some(last)).await.is_ok() {
        saved.push(last);
    }
    fs.cut_power_now();
    saved
}

/// A power cut at every point of the save that compacts the metadata log,
/// and right after it, keeps the synced vote and purge point. Fails on
/// 05995b3: the compaction made the new first position durable while the
/// record there (an unsynced committed id) was not, so the metadata log
/// reopened empty, without the vote or the purge point.
#[tokio::test]
async fn vote_and_purge_point_survive_power_cut_around_metadata_compaction() {
    // How many mutations the compacting save makes, on a run without a cut.
    let fs = SimFs::new();
    let before = {
        let mut store = LogStore::<Config>::open("/node", one_segment_options(&fs)).unwrap();
        store.save_vote(&Vote::new(5, 1)).await.unwrap();
        for _ in 1..256 {
            store.save_committed(Some(log_id(5, 1))).await.unwrap();
        }
        let before = fs.mutations();
        store.save_committed(Some(log_id(5, 2))).await.unwrap();
        fs.mutations() - before
    };
    assert!(before > 1, "the compacting save made {before} mutations");

    let cuts = (0..=before).map(Some).chain([None]);
    for cut in cuts {
        let fs = SimFs::new();
        let saved = save_past_compaction(&fs, cut).await;
        fs.restart(CrashMode::DropUnsynced);
        let case = format!("cut {cut:?} mutations into the compacting save");
        let mut store = LogStore::<Config>::open("/node", one_segment_options(&fs))
            .unwrap_or_else(|e| panic!("{case}: reopen failed: {e}"));
        assert_eq!(
            store.read_vote().await.unwrap(),
            Some(Vote::new(5, 1)),
            "{case}: vote"
        );
        let state = store.get_log_state().await.unwrap();
        assert_eq!(
            state.last_purged_log_id,
            Some(log_id(5, 3)),
            "{case}: purged"
        );
        assert_eq!(state.last_log_id, Some(log_id(5, 9)), "{case}: last log id");
        let committed = store.read_committed().await.unwrap();
        assert!(
            committed.is_none() || saved.iter().any(|c| Some(*c) == committed),
            "{case}: committed {committed:?} was never saved"
        );
    }
}

/// A power cut between saving the purge point of a purge past the end of
/// the log (as after installing a snapshot) and dropping the entries: the
/// reopened store drops them, so its last log id is not older than its
/// purge point. Fails on 05995b3: the store reopened with the entries 0..10
/// and a last log id of index 9 behind a purge point of index 50.
#[tokio::test]
async fn purge_cut_short_by_power_loss_is_finished_on_reopen() {
    let purge = log_id(2, 50);
    let total = {
        let fs = SimFs::new();
        let mut store = LogStore::<Config>::open("/node", options(&fs)).unwrap();
        store
            .blocking_append((0..10).map(|i| entry(1, i)))
            .await
            .unwrap();
        let before = fs.mutations();
        store.purge(purge).await.unwrap();
        fs.mutations() - before
    };
    // Cuts that failed the purge after its point was durable.
    let mut cut_short = 0;
    for n in 0..=total {
        let fs = SimFs::new();
        let mut store = LogStore::<Config>::open("/node", options(&fs)).unwrap();
        store
            .blocking_append((0..10).map(|i| entry(1, i)))
            .await
            .unwrap();
        fs.cut_power_after(n);
        let acknowledged = store.purge(purge).await.is_ok();
        drop(store);
        fs.restart(CrashMode::DropUnsynced);
        let case = format!("cut after {n} of the purge's {total} mutations");
        let mut store = LogStore::<Config>::open("/node", options(&fs)).unwrap();
        let state = store.get_log_state().await.unwrap();
        let entries = store.try_get_log_entries(0..100).await.unwrap();
        if state.last_purged_log_id.is_none() {
            assert_eq!(state.last_log_id, Some(log_id(1, 9)), "{case}");
            assert_eq!(indexes(&entries), (0..10).collect::<Vec<_>>(), "{case}");
            continue;
        }
        assert_eq!(state.last_purged_log_id, Some(purge), "{case}");
        assert_eq!(state.last_log_id, Some(purge), "{case}: last log id");
        assert!(entries.is_empty(), "{case}: {:?}", indexes(&entries));
        if !acknowledged {
            cut_short += 1;
        }
        store.blocking_append([entry(2, 51)]).await.unwrap();
        let entries = store.try_get_log_entries(0..100).await.unwrap();
        assert_eq!(indexes(&entries), vec![51], "{case}");
    }
    assert!(cut_short > 0, "no cut fell inside the purge");
}
