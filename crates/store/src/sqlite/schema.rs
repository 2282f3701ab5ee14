//! SQLite schema, connection setup, loading, and executing a planned batch.

use std::path::PathBuf;
use std::sync::Arc;

use rusqlite::{Connection, OptionalExtension, params};

use std::collections::HashMap;

use super::plan::{Index, Row, RowChange};
use crate::object::{Compact, Object, Revision};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL,
    create_revision INTEGER NOT NULL,
    mod_revision INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
    name TEXT PRIMARY KEY NOT NULL,
    value INTEGER NOT NULL
) WITHOUT ROWID;
";

/// Where the database lives.
#[derive(Debug, Clone)]
pub(crate) enum Location {
    File(PathBuf),
    Memory,
}

/// Opens the database with the durability settings group commit relies on.
pub(crate) fn open(location: &Location) -> rusqlite::Result<Connection> {
    let conn = match location {
        Location::File(path) => Connection::open(path)?,
        Location::Memory => Connection::open_in_memory()?,
    };
    // WAL: one fsync per commit and readers never block the writer; FULL: a commit that
    // returned survives power loss, which is what "the API answers after durable" promises.
    // (An in-memory database reports journal_mode "memory"; that is expected.)
    let _mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))?;
    conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA busy_timeout=5000;")?;
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
}

/// Loads every readable row into an index, and the persisted revision. A row whose value
/// is not a JSON object is skipped with a warning rather than failing the whole store.
pub(crate) fn load(conn: &Connection) -> rusqlite::Result<(Index, Revision)> {
    let persisted: Option<Revision> =
        conn.query_row("SELECT value FROM meta WHERE name = 'revision'", [], |row| row.get(0)).optional()?;
    let mut revision = persisted.unwrap_or(0);
    let mut index = Index::new();
    let mut stmt = conn.prepare("SELECT key, value, create_revision, mod_revision FROM kv")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let key: String = row.get(0)?;
        let text: String = row.get(1)?;
        let create_revision: Revision = row.get(2)?;
        let mod_revision: Revision = row.get(3)?;
        // Defensive: the revision must never go backwards even if `meta` lags the rows.
        revision = revision.max(mod_revision);
        let key: Arc<str> = Arc::from(key);
        // Parsed once here so that every row the index keeps parses again whenever it is read.
        let row = Compact::plain(key.clone(), Arc::from(text), create_revision, mod_revision);
        if let Err(error) = row.decode() {
            tracing::warn!(%key, %error, "skipping an unreadable stored object");
            continue;
        }
        index.insert(key, Row { create_revision, mod_revision });
    }
    Ok((index, revision))
}

/// The stored JSON of `keys` (those that have a row).
pub(crate) fn values(conn: &Connection, keys: &[Arc<str>]) -> rusqlite::Result<HashMap<Arc<str>, Arc<str>>> {
    let mut stmt = conn.prepare_cached("SELECT value FROM kv WHERE key = ?1")?;
    let mut found = HashMap::with_capacity(keys.len());
    for key in keys {
        if let Some(text) = stmt.query_row(params![&**key], |row| row.get::<_, String>(0)).optional()? {
            found.insert(key.clone(), Arc::from(text));
        }
    }
    Ok(found)
}

/// Every object under `prefix` that `index` holds (the readable rows), in key order.
pub(crate) fn range(conn: &Connection, index: &Index, prefix: &str) -> rusqlite::Result<Vec<Object>> {
    let mut stmt = conn.prepare_cached("SELECT key, value FROM kv WHERE key >= ?1 ORDER BY key")?;
    let mut rows = stmt.query(params![prefix])?;
    let mut objects = Vec::new();
    while let Some(row) = rows.next()? {
        let key: String = row.get(0)?;
        if !key.starts_with(prefix) {
            break;
        }
        let Some((key, revisions)) = index.get_key_value(key.as_str()) else { continue };
        let text: String = row.get(1)?;
        let compact = Compact::plain(key.clone(), Arc::from(text), revisions.create_revision, revisions.mod_revision);
        if let Ok(object) = compact.decode() {
            objects.push(object);
        }
    }
    Ok(objects)
}

/// Executes a batch's row changes and the new revision in one transaction.
pub(crate) fn commit(conn: &mut Connection, rows: &[RowChange], revision: Revision) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        // INSERT OR REPLACE: a key whose row was unreadable on load is absent from the index,
        // so a create of it must overwrite the stale row instead of failing the batch.
        let mut put = tx.prepare_cached(
            "INSERT OR REPLACE INTO kv (key, value, create_revision, mod_revision) VALUES (?1, ?2, ?3, ?4)",
        )?;
        let mut delete = tx.prepare_cached("DELETE FROM kv WHERE key = ?1")?;
        for row in rows {
            match row {
                RowChange::Put { key, json, create_revision, mod_revision } => {
                    put.execute(params![&**key, &**json, create_revision, mod_revision])?;
                }
                RowChange::Delete { key } => {
                    delete.execute(params![&**key])?;
                }
            }
        }
        tx.execute(
            "INSERT INTO meta (name, value) VALUES ('revision', ?1)
             ON CONFLICT(name) DO UPDATE SET value = excluded.value",
            params![revision],
        )?;
    }
    tx.commit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_skips_bad_rows_and_restamps() {
        let Ok(conn) = open(&Location::Memory) else { panic!("open") };
        let inserted = conn.execute_batch(
            "INSERT INTO kv VALUES ('/good', '{\"metadata\":{\"resourceVersion\":\"1\"}}', 2, 4);
             INSERT INTO kv VALUES ('/bad-json', '{not json', 3, 3);
             INSERT INTO kv VALUES ('/array', '[1]', 5, 5);
             INSERT INTO kv VALUES ('/bad-meta', '{\"metadata\":7}', 6, 6);
             INSERT INTO meta VALUES ('revision', 9);",
        );
        assert!(inserted.is_ok());
        let Ok((index, revision)) = load(&conn) else { panic!("load") };
        assert_eq!(revision, 9);
        let keys: Vec<&str> = index.keys().map(|k| &**k).collect();
        assert_eq!(keys, vec!["/good"]);
        let Ok(objects) = range(&conn, &index, "/") else { panic!("range") };
        let [good] = &objects[..] else { panic!("{objects:?}") };
        assert_eq!((good.create_revision, good.mod_revision), (2, 4));
        assert_eq!(good.value["metadata"]["resourceVersion"], "4");
        assert!(range(&conn, &index, "/bad").is_ok_and(|o| o.is_empty()));
        let Ok(found) = values(&conn, &[Arc::from("/good"), Arc::from("/missing")]) else { panic!("values") };
        assert_eq!(found.keys().map(|k| &**k).collect::<Vec<_>>(), ["/good"]);
    }

    #[test]
    fn load_revision_never_below_rows() {
        let Ok(conn) = open(&Location::Memory) else { panic!("open") };
        assert!(conn.execute_batch("INSERT INTO kv VALUES ('/a', '{}', 12, 12);").is_ok());
        let Ok((_, revision)) = load(&conn) else { panic!("load") };
        assert_eq!(revision, 12);
    }
}
