//! Giving a store's space back. An entry of the shared log is live while a
//! log keeps the record it holds, or while it is a log's last `Meta`
//! entry; every other entry is dead. Two steps, neither on a caller's
//! path:
//! 1. *Reclaim*: the shared log's front is dropped up to the oldest live
//!    entry ([`Log::truncate_front`]: whole segments deleted, the rest
//!    punched out). Nothing is copied.
//! 2. *Compact*: a lagging log pins the front. While the shared log keeps
//!    more than 1.1 times the live bytes plus two segments, the longest run
//!    of sealed segments from the front whose live entries are fewer than
//!    the `compact_below` fraction of its entries has them copied to the
//!    tail (records as `Moved` entries, metas rewritten whole), and is
//!    reclaimed. The first rule leaves alone records that die soon on
//!    their own; the second copies only where each byte copied frees more
//!    than one (at the default 0.5).
//!
//! [`Log::truncate_front`]: crate::Log::truncate_front

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::error::{Error, ErrorKind, Result};
use crate::segment::store_index_name;
use crate::store::catalog::Catalog;
use crate::store::entry::{self, Entry};
use crate::store::locs::Loc;
use crate::store::maps::SegmentMap;
use crate::store::{checkpoint, index, Inner, NO_CHECKPOINT};

/// Compaction runs only while the shared log keeps more than this many
/// times the live bytes, plus two segments (the active one, and the one
/// being filled as the oldest is emptied).
const SPACE_FACTOR: f64 = 1.1;
/// Bytes copied per batch written to the shared log.
const COPY_BATCH_BYTES: usize = 4 << 20;

/// The background thread: a pass every `interval` until the store closes,
/// or until the shared log is poisoned (the store's writes report it).
pub(super) fn run(inner: &Inner, interval: Duration) {
    let mut cat = inner.lock();
    while !inner.stop.load(Ordering::SeqCst) {
        cat = inner
            .wake
            .wait_timeout(cat, interval)
            .unwrap_or_else(|p| p.into_inner())
            .0;
        if inner.stop.load(Ordering::SeqCst) {
            break;
        }
        drop(cat);
        if let Err(e) = compact(inner) {
            // A poisoned or closed shared log takes no more writes, and its
            // callers hear of it; any other failure (a read) is tried again
            // next time, or the disk would fill.
            if matches!(e.kind(), ErrorKind::Poisoned | ErrorKind::Closed) {
                return;
            }
        }
        cat = inner.lock();
    }
}

/// One pass: reclaim, then compact the longest run of old segments whose
/// live fraction is below the threshold, while the space says it is time.
pub(super) fn compact(inner: &Inner) -> Result<()> {
    // One pass at a time: `Store::compact` may race the thread's.
    let _one = inner.compacting.lock().unwrap_or_else(|p| p.into_inner());
    let segs = inner.shared.segment_firsts();
    inner.lock().sparsify(&segs);
    // A checkpoint each time a segment is sealed, or each few when it is
    // large (many logs and segments): writing checkpoints costs at most a
    // quarter of what is appended, opening replays at most that many
    // segments, and reclaim is held back by as much.
    let at = inner.checkpoint.load(Ordering::SeqCst);
    let size = inner.checkpoint_bytes.load(Ordering::Relaxed);
    let every = 1 + 4 * size / inner.segment_size.max(1);
    if at == NO_CHECKPOINT || segs.iter().filter(|&&f| f > at).count() as u64 >= every {
        checkpoint::write(inner)?;
    }
    reclaim(inner)?;
    // Indexes of the sealed segments reclaim left.
    if !inner.read_only {
        write_indexes(inner, &segs)?;
    }
    let shared = inner.shared.stats()?;
    // The active segment is never compacted: the sealed ones' ends.
    let sealed = shared.segments.len().saturating_sub(1);
    let ends: Vec<u64> = shared.segments[..sealed]
        .iter()
        .map(|s| s.end_position)
        .collect();
    let Some(&last) = ends.last() else {
        return Ok(());
    };
    let mut cat = inner.lock();
    // Entries of about the same size: the live bytes are the live
    // entries' share of the bytes kept.
    let live_entries: u64 = cat.logs.values().map(|l| l.len() + 1).sum();
    let live_bytes =
        live_entries as f64 * shared.retained_bytes as f64 / shared.records.max(1) as f64;
    if shared.retained_bytes as f64 <= SPACE_FACTOR * live_bytes + 2.0 * inner.segment_size as f64 {
        return Ok(());
    }
    // Live entries per sealed segment; then the longest prefix of them
    // whose live share is below the threshold.
    let mut live_per = vec![0u64; ends.len()];
    let mut count = |at: u64, n: u64| {
        if at < last {
            live_per[ends.partition_point(|&e| e <= at)] += n;
        }
    };
    for log in cat.logs.values() {
        count(log.meta_at, 1);
        log.locs().dense().for_each(|(_, at)| count(at, 1));
        for (positions, low) in log.locs().runs() {
            count(low, positions.end - positions.start);
        }
    }
    let mut upto = None;
    let mut live = 0;
    for (end, n) in ends.iter().zip(&live_per) {
        live += n;
        let total = end - shared.first_position;
        if (live as f64) < inner.compact_below * total as f64 {
            upto = Some(*end);
        }
    }
    let Some(b) = upto else {
        return Ok(());
    };
    let live = live_in(&mut cat, b);
    drop(cat);
    copy(inner, live, b)?;
    reclaim(inner)
}

/// Drops the shared log's front up to the oldest live entry. The entries
/// that replaced the dead ones (a later meta, a moved copy) are synced
/// first: a crash must not take them and keep the truncation.
fn reclaim(inner: &Inner) -> Result<()> {
    let log = &inner.shared;
    let lowest = inner.lock().lowest(log.next_position());
    // The checkpoint's replay needs every entry from its position on.
    let target = lowest.min(inner.checkpoint.load(Ordering::SeqCst));
    if target <= log.first_position() {
        return Ok(());
    }
    log.sync()?;
    let before = log.stats()?.retained_bytes;
    log.truncate_front(target)?;
    index::remove_dropped(inner)?;
    let after = log.stats()?.retained_bytes;
    inner
        .reclaimed
        .fetch_add(before.saturating_sub(after), Ordering::Relaxed);
    Ok(())
}

/// Writes an index of each sealed segment of `segs` (the shared log's
/// segments' first positions) that has none yet, once its entries are
/// durable. A segment with a damaged entry gets none: reading it scans it,
/// and reports the damage.
///
/// # Errors
/// As [`Log::sync`] and [`Log::replay`]; an index written before the error
/// stays.
fn write_indexes(inner: &Inner, segs: &[u64]) -> Result<()> {
    let shared = &inner.shared;
    for w in segs.windows(2) {
        let (first, end) = (w[0], w[1]);
        // Offsets are 32 bits: a segment of more entries gets no index.
        let fits = end - first <= u32::MAX as u64;
        if !fits || end <= shared.first_position() || inner.indexed().contains(&first) {
            continue;
        }
        shared.sync_to(end)?;
        let map = SegmentMap::of(shared, first, segs)?;
        if let (Some(at), Some(crc)) = (map.scanned(), index::last_crc(shared, end)) {
            let bytes = index::SegmentIndex::build(first, at).encode(end, crc);
            shared.replace_side_file(&store_index_name(first), &bytes)?;
        }
        inner.indexed().insert(first);
    }
    Ok(())
}

/// The live entries in the shared log's segments before `b`.
#[derive(Default)]
struct Live {
    /// `(log, position, where)` of each record kept.
    records: Vec<(u64, u64, Loc)>,
    /// The logs whose last meta entry is there.
    metas: Vec<u64>,
}

fn live_in(cat: &mut Catalog, b: u64) -> Live {
    let mut live = Live::default();
    for (&id, log) in cat.logs.iter_mut() {
        if log.lowest() >= b {
            continue;
        }
        if log.meta_at < b {
            live.metas.push(id);
        }
        for (positions, low) in log.locs().runs().filter(|(_, low)| *low < b) {
            live.records
                .extend(positions.map(|p| (id, p, Loc::In(low))));
        }
        let dense = log.locs().dense().filter(|(_, at)| *at < b);
        live.records
            .extend(dense.map(|(p, at)| (id, p, Loc::At(at))));
    }
    live
}

/// Copies the live entries to the tail, each record unless its log
/// dropped or moved it meanwhile, then syncs them.
fn copy(inner: &Inner, live: Live, below: u64) -> Result<()> {
    let mut metas = live.metas;
    let mut records = live.records.into_iter().peekable();
    let mut end = None;
    while records.peek().is_some() || !metas.is_empty() {
        let mut chunk = Vec::new();
        let mut bytes = 0;
        while bytes < COPY_BATCH_BYTES {
            let Some((id, p, loc)) = records.next() else {
                break;
            };
            let Some(at) = inner.locate(id, p, loc)? else {
                // Cut meanwhile; it is checked again below.
                continue;
            };
            let mut b = inner.shared.read(at)?;
            match entry::decode(at, &b)? {
                Entry::Put { log, position, .. } | Entry::Moved { log, position, .. }
                    if (log, position) == (id, p) => {}
                other => {
                    return Err(Error::new(
                        ErrorKind::Corruption,
                        format!("shared position {at} should hold log {id} position {p}, it holds {other:?}"),
                    )
                    .with_path(inner.shared.dir())
                    .at_position(at))
                }
            }
            entry::mark_moved(&mut b);
            bytes += b.len();
            chunk.push((id, p, loc, b));
        }
        let mut cat = inner.lock();
        let mut out = Vec::with_capacity(chunk.len() + metas.len());
        let mut applied = Vec::with_capacity(chunk.len());
        for id in metas.drain(..) {
            if let Some(l) = cat.logs.get(&id).filter(|l| l.meta_at < below) {
                out.push(entry::meta(id, l.first(), l.next(), l.state.as_deref()));
                applied.push((id, None));
            }
        }
        for (id, p, loc, b) in chunk {
            if cat.logs.get(&id).and_then(|l| l.loc(p)) == Some(loc) {
                out.push(b);
                applied.push((id, Some(p)));
            }
        }
        if out.is_empty() {
            continue;
        }
        let copied: usize = out.iter().map(Vec::len).sum();
        let at = inner.submit(&out)?;
        let segs = inner.shared.segment_firsts();
        for ((id, p), loc) in applied.into_iter().zip(at.clone()) {
            let l = cat.logs.get_mut(&id).expect("checked under this lock");
            match p {
                Some(p) => l.moved(p, loc, &segs),
                None => l.set_meta(loc),
            }
        }
        drop(cat);
        inner.copied.fetch_add(copied as u64, Ordering::Relaxed);
        end = Some(at.end);
    }
    match end {
        Some(end) => inner.shared.sync_to(end),
        None => Ok(()),
    }
}
