//! Where each record of a segment is: the lookup behind a run of
//! [`super::locs`]. A segment's map is built by one scan of its entries and
//! kept while it is among the few used last, so reading a run's records in
//! order scans its segment once.

use std::collections::{HashMap, VecDeque};

use crate::error::Result;
use crate::log::Log;
use crate::store::entry::{self, Entry};
use crate::store::locs::segment_of;

/// How many segments' maps are kept.
const KEPT: usize = 4;

/// The maps of the segments used last.
#[derive(Debug, Default)]
pub(crate) struct Maps {
    /// The one used last at the back.
    maps: VecDeque<SegmentMap>,
}

#[derive(Debug)]
struct SegmentMap {
    /// The segment's first position.
    first: u64,
    /// Its entries before this shared position are in `at`.
    scanned_to: u64,
    /// `(log, position)` to the shared position of its last record there:
    /// a record's live copy is its newest.
    at: HashMap<(u64, u64), u64>,
}

impl Maps {
    /// The shared position of log `log`'s record at `position`, which the
    /// segment holding shared position `near` holds; `None` if it does not.
    ///
    /// # Errors
    /// As [`Log::replay`]; [`crate::ErrorKind::Corruption`] if an entry of
    /// the segment is malformed.
    pub(crate) fn find(
        &mut self,
        shared: &Log,
        log: u64,
        position: u64,
        near: u64,
    ) -> Result<Option<u64>> {
        let segs = shared.segment_firsts();
        let first = segment_of(&segs, near);
        let end = segs
            .iter()
            .find(|&&f| f > first)
            .copied()
            .unwrap_or_else(|| shared.next_position());
        let map = self.get(first);
        if map.scanned_to < end {
            scan(shared, map, end)?;
        }
        Ok(map.at.get(&(log, position)).copied())
    }

    /// Bytes of memory the maps take, roughly.
    pub(crate) fn bytes(&self) -> u64 {
        let entry = std::mem::size_of::<((u64, u64), u64)>() + 1;
        self.maps
            .iter()
            .map(|m| (m.at.capacity() * entry) as u64)
            .sum()
    }

    /// The map of the segment starting at `first`, made the one used last.
    fn get(&mut self, first: u64) -> &mut SegmentMap {
        match self.maps.iter().position(|m| m.first == first) {
            Some(i) => {
                let m = self.maps.remove(i).expect("found");
                self.maps.push_back(m);
            }
            None => {
                if self.maps.len() == KEPT {
                    self.maps.pop_front();
                }
                self.maps.push_back(SegmentMap {
                    first,
                    scanned_to: first,
                    at: HashMap::new(),
                });
            }
        }
        self.maps.back_mut().expect("just pushed")
    }
}

/// Adds the map's segment's entries up to shared position `end`.
fn scan(shared: &Log, map: &mut SegmentMap, end: u64) -> Result<()> {
    // Entries before the shared log's first position are gone, and dead.
    let from = map.scanned_to.max(shared.first_position());
    let mut bad = None;
    if from < end {
        shared.replay(from, |at, b| {
            if at >= end {
                return false;
            }
            match entry::decode(at, b) {
                Ok(Entry::Put { log, position, .. } | Entry::Moved { log, position, .. }) => {
                    map.at.insert((log, position), at);
                }
                Ok(_) => {}
                Err(e) => bad = Some(e),
            }
            bad.is_none()
        })?;
    }
    if let Some(e) = bad {
        return Err(e.with_path(shared.dir()));
    }
    map.scanned_to = end;
    Ok(())
}
