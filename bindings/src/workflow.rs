//! Workflow steps on the phone, the same the command line offers (through the same core
//! methods): a demand moved along its status with its response, a rectification marked done
//! or verified, the unit's monthly report drafted and submitted, and the unit's own
//! categories and visit targets read and (by its head) kept.

use fieldledger_core::model::{self, Record, inspection, monthly, unit};

use crate::error::{FfiError, Result};
use crate::fields::{self, FieldPair};
use crate::store::FieldStore;

fn date(d: Option<chrono::NaiveDate>) -> Option<String> {
    d.map(|d| d.to_string())
}

/// A visit target of a unit (走访对象名单), for coverage (走访全覆盖).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct VisitTargetRecord {
    /// Entry id (for `set_visit_target_field`).
    pub id: String,
    /// 编号: the code visits refer to (走访对象编号).
    pub code: String,
    /// 走访对象.
    pub name: String,
    /// 对象类型.
    pub kind: Option<String>,
    /// 地点.
    pub place: Option<String>,
}

/// A unit's profile: its own categories (each once) and its visit targets.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct UnitProfileRecord {
    /// Unit code.
    pub unit: String,
    /// 单位名称.
    pub unit_name: String,
    /// 自定义类型: categories the unit added.
    pub categories: Vec<String>,
    /// 走访对象名单.
    pub visit_targets: Vec<VisitTargetRecord>,
}

impl From<&unit::UnitProfile> for UnitProfileRecord {
    fn from(p: &unit::UnitProfile) -> Self {
        UnitProfileRecord {
            unit: p.meta.unit.clone(),
            unit_name: p.unit_name.clone(),
            categories: p.categories.clone(),
            visit_targets: p
                .visit_targets
                .iter()
                .map(|t| VisitTargetRecord {
                    id: t.id.clone(),
                    code: t.code.clone(),
                    name: t.name.clone(),
                    kind: t.kind.clone(),
                    place: t.place.clone(),
                })
                .collect(),
        }
    }
}

/// A problem found by an inspection and its rectification (整改).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ProblemRecord {
    /// Entry id (for `mark_rectified` / `verify_rectification`).
    pub id: String,
    /// 发现问题.
    pub problem: String,
    /// 整改要求.
    pub requirement: String,
    /// 整改时限.
    pub deadline: Option<String>,
    /// 整改状态 code: `open`, `rectified`, `verified`.
    pub status: String,
}

/// An inspection (督查) or self-check (自查) with its problems.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct InspectionRecord {
    /// Record id.
    pub id: String,
    /// Unit inspected.
    pub unit: String,
    /// Case number.
    pub number: String,
    /// 检查日期.
    pub inspected_on: Option<String>,
    /// 检查类型 code: `self_check` or `bureau`.
    pub kind: Option<String>,
    /// 检查人.
    pub inspector: Option<String>,
    /// 问题清单.
    pub problems: Vec<ProblemRecord>,
    /// 反馈意见.
    pub feedback: String,
}

fn code_of<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

impl From<&inspection::Inspection> for InspectionRecord {
    fn from(i: &inspection::Inspection) -> Self {
        InspectionRecord {
            id: i.meta.id.clone(),
            unit: i.meta.unit.clone(),
            number: i.meta.number.clone(),
            inspected_on: date(i.inspected_on),
            kind: i.kind.as_ref().map(code_of),
            inspector: i.inspector.clone(),
            problems: i
                .problems
                .iter()
                .map(|p| ProblemRecord {
                    id: p.id.clone(),
                    problem: p.problem.clone(),
                    requirement: p.requirement.clone(),
                    deadline: date(p.deadline),
                    status: code_of(&p.status.unwrap_or(inspection::ProblemStatus::Open)),
                })
                .collect(),
            feedback: i.feedback.clone(),
        }
    }
}

/// A unit's monthly report record (月报): its texts and its submission.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct MonthlyReportRecord {
    /// Record id (one per unit and month).
    pub id: String,
    /// Unit code.
    pub unit: String,
    /// `YYYY-MM`.
    pub month: String,
    /// 活动经验做法.
    pub experience: String,
    /// 存在问题.
    pub problems: String,
    /// 报送日期 (none while a draft).
    pub submitted_on: Option<String>,
    /// 报送人.
    pub submitted_by: Option<String>,
}

impl From<&monthly::MonthlyReport> for MonthlyReportRecord {
    fn from(r: &monthly::MonthlyReport) -> Self {
        MonthlyReportRecord {
            id: r.meta.id.clone(),
            unit: r.meta.unit.clone(),
            month: r.month.clone(),
            experience: r.experience.clone(),
            problems: r.problems.clone(),
            submitted_on: date(r.submitted_on),
            submitted_by: r.submitted_by.clone(),
        }
    }
}

impl FieldStore {
    /// Writes the unit's monthly report (see `Store::write_monthly`).
    fn write_monthly(
        &self,
        month: &str,
        experience: Option<String>,
        problems: Option<String>,
        unit: Option<String>,
        submitted_on: Option<chrono::NaiveDate>,
    ) -> Result<String> {
        self.with(|s| {
            s.write_monthly(
                unit.as_deref(),
                month,
                experience.as_deref(),
                problems.as_deref(),
                submitted_on,
            )
        })
    }

    /// The acting user's unit, or `unit`.
    fn unit_or_own(&self, unit: Option<String>) -> Result<String> {
        match unit {
            Some(u) => Ok(u),
            None => self.with(|s| {
                s.identity()
                    .map(|i| i.author.unit.clone())
                    .ok_or(fieldledger_core::Error::NotEnrolled)
            }),
        }
    }
}

#[uniffi::export]
impl FieldStore {
    /// Moves a demand (群众诉求) of a visit to `status` (`recorded`, `in_hand`, `fulfilled`,
    /// `answered` or the labels 已登记, 办理中, 已落实, 已解释答复) with the response text
    /// (答复情况) when given; 已解释答复 needs one. A status never moves backwards.
    pub fn set_demand_status(
        &self,
        visit_id: String,
        demand_id: String,
        status: String,
        response: Option<String>,
    ) -> Result<()> {
        self.with(|s| s.set_demand_status(&visit_id, &demand_id, &status, response.as_deref()))
    }

    /// An inspection (督查) or self-check (自查) with its problems.
    pub fn inspection(&self, id: String) -> Result<InspectionRecord> {
        match self.with(|s| s.record(&id))? {
            Record::Inspection(i) => Ok((&i).into()),
            other => Err(fieldledger_core::Error::WrongKind {
                id,
                expected: model::RecordKind::Inspection,
                actual: other.meta().kind,
            }
            .into()),
        }
    }

    /// Marks a problem of an inspection rectified (已整改): the inspected unit's step.
    pub fn mark_rectified(&self, inspection_id: String, problem_id: String) -> Result<()> {
        self.with(|s| s.set_rectification_status(&inspection_id, &problem_id, "rectified"))
    }

    /// Verifies a rectified problem (已验收): the bureau office only.
    pub fn verify_rectification(&self, inspection_id: String, problem_id: String) -> Result<()> {
        self.with(|s| s.set_rectification_status(&inspection_id, &problem_id, "verified"))
    }

    /// Writes the texts of the unit's monthly report for `month` (`YYYY-MM`) without
    /// submitting it (anyone of the unit); `unit` only for the bureau office. Returns the id.
    pub fn draft_monthly(
        &self,
        month: String,
        experience: Option<String>,
        problems: Option<String>,
        unit: Option<String>,
    ) -> Result<String> {
        self.write_monthly(&month, experience, problems, unit, None)
    }

    /// Submits (报送) the unit's monthly report for `month` on `submitted_on` (`YYYY-MM-DD`),
    /// with its texts when given: the unit head or the bureau office only. Returns the id.
    pub fn submit_monthly(
        &self,
        month: String,
        experience: Option<String>,
        problems: Option<String>,
        submitted_on: String,
        unit: Option<String>,
    ) -> Result<String> {
        let day = model::field::parse_date("报送日期 (submitted_on)", &submitted_on)?;
        self.write_monthly(&month, experience, problems, unit, Some(day))
    }

    /// The unit's monthly report record for `month`, if anyone wrote it yet.
    pub fn monthly_report(
        &self,
        month: String,
        unit: Option<String>,
    ) -> Result<Option<MonthlyReportRecord>> {
        let unit = self.unit_or_own(unit)?;
        let month = fieldledger_core::report::Month::parse(&month)?.to_string();
        let id = monthly::report_id(&unit, &month);
        match self.with(|s| s.contains(&id)?.then(|| s.record(&id)).transpose())? {
            Some(Record::MonthlyReport(r)) => Ok(Some((&r).into())),
            Some(_) => Err(FfiError::Internal(
                "the monthly report id holds another kind".into(),
            )),
            None => Ok(None),
        }
    }

    /// The unit's profile (default: the acting user's unit): its own categories and its
    /// visit targets.
    pub fn unit_profile(&self, unit: Option<String>) -> Result<UnitProfileRecord> {
        let unit = self.unit_or_own(unit)?;
        Ok((&self.with(|s| s.unit_profile(&unit))?).into())
    }

    /// Adds a category of the unit's own (unit head or office); false when the unit already
    /// has it (nothing is added twice).
    pub fn add_category(&self, category: String, unit: Option<String>) -> Result<bool> {
        let unit = self.unit_or_own(unit)?;
        self.with(|s| s.add_category(&unit, &category))
    }

    /// Removes a category of the unit's own (unit head or office); false when it had none.
    pub fn remove_category(&self, category: String, unit: Option<String>) -> Result<bool> {
        let unit = self.unit_or_own(unit)?;
        self.with(|s| s.remove_category(&unit, &category))
    }

    /// Adds a visit target from (field, value) pairs (编号/code and 走访对象/name required;
    /// 对象类型/kind, 地点/place); returns its entry id. Unit head or office.
    pub fn add_visit_target(&self, fields: Vec<FieldPair>, unit: Option<String>) -> Result<String> {
        let unit = self.unit_or_own(unit)?;
        let (_, values) =
            fields::entry_values(model::RecordKind::UnitProfile, "visit_targets", &fields)?;
        self.with(|s| s.add_visit_target(&unit, &values))
    }

    /// Sets one field of a visit target. Unit head or office.
    pub fn set_visit_target_field(
        &self,
        target_id: String,
        field: String,
        value: String,
        unit: Option<String>,
    ) -> Result<()> {
        let unit = self.unit_or_own(unit)?;
        self.with(|s| s.set_visit_target_field(&unit, &target_id, &field, &value))
    }
}
