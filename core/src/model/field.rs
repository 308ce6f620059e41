//! Field descriptions shared by every record kind: what a field is called on the form, what
//! values it takes, and how a typed value is checked before it is written.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// Longest short text (names, titles, entry fields), in characters.
pub const MAX_SHORT_TEXT_CHARS: usize = 500;

/// Longest long text (基本情况, 处置难点, plans…), in characters: about 25 printed pages.
pub const MAX_LONG_TEXT_CHARS: usize = 50_000;

/// Most names in a name list (visitors, a case's team, a unit's own categories).
pub const MAX_NAMES: usize = 200;

/// Most entries in one entry list (工作措施, demands, progress log…).
pub const MAX_ENTRIES: usize = 2_000;

use crate::error::{Error, Result};

/// One allowed value of a choice field: the stored code and the label shown to people.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice {
    /// Stored code (ASCII, stable).
    pub code: &'static str,
    /// Label as the form or the plan spells it.
    pub label: &'static str,
}

/// What kind of value a field holds, and so how it is stored and merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// A short scalar text; concurrent different values become a conflict.
    ShortText {
        /// Whether an empty value is refused.
        required: bool,
    },
    /// A long text stored as Automerge text: concurrent typing merges character-wise.
    LongText,
    /// A whole number that is never negative.
    Count,
    /// Yes or no (是/否).
    Flag,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// One of a fixed list of codes.
    Choice(&'static [Choice]),
    /// A dispute category: one of the form's 17 or one a unit added.
    Category,
    /// A person (name or login).
    Person,
    /// The id of another record.
    RecordRef,
    /// A list of short names (visitors, team members); additions from several devices merge.
    Names,
    /// A list of entries (maps) that is only appended to; each entry has its own fields.
    Entries(&'static [FieldSpec]),
}

/// Description of one field of a record kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSpec {
    /// Key in the document and in the typed struct (snake_case ASCII).
    pub key: &'static str,
    /// Label as the form spells it (Chinese), used in exports and screens.
    pub label: &'static str,
    /// Value type.
    pub ty: FieldType,
}

/// A field value as written by an edit or read back from a document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FieldValue {
    /// No value (clears a field).
    Null,
    /// A yes/no value.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// Text, a date (`YYYY-MM-DD`), a choice code, a category, a person or a record id.
    Text(String),
    /// A list of names.
    List(Vec<String>),
}

impl FieldValue {
    /// Text value helper.
    pub fn text(s: impl Into<String>) -> Self {
        FieldValue::Text(s.into())
    }

    /// What kind of value this is (`text`, `number`…), for messages that must not quote it.
    pub fn type_name(&self) -> &'static str {
        match self {
            FieldValue::Null => "an empty value",
            FieldValue::Bool(_) => "a yes/no value",
            FieldValue::Int(_) => "a number",
            FieldValue::Text(_) => "a text",
            FieldValue::List(_) => "a list",
        }
    }

    /// A human-readable rendering (是/否 for flags).
    pub fn display(&self) -> String {
        match self {
            FieldValue::Null => String::new(),
            FieldValue::Bool(true) => "是".into(),
            FieldValue::Bool(false) => "否".into(),
            FieldValue::Int(n) => n.to_string(),
            FieldValue::Text(s) => s.clone(),
            FieldValue::List(l) => l.join("、"),
        }
    }

    /// Converts a JSON value read from a document into a field value.
    pub fn from_json(v: &serde_json::Value) -> Self {
        match v {
            serde_json::Value::Null => FieldValue::Null,
            serde_json::Value::Bool(b) => FieldValue::Bool(*b),
            serde_json::Value::Number(n) => FieldValue::Int(n.as_i64().unwrap_or_default()),
            serde_json::Value::String(s) => FieldValue::Text(s.clone()),
            serde_json::Value::Array(a) => FieldValue::List(
                a.iter()
                    .map(|x| {
                        x.as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| x.to_string())
                    })
                    .collect(),
            ),
            serde_json::Value::Object(_) => FieldValue::Text(v.to_string()),
        }
    }
}

/// Splits a typed list of names ("张三、李四, 王五") into names.
pub fn split_names(s: &str) -> Vec<String> {
    s.split([',', '，', '、', ';', '；'])
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Parses a yes/no word as people type it.
pub fn parse_flag(s: &str) -> Option<bool> {
    match s.trim().to_lowercase().as_str() {
        "是" | "yes" | "y" | "true" | "1" => Some(true),
        "否" | "no" | "n" | "false" | "0" => Some(false),
        _ => None,
    }
}

/// Parses a `YYYY-MM-DD` date.
pub fn parse_date(field: &str, s: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| Error::invalid(field, "is not a date (YYYY-MM-DD)"))
}

impl FieldSpec {
    /// `label (key)`, for messages.
    pub fn name(&self) -> String {
        format!("{} ({})", self.label, self.key)
    }

    /// Finds the choice with this code or label.
    pub fn choice(&self, s: &str) -> Option<Choice> {
        match self.ty {
            FieldType::Choice(choices) => choices
                .iter()
                .copied()
                .find(|c| c.code == s.trim() || c.label == s.trim()),
            _ => None,
        }
    }

    /// Parses a value typed as text (command line, forms) into a checked value.
    pub fn parse(&self, s: &str) -> Result<FieldValue> {
        let v = match self.ty {
            FieldType::Count => {
                let n: i64 = s
                    .trim()
                    .parse()
                    .map_err(|_| Error::invalid(self.name(), "is not a whole number"))?;
                FieldValue::Int(n)
            }
            FieldType::Flag => FieldValue::Bool(
                parse_flag(s)
                    .ok_or_else(|| Error::invalid(self.name(), "is not yes/no (是/否)"))?,
            ),
            FieldType::Names => FieldValue::List(split_names(s)),
            FieldType::Entries(_) => {
                return Err(Error::invalid(
                    self.name(),
                    "a list of entries is appended to, not set",
                ));
            }
            _ if s.trim().is_empty() => FieldValue::Null,
            _ => FieldValue::Text(s.to_owned()),
        };
        self.check(v)
    }

    /// Checks a value against the field's type and returns it normalised (choice labels become
    /// codes, short texts are trimmed).
    pub fn check(&self, v: FieldValue) -> Result<FieldValue> {
        let bad = |reason: String| Err(Error::invalid(self.name(), reason));
        match (self.ty, v) {
            (FieldType::ShortText { required: true }, FieldValue::Null) => {
                bad("must not be empty".into())
            }
            (FieldType::ShortText { required }, FieldValue::Text(s)) => {
                let t = s.trim();
                if required && t.is_empty() {
                    return bad("must not be empty".into());
                }
                if t.chars().count() > MAX_SHORT_TEXT_CHARS {
                    return bad(format!(
                        "is longer than {MAX_SHORT_TEXT_CHARS} characters; put details in a long text"
                    ));
                }
                Ok(FieldValue::Text(t.to_owned()))
            }
            (FieldType::LongText, FieldValue::Null) => Ok(FieldValue::Text(String::new())),
            (FieldType::LongText, FieldValue::Text(s)) => {
                if s.chars().count() > MAX_LONG_TEXT_CHARS {
                    return bad(format!(
                        "is longer than {MAX_LONG_TEXT_CHARS} characters; attach long documents \
                         elsewhere and summarise them here"
                    ));
                }
                Ok(FieldValue::Text(s))
            }
            (FieldType::Count, FieldValue::Int(n)) if n < 0 => {
                bad("is negative; a count is 0 or more".into())
            }
            (FieldType::Count, FieldValue::Int(n)) if n > 10_000_000 => {
                bad("is implausibly large (more than 10,000,000)".into())
            }
            (FieldType::Count, v @ FieldValue::Int(_)) => Ok(v),
            (FieldType::Flag, v @ FieldValue::Bool(_)) => Ok(v),
            (FieldType::Date, FieldValue::Text(s)) => {
                Ok(FieldValue::Text(parse_date(&self.name(), &s)?.to_string()))
            }
            (FieldType::Choice(_), FieldValue::Text(s)) => match self.choice(&s) {
                Some(c) => Ok(FieldValue::Text(c.code.to_owned())),
                None => {
                    let FieldType::Choice(all) = self.ty else {
                        unreachable!()
                    };
                    let list: Vec<String> = all
                        .iter()
                        .map(|c| format!("{} ({})", c.code, c.label))
                        .collect();
                    bad(format!("is not one of: {}", list.join(", ")))
                }
            },
            (
                FieldType::Category | FieldType::Person | FieldType::RecordRef,
                FieldValue::Text(s),
            ) => {
                let t = s.trim();
                if t.is_empty() {
                    return Ok(FieldValue::Null);
                }
                Ok(FieldValue::Text(t.to_owned()))
            }
            (FieldType::Names, FieldValue::List(l)) if l.len() > MAX_NAMES => {
                bad(format!("has more than {MAX_NAMES} names"))
            }
            (FieldType::Names, FieldValue::List(l))
                if l.iter().any(|x| x.chars().count() > MAX_SHORT_TEXT_CHARS) =>
            {
                bad(format!(
                    "has a name longer than {MAX_SHORT_TEXT_CHARS} characters"
                ))
            }
            (FieldType::Names, FieldValue::List(l)) => Ok(FieldValue::List(
                l.into_iter()
                    .map(|x| x.trim().to_owned())
                    .filter(|x| !x.is_empty())
                    .collect(),
            )),
            (
                FieldType::Date
                | FieldType::Choice(_)
                | FieldType::Category
                | FieldType::Person
                | FieldType::RecordRef
                | FieldType::ShortText { required: false },
                FieldValue::Null,
            ) => Ok(FieldValue::Null),
            (FieldType::Names, FieldValue::Null) => Ok(FieldValue::List(vec![])),
            (FieldType::Flag | FieldType::Count, FieldValue::Null) => Ok(FieldValue::Null),
            (_, v) => bad(format!("{} has the wrong type", v.type_name())),
        }
    }
}

/// Finds a field by key or by its form label.
pub fn find_field(specs: &'static [FieldSpec], name: &str) -> Option<&'static FieldSpec> {
    specs.iter().find(|f| f.key == name || f.label == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CH: &[Choice] = &[Choice {
        code: "a",
        label: "甲",
    }];

    #[test]
    fn counts_refuse_negative_numbers() {
        let f = FieldSpec {
            key: "people",
            label: "所涉人数",
            ty: FieldType::Count,
        };
        assert_eq!(f.parse("12").unwrap(), FieldValue::Int(12));
        let err = f.parse("-1").unwrap_err().to_string();
        assert!(
            err.contains("所涉人数") && err.contains("negative"),
            "{err}"
        );
        assert!(f.parse("x").is_err());
    }

    #[test]
    fn choices_accept_code_or_label_and_store_code() {
        let f = FieldSpec {
            key: "c",
            label: "选",
            ty: FieldType::Choice(CH),
        };
        assert_eq!(f.parse("甲").unwrap(), FieldValue::text("a"));
        assert_eq!(f.parse("a").unwrap(), FieldValue::text("a"));
        assert!(f.parse("乙").is_err());
    }

    #[test]
    fn flags_dates_names_parse() {
        let flag = FieldSpec {
            key: "f",
            label: "是否重大问题",
            ty: FieldType::Flag,
        };
        assert_eq!(flag.parse("是").unwrap(), FieldValue::Bool(true));
        assert_eq!(flag.parse("no").unwrap(), FieldValue::Bool(false));
        let date = FieldSpec {
            key: "d",
            label: "日期",
            ty: FieldType::Date,
        };
        assert!(date.parse("2019-13-01").is_err());
        assert_eq!(
            date.parse("2019-10-01").unwrap(),
            FieldValue::text("2019-10-01")
        );
        assert_eq!(
            split_names("张三、李四, 王五"),
            vec!["张三", "李四", "王五"]
        );
        let name = FieldSpec {
            key: "name",
            label: "名称",
            ty: FieldType::ShortText { required: true },
        };
        assert!(name.parse("  ").is_err());
    }
}
