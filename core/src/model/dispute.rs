//! 矛盾纠纷: a dispute, one row of the Annex 2 ledger (矛盾纠纷排查化解统计表).

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::field::{Choice, FieldSpec, FieldType};
use super::{Author, RecordMeta};
use crate::error::{Error, Result};

/// 状态趋势: the status trend of a dispute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trend {
    /// 有升级风险: at risk of escalating.
    Escalating,
    /// 基本稳定: stable.
    Stable,
    /// 趋于缓和: easing.
    Easing,
    /// 已化解: resolved.
    Resolved,
}

/// Choices of 状态趋势.
pub const TRENDS: &[Choice] = &[
    Choice {
        code: "escalating",
        label: "有升级风险",
    },
    Choice {
        code: "stable",
        label: "基本稳定",
    },
    Choice {
        code: "easing",
        label: "趋于缓和",
    },
    Choice {
        code: "resolved",
        label: "已化解",
    },
];

impl Trend {
    /// Stable code.
    pub fn code(self) -> &'static str {
        match self {
            Trend::Escalating => "escalating",
            Trend::Stable => "stable",
            Trend::Easing => "easing",
            Trend::Resolved => "resolved",
        }
    }

    /// Label as shown on the ledger.
    pub fn label(self) -> &'static str {
        match self {
            Trend::Escalating => "有升级风险",
            Trend::Stable => "基本稳定",
            Trend::Easing => "趋于缓和",
            Trend::Resolved => "已化解",
        }
    }
}

/// Choices of how a dispute was found (发现途径).
pub const FOUND_VIA: &[Choice] = &[
    Choice {
        code: "visit",
        label: "走访",
    },
    Choice {
        code: "hotline",
        label: "热线",
    },
    Choice {
        code: "screening",
        label: "排查",
    },
    Choice {
        code: "petition",
        label: "来信来访",
    },
    Choice {
        code: "report",
        label: "群众反映",
    },
    Choice {
        code: "other",
        label: "其他",
    },
];

/// Choices of the mediation channel (三调联动).
pub const MEDIATION: &[Choice] = &[
    Choice {
        code: "administrative",
        label: "行政调解",
    },
    Choice {
        code: "people",
        label: "人民调解",
    },
    Choice {
        code: "judicial",
        label: "司法调解",
    },
];

const MEASURE_FIELDS: &[FieldSpec] = &[
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
        label: "措施",
        ty: FieldType::ShortText { required: true },
    },
];

/// Fields of a dispute, the 14 stored columns of the form first, in the form's order.
pub const FIELDS: &[FieldSpec] = &[
    FieldSpec {
        key: "name",
        label: "名称",
        ty: FieldType::ShortText { required: true },
    },
    FieldSpec {
        key: "category",
        label: "类型",
        ty: FieldType::Category,
    },
    FieldSpec {
        key: "situation",
        label: "基本情况",
        ty: FieldType::LongText,
    },
    FieldSpec {
        key: "measures",
        label: "工作措施",
        ty: FieldType::Entries(MEASURE_FIELDS),
    },
    FieldSpec {
        key: "difficulties",
        label: "处置难点",
        ty: FieldType::LongText,
    },
    FieldSpec {
        key: "trend",
        label: "状态趋势",
        ty: FieldType::Choice(TRENDS),
    },
    FieldSpec {
        key: "resolving_soon",
        label: "近期措施能否化解",
        ty: FieldType::Flag,
    },
    FieldSpec {
        key: "leader",
        label: "责任领导",
        ty: FieldType::Person,
    },
    FieldSpec {
        key: "responsible",
        label: "责任人",
        ty: FieldType::Person,
    },
    FieldSpec {
        key: "remarks",
        label: "备注情况",
        ty: FieldType::LongText,
    },
    FieldSpec {
        key: "people_involved",
        label: "所涉人数",
        ty: FieldType::Count,
    },
    FieldSpec {
        key: "is_major",
        label: "是否重大问题",
        ty: FieldType::Flag,
    },
    FieldSpec {
        key: "is_group",
        label: "是否群体性问题",
        ty: FieldType::Flag,
    },
    FieldSpec {
        key: "is_cross_region",
        label: "是否跨区域问题",
        ty: FieldType::Flag,
    },
    FieldSpec {
        key: "is_legacy",
        label: "是否历史遗留问题",
        ty: FieldType::Flag,
    },
    FieldSpec {
        key: "found_on",
        label: "发现日期",
        ty: FieldType::Date,
    },
    FieldSpec {
        key: "found_via",
        label: "发现途径",
        ty: FieldType::Choice(FOUND_VIA),
    },
    FieldSpec {
        key: "deadline",
        label: "化解时限",
        ty: FieldType::Date,
    },
    FieldSpec {
        key: "mediation",
        label: "调解渠道",
        ty: FieldType::Choice(MEDIATION),
    },
    FieldSpec {
        key: "risk_criminal",
        label: "民转刑风险",
        ty: FieldType::Flag,
    },
    FieldSpec {
        key: "risk_mass_incident",
        label: "群体性事件风险",
        ty: FieldType::Flag,
    },
    FieldSpec {
        key: "risk_extreme_act",
        label: "个人极端事件风险",
        ty: FieldType::Flag,
    },
    FieldSpec {
        key: "risk_collective_petition",
        label: "集体上访风险",
        ty: FieldType::Flag,
    },
    FieldSpec {
        key: "resolution",
        label: "化解情况",
        ty: FieldType::LongText,
    },
    FieldSpec {
        key: "resolved_on",
        label: "化解日期",
        ty: FieldType::Date,
    },
    FieldSpec {
        key: "source_visit",
        label: "来源走访记录",
        ty: FieldType::RecordRef,
    },
    FieldSpec {
        key: "source_demand",
        label: "来源诉求",
        ty: FieldType::ShortText { required: false },
    },
    FieldSpec {
        key: "screening_round",
        label: "来源排查",
        ty: FieldType::RecordRef,
    },
];

/// One dated entry of 工作措施.
pub type Measure = super::entry::LogEntry;

/// A dispute (矛盾纠纷) with every column of Annex 2 and the plan's extra fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dispute {
    /// Id, unit, number, creator.
    #[serde(flatten)]
    pub meta: RecordMeta,
    /// 名称.
    #[serde(default)]
    pub name: String,
    /// 类型.
    #[serde(default)]
    pub category: Option<String>,
    /// 基本情况.
    #[serde(default)]
    pub situation: String,
    /// 工作措施.
    #[serde(default)]
    pub measures: Vec<Measure>,
    /// 处置难点.
    #[serde(default)]
    pub difficulties: String,
    /// 状态趋势.
    #[serde(default)]
    pub trend: Option<Trend>,
    /// Whether the near-term measures are expected to resolve it soon.
    #[serde(default)]
    pub resolving_soon: Option<bool>,
    /// 责任领导.
    #[serde(default)]
    pub leader: Option<String>,
    /// 责任人.
    #[serde(default)]
    pub responsible: Option<String>,
    /// 备注情况.
    #[serde(default)]
    pub remarks: String,
    /// 所涉人数.
    #[serde(default)]
    pub people_involved: Option<i64>,
    /// 是否重大问题.
    #[serde(default)]
    pub is_major: Option<bool>,
    /// 是否群体性问题.
    #[serde(default)]
    pub is_group: Option<bool>,
    /// 是否跨区域问题.
    #[serde(default)]
    pub is_cross_region: Option<bool>,
    /// 是否历史遗留问题.
    #[serde(default)]
    pub is_legacy: Option<bool>,
    /// Date it was found.
    #[serde(default)]
    pub found_on: Option<NaiveDate>,
    /// How it was found (code of [`FOUND_VIA`]).
    #[serde(default)]
    pub found_via: Option<String>,
    /// Deadline (定时间).
    #[serde(default)]
    pub deadline: Option<NaiveDate>,
    /// Mediation channel (code of [`MEDIATION`]).
    #[serde(default)]
    pub mediation: Option<String>,
    /// Could turn criminal (民转刑).
    #[serde(default)]
    pub risk_criminal: Option<bool>,
    /// Could become a mass incident (群体性事件).
    #[serde(default)]
    pub risk_mass_incident: Option<bool>,
    /// Could lead to an individual extreme act (个人极端事件).
    #[serde(default)]
    pub risk_extreme_act: Option<bool>,
    /// Could become a collective petition (集体上访).
    #[serde(default)]
    pub risk_collective_petition: Option<bool>,
    /// How it was resolved.
    #[serde(default)]
    pub resolution: String,
    /// When it was resolved.
    #[serde(default)]
    pub resolved_on: Option<NaiveDate>,
    /// The visit whose demand became this dispute.
    #[serde(default)]
    pub source_visit: Option<String>,
    /// The demand entry id within that visit.
    #[serde(default)]
    pub source_demand: Option<String>,
    /// The screening round that found it.
    #[serde(default)]
    pub screening_round: Option<String>,
}

impl Dispute {
    /// Whether the dispute counts as resolved (化解).
    pub fn is_resolved(&self) -> bool {
        self.trend == Some(Trend::Resolved) || self.resolved_on.is_some()
    }

    /// Whether it is past its deadline and still open on `today`.
    pub fn is_overdue(&self, today: NaiveDate) -> bool {
        !self.is_resolved() && self.deadline.is_some_and(|d| d < today)
    }

    /// Checks the rules an edit must keep.
    pub fn check_rules(_before: Option<&Dispute>, after: &Dispute, _author: &Author) -> Result<()> {
        if after.name.trim().is_empty() {
            return Err(Error::invalid("名称 (name)", "must not be empty"));
        }
        if let (Some(found), Some(resolved)) = (after.found_on, after.resolved_on) {
            if resolved < found {
                return Err(Error::invalid(
                    "化解日期 (resolved_on)",
                    "is before the day the dispute was found (发现日期)",
                ));
            }
        }
        Ok(())
    }
}
