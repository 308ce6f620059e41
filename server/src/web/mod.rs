//! The office dashboard: server-rendered pages for the bureau office and unit heads, served by
//! the relay under `/ui/…`.
//!
//! Pages are askama templates (`server/templates/`, compiled into the binary) with a little
//! progressive JavaScript (table sort, confirmations); CSS and JS are embedded too, so nothing
//! has to be built or deployed beside the relay. Sign-in uses the dashboard password (Argon2)
//! and a session cookie; every POST form carries the session's CSRF token. A unit head sees and
//! changes only the unit's records, exactly like sync scopes a device. Edits made here are
//! written to the relay's store as the signed-in user, so they reach the devices on their next
//! sync like any other change.
//!
//! The dashboard's routes carry their own middleware (tracing, timeout, body limit, rate limit,
//! security headers) and answer errors as HTML pages rather than the API's JSON.

mod assets;
mod audit;
mod campaigns;
mod charts;
mod error;
mod layout;
mod ledger;
mod lists;
mod monthly;
mod profile;
mod record;
mod session;
mod supervision;
mod units;
mod value;
mod viewer;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{any, get, post};
use axum::{Extension, Router};
use tower::ServiceBuilder;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::sensitive_headers::{
    SetSensitiveRequestHeadersLayer, SetSensitiveResponseHeadersLayer,
};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::client_addr::ClientAddr;
use crate::rate_limit::{Rate, RateLimiter};
use crate::state::AppState;

pub use error::WebError;
pub use session::{LOGIN_CSRF_COOKIE, SESSION_COOKIE};
pub use viewer::Viewer;

/// Environment variable that makes every dashboard cookie `Secure` (`1`, `true` or `yes`).
pub const SECURE_COOKIES_ENV: &str = "FIELDLEDGER_SECURE_COOKIES";

/// Settings of the dashboard.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Mark cookies `Secure` always. Without it they are `Secure` only when the request came
    /// over HTTPS (a TLS-terminating proxy sending `X-Forwarded-Proto: https`).
    pub secure_cookies: bool,
    /// Dashboard requests allowed per client address (`None`: unlimited).
    pub address_rate: Option<Rate>,
    /// Sign-in attempts allowed per client address (`None`: unlimited).
    pub sign_in_rate: Option<Rate>,
    /// Longest time a page may take before it is answered 408.
    pub request_timeout: Duration,
    /// Largest accepted form body in bytes.
    pub max_form_bytes: usize,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            secure_cookies: false,
            address_rate: Some(Rate::new(50.0, 200)),
            sign_in_rate: Some(Rate::new(0.2, 10)),
            request_timeout: Duration::from_secs(60),
            max_form_bytes: 1024 * 1024,
        }
    }
}

impl WebConfig {
    /// The defaults, with `Secure` cookies when [`SECURE_COOKIES_ENV`] is set.
    pub fn from_env() -> Self {
        let secure = std::env::var(SECURE_COOKIES_ENV)
            .is_ok_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"));
        WebConfig {
            secure_cookies: secure,
            ..WebConfig::default()
        }
    }
}

/// What every dashboard handler may need besides [`AppState`].
#[derive(Debug)]
pub(crate) struct Web {
    config: WebConfig,
    address_limiter: Option<RateLimiter>,
    sign_in_limiter: Option<RateLimiter>,
}

/// The dashboard's routes with [`WebConfig::from_env`].
pub fn routes() -> Router<AppState> {
    routes_with(WebConfig::from_env())
}

/// The dashboard's routes (`/`, `/ui/…`) with their own middleware.
pub fn routes_with(config: WebConfig) -> Router<AppState> {
    let web = Arc::new(Web {
        address_limiter: config.address_rate.map(RateLimiter::new),
        sign_in_limiter: config.sign_in_rate.map(RateLimiter::new),
        config,
    });
    Router::new()
        .route("/", get(home))
        .route("/ui", get(home))
        .route("/ui/", get(home))
        .route("/ui/login", get(session::login_page).post(session::login))
        .route("/ui/logout", post(session::logout))
        .route("/ui/ledger", get(ledger::page))
        .route("/ui/ledger/download", get(ledger::download))
        .route("/ui/visits", get(lists::visits))
        .route("/ui/petitions", get(lists::petitions))
        .route("/ui/risks", get(lists::risks))
        .route("/ui/screenings", get(lists::screenings))
        .route("/ui/inspections", get(lists::inspections))
        .route("/ui/records/{id}", get(record::page))
        .route("/ui/records/{id}/edit", post(record::edit))
        .route("/ui/records/{id}/append", post(record::append))
        .route("/ui/records/{id}/resolve", post(record::resolve))
        .route("/ui/records/{id}/erase", post(record::erase))
        .route("/ui/records/{id}/step", post(record::step_entry))
        .route("/ui/records/{id}/sign-off", post(record::sign_off))
        .route("/ui/records/{id}/reopen", post(record::reopen))
        .route("/ui/campaigns", get(campaigns::page).post(campaigns::set))
        .route("/ui/supervision", get(supervision::page))
        .route("/ui/monthly", get(monthly::page))
        .route("/ui/monthly/write", post(monthly::write))
        .route("/ui/monthly/download", get(monthly::download))
        .route("/ui/audit", get(audit::page))
        .route("/ui/units", get(units::list))
        .route("/ui/units/{code}", get(units::page))
        .route("/ui/units/{code}/enroll", post(units::enroll))
        .route("/ui/units/{code}/profile", get(profile::page))
        .route(
            "/ui/units/{code}/profile/categories",
            post(profile::categories),
        )
        .route(
            "/ui/units/{code}/profile/targets",
            post(profile::add_target),
        )
        .route(
            "/ui/units/{code}/profile/targets/{entry}",
            post(profile::edit_target),
        )
        .route(
            "/ui/units/{code}/devices/{device}/revoke",
            post(units::revoke),
        )
        .route("/ui/static/{file}", get(assets::serve))
        .route("/ui/{*rest}", any(not_found))
        .layer(
            ServiceBuilder::new()
                .layer(SetSensitiveRequestHeadersLayer::new([header::COOKIE]))
                .layer(SetSensitiveResponseHeadersLayer::new([header::SET_COOKIE]))
                .layer(
                    // Spans carry method and path only: no cookies, no query string.
                    TraceLayer::new_for_http()
                        .make_span_with(|req: &Request| {
                            tracing::info_span!(
                                "page",
                                method = %req.method(),
                                path = %req.uri().path(),
                            )
                        })
                        .on_response(DefaultOnResponse::new().level(Level::INFO)),
                )
                .layer(middleware::from_fn(security_headers))
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    web.config.request_timeout,
                ))
                .layer(middleware::from_fn_with_state(
                    web.clone(),
                    limit_by_address,
                ))
                .layer(RequestBodyLimitLayer::new(web.config.max_form_bytes))
                .layer(Extension(web)),
        )
}

/// `/`: the ledger (which sends a visitor without a session to the sign-in page).
async fn home() -> Redirect {
    Redirect::to("/ui/ledger")
}

async fn not_found() -> WebError {
    WebError::NotFound("没有这个页面。".into())
}

async fn limit_by_address(State(web): State<Arc<Web>>, request: Request, next: Next) -> Response {
    if let Some(limiter) = &web.address_limiter {
        if !limiter.check(&ClientAddr::of(request.extensions())) {
            return WebError::TooManyRequests.into_response();
        }
    }
    next.run(request).await
}

/// Headers every dashboard answer carries: no framing, no sniffing, scripts and styles only from
/// the relay itself, and (pages hold personal data) no caching except of the static assets.
async fn security_headers(request: Request, next: Next) -> Response {
    let is_asset = request.uri().path().starts_with("/ui/static/");
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !is_asset && !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}
