//! `logstore truncate`: drop records from the front (`--before`) or the
//! back (`--from`), and say how much disk space came back.

use std::io::Write;

use logstore::{Log, Options};

use crate::cli::TruncateArgs;
use crate::error::{CliError, CliResult};
use crate::{human, open};

pub fn run(a: TruncateArgs) -> CliResult {
    let log = open::writer(&a.dir, Options::default())?;
    let before = log.stats()?;
    let (first, next) = (before.first_position, before.next_position);
    let dropped = match (a.before, a.from) {
        (Some(p), _) => front(&log, p, first, next)?,
        (None, Some(p)) => back(&log, p, first, next)?,
        (None, None) => unreachable!("clap requires --before or --from"),
    };
    log.wait_reclaimed();
    let after = log.stats()?;
    log.close()?;
    let mut out = std::io::stdout().lock();
    match dropped {
        Some((from, to)) => writeln!(
            out,
            "dropped {} record{} (positions {from}..{to})",
            to - from,
            if to - from == 1 { "" } else { "s" }
        ),
        None => writeln!(out, "nothing to drop"),
    }?;
    writeln!(out, "first position  {}", after.first_position)?;
    writeln!(out, "next position   {}", after.next_position)?;
    let returned = before.disk_bytes.saturating_sub(after.disk_bytes);
    writeln!(
        out,
        "returned to the file system: {returned} bytes ({}); on disk {} -> {}",
        human::bytes(returned),
        human::bytes(before.disk_bytes),
        human::bytes(after.disk_bytes)
    )?;
    Ok(())
}

/// Drops the records before `p`; returns the positions dropped.
fn front(log: &Log, p: u64, first: u64, next: u64) -> CliResult<Option<(u64, u64)>> {
    if p > next {
        return Err(CliError::failed(format!(
            "--before {p} is out of range: {}; --before accepts {first} to {next}",
            open::valid_range(first, next)
        )));
    }
    if p <= first {
        return Ok(None);
    }
    log.truncate_front(p)?;
    Ok(Some((first, p)))
}

/// Drops `p` and the records after it; returns the positions dropped.
fn back(log: &Log, p: u64, first: u64, next: u64) -> CliResult<Option<(u64, u64)>> {
    if p < first || p > next {
        return Err(CliError::failed(format!(
            "--from {p} is out of range: {}; --from accepts {first} to {next}",
            open::valid_range(first, next)
        )));
    }
    if p == next {
        return Ok(None);
    }
    log.truncate_back(p)?;
    Ok(Some((p, next)))
}
