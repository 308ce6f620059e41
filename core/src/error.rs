//! The one error type of the core.

use crate::model::RecordKind;

/// Result with the core's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the core, with messages a user can act on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No record with this id is in the store.
    #[error("no record with id {0}")]
    UnknownRecord(String),
    /// The record exists but is of another kind than asked for.
    #[error("record {id} is a {actual}, not a {expected}")]
    WrongKind {
        /// Record id.
        id: String,
        /// The kind that was asked for.
        expected: RecordKind,
        /// The kind the record really is.
        actual: RecordKind,
    },
    /// The record kind has no field of this name.
    #[error("a {kind} has no field `{field}`")]
    UnknownField {
        /// Record kind.
        kind: RecordKind,
        /// The field name given.
        field: String,
    },
    /// A value does not fit the field it was given for.
    #[error("invalid value for {field}: {reason}")]
    InvalidValue {
        /// Field name (with its form label where there is one).
        field: String,
        /// Why the value was refused.
        reason: String,
    },
    /// The category is neither one of the form's nor one the unit added. The message does not
    /// quote it (messages reach the relay's audit log, where typed values must not).
    #[error(
        "invalid value for 类型 (category): not a category of this unit; use one of the 17 categories of the form or add it to the unit first"
    )]
    UnknownCategory(String),
    /// A status change the rules do not allow (for example moving a demand backwards).
    #[error("not allowed: {0}")]
    RuleViolation(String),
    /// The acting user may not do this.
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// No list entry with this id.
    #[error("no entry {entry} in {list}")]
    UnknownEntry {
        /// List field name.
        list: String,
        /// Entry id.
        entry: String,
    },
    /// There is no conflict on this field to resolve.
    #[error("no conflict on {0}")]
    NoConflict(String),
    /// The store has no device identity yet (enroll first).
    #[error("this store is not enrolled with a relay yet")]
    NotEnrolled,
    /// Bytes that should be an Automerge document or change could not be decoded.
    #[error("malformed document data: {0}")]
    MalformedDocument(String),
    /// A sync message could not be decoded.
    #[error("malformed sync message: {0}")]
    MalformedSync(String),
    /// The database file was written by a newer version of fieldledger.
    #[error("store schema version {found} is newer than this program supports ({supported})")]
    SchemaTooNew {
        /// Version found in the file.
        found: i64,
        /// Newest version this build knows.
        supported: i64,
    },
    /// The store file cannot be decrypted with the key given (or is not a store at all);
    /// nothing was written to it.
    #[error(
        "cannot open the store: the key is wrong, or the file is not a fieldledger store (the file was not changed)"
    )]
    WrongKey,
    /// An error from SQLite.
    #[error("store error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// An error from Automerge.
    #[error("document error: {0}")]
    Automerge(#[from] automerge::AutomergeError),
    /// JSON (de)serialisation failed. The message names what did not fit, never the value
    /// (see [`json_message`]).
    #[error("serialisation error: {}", json_message(.0))]
    Json(#[from] serde_json::Error),
    /// Writing a report failed.
    #[error("report error: {0}")]
    Report(String),
    /// The relay could not be reached or answered with an error; sync resumes next time.
    #[error("sync transport failed: {message}")]
    Transport {
        /// What went wrong.
        message: String,
        /// HTTP status, if the relay answered.
        status: Option<u16>,
    },
    /// Changes depend on earlier changes the receiver does not have.
    #[error("missing changes: {0}")]
    MissingChanges(String),
    /// The relay revoked this device (lost or stolen): its store must be erased after its
    /// [`crate::sync::loss_report`] (`fieldledger_client::erase_revoked`).
    #[error("this device was revoked by the bureau office: {0}")]
    DeviceRevoked(String),
    /// An I/O error (for example writing an export file).
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// Shorthand for an [`Error::InvalidValue`].
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidValue {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// A serde_json error's message without the value it quotes: `invalid type: string "张三",
/// expected a boolean` becomes `invalid type: string, expected a boolean`, and `unknown variant
/// `x`, expected one of …` becomes `unknown variant, expected one of …`. Syntax errors (which
/// quote no value, only a position) are kept as they are.
pub fn json_message(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    if !e.is_data() {
        return msg;
    }
    let (what, expected) = match msg.rsplit_once(", expected") {
        Some((what, rest)) => (what, Some(rest)),
        None => (msg.as_str(), None),
    };
    // What serde says about the unexpected value: its kind, then the value in quotes or
    // backticks (`missing field `x`` names a field of the form, which stays).
    let what = if what.starts_with("missing field") || what.starts_with("duplicate field") {
        what
    } else {
        what.split(['"', '`']).next().unwrap_or("").trim_end()
    };
    match expected {
        Some(rest) => format!("{what}, expected{rest}"),
        None => what.to_owned(),
    }
}
