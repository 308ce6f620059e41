//! HTTP to the relay (ureq, blocking): the relay address check, the agent (with the bureau's
//! own certificate authority where the relay's certificate comes from one), and the sync
//! [`Transport`].

use std::sync::Arc;
use std::time::Duration;

use fieldledger_core::Store;
use fieldledger_core::sync::{Transport, TransportError};
use fieldledger_core::wire::{self, ErrorBody};

use crate::error::{ClientError, Result};

/// Largest sync answer a device accepts.
const MAX_RESPONSE_BYTES: u64 = 256 << 20;
/// Largest enrollment or error answer a device reads.
pub(crate) const MAX_SMALL_RESPONSE_BYTES: u64 = 1 << 20;

/// Checks a relay base URL (`http(s)://host[:port][/prefix]`) and returns it without
/// surrounding spaces or a trailing slash.
pub fn relay_base(url: &str) -> Result<String> {
    let trimmed = url.trim().trim_end_matches('/');
    let invalid = |reason: String| ClientError::InvalidRelayUrl {
        url: trimmed.to_owned(),
        reason,
    };
    let uri: ureq::http::Uri = trimmed.parse().map_err(|e| invalid(format!("{e}")))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
        return Err(invalid("use http://host:port or https://host".into()));
    }
    if uri.query().is_some() {
        return Err(invalid("it must not have a query".into()));
    }
    Ok(trimmed.to_owned())
}

/// The HTTP agent of a device. With `ca_pem` (one or more PEM certificates: the bureau's own
/// certificate authority), HTTPS trusts only those; without, the public roots.
pub fn agent(ca_pem: Option<&[u8]>) -> Result<ureq::Agent> {
    let mut config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(15)))
        .timeout_global(Some(Duration::from_secs(120)));
    if let Some(pem) = ca_pem {
        let certs = ca_certificates(pem)?;
        config = config.tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::Specific(Arc::new(certs)))
                .build(),
        );
    }
    Ok(config.build().into())
}

/// The certificates of a PEM bundle; at least one.
fn ca_certificates(pem: &[u8]) -> Result<Vec<ureq::tls::Certificate<'static>>> {
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(pem) {
        match item.map_err(|e| ClientError::InvalidCertificate(e.to_string()))? {
            ureq::tls::PemItem::Certificate(c) => certs.push(c),
            _ => continue,
        }
    }
    if certs.is_empty() {
        return Err(ClientError::InvalidCertificate(
            "no PEM certificate (-----BEGIN CERTIFICATE-----) in it".into(),
        ));
    }
    Ok(certs)
}

/// A relay's error answer: its code and message from the JSON body, else the start of the
/// body as text.
pub(crate) fn error_of(status: u16, body: &[u8]) -> TransportError {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) => TransportError {
            message: format!("the relay answered {status} ({}): {}", e.error, e.message),
            status: Some(status),
            code: Some(e.error),
        },
        Err(_) => TransportError {
            message: format!(
                "the relay answered HTTP {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(300)])
            ),
            status: Some(status),
            code: None,
        },
    }
}

/// `POST {url}` with `body` (and the bearer token, if any); the body of a 200 answer, else the
/// relay's error.
pub(crate) fn post(
    agent: &ureq::Agent,
    url: &str,
    token: Option<&str>,
    content_type: &str,
    body: &[u8],
    limit: u64,
) -> std::result::Result<Vec<u8>, TransportError> {
    let mut request = agent.post(url).content_type(content_type);
    if let Some(token) = token {
        request = request.header("Authorization", &format!("Bearer {token}"));
    }
    let mut resp = request
        .send(body)
        .map_err(|e| TransportError::unreachable(format!("cannot reach the relay: {e}")))?;
    let status = resp.status().as_u16();
    let body = resp
        .body_mut()
        .with_config()
        .limit(limit)
        .read_to_vec()
        .map_err(|e| {
            // Cut off mid-answer: a network failure, to retry like one.
            TransportError::unreachable(format!("reading the relay's answer failed: {e}"))
        })?;
    if status != 200 {
        return Err(error_of(status, &body));
    }
    Ok(body)
}

/// Sync over HTTP: `POST {relay}/v1/sync` with the device's bearer token; a revoked device's
/// loss report to `/v1/device/lost`.
pub struct HttpTransport {
    agent: ureq::Agent,
    base: String,
    token: String,
}

impl HttpTransport {
    /// A transport to `relay_url` with `token`, trusting `ca_pem` for HTTPS if given.
    pub fn new(relay_url: &str, token: &str, ca_pem: Option<&[u8]>) -> Result<HttpTransport> {
        Ok(Self::with_agent(
            agent(ca_pem)?,
            &relay_base(relay_url)?,
            token,
        ))
    }

    /// A transport using `agent` (for example one from [`agent`]) to a checked base URL.
    pub fn with_agent(agent: ureq::Agent, relay_base: &str, token: &str) -> HttpTransport {
        HttpTransport {
            agent,
            base: relay_base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
        }
    }

    /// The transport of an enrolled store: its relay, token and relay CA.
    pub fn for_store(store: &Store) -> Result<HttpTransport> {
        Self::for_store_trusting(store, None)
    }

    /// The transport of an enrolled store, trusting `ca_pem` if given instead of the relay CA
    /// kept at enrollment.
    pub fn for_store_trusting(store: &Store, ca_pem: Option<&[u8]>) -> Result<HttpTransport> {
        let id = store
            .identity()
            .ok_or(fieldledger_core::Error::NotEnrolled)?;
        let ca_pem = ca_pem.or(id.relay_ca_pem.as_deref().map(str::as_bytes));
        match (&id.relay_url, &id.token) {
            (Some(url), Some(token)) => HttpTransport::new(url, token, ca_pem),
            _ => Err(fieldledger_core::Error::NotEnrolled.into()),
        }
    }

    fn post(&self, path: &str, content_type: &str, body: &[u8]) -> Result<Vec<u8>, TransportError> {
        post(
            &self.agent,
            &format!("{}{path}", self.base),
            Some(&self.token),
            content_type,
            body,
            MAX_RESPONSE_BYTES,
        )
    }
}

impl Transport for HttpTransport {
    fn exchange(&mut self, request: Vec<u8>) -> std::result::Result<Vec<u8>, TransportError> {
        self.post(wire::SYNC_PATH, wire::SYNC_CONTENT_TYPE, &request)
    }

    fn report_loss(&mut self, report: Vec<u8>) -> std::result::Result<(), TransportError> {
        self.post(wire::LOSS_REPORT_PATH, wire::JSON_CONTENT_TYPE, &report)
            .map(|_| ())
    }
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
                matches!(relay_base(bad), Err(ClientError::InvalidRelayUrl { .. })),
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
        assert!(e.is_revoked());
        assert!(
            e.message.contains("403") && e.message.contains("this device was revoked"),
            "{}",
            e.message
        );
        let e = error_of(502, b"<html>bad gateway</html>");
        assert_eq!((e.status, e.code), (Some(502), None));
        assert!(e.message.contains("bad gateway"), "{}", e.message);
    }

    #[test]
    fn a_ca_without_a_certificate_is_refused() {
        assert!(matches!(
            agent(Some(b"not a certificate")),
            Err(ClientError::InvalidCertificate(_))
        ));
        assert!(agent(None).is_ok());
    }
}
