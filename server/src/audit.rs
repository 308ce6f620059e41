//! What the relay writes to its audit log about records: the lines of a sync round
//! (sign-offs, reopenings, unit moves, one aggregated `sync.refused` line), erasures and
//! exports, shared by the API, the dashboard and the admin command line.

use fieldledger_core::store::ErasureOutcome;
use fieldledger_core::sync::RelayEvent;

use crate::accounts::Principal;
use crate::state::AppState;

/// Refused pushes of one sync request listed (id, number, code) in its `sync.refused` line.
pub const REFUSALS_LISTED: usize = 10;

/// Longest refusal message (characters) copied into the audit log.
const REFUSAL_MESSAGE_CHARS: usize = 200;

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
            let mut lines: Vec<(String, String)> = others
                .iter()
                .map(|e| {
                    let detail = format!(
                        "{} ({}) from device {device}: {}",
                        e.number, e.record_id, e.detail
                    );
                    (e.action.clone(), detail)
                })
                .collect();
            if !refused.is_empty() {
                lines.push(("sync.refused".into(), refusals_detail(&device, &refused)));
            }
            accounts.log_lines(&login, &lines)
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
