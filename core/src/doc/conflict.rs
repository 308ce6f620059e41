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

struct ChangeIndex {
    metas: Vec<ChangeMetadata<'static>>,
}

impl ChangeIndex {
    fn who(&self, op: &ObjId) -> (String, String, i64, String) {
        if let ObjId::Id(counter, actor, _) = op {
            if let Some(m) = self.metas.iter().find(|m| {
                m.actor.as_ref() == actor
                    && m.start_op <= *counter
                    && *counter <= m.max_op.max(m.start_op)
            }) {
                let note: ChangeNote = m
                    .message
                    .as_deref()
                    .and_then(|s| serde_json::from_str(s).ok())
                    .unwrap_or_default();
                return (note.user, note.device, m.timestamp, actor.to_hex_string());
            }
            return (String::new(), String::new(), 0, actor.to_hex_string());
        }
        Default::default()
    }
}

impl RecordDoc {
    fn values_at(&self, idx: &ChangeIndex, obj: &ObjId, key: &str) -> Result<Vec<ConflictValue>> {
        let all = self.doc.get_all(obj, key)?;
        let mut out = Vec::new();
        for (v, id) in all {
            let value = match v {
                Value::Object(ObjType::Text) => FieldValue::Text(self.doc.text(&id)?),
                other => field_value_of(&other),
            };
            let (user, device, at_ms, actor) = idx.who(&id);
            out.push(ConflictValue {
                value,
                user,
                device,
                at_ms,
                actor,
            });
        }
        Ok(out)
    }

    /// All fields of this record that hold concurrent different values.
    pub fn conflicts(&mut self, kind: RecordKind) -> Result<Vec<Conflict>> {
        let metas: Vec<ChangeMetadata<'static>> = self
            .doc
            .get_changes_meta(&[])
            .into_iter()
            .map(|m| m.into_owned())
            .collect();
        let idx = ChangeIndex { metas };
        let mut out = Vec::new();
        let check = |this: &Self,
                     obj: &ObjId,
                     key: &str,
                     path: String,
                     label: &str,
                     out: &mut Vec<Conflict>|
         -> Result<()> {
            let mut values = this.values_at(&idx, obj, key)?;
            if values.len() > 1 {
                // The value Automerge shows by default is the last of `get_all`.
                values.reverse();
                let first = &values[0].value;
                if values.iter().any(|v| &v.value != first) {
                    out.push(Conflict {
                        field: path,
                        label: label.to_owned(),
                        values,
                    });
                }
            }
            Ok(())
        };
        for meta in ["_unit", "_kind"] {
            check(self, &ROOT, meta, meta.into(), meta, &mut out)?;
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
                            check(
                                self,
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
                _ => check(
                    self,
                    &ROOT,
                    spec.key,
                    spec.key.to_owned(),
                    spec.label,
                    &mut out,
                )?,
            }
        }
        Ok(out)
    }
}
