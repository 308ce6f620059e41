//! The audit log and the lost-record reports of revoked devices, for the bureau office.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use fieldledger_core::access;
use serde::Deserialize;

use super::error::WebError;
use super::layout;
use super::layout::{Layout, local_time_rfc3339, render};
use super::viewer::Viewer;
use crate::accounts::LostRecordEntry;
use crate::state::AppState;

/// Action filters offered on the page: prefix and label.
const ACTIONS: [(&str, &str); 9] = [
    ("", "全部"),
    ("record.", "记录（销号、移交、删除个人信息）"),
    ("record.erase", "删除个人信息"),
    ("sync.refused", "拒收的修改"),
    ("export.", "导出"),
    ("device.", "设备（登记、吊销、丢失报告）"),
    ("user.", "人员"),
    ("web.", "看板登录"),
    ("enroll.", "设备注册失败（注册码错误、锁定）"),
];

struct Row {
    at: String,
    actor: String,
    action: String,
    detail: String,
}

/// Audit entries on one page of the dashboard.
pub(crate) const AUDIT_PAGE: usize = 100;

/// Lost-record rows on one page of the dashboard.
pub(crate) const LOST_PAGE: usize = 50;

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    layout: Layout,
    /// Filter options: prefix, label, whether selected.
    actions: Vec<(&'static str, &'static str, bool)>,
    entries: Vec<Row>,
    lost: Vec<LostRecordEntry>,
    /// Link to the next (older) page of audit entries, if there is one.
    older: Option<String>,
    /// Link to the next (older) page of lost records, if there is one.
    older_lost: Option<String>,
    /// Link back to the newest entries, when this is not the first page.
    newest: Option<String>,
}

/// Query of the page.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct AuditForm {
    #[serde(default)]
    action: Option<String>,
    /// Audit entries older than this id.
    #[serde(default)]
    before: Option<i64>,
    /// Lost records older than this id.
    #[serde(default)]
    lost_before: Option<i64>,
}

/// A link to the audit page with these parameters.
fn link(action: &str, before: Option<i64>, lost_before: Option<i64>) -> String {
    let mut query: Vec<(&str, String)> = Vec::new();
    if !action.is_empty() {
        query.push(("action", action.to_owned()));
    }
    if let Some(b) = before {
        query.push(("before", b.to_string()));
    }
    if let Some(b) = lost_before {
        query.push(("lost_before", b.to_string()));
    }
    let query = serde_urlencoded::to_string(&query).unwrap_or_default();
    if query.is_empty() {
        "/ui/audit".to_owned()
    } else {
        format!("/ui/audit?{query}")
    }
}

/// `GET /ui/audit`: the audit log (optionally of one kind) and the lost-record reports, each
/// newest first in pages of [`AUDIT_PAGE`] and [`LOST_PAGE`]; office only.
pub(crate) async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(form): Query<AuditForm>,
) -> Result<Response, WebError> {
    if !access::may_administer(viewer.role) {
        return Err(WebError::Forbidden(
            "只有领导小组办公室可以查看审计日志。".into(),
        ));
    }
    let action = form.action.unwrap_or_default();
    let prefix = ACTIONS
        .iter()
        .find(|(code, _)| *code == action)
        .map_or("", |(code, _)| *code)
        .to_owned();
    let filter = prefix.clone();
    let (before, lost_before) = (form.before, form.lost_before);

    let (log, mut lost) = state
        .read_accounts(move |a| {
            Ok((
                a.audit_page(Some(&filter), before, AUDIT_PAGE)?,
                a.lost_records_page(lost_before, LOST_PAGE)?,
            ))
        })
        .await?;
    let older = (log.len() == AUDIT_PAGE)
        .then(|| log.last().map(|e| link(&prefix, Some(e.id), lost_before)))
        .flatten();
    let older_lost = (lost.len() == LOST_PAGE)
        .then(|| lost.last().map(|r| link(&prefix, before, Some(r.id))))
        .flatten();
    let newest = (before.is_some() || lost_before.is_some()).then(|| link(&prefix, None, None));
    let campaign = layout::campaign_now(&state).await?;
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
        older,
        older_lost,
        newest,
    })
}
