//! Reports: the Annex 2 dispute ledger ([`ledger`]), the monthly report per unit and the
//! bureau's view of late units ([`monthly`]), and the supervision views ([`supervision`]).
//!
//! Every report reads its records through a [`Snapshot`]: either the store's materialised
//! index (the present) or the records as they stood at a past moment ("as of"), rebuilt from
//! each record's history. Given the same store and the same as-of moment a report is
//! byte-for-byte the same every time: rows are sorted on stable keys, and no clock reading
//! reaches the output except the as-of date itself (XLSX files carry it as their creation
//! time; without an as-of moment they carry the Unix epoch).

pub mod calendar;
pub mod ledger;
pub mod monthly;
pub mod render;
pub mod supervision;

use std::collections::BTreeMap;

use chrono::{Datelike, Duration, NaiveDate};
use serde::{Deserialize, Serialize};

pub use calendar::{Calendar, Campaign, ScreeningCadence, VisitRound, for_report, local_today};

use crate::error::{Error, Result};
use crate::model::{
    Dispute, FORM_CATEGORIES, Inspection, MonthlyReport, PetitionCase, Record, RecordKind,
    RiskAssessment, ScreeningRound, UnitProfile, Visit,
};
use crate::store::{DisputeFilter, Store};

impl From<rust_xlsxwriter::XlsxError> for Error {
    fn from(e: rust_xlsxwriter::XlsxError) -> Self {
        Error::Report(format!("writing the workbook failed: {e}"))
    }
}

impl From<csv::Error> for Error {
    fn from(e: csv::Error) -> Self {
        Error::Report(format!("writing the CSV file failed: {e}"))
    }
}

/// A calendar month (`YYYY-MM`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Month {
    /// Year.
    pub year: i32,
    /// Month 1–12.
    pub month: u32,
}

impl Month {
    /// Parses `YYYY-MM`.
    pub fn parse(s: &str) -> Result<Month> {
        let d = NaiveDate::parse_from_str(&format!("{}-01", s.trim()), "%Y-%m-%d")
            .map_err(|_| Error::invalid("month", "is not a month like 2019-10"))?;
        Ok(Month::of(d))
    }

    /// The month a date falls in.
    pub fn of(d: NaiveDate) -> Month {
        Month {
            year: d.year(),
            month: d.month(),
        }
    }

    /// First day.
    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).expect("valid month")
    }

    /// Last day.
    pub fn last_day(self) -> NaiveDate {
        let next = if self.month == 12 {
            NaiveDate::from_ymd_opt(self.year + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(self.year, self.month + 1, 1)
        };
        next.expect("valid month") - Duration::days(1)
    }

    /// Whether a date falls in this month.
    pub fn contains(self, d: NaiveDate) -> bool {
        Month::of(d) == self
    }

    /// The moment a report of this month is computed as of: `asked` when given; else, for a
    /// month already over (by the store's clock), the end of its last day — so a past
    /// month's report shows the month as it stood then, not today's state; else now (none).
    pub fn report_as_of(
        self,
        store: &Store,
        asked: Option<i64>,
        campaign: &Campaign,
    ) -> Option<i64> {
        asked.or_else(|| {
            (campaign.local_date(store.now_ms()) > self.last_day())
                .then(|| campaign.end_of_day_ms(self.last_day()))
        })
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{:02}", self.year, self.month)
    }
}

/// Where a report reads its records: the store's index (now), or the records as they stood at
/// a past moment.
pub struct Snapshot<'a> {
    store: &'a Store,
    at_ms: Option<i64>,
    today: NaiveDate,
}

impl<'a> Snapshot<'a> {
    /// A snapshot of `store` as of `at_ms` (none: now, by the store's clock).
    pub fn new(store: &'a Store, at_ms: Option<i64>, campaign: &Campaign) -> Snapshot<'a> {
        let today = campaign.local_date(at_ms.unwrap_or_else(|| store.now_ms()));
        Snapshot {
            store,
            at_ms,
            today,
        }
    }

    /// The store read.
    pub fn store(&self) -> &'a Store {
        self.store
    }

    /// The as-of moment, if the snapshot is of the past.
    pub fn at_ms(&self) -> Option<i64> {
        self.at_ms
    }

    /// The as-of date, if the snapshot is of the past (what reports print as 截至).
    pub fn as_of_date(&self) -> Option<NaiveDate> {
        self.at_ms.map(|_| self.today)
    }

    /// The local day overdue and missing things are measured on.
    pub fn today(&self) -> NaiveDate {
        self.today
    }

    /// Records of a kind (of some units), oldest first.
    pub fn records(&self, kind: RecordKind, units: Option<&[String]>) -> Result<Vec<Record>> {
        match self.at_ms {
            None => self.store.records(kind, units),
            Some(at) => self.store.records_as_of(kind, units, at),
        }
    }

    /// Disputes matching a filter, in ledger order (unit, found date, creation, id).
    pub fn disputes(&self, f: &DisputeFilter) -> Result<Vec<Dispute>> {
        match self.at_ms {
            None => self.store.disputes(f),
            Some(at) => {
                let mut out: Vec<Dispute> = self
                    .store
                    .records_as_of(RecordKind::Dispute, f.units.as_deref(), at)?
                    .into_iter()
                    .filter_map(|r| match r {
                        Record::Dispute(d) => Some(d),
                        _ => None,
                    })
                    .filter(|d| ledger::filter_matches(f, d))
                    .collect();
                ledger::sort_ledger(&mut out);
                Ok(out)
            }
        }
    }

    /// Visits.
    pub fn visits(&self, units: Option<&[String]>) -> Result<Vec<Visit>> {
        typed(self.records(RecordKind::Visit, units)?, |r| match r {
            Record::Visit(x) => Some(x),
            _ => None,
        })
    }

    /// Petition cases.
    pub fn petitions(&self, units: Option<&[String]>) -> Result<Vec<PetitionCase>> {
        typed(self.records(RecordKind::Petition, units)?, |r| match r {
            Record::Petition(x) => Some(x),
            _ => None,
        })
    }

    /// Risk assessments.
    pub fn risk_assessments(&self, units: Option<&[String]>) -> Result<Vec<RiskAssessment>> {
        typed(
            self.records(RecordKind::RiskAssessment, units)?,
            |r| match r {
                Record::RiskAssessment(x) => Some(x),
                _ => None,
            },
        )
    }

    /// Screening rounds.
    pub fn screenings(&self, units: Option<&[String]>) -> Result<Vec<ScreeningRound>> {
        typed(self.records(RecordKind::Screening, units)?, |r| match r {
            Record::Screening(x) => Some(x),
            _ => None,
        })
    }

    /// Inspections and self-checks.
    pub fn inspections(&self, units: Option<&[String]>) -> Result<Vec<Inspection>> {
        typed(self.records(RecordKind::Inspection, units)?, |r| match r {
            Record::Inspection(x) => Some(x),
            _ => None,
        })
    }

    /// Unit profiles, by unit code.
    pub fn profiles(&self, units: Option<&[String]>) -> Result<BTreeMap<String, UnitProfile>> {
        let list = typed(self.records(RecordKind::UnitProfile, units)?, |r| match r {
            Record::UnitProfile(x) => Some(x),
            _ => None,
        })?;
        Ok(list.into_iter().map(|p| (p.meta.unit.clone(), p)).collect())
    }

    /// Monthly report records.
    pub fn monthly_reports(&self, units: Option<&[String]>) -> Result<Vec<MonthlyReport>> {
        typed(
            self.records(RecordKind::MonthlyReport, units)?,
            |r| match r {
                Record::MonthlyReport(x) => Some(x),
                _ => None,
            },
        )
    }

    /// Unit names by code, from the unit profiles (units without a profile are absent).
    pub fn unit_names(&self, units: Option<&[String]>) -> Result<BTreeMap<String, String>> {
        Ok(self
            .profiles(units)?
            .into_iter()
            .filter(|(_, p)| !p.unit_name.trim().is_empty())
            .map(|(code, p)| (code, p.unit_name))
            .collect())
    }
}

fn typed<T>(records: Vec<Record>, f: impl Fn(Record) -> Option<T>) -> Result<Vec<T>> {
    Ok(records.into_iter().filter_map(f).collect())
}

/// 是 / 否 for a yes/no field; an unanswered flag counts as 否, as the ledger filters do.
pub fn yes_no(v: Option<bool>) -> &'static str {
    if v.unwrap_or(false) { "是" } else { "否" }
}

/// Units this store holds records of (every unit with a profile, and any other unit a record
/// is in), sorted.
pub fn known_units(store: &Store) -> Result<Vec<String>> {
    store.record_units()
}

/// Checks that every unit asked for is one this store knows ([`known_units`]): an unknown
/// unit is an error, not an empty report.
pub fn check_units(store: &Store, units: &[String]) -> Result<()> {
    let known = known_units(store)?;
    if units.iter().all(|u| known.contains(u)) {
        Ok(())
    } else {
        Err(Error::invalid("unit", "is not a unit of these records"))
    }
}

/// Checks a dispute filter's values before a report uses it, so that a mistyped value is an
/// error rather than silently "all" or "none": the status is `open` or `resolved`, and the
/// category is one of the form's, one a unit in scope added, or one a dispute in scope has.
pub fn check_filter(store: &Store, f: &DisputeFilter) -> Result<()> {
    if let Some(s) = &f.status {
        if s != "open" && s != "resolved" {
            return Err(Error::invalid("status", "is not open or resolved"));
        }
    }
    if let Some(c) = &f.category {
        let units = match &f.units {
            Some(u) => u.clone(),
            None => known_units(store)?,
        };
        let mut known = false;
        for u in &units {
            known = known || store.categories(u)?.contains(c);
        }
        if !known && FORM_CATEGORIES.contains(&c.as_str()) {
            known = true;
        }
        if !known {
            let used = store.dispute_units_in_category(c)?;
            known = used.iter().any(|u| units.contains(u));
        }
        if !known {
            return Err(Error::invalid(
                "类型 (category)",
                "is not a category of these units",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn campaign_days_are_local_days() {
        let c = Campaign::plan(2019);
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let end = c.end_of_day_ms(d("2019-10-20"));
        assert_eq!(c.local_date(end), d("2019-10-20"));
        assert_eq!(c.local_date(end + 1), d("2019-10-21"));
        // 2019-10-20T16:00Z is midnight in China Standard Time.
        assert_eq!(end + 1, 1_571_587_200_000);
        assert_eq!(c.local_date(i64::MAX), NaiveDate::MAX);
        assert_eq!(c.current_round(d("2019-09-01")).unwrap().code, "1");
        assert_eq!(c.current_round(d("2019-11-01")).unwrap().code, "2");
        assert_eq!(c.current_round(d("2020-01-01")).unwrap().code, "2");
        let m = Month::parse("2019-02").unwrap();
        assert_eq!(m.last_day(), d("2019-02-28"));
        assert_eq!(c.last_on_time_day(m), d("2019-02-22"));
        assert!(Month::parse("2019-13").is_err());
    }
}
