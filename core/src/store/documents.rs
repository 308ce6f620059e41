//! Reading and writing the stored documents: a record's Automerge bytes (compacted, plus the
//! change chunks written since), its heads, and the typed record from the index.

use automerge::ChangeHash;
use rusqlite::{Connection, OptionalExtension, params};

use super::{COMPACT_AFTER, Store, heads_from_json, heads_to_json, index};
use crate::doc::{Conflict, HistoryEntry, RecordDoc};
use crate::error::{Error, Result};
use crate::model::{self, Dispute, Record, RecordKind};

impl Store {
    pub(super) fn load_doc(&self, id: &str) -> Result<(RecordDoc, RecordKind)> {
        let Some(cache) = &self.doc_cache else {
            return self.load_stored_doc(id);
        };
        if let Some((mut doc, kind)) = cache.get(id, &self.heads(id)?) {
            doc.set_actor(self.actor.clone());
            return Ok((doc, kind));
        }
        let (doc, kind) = self.load_stored_doc(id)?;
        cache.keep(id, kind, doc.clone());
        Ok((doc, kind))
    }

    /// A record's document loaded from its stored bytes and change chunks.
    fn load_stored_doc(&self, id: &str) -> Result<(RecordDoc, RecordKind)> {
        let row: Option<(Vec<u8>, String)> = self
            .conn
            .prepare_cached("SELECT bytes, kind FROM documents WHERE id=?1")?
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let (bytes, kind) = row.ok_or_else(|| Error::UnknownRecord(id.to_owned()))?;
        let mut stmt = self
            .conn
            .prepare_cached("SELECT bytes FROM doc_changes WHERE id=?1 ORDER BY n")?;
        let chunks: Vec<Vec<u8>> = stmt
            .query_map([id], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        let doc = RecordDoc::load_with_changes(
            &bytes,
            chunks.iter().map(Vec::as_slice),
            self.actor.clone(),
        )?;
        Ok((doc, kind.parse()?))
    }

    /// Whether a record with this id is in the store.
    pub fn contains(&self, id: &str) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached("SELECT 1 FROM documents WHERE id=?1")?
            .query_row([id], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// A record's document (for sync and inspection).
    pub fn document(&self, id: &str) -> Result<RecordDoc> {
        Ok(self.load_doc(id)?.0)
    }

    /// The whole document as stored — its compacted bytes followed by the change chunks
    /// written since — without loading it: what a device that holds nothing of the record
    /// is sent (Automerge loads the concatenation as one document).
    pub fn stored_bytes(&self, id: &str) -> Result<Vec<u8>> {
        let mut bytes: Vec<u8> = self
            .conn
            .prepare_cached("SELECT bytes FROM documents WHERE id=?1")?
            .query_row([id], |r| r.get(0))
            .optional()?
            .ok_or_else(|| Error::UnknownRecord(id.to_owned()))?;
        let mut stmt = self
            .conn
            .prepare_cached("SELECT bytes FROM doc_changes WHERE id=?1 ORDER BY n")?;
        let mut rows = stmt.query([id])?;
        while let Some(r) = rows.next()? {
            let chunk: Vec<u8> = r.get(0)?;
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }

    /// The whole document, compacted.
    pub fn document_bytes(&self, id: &str) -> Result<Vec<u8>> {
        Ok(self.load_doc(id)?.0.save())
    }

    /// The changes of a record that are not ancestors of `heads`.
    pub fn changes_after(&self, id: &str, heads: &[ChangeHash]) -> Result<Vec<u8>> {
        Ok(self.load_doc(id)?.0.save_after(heads))
    }

    /// A record's current heads.
    pub fn heads(&self, id: &str) -> Result<Vec<ChangeHash>> {
        let s: Option<String> = self
            .conn
            .prepare_cached("SELECT heads FROM documents WHERE id=?1")?
            .query_row([id], |r| r.get(0))
            .optional()?;
        heads_from_json(&s.ok_or_else(|| Error::UnknownRecord(id.to_owned()))?)
    }

    /// Any record, typed, read from the index.
    pub fn record(&self, id: &str) -> Result<Record> {
        let row: Option<(String, String)> = self
            .conn
            .prepare_cached("SELECT kind, json FROM records WHERE id=?1")?
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let (kind, json) = row.ok_or_else(|| Error::UnknownRecord(id.to_owned()))?;
        Record::from_json(kind.parse()?, serde_json::from_str(&json)?)
    }

    /// A dispute.
    pub fn dispute(&self, id: &str) -> Result<Dispute> {
        match self.record(id)? {
            Record::Dispute(d) => Ok(d),
            other => Err(Error::WrongKind {
                id: id.into(),
                expected: RecordKind::Dispute,
                actual: other.meta().kind,
            }),
        }
    }

    /// Conflicts of a record.
    pub fn conflicts(&self, id: &str) -> Result<Vec<Conflict>> {
        let (mut doc, kind) = self.load_doc(id)?;
        doc.conflicts(kind)
    }

    /// History of a record.
    pub fn history(&self, id: &str) -> Result<Vec<HistoryEntry>> {
        Ok(self.load_doc(id)?.0.history())
    }

    /// A record as it stood at `at_ms` (none if it did not exist yet).
    pub fn record_as_of(&self, id: &str, at_ms: i64) -> Result<Option<Record>> {
        let (mut doc, kind) = self.load_doc(id)?;
        let heads = doc.heads_at(at_ms);
        if heads.is_empty() {
            return Ok(None);
        }
        Ok(Some(Record::from_json(kind, doc.to_json_at(&heads)?)?))
    }

    /// Categories valid for a unit: the form's 17 and the unit's own.
    pub fn categories(&self, unit: &str) -> Result<Vec<String>> {
        let mut out: Vec<String> = model::FORM_CATEGORIES
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        if let Ok(Record::UnitProfile(p)) = self.record(&model::unit::profile_id(unit)) {
            // A set: the same category added on two offline devices is listed once.
            for c in p.categories {
                if !out.contains(&c) {
                    out.push(c);
                }
            }
        }
        Ok(out)
    }

    /// Rebuilds every index row from the documents (after a schema upgrade).
    pub fn reindex_all(&mut self) -> Result<usize> {
        let ids: Vec<String> = {
            let mut stmt = self.conn.prepare("SELECT id FROM documents")?;
            stmt.query_map([], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?
        };
        let tx = self.write_tx()?;
        for id in &ids {
            let row: (Vec<u8>, String, i64) = tx
                .prepare_cached("SELECT bytes, kind, updated_at FROM documents WHERE id=?1")?
                .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            let mut stmt =
                tx.prepare_cached("SELECT bytes FROM doc_changes WHERE id=?1 ORDER BY n")?;
            let chunks: Vec<Vec<u8>> = stmt
                .query_map([id], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            let mut doc = RecordDoc::load_with_changes(
                &row.0,
                chunks.iter().map(Vec::as_slice),
                self.actor.clone(),
            )?;
            index::write_index(&tx, id, row.1.parse()?, &mut doc, row.2)?;
        }
        tx.commit()?;
        Ok(ids.len())
    }
}

/// Writes a document and its index rows inside `tx`.
/// Stores a record new to this store as the bytes received (already loaded and checked).
#[allow(clippy::too_many_arguments)]
pub(super) fn insert_received(
    tx: &Connection,
    id: &str,
    kind: RecordKind,
    unit: &str,
    bytes: &[u8],
    heads: &[ChangeHash],
    generation: i64,
    now: i64,
) -> Result<()> {
    let seq: i64 = tx
        .prepare_cached("SELECT COALESCE(MAX(seq), 0) + 1 FROM documents")?
        .query_row([], |r| r.get(0))?;
    tx.prepare_cached(
        "INSERT INTO documents(id, kind, unit, bytes, heads, seq, updated_at, generation)
         VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        id,
        kind.code(),
        unit,
        bytes,
        heads_to_json(heads),
        seq,
        now,
        generation
    ])?;
    Ok(())
}

pub(super) fn write_doc(
    tx: &Connection,
    id: &str,
    kind: RecordKind,
    unit: &str,
    doc: &mut RecordDoc,
    before_heads: Option<&[ChangeHash]>,
    now: i64,
) -> Result<()> {
    let heads = doc.heads();
    let seq: i64 = tx
        .prepare_cached("SELECT COALESCE(MAX(seq), 0) + 1 FROM documents")?
        .query_row([], |r| r.get(0))?;
    let pending: i64 = match before_heads {
        Some(_) => tx
            .prepare_cached("SELECT COUNT(*) FROM doc_changes WHERE id=?1")?
            .query_row([id], |r| r.get(0))?,
        None => 0,
    };
    match before_heads {
        Some(h) if pending < COMPACT_AFTER => {
            let chunk = doc.save_after(h);
            tx.prepare_cached("INSERT INTO doc_changes(id, bytes) VALUES(?1, ?2)")?
                .execute(params![id, chunk])?;
            tx.prepare_cached(
                "UPDATE documents SET unit=?2, heads=?3, seq=?4, updated_at=?5 WHERE id=?1",
            )?
            .execute(params![id, unit, heads_to_json(&heads), seq, now])?;
        }
        _ => {
            let bytes = doc.save();
            tx.prepare_cached("DELETE FROM doc_changes WHERE id=?1")?
                .execute([id])?;
            tx.prepare_cached(
                "INSERT INTO documents(id, kind, unit, bytes, heads, seq, updated_at, generation)
                 VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT(id) DO UPDATE SET unit=excluded.unit, bytes=excluded.bytes, heads=excluded.heads,
                 seq=excluded.seq, updated_at=excluded.updated_at, generation=excluded.generation")?.execute(
                params![id, kind.code(), unit, bytes, heads_to_json(&heads), seq, now, doc.generation()],
            )?;
        }
    }
    index::write_index(tx, id, kind, doc, now)
}
