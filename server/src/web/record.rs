//! One record: every field with the form's labels, its lists of entries, its conflicts (each
//! value with who set it and when, and a button to choose it), an edit form, and its history.
//!
//! Every change made here goes through the relay's store as the signed-in user (device `web`):
//! checked by the same field descriptions and rules as a device's edit, recorded in the
//! record's history, and sent to the devices in scope on their next sync.

use std::collections::{BTreeMap, HashMap, HashSet};

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use fieldledger_core::doc::Conflict;
use fieldledger_core::model::field::find_field;
use fieldledger_core::model::{FieldSpec, FieldType, FieldValue, Record, RecordKind};
use fieldledger_core::report::Calendar;
use fieldledger_core::{Edit, Store};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::error::WebError;
use super::layout::{self, Layout, Opt, local_time, render, unit_label};
use super::session::{Viewer, WEB_DEVICE};
use crate::accounts::Unit;
use crate::app::AppState;
use crate::error::RelayError;
use crate::records::RecordStorage;

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
        .with_accounts(|a| Ok((a.list_users()?, a.list_devices()?)))
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

struct Input {
    key: &'static str,
    name: String,
    id: String,
    label: &'static str,
    kind: &'static str,
    value: String,
    orig: String,
    options: Vec<Opt>,
    required: bool,
}

struct ListView {
    key: &'static str,
    label: &'static str,
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
    inputs: Vec<Input>,
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
    notice: Option<&'static str>,
    error: Option<String>,
}

/// Loads a record if the viewer may see it; unknown and out-of-scope look the same.
fn scoped(store: &Store, viewer: &Viewer, id: &str) -> Result<Record, RelayError> {
    let record = store.record(id)?;
    if viewer.can_see_unit(&record.meta().unit) {
        Ok(record)
    } else {
        Err(RelayError::Core(fieldledger_core::Error::UnknownRecord(
            id.to_owned(),
        )))
    }
}

/// Runs `f` on the store acting as the viewer (the relay's stored identity is untouched).
fn as_viewer<T>(
    store: &mut Store,
    viewer: &Viewer,
    f: impl FnOnce(&mut Store) -> fieldledger_core::Result<T>,
) -> Result<fieldledger_core::Result<T>, RelayError> {
    Ok(store.act_as(viewer.identity(), f))
}

/// Whether a core error is the user's to fix (shown on the page) rather than a failure.
fn users_to_fix(e: &fieldledger_core::Error) -> bool {
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

/// A field's value as people read it: 是/否, choice labels, names joined with 、.
fn shown(spec: &FieldSpec, v: Option<&Value>) -> String {
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

/// A field's value as the edit form holds it (choice codes, 是/否, names joined with 、).
fn form_value(spec: &FieldSpec, v: Option<&Value>) -> String {
    match (spec.ty, v) {
        (FieldType::Choice(_), Some(Value::String(s))) => s.clone(),
        _ => shown(spec, v),
    }
}

fn normalize(s: &str) -> String {
    s.replace("\r\n", "\n")
}

/// A short digest of a form value, so a submitted form changes only the fields the person
/// changed (not fields someone else changed since the page was shown).
fn digest(s: &str) -> String {
    hex::encode(&Sha256::digest(normalize(s).as_bytes())[..12])
}

/// Parses a submitted form value for a field.
fn parse_input(spec: &FieldSpec, s: &str) -> fieldledger_core::Result<FieldValue> {
    let s = normalize(s);
    match spec.ty {
        FieldType::Flag | FieldType::Count if s.trim().is_empty() => Ok(FieldValue::Null),
        _ => spec.parse(&s),
    }
}

/// Fields the edit form offers: all but lists (appended to separately) and links to other
/// records (set by the actions that make them).
fn editable(kind: RecordKind) -> impl Iterator<Item = &'static FieldSpec> {
    kind.fields()
        .iter()
        .filter(|f| !matches!(f.ty, FieldType::Entries(_) | FieldType::RecordRef))
}

fn input(
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
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        [key] => kind.field(key).ok(),
        [list, _, key] => match kind.field(list).ok()?.ty {
            FieldType::Entries(items) => find_field(items, key),
            _ => None,
        },
        _ => None,
    }
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

    let mut fields = Vec::new();
    let mut lists = Vec::new();
    for spec in kind.fields() {
        let v = json.get(spec.key);
        if let FieldType::Entries(items) = spec.ty {
            let mut headers: Vec<&'static str> = items.iter().map(|i| i.label).collect();
            headers.push("录入");
            let rows = v
                .and_then(Value::as_array)
                .map(|entries| {
                    entries
                        .iter()
                        .map(|e| {
                            let mut row: Vec<String> =
                                items.iter().map(|i| shown(i, e.get(i.key))).collect();
                            let by = e.get("_by").and_then(Value::as_str).unwrap_or("");
                            let at = e.get("_at").and_then(Value::as_i64).unwrap_or(0);
                            row.push(format!("{} {}", dir.user(by), local_time(&campaign, at)));
                            row
                        })
                        .collect()
                })
                .unwrap_or_default();
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

    Ok(RecordPage {
        layout: Layout::new(
            viewer,
            format!("{} {}", kind.label(), record.title()),
            "ledger",
        ),
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
        notice,
        error: retry.map(|r| r.error),
    })
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

/// Applies a change as the viewer: done, or the page again with the reason and what was typed.
fn apply(
    store: &mut Store,
    viewer: &Viewer,
    dir: &Directory,
    id: &str,
    values: HashMap<String, String>,
    done: &'static str,
    change: impl FnOnce(&mut Store) -> fieldledger_core::Result<()>,
) -> Result<Outcome, RelayError> {
    match as_viewer(store, viewer, change)? {
        Ok(()) => Ok(Outcome::Done(done)),
        Err(e) if users_to_fix(&e) => {
            let retry = Retry {
                error: e.to_string(),
                values,
            };
            Ok(Outcome::Retry(Box::new(build_page(
                store,
                viewer,
                dir,
                id,
                None,
                Some(retry),
            )?)))
        }
        Err(e) => Err(e.into()),
    }
}

fn form_map(form: Vec<(String, String)>) -> HashMap<String, String> {
    form.into_iter().collect()
}

/// `POST /ui/records/{id}/edit`: sets the fields the person changed.
pub(crate) async fn edit(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let values = form_map(form);
    viewer.check_csrf(values.get("csrf").map_or("", String::as_str))?;
    let dir = directory(&state).await?;
    let rid = id.clone();
    let outcome = state
        .with_records(move |r| {
            let store = r.store();
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
                    Err(e) => problems.push(e.to_string()),
                }
            }
            if !problems.is_empty() {
                let retry = Retry {
                    error: problems.join("；"),
                    values,
                };
                let page = build_page(store, &viewer, &dir, &rid, None, Some(retry))?;
                return Ok(Outcome::Retry(Box::new(page)));
            }
            if edits.is_empty() {
                return Ok(Outcome::Done("unchanged"));
            }
            apply(store, &viewer, &dir, &rid, values, "saved", |s| {
                s.edit(&rid, &edits)
            })
        })
        .await?;
    finish(&id, outcome).await
}

/// `POST /ui/records/{id}/append`: adds an entry to a list (工作措施, 群众诉求, …).
pub(crate) async fn append(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let values = form_map(form);
    viewer.check_csrf(values.get("csrf").map_or("", String::as_str))?;
    let dir = directory(&state).await?;
    let rid = id.clone();
    let outcome = state
        .with_records(move |r| {
            let store = r.store();
            let kind = scoped(store, &viewer, &rid)?.meta().kind;
            let list = values.get("list").cloned().unwrap_or_default();
            let spec = kind.field(&list)?;
            let FieldType::Entries(items) = spec.ty else {
                return Err(RelayError::BadRequest(format!("{list} is not a list")));
            };
            if ACTION_LISTS.contains(&spec.key) {
                return Err(RelayError::BadRequest(format!(
                    "{} is written by its own action",
                    spec.label
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
                    Err(e) => problems.push(e.to_string()),
                }
            }
            if !problems.is_empty() {
                let retry = Retry {
                    error: problems.join("；"),
                    values,
                };
                let page = build_page(store, &viewer, &dir, &rid, None, Some(retry))?;
                return Ok(Outcome::Retry(Box::new(page)));
            }
            let edit = Edit::Append {
                list: spec.key.to_owned(),
                values: entry,
            };
            apply(store, &viewer, &dir, &rid, values, "added", |s| {
                s.edit(&rid, &[edit])
            })
        })
        .await?;
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
    let dir = directory(&state).await?;
    let rid = id.clone();
    let outcome = state
        .with_records(move |r| {
            let store = r.store();
            scoped(store, &viewer, &rid)?;
            let field = form.field;
            apply(
                store,
                &viewer,
                &dir,
                &rid,
                HashMap::new(),
                "resolved",
                |s| s.resolve_conflict(&rid, &field, value),
            )
        })
        .await?;
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
    if !viewer.is_office() {
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
