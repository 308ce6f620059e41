//! Flat records the app reads: one uniffi Record per record kind, with every field of the
//! form, plus summaries, conflicts and history. Dates are `YYYY-MM-DD` strings, times are
//! milliseconds since the Unix epoch, choice fields hold their stable codes (labels come from
//! [`crate::fields::record_fields`]).

use chrono::NaiveDate;
use fieldledger_core::doc::{Conflict, ConflictValue, HistoryEntry};
use fieldledger_core::model::{
    self, Dispute, PetitionCase, RiskAssessment, ScreeningRound, Visit, dispute, petition, visit,
};
use fieldledger_core::store::{Identity as CoreIdentity, RecordSummary as CoreSummary};

fn date(d: Option<NaiveDate>) -> Option<String> {
    d.map(|d| d.to_string())
}

/// The record kinds of fieldledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum RecordKind {
    /// 走访记录: a visit with the demands raised.
    Visit,
    /// 矛盾纠纷: a dispute of the Annex 2 ledger.
    Dispute,
    /// 信访积案: a petition backlog case.
    Petition,
    /// 社会稳定风险评估: a risk assessment.
    RiskAssessment,
    /// 排查: a half-monthly screening round.
    Screening,
    /// 督查 / 自查: an inspection or self-check.
    Inspection,
    /// A unit's reference data (categories, visit targets).
    UnitProfile,
    /// 月报: a monthly report.
    MonthlyReport,
    /// 活动: a campaign's calendar (bureau-wide, set by the office).
    Campaign,
    /// 人员名单: the bureau's users, kept by the relay.
    Directory,
}

impl From<RecordKind> for model::RecordKind {
    fn from(k: RecordKind) -> Self {
        match k {
            RecordKind::Visit => model::RecordKind::Visit,
            RecordKind::Dispute => model::RecordKind::Dispute,
            RecordKind::Petition => model::RecordKind::Petition,
            RecordKind::RiskAssessment => model::RecordKind::RiskAssessment,
            RecordKind::Screening => model::RecordKind::Screening,
            RecordKind::Inspection => model::RecordKind::Inspection,
            RecordKind::UnitProfile => model::RecordKind::UnitProfile,
            RecordKind::MonthlyReport => model::RecordKind::MonthlyReport,
            RecordKind::Campaign => model::RecordKind::Campaign,
            RecordKind::Directory => model::RecordKind::Directory,
        }
    }
}

impl From<model::RecordKind> for RecordKind {
    fn from(k: model::RecordKind) -> Self {
        match k {
            model::RecordKind::Visit => RecordKind::Visit,
            model::RecordKind::Dispute => RecordKind::Dispute,
            model::RecordKind::Petition => RecordKind::Petition,
            model::RecordKind::RiskAssessment => RecordKind::RiskAssessment,
            model::RecordKind::Screening => RecordKind::Screening,
            model::RecordKind::Inspection => RecordKind::Inspection,
            model::RecordKind::UnitProfile => RecordKind::UnitProfile,
            model::RecordKind::MonthlyReport => RecordKind::MonthlyReport,
            model::RecordKind::Campaign => RecordKind::Campaign,
            model::RecordKind::Directory => RecordKind::Directory,
        }
    }
}

/// Who this store acts as once enrolled (the relay token stays inside the library).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Identity {
    /// User login.
    pub user: String,
    /// User's display name.
    pub name: String,
    /// Enrolled device id.
    pub device: String,
    /// Short device code used in case numbers.
    pub device_code: String,
    /// Role: `staff`, `unit-head`, `office` or `leader`.
    pub role: String,
    /// Code of the user's unit.
    pub unit: String,
    /// Relay base URL.
    pub relay_url: Option<String>,
}

impl From<&CoreIdentity> for Identity {
    fn from(i: &CoreIdentity) -> Self {
        Identity {
            user: i.author.user.clone(),
            name: i.author.name.clone(),
            device: i.author.device.clone(),
            device_code: i.device_code.clone(),
            role: i.author.role.code().to_owned(),
            unit: i.author.unit.clone(),
            relay_url: i.relay_url.clone(),
        }
    }
}

/// One row of a record list.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct RecordSummary {
    /// Record id.
    pub id: String,
    /// Kind.
    pub kind: RecordKind,
    /// Unit code.
    pub unit: String,
    /// Case number shown to people.
    pub number: String,
    /// One-line title.
    pub title: String,
    /// Status code (`open`, `resolved`, `signed_off`, …).
    pub status: String,
    /// Creator login.
    pub created_by: String,
    /// Creation time (ms).
    pub created_at_ms: i64,
    /// Last written on this device (ms).
    pub updated_at_ms: i64,
    /// Number of fields in conflict.
    pub conflicts: i64,
}

impl From<CoreSummary> for RecordSummary {
    fn from(s: CoreSummary) -> Self {
        RecordSummary {
            id: s.id,
            kind: s.kind.into(),
            unit: s.unit,
            number: s.number,
            title: s.title,
            status: s.status,
            created_by: s.created_by,
            created_at_ms: s.created_at,
            updated_at_ms: s.updated_at,
            conflicts: s.conflicts,
        }
    }
}

/// One dated entry of a dispute's 工作措施.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct MeasureRecord {
    /// Entry id (for `set_entry_field`).
    pub id: String,
    /// Date the measure was taken.
    pub date: Option<String>,
    /// Who reported it.
    pub by: Option<String>,
    /// What was done.
    pub what: String,
    /// When it was entered (ms).
    pub entered_at_ms: i64,
    /// Login of who entered it.
    pub entered_by: String,
}

impl From<&dispute::Measure> for MeasureRecord {
    fn from(m: &dispute::Measure) -> Self {
        MeasureRecord {
            id: m.id.clone(),
            date: date(m.date),
            by: m.by.clone(),
            what: m.what.clone(),
            entered_at_ms: m.entered_at,
            entered_by: m.entered_by.clone(),
        }
    }
}

/// A dispute (矛盾纠纷) with every column of the Annex 2 ledger and the plan's extra fields.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct DisputeRecord {
    /// Record id.
    pub id: String,
    /// Unit code.
    pub unit: String,
    /// Case number.
    pub number: String,
    /// Creator login.
    pub created_by: String,
    /// Creation time (ms).
    pub created_at_ms: i64,
    /// 名称.
    pub name: String,
    /// 类型 (category).
    pub category: Option<String>,
    /// 基本情况.
    pub situation: String,
    /// 工作措施, oldest first.
    pub measures: Vec<MeasureRecord>,
    /// 处置难点.
    pub difficulties: String,
    /// 状态趋势 code: `escalating`, `stable`, `easing`, `resolved`.
    pub trend: Option<String>,
    /// 近期措施能否化解.
    pub resolving_soon: Option<bool>,
    /// 责任领导.
    pub leader: Option<String>,
    /// 责任人.
    pub responsible: Option<String>,
    /// 备注情况.
    pub remarks: String,
    /// 所涉人数.
    pub people_involved: Option<i64>,
    /// 是否重大问题.
    pub is_major: Option<bool>,
    /// 是否群体性问题.
    pub is_group: Option<bool>,
    /// 是否跨区域问题.
    pub is_cross_region: Option<bool>,
    /// 是否历史遗留问题.
    pub is_legacy: Option<bool>,
    /// 发现日期.
    pub found_on: Option<String>,
    /// 发现途径 code.
    pub found_via: Option<String>,
    /// 化解时限.
    pub deadline: Option<String>,
    /// 调解渠道 code.
    pub mediation: Option<String>,
    /// 民转刑风险.
    pub risk_criminal: Option<bool>,
    /// 群体性事件风险.
    pub risk_mass_incident: Option<bool>,
    /// 个人极端事件风险.
    pub risk_extreme_act: Option<bool>,
    /// 集体上访风险.
    pub risk_collective_petition: Option<bool>,
    /// 化解情况.
    pub resolution: String,
    /// 化解日期.
    pub resolved_on: Option<String>,
    /// The visit whose demand became this dispute.
    pub source_visit: Option<String>,
    /// The demand entry id within that visit.
    pub source_demand: Option<String>,
    /// The screening round that found it.
    pub screening_round: Option<String>,
    /// Whether it counts as resolved (化解).
    pub is_resolved: bool,
}

impl From<&Dispute> for DisputeRecord {
    fn from(d: &Dispute) -> Self {
        DisputeRecord {
            id: d.meta.id.clone(),
            unit: d.meta.unit.clone(),
            number: d.meta.number.clone(),
            created_by: d.meta.created_by.clone(),
            created_at_ms: d.meta.created_at,
            name: d.name.clone(),
            category: d.category.clone(),
            situation: d.situation.clone(),
            measures: d.measures.iter().map(Into::into).collect(),
            difficulties: d.difficulties.clone(),
            trend: d.trend.map(|t| trend_code(t).to_owned()),
            resolving_soon: d.resolving_soon,
            leader: d.leader.clone(),
            responsible: d.responsible.clone(),
            remarks: d.remarks.clone(),
            people_involved: d.people_involved,
            is_major: d.is_major,
            is_group: d.is_group,
            is_cross_region: d.is_cross_region,
            is_legacy: d.is_legacy,
            found_on: date(d.found_on),
            found_via: d.found_via.clone(),
            deadline: date(d.deadline),
            mediation: d.mediation.clone(),
            risk_criminal: d.risk_criminal,
            risk_mass_incident: d.risk_mass_incident,
            risk_extreme_act: d.risk_extreme_act,
            risk_collective_petition: d.risk_collective_petition,
            resolution: d.resolution.clone(),
            resolved_on: date(d.resolved_on),
            source_visit: d.source_visit.clone(),
            source_demand: d.source_demand.clone(),
            screening_round: d.screening_round.clone(),
            is_resolved: d.is_resolved(),
        }
    }
}

fn trend_code(t: dispute::Trend) -> &'static str {
    match t {
        dispute::Trend::Escalating => "escalating",
        dispute::Trend::Stable => "stable",
        dispute::Trend::Easing => "easing",
        dispute::Trend::Resolved => "resolved",
    }
}

fn demand_status_code(s: visit::DemandStatus) -> &'static str {
    match s {
        visit::DemandStatus::Recorded => "recorded",
        visit::DemandStatus::InHand => "in_hand",
        visit::DemandStatus::Fulfilled => "fulfilled",
        visit::DemandStatus::Answered => "answered",
    }
}

/// A demand raised during a visit (群众诉求).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct DemandRecord {
    /// Entry id (for `set_entry_field` and `demand_to_dispute`).
    pub id: String,
    /// 诉求内容.
    pub content: String,
    /// 诉求类别.
    pub category: Option<String>,
    /// 责任人.
    pub responsible: Option<String>,
    /// 办理状态 code: `recorded`, `in_hand`, `fulfilled`, `answered`.
    pub status: Option<String>,
    /// 答复情况.
    pub response: String,
    /// Id of the dispute this demand was turned into.
    pub dispute: Option<String>,
    /// When entered (ms).
    pub entered_at_ms: i64,
    /// Who entered it.
    pub entered_by: String,
}

impl From<&visit::Demand> for DemandRecord {
    fn from(d: &visit::Demand) -> Self {
        DemandRecord {
            id: d.id.clone(),
            content: d.content.clone(),
            category: d.category.clone(),
            responsible: d.responsible.clone(),
            status: d.status.map(|s| demand_status_code(s).to_owned()),
            response: d.response.clone(),
            dispute: d.dispute.clone(),
            entered_at_ms: d.entered_at,
            entered_by: d.entered_by.clone(),
        }
    }
}

/// A visit (走访记录) with its demands.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct VisitRecord {
    /// Record id.
    pub id: String,
    /// Unit code.
    pub unit: String,
    /// Case number.
    pub number: String,
    /// Creator login.
    pub created_by: String,
    /// Creation time (ms).
    pub created_at_ms: i64,
    /// 走访日期.
    pub visit_date: Option<String>,
    /// 走访轮次 code: `1`, `2`, `adhoc`.
    pub round: Option<String>,
    /// 走访人员.
    pub visitors: Vec<String>,
    /// 走访方式 code.
    pub method: Option<String>,
    /// Code of the unit's visit target covered.
    pub target: Option<String>,
    /// 走访对象.
    pub visited_name: String,
    /// 对象类型 code.
    pub visited_type: Option<String>,
    /// 地点.
    pub place: Option<String>,
    /// 联系方式.
    pub contact: Option<String>,
    /// 结对帮扶.
    pub paired: Option<bool>,
    /// 结对帮扶对象.
    pub pairing: Option<String>,
    /// 走访情况.
    pub notes: String,
    /// 群众诉求.
    pub demands: Vec<DemandRecord>,
}

impl From<&Visit> for VisitRecord {
    fn from(v: &Visit) -> Self {
        VisitRecord {
            id: v.meta.id.clone(),
            unit: v.meta.unit.clone(),
            number: v.meta.number.clone(),
            created_by: v.meta.created_by.clone(),
            created_at_ms: v.meta.created_at,
            visit_date: date(v.visit_date),
            round: v.round.clone(),
            visitors: v.visitors.clone(),
            method: v.method.clone(),
            target: v.target.clone(),
            visited_name: v.visited_name.clone(),
            visited_type: v.visited_type.clone(),
            place: v.place.clone(),
            contact: v.contact.clone(),
            paired: v.paired,
            pairing: v.pairing.clone(),
            notes: v.notes.clone(),
            demands: v.demands.iter().map(Into::into).collect(),
        }
    }
}

/// One entry of a petition case's progress log (工作进展).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ProgressRecord {
    /// Entry id.
    pub id: String,
    /// Date.
    pub date: Option<String>,
    /// Reporter.
    pub by: Option<String>,
    /// 进展情况.
    pub what: String,
    /// When entered (ms).
    pub entered_at_ms: i64,
    /// Who entered it.
    pub entered_by: String,
}

/// One sign-off or reopening of a petition case (销号记录).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SignOffRecord {
    /// Entry id.
    pub id: String,
    /// `sign_off` or `reopen`.
    pub action: Option<String>,
    /// Who did it.
    pub by: Option<String>,
    /// Note or reason.
    pub note: Option<String>,
    /// When (ms).
    pub entered_at_ms: i64,
    /// Login of who did it.
    pub entered_by: String,
}

/// A petition backlog case (信访积案).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct PetitionRecord {
    /// Record id.
    pub id: String,
    /// Unit code.
    pub unit: String,
    /// Case number.
    pub number: String,
    /// Creator login.
    pub created_by: String,
    /// Creation time (ms).
    pub created_at_ms: i64,
    /// 案件名称.
    pub title: String,
    /// 信访人.
    pub petitioner: Option<String>,
    /// 联系方式.
    pub petitioner_contact: Option<String>,
    /// 身份证号.
    pub petitioner_id_number: Option<String>,
    /// 案件来源 code.
    pub origin: Option<String>,
    /// 基本情况.
    pub summary: String,
    /// 信访诉求.
    pub demands: String,
    /// 包案领导.
    pub leader: Option<String>,
    /// 工作专班.
    pub team: Vec<String>,
    /// 化解方案.
    pub plan: String,
    /// 工作进展, oldest first.
    pub progress: Vec<ProgressRecord>,
    /// 处理方式 code (四个到位).
    pub disposition: Option<String>,
    /// 案件状态 code: `open`, `resolved`, `signed_off`.
    pub status: String,
    /// 化解时限.
    pub deadline: Option<String>,
    /// 销号记录, oldest first.
    pub signoffs: Vec<SignOffRecord>,
}

impl From<&PetitionCase> for PetitionRecord {
    fn from(p: &PetitionCase) -> Self {
        PetitionRecord {
            id: p.meta.id.clone(),
            unit: p.meta.unit.clone(),
            number: p.meta.number.clone(),
            created_by: p.meta.created_by.clone(),
            created_at_ms: p.meta.created_at,
            title: p.title.clone(),
            petitioner: p.petitioner.clone(),
            petitioner_contact: p.petitioner_contact.clone(),
            petitioner_id_number: p.petitioner_id_number.clone(),
            origin: p.origin.clone(),
            summary: p.summary.clone(),
            demands: p.demands.clone(),
            leader: p.leader.clone(),
            team: p.team.clone(),
            plan: p.plan.clone(),
            progress: p
                .progress
                .iter()
                .map(|e| ProgressRecord {
                    id: e.id.clone(),
                    date: date(e.date),
                    by: e.by.clone(),
                    what: e.what.clone(),
                    entered_at_ms: e.entered_at,
                    entered_by: e.entered_by.clone(),
                })
                .collect(),
            disposition: p.disposition.clone(),
            status: p
                .status
                .unwrap_or(petition::PetitionStatus::Open)
                .code()
                .to_owned(),
            deadline: date(p.deadline),
            signoffs: p
                .signoffs
                .iter()
                .map(|e| SignOffRecord {
                    id: e.id.clone(),
                    action: e.action.clone(),
                    by: e.by.clone(),
                    note: e.note.clone(),
                    entered_at_ms: e.entered_at,
                    entered_by: e.entered_by.clone(),
                })
                .collect(),
        }
    }
}

/// A social-stability risk assessment (社会稳定风险评估).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct RiskRecord {
    /// Record id.
    pub id: String,
    /// Unit code.
    pub unit: String,
    /// Case number.
    pub number: String,
    /// Creator login.
    pub created_by: String,
    /// Creation time (ms).
    pub created_at_ms: i64,
    /// 决策事项.
    pub decision: String,
    /// 评估日期.
    pub assessed_on: Option<String>,
    /// 评估人.
    pub assessor: Option<String>,
    /// 风险点.
    pub risks: String,
    /// 防范措施.
    pub measures: String,
    /// 评估结论 code: `passed`, `conditional`, `failed`; none while pending.
    pub result: Option<String>,
    /// 通过条件: the conditions of a conditional pass.
    pub conditions: String,
    /// 条件已落实: whether those conditions are met.
    pub conditions_met: Option<bool>,
    /// Whether the decision must not proceed (不得出台实施: pending, failed, or passed on
    /// conditions not yet met).
    pub must_not_proceed: bool,
    /// Why it may or may not proceed, as people read it (评估通过，可以出台实施 …).
    pub proceed_label: String,
}

impl From<&RiskAssessment> for RiskRecord {
    fn from(r: &RiskAssessment) -> Self {
        RiskRecord {
            id: r.meta.id.clone(),
            unit: r.meta.unit.clone(),
            number: r.meta.number.clone(),
            created_by: r.meta.created_by.clone(),
            created_at_ms: r.meta.created_at,
            decision: r.decision.clone(),
            assessed_on: date(r.assessed_on),
            assessor: r.assessor.clone(),
            risks: r.risks.clone(),
            measures: r.measures.clone(),
            result: r.result.map(|x| x.code().to_owned()),
            conditions: r.conditions.clone(),
            conditions_met: r.conditions_met,
            must_not_proceed: r.must_not_proceed(),
            proceed_label: r.proceed_label().to_owned(),
        }
    }
}

/// A half-monthly screening round (排查).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ScreeningRecord {
    /// Record id.
    pub id: String,
    /// Unit code.
    pub unit: String,
    /// Case number.
    pub number: String,
    /// Creator login.
    pub created_by: String,
    /// Creation time (ms).
    pub created_at_ms: i64,
    /// 排查日期.
    pub screened_on: Option<String>,
    /// 排查人员.
    pub screened_by: Vec<String>,
    /// 排查范围.
    pub scope: Option<String>,
    /// 排查情况.
    pub findings: String,
    /// 未发现问题.
    pub found_nothing: bool,
    /// Ids of disputes found in this round.
    pub disputes: Vec<String>,
}

impl From<&ScreeningRound> for ScreeningRecord {
    fn from(s: &ScreeningRound) -> Self {
        ScreeningRecord {
            id: s.meta.id.clone(),
            unit: s.meta.unit.clone(),
            number: s.meta.number.clone(),
            created_by: s.meta.created_by.clone(),
            created_at_ms: s.meta.created_at,
            screened_on: date(s.screened_on),
            screened_by: s.screened_by.clone(),
            scope: s.scope.clone(),
            findings: s.findings.clone(),
            found_nothing: s.found_nothing,
            disputes: s.disputes.clone(),
        }
    }
}

/// One of the values a conflicting field holds.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ConflictValueRecord {
    /// The value as text, in the form `set_field` accepts (是/否 for flags, codes for choices).
    pub value: String,
    /// Login of the user who set it.
    pub user: String,
    /// Device it was set on.
    pub device: String,
    /// When (ms).
    pub at_ms: i64,
}

impl From<&ConflictValue> for ConflictValueRecord {
    fn from(v: &ConflictValue) -> Self {
        ConflictValueRecord {
            value: v.value.display(),
            user: v.user.clone(),
            device: v.device.clone(),
            at_ms: v.at_ms,
        }
    }
}

/// A field that holds several values set concurrently on different devices.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ConflictRecord {
    /// Field path for `resolve_conflict`: `key`, or `list/entry_id/key` inside a list entry.
    pub field: String,
    /// Label as the form spells it.
    pub label: String,
    /// The values, the one shown by default first.
    pub values: Vec<ConflictValueRecord>,
}

impl From<&Conflict> for ConflictRecord {
    fn from(c: &Conflict) -> Self {
        ConflictRecord {
            field: c.field.clone(),
            label: c.label.clone(),
            values: c.values.iter().map(Into::into).collect(),
        }
    }
}

/// One change in a record's history.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct HistoryRecord {
    /// Change hash (hex).
    pub hash: String,
    /// User login.
    pub user: String,
    /// Device id.
    pub device: String,
    /// Time (ms).
    pub at_ms: i64,
    /// Fields touched.
    pub fields: Vec<String>,
    /// Named action (`create`, `sign_off`, `resolve_conflict`, …), if any.
    pub action: Option<String>,
    /// Hashes of the changes this one follows.
    pub deps: Vec<String>,
}

impl From<HistoryEntry> for HistoryRecord {
    fn from(h: HistoryEntry) -> Self {
        HistoryRecord {
            hash: h.hash,
            user: h.user,
            device: h.device,
            at_ms: h.at_ms,
            fields: h.fields,
            action: h.action,
            deps: h.deps,
        }
    }
}

/// Filters of the dispute ledger; every field is optional.
#[derive(Debug, Clone, Default, PartialEq, uniffi::Record)]
pub struct DisputeQuery {
    /// Only these units (none: every unit this device holds).
    #[uniffi(default)]
    pub units: Option<Vec<String>>,
    /// Only this category.
    #[uniffi(default)]
    pub category: Option<String>,
    /// `open` or `resolved`.
    #[uniffi(default)]
    pub status: Option<String>,
    /// 是否重大问题.
    #[uniffi(default)]
    pub is_major: Option<bool>,
    /// 是否群体性问题.
    #[uniffi(default)]
    pub is_group: Option<bool>,
    /// 是否跨区域问题.
    #[uniffi(default)]
    pub is_cross_region: Option<bool>,
    /// 是否历史遗留问题.
    #[uniffi(default)]
    pub is_legacy: Option<bool>,
    /// Found on or after (`YYYY-MM-DD`).
    #[uniffi(default)]
    pub found_from: Option<String>,
    /// Found on or before (`YYYY-MM-DD`).
    #[uniffi(default)]
    pub found_to: Option<String>,
    /// Open and past their deadline on this day (`YYYY-MM-DD`).
    #[uniffi(default)]
    pub overdue_on: Option<String>,
}
