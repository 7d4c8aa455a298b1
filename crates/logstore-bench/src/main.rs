//! Compares logstore with the stores people use as a log, and with the raw
//! disk. Each store runs each workload in its own child process; the
//! parent records the child's peak RSS and prints a table with ratios to
//! logstore and to the raw ceiling, a CSV and an SVG chart.
//!
//! ```text
//! logstore-bench [--quick] [--runs N] [--stores a,b,..] [--workloads w1,w4,..]
//!                [--dir DATA_DIR] [--out OUT_DIR]
//! ```

mod child;
mod multi;
mod plan;
mod quantile;
mod record;
mod report;
mod stores;
mod workloads;

use std::path::PathBuf;
use std::process::ExitCode;

use workloads::Scale;

/// Command-line settings of the parent.
pub struct Args {
    quick: bool,
    runs: usize,
    stores: Vec<String>,
    workloads: Vec<String>,
    dir: PathBuf,
    out: PathBuf,
}

const USAGE: &str = "usage: logstore-bench [--quick] [--runs N] [--stores a,b,..] \
[--workloads w1,..,w9] [--dir DATA_DIR] [--out OUT_DIR]";

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut args = Args {
        quick: false,
        runs: 3,
        stores: stores::names().iter().map(|s| s.to_string()).collect(),
        workloads: plan::WORKLOADS.iter().map(|s| s.to_string()).collect(),
        dir: std::env::temp_dir().join(format!("logstore-bench-{}", std::process::id())),
        out: PathBuf::from("bench-results"),
    };
    let list = |v: Option<String>| -> Result<Vec<String>, String> {
        let v = v.ok_or(USAGE)?;
        Ok(v.split(',').map(|s| s.trim().to_owned()).collect())
    };
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => args.quick = true,
            "--runs" => {
                args.runs = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&n| n > 0)
                    .ok_or(USAGE)?
            }
            "--stores" => args.stores = list(it.next())?,
            "--workloads" => args.workloads = list(it.next())?,
            "--dir" => args.dir = it.next().ok_or(USAGE)?.into(),
            "--out" => args.out = it.next().ok_or(USAGE)?.into(),
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    let known = stores::names();
    if let Some(s) = args.stores.iter().find(|s| !known.contains(&s.as_str())) {
        return Err(format!(
            "store {s} is not in this build (known: {}); peers need --features peers",
            known.join(", ")
        ));
    }
    if let Some(w) = args
        .workloads
        .iter()
        .find(|w| !plan::WORKLOADS.contains(&w.as_str()))
    {
        return Err(format!("unknown workload {w}\n{USAGE}"));
    }
    Ok(args)
}

fn child_main(mut it: impl Iterator<Item = String>) -> ExitCode {
    let (Some(store), Some(workload), Some(root)) = (it.next(), it.next(), it.next()) else {
        eprintln!("usage: logstore-bench child STORE WORKLOAD ROOT [--quick]");
        return ExitCode::FAILURE;
    };
    let scale = Scale {
        quick: it.next().as_deref() == Some("--quick"),
    };
    match workloads::run(&store, &workload, root.as_ref(), scale) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{store} {workload}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let mut it = std::env::args().skip(1).peekable();
    if it.peek().map(String::as_str) == Some("child") {
        it.next();
        return child_main(it);
    }
    let args = match parse_args(it) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let partial = |r: &plan::Results| report::write_files(&args, r);
    match plan::run_all(&args, partial).and_then(|results| report::write_all(&args, &results)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("some runs failed (see the table)");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("logstore-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
