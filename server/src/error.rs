//! The relay's error type and how it is answered over HTTP.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use fieldledger_core::wire;

/// Result of relay operations.
pub type Result<T> = std::result::Result<T, RelayError>;

/// Everything that can go wrong in the relay, worded so that the user can act on it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RelayError {
    /// No unit has this code.
    #[error("unknown unit {0:?}: list units with `fieldledger admin unit list`")]
    UnknownUnit(String),
    /// No user has this login.
    #[error("unknown user {0:?}: list users with `fieldledger admin user list`")]
    UnknownUser(String),
    /// No device has this id or device code.
    #[error("unknown device {0:?}: list devices with `fieldledger admin device list`")]
    UnknownDevice(String),
    /// A unit with this code already exists.
    #[error("unit {0:?} already exists")]
    DuplicateUnit(String),
    /// A user with this login already exists.
    #[error("user {0:?} already exists")]
    DuplicateUser(String),
    /// The Automerge actor id is already bound to another device.
    #[error(
        "actor id {0} is already bound to an enrolled device; a reinstalled device must use a new actor id"
    )]
    DuplicateActor(String),
    /// The enrollment code is unknown, expired or already used.
    #[error(
        "enrollment code is unknown, expired or already used; ask the bureau office for a new one"
    )]
    InvalidEnrollmentCode,
    /// The issuer's role does not allow an enrollment code for this user (a unit head asked
    /// for a leader, an office user, someone of another unit, or themselves).
    #[error(
        "forbidden: a unit head issues enrollment codes only for staff of their own unit; ask the bureau office for a code for {0:?}"
    )]
    MayNotEnroll(String),
    /// The device's token was revoked.
    #[error("device revoked: this device must be enrolled again")]
    DeviceRevoked,
    /// The request carries no valid bearer token.
    #[error("missing or invalid token: send `Authorization: Bearer <token>` of an enrolled device")]
    Unauthorized,
    /// The caller is known but may not do this.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The request is malformed or a value is invalid.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The request body is larger than the relay accepts.
    #[error("request body too large")]
    PayloadTooLarge,
    /// Too many requests from this device or address.
    #[error("too many requests: slow down and retry later")]
    RateLimited,
    /// The database was written by a newer relay.
    #[error(
        "database account schema version {found} is newer than this relay supports ({supported}); upgrade fieldledger"
    )]
    SchemaTooNew {
        /// Version found in the database.
        found: i64,
        /// Newest version this build understands.
        supported: i64,
    },
    /// The database failed.
    #[error("storage error: {0}")]
    Storage(#[from] rusqlite::Error),
    /// A bug or an unexpected state in the relay.
    #[error("internal error: {0}")]
    Internal(String),
    /// An error from the record store (fieldledger-core); its message is the core's, once
    /// (transparent, so an error chain does not print it twice).
    #[error(transparent)]
    Core(#[from] fieldledger_core::Error),
    /// The PostgreSQL deployment could not be read or written (see [`crate::replica`]).
    #[error(transparent)]
    Replication(#[from] crate::replica::ReplicaError),
}

fn core_status(e: &fieldledger_core::Error) -> StatusCode {
    use fieldledger_core::Error as E;
    match e {
        E::UnknownRecord(_) | E::UnknownEntry { .. } => StatusCode::NOT_FOUND,
        E::PermissionDenied(_) => StatusCode::FORBIDDEN,
        E::WrongKind { .. }
        | E::UnknownField { .. }
        | E::InvalidValue { .. }
        | E::UnknownCategory(_)
        | E::RuleViolation(_)
        | E::NoConflict(_)
        | E::MalformedDocument(_)
        | E::MalformedSync(_) => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn core_code(e: &fieldledger_core::Error) -> &'static str {
    use fieldledger_core::Error as E;
    match e {
        E::UnknownRecord(_) | E::UnknownEntry { .. } => wire::UNKNOWN_RECORD,
        E::PermissionDenied(_) => wire::FORBIDDEN,
        E::MalformedDocument(_) | E::MalformedSync(_) => wire::MALFORMED,
        E::WrongKind { .. }
        | E::UnknownField { .. }
        | E::InvalidValue { .. }
        | E::UnknownCategory(_)
        | E::RuleViolation(_)
        | E::NoConflict(_) => wire::INVALID,
        _ => wire::STORAGE,
    }
}

impl RelayError {
    /// HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            RelayError::UnknownUnit(_)
            | RelayError::UnknownUser(_)
            | RelayError::UnknownDevice(_) => StatusCode::NOT_FOUND,
            RelayError::DuplicateUnit(_)
            | RelayError::DuplicateUser(_)
            | RelayError::DuplicateActor(_) => StatusCode::CONFLICT,
            RelayError::InvalidEnrollmentCode | RelayError::Unauthorized => {
                StatusCode::UNAUTHORIZED
            }
            RelayError::DeviceRevoked | RelayError::Forbidden(_) | RelayError::MayNotEnroll(_) => {
                StatusCode::FORBIDDEN
            }
            RelayError::BadRequest(_) => StatusCode::BAD_REQUEST,
            RelayError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            RelayError::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            RelayError::SchemaTooNew { .. } | RelayError::Storage(_) | RelayError::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            RelayError::Core(e) => core_status(e),
            RelayError::Replication(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// Stable machine-readable code sent as `error` in the JSON body.
    pub fn code(&self) -> &'static str {
        match self {
            RelayError::UnknownUnit(_) => wire::UNKNOWN_UNIT,
            RelayError::UnknownUser(_) => wire::UNKNOWN_USER,
            RelayError::UnknownDevice(_) => wire::UNKNOWN_DEVICE,
            RelayError::DuplicateUnit(_) => wire::DUPLICATE_UNIT,
            RelayError::DuplicateUser(_) => wire::DUPLICATE_USER,
            RelayError::DuplicateActor(_) => wire::DUPLICATE_ACTOR,
            RelayError::InvalidEnrollmentCode => wire::INVALID_ENROLLMENT_CODE,
            RelayError::DeviceRevoked => wire::DEVICE_REVOKED,
            RelayError::Unauthorized => wire::UNAUTHORIZED,
            RelayError::Forbidden(_) | RelayError::MayNotEnroll(_) => wire::FORBIDDEN,
            RelayError::BadRequest(_) => wire::BAD_REQUEST,
            RelayError::PayloadTooLarge => wire::PAYLOAD_TOO_LARGE,
            RelayError::RateLimited => wire::RATE_LIMITED,
            RelayError::SchemaTooNew { .. } => wire::SCHEMA_TOO_NEW,
            RelayError::Storage(_) => wire::STORAGE,
            RelayError::Internal(_) => wire::INTERNAL,
            RelayError::Core(e) => core_code(e),
            RelayError::Replication(_) => wire::STORAGE,
        }
    }
}

/// JSON body of every error answer: `{"error": "<code>", "message": "<human message>"}`.
pub use fieldledger_core::wire::ErrorBody;

impl IntoResponse for RelayError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = if status.is_server_error() {
            // The details (SQL, paths) go to the log, not to the client.
            tracing::error!(error = %self, "request failed");
            match self {
                RelayError::SchemaTooNew { .. } => self.to_string(),
                _ => "the relay failed to handle the request; see the relay's log".to_owned(),
            }
        } else {
            self.to_string()
        };
        let body = ErrorBody {
            error: self.code().to_owned(),
            message,
        };
        let mut response = (status, Json(body)).into_response();
        match status {
            StatusCode::UNAUTHORIZED => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}

impl From<JsonRejection> for RelayError {
    fn from(rejection: JsonRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            RelayError::PayloadTooLarge
        } else {
            RelayError::BadRequest(rejection.body_text())
        }
    }
}

impl From<tokio::task::JoinError> for RelayError {
    fn from(err: tokio::task::JoinError) -> Self {
        RelayError::Internal(format!("database task failed: {err}"))
    }
}
