//! `logstore replay`: every record of a range of positions, in order, in
//! one of four formats.

use std::io::{BufWriter, Write};

use base64::Engine as _;

use crate::cli::{ReplayArgs, ReplayFormat};
use crate::error::{CliError, CliResult};
use crate::{open, source};

pub fn run(a: ReplayArgs) -> CliResult {
    let log = source::reader(&a.dir, a.log)?;
    let (first, next) = log.range()?;
    let from = a.from.unwrap_or(first);
    if from < first || from > next {
        return Err(open::out_of_range("--from", from, first, next));
    }
    let to = a.to.unwrap_or(next);
    if to < from {
        return Err(CliError::Usage(format!(
            "--to {to} is before --from {from}"
        )));
    }
    let to = to.min(next);
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut failed = None;
    log.replay(from, |position, record| {
        if position >= to {
            return false;
        }
        match write_record(&mut out, a.format, position, record) {
            Ok(()) => true,
            Err(e) => {
                failed = Some(e);
                false
            }
        }
    })
    .map_err(|e| open::explain(&a.dir, e))?;
    if let Some(e) = failed {
        return Err(e.into());
    }
    out.flush()?;
    Ok(())
}

/// Writes one record in `format`.
fn write_record(
    out: &mut impl Write,
    format: ReplayFormat,
    position: u64,
    record: &[u8],
) -> std::io::Result<()> {
    match format {
        ReplayFormat::Raw => out.write_all(record),
        ReplayFormat::Hex => {
            write!(out, "{position} ")?;
            for b in record {
                write!(out, "{b:02x}")?;
            }
            writeln!(out)
        }
        ReplayFormat::Json => {
            let data = base64::engine::general_purpose::STANDARD.encode(record);
            let line = serde_json::json!({
                "position": position,
                "length": record.len(),
                "data": data,
            });
            writeln!(out, "{line}")
        }
        ReplayFormat::Lengths => writeln!(out, "{position} {}", record.len()),
    }
}
