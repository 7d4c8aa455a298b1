//! `logstore repair`: tolerant recovery. The log is cut at its first
//! damage; the bytes cut are first copied, and synced, into a backup
//! directory beside the log (`DIR.repair-backup`), outside the log
//! directory so that the log does not see them as unknown files.
//!
//! Steps: plan (a read-only tolerant open says where it would cut), back
//! up, cut (a writable tolerant open), verify.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use logstore::{Cut, Log, Options, Recovery};

use crate::cli::RepairArgs;
use crate::error::{CliError, CliResult};
use crate::{human, open};

pub fn run(a: RepairArgs) -> CliResult {
    open::existing_dir(&a.dir)?;
    let mut out = std::io::stdout().lock();
    let Some(meta_rebuilt) = repair_meta(&mut out, &a)? else {
        return Ok(());
    };
    let plan = cuts(&open_tolerant(&a.dir, true)?);
    if plan.is_empty() && meta_rebuilt {
        writeln!(out, "{}: no damage found in the segments", a.dir.display())?;
        return Ok(());
    }
    if plan.is_empty() {
        writeln!(
            out,
            "{}: no damage found, nothing to repair",
            a.dir.display()
        )?;
        return Ok(());
    }
    let backup_dir = backup_dir(&a.dir)?;
    for cut in &plan {
        describe(&mut out, cut)?;
    }
    if a.yes {
        apply(&mut out, &a.dir, &plan, &backup_dir)
    } else {
        writeln!(
            out,
            "nothing changed; run `logstore repair {} --yes` to cut the log \
             (the cut bytes are kept in {})",
            a.dir.display(),
            backup_dir.display()
        )?;
        Ok(())
    }
}

/// A damaged or missing meta file makes the log unopenable: it is rebuilt
/// first (with `--yes`, after a backup of the damaged file). Returns
/// whether it was rebuilt, or `None` if the repair stops here (without
/// `--yes`).
fn repair_meta(out: &mut impl Write, a: &RepairArgs) -> CliResult<Option<bool>> {
    let explain = |e| open::explain(&a.dir, e);
    let Some(plan) = Log::repair_meta(&a.dir, Options::default(), false).map_err(explain)? else {
        return Ok(Some(false));
    };
    writeln!(out, "damage: {}: {}", plan.path.display(), plan.problem)?;
    let at = match &plan.first_segment {
        Some(seg) => format!("{} at byte {}", seg.display(), plan.first_offset),
        None => "no segment yet".to_string(),
    };
    writeln!(
        out,
        "repair rebuilds it from the segment headers: log identity {}, \
         first position {} ({at})",
        plan.log_id, plan.first_position
    )?;
    writeln!(
        out,
        "note: the first position is that of the first record on disk: records dropped \
         from the front whose bytes were not yet given back reappear; run \
         `logstore truncate {} --before P` again if they must stay gone",
        a.dir.display()
    )?;
    let backup_dir = backup_dir(&a.dir)?;
    if !a.yes {
        writeln!(
            out,
            "nothing changed; run `logstore repair {} --yes` to rebuild it \
             (the damaged file is kept in {})",
            a.dir.display(),
            backup_dir.display()
        )?;
        return Ok(None);
    }
    if plan.path.exists() {
        let fail = |path: &Path, e: std::io::Error| {
            CliError::failed(format!(
                "backup failed, nothing was changed: {}: {e}",
                path.display()
            ))
        };
        std::fs::create_dir_all(&backup_dir).map_err(|e| fail(&backup_dir, e))?;
        let target = unused_name(&backup_dir, &plan.path, 0);
        let bytes = copy_from(&plan.path, 0, &target).map_err(|e| fail(&target, e))?;
        File::open(&backup_dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| fail(&backup_dir, e))?;
        writeln!(out, "backup: {} ({bytes} bytes)", target.display())?;
    }
    match Log::repair_meta(&a.dir, Options::default(), true).map_err(explain)? {
        Some(done) => writeln!(
            out,
            "rebuilt: {} (first position {})",
            done.path.display(),
            done.first_position
        )?,
        None => writeln!(out, "the meta file was rebuilt meanwhile; left alone")?,
    }
    Ok(Some(true))
}

/// Backs up, cuts (a writable tolerant open), and verifies the result.
fn apply(out: &mut impl Write, dir: &Path, plan: &[Cut], backup_dir: &Path) -> CliResult {
    for (path, bytes) in back_up(plan, backup_dir)? {
        writeln!(out, "backup: {} ({bytes} bytes)", path.display())?;
    }
    let log = open_tolerant(dir, false).map_err(|e| match e {
        CliError::Failed(msg) => CliError::Failed(format!(
            "{msg}\nnothing was cut; the backup files above are only a copy"
        )),
        other => other,
    })?;
    for cut in cuts(&log) {
        if !plan.contains(&cut) {
            writeln!(
                out,
                "warning: the log changed since it was examined; cut instead at {} byte {} \
                 (the backup may not hold exactly these bytes)",
                cut.segment.display(),
                cut.offset
            )?;
        }
        writeln!(
            out,
            "cut: positions from {} on dropped, {} bytes",
            cut.from_position, cut.bytes
        )?;
    }
    let report = log.verify(|_, _| {})?;
    let (first, next) = (log.first_position(), log.next_position());
    log.close()?;
    writeln!(out, "the log now holds {}", human::positions(first, next))?;
    if report.problems.is_empty() {
        writeln!(out, "verify: clean")?;
        return Ok(());
    }
    for p in &report.problems {
        writeln!(
            out,
            "damage: {} at byte {}: {}",
            p.path.display(),
            p.offset,
            p.what
        )?;
    }
    Err(CliError::Damage)
}

fn open_tolerant(dir: &Path, read_only: bool) -> CliResult<Log> {
    let opts = Options::default()
        .create(false)
        .read_only(read_only)
        .recovery(Recovery::Tolerant);
    Log::open(dir, opts).map_err(|e| open::explain(dir, e))
}

/// The cuts a tolerant open made (or, read-only, would make).
fn cuts(log: &Log) -> Vec<Cut> {
    let report = log.recovery_report();
    report.dropped.into_iter().chain(report.torn_tail).collect()
}

fn describe(out: &mut impl Write, cut: &Cut) -> std::io::Result<()> {
    writeln!(
        out,
        "damage: {} at byte {}: {}",
        cut.segment.display(),
        cut.offset,
        cut.reason
    )?;
    let later = match cut
        .removed_segments
        .iter()
        .filter(|p| **p != cut.segment)
        .count()
    {
        0 => String::new(),
        n => format!(", including {n} later segment file(s) removed whole"),
    };
    writeln!(
        out,
        "repair cuts the log there: positions from {} on, {} bytes ({}){later}",
        cut.from_position,
        cut.bytes,
        human::bytes(cut.bytes)
    )
}

/// `DIR.repair-backup`, beside the log directory.
fn backup_dir(dir: &Path) -> CliResult<PathBuf> {
    let dir = std::fs::canonicalize(dir)
        .map_err(|e| CliError::failed(format!("{}: {e}", dir.display())))?;
    let name = dir
        .file_name()
        .map_or_else(|| "logstore".into(), |n| n.to_string_lossy().into_owned());
    Ok(dir.with_file_name(format!("{name}.repair-backup")))
}

/// Copies the bytes each cut removes into `backup_dir` and syncs them.
/// Returns the backup files and their sizes.
fn back_up(plan: &[Cut], backup_dir: &Path) -> CliResult<Vec<(PathBuf, u64)>> {
    // File -> offset from which its bytes go.
    let mut doomed: BTreeMap<&Path, u64> = BTreeMap::new();
    for cut in plan {
        if cut.bytes > 0 {
            doomed.insert(&cut.segment, cut.offset);
        }
        for path in &cut.removed_segments {
            doomed.insert(path, 0);
        }
    }
    let fail = |path: &Path, e: std::io::Error| {
        CliError::failed(format!(
            "backup failed, nothing was cut: {}: {e}",
            path.display()
        ))
    };
    std::fs::create_dir_all(backup_dir).map_err(|e| fail(backup_dir, e))?;
    let mut saved = Vec::new();
    for (path, offset) in doomed {
        let target = unused_name(backup_dir, path, offset);
        let bytes = copy_from(path, offset, &target).map_err(|e| fail(&target, e))?;
        saved.push((target, bytes));
    }
    File::open(backup_dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| fail(backup_dir, e))?;
    Ok(saved)
}

/// `<segment>.from-<offset>.bak`, with a counter if an earlier repair left
/// one of that name.
fn unused_name(backup_dir: &Path, segment: &Path, offset: u64) -> PathBuf {
    let name = segment
        .file_name()
        .map_or_else(|| "segment".into(), |n| n.to_string_lossy().into_owned());
    let base = format!("{name}.from-{offset}");
    let mut candidate = backup_dir.join(format!("{base}.bak"));
    let mut n = 1;
    while candidate.exists() {
        candidate = backup_dir.join(format!("{base}.{n}.bak"));
        n += 1;
    }
    candidate
}

/// Copies `source` from `offset` on into the new file `target`, synced;
/// returns the bytes copied. The holes of a sparse source stay holes: a
/// segment forged (or damaged) into a terabyte-long sparse file must not
/// fill the disk with zeros.
fn copy_from(source: &Path, offset: u64, target: &Path) -> std::io::Result<u64> {
    let src = File::open(source)?;
    let len = src.metadata()?.len();
    let dst = File::options().write(true).create_new(true).open(target)?;
    let mut at = offset;
    while at < len {
        let Some((data, hole)) = next_data(&src, at, len)? else {
            break;
        };
        copy_range(&src, &dst, data, hole, offset)?;
        at = hole;
    }
    let n = len.saturating_sub(offset);
    dst.set_len(n)?;
    dst.sync_all()?;
    Ok(n)
}

/// The next stretch of data `[start, end)` of `file` at or after `from`,
/// skipping holes; `None` if only holes are left.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn next_data(file: &File, from: u64, len: u64) -> std::io::Result<Option<(u64, u64)>> {
    use rustix::fs::{seek, SeekFrom};
    use rustix::io::Errno;
    let start = match seek(file, SeekFrom::Data(from)) {
        Ok(at) => at,
        Err(Errno::NXIO) => return Ok(None),
        // Not supported here: all of it is data.
        Err(Errno::INVAL) | Err(Errno::OPNOTSUPP) => return Ok(Some((from, len))),
        Err(e) => return Err(e.into()),
    };
    let end = seek(file, SeekFrom::Hole(start)).map_or(len, |h| h.min(len));
    Ok(Some((start, end.max(start))))
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn next_data(_file: &File, from: u64, len: u64) -> std::io::Result<Option<(u64, u64)>> {
    Ok(Some((from, len)))
}

/// Copies `[start, end)` of `src` to `dst`, at `offset` bytes less.
fn copy_range(src: &File, dst: &File, start: u64, end: u64, offset: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; (end - start).min(1 << 20) as usize];
    let mut at = start;
    while at < end {
        let n = ((end - at) as usize).min(buf.len());
        let got = src.read_at(&mut buf[..n], at)?;
        if got == 0 {
            break;
        }
        dst.write_all_at(&buf[..got], at - offset)?;
        at += got as u64;
    }
    Ok(())
}
