//! Who may do what: the roles, the scope each gives and the rights of each, decided here and
//! asked by the store (local edits), the relay's checks of pushed changes, the feed, the
//! reports, the dashboard, the command line and the bindings.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::{Author, Record};

/// Roles of users (the relay's accounts store the role's [`Role::code`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Field staff of a unit (工作人员).
    Staff,
    /// Head of a unit (单位负责人).
    UnitHead,
    /// The leading-group office in the bureau (领导小组办公室): sees all units.
    Office,
    /// A responsible leader (责任领导 / 包案领导).
    Leader,
}

impl Role {
    /// Every role, in the order shown to users.
    pub const ALL: [Role; 4] = [Role::Staff, Role::UnitHead, Role::Office, Role::Leader];

    /// Stable code (`staff`, `unit-head`, `office`, `leader`): on the command line, in JSON
    /// and in the relay's database.
    pub fn code(self) -> &'static str {
        match self {
            Role::Staff => "staff",
            Role::UnitHead => "unit-head",
            Role::Office => "office",
            Role::Leader => "leader",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Role {
    type Err = Error;
    /// Reads a role's code; any other text is an error, never a default role.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "staff" => Ok(Role::Staff),
            "unit-head" | "unit_head" => Ok(Role::UnitHead),
            "office" => Ok(Role::Office),
            "leader" => Ok(Role::Leader),
            _ => Err(Error::invalid(
                "role",
                format!("{s:?} is not one of staff, unit-head, office, leader"),
            )),
        }
    }
}

/// Which units' records one may receive, see and change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every unit (the bureau office).
    All,
    /// These units only.
    Units(Vec<String>),
}

impl Scope {
    /// The scope of a user of `role` in `unit`: the office every unit, everyone else their own.
    pub fn of(role: Role, unit: &str) -> Scope {
        if sees_every_unit(role) {
            Scope::All
        } else {
            Scope::Units(vec![unit.to_owned()])
        }
    }

    /// The scope of an author (see [`Scope::of`]).
    pub fn for_author(author: &Author) -> Scope {
        Scope::of(author.role, &author.unit)
    }

    /// Whether a unit is in scope.
    pub fn contains(&self, unit: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Units(u) => u.iter().any(|x| x == unit),
        }
    }

    /// The units in scope (`None`: every unit).
    pub fn units(&self) -> Option<&[String]> {
        match self {
            Scope::All => None,
            Scope::Units(u) => Some(u),
        }
    }

    /// The units in scope, owned (`None`: every unit): what report filters take.
    pub fn into_units(self) -> Option<Vec<String>> {
        match self {
            Scope::All => None,
            Scope::Units(u) => Some(u),
        }
    }
}

/// Whether users of `role` see every unit: the bureau office only.
pub fn sees_every_unit(role: Role) -> bool {
    role == Role::Office
}

/// Whether a user of `role` in `own_unit` may see and change records of `unit`: the bureau
/// office every unit, everyone else their own.
pub fn sees_unit(role: Role, own_unit: &str, unit: &str) -> bool {
    sees_every_unit(role) || own_unit == unit
}

/// Whether `author` may see and change records of `unit` (see [`sees_unit`]).
pub fn may_access_unit(author: &Author, unit: &str) -> bool {
    sees_unit(author.role, &author.unit, unit)
}

/// Whether `author` may see and change a stored record: one of their units, or a petition
/// case they lead (包案领导, named by login) in any unit.
pub fn may_access_record(author: &Author, record: &Record) -> bool {
    may_access_unit(author, &record.meta().unit) || leads(author, record.case_leader())
}

/// Refuses, as [`Error::PermissionDenied`], an `author` who may not change records of `unit`.
pub fn require_unit(author: &Author, unit: &str) -> Result<()> {
    if may_access_unit(author, unit) {
        Ok(())
    } else {
        Err(Error::PermissionDenied(format!(
            "{} of unit {} cannot change records of unit {unit}",
            author.user, author.unit
        )))
    }
}

/// Refuses an `author` who may not change a stored record (its unit, or a case they lead).
pub fn require_record(author: &Author, record: &Record) -> Result<()> {
    if may_access_record(author, record) {
        Ok(())
    } else {
        require_unit(author, &record.meta().unit)
    }
}

/// Refuses an `author` who may not move records between units.
pub fn require_move(author: &Author) -> Result<()> {
    if may_move_records(author) {
        Ok(())
    } else {
        Err(Error::PermissionDenied(
            "only the bureau office moves records between units".into(),
        ))
    }
}

/// Whether a device of `author` with `scope` receives a stored record of `unit` led by
/// `leader`: a unit in scope, a case its user leads, or bureau-wide reference data.
pub fn scope_sees(scope: &Scope, author: &Author, unit: &str, leader: Option<&str>) -> bool {
    scope.contains(unit) || leads(author, leader) || is_bureau_wide(unit)
}

/// Whether `leader` (a case's 包案领导) names `author` by login.
pub fn leads(author: &Author, leader: Option<&str>) -> bool {
    !author.user.is_empty() && leader == Some(author.user.as_str())
}

/// Whether `author` signs off (销号) or reopens a petition case led by `leader`: the
/// leader (by login or display name) or the bureau office.
pub fn may_sign_off(author: &Author, leader: Option<&str>) -> bool {
    author.role == Role::Office
        || leader.is_some_and(|l| l == author.user || (!author.name.is_empty() && l == author.name))
}

/// Whether `author` assigns a case's leader (包案领导): the unit head or the office, never
/// staff (who could otherwise name themselves and sign the case off).
pub fn may_assign_leader(author: &Author) -> bool {
    matches!(author.role, Role::UnitHead | Role::Office)
}

/// Whether `author` moves records between units: the bureau office only.
pub fn may_move_records(author: &Author) -> bool {
    author.role == Role::Office
}

/// Whether `author` creates a unit's profile record (one per unit, made with the unit):
/// the bureau office only.
pub fn may_create_unit_profile(author: &Author) -> bool {
    author.role == Role::Office
}

/// Whether `author` maintains the profile (own categories, visit targets) of `unit`: the
/// office, or that unit's head.
pub fn may_maintain_unit_profile(author: &Author, unit: &str) -> bool {
    author.role == Role::Office || (author.role == Role::UnitHead && author.unit == unit)
}

/// Whether `author` records a bureau inspection (督查): the office only; a unit records
/// its own self-checks (自查).
pub fn may_record_bureau_inspection(author: &Author) -> bool {
    author.role == Role::Office
}

/// Whether `author` verifies a rectification (整改): the office only.
pub fn may_verify_rectification(author: &Author) -> bool {
    author.role == Role::Office
}

/// Whether `author` submits (报送) the monthly report of `unit`: its head, or the office.
/// Anyone of the unit may draft the report's texts.
pub fn may_submit_monthly(author: &Author, unit: &str) -> bool {
    author.role == Role::Office || (author.role == Role::UnitHead && author.unit == unit)
}

/// Whether `author` sets a campaign's calendar (活动: dates, rounds, due days): the office.
pub fn may_set_campaign(author: &Author) -> bool {
    author.role == Role::Office
}

/// Whether users of `role` erase personal data from records: the bureau office only.
pub fn may_erase_personal_data(role: Role) -> bool {
    role == Role::Office
}

/// Whether users of `role` keep the relay's registry and read its logs (units, users and
/// devices, the audit log, lost-record reports): the bureau office only.
pub fn may_administer(role: Role) -> bool {
    role == Role::Office
}

/// Whether users of `role` sign in to the office dashboard: a desk tool for the bureau office,
/// unit heads and responsible leaders (who read and sign off the cases they lead, in any
/// unit); field staff work on their devices.
pub fn may_use_dashboard(role: Role) -> bool {
    matches!(role, Role::Office | Role::UnitHead | Role::Leader)
}

/// Whether a user of `role` may belong to a unit that is (`office_unit`) or is not the
/// bureau office: the office role only to the office's unit.
pub fn may_hold_role(role: Role, office_unit: bool) -> bool {
    role != Role::Office || office_unit
}

/// Whether a user of `role` in `unit` issues an enrollment code for a user of `target_role`
/// in `target_unit`: the bureau office for anyone; a unit head only for staff (工作人员) of
/// their own unit; nobody else. A code enrolls a device that then acts as the target, so
/// issuing one is acting as them.
pub fn may_issue_enrollment(role: Role, unit: &str, target_role: Role, target_unit: &str) -> bool {
    match role {
        Role::Office => true,
        Role::UnitHead => target_role == Role::Staff && target_unit == unit,
        Role::Staff | Role::Leader => false,
    }
}

/// Whether a user of `role` is offered in person fields of every unit's records (leaders
/// and the office may lead a case anywhere), not only of their own unit.
pub fn chosen_in_every_unit(role: Role) -> bool {
    matches!(role, Role::Leader | Role::Office)
}

/// Whether a record of `unit` is bureau-wide reference data every device receives and
/// reads (the campaigns), whatever the device's own units.
pub fn is_bureau_wide(unit: &str) -> bool {
    unit == crate::model::campaign::CAMPAIGN_UNIT
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn office_sees_every_unit_others_only_their_own() {
        for role in Role::ALL {
            assert_eq!(
                sees_unit(role, "WJK", "JKK"),
                role == Role::Office,
                "{role}"
            );
            assert!(sees_unit(role, "WJK", "WJK"), "{role} sees its own unit");
            assert_eq!(Scope::of(role, "WJK").contains("JKK"), role == Role::Office);
        }
    }

    #[test]
    fn role_codes_round_trip_and_unknown_text_is_refused() {
        for role in Role::ALL {
            assert_eq!(role.code().parse::<Role>().unwrap(), role);
            assert_eq!(role.to_string(), role.code());
        }
        assert!("admin".parse::<Role>().is_err());
        assert!("".parse::<Role>().is_err());
    }
}
