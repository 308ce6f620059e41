//! Where the relay keeps records. SQLite (the core's [`Store`] on the relay's database file) is
//! the embedded default; [`RecordStorage`] is the seam a PostgreSQL backend implements to run
//! several stateless relays (see ARCHITECTURE.md).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use fieldledger_core::model::{Author, Role, unit::profile_id};
use fieldledger_core::store::Identity;
use fieldledger_core::store::campaign::KnownUser;
use fieldledger_core::sync::{
    CheckedPushes, Peer, PushOutcome, RelayEvent, SyncRequest, commit_checked,
};
use fieldledger_core::{Edit, RecordKind, Store};

use crate::accounts::Principal;
use crate::accounts::directory::LoginDirectory;

/// Result of record storage operations.
pub type Result<T> = fieldledger_core::Result<T>;

/// What the relay needs from its record storage.
pub trait RecordStorage: Send + 'static {
    /// Commits the checked pushes of several sync rounds in one transaction (one disk sync),
    /// each round in a savepoint of its own, and answers each round only once the transaction
    /// is on disk. A round whose commit fails is answered with its error and leaves the
    /// others' writes alone. See [`fieldledger_core::sync::check_pushes`] for the checking,
    /// done before on a reader.
    fn commit_group(&mut self, group: Vec<PendingCommit>);
    /// Creates a unit's profile document (its categories and visit targets) if missing.
    fn ensure_unit_profile(&mut self, code: &str, name: &str) -> Result<()>;
    /// Brings the directory of users every device receives in step with the accounts.
    fn set_directory(&mut self, users: &[KnownUser]) -> Result<bool>;
    /// The record store, for reports and supervision views.
    fn store(&mut self) -> &mut Store;
}

/// What a committed sync round came to: the pushes accepted and refused, and what the audit
/// log keeps of them (sign-offs, unit moves, refusals).
pub type Committed = Result<(PushOutcome, Vec<RelayEvent>)>;

/// One device's sync round, its pushes checked, waiting for the writer.
pub struct PendingCommit {
    /// The device.
    pub peer: Peer,
    /// Its request.
    pub request: Arc<SyncRequest>,
    /// Its pushes, checked on a reader.
    pub checked: CheckedPushes,
    /// Where the outcome goes once it is on disk.
    pub reply: tokio::sync::oneshot::Sender<Committed>,
}

impl std::fmt::Debug for PendingCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingCommit")
            .field("device", &self.peer.author.device)
            .field("checked", &self.checked)
            .finish_non_exhaustive()
    }
}

/// The embedded default: the core's SQLite store.
pub struct SqliteRecords {
    store: Store,
    path: Option<PathBuf>,
    users: Option<Arc<LoginDirectory>>,
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
        let users = Arc::new(LoginDirectory::open(path)?);
        store.set_users(users.clone());
        Self::from_store(store, Some(path.to_owned()), Some(users))
    }

    /// An in-memory store (tests).
    pub fn open_in_memory() -> Result<SqliteRecords> {
        Self::from_store(Store::open_in_memory()?, None, None)
    }

    fn from_store(
        mut store: Store,
        path: Option<PathBuf>,
        users: Option<Arc<LoginDirectory>>,
    ) -> Result<SqliteRecords> {
        if store.identity().is_none() {
            store.set_identity(relay_identity())?;
        }
        Ok(SqliteRecords { store, path, users })
    }

    /// Read-only connections to the same file, checking person fields against the same
    /// accounts (none for an in-memory store).
    pub fn readers(&self) -> Option<ReaderPool> {
        let path = self.path.clone()?;
        Some(ReaderPool {
            path,
            users: self.users.clone(),
            idle: Mutex::new(Vec::new()),
        })
    }
}

impl RecordStorage for SqliteRecords {
    fn commit_group(&mut self, group: Vec<PendingCommit>) {
        let mut done = Vec::with_capacity(group.len());
        let committed = self.store.batch(|store| {
            for job in group {
                let PendingCommit {
                    peer,
                    request,
                    checked,
                    reply,
                } = job;
                // A savepoint of its own: a round that fails rolls back only its writes.
                let outcome = store.batch(|s| commit_checked(s, &peer, &request, checked));
                done.push((reply, outcome));
            }
            Ok(())
        });
        for (reply, outcome) in done {
            let outcome = match &committed {
                Ok(()) => outcome,
                Err(e) => Err(fieldledger_core::Error::Io(std::io::Error::other(format!(
                    "the pushes were not committed: {e}"
                )))),
            };
            // A device that gave up waiting still has its round committed, as before.
            let _ = reply.send(outcome);
        }
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
    users: Option<Arc<LoginDirectory>>,
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
            None => {
                let mut store = Store::open_reader(&self.path)?;
                if let Some(users) = &self.users {
                    store.set_users(users.clone());
                }
                store
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use fieldledger_core::sync::{DeviceSync, check_pushes};
    use fieldledger_core::testing::{memory_store, peer_of};

    fn request_of(s: &Store) -> SyncRequest {
        DeviceSync::new(s)
            .unwrap()
            .next_request(s)
            .unwrap()
            .expect("a request")
    }

    fn dispute(s: &mut Store, name: &str) -> String {
        s.create(RecordKind::Dispute, None, &[Edit::text("name", name)])
            .unwrap()
    }

    #[test]
    fn a_group_commit_answers_each_round_and_a_failed_round_leaves_the_others_written() {
        let mut records = SqliteRecords::open_in_memory().unwrap();
        let mut a = memory_store("zhang", "WJK", Role::Staff, "D1");
        let mut b = memory_store("li", "WJK", Role::Staff, "D2");
        let mut c = memory_store("wang", "WJK", Role::Staff, "D3");
        let ids = [
            dispute(&mut a, "甲"),
            dispute(&mut b, "乙"),
            dispute(&mut c, "丙"),
        ];
        let mut replies = Vec::new();
        let mut group = Vec::new();
        for (i, device) in [&a, &b, &c].into_iter().enumerate() {
            let request = Arc::new(request_of(device));
            let peer = peer_of(device);
            // The middle round carries the checks of another request: its commit fails.
            let checked_for = if i == 1 {
                request_of(&a)
            } else {
                (*request).clone()
            };
            let checked = check_pushes(records.store(), &peer, &checked_for).unwrap();
            let (reply, outcome) = tokio::sync::oneshot::channel();
            replies.push(outcome);
            group.push(PendingCommit {
                peer,
                request,
                checked,
                reply,
            });
        }
        records.commit_group(group);
        let outcomes: Vec<Committed> = replies
            .into_iter()
            .map(|mut r| r.try_recv().expect("every round is answered"))
            .collect();
        assert_eq!(outcomes[0].as_ref().unwrap().0.accepted.len(), 1);
        assert!(outcomes[1].is_err(), "{:?}", outcomes[1]);
        assert_eq!(outcomes[2].as_ref().unwrap().0.accepted.len(), 1);
        let store = records.store();
        assert!(store.contains(&ids[0]).unwrap());
        assert!(
            !store.contains(&ids[1]).unwrap(),
            "the failed round wrote nothing"
        );
        assert!(store.contains(&ids[2]).unwrap());
    }
}
