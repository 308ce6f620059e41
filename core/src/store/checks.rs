//! What the store checks before it writes a record, for local edits and for the relay's
//! merges alike: field values, person fields against the directory of users, visit targets,
//! categories, the kind's rules, and the screening ↔ dispute links.

use std::sync::Arc;

use super::{Store, UserDirectory};
use crate::access;
use crate::error::{Error, Result};
use crate::model::{Author, FieldSpec, FieldType, FieldValue, Record, RecordKind};

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

impl Store {
    /// Checks person fields against `users` from now on: a petition case's 包案领导 must name a
    /// user (login or name: the leader receives and signs off the case), and any person field
    /// whose new value reads as a login must name a user (a name as the form writes it, 张三,
    /// stays free text).
    pub fn set_users(&mut self, users: Arc<dyn UserDirectory>) {
        self.users = Some(users);
    }

    pub(super) fn check_people(
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

    pub(super) fn check_record(
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

    /// The links between screening rounds and the disputes they found, as a local edit
    /// changes them: (screening, dispute) pairs added and removed.
    pub(super) fn link_changes(before: Option<&Record>, after: &Record) -> (Vec<Link>, Vec<Link>) {
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
    pub(super) fn check_links(
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
