//! The records of a field campaign as typed Rust values, and the description of their fields.
//!
//! Each record is one Automerge document whose root holds the record's meta keys (`_id`,
//! `_kind`, `_unit`, …) and one key per field of its kind. The typed structs here are read
//! from that document through serde; edits go through [`Edit`] and the field descriptions in
//! [`spec`], so every write path checks values the same way.

pub mod campaign;
pub mod category;
pub mod directory;
pub mod dispute;
pub mod entry;
pub mod field;
pub mod input;
pub mod inspection;
pub mod monthly;
pub mod petition;
pub mod risk;
pub mod screening;
pub mod unit;
pub mod visit;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use crate::access::Role;
pub use campaign::CampaignRecord;
pub use category::{FORM_CATEGORIES, is_form_category};
pub use directory::Directory;
pub use dispute::Dispute;
pub use field::{Choice, FieldSpec, FieldType, FieldValue};
pub use inspection::Inspection;
pub use monthly::MonthlyReport;
pub use petition::PetitionCase;
pub use risk::RiskAssessment;
pub use screening::ScreeningRound;
pub use unit::UnitProfile;
pub use visit::Visit;

use crate::error::{Error, Result};

/// Schema version written into every new document's `_schema` key.
pub const DOCUMENT_SCHEMA_VERSION: i64 = 1;

/// The kinds of record the system keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    /// 走访记录: a visit with the demands raised.
    Visit,
    /// 矛盾纠纷: a dispute of the Annex 2 ledger.
    Dispute,
    /// 信访积案: a petition backlog case.
    Petition,
    /// 社会稳定风险评估: a risk assessment of a decision or project.
    RiskAssessment,
    /// 排查: a half-monthly screening round.
    Screening,
    /// 督查 / 自查: an inspection or self-check of a unit.
    Inspection,
    /// A unit's own reference data: its added categories and visit targets.
    UnitProfile,
    /// 月报: a unit's monthly report text and submission.
    MonthlyReport,
    /// 活动: a campaign's calendar (rounds, due days), bureau-wide.
    Campaign,
    /// 人员名单: the bureau's users, for choosing people; bureau-wide, kept by the relay.
    Directory,
}

impl RecordKind {
    /// Every kind, in display order.
    pub const ALL: [RecordKind; 10] = [
        RecordKind::Visit,
        RecordKind::Dispute,
        RecordKind::Petition,
        RecordKind::RiskAssessment,
        RecordKind::Screening,
        RecordKind::Inspection,
        RecordKind::UnitProfile,
        RecordKind::MonthlyReport,
        RecordKind::Campaign,
        RecordKind::Directory,
    ];

    /// Stable code used in documents, URLs and the database.
    pub fn code(self) -> &'static str {
        match self {
            RecordKind::Visit => "visit",
            RecordKind::Dispute => "dispute",
            RecordKind::Petition => "petition",
            RecordKind::RiskAssessment => "risk_assessment",
            RecordKind::Screening => "screening",
            RecordKind::Inspection => "inspection",
            RecordKind::UnitProfile => "unit_profile",
            RecordKind::MonthlyReport => "monthly_report",
            RecordKind::Campaign => "campaign",
            RecordKind::Directory => "directory",
        }
    }

    /// Chinese name as the documents use it.
    pub fn label(self) -> &'static str {
        match self {
            RecordKind::Visit => "走访记录",
            RecordKind::Dispute => "矛盾纠纷",
            RecordKind::Petition => "信访积案",
            RecordKind::RiskAssessment => "社会稳定风险评估",
            RecordKind::Screening => "排查",
            RecordKind::Inspection => "督查",
            RecordKind::UnitProfile => "单位信息",
            RecordKind::MonthlyReport => "月报",
            RecordKind::Campaign => "活动",
            RecordKind::Directory => "人员名单",
        }
    }

    /// Two-letter prefix of case numbers of this kind.
    pub fn number_prefix(self) -> &'static str {
        match self {
            RecordKind::Visit => "ZF",
            RecordKind::Dispute => "MD",
            RecordKind::Petition => "XF",
            RecordKind::RiskAssessment => "FX",
            RecordKind::Screening => "PC",
            RecordKind::Inspection => "DC",
            RecordKind::UnitProfile => "DW",
            RecordKind::MonthlyReport => "YB",
            RecordKind::Campaign => "HD",
            RecordKind::Directory => "RY",
        }
    }

    /// The field descriptions of this kind.
    pub fn fields(self) -> &'static [FieldSpec] {
        match self {
            RecordKind::Visit => visit::FIELDS,
            RecordKind::Dispute => dispute::FIELDS,
            RecordKind::Petition => petition::FIELDS,
            RecordKind::RiskAssessment => risk::FIELDS,
            RecordKind::Screening => screening::FIELDS,
            RecordKind::Inspection => inspection::FIELDS,
            RecordKind::UnitProfile => unit::FIELDS,
            RecordKind::MonthlyReport => monthly::FIELDS,
            RecordKind::Campaign => campaign::FIELDS,
            RecordKind::Directory => directory::FIELDS,
        }
    }

    /// Finds a field of this kind by key or form label.
    pub fn field(self, name: &str) -> Result<&'static FieldSpec> {
        field::find_field(self.fields(), name).ok_or_else(|| Error::UnknownField {
            kind: self,
            field: name.to_owned(),
        })
    }

    /// A field path (`key`, or `list/entry_id/key` for a field of a list entry) with every
    /// name given as a key or as its form label, spelled with keys (as conflicts name fields).
    /// Meta paths (`_unit`) are kept as they are.
    pub fn field_path(self, path: &str) -> Result<String> {
        Ok(input::FieldPath::parse(self, path)?.to_string())
    }
}

impl fmt::Display for RecordKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for RecordKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        RecordKind::ALL
            .into_iter()
            .find(|k| k.code() == s || k.label() == s)
            .ok_or_else(|| Error::invalid("kind", "is not a record kind"))
    }
}

/// Who makes an edit: recorded in every change's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Author {
    /// User login.
    pub user: String,
    /// User's display name.
    #[serde(default)]
    pub name: String,
    /// Enrolled device id.
    pub device: String,
    /// The user's role.
    pub role: Role,
    /// The user's unit.
    pub unit: String,
}

/// The keys every record document carries at its root.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordMeta {
    /// Stable id (UUID v7, created offline, never reissued).
    #[serde(rename = "_id")]
    pub id: String,
    /// Record kind.
    #[serde(rename = "_kind")]
    pub kind: RecordKind,
    /// Document schema version.
    #[serde(rename = "_schema", default)]
    pub schema: i64,
    /// Code of the unit the record belongs to.
    #[serde(rename = "_unit")]
    pub unit: String,
    /// Case number shown to people; unique across devices.
    #[serde(rename = "_number", default)]
    pub number: String,
    /// Login of the creator.
    #[serde(rename = "_created_by", default)]
    pub created_by: String,
    /// Creation time, milliseconds since the Unix epoch.
    #[serde(rename = "_created_at", default)]
    pub created_at: i64,
    /// Device the record was created on.
    #[serde(rename = "_device", default)]
    pub device: String,
    /// How many times personal data was erased from the record (each erasure starts a new
    /// document generation; see [`crate::doc::erase`]).
    #[serde(rename = "_generation", default, skip_serializing_if = "is_zero")]
    pub generation: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// Keys of [`RecordMeta`] in the document root.
pub const META_KEYS: [&str; 8] = [
    "_id",
    "_kind",
    "_schema",
    "_unit",
    "_number",
    "_created_by",
    "_created_at",
    "_device",
];

/// One edit to a record. Edits are checked against the kind's field descriptions and rules
/// before anything is written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Edit {
    /// Sets a field (a long text is replaced by diffing, so concurrent typing still merges).
    Set {
        /// Field key or label.
        field: String,
        /// New value.
        value: FieldValue,
    },
    /// Appends an entry to a list field (工作措施, demands, progress log…).
    Append {
        /// List field key or label.
        list: String,
        /// Entry fields by key.
        values: Vec<(String, FieldValue)>,
    },
    /// Sets one field of one entry of a list field.
    SetInEntry {
        /// List field key or label.
        list: String,
        /// The entry's id.
        entry: String,
        /// Entry field key or label.
        field: String,
        /// New value.
        value: FieldValue,
    },
}

impl Edit {
    /// A [`Edit::Set`].
    pub fn set(field: &str, value: FieldValue) -> Self {
        Edit::Set {
            field: field.to_owned(),
            value,
        }
    }

    /// A [`Edit::Set`] of a text value.
    pub fn text(field: &str, value: &str) -> Self {
        Edit::set(field, FieldValue::text(value))
    }
}

/// Any record, typed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Record {
    /// A visit.
    Visit(Visit),
    /// A dispute.
    Dispute(Dispute),
    /// A petition backlog case.
    Petition(PetitionCase),
    /// A risk assessment.
    RiskAssessment(RiskAssessment),
    /// A screening round.
    Screening(ScreeningRound),
    /// An inspection or self-check.
    Inspection(Inspection),
    /// A unit's reference data.
    UnitProfile(UnitProfile),
    /// A monthly report.
    MonthlyReport(MonthlyReport),
    /// A campaign's calendar.
    Campaign(CampaignRecord),
    /// The directory of users.
    Directory(Directory),
}

impl Record {
    /// Reads a typed record from a document's JSON form.
    pub fn from_json(kind: RecordKind, v: serde_json::Value) -> Result<Record> {
        Ok(match kind {
            RecordKind::Visit => Record::Visit(serde_json::from_value(v)?),
            RecordKind::Dispute => Record::Dispute(serde_json::from_value(v)?),
            RecordKind::Petition => Record::Petition(serde_json::from_value(v)?),
            RecordKind::RiskAssessment => Record::RiskAssessment(serde_json::from_value(v)?),
            RecordKind::Screening => Record::Screening(serde_json::from_value(v)?),
            RecordKind::Inspection => Record::Inspection(serde_json::from_value(v)?),
            RecordKind::UnitProfile => Record::UnitProfile(serde_json::from_value(v)?),
            RecordKind::MonthlyReport => Record::MonthlyReport(serde_json::from_value(v)?),
            RecordKind::Campaign => Record::Campaign(serde_json::from_value(v)?),
            RecordKind::Directory => Record::Directory(serde_json::from_value(v)?),
        })
    }

    /// The record's meta keys.
    pub fn meta(&self) -> &RecordMeta {
        match self {
            Record::Visit(r) => &r.meta,
            Record::Dispute(r) => &r.meta,
            Record::Petition(r) => &r.meta,
            Record::RiskAssessment(r) => &r.meta,
            Record::Screening(r) => &r.meta,
            Record::Inspection(r) => &r.meta,
            Record::UnitProfile(r) => &r.meta,
            Record::MonthlyReport(r) => &r.meta,
            Record::Campaign(r) => &r.meta,
            Record::Directory(r) => &r.meta,
        }
    }

    /// Checks the rules of the record's kind for a change from `before` to `self`.
    pub fn check_rules(&self, before: Option<&Record>, author: &Author) -> Result<()> {
        macro_rules! by_kind {
            ($($variant:ident => $ty:ty),*) => {
                match self {
                    $(Record::$variant(after) => {
                        let before = match before {
                            Some(Record::$variant(b)) => Some(b),
                            _ => None,
                        };
                        <$ty>::check_rules(before, after, author)
                    })*
                    Record::UnitProfile(after) => {
                        let changed = match before {
                            Some(Record::UnitProfile(b)) => b != after,
                            _ => true,
                        };
                        if changed
                            && !crate::access::may_maintain_unit_profile(author, &after.meta.unit)
                        {
                            return Err(Error::PermissionDenied(
                                "only the unit head or the bureau office changes a unit's own \
                                 categories and visit targets"
                                    .into(),
                            ));
                        }
                        Ok(())
                    }
                }
            };
        }
        by_kind!(
            Visit => Visit,
            Dispute => Dispute,
            Petition => PetitionCase,
            RiskAssessment => RiskAssessment,
            Screening => ScreeningRound,
            Inspection => Inspection,
            MonthlyReport => MonthlyReport,
            Campaign => CampaignRecord,
            Directory => Directory
        )
    }

    /// The login or name leading the case (包案领导), for petition cases.
    pub fn case_leader(&self) -> Option<&str> {
        match self {
            Record::Petition(p) => p.leader.as_deref(),
            _ => None,
        }
    }

    /// A one-line title for lists.
    pub fn title(&self) -> String {
        match self {
            Record::Visit(r) => format!(
                "{} {}",
                r.visit_date.map(|d| d.to_string()).unwrap_or_default(),
                r.visited_name
            ),
            Record::Dispute(r) => r.name.clone(),
            Record::Petition(r) => r.title.clone(),
            Record::RiskAssessment(r) => r.decision.clone(),
            Record::Screening(r) => format!(
                "排查 {}",
                r.screened_on.map(|d| d.to_string()).unwrap_or_default()
            ),
            Record::Inspection(r) => format!(
                "{} {}",
                r.kind.map(|k| k.label()).unwrap_or("督查"),
                r.inspected_on.map(|d| d.to_string()).unwrap_or_default()
            ),
            Record::UnitProfile(r) => r.unit_name.clone(),
            Record::MonthlyReport(r) => format!("{} 月报", r.month),
            Record::Campaign(r) => r.name.clone(),
            Record::Directory(_) => "人员名单".into(),
        }
    }

    /// A short status code for lists and filters.
    pub fn status(&self) -> String {
        match self {
            Record::Visit(r) => if r
                .demands
                .iter()
                .all(|d| d.status.is_some_and(|s| s.is_done()))
            {
                "done"
            } else {
                "open"
            }
            .into(),
            Record::Dispute(r) => if r.is_resolved() { "resolved" } else { "open" }.into(),
            Record::Petition(r) => r.status.map(|s| s.code()).unwrap_or("open").into(),
            Record::RiskAssessment(r) => r.result.map(|s| s.code()).unwrap_or("pending").into(),
            Record::Screening(r) => if r.found_nothing {
                "nothing_found"
            } else {
                "found"
            }
            .into(),
            Record::Inspection(r) => if r
                .problems
                .iter()
                .all(|p| p.status == Some(inspection::ProblemStatus::Verified))
            {
                "closed"
            } else {
                "open"
            }
            .into(),
            Record::UnitProfile(_) | Record::Campaign(_) | Record::Directory(_) => "active".into(),
            Record::MonthlyReport(r) => if r.submitted_on.is_some() {
                "submitted"
            } else {
                "draft"
            }
            .into(),
        }
    }
}

/// A checked edit produced from an [`Edit`] against a field description; internal to the
/// document layer.
#[derive(Debug, Clone)]
pub(crate) enum CheckedEdit {
    Set(&'static FieldSpec, FieldValue),
    Append(&'static FieldSpec, Vec<(&'static FieldSpec, FieldValue)>),
    SetInEntry(&'static FieldSpec, String, &'static FieldSpec, FieldValue),
}

/// Checks an edit's values against the kind's field descriptions.
pub(crate) fn check_edit(kind: RecordKind, edit: &Edit) -> Result<CheckedEdit> {
    let entry_specs = |list: &'static FieldSpec| match list.ty {
        FieldType::Entries(items) => Ok(items),
        _ => Err(Error::invalid(list.name(), "is not a list of entries")),
    };
    match edit {
        Edit::Set { field, value } => {
            let spec = kind.field(field)?;
            if matches!(spec.ty, FieldType::Entries(_)) {
                return Err(Error::invalid(
                    spec.name(),
                    "append entries to a list instead of setting it",
                ));
            }
            Ok(CheckedEdit::Set(spec, spec.check(value.clone())?))
        }
        Edit::Append { list, values } => {
            let spec = kind.field(list)?;
            let items = entry_specs(spec)?;
            let mut checked = Vec::new();
            for (k, v) in values {
                let item = field::find_field(items, k).ok_or_else(|| Error::UnknownField {
                    kind,
                    field: format!("{}.{k}", spec.key),
                })?;
                checked.push((item, item.check(v.clone())?));
            }
            for item in items {
                if matches!(item.ty, FieldType::ShortText { required: true })
                    && !checked.iter().any(|(s, _)| s.key == item.key)
                {
                    return Err(Error::invalid(item.name(), "must not be empty"));
                }
            }
            Ok(CheckedEdit::Append(spec, checked))
        }
        Edit::SetInEntry {
            list,
            entry,
            field,
            value,
        } => {
            let spec = kind.field(list)?;
            let items = entry_specs(spec)?;
            let item = field::find_field(items, field).ok_or_else(|| Error::UnknownField {
                kind,
                field: format!("{}.{field}", spec.key),
            })?;
            Ok(CheckedEdit::SetInEntry(
                spec,
                entry.clone(),
                item,
                item.check(value.clone())?,
            ))
        }
    }
}
