//! The relay's HTTP application: shared state, routes, middleware and graceful serving.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tower::ServiceBuilder;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::accounts::{AccountStore, Enrollment, Principal, Unit};
use crate::client_addr::ClientAddr;
use crate::connections::{ConnectionLimits, serve_connections};
use crate::error::{ErrorBody, RelayError, Result};
use crate::rate_limit::{Rate, RateLimiter};
use crate::records::{ReaderPool, RecordStorage, SqliteRecords, peer_for};
use fieldledger_core::sync::{SyncRequest, answer_reads};
use fieldledger_core::wire;

/// Default largest accepted request body: 16 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Default global limit of failed enrollments: 20 a minute (bursts of 20), from all clients
/// together.
pub const DEFAULT_ENROLL_FAILURE_RATE: Rate = Rate::new(20.0 / 60.0, 20);

/// Default limit of loss reports per revoked device: 5 at once, then one every 10 minutes
/// (a device tries three times before it erases itself).
pub const DEFAULT_LOST_REPORT_RATE: Rate = Rate::new(1.0 / 600.0, 5);
/// Default number of dashboard password checks that run at once.
pub const DEFAULT_PASSWORD_CHECKS_AT_ONCE: usize = 2;

/// Password checks that may wait for a turn; a sign-in past them is answered 429 at once.
pub const PASSWORD_CHECKS_WAITING: usize = 64;

/// Tunables of the HTTP application.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// Largest accepted request body in bytes; larger ones get 413.
    pub max_body_bytes: usize,
    /// Longest time a request may take before it is answered 408.
    pub request_timeout: Duration,
    /// Request rate allowed per enrolled device (`None`: unlimited).
    pub device_rate: Option<Rate>,
    /// Request rate allowed per client IP address, authenticated or not (`None`: unlimited).
    /// Set it well above `device_rate`: a unit's phones often share one office address.
    pub address_rate: Option<Rate>,
    /// Reverse proxies (their addresses) whose `X-Forwarded-For` names the real client: the
    /// per-address rate limits (API and dashboard) then count that client, not the proxy.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Failed enrollments allowed across *all* clients (`None`: unlimited): once the bucket is
    /// empty, `POST /v1/enroll` answers 429 to everyone, right codes included, until it refills.
    pub enroll_failure_rate: Option<Rate>,
    /// Failed guesses after which every pending enrollment code stops working (each wrong
    /// code is a guess at every pending one); see [`crate::accounts::MAX_GUESSES_PER_CODE`].
    pub enroll_guesses_per_code: u32,
    /// Loss reports allowed per revoked device (`POST /v1/device/lost`; `None`: unlimited).
    pub lost_report_rate: Option<Rate>,
    /// Connection caps and timeouts (header read, idle) of [`serve`] and [`serve_tls`].
    pub connections: ConnectionLimits,
    /// Dashboard password checks (Argon2, ~19 MiB each) running at once; more wait.
    pub password_checks_at_once: usize,
}

impl Default for AppConfig {
    fn default() -> Self {
        AppConfig {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            request_timeout: Duration::from_secs(60),
            device_rate: Some(Rate::new(50.0, 100)),
            address_rate: Some(Rate::new(200.0, 400)),
            trusted_proxies: Vec::new(),
            enroll_failure_rate: Some(DEFAULT_ENROLL_FAILURE_RATE),
            enroll_guesses_per_code: crate::accounts::MAX_GUESSES_PER_CODE,
            lost_report_rate: Some(DEFAULT_LOST_REPORT_RATE),
            connections: ConnectionLimits::default(),
            password_checks_at_once: DEFAULT_PASSWORD_CHECKS_AT_ONCE,
        }
    }
}

/// State shared by all request handlers.
#[derive(Debug, Clone)]
pub struct AppState {
    accounts: Arc<Mutex<AccountStore>>,
    config: Arc<AppConfig>,
    device_limiter: Option<Arc<RateLimiter>>,
    address_limiter: Option<Arc<RateLimiter>>,
    enroll_failures: Option<Arc<RateLimiter>>,
    lost_reports: Option<Arc<RateLimiter>>,
    records: Arc<Mutex<SqliteRecords>>,
    readers: Option<Arc<ReaderPool>>,
    read_slots: Arc<tokio::sync::Semaphore>,
    password_checks: Arc<PasswordChecks>,
}

/// Turns for dashboard password checks: Argon2 takes ~19 MiB and tens of milliseconds each,
/// so only a few run at once, outside every lock, and a bounded number wait.
#[derive(Debug)]
struct PasswordChecks {
    turns: Arc<tokio::sync::Semaphore>,
    waiting: std::sync::atomic::AtomicUsize,
}

/// Sync answers read at once on reader connections; more wait (the machine has few cores).
const READ_SLOTS: usize = 4;

impl AppState {
    /// State over an opened account registry.
    pub fn new(mut accounts: AccountStore, records: SqliteRecords, config: AppConfig) -> Self {
        accounts.set_guesses_per_code(config.enroll_guesses_per_code);
        AppState {
            enroll_failures: config
                .enroll_failure_rate
                .map(|r| Arc::new(RateLimiter::new(r))),
            lost_reports: config
                .lost_report_rate
                .map(|r| Arc::new(RateLimiter::new(r))),
            accounts: Arc::new(Mutex::new(accounts)),
            readers: records.readers().map(Arc::new),
            read_slots: Arc::new(tokio::sync::Semaphore::new(READ_SLOTS)),
            records: Arc::new(Mutex::new(records)),
            device_limiter: config.device_rate.map(|r| Arc::new(RateLimiter::new(r))),
            address_limiter: config.address_rate.map(|r| Arc::new(RateLimiter::new(r))),
            password_checks: Arc::new(PasswordChecks {
                turns: Arc::new(tokio::sync::Semaphore::new(
                    config.password_checks_at_once.max(1),
                )),
                waiting: std::sync::atomic::AtomicUsize::new(0),
            }),
            config: Arc::new(config),
        }
    }

    /// The configuration the application was built with.
    pub fn config(&self) -> &AppConfig {
        &self.config
    }

    /// Runs `f` on the account registry (and through it, the database connection) on a
    /// blocking thread, so that SQLite never blocks the async runtime.
    pub async fn with_accounts<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&mut AccountStore) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let accounts = Arc::clone(&self.accounts);
        tokio::task::spawn_blocking(move || {
            // A panic in another task rolled its transaction back while unwinding, so the
            // connection behind a poisoned lock is still consistent.
            let mut accounts = accounts.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut accounts)
        })
        .await?
    }

    /// Runs `f` on the record storage on a blocking thread. Writes are serialised by the
    /// lock (SQLite has one writer anyway); the account lookups of other requests go on.
    pub async fn with_records<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&mut SqliteRecords) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let records = Arc::clone(&self.records);
        tokio::task::spawn_blocking(move || {
            let mut records = records.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut records)
        })
        .await?
    }

    /// Runs `f` on a read-only connection to the record store on a blocking thread, beside
    /// the writer and other readers (an in-memory store has no second connection: then on
    /// the record storage itself, under its lock).
    pub async fn with_record_reader<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&fieldledger_core::Store) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let Some(readers) = self.readers.clone() else {
            return self.with_records(move |records| f(records.store())).await;
        };
        let _slot = self
            .read_slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| RelayError::Internal("the relay is shutting down".into()))?;
        tokio::task::spawn_blocking(move || readers.read(f)).await?
    }

    /// Runs `f` — a password hash or check — on a blocking thread when one of the
    /// [`AppConfig::password_checks_at_once`] turns is free, holding no other lock.
    /// [`RelayError::RateLimited`] when [`PASSWORD_CHECKS_WAITING`] already wait.
    pub async fn with_password_turn<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce() -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        use std::sync::atomic::{AtomicUsize, Ordering};
        /// Counts a waiting check until dropped (also when the request is given up).
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::AcqRel);
            }
        }
        let checks = &self.password_checks;
        let waiting = Waiting(&checks.waiting);
        if checks.waiting.fetch_add(1, Ordering::AcqRel) >= PASSWORD_CHECKS_WAITING {
            return Err(RelayError::RateLimited);
        }
        let turn = Arc::clone(&checks.turns)
            .acquire_owned()
            .await
            .map_err(|_| RelayError::Internal("password checks closed".into()))?;
        drop(waiting);
        // The turn goes with the work: a request given up mid-check frees it only when the
        // check itself is done.
        tokio::task::spawn_blocking(move || {
            let _turn = turn;
            f()
        })
        .await?
    }

    /// Takes one loss report from a revoked device's budget; false when it is used up.
    pub fn allow_lost_report(&self, device_id: &str) -> bool {
        self.lost_reports
            .as_ref()
            .is_none_or(|limiter| limiter.check(device_id))
    }

    /// Takes one request from a device's rate budget; false when it is used up.
    pub fn allow_device(&self, device_id: &str) -> bool {
        self.device_limiter
            .as_ref()
            .is_none_or(|limiter| limiter.check(device_id))
    }
}

/// The relay's router with all middleware, ready to serve or to call with `oneshot` in tests.
pub fn app(state: AppState) -> Router {
    let config = state.config.clone();
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
                        .on_response(DefaultOnResponse::new().level(Level::INFO)),
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
    let config = state.config.clone();
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

/// A JSON request body whose rejections are answered as [`RelayError`] (400 or 413).
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(RelayError))]
pub struct JsonBody<T>(pub T);

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
    let limiter = state.enroll_failures.clone();
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
    let (push_outcome, events) = {
        let (peer, request) = (peer.clone(), Arc::clone(&request));
        state
            .with_records(move |records| Ok(records.apply_pushes(&peer, &request)?))
            .await?
    };
    // Wanted documents and the feed page are read beside the writer, not under its lock.
    let response = state
        .with_record_reader(move |store| Ok(answer_reads(store, &peer, &request, push_outcome)?))
        .await?;
    crate::protection::log_events(&state, &principal, events).await;
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
        .with_accounts(|accounts| accounts.list_units())
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
            error: "not_found".into(),
            message: "no such endpoint".into(),
        }),
    )
        .into_response()
}

async fn limit_by_address(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if let Some(limiter) = &state.address_limiter {
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
        StatusCode::REQUEST_TIMEOUT => "timeout".to_owned(),
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
