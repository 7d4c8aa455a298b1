//! Where one log's kept records sit in the shared log, in little memory.
//!
//! The newest records are held densely, a shared position each: those
//! from the oldest one still in the shared log's active segment on. The
//! older ones are held as *runs*: a run is a range of positions whose
//! records all sit in one sealed segment, and keeps only a lower bound of
//! their shared positions. A record of a run is looked up in its segment's
//! map ([`super::maps`]), which one scan of the segment builds. A log thus
//! costs 16 bytes for each segment it has records in, plus 8 bytes for
//! each record from its oldest one in the active segment on.
//!
//! Runs are made by [`Locs::sparsify`], which the store calls after open
//! and on each background pass, for the records whose segment is sealed.

use std::collections::VecDeque;
use std::ops::Range;

/// Positions `start..` (up to the next run, or the dense part): their
/// records all sit in the segment holding shared position `low`, at `low`
/// or after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Run {
    start: u64,
    low: u64,
}

/// Where the record at a position is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Loc {
    /// At this shared position.
    At(u64),
    /// In the segment holding this shared position, at it or after it:
    /// the segment's map says where.
    In(u64),
}

/// The segment of `segs` (their first positions, in order) holding shared
/// position `at`, by its first position.
pub(crate) fn segment_of(segs: &[u64], at: u64) -> u64 {
    segs[segs.partition_point(|&f| f <= at).saturating_sub(1)]
}

/// Adds the record at `position` (the one after the last run's), at shared
/// position `at`, to the last run if it shares its segment.
fn join(runs: &mut Vec<Run>, position: u64, at: u64, segs: &[u64]) {
    let seg = segment_of(segs, at);
    match runs.last_mut() {
        Some(last) if segment_of(segs, last.low) == seg => last.low = last.low.min(at),
        _ => runs.push(Run {
            start: position,
            low: at,
        }),
    }
}

/// The positions `first..next` of one log and where their records are.
#[derive(Debug)]
pub(crate) struct Locs {
    first: u64,
    /// Sorted by start; they cover `first..dense_start`. The first may start
    /// before `first` (its records there are truncated).
    runs: Vec<Run>,
    dense_start: u64,
    /// The shared position of each record from `dense_start` on.
    dense: VecDeque<u64>,
}

impl Locs {
    /// No records; the first one to get `first`.
    pub(crate) fn new(first: u64) -> Self {
        Locs {
            first,
            runs: Vec::new(),
            dense_start: first,
            dense: VecDeque::new(),
        }
    }

    pub(crate) fn first(&self) -> u64 {
        self.first
    }

    pub(crate) fn next(&self) -> u64 {
        self.dense_start + self.dense.len() as u64
    }

    pub(crate) fn len(&self) -> u64 {
        self.next() - self.first
    }

    /// Where the record at `position` is, if kept.
    pub(crate) fn get(&self, position: u64) -> Option<Loc> {
        if position < self.first || position >= self.next() {
            return None;
        }
        if position >= self.dense_start {
            return Some(Loc::At(self.dense[(position - self.dense_start) as usize]));
        }
        let i = self.runs.partition_point(|r| r.start <= position) - 1;
        Some(Loc::In(self.runs[i].low))
    }

    /// Adds the record at the next position, at shared position `at`.
    pub(crate) fn push(&mut self, at: u64) {
        self.dense.push_back(at);
    }

    /// Drops the records before `position`; all of them if it is past the
    /// end, and the next record then gets `position`.
    pub(crate) fn truncate_front(&mut self, position: u64) {
        if position <= self.first {
            return;
        }
        if position >= self.next() {
            *self = Locs::new(position);
        } else if position >= self.dense_start {
            self.runs.clear();
            self.dense.drain(..(position - self.dense_start) as usize);
            self.dense_start = position;
            self.first = position;
        } else {
            self.first = position;
            let from = self.runs.partition_point(|r| r.start <= position) - 1;
            self.runs.drain(..from);
        }
    }

    /// Drops the records at `position` and after (none if it is at or
    /// past the end; all if it is at or before the first).
    pub(crate) fn truncate_back(&mut self, position: u64) {
        let position = position.max(self.first);
        if position >= self.next() {
            return;
        }
        if position >= self.dense_start {
            self.dense.truncate((position - self.dense_start) as usize);
            return;
        }
        self.dense.clear();
        self.dense_start = position;
        let keep = match position == self.first {
            true => 0,
            false => self.runs.partition_point(|r| r.start < position),
        };
        self.runs.truncate(keep);
    }

    /// The record at `position` (kept) is now at shared position `at`, in
    /// the segment of `segs` (their first positions) that holds it.
    pub(crate) fn set(&mut self, position: u64, at: u64, segs: &[u64]) {
        debug_assert!(self.get(position).is_some());
        if position >= self.dense_start {
            self.dense[(position - self.dense_start) as usize] = at;
            return;
        }
        let seg = segment_of(segs, at);
        let i = self.runs.partition_point(|r| r.start <= position) - 1;
        let end = self.run_end(i);
        if segment_of(segs, self.runs[i].low) == seg {
            self.runs[i].low = self.runs[i].low.min(at);
            return;
        }
        let run = self.runs[i];
        // The run before ends here, in `at`'s segment: it takes `position`
        // (copies of a run are made in order, so they join up).
        if run.start == position && i > 0 && segment_of(segs, self.runs[i - 1].low) == seg {
            self.runs[i - 1].low = self.runs[i - 1].low.min(at);
            match position + 1 < end {
                true => self.runs[i].start = position + 1,
                false => _ = self.runs.remove(i),
            }
            return;
        }
        let mut pieces = Vec::with_capacity(3);
        if run.start < position && position > self.first {
            pieces.push(run);
        }
        pieces.push(Run {
            start: position,
            low: at,
        });
        if position + 1 < end {
            pieces.push(Run {
                start: position + 1,
                low: run.low,
            });
        }
        self.runs.splice(i..=i, pieces);
    }

    /// Turns the dense records whose segment is sealed into runs: `segs`
    /// are the shared log's segments' first positions, the last one the
    /// active segment's.
    pub(crate) fn sparsify(&mut self, segs: &[u64]) {
        let active = *segs.last().expect("a log has an active segment");
        while let Some(&at) = self.dense.front().filter(|&&at| at < active) {
            self.dense.pop_front();
            join(&mut self.runs, self.dense_start, at, segs);
            self.dense_start += 1;
        }
        // Give back what the records gone to runs held (with room to grow).
        if self.dense.capacity() > 4 * self.dense.len().max(16) {
            self.dense.shrink_to(2 * self.dense.len());
        }
    }

    /// Every record as runs, `(start, low)` each, the dense ones too: what
    /// a checkpoint keeps.
    pub(crate) fn all_runs(&self, segs: &[u64]) -> Vec<(u64, u64)> {
        let mut runs = self.runs.clone();
        for (p, at) in self.dense() {
            join(&mut runs, p, at, segs);
        }
        runs.into_iter().map(|r| (r.start, r.low)).collect()
    }

    /// The positions `first..next` held as `runs` (from
    /// [`Locs::all_runs`]); `None` unless they make sense: sorted, covering
    /// the range, the first starting at or before `first` and the others
    /// after it, every bound below `below`.
    pub(crate) fn from_runs(
        first: u64,
        next: u64,
        runs: &[(u64, u64)],
        below: u64,
    ) -> Option<Locs> {
        let sorted = runs.windows(2).all(|w| w[0].0 < w[1].0);
        let inside = runs.iter().skip(1).all(|r| r.0 > first && r.0 < next);
        let covered = match runs.first() {
            None => first == next,
            Some(r) => r.0 <= first && first < next,
        };
        if !(sorted && inside && covered && runs.iter().all(|r| r.1 < below)) {
            return None;
        }
        Some(Locs {
            first,
            runs: runs
                .iter()
                .map(|&(start, low)| Run { start, low })
                .collect(),
            dense_start: next,
            dense: VecDeque::new(),
        })
    }

    /// A shared position at or below every kept record's.
    pub(crate) fn lowest(&self) -> Option<u64> {
        let runs = self.runs.iter().map(|r| r.low);
        runs.chain(self.dense.iter().copied()).min()
    }

    /// Each run's kept positions, and a shared position at or below their
    /// records', in the segment holding them.
    pub(crate) fn runs(&self) -> impl Iterator<Item = (Range<u64>, u64)> + '_ {
        (0..self.runs.len()).map(|i| {
            let r = self.runs[i];
            (r.start.max(self.first)..self.run_end(i), r.low)
        })
    }

    /// Each densely held record: its position and shared position.
    pub(crate) fn dense(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        (self.dense_start..).zip(self.dense.iter().copied())
    }

    /// Bytes of memory it takes, roughly.
    pub(crate) fn bytes(&self) -> u64 {
        (self.runs.capacity() * std::mem::size_of::<Run>() + self.dense.capacity() * 8) as u64
    }

    fn run_end(&self, i: usize) -> u64 {
        self.runs.get(i + 1).map_or(self.dense_start, |r| r.start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Segments of 10 positions each: 0, 10, 20, ...; the last active.
    fn segs(n: u64) -> Vec<u64> {
        (0..n).map(|i| i * 10).collect()
    }

    fn all(l: &Locs) -> Vec<Loc> {
        (l.first()..l.next()).map(|p| l.get(p).unwrap()).collect()
    }

    #[test]
    fn sealed_records_become_one_run_per_segment_and_keep_their_order() {
        let mut l = Locs::new(100);
        for at in [1, 5, 12, 13, 25] {
            l.push(at);
        }
        l.sparsify(&segs(3));
        use Loc::*;
        assert_eq!(all(&l), [In(1), In(1), In(12), In(12), At(25)]);
        assert_eq!(l.runs.len(), 2);
        assert_eq!((l.first(), l.next(), l.lowest()), (100, 105, Some(1)));
        l.push(26);
        assert_eq!(l.get(105), Some(At(26)));
        assert_eq!(l.get(106), None);
        assert_eq!(l.get(99), None);
    }

    #[test]
    fn truncations_cut_runs_and_the_dense_part_alike() {
        let mut l = Locs::new(0);
        for at in [1, 2, 11, 12, 21, 22] {
            l.push(at);
        }
        l.sparsify(&segs(3));
        l.truncate_front(3);
        assert_eq!((l.first(), l.runs.len()), (3, 1));
        assert_eq!(l.get(2), None);
        assert_eq!(l.get(3), Some(Loc::In(11)));
        l.truncate_back(4);
        assert_eq!((l.next(), l.dense.len()), (4, 0));
        l.truncate_back(3);
        assert_eq!((l.first(), l.next(), l.runs.len()), (3, 3, 0));
        l.push(30);
        assert_eq!(l.get(3), Some(Loc::At(30)));
        l.truncate_front(9);
        assert_eq!((l.first(), l.next(), l.lowest()), (9, 9, None));
    }

    #[test]
    fn moved_records_split_a_run_and_join_up_in_their_new_segment() {
        let mut l = Locs::new(0);
        for at in [1, 2, 3, 4] {
            l.push(at);
        }
        let mut s = segs(2);
        l.sparsify(&s);
        s.push(20);
        // Positions 1 and 2 move to segment 20, in order.
        l.set(1, 21, &s);
        assert_eq!(l.runs.len(), 3);
        l.set(2, 23, &s);
        use Loc::*;
        assert_eq!(all(&l), [In(1), In(21), In(21), In(1)]);
        assert_eq!(l.runs.len(), 3);
        // Moving within its segment only lowers the bound.
        l.set(0, 0, &s);
        assert_eq!(l.get(0), Some(In(0)));
        l.truncate_front(1);
        assert_eq!(all(&l), [In(21), In(21), In(1)]);
        assert_eq!(l.lowest(), Some(1));
        l.set(3, 24, &s);
        assert_eq!(all(&l), [In(21), In(21), In(21)]);
        assert_eq!((l.runs.len(), l.lowest()), (1, Some(21)));
    }
}
