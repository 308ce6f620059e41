//! The phone's HTTP client of the relay: enrollment and the sync transport. The same protocol
//! as `fieldledger-server`'s reference client, kept here so the phone library links no server
//! code (axum, tokio).

use std::time::Duration;

use fieldledger_core::model::{Author, Role};
use fieldledger_core::store::Identity;
use fieldledger_core::sync::{Transport, TransportError};
use serde::Deserialize;

use crate::error::{FfiError, Result};

/// Largest response body the phone accepts.
const MAX_RESPONSE_BYTES: u64 = 256 << 20;

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(15)))
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into()
}

/// Checks a relay base URL (`http(s)://host[:port][/prefix]`) and returns it without a
/// trailing slash.
pub(crate) fn relay_base(url: &str) -> Result<String> {
    let url = url.trim().trim_end_matches('/');
    let uri: ureq::http::Uri = url
        .parse()
        .map_err(|e| FfiError::InvalidArgument(format!("`{url}` is not a relay address: {e}")))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
        return Err(FfiError::InvalidArgument(format!(
            "`{url}` is not a relay address: use http://host:port or https://host"
        )));
    }
    if uri.query().is_some() {
        return Err(FfiError::InvalidArgument(format!(
            "`{url}` is not a relay address: it must not have a query"
        )));
    }
    Ok(url.to_owned())
}

#[derive(Deserialize)]
struct ErrorJson {
    error: String,
    message: String,
}

fn error_of(status: u16, body: &[u8]) -> TransportError {
    let code = serde_json::from_slice::<ErrorJson>(body)
        .ok()
        .map(|e| e.error);
    let message = match serde_json::from_slice::<ErrorJson>(body) {
        Ok(e) => format!("the relay answered {status} ({}): {}", e.error, e.message),
        Err(_) => format!(
            "the relay answered HTTP {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(300)])
        ),
    };
    TransportError {
        message,
        status: Some(status),
        code,
    }
}

fn unreachable(e: ureq::Error) -> TransportError {
    TransportError {
        message: format!("cannot reach the relay: {e}"),
        status: None,
        code: None,
    }
}

/// Sync over HTTP: `POST {relay}/v1/sync` with the device's bearer token.
pub(crate) struct HttpTransport {
    agent: ureq::Agent,
    url: String,
    token: String,
}

impl HttpTransport {
    /// A transport to a relay base URL with a device token.
    pub(crate) fn new(relay_url: &str, token: &str) -> HttpTransport {
        HttpTransport {
            agent: agent(),
            url: relay_url.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
        }
    }
}

impl HttpTransport {
    /// `POST {relay}{path}` with the device's token; the body of a 200 answer, else the
    /// relay's error.
    fn post(&self, path: &str, content_type: &str, body: &[u8]) -> Result<Vec<u8>, TransportError> {
        let mut resp = self
            .agent
            .post(&format!("{}{path}", self.url))
            .header("Authorization", &format!("Bearer {}", self.token))
            .content_type(content_type)
            .send(body)
            .map_err(unreachable)?;
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BYTES)
            .read_to_vec()
            .map_err(|e| TransportError {
                message: format!("reading the relay's answer failed: {e}"),
                status: None,
                code: None,
            })?;
        if status != 200 {
            return Err(error_of(status, &body));
        }
        Ok(body)
    }
}

impl Transport for HttpTransport {
    fn exchange(&mut self, request: Vec<u8>) -> Result<Vec<u8>, TransportError> {
        self.post("/v1/sync", "application/octet-stream", &request)
    }

    fn report_loss(&mut self, report: Vec<u8>) -> Result<(), TransportError> {
        self.post("/v1/device/lost", "application/json", &report)
            .map(|_| ())
    }
}

#[derive(Deserialize)]
struct EnrollmentJson {
    device_id: String,
    device_code: String,
    token: String,
    user_login: String,
    #[serde(default)]
    user_name: String,
    unit: String,
    role: String,
}

/// Redeems a one-time enrollment code for `actor_hex` and returns the identity to keep.
pub(crate) fn enroll(
    relay_base: &str,
    code: &str,
    actor_hex: &str,
    label: Option<&str>,
) -> Result<Identity> {
    let body = serde_json::json!({
        "code": code.trim(),
        "actor_hex": actor_hex,
        "device_label": label,
    });
    let mut resp = agent()
        .post(&format!("{relay_base}/v1/enroll"))
        .content_type("application/json")
        .send(body.to_string().as_bytes())
        .map_err(unreachable)?;
    let status = resp.status().as_u16();
    let bytes = resp
        .body_mut()
        .with_config()
        .limit(1 << 20)
        .read_to_vec()
        .map_err(|e| TransportError {
            message: format!("reading the relay's answer failed: {e}"),
            status: None,
            code: None,
        })?;
    if status != 200 {
        let e = error_of(status, &bytes);
        // A wrong or used code is the user's to fix, not a credential problem of the device.
        return Err(match status {
            400 | 401 | 403 | 404 | 410 => {
                FfiError::InvalidArgument(format!("enrollment refused: {}", e.message))
            }
            _ => e.into(),
        });
    }
    let e: EnrollmentJson = serde_json::from_slice(&bytes).map_err(|err| {
        FfiError::Relay(format!(
            "the relay's enrollment answer is not understood: {err}"
        ))
    })?;
    let role: Role = e
        .role
        .parse()
        .map_err(|_| FfiError::Relay(format!("the relay sent an unknown role `{}`", e.role)))?;
    Ok(Identity {
        author: Author {
            user: e.user_login,
            name: e.user_name,
            device: e.device_id,
            role,
            unit: e.unit,
        },
        device_code: e.device_code,
        relay_url: Some(relay_base.to_owned()),
        token: Some(e.token),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_addresses_are_checked() {
        assert_eq!(
            relay_base("http://127.0.0.1:8787/").unwrap(),
            "http://127.0.0.1:8787"
        );
        assert_eq!(
            relay_base(" https://relay.example.org/fl ").unwrap(),
            "https://relay.example.org/fl"
        );
        for bad in [
            "",
            "relay.example.org",
            "ftp://x",
            "http://",
            "not a url",
            "http://x/?a=1",
        ] {
            assert!(
                matches!(relay_base(bad), Err(FfiError::InvalidArgument(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn relay_errors_are_read_from_their_json() {
        let e = error_of(
            403,
            br#"{"error":"device_revoked","message":"this device was revoked"}"#,
        );
        assert_eq!(e.status, Some(403));
        assert!(
            e.message.contains("this device was revoked"),
            "{}",
            e.message
        );
        assert!(matches!(FfiError::from(e), FfiError::Unauthorized(_)));
    }
}
