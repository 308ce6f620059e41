//! The monthly report of a unit (due before the 23rd, 每月23日前) and the bureau office's view
//! of which units are late.
//!
//! Counting rules: visits, demands, disputes found, disputes resolved, sign-offs and
//! assessments count when their date falls in the month; coverage of a round counts the unit's
//! visit targets visited in that round up to the end of the month (or the as-of day, if
//! earlier); "open" disputes are those found by the end of the month and still unresolved in
//! the snapshot; a half-month with no screening round is "missed" once it has ended.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::render::{Document, renderings};
use super::{Campaign, Month, Snapshot};
use crate::error::Result;
use crate::model::screening::HalfMonth;
use crate::model::{Dispute, FORM_CATEGORIES, risk::decisions_not_to_proceed, visit};
use crate::store::{DisputeFilter, Store};

/// What a monthly report is of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthlyQuery {
    /// Unit code.
    pub unit: String,
    /// Month, `YYYY-MM`.
    pub month: String,
    /// As the records stood at this moment (ms); none: as they are now.
    #[serde(default)]
    pub as_of: Option<i64>,
}

/// Visits and coverage of one round (走访轮次).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundCoverage {
    /// Round code (`1`, `2`, `adhoc`).
    pub round: String,
    /// Label (第一轮…).
    pub label: String,
    /// Visits of this round dated in the month.
    pub visits: usize,
    /// Visit targets of the unit visited in this round by the end of the month (none for
    /// ad hoc visits, which cover no round).
    pub targets_covered: Option<usize>,
    /// Visit targets of the unit.
    pub targets_total: usize,
}

/// Found / resolved / open counts of disputes in one category or with one flag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisputeCounts {
    /// Category or flag label.
    pub label: String,
    /// Found in the month.
    pub found: usize,
    /// Resolved in the month.
    pub resolved: usize,
    /// Found by the end of the month and not resolved.
    pub open: usize,
}

/// A petition case signed off (销号) in the month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedOffCase {
    /// Record id.
    pub id: String,
    /// Case number.
    pub number: String,
    /// 案件名称.
    pub title: String,
    /// 包案领导.
    pub leader: String,
    /// Day of the sign-off.
    pub on: NaiveDate,
    /// Who signed it off.
    pub by: String,
}

/// A risk assessment dated in the month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssessmentLine {
    /// 决策事项.
    pub decision: String,
    /// 评估日期.
    pub assessed_on: Option<NaiveDate>,
    /// 评估结论 label, or 待评估.
    pub result: String,
}

/// Whether a half-month's screening was held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScreeningStatus {
    /// At least one round was held.
    Held,
    /// The half-month has ended with no round.
    Missed,
    /// The half-month has not ended yet and no round is recorded.
    NotDue,
}

impl ScreeningStatus {
    /// Label.
    pub fn label(self) -> &'static str {
        match self {
            ScreeningStatus::Held => "已开展",
            ScreeningStatus::Missed => "未开展",
            ScreeningStatus::NotDue => "未到期",
        }
    }
}

/// Screening in one half-month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HalfMonthScreening {
    /// The period.
    pub period: HalfMonth,
    /// Dates of the rounds held.
    pub rounds: Vec<NaiveDate>,
    /// Held, missed or not yet due.
    pub status: ScreeningStatus,
}

/// Whether a unit's monthly report came in on time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubmissionStatus {
    /// Submitted by the 22nd.
    OnTime,
    /// Submitted after the 22nd.
    SubmittedLate,
    /// Not submitted and the due day has passed.
    Missing,
    /// Not submitted yet, not due yet.
    Pending,
}

impl SubmissionStatus {
    /// Label.
    pub fn label(self) -> &'static str {
        match self {
            SubmissionStatus::OnTime => "按时报送",
            SubmissionStatus::SubmittedLate => "逾期报送",
            SubmissionStatus::Missing => "逾期未报",
            SubmissionStatus::Pending => "未到期",
        }
    }

    /// Whether this counts as late.
    pub fn is_late(self) -> bool {
        matches!(
            self,
            SubmissionStatus::SubmittedLate | SubmissionStatus::Missing
        )
    }

    /// The status of a report submitted on `submitted_on` (if at all), seen on `today`.
    pub fn of(submitted_on: Option<NaiveDate>, last_on_time: NaiveDate, today: NaiveDate) -> Self {
        match submitted_on {
            Some(d) if d <= last_on_time => SubmissionStatus::OnTime,
            Some(_) => SubmissionStatus::SubmittedLate,
            None if today > last_on_time => SubmissionStatus::Missing,
            None => SubmissionStatus::Pending,
        }
    }
}

/// A unit's report submission for a month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submission {
    /// Unit code.
    pub unit: String,
    /// Unit name.
    pub unit_name: String,
    /// 报送日期.
    pub submitted_on: Option<NaiveDate>,
    /// 报送人.
    pub submitted_by: Option<String>,
    /// On time, late, missing or not yet due.
    pub status: SubmissionStatus,
}

/// The monthly report of one unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitMonthly {
    /// Unit code.
    pub unit: String,
    /// Unit name.
    pub unit_name: String,
    /// The month.
    pub month: Month,
    /// The as-of date, if produced as of a past moment.
    pub as_of: Option<NaiveDate>,
    /// The as-of moment (ms).
    pub at_ms: Option<i64>,
    /// The day the report was judged on (the as-of day, or today).
    pub today: NaiveDate,
    /// Visits and coverage per round.
    pub rounds: Vec<RoundCoverage>,
    /// Demands raised on visits in the month.
    pub demands_collected: usize,
    /// Of these, fulfilled or answered (落实 / 解释答复).
    pub demands_done: usize,
    /// Dispute counts per category (form order, then the unit's own, then 未分类).
    pub disputes_by_category: Vec<DisputeCounts>,
    /// Dispute counts per flag (是否重大/群体性/跨区域/历史遗留).
    pub disputes_by_flag: Vec<DisputeCounts>,
    /// All disputes.
    pub disputes_total: DisputeCounts,
    /// Petition cases signed off in the month.
    pub signed_off: Vec<SignedOffCase>,
    /// Risk assessments dated in the month.
    pub assessments: Vec<AssessmentLine>,
    /// Decisions of the unit that must not proceed (no passed assessment), up to the month end.
    pub not_to_proceed: Vec<String>,
    /// Screening per half-month of the month within the campaign.
    pub screening: Vec<HalfMonthScreening>,
    /// 活动经验做法.
    pub experience: String,
    /// 存在问题.
    pub problems: String,
    /// Submission of this report.
    pub submission: Submission,
}

/// The bureau office's view of a month: every unit's submission, and which are late.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BureauMonthly {
    /// The month.
    pub month: Month,
    /// The as-of date, if produced as of a past moment.
    pub as_of: Option<NaiveDate>,
    /// The as-of moment (ms).
    pub at_ms: Option<i64>,
    /// The day lateness was judged on.
    pub today: NaiveDate,
    /// Last day a report counts as on time (the 22nd).
    pub last_on_time: NaiveDate,
    /// Every unit, by code.
    pub units: Vec<Submission>,
    /// Codes of the late units (submitted after the 22nd, or not at all once it has passed).
    pub late: Vec<String>,
}

/// Reads one yes/no column of a dispute.
type FlagOf = fn(&Dispute) -> Option<bool>;

fn round_label(code: &str) -> String {
    visit::ROUNDS
        .iter()
        .find(|c| c.code == code)
        .map_or_else(|| format!("第{code}轮"), |c| c.label.to_owned())
}

fn counts(label: &str, ds: &[&Dispute], month: Month) -> DisputeCounts {
    let end = month.last_day();
    DisputeCounts {
        label: label.to_owned(),
        found: ds
            .iter()
            .filter(|d| d.found_on.is_some_and(|f| month.contains(f)))
            .count(),
        resolved: ds
            .iter()
            .filter(|d| d.is_resolved() && d.resolved_on.is_some_and(|r| month.contains(r)))
            .count(),
        open: ds
            .iter()
            .filter(|d| !d.is_resolved() && d.found_on.is_none_or(|f| f <= end))
            .count(),
    }
}

/// Where a monthly report reads the units' report records (texts, 报送日期): as of the moment
/// asked for; by default (a past month's figures as of its end) as they are now, so a report
/// submitted late for a past month shows as 逾期报送 with its texts, not as never written.
fn report_records<'a>(
    store: &'a Store,
    asked: Option<i64>,
    as_of: Option<i64>,
    campaign: &Campaign,
) -> Snapshot<'a> {
    Snapshot::new(store, if asked.is_some() { as_of } else { None }, campaign)
}

/// Builds a unit's monthly report from a store.
pub fn unit_monthly(store: &Store, q: &MonthlyQuery, campaign: &Campaign) -> Result<UnitMonthly> {
    let month = Month::parse(&q.month)?;
    let as_of = month.report_as_of(store, q.as_of, campaign);
    let snap = Snapshot::new(store, as_of, campaign);
    let reports_snap = report_records(store, q.as_of, as_of, campaign);
    let today = snap.today();
    let units = [q.unit.clone()];
    let units = Some(&units[..]);
    let month_end = month.last_day();
    let cover_to = month_end.min(today);

    let profile = snap.profiles(units)?.remove(&q.unit);
    let unit_name = profile
        .as_ref()
        .map(|p| p.unit_name.trim().to_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| q.unit.clone());
    let target_codes: BTreeSet<&str> = profile
        .iter()
        .flat_map(|p| p.visit_targets.iter().map(|t| t.code.as_str()))
        .filter(|c| !c.is_empty())
        .collect();

    // Visits.
    let visits = snap.visits(units)?;
    let mut round_codes: Vec<String> = campaign.rounds.iter().map(|r| r.code.clone()).collect();
    for v in &visits {
        if let Some(r) = &v.round {
            if !round_codes.contains(r) && r != "adhoc" {
                round_codes.push(r.clone());
            }
        }
    }
    round_codes.push("adhoc".into());
    let rounds = round_codes
        .iter()
        .map(|code| {
            let of_round = || visits.iter().filter(|v| v.round.as_deref() == Some(code));
            let covered: BTreeSet<&str> = of_round()
                .filter(|v| v.visit_date.is_some_and(|d| d <= cover_to))
                .filter_map(|v| v.target.as_deref())
                .filter(|t| target_codes.contains(t))
                .collect();
            RoundCoverage {
                round: code.clone(),
                label: campaign
                    .rounds
                    .iter()
                    .find(|r| &r.code == code)
                    .map_or_else(|| round_label(code), |r| r.label.clone()),
                visits: of_round()
                    .filter(|v| v.visit_date.is_some_and(|d| month.contains(d)))
                    .count(),
                targets_covered: (code != "adhoc").then_some(covered.len()),
                targets_total: target_codes.len(),
            }
        })
        .collect();
    let month_demands = visits
        .iter()
        .filter(|v| v.visit_date.is_some_and(|d| month.contains(d)))
        .flat_map(|v| v.demands.iter());
    let (mut demands_collected, mut demands_done) = (0, 0);
    for d in month_demands {
        demands_collected += 1;
        if d.status.is_some_and(|s| s.is_done()) {
            demands_done += 1;
        }
    }

    // Disputes.
    let disputes = snap.disputes(&DisputeFilter {
        units: units.map(<[String]>::to_vec),
        ..Default::default()
    })?;
    let all: Vec<&Dispute> = disputes.iter().collect();
    let mut categories: Vec<String> = FORM_CATEGORIES.iter().map(|c| (*c).to_owned()).collect();
    let mut own: BTreeSet<String> = profile
        .iter()
        .flat_map(|p| p.categories.iter().cloned())
        .collect();
    own.extend(disputes.iter().filter_map(|d| d.category.clone()));
    categories.extend(
        own.into_iter()
            .filter(|c| !FORM_CATEGORIES.contains(&c.as_str())),
    );
    let mut disputes_by_category: Vec<DisputeCounts> = categories
        .iter()
        .map(|c| {
            let of: Vec<&Dispute> = all
                .iter()
                .copied()
                .filter(|d| d.category.as_ref() == Some(c))
                .collect();
            counts(c, &of, month)
        })
        .collect();
    let uncategorised: Vec<&Dispute> = all
        .iter()
        .copied()
        .filter(|d| d.category.as_deref().is_none_or(|c| c.trim().is_empty()))
        .collect();
    disputes_by_category.push(counts("未分类", &uncategorised, month));
    disputes_by_category.retain(|c| c.found + c.resolved + c.open > 0);
    let flags: [(&str, FlagOf); 4] = [
        ("重大问题", |d| d.is_major),
        ("群体性问题", |d| d.is_group),
        ("跨区域问题", |d| d.is_cross_region),
        ("历史遗留问题", |d| d.is_legacy),
    ];
    let disputes_by_flag = flags
        .iter()
        .map(|(label, f)| {
            let of: Vec<&Dispute> = all
                .iter()
                .copied()
                .filter(|d| f(d).unwrap_or(false))
                .collect();
            counts(label, &of, month)
        })
        .collect();
    let disputes_total = counts("合计", &all, month);

    // Petition cases signed off in the month.
    let mut signed_off = Vec::new();
    for p in snap.petitions(units)? {
        let last = p
            .signoffs
            .iter()
            .filter(|e| e.action.as_deref() == Some("sign_off"))
            .map(|e| (campaign.local_date(e.entered_at), e))
            .filter(|(d, _)| month.contains(*d))
            .max_by_key(|(d, e)| (*d, e.entered_at));
        if let Some((on, e)) = last {
            signed_off.push(SignedOffCase {
                id: p.meta.id.clone(),
                number: p.meta.number.clone(),
                title: p.title.clone(),
                leader: p.leader.clone().unwrap_or_default(),
                on,
                by: e.by.clone().unwrap_or_else(|| e.entered_by.clone()),
            });
        }
    }
    signed_off.sort_by(|a, b| (a.on, &a.number, &a.id).cmp(&(b.on, &b.number, &b.id)));

    // Risk assessments.
    let risks = snap.risk_assessments(units)?;
    let mut assessments: Vec<AssessmentLine> = risks
        .iter()
        .filter(|a| a.assessed_on.is_some_and(|d| month.contains(d)))
        .map(|a| AssessmentLine {
            decision: a.decision.clone(),
            assessed_on: a.assessed_on,
            result: a.result.map_or("待评估", |r| r.label()).to_owned(),
        })
        .collect();
    assessments.sort_by(|a, b| (a.assessed_on, &a.decision).cmp(&(b.assessed_on, &b.decision)));
    let not_to_proceed = decisions_not_to_proceed(
        risks
            .iter()
            .filter(|a| a.assessed_on.is_none_or(|d| d <= month_end)),
    );

    // Screening per half-month.
    let rounds_held = snap.screenings(units)?;
    let mut screening = Vec::new();
    let mut p = HalfMonth::of(month.first_day());
    while Month::of(p.start()) == month {
        let end = p.next().start().pred_opt().unwrap_or(month_end);
        if end >= campaign.start && p.start() <= campaign.end {
            let mut dates: Vec<NaiveDate> = rounds_held
                .iter()
                .filter_map(|r| r.screened_on)
                .filter(|d| HalfMonth::of(*d) == p && *d <= today)
                .collect();
            dates.sort();
            let status = if !dates.is_empty() {
                ScreeningStatus::Held
            } else if end < today {
                ScreeningStatus::Missed
            } else {
                ScreeningStatus::NotDue
            };
            screening.push(HalfMonthScreening {
                period: p,
                rounds: dates,
                status,
            });
        }
        p = p.next();
    }

    // The report record itself.
    let report = reports_snap
        .monthly_reports(units)?
        .into_iter()
        .filter(|r| Month::parse(&r.month).ok() == Some(month))
        .min_by(|a, b| a.meta.id.cmp(&b.meta.id));
    let last_on_time = campaign.last_on_time_day(month);
    let submitted_on = report.as_ref().and_then(|r| r.submitted_on);
    let submission = Submission {
        unit: q.unit.clone(),
        unit_name: unit_name.clone(),
        submitted_on,
        submitted_by: report.as_ref().and_then(|r| r.submitted_by.clone()),
        status: SubmissionStatus::of(submitted_on, last_on_time, today),
    };

    Ok(UnitMonthly {
        unit: q.unit.clone(),
        unit_name,
        month,
        as_of: snap.as_of_date(),
        at_ms: as_of,
        today,
        rounds,
        demands_collected,
        demands_done,
        disputes_by_category,
        disputes_by_flag,
        disputes_total,
        signed_off,
        assessments,
        not_to_proceed,
        screening,
        experience: report
            .as_ref()
            .map(|r| r.experience.clone())
            .unwrap_or_default(),
        problems: report.map(|r| r.problems).unwrap_or_default(),
        submission,
    })
}

/// Builds the bureau office's view of a month: every unit known by its profile or by a
/// monthly report (optionally only `units`), its submission, and the late ones.
pub fn bureau_monthly(
    store: &Store,
    month: &str,
    units: Option<&[String]>,
    as_of: Option<i64>,
    campaign: &Campaign,
) -> Result<BureauMonthly> {
    let month = Month::parse(month)?;
    let asked = as_of;
    let as_of = month.report_as_of(store, asked, campaign);
    let snap = Snapshot::new(store, as_of, campaign);
    let reports_snap = report_records(store, asked, as_of, campaign);
    let today = snap.today();
    let last_on_time = campaign.last_on_time_day(month);
    let names = snap.unit_names(units)?;
    let mut reports: BTreeMap<String, (Option<NaiveDate>, Option<String>)> = snap
        .profiles(units)?
        .into_keys()
        .map(|u| (u, (None, None)))
        .collect();
    for r in reports_snap.monthly_reports(units)? {
        if Month::parse(&r.month).ok() != Some(month) {
            continue;
        }
        let e = reports.entry(r.meta.unit.clone()).or_default();
        // Several drafts of one unit's month (made offline before the fixed id was known)
        // count by the earliest submission.
        if r.submitted_on.is_some() && (e.0.is_none() || r.submitted_on < e.0) {
            *e = (r.submitted_on, r.submitted_by.clone());
        }
    }
    let units: Vec<Submission> = reports
        .into_iter()
        .map(|(unit, (on, by))| Submission {
            unit_name: names.get(&unit).cloned().unwrap_or_else(|| unit.clone()),
            unit,
            submitted_on: on,
            submitted_by: by,
            status: SubmissionStatus::of(on, last_on_time, today),
        })
        .collect();
    let late = units
        .iter()
        .filter(|u| u.status.is_late())
        .map(|u| u.unit.clone())
        .collect();
    Ok(BureauMonthly {
        month,
        as_of: snap.as_of_date(),
        at_ms: as_of,
        today,
        last_on_time,
        units,
        late,
    })
}

fn date_or_dash(d: Option<NaiveDate>) -> String {
    d.map_or_else(|| "—".to_owned(), |d| d.to_string())
}

renderings!(UnitMonthly, "月报");
renderings!(BureauMonthly, "报送情况");

impl UnitMonthly {
    /// The report laid out as titled blocks.
    pub fn document(&self) -> Document {
        let mut doc = Document::new(
            format!(
                "{} {}年{}月工作月报",
                self.unit_name, self.month.year, self.month.month
            ),
            self.at_ms,
        );
        let mut line = format!(
            "单位：{}（{}）　月份：{}",
            self.unit_name, self.unit, self.month
        );
        if let Some(d) = self.as_of {
            line.push_str(&format!("　截至：{d}"));
        }
        doc.paragraph(line);
        let s = &self.submission;
        doc.paragraph(format!(
            "报送情况：{}（报送日期：{}；报送人：{}）",
            s.status.label(),
            date_or_dash(s.submitted_on),
            s.submitted_by.as_deref().unwrap_or("—")
        ));

        doc.heading(2, "一、走访情况");
        doc.table(
            &[
                "轮次",
                "本月走访次数",
                "已走访对象",
                "走访对象总数",
                "覆盖率",
            ],
            self.rounds
                .iter()
                .map(|r| {
                    let (covered, rate) = match r.targets_covered {
                        Some(c) if r.targets_total > 0 => (
                            c.to_string(),
                            format!("{:.1}%", 100.0 * c as f64 / r.targets_total as f64),
                        ),
                        Some(c) => (c.to_string(), "—".into()),
                        None => ("—".into(), "—".into()),
                    };
                    vec![
                        r.label.clone(),
                        r.visits.to_string(),
                        covered,
                        if r.targets_covered.is_some() {
                            r.targets_total.to_string()
                        } else {
                            "—".into()
                        },
                        rate,
                    ]
                })
                .collect(),
        );
        doc.paragraph(format!(
            "本月收集群众诉求 {} 件，已落实或解释答复 {} 件。",
            self.demands_collected, self.demands_done
        ));

        doc.heading(2, "二、矛盾纠纷排查化解");
        let row = |c: &DisputeCounts| {
            vec![
                c.label.clone(),
                c.found.to_string(),
                c.resolved.to_string(),
                c.open.to_string(),
            ]
        };
        let headers = ["类型", "本月新发现", "本月化解", "未化解"];
        let mut rows: Vec<Vec<String>> = self.disputes_by_category.iter().map(row).collect();
        rows.push(row(&self.disputes_total));
        doc.heading(3, "按类型");
        doc.table(&headers, rows);
        doc.heading(3, "按性质");
        doc.table(
            &["性质", "本月新发现", "本月化解", "未化解"],
            self.disputes_by_flag.iter().map(row).collect(),
        );

        doc.heading(2, "三、信访积案销号");
        if self.signed_off.is_empty() {
            doc.paragraph("本月无销号案件。");
        } else {
            doc.table(
                &["案件编号", "案件名称", "包案领导", "销号日期", "销号人"],
                self.signed_off
                    .iter()
                    .map(|c| {
                        vec![
                            c.number.clone(),
                            c.title.clone(),
                            c.leader.clone(),
                            c.on.to_string(),
                            c.by.clone(),
                        ]
                    })
                    .collect(),
            );
        }

        doc.heading(2, "四、社会稳定风险评估");
        if self.assessments.is_empty() {
            doc.paragraph("本月无风险评估。");
        } else {
            doc.table(
                &["决策事项", "评估日期", "评估结论"],
                self.assessments
                    .iter()
                    .map(|a| {
                        vec![
                            a.decision.clone(),
                            date_or_dash(a.assessed_on),
                            a.result.clone(),
                        ]
                    })
                    .collect(),
            );
        }
        if self.not_to_proceed.is_empty() {
            doc.paragraph("暂缓实施的决策事项：无。");
        } else {
            doc.paragraph(format!(
                "暂缓实施的决策事项（未通过评估，不得实施）：{}",
                self.not_to_proceed.join("、")
            ));
        }

        doc.heading(2, "五、不安定因素排查（每半月一次）");
        if self.screening.is_empty() {
            doc.paragraph("本月不在排查期内。");
        } else {
            doc.table(
                &["时段", "排查日期", "情况"],
                self.screening
                    .iter()
                    .map(|s| {
                        vec![
                            s.period.to_string(),
                            if s.rounds.is_empty() {
                                "—".into()
                            } else {
                                s.rounds
                                    .iter()
                                    .map(|d| d.to_string())
                                    .collect::<Vec<_>>()
                                    .join("、")
                            },
                            s.status.label().into(),
                        ]
                    })
                    .collect(),
            );
        }

        doc.heading(2, "六、活动经验做法");
        doc.text(self.experience.clone());
        doc.heading(2, "七、存在问题");
        doc.text(self.problems.clone());
        doc
    }
}

impl BureauMonthly {
    /// The view laid out as titled blocks.
    pub fn document(&self) -> Document {
        let mut doc = Document::new(
            format!(
                "{}年{}月各单位月报报送情况",
                self.month.year, self.month.month
            ),
            self.at_ms,
        );
        let mut line = format!("报送时限：{} 前（含）", self.last_on_time);
        if let Some(d) = self.as_of {
            line.push_str(&format!("　截至：{d}"));
        }
        doc.paragraph(line);
        doc.paragraph(format!(
            "共 {} 个单位，逾期 {} 个。",
            self.units.len(),
            self.late.len()
        ));
        doc.table(
            &["单位", "单位代码", "报送日期", "报送人", "情况"],
            self.units
                .iter()
                .map(|u| {
                    vec![
                        u.unit_name.clone(),
                        u.unit.clone(),
                        date_or_dash(u.submitted_on),
                        u.submitted_by.clone().unwrap_or_else(|| "—".into()),
                        u.status.label().into(),
                    ]
                })
                .collect(),
        );
        doc
    }
}
