//! Iterating: runs of consecutive records read in order from one file,
//! with what was read ahead dropped when the log is rewritten under it.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, ErrorKind, Result};
use crate::frame::{self, FrameError, Room, HEADER_LEN};
use crate::segment::scan::{self, ChunkReader};
use crate::state::Shared;

use super::{locate, oversize, recheck_after_damage, truncated, wait_for, Location, Lookup};

/// An iterator over records from a position on, yielding
/// `(position, record)`. It sees records appended after it was created,
/// and returns a [`ErrorKind::Truncated`] error if `truncate_front` passes
/// it. Create one with [`crate::Log::iter`].
pub struct Iter {
    shared: Arc<Shared>,
    next: u64,
    run: Option<Run>,
    /// The buffer of the last run, for the next one.
    spare: Vec<u8>,
    failed: bool,
}

/// A stretch of consecutive records in one file.
struct Run {
    reader: ChunkReader,
    path: std::path::PathBuf,
    offset: u64,
    end: u64,
    end_offset: u64,
    /// [`Shared::rewrites`] when the run was looked up. Once it moves, the
    /// bytes read ahead may be records that were cut away (and the file
    /// may hold others there now): the run is dropped and the position
    /// looked up again.
    rewrites: u64,
}

impl std::fmt::Debug for Iter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Iter")
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

impl Iter {
    pub(crate) fn new(shared: Arc<Shared>, from: u64) -> Self {
        Iter {
            shared,
            next: from,
            run: None,
            spare: Vec::new(),
            failed: false,
        }
    }

    /// The position the next record will have.
    pub fn position(&self) -> u64 {
        self.next
    }

    /// Like `next`, but when the iterator has reached the end of the log it
    /// waits up to `timeout` for the next record to be appended. `None`
    /// means the time ran out (or the iterator already failed).
    pub fn next_timeout(&mut self, timeout: Duration) -> Option<Result<(u64, Vec<u8>)>> {
        if self.failed {
            return None;
        }
        match wait_for(&self.shared, self.next, Some(timeout)) {
            Ok(true) => self.next(),
            Ok(false) => None,
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }

    /// Calls `f` with each record (borrowed, without a copy) until the end
    /// of the log or until `f` returns `false`.
    pub(crate) fn for_each_ref(&mut self, mut f: impl FnMut(u64, &[u8]) -> bool) -> Result<()> {
        let max = self.shared.opts.max_record_size;
        loop {
            // The common case, without the detours of `step`: the next
            // record is a valid frame in the current run.
            if let Some(run) = self.run.as_mut() {
                while self.next < run.end
                    && self.next >= self.shared.first_hint.load(Ordering::Acquire)
                    && run.rewrites == self.shared.rewrites.load(Ordering::Acquire)
                {
                    match run.pass_record(&mut self.next, max, &mut f)? {
                        Ok(true) => {}
                        Ok(false) => return Ok(()),
                        Err(_) => break,
                    }
                }
            }
            let more = self.step(&mut |p, r| f(p, r))?;
            match more {
                Step::Record(true) => continue,
                Step::Record(false) | Step::End => return Ok(()),
            }
        }
    }

    fn step(&mut self, f: &mut dyn FnMut(u64, &[u8]) -> bool) -> Result<Step> {
        let mut retried = false;
        loop {
            let pos = self.next;
            let first = self.shared.first_hint.load(Ordering::Acquire);
            if pos < first {
                return Err(truncated(pos, first));
            }
            let rewrites = self.shared.rewrites.load(Ordering::Acquire);
            if self
                .run
                .as_ref()
                .is_none_or(|r| pos >= r.end || r.rewrites != rewrites)
            {
                self.end_run();
                match locate(&self.shared, pos, Lookup::Whole) {
                    Ok(Location::Buffered(frame)) => {
                        let room = Room::Exactly(frame.len() as u64);
                        let h =
                            frame::check_frame(&frame, pos, self.shared.opts.max_record_size, room)
                                .map_err(|why| Error::corruption(&self.shared.dir, 0, why))?;
                        self.next += 1;
                        return Ok(Step::Record(f(
                            pos,
                            &frame[HEADER_LEN..h.frame_len() as usize],
                        )));
                    }
                    Ok(Location::File {
                        file,
                        segment,
                        offset,
                        run_end,
                        run_end_offset,
                        rewrites,
                        ..
                    }) => {
                        let buf = std::mem::take(&mut self.spare);
                        self.run = Some(Run {
                            reader: ChunkReader::with_buffer(file, 256 << 10, buf),
                            path: self.shared.segment_path(segment),
                            offset,
                            end: run_end,
                            end_offset: run_end_offset,
                            rewrites,
                        });
                    }
                    Err(e) if e.kind() == ErrorKind::OutOfRange => return Ok(Step::End),
                    Err(e) if e.kind() == ErrorKind::Corruption && !retried => {
                        retried = true;
                        recheck_after_damage(&self.shared, pos)?;
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            }
            let max = self.shared.opts.max_record_size;
            let run = self.run.as_mut().expect("run set above");
            let why = match run.pass_record(&mut self.next, max, f)? {
                Ok(keep) => return Ok(Step::Record(keep)),
                Err(why) => why,
            };
            let first = self.shared.first_hint.load(Ordering::Acquire);
            if pos < first {
                return Err(truncated(pos, first));
            }
            let (path, offset) = (run.path.clone(), run.offset);
            if retried {
                // Only a length above the limit may be an intact record
                // written under a larger one.
                let len = match why {
                    FrameError::BadLength { .. } => {
                        scan::intact_frame(run.reader.file(), offset, run.end_offset, pos)
                            .map_err(|e| Error::io("read", &path, e))?
                    }
                    _ => None,
                };
                self.end_run();
                return Err(match len.filter(|&n| n as usize > max) {
                    // Written under a larger limit: not damage.
                    Some(n) => oversize(&path, offset, pos, n, max),
                    None => Error::corruption(&path, offset, why).at_position(pos),
                });
            }
            self.end_run();
            // The bytes may have changed under us (truncate_back, or a
            // read-only view racing the writer): look the position up again.
            retried = true;
            if self.shared.opts.read_only {
                crate::follower::reload(&self.shared)?;
            }
        }
    }
}

enum Step {
    /// A record was passed to the callback, which returned this.
    Record(bool),
    End,
}

impl Iter {
    /// Drops the current run, keeping its buffer.
    fn end_run(&mut self) {
        if let Some(run) = self.run.take() {
            self.spare = run.reader.into_buffer();
        }
    }
}

impl Run {
    /// Passes the record at `*next` to `f` and moves past it, if it is a
    /// whole, valid frame here; what `f` returned, or why not.
    #[inline]
    fn pass_record(
        &mut self,
        next: &mut u64,
        max: usize,
        f: &mut (impl FnMut(u64, &[u8]) -> bool + ?Sized),
    ) -> Result<std::result::Result<bool, FrameError>> {
        let payload = match self.record(*next, max)? {
            Ok(payload) => payload,
            Err(why) => return Ok(Err(why)),
        };
        let total = frame::frame_len(payload.len());
        let keep = f(*next, payload);
        self.offset += total;
        *next += 1;
        Ok(Ok(keep))
    }

    /// The payload of the frame at `self.offset` if it is a whole, valid
    /// frame of the record at `pos`; why not otherwise.
    #[inline]
    fn record(&mut self, pos: u64, max: usize) -> Result<std::result::Result<&[u8], FrameError>> {
        let raw = loop {
            let left = self.end_offset.saturating_sub(self.offset);
            if left < HEADER_LEN as u64 {
                return Ok(Err(FrameError::ShortHeader { left }));
            }
            let raw: [u8; HEADER_LEN] = match self
                .reader
                .get(self.offset, HEADER_LEN)
                .map_err(|e| Error::io("read", &self.path, e))?
            {
                Some(b) => b.try_into().expect("header length"),
                None => return Ok(Err(FrameError::Short)),
            };
            // Sync marks sit between batches: step over them. (Damage
            // that looks like one fails the next record's checks.)
            if !frame::is_mark_tagged(&raw) {
                break raw;
            }
            self.offset += frame::MARK_LEN;
        };
        let room = Room::UpTo(self.end_offset - self.offset);
        let h = match frame::check_header(&raw, max, room) {
            Ok(h) => h,
            Err(why) => return Ok(Err(why)),
        };
        let frame = self
            .reader
            .get(self.offset, h.frame_len() as usize)
            .map_err(|e| Error::io("read", &self.path, e))?;
        Ok(match frame {
            Some(bytes) => h
                .check(frame::frame_sum(bytes), pos)
                .map(|_| &bytes[HEADER_LEN..]),
            None => Err(FrameError::Short),
        })
    }
}

impl Iterator for Iter {
    type Item = Result<(u64, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let mut out = None;
        match self.step(&mut |p, r| {
            out = Some((p, r.to_vec()));
            true
        }) {
            Ok(Step::Record(_)) => out.map(Ok),
            Ok(Step::End) => None,
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}
