//! Lists of the records besides the ledger: visits (走访记录), petition cases (信访积案), risk
//! assessments (社会稳定风险评估), screening rounds (排查) and inspections (督查 / 自查).
//!
//! Each list is scoped like the ledger (the office every unit, with a unit filter; a unit head
//! the unit), read from the index on a reader connection, filtered by status, and paged. Every
//! row links to the record's page, where its workflow steps are.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use fieldledger_core::access;
use fieldledger_core::model::{Record, RecordKind, petition, risk};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::WebError;
use super::layout::{self, Layout, Opt, render, scope, unit_label};
use super::value::shown;
use super::viewer::Viewer;
use crate::state::AppState;

/// Rows on one page of a list.
pub(crate) const PAGE_SIZE: usize = 100;

/// Filters of a list page as its form and links carry them (blank means "any").
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
pub(crate) struct ListForm {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    unit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    page: Option<String>,
}

fn blank(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// What a list shows of one kind: its page, title, columns (fields of the form, by key) and
/// the statuses it filters by (the codes the index keeps, with their labels).
struct ListKind {
    kind: RecordKind,
    nav: &'static str,
    path: &'static str,
    title: &'static str,
    columns: &'static [&'static str],
    statuses: fn() -> Vec<(&'static str, &'static str)>,
}

const VISITS: ListKind = ListKind {
    kind: RecordKind::Visit,
    nav: "visits",
    path: "/ui/visits",
    title: "走访记录",
    columns: &["visit_date", "visited_name", "round", "method", "visitors"],
    statuses: || vec![("open", "有未办结的诉求"), ("done", "诉求均已办结")],
};

const PETITIONS: ListKind = ListKind {
    kind: RecordKind::Petition,
    nav: "petitions",
    path: "/ui/petitions",
    title: "信访积案",
    columns: &["title", "origin", "leader", "deadline"],
    statuses: || {
        petition::STATUSES
            .iter()
            .map(|c| (c.code, c.label))
            .collect()
    },
};

const RISKS: ListKind = ListKind {
    kind: RecordKind::RiskAssessment,
    nav: "risks",
    path: "/ui/risks",
    title: "社会稳定风险评估",
    columns: &["decision", "assessed_on", "assessor"],
    statuses: || {
        let mut s: Vec<_> = risk::RESULTS.iter().map(|c| (c.code, c.label)).collect();
        s.push(("pending", "尚无评估结论"));
        s
    },
};

const SCREENINGS: ListKind = ListKind {
    kind: RecordKind::Screening,
    nav: "screenings",
    path: "/ui/screenings",
    title: "排查",
    columns: &["screened_on", "scope", "screened_by"],
    statuses: || vec![("found", "有发现"), ("nothing_found", "未发现问题")],
};

const INSPECTIONS: ListKind = ListKind {
    kind: RecordKind::Inspection,
    nav: "inspections",
    path: "/ui/inspections",
    title: "督查与自查",
    columns: &["inspected_on", "kind", "inspector", "feedback"],
    statuses: || vec![("open", "整改未全部验收"), ("closed", "整改均已验收")],
};

/// The list page a record of `kind` is listed on: nav entry, path and title (the ledger for
/// disputes; none for a unit's profile and monthly reports, which have pages of their own).
pub(crate) fn list_of(kind: RecordKind) -> (&'static str, &'static str, &'static str) {
    match [&VISITS, &PETITIONS, &RISKS, &SCREENINGS, &INSPECTIONS]
        .into_iter()
        .find(|l| l.kind == kind)
    {
        Some(l) => (l.nav, l.path, l.title),
        None if kind == RecordKind::MonthlyReport => ("monthly", "/ui/monthly", "月报"),
        None if kind == RecordKind::UnitProfile => ("units", "/ui/units", "人员与设备"),
        None => ("ledger", "/ui/ledger", "台账"),
    }
}

struct Row {
    id: String,
    number: String,
    cells: Vec<String>,
    status: String,
    /// A warning beside the status (risk assessments: 不得出台实施).
    tag: Option<&'static str>,
    unit: String,
}

#[derive(Template)]
#[template(path = "list.html")]
struct ListPage {
    layout: Layout,
    heading: &'static str,
    path: &'static str,
    headers: Vec<&'static str>,
    show_unit: bool,
    rows: Vec<Row>,
    total: usize,
    page: usize,
    pages: usize,
    prev_link: Option<String>,
    next_link: Option<String>,
    unit_options: Vec<Opt>,
    status_options: Vec<Opt>,
}

/// `GET /ui/visits`.
pub(crate) async fn visits(
    state: State<AppState>,
    viewer: Viewer,
    form: Query<ListForm>,
) -> Result<Response, WebError> {
    list(&VISITS, state, viewer, form).await
}

/// `GET /ui/petitions`.
pub(crate) async fn petitions(
    state: State<AppState>,
    viewer: Viewer,
    form: Query<ListForm>,
) -> Result<Response, WebError> {
    list(&PETITIONS, state, viewer, form).await
}

/// `GET /ui/risks`.
pub(crate) async fn risks(
    state: State<AppState>,
    viewer: Viewer,
    form: Query<ListForm>,
) -> Result<Response, WebError> {
    list(&RISKS, state, viewer, form).await
}

/// `GET /ui/screenings`.
pub(crate) async fn screenings(
    state: State<AppState>,
    viewer: Viewer,
    form: Query<ListForm>,
) -> Result<Response, WebError> {
    list(&SCREENINGS, state, viewer, form).await
}

/// `GET /ui/inspections`.
pub(crate) async fn inspections(
    state: State<AppState>,
    viewer: Viewer,
    form: Query<ListForm>,
) -> Result<Response, WebError> {
    list(&INSPECTIONS, state, viewer, form).await
}

async fn list(
    what: &'static ListKind,
    State(state): State<AppState>,
    viewer: Viewer,
    Query(form): Query<ListForm>,
) -> Result<Response, WebError> {
    let form = ListForm {
        unit: blank(form.unit).map(|u| u.to_ascii_uppercase()),
        status: blank(form.status),
        page: blank(form.page),
    };
    let units = layout::units(&state).await?;
    let allowed = scope(&viewer, &units, form.unit.as_deref())?;
    let statuses = (what.statuses)();
    if let Some(s) = &form.status {
        if !statuses.iter().any(|(code, _)| code == s) {
            let known: Vec<&str> = statuses.iter().map(|(_, label)| *label).collect();
            return Err(WebError::BadRequest(format!(
                "状态：没有“{s}”这一项（可选：{}）。",
                known.join("、")
            )));
        }
    }
    let page: usize = match &form.page {
        None => 1,
        Some(p) => p
            .parse()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| WebError::BadRequest(format!("页码：“{p}”不是正整数。")))?,
    };
    let status = form.status.clone();
    // Petition cases a unit head leads (包案领导) in other units are theirs to follow too,
    // exactly as sync gives them to a leader's device.
    let led_elsewhere =
        what.kind == RecordKind::Petition && allowed.is_some() && form.unit.is_none();
    let author = viewer.identity().author;
    let (total, found) = state
        .with_record_reader(move |store| {
            let mut all = store.list(what.kind, allowed.as_deref())?;
            if led_elsewhere {
                let mine = |unit: &str| {
                    allowed
                        .as_ref()
                        .is_some_and(|a| a.iter().any(|u| u == unit))
                };
                for s in store.list(what.kind, None)? {
                    if !mine(&s.unit) && access::may_access_record(&author, &store.record(&s.id)?) {
                        all.push(s);
                    }
                }
                all.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
            }
            let all: Vec<_> = all
                .into_iter()
                .filter(|s| status.as_ref().is_none_or(|st| *st == s.status))
                .collect();
            let total = all.len();
            let found = all
                .into_iter()
                .skip((page - 1) * PAGE_SIZE)
                .take(PAGE_SIZE)
                .map(|s| Ok((store.record(&s.id)?, s.status)))
                .collect::<crate::error::Result<Vec<_>>>()?;
            Ok((total, found))
        })
        .await?;
    let pages = total.div_ceil(PAGE_SIZE).max(1);
    if page > pages {
        return Err(WebError::BadRequest(format!(
            "页码：共 {pages} 页，没有第 {page} 页。"
        )));
    }
    let specs: Vec<_> = what
        .columns
        .iter()
        .filter_map(|k| what.kind.field(k).ok())
        .collect();
    let rows = found
        .into_iter()
        .map(|(record, status)| {
            let json = serde_json::to_value(&record).unwrap_or(Value::Null);
            let meta = record.meta();
            Row {
                id: meta.id.clone(),
                number: meta.number.clone(),
                cells: specs.iter().map(|s| shown(s, json.get(s.key))).collect(),
                status: statuses
                    .iter()
                    .find(|(code, _)| *code == status)
                    .map_or(status.clone(), |(_, label)| (*label).to_owned()),
                tag: match &record {
                    Record::RiskAssessment(r) if r.must_not_proceed() => Some("不得出台实施"),
                    _ => None,
                },
                unit: unit_label(&units, &meta.unit),
            }
        })
        .collect();
    let link = |p: usize| {
        let f = ListForm {
            page: Some(p.to_string()),
            ..form.clone()
        };
        format!(
            "{}?{}",
            what.path,
            serde_urlencoded::to_string(&f).unwrap_or_default()
        )
    };
    let mut headers = vec!["编号"];
    headers.extend(specs.iter().map(|s| s.label));
    headers.push("状态");
    let current_unit = form.unit.clone().unwrap_or_default();
    let unit_options = if viewer.sees_every_unit() {
        layout::unit_options(&units, "全部单位", &current_unit)
    } else {
        Vec::new()
    };
    let current_status = form.status.clone().unwrap_or_default();
    let mut status_options = vec![Opt::new("", "全部", &current_status)];
    status_options.extend(
        statuses
            .iter()
            .map(|(code, label)| Opt::new(*code, *label, &current_status)),
    );
    let show_unit = (viewer.sees_every_unit() && form.unit.is_none()) || led_elsewhere;
    if show_unit {
        headers.push("填报单位");
    }
    render(&ListPage {
        layout: Layout::new(&viewer, what.title, what.nav),
        heading: what.title,
        path: what.path,
        headers,
        show_unit,
        rows,
        total,
        page,
        pages,
        prev_link: (page > 1).then(|| link(page - 1)),
        next_link: (page < pages).then(|| link(page + 1)),
        unit_options,
        status_options,
    })
}
