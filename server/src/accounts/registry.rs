//! What the relay needs from its accounts, as one trait: [`AccountRegistry`]. Two
//! implementations: [`AccountStore`] on the relay's SQLite file (the embedded default), and
//! [`ReplicatedAccounts`] on a PostgreSQL deployment's local copy, whose writes take the
//! deployment's write turn on a copy caught up with the log first.

use fieldledger_core::sync::LostRecord;

use super::{
    AccountStore, AuditEntry, Device, Enrollment, EnrollmentCode, Issuer, LostRecordEntry,
    LostReportOutcome, MentionsErased, NewUser, PasswordOnFile, Principal, Session, SignIn, Unit,
    User,
};
use crate::error::Result;
use crate::replica::Replica;

/// The relay's accounts: units, users and passwords, enrollment codes and devices, dashboard
/// sessions, the audit log and lost-record reports (blocking: call it on a blocking thread).
pub trait AccountRegistry: Send + std::fmt::Debug + 'static {
    /// Runs `write` on the registry as one turn of writes: on a PostgreSQL deployment holding
    /// its write turn on a copy caught up first, so what `write` reads is current.
    fn in_write_turn(
        &mut self,
        write: &mut dyn FnMut(&mut dyn AccountRegistry) -> Result<()>,
    ) -> Result<()>;
    /// Sets after how many failed guesses pending enrollment codes stop working.
    fn set_guesses_per_code(&mut self, guesses: u32);
    /// Creates the office unit and the admin user if missing; their one-time enrollment
    /// code, when the admin was created now.
    fn ensure_bootstrap(&mut self, office_code: &str) -> Result<Option<String>>;
    /// Adds a unit.
    fn add_unit(&mut self, actor: &str, code: &str, name: &str) -> Result<Unit>;
    /// A unit by code.
    fn unit(&self, code: &str) -> Result<Unit>;
    /// Every unit.
    fn list_units(&self) -> Result<Vec<Unit>>;
    /// Adds a user.
    fn add_user(&mut self, actor: &str, new: &NewUser) -> Result<User>;
    /// A user by login.
    fn user(&self, login: &str) -> Result<User>;
    /// Every user.
    fn list_users(&self) -> Result<Vec<User>>;
    /// Sets a user's dashboard password.
    fn set_password(&mut self, actor: &str, login: &str, password: &str) -> Result<()>;
    /// Whether `password` is the user's dashboard password.
    fn verify_password(&self, login: &str, password: &str) -> Result<bool>;
    /// Issues a one-time enrollment code for `login`, if `issuer` may.
    fn create_enrollment(&mut self, issuer: Issuer<'_>, login: &str) -> Result<EnrollmentCode>;
    /// Redeems an enrollment code for a device with actor id `actor_hex`.
    fn redeem_enrollment(
        &mut self,
        code: &str,
        actor_hex: &str,
        label: Option<&str>,
    ) -> Result<Enrollment>;
    /// Writes the audit line for enrollments refused by the global limit.
    fn note_enrollment_limit_reached(&mut self) -> Result<()>;
    /// Revokes a device.
    fn revoke_device(&mut self, actor: &str, device: &str) -> Result<Device>;
    /// A device by code.
    fn device(&self, device: &str) -> Result<Device>;
    /// The device an actor id is bound to.
    fn device_for_actor(&self, actor_hex: &str) -> Result<Option<Device>>;
    /// Every device.
    fn list_devices(&self) -> Result<Vec<Device>>;
    /// Who a live device's token belongs to.
    fn principal_for_token(&self, token: &str) -> Result<Principal>;
    /// Who a revoked device's token belonged to (for its lost-record report only).
    fn revoked_principal_for_token(&self, token: &str) -> Result<Principal>;
    /// The newest `limit` audit lines.
    fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>>;
    /// A page of audit lines, newest first, of one action if given, before a line number.
    fn audit_page(
        &self,
        action: Option<&str>,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>>;
    /// Appends an audit line.
    fn log(&self, actor: &str, action: &str, detail: &str) -> Result<()>;
    /// Appends several audit lines of `actor` (action, detail) in one transaction.
    fn log_lines(&mut self, actor: &str, lines: &[(String, String)]) -> Result<()>;
    /// Keeps a revoked device's report of the records it never synced.
    fn record_lost(
        &mut self,
        device: &Principal,
        records: &[LostRecord],
    ) -> Result<LostReportOutcome>;
    /// A page of lost-record rows, newest first, before a row number.
    fn lost_records_page(&self, before: Option<i64>, limit: usize) -> Result<Vec<LostRecordEntry>>;
    /// Masks an erased record's values in lost-record rows and audit lines.
    fn erase_mentions(
        &mut self,
        actor: &str,
        record_id: &str,
        number: &str,
        terms: &[String],
        detail: &str,
    ) -> Result<MentionsErased>;
    /// Signs a user in to the dashboard with a password.
    fn sign_in(&mut self, login: &str, password: &str) -> Result<SignIn>;
    /// The password hash on file for a login (checked outside every lock).
    fn password_on_file(&self, login: &str) -> Result<PasswordOnFile>;
    /// Opens a dashboard session for a password checked already.
    fn open_session(&mut self, on_file: &PasswordOnFile) -> Result<SignIn>;
    /// A live dashboard session by id (its idle time restarts).
    fn session(&mut self, id: &str) -> Result<Option<Session>>;
    /// Ends a dashboard session.
    fn end_session(&mut self, id: &str) -> Result<bool>;
    /// Deletes expired dashboard sessions.
    fn purge_expired_sessions(&mut self) -> Result<usize>;
}

impl AccountRegistry for AccountStore {
    fn in_write_turn(
        &mut self,
        write: &mut dyn FnMut(&mut dyn AccountRegistry) -> Result<()>,
    ) -> Result<()> {
        write(self)
    }
    fn set_guesses_per_code(&mut self, guesses: u32) {
        AccountStore::set_guesses_per_code(self, guesses)
    }
    fn ensure_bootstrap(&mut self, office_code: &str) -> Result<Option<String>> {
        AccountStore::ensure_bootstrap(self, office_code)
    }
    fn add_unit(&mut self, actor: &str, code: &str, name: &str) -> Result<Unit> {
        AccountStore::add_unit(self, actor, code, name)
    }
    fn unit(&self, code: &str) -> Result<Unit> {
        AccountStore::unit(self, code)
    }
    fn list_units(&self) -> Result<Vec<Unit>> {
        AccountStore::list_units(self)
    }
    fn add_user(&mut self, actor: &str, new: &NewUser) -> Result<User> {
        AccountStore::add_user(self, actor, new)
    }
    fn user(&self, login: &str) -> Result<User> {
        AccountStore::user(self, login)
    }
    fn list_users(&self) -> Result<Vec<User>> {
        AccountStore::list_users(self)
    }
    fn set_password(&mut self, actor: &str, login: &str, password: &str) -> Result<()> {
        AccountStore::set_password(self, actor, login, password)
    }
    fn verify_password(&self, login: &str, password: &str) -> Result<bool> {
        AccountStore::verify_password(self, login, password)
    }
    fn create_enrollment(&mut self, issuer: Issuer<'_>, login: &str) -> Result<EnrollmentCode> {
        AccountStore::create_enrollment(self, issuer, login)
    }
    fn redeem_enrollment(
        &mut self,
        code: &str,
        actor_hex: &str,
        label: Option<&str>,
    ) -> Result<Enrollment> {
        AccountStore::redeem_enrollment(self, code, actor_hex, label)
    }
    fn note_enrollment_limit_reached(&mut self) -> Result<()> {
        AccountStore::note_enrollment_limit_reached(self)
    }
    fn revoke_device(&mut self, actor: &str, device: &str) -> Result<Device> {
        AccountStore::revoke_device(self, actor, device)
    }
    fn device(&self, device: &str) -> Result<Device> {
        AccountStore::device(self, device)
    }
    fn device_for_actor(&self, actor_hex: &str) -> Result<Option<Device>> {
        AccountStore::device_for_actor(self, actor_hex)
    }
    fn list_devices(&self) -> Result<Vec<Device>> {
        AccountStore::list_devices(self)
    }
    fn principal_for_token(&self, token: &str) -> Result<Principal> {
        AccountStore::principal_for_token(self, token)
    }
    fn revoked_principal_for_token(&self, token: &str) -> Result<Principal> {
        AccountStore::revoked_principal_for_token(self, token)
    }
    fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>> {
        AccountStore::audit_log(self, limit)
    }
    fn audit_page(
        &self,
        action: Option<&str>,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>> {
        AccountStore::audit_page(self, action, before, limit)
    }
    fn log(&self, actor: &str, action: &str, detail: &str) -> Result<()> {
        AccountStore::log(self, actor, action, detail)
    }
    fn log_lines(&mut self, actor: &str, lines: &[(String, String)]) -> Result<()> {
        AccountStore::log_lines(self, actor, lines)
    }
    fn record_lost(
        &mut self,
        device: &Principal,
        records: &[LostRecord],
    ) -> Result<LostReportOutcome> {
        AccountStore::record_lost(self, device, records)
    }
    fn lost_records_page(&self, before: Option<i64>, limit: usize) -> Result<Vec<LostRecordEntry>> {
        AccountStore::lost_records_page(self, before, limit)
    }
    fn erase_mentions(
        &mut self,
        actor: &str,
        record_id: &str,
        number: &str,
        terms: &[String],
        detail: &str,
    ) -> Result<MentionsErased> {
        AccountStore::erase_mentions(self, actor, record_id, number, terms, detail)
    }
    fn sign_in(&mut self, login: &str, password: &str) -> Result<SignIn> {
        AccountStore::sign_in(self, login, password)
    }
    fn password_on_file(&self, login: &str) -> Result<PasswordOnFile> {
        AccountStore::password_on_file(self, login)
    }
    fn open_session(&mut self, on_file: &PasswordOnFile) -> Result<SignIn> {
        AccountStore::open_session(self, on_file)
    }
    fn session(&mut self, id: &str) -> Result<Option<Session>> {
        AccountStore::session(self, id)
    }
    fn end_session(&mut self, id: &str) -> Result<bool> {
        AccountStore::end_session(self, id)
    }
    fn purge_expired_sessions(&mut self) -> Result<usize> {
        AccountStore::purge_expired_sessions(self)
    }
}

/// The accounts of a PostgreSQL deployment: an [`AccountStore`] on the relay's local copy,
/// whose connection appends each commit to the log (see [`Replica::instrument`]). Every write
/// takes the deployment's write turn on a copy caught up first (one turn for all the writes
/// of [`AccountRegistry::in_write_turn`]); reads read the copy as it is (the relay catches it
/// up first, outside the registry's lock: [`crate::AppState::read_accounts`]).
#[derive(Debug)]
pub struct ReplicatedAccounts {
    copy: AccountStore,
    replica: Replica,
}

impl ReplicatedAccounts {
    /// The accounts on `copy`, a registry on `replica`'s local copy whose connection it
    /// instruments.
    pub fn new(copy: AccountStore, replica: Replica) -> Self {
        ReplicatedAccounts { copy, replica }
    }

    /// Runs `write` on the copy in the deployment's write turn.
    fn turn<T>(&mut self, write: impl FnOnce(&mut AccountStore) -> Result<T>) -> Result<T> {
        let copy = &mut self.copy;
        self.replica.write(|| write(copy))?
    }
}

impl AccountRegistry for ReplicatedAccounts {
    fn in_write_turn(
        &mut self,
        write: &mut dyn FnMut(&mut dyn AccountRegistry) -> Result<()>,
    ) -> Result<()> {
        self.turn(|copy| write(copy))
    }
    fn set_guesses_per_code(&mut self, guesses: u32) {
        self.copy.set_guesses_per_code(guesses)
    }
    fn ensure_bootstrap(&mut self, office_code: &str) -> Result<Option<String>> {
        self.turn(|c| c.ensure_bootstrap(office_code))
    }
    fn add_unit(&mut self, actor: &str, code: &str, name: &str) -> Result<Unit> {
        self.turn(|c| c.add_unit(actor, code, name))
    }
    fn unit(&self, code: &str) -> Result<Unit> {
        self.copy.unit(code)
    }
    fn list_units(&self) -> Result<Vec<Unit>> {
        self.copy.list_units()
    }
    fn add_user(&mut self, actor: &str, new: &NewUser) -> Result<User> {
        self.turn(|c| c.add_user(actor, new))
    }
    fn user(&self, login: &str) -> Result<User> {
        self.copy.user(login)
    }
    fn list_users(&self) -> Result<Vec<User>> {
        self.copy.list_users()
    }
    fn set_password(&mut self, actor: &str, login: &str, password: &str) -> Result<()> {
        self.turn(|c| c.set_password(actor, login, password))
    }
    fn verify_password(&self, login: &str, password: &str) -> Result<bool> {
        self.copy.verify_password(login, password)
    }
    fn create_enrollment(&mut self, issuer: Issuer<'_>, login: &str) -> Result<EnrollmentCode> {
        self.turn(|c| c.create_enrollment(issuer, login))
    }
    fn redeem_enrollment(
        &mut self,
        code: &str,
        actor_hex: &str,
        label: Option<&str>,
    ) -> Result<Enrollment> {
        self.turn(|c| c.redeem_enrollment(code, actor_hex, label))
    }
    fn note_enrollment_limit_reached(&mut self) -> Result<()> {
        self.turn(|c| c.note_enrollment_limit_reached())
    }
    fn revoke_device(&mut self, actor: &str, device: &str) -> Result<Device> {
        self.turn(|c| c.revoke_device(actor, device))
    }
    fn device(&self, device: &str) -> Result<Device> {
        self.copy.device(device)
    }
    fn device_for_actor(&self, actor_hex: &str) -> Result<Option<Device>> {
        self.copy.device_for_actor(actor_hex)
    }
    fn list_devices(&self) -> Result<Vec<Device>> {
        self.copy.list_devices()
    }
    fn principal_for_token(&self, token: &str) -> Result<Principal> {
        self.copy.principal_for_token(token)
    }
    fn revoked_principal_for_token(&self, token: &str) -> Result<Principal> {
        self.copy.revoked_principal_for_token(token)
    }
    fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>> {
        self.copy.audit_log(limit)
    }
    fn audit_page(
        &self,
        action: Option<&str>,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>> {
        self.copy.audit_page(action, before, limit)
    }
    fn log(&self, actor: &str, action: &str, detail: &str) -> Result<()> {
        let copy = &self.copy;
        self.replica.write(|| copy.log(actor, action, detail))?
    }
    fn log_lines(&mut self, actor: &str, lines: &[(String, String)]) -> Result<()> {
        self.turn(|c| c.log_lines(actor, lines))
    }
    fn record_lost(
        &mut self,
        device: &Principal,
        records: &[LostRecord],
    ) -> Result<LostReportOutcome> {
        self.turn(|c| c.record_lost(device, records))
    }
    fn lost_records_page(&self, before: Option<i64>, limit: usize) -> Result<Vec<LostRecordEntry>> {
        self.copy.lost_records_page(before, limit)
    }
    fn erase_mentions(
        &mut self,
        actor: &str,
        record_id: &str,
        number: &str,
        terms: &[String],
        detail: &str,
    ) -> Result<MentionsErased> {
        self.turn(|c| c.erase_mentions(actor, record_id, number, terms, detail))
    }
    fn sign_in(&mut self, login: &str, password: &str) -> Result<SignIn> {
        self.turn(|c| c.sign_in(login, password))
    }
    fn password_on_file(&self, login: &str) -> Result<PasswordOnFile> {
        self.copy.password_on_file(login)
    }
    fn open_session(&mut self, on_file: &PasswordOnFile) -> Result<SignIn> {
        self.turn(|c| c.open_session(on_file))
    }
    fn session(&mut self, id: &str) -> Result<Option<Session>> {
        self.turn(|c| c.session(id))
    }
    fn end_session(&mut self, id: &str) -> Result<bool> {
        self.turn(|c| c.end_session(id))
    }
    fn purge_expired_sessions(&mut self) -> Result<usize> {
        self.turn(|c| c.purge_expired_sessions())
    }
}
