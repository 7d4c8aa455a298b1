//! [`StoreLog`]: one log of a store, with the API of a [`Log`](crate::Log).

use std::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use super::catalog::LogState;
use super::entry::{self, Entry, RECORD_HEADER};
use super::locs::Loc;
use super::{check_state, no_log, no_room, Inner};
use crate::error::{Error, ErrorKind, Result};
use crate::reader::{out_of_range, truncated};

/// One log of a [`Store`](super::Store): a cheap handle, valid while the store is open
/// and the log exists (calls fail with [`ErrorKind::Closed`] after the
/// store is closed or dropped, [`ErrorKind::OutOfRange`] after the log is
/// dropped).
#[derive(Clone, Debug)]
pub struct StoreLog {
    pub(super) inner: Weak<Inner>,
    pub(super) id: u64,
    pub(super) incarnation: u64,
}

impl StoreLog {
    /// The log's id.
    pub fn id(&self) -> u64 {
        self.id
    }

    fn inner(&self) -> Result<Arc<Inner>> {
        self.inner
            .upgrade()
            .ok_or_else(|| Error::new(ErrorKind::Closed, "the store was closed"))
    }

    /// Appends one record, as [`Log::append`](crate::Log::append).
    ///
    /// # Errors
    /// [`ErrorKind::OutOfRange`] if the log was dropped; as [`Log::append`](crate::Log::append).
    pub fn append(&self, record: &[u8]) -> Result<u64> {
        Ok(self.append_batch(&[record])?.start)
    }

    /// Appends records as one batch, as [`Log::append_batch`](crate::Log::append_batch).
    ///
    /// # Errors
    /// As [`StoreLog::append`].
    pub fn append_batch<R: AsRef<[u8]>>(&self, records: &[R]) -> Result<Range<u64>> {
        let inner = self.inner()?;
        let w = self.submit_with(&inner, records, |_, e| inner.shared.submit_wanting(e))?;
        if w.wants_sync {
            inner.shared.sync_to(w.at.end)?;
        }
        Ok(w.positions)
    }

    /// Appends records as one batch without waiting for them to be
    /// durable, whatever the sync policy, and calls `on_durable` once they
    /// are, with their positions, or with the error that means they may not
    /// be: as [`Log::submit_batch_then`](crate::Log::submit_batch_then), whose group commit it shares.
    ///
    /// # Errors
    /// As [`StoreLog::append`]; `on_durable` is then dropped without
    /// running.
    pub fn submit_batch_then<R, F>(&self, records: &[R], on_durable: F) -> Result<Range<u64>>
    where
        R: AsRef<[u8]>,
        F: FnOnce(Result<Range<u64>>) + Send + 'static,
    {
        let inner = self.inner()?;
        let mut sub = None;
        let w = self.submit_with(&inner, records, |_, entries| {
            let s = inner.shared.submit_noticed(entries)?;
            let at = s.positions.clone();
            sub = Some(s);
            Ok((at, false))
        })?;
        // Out of the catalog lock: a notice whose records are durable
        // already runs at once, and may call the store.
        let positions = w.positions.clone();
        match sub {
            Some(s) => inner
                .shared
                .notify_durable(&s, move |r| on_durable(r.map(|()| positions))),
            // An empty batch: durable once everything before it is.
            None => {
                let none: [&[u8]; 0] = [];
                inner
                    .shared
                    .submit_batch_then(&none, move |r| on_durable(r.map(|_| positions)))?;
            }
        }
        Ok(w.positions)
    }

    /// Gives `records` the log's next positions and writes their entries
    /// with `write(first position, entries)`, under the catalog lock.
    fn submit_with<R: AsRef<[u8]>>(
        &self,
        inner: &Inner,
        records: &[R],
        write: impl FnOnce(u64, &[Vec<u8>]) -> Result<(Range<u64>, bool)>,
    ) -> Result<Written> {
        for r in records {
            inner.check_record(r.as_ref())?;
        }
        let mut cat = inner.lock();
        let log = cat
            .get_mut(self.id, self.incarnation)
            .ok_or_else(|| no_log(self.id))?;
        let start = log.next();
        let end = start
            .checked_add(records.len() as u64)
            .ok_or_else(|| no_room(self.id))?;
        if records.is_empty() {
            return Ok(Written {
                positions: start..end,
                at: 0..0,
                wants_sync: false,
            });
        }
        let entries: Vec<Vec<u8>> = (start..end)
            .zip(records)
            .map(|(p, r)| entry::record(false, self.id, p, r.as_ref()))
            .collect();
        let (at, wants_sync) = write(start, &entries)?;
        at.clone().for_each(|loc| log.push(loc));
        drop(cat);
        inner.appended.notify_all();
        Ok(Written {
            positions: start..end,
            at,
            wants_sync,
        })
    }

    /// Reads the record at `position`.
    ///
    /// # Errors
    /// [`ErrorKind::Truncated`] before the first position,
    /// [`ErrorKind::OutOfRange`] at or after the next one (or if the log
    /// was dropped), [`ErrorKind::Corruption`].
    pub fn read(&self, position: u64) -> Result<Vec<u8>> {
        let inner = self.inner()?;
        loop {
            let loc = inner.with_log(self.id, self.incarnation, |l| {
                l.loc(position).ok_or_else(|| match position < l.first() {
                    true => truncated(position, l.first()),
                    false => out_of_range(position, l.first(), l.next()),
                })
            })??;
            let found = inner
                .locate(self.id, position, loc)
                .and_then(|at| match at {
                    Some(at) => inner.shared.read(at).map(|v| (at, v)),
                    None => Err(self.missing(&inner, position, loc)),
                });
            match found {
                Ok((at, mut v)) => {
                    self.check_entry(&inner, at, position, &v)?;
                    // A segment's map gives the newest record of the log id
                    // at that position: if the log was dropped and made
                    // again, or cut and appended to, since its location was
                    // taken, that is not this record. Look again.
                    if matches!(loc, Loc::In(_))
                        && inner.with_log(self.id, self.incarnation, |l| l.loc(position))?
                            != Some(loc)
                    {
                        continue;
                    }
                    v.drain(..RECORD_HEADER);
                    return Ok(v);
                }
                // Compaction moved the record and dropped the old copy
                // meanwhile, or a truncation took it: look again.
                Err(e) if matches!(e.kind(), ErrorKind::Truncated | ErrorKind::Corruption) => {
                    let now = inner.with_log(self.id, self.incarnation, |l| l.loc(position))?;
                    if now == Some(loc) {
                        return Err(e);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The record at `position` is not in the segment the catalog says.
    fn missing(&self, inner: &Inner, position: u64, loc: Loc) -> Error {
        let near = match loc {
            Loc::At(at) | Loc::In(at) => at,
        };
        Error::new(
            ErrorKind::Corruption,
            format!(
                "store log {}: the shared segment holding position {near} has no record of its position {position}",
                self.id
            ),
        )
        .with_path(inner.shared.dir())
        .at_position(near)
    }

    fn check_entry(&self, inner: &Inner, loc: u64, position: u64, b: &[u8]) -> Result<()> {
        match entry::decode(loc, b)? {
            Entry::Put { log, position: p, .. } | Entry::Moved { log, position: p, .. }
                if log == self.id && p == position =>
            {
                Ok(())
            }
            other => Err(Error::new(
                ErrorKind::Corruption,
                format!(
                    "shared position {loc} should hold log {} position {position}, it holds {other:?}",
                    self.id
                ),
            )
            .with_path(inner.shared.dir())
            .at_position(loc)),
        }
    }

    /// Calls `f(position, record)` for each record from `from` on, in
    /// order, until the end of the log or until `f` returns `false`.
    /// Returns how many records were passed to `f`.
    ///
    /// # Errors
    /// As [`StoreLog::read`]; [`ErrorKind::OutOfRange`] if `from` is past
    /// the next position.
    pub fn replay(&self, from: u64, mut f: impl FnMut(u64, &[u8]) -> bool) -> Result<u64> {
        let (first, next) = self.range()?;
        if from < first {
            return Err(truncated(from, first));
        }
        if from > next {
            return Err(out_of_range(from, first, next));
        }
        let mut n = 0;
        for p in from.. {
            if p >= self.next_position()? {
                break;
            }
            let r = self.read(p)?;
            n += 1;
            if !f(p, &r) {
                break;
            }
        }
        Ok(n)
    }

    /// The records from `from` on, as `(position, record)`; it ends at the
    /// end of the log as it is when each item is asked for.
    pub fn iter(&self, from: u64) -> impl Iterator<Item = Result<(u64, Vec<u8>)>> + '_ {
        let mut p = from;
        std::iter::from_fn(move || match self.next_position() {
            Ok(next) if p < next => {
                let r = self.read(p).map(|r| (p, r));
                p += 1;
                Some(r)
            }
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        })
    }

    /// Blocks until a record exists at `position` or `timeout` passes
    /// (`None`: no limit). Returns whether it exists.
    ///
    /// # Errors
    /// [`ErrorKind::OutOfRange`] if the log is dropped,
    /// [`ErrorKind::Closed`] if the store closes while waiting.
    pub fn wait_for(&self, position: u64, timeout: Option<Duration>) -> Result<bool> {
        let inner = self.inner()?;
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut cat = inner.lock();
        loop {
            let log = cat
                .get(self.id, self.incarnation)
                .ok_or_else(|| no_log(self.id))?;
            if log.next() > position {
                return Ok(true);
            }
            if inner.stop.load(Ordering::SeqCst) {
                return Err(Error::new(ErrorKind::Closed, "the store was closed"));
            }
            cat = match deadline {
                None => inner.appended.wait(cat).unwrap_or_else(|p| p.into_inner()),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(false);
                    }
                    let (c, _) = inner
                        .appended
                        .wait_timeout(cat, left)
                        .unwrap_or_else(|p| p.into_inner());
                    c
                }
            };
        }
    }

    /// The log's first and next positions.
    fn range(&self) -> Result<(u64, u64)> {
        self.inner()?
            .with_log(self.id, self.incarnation, |l| (l.first(), l.next()))
    }

    /// The oldest position kept (equal to the next position when empty).
    ///
    /// # Errors
    /// [`ErrorKind::OutOfRange`] if the log was dropped.
    pub fn first_position(&self) -> Result<u64> {
        Ok(self.range()?.0)
    }

    /// The position the next append will get.
    ///
    /// # Errors
    /// [`ErrorKind::OutOfRange`] if the log was dropped.
    pub fn next_position(&self) -> Result<u64> {
        Ok(self.range()?.1)
    }

    /// The log's state value, if one was set.
    ///
    /// # Errors
    /// [`ErrorKind::OutOfRange`] if the log was dropped.
    pub fn state(&self) -> Result<Option<Vec<u8>>> {
        self.inner()?
            .with_log(self.id, self.incarnation, |l| l.state.clone())
    }

    /// Replaces the log's state value (up to [`MAX_STATE_SIZE`](super::MAX_STATE_SIZE) bytes),
    /// atomically and durably.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] if it is too large; as
    /// [`StoreLog::append`].
    pub fn set_state(&self, value: &[u8]) -> Result<()> {
        check_state(Some(value))?;
        let end = self.change(|_| {
            Ok(Change {
                state: Some(value.to_vec()),
                ..Change::default()
            })
        })?;
        self.inner()?.shared.sync_to(end)
    }

    /// Replaces the log's state value atomically without waiting for it to
    /// be durable: a later sync of the store (any durable write, or
    /// [`StoreLog::sync`]) makes it durable, with everything written before.
    /// For a value that is only a hint, such as a raft commit index.
    ///
    /// # Errors
    /// As [`StoreLog::set_state`].
    pub fn submit_state(&self, value: &[u8]) -> Result<()> {
        check_state(Some(value))?;
        self.change(|_| {
            Ok(Change {
                state: Some(value.to_vec()),
                ..Change::default()
            })
        })
        .map(|_| ())
    }

    /// Appends one record without waiting for it to be durable, whatever
    /// the sync policy; see [`Log::submit`](crate::Log::submit).
    ///
    /// # Errors
    /// As [`StoreLog::append`].
    pub fn submit(&self, record: &[u8]) -> Result<u64> {
        let inner = self.inner()?;
        // The shared log's own submit: under a policy that wants the
        // record synced now, its thread syncs it soon.
        let w = self.submit_with(&inner, &[record], |_, e| {
            Ok((inner.shared.submit_batch(e)?, false))
        })?;
        Ok(w.positions.start)
    }

    /// Makes everything written to the store so far durable, this log's
    /// records among it.
    ///
    /// # Errors
    /// As [`Log::sync`](crate::Log::sync).
    pub fn sync(&self) -> Result<()> {
        self.inner()?.shared.sync()
    }

    /// Drops every record before `position`, durably, without copying
    /// anything: as [`Log::truncate_front`](crate::Log::truncate_front), also past the end. The space
    /// is given back by compaction.
    ///
    /// # Errors
    /// As [`StoreLog::append`].
    pub fn truncate_front(&self, position: u64) -> Result<()> {
        let end = self.change(|_| {
            Ok(Change {
                front: Some(position),
                ..Change::default()
            })
        })?;
        self.inner()?.shared.sync_to(end)
    }

    /// Drops every record before `position` and replaces the log's state
    /// value, both in one entry: atomically (after a crash, both or
    /// neither) and with one sync. For a raft purge, whose purge point is
    /// kept in the state value.
    ///
    /// # Errors
    /// As [`StoreLog::set_state`].
    pub fn truncate_front_with_state(&self, position: u64, value: &[u8]) -> Result<()> {
        check_state(Some(value))?;
        let end = self.change(|_| {
            Ok(Change {
                front: Some(position),
                state: Some(value.to_vec()),
                ..Change::default()
            })
        })?;
        self.inner()?.shared.sync_to(end)
    }

    /// Drops the records at `position` and after, durably: the next
    /// append gets `position`.
    ///
    /// # Errors
    /// [`ErrorKind::OutOfRange`] if `position` is before the first
    /// position (nothing changes); as [`StoreLog::append`].
    pub fn truncate_back(&self, position: u64) -> Result<()> {
        let end = self.change(|l| match position < l.first() {
            true => Err(out_of_range(position, l.first(), l.next())),
            false => Ok(Change {
                back: Some(position),
                ..Change::default()
            }),
        })?;
        self.inner()?.shared.sync_to(end)
    }

    /// Writes the log's meta entry after the change `plan` returns, then
    /// applies it; returns the shared position the caller syncs to, to make
    /// it durable. Nothing changes if the write fails; if that sync fails,
    /// the shared log is poisoned (no later write is taken) and the change
    /// may or may not be found after reopening.
    fn change(&self, plan: impl FnOnce(&LogState) -> Result<Change>) -> Result<u64> {
        let inner = &self.inner()?;
        let mut cat = inner.lock();
        let log = cat
            .get_mut(self.id, self.incarnation)
            .ok_or_else(|| no_log(self.id))?;
        let change = plan(log)?;
        let (mut first, mut next) = (log.first(), log.next());
        if let Some(p) = change.front.filter(|&p| p > first) {
            (first, next) = (p, next.max(p));
        }
        if let Some(p) = change.back {
            next = next.min(p);
        }
        let state = change.state.as_deref().or(log.state.as_deref());
        let at = inner
            .submit(&[entry::meta(self.id, first, next, state)])?
            .start;
        if let Some(p) = change.front {
            log.truncate_front(p);
        }
        if let Some(p) = change.back {
            log.truncate_back(p);
        }
        if let Some(v) = change.state {
            log.state = Some(v);
        }
        log.set_meta(at);
        Ok(at + 1)
    }
}

/// Records [`StoreLog::submit_with`] wrote.
struct Written {
    /// Their positions in their log.
    positions: Range<u64>,
    /// Their entries' positions in the shared log.
    at: Range<u64>,
    /// Whether the sync policy wants them synced before an append returns.
    wants_sync: bool,
}

/// What [`StoreLog::change`] does: the parts set.
#[derive(Default)]
struct Change {
    /// Drops the records before it.
    front: Option<u64>,
    /// Drops the records at it and after.
    back: Option<u64>,
    /// The new state value.
    state: Option<Vec<u8>>,
}
