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
use crate::error::CliResult;
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

/// The last records of one log of a store, and with `--follow` those its
/// writer appends: the read-only store is refreshed to see them.
fn store_log(a: &TailArgs, id: u64) -> CliResult {
    let store = source::store(&a.dir, false)?;
    let log = store
        .log(id)
        .map_err(|_| source::no_log(&a.dir, &store, id))?;
    let explain = |e| open::explain(&a.dir, e);
    let (first, next) = (
        log.first_position().map_err(explain)?,
        log.next_position().map_err(explain)?,
    );
    let from = a
        .from
        .unwrap_or_else(|| next.saturating_sub(DEFAULT_COUNT).max(first));
    if from < first || from > next {
        return Err(open::out_of_range("--from", from, first, next));
    }
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut at = from;
    loop {
        for item in log.iter(at) {
            match item {
                Ok((position, record)) => {
                    out.write_all(&record)?;
                    out.write_all(b"\n")?;
                    at = position + 1;
                }
                Err(e) if a.follow && e.kind() == ErrorKind::Truncated => {
                    let first = log.first_position().map_err(explain)?;
                    let _ = writeln!(
                        std::io::stderr(),
                        "logstore: note: positions {at}..{first} were truncated before they were shown"
                    );
                    at = first;
                    break;
                }
                Err(e) => return Err(explain(e)),
            }
        }
        out.flush()?;
        if !a.follow {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
        store.refresh().map_err(explain)?;
        // Cut back by the writer below what was shown: go on from there.
        at = at.min(log.next_position().map_err(explain)?);
    }
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
