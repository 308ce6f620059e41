//! Data protection on the relay: personal-data erasure, lost-record reports from revoked
//! devices, and the audit log, all for the bureau office.
//!
//! - `POST /v1/records/{id}/erase` (office): erases personal data from a record and its
//!   history (see `fieldledger_core::doc::erase`); devices replace their copies on next sync.
//! - `POST /v1/device/lost` (a *revoked* device's token only): the records it never synced,
//!   sent just before it erases its store. One report per device (a new one replaces it), at
//!   most [`crate::accounts::MAX_LOST_RECORDS_PER_REPORT`] rows and [`MAX_LOST_REPORT_BYTES`], and a few
//!   reports per device ([`crate::app::AppConfig::lost_report_rate`]).
//! - `GET /v1/lost-records?limit=&before=` (office): those reports, newest first, in pages.
//! - `GET /v1/audit?limit=&action=&before=` (office): the audit log, newest first, in pages.
//!
//! Pages hold at most [`MAX_PAGE`] entries; each entry has an `id`, and a full page answers
//! with a `Link: <…&before=ID>; rel="next"` header for the next (older) page.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use fieldledger_core::store::{ErasureOutcome, ErasureRequest, Identity};
use fieldledger_core::sync::{LossReport, RelayEvent};
use serde::{Deserialize, Serialize};
use tower_http::limit::RequestBodyLimitLayer;

use crate::accounts::{AuditEntry, MAX_PAGE, Principal, mask_terms};
use crate::app::{AppState, JsonBody};
use crate::auth::bearer_token;
use crate::error::{RelayError, Result};
use crate::records::{RecordStorage, peer_for};

/// Largest body of a loss report: room for [`MAX_LOST_RECORDS_PER_REPORT`] rows with long
/// titles, far below the relay's general body limit.
pub const MAX_LOST_REPORT_BYTES: usize = 2 * 1024 * 1024;

/// Entries of a page when the request names no `limit`.
const DEFAULT_PAGE: usize = 500;

/// Refused pushes of one sync request listed (id, number, code) in its `sync.refused` line.
pub const REFUSALS_LISTED: usize = 10;

/// Longest refusal message (characters) copied into the audit log.
const REFUSAL_MESSAGE_CHARS: usize = 200;

fn require_office(principal: &Principal, what: &str) -> Result<()> {
    if principal.is_office() {
        Ok(())
    } else {
        Err(RelayError::Forbidden(format!(
            "only the bureau office {what}"
        )))
    }
}

/// The identity the relay writes as on behalf of a signed-in office user or device.
pub fn identity_of(principal: &Principal) -> Identity {
    Identity {
        author: peer_for(principal).author,
        device_code: principal.device_code.clone(),
        relay_url: None,
        token: None,
        relay_ca_pem: None,
    }
}

/// Writes the audit lines of a sync round: one line per sign-off, reopening and unit move,
/// and all refusals of the round in a single `sync.refused` line (see [`refusals_detail`]),
/// so that a flood of bad pushes cannot flood the log. One transaction.
pub async fn log_events(state: &AppState, principal: &Principal, events: Vec<RelayEvent>) {
    if events.is_empty() {
        return;
    }
    let login = principal.user_login.clone();
    let device = principal.device_code.clone();
    let (refused, others): (Vec<_>, Vec<_>) =
        events.into_iter().partition(|e| e.action == "sync.refused");
    let result = state
        .with_accounts(move |accounts| {
            let tx = accounts.conn_mut().transaction()?;
            for e in &others {
                crate::accounts::audit_in(
                    &tx,
                    &login,
                    &e.action,
                    &format!(
                        "{} ({}) from device {device}: {}",
                        e.number, e.record_id, e.detail
                    ),
                )?;
            }
            if !refused.is_empty() {
                crate::accounts::audit_in(
                    &tx,
                    &login,
                    "sync.refused",
                    &refusals_detail(&device, &refused),
                )?;
            }
            tx.commit()?;
            Ok(())
        })
        .await;
    if let Err(err) = result {
        tracing::error!(%err, "cannot write the audit log");
    }
}

/// The `sync.refused` line of one sync request: how many pushes were refused, how many per
/// refusal code, and the first [`REFUSALS_LISTED`] (number, id, code, message cut to 200
/// characters).
pub fn refusals_detail(device: &str, refused: &[RelayEvent]) -> String {
    let code_of = |e: &RelayEvent| -> String {
        e.detail
            .split_once(':')
            .map_or(e.detail.as_str(), |(code, _)| code)
            .trim()
            .to_owned()
    };
    let mut codes: Vec<(String, usize)> = Vec::new();
    for e in refused {
        let code = code_of(e);
        match codes.iter_mut().find(|(c, _)| *c == code) {
            Some((_, n)) => *n += 1,
            None => codes.push((code, 1)),
        }
    }
    let codes = codes
        .iter()
        .map(|(c, n)| format!("{c} ×{n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let listed = refused
        .iter()
        .take(REFUSALS_LISTED)
        .map(|e| {
            let message: String = e.detail.chars().take(REFUSAL_MESSAGE_CHARS).collect();
            format!("{} ({}): {message}", e.number, e.record_id)
        })
        .collect::<Vec<_>>()
        .join("; ");
    let more = refused.len().saturating_sub(REFUSALS_LISTED);
    format!(
        "from device {device}: {} change(s) refused ({codes}): {listed}{}",
        refused.len(),
        if more > 0 {
            format!("; and {more} more")
        } else {
            String::new()
        }
    )
}

/// The audit detail of an erasure (shared by the relay and the admin command line).
pub fn erase_detail(outcome: &ErasureOutcome, reason: &str) -> String {
    format!(
        "{} ({}): erased {}; {} masked occurrence(s); now generation {}; reason: {reason}",
        outcome.number,
        outcome.id,
        if outcome.fields.is_empty() {
            "no fields".to_owned()
        } else {
            outcome.fields.join(", ")
        },
        outcome.masked,
        outcome.generation,
    )
}

/// The audit detail of a ledger export: format, units (`None`: all) and where from.
pub fn ledger_export_detail(format: Option<&str>, units: Option<&[String]>, from: &str) -> String {
    format!(
        "ledger {} of {} {from}",
        format.unwrap_or("csv"),
        units.map_or("all units".to_owned(), |u| u.join(", "))
    )
}

/// Erases personal data from a record as `author` and logs it: shared by the HTTP endpoint
/// and the dashboard. The erased values and masked strings are also masked in the record's
/// lost-record reports and in the audit lines about it, and the database file is rebuilt so
/// that no copy stays (see [`crate::accounts::AccountStore::erase_mentions`]).
pub async fn erase(
    state: &AppState,
    author: Identity,
    id: String,
    request: ErasureRequest,
) -> Result<ErasureOutcome> {
    let login = author.author.user.clone();
    let reason = request.reason.clone();
    let (outcome, terms) = state
        .with_records(move |records| {
            Ok(records.store().act_as(author, |s| {
                let terms = s.erasure_terms(&id, &request)?;
                Ok((s.erase_personal_data(&id, &request)?, terms))
            })?)
        })
        .await?;
    let detail = erase_detail(&outcome, &mask_terms(&reason, &terms));
    let (record, number) = (outcome.id.clone(), outcome.number.clone());
    let cleared = state
        .with_accounts(move |accounts| {
            accounts.erase_mentions(&login, &record, &number, &terms, &detail)
        })
        .await?;
    tracing::info!(
        record = %outcome.id,
        generation = outcome.generation,
        lost_records = cleared.lost_records,
        audit_lines = cleared.audit_lines,
        log_emptied = cleared.log_emptied,
        "personal data erased"
    );
    Ok(outcome)
}

async fn erase_endpoint(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    JsonBody(request): JsonBody<ErasureRequest>,
) -> Result<Json<ErasureOutcome>> {
    require_office(&principal, "erases personal data")?;
    Ok(Json(
        erase(&state, identity_of(&principal), id, request).await?,
    ))
}

/// Answer of `POST /v1/device/lost`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LostAnswer {
    /// Records recorded as lost: the device's report now (it replaced any earlier one).
    pub recorded: usize,
    /// Rows of the report not kept (over the cap, repeated, or without a usable record id).
    #[serde(default)]
    pub dropped: usize,
    /// The device should now erase its store.
    pub erase: bool,
}

/// `POST /v1/device/lost`. The token is checked and the device's report budget taken before
/// the body is even parsed, so a flood costs a hash lookup per request.
async fn report_lost(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<LostAnswer>> {
    let token = bearer_token(&headers)
        .ok_or(RelayError::Unauthorized)?
        .to_owned();
    let device = state
        .with_accounts(move |accounts| accounts.revoked_principal_for_token(&token))
        .await?;
    if !state.allow_lost_report(&device.device_id) {
        return Err(RelayError::RateLimited);
    }
    let report: LossReport = serde_json::from_slice(&body)
        .map_err(|e| RelayError::BadRequest(format!("not a loss report: {e}")))?;
    let outcome = state
        .with_accounts(move |accounts| accounts.record_lost(&device, &report.records))
        .await?;
    Ok(Json(LostAnswer {
        recorded: outcome.recorded,
        dropped: outcome.dropped,
        erase: true,
    }))
}

/// Query of the paged lists: `GET /v1/lost-records` and `GET /v1/audit`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PageQuery {
    /// Most entries (default 500, at most [`MAX_PAGE`]).
    #[serde(default)]
    pub limit: Option<usize>,
    /// Only entries older than this `id` (the last `id` of the previous page).
    #[serde(default)]
    pub before: Option<i64>,
    /// Audit log only: actions starting with this (`record.`, `export.`, `device.`…).
    #[serde(default)]
    pub action: Option<String>,
}

impl PageQuery {
    fn limit(&self) -> usize {
        self.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE)
    }
}

/// A page as JSON, with a `Link` to the next (older) page when this one is full.
fn paged<T: Serialize>(
    path: &str,
    q: &PageQuery,
    rows: Vec<T>,
    last_id: Option<i64>,
) -> Result<Response> {
    let mut response = Json(rows).into_response();
    if let Some(last) = last_id {
        let mut next = vec![
            ("limit", q.limit().to_string()),
            ("before", last.to_string()),
        ];
        if let Some(action) = &q.action {
            next.push(("action", action.clone()));
        }
        let query = serde_urlencoded::to_string(&next)
            .map_err(|e| RelayError::Internal(format!("encoding a page link: {e}")))?;
        if let Ok(value) = HeaderValue::from_str(&format!("<{path}?{query}>; rel=\"next\"")) {
            response.headers_mut().insert(header::LINK, value);
        }
    }
    Ok(response)
}

async fn lost_records(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<PageQuery>,
) -> Result<Response> {
    require_office(&principal, "reads lost-record reports")?;
    let (limit, before) = (q.limit(), q.before);
    let rows = state
        .with_accounts(move |accounts| accounts.lost_records_page(before, limit))
        .await?;
    let last = (rows.len() == limit)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    paged("/v1/lost-records", &q, rows, last)
}

async fn audit(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<PageQuery>,
) -> Result<Response> {
    require_office(&principal, "reads the audit log")?;
    let (limit, before, action) = (q.limit(), q.before, q.action.clone());
    let rows: Vec<AuditEntry> = state
        .with_accounts(move |accounts| accounts.audit_page(action.as_deref(), before, limit))
        .await?;
    let last = (rows.len() == limit)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    paged("/v1/audit", &q, rows, last)
}

/// Logs an export of records that may hold personal data.
pub async fn log_export(state: &AppState, login: &str, action: &str, detail: String) {
    let login = login.to_owned();
    let action = action.to_owned();
    if let Err(err) = state
        .with_accounts(move |accounts| accounts.log(&login, &action, &detail))
        .await
    {
        tracing::error!(%err, "cannot write the audit log");
    }
}

/// Routes of data protection.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/records/{id}/erase", post(erase_endpoint))
        .route(
            fieldledger_core::wire::LOSS_REPORT_PATH,
            post(report_lost).layer(RequestBodyLimitLayer::new(MAX_LOST_REPORT_BYTES)),
        )
        .route("/v1/lost-records", get(lost_records))
        .route("/v1/audit", get(audit))
}
