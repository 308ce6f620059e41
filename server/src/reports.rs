//! Reports on the relay and on the command line: the Annex 2 ledger, the monthly report, the
//! supervision views and a record's history — all scoped like sync and reproducible as of a
//! date.

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router, routing::get};
use chrono::NaiveDate;
use fieldledger_core::Store;
use fieldledger_core::report::ledger::{LedgerFormat, LedgerQuery, export_ledger};
use fieldledger_core::report::monthly::{MonthlyQuery, bureau_monthly, unit_monthly};
use fieldledger_core::report::supervision::{SupervisionQuery, record_history, supervision};
use fieldledger_core::report::{Campaign, check_filter, check_units, for_report};
use fieldledger_core::store::DisputeFilter;
use serde::Deserialize;

use crate::accounts::Principal;
use crate::error::{RelayError, Result};
use crate::state::AppState;

/// Filters and format of a ledger export (query string on the relay, options on the CLI).
#[derive(Debug, Clone, Default, Deserialize, clap::Args)]
pub struct LedgerParams {
    /// csv or xlsx.
    #[arg(long, default_value = "csv", value_parser = ["csv", "xlsx"])]
    #[serde(default)]
    pub format: Option<String>,
    /// Only this unit.
    #[arg(long)]
    #[serde(default)]
    pub unit: Option<String>,
    /// Only this 类型.
    #[arg(long)]
    #[serde(default)]
    pub category: Option<String>,
    /// open or resolved.
    #[arg(long)]
    #[serde(default)]
    pub status: Option<String>,
    /// 是否重大问题 (true/false).
    #[arg(long)]
    #[serde(default)]
    pub major: Option<bool>,
    /// 是否群体性问题 (true/false).
    #[arg(long)]
    #[serde(default)]
    pub group: Option<bool>,
    /// 是否跨区域问题 (true/false).
    #[arg(long)]
    #[serde(default)]
    pub cross_region: Option<bool>,
    /// 是否历史遗留问题 (true/false).
    #[arg(long)]
    #[serde(default)]
    pub legacy: Option<bool>,
    /// Found on or after (YYYY-MM-DD).
    #[arg(long)]
    #[serde(default)]
    pub found_from: Option<String>,
    /// Found on or before (YYYY-MM-DD).
    #[arg(long)]
    #[serde(default)]
    pub found_to: Option<String>,
    /// As the records stood at the end of this day (YYYY-MM-DD).
    #[arg(long)]
    #[serde(default)]
    pub as_of: Option<String>,
    /// The bureau's consolidated ledger (adds 填报单位 and per-unit sheets).
    #[arg(long)]
    #[serde(default)]
    pub consolidated: bool,
}

/// Options of a monthly report.
#[derive(Debug, Clone, Default, Deserialize, clap::Args)]
pub struct MonthlyParams {
    /// Month, YYYY-MM. A month already over is reported as it stood at its end unless
    /// --as-of says otherwise.
    #[arg(long)]
    pub month: String,
    /// The unit (default: the caller's unit; the office without a unit gets the bureau view).
    #[arg(long)]
    #[serde(default)]
    pub unit: Option<String>,
    /// md, html, xlsx or json.
    #[arg(long, default_value = "md", value_parser = ["md", "markdown", "html", "xlsx", "json"])]
    #[serde(default)]
    pub format: Option<String>,
    /// As the records stood at the end of this day (YYYY-MM-DD).
    #[arg(long)]
    #[serde(default)]
    pub as_of: Option<String>,
}

/// Options of the supervision views and a record's history.
#[derive(Debug, Clone, Default, Deserialize, clap::Args)]
pub struct AsOfParams {
    /// Only this unit.
    #[arg(long)]
    #[serde(default)]
    pub unit: Option<String>,
    /// As the records stood at the end of this day (YYYY-MM-DD).
    #[arg(long)]
    #[serde(default)]
    pub as_of: Option<String>,
}

fn date(field: &str, s: &Option<String>) -> Result<Option<NaiveDate>> {
    s.as_deref()
        .map(|v| {
            NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| {
                RelayError::BadRequest(format!("{field}: `{v}` is not a date (YYYY-MM-DD)"))
            })
        })
        .transpose()
}

/// The campaign a report as of the date `as_of` (none: now) is computed with, and the as-of
/// moment (the end of that local day).
pub fn report_campaign(store: &Store, as_of: &Option<String>) -> Result<(Campaign, Option<i64>)> {
    Ok(for_report(store, date("as_of", as_of)?)?)
}

/// The units a request may read: `allowed` (none: all) narrowed to `asked`.
pub fn narrow(allowed: Option<Vec<String>>, asked: Option<&str>) -> Result<Option<Vec<String>>> {
    match (allowed, asked) {
        (None, None) => Ok(None),
        (None, Some(u)) => Ok(Some(vec![u.to_owned()])),
        (Some(a), None) => Ok(Some(a)),
        (Some(a), Some(u)) if a.iter().any(|x| x == u) => Ok(Some(vec![u.to_owned()])),
        (Some(_), Some(u)) => Err(RelayError::Forbidden(format!(
            "records of unit {u} are not in your scope"
        ))),
    }
}

/// Checks a unit asked for by a caller who may read every unit (`allowed` none): it must be
/// a unit of the store's records, so a mistyped unit is an error and not an empty report.
/// (A caller limited to `allowed` units was already checked by [`narrow`].)
pub fn check_asked_unit(
    store: &Store,
    allowed: Option<&[String]>,
    asked: Option<&str>,
) -> Result<()> {
    match (allowed, asked) {
        (None, Some(u)) => Ok(check_units(store, &[u.to_owned()])?),
        _ => Ok(()),
    }
}

/// A rendered report: bytes, content type and a file name.
pub struct Rendered {
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// MIME type.
    pub content_type: &'static str,
    /// Suggested file name.
    pub file_name: String,
}

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// Renders the ledger for `units` (none: every unit in the store).
pub fn render_ledger(
    store: &Store,
    units: Option<Vec<String>>,
    p: &LedgerParams,
) -> Result<Rendered> {
    let (campaign, as_of) = report_campaign(store, &p.as_of)?;
    let format: LedgerFormat = p.format.as_deref().unwrap_or("csv").parse()?;
    let filter = DisputeFilter {
        units: units.clone(),
        category: p.category.clone(),
        status: p.status.clone(),
        is_major: p.major,
        is_group: p.group,
        is_cross_region: p.cross_region,
        is_legacy: p.legacy,
        found_from: date("found_from", &p.found_from)?,
        found_to: date("found_to", &p.found_to)?,
        overdue_on: None,
    };
    check_filter(store, &filter)?;
    let consolidated = p.consolidated || units.as_ref().is_none_or(|u| u.len() > 1);
    let q = LedgerQuery {
        filter,
        as_of,
        consolidated,
    };
    let bytes = export_ledger(store, &q, format, &campaign)?;
    let scope = match &units {
        Some(u) if u.len() == 1 => u[0].clone(),
        _ => "汇总".into(),
    };
    let (content_type, ext) = match format {
        LedgerFormat::Csv => ("text/csv; charset=utf-8", "csv"),
        LedgerFormat::Xlsx => (XLSX, "xlsx"),
    };
    Ok(Rendered {
        bytes,
        content_type,
        file_name: format!("矛盾纠纷排查化解统计表-{scope}.{ext}"),
    })
}

/// Renders a unit's monthly report, or the bureau view when `unit` is none.
pub fn render_monthly(
    store: &Store,
    unit: Option<&str>,
    units: Option<Vec<String>>,
    p: &MonthlyParams,
) -> Result<Rendered> {
    let (campaign, as_of) = report_campaign(store, &p.as_of)?;
    let campaign = &campaign;
    let format = p.format.as_deref().unwrap_or("md");
    let (md, html, xlsx, json, name) = match unit {
        Some(u) => {
            let r = unit_monthly(
                store,
                &MonthlyQuery {
                    unit: u.to_owned(),
                    month: p.month.clone(),
                    as_of,
                },
                campaign,
            )?;
            (
                r.markdown(),
                r.html(),
                r.xlsx(),
                serde_json::to_vec_pretty(&r),
                format!("月报-{u}-{}", p.month),
            )
        }
        None => {
            let r = bureau_monthly(store, &p.month, units.as_deref(), as_of, campaign)?;
            (
                r.markdown(),
                r.html(),
                r.xlsx(),
                serde_json::to_vec_pretty(&r),
                format!("月报报送情况-{}", p.month),
            )
        }
    };
    let (bytes, content_type, ext) = match format {
        "md" | "markdown" => (md.into_bytes(), "text/markdown; charset=utf-8", "md"),
        "html" => (html.into_bytes(), "text/html; charset=utf-8", "html"),
        "xlsx" => (xlsx?, XLSX, "xlsx"),
        "json" => (
            json.map_err(|e| RelayError::Internal(e.to_string()))?,
            "application/json",
            "json",
        ),
        other => {
            return Err(RelayError::BadRequest(format!(
                "format `{other}` is not md, html, xlsx or json"
            )));
        }
    };
    Ok(Rendered {
        bytes,
        content_type,
        file_name: format!("{name}.{ext}"),
    })
}

fn allowed(principal: &Principal) -> Option<Vec<String>> {
    principal.scope().into_units()
}

fn download(r: Rendered) -> Response {
    let disposition = format!(
        "attachment; filename=\"report\"; filename*=UTF-8''{}",
        utf8_percent(&r.file_name)
    );
    (
        [
            (header::CONTENT_TYPE, r.content_type.to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        r.bytes,
    )
        .into_response()
}

fn utf8_percent(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn ledger(
    State(state): State<AppState>,
    principal: Principal,
    Query(p): Query<LedgerParams>,
) -> Result<Response> {
    let scope = allowed(&principal);
    let units = narrow(scope.clone(), p.unit.as_deref())?;
    let detail = crate::audit::ledger_export_detail(
        p.format.as_deref(),
        units.as_deref(),
        &format!("from device {}", principal.device_code),
    );
    let r = state
        .with_record_reader(move |store| {
            check_asked_unit(store, scope.as_deref(), p.unit.as_deref())?;
            render_ledger(store, units, &p)
        })
        .await;
    let r = match r {
        Ok(r) => r,
        Err(err) => {
            // Not an export: nothing left the relay. Logged as the failure it is.
            tracing::warn!(user = %principal.user_login, code = err.code(), "ledger export failed");
            return Err(err);
        }
    };
    crate::audit::log_export(&state, &principal.user_login, "export.ledger", detail).await;
    Ok(download(r))
}

async fn monthly(
    State(state): State<AppState>,
    principal: Principal,
    Query(p): Query<MonthlyParams>,
) -> Result<Response> {
    let scope = allowed(&principal);
    let units = narrow(scope.clone(), p.unit.as_deref())?;
    let unit = match (&units, p.unit.clone()) {
        (_, Some(u)) => Some(u),
        (Some(u), None) => u.first().cloned(),
        (None, None) => None,
    };
    let r = state
        .with_record_reader(move |store| {
            check_asked_unit(store, scope.as_deref(), p.unit.as_deref())?;
            render_monthly(store, unit.as_deref(), units, &p)
        })
        .await?;
    Ok(download(r))
}

async fn supervision_view(
    State(state): State<AppState>,
    principal: Principal,
    Query(p): Query<AsOfParams>,
) -> Result<Response> {
    let scope = allowed(&principal);
    let units = narrow(scope.clone(), p.unit.as_deref())?;
    let v = state
        .with_record_reader(move |store| {
            check_asked_unit(store, scope.as_deref(), p.unit.as_deref())?;
            let (campaign, as_of) = report_campaign(store, &p.as_of)?;
            Ok(supervision(
                store,
                &SupervisionQuery { units, as_of },
                &campaign,
            )?)
        })
        .await?;
    Ok(Json(v).into_response())
}

/// Checks that a record is in the principal's scope (unknown and out-of-scope look the same).
fn check_record_scope(store: &Store, principal: &Principal, id: &str) -> Result<()> {
    let unit = store.record(id)?.meta().unit.clone();
    if principal.can_see_unit(&unit) {
        Ok(())
    } else {
        Err(RelayError::Core(fieldledger_core::Error::UnknownRecord(
            id.to_owned(),
        )))
    }
}

async fn record(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response> {
    let (login, device, rid) = (
        principal.user_login.clone(),
        principal.device_code.clone(),
        id.clone(),
    );
    let (v, number) = state
        .with_record_reader(move |store| {
            check_record_scope(store, &principal, &id)?;
            let record = store.record(&id)?;
            let number = record.meta().number.clone();
            let v = serde_json::json!({"record": record, "conflicts": store.conflicts(&id)?});
            Ok((v, number))
        })
        .await?;
    let detail = format!("record {number} ({rid}) from device {device}");
    crate::audit::log_export(&state, &login, "export.record", detail).await;
    Ok(Json(v).into_response())
}

async fn history(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Query(p): Query<AsOfParams>,
) -> Result<Response> {
    let v = state
        .with_record_reader(move |store| {
            check_record_scope(store, &principal, &id)?;
            let (_, as_of) = report_campaign(store, &p.as_of)?;
            Ok(record_history(store, &id, as_of)?)
        })
        .await?;
    Ok(Json(v).into_response())
}

/// Routes of the reports, for devices of the bureau office and unit heads (token auth).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/reports/ledger", get(ledger))
        .route("/v1/reports/monthly", get(monthly))
        .route("/v1/supervision", get(supervision_view))
        .route("/v1/records/{id}", get(record))
        .route("/v1/records/{id}/history", get(history))
}
