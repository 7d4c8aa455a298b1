//! A store's checkpoint: its catalog as it stood at one shared position,
//! written beside the shared log's files, so that opening replays only the
//! entries after that position, not every entry kept.
//!
//! The checkpoint is only a shortcut. The shared log alone still rebuilds
//! the catalog (reclaim never drops an entry a log needs), so a checkpoint
//! that is missing, damaged, or does not fit the shared log is passed over
//! and every entry replayed. For the shortcut to be right, every entry from
//! the checkpoint's position on must still be in the shared log: reclaim
//! stops there (see `compact::reclaim`). Format in docs/FORMAT.md, "Store
//! checkpoint".

use std::sync::atomic::Ordering;

use crate::crc::crc32c;
use crate::error::Result;
use crate::log::Log;
use crate::recovery::STORE_CHECKPOINT;
use crate::store::catalog::{Catalog, LogState};
use crate::store::locs::Locs;
use crate::store::{Inner, MAX_STATE_SIZE};

const MAGIC: &[u8; 8] = b"LSSTORE\x01";
/// The checkpoint format's version.
pub(crate) const VERSION: u32 = 1;
/// Magic, version, flags, position, number of logs.
const HEADER: usize = 8 + 4 + 4 + 8 + 8;
/// Id, first, next, meta entry's position, state length, number of runs.
const LOG_HEADER: usize = 8 * 4 + 4 + 4;
const RUN: usize = 16;
/// No checkpoint larger than this is read.
const LIMIT: u64 = 4 << 30;
/// The state length that says a log has no state value.
const NO_STATE: u32 = u32::MAX;

/// The catalog as bytes, for the state after every entry before `through`.
pub(crate) fn encode(cat: &Catalog, through: u64, segs: &[u64]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + cat.logs.len() * (LOG_HEADER + 2 * RUN));
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&through.to_le_bytes());
    out.extend_from_slice(&(cat.logs.len() as u64).to_le_bytes());
    let mut ids: Vec<u64> = cat.logs.keys().copied().collect();
    ids.sort_unstable();
    for id in ids {
        let l = &cat.logs[&id];
        let runs = l.locs().all_runs(segs);
        for v in [id, l.first(), l.next(), l.meta_at] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        let state_len = l.state.as_ref().map_or(NO_STATE, |s| s.len() as u32);
        out.extend_from_slice(&state_len.to_le_bytes());
        out.extend_from_slice(&(runs.len() as u32).to_le_bytes());
        out.extend_from_slice(l.state.as_deref().unwrap_or_default());
        for (start, low) in runs {
            out.extend_from_slice(&start.to_le_bytes());
            out.extend_from_slice(&low.to_le_bytes());
        }
    }
    let crc = crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The catalog and position a checkpoint holds; `None` if the bytes are
/// not a whole, well-formed checkpoint of this version.
pub(crate) fn decode(b: &[u8]) -> Option<(Catalog, u64)> {
    let (body, crc) = b.split_at_checked(b.len().checked_sub(4)?)?;
    if crc32c(body).to_le_bytes() != crc || !body.starts_with(MAGIC) {
        return None;
    }
    let mut r = Reader {
        b: body,
        at: MAGIC.len(),
    };
    if r.u32()? != VERSION || r.u32()? != 0 {
        return None;
    }
    let through = r.u64()?;
    let logs = r.u64()?;
    let mut cat = Catalog::default();
    for _ in 0..logs {
        let [id, first, next, meta_at] = [r.u64()?, r.u64()?, r.u64()?, r.u64()?];
        let (state_len, runs) = (r.u32()?, r.u32()? as usize);
        let state = match state_len {
            NO_STATE => None,
            n if n as usize <= MAX_STATE_SIZE => Some(r.bytes(n as usize)?.to_vec()),
            _ => return None,
        };
        // Each run is read before it is kept: a forged count cannot make
        // it allocate more than the file holds.
        let mut kept = Vec::new();
        for _ in 0..runs {
            kept.push((r.u64()?, r.u64()?));
        }
        let locs = Locs::from_runs(first, next, &kept, through)?;
        if meta_at >= through || cat.logs.contains_key(&id) {
            return None;
        }
        cat.insert(id, LogState::restored(locs, state, meta_at));
    }
    (r.at == body.len()).then_some((cat, through))
}

/// Reads little-endian fields of a file's bytes in turn.
pub(crate) struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    /// A reader of `b` from byte `at` on.
    pub(crate) fn new(b: &'a [u8], at: usize) -> Self {
        Reader { b, at }
    }

    fn bytes(&mut self, n: usize) -> Option<&[u8]> {
        let v = self.b.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(v)
    }

    pub(crate) fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.bytes(4)?.try_into().ok()?))
    }

    pub(crate) fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.bytes(8)?.try_into().ok()?))
    }
}

/// The checkpoint in the shared log's directory, if there is a readable
/// one whose position the shared log still holds.
///
/// # Errors
/// [`crate::ErrorKind::Io`] if the file is there but cannot be read.
pub(crate) fn load(shared: &Log) -> Result<Option<(Catalog, u64)>> {
    let Some(bytes) = shared.read_side_file(STORE_CHECKPOINT, LIMIT)? else {
        return Ok(None);
    };
    Ok(decode(&bytes).filter(|(_, through)| {
        (shared.first_position()..=shared.next_position()).contains(through)
    }))
}

/// Writes a checkpoint of the catalog as it is now: synced through its
/// position first, so that it never holds an entry a crash could take.
///
/// # Errors
/// As [`Log::sync`]; [`crate::ErrorKind::Io`] if the file cannot be
/// written.
pub(crate) fn write(inner: &Inner) -> Result<()> {
    let (bytes, through) = {
        let cat = inner.lock();
        let through = inner.shared.next_position();
        (
            encode(&cat, through, &inner.shared.segment_firsts()),
            through,
        )
    };
    inner.shared.sync_to(through)?;
    inner.shared.replace_side_file(STORE_CHECKPOINT, &bytes)?;
    inner.checkpoint.store(through, Ordering::SeqCst);
    inner
        .checkpoint_bytes
        .store(bytes.len() as u64, Ordering::Relaxed);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::locs::Loc;

    fn catalog() -> Catalog {
        let mut cat = Catalog::default();
        let mut a = LogState::new(5, 1);
        for at in [2, 3, 12] {
            a.push(at);
        }
        a.state = Some(b"vote".to_vec());
        cat.insert(7, a);
        cat.insert(9, LogState::new(40, 13));
        cat
    }

    #[test]
    fn a_checkpoint_gives_back_its_catalog_and_refuses_any_damage() {
        let segs = [0, 10];
        let b = encode(&catalog(), 14, &segs);
        let (cat, through) = decode(&b).unwrap();
        assert_eq!(through, 14);
        let a = &cat.logs[&7];
        assert_eq!((a.first(), a.next(), a.meta_at), (5, 8, 1));
        assert_eq!(a.state.as_deref(), Some(&b"vote"[..]));
        let locs: Vec<_> = (5..8).map(|p| a.loc(p).unwrap()).collect();
        assert_eq!(locs, [Loc::In(2), Loc::In(2), Loc::In(12)]);
        let e = &cat.logs[&9];
        assert_eq!(
            (e.first(), e.next(), e.meta_at, e.state.clone()),
            (40, 40, 13, None)
        );
        // Every flipped byte and every cut is refused.
        for i in 0..b.len() {
            let mut bad = b.clone();
            bad[i] ^= 0x10;
            assert!(decode(&bad).is_none(), "byte {i}");
            assert!(decode(&b[..i]).is_none(), "cut at {i}");
        }
    }

    #[test]
    fn a_forged_checkpoint_with_a_right_checksum_is_refused() {
        let forge = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut b = encode(&catalog(), 14, &[0, 10]);
            b.truncate(b.len() - 4);
            f(&mut b);
            let crc = crc32c(&b);
            b.extend_from_slice(&crc.to_le_bytes());
            decode(&b)
        };
        assert!(forge(&|_| {}).is_some());
        // A huge number of logs, of runs, a huge state length.
        assert!(forge(&|b| b[24..32].copy_from_slice(&u64::MAX.to_le_bytes())).is_none());
        let log7 = HEADER;
        assert!(
            forge(&|b| b[log7 + 36..log7 + 40].copy_from_slice(&u32::MAX.to_le_bytes())).is_none()
        );
        assert!(
            forge(&|b| b[log7 + 32..log7 + 36].copy_from_slice(&(1u32 << 30).to_le_bytes()))
                .is_none()
        );
        // A range upside down; a record bound past the checkpoint.
        assert!(forge(&|b| b[log7 + 16..log7 + 24].copy_from_slice(&4u64.to_le_bytes())).is_none());
        assert!(forge(&|b| b[16..24].copy_from_slice(&3u64.to_le_bytes())).is_none());
    }
}
