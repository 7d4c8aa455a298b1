//! Holding back chosen calls of a `SimFs`, so that a test can make the
//! engine's threads race in an order it chooses.

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use logstore::sim::{Op, SimFs};

struct Rule {
    op: Op,
    /// Calls on paths ending with this are held.
    suffix: String,
    closed: bool,
    /// Calls held right now.
    held: usize,
}

/// Gates on a file system's calls: a closed gate holds every call of its
/// kind on a matching path until it is opened.
#[derive(Clone)]
pub struct Gates {
    inner: Arc<(Mutex<Vec<Rule>>, Condvar)>,
}

impl Gates {
    /// Installs the gates as `fs`'s hook; all open at first.
    pub fn install(fs: &SimFs) -> Gates {
        let g = Gates {
            inner: Arc::new((Mutex::new(Vec::new()), Condvar::new())),
        };
        let hook = g.clone();
        fs.on_call(move |op, path| hook.pass(op, path));
        g
    }

    fn pass(&self, op: Op, path: &Path) {
        let (lock, cv) = &*self.inner;
        let path = path.to_string_lossy();
        let mut rules = lock.lock().unwrap();
        let Some(i) = rules
            .iter()
            .position(|r| r.op == op && path.ends_with(&r.suffix))
        else {
            return;
        };
        if !rules[i].closed {
            return;
        }
        rules[i].held += 1;
        cv.notify_all();
        while rules[i].closed {
            rules = cv.wait(rules).unwrap();
        }
        rules[i].held -= 1;
        cv.notify_all();
    }

    /// Holds calls of `op` on paths ending with `suffix` from now on.
    pub fn close(&self, op: Op, suffix: &str) {
        let mut rules = self.inner.0.lock().unwrap();
        match rules.iter_mut().find(|r| r.op == op && r.suffix == suffix) {
            Some(r) => r.closed = true,
            None => rules.push(Rule {
                op,
                suffix: suffix.to_string(),
                closed: true,
                held: 0,
            }),
        }
    }

    /// Lets the held calls go on, and later ones pass.
    pub fn open(&self, op: Op, suffix: &str) {
        let mut rules = self.inner.0.lock().unwrap();
        for r in rules
            .iter_mut()
            .filter(|r| r.op == op && r.suffix == suffix)
        {
            r.closed = false;
        }
        self.inner.1.notify_all();
    }

    /// Calls held right now at the gate.
    pub fn held(&self, op: Op, suffix: &str) -> usize {
        let rules = self.inner.0.lock().unwrap();
        rules
            .iter()
            .filter(|r| r.op == op && r.suffix == suffix)
            .map(|r| r.held)
            .sum()
    }

    /// Waits until `n` calls are held at the gate; panics after 10 s.
    pub fn wait_held(&self, op: Op, suffix: &str, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let (lock, cv) = &*self.inner;
        let mut rules = lock.lock().unwrap();
        loop {
            let held: usize = rules
                .iter()
                .filter(|r| r.op == op && r.suffix == suffix)
                .map(|r| r.held)
                .sum();
            if held >= n {
                return;
            }
            let now = Instant::now();
            assert!(
                now < deadline,
                "no {n} call(s) of {op:?} on *{suffix} held within 10 s ({held} are)"
            );
            rules = cv.wait_timeout(rules, deadline - now).unwrap().0;
        }
    }
}
