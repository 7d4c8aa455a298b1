//! A random workload of appends, batches and both truncations, the model
//! of the log it should leave, and the check that a recovered log is one
//! a crash may leave.

use std::collections::VecDeque;

use logstore::Log;

use super::{record, Rng};

#[derive(Clone)]
pub enum Op {
    Append(Vec<u8>),
    Batch(Vec<Vec<u8>>),
    /// Positions are offsets from the model's first position at run time.
    TruncateFront(u64),
    TruncateBack(u64),
}

fn size(rng: &mut Rng) -> usize {
    match rng.range(0, 100) {
        0..=64 => rng.range(1, 200) as usize,
        65..=94 => rng.range(200, 5000) as usize,
        _ => rng.range(5000, 100 << 10) as usize,
    }
}

pub fn workload(seed: u64, n: usize) -> Vec<Op> {
    let mut rng = Rng(seed);
    let mut seq = 0;
    let mut rec = |rng: &mut Rng| {
        seq += 1;
        record(seq, size(rng))
    };
    (0..n)
        .map(|_| match rng.range(0, 100) {
            0..=69 => Op::Append(rec(&mut rng)),
            70..=84 => {
                let k = rng.range(2, 7);
                Op::Batch((0..k).map(|_| rec(&mut rng)).collect())
            }
            85..=92 => Op::TruncateFront(rng.range(0, 12)),
            _ => Op::TruncateBack(rng.range(0, 8)),
        })
        .collect()
}

/// What the log holds: the first position and the records from there.
#[derive(Clone, Debug, Default)]
pub struct Model {
    pub first: u64,
    pub records: VecDeque<Vec<u8>>,
    /// For each record, the position of the first record of its batch.
    pub batch_start: VecDeque<u64>,
}

/// Logs are equal when they hold the same records at the same positions.
impl PartialEq for Model {
    fn eq(&self, other: &Model) -> bool {
        self.first == other.first && self.records == other.records
    }
}

impl Model {
    pub fn next(&self) -> u64 {
        self.first + self.records.len() as u64
    }
}

impl std::fmt::Debug for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Op::Append(r) => write!(f, "Append({} bytes)", r.len()),
            Op::Batch(rs) => write!(f, "Batch({} records)", rs.len()),
            Op::TruncateFront(o) => write!(f, "TruncateFront(+{o})"),
            Op::TruncateBack(o) => write!(f, "TruncateBack(-{o})"),
        }
    }
}

/// Compares the records too, but shows only positions.
impl std::fmt::Display for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "[first {}, next {}]", self.first, self.next())
    }
}

impl Model {
    /// The concrete position an op aims at, seen from this state.
    pub fn front_target(&self, off: u64) -> u64 {
        // Mostly inside the log, sometimes just past its end.
        self.first + off * (self.records.len() as u64 + 3) / 10
    }

    pub fn back_target(&self, off: u64) -> u64 {
        self.next() - (off * 3).min(self.records.len() as u64)
    }

    pub fn apply(&mut self, op: &Op) {
        match op {
            Op::Append(r) => {
                self.batch_start.push_back(self.next());
                self.records.push_back(r.clone());
            }
            Op::Batch(rs) => {
                let start = self.next();
                self.batch_start.extend(rs.iter().map(|_| start));
                self.records.extend(rs.iter().cloned());
            }
            Op::TruncateFront(off) => {
                let pos = self.front_target(*off);
                if pos > self.next() {
                    self.records.clear();
                    self.batch_start.clear();
                    self.first = pos;
                } else if pos > self.first {
                    self.records.drain(..(pos - self.first) as usize);
                    self.batch_start.drain(..(pos - self.first) as usize);
                    self.first = pos;
                }
            }
            Op::TruncateBack(off) => {
                let pos = self.back_target(*off);
                self.records.truncate((pos - self.first) as usize);
                self.batch_start.truncate((pos - self.first) as usize);
            }
        }
    }
}

/// What a reopened log holds.
pub fn snapshot(log: &Log) -> Model {
    let first = log.first_position();
    let mut records = VecDeque::new();
    for item in log.iter(first) {
        let (pos, rec) = item.unwrap_or_else(|e| panic!("reading the recovered log: {e}"));
        assert_eq!(
            pos,
            first + records.len() as u64,
            "positions are contiguous"
        );
        records.push_back(rec);
    }
    assert_eq!(log.next_position(), first + records.len() as u64);
    Model {
        first,
        records,
        batch_start: VecDeque::new(),
    }
}

/// Checks that `got` is a state the log may be in after a crash: the
/// acknowledged state, possibly with the call in flight applied (a batch
/// whole or not at all, a truncation done or not, a back truncation
/// partly).
pub fn check(got: &Model, acked: &Model, inflight: Option<&Op>, garbled: bool, ctx: &str) {
    let done = inflight.map(|op| {
        let mut m = acked.clone();
        m.apply(op);
        m
    });
    if got == acked || done.as_ref() == Some(got) {
        return;
    }
    if let (Some(Op::TruncateBack(_)), Some(done)) = (inflight, &done) {
        // Segments are removed newest first: any prefix between the
        // new and the old end is a state the log passed through.
        let n = got.records.len();
        let mut floor = done.records.len();
        if garbled && floor > 0 {
            // Known limitation: a cut inside a batch rewrites the frame
            // header of the last kept record in place, and a scrambled
            // crash may leave that header garbage, which loses the kept
            // part of the batch. Nothing before the batch may be lost.
            floor = done.batch_start[floor - 1].saturating_sub(acked.first) as usize;
        }
        if got.first == acked.first
            && floor <= n
            && n <= acked.records.len()
            && got.records.iter().eq(acked.records.iter().take(n))
        {
            return;
        }
    }
    let describe = |m: &Model| format!("first {} next {}", m.first, m.next());
    let first_diff = (got.first..got.next()).find(|&p| {
        p < acked.first
            || acked.records.get((p - acked.first) as usize)
                != got.records.get((p - got.first) as usize)
    });
    panic!(
        "{ctx}: recovered {} (first differing position {first_diff:?}); acknowledged {}; in flight {:?}",
        describe(got),
        describe(acked),
        inflight,
    );
}
