//! The table (Markdown), the CSV, the SVG chart and the target check.

use std::fmt::Write as _;
use std::fs;

use crate::plan::{median, step_order, Results};
use crate::stores::{self, Res};
use crate::Args;

/// Writes `table.md`, `results.csv` and `chart.svg` under `args.out` and
/// prints the table. Returns whether every run succeeded.
pub fn write_all(args: &Args, r: &Results) -> Res<bool> {
    write_files(args, r)?;
    print!("{}\n{}\n{}", table(args, r), targets(r), order_effects(r));
    eprintln!(
        "wrote table.md, results.csv, chart.svg in {}",
        args.out.display()
    );
    Ok(r.cells.values().all(|c| c.failures.is_empty()))
}

/// Writes the three files (also after each run, so that a long run that is
/// stopped keeps what it measured).
pub fn write_files(args: &Args, r: &Results) -> Res<()> {
    fs::create_dir_all(&args.out)?;
    let text = format!("{}\n{}\n{}", table(args, r), targets(r), order_effects(r));
    fs::write(args.out.join("table.md"), text)?;
    fs::write(args.out.join("results.csv"), csv(r))?;
    fs::write(args.out.join("chart.svg"), chart(r))?;
    Ok(())
}

/// Three significant digits with a k/M/G suffix.
pub fn fmt(v: f64) -> String {
    let (x, suffix) = match v.abs() {
        a if a >= 1e9 => (v / 1e9, "G"),
        a if a >= 1e6 => (v / 1e6, "M"),
        a if a >= 1e4 => (v / 1e3, "k"),
        _ => (v, ""),
    };
    let digits = match x.abs() {
        a if a >= 100.0 => 0,
        a if a >= 10.0 => 1,
        a if a >= 1.0 => 2,
        _ => 3,
    };
    format!("{x:.digits$}{suffix}")
}

/// `(step, metric, unit)` rows in table order.
fn rows(r: &Results) -> Vec<(String, String, String)> {
    let mut rows = Vec::new();
    for step in step_order() {
        let mut metrics: Vec<(String, String)> = Vec::new();
        for store in &r.stores {
            if let Some(cell) = r.cells.get(&(step.clone(), store.clone())) {
                for (m, (_, unit)) in &cell.figures {
                    if !metrics.iter().any(|(x, _)| x == m) {
                        metrics.push((m.clone(), unit.clone()));
                    }
                }
            }
        }
        // Peak RSS last in each step.
        metrics.sort_by_key(|(m, _)| m == "peak_rss_mib");
        rows.extend(metrics.into_iter().map(|(m, u)| (step.clone(), m, u)));
    }
    rows
}

fn ratio(v: f64, reference: Option<f64>) -> Option<f64> {
    reference.filter(|x| *x != 0.0).map(|x| v / x)
}

/// `Some(true)` for throughputs, `Some(false)` for times and latencies,
/// `None` for figures that have no ceiling (memory, sizes).
fn higher_is_better(metric: &str) -> Option<bool> {
    if metric.contains("_per_s") {
        Some(true)
    } else if metric.ends_with("_ms") || metric.ends_with("_us") {
        Some(false)
    } else {
        None
    }
}

/// Whether the raw ceiling's figure bounds `store`'s (docs/BENCHMARKS.md,
/// "Ceilings"): not for memory; not for W3's final sync alone (a store
/// that wrote more back while appending syncs less at the end); not for
/// the buffered variant's W1/W2 (the ceiling hands every append to the OS,
/// as a write-through store does; a buffer in the process is another
/// contract); not for memory-mapped reads (the ceiling reads with `pread`).
fn bounded(step: &str, metric: &str, store: &str) -> bool {
    if higher_is_better(metric).is_none() || metric == "final_sync_ms" {
        return false;
    }
    match store {
        "logstore-buf" => !matches!(step, "w1" | "w2"),
        "logstore-mmap" => step != "w8",
        _ => true,
    }
}

/// The store's figure over the ceiling's, if the ceiling bounds it, and
/// whether the store beat the ceiling (so that it was no bound this run).
fn vs_ceiling(r: &Results, step: &str, metric: &str, store: &str, v: f64) -> Option<(f64, bool)> {
    if !bounded(step, metric, store) {
        return None;
    }
    let x = ratio(v, r.median(step, "raw", metric))?;
    let beaten = store != "raw"
        && match higher_is_better(metric) {
            Some(true) => x > 1.0,
            _ => x < 1.0,
        };
    Some((x, beaten))
}

fn table(args: &Args, r: &Results) -> String {
    let mut s = String::new();
    let mode = if args.quick { "--quick" } else { "full" };
    let _ = writeln!(s, "Medians of up to {} run(s) (the 10 GiB and W9 logs: first run only), {mode} sizes. Each cell: value (× logstore / × raw ceiling). For times, latencies and memory, lower is better. `n/b`: the ceiling does not bound this store's figure (memory; W3's final sync alone; the buffered variant's W1/W2; memory-mapped reads), so no ratio. `!`: the store beat the ceiling in these runs, so for this figure the ceiling was no bound here.\n", args.runs);
    let _ = writeln!(s, "| step | metric | {} |", r.stores.join(" | "));
    let _ = writeln!(s, "|---|---|{}", "---:|".repeat(r.stores.len()));
    for (step, metric, unit) in rows(r) {
        let logstore = r.median(&step, "logstore", &metric);
        let _ = write!(s, "| {step} | {metric} ({unit}) |");
        for store in &r.stores {
            let cell = r.cells.get(&(step.clone(), store.clone()));
            let text = match (cell, r.median(&step, store, &metric)) {
                (Some(c), _) if !c.failures.is_empty() => "FAILED".to_owned(),
                (_, None) => "–".to_owned(),
                (_, Some(v)) => {
                    let a = ratio(v, logstore).map_or("–".into(), |x| format!("{x:.2}"));
                    let b = match vs_ceiling(r, &step, &metric, store, v) {
                        None => "n/b".into(),
                        Some((x, false)) => format!("{x:.2}"),
                        Some((x, true)) => format!("{x:.2}!"),
                    };
                    format!("{} ({a} / {b})", fmt(v))
                }
            };
            let _ = write!(s, " {text} |");
        }
        s.push('\n');
    }
    s.push_str("\nStores:\n");
    for store in &r.stores {
        let _ = writeln!(s, "- `{store}`: {}", stores::describe(store));
    }
    s
}

fn csv(r: &Results) -> String {
    let mut s =
        String::from("step,metric,unit,store,median,runs,vs_logstore,vs_raw,failed,run_slots\n");
    for (step, metric, unit) in rows(r) {
        for store in &r.stores {
            let Some(cell) = r.cells.get(&(step.clone(), store.clone())) else {
                continue;
            };
            let Some((values, _)) = cell.figures.get(&metric) else {
                continue;
            };
            let med = median(values).unwrap_or(f64::NAN);
            let opt = |x: Option<f64>| x.map_or(String::new(), |x| format!("{x:.4}"));
            let runs: Vec<String> = values.iter().map(|v| format!("{v:.6}")).collect();
            let slots: Vec<String> = cell
                .at
                .get(&metric)
                .map(|a| {
                    a.iter()
                        .map(|(run, slot)| format!("{run}:{slot}"))
                        .collect()
                })
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "{step},{metric},{unit},{store},{med:.6},{},{},{},{},{}",
                runs.join(";"),
                opt(ratio(med, r.median(&step, "logstore", &metric))),
                opt(vs_ceiling(r, &step, &metric, store, med).map(|x| x.0)),
                cell.failures.len(),
                slots.join(";")
            );
        }
    }
    s
}

/// The peers (not logstore, not the raw ceiling).
fn peers(r: &Results) -> Vec<&str> {
    r.stores
        .iter()
        .map(String::as_str)
        .filter(|s| !s.starts_with("logstore") && *s != "raw")
        .collect()
}

fn best_peer(r: &Results, step: &str, metric: &str) -> Option<(f64, String)> {
    peers(r)
        .into_iter()
        .filter_map(|p| r.median(step, p, metric).map(|v| (v, p.to_owned())))
        .max_by(|a, b| a.0.total_cmp(&b.0))
}

/// How a target line came out.
enum Measured {
    /// The figure, and whether it meets the target.
    Value(f64, bool),
    /// A ratio shown for reference, with no target.
    Reference(f64),
    /// Not measured in this invocation.
    Missing,
    /// The ceiling does not bound this store here: no ratio is stated.
    NoBound,
}

/// `a ÷ b` against the ceiling, with a note when the store beat it.
fn ceiling_ratio(a: Option<f64>, b: Option<f64>, higher: bool) -> (Option<f64>, String) {
    let x = a.zip(b).filter(|(_, b)| *b != 0.0).map(|(a, b)| a / b);
    let note = match x {
        Some(x) if (higher && x > 1.0) || (!higher && x < 1.0) => {
            "above the ceiling in these runs: for this figure it was no bound here".to_owned()
        }
        _ => String::new(),
    };
    (x, note)
}

fn targets(r: &Results) -> String {
    let mut lines: Vec<(String, Measured, String)> = Vec::new();
    // Lines with no target, after the targets.
    let mut extra: Vec<(String, Measured, String)> = Vec::new();
    let mut check = |name: String, measured: Option<f64>, ok: &dyn Fn(f64) -> bool, how: String| {
        let m = measured.map_or(Measured::Missing, |m| Measured::Value(m, ok(m)));
        lines.push((name, m, how));
    };
    for variant in ["logstore", "logstore-buf"] {
        let v = r.median("w1", variant, "appends_per_s");
        let peer = best_peer(r, "w1", "appends_per_s");
        check(
            format!("W1 `{variant}` ≥ 2× the fastest peer"),
            v.zip(peer.as_ref()).map(|(v, p)| v / p.0),
            &|x| x >= 2.0,
            peer.map_or("no peer".into(), |p| format!("fastest peer: {}", p.1)),
        );
    }
    let (x, note) = ceiling_ratio(
        r.median("w1", "logstore", "appends_per_s"),
        r.median("w1", "raw", "appends_per_s"),
        true,
    );
    check(
        "W1 `logstore` ≥ 0.7× the ceiling (one writev per append)".into(),
        x,
        &|x| x >= 0.7,
        note,
    );
    for variant in ["logstore", "logstore-buf"] {
        let (x, note) = ceiling_ratio(
            r.median("w3", variant, "mb_per_s"),
            r.median("w3", "raw", "mb_per_s"),
            true,
        );
        check(
            format!("W3 `{variant}` ≥ 0.9× the ceiling, not durable (overwrite of written space)"),
            x,
            &|x| x >= 0.9,
            note,
        );
        let (x, note) = ceiling_ratio(
            r.median("w3", variant, "mb_per_s_durable"),
            r.median("w3", "raw", "mb_per_s_durable"),
            true,
        );
        let how = match note.is_empty() {
            true => "ceiling: the better of O_DIRECT and overwrite + fdatasync".to_owned(),
            false => note,
        };
        check(
            format!("W3 `{variant}` ≥ 0.9× the ceiling, durable (records + one final sync)"),
            x,
            &|x| x >= 0.9,
            how,
        );
    }
    let w4_16 = r.median("w4-16", "logstore", "appends_per_s");
    let peer = best_peer(r, "w4-16", "appends_per_s");
    check(
        "W4 16 threads ≥ 1.5× the best peer".into(),
        w4_16.zip(peer.as_ref()).map(|(v, p)| v / p.0),
        &|x| x >= 1.5,
        peer.map_or("no peer".into(), |p| format!("best peer: {}", p.1)),
    );
    check(
        "W4 16 threads ≥ 5× logstore's 1-thread rate".into(),
        w4_16
            .zip(r.median("w4-1", "logstore", "appends_per_s"))
            .map(|(a, b)| a / b),
        &|x| x >= 5.0,
        String::new(),
    );
    check(
        "W4 16 threads p99 ≤ 3× the ceiling's single write + fdatasync p50".into(),
        r.median("w4-16", "logstore", "p99_us")
            .zip(r.median("w4-1", "raw", "p50_us"))
            .map(|(a, b)| a / b),
        &|x| x <= 3.0,
        "ratio = logstore p99 ÷ ceiling 1-thread p50 (one pwrite into written space + fdatasync)"
            .into(),
    );
    for t in [16, 64] {
        let step = format!("w4-{t}");
        let (x, note) = ceiling_ratio(
            r.median(&step, "logstore", "appends_per_s"),
            r.median(&step, "raw", "appends_per_s"),
            true,
        );
        let how = match note.is_empty() {
            true => "no target; ceiling: group commit, one pwrite + one fdatasync per batch".into(),
            false => note,
        };
        extra.push((
            format!("W4 {t} threads appends/s against the group-commit ceiling"),
            x.map_or(Measured::Missing, Measured::Reference),
            how,
        ));
    }
    for step in ["w5-w1", "w5-w3"] {
        let (x, note) = ceiling_ratio(
            r.median(step, "logstore", "gb_per_s"),
            r.median(step, "raw", "gb_per_s"),
            true,
        );
        check(
            format!("W5 replay ({step}) ≥ 0.8× the ceiling's sequential read"),
            x,
            &|x| x >= 0.8,
            note,
        );
    }
    check(
        "W6 truncation ≤ 10 ms".into(),
        r.median("w6", "logstore", "truncate_ms"),
        &|x| x <= 10.0,
        "figure in ms".into(),
    );
    let after = r.median("w6", "logstore", "disk_after_mib");
    let retained = r.median("w6", "logstore", "retained_mib");
    check(
        "W6 disk after ≤ 1.02 × retained + 1 MiB".into(),
        after.zip(retained).map(|(a, k)| a / (1.02 * k + 1.0)),
        &|x| x <= 1.0,
        "ratio = disk after ÷ (1.02 × retained + 1 MiB)".into(),
    );
    for (step, what) in [("w7-w1", "W1's log"), ("w7-w3", "W3's log")] {
        check(
            format!("W7 reopen of {what} (cleanly closed) ≤ 1 ms"),
            r.median(step, "logstore", "reopen_ms"),
            &|x| x <= 1.0,
            "figure in ms: open until the end of the data is known".into(),
        );
    }
    check(
        "W7 reopen of the big log ≤ 100 ms".into(),
        r.median("w7-big", "logstore", "reopen_ms"),
        &|x| x <= 100.0,
        "figure in ms: open until the end of the data is known".into(),
    );
    for variant in ["logstore", "logstore-mmap"] {
        check(
            format!("W8 `{variant}` ≥ 1,000,000 random reads/s"),
            r.median("w8", variant, "reads_per_s"),
            &|x| x >= 1e6,
            "figure in reads/s".into(),
        );
    }
    for logs in ["1000", "10000"] {
        let step = format!("w10-{logs}");
        let store = r.median(&step, "logstore", "appends_per_s");
        check(
            format!("W10 {logs} logs: `Store` durable appends ≥ 2× raft-engine"),
            store
                .zip(r.median(&step, "raft-engine", "appends_per_s"))
                .map(|(a, b)| a / b),
            &|x| x >= 2.0,
            "ratio".into(),
        );
        check(
            format!("W10 {logs} logs: bytes on disk ≤ 1.1× kept + 2 segments (128 MiB), settled"),
            r.median(&step, "logstore", "beyond_1_1x_kept_mib"),
            &|x| x <= 128.0,
            "figure: MiB on disk beyond 1.1× kept, after the run and two compaction passes \
             (`disk_over_kept` gives the plain ratio)"
                .into(),
        );
    }
    let w10 = r.median("w10-1000", "logstore", "appends_per_s");
    check(
        "W10 1000 logs: `Store` ≥ 10× one `Log` per log".into(),
        w10.zip(r.median("w10-logs-1000", "logstore", "appends_per_s"))
            .map(|(a, b)| a / b),
        &|x| x >= 10.0,
        "ratio".into(),
    );
    check(
        "W10 1000 logs: `Store` ≥ 0.8× one log's W4 at 16 threads".into(),
        w10.zip(w4_16).map(|(a, b)| a / b),
        &|x| x >= 0.8,
        "ratio, same run".into(),
    );
    check(
        "W9 peak RSS ≤ 64 MiB".into(),
        r.median("w9", "logstore", "peak_rss_mib"),
        &|x| x <= 64.0,
        "figure in MiB".into(),
    );
    extra.push((
        "W1 `logstore-buf` against the ceiling".into(),
        Measured::NoBound,
        "the ceiling hands every append to the OS; the buffered variant keeps up to 256 KiB \
         in the process, so the ceiling does not bound it and no ratio is stated"
            .into(),
    ));
    let mut s = String::from("| target | measured | met | note |\n|---|---:|---|---|\n");
    for (name, m, how) in lines.into_iter().chain(extra) {
        let (value, met) = match m {
            Measured::Value(v, ok) => (fmt(v), if ok { "yes" } else { "**no**" }),
            Measured::Reference(v) => (fmt(v), "–"),
            Measured::Missing => ("–".into(), "not measured"),
            Measured::NoBound => ("–".into(), "no ceiling"),
        };
        let _ = writeln!(s, "| {name} | {value} | {met} | {how} |");
    }
    s
}

/// Figures whose spread over the runs is shown against the order.
const ORDER_FIGURES: &[(&str, &str)] = &[
    ("w1", "appends_per_s"),
    ("w2", "mb_per_s"),
    ("w3", "mb_per_s"),
    ("w3", "mb_per_s_durable"),
    ("w4-1", "appends_per_s"),
    ("w4-16", "appends_per_s"),
    ("w5-w1", "gb_per_s"),
    ("w5-w3", "gb_per_s"),
    ("w7-w1", "reopen_ms"),
    ("w7-w3", "reopen_ms"),
    ("w8", "reads_per_s"),
];

/// For each headline figure and store, the value of each run with the
/// store's place in that run's order, and the largest over the smallest.
fn order_effects(r: &Results) -> String {
    let n = r.stores.len();
    let mut s = String::from("Order of the stores in each run:\n\n");
    for (i, order) in r.orders.iter().enumerate() {
        let _ = writeln!(s, "- run {}: {}", i + 1, order.join(", "));
    }
    if r.orders.len() < 2 {
        s.push_str("\nOne run: no order effect can be shown.\n");
        return s;
    }
    s.push_str("\nEach figure by run, as value (run: place in that run's order of ");
    let _ = writeln!(s, "{n}); spread = largest ÷ smallest.\n");
    s.push_str("| step | metric | store | by run | spread |\n|---|---|---|---|---:|\n");
    for (step, metric) in ORDER_FIGURES {
        for store in &r.stores {
            let Some(cell) = r.cells.get(&(step.to_string(), store.clone())) else {
                continue;
            };
            let (Some((values, _)), Some(at)) = (cell.figures.get(*metric), cell.at.get(*metric))
            else {
                continue;
            };
            if values.len() < 2 {
                continue;
            }
            let by_run: Vec<String> = values
                .iter()
                .zip(at)
                .map(|(v, (run, slot))| format!("{} (r{run}: {slot})", fmt(*v)))
                .collect();
            let max = values.iter().copied().fold(f64::MIN, f64::max);
            let min = values.iter().copied().fold(f64::MAX, f64::min);
            let spread = ratio(max, Some(min)).map_or("–".into(), |x| format!("{x:.2}"));
            let _ = writeln!(
                s,
                "| {step} | {metric} | {store} | {} | {spread} |",
                by_run.join(" / ")
            );
        }
    }
    s
}

/// Headline throughput figures, one group of bars per figure.
const CHART: &[(&str, &str, &str)] = &[
    ("w1", "appends_per_s", "W1 100 B appends/s"),
    ("w2", "appends_per_s", "W2 4 KiB appends/s"),
    ("w3", "mb_per_s", "W3 large records MB/s, not durable"),
    (
        "w3",
        "mb_per_s_durable",
        "W3 large records MB/s, with one final sync",
    ),
    ("w4-1", "appends_per_s", "W4 durable, 1 thread, appends/s"),
    (
        "w4-16",
        "appends_per_s",
        "W4 durable, 16 threads, appends/s",
    ),
    ("w5-w1", "records_per_s", "W5 replay 100 B records/s"),
    ("w5-w3", "gb_per_s", "W5 replay large GB/s"),
    ("w8", "reads_per_s", "W8 random reads/s"),
];

const COLORS: &[&str] = &[
    "#1f77b4", "#aec7e8", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#7f7f7f",
];

/// A hand-written SVG: for each headline figure, one bar per store on a
/// logarithmic scale (three decades below the best store).
fn chart(r: &Results) -> String {
    let (label_w, bar_w, bar_h, gap) = (260.0, 520.0, 14.0, 16.0);
    let groups: Vec<_> = CHART
        .iter()
        .filter(|(step, m, _)| r.stores.iter().any(|s| r.median(step, s, m).is_some()))
        .collect();
    let n = r.stores.len() as f64;
    let legend_h = 20.0 * ((n / 4.0).ceil()) + 10.0;
    let height = 40.0 + legend_h + groups.len() as f64 * (n * bar_h + gap + 18.0);
    let width = label_w + bar_w + 90.0;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"11\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"10\" y=\"20\" font-size=\"14\">logstore and peers: throughput (log scale, 3 decades; longer is better)</text>\n"
    );
    for (i, store) in r.stores.iter().enumerate() {
        let (x, y) = (10.0 + (i % 4) as f64 * 200.0, 40.0 + (i / 4) as f64 * 20.0);
        let _ = writeln!(
            s,
            "<rect x=\"{x}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"{}\" y=\"{}\">{store}</text>",
            y - 10.0,
            COLORS[i % COLORS.len()],
            x + 16.0,
            y
        );
    }
    let mut y = 40.0 + legend_h;
    for (step, metric, title) in groups {
        let values: Vec<Option<f64>> = r
            .stores
            .iter()
            .map(|st| r.median(step, st, metric))
            .collect();
        let max = values.iter().flatten().copied().fold(f64::MIN, f64::max);
        let _ = writeln!(
            s,
            "<text x=\"10\" y=\"{}\" font-weight=\"bold\">{title}</text>",
            y + 12.0
        );
        y += 18.0;
        for (i, (store, v)) in r.stores.iter().zip(&values).enumerate() {
            let _ = writeln!(
                s,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{store}</text>",
                label_w - 6.0,
                y + 11.0
            );
            if let Some(v) = v {
                let frac = ((v / max).log10() + 3.0).clamp(0.02, 3.0) / 3.0;
                let w = frac * bar_w;
                let _ = writeln!(
                    s,
                    "<rect x=\"{label_w}\" y=\"{y}\" width=\"{w:.1}\" height=\"{}\" fill=\"{}\"/><text x=\"{:.1}\" y=\"{}\">{}</text>",
                    bar_h - 2.0,
                    COLORS[i % COLORS.len()],
                    label_w + w + 4.0,
                    y + 11.0,
                    fmt(*v)
                );
            }
            y += bar_h;
        }
        y += gap;
    }
    s.push_str("</svg>\n");
    s
}
