//! The users as the record store asks for them: whether a login names a user, read from the
//! account tables of the relay's database file, so a user added by `fieldledger admin` while
//! the relay runs is known at once.

use std::path::Path;
use std::sync::Mutex;

use fieldledger_core::store::UserDirectory;
use rusqlite::{Connection, OpenFlags, OptionalExtension};

use super::BUSY_TIMEOUT;

/// Logins of the relay's users (`acct_users`), on a read-only connection of its own.
pub struct LoginDirectory {
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for LoginDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginDirectory").finish_non_exhaustive()
    }
}

impl LoginDirectory {
    /// Opens the directory on the relay's database file.
    pub fn open(path: impl AsRef<Path>) -> rusqlite::Result<LoginDirectory> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        Ok(LoginDirectory {
            conn: Mutex::new(conn),
        })
    }
}

impl UserDirectory for LoginDirectory {
    fn names_user(&self, who: &str) -> fieldledger_core::Result<bool> {
        let conn = self
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let found = conn
            .prepare_cached("SELECT 1 FROM acct_users WHERE login = ?1 OR name = ?1 LIMIT 1")
            .and_then(|mut s| s.query_row([who], |_| Ok(())).optional());
        match found {
            Ok(f) => Ok(f.is_some()),
            // No account tables yet: no users.
            Err(rusqlite::Error::SqliteFailure(_, Some(m))) if m.contains("no such table") => {
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }
}
