//! What a personal-data erasure clears on the relay besides the record itself.
//!
//! The core rebuilds the record (`documents`, `doc_changes`, `records`, `dispute_index`). Of the
//! other tables in the relay database only two can hold what a record said:
//!
//! - `acct_lost_records`: the title (and case number) of the record as a revoked device
//!   reported it;
//! - `acct_audit`: lines about the record (refused pushes, sign-offs, moves, exports, loss
//!   reports, earlier erasures) — their details are masked.
//!
//! The rest (`acct_units`, `acct_users`, `acct_devices`, `acct_enrollments`, `acct_sessions`,
//! `acct_schema`, the core's `meta` and `sync_docs`) hold accounts, counters and hashes, never
//! record values. After masking, the database is rebuilt (`VACUUM`) and its write-ahead log
//! emptied, so no freed page or old page image keeps the erased bytes.

use fieldledger_core::doc::erase::MASK;
use rusqlite::params;

use super::{AccountStore, audit};
use crate::error::Result;

/// What [`AccountStore::erase_mentions`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MentionsErased {
    /// Lost-record rows of the record that were masked.
    pub lost_records: usize,
    /// Audit lines that were masked.
    pub audit_lines: usize,
    /// Whether the write-ahead log was emptied (false: a reader held it; the next erasure or
    /// the relay's own checkpoints empty it).
    pub log_emptied: bool,
}

/// `text` with every term replaced by the mask (longest terms first).
pub fn mask_terms(text: &str, terms: &[String]) -> String {
    let mut sorted: Vec<&String> = terms.iter().filter(|t| !t.is_empty()).collect();
    sorted.sort_by_key(|t| std::cmp::Reverse(t.len()));
    sorted
        .into_iter()
        .fold(text.to_owned(), |out, t| out.replace(t.as_str(), MASK))
}

impl AccountStore {
    /// After the core erased personal data from record `record_id` (case number `number`):
    /// masks `terms` (the strings masked and the values erased, see
    /// `Store::erasure_terms`) in the record's lost-record rows and in the audit lines that
    /// name the record, writes the `record.erase` audit line `detail` (which must already be
    /// masked), then rebuilds the database file and empties its write-ahead log.
    pub fn erase_mentions(
        &mut self,
        actor: &str,
        record_id: &str,
        number: &str,
        terms: &[String],
        detail: &str,
    ) -> Result<MentionsErased> {
        let tx = self.write()?;
        let mut lost_records = 0;
        {
            let mut read =
                tx.prepare("SELECT id, title, number FROM acct_lost_records WHERE record_id = ?1")?;
            let rows: Vec<(i64, String, String)> = read
                .query_map([record_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<rusqlite::Result<_>>()?;
            for (id, title, num) in rows {
                let (t, n) = (mask_terms(&title, terms), mask_terms(&num, terms));
                if (&t, &n) != (&title, &num) {
                    tx.execute(
                        "UPDATE acct_lost_records SET title = ?2, number = ?3 WHERE id = ?1",
                        params![id, t, n],
                    )?;
                    lost_records += 1;
                }
            }
        }
        let mut audit_lines = 0;
        {
            let mut read = tx.prepare(
                "SELECT id, detail FROM acct_audit
                 WHERE instr(detail, ?1) > 0 OR (?2 <> '' AND instr(detail, ?2) > 0)",
            )?;
            let rows: Vec<(i64, String)> = read
                .query_map(params![record_id, number], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            for (id, d) in rows {
                let masked = mask_terms(&d, terms);
                if masked != d {
                    tx.execute(
                        "UPDATE acct_audit SET detail = ?2 WHERE id = ?1",
                        params![id, masked],
                    )?;
                    audit_lines += 1;
                }
            }
        }
        audit(&tx, actor, "record.erase", detail)?;
        tx.commit()?;
        // secure_delete zeroes what the updates freed; VACUUM also rewrites every page, so
        // nothing of the old rows survives in unused parts of pages; the checkpoint then moves
        // the rebuilt pages into the file and truncates the log, where the old images were.
        self.conn.execute_batch("VACUUM")?;
        let busy: i64 = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
        Ok(MentionsErased {
            lost_records,
            audit_lines,
            log_emptied: busy == 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_longest_terms_first() {
        let terms = vec!["欧阳".to_owned(), "欧阳娜娜".to_owned()];
        assert_eq!(
            mask_terms("欧阳娜娜与欧阳某", &terms),
            format!("{MASK}与{MASK}某")
        );
        assert_eq!(mask_terms("无关", &[]), "无关");
    }

    #[test]
    fn only_lines_about_the_record_are_masked() {
        let mut store = AccountStore::open_in_memory().unwrap();
        store
            .log(
                "zhang",
                "sync.refused",
                "WJK-XF-D2-0001 (r1) from device D2: 欧阳娜娜",
            )
            .unwrap();
        store
            .log(
                "zhang",
                "device.lost_records",
                "1 record(s) not synced: WJK-XF-D2-0001",
            )
            .unwrap();
        store
            .log(
                "li",
                "sync.refused",
                "WJK-XF-D3-0001 (r2) from device D3: 欧阳娜娜",
            )
            .unwrap();
        let terms = vec!["欧阳娜娜".to_owned()];
        let out = store
            .erase_mentions("boss", "r1", "WJK-XF-D2-0001", &terms, "erased r1")
            .unwrap();
        assert_eq!((out.lost_records, out.audit_lines), (0, 1));
        let details: Vec<String> = store
            .audit_log(10)
            .unwrap()
            .into_iter()
            .map(|e| e.detail)
            .collect();
        assert_eq!(
            details,
            [
                "erased r1",
                "WJK-XF-D3-0001 (r2) from device D3: 欧阳娜娜",
                "1 record(s) not synced: WJK-XF-D2-0001",
                &format!("WJK-XF-D2-0001 (r1) from device D2: {MASK}"),
            ]
        );
    }
}
