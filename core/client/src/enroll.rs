//! Enrollment: a store redeems a one-time code from the bureau office and keeps the identity,
//! the token and the relay's CA for every later sync.

use fieldledger_core::model::Author;
use fieldledger_core::store::Identity;
use fieldledger_core::sync::StoreAccess;
use fieldledger_core::wire::{self, EnrollRequest, Enrollment};

use crate::error::{ClientError, Result};
use crate::http::{MAX_SMALL_RESPONSE_BYTES, agent, post, relay_base};

/// Enrolls `store` with the relay at `relay_url` using a one-time `code`: the store starts a
/// fresh actor id, the relay binds it to a new device, and the store keeps the identity, the
/// token and `ca_pem` (the relay's certificate authority, when it is the bureau's own), so
/// every later sync trusts what this one trusted. The request runs without the store lock.
pub fn enroll<S: StoreAccess + ?Sized>(
    store: &mut S,
    relay_url: &str,
    code: &str,
    label: Option<&str>,
    ca_pem: Option<&[u8]>,
) -> Result<Identity> {
    let base = relay_base(relay_url)?;
    let code = code.trim();
    if code.is_empty() {
        return Err(ClientError::EmptyEnrollmentCode);
    }
    let relay_ca_pem = ca_pem
        .map(|pem| String::from_utf8(pem.to_vec()))
        .transpose()
        .map_err(|_| ClientError::InvalidCertificate("it is not PEM text".into()))?;
    let agent = agent(ca_pem)?;
    let actor_hex = store.with_store(|s| s.rotate_actor())?;
    let request = EnrollRequest {
        code: code.to_owned(),
        actor_hex: actor_hex.clone(),
        device_label: label.map(str::to_owned),
    };
    let body = serde_json::to_vec(&request).map_err(fieldledger_core::Error::from)?;
    let answer = post(
        &agent,
        &format!("{base}{}", wire::ENROLL_PATH),
        None,
        wire::JSON_CONTENT_TYPE,
        &body,
        MAX_SMALL_RESPONSE_BYTES,
    )
    .map_err(|e| match e.status {
        // A wrong or used code is the person's to fix, not a fault of the device.
        Some(400 | 401 | 403 | 404 | 410) => ClientError::EnrollmentRefused(e),
        _ => ClientError::Transport(e),
    })?;
    let e: Enrollment = serde_json::from_slice(&answer)
        .map_err(|err| ClientError::UnexpectedEnrollment(err.to_string()))?;
    let identity = Identity {
        author: Author {
            user: e.user_login,
            name: e.user_name,
            device: e.device_id,
            role: e.role,
            unit: e.unit,
        },
        device_code: e.device_code,
        relay_url: Some(base),
        token: Some(e.token),
        relay_ca_pem,
    };
    store.with_store(|s| {
        if s.actor_hex() != actor_hex {
            return Err(ClientError::ConcurrentEnrollment);
        }
        s.set_identity(identity.clone())?;
        Ok(identity)
    })
}
