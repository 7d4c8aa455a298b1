//! `logstore append`: records from stdin or files, one position printed
//! per record.
//!
//! Records are appended in batches of what is already read, so a large
//! input costs few syncs while a slow producer (a pipe from another
//! program) sees each record appended as soon as it arrives. A batch is
//! written out before any input error, so everything before a bad record
//! is appended and reported.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use logstore::{Log, Options, SyncPolicy, DEFAULT_MAX_RECORD_SIZE};

use crate::cli::{AppendArgs, InputFormat, SyncArg};
use crate::error::{CliError, CliResult};
use crate::open;

/// A batch is written once it holds this many bytes or records.
const BATCH_BYTES: usize = 4 << 20;
const BATCH_RECORDS: usize = 4096;

pub fn run(a: AppendArgs) -> CliResult {
    crate::source::refuse_store(
        &a.dir,
        "appending to a store's log is done with the library (`StoreLog::append`)",
    )?;
    let policy = match a.sync {
        SyncArg::Always => SyncPolicy::Always,
        SyncArg::Never => SyncPolicy::Never,
    };
    let opts = Options::default()
        .sync_policy(policy)
        .segment_size(a.segment_size);
    let log = Log::open(&a.dir, opts).map_err(|e| open::explain(&a.dir, e))?;
    let mut batch = Batch::new(&log);
    let read = if a.file.is_empty() {
        let stdin = std::io::stdin().lock();
        match a.format {
            InputFormat::Lines => lines(stdin, &mut batch),
            InputFormat::Raw => raw(stdin, &mut batch),
            InputFormat::LengthPrefixed => length_prefixed(stdin, &mut batch),
        }
    } else {
        files(&a.file, &mut batch)
    };
    let flushed = batch.flush();
    let closed = log.close().map_err(CliError::from);
    read.and(flushed).and(closed)
}

fn lines(input: impl Read, batch: &mut Batch) -> CliResult {
    let mut input = BufReader::with_capacity(1 << 16, input);
    let mut line = Vec::new();
    for number in 1u64.. {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        batch.push(&line, || format!("line {number} of the input"))?;
        if input.buffer().is_empty() {
            // The next read may block: append what we have first.
            batch.flush()?;
        }
    }
    Ok(())
}

fn raw(mut input: impl Read, batch: &mut Batch) -> CliResult {
    let mut record = Vec::new();
    input
        .by_ref()
        .take(DEFAULT_MAX_RECORD_SIZE as u64 + 1)
        .read_to_end(&mut record)?;
    batch.push(&record, || "the input".to_string())
}

fn length_prefixed(input: impl Read, batch: &mut Batch) -> CliResult {
    let mut input = BufReader::with_capacity(1 << 16, input);
    let mut offset = 0u64;
    for number in 1u64.. {
        let what = || format!("record {number} of the input (byte {offset})");
        let mut len = [0u8; 4];
        match read_full(&mut input, &mut len)? {
            0 => return Ok(()),
            4 => {}
            n => {
                return Err(batch.refuse(&format!(
                    "{}: the input ends {n} bytes into its 4-byte length",
                    what()
                )))
            }
        }
        let len = u32::from_le_bytes(len) as usize;
        if len > DEFAULT_MAX_RECORD_SIZE {
            return Err(batch.refuse(&too_large(&what(), len)));
        }
        let mut record = vec![0u8; len];
        let got = read_full(&mut input, &mut record)?;
        if got < len {
            return Err(batch.refuse(&format!(
                "{}: the length says {len} bytes but the input ends after {got}",
                what()
            )));
        }
        batch.push(&record, what)?;
        offset += 4 + len as u64;
        if input.buffer().is_empty() {
            batch.flush()?;
        }
    }
    Ok(())
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match input.read(&mut buf[done..]) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

fn files(paths: &[PathBuf], batch: &mut Batch) -> CliResult {
    for path in paths {
        let record = read_file(path).map_err(|e| batch.refuse(&e))?;
        batch.push(&record, || path.display().to_string())?;
    }
    Ok(())
}

fn read_file(path: &Path) -> Result<Vec<u8>, String> {
    let cannot = |e: std::io::Error| format!("cannot read {}: {e}", path.display());
    let len = std::fs::metadata(path).map_err(cannot)?.len();
    if len > DEFAULT_MAX_RECORD_SIZE as u64 {
        return Err(too_large(&path.display().to_string(), len as usize));
    }
    std::fs::read(path).map_err(cannot)
}

fn too_large(what: &str, len: usize) -> String {
    format!("{what} is too large: {len} bytes, a record holds at most {DEFAULT_MAX_RECORD_SIZE}")
}

/// Records waiting to be appended together, and the positions printed.
struct Batch<'a> {
    log: &'a Log,
    records: Vec<Vec<u8>>,
    bytes: usize,
    appended: u64,
}

impl<'a> Batch<'a> {
    fn new(log: &'a Log) -> Self {
        Batch {
            log,
            records: Vec::new(),
            bytes: 0,
            appended: 0,
        }
    }

    /// Queues a record; `what` names it in an error. An empty or oversize
    /// record appends what was queued before it, then fails.
    fn push(&mut self, record: &[u8], what: impl FnOnce() -> String) -> CliResult {
        if record.is_empty() {
            let msg = format!("{} is empty: a record needs at least 1 byte", what());
            return Err(self.refuse(&msg));
        }
        if record.len() > DEFAULT_MAX_RECORD_SIZE {
            return Err(self.refuse(&too_large(&what(), record.len())));
        }
        self.bytes += record.len();
        self.records.push(record.to_vec());
        if self.bytes >= BATCH_BYTES || self.records.len() >= BATCH_RECORDS {
            self.flush()?;
        }
        Ok(())
    }

    /// Appends the queued records and prints their positions.
    fn flush(&mut self) -> CliResult {
        if self.records.is_empty() {
            return Ok(());
        }
        let range = self.log.append_batch(&self.records)?;
        self.appended += range.end - range.start;
        self.records.clear();
        self.bytes = 0;
        let mut out = std::io::stdout().lock();
        for position in range {
            writeln!(out, "{position}")?;
        }
        out.flush()?;
        Ok(())
    }

    /// The error for bad input: what was queued is appended first, and the
    /// message says how many records made it.
    fn refuse(&mut self, msg: &str) -> CliError {
        if let Err(e) = self.flush() {
            return e;
        }
        let before = match self.appended {
            0 => "nothing was appended".to_string(),
            1 => "the record before it was appended and its position printed".to_string(),
            n => format!("the {n} records before it were appended and their positions printed"),
        };
        CliError::failed(format!("{msg} ({before})"))
    }
}
