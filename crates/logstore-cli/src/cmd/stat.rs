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
    drop(log);
    let logs = match a.logs {
        true => Some(store_logs(&a.dir)?),
        false => None,
    };
    let mut out = std::io::stdout().lock();
    if a.json {
        let mut v = to_json(&stats);
        if let Some(logs) = &logs {
            v["logs"] = logs_json(logs);
        }
        writeln!(out, "{v}")?;
    } else {
        write_text(&mut out, &a.dir, &stats)?;
        if let Some(logs) = &logs {
            write_logs(&mut out, logs)?;
        }
    }
    Ok(())
}

/// One log of a store, as `stat --logs` shows it.
struct StoreLogLine {
    id: u64,
    first: u64,
    next: u64,
    state_bytes: Option<usize>,
}

fn store_logs(dir: &std::path::Path) -> CliResult<Vec<StoreLogLine>> {
    let store = crate::source::store(dir, false)?;
    let mut v = Vec::new();
    for id in store.logs() {
        let log = store.log(id)?;
        v.push(StoreLogLine {
            id,
            first: log.first_position()?,
            next: log.next_position()?,
            state_bytes: log.state()?.map(|s| s.len()),
        });
    }
    Ok(v)
}

fn logs_json(logs: &[StoreLogLine]) -> serde_json::Value {
    logs.iter()
        .map(|l| {
            json!({
                "id": l.id,
                "first_position": l.first,
                "next_position": l.next,
                "records": l.next - l.first,
                "state_bytes": l.state_bytes,
            })
        })
        .collect()
}

fn write_logs(out: &mut impl Write, logs: &[StoreLogLine]) -> std::io::Result<()> {
    writeln!(out)?;
    writeln!(out, "store logs       {}", logs.len())?;
    writeln!(
        out,
        "{:>20} {:>21} {:>10} {:>12}",
        "log", "positions", "records", "state bytes"
    )?;
    for l in logs {
        let range = match l.next > l.first {
            true => format!("{}..{}", l.first, l.next - 1),
            false => "-".to_string(),
        };
        let state = l.state_bytes.map_or("-".to_string(), |n| n.to_string());
        writeln!(
            out,
            "{:>20} {:>21} {:>10} {:>12}",
            l.id,
            range,
            l.next - l.first,
            state
        )?;
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
