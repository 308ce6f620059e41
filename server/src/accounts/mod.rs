//! The account registry: units, users, enrolled devices and their tokens, kept in the relay's
//! SQLite database next to the core's tables (all account tables are prefixed `acct_`).

pub mod directory;
mod erase;
mod model;
mod registry;
mod schema;
pub mod secret;
mod session;

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, TransactionBehavior, params};

pub use erase::{MentionsErased, mask_terms};
pub use model::{
    AuditEntry, Device, Enrollment, EnrollmentCode, Issuer, LostRecordEntry, LostReportOutcome,
    NewUser, Principal, Role, Unit, User, check_name, may_issue_enrollment, normalize_actor_hex,
    normalize_login, normalize_unit_code,
};
pub use registry::{AccountRegistry, ReplicatedAccounts};
pub use schema::VERSION as SCHEMA_VERSION;
pub use session::{
    NewSession, PasswordOnFile, SESSION_IDLE, SESSION_LIFETIME, Session, SignIn, check_password,
    may_use_dashboard,
};

use crate::error::{RelayError, Result};

/// Default code of the bureau office unit.
pub const DEFAULT_OFFICE_CODE: &str = "OFFICE";

/// Name given to the office unit when bootstrap creates it.
pub const OFFICE_UNIT_NAME: &str = "领导小组办公室";

/// Login of the user bootstrap creates.
pub const ADMIN_LOGIN: &str = "admin";

/// How long an enrollment code stays valid.
pub const ENROLLMENT_VALIDITY: chrono::TimeDelta = chrono::TimeDelta::days(7);

/// Failed guesses after which every pending enrollment code stops working. Each wrong code
/// is a guess at *every* pending code, so each pending code counts them all; at 10,000 the
/// chance that any guess so far hit a given code is at most 10,000 / 32^8 ≈ 9 × 10⁻⁹,
/// whatever the rate limits, restarts or number of guessing addresses. A typo now and then
/// never gets near it; a sustained attack voids the codes (audited as `enroll.locked`) and
/// the office issues new ones.
pub const MAX_GUESSES_PER_CODE: u32 = 10_000;

/// Most entries one page of the audit log or of the lost-record reports holds, on every
/// surface (HTTP, dashboard, command line).
pub const MAX_PAGE: usize = 1_000;

/// Most rows one loss report keeps; the rest are dropped and counted. A device keeps one
/// report: a new one replaces the previous one.
pub const MAX_LOST_RECORDS_PER_REPORT: usize = 2_000;

/// Longest record id (bytes) a loss report row may carry; rows with longer ids are dropped.
pub const MAX_LOST_ID_BYTES: usize = 64;

/// Longest kind code, unit code and case number (characters) kept from a loss report row;
/// longer ones are cut.
pub const MAX_LOST_CODE_CHARS: usize = 64;

/// Longest title (characters) kept from a loss report row; longer ones are cut.
pub const MAX_LOST_TITLE_CHARS: usize = 200;

/// Case numbers listed in the audit line of a loss report; the rest are counted.
const LOST_NUMBERS_IN_AUDIT: usize = 20;

/// How long a connection waits for another writer (the CLI, the core) before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const DEVICE_COLUMNS: &str =
    "'D' || seq, id, user_login, unit_code, actor_hex, label, enrolled_at, revoked_at";

/// The account registry over one SQLite connection to the relay database.
#[derive(Debug)]
pub struct AccountStore {
    conn: Connection,
    /// See [`MAX_GUESSES_PER_CODE`].
    guesses_per_code: u32,
}

impl AccountStore {
    /// Opens (creating if needed) the relay database at `path` and brings the account tables up
    /// to date.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let conn = Connection::open(path)?;
        Self::from_connection(conn)
    }

    /// An account registry in a private in-memory database (for tests).
    pub fn open_in_memory() -> Result<Self> {
        Self::from_connection(Connection::open_in_memory()?)
    }

    /// Wraps an open connection: sets WAL mode, `secure_delete` and a busy timeout, and upgrades the account
    /// tables. The core's tables in the same file are left alone.
    pub fn from_connection(mut conn: Connection) -> Result<Self> {
        // In-memory databases answer "memory"; files switch to WAL and stay there.
        conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
        // Freed space is overwritten, so deleted sessions, codes and masked audit lines do not
        // linger in the file (the core's connection does the same).
        conn.pragma_update(None, "secure_delete", "ON")?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.execute_batch("PRAGMA foreign_keys = ON")?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        schema::upgrade(&tx)?;
        tx.commit()?;
        Ok(AccountStore {
            conn,
            guesses_per_code: MAX_GUESSES_PER_CODE,
        })
    }

    /// Sets after how many failed guesses pending enrollment codes stop working (default
    /// [`MAX_GUESSES_PER_CODE`]; small values for tests).
    pub fn set_guesses_per_code(&mut self, guesses: u32) {
        self.guesses_per_code = guesses.max(1);
    }

    /// The underlying connection (this crate's tests read tables through it).
    #[cfg(test)]
    pub(crate) fn conn(&self) -> &Connection {
        &self.conn
    }

    /// The underlying connection, mutably: a PostgreSQL deployment's copy instruments it.
    pub(crate) fn conn_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    fn write(&mut self) -> Result<Transaction<'_>> {
        // IMMEDIATE: take the write lock up front so a concurrent writer makes us wait
        // (busy timeout) instead of failing half-way through.
        Ok(self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?)
    }

    /// On a database without users: makes sure the office unit exists (code `office_code`
    /// unless one is already flagged), adds the `admin` user with role office and returns a
    /// one-time enrollment code for it. Does nothing and returns `None` once any user exists.
    pub fn ensure_bootstrap(&mut self, office_code: &str) -> Result<Option<String>> {
        let office_code = normalize_unit_code(office_code)?;
        let tx = self.write()?;
        let users: i64 = tx.query_row("SELECT count(*) FROM acct_users", [], |r| r.get(0))?;
        if users > 0 {
            return Ok(None);
        }
        let now = now();
        let office: Option<String> = tx
            .query_row("SELECT code FROM acct_units WHERE is_office = 1", [], |r| {
                r.get(0)
            })
            .optional()?;
        let office = match office {
            Some(code) => code,
            None => {
                let flagged = tx.execute(
                    "UPDATE acct_units SET is_office = 1 WHERE code = ?1",
                    [&office_code],
                )?;
                if flagged == 0 {
                    tx.execute(
                        "INSERT INTO acct_units (code, name, is_office, created_at)
                         VALUES (?1, ?2, 1, ?3)",
                        params![office_code, OFFICE_UNIT_NAME, now],
                    )?;
                }
                office_code
            }
        };
        tx.execute(
            "INSERT INTO acct_users (login, name, unit_code, role, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![ADMIN_LOGIN, "管理员", office, Role::Office.code(), now],
        )?;
        audit(
            &tx,
            "bootstrap",
            "bootstrap",
            &format!("office unit {office}, user {ADMIN_LOGIN}"),
        )?;
        let code = insert_enrollment(&tx, "bootstrap", ADMIN_LOGIN)?;
        tx.commit()?;
        Ok(Some(code.code))
    }

    /// Adds an ordinary unit (not the office). `actor` is recorded in the audit log.
    pub fn add_unit(&mut self, actor: &str, code: &str, name: &str) -> Result<Unit> {
        let code = normalize_unit_code(code)?;
        let name = check_name("unit name", name)?;
        let tx = self.write()?;
        if find_unit(&tx, &code)?.is_some() {
            return Err(RelayError::DuplicateUnit(code));
        }
        let unit = Unit {
            code,
            name,
            is_office: false,
            created_at: now(),
        };
        tx.execute(
            "INSERT INTO acct_units (code, name, is_office, created_at) VALUES (?1, ?2, 0, ?3)",
            params![unit.code, unit.name, unit.created_at],
        )?;
        audit(
            &tx,
            actor,
            "unit.add",
            &format!("{} {}", unit.code, unit.name),
        )?;
        tx.commit()?;
        Ok(unit)
    }

    /// The unit with this code.
    pub fn unit(&self, code: &str) -> Result<Unit> {
        let code = normalize_unit_code(code)?;
        find_unit(&self.conn, &code)?.ok_or(RelayError::UnknownUnit(code))
    }

    /// All units, the office first, then by code.
    pub fn list_units(&self) -> Result<Vec<Unit>> {
        let mut stmt = self.conn.prepare(
            "SELECT code, name, is_office, created_at FROM acct_units
             ORDER BY is_office DESC, code",
        )?;
        let units = stmt
            .query_map([], unit_from_row)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(units)
    }

    /// Adds a user. Role office is only allowed in the office unit.
    pub fn add_user(&mut self, actor: &str, new: &NewUser) -> Result<User> {
        let login = normalize_login(&new.login)?;
        let name = check_name("user name", &new.name)?;
        let unit_code = normalize_unit_code(&new.unit)?;
        let tx = self.write()?;
        let unit = find_unit(&tx, &unit_code)?.ok_or(RelayError::UnknownUnit(unit_code))?;
        if !fieldledger_core::access::may_hold_role(new.role, unit.is_office) {
            return Err(RelayError::BadRequest(format!(
                "role office belongs to the bureau office unit, not {}",
                unit.code
            )));
        }
        if find_user(&tx, &login)?.is_some() {
            return Err(RelayError::DuplicateUser(login));
        }
        let user = User {
            login,
            name,
            unit: unit.code,
            role: new.role,
            has_password: false,
            created_at: now(),
        };
        tx.execute(
            "INSERT INTO acct_users (login, name, unit_code, role, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                user.login,
                user.name,
                user.unit,
                user.role.code(),
                user.created_at
            ],
        )?;
        audit(
            &tx,
            actor,
            "user.add",
            &format!(
                "{} ({}) unit {} role {}",
                user.login, user.name, user.unit, user.role
            ),
        )?;
        tx.commit()?;
        Ok(user)
    }

    /// The user with this login.
    pub fn user(&self, login: &str) -> Result<User> {
        let login = normalize_login(login)?;
        find_user(&self.conn, &login)?.ok_or(RelayError::UnknownUser(login))
    }

    /// All users, by unit and login.
    pub fn list_users(&self) -> Result<Vec<User>> {
        let mut stmt = self.conn.prepare(
            "SELECT login, name, unit_code, role, password_hash IS NOT NULL, created_at
             FROM acct_users ORDER BY unit_code, login",
        )?;
        let users = stmt
            .query_map([], user_from_row)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(users)
    }

    /// Sets (or replaces) the dashboard password of a user; only an Argon2 hash is stored.
    pub fn set_password(&mut self, actor: &str, login: &str, password: &str) -> Result<()> {
        let login = normalize_login(login)?;
        let hash = secret::hash_password(password)?;
        let tx = self.write()?;
        let changed = tx.execute(
            "UPDATE acct_users SET password_hash = ?1 WHERE login = ?2",
            params![hash, login],
        )?;
        if changed == 0 {
            return Err(RelayError::UnknownUser(login));
        }
        // A new password signs the user out of every dashboard session.
        tx.execute("DELETE FROM acct_sessions WHERE user_login = ?1", [&login])?;
        audit(&tx, actor, "user.set_password", &login)?;
        tx.commit()?;
        Ok(())
    }

    /// Whether `password` is the dashboard password of `login`; false for unknown users and
    /// users without a password.
    pub fn verify_password(&self, login: &str, password: &str) -> Result<bool> {
        let Ok(login) = normalize_login(login) else {
            return Ok(false);
        };
        let hash: Option<String> = self
            .conn
            .query_row(
                "SELECT password_hash FROM acct_users WHERE login = ?1",
                [&login],
                |r| r.get(0),
            )
            .optional()?
            .flatten();
        match hash {
            Some(hash) => secret::verify_password(password, &hash),
            None => Ok(false),
        }
    }

    /// Creates a one-time enrollment code for a device of `login`, valid for
    /// [`ENROLLMENT_VALIDITY`]. Only the code's hash is stored.
    ///
    /// This is the one place that decides who may issue a code for whom: a device enrolled
    /// with it acts as `login`, so an [`Issuer::User`] must pass [`may_issue_enrollment`]
    /// (office: anyone; unit head: staff of their own unit), judged on the registry's rows
    /// now, not on what a session remembered. Refusals are [`RelayError::MayNotEnroll`].
    pub fn create_enrollment(&mut self, issuer: Issuer<'_>, login: &str) -> Result<EnrollmentCode> {
        let login = normalize_login(login)?;
        let tx = self.write()?;
        let Some(target) = find_user(&tx, &login)? else {
            return Err(RelayError::UnknownUser(login));
        };
        let actor = match issuer {
            Issuer::Admin(actor) => actor.to_owned(),
            Issuer::User(by) => {
                let by = normalize_login(by)?;
                let allowed = find_user(&tx, &by)?
                    .is_some_and(|u| may_issue_enrollment(u.role, &u.unit, &target));
                if !allowed {
                    return Err(RelayError::MayNotEnroll(target.login));
                }
                by
            }
        };
        let code = insert_enrollment(&tx, &actor, &login)?;
        tx.commit()?;
        Ok(code)
    }

    /// Redeems a one-time enrollment code: enrolls a device bound to `actor_hex` and returns
    /// its id, device code and bearer token. A code works once, only before it expires, and
    /// only while fewer than [`MAX_GUESSES_PER_CODE`] failed guesses happened in its lifetime.
    ///
    /// A failure ([`RelayError::InvalidEnrollmentCode`]) counts as a guess at every pending
    /// code and is added to this minute's `enroll.failed` audit line.
    pub fn redeem_enrollment(
        &mut self,
        code: &str,
        actor_hex: &str,
        label: Option<&str>,
    ) -> Result<Enrollment> {
        let result = self.try_redeem(code, actor_hex, label);
        if matches!(result, Err(RelayError::InvalidEnrollmentCode)) {
            self.record_enrollment_failure(false)?;
        }
        result
    }

    /// Marks this minute's `enroll.failed` audit line: the global failed-enrollment limit was
    /// reached, so `/v1/enroll` refused everyone for a while.
    pub fn note_enrollment_limit_reached(&mut self) -> Result<()> {
        self.record_enrollment_failure(true)
    }

    /// Counts one failed enrollment (or, with `limited`, only flags the minute): every pending
    /// code witnesses the guess and those reaching the limit are logged as locked; the minute's
    /// `enroll.failed` line is written or updated.
    fn record_enrollment_failure(&mut self, limited: bool) -> Result<()> {
        let guesses_per_code = self.guesses_per_code;
        let tx = self.write()?;
        let now_at = Utc::now();
        let now = format_time(now_at);
        let minute = now_at.format("%Y-%m-%dT%H:%MZ").to_string();
        if !limited {
            tx.execute(
                "UPDATE acct_enrollments SET failed_guesses = failed_guesses + 1
                 WHERE used_at IS NULL AND expires_at > ?1 AND failed_guesses < ?2",
                params![now, guesses_per_code],
            )?;
            let locked: Vec<(String, String, String)> = tx
                .prepare(
                    "SELECT user_login, created_by, created_at FROM acct_enrollments
                     WHERE used_at IS NULL AND expires_at > ?1 AND failed_guesses = ?2",
                )?
                .query_map(params![now, guesses_per_code], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?
                .collect::<rusqlite::Result<_>>()?;
            if !locked.is_empty() {
                // Past the limit, so that the next failure does not log them again.
                tx.execute(
                    "UPDATE acct_enrollments SET failed_guesses = failed_guesses + 1
                     WHERE used_at IS NULL AND failed_guesses = ?1",
                    [guesses_per_code],
                )?;
            }
            for (login, by, at) in locked {
                audit(
                    &tx,
                    "anonymous",
                    "enroll.locked",
                    &format!(
                        "enrollment code for {login} (issued by {by} at {at}) stopped working after \
                         {guesses_per_code} failed guesses at pending codes; issue a new one"
                    ),
                )?;
            }
        }
        let found: Option<(i64, bool, i64)> = tx
            .query_row(
                "SELECT failures, limited, audit_id FROM acct_enroll_failures WHERE minute = ?1",
                [&minute],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let (failures, was_limited) = found.map_or((0, false), |(f, l, _)| (f, l));
        let failures = failures + i64::from(!limited);
        let limited = limited || was_limited;
        let detail = format!(
            "{failures} failed enrollment(s) (wrong, expired, used or locked code) in the minute \
             from {minute}{}",
            if limited {
                "; the global limit was reached: /v1/enroll answered 429 to everyone until it refilled"
            } else {
                ""
            }
        );
        match found {
            Some((_, _, audit_id)) => {
                tx.execute(
                    "UPDATE acct_audit SET detail = ?1 WHERE id = ?2",
                    params![detail, audit_id],
                )?;
                tx.execute(
                    "UPDATE acct_enroll_failures SET failures = ?1, limited = ?2 WHERE minute = ?3",
                    params![failures, limited, minute],
                )?;
            }
            None => {
                audit(&tx, "anonymous", "enroll.failed", &detail)?;
                tx.execute(
                    "INSERT INTO acct_enroll_failures (minute, failures, limited, audit_id)
                     VALUES (?1, ?2, ?3, ?4)",
                    params![minute, failures, limited, tx.last_insert_rowid()],
                )?;
                // Counters older than a day are never updated again.
                let day_ago = (now_at - chrono::TimeDelta::days(1))
                    .format("%Y-%m-%dT%H:%MZ")
                    .to_string();
                tx.execute(
                    "DELETE FROM acct_enroll_failures WHERE minute < ?1",
                    [day_ago],
                )?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn try_redeem(
        &mut self,
        code: &str,
        actor_hex: &str,
        label: Option<&str>,
    ) -> Result<Enrollment> {
        let guesses_per_code = i64::from(self.guesses_per_code);
        let code = secret::normalize_enrollment_code(code);
        if code.len() != secret::ENROLLMENT_CODE_LEN {
            return Err(RelayError::InvalidEnrollmentCode);
        }
        let actor_hex = normalize_actor_hex(actor_hex)?;
        let label = match label.map(str::trim) {
            None | Some("") => None,
            Some(label) => Some(check_name("device label", label)?),
        };
        let code_hash = secret::hash_secret(&code);
        let tx = self.write()?;
        let now_at = Utc::now();
        let now = format_time(now_at);
        let pending: Option<(String, String, Option<String>, i64)> = tx
            .query_row(
                "SELECT user_login, expires_at, used_at, failed_guesses FROM acct_enrollments
                 WHERE code_hash = ?1",
                [&code_hash],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let Some((login, expires_at, None, failed_guesses)) = pending else {
            return Err(RelayError::InvalidEnrollmentCode);
        };
        if parse_time(&expires_at)? <= now_at || failed_guesses >= guesses_per_code {
            return Err(RelayError::InvalidEnrollmentCode);
        }
        let user = find_user(&tx, &login)?.ok_or(RelayError::UnknownUser(login))?;
        let actor_taken: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM acct_devices WHERE actor_hex = ?1)",
            [&actor_hex],
            |r| r.get(0),
        )?;
        if actor_taken {
            return Err(RelayError::DuplicateActor(actor_hex));
        }
        let device_id = uuid::Uuid::new_v4().to_string();
        let token = secret::new_token();
        tx.execute(
            "INSERT INTO acct_devices
                 (id, user_login, unit_code, actor_hex, label, token_hash, enrolled_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                device_id,
                user.login,
                user.unit,
                actor_hex,
                label,
                secret::hash_secret(&token),
                now
            ],
        )?;
        let device_code = format!("D{}", tx.last_insert_rowid());
        let used = tx.execute(
            "UPDATE acct_enrollments SET used_at = ?1, device_id = ?2
             WHERE code_hash = ?3 AND used_at IS NULL",
            params![now, device_id, code_hash],
        )?;
        if used != 1 {
            return Err(RelayError::InvalidEnrollmentCode);
        }
        audit(
            &tx,
            &user.login,
            "device.enroll",
            &format!(
                "device {device_code} ({device_id}) for {} unit {} actor {actor_hex}{}",
                user.login,
                user.unit,
                label.map(|l| format!(" label {l}")).unwrap_or_default()
            ),
        )?;
        tx.commit()?;
        Ok(Enrollment {
            device_id,
            device_code,
            token,
            user_login: user.login,
            user_name: user.name,
            unit: user.unit,
            role: user.role,
        })
    }

    /// Revokes a device given its id or device code; its token stops working at once.
    /// Revoking a revoked device changes nothing.
    pub fn revoke_device(&mut self, actor: &str, device: &str) -> Result<Device> {
        let tx = self.write()?;
        let mut found =
            find_device(&tx, device)?.ok_or_else(|| RelayError::UnknownDevice(device.into()))?;
        if found.revoked_at.is_some() {
            return Ok(found);
        }
        let now = now();
        tx.execute(
            "UPDATE acct_devices SET revoked_at = ?1 WHERE id = ?2",
            params![now, found.id],
        )?;
        audit(
            &tx,
            actor,
            "device.revoke",
            &format!(
                "device {} ({}) of {}",
                found.code, found.id, found.user_login
            ),
        )?;
        tx.commit()?;
        found.revoked_at = Some(now);
        Ok(found)
    }

    /// The device with this id or device code (`D7`).
    pub fn device(&self, device: &str) -> Result<Device> {
        find_device(&self.conn, device)?.ok_or_else(|| RelayError::UnknownDevice(device.into()))
    }

    /// The device an Automerge actor id is bound to, revoked or not.
    pub fn device_for_actor(&self, actor_hex: &str) -> Result<Option<Device>> {
        let actor_hex = normalize_actor_hex(actor_hex)?;
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {DEVICE_COLUMNS} FROM acct_devices WHERE actor_hex = ?1"),
                [&actor_hex],
                device_from_row,
            )
            .optional()?)
    }

    /// All devices, in enrollment order.
    pub fn list_devices(&self) -> Result<Vec<Device>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {DEVICE_COLUMNS} FROM acct_devices ORDER BY seq"
        ))?;
        let devices = stmt
            .query_map([], device_from_row)?
            .collect::<rusqlite::Result<_>>()?;
        Ok(devices)
    }

    /// Resolves a bearer token to the device and user it was issued to.
    ///
    /// Fails with [`RelayError::Unauthorized`] for an unknown token and
    /// [`RelayError::DeviceRevoked`] for a revoked device.
    pub fn principal_for_token(&self, token: &str) -> Result<Principal> {
        let row = self.device_by_token(token)?;
        match row {
            None => Err(RelayError::Unauthorized),
            Some((_, Some(_revoked_at))) => Err(RelayError::DeviceRevoked),
            Some((principal, None)) => Ok(principal),
        }
    }

    /// The newest `limit` audit entries, newest first (at most [`MAX_PAGE`]).
    pub fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>> {
        self.audit_page(None, None, limit)
    }

    /// One page of the audit log, newest first: at most `limit` entries (never more than
    /// [`MAX_PAGE`]) whose action starts with `action` (`record.`, `export.`,
    /// `device.revoke`, …) and, with `before`, whose id is below it (the `id` of the last
    /// entry of the previous page).
    pub fn audit_page(
        &self,
        action: Option<&str>,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>> {
        let limit = i64::try_from(limit.min(MAX_PAGE)).unwrap_or(0);
        let prefix = action.unwrap_or("");
        let mut stmt = self.conn.prepare(
            "SELECT id, at, actor_login, action, detail FROM acct_audit
             WHERE substr(action, 1, length(?2)) = ?2 AND id < ?3 ORDER BY id DESC LIMIT ?1",
        )?;
        let entries = stmt
            .query_map(params![limit, prefix, before.unwrap_or(i64::MAX)], |r| {
                Ok(AuditEntry {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    actor_login: r.get(2)?,
                    action: r.get(3)?,
                    detail: r.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(entries)
    }
}

impl AccountStore {
    /// The device behind a token and when it was revoked, if it was.
    fn device_by_token(&self, token: &str) -> Result<Option<(Principal, Option<String>)>> {
        if !secret::looks_like_token(token) {
            return Ok(None);
        }
        let hash = secret::hash_secret(&token.to_ascii_lowercase());
        // Every device request reads this: a cached statement.
        Ok(self
            .conn
            .prepare_cached(
                "SELECT d.id, 'D' || d.seq, d.actor_hex, u.login, u.name, d.unit_code, u.role,
                        d.revoked_at
                 FROM acct_devices d JOIN acct_users u ON u.login = d.user_login
                 WHERE d.token_hash = ?1",
            )?
            .query_row([&hash], |r| {
                Ok((
                    Principal {
                        device_id: r.get(0)?,
                        device_code: r.get(1)?,
                        actor_hex: r.get(2)?,
                        user_login: r.get(3)?,
                        user_name: r.get(4)?,
                        unit: r.get(5)?,
                        role: role_from_sql(r, 6)?,
                    },
                    r.get(7)?,
                ))
            })
            .optional()?)
    }

    /// Appends a line to the audit log: `actor` did `action` to `detail`.
    pub fn log(&self, actor: &str, action: &str, detail: &str) -> Result<()> {
        audit(&self.conn, actor, action, detail)
    }

    /// Appends several lines of `actor` to the audit log in one transaction, each an action
    /// and its detail.
    pub fn log_lines(&mut self, actor: &str, lines: &[(String, String)]) -> Result<()> {
        let tx = self.conn.transaction()?;
        for (action, detail) in lines {
            audit(&tx, actor, action, detail)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Resolves the token of a *revoked* device: the only thing such a device may still do
    /// is report the records it never synced. Unknown tokens are 401, live devices 403.
    pub fn revoked_principal_for_token(&self, token: &str) -> Result<Principal> {
        let row = self.device_by_token(token)?;
        match row {
            None => Err(RelayError::Unauthorized),
            Some((_, None)) => Err(RelayError::Forbidden(
                "only a revoked device reports lost records; this one syncs them instead".into(),
            )),
            Some((principal, Some(_))) => Ok(principal),
        }
    }

    /// Keeps the records a revoked device reports as never synced, and logs the report.
    ///
    /// A device has one report: a new one replaces the previous one. At most
    /// [`MAX_LOST_RECORDS_PER_REPORT`] rows are kept; rows without a usable record id
    /// (empty, or longer than [`MAX_LOST_ID_BYTES`]) are dropped, and longer texts are cut to
    /// [`MAX_LOST_CODE_CHARS`] / [`MAX_LOST_TITLE_CHARS`].
    pub fn record_lost(
        &mut self,
        device: &Principal,
        records: &[fieldledger_core::sync::LostRecord],
    ) -> Result<LostReportOutcome> {
        let tx = self.write()?;
        let at = now();
        let replaced = tx.execute(
            "DELETE FROM acct_lost_records WHERE device_id = ?1",
            [&device.device_id],
        )?;
        let mut recorded = 0;
        let mut numbers = Vec::new();
        {
            let mut insert = tx.prepare(
                "INSERT OR IGNORE INTO acct_lost_records
                   (device_id, user_login, record_id, kind, unit_code, number, title, new_record,
                    updated_at, reported_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )?;
            for r in records {
                if recorded == MAX_LOST_RECORDS_PER_REPORT {
                    break;
                }
                let id = r.id.trim();
                if id.is_empty() || id.len() > MAX_LOST_ID_BYTES {
                    continue;
                }
                let number = cut(&r.number, MAX_LOST_CODE_CHARS);
                let added = insert.execute(params![
                    device.device_id,
                    device.user_login,
                    id,
                    cut(&r.kind, MAX_LOST_CODE_CHARS),
                    cut(&r.unit, MAX_LOST_CODE_CHARS),
                    number,
                    cut(&r.title, MAX_LOST_TITLE_CHARS),
                    r.new_record,
                    r.updated_at,
                    at
                ])?;
                if added == 1 {
                    recorded += 1;
                    if numbers.len() < LOST_NUMBERS_IN_AUDIT {
                        numbers.push(number.to_owned());
                    }
                }
            }
        }
        let dropped = records.len() - recorded;
        let mut listed = if numbers.is_empty() {
            "none".to_owned()
        } else {
            numbers.join(", ")
        };
        if recorded > numbers.len() {
            listed.push_str(&format!(" and {} more", recorded - numbers.len()));
        }
        audit(
            &tx,
            &device.user_login,
            "device.lost_records",
            &format!(
                "device {} ({}) erased itself after revocation; {recorded} record(s) not synced: \
                 {listed}{}{}",
                device.device_code,
                device.device_id,
                if dropped > 0 {
                    format!(
                        "; {dropped} row(s) of the report dropped (over the cap, repeated or without a record id)"
                    )
                } else {
                    String::new()
                },
                if replaced > 0 {
                    format!("; replaces its earlier report of {replaced} record(s)")
                } else {
                    String::new()
                },
            ),
        )?;
        tx.commit()?;
        Ok(LostReportOutcome { recorded, dropped })
    }

    /// One page of the records reported lost, newest report first: at most `limit` rows
    /// (never more than [`MAX_PAGE`]) and, with `before`, only rows whose id is below it.
    pub fn lost_records_page(
        &self,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<LostRecordEntry>> {
        let limit = i64::try_from(limit.min(MAX_PAGE)).unwrap_or(0);
        let mut stmt = self.conn.prepare(
            "SELECT id, device_id, user_login, record_id, kind, unit_code, number, title,
                    new_record, updated_at, reported_at
             FROM acct_lost_records WHERE id < ?1 ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = stmt
            .query_map(params![before.unwrap_or(i64::MAX), limit], |r| {
                Ok(LostRecordEntry {
                    id: r.get(0)?,
                    device_id: r.get(1)?,
                    user_login: r.get(2)?,
                    record_id: r.get(3)?,
                    kind: r.get(4)?,
                    unit_code: r.get(5)?,
                    number: r.get(6)?,
                    title: r.get(7)?,
                    new_record: r.get(8)?,
                    updated_at: r.get(9)?,
                    reported_at: r.get(10)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }
}

/// `text` cut to at most `chars` characters.
fn cut(text: &str, chars: usize) -> &str {
    text.char_indices()
        .nth(chars)
        .map_or(text, |(i, _)| &text[..i])
}

fn now() -> String {
    format_time(Utc::now())
}

/// Fixed-width UTC timestamps, so that they also sort as text.
fn format_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn parse_time(text: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| RelayError::Internal(format!("bad timestamp {text:?} in database: {e}")))
}

fn audit(conn: &Connection, actor: &str, action: &str, detail: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO acct_audit (at, actor_login, action, detail) VALUES (?1, ?2, ?3, ?4)",
        params![now(), actor, action, detail],
    )?;
    Ok(())
}

fn insert_enrollment(tx: &Transaction<'_>, actor: &str, login: &str) -> Result<EnrollmentCode> {
    let now_at = Utc::now();
    let expires_at = format_time(now_at + ENROLLMENT_VALIDITY);
    // 40 random bits: a clash with a stored code is unlikely, but cheap to rule out.
    let code = loop {
        let code = secret::new_enrollment_code();
        let inserted = tx.execute(
            "INSERT OR IGNORE INTO acct_enrollments
                 (code_hash, user_login, created_by, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                secret::hash_secret(&code),
                login,
                actor,
                format_time(now_at),
                expires_at
            ],
        )?;
        if inserted == 1 {
            break code;
        }
    };
    audit(
        tx,
        actor,
        "device.enrollment_code",
        &format!("for {login}, expires {expires_at}"),
    )?;
    Ok(EnrollmentCode {
        code,
        user_login: login.to_owned(),
        expires_at,
    })
}

fn find_unit(conn: &Connection, code: &str) -> Result<Option<Unit>> {
    Ok(conn
        .query_row(
            "SELECT code, name, is_office, created_at FROM acct_units WHERE code = ?1",
            [code],
            unit_from_row,
        )
        .optional()?)
}

fn find_user(conn: &Connection, login: &str) -> Result<Option<User>> {
    Ok(conn
        .query_row(
            "SELECT login, name, unit_code, role, password_hash IS NOT NULL, created_at
             FROM acct_users WHERE login = ?1",
            [login],
            user_from_row,
        )
        .optional()?)
}

/// Finds a device by id, or by device code (`D7`, any case).
fn find_device(conn: &Connection, device: &str) -> Result<Option<Device>> {
    let device = device.trim();
    let seq = device
        .strip_prefix(['D', 'd'])
        .and_then(|n| n.parse::<i64>().ok());
    let found = match seq {
        Some(seq) => conn
            .query_row(
                &format!("SELECT {DEVICE_COLUMNS} FROM acct_devices WHERE seq = ?1"),
                [seq],
                device_from_row,
            )
            .optional()?,
        None => conn
            .query_row(
                &format!("SELECT {DEVICE_COLUMNS} FROM acct_devices WHERE id = ?1"),
                [device.to_ascii_lowercase()],
                device_from_row,
            )
            .optional()?,
    };
    Ok(found)
}

fn unit_from_row(r: &Row<'_>) -> rusqlite::Result<Unit> {
    Ok(Unit {
        code: r.get(0)?,
        name: r.get(1)?,
        is_office: r.get(2)?,
        created_at: r.get(3)?,
    })
}

fn user_from_row(r: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        login: r.get(0)?,
        name: r.get(1)?,
        unit: r.get(2)?,
        role: role_from_sql(r, 3)?,
        has_password: r.get(4)?,
        created_at: r.get(5)?,
    })
}

fn device_from_row(r: &Row<'_>) -> rusqlite::Result<Device> {
    Ok(Device {
        code: r.get(0)?,
        id: r.get(1)?,
        user_login: r.get(2)?,
        unit: r.get(3)?,
        actor_hex: r.get(4)?,
        label: r.get(5)?,
        enrolled_at: r.get(6)?,
        revoked_at: r.get(7)?,
    })
}

fn role_from_sql(r: &Row<'_>, idx: usize) -> rusqlite::Result<Role> {
    let text: String = r.get(idx)?;
    text.parse().map_err(|e: fieldledger_core::Error| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
    })
}

#[cfg(test)]
mod tests;
