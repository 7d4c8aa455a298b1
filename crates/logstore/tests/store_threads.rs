//! Guards `Store` under threads: each thread owns some logs and checks
//! them against its own model while the others write theirs and the
//! background pass (every millisecond) turns records into runs, writes
//! checkpoints, compacts and reclaims, on real files with small segments.
//! Then the store reopens from its checkpoint, and again from every entry
//! (the checkpoint moved aside): both must hold exactly the models.

use std::collections::BTreeMap;
use std::time::Duration;

use logstore::{Options, Store, StoreOptions, SyncPolicy, WriteBatch};
use logstore_testkit::{record, Xorshift};

const THREADS: u64 = 4;
const LOGS_PER_THREAD: u64 = 3;
const STEPS: u64 = 2_000;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct MLog {
    first: u64,
    records: Vec<Vec<u8>>,
    state: Option<Vec<u8>>,
}

type Model = BTreeMap<u64, MLog>;

fn options(background: bool) -> StoreOptions {
    StoreOptions::default()
        .log_options(
            Options::default()
                .segment_size(16 << 10)
                .sync_policy(SyncPolicy::Never),
        )
        .background_compaction(background, Duration::from_millis(1))
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
        let state = log.state().unwrap();
        m.insert(
            id,
            MLog {
                first,
                records,
                state,
            },
        );
    }
    m
}

/// One thread's work on its own logs; returns their model.
fn work(store: &Store, t: u64) -> Model {
    let mut rng = Xorshift::new(0x5eed ^ ((t + 1) * 0x9e37_79b9));
    let ids: Vec<u64> = (0..LOGS_PER_THREAD).map(|i| t * 100 + i).collect();
    let mut model = Model::new();
    for &id in &ids {
        store.create_log(id, id * 1000).unwrap();
        model.insert(
            id,
            MLog {
                first: id * 1000,
                ..MLog::default()
            },
        );
    }
    for step in 0..STEPS {
        let id = ids[(rng.next_u64() % ids.len() as u64) as usize];
        let log = store.log(id).unwrap();
        let m = model.get_mut(&id).unwrap();
        let next = m.first + m.records.len() as u64;
        match rng.next_u64() % 10 {
            0..=4 => {
                let n = 1 + rng.next_u64() % 8;
                let rs: Vec<Vec<u8>> = (0..n)
                    .map(|i| {
                        record(
                            t << 40 | step << 8 | i,
                            20 + (rng.next_u64() % 200) as usize,
                        )
                    })
                    .collect();
                assert_eq!(log.append_batch(&rs).unwrap(), next..next + n);
                m.records.extend(rs);
            }
            5 => {
                // A batch over two of this thread's logs and a state value.
                let other = ids[(rng.next_u64() % ids.len() as u64) as usize];
                let r = record((t << 40) | (step << 8) | 99, 50);
                let mut batch = WriteBatch::new();
                batch
                    .append(id, &r)
                    .append(other, &r)
                    .set_state(other, &step.to_le_bytes());
                store.write(&batch).unwrap();
                m.records.push(r.clone());
                let o = model.get_mut(&other).unwrap();
                o.records.push(r);
                o.state = Some(step.to_le_bytes().to_vec());
            }
            6 => {
                // Keep the last few; sometimes cut past the end.
                let keep = rng.next_u64() % 12;
                let to = (next.saturating_sub(keep)).max(m.first) + u64::from(keep == 0) * 3;
                log.truncate_front(to).unwrap();
                let gone = (to - m.first).min(m.records.len() as u64) as usize;
                m.records.drain(..gone);
                m.first = to;
            }
            7 if !m.records.is_empty() => {
                let cut = rng.next_u64() % 3;
                let to = next.saturating_sub(cut).max(m.first);
                log.truncate_back(to).unwrap();
                m.records.truncate((to - m.first) as usize);
            }
            8 => {
                log.set_state(&step.to_be_bytes()).unwrap();
                m.state = Some(step.to_be_bytes().to_vec());
            }
            _ => {
                // Read a few back while the others write and compaction moves.
                for _ in 0..4 {
                    if m.records.is_empty() {
                        break;
                    }
                    let i = rng.next_u64() % m.records.len() as u64;
                    assert_eq!(
                        log.read(m.first + i).unwrap(),
                        m.records[i as usize],
                        "log {id}"
                    );
                }
            }
        }
    }
    model
}

#[test]
fn threads_on_their_own_logs_see_their_models_through_background_compaction_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), options(true)).unwrap();
    let models: Vec<Model> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..THREADS)
            .map(|t| {
                let store = &store;
                s.spawn(move || work(store, t))
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let want: Model = models.into_iter().flatten().collect();
    assert_eq!(snapshot(&store), want);
    store.compact().unwrap();
    let stats = store.stats().unwrap();
    assert!(stats.shared.segments.len() > 1, "{stats:?}");
    store.close().unwrap();
    let store = Store::open(dir.path(), options(false)).unwrap();
    assert!(store.recovery().checkpoint.is_some());
    assert_eq!(snapshot(&store), want);
    assert_eq!(
        store.verify().unwrap(),
        want.values().map(|m| m.records.len() as u64).sum()
    );
    drop(store);
    std::fs::remove_file(dir.path().join("store.checkpoint")).unwrap();
    let store = Store::open(dir.path(), options(false)).unwrap();
    assert_eq!(store.recovery().checkpoint, None);
    assert_eq!(snapshot(&store), want);
}
