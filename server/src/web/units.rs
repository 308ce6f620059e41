//! Users and devices of a unit: the list, a one-time enrollment code for a user's new device,
//! and revoking a device. Unit heads manage their own unit; the office manages every unit.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use fieldledger_core::access;
use serde::Deserialize;

use super::error::WebError;
use super::layout::{self, Layout, local_time_rfc3339, render, role_label, unit_label};
use super::session::CsrfForm;
use super::viewer::Viewer;
use crate::accounts::{EnrollmentCode, Issuer, may_issue_enrollment, normalize_unit_code};
use crate::state::AppState;

struct UnitRow {
    code: String,
    name: String,
    is_office: bool,
    users: usize,
    devices: usize,
}

#[derive(Template)]
#[template(path = "units.html")]
struct UnitsPage {
    layout: Layout,
    units: Vec<UnitRow>,
}

/// `GET /ui/units`: every unit (office); a unit head goes straight to the unit.
pub(crate) async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
) -> Result<Response, WebError> {
    if !access::may_administer(viewer.role) {
        return Ok(Redirect::to(&format!("/ui/units/{}", viewer.unit)).into_response());
    }
    let (units, users, devices) = state
        .read_accounts(|a| Ok((a.list_units()?, a.list_users()?, a.list_devices()?)))
        .await?;
    let rows = units
        .into_iter()
        .map(|u| UnitRow {
            users: users.iter().filter(|x| x.unit == u.code).count(),
            devices: devices
                .iter()
                .filter(|d| d.unit == u.code && d.revoked_at.is_none())
                .count(),
            code: u.code,
            name: u.name,
            is_office: u.is_office,
        })
        .collect();
    render(&UnitsPage {
        layout: Layout::new(&viewer, "人员与设备", "units"),
        units: rows,
    })
}

struct UserRow {
    login: String,
    name: String,
    role: &'static str,
    has_password: bool,
    devices: usize,
    /// Whether the viewer may issue an enrollment code for this user (the button is shown).
    may_enroll: bool,
}

struct DeviceRow {
    code: String,
    id: String,
    user: String,
    label: String,
    enrolled: String,
    revoked: String,
}

#[derive(Template)]
#[template(path = "unit.html")]
struct UnitPage {
    layout: Layout,
    code: String,
    title: String,
    users: Vec<UserRow>,
    devices: Vec<DeviceRow>,
    new_code: Option<EnrollmentCode>,
    new_code_expires: String,
    notice: Option<String>,
}

/// Query of the unit page: the notice after a revocation.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct UnitQuery {
    #[serde(default)]
    revoked: Option<String>,
}

/// A unit code from a path, if the viewer may manage the unit; unknown and out-of-scope look
/// the same.
pub(crate) fn unit_in_scope(viewer: &Viewer, code: &str) -> Result<String, WebError> {
    let code =
        normalize_unit_code(code).map_err(|_| WebError::NotFound("没有这个单位。".into()))?;
    if viewer.can_see_unit(&code) {
        Ok(code)
    } else {
        Err(WebError::NotFound(
            "没有这个单位，或它不属于您可管理的单位。".into(),
        ))
    }
}

async fn unit_page(
    state: &AppState,
    viewer: &Viewer,
    code: String,
    new_code: Option<EnrollmentCode>,
    notice: Option<String>,
) -> Result<Response, WebError> {
    let units = layout::units(state).await?;
    let Some(unit) = units.get(&code) else {
        return Err(WebError::NotFound("没有这个单位。".into()));
    };
    let c = code.clone();
    let (users, devices) = state
        .with_accounts(move |a| {
            let users: Vec<_> = a
                .list_users()?
                .into_iter()
                .filter(|u| u.unit == c)
                .collect();
            let devices: Vec<_> = a
                .list_devices()?
                .into_iter()
                .filter(|d| d.unit == c)
                .collect();
            Ok((users, devices))
        })
        .await?;
    let campaign = layout::campaign_now(state).await?;
    let user_rows = users
        .iter()
        .map(|u| UserRow {
            may_enroll: may_issue_enrollment(viewer.role, &viewer.unit, u),
            login: u.login.clone(),
            name: u.name.clone(),
            role: role_label(u.role),
            has_password: u.has_password,
            devices: devices
                .iter()
                .filter(|d| d.user_login == u.login && d.revoked_at.is_none())
                .count(),
        })
        .collect();
    let device_rows = devices
        .into_iter()
        .map(|d| DeviceRow {
            user: users
                .iter()
                .find(|u| u.login == d.user_login)
                .map_or_else(|| d.user_login.clone(), |u| u.name.clone()),
            label: d.label.unwrap_or_default(),
            enrolled: local_time_rfc3339(&campaign, &d.enrolled_at),
            revoked: d
                .revoked_at
                .map(|t| local_time_rfc3339(&campaign, &t))
                .unwrap_or_default(),
            code: d.code,
            id: d.id,
        })
        .collect();
    let new_code_expires = new_code
        .as_ref()
        .map(|c| local_time_rfc3339(&campaign, &c.expires_at))
        .unwrap_or_default();
    render(&UnitPage {
        layout: Layout::new(viewer, format!("{} 人员与设备", unit.name), "units"),
        title: unit_label(&units, &code),
        code,
        users: user_rows,
        devices: device_rows,
        new_code,
        new_code_expires,
        notice,
    })
}

/// `GET /ui/units/{code}`.
pub(crate) async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(code): Path<String>,
    Query(q): Query<UnitQuery>,
) -> Result<Response, WebError> {
    let code = unit_in_scope(&viewer, &code)?;
    let notice = q
        .revoked
        .map(|d| format!("设备 {d} 已吊销，它的令牌立即失效；该设备须重新注册才能同步。"));
    unit_page(&state, &viewer, code, None, notice).await
}

/// Body of the enrollment form.
#[derive(Deserialize)]
pub(crate) struct EnrollForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    login: String,
}

/// `POST /ui/units/{code}/enroll`: a one-time enrollment code for a user of the unit, shown
/// once on the page that answers (never put in a URL).
pub(crate) async fn enroll(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(code): Path<String>,
    Form(form): Form<EnrollForm>,
) -> Result<Response, WebError> {
    viewer.check_csrf(&form.csrf)?;
    let code = unit_in_scope(&viewer, &code)?;
    let actor = viewer.login.clone();
    let unit = code.clone();
    let enrollment = state
        .with_accounts(move |a| {
            let user = a.user(&form.login)?;
            if user.unit != unit {
                return Err(crate::error::RelayError::UnknownUser(form.login));
            }
            // Who may issue a code for whom is decided by the registry, for every surface.
            a.create_enrollment(Issuer::User(&actor), &user.login)
        })
        .await?;
    tracing::info!(user = %enrollment.user_login, by = %viewer.login, "enrollment code from dashboard");
    unit_page(&state, &viewer, code, Some(enrollment), None).await
}

/// `POST /ui/units/{code}/devices/{device}/revoke`.
pub(crate) async fn revoke(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((code, device)): Path<(String, String)>,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    viewer.check_csrf(&form.csrf)?;
    let code = unit_in_scope(&viewer, &code)?;
    let actor = viewer.login.clone();
    let unit = code.clone();
    let revoked = state
        .with_accounts(move |a| {
            let found = a.device(&device)?;
            if found.unit != unit {
                return Err(crate::error::RelayError::UnknownDevice(device));
            }
            a.revoke_device(&actor, &found.id)
        })
        .await?;
    tracing::info!(device = %revoked.code, by = %viewer.login, "device revoked from dashboard");
    Ok(Redirect::to(&format!("/ui/units/{code}?revoked={}", revoked.code)).into_response())
}
