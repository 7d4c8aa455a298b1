//! Dropping records: from the front (`truncate_front`, which gives disk
//! space back) and from the back (`truncate_back`).
//!
//! Front truncation first makes the new first position durable in the meta
//! file; only then is space released (whole segments removed, the dead
//! prefix of the segment holding the new first record punched out), on the
//! background thread by default. A crash in between leaves dead bytes that
//! the next open removes; it never brings truncated records back.

use std::io::IoSlice;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::cut::{self, Cut};
use crate::error::{Error, ErrorKind, Result};
use crate::frame::{self, FrameError, Room};
use crate::fs::{read_exact_at, FsFile};
use crate::meta::{self, Meta};
use crate::segment::SEGMENT_HEADER_LEN;
use crate::state::{Active, Job, Reclaim, Shared, State};

/// Hole punching works in file-system blocks; we punch whole 4 KiB blocks
/// only, so the segment header (in block 0) always survives.
const BLOCK: u64 = 4096;

impl Shared {
    pub(crate) fn truncate_front(&self, pos: u64) -> Result<()> {
        let mut st = self.lock_state();
        self.check_writable(&st)?;
        if pos <= st.first {
            return Ok(());
        }
        // Rolled segments become durable before the new first position
        // does: recovery must never find the segment that holds it (or,
        // past the end, the last one left before the new empty one is
        // created) with a header a crash could still tear.
        self.sync_new_segments(&mut st)?;
        let past_end = pos > st.next;
        let reclaim = if past_end {
            self.drop_everything(&mut st, pos)?
        } else {
            self.drop_prefix(&mut st, pos)?
        };
        st.first = pos;
        self.first_hint.store(pos, Ordering::Release);
        if past_end {
            // `next` and `synced` jumped: appenders waiting to lead a sync
            // (or for one) may find their records covered now, and one
            // that does returns without leading, so it must not be the
            // only one woken when the sync in flight ends.
            self.wake_waiters(&st);
        }
        // Past the end, `next` jumped: tailing readers waiting for a
        // position now behind it must wake to learn it was truncated.
        if self.tail_waiters.load(Ordering::SeqCst) > 0 {
            self.appended_cv.notify_all();
        }
        drop(st);
        let job = Job::Reclaim(reclaim);
        if self.opts.background_reclaim {
            self.submit(job);
        } else {
            *self.pending_jobs.lock().unwrap_or_else(|p| p.into_inner()) += 1;
            self.run_job(job);
        }
        Ok(())
    }

    fn write_meta(&self, st: &mut State, meta: Meta) -> Result<()> {
        if let Err(e) = meta::write(&*self.fs, &self.dir, &meta) {
            // Whether the new meta file is durable is unknown now.
            self.poison(st, &e);
            return Err(e);
        }
        st.meta = meta;
        Ok(())
    }

    /// `truncate_front` past the end: the log becomes empty and the next
    /// record gets `pos`.
    fn drop_everything(&self, st: &mut State, pos: u64) -> Result<Reclaim> {
        let meta = Meta {
            first: pos,
            first_segment: pos,
            first_offset: SEGMENT_HEADER_LEN as u64,
            ..st.meta
        };
        self.write_meta(st, meta)?;
        let (file, path) = self
            .create_segment(pos)
            .inspect_err(|e| self.poison(st, e))?;
        let old = std::mem::replace(
            &mut st.active,
            Active::new(pos, pos, Vec::new(), SEGMENT_HEADER_LEN as u64, path, file),
        );
        let mut reclaim = Reclaim::default();
        let mut cache = self.index_cache.lock().unwrap_or_else(|p| p.into_inner());
        for seg in st.sealed.drain(..) {
            cache.remove(seg.first);
            reclaim.remove.push(seg.path.clone());
            reclaim.remove.push(self.index_path(seg.first));
        }
        reclaim.remove.push(old.path);
        st.unsynced.clear();
        st.buf.clear();
        st.next = pos;
        st.synced = pos;
        Ok(reclaim)
    }

    /// `truncate_front` inside the log.
    fn drop_prefix(&self, st: &mut State, pos: u64) -> Result<Reclaim> {
        let (seg_first, offset, file, path) = if pos >= st.active.base {
            let a = &st.active;
            let i = (pos - a.base) as usize;
            let off = a.offsets.get(i).copied().unwrap_or(st.data_end());
            (a.first, off, a.file.clone(), a.path.clone())
        } else {
            let i = st.sealed.partition_point(|s| s.end <= pos);
            let seg = st.sealed[i].clone();
            let offsets = self.load_index(&seg, &st.meta)?;
            let off = offsets[(pos - seg.base) as usize];
            (seg.first, off, seg.file.clone(), seg.path.clone())
        };
        let meta = Meta {
            first: pos,
            first_segment: seg_first,
            first_offset: offset,
            ..st.meta
        };
        self.write_meta(st, meta)?;
        let mut reclaim = Reclaim::default();
        let dead = st.sealed.partition_point(|s| s.end <= pos);
        let mut cache = self.index_cache.lock().unwrap_or_else(|p| p.into_inner());
        for seg in st.sealed.drain(..dead) {
            cache.remove(seg.first);
            reclaim.remove.push(seg.path.clone());
            reclaim.remove.push(self.index_path(seg.first));
        }
        st.unsynced.retain(|u| u.end > pos);
        let end = offset / BLOCK * BLOCK;
        if end > BLOCK {
            reclaim.punch = Some((file, path, BLOCK, end));
        }
        Ok(reclaim)
    }

    pub(crate) fn truncate_back(&self, pos: u64) -> Result<()> {
        // Seal jobs queued before must not write indexes for segments this
        // call removes or reopens.
        self.wait_jobs();
        let mut st = self.lock_state();
        // No sync in flight and no zeros being written, both seen in the
        // lock section that cuts: a sync that started while this call
        // waited for the other would have taken sealed segments not synced
        // yet, which the cut must sync itself before it counts every
        // position below it as durable. (The log may change while this
        // call waits: its checks are made again each time.)
        loop {
            self.check_writable(&st)?;
            if pos < st.first {
                return Err(Error::new(
                    ErrorKind::OutOfRange,
                    format!(
                        "cannot truncate the back at {pos}: it is before the first position {}",
                        st.first
                    ),
                )
                .at_position(pos));
            }
            if pos >= st.next {
                return Ok(());
            }
            if st.syncing {
                st = self.wait_sync_end(st);
            } else if st.active.zeroing_from.is_some() {
                st = self.zeroed_cv.wait(st).unwrap_or_else(|p| p.into_inner());
            } else {
                break;
            }
        }
        self.flush_locked(&mut st)?;
        let r = if pos >= st.active.base {
            self.cut_active(&mut st, pos)
        } else {
            self.reopen_sealed(&mut st, pos)
        }
        .and_then(|cut| {
            self.sync_sealed_kept(&mut st)?;
            self.sync_new_segments(&mut st)?;
            // The cut is durable: its record must not outlive it, or a
            // later recovery would cut again, through later appends.
            if cut {
                cut::clear(&*self.fs, &self.dir)?;
            }
            Ok(())
        });
        if let Err(e) = r {
            // If the file was cut before the failure, the records from
            // `pos` on are gone: stop offering them (reads of the records
            // kept must still work on a poisoned log).
            let end = st.active.end_position();
            if end < st.next {
                st.next = end;
                st.synced = st.synced.min(end);
                st.epoch += 1;
                self.rewrites.fetch_add(1, Ordering::Release);
            }
            self.poison(&mut st, &e);
            return Err(e);
        }
        st.next = pos;
        // Every position below the cut is durable now: the kept part of
        // the cut segment, the sealed segments before it (synced above,
        // or by a sync that had ended before this call cut), the
        // directory. No sync is in flight to vouch for less.
        debug_assert!(st.unsynced.is_empty() && !st.syncing);
        st.synced = pos;
        st.unsynced_bytes = 0;
        st.epoch += 1;
        // Marks after the cut are gone with it; the one before the cut
        // record (if any) vouches for positions up to it, and the next
        // mark is written once a sync goes past it, so that marks do not
        // pile up before the cut record when cuts repeat. (Until then what
        // the cut kept is vouched for only up to that mark: see the
        // residual window in docs/DESIGN.md.)
        st.vouched = pos;
        self.rewrites.fetch_add(1, Ordering::Release);
        self.wake_waiters(&st);
        Ok(())
    }

    /// The cut made the segment it shortened durable; the sealed segments
    /// before it that no sync has covered yet must be durable too before
    /// `synced` moves to the cut, since that releases waiting appenders
    /// (whose records they may hold) and makes later `sync` calls return
    /// at once.
    fn sync_sealed_kept(&self, st: &mut State) -> Result<()> {
        let sealed = std::mem::take(&mut st.unsynced);
        for s in &sealed {
            self.file_syncs.sync_data(&s.file, &s.path)?;
        }
        for s in sealed {
            self.submit(Job::Seal(s, false));
        }
        Ok(())
    }

    /// Returns whether a cut file was written (see [`Self::end_batch_at`]).
    fn cut_active(&self, st: &mut State, pos: u64) -> Result<bool> {
        self.drop_active_index(st)?;
        let first = st.first;
        let a = &mut st.active;
        let i = (pos - a.base) as usize;
        let off = a.offsets[i];
        // The record before `pos` may have been dropped from the front (and
        // its bytes punched out); then no batch of the log goes on at `pos`.
        let cut = i > 0
            && pos > first
            && self.end_batch_at(&a.file, &a.path, pos - 1, a.offsets[i - 1])?;
        a.file
            .set_len(off)
            .map_err(|e| Error::io("truncate", &a.path, e))?;
        a.offsets.truncate(i);
        a.written = off;
        a.prealloc_end = off;
        self.file_syncs.sync_all(&a.file, &a.path)?;
        Ok(cut)
    }

    /// The cut falls in a sealed segment: remove every later segment (last
    /// first, so that what remains is always a prefix), then cut that
    /// segment and make it the active one again. Returns whether a cut file
    /// was written.
    fn reopen_sealed(&self, st: &mut State, pos: u64) -> Result<bool> {
        let k = st.sealed.partition_point(|s| s.end <= pos);
        let seg = st.sealed[k].clone();
        let offsets = self.load_index(&seg, &st.meta)?;
        let i = (pos - seg.base) as usize;
        let off = offsets[i];
        let mut later: Vec<_> = st.sealed[k + 1..]
            .iter()
            .map(|s| (s.first, s.path.clone()))
            .collect();
        later.push((st.active.first, st.active.path.clone()));
        for (first, path) in later.iter().rev() {
            self.remove_quietly(&self.index_path(*first))?;
            self.remove_quietly(path)?;
            // Unsynced directory changes reach the disk in any order: each
            // removal is made durable before the next, so that a crash
            // leaves a prefix of the segments, never a gap.
            self.sync_dir()?;
        }
        self.remove_quietly(&self.index_path(seg.first))?;
        self.sync_dir()?;
        // Only now that the segment has no index (so that recovery checks
        // every record of it) is a record of it rewritten.
        let cut = i > 0
            && pos > st.first
            && self.end_batch_at(&seg.file, &seg.path, pos - 1, offsets[i - 1])?;
        seg.file
            .set_len(off)
            .map_err(|e| Error::io("truncate", &seg.path, e))?;
        {
            let mut cache = self.index_cache.lock().unwrap_or_else(|p| p.into_inner());
            for s in st.sealed.drain(k..) {
                cache.remove(s.first);
            }
        }
        let kept = &st.sealed;
        st.unsynced
            .retain(|u| kept.iter().any(|s| Arc::ptr_eq(s, u)));
        st.active = Active::new(
            seg.first,
            seg.base,
            offsets[..i].to_vec(),
            off,
            seg.path.clone(),
            Arc::clone(&seg.file),
        );
        self.file_syncs.sync_all(&seg.file, &seg.path)?;
        Ok(cut)
    }

    /// Makes record `position`, framed at `offset`, the last of its batch;
    /// returns whether it had to (and so wrote the cut file).
    ///
    /// A cut inside a batch would leave the last kept record flagged "batch
    /// continues", and recovery would take the kept part of the batch for a
    /// torn write and drop it. The flag is cleared durably *before* the cut.
    /// Clearing it rewrites an acknowledged record's header in place, and a
    /// power cut may garble an unsynced write: so the new header goes to the
    /// cut file first, durably, and recovery finishes the cut from it.
    fn end_batch_at(
        &self,
        file: &Arc<dyn FsFile>,
        path: &Path,
        position: u64,
        offset: u64,
    ) -> Result<bool> {
        let mut raw = [0u8; frame::HEADER_LEN];
        read_exact_at(&**file, &mut raw, offset).map_err(|e| Error::io("read", path, e))?;
        let corrupt = |why: FrameError| Error::corruption(path, offset, why);
        // Room for any length: the read below finds whether the file
        // holds the payload.
        let h = frame::check_header(&raw, self.opts.max_record_size, Room::UpTo(u64::MAX))
            .map_err(corrupt)?;
        if !h.continues {
            return Ok(false);
        }
        h.check_position(position).map_err(corrupt)?;
        let mut payload = vec![0u8; h.len as usize];
        read_exact_at(&**file, &mut payload, offset + frame::HEADER_LEN as u64)
            .map_err(|e| Error::io("read", path, e))?;
        h.check_sum(frame::payload_sum(&raw, &payload))
            .map_err(corrupt)?;
        cut::write(
            &*self.fs,
            &self.dir,
            self.log_id,
            &Cut::new(position, offset, &payload),
        )?;
        let header = frame::encode_header(position, &payload, false);
        file.write_all_at(&[IoSlice::new(&header)], offset)
            .map_err(|e| Error::io("write", path, e))?;
        self.file_syncs.sync_data(file, path)?;
        Ok(true)
    }

    fn remove_quietly(&self, path: &std::path::Path) -> Result<()> {
        match self.fs.remove_file(path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::io("remove", path, e)),
        }
    }
}
