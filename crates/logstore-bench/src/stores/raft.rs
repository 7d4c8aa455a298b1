//! raft-engine: one raft group, each record an entry. Entries of one group
//! need contiguous indexes, so appends take an outside mutex that assigns
//! the index and writes (raft-engine itself groups concurrent writes of
//! different groups, which a single log cannot use).

use std::any::Any;
use std::path::Path;
use std::sync::{Mutex, OnceLock};

use protobuf::{CodedInputStream, CodedOutputStream, Message, ProtobufResult};
use raft_engine::{Config, Engine, LogBatch, MessageExt, ReadableSize};

use super::{Mode, Res, Store};

const GROUP: u64 = 1;

/// A two-field protobuf message: the entry index and the record.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Entry {
    index: u64,
    data: Vec<u8>,
}

impl Entry {
    /// The entry at raft index `index`.
    pub fn new(index: u64, data: &[u8]) -> Entry {
        Entry {
            index,
            data: data.to_vec(),
        }
    }
}

impl protobuf::Clear for Entry {
    fn clear(&mut self) {
        self.index = 0;
        self.data.clear();
    }
}

impl Message for Entry {
    fn descriptor(&self) -> &'static protobuf::reflect::MessageDescriptor {
        Self::descriptor_static()
    }
    fn is_initialized(&self) -> bool {
        true
    }
    fn merge_from(&mut self, is: &mut CodedInputStream) -> ProtobufResult<()> {
        while !is.eof()? {
            let (field, _) = is.read_tag_unpack()?;
            match field {
                1 => self.index = is.read_uint64()?,
                2 => self.data = is.read_bytes()?,
                _ => {
                    return Err(protobuf::ProtobufError::WireError(
                        protobuf::error::WireError::Other,
                    ))
                }
            }
        }
        Ok(())
    }
    fn write_to_with_cached_sizes(&self, os: &mut CodedOutputStream) -> ProtobufResult<()> {
        os.write_uint64(1, self.index)?;
        os.write_bytes(2, &self.data)
    }
    fn compute_size(&self) -> u32 {
        protobuf::rt::value_size(1, self.index, protobuf::wire_format::WireTypeVarint)
            + protobuf::rt::bytes_size(2, &self.data)
    }
    fn get_cached_size(&self) -> u32 {
        self.compute_size()
    }
    fn get_unknown_fields(&self) -> &protobuf::UnknownFields {
        unknown_fields()
    }
    fn mut_unknown_fields(&mut self) -> &mut protobuf::UnknownFields {
        unreachable!("the bench's entries have no unknown fields")
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn new() -> Self {
        Entry::default()
    }
    fn default_instance() -> &'static Self {
        static DEFAULT: OnceLock<Entry> = OnceLock::new();
        DEFAULT.get_or_init(Entry::default)
    }
}

fn unknown_fields() -> &'static protobuf::UnknownFields {
    static NONE: OnceLock<protobuf::UnknownFields> = OnceLock::new();
    NONE.get_or_init(protobuf::UnknownFields::new)
}

/// Tells raft-engine how to find an entry's index.
pub struct EntryExt;

impl MessageExt for EntryExt {
    type Entry = Entry;
    fn index(e: &Entry) -> u64 {
        e.index
    }
}

/// See the module docs. Raft indexes start at 1: position p is index p + 1.
pub struct RaftStore {
    engine: Engine,
    next: Mutex<u64>,
    durable: bool,
}

impl RaftStore {
    /// Opens or creates the engine in `dir`. Batch compression is off, as
    /// for the other stores; purging is not held back by a size threshold.
    pub fn open(dir: &Path, mode: Mode) -> Res<RaftStore> {
        let cfg = config(dir)?;
        let engine = Engine::open(cfg)?;
        let next = engine.last_index(GROUP).unwrap_or(0);
        Ok(RaftStore {
            engine,
            next: Mutex::new(next),
            durable: mode.durable,
        })
    }
}

impl Store for RaftStore {
    fn append(&self, record: &[u8]) -> Res<u64> {
        let mut next = self.next.lock().expect("raft next lock");
        let entry = Entry {
            index: *next + 1,
            data: record.to_vec(),
        };
        let mut batch = LogBatch::default();
        batch.add_entries::<EntryExt>(GROUP, &[entry])?;
        self.engine.write(&mut batch, self.durable)?;
        *next += 1;
        Ok(*next - 1)
    }

    fn read(&self, position: u64) -> Res<Vec<u8>> {
        match self.engine.get_entry::<EntryExt>(GROUP, position + 1)? {
            Some(e) => Ok(e.data),
            None => Err(format!("raft-engine: no entry {}", position + 1).into()),
        }
    }

    fn replay(&self, from: u64, f: &mut dyn FnMut(u64, &[u8]) -> Res<()>) -> Res<u64> {
        let end = self.next()? + 1;
        let mut index = from + 1;
        let mut entries = Vec::new();
        while index < end {
            entries.clear();
            let upto = end.min(index + 4096);
            self.engine.fetch_entries_to::<EntryExt>(
                GROUP,
                index,
                upto,
                Some(64 << 20),
                &mut entries,
            )?;
            if entries.is_empty() {
                return Err(format!("raft-engine: nothing at {index}").into());
            }
            for e in &entries {
                f(e.index - 1, &e.data)?;
            }
            index += entries.len() as u64;
        }
        Ok(end - 1 - from)
    }

    fn first(&self) -> Res<u64> {
        Ok(self.engine.first_index(GROUP).map_or(0, |i| i - 1))
    }

    fn next(&self) -> Res<u64> {
        Ok(*self.next.lock().expect("raft next lock"))
    }

    /// `compact_to` drops the entries from the memtable; the files they lie
    /// in are deleted by `purge_expired_files` once nothing in them is live.
    fn truncate_front(&self, position: u64) -> Res<()> {
        self.engine.compact_to(GROUP, position + 1);
        self.engine.purge_expired_files()?;
        Ok(())
    }

    /// `Engine::sync` writes an empty batch, which raft-engine 0.4.2
    /// returns from without syncing: write a one-key batch with `sync`.
    fn sync(&self) -> Res<()> {
        let mut batch = LogBatch::default();
        batch.put(GROUP, b"bench-sync".to_vec(), vec![1])?;
        self.engine.write(&mut batch, true)?;
        Ok(())
    }

    fn close(self: Box<Self>) -> Res<()> {
        self.sync()
    }
}

/// The engine's configuration in `dir`, for one group or many: batch
/// compression off, as for the other stores; purging not held back by a
/// size threshold.
pub fn config(dir: &Path) -> Res<Config> {
    Ok(Config {
        dir: dir
            .to_str()
            .ok_or("raft-engine: path is not UTF-8")?
            .to_owned(),
        batch_compression_threshold: ReadableSize(0),
        // purge_expired_files only acts once the files exceed this
        // (default 10 GiB): a user who truncates to get space back
        // lowers it, here to its minimum, one file.
        purge_threshold: ReadableSize::mb(128),
        target_file_size: ReadableSize::mb(128),
        ..Config::default()
    })
}
