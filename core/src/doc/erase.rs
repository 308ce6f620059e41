//! Erasing personal data: a record document rebuilt as a new *generation*.
//!
//! Automerge keeps every value ever written in its change history, so personal data cannot
//! be deleted from a document in place. Erasure instead copies the record's current state,
//! with the personal fields replaced by [`ERASED_MARK`] and the requested strings masked in
//! every text, into a fresh document whose `_generation` is one higher. The old history's
//! notes (who changed which fields, when; no values) move into the `_history` key, so the
//! record's audit trail survives. Devices replace an older generation instead of merging it.

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value};

use super::{ChangeNote, HistoryEntry, RecordDoc};
use crate::error::Result;

/// What an erased field holds afterwards.
pub const ERASED_MARK: &str = "〔已依申请删除〕";
/// What a masked string in a text becomes.
pub const MASK: &str = "＊＊＊";
/// Root key holding the notes of the history before the current generation (JSON).
pub const HISTORY_KEY: &str = "_history";
/// Root key holding the document's generation (0 until the first erasure).
pub const GENERATION_KEY: &str = "_generation";

/// What to remove from a record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Redaction {
    /// Root field keys whose values are replaced by [`ERASED_MARK`].
    pub fields: Vec<String>,
    /// Strings (a name, a phone or ID number) replaced by [`MASK`] in every text of the record.
    pub masks: Vec<String>,
}

impl Redaction {
    fn mask(&self, s: &str, masked: &mut usize) -> String {
        let mut out = s.to_owned();
        for m in &self.masks {
            let n = out.matches(m.as_str()).count();
            if n > 0 {
                *masked += n;
                out = out.replace(m.as_str(), MASK);
            }
        }
        out
    }
}

fn generation_of(doc: &AutoCommit) -> i64 {
    match doc.get(ROOT, GENERATION_KEY).ok().flatten() {
        Some((Value::Scalar(s), _)) => match s.as_ref() {
            ScalarValue::Int(n) => *n,
            ScalarValue::Uint(n) => *n as i64,
            _ => 0,
        },
        _ => 0,
    }
}

struct Copier<'a> {
    src: &'a AutoCommit,
    dst: AutoCommit,
    redaction: &'a Redaction,
    masked: usize,
}

impl Copier<'_> {
    fn scalar(&mut self, s: &ScalarValue) -> ScalarValue {
        match s {
            ScalarValue::Str(t) => {
                ScalarValue::Str(self.redaction.mask(t, &mut self.masked).into())
            }
            other => other.clone(),
        }
    }

    fn copy_map(&mut self, from: &ObjId, to: &ObjId, root: bool) -> Result<()> {
        for key in self.src.keys(from).collect::<Vec<_>>() {
            if root && (key == HISTORY_KEY || key == GENERATION_KEY) {
                continue;
            }
            let erased = root && self.redaction.fields.contains(&key);
            // Meta keys and entry bookkeeping (`id`, `_at`, `_by`) are copied as they are.
            let verbatim = key.starts_with('_') || (!root && key == "id");
            let Some((value, obj)) = self.src.get(from, key.as_str())? else {
                continue;
            };
            match value {
                Value::Scalar(s) if erased => {
                    let v = if matches!(s.as_ref(), ScalarValue::Null) {
                        ScalarValue::Null
                    } else {
                        ScalarValue::Str(ERASED_MARK.into())
                    };
                    self.dst.put(to, key.as_str(), v)?;
                }
                Value::Scalar(s) if verbatim => self.dst.put(to, key.as_str(), s.into_owned())?,
                Value::Scalar(s) => {
                    let v = self.scalar(&s);
                    self.dst.put(to, key.as_str(), v)?;
                }
                Value::Object(ObjType::Text) => {
                    let t = self.dst.put_object(to, key.as_str(), ObjType::Text)?;
                    let text = self.src.text(&obj)?;
                    let text = if erased && !text.is_empty() {
                        ERASED_MARK.to_owned()
                    } else {
                        self.redaction.mask(&text, &mut self.masked)
                    };
                    self.dst.splice_text(&t, 0, 0, &text)?;
                }
                Value::Object(ObjType::List) => {
                    let l = self.dst.put_object(to, key.as_str(), ObjType::List)?;
                    self.copy_list(&obj, &l, erased)?;
                }
                Value::Object(_) => {
                    let m = self.dst.put_object(to, key.as_str(), ObjType::Map)?;
                    self.copy_map(&obj, &m, false)?;
                }
            }
        }
        Ok(())
    }

    fn copy_list(&mut self, from: &ObjId, to: &ObjId, erased: bool) -> Result<()> {
        if erased {
            if self.src.length(from) > 0 {
                self.dst.insert(to, 0, ERASED_MARK)?;
            }
            return Ok(());
        }
        for i in 0..self.src.length(from) {
            let Some((value, obj)) = self.src.get(from, i)? else {
                continue;
            };
            match value {
                Value::Scalar(s) => {
                    let v = self.scalar(&s);
                    self.dst.insert(to, i, v)?;
                }
                Value::Object(ObjType::Text) => {
                    let t = self.dst.insert_object(to, i, ObjType::Text)?;
                    let text = self.redaction.mask(&self.src.text(&obj)?, &mut self.masked);
                    self.dst.splice_text(&t, 0, 0, &text)?;
                }
                Value::Object(ObjType::List) => {
                    let l = self.dst.insert_object(to, i, ObjType::List)?;
                    self.copy_list(&obj, &l, false)?;
                }
                Value::Object(_) => {
                    let m = self.dst.insert_object(to, i, ObjType::Map)?;
                    self.copy_map(&obj, &m, false)?;
                }
            }
        }
        Ok(())
    }
}

impl RecordDoc {
    /// The document's generation: 0, or how many times personal data was erased from it.
    pub fn generation(&self) -> i64 {
        generation_of(&self.doc)
    }

    /// The history notes of earlier generations, oldest first.
    pub fn archived_history(&self) -> Vec<HistoryEntry> {
        self.meta_str(HISTORY_KEY)
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_default()
    }

    /// Builds the next generation of this document: its current state with `redaction`
    /// applied, as one change by `note`'s author at `time_ms`, and the history so far kept
    /// as notes without values. Returns the new document and how many strings were masked.
    pub fn erased_copy(
        &mut self,
        actor: automerge::ActorId,
        redaction: &Redaction,
        note: &ChangeNote,
        time_ms: i64,
    ) -> Result<(RecordDoc, usize)> {
        let mut history = self.history();
        for h in &mut history {
            // Hashes of the old generation mean nothing in the new one.
            h.deps.clear();
        }
        let generation = self.generation() + 1;
        let mut copier = Copier {
            src: &self.doc,
            dst: AutoCommit::new().with_actor(actor),
            redaction,
            masked: 0,
        };
        copier.copy_map(&ROOT, &ROOT, true)?;
        let masked = copier.masked;
        let mut dst = copier.dst;
        dst.put(ROOT, GENERATION_KEY, generation)?;
        dst.put(ROOT, HISTORY_KEY, serde_json::to_string(&history)?)?;
        let mut doc = RecordDoc { doc: dst };
        doc.commit(note, time_ms);
        Ok((doc, masked))
    }
}
