//! Merging bytes from elsewhere into a record, in three steps the relay's push validation
//! builds on: [`Store::prepare_merge`] (a scratch copy, nothing written),
//! [`Store::check_merge`] (as the pushing author would have to keep it) and
//! [`Store::commit_merge`].

use automerge::ChangeHash;
use serde::{Deserialize, Serialize};

use super::{Store, documents::write_doc, validate_stored_values};
use crate::access;
use crate::doc::{ChangeNote, RecordDoc};
use crate::error::{Error, Result};
use crate::model::{Author, Record, RecordKind, RecordMeta};

/// What merging remote bytes into a record did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergeOutcome {
    /// Record id.
    pub id: String,
    /// Whether the record is new to this store.
    pub created: bool,
    /// Whether anything changed.
    pub changed: bool,
    /// Heads after the merge (hex).
    pub heads: Vec<String>,
}

/// A merge prepared but not yet written: the relay inspects it before committing.
pub struct PreparedMerge {
    /// Record id.
    pub id: String,
    /// Kind.
    pub kind: RecordKind,
    /// The record before (none if new).
    pub before: Option<Record>,
    /// The record after the merge.
    pub after: Record,
    /// Hex actor ids of the changes the merge adds.
    pub new_actors: Vec<String>,
    /// Change notes of the changes the merge adds.
    pub new_notes: Vec<ChangeNote>,
    /// Hash and dependencies of each added change, in causal order.
    new_changes: Vec<(ChangeHash, Vec<ChangeHash>)>,
    doc: RecordDoc,
    before_heads: Option<Vec<ChangeHash>>,
    changed: bool,
}

impl PreparedMerge {
    /// How many changes the merged bytes depend on that the store does not have (their
    /// changes were queued by Automerge, not applied): the sender must send more.
    pub fn missing_dependencies(&mut self) -> usize {
        self.doc.automerge_mut().get_missing_deps(&[]).len()
    }
}

impl Store {
    /// Applies bytes from elsewhere to a scratch copy of a record and reports what would
    /// change, without writing. [`Store::commit_merge`] writes it.
    pub fn prepare_merge(&self, id: &str, bytes: &[u8]) -> Result<PreparedMerge> {
        let existing = if self.contains(id)? {
            Some(self.load_doc(id)?)
        } else {
            None
        };
        let (mut doc, before, before_heads) = match existing {
            Some((mut d, kind)) => {
                let before = Record::from_json(kind, d.to_json()?)?;
                let h = d.heads();
                d.apply_remote(bytes)?;
                (d, Some(before), Some(h))
            }
            None => (RecordDoc::load(bytes, self.actor.clone())?, None, None),
        };
        let kind = doc.kind()?;
        if let Some(b) = &before {
            if b.meta().kind != kind {
                return Err(Error::MalformedDocument(format!(
                    "changes would turn {id} from a {} into a {kind}",
                    b.meta().kind
                )));
            }
        }
        let after = record_of(&mut doc, id, kind)?;
        let after_heads = doc.heads();
        let changed = before_heads.as_deref() != Some(&after_heads[..]);
        let added = doc
            .automerge_mut()
            .get_changes_meta(before_heads.as_deref().unwrap_or(&[]));
        let new_actors = added.iter().map(|m| m.actor.to_hex_string()).collect();
        let new_changes = added.iter().map(|m| (m.hash, m.deps.clone())).collect();
        let new_notes = added
            .iter()
            .map(|m| {
                m.message
                    .as_deref()
                    .and_then(|s| serde_json::from_str(s).ok())
                    .unwrap_or_default()
            })
            .collect();
        Ok(PreparedMerge {
            id: id.to_owned(),
            kind,
            before,
            after,
            new_actors,
            new_notes,
            new_changes,
            doc,
            before_heads,
            changed,
        })
    }

    /// Checks a prepared merge as `author` would have to keep it: the merged record, and every
    /// state each added change produced, pass the same checks (scope, record meta, field
    /// values, the kind's rules, the links it adds — to records `author` sees or to ids in
    /// `batch`, the other records of the same sync request). Returns the unit moves the
    /// changes make, in causal order.
    pub fn check_merge(
        &self,
        m: &PreparedMerge,
        author: &Author,
        batch: &[String],
    ) -> Result<Vec<(String, String)>> {
        if !m.changed {
            return Ok(Vec::new());
        }
        let reference = reference_meta(m, author)?;
        check_state(m, &reference, &m.after, author)?;
        // Each added change is checked in its own causal context — the record as its author
        // saw it, and with the change applied — which is what the author's device checked.
        // Checking only the merged result would refuse honest edits that merely ran
        // concurrently with others (those become visible conflicts instead), and would let
        // a forged step hide between honest-looking ends (a unit flipped and flipped back,
        // a leader swapped for a sign-off and swapped back).
        let mut states: Vec<(Vec<ChangeHash>, Record)> = Vec::new();
        if let (Some(b), Some(h)) = (&m.before, &m.before_heads) {
            states.push((sorted(h), b.clone()));
        }
        let mut moves = Vec::new();
        let mut doc = m.doc.clone();
        let final_heads = sorted(&doc.heads());
        for (hash, deps) in &m.new_changes {
            let before = if deps.is_empty() {
                None
            } else {
                let key = sorted(deps);
                match states.iter().find(|(h, _)| *h == key) {
                    Some((_, r)) => Some(r.clone()),
                    None => Some(
                        Record::from_json(m.kind, doc.to_json_at(deps)?)
                            .map_err(|e| Error::MalformedDocument(e.to_string()))?,
                    ),
                }
            };
            let after = if final_heads == [*hash] {
                m.after.clone()
            } else {
                Record::from_json(m.kind, doc.to_json_at(&[*hash])?)
                    .map_err(|e| Error::MalformedDocument(e.to_string()))?
            };
            check_state(m, &reference, &after, author)?;
            if before.as_ref() != Some(&after) {
                if let Some(b) = &before {
                    if b.meta().unit != after.meta().unit {
                        access::require_move(author)?;
                        moves.push((b.meta().unit.clone(), after.meta().unit.clone()));
                    }
                }
                self.check_record(m.kind, before.as_ref(), &after, author)?;
                self.check_links(before.as_ref(), &after, author, batch)?;
            }
            // Only the last few states are looked up again (a device's changes form a chain).
            if states.len() >= 8 {
                states.remove(0);
            }
            states.push((vec![*hash], after));
        }
        check_merged_result(m, author)?;
        Ok(moves)
    }

    /// Checks `m` — the very changes of `checked`, which passed [`Store::check_merge`] onto an
    /// earlier version of the record, prepared again onto the record as it is now (others'
    /// changes landed in between) — without replaying each change again: a change's own
    /// causal context is the record at the change's dependencies, which other changes landing
    /// beside it do not alter, so what depends on the newer version is only the merged
    /// result, checked here as [`Store::check_merge`] checks it (scope and meta of the record
    /// before and after, the sign-off rule against the leader as the relay holds it now, the
    /// stored values). `Ok(false)`: `m` adds other changes than `checked` did (some landed
    /// meanwhile), so the caller checks it in full.
    pub fn check_merge_again(
        &self,
        m: &PreparedMerge,
        checked: &PreparedMerge,
        author: &Author,
    ) -> Result<bool> {
        let hashes = |p: &PreparedMerge| {
            let mut h: Vec<ChangeHash> = p.new_changes.iter().map(|(h, _)| *h).collect();
            h.sort();
            h
        };
        if !m.changed || !checked.changed || m.before.is_none() || hashes(m) != hashes(checked) {
            return Ok(false);
        }
        let reference = reference_meta(m, author)?;
        check_state(m, &reference, &m.after, author)?;
        check_merged_result(m, author)?;
        Ok(true)
    }

    /// Writes a prepared merge.
    pub fn commit_merge(&mut self, mut m: PreparedMerge) -> Result<MergeOutcome> {
        let heads = m.doc.heads();
        let out = MergeOutcome {
            id: m.id.clone(),
            created: m.before.is_none(),
            changed: m.changed,
            heads: heads.iter().map(|h| h.to_string()).collect(),
        };
        if m.changed {
            let now = self.now_ms();
            let unit = m.after.meta().unit.clone();
            let tx = self.write_tx()?;
            write_doc(
                &tx,
                &m.id,
                m.kind,
                &unit,
                &mut m.doc,
                m.before_heads.as_deref(),
                now,
            )?;
            tx.commit()?;
            if let Some(cache) = &self.doc_cache {
                cache.keep(&m.id, m.kind, m.doc);
            }
        }
        Ok(out)
    }

    /// Merges bytes from elsewhere into a record (no rule checks beyond well-formedness):
    /// what a device does with what the relay sends.
    pub fn merge_remote(&mut self, id: &str, bytes: &[u8]) -> Result<MergeOutcome> {
        if !self.contains(id)? {
            return self.import_remote(id, bytes);
        }
        let m = self.prepare_merge(id, bytes)?;
        self.commit_merge(m)
    }

    /// A record this store lacks entirely, as the relay sent it (its stored bytes): loaded
    /// once, to check it is the record asked for and to index it, and kept as received — not
    /// saved again, and without the per-change bookkeeping only the relay's checks use.
    fn import_remote(&mut self, id: &str, bytes: &[u8]) -> Result<MergeOutcome> {
        let mut doc = RecordDoc::load(bytes, self.actor.clone())?;
        let kind = doc.kind()?;
        let record = record_of(&mut doc, id, kind)?;
        let conflicts = doc.conflict_count(kind)?;
        let heads = doc.heads();
        let now = self.now_ms();
        let tx = self.write_tx()?;
        super::documents::insert_received(
            &tx,
            id,
            kind,
            &record.meta().unit,
            bytes,
            &heads,
            doc.generation(),
            now,
        )?;
        super::index::write_index_of(&tx, id, kind, &record, conflicts, now)?;
        tx.commit()?;
        Ok(MergeOutcome {
            id: id.to_owned(),
            created: true,
            changed: true,
            heads: heads.iter().map(|h| h.to_string()).collect(),
        })
    }
}

/// The typed record a document from elsewhere holds, which must be record `id`.
fn record_of(doc: &mut RecordDoc, id: &str, kind: RecordKind) -> Result<Record> {
    let json = doc.to_json()?;
    if json.get("_id").and_then(|v| v.as_str()) != Some(id) {
        return Err(Error::MalformedDocument(format!(
            "document is not record {id}"
        )));
    }
    Record::from_json(kind, json).map_err(|e| Error::MalformedDocument(e.to_string()))
}

/// The meta a merge's states are held to: the record's as stored before it, or for a new
/// record its own, which must name the sending user and device as creator. Also refuses a
/// merge `author` may not make to the record as stored, and changes of an erased generation.
fn reference_meta(m: &PreparedMerge, author: &Author) -> Result<RecordMeta> {
    if let Some(b) = &m.before {
        access::require_record(author, b)?;
        // A rebuilt generation has one root change; changes of the erased generation
        // would bring a second `_id` (and the erased values) back.
        if b.meta().generation > 0
            && automerge::ReadDoc::get_all(m.doc.automerge(), automerge::ROOT, "_id")?.len() > 1
        {
            return Err(Error::PermissionDenied(
                "these changes belong to a generation of the record that was erased".into(),
            ));
        }
    }
    // Who created a record is written once, by the device that sends it first; the meta
    // keys never change afterwards (only `_unit`, by the office).
    match &m.before {
        Some(b) => Ok(b.meta().clone()),
        None => {
            let meta = m.after.meta();
            if meta.created_by != author.user || meta.device != author.device {
                return Err(Error::PermissionDenied(format!(
                    "a new record must be created by the sending user and device, not {} on {}",
                    meta.created_by, meta.device
                )));
            }
            Ok(meta.clone())
        }
    }
}

/// Checks one state of a merge (the result, or what one change produced) against the
/// reference meta: the fixed meta keys unchanged, and a unit `author` may write.
fn check_state(
    m: &PreparedMerge,
    reference: &RecordMeta,
    state: &Record,
    author: &Author,
) -> Result<()> {
    if fixed_meta(state.meta()) != fixed_meta(reference) {
        return Err(Error::PermissionDenied(
            "a record's id, kind, number, creator and creation time cannot be changed".into(),
        ));
    }
    if m.before.is_none() || state.meta().unit != reference.unit {
        access::require_unit(author, &state.meta().unit)?;
    }
    Ok(())
}

/// The checks of a merge's result that depend on the record as stored before it: the
/// sign-off log judged against the case's leader as this relay knew it before the push
/// (whatever the pushed changes say the leader was in between), and the stored values.
fn check_merged_result(m: &PreparedMerge, author: &Author) -> Result<()> {
    if let (Some(Record::Petition(b)), Record::Petition(a)) = (&m.before, &m.after) {
        if a.signoffs.len() > b.signoffs.len() && !b.may_sign_off(author) {
            return Err(Error::PermissionDenied(
                "only the case's leader (包案领导) or the bureau office may sign it off or \
                 reopen it"
                    .into(),
            ));
        }
    }
    validate_stored_values(m.kind, &serde_json::to_value(&m.after)?)
}

/// The meta keys of a record that never change after it is created (all but `_unit`).
fn fixed_meta(m: &RecordMeta) -> (&str, RecordKind, &str, &str, i64, &str, i64, i64) {
    (
        &m.id,
        m.kind,
        &m.number,
        &m.created_by,
        m.created_at,
        &m.device,
        m.schema,
        m.generation,
    )
}

fn sorted(heads: &[ChangeHash]) -> Vec<ChangeHash> {
    let mut h = heads.to_vec();
    h.sort();
    h
}
