//! What a device keeps of its sync with the relay: per record, the heads the relay
//! acknowledged and the local write sequence pushed up to (`sync_docs`), and the clean
//! watermark below which every record is acknowledged.

use automerge::ChangeHash;
use rusqlite::{OptionalExtension, params};

use super::{Store, heads_from_json, heads_to_json};
use crate::error::Result;

/// What the relay acknowledged of a record: the heads it knows, and the local write sequence
/// pushed up to (a record written after it has changes to push).
pub type Acknowledged = (Vec<ChangeHash>, i64);

/// Meta key of the local write sequence up to which every document is known to be
/// acknowledged, so finding what to push reads only documents written since (cost grows with
/// changes, not the store).
const CLEAN_UPTO: &str = "sync/clean_upto";

impl Store {
    /// What the relay acknowledged of a record (none: nothing, or it was forgotten).
    pub fn acknowledged(&self, id: &str) -> Result<Option<Acknowledged>> {
        let row: Option<(String, i64)> = self
            .conn
            .prepare_cached("SELECT relay_heads, pushed_seq FROM sync_docs WHERE id=?1")?
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        row.map(|(h, s)| Ok((heads_from_json(&h)?, s))).transpose()
    }

    /// Records that the relay knows `heads` of a record and, when `pushed_seq` is given, that
    /// the record's local writes up to it are pushed (otherwise that mark stays).
    pub fn set_acknowledged(
        &self,
        id: &str,
        heads: &[ChangeHash],
        pushed_seq: Option<i64>,
    ) -> Result<()> {
        let tx = self.write_tx()?;
        tx.prepare_cached(
            "INSERT INTO sync_docs(id, relay_heads, pushed_seq) VALUES(?1, ?2, COALESCE(?3, 0))
             ON CONFLICT(id) DO UPDATE SET relay_heads=excluded.relay_heads,
               pushed_seq=COALESCE(?3, sync_docs.pushed_seq)",
        )?
        .execute(params![id, heads_to_json(heads), pushed_seq])?;
        tx.commit()
    }

    /// Records that a record's local writes up to `seq` need no push (the relay has them).
    pub fn mark_pushed(&self, id: &str, seq: i64) -> Result<()> {
        let tx = self.write_tx()?;
        tx.prepare_cached("UPDATE sync_docs SET pushed_seq=?2 WHERE id=?1")?
            .execute(params![id, seq])?;
        tx.commit()
    }

    /// Forgets what the relay acknowledged of a record, so the whole record is pushed again.
    pub fn forget_acknowledged(&self, id: &str) -> Result<()> {
        let tx = self.write_tx()?;
        tx.prepare_cached("DELETE FROM sync_docs WHERE id=?1")?
            .execute([id])?;
        tx.commit()
    }

    /// A record's local write sequence (none: no record of this id).
    pub fn write_seq(&self, id: &str) -> Result<Option<i64>> {
        Ok(self
            .conn
            .prepare_cached("SELECT seq FROM documents WHERE id=?1")?
            .query_row([id], |r| r.get(0))
            .optional()?)
    }

    /// Records with local writes the relay has not acknowledged, as (id, write sequence), in
    /// write order; only records written above the clean watermark are read.
    pub fn unacknowledged(&self) -> Result<Vec<(String, i64)>> {
        let clean: i64 = self
            .meta(CLEAN_UPTO)?
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut stmt = self.conn.prepare_cached(
            "SELECT d.id, d.seq FROM documents d LEFT JOIN sync_docs s ON s.id = d.id
             WHERE d.seq > ?1 AND (s.id IS NULL OR d.seq > s.pushed_seq) ORDER BY d.seq",
        )?;
        let rows = stmt
            .query_map([clean], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }

    /// Moves the clean watermark up to just below the oldest record still to push.
    pub fn advance_clean_watermark(&self) -> Result<()> {
        let upto = match self.unacknowledged()?.first() {
            Some((_, seq)) => seq - 1,
            None => self
                .conn
                .prepare_cached("SELECT COALESCE(MAX(seq), 0) FROM documents")?
                .query_row([], |r| r.get(0))?,
        };
        self.set_meta(CLEAN_UPTO, &upto.to_string())
    }
}
