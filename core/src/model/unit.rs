//! A unit's reference data shared with its devices: its own categories and its visit targets.

use serde::{Deserialize, Serialize};

use super::RecordMeta;
use super::field::{FieldSpec, FieldType};

const TARGET_FIELDS: &[FieldSpec] = &[
    FieldSpec {
        key: "code",
        label: "编号",
        ty: FieldType::ShortText { required: true },
    },
    FieldSpec {
        key: "name",
        label: "走访对象",
        ty: FieldType::ShortText { required: true },
    },
    FieldSpec {
        key: "kind",
        label: "对象类型",
        ty: FieldType::ShortText { required: false },
    },
    FieldSpec {
        key: "place",
        label: "地点",
        ty: FieldType::ShortText { required: false },
    },
];

/// Fields of a unit profile.
pub const FIELDS: &[FieldSpec] = &[
    FieldSpec {
        key: "unit_name",
        label: "单位名称",
        ty: FieldType::ShortText { required: true },
    },
    FieldSpec {
        key: "categories",
        label: "自定义类型",
        ty: FieldType::Names,
    },
    FieldSpec {
        key: "visit_targets",
        label: "走访对象名单",
        ty: FieldType::Entries(TARGET_FIELDS),
    },
];

/// A visit target of a unit (for coverage, 走访全覆盖).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VisitTarget {
    /// Entry id.
    pub id: String,
    /// Code visits refer to.
    #[serde(default)]
    pub code: String,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Household, person, organisation.
    #[serde(default)]
    pub kind: Option<String>,
    /// Place.
    #[serde(default)]
    pub place: Option<String>,
}

/// A unit's profile: created by the relay when the unit is added, synced to its devices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitProfile {
    /// Id, unit.
    #[serde(flatten)]
    pub meta: RecordMeta,
    /// Unit name.
    #[serde(default)]
    pub unit_name: String,
    /// Categories the unit added (可自行添加): a set, in the order first added (the same
    /// category added on two offline devices is listed once).
    #[serde(default, deserialize_with = "distinct_names")]
    pub categories: Vec<String>,
    /// Visit targets.
    #[serde(default)]
    pub visit_targets: Vec<VisitTarget>,
}

/// The id of a unit's profile document: derived from the unit code so every device finds it.
pub fn profile_id(unit: &str) -> String {
    format!("unit-{unit}")
}

/// Reads a list of names keeping each name once, at its first place.
fn distinct_names<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let mut out: Vec<String> = Vec::new();
    for name in Vec::<String>::deserialize(d)? {
        if !out.contains(&name) {
            out.push(name);
        }
    }
    Ok(out)
}
