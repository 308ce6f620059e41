//! Who may do what: the rights of each role, decided here and asked by the store (local
//! edits), the relay's checks of pushed changes, the feed and the reports.

use crate::model::{Author, Record, Role};

/// Whether `author` may see and change records of `unit`: the bureau office every unit,
/// everyone else their own.
pub fn may_access_unit(author: &Author, unit: &str) -> bool {
    author.role == Role::Office || author.unit == unit
}

/// Whether `author` may see and change a stored record: one of their units, or a petition
/// case they lead (包案领导, named by login) in any unit.
pub fn may_access_record(author: &Author, record: &Record) -> bool {
    may_access_unit(author, &record.meta().unit) || leads(author, record.case_leader())
}

/// Whether `leader` (a case's 包案领导) names `author` by login.
pub fn leads(author: &Author, leader: Option<&str>) -> bool {
    !author.user.is_empty() && leader == Some(author.user.as_str())
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

/// Whether a record of `unit` is bureau-wide reference data every device receives and
/// reads (the campaigns), whatever the device's own units.
pub fn is_bureau_wide(unit: &str) -> bool {
    unit == crate::model::campaign::CAMPAIGN_UNIT
}
