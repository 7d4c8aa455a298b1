//! The flusher thread: syncs the entry log, then reports the appended
//! entries to openraft as flushed.
//!
//! `append` writes entries without syncing and queues openraft's callback
//! here. The thread takes every callback queued so far, makes one sync that
//! covers all their entries, and completes them in order; so a callback
//! never fires before its entries are durable, and a burst of appends
//! costs one sync.

use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

use logstore::Log;
use openraft::storage::LogFlushed;
use openraft::RaftTypeConfig;

pub(crate) struct Flusher<C: RaftTypeConfig> {
    tx: Option<Sender<LogFlushed<C>>>,
    thread: Option<JoinHandle<()>>,
}

impl<C: RaftTypeConfig> Flusher<C> {
    pub(crate) fn start(log: Arc<Log>) -> std::io::Result<Self> {
        let (tx, rx) = channel();
        let thread = std::thread::Builder::new()
            .name("logstore-raft-flush".into())
            .spawn(move || run(&log, rx))?;
        Ok(Flusher {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Queues `callback`; it fires once everything written so far is synced.
    pub(crate) fn queue(&self, callback: LogFlushed<C>) {
        if let Some(tx) = &self.tx {
            if let Err(e) = tx.send(callback) {
                // Only after the thread died: report rather than drop.
                e.0.log_io_completed(Err(std::io::Error::other("log flusher stopped")));
            }
        }
    }

    /// Completes the queued callbacks and stops the thread.
    pub(crate) fn stop(&mut self) {
        self.tx.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl<C: RaftTypeConfig> Drop for Flusher<C> {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run<C: RaftTypeConfig>(log: &Log, rx: Receiver<LogFlushed<C>>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        batch.extend(rx.try_iter());
        // A failed sync poisons the log, so every later sync fails too:
        // no callback after a failure can report success.
        let result = log.sync();
        for callback in batch {
            let r = match &result {
                Ok(()) => Ok(()),
                Err(e) => Err(std::io::Error::other(e.to_string())),
            };
            callback.log_io_completed(r);
        }
    }
}
