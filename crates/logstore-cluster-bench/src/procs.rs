//! The processes a benchmark starts: every one is killed and reaped when
//! the set is dropped, including when the run fails or times out.

use std::io;
use std::path::Path;
use std::process::{Child, Command};

/// Processes started by the benchmark, by slot.
#[derive(Default)]
pub struct Procs {
    children: Vec<Option<Child>>,
}

impl Procs {
    /// Starts `cmd` in a new slot and returns the slot.
    pub fn spawn(&mut self, cmd: &mut Command) -> io::Result<usize> {
        let child = cmd.spawn()?;
        self.children.push(Some(child));
        Ok(self.children.len() - 1)
    }

    /// Kills the process in `slot` with SIGKILL and waits for it to exit.
    /// Its own children die first: a server run under `strace` is the
    /// tracer's child, and a tracer killed first would leave it running.
    pub fn kill(&mut self, slot: usize) -> io::Result<()> {
        if let Some(mut child) = self.children.get_mut(slot).and_then(Option::take) {
            let orphans = children(child.id());
            for pid in &orphans {
                let _ = Command::new("kill")
                    .arg("-KILL")
                    .arg(pid.to_string())
                    .status();
            }
            // A tracer ends once its tracee has, having written out what
            // it holds: give it up to 5 s before killing it too.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
            while !orphans.is_empty()
                && matches!(child.try_wait(), Ok(None))
                && std::time::Instant::now() < deadline
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            // It may have exited already.
            let _ = child.kill();
            child.wait()?;
        }
        Ok(())
    }

    /// Whether the process in `slot` still runs (it may have exited on its
    /// own: a bad configuration, say).
    pub fn running(&mut self, slot: usize) -> bool {
        match self.children.get_mut(slot) {
            Some(Some(child)) => matches!(child.try_wait(), Ok(None)),
            _ => false,
        }
    }

    /// CPU time (user and system, all threads) that the process in `slot`
    /// has used so far, in seconds; `None` once it is gone.
    pub fn cpu_seconds(&self, slot: usize) -> Option<f64> {
        let child = self.children.get(slot)?.as_ref()?;
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", child.id())).ok()?;
        // Fields after the command name (which may hold spaces) in
        // parentheses: state is field 3, utime 14 and stime 15.
        let rest = &stat[stat.rfind(')')? + 1..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let utime: u64 = fields.get(11)?.parse().ok()?;
        let stime: u64 = fields.get(12)?.parse().ok()?;
        Some((utime + stime) as f64 / clock_ticks())
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        for slot in 0..self.children.len() {
            let _ = self.kill(slot);
        }
    }
}

/// The direct children of process `pid`.
fn children(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|s| {
            s.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

/// Clock ticks per second, the unit of utime and stime in /proc.
fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// A command that runs `bin`, under `strace` (counting fsync and fdatasync,
/// with wall-clock times, into `trace`) when `trace` is given.
pub fn command(bin: &Path, trace: Option<&Path>) -> Command {
    match trace {
        None => Command::new(bin),
        Some(out) => {
            let mut cmd = Command::new("strace");
            cmd.args(["-f", "-qq", "-ttt", "-e", "trace=fsync,fdatasync"]);
            cmd.args(["-e", "signal=none", "-o"]).arg(out).arg(bin);
            cmd
        }
    }
}

/// `n` distinct free TCP ports on 127.0.0.1 (all listeners are held until
/// every port is chosen, so none is handed out twice).
pub fn free_ports(n: usize) -> io::Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<io::Result<Vec<_>>>()?;
    listeners
        .iter()
        .map(|l| Ok(l.local_addr()?.port()))
        .collect()
}
