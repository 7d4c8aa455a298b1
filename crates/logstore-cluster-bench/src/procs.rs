//! The processes a benchmark starts: every one is killed and reaped when
//! the set is dropped, including when the run fails or times out.

use std::io;
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
    pub fn kill(&mut self, slot: usize) -> io::Result<()> {
        if let Some(mut child) = self.children.get_mut(slot).and_then(Option::take) {
            child.kill()?;
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
}

impl Drop for Procs {
    fn drop(&mut self) {
        for slot in 0..self.children.len() {
            let _ = self.kill(slot);
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
