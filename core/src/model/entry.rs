//! The dated log entry that several kinds keep as an entry list: a dispute's 工作措施, a
//! petition case's progress log.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// One dated entry of a log: what was done, when and by whom, and who entered it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogEntry {
    /// Entry id.
    pub id: String,
    /// Date it happened.
    #[serde(default)]
    pub date: Option<NaiveDate>,
    /// Who reported it.
    #[serde(default)]
    pub by: Option<String>,
    /// What was done or happened.
    #[serde(default)]
    pub what: String,
    /// When it was entered (ms since epoch).
    #[serde(rename = "_at", default)]
    pub entered_at: i64,
    /// Login of who entered it.
    #[serde(rename = "_by", default)]
    pub entered_by: String,
}
