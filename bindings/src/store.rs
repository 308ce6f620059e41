//! `FieldStore`: the entry point of the app, one local store behind a mutex.
//!
//! Every method locks the store for the duration of one core call, so calls from any number
//! of threads are safe and each sees the writes of the ones before. `sync` locks it only
//! between network round trips, so the app can keep reading and writing while it runs.

use std::path::Path;
use std::sync::{Arc, Mutex};

use fieldledger_client::HttpTransport;
use fieldledger_client::input::{self, FieldPath};
use fieldledger_core::model::{self, Record};
use fieldledger_core::store::DisputeFilter;
use fieldledger_core::{Edit, Store};

use crate::error::{FfiError, Result};
use crate::export::{self, LedgerFormat};
use crate::fields::{self, FieldPair};
use crate::records::{
    ConflictRecord, DisputeQuery, DisputeRecord, HistoryRecord, Identity, PetitionRecord,
    RecordKind, RecordSummary, RiskRecord, ScreeningRecord, VisitRecord,
};
use crate::sync::{self, SyncProgressListener, SyncReport};

/// Locks a store, recovering from a panic in another thread.
pub(crate) use fieldledger_core::sync::lock_store as lock;

/// A local store of records on this device, safe to call from any thread.
#[derive(uniffi::Object)]
pub struct FieldStore {
    store: Mutex<Store>,
    /// Held for a whole sync, so two syncs of one store run one after the other.
    syncing: Mutex<()>,
}

impl FieldStore {
    /// Runs a core call on the locked store.
    pub(crate) fn with<T>(
        &self,
        f: impl FnOnce(&mut Store) -> fieldledger_core::Result<T>,
    ) -> Result<T> {
        Ok(f(&mut lock(&self.store))?)
    }

    fn wrap(store: Store) -> Arc<Self> {
        Arc::new(FieldStore {
            store: Mutex::new(store),
            syncing: Mutex::new(()),
        })
    }

    fn typed<T>(
        &self,
        id: &str,
        expected: model::RecordKind,
        pick: impl FnOnce(&Record) -> Option<T>,
    ) -> Result<T> {
        let record = self.with(|s| s.record(id))?;
        pick(&record).ok_or_else(|| {
            fieldledger_core::Error::WrongKind {
                id: id.to_owned(),
                expected,
                actual: record.meta().kind,
            }
            .into()
        })
    }

    fn all<T>(
        &self,
        kind: model::RecordKind,
        pick: impl Fn(&Record) -> Option<T>,
    ) -> Result<Vec<T>> {
        let records = self.with(|s| s.records(kind, None))?;
        Ok(records.iter().filter_map(pick).collect())
    }

    fn create_kind(
        &self,
        kind: model::RecordKind,
        unit: Option<String>,
        fields: Vec<FieldPair>,
    ) -> Result<String> {
        let edits = fields::set_edits(kind, &fields)?;
        self.with(|s| s.create(kind, unit.as_deref(), &edits))
    }

    fn kind_of(store: &Store, id: &str) -> fieldledger_core::Result<model::RecordKind> {
        Ok(store.record(id)?.meta().kind)
    }

    /// Applies edits built from the record's kind, all under one lock.
    fn edit_with(
        &self,
        id: &str,
        build: impl FnOnce(model::RecordKind) -> Result<Vec<Edit>>,
    ) -> Result<()> {
        let mut s = lock(&self.store);
        let kind = Self::kind_of(&s, id)?;
        let edits = build(kind)?;
        Ok(s.edit(id, &edits)?)
    }
}

#[uniffi::export]
impl FieldStore {
    /// Opens the store at `path`, creating the file if it does not exist yet.
    /// The store is encrypted at rest with `key`: 32 random bytes the app keeps in the
    /// platform keystore (Android Keystore, iOS Keychain). A wrong key fails with
    /// `WrongKey` and leaves the file unchanged.
    #[uniffi::constructor]
    pub fn open(path: String, key: Vec<u8>) -> Result<Arc<Self>> {
        if path.trim().is_empty() {
            return Err(FfiError::InvalidArgument("the store path is empty".into()));
        }
        if let Some(dir) = Path::new(&path).parent() {
            if !dir.as_os_str().is_empty() && !dir.is_dir() {
                return Err(FfiError::InvalidArgument(format!(
                    "cannot create a store in {}: no such directory",
                    dir.display()
                )));
            }
        }
        Ok(Self::wrap(Store::open_encrypted(&path, &key)?))
    }

    /// Opens the store at `path`, which must exist already, with its key.
    #[uniffi::constructor]
    pub fn open_existing(path: String, key: Vec<u8>) -> Result<Arc<Self>> {
        if !Path::new(&path).is_file() {
            return Err(FfiError::NotFound(format!("no store at {path}")));
        }
        Self::open(path, key)
    }

    /// A store in memory, gone when the object is (tests, previews).
    #[uniffi::constructor]
    pub fn in_memory() -> Result<Arc<Self>> {
        Ok(Self::wrap(Store::open_in_memory()?))
    }

    // ---- identity ---------------------------------------------------------------------

    /// Who this store acts as, or none before enrollment.
    pub fn identity(&self) -> Option<Identity> {
        lock(&self.store).identity().map(Into::into)
    }

    /// Enrolls this store with a relay using a one-time code from the office; the store
    /// starts a new writer id and keeps the identity and the relay token. `relay_ca_pem`:
    /// the PEM certificate of the bureau's own certificate authority when the relay's HTTPS
    /// certificate comes from one; kept with the identity, every later sync trusts only it.
    #[uniffi::method(default(relay_ca_pem = None))]
    pub fn enroll(
        &self,
        relay_url: String,
        code: String,
        device_label: Option<String>,
        relay_ca_pem: Option<String>,
    ) -> Result<Identity> {
        let identity = fieldledger_client::enroll(
            &mut &self.store,
            &relay_url,
            &code,
            device_label.as_deref(),
            relay_ca_pem.as_deref().map(str::as_bytes),
        )?;
        Ok((&identity).into())
    }

    // ---- creating and editing -------------------------------------------------------------

    /// Creates a record of any kind from (field, value) pairs, in the acting user's unit or,
    /// for the bureau office, in `unit`; returns its id.
    pub fn create_record(
        &self,
        kind: RecordKind,
        unit: Option<String>,
        fields: Vec<FieldPair>,
    ) -> Result<String> {
        self.create_kind(kind.into(), unit, fields)
    }

    /// Creates a visit (走访记录); returns its id.
    pub fn create_visit(&self, fields: Vec<FieldPair>) -> Result<String> {
        self.create_kind(model::RecordKind::Visit, None, fields)
    }

    /// Creates a dispute (矛盾纠纷); returns its id.
    pub fn create_dispute(&self, fields: Vec<FieldPair>) -> Result<String> {
        self.create_kind(model::RecordKind::Dispute, None, fields)
    }

    /// Creates a petition case (信访积案); returns its id.
    pub fn create_petition(&self, fields: Vec<FieldPair>) -> Result<String> {
        self.create_kind(model::RecordKind::Petition, None, fields)
    }

    /// Creates a risk assessment (社会稳定风险评估); returns its id.
    pub fn create_risk_assessment(&self, fields: Vec<FieldPair>) -> Result<String> {
        self.create_kind(model::RecordKind::RiskAssessment, None, fields)
    }

    /// Creates a screening round (排查); returns its id.
    pub fn create_screening(&self, fields: Vec<FieldPair>) -> Result<String> {
        self.create_kind(model::RecordKind::Screening, None, fields)
    }

    /// Sets one field of a record from its text (checked and normalised by the field's spec).
    pub fn set_field(&self, id: String, field: String, value: String) -> Result<()> {
        self.edit_with(&id, |kind| Ok(vec![input::set_edit(kind, &field, &value)?]))
    }

    /// Sets several fields of a record in one change.
    pub fn set_fields(&self, id: String, fields: Vec<FieldPair>) -> Result<()> {
        self.edit_with(&id, |kind| fields::set_edits(kind, &fields))
    }

    /// Appends an entry to a list field (工作措施, 群众诉求, 工作进展…); returns the entry's id.
    pub fn append_entry(&self, id: String, list: String, fields: Vec<FieldPair>) -> Result<String> {
        let mut s = lock(&self.store);
        let kind = Self::kind_of(&s, &id)?;
        let (key, values) = fields::entry_values(kind, &list, &fields)?;
        s.edit(
            &id,
            &[Edit::Append {
                list: key.to_owned(),
                values,
            }],
        )?;
        // Under the same lock nothing merged since: the new entry is the list's last.
        let json = serde_json::to_value(s.record(&id)?).map_err(fieldledger_core::Error::from)?;
        json.get(key)
            .and_then(|l| l.as_array())
            .and_then(|l| l.last())
            .and_then(|e| e.get("id"))
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .ok_or_else(|| FfiError::Internal(format!("the new entry of {key} was not found")))
    }

    /// Sets one field of one entry of a list field.
    pub fn set_entry_field(
        &self,
        id: String,
        list: String,
        entry_id: String,
        field: String,
        value: String,
    ) -> Result<()> {
        self.edit_with(&id, |kind| {
            Ok(vec![input::entry_edit(
                kind, &list, &entry_id, &field, &value,
            )?])
        })
    }

    /// Turns a demand raised on a visit into a dispute (both keep the link); returns the
    /// dispute's id.
    pub fn demand_to_dispute(
        &self,
        visit_id: String,
        demand_id: String,
        fields: Vec<FieldPair>,
    ) -> Result<String> {
        let edits = fields::set_edits(model::RecordKind::Dispute, &fields)?;
        self.with(|s| s.demand_to_dispute(&visit_id, &demand_id, &edits))
    }

    /// Signs a resolved petition case off (销号): its leader or the bureau office only.
    pub fn sign_off(&self, id: String, note: String) -> Result<()> {
        self.with(|s| s.sign_off(&id, &note))
    }

    /// Reopens a signed-off petition case, logging the reason.
    pub fn reopen(&self, id: String, reason: String) -> Result<()> {
        self.with(|s| s.reopen(&id, &reason))
    }

    /// Moves a record to another unit (bureau office only).
    pub fn move_to_unit(&self, id: String, unit: String) -> Result<()> {
        self.with(|s| s.move_to_unit(&id, &unit))
    }

    // ---- reading --------------------------------------------------------------------------

    /// Lists records of a kind (of some units, or all this device holds), newest first.
    pub fn list(&self, kind: RecordKind, units: Option<Vec<String>>) -> Result<Vec<RecordSummary>> {
        let rows = self.with(|s| s.list(kind.into(), units.as_deref()))?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// Summaries of every record with a conflict to resolve.
    pub fn list_conflicted(&self) -> Result<Vec<RecordSummary>> {
        let rows = self.with(|s| s.records_with_conflicts(None))?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// The summary of one record.
    pub fn summary(&self, id: String) -> Result<RecordSummary> {
        let kind = self.with(|s| Self::kind_of(s, &id))?;
        self.list(kind.into(), None)?
            .into_iter()
            .find(|r| r.id == id)
            .ok_or(FfiError::NotFound(format!("no record with id {id}")))
    }

    /// The kind of a record.
    pub fn kind_of_record(&self, id: String) -> Result<RecordKind> {
        Ok(self.with(|s| Self::kind_of(s, &id))?.into())
    }

    /// Any record as JSON (for kinds without a typed view: inspections, monthly reports…).
    pub fn record_json(&self, id: String) -> Result<String> {
        let record = self.with(|s| s.record(&id))?;
        Ok(serde_json::to_string(&record).map_err(fieldledger_core::Error::from)?)
    }

    /// A visit with its demands.
    pub fn visit(&self, id: String) -> Result<VisitRecord> {
        self.typed(&id, model::RecordKind::Visit, |r| match r {
            Record::Visit(v) => Some(v.into()),
            _ => None,
        })
    }

    /// A dispute with every ledger field.
    pub fn dispute(&self, id: String) -> Result<DisputeRecord> {
        self.typed(&id, model::RecordKind::Dispute, |r| match r {
            Record::Dispute(d) => Some(d.into()),
            _ => None,
        })
    }

    /// A petition case with its progress and sign-off logs.
    pub fn petition(&self, id: String) -> Result<PetitionRecord> {
        self.typed(&id, model::RecordKind::Petition, |r| match r {
            Record::Petition(p) => Some(p.into()),
            _ => None,
        })
    }

    /// A risk assessment.
    pub fn risk_assessment(&self, id: String) -> Result<RiskRecord> {
        self.typed(&id, model::RecordKind::RiskAssessment, |r| match r {
            Record::RiskAssessment(a) => Some(a.into()),
            _ => None,
        })
    }

    /// A screening round.
    pub fn screening(&self, id: String) -> Result<ScreeningRecord> {
        self.typed(&id, model::RecordKind::Screening, |r| match r {
            Record::Screening(x) => Some(x.into()),
            _ => None,
        })
    }

    /// Every visit this device holds, oldest first.
    pub fn visits(&self) -> Result<Vec<VisitRecord>> {
        self.all(model::RecordKind::Visit, |r| match r {
            Record::Visit(v) => Some(v.into()),
            _ => None,
        })
    }

    /// Disputes matching a query, in ledger order.
    pub fn disputes(&self, query: DisputeQuery) -> Result<Vec<DisputeRecord>> {
        let filter = dispute_filter(query)?;
        // An unknown category is an error, not an empty list.
        let rows = self.with(|s| {
            fieldledger_core::report::check_filter(s, &filter)?;
            s.disputes(&filter)
        })?;
        Ok(rows.iter().map(Into::into).collect())
    }

    /// Every petition case this device holds, oldest first.
    pub fn petitions(&self) -> Result<Vec<PetitionRecord>> {
        self.all(model::RecordKind::Petition, |r| match r {
            Record::Petition(p) => Some(p.into()),
            _ => None,
        })
    }

    /// Every risk assessment this device holds, oldest first.
    pub fn risk_assessments(&self) -> Result<Vec<RiskRecord>> {
        self.all(model::RecordKind::RiskAssessment, |r| match r {
            Record::RiskAssessment(a) => Some(a.into()),
            _ => None,
        })
    }

    /// Every screening round this device holds, oldest first.
    pub fn screenings(&self) -> Result<Vec<ScreeningRecord>> {
        self.all(model::RecordKind::Screening, |r| match r {
            Record::Screening(x) => Some(x.into()),
            _ => None,
        })
    }

    /// Dispute categories valid for a unit (default: the acting user's): the form's 17 and the
    /// unit's own.
    pub fn categories(&self, unit: Option<String>) -> Result<Vec<String>> {
        let s = lock(&self.store);
        let unit = match unit {
            Some(u) => u,
            None => s
                .identity()
                .map(|i| i.author.unit.clone())
                .ok_or(fieldledger_core::Error::NotEnrolled)?,
        };
        Ok(s.categories(&unit)?)
    }

    // ---- conflicts and history -------------------------------------------------------------

    /// Fields of a record that hold concurrent different values.
    pub fn conflicts(&self, id: String) -> Result<Vec<ConflictRecord>> {
        let c = self.with(|s| s.conflicts(&id))?;
        Ok(c.iter().map(Into::into).collect())
    }

    /// Resolves a conflict with a value typed as text (one of the values or a new one); the
    /// choice is a recorded edit.
    pub fn resolve_conflict(&self, id: String, field: String, value: String) -> Result<()> {
        let mut s = lock(&self.store);
        let kind = Self::kind_of(&s, &id)?;
        let value = FieldPath::parse(kind, &field)?.parse_value(&value)?;
        Ok(s.resolve_conflict(&id, &field, value)?)
    }

    /// Resolves a conflict by keeping the value at `index` of the conflict's values.
    pub fn resolve_conflict_keep(&self, id: String, field: String, index: u32) -> Result<()> {
        let mut s = lock(&self.store);
        // Keys or form labels, spelled with keys as conflicts name fields.
        let field = Self::kind_of(&s, &id)?.field_path(&field).unwrap_or(field);
        let conflict = s
            .conflicts(&id)?
            .into_iter()
            .find(|c| c.field == field)
            .ok_or_else(|| fieldledger_core::Error::NoConflict(field.clone()))?;
        let value = conflict
            .values
            .get(index as usize)
            .map(|v| v.value.clone())
            .ok_or_else(|| {
                FfiError::InvalidArgument(format!(
                    "{field} has {} values; {index} is not one of them",
                    conflict.values.len()
                ))
            })?;
        Ok(s.resolve_conflict(&id, &field, value)?)
    }

    /// Every change of a record with who made it, where and when, oldest first.
    pub fn history(&self, id: String) -> Result<Vec<HistoryRecord>> {
        let h = self.with(|s| s.history(&id))?;
        Ok(h.into_iter().map(Into::into).collect())
    }

    // ---- sync and export -----------------------------------------------------------------

    /// Syncs with the relay: pushes local changes and fetches the others'. Blocking: run it
    /// off the main thread; `listener` hears about progress after each round.
    pub fn sync(&self, listener: Option<Arc<dyn SyncProgressListener>>) -> Result<SyncReport> {
        let _one_at_a_time = self
            .syncing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut transport = HttpTransport::for_store(&lock(&self.store))?;
        sync::run(&self.store, &mut transport, listener.as_ref())
    }

    /// The unit's dispute ledger (Annex 2) as CSV or XLSX bytes: the acting user's unit, or
    /// for the bureau office every unit this device holds, consolidated.
    pub fn export_ledger(&self, format: LedgerFormat) -> Result<Vec<u8>> {
        export::ledger(&lock(&self.store), format)
    }

    /// Writes the unit's dispute ledger to a file; returns the number of bytes written.
    pub fn export_ledger_to_file(&self, format: LedgerFormat, path: String) -> Result<u64> {
        let bytes = self.export_ledger(format)?;
        std::fs::write(&path, &bytes)
            .map_err(|e| FfiError::Export(format!("cannot write {path}: {e}")))?;
        Ok(bytes.len() as u64)
    }
}

fn parse_date(field: &str, s: Option<String>) -> Result<Option<chrono::NaiveDate>> {
    s.map(|s| Ok(model::field::parse_date(field, &s)?))
        .transpose()
}

fn dispute_filter(q: DisputeQuery) -> Result<DisputeFilter> {
    if let Some(st) = &q.status {
        if st != "open" && st != "resolved" {
            return Err(FfiError::InvalidValue(format!(
                "status `{st}` is not open or resolved"
            )));
        }
    }
    Ok(DisputeFilter {
        units: q.units,
        category: q.category,
        status: q.status,
        is_major: q.is_major,
        is_group: q.is_group,
        is_cross_region: q.is_cross_region,
        is_legacy: q.is_legacy,
        found_from: parse_date("found_from", q.found_from)?,
        found_to: parse_date("found_to", q.found_to)?,
        overdue_on: parse_date("overdue_on", q.overdue_on)?,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::thread;

    use fieldledger_core::model::Role;
    use fieldledger_core::testing::{InProcessRelay, identity, memory_store};

    use super::*;
    use crate::sync::SyncProgress;

    use crate::fields::tests::pair;

    fn relay() -> Arc<Mutex<Store>> {
        let mut r = Store::open_in_memory().unwrap();
        r.set_identity(identity("relay", "OFFICE", Role::Office, "R"))
            .unwrap();
        Arc::new(Mutex::new(r))
    }

    /// A relay in memory, answering through the core's relay state machine.
    fn direct(relay: &Arc<Mutex<Store>>, device: &FieldStore) -> InProcessRelay<Arc<Mutex<Store>>> {
        InProcessRelay::new(relay.clone(), &lock(&device.store))
    }

    fn device(user: &str, code: &str) -> Arc<FieldStore> {
        FieldStore::wrap(memory_store(user, "WJK", Role::Staff, code))
    }

    struct Counting(AtomicU32);

    impl SyncProgressListener for Counting {
        fn on_progress(&self, _: SyncProgress) -> Result<()> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Err(FfiError::Internal(
                "a failing listener does not stop the sync".into(),
            ))
        }
    }

    #[test]
    fn several_threads_share_one_store_while_it_syncs() {
        let relay = relay();
        let a = device("zhang", "D1");
        let writers: Vec<_> = (0..6)
            .map(|t| {
                let a = a.clone();
                thread::spawn(move || {
                    let mut ids = Vec::new();
                    for i in 0..15 {
                        let id = a
                            .create_dispute(vec![pair("name", &format!("纠纷{t}-{i}"))])
                            .unwrap();
                        a.set_field(id.clone(), "所涉人数".into(), i.to_string())
                            .unwrap();
                        a.append_entry(id.clone(), "measures".into(), vec![pair("what", "走访")])
                            .unwrap();
                        assert_eq!(a.dispute(id.clone()).unwrap().people_involved, Some(i));
                        assert!(
                            a.set_field(id.clone(), "所涉人数".into(), "-1".into())
                                .is_err()
                        );
                        ids.push(id);
                    }
                    ids
                })
            })
            .collect();
        let listener = Arc::new(Counting(AtomicU32::new(0)));
        let syncer = {
            let (a, relay, listener) = (a.clone(), relay.clone(), listener.clone());
            thread::spawn(move || {
                for _ in 0..5 {
                    let l: Arc<dyn SyncProgressListener> = listener.clone();
                    sync::run(&a.store, &mut direct(&relay, &a), Some(&l)).unwrap();
                }
            })
        };
        let ids: Vec<String> = writers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect();
        syncer.join().unwrap();
        assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 90);
        let listed = a.list(RecordKind::Dispute, None).unwrap();
        assert_eq!(listed.len(), 90);
        let numbers: HashSet<_> = listed.iter().map(|r| r.number.clone()).collect();
        assert_eq!(numbers.len(), 90, "case numbers stay unique");
        assert!(listener.0.load(Ordering::SeqCst) > 0);

        // Whatever the interleaving, a final sync leaves the relay with every write, and a
        // second device receives them all.
        sync::run(&a.store, &mut direct(&relay, &a), None).unwrap();
        let b = device("li", "D2");
        let report = sync::run(&b.store, &mut direct(&relay, &b), None).unwrap();
        assert_eq!(report.received, 90);
        for id in &ids {
            assert_eq!(
                b.dispute(id.clone()).unwrap(),
                a.dispute(id.clone()).unwrap()
            );
        }
        let again = sync::run(&a.store, &mut direct(&relay, &a), None).unwrap();
        assert_eq!((again.pushed, again.received), (0, 0));
    }

    #[test]
    fn bad_arguments_are_errors_not_panics() {
        let a = device("zhang", "D1");
        let id = a.create_dispute(vec![pair("name", "纠纷")]).unwrap();
        let visit = a.create_visit(vec![pair("visited_name", "刘某")]).unwrap();
        let err = |r: Result<()>| r.unwrap_err();
        assert!(matches!(
            err(a.set_field("nope".into(), "name".into(), "x".into())),
            FfiError::NotFound(_)
        ));
        assert!(matches!(
            err(a.set_field(id.clone(), "found_on".into(), "2019-02-30".into())),
            FfiError::InvalidValue(_)
        ));
        assert!(matches!(
            err(a.set_field(id.clone(), "nope".into(), "1".into())),
            FfiError::UnknownField(_)
        ));
        assert!(matches!(
            a.visit(id.clone()).unwrap_err(),
            FfiError::WrongKind(_)
        ));
        assert!(matches!(
            a.append_entry(
                visit.clone(),
                "demands".into(),
                vec![pair("status", "已登记")]
            )
            .unwrap_err(),
            FfiError::InvalidValue(_)
        ));
        assert!(matches!(
            err(a.resolve_conflict(id.clone(), "trend".into(), "stable".into())),
            FfiError::NotFound(_)
        ));
        assert!(matches!(
            err(a.resolve_conflict_keep(id.clone(), "a/b/c/d".into(), 0)),
            FfiError::NotFound(_)
        ));
        assert!(matches!(
            a.disputes(DisputeQuery {
                status: Some("closed".into()),
                ..Default::default()
            })
            .unwrap_err(),
            FfiError::InvalidValue(_)
        ));
        assert!(matches!(
            a.enroll("ftp://x".into(), "CODE".into(), None, None)
                .unwrap_err(),
            FfiError::InvalidArgument(_)
        ));
        assert!(matches!(
            a.sync(None).unwrap_err(),
            FfiError::NotEnrolled(_)
        ));
        let fresh = FieldStore::in_memory().unwrap();
        assert!(fresh.identity().is_none());
        assert!(matches!(
            fresh.create_dispute(vec![pair("name", "x")]).unwrap_err(),
            FfiError::NotEnrolled(_)
        ));
        assert!(matches!(
            FieldStore::open("/nonexistent-dir/x/y.db".into(), vec![1; 32])
                .err()
                .unwrap(),
            FfiError::InvalidArgument(_)
        ));
        assert_eq!(a.dispute(id).unwrap().name, "纠纷");
    }

    #[test]
    fn a_store_reopens_from_its_file_and_exports_its_ledger() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.db").to_string_lossy().into_owned();
        let id = {
            let a = FieldStore::open(path.clone(), vec![1; 32]).unwrap();
            lock(&a.store)
                .set_identity(identity("zhang", "WJK", Role::Staff, "D1"))
                .unwrap();
            a.create_dispute(vec![pair("name", "供暖纠纷"), pair("category", "民生保障")])
                .unwrap()
        };
        assert!(matches!(
            FieldStore::open_existing(path.clone(), vec![2; 32])
                .err()
                .unwrap(),
            FfiError::WrongKey(_)
        ));
        assert!(matches!(
            FieldStore::open_existing(path.clone(), vec![1; 7])
                .err()
                .unwrap(),
            FfiError::InvalidValue(_)
        ));
        let a = FieldStore::open_existing(path, vec![1; 32]).unwrap();
        assert_eq!(a.identity().unwrap().user, "zhang");
        assert_eq!(a.dispute(id).unwrap().category.as_deref(), Some("民生保障"));
        let csv = String::from_utf8(a.export_ledger(LedgerFormat::Csv).unwrap()).unwrap();
        assert!(csv.contains("供暖纠纷"), "{csv}");
        assert!(
            a.export_ledger(LedgerFormat::Xlsx)
                .unwrap()
                .starts_with(b"PK")
        );
        assert!(matches!(
            FieldStore::open_existing(
                dir.path().join("none.db").to_string_lossy().into(),
                vec![1; 32],
            )
            .err()
            .unwrap(),
            FfiError::NotFound(_)
        ));
    }
}
