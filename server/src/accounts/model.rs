//! Units, users, roles, devices and the principal a request acts as.

use fieldledger_core::access::{self, Scope};
use serde::{Deserialize, Serialize};

/// What a user may see and do: the core's roles, one type on both sides (the accounts store
/// its code; reading any other text is an error).
pub use fieldledger_core::access::Role;

use crate::error::{RelayError, Result};

/// A unit (单位): a clinic, hospital or bureau section, or the bureau office itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unit {
    /// Short ASCII code, upper case (e.g. `WJK`).
    pub code: String,
    /// Full name (e.g. 卫健局疾控科).
    pub name: String,
    /// Whether this is the bureau office, which sees every unit.
    pub is_office: bool,
    /// When it was added (RFC 3339, UTC).
    pub created_at: String,
}

/// A person who may enroll devices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Login name, lower-case ASCII.
    pub login: String,
    /// Display name.
    pub name: String,
    /// Code of the user's unit.
    pub unit: String,
    /// What the user may see and do.
    pub role: Role,
    /// Whether a dashboard password is set.
    pub has_password: bool,
    /// When it was added (RFC 3339, UTC).
    pub created_at: String,
}

/// A new user to add.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    /// Login name (ASCII letters, digits, `.`, `_`, `-`; stored lower case).
    pub login: String,
    /// Display name.
    pub name: String,
    /// Code of the user's unit.
    pub unit: String,
    /// What the user may see and do.
    pub role: Role,
}

/// An enrolled device (phone, tablet or office PC).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// Device id (UUID v4).
    pub id: String,
    /// Short code unique across the relay (`D7`), usable in human numbers.
    pub code: String,
    /// Login of the user the device was enrolled for.
    pub user_login: String,
    /// Code of the unit the device acts for (the user's unit at enrollment).
    pub unit: String,
    /// Automerge actor id bound to this device, lower-case hex.
    pub actor_hex: String,
    /// Free label given at enrollment (e.g. "张三的手机").
    pub label: Option<String>,
    /// When it was enrolled (RFC 3339, UTC).
    pub enrolled_at: String,
    /// When it was revoked (RFC 3339, UTC), if it was.
    pub revoked_at: Option<String>,
}

/// A freshly created one-time enrollment code; the plain code exists only here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnrollmentCode {
    /// The code to type into the device.
    pub code: String,
    /// Login of the user the device will be enrolled for.
    pub user_login: String,
    /// When the code stops working (RFC 3339, UTC).
    pub expires_at: String,
}

/// What a device gets when it redeems an enrollment code: the wire's type.
pub use fieldledger_core::wire::Enrollment;

/// The enrolled device and user a request acts as, resolved from its bearer token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// Device id (UUID v4).
    pub device_id: String,
    /// Short device code (`D7`).
    pub device_code: String,
    /// Automerge actor id bound to the device, lower-case hex.
    pub actor_hex: String,
    /// Login of the device's user.
    pub user_login: String,
    /// Display name of the device's user.
    pub user_name: String,
    /// Code of the device's unit.
    pub unit: String,
    /// Role of the device's user.
    pub role: Role,
}

impl Principal {
    /// The units whose records this principal sees and changes: the bureau office every
    /// unit, everyone else their own. (A leader also sees the cases they lead wherever those
    /// are; that is a per-record rule checked by the sync code, not a unit scope.)
    pub fn scope(&self) -> Scope {
        Scope::of(self.role, &self.unit)
    }

    /// Whether this principal may see and change records of `unit` (a unit code).
    pub fn can_see_unit(&self, unit: &str) -> bool {
        access::sees_unit(self.role, &self.unit, unit)
    }

    /// Whether `actor_hex` (any case) is the actor id bound to this principal's device.
    pub fn owns_actor(&self, actor_hex: &str) -> bool {
        self.actor_hex.eq_ignore_ascii_case(actor_hex)
    }
}

/// Who asks for a one-time enrollment code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Issuer<'a> {
    /// Someone holding the relay's database file (the admin command line, bootstrap, tests),
    /// named as in the audit log: may issue a code for anyone.
    Admin(&'a str),
    /// A user signed in to the dashboard or the API, by login: judged by the role and unit the
    /// registry holds for them now (see [`may_issue_enrollment`]).
    User(&'a str),
}

/// Whether a user of `role` in `unit` may issue an enrollment code for `target` (as
/// [`access::may_issue_enrollment`] decides).
pub fn may_issue_enrollment(role: Role, unit: &str, target: &User) -> bool {
    access::may_issue_enrollment(role, unit, target.role, &target.unit)
}

/// One line of the account audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position in the log (grows with time): pass it as `before` to read older entries.
    pub id: i64,
    /// When it happened (RFC 3339, UTC).
    pub at: String,
    /// Who did it (a login, or `cli:<os user>` for the admin command line).
    pub actor_login: String,
    /// What was done (`unit.add`, `user.add`, `device.enroll`, …).
    pub action: String,
    /// What it was done to.
    pub detail: String,
}

/// A record a revoked device reported as not synced before it erased itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LostRecordEntry {
    /// Row id (grows with time): pass it as `before` to read older rows.
    pub id: i64,
    /// Device that held it.
    pub device_id: String,
    /// That device's user.
    pub user_login: String,
    /// Record id.
    pub record_id: String,
    /// Kind code.
    pub kind: String,
    /// Unit of the record.
    pub unit_code: String,
    /// Case number.
    pub number: String,
    /// Title.
    pub title: String,
    /// Whether the relay never had the record at all.
    pub new_record: bool,
    /// Last written on the device (ms since the Unix epoch).
    pub updated_at: i64,
    /// When the device reported it (RFC 3339, UTC).
    pub reported_at: String,
}

/// What became of a loss report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LostReportOutcome {
    /// Rows kept: the device's report now (it replaced any earlier one).
    pub recorded: usize,
    /// Rows not kept: past [`crate::accounts::MAX_LOST_RECORDS_PER_REPORT`], without a usable
    /// record id, or repeating a record id of the same report.
    pub dropped: usize,
}

/// Checks and normalises a unit code: 1–16 ASCII letters, digits, `_` or `-`, upper-cased.
pub fn normalize_unit_code(code: &str) -> Result<String> {
    let code = code.trim();
    let ok = (1..=16).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(code.to_ascii_uppercase())
    } else {
        Err(RelayError::BadRequest(format!(
            "unit code {code:?} must be 1 to 16 ASCII letters, digits, '_' or '-'"
        )))
    }
}

/// Checks and normalises a login: 1–64 ASCII letters, digits, `.`, `_` or `-`, lower-cased.
pub fn normalize_login(login: &str) -> Result<String> {
    let login = login.trim();
    let ok = (1..=64).contains(&login.len())
        && login
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(login.to_ascii_lowercase())
    } else {
        Err(RelayError::BadRequest(format!(
            "login {login:?} must be 1 to 64 ASCII letters, digits, '.', '_' or '-'"
        )))
    }
}

/// Checks and normalises an Automerge actor id: 1–64 bytes as hex, lower-cased.
pub fn normalize_actor_hex(actor_hex: &str) -> Result<String> {
    let actor_hex = actor_hex.trim();
    let ok = (2..=128).contains(&actor_hex.len())
        && actor_hex.len() % 2 == 0
        && actor_hex.bytes().all(|b| b.is_ascii_hexdigit());
    if ok {
        Ok(actor_hex.to_ascii_lowercase())
    } else {
        Err(RelayError::BadRequest(format!(
            "actor id {actor_hex:?} must be 1 to 64 bytes written as hex"
        )))
    }
}

/// Checks a display name or unit name: not blank, at most 100 characters.
pub fn check_name(what: &str, name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        Err(RelayError::BadRequest(format!(
            "{what} must be 1 to 100 characters without control characters"
        )))
    } else {
        Ok(name.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(unit: &str, role: Role) -> Principal {
        Principal {
            device_id: "d".into(),
            device_code: "D1".into(),
            actor_hex: "aabb".into(),
            user_login: "u".into(),
            user_name: "U".into(),
            unit: unit.into(),
            role,
        }
    }

    #[test]
    fn office_sees_every_unit_others_only_their_own() {
        let office = principal("OFFICE", Role::Office);
        assert!(office.can_see_unit("WJK"));
        assert!(office.can_see_unit("OFFICE"));
        for role in [Role::Staff, Role::UnitHead, Role::Leader] {
            let p = principal("WJK", role);
            assert!(p.can_see_unit("WJK"), "{role} sees own unit");
            assert!(!p.can_see_unit("JKK"), "{role} must not see another unit");
            assert!(!p.can_see_unit("OFFICE"), "{role} must not see the office");
        }
    }

    #[test]
    fn role_spellings_round_trip() {
        for role in Role::ALL {
            assert_eq!(role.code().parse::<Role>().unwrap(), role);
            let json = serde_json::to_string(&role).unwrap();
            assert_eq!(json, format!("\"{}\"", role.code()));
        }
        assert!("admin".parse::<Role>().is_err());
    }

    #[test]
    fn identifiers_are_checked_and_normalised() {
        assert_eq!(normalize_unit_code(" wjk ").unwrap(), "WJK");
        assert!(normalize_unit_code("卫健").is_err());
        assert!(normalize_unit_code("").is_err());
        assert_eq!(normalize_login("Zhang.San").unwrap(), "zhang.san");
        assert!(normalize_login("zhang san").is_err());
        assert_eq!(normalize_actor_hex("ABcd").unwrap(), "abcd");
        assert!(normalize_actor_hex("abc").is_err());
        assert!(normalize_actor_hex("zz").is_err());
        assert!(check_name("name", "  ").is_err());
        assert_eq!(check_name("name", " 疾控科 ").unwrap(), "疾控科");
    }

    #[test]
    fn owns_actor_ignores_case() {
        let p = principal("WJK", Role::Staff);
        assert!(p.owns_actor("AABB"));
        assert!(!p.owns_actor("aabc"));
    }
}
