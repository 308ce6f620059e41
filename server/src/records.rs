//! Where the relay keeps records, behind two traits that say what the relay needs:
//! [`RecordStorage`] (commit checked sync rounds in groups, make a person's write outside
//! sync, keep unit profiles and the directory of users) and [`RecordReads`] (a read-only view
//! of the records as committed, for sync answers, push checks, reports, supervision and pages).
//! Two backends implement them: the embedded default, [`SqliteRecords`] and [`ReaderPool`] on
//! the relay's SQLite file, and a PostgreSQL deployment, [`ReplicatedRecords`] and
//! [`ReplicatedReads`] on the relay's local copy of it (see [`crate::replica`]): writes there
//! take the deployment's write turn and become log entries, reads first apply what other
//! relays committed.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::NaiveDate;
use fieldledger_core::model::campaign::CampaignPlan;
use fieldledger_core::model::{Author, FieldValue, Role, unit::profile_id};
use fieldledger_core::store::campaign::{CampaignSet, KnownUser};
use fieldledger_core::store::{DocCache, ErasureOutcome, ErasureRequest, Identity};
use fieldledger_core::sync::{
    CheckedPushes, Peer, PushOutcome, RelayEvent, SyncRequest, commit_checked,
};
use fieldledger_core::{ChangeHash, Edit, RecordKind, Store};

use crate::accounts::Principal;
use crate::accounts::directory::LoginDirectory;
use crate::replica::Replica;

/// Result of record storage operations.
pub type Result<T> = fieldledger_core::Result<T>;

/// What the relay needs from its record storage: every write it makes to records.
pub trait RecordStorage: Send + std::fmt::Debug + 'static {
    /// Commits the checked pushes of several sync rounds in one transaction (one disk sync),
    /// each round in a savepoint of its own, and answers each round only once the transaction
    /// is on disk. A round whose commit fails is answered with its error and leaves the
    /// others' writes alone. See [`fieldledger_core::sync::check_pushes`] for the checking,
    /// done before on a reader.
    fn commit_group(&mut self, group: Vec<PendingCommit>);
    /// Makes `write` as `author` (a person signed in to the dashboard, or the admin command
    /// line) in one transaction, its index rows and feed entry with it: the record's kind
    /// rules and the author's role decide, as for a device's push. A rule the write breaks is
    /// the error (nothing is written).
    fn write_as(&mut self, author: &Identity, write: RecordWrite) -> Result<Written>;
    /// Creates a unit's profile document (its categories and visit targets) if missing.
    fn ensure_unit_profile(&mut self, code: &str, name: &str) -> Result<()>;
    /// Brings the directory of users every device receives in step with the accounts.
    fn set_directory(&mut self, users: &[KnownUser]) -> Result<bool>;
}

/// Where the relay reads records: a read-only view of them as committed, beside the writer
/// and other readers (blocking: call it on a blocking thread).
pub trait RecordReads: Send + Sync + std::fmt::Debug + 'static {
    /// Runs `read` on a read-only view of the records.
    fn read_view(&self, read: &mut dyn FnMut(&Store)) -> Result<()>;
}

/// Runs `f` on a read-only view of `reads` and gives back what it returns.
pub fn read_records<T, E: From<fieldledger_core::Error>>(
    reads: &dyn RecordReads,
    f: impl FnOnce(&Store) -> std::result::Result<T, E>,
) -> std::result::Result<T, E> {
    let mut f = Some(f);
    let mut out = None;
    reads.read_view(&mut |store| {
        if let Some(f) = f.take() {
            out = Some(f(store));
        }
    })?;
    out.unwrap_or_else(|| {
        Err(fieldledger_core::Error::Io(std::io::Error::other("the records were not read")).into())
    })
}

/// A write to records the relay makes outside sync, for a person: the dashboard's forms and
/// the admin command line.
#[derive(Debug, Clone)]
pub enum RecordWrite {
    /// Sets fields of a record, or appends entries to its lists.
    Edit {
        /// The record.
        id: String,
        /// The edits, made together.
        edits: Vec<Edit>,
    },
    /// Sets fields of a record as it was read at `heads`, only if it is still at them (the
    /// edits were worked out from what was read): otherwise nothing is written and the write
    /// comes to [`Written::Stale`], to be read and worked out again.
    EditAt {
        /// The record.
        id: String,
        /// Its heads when it was read.
        heads: Vec<ChangeHash>,
        /// The edits, made together.
        edits: Vec<Edit>,
    },
    /// Keeps one of a field's conflicting values.
    ResolveConflict {
        /// The record.
        id: String,
        /// The field in conflict.
        field: String,
        /// The value chosen.
        value: FieldValue,
    },
    /// Moves a visit's demand to 办理状态 `to`, with its 答复情况 when given.
    DemandStatus {
        /// The visit.
        id: String,
        /// The demand's entry id.
        entry: String,
        /// The new 办理状态.
        to: String,
        /// 答复情况, when given with the step.
        response: Option<String>,
    },
    /// Moves an inspection's problem to 整改状态 `to`.
    RectificationStatus {
        /// The inspection.
        id: String,
        /// The problem's entry id.
        entry: String,
        /// The new 整改状态.
        to: String,
    },
    /// Signs a petition case off (销号).
    SignOff {
        /// The case.
        id: String,
        /// 说明.
        note: String,
    },
    /// Reopens a signed-off petition case.
    Reopen {
        /// The case.
        id: String,
        /// Why (说明).
        reason: String,
    },
    /// Sets the campaign's rounds and dates.
    SetCampaign(CampaignPlan),
    /// Writes a unit's monthly report of `month`, and submits it when `submitted_on` is given.
    Monthly {
        /// The unit.
        unit: String,
        /// `YYYY-MM`.
        month: String,
        /// 活动经验做法.
        experience: String,
        /// 存在问题.
        problems: String,
        /// 报送日期, when it is submitted.
        submitted_on: Option<NaiveDate>,
    },
    /// Erases personal data from a record and its whole history.
    Erase {
        /// The record.
        id: String,
        /// What to erase and mask, and why.
        request: ErasureRequest,
    },
}

/// What a [`RecordWrite`] came to.
#[derive(Debug)]
pub enum Written {
    /// The record was changed.
    Changed,
    /// An [`RecordWrite::EditAt`] found the record changed since it was read: nothing was
    /// written.
    Stale,
    /// The campaign was set.
    Campaign(CampaignSet),
    /// The monthly report (its id).
    Monthly(String),
    /// The erasure, with the strings it masked (masked in accounts and audit the same way).
    Erased {
        /// What was erased.
        outcome: ErasureOutcome,
        /// The strings masked.
        terms: Vec<String>,
    },
}

/// Makes `write` on `store` as `author`.
fn write_on(store: &mut Store, author: &Identity, write: RecordWrite) -> Result<Written> {
    store.act_as(author.clone(), |s| {
        Ok(match write {
            RecordWrite::Edit { id, edits } => {
                s.edit(&id, &edits)?;
                Written::Changed
            }
            RecordWrite::EditAt { id, heads, edits } => {
                if s.heads(&id)? != heads {
                    return Ok(Written::Stale);
                }
                s.edit(&id, &edits)?;
                Written::Changed
            }
            RecordWrite::ResolveConflict { id, field, value } => {
                s.resolve_conflict(&id, &field, value)?;
                Written::Changed
            }
            RecordWrite::DemandStatus {
                id,
                entry,
                to,
                response,
            } => {
                s.set_demand_status(&id, &entry, &to, response.as_deref())?;
                Written::Changed
            }
            RecordWrite::RectificationStatus { id, entry, to } => {
                s.set_rectification_status(&id, &entry, &to)?;
                Written::Changed
            }
            RecordWrite::SignOff { id, note } => {
                s.sign_off(&id, &note)?;
                Written::Changed
            }
            RecordWrite::Reopen { id, reason } => {
                s.reopen(&id, &reason)?;
                Written::Changed
            }
            RecordWrite::SetCampaign(plan) => Written::Campaign(s.set_campaign(&plan)?),
            RecordWrite::Monthly {
                unit,
                month,
                experience,
                problems,
                submitted_on,
            } => Written::Monthly(s.write_monthly(
                Some(&unit),
                &month,
                Some(&experience),
                Some(&problems),
                submitted_on,
            )?),
            RecordWrite::Erase { id, request } => {
                // The terms are read before: the erasure removes them.
                let terms = s.erasure_terms(&id, &request)?;
                let outcome = s.erase_personal_data(&id, &request)?;
                Written::Erased { outcome, terms }
            }
        })
    })
}

/// A relay's records on one backend: where it writes them and where it reads them.
#[derive(Debug)]
pub struct RecordBackend {
    /// Where the relay writes records.
    pub storage: Box<dyn RecordStorage>,
    /// Where the relay reads them.
    pub reads: Arc<dyn RecordReads>,
}

impl RecordBackend {
    /// The backend over `records`: the SQLite file itself, or with `replica` the local copy
    /// of a PostgreSQL deployment that `records` is a connection to.
    pub fn on(records: SqliteRecords, replica: Option<Replica>) -> RecordBackend {
        match replica {
            None => RecordBackend {
                reads: Arc::new(records.readers()),
                storage: Box::new(records),
            },
            Some(replica) => RecordBackend {
                reads: Arc::new(ReplicatedReads::new(records.readers(), replica.clone())),
                storage: Box::new(ReplicatedRecords::new(records, replica)),
            },
        }
    }
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
    docs: Arc<DocCache>,
}

/// The memory the relay's loaded documents may take (estimated): records many devices sync
/// at once are loaded once, not once per device.
pub const DOC_CACHE_BYTES: u64 = 64 << 20;

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
        let docs = Arc::new(DocCache::new(DOC_CACHE_BYTES));
        store.set_doc_cache(docs.clone());
        Ok(SqliteRecords {
            store,
            path,
            users,
            docs,
        })
    }

    /// Read-only connections to the same file, checking person fields against the same
    /// accounts (an in-memory store has none: its reads fail).
    pub fn readers(&self) -> ReaderPool {
        ReaderPool {
            path: self.path.clone(),
            users: self.users.clone(),
            docs: self.docs.clone(),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// The record store itself, for the admin command line's reads and for tests; the relay
    /// writes through [`RecordStorage`].
    pub fn store(&mut self) -> &mut Store {
        &mut self.store
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

    fn write_as(&mut self, author: &Identity, write: RecordWrite) -> Result<Written> {
        write_on(&mut self.store, author, write)
    }

    fn set_directory(&mut self, users: &[KnownUser]) -> Result<bool> {
        self.store.set_directory(users)
    }
}

/// A PostgreSQL deployment's record storage: the same record tables on the relay's local
/// copy, each write made holding the deployment's write turn on a copy caught up with the log
/// first, and appended to the log as it commits (or not committed at all).
pub struct ReplicatedRecords {
    copy: SqliteRecords,
    replica: Replica,
}

impl std::fmt::Debug for ReplicatedRecords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplicatedRecords").finish_non_exhaustive()
    }
}

impl ReplicatedRecords {
    /// The record storage over `copy`, a connection to `replica`'s local copy that the
    /// replica instruments (see [`crate::database::Database::records`]).
    pub fn new(copy: SqliteRecords, replica: Replica) -> ReplicatedRecords {
        ReplicatedRecords { copy, replica }
    }

    /// Runs `f` on the copy in the deployment's write turn.
    fn in_turn<T>(&mut self, f: impl FnOnce(&mut SqliteRecords) -> Result<T>) -> Result<T> {
        let copy = &mut self.copy;
        self.replica
            .write(|| f(copy))
            .map_err(|e| fieldledger_core::Error::Io(std::io::Error::other(e.to_string())))?
    }
}

impl RecordStorage for ReplicatedRecords {
    fn commit_group(&mut self, group: Vec<PendingCommit>) {
        let copy = &mut self.copy;
        let mut group = Some(group);
        let turn = self.replica.write(|| {
            if let Some(group) = group.take() {
                copy.commit_group(group);
            }
        });
        if let (Err(e), Some(group)) = (turn, group) {
            // The turn was not taken: nothing was written, and each round hears why.
            for job in group {
                let _ = job
                    .reply
                    .send(Err(fieldledger_core::Error::Io(std::io::Error::other(
                        format!("the pushes were not committed: {e}"),
                    ))));
            }
        }
    }

    fn write_as(&mut self, author: &Identity, write: RecordWrite) -> Result<Written> {
        self.in_turn(|copy| copy.write_as(author, write))
    }

    fn ensure_unit_profile(&mut self, code: &str, name: &str) -> Result<()> {
        self.in_turn(|copy| copy.ensure_unit_profile(code, name))
    }

    fn set_directory(&mut self, users: &[KnownUser]) -> Result<bool> {
        self.in_turn(|copy| copy.set_directory(users))
    }
}

/// A PostgreSQL deployment's record reads: read-only connections to the relay's local copy,
/// caught up with the log first, so what another relay committed is read here too (a device
/// may change relays between rounds).
#[derive(Debug)]
pub struct ReplicatedReads {
    copy: ReaderPool,
    replica: Replica,
}

impl ReplicatedReads {
    /// Reads on `copy`, read-only connections to `replica`'s local copy.
    pub fn new(copy: ReaderPool, replica: Replica) -> ReplicatedReads {
        ReplicatedReads { copy, replica }
    }
}

impl RecordReads for ReplicatedReads {
    fn read_view(&self, read: &mut dyn FnMut(&Store)) -> Result<()> {
        self.replica
            .catch_up()
            .map_err(|e| fieldledger_core::Error::Io(std::io::Error::other(e.to_string())))?;
        self.copy.read_view(read)
    }
}

/// The accounts' users as the directory of users lists them.
pub fn known_users(
    accounts: &dyn crate::accounts::AccountRegistry,
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
/// (feed pages, wanted documents), push checks, reports and pages read here, in parallel with
/// each other and with the one writer (WAL), so one request's bulk reads never hold the lock
/// other devices wait on.
pub struct ReaderPool {
    path: Option<PathBuf>,
    users: Option<Arc<LoginDirectory>>,
    docs: Arc<DocCache>,
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

impl RecordReads for ReaderPool {
    fn read_view(&self, read: &mut dyn FnMut(&Store)) -> Result<()> {
        let Some(path) = &self.path else {
            return Err(fieldledger_core::Error::Io(std::io::Error::other(
                "an in-memory record store has no read-only connections",
            )));
        };
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let store = match idle {
            Some(s) => s,
            None => {
                let mut store = Store::open_reader(path)?;
                if let Some(users) = &self.users {
                    store.set_users(users.clone());
                }
                store.set_doc_cache(self.docs.clone());
                store
            }
        };
        // One snapshot for the whole read: a sync round's answer or a report is consistent.
        store.read_snapshot(|store| read(store))?;
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < IDLE_READERS {
            idle.push(store);
        }
        Ok(())
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
    fn an_edit_worked_out_from_a_read_is_made_only_onto_the_version_read() {
        let mut records = SqliteRecords::open_in_memory().unwrap();
        let office = relay_identity();
        let id = dispute(records.store(), "甲");
        let read_at = records.store().heads(&id).unwrap();
        // Another person's change lands between the read and the write.
        let theirs = RecordWrite::Edit {
            id: id.clone(),
            edits: vec![Edit::text("remarks", "他人的修改")],
        };
        assert!(matches!(
            records.write_as(&office, theirs).unwrap(),
            Written::Changed
        ));
        let mine = |heads: Vec<ChangeHash>| RecordWrite::EditAt {
            id: id.clone(),
            heads,
            edits: vec![Edit::text("remarks", "我的修改")],
        };
        assert!(matches!(
            records.write_as(&office, mine(read_at)).unwrap(),
            Written::Stale
        ));
        let remarks = |records: &mut SqliteRecords| match records.store().record(&id).unwrap() {
            fieldledger_core::Record::Dispute(d) => d.remarks,
            other => panic!("{other:?}"),
        };
        assert_eq!(remarks(&mut records), "他人的修改", "nothing was written");
        // Read again, worked out again: it is made.
        let now = records.store().heads(&id).unwrap();
        assert!(matches!(
            records.write_as(&office, mine(now)).unwrap(),
            Written::Changed
        ));
        assert_eq!(remarks(&mut records), "我的修改");
    }

    #[test]
    fn a_rule_a_write_breaks_is_its_error_and_writes_nothing() {
        let mut records = SqliteRecords::open_in_memory().unwrap();
        let id = dispute(records.store(), "甲");
        let staff = fieldledger_core::testing::identity("zhang", "WJK", Role::Staff, "D9");
        let before = records.store().heads(&id).unwrap();
        let sign_off = RecordWrite::SignOff {
            id: id.clone(),
            note: "办结".into(),
        };
        // A dispute is no petition case: signing it off is refused.
        assert!(records.write_as(&staff, sign_off).is_err());
        assert_eq!(records.store().heads(&id).unwrap(), before);
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
