//! A revoked device (lost, stolen, handed back) erases itself on its next contact with the
//! relay, after telling the office which records it held that the relay never received: the
//! report is built here; the device client (`fieldledger_client::erase_revoked`) runs the flow.

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::store::Store;

/// A record with local changes the relay has not acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LostRecord {
    /// Record id.
    pub id: String,
    /// Kind code.
    pub kind: String,
    /// Unit code.
    pub unit: String,
    /// Case number.
    pub number: String,
    /// One-line title, so the office can find or re-create the case.
    pub title: String,
    /// Whether the relay never had the record at all (created on this device offline).
    pub new_record: bool,
    /// Last written on the device (ms since the Unix epoch).
    pub updated_at: i64,
}

/// What a revoked device reports before it erases its store.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LossReport {
    /// Records whose latest changes never reached the relay.
    pub records: Vec<LostRecord>,
    /// Whether the relay received this report.
    #[serde(default)]
    pub delivered: bool,
}

/// The records of `store` with changes the relay has not acknowledged.
pub fn loss_report(store: &Store) -> Result<LossReport> {
    let mut records = Vec::new();
    for (id, _) in store.unacknowledged()? {
        let s = store.summary(&id)?;
        let new_record = store.acknowledged(&id)?.is_none();
        records.push(LostRecord {
            id,
            kind: s.kind.code().to_owned(),
            unit: s.unit,
            number: s.number,
            title: s.title,
            new_record,
            updated_at: s.updated_at,
        });
    }
    Ok(LossReport {
        records,
        delivered: false,
    })
}
