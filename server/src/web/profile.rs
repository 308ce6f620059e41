//! A unit's profile (单位信息): its own categories (自定义类型, added to the form's 17) and its
//! visit targets (走访对象名单, what 走访全覆盖 is counted against). Kept by the unit's head and
//! the office (`access::may_maintain_unit_profile`); everyone else who sees the unit reads it.
//!
//! The profile is the record `unit-{code}` (`model::unit::profile_id`); changes are ordinary
//! edits of it as the signed-in user, so they reach the unit's devices on their next sync.

use std::collections::HashMap;
use std::sync::Arc;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use fieldledger_core::model::unit::{FIELDS, UnitProfile, profile_id};
use fieldledger_core::model::{FORM_CATEGORIES, FieldType, FieldValue, Record};
use fieldledger_core::{Edit, Store, access};
use serde::Deserialize;

use super::error::{WebError, core_message};
use super::layout::{self, Layout, render, unit_label};
use super::record::{Input, form_map, input, normalize, parse_input, users_to_fix};
use super::units::unit_in_scope;
use super::viewer::Viewer;
use crate::error::RelayError;
use crate::records::{RecordWrite, Written};
use crate::state::AppState;

const CATEGORIES: &str = "categories";
const TARGETS: &str = "visit_targets";

/// The fields of a visit target (编号, 走访对象, 对象类型, 地点).
fn target_fields() -> &'static [fieldledger_core::model::FieldSpec] {
    match FIELDS.iter().find(|f| f.key == TARGETS).map(|f| f.ty) {
        Some(FieldType::Entries(items)) => items,
        _ => &[],
    }
}

fn label(key: &str) -> &'static str {
    FIELDS.iter().find(|f| f.key == key).map_or("", |f| f.label)
}

struct TargetView {
    id: String,
    cells: Vec<String>,
    inputs: Vec<Input>,
}

#[derive(Template)]
#[template(path = "profile.html")]
struct ProfilePage {
    layout: Layout,
    code: String,
    title: String,
    record_id: String,
    categories_label: &'static str,
    targets_label: &'static str,
    form_categories: usize,
    categories: Vec<String>,
    headers: Vec<&'static str>,
    targets: Vec<TargetView>,
    new_target: Vec<Input>,
    may_edit: bool,
    notice: Option<&'static str>,
    error: Option<String>,
}

/// Query of the profile page: the notice after a change.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ProfileQuery {
    #[serde(default)]
    done: Option<String>,
}

fn profile(store: &Store, code: &str) -> Result<UnitProfile, RelayError> {
    match store.record(&profile_id(code)) {
        Ok(Record::UnitProfile(p)) => Ok(p),
        _ => Err(RelayError::Core(fieldledger_core::Error::UnknownRecord(
            profile_id(code),
        ))),
    }
}

/// A target's fields as JSON values, by key.
fn target_json(t: &fieldledger_core::model::unit::VisitTarget) -> serde_json::Value {
    serde_json::to_value(t).unwrap_or_default()
}

fn build(
    store: &Store,
    viewer: &Viewer,
    title: String,
    code: &str,
    notice: Option<&'static str>,
    retry: Option<(String, HashMap<String, String>)>,
) -> Result<ProfilePage, RelayError> {
    let p = profile(store, code)?;
    let typed = retry.as_ref().map(|(_, v)| v);
    let items = target_fields();
    let typed_value = |prefix: &str, key: &str| {
        typed
            .filter(|t| t.get("form").map(String::as_str) == Some(prefix))
            .and_then(|t| t.get(&format!("t.{key}")))
            .cloned()
    };
    let targets = p
        .visit_targets
        .iter()
        .map(|t| {
            let json = target_json(t);
            let cells = items
                .iter()
                .map(|i| super::value::shown(i, json.get(i.key)))
                .collect::<Vec<_>>();
            let inputs = items
                .iter()
                .zip(&cells)
                .map(|(i, current)| {
                    let value = typed_value(&t.id, i.key).unwrap_or_else(|| current.clone());
                    let mut inp = input(i, "t", value, None, &[]);
                    inp.id = format!("t-{}-{}", t.id, i.key);
                    inp
                })
                .collect();
            TargetView {
                id: t.id.clone(),
                cells,
                inputs,
            }
        })
        .collect();
    let new_target = items
        .iter()
        .map(|i| {
            let value = typed_value("new", i.key).unwrap_or_default();
            input(i, "t", value, None, &[])
        })
        .collect();
    Ok(ProfilePage {
        layout: Layout::new(viewer, format!("{title} 单位信息"), "profile"),
        code: code.to_owned(),
        title,
        record_id: p.meta.id.clone(),
        categories_label: label(CATEGORIES),
        targets_label: label(TARGETS),
        form_categories: FORM_CATEGORIES.len(),
        categories: p.categories,
        headers: items.iter().map(|i| i.label).collect(),
        targets,
        new_target,
        may_edit: access::may_maintain_unit_profile(&viewer.identity().author, code),
        notice,
        error: retry.map(|(e, _)| e),
    })
}

async fn title_of(state: &AppState, code: &str) -> Result<String, WebError> {
    let units = layout::units(state).await?;
    if !units.contains_key(code) {
        return Err(WebError::NotFound("没有这个单位。".into()));
    }
    Ok(unit_label(&units, code))
}

/// `GET /ui/units/{code}/profile`.
pub(crate) async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(code): Path<String>,
    Query(q): Query<ProfileQuery>,
) -> Result<Response, WebError> {
    let code = unit_in_scope(&viewer, &code)?;
    let title = title_of(&state, &code).await?;
    let notice = match q.done.as_deref() {
        Some("saved") => Some("已保存。本单位的设备下次同步时会收到。"),
        Some("unchanged") => Some("没有修改任何内容。"),
        _ => None,
    };
    let page = state
        .with_record_reader(move |store| build(store, &viewer, title, &code, notice, None))
        .await?;
    render(&page)
}

/// What a change of the profile is, once the form is read.
enum Change {
    Edits(Vec<Edit>),
    Refused(String),
}

/// What a change of the profile comes to, read from the profile as it is.
enum Planned {
    Unchanged,
    Write(RecordWrite),
    Again(Box<ProfilePage>),
}

/// How a change ended: back to the page with a notice, or the page again with the reason.
enum Outcome {
    Done(&'static str),
    Again(Box<ProfilePage>),
}

/// Times a change of the profile is made again from a new read when the profile changed
/// between the read and the write (another person's change in that moment).
const CHANGE_TRIES: usize = 5;

/// Runs a change of the profile as the viewer: back to the page, or the page again with the
/// reason in Chinese and what was typed. The change is made from the profile as read, and
/// only onto that version of it: had the profile changed meanwhile, it is read and made again.
async fn change(
    state: AppState,
    viewer: Viewer,
    code: String,
    values: HashMap<String, String>,
    make: impl Fn(&UnitProfile, &HashMap<String, String>) -> Change + Send + Sync + 'static,
) -> Result<Response, WebError> {
    viewer.check_csrf(values.get("csrf").map_or("", String::as_str))?;
    let code = unit_in_scope(&viewer, &code)?;
    let title = title_of(&state, &code).await?;
    let make = Arc::new(make);
    let values = Arc::new(values);
    let mut tries = 0;
    let outcome = loop {
        tries += 1;
        let (c, v, t, make, typed) = (
            code.clone(),
            viewer.clone(),
            title.clone(),
            Arc::clone(&make),
            Arc::clone(&values),
        );
        let planned = state
            .with_record_reader(move |store| {
                let p = profile(store, &c)?;
                let why = match make(&p, &typed) {
                    Change::Edits(edits) if edits.is_empty() => return Ok(Planned::Unchanged),
                    Change::Edits(edits) => {
                        let heads = store.heads(&p.meta.id)?;
                        return Ok(Planned::Write(RecordWrite::EditAt {
                            id: p.meta.id,
                            heads,
                            edits,
                        }));
                    }
                    Change::Refused(why) => why,
                };
                let page = build(store, &v, t, &c, None, Some((why, (*typed).clone())))?;
                Ok(Planned::Again(Box::new(page)))
            })
            .await?;
        let write = match planned {
            Planned::Unchanged => break Outcome::Done("unchanged"),
            Planned::Again(page) => break Outcome::Again(page),
            Planned::Write(write) => write,
        };
        let why = match state
            .write_records(viewer.identity().clone(), write)
            .await?
        {
            Ok(Written::Stale) if tries < CHANGE_TRIES => continue,
            Ok(Written::Stale) => "单位概况刚被他人修改，请刷新后重试。".to_owned(),
            Ok(_) => break Outcome::Done("saved"),
            Err(e) if users_to_fix(&e) => core_message(&e),
            Err(e) => return Err(RelayError::from(e).into()),
        };
        let (c, v, t, typed) = (code.clone(), viewer.clone(), title.clone(), values.clone());
        let page = state
            .with_record_reader(move |store| {
                build(store, &v, t, &c, None, Some((why, (*typed).clone())))
            })
            .await?;
        break Outcome::Again(Box::new(page));
    };
    match outcome {
        Outcome::Done(done) => {
            Ok(Redirect::to(&format!("/ui/units/{code}/profile?done={done}")).into_response())
        }
        Outcome::Again(page) => {
            let mut response = render(page.as_ref())?;
            *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            Ok(response)
        }
    }
}

/// `POST /ui/units/{code}/profile/categories`: adds (`action=add`) or removes
/// (`action=remove`) one of the unit's own categories (`name`).
pub(crate) async fn categories(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(code): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    change(state, viewer, code, form_map(form), |p, v| {
        let name = v.get("name").map_or("", |n| n.trim()).to_owned();
        let mut list = p.categories.clone();
        match v.get("action").map(String::as_str) {
            Some("remove") => list.retain(|c| *c != name),
            _ if name.is_empty() => return Change::Refused("类型名称不能为空。".into()),
            _ if FORM_CATEGORIES.contains(&name.as_str()) => {
                return Change::Refused(format!("“{name}”已是表格所列的类型，无需添加。"));
            }
            _ if list.contains(&name) => {
                return Change::Refused(format!("本单位已有类型“{name}”。"));
            }
            _ => list.push(name),
        }
        if list == p.categories {
            return Change::Edits(Vec::new());
        }
        Change::Edits(vec![Edit::set(CATEGORIES, FieldValue::List(list))])
    })
    .await
}

/// The target fields typed in a form, parsed; problems in Chinese.
fn typed_target(
    v: &HashMap<String, String>,
) -> Result<Vec<(&'static str, FieldValue, String)>, String> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for item in target_fields() {
        let Some(raw) = v.get(&format!("t.{}", item.key)) else {
            continue;
        };
        match parse_input(item, raw) {
            Ok(value) => out.push((item.key, value, normalize(raw).trim().to_owned())),
            Err(e) => problems.push(core_message(&e)),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems.join("；"))
    }
}

/// `POST /ui/units/{code}/profile/targets`: adds a visit target (编号 unique in the unit).
pub(crate) async fn add_target(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(code): Path<String>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let mut values = form_map(form);
    values.insert("form".into(), "new".into());
    change(state, viewer, code, values, |p, v| {
        let fields = match typed_target(v) {
            Ok(f) => f,
            Err(why) => return Change::Refused(why),
        };
        let new_code = fields
            .iter()
            .find(|(k, _, _)| *k == "code")
            .map(|(_, _, s)| s.clone())
            .unwrap_or_default();
        if p.visit_targets.iter().any(|t| t.code == new_code) {
            return Change::Refused(format!("编号“{new_code}”已在走访对象名单中。"));
        }
        Change::Edits(vec![Edit::Append {
            list: TARGETS.into(),
            values: fields
                .into_iter()
                .filter(|(_, v, _)| *v != FieldValue::Null)
                .map(|(k, v, _)| (k.to_owned(), v))
                .collect(),
        }])
    })
    .await
}

/// `POST /ui/units/{code}/profile/targets/{entry}`: changes the fields of one visit target
/// that the person changed.
pub(crate) async fn edit_target(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((code, entry)): Path<(String, String)>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let mut values = form_map(form);
    values.insert("form".into(), entry.clone());
    change(state, viewer, code, values, move |p, v| {
        let Some(target) = p.visit_targets.iter().find(|t| t.id == entry) else {
            return Change::Refused(core_message(&fieldledger_core::Error::UnknownEntry {
                list: TARGETS.into(),
                entry: entry.clone(),
            }));
        };
        let fields = match typed_target(v) {
            Ok(f) => f,
            Err(why) => return Change::Refused(why),
        };
        let current = target_json(target);
        let mut edits = Vec::new();
        for (key, value, text) in fields {
            let now = current.get(key).and_then(|x| x.as_str()).unwrap_or("");
            if now == text {
                continue;
            }
            if key == "code" && p.visit_targets.iter().any(|t| t.code == text) {
                return Change::Refused(format!("编号“{text}”已在走访对象名单中。"));
            }
            edits.push(Edit::SetInEntry {
                list: TARGETS.into(),
                entry: entry.clone(),
                field: key.into(),
                value,
            });
        }
        Change::Edits(edits)
    })
    .await
}
