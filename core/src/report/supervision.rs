//! Supervision views (督查) for the bureau office and unit heads: overdue disputes, open cases
//! without a leader, visit targets not yet covered in the current round, missing screening
//! rounds, overdue rectifications, open conflicts, and any record's history — each with counts
//! per unit, as serializable structs the relay can serve as JSON.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::render::Document;
use super::{Campaign, Snapshot};
use crate::doc::HistoryEntry;
use crate::error::Result;
use crate::model::petition::PetitionStatus;
use crate::model::screening::HalfMonth;
use crate::model::{RecordKind, UnitProfile};
use crate::store::{DisputeFilter, Store};

/// Which units and which moment a supervision view is of.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupervisionQuery {
    /// Only these units (none: every unit the store holds).
    #[serde(default)]
    pub units: Option<Vec<String>>,
    /// As the records stood at this moment (ms); none: as they are now.
    #[serde(default)]
    pub as_of: Option<i64>,
}

/// Items of one view and how many fall to each unit (every known unit listed, zeros too).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct View<T> {
    /// The items, sorted by unit then a stable key.
    pub items: Vec<T>,
    /// Number of items per unit code.
    pub per_unit: BTreeMap<String, usize>,
}

impl<T> View<T> {
    fn new(items: Vec<T>, units: &BTreeSet<String>, unit_of: impl Fn(&T) -> &str) -> View<T> {
        let mut per_unit: BTreeMap<String, usize> = units.iter().map(|u| (u.clone(), 0)).collect();
        for i in &items {
            *per_unit.entry(unit_of(i).to_owned()).or_default() += 1;
        }
        View { items, per_unit }
    }

    /// Total number of items.
    pub fn total(&self) -> usize {
        self.items.len()
    }
}

/// An open dispute past its deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverdueDispute {
    /// Record id.
    pub id: String,
    /// Unit code.
    pub unit: String,
    /// Case number.
    pub number: String,
    /// 名称.
    pub name: String,
    /// 化解时限.
    pub deadline: NaiveDate,
    /// Days past the deadline.
    pub days_overdue: i64,
    /// 责任领导.
    pub leader: Option<String>,
    /// 责任人.
    pub responsible: Option<String>,
}

/// An open case with no responsible leader (责任领导 / 包案领导).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseWithoutLeader {
    /// Record id.
    pub id: String,
    /// Unit code.
    pub unit: String,
    /// Dispute or petition case.
    pub kind: RecordKind,
    /// Case number.
    pub number: String,
    /// Name or title.
    pub title: String,
}

/// A visit target of a unit not yet visited in the current round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UncoveredTarget {
    /// Unit code.
    pub unit: String,
    /// Round code.
    pub round: String,
    /// Target code.
    pub code: String,
    /// Target name.
    pub name: String,
    /// Place.
    pub place: Option<String>,
}

/// A half-month that ended with no screening round of a unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissingScreening {
    /// Unit code.
    pub unit: String,
    /// The period.
    pub period: HalfMonth,
    /// The period as people read it (2019-10 上半月).
    pub label: String,
}

/// A problem of an inspection or self-check whose rectification is past its deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverdueRectification {
    /// Inspection record id.
    pub id: String,
    /// Problem entry id.
    pub problem_id: String,
    /// Unit code (the unit inspected).
    pub unit: String,
    /// Inspection case number.
    pub number: String,
    /// Inspection date.
    pub inspected_on: Option<NaiveDate>,
    /// The problem.
    pub problem: String,
    /// 整改要求.
    pub requirement: String,
    /// 整改时限.
    pub deadline: NaiveDate,
    /// Days past the deadline.
    pub days_overdue: i64,
}

/// A record with fields holding concurrent different values that nobody has decided yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenConflict {
    /// Record id.
    pub id: String,
    /// Unit code.
    pub unit: String,
    /// Kind.
    pub kind: RecordKind,
    /// Case number.
    pub number: String,
    /// Title.
    pub title: String,
    /// Labels of the fields in conflict.
    pub fields: Vec<String>,
}

/// A decision that must not proceed (不得出台实施): no assessment of it lets it proceed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockedDecision {
    /// Id of the decision's latest assessment.
    pub id: String,
    /// Unit code.
    pub unit: String,
    /// Case number of that assessment.
    pub number: String,
    /// 决策事项.
    pub decision: String,
    /// Its date.
    pub assessed_on: Option<NaiveDate>,
    /// Why it must not proceed (尚未评估 / 评估不通过 / 有条件通过，条件落实前…).
    pub reason: String,
}

/// The campaign a view was judged against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignInForce {
    /// 活动名称.
    pub name: String,
    /// First day.
    pub start: NaiveDate,
    /// Last day.
    pub end: NaiveDate,
    /// Whether a deployment set it (false: the plan's calendar stands in).
    pub set: bool,
}

/// All supervision views at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Supervision {
    /// The as-of date, if produced as of a past moment.
    pub as_of: Option<NaiveDate>,
    /// The as-of moment (ms).
    pub at_ms: Option<i64>,
    /// The day things were judged overdue or missing on.
    pub today: NaiveDate,
    /// The campaign in force on that day.
    pub campaign: CampaignInForce,
    /// Code of the visit round under way on that day.
    pub current_round: Option<String>,
    /// Overdue disputes.
    pub overdue_disputes: View<OverdueDispute>,
    /// Open disputes and petition cases without a leader.
    pub without_leader: View<CaseWithoutLeader>,
    /// Visit targets not yet covered in the current round.
    pub uncovered_targets: View<UncoveredTarget>,
    /// Half-months with no screening round.
    pub missing_screenings: View<MissingScreening>,
    /// Overdue rectifications.
    pub overdue_rectifications: View<OverdueRectification>,
    /// Records with open conflicts.
    pub open_conflicts: View<OpenConflict>,
    /// Decisions that must not proceed.
    pub blocked_decisions: View<BlockedDecision>,
}

/// The units a view covers: those asked for, else every unit with a profile or a record seen.
fn known_units(
    q: &SupervisionQuery,
    profiles: &BTreeMap<String, UnitProfile>,
    seen: impl IntoIterator<Item = String>,
) -> BTreeSet<String> {
    match &q.units {
        Some(u) => u.iter().cloned().collect(),
        None => profiles.keys().cloned().chain(seen).collect(),
    }
}

/// Open disputes past their deadline on the snapshot's day.
pub fn overdue_disputes(snap: &Snapshot<'_>, q: &SupervisionQuery) -> Result<View<OverdueDispute>> {
    let today = snap.today();
    let ds = snap.disputes(&DisputeFilter {
        units: q.units.clone(),
        overdue_on: Some(today),
        ..Default::default()
    })?;
    let mut items: Vec<OverdueDispute> = ds
        .into_iter()
        .filter_map(|d| {
            let deadline = d.deadline?;
            Some(OverdueDispute {
                days_overdue: (today - deadline).num_days(),
                id: d.meta.id,
                unit: d.meta.unit,
                number: d.meta.number,
                name: d.name,
                deadline,
                leader: d.leader,
                responsible: d.responsible,
            })
        })
        .collect();
    items.sort_by(|a, b| (&a.unit, a.deadline, &a.id).cmp(&(&b.unit, b.deadline, &b.id)));
    let units = known_units(q, &snap.profiles(q.units.as_deref())?, []);
    Ok(View::new(items, &units, |i| &i.unit))
}

fn blank(s: &Option<String>) -> bool {
    s.as_deref().is_none_or(|s| s.trim().is_empty())
}

/// Open disputes with no 责任领导 and petition cases not signed off with no 包案领导.
pub fn without_leader(
    snap: &Snapshot<'_>,
    q: &SupervisionQuery,
) -> Result<View<CaseWithoutLeader>> {
    let units = q.units.as_deref();
    let mut items = Vec::new();
    for d in snap.disputes(&DisputeFilter {
        units: q.units.clone(),
        status: Some("open".into()),
        ..Default::default()
    })? {
        if blank(&d.leader) {
            items.push(CaseWithoutLeader {
                id: d.meta.id,
                unit: d.meta.unit,
                kind: RecordKind::Dispute,
                number: d.meta.number,
                title: d.name,
            });
        }
    }
    for p in snap.petitions(units)? {
        if p.status != Some(PetitionStatus::SignedOff) && blank(&p.leader) {
            items.push(CaseWithoutLeader {
                id: p.meta.id,
                unit: p.meta.unit,
                kind: RecordKind::Petition,
                number: p.meta.number,
                title: p.title,
            });
        }
    }
    items.sort_by(|a, b| {
        (&a.unit, a.kind, &a.number, &a.id).cmp(&(&b.unit, b.kind, &b.number, &b.id))
    });
    let known = known_units(q, &snap.profiles(units)?, []);
    Ok(View::new(items, &known, |i| &i.unit))
}

/// Visit targets of each unit not visited in the round under way on the snapshot's day.
pub fn uncovered_targets(
    snap: &Snapshot<'_>,
    q: &SupervisionQuery,
    campaign: &Campaign,
) -> Result<View<UncoveredTarget>> {
    let units = q.units.as_deref();
    let profiles = snap.profiles(units)?;
    let mut items = Vec::new();
    if let Some(round) = campaign.current_round(snap.today()) {
        let visits = snap.visits(units)?;
        let visited: BTreeSet<(&str, &str)> = visits
            .iter()
            .filter(|v| v.round.as_deref() == Some(round.code.as_str()))
            .filter_map(|v| Some((v.meta.unit.as_str(), v.target.as_deref()?)))
            .collect();
        for (unit, p) in &profiles {
            let mut targets: Vec<_> = p
                .visit_targets
                .iter()
                .filter(|t| !t.code.is_empty())
                .collect();
            targets.sort_by(|a, b| (&a.code, &a.id).cmp(&(&b.code, &b.id)));
            targets.dedup_by(|a, b| a.code == b.code);
            for t in targets {
                if !visited.contains(&(unit.as_str(), t.code.as_str())) {
                    items.push(UncoveredTarget {
                        unit: unit.clone(),
                        round: round.code.clone(),
                        code: t.code.clone(),
                        name: t.name.clone(),
                        place: t.place.clone(),
                    });
                }
            }
        }
    }
    let known = known_units(q, &profiles, []);
    Ok(View::new(items, &known, |i| &i.unit))
}

/// Half-months from the campaign's start that have ended by the snapshot's day (and not after
/// the campaign's end) in which a unit recorded no screening round.
pub fn missing_screenings(
    snap: &Snapshot<'_>,
    q: &SupervisionQuery,
    campaign: &Campaign,
) -> Result<View<MissingScreening>> {
    let units = q.units.as_deref();
    let profiles = snap.profiles(units)?;
    let rounds = snap.screenings(units)?;
    let held: BTreeSet<(&str, HalfMonth)> = rounds
        .iter()
        .filter_map(|r| Some((r.meta.unit.as_str(), HalfMonth::of(r.screened_on?))))
        .collect();
    let known = known_units(q, &profiles, rounds.iter().map(|r| r.meta.unit.clone()));
    // A half-month is due once it has ended: the last day counted is the day before today.
    let upto = snap
        .today()
        .pred_opt()
        .unwrap_or(snap.today())
        .min(campaign.end);
    let periods = if upto >= campaign.start {
        HalfMonth::between(campaign.start, upto)
    } else {
        Vec::new()
    };
    let mut items = Vec::new();
    for unit in &known {
        for p in &periods {
            if !held.contains(&(unit.as_str(), *p)) {
                items.push(MissingScreening {
                    unit: unit.clone(),
                    period: *p,
                    label: p.to_string(),
                });
            }
        }
    }
    Ok(View::new(items, &known, |i| &i.unit))
}

/// Problems of inspections and self-checks still open past their rectification deadline.
pub fn overdue_rectifications(
    snap: &Snapshot<'_>,
    q: &SupervisionQuery,
) -> Result<View<OverdueRectification>> {
    let today = snap.today();
    let units = q.units.as_deref();
    let mut items = Vec::new();
    for i in snap.inspections(units)? {
        for p in &i.problems {
            if let (true, Some(deadline)) = (p.is_overdue(today), p.deadline) {
                items.push(OverdueRectification {
                    id: i.meta.id.clone(),
                    problem_id: p.id.clone(),
                    unit: i.meta.unit.clone(),
                    number: i.meta.number.clone(),
                    inspected_on: i.inspected_on,
                    problem: p.problem.clone(),
                    requirement: p.requirement.clone(),
                    deadline,
                    days_overdue: (today - deadline).num_days(),
                });
            }
        }
    }
    items.sort_by(|a, b| {
        (&a.unit, a.deadline, &a.id, &a.problem_id).cmp(&(
            &b.unit,
            b.deadline,
            &b.id,
            &b.problem_id,
        ))
    });
    let known = known_units(q, &snap.profiles(units)?, []);
    Ok(View::new(items, &known, |i| &i.unit))
}

/// Records holding conflicts nobody has decided yet.
pub fn open_conflicts(snap: &Snapshot<'_>, q: &SupervisionQuery) -> Result<View<OpenConflict>> {
    let units = q.units.as_deref();
    let store = snap.store();
    let mut items = Vec::new();
    match snap.at_ms() {
        None => {
            for r in store.records_with_conflicts(units)? {
                let fields = store
                    .conflicts(&r.id)?
                    .into_iter()
                    .map(|c| c.label)
                    .collect();
                items.push(OpenConflict {
                    id: r.id,
                    unit: r.unit,
                    kind: r.kind,
                    number: r.number,
                    title: r.title,
                    fields,
                });
            }
        }
        Some(at) => {
            for kind in RecordKind::ALL {
                for (r, conflicts) in store.records_with_conflicts_as_of(kind, units, at)? {
                    if conflicts.is_empty() {
                        continue;
                    }
                    let m = r.meta();
                    items.push(OpenConflict {
                        id: m.id.clone(),
                        unit: m.unit.clone(),
                        kind,
                        number: m.number.clone(),
                        title: r.title(),
                        fields: conflicts.into_iter().map(|c| c.label).collect(),
                    });
                }
            }
        }
    }
    items.sort_by(|a, b| {
        (&a.unit, a.kind, &a.number, &a.id).cmp(&(&b.unit, b.kind, &b.number, &b.id))
    });
    let known = known_units(q, &snap.profiles(units)?, []);
    Ok(View::new(items, &known, |i| &i.unit))
}

/// Decisions of which no assessment lets them proceed (each unit's decisions by name; the
/// latest assessment is listed).
pub fn blocked_decisions(
    snap: &Snapshot<'_>,
    q: &SupervisionQuery,
) -> Result<View<BlockedDecision>> {
    let units = q.units.as_deref();
    let assessments = snap.risk_assessments(units)?;
    let mut by_decision: BTreeMap<(&str, &str), Vec<&crate::model::RiskAssessment>> =
        BTreeMap::new();
    for a in &assessments {
        by_decision
            .entry((a.meta.unit.as_str(), a.decision.trim()))
            .or_default()
            .push(a);
    }
    let mut items = Vec::new();
    for ((unit, decision), list) in by_decision {
        if list.iter().any(|a| !a.must_not_proceed()) {
            continue;
        }
        let Some(latest) = list
            .iter()
            .max_by_key(|a| (a.assessed_on, a.meta.created_at, a.meta.id.as_str()))
        else {
            continue;
        };
        items.push(BlockedDecision {
            id: latest.meta.id.clone(),
            unit: unit.to_owned(),
            number: latest.meta.number.clone(),
            decision: decision.to_owned(),
            assessed_on: latest.assessed_on,
            reason: latest.proceed_label().to_owned(),
        });
    }
    let known = known_units(q, &snap.profiles(units)?, []);
    Ok(View::new(items, &known, |i| &i.unit))
}

/// Every supervision view at once.
pub fn supervision(
    store: &Store,
    q: &SupervisionQuery,
    campaign: &Campaign,
) -> Result<Supervision> {
    let snap = Snapshot::new(store, q.as_of, campaign);
    Ok(Supervision {
        as_of: snap.as_of_date(),
        at_ms: q.as_of,
        today: snap.today(),
        campaign: CampaignInForce {
            name: campaign.name.clone(),
            start: campaign.start,
            end: campaign.end,
            set: campaign.is_set(),
        },
        current_round: campaign.current_round(snap.today()).map(|r| r.code.clone()),
        overdue_disputes: overdue_disputes(&snap, q)?,
        without_leader: without_leader(&snap, q)?,
        uncovered_targets: uncovered_targets(&snap, q, campaign)?,
        missing_screenings: missing_screenings(&snap, q, campaign)?,
        overdue_rectifications: overdue_rectifications(&snap, q)?,
        open_conflicts: open_conflicts(&snap, q)?,
        blocked_decisions: blocked_decisions(&snap, q)?,
    })
}

/// A record's history, all of it or up to an as-of moment.
pub fn record_history(store: &Store, id: &str, as_of: Option<i64>) -> Result<Vec<HistoryEntry>> {
    match as_of {
        None => store.history(id),
        Some(at) => store.history_as_of(id, at),
    }
}

impl Supervision {
    /// The views laid out as titled blocks: a per-unit summary, then each view's items.
    pub fn document(&self) -> Document {
        let mut doc = Document::new("督查情况", self.at_ms);
        let mut line = format!(
            "活动：{}（{} 至 {}{}）　检查日：{}",
            self.campaign.name,
            self.campaign.start,
            self.campaign.end,
            if self.campaign.set {
                ""
            } else {
                "，未设置活动，按方案默认日程"
            },
            self.today
        );
        if let Some(r) = &self.current_round {
            line.push_str(&format!("　当前走访轮次：{r}"));
        }
        doc.paragraph(line);
        let units: BTreeSet<&String> = self
            .overdue_disputes
            .per_unit
            .keys()
            .chain(self.without_leader.per_unit.keys())
            .chain(self.uncovered_targets.per_unit.keys())
            .chain(self.missing_screenings.per_unit.keys())
            .chain(self.overdue_rectifications.per_unit.keys())
            .chain(self.open_conflicts.per_unit.keys())
            .chain(self.blocked_decisions.per_unit.keys())
            .collect();
        let n =
            |m: &BTreeMap<String, usize>, u: &String| m.get(u).copied().unwrap_or(0).to_string();
        doc.heading(2, "各单位汇总");
        doc.table(
            &[
                "单位",
                "逾期矛盾纠纷",
                "无责任领导案件",
                "未走访对象",
                "缺排查半月",
                "逾期整改",
                "未决冲突",
                "不得出台实施事项",
            ],
            units
                .iter()
                .map(|u| {
                    vec![
                        (*u).clone(),
                        n(&self.overdue_disputes.per_unit, u),
                        n(&self.without_leader.per_unit, u),
                        n(&self.uncovered_targets.per_unit, u),
                        n(&self.missing_screenings.per_unit, u),
                        n(&self.overdue_rectifications.per_unit, u),
                        n(&self.open_conflicts.per_unit, u),
                        n(&self.blocked_decisions.per_unit, u),
                    ]
                })
                .collect(),
        );
        doc.heading(2, "逾期矛盾纠纷");
        doc.table_of(
            &[
                "单位",
                "编号",
                "名称",
                "化解时限",
                "逾期天数",
                "责任领导",
                "责任人",
            ],
            &self.overdue_disputes.items,
            |i| {
                vec![
                    i.unit.clone(),
                    i.number.clone(),
                    i.name.clone(),
                    i.deadline.to_string(),
                    i.days_overdue.to_string(),
                    i.leader.clone().unwrap_or_default(),
                    i.responsible.clone().unwrap_or_default(),
                ]
            },
        );
        doc.heading(2, "无责任领导案件");
        doc.table_of(
            &["单位", "类别", "编号", "名称"],
            &self.without_leader.items,
            |i| {
                vec![
                    i.unit.clone(),
                    i.kind.label().into(),
                    i.number.clone(),
                    i.title.clone(),
                ]
            },
        );
        doc.heading(2, "本轮未走访对象");
        doc.table_of(
            &["单位", "轮次", "编号", "走访对象", "地点"],
            &self.uncovered_targets.items,
            |i| {
                vec![
                    i.unit.clone(),
                    i.round.clone(),
                    i.code.clone(),
                    i.name.clone(),
                    i.place.clone().unwrap_or_default(),
                ]
            },
        );
        doc.heading(2, "未开展排查的半月");
        doc.table_of(&["单位", "时段"], &self.missing_screenings.items, |i| {
            vec![i.unit.clone(), i.label.clone()]
        });
        doc.heading(2, "逾期未整改问题");
        doc.table_of(
            &[
                "单位",
                "编号",
                "发现问题",
                "整改要求",
                "整改时限",
                "逾期天数",
            ],
            &self.overdue_rectifications.items,
            |i| {
                vec![
                    i.unit.clone(),
                    i.number.clone(),
                    i.problem.clone(),
                    i.requirement.clone(),
                    i.deadline.to_string(),
                    i.days_overdue.to_string(),
                ]
            },
        );
        doc.heading(2, "不得出台实施的决策事项");
        doc.table_of(
            &["单位", "编号", "决策事项", "评估日期", "原因"],
            &self.blocked_decisions.items,
            |i| {
                vec![
                    i.unit.clone(),
                    i.number.clone(),
                    i.decision.clone(),
                    i.assessed_on.map(|d| d.to_string()).unwrap_or_default(),
                    i.reason.clone(),
                ]
            },
        );
        doc.heading(2, "未决冲突");
        doc.table_of(
            &["单位", "类别", "编号", "名称", "冲突字段"],
            &self.open_conflicts.items,
            |i| {
                vec![
                    i.unit.clone(),
                    i.kind.label().into(),
                    i.number.clone(),
                    i.title.clone(),
                    i.fields.join("、"),
                ]
            },
        );
        doc
    }
}
