//! Guards `Store` against a model of many logs: random sequences of
//! creations, drops, appends, batches, cross-log writes, state values,
//! truncations at both ends, compaction and reopens must leave exactly the
//! logs the model holds; and a power cut anywhere in such a sequence
//! (compaction included) must leave what the acknowledged calls made,
//! plus or minus the call in flight, whatever the disk kept of the
//! unsynced writes.

use std::collections::BTreeMap;
use std::path::Path;

use logstore::sim::{CrashMode, SimFs};
use logstore::{ErrorKind, Options, Store, StoreOptions, SyncPolicy, WriteBatch};
use logstore_testkit::{record, Xorshift};

const DIR: &str = "/store";
const IDS: u64 = 5;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct MLog {
    first: u64,
    records: Vec<Vec<u8>>,
    state: Option<Vec<u8>>,
}

impl MLog {
    fn next(&self) -> u64 {
        self.first + self.records.len() as u64
    }
}

type Model = BTreeMap<u64, MLog>;

fn options(fs: &SimFs) -> StoreOptions {
    StoreOptions::default()
        .log_options(
            Options::default()
                .simulated(fs)
                .segment_size(4 << 10)
                .sync_policy(SyncPolicy::Always),
        )
        // Deterministic: compaction only where the workload asks for it.
        .background_compaction(false, std::time::Duration::from_secs(1))
}

fn snapshot(store: &Store) -> Model {
    let mut m = Model::new();
    for id in store.logs() {
        let log = store.log(id).unwrap();
        let (first, next) = (log.first_position().unwrap(), log.next_position().unwrap());
        let records = (first..next)
            .map(|p| {
                log.read(p)
                    .unwrap_or_else(|e| panic!("log {id} position {p}: {e}"))
            })
            .collect();
        m.insert(
            id,
            MLog {
                first,
                records,
                state: log.state().unwrap(),
            },
        );
    }
    m
}

/// What one step does, chosen from the model so that most steps are valid.
enum Outcome {
    /// The call succeeded: the model after it.
    Done(Model),
    /// The call failed as it should (bad input): nothing changed.
    Refused,
    /// The call failed with an I/O error: the model it would have made.
    Failed(Model, logstore::Error),
}

fn step(store: &Store, model: &Model, rng: &mut Xorshift, n: u64) -> Outcome {
    let mut after = model.clone();
    let id = rng.next_u64() % IDS;
    let pick = rng.next_u64();
    let exists = model.contains_key(&id);
    let len = 1 + (rng.next_u64() % 700) as usize;
    let result: Result<(), logstore::Error> = match rng.next_u64() % 20 {
        0 => {
            let first = pick % 1000;
            let r = store.create_log(id, first).map(|_| ());
            after.insert(
                id,
                MLog {
                    first,
                    ..MLog::default()
                },
            );
            if exists {
                assert_eq!(r.unwrap_err().kind(), ErrorKind::InvalidArgument);
                return Outcome::Refused;
            }
            r
        }
        1 if pick.is_multiple_of(3) => {
            let r = store.drop_log(id);
            after.remove(&id);
            if !exists {
                assert_eq!(r.unwrap_err().kind(), ErrorKind::OutOfRange);
                return Outcome::Refused;
            }
            r
        }
        2..=8 => {
            let r = record(n, len);
            let got = store.log(id).and_then(|l| l.append(&r));
            if !exists {
                assert_eq!(got.unwrap_err().kind(), ErrorKind::OutOfRange);
                return Outcome::Refused;
            }
            let m = after.get_mut(&id).unwrap();
            let want = m.next();
            m.records.push(r);
            got.map(|p| assert_eq!(p, want))
        }
        9..=10 => {
            let rs: Vec<Vec<u8>> = (0..1 + pick % 5)
                .map(|i| record(n * 10 + i, len / 3 + 1))
                .collect();
            let got = store.log(id).and_then(|l| l.append_batch(&rs));
            if !exists {
                return Outcome::Refused;
            }
            let m = after.get_mut(&id).unwrap();
            let want = m.next()..m.next() + rs.len() as u64;
            m.records.extend(rs);
            got.map(|p| assert_eq!(p, want))
        }
        11..=12 => {
            // A cross-log write: appends to several logs and a state value.
            let mut batch = WriteBatch::new();
            let ids: Vec<u64> = model.keys().copied().collect();
            if ids.is_empty() {
                return Outcome::Refused;
            }
            let mut want = Vec::new();
            for i in 0..1 + pick % 4 {
                let id = ids[(rng.next_u64() % ids.len() as u64) as usize];
                let r = record(n * 10 + i, len / 2 + 1);
                batch.append(id, &r);
                let m = after.get_mut(&id).unwrap();
                want.push(m.next());
                m.records.push(r);
            }
            let sid = ids[(pick % ids.len() as u64) as usize];
            let v = record(n, (pick % 64) as usize);
            batch.set_state(sid, &v);
            after.get_mut(&sid).unwrap().state = Some(v);
            store.write(&batch).map(|got| assert_eq!(got, want))
        }
        13 => {
            let v = record(n, (pick % 300) as usize);
            let got = store.log(id).and_then(|l| l.set_state(&v));
            if !exists {
                return Outcome::Refused;
            }
            after.get_mut(&id).unwrap().state = Some(v);
            got
        }
        14..=15 => {
            let Some(m) = after.get_mut(&id) else {
                return Outcome::Refused;
            };
            // Mostly inside the log, sometimes past its end; log 0 lags.
            if id == 0 && !pick.is_multiple_of(4) {
                return Outcome::Refused;
            }
            let to = m.first + pick % (m.records.len() as u64 + 3);
            let drop = (to - m.first).min(m.records.len() as u64) as usize;
            m.records.drain(..drop);
            m.first = to;
            store.log(id).unwrap().truncate_front(to)
        }
        16 => {
            let Some(m) = after.get_mut(&id) else {
                return Outcome::Refused;
            };
            let back = pick % (m.records.len() as u64 + 1);
            let to = m.next() - back;
            if pick.is_multiple_of(7) && m.first > 0 {
                // Before the first position: refused, nothing changes.
                let e = store
                    .log(id)
                    .unwrap()
                    .truncate_back(m.first - 1)
                    .unwrap_err();
                assert_eq!(e.kind(), ErrorKind::OutOfRange);
                return Outcome::Refused;
            }
            m.records.truncate((to - m.first) as usize);
            store.log(id).unwrap().truncate_back(to)
        }
        _ => store.compact(),
    };
    match result {
        Ok(()) => Outcome::Done(after),
        Err(e) => Outcome::Failed(after, e),
    }
}

/// The model test: every step, and every reopen, leaves the model.
#[test]
fn many_logs_behave_as_the_model_through_compaction_and_reopens() {
    for seed in 1..=12u64 {
        let fs = SimFs::new();
        let mut store = Store::open(DIR, options(&fs)).unwrap();
        let mut model = Model::new();
        let mut rng = Xorshift::new(seed * 0x9E37_79B9);
        let (mut copied, mut reclaimed) = (0, 0);
        for n in 0..600u64 {
            match step(&store, &model, &mut rng, n) {
                Outcome::Done(m) => model = m,
                Outcome::Refused => {}
                Outcome::Failed(_, e) => panic!("seed {seed} step {n}: {e}"),
            }
            if n % 97 == 96 {
                let stats = store.stats().unwrap();
                (copied, reclaimed) = (
                    copied + stats.copied_bytes,
                    reclaimed + stats.reclaimed_bytes,
                );
                drop(store);
                store = Store::open(DIR, options(&fs)).unwrap();
            }
            if n % 50 == 49 {
                assert_eq!(snapshot(&store), model, "seed {seed} step {n}");
            }
        }
        assert_eq!(snapshot(&store), model, "seed {seed}");
        // The workload reaches both steps of compaction.
        assert!(
            copied > 0 && reclaimed > 0,
            "seed {seed}: {copied} copied, {reclaimed} reclaimed"
        );
    }
}

/// Runs the workload of `seed` for `steps` steps, with the power cut
/// after `cut` mutations if given. Returns the acknowledged model and the
/// one the call in flight would have made.
fn run(fs: &SimFs, seed: u64, steps: u64, cut: Option<u64>) -> (Model, Option<Model>) {
    let mut model = Model::new();
    if let Some(cut) = cut {
        fs.cut_power_after(cut);
    }
    let Ok(store) = Store::open(DIR, options(fs)) else {
        return (model, None);
    };
    let mut rng = Xorshift::new(seed * 0x9E37_79B9);
    for n in 0..steps {
        match step(&store, &model, &mut rng, n) {
            Outcome::Done(m) => model = m,
            Outcome::Refused => {}
            Outcome::Failed(m, e) => {
                assert!(
                    matches!(e.kind(), ErrorKind::Io | ErrorKind::Poisoned),
                    "seed {seed} step {n}: {e}"
                );
                return (model, Some(m));
            }
        }
    }
    if cut.is_none() {
        let copied = store.stats().unwrap().copied_bytes;
        assert!(copied > 0, "seed {seed}: compaction never copied a record");
    }
    (model, None)
}

fn mutations(seed: u64, steps: u64) -> u64 {
    let fs = SimFs::new();
    let (model, inflight) = run(&fs, seed, steps, None);
    assert!(inflight.is_none());
    assert!(model.len() > 1, "seed {seed}: the workload made no logs");
    let records: usize = model.values().map(|l| l.records.len()).sum();
    assert!(
        records > 30,
        "seed {seed}: the workload keeps {records} records"
    );
    fs.mutations()
}

/// A power cut after each of many file-system calls of the workload:
/// the reopened store holds what the acknowledged calls made, or that
/// plus the call in flight; never less, never a record made up, and a
/// second reopen sees the same.
#[test]
fn a_power_cut_anywhere_keeps_every_acknowledged_call_of_every_log() {
    let steps = 400;
    for seed in [3u64, 8] {
        let total = mutations(seed, steps);
        let stride = (total / 150).max(1);
        let mut cut_hit = 0;
        for (i, cut) in (0..total).step_by(stride as usize).enumerate() {
            for mode in [
                CrashMode::DropUnsynced,
                CrashMode::KeepUnsynced,
                CrashMode::Scramble(cut),
            ] {
                let fs = SimFs::new();
                let (acked, inflight) = run(&fs, seed, steps, Some(cut));
                cut_hit += usize::from(inflight.is_some());
                fs.restart(mode);
                let ctx = format!("seed {seed} cut {cut} (#{i}) {mode:?}");
                let store =
                    Store::open(DIR, options(&fs)).unwrap_or_else(|e| panic!("{ctx}: reopen: {e}"));
                let got = snapshot(&store);
                assert!(
                    got == acked || Some(&got) == inflight.as_ref(),
                    "{ctx}: got {got:?}\nacknowledged {acked:?}\nin flight {inflight:?}"
                );
                drop(store);
                let again = snapshot(&Store::open(DIR, options(&fs)).unwrap());
                assert_eq!(again, got, "{ctx}: a second reopen differs");
            }
        }
        assert!(
            cut_hit > 300,
            "seed {seed}: {cut_hit} runs stopped at a cut of {total} calls"
        );
    }
}

/// Opening a store on a directory that does not exist, read-only, is an
/// error naming it, not a panic.
#[test]
fn opening_a_missing_store_read_only_is_an_error() {
    let fs = SimFs::new();
    let e = Store::open(
        Path::new("/nowhere"),
        StoreOptions::default().log_options(Options::default().simulated(&fs).create(false)),
    )
    .unwrap_err();
    assert!(e.to_string().contains("nowhere"), "{e}");
}

/// Compaction drops the shared log's front only once the entries that
/// replaced what it drops are durable. Here a truncation's new meta entry
/// is written but its sync is held back when compaction runs: dropping
/// the front then (it holds the log's creation) and losing the power
/// before the held sync made the whole log vanish.
#[test]
fn compaction_waits_for_the_meta_entry_that_replaces_what_it_drops() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    let fs = SimFs::new();
    let store = Arc::new(Store::open(DIR, options(&fs)).unwrap());
    let one = store.create_log(1, 0).unwrap();
    for i in 0..10 {
        one.append(&record(i, 100)).unwrap();
    }
    let two = store.create_log(2, 0).unwrap();
    two.append(b"kept").unwrap();
    let held = Arc::new(AtomicBool::new(true));
    fs.on_call({
        let held = held.clone();
        move |op, _| {
            if op == logstore::sim::Op::Sync && std::thread::current().name() == Some("truncator") {
                while held.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
    });
    let truncator = std::thread::Builder::new()
        .name("truncator".into())
        .spawn(move || one.truncate_front(10))
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let compactor = std::thread::spawn({
        let store = store.clone();
        move || store.compact()
    });
    std::thread::sleep(Duration::from_millis(300));
    fs.cut_power_now();
    held.store(false, Ordering::SeqCst);
    let _ = truncator.join().unwrap();
    let _ = compactor.join().unwrap();
    fs.clear_hook();
    drop(store);
    fs.restart(CrashMode::DropUnsynced);
    let store = Store::open(DIR, options(&fs)).unwrap();
    assert_eq!(store.logs(), vec![1, 2], "an acknowledged log vanished");
    let first = store.log(1).unwrap().first_position().unwrap();
    assert!(first == 0 || first == 10, "{first}");
    assert_eq!(store.log(2).unwrap().read(0).unwrap(), b"kept");
}
