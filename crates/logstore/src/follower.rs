//! A read-only handle's view of a log that another process writes: brought
//! up to date from the files, cheaply when the writer only appended to the
//! same segment, else by opening the directory afresh.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::error::{Error, ErrorKind, Result};
use crate::fs::read_exact_at;
use crate::meta::{self, Meta, META_NAME};
use crate::recovery::{list, open, Listing};
use crate::segment::scan;
use crate::state::{Active, Shared};

/// How a read-only view is brought up to date with the files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refresh {
    /// By reading what was appended to the same last segment, if that is
    /// all that changed; else as `Full`.
    Cheap,
    /// By opening the directory afresh.
    Full,
}

/// Brings a read-only handle up to date with the files: cheaply when
/// the writer only appended to the same segment, else by reopening.
pub(crate) fn refresh(sh: &Shared) -> Result<()> {
    refresh_view(sh, Refresh::Cheap)
}

/// Rebuilds a read-only handle's view from the files, without the
/// cheap path: for when a record at an offset we hold failed its
/// checks, which the cheap path's tests cannot always foresee (a
/// rewritten tail whose last record landed where the old one was).
pub(crate) fn reload(sh: &Shared) -> Result<()> {
    refresh_view(sh, Refresh::Full)
}

fn refresh_view(sh: &Shared, how: Refresh) -> Result<()> {
    if !sh.opts.read_only {
        return Ok(());
    }
    let meta = meta::read(&*sh.fs, &sh.dir)?.ok_or_else(|| {
        Error::io_state(
            "the log's meta file is gone",
            &sh.dir,
            std::io::ErrorKind::NotFound,
        )
    })?;
    if meta.log_id != sh.log_id {
        return Err(Error::corruption(
            &sh.dir.join(META_NAME),
            0,
            "the log was replaced by another one",
        ));
    }
    let listing = list(&*sh.fs, &sh.dir)?;
    if how == Refresh::Cheap && extend_active(sh, &meta, &listing)? {
        // The writer may have cut the back and appended records of the
        // same lengths: the offsets still hold, the bytes do not, and
        // iterators must read them again.
        sh.rewrites.fetch_add(1, Ordering::Release);
        return Ok(());
    }
    let fresh = open_view(sh)?;
    let mut st = sh.lock_state();
    let mut other = fresh.lock_state();
    std::mem::swap(&mut *st, &mut *other);
    sh.first_hint.store(st.first(), Ordering::Release);
    sh.rewrites.fetch_add(1, Ordering::Release);
    sh.indexes.forget_all();
    Ok(())
}

/// Opens the directory afresh for a read-only view. The writer changes
/// the directory while we read it without any lock between us: a
/// segment listed a moment ago may be gone when opened, or the meta
/// file may already name a first position whose segment is not created
/// yet. Such a view fails, and one taken a moment later succeeds; only
/// an error that persists is reported.
fn open_view(sh: &Shared) -> Result<Arc<Shared>> {
    let mut tries = 0;
    loop {
        match open(&sh.dir, sh.opts.clone()) {
            Ok(shared) => return Ok(shared),
            Err(e) if tries < 20 && matches!(e.kind(), ErrorKind::Io | ErrorKind::Corruption) => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(e) => return Err(e),
        }
    }
}

/// The fast path of `refresh`: same first position, same last segment,
/// which only grew. Returns false if the slow path is needed.
fn extend_active(sh: &Shared, meta: &Meta, listing: &Listing) -> Result<bool> {
    let mut st = sh.lock_state();
    let a = st.segs.active();
    if meta.first != st.meta().first || listing.segments.last() != Some(&a.first) {
        return Ok(false);
    }
    let len = a.file.len().map_err(|e| Error::io("stat", &a.path, e))?;
    if len < a.written() || !last_record_in_place(sh, a)? {
        return Ok(false);
    }
    if len == a.written() || zeros_at(a)? {
        return Ok(true);
    }
    let next = a.end_position();
    let s = scan::scan(&a.file, a.written(), next, len, sh.opts.max_record_size)
        .map_err(|e| Error::io("read", &a.path, e))?;
    st.segs.extend_active(&s.offsets, s.end);
    debug_assert_eq!(st.next(), s.next_position);
    Ok(true)
}

/// Whether the active segment holds zeros where its next record would
/// start: nothing new yet, in the space the writer writes ahead (see
/// `crate::prezero`), which need not be read to its end at every
/// refresh.
fn zeros_at(a: &Active) -> Result<bool> {
    let mut raw = [0u8; crate::frame::HEADER_LEN];
    match read_exact_at(&*a.file, &mut raw, a.written()) {
        Ok(()) => Ok(raw == [0; crate::frame::HEADER_LEN]),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(Error::io("read", &a.path, e)),
    }
}

/// Whether the last record this handle knows in the active segment is
/// still where it was. A `truncate_back` by the writer followed by
/// appends can leave the file as long as before or longer, with other
/// records from the cut on: then the frame there no longer ends at
/// `written` with the position before `next`.
fn last_record_in_place(sh: &Shared, a: &Active) -> Result<bool> {
    let next = a.end_position();
    let Some(&offset) = a.offsets().last() else {
        return Ok(true);
    };
    let mut raw = [0u8; crate::frame::HEADER_LEN];
    match read_exact_at(&*a.file, &mut raw, offset) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(false),
        Err(e) => return Err(Error::io("read", &a.path, e)),
    }
    let room = crate::frame::Room::UpTo(a.written().saturating_sub(offset));
    Ok(
        crate::frame::check_header(&raw, sh.opts.max_record_size, room).is_ok_and(|h| {
            h.check_position(next.wrapping_sub(1)) == Ok(next)
                && offset + h.frame_len() == a.written()
        }),
    )
}
