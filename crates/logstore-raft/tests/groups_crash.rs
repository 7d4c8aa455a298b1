//! Raft groups in one `Store` through a power cut after each of many
//! file-system calls, with background compaction moving a lagging group's
//! entries meanwhile: nothing acknowledged is lost, no acknowledged purge
//! or truncation comes back, no vote goes backwards, in each crash mode.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{entry, log_id, truncate_from, Config, Vote};
use logstore::sim::{CrashMode, SimFs};
use logstore::{Options, Store, StoreOptions, SyncPolicy};
use logstore_raft::LogStore;
use openraft::storage::{RaftLogStorage, RaftLogStorageExt};
use openraft::RaftLogReader;

const GROUPS: u64 = 3;

fn open(fs: &SimFs) -> logstore::Result<Store> {
    let log = Options::default()
        .simulated(fs)
        .segment_size(4 << 10)
        .sync_policy(SyncPolicy::Never);
    Store::open(
        "/g",
        StoreOptions::default()
            .log_options(log)
            .compact_below(0.9)
            .background_compaction(true, Duration::from_millis(1)),
    )
}

#[derive(Clone, Debug)]
enum Op {
    Vote(u64),
    Append(u64, u64),
    Purge(u64),
    Truncate(u64),
}

#[derive(Default, Debug)]
struct Model {
    entries: BTreeMap<u64, u64>,
    vote: Option<u64>,
    purged: Option<u64>,
    pending: Option<Op>,
    done: bool,
}

fn apply(
    entries: &mut BTreeMap<u64, u64>,
    purged: &mut Option<u64>,
    vote: &mut Option<u64>,
    op: &Op,
) {
    match *op {
        Op::Vote(t) => *vote = Some(t),
        Op::Append(i, t) => {
            entries.split_off(&i);
            entries.insert(i, t);
        }
        Op::Purge(p) => {
            *entries = entries.split_off(&(p + 1));
            *purged = Some(purged.map_or(p, |q| q.max(p)));
        }
        Op::Truncate(k) => {
            entries.split_off(&k);
        }
    }
}

async fn run_group(mut g: LogStore<Config>, id: u64, model: Arc<Mutex<Model>>) {
    let mut next = 0u64;
    for round in 1..=12u64 {
        let mut ops = vec![Op::Vote(round)];
        for _ in 0..8 {
            ops.push(Op::Append(next, round));
            next += 1;
        }
        ops.push(Op::Purge(next - 6 + (id % 2)));
        ops.push(Op::Truncate(next - 2));
        next -= 2;
        for op in ops {
            model.lock().unwrap().pending = Some(op.clone());
            let r = match op {
                Op::Vote(t) => g.save_vote(&Vote::new_committed(t, id)).await,
                Op::Append(i, t) => {
                    let r = g.blocking_append([entry(t, i)]).await;
                    if r.is_ok() {
                        // A commit hint, never synced.
                        let _ = g.save_committed(Some(log_id(t, i))).await;
                    }
                    r.map_err(std::io::Error::other)
                }
                Op::Purge(p) => {
                    let t = model.lock().unwrap().entries[&p];
                    g.purge(log_id(t, p)).await
                }
                Op::Truncate(k) => truncate_from(&mut g, k).await,
            };
            let mut m = model.lock().unwrap();
            if r.is_err() {
                return;
            }
            let Model {
                entries,
                purged,
                vote,
                ..
            } = &mut *m;
            apply(entries, purged, vote, &op);
            m.pending = None;
        }
    }
    model.lock().unwrap().done = true;
}

async fn check(store: &Store, id: u64, m: &Model, what: &str) {
    let mut g = LogStore::<Config>::open_in(store, id).unwrap();
    let vote = g.read_vote().await.unwrap().map(|v| v.leader_id.term);
    let state = g.get_log_state().await.unwrap();
    let purged = state.last_purged_log_id.map(|l| l.index);
    let got: BTreeMap<u64, u64> = g
        .try_get_log_entries(0..10_000)
        .await
        .unwrap()
        .iter()
        .map(|e| (e.log_id.index, e.log_id.leader_id.term))
        .collect();
    let mut ok = vote == m.vote && purged == m.purged && got == m.entries;
    if !ok {
        if let Some(op) = &m.pending {
            let (mut e, mut p, mut v) = (m.entries.clone(), m.purged, m.vote);
            apply(&mut e, &mut p, &mut v, op);
            ok = vote == v && purged == p && got == e;
        }
    }
    assert!(
        ok,
        "{what}, group {id}: found vote {vote:?} purged {purged:?} entries {got:?}; \
         model {m:?}"
    );
}

async fn one(cut_after: u64, mode: CrashMode) {
    let fs = SimFs::new();
    let store = Arc::new(open(&fs).unwrap());
    let models: Vec<_> = (0..GROUPS)
        .map(|_| Arc::new(Mutex::new(Model::default())))
        .collect();
    let groups: Vec<_> = (0..GROUPS)
        .map(|id| LogStore::<Config>::open_in(&store, id).unwrap())
        .collect();
    // A lagging group pins the shared log's front: compaction must move it.
    let mut pin = LogStore::<Config>::open_in(&store, 99).unwrap();
    for i in 0..5 {
        pin.blocking_append([entry(1, i)]).await.unwrap();
    }
    drop(pin);
    fs.cut_power_after(cut_after);
    let tasks: Vec<_> = groups
        .into_iter()
        .enumerate()
        .map(|(id, g)| tokio::spawn(run_group(g, id as u64, models[id].clone())))
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    fs.cut_power_now();
    drop(store);
    fs.restart(mode);
    let what = format!("cut after {cut_after} mutations, {mode:?}");
    let store = match open(&fs) {
        Ok(s) => s,
        Err(e) => panic!("{what}: the store does not open: {e}"),
    };
    let mut pin = LogStore::<Config>::open_in(&store, 99).unwrap();
    assert_eq!(
        pin.try_get_log_entries(0..100).await.unwrap().len(),
        5,
        "{what}: pinned group"
    );
    for (id, m) in models.iter().enumerate() {
        // Every group's task has ended: the model is final.
        let m = std::mem::take(&mut *m.lock().unwrap());
        check(&store, id as u64, &m, &what).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_raft_state_survives_power_cuts_in_a_shared_store() {
    // The workload makes about 3,000 mutating calls; every ninth is a cut.
    for n in (1..3000).step_by(9) {
        one(n, CrashMode::DropUnsynced).await;
        one(n, CrashMode::KeepUnsynced).await;
        one(n, CrashMode::Scramble(n)).await;
    }
}
