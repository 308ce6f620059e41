//! Workflow steps every surface offers (the command line, the phone bindings, the
//! dashboard): a demand moved along its status with its response, a rectification marked done
//! and verified, a unit's own categories and visit targets kept. Each is one checked edit, so
//! the kinds' rules (status never backwards, only the office verifies, only the unit head or
//! the office keeps a profile) decide exactly as for any other edit.

use super::Store;
use crate::error::{Error, Result};
use crate::model::unit::{UnitProfile, profile_id};
use crate::model::{Edit, FieldValue, Record, RecordKind};

impl Store {
    /// Moves a demand (群众诉求) of a visit to `status` (code or label: 已登记, 办理中, 已落实,
    /// 已解释答复), with the response text (答复情况) when given, in one change.
    pub fn set_demand_status(
        &mut self,
        visit_id: &str,
        demand_id: &str,
        status: &str,
        response: Option<&str>,
    ) -> Result<()> {
        let mut edits = vec![entry_edit("demands", demand_id, "status", status)];
        if let Some(r) = response {
            edits.push(entry_edit("demands", demand_id, "response", r));
        }
        self.edit(visit_id, &edits)
    }

    /// Moves a problem of an inspection to `status` (code or label: 待整改, 已整改 — the unit
    /// marks it rectified —, 已验收 — the bureau office verifies it).
    pub fn set_rectification_status(
        &mut self,
        inspection_id: &str,
        problem_id: &str,
        status: &str,
    ) -> Result<()> {
        self.edit(
            inspection_id,
            &[entry_edit("problems", problem_id, "status", status)],
        )
    }

    /// A unit's profile: its own categories (each once) and its visit targets.
    pub fn unit_profile(&self, unit: &str) -> Result<UnitProfile> {
        match self.record(&profile_id(unit))? {
            Record::UnitProfile(p) => Ok(p),
            other => Err(Error::WrongKind {
                id: profile_id(unit),
                expected: RecordKind::UnitProfile,
                actual: other.meta().kind,
            }),
        }
    }

    /// Adds a category of the unit's own (可自行添加). Returns false, changing nothing, when
    /// the unit already has it (one of the form's 17 or one added before).
    pub fn add_category(&mut self, unit: &str, category: &str) -> Result<bool> {
        let category = category.trim();
        if category.is_empty() {
            return Err(Error::invalid(
                "自定义类型 (categories)",
                "must not be empty",
            ));
        }
        if self.categories(unit)?.iter().any(|c| c == category) {
            return Ok(false);
        }
        let mut own = self.unit_profile(unit)?.categories;
        own.push(category.to_owned());
        self.edit(
            &profile_id(unit),
            &[Edit::set("categories", FieldValue::List(own))],
        )?;
        Ok(true)
    }

    /// Removes a category of the unit's own. Returns false when the unit has no such own
    /// category (the form's 17 cannot be removed).
    pub fn remove_category(&mut self, unit: &str, category: &str) -> Result<bool> {
        let own = self.unit_profile(unit)?.categories;
        let kept: Vec<String> = own
            .iter()
            .filter(|c| c.as_str() != category.trim())
            .cloned()
            .collect();
        if kept.len() == own.len() {
            return Ok(false);
        }
        self.edit(
            &profile_id(unit),
            &[Edit::set("categories", FieldValue::List(kept))],
        )?;
        Ok(true)
    }

    /// Adds a visit target (走访对象名单) to a unit's profile from (field, value) pairs (编号,
    /// 走访对象, 对象类型, 地点; keys or labels); returns the new entry's id. A code already
    /// used by another target of the unit is refused.
    pub fn add_visit_target(
        &mut self,
        unit: &str,
        values: &[(String, FieldValue)],
    ) -> Result<String> {
        let before = self.unit_profile(unit)?;
        let code_spec = target_spec("code")?;
        let code = values
            .iter()
            .find(|(k, _)| k == code_spec.key || k == code_spec.label)
            .map(|(_, v)| v.display());
        if let Some(code) = &code {
            if before.visit_targets.iter().any(|t| t.code == code.trim()) {
                return Err(Error::RuleViolation(
                    "the unit already has a visit target with this code (编号)".into(),
                ));
            }
        }
        self.edit(
            &profile_id(unit),
            &[Edit::Append {
                list: "visit_targets".into(),
                values: values.to_vec(),
            }],
        )?;
        let after = self.unit_profile(unit)?;
        after
            .visit_targets
            .iter()
            .find(|t| !before.visit_targets.iter().any(|o| o.id == t.id))
            .map(|t| t.id.clone())
            .ok_or_else(|| {
                Error::invalid(
                    "走访对象名单 (visit_targets)",
                    "the new entry was not written",
                )
            })
    }

    /// Sets one field of a unit's visit target (by entry id).
    pub fn set_visit_target_field(
        &mut self,
        unit: &str,
        target_id: &str,
        field: &str,
        value: &str,
    ) -> Result<()> {
        self.edit(
            &profile_id(unit),
            &[entry_edit("visit_targets", target_id, field, value)],
        )
    }
}

/// The spec of a visit target's field.
fn target_spec(key: &str) -> Result<&'static crate::model::FieldSpec> {
    match RecordKind::UnitProfile.field("visit_targets")?.ty {
        crate::model::FieldType::Entries(items) => crate::model::field::find_field(items, key)
            .ok_or_else(|| Error::UnknownField {
                kind: RecordKind::UnitProfile,
                field: key.to_owned(),
            }),
        _ => Err(Error::invalid("visit_targets", "is not a list of entries")),
    }
}

fn entry_edit(list: &str, entry: &str, field: &str, value: &str) -> Edit {
    Edit::SetInEntry {
        list: list.into(),
        entry: entry.into(),
        field: field.into(),
        value: FieldValue::text(value),
    }
}
