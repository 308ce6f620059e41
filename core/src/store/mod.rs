//! `Store`: every record of a device (or of the relay) in one SQLite file.
//!
//! Each write loads the record's document, applies checked edits, checks the kind's rules on
//! the typed record before and after, and then writes the document bytes and the materialised
//! index rows in one SQLite transaction. Lists and reports read the index, not the documents.
//!
//! By concern: `open` (the connection, its key, pragmas, the schema upgrade), `identity` (who
//! the store acts as), `documents` (reading and writing document bytes), `checks` (what a
//! write must pass), `actions` (the domain actions), `merge` (bytes from elsewhere, the
//! relay's push validation), `feed` and `sync_state` (what sync reads and keeps), `index`
//! (lists and filters), `schema`; who may do what is decided in [`crate::access`].

mod actions;
mod as_of;
pub mod campaign;
mod checks;
mod doc_cache;
mod documents;
pub mod erase;
mod feed;
mod identity;
mod index;
mod merge;
mod open;
pub mod schema;
mod sync_state;
mod workflow;

use std::sync::Arc;

use automerge::{ActorId, ChangeHash};
use rusqlite::{Connection, OptionalExtension, params};

pub use checks::{looks_like_login, validate_stored_values};
pub use doc_cache::DocCache;
pub use erase::{ErasureOutcome, ErasureRequest, Regenerated};
pub use feed::{FeedRow, StoredAccess, StoredVersion};
pub use identity::Identity;
pub use index::{DisputeFilter, RecordSummary};
pub use merge::{MergeOutcome, PreparedMerge};
pub use open::STORE_KEY_LEN;
pub use sync_state::Acknowledged;

use crate::error::{Error, Result};

/// A source of "now" in milliseconds since the Unix epoch (replaceable in tests).
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(|| chrono::Utc::now().timestamp_millis())
}

/// A write transaction: its own SQLite transaction, or a savepoint inside [`Store::batch`].
struct WriteTx<'c> {
    conn: &'c Connection,
    savepoint: bool,
    done: bool,
}

impl std::ops::Deref for WriteTx<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn
    }
}

impl WriteTx<'_> {
    fn commit(mut self) -> Result<()> {
        self.done = true;
        self.conn.execute_batch(if self.savepoint {
            "RELEASE fl_write"
        } else {
            "COMMIT"
        })?;
        Ok(())
    }
}

impl Drop for WriteTx<'_> {
    fn drop(&mut self) {
        if !self.done {
            let sql = if self.savepoint {
                "ROLLBACK TO fl_write; RELEASE fl_write"
            } else {
                "ROLLBACK"
            };
            let _ = self.conn.execute_batch(sql);
        }
    }
}

/// The local store.
pub struct Store {
    in_batch: std::cell::Cell<bool>,
    conn: Connection,
    actor: ActorId,
    identity: Option<Identity>,
    clock: Clock,
    users: Option<Arc<dyn UserDirectory>>,
    doc_cache: Option<Arc<DocCache>>,
}

/// Who the users are: the relay knows (its accounts); a device does not. With a directory,
/// the store refuses a person field that names no user by login (see [`Store::set_users`]).
pub trait UserDirectory: Send + Sync {
    /// Whether `who` names a user, by login or by display name.
    fn names_user(&self, who: &str) -> Result<bool>;
}

fn heads_to_json(heads: &[ChangeHash]) -> String {
    serde_json::to_string(&heads.iter().map(|h| h.to_string()).collect::<Vec<_>>())
        .unwrap_or_default()
}

/// Parses hex change hashes (each decoded in place, no string or buffer allocated).
pub fn parse_heads<S: AsRef<str>>(hex: &[S]) -> Result<Vec<ChangeHash>> {
    hex.iter()
        .map(|h| {
            let h = h.as_ref();
            let mut bytes = [0u8; 32];
            hex::decode_to_slice(h, &mut bytes)
                .map_err(|_| Error::MalformedSync(format!("bad change hash `{h}`")))?;
            Ok(ChangeHash(bytes))
        })
        .collect()
}

/// Heads as stored: a JSON list of hex hashes (read for every row of a feed page, so the
/// strings are borrowed, not copied).
fn heads_from_json(s: &str) -> Result<Vec<ChangeHash>> {
    let hex_heads: Vec<&str> = serde_json::from_str(s)?;
    parse_heads(&hex_heads)
}

/// Changes kept as incremental chunks before a document is compacted again.
const COMPACT_AFTER: i64 = 32;

impl Store {
    fn write_tx(&self) -> Result<WriteTx<'_>> {
        let savepoint = self.in_batch.get();
        self.conn.execute_batch(if savepoint {
            "SAVEPOINT fl_write"
        } else {
            "BEGIN IMMEDIATE"
        })?;
        Ok(WriteTx {
            conn: &self.conn,
            savepoint,
            done: false,
        })
    }

    /// Runs `read` inside one read transaction: every statement of it sees the same committed
    /// state, and the connection takes the database's read lock once, not once per statement
    /// (a sync round's reads are many small statements). For reads only: a write inside it
    /// fails.
    pub fn read_snapshot<T>(&self, read: impl FnOnce(&Store) -> T) -> Result<T> {
        self.conn.execute_batch("BEGIN DEFERRED")?;
        let out = read(self);
        self.conn.execute_batch("COMMIT")?;
        Ok(out)
    }

    /// Runs `f` as one SQLite transaction (one disk sync), each write inside it a savepoint:
    /// used by sync so a round costs one commit, not one per document.
    /// A batch inside a batch is a savepoint of the outer one: an error rolls back what the
    /// inner one wrote and leaves the outer transaction open (the relay's group commit keeps
    /// one device's failed round out of the others').
    pub fn batch<T>(&mut self, f: impl FnOnce(&mut Store) -> Result<T>) -> Result<T> {
        if self.in_batch.get() {
            self.conn.execute_batch("SAVEPOINT fl_batch")?;
            let r = f(self);
            let end = if r.is_ok() {
                "RELEASE fl_batch"
            } else {
                "ROLLBACK TO fl_batch; RELEASE fl_batch"
            };
            self.conn.execute_batch(end)?;
            return r;
        }
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        self.in_batch.set(true);
        let r = f(self);
        self.in_batch.set(false);
        match r {
            Ok(v) => {
                self.conn.execute_batch("COMMIT")?;
                Ok(v)
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// Replaces the clock (tests, reproducible reports).
    pub fn set_clock(&mut self, clock: Clock) {
        self.clock = clock;
    }

    /// Now, by the store's clock, in milliseconds.
    pub fn now_ms(&self) -> i64 {
        (self.clock)()
    }

    /// The SQLite connection (for the relay's own tables in the same file).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The SQLite connection, mutably: for hooks set on it (the relay's replication over
    /// PostgreSQL watches what each transaction writes).
    pub fn connection_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// Reads a meta value.
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .prepare_cached("SELECT value FROM meta WHERE key=?1")?
            .query_row([key], |r| r.get(0))
            .optional()?)
    }

    /// Writes a meta value.
    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.conn.prepare_cached(
            "INSERT INTO meta(key, value) VALUES(?1, ?2) ON CONFLICT(key) DO UPDATE SET value=excluded.value")?.execute(
            params![key, value],
        )?;
        Ok(())
    }
}
