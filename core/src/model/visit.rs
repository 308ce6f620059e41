//! 走访记录: a visit to a household, person or organisation, with the demands raised (群众诉求).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::field::{Choice, FieldSpec, FieldType};
use super::{Author, RecordMeta};
use crate::error::{Error, Result};

/// Choices of 走访轮次.
pub const ROUNDS: &[Choice] = &[
    Choice {
        code: "1",
        label: "第一轮",
    },
    Choice {
        code: "2",
        label: "第二轮",
    },
    Choice {
        code: "3",
        label: "第三轮",
    },
    Choice {
        code: "4",
        label: "第四轮",
    },
    Choice {
        code: "adhoc",
        label: "日常走访",
    },
];

/// Choices of 走访方式.
pub const METHODS: &[Choice] = &[
    Choice {
        code: "home",
        label: "入户",
    },
    Choice {
        code: "meeting",
        label: "座谈",
    },
    Choice {
        code: "phone",
        label: "电话",
    },
    Choice {
        code: "other",
        label: "其他",
    },
];

/// Choices of who was visited.
pub const VISITED_TYPES: &[Choice] = &[
    Choice {
        code: "household",
        label: "户",
    },
    Choice {
        code: "person",
        label: "个人",
    },
    Choice {
        code: "organisation",
        label: "单位",
    },
];

/// Choices of a demand's status.
pub const DEMAND_STATUSES: &[Choice] = &[
    Choice {
        code: "recorded",
        label: "已登记",
    },
    Choice {
        code: "in_hand",
        label: "办理中",
    },
    Choice {
        code: "fulfilled",
        label: "已落实",
    },
    Choice {
        code: "answered",
        label: "已解释答复",
    },
];

const DEMAND_FIELDS: &[FieldSpec] = &[
    FieldSpec {
        key: "content",
        label: "诉求内容",
        ty: FieldType::ShortText { required: true },
    },
    FieldSpec {
        key: "category",
        label: "诉求类别",
        ty: FieldType::ShortText { required: false },
    },
    FieldSpec {
        key: "responsible",
        label: "责任人",
        ty: FieldType::Person,
    },
    FieldSpec {
        key: "status",
        label: "办理状态",
        ty: FieldType::Choice(DEMAND_STATUSES),
    },
    FieldSpec {
        key: "response",
        label: "答复情况",
        ty: FieldType::LongText,
    },
    FieldSpec {
        key: "dispute",
        label: "转矛盾纠纷",
        ty: FieldType::RecordRef,
    },
];

/// Fields of a visit.
pub const FIELDS: &[FieldSpec] = &[
    FieldSpec {
        key: "visit_date",
        label: "走访日期",
        ty: FieldType::Date,
    },
    FieldSpec {
        key: "round",
        label: "走访轮次",
        ty: FieldType::Choice(ROUNDS),
    },
    FieldSpec {
        key: "visitors",
        label: "走访人员",
        ty: FieldType::Names,
    },
    FieldSpec {
        key: "method",
        label: "走访方式",
        ty: FieldType::Choice(METHODS),
    },
    FieldSpec {
        key: "target",
        label: "走访对象编号",
        ty: FieldType::ShortText { required: false },
    },
    FieldSpec {
        key: "visited_name",
        label: "走访对象",
        ty: FieldType::ShortText { required: true },
    },
    FieldSpec {
        key: "visited_type",
        label: "对象类型",
        ty: FieldType::Choice(VISITED_TYPES),
    },
    FieldSpec {
        key: "place",
        label: "地点",
        ty: FieldType::ShortText { required: false },
    },
    FieldSpec {
        key: "contact",
        label: "联系方式",
        ty: FieldType::ShortText { required: false },
    },
    FieldSpec {
        key: "paired",
        label: "结对帮扶",
        ty: FieldType::Flag,
    },
    FieldSpec {
        key: "pairing",
        label: "结对帮扶对象",
        ty: FieldType::ShortText { required: false },
    },
    FieldSpec {
        key: "notes",
        label: "走访情况",
        ty: FieldType::LongText,
    },
    FieldSpec {
        key: "demands",
        label: "群众诉求",
        ty: FieldType::Entries(DEMAND_FIELDS),
    },
];

/// Status of a demand: recorded → in hand → fulfilled (落实) / answered with explanation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DemandStatus {
    /// 已登记.
    Recorded,
    /// 办理中.
    InHand,
    /// 已落实.
    Fulfilled,
    /// 已解释答复.
    Answered,
}

impl DemandStatus {
    /// Order along the workflow; a status never moves to a lower rank.
    pub fn rank(self) -> u8 {
        match self {
            DemandStatus::Recorded => 0,
            DemandStatus::InHand => 1,
            DemandStatus::Fulfilled | DemandStatus::Answered => 2,
        }
    }

    /// Whether the demand is dealt with.
    pub fn is_done(self) -> bool {
        self.rank() == 2
    }

    /// Label.
    pub fn label(self) -> &'static str {
        match self {
            DemandStatus::Recorded => "已登记",
            DemandStatus::InHand => "办理中",
            DemandStatus::Fulfilled => "已落实",
            DemandStatus::Answered => "已解释答复",
        }
    }
}

/// A demand raised during a visit (群众诉求).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Demand {
    /// Entry id.
    pub id: String,
    /// What was asked.
    #[serde(default)]
    pub content: String,
    /// Category.
    #[serde(default)]
    pub category: Option<String>,
    /// Responsible person.
    #[serde(default)]
    pub responsible: Option<String>,
    /// Status.
    #[serde(default)]
    pub status: Option<DemandStatus>,
    /// Response text.
    #[serde(default)]
    pub response: String,
    /// The dispute this demand was turned into.
    #[serde(default)]
    pub dispute: Option<String>,
    /// When entered (ms).
    #[serde(rename = "_at", default)]
    pub entered_at: i64,
    /// Who entered it.
    #[serde(rename = "_by", default)]
    pub entered_by: String,
}

/// A visit (走访记录).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Visit {
    /// Id, unit, number, creator.
    #[serde(flatten)]
    pub meta: RecordMeta,
    /// 走访日期.
    #[serde(default)]
    pub visit_date: Option<NaiveDate>,
    /// 走访轮次 code: `1`, `2` or `adhoc`.
    #[serde(default)]
    pub round: Option<String>,
    /// 走访人员.
    #[serde(default)]
    pub visitors: Vec<String>,
    /// 走访方式 code.
    #[serde(default)]
    pub method: Option<String>,
    /// Code of the unit's visit target this visit covers.
    #[serde(default)]
    pub target: Option<String>,
    /// Who was visited (personal data).
    #[serde(default)]
    pub visited_name: String,
    /// Household, person or organisation.
    #[serde(default)]
    pub visited_type: Option<String>,
    /// Place.
    #[serde(default)]
    pub place: Option<String>,
    /// Contact (personal data).
    #[serde(default)]
    pub contact: Option<String>,
    /// Paired-assistance household (结对帮扶).
    #[serde(default)]
    pub paired: Option<bool>,
    /// The pairing.
    #[serde(default)]
    pub pairing: Option<String>,
    /// Notes.
    #[serde(default)]
    pub notes: String,
    /// Demands raised.
    #[serde(default)]
    pub demands: Vec<Demand>,
}

impl Visit {
    /// Checks the rules an edit must keep: demands never move backwards, an answer has text.
    pub fn check_rules(before: Option<&Visit>, after: &Visit, _author: &Author) -> Result<()> {
        if after.visited_name.trim().is_empty() {
            return Err(Error::invalid(
                "走访对象 (visited_name)",
                "must not be empty",
            ));
        }
        for d in &after.demands {
            let old = before.and_then(|b| b.demands.iter().find(|o| o.id == d.id));
            if let (Some(o), Some(new)) = (old.and_then(|o| o.status), d.status) {
                if new != o && new.rank() <= o.rank() {
                    return Err(Error::RuleViolation(format!(
                        "demand status cannot move from {} back to {}",
                        o.label(),
                        new.label()
                    )));
                }
            }
            if d.status == Some(DemandStatus::Answered)
                && old.and_then(|o| o.status) != Some(DemandStatus::Answered)
                && d.response.trim().is_empty()
            {
                return Err(Error::RuleViolation(
                    "a demand answered with an explanation needs the response text (答复情况)"
                        .into(),
                ));
            }
        }
        Ok(())
    }
}
