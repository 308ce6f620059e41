//! Export of the unit's dispute ledger (矛盾纠纷排查化解统计表) through the core's reports.

use fieldledger_core::Store;
use fieldledger_core::access::Scope;
use fieldledger_core::report::ledger::{self, LedgerQuery};
use fieldledger_core::report::monthly::{MonthlyQuery, unit_monthly};
use fieldledger_core::report::supervision::{SupervisionQuery, supervision};
use fieldledger_core::report::{Calendar, for_report};
use fieldledger_core::store::DisputeFilter;

use crate::FieldStore;
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
    let units = Scope::for_author(author).into_units();
    let consolidated = units.is_none();
    let query = LedgerQuery {
        filter: DisputeFilter {
            units,
            ..Default::default()
        },
        as_of: None,
        consolidated,
    };
    let (campaign, _) = for_report(store, None)?;
    let format = match format {
        LedgerFormat::Csv => ledger::LedgerFormat::Csv,
        LedgerFormat::Xlsx => ledger::LedgerFormat::Xlsx,
    };
    Ok(ledger::export_ledger(store, &query, format, &campaign)?)
}

/// A visit round of a campaign, for the app.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CampaignRoundInfo {
    /// Round code visits store (`1`).
    pub code: String,
    /// Label (第一轮).
    pub label: String,
    /// Last day, `YYYY-MM-DD`.
    pub ends_on: String,
}

/// A campaign's calendar as this device holds it (synced from the relay; set by the office).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct CampaignInfo {
    /// Record id.
    pub id: String,
    /// 活动名称.
    pub name: String,
    /// First day, `YYYY-MM-DD`.
    pub start: String,
    /// Last day, `YYYY-MM-DD`.
    pub end: String,
    /// IANA time zone.
    pub time_zone: String,
    /// Monthly reports are due before this day of the month.
    pub monthly_due_day: u32,
    /// Visit rounds in order.
    pub rounds: Vec<CampaignRoundInfo>,
    /// Whether the campaign is under way today.
    pub under_way: bool,
}

fn as_of_day(as_of: Option<String>) -> Result<Option<chrono::NaiveDate>> {
    Ok(as_of
        .map(|s| fieldledger_core::model::field::parse_date("as_of", &s))
        .transpose()?)
}

#[uniffi::export]
impl FieldStore {
    /// The campaigns this device holds, by start date.
    pub fn campaigns(&self) -> Result<Vec<CampaignInfo>> {
        self.with(|s| {
            let calendar = Calendar::load(s, None)?;
            let today = calendar.today(s.now_ms());
            Ok(calendar
                .campaigns()
                .iter()
                .map(|c| CampaignInfo {
                    id: c.id.clone().unwrap_or_default(),
                    name: c.name.clone(),
                    start: c.start.to_string(),
                    end: c.end.to_string(),
                    time_zone: c.time_zone.name().to_owned(),
                    monthly_due_day: c.monthly_due_day,
                    rounds: c
                        .rounds
                        .iter()
                        .map(|r| CampaignRoundInfo {
                            code: r.code.clone(),
                            label: r.label.clone(),
                            ends_on: r.ends_on.to_string(),
                        })
                        .collect(),
                    under_way: c.contains(today),
                })
                .collect())
        })
    }

    /// The supervision views (督查) of the units this device holds, as JSON, judged against
    /// the campaign in force; `as_of` (`YYYY-MM-DD`) for the records as they stood then.
    pub fn supervision_json(&self, as_of: Option<String>) -> Result<String> {
        let day = as_of_day(as_of)?;
        self.with(|s| {
            let (campaign, as_of) = for_report(s, day)?;
            let units = own_units(s)?;
            let v = supervision(s, &SupervisionQuery { units, as_of }, &campaign)?;
            Ok(serde_json::to_string(&v)?)
        })
    }

    /// A unit's monthly report for `month` (`YYYY-MM`) as JSON: the acting user's unit, or
    /// `unit` for the bureau office.
    pub fn monthly_report_json(
        &self,
        month: String,
        unit: Option<String>,
        as_of: Option<String>,
    ) -> Result<String> {
        let day = as_of_day(as_of)?;
        self.with(|s| {
            let (campaign, as_of) = for_report(s, day)?;
            let author = &s
                .identity()
                .ok_or(fieldledger_core::Error::NotEnrolled)?
                .author;
            let unit = unit.unwrap_or_else(|| author.unit.clone());
            if !fieldledger_core::access::may_access_unit(author, &unit) {
                return Err(fieldledger_core::Error::PermissionDenied(
                    "the monthly report of another unit is not in your scope".into(),
                ));
            }
            let r = unit_monthly(s, &MonthlyQuery { unit, month, as_of }, &campaign)?;
            Ok(serde_json::to_string(&r)?)
        })
    }
}

/// The units the acting user reads: every unit for the office, else their own.
fn own_units(store: &Store) -> fieldledger_core::Result<Option<Vec<String>>> {
    let author = &store
        .identity()
        .ok_or(fieldledger_core::Error::NotEnrolled)?
        .author;
    Ok(Scope::for_author(author).into_units())
}
