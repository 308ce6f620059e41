//! Opening a store: the SQLite connection, its encryption key (SQLCipher), pragmas, the
//! schema upgrade, and closing or deleting the files.

use std::path::Path;

use automerge::ActorId;
use rusqlite::{Connection, OptionalExtension};

use super::{Identity, Store, schema, system_clock};
use crate::error::{Error, Result};

/// Prepared statements a connection keeps parsed.
const STATEMENT_CACHE: usize = 64;

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
fn remove_files(path: &Path, suffixes: &[&str]) -> Result<()> {
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

/// The identity saved in the store's meta table, if enrolled.
fn stored_identity(conn: &Connection) -> Result<Option<Identity>> {
    Ok(conn
        .query_row("SELECT value FROM meta WHERE key='identity'", [], |r| {
            r.get::<_, String>(0)
        })
        .optional()?
        .map(|s| serde_json::from_str(&s))
        .transpose()?)
}

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
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
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
        let identity = stored_identity(&conn)?;
        Ok(Store::on_connection(conn, actor, identity))
    }

    /// A store on an opened connection, writing as `actor`, by the system clock.
    fn on_connection(conn: Connection, actor: ActorId, identity: Option<Identity>) -> Store {
        Store {
            in_batch: std::cell::Cell::new(false),
            conn,
            actor,
            identity,
            clock: system_clock(),
            users: None,
            doc_cache: None,
        }
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
        // Every statement of a record write stays parsed (the default keeps 16).
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
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
        let identity = stored_identity(&tx)?;
        tx.commit()?;
        let mut store = Store::on_connection(conn, actor, identity);
        if reindex {
            store.reindex_all()?;
        }
        Ok(store)
    }

    /// Closes the SQLite connection, reporting any error (dropping a store also closes it).
    pub fn close(self) -> Result<()> {
        self.conn.close().map_err(|(_, e)| e.into())
    }

    /// Closes the store and deletes its files (database, `-wal`, `-shm`).
    pub fn erase(self) -> Result<()> {
        let path = self
            .conn
            .path()
            .filter(|p| !p.is_empty())
            .map(std::path::PathBuf::from);
        self.close()?;
        if let Some(path) = path {
            remove_files(&path, &["", "-wal", "-shm", "-journal"])?;
        }
        Ok(())
    }
}
