//! Reading entries and the vote back: [`LogReader`], shared by the store
//! and the readers it hands to openraft's replication tasks.

use std::fmt::Debug;
use std::io;
use std::marker::PhantomData;
use std::ops::{Bound, RangeBounds};
use std::sync::{Arc, RwLock};

use openraft::alias::VoteOf;
use openraft::entry::RaftEntry;
use openraft::{OptionalSend, RaftLogReader, RaftTypeConfig};
use serde::de::DeserializeOwned;

use crate::codec;
use crate::entries::Entries;

/// Bytes of records one [`RaftLogReader::limited_get_log_entries`] call
/// reads before it stops (it always returns at least one entry), so that a
/// replication message of large entries stays bounded in memory.
pub const READ_BUDGET: usize = 64 << 20;

/// Reads entries and the vote. Cheap to clone; safe to use while the store
/// appends.
pub struct LogReader<C: RaftTypeConfig> {
    log: Entries,
    vote: Arc<RwLock<Option<VoteOf<C>>>>,
    _config: PhantomData<fn() -> C>,
}

impl<C: RaftTypeConfig> Clone for LogReader<C> {
    fn clone(&self) -> Self {
        LogReader {
            log: self.log.clone(),
            vote: self.vote.clone(),
            _config: PhantomData,
        }
    }
}

impl<C: RaftTypeConfig> LogReader<C>
where
    C::Entry: DeserializeOwned,
{
    pub(crate) fn new(log: Entries, vote: Option<VoteOf<C>>) -> Self {
        LogReader {
            log,
            vote: Arc::new(RwLock::new(vote)),
            _config: PhantomData,
        }
    }

    /// The vote as last saved (durably) by the store.
    pub fn vote(&self) -> Option<VoteOf<C>> {
        self.vote.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Publishes a vote the store has saved.
    pub(crate) fn set_vote(&self, vote: VoteOf<C>) {
        *self.vote.write().unwrap_or_else(|e| e.into_inner()) = Some(vote);
    }

    /// Decodes the entry at `index`, checking that it claims that index;
    /// `None` for a hole.
    pub(crate) fn entry_or_hole(&self, index: u64) -> io::Result<Option<C::Entry>> {
        let record = self.log.read(index)?;
        if record == codec::HOLE {
            return Ok(None);
        }
        decode_at::<C>(index, &record).map(Some)
    }

    /// The entries at the indexes in `range` that the log holds, in order;
    /// once `budget` bytes of records are read (and at least one entry
    /// found), the rest of the range is left out.
    pub(crate) fn entries(
        &self,
        range: impl RangeBounds<u64>,
        budget: usize,
    ) -> io::Result<Vec<C::Entry>> {
        let start = match range.start_bound() {
            Bound::Included(&s) => s,
            Bound::Excluded(&s) => s.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&e) => e.saturating_add(1),
            Bound::Excluded(&e) => e,
            Bound::Unbounded => u64::MAX,
        };
        let start = start.max(self.log.first_position()?);
        let end = end.min(self.log.next_position()?);
        if start >= end {
            return Ok(Vec::new());
        }
        let mut out = Vec::with_capacity((end - start).min(1024) as usize);
        let mut read = 0usize;
        let mut bad = None;
        self.log.replay(start, |index, record| {
            if index >= end {
                return false;
            }
            read = read.saturating_add(record.len());
            if record != codec::HOLE {
                match decode_at::<C>(index, record) {
                    Ok(e) => out.push(e),
                    Err(e) => {
                        bad = Some(e);
                        return false;
                    }
                }
            }
            index + 1 < end && (read < budget || out.is_empty())
        })?;
        match bad {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }
}

fn decode_at<C: RaftTypeConfig>(index: u64, record: &[u8]) -> io::Result<C::Entry>
where
    C::Entry: DeserializeOwned,
{
    let entry: C::Entry =
        codec::decode(record).map_err(|what| invalid(format!("entry record {index}: {what}")))?;
    let found = entry.index();
    if found != index {
        return Err(invalid(format!(
            "entry at position {index} claims index {found}"
        )));
    }
    Ok(entry)
}

pub(crate) fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

impl<C: RaftTypeConfig> RaftLogReader<C> for LogReader<C>
where
    C::Entry: DeserializeOwned,
{
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> io::Result<Vec<C::Entry>> {
        self.entries(range, usize::MAX)
    }

    async fn read_vote(&mut self) -> io::Result<Option<VoteOf<C>>> {
        Ok(self.vote())
    }

    async fn limited_get_log_entries(&mut self, start: u64, end: u64) -> io::Result<Vec<C::Entry>> {
        self.entries(start..end, READ_BUDGET)
    }
}
