//! Sign-in, sign-out, the session cookie, the sign-in form's CSRF check and the [`Viewer`]
//! extractor.
//!
//! - The session id is 32 random bytes (hex) in the cookie [`SESSION_COOKIE`]; the registry keeps
//!   only its SHA-256 hash (`acct_sessions`), so a copy of the database opens no session.
//! - Cookies are `HttpOnly; SameSite=Strict; Path=/`, and `Secure` when configured or when the
//!   request came over HTTPS.
//! - Every POST form carries the session's CSRF token (synchronizer token), compared in
//!   constant time. The sign-in form, before any session exists, uses a double-submit token:
//!   the same random value in a short-lived cookie and in the form.
//! - Sessions end at sign-out, after two idle hours, twelve hours after sign-in, and when the
//!   user's password changes.

use std::sync::Arc;

use askama::Template;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use cookie::{Cookie, SameSite};
use serde::Deserialize;

use super::Web;
use super::error::WebError;
use super::layout::render;
use super::viewer::{Viewer, constant_time_eq};
use crate::accounts::{SESSION_LIFETIME, SignIn, check_password, secret};
use crate::client_addr::ClientAddr;
use crate::state::AppState;

/// Name of the session cookie.
pub const SESSION_COOKIE: &str = "fl_session";

/// Name of the cookie holding the sign-in form's CSRF token.
pub const LOGIN_CSRF_COOKIE: &str = "fl_login_csrf";

/// The value of a request cookie.
fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| Cookie::split_parse(v.to_owned()))
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

/// Whether the request came over HTTPS (directly or through a TLS-terminating proxy).
fn over_https(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

fn cookie_header(
    web: &Web,
    headers: &HeaderMap,
    name: &str,
    value: &str,
    path: &str,
    max_age: cookie::time::Duration,
) -> HeaderValue {
    let cookie = Cookie::build((name, value))
        .http_only(true)
        .same_site(SameSite::Strict)
        .path(path)
        .max_age(max_age)
        .secure(web.config.secure_cookies || over_https(headers))
        .build();
    HeaderValue::from_str(&cookie.to_string()).expect("cookie of hex and ASCII names")
}

fn sign_in_redirect(parts: &Parts) -> Response {
    let next = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .filter(|p| parts.method == axum::http::Method::GET && safe_next(p))
        .and_then(|p| serde_urlencoded::to_string([("next", p)]).ok())
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    Redirect::to(&format!("/ui/login{next}")).into_response()
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Some(id) = cookie_value(&parts.headers, SESSION_COOKIE) else {
            return Err(sign_in_redirect(parts));
        };
        let session_id = id.clone();
        let found = state
            .with_accounts(move |a| {
                let Some(s) = a.session(&id)? else {
                    return Ok(None);
                };
                let unit_name = a.unit(&s.user.unit).map(|u| u.name).unwrap_or_default();
                Ok(Some((s, unit_name)))
            })
            .await
            .map_err(|e| WebError::from(e).into_response())?;
        let Some((s, unit_name)) = found else {
            return Err(sign_in_redirect(parts));
        };
        Ok(Viewer {
            login: s.user.login,
            name: s.user.name,
            unit: s.user.unit,
            unit_name,
            role: s.user.role,
            csrf: s.csrf,
            session_id,
        })
    }
}

/// Where to go after signing in: only a path of the dashboard itself (no open redirect).
fn safe_next(next: &str) -> bool {
    next.starts_with("/ui/")
        && !next.starts_with("/ui/login")
        && !next.contains("//")
        && !next.contains('\\')
        && next.bytes().all(|b| b.is_ascii_graphic())
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    csrf: String,
    next: String,
    login: String,
    error: Option<String>,
}

/// Query of the sign-in page.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct NextQuery {
    #[serde(default)]
    next: Option<String>,
}

fn login_form(
    web: &Web,
    headers: &HeaderMap,
    status: StatusCode,
    next: &str,
    login: &str,
    error: Option<String>,
) -> Result<Response, WebError> {
    let csrf = secret::new_token();
    let page = LoginPage {
        csrf: csrf.clone(),
        next: if safe_next(next) {
            next.to_owned()
        } else {
            String::new()
        },
        login: login.to_owned(),
        error,
    };
    let mut response = render(&page)?;
    *response.status_mut() = status;
    response.headers_mut().append(
        header::SET_COOKIE,
        cookie_header(
            web,
            headers,
            LOGIN_CSRF_COOKIE,
            &csrf,
            "/ui/login",
            cookie::time::Duration::hours(1),
        ),
    );
    Ok(response)
}

/// `GET /ui/login`: the sign-in form (or straight on, for a viewer already signed in).
pub(crate) async fn login_page(
    State(state): State<AppState>,
    Extension(web): Extension<Arc<Web>>,
    headers: HeaderMap,
    Query(q): Query<NextQuery>,
) -> Result<Response, WebError> {
    let next = q.next.unwrap_or_default();
    if let Some(id) = cookie_value(&headers, SESSION_COOKIE) {
        let live = state.with_accounts(move |a| a.session(&id)).await?;
        if live.is_some() {
            let to = if safe_next(&next) {
                next
            } else {
                "/ui/ledger".into()
            };
            return Ok(Redirect::to(&to).into_response());
        }
    }
    login_form(&web, &headers, StatusCode::OK, &next, "", None)
}

/// Body of the sign-in form.
#[derive(Deserialize)]
pub(crate) struct LoginForm {
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: String,
}

/// `POST /ui/login`: checks the password and opens a session.
pub(crate) async fn login(
    State(state): State<AppState>,
    Extension(web): Extension<Arc<Web>>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, WebError> {
    let expected = cookie_value(&headers, LOGIN_CSRF_COOKIE).unwrap_or_default();
    if expected.is_empty() || !constant_time_eq(form.csrf.as_bytes(), expected.as_bytes()) {
        return login_form(
            &web,
            &headers,
            StatusCode::FORBIDDEN,
            &form.next,
            &form.login,
            Some("登录表单已失效，请重新输入后登录。".into()),
        );
    }
    if let Some(limiter) = &web.sign_in_limiter {
        if !limiter.check(&addr) {
            return Err(WebError::TooManyRequests);
        }
    }
    // Read under the registry's lock, check the password outside it (a few at once: Argon2
    // takes ~19 MiB each), then open the session under the lock again.
    let login = form.login.clone();
    let on_file = state
        .with_accounts(move |a| a.password_on_file(&login))
        .await?;
    let password = form.password;
    let (ok, on_file) = state
        .with_password_turn(move || Ok((check_password(&password, &on_file)?, on_file)))
        .await?;
    let outcome = if ok {
        state
            .with_accounts(move |a| a.open_session(&on_file))
            .await?
    } else {
        SignIn::BadCredentials
    };
    match outcome {
        SignIn::Ok(session) => {
            tracing::info!(user = %session.user.login, "dashboard sign-in");
            let to = if safe_next(&form.next) {
                form.next
            } else {
                "/ui/ledger".into()
            };
            let mut response = Redirect::to(&to).into_response();
            let lifetime = cookie::time::Duration::seconds(SESSION_LIFETIME.num_seconds());
            let h = response.headers_mut();
            h.append(
                header::SET_COOKIE,
                cookie_header(&web, &headers, SESSION_COOKIE, &session.id, "/", lifetime),
            );
            h.append(
                header::SET_COOKIE,
                cookie_header(
                    &web,
                    &headers,
                    LOGIN_CSRF_COOKIE,
                    "",
                    "/ui/login",
                    cookie::time::Duration::ZERO,
                ),
            );
            Ok(response)
        }
        SignIn::BadCredentials => {
            tracing::warn!(%addr, "dashboard sign-in refused: bad credentials");
            login_form(
                &web,
                &headers,
                StatusCode::UNAUTHORIZED,
                &form.next,
                &form.login,
                Some("用户名或密码错误。".into()),
            )
        }
        SignIn::NotAllowed(user) => {
            tracing::warn!(user = %user.login, "dashboard sign-in refused: role");
            login_form(
                &web,
                &headers,
                StatusCode::FORBIDDEN,
                &form.next,
                &form.login,
                Some(
                    "工作台仅供领导小组办公室和单位负责人使用；工作人员和责任领导请在手机端查看本单位记录。"
                        .into(),
                ),
            )
        }
    }
}

/// Body of a form that only carries the CSRF token.
#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

/// `POST /ui/logout`: ends the session and clears the cookie.
pub(crate) async fn logout(
    State(state): State<AppState>,
    Extension(web): Extension<Arc<Web>>,
    viewer: Viewer,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, WebError> {
    viewer.check_csrf(&form.csrf)?;
    let id = viewer.session_id.clone();
    state.with_accounts(move |a| a.end_session(&id)).await?;
    let mut response = Redirect::to("/ui/login").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        cookie_header(
            &web,
            &headers,
            SESSION_COOKIE,
            "",
            "/",
            cookie::time::Duration::ZERO,
        ),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_must_stay_on_the_dashboard() {
        assert!(safe_next("/ui/records/abc?x=1"));
        assert!(!safe_next("//evil.example/ui/"));
        assert!(!safe_next("https://evil.example/"));
        assert!(!safe_next("/ui//evil.example"));
        assert!(!safe_next("/ui/login?next=/ui/ledger"));
        assert!(!safe_next("/v1/sync"));
    }

    #[test]
    fn csrf_comparison_needs_equal_tokens() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!constant_time_eq(b"", b"a"));
    }
}
