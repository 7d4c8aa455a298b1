//! `logstore verify`: read every segment, check every checksum, length,
//! header and index, and report each problem with its file and offset.

use std::io::{IsTerminal, Write};

use indicatif::{ProgressBar, ProgressStyle};
use logstore::{ErrorKind, Log, Options};

use crate::cli::DirArg;
use crate::error::{CliError, CliResult};
use crate::{human, open};

pub fn run(a: DirArg) -> CliResult {
    open::existing_dir(&a.dir)?;
    let mut out = std::io::stdout().lock();
    let log = match Log::open(&a.dir, Options::default().read_only(true).create(false)) {
        Ok(log) => log,
        Err(e) if e.kind() == ErrorKind::Corruption => {
            // Damage in the files read at open (a header, a missing
            // segment): nothing further can be checked.
            let path = e.path().unwrap_or(&a.dir).display();
            let offset = e.offset().unwrap_or(0);
            writeln!(out, "damage: {path} at byte {offset}: {}", e.message())?;
            writeln!(
                out,
                "{}: 1 problem found; the log cannot be opened",
                a.dir.display()
            )?;
            return Err(CliError::Damage);
        }
        Err(e) => return Err(open::explain(&a.dir, e)),
    };
    if let Some(torn) = log.recovery_report().torn_tail {
        // Where a crash (or a write in progress) leaves an incomplete
        // append; by design not damage. A writer's open cuts it.
        writeln!(
            out,
            "note: {} from byte {}: {} bytes of an incomplete append ({}), \
             as a crash or a write in progress leaves; not counted as damage: \
             the next writer cuts them (`logstore repair` keeps a copy)",
            torn.segment.display(),
            torn.offset,
            torn.bytes,
            torn.reason
        )?;
    }
    let bar = progress_bar();
    let report = log.verify(|done, total| {
        bar.set_length(total);
        bar.set_position(done);
    });
    bar.finish_and_clear();
    let report = report.map_err(|e| open::explain(&a.dir, e))?;
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
        a.dir.display(),
        human::count(report.segments, "segment"),
        human::count(report.records, "record"),
        human::bytes(report.bytes)
    );
    match report.problems.len() {
        0 => {
            writeln!(out, "{summary}: clean")?;
            Ok(())
        }
        n => {
            let s = if n == 1 { "" } else { "s" };
            writeln!(out, "{summary}: {n} problem{s} found")?;
            writeln!(
                out,
                "run `logstore repair {}` to see how the log would be cut at the first damage",
                a.dir.display()
            )?;
            Err(CliError::Damage)
        }
    }
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
