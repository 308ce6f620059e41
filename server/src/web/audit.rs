//! The audit log and the lost-record reports of revoked devices, for the bureau office.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use fieldledger_core::report::Campaign;
use serde::Deserialize;

use super::error::WebError;
use super::layout::{Layout, local_time_rfc3339, render};
use super::session::Viewer;
use crate::accounts::LostRecordEntry;
use crate::app::AppState;

/// Action filters offered on the page: prefix and label.
const ACTIONS: [(&str, &str); 8] = [
    ("", "全部"),
    ("record.", "记录（销号、移交、删除个人信息）"),
    ("record.erase", "删除个人信息"),
    ("sync.refused", "拒收的修改"),
    ("export.", "导出"),
    ("device.", "设备（登记、吊销、丢失报告）"),
    ("user.", "人员"),
    ("web.", "看板登录"),
];

struct Row {
    at: String,
    actor: String,
    action: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    layout: Layout,
    /// Filter options: prefix, label, whether selected.
    actions: Vec<(&'static str, &'static str, bool)>,
    entries: Vec<Row>,
    lost: Vec<LostRecordEntry>,
}

/// Query of the page.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct AuditForm {
    #[serde(default)]
    action: Option<String>,
}

/// `GET /ui/audit`: the newest 500 audit entries (optionally of one kind) and every
/// lost-record report; office only.
pub(crate) async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(form): Query<AuditForm>,
) -> Result<Response, WebError> {
    if !viewer.is_office() {
        return Err(WebError::Forbidden(
            "only the bureau office reads the audit log".into(),
        ));
    }
    let action = form.action.unwrap_or_default();
    let prefix = ACTIONS
        .iter()
        .find(|(code, _)| *code == action)
        .map_or("", |(code, _)| *code)
        .to_owned();
    let filter = prefix.clone();

    let (log, mut lost) = state
        .with_accounts(move |a| Ok((a.audit_log_filtered(500, Some(&filter))?, a.lost_records()?)))
        .await?;
    let campaign = Campaign::default();
    for r in &mut lost {
        r.reported_at = local_time_rfc3339(&campaign, &r.reported_at);
    }
    render(&AuditPage {
        layout: Layout::new(&viewer, "审计日志", "audit"),
        actions: ACTIONS
            .iter()
            .map(|(code, label)| (*code, *label, *code == prefix))
            .collect(),
        entries: log
            .into_iter()
            .map(|e| Row {
                at: local_time_rfc3339(&campaign, &e.at),
                actor: e.actor_login,
                action: e.action,
                detail: e.detail,
            })
            .collect(),
        lost,
    })
}
