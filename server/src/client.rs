//! The device side's HTTP client of the relay: enrollment and the sync transport. Small and
//! replaceable: the sync logic itself is the core's sans-I/O [`fieldledger_core::sync`].

use std::time::Duration;

use fieldledger_core::Store;
use fieldledger_core::model::{Author, Role};
use fieldledger_core::store::Identity;
use fieldledger_core::sync::{Transport, TransportError};
use serde::Deserialize;

use crate::app::EnrollRequest;

/// Largest response body a device accepts.
const MAX_RESPONSE_BYTES: u64 = 256 << 20;

/// Environment variable naming a PEM file of a certificate authority to trust besides the
/// public ones: for a relay with a certificate from the bureau's own CA.
pub const RELAY_CA_ENV: &str = "FIELDLEDGER_RELAY_CA";

fn agent() -> ureq::Agent {
    let ca = std::env::var_os(RELAY_CA_ENV).and_then(|p| std::fs::read(p).ok());
    agent_trusting(ca.as_deref()).unwrap_or_else(|_| agent_trusting(None).expect("no CA"))
}

/// An HTTP agent; with `ca_pem`, HTTPS trusts only that certificate authority.
pub fn agent_trusting(ca_pem: Option<&[u8]>) -> Result<ureq::Agent, TransportError> {
    let mut config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)));
    if let Some(pem) = ca_pem {
        let cert = ureq::tls::Certificate::from_pem(pem)
            .map_err(|e| TransportError::unreachable(format!("bad CA certificate: {e}")))?;
        config = config.tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::Specific(std::sync::Arc::new(vec![
                    cert,
                ])))
                .build(),
        );
    }
    Ok(config.build().into())
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
        Ok(e) => format!("{} ({}): {}", status, e.error, e.message),
        Err(_) => format!("HTTP {status}: {}", String::from_utf8_lossy(body)),
    };
    TransportError {
        message,
        status: Some(status),
        code,
    }
}

/// Sync over HTTP: `POST {relay}/v1/sync` with the device's bearer token.
pub struct HttpTransport {
    agent: ureq::Agent,
    url: String,
    token: String,
}

impl HttpTransport {
    /// A transport to `relay_url` (e.g. `http://127.0.0.1:8787`) with `token`.
    pub fn new(relay_url: &str, token: &str) -> HttpTransport {
        Self::with_agent(agent(), relay_url, token)
    }

    /// A transport using `agent` (for example one from [`agent_trusting`]).
    pub fn with_agent(agent: ureq::Agent, relay_url: &str, token: &str) -> HttpTransport {
        HttpTransport {
            agent,
            url: relay_url.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
        }
    }

    /// A transport for an enrolled store.
    pub fn for_store(store: &Store) -> fieldledger_core::Result<HttpTransport> {
        let id = store
            .identity()
            .ok_or(fieldledger_core::Error::NotEnrolled)?;
        match (&id.relay_url, &id.token) {
            (Some(url), Some(token)) => Ok(HttpTransport::new(url, token)),
            _ => Err(fieldledger_core::Error::NotEnrolled),
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
            .map_err(|e| TransportError {
                message: format!("cannot reach the relay: {e}"),
                status: None,
                code: None,
            })?;
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_BYTES)
            .read_to_vec()
            .map_err(|e| TransportError {
                message: format!("reading the relay's answer: {e}"),
                status: Some(status),
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
    user_name: String,
    unit: String,
    role: String,
}

/// Enrolls a store with a relay using a one-time code: the store starts a fresh actor id,
/// the relay binds it to a new device, and the store keeps the identity and token.
pub fn enroll(
    store: &mut Store,
    relay_url: &str,
    code: &str,
    label: Option<&str>,
) -> Result<Identity, TransportError> {
    enroll_with_agent(&agent(), store, relay_url, code, label)
}

/// [`enroll`] with a given HTTP agent.
pub fn enroll_with_agent(
    agent: &ureq::Agent,
    store: &mut Store,
    relay_url: &str,
    code: &str,
    label: Option<&str>,
) -> Result<Identity, TransportError> {
    let actor_hex = store.rotate_actor().map_err(|e| TransportError {
        message: e.to_string(),
        status: None,
        code: None,
    })?;
    let url = format!("{}/v1/enroll", relay_url.trim_end_matches('/'));
    let req = EnrollRequest {
        code: code.to_owned(),
        actor_hex,
        device_label: label.map(str::to_owned),
    };
    let mut resp = agent
        .post(&url)
        .send_json(&req)
        .map_err(|e| TransportError {
            message: format!("cannot reach the relay: {e}"),
            status: None,
            code: None,
        })?;
    let status = resp.status().as_u16();
    let body = resp.body_mut().read_to_vec().map_err(|e| TransportError {
        message: e.to_string(),
        status: Some(status),
        code: None,
    })?;
    if status != 200 {
        return Err(error_of(status, &body));
    }
    let e: EnrollmentJson = serde_json::from_slice(&body).map_err(|e| TransportError {
        message: format!("unexpected enrollment answer: {e}"),
        status: Some(status),
        code: None,
    })?;
    let role: Role = e.role.parse().map_err(|_| TransportError {
        message: format!("unknown role {}", e.role),
        status: Some(status),
        code: None,
    })?;
    let identity = Identity {
        author: Author {
            user: e.user_login,
            name: e.user_name,
            device: e.device_id,
            role,
            unit: e.unit,
        },
        device_code: e.device_code,
        relay_url: Some(relay_url.trim_end_matches('/').to_owned()),
        token: Some(e.token),
    };
    store
        .set_identity(identity.clone())
        .map_err(|e| TransportError {
            message: e.to_string(),
            status: None,
            code: None,
        })?;
    Ok(identity)
}
