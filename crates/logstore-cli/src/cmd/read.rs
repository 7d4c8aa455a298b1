//! `logstore read`: one record's bytes to stdout.

use std::io::Write;

use logstore::ErrorKind;

use crate::cli::ReadArgs;
use crate::error::CliResult;
use crate::{open, source};

pub fn run(a: ReadArgs) -> CliResult {
    let log = source::reader(&a.dir, a.log)?;
    let record = log
        .read(a.position)
        .map_err(|e| match (e.kind(), log.range()) {
            (ErrorKind::OutOfRange | ErrorKind::Truncated, Ok((first, next))) => {
                open::out_of_range("position", a.position, first, next)
            }
            _ => open::explain(&a.dir, e),
        })?;
    let mut out = std::io::stdout().lock();
    out.write_all(&record)?;
    out.flush()?;
    Ok(())
}
