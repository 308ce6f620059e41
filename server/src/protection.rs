//! Data protection on the relay: personal-data erasure, lost-record reports from revoked
//! devices, and the audit log, all for the bureau office.
//!
//! - `POST /v1/records/{id}/erase` (office): erases personal data from a record and its
//!   history (see `fieldledger_core::doc::erase`); devices replace their copies on next sync.
//! - `POST /v1/device/lost` (a *revoked* device's token only): the records it never synced,
//!   sent just before it erases its store. One report per device (a new one replaces it), at
//!   most [`crate::accounts::MAX_LOST_RECORDS_PER_REPORT`] rows and [`MAX_LOST_REPORT_BYTES`], and a few
//!   reports per device ([`crate::state::AppConfig::lost_report_rate`]).
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
use fieldledger_core::access;
use fieldledger_core::store::{ErasureOutcome, ErasureRequest, Identity};
use fieldledger_core::sync::LossReport;
use serde::{Deserialize, Serialize};
use tower_http::limit::RequestBodyLimitLayer;

use crate::accounts::{AuditEntry, MAX_PAGE, Principal, mask_terms};
use crate::audit::erase_detail;
use crate::auth::bearer_token;
use crate::error::{RelayError, Result};
use crate::records::{RecordWrite, Written, peer_for};
use crate::state::{AppState, JsonBody};

/// Largest body of a loss report: room for [`MAX_LOST_RECORDS_PER_REPORT`] rows with long
/// titles, far below the relay's general body limit.
pub const MAX_LOST_REPORT_BYTES: usize = 2 * 1024 * 1024;

/// Entries of a page when the request names no `limit`.
const DEFAULT_PAGE: usize = 500;

/// Refuses a request unless `allowed` (an access rule of the bureau office).
fn require_office(allowed: bool, what: &str) -> Result<()> {
    if allowed {
        Ok(())
    } else {
        Err(RelayError::Forbidden(format!(
            "only the bureau office {what}"
        )))
    }
}

/// Refuses anyone but the bureau office's administrators, saying what they tried.
fn require_administrator(principal: &Principal, what: &str) -> Result<()> {
    require_office(access::may_administer(principal.role), what)
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
    let Written::Erased { outcome, terms } = state
        .write_records(author, RecordWrite::Erase { id, request })
        .await??
    else {
        return Err(RelayError::Internal("an erasure wrote no erasure".into()));
    };
    let detail = erase_detail(&outcome, &mask_terms(&reason, &terms));
    let (record, number) = (outcome.id.clone(), outcome.number.clone());
    let cleared = state
        .with_accounts(move |accounts| {
            accounts.erase_mentions(&login, &record, &number, &terms, &detail)
        })
        .await?;
    // On PostgreSQL the write log still holds the erased values: it is compacted into a
    // snapshot of the erased state.
    let compacted = state.compact_log().await?;
    tracing::info!(
        record = %outcome.id,
        generation = outcome.generation,
        log_compacted = compacted.is_some(),
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
    require_office(
        access::may_erase_personal_data(principal.role),
        "erases personal data",
    )?;
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
        .read_accounts(move |accounts| accounts.revoked_principal_for_token(&token))
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
    require_administrator(&principal, "reads lost-record reports")?;
    let (limit, before) = (q.limit(), q.before);
    let rows = state
        .read_accounts(move |accounts| accounts.lost_records_page(before, limit))
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
    require_administrator(&principal, "reads the audit log")?;
    let (limit, before, action) = (q.limit(), q.before, q.action.clone());
    let rows: Vec<AuditEntry> = state
        .read_accounts(move |accounts| accounts.audit_page(action.as_deref(), before, limit))
        .await?;
    let last = (rows.len() == limit)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    paged("/v1/audit", &q, rows, last)
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
