//! The supervision views (督查): counts per unit at a glance, then each view's items — overdue
//! disputes, open cases without a leader, visit targets not yet covered in the current round,
//! missing half-monthly screening rounds, overdue rectifications, open conflicts, and units late
//! with their monthly report.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use chrono::{Datelike, NaiveDate};
use fieldledger_core::report::monthly::bureau_monthly;
use fieldledger_core::report::supervision::{SupervisionQuery, supervision};
use fieldledger_core::report::{Campaign, Month, for_report};
use serde::Deserialize;

use super::error::WebError;
use super::layout::{self, Layout, Opt, field_units, render, unit_label};
use super::ledger::date;
use super::viewer::Viewer;
use crate::reports::narrow;
use crate::state::AppState;

/// Query of the supervision page.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct SupervisionForm {
    #[serde(default)]
    unit: Option<String>,
    #[serde(default)]
    as_of: Option<String>,
    #[serde(default)]
    month: Option<String>,
}

struct SummaryRow {
    code: String,
    unit: String,
    counts: Vec<usize>,
    monthly: String,
    late: bool,
}

struct ItemRow {
    link: Option<String>,
    cells: Vec<String>,
}

/// One row per item, linked to the item's record page.
fn linked_rows<T>(
    items: &[T],
    id: impl Fn(&T) -> &str,
    cells: impl Fn(&T) -> Vec<String>,
) -> Vec<ItemRow> {
    items
        .iter()
        .map(|item| ItemRow {
            link: Some(format!("/ui/records/{}", id(item))),
            cells: cells(item),
        })
        .collect()
}

struct Section {
    id: &'static str,
    title: String,
    headers: Vec<&'static str>,
    rows: Vec<ItemRow>,
}

#[derive(Template)]
#[template(path = "supervision.html")]
struct SupervisionPage {
    layout: Layout,
    today: String,
    campaign: String,
    month: String,
    as_of: String,
    unit_options: Vec<Opt>,
    columns: Vec<String>,
    summary: Vec<SummaryRow>,
    totals: Vec<usize>,
    late_total: usize,
    sections: Vec<Section>,
}

/// The month whose report is the latest one due on `today`: this month from the due day on,
/// else the month before.
fn latest_due_month(campaign: &Campaign, today: NaiveDate) -> Month {
    if today.day() >= campaign.monthly_due_day {
        Month::of(today)
    } else {
        Month::of(Month::of(today).first_day().pred_opt().unwrap_or(today))
    }
}

fn blank(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// `GET /ui/supervision?unit=&as_of=&month=`.
pub(crate) async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(form): Query<SupervisionForm>,
) -> Result<Response, WebError> {
    let unit = blank(form.unit).map(|u| u.to_ascii_uppercase());
    let as_of_text = blank(form.as_of);
    let month_text = blank(form.month);
    let units = layout::units(&state).await?;
    let scope =
        narrow(viewer.allowed_units(), unit.as_deref())?.or_else(|| Some(field_units(&units)));
    let as_of_day = date("截至", &as_of_text)?;
    if let Some(m) = &month_text {
        Month::parse(m).map_err(|_| WebError::BadRequest(format!("月份：“{m}”不是 YYYY-MM")))?;
    }
    let (view, monthly) = state
        .with_record_reader(move |store| {
            let (campaign, as_of) = for_report(store, as_of_day)?;
            let q = SupervisionQuery {
                units: scope.clone(),
                as_of,
            };
            let view = supervision(store, &q, &campaign)?;
            let month = month_text
                .clone()
                .unwrap_or_else(|| latest_due_month(&campaign, view.today).to_string());
            let monthly = bureau_monthly(store, &month, scope.as_deref(), as_of, &campaign)?;
            Ok((view, monthly))
        })
        .await?;

    let round = view
        .current_round
        .clone()
        .map(|r| format!("（第{r}轮）"))
        .unwrap_or_default();
    let columns = vec![
        "逾期矛盾纠纷".to_owned(),
        "无责任领导".to_owned(),
        format!("未走访对象{round}"),
        "缺失排查".to_owned(),
        "逾期整改".to_owned(),
        "待裁决冲突".to_owned(),
        "不得出台实施".to_owned(),
    ];
    let per_unit = [
        &view.overdue_disputes.per_unit,
        &view.without_leader.per_unit,
        &view.uncovered_targets.per_unit,
        &view.missing_screenings.per_unit,
        &view.overdue_rectifications.per_unit,
        &view.open_conflicts.per_unit,
        &view.blocked_decisions.per_unit,
    ];
    let codes: std::collections::BTreeSet<String> = per_unit
        .iter()
        .flat_map(|m| m.keys().cloned())
        .chain(monthly.units.iter().map(|s| s.unit.clone()))
        .collect();
    let summary: Vec<SummaryRow> = codes
        .into_iter()
        .map(|code| {
            let submission = monthly.units.iter().find(|s| s.unit == code);
            SummaryRow {
                unit: unit_label(&units, &code),
                counts: per_unit
                    .iter()
                    .map(|m| m.get(&code).copied().unwrap_or(0))
                    .collect(),
                monthly: submission.map_or("—".into(), |s| s.status.label().to_owned()),
                late: submission.is_some_and(|s| s.status.is_late()),
                code,
            }
        })
        .collect();
    let totals = (0..columns.len())
        .map(|i| summary.iter().map(|r| r.counts[i]).sum())
        .collect();

    let sections = vec![
        Section {
            id: "overdue",
            title: format!("逾期矛盾纠纷（{}）", view.overdue_disputes.total()),
            headers: vec![
                "名称",
                "编号",
                "单位",
                "化解时限",
                "逾期天数",
                "责任领导",
                "责任人",
            ],
            rows: linked_rows(
                &view.overdue_disputes.items,
                |d| &d.id,
                |d| {
                    vec![
                        d.name.clone(),
                        d.number.clone(),
                        unit_label(&units, &d.unit),
                        d.deadline.to_string(),
                        d.days_overdue.to_string(),
                        d.leader.clone().unwrap_or_default(),
                        d.responsible.clone().unwrap_or_default(),
                    ]
                },
            ),
        },
        Section {
            id: "no-leader",
            title: format!("未明确责任领导的案件（{}）", view.without_leader.total()),
            headers: vec!["名称", "编号", "单位", "类别"],
            rows: linked_rows(
                &view.without_leader.items,
                |c| &c.id,
                |c| {
                    vec![
                        c.title.clone(),
                        c.number.clone(),
                        unit_label(&units, &c.unit),
                        c.kind.label().to_owned(),
                    ]
                },
            ),
        },
        Section {
            id: "uncovered",
            title: format!(
                "尚未走访的对象{round}（{}）",
                view.uncovered_targets.total()
            ),
            headers: vec!["走访对象", "编号", "单位", "轮次", "地点"],
            rows: view
                .uncovered_targets
                .items
                .iter()
                .map(|t| ItemRow {
                    link: None,
                    cells: vec![
                        t.name.clone(),
                        t.code.clone(),
                        unit_label(&units, &t.unit),
                        t.round.clone(),
                        t.place.clone().unwrap_or_default(),
                    ],
                })
                .collect(),
        },
        Section {
            id: "screening",
            title: format!("缺失的半月排查（{}）", view.missing_screenings.total()),
            headers: vec!["时段", "单位"],
            rows: view
                .missing_screenings
                .items
                .iter()
                .map(|m| ItemRow {
                    link: None,
                    cells: vec![m.label.clone(), unit_label(&units, &m.unit)],
                })
                .collect(),
        },
        Section {
            id: "rectification",
            title: format!(
                "逾期未整改的问题（{}）",
                view.overdue_rectifications.total()
            ),
            headers: vec![
                "问题",
                "督查编号",
                "单位",
                "整改要求",
                "整改时限",
                "逾期天数",
            ],
            rows: linked_rows(
                &view.overdue_rectifications.items,
                |r| &r.id,
                |r| {
                    vec![
                        r.problem.clone(),
                        r.number.clone(),
                        unit_label(&units, &r.unit),
                        r.requirement.clone(),
                        r.deadline.to_string(),
                        r.days_overdue.to_string(),
                    ]
                },
            ),
        },
        Section {
            id: "conflicts",
            title: format!("待裁决的冲突（{}）", view.open_conflicts.total()),
            headers: vec!["记录", "编号", "单位", "类别", "冲突字段"],
            rows: linked_rows(
                &view.open_conflicts.items,
                |c| &c.id,
                |c| {
                    vec![
                        c.title.clone(),
                        c.number.clone(),
                        unit_label(&units, &c.unit),
                        c.kind.label().to_owned(),
                        c.fields.join("、"),
                    ]
                },
            ),
        },
        Section {
            id: "blocked-decisions",
            title: format!(
                "不得出台实施的决策事项（{}）",
                view.blocked_decisions.total()
            ),
            headers: vec!["决策事项", "评估编号", "单位", "评估日期", "原因"],
            rows: linked_rows(
                &view.blocked_decisions.items,
                |b| &b.id,
                |b| {
                    vec![
                        b.decision.clone(),
                        b.number.clone(),
                        unit_label(&units, &b.unit),
                        b.assessed_on.map(|d| d.to_string()).unwrap_or_default(),
                        b.reason.clone(),
                    ]
                },
            ),
        },
        Section {
            id: "monthly",
            title: format!(
                "{} 月报逾期的单位（{}，报送时限 {} 前含当日）",
                monthly.month,
                monthly.late.len(),
                monthly.last_on_time
            ),
            headers: vec!["单位", "情况", "报送日期", "报送人"],
            rows: monthly
                .units
                .iter()
                .filter(|s| s.status.is_late())
                .map(|s| ItemRow {
                    link: None,
                    cells: vec![
                        unit_label(&units, &s.unit),
                        s.status.label().to_owned(),
                        s.submitted_on.map(|d| d.to_string()).unwrap_or_default(),
                        s.submitted_by.clone().unwrap_or_default(),
                    ],
                })
                .collect(),
        },
    ];

    let current_unit = unit.unwrap_or_default();
    let unit_options = if viewer.sees_every_unit() {
        let mut o = vec![Opt::new("", "全部单位", &current_unit)];
        o.extend(
            units
                .values()
                .map(|u| Opt::new(u.code.clone(), unit_label(&units, &u.code), &current_unit)),
        );
        o
    } else {
        Vec::new()
    };
    let page = SupervisionPage {
        layout: Layout::new(&viewer, "督查", "supervision"),
        today: view.today.to_string(),
        campaign: format!(
            "{}（{} 至 {}）{}",
            view.campaign.name,
            view.campaign.start,
            view.campaign.end,
            if view.campaign.set {
                ""
            } else {
                "：尚未设置本部署的活动，按方案默认日程计算"
            }
        ),
        month: monthly.month.to_string(),
        as_of: as_of_text.unwrap_or_default(),
        unit_options,
        columns,
        late_total: monthly.late.len(),
        summary,
        totals,
        sections,
    };
    render(&page)
}
