//! What every page shows around its content (title, navigation, who is signed in) and small
//! formatting helpers shared by the pages.

use std::collections::BTreeMap;

use askama::Template;
use axum::response::{Html, IntoResponse, Response};
use fieldledger_core::access;
use fieldledger_core::report::{Calendar, Campaign};

use super::error::WebError;
use super::viewer::Viewer;
use crate::accounts::{Role, Unit};
use crate::state::AppState;

/// The frame of a page: title, active navigation entry, the signed-in user, the CSRF token of
/// the logout form.
pub(crate) struct Layout {
    pub title: String,
    pub nav: &'static str,
    pub user_name: String,
    pub role_label: &'static str,
    pub unit_name: String,
    pub csrf: String,
    /// Whether the viewer keeps the registry (the bureau office): office-only links and
    /// forms are shown.
    pub is_office: bool,
    /// The viewer's unit code (a unit head's nav links to the unit's profile).
    pub unit_code: String,
}

impl Layout {
    /// The frame of a page for `viewer`, with `nav` the active navigation entry.
    pub fn new(viewer: &Viewer, title: impl Into<String>, nav: &'static str) -> Layout {
        Layout {
            title: title.into(),
            nav,
            user_name: viewer.name.clone(),
            role_label: role_label(viewer.role),
            unit_name: viewer.unit_name.clone(),
            csrf: viewer.csrf.clone(),
            is_office: access::may_administer(viewer.role),
            unit_code: viewer.unit.clone(),
        }
    }
}

/// A role as the bureau names it.
pub(crate) fn role_label(role: Role) -> &'static str {
    match role {
        Role::Office => "领导小组办公室",
        Role::UnitHead => "单位负责人",
        Role::Staff => "工作人员",
        Role::Leader => "责任领导",
    }
}

/// Renders a page template into an HTML answer.
pub(crate) fn render<T: Template>(page: &T) -> Result<Response, WebError> {
    Ok(Html(page.render()?).into_response())
}

/// A moment (ms since the epoch) as local time of the campaign, `2019-10-10 14:03`.
pub(crate) fn local_time(campaign: &Campaign, ms: i64) -> String {
    campaign.local_time(ms)
}

/// The campaign in force now: its time zone is the one pages show times in.
pub(crate) async fn campaign_now(state: &AppState) -> Result<Campaign, WebError> {
    Ok(state
        .with_record_reader(|store| Ok(Calendar::load(store, None)?.at(store.now_ms())))
        .await?)
}

/// An RFC 3339 time from the account registry as local time, `2019-10-10 14:03`.
pub(crate) fn local_time_rfc3339(campaign: &Campaign, at: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(at)
        .map(|t| local_time(campaign, t.timestamp_millis()))
        .unwrap_or_else(|_| at.to_owned())
}

/// Units by code, every unit of the registry.
pub(crate) async fn units(state: &AppState) -> Result<BTreeMap<String, Unit>, WebError> {
    Ok(state
        .read_accounts(|a| a.list_units())
        .await?
        .into_iter()
        .map(|u| (u.code.clone(), u))
        .collect())
}

/// The units a page reads for the viewer (`None`: every unit), narrowed to the unit asked
/// for: an unknown unit is an error, not an empty page, and a unit outside the viewer's scope
/// is refused.
pub(crate) fn scope(
    viewer: &Viewer,
    units: &BTreeMap<String, Unit>,
    asked: Option<&str>,
) -> Result<Option<Vec<String>>, WebError> {
    if let Some(u) = asked {
        if !units.contains_key(u) {
            return Err(WebError::BadRequest(format!(
                "单位：没有代码为“{u}”的单位。"
            )));
        }
        if !viewer.can_see_unit(u) {
            return Err(WebError::Forbidden(format!(
                "单位“{}”的记录不在您的查看范围内。",
                unit_label(units, u)
            )));
        }
    }
    crate::reports::narrow(viewer.allowed_units(), asked).map_err(WebError::from)
}

/// The units that do field work: every unit but the bureau office itself. Roll-ups over "all
/// units" (supervision, who reported on time) are over these.
pub(crate) fn field_units(units: &BTreeMap<String, Unit>) -> Vec<String> {
    units
        .values()
        .filter(|u| !u.is_office)
        .map(|u| u.code.clone())
        .collect()
}

/// A unit's display name: `疾控科（WJK）`, or the code of an unknown unit.
pub(crate) fn unit_label(units: &BTreeMap<String, Unit>, code: &str) -> String {
    match units.get(code) {
        Some(u) => format!("{}（{}）", u.name, u.code),
        None => code.to_owned(),
    }
}

/// The unit filter's options: every unit (after `all`), the current one selected.
pub(crate) fn unit_options(units: &BTreeMap<String, Unit>, all: &str, current: &str) -> Vec<Opt> {
    let mut options = vec![Opt::new("", all, current)];
    options.extend(
        units
            .values()
            .map(|u| Opt::new(u.code.clone(), unit_label(units, &u.code), current)),
    );
    options
}

/// A select option: value, label, whether selected.
pub(crate) struct Opt {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

impl Opt {
    /// An option, selected when `value` is `current`.
    pub fn new(value: impl Into<String>, label: impl Into<String>, current: &str) -> Opt {
        let value = value.into();
        Opt {
            selected: value == current,
            label: label.into(),
            value,
        }
    }
}

/// Percent-encodes a file name for `Content-Disposition: attachment; filename*=UTF-8''…`.
pub(crate) fn attachment(file_name: &str) -> String {
    let encoded: String = file_name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let ascii: String = file_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-._".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}
