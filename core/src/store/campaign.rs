//! The bureau-wide records the office writes: campaigns (their calendars) and the directory
//! of users the relay keeps in step with its accounts.

use super::Store;
use crate::error::{Error, Result};
use crate::model::campaign::{
    CAMPAIGN_UNIT, CampaignPlan, CampaignRecord, DEFAULT_TIME_ZONE, PlanRound,
};
use crate::model::directory::{DIRECTORY_ID, Directory};
use crate::model::{Edit, FieldValue, Record, RecordKind};
use crate::report::ScreeningCadence;

/// What [`Store::set_campaign`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignSet {
    /// The campaign record's id.
    pub id: String,
    /// Whether the campaign was new.
    pub created: bool,
    /// Whether anything changed.
    pub changed: bool,
}

impl Store {
    /// Every campaign record, oldest first.
    pub fn campaign_records(&self) -> Result<Vec<CampaignRecord>> {
        Ok(self
            .records(RecordKind::Campaign, None)?
            .into_iter()
            .filter_map(|r| match r {
                Record::Campaign(c) => Some(c),
                _ => None,
            })
            .collect())
    }

    /// Makes the campaign named `plan.name` say what `plan` says: creates it, or changes the
    /// fields and rounds that differ (a recorded edit, with history). A round is found by its
    /// code; rounds are never removed (visits name them), so a plan leaving one out is refused.
    /// The office only.
    pub fn set_campaign(&mut self, plan: &CampaignPlan) -> Result<CampaignSet> {
        if !crate::access::may_set_campaign(&self.author()?) {
            return Err(Error::PermissionDenied(
                "only the bureau office sets a campaign's calendar".into(),
            ));
        }
        let screening = match plan.screening.as_deref() {
            None => "half_monthly",
            Some(s) => match ScreeningCadence::parse(s) {
                Some(ScreeningCadence::HalfMonthly) => "half_monthly",
                None => {
                    return Err(Error::invalid(
                        "排查频次 (screening)",
                        "is not half-monthly (每半月)",
                    ));
                }
            },
        };
        let time_zone = plan.time_zone.as_deref().unwrap_or(DEFAULT_TIME_ZONE);
        let mut edits = vec![
            Edit::text("start", &plan.start.to_string()),
            Edit::text("end", &plan.end.to_string()),
            Edit::text("time_zone", time_zone),
            Edit::set(
                "monthly_due_day",
                FieldValue::Int(i64::from(plan.monthly_due_day.unwrap_or(23))),
            ),
            Edit::text("screening", screening),
        ];
        let existing = self
            .campaign_records()?
            .into_iter()
            .find(|c| c.name == plan.name);
        let Some(before) = existing else {
            edits.insert(0, Edit::text("name", &plan.name));
            edits.extend(plan.rounds.iter().map(append_round));
            let id = uuid::Uuid::now_v7().to_string();
            self.create_with_id(&id, RecordKind::Campaign, Some(CAMPAIGN_UNIT), &edits, None)?;
            return Ok(CampaignSet {
                id,
                created: true,
                changed: true,
            });
        };
        if let Some(gone) = before
            .rounds
            .iter()
            .find(|r| !plan.rounds.iter().any(|p| p.code == r.code))
        {
            return Err(Error::RuleViolation(format!(
                "visit round {} of the campaign cannot be removed (visits name it); keep it in \
                 the file, with its dates",
                gone.code
            )));
        }
        // Only what differs is written, so setting the same file twice changes nothing.
        edits.retain(|e| match e {
            Edit::Set { field, value } => !same_value(&before, field, value),
            _ => true,
        });
        for r in &plan.rounds {
            match before.rounds.iter().find(|b| b.code == r.code) {
                Some(b) => {
                    let set = |field: &str, value: String| Edit::SetInEntry {
                        list: "rounds".into(),
                        entry: b.id.clone(),
                        field: field.into(),
                        value: FieldValue::Text(value),
                    };
                    if b.label != r.label {
                        edits.push(set("label", r.label.clone()));
                    }
                    if b.ends_on != Some(r.ends_on) {
                        edits.push(set("ends_on", r.ends_on.to_string()));
                    }
                }
                None => edits.push(append_round(r)),
            }
        }
        let changed = !edits.is_empty();
        if changed {
            self.edit(&before.meta.id, &edits)?;
        }
        Ok(CampaignSet {
            id: before.meta.id,
            created: false,
            changed,
        })
    }
}

fn append_round(r: &PlanRound) -> Edit {
    Edit::Append {
        list: "rounds".into(),
        values: vec![
            ("code".into(), FieldValue::text(&r.code)),
            ("label".into(), FieldValue::text(&r.label)),
            ("ends_on".into(), FieldValue::Text(r.ends_on.to_string())),
        ],
    }
}

fn same_value(c: &CampaignRecord, field: &str, value: &FieldValue) -> bool {
    let text = |s: Option<String>| match value {
        FieldValue::Text(t) => s.as_deref() == Some(t.as_str()),
        _ => false,
    };
    match field {
        "start" => text(c.start.map(|d| d.to_string())),
        "end" => text(c.end.map(|d| d.to_string())),
        "time_zone" => text(c.time_zone.clone()),
        "screening" => text(c.screening.clone()),
        "monthly_due_day" => matches!(value, FieldValue::Int(n) if c.monthly_due_day == Some(*n)),
        _ => false,
    }
}

/// A user as the relay's accounts know them, for [`Store::set_directory`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownUser {
    /// Login.
    pub login: String,
    /// Display name.
    pub name: String,
    /// Unit code.
    pub unit: String,
    /// Role code.
    pub role: String,
}

impl Store {
    /// The directory of users this store holds (none before the first sync).
    pub fn directory(&self) -> Result<Option<Directory>> {
        match self.record(DIRECTORY_ID) {
            Ok(Record::Directory(d)) => Ok(Some(d)),
            Ok(_) | Err(Error::UnknownRecord(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Brings the directory record in step with `users` (the relay's accounts): adds the new,
    /// updates changed names, units and roles; one recorded edit, none when nothing changed.
    /// The office only. Returns whether anything changed.
    pub fn set_directory(&mut self, users: &[KnownUser]) -> Result<bool> {
        let entry = |u: &KnownUser| Edit::Append {
            list: "users".into(),
            values: vec![
                ("login".into(), FieldValue::text(&u.login)),
                ("name".into(), FieldValue::text(&u.name)),
                ("unit".into(), FieldValue::text(&u.unit)),
                ("role".into(), FieldValue::text(&u.role)),
            ],
        };
        let Some(dir) = self.directory()? else {
            let edits: Vec<Edit> = users.iter().map(entry).collect();
            self.create_with_id(
                DIRECTORY_ID,
                RecordKind::Directory,
                Some(CAMPAIGN_UNIT),
                &edits,
                None,
            )?;
            return Ok(true);
        };
        let mut edits = Vec::new();
        for u in users {
            match dir.users.iter().find(|d| d.login == u.login) {
                None => edits.push(entry(u)),
                Some(d) => {
                    for (field, old, new) in [
                        ("name", &d.name, &u.name),
                        ("unit", &d.unit, &u.unit),
                        ("role", &d.role, &u.role),
                    ] {
                        if old != new {
                            edits.push(Edit::SetInEntry {
                                list: "users".into(),
                                entry: d.id.clone(),
                                field: field.into(),
                                value: FieldValue::text(new),
                            });
                        }
                    }
                }
            }
        }
        if edits.is_empty() {
            return Ok(false);
        }
        self.edit(DIRECTORY_ID, &edits)?;
        Ok(true)
    }
}
