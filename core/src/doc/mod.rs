//! The document layer: one Automerge document per record, written only through checked edits.
//!
//! Layout of a record document: the root map holds the meta keys (`_id`, `_kind`, …) and one
//! key per field. Short values are scalars (concurrent different values stay visible through
//! `get_all` as a [`Conflict`]); long texts are Automerge text objects (character-wise merge);
//! name lists are lists of strings (additions merge); entry lists are lists of maps, each map
//! with an `id`, `_at` and `_by`, only ever appended to.

pub mod conflict;
pub mod erase;
pub mod history;

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{
    ActorId, AutoCommit, AutoSerde, ChangeHash, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value,
};
use serde::{Deserialize, Serialize};

pub use conflict::{Conflict, ConflictValue};
pub use history::HistoryEntry;

use crate::error::{Error, Result};
use crate::model::{CheckedEdit, FieldSpec, FieldType, FieldValue, RecordKind, RecordMeta};

/// What every change's message records: who made it, on which device, which fields it touched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ChangeNote {
    /// User login.
    pub user: String,
    /// Device id.
    pub device: String,
    /// Field keys touched (`list/entry/field` for fields of entries).
    #[serde(default)]
    pub fields: Vec<String>,
    /// A named action (`create`, `sign_off`, `reopen`, `resolve_conflict`, `merge`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

/// A record's Automerge document.
#[derive(Debug, Clone)]
pub struct RecordDoc {
    doc: AutoCommit,
}

fn scalar_of(v: &FieldValue) -> ScalarValue {
    match v {
        FieldValue::Null | FieldValue::List(_) => ScalarValue::Null,
        FieldValue::Bool(b) => ScalarValue::Boolean(*b),
        FieldValue::Int(n) => ScalarValue::Int(*n),
        FieldValue::Text(s) => ScalarValue::Str(s.as_str().into()),
    }
}

/// Converts a stored scalar back into a field value.
pub(crate) fn field_value_of(v: &Value<'_>) -> FieldValue {
    match v {
        Value::Scalar(s) => match s.as_ref() {
            ScalarValue::Str(s) => FieldValue::Text(s.to_string()),
            ScalarValue::Int(n) => FieldValue::Int(*n),
            ScalarValue::Uint(n) => FieldValue::Int(*n as i64),
            ScalarValue::Boolean(b) => FieldValue::Bool(*b),
            ScalarValue::Timestamp(n) => FieldValue::Int(*n),
            _ => FieldValue::Null,
        },
        Value::Object(_) => FieldValue::Null,
    }
}

impl RecordDoc {
    /// Starts a new record document with its meta keys and every text and list object created
    /// up front (so no two devices ever create the same object concurrently).
    pub fn create(actor: ActorId, meta: &RecordMeta) -> Result<RecordDoc> {
        let mut doc = AutoCommit::new().with_actor(actor);
        doc.put(ROOT, "_id", meta.id.as_str())?;
        doc.put(ROOT, "_kind", meta.kind.code())?;
        doc.put(ROOT, "_schema", meta.schema)?;
        doc.put(ROOT, "_unit", meta.unit.as_str())?;
        doc.put(ROOT, "_number", meta.number.as_str())?;
        doc.put(ROOT, "_created_by", meta.created_by.as_str())?;
        doc.put(ROOT, "_created_at", meta.created_at)?;
        doc.put(ROOT, "_device", meta.device.as_str())?;
        let mut rd = RecordDoc { doc };
        rd.ensure_objects(meta.kind)?;
        Ok(rd)
    }

    /// Creates the text and list objects of fields this document lacks (new documents, and
    /// documents written by an older schema).
    pub fn ensure_objects(&mut self, kind: RecordKind) -> Result<bool> {
        let mut added = false;
        for spec in kind.fields() {
            let want = match spec.ty {
                FieldType::LongText => ObjType::Text,
                FieldType::Names | FieldType::Entries(_) => ObjType::List,
                _ => continue,
            };
            if self.doc.get(ROOT, spec.key)?.is_none() {
                self.doc.put_object(ROOT, spec.key, want)?;
                added = true;
            }
        }
        Ok(added)
    }

    /// Loads a document from saved bytes, acting as `actor` for later edits.
    pub fn load(bytes: &[u8], actor: ActorId) -> Result<RecordDoc> {
        let doc = AutoCommit::load(bytes).map_err(|e| Error::MalformedDocument(e.to_string()))?;
        Ok(RecordDoc {
            doc: doc.with_actor(actor),
        })
    }

    /// Makes later edits of this copy as `actor` (a document copied from another store's).
    pub(crate) fn set_actor(&mut self, actor: ActorId) {
        self.doc.set_actor(actor);
    }

    /// Loads a document from saved bytes plus incremental change chunks.
    pub fn load_with_changes<'a>(
        bytes: &[u8],
        changes: impl IntoIterator<Item = &'a [u8]>,
        actor: ActorId,
    ) -> Result<RecordDoc> {
        let mut d = Self::load(bytes, actor)?;
        // All chunks in one call: Automerge applies them as one batch, far cheaper than a
        // batch per chunk on a document that many devices edit (the cost of each batch grows
        // with the document).
        let mut joined = Vec::new();
        for c in changes {
            joined.extend_from_slice(c);
        }
        if !joined.is_empty() {
            d.doc
                .load_incremental(&joined)
                .map_err(|e| Error::MalformedDocument(e.to_string()))?;
        }
        Ok(d)
    }

    /// Applies change bytes received from elsewhere (a saved document or saved changes).
    /// Returns the number of operations applied.
    pub fn apply_remote(&mut self, bytes: &[u8]) -> Result<usize> {
        self.doc
            .load_incremental(bytes)
            .map_err(|e| Error::MalformedDocument(e.to_string()))
    }

    /// The underlying Automerge document (read-only).
    pub fn automerge(&self) -> &AutoCommit {
        &self.doc
    }

    /// The underlying Automerge document.
    pub fn automerge_mut(&mut self) -> &mut AutoCommit {
        &mut self.doc
    }

    /// A string meta key (`_id`, `_unit`, …).
    pub fn meta_str(&self, key: &str) -> Option<String> {
        match self.doc.get(ROOT, key).ok().flatten() {
            Some((Value::Scalar(s), _)) => match s.as_ref() {
                ScalarValue::Str(s) => Some(s.to_string()),
                _ => None,
            },
            _ => None,
        }
    }

    /// The record kind written at the root.
    pub fn kind(&self) -> Result<RecordKind> {
        let k = self
            .meta_str("_kind")
            .ok_or_else(|| Error::MalformedDocument("document has no _kind".into()))?;
        k.parse()
            .map_err(|_| Error::MalformedDocument("_kind is not a record kind".into()))
    }

    /// The whole document as JSON (text objects as strings), the form typed records are read from.
    pub fn to_json(&self) -> Result<serde_json::Value> {
        Ok(serde_json::to_value(AutoSerde::from(&self.doc))?)
    }

    /// The document as it stood at `heads`, as JSON.
    pub fn to_json_at(&mut self, heads: &[ChangeHash]) -> Result<serde_json::Value> {
        let fork = self.doc.fork_at(heads)?;
        Ok(serde_json::to_value(AutoSerde::from(&fork))?)
    }

    /// Current heads.
    pub fn heads(&mut self) -> Vec<ChangeHash> {
        self.doc.get_heads()
    }

    /// Whether the document holds the change `hash` (not only queued, waiting for a
    /// dependency). Read from the change graph alone; Automerge's `get_change_by_hash` rebuilds
    /// the whole change from the operations instead, which was a third of the relay's CPU when
    /// devices named the versions they have.
    pub fn has_change(&mut self, hash: &ChangeHash) -> bool {
        self.doc.get_change_meta_by_hash(hash).is_some()
    }

    /// Saves the whole document, compacted.
    pub fn save(&mut self) -> Vec<u8> {
        self.doc.save()
    }

    /// Saves the changes that are not ancestors of `heads`.
    pub fn save_after(&mut self, heads: &[ChangeHash]) -> Vec<u8> {
        self.doc.save_after(heads)
    }

    /// Sets a root meta key (used for unit moves by the bureau office).
    pub fn put_meta(&mut self, key: &str, value: &str) -> Result<()> {
        self.doc.put(ROOT, key, value)?;
        Ok(())
    }

    fn put_scalar_if_changed(&mut self, obj: &ObjId, key: &str, v: &FieldValue) -> Result<bool> {
        let new = scalar_of(v);
        let all = self.doc.get_all(obj, key)?;
        // An unchanged value is not written again, unless it stands in a conflict: writing it
        // then is how a person resolves the conflict.
        if all.len() == 1 {
            if let Value::Scalar(s) = &all[0].0 {
                if s.as_ref() == &new {
                    return Ok(false);
                }
            }
        }
        if all.len() > 1 {
            // Resolving a conflict: clear every concurrent value first, so the choice is a new
            // value. Writing the shown value over the others would ride on the old value, and
            // a concurrent edit elsewhere would then replace the choice without a conflict.
            self.doc.delete(obj, key)?;
        }
        self.doc.put(obj, key, new)?;
        Ok(true)
    }

    fn text_obj(&mut self, obj: &ObjId, key: &str) -> Result<ObjId> {
        match self.doc.get(obj, key)? {
            Some((Value::Object(ObjType::Text), id)) => Ok(id),
            _ => Ok(self.doc.put_object(obj, key, ObjType::Text)?),
        }
    }

    fn list_obj(&mut self, obj: &ObjId, key: &str) -> Result<ObjId> {
        match self.doc.get(obj, key)? {
            Some((Value::Object(ObjType::List), id)) => Ok(id),
            _ => Ok(self.doc.put_object(obj, key, ObjType::List)?),
        }
    }

    fn write_value(&mut self, obj: &ObjId, spec: &FieldSpec, v: &FieldValue) -> Result<bool> {
        match (spec.ty, v) {
            (FieldType::LongText, FieldValue::Text(s)) => {
                let t = self.text_obj(obj, spec.key)?;
                if self.doc.text(&t)? == *s {
                    return Ok(false);
                }
                self.doc.update_text(&t, s.as_str())?;
                Ok(true)
            }
            (FieldType::Names, FieldValue::List(names)) => {
                let l = self.list_obj(obj, spec.key)?;
                let current: Vec<String> = (0..self.doc.length(&l))
                    .map(|i| match self.doc.get(&l, i) {
                        Ok(Some((v, _))) => field_value_of(&v).display(),
                        _ => String::new(),
                    })
                    .collect();
                let mut changed = false;
                for i in (0..current.len()).rev() {
                    if !names.contains(&current[i]) {
                        self.doc.delete(&l, i)?;
                        changed = true;
                    }
                }
                let mut len = self.doc.length(&l);
                for n in names {
                    if !current.contains(n) {
                        self.doc.insert(&l, len, n.as_str())?;
                        len += 1;
                        changed = true;
                    }
                }
                Ok(changed)
            }
            _ => self.put_scalar_if_changed(obj, spec.key, v),
        }
    }

    fn find_entry(&self, list: &FieldSpec, entry: &str) -> Result<ObjId> {
        let not_found = || Error::UnknownEntry {
            list: list.label.to_owned(),
            entry: entry.to_owned(),
        };
        let Some((_, l)) = self.doc.get(ROOT, list.key)? else {
            return Err(not_found());
        };
        for i in 0..self.doc.length(&l) {
            if let Some((Value::Object(ObjType::Map), m)) = self.doc.get(&l, i)? {
                if let Some((v, _)) = self.doc.get(&m, "id")? {
                    if field_value_of(&v) == FieldValue::Text(entry.to_owned()) {
                        return Ok(m);
                    }
                }
            }
        }
        Err(not_found())
    }

    /// Applies checked edits (without committing). Returns the touched field paths.
    pub(crate) fn apply(
        &mut self,
        edits: &[CheckedEdit],
        new_entry_id: &mut dyn FnMut() -> String,
        by: &str,
        now_ms: i64,
    ) -> Result<Vec<String>> {
        let mut touched = Vec::new();
        for e in edits {
            match e {
                CheckedEdit::Set(spec, v) => {
                    if self.write_value(&ROOT, spec, v)? {
                        touched.push(spec.key.to_owned());
                    }
                }
                CheckedEdit::Append(list, values) => {
                    let l = self.list_obj(&ROOT, list.key)?;
                    let len = self.doc.length(&l);
                    let m = self.doc.insert_object(&l, len, ObjType::Map)?;
                    let id = new_entry_id();
                    self.doc.put(&m, "id", id.as_str())?;
                    self.doc.put(&m, "_at", now_ms)?;
                    self.doc.put(&m, "_by", by)?;
                    for (spec, v) in values {
                        self.write_value(&m, spec, v)?;
                    }
                    touched.push(format!("{}/{id}", list.key));
                }
                CheckedEdit::SetInEntry(list, entry, spec, v) => {
                    let m = self.find_entry(list, entry)?;
                    if self.write_value(&m, spec, v)? {
                        touched.push(format!("{}/{entry}/{}", list.key, spec.key));
                    }
                }
            }
        }
        Ok(touched)
    }

    /// Commits pending operations as one change carrying `note` and `time_ms`.
    pub fn commit(&mut self, note: &ChangeNote, time_ms: i64) -> Option<ChangeHash> {
        if self.doc.pending_ops() == 0 {
            return None;
        }
        let msg = serde_json::to_string(note).unwrap_or_default();
        self.doc.commit_with(
            CommitOptions::default()
                .with_message(msg)
                .with_time(time_ms),
        )
    }

    /// Drops pending (uncommitted) operations.
    pub fn rollback(&mut self) {
        self.doc.rollback();
    }
}
