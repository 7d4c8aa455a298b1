//! [`WriteBatch`]: appends and state values for several logs at once.

/// Appends and state values for any logs of a store, written atomically
/// by [`Store::write`](super::Store::write).
#[derive(Clone, Debug, Default)]
pub struct WriteBatch {
    pub(super) ops: Vec<BatchOp>,
}

#[derive(Clone, Debug)]
pub(super) enum BatchOp {
    Append(u64, Vec<u8>),
    State(u64, Option<Vec<u8>>),
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `record` to log `log`.
    pub fn append(&mut self, log: u64, record: &[u8]) -> &mut Self {
        self.ops.push(BatchOp::Append(log, record.to_vec()));
        self
    }

    /// Replaces the state value of log `log`.
    pub fn set_state(&mut self, log: u64, value: &[u8]) -> &mut Self {
        self.ops.push(BatchOp::State(log, Some(value.to_vec())));
        self
    }

    /// Removes the state value of log `log`.
    pub fn clear_state(&mut self, log: u64) -> &mut Self {
        self.ops.push(BatchOp::State(log, None));
        self
    }

    /// How many appends and state changes it holds.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}
