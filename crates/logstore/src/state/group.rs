//! Group commit's books: what is durable, what the sync in flight covers,
//! which sealed segments and rolls no sync has covered yet, and the
//! truncation epoch; and the published outcome of the latest sync.
//!
//! Invariants, kept by the methods below (the fields are private):
//! - Every position below `synced` is durable, and so is every sealed
//!   segment not listed in `unsynced`.
//! - At most one sync is in flight (`syncing`); it covers the positions
//!   below `syncing_upto`, and only counts if `epoch` has not moved
//!   meanwhile (a `truncate_back` bumps it, so that syncs started before
//!   it do not vouch for positions it reassigned).
//! - `vouched <= synced`... except after a cut, where the mark before the
//!   cut record vouches for less (see docs/DESIGN.md, "Sync marks").

use std::sync::Arc;

use crate::frame;
use crate::sync::{Condvar, Mutex, MutexGuard};

use super::relock;
use super::segments::Sealed;

#[derive(Debug)]
pub(crate) struct GroupCommit {
    synced: u64,
    /// The highest position a sync mark written by this handle vouches
    /// for (see `Shared::write_mark`).
    vouched: u64,
    /// Sealed segments whose data may not be durable yet.
    unsynced: Vec<Arc<Sealed>>,
    /// The sealed segments found at open that no sync of this handle has
    /// covered yet. A leader's ticket takes them from `unsynced`, but
    /// until its sync ends `sync_new_segments` must sync them itself.
    found: Vec<Arc<Sealed>>,
    /// Bytes appended since the last sync began (`SyncPolicy::Bytes`).
    unsynced_bytes: u64,
    /// Segment files created by rolls so far, and how many of them are
    /// known durable (name and header). A roll does not sync; the next
    /// sync does, before any record in the new file is acknowledged.
    rolls: u64,
    rolls_synced: u64,
    /// A group-commit leader is writing and syncing.
    syncing: bool,
    /// Positions below this are covered by the sync in flight.
    syncing_upto: u64,
    epoch: u64,
}

/// What a leader's sync covers, taken when it begins.
#[must_use]
pub(crate) struct Ticket {
    pub upto: u64,
    pub epoch: u64,
    /// Sealed segments to sync before the active one.
    pub sealed: Vec<Arc<Sealed>>,
    rolls: u64,
    /// Whether rolls made since the last sync need the directory synced.
    pub dir: bool,
}

impl GroupCommit {
    /// The books at open: `synced` durable, `vouched` vouched for by the
    /// marks found, `unsynced` sealed segments not known durable. The
    /// segment files found may have been created by rolls that no sync
    /// covered before the process stopped: the first sync makes the
    /// directory durable too.
    pub(crate) fn open(synced: u64, vouched: u64, unsynced: Vec<Arc<Sealed>>) -> Self {
        GroupCommit {
            synced,
            vouched,
            found: unsynced.clone(),
            unsynced,
            unsynced_bytes: 0,
            rolls: 1,
            rolls_synced: 0,
            syncing: false,
            syncing_upto: 0,
            epoch: 0,
        }
    }

    pub(crate) fn synced(&self) -> u64 {
        self.synced
    }

    pub(crate) fn epoch(&self) -> u64 {
        self.epoch
    }

    pub(crate) fn syncing(&self) -> bool {
        self.syncing
    }

    /// Whether the sync in flight covers positions below `target`.
    pub(crate) fn covers(&self, target: u64) -> bool {
        self.syncing && target <= self.syncing_upto
    }

    pub(crate) fn unsynced_bytes(&self) -> u64 {
        self.unsynced_bytes
    }

    pub(crate) fn appended(&mut self, bytes: u64) {
        self.unsynced_bytes += bytes;
    }

    /// Bytes a sync mark would add before the next record now.
    pub(crate) fn mark_len(&self) -> u64 {
        if self.synced > self.vouched {
            frame::MARK_LEN
        } else {
            0
        }
    }

    /// The position a sync mark written now vouches for, if one is due
    /// (`synced` moved since the last), counted as written.
    pub(crate) fn take_mark(&mut self) -> Option<u64> {
        (self.synced > self.vouched).then(|| {
            self.vouched = self.synced;
            self.synced
        })
    }

    /// Whether a clean close must write a mark vouching for every record
    /// below `next`: all of them are synced and no mark says so yet.
    pub(crate) fn close_mark_due(&self, next: u64) -> bool {
        self.synced >= next && self.vouched < next
    }

    pub(crate) fn vouch_all(&mut self, next: u64) {
        self.vouched = next;
    }

    /// A roll sealed `seg`: the next sync makes it and the new file
    /// durable.
    pub(crate) fn rolled(&mut self, seg: Arc<Sealed>) {
        self.rolls += 1;
        self.unsynced.push(seg);
    }

    /// How many of the newest sealed segments were created by rolls no
    /// sync covered (the active one is too), or `None` if none.
    pub(crate) fn unsynced_rolls(&self) -> Option<usize> {
        (self.rolls > self.rolls_synced)
            .then(|| (self.rolls - self.rolls_synced).saturating_sub(1) as usize)
    }

    /// The sealed segments found at open that no sync has covered yet.
    pub(crate) fn found_unsynced(&self) -> &[Arc<Sealed>] {
        &self.found
    }

    /// The segments rolls created, and those found at open, are durable
    /// (names and headers).
    pub(crate) fn rolls_synced(&mut self) {
        self.rolls_synced = self.rolls;
        self.found.clear();
    }

    /// A leader begins a sync of everything below `upto` (the buffer is
    /// written).
    pub(crate) fn begin(&mut self, upto: u64) -> Ticket {
        debug_assert!(!self.syncing);
        self.syncing = true;
        self.syncing_upto = upto;
        self.unsynced_bytes = 0;
        Ticket {
            upto,
            epoch: self.epoch,
            sealed: std::mem::take(&mut self.unsynced),
            rolls: self.rolls,
            dir: self.rolls > self.rolls_synced,
        }
    }

    /// The sync of `t` succeeded; returns the sealed segments it made
    /// durable (their indexes may be written now).
    pub(crate) fn succeeded(&mut self, t: Ticket) -> Vec<Arc<Sealed>> {
        self.syncing = false;
        self.rolls_synced = self.rolls_synced.max(t.rolls);
        self.found
            .retain(|f| !t.sealed.iter().any(|s| Arc::ptr_eq(s, f)));
        if self.epoch == t.epoch && t.upto > self.synced {
            self.synced = t.upto;
        }
        t.sealed
    }

    /// The sync failed (the log is poisoned by the caller).
    pub(crate) fn failed(&mut self) {
        self.syncing = false;
    }

    /// Takes the sealed segments no sync covered, for a caller that syncs
    /// them itself.
    pub(crate) fn take_unsynced(&mut self) -> Vec<Arc<Sealed>> {
        std::mem::take(&mut self.unsynced)
    }

    /// The seal job made `seg` durable.
    pub(crate) fn sealed_durable(&mut self, seg: &Arc<Sealed>) {
        self.unsynced.retain(|s| !Arc::ptr_eq(s, seg));
        self.found.retain(|s| !Arc::ptr_eq(s, seg));
    }

    /// The front moved to `pos`: segments ending before it are gone.
    pub(crate) fn dropped_front(&mut self, pos: u64) {
        self.unsynced.retain(|u| u.end > pos);
        self.found.retain(|u| u.end > pos);
    }

    /// The log was emptied past its end: nothing below `pos` exists, so
    /// all of it counts as durable.
    pub(crate) fn restarted(&mut self, pos: u64) {
        self.unsynced.clear();
        self.found.clear();
        self.synced = pos;
    }

    /// Sealed segments from the one starting at `from` on were removed.
    pub(crate) fn dropped_from(&mut self, from: u64) {
        self.unsynced.retain(|u| u.first < from);
        self.found.retain(|u| u.first < from);
    }

    /// `truncate_back` cut the log at `pos`, durably, with no sync in
    /// flight and every sealed segment synced. Marks after the cut are
    /// gone with it; the one before the cut record (if any) vouches for
    /// positions up to it, and the next mark is written once a sync goes
    /// past it, so that marks do not pile up before the cut record when
    /// cuts repeat.
    pub(crate) fn cut_back(&mut self, pos: u64) {
        debug_assert!(self.unsynced.is_empty() && !self.syncing);
        self.synced = pos;
        self.unsynced_bytes = 0;
        self.epoch += 1;
        self.vouched = pos;
    }

    /// A failed `truncate_back` left the log ending at `end`.
    pub(crate) fn cut_failed(&mut self, end: u64) {
        self.synced = self.synced.min(end);
        self.epoch += 1;
    }
}

/// What [`Published::publish`] last published.
#[derive(Debug, Default)]
pub(crate) struct SyncDone {
    /// Bumped by every publication.
    pub generation: u64,
    /// `synced` and `epoch` then.
    pub synced: u64,
    pub epoch: u64,
}

/// The outcome of the latest sync, published when it ends: appenders that
/// the sync in flight covers (and `truncate_back`) wait for it here, away
/// from the state lock, so that waking them does not crowd the lock the
/// next leader needs.
#[derive(Debug, Default)]
pub(crate) struct Published {
    done: Mutex<SyncDone>,
    cv: Condvar,
}

impl Published {
    pub(crate) fn generation(&self) -> u64 {
        relock(self.done.lock()).generation
    }

    /// Tells those waiting that a sync ended or the log changed under
    /// them, with what is durable now.
    pub(crate) fn publish(&self, g: &GroupCommit) {
        let mut done = relock(self.done.lock());
        done.generation += 1;
        done.synced = g.synced;
        done.epoch = g.epoch;
        drop(done);
        self.cv.notify_all();
    }

    /// Waits for a publication after generation `seen`; returns it.
    pub(crate) fn after(&self, seen: u64) -> MutexGuard<'_, SyncDone> {
        let mut done = relock(self.done.lock());
        while done.generation == seen {
            done = relock(self.cv.wait(done));
        }
        done
    }
}
