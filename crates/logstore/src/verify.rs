//! Verifying a log's segments: every kept record read and checked, and
//! each sealed segment's index compared with what the scan found.

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::meta::Meta;
use crate::segment::scan;
use crate::state::{SegmentSummary, Shared};

/// What [`crate::Log::verify`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyReport {
    /// Segments read.
    pub segments: u64,
    /// Records whose checksum, length and position were checked.
    pub records: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Each problem found: the segment file, the byte offset, and what.
    pub problems: Vec<Problem>,
}

/// One problem found by [`crate::Log::verify`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Problem {
    /// The damaged file.
    pub path: PathBuf,
    /// Byte offset of the damage.
    pub offset: u64,
    /// What is wrong.
    pub what: String,
}

/// Reads every kept record of `segments` (the log's, with nothing left
/// in a write buffer) and checks it; damage goes into the report, only a
/// failure to read is an error. `progress(done, total)` is called with
/// bytes after each segment.
pub(crate) fn verify(
    sh: &Shared,
    meta: &Meta,
    segments: Vec<SegmentSummary>,
    mut progress: impl FnMut(u64, u64),
) -> Result<VerifyReport> {
    let total: u64 = segments.iter().map(|s| s.data_end).sum();
    let mut report = VerifyReport::default();
    let mut done = 0;
    for seg in segments {
        let (path, data_end) = (&seg.path, seg.data_end);
        let (off, pos) = meta.scan_start(seg.first);
        let s = scan::scan(&seg.file, off, pos, data_end, sh.opts.max_record_size)
            .map_err(|e| Error::io("read", path, e))?;
        report.segments += 1;
        report.records += s.offsets.len() as u64;
        report.bytes += data_end;
        if let Some(d) = &s.damage {
            report.problems.push(Problem {
                path: path.clone(),
                offset: d.offset,
                what: d.reason.to_string(),
            });
        } else if s.next_position != seg.positions.end {
            report.problems.push(Problem {
                path: path.clone(),
                offset: data_end,
                what: format!(
                    "segment ends at position {}, expected {}",
                    s.next_position, seg.positions.end
                ),
            });
        } else if let Some(sealed) = &seg.sealed {
            if let Err(e) = sh.load_index(sealed, meta).and_then(|ix| {
                let skip = pos.saturating_sub(seg.positions.start) as usize;
                if ix.get(skip..) == Some(&s.offsets[..]) {
                    Ok(())
                } else {
                    Err(Error::corruption(
                        &sh.index_path(seg.first),
                        0,
                        "index disagrees with its segment",
                    ))
                }
            }) {
                report.problems.push(Problem {
                    path: e.path().unwrap_or(path).to_path_buf(),
                    offset: e.offset().unwrap_or(0),
                    what: e.message().to_string(),
                });
            }
        }
        done += data_end;
        progress(done, total);
    }
    Ok(report)
}
