//! The relay's HTTP application: routes, middleware and graceful serving (the state they
//! share is in [`crate::state`]).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tower::ServiceBuilder;
use tower_http::LatencyUnit;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::accounts::{Enrollment, Principal, Unit};
use crate::client_addr::ClientAddr;
use crate::connections::serve_connections;
use crate::error::{ErrorBody, RelayError, Result};
use crate::records::peer_for;
pub use crate::state::{
    AppConfig, AppState, DEFAULT_ENROLL_FAILURE_RATE, DEFAULT_LOST_REPORT_RATE,
    DEFAULT_MAX_BODY_BYTES, DEFAULT_PASSWORD_CHECKS_AT_ONCE, JsonBody, PASSWORD_CHECKS_WAITING,
};
use fieldledger_core::sync::{SyncRequest, answer_reads, check_pushes};
use fieldledger_core::wire;

/// The relay's router with all middleware, ready to serve or to call with `oneshot` in tests.
pub fn app(state: AppState) -> Router {
    let config = state.config().clone();
    let routes = Router::new()
        .route("/health", get(health))
        .route(wire::ENROLL_PATH, post(enroll))
        .route("/v1/whoami", get(whoami))
        .route("/v1/units", get(units))
        .route(wire::SYNC_PATH, post(sync))
        .merge(crate::reports::routes())
        .merge(crate::protection::routes());
    routes
        .fallback(not_found)
        .layer(
            // Listed outermost first.
            ServiceBuilder::new()
                // Before tracing, so a header dump can only ever show "Sensitive".
                .layer(SetSensitiveRequestHeadersLayer::new([
                    header::AUTHORIZATION,
                ]))
                .layer(
                    // Spans carry method and path only: no headers, no query string.
                    TraceLayer::new_for_http()
                        .make_span_with(|req: &Request| {
                            tracing::info_span!(
                                "request",
                                method = %req.method(),
                                path = %req.uri().path(),
                            )
                        })
                        .on_response(
                            // In microseconds: most answers take less than a millisecond.
                            DefaultOnResponse::new()
                                .level(Level::INFO)
                                .latency_unit(LatencyUnit::Micros),
                        ),
                )
                .layer(middleware::map_response(json_error_body))
                .layer(TimeoutLayer::with_status_code(
                    StatusCode::REQUEST_TIMEOUT,
                    config.request_timeout,
                ))
                .layer(middleware::from_fn_with_state(
                    state.clone(),
                    limit_by_address,
                ))
                .layer(DefaultBodyLimit::disable())
                .layer(RequestBodyLimitLayer::new(config.max_body_bytes)),
        )
        .merge(crate::web::routes())
        // Outermost: every limiter below counts the same client address.
        .layer(middleware::from_fn_with_state(
            Arc::<[std::net::IpAddr]>::from(config.trusted_proxies.clone()),
            crate::client_addr::resolve,
        ))
        .with_state(state)
}

/// Serves `app(state)` on `listener` until `shutdown` completes, then gives running requests
/// up to [`crate::connections::SHUTDOWN_GRACE`] to finish. Connections are held to
/// [`AppConfig::connections`] (see [`crate::connections`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, None, state, shutdown).await
}

/// Loads a PEM certificate chain and private key for HTTPS (rustls with the *ring* provider).
pub async fn tls_config(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> std::io::Result<axum_server::tls_rustls::RustlsConfig> {
    // The process-wide provider; an error only means one is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key).await
}

/// Serves `app(state)` over HTTPS (HTTP/1.1) on `listener` until `shutdown` completes, with
/// the same connection caps and timeouts as [`serve`]; the TLS handshake must finish within
/// the header-read timeout.
pub async fn serve_tls(
    listener: std::net::TcpListener,
    tls: axum_server::tls_rustls::RustlsConfig,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let mut config = (*tls.get_inner()).clone();
    // HTTP/1.1 only: the relay's connections are served by hyper's HTTP/1 server.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    serve_with(listener, Some(acceptor), state, shutdown).await
}

async fn serve_with(
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let config = state.config().clone();
    // A request may run for its whole timeout without moving a byte; idleness is counted
    // beyond that.
    let min_idle = config.request_timeout + Duration::from_secs(5);
    serve_connections(
        listener,
        tls,
        app(state),
        config.connections.clone(),
        min_idle,
        config.trusted_proxies.clone(),
        shutdown,
    )
    .await
}

/// Completes on Ctrl-C, or on SIGTERM on Unix.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(%err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(%err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

/// Body of `POST /v1/enroll`: the wire's type.
pub use fieldledger_core::wire::EnrollRequest;

async fn health() -> &'static str {
    "ok"
}

/// Key of the one global bucket of failed enrollments.
const ENROLL_FAILURES: &str = "all";

/// `POST /v1/enroll`. Every failed code (wrong, expired, used or locked) takes a token from one
/// bucket shared by all clients; while it is empty everyone gets 429, so guessing is capped at
/// the bucket's rate however many addresses guess. The check and the take run under the
/// accounts lock, so concurrent requests cannot overshoot it.
async fn enroll(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<EnrollRequest>,
) -> Result<Json<Enrollment>> {
    let limiter = state.enroll_failures();
    // While the bucket is empty, answer without queueing for the accounts lock.
    if limiter
        .as_ref()
        .is_some_and(|l| !l.available(ENROLL_FAILURES))
    {
        return Err(RelayError::RateLimited);
    }
    let enrollment = state
        .with_accounts(move |accounts| {
            if limiter
                .as_ref()
                .is_some_and(|l| !l.available(ENROLL_FAILURES))
            {
                return Err(RelayError::RateLimited);
            }
            let result = accounts.redeem_enrollment(
                &request.code,
                &request.actor_hex,
                request.device_label.as_deref(),
            );
            if let (Err(RelayError::InvalidEnrollmentCode), Some(limiter)) = (&result, &limiter) {
                limiter.check(ENROLL_FAILURES);
                if !limiter.available(ENROLL_FAILURES) {
                    tracing::warn!("failed-enrollment limit reached: /v1/enroll answers 429");
                    accounts.note_enrollment_limit_reached()?;
                }
            }
            result
        })
        .await?;
    tracing::info!(
        device = %enrollment.device_code,
        user = %enrollment.user_login,
        "device enrolled"
    );
    Ok(Json(enrollment))
}

/// `POST /v1/sync`: one sync round; binary [`SyncRequest`] in, binary `SyncResponse` out.
/// Malformed bytes are answered 400 and change nothing.
async fn sync(
    State(state): State<AppState>,
    principal: Principal,
    body: axum::body::Bytes,
) -> Result<Response> {
    let request = SyncRequest::decode(&body).map_err(|e| RelayError::BadRequest(e.to_string()))?;
    let peer = peer_for(&principal);
    let pushed = request.push.len();
    let request = Arc::new(request);
    let (push_outcome, events) = if request.push.is_empty() {
        Default::default()
    } else {
        // Loading, merging and checking run on a reader, beside other devices' rounds; the
        // writer only commits (and checks again a record written in between).
        let checked = {
            let (peer, request) = (peer.clone(), Arc::clone(&request));
            state
                .with_record_reader(move |store| Ok(check_pushes(store, &peer, &request)?))
                .await?
        };
        state
            .commit_pushes(peer.clone(), Arc::clone(&request), checked)
            .await?
    };
    // Wanted documents and the feed page are read beside the writer, not under its lock.
    let response = state
        .with_record_reader(move |store| Ok(answer_reads(store, &peer, &request, push_outcome)?))
        .await?;
    crate::audit::log_events(&state, &principal, events).await;
    tracing::info!(
        device = %principal.device_code,
        pushed,
        accepted = response.accepted.len(),
        rejected = response.rejected.len(),
        feed = response.feed.len(),
        docs = response.docs.len(),
        "sync round"
    );
    Ok((
        [(header::CONTENT_TYPE, "application/octet-stream")],
        response.encode(),
    )
        .into_response())
}

async fn whoami(principal: Principal) -> Json<Principal> {
    Json(principal)
}

async fn units(State(state): State<AppState>, principal: Principal) -> Result<Json<Vec<Unit>>> {
    let units = state
        .read_accounts(|accounts| accounts.list_units())
        .await?
        .into_iter()
        .filter(|unit| principal.can_see_unit(&unit.code))
        .collect();
    Ok(Json(units))
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(ErrorBody {
            error: wire::NOT_FOUND.into(),
            message: "no such endpoint".into(),
        }),
    )
        .into_response()
}

async fn limit_by_address(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if let Some(limiter) = state.address_limiter() {
        let key = ClientAddr::of(request.extensions());
        if !limiter.check(&key) {
            return RelayError::RateLimited.into_response();
        }
    }
    next.run(request).await
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// Gives error answers made by middleware or axum itself (413 from the body limit, 408 from
/// the timeout, 405, extractor rejections) the same JSON body as [`RelayError`].
async fn json_error_body(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(response.headers()) {
        return response;
    }
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        return RelayError::PayloadTooLarge.into_response();
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let reason = status.canonical_reason().unwrap_or("error");
    let code = match status {
        StatusCode::REQUEST_TIMEOUT => wire::TIMEOUT.to_owned(),
        _ => reason.to_ascii_lowercase().replace([' ', '-'], "_"),
    };
    let message = if text.is_empty() {
        reason.to_owned()
    } else {
        text
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::CONTENT_TYPE);
    (
        parts,
        Json(ErrorBody {
            error: code,
            message,
        }),
    )
        .into_response()
}
