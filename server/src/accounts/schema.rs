//! The account tables (all prefixed `acct_`) and their upgrade steps.
//!
//! The relay database is shared with the core's tables, and the core owns
//! `PRAGMA user_version`; so the account schema keeps its own version in `acct_schema`.

use rusqlite::{OptionalExtension, Transaction};

use crate::error::{RelayError, Result};

/// Newest account schema version this build writes.
pub const VERSION: i64 = 4;

/// Version 1: units, users, devices, enrollment codes, audit log.
const V1: &str = "
CREATE TABLE acct_units (
    code        TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    is_office   INTEGER NOT NULL DEFAULT 0 CHECK (is_office IN (0, 1)),
    created_at  TEXT NOT NULL
);
-- At most one unit is the bureau office.
CREATE UNIQUE INDEX acct_units_one_office ON acct_units (is_office) WHERE is_office = 1;

CREATE TABLE acct_users (
    login          TEXT PRIMARY KEY NOT NULL,
    name           TEXT NOT NULL,
    unit_code      TEXT NOT NULL REFERENCES acct_units (code),
    role           TEXT NOT NULL CHECK (role IN ('staff', 'unit-head', 'office', 'leader')),
    password_hash  TEXT,
    created_at     TEXT NOT NULL
);

-- The device code is 'D' || seq; AUTOINCREMENT so that a sequence number is never reused.
CREATE TABLE acct_devices (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    id           TEXT NOT NULL UNIQUE,
    user_login   TEXT NOT NULL REFERENCES acct_users (login),
    unit_code    TEXT NOT NULL REFERENCES acct_units (code),
    actor_hex    TEXT NOT NULL UNIQUE,
    label        TEXT,
    token_hash   TEXT NOT NULL UNIQUE,
    enrolled_at  TEXT NOT NULL,
    revoked_at   TEXT
);

CREATE TABLE acct_enrollments (
    code_hash    TEXT PRIMARY KEY NOT NULL,
    user_login   TEXT NOT NULL REFERENCES acct_users (login),
    created_by   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    used_at      TEXT,
    device_id    TEXT
);

CREATE TABLE acct_audit (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    at           TEXT NOT NULL,
    actor_login  TEXT NOT NULL,
    action       TEXT NOT NULL,
    detail       TEXT NOT NULL
);
";

/// Version 2: dashboard sign-in sessions (the session id is kept only as a SHA-256 hash).
const V2: &str = "
CREATE TABLE acct_sessions (
    id_hash       TEXT PRIMARY KEY NOT NULL,
    user_login    TEXT NOT NULL REFERENCES acct_users (login),
    csrf_token    TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    last_seen_at  TEXT NOT NULL
);
CREATE INDEX acct_sessions_user ON acct_sessions (user_login);
";

/// Version 3: records revoked devices reported as never synced, and an index to read the
/// audit log by action.
const V3: &str = "
CREATE TABLE acct_lost_records (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id    TEXT NOT NULL,
    user_login   TEXT NOT NULL,
    record_id    TEXT NOT NULL,
    kind         TEXT NOT NULL,
    unit_code    TEXT NOT NULL,
    number       TEXT NOT NULL,
    title        TEXT NOT NULL,
    new_record   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    reported_at  TEXT NOT NULL,
    UNIQUE (device_id, record_id)
);
CREATE INDEX acct_audit_action ON acct_audit (action, id);
";

/// Version 4: failed guesses each pending enrollment code has witnessed (a code stops working
/// after too many), and failed enrollments counted per minute for the audit log (one
/// `enroll.failed` line a minute, updated in place).
const V4: &str = "
ALTER TABLE acct_enrollments ADD COLUMN failed_guesses INTEGER NOT NULL DEFAULT 0;
CREATE TABLE acct_enroll_failures (
    minute     TEXT PRIMARY KEY NOT NULL,
    failures   INTEGER NOT NULL,
    limited    INTEGER NOT NULL DEFAULT 0,
    audit_id   INTEGER NOT NULL
);
";

/// Brings the account tables up to [`VERSION`], creating them on a fresh database.
pub fn upgrade(tx: &Transaction<'_>) -> Result<()> {
    tx.execute_batch("CREATE TABLE IF NOT EXISTS acct_schema (version INTEGER NOT NULL)")?;
    let found: Option<i64> = tx
        .query_row("SELECT max(version) FROM acct_schema", [], |row| row.get(0))
        .optional()?
        .flatten();
    let mut version = found.unwrap_or(0);
    if version > VERSION {
        return Err(RelayError::SchemaTooNew {
            found: version,
            supported: VERSION,
        });
    }
    while version < VERSION {
        upgrade_from(tx, version)?;
        version += 1;
    }
    if found != Some(version) {
        tx.execute("DELETE FROM acct_schema", [])?;
        tx.execute("INSERT INTO acct_schema (version) VALUES (?1)", [version])?;
    }
    Ok(())
}

/// Runs the one step from `version` to `version + 1`.
fn upgrade_from(tx: &Transaction<'_>, version: i64) -> Result<()> {
    match version {
        0 => tx.execute_batch(V1)?,
        1 => tx.execute_batch(V2)?,
        2 => tx.execute_batch(V3)?,
        3 => tx.execute_batch(V4)?,
        other => {
            return Err(RelayError::Internal(format!(
                "no upgrade step from account schema version {other}"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::*;

    #[test]
    fn upgrade_is_idempotent_and_records_the_version() {
        let mut conn = Connection::open_in_memory().unwrap();
        for _ in 0..2 {
            let tx = conn.transaction().unwrap();
            upgrade(&tx).unwrap();
            tx.commit().unwrap();
        }
        let versions: Vec<i64> = conn
            .prepare("SELECT version FROM acct_schema")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<std::result::Result<_, _>>()
            .unwrap();
        assert_eq!(versions, vec![VERSION]);
        let user_version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(user_version, 0, "user_version belongs to the core");
    }

    #[test]
    fn newer_schema_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE acct_schema (version INTEGER NOT NULL); INSERT INTO acct_schema VALUES (99);")
            .unwrap();
        let tx = conn.transaction().unwrap();
        let err = upgrade(&tx).unwrap_err();
        assert!(
            matches!(err, RelayError::SchemaTooNew { found: 99, .. }),
            "{err}"
        );
    }
}
