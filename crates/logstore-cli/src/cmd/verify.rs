//! `logstore verify`: read every segment, check every checksum, length,
//! header and index, and report each problem with its file and offset.

use std::io::{IsTerminal, Write};

use indicatif::{ProgressBar, ProgressStyle};
use std::path::Path;

use logstore::{ErrorKind, Log, Options, VerifyReport};

use crate::cli::VerifyArgs;
use crate::error::{CliError, CliResult};
use crate::{human, open};

pub fn run(a: VerifyArgs) -> CliResult {
    open::existing_dir(&a.dir)?;
    let mut out = std::io::stdout().lock();
    let log = open_or_report(&mut out, &a.dir)?;
    note_torn_tail(&mut out, &log)?;
    let bar = progress_bar();
    let report = log.verify(|done, total| {
        bar.set_length(total);
        bar.set_position(done);
    });
    bar.finish_and_clear();
    let report = report.map_err(|e| open::explain(&a.dir, e))?;
    print_report(&mut out, &a.dir, &report)?;
    drop(log);
    if a.store {
        verify_store(&mut out, &a.dir)?;
    }
    Ok(())
}

/// Opens the store (from its checkpoint, or by replaying every entry,
/// which checks that every log has its description and every kept position
/// its entry), then checks that every record of every log is where the
/// store holds it (`Store::verify`: each segment read once).
fn verify_store(out: &mut impl Write, dir: &Path) -> CliResult {
    let log = Options::default().read_only(true).create(false);
    let store = match logstore::Store::open(dir, logstore::StoreOptions::default().log_options(log))
    {
        Ok(store) => store,
        Err(e) if e.kind() == ErrorKind::Corruption => {
            writeln!(out, "damage: the store cannot be opened: {e}")?;
            return Err(CliError::Damage);
        }
        Err(e) => return Err(open::explain(dir, e)),
    };
    let logs = store.logs().len() as u64;
    let records = match store.verify() {
        Ok(n) => n,
        Err(e) if e.kind() == ErrorKind::Corruption => {
            writeln!(out, "damage: {e}")?;
            return Err(CliError::Damage);
        }
        Err(e) => return Err(open::explain(dir, e)),
    };
    writeln!(
        out,
        "{}: store of {}, {}: clean",
        dir.display(),
        human::count(logs, "log"),
        human::count(records, "record")
    )?;
    Ok(())
}

/// Opens the log read-only. Damage found while opening (a header, a
/// missing segment) is reported as damage: nothing further can be checked.
fn open_or_report(out: &mut impl Write, dir: &Path) -> CliResult<Log> {
    match Log::open(dir, Options::default().read_only(true).create(false)) {
        Ok(log) => Ok(log),
        Err(e) if e.kind() == ErrorKind::Corruption => {
            let path = e.path().unwrap_or(dir).display();
            let offset = e.offset().unwrap_or(0);
            writeln!(out, "damage: {path} at byte {offset}: {}", e.message())?;
            writeln!(
                out,
                "{}: 1 problem found; the log cannot be opened",
                dir.display()
            )?;
            Err(CliError::Damage)
        }
        Err(e) => Err(open::explain(dir, e)),
    }
}

/// An incomplete append at the end of the last segment is what a crash or
/// a write in progress leaves: by design not damage (a writer's open cuts
/// it), but worth a line.
fn note_torn_tail(out: &mut impl Write, log: &Log) -> std::io::Result<()> {
    let Some(torn) = log.recovery_report().torn_tail else {
        return Ok(());
    };
    writeln!(
        out,
        "note: {} from byte {}: {} bytes of an incomplete append ({}), \
         as a crash or a write in progress leaves; not counted as damage: \
         the next writer cuts them (`logstore repair` keeps a copy)",
        torn.segment.display(),
        torn.offset,
        torn.bytes,
        torn.reason
    )
}

fn print_report(out: &mut impl Write, dir: &Path, report: &VerifyReport) -> CliResult {
    for p in &report.problems {
        writeln!(
            out,
            "damage: {} at byte {}: {}",
            p.path.display(),
            p.offset,
            p.what
        )?;
    }
    let summary = format!(
        "{}: checked {}, {}, {}",
        dir.display(),
        human::count(report.segments, "segment"),
        human::count(report.records, "record"),
        human::bytes(report.bytes)
    );
    if report.problems.is_empty() {
        writeln!(out, "{summary}: clean")?;
        return Ok(());
    }
    let n = report.problems.len() as u64;
    writeln!(out, "{summary}: {} found", human::count(n, "problem"))?;
    writeln!(
        out,
        "run `logstore repair {}` to see how the log would be cut at the first damage",
        dir.display()
    )?;
    Err(CliError::Damage)
}

/// A progress bar when stdout is a terminal; a hidden one otherwise, so
/// that scripts and pipes get only the report.
fn progress_bar() -> ProgressBar {
    if !std::io::stdout().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(0), indicatif::ProgressDrawTarget::stdout());
    if let Ok(style) =
        ProgressStyle::with_template("verifying {bar:40} {bytes}/{total_bytes} ({eta})")
    {
        bar.set_style(style);
    }
    bar
}
