//! Field descriptions for building forms, and typed text as (field, value) pairs, parsed by
//! `fieldledger-client`'s input parsing (so the app, the command line and the dashboard accept
//! the same input).

use fieldledger_client::input;
use fieldledger_core::Edit;
use fieldledger_core::model::{self, FieldType, FieldValue};

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

/// The (field, text) of each pair, as the client's input parsing takes them.
fn texts(pairs: &[FieldPair]) -> impl Iterator<Item = (&str, &str)> {
    pairs.iter().map(|p| (p.field.as_str(), p.value.as_str()))
}

/// Pairs typed as text turned into `Set` edits.
pub(crate) fn set_edits(kind: model::RecordKind, pairs: &[FieldPair]) -> Result<Vec<Edit>> {
    Ok(input::set_edits(kind, texts(pairs))?)
}

/// The key of a list field and the parsed values of a new entry.
pub(crate) fn entry_values(
    kind: model::RecordKind,
    list: &str,
    pairs: &[FieldPair],
) -> Result<(&'static str, Vec<(String, FieldValue)>)> {
    Ok(input::entry_values(kind, list, texts(pairs))?)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::error::FfiError;

    /// A field and its typed text, as an app sends them.
    pub(crate) fn pair(f: &str, v: &str) -> FieldPair {
        FieldPair {
            field: f.into(),
            value: v.into(),
        }
    }

    #[test]
    fn typed_pairs_become_checked_values_by_key_or_label() {
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
            set_edits(k, &[pair("people_involved", "-3")]),
            Err(FfiError::InvalidValue(_))
        ));
        assert!(matches!(
            set_edits(k, &[pair("nope", "1")]),
            Err(FfiError::UnknownField(_))
        ));
        assert!(matches!(
            set_edits(k, &[pair("measures", "x")]),
            Err(FfiError::InvalidValue(_))
        ));
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
    }

    #[test]
    fn forms_describe_choices_and_entry_fields() {
        let fields = record_fields(RecordKind::Dispute);
        let trend = fields.iter().find(|f| f.key == "trend").unwrap();
        assert_eq!(trend.kind, FieldKind::Choice);
        assert_eq!(trend.choices.len(), 4);
        let measures = fields.iter().find(|f| f.key == "measures").unwrap();
        assert_eq!(measures.entry_fields.len(), 3);
    }
}
