//! The SQLite schema of a store, versioned with `PRAGMA user_version`, and its upgrade steps.

use rusqlite::Transaction;

use crate::error::{Error, Result};

/// The schema version this build writes.
pub const VERSION: i64 = 4;

/// Version 1: documents, the record index and the dispute index.
const V1: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE documents (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    unit TEXT NOT NULL,
    bytes BLOB NOT NULL,
    heads TEXT NOT NULL,
    seq INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX documents_seq ON documents(seq);
CREATE INDEX documents_unit_seq ON documents(unit, seq);
CREATE TABLE records (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    unit TEXT NOT NULL,
    number TEXT NOT NULL,
    title TEXT NOT NULL,
    status TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    json TEXT NOT NULL
);
CREATE INDEX records_kind_unit ON records(kind, unit, created_at);
CREATE TABLE dispute_index (
    id TEXT PRIMARY KEY,
    unit TEXT NOT NULL,
    category TEXT,
    trend TEXT,
    leader TEXT,
    responsible TEXT,
    people INTEGER,
    is_major INTEGER NOT NULL,
    is_group INTEGER NOT NULL,
    is_cross_region INTEGER NOT NULL,
    is_legacy INTEGER NOT NULL,
    found_on TEXT,
    deadline TEXT,
    resolved INTEGER NOT NULL
);
CREATE INDEX dispute_index_unit ON dispute_index(unit, category);
CREATE INDEX dispute_index_deadline ON dispute_index(resolved, deadline);
";

/// Version 2: incremental change chunks, a conflict count in the index, sync bookkeeping.
const V2: &str = "
CREATE TABLE doc_changes (
    n INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL,
    bytes BLOB NOT NULL
);
CREATE INDEX doc_changes_id ON doc_changes(id, n);
ALTER TABLE records ADD COLUMN conflicts INTEGER NOT NULL DEFAULT 0;
CREATE INDEX records_conflicts ON records(conflicts) WHERE conflicts > 0;
CREATE TABLE sync_docs (
    id TEXT PRIMARY KEY,
    relay_heads TEXT NOT NULL,
    pushed_seq INTEGER NOT NULL DEFAULT 0
);
";

/// Version 3: the document generation (raised by each personal-data erasure).
const V3: &str = "
ALTER TABLE documents ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
";

/// Version 4: the login leading a petition case (包案领导), so a leader in another unit
/// receives the cases they lead.
const V4: &str = "
ALTER TABLE records ADD COLUMN leader TEXT;
CREATE INDEX records_leader ON records(leader) WHERE leader IS NOT NULL;
";

/// Brings a database from `from` to [`VERSION`]. Returns whether records must be reindexed.
pub fn upgrade(tx: &Transaction<'_>, from: i64) -> Result<bool> {
    if from > VERSION {
        return Err(Error::SchemaTooNew {
            found: from,
            supported: VERSION,
        });
    }
    let mut reindex = false;
    if from < 1 {
        tx.execute_batch(V1)?;
    }
    if from < 2 {
        tx.execute_batch(V2)?;
        // Version 1 indexes have no conflict counts: recompute them from the documents.
        reindex = from >= 1;
    }
    if from < 3 {
        tx.execute_batch(V3)?;
    }
    if from < 4 {
        tx.execute_batch(V4)?;
        reindex |= from >= 1;
    }
    tx.pragma_update(None, "user_version", VERSION)?;
    Ok(reindex)
}

/// Creates a database at an older version, for upgrade tests.
#[doc(hidden)]
pub fn create_at_version(tx: &Transaction<'_>, version: i64) -> Result<()> {
    if version >= 1 {
        tx.execute_batch(V1)?;
    }
    if version >= 2 {
        tx.execute_batch(V2)?;
    }
    if version >= 3 {
        tx.execute_batch(V3)?;
    }
    if version >= 4 {
        tx.execute_batch(V4)?;
    }
    tx.pragma_update(None, "user_version", version)?;
    Ok(())
}
