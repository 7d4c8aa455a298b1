//! How a store comes back: its catalog from a checkpoint and the entries
//! after it, or from every entry; and the check that every kept record is
//! where the catalog holds it.

use std::collections::BTreeMap;
use std::ops::Range;

use crate::error::{Error, ErrorKind, Result};
use crate::log::Log;
use crate::segment::store_index_name;
use crate::store::catalog::{Catalog, Replay};
use crate::store::{entry, index, locs, maps, Inner};

/// How a store's catalog was rebuilt at open, from [`Store::recovery`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreRecovery {
    /// The shared position of the checkpoint it started from, if one was
    /// used (none, or one that does not fit the shared log, means every
    /// entry was replayed).
    pub checkpoint: Option<u64>,
    /// Entries of the shared log replayed.
    pub replayed: u64,
    /// The most memory the index took while it was rebuilt, in bytes,
    /// roughly: a replay of every entry holds the records of sealed
    /// segments as runs as it goes, so this stays near the index's size
    /// after the open, plus a segment's records.
    pub index_peak: u64,
}

/// Records of a log a segment holds: the log, their positions, and their
/// shared position if known (a record held densely).
type Held = (u64, Range<u64>, Option<u64>);

/// The catalog replayed from every entry of the shared log, whose
/// segments start at `segs`: two passes over the entries (see [`Replay`]).
pub(super) fn replay_all(shared: &Log, segs: &[u64]) -> Result<(Catalog, StoreRecovery)> {
    let from = shared.first_position();
    let mut replay = Replay::default();
    let replayed = each_entry(shared, from, |at, e| replay.apply(at, e))?;
    let mut place = replay.finish().map_err(|e| e.with_path(shared.dir()))?;
    let end = from + replayed;
    let (mut seg, mut index_peak) = (0, 0);
    each_entry(shared, from, |at, e| {
        if at < end {
            while seg + 1 < segs.len() && at >= segs[seg + 1] {
                seg += 1;
                index_peak = index_peak.max(place.seal(&segs[..=seg]));
            }
            place.apply(at, e, segs);
        }
        Ok(())
    })?;
    let mut catalog = place.finish().map_err(|e| e.with_path(shared.dir()))?;
    catalog.sparsify(segs);
    let recovery = StoreRecovery {
        checkpoint: None,
        replayed,
        index_peak: index_peak.max(catalog.index_bytes()),
    };
    Ok((catalog, recovery))
}

/// `catalog`, from a checkpoint at `through`, with the entries after it.
pub(super) fn replay_after(
    shared: &Log,
    mut catalog: Catalog,
    through: u64,
    segs: &[u64],
) -> Result<(Catalog, StoreRecovery)> {
    let replayed = each_entry(shared, through, |at, e| catalog.apply(at, e, segs))?;
    catalog.sparsify(segs);
    let recovery = StoreRecovery {
        checkpoint: Some(through),
        replayed,
        index_peak: catalog.index_bytes(),
    };
    Ok((catalog, recovery))
}

/// Calls `f` with each entry of the shared log from `from` on; returns how
/// many there were.
pub(super) fn each_entry(
    shared: &Log,
    from: u64,
    mut f: impl FnMut(u64, entry::Entry<'_>) -> Result<()>,
) -> Result<u64> {
    let mut bad = None;
    let n = shared.replay(from, |at, b| {
        match entry::decode(at, b).and_then(|e| f(at, e)) {
            Ok(()) => true,
            Err(e) => {
                bad = Some(e);
                false
            }
        }
    })?;
    match bad {
        Some(e) => Err(e.with_path(shared.dir())),
        None => Ok(n),
    }
}

/// Checks that every kept record of every log is where the store holds
/// it (see [`Store::verify`](super::Store::verify)).
pub(super) fn verify(inner: &Inner) -> Result<u64> {
    let shared = &inner.shared;
    let segs = shared.segment_firsts();
    // What each segment must hold: records of a log, and where if known.
    let mut want: BTreeMap<u64, Vec<Held>> = BTreeMap::new();
    for (&id, l) in &inner.lock().logs {
        for (positions, low) in l.locs().runs().filter(|(p, _)| !p.is_empty()) {
            let seg = locs::segment_of(&segs, low);
            want.entry(seg).or_default().push((id, positions, None));
        }
        for (p, at) in l.locs().dense() {
            let seg = locs::segment_of(&segs, at);
            want.entry(seg).or_default().push((id, p..p + 1, Some(at)));
        }
    }
    let mut checked = 0;
    for (seg, wants) in want {
        let map = maps::SegmentMap::of(shared, seg, &segs)?;
        // Its index, if it has one, must say what the scan says.
        let end = segs.iter().find(|&&f| f > seg).copied();
        let index = match end {
            Some(end) => index::load(shared, seg, end)?,
            None => None,
        };
        for (id, positions, exact) in wants {
            for p in positions {
                let found = map.find(shared, id, p)?;
                if let Some(index) = index.as_ref().filter(|i| i.find(id, p) != found) {
                    return Err(Error::new(
                        ErrorKind::Corruption,
                        format!(
                            "store log {id}: the index of the segment starting at shared position \
                             {seg} puts its record at position {p} at {:?}, the segment at {found:?}",
                            index.find(id, p)
                        ),
                    )
                    .with_path(&shared.dir().join(store_index_name(seg)))
                    .at_position(p));
                }
                match found {
                    Some(at) if exact.is_none_or(|e| e == at) => checked += 1,
                    _ => {
                        return Err(Error::new(
                            ErrorKind::Corruption,
                            format!(
                                "store log {id}: its record at position {p} is not in the \
                                 segment starting at shared position {seg}"
                            ),
                        )
                        .with_path(&shared.dir().join(format!("{seg:020}.seg")))
                        .at_position(p))
                    }
                }
            }
        }
    }
    Ok(checked)
}
