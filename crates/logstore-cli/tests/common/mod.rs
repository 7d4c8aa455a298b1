//! Helpers shared by the CLI tests: run the real `logstore` binary on
//! temporary directories and look at what it printed.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The binary under test.
pub fn logstore() -> Command {
    Command::new(env!("CARGO_BIN_EXE_logstore"))
}

/// What one run printed, and its exit status.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stdout_bytes: Vec<u8>,
    pub stderr: String,
}

impl Run {
    fn from(out: Output) -> Run {
        Run {
            code: out
                .status
                .code()
                .expect("the binary was killed by a signal"),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stdout_bytes: out.stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Asserts success and returns stdout.
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(
            self.code, 0,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        &self.stdout
    }

    /// Asserts exit status `code` with a human message (not a panic or a
    /// Debug dump) on stderr containing each of `needles`.
    #[track_caller]
    pub fn fails(&self, code: i32, needles: &[&str]) {
        assert_eq!(
            self.code, code,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        assert_human(&self.stderr);
        for n in needles {
            assert!(
                self.stderr.contains(n),
                "stderr lacks {n:?}:\n{}",
                self.stderr
            );
        }
    }
}

/// Fails if `text` looks like a panic or a Debug dump.
#[track_caller]
pub fn assert_human(text: &str) {
    for bad in [
        "panicked",
        "RUST_BACKTRACE",
        "Error {",
        "kind:",
        "Os {",
        "Custom {",
    ] {
        assert!(
            !text.contains(bad),
            "not a human message ({bad:?}):\n{text}"
        );
    }
}

/// Runs `logstore ARGS` with empty stdin.
pub fn run(args: &[&str]) -> Run {
    run_with_input(args, b"")
}

/// Runs `logstore ARGS` with `input` on stdin.
pub fn run_with_input(args: &[&str], input: &[u8]) -> Run {
    let mut child = logstore()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start logstore");
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        // The command may exit before reading everything.
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    Run::from(out)
}

/// A temporary directory and a log path inside it (not created).
pub struct Scratch {
    pub tmp: tempfile::TempDir,
    pub log: PathBuf,
}

impl Scratch {
    pub fn new() -> Scratch {
        let tmp = tempfile::tempdir().unwrap();
        let log = tmp.path().join("log");
        Scratch { tmp, log }
    }

    /// The log directory as a command-line argument.
    pub fn dir(&self) -> &str {
        self.log.to_str().unwrap()
    }

    /// A log with records "record 0", "record 1", ... appended by the CLI.
    pub fn with_records(n: usize) -> Scratch {
        let s = Scratch::new();
        let input: String = (0..n).map(|i| format!("record {i}\n")).collect();
        run_with_input(&["append", s.dir()], input.as_bytes()).ok();
        s
    }
}

/// Kills and reaps a child process when dropped, so that a failing test
/// leaves nothing running.
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A running `logstore` with `args` (a `tail --follow`) and what it prints,
/// a line at a time: [`Lines::next`] waits for the next one.
pub fn follow(args: &[&str]) -> (KillOnDrop, Lines) {
    let mut child = KillOnDrop(
        logstore()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let (tx, lines) = mpsc::channel();
    let stdout = child.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap()).is_err() {
                return;
            }
        }
    });
    (child, Lines(lines))
}

/// The lines a [`follow`]ed process prints.
pub struct Lines(mpsc::Receiver<String>);

impl Lines {
    /// The next line, waiting up to 20 s for it.
    pub fn next(&self) -> String {
        self.0
            .recv_timeout(Duration::from_secs(20))
            .expect("tail printed nothing")
    }
}

/// The segment files of a log, oldest first.
pub fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    v.sort();
    v
}
