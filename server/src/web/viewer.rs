//! The signed-in user of a dashboard request, and what they may see: every scope and right
//! is asked of [`fieldledger_core::access`].

use fieldledger_core::access::{self, Role, Scope};
use fieldledger_core::model::Author;
use fieldledger_core::store::Identity;

use super::error::WebError;

/// Device name dashboard edits are recorded with in a record's history.
pub const WEB_DEVICE: &str = "web";

/// The signed-in user of a dashboard request.
///
/// Extracting it from a request without a live session answers with a redirect to the sign-in
/// page (which comes back to the page asked for).
#[derive(Debug, Clone)]
pub struct Viewer {
    /// Login.
    pub login: String,
    /// Display name.
    pub name: String,
    /// Unit code.
    pub unit: String,
    /// Unit name.
    pub unit_name: String,
    /// Role (office, unit head or leader: field staff do not sign in).
    pub role: Role,
    /// CSRF token of the session.
    pub csrf: String,
    /// The session id (from the cookie), to end it at sign-out.
    pub(super) session_id: String,
}

impl Viewer {
    /// The units whose records the viewer sees and changes.
    pub fn scope(&self) -> Scope {
        Scope::of(self.role, &self.unit)
    }

    /// Whether the viewer sees every unit (the bureau office): pages then offer a unit choice.
    pub fn sees_every_unit(&self) -> bool {
        access::sees_every_unit(self.role)
    }

    /// Whether the viewer may see and change records of `unit`: the same rule as sync.
    pub fn can_see_unit(&self, unit: &str) -> bool {
        access::sees_unit(self.role, &self.unit, unit)
    }

    /// The units the viewer may read (`None`: every unit).
    pub fn allowed_units(&self) -> Option<Vec<String>> {
        self.scope().into_units()
    }

    /// The identity the relay's store writes the viewer's edits as.
    pub fn identity(&self) -> Identity {
        Identity {
            author: Author {
                user: self.login.clone(),
                name: self.name.clone(),
                device: WEB_DEVICE.into(),
                role: self.role,
                unit: self.unit.clone(),
            },
            device_code: "WEB".into(),
            relay_url: None,
            token: None,
            relay_ca_pem: None,
        }
    }

    /// Checks a form's CSRF token against the session's.
    pub fn check_csrf(&self, token: &str) -> Result<(), WebError> {
        if constant_time_eq(token.as_bytes(), self.csrf.as_bytes()) {
            Ok(())
        } else {
            Err(stale_form())
        }
    }
}

fn stale_form() -> WebError {
    WebError::Forbidden("表单已失效（缺少或不匹配的安全令牌）。请刷新页面后重试。".into())
}

pub(super) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
