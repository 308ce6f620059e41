//! Erasing personal data: a record document rebuilt as a new *generation*.
//!
//! Automerge keeps every value ever written in its change history, so personal data cannot
//! be deleted from a document in place. Erasure instead replays the record's history into a
//! fresh document whose `_generation` is one higher: each old change becomes one new change
//! with the same note (user, device, fields, action) and time, writing the record's state at
//! that point with the personal fields replaced by [`ERASED_MARK`] and the requested strings
//! masked as [`MASK`] in every text. History, "as of" views and past reports keep working;
//! concurrent branches become one line (the erasure requires no open conflict elsewhere).
//! Devices replace an older generation instead of merging it.

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{AutoCommit, ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value};

use super::{ChangeNote, RecordDoc};
use crate::error::Result;

/// What an erased field holds afterwards.
pub const ERASED_MARK: &str = "〔已依申请删除〕";
/// What a masked string in a text becomes.
pub const MASK: &str = "＊＊＊";
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
    fn mask(&self, s: &str) -> String {
        self.masks
            .iter()
            .fold(s.to_owned(), |out, m| out.replace(m.as_str(), MASK))
    }
}

/// Brings `dst` to the state of `src` with the redaction applied, writing only what differs
/// (so each replayed change holds just what its original changed).
struct Reconciler<'a> {
    src: &'a AutoCommit,
    dst: &'a mut AutoCommit,
    redaction: &'a Redaction,
}

/// What a source value becomes in the new generation.
enum Want {
    Scalar(ScalarValue),
    Text(String),
    List(ObjId, bool),
    Map(ObjId),
}

impl Reconciler<'_> {
    fn want(&self, value: Value<'_>, obj: ObjId, erased: bool, verbatim: bool) -> Result<Want> {
        Ok(match value {
            Value::Scalar(s) if erased => {
                Want::Scalar(if matches!(s.as_ref(), ScalarValue::Null) {
                    ScalarValue::Null
                } else {
                    ScalarValue::Str(ERASED_MARK.into())
                })
            }
            Value::Scalar(s) if verbatim => Want::Scalar(s.into_owned()),
            Value::Scalar(s) => Want::Scalar(match s.as_ref() {
                ScalarValue::Str(t) => ScalarValue::Str(self.redaction.mask(t).into()),
                other => other.clone(),
            }),
            Value::Object(ObjType::Text) => {
                let text = self.src.text(&obj)?;
                Want::Text(if erased && !text.is_empty() {
                    ERASED_MARK.to_owned()
                } else {
                    self.redaction.mask(&text)
                })
            }
            Value::Object(ObjType::List) => Want::List(obj, erased),
            Value::Object(_) => Want::Map(obj),
        })
    }

    fn map(&mut self, from: &ObjId, to: &ObjId, root: bool) -> Result<()> {
        let keys: Vec<String> = self.src.keys(from).collect();
        for key in &keys {
            if root && key == GENERATION_KEY {
                continue;
            }
            let erased = root && self.redaction.fields.contains(key);
            // Meta keys and entry bookkeeping (`id`, `_at`, `_by`) are copied as they are.
            let verbatim = key.starts_with('_') || (!root && key == "id");
            let Some((value, obj)) = self.src.get(from, key.as_str())? else {
                continue;
            };
            let want = self.want(value, obj, erased, verbatim)?;
            let have = self.dst.get_all(to, key.as_str())?;
            let single = (have.len() == 1).then(|| have[0].clone());
            match want {
                Want::Scalar(v) => {
                    let same = matches!(&single, Some((Value::Scalar(s), _)) if s.as_ref() == &v);
                    if !same {
                        self.dst.put(to, key.as_str(), v)?;
                    }
                }
                Want::Text(t) => match single {
                    Some((Value::Object(ObjType::Text), id)) => {
                        if self.dst.text(&id)? != t {
                            self.dst.update_text(&id, t.as_str())?;
                        }
                    }
                    _ => {
                        let id = self.dst.put_object(to, key.as_str(), ObjType::Text)?;
                        self.dst.splice_text(&id, 0, 0, &t)?;
                    }
                },
                Want::List(src, erased) => {
                    let id = match single {
                        Some((Value::Object(ObjType::List), id)) => id,
                        _ => self.dst.put_object(to, key.as_str(), ObjType::List)?,
                    };
                    self.list(&src, &id, erased)?;
                }
                Want::Map(src) => {
                    let id = match single {
                        Some((Value::Object(ObjType::Map), id)) => id,
                        _ => self.dst.put_object(to, key.as_str(), ObjType::Map)?,
                    };
                    self.map(&src, &id, false)?;
                }
            }
        }
        let stale: Vec<String> = self
            .dst
            .keys(to)
            .filter(|k| !(keys.contains(k) || root && k == GENERATION_KEY))
            .collect();
        for k in stale {
            self.dst.delete(to, k.as_str())?;
        }
        Ok(())
    }

    fn list(&mut self, from: &ObjId, to: &ObjId, erased: bool) -> Result<()> {
        let len = self.src.length(from);
        if erased {
            let want = usize::from(len > 0);
            while self.dst.length(to) > want {
                self.dst.delete(to, self.dst.length(to) - 1)?;
            }
            if want == 1 {
                let mark = ScalarValue::Str(ERASED_MARK.into());
                match self.dst.get(to, 0)? {
                    Some((Value::Scalar(s), _)) if s.as_ref() == &mark => {}
                    Some(_) => self.dst.put(to, 0, mark)?,
                    None => self.dst.insert(to, 0, mark)?,
                }
            }
            return Ok(());
        }
        for i in 0..len {
            let Some((value, obj)) = self.src.get(from, i)? else {
                continue;
            };
            let want = self.want(value, obj, false, false)?;
            let have = if i < self.dst.length(to) {
                self.dst.get(to, i)?
            } else {
                None
            };
            match (want, have) {
                (Want::Scalar(v), Some((Value::Scalar(s), _))) if s.as_ref() == &v => {}
                (Want::Scalar(v), Some(_)) => self.dst.put(to, i, v)?,
                (Want::Scalar(v), None) => self.dst.insert(to, i, v)?,
                (Want::Text(t), Some((Value::Object(ObjType::Text), id))) => {
                    if self.dst.text(&id)? != t {
                        self.dst.update_text(&id, t.as_str())?;
                    }
                }
                (Want::Text(t), have) => {
                    let id = if have.is_some() {
                        self.dst.put_object(to, i, ObjType::Text)?
                    } else {
                        self.dst.insert_object(to, i, ObjType::Text)?
                    };
                    self.dst.splice_text(&id, 0, 0, &t)?;
                }
                (Want::List(src, _), have) => {
                    let id = match have {
                        Some((Value::Object(ObjType::List), id)) => id,
                        Some(_) => self.dst.put_object(to, i, ObjType::List)?,
                        None => self.dst.insert_object(to, i, ObjType::List)?,
                    };
                    self.list(&src, &id, false)?;
                }
                (Want::Map(src), have) => {
                    let id = match have {
                        Some((Value::Object(ObjType::Map), id)) => id,
                        Some(_) => self.dst.put_object(to, i, ObjType::Map)?,
                        None => self.dst.insert_object(to, i, ObjType::Map)?,
                    };
                    self.map(&src, &id, false)?;
                }
            }
        }
        while self.dst.length(to) > len {
            self.dst.delete(to, self.dst.length(to) - 1)?;
        }
        Ok(())
    }
}

impl RecordDoc {
    /// The document's generation: 0, or how many times personal data was erased from it.
    pub fn generation(&self) -> i64 {
        match self.doc.get(ROOT, GENERATION_KEY).ok().flatten() {
            Some((Value::Scalar(s), _)) => match s.as_ref() {
                ScalarValue::Int(n) => *n,
                ScalarValue::Uint(n) => *n as i64,
                _ => 0,
            },
            _ => 0,
        }
    }

    /// Builds the next generation of this document: every change replayed in causal order
    /// into a fresh document, each writing the record's redacted state at that change, with
    /// the original note and time — so history, "as of" reports and the ledger of past months
    /// stay, without the erased values — then one change by `note`'s author at `time_ms`
    /// that marks the new generation. Returns the new document and how many occurrences of
    /// the masked strings the current record held.
    pub fn erased_copy(
        &mut self,
        actor: automerge::ActorId,
        redaction: &Redaction,
        note: &ChangeNote,
        time_ms: i64,
    ) -> Result<(RecordDoc, usize)> {
        let generation = self.generation() + 1;
        let changes = self.doc.get_changes(&[]);
        let mut src = AutoCommit::new();
        let mut dst = AutoCommit::new().with_actor(actor);
        // Applied one at a time in causal order, so `src` passes through each state once.
        for change in changes {
            let mut options = CommitOptions::default().with_time(change.timestamp());
            if let Some(m) = change.message() {
                options = options.with_message(m.to_owned());
            }
            src.apply_changes([change])?;
            Reconciler {
                src: &src,
                dst: &mut dst,
                redaction,
            }
            .map(&ROOT, &ROOT, true)?;
            if dst.pending_ops() > 0 {
                dst.commit_with(options);
            } else {
                // A change whose every write was erased still belongs in the history.
                dst.empty_change(options);
            }
        }
        let mut current = self.to_json()?;
        if let Some(m) = current.as_object_mut() {
            m.retain(|k, _| !redaction.fields.contains(k));
        }
        let current = serde_json::to_string(&current)?;
        let masked = redaction
            .masks
            .iter()
            .map(|m| current.matches(m.as_str()).count())
            .sum();
        dst.put(ROOT, GENERATION_KEY, generation)?;
        let mut doc = RecordDoc { doc: dst };
        doc.commit(note, time_ms);
        Ok((doc, masked))
    }
}
