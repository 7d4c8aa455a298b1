//! `logstore tail`: the last records, one per line, and with `--follow`
//! the records another process appends, as they arrive.
//!
//! The log is opened read-only (no writer lock), so the writer keeps
//! running; the library's blocking wait picks up its appends and
//! truncations.

use std::io::{BufWriter, Write};
use std::time::Duration;

use logstore::{ErrorKind, Log};

use crate::cli::TailArgs;
use crate::error::{CliError, CliResult};
use crate::{open, source};

/// Records shown when `--from` is not given.
const DEFAULT_COUNT: u64 = 10;

pub fn run(a: TailArgs) -> CliResult {
    if let Some(id) = a.log {
        return store_log(&a, id);
    }
    let log = open::reader(&a.dir)?;
    let (first, next) = (log.first_position(), log.next_position());
    let from = a
        .from
        .unwrap_or_else(|| next.saturating_sub(DEFAULT_COUNT).max(first));
    if from < first || from > next {
        return Err(open::out_of_range("--from", from, first, next));
    }
    if a.follow {
        follow(&log, from)
    } else {
        print_until(&log, from, next)
    }
}

/// The last records of one log of a store. `--follow` needs a handle that
/// sees another process's appends, which a store does not have yet.
fn store_log(a: &TailArgs, id: u64) -> CliResult {
    if a.follow {
        return Err(CliError::failed(
            "--follow is not supported with --log: a store is read as it is when opened",
        ));
    }
    let log = source::reader(&a.dir, Some(id))?;
    let (first, next) = log.range()?;
    let from = a
        .from
        .unwrap_or_else(|| next.saturating_sub(DEFAULT_COUNT).max(first));
    if from < first || from > next {
        return Err(open::out_of_range("--from", from, first, next));
    }
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut failed = None;
    log.replay(from, |_, record| {
        let r = out.write_all(record).and_then(|()| out.write_all(b"\n"));
        failed = r.err();
        failed.is_none()
    })
    .map_err(|e| open::explain(&a.dir, e))?;
    if let Some(e) = failed {
        return Err(e.into());
    }
    out.flush()?;
    Ok(())
}

fn print_until(log: &Log, from: u64, end: u64) -> CliResult {
    let mut out = BufWriter::new(std::io::stdout().lock());
    for item in log.iter(from) {
        let (position, record) = item.map_err(|e| open::explain(log.dir(), e))?;
        if position >= end {
            break;
        }
        out.write_all(&record)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

fn follow(log: &Log, from: u64) -> CliResult {
    let mut out = std::io::stdout().lock();
    let mut records = log.iter(from);
    loop {
        match records.next_timeout(Duration::from_secs(1)) {
            Some(Ok((_, record))) => {
                out.write_all(&record)?;
                out.write_all(b"\n")?;
                out.flush()?;
            }
            None => {}
            Some(Err(e)) if e.kind() == ErrorKind::Truncated => {
                // The writer dropped records we had not printed yet: go on
                // from its new first position.
                let first = log.first_position();
                let _ = writeln!(
                    std::io::stderr(),
                    "logstore: note: positions {}..{first} were truncated before they were shown",
                    records.position()
                );
                records = log.iter(first);
            }
            Some(Err(e)) => return Err(open::explain(log.dir(), e)),
        }
    }
}
