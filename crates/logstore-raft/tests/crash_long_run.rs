//! Guards against losing raft metadata over a long life with many power
//! cuts: at least 10,000 metadata saves (votes, committed ids, purges, with
//! appends and truncations between them) on logstore's simulated file
//! system, cutting the power at random points and at every mutation of the
//! saves that compact the metadata log (before and after its own front
//! truncation), then restarting and reopening on the same file system and
//! going on. After each reopen the vote is exactly the last one saved (or
//! the one in flight), the purge point likewise, the committed id is one
//! that was saved and not older than the one a synced save made durable,
//! and the flushed entries are there with their terms.
//!
//! `LOGSTORE_RAFT_CRASH_SAVES` sets the number of metadata saves (default
//! 10,000), `LOGSTORE_RAFT_CRASH_SEED` the seed. A failure names its seed
//! and describes the epoch (how the power was cut, the crash mode, the
//! operation in flight). Rerunning a seed replays the same operations
//! until the logs' background threads (segment syncs and index writes,
//! which the power-cut clock counts) happen to move a cut by a few
//! mutations; from there the run differs.

mod common;

use std::collections::BTreeMap;

use common::{entry, log_id, truncate_from, Config, LogId, Vote};
use logstore::sim::{CrashMode, SimFs};
use logstore::Log;
use logstore_raft::{LogStore, META_DIR};
use openraft::storage::{RaftLogStorage, RaftLogStorageExt};
use openraft::RaftLogReader;

/// The metadata log compacts at each multiple of this position (see
/// `meta.rs`); the targeted cuts aim at those saves.
const COMPACT_EVERY: u64 = 256;

/// Targeted cuts land this many mutations into a compacting save, in turn
/// (a compacting save makes fewer than this, so the last ones land in the
/// operations right after it).
const TARGET_OFFSETS: u64 = 16;

const DIR: &str = "/node";

/// splitmix64: a small deterministic generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

#[derive(Clone, Debug)]
enum Op {
    Vote(Vote),
    Commit(LogId),
    Purge(LogId),
    /// Entries of term `.0` at the indexes `.1`.
    Append(u64, std::ops::Range<u64>),
    Truncate(u64),
}

impl Op {
    fn saves_meta(&self) -> bool {
        matches!(self, Op::Vote(_) | Op::Commit(_) | Op::Purge(_))
    }
}

/// What the acknowledged operations promise.
#[derive(Clone, Debug, Default)]
struct Model {
    vote: Option<Vote>,
    committed: Option<LogId>,
    /// The committed id when the last synced save (vote, purge) returned,
    /// or the one recovered.
    durable_committed: Option<LogId>,
    purged: Option<LogId>,
    /// Index to term of the entries after the purge point.
    entries: BTreeMap<u64, u64>,
    /// The index the next entry gets.
    next: u64,
}

impl Model {
    fn apply(&mut self, op: &Op) {
        match op {
            Op::Vote(v) => {
                self.vote = Some(*v);
                self.durable_committed = self.committed;
            }
            Op::Commit(c) => self.committed = Some(*c),
            Op::Purge(p) => {
                self.purged = Some(*p);
                self.durable_committed = self.committed;
                self.entries.retain(|i, _| *i > p.index);
                self.next = self.next.max(p.index + 1);
            }
            Op::Append(t, r) => {
                self.entries.extend(r.clone().map(|i| (i, *t)));
                self.next = r.end;
            }
            Op::Truncate(i) => {
                self.entries.retain(|k, _| k < i);
                self.next = *i;
            }
        }
    }

    fn term(&self) -> u64 {
        let vote = self.vote.map_or(0, |v| v.leader_id.term);
        let entry = self.entries.values().last().copied().unwrap_or(0);
        vote.max(entry).max(1)
    }

    /// The index after which nothing is committed or purged.
    fn floor(&self) -> u64 {
        let c = self.committed.map_or(0, |c| c.index + 1);
        let p = self.purged.map_or(0, |p| p.index + 1);
        c.max(p)
    }

    /// A random operation that raft could ask for in this state.
    fn next_op(&self, rng: &mut Rng) -> Op {
        let last = self.entries.keys().last().copied();
        match rng.next() % 100 {
            0..=9 => match self.vote {
                // The leader elected in a term commits its vote.
                Some(v) if !v.committed && rng.next().is_multiple_of(2) => {
                    Op::Vote(Vote::new_committed(v.leader_id.term, v.leader_id.node_id))
                }
                _ => Op::Vote(Vote::new(self.term() + 1, rng.range(1, 3))),
            },
            10..=59 if last.is_some_and(|l| l >= self.floor()) => {
                let hi = last.unwrap().min(self.floor() + 3);
                let i = rng.range(self.floor(), hi);
                Op::Commit(log_id(self.entries[&i], i))
            }
            60..=67 if self.next > self.floor() => {
                Op::Truncate(rng.range(self.floor(), self.next - 1))
            }
            68..=79 => {
                let lo = self.purged.map_or(0, |p| p.index + 1);
                match self.committed {
                    Some(c) if c.index >= lo => {
                        let i = rng.range(lo, c.index);
                        Op::Purge(log_id(self.entries[&i], i))
                    }
                    _ => self.append(rng),
                }
            }
            // As after installing a snapshot ahead of the log.
            80..=81 => Op::Purge(log_id(self.term(), self.next + rng.range(0, 20))),
            _ => self.append(rng),
        }
    }

    fn append(&self, rng: &mut Rng) -> Op {
        let n = rng.range(1, 4);
        Op::Append(self.term(), self.next..self.next + n)
    }
}

async fn run(store: &mut LogStore<Config>, op: &Op) -> Result<(), String> {
    match op {
        Op::Vote(v) => store.save_vote(v).await.map_err(|e| e.to_string()),
        Op::Commit(c) => store
            .save_committed(Some(*c))
            .await
            .map_err(|e| e.to_string()),
        Op::Purge(p) => store.purge(*p).await.map_err(|e| e.to_string()),
        Op::Append(t, r) => store
            .blocking_append(r.clone().map(|i| entry(*t, i)))
            .await
            .map_err(|e| e.to_string()),
        Op::Truncate(i) => truncate_from(store, *i).await.map_err(|e| e.to_string()),
    }
}

/// Segments large enough that most compactions of the metadata log happen
/// without a new segment since the last sync (a new segment makes the log
/// sync everything first), small enough that some do.
fn options(fs: &SimFs) -> logstore::Options {
    logstore::Options::default()
        .simulated(fs)
        .segment_size(64 << 10)
        .background_reclaim(false)
}

/// The metadata log's first and next positions, read beside the store.
fn meta_positions(fs: &SimFs, case: &str) -> (u64, u64) {
    let opts = options(fs).read_only(true).create(false);
    let log = Log::open(format!("{DIR}/{META_DIR}"), opts)
        .unwrap_or_else(|e| panic!("{case}: opening the metadata log: {e}"));
    (log.first_position(), log.next_position())
}

#[derive(Clone, Copy, Debug)]
enum Epoch {
    /// Cut the power `.1` mutations into operation `.0` after the reopen.
    /// (Counting from an operation rather than from the reopen makes the
    /// cut depend less on the logs' background threads, whose segment
    /// syncs and index writes count as mutations too.)
    Random(u64, u64),
    /// Cut the power this many mutations into the next compacting save.
    Compaction(u64),
    /// Close cleanly after this many operations.
    Clean(u64),
}

/// What a reopened store holds.
struct Recovered {
    vote: Option<Vote>,
    committed: Option<LogId>,
    purged: Option<LogId>,
    last: Option<LogId>,
    entries: BTreeMap<u64, u64>,
}

async fn read_back(store: &mut LogStore<Config>, case: &str) -> Recovered {
    let vote = store.read_vote().await.unwrap();
    let committed = store.read_committed().await.unwrap();
    let state = store.get_log_state().await.unwrap();
    let entries = store.try_get_log_entries(0..).await.unwrap();
    let idx: Vec<u64> = common::indexes(&entries);
    assert!(
        idx.windows(2).all(|w| w[1] == w[0] + 1),
        "{case}: gaps in the entries {idx:?}"
    );
    let entries: BTreeMap<u64, u64> = entries
        .iter()
        .map(|e| (e.log_id.index, e.log_id.leader_id.term))
        .collect();
    Recovered {
        vote,
        committed,
        purged: state.last_purged_log_id,
        last: state.last_log_id,
        entries,
    }
}

/// Checks what a store reopened after a power cut holds against the
/// acknowledged model, the operation in flight, and the committed ids
/// saved since the last reopen (`saved`, starting with the recovered one).
fn check_after_cut(
    got: &Recovered,
    model: &Model,
    in_flight: Option<&Op>,
    saved: &[Option<LogId>],
    case: &str,
) {
    let mut after = model.clone();
    if let Some(op) = in_flight {
        after.apply(op);
    }
    assert!(
        got.vote == model.vote || got.vote == after.vote,
        "{case}: vote {:?}, saved {:?}",
        got.vote,
        model.vote
    );
    assert!(
        got.purged == model.purged || got.purged == after.purged,
        "{case}: purged {:?}, saved {:?}",
        got.purged,
        model.purged
    );
    assert!(
        saved.contains(&got.committed) || got.committed == after.committed,
        "{case}: committed {:?} was never saved",
        got.committed
    );
    assert!(
        got.committed >= model.durable_committed,
        "{case}: committed {:?} older than the durable {:?}",
        got.committed,
        model.durable_committed
    );
    let floor = got.purged.map_or(0, |p| p.index + 1);
    for (i, t) in &model.entries {
        if *i >= floor && after.entries.get(i) == Some(t) {
            assert_eq!(got.entries.get(i), Some(t), "{case}: flushed entry {i}");
        }
    }
    for (i, t) in &got.entries {
        let known = model.entries.get(i) == Some(t) || after.entries.get(i) == Some(t);
        assert!(known, "{case}: entry {i} of term {t} was not kept");
    }
    check_last(got, case);
}

/// Nothing at or below the purge point is left (a purge cut short by the
/// power is finished by the reopen), and the last log id is the last
/// entry's, or the purge point's in an empty log.
fn check_last(got: &Recovered, case: &str) {
    let floor = got.purged.map_or(0, |p| p.index + 1);
    let first = got.entries.keys().next().copied();
    assert!(
        first.is_none_or(|i| i >= floor),
        "{case}: entry {first:?} at or below the purge point {:?}",
        got.purged
    );
    let last_entry = got.entries.iter().last().map(|(i, t)| log_id(*t, *i));
    assert_eq!(got.last, last_entry.or(got.purged), "{case}: last log id");
}

/// The model of a reopened store: what it holds is durable now.
fn model_of(got: &Recovered) -> Model {
    let floor = got.purged.map_or(0, |p| p.index + 1);
    Model {
        vote: got.vote,
        committed: got.committed,
        durable_committed: got.committed,
        purged: got.purged,
        entries: got
            .entries
            .iter()
            .filter(|(i, _)| **i >= floor)
            .map(|(i, t)| (*i, *t))
            .collect(),
        next: got.last.map_or(0, |l| l.index + 1),
    }
}

#[derive(Debug, Default)]
struct Stats {
    saves: u64,
    epochs: u64,
    compactions: u64,
    /// Cuts in or right after a compacting save that found the metadata
    /// log not yet / already truncated at that save's record.
    cuts_before_truncation: u64,
    cuts_after_truncation: u64,
    random_cuts: u64,
    clean_closes: u64,
}

async fn long_run(seed: u64, target_saves: u64) -> Stats {
    // Printed with the output of a failing test.
    println!("seed {seed}, {target_saves} metadata saves (LOGSTORE_RAFT_CRASH_SEED, LOGSTORE_RAFT_CRASH_SAVES)");
    let mut rng = Rng(seed);
    let fs = SimFs::new();
    let mut stats = Stats::default();
    let mut model = Model::default();
    let mut saved: Vec<Option<LogId>> = vec![None];
    let mut targeted = 0u64;
    while stats.saves < target_saves {
        let epoch = match stats.epochs % 5 {
            0 | 2 => {
                targeted += 1;
                Epoch::Compaction(targeted % TARGET_OFFSETS)
            }
            1 | 3 => Epoch::Random(rng.range(0, 500), rng.range(0, 8)),
            _ => Epoch::Clean(rng.range(50, 400)),
        };
        let mode = match rng.next() % 4 {
            0 => CrashMode::Scramble(rng.next()),
            1 => CrashMode::KeepUnsynced,
            _ => CrashMode::DropUnsynced,
        };
        let case = format!(
            "seed {seed}, epoch {} ({epoch:?}, then {mode:?}) from save {}",
            stats.epochs, stats.saves
        );
        stats.epochs += 1;
        let mut store = LogStore::<Config>::open(DIR, options(&fs))
            .unwrap_or_else(|e| panic!("{case}: open failed: {e}"));
        let (_, mut meta_next) = meta_positions(&fs, &case);
        let mut compacting_at = None;
        let mut in_flight = None;
        let mut ops = 0u64;
        loop {
            if let Epoch::Clean(n) = epoch {
                if ops == n {
                    break;
                }
            }
            if let Epoch::Random(m, k) = epoch {
                if ops == m {
                    fs.cut_power_after(k);
                }
            }
            let op = model.next_op(&mut rng);
            ops += 1;
            if op.saves_meta() {
                stats.saves += 1;
                if meta_next > 0 && meta_next % COMPACT_EVERY == 0 {
                    stats.compactions += 1;
                    if let (Epoch::Compaction(k), None) = (epoch, compacting_at) {
                        compacting_at = Some(meta_next);
                        fs.cut_power_after(k);
                    }
                }
            }
            if run(&mut store, &op).await.is_err() {
                in_flight = Some(op);
                break;
            }
            model.apply(&op);
            if op.saves_meta() {
                meta_next += 1;
                if let Op::Commit(c) = op {
                    saved.push(Some(c));
                }
            }
        }
        let case = format!("{case}, in flight {in_flight:?}");
        if let Epoch::Clean(_) = epoch {
            store
                .close()
                .unwrap_or_else(|e| panic!("{case}: close failed: {e}"));
            stats.clean_closes += 1;
        } else {
            assert!(in_flight.is_some(), "{case}: the power cut did not stop it");
            drop(store);
            fs.restart(mode);
            if let Epoch::Random(..) = epoch {
                stats.random_cuts += 1;
            }
        }

        let mut store = LogStore::<Config>::open(DIR, options(&fs))
            .unwrap_or_else(|e| panic!("{case}: reopen failed: {e}"));
        let got = read_back(&mut store, &case).await;
        if let Epoch::Clean(_) = epoch {
            assert_eq!(got.vote, model.vote, "{case}: vote");
            assert_eq!(got.committed, model.committed, "{case}: committed");
            assert_eq!(got.purged, model.purged, "{case}: purged");
            let kept: BTreeMap<u64, u64> = got
                .entries
                .iter()
                .filter(|(i, _)| **i >= model.purged.map_or(0, |p| p.index + 1))
                .map(|(i, t)| (*i, *t))
                .collect();
            assert_eq!(kept, model.entries, "{case}: entries");
            check_last(&got, &case);
        } else {
            check_after_cut(&got, &model, in_flight.as_ref(), &saved, &case);
        }
        if let Some(pos) = compacting_at {
            let (first, _) = meta_positions(&fs, &case);
            if first >= pos {
                stats.cuts_after_truncation += 1;
            } else {
                stats.cuts_before_truncation += 1;
            }
        }
        store
            .close()
            .unwrap_or_else(|e| panic!("{case}: close after the check failed: {e}"));
        model = model_of(&got);
        saved = vec![got.committed];
    }
    stats
}

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|e| panic!("{name}={v:?} is not a number: {e}")),
        Err(_) => default,
    }
}

#[tokio::test]
async fn metadata_survives_ten_thousand_saves_with_power_cuts() {
    let saves = env_u64("LOGSTORE_RAFT_CRASH_SAVES", 10_000);
    let seed = env_u64("LOGSTORE_RAFT_CRASH_SEED", 0x5eed_0005);
    let stats = long_run(seed, saves).await;
    println!("{stats:?}");
    assert!(stats.saves >= saves);
    if saves >= 10_000 {
        // The run did reach the points it is meant to cut at.
        assert!(stats.compactions >= 20, "{stats:?}");
        assert!(stats.cuts_before_truncation >= 5, "{stats:?}");
        assert!(stats.cuts_after_truncation >= 5, "{stats:?}");
        assert!(stats.random_cuts >= 10, "{stats:?}");
    }
}
