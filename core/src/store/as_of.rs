//! Records as they stood at a past moment, read from the documents' history: what reports
//! produced "as of" a date are built from.
//!
//! A change counts as made at the time its author's device stamped it. A past state is the set
//! of changes stamped up to then whose dependencies were made up to then too (see
//! [`crate::doc::RecordDoc::heads_at`]); the index is not used, since it only holds the present.

use rusqlite::params;

use super::Store;
use crate::doc::{Conflict, HistoryEntry, RecordDoc};
use crate::error::Result;
use crate::model::{Record, RecordKind};

impl Store {
    /// Ids of every record of `kind`, whichever unit holds it now.
    fn ids_of_kind(&self, kind: RecordKind) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id FROM documents WHERE kind = ?1 ORDER BY id")?;
        let ids = stmt
            .query_map(params![kind.code()], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(ids)
    }

    /// Records of `kind` as they stood at `at_ms`, oldest first; `units` filters on the unit a
    /// record was in at that moment (records moved since count for their old unit).
    pub fn records_as_of(
        &self,
        kind: RecordKind,
        units: Option<&[String]>,
        at_ms: i64,
    ) -> Result<Vec<Record>> {
        let mut out = Vec::new();
        for id in self.ids_of_kind(kind)? {
            if let Some(r) = self.record_as_of(&id, at_ms)? {
                if units.is_none_or(|u| u.contains(&r.meta().unit)) {
                    out.push(r);
                }
            }
        }
        out.sort_by(|a, b| {
            (a.meta().created_at, &a.meta().id).cmp(&(b.meta().created_at, &b.meta().id))
        });
        Ok(out)
    }

    /// Records of `kind`, each with the fields then in conflict, as they stood at `at_ms` (one document load
    /// each), oldest first; `units` filters on the unit of that moment.
    pub fn records_with_conflicts_as_of(
        &self,
        kind: RecordKind,
        units: Option<&[String]>,
        at_ms: i64,
    ) -> Result<Vec<(Record, Vec<Conflict>)>> {
        let mut out = Vec::new();
        for id in self.ids_of_kind(kind)? {
            let (mut doc, kind) = self.load_doc(&id)?;
            let heads = doc.heads_at(at_ms);
            if heads.is_empty() {
                continue;
            }
            let mut past = doc.automerge_mut().fork_at(&heads)?;
            let mut past = RecordDoc::load(&past.save(), self.actor.clone())?;
            let record = Record::from_json(kind, past.to_json()?)?;
            if units.is_some_and(|u| !u.contains(&record.meta().unit)) {
                continue;
            }
            let conflicts = past.conflicts(kind)?;
            out.push((record, conflicts));
        }
        out.sort_by(|a, b| {
            let (a, b) = (a.0.meta(), b.0.meta());
            (a.created_at, &a.id).cmp(&(b.created_at, &b.id))
        });
        Ok(out)
    }

    /// The changes of a record made up to `at_ms` (the same changes [`Store::record_as_of`]
    /// sees), in causal order.
    pub fn history_as_of(&self, id: &str, at_ms: i64) -> Result<Vec<HistoryEntry>> {
        let mut included = std::collections::HashSet::new();
        let mut out = Vec::new();
        for h in self.history(id)? {
            if h.at_ms <= at_ms && h.deps.iter().all(|d| included.contains(d)) {
                included.insert(h.hash.clone());
                out.push(h);
            }
        }
        Ok(out)
    }
}
