//! The monthly report (月报): a unit's report, or for the office the bureau's view of who
//! reported on time; with visit coverage per round as a chart, and downloads.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use fieldledger_core::access;
use fieldledger_core::model::Record;
use fieldledger_core::model::monthly;
use fieldledger_core::report::monthly::{
    MonthlyQuery, Submission, SubmissionStatus, bureau_monthly, unit_monthly,
};
use fieldledger_core::report::render::{Block, Document};
use fieldledger_core::report::{Month, for_report, local_today};
use serde::{Deserialize, Serialize};

use super::charts::{Coverage, coverage_chart};
use super::error::{WebError, core_message};
use super::layout::{self, Layout, Opt, attachment, field_units, render, unit_label};
use super::ledger::date;
use super::record::users_to_fix;
use super::viewer::Viewer;
use crate::records::RecordWrite;
use crate::reports::{MonthlyParams, narrow, render_monthly};
use crate::state::AppState;

/// Query of the monthly page and its downloads.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
pub(crate) struct MonthlyForm {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    month: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    unit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    as_of: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    format: Option<String>,
    /// Which notice to show after the report's texts were saved or submitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    done: Option<String>,
}

fn blank(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

impl MonthlyForm {
    fn clean(self) -> MonthlyForm {
        MonthlyForm {
            month: blank(self.month),
            unit: blank(self.unit).map(|u| u.to_ascii_uppercase()),
            as_of: blank(self.as_of),
            format: blank(self.format),
            done: blank(self.done),
        }
    }

    /// The unit the report is of: the one asked for, else a unit head's own; none is the
    /// office's bureau view.
    fn unit(&self, viewer: &Viewer) -> Result<Option<String>, WebError> {
        narrow(viewer.allowed_units(), self.unit.as_deref())?;
        Ok(match (&self.unit, viewer.sees_every_unit()) {
            (Some(u), _) => Some(u.clone()),
            (None, false) => Some(viewer.unit.clone()),
            (None, true) => None,
        })
    }

    fn link(&self, month: &str, format: &str) -> String {
        let mut f = self.clone();
        f.month = Some(month.to_owned());
        f.format = Some(format.to_owned());
        f.done = None;
        format!(
            "/ui/monthly/download?{}",
            serde_urlencoded::to_string(&f).unwrap_or_default()
        )
    }
}

struct BlockView {
    kind: &'static str,
    level: u8,
    text: String,
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

fn blocks(doc: Document) -> Vec<BlockView> {
    doc.blocks
        .into_iter()
        .map(|b| match b {
            Block::Heading { level, text } => BlockView {
                kind: "heading",
                level,
                text,
                headers: Vec::new(),
                rows: Vec::new(),
            },
            Block::Paragraph { text } => BlockView {
                kind: "paragraph",
                level: 0,
                text,
                headers: Vec::new(),
                rows: Vec::new(),
            },
            Block::Table { headers, rows } => BlockView {
                kind: "table",
                level: 0,
                text: String::new(),
                headers,
                rows,
            },
            Block::Text { text } => BlockView {
                kind: "text",
                level: 0,
                text: if text.trim().is_empty() {
                    "无".into()
                } else {
                    text
                },
                headers: Vec::new(),
                rows: Vec::new(),
            },
        })
        .collect()
}

#[derive(Template)]
#[template(path = "monthly.html")]
struct MonthlyPage {
    layout: Layout,
    title: String,
    month: String,
    as_of: String,
    unit_options: Vec<Opt>,
    blocks: Vec<BlockView>,
    chart: String,
    md_link: String,
    html_link: String,
    xlsx_link: String,
    /// A unit's report of the month: its submission and the form for its texts.
    writing: Option<Writing>,
    notice: Option<&'static str>,
    error: Option<String>,
}

/// The texts of a unit's monthly report and its submission (报送), as the monthly page shows
/// and edits them.
struct Writing {
    unit: String,
    month: String,
    /// 按时报送, 逾期未报…
    status: &'static str,
    /// When and by whom it was submitted.
    submitted: Option<String>,
    may_submit: bool,
    experience_label: &'static str,
    problems_label: &'static str,
    experience: String,
    problems: String,
}

/// What a refused submission leaves to show again: the reason and the texts typed.
struct Typed {
    error: String,
    experience: String,
    problems: String,
}

fn field_label(key: &str) -> &'static str {
    monthly::FIELDS
        .iter()
        .find(|f| f.key == key)
        .map_or("", |f| f.label)
}

fn writing(viewer: &Viewer, month: &str, s: &Submission, texts: (String, String)) -> Writing {
    Writing {
        unit: s.unit.clone(),
        month: month.to_owned(),
        status: s.status.label(),
        submitted: s.submitted_on.map(|d| match &s.submitted_by {
            Some(by) => format!("{d} 由 {by} 报送"),
            None => format!("{d} 报送"),
        }),
        may_submit: access::may_submit_monthly(&viewer.identity().author, &s.unit),
        experience_label: field_label("experience"),
        problems_label: field_label("problems"),
        experience: texts.0,
        problems: texts.1,
    }
}

/// `GET /ui/monthly?month=YYYY-MM&unit=&as_of=`.
pub(crate) async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(form): Query<MonthlyForm>,
) -> Result<Response, WebError> {
    build(&state, &viewer, form.clean(), None).await
}

async fn build(
    state: &AppState,
    viewer: &Viewer,
    form: MonthlyForm,
    typed: Option<Typed>,
) -> Result<Response, WebError> {
    let notice = match form.done.as_deref() {
        Some("saved") => Some("月报内容已保存（尚未报送的仍为草稿）。"),
        Some("submitted") => Some("月报已报送。"),
        _ => None,
    };
    let unit = form.unit(viewer)?;
    let units = layout::units(state).await?;
    if let Some(u) = &unit {
        layout::scope(viewer, &units, Some(u))?;
    }
    let as_of_day = date("截至", &form.as_of)?;
    if let Some(m) = &form.month {
        Month::parse(m).map_err(|_| WebError::BadRequest(format!("月份：“{m}”不是 YYYY-MM")))?;
    }
    let asked_month = form.month.clone();
    let for_unit = unit.clone();
    let all_units = field_units(&units);
    let (month, doc, coverage, submission) = state
        .with_record_reader(move |store| {
            let (campaign, as_of) = for_report(store, as_of_day)?;
            let month = asked_month.unwrap_or_else(|| {
                Month::of(campaign.local_date(as_of.unwrap_or_else(|| store.now_ms()))).to_string()
            });
            let one = |unit: &str| {
                unit_monthly(
                    store,
                    &MonthlyQuery {
                        unit: unit.to_owned(),
                        month: month.clone(),
                        as_of,
                    },
                    &campaign,
                )
            };
            let mut submission = None;
            let (doc, reports) = match &for_unit {
                Some(u) => {
                    let report = one(u)?;
                    if as_of_day.is_none() {
                        // What the form edits is the report as it stands now (a past month's
                        // report above is as of its end).
                        let m = Month::parse(&month)?;
                        let current = match store.record(&monthly::report_id(u, &month)) {
                            Ok(Record::MonthlyReport(r)) => Some(r),
                            _ => None,
                        };
                        let submitted_on = current.as_ref().and_then(|r| r.submitted_on);
                        let today = campaign.local_date(store.now_ms());
                        let now = Submission {
                            unit: u.clone(),
                            unit_name: report.unit_name.clone(),
                            submitted_on,
                            submitted_by: current.as_ref().and_then(|r| r.submitted_by.clone()),
                            status: SubmissionStatus::of(
                                submitted_on,
                                campaign.last_on_time_day(m),
                                today,
                            ),
                        };
                        let texts = current
                            .map(|r| (r.experience, r.problems))
                            .unwrap_or_default();
                        submission = Some((now, texts));
                    }
                    (report.document(), vec![report])
                }
                None => {
                    let bureau = bureau_monthly(store, &month, Some(&all_units), as_of, &campaign)?;
                    let reports = bureau
                        .units
                        .iter()
                        .map(|s| one(&s.unit))
                        .collect::<fieldledger_core::Result<Vec<_>>>()?;
                    (bureau.document(), reports)
                }
            };
            let coverage: Vec<(String, String, usize, usize)> = reports
                .iter()
                .flat_map(|r| {
                    r.rounds.iter().filter_map(|round| {
                        round.targets_covered.map(|covered| {
                            (
                                r.unit.clone(),
                                round.label.clone(),
                                covered,
                                round.targets_total,
                            )
                        })
                    })
                })
                .collect();
            Ok((month, doc, coverage, submission))
        })
        .await?;
    let coverage: Vec<Coverage> = coverage
        .into_iter()
        .map(|(unit, round, covered, total)| Coverage {
            unit: units.get(&unit).map_or(unit, |u| u.name.clone()),
            round,
            covered,
            total,
        })
        .collect();
    let chart = if coverage.is_empty() {
        String::new()
    } else {
        coverage_chart(&format!("{month} 走访覆盖情况（按轮次）"), &coverage)?
    };
    let current_unit = unit.clone().unwrap_or_default();
    let unit_options = if viewer.sees_every_unit() {
        let mut o = vec![Opt::new("", "各单位报送情况", &current_unit)];
        o.extend(
            units
                .values()
                .filter(|u| !u.is_office)
                .map(|u| Opt::new(u.code.clone(), unit_label(&units, &u.code), &current_unit)),
        );
        o
    } else {
        Vec::new()
    };
    let error = typed.as_ref().map(|t| t.error.clone());
    let writing = submission.map(|(s, texts)| {
        let texts = match typed {
            Some(t) => (t.experience, t.problems),
            None => texts,
        };
        writing(viewer, &month, &s, texts)
    });
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = MonthlyPage {
        layout: Layout::new(viewer, doc.title.clone(), "monthly"),
        title: doc.title.clone(),
        as_of: form.as_of.clone().unwrap_or_default(),
        unit_options,
        blocks: blocks(doc),
        chart,
        md_link: form.link(&month, "md"),
        html_link: form.link(&month, "html"),
        xlsx_link: form.link(&month, "xlsx"),
        month,
        writing,
        notice,
        error,
    };
    let mut response = render(&page)?;
    *response.status_mut() = status;
    Ok(response)
}

/// Body of the monthly report's form.
#[derive(Deserialize)]
pub(crate) struct WriteForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    unit: String,
    #[serde(default)]
    month: String,
    #[serde(default)]
    experience: String,
    #[serde(default)]
    problems: String,
    /// `submit` submits (报送) today; anything else saves the texts only.
    #[serde(default)]
    action: String,
}

/// `POST /ui/monthly/write`: saves a unit's 经验做法 and 存在问题 for a month and, with
/// `action=submit`, submits the report today (the unit head, or the office for any unit), as
/// the signed-in user through `Store::write_monthly`.
pub(crate) async fn write(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(body): Form<WriteForm>,
) -> Result<Response, WebError> {
    viewer.check_csrf(&body.csrf)?;
    let form = MonthlyForm {
        month: Some(body.month.clone()),
        unit: Some(body.unit.clone()),
        ..MonthlyForm::default()
    }
    .clean();
    let unit = form
        .unit(&viewer)?
        .ok_or_else(|| WebError::BadRequest("缺少单位。".into()))?;
    let units = layout::units(&state).await?;
    if !units.contains_key(&unit) {
        return Err(WebError::BadRequest("单位：没有这个单位。".into()));
    }
    let month = form.month.clone().unwrap_or_default();
    let month = Month::parse(&month)
        .map_err(|_| WebError::BadRequest(format!("月份：“{month}”不是 YYYY-MM")))?
        .to_string();
    let submit = body.action == "submit";
    let experience = body.experience.replace("\r\n", "\n");
    let problems = body.problems.replace("\r\n", "\n");
    // The day it is submitted on is the campaign's calendar day (Beijing time), read first.
    let today = state
        .with_record_reader(|store| Ok(local_today(store)?))
        .await?;
    let written = state
        .write_records(
            viewer.identity().clone(),
            RecordWrite::Monthly {
                unit: unit.clone(),
                month: month.clone(),
                experience: experience.clone(),
                problems: problems.clone(),
                submitted_on: submit.then_some(today),
            },
        )
        .await?;
    match written {
        Ok(_) => {
            let done = MonthlyForm {
                month: Some(month),
                unit: Some(unit),
                done: Some(if submit { "submitted" } else { "saved" }.into()),
                ..MonthlyForm::default()
            };
            Ok(Redirect::to(&format!(
                "/ui/monthly?{}#writing",
                serde_urlencoded::to_string(&done).unwrap_or_default()
            ))
            .into_response())
        }
        Err(e) if users_to_fix(&e) => {
            let typed = Typed {
                error: core_message(&e),
                experience,
                problems,
            };
            build(&state, &viewer, form, Some(typed)).await
        }
        Err(e) => Err(WebError::from_core(&e)),
    }
}

/// `GET /ui/monthly/download?format=md|html|xlsx&month=&unit=`: the report as a file.
pub(crate) async fn download(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(form): Query<MonthlyForm>,
) -> Result<Response, WebError> {
    let form = form.clean();
    let unit = form.unit(&viewer)?;
    let all_units = field_units(&layout::units(&state).await?);
    let units = viewer.allowed_units().or(Some(all_units));
    let params = MonthlyParams {
        month: form
            .month
            .clone()
            .ok_or_else(|| WebError::BadRequest("缺少月份（month=YYYY-MM）。".into()))?,
        unit: unit.clone(),
        format: Some(form.format.clone().unwrap_or_else(|| "xlsx".into())),
        as_of: form.as_of.clone(),
    };
    let r = state
        .with_record_reader(move |store| render_monthly(store, unit.as_deref(), units, &params))
        .await?;
    Ok((
        [
            (header::CONTENT_TYPE, r.content_type.to_owned()),
            (header::CONTENT_DISPOSITION, attachment(&r.file_name)),
        ],
        r.bytes,
    )
        .into_response())
}
