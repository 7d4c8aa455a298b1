//! Helpers shared by the behaviour tests: deterministic record contents,
//! option presets and small file-level fixtures (`fixture`).

#![allow(dead_code)]

pub mod fixture;
pub mod gates;
pub mod workload;

use std::path::{Path, PathBuf};

use logstore::{Log, Result};

// Each test file uses some of the vocabulary.
#[allow(unused_imports)]
pub use fixture::{
    assert_corruption_at, assert_kind, file_len, fill, fill_three_segments, flip_byte, patch,
    set_len, shrink, Fixture,
};

/// Bytes of a segment, index or meta file header.
pub const FILE_HEADER: usize = 64;
/// Bytes of a record frame header (CRC, length, position).
pub const FRAME_HEADER: usize = 16;

// `record(seed, len)`: a record whose contents depend on `seed`, so that
// a record read back at the wrong position or with stale bytes is noticed.
pub use logstore_testkit::record;

/// Every record of the log, read with `iter` from the first position.
pub fn all_records(log: &Log) -> Vec<(u64, Vec<u8>)> {
    log.iter(log.first_position())
        .collect::<Result<Vec<_>>>()
        .expect("iterating the whole log")
}

/// Files of `dir` on the real file system with the given extension,
/// sorted by name (so in position order for segments and indexes).
pub fn files_with_ext(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    v.sort();
    v
}

/// A small deterministic generator (splitmix64) for workloads.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `lo..hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len() as u64) as usize]
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}
