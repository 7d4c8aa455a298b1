//! RocksDB: key = big-endian `(log, position)`, value = record; WAL on,
//! compression off, `sync = true` per write; truncation deletes the range.

use std::path::Path;

use rocksdb::{DBCompressionType, Options, WriteOptions, DB};

use super::Multi;
use crate::stores::Res;

pub struct Keys {
    db: DB,
    write: WriteOptions,
}

fn key(log: u64, position: u64) -> [u8; 16] {
    let mut k = [0; 16];
    k[..8].copy_from_slice(&log.to_be_bytes());
    k[8..].copy_from_slice(&position.to_be_bytes());
    k
}

impl Keys {
    pub fn open(dir: &Path) -> Res<Keys> {
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.set_compression_type(DBCompressionType::None);
        let mut write = WriteOptions::default();
        write.set_sync(true);
        Ok(Keys {
            db: DB::open(&opts, dir)?,
            write,
        })
    }
}

impl Multi for Keys {
    fn append(&self, log: u64, position: u64, record: &[u8]) -> Res<()> {
        self.db.put_opt(key(log, position), record, &self.write)?;
        Ok(())
    }

    fn truncate_front(&self, log: u64, position: u64) -> Res<()> {
        let mut batch = rocksdb::WriteBatch::default();
        batch.delete_range(key(log, 0), key(log, position));
        self.db.write_opt(batch, &self.write)?;
        Ok(())
    }

    fn settle(&self) -> Res<()> {
        Ok(())
    }

    fn close(self: Box<Self>) -> Res<()> {
        self.db.flush()?;
        Ok(())
    }
}
