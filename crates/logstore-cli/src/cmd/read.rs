//! `logstore read`: one record's bytes to stdout.

use std::io::Write;

use logstore::ErrorKind;

use crate::cli::ReadArgs;
use crate::error::CliResult;
use crate::open;

pub fn run(a: ReadArgs) -> CliResult {
    let log = open::reader(&a.dir)?;
    let record = log.read(a.position).map_err(|e| match e.kind() {
        ErrorKind::OutOfRange | ErrorKind::Truncated => open::out_of_range(
            "position",
            a.position,
            log.first_position(),
            log.next_position(),
        ),
        _ => open::explain(&a.dir, e),
    })?;
    let mut out = std::io::stdout().lock();
    out.write_all(&record)?;
    out.flush()?;
    Ok(())
}
