//! 社会稳定风险评估: the social-stability risk assessment of a major decision or project.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::field::{Choice, FieldSpec, FieldType};
use super::{Author, RecordMeta};
use crate::error::{Error, Result};

/// Choices of 评估结论.
pub const RESULTS: &[Choice] = &[
    Choice {
        code: "passed",
        label: "通过",
    },
    Choice {
        code: "conditional",
        label: "有条件通过",
    },
    Choice {
        code: "failed",
        label: "不通过",
    },
];

/// Fields of a risk assessment.
pub const FIELDS: &[FieldSpec] = &[
    FieldSpec {
        key: "decision",
        label: "决策事项",
        ty: FieldType::ShortText { required: true },
    },
    FieldSpec {
        key: "assessed_on",
        label: "评估日期",
        ty: FieldType::Date,
    },
    FieldSpec {
        key: "assessor",
        label: "评估人",
        ty: FieldType::Person,
    },
    FieldSpec {
        key: "risks",
        label: "风险点",
        ty: FieldType::LongText,
    },
    FieldSpec {
        key: "measures",
        label: "防范措施",
        ty: FieldType::LongText,
    },
    FieldSpec {
        key: "result",
        label: "评估结论",
        ty: FieldType::Choice(RESULTS),
    },
    FieldSpec {
        key: "conditions",
        label: "通过条件",
        ty: FieldType::LongText,
    },
    FieldSpec {
        key: "conditions_met",
        label: "条件已落实",
        ty: FieldType::Flag,
    },
];

/// Result of an assessment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskResult {
    /// 通过.
    Passed,
    /// 有条件通过.
    Conditional,
    /// 不通过.
    Failed,
}

impl RiskResult {
    /// Stable code.
    pub fn code(self) -> &'static str {
        match self {
            RiskResult::Passed => "passed",
            RiskResult::Conditional => "conditional",
            RiskResult::Failed => "failed",
        }
    }

    /// Label.
    pub fn label(self) -> &'static str {
        match self {
            RiskResult::Passed => "通过",
            RiskResult::Conditional => "有条件通过",
            RiskResult::Failed => "不通过",
        }
    }
}

/// A risk assessment (社会稳定风险评估).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskAssessment {
    /// Id, unit, number, creator.
    #[serde(flatten)]
    pub meta: RecordMeta,
    /// The decision or project assessed.
    #[serde(default)]
    pub decision: String,
    /// Date of the assessment.
    #[serde(default)]
    pub assessed_on: Option<NaiveDate>,
    /// Who assessed.
    #[serde(default)]
    pub assessor: Option<String>,
    /// Risks found.
    #[serde(default)]
    pub risks: String,
    /// Measures.
    #[serde(default)]
    pub measures: String,
    /// Result; none while the assessment is pending.
    #[serde(default)]
    pub result: Option<RiskResult>,
    /// The conditions of a conditional pass (有条件通过).
    #[serde(default)]
    pub conditions: String,
    /// Whether the conditions of a conditional pass have been met (条件已落实).
    #[serde(default)]
    pub conditions_met: Option<bool>,
}

impl RiskAssessment {
    /// "Must not proceed" (不得出台实施): the assessment has not passed — it is pending, failed,
    /// or passed on conditions not yet recorded as met (有条件通过 lets a decision proceed only
    /// once its conditions are met).
    pub fn must_not_proceed(&self) -> bool {
        match self.result {
            Some(RiskResult::Passed) => false,
            Some(RiskResult::Conditional) => self.conditions_met != Some(true),
            Some(RiskResult::Failed) | None => true,
        }
    }

    /// Whether the decision may proceed on this assessment, and why not, as people read it.
    pub fn proceed_label(&self) -> &'static str {
        match self.result {
            Some(RiskResult::Passed) => "评估通过，可以出台实施",
            Some(RiskResult::Conditional) if self.conditions_met == Some(true) => {
                "有条件通过，条件已落实，可以出台实施"
            }
            Some(RiskResult::Conditional) => "有条件通过，条件落实前不得出台实施",
            Some(RiskResult::Failed) => "评估不通过，不得出台实施",
            None => "尚未评估，不得出台实施",
        }
    }

    /// Checks the rules an edit must keep.
    pub fn check_rules(
        _before: Option<&RiskAssessment>,
        after: &RiskAssessment,
        _author: &Author,
    ) -> Result<()> {
        if after.decision.trim().is_empty() {
            return Err(Error::invalid("决策事项 (decision)", "must not be empty"));
        }
        if after.result == Some(RiskResult::Conditional) && after.conditions.trim().is_empty() {
            return Err(Error::invalid(
                "通过条件 (conditions)",
                "must say the conditions of a conditional pass (有条件通过)",
            ));
        }
        Ok(())
    }
}

/// Decisions that must not proceed: those of which no assessment has passed.
pub fn decisions_not_to_proceed<'a>(
    assessments: impl IntoIterator<Item = &'a RiskAssessment>,
) -> Vec<String> {
    let mut by_decision: std::collections::BTreeMap<&str, bool> = Default::default();
    for a in assessments {
        *by_decision.entry(a.decision.as_str()).or_default() |= !a.must_not_proceed();
    }
    by_decision
        .into_iter()
        .filter(|(_, passed)| !passed)
        .map(|(d, _)| d.to_owned())
        .collect()
}
