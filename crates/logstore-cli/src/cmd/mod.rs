//! One module per subcommand; `run` dispatches to them.

mod append;
mod bench;
mod read;
mod repair;
mod replay;
mod stat;
mod tail;
mod tour;
mod truncate;
mod verify;

use crate::cli::Command;
use crate::error::CliResult;

/// Runs one subcommand.
pub fn run(command: Command) -> CliResult {
    match command {
        Command::Append(a) => append::run(a),
        Command::Stat(a) => stat::run(a),
        Command::Read(a) => read::run(a),
        Command::Replay(a) => replay::run(a),
        Command::Tail(a) => tail::run(a),
        Command::Truncate(a) => truncate::run(a),
        Command::Verify(a) => verify::run(a),
        Command::Repair(a) => repair::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Tour(a) => tour::run(a),
    }
}
