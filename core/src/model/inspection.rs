//! 督查 and 自查: a bureau inspection or a unit's self-check, with problems and their rectification.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::field::{Choice, FieldSpec, FieldType};
use super::{Author, RecordMeta};
use crate::error::{Error, Result};

/// Choices of inspection kind.
pub const KINDS: &[Choice] = &[
    Choice {
        code: "self_check",
        label: "自查",
    },
    Choice {
        code: "bureau",
        label: "督查",
    },
];

/// Choices of a problem's status.
pub const PROBLEM_STATUSES: &[Choice] = &[
    Choice {
        code: "open",
        label: "待整改",
    },
    Choice {
        code: "rectified",
        label: "已整改",
    },
    Choice {
        code: "verified",
        label: "已验收",
    },
];

const PROBLEM_FIELDS: &[FieldSpec] = &[
    FieldSpec {
        key: "problem",
        label: "发现问题",
        ty: FieldType::ShortText { required: true },
    },
    FieldSpec {
        key: "requirement",
        label: "整改要求",
        ty: FieldType::LongText,
    },
    FieldSpec {
        key: "deadline",
        label: "整改时限",
        ty: FieldType::Date,
    },
    FieldSpec {
        key: "status",
        label: "整改状态",
        ty: FieldType::Choice(PROBLEM_STATUSES),
    },
];

/// Fields of an inspection.
pub const FIELDS: &[FieldSpec] = &[
    FieldSpec {
        key: "inspected_on",
        label: "检查日期",
        ty: FieldType::Date,
    },
    FieldSpec {
        key: "kind",
        label: "检查类型",
        ty: FieldType::Choice(KINDS),
    },
    FieldSpec {
        key: "inspector",
        label: "检查人",
        ty: FieldType::Person,
    },
    FieldSpec {
        key: "problems",
        label: "问题清单",
        ty: FieldType::Entries(PROBLEM_FIELDS),
    },
    FieldSpec {
        key: "feedback",
        label: "反馈意见",
        ty: FieldType::LongText,
    },
];

/// Self-check or bureau inspection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InspectionKind {
    /// 自查.
    SelfCheck,
    /// 督查.
    Bureau,
}

impl InspectionKind {
    /// Label.
    pub fn label(self) -> &'static str {
        match self {
            InspectionKind::SelfCheck => "自查",
            InspectionKind::Bureau => "督查",
        }
    }
}

/// Status of a problem: open → rectified → verified by the office.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemStatus {
    /// 待整改.
    Open,
    /// 已整改.
    Rectified,
    /// 已验收.
    Verified,
}

/// A problem found and its rectification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    /// Entry id.
    pub id: String,
    /// The problem.
    #[serde(default)]
    pub problem: String,
    /// 整改要求.
    #[serde(default)]
    pub requirement: String,
    /// Deadline.
    #[serde(default)]
    pub deadline: Option<NaiveDate>,
    /// Status.
    #[serde(default)]
    pub status: Option<ProblemStatus>,
    /// When entered (ms).
    #[serde(rename = "_at", default)]
    pub entered_at: i64,
    /// Who entered it.
    #[serde(rename = "_by", default)]
    pub entered_by: String,
}

impl Problem {
    /// Past its deadline and not rectified on `today`.
    pub fn is_overdue(&self, today: NaiveDate) -> bool {
        self.status.unwrap_or(ProblemStatus::Open) == ProblemStatus::Open
            && self.deadline.is_some_and(|d| d < today)
    }
}

/// An inspection (督查) or self-check (自查).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inspection {
    /// Id, unit (the unit inspected), number, creator.
    #[serde(flatten)]
    pub meta: RecordMeta,
    /// Date.
    #[serde(default)]
    pub inspected_on: Option<NaiveDate>,
    /// Kind.
    #[serde(default)]
    pub kind: Option<InspectionKind>,
    /// By whom.
    #[serde(default)]
    pub inspector: Option<String>,
    /// Problems.
    #[serde(default)]
    pub problems: Vec<Problem>,
    /// Feedback.
    #[serde(default)]
    pub feedback: String,
}

impl Inspection {
    /// Checks the rules: problem statuses move forward; only the office verifies.
    pub fn check_rules(
        before: Option<&Inspection>,
        after: &Inspection,
        author: &Author,
    ) -> Result<()> {
        let was_bureau = before.is_some_and(|b| b.kind == Some(InspectionKind::Bureau));
        if (after.kind == Some(InspectionKind::Bureau) || was_bureau)
            && before != Some(after)
            && !crate::access::may_record_bureau_inspection(author)
            && !bureau_follow_up(before, after)
        {
            return Err(Error::PermissionDenied(
                "only the bureau office records a bureau inspection (督查); a unit records its \
                 self-checks (自查)"
                    .into(),
            ));
        }
        if after.inspected_on.is_none() {
            return Err(Error::invalid("检查日期 (inspected_on)", "must be given"));
        }
        for p in &after.problems {
            let old = before
                .and_then(|b| b.problems.iter().find(|o| o.id == p.id))
                .and_then(|o| o.status);
            let new = p.status.unwrap_or(ProblemStatus::Open);
            if let Some(o) = old {
                if new < o {
                    return Err(Error::RuleViolation(
                        "a rectification status cannot move backwards".into(),
                    ));
                }
            }
            if new == ProblemStatus::Verified
                && old != Some(ProblemStatus::Verified)
                && !crate::access::may_verify_rectification(author)
            {
                return Err(Error::PermissionDenied(
                    "only the bureau office verifies a rectification".into(),
                ));
            }
        }
        Ok(())
    }
}

/// Whether a change to a bureau inspection is only the inspected unit's follow-up: problems
/// marked rectified (已整改), nothing else of the office's findings touched.
fn bureau_follow_up(before: Option<&Inspection>, after: &Inspection) -> bool {
    let Some(b) = before else {
        return false;
    };
    let strip = |i: &Inspection| {
        let mut i = i.clone();
        for p in &mut i.problems {
            p.status = None;
        }
        i
    };
    strip(b) == strip(after)
        && after.problems.iter().all(|p| {
            let old = b
                .problems
                .iter()
                .find(|o| o.id == p.id)
                .and_then(|o| o.status);
            p.status == old || p.status == Some(ProblemStatus::Rectified)
        })
}
