//! Appending: framing records into the write buffer (or straight from the
//! caller's buffer for large records), rolling segments, and making records
//! durable according to the sync policy.

use std::ops::Range;
use std::sync::atomic::Ordering;

use crate::error::{Error, ErrorKind, Result};
use crate::frame;
use crate::options::SyncPolicy;
use crate::state::{relock, Job, SealSync, Shared, State};
use crate::sync::MutexGuard;

/// An append made without waiting for durability ([`submit_records`]).
pub(crate) struct Submitted {
    pub positions: Range<u64>,
    /// The truncation epoch the records were appended in.
    pub epoch: u64,
    /// Whether the sync policy asks for these records to be synced now
    /// (`Always`, or `Bytes` past its limit): the caller has it done off
    /// its own thread.
    pub wants_sync: bool,
}

/// What an append does about durability once its records are written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// What the sync policy says: under `Always`, wait for a sync.
    Policy,
    /// Return at once; the caller learns of durability otherwise.
    Submitted,
}

/// Checks records before anything is written.
fn validate(sh: &Shared, records: &[&[u8]]) -> Result<u64> {
    let max = sh.opts.max_record_size;
    let which = |i: usize| {
        if records.len() == 1 {
            "record".to_string()
        } else {
            format!("record {i} of the batch")
        }
    };
    let mut total = 0;
    for (i, r) in records.iter().enumerate() {
        if r.is_empty() {
            return Err(Error::invalid(format!(
                "{} is empty; records are 1 byte or more",
                which(i)
            )));
        }
        if r.len() > max {
            return Err(Error::invalid(format!(
                "{} is {} bytes, more than max_record_size ({max} bytes)",
                which(i),
                r.len()
            )));
        }
        total += frame::frame_len(r.len());
    }
    Ok(total)
}

/// Appends `records` as one atomic batch; returns their positions.
pub(crate) fn append_records(sh: &Shared, records: &[&[u8]]) -> Result<Range<u64>> {
    Ok(append_as(sh, records, Wait::Policy)?.positions)
}

/// Appends `records` as one atomic batch without waiting for any sync,
/// whatever the policy.
pub(crate) fn submit_records(sh: &Shared, records: &[&[u8]]) -> Result<Submitted> {
    append_as(sh, records, Wait::Submitted)
}

fn append_as(sh: &Shared, records: &[&[u8]], wait: Wait) -> Result<Submitted> {
    let total = validate(sh, records)?;
    let st = sh.lock_state();
    // A roll cuts the file, and the records go from its data's end on.
    let mut st = crate::prezero::wait_zeroing(sh, st, |st, from| {
        !needs_roll(sh, st, total) && st.segs.data_end() + st.group.mark_len() + total <= from
    })?;
    let next = st.next();
    if records.is_empty() {
        return Ok(Submitted {
            positions: next..next,
            epoch: st.group.epoch(),
            wants_sync: false,
        });
    }
    // `truncate_front` may move the log to the end of the position
    // space; the counter must not wrap there.
    if u64::MAX - next < records.len() as u64 {
        return Err(Error::new(
            ErrorKind::OutOfRange,
            format!(
                "no position left for {} record(s) after position {next}",
                records.len(),
            ),
        )
        .at_position(next));
    }
    if needs_roll(sh, &st, total) {
        sh.roll(&mut st)?;
    }
    sh.write_mark(&mut st);
    let start = st.next();
    let undo = st.segs.mark();
    if let Err(e) = st.segs.frame_all(records) {
        st.segs.undo(undo);
        let err = Error::io("write", &st.segs.active().path, e);
        sh.poison(&mut st, &err);
        return Err(err);
    }
    st.group.appended(total);
    crate::prezero::request(sh, &mut st);
    let end_pos = st.next();
    if sh.tail_waiters.load(Ordering::SeqCst) > 0 {
        sh.appended_cv.notify_all();
    }
    let epoch = st.group.epoch();
    let wants_sync = match wait {
        Wait::Policy => {
            settle(sh, st, end_pos)?;
            false
        }
        Wait::Submitted => {
            if st.segs.buf().len() > sh.opts.write_buffer {
                sh.flush_locked(&mut st)?;
            }
            match sh.opts.sync_policy {
                SyncPolicy::Always => true,
                SyncPolicy::Bytes(limit) => st.group.unsynced_bytes() >= limit,
                SyncPolicy::Never | SyncPolicy::Interval(_) => false,
            }
        }
    };
    Ok(Submitted {
        positions: start..end_pos,
        epoch,
        wants_sync,
    })
}

/// Whether `total` more bytes start a new segment: the active one has
/// records and would pass the segment size (with a sync mark, if one
/// goes first).
fn needs_roll(sh: &Shared, st: &State, total: u64) -> bool {
    // (A segment that `truncate_back` emptied may still hold a sync
    // mark: it has no record, and takes this one whatever its size.)
    let end = st.segs.data_end();
    !st.segs.active().offsets().is_empty()
        && end + st.group.mark_len() + total > sh.opts.segment_size
}

/// Applies the sync policy after an append ending at `end_pos`.
fn settle(sh: &Shared, mut st: MutexGuard<'_, State>, end_pos: u64) -> Result<()> {
    match sh.opts.sync_policy {
        SyncPolicy::Always => {
            sync_through(sh, st, end_pos)?;
        }
        SyncPolicy::Never | SyncPolicy::Interval(_) => {
            if st.segs.buf().len() > sh.opts.write_buffer {
                sh.flush_locked(&mut st)?;
            }
        }
        SyncPolicy::Bytes(limit) => {
            if st.group.unsynced_bytes() >= limit {
                sync_through(sh, st, end_pos)?;
            } else if st.segs.buf().len() > sh.opts.write_buffer {
                sh.flush_locked(&mut st)?;
            }
        }
    }
    Ok(())
}

/// Makes every position below `target` durable. Concurrent callers share
/// the work (group commit): one of them, the leader, writes whatever is
/// buffered and syncs once, while the others wait for its result.
pub(crate) fn sync_through<'a>(
    sh: &'a Shared,
    mut st: MutexGuard<'a, State>,
    target: u64,
) -> Result<()> {
    let epoch = st.group.epoch();
    loop {
        if st.synced() >= target {
            return Ok(());
        }
        if st.group.epoch() != epoch {
            // A `truncate_back` ran meanwhile. It counts the positions
            // below its cut as durable only once they are, and a sync
            // only raises `synced`: below `target` still, so the cut
            // took (some of) these records, as if it had come after
            // they were acknowledged. Unless the cut failed: then the
            // log is poisoned and these records may be lost.
            sh.check_live(&st)?;
            return Ok(());
        }
        sh.check_live(&st)?;
        if st.group.syncing() {
            if st.group.covers(target) {
                // Covered by the sync in flight: wait for its outcome
                // away from the state lock, which the next leader
                // needs as soon as this sync ends.
                // If that outcome does not make the records durable
                // (a failure, a truncation, a close), the state says
                // why.
                let seen = sh.published.generation();
                drop(st);
                let done = sh.published.after(seen);
                if done.epoch == epoch && done.synced >= target {
                    return Ok(());
                }
                drop(done);
                st = sh.lock_state();
            } else {
                st = relock(sh.lead_cv.wait(st));
            }
            continue;
        }
        sh.flush_locked(&mut st)?;
        let upto = st.next();
        let ticket = st.group.begin(upto);
        // Appenders waiting to lead are covered by this sync now.
        sh.lead_cv.notify_all();
        let a = st.segs.active();
        let active = (a.file.clone(), a.path.clone());
        drop(st);
        // Its success is believed only once no other sync of these files
        // may have taken their write-back error (see `file_syncs`).
        // A sync that panics (a bug, or a file system's) has not said
        // whether the data is on disk: the ticket ends as failed and the
        // log is poisoned before the panic goes on, or the appenders
        // waiting for this sync, and every later one, would wait forever.
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            sh.sync_files(&ticket.sealed, &active)
                .and_then(|()| match ticket.dir {
                    true => sh.sync_dir(),
                    false => Ok(()),
                })
        }));
        st = sh.lock_state();
        let result = match result {
            Ok(result) => result,
            Err(panic) => {
                st.group.failed();
                let err = Error::io(
                    "fdatasync",
                    &active.1,
                    std::io::Error::other("the sync panicked"),
                );
                sh.poison(&mut st, &err);
                drop(st);
                std::panic::resume_unwind(panic);
            }
        };
        match result {
            Ok(()) => {
                for seg in st.group.succeeded(ticket) {
                    sh.submit(Job::Seal(seg, SealSync::Synced));
                }
            }
            Err(err) => {
                st.group.failed();
                sh.poison(&mut st, &err);
                return Err(err);
            }
        }
        // The next leader first, then the followers this sync covered.
        sh.lead_cv.notify_one();
        sh.published.publish(&st.group);
    }
}
