//! Running one workload in a child process and reading its peak RSS.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::path::Path;
use std::process::{Command, Stdio};

/// What one child reported.
#[derive(Debug, Default)]
pub struct Outcome {
    /// metric -> (value, unit)
    pub figures: BTreeMap<String, (f64, String)>,
    /// Peak resident set size of the child, in bytes (`ru_maxrss`).
    pub peak_rss: u64,
    /// `None` if the child succeeded, else how it ended.
    pub failure: Option<String>,
}

/// Re-executes this binary as `child <store> <workload> <root> [--quick]`.
pub fn run(store: &str, workload: &str, root: &Path, quick: bool) -> io::Result<Outcome> {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.arg("child").arg(store).arg(workload).arg(root);
    if quick {
        cmd.arg("--quick");
    }
    let mut child = cmd.stdout(Stdio::piped()).spawn()?;
    let mut text = String::new();
    child
        .stdout
        .take()
        .expect("stdout is piped")
        .read_to_string(&mut text)?;
    let (status, peak_rss) = wait4(child.id())?;
    let mut outcome = Outcome {
        peak_rss,
        ..Outcome::default()
    };
    for line in text.lines() {
        let mut parts = line.split('\t');
        if let (Some(m), Some(v), Some(u)) = (parts.next(), parts.next(), parts.next()) {
            if let Ok(v) = v.parse::<f64>() {
                outcome.figures.insert(m.to_owned(), (v, u.to_owned()));
            }
        }
    }
    if status != 0 {
        outcome.failure = Some(format!("exit status {status:#x}"));
    }
    Ok(outcome)
}

/// Waits for the child `pid`, returning its raw wait status and its peak
/// RSS in bytes. std's `Child::wait` does not give the child's rusage.
#[allow(unsafe_code)]
fn wait4(pid: u32) -> io::Result<(i32, u64)> {
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain old data, all-zero is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: both pointers are to live locals of the right types; the
        // pid is our own unwaited child.
        let r = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
        if r >= 0 {
            break;
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    // On Linux ru_maxrss is in KiB.
    Ok((status, usage.ru_maxrss as u64 * 1024))
}
