//! Field descriptions for building forms, and the parsing of typed text into checked edits
//! through the core's field specs (so the app and the command line accept the same input).

use fieldledger_core::model::field::find_field;
use fieldledger_core::model::{self, FieldSpec, FieldType, FieldValue};
use fieldledger_core::{Edit, Error as CoreError};

use crate::error::Result;
use crate::records::RecordKind;

/// A field name and its value typed as text, as a form sends it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FieldPair {
    /// Field key (`people_involved`) or form label (`所涉人数`).
    pub field: String,
    /// Value as typed: text, `YYYY-MM-DD`, 是/否, a number, a choice code or label, names
    /// separated by 、 or commas; empty clears the field.
    pub value: String,
}

/// What kind of value a field takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum FieldKind {
    /// Short single-line text.
    ShortText,
    /// Long text; concurrent typing merges.
    LongText,
    /// Whole number, 0 or more.
    Count,
    /// Yes or no (是/否).
    Flag,
    /// Date, `YYYY-MM-DD`.
    Date,
    /// One of the listed choices.
    Choice,
    /// A dispute category (the form's 17 or one the unit added).
    Category,
    /// A person.
    Person,
    /// The id of another record.
    RecordRef,
    /// A list of names.
    Names,
    /// A list of entries, appended to with `append_entry`.
    Entries,
}

/// One allowed value of a choice field.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ChoiceInfo {
    /// Stored code.
    pub code: String,
    /// Label shown to people.
    pub label: String,
}

/// One field of an entry of a list field.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct EntryFieldInfo {
    /// Key.
    pub key: String,
    /// Form label.
    pub label: String,
    /// Value kind.
    pub kind: FieldKind,
    /// Whether it must not be empty.
    pub required: bool,
    /// Choices, for a choice field.
    pub choices: Vec<ChoiceInfo>,
}

/// One field of a record kind, for building its form.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FieldInfo {
    /// Key.
    pub key: String,
    /// Form label.
    pub label: String,
    /// Value kind.
    pub kind: FieldKind,
    /// Whether it must not be empty.
    pub required: bool,
    /// Choices, for a choice field.
    pub choices: Vec<ChoiceInfo>,
    /// Fields of each entry, for a list of entries.
    pub entry_fields: Vec<EntryFieldInfo>,
}

fn kind_of(ty: FieldType) -> (FieldKind, bool, Vec<ChoiceInfo>) {
    match ty {
        FieldType::ShortText { required } => (FieldKind::ShortText, required, vec![]),
        FieldType::LongText => (FieldKind::LongText, false, vec![]),
        FieldType::Count => (FieldKind::Count, false, vec![]),
        FieldType::Flag => (FieldKind::Flag, false, vec![]),
        FieldType::Date => (FieldKind::Date, false, vec![]),
        FieldType::Choice(all) => (
            FieldKind::Choice,
            false,
            all.iter()
                .map(|c| ChoiceInfo {
                    code: c.code.to_owned(),
                    label: c.label.to_owned(),
                })
                .collect(),
        ),
        FieldType::Category => (FieldKind::Category, false, vec![]),
        FieldType::Person => (FieldKind::Person, false, vec![]),
        FieldType::RecordRef => (FieldKind::RecordRef, false, vec![]),
        FieldType::Names => (FieldKind::Names, false, vec![]),
        FieldType::Entries(_) => (FieldKind::Entries, false, vec![]),
    }
}

/// Encrypts a store file written by an app version before encryption, in place, with `key`
/// (32 bytes from the platform keystore). Call once, before `FieldStore.open`, when opening
/// with the key fails with `WrongKey` on an old install.
#[uniffi::export]
pub fn encrypt_plaintext_store(path: String, key: Vec<u8>) -> crate::error::Result<()> {
    Ok(fieldledger_core::Store::encrypt_plaintext_file(
        &path, &key,
    )?)
}

/// The fields of a record kind in form order, with labels, value kinds and choices.
#[uniffi::export]
pub fn record_fields(kind: RecordKind) -> Vec<FieldInfo> {
    model::RecordKind::from(kind)
        .fields()
        .iter()
        .map(|spec| {
            let (kind, required, choices) = kind_of(spec.ty);
            let entry_fields = match spec.ty {
                FieldType::Entries(items) => items
                    .iter()
                    .map(|item| {
                        let (kind, required, choices) = kind_of(item.ty);
                        EntryFieldInfo {
                            key: item.key.to_owned(),
                            label: item.label.to_owned(),
                            kind,
                            required,
                            choices,
                        }
                    })
                    .collect(),
                _ => vec![],
            };
            FieldInfo {
                key: spec.key.to_owned(),
                label: spec.label.to_owned(),
                kind,
                required,
                choices,
                entry_fields,
            }
        })
        .collect()
}

/// The entry fields of a list field, or an error naming the field if it is not a list.
fn entry_specs(list: &'static FieldSpec) -> Result<&'static [FieldSpec]> {
    match list.ty {
        FieldType::Entries(items) => Ok(items),
        _ => Err(CoreError::invalid(
            list.name(),
            "is not a list of entries; set it with set_field",
        )
        .into()),
    }
}

/// `field = value` typed as text, checked and turned into a `Set` edit.
pub(crate) fn set_edit(kind: model::RecordKind, field: &str, value: &str) -> Result<Edit> {
    let spec = kind.field(field)?;
    Ok(Edit::Set {
        field: spec.key.to_owned(),
        value: spec.parse(value)?,
    })
}

/// Pairs typed as text turned into `Set` edits.
pub(crate) fn set_edits(kind: model::RecordKind, pairs: &[FieldPair]) -> Result<Vec<Edit>> {
    pairs
        .iter()
        .map(|p| set_edit(kind, &p.field, &p.value))
        .collect()
}

/// The key of a list field and the parsed values of a new entry.
pub(crate) fn entry_values(
    kind: model::RecordKind,
    list: &str,
    pairs: &[FieldPair],
) -> Result<(&'static str, Vec<(String, FieldValue)>)> {
    let spec = kind.field(list)?;
    let items = entry_specs(spec)?;
    let values = pairs
        .iter()
        .map(|p| {
            let item = find_field(items, &p.field).ok_or_else(|| CoreError::UnknownField {
                kind,
                field: format!("{}.{}", spec.key, p.field),
            })?;
            Ok((item.key.to_owned(), item.parse(&p.value)?))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((spec.key, values))
}

/// A `SetInEntry` edit of one field of one entry, the value typed as text.
pub(crate) fn entry_edit(
    kind: model::RecordKind,
    list: &str,
    entry: &str,
    field: &str,
    value: &str,
) -> Result<Edit> {
    let spec = kind.field(list)?;
    let items = entry_specs(spec)?;
    let item = find_field(items, field).ok_or_else(|| CoreError::UnknownField {
        kind,
        field: format!("{}.{field}", spec.key),
    })?;
    Ok(Edit::SetInEntry {
        list: spec.key.to_owned(),
        entry: entry.to_owned(),
        field: item.key.to_owned(),
        value: item.parse(value)?,
    })
}

/// Parses the text of a value for a conflict's field path (`key` or `list/entry/key`).
pub(crate) fn parse_at_path(
    kind: model::RecordKind,
    path: &str,
    value: &str,
) -> Result<FieldValue> {
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        ["_unit"] => Ok(FieldValue::text(value.trim())),
        [key] => Ok(kind.field(key)?.parse(value)?),
        [list, _entry, key] => {
            let items = entry_specs(kind.field(list)?)?;
            let item = find_field(items, key).ok_or_else(|| CoreError::UnknownField {
                kind,
                field: format!("{list}.{key}"),
            })?;
            Ok(item.parse(value)?)
        }
        _ => Err(CoreError::NoConflict(path.to_owned()).into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::FfiError;

    fn pair(f: &str, v: &str) -> FieldPair {
        FieldPair {
            field: f.into(),
            value: v.into(),
        }
    }

    #[test]
    fn typed_text_becomes_checked_values_by_key_or_label() {
        let k = model::RecordKind::Dispute;
        let edits = set_edits(k, &[pair("所涉人数", "12"), pair("trend", "有升级风险")]).unwrap();
        assert_eq!(
            edits,
            vec![
                Edit::set("people_involved", FieldValue::Int(12)),
                Edit::set("trend", FieldValue::text("escalating")),
            ]
        );
        assert!(matches!(
            set_edit(k, "people_involved", "-3"),
            Err(FfiError::InvalidValue(_))
        ));
        assert!(matches!(
            set_edit(k, "nope", "1"),
            Err(FfiError::UnknownField(_))
        ));
        assert!(matches!(
            set_edit(k, "measures", "x"),
            Err(FfiError::InvalidValue(_))
        ));
    }

    #[test]
    fn entries_and_paths_parse_against_their_entry_fields() {
        let k = model::RecordKind::Dispute;
        let (list, values) = entry_values(
            k,
            "工作措施",
            &[pair("date", "2019-10-02"), pair("措施", "走访")],
        )
        .unwrap();
        assert_eq!(list, "measures");
        assert_eq!(values[0], ("date".into(), FieldValue::text("2019-10-02")));
        assert!(matches!(
            entry_values(k, "name", &[]),
            Err(FfiError::InvalidValue(_))
        ));
        assert_eq!(
            parse_at_path(k, "measures/e1/what", "调解").unwrap(),
            FieldValue::text("调解")
        );
        assert_eq!(
            parse_at_path(k, "is_major", "是").unwrap(),
            FieldValue::Bool(true)
        );
        let fields = record_fields(RecordKind::Dispute);
        let trend = fields.iter().find(|f| f.key == "trend").unwrap();
        assert_eq!(trend.kind, FieldKind::Choice);
        assert_eq!(trend.choices.len(), 4);
        let measures = fields.iter().find(|f| f.key == "measures").unwrap();
        assert_eq!(measures.entry_fields.len(), 3);
    }
}
