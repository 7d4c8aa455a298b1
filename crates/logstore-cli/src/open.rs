//! Opening a log for a subcommand, and turning the library's errors into
//! messages that say what to do next.

use std::io::Write;
use std::path::Path;

use logstore::{ErrorKind, Log, Options};

use crate::error::{CliError, CliResult};

/// Opens an existing log read-only: no writer lock is taken, so this works
/// while another process writes the log.
pub fn reader(dir: &Path) -> CliResult<Log> {
    existing_dir(dir)?;
    let log = Log::open(dir, Options::default().read_only(true).create(false))
        .map_err(|e| explain(dir, e))?;
    if let Some(torn) = log.recovery_report().torn_tail {
        // A read-only handle leaves the files alone, so this is seen each
        // time until a writer opens the log (and cuts it).
        let _ = writeln!(
            std::io::stderr(),
            "logstore: note: ignoring {} bytes at the end of {} from byte {} ({}): \
             an incomplete append, left by a crash or a write in progress; \
             the log is read up to position {}",
            torn.bytes,
            torn.segment.display(),
            torn.offset,
            torn.reason,
            torn.from_position
        );
    }
    Ok(log)
}

/// Opens an existing log for writing (takes the writer lock).
pub fn writer(dir: &Path, options: Options) -> CliResult<Log> {
    existing_dir(dir)?;
    Log::open(dir, options.create(false)).map_err(|e| explain(dir, e))
}

pub fn existing_dir(dir: &Path) -> CliResult<()> {
    if dir.is_dir() {
        Ok(())
    } else if dir.exists() {
        Err(CliError::failed(format!(
            "{} is not a directory",
            dir.display()
        )))
    } else {
        Err(CliError::failed(format!(
            "no log at {}: no such directory",
            dir.display()
        )))
    }
}

/// A library error, with a hint for the cases an operator can act on.
pub fn explain(dir: &Path, e: logstore::Error) -> CliError {
    let d = dir.display();
    let hint = match e.kind() {
        ErrorKind::Locked => "; stop the writer first (stat, read, replay, tail and \
                              verify work while it runs)"
            .to_string(),
        ErrorKind::Corruption
            if e.path()
                .and_then(|p| p.file_name())
                .is_some_and(|n| n == "logstore.meta") =>
        {
            format!("; run `logstore repair {d}` to rebuild it")
        }
        ErrorKind::Corruption => format!(
            "; run `logstore verify {d}` for a full report and `logstore repair {d}` \
             to cut the log at the damage"
        ),
        _ => String::new(),
    };
    CliError::failed(format!("{e}{hint}"))
}

/// The error for a position outside `first..next`, naming the valid range.
pub fn out_of_range(what: &str, position: u64, first: u64, next: u64) -> CliError {
    CliError::failed(format!(
        "{what} {position} is out of range: {}",
        valid_range(first, next)
    ))
}

/// "the log holds positions 3..10 (3 to 9)" or "the log is empty ...".
pub fn valid_range(first: u64, next: u64) -> String {
    if first == next {
        format!("the log holds no records (its next position is {next})")
    } else {
        format!(
            "the log holds positions {first}..{next} ({first} to {})",
            next - 1
        )
    }
}
