//! The bounded cache of sealed segments' offsets.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

/// A bounded cache of loaded sealed-segment indexes, keyed by the segment's
/// first position, evicting the least recently loaded.
#[derive(Debug)]
pub(crate) struct IndexCache {
    // A B-tree: a few hundred entries at most, and looked up on every
    // read, where hashing a key with SipHash costs more than a search.
    pub(super) map: BTreeMap<u64, Arc<[u64]>>,
    pub(super) order: VecDeque<u64>,
    pub(super) bytes: usize,
    budget: usize,
}

impl IndexCache {
    pub(crate) fn new(budget: usize) -> Self {
        IndexCache {
            map: BTreeMap::new(),
            order: VecDeque::new(),
            bytes: 0,
            budget,
        }
    }

    pub(crate) fn get(&self, first: u64) -> Option<Arc<[u64]>> {
        self.map.get(&first).cloned()
    }

    pub(crate) fn insert(&mut self, first: u64, offsets: Arc<[u64]>) {
        let size = offsets.len() * 8;
        // A segment's offsets can be replaced by others of another length
        // (a segment sealed again after `truncate_back` reopened it, with a
        // reader's load racing in between): count what is held now.
        match self.map.insert(first, offsets) {
            None => self.order.push_back(first),
            Some(old) => self.bytes -= old.len() * 8,
        }
        self.bytes += size;
        while self.bytes > self.budget && self.order.len() > 1 {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some(v) = self.map.remove(&old) {
                self.bytes -= v.len() * 8;
            }
        }
    }

    pub(crate) fn remove(&mut self, first: u64) {
        if let Some(v) = self.map.remove(&first) {
            self.bytes -= v.len() * 8;
            self.order.retain(|&f| f != first);
        }
    }
}
