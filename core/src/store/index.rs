//! Materialised index tables: the columns lists, filters and reports need, written in the same
//! transaction as the document, so listing 10,000 disputes loads no Automerge document.

use chrono::NaiveDate;
use rusqlite::{params, params_from_iter, types::Value as SqlValue};
use serde::{Deserialize, Serialize};

use super::Store;
use crate::doc::RecordDoc;
use crate::error::{Error, Result};
use crate::model::{Dispute, Record, RecordKind};

/// One row of a record list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordSummary {
    /// Record id.
    pub id: String,
    /// Kind.
    pub kind: RecordKind,
    /// Unit code.
    pub unit: String,
    /// Case number.
    pub number: String,
    /// One-line title.
    pub title: String,
    /// Status code.
    pub status: String,
    /// Creator login.
    pub created_by: String,
    /// Created (ms).
    pub created_at: i64,
    /// Last written here (ms).
    pub updated_at: i64,
    /// Number of fields in conflict.
    pub conflicts: i64,
}

/// Filters of the dispute ledger.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DisputeFilter {
    /// Only these units (none: all units the store holds).
    #[serde(default)]
    pub units: Option<Vec<String>>,
    /// Only this category.
    #[serde(default)]
    pub category: Option<String>,
    /// `open` or `resolved`.
    #[serde(default)]
    pub status: Option<String>,
    /// 是否重大问题.
    #[serde(default)]
    pub is_major: Option<bool>,
    /// 是否群体性问题.
    #[serde(default)]
    pub is_group: Option<bool>,
    /// 是否跨区域问题.
    #[serde(default)]
    pub is_cross_region: Option<bool>,
    /// 是否历史遗留问题.
    #[serde(default)]
    pub is_legacy: Option<bool>,
    /// Found on or after.
    #[serde(default)]
    pub found_from: Option<NaiveDate>,
    /// Found on or before.
    #[serde(default)]
    pub found_to: Option<NaiveDate>,
    /// Open and past their deadline on this day.
    #[serde(default)]
    pub overdue_on: Option<NaiveDate>,
}

fn flag(b: Option<bool>) -> i64 {
    i64::from(b.unwrap_or(false))
}

pub(super) fn write_index(
    tx: &rusqlite::Connection,
    id: &str,
    kind: RecordKind,
    doc: &mut RecordDoc,
    now: i64,
) -> Result<()> {
    let record = Record::from_json(kind, doc.to_json()?)?;
    let conflicts = doc.conflict_count(kind)?;
    write_index_of(tx, id, kind, &record, conflicts, now)
}

/// Writes the index rows of `record` (read from its document already), with its number of
/// fields in conflict.
pub(super) fn write_index_of(
    tx: &rusqlite::Connection,
    id: &str,
    kind: RecordKind,
    record: &Record,
    conflicts: usize,
    now: i64,
) -> Result<()> {
    let conflicts = conflicts as i64;
    let meta = record.meta();
    tx.prepare_cached(
        "INSERT INTO records(id, kind, unit, number, title, status, created_by, created_at, updated_at, json, conflicts,
           leader)
         VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
         ON CONFLICT(id) DO UPDATE SET unit=excluded.unit, number=excluded.number, title=excluded.title,
           status=excluded.status, updated_at=excluded.updated_at, json=excluded.json, conflicts=excluded.conflicts,
           leader=excluded.leader")?.execute(
        params![
            id,
            kind.code(),
            meta.unit,
            meta.number,
            record.title(),
            record.status(),
            meta.created_by,
            meta.created_at,
            now,
            serde_json::to_string(record)?,
            conflicts,
            record.case_leader()
        ],
    )?;
    if let Record::Dispute(d) = &record {
        tx.prepare_cached(
            "INSERT INTO dispute_index(id, unit, category, trend, leader, responsible, people, is_major, is_group,
               is_cross_region, is_legacy, found_on, deadline, resolved)
             VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
             ON CONFLICT(id) DO UPDATE SET unit=excluded.unit, category=excluded.category, trend=excluded.trend,
               leader=excluded.leader, responsible=excluded.responsible, people=excluded.people,
               is_major=excluded.is_major, is_group=excluded.is_group, is_cross_region=excluded.is_cross_region,
               is_legacy=excluded.is_legacy, found_on=excluded.found_on, deadline=excluded.deadline,
               resolved=excluded.resolved")?.execute(
            params![
                id,
                d.meta.unit,
                d.category,
                d.trend.map(|t| t.code()),
                d.leader,
                d.responsible,
                d.people_involved,
                flag(d.is_major),
                flag(d.is_group),
                flag(d.is_cross_region),
                flag(d.is_legacy),
                d.found_on.map(|x| x.to_string()),
                d.deadline.map(|x| x.to_string()),
                i64::from(d.is_resolved()),
            ],
        )?;
    }
    Ok(())
}

fn push_units(sql: &mut String, args: &mut Vec<SqlValue>, col: &str, units: &Option<Vec<String>>) {
    if let Some(units) = units {
        let marks = vec!["?"; units.len()].join(",");
        if units.is_empty() {
            sql.push_str(" AND 0");
        } else {
            sql.push_str(&format!(" AND {col} IN ({marks})"));
            args.extend(units.iter().cloned().map(SqlValue::Text));
        }
    }
}

fn summary_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RecordSummary> {
    Ok(RecordSummary {
        id: r.get(0)?,
        kind: r
            .get::<_, String>(1)?
            .parse()
            .unwrap_or(RecordKind::Dispute),
        unit: r.get(2)?,
        number: r.get(3)?,
        title: r.get(4)?,
        status: r.get(5)?,
        created_by: r.get(6)?,
        created_at: r.get(7)?,
        updated_at: r.get(8)?,
        conflicts: r.get(9)?,
    })
}

const SUMMARY_COLUMNS: &str =
    "id, kind, unit, number, title, status, created_by, created_at, updated_at, conflicts";

impl Store {
    /// Units this store holds records of, sorted.
    pub fn record_units(&self) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT DISTINCT unit FROM records ORDER BY unit")?;
        let units = stmt
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(units)
    }

    /// Units of the disputes filed under `category` (one entry per dispute).
    pub fn dispute_units_in_category(&self, category: &str) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT unit FROM dispute_index WHERE category = ?1")?;
        let units = stmt
            .query_map([category], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(units)
    }

    /// Whether `code` is a visit target in the unit's 走访对象名单 (its profile).
    pub fn has_visit_target(&self, unit: &str, code: &str) -> Result<bool> {
        match self.record(&crate::model::unit::profile_id(unit)) {
            Ok(Record::UnitProfile(p)) => Ok(p.visit_targets.iter().any(|t| t.code.trim() == code)),
            Ok(_) | Err(Error::UnknownRecord(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// One record's summary row from the index.
    pub fn summary(&self, id: &str) -> Result<RecordSummary> {
        use rusqlite::OptionalExtension;
        self.connection()
            .prepare_cached(&format!(
                "SELECT {SUMMARY_COLUMNS} FROM records WHERE id = ?1"
            ))?
            .query_row([id], summary_from_row)
            .optional()?
            .ok_or_else(|| crate::error::Error::UnknownRecord(id.to_owned()))
    }

    /// Lists records of a kind (optionally of some units), newest first, from the index.
    pub fn list(&self, kind: RecordKind, units: Option<&[String]>) -> Result<Vec<RecordSummary>> {
        let mut sql = format!("SELECT {SUMMARY_COLUMNS} FROM records WHERE kind = ?");
        let mut args = vec![SqlValue::Text(kind.code().into())];
        push_units(&mut sql, &mut args, "unit", &units.map(<[String]>::to_vec));
        sql.push_str(" ORDER BY created_at DESC, id");
        let mut stmt = self.connection().prepare(&sql)?;
        let rows = stmt.query_map(params_from_iter(args), summary_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Typed records of a kind (optionally of some units), oldest first, from the index.
    pub fn records(&self, kind: RecordKind, units: Option<&[String]>) -> Result<Vec<Record>> {
        let mut sql = "SELECT json FROM records WHERE kind = ?".to_owned();
        let mut args = vec![SqlValue::Text(kind.code().into())];
        push_units(&mut sql, &mut args, "unit", &units.map(<[String]>::to_vec));
        sql.push_str(" ORDER BY created_at, id");
        let mut stmt = self.connection().prepare(&sql)?;
        let rows = stmt.query_map(params_from_iter(args), |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for json in rows {
            out.push(Record::from_json(kind, serde_json::from_str(&json?)?)?);
        }
        Ok(out)
    }

    /// Disputes matching a filter, in ledger order (unit, found date, creation), from the index.
    pub fn disputes(&self, f: &DisputeFilter) -> Result<Vec<Dispute>> {
        let mut sql =
            "SELECT r.json FROM dispute_index d JOIN records r ON r.id = d.id WHERE 1".to_owned();
        let mut args: Vec<SqlValue> = Vec::new();
        push_units(&mut sql, &mut args, "d.unit", &f.units);
        if let Some(c) = &f.category {
            sql.push_str(" AND d.category = ?");
            args.push(SqlValue::Text(c.clone()));
        }
        match f.status.as_deref() {
            Some("open") => sql.push_str(" AND d.resolved = 0"),
            Some("resolved") => sql.push_str(" AND d.resolved = 1"),
            _ => {}
        }
        for (col, v) in [
            ("is_major", f.is_major),
            ("is_group", f.is_group),
            ("is_cross_region", f.is_cross_region),
            ("is_legacy", f.is_legacy),
        ] {
            if let Some(v) = v {
                sql.push_str(&format!(" AND d.{col} = ?"));
                args.push(SqlValue::Integer(i64::from(v)));
            }
        }
        if let Some(d) = f.found_from {
            sql.push_str(" AND d.found_on >= ?");
            args.push(SqlValue::Text(d.to_string()));
        }
        if let Some(d) = f.found_to {
            sql.push_str(" AND d.found_on <= ?");
            args.push(SqlValue::Text(d.to_string()));
        }
        if let Some(d) = f.overdue_on {
            sql.push_str(" AND d.resolved = 0 AND d.deadline < ?");
            args.push(SqlValue::Text(d.to_string()));
        }
        sql.push_str(" ORDER BY d.unit, d.found_on, r.created_at, d.id");
        let mut stmt = self.connection().prepare(&sql)?;
        let rows = stmt.query_map(params_from_iter(args), |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for json in rows {
            out.push(serde_json::from_str(&json?)?);
        }
        Ok(out)
    }

    /// Ids of records with open conflicts (optionally of some units).
    pub fn records_with_conflicts(&self, units: Option<&[String]>) -> Result<Vec<RecordSummary>> {
        let mut out = Vec::new();
        for kind in RecordKind::ALL {
            out.extend(
                self.list(kind, units)?
                    .into_iter()
                    .filter(|r| r.conflicts > 0),
            );
        }
        Ok(out)
    }

    /// Number of records of each kind.
    pub fn count(&self, kind: RecordKind) -> Result<i64> {
        Ok(self
            .connection()
            .prepare_cached("SELECT COUNT(*) FROM records WHERE kind=?1")?
            .query_row([kind.code()], |r| r.get(0))?)
    }
}

impl Store {
    /// Number of fields in conflict in a record, from the index.
    pub fn list_conflict_count(&self, id: &str) -> Result<i64> {
        Ok(self
            .connection()
            .prepare_cached("SELECT conflicts FROM records WHERE id=?1")?
            .query_row([id], |r| r.get(0))?)
    }
}
