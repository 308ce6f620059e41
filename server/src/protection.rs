//! Data protection on the relay: personal-data erasure, lost-record reports from revoked
//! devices, and the audit log, all for the bureau office.
//!
//! - `POST /v1/records/{id}/erase` (office): erases personal data from a record and its
//!   history (see `fieldledger_core::doc::erase`); devices replace their copies on next sync.
//! - `POST /v1/device/lost` (a *revoked* device's token only): the records it never synced,
//!   sent just before it erases its store.
//! - `GET /v1/lost-records` (office): those reports.
//! - `GET /v1/audit?limit=&action=` (office): the audit log, newest first.

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use fieldledger_core::store::{ErasureOutcome, ErasureRequest, Identity};
use fieldledger_core::sync::{LossReport, RelayEvent};
use serde::{Deserialize, Serialize};

use crate::accounts::{AuditEntry, LostRecordEntry, Principal, mask_terms};
use crate::app::{AppState, JsonBody};
use crate::auth::bearer_token;
use crate::error::{RelayError, Result};
use crate::records::{RecordStorage, peer_for};

/// Most audit entries one request returns.
const MAX_AUDIT_ENTRIES: usize = 10_000;

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
    }
}

/// Writes the audit lines of a sync round (sign-offs, reopenings, unit moves, refusals).
pub async fn log_events(state: &AppState, principal: &Principal, events: Vec<RelayEvent>) {
    if events.is_empty() {
        return;
    }
    let login = principal.user_login.clone();
    let device = principal.device_code.clone();
    let result = state
        .with_accounts(move |accounts| {
            for e in &events {
                accounts.log(
                    &login,
                    &e.action,
                    &format!(
                        "{} ({}) from device {device}: {}",
                        e.number, e.record_id, e.detail
                    ),
                )?;
            }
            Ok(())
        })
        .await;
    if let Err(err) = result {
        tracing::error!(%err, "cannot write the audit log");
    }
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
    /// Records newly recorded as lost.
    pub recorded: usize,
    /// The device should now erase its store.
    pub erase: bool,
}

async fn report_lost(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(report): JsonBody<LossReport>,
) -> Result<Json<LostAnswer>> {
    let token = bearer_token(&headers)
        .ok_or(RelayError::Unauthorized)?
        .to_owned();
    if report.records.len() > 100_000 {
        return Err(RelayError::BadRequest(
            "too many records in one report".into(),
        ));
    }
    if let Some(r) = report
        .records
        .iter()
        .find(|r| r.id.is_empty() || r.id.len() > 100 || r.title.len() > 2_000)
    {
        return Err(RelayError::BadRequest(format!(
            "record `{}` is not a valid lost record",
            r.id
        )));
    }
    let recorded = state
        .with_accounts(move |accounts| {
            let device = accounts.revoked_principal_for_token(&token)?;
            accounts.record_lost(&device, &report.records)
        })
        .await?;
    Ok(Json(LostAnswer {
        recorded,
        erase: true,
    }))
}

async fn lost_records(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<Vec<LostRecordEntry>>> {
    require_office(&principal, "reads lost-record reports")?;
    Ok(Json(
        state
            .with_accounts(|accounts| accounts.lost_records())
            .await?,
    ))
}

/// Query of `GET /v1/audit`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuditQuery {
    /// Most entries (default 500, at most 10,000).
    #[serde(default)]
    pub limit: Option<usize>,
    /// Only actions starting with this (`record.`, `export.`, `device.`…).
    #[serde(default)]
    pub action: Option<String>,
}

async fn audit(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Vec<AuditEntry>>> {
    require_office(&principal, "reads the audit log")?;
    let limit = q.limit.unwrap_or(500).min(MAX_AUDIT_ENTRIES);
    Ok(Json(
        state
            .with_accounts(move |accounts| accounts.audit_log_filtered(limit, q.action.as_deref()))
            .await?,
    ))
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
        .route("/v1/device/lost", post(report_lost))
        .route("/v1/lost-records", get(lost_records))
        .route("/v1/audit", get(audit))
}
