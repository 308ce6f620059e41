//! 信访积案: a petition backlog case under "five ones" (五个一) and sign-off (销号管理).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::field::{Choice, FieldSpec, FieldType};
use super::{Author, RecordMeta};
use crate::error::{Error, Result};

/// Choices of 案件来源.
pub const ORIGINS: &[Choice] = &[
    Choice {
        code: "assigned",
        label: "上级交办",
    },
    Choice {
        code: "mediated_unsatisfied",
        label: "调解生效但仍未息诉罢诉",
    },
    Choice {
        code: "repeated",
        label: "缠访闹访",
    },
];

/// Choices of 处理方式 (四个到位).
pub const DISPOSITIONS: &[Choice] = &[
    Choice {
        code: "solved",
        label: "合理诉求解决到位",
    },
    Choice {
        code: "aided",
        label: "生活困难帮扶到位",
    },
    Choice {
        code: "explained",
        label: "无理诉求教育疏导到位",
    },
    Choice {
        code: "by_law",
        label: "违法行为依法处理到位",
    },
];

/// Choices of 案件状态.
pub const STATUSES: &[Choice] = &[
    Choice {
        code: "open",
        label: "办理中",
    },
    Choice {
        code: "resolved",
        label: "已化解",
    },
    Choice {
        code: "signed_off",
        label: "已销号",
    },
];

/// Choices of a sign-off log action.
pub const SIGNOFF_ACTIONS: &[Choice] = &[
    Choice {
        code: "sign_off",
        label: "销号",
    },
    Choice {
        code: "reopen",
        label: "重新打开",
    },
];

const PROGRESS_FIELDS: &[FieldSpec] = &[
    FieldSpec {
        key: "date",
        label: "日期",
        ty: FieldType::Date,
    },
    FieldSpec {
        key: "by",
        label: "填报人",
        ty: FieldType::Person,
    },
    FieldSpec {
        key: "what",
        label: "进展情况",
        ty: FieldType::ShortText { required: true },
    },
];

const SIGNOFF_FIELDS: &[FieldSpec] = &[
    FieldSpec {
        key: "action",
        label: "操作",
        ty: FieldType::Choice(SIGNOFF_ACTIONS),
    },
    FieldSpec {
        key: "by",
        label: "操作人",
        ty: FieldType::Person,
    },
    FieldSpec {
        key: "note",
        label: "说明",
        ty: FieldType::ShortText { required: false },
    },
];

/// Fields of a petition case.
pub const FIELDS: &[FieldSpec] = &[
    FieldSpec {
        key: "title",
        label: "案件名称",
        ty: FieldType::ShortText { required: true },
    },
    FieldSpec {
        key: "petitioner",
        label: "信访人",
        ty: FieldType::ShortText { required: false },
    },
    FieldSpec {
        key: "petitioner_contact",
        label: "联系方式",
        ty: FieldType::ShortText { required: false },
    },
    FieldSpec {
        key: "petitioner_id_number",
        label: "身份证号",
        ty: FieldType::ShortText { required: false },
    },
    FieldSpec {
        key: "origin",
        label: "案件来源",
        ty: FieldType::Choice(ORIGINS),
    },
    FieldSpec {
        key: "summary",
        label: "基本情况",
        ty: FieldType::LongText,
    },
    FieldSpec {
        key: "demands",
        label: "信访诉求",
        ty: FieldType::LongText,
    },
    FieldSpec {
        key: "leader",
        label: "包案领导",
        ty: FieldType::Person,
    },
    FieldSpec {
        key: "team",
        label: "工作专班",
        ty: FieldType::Names,
    },
    FieldSpec {
        key: "plan",
        label: "化解方案",
        ty: FieldType::LongText,
    },
    FieldSpec {
        key: "progress",
        label: "工作进展",
        ty: FieldType::Entries(PROGRESS_FIELDS),
    },
    FieldSpec {
        key: "disposition",
        label: "处理方式",
        ty: FieldType::Choice(DISPOSITIONS),
    },
    FieldSpec {
        key: "status",
        label: "案件状态",
        ty: FieldType::Choice(STATUSES),
    },
    FieldSpec {
        key: "deadline",
        label: "化解时限",
        ty: FieldType::Date,
    },
    FieldSpec {
        key: "signoffs",
        label: "销号记录",
        ty: FieldType::Entries(SIGNOFF_FIELDS),
    },
];

/// Status of a petition case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PetitionStatus {
    /// 办理中.
    Open,
    /// 已化解: resolved, waiting for sign-off.
    Resolved,
    /// 已销号: signed off by its leader.
    SignedOff,
}

impl PetitionStatus {
    /// Stable code.
    pub fn code(self) -> &'static str {
        match self {
            PetitionStatus::Open => "open",
            PetitionStatus::Resolved => "resolved",
            PetitionStatus::SignedOff => "signed_off",
        }
    }

    /// Label.
    pub fn label(self) -> &'static str {
        match self {
            PetitionStatus::Open => "办理中",
            PetitionStatus::Resolved => "已化解",
            PetitionStatus::SignedOff => "已销号",
        }
    }
}

/// One entry of the progress log.
pub type ProgressEntry = super::entry::LogEntry;

/// One sign-off or reopening.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignOffEntry {
    /// Entry id.
    pub id: String,
    /// `sign_off` or `reopen`.
    #[serde(default)]
    pub action: Option<String>,
    /// Who did it.
    #[serde(default)]
    pub by: Option<String>,
    /// Why.
    #[serde(default)]
    pub note: Option<String>,
    /// When (ms).
    #[serde(rename = "_at", default)]
    pub entered_at: i64,
    /// Login of who did it.
    #[serde(rename = "_by", default)]
    pub entered_by: String,
}

/// A petition backlog case (信访积案).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PetitionCase {
    /// Id, unit, number, creator.
    #[serde(flatten)]
    pub meta: RecordMeta,
    /// 案件名称.
    #[serde(default)]
    pub title: String,
    /// 信访人 (personal data).
    #[serde(default)]
    pub petitioner: Option<String>,
    /// Contact (personal data).
    #[serde(default)]
    pub petitioner_contact: Option<String>,
    /// ID number (personal data).
    #[serde(default)]
    pub petitioner_id_number: Option<String>,
    /// Origin code.
    #[serde(default)]
    pub origin: Option<String>,
    /// 基本情况.
    #[serde(default)]
    pub summary: String,
    /// 信访诉求.
    #[serde(default)]
    pub demands: String,
    /// 包案领导 (one leader).
    #[serde(default)]
    pub leader: Option<String>,
    /// 工作专班 (one team).
    #[serde(default)]
    pub team: Vec<String>,
    /// 化解方案 (one plan).
    #[serde(default)]
    pub plan: String,
    /// Progress log (followed through to the end).
    #[serde(default)]
    pub progress: Vec<ProgressEntry>,
    /// 四个到位 disposition code.
    #[serde(default)]
    pub disposition: Option<String>,
    /// Status.
    #[serde(default)]
    pub status: Option<PetitionStatus>,
    /// Deadline.
    #[serde(default)]
    pub deadline: Option<NaiveDate>,
    /// Sign-off log.
    #[serde(default)]
    pub signoffs: Vec<SignOffEntry>,
}

impl PetitionCase {
    /// Whether `author` may sign this case off: its leader or the bureau office.
    pub fn may_sign_off(&self, author: &Author) -> bool {
        crate::access::may_sign_off(author, self.leader.as_deref())
    }

    /// Checks the rules: sign-off only once resolved, only by its leader or the office, and
    /// only with a sign-off entry; reopening only with a reopen entry.
    pub fn check_rules(
        before: Option<&PetitionCase>,
        after: &PetitionCase,
        author: &Author,
    ) -> Result<()> {
        if after.title.trim().is_empty() {
            return Err(Error::invalid("案件名称 (title)", "must not be empty"));
        }
        let old = before
            .and_then(|b| b.status)
            .unwrap_or(PetitionStatus::Open);
        let new = after.status.unwrap_or(PetitionStatus::Open);
        let added = |action: &str| {
            let n_before = before.map_or(0, |b| b.signoffs.len());
            after
                .signoffs
                .iter()
                .skip(n_before)
                .any(|e| e.action.as_deref() == Some(action))
        };
        // Who leads a case is set by the unit head or the office, never by staff: otherwise a
        // staff member could name themselves leader and sign the case off.
        let old_leader = before.and_then(|b| b.leader.as_deref());
        if after.leader.as_deref() != old_leader && !crate::access::may_assign_leader(author) {
            return Err(Error::PermissionDenied(
                "only the unit head or the bureau office assigns a case's leader (包案领导)".into(),
            ));
        }
        // The sign-off log is written only by the case's leader or the office, and only
        // appended to: judged against the leader the case had before this change.
        let judge = before.unwrap_or(after);
        let n_before = before.map_or(0, |b| b.signoffs.len());
        if before.is_some_and(|b| after.signoffs.get(..n_before) != Some(&b.signoffs[..])) {
            return Err(Error::RuleViolation(
                "the sign-off log (销号记录) is only appended to, never rewritten".into(),
            ));
        }
        if after.signoffs.len() > n_before && !judge.may_sign_off(author) {
            return Err(Error::PermissionDenied(
                "only the case's leader (包案领导) or the bureau office writes the sign-off log"
                    .into(),
            ));
        }
        if new == PetitionStatus::Resolved
            && old != PetitionStatus::Resolved
            && after.disposition.is_none()
        {
            return Err(Error::RuleViolation(
                "a case is resolved only with its disposition (处理方式, 四个到位)".into(),
            ));
        }
        if new == PetitionStatus::SignedOff && old != PetitionStatus::SignedOff {
            if old != PetitionStatus::Resolved {
                return Err(Error::RuleViolation(format!(
                    "only a resolved case can be signed off (销号); this one is {}",
                    old.label()
                )));
            }
            if !added("sign_off") {
                return Err(Error::RuleViolation(
                    "sign off through the sign-off action, which logs it".into(),
                ));
            }
            if !judge.may_sign_off(author) {
                return Err(Error::PermissionDenied(
                    "only the case's leader (包案领导) or the bureau office may sign it off".into(),
                ));
            }
        }
        if old == PetitionStatus::SignedOff && new != PetitionStatus::SignedOff {
            if !added("reopen") {
                return Err(Error::RuleViolation(
                    "a signed-off case is reopened only through the reopen action".into(),
                ));
            }
            if !judge.may_sign_off(author) {
                return Err(Error::PermissionDenied(
                    "only the case's leader or the bureau office may reopen a signed-off case"
                        .into(),
                ));
            }
        }
        Ok(())
    }
}
