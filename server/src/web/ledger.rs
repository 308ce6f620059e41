//! The Annex 2 ledger page: filters, the table in the form's columns (sortable in the browser),
//! CSV/XLSX downloads of exactly what is shown, and disputes by category and status per unit.

use std::collections::{BTreeSet, HashSet};

use askama::Template;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use fieldledger_core::model::FORM_CATEGORIES;
use fieldledger_core::model::field::parse_flag;
use fieldledger_core::report::for_report;
use fieldledger_core::report::ledger::{HEADERS, Ledger, LedgerQuery, UNIT_HEADER, row_cells};
use fieldledger_core::store::DisputeFilter;
use serde::{Deserialize, Serialize};

use super::charts::{Panel, disputes_by_category};
use super::error::WebError;
use super::layout::{self, Layout, Opt, attachment, render, scope, unit_label};
use super::viewer::Viewer;
use crate::reports::{LedgerParams, narrow, render_ledger};
use crate::state::AppState;

/// The ledger's filters as the page's form and links carry them (blank means "any").
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
pub(crate) struct LedgerForm {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    unit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    major: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cross_region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    legacy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    found_from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    found_to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    as_of: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    format: Option<String>,
}

fn clean(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

fn flag(label: &str, v: &Option<String>) -> Result<Option<bool>, WebError> {
    v.as_deref()
        .map(|s| {
            parse_flag(s).ok_or_else(|| WebError::BadRequest(format!("{label}：“{s}”不是 是/否")))
        })
        .transpose()
}

/// A `YYYY-MM-DD` date from a form field.
pub(crate) fn date(label: &str, v: &Option<String>) -> Result<Option<NaiveDate>, WebError> {
    v.as_deref()
        .map(|s| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map_err(|_| WebError::BadRequest(format!("{label}：“{s}”不是日期（YYYY-MM-DD）")))
        })
        .transpose()
}

impl LedgerForm {
    fn clean(self) -> LedgerForm {
        LedgerForm {
            unit: clean(self.unit).map(|u| u.to_ascii_uppercase()),
            category: clean(self.category),
            status: clean(self.status),
            major: clean(self.major),
            group: clean(self.group),
            cross_region: clean(self.cross_region),
            legacy: clean(self.legacy),
            found_from: clean(self.found_from),
            found_to: clean(self.found_to),
            as_of: clean(self.as_of),
            format: clean(self.format),
        }
    }

    fn status(&self) -> Result<Option<String>, WebError> {
        match self.status.as_deref() {
            None => Ok(None),
            Some(s @ ("open" | "resolved")) => Ok(Some(s.to_owned())),
            Some(other) => Err(WebError::BadRequest(format!(
                "状态：“{other}”不是 open（未化解）或 resolved（已化解）"
            ))),
        }
    }

    /// The query, without its as-of moment (which the campaign in force decides).
    fn query(&self, units: Option<Vec<String>>) -> Result<LedgerQuery, WebError> {
        let consolidated = units.as_ref().is_none_or(|u| u.len() > 1);
        Ok(LedgerQuery {
            filter: DisputeFilter {
                units,
                category: self.category.clone(),
                status: self.status()?,
                is_major: flag("是否重大问题", &self.major)?,
                is_group: flag("是否群体性问题", &self.group)?,
                is_cross_region: flag("是否跨区域问题", &self.cross_region)?,
                is_legacy: flag("是否历史遗留问题", &self.legacy)?,
                found_from: date("发现日期（起）", &self.found_from)?,
                found_to: date("发现日期（止）", &self.found_to)?,
                overdue_on: None,
            },
            as_of: None,
            consolidated,
        })
    }

    fn params(&self) -> Result<LedgerParams, WebError> {
        Ok(LedgerParams {
            format: Some(self.format.clone().unwrap_or_else(|| "xlsx".into())),
            unit: self.unit.clone(),
            category: self.category.clone(),
            status: self.status()?,
            major: flag("是否重大问题", &self.major)?,
            group: flag("是否群体性问题", &self.group)?,
            cross_region: flag("是否跨区域问题", &self.cross_region)?,
            legacy: flag("是否历史遗留问题", &self.legacy)?,
            found_from: self.found_from.clone(),
            found_to: self.found_to.clone(),
            as_of: self.as_of.clone(),
            consolidated: false,
        })
    }

    fn download_link(&self, format: &str) -> String {
        let mut f = self.clone();
        f.format = Some(format.to_owned());
        format!(
            "/ui/ledger/download?{}",
            serde_urlencoded::to_string(&f).unwrap_or_default()
        )
    }
}

struct Row {
    id: String,
    number: String,
    cells: Vec<String>,
    unit: String,
    conflict: bool,
    overdue: bool,
    resolved: bool,
}

struct FlagSelect {
    name: &'static str,
    label: &'static str,
    options: Vec<Opt>,
}

#[derive(Template)]
#[template(path = "ledger.html")]
struct LedgerPage {
    layout: Layout,
    headers: Vec<&'static str>,
    show_unit: bool,
    rows: Vec<Row>,
    total: usize,
    open: usize,
    overdue: usize,
    conflicts: usize,
    unit_options: Vec<Opt>,
    category_options: Vec<Opt>,
    status_options: Vec<Opt>,
    flags: Vec<FlagSelect>,
    found_from: String,
    found_to: String,
    as_of: String,
    csv_link: String,
    xlsx_link: String,
    panels: Vec<Panel>,
}

fn flag_select(name: &'static str, label: &'static str, current: &Option<String>) -> FlagSelect {
    let current = match current.as_deref().and_then(parse_flag) {
        Some(true) => "true",
        Some(false) => "false",
        None => "",
    };
    FlagSelect {
        name,
        label,
        options: vec![
            Opt::new("", "不限", current),
            Opt::new("true", "是", current),
            Opt::new("false", "否", current),
        ],
    }
}

/// `GET /ui/ledger`: the filtered ledger.
pub(crate) async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(form): Query<LedgerForm>,
) -> Result<Response, WebError> {
    let form = form.clean();
    let units = layout::units(&state).await?;
    let allowed = scope(&viewer, &units, form.unit.as_deref())?;
    let as_of_day = date("截至", &form.as_of)?;
    let mut q = form.query(allowed)?;
    let category_units: Vec<String> = match &q.filter.units {
        Some(u) => u.clone(),
        None => units.keys().cloned().collect(),
    };
    let (ledger, conflicted, categories, today) = state
        .with_record_reader(move |store| {
            let (campaign, as_of) = for_report(store, as_of_day)?;
            q.as_of = as_of;
            let ledger = Ledger::load(store, &q, &campaign)?;
            let conflicted: HashSet<String> = store
                .records_with_conflicts(q.filter.units.as_deref())?
                .into_iter()
                .map(|s| s.id)
                .collect();
            let mut categories: BTreeSet<String> =
                FORM_CATEGORIES.iter().map(|c| (*c).to_owned()).collect();
            for unit in &category_units {
                categories.extend(store.categories(unit)?);
            }
            let today = ledger
                .options
                .as_of
                .unwrap_or_else(|| campaign.local_date(store.now_ms()));
            Ok((ledger, conflicted, categories, today))
        })
        .await?;

    let show_unit = ledger.options.consolidated;
    let mut headers: Vec<&'static str> = HEADERS.to_vec();
    if show_unit {
        headers.push(UNIT_HEADER);
    }
    let rows: Vec<Row> = ledger
        .rows
        .iter()
        .enumerate()
        .map(|(i, d)| Row {
            id: d.meta.id.clone(),
            number: d.meta.number.clone(),
            cells: row_cells(i + 1, d).into_iter().collect(),
            unit: unit_label(&units, &d.meta.unit),
            conflict: conflicted.contains(&d.meta.id),
            overdue: d.is_overdue(today),
            resolved: d.is_resolved(),
        })
        .collect();
    let panels = disputes_by_category(&ledger.rows, &units)?;
    let current_unit = form.unit.clone().unwrap_or_default();
    let unit_options = layout::unit_options(&units, "全部单位", &current_unit);
    let current_category = form.category.clone().unwrap_or_default();
    let mut category_options = vec![Opt::new("", "全部类型", &current_category)];
    category_options.extend(
        categories
            .into_iter()
            .map(|c| Opt::new(c.clone(), c, &current_category)),
    );
    let current_status = form.status.clone().unwrap_or_default();
    let status_options = vec![
        Opt::new("", "全部", &current_status),
        Opt::new("open", "未化解", &current_status),
        Opt::new("resolved", "已化解", &current_status),
    ];
    let flags = vec![
        flag_select("major", "是否重大问题", &form.major),
        flag_select("group", "是否群体性问题", &form.group),
        flag_select("cross_region", "是否跨区域问题", &form.cross_region),
        flag_select("legacy", "是否历史遗留问题", &form.legacy),
    ];
    let page = LedgerPage {
        layout: Layout::new(&viewer, "矛盾纠纷排查化解统计表", "ledger"),
        headers,
        show_unit,
        total: rows.len(),
        open: rows.iter().filter(|r| !r.resolved).count(),
        overdue: rows.iter().filter(|r| r.overdue).count(),
        conflicts: rows.iter().filter(|r| r.conflict).count(),
        rows,
        unit_options: if viewer.sees_every_unit() {
            unit_options
        } else {
            Vec::new()
        },
        category_options,
        status_options,
        flags,
        found_from: form.found_from.clone().unwrap_or_default(),
        found_to: form.found_to.clone().unwrap_or_default(),
        as_of: form.as_of.clone().unwrap_or_default(),
        csv_link: form.download_link("csv"),
        xlsx_link: form.download_link("xlsx"),
        panels,
    };
    render(&page)
}

/// `GET /ui/ledger/download?format=csv|xlsx&…`: the filtered ledger as a file, the same bytes
/// the report API and the command line give.
pub(crate) async fn download(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(form): Query<LedgerForm>,
) -> Result<Response, WebError> {
    let form = form.clean();
    let units = narrow(viewer.allowed_units(), form.unit.as_deref())?;
    let params = form.params()?;
    let detail = crate::audit::ledger_export_detail(
        params.format.as_deref(),
        units.as_deref(),
        "from the dashboard",
    );
    let r = state
        .with_record_reader(move |store| render_ledger(store, units, &params))
        .await?;
    crate::audit::log_export(&state, &viewer.login, "export.ledger", detail).await;
    Ok((
        [
            (header::CONTENT_TYPE, r.content_type.to_owned()),
            (header::CONTENT_DISPOSITION, attachment(&r.file_name)),
        ],
        r.bytes,
    )
        .into_response())
}
