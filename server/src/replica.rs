//! Several relays over one PostgreSQL database.
//!
//! PostgreSQL holds the deployment's truth: an append-only log of every committed write
//! (`fl_log`: one entry per SQLite transaction of any relay, numbered densely from 1) and
//! snapshots of a whole relay database (`fl_snapshots`, written by `admin migrate`). Each relay
//! process keeps a local SQLite copy of the deployment, its *cache*, at a log position: every
//! read — sync feed pages, wants, checks, reports, the dashboard, accounts — runs on that copy
//! with the same code as the embedded default, and every write is a log entry first:
//!
//! - A write takes the deployment's write turn (a PostgreSQL session advisory lock, so one
//!   relay writes at a time, as one SQLite file has one writer), applies the entries other
//!   relays appended since (the copy is then at the head), and runs on the copy. Temporary
//!   triggers on the copy's writing connections record each row the transaction inserts,
//!   updates or deletes (savepoints rolled back drop theirs); when SQLite commits, the commit
//!   hook appends those rows as entry *position + 1*. The local commit goes ahead only once
//!   PostgreSQL has the entry; if PostgreSQL refuses it (the position is taken, the server is
//!   down), the local transaction is rolled back and the caller gets an error — the copy never
//!   holds a write the log lacks.
//! - Entries are row images (table, rowid, column values), applied on the other copies as
//!   they are: every copy at position *n* holds the same rows, so the feed positions a device
//!   is given (`documents.seq`) mean the same on every relay, and a device may sync with a
//!   different relay each round. An entry *n + 1* can only be appended by a relay at position
//!   *n*, so the log has no gaps and a reader paging it by position never skips a committed
//!   entry, whatever order concurrent transactions commit in.
//! - A background thread follows the log; sync rounds and dashboard pages catch up first, so a
//!   device that pushed through one relay finds its write on the next.
//!
//! The cache is disposable: a relay started on an empty or foreign cache file rebuilds it from
//! the newest snapshot and the log after it.

use std::cell::Cell;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use postgres::{Client, NoTls};
use rusqlite::functions::FunctionFlags;
use rusqlite::trace::{TraceEvent, TraceEventCodes};
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{Connection, OptionalExtension, params_from_iter};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Version of the PostgreSQL schema this build writes.
pub const PG_SCHEMA_VERSION: i32 = 2;

/// Version 1: the deployment, the write log and database snapshots.
const PG_V1: &str = "
CREATE TABLE fl_deployment (
    id text PRIMARY KEY,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE fl_log (
    seq bigint PRIMARY KEY,
    relay text NOT NULL,
    entry bytea NOT NULL,
    written_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE fl_snapshots (
    id bigserial PRIMARY KEY,
    position bigint NOT NULL,
    size bigint NOT NULL,
    sha256 text NOT NULL,
    chunk_bytes integer NOT NULL,
    complete boolean NOT NULL DEFAULT false,
    source text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE fl_snapshot_chunks (
    snapshot bigint NOT NULL REFERENCES fl_snapshots(id) ON DELETE CASCADE,
    n integer NOT NULL,
    bytes bytea NOT NULL,
    PRIMARY KEY (snapshot, n)
);
";

/// Version 2: the compaction floor — log entries up to it are gone, the snapshot at it
/// stands for them.
const PG_V2: &str = "
CREATE TABLE fl_compaction (
    id integer PRIMARY KEY CHECK (id = 1),
    floor bigint NOT NULL
);
INSERT INTO fl_compaction(id, floor) VALUES (1, 0);
";

/// Advisory lock key of schema upgrades.
const SCHEMA_LOCK: i64 = 0x666c_0001;
/// Advisory lock key of the deployment's write turn.
const WRITE_LOCK: i64 = 0x666c_0002;
/// Log entries read per query while catching up.
const CATCH_UP_PAGE: i64 = 256;
/// How often the follower thread checks whether the log is due for compaction.
const COMPACT_CHECK_EVERY: Duration = Duration::from_secs(1);
/// Default entries after the floor that make a relay compact the log.
pub const DEFAULT_COMPACT_AFTER: u64 = 100_000;
/// How often the follower thread looks for entries of other relays.
const FOLLOW_EVERY: Duration = Duration::from_millis(100);
/// The position a copy at the head of the log has: the newest entry, or the compaction floor
/// when none follows it.
pub const LOG_HEAD_SQL: &str = "SELECT GREATEST(COALESCE((SELECT MAX(seq) FROM fl_log), 0),
                                (SELECT floor FROM fl_compaction))";
/// Bytes of one snapshot chunk.
pub const DEFAULT_CHUNK_BYTES: usize = 4 * 1024 * 1024;

/// What can go wrong replicating over PostgreSQL.
#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    /// PostgreSQL failed or is unreachable.
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] postgres::Error),
    /// The local copy failed.
    #[error("relay cache database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A file of the local copy could not be read or written.
    #[error("relay cache file: {0}")]
    Io(#[from] std::io::Error),
    /// The database holds something this build cannot use.
    #[error("{0}")]
    Invalid(String),
}

/// Result of replication.
pub type Result<T> = std::result::Result<T, ReplicaError>;

/// Whether `db` (the `--db` value) names a PostgreSQL database rather than a file.
pub fn is_postgres_url(db: &str) -> bool {
    db.starts_with("postgres://") || db.starts_with("postgresql://")
}

/// One column value of a row image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum ColumnValue {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

impl ColumnValue {
    fn of(value: ValueRef<'_>) -> ColumnValue {
        match value {
            ValueRef::Null => ColumnValue::Null,
            ValueRef::Integer(i) => ColumnValue::Integer(i),
            ValueRef::Real(f) => ColumnValue::Real(f),
            ValueRef::Text(t) => ColumnValue::Text(String::from_utf8_lossy(t).into_owned()),
            ValueRef::Blob(b) => ColumnValue::Blob(b.to_vec()),
        }
    }

    fn into_sql(self) -> SqlValue {
        match self {
            ColumnValue::Null => SqlValue::Null,
            ColumnValue::Integer(i) => SqlValue::Integer(i),
            ColumnValue::Real(f) => SqlValue::Real(f),
            ColumnValue::Text(t) => SqlValue::Text(t),
            ColumnValue::Blob(b) => SqlValue::Blob(b),
        }
    }
}

/// One row a transaction wrote, as the other copies apply it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum RowChange {
    /// A row inserted (or replaced): every column.
    Put {
        table: String,
        rowid: i64,
        values: Vec<ColumnValue>,
    },
    /// Columns of a row updated: (column index, new value).
    Set {
        table: String,
        rowid: i64,
        columns: Vec<(u16, ColumnValue)>,
    },
    /// A row deleted.
    Delete { table: String, rowid: i64 },
}

/// A log entry: the rows of one committed transaction, in the order written.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Entry {
    changes: Vec<RowChange>,
}

/// A replicated table of the local copy: its columns (the rowid alias, if any, left out).
#[derive(Debug, Clone)]
struct TableInfo {
    name: String,
    columns: Vec<String>,
}

/// What one writing connection's open transaction has written so far.
#[derive(Debug, Default)]
struct Capture {
    changes: Vec<RowChange>,
    /// Open savepoints: name and how many changes were written before it.
    savepoints: Vec<(String, usize)>,
    /// Why the last commit was refused.
    refused: Option<String>,
}

impl Capture {
    /// Follows a savepoint statement: `SAVEPOINT x`, `RELEASE [SAVEPOINT] x`,
    /// `ROLLBACK [TRANSACTION] TO [SAVEPOINT] x`.
    fn on_statement(&mut self, sql: &str) {
        let words: Vec<String> = sql
            .split(|c: char| c.is_whitespace() || c == ';')
            .filter(|w| !w.is_empty())
            .take(5)
            .map(|w| w.trim_matches('"').to_ascii_lowercase())
            .collect();
        let word = |i: usize| words.get(i).map(String::as_str);
        match word(0) {
            Some("savepoint") => {
                if let Some(name) = word(1) {
                    self.savepoints.push((name.to_owned(), self.changes.len()));
                }
            }
            Some("release") => {
                let name = if word(1) == Some("savepoint") {
                    word(2)
                } else {
                    word(1)
                };
                if let Some(at) = name.and_then(|n| self.savepoint_index(n)) {
                    self.savepoints.truncate(at);
                }
            }
            Some("rollback") => {
                let mut i = 1;
                if word(i) == Some("transaction") {
                    i += 1;
                }
                if word(i) != Some("to") {
                    return; // a whole rollback: the rollback hook clears everything
                }
                i += 1;
                if word(i) == Some("savepoint") {
                    i += 1;
                }
                if let Some(at) = word(i).and_then(|n| self.savepoint_index(n)) {
                    let kept = self.savepoints[at].1;
                    self.changes.truncate(kept);
                    self.savepoints.truncate(at + 1);
                }
            }
            _ => {}
        }
    }

    fn savepoint_index(&self, name: &str) -> Option<usize> {
        self.savepoints.iter().rposition(|(n, _)| n == name)
    }

    fn clear(&mut self) {
        self.changes.clear();
        self.savepoints.clear();
    }
}

thread_local! {
    /// How deeply the current thread is inside [`Replica::write`].
    static WRITE_DEPTH: Cell<u32> = const { Cell::new(0) };
}

/// The PostgreSQL side: a connection, made again when it broke.
struct Postgres {
    url: String,
    client: Option<Client>,
}

impl Postgres {
    fn client(&mut self) -> Result<&mut Client> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.client = Some(connect(&self.url)?);
        }
        Ok(self.client.as_mut().expect("connected just now"))
    }

    /// Runs `f` on the connection; a connection that broke is dropped for the next call.
    fn with<T>(&mut self, f: impl FnOnce(&mut Client) -> Result<T>) -> Result<T> {
        let client = self.client()?;
        let out = f(client);
        if self.client.as_ref().is_some_and(Client::is_closed) {
            self.client = None;
        }
        out
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // The blocking client closes through a runtime of its own, which cannot start on a
        // thread that drives an async runtime (where a relay's state may be dropped): there it
        // is closed on a thread of its own.
        let Some(client) = self.client.take() else {
            return;
        };
        if tokio::runtime::Handle::try_current().is_ok() {
            let _ = std::thread::spawn(move || drop(client)).join();
        }
    }
}

fn connect(url: &str) -> Result<Client> {
    let mut config: postgres::Config = url
        .parse()
        .map_err(|e| ReplicaError::Invalid(format!("PostgreSQL URL {url:?}: {e}")))?;
    config.connect_timeout(Duration::from_secs(10));
    config.application_name("fieldledger");
    Ok(config.connect(NoTls)?)
}

/// The readers' side of the PostgreSQL connection (see [`Shared::head`]).
struct Reads {
    pg: Postgres,
    /// The newest head of the log read on `pg`, and when that read began: a request that
    /// began before it takes it instead of asking PostgreSQL again (many requests at once
    /// ask once).
    newest_head: Option<(Instant, u64)>,
}

struct Shared {
    /// Name this relay writes into the log (host and process).
    relay: String,
    deployment: String,
    /// The writers' connection: the write turn (a session advisory lock) and the appends.
    pg: Mutex<Postgres>,
    /// The readers' connection: the log's head and floor, and the entries to apply, read
    /// while a writer of this relay waits on `pg` for the turn another relay holds.
    reads: Mutex<Reads>,
    /// The local copy's log position (last entry applied or appended).
    position: AtomicU64,
    /// One writer of this process at a time takes the deployment's write turn (the advisory
    /// lock is the connection's: two threads on it would both hold it).
    writers: Mutex<()>,
    /// One change of the local copy at a time (a write of this relay, or entries applied):
    /// taken only once the write turn is held, so catching up never waits for another
    /// relay's write.
    turn: Mutex<()>,
    /// The connection entries of other relays are applied on.
    applier: Mutex<Connection>,
    tables: Vec<TableInfo>,
    stopped: AtomicBool,
}

/// A relay's local copy of a deployment kept in PostgreSQL (see the module documentation).
#[derive(Clone)]
pub struct Replica {
    shared: Arc<Shared>,
    cache: PathBuf,
}

impl fmt::Debug for Replica {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Replica")
            .field("cache", &self.cache)
            .field("position", &self.position())
            .finish_non_exhaustive()
    }
}

/// Creates or upgrades the PostgreSQL schema; returns the deployment id.
fn upgrade_schema(client: &mut Client) -> Result<String> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS fl_schema (version integer NOT NULL)")?;
    let found: Option<i32> = tx
        .query_opt("SELECT version FROM fl_schema", &[])?
        .map(|r| r.get(0));
    let from = found.unwrap_or(0);
    if from > PG_SCHEMA_VERSION {
        return Err(ReplicaError::Invalid(format!(
            "PostgreSQL schema version {from} is newer than this relay supports \
             ({PG_SCHEMA_VERSION}); upgrade fieldledger"
        )));
    }
    if from < 1 {
        tx.batch_execute(PG_V1)?;
        tx.execute(
            "INSERT INTO fl_deployment(id) VALUES ($1)",
            &[&uuid::Uuid::new_v4().to_string()],
        )?;
    }
    if from < 2 {
        tx.batch_execute(PG_V2)?;
    }
    if found.is_none() {
        tx.execute(
            "INSERT INTO fl_schema(version) VALUES ($1)",
            &[&PG_SCHEMA_VERSION],
        )?;
    } else if from < PG_SCHEMA_VERSION {
        tx.execute("UPDATE fl_schema SET version = $1", &[&PG_SCHEMA_VERSION])?;
    }
    let deployment: String = tx.query_one("SELECT id FROM fl_deployment", &[])?.get(0);
    tx.commit()?;
    Ok(deployment)
}

/// The local bookkeeping table of a copy.
const LOCAL_TABLE: &str = "CREATE TABLE IF NOT EXISTS fl_replica (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    deployment TEXT NOT NULL,
    pos INTEGER NOT NULL
)";

fn local_position(conn: &Connection) -> Result<Option<(String, u64)>> {
    let has: bool = conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE type='table' AND name='fl_replica')",
        [],
        |r| r.get(0),
    )?;
    if !has {
        return Ok(None);
    }
    Ok(conn
        .query_row(
            "SELECT deployment, pos FROM fl_replica WHERE id = 1",
            [],
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64)),
        )
        .optional()?)
}

/// The log position of a copy that has its bookkeeping table.
fn copy_position(conn: &Connection) -> Result<u64> {
    local_position(conn)?
        .map(|(_, position)| position)
        .ok_or_else(|| ReplicaError::Invalid("the relay cache lost its position".into()))
}

fn remove_database_files(path: &Path) -> Result<()> {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        match std::fs::remove_file(PathBuf::from(name)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Downloads the newest complete snapshot into `path`: its log position, or none if there is
/// no snapshot.
fn restore_snapshot(client: &mut Client, path: &Path) -> Result<Option<u64>> {
    let Some(row) = client.query_opt(
        "SELECT id, size, sha256, position FROM fl_snapshots WHERE complete
         ORDER BY position DESC, id DESC LIMIT 1",
        &[],
    )?
    else {
        return Ok(None);
    };
    let (id, size, sha, position): (i64, i64, String, i64) =
        (row.get(0), row.get(1), row.get(2), row.get(3));
    let mut bytes = Vec::with_capacity(size.max(0) as usize);
    let mut n = 0i32;
    loop {
        let Some(chunk) = client.query_opt(
            "SELECT bytes FROM fl_snapshot_chunks WHERE snapshot = $1 AND n = $2",
            &[&id, &n],
        )?
        else {
            break;
        };
        bytes.extend_from_slice(chunk.get::<_, &[u8]>(0));
        n += 1;
    }
    if hex::encode(Sha256::digest(&bytes)) != sha || bytes.len() as i64 != size {
        return Err(ReplicaError::Invalid(format!(
            "snapshot {id} in PostgreSQL is damaged (size or checksum differs)"
        )));
    }
    std::fs::write(path, &bytes)?;
    Ok(Some(position as u64))
}

/// Uploads the database file at `path` as a snapshot at log position `position` in chunks of
/// `chunk_bytes`, continuing an incomplete upload of the same bytes; returns the snapshot's id
/// and the chunks (uploaded now, uploaded before), or none if stopped after `stop_after`.
fn upload_snapshot(
    client: &mut Client,
    path: &Path,
    position: u64,
    source: &str,
    chunk_bytes: usize,
    stop_after: Option<u32>,
) -> Result<(i64, u32, u32, bool)> {
    let bytes = std::fs::read(path)?;
    let sha = hex::encode(Sha256::digest(&bytes));
    let chunk_bytes = chunk_bytes.max(1);
    // An interrupted upload of the same copy is continued; others are dropped.
    client.execute(
        "DELETE FROM fl_snapshots WHERE NOT complete AND (sha256 <> $1 OR chunk_bytes <> $2)",
        &[&sha, &(chunk_bytes as i32)],
    )?;
    let snapshot: i64 = match client.query_opt(
        "SELECT id FROM fl_snapshots WHERE NOT complete AND sha256 = $1",
        &[&sha],
    )? {
        Some(row) => row.get(0),
        None => client
            .query_one(
                "INSERT INTO fl_snapshots(position, size, sha256, chunk_bytes, source)
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
                &[
                    &(position as i64),
                    &(bytes.len() as i64),
                    &sha,
                    &(chunk_bytes as i32),
                    &source,
                ],
            )?
            .get(0),
    };
    let have: i64 = client
        .query_one(
            "SELECT COUNT(*) FROM fl_snapshot_chunks WHERE snapshot = $1",
            &[&snapshot],
        )?
        .get(0);
    let resumed = have as u32;
    let mut uploaded = 0u32;
    for (n, chunk) in bytes.chunks(chunk_bytes).enumerate().skip(resumed as usize) {
        if stop_after.is_some_and(|stop| uploaded >= stop) {
            return Ok((snapshot, uploaded, resumed, false));
        }
        client.execute(
            "INSERT INTO fl_snapshot_chunks(snapshot, n, bytes) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
            &[&snapshot, &(n as i32), &chunk],
        )?;
        uploaded += 1;
    }
    client.execute(
        "UPDATE fl_snapshots SET complete = true WHERE id = $1",
        &[&snapshot],
    )?;
    Ok((snapshot, uploaded, resumed, true))
}

/// The tables a copy replicates: every table but SQLite's own and the bookkeeping.
fn replicated_tables(conn: &Connection) -> Result<Vec<TableInfo>> {
    let names: Vec<String> = conn
        .prepare(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'
             AND name <> 'fl_replica' ORDER BY name",
        )?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut tables = Vec::with_capacity(names.len());
    for name in names {
        // (name, type, pk position) of each column.
        let cols: Vec<(String, String, i64)> = conn
            .prepare(&format!("PRAGMA table_info(\"{name}\")"))?
            .query_map([], |r| Ok((r.get(1)?, r.get(2)?, r.get(5)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let single_pk = cols.iter().filter(|c| c.2 > 0).count() == 1;
        let columns = cols
            .into_iter()
            .filter(|(_, ty, pk)| !(single_pk && *pk == 1 && ty.eq_ignore_ascii_case("INTEGER")))
            .map(|(n, _, _)| n)
            .collect();
        tables.push(TableInfo { name, columns });
    }
    Ok(tables)
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The temporary triggers that record what a connection writes to `table`.
fn capture_triggers(table: &TableInfo) -> String {
    let t = quoted(&table.name);
    let lit = format!("'{}'", table.name.replace('\'', "''"));
    let new: Vec<String> = table
        .columns
        .iter()
        .map(|c| format!("NEW.{}", quoted(c)))
        .collect();
    let old_new: Vec<String> = table
        .columns
        .iter()
        .map(|c| format!("OLD.{0}, NEW.{0}", quoted(c)))
        .collect();
    let position = "UPDATE main.fl_replica SET pos = fl_next_position() WHERE id = 1;";
    let base = table
        .name
        .replace(|c: char| !c.is_ascii_alphanumeric(), "_");
    let mut sql = format!(
        "CREATE TEMP TRIGGER IF NOT EXISTS fl_put_{base} AFTER INSERT ON main.{t} BEGIN
           SELECT fl_capture({lit}, 0, NEW.rowid, NEW.rowid{}{}); {position} END;
         CREATE TEMP TRIGGER IF NOT EXISTS fl_del_{base} AFTER DELETE ON main.{t} BEGIN
           SELECT fl_capture({lit}, 2, OLD.rowid, OLD.rowid); {position} END;",
        if new.is_empty() { "" } else { ", " },
        new.join(", ")
    );
    sql.push_str(&format!(
        "CREATE TEMP TRIGGER IF NOT EXISTS fl_set_{base} AFTER UPDATE ON main.{t} BEGIN
           SELECT fl_capture({lit}, 1, OLD.rowid, NEW.rowid{}{}); {position} END;",
        if old_new.is_empty() { "" } else { ", " },
        old_new.join(", ")
    ));
    sql
}

/// Reads the arguments of one `fl_capture` call into the changes it stands for.
fn captured(ctx: &rusqlite::functions::Context<'_>) -> rusqlite::Result<Vec<RowChange>> {
    let table: String = ctx.get(0)?;
    let op: i64 = ctx.get(1)?;
    let old_rowid: i64 = ctx.get(2)?;
    let rowid: i64 = ctx.get(3)?;
    let args = ctx.len();
    Ok(match op {
        0 => vec![RowChange::Put {
            table,
            rowid,
            values: (4..args).map(|i| ColumnValue::of(ctx.get_raw(i))).collect(),
        }],
        2 => vec![RowChange::Delete {
            table,
            rowid: old_rowid,
        }],
        _ => {
            let pairs = (4..args).step_by(2).map(|i| {
                (
                    ColumnValue::of(ctx.get_raw(i)),
                    ColumnValue::of(ctx.get_raw(i + 1)),
                )
            });
            if old_rowid != rowid {
                vec![
                    RowChange::Delete {
                        table: table.clone(),
                        rowid: old_rowid,
                    },
                    RowChange::Put {
                        table,
                        rowid,
                        values: pairs.map(|(_, new)| new).collect(),
                    },
                ]
            } else {
                let columns: Vec<(u16, ColumnValue)> = pairs
                    .enumerate()
                    .filter(|(_, (old, new))| old != new)
                    .map(|(i, (_, new))| (i as u16, new))
                    .collect();
                if columns.is_empty() {
                    Vec::new()
                } else {
                    vec![RowChange::Set {
                        table,
                        rowid,
                        columns,
                    }]
                }
            }
        }
    })
}

impl Replica {
    /// Connects to the deployment at `url` (creating or upgrading its schema), brings the
    /// local copy at `cache` to the head of the log — rebuilt from the newest snapshot when
    /// the file is missing or belongs to another deployment — and returns it. `prepare` creates
    /// the relay's tables in a new, empty copy (the schema every relay of one build creates
    /// alike).
    pub fn open(
        url: &str,
        cache: &Path,
        prepare: impl FnOnce(&Path) -> std::result::Result<(), String>,
    ) -> Result<Replica> {
        let mut pg = Postgres {
            url: url.to_owned(),
            client: None,
        };
        let deployment = pg.with(upgrade_schema)?;
        let known = if cache.exists() {
            let conn = Connection::open(cache)?;
            local_position(&conn)?
        } else {
            None
        };
        if known.as_ref().is_none_or(|(d, _)| *d != deployment) {
            remove_database_files(cache)?;
            if let Some(dir) = cache.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            // No snapshot: an empty copy, whose tables `prepare` creates below.
            pg.with(|c| restore_snapshot(c, cache))?;
            let conn = Connection::open(cache)?;
            conn.execute_batch(LOCAL_TABLE)?;
            conn.execute(
                "INSERT INTO fl_replica(id, deployment, pos) VALUES (1, ?1, 0)
                 ON CONFLICT(id) DO UPDATE SET deployment = excluded.deployment",
                [&deployment],
            )?;
        }
        // The tables the relay's code creates (a new copy) or upgrades (a snapshot or copy of
        // an older build) on open.
        prepare(cache).map_err(ReplicaError::Invalid)?;
        let applier = Connection::open(cache)?;
        applier.busy_timeout(Duration::from_secs(30))?;
        // Rows other relays' erasures replace leave no old bytes in freed space either.
        applier.pragma_update(None, "secure_delete", "ON")?;
        // Rows are applied as the writer left them: no cascades, no checks of their order
        // (SQLite as bundled enforces foreign keys by default; a replace would cascade).
        applier.pragma_update(None, "foreign_keys", "OFF")?;
        applier.execute_batch(LOCAL_TABLE)?;
        let position = copy_position(&applier)?;
        let tables = replicated_tables(&applier)?;
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "relay".into());
        let replica = Replica {
            shared: Arc::new(Shared {
                relay: format!("{host}:{}", std::process::id()),
                deployment,
                pg: Mutex::new(pg),
                reads: Mutex::new(Reads {
                    pg: Postgres {
                        url: url.to_owned(),
                        client: None,
                    },
                    newest_head: None,
                }),
                position: AtomicU64::new(position),
                writers: Mutex::new(()),
                turn: Mutex::new(()),
                applier: Mutex::new(applier),
                tables,
                stopped: AtomicBool::new(false),
            }),
            cache: cache.to_owned(),
        };
        replica.catch_up()?;
        Ok(replica)
    }

    /// The local copy's file.
    pub fn cache_path(&self) -> &Path {
        &self.cache
    }

    /// The deployment's id (PostgreSQL's `fl_deployment`).
    pub fn deployment(&self) -> &str {
        &self.shared.deployment
    }

    /// The local copy's log position.
    pub fn position(&self) -> u64 {
        self.shared.position.load(Ordering::Acquire)
    }

    /// Makes every write `conn` commits a log entry first (see the module documentation).
    /// `conn` must be a connection to the local copy.
    pub fn instrument(&self, conn: &mut Connection) -> Result<()> {
        let capture = Arc::new(Mutex::new(Capture::default()));
        {
            let capture = Arc::clone(&capture);
            conn.create_scalar_function(
                "fl_capture",
                -1,
                FunctionFlags::SQLITE_UTF8,
                move |ctx| {
                    let changes = captured(ctx)?;
                    capture
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .changes
                        .extend(changes);
                    Ok(SqlValue::Null)
                },
            )?;
        }
        {
            let shared = Arc::clone(&self.shared);
            conn.create_scalar_function(
                "fl_next_position",
                0,
                FunctionFlags::SQLITE_UTF8,
                move |_| Ok(shared.position.load(Ordering::Acquire) as i64 + 1),
            )?;
        }
        {
            let capture = Arc::clone(&capture);
            conn.trace_v2(
                TraceEventCodes::SQLITE_TRACE_STMT,
                Some(move |event: TraceEvent<'_>| {
                    if let TraceEvent::Stmt(_, sql) = event {
                        let head = sql.trim_start();
                        if head.len() >= 7
                            && matches!(
                                head[..7].to_ascii_lowercase().as_str(),
                                "savepoi" | "release" | "rollbac"
                            )
                        {
                            capture
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner)
                                .on_statement(head);
                        }
                    }
                }),
            )?;
        }
        {
            let capture = Arc::clone(&capture);
            conn.rollback_hook(Some(move || {
                capture
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clear();
            }))?;
        }
        {
            let capture = Arc::clone(&capture);
            let shared = Arc::clone(&self.shared);
            conn.commit_hook(Some(move || {
                let mut capture = capture.lock().unwrap_or_else(PoisonError::into_inner);
                let changes = std::mem::take(&mut capture.changes);
                capture.savepoints.clear();
                if changes.is_empty() {
                    return false;
                }
                match shared.append(Entry { changes }) {
                    Ok(()) => false,
                    Err(e) => {
                        tracing::warn!(error = %e, "a write was not logged; rolled back");
                        capture.refused = Some(e.to_string());
                        true
                    }
                }
            }))?;
        }
        let mut sql = String::new();
        for table in &self.shared.tables {
            sql.push_str(&capture_triggers(table));
        }
        conn.execute_batch(&sql)?;
        Ok(())
    }

    /// Runs `f` — which writes through instrumented connections — holding the deployment's
    /// write turn, on a copy brought to the head of the log first. Nested calls on one thread
    /// share the outer call's turn.
    pub fn write<T>(&self, f: impl FnOnce() -> T) -> Result<T> {
        if WRITE_DEPTH.with(Cell::get) > 0 {
            return Ok(f());
        }
        let _writer = self
            .shared
            .writers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // The deployment's turn first, then the copy: while another relay writes, this relay's
        // readers catch up with what is already logged instead of waiting here too.
        self.shared.pg_lock()?;
        let turn = self
            .shared
            .turn
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        /// Gives the turn back however `f` ends.
        struct Leave<'a>(&'a Shared);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                WRITE_DEPTH.with(|d| d.set(d.get() - 1));
                if let Err(e) = self.0.pg_unlock() {
                    tracing::warn!(error = %e, "releasing the write turn");
                }
            }
        }
        WRITE_DEPTH.with(|d| d.set(d.get() + 1));
        let leave = Leave(&self.shared);
        self.shared.apply_pending()?;
        let out = f();
        // The copy first (its readers go on), then the deployment's turn.
        drop(turn);
        drop(leave);
        Ok(out)
    }

    /// Applies the entries other relays appended since this copy's position.
    pub fn catch_up(&self) -> Result<()> {
        let head = self.shared.head()?;
        if head <= self.position() {
            return Ok(());
        }
        if WRITE_DEPTH.with(Cell::get) > 0 {
            return self.shared.apply_pending();
        }
        let _turn = self
            .shared
            .turn
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.shared.apply_pending()
    }

    /// Follows the log on a thread of its own until [`Replica::stop`]: entries of other relays
    /// reach this copy within about [`FOLLOW_EVERY`].
    /// Also compacts the log once more than `compact_after` entries follow the floor
    /// (`None`: only after erasures and on request), checked every [`COMPACT_CHECK_EVERY`].
    pub fn follow(&self, compact_after: Option<u64>) {
        let replica = self.clone();
        std::thread::Builder::new()
            .name("fieldledger-follow".into())
            .spawn(move || {
                let mut last_check = std::time::Instant::now();
                while !replica.shared.stopped.load(Ordering::Acquire) {
                    if let Err(e) = replica.catch_up() {
                        tracing::warn!(error = %e, "following the log");
                        std::thread::sleep(Duration::from_secs(1));
                    }
                    if let Some(limit) = compact_after {
                        if last_check.elapsed() >= COMPACT_CHECK_EVERY {
                            last_check = std::time::Instant::now();
                            if let Err(e) = replica.compact_if_longer_than(limit) {
                                tracing::warn!(error = %e, "compacting the log");
                            }
                        }
                    }
                    std::thread::sleep(FOLLOW_EVERY);
                }
            })
            .expect("starting the log follower");
    }

    /// Compacts when more than `limit` entries follow the floor; several relays checking at
    /// once take the turn one after the other, and the later ones find a short log.
    fn compact_if_longer_than(&self, limit: u64) -> Result<Option<Compacted>> {
        if self.shared.head()?.saturating_sub(self.shared.floor()?) <= limit {
            return Ok(None);
        }
        self.write(|| {
            if self.shared.head()?.saturating_sub(self.shared.floor()?) <= limit {
                return Ok(None);
            }
            let done = self.shared.compact()?;
            tracing::info!(
                position = done.position,
                entries = done.entries_removed,
                bytes = done.snapshot_bytes,
                "write log compacted"
            );
            Ok(Some(done))
        })?
    }

    /// Compacts the deployment's log into a snapshot of this copy (see [`Compacted`]): done
    /// after every personal-data erasure, so the erased values leave PostgreSQL too. Holds the
    /// write turn; copies behind it take the snapshot's rows when they next catch up.
    pub fn compact(&self) -> Result<Compacted> {
        self.write(|| self.shared.compact())?
    }

    /// Stops the follower thread.
    pub fn stop(&self) {
        self.shared.stopped.store(true, Ordering::Release);
    }
}

impl Shared {
    fn pg<T>(&self, f: impl FnOnce(&mut Client) -> Result<T>) -> Result<T> {
        self.pg
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .with(f)
    }

    /// Runs `f` on the readers' connection (never held by a writer waiting for the turn).
    fn read_pg<T>(&self, f: impl FnOnce(&mut Client) -> Result<T>) -> Result<T> {
        self.reads
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pg
            .with(f)
    }

    fn pg_lock(&self) -> Result<()> {
        self.pg(|c| {
            c.execute("SELECT pg_advisory_lock($1)", &[&WRITE_LOCK])?;
            Ok(())
        })
    }

    fn pg_unlock(&self) -> Result<()> {
        self.pg(|c| {
            c.execute("SELECT pg_advisory_unlock($1)", &[&WRITE_LOCK])?;
            Ok(())
        })
    }

    /// The newest entry in the log.
    fn head(&self) -> Result<u64> {
        let asked = Instant::now();
        let mut reads = self.reads.lock().unwrap_or_else(PoisonError::into_inner);
        // A read that began after this request did saw every entry committed before it.
        if let Some((_, head)) = reads.newest_head.filter(|(began, _)| *began >= asked) {
            return Ok(head);
        }
        let began = Instant::now();
        let head = reads.pg.with(|c| {
            let head: i64 = c.query_one(LOG_HEAD_SQL, &[])?.get(0);
            Ok(head as u64)
        })?;
        reads.newest_head = Some((began, head));
        Ok(head)
    }

    /// Appends `entry` at the copy's next position (called while SQLite commits).
    fn append(&self, entry: Entry) -> Result<()> {
        let seq = self.position.load(Ordering::Acquire) + 1;
        let bytes = postcard::to_allocvec(&entry)
            .map_err(|e| ReplicaError::Invalid(format!("encoding a log entry: {e}")))?;
        let written = self.pg(|c| {
            Ok(c.execute(
                "INSERT INTO fl_log(seq, relay, entry)
                 SELECT $1, $2, $3 WHERE $1 > (SELECT floor FROM fl_compaction FOR SHARE)
                 ON CONFLICT (seq) DO NOTHING",
                &[&(seq as i64), &self.relay, &bytes],
            )?)
        })?;
        if written != 1 {
            return Err(ReplicaError::Invalid(format!(
                "another relay wrote log entry {seq} first; try again"
            )));
        }
        self.position.store(seq, Ordering::Release);
        Ok(())
    }

    /// Applies every entry after the copy's position (the caller holds the turn).
    fn apply_pending(&self) -> Result<()> {
        let mut conn = self.applier.lock().unwrap_or_else(PoisonError::into_inner);
        // The position on disk is the truth: a local commit that failed after its entry was
        // logged is applied from the log like another relay's.
        let mut position = copy_position(&conn)?;
        'pages: loop {
            let floor = self.floor()?;
            if position < floor {
                // Entries this copy lacks were compacted into a snapshot: take its rows.
                position = self.restore_live(&mut conn)?;
                continue;
            }
            let rows = self.read_pg(|c| {
                Ok(c.query(
                    "SELECT seq, entry FROM fl_log WHERE seq > $1 ORDER BY seq LIMIT $2",
                    &[&(position as i64), &CATCH_UP_PAGE],
                )?)
            })?;
            if rows.is_empty() {
                break;
            }
            for row in rows {
                let seq = row.get::<_, i64>(0) as u64;
                if seq != position + 1 {
                    if self.floor()? > position {
                        continue 'pages; // compacted meanwhile
                    }
                    return Err(ReplicaError::Invalid(format!(
                        "log entry {} missing after {position}",
                        position + 1
                    )));
                }
                let entry: Entry = postcard::from_bytes(row.get::<_, &[u8]>(1))
                    .map_err(|e| ReplicaError::Invalid(format!("log entry {seq}: {e}")))?;
                self.apply(&mut conn, seq, entry)?;
                position = seq;
            }
        }
        self.position.store(position, Ordering::Release);
        Ok(())
    }

    /// The compaction floor: entries up to it are in the snapshot at it, not in the log.
    fn floor(&self) -> Result<u64> {
        self.read_pg(|c| {
            let floor: i64 = c.query_one("SELECT floor FROM fl_compaction", &[])?.get(0);
            Ok(floor as u64)
        })
    }

    /// Replaces every replicated table's rows with the newest snapshot's, in one transaction
    /// (readers see the copy before or after, never between); returns its position.
    fn restore_live(&self, conn: &mut Connection) -> Result<u64> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("snapshot.db");
        let position = self
            .read_pg(|c| restore_snapshot(c, &file))?
            .ok_or_else(|| {
                ReplicaError::Invalid("the log was compacted but has no snapshot".into())
            })?;
        conn.execute("ATTACH DATABASE ?1 AS snap", [file.to_string_lossy()])?;
        let copied = (|| -> Result<()> {
            let tx = conn.transaction()?;
            for table in &self.tables {
                let t = quoted(&table.name);
                let cols: Vec<String> = table.columns.iter().map(|c| quoted(c)).collect();
                let list = if cols.is_empty() {
                    String::new()
                } else {
                    format!(", {}", cols.join(", "))
                };
                tx.execute_batch(&format!(
                    "DELETE FROM main.{t};
                     INSERT INTO main.{t}(rowid{list}) SELECT rowid{list} FROM snap.{t};"
                ))?;
            }
            let has_sequence: bool = tx.query_row(
                "SELECT EXISTS(SELECT 1 FROM snap.sqlite_master WHERE name = 'sqlite_sequence')",
                [],
                |r| r.get(0),
            )?;
            if has_sequence {
                tx.execute_batch(
                    "DELETE FROM main.sqlite_sequence;
                     INSERT INTO main.sqlite_sequence SELECT * FROM snap.sqlite_sequence;",
                )?;
            }
            tx.commit()?;
            Ok(())
        })();
        conn.execute_batch("DETACH DATABASE snap")?;
        copied?;
        // What the snapshot no longer holds (erased values) leaves no copy in this file; the
        // position moves only then (a restore cut short is simply done again).
        conn.execute_batch("VACUUM")?;
        conn.execute(
            "UPDATE main.fl_replica SET pos = ?1 WHERE id = 1",
            [position as i64],
        )?;
        let _busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
        tracing::info!(position, "local copy restored from a compacted snapshot");
        Ok(position)
    }

    /// Compacts the log into a snapshot of this copy (the caller holds the write turn, so the
    /// copy is at the head): uploads the snapshot, raises the floor to its position, deletes
    /// the log entries and older snapshots it stands for, and rewrites their tables so no
    /// deleted row stays in PostgreSQL's files.
    fn compact(&self) -> Result<Compacted> {
        let conn = self.applier.lock().unwrap_or_else(PoisonError::into_inner);
        let position = copy_position(&conn)?;
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("snapshot.db");
        conn.execute("VACUUM INTO ?1", [file.to_string_lossy()])?;
        drop(conn);
        {
            let copy = Connection::open(&file)?;
            copy.execute_batch("PRAGMA journal_mode = DELETE")?;
        }
        let size = std::fs::metadata(&file)?.len();
        let relay = self.relay.clone();
        let (snapshot, _, _, _) =
            self.pg(|c| upload_snapshot(c, &file, position, &relay, DEFAULT_CHUNK_BYTES, None))?;
        let removed = self.pg(|c| {
            let mut tx = c.transaction()?;
            tx.execute(
                "UPDATE fl_compaction SET floor = GREATEST(floor, $1)",
                &[&(position as i64)],
            )?;
            let removed =
                tx.execute("DELETE FROM fl_log WHERE seq <= $1", &[&(position as i64)])?;
            tx.execute("DELETE FROM fl_snapshots WHERE id <> $1", &[&snapshot])?;
            tx.commit()?;
            // Deleted tuples are only marked dead; a full vacuum writes the tables anew (one
            // statement each: VACUUM runs outside a transaction block).
            for table in ["fl_log", "fl_snapshot_chunks", "fl_snapshots"] {
                c.batch_execute(&format!("VACUUM FULL {table}"))?;
            }
            Ok(removed)
        })?;
        Ok(Compacted {
            position,
            entries_removed: removed,
            snapshot_bytes: size,
        })
    }

    fn table(&self, name: &str) -> Result<&TableInfo> {
        self.tables
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| ReplicaError::Invalid(format!("log entry names unknown table {name}")))
    }

    fn apply(&self, conn: &mut Connection, seq: u64, entry: Entry) -> Result<()> {
        // A personal-data erasure ends with its audit line; the relay that made it then
        // rebuilt its file (see `AccountStore::erase_mentions`), and so does every copy, at
        // the same position (the rebuild may renumber rowids, alike on every copy).
        let erasure = entry.changes.iter().any(|c| {
            matches!(c, RowChange::Put { table, values, .. }
                if table == "acct_audit"
                    && values.iter().any(|v| *v == ColumnValue::Text("record.erase".into())))
        });
        let tx = conn.transaction()?;
        for change in entry.changes {
            match change {
                RowChange::Put {
                    table,
                    rowid,
                    values,
                } => {
                    let info = self.table(&table)?;
                    let columns: Vec<String> = info.columns.iter().map(|c| quoted(c)).collect();
                    let sql = format!(
                        "INSERT OR REPLACE INTO {}(rowid{}{}) VALUES (?{})",
                        quoted(&table),
                        if columns.is_empty() { "" } else { ", " },
                        columns.join(", "),
                        ", ?".repeat(values.len())
                    );
                    let args = std::iter::once(SqlValue::Integer(rowid))
                        .chain(values.into_iter().map(ColumnValue::into_sql));
                    tx.prepare_cached(&sql)?.execute(params_from_iter(args))?;
                }
                RowChange::Set {
                    table,
                    rowid,
                    columns,
                } => {
                    let info = self.table(&table)?;
                    let mut sets = Vec::with_capacity(columns.len());
                    let mut args = Vec::with_capacity(columns.len() + 1);
                    for (i, value) in columns {
                        let name = info.columns.get(i as usize).ok_or_else(|| {
                            ReplicaError::Invalid(format!("log entry {seq}: no column {i}"))
                        })?;
                        sets.push(format!("{} = ?", quoted(name)));
                        args.push(value.into_sql());
                    }
                    args.push(SqlValue::Integer(rowid));
                    let sql = format!(
                        "UPDATE {} SET {} WHERE rowid = ?",
                        quoted(&table),
                        sets.join(", ")
                    );
                    tx.prepare_cached(&sql)?.execute(params_from_iter(args))?;
                }
                RowChange::Delete { table, rowid } => {
                    self.table(&table)?;
                    tx.prepare_cached(&format!("DELETE FROM {} WHERE rowid = ?", quoted(&table)))?
                        .execute([rowid])?;
                }
            }
        }
        // An erasure's position is written once the file is rebuilt (an entry applied twice
        // writes the same rows again, so a crash in between costs nothing).
        if !erasure {
            tx.execute("UPDATE fl_replica SET pos = ?1 WHERE id = 1", [seq as i64])?;
        }
        tx.commit()?;
        if erasure {
            conn.execute_batch("VACUUM")?;
            conn.execute("UPDATE fl_replica SET pos = ?1 WHERE id = 1", [seq as i64])?;
            let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
            if busy != 0 {
                tracing::warn!(
                    "after an erasure, the cache's write-ahead log could not be emptied"
                );
            }
        }
        Ok(())
    }
}

/// What a compaction did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compacted {
    /// The log position the snapshot stands at (the new floor).
    pub position: u64,
    /// Log entries deleted.
    pub entries_removed: u64,
    /// Bytes of the snapshot.
    pub snapshot_bytes: u64,
}

/// What `admin migrate` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrated {
    /// Bytes of the database copied.
    pub size: u64,
    /// Chunks uploaded by this run.
    pub uploaded: u32,
    /// Chunks an earlier, interrupted run had uploaded already.
    pub resumed: u32,
    /// Whether the snapshot is complete (false: stopped early on request).
    pub complete: bool,
}

/// Copies the relay database `from` into the deployment at `url` as its starting snapshot,
/// in chunks of `chunk_bytes`; a run interrupted part way is continued by the next. Stops
/// after `stop_after` chunks when given (to test the resumption). Refuses a deployment that
/// already holds writes or a complete snapshot.
pub fn migrate(
    from: &Path,
    url: &str,
    chunk_bytes: usize,
    stop_after: Option<u32>,
) -> Result<Migrated> {
    if !from.exists() {
        return Err(ReplicaError::Invalid(format!(
            "no relay database at {}",
            from.display()
        )));
    }
    let mut client = connect(url)?;
    let deployment = upgrade_schema(&mut client)?;
    let written: i64 = client.query_one("SELECT COUNT(*) FROM fl_log", &[])?.get(0);
    let done: i64 = client
        .query_one("SELECT COUNT(*) FROM fl_snapshots WHERE complete", &[])?
        .get(0);
    if written > 0 || done > 0 {
        return Err(ReplicaError::Invalid(
            "this PostgreSQL database already holds a deployment; migrate into an empty one".into(),
        ));
    }
    // A consistent copy of the database, even while a relay runs on it.
    let dir = tempfile::tempdir()?;
    let copy = dir.path().join("snapshot.db");
    {
        let source = Connection::open_with_flags(from, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        source.execute("VACUUM INTO ?1", [copy.to_string_lossy()])?;
    }
    {
        let conn = Connection::open(&copy)?;
        conn.execute_batch(LOCAL_TABLE)?;
        conn.execute(
            "INSERT OR REPLACE INTO fl_replica(id, deployment, pos) VALUES (1, ?1, 0)",
            [&deployment],
        )?;
        conn.execute_batch("PRAGMA journal_mode = DELETE")?;
    }
    let size = std::fs::metadata(&copy)?.len();
    let (_, uploaded, resumed, complete) = upload_snapshot(
        &mut client,
        &copy,
        0,
        &from.display().to_string(),
        chunk_bytes,
        stop_after,
    )?;
    Ok(Migrated {
        size,
        uploaded,
        resumed,
        complete,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn savepoints_rolled_back_drop_their_rows_and_released_ones_keep_them() {
        let put = |n: i64| RowChange::Delete {
            table: "t".into(),
            rowid: n,
        };
        let mut c = Capture::default();
        c.changes.push(put(1));
        c.on_statement("SAVEPOINT fl_batch");
        c.changes.push(put(2));
        c.on_statement("SAVEPOINT fl_write");
        c.changes.push(put(3));
        c.on_statement("ROLLBACK TO fl_write");
        c.on_statement("RELEASE fl_write");
        assert_eq!(c.changes, vec![put(1), put(2)]);
        c.on_statement("RELEASE SAVEPOINT fl_batch");
        c.on_statement("savepoint \"_rusqlite_sp\"");
        c.changes.push(put(4));
        c.on_statement("ROLLBACK TRANSACTION TO SAVEPOINT _rusqlite_sp");
        assert_eq!(c.changes, vec![put(1), put(2)]);
        assert_eq!(c.savepoints.len(), 1, "a rolled-back savepoint stays open");
    }
}
