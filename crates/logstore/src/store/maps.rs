//! Where each record of a segment is: the lookup behind a run of
//! [`super::locs`]. A segment's map is its index on disk ([`super::index`])
//! if it has one that fits, or else is built by one scan of its entries; it
//! is kept while it is among the few used last, so reading a run's records
//! in order loads or scans its segment once.

use std::collections::{HashMap, VecDeque};

use crate::error::{ErrorKind, Result};
use crate::log::Log;
use crate::store::entry::{self, Entry};
use crate::store::index::{self, SegmentIndex};
use crate::store::locs::segment_of;

/// How many segments' maps are kept.
const KEPT: usize = 4;

/// The maps of the segments used last.
#[derive(Debug, Default)]
pub(crate) struct Maps {
    /// The one used last at the back.
    maps: VecDeque<SegmentMap>,
}

/// Where each record of one segment is.
#[derive(Debug)]
pub(crate) struct SegmentMap {
    /// The segment's first position.
    first: u64,
    /// Its entries before this shared position are in `at`.
    scanned_to: u64,
    /// `(log, position)` to the shared position of its last record there:
    /// a record's live copy is its newest.
    at: HashMap<(u64, u64), u64>,
    /// The damaged entries the scan passed over.
    damaged: Vec<u64>,
    /// The segment's index, which stands in for a scan.
    index: Option<SegmentIndex>,
}

impl SegmentMap {
    /// The map of the segment starting at shared position `first`, of the
    /// segments `segs`, scanned whole.
    ///
    /// # Errors
    /// As [`Log::replay`].
    pub(crate) fn of(shared: &Log, first: u64, segs: &[u64]) -> Result<SegmentMap> {
        let mut map = SegmentMap::new(first);
        map.fill(shared, segs)?;
        Ok(map)
    }

    fn new(first: u64) -> SegmentMap {
        SegmentMap {
            first,
            scanned_to: first,
            at: HashMap::new(),
            damaged: Vec::new(),
            index: None,
        }
    }

    /// What the scan found, unless it passed over a damaged entry.
    pub(crate) fn scanned(&self) -> Option<&HashMap<(u64, u64), u64>> {
        self.damaged.is_empty().then_some(&self.at)
    }

    /// Scans the segment's entries written since the last scan.
    fn fill(&mut self, shared: &Log, segs: &[u64]) -> Result<()> {
        let end = segs
            .iter()
            .find(|&&f| f > self.first)
            .copied()
            .unwrap_or_else(|| shared.next_position());
        if self.scanned_to < end {
            scan(shared, self, end)?;
        }
        Ok(())
    }

    /// The shared position of log `log`'s record at `position` in the
    /// segment; `None` if it has none.
    ///
    /// # Errors
    /// [`ErrorKind::Corruption`] if it has none and an entry of the segment
    /// is damaged: the error of reading that entry, which says what the
    /// damage is and where.
    pub(crate) fn find(&self, shared: &Log, log: u64, position: u64) -> Result<Option<u64>> {
        if let Some(index) = &self.index {
            return Ok(index.find(log, position));
        }
        match self.at.get(&(log, position)) {
            Some(&at) => Ok(Some(at)),
            None => match self.damaged.first() {
                Some(&at) => shared.read(at).map(|_| None),
                None => Ok(None),
            },
        }
    }
}

impl Maps {
    /// The shared position of log `log`'s record at `position`, which the
    /// segment holding shared position `near` holds; `None` if it does not.
    ///
    /// # Errors
    /// As [`Log::replay`]; [`ErrorKind::Corruption`] if it is not there
    /// and an entry of the segment is damaged.
    pub(crate) fn find(
        &mut self,
        shared: &Log,
        log: u64,
        position: u64,
        near: u64,
    ) -> Result<Option<u64>> {
        let segs = shared.segment_firsts();
        let map = self.get(shared, segment_of(&segs, near), &segs)?;
        map.fill(shared, &segs)?;
        map.find(shared, log, position)
    }

    /// Bytes of memory the maps take, roughly.
    pub(crate) fn bytes(&self) -> u64 {
        let entry = std::mem::size_of::<((u64, u64), u64)>() + 1;
        self.maps
            .iter()
            .map(|m| (m.at.capacity() * entry) as u64 + m.index.as_ref().map_or(0, |i| i.bytes()))
            .sum()
    }

    /// The map of the segment starting at `first`, of the segments `segs`,
    /// made the one used last; a new one from the segment's index if it is
    /// sealed and has one.
    ///
    /// # Errors
    /// As [`index::load`].
    fn get(&mut self, shared: &Log, first: u64, segs: &[u64]) -> Result<&mut SegmentMap> {
        match self.maps.iter().position(|m| m.first == first) {
            Some(i) => {
                let m = self.maps.remove(i).expect("found");
                self.maps.push_back(m);
            }
            None => {
                let mut map = SegmentMap::new(first);
                if let Some(&end) = segs.iter().find(|&&f| f > first) {
                    map.index = index::load(shared, first, end)?;
                    if map.index.is_some() {
                        map.scanned_to = end;
                    }
                }
                if self.maps.len() == KEPT {
                    self.maps.pop_front();
                }
                self.maps.push_back(map);
            }
        }
        Ok(self.maps.back_mut().expect("just pushed"))
    }
}

/// Adds the map's segment's entries up to shared position `end`. A damaged
/// entry is noted and passed over: it costs its own record, not the
/// segment's others.
fn scan(shared: &Log, map: &mut SegmentMap, end: u64) -> Result<()> {
    // Entries before the shared log's first position are gone, and dead.
    let mut from = map.scanned_to.max(shared.first_position());
    while from < end {
        let mut bad = None;
        let scanned = shared.replay(from, |at, b| {
            if at >= end {
                return false;
            }
            match entry::decode(at, b) {
                Ok(Entry::Put { log, position, .. } | Entry::Moved { log, position, .. }) => {
                    map.at.insert((log, position), at);
                }
                Ok(_) => {}
                Err(_) => bad = Some(at),
            }
            bad.is_none()
        });
        let damaged = match (scanned, bad) {
            (Ok(_), None) => break,
            (Ok(_), Some(at)) => at,
            (Err(e), _) => match e.position() {
                Some(at) if e.kind() == ErrorKind::Corruption && (from..end).contains(&at) => at,
                _ => return Err(e),
            },
        };
        map.damaged.push(damaged);
        from = damaged + 1;
    }
    map.scanned_to = end;
    Ok(())
}
