//! Reading entries back: [`LogReader`], shared by the store and the
//! readers it hands to openraft's replication tasks.

use std::fmt::Debug;
use std::marker::PhantomData;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use anyerror::AnyError;
use logstore::Log;
use openraft::{RaftLogId, RaftLogReader, RaftTypeConfig, StorageError, StorageIOError};
use serde::de::DeserializeOwned;

use crate::codec;

/// Reads entries from the entry log. Cheap to clone; safe to use while the
/// store appends.
pub struct LogReader<C: RaftTypeConfig> {
    log: Arc<Log>,
    _config: PhantomData<fn() -> C>,
}

impl<C: RaftTypeConfig> Clone for LogReader<C> {
    fn clone(&self) -> Self {
        LogReader::new(self.log.clone())
    }
}

impl<C: RaftTypeConfig> LogReader<C>
where
    C::Entry: DeserializeOwned,
{
    pub(crate) fn new(log: Arc<Log>) -> Self {
        LogReader {
            log,
            _config: PhantomData,
        }
    }

    /// Decodes the entry at `index`, checking that it claims that index;
    /// `None` for a hole.
    pub(crate) fn entry_or_hole(
        &self,
        index: u64,
    ) -> Result<Option<C::Entry>, StorageError<C::NodeId>> {
        let record = self
            .log
            .read(index)
            .map_err(|e| StorageIOError::read_log_at_index(index, AnyError::new(&e)))?;
        if record == codec::HOLE {
            return Ok(None);
        }
        decode_at::<C>(index, &record).map(Some)
    }

    /// The entries at the indexes in `range` that the log holds, in order.
    pub(crate) fn entries(
        &self,
        range: impl RangeBounds<u64>,
    ) -> Result<Vec<C::Entry>, StorageError<C::NodeId>> {
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
        let start = start.max(self.log.first_position());
        let end = end.min(self.log.next_position());
        if start >= end {
            return Ok(Vec::new());
        }
        let mut out = Vec::with_capacity((end - start).min(1024) as usize);
        for item in self.log.iter(start) {
            let (index, record) = item.map_err(|e| StorageIOError::read_logs(AnyError::new(&e)))?;
            if index >= end {
                break;
            }
            if record != codec::HOLE {
                out.push(decode_at::<C>(index, &record)?);
            }
            if index + 1 == end {
                break;
            }
        }
        Ok(out)
    }
}

fn decode_at<C: RaftTypeConfig>(
    index: u64,
    record: &[u8],
) -> Result<C::Entry, StorageError<C::NodeId>>
where
    C::Entry: DeserializeOwned,
{
    let entry: C::Entry = codec::decode(record)
        .map_err(|what| StorageIOError::read_log_at_index(index, AnyError::error(what)))?;
    let found = entry.get_log_id().index;
    if found != index {
        let what = format!("entry at position {index} claims index {found}");
        return Err(StorageIOError::read_log_at_index(index, AnyError::error(what)).into());
    }
    Ok(entry)
}

impl<C: RaftTypeConfig> RaftLogReader<C> for LogReader<C>
where
    C::Entry: DeserializeOwned,
{
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<C::Entry>, StorageError<C::NodeId>> {
        self.entries(range)
    }
}
