//! Personal-data erasure in the store: the relay rebuilds a record as a new generation
//! ([`Store::erase_personal_data`]); a device replaces its older generation with the relay's
//! and re-applies the edits it had not synced yet ([`Store::replace_generation`]).

use automerge::ChangeHash;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::Store;
use super::documents::write_doc;
use crate::doc::erase::{ERASED_MARK, Redaction};
use crate::doc::{ChangeNote, RecordDoc};
use crate::error::{Error, Result};
use crate::model::{Edit, FieldType, FieldValue, Record, RecordKind};

/// What the bureau office asks to erase from one record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasureRequest {
    /// Field keys (or form labels) to erase; empty means every personal field of the kind
    /// ([`RecordKind::personal_fields`]).
    #[serde(default)]
    pub fields: Vec<String>,
    /// Strings (the person's name, phone or ID number) to mask wherever they appear in the
    /// record's texts, list entries included.
    #[serde(default)]
    pub masks: Vec<String>,
    /// Why (the request's reference); kept in the audit log.
    pub reason: String,
}

/// What an erasure did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasureOutcome {
    /// Record id.
    pub id: String,
    /// Case number.
    pub number: String,
    /// The record's new generation.
    pub generation: i64,
    /// Field keys erased.
    pub fields: Vec<String>,
    /// How many occurrences of the masked strings were replaced.
    pub masked: usize,
}

/// What replacing a record with a newer generation did on a device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Regenerated {
    /// Record id.
    pub id: String,
    /// Unsynced local edits re-applied on top of the new generation.
    pub reapplied: Vec<String>,
    /// Unsynced local edits not re-applied, with the reason (erased fields, broken rules).
    pub dropped: Vec<String>,
}

impl RecordKind {
    /// Fields that hold a person's identifying data: what an erasure request removes unless
    /// it names fields itself.
    pub fn personal_fields(self) -> &'static [&'static str] {
        match self {
            RecordKind::Visit => &["visited_name", "contact", "place", "pairing"],
            RecordKind::Petition => &["petitioner", "petitioner_contact", "petitioner_id_number"],
            _ => &[],
        }
    }
}

impl Store {
    /// The generation of a record's document (0 until personal data is first erased).
    pub fn generation(&self, id: &str) -> Result<i64> {
        use rusqlite::OptionalExtension;
        self.conn
            .prepare_cached("SELECT generation FROM documents WHERE id=?1")?
            .query_row([id], |r| r.get(0))
            .optional()?
            .ok_or_else(|| Error::UnknownRecord(id.to_owned()))
    }

    /// Erases personal data from a record and from its history: the record is rebuilt as a
    /// new generation (see [`crate::doc::erase`]); the rest of the record, its case number and
    /// its ledger row stay. Only the bureau office may erase. Refused while another field of
    /// the record stands in a conflict (resolve it first: a conflict cannot be copied).
    pub fn erase_personal_data(
        &mut self,
        id: &str,
        req: &ErasureRequest,
    ) -> Result<ErasureOutcome> {
        let author = self.author()?;
        if !crate::access::may_erase_personal_data(author.role) {
            return Err(Error::PermissionDenied(
                "only the bureau office erases personal data".into(),
            ));
        }
        if req.reason.trim().is_empty() {
            return Err(Error::invalid("reason", "say why the data is erased"));
        }
        let (mut doc, kind) = self.load_doc(id)?;
        let redaction = redaction(kind, req)?;
        let conflicts = doc.conflicts(kind)?;
        if let Some(c) = conflicts
            .iter()
            .find(|c| !redaction.fields.contains(&c.field))
        {
            return Err(Error::RuleViolation(format!(
                "{} stands in a conflict: resolve it before erasing personal data",
                c.label
            )));
        }
        let now = self.now_ms();
        let note = ChangeNote {
            user: author.user.clone(),
            device: author.device.clone(),
            fields: redaction.fields.clone(),
            action: Some("erase".into()),
        };
        let (mut new, masked) = doc.erased_copy(self.actor.clone(), &redaction, &note, now)?;
        let after = Record::from_json(kind, new.to_json()?)
            .map_err(|e| Error::MalformedDocument(format!("erasure broke the record: {e}")))?;
        let unit = after.meta().unit.clone();
        let tx = self.write_tx()?;
        write_doc(&tx, id, kind, &unit, &mut new, None, now)?;
        tx.commit()?;
        if let Some(cache) = &self.doc_cache {
            cache.forget(id);
        }
        self.checkpoint();
        Ok(ErasureOutcome {
            id: id.to_owned(),
            number: after.meta().number.clone(),
            generation: new.generation(),
            fields: redaction.fields,
            masked,
        })
    }

    /// What an erasure of `id` removes, as strings to look for elsewhere (the relay's audit
    /// log and lost-record reports): the strings to mask, and the current values of the fields
    /// to erase (each name of a list on its own). Longest first; none shorter than 2
    /// characters. Read this before [`Store::erase_personal_data`], which removes the values.
    pub fn erasure_terms(&self, id: &str, req: &ErasureRequest) -> Result<Vec<String>> {
        let (doc, kind) = self.load_doc(id)?;
        let json = doc.to_json()?;
        let Redaction { fields, masks } = redaction(kind, req)?;
        let mut terms = masks;
        for key in &fields {
            let values: Vec<&str> = match json.get(key) {
                Some(Json::String(s)) => vec![s],
                Some(Json::Array(list)) => list.iter().filter_map(Json::as_str).collect(),
                _ => vec![],
            };
            terms.extend(
                values
                    .into_iter()
                    .map(str::trim)
                    .filter(|v| v.chars().count() >= 2 && *v != ERASED_MARK)
                    .map(str::to_owned),
            );
        }
        terms.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        terms.dedup();
        Ok(terms)
    }

    /// Moves everything in the write-ahead log into the database file and empties the log, so
    /// erased pages (zeroed by `secure_delete`) leave no copy behind. Skipped inside a batch.
    pub(crate) fn checkpoint(&self) {
        if !self.in_batch.get() {
            let _ = self
                .conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        }
    }

    /// Replaces a record with a newer generation received from the relay (after an erasure
    /// there), then re-applies this device's edits that the relay had not acknowledged:
    /// `acked` are the heads the relay last confirmed. Edits to erased fields are dropped.
    pub fn replace_generation(
        &mut self,
        id: &str,
        bytes: &[u8],
        acked: &[ChangeHash],
    ) -> Result<Regenerated> {
        let mut new = RecordDoc::load(bytes, self.actor.clone())?;
        let kind = new.kind()?;
        let new_json = new.to_json()?;
        if new_json.get("_id").and_then(Json::as_str) != Some(id) {
            return Err(Error::MalformedDocument(format!(
                "document is not record {id}"
            )));
        }
        let after = Record::from_json(kind, new_json.clone())
            .map_err(|e| Error::MalformedDocument(e.to_string()))?;
        let mut local_edits = Vec::new();
        if self.contains(id)? {
            let (mut old, old_kind) = self.load_doc(id)?;
            if old_kind != kind {
                return Err(Error::MalformedDocument(format!(
                    "a new generation would turn {id} from a {old_kind} into a {kind}"
                )));
            }
            if old.generation() >= new.generation() {
                return Err(Error::MalformedDocument(format!(
                    "generation {} of {id} is not newer than the {} held here",
                    new.generation(),
                    old.generation()
                )));
            }
            let local_heads = old.heads();
            let known = !acked.is_empty() && acked.iter().all(|h| old.has_change(h));
            if known && local_heads != acked {
                let base = old.to_json_at(acked)?;
                let mine = old.to_json()?;
                local_edits = local_changes(kind, &base, &mine, &new_json);
            }
        }
        let now = self.now_ms();
        let unit = after.meta().unit.clone();
        let tx = self.write_tx()?;
        write_doc(&tx, id, kind, &unit, &mut new, None, now)?;
        tx.commit()?;
        let mut out = Regenerated {
            id: id.to_owned(),
            ..Default::default()
        };
        for (what, edit) in local_edits {
            let Some(edit) = edit else {
                out.dropped.push(format!("{what}: the field was erased"));
                continue;
            };
            match self.edit_with_action(id, std::slice::from_ref(&edit), Some("reapply")) {
                Ok(()) => out.reapplied.push(what),
                Err(e @ (Error::Sqlite(_) | Error::Io(_))) => return Err(e),
                Err(e) => out.dropped.push(format!("{what}: {e}")),
            }
        }
        self.checkpoint();
        Ok(out)
    }
}

/// The fields and strings an erasure request asks to erase from a record of `kind`, checked.
fn redaction(kind: RecordKind, req: &ErasureRequest) -> Result<Redaction> {
    let mut fields = Vec::new();
    let names: Vec<&str> = if req.fields.is_empty() {
        kind.personal_fields().to_vec()
    } else {
        req.fields.iter().map(String::as_str).collect()
    };
    for name in names {
        let spec = kind.field(name)?;
        if !matches!(
            spec.ty,
            FieldType::ShortText { .. }
                | FieldType::LongText
                | FieldType::Names
                | FieldType::Person
        ) {
            return Err(Error::invalid(
                spec.label,
                "only text fields hold personal data to erase",
            ));
        }
        if !fields.contains(&spec.key.to_owned()) {
            fields.push(spec.key.to_owned());
        }
    }
    let mut masks = Vec::new();
    for m in &req.masks {
        let m = m.trim();
        if m.chars().count() < 2 {
            return Err(Error::invalid(
                "masks",
                "a string to mask is too short to mask safely (at least 2 characters)",
            ));
        }
        if m.contains(ERASED_MARK) || crate::doc::erase::MASK.contains(m) {
            return Err(Error::invalid(
                "masks",
                "a string to mask holds the erasure marks and cannot be masked",
            ));
        }
        masks.push(m.to_owned());
    }
    if fields.is_empty() && masks.is_empty() {
        return Err(Error::invalid(
            "fields",
            format!("a {kind} has no personal fields: name the strings to mask"),
        ));
    }
    Ok(Redaction { fields, masks })
}

/// The edits that turn `base` into `mine`, to be re-applied on `new` (a newer generation).
/// An edit of an erased field comes back as `None`.
fn local_changes(
    kind: RecordKind,
    base: &Json,
    mine: &Json,
    new: &Json,
) -> Vec<(String, Option<Edit>)> {
    let mut out = Vec::new();
    for spec in kind.fields() {
        let (b, m) = (
            base.get(spec.key).unwrap_or(&Json::Null),
            mine.get(spec.key).unwrap_or(&Json::Null),
        );
        if b == m {
            continue;
        }
        let n = new.get(spec.key).unwrap_or(&Json::Null);
        if n.as_str() == Some(ERASED_MARK) || n.get(0).and_then(Json::as_str) == Some(ERASED_MARK) {
            out.push((spec.key.to_owned(), None));
            continue;
        }
        match spec.ty {
            FieldType::Entries(_) => {
                entry_changes(spec.key, b, m, n, &mut out);
            }
            FieldType::LongText => {
                let text = rebase_text(
                    b.as_str().unwrap_or(""),
                    m.as_str().unwrap_or(""),
                    n.as_str().unwrap_or(""),
                );
                out.push((spec.key.to_owned(), Some(Edit::text(spec.key, &text))));
            }
            _ => out.push((
                spec.key.to_owned(),
                Some(Edit::set(spec.key, FieldValue::from_json(m))),
            )),
        }
    }
    out
}

fn entry_id(e: &Json) -> Option<&str> {
    e.get("id").and_then(Json::as_str)
}

fn entry_changes(
    list: &str,
    base: &Json,
    mine: &Json,
    new: &Json,
    out: &mut Vec<(String, Option<Edit>)>,
) {
    let empty = Vec::new();
    let base = base.as_array().unwrap_or(&empty);
    let new = new.as_array().unwrap_or(&empty);
    for entry in mine.as_array().unwrap_or(&empty) {
        let Some(id) = entry_id(entry) else { continue };
        let fields = entry
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| !matches!(k.as_str(), "id" | "_at" | "_by"));
        match base.iter().find(|e| entry_id(e) == Some(id)) {
            None => out.push((
                format!("{list}/{id}"),
                Some(Edit::Append {
                    list: list.to_owned(),
                    values: fields
                        .map(|(k, v)| (k.clone(), FieldValue::from_json(v)))
                        .collect(),
                }),
            )),
            Some(old) if new.iter().any(|e| entry_id(e) == Some(id)) => {
                for (k, v) in fields {
                    if old.get(k) != Some(v) {
                        out.push((
                            format!("{list}/{id}/{k}"),
                            Some(Edit::SetInEntry {
                                list: list.to_owned(),
                                entry: id.to_owned(),
                                field: k.clone(),
                                value: FieldValue::from_json(v),
                            }),
                        ));
                    }
                }
            }
            Some(_) => {}
        }
    }
}

/// Three-way text rebase: what `mine` inserted relative to `base` is inserted into `new`
/// after the same preceding context (or appended when that context was masked away).
/// Deletions of text that the new generation changed cannot be mapped and are not repeated.
fn rebase_text(base: &str, mine: &str, new: &str) -> String {
    let b: Vec<char> = base.chars().collect();
    let m: Vec<char> = mine.chars().collect();
    let prefix = b.iter().zip(&m).take_while(|(x, y)| x == y).count();
    let max_suffix = b.len().min(m.len()) - prefix;
    let suffix = b
        .iter()
        .rev()
        .zip(m.iter().rev())
        .take(max_suffix)
        .take_while(|(x, y)| x == y)
        .count();
    let inserted: String = m[prefix..m.len() - suffix].iter().collect();
    let deleted: String = b[prefix..b.len() - suffix].iter().collect();
    let before: String = b[..prefix].iter().collect();
    if !deleted.is_empty() && new.contains(&format!("{before}{deleted}")) {
        // The deleted text is still there unchanged: delete it and insert in its place.
        return new.replacen(
            &format!("{before}{deleted}"),
            &format!("{before}{inserted}"),
            1,
        );
    }
    if prefix == 0 {
        return format!("{inserted}{new}");
    }
    // The longest end of the preceding text (2 to 12 characters) still found in `new`.
    for len in (2..=prefix.min(12)).rev() {
        let context: String = b[prefix - len..prefix].iter().collect();
        if let Some(at) = new.find(&context) {
            let at = at + context.len();
            return format!("{}{inserted}{}", &new[..at], &new[at..]);
        }
    }
    format!("{new}{inserted}")
}

#[cfg(test)]
mod tests {
    use super::rebase_text;

    #[test]
    fn text_rebase_keeps_local_insertions_around_masked_text() {
        let base = "张三反映：宅基地被占。";
        let new = "＊＊＊反映：宅基地被占。";
        assert_eq!(
            rebase_text(base, "张三反映：宅基地被占。已调解。", new),
            "＊＊＊反映：宅基地被占。已调解。"
        );
        assert_eq!(
            rebase_text(base, "张三反映：宅基地被邻居占。", new),
            "＊＊＊反映：宅基地被邻居占。"
        );
        assert_eq!(
            rebase_text(base, "【急】张三反映：宅基地被占。", new),
            "【急】＊＊＊反映：宅基地被占。"
        );
        assert_eq!(
            rebase_text(base, "张三反映：宅基地被占用。", new),
            "＊＊＊反映：宅基地被占用。"
        );
    }
}
