//! One record: every field with the form's labels, its lists of entries, its conflicts (each
//! value with who set it and when, and a button to choose it), an edit form, and its history.
//!
//! Every change made here goes through the relay's store as the signed-in user (device `web`):
//! checked by the same field descriptions and rules as a device's edit, recorded in the
//! record's history, and sent to the devices in scope on their next sync.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use fieldledger_core::access;
use fieldledger_core::doc::Conflict;
use fieldledger_core::model::field::find_field;
use fieldledger_core::model::input::{FieldPath, entry_fields};
use fieldledger_core::model::inspection::{PROBLEM_STATUSES, ProblemStatus};
use fieldledger_core::model::risk::RiskResult;
use fieldledger_core::model::visit::{DEMAND_STATUSES, DemandStatus};
use fieldledger_core::model::{
    Author, Choice, FieldSpec, FieldType, FieldValue, PetitionCase, Record, RecordKind,
    RiskAssessment,
};
use fieldledger_core::report::{Calendar, Campaign};
use fieldledger_core::{Edit, Store};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::error::{WebError, core_message};
use super::layout::{self, Layout, Opt, local_time, render, unit_label};
use super::value::shown;
use super::viewer::{Viewer, WEB_DEVICE};
use crate::accounts::Unit;
use crate::error::RelayError;
use crate::records::RecordWrite;
use crate::state::AppState;

/// Lists whose entries are written by their own actions (销号 / 重新打开), not appended by hand.
const ACTION_LISTS: [&str; 1] = ["signoffs"];

/// Names of people and devices, to show history and conflicts readably.
struct Directory {
    users: HashMap<String, String>,
    devices: HashMap<String, String>,
    units: BTreeMap<String, Unit>,
}

impl Directory {
    fn user(&self, login: &str) -> String {
        if login == "relay" {
            return "中继服务".into();
        }
        match self.users.get(login) {
            Some(name) if name != login => format!("{name}（{login}）"),
            _ => login.to_owned(),
        }
    }

    fn device(&self, id: &str) -> String {
        if id == WEB_DEVICE {
            return "网页工作台".into();
        }
        self.devices
            .get(id)
            .cloned()
            .unwrap_or_else(|| id.to_owned())
    }
}

async fn directory(state: &AppState) -> Result<Directory, WebError> {
    let (users, devices) = state
        .read_accounts(|a| Ok((a.list_users()?, a.list_devices()?)))
        .await?;
    let units = layout::units(state).await?;
    Ok(Directory {
        users: users.into_iter().map(|u| (u.login, u.name)).collect(),
        devices: devices
            .into_iter()
            .map(|d| {
                let label = match d.label {
                    Some(l) => format!("{}（{l}）", d.code),
                    None => d.code.clone(),
                };
                (d.id, label)
            })
            .collect(),
        units,
    })
}

struct FieldView {
    key: &'static str,
    label: &'static str,
    value: String,
    link: Option<String>,
    long: bool,
    conflict: bool,
}

/// One input of a form, as `input.html` draws it.
pub(crate) struct Input {
    pub(crate) key: &'static str,
    pub(crate) name: String,
    pub(crate) id: String,
    pub(crate) label: &'static str,
    pub(crate) kind: &'static str,
    pub(crate) value: String,
    pub(crate) orig: String,
    pub(crate) options: Vec<Opt>,
    pub(crate) required: bool,
}

struct ListView {
    key: &'static str,
    label: &'static str,
    headers: Vec<&'static str>,
    rows: Vec<RowView>,
    inputs: Vec<Input>,
    /// Whether the list's entries move along a workflow (a last column with the steps).
    has_steps: bool,
}

/// One entry of a list as a table row.
struct RowView {
    cells: Vec<String>,
    step: Option<StepView>,
}

/// The next workflow steps of one entry (a demand's 办理状态, a problem's 整改状态) the viewer
/// may take: one button per status it may move to.
struct StepView {
    list: &'static str,
    entry: String,
    /// Status code and button text.
    buttons: Vec<(&'static str, String)>,
    /// The response text sent with the step (群众诉求: 答复情况), with its label.
    response: Option<(&'static str, String)>,
    /// Shown instead of buttons when the viewer has no step to take.
    waiting: &'static str,
}

/// 销号管理 of a petition case: what its status allows and what the viewer may do.
struct SignOffView {
    status: &'static str,
    leader: String,
    may_sign_off: bool,
    may_reopen: bool,
    hint: String,
    /// The note typed before a refusal.
    note: String,
}

struct ChoiceView {
    shown: String,
    json: String,
    user: String,
    device: String,
    at: String,
}

struct ConflictView {
    field: String,
    label: String,
    values: Vec<ChoiceView>,
}

struct HistoryView {
    at: String,
    user: String,
    device: String,
    action: String,
    fields: String,
}

#[derive(Template)]
#[template(path = "record.html")]
struct RecordPage {
    layout: Layout,
    /// The list the record is on (crumbs).
    list_path: &'static str,
    list_title: &'static str,
    id: String,
    kind_label: &'static str,
    number: String,
    title: String,
    unit: String,
    created: String,
    fields: Vec<FieldView>,
    lists: Vec<ListView>,
    conflicts: Vec<ConflictView>,
    inputs: Vec<Input>,
    history: Vec<HistoryView>,
    /// Labels of the kind's personal fields (what an erasure clears), for the office's form.
    personal_labels: String,
    /// A risk assessment's consequence: whether the decision may proceed (class, text).
    proceed: Option<(&'static str, &'static str)>,
    signoff: Option<SignOffView>,
    /// Whom a person field is chosen from: (login, name and unit), from the directory of users.
    people: Vec<(String, String)>,
    notice: Option<&'static str>,
    error: Option<String>,
}

/// Loads a record if the viewer may see it (a record of their units, or a petition case they
/// lead, as sync decides); unknown and out-of-scope look the same.
fn scoped(store: &Store, viewer: &Viewer, id: &str) -> Result<Record, RelayError> {
    let record = store.record(id)?;
    if access::may_access_record(&viewer.identity().author, &record) {
        Ok(record)
    } else {
        Err(RelayError::Core(fieldledger_core::Error::UnknownRecord(
            id.to_owned(),
        )))
    }
}

/// Whether a core error is the user's to fix (shown on the page) rather than a failure.
pub(crate) fn users_to_fix(e: &fieldledger_core::Error) -> bool {
    use fieldledger_core::Error as E;
    matches!(
        e,
        E::InvalidValue { .. }
            | E::UnknownField { .. }
            | E::UnknownCategory(_)
            | E::RuleViolation(_)
            | E::NoConflict(_)
            | E::PermissionDenied(_)
            | E::UnknownEntry { .. }
    )
}

/// A field's value as the edit form holds it (choice codes, 是/否, names joined with 、).
fn form_value(spec: &FieldSpec, v: Option<&Value>) -> String {
    match (spec.ty, v) {
        (FieldType::Choice(_), Some(Value::String(s))) => s.clone(),
        _ => shown(spec, v),
    }
}

/// A form value with the browser's line ends (`\r\n`) as `\n`.
pub(crate) fn normalize(s: &str) -> String {
    s.replace("\r\n", "\n")
}

/// A short digest of a form value, so a submitted form changes only the fields the person
/// changed (not fields someone else changed since the page was shown).
fn digest(s: &str) -> String {
    hex::encode(&Sha256::digest(normalize(s).as_bytes())[..12])
}

/// Parses a submitted form value for a field, as every surface parses typed text.
pub(crate) use fieldledger_core::model::input::parse_value as parse_input;

/// Fields the edit form offers: all but lists (appended to separately) and links to other
/// records (set by the actions that make them).
fn editable(kind: RecordKind) -> impl Iterator<Item = &'static FieldSpec> {
    kind.fields()
        .iter()
        .filter(|f| !matches!(f.ty, FieldType::Entries(_) | FieldType::RecordRef))
}

/// The form input for a field: its label, the widget its type needs, the value shown.
pub(crate) fn input(
    spec: &'static FieldSpec,
    prefix: &str,
    value: String,
    orig: Option<String>,
    categories: &[String],
) -> Input {
    let (kind, options) = match spec.ty {
        FieldType::LongText => ("textarea", Vec::new()),
        FieldType::Count => ("number", Vec::new()),
        FieldType::Date => ("date", Vec::new()),
        FieldType::Flag => (
            "select",
            vec![
                Opt::new("", "（未填）", &value),
                Opt::new("是", "是", &value),
                Opt::new("否", "否", &value),
            ],
        ),
        FieldType::Choice(choices) => {
            let mut o = vec![Opt::new("", "（未填）", &value)];
            o.extend(choices.iter().map(|c| Opt::new(c.code, c.label, &value)));
            ("select", o)
        }
        FieldType::Category => {
            let mut o = vec![Opt::new("", "（未填）", &value)];
            o.extend(
                categories
                    .iter()
                    .map(|c| Opt::new(c.clone(), c.clone(), &value)),
            );
            if !value.is_empty() && !categories.contains(&value) {
                o.push(Opt::new(value.clone(), value.clone(), &value));
            }
            ("select", o)
        }
        // A person: typed freely, or chosen from the directory of users (the page's list).
        FieldType::Person => ("person", Vec::new()),
        _ => ("text", Vec::new()),
    };
    Input {
        key: spec.key,
        name: format!("{prefix}.{}", spec.key),
        id: format!("{prefix}-{}", spec.key),
        label: spec.label,
        kind,
        orig: orig.unwrap_or_default(),
        options,
        required: matches!(spec.ty, FieldType::ShortText { required: true }),
        value,
    }
}

/// The spec of a conflict's field path: `key`, or `list/entry/key` for a field of an entry.
fn spec_for_path(kind: RecordKind, path: &str) -> Option<&'static FieldSpec> {
    FieldPath::parse(kind, path).ok()?.spec()
}

fn action_label(action: Option<&str>) -> String {
    match action {
        Some("create") => "创建".into(),
        Some("resolve_conflict") => "裁决冲突".into(),
        Some("sign_off") => "销号".into(),
        Some("reopen") => "重新打开".into(),
        Some("move_unit") => "移交单位".into(),
        Some(other) => other.to_owned(),
        None => "修改".into(),
    }
}

fn field_label(kind: RecordKind, key: &str) -> String {
    let head = key.split('/').next().unwrap_or(key);
    match head {
        "_created" => "（新建）".into(),
        "_unit" => "所属单位".into(),
        _ => kind
            .field(head)
            .map_or_else(|_| head.to_owned(), |f| f.label.to_owned()),
    }
}

/// What a failed form left to show again: the message and the values the person typed.
struct Retry {
    error: String,
    values: HashMap<String, String>,
}

#[allow(clippy::too_many_arguments)]
fn build_page(
    store: &Store,
    viewer: &Viewer,
    dir: &Directory,
    id: &str,
    notice: Option<&'static str>,
    retry: Option<Retry>,
) -> Result<RecordPage, RelayError> {
    let campaign = Calendar::load(store, None)?.at(store.now_ms());
    let record = scoped(store, viewer, id)?;
    let meta = record.meta().clone();
    let kind = meta.kind;
    let json = serde_json::to_value(&record).map_err(|e| RelayError::Internal(e.to_string()))?;
    let conflicts = store.conflicts(id)?;
    let history = store.history(id)?;
    let categories = store.categories(&meta.unit)?;
    let today = campaign.local_date(store.now_ms()).to_string();
    let in_conflict: HashSet<&str> = conflicts
        .iter()
        .map(|c| c.field.split('/').next().unwrap_or(&c.field))
        .collect();
    let typed = retry.as_ref().map(|r| &r.values);
    let author = viewer.identity().author;
    // The document's own entries, read only if an entry's time is missing from the index.
    let mut raw = None;

    let mut fields = Vec::new();
    let mut lists = Vec::new();
    for spec in kind.fields() {
        let v = json.get(spec.key);
        if let FieldType::Entries(items) = spec.ty {
            let mut headers: Vec<&'static str> = items.iter().map(|i| i.label).collect();
            headers.push("录入");
            let entries = v.and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
            let mut has_steps = false;
            let rows = entries
                .iter()
                .map(|e| {
                    let mut cells: Vec<String> =
                        items.iter().map(|i| shown(i, e.get(i.key))).collect();
                    cells.push(entered(store, id, spec.key, e, dir, &campaign, &mut raw)?);
                    let mut step = step(&record, spec.key, e, &author);
                    // What the person typed, after a refusal.
                    if let Some(st) = &mut step {
                        let again = typed.and_then(|t| t.get(&format!("r.{}", st.entry)));
                        if let (Some((_, response)), Some(again)) = (&mut st.response, again) {
                            *response = again.clone();
                        }
                    }
                    has_steps |= step.is_some();
                    Ok(RowView { cells, step })
                })
                .collect::<Result<Vec<_>, RelayError>>()?;
            if has_steps {
                headers.push("办理");
            }
            let inputs = if ACTION_LISTS.contains(&spec.key) {
                Vec::new()
            } else {
                items
                    .iter()
                    .map(|item| {
                        let default = match (item.ty, item.key) {
                            (FieldType::Date, _) => today.clone(),
                            (FieldType::Person, "by") => viewer.name.clone(),
                            _ => String::new(),
                        };
                        let name = format!("e.{}", item.key);
                        let value = typed
                            .filter(|t| t.get("list").map(String::as_str) == Some(spec.key))
                            .and_then(|t| t.get(&name).cloned())
                            .unwrap_or(default);
                        input(item, "e", value, None, &categories)
                    })
                    .collect()
            };
            lists.push(ListView {
                key: spec.key,
                label: spec.label,
                headers,
                rows,
                inputs,
                has_steps,
            });
        } else {
            let value = shown(spec, v);
            let link = match spec.ty {
                FieldType::RecordRef if !value.is_empty() => Some(format!("/ui/records/{value}")),
                _ => None,
            };
            fields.push(FieldView {
                key: spec.key,
                label: spec.label,
                long: matches!(spec.ty, FieldType::LongText),
                conflict: in_conflict.contains(spec.key),
                link,
                value,
            });
        }
    }

    let inputs = editable(kind)
        .map(|spec| {
            let current = form_value(spec, json.get(spec.key));
            let orig = digest(&current);
            let name = format!("f.{}", spec.key);
            let value = typed
                .and_then(|t| t.get(&name).cloned())
                .map(|v| normalize(&v))
                .unwrap_or(current);
            input(spec, "f", value, Some(orig), &categories)
        })
        .collect();

    let conflicts = conflicts
        .into_iter()
        .map(|c: Conflict| {
            let spec = spec_for_path(kind, &c.field);
            ConflictView {
                values: c
                    .values
                    .iter()
                    .map(|v| {
                        let json = serde_json::to_value(&v.value).unwrap_or(Value::Null);
                        ChoiceView {
                            shown: match spec {
                                Some(spec) => shown(spec, Some(&json)),
                                None => v.value.display(),
                            },
                            json: json.to_string(),
                            user: dir.user(&v.user),
                            device: dir.device(&v.device),
                            at: local_time(&campaign, v.at_ms),
                        }
                    })
                    .collect(),
                field: c.field,
                label: c.label,
            }
        })
        .collect();

    let mut history: Vec<HistoryView> = history
        .into_iter()
        .map(|h| HistoryView {
            at: local_time(&campaign, h.at_ms),
            user: dir.user(&h.user),
            device: dir.device(&h.device),
            action: action_label(h.action.as_deref()),
            fields: h
                .fields
                .iter()
                .map(|f| field_label(kind, f))
                .collect::<Vec<_>>()
                .join("、"),
        })
        .collect();
    history.reverse();
    let list = super::lists::list_of(kind);

    let people = store
        .directory()?
        .map(|d| {
            d.choices_for(&meta.unit)
                .into_iter()
                .map(|u| {
                    (
                        u.login.clone(),
                        format!("{}（{}）", u.name, unit_label(&dir.units, &u.unit)),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(RecordPage {
        people,
        layout: Layout::new(
            viewer,
            format!("{} {}", kind.label(), record.title()),
            list.0,
        ),
        list_path: list.1,
        list_title: list.2,
        id: id.to_owned(),
        kind_label: kind.label(),
        number: meta.number.clone(),
        title: record.title(),
        unit: unit_label(&dir.units, &meta.unit),
        created: format!(
            "{} 创建于 {}",
            dir.user(&meta.created_by),
            local_time(&campaign, meta.created_at)
        ),
        fields,
        lists,
        conflicts,
        inputs,
        history,
        personal_labels: kind
            .personal_fields()
            .iter()
            .filter_map(|k| kind.field(k).ok())
            .map(|spec| spec.label)
            .collect::<Vec<_>>()
            .join("、"),
        proceed: match &record {
            Record::RiskAssessment(r) => Some(proceed(r)),
            _ => None,
        },
        signoff: match &record {
            Record::Petition(p) => Some(SignOffView {
                note: typed
                    .and_then(|t| t.get("note").cloned())
                    .unwrap_or_default(),
                ..signoff_view(p, &author, p.leader.as_deref().map(|l| dir.user(l)))
            }),
            _ => None,
        },
        notice,
        error: retry.map(|r| r.error),
    })
}

/// Who entered an entry and when (`录入`). Entries of some lists (a unit's 走访对象名单) have
/// no time in the record's index; then it is read from the document, and left blank if even
/// that has none.
fn entered(
    store: &Store,
    id: &str,
    list: &str,
    e: &Value,
    dir: &Directory,
    campaign: &Campaign,
    raw: &mut Option<Value>,
) -> Result<String, RelayError> {
    let mut by = e.get("_by").and_then(Value::as_str).map(str::to_owned);
    let mut at = e.get("_at").and_then(Value::as_i64);
    if at.is_none() {
        if raw.is_none() {
            *raw = Some(store.document(id)?.to_json()?);
        }
        let entry_id = e.get("id").and_then(Value::as_str);
        let found = raw
            .as_ref()
            .and_then(|r| r.get(list))
            .and_then(Value::as_array)
            .and_then(|all| {
                all.iter()
                    .find(|x| entry_id.is_some() && x.get("id").and_then(Value::as_str) == entry_id)
            });
        if let Some(x) = found {
            at = x.get("_at").and_then(Value::as_i64);
            by = by.or_else(|| x.get("_by").and_then(Value::as_str).map(str::to_owned));
        }
    }
    let by = by.map(|b| dir.user(&b)).unwrap_or_default();
    let at = at.map(|t| local_time(campaign, t)).unwrap_or_default();
    Ok(format!("{by} {at}").trim().to_owned())
}

/// A choice's label by its code.
fn choice_label(choices: &[Choice], code: &str) -> &'static str {
    choices
        .iter()
        .find(|c| c.code == code)
        .map_or("", |c| c.label)
}

/// The workflow steps the viewer may take on an entry: a demand moves forward from 已登记 to
/// 办理中 to 已落实 or 已解释答复 (with its 答复情况); a problem found by an inspection is
/// marked 已整改 by the unit and 已验收 by the office only.
fn step(record: &Record, list: &'static str, e: &Value, author: &Author) -> Option<StepView> {
    let entry = e.get("id").and_then(Value::as_str)?.to_owned();
    let status = e.get("status").cloned().unwrap_or(Value::Null);
    match (record, list) {
        (Record::Visit(_), "demands") => {
            let rank = serde_json::from_value::<Option<DemandStatus>>(status)
                .ok()
                .flatten()
                .map_or(0, DemandStatus::rank);
            let buttons = DEMAND_STATUSES
                .iter()
                .filter(|c| {
                    serde_json::from_value::<DemandStatus>(Value::String(c.code.into()))
                        .is_ok_and(|s| s.rank() > rank)
                })
                .map(|c| (c.code, format!("改为{}", c.label)))
                .collect::<Vec<_>>();
            let response = e
                .get("response")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            Some(StepView {
                list,
                entry,
                response: (!buttons.is_empty())
                    .then(|| (field_item_label(record, list, "response"), response)),
                buttons,
                waiting: "已办结",
            })
        }
        (Record::Inspection(_), "problems") => {
            let current = serde_json::from_value::<Option<ProblemStatus>>(status)
                .ok()
                .flatten()
                .unwrap_or(ProblemStatus::Open);
            let (next, waiting) = match current {
                ProblemStatus::Open => (Some("rectified"), ""),
                ProblemStatus::Rectified if access::may_verify_rectification(author) => {
                    (Some("verified"), "")
                }
                ProblemStatus::Rectified => (None, "待领导小组办公室验收"),
                ProblemStatus::Verified => (None, "已验收"),
            };
            Some(StepView {
                list,
                entry,
                buttons: next
                    .map(|code| {
                        (
                            code,
                            format!("标为{}", choice_label(PROBLEM_STATUSES, code)),
                        )
                    })
                    .into_iter()
                    .collect(),
                response: None,
                waiting,
            })
        }
        _ => None,
    }
}

/// The label of a field of a list's entries.
fn field_item_label(record: &Record, list: &str, key: &str) -> &'static str {
    match record.meta().kind.field(list).map(|s| s.ty) {
        Ok(FieldType::Entries(items)) => find_field(items, key).map_or("", |f| f.label),
        _ => "",
    }
}

/// Whether the decision of a risk assessment may proceed, as the core decides it (不得出台实施
/// unless passed, or passed on conditions recorded as met), with the notice's style.
fn proceed(r: &RiskAssessment) -> (&'static str, &'static str) {
    let class = match (r.must_not_proceed(), r.result) {
        (false, _) => "ok",
        (true, Some(RiskResult::Conditional)) => "warn",
        (true, _) => "error",
    };
    (class, r.proceed_label())
}

/// 销号管理 of a case for `author`; `leader` is its 包案领导 as people read the name.
fn signoff_view(p: &PetitionCase, author: &Author, leader: Option<String>) -> SignOffView {
    use fieldledger_core::model::petition::PetitionStatus as S;
    let status = p.status.unwrap_or(S::Open);
    let may = p.may_sign_off(author);
    let leader = leader.unwrap_or_default();
    let hint = match (status, may) {
        (S::Open, _) => {
            "案件化解（案件状态改为“已化解”并填写处理方式）后，由包案领导或领导小组办公室销号。"
                .to_owned()
        }
        (_, false) if leader.is_empty() => {
            "本案尚未指定包案领导，只有领导小组办公室可以销号或重新打开。".to_owned()
        }
        (_, false) => format!("由包案领导（{leader}）或领导小组办公室销号或重新打开。"),
        _ => String::new(),
    };
    SignOffView {
        status: status.label(),
        may_sign_off: may && status == S::Resolved,
        may_reopen: may && status == S::SignedOff,
        leader,
        hint,
        note: String::new(),
    }
}

/// Query of the record page: which notice to show after a change.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Notice {
    #[serde(default)]
    done: Option<String>,
}

fn notice(q: &Notice) -> Option<&'static str> {
    match q.done.as_deref() {
        Some("saved") => Some("已保存。各设备下次同步时会收到这次修改。"),
        Some("resolved") => {
            Some("已采用所选的值。这次裁决作为一次普通修改记入历史，并同步到各设备。")
        }
        Some("added") => Some("已添加。各设备下次同步时会收到。"),
        Some("unchanged") => Some("没有修改任何字段。"),
        Some("stepped") => Some("已更新办理状态。各设备下次同步时会收到。"),
        Some("signed_off") => Some("已销号，并记入销号记录。"),
        Some("reopened") => Some("已重新打开，原因已记入销号记录。"),
        Some("erased") => Some(
            "已删除个人信息（含全部历史，以及丢失记录报告和审计日志中有关此记录的内容）。各设备下次同步时会换成清除后的记录；此操作已记入审计日志。",
        ),
        _ => None,
    }
}

/// `GET /ui/records/{id}`.
pub(crate) async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Query(q): Query<Notice>,
) -> Result<Response, WebError> {
    let dir = directory(&state).await?;
    let page = state
        .with_record_reader(move |store| build_page(store, &viewer, &dir, &id, notice(&q), None))
        .await?;
    render(&page)
}

enum Outcome {
    Done(&'static str),
    Retry(Box<RecordPage>),
}

async fn finish(id: &str, outcome: Outcome) -> Result<Response, WebError> {
    match outcome {
        Outcome::Done(what) => {
            Ok(Redirect::to(&format!("/ui/records/{id}?done={what}#top")).into_response())
        }
        Outcome::Retry(page) => {
            let mut response = render(page.as_ref())?;
            *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            Ok(response)
        }
    }
}

/// What a submitted form comes to once read against the record: a write to make as the
/// viewer, nothing to do, or the page again (what was typed could not be read).
enum Planned {
    Write(RecordWrite),
    Done(&'static str),
    Retry(Box<RecordPage>),
}

/// Makes a planned write as the viewer: done, or the page again with the reason and what was
/// typed (read after the write was refused).
async fn apply(
    state: &AppState,
    viewer: Viewer,
    dir: Arc<Directory>,
    id: String,
    values: HashMap<String, String>,
    done: &'static str,
    planned: Planned,
) -> Result<Outcome, RelayError> {
    let write = match planned {
        Planned::Write(write) => write,
        Planned::Done(what) => return Ok(Outcome::Done(what)),
        Planned::Retry(page) => return Ok(Outcome::Retry(page)),
    };
    match state
        .write_records(viewer.identity().clone(), write)
        .await?
    {
        Ok(_) => Ok(Outcome::Done(done)),
        Err(e) if users_to_fix(&e) => {
            let retry = Retry {
                error: core_message(&e),
                values,
            };
            let page = state
                .with_record_reader(move |store| {
                    build_page(store, &viewer, &dir, &id, None, Some(retry))
                })
                .await?;
            Ok(Outcome::Retry(Box::new(page)))
        }
        Err(e) => Err(e.into()),
    }
}

/// A submitted form's fields by name.
pub(crate) fn form_map(form: Vec<(String, String)>) -> HashMap<String, String> {
    form.into_iter().collect()
}

/// A submitted form's fields by name, once its CSRF token is the session's.
fn checked_form(
    viewer: &Viewer,
    form: Vec<(String, String)>,
) -> Result<HashMap<String, String>, WebError> {
    let values = form_map(form);
    viewer.check_csrf(values.get("csrf").map_or("", String::as_str))?;
    Ok(values)
}

/// The record page again with the person's input and what was wrong with it, when anything was.
fn refused_input(
    store: &Store,
    viewer: &Viewer,
    dir: &Directory,
    id: &str,
    problems: Vec<String>,
    values: &HashMap<String, String>,
) -> Result<Option<Planned>, RelayError> {
    if problems.is_empty() {
        return Ok(None);
    }
    let retry = Retry {
        error: problems.join("；"),
        values: values.clone(),
    };
    let page = build_page(store, viewer, dir, id, None, Some(retry))?;
    Ok(Some(Planned::Retry(Box::new(page))))
}

/// `POST /ui/records/{id}/edit`: sets the fields the person changed.
pub(crate) async fn edit(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let values = checked_form(&viewer, form)?;
    let dir = Arc::new(directory(&state).await?);
    let (rid, v, d, typed) = (id.clone(), viewer.clone(), dir.clone(), values.clone());
    let planned = state
        .with_record_reader(move |store| {
            let (viewer, dir, values) = (v, d, typed);
            let kind = scoped(store, &viewer, &rid)?.meta().kind;
            let mut edits = Vec::new();
            let mut problems = Vec::new();
            for spec in editable(kind) {
                let Some(value) = values.get(&format!("f.{}", spec.key)) else {
                    continue;
                };
                let unchanged = values
                    .get(&format!("o.{}", spec.key))
                    .is_some_and(|orig| *orig == digest(value));
                if unchanged {
                    continue;
                }
                match parse_input(spec, value) {
                    Ok(v) => edits.push(Edit::set(spec.key, v)),
                    Err(e) => problems.push(core_message(&e)),
                }
            }
            if let Some(retry) = refused_input(store, &viewer, &dir, &rid, problems, &values)? {
                return Ok(retry);
            }
            if edits.is_empty() {
                return Ok(Planned::Done("unchanged"));
            }
            Ok(Planned::Write(RecordWrite::Edit { id: rid, edits }))
        })
        .await?;
    let outcome = apply(&state, viewer, dir, id.clone(), values, "saved", planned).await?;
    finish(&id, outcome).await
}

/// `POST /ui/records/{id}/append`: adds an entry to a list (工作措施, 群众诉求, …).
pub(crate) async fn append(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let values = checked_form(&viewer, form)?;
    let dir = Arc::new(directory(&state).await?);
    let (rid, v, d, typed) = (id.clone(), viewer.clone(), dir.clone(), values.clone());
    let planned = state
        .with_record_reader(move |store| {
            let (viewer, dir, values) = (v, d, typed);
            let kind = scoped(store, &viewer, &rid)?.meta().kind;
            let list = values.get("list").cloned().unwrap_or_default();
            let spec = kind.field(&list)?;
            let items = entry_fields(spec)?;
            if ACTION_LISTS.contains(&spec.key) {
                return Err(RelayError::Core(fieldledger_core::Error::RuleViolation(
                    "sign off through the sign-off action".into(),
                )));
            }
            let mut entry = Vec::new();
            let mut problems = Vec::new();
            for item in items {
                let Some(v) = values.get(&format!("e.{}", item.key)) else {
                    continue;
                };
                if v.trim().is_empty() {
                    continue;
                }
                match parse_input(item, v) {
                    Ok(v) => entry.push((item.key.to_owned(), v)),
                    Err(e) => problems.push(core_message(&e)),
                }
            }
            if let Some(retry) = refused_input(store, &viewer, &dir, &rid, problems, &values)? {
                return Ok(retry);
            }
            let edit = Edit::Append {
                list: spec.key.to_owned(),
                values: entry,
            };
            Ok(Planned::Write(RecordWrite::Edit {
                id: rid,
                edits: vec![edit],
            }))
        })
        .await?;
    let outcome = apply(&state, viewer, dir, id.clone(), values, "added", planned).await?;
    finish(&id, outcome).await
}

/// Body of a conflict's choice button.
#[derive(Deserialize)]
pub(crate) struct ResolveForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    field: String,
    #[serde(default)]
    value: String,
}

/// `POST /ui/records/{id}/resolve`: keeps the chosen value of a conflicting field.
pub(crate) async fn resolve(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<ResolveForm>,
) -> Result<Response, WebError> {
    viewer.check_csrf(&form.csrf)?;
    let value: FieldValue = serde_json::from_str(&form.value)
        .map_err(|_| WebError::BadRequest("所选的值无法识别。".into()))?;
    let dir = Arc::new(directory(&state).await?);
    let (rid, v) = (id.clone(), viewer.clone());
    let planned = state
        .with_record_reader(move |store| {
            scoped(store, &v, &rid)?;
            Ok(Planned::Write(RecordWrite::ResolveConflict {
                id: rid,
                field: form.field,
                value,
            }))
        })
        .await?;
    let outcome = apply(
        &state,
        viewer,
        dir,
        id.clone(),
        HashMap::new(),
        "resolved",
        planned,
    )
    .await?;
    finish(&id, outcome).await
}

/// Body of a workflow step's form (a demand's 办理状态, a problem's 整改状态).
#[derive(Deserialize)]
pub(crate) struct StepForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    list: String,
    #[serde(default)]
    entry: String,
    #[serde(default)]
    to: String,
    /// 答复情况 of a demand (sent with its step).
    #[serde(default)]
    response: Option<String>,
}

/// `POST /ui/records/{id}/step`: moves an entry along its workflow, as the viewer: a demand
/// of a visit (with its response text), a problem of an inspection (已整改; 已验收 by the office).
/// The kind's rules decide, exactly as for an edit from a device.
pub(crate) async fn step_entry(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<StepForm>,
) -> Result<Response, WebError> {
    viewer.check_csrf(&form.csrf)?;
    let dir = Arc::new(directory(&state).await?);
    let (rid, v) = (id.clone(), viewer.clone());
    let planned = state
        .with_record_reader(move |store| {
            let record = scoped(store, &v, &rid)?;
            let list = match (&record, form.list.as_str()) {
                (Record::Visit(_), "demands") => "demands",
                (Record::Inspection(_), "problems") => "problems",
                _ => {
                    return Err(RelayError::Core(fieldledger_core::Error::UnknownField {
                        kind: record.meta().kind,
                        field: form.list,
                    }));
                }
            };
            let mut values = HashMap::new();
            let response = match (&form.response, list) {
                (Some(text), "demands") => {
                    values.insert(format!("r.{}", form.entry), text.clone());
                    Some(normalize(text))
                }
                _ => None,
            };
            let (entry, to) = (form.entry.clone(), form.to.trim().to_owned());
            let write = if list == "demands" {
                RecordWrite::DemandStatus {
                    id: rid,
                    entry,
                    to,
                    response,
                }
            } else {
                RecordWrite::RectificationStatus { id: rid, entry, to }
            };
            Ok((Planned::Write(write), values))
        })
        .await?;
    let (planned, values) = planned;
    let outcome = apply(&state, viewer, dir, id.clone(), values, "stepped", planned).await?;
    finish(&id, outcome).await
}

/// Body of the sign-off and reopen forms.
#[derive(Deserialize)]
pub(crate) struct SignOffForm {
    #[serde(default)]
    csrf: String,
    /// 说明: the sign-off's note or the reason for reopening.
    #[serde(default)]
    note: String,
}

/// `POST /ui/records/{id}/sign-off`: 销号 of a resolved petition case by its leader or the
/// office, logged in its 销号记录.
pub(crate) async fn sign_off(
    state: State<AppState>,
    viewer: Viewer,
    id: Path<String>,
    Form(form): Form<SignOffForm>,
) -> Result<Response, WebError> {
    sign_off_or_reopen(state, viewer, id, form, false).await
}

/// `POST /ui/records/{id}/reopen`: reopens a signed-off petition case, with the reason logged.
pub(crate) async fn reopen(
    state: State<AppState>,
    viewer: Viewer,
    id: Path<String>,
    Form(form): Form<SignOffForm>,
) -> Result<Response, WebError> {
    sign_off_or_reopen(state, viewer, id, form, true).await
}

async fn sign_off_or_reopen(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    form: SignOffForm,
    reopen: bool,
) -> Result<Response, WebError> {
    viewer.check_csrf(&form.csrf)?;
    let dir = Arc::new(directory(&state).await?);
    let (rid, v, d) = (id.clone(), viewer.clone(), dir.clone());
    let planned = state
        .with_record_reader(move |store| {
            let (viewer, dir) = (v, d);
            let Record::Petition(_) = scoped(store, &viewer, &rid)? else {
                return Err(RelayError::Core(fieldledger_core::Error::WrongKind {
                    id: rid.clone(),
                    expected: RecordKind::Petition,
                    actual: store.record(&rid)?.meta().kind,
                }));
            };
            let note = normalize(form.note.trim());
            let values = HashMap::from([("note".to_owned(), note.clone())]);
            if reopen && note.is_empty() {
                let retry = Retry {
                    error: "重新打开须填写原因（说明）。".into(),
                    values: values.clone(),
                };
                let page = build_page(store, &viewer, &dir, &rid, None, Some(retry))?;
                return Ok((Planned::Retry(Box::new(page)), values));
            }
            let write = if reopen {
                RecordWrite::Reopen {
                    id: rid,
                    reason: note,
                }
            } else {
                RecordWrite::SignOff { id: rid, note }
            };
            Ok((Planned::Write(write), values))
        })
        .await?;
    let (planned, values) = planned;
    let done = if reopen { "reopened" } else { "signed_off" };
    let outcome = apply(&state, viewer, dir, id.clone(), values, done, planned).await?;
    finish(&id, outcome).await
}

/// Form of `POST /ui/records/{id}/erase`.
#[derive(Debug, Deserialize)]
pub(crate) struct EraseForm {
    csrf: String,
    /// Strings to mask, one a line.
    #[serde(default)]
    masks: String,
    #[serde(default)]
    reason: String,
}

/// `POST /ui/records/{id}/erase`: the office erases personal data from a record and its
/// history on request (see `fieldledger_core::doc::erase`); logged in the audit log.
pub(crate) async fn erase(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<EraseForm>,
) -> Result<Response, WebError> {
    viewer.check_csrf(&form.csrf)?;
    if !access::may_erase_personal_data(viewer.role) {
        return Err(WebError::Forbidden(
            "只有领导小组办公室可以删除个人信息。".into(),
        ));
    }
    let rid = id.clone();
    let v = viewer.clone();
    state
        .with_record_reader(move |store| scoped(store, &v, &rid).map(|_| ()))
        .await?;
    let request = fieldledger_core::store::ErasureRequest {
        fields: Vec::new(),
        masks: form
            .masks
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
        reason: form.reason,
    };
    crate::protection::erase(&state, viewer.identity(), id.clone(), request).await?;
    Ok(Redirect::to(&format!("/ui/records/{id}?done=erased#top")).into_response())
}
