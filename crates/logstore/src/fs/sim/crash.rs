//! What a power cut leaves of unsynced changes: dropped, or kept,
//! dropped or garbled sector by sector and entry by entry.

use super::*;

/// A small deterministic generator (splitmix64) so scrambles are repeatable.
#[derive(Debug)]
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

pub(super) fn settle_file(file: &mut FileData, mode: CrashMode, rng: &mut Rng) {
    // What a failed sync lost is gone whatever the disk's cache does.
    file.forget_lost();
    match mode {
        CrashMode::DropUnsynced => file.data = file.durable.clone(),
        CrashMode::KeepUnsynced => file.durable = file.data.clone(),
        CrashMode::Scramble(_) => {
            // Start from the durable bytes and replay each unsynced sector
            // by chance: the written bytes, nothing, or garbage. The final
            // length is either the written or the durable one.
            let mut out = file.durable.clone();
            let keep_len = rng.next().is_multiple_of(2);
            let len = if keep_len {
                file.data.len()
            } else {
                file.durable.len()
            };
            out.resize(len.max(out.len()), 0);
            // Only the bytes a write covered are at stake: bytes that were
            // durable before stay intact even when they share a sector with
            // a torn or garbled write (SQLite calls this "powersafe
            // overwrite"; appending into a partly filled sector relies on
            // it, as every log-structured store does).
            for &(start, end) in &file.unsynced {
                let mut s = start;
                while s < end {
                    let sector_end = (s / SECTOR + 1) * SECTOR;
                    let e = sector_end
                        .min(end)
                        .min(out.len() as u64)
                        .min(file.data.len() as u64);
                    if s < e {
                        let (s_, e_) = (s as usize, e as usize);
                        match rng.next() % 3 {
                            0 => out[s_..e_].copy_from_slice(&file.data[s_..e_]),
                            1 => {}
                            _ => {
                                for b in &mut out[s_..e_] {
                                    *b = rng.next() as u8;
                                }
                            }
                        }
                    }
                    s = sector_end;
                }
            }
            out.truncate(len);
            file.data = out.clone();
            file.durable = out;
        }
    }
    file.unsynced.clear();
}

pub(super) fn settle_dir(dir: &mut DirData, mode: CrashMode, rng: &mut Rng) {
    match mode {
        CrashMode::DropUnsynced => dir.entries = dir.durable.clone(),
        CrashMode::KeepUnsynced => dir.durable = dir.entries.clone(),
        CrashMode::Scramble(_) => {
            let names: HashSet<String> = dir
                .entries
                .keys()
                .chain(dir.durable.keys())
                .cloned()
                .collect();
            let mut out = BTreeMap::new();
            for name in names {
                let now = dir.entries.get(&name);
                let before = dir.durable.get(&name);
                let pick = if now == before || rng.next().is_multiple_of(2) {
                    now
                } else {
                    before
                };
                if let Some(&id) = pick {
                    out.insert(name, id);
                }
            }
            dir.entries = out.clone();
            dir.durable = out;
        }
    }
}
