//! Values typed as text — the app's forms, the command line, the dashboard — turned into
//! checked [`Edit`]s, and the one grammar of field paths: `key`, `list/entry/key` for a field
//! of one entry of a list, and `_meta` (`_unit`) for record meta. Every name may be a key or
//! its form label (`状态趋势`, `工作措施/ENTRY/内容`).

use std::fmt;

use super::field::find_field;
use super::{Edit, FieldSpec, FieldType, FieldValue, RecordKind};
use crate::error::{Error, Result};

/// A field of a record kind named by a path, resolved against the kind's field specs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldPath {
    /// A field of the record (`trend`).
    Field(&'static FieldSpec),
    /// A field of one entry of a list (`measures/ENTRY/what`).
    EntryField {
        /// The list field.
        list: &'static FieldSpec,
        /// The entry's id.
        entry: String,
        /// The field of the entry.
        field: &'static FieldSpec,
    },
    /// Record meta kept at the document's root (`_unit`).
    Meta(String),
}

impl FieldPath {
    /// Resolves `path` (names as keys or form labels) against the fields of `kind`.
    pub fn parse(kind: RecordKind, path: &str) -> Result<FieldPath> {
        let parts: Vec<&str> = path.split('/').collect();
        match parts.as_slice() {
            [meta] if meta.starts_with('_') => Ok(FieldPath::Meta((*meta).to_owned())),
            [key] => Ok(FieldPath::Field(kind.field(key)?)),
            [list, entry, key] => {
                let list = kind.field(list)?;
                Ok(FieldPath::EntryField {
                    list,
                    entry: (*entry).to_owned(),
                    field: entry_field(kind, list, key)?,
                })
            }
            _ => Err(Error::UnknownField {
                kind,
                field: path.to_owned(),
            }),
        }
    }

    /// The spec of the value at this path (none for meta).
    pub fn spec(&self) -> Option<&'static FieldSpec> {
        match self {
            FieldPath::Field(spec) | FieldPath::EntryField { field: spec, .. } => Some(spec),
            FieldPath::Meta(_) => None,
        }
    }

    /// Parses a value typed as text for this path (meta values are trimmed text).
    pub fn parse_value(&self, text: &str) -> Result<FieldValue> {
        match self.spec() {
            Some(spec) => parse_value(spec, text),
            None => Ok(FieldValue::text(text.trim())),
        }
    }

    /// The edit that sets this path to `value`.
    pub fn edit(&self, value: FieldValue) -> Edit {
        match self {
            FieldPath::Field(spec) => Edit::set(spec.key, value),
            FieldPath::EntryField { list, entry, field } => Edit::SetInEntry {
                list: list.key.to_owned(),
                entry: entry.clone(),
                field: field.key.to_owned(),
                value,
            },
            FieldPath::Meta(key) => Edit::set(key, value),
        }
    }
}

/// The path spelled with keys, as conflicts name fields.
impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldPath::Field(spec) => f.write_str(spec.key),
            FieldPath::EntryField { list, entry, field } => {
                write!(f, "{}/{entry}/{}", list.key, field.key)
            }
            FieldPath::Meta(key) => f.write_str(key),
        }
    }
}

/// Parses a value typed as text for a field: browser line ends (`\r\n`) become `\n`, and an
/// empty count or yes/no clears the field like an empty text does.
pub fn parse_value(spec: &FieldSpec, text: &str) -> Result<FieldValue> {
    let text = text.replace("\r\n", "\n");
    match spec.ty {
        FieldType::Flag | FieldType::Count if text.trim().is_empty() => Ok(FieldValue::Null),
        _ => spec.parse(&text),
    }
}

/// The fields of each entry of a list field, or an error naming the field if it is no list.
pub fn entry_fields(list: &'static FieldSpec) -> Result<&'static [FieldSpec]> {
    match list.ty {
        FieldType::Entries(items) => Ok(items),
        _ => Err(Error::invalid(list.name(), "is not a list of entries")),
    }
}

/// The field `name` (key or label) of the entries of `list`.
pub fn entry_field(
    kind: RecordKind,
    list: &'static FieldSpec,
    name: &str,
) -> Result<&'static FieldSpec> {
    find_field(entry_fields(list)?, name).ok_or_else(|| Error::UnknownField {
        kind,
        field: format!("{}.{name}", list.key),
    })
}

/// `field = text` checked and turned into a `Set` edit.
pub fn set_edit(kind: RecordKind, field: &str, text: &str) -> Result<Edit> {
    let path = FieldPath::Field(kind.field(field)?);
    Ok(path.edit(path.parse_value(text)?))
}

/// `(field, text)` pairs checked and turned into `Set` edits.
pub fn set_edits<F: AsRef<str>, T: AsRef<str>>(
    kind: RecordKind,
    pairs: impl IntoIterator<Item = (F, T)>,
) -> Result<Vec<Edit>> {
    pairs
        .into_iter()
        .map(|(f, t)| set_edit(kind, f.as_ref(), t.as_ref()))
        .collect()
}

/// The key of a list field and the checked values of a new entry from `(field, text)` pairs.
pub fn entry_values<F: AsRef<str>, T: AsRef<str>>(
    kind: RecordKind,
    list: &str,
    pairs: impl IntoIterator<Item = (F, T)>,
) -> Result<(&'static str, Vec<(String, FieldValue)>)> {
    let list = kind.field(list)?;
    entry_fields(list)?;
    let values = pairs
        .into_iter()
        .map(|(f, t)| {
            let item = entry_field(kind, list, f.as_ref())?;
            Ok((item.key.to_owned(), parse_value(item, t.as_ref())?))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((list.key, values))
}

/// An `Append` edit of a new entry of `list` from `(field, text)` pairs.
pub fn append_edit<F: AsRef<str>, T: AsRef<str>>(
    kind: RecordKind,
    list: &str,
    pairs: impl IntoIterator<Item = (F, T)>,
) -> Result<Edit> {
    let (list, values) = entry_values(kind, list, pairs)?;
    Ok(Edit::Append {
        list: list.to_owned(),
        values,
    })
}

/// A `SetInEntry` edit of one field of one entry, the value typed as text.
pub fn entry_edit(
    kind: RecordKind,
    list: &str,
    entry: &str,
    field: &str,
    text: &str,
) -> Result<Edit> {
    let list = kind.field(list)?;
    let path = FieldPath::EntryField {
        list,
        entry: entry.to_owned(),
        field: entry_field(kind, list, field)?,
    };
    Ok(path.edit(path.parse_value(text)?))
}

/// Splits `FIELD=VALUE` as typed on a command line.
pub fn assignment(text: &str) -> Result<(&str, &str)> {
    text.split_once('=')
        .ok_or_else(|| Error::invalid(format!("`{text}`"), "is not FIELD=VALUE"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_text_becomes_checked_values_by_key_or_label() {
        let k = RecordKind::Dispute;
        let edits = set_edits(k, [("所涉人数", "12"), ("trend", "有升级风险")]).unwrap();
        assert_eq!(
            edits,
            vec![
                Edit::set("people_involved", FieldValue::Int(12)),
                Edit::set("trend", FieldValue::text("escalating")),
            ]
        );
        assert_eq!(
            set_edit(k, "people_involved", " ").unwrap(),
            Edit::set("people_involved", FieldValue::Null)
        );
        assert!(matches!(
            set_edit(k, "people_involved", "-3"),
            Err(Error::InvalidValue { .. })
        ));
        assert!(matches!(
            set_edit(k, "nope", "1"),
            Err(Error::UnknownField { .. })
        ));
        assert!(matches!(
            set_edit(k, "measures", "x"),
            Err(Error::InvalidValue { .. })
        ));
        assert_eq!(
            set_edit(k, "situation", "a\r\nb").unwrap(),
            Edit::set("situation", FieldValue::text("a\nb"))
        );
    }

    #[test]
    fn paths_spell_labels_as_keys_and_parse_values_of_their_field() {
        let k = RecordKind::Dispute;
        let path = FieldPath::parse(k, "工作措施/e1/措施").unwrap();
        assert_eq!(path.to_string(), "measures/e1/what");
        assert_eq!(path.parse_value("调解").unwrap(), FieldValue::text("调解"));
        assert_eq!(
            FieldPath::parse(k, "状态趋势").unwrap().to_string(),
            "trend"
        );
        let unit = FieldPath::parse(k, "_unit").unwrap();
        assert_eq!(unit.spec(), None);
        assert_eq!(unit.parse_value(" WJK ").unwrap(), FieldValue::text("WJK"));
        assert!(FieldPath::parse(k, "name/e1/what").is_err());
        assert!(FieldPath::parse(k, "measures/e1/nope").is_err());
        assert!(FieldPath::parse(k, "a/b").is_err());
        assert_eq!(
            FieldPath::parse(k, "is_major")
                .unwrap()
                .parse_value("是")
                .unwrap(),
            FieldValue::Bool(true)
        );
    }

    #[test]
    fn entries_parse_against_their_entry_fields() {
        let k = RecordKind::Dispute;
        let edit = append_edit(k, "工作措施", [("date", "2019-10-02"), ("措施", "走访")]).unwrap();
        let Edit::Append { list, values } = edit else {
            panic!("not an append: {edit:?}")
        };
        assert_eq!(list, "measures");
        assert_eq!(values[0], ("date".into(), FieldValue::text("2019-10-02")));
        assert!(matches!(
            entry_values(k, "name", [] as [(&str, &str); 0]),
            Err(Error::InvalidValue { .. })
        ));
        assert!(matches!(
            entry_values(k, "measures", [("nope", "b")]),
            Err(Error::UnknownField { .. })
        ));
        assert_eq!(assignment("a=b=c").unwrap(), ("a", "b=c"));
        assert!(assignment("ab").is_err());
    }
}
