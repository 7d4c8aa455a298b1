//! The operation model: random operations, a power cut, recovery, and a
//! comparison with what was acknowledged.

use std::collections::BTreeMap;

use logstore::sim::{CrashMode, SimFs};
use logstore::{ErrorKind, Log, Options, SyncPolicy};

use crate::source::{payload, Source};

/// What an [`check_ops`] run did.
#[derive(Debug, Default)]
pub struct OpsStats {
    /// Operations issued.
    pub ops: u64,
}

/// What the operation a power cut interrupted may have done.
#[derive(Debug)]
enum Pending {
    Append(Vec<Vec<u8>>),
    Front(u64),
    Back(u64),
}

/// The log as acknowledged: first position and records (`next` is one
/// past the last).
#[derive(Debug, Default)]
struct Model {
    first: u64,
    next: u64,
    recs: BTreeMap<u64, Vec<u8>>,
}

const ROUNDS: usize = 3;
const OPS_PER_ROUND: usize = 60;

/// One run: up to three rounds of operations (append, batch,
/// truncate_front, truncate_back, sync, read, replay, clean reopen) with
/// `SyncPolicy::Always`, each round with a power cut after a chosen number
/// of mutating file-system calls, then a restart with a chosen crash mode
/// and strict recovery. The recovered log must hold every acknowledged
/// record, may hold the interrupted operation's effect (whole for
/// appends, a prefix cut for `truncate_back`), and nothing else; no
/// operation fails unless the power is off.
pub fn check_ops(src: &mut impl Source) -> Result<OpsStats, String> {
    let mut stats = OpsStats::default();
    let fs = SimFs::new();
    let opts = Options::default()
        .segment_size(4096)
        .sync_policy(SyncPolicy::Always)
        .background_reclaim(src.below(2) == 0)
        .simulated(&fs);
    let mut m = Model::default();
    let mut log = Some(Log::open("/log", opts.clone()).map_err(|e| e.to_string())?);
    for round in 0..ROUNDS {
        if src.exhausted() {
            break;
        }
        fs.cut_power_after(src.below(120));
        let pending = run_round(src, &fs, &opts, &mut log, &mut m, &mut stats)
            .map_err(|e| format!("round {round}: {e}"))?;
        drop(log.take());
        let mode = match src.below(3) {
            0 => CrashMode::DropUnsynced,
            1 => CrashMode::KeepUnsynced,
            _ => CrashMode::Scramble(src.next()),
        };
        fs.restart(mode);
        let reopened = recover(&fs, &opts, &mut m, pending)
            .map_err(|e| format!("round {round} {mode:?}: {e}"))?;
        log = Some(reopened);
    }
    Ok(stats)
}

/// Issues operations until one fails (which must be for the power cut) or
/// the round ends; returns what the failed operation may have done.
fn run_round(
    src: &mut impl Source,
    fs: &SimFs,
    opts: &Options,
    log: &mut Option<Log>,
    m: &mut Model,
    stats: &mut OpsStats,
) -> Result<Option<Pending>, String> {
    for _ in 0..OPS_PER_ROUND {
        if src.exhausted() {
            break;
        }
        stats.ops += 1;
        let (result, pending) = step(src, fs, opts, log, m)?;
        if let Err(e) = result {
            if !fs.is_powered_off() {
                return Err(format!("error without a power cut: {e}"));
            }
            return Ok(pending);
        }
    }
    Ok(None)
}

type Step = (Result<(), logstore::Error>, Option<Pending>);

/// One operation, applied to the model if it succeeded.
fn step(
    src: &mut impl Source,
    fs: &SimFs,
    opts: &Options,
    slot: &mut Option<Log>,
    m: &mut Model,
) -> Result<Step, String> {
    let Some(l) = slot.as_ref() else {
        return Err("no open log".into());
    };
    let tag = src.next();
    Ok(match src.below(13) {
        0..=4 => {
            let max = if src.below(10) == 0 { 6000 } else { 300 };
            let rec = payload(tag, 1 + src.below(max) as usize);
            let result = l.append(&rec).map(|p| vec![(p, rec.clone())]);
            (add(m, result)?, Some(Pending::Append(vec![rec])))
        }
        5 | 6 => {
            let n = 2 + src.below(4);
            let batch: Vec<Vec<u8>> = (0..n)
                .map(|i| payload(tag ^ i, 1 + src.below(500) as usize))
                .collect();
            let result = l
                .append_batch(&batch)
                .map(|range| range.zip(batch.iter().cloned()).collect());
            (add(m, result)?, Some(Pending::Append(batch)))
        }
        7 => {
            let p = m.first + src.below(m.next - m.first + 3);
            let result = l.truncate_front(p);
            if result.is_ok() && p > m.first {
                m.first = p;
                m.recs = m.recs.split_off(&p);
                m.next = m.next.max(p);
            }
            (result, Some(Pending::Front(p)))
        }
        8 => {
            let p = m.first + src.below(m.next - m.first + 1);
            let result = l.truncate_back(p);
            if result.is_ok() && p < m.next {
                m.recs.split_off(&p);
                m.next = p;
            }
            (result, Some(Pending::Back(p)))
        }
        9 => (l.sync(), None),
        10 => {
            let p = m.first.saturating_sub(1) + src.below(m.next - m.first + 3);
            (check_read(l, m, p, fs)?, None)
        }
        11 => {
            let from = m.first + src.below(m.next - m.first + 1);
            (check_replay(l, m, from)?, None)
        }
        _ => {
            let result = l.close();
            slot.take();
            let result = result.and_then(|()| Log::open("/log", opts.clone()));
            match result {
                Ok(reopened) => {
                    same_range(&reopened, m)?;
                    *slot = Some(reopened);
                    (Ok(()), None)
                }
                Err(e) => (Err(e), None),
            }
        }
    })
}

/// Applies acknowledged appends to the model.
fn add(
    m: &mut Model,
    result: logstore::Result<Vec<(u64, Vec<u8>)>>,
) -> Result<logstore::Result<()>, String> {
    Ok(match result {
        Ok(added) => {
            for (p, rec) in added {
                if p != m.next {
                    return Err(format!("append got {p}, expected {}", m.next));
                }
                m.recs.insert(p, rec);
                m.next += 1;
            }
            Ok(())
        }
        Err(e) => Err(e),
    })
}

fn check_read(l: &Log, m: &Model, p: u64, fs: &SimFs) -> Result<logstore::Result<()>, String> {
    let got = l.read(p);
    let want = m.recs.get(&p);
    match (&got, want) {
        (Ok(rec), Some(w)) if rec == w => Ok(Ok(())),
        (Err(e), None) if p < m.first && e.kind() == ErrorKind::Truncated => Ok(Ok(())),
        (Err(e), None) if p >= m.next && e.kind() == ErrorKind::OutOfRange => Ok(Ok(())),
        (Err(_), _) if fs.is_powered_off() => Ok(got.map(drop)),
        _ => Err(format!(
            "read {p} of {}..{} gave {:?}",
            m.first,
            m.next,
            got.map(|r| r.len())
        )),
    }
}

fn check_replay(l: &Log, m: &Model, from: u64) -> Result<logstore::Result<()>, String> {
    let mut seen = Vec::new();
    let result = l.replay(from, |p, rec| {
        seen.push((p, rec.to_vec()));
        true
    });
    let want: Vec<(u64, Vec<u8>)> = m.recs.range(from..).map(|(p, r)| (*p, r.clone())).collect();
    match result {
        Ok(n) if n == want.len() as u64 && seen == want => Ok(Ok(())),
        Err(e) if seen.iter().zip(&want).all(|(a, b)| a == b) => Ok(Err(e)),
        other => Err(format!(
            "replay from {from} of {}..{} gave {:?} and {} records",
            m.first,
            m.next,
            other.map_err(|e| e.to_string()),
            seen.len()
        )),
    }
}

fn same_range(log: &Log, m: &Model) -> Result<(), String> {
    let found = (log.first_position(), log.next_position());
    if found != (m.first, m.next) {
        return Err(format!(
            "clean reopen found {}..{}, not {}..{}",
            found.0, found.1, m.first, m.next
        ));
    }
    Ok(())
}

/// Reopens after the crash and checks the recovered log against the model
/// and the interrupted operation; the model becomes what was recovered.
fn recover(
    fs: &SimFs,
    opts: &Options,
    m: &mut Model,
    pending: Option<Pending>,
) -> Result<Log, String> {
    // Whatever the crash mode (a scramble garbles only bytes that were not
    // durable), strict recovery opens and loses nothing acknowledged.
    let log = Log::open("/log", opts.clone()).map_err(|e| {
        format!(
            "reopen: {e} (file length: {:?}, dir: {:?})",
            e.path().and_then(|p| fs.file_contents(p)).map(|f| f.len()),
            fs.list("/log")
        )
    })?;
    let (f2, n2) = (log.first_position(), log.next_position());
    let ok_first = f2 == m.first || matches!(pending, Some(Pending::Front(p)) if f2 == p);
    if !ok_first {
        return Err(format!(
            "first {f2}, acknowledged {}, pending {pending:?}",
            m.first
        ));
    }
    let extra = match &pending {
        Some(Pending::Append(v)) => v.clone(),
        _ => Vec::new(),
    };
    let ok_next = n2 == m.next.max(f2)
        || (n2 == m.next + extra.len() as u64 && !extra.is_empty())
        || matches!(pending, Some(Pending::Back(p)) if n2 >= p.max(f2) && n2 <= m.next);
    if !ok_next {
        return Err(format!(
            "next {n2}, acknowledged {}, pending {pending:?}, report {:?}",
            m.next,
            log.recovery_report()
        ));
    }
    let mut now = BTreeMap::new();
    for p in f2..n2 {
        let got = log.read(p).map_err(|e| format!("read {p}: {e}"))?;
        let want = m.recs.get(&p).or_else(|| extra.get((p - m.next) as usize));
        if want != Some(&got) {
            return Err(format!("record {p} differs"));
        }
        now.insert(p, got);
    }
    *m = Model {
        first: f2,
        next: n2,
        recs: now,
    };
    Ok(log)
}
