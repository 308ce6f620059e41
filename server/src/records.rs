//! Where the relay keeps records. SQLite (the core's [`Store`] on the relay's database file) is
//! the embedded default; [`RecordStorage`] is the seam a PostgreSQL backend implements to run
//! several stateless relays (see ARCHITECTURE.md).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use fieldledger_core::model::{Author, Role, unit::profile_id};
use fieldledger_core::store::Identity;
use fieldledger_core::store::campaign::KnownUser;
use fieldledger_core::sync::{Peer, PushOutcome, RelayEvent, SyncRequest, apply_pushes};
use fieldledger_core::{Edit, RecordKind, Store};

use crate::accounts::Principal;
use crate::accounts::directory::LoginDirectory;

/// Result of record storage operations.
pub type Result<T> = fieldledger_core::Result<T>;

/// What the relay needs from its record storage.
pub trait RecordStorage: Send + 'static {
    /// The writing half of a sync round: checks and commits the pushes, and returns what the
    /// audit log keeps of them (sign-offs, unit moves, refusals); see
    /// [`fieldledger_core::sync::answer_reads`] for the answer, read on a reader.
    fn apply_pushes(
        &mut self,
        peer: &Peer,
        request: &SyncRequest,
    ) -> Result<(PushOutcome, Vec<RelayEvent>)>;
    /// Creates a unit's profile document (its categories and visit targets) if missing.
    fn ensure_unit_profile(&mut self, code: &str, name: &str) -> Result<()>;
    /// Brings the directory of users every device receives in step with the accounts.
    fn set_directory(&mut self, users: &[KnownUser]) -> Result<bool>;
    /// The record store, for reports and supervision views.
    fn store(&mut self) -> &mut Store;
}

/// The embedded default: the core's SQLite store.
pub struct SqliteRecords {
    store: Store,
    path: Option<PathBuf>,
}

impl std::fmt::Debug for SqliteRecords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteRecords").finish_non_exhaustive()
    }
}

/// An identity with the bureau office's role, for writes the relay makes itself or on behalf
/// of an office user outside sync (the admin command line).
pub fn office_identity(login: &str, name: &str, device: &str, device_code: &str) -> Identity {
    Identity {
        author: Author {
            user: login.into(),
            name: name.into(),
            device: device.into(),
            role: Role::Office,
            unit: String::new(),
        },
        device_code: device_code.into(),
        relay_url: None,
        token: None,
        relay_ca_pem: None,
    }
}

/// The author the relay itself writes as (unit profiles; edits from the office dashboard
/// are written as the signed-in user instead).
fn relay_identity() -> Identity {
    office_identity("relay", "fieldledger relay", "relay", "R")
}

impl SqliteRecords {
    /// Opens the record tables in the relay's database file.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteRecords> {
        let path = path.as_ref();
        let mut store = Store::open(path)?;
        // Person fields that name a user by login are checked against the accounts.
        store.set_users(std::sync::Arc::new(LoginDirectory::open(path)?));
        Self::from_store(store, Some(path.to_owned()))
    }

    /// An in-memory store (tests).
    pub fn open_in_memory() -> Result<SqliteRecords> {
        Self::from_store(Store::open_in_memory()?, None)
    }

    fn from_store(mut store: Store, path: Option<PathBuf>) -> Result<SqliteRecords> {
        if store.identity().is_none() {
            store.set_identity(relay_identity())?;
        }
        Ok(SqliteRecords { store, path })
    }

    /// Read-only connections to the same file (none for an in-memory store).
    pub fn readers(&self) -> Option<ReaderPool> {
        self.path.clone().map(ReaderPool::new)
    }
}

impl RecordStorage for SqliteRecords {
    fn apply_pushes(
        &mut self,
        peer: &Peer,
        request: &SyncRequest,
    ) -> Result<(PushOutcome, Vec<RelayEvent>)> {
        apply_pushes(&mut self.store, peer, request)
    }

    fn ensure_unit_profile(&mut self, code: &str, name: &str) -> Result<()> {
        let id = profile_id(code);
        if self.store.contains(&id)? {
            return Ok(());
        }
        self.store.create_with_id(
            &id,
            RecordKind::UnitProfile,
            Some(code),
            &[Edit::text("unit_name", name)],
            None,
        )
    }

    fn set_directory(&mut self, users: &[KnownUser]) -> Result<bool> {
        self.store.set_directory(users)
    }

    fn store(&mut self) -> &mut Store {
        &mut self.store
    }
}

/// The accounts' users as the directory of users lists them.
pub fn known_users(
    accounts: &crate::accounts::AccountStore,
) -> crate::error::Result<Vec<KnownUser>> {
    Ok(accounts
        .list_users()?
        .into_iter()
        .map(|u| KnownUser {
            login: u.login,
            name: u.name,
            unit: u.unit,
            role: u.role.to_string(),
        })
        .collect())
}

/// Read-only connections to the relay's SQLite file, reused between requests: sync answers
/// (feed pages, wanted documents) read here, in parallel with each other and with the one
/// writer (WAL), so one request's bulk reads never hold the lock other devices wait on.
pub struct ReaderPool {
    path: PathBuf,
    idle: Mutex<Vec<Store>>,
}

impl std::fmt::Debug for ReaderPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReaderPool")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// Idle reader connections kept open.
const IDLE_READERS: usize = 8;

impl ReaderPool {
    /// A pool over the store file at `path` (opened lazily).
    pub fn new(path: PathBuf) -> ReaderPool {
        ReaderPool {
            path,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs `f` on a read-only connection (blocking: call it on a blocking thread).
    pub fn read<T, E: From<fieldledger_core::Error>>(
        &self,
        f: impl FnOnce(&Store) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let store = match idle {
            Some(s) => s,
            None => Store::open_reader(&self.path)?,
        };
        let out = f(&store);
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < IDLE_READERS {
            idle.push(store);
        }
        out
    }
}

/// The sync peer a principal acts as: its user and device, its bound actor, its units.
pub fn peer_for(principal: &Principal) -> Peer {
    let author = Author {
        user: principal.user_login.clone(),
        name: principal.user_name.clone(),
        device: principal.device_id.clone(),
        role: principal.role,
        unit: principal.unit.clone(),
    };
    Peer {
        scope: principal.scope(),
        author,
        actor_hex: principal.actor_hex.clone(),
    }
}
