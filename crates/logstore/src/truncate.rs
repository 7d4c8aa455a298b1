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
use crate::state::{relock, Active, Job, Punch, Reclaim, SealSync, Sealed, Shared, State};

/// Hole punching works in file-system blocks; we punch whole 4 KiB blocks
/// only, so the segment header (in block 0) always survives.
const BLOCK: u64 = 4096;

pub(crate) fn truncate_front(sh: &Shared, pos: u64) -> Result<()> {
    let mut st = sh.lock_state();
    sh.check_writable(&st)?;
    if pos <= st.first() {
        return Ok(());
    }
    // Rolled segments become durable before the new first position
    // does: recovery must never find the segment that holds it (or,
    // past the end, the last one left before the new empty one is
    // created) with a header a crash could still tear.
    sh.sync_new_segments(&mut st)?;
    let past_end = pos > st.next();
    let reclaim = if past_end {
        drop_everything(sh, &mut st, pos)?
    } else {
        drop_prefix(sh, &mut st, pos)?
    };
    sh.first_hint.store(pos, Ordering::Release);
    if past_end {
        // `next` and `synced` jumped: appenders waiting to lead a sync
        // (or for one) may find their records covered now, and one
        // that does returns without leading, so it must not be the
        // only one woken when the sync in flight ends.
        sh.wake_waiters(&st);
    }
    // Past the end, `next` jumped: tailing readers waiting for a
    // position now behind it must wake to learn it was truncated.
    if sh.tail_waiters.load(Ordering::SeqCst) > 0 {
        sh.appended_cv.notify_all();
    }
    drop(st);
    let job = Job::Reclaim(reclaim);
    if sh.opts.background_reclaim {
        sh.submit(job);
    } else {
        *relock(sh.pending_jobs.lock()) += 1;
        crate::background::run_job(sh, job);
    }
    Ok(())
}

fn write_meta(sh: &Shared, st: &mut State, meta: Meta) -> Result<()> {
    if let Err(e) = meta::write(sh.log_dir(), &meta) {
        // Whether the new meta file is durable is unknown now.
        sh.poison(st, &e);
        return Err(e);
    }
    st.meta_written(meta);
    Ok(())
}

/// Segment files (and their indexes) to remove, forgotten by the cache.
fn reclaim_segments(sh: &Shared, dead: &[Arc<Sealed>], reclaim: &mut Reclaim) {
    sh.indexes.forget(dead.iter().map(|s| s.first));
    for seg in dead {
        reclaim.remove.push(seg.path.clone());
        reclaim.remove.push(sh.index_path(seg.first));
    }
}

/// `truncate_front` past the end: the log becomes empty and the next
/// record gets `pos`.
fn drop_everything(sh: &Shared, st: &mut State, pos: u64) -> Result<Reclaim> {
    let meta = Meta {
        first: pos,
        first_segment: pos,
        first_offset: SEGMENT_HEADER_LEN as u64,
        ..st.meta()
    };
    write_meta(sh, st, meta)?;
    let (file, path) = sh.create_segment(pos).inspect_err(|e| sh.poison(st, e))?;
    let fresh = Active::new(pos, pos, Vec::new(), SEGMENT_HEADER_LEN as u64, path, file);
    let (dead, old) = st.segs.restart(pos, fresh);
    let mut reclaim = Reclaim::default();
    reclaim_segments(sh, &dead, &mut reclaim);
    // With the index a clean close may have left for it.
    reclaim.remove.push(sh.index_path(old.first));
    reclaim.remove.push(old.path);
    st.group.restarted(pos);
    Ok(reclaim)
}

/// `truncate_front` inside the log.
fn drop_prefix(sh: &Shared, st: &mut State, pos: u64) -> Result<Reclaim> {
    let a = st.segs.active();
    let (seg_first, offset, file) = if pos >= a.base {
        let i = (pos - a.base) as usize;
        let off = a.offsets().get(i).copied().unwrap_or(st.segs.data_end());
        (a.first, off, a.file.clone())
    } else {
        let seg = st.segs.sealed()[st.segs.sealed_index(pos)].clone();
        let offsets = sh.load_index(&seg, &st.meta())?;
        let off = offsets[(pos - seg.base) as usize];
        (seg.first, off, seg.file.clone())
    };
    let meta = Meta {
        first: pos,
        first_segment: seg_first,
        first_offset: offset,
        ..st.meta()
    };
    write_meta(sh, st, meta)?;
    let mut reclaim = Reclaim::default();
    let dead = st.segs.drop_front(pos);
    reclaim_segments(sh, &dead, &mut reclaim);
    st.group.dropped_front(pos);
    let end = offset / BLOCK * BLOCK;
    if end > BLOCK {
        reclaim.punch = Some(Punch {
            file,
            start: BLOCK,
            end,
        });
    }
    Ok(reclaim)
}

pub(crate) fn truncate_back(sh: &Shared, pos: u64) -> Result<()> {
    // Seal jobs queued before must not write indexes for segments this
    // call removes or reopens.
    sh.wait_jobs();
    let mut st = sh.lock_state();
    // No sync in flight and no zeros being written, both seen in the
    // lock section that cuts: a sync that started while this call
    // waited for the other would have taken sealed segments not synced
    // yet, which the cut must sync itself before it counts every
    // position below it as durable. (The log may change while this
    // call waits: its checks are made again each time.)
    loop {
        sh.check_writable(&st)?;
        if pos < st.first() {
            return Err(Error::new(
                ErrorKind::OutOfRange,
                format!(
                    "cannot truncate the back at {pos}: it is before the first position {}",
                    st.first()
                ),
            )
            .at_position(pos));
        }
        if pos >= st.next() {
            return Ok(());
        }
        if st.group.syncing() {
            st = sh.wait_sync_end(st);
        } else if st.segs.active().zeros().zeroing_from().is_some() {
            st = relock(sh.zeroed_cv.wait(st));
        } else {
            break;
        }
    }
    let next_before = st.next();
    sh.flush_locked(&mut st)?;
    let r = if pos >= st.segs.active().base {
        cut_active(sh, &mut st, pos)
    } else {
        reopen_sealed(sh, &mut st, pos)
    }
    .and_then(|cut| {
        sync_sealed_kept(sh, &mut st)?;
        sh.sync_new_segments(&mut st)?;
        // The cut is durable: its record must not outlive it, or a
        // later recovery would cut again, through later appends.
        if cut {
            cut::clear(sh.log_dir())?;
        }
        Ok(())
    });
    if let Err(e) = r {
        // If the file was cut before the failure, the records from
        // `pos` on are gone: stop offering them (reads of the records
        // kept must still work on a poisoned log).
        let end = st.next();
        if end < next_before {
            st.group.cut_failed(end);
            sh.rewrites.fetch_add(1, Ordering::Release);
        }
        sh.poison(&mut st, &e);
        return Err(e);
    }
    debug_assert_eq!(st.next(), pos);
    // Every position below the cut is durable now: the kept part of
    // the cut segment, the sealed segments before it (synced above,
    // or by a sync that had ended before this call cut), the
    // directory. No sync is in flight to vouch for less. (Until the next
    // mark, what the cut kept is vouched for only up to the mark before
    // the cut record: see the residual window in docs/DESIGN.md.)
    st.group.cut_back(pos);
    sh.rewrites.fetch_add(1, Ordering::Release);
    sh.wake_waiters(&st);
    Ok(())
}

/// The cut made the segment it shortened durable; the sealed segments
/// before it that no sync has covered yet must be durable too before
/// `synced` moves to the cut, since that releases waiting appenders
/// (whose records they may hold) and makes later `sync` calls return
/// at once.
fn sync_sealed_kept(sh: &Shared, st: &mut State) -> Result<()> {
    let sealed = st.group.take_unsynced();
    for s in &sealed {
        sh.file_syncs.sync_data(&s.file, &s.path)?;
    }
    for s in sealed {
        sh.submit(Job::Seal(s, SealSync::Synced));
    }
    Ok(())
}

/// Returns whether a cut file was written (see [`end_batch_at`]).
fn cut_active(sh: &Shared, st: &mut State, pos: u64) -> Result<bool> {
    sh.drop_active_index(st)?;
    let first = st.first();
    let a = st.segs.active();
    let (file, path) = (a.file.clone(), a.path.clone());
    let i = (pos - a.base) as usize;
    let off = a.offsets()[i];
    // The record before `pos` may have been dropped from the front (and
    // its bytes punched out); then no batch of the log goes on at `pos`.
    let cut = i > 0 && pos > first && end_batch_at(sh, &file, &path, pos - 1, a.offsets()[i - 1])?;
    file.set_len(off)
        .map_err(|e| Error::io("truncate", &path, e))?;
    st.segs.cut_active(i, off);
    sh.file_syncs.sync_all(&file, &path)?;
    Ok(cut)
}

/// The cut falls in a sealed segment: remove every later segment (last
/// first, so that what remains is always a prefix), then cut that
/// segment and make it the active one again. Returns whether a cut file
/// was written.
fn reopen_sealed(sh: &Shared, st: &mut State, pos: u64) -> Result<bool> {
    let k = st.segs.sealed_index(pos);
    let seg = st.segs.sealed()[k].clone();
    let offsets = sh.load_index(&seg, &st.meta())?;
    let i = (pos - seg.base) as usize;
    let off = offsets[i];
    let mut later: Vec<_> = st.segs.sealed()[k + 1..]
        .iter()
        .map(|s| (s.first, s.path.clone()))
        .collect();
    let a = st.segs.active();
    later.push((a.first, a.path.clone()));
    for (first, path) in later.iter().rev() {
        remove_quietly(sh, &sh.index_path(*first))?;
        remove_quietly(sh, path)?;
        // Unsynced directory changes reach the disk in any order: each
        // removal is made durable before the next, so that a crash
        // leaves a prefix of the segments, never a gap.
        sh.sync_dir()?;
    }
    remove_quietly(sh, &sh.index_path(seg.first))?;
    sh.sync_dir()?;
    // Only now that the segment has no index (so that recovery checks
    // every record of it) is a record of it rewritten.
    let cut = i > 0
        && pos > st.first()
        && end_batch_at(sh, &seg.file, &seg.path, pos - 1, offsets[i - 1])?;
    seg.file
        .set_len(off)
        .map_err(|e| Error::io("truncate", &seg.path, e))?;
    let dropped = st.segs.reopen_sealed(k, offsets[..i].to_vec(), off);
    sh.indexes.forget(dropped.iter().map(|s| s.first));
    st.group.dropped_from(seg.first);
    sh.file_syncs.sync_all(&seg.file, &seg.path)?;
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
    sh: &Shared,
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
    let h = frame::check_header(&raw, sh.opts.max_record_size, Room::UpTo(u64::MAX))
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
        sh.log_dir(),
        sh.log_id,
        &Cut::new(position, offset, &payload),
    )?;
    let header = frame::encode_header(position, &payload, false);
    file.write_all_at(&[IoSlice::new(&header)], offset)
        .map_err(|e| Error::io("write", path, e))?;
    sh.file_syncs.sync_data(file, path)?;
    Ok(true)
}

fn remove_quietly(sh: &Shared, path: &std::path::Path) -> Result<()> {
    match sh.fs.remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("remove", path, e)),
    }
}
