//! Export of the unit's dispute ledger (矛盾纠纷排查化解统计表) through the core's reports.

use chrono::Datelike;
use fieldledger_core::Store;
use fieldledger_core::model::Role;
use fieldledger_core::report::Campaign;
use fieldledger_core::report::ledger::{self, LedgerQuery};
use fieldledger_core::store::DisputeFilter;

use crate::error::Result;

/// File format of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum LedgerFormat {
    /// UTF-8 CSV with a byte-order mark (opens in Excel).
    Csv,
    /// Excel workbook.
    Xlsx,
}

/// The ledger of the acting user's unit; the bureau office gets every unit it holds,
/// consolidated.
pub(crate) fn ledger(store: &Store, format: LedgerFormat) -> Result<Vec<u8>> {
    let author = &store
        .identity()
        .ok_or(fieldledger_core::Error::NotEnrolled)?
        .author;
    let consolidated = author.role == Role::Office;
    let query = LedgerQuery {
        filter: DisputeFilter {
            units: (!consolidated).then(|| vec![author.unit.clone()]),
            ..Default::default()
        },
        as_of: None,
        consolidated,
    };
    // Only the calendar's time zone matters for a ledger of the present.
    let year = Campaign::plan(2000).local_date(store.now_ms()).year();
    let format = match format {
        LedgerFormat::Csv => ledger::LedgerFormat::Csv,
        LedgerFormat::Xlsx => ledger::LedgerFormat::Xlsx,
    };
    Ok(ledger::export_ledger(
        store,
        &query,
        format,
        &Campaign::plan(year),
    )?)
}
