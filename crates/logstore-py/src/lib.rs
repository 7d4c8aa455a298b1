//! `logstore._native`: the Python extension module over the logstore
//! engine. The Python package `logstore` (in `python/`) re-exports it with
//! the exception classes and dataclasses it builds.
//!
//! Every engine call runs through [`engine`]: without the GIL (so that
//! other Python threads run, and appenders share group commit), with
//! panics caught and turned into `logstore.InternalError`, and with the
//! engine's errors turned into the exception class of their kind.

use std::any::Any;
use std::future::Future;
use std::ops::Range;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use logstore::{Durable, ErrorKind, Iter, Log, Options, Recovery, SyncPolicy};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyList, PyMemoryView, PySlice, PyString, PyTuple,
};

/// How long a blocking wait goes without the GIL before it checks for
/// signals (Ctrl-C), so that `KeyboardInterrupt` arrives promptly.
const POLL: Duration = Duration::from_millis(50);

/// Records that `replay` gathers without the GIL before calling back.
const REPLAY_CHUNK_RECORDS: usize = 1024;
/// Bytes that `replay` gathers without the GIL before calling back.
const REPLAY_CHUNK_BYTES: usize = 1 << 20;

static ERRORS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
static TYPES: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
static BUILTINS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
static ASYNCIO: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
static AIO: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

fn module<'py>(
    py: Python<'py>,
    cell: &PyOnceLock<Py<PyModule>>,
    name: &str,
) -> PyResult<Bound<'py, PyModule>> {
    cell.get_or_try_init(py, || py.import(name).map(Bound::unbind))
        .map(|m| m.bind(py).clone())
}

/// Runs `f` (an engine call) without the GIL, catching panics.
/// An engine call that writes a batch: an append or a submit.
type WriteBatch = fn(&Log, &[&[u8]]) -> logstore::Result<std::ops::Range<u64>>;

fn engine<T, F>(py: Python<'_>, f: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce() -> logstore::Result<T> + Send,
{
    match py.detach(|| catch_unwind(AssertUnwindSafe(f))) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(engine_error(py, &e)),
        Err(panic) => Err(internal_error(py, panic.as_ref())),
    }
}

/// The exception class for each kind of engine error.
fn class_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Io => "IoError",
        ErrorKind::Corruption => "CorruptionError",
        ErrorKind::InvalidArgument => "InvalidArgumentError",
        ErrorKind::OutOfRange => "OutOfRangeError",
        ErrorKind::Truncated => "TruncatedError",
        ErrorKind::Locked => "LockedError",
        ErrorKind::Poisoned => "PoisonedError",
        ErrorKind::Closed => "ClosedError",
        ErrorKind::ReadOnly => "ReadOnlyError",
        _ => "Error",
    }
}

fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Fields of a `logstore.Error`, for errors of the engine and of this
/// module alike.
#[derive(Default)]
struct Fields<'a> {
    message: Option<&'a str>,
    path: Option<String>,
    offset: Option<u64>,
    position: Option<u64>,
    errno: Option<i32>,
    strerror: Option<String>,
}

fn make_error(py: Python<'_>, class: &str, text: &str, f: Fields<'_>) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let cls = module(py, &ERRORS, "logstore._errors")?.getattr(class)?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("message", f.message.unwrap_or(text))?;
        kwargs.set_item("path", f.path.as_deref())?;
        kwargs.set_item("offset", f.offset)?;
        kwargs.set_item("position", f.position)?;
        let exc = cls.call((text,), Some(&kwargs))?;
        if let Some(errno) = f.errno {
            exc.setattr("errno", errno)?;
            exc.setattr("strerror", f.strerror.as_deref())?;
        }
        if class == "IoError" {
            exc.setattr("filename", f.path.as_deref())?;
        }
        Ok(PyErr::from_value(exc))
    };
    build().unwrap_or_else(|e| e)
}

fn engine_error(py: Python<'_>, e: &logstore::Error) -> PyErr {
    let io = e.io_error();
    make_error(
        py,
        class_name(e.kind()),
        &e.to_string(),
        Fields {
            message: Some(e.message()),
            path: e.path().map(path_str),
            offset: e.offset(),
            position: e.position(),
            errno: io.and_then(std::io::Error::raw_os_error),
            strerror: io.map(ToString::to_string),
        },
    )
}

fn internal_error(py: Python<'_>, panic: &(dyn Any + Send)) -> PyErr {
    let what = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic");
    make_error(
        py,
        "InternalError",
        &format!("internal error in logstore (please report it): {what}"),
        Fields::default(),
    )
}

fn invalid(py: Python<'_>, text: &str) -> PyErr {
    make_error(py, "InvalidArgumentError", text, Fields::default())
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

/// What a bad position is: out of the log's range (for reads, an
/// `IndexError`) or an invalid argument (for the rest, a `ValueError`).
#[derive(Clone, Copy)]
enum BadPosition {
    OutOfRange,
    Invalid,
}

/// An unsigned integer argument (a position or a size): `TypeError` if it
/// is not an integer, `bad`'s class if it is negative or too large.
fn uint(py: Python<'_>, obj: &Bound<'_, PyAny>, what: &str, bad: BadPosition) -> PyResult<u64> {
    if obj.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err(format!(
            "{what} must be an int, not bool"
        )));
    }
    if let Ok(v) = obj.extract::<u64>() {
        return Ok(v);
    }
    let problem = if obj.extract::<i64>().is_ok() {
        "must not be negative"
    } else if obj.hasattr("__index__").unwrap_or(false) {
        "must be below 2**64"
    } else {
        return Err(PyTypeError::new_err(format!(
            "{what} must be an int, not {}",
            type_name(obj)
        )));
    };
    let text = format!("{what} {problem}, not {obj}");
    Err(match bad {
        BadPosition::OutOfRange => make_error(py, "OutOfRangeError", &text, Fields::default()),
        BadPosition::Invalid => invalid(py, &text),
    })
}

fn opt_uint(py: Python<'_>, obj: Option<&Bound<'_, PyAny>>, what: &str) -> PyResult<Option<u64>> {
    match obj {
        Some(o) if !o.is_none() => uint(py, o, what, BadPosition::Invalid).map(Some),
        _ => Ok(None),
    }
}

fn usize_of(py: Python<'_>, v: u64, what: &str) -> PyResult<usize> {
    usize::try_from(v).map_err(|_| invalid(py, &format!("{what} is too large: {v}")))
}

/// Seconds as a `Duration`: a non-negative finite number, or an object
/// with `total_seconds()` (a `datetime.timedelta`).
fn seconds(py: Python<'_>, obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Duration> {
    if obj.is_instance_of::<PyBool>() || obj.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(format!(
            "{what} must be a number of seconds or a timedelta, not {}",
            type_name(obj)
        )));
    }
    let secs: f64 = if obj.hasattr("total_seconds")? {
        obj.call_method0("total_seconds")?.extract()?
    } else {
        obj.extract().map_err(|_| {
            PyTypeError::new_err(format!(
                "{what} must be a number of seconds or a timedelta, not {}",
                type_name(obj)
            ))
        })?
    };
    Duration::try_from_secs_f64(secs).map_err(|_| {
        invalid(
            py,
            &format!("{what} must be a finite number of seconds >= 0, not {secs}"),
        )
    })
}

fn sync_policy(py: Python<'_>, sync: Option<&Bound<'_, PyAny>>) -> PyResult<SyncPolicy> {
    let Some(sync) = sync.filter(|s| !s.is_none()) else {
        return Ok(SyncPolicy::Always);
    };
    if let Ok(s) = sync.cast::<PyString>() {
        return match &*s.to_cow()? {
            "always" => Ok(SyncPolicy::Always),
            "never" => Ok(SyncPolicy::Never),
            other => Err(invalid(
                py,
                &format!(
                    "sync must be \"always\", \"never\" or an interval in seconds, not {other:?}"
                ),
            )),
        };
    }
    let every = seconds(py, sync, "sync")?;
    if every.is_zero() {
        return Err(invalid(py, "sync interval must be more than zero"));
    }
    Ok(SyncPolicy::Interval(every))
}

fn opt_timeout(py: Python<'_>, timeout: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Duration>> {
    match timeout {
        Some(t) if !t.is_none() => seconds(py, t, "timeout").map(Some),
        _ => Ok(None),
    }
}

/// The bytes of one record: a `bytes` object itself (read in place,
/// without a copy), or a copy of any other buffer (`bytearray`,
/// `memoryview`, `array`, ...), taken once: the stable ABI of the Python
/// versions this module supports (3.9 on) has no buffer protocol, and a
/// buffer that is not `bytes` may change while the GIL is released.
fn record<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(b.clone());
    }
    if obj.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(
            "a record is a bytes-like object, not str (encode it first, e.g. s.encode())",
        ));
    }
    let view = PyMemoryView::from(obj).map_err(|_| {
        PyTypeError::new_err(format!(
            "a record is a bytes-like object (bytes, bytearray, memoryview, ...), not {}",
            type_name(obj)
        ))
    })?;
    Ok(view.call_method0("tobytes")?.cast_into::<PyBytes>()?)
}

/// The records of an iterable, for the batch calls (`what` names the
/// call in errors, `single` the call for one record): each checked as
/// [`record`] does, before anything is written.
fn batch<'py>(
    records: &Bound<'py, PyAny>,
    what: &str,
    single: &str,
) -> PyResult<Vec<Bound<'py, PyBytes>>> {
    if records.is_instance_of::<PyBytes>()
        || records.is_instance_of::<PyByteArray>()
        || records.is_instance_of::<PyMemoryView>()
        || records.is_instance_of::<PyString>()
    {
        return Err(PyTypeError::new_err(format!(
            "{what} takes an iterable of records, not one {} (use {single}, or [data])",
            type_name(records),
        )));
    }
    let iter = records.try_iter().map_err(|_| {
        PyTypeError::new_err(format!(
            "{what} takes an iterable of records, not {}",
            type_name(records)
        ))
    })?;
    let mut owned = Vec::new();
    for item in iter {
        owned.push(record(&item?)?);
    }
    Ok(owned)
}

fn range<'py>(py: Python<'py>, r: Range<u64>) -> PyResult<Bound<'py, PyAny>> {
    module(py, &BUILTINS, "builtins")?
        .getattr("range")?
        .call1((r.start, r.end))
}

fn strings<'py>(py: Python<'py>, paths: &[PathBuf]) -> PyResult<Bound<'py, PyTuple>> {
    PyTuple::new(py, paths.iter().map(|p| path_str(p)))
}

fn cut<'py>(py: Python<'py>, c: Option<&logstore::Cut>) -> PyResult<Bound<'py, PyAny>> {
    let Some(c) = c else {
        return Ok(py.None().into_bound(py));
    };
    module(py, &TYPES, "logstore._types")?
        .getattr("Cut")?
        .call1((
            path_str(&c.segment),
            c.offset,
            c.from_position,
            c.bytes,
            strings(py, &c.removed_segments)?,
            c.reason.as_str(),
        ))
}

/// Wakes the thread that polls a [`Durable`] in a blocking wait.
struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `durable` and, if its outcome is not there yet, waits up to
/// `slice` for it (without the GIL: this runs inside [`engine`]).
fn poll_for(durable: &mut Durable, slice: Duration) -> Option<logstore::Result<()>> {
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    if let Poll::Ready(r) = Pin::new(&mut *durable).poll(&mut cx) {
        return Some(r);
    }
    std::thread::park_timeout(slice);
    match Pin::new(durable).poll(&mut cx) {
        Poll::Ready(r) => Some(r),
        Poll::Pending => None,
    }
}

/// One `Log.durable_async` awaitable: the engine's future for the
/// position, and the `asyncio.Future` (with its loop) that gets its
/// outcome.
///
/// The engine wakes the waker on its sync thread, which must not wait for
/// the GIL: the wake hands the wait to the thread of [`settler`], which
/// takes the outcome and, with the GIL, completes the `asyncio.Future`
/// through `loop.call_soon_threadsafe`.
struct AsyncWait {
    durable: Mutex<Option<Durable>>,
    future: Py<PyAny>,
    event_loop: Py<PyAny>,
}

impl Wake for AsyncWait {
    fn wake(self: Arc<Self>) {
        // If the thread could not be started the future is never
        // completed; there is nothing better to do from here.
        if let Some(tx) = settler() {
            let _ = tx.send(self);
        }
    }
}

impl AsyncWait {
    /// The outcome, if the engine has it; `None` if it is yet to come (or
    /// was taken already).
    fn poll(self: &Arc<Self>) -> Option<logstore::Result<()>> {
        let mut slot = self.durable.lock().unwrap_or_else(|e| e.into_inner());
        let durable = slot.as_mut()?;
        let waker = Waker::from(Arc::clone(self));
        match Pin::new(durable).poll(&mut Context::from_waker(&waker)) {
            Poll::Ready(r) => {
                *slot = None;
                Some(r)
            }
            Poll::Pending => None,
        }
    }

    /// Completes the `asyncio.Future` from a thread that is not the loop's.
    fn settle_threadsafe(&self, py: Python<'_>, r: logstore::Result<()>) {
        let exc = r.err().map(|e| engine_error(py, &e).into_value(py));
        let done = module(py, &AIO, "logstore._aio")
            .and_then(|m| m.getattr("settle"))
            .and_then(|settle| {
                self.event_loop
                    .bind(py)
                    .call_method1("call_soon_threadsafe", (settle, &self.future, exc))
            });
        if let Err(e) = done {
            // A closed loop has no one left to tell.
            if !e.is_instance_of::<pyo3::exceptions::PyRuntimeError>(py) {
                e.write_unraisable(py, Some(self.future.bind(py)));
            }
        }
    }
}

/// The channel to the thread that completes `durable_async` awaitables
/// (started with the first one); `None` if it could not be started.
fn settler() -> Option<&'static mpsc::Sender<Arc<AsyncWait>>> {
    static TX: OnceLock<Option<mpsc::Sender<Arc<AsyncWait>>>> = OnceLock::new();
    TX.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Arc<AsyncWait>>();
        std::thread::Builder::new()
            .name("logstore-asyncio".into())
            .spawn(move || {
                for wait in rx {
                    let _ = catch_unwind(AssertUnwindSafe(|| {
                        if let Some(r) = wait.poll() {
                            Python::attach(|py| wait.settle_threadsafe(py, r));
                        }
                    }));
                }
            })
            .ok()
            .map(|_| tx)
    })
    .as_ref()
}

/// Calls a `submit_batch_then` callback with the GIL: `(range, None)` or
/// `(None, exception)`. What it raises goes to `sys.unraisablehook`.
fn run_callback(py: Python<'_>, callback: &Py<PyAny>, r: logstore::Result<Range<u64>>) {
    let args = match r {
        Ok(r) => range(py, r).map(|r| (r.unbind(), py.None())),
        Err(e) => Ok((py.None(), engine_error(py, &e).into_value(py).into_any())),
    };
    if let Err(e) = args.and_then(|args| callback.call1(py, args)) {
        e.write_unraisable(py, Some(callback.bind(py)));
    }
}

/// An open log: an ordered sequence of records (non-empty byte strings),
/// each at an integer position that never changes while the record is in
/// the log.
///
/// ``Log(path, sync="always", *, create=True, read_only=False,
/// segment_size=None, max_record_size=None, ...)`` opens (and by default
/// creates) the log in the directory ``path``, recovering from a crash: a
/// torn tail is cut off and described in :attr:`recovery_report`.
///
/// ``sync`` is ``"always"`` (each append returns once its record is on
/// disk; concurrent appenders share syncs), ``"never"`` (records reach the
/// operating system before ``append`` returns and survive a crash of the
/// process, not of the machine; :meth:`sync` makes them durable) or an
/// interval in seconds (a number or a ``datetime.timedelta``) at which a
/// background sync runs.
///
/// Keyword options: ``create`` (create the directory and log if missing),
/// ``read_only`` (no lock, no writes; :meth:`refresh` sees the writer's
/// changes), ``segment_size`` (bytes per segment file, 4 KiB to 1 TiB,
/// default 64 MiB), ``max_record_size`` (default 32 MiB, at most 1 GiB),
/// ``write_buffer`` (bytes of appends kept in the process before they are
/// written, default 0), ``mmap_reads``, ``preallocate`` (zeros written
/// ahead of the data so that syncs overwrite, default True), ``recovery``
/// (``"strict"``: damage to acknowledged records is a
/// :class:`CorruptionError`; ``"tolerant"``: it is cut away and reported),
/// ``background_reclaim`` and ``index_cache_bytes``.
///
/// A ``Log`` is safe to share between threads; every disk operation and
/// wait runs without the GIL. Use it as a context manager, or call
/// :meth:`close`, which reports errors that closing on garbage collection
/// cannot.
///
/// Raises :class:`LockedError` if another handle (in this or another
/// process) has the log open for writing, :class:`CorruptionError` for
/// damaged files, :class:`InvalidArgumentError` for bad options.
#[pyclass(frozen, module = "logstore", name = "Log")]
struct PyLog {
    log: Option<Log>,
    path: PathBuf,
    read_only: bool,
    closed: AtomicBool,
}

impl PyLog {
    fn log(&self) -> &Log {
        // Only `Drop` takes the log out.
        self.log.as_ref().expect("log taken before drop")
    }

    /// Writes one bytes-like record with `write` (an append or a submit),
    /// without the GIL.
    fn write_one(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        write: fn(&Log, &[u8]) -> logstore::Result<u64>,
    ) -> PyResult<u64> {
        let rec = record(data)?;
        let bytes = rec.as_bytes();
        let log = self.log();
        engine(py, || write(log, bytes))
    }

    /// Writes the records of an iterable as one batch with `write`, without
    /// the GIL; `names` (the batch call, the single call) word the errors.
    fn write_batch<'py>(
        &self,
        py: Python<'py>,
        records: &Bound<'py, PyAny>,
        names: (&str, &str),
        write: WriteBatch,
    ) -> PyResult<Bound<'py, PyAny>> {
        let owned = batch(records, names.0, names.1)?;
        let slices: Vec<&[u8]> = owned.iter().map(|b| b.as_bytes()).collect();
        let log = self.log();
        let r = engine(py, || write(log, &slices))?;
        range(py, r)
    }

    fn start_position(&self, py: Python<'_>, from: Option<&Bound<'_, PyAny>>) -> PyResult<u64> {
        match from {
            Some(f) if !f.is_none() => uint(py, f, "position", BadPosition::OutOfRange),
            _ => {
                let log = self.log();
                engine(py, || Ok(log.first_position()))
            }
        }
    }

    fn read_slice<'py>(
        &self,
        py: Python<'py>,
        s: &Bound<'py, PySlice>,
    ) -> PyResult<Vec<Bound<'py, PyBytes>>> {
        let bound = |name: &str| -> PyResult<Option<u64>> {
            let v = s.getattr(name)?;
            if v.is_none() {
                Ok(None)
            } else {
                uint(py, &v, &format!("slice {name}"), BadPosition::Invalid).map(Some)
            }
        };
        let (start, stop, step) = (bound("start")?, bound("stop")?, bound("step")?);
        let step = step.unwrap_or(1);
        if step == 0 {
            return Err(invalid(py, "slice step cannot be zero"));
        }
        let log = self.log();
        // Records dropped by truncate_front, or not yet appended, are left
        // out, as list slicing leaves out what is past its ends.
        let (records, ends) = engine(py, || {
            let (first, next) = (log.first_position(), log.next_position());
            let start = start.unwrap_or(first).max(first);
            let stop = stop.unwrap_or(next).min(next);
            let mut buf = Vec::new();
            let mut ends = Vec::new();
            if start >= stop {
                return Ok((buf, ends));
            }
            if step == 1 {
                log.replay(start, |p, r| {
                    buf.extend_from_slice(r);
                    ends.push(buf.len());
                    p + 1 < stop
                })?;
            } else {
                let mut p = start;
                while p < stop {
                    buf.extend_from_slice(&log.read(p)?);
                    ends.push(buf.len());
                    p = match p.checked_add(step) {
                        Some(q) => q,
                        None => break,
                    };
                }
            }
            Ok((buf, ends))
        })?;
        let mut out = Vec::with_capacity(ends.len());
        let mut at = 0;
        for end in ends {
            out.push(PyBytes::new(py, &records[at..end]));
            at = end;
        }
        Ok(out)
    }
}

impl Drop for PyLog {
    fn drop(&mut self) {
        // Closing syncs: do it without the GIL, and let no panic out.
        if let Some(log) = self.log.take() {
            Python::attach(|py| {
                py.detach(move || {
                    let _ = catch_unwind(AssertUnwindSafe(move || drop(log)));
                })
            });
        }
    }
}

#[pymethods]
impl PyLog {
    #[new]
    #[pyo3(signature = (
        path,
        sync = None,
        *,
        create = true,
        read_only = false,
        segment_size = None,
        max_record_size = None,
        write_buffer = None,
        mmap_reads = false,
        preallocate = true,
        recovery = "strict",
        background_reclaim = true,
        index_cache_bytes = None,
    ))]
    #[pyo3(
        text_signature = "(path, sync='always', *, create=True, read_only=False, \
        segment_size=None, max_record_size=None, write_buffer=None, mmap_reads=False, \
        preallocate=True, recovery='strict', background_reclaim=True, index_cache_bytes=None)"
    )]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        path: PathBuf,
        sync: Option<&Bound<'_, PyAny>>,
        create: bool,
        read_only: bool,
        segment_size: Option<&Bound<'_, PyAny>>,
        max_record_size: Option<&Bound<'_, PyAny>>,
        write_buffer: Option<&Bound<'_, PyAny>>,
        mmap_reads: bool,
        preallocate: bool,
        recovery: &str,
        background_reclaim: bool,
        index_cache_bytes: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        let mut opts = Options::default()
            .create(create)
            .read_only(read_only)
            .sync_policy(sync_policy(py, sync)?)
            .mmap_reads(mmap_reads)
            .preallocate(preallocate)
            .background_reclaim(background_reclaim)
            .recovery(match recovery {
                "strict" => Recovery::Strict,
                "tolerant" => Recovery::Tolerant,
                other => {
                    return Err(invalid(
                        py,
                        &format!("recovery must be \"strict\" or \"tolerant\", not {other:?}"),
                    ))
                }
            });
        if let Some(v) = opt_uint(py, segment_size, "segment_size")? {
            opts = opts.segment_size(v);
        }
        if let Some(v) = opt_uint(py, max_record_size, "max_record_size")? {
            opts = opts.max_record_size(usize_of(py, v, "max_record_size")?);
        }
        if let Some(v) = opt_uint(py, write_buffer, "write_buffer")? {
            opts = opts.write_buffer(usize_of(py, v, "write_buffer")?);
        }
        if let Some(v) = opt_uint(py, index_cache_bytes, "index_cache_bytes")? {
            opts = opts.index_cache_bytes(usize_of(py, v, "index_cache_bytes")?);
        }
        let dir = path.clone();
        let log = engine(py, move || Log::open(&dir, opts))?;
        Ok(PyLog {
            log: Some(log),
            path,
            read_only,
            closed: AtomicBool::new(false),
        })
    }

    /// The log's directory, as given when it was opened.
    #[getter]
    fn path(&self) -> String {
        path_str(&self.path)
    }

    /// Whether the handle was opened with ``read_only=True``.
    #[getter]
    fn read_only(&self) -> bool {
        self.read_only
    }

    /// Whether :meth:`close` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// The oldest position kept (equal to :attr:`next_position` when the
    /// log is empty).
    #[getter]
    fn first_position(&self, py: Python<'_>) -> PyResult<u64> {
        let log = self.log();
        engine(py, || Ok(log.first_position()))
    }

    /// The position the next append will get.
    #[getter]
    fn next_position(&self, py: Python<'_>) -> PyResult<u64> {
        let log = self.log();
        engine(py, || Ok(log.next_position()))
    }

    /// append(data) -> int
    ///
    /// Appends one record and returns its position. ``data`` is ``bytes``
    /// (written from where it is, without a copy) or any other bytes-like
    /// object (copied once). With ``sync="always"`` it returns once the
    /// record is on disk.
    ///
    /// Raises :class:`InvalidArgumentError` for an empty or oversize record
    /// and ``TypeError`` for what is not bytes-like (nothing is written);
    /// :class:`IoError` if the write or sync fails (the log is then
    /// poisoned) and :class:`PoisonedError` after such a failure.
    fn append(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<u64> {
        self.write_one(py, data, Log::append)
    }

    /// append_batch(records) -> range
    ///
    /// Appends the records of an iterable as one batch, at consecutive
    /// positions, and returns their range: after a crash either all of them
    /// are found or none. One bad record (empty, oversize, not bytes-like)
    /// refuses the whole batch, and nothing is written.
    fn append_batch<'py>(
        &self,
        py: Python<'py>,
        records: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.write_batch(py, records, ("append_batch", "append"), |log, r| {
            log.append_batch(r)
        })
    }

    /// submit(data) -> int
    ///
    /// Appends one record as :meth:`append` does, with the same checks and
    /// errors, but returns its position at once, without waiting for it to
    /// be durable, whatever ``sync`` is. With ``sync="always"`` a thread of
    /// the log's syncs it soon, in one group commit with every other
    /// append; otherwise the policy's own syncs make it durable. Learn of
    /// it with :attr:`durable_position`, :meth:`wait_durable` or
    /// :meth:`durable_async`, or use :meth:`submit_batch_then`. A failed
    /// sync poisons the log and reaches those instead of this call.
    fn submit(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<u64> {
        self.write_one(py, data, Log::submit)
    }

    /// submit_batch(records) -> range
    ///
    /// Appends the records of an iterable as one batch, as
    /// :meth:`append_batch` does (atomic, with the same checks and errors),
    /// and returns their range at once, without waiting for them to be
    /// durable: see :meth:`submit`.
    fn submit_batch<'py>(
        &self,
        py: Python<'py>,
        records: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.write_batch(py, records, ("submit_batch", "submit"), |log, r| {
            log.submit_batch(r)
        })
    }

    /// submit_batch_then(records, callback) -> range
    ///
    /// Appends the records of an iterable as one batch, as
    /// :meth:`submit_batch` does, returns their range at once, and calls
    /// ``callback(positions, error)`` once they are durable: with
    /// ``(range, None)``, or with ``(None, exception)`` if they may not be
    /// (a failed sync, which poisons the log: :class:`IoError`; or the log
    /// closed before they were synced: :class:`ClosedError`). The sync is
    /// asked for whatever ``sync`` is, and shared with every other append.
    ///
    /// ``callback`` is called exactly once for each call that returns (and
    /// never for one that raises), usually on a thread of the log's, with
    /// the GIL; if the records are durable already it may be called on
    /// this thread before this call returns. Callbacks run one at a time,
    /// in the order their records became durable: a slow one delays the
    /// callbacks after it, never a sync. What a callback raises is passed
    /// to ``sys.unraisablehook`` and the others go on. :meth:`close`
    /// returns once every callback has run.
    fn submit_batch_then<'py>(
        &self,
        py: Python<'py>,
        records: &Bound<'py, PyAny>,
        callback: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        if !callback.is_callable() {
            return Err(PyTypeError::new_err(format!(
                "callback must be callable, not {}",
                type_name(callback)
            )));
        }
        let owned = batch(records, "submit_batch_then", "submit")?;
        let slices: Vec<&[u8]> = owned.iter().map(|b| b.as_bytes()).collect();
        let callback = callback.clone().unbind();
        let log = self.log();
        let r = engine(py, move || {
            log.submit_batch_then(&slices, move |r| {
                Python::attach(|py| run_callback(py, &callback, r));
            })
        })?;
        range(py, r)
    }

    /// Every position below this one is durable: its record survives a
    /// crash of the machine. (On a read-only handle: every position it has
    /// seen.)
    #[getter]
    fn durable_position(&self, py: Python<'_>) -> PyResult<u64> {
        let log = self.log();
        engine(py, || Ok(log.durable_position()))
    }

    /// wait_durable(position, timeout=None) -> bool
    ///
    /// Blocks until the record at ``position`` (and every one before it) is
    /// durable or ``timeout`` seconds pass (``None``: no limit), without
    /// the GIL, asking for a sync if none is coming. Returns whether it is
    /// durable (also ``True`` if ``truncate_back`` removed it meanwhile:
    /// its removal is durable). Ctrl-C interrupts it
    /// (``KeyboardInterrupt``).
    ///
    /// Raises :class:`OutOfRangeError` if ``position`` was not appended
    /// yet; :class:`IoError` or :class:`PoisonedError` if a sync failed
    /// (the record may be lost in a crash); :class:`ClosedError` if the log
    /// was closed before the record was synced.
    #[pyo3(signature = (position, timeout = None))]
    fn wait_durable(
        &self,
        py: Python<'_>,
        position: &Bound<'_, PyAny>,
        timeout: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        let pos = uint(py, position, "position", BadPosition::Invalid)?;
        let timeout = opt_timeout(py, timeout)?;
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let log = self.log();
        // One notice for the whole wait, polled a slice at a time.
        let mut durable = engine(py, || Ok(log.durable(pos)))?;
        loop {
            let slice = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()).min(POLL),
                None => POLL,
            };
            let d = &mut durable;
            if engine(py, move || poll_for(d, slice).transpose())?.is_some() {
                return Ok(true);
            }
            py.check_signals()?;
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(false);
            }
        }
    }

    /// durable_async(position) -> asyncio.Future[None]
    ///
    /// The asyncio form of :meth:`wait_durable`, to be called from a
    /// coroutine: ``await log.durable_async(position)`` returns once the
    /// record at ``position`` (and every one before it) is durable, without
    /// blocking the event loop, or raises what :meth:`wait_durable` would
    /// (:class:`OutOfRangeError` for a position not appended yet). The sync
    /// is asked for at once, whether or not the future is awaited.
    /// Cancelling the future stops nothing but the wait. Raises
    /// ``RuntimeError`` if no event loop is running in this thread.
    fn durable_async<'py>(
        &self,
        py: Python<'py>,
        position: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let pos = uint(py, position, "position", BadPosition::Invalid)?;
        let event_loop = module(py, &ASYNCIO, "asyncio")?.call_method0("get_running_loop")?;
        let future = event_loop.call_method0("create_future")?;
        let log = self.log();
        let durable = engine(py, || Ok(log.durable(pos)))?;
        let wait = Arc::new(AsyncWait {
            durable: Mutex::new(Some(durable)),
            future: future.clone().unbind(),
            event_loop: event_loop.unbind(),
        });
        // Settled already (durable, or an error): on this thread, the loop's.
        if let Some(r) = wait.poll() {
            let exc = r.err().map(|e| engine_error(py, &e).into_value(py));
            module(py, &AIO, "logstore._aio")?
                .getattr("settle")?
                .call1((&future, exc))?;
        }
        Ok(future)
    }

    /// read(position) -> bytes
    ///
    /// The record at ``position``. Raises :class:`TruncatedError` before
    /// the first position, :class:`OutOfRangeError` at or after the next
    /// one (both are ``IndexError``), :class:`CorruptionError` if the
    /// stored record fails its checks.
    fn read<'py>(
        &self,
        py: Python<'py>,
        position: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let pos = uint(py, position, "position", BadPosition::OutOfRange)?;
        let log = self.log();
        let v = engine(py, || log.read(pos))?;
        Ok(PyBytes::new(py, &v))
    }

    /// ``log[position]`` is :meth:`read`; ``log[start:stop:step]`` is the
    /// list of the records at those positions that the log holds (bounds
    /// default to :attr:`first_position` and :attr:`next_position`, and
    /// positions dropped or not yet appended are left out, as list slicing
    /// leaves out what is past its ends). Positions are absolute, so
    /// negative ones are refused.
    fn __getitem__<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        if let Ok(s) = key.cast::<PySlice>() {
            let records = self.read_slice(py, s)?;
            return Ok(PyList::new(py, records)?.into_any());
        }
        Ok(self.read(py, key)?.into_any())
    }

    /// truncate_front(position)
    ///
    /// Drops every record before ``position``, durably, without copying
    /// anything. ``position`` may be past the end: the log is then empty
    /// and the next append gets ``position``. Disk space is given back in
    /// the background (see :meth:`wait_reclaimed`).
    fn truncate_front(&self, py: Python<'_>, position: &Bound<'_, PyAny>) -> PyResult<()> {
        let pos = uint(py, position, "position", BadPosition::Invalid)?;
        let log = self.log();
        engine(py, || log.truncate_front(pos))
    }

    /// truncate_back(position)
    ///
    /// Drops the records at ``position`` and after, durably: the next
    /// append gets ``position``. Raises :class:`OutOfRangeError` if
    /// ``position`` is before the first position (nothing changes).
    fn truncate_back(&self, py: Python<'_>, position: &Bound<'_, PyAny>) -> PyResult<()> {
        let pos = uint(py, position, "position", BadPosition::Invalid)?;
        let log = self.log();
        engine(py, || log.truncate_back(pos))
    }

    /// iter(from_=None, *, follow=False) -> LogIterator
    ///
    /// An iterator of ``(position, record)`` from ``from_`` on (default:
    /// the first position). It sees records appended after it was made.
    /// With ``follow=False`` it stops at the end of the log (and, called
    /// again later, goes on with what was appended since); with
    /// ``follow=True`` it waits for the next append instead, until the log
    /// is closed (:class:`ClosedError`) or Ctrl-C (``KeyboardInterrupt``).
    /// Raises :class:`TruncatedError` when ``truncate_front`` passes it.
    #[pyo3(signature = (from_ = None, *, follow = false))]
    fn iter(
        &self,
        py: Python<'_>,
        from_: Option<&Bound<'_, PyAny>>,
        follow: bool,
    ) -> PyResult<PyLogIter> {
        let from = self.start_position(py, from_)?;
        Ok(PyLogIter {
            it: Mutex::new(self.log().iter(from)),
            follow,
            failed: AtomicBool::new(false),
        })
    }

    /// ``iter(log)`` is ``log.iter()``: every record from the first
    /// position to the end.
    fn __iter__(&self, py: Python<'_>) -> PyResult<PyLogIter> {
        self.iter(py, None, false)
    }

    /// replay(from_, fn) -> int
    ///
    /// Calls ``fn(position, record)`` for each record from ``from_`` on
    /// (``None``: the first position), in order, until the end of the log
    /// or until ``fn`` returns ``False`` (any other result goes on).
    /// Returns how many records were passed to ``fn``. The records are read
    /// without the GIL, a chunk at a time. An exception raised by ``fn``
    /// stops the replay and propagates.
    fn replay(
        &self,
        py: Python<'_>,
        from_: Option<&Bound<'_, PyAny>>,
        #[pyo3(from_py_with = callable)] r#fn: Bound<'_, PyAny>,
    ) -> PyResult<u64> {
        let mut from = self.start_position(py, from_)?;
        let log = self.log();
        let mut passed = 0u64;
        let mut buf = Vec::new();
        let mut ends = Vec::new();
        loop {
            buf.clear();
            ends.clear();
            engine(py, || {
                log.replay(from, |_, r| {
                    buf.extend_from_slice(r);
                    ends.push(buf.len());
                    ends.len() < REPLAY_CHUNK_RECORDS && buf.len() < REPLAY_CHUNK_BYTES
                })
            })?;
            let mut at = 0;
            for (i, &end) in ends.iter().enumerate() {
                let rec = PyBytes::new(py, &buf[at..end]);
                at = end;
                passed += 1;
                let res = r#fn.call1((from + i as u64, rec))?;
                if res.is_instance_of::<PyBool>() && !res.is_truthy()? {
                    return Ok(passed);
                }
            }
            let full = ends.len() >= REPLAY_CHUNK_RECORDS || buf.len() >= REPLAY_CHUNK_BYTES;
            if !full {
                return Ok(passed);
            }
            from += ends.len() as u64;
            py.check_signals()?;
        }
    }

    /// wait_for(position, timeout=None) -> bool
    ///
    /// Blocks until a record exists at ``position`` or ``timeout`` seconds
    /// pass (``None``: no limit), without the GIL. Returns whether the
    /// record exists. Ctrl-C interrupts it (``KeyboardInterrupt``); closing
    /// the log meanwhile raises :class:`ClosedError`.
    #[pyo3(signature = (position, timeout = None))]
    fn wait_for(
        &self,
        py: Python<'_>,
        position: &Bound<'_, PyAny>,
        timeout: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        let pos = uint(py, position, "position", BadPosition::Invalid)?;
        let timeout = opt_timeout(py, timeout)?;
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let log = self.log();
        loop {
            let slice = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()).min(POLL),
                None => POLL,
            };
            if engine(py, || log.wait_for(pos, Some(slice)))? {
                return Ok(true);
            }
            py.check_signals()?;
            // (A timeout too long to represent has no deadline: no limit.)
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(false);
            }
        }
    }

    /// Makes every record appended so far durable (for ``sync="never"``
    /// or an interval). Raises :class:`IoError` if the sync fails; the log
    /// is then poisoned.
    fn sync(&self, py: Python<'_>) -> PyResult<()> {
        let log = self.log();
        engine(py, || log.sync())
    }

    /// Writes records kept in the process (see ``write_buffer``) to the
    /// operating system, without syncing.
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        let log = self.log();
        engine(py, || log.flush())
    }

    /// Re-reads the directory so that a read-only handle sees what the
    /// writer did since it was opened. Does nothing on a writer.
    fn refresh(&self, py: Python<'_>) -> PyResult<()> {
        let log = self.log();
        engine(py, || log.refresh())
    }

    /// Waits until the disk space released by earlier truncations has been
    /// given back to the file system.
    fn wait_reclaimed(&self, py: Python<'_>) -> PyResult<()> {
        let log = self.log();
        engine(py, || {
            log.wait_reclaimed();
            Ok(())
        })
    }

    /// stats() -> Stats
    ///
    /// Figures about the log and its files, as a frozen dataclass.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let log = self.log();
        let s = engine(py, || log.stats())?;
        let types = module(py, &TYPES, "logstore._types")?;
        let seg = types.getattr("SegmentStats")?;
        let segments = s
            .segments
            .iter()
            .map(|g| {
                seg.call1((
                    path_str(&g.path),
                    g.first_position,
                    g.end_position,
                    g.retained_bytes,
                    g.disk_bytes,
                ))
            })
            .collect::<PyResult<Vec<_>>>()?;
        types.getattr("Stats")?.call1((
            s.first_position,
            s.next_position,
            s.records,
            s.retained_bytes,
            s.disk_bytes,
            PyTuple::new(py, segments)?,
        ))
    }

    /// verify() -> VerifyReport
    ///
    /// Reads every kept record of every segment and checks its checksum,
    /// length, position and index entry. Damage is reported in the
    /// returned report (``report.ok`` is whether there is none), not
    /// raised; :class:`IoError` if a file cannot be read.
    fn verify<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let log = self.log();
        let v = engine(py, || log.verify(|_, _| {}))?;
        let types = module(py, &TYPES, "logstore._types")?;
        let problem = types.getattr("Problem")?;
        let problems = v
            .problems
            .iter()
            .map(|p| problem.call1((path_str(&p.path), p.offset, p.what.as_str())))
            .collect::<PyResult<Vec<_>>>()?;
        types.getattr("VerifyReport")?.call1((
            v.segments,
            v.records,
            v.bytes,
            PyTuple::new(py, problems)?,
        ))
    }

    /// What opening the log found and did (a torn tail cut off, damage
    /// dropped, segments removed, indexes rebuilt), as a frozen dataclass.
    #[getter]
    fn recovery_report<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let log = self.log();
        let r = engine(py, || Ok(log.recovery_report()))?;
        module(py, &TYPES, "logstore._types")?
            .getattr("RecoveryReport")?
            .call1((
                cut(py, r.torn_tail.as_ref())?,
                cut(py, r.dropped.as_ref())?,
                strings(py, &r.unknown_files)?,
                strings(py, &r.removed_segments)?,
                strings(py, &r.rebuilt_indexes)?,
            ))
    }

    /// Flushes, syncs and closes the log, releasing the directory lock
    /// (once its iterators are gone too). Later calls raise
    /// :class:`ClosedError`; closing again does nothing. Raises
    /// :class:`IoError` if the final sync fails (the log is closed anyway).
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let log = self.log();
        engine(py, || log.close())
    }

    /// Returns the log itself.
    fn __enter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    /// Closes the log (see :meth:`close`).
    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        if self.closed() {
            return Ok(format!("<logstore.Log {:?} closed>", path_str(&self.path)));
        }
        Ok(format!(
            "<logstore.Log {:?} positions {}..{}>",
            path_str(&self.path),
            self.first_position(py)?,
            self.next_position(py)?
        ))
    }
}

fn callable<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    if obj.is_callable() {
        Ok(obj.clone())
    } else {
        Err(PyTypeError::new_err(format!(
            "fn must be callable, not {}",
            type_name(obj)
        )))
    }
}

/// An iterator of ``(position, record)`` over a log, from
/// :meth:`Log.iter`. It sees records appended after it was made; see
/// :meth:`Log.iter` for ``follow``.
#[pyclass(frozen, module = "logstore", name = "LogIterator")]
struct PyLogIter {
    it: Mutex<Iter>,
    follow: bool,
    failed: AtomicBool,
}

fn lock(m: &Mutex<Iter>) -> MutexGuard<'_, Iter> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

type Item<'py> = (u64, Bound<'py, PyBytes>);

impl PyLogIter {
    /// The next record, waiting up to `timeout` (`None`: no limit) if
    /// `wait`, else not at all.
    fn step<'py>(
        &self,
        py: Python<'py>,
        wait: bool,
        timeout: Option<Duration>,
    ) -> PyResult<Option<Item<'py>>> {
        if self.failed.load(Ordering::Acquire) {
            return Ok(None);
        }
        let it = &self.it;
        let got = if !wait {
            engine(py, || lock(it).next().transpose())
        } else {
            let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
            let mut first = true;
            loop {
                let slice = match deadline {
                    Some(d) => d.saturating_duration_since(Instant::now()).min(POLL),
                    None => POLL,
                };
                // The first look does not wait, so that a zero timeout
                // still returns a record that is there.
                let r = engine(py, || {
                    let mut it = lock(it);
                    if first {
                        it.next().transpose()
                    } else {
                        it.next_timeout(slice).transpose()
                    }
                });
                first = false;
                match r {
                    Ok(Some(x)) => break Ok(Some(x)),
                    Err(e) => break Err(e),
                    Ok(None) => {}
                }
                if let Err(e) = py.check_signals() {
                    break Err(e);
                }
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break Ok(None);
                }
            }
        };
        match got {
            Ok(Some((p, rec))) => Ok(Some((p, PyBytes::new(py, &rec)))),
            Ok(None) => Ok(None),
            Err(e) => {
                if !e.is_instance_of::<pyo3::exceptions::PyKeyboardInterrupt>(py) {
                    self.failed.store(true, Ordering::Release);
                }
                Err(e)
            }
        }
    }
}

#[pymethods]
impl PyLogIter {
    /// The position the next record will have.
    #[getter]
    fn position(&self, py: Python<'_>) -> PyResult<u64> {
        let it = &self.it;
        engine(py, || Ok(lock(it).position()))
    }

    /// Whether this iterator waits for appends at the end of the log.
    #[getter]
    fn follow(&self) -> bool {
        self.follow
    }

    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Item<'py>>> {
        self.step(py, self.follow, None)
    }

    /// next_timeout(timeout=None) -> tuple[int, bytes] | None
    ///
    /// The next ``(position, record)``, waiting up to ``timeout`` seconds
    /// (``None``: no limit) for it to be appended; ``None`` if the time
    /// ran out. Ctrl-C interrupts the wait.
    #[pyo3(signature = (timeout = None))]
    fn next_timeout<'py>(
        &self,
        py: Python<'py>,
        timeout: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Option<Item<'py>>> {
        let timeout = opt_timeout(py, timeout)?;
        self.step(py, true, timeout)
    }
}

/// repair_meta(path, write=False) -> MetaRepair | None
///
/// Rebuilds the meta file of the log in ``path`` if it is damaged or
/// missing while segments exist (which makes the log unopenable); with
/// ``write=False`` only says what it would write. ``None`` if the meta
/// file is intact or there is no log. Raises :class:`LockedError` (with
/// ``write``) if a writer holds the log, :class:`CorruptionError` if the
/// segments cannot tell.
#[pyfunction]
#[pyo3(signature = (path, write = false))]
fn repair_meta(py: Python<'_>, path: PathBuf, write: bool) -> PyResult<Bound<'_, PyAny>> {
    let r = engine(py, || Log::repair_meta(&path, Options::default(), write))?;
    let Some(r) = r else {
        return Ok(py.None().into_bound(py));
    };
    module(py, &TYPES, "logstore._types")?
        .getattr("MetaRepair")?
        .call1((
            path_str(&r.path),
            r.problem.as_str(),
            r.log_id.as_str(),
            r.first_position,
            r.first_segment.as_deref().map(path_str),
            r.first_offset,
            r.written,
        ))
}

/// The native part of the ``logstore`` package; import ``logstore``.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyLog>()?;
    m.add_class::<PyLogIter>()?;
    m.add_function(wrap_pyfunction!(repair_meta, m)?)?;
    m.add("DEFAULT_SEGMENT_SIZE", logstore::DEFAULT_SEGMENT_SIZE)?;
    m.add("DEFAULT_MAX_RECORD_SIZE", logstore::DEFAULT_MAX_RECORD_SIZE)?;
    m.add("MAX_RECORD_SIZE_LIMIT", logstore::MAX_RECORD_SIZE_LIMIT)?;
    Ok(())
}
