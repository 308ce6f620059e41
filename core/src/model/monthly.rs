//! 月报: a unit's monthly report, due before the 23rd (每月23日前): the free text on
//! experience and when it was submitted. The figures are computed by `report::monthly`.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::field::{FieldSpec, FieldType};
use super::{Author, RecordMeta};
use crate::error::{Error, Result};

/// Fields of a monthly report.
pub const FIELDS: &[FieldSpec] = &[
    FieldSpec {
        key: "month",
        label: "月份",
        ty: FieldType::ShortText { required: true },
    },
    FieldSpec {
        key: "experience",
        label: "活动经验做法",
        ty: FieldType::LongText,
    },
    FieldSpec {
        key: "problems",
        label: "存在问题",
        ty: FieldType::LongText,
    },
    FieldSpec {
        key: "submitted_on",
        label: "报送日期",
        ty: FieldType::Date,
    },
    FieldSpec {
        key: "submitted_by",
        label: "报送人",
        ty: FieldType::Person,
    },
];

/// A unit's monthly report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonthlyReport {
    /// Id, unit.
    #[serde(flatten)]
    pub meta: RecordMeta,
    /// `YYYY-MM`.
    #[serde(default)]
    pub month: String,
    /// 活动经验做法.
    #[serde(default)]
    pub experience: String,
    /// 存在问题.
    #[serde(default)]
    pub problems: String,
    /// Date submitted (none while a draft).
    #[serde(default)]
    pub submitted_on: Option<NaiveDate>,
    /// Who submitted.
    #[serde(default)]
    pub submitted_by: Option<String>,
}

/// The id of a unit's report for a month: fixed, so every device of the unit edits one record.
pub fn report_id(unit: &str, month: &str) -> String {
    format!("monthly-{unit}-{month}")
}

impl MonthlyReport {
    /// Checks the rules: the month is `YYYY-MM`, and only the unit head or the office
    /// submits (sets or changes 报送日期 / 报送人).
    pub fn check_rules(
        before: Option<&MonthlyReport>,
        after: &MonthlyReport,
        author: &Author,
    ) -> Result<()> {
        if NaiveDate::parse_from_str(&format!("{}-01", after.month), "%Y-%m-%d").is_err() {
            return Err(Error::invalid("月份 (month)", "is not YYYY-MM"));
        }
        let submission_changed = match before {
            Some(b) => b.submitted_on != after.submitted_on || b.submitted_by != after.submitted_by,
            None => after.submitted_on.is_some() || after.submitted_by.is_some(),
        };
        if submission_changed && !crate::access::may_submit_monthly(author, &after.meta.unit) {
            return Err(Error::PermissionDenied(
                "only the unit head or the bureau office submits a unit's monthly report".into(),
            ));
        }
        Ok(())
    }
}
