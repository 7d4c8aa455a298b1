//! The command line: every subcommand, its arguments and its help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const EXIT_STATUS: &str = "\
Exit status:
  0  success
  1  error (missing directory, log locked by a writer, position out of range, I/O...)
  2  usage error (unknown option, non-numeric position...)
  3  damage found (verify)";

/// Operate, inspect, verify and tail a logstore log from the shell.
///
/// A log is a directory of segment files holding records (byte strings)
/// at positions 0, 1, 2... that never change. Start with `logstore tour`.
#[derive(Parser, Debug)]
#[command(name = "logstore", version, after_help = EXIT_STATUS)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Append records from stdin (one per line by default) or from files;
    /// prints each record's position. Creates the log if missing.
    #[command(after_help = EXIT_STATUS)]
    Append(AppendArgs),
    /// Show positions, record count, bytes kept and on disk, and segments.
    #[command(after_help = EXIT_STATUS)]
    Stat(StatArgs),
    /// Write the record at POSITION to stdout.
    #[command(after_help = EXIT_STATUS)]
    Read(ReadArgs),
    /// Write every record from --from (default: the first) on, in order.
    #[command(after_help = EXIT_STATUS)]
    Replay(ReplayArgs),
    /// Print the last records, one per line; with --follow, keep printing
    /// records as another process appends them. Never takes the writer's lock.
    #[command(after_help = EXIT_STATUS)]
    Tail(TailArgs),
    /// Drop the records before a position (--before) or from a position on
    /// (--from); prints the new positions and the disk space given back.
    #[command(after_help = EXIT_STATUS)]
    Truncate(TruncateArgs),
    /// Read every segment and check every checksum, length and header.
    /// Exit status 3 if damage is found.
    #[command(after_help = EXIT_STATUS)]
    Verify(VerifyArgs),
    /// Cut the log at its first damage, keeping the cut bytes in a backup
    /// directory DIR.repair-backup; a damaged or missing meta file is
    /// rebuilt first, from the segment headers. Without --yes, only says
    /// what it would do.
    #[command(after_help = EXIT_STATUS)]
    Repair(RepairArgs),
    /// Run a small built-in workload and print throughput and latency.
    #[command(after_help = EXIT_STATUS)]
    Bench(BenchArgs),
    /// A 30-second tour: concurrent appends, truncation, disk space given
    /// back, replay and reopening, explained step by step.
    #[command(after_help = EXIT_STATUS)]
    Tour(TourArgs),
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// The log directory.
    pub dir: PathBuf,
    /// The directory is a store: also check that every log's every record
    /// is there and reads back.
    #[arg(long)]
    pub store: bool,
}

#[derive(Args, Debug)]
pub struct AppendArgs {
    /// The log directory (created if missing).
    pub dir: PathBuf,
    /// When appended records are made durable: `always` syncs before
    /// reporting a position, `never` leaves it to the operating system.
    #[arg(long, value_enum, default_value_t = SyncArg::Always)]
    pub sync: SyncArg,
    /// How stdin is split into records.
    #[arg(long, value_enum, default_value_t = InputFormat::Lines, conflicts_with = "file")]
    pub format: InputFormat,
    /// Append each file as one record instead of reading stdin.
    #[arg(long, num_args = 1.., value_name = "PATH")]
    pub file: Vec<PathBuf>,
    /// Target segment file size in bytes for new segments (at least 4096).
    #[arg(long, value_name = "BYTES", default_value_t = logstore::DEFAULT_SEGMENT_SIZE)]
    pub segment_size: u64,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncArg {
    Always,
    Never,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputFormat {
    /// One record per line, without its newline; an empty line is an error.
    Lines,
    /// All of stdin is one record.
    Raw,
    /// Repeated: a u32 little-endian length, then that many bytes.
    LengthPrefixed,
}

#[derive(Args, Debug)]
pub struct StatArgs {
    /// The log directory.
    pub dir: PathBuf,
    /// One JSON object instead of text (stable keys).
    #[arg(long)]
    pub json: bool,
    /// The directory is a store: list its logs too.
    #[arg(long)]
    pub logs: bool,
}

#[derive(Args, Debug)]
pub struct ReadArgs {
    /// The log directory.
    pub dir: PathBuf,
    /// In a store: the log with this id.
    #[arg(long, value_name = "ID")]
    pub log: Option<u64>,
    /// The record's position.
    pub position: u64,
}

#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// The log directory.
    pub dir: PathBuf,
    /// In a store: the log with this id.
    #[arg(long, value_name = "ID")]
    pub log: Option<u64>,
    /// First position to write (default: the log's first position).
    #[arg(long, value_name = "P")]
    pub from: Option<u64>,
    /// Stop before this position (default: the end of the log).
    #[arg(long, value_name = "P")]
    pub to: Option<u64>,
    /// How records are written.
    #[arg(long, value_enum, default_value_t = ReplayFormat::Raw)]
    pub format: ReplayFormat,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplayFormat {
    /// The records' bytes, back to back.
    Raw,
    /// `POSITION HEX` per line.
    Hex,
    /// One object per line: {"position":P,"length":N,"data":"<base64>"}.
    Json,
    /// `POSITION LENGTH` per line.
    Lengths,
}

#[derive(Args, Debug)]
pub struct TailArgs {
    /// The log directory.
    pub dir: PathBuf,
    /// In a store: the log with this id.
    #[arg(long, value_name = "ID")]
    pub log: Option<u64>,
    /// First position to print (default: the last 10 records).
    #[arg(long, value_name = "P")]
    pub from: Option<u64>,
    /// Keep waiting for new records (stop with Ctrl-C).
    #[arg(long, short = 'f')]
    pub follow: bool,
}

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("cut").required(true).args(["before", "from"])))]
pub struct TruncateArgs {
    /// The log directory.
    pub dir: PathBuf,
    /// In a store: the log with this id.
    #[arg(long, value_name = "ID")]
    pub log: Option<u64>,
    /// Drop every record before P (P becomes the first position).
    #[arg(long, value_name = "P")]
    pub before: Option<u64>,
    /// Drop P and every record after it (P becomes the next position).
    #[arg(long, value_name = "P")]
    pub from: Option<u64>,
}

#[derive(Args, Debug)]
pub struct RepairArgs {
    /// The log directory.
    pub dir: PathBuf,
    /// Really cut the log (otherwise only say what would be done).
    #[arg(long)]
    pub yes: bool,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Where to create the benchmark logs (a temporary directory if
    /// omitted); they are removed afterwards.
    pub dir: Option<PathBuf>,
    /// A shorter run (about a second per workload less).
    #[arg(long)]
    pub quick: bool,
}

#[derive(Args, Debug)]
pub struct TourArgs {
    /// The log directory to use.
    #[arg(default_value = "logstore-data")]
    pub dir: PathBuf,
}
