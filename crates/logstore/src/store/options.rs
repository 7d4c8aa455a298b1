//! How a [`Store`](super::Store) is opened.

use std::time::Duration;

use crate::options::Options;

/// How a [`Store`](super::Store) is opened.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    pub(crate) log: Options,
    pub(crate) compact_below: f64,
    pub(crate) background: bool,
    pub(crate) interval: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            log: Options::default(),
            compact_below: 0.5,
            background: true,
            interval: Duration::from_millis(100),
        }
    }
}

impl StoreOptions {
    /// The options of the shared log that holds every log's records: its
    /// sync policy applies to every log of the store, its maximum record
    /// size, less 17 bytes, to each record.
    pub fn log_options(mut self, options: Options) -> Self {
        self.log = options;
        self
    }

    /// Compaction copies the kept entries of a run of the oldest segments to
    /// the tail of the shared log, so that they can go, once they are fewer
    /// than this fraction of the run's entries (default 0.5; 0, or NaN,
    /// never copies). At 0.5 each byte copied frees at least one.
    pub fn compact_below(mut self, live_fraction: f64) -> Self {
        self.compact_below = match live_fraction.is_nan() {
            true => 0.0,
            false => live_fraction.clamp(0.0, 1.0),
        };
        self
    }

    /// Whether a thread of the store's gives space back (default on),
    /// at most every `interval` (at least a millisecond); off,
    /// [`Store::compact`](super::Store::compact) does.
    pub fn background_compaction(mut self, on: bool, interval: Duration) -> Self {
        self.background = on;
        self.interval = interval.max(Duration::from_millis(1));
        self
    }
}
