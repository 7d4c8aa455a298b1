//! The rules that logstore's fuzzers check, shared by the coverage-guided
//! targets in `fuzz/` and by the stable fuzz and corpus-replay tests in
//! `crates/logstore/tests/`, so that both check exactly the same things.
//!
//! - [`check_image`]: a directory image (segment, index and meta files) is
//!   opened strictly and tolerantly on the simulated file system; every
//!   record it yields is a checksummed frame present in a segment file,
//!   errors are the documented kinds, and the log takes appends and
//!   survives a reopen.
//! - [`check_ops`]: a sequence of operations with a power cut after a
//!   chosen number of mutating file-system calls, checked against a model
//!   of what was acknowledged.
//!
//! Each check returns `Err` naming the rule broken; a panic inside the
//! engine is left to the caller (the fuzz targets let it abort, the
//! stable tests catch it).

#![warn(missing_docs)]

mod image;
mod ops;
mod source;

pub use image::{
    check_image, decode_directory, encode_directory, fixture, segment_image, Image, SEGMENT_SLOTS,
};
pub use ops::{check_ops, OpsStats};
pub use source::{payload, ByteSource, Source};
