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

/// A log as the first pass of a replay finds it: where its range ends up,
/// not where its records are.
struct Found {
    /// The `Meta` entry seen last: `(first, next, at)`.
    meta: Option<(u64, u64, u64)>,
    state: Option<Vec<u8>>,
    next: u64,
    /// The shared position of its first entry since it was last dropped:
    /// the entries before belong to a log of the same id dropped before.
    since: u64,
    /// The shared position of the first record seen, if any.
    record_at: Option<u64>,
}

/// Rebuilds the catalog from the shared log's entries, in two passes over
/// them, in their order: the first (`Replay::apply`) finds each log's
/// range and state, the second ([`Place::apply`]) where its kept records
/// are. So the second holds only records a log keeps, and holds those of
/// sealed segments as runs as it goes ([`Place::seal`]): the memory a
/// replay takes is that of the catalog it makes, plus the records of one
/// segment.
///
/// The entries before the shared log's first position are gone, so a log's
/// earlier entries may be missing; its last `Meta` entry never is
/// (compaction rewrites it before it reclaims it), and every record it
/// keeps is found after it or among the `Put` and `Moved` entries before.
/// A kept record is where the last `Put` or `Moved` entry of its log and
/// position says: each was written while the record was kept, and a
/// record dropped is only kept again by a later `Put`.
#[derive(Default)]
pub(crate) struct Replay {
    logs: HashMap<u64, Found>,
}

impl Replay {
    /// # Errors
    /// [`ErrorKind::Corruption`] for an entry that cannot follow the ones
    /// before it: a record appended elsewhere than at its log's end.
    pub(crate) fn apply(&mut self, at: u64, entry: Entry<'_>) -> Result<()> {
        match entry {
            Entry::Put { log, position, .. } => {
                let l = found(&mut self.logs, log, at);
                // Once its meta entry is seen, a log's next position is
                // known: a record is appended there, and nowhere else.
                if l.meta.is_some() && position != l.next {
                    return Err(misplaced(at, log, position, l.next));
                }
                l.record_at.get_or_insert(at);
                l.next = position
                    .checked_add(1)
                    .ok_or_else(|| misplaced(at, log, position, l.next))?;
            }
            Entry::Moved { log, .. } => {
                found(&mut self.logs, log, at).record_at.get_or_insert(at);
            }
            Entry::Meta {
                log,
                first,
                next,
                state,
            } => {
                let l = found(&mut self.logs, log, at);
                l.meta = Some((first, next, at));
                l.state = state.map(<[u8]>::to_vec);
                l.next = next;
            }
            Entry::Drop { log } => {
                self.logs.remove(&log);
            }
        }
        Ok(())
    }

    /// What the second pass needs: each log's range, state and meta entry.
    ///
    /// # Errors
    /// [`ErrorKind::Corruption`] if a log has records but no `Meta` entry,
    /// or its records end before its first position.
    pub(crate) fn finish(self) -> Result<Place> {
        let mut logs = HashMap::with_capacity(self.logs.len());
        for (id, l) in self.logs {
            let Some((first, _, meta_at)) = l.meta else {
                let at = l.record_at.unwrap_or(l.since);
                return Err(Error::new(
                    ErrorKind::Corruption,
                    format!("store log {id} has records (one at shared position {at}) but no meta entry"),
                )
                .at_position(at));
            };
            if l.next < first {
                return Err(misplaced(meta_at, id, l.next, first));
            }
            let placed = Placed {
                next: l.next,
                since: l.since,
                meta_at,
                state: l.state,
                locs: Locs::new(first),
                ahead: BTreeMap::new(),
            };
            logs.insert(id, placed);
        }
        Ok(Place { logs })
    }
}

/// Log `log` as found so far, its first entry since it was last dropped
/// (if any) at `at`.
fn found(logs: &mut HashMap<u64, Found>, log: u64, at: u64) -> &mut Found {
    logs.entry(log).or_insert_with(|| Found {
        meta: None,
        state: None,
        next: 0,
        since: at,
        record_at: None,
    })
}

/// A log as the second pass of a replay rebuilds it.
struct Placed {
    next: u64,
    since: u64,
    meta_at: u64,
    state: Option<Vec<u8>>,
    /// Its records found so far, from its first position on.
    locs: Locs,
    /// Records found after a gap in `locs` (a record before them is found
    /// later: its copy, moved by a compaction after they were written).
    ahead: BTreeMap<u64, u64>,
}

/// The second pass of a [`Replay`].
pub(crate) struct Place {
    logs: HashMap<u64, Placed>,
}

impl Place {
    /// Places the record an entry at shared position `at` holds, if its log
    /// keeps it there. `segs` are the shared log's segments' first
    /// positions.
    pub(crate) fn apply(&mut self, at: u64, entry: Entry<'_>, segs: &[u64]) {
        let (Entry::Put { log, position, .. } | Entry::Moved { log, position, .. }) = entry else {
            return;
        };
        let Some(l) = self.logs.get_mut(&log) else {
            return;
        };
        if at < l.since || position < l.locs.first() || position >= l.next {
            return;
        }
        let end = l.locs.next();
        if position < end {
            l.locs.set(position, at, segs);
        } else if position > end {
            l.ahead.insert(position, at);
        } else {
            l.locs.push(at);
            while let Some(at) = l.ahead.remove(&l.locs.next()) {
                l.locs.push(at);
            }
        }
    }

    /// Holds the records found in sealed segments as runs: `segs` are the
    /// first positions of the segments up to the one being replayed.
    /// Returns the bytes the index takes, roughly.
    pub(crate) fn seal(&mut self, segs: &[u64]) -> u64 {
        let per_log = std::mem::size_of::<(u64, Placed)>() as u64;
        let mut bytes = 0;
        for l in self.logs.values_mut() {
            l.locs.sparsify(segs);
            bytes += per_log + l.locs.bytes() + 32 * l.ahead.len() as u64;
        }
        bytes
    }

    /// The catalog.
    ///
    /// # Errors
    /// [`ErrorKind::Corruption`] if a record a log keeps is missing: the
    /// shared log lost entries it should have kept.
    pub(crate) fn finish(self) -> Result<Catalog> {
        let mut catalog = Catalog::default();
        for (id, l) in self.logs {
            let want = l.locs.next();
            if want != l.next {
                return Err(Error::new(
                    ErrorKind::Corruption,
                    format!(
                        "store log {id} holds {}..{} but its record at {want} is missing",
                        l.locs.first(),
                        l.next
                    ),
                )
                .at_position(want));
            }
            catalog.insert(id, LogState::restored(l.locs, l.state, l.meta_at));
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

    /// The catalog both passes of a replay rebuild from `entries`, in
    /// segments of 10 shared positions: 0, 10, 20, ...
    fn rebuild(entries: &[(u64, Entry<'static>)]) -> Result<Catalog> {
        let segs: Vec<u64> = (0..10).map(|i| i * 10).collect();
        let mut r = Replay::default();
        for (at, e) in entries {
            r.apply(*at, *e)?;
        }
        let mut place = r.finish()?;
        let mut sealed = 0;
        for (at, e) in entries {
            if *at / 10 > sealed {
                sealed = *at / 10;
                place.seal(&segs[..=sealed as usize]);
            }
            place.apply(*at, *e, &segs);
        }
        place.finish()
    }

    /// Where the records of log `id` are: a shared position, or the first
    /// of their segment for a record held in a run.
    fn wheres(c: &Catalog, id: u64) -> Vec<u64> {
        let l = &c.logs[&id];
        (l.first()..l.next())
            .map(|p| match l.loc(p) {
                Some(Loc::At(at)) => at,
                Some(Loc::In(low)) => low / 10 * 10,
                None => panic!("no record at {p}"),
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

    fn moved(log: u64, position: u64) -> Entry<'static> {
        Entry::Moved {
            log,
            position,
            record: b"r",
        }
    }

    #[test]
    fn a_replay_after_compaction_finds_moved_records_and_the_last_meta() {
        // The front (the creation and positions 0..2) was reclaimed after
        // compaction rewrote the meta and moved 1..2; 0 was truncated.
        let c = rebuild(&[
            (10, put(1, 2)),
            (11, put(1, 3)),
            (12, meta(1, 1, 4)),
            (13, moved(1, 1)),
            (14, put(1, 4)),
        ])
        .unwrap();
        let l = &c.logs[&1];
        assert_eq!((l.first(), l.next()), (1, 5));
        assert_eq!(ats(l), [13, 10, 11, 14]);
    }

    #[test]
    fn a_truncation_then_appends_replace_the_cut_records() {
        let c = rebuild(&[
            (0, meta(1, 0, 0)),
            (1, put(1, 0)),
            (2, put(1, 1)),
            (3, meta(1, 0, 1)),
            (4, put(1, 1)),
            (5, Entry::Drop { log: 2 }),
        ])
        .unwrap();
        assert_eq!(ats(&c.logs[&1]), [1, 4]);
    }

    #[test]
    fn records_of_sealed_segments_are_runs_while_the_replay_goes_on() {
        // Log 1: 0..30 in segments 10..30, then cut back to 10 and 10..20
        // written again in segment 50; its records 0..5 moved to segment
        // 60. Log 2: a record, then dropped and created again.
        let mut entries = vec![(0, meta(1, 0, 0)), (1, meta(2, 0, 0)), (2, put(2, 0))];
        entries.extend((0..30).map(|p| (10 + p, put(1, p))));
        entries.extend([(40, Entry::Drop { log: 2 }), (41, meta(2, 7, 7))]);
        entries.extend([(42, put(2, 7)), (49, meta(1, 0, 10))]);
        entries.extend((10..20).map(|p| (40 + p, put(1, p))));
        entries.extend((0..5).map(|p| (60 + p, moved(1, p))));
        let c = rebuild(&entries).unwrap();
        let mut want: Vec<u64> = vec![60; 5];
        want.extend([10; 5]);
        want.extend([50; 10]);
        assert_eq!(wheres(&c, 1), want);
        assert_eq!(c.logs[&1].locs().runs().count(), 3);
        assert_eq!((c.logs[&2].first(), wheres(&c, 2)), (7, vec![40]));
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
        let c = rebuild(&[(0, put(1, 3)), (1, meta(1, 10, 10)), (2, put(1, 10))]).unwrap();
        assert_eq!(ats(&c.logs[&1]), [2]);
    }

    #[test]
    fn a_missing_record_or_meta_is_corruption() {
        let e = rebuild(&[(3, put(1, 2)), (4, meta(1, 0, 3))]).unwrap_err();
        assert_eq!((e.kind(), e.position()), (ErrorKind::Corruption, Some(0)));
        let e = rebuild(&[(3, put(2, 2))]).unwrap_err();
        assert_eq!((e.kind(), e.position()), (ErrorKind::Corruption, Some(3)));
        // A gap the entries after it never fill.
        let e = rebuild(&[
            (0, meta(1, 0, 0)),
            (1, put(1, 0)),
            (12, meta(1, 0, 3)),
            (13, moved(1, 2)),
        ]);
        assert_eq!(e.unwrap_err().position(), Some(1));
        // A record of the log dropped before does not stand in for one the
        // log created since lost.
        let e = rebuild(&[
            (0, meta(1, 0, 0)),
            (1, put(1, 0)),
            (2, Entry::Drop { log: 1 }),
            (3, meta(1, 0, 0)),
            (4, meta(1, 0, 1)),
        ]);
        assert_eq!(e.unwrap_err().position(), Some(0));
    }
}
