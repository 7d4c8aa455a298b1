//! `logstore stat`: positions, sizes and the segment table, as text or as
//! one JSON object.

use std::io::Write;

use logstore::Stats;
use serde_json::json;

use crate::cli::StatArgs;
use crate::error::CliResult;
use crate::{human, open};

pub fn run(a: StatArgs) -> CliResult {
    let log = open::reader(&a.dir)?;
    let stats = log.stats()?;
    let mut out = std::io::stdout().lock();
    if a.json {
        writeln!(out, "{}", to_json(&stats))?;
    } else {
        write_text(&mut out, &a.dir, &stats)?;
    }
    Ok(())
}

/// disk bytes / retained bytes: how much the files cost beyond the records.
fn ratio(stats: &Stats) -> Option<f64> {
    (stats.retained_bytes > 0).then(|| stats.disk_bytes as f64 / stats.retained_bytes as f64)
}

fn file_name(path: &std::path::Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// The JSON form. Keys are stable: scripts rely on them.
fn to_json(s: &Stats) -> serde_json::Value {
    let segments: Vec<_> = s
        .segments
        .iter()
        .map(|g| {
            json!({
                "file": file_name(&g.path),
                "first_position": g.first_position,
                "end_position": g.end_position,
                "records": g.end_position.saturating_sub(g.first_position),
                "retained_bytes": g.retained_bytes,
                "disk_bytes": g.disk_bytes,
            })
        })
        .collect();
    json!({
        "first_position": s.first_position,
        "next_position": s.next_position,
        "records": s.records,
        "retained_bytes": s.retained_bytes,
        "disk_bytes": s.disk_bytes,
        "disk_ratio": ratio(s),
        "segment_count": s.segments.len(),
        "segments": segments,
    })
}

fn write_text(out: &mut impl Write, dir: &std::path::Path, s: &Stats) -> std::io::Result<()> {
    let last = if s.records == 0 {
        "none".to_string()
    } else {
        (s.next_position - 1).to_string()
    };
    writeln!(out, "log              {}", dir.display())?;
    writeln!(out, "first position   {}", s.first_position)?;
    writeln!(out, "last position    {last}")?;
    writeln!(out, "next position    {}", s.next_position)?;
    writeln!(out, "records          {}", s.records)?;
    writeln!(
        out,
        "retained bytes   {} ({})",
        s.retained_bytes,
        human::bytes(s.retained_bytes)
    )?;
    writeln!(
        out,
        "bytes on disk    {} ({})",
        s.disk_bytes,
        human::bytes(s.disk_bytes)
    )?;
    match ratio(s) {
        Some(r) => writeln!(out, "disk / retained  {r:.2}")?,
        None => writeln!(out, "disk / retained  -")?,
    }
    writeln!(out, "segments         {}", s.segments.len())?;
    writeln!(out)?;
    writeln!(
        out,
        "{:<26} {:>21} {:>10} {:>14} {:>14}",
        "file", "positions", "records", "bytes", "on disk"
    )?;
    for g in &s.segments {
        let records = g.end_position.saturating_sub(g.first_position);
        let range = if records == 0 {
            "-".to_string()
        } else {
            format!("{}..{}", g.first_position, g.end_position - 1)
        };
        writeln!(
            out,
            "{:<26} {:>21} {:>10} {:>14} {:>14}",
            file_name(&g.path),
            range,
            records,
            g.retained_bytes,
            g.disk_bytes
        )?;
    }
    Ok(())
}
