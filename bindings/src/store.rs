//! `FieldStore`: the entry point of the app, one local store behind a mutex.
//!
//! Every method locks the store for the duration of one core call, so calls from any number
//! of threads are safe and each sees the writes of the ones before. `sync` locks it only
//! between network round trips, so the app can keep reading and writing while it runs.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use fieldledger_core::model::{self, Record};
use fieldledger_core::store::DisputeFilter;
use fieldledger_core::{Edit, Store};

use crate::client;
use crate::error::{FfiError, Result};
use crate::export::{self, LedgerFormat};
use crate::fields::{self, FieldPair};
use crate::records::{
    ConflictRecord, DisputeQuery, DisputeRecord, HistoryRecord, Identity, PetitionRecord,
    RecordKind, RecordSummary, RiskRecord, ScreeningRecord, VisitRecord,
};
use crate::sync::{self, SyncProgressListener, SyncReport};

/// Locks a store, recovering from a panic in another thread: every write is one SQLite
/// transaction that rolled back, so the store itself is consistent.
pub(crate) fn lock(m: &Mutex<Store>) -> MutexGuard<'_, Store> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A local store of records on this device, safe to call from any thread.
#[derive(uniffi::Object)]
pub struct FieldStore {
    store: Mutex<Store>,
    /// Held for a whole sync, so two syncs of one store run one after the other.
    syncing: Mutex<()>,
}

impl FieldStore {
    fn with<T>(&self, f: impl FnOnce(&mut Store) -> fieldledger_core::Result<T>) -> Result<T> {
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
    #[uniffi::constructor]
    pub fn open(path: String) -> Result<Arc<Self>> {
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
        Ok(Self::wrap(Store::open(&path)?))
    }

    /// Opens the store at `path`, which must exist already.
    #[uniffi::constructor]
    pub fn open_existing(path: String) -> Result<Arc<Self>> {
        if !Path::new(&path).is_file() {
            return Err(FfiError::NotFound(format!("no store at {path}")));
        }
        Self::open(path)
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
    /// starts a new writer id and keeps the identity and the relay token.
    pub fn enroll(
        &self,
        relay_url: String,
        code: String,
        device_label: Option<String>,
    ) -> Result<Identity> {
        let base = client::relay_base(&relay_url)?;
        if code.trim().is_empty() {
            return Err(FfiError::InvalidArgument(
                "the enrollment code is empty".into(),
            ));
        }
        let actor = self.with(|s| s.rotate_actor())?;
        // The request runs without the store lock.
        let identity = client::enroll(&base, &code, &actor, device_label.as_deref())?;
        let mut s = lock(&self.store);
        if s.actor_hex() != actor {
            return Err(FfiError::InvalidArgument(
                "another enrollment of this store ran at the same time; enroll again".into(),
            ));
        }
        s.set_identity(identity.clone())?;
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
        self.edit_with(&id, |kind| {
            Ok(vec![fields::set_edit(kind, &field, &value)?])
        })
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
            Ok(vec![fields::entry_edit(
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
        let rows = self.with(|s| s.disputes(&filter))?;
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
        let value = fields::parse_at_path(kind, &field, &value)?;
        Ok(s.resolve_conflict(&id, &field, value)?)
    }

    /// Resolves a conflict by keeping the value at `index` of the conflict's values.
    pub fn resolve_conflict_keep(&self, id: String, field: String, index: u32) -> Result<()> {
        let mut s = lock(&self.store);
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
        let mut transport = sync::transport_for(&lock(&self.store))?;
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
