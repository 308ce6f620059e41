//! A field's value as a dashboard page shows it.

use fieldledger_core::model::{FieldSpec, FieldType, FieldValue};
use serde_json::Value;

/// A field's value as people read it: 是/否, choice labels, names joined with 、.
pub(crate) fn shown(spec: &FieldSpec, v: Option<&Value>) -> String {
    match (spec.ty, v) {
        (_, None | Some(Value::Null)) => String::new(),
        (FieldType::Flag, Some(Value::Bool(b))) => if *b { "是" } else { "否" }.into(),
        (FieldType::Choice(choices), Some(Value::String(s))) => choices
            .iter()
            .find(|c| c.code == s)
            .map_or_else(|| s.clone(), |c| c.label.to_owned()),
        (FieldType::Names, Some(Value::Array(a))) => a
            .iter()
            .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned))
            .collect::<Vec<_>>()
            .join("、"),
        (_, Some(Value::String(s))) => s.clone(),
        (_, Some(v)) => FieldValue::from_json(v).display(),
    }
}
