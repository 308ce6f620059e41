//! Conflicts: concurrent different values of one field, kept until a person decides.

use automerge::{ChangeMetadata, ObjId, ObjType, ROOT, ReadDoc, Value};
use serde::{Deserialize, Serialize};

use super::{ChangeNote, RecordDoc, field_value_of};
use crate::error::Result;
use crate::model::{FieldType, FieldValue, RecordKind};

/// One of the values a conflicting field holds, with who set it and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConflictValue {
    /// The value.
    pub value: FieldValue,
    /// Login of the user who set it.
    pub user: String,
    /// Device it was set on.
    pub device: String,
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// Hex actor id of the change that set it.
    pub actor: String,
}

/// A field that holds several values set concurrently.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conflict {
    /// Field path: `key`, or `list/entry_id/key` for a field of a list entry.
    pub field: String,
    /// Label as the form spells it.
    pub label: String,
    /// The values, the one shown by default first.
    pub values: Vec<ConflictValue>,
}

/// A conflict found, before the authors of its values are looked up.
struct Found {
    field: String,
    label: String,
    values: Vec<(FieldValue, ObjId)>,
}

fn who(metas: &[ChangeMetadata<'static>], op: &ObjId) -> (String, String, i64, String) {
    let ObjId::Id(counter, actor, _) = op else {
        return Default::default();
    };
    match metas.iter().find(|m| {
        m.actor.as_ref() == actor && m.start_op <= *counter && *counter <= m.max_op.max(m.start_op)
    }) {
        Some(m) => {
            let note: ChangeNote = m
                .message
                .as_deref()
                .and_then(|s| serde_json::from_str(s).ok())
                .unwrap_or_default();
            (note.user, note.device, m.timestamp, actor.to_hex_string())
        }
        None => (String::new(), String::new(), 0, actor.to_hex_string()),
    }
}

impl RecordDoc {
    fn check(
        &self,
        obj: &ObjId,
        key: &str,
        field: String,
        label: &str,
        out: &mut Vec<Found>,
    ) -> Result<()> {
        let all = self.doc.get_all(obj, key)?;
        if all.len() < 2 {
            return Ok(());
        }
        let mut values = Vec::new();
        for (v, id) in all {
            let value = match v {
                Value::Object(ObjType::Text) => FieldValue::Text(self.doc.text(&id)?),
                other => field_value_of(&other),
            };
            values.push((value, id));
        }
        // The value Automerge shows by default is the last of `get_all`: list it first.
        values.reverse();
        if values.iter().any(|(v, _)| *v != values[0].0) {
            out.push(Found {
                field,
                label: label.to_owned(),
                values,
            });
        }
        Ok(())
    }

    /// Number of fields of this record that hold concurrent different values.
    pub fn conflict_count(&mut self, kind: RecordKind) -> Result<usize> {
        Ok(self.find_conflicts(kind)?.len())
    }

    fn find_conflicts(&self, kind: RecordKind) -> Result<Vec<Found>> {
        let mut out = Vec::new();
        for meta in ["_unit", "_kind"] {
            self.check(&ROOT, meta, meta.into(), meta, &mut out)?;
        }
        for spec in kind.fields() {
            match spec.ty {
                FieldType::Entries(items) => {
                    let Some((_, l)) = self.doc.get(ROOT, spec.key)? else {
                        continue;
                    };
                    for i in 0..self.doc.length(&l) {
                        let Some((Value::Object(ObjType::Map), m)) = self.doc.get(&l, i)? else {
                            continue;
                        };
                        let id = self
                            .doc
                            .get(&m, "id")?
                            .map(|(v, _)| field_value_of(&v).display())
                            .unwrap_or_default();
                        for item in items {
                            if matches!(item.ty, FieldType::Names | FieldType::Entries(_)) {
                                continue;
                            }
                            let path = format!("{}/{id}/{}", spec.key, item.key);
                            self.check(
                                &m,
                                item.key,
                                path,
                                &format!("{}·{}", spec.label, item.label),
                                &mut out,
                            )?;
                        }
                    }
                }
                FieldType::Names => {}
                _ => self.check(&ROOT, spec.key, spec.key.to_owned(), spec.label, &mut out)?,
            }
        }
        Ok(out)
    }

    /// All fields of this record that hold concurrent different values, with who set each
    /// value and when (the change history is read only when there is a conflict).
    pub fn conflicts(&mut self, kind: RecordKind) -> Result<Vec<Conflict>> {
        let found = self.find_conflicts(kind)?;
        if found.is_empty() {
            return Ok(Vec::new());
        }
        let metas: Vec<ChangeMetadata<'static>> = self
            .doc
            .get_changes_meta(&[])
            .into_iter()
            .map(|m| m.into_owned())
            .collect();
        Ok(found
            .into_iter()
            .map(|f| Conflict {
                field: f.field,
                label: f.label,
                values: f
                    .values
                    .into_iter()
                    .map(|(value, id)| {
                        let (user, device, at_ms, actor) = who(&metas, &id);
                        ConflictValue {
                            value,
                            user,
                            device,
                            at_ms,
                            actor,
                        }
                    })
                    .collect(),
            })
            .collect())
    }
}
