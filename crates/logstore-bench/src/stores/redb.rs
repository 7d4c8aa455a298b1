//! redb: a table `u64 -> bytes`, one write transaction per append
//! (`Durability::Immediate` when durable, `None` otherwise). Write
//! transactions are serialized by redb itself (no outside mutex). Freed
//! pages are reused but the file only shrinks through `compact`, which
//! needs exclusive access: truncation deletes the range, then compacts.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};

use super::{Mode, Res, Store};

const TABLE: TableDefinition<u64, &[u8]> = TableDefinition::new("log");

/// See the module docs.
pub struct RedbStore {
    db: RwLock<Database>,
    durability: Durability,
    first: AtomicU64,
    next: AtomicU64,
}

impl RedbStore {
    /// Opens or creates `log.redb` in `dir`.
    pub fn open(dir: &Path, mode: Mode) -> Res<RedbStore> {
        let db = Database::create(dir.join("log.redb"))?;
        let txn = db.begin_write()?;
        txn.open_table(TABLE)?;
        txn.commit()?;
        let (first, next) = {
            let txn = db.begin_read()?;
            let table = txn.open_table(TABLE)?;
            let first = table.first()?.map(|(k, _)| k.value());
            let last = table.last()?.map(|(k, _)| k.value());
            (first.unwrap_or(0), last.map_or(0, |l| l + 1))
        };
        let durability = if mode.durable {
            Durability::Immediate
        } else {
            Durability::None
        };
        Ok(RedbStore {
            db: RwLock::new(db),
            durability,
            first: AtomicU64::new(first),
            next: AtomicU64::new(next),
        })
    }
}

impl Store for RedbStore {
    fn append(&self, record: &[u8]) -> Res<u64> {
        let db = self.db.read().expect("redb lock");
        let mut txn = db.begin_write()?;
        txn.set_durability(self.durability)?;
        // Write transactions are serialized: positions are taken in order.
        let pos = self.next.fetch_add(1, Ordering::SeqCst);
        txn.open_table(TABLE)?.insert(pos, record)?;
        txn.commit()?;
        Ok(pos)
    }

    fn read(&self, position: u64) -> Res<Vec<u8>> {
        let db = self.db.read().expect("redb lock");
        let txn = db.begin_read()?;
        let table = txn.open_table(TABLE)?;
        let value = table
            .get(position)?
            .ok_or_else(|| format!("redb: no record {position}"))?;
        Ok(value.value().to_vec())
    }

    fn replay(&self, from: u64, f: &mut dyn FnMut(u64, &[u8]) -> Res<()>) -> Res<u64> {
        let db = self.db.read().expect("redb lock");
        let txn = db.begin_read()?;
        let table = txn.open_table(TABLE)?;
        let mut n = 0;
        for item in table.range(from..)? {
            let (k, v) = item?;
            f(k.value(), v.value())?;
            n += 1;
        }
        Ok(n)
    }

    fn first(&self) -> Res<u64> {
        Ok(self.first.load(Ordering::SeqCst))
    }

    fn next(&self) -> Res<u64> {
        Ok(self.next.load(Ordering::SeqCst))
    }

    fn truncate_front(&self, position: u64) -> Res<()> {
        let mut db = self.db.write().expect("redb lock");
        let mut txn = db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        txn.open_table(TABLE)?.retain_in(..position, |_, _| false)?;
        txn.commit()?;
        self.first.store(position, Ordering::SeqCst);
        while db.compact()? {}
        Ok(())
    }

    /// An empty `Durability::Immediate` commit makes the earlier
    /// non-durable commits durable with it.
    fn sync(&self) -> Res<()> {
        let db = self.db.read().expect("redb lock");
        let mut txn = db.begin_write()?;
        txn.set_durability(Durability::Immediate)?;
        txn.commit()?;
        Ok(())
    }

    fn close(self: Box<Self>) -> Res<()> {
        Ok(())
    }
}
