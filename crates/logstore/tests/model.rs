//! Guards the public contract against a simple model: random sequences of
//! appends, batches, both truncations, reopens, reads, replays and
//! iterators must behave exactly like a first position plus a list of
//! records, on the real file system and on the simulated one.

mod common;

use std::collections::VecDeque;
use std::path::Path;

use common::{assert_kind, record};
use logstore::sim::{CrashMode, SimFs};
use logstore::{ErrorKind, Log, Options, SyncPolicy};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    Append(usize),
    Batch(Vec<usize>),
    /// Position chosen relative to the log at run time (see `pick`).
    TruncateFront(u16),
    TruncateBack(u16),
    Reopen,
    /// Power loss on the simulated file system (a reopen on the real one),
    /// after a `sync` unless every append is synced anyway.
    Crash,
    Read(u16),
    Replay(u16, u8),
    Iter(u16),
    Sync,
}

fn size() -> impl Strategy<Value = usize> {
    prop_oneof![
        8 => 1usize..64,
        3 => 64usize..1500,
        1 => 3000usize..9000,
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        20 => size().prop_map(Op::Append),
        5 => prop::collection::vec(size(), 1..6).prop_map(Op::Batch),
        3 => any::<u16>().prop_map(Op::TruncateFront),
        3 => any::<u16>().prop_map(Op::TruncateBack),
        2 => Just(Op::Reopen),
        2 => Just(Op::Crash),
        5 => any::<u16>().prop_map(Op::Read),
        2 => (any::<u16>(), any::<u8>()).prop_map(|(p, n)| Op::Replay(p, n)),
        2 => any::<u16>().prop_map(Op::Iter),
        1 => Just(Op::Sync),
    ]
}

fn policy() -> impl Strategy<Value = (SyncPolicy, usize)> {
    prop_oneof![
        Just((SyncPolicy::Always, 0)),
        Just((SyncPolicy::Never, 0)),
        Just((SyncPolicy::Never, 2048)),
        Just((SyncPolicy::Bytes(5000), 0)),
    ]
}

/// The model: the first position and the records from there on.
#[derive(Default)]
struct Model {
    first: u64,
    records: VecDeque<Vec<u8>>,
}

impl Model {
    fn next(&self) -> u64 {
        self.first + self.records.len() as u64
    }

    /// A position around the log: a few before the first position up to a
    /// few past the next one, and now and then far beyond it.
    fn pick(&self, r: u16) -> u64 {
        if r.is_multiple_of(17) {
            return self.next() + 50 + u64::from(r % 300);
        }
        let lo = self.first.saturating_sub(2);
        let span = self.next() + 3 - lo;
        lo + u64::from(r) % span
    }

    fn get(&self, pos: u64) -> Option<&Vec<u8>> {
        pos.checked_sub(self.first)
            .and_then(|i| self.records.get(i as usize))
    }
}

struct Harness {
    open: Box<dyn Fn() -> Log>,
    /// Cuts the power and restarts the simulated machine.
    crash: Option<Box<dyn Fn(Log)>>,
    always_synced: bool,
    log: Option<Log>,
    model: Model,
    seed: u64,
}

impl Harness {
    fn log(&self) -> &Log {
        self.log.as_ref().unwrap()
    }

    fn new_record(&mut self, len: usize) -> Vec<u8> {
        self.seed += 1;
        record(self.seed, len)
    }

    fn apply(&mut self, op: &Op) {
        if std::env::var_os("LOGSTORE_TRACE").is_some() {
            eprintln!(
                "op {op:?} first {} next {}",
                self.model.first,
                self.model.next()
            );
        }
        let m = &self.model;
        match *op {
            Op::Append(len) => {
                let rec = self.new_record(len);
                assert_eq!(self.log().append(&rec).unwrap(), self.model.next());
                self.model.records.push_back(rec);
            }
            Op::Batch(ref lens) => {
                let recs: Vec<Vec<u8>> = lens.iter().map(|&l| self.new_record(l)).collect();
                let next = self.model.next();
                let range = self.log().append_batch(&recs).unwrap();
                assert_eq!(range, next..next + recs.len() as u64);
                self.model.records.extend(recs);
            }
            Op::TruncateFront(r) => {
                let pos = m.pick(r);
                self.log().truncate_front(pos).unwrap();
                let m = &mut self.model;
                if pos > m.next() {
                    m.records.clear();
                    m.first = pos;
                } else if pos > m.first {
                    m.records.drain(..(pos - m.first) as usize);
                    m.first = pos;
                }
            }
            Op::TruncateBack(r) => {
                let pos = m.pick(r);
                let result = self.log().truncate_back(pos);
                if pos < m.first {
                    assert_kind(result, ErrorKind::OutOfRange);
                } else {
                    result.unwrap();
                    let keep = (pos - m.first) as usize;
                    self.model.records.truncate(keep);
                }
            }
            Op::Reopen => {
                drop(self.log.take());
                self.log = Some((self.open)());
            }
            Op::Crash => {
                if !self.always_synced {
                    self.log().sync().unwrap();
                }
                let log = self.log.take().unwrap();
                match &self.crash {
                    Some(crash) => crash(log),
                    None => drop(log),
                }
                self.log = Some((self.open)());
            }
            Op::Read(r) => self.check_read(m.pick(r)),
            Op::Replay(r, limit) => self.check_replay(m.pick(r), usize::from(limit % 20)),
            Op::Iter(r) => self.check_iter(m.pick(r)),
            Op::Sync => self.log().sync().unwrap(),
        }
        self.check_positions();
    }

    fn check_positions(&self) {
        let log = self.log();
        assert_eq!(log.first_position(), self.model.first, "first position");
        assert_eq!(log.next_position(), self.model.next(), "next position");
        let stats = log.stats().unwrap();
        assert_eq!(stats.records, self.model.records.len() as u64);
    }

    fn check_read(&self, pos: u64) {
        let got = self.log().read(pos);
        match self.model.get(pos) {
            Some(rec) => assert_eq!(&got.unwrap(), rec, "read({pos})"),
            None if pos < self.model.first => {
                assert_kind(got, ErrorKind::Truncated);
            }
            None => {
                assert_kind(got, ErrorKind::OutOfRange);
            }
        }
    }

    fn check_replay(&self, from: u64, limit: usize) {
        let mut seen = Vec::new();
        let got = self.log().replay(from, |p, r| {
            seen.push((p, r.to_vec()));
            limit == 0 || seen.len() < limit
        });
        let m = &self.model;
        if from < m.first {
            assert_kind(got, ErrorKind::Truncated);
            return;
        }
        if from > m.next() {
            assert_kind(got, ErrorKind::OutOfRange);
            return;
        }
        let mut want: Vec<(u64, Vec<u8>)> = (from..m.next())
            .map(|p| (p, m.get(p).unwrap().clone()))
            .collect();
        if limit > 0 {
            want.truncate(limit);
        }
        assert_eq!(got.unwrap(), want.len() as u64);
        assert!(seen == want, "replay({from}) differs from the model");
    }

    fn check_iter(&self, from: u64) {
        let got: Vec<_> = self.log().iter(from).collect();
        let m = &self.model;
        if from < m.first {
            assert_eq!(got.len(), 1);
            let e = got.into_iter().next().unwrap().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Truncated);
            return;
        }
        let got: Vec<_> = got.into_iter().map(|r| r.unwrap()).collect();
        let want: Vec<(u64, Vec<u8>)> = (from..m.next())
            .map(|p| (p, m.get(p).unwrap().clone()))
            .collect();
        assert!(got == want, "iter({from}) differs from the model");
    }
}

fn run(
    ops: &[Op],
    policy: SyncPolicy,
    open: Box<dyn Fn() -> Log>,
    crash: Option<Box<dyn Fn(Log)>>,
) {
    let log = open();
    let mut h = Harness {
        open,
        crash,
        always_synced: policy == SyncPolicy::Always,
        log: Some(log),
        model: Model::default(),
        seed: 0,
    };
    for op in ops {
        h.apply(op);
    }
    // Whatever happened, a final reopen sees the model.
    h.apply(&Op::Reopen);
    h.check_iter(h.model.first);
}

fn options(policy: SyncPolicy, write_buffer: usize) -> Options {
    Options::default()
        .segment_size(4096)
        .sync_policy(policy)
        .write_buffer(write_buffer)
}

/// Cases on the real file system (slower: every `SyncPolicy::Always`
/// append is an fdatasync); the simulated one runs eight times as many.
fn cases() -> u32 {
    if std::env::var_os("LOGSTORE_LONG").is_some() {
        2000
    } else {
        48
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn real_fs_matches_model(
        (policy, buffer) in policy(),
        background in any::<bool>(),
        ops in prop::collection::vec(op(), 1..120),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let opts = options(policy, buffer).background_reclaim(background);
        run(&ops, policy, Box::new(move || Log::open(&path, opts.clone()).unwrap()), None);
    }

}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8 * cases(), ..ProptestConfig::default() })]

    #[test]
    fn simulated_fs_matches_model(
        (policy, buffer) in policy(),
        background in any::<bool>(),
        ops in prop::collection::vec(op(), 1..120),
    ) {
        let fs = SimFs::new();
        let opts = options(policy, buffer).background_reclaim(background).simulated(&fs);
        let open = Box::new(move || Log::open(Path::new("/log"), opts.clone()).unwrap());
        let crashes = std::cell::Cell::new(0u64);
        let crash = Box::new(move |log: Log| {
            fs.cut_power_now();
            drop(log);
            let n = crashes.get();
            crashes.set(n + 1);
            fs.restart(match n % 3 {
                0 => CrashMode::DropUnsynced,
                1 => CrashMode::KeepUnsynced,
                _ => CrashMode::Scramble(n),
            });
        });
        run(&ops, policy, open, Some(crash));
    }
}
