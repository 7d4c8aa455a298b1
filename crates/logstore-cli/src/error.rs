//! The CLI's error type and its exit statuses.

use std::fmt;
use std::io::Write;
use std::process::ExitCode;

/// Exit status: the command failed (I/O, locked log, bad position...).
pub const EXIT_ERROR: u8 = 1;
/// Exit status: the command line was wrong (clap uses it too).
pub const EXIT_USAGE: u8 = 2;
/// Exit status: `verify` found damage.
pub const EXIT_DAMAGE: u8 = 3;

/// Why a subcommand failed. Each variant has its exit status.
#[derive(Debug)]
pub enum CliError {
    /// A failure; the message is printed on stderr (exit 1).
    Failed(String),
    /// A wrong combination of arguments (exit 2).
    Usage(String),
    /// Damage was found and already reported on stdout (exit 3).
    Damage,
    /// Stdout was closed by its reader (`logstore replay DIR | head`):
    /// stop quietly, as other Unix tools do (exit 0).
    StdoutClosed,
}

/// `Result` of a subcommand.
pub type CliResult<T = ()> = Result<T, CliError>;

impl CliError {
    pub fn failed(msg: impl fmt::Display) -> Self {
        CliError::Failed(msg.to_string())
    }

    /// Prints the message on stderr and returns the exit status.
    pub fn report(self) -> ExitCode {
        match self {
            CliError::Failed(msg) => {
                let _ = writeln!(std::io::stderr(), "logstore: error: {msg}");
                ExitCode::from(EXIT_ERROR)
            }
            CliError::Usage(msg) => {
                let _ = writeln!(
                    std::io::stderr(),
                    "logstore: usage error: {msg}\nFor more information, try '--help'."
                );
                ExitCode::from(EXIT_USAGE)
            }
            CliError::Damage => ExitCode::from(EXIT_DAMAGE),
            CliError::StdoutClosed => ExitCode::SUCCESS,
        }
    }
}

impl From<logstore::Error> for CliError {
    fn from(e: logstore::Error) -> Self {
        CliError::Failed(e.to_string())
    }
}

/// An error writing stdout or reading stdin.
impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            CliError::StdoutClosed
        } else {
            CliError::Failed(format!("standard input/output: {e}"))
        }
    }
}
