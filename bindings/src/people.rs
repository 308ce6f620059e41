//! The people a person field is chosen from, from the directory of users the relay keeps
//! (synced like any record, so the list is there offline).

use crate::FieldStore;
use crate::error::Result;

/// A user a person field can name.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct UserInfo {
    /// Login (what 包案领导 stores).
    pub login: String,
    /// Display name (张三).
    pub name: String,
    /// Unit code.
    pub unit: String,
    /// Role code (`staff`, `unit-head`, `office`, `leader`).
    pub role: String,
}

#[uniffi::export]
impl FieldStore {
    /// Whom a person field of a record of `unit` (default: the acting user's) is chosen from:
    /// the unit's users, the responsible leaders and the office. Empty before the first sync.
    pub fn users(&self, unit: Option<String>) -> Result<Vec<UserInfo>> {
        self.with(|s| {
            let unit = match unit {
                Some(u) => u,
                None => s
                    .identity()
                    .ok_or(fieldledger_core::Error::NotEnrolled)?
                    .author
                    .unit
                    .clone(),
            };
            Ok(s.directory()?
                .map(|d| {
                    d.choices_for(&unit)
                        .into_iter()
                        .map(|u| UserInfo {
                            login: u.login.clone(),
                            name: u.name.clone(),
                            unit: u.unit.clone(),
                            role: u.role.clone(),
                        })
                        .collect()
                })
                .unwrap_or_default())
        })
    }
}
