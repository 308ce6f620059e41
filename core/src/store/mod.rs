//! `Store`: every record of a device (or of the relay) in one SQLite file.
//!
//! Each write loads the record's document, applies checked edits, checks the kind's rules on
//! the typed record before and after, and then writes the document bytes and the materialised
//! index rows in one SQLite transaction. Lists and reports read the index, not the documents.

mod as_of;
pub mod campaign;
pub mod erase;
mod index;
pub mod schema;
mod workflow;

use std::path::Path;
use std::sync::Arc;

use automerge::{ActorId, ChangeHash};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

pub use erase::{ErasureOutcome, ErasureRequest, Regenerated};
pub use index::{DisputeFilter, RecordSummary};

use crate::access;
use crate::doc::{ChangeNote, Conflict, HistoryEntry, RecordDoc};
use crate::error::{Error, Result};
use crate::model::input::FieldPath;
use crate::model::{
    self, Author, DOCUMENT_SCHEMA_VERSION, Dispute, Edit, FieldSpec, FieldType, FieldValue, Record,
    RecordKind, RecordMeta, Role, check_edit,
};

/// A source of "now" in milliseconds since the Unix epoch (replaceable in tests).
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(|| chrono::Utc::now().timestamp_millis())
}

/// Who this store acts as: the enrolled device and its user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    /// The user and device edits are recorded for.
    pub author: Author,
    /// Short code of the device, unique across the relay; part of case numbers.
    pub device_code: String,
    /// Relay base URL, once enrolled.
    #[serde(default)]
    pub relay_url: Option<String>,
    /// Bearer token for the relay.
    #[serde(default)]
    pub token: Option<String>,
    /// PEM of the certificate authority the relay's HTTPS certificate comes from (the
    /// bureau's own CA), when it is not a public one: every later sync trusts only it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relay_ca_pem: Option<String>,
}

/// What merging remote bytes into a record did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergeOutcome {
    /// Record id.
    pub id: String,
    /// Whether the record is new to this store.
    pub created: bool,
    /// Whether anything changed.
    pub changed: bool,
    /// Heads after the merge (hex).
    pub heads: Vec<String>,
}

/// A merge prepared but not yet written: the relay inspects it before committing.
pub struct PreparedMerge {
    /// Record id.
    pub id: String,
    /// Kind.
    pub kind: RecordKind,
    /// The record before (none if new).
    pub before: Option<Record>,
    /// The record after the merge.
    pub after: Record,
    /// Hex actor ids of the changes the merge adds.
    pub new_actors: Vec<String>,
    /// Change notes of the changes the merge adds.
    pub new_notes: Vec<ChangeNote>,
    /// Hash and dependencies of each added change, in causal order.
    new_changes: Vec<(ChangeHash, Vec<ChangeHash>)>,
    doc: RecordDoc,
    before_heads: Option<Vec<ChangeHash>>,
    changed: bool,
}

impl PreparedMerge {
    /// How many changes the merged bytes depend on that the store does not have (their
    /// changes were queued by Automerge, not applied): the sender must send more.
    pub fn missing_dependencies(&mut self) -> usize {
        self.doc.automerge_mut().get_missing_deps(&[]).len()
    }
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
}

/// Who the users are: the relay knows (its accounts); a device does not. With a directory,
/// the store refuses a person field that names no user by login (see [`Store::set_users`]).
pub trait UserDirectory: Send + Sync {
    /// Whether `who` names a user, by login or by display name.
    fn names_user(&self, who: &str) -> Result<bool>;
}

/// A link between a screening round and a dispute it found: (screening id, dispute id).
type Link = (String, String);

/// Whether a person field's value reads as a login (ASCII letters, digits, `.`, `_`, `-`)
/// rather than a person's name as the form writes it (张三).
pub fn looks_like_login(value: &str) -> bool {
    !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

fn heads_to_json(heads: &[ChangeHash]) -> String {
    serde_json::to_string(&heads.iter().map(|h| h.to_string()).collect::<Vec<_>>())
        .unwrap_or_default()
}

/// Parses hex change hashes.
pub fn parse_heads(hex: &[String]) -> Result<Vec<ChangeHash>> {
    hex.iter()
        .map(|h| {
            h.parse::<ChangeHash>()
                .map_err(|_| Error::MalformedSync(format!("bad change hash `{h}`")))
        })
        .collect()
}

fn heads_from_json(s: &str) -> Result<Vec<ChangeHash>> {
    let v: Vec<String> = serde_json::from_str(s)?;
    parse_heads(&v)
}

/// Length of a store key in bytes (AES-256).
pub const STORE_KEY_LEN: usize = 32;

/// The SQL literal of a raw store key (`"x'…'"`): a raw key skips SQLCipher's passphrase
/// derivation, as the keystore's key is already random.
fn key_literal(key: &[u8]) -> Result<String> {
    if key.len() != STORE_KEY_LEN {
        return Err(Error::invalid(
            "store key",
            format!("must be {STORE_KEY_LEN} bytes, got {}", key.len()),
        ));
    }
    Ok(format!("\"x'{}'\"", hex::encode(key)))
}

/// Opens a SQLite connection (keyed when `key` is given) and reads the schema once, so a
/// wrong key (or a file that is no store) fails here with [`Error::WrongKey`], before
/// anything is written.
fn connect(path: &Path, key: Option<&[u8]>) -> Result<Connection> {
    let key_sql = key.map(key_literal).transpose()?;
    let conn = Connection::open(path)?;
    // SQLCipher would log a failed page check to stderr; the caller gets `WrongKey` instead.
    conn.execute_batch("PRAGMA cipher_log_level = NONE;")?;
    if let Some(k) = key_sql {
        conn.execute_batch(&format!("PRAGMA key = {k};"))?;
    }
    match conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    }) {
        Ok(_) => Ok(conn),
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::NotADatabase =>
        {
            Err(Error::WrongKey)
        }
        Err(e) => Err(e.into()),
    }
}

/// Deletes `path` + each suffix (`""` is the file itself); missing files are fine.
pub(crate) fn remove_files(path: &Path, suffixes: &[&str]) -> Result<()> {
    for suffix in suffixes {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::Io(e)),
        }
    }
    Ok(())
}

/// Changes kept as incremental chunks before a document is compacted again.
const COMPACT_AFTER: i64 = 32;

impl Store {
    /// Opens (or creates) an unencrypted store in a SQLite file (the relay, whose disk the
    /// office protects; devices use [`Store::open_encrypted`]).
    pub fn open(path: impl AsRef<Path>) -> Result<Store> {
        Self::init(connect(path.as_ref(), None)?)
    }

    /// Opens (or creates) a store encrypted at rest with SQLCipher (AES-256, every page and
    /// the write-ahead log). `key` is the raw 32-byte key the app keeps in the platform
    /// keystore. A wrong key gives [`Error::WrongKey`] and writes nothing to the file.
    pub fn open_encrypted(path: impl AsRef<Path>, key: &[u8]) -> Result<Store> {
        Self::init(connect(path.as_ref(), Some(key))?)
    }

    /// Re-encrypts a plaintext store file (written by a build before encryption) in place
    /// with `key`, through SQLCipher's `sqlcipher_export`. The plaintext file is replaced
    /// only after the encrypted copy is complete.
    pub fn encrypt_plaintext_file(path: impl AsRef<Path>, key: &[u8]) -> Result<()> {
        let path = path.as_ref();
        let key_sql = key_literal(key)?;
        let tmp = path.with_extension("encrypting");
        remove_files(&tmp, &[""])?;
        {
            let conn = connect(path, None)?;
            conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
            conn.execute(
                &format!("ATTACH DATABASE ?1 AS encrypted KEY {key_sql}"),
                [tmp.to_string_lossy()],
            )?;
            conn.query_row("SELECT sqlcipher_export('encrypted')", [], |_| Ok(()))?;
            let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
            conn.execute_batch(&format!(
                "PRAGMA encrypted.user_version = {version}; DETACH DATABASE encrypted;"
            ))?;
        }
        remove_files(path, &["-wal", "-shm"])?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    }

    /// Opens a second, read-only connection to an existing unencrypted store file (the relay
    /// answers feed pages and wants on these while its writer commits; WAL lets both run).
    /// The file must already be at this build's schema version (the writer upgrades it).
    pub fn open_reader(path: impl AsRef<Path>) -> Result<Store> {
        let conn = connect(path.as_ref(), None)?;
        conn.pragma_update(None, "query_only", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version != schema::VERSION {
            return Err(Error::SchemaTooNew {
                found: version,
                supported: schema::VERSION,
            });
        }
        let actor = conn
            .query_row("SELECT value FROM meta WHERE key='actor'", [], |r| {
                r.get::<_, String>(0)
            })
            .optional()?
            .and_then(|h| ActorId::try_from(h.as_str()).ok())
            .unwrap_or_else(ActorId::random);
        let identity: Option<Identity> = conn
            .query_row("SELECT value FROM meta WHERE key='identity'", [], |r| {
                r.get::<_, String>(0)
            })
            .optional()?
            .map(|s| serde_json::from_str(&s))
            .transpose()?;
        Ok(Store {
            in_batch: std::cell::Cell::new(false),
            conn,
            actor,
            identity,
            clock: system_clock(),
            users: None,
        })
    }

    /// Opens a store in memory (tests, scratch work).
    pub fn open_in_memory() -> Result<Store> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(mut conn: Connection) -> Result<Store> {
        // Freed pages are overwritten, so erased personal data does not linger in the file.
        conn.pragma_update(None, "secure_delete", "ON")?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        let tx = conn.transaction()?;
        let reindex = if version < schema::VERSION {
            schema::upgrade(&tx, version)?
        } else if version > schema::VERSION {
            return Err(Error::SchemaTooNew {
                found: version,
                supported: schema::VERSION,
            });
        } else {
            false
        };
        let actor_hex: Option<String> = tx
            .query_row("SELECT value FROM meta WHERE key='actor'", [], |r| r.get(0))
            .optional()?;
        let actor = match actor_hex {
            Some(h) => ActorId::try_from(h.as_str())
                .map_err(|e| Error::MalformedDocument(e.to_string()))?,
            None => {
                let a = ActorId::random();
                tx.execute(
                    "INSERT INTO meta(key, value) VALUES('actor', ?1)",
                    [a.to_hex_string()],
                )?;
                a
            }
        };
        let identity: Option<Identity> = tx
            .query_row("SELECT value FROM meta WHERE key='identity'", [], |r| {
                r.get::<_, String>(0)
            })
            .optional()?
            .map(|s| serde_json::from_str(&s))
            .transpose()?;
        tx.commit()?;
        let mut store = Store {
            in_batch: std::cell::Cell::new(false),
            conn,
            actor,
            identity,
            clock: system_clock(),
            users: None,
        };
        if reindex {
            store.reindex_all()?;
        }
        Ok(store)
    }

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

    /// Runs `f` as one SQLite transaction (one disk sync), each write inside it a savepoint:
    /// used by sync so a round costs one commit, not one per document.
    pub fn batch<T>(&mut self, f: impl FnOnce(&mut Store) -> Result<T>) -> Result<T> {
        if self.in_batch.get() {
            return f(self);
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

    /// Closes the SQLite connection, reporting any error (dropping a store also closes it).
    pub fn close(self) -> Result<()> {
        self.conn.close().map_err(|(_, e)| e.into())
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

    /// The actor id this store writes changes as (hex).
    pub fn actor_hex(&self) -> String {
        self.actor.to_hex_string()
    }

    /// Starts a new actor id: done at every enrollment so a copied or restored store never
    /// writes with an actor id that another device already uses.
    pub fn rotate_actor(&mut self) -> Result<String> {
        let a = ActorId::random();
        self.conn.execute(
            "INSERT INTO meta(key, value) VALUES('actor', ?1) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            [a.to_hex_string()],
        )?;
        self.actor = a;
        Ok(self.actor_hex())
    }

    /// The identity the store acts as, once enrolled.
    pub fn identity(&self) -> Option<&Identity> {
        self.identity.as_ref()
    }

    /// Sets the identity (after enrollment, or for the relay's own store).
    pub fn set_identity(&mut self, identity: Identity) -> Result<()> {
        self.set_meta("identity", &serde_json::to_string(&identity)?)?;
        self.identity = Some(identity);
        Ok(())
    }

    /// Runs `f` acting as `identity` without storing it: the relay's dashboard records each
    /// edit as the signed-in user while the relay keeps its own identity.
    pub fn act_as<T>(
        &mut self,
        identity: Identity,
        f: impl FnOnce(&mut Store) -> Result<T>,
    ) -> Result<T> {
        let saved = self.identity.replace(identity);
        let out = f(self);
        self.identity = saved;
        out
    }

    /// Reads a meta value.
    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT value FROM meta WHERE key=?1", [key], |r| r.get(0))
            .optional()?)
    }

    /// Writes a meta value.
    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.conn.execute(
            "INSERT INTO meta(key, value) VALUES(?1, ?2) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            params![key, value],
        )?;
        Ok(())
    }

    fn author(&self) -> Result<Author> {
        self.identity
            .as_ref()
            .map(|i| i.author.clone())
            .ok_or(Error::NotEnrolled)
    }

    fn note(&self, author: &Author, fields: Vec<String>, action: Option<&str>) -> ChangeNote {
        ChangeNote {
            user: author.user.clone(),
            device: author.device.clone(),
            fields,
            action: action.map(str::to_owned),
        }
    }

    // ---- reading documents -------------------------------------------------------------

    fn load_doc(&self, id: &str) -> Result<(RecordDoc, RecordKind)> {
        let row: Option<(Vec<u8>, String)> = self
            .conn
            .query_row("SELECT bytes, kind FROM documents WHERE id=?1", [id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        let (bytes, kind) = row.ok_or_else(|| Error::UnknownRecord(id.to_owned()))?;
        let mut stmt = self
            .conn
            .prepare_cached("SELECT bytes FROM doc_changes WHERE id=?1 ORDER BY n")?;
        let chunks: Vec<Vec<u8>> = stmt
            .query_map([id], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let doc = RecordDoc::load_with_changes(
            &bytes,
            chunks.iter().map(Vec::as_slice),
            self.actor.clone(),
        )?;
        Ok((doc, kind.parse()?))
    }

    /// Whether a record with this id is in the store.
    pub fn contains(&self, id: &str) -> Result<bool> {
        Ok(self
            .conn
            .query_row("SELECT 1 FROM documents WHERE id=?1", [id], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// A record's document (for sync and inspection).
    pub fn document(&self, id: &str) -> Result<RecordDoc> {
        Ok(self.load_doc(id)?.0)
    }

    /// The whole document as stored — its compacted bytes followed by the change chunks
    /// written since — without loading it: what a device that holds nothing of the record
    /// is sent (Automerge loads the concatenation as one document).
    pub fn stored_bytes(&self, id: &str) -> Result<Vec<u8>> {
        let mut bytes: Vec<u8> = self
            .conn
            .query_row("SELECT bytes FROM documents WHERE id=?1", [id], |r| {
                r.get(0)
            })
            .optional()?
            .ok_or_else(|| Error::UnknownRecord(id.to_owned()))?;
        let mut stmt = self
            .conn
            .prepare_cached("SELECT bytes FROM doc_changes WHERE id=?1 ORDER BY n")?;
        let mut rows = stmt.query([id])?;
        while let Some(r) = rows.next()? {
            let chunk: Vec<u8> = r.get(0)?;
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }

    /// The whole document, compacted.
    pub fn document_bytes(&self, id: &str) -> Result<Vec<u8>> {
        Ok(self.load_doc(id)?.0.save())
    }

    /// The changes of a record that are not ancestors of `heads`.
    pub fn changes_after(&self, id: &str, heads: &[ChangeHash]) -> Result<Vec<u8>> {
        Ok(self.load_doc(id)?.0.save_after(heads))
    }

    /// A record's current heads.
    pub fn heads(&self, id: &str) -> Result<Vec<ChangeHash>> {
        let s: Option<String> = self
            .conn
            .query_row("SELECT heads FROM documents WHERE id=?1", [id], |r| {
                r.get(0)
            })
            .optional()?;
        heads_from_json(&s.ok_or_else(|| Error::UnknownRecord(id.to_owned()))?)
    }

    /// Any record, typed, read from the index.
    pub fn record(&self, id: &str) -> Result<Record> {
        let row: Option<(String, String)> = self
            .conn
            .query_row("SELECT kind, json FROM records WHERE id=?1", [id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        let (kind, json) = row.ok_or_else(|| Error::UnknownRecord(id.to_owned()))?;
        Record::from_json(kind.parse()?, serde_json::from_str(&json)?)
    }

    /// A dispute.
    pub fn dispute(&self, id: &str) -> Result<Dispute> {
        match self.record(id)? {
            Record::Dispute(d) => Ok(d),
            other => Err(Error::WrongKind {
                id: id.into(),
                expected: RecordKind::Dispute,
                actual: other.meta().kind,
            }),
        }
    }

    /// Conflicts of a record.
    pub fn conflicts(&self, id: &str) -> Result<Vec<Conflict>> {
        let (mut doc, kind) = self.load_doc(id)?;
        doc.conflicts(kind)
    }

    /// History of a record.
    pub fn history(&self, id: &str) -> Result<Vec<HistoryEntry>> {
        Ok(self.load_doc(id)?.0.history())
    }

    /// A record as it stood at `at_ms` (none if it did not exist yet).
    pub fn record_as_of(&self, id: &str, at_ms: i64) -> Result<Option<Record>> {
        let (mut doc, kind) = self.load_doc(id)?;
        let heads = doc.heads_at(at_ms);
        if heads.is_empty() {
            return Ok(None);
        }
        Ok(Some(Record::from_json(kind, doc.to_json_at(&heads)?)?))
    }

    /// Categories valid for a unit: the form's 17 and the unit's own.
    pub fn categories(&self, unit: &str) -> Result<Vec<String>> {
        let mut out: Vec<String> = model::FORM_CATEGORIES
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        if let Ok(Record::UnitProfile(p)) = self.record(&model::unit::profile_id(unit)) {
            // A set: the same category added on two offline devices is listed once.
            for c in p.categories {
                if !out.contains(&c) {
                    out.push(c);
                }
            }
        }
        Ok(out)
    }

    // ---- writing -----------------------------------------------------------------------

    fn next_number(
        tx: &Connection,
        unit: &str,
        kind: RecordKind,
        device_code: &str,
    ) -> Result<String> {
        let key = format!("counter/{}", kind.code());
        let n: i64 = tx
            .query_row("SELECT value FROM meta WHERE key=?1", [&key], |r| {
                r.get::<_, String>(0)
            })
            .optional()?
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
            + 1;
        tx.execute(
            "INSERT INTO meta(key, value) VALUES(?1, ?2) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            params![key, n.to_string()],
        )?;
        Ok(format!(
            "{unit}-{}-{device_code}-{n:04}",
            kind.number_prefix()
        ))
    }

    /// Checks person fields against `users` from now on: a petition case's 包案领导 must name a
    /// user (login or name: the leader receives and signs off the case), and any person field
    /// whose new value reads as a login must name a user (a name as the form writes it, 张三,
    /// stays free text).
    pub fn set_users(&mut self, users: Arc<dyn UserDirectory>) {
        self.users = Some(users);
    }

    fn check_people(
        &self,
        kind: RecordKind,
        before: Option<&Record>,
        after: &Record,
    ) -> Result<()> {
        let Some(users) = &self.users else {
            return Ok(());
        };
        let before = before.map(serde_json::to_value).transpose()?;
        let after = serde_json::to_value(after)?;
        let text = |v: Option<&serde_json::Value>| v.and_then(|v| v.as_str().map(str::to_owned));
        let mut named: Vec<(&'static FieldSpec, String)> = Vec::new();
        for spec in kind.fields() {
            match spec.ty {
                FieldType::Person => {
                    let new = text(after.get(spec.key));
                    if new != before.as_ref().and_then(|b| text(b.get(spec.key))) {
                        named.extend(new.map(|v| (spec, v)));
                    }
                }
                FieldType::Entries(items) => {
                    let entries = |v: Option<&serde_json::Value>| {
                        v.and_then(|v| v.get(spec.key))
                            .and_then(|l| l.as_array())
                            .cloned()
                            .unwrap_or_default()
                    };
                    let old = entries(before.as_ref());
                    for e in entries(Some(&after)) {
                        let id = e.get("id");
                        let was = old.iter().find(|o| o.get("id") == id);
                        for item in items.iter().filter(|i| i.ty == FieldType::Person) {
                            let new = text(e.get(item.key));
                            if new != was.and_then(|w| text(w.get(item.key))) {
                                named.extend(new.map(|v| (item, v)));
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        for (spec, value) in named {
            let value = value.trim();
            let must_be_login = kind == RecordKind::Petition && spec.key == "leader";
            if value.is_empty() || !(must_be_login || looks_like_login(value)) {
                continue;
            }
            if !users.names_user(value)? {
                return Err(Error::invalid(
                    spec.name(),
                    if must_be_login {
                        "names no user: choose the case's leader from the users"
                    } else {
                        "names no user: choose a user, or write the person's name"
                    },
                ));
            }
        }
        Ok(())
    }

    fn check_record(
        &self,
        kind: RecordKind,
        before: Option<&Record>,
        after: &Record,
        author: &Author,
    ) -> Result<()> {
        let json = serde_json::to_value(after)?;
        validate_stored_values(kind, &json)?;
        self.check_people(kind, before, after)?;
        if let Record::Visit(v) = after {
            let old = match before {
                Some(Record::Visit(b)) => b.target.as_deref(),
                _ => None,
            };
            if let Some(code) = v.target.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
                if old.map(str::trim) != Some(code) && !self.has_visit_target(&v.meta.unit, code)? {
                    return Err(Error::invalid(
                        "走访对象编号 (target)",
                        "names no visit target of the unit's 走访对象名单",
                    ));
                }
            }
        }
        if let Record::Dispute(a) = after {
            let old = match before {
                Some(Record::Dispute(b)) => b.category.as_ref(),
                _ => None,
            };
            if let Some(cat) = &a.category {
                if old != Some(cat) && !self.categories(&a.meta.unit)?.contains(cat) {
                    return Err(Error::UnknownCategory(cat.clone()));
                }
            }
        }
        after.check_rules(before, author)
    }

    /// Checks that `author` may change records of `unit`.
    fn check_scope(author: &Author, unit: &str) -> Result<()> {
        if access::may_access_unit(author, unit) {
            Ok(())
        } else {
            Err(Error::PermissionDenied(format!(
                "{} of unit {} cannot change records of unit {unit}",
                author.user, author.unit
            )))
        }
    }

    /// Checks that `author` may change a stored record (its unit, or a case they lead).
    fn check_access(author: &Author, record: &Record) -> Result<()> {
        if access::may_access_record(author, record) {
            Ok(())
        } else {
            Self::check_scope(author, &record.meta().unit)
        }
    }

    /// Creates a record of `kind` in the acting user's unit (or `unit`, for the bureau office).
    pub fn create(
        &mut self,
        kind: RecordKind,
        unit: Option<&str>,
        edits: &[Edit],
    ) -> Result<String> {
        let id = uuid::Uuid::now_v7().to_string();
        self.create_with_id(&id, kind, unit, edits, None)?;
        Ok(id)
    }

    /// Creates a record with a given id (unit profiles use the unit's fixed id).
    pub fn create_with_id(
        &mut self,
        id: &str,
        kind: RecordKind,
        unit: Option<&str>,
        edits: &[Edit],
        extra: Option<(&str, &[Edit])>,
    ) -> Result<()> {
        let author = self.author()?;
        let unit = unit.unwrap_or(&author.unit).to_owned();
        Self::check_scope(&author, &unit)?;
        if kind == RecordKind::UnitProfile && author.role != Role::Office {
            return Err(Error::PermissionDenied(
                "only the bureau office maintains unit profiles".into(),
            ));
        }
        if self.contains(id)? {
            return Err(Error::invalid(
                "id",
                format!("a record with id {id} already exists"),
            ));
        }
        let checked = edits
            .iter()
            .map(|e| check_edit(kind, e))
            .collect::<Result<Vec<_>>>()?;
        let now = self.now_ms();
        let device_code = self
            .identity
            .as_ref()
            .map(|i| i.device_code.clone())
            .unwrap_or_default();
        let tx = self.write_tx()?;
        let number = Self::next_number(&tx, &unit, kind, &device_code)?;
        let meta = RecordMeta {
            id: id.to_owned(),
            kind,
            schema: DOCUMENT_SCHEMA_VERSION,
            unit: unit.clone(),
            number,
            created_by: author.user.clone(),
            created_at: now,
            device: author.device.clone(),
            generation: 0,
        };
        let mut doc = RecordDoc::create(self.actor.clone(), &meta)?;
        let mut touched = doc.apply(&checked, &mut new_entry_id, &author.user, now)?;
        touched.insert(0, "_created".into());
        let after = Record::from_json(kind, doc.to_json()?)?;
        // Dropping `tx` on error rolls the counter back.
        self.check_record(kind, None, &after, &author)?;
        self.check_links(None, &after, &author, &[])?;
        doc.commit(&self.note(&author, touched, Some("create")), now);
        write_doc(&tx, id, kind, &unit, &mut doc, None, now)?;
        self.mirror_links(&tx, None, &after, &author, now)?;
        if let Some((other_id, other_edits)) = extra {
            self.edit_in(&tx, other_id, other_edits, &author, None, now)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Applies edits to a record as the acting user.
    pub fn edit(&mut self, id: &str, edits: &[Edit]) -> Result<()> {
        self.edit_with_action(id, edits, None)
    }

    fn edit_with_action(&mut self, id: &str, edits: &[Edit], action: Option<&str>) -> Result<()> {
        let author = self.author()?;
        let now = self.now_ms();
        let tx = self.write_tx()?;
        self.edit_in(&tx, id, edits, &author, action, now)?;
        tx.commit()?;
        Ok(())
    }

    fn edit_in(
        &self,
        tx: &Connection,
        id: &str,
        edits: &[Edit],
        author: &Author,
        action: Option<&str>,
        now: i64,
    ) -> Result<bool> {
        let (mut doc, kind) = self.load_doc(id)?;
        let before = Record::from_json(kind, doc.to_json()?)?;
        Self::check_access(author, &before)?;
        let checked = edits
            .iter()
            .map(|e| check_edit(kind, e))
            .collect::<Result<Vec<_>>>()?;
        let before_heads = doc.heads();
        let touched = doc.apply(&checked, &mut new_entry_id, &author.user, now)?;
        if touched.is_empty() {
            doc.rollback();
            return Ok(false);
        }
        let after = Record::from_json(kind, doc.to_json()?)?;
        self.check_record(kind, Some(&before), &after, author)?;
        self.check_links(Some(&before), &after, author, &[])?;
        doc.commit(&self.note(author, touched, action), now);
        let unit = after.meta().unit.clone();
        write_doc(tx, id, kind, &unit, &mut doc, Some(&before_heads), now)?;
        self.mirror_links(tx, Some(&before), &after, author, now)?;
        Ok(true)
    }

    /// The links between screening rounds and the disputes they found, as a local edit
    /// changes them: (screening, dispute) pairs added and removed.
    fn link_changes(before: Option<&Record>, after: &Record) -> (Vec<Link>, Vec<Link>) {
        let id = after.meta().id.clone();
        match (before, after) {
            (b, Record::Dispute(a)) => {
                let old = match b {
                    Some(Record::Dispute(d)) => d.screening_round.clone(),
                    _ => None,
                };
                if old == a.screening_round {
                    return (Vec::new(), Vec::new());
                }
                let pair = |s: Option<String>| s.map(|s| (s, id.clone())).into_iter().collect();
                (pair(a.screening_round.clone()), pair(old))
            }
            (b, Record::Screening(a)) => {
                let old: Vec<String> = match b {
                    Some(Record::Screening(s)) => s.disputes.clone(),
                    _ => Vec::new(),
                };
                let added = a.disputes.iter().filter(|d| !old.contains(d));
                let removed = old.iter().filter(|d| !a.disputes.contains(d));
                (
                    added.map(|d| (id.clone(), d.clone())).collect(),
                    removed.map(|d| (id.clone(), d.clone())).collect(),
                )
            }
            _ => (Vec::new(), Vec::new()),
        }
    }

    /// Checks the links a change adds: a dispute's 来源排查 names a screening round of its
    /// unit, a round's 发现矛盾纠纷 name disputes of its unit — records `author` sees, or
    /// records pushed in the same sync request (`batch`: a round and the disputes it found
    /// arrive together). A record out of scope and an unknown id get the same refusal.
    fn check_links(
        &self,
        before: Option<&Record>,
        after: &Record,
        author: &Author,
        batch: &[String],
    ) -> Result<()> {
        let (added, _) = Self::link_changes(before, after);
        let unit = &after.meta().unit;
        for (screening, dispute) in added {
            let (other, kind, field) = match after {
                Record::Dispute(_) => (
                    screening,
                    RecordKind::Screening,
                    "来源排查 (screening_round)",
                ),
                _ => (dispute, RecordKind::Dispute, "发现矛盾纠纷 (disputes)"),
            };
            if batch.contains(&other) {
                continue;
            }
            let ok = match self.record(&other) {
                Ok(r) => {
                    access::may_access_record(author, &r)
                        && r.meta().kind == kind
                        && &r.meta().unit == unit
                }
                Err(Error::UnknownRecord(_)) => false,
                Err(e) => return Err(e),
            };
            if !ok {
                return Err(Error::invalid(
                    field,
                    format!("names no {} of the unit", kind.label()),
                ));
            }
        }
        Ok(())
    }

    /// Keeps a link both ways: the other record of each link a local edit adds or removes
    /// is changed in the same transaction.
    fn mirror_links(
        &self,
        tx: &Connection,
        before: Option<&Record>,
        after: &Record,
        author: &Author,
        now: i64,
    ) -> Result<()> {
        let (added, removed) = Self::link_changes(before, after);
        let on_dispute = matches!(after, Record::Dispute(_));
        for (linked, (screening, dispute)) in added
            .into_iter()
            .map(|p| (true, p))
            .chain(removed.into_iter().map(|p| (false, p)))
        {
            let edit = if on_dispute {
                let Ok(Record::Screening(s)) = self.record(&screening) else {
                    continue;
                };
                let mut list = s.disputes.clone();
                list.retain(|d| *d != dispute);
                if linked {
                    list.push(dispute.clone());
                }
                if list == s.disputes {
                    continue;
                }
                (screening, Edit::set("disputes", FieldValue::List(list)))
            } else {
                let Ok(Record::Dispute(d)) = self.record(&dispute) else {
                    continue;
                };
                let now_links = d.screening_round.as_deref() == Some(screening.as_str());
                match (linked, now_links) {
                    (true, false) if d.screening_round.is_none() => {
                        (dispute, Edit::text("screening_round", &screening))
                    }
                    (false, true) => (dispute, Edit::set("screening_round", FieldValue::Null)),
                    _ => continue,
                }
            };
            self.edit_in(tx, &edit.0, &[edit.1], author, Some("link"), now)?;
        }
        Ok(())
    }

    /// Signs a petition case off (销号): only once resolved, only by its leader or the office.
    pub fn sign_off(&mut self, id: &str, note: &str) -> Result<()> {
        let author = self.author()?;
        let by = if author.name.is_empty() {
            author.user.clone()
        } else {
            author.name.clone()
        };
        self.edit_with_action(
            id,
            &[
                Edit::Append {
                    list: "signoffs".into(),
                    values: vec![
                        ("action".into(), FieldValue::text("sign_off")),
                        ("by".into(), FieldValue::Text(by)),
                        ("note".into(), FieldValue::text(note)),
                    ],
                },
                Edit::text("status", "signed_off"),
            ],
            Some("sign_off"),
        )
    }

    /// Reopens a signed-off petition case, with the reason logged.
    pub fn reopen(&mut self, id: &str, reason: &str) -> Result<()> {
        let author = self.author()?;
        let by = if author.name.is_empty() {
            author.user.clone()
        } else {
            author.name.clone()
        };
        self.edit_with_action(
            id,
            &[
                Edit::Append {
                    list: "signoffs".into(),
                    values: vec![
                        ("action".into(), FieldValue::text("reopen")),
                        ("by".into(), FieldValue::Text(by)),
                        ("note".into(), FieldValue::text(reason)),
                    ],
                },
                Edit::text("status", "open"),
            ],
            Some("reopen"),
        )
    }

    /// Writes a unit's monthly report for `month` (`YYYY-MM`): creates the unit's one report
    /// record of the month if missing, sets the texts given (活动经验做法, 存在问题) and, when
    /// `submitted_on` is given, submits it (报送日期, 报送人: the unit head or the office).
    /// Returns the report's id.
    pub fn write_monthly(
        &mut self,
        unit: Option<&str>,
        month: &str,
        experience: Option<&str>,
        problems: Option<&str>,
        submitted_on: Option<chrono::NaiveDate>,
    ) -> Result<String> {
        let author = self.author()?;
        let unit = unit.unwrap_or(&author.unit).to_owned();
        let month = crate::report::Month::parse(month)?.to_string();
        let id = model::monthly::report_id(&unit, &month);
        let mut edits = Vec::new();
        if let Some(t) = experience {
            edits.push(Edit::text("experience", t));
        }
        if let Some(t) = problems {
            edits.push(Edit::text("problems", t));
        }
        if let Some(d) = submitted_on {
            edits.push(Edit::text("submitted_on", &d.to_string()));
            let by = if author.name.is_empty() {
                author.user.clone()
            } else {
                author.name.clone()
            };
            edits.push(Edit::set("submitted_by", FieldValue::Text(by)));
        }
        if self.contains(&id)? {
            if !edits.is_empty() {
                self.edit_with_action(&id, &edits, submitted_on.map(|_| "submit_monthly"))?;
            }
        } else {
            edits.insert(0, Edit::text("month", &month));
            self.create_with_id(&id, RecordKind::MonthlyReport, Some(&unit), &edits, None)?;
        }
        Ok(id)
    }

    /// Moves a record to another unit: the bureau office only.
    pub fn move_to_unit(&mut self, id: &str, unit: &str) -> Result<()> {
        let author = self.author()?;
        if !access::may_move_records(&author) {
            return Err(Error::PermissionDenied(
                "only the bureau office moves records between units".into(),
            ));
        }
        let now = self.now_ms();
        let (mut doc, kind) = self.load_doc(id)?;
        let before_heads = doc.heads();
        doc.put_meta("_unit", unit)?;
        doc.commit(
            &self.note(&author, vec!["_unit".into()], Some("move_unit")),
            now,
        );
        let tx = self.write_tx()?;
        write_doc(&tx, id, kind, unit, &mut doc, Some(&before_heads), now)?;
        tx.commit()?;
        Ok(())
    }

    /// Resolves a conflict by choosing a value; the choice is an ordinary, recorded edit.
    /// `field` is a path of keys or of form labels (`状态趋势`, `工作措施/ENTRY/内容`).
    pub fn resolve_conflict(&mut self, id: &str, field: &str, value: FieldValue) -> Result<()> {
        let kind = self.record(id)?.meta().kind;
        // A path naming no field has no conflict either.
        let path = FieldPath::parse(kind, field).map_err(|_| Error::NoConflict(field.into()))?;
        let field = &path.to_string();
        let conflicts = self.conflicts(id)?;
        if !conflicts.iter().any(|c| c.field == *field) {
            return Err(Error::NoConflict(field.to_owned()));
        }
        let edit = path.edit(value);
        if field == "_unit" {
            let FieldValue::Text(u) = edit_value(&edit) else {
                return Err(Error::invalid("_unit", "a unit code"));
            };
            return self.move_to_unit(id, &u);
        }
        self.edit_with_action(id, &[edit], Some("resolve_conflict"))
    }

    /// Turns a demand raised on a visit into a dispute; both keep the link.
    pub fn demand_to_dispute(
        &mut self,
        visit_id: &str,
        demand_id: &str,
        edits: &[Edit],
    ) -> Result<String> {
        let Record::Visit(v) = self.record(visit_id)? else {
            return Err(Error::invalid(
                "visit",
                format!("{visit_id} is not a visit"),
            ));
        };
        let demand = v
            .demands
            .iter()
            .find(|d| d.id == demand_id)
            .ok_or_else(|| Error::UnknownEntry {
                list: "群众诉求".into(),
                entry: demand_id.into(),
            })?;
        if let Some(existing) = &demand.dispute {
            return Err(Error::RuleViolation(format!(
                "this demand is already dispute {existing}"
            )));
        }
        let mut all = vec![
            Edit::text("name", &demand.content),
            Edit::text("source_visit", visit_id),
            Edit::text("source_demand", demand_id),
            Edit::text("found_via", "visit"),
        ];
        if let Some(d) = v.visit_date {
            all.push(Edit::text("found_on", &d.to_string()));
        }
        all.extend_from_slice(edits);
        let id = uuid::Uuid::now_v7().to_string();
        let link = [Edit::SetInEntry {
            list: "demands".into(),
            entry: demand_id.into(),
            field: "dispute".into(),
            value: FieldValue::Text(id.clone()),
        }];
        self.create_with_id(
            &id,
            RecordKind::Dispute,
            Some(&v.meta.unit),
            &all,
            Some((visit_id, &link)),
        )?;
        Ok(id)
    }

    // ---- merging remote changes (sans-I/O) ------------------------------------------------

    /// Applies bytes from elsewhere to a scratch copy of a record and reports what would
    /// change, without writing. [`Store::commit_merge`] writes it.
    pub fn prepare_merge(&self, id: &str, bytes: &[u8]) -> Result<PreparedMerge> {
        let existing = if self.contains(id)? {
            Some(self.load_doc(id)?)
        } else {
            None
        };
        let (mut doc, before, before_heads) = match existing {
            Some((mut d, kind)) => {
                let before = Record::from_json(kind, d.to_json()?)?;
                let h = d.heads();
                d.apply_remote(bytes)?;
                (d, Some(before), Some(h))
            }
            None => (RecordDoc::load(bytes, self.actor.clone())?, None, None),
        };
        let kind = doc.kind()?;
        if let Some(b) = &before {
            if b.meta().kind != kind {
                return Err(Error::MalformedDocument(format!(
                    "changes would turn {id} from a {} into a {kind}",
                    b.meta().kind
                )));
            }
        }
        let json = doc.to_json()?;
        if json.get("_id").and_then(|v| v.as_str()) != Some(id) {
            return Err(Error::MalformedDocument(format!(
                "document is not record {id}"
            )));
        }
        let after =
            Record::from_json(kind, json).map_err(|e| Error::MalformedDocument(e.to_string()))?;
        let after_heads = doc.heads();
        let changed = before_heads.as_deref() != Some(&after_heads[..]);
        let added = doc
            .automerge_mut()
            .get_changes_meta(before_heads.as_deref().unwrap_or(&[]));
        let new_actors = added.iter().map(|m| m.actor.to_hex_string()).collect();
        let new_changes = added.iter().map(|m| (m.hash, m.deps.clone())).collect();
        let new_notes = added
            .iter()
            .map(|m| {
                m.message
                    .as_deref()
                    .and_then(|s| serde_json::from_str(s).ok())
                    .unwrap_or_default()
            })
            .collect();
        Ok(PreparedMerge {
            id: id.to_owned(),
            kind,
            before,
            after,
            new_actors,
            new_notes,
            new_changes,
            doc,
            before_heads,
            changed,
        })
    }

    /// Checks a prepared merge as `author` would have to keep it: the merged record, and every
    /// state each added change produced, pass the same checks (scope, record meta, field
    /// values, the kind's rules, the links it adds — to records `author` sees or to ids in
    /// `batch`, the other records of the same sync request). Returns the unit moves the
    /// changes make, in causal order.
    pub fn check_merge(
        &self,
        m: &PreparedMerge,
        author: &Author,
        batch: &[String],
    ) -> Result<Vec<(String, String)>> {
        if !m.changed {
            return Ok(Vec::new());
        }
        if let Some(b) = &m.before {
            Self::check_access(author, b)?;
            // A rebuilt generation has one root change; changes of the erased generation
            // would bring a second `_id` (and the erased values) back.
            if b.meta().generation > 0
                && automerge::ReadDoc::get_all(m.doc.automerge(), automerge::ROOT, "_id")?.len() > 1
            {
                return Err(Error::PermissionDenied(
                    "these changes belong to a generation of the record that was erased".into(),
                ));
            }
        }
        // Who created a record is written once, by the device that sends it first; the meta
        // keys never change afterwards (only `_unit`, by the office).
        let reference = match &m.before {
            Some(b) => b.meta().clone(),
            None => {
                let meta = m.after.meta();
                if meta.created_by != author.user || meta.device != author.device {
                    return Err(Error::PermissionDenied(format!(
                        "a new record must be created by the sending user and device, not {} on {}",
                        meta.created_by, meta.device
                    )));
                }
                meta.clone()
            }
        };
        let check_state = |state: &Record| -> Result<()> {
            if fixed_meta(state.meta()) != fixed_meta(&reference) {
                return Err(Error::PermissionDenied(
                    "a record's id, kind, number, creator and creation time cannot be changed"
                        .into(),
                ));
            }
            if m.before.is_none() || state.meta().unit != reference.unit {
                Self::check_scope(author, &state.meta().unit)?;
            }
            Ok(())
        };
        check_state(&m.after)?;
        // Each added change is checked in its own causal context — the record as its author
        // saw it, and with the change applied — which is what the author's device checked.
        // Checking only the merged result would refuse honest edits that merely ran
        // concurrently with others (those become visible conflicts instead), and would let
        // a forged step hide between honest-looking ends (a unit flipped and flipped back,
        // a leader swapped for a sign-off and swapped back).
        let mut states: Vec<(Vec<ChangeHash>, Record)> = Vec::new();
        if let (Some(b), Some(h)) = (&m.before, &m.before_heads) {
            states.push((sorted(h), b.clone()));
        }
        let mut moves = Vec::new();
        let mut doc = m.doc.clone();
        let final_heads = sorted(&doc.heads());
        for (hash, deps) in &m.new_changes {
            let before = if deps.is_empty() {
                None
            } else {
                let key = sorted(deps);
                match states.iter().find(|(h, _)| *h == key) {
                    Some((_, r)) => Some(r.clone()),
                    None => Some(
                        Record::from_json(m.kind, doc.to_json_at(deps)?)
                            .map_err(|e| Error::MalformedDocument(e.to_string()))?,
                    ),
                }
            };
            let after = if final_heads == [*hash] {
                m.after.clone()
            } else {
                Record::from_json(m.kind, doc.to_json_at(&[*hash])?)
                    .map_err(|e| Error::MalformedDocument(e.to_string()))?
            };
            check_state(&after)?;
            if before.as_ref() != Some(&after) {
                if let Some(b) = &before {
                    if b.meta().unit != after.meta().unit {
                        if !access::may_move_records(author) {
                            return Err(Error::PermissionDenied(
                                "only the bureau office moves records between units".into(),
                            ));
                        }
                        moves.push((b.meta().unit.clone(), after.meta().unit.clone()));
                    }
                }
                self.check_record(m.kind, before.as_ref(), &after, author)?;
                self.check_links(before.as_ref(), &after, author, batch)?;
            }
            // Only the last few states are looked up again (a device's changes form a chain).
            if states.len() >= 8 {
                states.remove(0);
            }
            states.push((vec![*hash], after));
        }
        // The sign-off log is judged against the case's leader as this relay knew it before
        // the push, whatever the pushed changes say the leader was in between.
        if let (Some(Record::Petition(b)), Record::Petition(a)) = (&m.before, &m.after) {
            if a.signoffs.len() > b.signoffs.len() && !b.may_sign_off(author) {
                return Err(Error::PermissionDenied(
                    "only the case's leader (包案领导) or the bureau office may sign it off or \
                     reopen it"
                        .into(),
                ));
            }
        }
        validate_stored_values(m.kind, &serde_json::to_value(&m.after)?)?;
        Ok(moves)
    }

    /// Writes a prepared merge.
    pub fn commit_merge(&mut self, mut m: PreparedMerge) -> Result<MergeOutcome> {
        let heads = m.doc.heads();
        let out = MergeOutcome {
            id: m.id.clone(),
            created: m.before.is_none(),
            changed: m.changed,
            heads: heads.iter().map(|h| h.to_string()).collect(),
        };
        if m.changed {
            let now = self.now_ms();
            let unit = m.after.meta().unit.clone();
            let tx = self.write_tx()?;
            write_doc(
                &tx,
                &m.id,
                m.kind,
                &unit,
                &mut m.doc,
                m.before_heads.as_deref(),
                now,
            )?;
            tx.commit()?;
        }
        Ok(out)
    }

    /// Merges bytes from elsewhere into a record (no rule checks beyond well-formedness):
    /// what a device does with what the relay sends.
    pub fn merge_remote(&mut self, id: &str, bytes: &[u8]) -> Result<MergeOutcome> {
        let m = self.prepare_merge(id, bytes)?;
        self.commit_merge(m)
    }

    /// Rebuilds every index row from the documents (after a schema upgrade).
    pub fn reindex_all(&mut self) -> Result<usize> {
        let ids: Vec<String> = {
            let mut stmt = self.conn.prepare("SELECT id FROM documents")?;
            stmt.query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?
        };
        let tx = self.write_tx()?;
        for id in &ids {
            let row: (Vec<u8>, String, i64) = tx.query_row(
                "SELECT bytes, kind, updated_at FROM documents WHERE id=?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?;
            let mut stmt =
                tx.prepare_cached("SELECT bytes FROM doc_changes WHERE id=?1 ORDER BY n")?;
            let chunks: Vec<Vec<u8>> = stmt
                .query_map([id], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            let mut doc = RecordDoc::load_with_changes(
                &row.0,
                chunks.iter().map(Vec::as_slice),
                self.actor.clone(),
            )?;
            index::write_index(&tx, id, row.1.parse()?, &mut doc, row.2)?;
        }
        tx.commit()?;
        Ok(ids.len())
    }
}

/// The meta keys of a record that never change after it is created (all but `_unit`).
fn fixed_meta(m: &RecordMeta) -> (&str, RecordKind, &str, &str, i64, &str, i64, i64) {
    (
        &m.id,
        m.kind,
        &m.number,
        &m.created_by,
        m.created_at,
        &m.device,
        m.schema,
        m.generation,
    )
}

fn sorted(heads: &[ChangeHash]) -> Vec<ChangeHash> {
    let mut h = heads.to_vec();
    h.sort();
    h
}

fn edit_value(e: &Edit) -> FieldValue {
    match e {
        Edit::Set { value, .. } | Edit::SetInEntry { value, .. } => value.clone(),
        Edit::Append { .. } => FieldValue::Null,
    }
}

fn new_entry_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Re-checks every stored scalar of a record against its field description, so a document
/// edited outside the typed API (for example by a hostile client) cannot carry invalid values.
pub fn validate_stored_values(kind: RecordKind, json: &serde_json::Value) -> Result<()> {
    for spec in kind.fields() {
        let Some(v) = json.get(spec.key) else {
            continue;
        };
        match spec.ty {
            FieldType::Entries(items) => {
                if v.as_array()
                    .is_some_and(|a| a.len() > crate::model::field::MAX_ENTRIES)
                {
                    return Err(Error::invalid(
                        spec.name(),
                        format!("has more than {} entries", crate::model::field::MAX_ENTRIES),
                    ));
                }
                for entry in v.as_array().into_iter().flatten() {
                    for item in items {
                        if let Some(x) = entry.get(item.key) {
                            if !matches!(item.ty, FieldType::ShortText { required: true })
                                || !x.is_null()
                            {
                                item.check(FieldValue::from_json(x))?;
                            }
                        }
                    }
                }
            }
            FieldType::ShortText { required: true } => {}
            _ => {
                spec.check(FieldValue::from_json(v))?;
            }
        }
    }
    Ok(())
}

/// Writes a document and its index rows inside `tx`.
fn write_doc(
    tx: &Connection,
    id: &str,
    kind: RecordKind,
    unit: &str,
    doc: &mut RecordDoc,
    before_heads: Option<&[ChangeHash]>,
    now: i64,
) -> Result<()> {
    let heads = doc.heads();
    let seq: i64 = tx.query_row("SELECT COALESCE(MAX(seq), 0) + 1 FROM documents", [], |r| {
        r.get(0)
    })?;
    let pending: i64 = match before_heads {
        Some(_) => tx.query_row("SELECT COUNT(*) FROM doc_changes WHERE id=?1", [id], |r| {
            r.get(0)
        })?,
        None => 0,
    };
    match before_heads {
        Some(h) if pending < COMPACT_AFTER => {
            let chunk = doc.save_after(h);
            tx.execute(
                "INSERT INTO doc_changes(id, bytes) VALUES(?1, ?2)",
                params![id, chunk],
            )?;
            tx.execute(
                "UPDATE documents SET unit=?2, heads=?3, seq=?4, updated_at=?5 WHERE id=?1",
                params![id, unit, heads_to_json(&heads), seq, now],
            )?;
        }
        _ => {
            let bytes = doc.save();
            tx.execute("DELETE FROM doc_changes WHERE id=?1", [id])?;
            tx.execute(
                "INSERT INTO documents(id, kind, unit, bytes, heads, seq, updated_at, generation)
                 VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT(id) DO UPDATE SET unit=excluded.unit, bytes=excluded.bytes, heads=excluded.heads,
                 seq=excluded.seq, updated_at=excluded.updated_at, generation=excluded.generation",
                params![id, kind.code(), unit, bytes, heads_to_json(&heads), seq, now, doc.generation()],
            )?;
        }
    }
    index::write_index(tx, id, kind, doc, now)
}
