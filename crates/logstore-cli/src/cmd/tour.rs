//! `logstore tour`: the product in 30 seconds. Concurrent durable appends
//! of small and multi-MiB records, positions, truncation of the front with
//! the disk space given back, replay, and reopening, each step explained.
//!
//! Running it again on the same directory continues the same log: the
//! positions go on where the last run stopped, and the truncation drops
//! what the earlier runs left, so the directory does not grow.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use logstore::{Log, Options, SyncPolicy};

use crate::cli::TourArgs;
use crate::error::{CliError, CliResult};
use crate::{human, open};

const THREADS: usize = 4;
/// Small records per thread, half before and half after its large one.
const SMALL_PER_THREAD: usize = 250;
const LARGE: usize = 3 << 20;
/// Large records that end up before the truncation point.
const LARGE_DROPPED: usize = 3;
const SEGMENT_SIZE: u64 = 8 << 20;

/// What one appending thread got.
struct Appended {
    positions: Vec<u64>,
    large: u64,
}

pub fn run(a: TourArgs) -> CliResult {
    let out = &mut std::io::stdout().lock();
    let dir = a.dir.as_path();
    let opts = Options::default()
        .sync_policy(SyncPolicy::Always)
        .segment_size(SEGMENT_SIZE);
    writeln!(
        out,
        "logstore tour: an embedded, durable, append-only log, in {}\n",
        dir.display()
    )?;

    let log = Arc::new(Log::open(dir, opts.clone()).map_err(|e| open::explain(dir, e))?);
    step_open(out, &log)?;
    let appended = step_append(out, &log)?;
    let before = log.stats()?;
    let ahead = if before.disk_bytes > before.retained_bytes + (64 << 10) {
        "\nthe extra space is zeros written ahead of the data (at most 1.5 MiB),\n\
         so that the sync after an append overwrites instead of growing the file"
    } else {
        ""
    };
    step(
        out,
        "stat",
        &format!(
            "positions {}: {} of records kept, {} on disk, in {} segment files{ahead}",
            human::positions(before.first_position, before.next_position),
            human::bytes(before.retained_bytes),
            human::bytes(before.disk_bytes),
            before.segments.len()
        ),
    )?;
    let cut = step_truncate(out, &log, &appended, before.disk_bytes)?;
    step_replay(out, &log, cut)?;
    log.close()?;
    drop(log);
    step_reopen(out, dir, opts, cut)?;
    writeln!(
        out,
        "\ntry next (in the source tree, `logstore` is `cargo run --release --`):\n  \
         logstore stat {d}\n  \
         logstore replay {d} --format lengths | head\n  \
         logstore --help",
        d = dir.display()
    )?;
    Ok(())
}

/// Prints a step: its name in a column, then its lines.
fn step(out: &mut impl Write, name: &str, text: &str) -> std::io::Result<()> {
    for (i, line) in text.lines().enumerate() {
        let label = if i == 0 { name } else { "" };
        writeln!(out, "{label:<10}{line}")?;
    }
    Ok(())
}

fn step_open(out: &mut impl Write, log: &Log) -> std::io::Result<()> {
    let (first, next) = (log.first_position(), log.next_position());
    let text = if next == 0 {
        "a new, empty log: the first record will get position 0".to_string()
    } else {
        format!(
            "the log an earlier run left: positions {}; appends continue at {next}",
            human::positions(first, next)
        )
    };
    step(out, "open", &text)?;
    if let Some(torn) = log.recovery_report().torn_tail {
        step(
            out,
            "",
            &format!(
                "(a crash had left an incomplete append; {} bytes were cut at position {})",
                torn.bytes, torn.from_position
            ),
        )?;
    }
    Ok(())
}

fn step_append(out: &mut impl Write, log: &Arc<Log>) -> CliResult<Vec<Appended>> {
    let start = Instant::now();
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || append_mix(&log, t))
        })
        .collect();
    let mut appended = Vec::new();
    for t in threads {
        appended.push(
            t.join()
                .map_err(|_| CliError::failed("an appending thread panicked"))??,
        );
    }
    let elapsed = start.elapsed().as_secs_f64();
    let count: usize = appended.iter().map(|a| a.positions.len()).sum();
    let mut text = format!(
        "{THREADS} threads append at once, each {SMALL_PER_THREAD} small records and one of {}\n\
         each append returns once its record is on disk (fsync; threads share the syncs)\n\
         {count} records in {elapsed:.2} s; positions are given in order and never reused:",
        human::bytes(LARGE as u64)
    );
    for (t, a) in appended.iter().enumerate() {
        let some: Vec<String> = a.positions.iter().take(5).map(u64::to_string).collect();
        text += &format!(
            "\n  thread {t}: {}, ...  its {} record is at {}",
            some.join(", "),
            human::bytes(LARGE as u64),
            a.large
        );
    }
    step(out, "append", &text)?;
    Ok(appended)
}

/// One thread's appends: small records, its large one, small records.
fn append_mix(log: &Log, t: usize) -> logstore::Result<Appended> {
    let mut positions = Vec::new();
    for i in 0..SMALL_PER_THREAD / 2 {
        positions.push(log.append(format!("thread {t} record {i}").as_bytes())?);
    }
    let large = log.append(&vec![b'a' + t as u8; LARGE])?;
    positions.push(large);
    for i in SMALL_PER_THREAD / 2..SMALL_PER_THREAD {
        positions.push(log.append(format!("thread {t} record {i}").as_bytes())?);
    }
    Ok(Appended { positions, large })
}

/// Truncates the front just after the `LARGE_DROPPED`th large record, so
/// that several MiB (and all that earlier runs left) are dropped.
fn step_truncate(
    out: &mut impl Write,
    log: &Log,
    appended: &[Appended],
    disk_before: u64,
) -> CliResult<u64> {
    let mut large: Vec<u64> = appended.iter().map(|a| a.large).collect();
    large.sort_unstable();
    let cut = large[LARGE_DROPPED - 1] + 1;
    let first = log.first_position();
    log.truncate_front(cut)?;
    log.wait_reclaimed();
    let after = log.stats()?;
    let back = disk_before.saturating_sub(after.disk_bytes);
    step(
        out,
        "truncate",
        &format!(
            "truncate_front({cut}) drops the {} records before {cut}, {LARGE_DROPPED} large ones among them\n\
             nothing is copied: whole segment files are deleted, the rest is punched out\n\
             on disk: {} -> {}, {} given back to the file system",
            cut - first,
            human::bytes(disk_before),
            human::bytes(after.disk_bytes),
            human::bytes(back)
        ),
    )?;
    Ok(cut)
}

fn step_replay(out: &mut impl Write, log: &Log, cut: u64) -> CliResult {
    // The first few records, every large one, and the last.
    let mut shown = Vec::new();
    let mut last = None;
    let mut count = 0u64;
    let mut bytes = 0u64;
    log.replay(cut, |position, record| {
        count += 1;
        bytes += record.len() as u64;
        if shown.len() < 3 || record.len() == LARGE {
            shown.push((position, show(record)));
        } else {
            last = Some((position, show(record)));
        }
        true
    })?;
    shown.extend(last);
    let mut text = format!(
        "replay({cut}) reads what is left, in position order: {count} records, {}",
        human::bytes(bytes)
    );
    let mut previous = None;
    for (position, record) in shown {
        if previous.is_some_and(|p: u64| p + 1 != position) {
            text += "\n       ...";
        }
        text += &format!("\n  {position:>6}  {record}");
        previous = Some(position);
    }
    step(out, "replay", &text)?;
    Ok(())
}

/// A record for people: its text, or its size and first byte.
fn show(record: &[u8]) -> String {
    match std::str::from_utf8(record) {
        Ok(text) if record.len() <= 64 => format!("{text:?}"),
        _ => format!(
            "({}, every byte {:?})",
            human::bytes(record.len() as u64),
            record[0] as char
        ),
    }
}

fn step_reopen(out: &mut impl Write, dir: &Path, opts: Options, cut: u64) -> CliResult {
    let log = Log::open(dir, opts).map_err(|e| open::explain(dir, e))?;
    let text = format!(
        "closed and opened again, as after a restart: positions {}\n\
         read({cut}) = {}",
        human::positions(log.first_position(), log.next_position()),
        show(&log.read(cut)?)
    );
    log.close()?;
    step(out, "reopen", &text)?;
    Ok(())
}
