//! 活动日程: the campaigns whose calendars reports and supervision measure against. Everyone
//! signed in reads them; the office sets one (a new campaign, or a changed one found by its
//! name) with the same `Store::set_campaign` the admin command line uses. Each campaign's
//! record page keeps its history.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use fieldledger_core::access;
use fieldledger_core::model::campaign::{CampaignPlan, PlanRound};
use fieldledger_core::model::field::parse_date;
use fieldledger_core::report::{Calendar, Campaign};
use serde::Deserialize;

use super::error::{WebError, core_message};
use super::layout::{Layout, render};
use super::viewer::Viewer;
use crate::error::RelayError;
use crate::records::{RecordWrite, Written};
use crate::state::AppState;

/// One campaign as the page lists it.
struct CampaignRow {
    id: String,
    name: String,
    start: String,
    end: String,
    time_zone: String,
    monthly_due_day: u32,
    screening: &'static str,
    rounds: String,
    under_way: bool,
}

#[derive(Template)]
#[template(path = "campaigns.html")]
struct CampaignsPage {
    layout: Layout,
    rows: Vec<CampaignRow>,
    in_force: String,
    may_set: bool,
    form: CampaignForm,
    notice: Option<&'static str>,
    error: Option<String>,
}

/// The office's campaign form: one line per visit round, `编号,名称,完成日期`.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct CampaignForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    start: String,
    #[serde(default)]
    end: String,
    #[serde(default)]
    time_zone: String,
    #[serde(default)]
    monthly_due_day: String,
    #[serde(default)]
    rounds: String,
}

/// Query of the page: the notice after a change.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct CampaignsQuery {
    #[serde(default)]
    done: Option<String>,
}

fn row(c: &Campaign, today: chrono::NaiveDate) -> CampaignRow {
    CampaignRow {
        id: c.id.clone().unwrap_or_default(),
        name: c.name.clone(),
        start: c.start.to_string(),
        end: c.end.to_string(),
        time_zone: c.time_zone.name().to_owned(),
        monthly_due_day: c.monthly_due_day,
        screening: c.screening.label(),
        rounds: c
            .rounds
            .iter()
            .map(|r| format!("{}（{}）至 {}", r.label, r.code, r.ends_on))
            .collect::<Vec<_>>()
            .join("；"),
        under_way: c.contains(today),
    }
}

impl CampaignForm {
    /// The plan the form describes, or what is wrong with it (in Chinese).
    fn plan(&self) -> Result<CampaignPlan, String> {
        let date = |label: &str, s: &str| {
            parse_date(label, s).map_err(|_| format!("{label}：不是有效的日期（YYYY-MM-DD）。"))
        };
        if self.name.trim().is_empty() {
            return Err("活动名称：必须填写。".into());
        }
        let monthly_due_day = match self.monthly_due_day.trim() {
            "" => None,
            d => Some(
                d.parse()
                    .map_err(|_| "月报报送日：应为 1 到 28 之间的日期。".to_owned())?,
            ),
        };
        let mut rounds = Vec::new();
        for line in self.rounds.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let parts: Vec<&str> = line.split([',', '，']).map(str::trim).collect();
            let [code, label, ends_on] = parts[..] else {
                return Err(
                    "走访轮次：每行填写“编号,名称,完成日期”，如 1,第一轮,2026-10-31。".into(),
                );
            };
            rounds.push(PlanRound {
                code: code.to_owned(),
                label: label.to_owned(),
                ends_on: date("完成日期", ends_on)?,
            });
        }
        Ok(CampaignPlan {
            name: self.name.trim().to_owned(),
            start: date("开始日期", &self.start)?,
            end: date("结束日期", &self.end)?,
            time_zone: Some(self.time_zone.trim().to_owned()).filter(|t| !t.is_empty()),
            monthly_due_day,
            screening: None,
            rounds,
        })
    }
}

async fn page_with(
    state: &AppState,
    viewer: Viewer,
    form: CampaignForm,
    notice: Option<&'static str>,
    error: Option<String>,
) -> Result<Response, WebError> {
    let (calendar, today) = state
        .with_record_reader(|store| {
            let calendar = Calendar::load(store, None)?;
            let now = store.now_ms();
            let today = calendar.today(now);
            Ok((calendar, today))
        })
        .await?;
    let in_force = calendar.in_force(today);
    let page = CampaignsPage {
        layout: Layout::new(&viewer, "活动日程", "campaigns"),
        rows: calendar.campaigns().iter().map(|c| row(c, today)).collect(),
        in_force: if in_force.is_set() {
            format!(
                "{}（{} 至 {}）",
                in_force.name, in_force.start, in_force.end
            )
        } else {
            format!(
                "尚未设置活动：报表按方案默认日程（{} 至 {}）计算。",
                in_force.start, in_force.end
            )
        },
        may_set: access::may_set_campaign(&viewer.identity().author),
        form,
        notice,
        error: error.clone(),
    };
    let mut response = render(&page)?;
    if error.is_some() {
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    Ok(response)
}

/// `GET /ui/campaigns`.
pub(crate) async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<CampaignsQuery>,
) -> Result<Response, WebError> {
    let notice = match q.done.as_deref() {
        Some("created") => Some("已新建活动，各设备下次同步时收到。"),
        Some("changed") => Some("已修改活动，修改记入该活动的历史。"),
        Some("unchanged") => Some("内容与现有活动相同，未作修改。"),
        _ => None,
    };
    page_with(&state, viewer, CampaignForm::default(), notice, None).await
}

/// `POST /ui/campaigns`: the office creates or changes a campaign.
pub(crate) async fn set(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(form): Form<CampaignForm>,
) -> Result<Response, WebError> {
    viewer.check_csrf(&form.csrf)?;
    if !access::may_set_campaign(&viewer.identity().author) {
        return Err(WebError::Forbidden(
            "只有领导小组办公室可以设置活动日程。".into(),
        ));
    }
    let plan = match form.plan() {
        Ok(p) => p,
        Err(e) => return page_with(&state, viewer, form, None, Some(e)).await,
    };
    let outcome = state
        .write_records(viewer.identity().clone(), RecordWrite::SetCampaign(plan))
        .await?;
    match outcome {
        Ok(Written::Campaign(set)) => {
            let done = match (set.created, set.changed) {
                (true, _) => "created",
                (false, true) => "changed",
                (false, false) => "unchanged",
            };
            Ok(Redirect::to(&format!("/ui/campaigns?done={done}")).into_response())
        }
        Ok(_) => Err(WebError::from(RelayError::Internal(
            "setting the campaign wrote no campaign".into(),
        ))),
        Err(e) => page_with(&state, viewer, form, None, Some(core_message(&e))).await,
    }
}
