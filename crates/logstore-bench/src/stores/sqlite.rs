//! SQLite: WAL mode, one row per record, one INSERT statement (its own
//! transaction) per append; `synchronous=FULL` when durable, `OFF`
//! otherwise. A connection is not `Sync`, so appends take an outside mutex.
//! Truncation: DELETE, incremental vacuum, WAL checkpoint.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{params, Connection};

use super::{Mode, Res, Store};

/// See the module docs.
pub struct SqliteStore {
    conn: Mutex<Connection>,
    next: Mutex<u64>,
    dir: PathBuf,
}

impl SqliteStore {
    /// Opens or creates `log.db` in `dir`.
    pub fn open(dir: &Path, mode: Mode) -> Res<SqliteStore> {
        let conn = Connection::open(dir.join("log.db"))?;
        // auto_vacuum must be chosen before the first table exists.
        conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL;")?;
        conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
        let sync = if mode.durable { "FULL" } else { "OFF" };
        conn.execute_batch(&format!(
            "PRAGMA synchronous = {sync};
             CREATE TABLE IF NOT EXISTS log (pos INTEGER PRIMARY KEY, rec BLOB NOT NULL);"
        ))?;
        let next: i64 = conn.query_row("SELECT COALESCE(MAX(pos) + 1, 0) FROM log", [], |r| {
            r.get(0)
        })?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
            next: Mutex::new(next as u64),
            dir: dir.to_path_buf(),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().expect("sqlite connection lock")
    }
}

impl Store for SqliteStore {
    fn append(&self, record: &[u8]) -> Res<u64> {
        let conn = self.conn();
        let mut next = self.next.lock().expect("sqlite next lock");
        let mut stmt = conn.prepare_cached("INSERT INTO log (pos, rec) VALUES (?1, ?2)")?;
        stmt.execute(params![*next as i64, record])?;
        *next += 1;
        Ok(*next - 1)
    }

    fn read(&self, position: u64) -> Res<Vec<u8>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached("SELECT rec FROM log WHERE pos = ?1")?;
        Ok(stmt.query_row(params![position as i64], |r| r.get(0))?)
    }

    fn replay(&self, from: u64, f: &mut dyn FnMut(u64, &[u8]) -> Res<()>) -> Res<u64> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT pos, rec FROM log WHERE pos >= ?1 ORDER BY pos")?;
        let mut rows = stmt.query(params![from as i64])?;
        let mut n = 0;
        while let Some(row) = rows.next()? {
            let pos: i64 = row.get(0)?;
            f(pos as u64, row.get_ref(1)?.as_blob()?)?;
            n += 1;
        }
        Ok(n)
    }

    fn first(&self) -> Res<u64> {
        let conn = self.conn();
        let first: Option<i64> = conn.query_row("SELECT MIN(pos) FROM log", [], |r| r.get(0))?;
        Ok(first.map_or(*self.next.lock().expect("sqlite next lock"), |p| p as u64))
    }

    fn next(&self) -> Res<u64> {
        Ok(*self.next.lock().expect("sqlite next lock"))
    }

    fn truncate_front(&self, position: u64) -> Res<()> {
        let conn = self.conn();
        conn.execute("DELETE FROM log WHERE pos < ?1", params![position as i64])?;
        // Each step of incremental_vacuum frees pages; run it to the end.
        let mut vacuum = conn.prepare("PRAGMA incremental_vacuum")?;
        let mut rows = vacuum.query([])?;
        while rows.next()?.is_some() {}
        drop(rows);
        drop(vacuum);
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }

    /// With `synchronous=OFF` nothing is ever synced: sync the WAL, which
    /// holds every committed row, and the database file.
    fn sync(&self) -> Res<()> {
        let _conn = self.conn();
        for name in ["log.db-wal", "log.db"] {
            match std::fs::File::open(self.dir.join(name)) {
                Ok(f) => f.sync_data()?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    fn close(self: Box<Self>) -> Res<()> {
        let conn = self.conn.into_inner().expect("sqlite connection lock");
        conn.close().map_err(|(_, e)| e)?;
        Ok(())
    }
}
