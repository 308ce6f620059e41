//! The HTTP contract between a device and the relay: the paths a device calls, the JSON of
//! enrollment, the error body and the error codes a device reacts to. Serde types only; the
//! relay (`fieldledger-server`) answers with them and the device client (`fieldledger-client`)
//! sends and reads them. Sync bodies themselves are the postcard messages of [`crate::sync`].

use serde::{Deserialize, Serialize};

use crate::model::Role;

/// `POST`: redeems a one-time enrollment code ([`EnrollRequest`] in, [`Enrollment`] out).
pub const ENROLL_PATH: &str = "/v1/enroll";
/// `POST` with the device's bearer token: one sync round (binary `SyncRequest` in,
/// `SyncResponse` out).
pub const SYNC_PATH: &str = "/v1/sync";
/// `POST` with a revoked device's token: its loss report (JSON of
/// [`crate::sync::LossReport`]).
pub const LOSS_REPORT_PATH: &str = "/v1/device/lost";

/// Content type of sync bodies.
pub const SYNC_CONTENT_TYPE: &str = "application/octet-stream";
/// Content type of JSON bodies.
pub const JSON_CONTENT_TYPE: &str = "application/json";

/// Error code: the device was revoked; it erases itself after its loss report.
pub const DEVICE_REVOKED: &str = "device_revoked";
/// Error code: the enrollment code is unknown, expired, used or locked.
pub const INVALID_ENROLLMENT_CODE: &str = "invalid_enrollment_code";
/// Error code: no valid bearer token.
pub const UNAUTHORIZED: &str = "unauthorized";
/// Error code: too many requests; try again after `Retry-After`.
pub const RATE_LIMITED: &str = "rate_limited";
/// Error code: the device's role or scope does not allow the request.
pub const FORBIDDEN: &str = "forbidden";
/// Error code: the request is not well formed.
pub const BAD_REQUEST: &str = "bad_request";
/// Error code: the body is larger than the relay accepts.
pub const PAYLOAD_TOO_LARGE: &str = "payload_too_large";
/// Error code: the request took longer than the relay allows.
pub const TIMEOUT: &str = "timeout";
/// Error code: no such endpoint.
pub const NOT_FOUND: &str = "not_found";
/// Error code: no such record (or one out of the device's scope: the same answer).
pub const UNKNOWN_RECORD: &str = "unknown_record";
/// Error code: a value, field or rule of a record was refused.
pub const INVALID: &str = "invalid";
/// Error code: document or sync bytes that do not decode.
pub const MALFORMED: &str = "malformed";
/// Error code: no such unit.
pub const UNKNOWN_UNIT: &str = "unknown_unit";
/// Error code: no such user.
pub const UNKNOWN_USER: &str = "unknown_user";
/// Error code: no such device.
pub const UNKNOWN_DEVICE: &str = "unknown_device";
/// Error code: the unit already exists.
pub const DUPLICATE_UNIT: &str = "duplicate_unit";
/// Error code: the user already exists.
pub const DUPLICATE_USER: &str = "duplicate_user";
/// Error code: the actor id is bound to another device.
pub const DUPLICATE_ACTOR: &str = "duplicate_actor";
/// Error code: the relay's database was written by a newer relay.
pub const SCHEMA_TOO_NEW: &str = "schema_too_new";
/// Error code: the relay's storage failed; try again later.
pub const STORAGE: &str = "storage";
/// Error code: the relay failed in a way it did not expect.
pub const INTERNAL: &str = "internal";

/// Body of `POST /v1/enroll`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollRequest {
    /// The one-time enrollment code from the bureau office.
    pub code: String,
    /// The device's new Automerge actor id, hex.
    pub actor_hex: String,
    /// Optional label for the device list (e.g. "张三的手机").
    #[serde(default)]
    pub device_label: Option<String>,
}

/// What a device gets when it redeems an enrollment code; the token exists only here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrollment {
    /// Device id (UUID v4).
    pub device_id: String,
    /// Short device code (`D7`).
    pub device_code: String,
    /// Bearer token for all later requests (64 hex chars); the relay keeps only its hash.
    pub token: String,
    /// Login of the device's user.
    pub user_login: String,
    /// Display name of the device's user (empty from relays that did not send it).
    #[serde(default)]
    pub user_name: String,
    /// Code of the device's unit.
    pub unit: String,
    /// Role of the device's user.
    pub role: Role,
}

/// JSON body of every error answer: `{"error": "<code>", "message": "<human message>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// Stable machine-readable code (`device_revoked`, `unauthorized`, …).
    pub error: String,
    /// Message for a person.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enrollment_reads_the_relays_json_with_or_without_a_name() {
        let json = r#"{"device_id":"d","device_code":"D1","token":"t","user_login":"zhang",
            "unit":"WJK","role":"unit-head"}"#;
        let e: Enrollment = serde_json::from_str(json).unwrap();
        assert_eq!(e.role, Role::UnitHead);
        assert_eq!(e.user_name, "");
        let back: Enrollment = serde_json::from_str(&serde_json::to_string(&e).unwrap()).unwrap();
        assert_eq!(back, e);
    }
}
