//! `logstore truncate`: drop records from the front (`--before`) or the
//! back (`--from`), and say how much disk space came back.

use std::io::Write;

use logstore::Options;

/// A truncation of a log or of a store's log, at a position.
type Cut<'a> = dyn Fn(u64) -> logstore::Result<()> + 'a;

use crate::cli::TruncateArgs;
use crate::error::{CliError, CliResult};
use crate::{human, open, source};

pub fn run(a: TruncateArgs) -> CliResult {
    if let Some(id) = a.log {
        return store_log(&a, id);
    }
    source::refuse_store(&a.dir, "name the log to truncate with --log ID")?;
    let log = open::writer(&a.dir, Options::default())?;
    let before = log.stats()?;
    let (first, next) = (before.first_position, before.next_position);
    let dropped = match (a.before, a.from) {
        (Some(p), _) => front(&|p| log.truncate_front(p), p, first, next)?,
        (None, Some(p)) => back(&|p| log.truncate_back(p), p, first, next)?,
        (None, None) => unreachable!("clap requires --before or --from"),
    };
    log.wait_reclaimed();
    let after = log.stats()?;
    log.close()?;
    report(
        dropped,
        (after.first_position, after.next_position),
        before.disk_bytes,
        after.disk_bytes,
    )
}

/// Truncates log `id` of the store, then compacts the store.
fn store_log(a: &TruncateArgs, id: u64) -> CliResult {
    let store = source::store(&a.dir, true)?;
    let log = store
        .log(id)
        .map_err(|_| source::no_log(&a.dir, &store, id))?;
    let disk_before = store.stats()?.shared.disk_bytes;
    let (first, next) = (log.first_position()?, log.next_position()?);
    let dropped = match (a.before, a.from) {
        (Some(p), _) => front(&|p| log.truncate_front(p), p, first, next)?,
        (None, Some(p)) => back(&|p| log.truncate_back(p), p, first, next)?,
        (None, None) => unreachable!("clap requires --before or --from"),
    };
    store.compact()?;
    store.wait_reclaimed();
    let disk_after = store.stats()?.shared.disk_bytes;
    let range = (log.first_position()?, log.next_position()?);
    drop(log);
    store.close()?;
    report(dropped, range, disk_before, disk_after)
}

fn report(
    dropped: Option<(u64, u64)>,
    (first, next): (u64, u64),
    disk_before: u64,
    disk_after: u64,
) -> CliResult {
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
    writeln!(out, "first position  {first}")?;
    writeln!(out, "next position   {next}")?;
    let returned = disk_before.saturating_sub(disk_after);
    writeln!(
        out,
        "returned to the file system: {returned} bytes ({}); on disk {} -> {}",
        human::bytes(returned),
        human::bytes(disk_before),
        human::bytes(disk_after)
    )?;
    Ok(())
}

/// Drops the records before `p`; returns the positions dropped.
fn front(cut: &Cut<'_>, p: u64, first: u64, next: u64) -> CliResult<Option<(u64, u64)>> {
    if p > next {
        return Err(CliError::failed(format!(
            "--before {p} is out of range: {}; --before accepts {first} to {next}",
            open::valid_range(first, next)
        )));
    }
    if p <= first {
        return Ok(None);
    }
    cut(p)?;
    Ok(Some((first, p)))
}

/// Drops `p` and the records after it; returns the positions dropped.
fn back(cut: &Cut<'_>, p: u64, first: u64, next: u64) -> CliResult<Option<(u64, u64)>> {
    if p < first || p > next {
        return Err(CliError::failed(format!(
            "--from {p} is out of range: {}; --from accepts {first} to {next}",
            open::valid_range(first, next)
        )));
    }
    if p == next {
        return Ok(None);
    }
    cut(p)?;
    Ok(Some((p, next)))
}
