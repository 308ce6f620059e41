//! Dashboard sign-in sessions: a random id handed to the browser in a cookie and kept here only
//! as its SHA-256 hash, one CSRF token per session, an idle timeout and an absolute lifetime.

use std::sync::OnceLock;

use chrono::{DateTime, TimeDelta, Utc};
use rusqlite::{OptionalExtension, params};

use super::{
    AccountStore, User, audit, find_user, format_time, normalize_login, parse_time, secret,
};
use crate::error::Result;

/// A session ends after this long without a request.
pub const SESSION_IDLE: TimeDelta = TimeDelta::hours(2);

/// A session ends this long after sign-in, however busy.
pub const SESSION_LIFETIME: TimeDelta = TimeDelta::hours(12);

/// `last_seen_at` is written at most this often, so reading pages does not write every time.
const TOUCH_EVERY: TimeDelta = TimeDelta::minutes(1);

/// Whether users of a role may sign in to the office dashboard (decided in the core's access
/// rules).
pub use fieldledger_core::access::may_use_dashboard;

/// A session just opened: the id for the browser's cookie (never stored) and its CSRF token.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// Session id: 32 random bytes as hex. Only its hash is kept.
    pub id: String,
    /// CSRF token every form of this session must carry.
    pub csrf: String,
    /// The signed-in user.
    pub user: User,
}

/// A live session, found by its id.
#[derive(Debug, Clone)]
pub struct Session {
    /// The signed-in user, as the registry has them now (role and unit changes apply at once).
    pub user: User,
    /// CSRF token of the session.
    pub csrf: String,
    /// When the session ends unless used again (RFC 3339, UTC).
    pub expires_at: String,
}

/// The outcome of a sign-in attempt.
#[derive(Debug, Clone)]
pub enum SignIn {
    /// Signed in.
    Ok(NewSession),
    /// Unknown login, no password set, or a wrong password (deliberately not told apart).
    BadCredentials,
    /// The password is right but the user's role may not use the dashboard.
    NotAllowed(User),
}

/// An Argon2 hash to verify against when the login is unknown, so that a wrong login takes as
/// long as a wrong password and logins cannot be discovered by timing.
fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| secret::hash_password("not-a-real-password-for-timing").unwrap_or_default())
}

fn session_end(created: DateTime<Utc>, last_seen: DateTime<Utc>) -> DateTime<Utc> {
    (created + SESSION_LIFETIME).min(last_seen + SESSION_IDLE)
}

/// What a sign-in checks a password against, read from the registry so that the check itself
/// (Argon2: tens of milliseconds and ~19 MiB) runs outside the registry's lock.
#[derive(Debug, Clone)]
pub struct PasswordOnFile {
    /// The user of the login, if there is one.
    pub user: Option<User>,
    /// Their stored password hash, if they have a password.
    hash: Option<String>,
}

/// Whether `password` is the one on file. Without a user or a password it checks against a
/// dummy hash and answers false, so that a wrong login takes as long as a wrong password.
/// Heavy on CPU and memory: call it outside every lock, and only a few at once.
pub fn check_password(password: &str, on_file: &PasswordOnFile) -> Result<bool> {
    match &on_file.hash {
        Some(hash) if on_file.user.is_some() => secret::verify_password(password, hash),
        _ => {
            let _ = secret::verify_password(password, dummy_hash());
            Ok(false)
        }
    }
}

impl AccountStore {
    /// Checks a dashboard password and opens a session for the user if their role may use the
    /// dashboard: [`Self::password_on_file`], [`check_password`], [`Self::open_session`] in
    /// one go. The relay runs the three steps apart, so the check holds no lock.
    pub fn sign_in(&mut self, login: &str, password: &str) -> Result<SignIn> {
        let on_file = self.password_on_file(login)?;
        if !check_password(password, &on_file)? {
            return Ok(SignIn::BadCredentials);
        }
        self.open_session(&on_file)
    }

    /// The user of `login` and their password hash, for [`check_password`].
    pub fn password_on_file(&self, login: &str) -> Result<PasswordOnFile> {
        let Ok(login) = normalize_login(login) else {
            return Ok(PasswordOnFile {
                user: None,
                hash: None,
            });
        };
        let user = find_user(&self.conn, &login)?;
        let hash = match &user {
            Some(u) if u.has_password => self.password_hash(&u.login)?,
            _ => None,
        };
        Ok(PasswordOnFile { user, hash })
    }

    fn password_hash(&self, login: &str) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT password_hash FROM acct_users WHERE login = ?1",
                [login],
                |r| r.get(0),
            )
            .optional()?
            .flatten())
    }

    /// After [`check_password`] said yes to `on_file`: opens a session for the user if their
    /// role may use the dashboard. Refused as bad credentials when the password changed (or
    /// the user went) since it was read. Expired sessions of everyone are purged on the way.
    pub fn open_session(&mut self, on_file: &PasswordOnFile) -> Result<SignIn> {
        let (Some(checked), Some(hash)) = (&on_file.user, &on_file.hash) else {
            return Ok(SignIn::BadCredentials);
        };
        self.purge_expired_sessions()?;
        let tx = self.write()?;
        // Read again inside the write transaction: a password set meanwhile wins.
        let user = find_user(&tx, &checked.login)?;
        let current: Option<String> = tx
            .query_row(
                "SELECT password_hash FROM acct_users WHERE login = ?1",
                [&checked.login],
                |r| r.get(0),
            )
            .optional()?
            .flatten();
        let (Some(user), Some(current)) = (user, current) else {
            return Ok(SignIn::BadCredentials);
        };
        if current != *hash {
            return Ok(SignIn::BadCredentials);
        }
        if !may_use_dashboard(user.role) {
            return Ok(SignIn::NotAllowed(user));
        }
        let id = secret::new_token();
        let csrf = secret::new_token();
        let now = format_time(Utc::now());
        tx.execute(
            "INSERT INTO acct_sessions (id_hash, user_login, csrf_token, created_at, last_seen_at)
             VALUES (?1, ?2, ?3, ?4, ?4)",
            params![secret::hash_secret(&id), user.login, csrf, now],
        )?;
        audit(&tx, &user.login, "web.sign_in", &user.login)?;
        tx.commit()?;
        Ok(SignIn::Ok(NewSession { id, csrf, user }))
    }

    /// The live session with this id, or none if it is unknown, expired, or its user may no
    /// longer use the dashboard. Using a session keeps it alive (up to its lifetime).
    pub fn session(&mut self, id: &str) -> Result<Option<Session>> {
        if !secret::looks_like_token(id) {
            return Ok(None);
        }
        let hash = secret::hash_secret(&id.to_ascii_lowercase());
        let row: Option<(String, String, String, String)> = self
            .conn
            .query_row(
                "SELECT user_login, csrf_token, created_at, last_seen_at
                 FROM acct_sessions WHERE id_hash = ?1",
                [&hash],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let Some((login, csrf, created_at, last_seen_at)) = row else {
            return Ok(None);
        };
        let now = Utc::now();
        let created = parse_time(&created_at)?;
        let mut last_seen = parse_time(&last_seen_at)?;
        let user = find_user(&self.conn, &login)?;
        let user = match user {
            Some(user) if now < session_end(created, last_seen) && may_use_dashboard(user.role) => {
                user
            }
            _ => {
                self.conn
                    .execute("DELETE FROM acct_sessions WHERE id_hash = ?1", [&hash])?;
                return Ok(None);
            }
        };
        if now - last_seen >= TOUCH_EVERY {
            last_seen = now;
            self.conn.execute(
                "UPDATE acct_sessions SET last_seen_at = ?1 WHERE id_hash = ?2",
                params![format_time(now), hash],
            )?;
        }
        Ok(Some(Session {
            user,
            csrf,
            expires_at: format_time(session_end(created, last_seen)),
        }))
    }

    /// Ends a session (sign-out); true if it existed.
    pub fn end_session(&mut self, id: &str) -> Result<bool> {
        if !secret::looks_like_token(id) {
            return Ok(false);
        }
        let hash = secret::hash_secret(&id.to_ascii_lowercase());
        let tx = self.write()?;
        let login: Option<String> = tx
            .query_row(
                "DELETE FROM acct_sessions WHERE id_hash = ?1 RETURNING user_login",
                [&hash],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(login) = &login {
            audit(&tx, login, "web.sign_out", login)?;
        }
        tx.commit()?;
        Ok(login.is_some())
    }

    /// Deletes every expired session; returns how many.
    pub fn purge_expired_sessions(&mut self) -> Result<usize> {
        let now = Utc::now();
        let idle_since = format_time(now - SESSION_IDLE);
        let born_since = format_time(now - SESSION_LIFETIME);
        // Timestamps are fixed-width UTC, so they compare as text.
        Ok(self.conn.execute(
            "DELETE FROM acct_sessions WHERE last_seen_at <= ?1 OR created_at <= ?2",
            params![idle_since, born_since],
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::{DEFAULT_OFFICE_CODE, NewUser, Role};

    fn store() -> AccountStore {
        let mut s = AccountStore::open_in_memory().unwrap();
        s.ensure_bootstrap(DEFAULT_OFFICE_CODE).unwrap();
        s.add_unit("t", "WJK", "疾控科").unwrap();
        for (login, role) in [("boss", Role::UnitHead), ("zhang", Role::Staff)] {
            s.add_user(
                "t",
                &NewUser {
                    login: login.into(),
                    name: login.into(),
                    unit: "WJK".into(),
                    role,
                },
            )
            .unwrap();
            s.set_password("t", login, "password-123").unwrap();
        }
        s
    }

    #[test]
    fn sign_in_opens_a_session_kept_only_as_a_hash() {
        let mut s = store();
        let SignIn::Ok(new) = s.sign_in("Boss", "password-123").unwrap() else {
            panic!("boss signs in");
        };
        let stored: String = s
            .conn()
            .query_row("SELECT id_hash FROM acct_sessions", [], |r| r.get(0))
            .unwrap();
        assert_ne!(stored, new.id);
        let live = s.session(&new.id).unwrap().unwrap();
        assert_eq!(live.user.login, "boss");
        assert_eq!(live.csrf, new.csrf);
        assert!(s.end_session(&new.id).unwrap());
        assert!(s.session(&new.id).unwrap().is_none());
    }

    #[test]
    fn wrong_password_unknown_login_and_staff_are_refused() {
        let mut s = store();
        assert!(matches!(
            s.sign_in("boss", "wrong-password").unwrap(),
            SignIn::BadCredentials
        ));
        assert!(matches!(
            s.sign_in("nobody", "password-123").unwrap(),
            SignIn::BadCredentials
        ));
        assert!(matches!(
            s.sign_in("admin", "password-123").unwrap(),
            SignIn::BadCredentials
        ));
        assert!(matches!(
            s.sign_in("zhang", "password-123").unwrap(),
            SignIn::NotAllowed(_)
        ));
    }

    #[test]
    fn idle_and_old_sessions_expire_and_a_new_password_ends_sessions() {
        let mut s = store();
        let SignIn::Ok(a) = s.sign_in("boss", "password-123").unwrap() else {
            panic!()
        };
        let old = format_time(Utc::now() - SESSION_IDLE - TimeDelta::seconds(1));
        s.conn()
            .execute("UPDATE acct_sessions SET last_seen_at = ?1", [&old])
            .unwrap();
        assert!(s.session(&a.id).unwrap().is_none(), "idle session ends");
        let SignIn::Ok(b) = s.sign_in("boss", "password-123").unwrap() else {
            panic!()
        };
        let born = format_time(Utc::now() - SESSION_LIFETIME - TimeDelta::seconds(1));
        s.conn()
            .execute("UPDATE acct_sessions SET created_at = ?1", [&born])
            .unwrap();
        assert!(s.session(&b.id).unwrap().is_none(), "old session ends");
        let SignIn::Ok(c) = s.sign_in("boss", "password-123").unwrap() else {
            panic!()
        };
        s.set_password("t", "boss", "another-password").unwrap();
        assert!(
            s.session(&c.id).unwrap().is_none(),
            "password change ends it"
        );
    }
}
