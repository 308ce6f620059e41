//! 人员名单: the bureau's users as every device knows them — so a person field that names a
//! user (包案领导, 责任人) is chosen from a list on the phone, the CLI and the dashboard, offline
//! too. The relay keeps the one directory record (id [`DIRECTORY_ID`], bureau-wide unit
//! [`super::campaign::CAMPAIGN_UNIT`]) in step with its accounts; only the office changes it.

use serde::{Deserialize, Serialize};

use super::field::{FieldSpec, FieldType};
use super::{Author, RecordMeta};
use crate::error::{Error, Result};

/// The id of the one directory record.
pub const DIRECTORY_ID: &str = "directory";

const USER_FIELDS: &[FieldSpec] = &[
    FieldSpec {
        key: "login",
        label: "登录名",
        ty: FieldType::ShortText { required: true },
    },
    FieldSpec {
        key: "name",
        label: "姓名",
        ty: FieldType::ShortText { required: true },
    },
    FieldSpec {
        key: "unit",
        label: "单位",
        ty: FieldType::ShortText { required: false },
    },
    FieldSpec {
        key: "role",
        label: "角色",
        ty: FieldType::ShortText { required: false },
    },
];

/// Fields of the directory.
pub const FIELDS: &[FieldSpec] = &[FieldSpec {
    key: "users",
    label: "人员",
    ty: FieldType::Entries(USER_FIELDS),
}];

/// A user as the directory lists them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectoryUser {
    /// Entry id.
    pub id: String,
    /// Login.
    #[serde(default)]
    pub login: String,
    /// Display name (张三).
    #[serde(default)]
    pub name: String,
    /// Unit code.
    #[serde(default)]
    pub unit: String,
    /// Role code (`staff`, `unit-head`, `office`, `leader`).
    #[serde(default)]
    pub role: String,
}

/// The directory record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Directory {
    /// Id, unit.
    #[serde(flatten)]
    pub meta: RecordMeta,
    /// Users, in the order they were added.
    #[serde(default)]
    pub users: Vec<DirectoryUser>,
}

impl Directory {
    /// Checks the rules: only the office (the relay, for its accounts) changes the directory.
    pub fn check_rules(
        before: Option<&Directory>,
        after: &Directory,
        author: &Author,
    ) -> Result<()> {
        if before != Some(after) && !crate::access::may_set_campaign(author) {
            return Err(Error::PermissionDenied(
                "only the bureau office keeps the directory of users".into(),
            ));
        }
        Ok(())
    }

    /// The users of `unit` and those who may lead a case in any unit (leaders, the office):
    /// whom a person field of a record of `unit` is chosen from.
    pub fn choices_for(&self, unit: &str) -> Vec<&DirectoryUser> {
        self.users
            .iter()
            .filter(|u| {
                u.unit == unit
                    || u.role
                        .parse()
                        .is_ok_and(crate::access::chosen_in_every_unit)
            })
            .collect()
    }
}
