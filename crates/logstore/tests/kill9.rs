//! Guards against losing acknowledged records when the writing process is
//! killed (SIGKILL) at a random moment: a child process appends durable
//! records of mixed sizes from several threads and truncates the front,
//! reporting every acknowledgement over a pipe; the parent kills it,
//! reopens the log and checks every invariant, cycle after cycle on the
//! same directory.
//!
//! The child is this test binary run again with `LOGSTORE_KILL9_DIR` set.
//! `cargo test` runs 200 cycles; `LOGSTORE_LONG=1` runs 10,000 (or
//! `LOGSTORE_KILL9_CYCLES=n`).

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use logstore::{Log, Options};

mod common;
use common::Rng;

const THREADS: u32 = 3;
const SEGMENT_SIZE: u64 = 1 << 20;

/// The bytes of the record identified by `seed`: a pure function of
/// `(seed, len)`, so the parent can regenerate and compare them exactly.
fn record(seed: u64, len: usize) -> Vec<u8> {
    let mut r = Rng(seed);
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        out.extend_from_slice(&r.next().to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Mixed sizes: mostly small, some medium, a few MiB now and then, and
/// rarely the 32 MiB maximum.
fn record_len(r: &mut Rng) -> usize {
    match r.below(1000) {
        0..=1 => 32 << 20,
        2..=11 => 1 + r.below(4 << 20) as usize,
        12..=200 => 1 + r.below(256 << 10) as usize,
        201..=300 => 1,
        _ => 1 + r.below(300) as usize,
    }
}

fn child_options() -> Options {
    Options::default().segment_size(SEGMENT_SIZE)
}

/// One line to the parent, written whole under the stdout lock.
fn say(line: String) {
    let mut out = std::io::stdout().lock();
    out.write_all(line.as_bytes()).unwrap();
    out.flush().unwrap();
}

/// The child: appends until killed. Protocol, one line each:
/// `S first next` once opened; `I t seed:len ...` before an append or
/// batch of thread t; `A t start` when it returned at positions
/// `start..start+n`; `T p` before `truncate_front(p)` and `D p` after.
#[test]
fn kill9_child() {
    let Ok(dir) = std::env::var("LOGSTORE_KILL9_DIR") else {
        return;
    };
    let seed: u64 = std::env::var("LOGSTORE_KILL9_SEED")
        .unwrap()
        .parse()
        .unwrap();
    let log = Arc::new(Log::open(&dir, child_options()).unwrap());
    // The leading newline ends the test harness's "test kill9_child ..."
    // line, which has no newline yet.
    say(format!(
        "\nS {} {}\n",
        log.first_position(),
        log.next_position()
    ));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || child_thread(&log, t, seed))
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

fn child_thread(log: &Log, t: u32, seed: u64) {
    let mut r = Rng(seed ^ (u64::from(t) << 56));
    loop {
        let n = if r.below(5) == 0 {
            2 + r.below(4) as usize
        } else {
            1
        };
        let recs: Vec<(u64, usize)> = (0..n).map(|_| (r.next(), record_len(&mut r))).collect();
        let mut line = format!("I {t}");
        for (s, l) in &recs {
            line.push_str(&format!(" {s}:{l}"));
        }
        line.push('\n');
        let bytes: Vec<Vec<u8>> = recs.iter().map(|&(s, l)| record(s, l)).collect();
        say(line);
        let start = if n == 1 {
            log.append(&bytes[0]).unwrap()
        } else {
            log.append_batch(&bytes).unwrap().start
        };
        say(format!("A {t} {start}\n"));
        if t == 0 && r.below(8) == 0 {
            let next = log.next_position();
            let keep = r.below(120);
            let p = next.saturating_sub(keep).max(log.first_position());
            say(format!("T {p}\n"));
            log.truncate_front(p).unwrap();
            say(format!("D {p}\n"));
        }
    }
}

/// What the parent knows of the log between cycles.
#[derive(Default)]
struct Model {
    /// Records known to be in the log: position -> (seed, len).
    records: BTreeMap<u64, (u64, usize)>,
    /// The first position must never go back before this.
    first_floor: u64,
    /// The next position when the log was last closed.
    next: u64,
}

/// What one child said before it died.
#[derive(Default)]
struct Transcript {
    started: Option<(u64, u64)>,
    /// Last operation issued by each thread that was not acknowledged.
    in_flight: HashMap<u32, Vec<(u64, usize)>>,
    acked: BTreeMap<u64, (u64, usize)>,
    truncation_issued: Option<u64>,
    truncation_done: u64,
    lines: u64,
}

impl Transcript {
    fn parse(lines: &[String]) -> Transcript {
        let mut t = Transcript::default();
        for line in lines {
            let mut w = line.split_ascii_whitespace();
            match w.next() {
                Some("S") => {
                    let a = w.next().unwrap().parse().unwrap();
                    let b = w.next().unwrap().parse().unwrap();
                    t.started = Some((a, b));
                }
                Some("I") => {
                    let th: u32 = w.next().unwrap().parse().unwrap();
                    let recs = w
                        .map(|x| {
                            let (s, l) = x.split_once(':').unwrap();
                            (s.parse().unwrap(), l.parse().unwrap())
                        })
                        .collect();
                    assert!(t.in_flight.insert(th, recs).is_none(), "{line}");
                }
                Some("A") => {
                    let th: u32 = w.next().unwrap().parse().unwrap();
                    let start: u64 = w.next().unwrap().parse().unwrap();
                    let recs = t.in_flight.remove(&th).expect("ack without issue");
                    for (i, rec) in recs.into_iter().enumerate() {
                        t.acked.insert(start + i as u64, rec);
                    }
                }
                Some("T") => t.truncation_issued = Some(w.next().unwrap().parse().unwrap()),
                Some("D") => {
                    let p = w.next().unwrap().parse().unwrap();
                    t.truncation_done = t.truncation_done.max(p);
                    t.truncation_issued = None;
                }
                _ => continue,
            }
            t.lines += 1;
        }
        t
    }
}

/// Runs the child for a while, kills it and returns the complete lines it
/// printed.
fn run_child(dir: &Path, seed: u64, run_for: Duration) -> Vec<String> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["kill9_child", "--exact", "--nocapture", "--test-threads=1"])
        .env("LOGSTORE_KILL9_DIR", dir)
        .env("LOGSTORE_KILL9_SEED", seed.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning the child");
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let died_early = Arc::new(AtomicBool::new(false));
    let reader = {
        let lines = lines.clone();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match r.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    // A line cut by the kill was never fully said.
                    Ok(_) if buf.last() != Some(&b'\n') => break,
                    Ok(_) => lines
                        .lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&buf).into_owned()),
                }
            }
        })
    };
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut s);
        s
    });
    let deadline = Instant::now() + run_for;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            died_early.store(true, Ordering::SeqCst);
            let err = err_reader.join().unwrap();
            reader.join().unwrap();
            panic!(
                "child exited by itself ({status}): {err}\nlast lines: {:?}",
                lines
                    .lock()
                    .unwrap()
                    .iter()
                    .rev()
                    .take(5)
                    .collect::<Vec<_>>()
            );
        }
        std::thread::sleep(Duration::from_millis(1).min(run_for));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    reader.join().unwrap();
    drop(err_reader.join());
    let out = std::mem::take(&mut *lines.lock().unwrap());
    out
}

/// Reopens the log after a kill and checks it against the model and what
/// the child said; then makes the model match the log.
fn check_cycle(dir: &Path, model: &mut Model, t: &Transcript, cycle: u64) {
    let log = Log::open(dir, child_options())
        .unwrap_or_else(|e| panic!("cycle {cycle}: reopen failed: {e}"));
    let report = log.recovery_report();
    assert_eq!(report.dropped, None, "cycle {cycle}");
    let (first, next) = (log.first_position(), log.next_position());
    // The first position never goes back before a completed truncation,
    // and never past one that was asked for.
    let floor = model.first_floor.max(t.truncation_done);
    assert!(first >= floor, "cycle {cycle}: first {first} < {floor}");
    if first > floor {
        assert_eq!(
            Some(first),
            t.truncation_issued,
            "cycle {cycle}: first position {first} moved without a truncation"
        );
    }
    let start_next = t.started.map_or(next, |s| s.1);
    if let Some(start) = t.started {
        // The child's own open found the log as the last check left it.
        assert_eq!(start, (model.first_floor, model.next), "cycle {cycle}");
    }
    // Every known record at or after the first position is there, exact.
    let mut expect: BTreeMap<u64, (u64, usize)> = model.records.split_off(&first);
    expect.extend(t.acked.range(first..).map(|(&p, &r)| (p, r)));
    if let Some((&last, _)) = expect.last_key_value() {
        assert!(
            last < next,
            "cycle {cycle}: acknowledged position {last} lost (next is {next})"
        );
    }
    // Records not acknowledged must be ones still in flight, whole batches.
    let mut unclaimed: Vec<Vec<(u64, usize)>> = t.in_flight.values().cloned().collect();
    let mut present = BTreeMap::new();
    let mut p = first;
    while p < next {
        if let Some(&(seed, len)) = expect.get(&p) {
            let got = log
                .read(p)
                .unwrap_or_else(|e| panic!("cycle {cycle}: read {p}: {e}"));
            assert!(
                got.len() == len && got == record(seed, len),
                "cycle {cycle}: record {p} differs"
            );
            present.insert(p, (seed, len));
            p += 1;
            continue;
        }
        assert!(p >= start_next.min(next), "cycle {cycle}: unknown old {p}");
        if let Err(e) = log.read(p) {
            panic!("cycle {cycle}: read {p}: {e}");
        }
        // A record in flight: the whole of one of the unclaimed operations
        // must be there from `p` on, or, at the first position only, the
        // end of a batch truncated at the front. Tiny records of different
        // threads can be equal, so try every candidate.
        let matches_at = |recs: &[(u64, usize)], skip: usize| {
            recs[skip..].iter().enumerate().all(|(i, &(seed, len))| {
                let q = p + i as u64;
                q < next
                    && !expect.contains_key(&q)
                    && log
                        .read(q)
                        .is_ok_and(|r| r.len() == len && r == record(seed, len))
            })
        };
        let found = (0..unclaimed.len())
            .map(|k| (k, 0))
            .chain(
                (0..unclaimed.len())
                    .filter(|_| p == first)
                    .flat_map(|k| (1..unclaimed[k].len()).map(move |at| (k, at))),
            )
            .find(|&(k, at)| matches_at(&unclaimed[k], at));
        let Some((k, at)) = found else {
            panic!("cycle {cycle}: record {p} is not the start of an operation in flight, whole");
        };
        let recs = unclaimed.remove(k);
        for (i, &rec) in recs.iter().enumerate().skip(at) {
            present.insert(p + (i - at) as u64, rec);
        }
        p += (recs.len() - at) as u64;
    }
    if cycle.is_multiple_of(25) {
        let v = log.verify(|_, _| {}).unwrap();
        assert!(v.problems.is_empty(), "cycle {cycle}: {:?}", v.problems);
    }
    log.close().unwrap();
    model.records = present;
    model.first_floor = first;
    model.next = next;
}

fn cycles() -> u64 {
    if let Ok(n) = std::env::var("LOGSTORE_KILL9_CYCLES") {
        return n.parse().expect("LOGSTORE_KILL9_CYCLES is a number");
    }
    if std::env::var_os("LOGSTORE_LONG").is_some() {
        10_000
    } else {
        200
    }
}

#[test]
fn kill9_loop() {
    if std::env::var_os("LOGSTORE_KILL9_DIR").is_some() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut model = Model::default();
    let mut r = Rng(0x5EED ^ u64::from(std::process::id()));
    let n = cycles();
    let started = Instant::now();
    let (mut acked, mut lines, mut torn, mut truncs) = (0u64, 0u64, 0u64, 0u64);
    for cycle in 0..n {
        // Mostly short runs (the kill often lands in recovery or in the
        // first appends), sometimes long enough for large records.
        let ms = match r.below(20) {
            0 => 100 + r.below(400),
            1..=3 => r.below(10),
            _ => 10 + r.below(40),
        };
        let seed = r.next();
        let out = run_child(dir.path(), seed, Duration::from_millis(ms));
        let t = Transcript::parse(&out);
        check_cycle(dir.path(), &mut model, &t, cycle);
        acked += t.acked.len() as u64;
        lines += t.lines;
        truncs += u64::from(t.truncation_done > 0);
        torn += u64::from(t.in_flight.values().any(|v| !v.is_empty()));
    }
    println!(
        "kill -9 loop: {n} cycles in {:.1?}, {acked} acknowledged records checked, \
         {lines} protocol lines, {truncs} cycles with a completed truncation, \
         {torn} kills with appends in flight, 0 lost",
        started.elapsed()
    );
}
