//! State shared by every request handler: the account registry, the record storage and its
//! readers, the rate limiters and the turns for password checks, with the helpers that run
//! work on them off the async runtime.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::FromRequest;
use fieldledger_core::sync::{CheckedPushes, Peer, PushOutcome, RelayEvent, SyncRequest};

use crate::accounts::{AccountRegistry, AccountStore, ReplicatedAccounts};
use crate::connections::ConnectionLimits;
use crate::database::Database;
use crate::error::{RelayError, Result};
use crate::rate_limit::{Rate, RateLimiter};
use crate::records::{
    Committed, PendingCommit, RecordBackend, RecordReads, RecordStorage, RecordWrite,
    SqliteRecords, Written, read_records,
};
use crate::replica::Replica;

/// Default largest accepted request body: 16 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Default global limit of failed enrollments: 20 a minute (bursts of 20), from all clients
/// together.
pub const DEFAULT_ENROLL_FAILURE_RATE: Rate = Rate::new(20.0 / 60.0, 20);

/// Default limit of loss reports per revoked device: 5 at once, then one every 10 minutes
/// (a device tries three times before it erases itself).
pub const DEFAULT_LOST_REPORT_RATE: Rate = Rate::new(1.0 / 600.0, 5);
/// Default number of dashboard password checks that run at once.
pub const DEFAULT_PASSWORD_CHECKS_AT_ONCE: usize = 2;

/// Password checks that may wait for a turn; a sign-in past them is answered 429 at once.
pub const PASSWORD_CHECKS_WAITING: usize = 64;

/// Tunables of the HTTP application.
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// Largest accepted request body in bytes; larger ones get 413.
    pub max_body_bytes: usize,
    /// Longest time a request may take before it is answered 408.
    pub request_timeout: Duration,
    /// Request rate allowed per enrolled device (`None`: unlimited).
    pub device_rate: Option<Rate>,
    /// Request rate allowed per client IP address, authenticated or not (`None`: unlimited).
    /// Set it well above `device_rate`: a unit's phones often share one office address.
    pub address_rate: Option<Rate>,
    /// Reverse proxies (their addresses) whose `X-Forwarded-For` names the real client: the
    /// per-address rate limits (API and dashboard) then count that client, not the proxy.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Failed enrollments allowed across *all* clients (`None`: unlimited): once the bucket is
    /// empty, `POST /v1/enroll` answers 429 to everyone, right codes included, until it refills.
    pub enroll_failure_rate: Option<Rate>,
    /// Failed guesses after which every pending enrollment code stops working (each wrong
    /// code is a guess at every pending one); see [`crate::accounts::MAX_GUESSES_PER_CODE`].
    pub enroll_guesses_per_code: u32,
    /// Loss reports allowed per revoked device (`POST /v1/device/lost`; `None`: unlimited).
    pub lost_report_rate: Option<Rate>,
    /// Connection caps and timeouts (header read, idle) of [`serve`] and [`serve_tls`].
    pub connections: ConnectionLimits,
    /// Dashboard password checks (Argon2, ~19 MiB each) running at once; more wait.
    pub password_checks_at_once: usize,
}

impl Default for AppConfig {
    fn default() -> Self {
        AppConfig {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            request_timeout: Duration::from_secs(60),
            device_rate: Some(Rate::new(50.0, 100)),
            address_rate: Some(Rate::new(200.0, 400)),
            trusted_proxies: Vec::new(),
            enroll_failure_rate: Some(DEFAULT_ENROLL_FAILURE_RATE),
            enroll_guesses_per_code: crate::accounts::MAX_GUESSES_PER_CODE,
            lost_report_rate: Some(DEFAULT_LOST_REPORT_RATE),
            connections: ConnectionLimits::default(),
            password_checks_at_once: DEFAULT_PASSWORD_CHECKS_AT_ONCE,
        }
    }
}

/// State shared by all request handlers.
#[derive(Debug, Clone)]
pub struct AppState {
    accounts: Arc<Mutex<Box<dyn AccountRegistry>>>,
    config: Arc<AppConfig>,
    device_limiter: Option<Arc<RateLimiter>>,
    address_limiter: Option<Arc<RateLimiter>>,
    enroll_failures: Option<Arc<RateLimiter>>,
    lost_reports: Option<Arc<RateLimiter>>,
    records: Arc<Mutex<Box<dyn RecordStorage>>>,
    pending_commits: Arc<Mutex<Vec<PendingCommit>>>,
    readers: Arc<dyn RecordReads>,
    read_slots: Arc<tokio::sync::Semaphore>,
    password_checks: Arc<PasswordChecks>,
    replica: Option<Replica>,
}

/// Turns for dashboard password checks: Argon2 takes ~19 MiB and tens of milliseconds each,
/// so only a few run at once, outside every lock, and a bounded number wait.
#[derive(Debug)]
struct PasswordChecks {
    turns: Arc<tokio::sync::Semaphore>,
    waiting: std::sync::atomic::AtomicUsize,
}

/// Runs `f` on what `shared` guards, under its lock, on a blocking thread.
async fn locked_on_blocking_thread<S, T, F>(shared: Arc<Mutex<S>>, f: F) -> Result<T>
where
    S: Send + 'static,
    F: FnOnce(&mut S) -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(move || {
        // A panic in another task rolled its transaction back while unwinding, so the
        // connection behind a poisoned lock is still consistent.
        let mut guarded = shared.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut guarded)
    })
    .await?
}

/// Sync answers read at once on reader connections; more wait (the machine has few cores).
const READ_SLOTS: usize = 4;

/// Most sync rounds one group commit writes; more wait for the next group.
pub const MAX_ROUNDS_PER_COMMIT: usize = 64;

impl AppState {
    /// State over an opened account registry and record storage in one SQLite file (the
    /// embedded default).
    pub fn new(accounts: AccountStore, records: SqliteRecords, config: AppConfig) -> Self {
        Self::over(
            Box::new(accounts),
            RecordBackend::on(records, None),
            None,
            config,
        )
    }

    /// State over `database`: for a file as [`AppState::new`]; for a PostgreSQL deployment,
    /// `accounts` and `records` are connections to its local copy (from
    /// [`Database::accounts`] and [`Database::records`]): writes hold the deployment's write
    /// turn, reads catch up with the log first.
    pub fn on_database(
        database: &Database,
        accounts: AccountStore,
        records: SqliteRecords,
        config: AppConfig,
    ) -> Self {
        let replica = database.replica().cloned();
        let backend = RecordBackend::on(records, replica.clone());
        let accounts: Box<dyn AccountRegistry> = match &replica {
            None => Box::new(accounts),
            Some(replica) => Box::new(ReplicatedAccounts::new(accounts, replica.clone())),
        };
        Self::over(accounts, backend, replica, config)
    }

    fn over(
        mut accounts: Box<dyn AccountRegistry>,
        records: RecordBackend,
        replica: Option<Replica>,
        config: AppConfig,
    ) -> Self {
        accounts.set_guesses_per_code(config.enroll_guesses_per_code);
        AppState {
            enroll_failures: config
                .enroll_failure_rate
                .map(|r| Arc::new(RateLimiter::new(r))),
            lost_reports: config
                .lost_report_rate
                .map(|r| Arc::new(RateLimiter::new(r))),
            accounts: Arc::new(Mutex::new(accounts)),
            readers: records.reads,
            read_slots: Arc::new(tokio::sync::Semaphore::new(READ_SLOTS)),
            records: Arc::new(Mutex::new(records.storage)),
            pending_commits: Arc::new(Mutex::new(Vec::new())),
            device_limiter: config.device_rate.map(|r| Arc::new(RateLimiter::new(r))),
            address_limiter: config.address_rate.map(|r| Arc::new(RateLimiter::new(r))),
            password_checks: Arc::new(PasswordChecks {
                turns: Arc::new(tokio::sync::Semaphore::new(
                    config.password_checks_at_once.max(1),
                )),
                waiting: std::sync::atomic::AtomicUsize::new(0),
            }),
            config: Arc::new(config),
            replica,
        }
    }

    /// The configuration the application was built with.
    pub fn config(&self) -> &AppConfig {
        &self.config
    }

    /// Runs `f` on the account registry on a blocking thread, as one turn of writes (see
    /// [`AccountRegistry::in_write_turn`]), so that SQLite never blocks the async runtime.
    pub async fn with_accounts<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&mut dyn AccountRegistry) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        locked_on_blocking_thread(Arc::clone(&self.accounts), move |accounts| {
            let mut f = Some(f);
            let mut out = None;
            accounts.in_write_turn(&mut |registry| {
                if let Some(f) = f.take() {
                    out = Some(f(registry));
                }
                Ok(())
            })?;
            out.unwrap_or_else(|| Err(RelayError::Internal("the accounts were not written".into())))
        })
        .await
    }

    /// Runs `f`, which only reads, on the account registry on a blocking thread: over a
    /// PostgreSQL deployment without the write turn, on a copy caught up with the log first
    /// (so a device enrolled or revoked through another relay counts at once).
    pub async fn read_accounts<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&dyn AccountRegistry) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let accounts = Arc::clone(&self.accounts);
        let replica = self.replica.clone();
        tokio::task::spawn_blocking(move || {
            // Outside the registry's lock: other requests' lookups go on meanwhile.
            if let Some(replica) = replica {
                replica.catch_up()?;
            }
            let guarded = accounts.lock().unwrap_or_else(PoisonError::into_inner);
            f(guarded.as_ref())
        })
        .await?
    }

    /// Runs `f` on the record storage on a blocking thread, under its lock (SQLite has one
    /// writer anyway; on PostgreSQL the storage takes the deployment's write turn itself); the
    /// account lookups and record reads of other requests go on.
    async fn with_records<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&mut dyn RecordStorage) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        locked_on_blocking_thread(
            Arc::clone(&self.records),
            move |records| f(records.as_mut()),
        )
        .await
    }

    /// Makes `write` as `author` (see [`RecordStorage::write_as`]): the outer error is the
    /// relay's failure, the inner one what the record's rules or the author's role refused.
    pub async fn write_records(
        &self,
        author: fieldledger_core::store::Identity,
        write: RecordWrite,
    ) -> Result<fieldledger_core::Result<Written>> {
        self.with_records(move |records| Ok(records.write_as(&author, write)))
            .await
    }

    /// Commits one device's checked pushes with whatever other rounds wait for the writer, in
    /// one transaction (group commit): the round is queued, and whichever request takes the
    /// writer next commits every queued round, up to [`MAX_ROUNDS_PER_COMMIT`]. Answers once
    /// the round is on disk.
    pub async fn commit_pushes(
        &self,
        peer: Peer,
        request: Arc<SyncRequest>,
        checked: CheckedPushes,
    ) -> Result<(PushOutcome, Vec<RelayEvent>)> {
        let (reply, outcome) = tokio::sync::oneshot::channel::<Committed>();
        self.pending_commits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(PendingCommit {
                peer,
                request,
                checked,
                reply,
            });
        // Every queued round has a request of its own waiting here, and each takes at least
        // one round, so no round is left behind.
        let pending = Arc::clone(&self.pending_commits);
        self.with_records(move |records| {
            let group: Vec<PendingCommit> = {
                let mut queue = pending.lock().unwrap_or_else(PoisonError::into_inner);
                let n = queue.len().min(MAX_ROUNDS_PER_COMMIT);
                queue.drain(..n).collect()
            };
            if !group.is_empty() {
                records.commit_group(group);
            }
            Ok(())
        })
        .await?;
        Ok(outcome
            .await
            .map_err(|_| RelayError::Internal("the writer dropped a sync round".into()))??)
    }

    /// Runs `f` on a read-only view of the records on a blocking thread, beside the writer
    /// and other readers (see [`RecordReads`]).
    pub async fn with_record_reader<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&fieldledger_core::Store) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let readers = Arc::clone(&self.readers);
        let _slot = self
            .read_slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| RelayError::Internal("the relay is shutting down".into()))?;
        tokio::task::spawn_blocking(move || read_records(readers.as_ref(), f)).await?
    }

    /// Over PostgreSQL: compacts the deployment's write log into a snapshot of this relay's
    /// copy (after an erasure, so the erased values leave PostgreSQL). A file: nothing to do.
    pub async fn compact_log(&self) -> Result<Option<crate::replica::Compacted>> {
        let Some(replica) = self.replica.clone() else {
            return Ok(None);
        };
        tokio::task::spawn_blocking(move || Ok(Some(replica.compact()?))).await?
    }

    /// Runs `f` — a password hash or check — on a blocking thread when one of the
    /// [`AppConfig::password_checks_at_once`] turns is free, holding no other lock.
    /// [`RelayError::RateLimited`] when [`PASSWORD_CHECKS_WAITING`] already wait.
    pub async fn with_password_turn<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce() -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        use std::sync::atomic::{AtomicUsize, Ordering};
        /// Counts a waiting check until dropped (also when the request is given up).
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::AcqRel);
            }
        }
        let checks = &self.password_checks;
        let waiting = Waiting(&checks.waiting);
        if checks.waiting.fetch_add(1, Ordering::AcqRel) >= PASSWORD_CHECKS_WAITING {
            return Err(RelayError::RateLimited);
        }
        let turn = Arc::clone(&checks.turns)
            .acquire_owned()
            .await
            .map_err(|_| RelayError::Internal("password checks closed".into()))?;
        drop(waiting);
        // The turn goes with the work: a request given up mid-check frees it only when the
        // check itself is done.
        tokio::task::spawn_blocking(move || {
            let _turn = turn;
            f()
        })
        .await?
    }

    /// Takes one loss report from a revoked device's budget; false when it is used up.
    pub fn allow_lost_report(&self, device_id: &str) -> bool {
        self.lost_reports
            .as_ref()
            .is_none_or(|limiter| limiter.check(device_id))
    }

    /// The global bucket of failed enrollments, if limited.
    pub(crate) fn enroll_failures(&self) -> Option<Arc<RateLimiter>> {
        self.enroll_failures.clone()
    }

    /// The per-address request limiter, if limited.
    pub(crate) fn address_limiter(&self) -> Option<&RateLimiter> {
        self.address_limiter.as_deref()
    }

    /// Takes one request from a device's rate budget; false when it is used up.
    pub fn allow_device(&self, device_id: &str) -> bool {
        self.device_limiter
            .as_ref()
            .is_none_or(|limiter| limiter.check(device_id))
    }
}

/// A JSON request body whose rejections are answered as [`RelayError`] (400 or 413).
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(RelayError))]
pub struct JsonBody<T>(pub T);
