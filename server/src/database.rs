//! Where a relay's data lives, as `--db` names it: a SQLite file (the embedded default, nothing
//! else to start) or a PostgreSQL deployment (`postgres://…`) that several relays share, each
//! over a local copy (see [`crate::replica`]).

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::accounts::AccountStore;
use crate::error::Result;
use crate::records::{RecordBackend, SqliteRecords};
use crate::replica::{Replica, is_postgres_url};

/// An opened relay database.
#[derive(Debug)]
pub enum Database {
    /// The embedded default: one SQLite file.
    File(PathBuf),
    /// A PostgreSQL deployment and this process's local copy of it.
    Postgres {
        /// The URL given.
        url: String,
        /// The local copy.
        replica: Replica,
    },
}

/// The default file of a PostgreSQL deployment's local copy: in the temporary directory, named
/// after the database URL and `role` (the listen port, or `admin`).
pub fn default_cache(url: &str, role: &str) -> PathBuf {
    let digest = hex::encode(&Sha256::digest(url.as_bytes())[..6]);
    std::env::temp_dir().join(format!("fieldledger-cache-{digest}-{role}.db"))
}

impl Database {
    /// Opens `db`: a file path, or a PostgreSQL URL whose local copy is kept at `cache`
    /// (default [`default_cache`] with `role`).
    pub fn open(db: &Path, cache: Option<&Path>, role: &str) -> Result<Database> {
        let text = db.to_string_lossy();
        if !is_postgres_url(&text) {
            return Ok(Database::File(db.to_owned()));
        }
        let url = text.into_owned();
        let cache = cache.map_or_else(|| default_cache(&url, role), Path::to_owned);
        let replica = Replica::open(&url, &cache, |path| {
            // The relay's tables, as a new database file gets them.
            AccountStore::open(path).map_err(|e| e.to_string())?;
            SqliteRecords::open(path).map_err(|e| e.to_string())?;
            Ok(())
        })?;
        Ok(Database::Postgres { url, replica })
    }

    /// The SQLite file the relay's code opens: the database itself, or the local copy.
    pub fn sqlite_path(&self) -> &Path {
        match self {
            Database::File(path) => path,
            Database::Postgres { replica, .. } => replica.cache_path(),
        }
    }

    /// The local copy of a PostgreSQL deployment.
    pub fn replica(&self) -> Option<&Replica> {
        match self {
            Database::File(_) => None,
            Database::Postgres { replica, .. } => Some(replica),
        }
    }

    /// What to show as the database in messages: the path or the URL.
    pub fn display(&self) -> String {
        match self {
            Database::File(path) => path.display().to_string(),
            Database::Postgres { url, .. } => url.clone(),
        }
    }

    /// The account registry; on PostgreSQL its writes are log entries first.
    pub fn accounts(&self) -> Result<AccountStore> {
        let mut accounts = AccountStore::open(self.sqlite_path())?;
        if let Some(replica) = self.replica() {
            replica.instrument(accounts.conn_mut())?;
        }
        Ok(accounts)
    }

    /// The record storage; on PostgreSQL its writes are log entries first, and it writes
    /// Automerge changes as an actor of its own (no two relays share one).
    pub fn records(&self) -> Result<SqliteRecords> {
        let mut records = SqliteRecords::open(self.sqlite_path())?;
        if let Some(replica) = self.replica() {
            let store = records.store();
            // Before the connection is watched: the actor id stays this copy's own.
            store.rotate_actor()?;
            replica.instrument(store.connection_mut())?;
        }
        Ok(records)
    }

    /// The record storage and reads behind the seam (see [`RecordBackend::on`]): the file
    /// itself, or the local copy with writes in the deployment's write turn.
    pub fn record_backend(&self) -> Result<RecordBackend> {
        Ok(RecordBackend::on(self.records()?, self.replica().cloned()))
    }

    /// Runs `f` holding the deployment's write turn (PostgreSQL), or at once (a file).
    pub fn write<T, E>(
        &self,
        f: impl FnOnce() -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E>
    where
        E: From<crate::replica::ReplicaError>,
    {
        match self.replica() {
            None => f(),
            Some(replica) => replica.write(f)?,
        }
    }
}
