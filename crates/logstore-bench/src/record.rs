//! The records every store writes: each carries its position and a checksum,
//! so a replay can verify every record it gets back.
//!
//! Layout: `position (u64 LE) | crc32c(position bytes) ^ crc32c(body)
//! (u32 LE) | body`. The body is a fixed pseudo-random (incompressible)
//! buffer per record size whose checksum is computed once, so writers only
//! patch the 12 header bytes; a reader hashes every byte it got.

use logstore_testkit::{Xorshift, GOLDEN};

/// Bytes before the body.
pub const HEADER: usize = 12;

/// Makes records of one size.
pub struct RecordMaker {
    buf: Vec<u8>,
    body_crc: u32,
}

impl RecordMaker {
    /// A maker of `size`-byte records (`size >= HEADER`).
    pub fn new(size: usize) -> RecordMaker {
        assert!(size >= HEADER, "records are at least {HEADER} bytes");
        let mut buf = vec![0u8; size];
        Xorshift::new(GOLDEN ^ size as u64).fill_words(&mut buf[HEADER..]);
        let body_crc = crc32c::crc32c(&buf[HEADER..]);
        RecordMaker { buf, body_crc }
    }

    /// The record for `position` (valid until the next call).
    pub fn make(&mut self, position: u64) -> &[u8] {
        let pos = position.to_le_bytes();
        let crc = crc32c::crc32c(&pos) ^ self.body_crc;
        self.buf[..8].copy_from_slice(&pos);
        self.buf[8..HEADER].copy_from_slice(&crc.to_le_bytes());
        &self.buf
    }
}

/// Checks that `record` is intact and belongs at `position`.
pub fn verify(position: u64, record: &[u8]) -> Result<(), String> {
    if record.len() < HEADER {
        return Err(format!("record {position}: {} bytes", record.len()));
    }
    let stored_pos = u64::from_le_bytes(record[..8].try_into().expect("8 bytes"));
    if stored_pos != position {
        return Err(format!("record {position}: carries position {stored_pos}"));
    }
    let stored_crc = u32::from_le_bytes(record[8..HEADER].try_into().expect("4 bytes"));
    let crc = crc32c::crc32c(&record[..8]) ^ crc32c::crc32c(&record[HEADER..]);
    if crc != stored_crc {
        return Err(format!("record {position}: checksum mismatch"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_records_verify_and_mismatches_are_caught() {
        let mut maker = RecordMaker::new(100);
        let rec = maker.make(7).to_vec();
        assert!(verify(7, &rec).is_ok());
        assert!(verify(8, &rec).is_err());
        let mut bad = rec.clone();
        bad[50] ^= 1;
        assert!(verify(7, &bad).is_err());
        assert!(verify(7, &rec[..5]).is_err());
    }
}
