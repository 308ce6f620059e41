//! What the relay's side of sync reads from the store: where a record stands for access, how
//! large it is stored, and a page of the change feed within a device's scope.

use automerge::ChangeHash;
use rusqlite::{OptionalExtension, params_from_iter, types::Value as SqlValue};

use super::{Store, heads_from_json};
use crate::access::Scope;
use crate::error::Result;
use crate::model::campaign::CAMPAIGN_UNIT;

/// Where a stored record is, for access: its unit and the login leading it (petition cases).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAccess {
    /// Code of the record's unit.
    pub unit: String,
    /// Login of the case's leader (包案领导), if the record is a case with one.
    pub leader: Option<String>,
    /// The record's generation (raised by each personal-data erasure).
    pub generation: u64,
}

/// A stored record's access facts and heads: what a push checked away from the writer is
/// compared with when it is committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredVersion {
    /// Where the record is, for access.
    pub access: StoredAccess,
    /// The record's heads.
    pub heads: Vec<ChangeHash>,
}

/// One entry of the change feed: a record as last written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedRow {
    /// Record id.
    pub id: String,
    /// The record's position in the feed (the store's write sequence).
    pub seq: u64,
    /// The record's generation.
    pub generation: u64,
    /// The record's heads.
    pub heads: Vec<ChangeHash>,
}

impl Store {
    /// Where a stored record is, for access (none: no record of this id).
    pub fn stored_access(&self, id: &str) -> Result<Option<StoredAccess>> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT d.unit, r.leader, d.generation FROM documents d
                 LEFT JOIN records r ON r.id = d.id WHERE d.id=?1",
            )?
            .query_row([id], |r| {
                Ok(StoredAccess {
                    unit: r.get(0)?,
                    leader: r.get(1)?,
                    generation: r.get::<_, i64>(2)? as u64,
                })
            })
            .optional()?)
    }

    /// The stored state a push was checked against: where the record is for access and its
    /// heads (none: no record of this id). Equal versions mean nothing was written between.
    pub fn stored_version(&self, id: &str) -> Result<Option<StoredVersion>> {
        let row: Option<(String, Option<String>, i64, String)> = self
            .conn
            .prepare_cached(
                "SELECT d.unit, r.leader, d.generation, d.heads FROM documents d
                 LEFT JOIN records r ON r.id = d.id WHERE d.id=?1",
            )?
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .optional()?;
        row.map(|(unit, leader, generation, heads)| {
            Ok(StoredVersion {
                access: StoredAccess {
                    unit,
                    leader,
                    generation: generation as u64,
                },
                heads: heads_from_json(&heads)?,
            })
        })
        .transpose()
    }

    /// Bytes a stored record takes: its compacted document and the change chunks written
    /// since (none: no record of this id).
    pub fn stored_size(&self, id: &str) -> Result<Option<usize>> {
        let size: Option<i64> = self
            .conn
            .prepare_cached(
                "SELECT length(bytes) + COALESCE((SELECT SUM(length(bytes)) FROM doc_changes
                 WHERE id=?1), 0) FROM documents WHERE id=?1",
            )?
            .query_row([id], |r| r.get(0))
            .optional()?;
        Ok(size.map(|s| s as usize))
    }

    /// The feed after `cursor`, in write order, of the records a device of `user` with
    /// `scope` receives (as [`crate::access::scope_sees`] decides: its units, the cases
    /// `user` leads, the bureau-wide records): at most `limit` rows, and whether more follow.
    pub fn feed_page(
        &self,
        cursor: u64,
        scope: &Scope,
        user: &str,
        limit: usize,
    ) -> Result<(Vec<FeedRow>, bool)> {
        let mut sql = "SELECT id, seq, heads, generation FROM documents WHERE seq > ?".to_owned();
        let mut args = vec![SqlValue::Integer(cursor.min(i64::MAX as u64) as i64)];
        if let Some(units) = scope.units() {
            // The device's units, and the bureau-wide campaigns every device reads.
            sql.push_str(&format!(
                " AND (unit IN ({}) OR id IN (SELECT id FROM records WHERE leader = ?))",
                vec!["?"; units.len() + 1].join(",")
            ));
            args.push(SqlValue::Text(CAMPAIGN_UNIT.to_owned()));
            args.extend(units.iter().cloned().map(SqlValue::Text));
            args.push(SqlValue::Text(user.to_owned()));
        }
        sql.push_str(" ORDER BY seq LIMIT ?");
        args.push(SqlValue::Integer(limit as i64 + 1));
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let mut rows = stmt
            .query_map(params_from_iter(args), |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let more = rows.len() > limit;
        rows.truncate(limit);
        let page = rows
            .into_iter()
            .map(|(id, seq, heads, generation)| {
                Ok(FeedRow {
                    id,
                    seq: seq as u64,
                    generation: generation as u64,
                    heads: heads_from_json(&heads)?,
                })
            })
            .collect::<Result<_>>()?;
        Ok((page, more))
    }
}
