//! 排查: a unit's half-monthly screening for instability factors (每半月开展一次不安定因素排查).

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use super::field::{FieldSpec, FieldType};
use super::{Author, RecordMeta};
use crate::error::{Error, Result};

/// Fields of a screening round.
pub const FIELDS: &[FieldSpec] = &[
    FieldSpec {
        key: "screened_on",
        label: "排查日期",
        ty: FieldType::Date,
    },
    FieldSpec {
        key: "screened_by",
        label: "排查人员",
        ty: FieldType::Names,
    },
    FieldSpec {
        key: "scope",
        label: "排查范围",
        ty: FieldType::ShortText { required: false },
    },
    FieldSpec {
        key: "findings",
        label: "排查情况",
        ty: FieldType::LongText,
    },
    FieldSpec {
        key: "found_nothing",
        label: "未发现问题",
        ty: FieldType::Flag,
    },
    FieldSpec {
        key: "disputes",
        label: "发现矛盾纠纷",
        ty: FieldType::Names,
    },
];

/// A screening round; a round that found nothing is recorded too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScreeningRound {
    /// Id, unit, number, creator.
    #[serde(flatten)]
    pub meta: RecordMeta,
    /// Date.
    #[serde(default)]
    pub screened_on: Option<NaiveDate>,
    /// Who screened.
    #[serde(default)]
    pub screened_by: Vec<String>,
    /// Scope.
    #[serde(default)]
    pub scope: Option<String>,
    /// What was found.
    #[serde(default)]
    pub findings: String,
    /// Nothing found.
    #[serde(default)]
    pub found_nothing: bool,
    /// Ids of disputes found in this round.
    #[serde(default)]
    pub disputes: Vec<String>,
}

/// A half-month period: the 1st–15th or the 16th–end of a month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct HalfMonth {
    /// Year.
    pub year: i32,
    /// Month 1–12.
    pub month: u32,
    /// 1 for the first half, 2 for the second.
    pub half: u8,
}

impl HalfMonth {
    /// The half-month a date falls in.
    pub fn of(d: NaiveDate) -> HalfMonth {
        HalfMonth {
            year: d.year(),
            month: d.month(),
            half: if d.day() <= 15 { 1 } else { 2 },
        }
    }

    /// First day of the period.
    pub fn start(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, if self.half == 1 { 1 } else { 16 })
            .expect("valid half-month")
    }

    /// The following period.
    pub fn next(self) -> HalfMonth {
        if self.half == 1 {
            HalfMonth { half: 2, ..self }
        } else if self.month == 12 {
            HalfMonth {
                year: self.year + 1,
                month: 1,
                half: 1,
            }
        } else {
            HalfMonth {
                month: self.month + 1,
                half: 1,
                ..self
            }
        }
    }

    /// Periods that start on or after `from` and end on or before `to` (inclusive).
    pub fn between(from: NaiveDate, to: NaiveDate) -> Vec<HalfMonth> {
        let mut out = Vec::new();
        let mut p = HalfMonth::of(from);
        if p.start() < from {
            p = p.next();
        }
        while p.next().start() <= to.succ_opt().unwrap_or(to) {
            out.push(p);
            p = p.next();
        }
        out
    }
}

impl std::fmt::Display for HalfMonth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}-{:02} {}",
            self.year,
            self.month,
            if self.half == 1 {
                "上半月"
            } else {
                "下半月"
            }
        )
    }
}

impl ScreeningRound {
    /// Checks the rules: a round has a date; "found nothing" and linked disputes exclude each other.
    pub fn check_rules(
        _before: Option<&ScreeningRound>,
        after: &ScreeningRound,
        _author: &Author,
    ) -> Result<()> {
        if after.screened_on.is_none() {
            return Err(Error::invalid("排查日期 (screened_on)", "must be given"));
        }
        if after.found_nothing && !after.disputes.is_empty() {
            return Err(Error::RuleViolation(
                "a round that found disputes cannot be marked 未发现问题".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_months_between_dates() {
        let d = |s| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let p = HalfMonth::between(d("2019-10-01"), d("2019-11-30"));
        assert_eq!(p.len(), 4);
        assert_eq!(
            p[0],
            HalfMonth {
                year: 2019,
                month: 10,
                half: 1
            }
        );
        assert_eq!(p[3].start(), d("2019-11-16"));
        assert_eq!(
            HalfMonth {
                year: 2019,
                month: 12,
                half: 2
            }
            .next(),
            HalfMonth {
                year: 2020,
                month: 1,
                half: 1
            }
        );
    }
}
