//! `logstore`: operate, inspect, verify and tail a logstore log from the
//! shell. `cli` declares the command line, `cmd` holds one module per
//! subcommand; this file only parses, dispatches and maps errors to exit
//! statuses.

mod cli;
mod cmd;
mod error;
mod human;
mod open;
mod source;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cmd::run(args.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => e.report(),
    }
}
