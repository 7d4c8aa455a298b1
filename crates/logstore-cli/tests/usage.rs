//! Guards the command line itself: help on every subcommand documents the
//! exit statuses, and usage errors (a non-numeric position, a missing or
//! conflicting option) exit with status 2 and a message, not a panic.

mod common;

use common::{run, Scratch};

const SUBCOMMANDS: [&str; 10] = [
    "append", "stat", "read", "replay", "tail", "truncate", "verify", "repair", "bench", "tour",
];

#[test]
fn help_lists_subcommands_and_exit_statuses() {
    let out = run(&["--help"]);
    let text = out.ok();
    for sub in SUBCOMMANDS {
        assert!(text.contains(sub), "--help lacks {sub}:\n{text}");
    }
    for sub in SUBCOMMANDS {
        let help = run(&[sub, "--help"]);
        let help = help.ok();
        for status in [
            "0  success",
            "1  error",
            "2  usage error",
            "3  damage found",
        ] {
            assert!(
                help.contains(status),
                "{sub} --help lacks {status:?}:\n{help}"
            );
        }
    }
}

#[test]
fn non_numeric_position_is_a_usage_error() {
    let s = Scratch::with_records(1);
    run(&["read", s.dir(), "abc"]).fails(2, &["invalid value 'abc'", "POSITION"]);
    run(&["replay", s.dir(), "--from=-1"]).fails(2, &["invalid value '-1'", "--from"]);
    run(&["truncate", s.dir(), "--before", "x"]).fails(2, &["invalid value 'x'"]);
}

#[test]
fn missing_or_conflicting_options_are_usage_errors() {
    let s = Scratch::with_records(3);
    let d = s.dir();
    run(&["truncate", d]).fails(2, &["--before", "--from"]);
    run(&["truncate", d, "--before", "1", "--from", "2"]).fails(2, &["cannot be used with"]);
    run(&["replay", d, "--from", "2", "--to", "1"]).fails(2, &["--to 1 is before --from 2"]);
    run(&["append", d, "--format", "csv"]).fails(2, &["invalid value 'csv'"]);
    run(&["frobnicate"]).fails(2, &["unrecognized subcommand"]);
    run(&[]).fails(2, &["Usage"]);
}
