//! Appending: framing records into the write buffer (or straight from the
//! caller's buffer for large records), rolling segments, and making records
//! durable according to the sync policy.

use std::io::IoSlice;
use std::ops::Range;
use std::sync::atomic::Ordering;

use crate::error::{Error, ErrorKind, Result};
use crate::frame;
use crate::options::SyncPolicy;
use crate::state::{Shared, State};

/// Records at least this long are written from the caller's buffer with a
/// vectored write instead of being copied into the write buffer.
pub(crate) const LARGE_RECORD: usize = 64 << 10;

/// An append made without waiting for durability
/// ([`Shared::submit_records`]).
pub(crate) struct Submitted {
    pub positions: Range<u64>,
    /// The truncation epoch the records were appended in.
    pub epoch: u64,
    /// Whether the sync policy asks for these records to be synced now
    /// (`Always`, or `Bytes` past its limit): the caller has it done off
    /// its own thread.
    pub wants_sync: bool,
}

/// What an append does about durability once its records are written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// What the sync policy says: under `Always`, wait for a sync.
    Policy,
    /// Return at once; the caller learns of durability otherwise.
    Submitted,
}

/// What to restore if writing a batch fails half-way.
struct Undo {
    next: u64,
    offsets: usize,
    buf: usize,
}

impl Shared {
    /// Checks records before anything is written.
    fn validate(&self, records: &[&[u8]]) -> Result<u64> {
        let max = self.opts.max_record_size;
        let which = |i: usize| {
            if records.len() == 1 {
                "record".to_string()
            } else {
                format!("record {i} of the batch")
            }
        };
        let mut total = 0;
        for (i, r) in records.iter().enumerate() {
            if r.is_empty() {
                return Err(Error::invalid(format!(
                    "{} is empty; records are 1 byte or more",
                    which(i)
                )));
            }
            if r.len() > max {
                return Err(Error::invalid(format!(
                    "{} is {} bytes, more than max_record_size ({max} bytes)",
                    which(i),
                    r.len()
                )));
            }
            total += frame::frame_len(r.len());
        }
        Ok(total)
    }

    /// Appends `records` as one atomic batch; returns their positions.
    pub(crate) fn append_records(&self, records: &[&[u8]]) -> Result<Range<u64>> {
        Ok(self.append_as(records, Wait::Policy)?.positions)
    }

    /// Appends `records` as one atomic batch without waiting for any sync,
    /// whatever the policy.
    pub(crate) fn submit_records(&self, records: &[&[u8]]) -> Result<Submitted> {
        self.append_as(records, Wait::Submitted)
    }

    fn append_as(&self, records: &[&[u8]], wait: Wait) -> Result<Submitted> {
        let total = self.validate(records)?;
        let st = self.lock_state();
        // A roll cuts the file, and the records go from its data's end on.
        let mut st = self.wait_zeroing(st, |st, from| {
            !self.needs_roll(st, total) && st.data_end() + Self::mark_len(st) + total <= from
        })?;
        if records.is_empty() {
            return Ok(Submitted {
                positions: st.next..st.next,
                epoch: st.epoch,
                wants_sync: false,
            });
        }
        // `truncate_front` may move the log to the end of the position
        // space; the counter must not wrap there.
        if u64::MAX - st.next < records.len() as u64 {
            return Err(Error::new(
                ErrorKind::OutOfRange,
                format!(
                    "no position left for {} record(s) after position {}",
                    records.len(),
                    st.next
                ),
            )
            .at_position(st.next));
        }
        if self.needs_roll(&st, total) {
            self.roll(&mut st)?;
        }
        self.write_mark(&mut st);
        let start = st.next;
        let undo = Undo {
            next: st.next,
            offsets: st.active.offsets.len(),
            buf: st.buf.len(),
        };
        if let Err(e) = self.frame_all(&mut st, records) {
            st.next = undo.next;
            st.active.offsets.truncate(undo.offsets);
            st.buf.truncate(undo.buf);
            return Err(e);
        }
        st.unsynced_bytes += total;
        self.request_prezero(&mut st);
        let end_pos = st.next;
        if self.tail_waiters.load(Ordering::SeqCst) > 0 {
            self.appended_cv.notify_all();
        }
        let epoch = st.epoch;
        let wants_sync = match wait {
            Wait::Policy => {
                self.settle(st, end_pos)?;
                false
            }
            Wait::Submitted => {
                if st.buf.len() > self.opts.write_buffer {
                    self.flush_locked(&mut st)?;
                }
                match self.opts.sync_policy {
                    SyncPolicy::Always => true,
                    SyncPolicy::Bytes(limit) => st.unsynced_bytes >= limit,
                    SyncPolicy::Never | SyncPolicy::Interval(_) => false,
                }
            }
        };
        Ok(Submitted {
            positions: start..end_pos,
            epoch,
            wants_sync,
        })
    }

    /// Whether `total` more bytes start a new segment: the active one has
    /// records and would pass the segment size (with a sync mark, if one
    /// goes first).
    fn needs_roll(&self, st: &State, total: u64) -> bool {
        // (A segment that `truncate_back` emptied may still hold a sync
        // mark: it has no record, and takes this one whatever its size.)
        let end = st.data_end();
        !st.active.offsets.is_empty() && end + Self::mark_len(st) + total > self.opts.segment_size
    }

    fn frame_all(&self, st: &mut State, records: &[&[u8]]) -> Result<()> {
        for (i, r) in records.iter().enumerate() {
            let continues = i + 1 < records.len();
            let pos = st.next;
            let offset = st.data_end();
            if r.len() >= LARGE_RECORD {
                let header = frame::encode_header(pos, r, continues);
                let bufs = [
                    IoSlice::new(&st.buf),
                    IoSlice::new(&header),
                    IoSlice::new(r),
                ];
                if let Err(e) = st.active.file.write_all_at(&bufs, st.active.written) {
                    let err = Error::io("write", &st.active.path, e);
                    self.poison(st, &err);
                    return Err(err);
                }
                st.active.written += st.buf.len() as u64 + frame::frame_len(r.len());
                st.buf.clear();
            } else {
                frame::encode_into(&mut st.buf, pos, r, continues);
            }
            st.active.offsets.push(offset);
            st.next += 1;
        }
        Ok(())
    }

    /// Applies the sync policy after an append ending at `end_pos`.
    fn settle(&self, mut st: crate::sync::MutexGuard<'_, State>, end_pos: u64) -> Result<()> {
        match self.opts.sync_policy {
            SyncPolicy::Always => {
                self.sync_through(st, end_pos)?;
            }
            SyncPolicy::Never | SyncPolicy::Interval(_) => {
                if st.buf.len() > self.opts.write_buffer {
                    self.flush_locked(&mut st)?;
                }
            }
            SyncPolicy::Bytes(limit) => {
                if st.unsynced_bytes >= limit {
                    self.sync_through(st, end_pos)?;
                } else if st.buf.len() > self.opts.write_buffer {
                    self.flush_locked(&mut st)?;
                }
            }
        }
        Ok(())
    }
}
