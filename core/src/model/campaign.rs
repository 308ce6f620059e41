//! 活动: a campaign of the bureau (e.g. 三大活动 of one year) with its calendar — start and
//! end, the visit rounds and the day each must be finished by, the monthly report's due day
//! (每月23日前), the screening cadence (每半月) and the time zone its days are counted in.
//!
//! Campaigns are records like any other (history, sync, conflicts), kept in the bureau-wide
//! unit [`CAMPAIGN_UNIT`] that every device receives and only the office changes. Reports
//! turn them into the [`crate::report::Campaign`] calendar in force on a day.

use std::str::FromStr;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::field::{Choice, FieldSpec, FieldType};
use super::{Author, RecordMeta};
use crate::error::{Error, Result};

/// The unit code campaign records carry: bureau-wide, sent to every device, changed by the
/// office only. No real unit can have it (unit codes are letters and digits).
pub const CAMPAIGN_UNIT: &str = "*";

/// Choices of 排查频次.
pub const SCREENING_CADENCES: &[Choice] = &[Choice {
    code: "half_monthly",
    label: "每半月",
}];

const ROUND_FIELDS: &[FieldSpec] = &[
    FieldSpec {
        key: "code",
        label: "轮次编号",
        ty: FieldType::ShortText { required: true },
    },
    FieldSpec {
        key: "label",
        label: "轮次名称",
        ty: FieldType::ShortText { required: true },
    },
    FieldSpec {
        key: "ends_on",
        label: "完成日期",
        ty: FieldType::Date,
    },
];

/// Fields of a campaign.
pub const FIELDS: &[FieldSpec] = &[
    FieldSpec {
        key: "name",
        label: "活动名称",
        ty: FieldType::ShortText { required: true },
    },
    FieldSpec {
        key: "start",
        label: "开始日期",
        ty: FieldType::Date,
    },
    FieldSpec {
        key: "end",
        label: "结束日期",
        ty: FieldType::Date,
    },
    FieldSpec {
        key: "time_zone",
        label: "时区",
        ty: FieldType::ShortText { required: false },
    },
    FieldSpec {
        key: "monthly_due_day",
        label: "月报报送日",
        ty: FieldType::Count,
    },
    FieldSpec {
        key: "screening",
        label: "排查频次",
        ty: FieldType::Choice(SCREENING_CADENCES),
    },
    FieldSpec {
        key: "rounds",
        label: "走访轮次",
        ty: FieldType::Entries(ROUND_FIELDS),
    },
];

/// The time zone a campaign counts its days in when none is given.
pub const DEFAULT_TIME_ZONE: &str = "Asia/Shanghai";

/// A visit round of a campaign as its record keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignRound {
    /// Entry id.
    pub id: String,
    /// Round code as visits store it (`1`, `2`).
    #[serde(default)]
    pub code: String,
    /// Label (第一轮).
    #[serde(default)]
    pub label: String,
    /// Last day of the round.
    #[serde(default)]
    pub ends_on: Option<NaiveDate>,
}

/// A campaign record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignRecord {
    /// Id, unit ([`CAMPAIGN_UNIT`]).
    #[serde(flatten)]
    pub meta: RecordMeta,
    /// 活动名称.
    #[serde(default)]
    pub name: String,
    /// First day of implementation.
    #[serde(default)]
    pub start: Option<NaiveDate>,
    /// Last day.
    #[serde(default)]
    pub end: Option<NaiveDate>,
    /// IANA time zone (`Asia/Shanghai`); none: [`DEFAULT_TIME_ZONE`].
    #[serde(default)]
    pub time_zone: Option<String>,
    /// Monthly reports are due before this day of the month.
    #[serde(default)]
    pub monthly_due_day: Option<i64>,
    /// Screening cadence code (`half_monthly`).
    #[serde(default)]
    pub screening: Option<String>,
    /// Visit rounds in order.
    #[serde(default)]
    pub rounds: Vec<CampaignRound>,
}

/// Parses an IANA time zone name.
pub fn parse_time_zone(name: &str) -> Result<chrono_tz::Tz> {
    chrono_tz::Tz::from_str(name.trim())
        .map_err(|_| Error::invalid("时区 (time_zone)", "is not a time zone like Asia/Shanghai"))
}

impl CampaignRecord {
    /// Checks the rules: only the office sets a campaign; it lives in [`CAMPAIGN_UNIT`];
    /// its dates, time zone, due day and rounds make a calendar.
    pub fn check_rules(
        before: Option<&CampaignRecord>,
        after: &CampaignRecord,
        author: &Author,
    ) -> Result<()> {
        if before != Some(after) && !crate::access::may_set_campaign(author) {
            return Err(Error::PermissionDenied(
                "only the bureau office sets a campaign's calendar".into(),
            ));
        }
        if after.meta.unit != CAMPAIGN_UNIT {
            return Err(Error::RuleViolation(
                "a campaign belongs to the whole bureau, not to one unit".into(),
            ));
        }
        let (Some(start), Some(end)) = (after.start, after.end) else {
            return Err(Error::invalid(
                "开始日期 / 结束日期 (start / end)",
                "must be given",
            ));
        };
        if end < start {
            return Err(Error::RuleViolation(
                "a campaign's end comes before its start".into(),
            ));
        }
        if let Some(tz) = &after.time_zone {
            parse_time_zone(tz)?;
        }
        if let Some(day) = after.monthly_due_day {
            if !(1..=28).contains(&day) {
                return Err(Error::invalid(
                    "月报报送日 (monthly_due_day)",
                    "is a day of the month from 1 to 28",
                ));
            }
        }
        let mut last: Option<NaiveDate> = None;
        for (i, r) in after.rounds.iter().enumerate() {
            if r.code == "adhoc" || !super::visit::ROUNDS.iter().any(|c| c.code == r.code) {
                return Err(Error::invalid(
                    "轮次编号 (rounds.code)",
                    "is not a visit round a visit can name (1, 2, 3, 4)",
                ));
            }
            if after.rounds[..i].iter().any(|o| o.code == r.code) {
                return Err(Error::RuleViolation(
                    "two visit rounds of a campaign have one code".into(),
                ));
            }
            let Some(ends) = r.ends_on else {
                return Err(Error::invalid("完成日期 (rounds.ends_on)", "must be given"));
            };
            if ends < start || ends > end || last.is_some_and(|l| ends < l) {
                return Err(Error::RuleViolation(
                    "visit rounds end in order, within the campaign's dates".into(),
                ));
            }
            last = Some(ends);
        }
        Ok(())
    }
}

/// A campaign as the office writes it down (the admin's campaign file): what
/// [`crate::Store::set_campaign`] makes a campaign record say.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignPlan {
    /// 活动名称; a campaign is found again by its name.
    pub name: String,
    /// First day.
    pub start: NaiveDate,
    /// Last day.
    pub end: NaiveDate,
    /// IANA time zone; none: [`DEFAULT_TIME_ZONE`].
    #[serde(default)]
    pub time_zone: Option<String>,
    /// Monthly reports are due before this day (23: 每月23日前).
    #[serde(default)]
    pub monthly_due_day: Option<u32>,
    /// `half-monthly` (每半月).
    #[serde(default)]
    pub screening: Option<String>,
    /// Visit rounds in order.
    #[serde(default)]
    pub rounds: Vec<PlanRound>,
}

/// A visit round of a [`CampaignPlan`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanRound {
    /// Code visits store (`1`).
    pub code: String,
    /// Label (第一轮).
    pub label: String,
    /// Last day of the round.
    pub ends_on: NaiveDate,
}
