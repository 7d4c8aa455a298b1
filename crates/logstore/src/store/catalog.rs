//! What a store holds in memory: for each log, its range, where each of
//! its records sits in the shared log, and its state value. Rebuilt at
//! open by replaying the shared log's entries (`Replay`).

use std::collections::{BTreeMap, HashMap};

use crate::error::{Error, ErrorKind, Result};
use crate::store::entry::Entry;
use crate::store::locs::{Loc, Locs};

/// One log of a store.
#[derive(Debug)]
pub(crate) struct LogState {
    /// Its positions, and where each kept record sits in the shared log.
    locs: Locs,
    /// The state value.
    pub(crate) state: Option<Vec<u8>>,
    /// The shared position of the log's last `Meta` entry, which compaction
    /// keeps: it says the log exists, and holds its range and state.
    pub(crate) meta_at: u64,
    /// A shared position at or below every entry the log needs (its
    /// records' and `meta_at`), if known.
    lowest: Option<u64>,
    /// Which creation of the log id this is: a handle of a dropped log
    /// does not reach a log created later with the same id.
    pub(crate) incarnation: u64,
}

impl LogState {
    pub(crate) fn new(first: u64, meta_at: u64) -> Self {
        LogState {
            locs: Locs::new(first),
            state: None,
            meta_at,
            lowest: Some(meta_at),
            incarnation: 0,
        }
    }

    /// A log as a checkpoint kept it.
    pub(crate) fn restored(locs: Locs, state: Option<Vec<u8>>, meta_at: u64) -> Self {
        LogState {
            locs,
            state,
            meta_at,
            lowest: None,
            incarnation: 0,
        }
    }

    /// The first position kept.
    pub(crate) fn first(&self) -> u64 {
        self.locs.first()
    }

    pub(crate) fn next(&self) -> u64 {
        self.locs.next()
    }

    /// Records kept.
    pub(crate) fn len(&self) -> u64 {
        self.locs.len()
    }

    /// Where the record at `position` is, if kept.
    pub(crate) fn loc(&self, position: u64) -> Option<Loc> {
        self.locs.get(position)
    }

    pub(crate) fn locs(&self) -> &Locs {
        &self.locs
    }

    pub(crate) fn push(&mut self, loc: u64) {
        self.locs.push(loc);
        if let Some(lowest) = &mut self.lowest {
            *lowest = (*lowest).min(loc);
        }
    }

    /// Records a new `Meta` entry at `at`.
    pub(crate) fn set_meta(&mut self, at: u64) {
        self.meta_at = at;
        self.lowest = None;
    }

    /// Drops the records before `position` (all of them if it is past the
    /// end: the log is then empty and the next append gets `position`).
    pub(crate) fn truncate_front(&mut self, position: u64) {
        self.locs.truncate_front(position);
        self.lowest = None;
    }

    /// Drops the records at `position` and after.
    pub(crate) fn truncate_back(&mut self, position: u64) {
        self.locs.truncate_back(position);
        self.lowest = None;
    }

    /// Points the record at `position` to its copy at `loc`, in the shared
    /// log whose segments start at `segs`.
    pub(crate) fn moved(&mut self, position: u64, loc: u64, segs: &[u64]) {
        self.locs.set(position, loc, segs);
        self.lowest = None;
    }

    /// Holds the records in sealed segments as runs (see [`Locs`]).
    pub(crate) fn sparsify(&mut self, segs: &[u64]) {
        self.locs.sparsify(segs);
    }

    /// A shared position at or below every entry the log still needs.
    pub(crate) fn lowest(&mut self) -> u64 {
        let (locs, meta_at) = (&self.locs, self.meta_at);
        *self
            .lowest
            .get_or_insert_with(|| locs.lowest().unwrap_or(meta_at).min(meta_at))
    }
}

/// Every log of a store, by id.
#[derive(Debug, Default)]
pub(crate) struct Catalog {
    pub(crate) logs: HashMap<u64, LogState>,
    /// The incarnation the next log created gets.
    incarnations: u64,
}

impl Catalog {
    /// Adds log `id`, as a new incarnation; returns it.
    pub(crate) fn insert(&mut self, id: u64, mut log: LogState) -> u64 {
        self.incarnations += 1;
        log.incarnation = self.incarnations;
        self.logs.insert(id, log);
        self.incarnations
    }

    /// Log `id`, if it is still incarnation `incarnation`.
    pub(crate) fn get(&self, id: u64, incarnation: u64) -> Option<&LogState> {
        self.logs.get(&id).filter(|l| l.incarnation == incarnation)
    }

    /// As [`Catalog::get`], mutably.
    pub(crate) fn get_mut(&mut self, id: u64, incarnation: u64) -> Option<&mut LogState> {
        self.logs
            .get_mut(&id)
            .filter(|l| l.incarnation == incarnation)
    }

    /// The least shared position any log needs: every entry before it is
    /// dead. `end` if no log needs any.
    pub(crate) fn lowest(&mut self, end: u64) -> u64 {
        self.logs
            .values_mut()
            .map(LogState::lowest)
            .fold(end, u64::min)
    }

    /// Applies the entry at shared position `at`, written after every entry
    /// the catalog holds (the replay after a checkpoint): each entry must
    /// follow from the catalog, as it did when it was written. `segs` are
    /// the shared log's segments' first positions.
    ///
    /// # Errors
    /// [`ErrorKind::Corruption`] for an entry that does not follow.
    pub(crate) fn apply(&mut self, at: u64, entry: Entry<'_>, segs: &[u64]) -> Result<()> {
        let wrong = |what: &str| {
            Error::new(
                ErrorKind::Corruption,
                format!(
                    "store entry at shared position {at} does not follow the checkpoint: {what}"
                ),
            )
            .at_position(at)
        };
        match entry {
            Entry::Put { log, position, .. } => match self.logs.get_mut(&log) {
                Some(l) if l.next() == position => l.push(at),
                Some(l) => return Err(misplaced(at, log, position, l.next())),
                None => {
                    return Err(wrong(&format!(
                        "a record of log {log}, which does not exist"
                    )))
                }
            },
            Entry::Moved { log, position, .. } => match self.logs.get_mut(&log) {
                Some(l) if l.loc(position).is_some() => l.moved(position, at, segs),
                _ => {
                    return Err(wrong(&format!(
                        "a copy of log {log}'s record {position}, not kept"
                    )))
                }
            },
            Entry::Meta {
                log,
                first,
                next,
                state,
            } => {
                let l = match self.logs.get_mut(&log) {
                    Some(l) => l,
                    None if first == next => {
                        self.insert(log, LogState::new(first, at));
                        self.logs.get_mut(&log).expect("just inserted")
                    }
                    None => {
                        return Err(wrong(&format!("log {log} created holding {first}..{next}")))
                    }
                };
                l.truncate_front(first);
                l.truncate_back(next);
                if (l.first(), l.next()) != (first, next) {
                    return Err(wrong(&format!("log {log} cannot hold {first}..{next}")));
                }
                l.state = state.map(<[u8]>::to_vec);
                l.set_meta(at);
            }
            Entry::Drop { log } => {
                if self.logs.remove(&log).is_none() {
                    return Err(wrong(&format!("log {log} dropped, which does not exist")));
                }
            }
        }
        Ok(())
    }

    /// Holds every log's records in sealed segments as runs.
    pub(crate) fn sparsify(&mut self, segs: &[u64]) {
        self.logs.values_mut().for_each(|l| l.sparsify(segs));
    }

    /// Bytes of memory the index takes, roughly.
    pub(crate) fn index_bytes(&self) -> u64 {
        let per_log = std::mem::size_of::<(u64, LogState)>() as u64;
        self.logs.values().map(|l| per_log + l.locs.bytes()).sum()
    }
}

/// A log as the replay of the shared log rebuilds it.
#[derive(Default)]
struct Rebuilt {
    /// The `Meta` entry seen last: `(first, next, at)`.
    meta: Option<(u64, u64, u64)>,
    state: Option<Vec<u8>>,
    next: u64,
    locs: BTreeMap<u64, u64>,
}

/// Rebuilds the catalog from the shared log's entries, in their order.
///
/// The entries before the shared log's first position are gone, so a log's
/// earlier entries may be missing; its last `Meta` entry never is
/// (compaction rewrites it before it reclaims it), and every record it
/// keeps is found after it or among the `Put` and `Moved` entries before.
#[derive(Default)]
pub(crate) struct Replay {
    logs: HashMap<u64, Rebuilt>,
}

impl Replay {
    /// # Errors
    /// [`ErrorKind::Corruption`] for an entry that cannot follow the ones
    /// before it: a record appended elsewhere than at its log's end.
    pub(crate) fn apply(&mut self, at: u64, entry: Entry<'_>) -> Result<()> {
        match entry {
            Entry::Put { log, position, .. } => {
                let l = self.logs.entry(log).or_default();
                // Once its meta entry is seen, a log's next position is
                // known: a record is appended there, and nowhere else.
                if l.meta.is_some() && position != l.next {
                    return Err(misplaced(at, log, position, l.next));
                }
                // Before it, the record says where the log ended: any
                // record found at or after it was cut off.
                l.locs.split_off(&position);
                l.locs.insert(position, at);
                l.next = position
                    .checked_add(1)
                    .ok_or_else(|| misplaced(at, log, position, l.next))?;
            }
            Entry::Moved { log, position, .. } => {
                self.logs.entry(log).or_default().locs.insert(position, at);
            }
            Entry::Meta {
                log,
                first,
                next,
                state,
            } => {
                let l = self.logs.entry(log).or_default();
                l.meta = Some((first, next, at));
                l.state = state.map(<[u8]>::to_vec);
                l.next = next;
                l.locs.split_off(&next);
                l.locs = l.locs.split_off(&first);
            }
            Entry::Drop { log } => {
                self.logs.remove(&log);
            }
        }
        Ok(())
    }

    /// The catalog the entries describe.
    ///
    /// # Errors
    /// [`ErrorKind::Corruption`] if a log has records but no `Meta` entry,
    /// or a record it keeps is missing: the shared log lost entries it
    /// should have kept.
    pub(crate) fn finish(self) -> Result<Catalog> {
        let mut catalog = Catalog::default();
        for (id, l) in self.logs {
            let Some((first, _, meta_at)) = l.meta else {
                let at = l.locs.values().next().copied().unwrap_or(0);
                return Err(Error::new(
                    ErrorKind::Corruption,
                    format!("store log {id} has records (one at shared position {at}) but no meta entry"),
                )
                .at_position(at));
            };
            if l.next < first {
                return Err(misplaced(meta_at, id, l.next, first));
            }
            let mut s = LogState::new(first, meta_at);
            s.state = l.state;
            let mut want = first;
            for (pos, loc) in l.locs.range(first..l.next) {
                if *pos != want {
                    break;
                }
                s.push(*loc);
                want += 1;
            }
            if want != l.next {
                return Err(Error::new(
                    ErrorKind::Corruption,
                    format!(
                        "store log {id} holds {first}..{} but its record at {want} is missing",
                        l.next
                    ),
                )
                .at_position(want));
            }
            catalog.insert(id, s);
        }
        Ok(catalog)
    }
}

fn misplaced(at: u64, log: u64, position: u64, next: u64) -> Error {
    Error::new(
        ErrorKind::Corruption,
        format!(
            "store entry at shared position {at}: a record of log {log} at position {position}, \
             where the log's next position is {next}"
        ),
    )
    .at_position(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(log: u64, position: u64) -> Entry<'static> {
        Entry::Put {
            log,
            position,
            record: b"r",
        }
    }

    /// The shared positions of a log's records, held densely after replay.
    fn ats(l: &LogState) -> Vec<u64> {
        (l.first()..l.next())
            .map(|p| match l.loc(p) {
                Some(Loc::At(at)) => at,
                other => panic!("{other:?} at {p}"),
            })
            .collect()
    }

    fn meta(log: u64, first: u64, next: u64) -> Entry<'static> {
        Entry::Meta {
            log,
            first,
            next,
            state: None,
        }
    }

    #[test]
    fn a_replay_after_compaction_finds_moved_records_and_the_last_meta() {
        let mut r = Replay::default();
        // The front (the creation and positions 0..2) was reclaimed after
        // compaction rewrote the meta and moved 1..2; 0 was truncated.
        r.apply(10, put(1, 2)).unwrap();
        r.apply(11, put(1, 3)).unwrap();
        r.apply(12, meta(1, 1, 4)).unwrap();
        r.apply(
            13,
            Entry::Moved {
                log: 1,
                position: 1,
                record: b"r",
            },
        )
        .unwrap();
        r.apply(14, put(1, 4)).unwrap();
        let c = r.finish().unwrap();
        let l = &c.logs[&1];
        assert_eq!((l.first(), l.next()), (1, 5));
        assert_eq!(ats(l), [13, 10, 11, 14]);
    }

    #[test]
    fn a_truncation_then_appends_replace_the_cut_records() {
        let mut r = Replay::default();
        r.apply(0, meta(1, 0, 0)).unwrap();
        r.apply(1, put(1, 0)).unwrap();
        r.apply(2, put(1, 1)).unwrap();
        r.apply(3, meta(1, 0, 1)).unwrap();
        r.apply(4, put(1, 1)).unwrap();
        r.apply(5, Entry::Drop { log: 2 }).unwrap();
        let c = r.finish().unwrap();
        assert_eq!(ats(&c.logs[&1]), [1, 4]);
    }

    #[test]
    fn a_record_away_from_its_logs_end_is_corruption() {
        let mut r = Replay::default();
        r.apply(0, meta(1, 10, 10)).unwrap();
        let e = r.apply(1, put(1, 3)).unwrap_err();
        assert_eq!((e.kind(), e.position()), (ErrorKind::Corruption, Some(1)));
        let mut r = Replay::default();
        let e = r.apply(0, put(1, u64::MAX)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corruption);
        // Records before their log's meta entry, then one below its first.
        let mut r = Replay::default();
        r.apply(0, put(1, 3)).unwrap();
        r.apply(1, meta(1, 10, 10)).unwrap();
        r.apply(2, put(1, 10)).unwrap();
        assert!(r.finish().is_ok());
    }

    #[test]
    fn a_missing_record_or_meta_is_corruption() {
        let mut r = Replay::default();
        r.apply(3, put(1, 2)).unwrap();
        r.apply(4, meta(1, 0, 3)).unwrap();
        let e = r.finish().unwrap_err();
        assert_eq!((e.kind(), e.position()), (ErrorKind::Corruption, Some(0)));
        let mut r = Replay::default();
        r.apply(3, put(2, 2)).unwrap();
        let e = r.finish().unwrap_err();
        assert_eq!((e.kind(), e.position()), (ErrorKind::Corruption, Some(3)));
    }
}
