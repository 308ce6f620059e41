//! Where the relay keeps records. SQLite (the core's [`Store`] on the relay's database file) is
//! the embedded default; [`RecordStorage`] is the seam a PostgreSQL backend implements to run
//! several stateless relays (see ARCHITECTURE.md).

use std::path::Path;

use fieldledger_core::model::{Author, Role, unit::profile_id};
use fieldledger_core::store::Identity;
use fieldledger_core::sync::{
    Peer, RelayEvent, Scope, SyncRequest, SyncResponse, handle_request_with_events,
};
use fieldledger_core::{Edit, RecordKind, Store};

use crate::accounts::Principal;

/// Result of record storage operations.
pub type Result<T> = fieldledger_core::Result<T>;

/// What the relay needs from its record storage.
pub trait RecordStorage: Send + 'static {
    /// Answers one sync round for `peer`: commits accepted pushes before answering. Also
    /// returns what the audit log keeps of the round (sign-offs, unit moves, refusals).
    fn sync(
        &mut self,
        peer: &Peer,
        request: &SyncRequest,
    ) -> Result<(SyncResponse, Vec<RelayEvent>)>;
    /// Creates a unit's profile document (its categories and visit targets) if missing.
    fn ensure_unit_profile(&mut self, code: &str, name: &str) -> Result<()>;
    /// The record store, for reports and supervision views.
    fn store(&mut self) -> &mut Store;
}

/// The embedded default: the core's SQLite store.
pub struct SqliteRecords {
    store: Store,
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
        Self::from_store(Store::open(path)?)
    }

    /// An in-memory store (tests).
    pub fn open_in_memory() -> Result<SqliteRecords> {
        Self::from_store(Store::open_in_memory()?)
    }

    fn from_store(mut store: Store) -> Result<SqliteRecords> {
        if store.identity().is_none() {
            store.set_identity(relay_identity())?;
        }
        Ok(SqliteRecords { store })
    }
}

impl RecordStorage for SqliteRecords {
    fn sync(
        &mut self,
        peer: &Peer,
        request: &SyncRequest,
    ) -> Result<(SyncResponse, Vec<RelayEvent>)> {
        handle_request_with_events(&mut self.store, peer, request)
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

    fn store(&mut self) -> &mut Store {
        &mut self.store
    }
}

/// The sync peer a principal acts as: its user and device, its bound actor, its units.
pub fn peer_for(principal: &Principal) -> Peer {
    let role: Role = principal.role.as_str().parse().unwrap_or(Role::Staff);
    let author = Author {
        user: principal.user_login.clone(),
        name: principal.user_name.clone(),
        device: principal.device_id.clone(),
        role,
        unit: principal.unit.clone(),
    };
    Peer {
        scope: Scope::for_author(&author),
        author,
        actor_hex: principal.actor_hex.clone(),
    }
}
