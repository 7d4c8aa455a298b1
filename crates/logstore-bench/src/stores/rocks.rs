//! RocksDB: key = big-endian position, value = record; WAL on, compression
//! off; `sync = true` per write when durable. The DB is thread-safe and
//! groups concurrent synced writes itself; positions come from an atomic
//! counter (no outside mutex).

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use rocksdb::{DBCompressionType, Options, WriteBatch, WriteOptions, DB};

use super::{Mode, Res, Store};

/// See the module docs.
pub struct RocksStore {
    db: DB,
    write: WriteOptions,
    first: AtomicU64,
    next: AtomicU64,
}

fn key(position: u64) -> [u8; 8] {
    position.to_be_bytes()
}

fn position(key: &[u8]) -> Res<u64> {
    Ok(u64::from_be_bytes(
        key.try_into().map_err(|_| "rocksdb: bad key")?,
    ))
}

impl RocksStore {
    /// Opens or creates the DB in `dir`.
    pub fn open(dir: &Path, mode: Mode) -> Res<RocksStore> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.set_compression_type(DBCompressionType::None);
        let db = DB::open(&opts, dir)?;
        let mut write = WriteOptions::default();
        write.set_sync(mode.durable);
        let (first, next) = {
            let mut it = db.raw_iterator();
            it.seek_to_first();
            let first = match it.key() {
                Some(k) => position(k)?,
                None => 0,
            };
            it.seek_to_last();
            let next = match it.key() {
                Some(k) => position(k)? + 1,
                None => 0,
            };
            (first, next)
        };
        Ok(RocksStore {
            db,
            write,
            first: AtomicU64::new(first),
            next: AtomicU64::new(next),
        })
    }
}

impl Store for RocksStore {
    fn append(&self, record: &[u8]) -> Res<u64> {
        let pos = self.next.fetch_add(1, Ordering::SeqCst);
        self.db.put_opt(key(pos), record, &self.write)?;
        Ok(pos)
    }

    fn read(&self, position: u64) -> Res<Vec<u8>> {
        self.db
            .get(key(position))?
            .ok_or_else(|| format!("rocksdb: no record {position}").into())
    }

    fn replay(&self, from: u64, f: &mut dyn FnMut(u64, &[u8]) -> Res<()>) -> Res<u64> {
        let mut it = self.db.raw_iterator();
        it.seek(key(from));
        let mut n = 0;
        while it.valid() {
            let (k, v) = (
                it.key().ok_or("rocksdb: no key")?,
                it.value().ok_or("rocksdb: no value")?,
            );
            f(position(k)?, v)?;
            n += 1;
            it.next();
        }
        it.status()?;
        Ok(n)
    }

    fn first(&self) -> Res<u64> {
        Ok(self.first.load(Ordering::SeqCst))
    }

    fn next(&self) -> Res<u64> {
        Ok(self.next.load(Ordering::SeqCst))
    }

    /// delete_range + compact_range, so that the space is really released.
    fn truncate_front(&self, position: u64) -> Res<()> {
        let first = self.first.load(Ordering::SeqCst);
        let mut batch = WriteBatch::default();
        batch.delete_range(key(first), key(position));
        self.db.write_opt(batch, &self.write)?;
        self.db.compact_range(Some(key(first)), Some(key(position)));
        self.first.store(position, Ordering::SeqCst);
        Ok(())
    }

    fn flush(&self) -> Res<()> {
        Ok(())
    }

    /// The WAL holds every record: syncing it makes them durable.
    fn sync(&self) -> Res<()> {
        self.db.flush_wal(true)?;
        Ok(())
    }

    fn close(self: Box<Self>) -> Res<()> {
        self.db.flush_wal(true)?;
        Ok(())
    }
}
