//! The domain actions a user takes on records: create, edit, link, sign off and reopen,
//! write the monthly report, move to another unit, resolve a conflict, turn a demand into a
//! dispute. Each checks, then writes in one transaction.

use rusqlite::{Connection, OptionalExtension, params};

use super::{Store, documents::write_doc};
use crate::access;
use crate::doc::RecordDoc;
use crate::error::{Error, Result};
use crate::model::input::FieldPath;
use crate::model::{
    self, Author, DOCUMENT_SCHEMA_VERSION, Edit, FieldValue, Record, RecordKind, RecordMeta,
    check_edit,
};

impl Store {
    fn next_number(
        tx: &Connection,
        unit: &str,
        kind: RecordKind,
        device_code: &str,
    ) -> Result<String> {
        let key = format!("counter/{}", kind.code());
        let n: i64 = tx
            .prepare_cached("SELECT value FROM meta WHERE key=?1")?
            .query_row([&key], |r| r.get::<_, String>(0))
            .optional()?
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
            + 1;
        tx.prepare_cached(
            "INSERT INTO meta(key, value) VALUES(?1, ?2) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
        )?
        .execute(params![key, n.to_string()])?;
        Ok(format!(
            "{unit}-{}-{device_code}-{n:04}",
            kind.number_prefix()
        ))
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
        access::require_unit(&author, &unit)?;
        if kind == RecordKind::UnitProfile && !access::may_create_unit_profile(&author) {
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

    pub(super) fn edit_with_action(
        &mut self,
        id: &str,
        edits: &[Edit],
        action: Option<&str>,
    ) -> Result<()> {
        let author = self.author()?;
        let now = self.now_ms();
        let tx = self.write_tx()?;
        self.edit_in(&tx, id, edits, &author, action, now)?;
        tx.commit()?;
        Ok(())
    }

    pub(super) fn edit_in(
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
        access::require_record(author, &before)?;
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
        self.log_sign_off(id, "sign_off", note, "signed_off")
    }

    /// Reopens a signed-off petition case, with the reason logged.
    pub fn reopen(&mut self, id: &str, reason: &str) -> Result<()> {
        self.log_sign_off(id, "reopen", reason, "open")
    }

    /// Appends `action` (`sign_off`, `reopen`) with `note` to a case's sign-off log and sets
    /// its status, as one edit recorded with that action.
    fn log_sign_off(&mut self, id: &str, action: &str, note: &str, status: &str) -> Result<()> {
        let by = signer(&self.author()?);
        self.edit_with_action(
            id,
            &[
                Edit::Append {
                    list: "signoffs".into(),
                    values: vec![
                        ("action".into(), FieldValue::text(action)),
                        ("by".into(), FieldValue::Text(by)),
                        ("note".into(), FieldValue::text(note)),
                    ],
                },
                Edit::text("status", status),
            ],
            Some(action),
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
            edits.push(Edit::set("submitted_by", FieldValue::Text(signer(&author))));
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
        access::require_move(&author)?;
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
}

fn edit_value(e: &Edit) -> FieldValue {
    match e {
        Edit::Set { value, .. } | Edit::SetInEntry { value, .. } => value.clone(),
        Edit::Append { .. } => FieldValue::Null,
    }
}

pub(super) fn new_entry_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The name a sign-off or submission is recorded under: the author's display name, else
/// their login.
fn signer(author: &Author) -> String {
    if author.name.is_empty() {
        author.user.clone()
    } else {
        author.name.clone()
    }
}
