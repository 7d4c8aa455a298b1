//! The engine's locks, condition variables, atomics and threads, taken from
//! one place: std's in a normal build, loom's in a `--cfg loom` build, so
//! that the loom model (`tests/loom.rs`) explores the interleavings of the
//! engine's own code: the group-commit hand-off, readers racing
//! truncation. These are re-exports only; a normal build compiles exactly
//! the std types.
//!
//! `Arc` stays std's in both builds: it only counts references here, and
//! loom's `Arc` cannot hold the trait objects (`Arc<dyn FsFile>`) that the
//! engine shares. The background thread's channel stays std's too: loom's
//! channel models neither a timeout nor a hang-up, so a loom build runs no
//! background thread (see `background::start`).

#[cfg(loom)]
pub(crate) use loom::{
    sync::{atomic, Condvar, Mutex, MutexGuard},
    thread,
};
#[cfg(not(loom))]
pub(crate) use std::{
    sync::{atomic, Condvar, Mutex, MutexGuard},
    thread,
};
